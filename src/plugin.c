/*
 * Plugins: loading shared objects named in plugins=, and the host-services
 * table they call back into.  The hook chains themselves run in
 * plugin_hooks.c.
 */
#include "pgwarden.h"
#include "plugin_host.h"
#include "admin.h"
#include "pgwarden/version.h"

#include <ctype.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

unsigned plugin_hook_mask;

/* In config order: the order every chain runs in. */
static struct {
	struct pgw_plugin **list;
	int n;
} loaded;

int plugin_count(void)
{
	return loaded.n;
}

struct pgw_plugin *plugin_at(int i)
{
	return loaded.list[i];
}

/* ---------------- host services: the plugin itself ---------------- */

static int host_register_hooks(struct pgw_plugin *self, const struct pgw_hooks *hooks)
{
	/* A plugin built against an older header passes a smaller struct:
	 * copy what it has, the rest stays NULL. */
	if (!hooks || hooks->size < offsetof(struct pgw_hooks, client_auth) + sizeof(hooks->client_auth)) {
		snprintf(self->error, sizeof(self->error), "register_hooks: bad hooks size");
		return -1;
	}
	memset(&self->hooks, 0, sizeof(self->hooks));
	memcpy(&self->hooks, hooks, MIN(hooks->size, sizeof(self->hooks)));
	self->hooks.size = sizeof(self->hooks);
	return 0;
}

static const char *host_plugin_name(const struct pgw_plugin *self)
{
	return self->name;
}

static const char *host_config_get(const struct pgw_plugin *self, const char *key)
{
	for (int i = 0; key && i < self->nconfig; i++) {
		if (strcmp(self->config[i].key, key) == 0)
			return self->config[i].value;
	}
	return NULL;
}

static void host_set_error(struct pgw_plugin *self, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(self->error, sizeof(self->error), fmt, ap);
	va_end(ap);
}

static const enum log_level log_levels[] = {
	[PGW_LOG_ERROR] = LOG_LVL_ERROR,
	[PGW_LOG_WARNING] = LOG_LVL_WARNING,
	[PGW_LOG_INFO] = LOG_LVL_LOG,
	[PGW_LOG_DEBUG] = LOG_LVL_DEBUG,
};

static void host_log(struct pgw_plugin *self, enum pgw_log_level level, const char *fmt, ...)
{
	enum log_level lvl = level >= PGW_LOG_ERROR && level <= PGW_LOG_DEBUG ? log_levels[level] : LOG_LVL_LOG;
	char prefix[96];
	va_list ap;

	if (!log_enabled(lvl))
		return;
	snprintf(prefix, sizeof(prefix), "plugin %s: ", self->name);
	va_start(ap, fmt);
	log_generic_v(lvl, prefix, fmt, ap);
	va_end(ap);
}

static void host_set_private(struct pgw_plugin *self, void *data)
{
	self->priv = data;
}

static void *host_get_private(const struct pgw_plugin *self)
{
	return self->priv;
}

/* ---------------- host services: sessions ---------------- */

static const char *host_session_server_user(const struct pgw_session *s)
{
	const struct pgpool *pool = s->client->pool;

	if (!pool)
		return s->client->user_name;
	/* as pool.c picks it for the pool's servers */
	return pool->db->forced_user ? pool->db->forced_user->name : pool->user->name;
}

static const char *host_session_server_database(const struct pgw_session *s)
{
	const struct pgsocket *c = s->client;
	return c->pool ? c->pool->db->dbname : c->db_name;
}

static uint64_t host_session_id(const struct pgw_session *s)
{
	return s->client->id;
}

static const char *host_session_user(const struct pgw_session *s)
{
	return s->client->user_name;
}

static const char *host_session_database(const struct pgw_session *s)
{
	return s->client->db_name;
}

static const char *host_session_transport(const struct pgw_session *s)
{
	return s->client->is_unix ? "unix" : s->client->sbuf.tls ? "tls" : "tcp";
}

static const char *host_session_client_addr(const struct pgw_session *s)
{
	return s->client_addr;
}

static const char *host_session_application_name(const struct pgw_session *s)
{
	return varcache_get(&s->client->vars, VAR_APPNAME);
}

static void *host_session_get_data(const struct pgw_session *s, const struct pgw_plugin *self)
{
	return s->data[self->index];
}

static void host_session_set_data(struct pgw_session *s, const struct pgw_plugin *self, void *data)
{
	s->data[self->index] = data;
}

/* ---------------- host services: identity ---------------- */

