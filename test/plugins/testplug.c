/*
 * The plugin the integration tests load (test/integration/test_plugins.py).
 * It registers every hook, logs what it sees ("plugin NAME: EVENT ...") and
 * acts on markers in the SQL or the password, so that each test picks its
 * behaviour from the query it sends:
 *
 *   SQL containing      statement decision
 *   pgw:block           BLOCK (sqlstate from the key block_sqlstate, default 42501)
 *   pgw:rewrite         REWRITE to the key rewrite_to
 *   pgw:later           LATER, completed after later_ms (default 100) by a timer (then as above)
 *   pgw:bad             an invalid decision (the core must fail closed)
 *   pgw:allow:NAME      ALLOW when this plugin is NAME (stops the chain)
 *   pgw:worker          LATER, decided ALLOW by a job on a worker thread
 *   pgw:query           LATER: host->server_query() runs the key query_sql (default: two
 *                       rows of pg_class) in the session's database as its user, logs
 *                       "server_query rows=N cols=N first=X error=SQLSTATE MESSAGE",
 *                       then ALLOW
 *
 * With the key decided = on it registers statement_decided: it logs the
 * outcome, vetoes SQL containing pgw:veto (sqlstate 58030), vetoes each
 * Execute (not the Parse) of a prepared text containing pgw:deny-run, and
 * holds SQL containing pgw:hold for later_ms, then lets it stand.
 *
 * With the key results = on it also registers the result hooks: it logs
 * every RowDescription, CommandComplete and ErrorResponse, and masks the
 * column named by the key mask_column (text: mask_value, default "***";
 * binary int4: 0; binary otherwise: the mask text's bytes), marking it
 * "masked".  Counters: statements, rows_masked.
 *
 *   password            client_auth decision (only with the key auth = on)
 *   letmein             ACCEPT, identity subject "alice", mapped to the key map_user
 *   later-ok            LATER, then ACCEPT like letmein
 *   reject              REJECT 28000
 *   anything else       CONTINUE (the core's auth)
 *
 * With the key close_after_ms, each session is ended by host->session_close
 * (08006 "closed by test plugin") that long after it starts; after its
 * transaction unless the key close_now = on.
 *
 * With the key command = VERB it registers the console command VERB: it
 * logs "command user=U args=A" and answers by its arguments — "fail": the
 * error 22023; "notice": a NOTICE and the default tag; "tag": the tag
 * "CUSTOM TAG"; anything else: no answer (the default tag).
 *
 * Init fails when the key fail_init is set.  Several instances of this one
 * shared object may be loaded under different names: everything lives in
 * the instance's private data, nothing in globals but the host table.
 */
#include <pgwarden/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

PGW_PLUGIN_DECLARE();

static const struct pgw_host *host;

/* Counter ids (the same for every instance: each registers in the same order). */
static int counter_statements = -1, counter_rows_masked = -1;

struct pending {
	struct pgw_plugin *self;
	struct pgw_request *req;
	enum pgw_decision decision;
};

static const char *cfg(struct pgw_plugin *self, const char *key, const char *dflt)
{
	const char *v = host->config_get(self, key);
	return v ? v : dflt;
}

static void on_command(struct pgw_plugin *self, struct pgw_command *cmd, const char *args)
{
	host->log(self, PGW_LOG_INFO, "command user=%s args=%s", host->command_user(cmd), args);
	if (strcmp(args, "fail") == 0)
		host->command_error(cmd, "22023", "testplug: failing as asked");
	else if (strcmp(args, "notice") == 0)
		host->command_done(cmd, NULL, "testplug says hello");
	else if (strcmp(args, "tag") == 0)
		host->command_done(cmd, "CUSTOM TAG", NULL);
}

static void complete_later(void *arg)
{
	struct pending *p = arg;

	host->log(p->self, PGW_LOG_INFO, "completing later request: %d", (int)p->decision);
	host->request_complete(p->req, p->decision);
	free(p);
}

static enum pgw_decision later(struct pgw_plugin *self, struct pgw_request *req, enum pgw_decision d)
{
	struct pending *p = malloc(sizeof(*p));

	p->self = self;
	p->req = req;
	p->decision = d;
	host->timer_start(self, strtoull(cfg(self, "later_ms", "100"), NULL, 10), complete_later, p);
	return PGW_LATER;
}

struct worker_job {
	struct pgw_plugin *self;
	struct pgw_request *req;
	unsigned long answer;	/* written by the worker, read on the loop */
};

/* On a worker thread: no host function may be called here. */
static void worker_work(void *arg)
{
	struct worker_job *job = arg;
	unsigned long x = 0;

	for (unsigned long i = 0; i < 1000000; i++)
		x += i;
	job->answer = x;
}

