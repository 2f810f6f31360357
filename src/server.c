/*
 * Server connections: connecting (unix socket, IP literal or a name through
 * dns.c), logging in, and the protocol state machine that forwards results to
 * the linked client and notices when a transaction ends.
 */
#include "pgwarden.h"
#include "tls.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>

/* ---------------- addresses ---------------- */

static bool unix_socket_addr(const char *dir, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	return unix_socket_address(dir, port, (struct sockaddr_un *)ss, len);
}

/* host= names a unix socket directory, or an abstract socket (@name). */
static bool is_socket_dir(const char *host)
{
	return host[0] == '/' || host[0] == '@';
}

static bool ip_literal_addr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		*len = sizeof(*in);
		return true;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
		return true;
	}
	return false;
}

/* Pick the next host of a comma-separated list (round robin). */
static void next_host(struct pgdatabase *db, char *buf, size_t len)
{
	const char *hosts = db->host;
	int count = 1;
	for (const char *p = hosts; *p; p++)
		if (*p == ',')
			count++;
	int want = db->host_rr++ % count;
	const char *start = hosts;
	for (int i = 0; i < want; i++)
		start = strchr(start, ',') + 1;
	const char *end = strchr(start, ',');
	size_t n = end ? (size_t)(end - start) : strlen(start);
	while (n && (*start == ' ')) {
		start++;
		n--;
	}
	while (n && start[n - 1] == ' ')
		n--;
	if (n >= len)
		n = len - 1;
	memcpy(buf, start, n);
	buf[n] = '\0';
}

static void connect_failed(struct pgsocket *server, const char *why)
{
	struct pgpool *pool = server->pool;
	if (!server->is_cancel_conn) {
		pool->last_login_failed = true;
		pool->last_connect_time = get_time_usec();
		snprintf(pool->last_login_error, sizeof(pool->last_login_error),
			 "server login has been failing, try again later (server_login_retry)");
	}
	disconnect_server(server, false, "%s", why);
}

static void start_connect(struct pgsocket *server, const struct sockaddr_storage *ss, socklen_t len)
{
	memcpy(&server->remote_addr, ss, len);
	server->is_unix = ss->ss_family == AF_UNIX;
	if (!sbuf_connect(&server->sbuf, (const struct sockaddr *)ss, len)) {
		connect_failed(server, "cannot connect");
		return;
	}
	if (!server->is_unix)
		tune_tcp_socket(server->sbuf.fd);
}

static void dns_done(void *arg, const struct sockaddr *const *addrs, int n, const char *errmsg)
{
	struct pgsocket *server = arg;
	struct sockaddr_storage ss;

	server->dns_req = NULL;
	if (n <= 0) {
		slog_warning(server, "DNS lookup failed: %s", errmsg ? errmsg : "no address");
		connect_failed(server, "server DNS lookup failed");
		return;
	}
	/* dns.c caches the answer for dns_max_ttl; we only add the port. */
	const struct sockaddr *sa = addrs[0];
	socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, sa, len);
	if (sa->sa_family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)server->db->port);
	else
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)server->db->port);
	start_connect(server, &ss, len);
}

void connect_server(struct pgsocket *server)
{
	struct pgdatabase *db = server->db;
	struct sockaddr_storage ss;
	socklen_t len;
	char host[256];

	if (!db->host || !db->host[0]) {
		if (!unix_socket_addr(cf->unix_socket_dir && cf->unix_socket_dir[0] ? cf->unix_socket_dir : "/tmp",
				      db->port, &ss, &len)) {
			connect_failed(server, "unix socket path too long");
			return;
		}
		start_connect(server, &ss, len);
		return;
	}
	next_host(db, host, sizeof(host));
	free(server->tls_host);
	server->tls_host = is_socket_dir(host) ? NULL : xstrdup(host);
	if (is_socket_dir(host)) {
		if (!unix_socket_addr(host, db->port, &ss, &len)) {
			connect_failed(server, "unix socket path too long");
			return;
		}
		start_connect(server, &ss, len);
		return;
	}
	if (ip_literal_addr(host, db->port, &ss, &len)) {
		start_connect(server, &ss, len);
		return;
	}
	/* Host names: the resolver caches for dns_max_ttl. */
	server->dns_req = dns_resolve(pooler.dns, host, dns_done, server);
}

