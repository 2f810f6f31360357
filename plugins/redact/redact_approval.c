/*
 * Just-in-time approval of held statements (see redact_approval.h).
 *
 * A held statement is a PGW_LATER request: the client waits, nothing is
 * sent to PostgreSQL.  It ends in exactly one of: APPROVE (the request
 * continues; with FOR, the same identity may run the same statement
 * fingerprint again without asking until the grant expires), DENY, the
 * timeout, or the client leaving (its cancel or disconnect: pgwarden drops
 * the request, and the entry is swept when next looked at).
 */
#include "redact_approval.h"
#include "redact_notify.h"

#include <jansson.h>
#include <ctype.h>
#include <inttypes.h>
#include <pg_query.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DEFAULT_TIMEOUT_S 300
#define MAX_GRANT_S (30 * 86400)

struct held {
	struct held *next;
	uint64_t id;
	struct pgw_request *req;
	struct pgw_timer *timer;
	struct approvals *owner;
	time_t requested_at;
	char *identity;		/* token subject, or the pooler user */
	char *user;		/* the pooler user */
	char *database;
	char *sql;
	char *fingerprint;
	char *rule;
	char *policy;
};

struct grant {
	struct grant *next;
	char *identity;
	char *fingerprint;
	time_t expires_at;
	char note[160];		/* for the statements it lets through */
};

struct approvals {
	struct pgw_plugin *self;
	const struct pgw_host *host;
	struct held *held;
	struct grant *grants;
	uint64_t next_id;
	char **approvers;
	int napprovers;
	int timeout_s;
	int counter_held, counter_approved, counter_denied, counter_timed_out;
	struct notifier *notifier;	/* the webhook, if configured */
};

/* ---------------- configuration ---------------- */

static void free_approvers(struct approvals *a)
{
	for (int i = 0; i < a->napprovers; i++)
		free(a->approvers[i]);
	free(a->approvers);
	a->approvers = NULL;
	a->napprovers = 0;
}

/* "alice, bob": names split at commas and spaces. */
static void set_approvers(struct approvals *a, const char *list)
{
	const char *p = list ? list : "";

	free_approvers(a);
	while (*p) {
		size_t n;
		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		n = strcspn(p, ", \t");
		if (n) {
			a->approvers = realloc(a->approvers, sizeof(*a->approvers) * (size_t)(a->napprovers + 1));
			a->approvers[a->napprovers++] = strndup(p, n);
		}
		p += n;
	}
}

bool approvals_configure(struct approvals *a, const struct approval_config *cfg, char *err, size_t errlen)
{
	const char *t = cfg->timeout;
	long timeout = DEFAULT_TIMEOUT_S;

	if (t) {
		char *end;
		timeout = strtol(t, &end, 10);
		if (*t == '\0' || *end || timeout < 1 || timeout > 86400) {
			snprintf(err, errlen, "approval_timeout must be 1..86400 seconds, not \"%.32s\"", t);
			return false;
		}
	}
	if (!notifier_configure(a->notifier, cfg->notify_url, cfg->notify_ca_file, err, errlen))
		return false;
	a->timeout_s = (int)timeout;
	set_approvers(a, cfg->approvers);
	return true;
}

struct approvals *approvals_new(struct pgw_plugin *self, const struct pgw_host *host,
				const struct approval_config *cfg, char *err, size_t errlen)
{
	struct approvals *a = calloc(1, sizeof(*a));

	a->self = self;
	a->host = host;
	a->notifier = notifier_new(self, host);
	if (!approvals_configure(a, cfg, err, errlen)) {
		notifier_free(a->notifier);
		free(a);
		return NULL;
	}
	a->counter_held = host->counter_register(self, "approvals_requested");
	a->counter_approved = host->counter_register(self, "approvals_approved");
	a->counter_denied = host->counter_register(self, "approvals_denied");
	a->counter_timed_out = host->counter_register(self, "approvals_timed_out");
	return a;
}

/* ---------------- held statements ---------------- */

static void held_free(struct held *h)
{
	free(h->identity);
	free(h->user);
	free(h->database);
	free(h->sql);
	free(h->fingerprint);
	free(h->rule);
	free(h->policy);
	free(h);
}