static void worker_done(void *arg)
{
	struct worker_job *job = arg;

	host->log(job->self, PGW_LOG_INFO, "worker done answer=%lu", job->answer);
	host->request_complete(job->req, PGW_ALLOW);
	free(job);
}

static enum pgw_decision decide_statement(struct pgw_plugin *self, struct pgw_request *req, const char *sql)
{
	char allow_marker[96];

	snprintf(allow_marker, sizeof(allow_marker), "pgw:allow:%s", host->plugin_name(self));
	if (strstr(sql, "pgw:bad"))
		return (enum pgw_decision)99;
	if (strstr(sql, allow_marker))
		return PGW_ALLOW;
	if (strstr(sql, "pgw:block")) {
		char msg[128];
		snprintf(msg, sizeof(msg), "blocked by %s", host->plugin_name(self));
		host->request_error(req, cfg(self, "block_sqlstate", "42501"), msg);
		return PGW_BLOCK;
	}
	if (strstr(sql, "pgw:rewrite")) {
		host->request_rewrite(req, cfg(self, "rewrite_to", "SELECT 'rewritten'"));
		return PGW_REWRITE;
	}
	return PGW_CONTINUE;
}

static void query_done(void *arg, const struct pgw_query_result *res)
{
	struct pending *p = arg;
	const char *first = res->nrows && res->ncolumns ? res->values[0] : NULL;

	host->log(p->self, PGW_LOG_INFO, "server_query rows=%d cols=%d first=%s error=%s %s", res->nrows,
		  res->ncolumns, first ? first : "-", res->sqlstate ? res->sqlstate : "-",
		  res->message ? res->message : "-");
	host->request_complete(p->req, PGW_ALLOW);
	free(p);
}

static enum pgw_decision on_statement(struct pgw_plugin *self, struct pgw_session *s,
				      struct pgw_request *req, const struct pgw_statement *st)
{
	const char *subject = host->identity_subject(s);
	long *count = host->session_get_data(s, self);

	if (count)
		++*count;
	host->counter_add(self, counter_statements, 1);
	host->log(self, PGW_LOG_INFO, "statement source=%c name=%s subject=%s count=%ld sql=%s",
		  (char)st->source, st->statement_name, subject ? subject : "-", count ? *count : -1L, st->sql);
	if (strstr(st->sql, "pgw:worker")) {
		struct worker_job *job = calloc(1, sizeof(*job));
		job->self = self;
		job->req = req;
		if (host->worker_submit(self, worker_work, worker_done, job) != 0) {
			free(job);
			return PGW_BLOCK;
		}
		return PGW_LATER;
	}
	if (strstr(st->sql, "pgw:query")) {
		struct pending *p = calloc(1, sizeof(*p));
		p->self = self;
		p->req = req;
		if (host->server_query(self, host->session_database(s), host->session_user(s),
				       cfg(self, "query_sql", "SELECT relname, relkind FROM pg_class "
					   "WHERE relname IN ('pg_class', 'pg_proc') ORDER BY 1"),
				       query_done, p) != 0) {
			free(p);
			return PGW_BLOCK;
		}
		return PGW_LATER;
	}
	if (strstr(st->sql, "pgw:later")) {
		enum pgw_decision d = decide_statement(self, req, st->sql);
		return later(self, req, d);
	}
	return decide_statement(self, req, st->sql);
}

static enum pgw_decision on_auth(struct pgw_plugin *self, struct pgw_session *s,
				 struct pgw_request *req, const struct pgw_auth_info *info)
{
	const char *appname = "-";

	for (int i = 0; i < info->nparams; i++) {
		if (strcmp(info->params[i].key, "application_name") == 0)
			appname = info->params[i].value;
	}
	host->log(self, PGW_LOG_INFO, "client_auth user=%s database=%s addr=%s app=%s",
		  info->user, info->database, info->client_addr, appname);
	char all[512] = "";
	for (int i = 0; i < info->nparams; i++) {
		size_t used = strlen(all);
		snprintf(all + used, sizeof(all) - used, "%s=%s;", info->params[i].key, info->params[i].value);
	}
	host->log(self, PGW_LOG_INFO, "client_auth_params %s", all);
	if (strcmp(info->password, "reject") == 0) {
		host->request_error(req, "28000", "rejected by test plugin");
		return PGW_REJECT;
	}
	if (strcmp(info->password, "letmein") == 0 || strcmp(info->password, "later-ok") == 0) {
		host->identity_set(s, "alice", "test-issuer", 0);
		host->identity_add_group(s, "admins");
		host->identity_put(s, "email", "alice@example.com");
		host->request_map_login(req, cfg(self, "map_user", NULL), cfg(self, "map_database", NULL));
		if (strcmp(info->password, "later-ok") == 0)
			return later(self, req, PGW_ACCEPT);
		return PGW_ACCEPT;
	}
	return PGW_CONTINUE;
}

