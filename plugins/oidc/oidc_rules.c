/*
 * OIDC mapping rules: parsing "rule.N" values and matching claims (see
 * oidc_rules.h for the syntax).
 */
#include "oidc_rules.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CONDITIONS 8
#define MAX_DATABASES 32

enum cond_op { COND_ANY, COND_EQUAL, COND_GLOB };

struct condition {
	enum cond_op op;
	char *claim;
	char *value;
};

struct rule {
	char *name;			/* "rule.10" */
	long order;			/* 10 */
	char *text;
	struct condition conds[MAX_CONDITIONS];
	int nconds;
	int deny;
	char *role;
	char *databases[MAX_DATABASES];
	int ndatabases;			/* 0: any database */
	uint64_t hits;
};

struct oidc_rules {
	struct rule *rules;
	int n;
};

/* ---------------- parsing ---------------- */

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static int parse_condition(struct condition *c, char *text, char *err, size_t errlen)
{
	text = trim(text);
	if (strcmp(text, "*") == 0) {
		c->op = COND_ANY;
		return 0;
	}
	char *op = strpbrk(text, "=~");
	if (!op || op == text || !op[1]) {
		snprintf(err, errlen, "condition \"%s\" is not CLAIM=VALUE, CLAIM~GLOB or *", text);
		return -1;
	}
	c->op = *op == '=' ? COND_EQUAL : COND_GLOB;
	*op = '\0';
	c->claim = strdup(trim(text));
	c->value = strdup(trim(op + 1));
	if (!c->claim[0] || !c->value[0] || strpbrk(c->claim, " \t")) {
		snprintf(err, errlen, "condition on \"%s\" has an empty or spaced claim or value", c->claim);
		return -1;
	}
	return 0;
}

static int parse_conditions(struct rule *r, char *text, char *err, size_t errlen)
{
	char *save = NULL;
	for (char *part = strtok_r(text, "&", &save); part; part = strtok_r(NULL, "&", &save)) {
		if (r->nconds == MAX_CONDITIONS) {
			snprintf(err, errlen, "more than %d conditions", MAX_CONDITIONS);
			return -1;
		}
		if (parse_condition(&r->conds[r->nconds++], part, err, errlen) < 0)
			return -1;
	}
	if (!r->nconds) {
		snprintf(err, errlen, "no condition before \"->\"");
		return -1;
	}
	return 0;
}

static int parse_databases(struct rule *r, char *list, char *err, size_t errlen)
{
	char *save = NULL;
	for (char *db = strtok_r(list, ",", &save); db; db = strtok_r(NULL, ",", &save)) {
		db = trim(db);
		if (!db[0])
			continue;
		if (r->ndatabases == MAX_DATABASES) {
			snprintf(err, errlen, "more than %d databases", MAX_DATABASES);
			return -1;
		}
		r->databases[r->ndatabases++] = strdup(db);
	}
	return 0;
}

/* "deny" or "role=R [databases=a,b]" */
static int parse_target(struct rule *r, char *text, char *err, size_t errlen)
{
	char *save = NULL;
	for (char *word = strtok_r(text, " \t", &save); word; word = strtok_r(NULL, " \t", &save)) {
		if (strcmp(word, "deny") == 0) {
			r->deny = 1;
		} else if (strncmp(word, "role=", 5) == 0 && word[5]) {
			free(r->role);
			r->role = strdup(word + 5);
		} else if (strncmp(word, "databases=", 10) == 0) {
			if (parse_databases(r, word + 10, err, errlen) < 0)
				return -1;
		} else {
			snprintf(err, errlen, "unknown target \"%s\" (deny, role=ROLE, databases=A,B)", word);
			return -1;
		}
	}
	if (r->deny == (r->role != NULL)) {
		snprintf(err, errlen, "a rule needs exactly one of \"deny\" and \"role=ROLE\"");
		return -1;
	}
	if (r->deny && r->ndatabases) {
		snprintf(err, errlen, "databases= means nothing on a deny rule");
		return -1;
	}
	return 0;
}

static int parse_rule(struct rule *r, const char *key, const char *value, char *err, size_t errlen)
{
	char *end = NULL;
	char *copy;
	char *arrow;
	int rc = -1;

	r->name = strdup(key);
	r->text = strdup(value);
	r->order = strtol(key + 5, &end, 10);
	if (end == key + 5 || *end || r->order < 0) {
		snprintf(err, errlen, "rule key must be rule.N with N a number");
		return -1;
	}
	copy = strdup(value);
	arrow = strstr(copy, "->");
	if (!arrow) {
		snprintf(err, errlen, "no \"->\" between the conditions and the target");
	} else {
		*arrow = '\0';
		rc = parse_conditions(r, copy, err, errlen) < 0 || parse_target(r, arrow + 2, err, errlen) < 0 ? -1 : 0;
	}
	free(copy);
	return rc;
}