static void unlink_held(struct approvals *a, struct held *h)
{
	for (struct held **at = &a->held; *at; at = &(*at)->next) {
		if (*at == h) {
			*at = h->next;
			return;
		}
	}
}

/* The statement's answer; the entry goes.  sqlstate NULL: it runs.  note:
 * for the audit record (NULL: none). */
static void finish(struct held *h, const char *sqlstate, const char *message, const char *note)
{
	struct approvals *a = h->owner;

	if (h->timer)
		a->host->timer_cancel(h->timer);
	unlink_held(a, h);
	if (note)
		a->host->request_note(h->req, note);
	if (sqlstate)
		a->host->request_error(h->req, sqlstate, message);
	a->host->request_complete(h->req, sqlstate ? PGW_BLOCK : PGW_CONTINUE);
	held_free(h);
}

static void timed_out(void *arg)
{
	struct held *h = arg;
	struct approvals *a = h->owner;
	char msg[128], note[80];

	h->timer = NULL;	/* a fired timer is freed */
	snprintf(msg, sizeof(msg), "pgwarden: approval timed out after %d s (request %" PRIu64 ")", a->timeout_s,
		 h->id);
	a->host->log(a->self, PGW_LOG_INFO, "approval request %" PRIu64 " timed out", h->id);
	a->host->counter_add(a->self, a->counter_timed_out, 1);
	snprintf(note, sizeof(note), "approval timed out (approval request %" PRIu64 ")", h->id);
	finish(h, "57014", msg, note);
}

/* Requests whose client went away (cancel, disconnect): nothing to ask. */
static void sweep_withdrawn(struct approvals *a)
{
	struct held *h = a->held, *next;

	for (; h; h = next) {
		next = h->next;
		if (!a->host->request_session(h->req)) {
			a->host->log(a->self, PGW_LOG_INFO, "approval request %" PRIu64 " withdrawn", h->id);
			finish(h, "57014", "withdrawn", NULL);
		}
	}
}

static char *fingerprint_of(const char *sql)
{
	PgQueryFingerprintResult fp = pg_query_fingerprint(sql);
	char *out = strdup(!fp.error && fp.fingerprint_str ? fp.fingerprint_str : "");

	pg_query_free_fingerprint_result(fp);
	return out;
}

static const struct grant *granted(struct approvals *a, const char *identity, const char *fingerprint)
{
	time_t now = time(NULL);
	struct grant **at = &a->grants;

	while (*at) {
		struct grant *g = *at;
		if (g->expires_at <= now) {
			*at = g->next;
			free(g->identity);
			free(g->fingerprint);
			free(g);
			continue;
		}
		if (strcmp(g->identity, identity) == 0 && strcmp(g->fingerprint, fingerprint) == 0)
			return g;
		at = &g->next;
	}
	return NULL;
}

/* The webhook's body: the request, and the commands that answer it. */
static void announce(struct approvals *a, const struct held *h)
{
	char id[24], at[32], approve[40], deny[40];
	struct tm tm;
	json_t *body;
	char *text;

	snprintf(id, sizeof(id), "%" PRIu64, h->id);
	gmtime_r(&h->requested_at, &tm);
	strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(approve, sizeof(approve), "APPROVE %s", id);
	snprintf(deny, sizeof(deny), "DENY %s", id);
	body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "id", id, "requested_at", at,
			 "identity", h->identity, "database", h->database, "statement", h->sql, "fingerprint",
			 h->fingerprint, "rule", h->rule, "policy", h->policy, "approve", approve, "deny", deny,
			 "timeout_s", a->timeout_s);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (text)
		notifier_send(a->notifier, text);
	free(text);
	json_decref(body);
}

