/*
 * Lifecycle of the pooler's objects: databases, users, pools, sockets.
 * Sockets move between the lists of their pool as their state changes; a
 * closed socket goes to the justfree list and is freed once the current
 * event callback has returned, so nothing up the stack points at freed memory.
 */
#include "pgwarden.h"

#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <openssl/rand.h>
#include <sys/random.h>

struct pooler pooler;

static void schedule_reap(void);

/* ---------------- logging with PgBouncer's socket prefix ---------------- */

static void format_addr(const struct sockaddr_storage *ss, bool is_unix, int peer_pid, char *buf, size_t len)
{
	const struct sockaddr *sa = (const struct sockaddr *)ss;
	char host[INET6_ADDRSTRLEN];

	if (is_unix || ss->ss_family == AF_UNIX)
		snprintf(buf, len, "unix(%d)", peer_pid);
	else if (ss->ss_family == AF_INET)
		snprintf(buf, len, "%s:%d", sockaddr_ip(sa, host, sizeof(host)), sockaddr_port(sa));
	else if (ss->ss_family == AF_INET6)
		snprintf(buf, len, "[%s]:%d", sockaddr_ip(sa, host, sizeof(host)), sockaddr_port(sa));
	else
		snprintf(buf, len, "(noaddr)");
}

void socket_addr_text(const struct pgsocket *sk, char *buf, size_t len)
{
	format_addr(&sk->remote_addr, sk->is_unix, sk->peer_pid, buf, len);
}

void socket_prefix(const struct pgsocket *sk, char *buf, size_t len)
{
	char addr[80];
	const char *db = sk->db ? sk->db->name : (sk->db_name[0] ? sk->db_name : "(nodb)");
	const char *user = sk->login_user ? sk->login_user->name : (sk->user_name[0] ? sk->user_name : "(nouser)");

	socket_addr_text(sk, addr, sizeof(addr));
	snprintf(buf, len, "%c-%p: %s/%s@%s ", sk->is_server ? 'S' : 'C', (const void *)sk, db, user, addr);
}

void slog(enum log_level lvl, const struct pgsocket *sk, const char *fmt, ...)
{
	char prefix[400];
	va_list ap;

	if (!log_enabled(lvl))
		return;
	socket_prefix(sk, prefix, sizeof(prefix));
	va_start(ap, fmt);
	log_generic_v(lvl, prefix, fmt, ap);
	va_end(ap);
}

/* ---------------- databases and users ---------------- */

struct pgdatabase *find_database(const char *name)
{
	struct list_node *n;
	list_for_each(n, &pooler.databases) {
		struct pgdatabase *db = container_of(n, struct pgdatabase, node);
		if (strcmp(db->name, name) == 0)
			return db;
	}
	return NULL;
}

/* Any user object of that name, even one removed from auth_file. */
static struct pguser *find_user_any(const char *name)
{
	struct list_node *n;
	list_for_each(n, &pooler.users) {
		struct pguser *u = container_of(n, struct pguser, node);
		if (!u->forced && strcmp(u->name, name) == 0)
			return u;
	}
	return NULL;
}

/* A user who may log in now. */
struct pguser *find_user(const char *name)
{
	struct pguser *u = find_user_any(name);
	return u && !u->removed ? u : NULL;
}

static struct pguser *new_user(const char *name, const char *secret, bool forced)
{
	struct pguser *u = xcalloc(1, sizeof(*u));
	strlcpy_safe(u->name, name, sizeof(u->name));
	u->secret = xstrdup(secret ? secret : "");
	u->pool_mode = POOL_INHERIT;
	u->max_user_connections = -1;
	u->max_user_client_connections = -1;
	u->pool_size = -1;
	u->reserve_pool_size = -1;
	u->forced = forced;
	list_append(&pooler.users, &u->node);
	return u;
}

struct pguser *add_user(const char *name, const char *secret)
{
	struct pguser *u = find_user_any(name);
	if (u) {
		u->removed = false;
		if (secret && strcmp(u->secret, secret) != 0) {
			free(u->secret);
			u->secret = xstrdup(secret);
			u->has_scram_keys = false;
		}
		return u;
	}
	return new_user(name, secret, false);
}

static void apply_user_def(struct pguser *u);