/* ---------------- login ---------------- */

static void add_startup_param(struct pktbuf *pb, const char *name, const char *value)
{
	if (value && value[0]) {
		pktbuf_put_string(pb, name);
		pktbuf_put_string(pb, value);
	}
}

static void send_startup(struct pgsocket *server)
{
	struct pktbuf pb;
	struct pgdatabase *db = server->db;

	pktbuf_init(&pb);
	pktbuf_begin(&pb, PKT_STARTUP_TYPE);
	pktbuf_put_u32(&pb, PKT_PROTO_V3);
	add_startup_param(&pb, "user", server->login_user->name);
	add_startup_param(&pb, "database", db->dbname);
	for (int i = 0; i < VAR_COUNT; i++)
		add_startup_param(&pb, varcache_name(i), varcache_get(&db->startup_vars, (enum var_id)i));
	pktbuf_put_u8(&pb, 0);
	pktbuf_end(&pb);
	sbuf_send_pktbuf(&server->sbuf, &pb);
	pktbuf_free(&pb);
}

/* prefer and above ask for TLS; allow and disable do not (no fallback
 * guessing: "allow" takes what the server accepts in plain text). */
static bool want_server_tls(const struct pgsocket *server)
{
	return !server->is_unix && tls_connect_ctx() && tls_server_mode() >= SSLMODE_PREFER;
}

static void send_ssl_request(struct pgsocket *server)
{
	struct pktbuf pb;

	pktbuf_init(&pb);
	pktbuf_put_u32(&pb, 8);
	pktbuf_put_u32(&pb, PKT_SSL_REQUEST);
	server->sbuf.want_byte = true;
	sbuf_send_pktbuf(&server->sbuf, &pb);
	pktbuf_free(&pb);
}

/* PostgreSQL's one-byte answer to our SSLRequest. */
static enum sbuf_result ssl_answer(struct pgsocket *server, uint8_t answer)
{
	if (answer == 'N') {
		if (tls_server_mode() >= SSLMODE_REQUIRE) {
			slog_warning(server, "server refused TLS (server_tls_sslmode = require or stricter)");
			connect_failed(server, "server refused TLS");
			return SBUF_CLOSED;
		}
		send_startup(server);
		return SBUF_DONE;
	}
	if (answer != 'S') {
		connect_failed(server, "bad answer to SSLRequest");
		return SBUF_CLOSED;
	}
	/* Anything after the 'S' came in plain text (CVE-2021-23214). */
	if (sbuf_has_pending_input(&server->sbuf) ||
	    !sbuf_tls_connect(&server->sbuf, tls_connect_ctx(),
			      tls_server_mode() == SSLMODE_VERIFY_FULL ? server->tls_host : NULL)) {
		connect_failed(server, "cannot start TLS with server");
		return SBUF_CLOSED;
	}
	return SBUF_DONE;
}

static void send_cancel(struct pgsocket *server)
{
	struct pktbuf pb;
	pktbuf_init(&pb);
	pktbuf_begin(&pb, PKT_STARTUP_TYPE);
	pktbuf_put_u32(&pb, PKT_CANCEL_REQUEST);
	pktbuf_put_bytes(&pb, server->cancel_to_send, CANCEL_KEY_LEN);
	pktbuf_end(&pb);
	sbuf_send_pktbuf(&server->sbuf, &pb);
	pktbuf_free(&pb);
	slog_debug(server, "started sending cancel request");
	/* PostgreSQL closes the connection once it has read the request. */
}

/* Clients that waited for the first login of this pool fail with its error. */
void kill_pool_logins(struct pgpool *pool, const char *sqlstate, const char *msg)
{
	struct list_node *n, *tmp;
	list_for_each_safe(n, tmp, &pool->waiting_clients) {
		struct pgsocket *client = container_of(n, struct pgsocket, node);
		if (client->state == CL_WAITING_LOGIN)
			disconnect_client_sqlstate(client, sqlstate, "%s", msg);
	}
}

