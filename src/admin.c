/*
 * The admin console (databases "pgbouncer" and "pgwarden"): a client whose
 * "server" is the pooler itself.  Simple query protocol only, as PgBouncer.
 *
 * Layout of this file:
 *   setup and access       the console databases, who may log in
 *   result sets            RowDescription/DataRow built from type letters
 *   SHOW commands          one small function per command, column tables
 *   process control        PAUSE, RESUME, SUSPEND, KILL, RECONNECT, ...
 *   waiting commands       PAUSE/SUSPEND/WAIT_CLOSE answered by the janitor
 *   parsing and dispatch   PgBouncer's grammar, with its own regexes
 *
 * Column lists are those of the current PgBouncer (the compatibility
 * reference, §2); PgBouncer 1.18 has a subset of them.
 */
#include "pgwarden.h"
#include "pgwarden/version.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define VERSION_TEXT PGWARDEN_NAME " " PGWARDEN_VERSION_STRING

/* ================================================================
 * Setup and access
 * ================================================================ */

static void register_admin_db(const char *name)
{
	struct pgdatabase *db = find_database(name);
	if (!db) {
		struct db_def def;
		memset(&def, 0, sizeof(def));
		def.name = (char *)name;
		def.port = cf->listen_port;
		/* As PgBouncer: every console client shares the pool of the
		 * forced user "pgbouncer", whoever logged in. */
		def.user = (char *)ADMIN_DBNAME;
		def.pool_size = 2;
		def.min_pool_size = -1;
		def.reserve_pool = -1;
		def.pool_mode = POOL_STMT;
		def.max_db_connections = -1;
		def.max_db_client_connections = -1;
		def.server_lifetime = -1;
		db = register_database(&def, false, NULL);
	}
	db->is_admin = true;
	db->db_dead = false;
}

void admin_setup(void)
{
	register_admin_db(ADMIN_DBNAME);
	register_admin_db(ADMIN_DBNAME_ALIAS);
}

bool admin_peer_login(struct pgsocket *client)
{
	return client->is_unix && client->peer_uid >= 0 && (uid_t)client->peer_uid == geteuid() &&
	       strcmp(client->user_name, ADMIN_DBNAME) == 0;
}

bool admin_check_access(struct pgsocket *client)
{
	if (admin_peer_login(client) || config_list_contains(cf->admin_users, client->user_name)) {
		client->admin_user = true;
		return true;
	}
	if (config_list_contains(cf->stats_users, client->user_name)) {
		client->stats_user = true;
		return true;
	}
	disconnect_client_sqlstate(client, "08P01", "not allowed");
	return false;
}

void admin_prepare_pool(struct pgpool *pool)
{
	static const char *const params[][2] = {
		{ "server_version", "1.18.0/bouncer" },
		{ "client_encoding", "UTF8" },
		{ "server_encoding", "UTF8" },
		{ "DateStyle", "ISO" },
		{ "TimeZone", "GMT" },
		{ "standard_conforming_strings", "on" },
		{ "is_superuser", "on" },
	};
	if (pool->welcome_ready)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(params); i++) {
		pktbuf_param_status(&pool->welcome, params[i][0], params[i][1]);
		varcache_set(&pool->server_defaults, params[i][0], params[i][1]);
	}
	pool->welcome_ready = true;
}

/* ================================================================
 * Console state
 * ================================================================ */

/* A command that is answered later, by the janitor. */
enum wait_kind { WAIT_PAUSE, WAIT_SUSPEND, WAIT_CLOSE };

struct waiting_cmd {
	uint64_t client_id;		/* not a pointer: the client may be freed meanwhile */
	enum wait_kind kind;
	char dbname[MAX_DBNAME];	/* "" = the whole pooler */
};

enum shutdown_mode { SHUTDOWN_NONE, SHUTDOWN_WAIT_FOR_SERVERS, SHUTDOWN_WAIT_FOR_CLIENTS };

static struct console {
	struct waiting_cmd *waiting;
	int n_waiting;
	int cap_waiting;
	usec_t suspend_start;
	enum shutdown_mode shutdown;

	bool regex_ready;
	regex_t rx_cmd;
	regex_t rx_set_word;
	regex_t rx_set_str;
} console;

/* One command being answered: the reply is built in pb and sent at the end. */
struct admin_cmd {
	struct pgsocket *client;
	const char *query;	/* the whole query, for "invalid command" */
	const char *arg;	/* "" when none */
	struct pktbuf pb;
};

static void cmd_ready(struct admin_cmd *c, const char *tag)
{
	pktbuf_begin(&c->pb, 'C');
	pktbuf_put_string(&c->pb, tag);
	pktbuf_end(&c->pb);
	pktbuf_ready(&c->pb, 'I');
}

static void cmd_error_state(struct admin_cmd *c, const char *sqlstate, const char *fmt, ...) PRINTF_LIKE(3, 4);

static void cmd_error_state(struct admin_cmd *c, const char *sqlstate, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s", msg);
	if (cf->log_pooler_errors)
		slog_warning(c->client, "pooler error: %s", msg);
	pktbuf_error(&c->pb, "ERROR", sqlstate, msg);
	pktbuf_ready(&c->pb, 'I');
}

#define cmd_error(c, ...) cmd_error_state(c, "08P01", __VA_ARGS__)

static void syntax_error(struct admin_cmd *c)
{
	cmd_error(c, "invalid command '%s', use SHOW HELP;", c->query);
}

/* Control commands need admin_users; stats_users may only look. */
static bool need_admin(struct admin_cmd *c)
{
	if (c->client->admin_user)
		return true;
	cmd_error(c, "admin access needed");
	return false;
}

/* ================================================================
 * Result sets
 * ================================================================ */

/*
 * PgBouncer's type letters: i int4, q int8, N numeric (uint64), s text,
 * T timestamp (sent as text), b bytea.
 */
static void put_column_type(struct pktbuf *pb, char type)
{
	uint32_t oid = 25;
	int16_t len = -1;

	switch (type) {
	case 'i': oid = 23; len = 4; break;
	case 'q': oid = 20; len = 8; break;
	case 'N': oid = 1700; break;
	case 'b': oid = 17; break;
	default: break;		/* s, T: text */
	}
	pktbuf_put_u32(pb, oid);
	pktbuf_put_u16(pb, (uint16_t)len);
}

struct resultset {
	struct pktbuf *pb;
	const char *types;	/* one letter per column */
	int ncols;
	int col;		/* next column of the row being built */
	size_t row_start;
	usec_t now;		/* monotonic */
	usec_t wall_offset;	/* wall clock - monotonic clock, for T columns */
};

/* NULL-terminated column names; types has one letter for each. */
static void rs_begin(struct resultset *rs, struct pktbuf *pb, const char *types, const char *const *names)
{
	int n = 0;

	memset(rs, 0, sizeof(*rs));
	rs->pb = pb;
	rs->types = types;
	rs->ncols = (int)strlen(types);
	rs->now = get_time_usec();
	rs->wall_offset = get_wall_usec() - rs->now;
	pktbuf_begin(pb, 'T');
	pktbuf_put_u16(pb, (uint16_t)rs->ncols);
	for (int i = 0; i < rs->ncols; i++) {
		if (names[n])
			pktbuf_put_string(pb, names[n++]);
		else
			pktbuf_put_string(pb, "?");
		pktbuf_put_u32(pb, 0);		/* table */
		pktbuf_put_u16(pb, 0);		/* column */
		put_column_type(pb, types[i]);
		pktbuf_put_u32(pb, 0xffffffffu);	/* typmod -1 */
		pktbuf_put_u16(pb, 0);		/* text format */
	}
	pktbuf_end(pb);
	/* Extra names are fine: SHOW CLIENTS uses a prefix of SOCKETS' list. */
	if (n != rs->ncols)
		log_error("admin: fewer column names than types for %s", names[0] ? names[0] : "?");
}

static void rs_row_begin(struct resultset *rs)
{
	rs->col = 0;
	pktbuf_begin(rs->pb, 'D');
	pktbuf_put_u16(rs->pb, (uint16_t)rs->ncols);
}

static void rs_put_bytes(struct resultset *rs, const void *data, int len)
{
	if (rs->col >= rs->ncols)
		return;
	rs->col++;
	pktbuf_put_u32(rs->pb, (uint32_t)len);
	if (len > 0)
		pktbuf_put_bytes(rs->pb, data, (size_t)len);
}

/* Text value; NULL is SQL NULL. */
static void rs_str(struct resultset *rs, const char *s)
{
	rs_put_bytes(rs, s, s ? (int)strlen(s) : -1);
}

static void rs_int(struct resultset *rs, int64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%" PRId64, v);
	rs_str(rs, buf);
}

static void rs_uint(struct resultset *rs, uint64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	rs_str(rs, buf);
}

