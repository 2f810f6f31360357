/*
 * SHOW commands on the pooler's objects: CLIENTS, SERVERS, SOCKETS,
 * ACTIVE_SOCKETS, POOLS, DATABASES, USERS; and the SHOW dispatch.  The
 * statistics are in admin_stats.c, the pooler-wide listings and fixed
 * answers in admin_info.c.
 *
 * Every result set is a column table: PgBouncer 1.18's columns in 1.18's
 * order, then the columns later versions added (admin_result.h).  Each
 * column names the small function that writes its value, so a column's name,
 * type and value sit on one line.  Rows are listed sorted by name, as
 * PgBouncer keeps its lists.
 */
#include "admin.h"
#include "tls.h"
#include "admin_result.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

/* ================================================================
 * Ordered views of the object lists
 * ================================================================ */

struct sorted {
	struct list_node **v;
	int n;
};

static void sorted_init(struct sorted *s, struct list_node *head, int (*cmp)(const void *, const void *))
{
	struct list_node *n;
	int i = 0;

	s->n = list_count(head);
	s->v = xmalloc(sizeof(*s->v) * (size_t)(s->n ? s->n : 1));
	list_for_each(n, head)
		s->v[i++] = n;
	qsort(s->v, (size_t)s->n, sizeof(*s->v), cmp);
}

