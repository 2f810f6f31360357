/*
 * example: a statement allow-list / deny-list, the smallest useful pgwarden
 * plugin.  It shows the parts every plugin has: the ABI declaration, init
 * reading [plugin.NAME] keys into private data, hooks, reload and unload.
 *
 *   [pgbouncer]
 *   plugins = guard
 *
 *   [plugin.guard]
 *   path = /usr/lib/pgwarden/example.so
 *   deny = DROP, TRUNCATE, ALTER SYSTEM   ; statements starting so are blocked
 *   allow = SELECT, SHOW, BEGIN, COMMIT   ; if set: only these are let through
 *   sqlstate = 42501                      ; what a blocked client gets
 *
 * Prefixes are compared case-insensitively after leading blanks; entries are
 * separated by commas.  The deny list wins over the allow list.  A statement
 * neither list mentions goes on (CONTINUE) unless an allow list exists.
 *
 * Build out of tree:  cc -shared -fPIC $(pkg-config --cflags pgwarden) example.c -o example.so
 */
#include <pgwarden/plugin.h>

#include <ctype.h>
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
	unsigned long statements, blocked;
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
	if (allow)
		g->allow = parse_list(allow, &g->nallow);
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

	g->statements++;
	if (!hit && g->allow && !matching_prefix(g->allow, g->nallow, st->sql))
		hit = "(not in the allow list)";
	if (!hit)
		return g->allow ? PGW_ALLOW : PGW_CONTINUE;
	g->blocked++;
	snprintf(msg, sizeof(msg), "statement not allowed by %s: %s", host->plugin_name(self), hit);
	host->log(self, PGW_LOG_INFO, "session %llu (%s): blocked: %.200s",
		  (unsigned long long)host->session_id(s), host->session_user(s), st->sql);
	host->request_error(req, g->sqlstate, msg);
	return PGW_BLOCK;
}

/* RELOAD: swap in the new lists only if they parse. */
static int on_reload(struct pgw_plugin *self, const struct pgw_kv *config, int n)
{
	struct guard *old = host->get_private(self);
	struct guard *g = guard_parse(self, config, n);

	if (!g)
		return -1;
	g->statements = old->statements;
	g->blocked = old->blocked;
	host->set_private(self, g);
	guard_free(old);
	return 0;
}

static void on_unload(struct pgw_plugin *self)
{
	struct guard *g = host->get_private(self);

	host->log(self, PGW_LOG_INFO, "%lu statements seen, %lu blocked", g->statements, g->blocked);
	guard_free(g);
}

int pgwarden_plugin_init(const struct pgw_host *h, struct pgw_plugin *self,
			 const struct pgw_kv *config, int nconfig)
{
	static const struct pgw_hooks hooks = {
		.size = sizeof(struct pgw_hooks),
		.statement = on_statement,
		.reload = on_reload,
		.unload = on_unload,
	};
	struct guard *g;

	host = h;
	g = guard_parse(self, config, nconfig);
	if (!g)
		return -1;
	host->set_private(self, g);
	if (host->register_hooks(self, &hooks) != 0) {
		guard_free(g);
		return -1;
	}
	host->log(self, PGW_LOG_INFO, "%d deny and %d allow prefixes", g->ndeny, g->nallow);
	return 0;
}