enum pgw_decision approvals_ask(struct approvals *a, struct pgw_session *s, struct pgw_request *req,
				const char *sql, const char *rule, const char *policy)
{
	const struct pgw_host *host = a->host;
	const char *subject = host->identity_subject(s);
	struct held *h;
	char *fingerprint = fingerprint_of(sql);
	const struct grant *g = granted(a, subject ? subject : host->session_user(s), fingerprint);

	if (g) {
		host->request_note(req, g->note);
		free(fingerprint);
		return PGW_CONTINUE;
	}
	h = calloc(1, sizeof(*h));
	h->id = ++a->next_id;
	h->req = req;
	h->owner = a;
	h->requested_at = time(NULL);
	h->identity = strdup(subject ? subject : host->session_user(s));
	h->user = strdup(host->session_user(s));
	h->database = strdup(host->session_database(s));
	h->sql = strdup(sql);
	h->fingerprint = fingerprint;
	h->rule = strdup(rule);
	h->policy = strdup(policy);
	h->next = a->held;
	a->held = h;
	h->timer = host->timer_start(a->self, (uint64_t)a->timeout_s * 1000, timed_out, h);
	host->counter_add(a->self, a->counter_held, 1);
	/* what the audit record says if the client gives up waiting (cancel);
	 * an answer replaces it */
	char note[64];
	snprintf(note, sizeof(note), "withdrawn by the client (approval request %" PRIu64 ")", h->id);
	host->request_note(req, note);
	host->log(a->self, PGW_LOG_INFO, "approval request %" PRIu64 ": %s by %s in %s (%s)", h->id, rule,
		  h->identity, h->database, h->fingerprint);
	announce(a, h);
	return PGW_LATER;
}

/* ---------------- the admin console ---------------- */

const char *const approvals_columns[APPROVALS_NCOLUMNS] = {
	"id", "requested_at", "identity", "database", "statement", "fingerprint", "rule", "policy", "waiting_s",
};

void approvals_show(struct approvals *a, struct pgw_show *out)
{
	sweep_withdrawn(a);
	for (struct held *h = a->held; h; h = h->next) {
		char id[24], at[32], waiting[24];
		struct tm tm;
		const char *row[9];
		gmtime_r(&h->requested_at, &tm);
		strftime(at, sizeof(at), "%Y-%m-%d %H:%M:%S UTC", &tm);
		snprintf(id, sizeof(id), "%" PRIu64, h->id);
		snprintf(waiting, sizeof(waiting), "%lld", (long long)(time(NULL) - h->requested_at));
		row[0] = id;
		row[1] = at;
		row[2] = h->identity;
		row[3] = h->database;
		row[4] = h->sql;
		row[5] = h->fingerprint;
		row[6] = h->rule;
		row[7] = h->policy;
		row[8] = waiting;
		a->host->show_row(out, row);
	}
}

static struct held *find_held(struct approvals *a, const char **args, struct pgw_command *cmd)
{
	char *end;
	unsigned long long id;

	sweep_withdrawn(a);
	id = strtoull(*args, &end, 10);
	if (end == *args || (*end && !isspace((unsigned char)*end))) {
		a->host->command_error(cmd, "22023", "usage: APPROVE id [FOR interval] | DENY id [reason]");
		return NULL;
	}
	*args = end;
	while (isspace((unsigned char)**args))
		(*args)++;
	for (struct held *h = a->held; h; h = h->next) {
		if (h->id == id)
			return h;
	}
	a->host->command_error(cmd, "42704", "no such approval request (answered, timed out or withdrawn)");
	return NULL;
}

/* Only approvers, and never for their own request. */
static bool may_answer(struct approvals *a, const struct held *h, struct pgw_command *cmd)
{
	const char *who = a->host->command_user(cmd);
	bool approver = false;

	for (int i = 0; i < a->napprovers; i++)
		approver = approver || strcmp(a->approvers[i], who) == 0;
	if (!approver) {
		a->host->command_error(cmd, "42501", "not an approver (see approvers in [plugin.redact])");
		return false;
	}
	if (strcmp(who, h->identity) == 0 || strcmp(who, h->user) == 0) {
		a->host->command_error(cmd, "42501", "an identity cannot approve its own request");
		return false;
	}
	return true;
}

