/*
 * Server assignment: linking clients to server connections, the FIFO wait
 * queue, pool limits (pool_size, reserve pool, max_db_connections,
 * max_user_connections), and the janitor that enforces every timeout.
 */
#include "pgwarden.h"

#include <stdlib.h>
#include <string.h>

#define JANITOR_PERIOD_USEC (100 * 1000)

static int pool_server_count(const struct pgpool *pool)
{
	return list_count(&pool->active_servers) + list_count(&pool->idle_servers) +
	       list_count(&pool->used_servers) + list_count(&pool->tested_servers) +
	       list_count(&pool->login_servers);
}

static void link_client_server(struct pgsocket *client, struct pgsocket *server)
{
	/* Time spent queued counts as wait_time (SHOW STATS). */
	if (client->state == CL_WAITING)
		server->pool->stats.wait_time += get_time_usec() - client->wait_start;
	if (client->state != CL_ACTIVE)
		change_client_state(client, CL_ACTIVE);
	client->link = server;
	server->link = client;
	change_server_state(server, SV_ACTIVE);
	server->pool->stats.server_assignment_count++;
}

/* An idle server that has not been used for a while is checked first. */
static bool server_needs_check(const struct pgsocket *server, usec_t now)
{
	if (!cf->server_check_query || !cf->server_check_query[0])
		return false;
	return now - server->request_time > cf->server_check_delay;
}

static void start_server_check(struct pgsocket *server)
{
	struct pktbuf pb;
	const char *q = cf->server_check_query;

	/* "<empty>" asks for an empty query: the cheapest round trip. */
	if (strcmp(q, "<empty>") == 0)
		q = "";
	slog_debug(server, "P: checking: %s", q);
	change_server_state(server, SV_TESTED);
	server->checking = true;
	server->ready = false;
	pktbuf_init(&pb);
	pktbuf_query(&pb, q);
	sbuf_send_pktbuf(&server->sbuf, &pb);
	pktbuf_free(&pb);
}

/* Pop a usable idle server, sending stale ones off to be checked. */
static struct pgsocket *take_idle_server(struct pgpool *pool)
{
	usec_t now = get_time_usec();
	struct list_node *n;

	while ((n = list_first(&pool->idle_servers)) != NULL) {
		struct pgsocket *server = container_of(n, struct pgsocket, node);
		if (server_needs_check(server, now)) {
			start_server_check(server);
			continue;
		}
		return server;
	}
	return NULL;
}

bool find_server(struct pgsocket *client)
{
	struct pgpool *pool = client->pool;

	if (client->link)
		return true;
	if (pooler.paused || pool->db->paused) {
		if (client->state != CL_WAITING)
			change_client_state(client, CL_WAITING);
		return false;
	}
	/* FIFO: nobody jumps the queue. */
	bool queue_empty = list_empty(&pool->waiting_clients) ||
			   list_first(&pool->waiting_clients) == &client->node;
	struct pgsocket *server = queue_empty ? take_idle_server(pool) : NULL;
	if (server) {
		link_client_server(client, server);
		return true;
	}
	if (client->state != CL_WAITING)
		change_client_state(client, CL_WAITING);
	launch_new_connection(pool);
	return false;
}

/* Give idle servers to waiting clients, and open connections for the rest. */
void pool_wake_waiters(struct pgpool *pool)
{
	struct list_node *n, *tmp;

	if (pooler.paused || pool->db->paused)
		return;
	list_for_each_safe(n, tmp, &pool->waiting_clients) {
		struct pgsocket *client = container_of(n, struct pgsocket, node);
		if (client->state != CL_WAITING)
			continue;
		struct pgsocket *server = take_idle_server(pool);
		if (!server)
			break;
		link_client_server(client, server);
		if (side_query_running(client))
			side_query_send(client);
		else
			sbuf_continue(&client->sbuf);
	}
	if (!list_empty(&pool->waiting_clients))
		launch_new_connection(pool);
}

/* server_lifetime = 0 means "use each connection once", as in PgBouncer. */
static bool server_too_old(const struct pgsocket *server, usec_t now)
{
	usec_t lifetime = server->db->server_lifetime ? server->db->server_lifetime : cf->server_lifetime;
	return now - server->connect_time > lifetime || lifetime == 0;
}