static void sorted_free(struct sorted *s)
{
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

#define NODE_OF(p) (*(struct list_node *const *)(p))
#define DB_AT(s, i) container_of((s)->v[i], struct pgdatabase, node)
#define USER_AT(s, i) container_of((s)->v[i], struct pguser, node)
#define POOL_AT(s, i) container_of((s)->v[i], struct pgpool, node)

static int cmp_db(const void *a, const void *b)
{
	return strcmp(container_of(NODE_OF(a), struct pgdatabase, node)->name,
		      container_of(NODE_OF(b), struct pgdatabase, node)->name);
}

static int cmp_user(const void *a, const void *b)
{
	return strcmp(container_of(NODE_OF(a), struct pguser, node)->name,
		      container_of(NODE_OF(b), struct pguser, node)->name);
}

static int cmp_pool(const void *a, const void *b)
{
	const struct pgpool *x = container_of(NODE_OF(a), struct pgpool, node);
	const struct pgpool *y = container_of(NODE_OF(b), struct pgpool, node);
	int r = strcmp(x->db->name, y->db->name);
	return r ? r : strcmp(x->user->name, y->user->name);
}

static int own_or_global(int own, int global)
{
	return own >= 0 ? own : global;
}

/* "round-robin" is PgBouncer's default; shown only for host lists. */
static const char *load_balance_hosts(const struct pgdatabase *db)
{
	return db->host && strchr(db->host, ',') ? "round-robin" : NULL;
}

static void put_zero(struct resultset *rs, const void *row UNUSED)
{
	rs_int(rs, 0);
}

/* ================================================================
 * SHOW CLIENTS, SERVERS, SOCKETS, ACTIVE_SOCKETS
 * ================================================================ */

/* One socket as a row: the socket and the state name it is listed with. */
struct socket_row {
	const struct pgsocket *sk;
	const char *state;
	usec_t waited;
	struct sockaddr_storage local;
};

#define SK(p) (((const struct socket_row *)(p))->sk)
#define SR(p) ((const struct socket_row *)(p))

static void put_addr(struct resultset *rs, const struct sockaddr_storage *ss)
{
	char buf[INET6_ADDRSTRLEN];

	rs_str(rs, sockaddr_ip((const struct sockaddr *)ss, buf, sizeof(buf)));
}

/* A unix socket has no port: PgBouncer shows the port its path was made from. */
static void put_port(struct resultset *rs, const struct pgsocket *sk, const struct sockaddr_storage *ss)
{
	int port = sockaddr_port((const struct sockaddr *)ss);

	if (ss->ss_family == AF_UNIX)
		port = sk->is_server && sk->db ? sk->db->port : cf->listen_port;
	rs_int(rs, port);
}

/* The local address is not kept (memory per connection): ask the kernel. */
static void local_address(const struct pgsocket *sk, struct sockaddr_storage *ss)
{
	socklen_t len = sizeof(*ss);

	memset(ss, 0, sizeof(*ss));
	if (sk->sbuf.fd >= 0 && getsockname(sk->sbuf.fd, (struct sockaddr *)ss, &len) < 0)
		memset(ss, 0, sizeof(*ss));
}

/* How long the socket has been waiting: for a queued client, since it
 * queued; for a linked client, since its query started. */
static usec_t socket_wait(const struct pgsocket *sk, usec_t now)
{
	if (sk->is_server)
		return 0;
	if ((sk->state == CL_WAITING || sk->state == CL_WAITING_LOGIN) && sk->wait_start)
		return now - sk->wait_start;
	if (sk->link && sk->link->query_start)
		return now - sk->link->query_start;
	return 0;
}

/* Server: the backend PID from BackendKeyData; client: the unix peer. */
static int remote_pid(const struct pgsocket *sk)
{
	if (sk->is_server)
		return (int)((uint32_t)sk->cancel_key[0] << 24 | (uint32_t)sk->cancel_key[1] << 16 |
			     (uint32_t)sk->cancel_key[2] << 8 | sk->cancel_key[3]);
	return sk->is_unix ? sk->peer_pid : 0;
}

static void put_ptr(struct resultset *rs, const void *ptr)
{
	char buf[32] = "";
	if (ptr)
		snprintf(buf, sizeof(buf), "%p", ptr);
	rs_str(rs, buf);
}

static void sk_type(struct resultset *rs, const void *p) { rs_str(rs, SK(p)->is_server ? "S" : "C"); }
static void sk_user(struct resultset *rs, const void *p)
{
	rs_str(rs, SK(p)->login_user ? SK(p)->login_user->name : "(nouser)");
}
static void sk_database(struct resultset *rs, const void *p) { rs_str(rs, SK(p)->db ? SK(p)->db->name : "(nodb)"); }
/* A client in the active list without a server is idle. */
static void sk_state(struct resultset *rs, const void *p)
{
	rs_str(rs, !SK(p)->link && strcmp(SR(p)->state, "active") == 0 ? "idle" : SR(p)->state);
}
static void sk_addr(struct resultset *rs, const void *p) { put_addr(rs, &SK(p)->remote_addr); }
static void sk_port(struct resultset *rs, const void *p) { put_port(rs, SK(p), &SK(p)->remote_addr); }
static void sk_local_addr(struct resultset *rs, const void *p) { put_addr(rs, &SR(p)->local); }
static void sk_local_port(struct resultset *rs, const void *p) { put_port(rs, SK(p), &SR(p)->local); }
static void sk_connect_time(struct resultset *rs, const void *p) { rs_time(rs, SK(p)->connect_time); }
static void sk_request_time(struct resultset *rs, const void *p) { rs_time(rs, SK(p)->request_time); }
static void sk_wait(struct resultset *rs, const void *p) { rs_int(rs, (int64_t)(SR(p)->waited / USEC_PER_SEC)); }
static void sk_wait_us(struct resultset *rs, const void *p) { rs_int(rs, (int64_t)(SR(p)->waited % USEC_PER_SEC)); }
static void sk_close_needed(struct resultset *rs, const void *p) { rs_int(rs, SK(p)->close_needed); }
static void sk_ptr(struct resultset *rs, const void *p) { put_ptr(rs, SK(p)); }
static void sk_link(struct resultset *rs, const void *p) { put_ptr(rs, SK(p)->link); }
static void sk_remote_pid(struct resultset *rs, const void *p) { rs_int(rs, remote_pid(SK(p))); }
static void sk_tls(struct resultset *rs, const void *p)
{
	const struct pgsocket *sk = SK(p);
	char desc[128] = "";

	if (sk->sbuf.tls && !sk->sbuf.tls_handshaking)
		tls_describe(sk->sbuf.tls, desc, sizeof(desc));
	rs_str(rs, desc);
}
static void sk_application_name(struct resultset *rs, const void *p) { rs_str(rs, varcache_get(&SK(p)->vars, VAR_APPNAME)); }
static void sk_replication(struct resultset *rs, const void *p UNUSED) { rs_str(rs, "none"); }
static void sk_id(struct resultset *rs, const void *p) { rs_uint(rs, SK(p)->id); }
static void sk_prepared_statements(struct resultset *rs, const void *p) { rs_int(rs, (int64_t)prepared_count(SK(p))); }

static const struct column socket_cols_118[] = {
	{ "type", 's', sk_type },
	{ "user", 's', sk_user },
	{ "database", 's', sk_database },
	{ "state", 's', sk_state },
	{ "addr", 's', sk_addr },
	{ "port", 'i', sk_port },
	{ "local_addr", 's', sk_local_addr },
	{ "local_port", 'i', sk_local_port },
	{ "connect_time", 'T', sk_connect_time },
	{ "request_time", 'T', sk_request_time },
	{ "wait", 'i', sk_wait },
	{ "wait_us", 'i', sk_wait_us },
	{ "close_needed", 'i', sk_close_needed },
	{ "ptr", 's', sk_ptr },
	{ "link", 's', sk_link },
	{ "remote_pid", 'i', sk_remote_pid },
	{ "tls", 's', sk_tls },
	{ "application_name", 's', sk_application_name },
	COLS_END,
};

/* Added after 1.18; "replication" stands after "database" there. */
static const struct column socket_cols_later[] = {
	{ "replication", 's', sk_replication },
	{ "prepared_statements", 'i', sk_prepared_statements },
	{ "id", 'i', sk_id },
	COLS_END,
};

#define SB(p) (&SK(p)->sbuf)
static void sb_recv_pos(struct resultset *rs, const void *p) { rs_int(rs, SB(p)->recv_pos); }
static void sb_pkt_pos(struct resultset *rs, const void *p) { rs_int(rs, SB(p)->parse_pos); }
static void sb_pkt_remain(struct resultset *rs, const void *p) { rs_int(rs, SB(p)->pkt_remain); }
static void sb_send_pos(struct resultset *rs, const void *p) { rs_int(rs, (int64_t)SB(p)->opos); }
static void sb_send_remain(struct resultset *rs, const void *p) { rs_int(rs, (int64_t)(SB(p)->olen - SB(p)->opos)); }
static void sb_pkt_avail(struct resultset *rs, const void *p) { rs_int(rs, SB(p)->recv_pos - SB(p)->parse_pos); }

/* SOCKETS and ACTIVE_SOCKETS: the buffer positions. */
static const struct column sbuf_cols[] = {
	{ "recv_pos", 'i', sb_recv_pos },
	{ "pkt_pos", 'i', sb_pkt_pos },
	{ "pkt_remain", 'i', sb_pkt_remain },
	{ "send_pos", 'i', sb_send_pos },
	{ "send_remain", 'i', sb_send_remain },
	{ "pkt_avail", 'i', sb_pkt_avail },
	{ "send_avail", 'i', sb_send_remain },
	COLS_END,
};

static const struct colset socket_set = { { socket_cols_118, socket_cols_later } };
static const struct colset socket_debug_set = { { socket_cols_118, sbuf_cols, socket_cols_later } };

/* What to list: clients, servers, or both with buffer positions. */
enum socket_view { VIEW_CLIENTS, VIEW_SERVERS, VIEW_SOCKETS, VIEW_ACTIVE_SOCKETS };

struct socket_listing {
	struct resultset rs;
	const struct colset *set;
	bool debug;		/* SOCKETS' state names */
	bool only_busy;		/* ACTIVE_SOCKETS: sockets with buffered data */
};

static void list_rows(struct socket_listing *sl, struct list_node *list, const char *state)
{
	struct list_node *n;

	list_for_each(n, list) {
		struct socket_row row = { .sk = container_of(n, struct pgsocket, node), .state = state };
		if (sl->only_busy && !sbuf_has_pending_input(&row.sk->sbuf) && !sbuf_has_pending_output(&row.sk->sbuf))
			continue;
		row.waited = socket_wait(row.sk, sl->rs.now);
		local_address(row.sk, &row.local);
		rs_row(&sl->rs, sl->set, &row);
	}
}

static void lists_rows(struct socket_listing *sl, struct pgpool *pool, const struct sock_list *lists, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *state = sl->debug ? lists[i].debug_state : lists[i].state;
		if (state)
			list_rows(sl, pool_list(pool, &lists[i]), state);
	}
}