static enum sbuf_result login_failed(struct pgsocket *server, const uint8_t *body, size_t len)
{
	const char *sqlstate, *msg;
	struct pgpool *pool = server->pool;

	pkt_parse_error_fields(body, len, &sqlstate, &msg);
	slog_warning(server, "server login failed: %s %s", sqlstate, msg);
	pool->last_login_failed = true;
	pool->last_connect_time = get_time_usec();
	strlcpy_safe(pool->last_login_error, msg, sizeof(pool->last_login_error));
	strlcpy_safe(pool->last_login_sqlstate, sqlstate[0] ? sqlstate : "08P01", sizeof(pool->last_login_sqlstate));
	kill_pool_logins(pool, pool->last_login_sqlstate, msg);
	disconnect_server(server, false, "login failed");
	return SBUF_CLOSED;
}

/* First login of a pool: remember what PostgreSQL told us, for clients
 * (the parameters tracked per connection go to server_defaults instead). */
static void save_welcome(struct pgsocket *server)
{
	struct pgpool *pool = server->pool;
	if (pool->welcome_ready)
		return;
	pktbuf_reset(&pool->welcome);
	pool->welcome_tracked = varcache_put_untracked(&pool->welcome, server->login_params.data,
						       server->login_params.len);
	varcache_copy(&pool->server_defaults, &server->vars);
	pool->welcome_ready = true;
}

static void login_complete(struct pgsocket *server)
{
	struct pgpool *pool = server->pool;
	struct list_node *n, *tmp;

	save_welcome(server);
	pktbuf_free(&server->login_params);
	pool->last_login_failed = false;
	server->ready = true;
	server->expect_rfq = 0;
	server->unsynced = false;
	server->request_time = get_time_usec();
	if (cf->log_connections)
		slog_info(server, "new connection to server");
	change_server_state(server, SV_IDLE);

	list_for_each_safe(n, tmp, &pool->waiting_clients) {
		struct pgsocket *client = container_of(n, struct pgsocket, node);
		if (client->state == CL_WAITING_LOGIN)
			finish_client_login(client);
	}
	pool_wake_waiters(pool);
}

static void run_connect_query(struct pgsocket *server)
{
	struct pktbuf pb;
	server->exec_on_connect = true;
	pktbuf_init(&pb);
	pktbuf_query(&pb, server->db->connect_query);
	sbuf_send_pktbuf(&server->sbuf, &pb);
	pktbuf_free(&pb);
}

static void remember_param(struct pgsocket *server, const uint8_t *body, size_t len, bool at_login)
{
	const char *name, *value;

	if (!pkt_read_param_status(body, len, &name, &value))
		return;
	varcache_set(&server->vars, name, value);
	if (server->link)
		varcache_set(&server->link->vars, name, value);
	if (at_login)
		pktbuf_param_status(&server->login_params, name, value);
}

/* ReadyForQuery's status into tx_state.  A malformed one leaves the pool's
 * bookkeeping (idle or in a transaction?) to a guess: the server is closed
 * instead, and its client, if any, gets "server conn crashed?". */
static bool take_ready_status(struct pgsocket *server, const uint8_t *body, size_t len)
{
	char status = pkt_read_ready(body, len);

	if (!status) {
		disconnect_server(server, true, "server sent a malformed ReadyForQuery");
		return false;
	}
	server->tx_state = status;
	return true;
}

/* The login was refused (pool->last_login_error says why): the clients
 * waiting for this pool hear it, and the pool waits before trying again. */
void server_login_failed(struct pgsocket *server)
{
	struct pgpool *pool = server->pool;

	pool->last_login_failed = true;
	pool->last_connect_time = get_time_usec();
	kill_pool_logins(pool, "08P01", pool->last_login_error);
	disconnect_server(server, false, "%s", pool->last_login_error);
}

static enum sbuf_result handle_login_pkt(struct pgsocket *server, struct sbuf_pkt *pkt)
{
	const uint8_t *body = pkt->data + pkt->hdr.hdr_len;
	size_t len = pkt->hdr.len - pkt->hdr.hdr_len;