/* A monotonic timestamp, shown in local time like PgBouncer. */
static void rs_time(struct resultset *rs, usec_t mono)
{
	char buf[64];
	struct tm tm;
	time_t t = (time_t)((mono + rs->wall_offset) / USEC_PER_SEC);

	if (!mono || !localtime_r(&t, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %Z", &tm)) {
		rs_str(rs, NULL);
		return;
	}
	rs_str(rs, buf);
}

static void rs_row_end(struct resultset *rs)
{
	/* A short row would break the protocol: pad it, and say so. */
	if (rs->col < rs->ncols)
		log_error("admin: row with %d of %d columns", rs->col, rs->ncols);
	while (rs->col < rs->ncols)
		rs_str(rs, NULL);
	pktbuf_end(rs->pb);
}

/* A fixed list of columns; the socket one is used with fewer columns too. */
struct colset {
	const char *types;
	const char *names[32];
};

static void rs_begin_set(struct resultset *rs, struct pktbuf *pb, const struct colset *set)
{
	rs_begin(rs, pb, set->types, set->names);
}

/* ================================================================
 * Ordered views of the object lists (PgBouncer keeps them sorted by name)
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

/* ================================================================
 * Socket lists of a pool, with the state names SHOW prints
 * ================================================================ */

struct sock_list {
	size_t offset;		/* of the list head in struct pgpool */
	const char *state;	/* SHOW CLIENTS / SERVERS */
	const char *debug_state;	/* SHOW SOCKETS; NULL: not listed there */
};

#define POOL_LIST(field) offsetof(struct pgpool, field)

static const struct sock_list client_lists[] = {
	{ POOL_LIST(active_clients), "active", "cl_active" },
	{ POOL_LIST(waiting_clients), "waiting", "cl_waiting" },
	{ POOL_LIST(cancel_clients), "waiting_cancel_req", NULL },
};

static const struct sock_list server_lists[] = {
	{ POOL_LIST(active_servers), "active", "sv_active" },
	{ POOL_LIST(idle_servers), "idle", "sv_idle" },
	{ POOL_LIST(used_servers), "used", "sv_used" },
	{ POOL_LIST(tested_servers), "tested", "sv_tested" },
	{ POOL_LIST(login_servers), "new", "sv_login" },
};

static struct list_node *pool_list(struct pgpool *pool, const struct sock_list *l)
{
	return (struct list_node *)((char *)pool + l->offset);
}

static int pool_server_total(struct pgpool *pool)
{
	int n = 0;
	for (size_t i = 0; i < ARRAY_SIZE(server_lists); i++)
		n += list_count(pool_list(pool, &server_lists[i]));
	return n;
}

static bool is_admin_pool(const struct pgpool *pool)
{
	return pool->db->is_admin;
}

/* Does the pool belong to dbname ("" = every non-console database)? */
static bool pool_in_scope(const struct pgpool *pool, const char *dbname)
{
	if (is_admin_pool(pool))
		return false;
	return !dbname[0] || strcmp(pool->db->name, dbname) == 0;
}

/* Close every socket of a list: pop-first, so the list may change under us. */
static void close_sockets(struct list_node *list, const char *reason)
{
	struct list_node *n;

	while ((n = list_first(list)) != NULL) {
		struct pgsocket *sk = container_of(n, struct pgsocket, node);
		if (sk->is_server)
			disconnect_server(sk, true, "%s", reason);
		else
			disconnect_client(sk, true, "%s", reason);
		if (list_first(list) == n)
			break;	/* did not leave the list: do not spin */
	}
}

/* ================================================================
 * SHOW: sockets (CLIENTS, SERVERS, SOCKETS, ACTIVE_SOCKETS)
 * ================================================================ */

static const struct colset socket_cols = {
	"ssssssisiTTiiississii" "iiiiiii",
	{ "type", "user", "database", "replication", "state", "addr", "port", "local_addr", "local_port",
	  "connect_time", "request_time", "wait", "wait_us", "close_needed", "ptr", "link", "remote_pid",
	  "tls", "application_name", "prepared_statements", "id",
	  /* SOCKETS only */
	  "recv_pos", "pkt_pos", "pkt_remain", "send_pos", "send_remain", "pkt_avail", "send_avail", NULL },
};
#define SOCKET_STD_COLS 21

static void addr_text(const struct sockaddr_storage *ss, char *buf, size_t len, int *port)
{
	buf[0] = '\0';
	*port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;
		inet_ntop(AF_INET, &in->sin_addr, buf, (socklen_t)len);
		*port = ntohs(in->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, buf, (socklen_t)len);
		*port = ntohs(in6->sin6_port);
	} else if (ss->ss_family == AF_UNIX) {
		snprintf(buf, len, "unix");
	}
}

/* A unix socket has no port: PgBouncer shows the port its path was made from. */
static int unix_port(const struct pgsocket *sk)
{
	return sk->is_server && sk->db ? sk->db->port : cf->listen_port;
}

static void put_address(struct resultset *rs, const struct pgsocket *sk, const struct sockaddr_storage *ss)
{
	char buf[INET6_ADDRSTRLEN + 8];
	int port;

	addr_text(ss, buf, sizeof(buf), &port);
	if (ss->ss_family == AF_UNIX)
		port = unix_port(sk);
	rs_str(rs, buf);
	rs_int(rs, port);
}