struct pguser *own_user(struct pgdatabase *db, const char *name, bool queried)
{
	struct list_node *n;
	list_for_each(n, &db->own_users) {
		struct pguser *u = container_of(n, struct pguser, node);
		if (u->queried == queried && strcmp(u->name, name) == 0)
			return u;
	}
	struct pguser *u = new_user(name, "", false);
	list_del(&u->node);
	list_append(&db->own_users, &u->node);
	u->queried = queried;
	return u;
}

struct pguser *pool_login_user(struct pgdatabase *db, const char *name)
{
	struct pguser *u = find_user(name);
	return u ? u : own_user(db, name, false);
}

struct pguser *update_queried_user(struct pgdatabase *db, const char *name, const char *secret)
{
	struct pguser *u = own_user(db, name, true);
	if (strcmp(u->secret, secret) != 0) {
		free(u->secret);
		u->secret = xstrdup(secret);
		/* Keys proved for the old password would not log in any more. */
		u->has_scram_keys = false;
	}
	/* [users] settings apply to them as to auth_file users. */
	apply_user_def(u);
	return u;
}

/* A [users] timeout in seconds; 0 (unset or 0): the global setting applies. */
static usec_t user_seconds(int seconds)
{
	return seconds > 0 ? (usec_t)seconds * USEC_PER_SEC : 0;
}

static void apply_user_def(struct pguser *u)
{
	const struct user_def *ud = config_find_user(cf, u->name);
	u->pool_mode = ud ? ud->pool_mode : POOL_INHERIT;
	u->max_user_connections = ud ? ud->max_user_connections : -1;
	u->max_user_client_connections = ud ? ud->max_user_client_connections : -1;
	u->pool_size = ud ? ud->pool_size : -1;
	u->reserve_pool_size = ud ? ud->reserve_pool_size : -1;
	u->query_timeout = user_seconds(ud ? ud->query_timeout : 0);
	u->idle_transaction_timeout = user_seconds(ud ? ud->idle_transaction_timeout : 0);
	u->client_idle_timeout = user_seconds(ud ? ud->client_idle_timeout : 0);
	u->transaction_timeout = user_seconds(ud ? ud->transaction_timeout : 0);
	u->query_wait_timeout = user_seconds(ud ? ud->query_wait_timeout : 0);
}

static void set_db_var(struct pgdatabase *db, enum var_id id, const char *value)
{
	if (value)
		varcache_set_id(&db->startup_vars, id, value);
}

static void mark_list_close_needed(struct list_node *list)
{
	struct list_node *n;
	list_for_each(n, list)
		container_of(n, struct pgsocket, node)->close_needed = true;
}

static void mark_db_servers_close_needed(struct pgdatabase *db)
{
	struct list_node *n;
	list_for_each(n, &pooler.pools) {
		struct pgpool *pool = container_of(n, struct pgpool, node);
		if (pool->db != db)
			continue;
		mark_list_close_needed(&pool->active_servers);
		mark_list_close_needed(&pool->idle_servers);
		mark_list_close_needed(&pool->used_servers);
		mark_list_close_needed(&pool->tested_servers);
	}
}

/* Whether a [databases] host list ("a, b,/dir") names host. */
static bool host_list_has(const char *list, const char *host)
{
	size_t len = strlen(host);

	for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
		while (*p == ' ')
			p++;
		if (strncasecmp(p, host, len) == 0 && (p[len] == '\0' || p[len] == ',' || p[len] == ' '))
			return true;
	}
	return false;
}

/*
 * DNS now gives other addresses for a server host (a zone serial check, or
 * a lookup after dns_max_ttl): connections made to the old ones are replaced,
 * as in PgBouncer.
 */
void objects_host_changed(const char *name)
{
	struct list_node *n;

	list_for_each(n, &pooler.databases) {
		struct pgdatabase *db = container_of(n, struct pgdatabase, node);
		if (db->host && host_list_has(db->host, name))
			mark_db_servers_close_needed(db);
	}
}

static bool str_differs(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") != 0;
}

/* What a server connection was opened with: a change means reconnecting. */
static bool login_settings_changed(const struct pgdatabase *db, const struct db_def *def, const char *dbname)
{
	int port = def->port > 0 ? def->port : 5432;
	const struct pguser *fu = db->forced_user;

	return db->port != port || str_differs(db->host, def->host) || strcmp(db->dbname, dbname) != 0 ||
	       str_differs(db->connect_query, def->connect_query) ||
	       str_differs(fu ? fu->name : NULL, def->user) ||
	       (def->password && fu && str_differs(fu->secret, def->password));
}