	switch (pkt->hdr.type) {
	case 'R':
		if (len >= 4 && body[0] == 0 && body[1] == 0 && body[2] == 0 && body[3] == AUTH_REQ_OK) {
			slog_debug(server, "S: auth ok");
			break;
		}
		if (!server_answer_auth(server, body, len)) {
			server_login_failed(server);
			return SBUF_CLOSED;
		}
		break;
	case 'S':
		remember_param(server, body, len, true);
		break;
	case 'K': {
		const uint8_t *key;
		if (pkt_read_backend_key(body, len, &key))
			memcpy(server->cancel_key, key, CANCEL_KEY_LEN);
		break;
	}
	case 'E':
		sbuf_skip(&server->sbuf, pkt);
		if (server->exec_on_connect) {
			/* PgBouncer logs connect_query errors and goes on. */
			const char *sqlstate, *msg;
			pkt_parse_error_fields(body, len, &sqlstate, &msg);
			slog_warning(server, "connect_query failed: %s %s", sqlstate, msg);
			return SBUF_DONE;
		}
		return login_failed(server, body, len);
	case 'N':
		break;
	case 'Z':
		if (!take_ready_status(server, body, len))
			return SBUF_CLOSED;
		sbuf_skip(&server->sbuf, pkt);
		if (server->exec_on_connect) {
			server->exec_on_connect = false;
			login_complete(server);
		} else if (server->db->connect_query && server->db->connect_query[0]) {
			run_connect_query(server);
		} else {
			login_complete(server);
		}
		return SBUF_DONE;
	default:
		if (!server->exec_on_connect) {
			sbuf_skip(&server->sbuf, pkt);
			disconnect_server(server, false, "unexpected packet '%c' during login", pkt->hdr.type);
			return SBUF_CLOSED;
		}
	}
	sbuf_skip(&server->sbuf, pkt);
	return SBUF_DONE;
}

/* ---------------- after login ---------------- */

static bool internal_query_running(const struct pgsocket *server)
{
	return server->setting_vars || server->resetting || server->checking;
}

/* Our own query (SET sync, reset, check) finished. */
static void internal_query_done(struct pgsocket *server)
{
	struct pgpool *pool = server->pool;

	if (server->setting_vars) {
		server->setting_vars = false;
		server->ready = true;
		if (server->link)
			sbuf_continue(&server->link->sbuf);
		return;
	}
	server->resetting = false;
	server->checking = false;
	server->ready = true;
	server->expect_rfq = 0;
	server->unsynced = false;
	server->request_time = get_time_usec();
	/* RECONNECT or a reload marked it while its reset or check ran */
	if (server->close_needed) {
		disconnect_server(server, true, "obsolete connection");
		return;
	}
	change_server_state(server, SV_IDLE);
	pool_wake_waiters(pool);
}

static enum sbuf_result internal_query_pkt(struct pgsocket *server, struct sbuf_pkt *pkt)
{
	const uint8_t *body = pkt->data + pkt->hdr.hdr_len;
	size_t len = pkt->hdr.len - pkt->hdr.hdr_len;

	/* PgBouncer's total_sent includes the answers to our own queries. */
	server->pool->stats.server_bytes += pkt->hdr.len;
	sbuf_skip(&server->sbuf, pkt);
	if (pkt->hdr.type == 'E') {
		const char *sqlstate, *msg;
		pkt_parse_error_fields(body, len, &sqlstate, &msg);
		slog_warning(server, "%s failed: %s %s",
			     server->setting_vars ? "var change" : server->resetting ? "reset query" : "test query",
			     sqlstate, msg);
		if (server->setting_vars && server->link)
			disconnect_client(server->link, true, "var change failed");
		disconnect_server(server, true, server->resetting ? "reset query failed" : "test query failed");
		return SBUF_CLOSED;
	}
	if (pkt->hdr.type == 'S')
		remember_param(server, body, len, false);
	if (pkt->hdr.type == 'C' && server->ps)
		prepared_command_done(server, body, len, false);	/* server_reset_query */
	if (pkt->hdr.type == 'Z') {
		if (!take_ready_status(server, body, len))
			return SBUF_CLOSED;
		internal_query_done(server);
	}
	return server->state == SV_JUSTFREE ? SBUF_CLOSED : SBUF_DONE;
}