/* Servers' local address is not kept: ask the kernel. */
static void local_address(const struct pgsocket *sk, struct sockaddr_storage *ss)
{
	socklen_t len = sizeof(*ss);

	*ss = sk->local_addr;
	if (ss->ss_family == AF_UNSPEC && sk->sbuf.fd >= 0 &&
	    getsockname(sk->sbuf.fd, (struct sockaddr *)ss, &len) < 0)
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

static void put_sbuf_debug(struct resultset *rs, const struct sbuf *sb)
{
	rs_int(rs, sb->recv_pos);
	rs_int(rs, sb->parse_pos);
	rs_int(rs, sb->pkt_remain);
	rs_int(rs, (int64_t)sb->opos);
	rs_int(rs, (int64_t)(sb->olen - sb->opos));
	rs_int(rs, sb->recv_pos - sb->parse_pos);
	rs_int(rs, (int64_t)(sb->olen - sb->opos));
}

static void socket_row(struct resultset *rs, const struct pgsocket *sk, const char *state, bool debug)
{
	char ptr[32], linkbuf[32] = "";
	struct sockaddr_storage local;
	usec_t waited = socket_wait(sk, rs->now);

	snprintf(ptr, sizeof(ptr), "%p", (const void *)sk);
	if (sk->link)
		snprintf(linkbuf, sizeof(linkbuf), "%p", (const void *)sk->link);
	local_address(sk, &local);

	rs_row_begin(rs);
	rs_str(rs, sk->is_server ? "S" : "C");
	rs_str(rs, sk->login_user ? sk->login_user->name : "(nouser)");
	rs_str(rs, sk->db ? sk->db->name : "(nodb)");
	rs_str(rs, "none");
	/* A client in the active list without a server is idle. */
	rs_str(rs, !sk->link && strcmp(state, "active") == 0 ? "idle" : state);
	put_address(rs, sk, &sk->remote_addr);
	put_address(rs, sk, &local);
	rs_time(rs, sk->connect_time);
	rs_time(rs, sk->request_time);
	rs_int(rs, (int64_t)(waited / USEC_PER_SEC));
	rs_int(rs, (int64_t)(waited % USEC_PER_SEC));
	rs_int(rs, sk->close_needed);
	rs_str(rs, ptr);
	rs_str(rs, linkbuf);
	rs_int(rs, remote_pid(sk));
	rs_str(rs, "");
	rs_str(rs, sk->vars.value[VAR_APPNAME]);
	rs_int(rs, 0);
	rs_uint(rs, sk->id);
	if (debug)
		put_sbuf_debug(rs, &sk->sbuf);
	rs_row_end(rs);
}

static void list_rows(struct resultset *rs, struct list_node *list, const char *state, bool debug, bool only_busy)
{
	struct list_node *n;
	list_for_each(n, list) {
		struct pgsocket *sk = container_of(n, struct pgsocket, node);
		if (only_busy && !sbuf_has_pending_input(&sk->sbuf) && !sbuf_has_pending_output(&sk->sbuf))
			continue;
		socket_row(rs, sk, state, debug);
	}
}

static void lists_rows(struct resultset *rs, struct pgpool *pool, const struct sock_list *lists, size_t n,
		       bool debug, bool only_busy)
{
	for (size_t i = 0; i < n; i++) {
		const char *state = debug ? lists[i].debug_state : lists[i].state;
		if (state)
			list_rows(rs, pool_list(pool, &lists[i]), state, debug, only_busy);
	}
}

/* What to list: clients, servers, or both with buffer positions. */
enum socket_view { VIEW_CLIENTS, VIEW_SERVERS, VIEW_SOCKETS, VIEW_ACTIVE_SOCKETS };

static void show_socket_view(struct admin_cmd *c, enum socket_view view)
{
	bool debug = view == VIEW_SOCKETS || view == VIEW_ACTIVE_SOCKETS;
	bool only_busy = view == VIEW_ACTIVE_SOCKETS;
	char types[64];
	struct resultset rs;
	struct sorted pools;

	/* SHOW CLIENTS/SERVERS have the first 21 columns only. */
	snprintf(types, sizeof(types), "%.*s", debug ? 64 : SOCKET_STD_COLS, socket_cols.types);
	rs_begin(&rs, &c->pb, types, socket_cols.names);
	sorted_init(&pools, &pooler.pools, cmp_pool);
	for (int i = 0; i < pools.n; i++) {
		struct pgpool *pool = POOL_AT(&pools, i);
		if (view != VIEW_SERVERS)
			lists_rows(&rs, pool, client_lists, ARRAY_SIZE(client_lists), debug, only_busy);
		if (view != VIEW_CLIENTS)
			lists_rows(&rs, pool, server_lists, ARRAY_SIZE(server_lists), debug, only_busy);
	}
	if (debug)
		list_rows(&rs, &pooler.login_clients, "cl_login", debug, only_busy);
	sorted_free(&pools);
	cmd_ready(c, "SHOW");
}

static void show_clients(struct admin_cmd *c) { show_socket_view(c, VIEW_CLIENTS); }
static void show_servers(struct admin_cmd *c) { show_socket_view(c, VIEW_SERVERS); }
static void show_sockets(struct admin_cmd *c) { show_socket_view(c, VIEW_SOCKETS); }
static void show_active_sockets(struct admin_cmd *c) { show_socket_view(c, VIEW_ACTIVE_SOCKETS); }

/* ================================================================
 * SHOW: pools, databases, users, lists
 * ================================================================ */

/* "round-robin" is PgBouncer's default; shown only for host lists. */
static const char *load_balance_hosts(const struct pgdatabase *db)
{
	return db->host && strchr(db->host, ',') ? "round-robin" : NULL;
}

static int own_or_global(int own, int global)
{
	return own >= 0 ? own : global;
}

/* The oldest waiting client went first into the FIFO queue. */
static usec_t pool_max_wait(struct pgpool *pool, usec_t now)
{
	struct list_node *n = list_first(&pool->waiting_clients);
	if (!n)
		return 0;
	return socket_wait(container_of(n, struct pgsocket, node), now);
}

static const struct colset pools_cols = {
	"ssiiiiiiiiiiiiiss",
	{ "database", "user", "cl_active", "cl_waiting", "cl_active_cancel_req", "cl_waiting_cancel_req",
	  "sv_active", "sv_active_cancel", "sv_being_canceled", "sv_idle", "sv_used", "sv_tested", "sv_login",
	  "maxwait", "maxwait_us", "pool_mode", "load_balance_hosts", NULL },
};

static void show_pools(struct admin_cmd *c)
{
	struct resultset rs;
	struct sorted pools;

	rs_begin_set(&rs, &c->pb, &pools_cols);
	sorted_init(&pools, &pooler.pools, cmp_pool);
	for (int i = 0; i < pools.n; i++) {
		struct pgpool *pool = POOL_AT(&pools, i);
		usec_t waited = pool_max_wait(pool, rs.now);
		rs_row_begin(&rs);
		rs_str(&rs, pool->db->name);
		rs_str(&rs, pool->user->name);
		rs_int(&rs, list_count(&pool->active_clients));
		rs_int(&rs, list_count(&pool->waiting_clients));
		rs_int(&rs, 0);
		rs_int(&rs, list_count(&pool->cancel_clients));
		rs_int(&rs, list_count(&pool->active_servers));
		rs_int(&rs, 0);
		rs_int(&rs, 0);
		rs_int(&rs, list_count(&pool->idle_servers));
		rs_int(&rs, list_count(&pool->used_servers));
		rs_int(&rs, list_count(&pool->tested_servers));
		rs_int(&rs, list_count(&pool->login_servers));
		rs_int(&rs, (int64_t)(waited / USEC_PER_SEC));
		rs_int(&rs, (int64_t)(waited % USEC_PER_SEC));
		rs_str(&rs, pool_mode_name(pool_mode_of(pool)));
		rs_str(&rs, load_balance_hosts(pool->db));
		rs_row_end(&rs);
	}
	sorted_free(&pools);
	cmd_ready(c, "SHOW");
}

static const struct colset databases_cols = {
	"ssissiiiissiiiiii",
	{ "name", "host", "port", "database", "force_user", "pool_size", "min_pool_size", "reserve_pool_size",
	  "server_lifetime", "pool_mode", "load_balance_hosts", "max_connections", "current_connections",
	  "max_client_connections", "current_client_connections", "paused", "disabled", NULL },
};

static void database_row(struct resultset *rs, const struct pgdatabase *db)
{
	usec_t lifetime = db->server_lifetime ? db->server_lifetime : cf->server_lifetime;

	rs_row_begin(rs);
	rs_str(rs, db->name);
	rs_str(rs, db->host && db->host[0] ? db->host : NULL);
	rs_int(rs, db->port);
	rs_str(rs, db->dbname);
	rs_str(rs, db->forced_user ? db->forced_user->name : NULL);
	rs_int(rs, own_or_global(db->pool_size, cf->default_pool_size));
	rs_int(rs, own_or_global(db->min_pool_size, cf->min_pool_size));
	rs_int(rs, own_or_global(db->reserve_pool, cf->reserve_pool_size));
	rs_int(rs, (int64_t)(lifetime / USEC_PER_SEC));
	rs_str(rs, db->pool_mode != POOL_INHERIT ? pool_mode_name(db->pool_mode) : NULL);
	rs_str(rs, load_balance_hosts(db));
	rs_int(rs, own_or_global(db->max_db_connections, cf->max_db_connections));
	rs_int(rs, db->server_count);
	rs_int(rs, own_or_global(db->max_db_client_connections, cf->max_db_client_connections));
	rs_int(rs, db->client_count);
	rs_int(rs, db->paused);
	rs_int(rs, db->disabled);
	rs_row_end(rs);
}

static void show_databases(struct admin_cmd *c)
{
	struct resultset rs;
	struct sorted dbs;

	rs_begin_set(&rs, &c->pb, &databases_cols);
	sorted_init(&dbs, &pooler.databases, cmp_db);
	for (int i = 0; i < dbs.n; i++) {
		if (!DB_AT(&dbs, i)->db_dead)
			database_row(&rs, DB_AT(&dbs, i));
	}
	sorted_free(&dbs);
	cmd_ready(c, "SHOW");
}

static const struct colset users_cols = {
	"ssssiiii",
	{ "name", "pool_size", "reserve_pool_size", "pool_mode", "max_user_connections", "current_connections",
	  "max_user_client_connections", "current_client_connections", NULL },
};

/* PgBouncer prints these two as text, "%9d", empty when not set. */
static void rs_size_text(struct resultset *rs, int v)
{
	char buf[16] = "";
	if (v >= 0)
		snprintf(buf, sizeof(buf), "%9d", v);
	rs_str(rs, buf);
}

static void user_row(struct resultset *rs, const struct pguser *u)
{
	const struct user_def *ud = config_find_user(cf, u->name);

	rs_row_begin(rs);
	rs_str(rs, u->name);
	rs_size_text(rs, ud ? ud->pool_size : -1);
	rs_size_text(rs, ud ? ud->reserve_pool_size : -1);
	rs_str(rs, u->pool_mode != POOL_INHERIT ? pool_mode_name(u->pool_mode) : NULL);
	rs_int(rs, own_or_global(u->max_user_connections, cf->max_user_connections));
	rs_int(rs, u->server_count);
	rs_int(rs, own_or_global(u->max_user_client_connections, cf->max_user_client_connections));
	rs_int(rs, u->client_count);
	rs_row_end(rs);
}

static void show_users(struct admin_cmd *c)
{
	struct resultset rs;
	struct sorted users;

	rs_begin_set(&rs, &c->pb, &users_cols);
	sorted_init(&users, &pooler.users, cmp_user);
	for (int i = 0; i < users.n; i++) {
		/* A database's user= is not a user of its own. */
		if (!USER_AT(&users, i)->forced)
			user_row(&rs, USER_AT(&users, i));
	}
	sorted_free(&users);
	cmd_ready(c, "SHOW");
}

static int count_live_databases(void)
{
	struct list_node *n;
	int count = 0;
	list_for_each(n, &pooler.databases)
		count += !container_of(n, struct pgdatabase, node)->db_dead;
	return count;
}

static int count_users(void)
{
	struct list_node *n;
	int count = 0;
	list_for_each(n, &pooler.users)
		count += !container_of(n, struct pguser, node)->forced;
	return count;
}

static const struct colset name_int_cols = { "si", { "list", "items", NULL } };

static void name_int_row(struct resultset *rs, const char *name, int64_t value)
{
	rs_row_begin(rs);
	rs_str(rs, name);
	rs_int(rs, value);
	rs_row_end(rs);
}

/* No slab allocator here: "free" lists are always empty.  DNS has no
 * counters yet (dns.c). */
static void show_lists(struct admin_cmd *c)
{
	const struct { const char *name; int value; } rows[] = {
		{ "databases", count_live_databases() },
		{ "users", count_users() },
		{ "peers", 0 },
		{ "pools", list_count(&pooler.pools) },
		{ "peer_pools", 0 },
		{ "free_clients", 0 },
		{ "used_clients", pooler.client_count },
		{ "login_clients", list_count(&pooler.login_clients) },
		{ "free_servers", 0 },
		{ "used_servers", pooler.server_count },
		{ "dns_names", 0 },
		{ "dns_zones", 0 },
		{ "dns_queries", 0 },
		{ "dns_pending", 0 },
	};
	struct resultset rs;

	rs_begin_set(&rs, &c->pb, &name_int_cols);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		name_int_row(&rs, rows[i].name, rows[i].value);
	cmd_ready(c, "SHOW");
}

static const struct colset mem_cols = { "siiii", { "name", "size", "used", "free", "memtotal", NULL } };

/* PgBouncer's slab caches, approximated by object counts and sizes. */
static void show_mem(struct admin_cmd *c)
{
	const struct { const char *name; size_t size; int used; } rows[] = {
		{ "user_cache", sizeof(struct pguser), list_count(&pooler.users) },
		{ "db_cache", sizeof(struct pgdatabase), list_count(&pooler.databases) },
		{ "pool_cache", sizeof(struct pgpool), list_count(&pooler.pools) },
		{ "server_cache", sizeof(struct pgsocket), pooler.server_count },
		{ "client_cache", sizeof(struct pgsocket), pooler.client_count },
		{ "iobuf_cache", (size_t)cf->pkt_buf, pooler.server_count + pooler.client_count },
	};
	struct resultset rs;

	rs_begin_set(&rs, &c->pb, &mem_cols);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		rs_row_begin(&rs);
		rs_str(&rs, rows[i].name);
		rs_int(&rs, (int64_t)rows[i].size);
		rs_int(&rs, rows[i].used);
		rs_int(&rs, 0);
		rs_int(&rs, (int64_t)rows[i].size * rows[i].used);
		rs_row_end(&rs);
	}
	cmd_ready(c, "SHOW");
}

