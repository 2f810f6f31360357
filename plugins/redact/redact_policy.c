/*
 * The redact plugin's policy file; see redact_policy.h for the format.
 *
 * The text is read a line at a time into a fixed buffer and cut up in
 * place.  Every error stops the whole load with "LINE: message": a policy
 * file half applied is worse than none, since the pooler keeps running on
 * the previous one.
 */
#include "redact_policy.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_FILE	(1024 * 1024)
#define MAX_LINE	8191
#define MAX_NAME	63	/* PostgreSQL's NAMEDATALEN - 1 */
#define MAX_FUNCTIONS	64
#define MAX_MASKS	256
#define MAX_KEEP	64

/* Indexed by bit number of enum guardrail. */
static const char *const guard_names[] = {
	"drop", "truncate", "alter", "delete_without_where", "update_without_where", "grant",
	"create_extension", "copy_program", "do", "set_role", "alter_system",
};
static const char *const guard_labels[] = {
	"DROP", "TRUNCATE", "ALTER", "DELETE without WHERE", "UPDATE without WHERE", "GRANT/REVOKE",
	"CREATE EXTENSION", "COPY PROGRAM", "DO", "SET ROLE", "ALTER SYSTEM",
};
#define NGUARDS ((int)(sizeof(guard_names) / sizeof(guard_names[0])))
_Static_assert((1u << NGUARDS) - 1 == GUARD_ALL, "guard_names and GUARD_ALL disagree");

/* Indexed by enum mask_method. */
static const char *const method_names[] = { "null", "fixed", "partial", "hash", "email" };
#define NMETHODS ((int)(sizeof(method_names) / sizeof(method_names[0])))

/* The plain keys of a section, each allowed once (mask lines are apart). */
enum key { KEY_GROUPS, KEY_USERS, KEY_READ_ONLY, KEY_BLOCK, KEY_FUNCTIONS, KEY_DENY_PREDICATES, KEY_APPROVE,
	   KEY_APPROVE_TABLES, KEY_APPROVE_FINGERPRINTS, NKEYS };
static const char *const key_names[NKEYS] = {
	"groups", "users", "read_only", "block", "block_functions", "deny_predicates_on_masked", "approve",
	"approve_tables", "approve_fingerprints",
};

struct parser {
	struct policy_set *set;
	struct policy *cur;	/* the section being read, NULL before the first */
	unsigned seen;		/* 1 << enum key, keys given in the current section */
	int line;
	char *err;
	size_t errlen;
};

/* ---------------------------------------------------------------- helpers */

__attribute__((format(printf, 3, 4)))
static bool fail_at(struct parser *p, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!p->err || !p->errlen)
		return false;
	n = snprintf(p->err, p->errlen, "%d: ", line);
	if (n > 0 && (size_t)n < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return false;
}
#define fail(p, ...) fail_at((p), (p)->line, __VA_ARGS__)

/* ASCII only, whatever the locale: the file's keywords are ASCII. */
static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