static void show_socket_view(struct admin_cmd *c, enum socket_view view)
{
	struct socket_listing sl = {
		.debug = view == VIEW_SOCKETS || view == VIEW_ACTIVE_SOCKETS,
		.only_busy = view == VIEW_ACTIVE_SOCKETS,
	};
	struct sorted pools;

	sl.set = sl.debug ? &socket_debug_set : &socket_set;
	rs_begin(&sl.rs, &c->pb, sl.set);
	sorted_init(&pools, &pooler.pools, cmp_pool);
	for (int i = 0; i < pools.n; i++) {
		if (view != VIEW_SERVERS)
			lists_rows(&sl, POOL_AT(&pools, i), client_lists, n_client_lists);
		if (view != VIEW_CLIENTS)
			lists_rows(&sl, POOL_AT(&pools, i), server_lists, n_server_lists);
	}
	if (sl.debug)
		list_rows(&sl, &pooler.login_clients, "cl_login");
	sorted_free(&pools);
	cmd_ready(c, "SHOW");
}

static void show_clients(struct admin_cmd *c) { show_socket_view(c, VIEW_CLIENTS); }
static void show_servers(struct admin_cmd *c) { show_socket_view(c, VIEW_SERVERS); }
static void show_sockets(struct admin_cmd *c) { show_socket_view(c, VIEW_SOCKETS); }
static void show_active_sockets(struct admin_cmd *c) { show_socket_view(c, VIEW_ACTIVE_SOCKETS); }