static void send_reset_query(struct pgsocket *server)
{
	struct pktbuf pb;

	slog_debug(server, "resetting: %s", cf->server_reset_query);
	change_server_state(server, SV_TESTED);
	server->resetting = true;
	server->ready = false;
	pktbuf_init(&pb);
	pktbuf_query(&pb, cf->server_reset_query);
	sbuf_send_pktbuf(&server->sbuf, &pb);
	pktbuf_free(&pb);
}

/* The client is done with this server (transaction end, or it left). */
void release_server(struct pgsocket *server)
{
	struct pgpool *pool = server->pool;
	struct pgsocket *client = server->link;
	usec_t now = get_time_usec();

	if (server->ps)
		prepared_server_released(server);
	if (client) {
		client->link = NULL;
		server->link = NULL;
	}
	server->request_time = now;
	if (server->close_needed) {
		disconnect_server(server, true, "obsolete connection");
		return;
	}
	if (server_too_old(server, now) && !pool->db->is_admin) {
		disconnect_server(server, true, "server lifetime over");
		return;
	}
	if (server->tx_state != 'I') {
		disconnect_server(server, true, "server was not idle at release");
		return;
	}
	bool want_reset = cf->server_reset_query && cf->server_reset_query[0] &&
			  (pool_mode_of(pool) == POOL_SESSION || cf->server_reset_query_always);
	if (want_reset) {
		send_reset_query(server);
		return;
	}
	change_server_state(server, SV_IDLE);
	pool_wake_waiters(pool);
}

static bool reserve_pool_allowed(struct pgpool *pool, usec_t now)
{
	int reserve = reserve_pool_size_of(pool);
	/* reserve_pool_timeout = 0 turns the reserve pool off, as in PgBouncer. */
	if (reserve <= 0 || !cf->reserve_pool_timeout || list_empty(&pool->waiting_clients))
		return false;
	if (pool_server_count(pool) >= pool_size_of(pool) + reserve)
		return false;
	struct pgsocket *first = container_of(list_first(&pool->waiting_clients), struct pgsocket, node);
	if (now - first->wait_start < cf->reserve_pool_timeout)
		return false;
	log_info("taking connection from reserve_pool");
	return true;
}

/*
 * A database or user at its connection limit may still have idle servers in
 * other pools (another user of the same database, ...).  Closing one of them
 * lets this pool in instead of waiting forever, as PgBouncer does.
 */
static bool evict_idle_server(struct pgpool *pool, bool same_db)
{
	struct list_node *n;
	list_for_each(n, &pooler.pools) {
		struct pgpool *other = container_of(n, struct pgpool, node);
		if (other == pool || list_empty(&other->idle_servers))
			continue;
		if (same_db ? other->db != pool->db : other->user != pool->user)
			continue;
		struct pgsocket *victim = container_of(list_first(&other->idle_servers), struct pgsocket, node);
		disconnect_server(victim, true, "evicted to make room for another pool");
		return true;
	}
	return false;
}

static bool under_limits(struct pgpool *pool)
{
	int max_db = pool->db->max_db_connections >= 0 ? pool->db->max_db_connections : cf->max_db_connections;
	int max_user = pool->user->max_user_connections >= 0 ? pool->user->max_user_connections
							     : cf->max_user_connections;

	if (max_db > 0 && pool->db->server_count >= max_db && !evict_idle_server(pool, true)) {
		log_debug("launch_new_connection: database '%s' full (%d >= %d)",
			  pool->db->name, pool->db->server_count, max_db);
		return false;
	}
	if (max_user > 0 && pool->user->server_count >= max_user && !evict_idle_server(pool, false)) {
		log_debug("launch_new_connection: user '%s' full (%d >= %d)",
			  pool->user->name, pool->user->server_count, max_user);
		return false;
	}
	return true;
}

static bool may_launch(struct pgpool *pool, usec_t now)
{
	if (pooler.shutting_down || pool->db->disabled || pooler.paused || pool->db->paused)
		return false;
	if (pool->last_login_failed && now - pool->last_connect_time < cf->server_login_retry) {
		log_debug("launch_new_connection: last failed, not launching new connection yet");
		return false;
	}
	/* One login at a time per waiting client; no thundering herd. */
	int waiting = list_count(&pool->waiting_clients);
	int logging_in = list_count(&pool->login_servers);
	if (logging_in > 0 && logging_in >= waiting)
		return false;
	if (pool_server_count(pool) >= pool_size_of(pool) && !reserve_pool_allowed(pool, now))
		return false;
	return under_limits(pool);
}