/* "90", "90s", "15m", "2h", "1d", "2 hours", "'1 hour'": seconds, or -1. */
static long parse_interval(const char *s)
{
	char unit[16] = "";
	char *end;
	long n;
	size_t len;

	while (*s == '\'' || isspace((unsigned char)*s))
		s++;
	n = strtol(s, &end, 10);
	if (end == s || n <= 0)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	len = strcspn(end, "' \t");
	if (len >= sizeof(unit))
		return -1;
	memcpy(unit, end, len);
	for (end += len; *end == '\'' || isspace((unsigned char)*end); end++)
		;
	if (*end)
		return -1;
	if (!unit[0] || !strcasecmp(unit, "s") || !strncasecmp(unit, "sec", 3))
		return n;
	if (!strcasecmp(unit, "m") || !strncasecmp(unit, "min", 3))
		return n <= MAX_GRANT_S / 60 ? n * 60 : -1;
	if (!strcasecmp(unit, "h") || !strncasecmp(unit, "hour", 4))
		return n <= MAX_GRANT_S / 3600 ? n * 3600 : -1;
	if (!strcasecmp(unit, "d") || !strncasecmp(unit, "day", 3))
		return n <= MAX_GRANT_S / 86400 ? n * 86400 : -1;
	return -1;
}

void approvals_approve(struct approvals *a, struct pgw_command *cmd, const char *args)
{
	struct held *h = find_held(a, &args, cmd);
	long grant_s = 0;
	char notice[160] = "", note[160];

	if (!h || !may_answer(a, h, cmd))
		return;
	if (*args) {
		if (strncasecmp(args, "for", 3) != 0 || !isspace((unsigned char)args[3]) ||
		    (grant_s = parse_interval(args + 4)) <= 0 || grant_s > MAX_GRANT_S) {
			a->host->command_error(cmd, "22023", "usage: APPROVE id [FOR interval] (e.g. FOR 15m; at most 30 days)");
			return;
		}
		struct grant *g = calloc(1, sizeof(*g));
		g->identity = strdup(h->identity);
		g->fingerprint = strdup(h->fingerprint);
		g->expires_at = time(NULL) + grant_s;
		snprintf(g->note, sizeof(g->note), "allowed by a %ld s grant of %.60s (approval request %" PRIu64 ")",
			 grant_s, a->host->command_user(cmd), h->id);
		g->next = a->grants;
		a->grants = g;
		snprintf(notice, sizeof(notice), "%s may run this statement again for %ld s without asking",
			 h->identity, grant_s);
	}
	a->host->log(a->self, PGW_LOG_INFO, "approval request %" PRIu64 " approved by %s%s", h->id,
		     a->host->command_user(cmd), grant_s ? " with a grant" : "");
	a->host->counter_add(a->self, a->counter_approved, 1);
	snprintf(note, sizeof(note), "approved by %.60s (approval request %" PRIu64 "%s)", a->host->command_user(cmd),
		 h->id, grant_s ? ", with a grant" : "");
	finish(h, NULL, NULL, note);
	a->host->command_done(cmd, "APPROVE", notice[0] ? notice : NULL);
}

void approvals_deny(struct approvals *a, struct pgw_command *cmd, const char *args)
{
	struct held *h = find_held(a, &args, cmd);
	char msg[400], note[160];

	if (!h || !may_answer(a, h, cmd))
		return;
	snprintf(msg, sizeof(msg), "pgwarden: denied by approver %s%s%.200s", a->host->command_user(cmd),
		 *args ? ": " : "", args);
	a->host->log(a->self, PGW_LOG_INFO, "approval request %" PRIu64 " denied by %s", h->id,
		     a->host->command_user(cmd));
	a->host->counter_add(a->self, a->counter_denied, 1);
	snprintf(note, sizeof(note), "denied by %.60s (approval request %" PRIu64 ")", a->host->command_user(cmd), h->id);
	finish(h, "42501", msg, note);
	a->host->command_done(cmd, "DENY", NULL);
}

void approvals_free(struct approvals *a)
{
	if (!a)
		return;
	while (a->held)
		finish(a->held, "57014", "pgwarden: approval withdrawn (the plugin was unloaded)", NULL);
	while (a->grants) {
		struct grant *g = a->grants;
		a->grants = g->next;
		free(g->identity);
		free(g->fingerprint);
		free(g);
	}
	free_approvers(a);
	notifier_free(a->notifier);
	free(a);
}