static char *lowercase(char *s)
{
	for (char *c = s; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return s;
}

static char *trim(char *s)
{
	char *end;

	while (is_space(*s))
		s++;
	end = s + strlen(s);
	while (end > s && is_space(end[-1]))
		end--;
	*end = '\0';
	return s;
}

/*
 * Cut a trailing " ; comment".  The ';' must follow whitespace so that a
 * value such as "a;b" stays whole, and with quotes it must lie outside
 * '...' (a fixed mask text may well contain " ; ").
 */
static void strip_comment(char *s, bool quotes)
{
	bool quoted = false;

	for (char *c = s; *c; c++) {
		if (quotes && *c == '\'') {
			quoted = !quoted;
		} else if (*c == ';' && !quoted && c > s && is_space(c[-1])) {
			*c = '\0';
			return;
		}
	}
}

/* The '=' that ends the key; a quoted identifier in a mask key may hold one. */
static char *find_equals(char *s)
{
	bool quoted = false;

	for (; *s; s++) {
		if (*s == '"')
			quoted = !quoted;
		else if (*s == '=' && !quoted)
			return s;
	}
	return NULL;
}

/* The next comma-separated item of *s, trimmed and cut in place; NULL at
 * the end.  An empty value yields one empty item, which callers refuse. */
static char *next_item(char **s)
{
	char *item = *s, *comma;

	if (!item)
		return NULL;
	comma = strchr(item, ',');
	if (comma)
		*comma = '\0';
	*s = comma ? comma + 1 : NULL;
	return trim(item);
}

static bool push(struct parser *p, char ***list, int *n, const char *s)
{
	char **grown = realloc(*list, sizeof(char *) * (size_t)(*n + 1));

	if (!grown)
		return fail(p, "out of memory");
	*list = grown;
	if (!(grown[*n] = strdup(s)))
		return fail(p, "out of memory");
	(*n)++;
	return true;
}

static bool is_default(const struct policy *pol)
{
	return strcmp(pol->name, "default") == 0;
}

/* ------------------------------------------------------------ plain keys */

/* A comma-separated list; lowercase: names compared as PostgreSQL folds them. */
static bool parse_list(struct parser *p, const char *key, char *value, char ***list, int *n, bool lowercase)
{
	char *item;

	while ((item = next_item(&value))) {
		if (lowercase) {
			for (char *c = item; *c; c++)
				*c = (char)tolower((unsigned char)*c);
		}
		if (!*item)
			return fail(p, "empty name in %s", key);
		if (!push(p, list, n, item))
			return false;
	}
	return true;
}

static bool parse_names(struct parser *p, const char *key, char *value, char ***list, int *n)
{
	if (is_default(p->cur))
		return fail(p, "[policy default] cannot have %s: it is for sessions no other policy matches", key);
	return parse_list(p, key, value, list, n, false);
}

static bool parse_bool(struct parser *p, const char *key, const char *value, bool *out)
{
	static const char *const words[] = { "off", "on", "false", "true", "no", "yes", "0", "1" };

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strcasecmp(value, words[i]) == 0) {
			*out = i % 2;
			return true;
		}
	}
	return fail(p, "%s must be on or off, not \"%.64s\"", key, value);
}

/* block = and approve =: guardrail names, "all" or "none". */
static bool parse_guardrails(struct parser *p, const char *key, char *value, unsigned *out)
{
	unsigned block = 0;
	int items = 0, i;
	bool none = false;
	char *item;

	while ((item = next_item(&value))) {
		items++;
		if (!*item)
			return fail(p, "empty guardrail name in %s", key);
		if (strcasecmp(item, "none") == 0) {
			none = true;
			continue;
		}
		if (strcasecmp(item, "all") == 0) {
			block |= GUARD_ALL;
			continue;
		}
		for (i = 0; i < NGUARDS && strcasecmp(item, guard_names[i]) != 0; i++)
			;
		if (i == NGUARDS)
			return fail(p, "unknown guardrail \"%.64s\" in %s", item, key);
		block |= 1u << i;
	}
	/* "none, drop" is most likely a half-finished edit: refuse to guess */
	if (none && items > 1)
		return fail(p, "%s = none cannot be combined with other guardrails", key);
	*out = block;
	return true;
}

static bool parse_functions(struct parser *p, char *value)
{
	struct policy *pol = p->cur;
	char *item;

	while ((item = next_item(&value))) {
		size_t len = strlen(lowercase(item));

		if (!len)
			return fail(p, "empty pattern in block_functions");
		if (len > MAX_NAME || item[strspn(item, "abcdefghijklmnopqrstuvwxyz0123456789_*?")])
			return fail(p, "bad function pattern \"%.64s\": 1 to %d of a-z, 0-9, _, * and ?",
				    item, MAX_NAME);
		if (pol->nfunctions == MAX_FUNCTIONS)
			return fail(p, "more than %d patterns in block_functions", MAX_FUNCTIONS);
		if (!push(p, &pol->functions, &pol->nfunctions, item))
			return false;
	}
	return true;
}

