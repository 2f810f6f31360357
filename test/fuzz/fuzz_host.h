/*
 * A pgwarden host for harnesses that drive a whole plugin through its ABI
 * (include/pgwarden/plugin.h), as the core would: one plugin, one session,
 * one request at a time.  Everything the plugin says through the host is
 * recorded in fuzz_host for the harness to check:
 *
 *   pgwarden_plugin_init(&fuzz_host_api, &fuzz_plugin, kv, n);
 *   fuzz_request_reset(); d = fuzz_host.hooks.client_auth(&fuzz_plugin, &fuzz_session, &fuzz_request, &info);
 *   ... fuzz_request.message, fuzz_request.map_user ...
 *
 * Timers never fire, worker jobs are refused (queue full), and a
 * server_query is kept in fuzz_host.query_done/query_arg until the harness
 * answers it.  Only for test/fuzz/fuzz_*.c: every function is static.
 */
#ifndef PGWARDEN_FUZZ_HOST_H
#define PGWARDEN_FUZZ_HOST_H

#include <pgwarden/plugin.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_GROUPS 64
#define FUZZ_MAX_TIMERS 16

struct pgw_plugin {
	int unused;
};

struct pgw_session {
	const char *user;
	const char *database;
	const char *transport;
	void *data;
	char *subject;
	char *issuer;
	int64_t expires_at;
	char *groups[FUZZ_MAX_GROUPS];
	int ngroups;
};

struct pgw_request {
	struct pgw_session *session;	/* NULL: the client has gone */
	int errors;			/* request_error calls */
	char sqlstate[6];
	char message[1024];
	int mapped;			/* request_map_login calls */
	char map_user[256];
	int completed;			/* request_complete calls */
	enum pgw_decision decision;
};

struct pgw_timer {
	void (*cb)(void *arg);
	void *arg;
};

static struct {
	struct pgw_hooks hooks;
	void *private_data;
	char error[1024];
	int counters;
	void (*query_done)(void *arg, const struct pgw_query_result *result);
	void *query_arg;
	int queries;			/* server_query calls */
	struct pgw_timer *timers[FUZZ_MAX_TIMERS];
} fuzz_host;

static struct pgw_plugin fuzz_plugin;
static struct pgw_session fuzz_session;
static struct pgw_request fuzz_request;

/* ---- the plugin itself ---- */

static int fh_register_hooks(struct pgw_plugin *self, const struct pgw_hooks *hooks)
{
	(void)self;
	memset(&fuzz_host.hooks, 0, sizeof(fuzz_host.hooks));
	memcpy(&fuzz_host.hooks, hooks, hooks->size < sizeof(fuzz_host.hooks) ? hooks->size : sizeof(fuzz_host.hooks));
	return 0;
}

static const char *fh_plugin_name(const struct pgw_plugin *self)
{
	(void)self;
	return "fuzz";
}

static const char *fh_config_get(const struct pgw_plugin *self, const char *key)
{
	(void)self, (void)key;
	return NULL;
}

__attribute__((format(printf, 2, 3)))
static void fh_set_error(struct pgw_plugin *self, const char *fmt, ...)
{
	va_list ap;

	(void)self;
	va_start(ap, fmt);
	vsnprintf(fuzz_host.error, sizeof(fuzz_host.error), fmt, ap);
	va_end(ap);
}

/* Formatted (the arguments must fit the format), then dropped. */
__attribute__((format(printf, 3, 4)))
static void fh_log(struct pgw_plugin *self, enum pgw_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	(void)self, (void)level;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (getenv("FUZZ_HOST_LOG"))
		fprintf(stderr, "log: %s\n", line);
}

static void fh_set_private(struct pgw_plugin *self, void *data)
{
	(void)self;
	fuzz_host.private_data = data;
}

static void *fh_get_private(const struct pgw_plugin *self)
{
	(void)self;
	return fuzz_host.private_data;
}

/* ---- sessions ---- */

static uint64_t fh_session_id(const struct pgw_session *s)
{
	(void)s;
	return 1;
}

static const char *fh_session_user(const struct pgw_session *s)
{
	return s->user;
}

static const char *fh_session_database(const struct pgw_session *s)
{
	return s->database;
}

static const char *fh_session_client_addr(const struct pgw_session *s)
{
	(void)s;
	return "10.0.0.1:5555";
}

static const char *fh_session_application_name(const struct pgw_session *s)
{
	(void)s;
	return "fuzz";
}

static void *fh_session_get_data(const struct pgw_session *s, const struct pgw_plugin *self)
{
	(void)self;
	return s->data;
}

static void fh_session_set_data(struct pgw_session *s, const struct pgw_plugin *self, void *data)
{
	(void)self;
	s->data = data;
}

/* ---- identity ---- */