static void account_ready(struct pgsocket *server, char tx_state)
{
	struct pgpool *pool = server->pool;
	usec_t now = get_time_usec();

	if (server->query_start) {
		pool->stats.query_count++;
		pool->stats.query_time += now - server->query_start;
		server->query_start = 0;
	}
	if (tx_state == 'I' && server->xact_start) {
		pool->stats.xact_count++;
		pool->stats.xact_time += now - server->xact_start;
		server->xact_start = 0;
	}
}

static enum sbuf_result ready_for_query(struct pgsocket *server, struct sbuf_pkt *pkt)
{
	struct pgsocket *client = server->link;
	const uint8_t *body = pkt->data + pkt->hdr.hdr_len;
	char tx_state;

	if (!take_ready_status(server, body, pkt->hdr.len - pkt->hdr.hdr_len))
		return SBUF_CLOSED;
	tx_state = server->tx_state;
	if (server->expect_rfq > 0)
		server->expect_rfq--;
	server->ready = server->expect_rfq == 0 && !server->unsynced;
	/* ReadyForQuery (popped from the queue already) may answer a Query
	 * the client followed with Bind/Execute before any Sync */
	if (server->ready && server->ps)
		server->ready = !prepared_owes_answers(server);
	account_ready(server, tx_state);

	if (!client) {
		sbuf_skip(&server->sbuf, pkt);
		return SBUF_DONE;
	}
	int mode = pool_mode_of(server->pool);
	if (mode == POOL_STMT && tx_state != 'I' && server->ready) {
		/* The error replaces ReadyForQuery, so the client sees it as the
		 * answer to the statement that opened the transaction. */
		sbuf_skip(&server->sbuf, pkt);
		disconnect_client(client, true, "transaction blocks not allowed in statement pooling mode");
		return SBUF_DONE;
	}
	server->pool->stats.server_bytes += pkt->hdr.len;
	sbuf_forward(&server->sbuf, &client->sbuf, pkt);
	if (server->ps)
		prepared_after_reply(server);	/* before the server may go back to its pool */
	client->tx_state = tx_state;
	if (plugin_has(PLUGIN_HOOK_RESULT) && client->plug)
		plugin_result_ready(client, server->ready);
	client->swap_server_error = false;
	if (!server->ready)
		return SBUF_DONE;
	if (mode != POOL_SESSION && tx_state == 'I' && !client->in_copy)
		release_server(server);
	if (client->plug && client->plug->close_when_idle)
		plugin_close_if_due(client);
	return SBUF_DONE;
}

void side_query_send(struct pgsocket *client)
{
	if (client->pquery)
		plugin_query_send(client);
	else
		auth_query_send(client);
}

/* Our own queries on a client's behalf (its auth_query, a plugin's):
 * whole messages, consumed here, never forwarded.  At ReadyForQuery the
 * server goes back to its pool before the query's owner hears the end. */
static enum sbuf_result side_query_pkt(struct pgsocket *server, struct pgsocket *client, struct sbuf_pkt *pkt)
{
	const uint8_t *body = pkt->data + pkt->hdr.hdr_len;
	size_t len = pkt->hdr.len - pkt->hdr.hdr_len;

	if (!pkt->complete)
		return SBUF_NEED_FULL;
	sbuf_skip(&server->sbuf, pkt);
	server->pool->stats.server_bytes += pkt->hdr.len;
	if (pkt->hdr.type != 'Z') {
		if (client->pquery)
			return plugin_query_server_msg(server, client, pkt->hdr.type, body, len);
		return auth_query_server_msg(server, client, pkt->hdr.type, body, len);
	}
	if (!take_ready_status(server, body, len))
		return SBUF_CLOSED;
	server->ready = true;
	release_server(server);
	if (client->pquery)
		plugin_query_finished(client);
	else
		auth_query_finished(client);
	return server->state == SV_JUSTFREE ? SBUF_CLOSED : SBUF_DONE;
}