static bool parse_key(struct parser *p, const char *key, char *value)
{
	struct policy *pol = p->cur;
	int k;

	for (k = 0; k < NKEYS && strcasecmp(key, key_names[k]) != 0; k++)
		;
	if (k == NKEYS)
		return fail(p, "unknown key \"%.64s\"", key);
	if (p->seen & (1u << k))
		return fail(p, "duplicate key \"%s\"", key_names[k]);
	p->seen |= 1u << k;

	switch (k) {
	case KEY_GROUPS:
		return parse_names(p, key_names[k], value, &pol->groups, &pol->ngroups);
	case KEY_USERS:
		return parse_names(p, key_names[k], value, &pol->users, &pol->nusers);
	case KEY_READ_ONLY:
		return parse_bool(p, key_names[k], value, &pol->read_only);
	case KEY_BLOCK:
		return parse_guardrails(p, key_names[k], value, &pol->block);
	case KEY_APPROVE:
		return parse_guardrails(p, key_names[k], value, &pol->approve);
	case KEY_APPROVE_TABLES:
		return parse_list(p, key_names[k], value, &pol->approve_tables, &pol->napprove_tables, true);
	case KEY_APPROVE_FINGERPRINTS:
		return parse_list(p, key_names[k], value, &pol->approve_fingerprints, &pol->napprove_fingerprints, true);
	case KEY_FUNCTIONS:
		return parse_functions(p, value);
	default:
		return parse_bool(p, key_names[k], value, &pol->deny_predicates_on_masked);
	}
}

/* ----------------------------------------------------------------- masks */

/* One identifier at *s, as PostgreSQL reads it: bare ones are lowercased,
 * double-quoted ones kept as written.  Advances *s past it. */
