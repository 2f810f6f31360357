/*
 * example: a statement allow-list / deny-list with column hiding and
 * slow-statement logging — a small pgwarden plugin that uses every hook.
 * It shows the parts every plugin has: the ABI declaration, init reading
 * [plugin.NAME] keys into private data, hooks, counters, reload and unload.
 *
 *   [pgbouncer]
 *   plugins = guard
 *
 *   [plugin.guard]
 *   path = /usr/lib/pgwarden/example.so
 *   deny = DROP, TRUNCATE, ALTER SYSTEM   ; statements starting so are blocked
 *   allow = SELECT, SHOW, BEGIN, COMMIT   ; if set: only these are let through
 *   sqlstate = 42501                      ; what a blocked client gets
 *   hide_columns = password, api_key      ; result columns sent as NULL
 *   log_slow_ms = 500                     ; log statements slower than this
 *   require_application_name = on         ; refuse logins without one
 *
 * Prefixes are compared case-insensitively after leading blanks; entries are
 * separated by commas.  The deny list wins over the allow list.  A statement
 * neither list mentions goes on (CONTINUE) unless an allow list exists.
 * Column names are matched exactly, whatever table they come from: this is
 * a demonstration of the hooks, not a redaction policy (see plugins/redact).
 *
 * require_application_name registers client_auth, which makes pgwarden ask
 * every client for a cleartext password; the plugin then answers CONTINUE,
 * so the core's auth_type still checks that password.
 *
 * Build out of tree:  cc -shared -fPIC $(pkg-config --cflags pgwarden) example.c -o example.so
 */
#include <pgwarden/plugin.h>

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

PGW_PLUGIN_DECLARE();

static const struct pgw_host *host;

/* Parsed configuration and counters of one loaded instance. */
struct guard {
	char **deny;
	int ndeny;
	char **allow;		/* NULL: no allow list */
	int nallow;
	char sqlstate[6];
	char **hide;			/* hide_columns */
	int nhide;
	long log_slow_ms;		/* <= 0: off */
	int require_appname;
};

/* SHOW PLUGIN_COUNTERS ids, registered at init. */
static int c_statements = -1, c_blocked = -1, c_hidden = -1, c_errors = -1;

/* Per session: which columns of the current result to hide. */
struct session_state {
	unsigned char *hide;		/* one flag per column */
	int ncols;
};