static void fh_identity_set(struct pgw_session *s, const char *subject, const char *issuer, int64_t expires_at)
{
	free(s->subject);
	free(s->issuer);
	s->subject = strdup(subject);
	s->issuer = strdup(issuer);
	s->expires_at = expires_at;
}

static const char *fh_identity_subject(const struct pgw_session *s)
{
	return s->subject;
}

static const char *fh_identity_issuer(const struct pgw_session *s)
{
	return s->issuer;
}

static int64_t fh_identity_expires_at(const struct pgw_session *s)
{
	return s->expires_at;
}

static void fh_identity_add_group(struct pgw_session *s, const char *group)
{
	if (s->ngroups < FUZZ_MAX_GROUPS)
		s->groups[s->ngroups++] = strdup(group);
}

static int fh_identity_group_count(const struct pgw_session *s)
{
	return s->ngroups;
}

static const char *fh_identity_group(const struct pgw_session *s, int i)
{
	return i >= 0 && i < s->ngroups ? s->groups[i] : NULL;
}

static void fh_identity_put(struct pgw_session *s, const char *key, const char *value)
{
	(void)s;
	if (!key || !value)
		abort();	/* the core copies both */
}

static const char *fh_identity_get(const struct pgw_session *s, const char *key)
{
	(void)s, (void)key;
	return NULL;
}

/* ---- requests ---- */

static struct pgw_session *fh_request_session(const struct pgw_request *req)
{
	return req->session;
}

static void fh_request_rewrite(struct pgw_request *req, const char *sql)
{
	(void)req, (void)sql;
}

static void fh_request_error(struct pgw_request *req, const char *sqlstate, const char *message)
{
	if (!sqlstate || strlen(sqlstate) != 5 || !message)
		abort();	/* the core needs a SQLSTATE and a message */
	req->errors++;
	snprintf(req->sqlstate, sizeof(req->sqlstate), "%s", sqlstate);
	snprintf(req->message, sizeof(req->message), "%s", message);
}

static void fh_request_map_login(struct pgw_request *req, const char *server_user, const char *database)
{
	(void)database;
	req->mapped++;
	snprintf(req->map_user, sizeof(req->map_user), "%s", server_user ? server_user : "");
}

static void fh_request_complete(struct pgw_request *req, enum pgw_decision decision)
{
	req->completed++;
	req->decision = decision;
}

static void fh_request_note(struct pgw_request *req, const char *note)
{
	(void)req, (void)note;
}

/* ---- timers: kept, never fired ---- */

static struct pgw_timer *fh_timer_start(struct pgw_plugin *self, uint64_t after_ms, void (*cb)(void *arg), void *arg)
{
	(void)self, (void)after_ms;
	for (int i = 0; i < FUZZ_MAX_TIMERS; i++) {
		if (!fuzz_host.timers[i]) {
			fuzz_host.timers[i] = calloc(1, sizeof(struct pgw_timer));
			fuzz_host.timers[i]->cb = cb;
			fuzz_host.timers[i]->arg = arg;
			return fuzz_host.timers[i];
		}
	}
	abort();	/* a timer leak in the plugin */
}

static void fh_timer_cancel(struct pgw_timer *t)
{
	for (int i = 0; i < FUZZ_MAX_TIMERS; i++) {
		if (fuzz_host.timers[i] == t) {
			free(t);
			fuzz_host.timers[i] = NULL;
			return;
		}
	}
	abort();	/* not a live timer */
}

/* ---- results ---- */

static void fh_row_set_field(struct pgw_row *row, int i, const void *data, int32_t len)
{
	(void)row, (void)i, (void)data, (void)len;
}

static void fh_result_mark_column(struct pgw_session *s, struct pgw_plugin *self, int i, const char *note)
{
	(void)s, (void)self, (void)i, (void)note;
}

static const char *fh_result_column_marks(const struct pgw_session *s, int i)
{
	(void)s, (void)i;
	return NULL;
}

static void fh_result_hold(struct pgw_session *s)
{
	(void)s;
}

/* ---- work, counters, console ---- */

static int fh_worker_submit(struct pgw_plugin *self, void (*work)(void *arg), void (*done)(void *arg), void *arg)
{
	(void)self, (void)work, (void)done, (void)arg;
	return -1;	/* the queue is full */
}

static const char *fh_session_server_user(const struct pgw_session *s)
{
	return s->user;
}

static const char *fh_session_server_database(const struct pgw_session *s)
{
	return s->database;
}

static int fh_counter_register(struct pgw_plugin *self, const char *name)
{
	(void)self, (void)name;
	return fuzz_host.counters++;
}

static void fh_counter_add(struct pgw_plugin *self, int id, int64_t delta)
{
	(void)self, (void)delta;
	if (id < 0 || id >= fuzz_host.counters)
		abort();
}

static int fh_call_on_loop(struct pgw_plugin *self, void (*fn)(void *arg), void *arg)
{
	(void)self, (void)fn, (void)arg;
	return -1;
}