/* ================================================================
 * SHOW: statistics
 * ================================================================ */

#define NO_FIELD SIZE_MAX	/* prepared statements are not tracked: always 0 */
#define STAT(f) offsetof(struct stats, f)

/* One counter and the names it goes by in each statistics command. */
static const struct metric {
	const char *stats_total;	/* SHOW STATS */
	const char *stats_avg;		/* SHOW STATS */
	const char *plain;		/* SHOW STATS_TOTALS */
	const char *plain_avg;		/* SHOW STATS_AVERAGES */
	const char *totals;		/* SHOW TOTALS, after total_ / avg_ */
	size_t field;
} metrics[] = {
	{ "total_server_assignment_count", "avg_server_assignment_count", "server_assignment_count",
	  "server_assignment_count", "server_assignment_count", STAT(server_assignment_count) },
	{ "total_xact_count", "avg_xact_count", "xact_count", "xact_count", "xact_count", STAT(xact_count) },
	{ "total_query_count", "avg_query_count", "query_count", "query_count", "query_count", STAT(query_count) },
	{ "total_received", "avg_recv", "bytes_received", "bytes_received", "client_bytes", STAT(client_bytes) },
	{ "total_sent", "avg_sent", "bytes_sent", "bytes_sent", "server_bytes", STAT(server_bytes) },
	{ "total_xact_time", "avg_xact_time", "xact_time", "xact_time", "xact_time", STAT(xact_time) },
	{ "total_query_time", "avg_query_time", "query_time", "query_time", "query_time", STAT(query_time) },
	{ "total_wait_time", "avg_wait_time", "wait_time", "wait_time", "wait_time", STAT(wait_time) },
	{ "total_client_parse_count", "avg_client_parse_count", "client_parse_count", "avg_client_parse_count",
	  "ps_client_parse_count", NO_FIELD },
	{ "total_server_parse_count", "avg_server_parse_count", "server_parse_count", "avg_server_parse_count",
	  "ps_server_parse_count", NO_FIELD },
	{ "total_bind_count", "avg_bind_count", "bind_count", "avg_bind_count", "ps_bind_count", NO_FIELD },
	{ "total_client_login_count", "avg_client_login_count", "client_login_count", "avg_client_login_count",
	  "client_login_count", STAT(client_login_count) },
};
#define N_METRICS ARRAY_SIZE(metrics)

static uint64_t metric_value(const struct metric *m, const struct stats *st)
{
	if (m->field == NO_FIELD)
		return 0;
	return *(const uint64_t *)((const char *)st + m->field);
}

/* Which statistics command: its columns after "database". */
enum stats_view { STATS_BOTH, STATS_TOTALS, STATS_AVERAGES };

static const char *metric_name(const struct metric *m, enum stats_view view, bool avg)
{
	switch (view) {
	case STATS_TOTALS:
		return m->plain;
	case STATS_AVERAGES:
		return m->plain_avg;
	default:
		return avg ? m->stats_avg : m->stats_total;
	}
}

static void put_metrics(struct resultset *rs, const struct stats *st)
{
	for (size_t i = 0; i < N_METRICS; i++)
		rs_uint(rs, metric_value(&metrics[i], st));
}

static bool db_has_pools(const struct pgdatabase *db)
{
	struct list_node *n;
	list_for_each(n, &pooler.pools) {
		if (container_of(n, struct pgpool, node)->db == db)
			return true;
	}
	return false;
}

/* SHOW STATS / STATS_TOTALS / STATS_AVERAGES: one row per database in use. */
static void show_db_stats(struct admin_cmd *c, enum stats_view view)
{
	const char *names[2 * N_METRICS + 2];
	char types[2 * N_METRICS + 2];
	size_t n = 0;
	struct resultset rs;
	struct sorted dbs;

	names[n] = "database";
	types[n++] = 's';
	/* SHOW STATS has the totals then the averages; the others one set. */
	for (int avg = 0; avg < 2; avg++) {
		if (view == (avg ? STATS_TOTALS : STATS_AVERAGES))
			continue;
		for (size_t i = 0; i < N_METRICS; i++) {
			names[n] = metric_name(&metrics[i], view, avg);
			types[n++] = 'N';
		}
	}
	names[n] = NULL;
	types[n] = '\0';

	rs_begin(&rs, &c->pb, types, names);
	sorted_init(&dbs, &pooler.databases, cmp_db);
	for (int i = 0; i < dbs.n; i++) {
		struct pgdatabase *db = DB_AT(&dbs, i);
		struct stats total, avg;
		if (!db_has_pools(db))
			continue;
		stats_collect(db, &total, &avg);
		rs_row_begin(&rs);
		rs_str(&rs, db->name);
		if (view != STATS_AVERAGES)
			put_metrics(&rs, &total);
		if (view != STATS_TOTALS)
			put_metrics(&rs, &avg);
		rs_row_end(&rs);
	}
	sorted_free(&dbs);
	cmd_ready(c, "SHOW");
}

static void show_stats(struct admin_cmd *c) { show_db_stats(c, STATS_BOTH); }
static void show_stats_totals(struct admin_cmd *c) { show_db_stats(c, STATS_TOTALS); }
static void show_stats_averages(struct admin_cmd *c) { show_db_stats(c, STATS_AVERAGES); }

static const struct colset name_value_num_cols = { "sN", { "name", "value", NULL } };

static void show_totals(struct admin_cmd *c)
{
	const struct stats *sets[2];
	struct stats total, avg;
	struct resultset rs;

	stats_collect(NULL, &total, &avg);
	sets[0] = &total;
	sets[1] = &avg;
	rs_begin_set(&rs, &c->pb, &name_value_num_cols);
	for (int s = 0; s < 2; s++) {
		for (size_t i = 0; i < N_METRICS; i++) {
			char name[64];
			snprintf(name, sizeof(name), "%s_%s", s ? "avg" : "total", metrics[i].totals);
			rs_row_begin(&rs);
			rs_str(&rs, name);
			rs_uint(&rs, metric_value(&metrics[i], sets[s]));
			rs_row_end(&rs);
		}
	}
	cmd_ready(c, "SHOW");
}

/* ================================================================
 * SHOW: configuration, state, and the fixed answers
 * ================================================================ */

static const struct colset config_cols = { "ssss", { "key", "value", "default", "changeable", NULL } };

static void show_config(struct admin_cmd *c)
{
	struct resultset rs;
	char value[4096];

	rs_begin_set(&rs, &c->pb, &config_cols);
	for (const struct config_key *k = config_keys; k->name; k++) {
		config_format_value(cf, k, value, sizeof(value));
		/* An unset string without a default is NULL in PgBouncer. */
		bool is_null = k->type == CF_STR && !k->default_value && !value[0];
		rs_row_begin(&rs);
		rs_str(&rs, k->name);
		rs_str(&rs, is_null ? NULL : value);
		rs_str(&rs, k->default_value);
		rs_str(&rs, k->reloadable ? "yes" : "no");
		rs_row_end(&rs);
	}
	cmd_ready(c, "SHOW");
}

static const struct colset key_value_cols = { "ss", { "key", "value", NULL } };

static void key_value_row(struct resultset *rs, const char *key, bool yes)
{
	rs_row_begin(rs);
	rs_str(rs, key);
	rs_str(rs, yes ? "yes" : "no");
	rs_row_end(rs);
}

static void show_state(struct admin_cmd *c)
{
	struct resultset rs;

	rs_begin_set(&rs, &c->pb, &key_value_cols);
	key_value_row(&rs, "active", !pooler.paused && !pooler.suspended);
	key_value_row(&rs, "paused", pooler.paused && !pooler.suspended);
	key_value_row(&rs, "suspended", pooler.suspended);
	cmd_ready(c, "SHOW");
}