/* ================================================================
 * SHOW POOLS
 * ================================================================ */

#define POOL(p) ((struct pgpool *)(p))
#define POOL_COUNT(field) rs_int(rs, list_count(&POOL(p)->field))

/* The oldest waiting client went first into the FIFO queue. */
static usec_t pool_max_wait(struct pgpool *pool, usec_t now)
{
	struct list_node *n = list_first(&pool->waiting_clients);
	if (!n)
		return 0;
	return socket_wait(container_of(n, struct pgsocket, node), now);
}

static void pool_database(struct resultset *rs, const void *p) { rs_str(rs, POOL(p)->db->name); }
static void pool_user(struct resultset *rs, const void *p) { rs_str(rs, POOL(p)->user->name); }
static void pool_cl_active(struct resultset *rs, const void *p) { POOL_COUNT(active_clients); }
static void pool_cl_waiting(struct resultset *rs, const void *p) { POOL_COUNT(waiting_clients); }
static void pool_cl_waiting_cancel(struct resultset *rs, const void *p) { POOL_COUNT(cancel_clients); }
static void pool_sv_active(struct resultset *rs, const void *p) { POOL_COUNT(active_servers); }
static void pool_sv_idle(struct resultset *rs, const void *p) { POOL_COUNT(idle_servers); }
static void pool_sv_used(struct resultset *rs, const void *p) { POOL_COUNT(used_servers); }
static void pool_sv_tested(struct resultset *rs, const void *p) { POOL_COUNT(tested_servers); }
static void pool_sv_login(struct resultset *rs, const void *p) { POOL_COUNT(login_servers); }
static void pool_maxwait(struct resultset *rs, const void *p)
{
	rs_int(rs, (int64_t)(pool_max_wait(POOL(p), rs->now) / USEC_PER_SEC));
}
static void pool_maxwait_us(struct resultset *rs, const void *p)
{
	rs_int(rs, (int64_t)(pool_max_wait(POOL(p), rs->now) % USEC_PER_SEC));
}
static void pool_pool_mode(struct resultset *rs, const void *p) { rs_str(rs, pool_mode_name(pool_mode_of(POOL(p)))); }
static void pool_load_balance(struct resultset *rs, const void *p) { rs_str(rs, load_balance_hosts(POOL(p)->db)); }