static void free_rule(struct rule *r)
{
	for (int i = 0; i < r->nconds; i++) {
		free(r->conds[i].claim);
		free(r->conds[i].value);
	}
	for (int i = 0; i < r->ndatabases; i++)
		free(r->databases[i]);
	free(r->name);
	free(r->text);
	free(r->role);
}

static int by_order(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;
	return (x->order > y->order) - (x->order < y->order);
}

struct oidc_rules *oidc_rules_parse(const char *const *keys, const char *const *values, int n,
				    char *err, size_t errlen)
{
	struct oidc_rules *rules = calloc(1, sizeof(*rules));
	char why[200];

	rules->rules = calloc((size_t)n + 1, sizeof(struct rule));
	for (int i = 0; i < n; i++) {
		if (strncmp(keys[i], "rule.", 5) != 0)
			continue;
		struct rule *r = &rules->rules[rules->n++];
		if (parse_rule(r, keys[i], values[i], why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s: %s", keys[i], why);
			oidc_rules_free(rules);
			return NULL;
		}
	}
	if (!rules->n) {
		snprintf(err, errlen, "no mapping rule (rule.N = CONDITIONS -> role=ROLE): nobody could log in");
		oidc_rules_free(rules);
		return NULL;
	}
	qsort(rules->rules, (size_t)rules->n, sizeof(struct rule), by_order);
	for (int i = 1; i < rules->n; i++) {
		if (rules->rules[i].order == rules->rules[i - 1].order) {
			snprintf(err, errlen, "%s and %s have the same number", rules->rules[i - 1].name,
				 rules->rules[i].name);
			oidc_rules_free(rules);
			return NULL;
		}
	}
	return rules;
}

void oidc_rules_free(struct oidc_rules *rules)
{
	if (!rules)
		return;
	for (int i = 0; i < rules->n; i++)
		free_rule(&rules->rules[i]);
	free(rules->rules);
	free(rules);
}

/* ---------------- matching ---------------- */

const json_t *oidc_claim(const json_t *claims, const char *path)
{
	char name[256];
	const json_t *cur = claims;

	while (cur && *path) {
		size_t len = strcspn(path, ".");
		if (len >= sizeof(name) || !json_is_object(cur))
			return NULL;
		memcpy(name, path, len);
		name[len] = '\0';
		cur = json_object_get(cur, name);
		path += len + (path[len] == '.');
	}
	return cur;
}

static int value_matches(const json_t *v, const struct condition *c)
{
	if (!json_is_string(v))
		return 0;
	if (c->op == COND_EQUAL)
		return strcmp(json_string_value(v), c->value) == 0;
	return fnmatch(c->value, json_string_value(v), 0) == 0;
}

static int condition_holds(const struct condition *c, const json_t *claims)
{
	const json_t *claim, *elem;
	size_t i;

	if (c->op == COND_ANY)
		return 1;
	claim = oidc_claim(claims, c->claim);
	if (!json_is_array(claim))
		return value_matches(claim, c);
	json_array_foreach(claim, i, elem) {
		if (value_matches(elem, c))
			return 1;
	}
	return 0;
}

static int rule_matches(const struct rule *r, const json_t *claims)
{
	for (int i = 0; i < r->nconds; i++) {
		if (!condition_holds(&r->conds[i], claims))
			return 0;
	}
	return 1;
}

static int database_in(const struct rule *r, const char *database)
{
	if (!r->ndatabases)
		return 1;
	for (int i = 0; i < r->ndatabases; i++) {
		if (strcmp(r->databases[i], database) == 0)
			return 1;
	}
	return 0;
}

void oidc_rules_match(const struct oidc_rules *rules, const json_t *claims, const char *database,
		      struct oidc_rule_result *out)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < rules->n; i++) {
		const struct rule *r = &rules->rules[i];
		if (!rule_matches(r, claims))
			continue;
		out->rule = r->name;
		out->deny = r->deny;
		out->role = r->role;
		out->database_allowed = database_in(r, database);
		return;
	}
}

int oidc_rules_count(const struct oidc_rules *rules) { return rules->n; }
const char *oidc_rules_name(const struct oidc_rules *rules, int i) { return rules->rules[i].name; }
const char *oidc_rules_text(const struct oidc_rules *rules, int i) { return rules->rules[i].text; }
uint64_t oidc_rules_hits(const struct oidc_rules *rules, int i) { return rules->rules[i].hits; }

void oidc_rules_count_hit(struct oidc_rules *rules, const char *name)
{
	for (int i = 0; i < rules->n; i++) {
		if (rules->rules[i].name == name || strcmp(rules->rules[i].name, name) == 0) {
			rules->rules[i].hits++;
			return;
		}
	}
}