static void launch_one(struct pgpool *pool)
{
	struct pgsocket *server = socket_alloc(true);

	server->pool = pool;
	server->db = pool->db;
	server->login_user = pool->db->forced_user ? pool->db->forced_user : pool->user;
	server->state = SV_FREE;
	change_server_state(server, SV_LOGIN);
	pooler.server_count++;
	pool->db->server_count++;
	server->login_user->server_count++;
	pool->last_connect_time = get_time_usec();
	slog_debug(server, "launching new connection to server");
	connect_server(server);
}

void launch_new_connection(struct pgpool *pool)
{
	usec_t now = get_time_usec();
	while (may_launch(pool, now))
		launch_one(pool);
}

/* ---------------- janitor: timeouts and pool maintenance ---------------- */

/* A client whose auth_query waits or runs is still logging in. */
static bool lookup_timed_out(const struct pgsocket *client, usec_t now)
{
	return client->auth_phase == AUTH_PHASE_LOOKUP && cf->client_login_timeout &&
	       now - client->connect_time > cf->client_login_timeout;
}

/* query_wait_notify (PgBouncer 1.25): tell a client once per wait that it is queued. */
static void notify_long_wait(struct pgsocket *client, usec_t waited)
{
	struct pktbuf pb;

	if (!cf->query_wait_notify || client->wait_notified || waited <= cf->query_wait_notify || pooler.paused)
		return;
	client->wait_notified = true;
	pktbuf_init(&pb);
	pktbuf_notice(&pb, "00000", "No server connection available in postgres backend, client being queued");
	sbuf_send_pktbuf(&client->sbuf, &pb);
	pktbuf_free(&pb);
}

/* A [users] value wins over the global one. */
static usec_t user_or_global(usec_t own, usec_t global)
{
	return own ? own : global;
}

/* query_wait_timeout: the [users] value, then the [databases] one, then the global one. */
static usec_t query_wait_limit(const struct pgsocket *client)
{
	const struct pgdatabase *db = client->pool->db;

	if (client->login_user && client->login_user->query_wait_timeout)
		return client->login_user->query_wait_timeout;
	if (db->query_wait_timeout >= 0)
		return (usec_t)db->query_wait_timeout * USEC_PER_SEC;
	return cf->query_wait_timeout;
}

static void check_waiting_clients(struct pgpool *pool, usec_t now)
{
	struct list_node *n, *tmp;

	list_for_each_safe(n, tmp, &pool->waiting_clients) {
		struct pgsocket *client = container_of(n, struct pgsocket, node);
		usec_t waited = now - client->wait_start;
		if (lookup_timed_out(client, now)) {
			disconnect_client(client, true, "client_login_timeout");
			continue;
		}
		if (client->state == CL_WAITING_LOGIN) {
			if (cf->client_login_timeout && now - client->connect_time > cf->client_login_timeout)
				disconnect_client(client, true, "client_login_timeout (server down)");
			else if (pool->last_login_failed && list_empty(&pool->login_servers))
				disconnect_client_sqlstate(client, "08P01", "%s", pool->last_login_error);
			continue;
		}
		notify_long_wait(client, waited);
		usec_t wait_limit = query_wait_limit(client);
		if (wait_limit && waited > wait_limit && !pooler.paused)
			disconnect_client(client, true, "query_wait_timeout");
		else if (pool->last_login_failed && list_empty(&pool->login_servers) &&
			 pool_server_count(pool) == 0)
			disconnect_client(client, true, "server login has been failing, try again later (server_login_retry)");
	}
}

static const char *active_client_timeout(const struct pgsocket *client, usec_t now)
{
	const struct pguser *user = client->login_user;
	const struct pgsocket *server = client->link;
	usec_t idle = now - client->request_time;

	if (!server) {
		usec_t limit = user_or_global(user->client_idle_timeout, cf->client_idle_timeout);
		return limit && idle > limit ? "client_idle_timeout" : NULL;
	}
	usec_t query_limit = user_or_global(user->query_timeout, cf->query_timeout);
	if (query_limit && server->query_start && !server->ready && now - server->query_start > query_limit)
		return "query timeout";
	usec_t idle_tx_limit = user_or_global(user->idle_transaction_timeout, cf->idle_transaction_timeout);
	if (idle_tx_limit && server->ready && server->tx_state != 'I' && idle > idle_tx_limit)
		return "idle transaction timeout";
	usec_t xact_limit = user_or_global(user->transaction_timeout, cf->transaction_timeout);
	if (xact_limit && server->xact_start && now - server->xact_start > xact_limit)
		return "transaction timeout";
	return NULL;
}