static void replace_str(char **dst, const char *value)
{
	free(*dst);
	*dst = xstrdup_opt(value);
}

static void apply_db_def(struct pgdatabase *db, const struct db_def *def, const char *name)
{
	const char *dbname = def->dbname ? def->dbname : name;
	const char *host = def->host;
	bool login_changed = login_settings_changed(db, def, dbname);

	strlcpy_safe(db->dbname, dbname, sizeof(db->dbname));
	free(db->host);
	db->host = xstrdup_opt(host);
	db->port = def->port > 0 ? def->port : 5432;
	/* Servers logged in with the old settings must not be reused. */
	if (login_changed)
		mark_db_servers_close_needed(db);
	db->pool_size = def->pool_size;
	db->min_pool_size = def->min_pool_size;
	db->reserve_pool = def->reserve_pool;
	db->pool_mode = def->pool_mode;
	db->max_db_connections = def->max_db_connections;
	db->max_db_client_connections = def->max_db_client_connections;
	db->server_lifetime = def->server_lifetime > 0 ? (usec_t)def->server_lifetime * USEC_PER_SEC : 0;
	db->query_wait_timeout = def->query_wait_timeout;
	free(db->connect_query);
	db->connect_query = xstrdup_opt(def->connect_query);
	replace_str(&db->auth_user, def->auth_user);
	replace_str(&db->auth_query, def->auth_query);
	replace_str(&db->auth_dbname, def->auth_dbname);
	varcache_clear(&db->startup_vars);
	set_db_var(db, VAR_CLIENT_ENCODING, def->client_encoding);
	set_db_var(db, VAR_DATESTYLE, def->datestyle);
	set_db_var(db, VAR_TIMEZONE, def->timezone);
	set_db_var(db, VAR_APPNAME, def->application_name);

	if (def->user) {
		const struct userlist_entry *e = pooler.userlist ? userlist_find(pooler.userlist, def->user) : NULL;
		const char *pw = def->password ? def->password : (e ? e->secret : "");
		if (!db->forced_user) {
			db->forced_user = new_user(def->user, pw, true);
		} else {
			strlcpy_safe(db->forced_user->name, def->user, sizeof(db->forced_user->name));
			free(db->forced_user->secret);
			db->forced_user->secret = xstrdup(pw);
		}
	}
}

struct pgdatabase *register_database(const struct db_def *def, bool is_autodb, const char *autoname)
{
	const char *name = autoname ? autoname : def->name;
	struct pgdatabase *db = find_database(name);

	if (!db) {
		db = xcalloc(1, sizeof(*db));
		strlcpy_safe(db->name, name, sizeof(db->name));
		db->port = def->port > 0 ? def->port : 5432;
		list_init(&db->own_users);
		list_append(&pooler.databases, &db->node);
	}
	db->is_autodb = is_autodb;
	db->db_dead = false;
	apply_db_def(db, def, name);
	return db;
}

/* A client asked for a database: configured, or created from "*". */
struct pgdatabase *lookup_or_create_database(const char *name)
{
	struct pgdatabase *db = find_database(name);
	if (db && !db->db_dead)
		return db;
	if (!cf->fallback_db)
		return NULL;
	db = register_database(cf->fallback_db, true, name);
	log_info("registered new auto-database: db=%s", name);
	return db;
}

/* ---------------- pools ---------------- */

struct pgpool *get_pool(struct pgdatabase *db, struct pguser *user)
{
	struct list_node *n;
	list_for_each(n, &pooler.pools) {
		struct pgpool *p = container_of(n, struct pgpool, node);
		if (p->db == db && p->user == user)
			return p;
	}
	struct pgpool *pool = xcalloc(1, sizeof(*pool));
	pool->db = db;
	pool->user = user;
	list_init(&pool->active_clients);
	list_init(&pool->waiting_clients);
	list_init(&pool->active_servers);
	list_init(&pool->idle_servers);
	list_init(&pool->used_servers);
	list_init(&pool->tested_servers);
	list_init(&pool->login_servers);
	list_init(&pool->cancel_clients);
	pktbuf_init(&pool->welcome);
	list_append(&pooler.pools, &pool->node);
	return pool;
}