static void replace_owned(char **dst, const char *value)
{
	char *copy = xstrdup_opt(value);
	free(*dst);
	*dst = copy;
}

static void host_identity_set(struct pgw_session *s, const char *subject, const char *issuer, int64_t expires_at)
{
	replace_owned(&s->id.subject, subject);
	replace_owned(&s->id.issuer, issuer);
	s->id.expires_at = expires_at;
}

static const char *host_identity_subject(const struct pgw_session *s)
{
	return s->id.subject;
}

static const char *host_identity_issuer(const struct pgw_session *s)
{
	return s->id.issuer;
}

static int64_t host_identity_expires_at(const struct pgw_session *s)
{
	return s->id.expires_at;
}

static void host_identity_add_group(struct pgw_session *s, const char *group)
{
	if (!group)
		return;
	s->id.groups = xrealloc(s->id.groups, (size_t)(s->id.ngroups + 1) * sizeof(*s->id.groups));
	s->id.groups[s->id.ngroups++] = xstrdup(group);
}

static int host_identity_group_count(const struct pgw_session *s)
{
	return s->id.ngroups;
}

static const char *host_identity_group(const struct pgw_session *s, int i)
{
	return i >= 0 && i < s->id.ngroups ? s->id.groups[i] : NULL;
}

static struct identity_kv *identity_find(const struct identity *id, const char *key)
{
	for (int i = 0; key && i < id->nkv; i++) {
		if (strcmp(id->kv[i].key, key) == 0)
			return &id->kv[i];
	}
	return NULL;
}

static void host_identity_put(struct pgw_session *s, const char *key, const char *value)
{
	struct identity_kv *kv = identity_find(&s->id, key);

	if (!key || !value)
		return;
	if (!kv) {
		s->id.kv = xrealloc(s->id.kv, (size_t)(s->id.nkv + 1) * sizeof(*s->id.kv));
		kv = &s->id.kv[s->id.nkv++];
		kv->key = xstrdup(key);
		kv->value = NULL;
	}
	replace_owned(&kv->value, value);
}

static const char *host_identity_get(const struct pgw_session *s, const char *key)
{
	const struct identity_kv *kv = identity_find(&s->id, key);
	return kv ? kv->value : NULL;
}

void identity_clear(struct identity *id)
{
	free(id->subject);
	free(id->issuer);
	for (int i = 0; i < id->ngroups; i++)
		free(id->groups[i]);
	free(id->groups);
	for (int i = 0; i < id->nkv; i++) {
		free(id->kv[i].key);
		free(id->kv[i].value);
	}
	free(id->kv);
	memset(id, 0, sizeof(*id));
}

/* ---------------- host services: requests ---------------- */

static struct pgw_session *host_request_session(const struct pgw_request *req)
{
	return req->session;
}

static void host_request_rewrite(struct pgw_request *req, const char *sql)
{
	replace_owned(&req->rewrite, sql);
}

static bool valid_sqlstate(const char *s)
{
	if (!s || strlen(s) != 5)
		return false;
	for (; *s; s++) {
		if (!((*s >= '0' && *s <= '9') || (*s >= 'A' && *s <= 'Z')))
			return false;
	}
	return true;
}

static void host_request_error(struct pgw_request *req, const char *sqlstate, const char *message)
{
	/* statement_decided hooks answer in their own fields: they must not
	 * overwrite the chain's answer unless they veto. */
	char *state = req->observing ? req->veto_sqlstate : req->sqlstate;

	/* A malformed SQLSTATE would confuse clients: use the hook's default. */
	if (valid_sqlstate(sqlstate))
		strlcpy_safe(state, sqlstate, sizeof(req->sqlstate));
	replace_owned(req->observing ? &req->veto_message : &req->message, message);
}

static void host_request_note(struct pgw_request *req, const char *note)
{
	replace_owned(&req->note, note);
}

static void host_request_map_login(struct pgw_request *req, const char *server_user, const char *database)
{
	replace_owned(&req->map_user, server_user);
	replace_owned(&req->map_db, database);
}

/* ---------------- host services: timers ---------------- */

struct pgw_timer {
	struct event ev;
	void (*cb)(void *arg);
	void *arg;
};

static void timer_fired(evutil_socket_t fd UNUSED, short what UNUSED, void *arg)
{
	struct pgw_timer *t = arg;
	void (*cb)(void *) = t->cb;
	void *cb_arg = t->arg;

	/* Freed first: the callback may start new timers, never touch this one. */
	free(t);
	cb(cb_arg);
}