static const struct column pools_cols_118[] = {
	{ "database", 's', pool_database },
	{ "user", 's', pool_user },
	{ "cl_active", 'i', pool_cl_active },
	{ "cl_waiting", 'i', pool_cl_waiting },
	{ "cl_active_cancel_req", 'i', put_zero },
	{ "cl_waiting_cancel_req", 'i', pool_cl_waiting_cancel },
	{ "sv_active", 'i', pool_sv_active },
	{ "sv_active_cancel", 'i', put_zero },
	{ "sv_being_canceled", 'i', put_zero },
	{ "sv_idle", 'i', pool_sv_idle },
	{ "sv_used", 'i', pool_sv_used },
	{ "sv_tested", 'i', pool_sv_tested },
	{ "sv_login", 'i', pool_sv_login },
	{ "maxwait", 'i', pool_maxwait },
	{ "maxwait_us", 'i', pool_maxwait_us },
	{ "pool_mode", 's', pool_pool_mode },
	COLS_END,
};

static const struct column pools_cols_later[] = {
	{ "load_balance_hosts", 's', pool_load_balance },
	COLS_END,
};

static const struct colset pools_set = { { pools_cols_118, pools_cols_later } };

static void show_pools(struct admin_cmd *c)
{
	struct resultset rs;
	struct sorted pools;

	rs_begin(&rs, &c->pb, &pools_set);
	sorted_init(&pools, &pooler.pools, cmp_pool);
	for (int i = 0; i < pools.n; i++)
		rs_row(&rs, &pools_set, POOL_AT(&pools, i));
	sorted_free(&pools);
	cmd_ready(c, "SHOW");
}

/* ================================================================
 * SHOW DATABASES
 * ================================================================ */

#define DB(p) ((const struct pgdatabase *)(p))

static void db_name(struct resultset *rs, const void *p) { rs_str(rs, DB(p)->name); }
static void db_host(struct resultset *rs, const void *p) { rs_str(rs, DB(p)->host && DB(p)->host[0] ? DB(p)->host : NULL); }
static void db_port(struct resultset *rs, const void *p) { rs_int(rs, DB(p)->port); }
static void db_database(struct resultset *rs, const void *p) { rs_str(rs, DB(p)->dbname); }
static void db_force_user(struct resultset *rs, const void *p)
{
	rs_str(rs, DB(p)->forced_user ? DB(p)->forced_user->name : NULL);
}
static void db_pool_size(struct resultset *rs, const void *p)
{
	rs_int(rs, own_or_global(DB(p)->pool_size, cf->default_pool_size));
}
static void db_min_pool_size(struct resultset *rs, const void *p)
{
	rs_int(rs, own_or_global(DB(p)->min_pool_size, cf->min_pool_size));
}
static void db_reserve_pool(struct resultset *rs, const void *p)
{
	rs_int(rs, own_or_global(DB(p)->reserve_pool, cf->reserve_pool_size));
}
static void db_pool_mode(struct resultset *rs, const void *p)
{
	rs_str(rs, DB(p)->pool_mode != POOL_INHERIT ? pool_mode_name(DB(p)->pool_mode) : NULL);
}
static void db_max_connections(struct resultset *rs, const void *p)
{
	rs_int(rs, own_or_global(DB(p)->max_db_connections, cf->max_db_connections));
}
static void db_current_connections(struct resultset *rs, const void *p) { rs_int(rs, DB(p)->server_count); }
static void db_paused(struct resultset *rs, const void *p) { rs_int(rs, DB(p)->paused); }
static void db_disabled(struct resultset *rs, const void *p) { rs_int(rs, DB(p)->disabled); }
static void db_server_lifetime(struct resultset *rs, const void *p)
{
	usec_t lifetime = DB(p)->server_lifetime ? DB(p)->server_lifetime : cf->server_lifetime;
	rs_int(rs, (int64_t)(lifetime / USEC_PER_SEC));
}
static void db_load_balance(struct resultset *rs, const void *p) { rs_str(rs, load_balance_hosts(DB(p))); }
static void db_max_client_connections(struct resultset *rs, const void *p)
{
	rs_int(rs, own_or_global(DB(p)->max_db_client_connections, cf->max_db_client_connections));
}
static void db_current_client_connections(struct resultset *rs, const void *p) { rs_int(rs, DB(p)->client_count); }