/* PgBouncer's precedence: [users] over [databases] over the global mode. */
int pool_mode_of(const struct pgpool *pool)
{
	if (pool->user->pool_mode != POOL_INHERIT)
		return pool->user->pool_mode;
	if (pool->db->pool_mode != POOL_INHERIT)
		return pool->db->pool_mode;
	return cf->pool_mode;
}

/* As in later PgBouncers: the [users] entry's value, then the database's, then the global one. */
int pool_size_of(const struct pgpool *pool)
{
	if (pool->user->pool_size >= 0)
		return pool->user->pool_size;
	return pool->db->pool_size >= 0 ? pool->db->pool_size : cf->default_pool_size;
}

int reserve_pool_size_of(const struct pgpool *pool)
{
	if (pool->user->reserve_pool_size >= 0)
		return pool->user->reserve_pool_size;
	return pool->db->reserve_pool >= 0 ? pool->db->reserve_pool : cf->reserve_pool_size;
}

/* ---------------- sockets ---------------- */

struct pgsocket *socket_alloc(bool is_server)
{
	struct pgsocket *sk = xcalloc(1, sizeof(*sk));

	sk->user_name = sk->db_name = "";
	list_init(&sk->node);
	sk->is_server = is_server;
	sk->id = ++pooler.next_id;
	sk->state = is_server ? SV_FREE : CL_FREE;
	sk->tx_state = 'I';
	sbuf_init(&sk->sbuf, is_server ? server_proto : client_proto, (uint32_t)cf->pkt_buf);
	if (!is_server && cf->max_packet_size > 0)
		sk->sbuf.max_pkt_len = (uint32_t)cf->max_packet_size;
	sk->connect_time = sk->request_time = get_time_usec();
	return sk;
}

static struct list_node *client_list_for(struct pgsocket *client, enum sock_state st)
{
	struct pgpool *pool = client->pool;
	switch (st) {
	case CL_LOGIN:
		return &pooler.login_clients;
	case CL_WAITING:
	case CL_WAITING_LOGIN:
		return &pool->waiting_clients;
	case CL_ACTIVE:
		return &pool->active_clients;
	case CL_CANCEL:
		return pool ? &pool->cancel_clients : &pooler.login_clients;
	case CL_JUSTFREE:
		return &pooler.justfree;
	default:
		return NULL;
	}
}

void change_client_state(struct pgsocket *client, enum sock_state newstate)
{
	list_del(&client->node);
	if (newstate == CL_WAITING || newstate == CL_WAITING_LOGIN) {
		client->wait_start = get_time_usec();
		client->wait_notified = false;
	}
	client->state = newstate;
	struct list_node *l = client_list_for(client, newstate);
	if (l)
		list_append(l, &client->node);
	if (newstate == CL_JUSTFREE)
		schedule_reap();
}

static struct list_node *server_list_for(struct pgsocket *server, enum sock_state st)
{
	struct pgpool *pool = server->pool;
	switch (st) {
	case SV_LOGIN:
		return &pool->login_servers;
	case SV_IDLE:
		return &pool->idle_servers;
	case SV_ACTIVE:
		return &pool->active_servers;
	case SV_USED:
		return &pool->used_servers;
	case SV_TESTED:
		return &pool->tested_servers;
	case SV_JUSTFREE:
		return &pooler.justfree;
	default:
		return NULL;
	}
}

void change_server_state(struct pgsocket *server, enum sock_state newstate)
{
	list_del(&server->node);
	server->state = newstate;
	struct list_node *l = server_list_for(server, newstate);
	if (!l)
		return;
	/* LIFO reuse keeps few connections warm; round robin spreads load. */
	if (newstate == SV_IDLE && !cf->server_round_robin)
		list_prepend(l, &server->node);
	else
		list_append(l, &server->node);
	if (newstate == SV_JUSTFREE)
		schedule_reap();
}

void send_error_to_client(struct pgsocket *client, const char *sqlstate, const char *msg)
{
	struct pktbuf pb;

	if (cf->log_pooler_errors)
		slog_warning(client, "pooler error: %s", msg);
	pktbuf_init(&pb);
	pktbuf_error(&pb, "ERROR", sqlstate, msg);
	sbuf_send_pktbuf(&client->sbuf, &pb);
	pktbuf_free(&pb);
}