static void show_version(struct admin_cmd *c)
{
	static const struct colset cols = { "s", { "version", NULL } };
	struct resultset rs;

	rs_begin_set(&rs, &c->pb, &cols);
	rs_row_begin(&rs);
	rs_str(&rs, VERSION_TEXT);
	rs_row_end(&rs);
	cmd_ready(c, "SHOW");
}

/* Result sets pgwarden has no rows for: online restart (FDS), peers, and
 * DNS cache listings. */
static const struct colset fds_cols = {
	"issssiqisssssbb",
	{ "fd", "task", "user", "database", "addr", "port", "cancel", "link", "client_encoding", "std_strings",
	  "datestyle", "timezone", "password", "scram_client_key", "scram_server_key", NULL },
};
static const struct colset dns_hosts_cols = { "sqs", { "hostname", "ttl", "addrs", NULL } };
static const struct colset dns_zones_cols = { "sqi", { "zonename", "serial", "count", NULL } };
static const struct colset peers_cols = { "isii", { "peer_id", "host", "port", "pool_size", NULL } };
static const struct colset peer_pools_cols = {
	"iiiii",
	{ "peer_id", "cl_active_cancel_req", "cl_waiting_cancel_req", "sv_active_cancel", "sv_login", NULL },
};

static void show_empty(struct admin_cmd *c, const struct colset *set)
{
	struct resultset rs;
	rs_begin_set(&rs, &c->pb, set);
	cmd_ready(c, "SHOW");
}

static void show_fds(struct admin_cmd *c)
{
	/* It would hand out cancel keys: admins only, as in PgBouncer. */
	if (need_admin(c))
		show_empty(c, &fds_cols);
}

static void show_dns_hosts(struct admin_cmd *c) { show_empty(c, &dns_hosts_cols); }
static void show_dns_zones(struct admin_cmd *c) { show_empty(c, &dns_zones_cols); }
static void show_peers(struct admin_cmd *c) { show_empty(c, &peers_cols); }
static void show_peer_pools(struct admin_cmd *c) { show_empty(c, &peer_pools_cols); }

static const char help_text[] =
	"\n"
	"\tSHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION\n"
	"\tSHOW PEERS|PEER_POOLS\n"
	"\tSHOW FDS|SOCKETS|ACTIVE_SOCKETS|LISTS|MEM|STATE\n"
	"\tSHOW DNS_HOSTS|DNS_ZONES\n"
	"\tSHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS\n"
	"\tSET key = arg\n"
	"\tRELOAD\n"
	"\tPAUSE [<db>]\n"
	"\tRESUME [<db>]\n"
	"\tDISABLE <db>\n"
	"\tENABLE <db>\n"
	"\tRECONNECT [<db>]\n"
	"\tKILL [<db>]\n"
	"\tKILL_CLIENT <client_id>\n"
	"\tSUSPEND\n"
	"\tSHUTDOWN\n"
	"\tSHUTDOWN WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS\n"
	"\tWAIT_CLOSE [<db>]";

static void show_help(struct admin_cmd *c)
{
	struct pktbuf *pb = &c->pb;

	pktbuf_begin(pb, 'N');
	pktbuf_put_u8(pb, 'S');
	pktbuf_put_string(pb, "NOTICE");
	pktbuf_put_u8(pb, 'C');
	pktbuf_put_string(pb, "00000");
	pktbuf_put_u8(pb, 'M');
	pktbuf_put_string(pb, "Console usage");
	pktbuf_put_u8(pb, 'D');
	pktbuf_put_string(pb, help_text);
	pktbuf_put_u8(pb, 0);
	pktbuf_end(pb);
	cmd_ready(c, "SHOW");
}

/*
 * Some clients read or set session parameters without asking whether they
 * talk to a database.  These get PgBouncer's fixed answers.
 */
static const struct fake_param {
	const char *name;
	const char *value;
} fake_params[] = {
	{ "client_encoding", "UTF-8" },
	{ "default_transaction_isolation", "read committed" },
	{ "standard_conforming_strings", "on" },
	{ "datestyle", "ISO" },
	{ "timezone", "GMT" },
	{ "extra_float_digits", "2" },
};

static const struct fake_param *find_fake_param(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(fake_params); i++) {
		if (strcasecmp(fake_params[i].name, name) == 0)
			return &fake_params[i];
	}
	return NULL;
}

static bool fake_show(struct admin_cmd *c)
{
	const struct fake_param *p = find_fake_param(c->arg);
	const char *names[] = { p ? p->name : NULL, NULL };
	struct resultset rs;

	if (!p)
		return false;
	rs_begin(&rs, &c->pb, "s", names);
	rs_row_begin(&rs);
	rs_str(&rs, p->value);
	rs_row_end(&rs);
	cmd_ready(c, "SHOW");
	return true;
}

typedef void (*cmd_fn)(struct admin_cmd *c);

struct command {
	const char *word;
	cmd_fn fn;
};

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

static bool run_command(const struct command *table, const char *word, struct admin_cmd *c)
{
	for (; table->word; table++) {
		if (strcasecmp(table->word, word) == 0) {
			table->fn(c);
			return true;
		}
	}
	return false;
}

static void cmd_show(struct admin_cmd *c)
{
	if (fake_show(c))
		return;
	/* SHOW's argument names the result set; the SHOW functions take none. */
	const char *what = c->arg;
	c->arg = "";
	if (!run_command(show_commands, what, c))
		syntax_error(c);
}

/* ================================================================
 * Process control
 * ================================================================ */

/* A database named in a command; "*" may create an auto-database. */
static struct pgdatabase *command_db(struct admin_cmd *c, bool may_create)
{
	struct pgdatabase *db = may_create ? lookup_or_create_database(c->arg) : find_database(c->arg);

	if (db && db->db_dead)
		db = NULL;
	if (!db)
		cmd_error(c, "no such database: %s", c->arg);
	return db;
}

static bool any_paused_database(void)
{
	struct list_node *n;
	list_for_each(n, &pooler.databases) {
		if (container_of(n, struct pgdatabase, node)->paused)
			return true;
	}
	return false;
}

bool admin_shutting_down(void)
{
	return pooler.shutting_down || console.shutdown != SHUTDOWN_NONE;
}

static void wake_pools(const char *dbname)
{
	struct list_node *n;
	list_for_each(n, &pooler.pools) {
		struct pgpool *pool = container_of(n, struct pgpool, node);
		if (pool_in_scope(pool, dbname))
			pool_wake_waiters(pool);
	}
}

/* Servers in scope, optionally only those waiting to be closed. */
static int count_servers(const char *dbname, bool only_close_needed)
{
	struct list_node *n, *s;
	int count = 0;

	list_for_each(n, &pooler.pools) {
		struct pgpool *pool = container_of(n, struct pgpool, node);
		if (!pool_in_scope(pool, dbname))
			continue;
		if (!only_close_needed) {
			count += pool_server_total(pool);
			continue;
		}
		for (size_t i = 0; i < ARRAY_SIZE(server_lists); i++) {
			list_for_each(s, pool_list(pool, &server_lists[i]))
				count += container_of(s, struct pgsocket, node)->close_needed;
		}
	}
	return count;
}

static void wait_for_janitor(struct admin_cmd *c, enum wait_kind kind, const char *dbname);
static void answer_waiting_now(struct pgsocket *client);
static void enforce_pause(void);

static void cmd_pause(struct admin_cmd *c)
{
	struct pgdatabase *db;

	if (!need_admin(c))
		return;
	if (pooler.paused || pooler.suspended) {
		cmd_error(c, "already suspended/paused");
		return;
	}
	if (!c->arg[0]) {
		log_info("PAUSE command issued");
		pooler.paused = true;
		enforce_pause();
		wait_for_janitor(c, WAIT_PAUSE, "");
		return;
	}
	log_info("PAUSE '%s' command issued", c->arg);
	if (!(db = command_db(c, true)))
		return;
	if (db->is_admin) {
		cmd_error(c, "cannot pause admin db: %s", c->arg);
		return;
	}
	db->paused = true;
	enforce_pause();
	wait_for_janitor(c, WAIT_PAUSE, db->name);
}

void admin_resume_all(void)
{
	struct list_node *n;
	bool was_suspended = pooler.suspended;

	pooler.paused = false;
	pooler.suspended = false;
	if (was_suspended) {
		list_for_each(n, &pooler.pools) {
			struct pgpool *pool = container_of(n, struct pgpool, node);
			if (is_admin_pool(pool))
				continue;
			for (size_t i = 0; i < ARRAY_SIZE(client_lists); i++) {
				struct list_node *s;
				list_for_each(s, pool_list(pool, &client_lists[i]))
					sbuf_continue(&container_of(s, struct pgsocket, node)->sbuf);
			}
			for (size_t i = 0; i < ARRAY_SIZE(server_lists); i++) {
				struct list_node *s;
				list_for_each(s, pool_list(pool, &server_lists[i]))
					sbuf_continue(&container_of(s, struct pgsocket, node)->sbuf);
			}
		}
		list_for_each(n, &pooler.login_clients)
			sbuf_continue(&container_of(n, struct pgsocket, node)->sbuf);
	}
	wake_pools("");
}