/* Per session: the statement count first (on_statement reads a long). */
struct session_data {
	long statements;
	struct pgw_timer *close_timer;
	struct pgw_session *session;
	struct pgw_plugin *self;
};

static void close_session(void *arg)
{
	struct session_data *sd = arg;

	sd->close_timer = NULL;
	host->session_close(sd->session, "08006", "closed by test plugin",
			    strcmp(cfg(sd->self, "close_now", "off"), "on") != 0);
}

static void on_session_start(struct pgw_plugin *self, struct pgw_session *s)
{
	const char *subject = host->identity_subject(s);
	const char *email = host->identity_get(s, "email");
	const char *close_after = cfg(self, "close_after_ms", NULL);
	struct session_data *sd = calloc(1, sizeof(*sd));

	sd->session = s;
	sd->self = self;
	if (close_after)
		sd->close_timer = host->timer_start(self, strtoull(close_after, NULL, 10), close_session, sd);
	host->session_set_data(s, self, sd);
	host->log(self, PGW_LOG_INFO, "session_start id=%llu user=%s database=%s app=%s subject=%s groups=%d email=%s",
		  (unsigned long long)host->session_id(s), host->session_user(s), host->session_database(s),
		  host->session_application_name(s), subject ? subject : "-", host->identity_group_count(s),
		  email ? email : "-");
}

static void on_session_end(struct pgw_plugin *self, struct pgw_session *s, const char *reason)
{
	struct session_data *sd = host->session_get_data(s, self);
	long *count = sd ? &sd->statements : NULL;

	host->log(self, PGW_LOG_INFO, "session_end statements=%ld reason=%s", count ? *count : -1L, reason);
	if (sd && sd->close_timer)
		host->timer_cancel(sd->close_timer);
	free(sd);
	host->session_set_data(s, self, NULL);
}

/* ---- results ---- */

static int on_row_description(struct pgw_plugin *self, struct pgw_session *s,
			      const struct pgw_result_columns *rc)
{
	const char *mask = cfg(self, "mask_column", NULL);
	char buf[512] = "";
	int want = 0;

	for (int i = 0; i < rc->ncolumns; i++) {
		const struct pgw_column *c = &rc->columns[i];
		size_t used = strlen(buf);
		snprintf(buf + used, sizeof(buf) - used, "%s%s:%u:%d:%u", i ? "," : "", c->name,
			 c->type_oid, c->format, c->table_oid ? 1u : 0u);
		if (mask && strcmp(c->name, mask) == 0) {
			host->result_mark_column(s, self, i, "masked");
			want = 1;
		}
	}
	host->log(self, PGW_LOG_INFO, "row_description n=%d cols=%s", rc->ncolumns, buf);
	return want;
}

static void on_data_row(struct pgw_plugin *self, struct pgw_session *s, struct pgw_row *row)
{
	const char *mask = cfg(self, "mask_column", "");
	const char *text = cfg(self, "mask_value", "***");
	static const unsigned char int4_zero[4] = { 0, 0, 0, 0 };

	(void)s;
	for (int i = 0; i < row->nfields; i++) {
		const struct pgw_column *c = &row->columns->columns[i];
		if (strcmp(c->name, mask) != 0 || row->fields[i].len < 0)
			continue;
		if (c->format == 1 && c->type_oid == 23)
			host->row_set_field(row, i, int4_zero, 4);
		else if (c->format == -1)
			host->row_set_field(row, i, NULL, -1);
		else
			host->row_set_field(row, i, text, (int32_t)strlen(text));
		host->counter_add(self, counter_rows_masked, 1);
	}
}

/* "stmt=NAME idx=N params=[v1|NULL|...] sql=..." — what a result answers. */
static void describe_origin(const struct pgw_result *r, char *buf, size_t len)
{
	char params[256] = "";

	for (int i = 0; i < r->nparams; i++) {
		size_t used = strlen(params);
		if (r->params[i].len < 0)
			snprintf(params + used, sizeof(params) - used, "%sNULL", i ? "|" : "");
		else
			snprintf(params + used, sizeof(params) - used, "%s%.*s%s", i ? "|" : "",
				 (int)(r->params[i].len > 40 ? 40 : r->params[i].len), (const char *)r->params[i].data,
				 r->param_formats[i] ? "(b)" : "");
	}
	snprintf(buf, len, "stmt=%s idx=%d params=[%s] orig=%s sql=%s", r->statement_name ? r->statement_name : "-",
		 r->statement_index, params, r->original_sql ? r->original_sql : "-", r->sql ? r->sql : "-");
}