static const struct column databases_cols_118[] = {
	{ "name", 's', db_name },
	{ "host", 's', db_host },
	{ "port", 'i', db_port },
	{ "database", 's', db_database },
	{ "force_user", 's', db_force_user },
	{ "pool_size", 'i', db_pool_size },
	{ "min_pool_size", 'i', db_min_pool_size },
	{ "reserve_pool", 'i', db_reserve_pool },
	{ "pool_mode", 's', db_pool_mode },
	{ "max_connections", 'i', db_max_connections },
	{ "current_connections", 'i', db_current_connections },
	{ "paused", 'i', db_paused },
	{ "disabled", 'i', db_disabled },
	COLS_END,
};

/* Later versions renamed reserve_pool to reserve_pool_size: both are here. */
static const struct column databases_cols_later[] = {
	{ "reserve_pool_size", 'i', db_reserve_pool },
	{ "server_lifetime", 'i', db_server_lifetime },
	{ "load_balance_hosts", 's', db_load_balance },
	{ "max_client_connections", 'i', db_max_client_connections },
	{ "current_client_connections", 'i', db_current_client_connections },
	COLS_END,
};

static const struct colset databases_set = { { databases_cols_118, databases_cols_later } };

static void show_databases(struct admin_cmd *c)
{
	struct resultset rs;
	struct sorted dbs;

	rs_begin(&rs, &c->pb, &databases_set);
	sorted_init(&dbs, &pooler.databases, cmp_db);
	for (int i = 0; i < dbs.n; i++) {
		if (!DB_AT(&dbs, i)->db_dead)
			rs_row(&rs, &databases_set, DB_AT(&dbs, i));
	}
	sorted_free(&dbs);
	cmd_ready(c, "SHOW");
}

/* ================================================================
 * SHOW USERS
 * ================================================================ */

#define USER(p) ((const struct pguser *)(p))

/* PgBouncer prints these two as text, "%9d", empty when not set. */
static void put_size_text(struct resultset *rs, int v)
{
	char buf[16] = "";
	if (v >= 0)
		snprintf(buf, sizeof(buf), "%9d", v);
	rs_str(rs, buf);
}

static const struct user_def *user_def_of(const void *p)
{
	return config_find_user(cf, USER(p)->name);
}