static enum sbuf_result forward_active_pkt(struct pgsocket *server, struct sbuf_pkt *pkt)
{
	struct pgsocket *client = server->link;

	switch (pkt->hdr.type) {
	case 'Z':
		if (!pkt->complete)
			return SBUF_NEED_FULL;
		return ready_for_query(server, pkt);
	case 'S':
		if (!pkt->complete)
			return SBUF_NEED_FULL;
		remember_param(server, pkt->data + 5, pkt->hdr.len - 5, false);
		break;
	case 'G':	/* CopyInResponse: client streams data next */
		if (client)
			client->in_copy = true;
		break;
	case 'E':
		if (client && client->swap_server_error) {
			/* The answer to a plugin's block stand-in. */
			client->in_copy = false;
			sbuf_skip(&server->sbuf, pkt);
			plugin_send_block_error(client);
			return SBUF_DONE;
		}
		/* fallthrough */
	case 'C':
	case 'c':
		if (client)
			client->in_copy = false;
		break;
	}
	if (!client) {
		sbuf_skip(&server->sbuf, pkt);
		/* Only async notices may arrive on an idle connection. */
		if (pkt->hdr.type == 'N' || pkt->hdr.type == 'S')
			return SBUF_DONE;
		disconnect_server(server, true, "idle server got dirty");
		return SBUF_CLOSED;
	}
	if (plugin_has(PLUGIN_HOOK_RESULT) && client->plug)
		return plugin_result_forward(server, client, pkt);
	server->pool->stats.server_bytes += pkt->hdr.len;
	sbuf_forward(&server->sbuf, &client->sbuf, pkt);
	return SBUF_DONE;
}

/*
 * With named prepared statements tracked (prepared.c), each message is
 * first matched against what the server owes: an answer to a message of
 * ours is swallowed, answers made here follow the one forwarded.  The
 * match is made once per message, though the handler may see a message
 * again (more of it needed, paused).
 */
static enum sbuf_result tracked_active_pkt(struct pgsocket *server, struct sbuf_pkt *pkt)
{
	struct ps_state *ps = server->ps;
	enum sbuf_result r;

	if (!prepared_reply_matched(ps)) {
		if (pkt->hdr.type == 'C') {
			if (!pkt->complete)
				return SBUF_NEED_FULL;
			prepared_command_done(server, pkt->data + 5, pkt->hdr.len - 5, true);
		}
		if (!prepared_server_reply(server, pkt)) {
			server->pool->stats.server_bytes += pkt->hdr.len;
			sbuf_skip(&server->sbuf, pkt);
			prepared_after_reply(server);
			return SBUF_DONE;
		}
	}
	r = forward_active_pkt(server, pkt);
	if (r == SBUF_DONE)
		prepared_after_reply(server);
	else if (r != SBUF_CLOSED)
		prepared_reply_hold(ps);
	return r;
}

static enum sbuf_result handle_active_pkt(struct pgsocket *server, struct sbuf_pkt *pkt)
{
	struct pgsocket *client = server->link;

	if (client && side_query_running(client))
		return side_query_pkt(server, client, pkt);
	if (server->ps)
		return tracked_active_pkt(server, pkt);
	return forward_active_pkt(server, pkt);
}

static enum sbuf_result cancel_conn_event(struct pgsocket *server, enum sbuf_event ev, struct sbuf_pkt *pkt)
{
	if (ev == SBUF_EV_CONNECT_OK) {
		send_cancel(server);
		return SBUF_DONE;
	}
	if (ev == SBUF_EV_PKT)
		sbuf_skip(&server->sbuf, pkt);
	if (ev == SBUF_EV_CONNECT_FAILED)
		slog_warning(server, "sending cancel request failed: %s", strerror(errno));
	/* EOF after the request is the normal end. */
	disconnect_server(server, false, "cancel request done");
	return SBUF_CLOSED;
}