static struct pgw_timer *host_timer_start(struct pgw_plugin *self UNUSED, uint64_t after_ms,
					  void (*cb)(void *arg), void *arg)
{
	struct pgw_timer *t = xcalloc(1, sizeof(*t));
	struct timeval tv = { .tv_sec = (time_t)(after_ms / 1000), .tv_usec = (suseconds_t)(after_ms % 1000) * 1000 };

	t->cb = cb;
	t->arg = arg;
	evtimer_assign(&t->ev, pooler.base, timer_fired, t);
	evtimer_add(&t->ev, &tv);
	return t;
}

static void host_timer_cancel(struct pgw_timer *t)
{
	if (!t)
		return;
	evtimer_del(&t->ev);
	free(t);
}

/* ---------------- host services: results, workers, counters ---------------- */

static void host_result_mark_column(struct pgw_session *s, struct pgw_plugin *self, int i, const char *note)
{
	plugin_result_mark_column(s, self, i, note);
}

static int host_counter_register(struct pgw_plugin *self, const char *name)
{
	if (!name || !name[0])
		return -1;
	self->counters = xrealloc(self->counters, (size_t)(self->ncounters + 1) * sizeof(*self->counters));
	self->counters[self->ncounters] = (struct plugin_counter){ .name = xstrdup(name) };
	return self->ncounters++;
}

static void host_counter_add(struct pgw_plugin *self, int id, int64_t delta)
{
	if (id >= 0 && id < self->ncounters)
		self->counters[id].value += delta;
}

/* ---------------- host services: SHOW commands ---------------- */

static struct {
	struct plugin_show *list;
	int n;
} shows;

const struct plugin_show *plugin_find_show(const char *name)
{
	for (int i = 0; i < shows.n; i++) {
		if (strcasecmp(shows.list[i].name, name) == 0)
			return &shows.list[i];
	}
	return NULL;
}

static int host_show_register(struct pgw_plugin *self, const char *name, const char *const *columns, int ncolumns,
			      void (*fill)(struct pgw_plugin *, struct pgw_show *))
{
	if (!name || !name[0] || !fill || ncolumns <= 0 || ncolumns > 64 || admin_show_exists(name) ||
	    plugin_find_show(name)) {
		snprintf(self->error, sizeof(self->error), "show_register: SHOW %s is taken or invalid", name ? name : "");
		return -1;
	}
	shows.list = xrealloc(shows.list, (size_t)(shows.n + 1) * sizeof(*shows.list));
	struct plugin_show *ps = &shows.list[shows.n++];
	ps->plugin = self;
	ps->name = xstrdup(name);
	ps->fill = fill;
	ps->ncolumns = ncolumns;
	ps->columns = xcalloc((size_t)ncolumns, sizeof(*ps->columns));
	for (int i = 0; i < ncolumns; i++)
		ps->columns[i] = xstrdup(columns[i] ? columns[i] : "?");
	return 0;
}

/* ---------------- host services: console commands ---------------- */

static struct {
	struct plugin_command *list;
	int n;
} commands;

const struct plugin_command *plugin_find_command(const char *verb)
{
	for (int i = 0; i < commands.n; i++) {
		if (strcasecmp(commands.list[i].verb, verb) == 0)
			return &commands.list[i];
	}
	return NULL;
}

static bool is_verb(const char *s)
{
	if (!s || !s[0] || strlen(s) > 32)
		return false;
	for (; *s; s++) {
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	}
	return true;
}

static int host_command_register(struct pgw_plugin *self, const char *verb,
				 void (*run)(struct pgw_plugin *, struct pgw_command *, const char *))
{
	if (!is_verb(verb) || !run || admin_command_exists(verb) || plugin_find_command(verb)) {
		snprintf(self->error, sizeof(self->error), "command_register: %s is taken or invalid",
			 verb ? verb : "");
		return -1;
	}
	commands.list = xrealloc(commands.list, (size_t)(commands.n + 1) * sizeof(*commands.list));
	commands.list[commands.n++] = (struct plugin_command){ .plugin = self, .verb = xstrdup(verb), .run = run };
	return 0;
}

static void forget_commands_of(struct pgw_plugin *p)
{
	int kept = 0;

	for (int i = 0; i < commands.n; i++) {
		if (commands.list[i].plugin == p)
			free(commands.list[i].verb);
		else
			commands.list[kept++] = commands.list[i];
	}
	commands.n = kept;
	if (!kept) {
		free(commands.list);
		commands.list = NULL;
	}
}