static void user_name(struct resultset *rs, const void *p) { rs_str(rs, USER(p)->name); }
static void user_pool_mode(struct resultset *rs, const void *p)
{
	rs_str(rs, USER(p)->pool_mode != POOL_INHERIT ? pool_mode_name(USER(p)->pool_mode) : NULL);
}
static void user_pool_size(struct resultset *rs, const void *p)
{
	put_size_text(rs, user_def_of(p) ? user_def_of(p)->pool_size : -1);
}
static void user_reserve_pool_size(struct resultset *rs, const void *p)
{
	put_size_text(rs, user_def_of(p) ? user_def_of(p)->reserve_pool_size : -1);
}
static void user_max_connections(struct resultset *rs, const void *p)
{
	rs_int(rs, own_or_global(USER(p)->max_user_connections, cf->max_user_connections));
}
static void user_current_connections(struct resultset *rs, const void *p) { rs_int(rs, USER(p)->server_count); }
static void user_max_client_connections(struct resultset *rs, const void *p)
{
	rs_int(rs, own_or_global(USER(p)->max_user_client_connections, cf->max_user_client_connections));
}
static void user_current_client_connections(struct resultset *rs, const void *p) { rs_int(rs, USER(p)->client_count); }

static const struct column users_cols_118[] = {
	{ "name", 's', user_name },
	{ "pool_mode", 's', user_pool_mode },
	COLS_END,
};

static const struct column users_cols_later[] = {
	{ "pool_size", 's', user_pool_size },
	{ "reserve_pool_size", 's', user_reserve_pool_size },
	{ "max_user_connections", 'i', user_max_connections },
	{ "current_connections", 'i', user_current_connections },
	{ "max_user_client_connections", 'i', user_max_client_connections },
	{ "current_client_connections", 'i', user_current_client_connections },
	COLS_END,
};

static const struct colset users_set = { { users_cols_118, users_cols_later } };

/* A database's user= is not a user of its own, except the console's
 * "pgbouncer", which PgBouncer creates as an ordinary user (once, and only
 * if the auth_file has no "pgbouncer" of its own). */
bool user_is_listed(const struct pguser *u)
{
	const struct pgdatabase *console_db;

	if (!u->forced)
		return true;
	console_db = find_database(ADMIN_DBNAME);
	return console_db && u == console_db->forced_user && !find_user(ADMIN_DBNAME);
}

static void show_users(struct admin_cmd *c)
{
	struct resultset rs;
	struct sorted users;

	rs_begin(&rs, &c->pb, &users_set);
	sorted_init(&users, &pooler.users, cmp_user);
	for (int i = 0; i < users.n; i++) {
		if (user_is_listed(USER_AT(&users, i)))
			rs_row(&rs, &users_set, USER_AT(&users, i));
	}
	sorted_free(&users);
	cmd_ready(c, "SHOW");
}

/* ================================================================
 * Dispatch
 * ================================================================ */

static const struct command show_commands[] = {
	{ "active_sockets", show_active_sockets },
	{ "clients", show_clients },
	{ "config", show_config },
	{ "databases", show_databases },
	{ "dns_hosts", show_dns_hosts },
	{ "dns_zones", show_dns_zones },
	{ "fds", show_fds },
	{ "help", show_help },
	{ "lists", show_lists },
	{ "mem", show_mem },
	{ "peer_pools", show_peer_pools },
	{ "peers", show_peers },
	{ "plugins", show_plugins },
	{ "plugin_counters", show_plugin_counters },
	{ "pools", show_pools },
	{ "servers", show_servers },
	{ "sockets", show_sockets },
	{ "state", show_state },
	{ "stats", show_stats },
	{ "stats_averages", show_stats_averages },
	{ "stats_totals", show_stats_totals },
	{ "totals", show_totals },
	{ "users", show_users },
	{ "version", show_version },
	{ NULL, NULL },
};

void cmd_show(struct admin_cmd *c)
{
	if (show_fake_param(c))
		return;
	/* SHOW's argument names the result set; the SHOW functions take none. */
	const char *what = c->arg;
	c->arg = "";
	if (!run_command(show_commands, what, c) && !show_plugin_command(c, what))
		syntax_error(c);
}

bool admin_show_exists(const char *name)
{
	for (const struct command *cmd = show_commands; cmd->word; cmd++) {
		if (strcasecmp(cmd->word, name) == 0)
			return true;
	}
	return false;
}