static void cmd_resume(struct admin_cmd *c)
{
	struct pgdatabase *db;

	if (!need_admin(c))
		return;
	if (!c->arg[0]) {
		log_info("RESUME command issued");
		if (admin_shutting_down()) {
			cmd_error(c, "pooler is shutting down");
			return;
		}
		if (!pooler.paused && !pooler.suspended) {
			cmd_error(c, "pooler is not paused/suspended");
			return;
		}
		admin_resume_all();
		cmd_ready(c, "RESUME");
		return;
	}
	log_info("RESUME '%s' command issued", c->arg);
	if (!(db = command_db(c, false)))
		return;
	if (!db->paused) {
		cmd_error(c, "database %s is not paused", c->arg);
		return;
	}
	db->paused = false;
	wake_pools(db->name);
	cmd_ready(c, "RESUME");
}

/* Stop reading every pooled socket; SUSPEND completes when they flushed. */
static void pause_socket_list(struct list_node *list)
{
	struct list_node *n;
	list_for_each(n, list)
		sbuf_pause(&container_of(n, struct pgsocket, node)->sbuf);
}

static void suspend_all_sockets(void)
{
	struct list_node *n;

	list_for_each(n, &pooler.pools) {
		struct pgpool *pool = container_of(n, struct pgpool, node);
		if (is_admin_pool(pool))
			continue;
		for (size_t i = 0; i < ARRAY_SIZE(client_lists); i++)
			pause_socket_list(pool_list(pool, &client_lists[i]));
		for (size_t i = 0; i < ARRAY_SIZE(server_lists); i++)
			pause_socket_list(pool_list(pool, &server_lists[i]));
	}
	pause_socket_list(&pooler.login_clients);
}

static void cmd_suspend(struct admin_cmd *c)
{
	if (c->arg[0]) {
		syntax_error(c);
		return;
	}
	if (!need_admin(c))
		return;
	if (pooler.paused || pooler.suspended) {
		cmd_error(c, "already suspended/paused");
		return;
	}
	/* Paused databases may hold clients that never flush. */
	if (any_paused_database()) {
		cmd_error(c, "cannot suspend with paused databases");
		return;
	}
	log_info("SUSPEND command issued");
	pooler.suspended = true;
	pooler.paused = true;	/* new work queues instead of starting */
	console.suspend_start = get_time_usec();
	suspend_all_sockets();
	wait_for_janitor(c, WAIT_SUSPEND, "");
}

static void cmd_disable_enable(struct admin_cmd *c, bool disable)
{
	const char *verb = disable ? "DISABLE" : "ENABLE";
	struct pgdatabase *db;

	if (!need_admin(c))
		return;
	if (!c->arg[0]) {
		cmd_error(c, "a database is required");
		return;
	}
	log_info("%s '%s' command issued", verb, c->arg);
	if (!(db = command_db(c, disable)))
		return;
	if (db->is_admin) {
		cmd_error(c, "cannot %s admin db: %s", disable ? "disable" : "enable", c->arg);
		return;
	}
	db->disabled = disable;
	cmd_ready(c, verb);
}

static void cmd_disable(struct admin_cmd *c) { cmd_disable_enable(c, true); }
static void cmd_enable(struct admin_cmd *c) { cmd_disable_enable(c, false); }

/*
 * Control commands on [db] share one shape: admin check, log line, the
 * database (or every non-console one), a refusal for the console itself.
 * Returns false when an error was sent; *scope is "" for all databases.
 */
static bool command_scope(struct admin_cmd *c, const char *verb, const char *refusal, const char **scope)
{
	struct pgdatabase *db;

	*scope = "";
	if (!c->arg[0]) {
		log_info("%s command issued", verb);
		return true;
	}
	log_info("%s '%s' command issued", verb, c->arg);
	if (!(db = command_db(c, true)))
		return false;
	if (db->is_admin) {
		cmd_error(c, "%s: %s", refusal, c->arg);
		return false;
	}
	*scope = db->name;
	return true;
}

/* Servers of the pool close when released; idle ones right away. */
static void tag_pool_dirty(struct pgpool *pool)
{
	struct list_node *n;

	for (size_t i = 0; i < ARRAY_SIZE(server_lists); i++) {
		list_for_each(n, pool_list(pool, &server_lists[i]))
			container_of(n, struct pgsocket, node)->close_needed = true;
	}
	close_sockets(&pool->idle_servers, "obsolete connection");
}

static void cmd_reconnect(struct admin_cmd *c)
{
	const char *scope;
	struct list_node *n;

	if (!need_admin(c) || !command_scope(c, "RECONNECT", "cannot reconnect admin db", &scope))
		return;
	list_for_each(n, &pooler.pools) {
		struct pgpool *pool = container_of(n, struct pgpool, node);
		if (pool_in_scope(pool, scope))
			tag_pool_dirty(pool);
	}
	cmd_ready(c, "RECONNECT");
}

static void kill_pool(struct pgpool *pool)
{
	static const char reason[] = "database removed";

	for (size_t i = 0; i < ARRAY_SIZE(client_lists); i++)
		close_sockets(pool_list(pool, &client_lists[i]), reason);
	for (size_t i = 0; i < ARRAY_SIZE(server_lists); i++)
		close_sockets(pool_list(pool, &server_lists[i]), reason);
}

static void cmd_kill(struct admin_cmd *c)
{
	const char *scope;
	struct list_node *n;

	if (!need_admin(c))
		return;
	if (pooler.paused || pooler.suspended) {
		cmd_error(c, "already suspended/paused");
		return;
	}
	if (!command_scope(c, "KILL", "cannot kill admin db", &scope))
		return;
	/* Paused first: nobody may grab a server while they are closed, and
	 * the database stays paused until RESUME. */
	list_for_each(n, &pooler.databases) {
		struct pgdatabase *db = container_of(n, struct pgdatabase, node);
		if (!db->is_admin && (!scope[0] || strcmp(db->name, scope) == 0))
			db->paused = true;
	}
	list_for_each(n, &pooler.pools) {
		struct pgpool *pool = container_of(n, struct pgpool, node);
		if (pool_in_scope(pool, scope))
			kill_pool(pool);
	}
	cmd_ready(c, "KILL");
}

static struct pgsocket *find_client_by_id(uint64_t id)
{
	struct list_node *n, *s;

	list_for_each(n, &pooler.pools) {
		struct pgpool *pool = container_of(n, struct pgpool, node);
		for (size_t i = 0; i < ARRAY_SIZE(client_lists); i++) {
			list_for_each(s, pool_list(pool, &client_lists[i])) {
				struct pgsocket *client = container_of(s, struct pgsocket, node);
				if (client->id == id)
					return client;
			}
		}
	}
	return NULL;
}

static void cmd_kill_client(struct admin_cmd *c)
{
	char *end;
	uint64_t id;
	struct pgsocket *target;

	if (!need_admin(c))
		return;
	errno = 0;
	id = strtoull(c->arg, &end, 10);
	if (!c->arg[0] || *end || errno) {
		cmd_error(c, "invalid client pointer supplied");
		return;
	}
	if (!(target = find_client_by_id(id))) {
		cmd_error(c, "client not found");
		return;
	}
	disconnect_client(target, true, "admin forced disconnect");
	if (target != c->client)
		cmd_ready(c, "KILL_CLIENT");
}

static void cmd_wait_close(struct admin_cmd *c)
{
	const char *scope;

	if (!need_admin(c) || !command_scope(c, "WAIT_CLOSE", "cannot wait in admin db", &scope))
		return;
	wait_for_janitor(c, WAIT_CLOSE, scope);
}

static void cmd_reload(struct admin_cmd *c)
{
	if (c->arg[0]) {
		syntax_error(c);
		return;
	}
	if (!need_admin(c))
		return;
	log_info("RELOAD command issued");
	if (!pooler_reload()) {
		cmd_error_state(c, "F0000", "RELOAD failed, see logs for additional details");
		return;
	}
	cmd_ready(c, "RELOAD");
}

bool admin_begin_shutdown(bool wait_for_clients)
{
	if (admin_shutting_down())
		return false;
	if (wait_for_clients) {
		console.shutdown = SHUTDOWN_WAIT_FOR_CLIENTS;
	} else {
		/* Pause: servers go as they are released, no new ones start. */
		console.shutdown = SHUTDOWN_WAIT_FOR_SERVERS;
		pooler.shutting_down = true;
		pooler.paused = true;
	}
	listen_stop_tcp();
	return true;
}

static void cmd_shutdown(struct admin_cmd *c)
{
	bool wait_for_clients = strcasecmp(c->arg, "WAIT_FOR_CLIENTS") == 0;

	if (c->arg[0] && !wait_for_clients && strcasecmp(c->arg, "WAIT_FOR_SERVERS") != 0) {
		syntax_error(c);
		return;
	}
	if (!need_admin(c))
		return;
	if (!c->arg[0]) {
		/* No answer: the connection ends with the process. */
		pooler_shutdown_now("SHUTDOWN command issued");
		return;
	}
	log_info("SHUTDOWN %s command issued", wait_for_clients ? "WAIT_FOR_CLIENTS" : "WAIT_FOR_SERVERS");
	if (!admin_begin_shutdown(wait_for_clients)) {
		cmd_error(c, "pooler is shutting down");
		return;
	}
	cmd_ready(c, "SHUTDOWN");
}