static bool parse_ident(struct parser *p, const char **s, char **out)
{
	const char *c = *s;
	bool quoted = *c == '"';
	char buf[MAX_NAME + 1];
	size_t n = 0;

	if (quoted) {
		for (c++; *c != '"' || c[1] == '"'; c++) {
			if (!*c)	/* find_equals() saw balanced quotes; be safe anyway */
				return fail(p, "unterminated quoted identifier in mask column");
			if (*c == '"')
				c++;	/* "" is one quote */
			if (n == MAX_NAME)
				return fail(p, "identifier longer than %d bytes in mask column", MAX_NAME);
			buf[n++] = *c;
		}
		c++;
		if (!n)
			return fail(p, "zero-length quoted identifier in mask column");
	} else {
		n = strspn(c, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$");
		if (!n || (*c >= '0' && *c <= '9') || *c == '$')
			return fail(p, "bad identifier in mask column (quote it with \"...\")");
		if (n > MAX_NAME)
			return fail(p, "identifier longer than %d bytes in mask column", MAX_NAME);
		memcpy(buf, c, n);
		c += n;
	}
	buf[n] = '\0';
	if (!quoted)
		lowercase(buf);
	*s = c;
	if (!(*out = strdup(buf)))
		return fail(p, "out of memory");
	return true;
}

/* [SCHEMA.]TABLE.COLUMN into m. */
static bool parse_column(struct parser *p, const char *s, struct mask_rule *m)
{
	char *part[3] = { NULL, NULL, NULL };
	int n = 0;

	for (;;) {
		if (n == 3) {
			fail(p, "mask column must be [SCHEMA.]TABLE.COLUMN");
			goto bad;
		}
		if (!parse_ident(p, &s, &part[n++]))
			goto bad;
		if (*s != '.')
			break;
		s++;
	}
	if (*s) {
		fail(p, "unexpected '%c' in mask column name", *s);
		goto bad;
	}
	if (n < 2) {
		fail(p, "mask column must be [SCHEMA.]TABLE.COLUMN");
		goto bad;
	}
	m->schema = n == 3 ? part[0] : NULL;
	m->table = part[n - 2];
	m->column = part[n - 1];
	return true;
bad:
	for (int i = 0; i < 3; i++)
		free(part[i]);
	return false;
}

/* 'TEXT' with '' for a quote, and nothing after it. */
static bool parse_fixed(struct parser *p, const char *s, struct mask_rule *m)
{
	char *out;
	size_t n = 0;

	if (*s != '\'')
		return fail(p, "fixed needs a single-quoted text: fixed 'TEXT'");
	if (!(out = malloc(strlen(s))))
		return fail(p, "out of memory");
	m->fixed = out;		/* freed with m on error */
	for (s++; *s != '\'' || s[1] == '\''; s++) {
		if (!*s)
			return fail(p, "unterminated quote in fixed text");
		if (*s == '\'')
			s++;	/* '' is one quote */
		out[n++] = *s;
	}
	out[n] = '\0';
	if (*++s)
		return fail(p, "unexpected text after the quoted fixed text");
	return true;
}

static bool parse_method(struct parser *p, char *value, struct mask_rule *m)
{
	char *arg = value + strcspn(value, " \t");
	int i;

	if (*arg)
		*arg++ = '\0';
	arg = trim(arg);
	for (i = 0; i < NMETHODS && strcasecmp(value, method_names[i]) != 0; i++)
		;
	if (i == NMETHODS)
		return fail(p, "unknown mask method \"%.64s\" (null, fixed, partial, hash or email)", value);
	m->method = (enum mask_method)i;

	switch (m->method) {
	case MASK_FIXED:
		return parse_fixed(p, arg, m);
	case MASK_PARTIAL:
		/* at most three digits, so no overflow to worry about */
		if (!*arg || strlen(arg) > 3 || arg[strspn(arg, "0123456789")])
			return fail(p, "partial needs a number of characters to keep: partial N (1..%d)", MAX_KEEP);
		m->keep = atoi(arg);
		if (m->keep < 1 || m->keep > MAX_KEEP)
			return fail(p, "partial keeps 1 to %d characters, not %d", MAX_KEEP, m->keep);
		return true;
	default:
		if (*arg)
			return fail(p, "mask method %s takes no argument", method_names[i]);
		return true;
	}
}

static bool same_column(const struct mask_rule *a, const struct mask_rule *b)
{
	if (strcmp(a->table, b->table) != 0 || strcmp(a->column, b->column) != 0)
		return false;
	return a->schema ? b->schema && strcmp(a->schema, b->schema) == 0 : !b->schema;
}

static void free_mask(struct mask_rule *m)
{
	free(m->schema);
	free(m->table);
	free(m->column);
	free(m->fixed);
}

static bool parse_mask(struct parser *p, const char *name, char *value)
{
	struct policy *pol = p->cur;
	struct mask_rule m = { .line = p->line }, *grown;

	if (!*name)
		return fail(p, "mask needs a column: mask [SCHEMA.]TABLE.COLUMN = METHOD");
	if (pol->nmasks == MAX_MASKS)
		return fail(p, "more than %d masks in policy %s", MAX_MASKS, pol->name);
	if (!parse_column(p, name, &m))
		return false;
	for (int i = 0; i < pol->nmasks; i++) {
		if (same_column(&pol->masks[i], &m)) {
			fail(p, "duplicate mask for %s%s%s.%s (first at line %d)", m.schema ? m.schema : "",
			     m.schema ? "." : "", m.table, m.column, pol->masks[i].line);
			goto bad;
		}
	}
	if (!parse_method(p, value, &m))
		goto bad;
	if (!(grown = realloc(pol->masks, sizeof(m) * (size_t)(pol->nmasks + 1)))) {
		fail(p, "out of memory");
		goto bad;
	}
	pol->masks = grown;
	pol->masks[pol->nmasks++] = m;
	return true;
bad:
	free_mask(&m);
	return false;
}

/* -------------------------------------------------------- sections, lines */

/* Checks that need the whole section. */
static bool finish_section(struct parser *p)
{
	const struct policy *pol = p->cur;

	if (pol && !is_default(pol) && !pol->ngroups && !pol->nusers)
		return fail_at(p, pol->line, "policy %s matches nobody: set groups or users", pol->name);
	return true;
}

static bool parse_section(struct parser *p, char *s)
{
	struct policy_set *set = p->set;
	struct policy *grown;
	char *name;
	size_t len;

	strip_comment(s, false);
	s = trim(s);
	len = strlen(s);	/* s starts with '[' and is trimmed, so len > 0 */
	if (s[len - 1] != ']')
		return fail(p, "missing ']' at the end of the section header");
	s[len - 1] = '\0';
	s = trim(s + 1);
	if (strncasecmp(s, "policy", 6) != 0 || (s[6] && !is_space(s[6])))
		return fail(p, "unknown section \"[%.64s]\" (only [policy NAME])", s);
	name = lowercase(trim(s + 6));
	if (!*name)
		return fail(p, "empty policy name");
	if (strlen(name) > MAX_NAME || name[strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_.-")])
		return fail(p, "bad policy name \"%.64s\": 1 to %d of A-Z, a-z, 0-9, _, . and -", name, MAX_NAME);
	if (!finish_section(p))
		return false;
	for (int i = 0; i < set->n; i++)
		if (strcmp(set->policies[i].name, name) == 0)
			return fail(p, "duplicate policy %s (first at line %d)", name, set->policies[i].line);

	if (!(grown = realloc(set->policies, sizeof(*grown) * (size_t)(set->n + 1))))
		return fail(p, "out of memory");
	set->policies = grown;
	p->cur = memset(&grown[set->n++], 0, sizeof(*grown));
	p->cur->line = p->line;
	p->cur->block = GUARD_ALL;	/* no block key: everything blocked (fail safe) */
	p->seen = 0;
	if (!(p->cur->name = strdup(name)))
		return fail(p, "out of memory");
	return true;
}

static bool parse_line(struct parser *p, char *line)
{
	char *key, *value, *eq;

	line = trim(line);
	if (!*line || *line == ';' || *line == '#')
		return true;
	if (*line == '[')
		return parse_section(p, line);
	if (!(eq = find_equals(line)))
		return fail(p, "expected \"key = value\" or a [policy NAME] section");
	*eq = '\0';
	key = trim(line);
	value = eq + 1;
	if (!*key)
		return fail(p, "missing key before '='");
	if (!p->cur)
		return fail(p, "key \"%.64s\" before the first [policy NAME] section", key);
	if (strncasecmp(key, "mask", 4) == 0 && (!key[4] || is_space(key[4]))) {
		strip_comment(value, true);
		return parse_mask(p, trim(key + 4), trim(value));
	}
	strip_comment(value, false);
	return parse_key(p, key, trim(value));
}

/* ------------------------------------------------------------------- API */

struct policy_set *policy_parse(const char *text, size_t len, char *err, size_t errlen)
{
	struct parser p = { .err = err, .errlen = errlen };
	char buf[MAX_LINE + 1];
	size_t off = 0;

	if (err && errlen)
		err[0] = '\0';
	if (!text)
		len = 0;
	if (len > MAX_FILE) {
		fail_at(&p, 0, "policy file larger than 1 MiB");
		return NULL;
	}
	if (!(p.set = calloc(1, sizeof(*p.set)))) {
		fail_at(&p, 0, "out of memory");
		return NULL;
	}
	while (off < len) {
		const char *start = text + off, *nl = memchr(start, '\n', len - off);
		size_t n = nl ? (size_t)(nl - start) : len - off;

		off += n + 1;
		p.line++;
		if (n > MAX_LINE) {
			fail(&p, "line longer than %d bytes", MAX_LINE);
			goto bad;
		}
		memcpy(buf, start, n);
		buf[n] = '\0';
		if (n && buf[n - 1] == '\r')
			buf[--n] = '\0';
		/* the line is handled as a C string, and its text may end up
		 * in a log: no NUL, no control characters but tabs */
		for (size_t i = 0; i < n; i++) {
			if (buf[i] == '\0') {
				fail(&p, "NUL byte");
				goto bad;
			}
			if ((unsigned char)buf[i] < 0x20 && buf[i] != '\t') {
				fail(&p, "control character 0x%02x", (unsigned char)buf[i]);
				goto bad;
			}
		}
		if (!parse_line(&p, buf))
			goto bad;
	}
	if (!finish_section(&p))
		goto bad;
	for (int i = 0; i < p.set->n; i++) {
		/* what needs an approval is refused without one */
		p.set->policies[i].block |= p.set->policies[i].approve;
		if (is_default(&p.set->policies[i]))
			p.set->fallback = &p.set->policies[i];
	}
	if (!p.set->fallback) {
		fail(&p, "no [policy default] section");
		goto bad;
	}
	return p.set;
bad:
	policy_set_free(p.set);
	return NULL;
}

struct policy_set *policy_load(const char *path, char *err, size_t errlen)
{
	struct policy_set *set = NULL;
	char msg[1024];
	char *text = NULL;
	size_t len;
	FILE *f = fopen(path, "re");

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	/* one byte more than allowed: getting it means the file is too big */
	text = malloc(MAX_FILE + 1);
	len = text ? fread(text, 1, MAX_FILE + 1, f) : 0;
	if (!text) {
		snprintf(err, errlen, "%s: out of memory", path);
	} else if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno ? errno : EIO));
	} else if (len > MAX_FILE) {
		snprintf(err, errlen, "%s: larger than 1 MiB", path);
	} else if (!(set = policy_parse(text, len, msg, sizeof(msg)))) {
		snprintf(err, errlen, "%s:%s", path, msg);
	}
	free(text);
	fclose(f);
	return set;
}