static void log_closing(struct pgsocket *sk, const char *reason)
{
	usec_t age = (get_time_usec() - sk->connect_time) / USEC_PER_SEC;
	if (cf->log_disconnections || !reason[0])
		slog_info(sk, "closing because: %s (age=%lus)", reason, (unsigned long)age);
}

static void uncount_client(struct pgsocket *client)
{
	if (client->counted_client) {
		client->counted_client = false;
		pooler.client_count--;
	}
	if (client->counted_in_pool) {
		client->counted_in_pool = false;
		client->db->client_count--;
		client->login_user->client_count--;
	}
}

static void client_disconnect_v(struct pgsocket *client, bool notify, const char *sqlstate,
				const char *fmt, va_list ap)
{
	char reason[512];

	if (client->state == CL_JUSTFREE || client->state == CL_FREE)
		return;
	vsnprintf(reason, sizeof(reason), fmt, ap);
	if (client->state != CL_CANCEL)
		log_closing(client, reason);
	if (client->plug)
		plugin_session_end(client, reason);
	if (client->pquery)
		plugin_query_abandon(client, reason);
	auth_check_abandon(client);

	if (client->link) {
		struct pgsocket *server = client->link;
		sbuf_unlink_stream(&client->sbuf, &server->sbuf);
		sbuf_unlink_stream(&server->sbuf, &client->sbuf);
		client->link = NULL;
		server->link = NULL;
		/* A server in the middle of something cannot be reused safely. */
		if (server->ready && !client->in_copy)
			release_server(server);
		else
			disconnect_server(server, true, "client disconnect while server was not ready");
	}
	if (notify && !client->sbuf.closed) {
		struct pktbuf pb;
		if (cf->log_pooler_errors)
			slog_warning(client, "pooler error: %s", reason);
		pktbuf_init(&pb);
		pktbuf_error(&pb, "FATAL", sqlstate, reason);
		sbuf_send_pktbuf(&client->sbuf, &pb);
		pktbuf_free(&pb);
	}
	uncount_client(client);
	sbuf_close(&client->sbuf);
	change_client_state(client, CL_JUSTFREE);
}

void disconnect_client(struct pgsocket *client, bool notify, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	client_disconnect_v(client, notify, "08P01", fmt, ap);
	va_end(ap);
}

void disconnect_client_sqlstate(struct pgsocket *client, const char *sqlstate, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	client_disconnect_v(client, true, sqlstate, fmt, ap);
	va_end(ap);
}

void disconnect_server(struct pgsocket *server, bool notify, const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	struct pgpool *pool = server->pool;

	if (server->state == SV_JUSTFREE || server->state == SV_FREE)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (!server->is_cancel_conn)
		log_closing(server, reason);
	if (server->dns_req) {
		dns_cancel(server->dns_req);
		server->dns_req = NULL;
	}
	pktbuf_free(&server->login_params);

	if (server->link) {
		struct pgsocket *client = server->link;
		sbuf_unlink_stream(&client->sbuf, &server->sbuf);
		sbuf_unlink_stream(&server->sbuf, &client->sbuf);
		server->link = NULL;
		client->link = NULL;
		if (client->state == CL_CANCEL)
			disconnect_client(client, false, "failed cancel request");
		else
			disconnect_client(client, true, "server conn crashed?");
	}
	/* Tell PostgreSQL we are leaving, so it does not log an unexpected EOF. */
	if (notify && server->state != SV_LOGIN && !server->sbuf.closed && !server->sbuf.connecting) {
		static const uint8_t terminate[] = { 'X', 0, 0, 0, 4 };
		sbuf_send(&server->sbuf, terminate, sizeof(terminate));
	}
	if (server->state != SV_FREE && !server->is_cancel_conn) {
		pooler.server_count--;
		if (server->db)
			server->db->server_count--;
		if (server->login_user)
			server->login_user->server_count--;
	}
	auth_check_abandon(server);	/* its SCRAM keys may be on their way */
	if (server->scram_cli) {
		scram_client_clear(server->scram_cli);
		free(server->scram_cli);
		server->scram_cli = NULL;
	}
	sbuf_close(&server->sbuf);
	change_server_state(server, SV_JUSTFREE);
	/* A freed slot may let a waiting client in. */
	if (pool && !pooler.shutting_down)
		pool_wake_waiters(pool);
}