/*
 * server_fast_close: a session's server that RECONNECT, a reload or a DNS
 * change marked for replacement is closed, with its client, once it is idle
 * between transactions instead of when the session ends.  (Transaction and
 * statement mode release such servers at the end of each transaction anyway.)
 */
static bool fast_close_due(const struct pgsocket *client)
{
	const struct pgsocket *server = client->link;

	return cf->server_fast_close && server && server->close_needed && server->ready && server->tx_state == 'I';
}

static void check_active_clients(struct pgpool *pool, usec_t now)
{
	struct list_node *n, *tmp;

	list_for_each_safe(n, tmp, &pool->active_clients) {
		struct pgsocket *client = container_of(n, struct pgsocket, node);
		const char *reason = !client->login_user ? (lookup_timed_out(client, now) ? "client_login_timeout" : NULL)
				     : fast_close_due(client) ? "database configuration changed"
				     : active_client_timeout(client, now);
		if (reason)
			disconnect_client(client, true, "%s", reason);
	}
}

static void check_idle_servers(struct pgpool *pool, usec_t now)
{
	struct list_node *n, *tmp;
	int min_size = pool->db->min_pool_size >= 0 ? pool->db->min_pool_size : cf->min_pool_size;

	list_for_each_safe(n, tmp, &pool->idle_servers) {
		struct pgsocket *server = container_of(n, struct pgsocket, node);
		if (server->close_needed)
			disconnect_server(server, true, "obsolete connection");
		else if (server_too_old(server, now) && !pool->db->is_admin)
			disconnect_server(server, true, "server lifetime over");
		else if (cf->server_idle_timeout && now - server->request_time > cf->server_idle_timeout &&
			 pool_server_count(pool) > min_size)
			disconnect_server(server, true, "server idle timeout");
	}
	list_for_each_safe(n, tmp, &pool->login_servers) {
		struct pgsocket *server = container_of(n, struct pgsocket, node);
		if (cf->server_connect_timeout && now - server->connect_time > cf->server_connect_timeout) {
			pool->last_login_failed = true;
			strlcpy_safe(pool->last_login_error, "server connect timeout", sizeof(pool->last_login_error));
			disconnect_server(server, false, "connect timeout");
		}
	}
}

/* Keep min_pool_size connections for pools that have been used. */
static void fill_min_pool(struct pgpool *pool)
{
	int min_size = pool->db->min_pool_size >= 0 ? pool->db->min_pool_size : cf->min_pool_size;
	usec_t now = get_time_usec();

	if (min_size <= 0 || pool->db->is_admin)
		return;
	if (list_empty(&pool->active_clients) && list_empty(&pool->waiting_clients) && !pool->db->forced_user)
		return;
	while (pool_server_count(pool) < min_size && pool_server_count(pool) < pool_size_of(pool)) {
		if (pool->last_login_failed && now - pool->last_connect_time < cf->server_login_retry)
			return;
		if (!under_limits(pool) || pooler.shutting_down)
			return;
		log_debug("launching new connection to satisfy min_pool_size");
		launch_one(pool);
	}
}

static void check_login_clients(usec_t now)
{
	struct list_node *n, *tmp;
	list_for_each_safe(n, tmp, &pooler.login_clients) {
		struct pgsocket *client = container_of(n, struct pgsocket, node);
		if (client->state == CL_LOGIN && cf->client_login_timeout &&
		    now - client->connect_time > cf->client_login_timeout)
			disconnect_client(client, true, "client_login_timeout");
	}
}

static bool pool_in_use(const struct pgpool *pool)
{
	return !list_empty(&pool->active_clients) || !list_empty(&pool->waiting_clients) ||
	       !list_empty(&pool->cancel_clients) || !list_empty(&pool->active_servers) ||
	       !list_empty(&pool->idle_servers) || !list_empty(&pool->used_servers) ||
	       !list_empty(&pool->tested_servers) || !list_empty(&pool->login_servers);
}

static bool db_in_use(const struct pgdatabase *db)
{
	struct list_node *n;
	list_for_each(n, &pooler.pools) {
		struct pgpool *pool = container_of(n, struct pgpool, node);
		if (pool->db == db && pool_in_use(pool))
			return true;
	}
	/* Clients still logging in point at their database too. */
	list_for_each(n, &pooler.login_clients) {
		if (container_of(n, struct pgsocket, node)->db == db)
			return true;
	}
	return false;
}