/* A plugin's SHOW commands go with it. */
static void forget_shows_of(struct pgw_plugin *p)
{
	int kept = 0;

	for (int i = 0; i < shows.n; i++) {
		struct plugin_show *ps = &shows.list[i];
		if (ps->plugin != p) {
			shows.list[kept++] = *ps;
			continue;
		}
		for (int k = 0; k < ps->ncolumns; k++)
			free(ps->columns[k]);
		free(ps->columns);
		free(ps->name);
	}
	shows.n = kept;
	if (!kept) {
		free(shows.list);
		shows.list = NULL;
	}
}

static const struct pgw_host host = {
	.size = sizeof(struct pgw_host),
	.abi_version = PGW_ABI_VERSION,
	.version = PGWARDEN_VERSION_STRING,
	.register_hooks = host_register_hooks,
	.plugin_name = host_plugin_name,
	.config_get = host_config_get,
	.set_error = host_set_error,
	.log = host_log,
	.set_private = host_set_private,
	.get_private = host_get_private,
	.session_id = host_session_id,
	.session_user = host_session_user,
	.session_database = host_session_database,
	.session_client_addr = host_session_client_addr,
	.session_application_name = host_session_application_name,
	.session_get_data = host_session_get_data,
	.session_set_data = host_session_set_data,
	.identity_set = host_identity_set,
	.identity_subject = host_identity_subject,
	.identity_issuer = host_identity_issuer,
	.identity_expires_at = host_identity_expires_at,
	.identity_add_group = host_identity_add_group,
	.identity_group_count = host_identity_group_count,
	.identity_group = host_identity_group,
	.identity_put = host_identity_put,
	.identity_get = host_identity_get,
	.request_session = host_request_session,
	.request_rewrite = host_request_rewrite,
	.request_error = host_request_error,
	.request_note = host_request_note,
	.request_map_login = host_request_map_login,
	.request_complete = plugin_request_complete,
	.timer_start = host_timer_start,
	.timer_cancel = host_timer_cancel,
	.row_set_field = plugin_row_set_field,
	.result_mark_column = host_result_mark_column,
	.result_column_marks = plugin_result_column_marks,
	.worker_submit = plugin_worker_submit,
	.session_server_user = host_session_server_user,
	.session_server_database = host_session_server_database,
	.counter_register = host_counter_register,
	.counter_add = host_counter_add,
	.result_hold = plugin_result_hold,
	.result_release = plugin_result_release,
	.call_on_loop = plugin_call_on_loop,
	.show_register = host_show_register,
	.show_row = plugin_show_row,
	.command_register = host_command_register,
	.command_user = plugin_command_user,
	.command_done = plugin_command_done,
	.command_error = plugin_command_error,
	.session_transport = host_session_transport,
	.session_close = plugin_session_close,
	.server_query = plugin_server_query,
	.exiting = plugin_workers_exiting,
};

/* ---------------- loading ---------------- */

static void free_kv(struct pgw_kv *kv, int n)
{
	for (int i = 0; i < n; i++) {
		free((char *)kv[i].key);
		free((char *)kv[i].value);
	}
	free(kv);
}

static struct pgw_kv *copy_kv(const struct plugin_def *def)
{
	struct pgw_kv *kv = xcalloc((size_t)def->n_kv + 1, sizeof(*kv));

	for (int i = 0; i < def->n_kv; i++) {
		kv[i].key = xstrdup(def->kv[i].key);
		kv[i].value = xstrdup(def->kv[i].value);
	}
	return kv;
}

static void free_plugin(struct pgw_plugin *p)
{
	forget_shows_of(p);
	forget_commands_of(p);
	if (p->dl)
		dlclose(p->dl);
	free_kv(p->config, p->nconfig);
	for (int i = 0; i < p->ncounters; i++)
		free(p->counters[i].name);
	free(p->counters);
	free(p->name);
	free(p->path);
	free(p);
}

static bool PRINTF_LIKE(4, 5) load_failed(struct pgw_plugin *p, char *errbuf, size_t errlen, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(errbuf, errlen, "plugin \"%s\" (%s): %s", p->name, p->path, why);
	free_plugin(p);
	return false;
}