static int fh_show_register(struct pgw_plugin *self, const char *name, const char *const *columns, int ncolumns,
			    void (*fill)(struct pgw_plugin *self, struct pgw_show *out))
{
	(void)self, (void)name, (void)columns, (void)ncolumns, (void)fill;
	return 0;
}

static void fh_show_row(struct pgw_show *out, const char *const *values)
{
	(void)out, (void)values;
}

static const char *fh_session_transport(const struct pgw_session *s)
{
	return s->transport ? s->transport : "tls";
}

static void fh_session_close(struct pgw_session *s, const char *sqlstate, const char *message, int after_transaction)
{
	(void)s, (void)sqlstate, (void)message, (void)after_transaction;
}

static int fh_server_query(struct pgw_plugin *self, const char *database, const char *user, const char *sql,
			   void (*done)(void *arg, const struct pgw_query_result *result), void *arg)
{
	(void)self, (void)database, (void)user;
	if (!sql || fuzz_host.query_done)
		abort();	/* one lookup at a time here */
	fuzz_host.query_done = done;
	fuzz_host.query_arg = arg;
	fuzz_host.queries++;
	return 0;
}

static int fh_command_register(struct pgw_plugin *self, const char *verb,
			       void (*run)(struct pgw_plugin *self, struct pgw_command *cmd, const char *args))
{
	(void)self, (void)verb, (void)run;
	return 0;
}

static const char *fh_command_user(const struct pgw_command *cmd)
{
	(void)cmd;
	return "admin";
}

static void fh_command_done(struct pgw_command *cmd, const char *tag, const char *notice)
{
	(void)cmd, (void)tag, (void)notice;
}

static void fh_command_error(struct pgw_command *cmd, const char *sqlstate, const char *message)
{
	(void)cmd, (void)sqlstate, (void)message;
}

static const struct pgw_host fuzz_host_api = {
	.size = sizeof(struct pgw_host),
	.abi_version = PGW_ABI_VERSION,
	.version = "fuzz",
	.register_hooks = fh_register_hooks,
	.plugin_name = fh_plugin_name,
	.config_get = fh_config_get,
	.set_error = fh_set_error,
	.log = fh_log,
	.set_private = fh_set_private,
	.get_private = fh_get_private,
	.session_id = fh_session_id,
	.session_user = fh_session_user,
	.session_database = fh_session_database,
	.session_client_addr = fh_session_client_addr,
	.session_application_name = fh_session_application_name,
	.session_get_data = fh_session_get_data,
	.session_set_data = fh_session_set_data,
	.identity_set = fh_identity_set,
	.identity_subject = fh_identity_subject,
	.identity_issuer = fh_identity_issuer,
	.identity_expires_at = fh_identity_expires_at,
	.identity_add_group = fh_identity_add_group,
	.identity_group_count = fh_identity_group_count,
	.identity_group = fh_identity_group,
	.identity_put = fh_identity_put,
	.identity_get = fh_identity_get,
	.request_session = fh_request_session,
	.request_rewrite = fh_request_rewrite,
	.request_error = fh_request_error,
	.request_map_login = fh_request_map_login,
	.request_complete = fh_request_complete,
	.timer_start = fh_timer_start,
	.timer_cancel = fh_timer_cancel,
	.row_set_field = fh_row_set_field,
	.result_mark_column = fh_result_mark_column,
	.result_column_marks = fh_result_column_marks,
	.worker_submit = fh_worker_submit,
	.session_server_user = fh_session_server_user,
	.session_server_database = fh_session_server_database,
	.counter_register = fh_counter_register,
	.counter_add = fh_counter_add,
	.result_hold = fh_result_hold,
	.result_release = fh_result_hold,
	.call_on_loop = fh_call_on_loop,
	.show_register = fh_show_register,
	.show_row = fh_show_row,
	.session_transport = fh_session_transport,
	.session_close = fh_session_close,
	.server_query = fh_server_query,
	.command_register = fh_command_register,
	.command_user = fh_command_user,
	.command_done = fh_command_done,
	.command_error = fh_command_error,
	.request_note = fh_request_note,
};

/* A new request of the session. */
__attribute__((unused)) static void fuzz_request_reset(void)
{
	memset(&fuzz_request, 0, sizeof(fuzz_request));
	fuzz_request.session = &fuzz_session;
}

/* Forget the session's identity (its data slot is the plugin's to free). */
__attribute__((unused)) static void fuzz_session_reset(void)
{
	free(fuzz_session.subject);
	free(fuzz_session.issuer);
	for (int i = 0; i < fuzz_session.ngroups; i++)
		free(fuzz_session.groups[i]);
	fuzz_session.subject = fuzz_session.issuer = NULL;
	fuzz_session.ngroups = 0;
	fuzz_session.expires_at = 0;
}

#endif