/* ---------------- deferred freeing ---------------- */

static void free_socket(struct pgsocket *sk)
{
	if (sk->scram_srv) {
		scram_server_clear(sk->scram_srv);
		free(sk->scram_srv);
	}
	if (sk->scram_cli) {
		scram_client_clear(sk->scram_cli);
		free(sk->scram_cli);
	}
	free(sk->tls_host);
	auth_query_free(sk);
	plugin_query_free(sk);
	prepared_free(sk);
	varcache_clear(&sk->vars);
	strpool_put(sk->user_name);
	strpool_put(sk->db_name);
	secure_zero(sk, sizeof(*sk));
	free(sk);
}

void reap_justfree(void)
{
	struct list_node *n;
	while ((n = list_pop(&pooler.justfree)) != NULL)
		free_socket(container_of(n, struct pgsocket, node));
}

static void reap_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg UNUSED)
{
	reap_justfree();
}

static void schedule_reap(void)
{
	static bool initialised;
	if (!initialised) {
		event_assign(&pooler.ev_reap, pooler.base, -1, 0, reap_cb, NULL);
		initialised = true;
	}
	if (!event_pending(&pooler.ev_reap, EV_TIMEOUT, NULL))
		event_active(&pooler.ev_reap, EV_TIMEOUT, 0);
}

/* ---------------- cancel keys ---------------- */

static bool scan_clients_for_key(struct list_node *list, const uint8_t key[CANCEL_KEY_LEN], struct pgsocket **found)
{
	struct list_node *n;
	list_for_each(n, list) {
		struct pgsocket *c = container_of(n, struct pgsocket, node);
		if (secure_equal(c->cancel_key, key, CANCEL_KEY_LEN)) {
			*found = c;
			return true;
		}
	}
	return false;
}

struct pgsocket *find_client_by_cancel_key(const uint8_t key[CANCEL_KEY_LEN])
{
	struct list_node *n;
	struct pgsocket *found = NULL;
	list_for_each(n, &pooler.pools) {
		struct pgpool *p = container_of(n, struct pgpool, node);
		if (scan_clients_for_key(&p->active_clients, key, &found) ||
		    scan_clients_for_key(&p->waiting_clients, key, &found))
			return found;
	}
	return NULL;
}

/* ---------------- configuration ---------------- */

/* (Re)build databases and users from the current config and userlist. */
void objects_apply_config(void)
{
	struct list_node *n;

	/* Users gone from auth_file can no longer log in (objects in use stay). */
	list_for_each(n, &pooler.users) {
		struct pguser *u = container_of(n, struct pguser, node);
		if (!u->forced)
			u->removed = true;
	}
	if (pooler.userlist) {
		for (int i = 0; i < pooler.userlist->n; i++)
			add_user(pooler.userlist->entries[i].name, pooler.userlist->entries[i].secret);
	}
	list_for_each(n, &pooler.users) {
		struct pguser *u = container_of(n, struct pguser, node);
		if (!u->forced)
			apply_user_def(u);
	}
	list_for_each(n, &pooler.databases) {
		struct pgdatabase *db = container_of(n, struct pgdatabase, node);
		if (!db->is_autodb && !db->is_admin)
			db->db_dead = true;
	}
	for (int i = 0; i < cf->n_dbs; i++)
		register_database(&cf->dbs[i], false, NULL);
	list_for_each(n, &pooler.databases) {
		struct pgdatabase *db = container_of(n, struct pgdatabase, node);
		if (db->is_autodb && cf->fallback_db)
			apply_db_def(db, cf->fallback_db, db->name);
	}
}

/* The kernel's CSPRNG directly: cheaper per login than OpenSSL's DRBG. */
void generate_cancel_key(uint8_t key[CANCEL_KEY_LEN])
{
	if (getrandom(key, CANCEL_KEY_LEN, 0) != CANCEL_KEY_LEN && RAND_bytes(key, CANCEL_KEY_LEN) != 1)
		die("cannot generate random cancel key");
	/* The first half reads as a PID: keep it positive, as PgBouncer does
	 * (some clients mishandle a negative one). */
	key[0] &= 0x7f;
	peer_stamp_cancel_key(key);
}