static void free_list(char **list, int n)
{
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

void policy_set_free(struct policy_set *set)
{
	if (!set)
		return;
	for (int i = 0; i < set->n; i++) {
		struct policy *pol = &set->policies[i];

		free(pol->name);
		free_list(pol->groups, pol->ngroups);
		free_list(pol->users, pol->nusers);
		free_list(pol->functions, pol->nfunctions);
		free_list(pol->approve_tables, pol->napprove_tables);
		free_list(pol->approve_fingerprints, pol->napprove_fingerprints);
		for (int j = 0; j < pol->nmasks; j++)
			free_mask(&pol->masks[j]);
		free(pol->masks);
	}
	free(set->policies);
	free(set);
}

static bool listed(char *const *list, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(list[i], name) == 0)
			return true;
	return false;
}

const struct policy *policy_select(const struct policy_set *set, const char *const *groups, int ngroups,
				   const char *user)
{
	if (!set)
		return NULL;
	for (int i = 0; i < set->n; i++) {
		const struct policy *pol = &set->policies[i];

		/* an identity is stronger than a pooler user name: with one,
		 * users lists are not looked at at all */
		if (ngroups >= 0) {
			for (int g = 0; groups && g < ngroups; g++)
				if (groups[g] && listed(pol->groups, pol->ngroups, groups[g]))
					return pol;
		} else if (user && listed(pol->users, pol->nusers, user)) {
			return pol;
		}
	}
	return set->fallback;
}

const char *guardrail_label(enum guardrail g)
{
	for (int i = 0; i < NGUARDS; i++)
		if ((unsigned)g == 1u << i)
			return guard_labels[i];
	return "unknown guardrail";
}

bool policy_function_blocked(const struct policy *p, const char *name)
{
	if (!p || !name)
		return false;
	/* patterns hold only [a-z0-9_*?], so fnmatch sees no brackets or escapes */
	for (int i = 0; i < p->nfunctions; i++)
		if (fnmatch(p->functions[i], name, 0) == 0)
			return true;
	return false;
}
