/*
 * Mapping rules of the OIDC plugin: which PostgreSQL role (and databases) a
 * token's claims lead to.  One rule per key "rule.N" of the plugin section,
 * tried in the order of N; the first whose conditions all hold decides:
 *
 *     rule.10 = groups=db-admins -> role=admin databases=appdb,otherdb
 *     rule.20 = email~*@example.com & groups=analysts -> role=analyst
 *     rule.30 = sub=rogue-agent -> deny
 *
 * A condition is CLAIM=VALUE (the claim is that string, or an array holding
 * it), CLAIM~GLOB (fnmatch on the string or on any array element), or * (any
 * token).  CLAIM is a path of object members joined by dots
 * ("realm_access.roles").  No rule matching means rejected.
 */
#ifndef OIDC_RULES_H
#define OIDC_RULES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct oidc_rules;

struct oidc_rule_result {
	const char *rule;		/* its key, "rule.10"; NULL: no rule matched */
	int deny;
	const char *role;		/* allow: the PostgreSQL role */
	int database_allowed;		/* allow: the database asked for is in databases= (or no list) */
};

/* Parse every "rule.N" of keys/values (n pairs); NULL with err on a bad rule.
 * No rule at all is an error too: nobody could log in. */
struct oidc_rules *oidc_rules_parse(const char *const *keys, const char *const *values, int n,
				    char *err, size_t errlen);
void oidc_rules_free(struct oidc_rules *rules);

/* The first rule matching claims, for a login to database. */
void oidc_rules_match(const struct oidc_rules *rules, const json_t *claims, const char *database,
		      struct oidc_rule_result *out);

/* For SHOW OIDC: rule i (0-based, in order), its text and login count. */
int oidc_rules_count(const struct oidc_rules *rules);
const char *oidc_rules_name(const struct oidc_rules *rules, int i);
const char *oidc_rules_text(const struct oidc_rules *rules, int i);
uint64_t oidc_rules_hits(const struct oidc_rules *rules, int i);
void oidc_rules_count_hit(struct oidc_rules *rules, const char *name);

/* A claim by dotted path; NULL when absent. */
const json_t *oidc_claim(const json_t *claims, const char *path);

#endif