static void free_pool(struct pgpool *pool)
{
	list_del(&pool->node);
	pktbuf_free(&pool->welcome);
	varcache_clear(&pool->server_defaults);
	free(pool);
}

static void free_user(struct pguser *u)
{
	list_del(&u->node);
	secure_zero(u->secret, strlen(u->secret));
	free(u->secret);
	secure_zero(u, sizeof(*u));
	free(u);
}

static void free_database(struct pgdatabase *db)
{
	struct list_node *n, *tmp;

	log_info("dropping database '%s' as it does not exist anymore or inactive auto-database", db->name);
	list_for_each_safe(n, tmp, &pooler.pools) {
		struct pgpool *pool = container_of(n, struct pgpool, node);
		if (pool->db == db)
			free_pool(pool);
	}
	if (db->forced_user)
		free_user(db->forced_user);
	list_for_each_safe(n, tmp, &db->own_users)
		free_user(container_of(n, struct pguser, node));
	list_del(&db->node);
	free(db->host);
	free(db->connect_query);
	free(db->auth_user);
	free(db->auth_query);
	free(db->auth_dbname);
	varcache_clear(&db->startup_vars);
	free(db);
}

/* Auto-databases unused for autodb_idle_timeout, and databases removed from
 * the config once their last connection is gone, are freed. */
static void cleanup_databases(usec_t now)
{
	struct list_node *n, *tmp;
	list_for_each_safe(n, tmp, &pooler.databases) {
		struct pgdatabase *db = container_of(n, struct pgdatabase, node);
		if (!db->is_autodb && !db->db_dead)
			continue;
		if (db_in_use(db)) {
			db->inactive_since = 0;
			continue;
		}
		if (!db->inactive_since)
			db->inactive_since = now;
		if (db->db_dead || now - db->inactive_since > cf->autodb_idle_timeout)
			free_database(db);
	}
}

/* pool_idle_timeout: forget (database, user) pools nobody has used for a while. */
static void cleanup_idle_pools(usec_t now)
{
	struct list_node *n, *tmp;

	if (!cf->pool_idle_timeout)
		return;
	list_for_each_safe(n, tmp, &pooler.pools) {
		struct pgpool *pool = container_of(n, struct pgpool, node);
		if (pool->db->is_admin || pool_in_use(pool)) {
			pool->inactive_since = 0;
			continue;
		}
		if (!pool->inactive_since)
			pool->inactive_since = now;
		else if (now - pool->inactive_since > cf->pool_idle_timeout)
			free_pool(pool);
	}
}

/*
 * cancel_wait_timeout: a cancel connection that is not done in time (the
 * server does not accept it, or does not close it after reading the request)
 * is given up, so a hung server cannot pile up cancel connections.
 */
static void check_cancel_servers(usec_t now)
{
	struct list_node *n, *tmp;

	if (!cf->cancel_wait_timeout)
		return;
	list_for_each_safe(n, tmp, &pooler.cancel_servers) {
		struct pgsocket *cancel = container_of(n, struct pgsocket, node);
		if (now - cancel->connect_time > cf->cancel_wait_timeout) {
			slog_warning(cancel, "cancel request not done within cancel_wait_timeout, giving up");
			disconnect_server(cancel, false, "cancel_wait_timeout");
		}
	}
}

static void janitor_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg UNUSED)
{
	usec_t now = get_time_usec();
	struct list_node *n;

	check_login_clients(now);
	check_cancel_servers(now);
	list_for_each(n, &pooler.pools) {
		struct pgpool *pool = container_of(n, struct pgpool, node);
		check_waiting_clients(pool, now);
		check_active_clients(pool, now);
		check_idle_servers(pool, now);
		fill_min_pool(pool);
		if (!list_empty(&pool->waiting_clients))
			pool_wake_waiters(pool);
	}
	admin_janitor();
	cleanup_databases(now);
	cleanup_idle_pools(now);
	reap_justfree();
}

void janitor_setup(void)
{
	struct timeval tv = { 0, JANITOR_PERIOD_USEC };
	event_assign(&pooler.ev_janitor, pooler.base, -1, EV_PERSIST, janitor_cb, NULL);
	event_add(&pooler.ev_janitor, &tv);
}