static void free_list(char **list, int n)
{
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

static void guard_free(struct guard *g)
{
	if (!g)
		return;
	free_list(g->deny, g->ndeny);
	free_list(g->allow, g->nallow);
	free_list(g->hide, g->nhide);
	free(g);
}

static char *trimmed_copy(const char *start, size_t len)
{
	while (len && isspace((unsigned char)*start)) {
		start++;
		len--;
	}
	while (len && isspace((unsigned char)start[len - 1]))
		len--;
	return len ? strndup(start, len) : NULL;
}

/* "a, b ,c" -> {"a", "b", "c"} */
static char **parse_list(const char *text, int *n)
{
	char **list = NULL;

	*n = 0;
	while (text && *text) {
		const char *comma = strchr(text, ',');
		size_t len = comma ? (size_t)(comma - text) : strlen(text);
		char *item = trimmed_copy(text, len);

		if (item) {
			list = realloc(list, (size_t)(*n + 1) * sizeof(*list));
			list[(*n)++] = item;
		}
		text = comma ? comma + 1 : NULL;
	}
	return list;
}

static const char *kv_get(const struct pgw_kv *config, int n, const char *key)
{
	for (int i = 0; i < n; i++) {
		if (strcmp(config[i].key, key) == 0)
			return config[i].value;
	}
	return NULL;
}

/* NULL after host->set_error() when the config is not usable. */
static struct guard *guard_parse(struct pgw_plugin *self, const struct pgw_kv *config, int n)
{
	struct guard *g = calloc(1, sizeof(*g));
	const char *sqlstate = kv_get(config, n, "sqlstate");
	const char *allow = kv_get(config, n, "allow");

	g->deny = parse_list(kv_get(config, n, "deny"), &g->ndeny);
	const char *slow = kv_get(config, n, "log_slow_ms");
	const char *appname = kv_get(config, n, "require_application_name");

	if (allow)
		g->allow = parse_list(allow, &g->nallow);
	g->hide = parse_list(kv_get(config, n, "hide_columns"), &g->nhide);
	g->log_slow_ms = slow ? strtol(slow, NULL, 10) : 0;
	g->require_appname = appname && (strcasecmp(appname, "on") == 0 || strcmp(appname, "1") == 0);
	if (sqlstate && strlen(sqlstate) != 5) {
		host->set_error(self, "sqlstate must have 5 characters, not \"%s\"", sqlstate);
		guard_free(g);
		return NULL;
	}
	snprintf(g->sqlstate, sizeof(g->sqlstate), "%s", sqlstate ? sqlstate : "42501");
	return g;
}

static const char *matching_prefix(char **list, int n, const char *sql)
{
	while (isspace((unsigned char)*sql))
		sql++;
	for (int i = 0; i < n; i++) {
		if (strncasecmp(sql, list[i], strlen(list[i])) == 0)
			return list[i];
	}
	return NULL;
}

/* Runs on the event loop for every Query and Parse; must not block. */
static enum pgw_decision on_statement(struct pgw_plugin *self, struct pgw_session *s,
				      struct pgw_request *req, const struct pgw_statement *st)
{
	struct guard *g = host->get_private(self);
	const char *hit = matching_prefix(g->deny, g->ndeny, st->sql);
	char msg[160];

	host->counter_add(self, c_statements, 1);
	if (!hit && g->allow && !matching_prefix(g->allow, g->nallow, st->sql))
		hit = "(not in the allow list)";
	if (!hit)
		return g->allow ? PGW_ALLOW : PGW_CONTINUE;
	host->counter_add(self, c_blocked, 1);
	snprintf(msg, sizeof(msg), "statement not allowed by %s: %s", host->plugin_name(self), hit);
	host->log(self, PGW_LOG_INFO, "session %llu (%s): blocked: %.200s",
		  (unsigned long long)host->session_id(s), host->session_user(s), st->sql);
	host->request_error(req, g->sqlstate, msg);
	return PGW_BLOCK;
}

/* A login: runs before the core's auth; CONTINUE lets the core decide. */
static enum pgw_decision on_client_auth(struct pgw_plugin *self, struct pgw_session *s,
					struct pgw_request *req, const struct pgw_auth_info *info)
{
	struct guard *g = host->get_private(self);

	(void)s;
	if (!g->require_appname)
		return PGW_CONTINUE;
	for (int i = 0; i < info->nparams; i++) {
		if (strcmp(info->params[i].key, "application_name") == 0 && info->params[i].value[0])
			return PGW_CONTINUE;
	}
	host->request_error(req, "28000", "application_name is required");
	return PGW_REJECT;
}

static void on_session_start(struct pgw_plugin *self, struct pgw_session *s)
{
	host->session_set_data(s, self, calloc(1, sizeof(struct session_state)));
}

static void on_session_end(struct pgw_plugin *self, struct pgw_session *s, const char *reason)
{
	struct session_state *st = host->session_get_data(s, self);

	(void)reason;
	if (st)
		free(st->hide);
	free(st);
}

static bool is_hidden(const struct guard *g, const char *name)
{
	for (int i = 0; i < g->nhide; i++) {
		if (strcmp(g->hide[i], name) == 0)
			return true;
	}
	return false;
}

/* A result starts: want its rows only if one of its columns is hidden. */
static int on_row_description(struct pgw_plugin *self, struct pgw_session *s,
			      const struct pgw_result_columns *rc)
{
	struct guard *g = host->get_private(self);
	struct session_state *st = host->session_get_data(s, self);
	int any = 0;

	if (!st || !g->nhide)
		return 0;
	free(st->hide);
	st->hide = calloc((size_t)rc->ncolumns + 1, 1);
	st->ncols = rc->ncolumns;
	for (int i = 0; i < rc->ncolumns; i++) {
		if (is_hidden(g, rc->columns[i].name)) {
			st->hide[i] = 1;
			host->result_mark_column(s, self, i, "hidden");
			any = 1;
		}
	}
	return any;
}

/* NULL is valid in text and binary format alike. */
static void on_data_row(struct pgw_plugin *self, struct pgw_session *s, struct pgw_row *row)
{
	struct session_state *st = host->session_get_data(s, self);

	for (int i = 0; i < row->nfields && i < st->ncols; i++) {
		if (st->hide[i] && row->fields[i].len >= 0) {
			host->row_set_field(row, i, NULL, -1);
			host->counter_add(self, c_hidden, 1);
		}
	}
}

static void on_command_complete(struct pgw_plugin *self, struct pgw_session *s, const struct pgw_result *r)
{
	struct guard *g = host->get_private(self);

	if (g->log_slow_ms > 0 && r->duration_us >= (uint64_t)g->log_slow_ms * 1000)
		host->log(self, PGW_LOG_INFO, "session %llu: slow statement (%llu ms): %s, %llu rows sent",
			  (unsigned long long)host->session_id(s), (unsigned long long)(r->duration_us / 1000),
			  r->command_tag, (unsigned long long)r->rows_sent);
}

static void on_error(struct pgw_plugin *self, struct pgw_session *s, const struct pgw_result *r)
{
	(void)s;
	(void)r;
	host->counter_add(self, c_errors, 1);
}

/* RELOAD: swap in the new lists only if they parse. */
static int on_reload(struct pgw_plugin *self, const struct pgw_kv *config, int n)
{
	struct guard *old = host->get_private(self);
	struct guard *g = guard_parse(self, config, n);

	if (!g)
		return -1;
	host->set_private(self, g);
	guard_free(old);
	return 0;
}

static void on_unload(struct pgw_plugin *self)
{
	guard_free(host->get_private(self));
}

int pgwarden_plugin_init(const struct pgw_host *h, struct pgw_plugin *self,
			 const struct pgw_kv *config, int nconfig)
{
	struct pgw_hooks hooks = {
		.size = sizeof(struct pgw_hooks),
		.session_start = on_session_start,
		.session_end = on_session_end,
		.statement = on_statement,
		.row_description = on_row_description,
		.data_row = on_data_row,
		.command_complete = on_command_complete,
		.error = on_error,
		.reload = on_reload,
		.unload = on_unload,
	};
	struct guard *g;

	host = h;
	g = guard_parse(self, config, nconfig);
	if (!g)
		return -1;
	host->set_private(self, g);
	/* Only when asked: a client_auth hook changes every client's login. */
	if (g->require_appname)
		hooks.client_auth = on_client_auth;
	c_statements = host->counter_register(self, "statements");
	c_blocked = host->counter_register(self, "blocked");
	c_hidden = host->counter_register(self, "hidden_values");
	c_errors = host->counter_register(self, "errors");
	if (host->register_hooks(self, &hooks) != 0) {
		guard_free(g);
		return -1;
	}
	host->log(self, PGW_LOG_INFO, "%d deny and %d allow prefixes", g->ndeny, g->nallow);
	return 0;
}