static void on_command_complete(struct pgw_plugin *self, struct pgw_session *s, const struct pgw_result *r)
{
	const char *marks = host->result_column_marks(s, 0);
	char origin[1024];

	describe_origin(r, origin, sizeof(origin));
	host->log(self, PGW_LOG_INFO, "command_complete tag=%s rows=%llu rows_sent=%llu bytes=%llu timed=%d marks0=%s %s",
		  r->command_tag, (unsigned long long)r->rows, (unsigned long long)r->rows_sent,
		  (unsigned long long)r->bytes_sent, r->duration_us > 0, marks ? marks : "-", origin);
}

static void on_error(struct pgw_plugin *self, struct pgw_session *s, const struct pgw_result *r)
{
	char origin[1024];

	(void)s;
	describe_origin(r, origin, sizeof(origin));
	host->log(self, PGW_LOG_INFO, "error severity=%s sqlstate=%s blocked_by=%s message=%s %s",
		  r->severity, r->sqlstate, r->blocked_by ? r->blocked_by : "-", r->message, origin);
}

static enum pgw_decision on_statement_decided(struct pgw_plugin *self, struct pgw_session *s,
					      struct pgw_request *req, const struct pgw_statement_outcome *o)
{
	(void)s;
	host->log(self, PGW_LOG_INFO, "decided source=%c decision=%d by=%s sqlstate=%s orig=%s sql=%s",
		  (char)o->source, (int)o->decision,
		  o->decided_by ? o->decided_by : "-", o->sqlstate ? o->sqlstate : "-", o->original_sql,
		  o->sql ? o->sql : "-");
	if (o->source == PGW_STMT_EXECUTE && strstr(o->original_sql, "pgw:deny-run")) {
		host->request_error(req, "58030", "this run vetoed");
		return PGW_BLOCK;
	}
	if (strstr(o->original_sql, "pgw:veto")) {
		host->request_error(req, "58030", "vetoed after the decision");
		return PGW_BLOCK;
	}
	if (strstr(o->original_sql, "pgw:hold"))
		return later(self, req, PGW_CONTINUE);
	return PGW_CONTINUE;
}

static int on_reload(struct pgw_plugin *self, const struct pgw_kv *config, int nconfig)
{
	for (int i = 0; i < nconfig; i++) {
		if (strcmp(config[i].key, "fail_reload") == 0) {
			host->set_error(self, "refusing reload as asked");
			return -1;
		}
	}
	host->log(self, PGW_LOG_INFO, "reload with %d keys", nconfig);
	return 0;
}

static void on_unload(struct pgw_plugin *self)
{
	host->log(self, PGW_LOG_INFO, "unload");
}

int pgwarden_plugin_init(const struct pgw_host *h, struct pgw_plugin *self,
			 const struct pgw_kv *config, int nconfig)
{
	struct pgw_hooks hooks = {
		.size = sizeof(struct pgw_hooks),
		.session_start = on_session_start,
		.session_end = on_session_end,
		.statement = on_statement,
		.reload = on_reload,
		.unload = on_unload,
	};

	host = h;
	if (h->abi_version != PGW_ABI_VERSION || h->size < sizeof(struct pgw_host))
		return -1;
	if (h->config_get(self, "fail_init")) {
		h->set_error(self, "fail_init is set");
		return -1;
	}
	h->log(self, PGW_LOG_INFO, "init with %d keys, first %s=%s", nconfig,
	       nconfig ? config[0].key : "-", nconfig ? config[0].value : "-");
	/* Only with auth = on: a client_auth hook makes every client send a cleartext password. */
	if (strcmp(cfg(self, "auth", "off"), "on") == 0)
		hooks.client_auth = on_auth;
	if (strcmp(cfg(self, "decided", "off"), "on") == 0)
		hooks.statement_decided = on_statement_decided;
	if (strcmp(cfg(self, "results", "off"), "on") == 0) {
		hooks.row_description = on_row_description;
		hooks.data_row = on_data_row;
		hooks.command_complete = on_command_complete;
		hooks.error = on_error;
	}
	counter_statements = h->counter_register(self, "statements");
	counter_rows_masked = h->counter_register(self, "rows_masked");
	if (h->config_get(self, "command") && h->command_register(self, h->config_get(self, "command"), on_command) < 0)
		return -1;
	return h->register_hooks(self, &hooks);
}