enum sbuf_result server_proto(struct sbuf *sb, enum sbuf_event ev, struct sbuf_pkt *pkt)
{
	struct pgsocket *server = container_of(sb, struct pgsocket, sbuf);

	if (server->is_cancel_conn)
		return cancel_conn_event(server, ev, pkt);

	switch (ev) {
	case SBUF_EV_CONNECT_OK:
		slog_debug(server, "connected");
		if (want_server_tls(server))
			send_ssl_request(server);
		else
			send_startup(server);
		return SBUF_DONE;
	case SBUF_EV_BYTE:
		return ssl_answer(server, pkt->hdr.type);
	case SBUF_EV_TLS_READY:
		send_startup(server);
		return SBUF_DONE;
	case SBUF_EV_TLS_FAILED:
		slog_warning(server, "%s", sbuf_tls_error(sb));
		connect_failed(server, "TLS handshake with server failed");
		return SBUF_CLOSED;
	case SBUF_EV_CONNECT_FAILED:
		slog_warning(server, "connect failed: %s", strerror(errno));
		connect_failed(server, "connect failed");
		return SBUF_CLOSED;
	case SBUF_EV_RECV_FAILED:
	case SBUF_EV_SEND_FAILED:
		if (server->state == SV_LOGIN) {
			connect_failed(server, "server closed connection during login");
			return SBUF_CLOSED;
		}
		disconnect_server(server, false, "server conn crashed?");
		return SBUF_CLOSED;
	case SBUF_EV_BAD_PKT:
		disconnect_server(server, false, "bad packet from server");
		return SBUF_CLOSED;
		return SBUF_DONE;
	case SBUF_EV_PKT:
		break;
	}

	if (server->state == SV_LOGIN || server->exec_on_connect) {
		if (!pkt->complete)
			return SBUF_NEED_FULL;
		return handle_login_pkt(server, pkt);
	}
	if (internal_query_running(server)) {
		if (!pkt->complete && (pkt->hdr.type == 'E' || pkt->hdr.type == 'S' || pkt->hdr.type == 'Z'))
			return SBUF_NEED_FULL;
		return internal_query_pkt(server, pkt);
	}
	return handle_active_pkt(server, pkt);
}

/* ---------------- cancel requests ---------------- */

/* A connection that will carry one CancelRequest with key to db's address. */
struct pgsocket *cancel_conn_new(struct pgdatabase *db, const uint8_t key[CANCEL_KEY_LEN])
{
	struct pgsocket *cancel = socket_alloc(true);

	cancel->is_cancel_conn = true;
	cancel->pool = NULL;	/* in no pool list: must not keep a pool alive */
	cancel->db = db;
	memcpy(cancel->cancel_to_send, key, CANCEL_KEY_LEN);
	cancel->state = SV_LOGIN;	/* in no pool list, but in cancel_servers for the janitor */
	list_append(&pooler.cancel_servers, &cancel->node);
	return cancel;
}

void forward_cancel_request(struct pgsocket *req)
{
	struct pgsocket *target, *server;

	if (peer_forward_cancel(req->cancel_key))
		return;		/* another process's client */
	target = find_client_by_cancel_key(req->cancel_key);
	server = target ? target->link : NULL;
	if (!target) {
		log_debug("cancel request for unknown client");
		return;
	}
	if (target->db->is_admin) {
		admin_handle_cancel(target);
		return;
	}
	/* A statement a plugin holds has not reached any server yet. */
	if (target->plug && plugin_cancel_held(target))
		return;
	if (!server) {
		slog_debug(target, "cancel request for idle client");
		return;
	}
	struct pgsocket *cancel = cancel_conn_new(server->db, server->cancel_key);
	memcpy(&cancel->remote_addr, &server->remote_addr, sizeof(server->remote_addr));
	cancel->is_unix = server->is_unix;
	socklen_t len = server->is_unix ? unix_address_length((const struct sockaddr_un *)&server->remote_addr)
			: server->remote_addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
			: sizeof(struct sockaddr_in);
	if (!sbuf_connect(&cancel->sbuf, (const struct sockaddr *)&cancel->remote_addr, len))
		disconnect_server(cancel, false, "failed to send cancel request");
}