static bool load_one(const struct plugin_def *def, int index, char *errbuf, size_t errlen)
{
	struct pgw_plugin *p = xcalloc(1, sizeof(*p));
	pgw_plugin_init_fn init;

	p->index = index;
	p->name = xstrdup(def->name);
	p->path = xstrdup(config_plugin_value(def, "path"));
	p->config = copy_kv(def);
	p->nconfig = def->n_kv;
	/* RTLD_LOCAL: plugins do not see each other's symbols; RTLD_NOW: a
	 * missing symbol fails here, at startup, not in the middle of a query. */
	p->dl = dlopen(p->path, RTLD_NOW | RTLD_LOCAL);
	if (!p->dl)
		return load_failed(p, errbuf, errlen, "cannot load: %s", dlerror());
	const int *abi = dlsym(p->dl, PGW_PLUGIN_ABI_SYMBOL);
	if (!abi)
		return load_failed(p, errbuf, errlen, "no %s symbol (missing PGW_PLUGIN_DECLARE())",
				   PGW_PLUGIN_ABI_SYMBOL);
	if (*abi != PGW_ABI_VERSION)
		return load_failed(p, errbuf, errlen, "built for plugin ABI version %d, this pgwarden has %d",
				   *abi, PGW_ABI_VERSION);
	*(void **)&init = dlsym(p->dl, PGW_PLUGIN_INIT_SYMBOL);
	if (!init)
		return load_failed(p, errbuf, errlen, "no %s symbol", PGW_PLUGIN_INIT_SYMBOL);
	/* Added before init so that init's failure path is the common one. */
	loaded.list[loaded.n++] = p;
	if (init(&host, p, p->config, p->nconfig) != 0) {
		loaded.n--;
		return load_failed(p, errbuf, errlen, "initialisation failed: %s",
				   p->error[0] ? p->error : "(no message)");
	}
	return true;
}

static void update_hook_mask(void)
{
	unsigned mask = 0;

	for (int i = 0; i < loaded.n; i++) {
		const struct pgw_hooks *h = &loaded.list[i]->hooks;
		if (h->client_auth)
			mask |= PLUGIN_HOOK_AUTH;
		if (h->session_start || h->session_end)
			mask |= PLUGIN_HOOK_SESSION;
		if (h->statement || h->statement_decided)
			mask |= PLUGIN_HOOK_STATEMENT;
		if (h->statement_decided)
			mask |= PLUGIN_HOOK_DECIDED;
		if (h->row_description || h->data_row || h->command_complete || h->error)
			mask |= PLUGIN_HOOK_RESULT;
	}
	plugin_hook_mask = mask;
}

bool plugins_load(const struct config *conf, char *errbuf, size_t errlen)
{
	char name[80];
	const char *p = conf->plugins;
	int max = 0;

	while ((p = config_list_next(p, name, sizeof(name))) != NULL)
		max++;
	if (!max)
		return true;
	/* Shutdowns unload the plugins before exit() (main.c exit_now): atexit
	 * order is not enough, as OpenSSL frees itself from an atexit handler
	 * that may run first.  This one catches the rest (die()). */
	atexit(plugins_unload_all);
	if (!plugin_workers_init()) {
		snprintf(errbuf, errlen, "plugins: cannot set up the plugin worker queue");
		return false;
	}
	loaded.list = xcalloc((size_t)max, sizeof(*loaded.list));
	for (p = conf->plugins; (p = config_list_next(p, name, sizeof(name))) != NULL;) {
		/* config_load checked that the section and its path exist. */
		if (!load_one(config_find_plugin(conf, name), loaded.n, errbuf, errlen)) {
			plugins_unload_all();
			return false;
		}
		log_info("plugin %s loaded from %s", name, loaded.list[loaded.n - 1]->path);
	}
	update_hook_mask();
	return true;
}

void plugins_unload_all(void)
{
	plugin_workers_shutdown();
	plugin_hook_mask = 0;
	while (loaded.n > 0) {
		struct pgw_plugin *p = loaded.list[--loaded.n];
		if (p->hooks.unload)
			p->hooks.unload(p);
		free_plugin(p);
	}
	free(loaded.list);
	loaded.list = NULL;
}

/* Plugins are not added or removed by a reload (plugins= needs a restart);
 * each one is handed its section's new keys. */
void plugins_reload(const struct config *conf)
{
	for (int i = 0; i < loaded.n; i++) {
		struct pgw_plugin *p = loaded.list[i];
		const struct plugin_def *def = config_find_plugin(conf, p->name);

		if (!def || !p->hooks.reload)
			continue;
		struct pgw_kv *kv = copy_kv(def);
		p->error[0] = '\0';
		if (p->hooks.reload(p, kv, def->n_kv) != 0) {
			p->errors++;
			log_error("plugin %s: reload failed, keeping its old configuration: %s", p->name,
				  p->error[0] ? p->error : "(no message)");
			free_kv(kv, def->n_kv);
			continue;
		}
		free_kv(p->config, p->nconfig);
		p->config = kv;
		p->nconfig = def->n_kv;
	}
}
