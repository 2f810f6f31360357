/*
 * Just-in-time approval (the policy's approve = guardrails): a statement
 * blocked only by those is held — nothing reaches PostgreSQL — until an
 * approver answers in the admin console (SHOW APPROVALS, APPROVE id
 * [FOR interval], DENY id [reason]) or approval_timeout passes.
 */
#ifndef REDACT_APPROVAL_H
#define REDACT_APPROVAL_H

#include <pgwarden/plugin.h>

#include <stdbool.h>
#include <stdint.h>

struct approvals;

/* The values of [plugin.redact]'s keys (NULL: not given). */
struct approval_config {
	const char *approvers;		/* console users, comma separated (none) */
	const char *timeout;		/* approval_timeout, seconds (300) */
	const char *notify_url;		/* webhook, https:// (none) */
	const char *notify_ca_file;	/* its CA (the system's) */
};

/* NULL with err set on a bad value. */
struct approvals *approvals_new(struct pgw_plugin *self, const struct pgw_host *host,
				const struct approval_config *cfg, char *err, size_t errlen);
/* RELOAD: new values; held statements and grants stay.  false: refused (err). */
bool approvals_configure(struct approvals *a, const struct approval_config *cfg, char *err, size_t errlen);
/* SHOW APPROVALS (its columns), APPROVE id [FOR interval], DENY id [reason]. */
#define APPROVALS_NCOLUMNS 9
extern const char *const approvals_columns[APPROVALS_NCOLUMNS];
void approvals_show(struct approvals *a, struct pgw_show *out);
void approvals_approve(struct approvals *a, struct pgw_command *cmd, const char *args);
void approvals_deny(struct approvals *a, struct pgw_command *cmd, const char *args);
/* Unload: every held statement is refused. */
void approvals_free(struct approvals *a);

/*
 * A statement the policy lets an approver allow: PGW_CONTINUE when a FOR
 * grant covers this identity and statement fingerprint, else PGW_LATER
 * (the request is held; host->request_complete follows).
 */
enum pgw_decision approvals_ask(struct approvals *a, struct pgw_session *s, struct pgw_request *req,
				const char *sql, const char *rule, const char *policy);

#endif