/* ---------------- SET ---------------- */

static void cmd_set(struct admin_cmd *c, const char *key, const char *value)
{
	const struct config_key *k;
	char tag[512], err[256];

	if (find_fake_param(key)) {
		pktbuf_notice(&c->pb, "00000", "SET ignored");
		cmd_ready(c, "SET");
		return;
	}
	if (!need_admin(c))
		return;
	k = config_find_key(key);
	if (!k) {
		cmd_error(c, "SET failed");
		return;
	}
	/* Like PgBouncer, settings that need a restart are accepted and ignored. */
	if (k->reloadable && !config_set_value(cf, k, value, err, sizeof(err))) {
		log_warning("%s", err);
		cmd_error(c, "SET failed");
		return;
	}
	if (k->reloadable)
		dns_set_ttl(pooler.dns, cf->dns_max_ttl, cf->dns_nxdomain_ttl);
	snprintf(tag, sizeof(tag), "SET %s=%s", key, value);
	cmd_ready(c, tag);
}

/* ================================================================
 * Commands answered later
 * ================================================================ */

static struct waiting_cmd *find_waiting(uint64_t client_id)
{
	for (int i = 0; i < console.n_waiting; i++) {
		if (console.waiting[i].client_id == client_id)
			return &console.waiting[i];
	}
	return NULL;
}

static void forget_waiting(struct waiting_cmd *w)
{
	int i = (int)(w - console.waiting);
	memmove(w, w + 1, sizeof(*w) * (size_t)(console.n_waiting - i - 1));
	console.n_waiting--;
}

/* Park the client: nothing it sends is read until the answer has gone. */
static void wait_for_janitor(struct admin_cmd *c, enum wait_kind kind, const char *dbname)
{
	struct waiting_cmd *w;

	if (console.n_waiting == console.cap_waiting) {
		console.cap_waiting = console.cap_waiting ? 2 * console.cap_waiting : 4;
		console.waiting = xrealloc(console.waiting, sizeof(*console.waiting) * (size_t)console.cap_waiting);
	}
	w = &console.waiting[console.n_waiting++];
	memset(w, 0, sizeof(*w));
	w->client_id = c->client->id;
	w->kind = kind;
	strlcpy_safe(w->dbname, dbname, sizeof(w->dbname));
	answer_waiting_now(c->client);
}

static const char *wait_tag(enum wait_kind kind)
{
	switch (kind) {
	case WAIT_PAUSE: return "PAUSE";
	case WAIT_SUSPEND: return "SUSPEND";
	default: return "WAIT_CLOSE";
	}
}

/* Is the scope of a PAUSE still paused (no RESUME came in between)? */
static bool scope_paused(const char *dbname)
{
	struct pgdatabase *db;

	if (!dbname[0])
		return pooler.paused;
	db = find_database(dbname);
	return db && db->paused;
}

static bool sockets_flushed(struct list_node *list)
{
	struct list_node *n;
	list_for_each(n, list) {
		if (sbuf_has_pending_output(&container_of(n, struct pgsocket, node)->sbuf))
			return false;
	}
	return true;
}

static bool pooler_flushed(void)
{
	struct list_node *n;

	list_for_each(n, &pooler.pools) {
		struct pgpool *pool = container_of(n, struct pgpool, node);
		if (is_admin_pool(pool))
			continue;
		for (size_t i = 0; i < ARRAY_SIZE(client_lists); i++) {
			if (!sockets_flushed(pool_list(pool, &client_lists[i])))
				return false;
		}
		for (size_t i = 0; i < ARRAY_SIZE(server_lists); i++) {
			if (!sockets_flushed(pool_list(pool, &server_lists[i])))
				return false;
		}
	}
	return sockets_flushed(&pooler.login_clients);
}

enum wait_result { WAIT_GOING_ON, WAIT_DONE, WAIT_ABANDONED };

static enum wait_result check_waiting(const struct waiting_cmd *w)
{
	switch (w->kind) {
	case WAIT_PAUSE:
		if (!scope_paused(w->dbname))
			return WAIT_ABANDONED;
		return count_servers(w->dbname, false) ? WAIT_GOING_ON : WAIT_DONE;
	case WAIT_SUSPEND:
		if (!pooler.suspended)
			return WAIT_ABANDONED;
		return pooler_flushed() ? WAIT_DONE : WAIT_GOING_ON;
	case WAIT_CLOSE:
		return count_servers(w->dbname, true) ? WAIT_GOING_ON : WAIT_DONE;
	}
	return WAIT_DONE;
}

static void send_reply(struct pgsocket *client, struct admin_cmd *c)
{
	if (c->pb.len && !client->sbuf.closed)
		sbuf_send_pktbuf(&client->sbuf, &c->pb);
	pktbuf_free(&c->pb);
}

/* Answer a parked client and let it speak again. */
static void finish_waiting(struct pgsocket *client, struct waiting_cmd *w, enum wait_result res,
			   const char *sqlstate, const char *msg)
{
	struct admin_cmd c = { .client = client, .query = "", .arg = "" };
	enum wait_kind kind = w->kind;

	forget_waiting(w);
	pktbuf_init(&c.pb);
	if (res == WAIT_DONE)
		cmd_ready(&c, wait_tag(kind));
	else
		cmd_error_state(&c, sqlstate, "%s", msg);
	send_reply(client, &c);
	sbuf_continue(&client->sbuf);
}

static void answer_if_done(struct pgsocket *client, struct waiting_cmd *w)
{
	enum wait_result res = check_waiting(w);

	if (res == WAIT_ABANDONED)
		finish_waiting(client, w, res, "08P01", "command abandoned: the pooler was resumed");
	else if (res == WAIT_DONE)
		finish_waiting(client, w, res, NULL, NULL);
}

/* The command may be complete at once (nothing to wait for). */
static void answer_waiting_now(struct pgsocket *client)
{
	struct waiting_cmd *w = find_waiting(client->id);
	if (w)
		answer_if_done(client, w);
}

static struct pgsocket *find_admin_client(uint64_t id)
{
	struct list_node *n, *s;

	list_for_each(n, &pooler.pools) {
		struct pgpool *pool = container_of(n, struct pgpool, node);
		if (!is_admin_pool(pool))
			continue;
		list_for_each(s, &pool->active_clients) {
			struct pgsocket *client = container_of(s, struct pgsocket, node);
			if (client->id == id)
				return client;
		}
	}
	return NULL;
}

static bool any_admin_client(void)
{
	struct list_node *n;
	list_for_each(n, &pooler.pools) {
		struct pgpool *pool = container_of(n, struct pgpool, node);
		if (is_admin_pool(pool) && !list_empty(&pool->active_clients))
			return true;
	}
	return false;
}

static void answer_waiting_commands(void)
{
	/* Backwards: answering removes the entry. */
	for (int i = console.n_waiting - 1; i >= 0; i--) {
		struct waiting_cmd *w = &console.waiting[i];
		struct pgsocket *client = find_admin_client(w->client_id);
		if (!client)
			forget_waiting(w);
		else
			answer_if_done(client, w);
	}
}

void admin_handle_cancel(struct pgsocket *admin)
{
	struct waiting_cmd *w = find_waiting(admin->id);
	struct pgdatabase *db;

	if (!w) {
		slog_warning(admin, "admin cancel request for non-waiting client?");
		return;
	}
	if (admin_shutting_down())
		return;
	/* ^C on a waiting PAUSE/SUSPEND gives up on it, as in PgBouncer. */
	if (w->kind == WAIT_PAUSE && w->dbname[0]) {
		if ((db = find_database(w->dbname)) != NULL)
			db->paused = false;
		wake_pools(w->dbname);
	} else if (w->kind != WAIT_CLOSE && (pooler.paused || pooler.suspended)) {
		admin_resume_all();
	}
	finish_waiting(admin, w, WAIT_ABANDONED, "57014", "canceling statement due to user request");
}

/* ---------------- janitor ---------------- */

/* Paused pools keep no idle connections: PAUSE means "no servers". */
static void enforce_pause(void)
{
	struct list_node *n;

	list_for_each(n, &pooler.pools) {
		struct pgpool *pool = container_of(n, struct pgpool, node);
		bool paused = (pooler.paused && !pooler.suspended) || pool->db->paused;
		if (is_admin_pool(pool) || !paused)
			continue;
		close_sockets(&pool->idle_servers, "pause mode");
		close_sockets(&pool->used_servers, "pause mode");
		close_sockets(&pool->login_servers, "pause mode");
	}
}

static void close_unflushed(struct list_node *list)
{
	struct list_node *n, *tmp;
	list_for_each_safe(n, tmp, list) {
		struct pgsocket *sk = container_of(n, struct pgsocket, node);
		if (!sbuf_has_pending_output(&sk->sbuf))
			continue;
		if (sk->is_server)
			disconnect_server(sk, true, "suspend_timeout");
		else
			disconnect_client(sk, true, "suspend_timeout");
	}
}

