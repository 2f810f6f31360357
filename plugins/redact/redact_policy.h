/*
 * The redact plugin's policy file: which guardrails, blocked functions and
 * column masks apply to a session.  This part only parses and validates;
 * redact_guard.c and friends apply the result.
 *
 * The format is INI in the style of pgbouncer.ini:
 *
 *   ; the first [policy NAME] that matches, in file order, applies
 *   [policy agents]
 *   groups = agents, analysts         ; identity groups (OIDC); any one matches
 *   users = report_bot, etl           ; pooler users (only without an identity)
 *   read_only = on                    ; on/off/true/false/yes/no/1/0, default off
 *   block = drop, truncate, do        ; guardrails, or all / none; default all
 *   block_functions = pg_read_file, dblink*   ; globs (* and ?), lowercased
 *   deny_predicates_on_masked = on    ; default off
 *   mask public.users.ssn = partial 4 ; also: null, hash, email, fixed 'TEXT'
 *   mask users.email = email          ; no schema: resolved through search_path
 *
 *   [policy default]                  ; required; everyone no policy matches
 *   block = all
 *
 * Lines starting with ';' or '#' are comments, and so is " ; ..." after a
 * value (the ';' must follow whitespace and, in mask lines, lie outside
 * quotes).  Keys, section words, guardrail and method names and policy
 * names are case-insensitive (names are stored lowercase).  A key may appear
 * once per section.  Identifiers in mask names are lowercased unless
 * double-quoted; "" inside quotes is a quote, as '' is in fixed texts.
 * The parser is strict: anything unknown or malformed is an error, since a
 * typo in this file could otherwise show data or allow a statement.
 */
#ifndef PGWARDEN_REDACT_POLICY_H
#define PGWARDEN_REDACT_POLICY_H

#include <stdbool.h>
#include <stddef.h>

enum guardrail {
	GUARD_DROP = 1u << 0, GUARD_TRUNCATE = 1u << 1, GUARD_ALTER = 1u << 2,
	GUARD_DELETE_WITHOUT_WHERE = 1u << 3, GUARD_UPDATE_WITHOUT_WHERE = 1u << 4,
	GUARD_GRANT = 1u << 5, GUARD_CREATE_EXTENSION = 1u << 6, GUARD_COPY_PROGRAM = 1u << 7,
	GUARD_DO = 1u << 8, GUARD_SET_ROLE = 1u << 9, GUARD_ALTER_SYSTEM = 1u << 10,
};
#define GUARD_ALL 0x7ffu

enum mask_method { MASK_NULL, MASK_FIXED, MASK_PARTIAL, MASK_HASH, MASK_EMAIL };

struct mask_rule {
	char *schema;		/* NULL: unqualified, resolved through search_path */
	char *table;
	char *column;
	enum mask_method method;
	char *fixed;		/* MASK_FIXED: the replacement text */
	int keep;		/* MASK_PARTIAL: characters kept at the end */
	int line;		/* where it was defined, for messages */
};

struct policy {
	char *name;
	char **groups; int ngroups;
	char **users; int nusers;
	bool read_only;
	bool deny_predicates_on_masked;
	unsigned block;			/* enum guardrail bits: refused (approve's included) */
	unsigned approve;		/* enum guardrail bits: held until an approver says yes */
	char **approve_tables; int napprove_tables;	/* [schema.]table, lowercase: any use is held */
	char **approve_fingerprints; int napprove_fingerprints;	/* pg_query_fingerprint hex: held */
	char **functions; int nfunctions;	/* globs, lowercase */
	struct mask_rule *masks; int nmasks;
	int line;			/* the section header's line */
};

struct policy_set {
	struct policy *policies; int n;	/* file order, default included */
	const struct policy *fallback;	/* the [policy default] section */
};

/* Parse text (len bytes, need not be NUL-terminated).  NULL with err = "LINE: message". */
struct policy_set *policy_parse(const char *text, size_t len, char *err, size_t errlen);
/* Read and parse a file; err = "PATH:LINE: message" or "PATH: strerror". */
struct policy_set *policy_load(const char *path, char *err, size_t errlen);
void policy_set_free(struct policy_set *set);

/* The policy for a session: with an identity (ngroups >= 0 means "has identity"), the first policy
 * sharing a group; without one (ngroups < 0), the first policy listing user; else the default. */
const struct policy *policy_select(const struct policy_set *set, const char *const *groups, int ngroups,
				   const char *user);

/* "DROP", "TRUNCATE", "ALTER", "DELETE without WHERE", "UPDATE without WHERE", "GRANT/REVOKE",
 * "CREATE EXTENSION", "COPY PROGRAM", "DO", "SET ROLE", "ALTER SYSTEM" — for messages. */
const char *guardrail_label(enum guardrail g);
/* glob match of a function name (lowercased by the caller) against the policy's block_functions. */
bool policy_function_blocked(const struct policy *p, const char *name);

#endif