/* SUSPEND waits at most suspend_timeout for buffers to drain. */
static void check_suspend(void)
{
	struct list_node *n;

	if (!pooler.suspended)
		return;
	if (!any_admin_client()) {
		log_info("admin disappeared when suspended, doing RESUME");
		admin_resume_all();
		return;
	}
	if (!cf->suspend_timeout || get_time_usec() - console.suspend_start < cf->suspend_timeout)
		return;
	list_for_each(n, &pooler.pools) {
		struct pgpool *pool = container_of(n, struct pgpool, node);
		if (is_admin_pool(pool))
			continue;
		for (size_t i = 0; i < ARRAY_SIZE(client_lists); i++)
			close_unflushed(pool_list(pool, &client_lists[i]));
		for (size_t i = 0; i < ARRAY_SIZE(server_lists); i++)
			close_unflushed(pool_list(pool, &server_lists[i]));
	}
	close_unflushed(&pooler.login_clients);
}

static void check_shutdown(void)
{
	switch (console.shutdown) {
	case SHUTDOWN_WAIT_FOR_SERVERS:
		if (count_servers("", false) == 0)
			pooler_shutdown_now("server connections dropped, exiting");
		break;
	case SHUTDOWN_WAIT_FOR_CLIENTS:
		if (pooler.client_count == 0)
			pooler_shutdown_now("client connections dropped, exiting");
		break;
	case SHUTDOWN_NONE:
		break;
	}
}

void admin_janitor(void)
{
	enforce_pause();
	check_suspend();
	answer_waiting_commands();
	check_shutdown();
}

/* ================================================================
 * Parsing and dispatch
 * ================================================================ */

/* PgBouncer's grammar (POSIX ERE, case-insensitive). */
#define WS0	"[ \t\n\r]*"
#define WS1	"[ \t\n\r]+"
#define WORD	"(\"([^\"]+|\"\")*\"|[0-9a-z_]+)"
#define STRING	"('([^']|'')*')"

/* CMD [arg]; */
static const char rx_cmd_text[] = "^" WS0 WORD "(" WS1 WORD ")?" WS0 "(;" WS0 ")?$";
/* SET key = word; */
static const char rx_set_word_text[] = "^" WS0 "set" WS1 WORD WS0 "(=|to)" WS0 WORD WS0 "(;" WS0 ")?$";
/* SET key = 'string'; */
static const char rx_set_str_text[] = "^" WS0 "set" WS1 WORD WS0 "(=|to)" WS0 STRING WS0 "(;" WS0 ")?$";

/* Subexpression numbers in the patterns above. */
#define RX_GROUPS 10
#define CMD_NAME 1
#define CMD_ARG 4
#define SET_KEY 1
#define SET_VAL 4

/* PgBouncer's buffer sizes: longer words are "bad arguments". */
#define MAX_CMD_WORD 16
#define MAX_CMD_ARG 64
#define MAX_SET_VALUE 256

static void compile_regexes(void)
{
	if (console.regex_ready)
		return;
	if (regcomp(&console.rx_cmd, rx_cmd_text, REG_EXTENDED | REG_ICASE) != 0 ||
	    regcomp(&console.rx_set_word, rx_set_word_text, REG_EXTENDED | REG_ICASE) != 0 ||
	    regcomp(&console.rx_set_str, rx_set_str_text, REG_EXTENDED | REG_ICASE) != 0)
		die("admin console: regex compilation failed");
	console.regex_ready = true;
}

/* Copy group g of the match, without the quotes and with doubled quotes
 * undone.  A group that did not take part gives "". */
static bool copy_group(const char *src, const regmatch_t *grp, int g, char *dst, size_t dstlen, char quote)
{
	const regmatch_t *m = &grp[g];
	size_t len, n = 0;
	const char *s;

	dst[0] = '\0';
	if (m->rm_so < 0 || m->rm_eo < 0)
		return true;
	len = (size_t)(m->rm_eo - m->rm_so);
	s = src + m->rm_so;
	if (len >= dstlen)
		return false;
	if (len >= 2 && s[0] == quote) {
		for (size_t i = 1; i < len - 1; i++) {
			if (s[i] == quote && s[i + 1] == quote)
				i++;
			dst[n++] = s[i];
		}
		dst[n] = '\0';
		return true;
	}
	memcpy(dst, s, len);
	dst[len] = '\0';
	return true;
}

static const struct command commands[] = {
	{ "disable", cmd_disable },
	{ "enable", cmd_enable },
	{ "kill", cmd_kill },
	{ "kill_client", cmd_kill_client },
	{ "pause", cmd_pause },
	{ "reconnect", cmd_reconnect },
	{ "reload", cmd_reload },
	{ "resume", cmd_resume },
	{ "select", cmd_show },
	{ "show", cmd_show },
	{ "shutdown", cmd_shutdown },
	{ "suspend", cmd_suspend },
	{ "wait_close", cmd_wait_close },
	{ NULL, NULL },
};

static void run_query(struct admin_cmd *c)
{
	regmatch_t grp[RX_GROUPS];
	char word[MAX_CMD_WORD], arg[MAX_CMD_ARG], value[MAX_SET_VALUE];
	const char *q = c->query;

	compile_regexes();
	if (regexec(&console.rx_cmd, q, RX_GROUPS, grp, 0) == 0) {
		if (!copy_group(q, grp, CMD_NAME, word, sizeof(word), '"') ||
		    !copy_group(q, grp, CMD_ARG, arg, sizeof(arg), '"')) {
			cmd_error(c, "bad arguments");
			return;
		}
		c->arg = arg;
		if (!run_command(commands, word, c))
			syntax_error(c);
		return;
	}
	bool is_str = regexec(&console.rx_set_str, q, RX_GROUPS, grp, 0) == 0;
	if (is_str || regexec(&console.rx_set_word, q, RX_GROUPS, grp, 0) == 0) {
		if (!copy_group(q, grp, SET_KEY, arg, sizeof(arg), '"') || !arg[0] ||
		    !copy_group(q, grp, SET_VAL, value, sizeof(value), is_str ? '\'' : '"')) {
			cmd_error(c, "bad arguments");
			return;
		}
		cmd_set(c, arg, value);
		return;
	}
	syntax_error(c);
}

/* The console answers its own queries: count them like any pool's. */
static void count_query(struct pgsocket *client)
{
	struct pgpool *pool = client->pool;
	pool->stats.query_count++;
	pool->stats.xact_count++;
}

static enum sbuf_result handle_query(struct pgsocket *client, struct sbuf_pkt *pkt)
{
	const char *body = (const char *)pkt->data + pkt->hdr.hdr_len;
	size_t len = pkt->hdr.len - pkt->hdr.hdr_len;
	struct admin_cmd c = { .client = client, .arg = "" };
	char *query;

	if (!memchr(body, '\0', len)) {
		sbuf_skip(&client->sbuf, pkt);
		disconnect_client(client, true, "incomplete query");
		return SBUF_CLOSED;
	}
	/* A copy: the command may close sockets, this one included. */
	query = xstrdup(body);
	sbuf_skip(&client->sbuf, pkt);
	log_debug("got admin query: %s", query);
	client->request_time = get_time_usec();
	count_query(client);

	c.query = query;
	pktbuf_init(&c.pb);
	run_query(&c);
	free(query);
	if (client->state == CL_JUSTFREE) {
		pktbuf_free(&c.pb);
		return SBUF_CLOSED;
	}
	send_reply(client, &c);
	return SBUF_DONE;
}

static enum sbuf_result reject_packet(struct pgsocket *client, struct sbuf_pkt *pkt)
{
	struct admin_cmd c = { .client = client, .query = "", .arg = "" };
	uint8_t type = pkt->hdr.type;

	sbuf_skip(&client->sbuf, pkt);
	pktbuf_init(&c.pb);
	if (type == 'P' || type == 'B' || type == 'E')
		cmd_error(&c, "extended query protocol not supported by admin console");
	else
		cmd_error(&c, "unsupported packet type for admin console: %d", type);
	send_reply(client, &c);
	disconnect_client(client, true, "bad packet");
	return SBUF_CLOSED;
}

enum sbuf_result admin_handle_pkt(struct pgsocket *client, struct sbuf_pkt *pkt)
{
	if (!pkt->complete) {
		if (pkt->hdr.len <= client->sbuf.max_full_pkt)
			return SBUF_NEED_FULL;
		/* No command is that long; PgBouncer gives up the same way. */
		disconnect_client(client, true, "incomplete pkt");
		return SBUF_CLOSED;
	}
	/* One command at a time: wait for PAUSE & co to be answered. */
	if (find_waiting(client->id))
		return SBUF_PAUSE;
	switch (pkt->hdr.type) {
	case 'Q':
		return handle_query(client, pkt);
	case 'X':
		sbuf_skip(&client->sbuf, pkt);
		disconnect_client(client, false, "client close request");
		return SBUF_CLOSED;
	default:
		return reject_packet(client, pkt);
	}
}
