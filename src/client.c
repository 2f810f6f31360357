/*
 * Client connections: the startup packet, login, and the protocol state
 * machine that hands each message to the server the pool gives this client.
 */
#include "pgwarden.h"
#include "tls.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

/* Login-phase messages may be bigger than pkt_buf (long SCRAM messages). */
#define MAX_LOGIN_PKT (64 * 1024)
/* The longest Query/Parse a statement plugin can be shown; longer ones are refused. */
#define MAX_PLUGIN_STATEMENT (64 * 1024 * 1024)

/* ---------------- welcome ---------------- */

static void send_welcome(struct pgsocket *client)
{
	struct pktbuf pb;

	pktbuf_init(&pb);
	/* Room for the usual welcome at once: the tracked parameters, the key
	 * and ReadyForQuery come to about 200 bytes. */
	pktbuf_reserve(&pb, client->pool->welcome.len + 256);
	pktbuf_auth_request(&pb, AUTH_REQ_OK, NULL, 0);
	/* The server's ParameterStatus, then the client's own values of the
	 * parameters tracked per client (the welcome holds only the others). */
	pktbuf_put_bytes(&pb, client->pool->welcome.data, client->pool->welcome.len);
	varcache_send_all(&client->vars, client->pool->welcome_tracked, &pb);
	pktbuf_backend_key(&pb, client->cancel_key);
	if (cf->login_notify_message && cf->login_notify_message[0])
		pktbuf_notice(&pb, "00000", cf->login_notify_message);
	pktbuf_ready(&pb, 'I');
	sbuf_send_pktbuf(&client->sbuf, &pb);
	pktbuf_free(&pb);
}

/* Auth passed: join the pool; answer now or once a server has logged in. */
bool finish_client_login(struct pgsocket *client)
{
	struct pgpool *pool = client->pool;

	if (pool->db->is_admin)
		admin_prepare_pool(pool);
	if (!pool->welcome_ready) {
		if (client->state != CL_WAITING_LOGIN) {
			slog_debug(client, "finish_client_login: no welcome message, pause");
			change_client_state(client, CL_WAITING_LOGIN);
			launch_new_connection(pool);
		}
		return false;
	}
	varcache_fill_unset(&client->vars, &pool->server_defaults);
	generate_cancel_key(client->cancel_key);
	if (plugin_has(PLUGIN_HOOK_ANY) && !pool->db->is_admin)
		plugin_session_start(client);
	send_welcome(client);
	client->sbuf.max_full_pkt = client->sbuf.ibuf_base;
	/* A statement plugin sees whole Query/Parse messages; named Parse
	 * messages are kept whole too (prepared.c). */
	if (plugin_has(PLUGIN_HOOK_STATEMENT | PLUGIN_HOOK_RESULT) || cf->max_prepared_statements > 0)
		client->sbuf.max_full_pkt = (uint32_t)MIN(cf->max_packet_size, MAX_PLUGIN_STATEMENT);
	client->request_time = get_time_usec();
	change_client_state(client, CL_ACTIVE);
	pool->stats.client_login_count++;
	sbuf_continue(&client->sbuf);
	return true;
}

/* ---------------- startup packet ---------------- */

static bool ignored_param(const char *name)
{
	return config_list_contains(cf->ignore_startup_parameters, name);
}

static void append_client_host(struct pgsocket *client)
{
	char addr[80] = "unix";
	char app[VAR_MAX_LEN];
	size_t used;

	strlcpy_safe(app, varcache_get(&client->vars, VAR_APPNAME), sizeof(app));
	used = strlen(app);

	/* an address and port; "unix" otherwise (not socket_addr_text's "unix(PID)") */
	if (client->remote_addr.ss_family == AF_INET || client->remote_addr.ss_family == AF_INET6)
		socket_addr_text(client, addr, sizeof(addr));
	snprintf(app + used, sizeof(app) - used, "%s%s", used ? " - " : "", addr);
	varcache_set_id(&client->vars, VAR_APPNAME, app);
}

/* "_pq_.name": a protocol extension the client would like, not a GUC. */
static bool is_protocol_option(const char *name)
{
	return strncmp(name, "_pq_.", 5) == 0;
}

/*
 * As PostgreSQL answers a client asking for a newer minor protocol version
 * (libpq 18's max_protocol_version = 3.2) or for protocol options: a
 * NegotiateProtocolVersion saying 3.0 and naming every "_pq_." option as not
 * recognized, after which the login goes on in 3.0.  Silence would let the
 * client believe the newer version was accepted.
 */
static void negotiate_protocol_version(struct pgsocket *client, struct pktreader params, uint32_t n_options)
{
	const char *name, *value;
	struct pktbuf pb;

	pktbuf_init(&pb);
	pktbuf_begin(&pb, 'v');
	pktbuf_put_u32(&pb, PKT_PROTO_V3);
	pktbuf_put_u32(&pb, n_options);
	while (pkt_next_param(&params, &name, &value) == PKT_PARAM)
		if (is_protocol_option(name))
			pktbuf_put_string(&pb, name);
	pktbuf_end(&pb);
	sbuf_send_pktbuf(&client->sbuf, &pb);
	pktbuf_free(&pb);
}

/* Returns false after disconnecting the client. */
static bool read_startup_params(struct pgsocket *client, struct pktreader *r, uint16_t minor)
{
	const char *name, *value;
	const char *user = NULL, *dbname = NULL;
	struct pktreader params = *r;	/* from the first parameter on, read again below */
	uint32_t n_options = 0;
	enum pkt_param_result res;

	while ((res = pkt_next_param(r, &name, &value)) == PKT_PARAM) {
		if (strcmp(name, "user") == 0) {
			user = value;
		} else if (strcmp(name, "database") == 0) {
			dbname = value;
		} else if (is_protocol_option(name)) {
			n_options++;
		} else if (varcache_set(&client->vars, name, value)) {
			/* a parameter tracked per client: kept */
		} else if (ignored_param(name)) {
			slog_debug(client, "ignoring startup parameter: %s=%s", name, value);
		} else {
			slog_warning(client, "unsupported startup parameter: %s=%s", name, value);
			disconnect_client(client, true, "unsupported startup parameter: %s", name);
			return false;
		}
	}
	if (res == PKT_PARAM_BAD) {
		disconnect_client(client, true, "bad packet");
		return false;
	}
	if (minor > 0 || n_options > 0)
		negotiate_protocol_version(client, params, n_options);
	if (!user || !user[0]) {
		disconnect_client(client, true, "no username supplied");
		return false;
	}
	if (strlen(user) >= MAX_USERNAME) {
		disconnect_client(client, true, "username too long");
		return false;
	}
	if (!dbname || !dbname[0])
		dbname = user;
	if (strlen(dbname) >= MAX_DBNAME) {
		disconnect_client(client, true, "too long db name: %s", dbname);
		return false;
	}
	strpool_put(client->user_name);
	strpool_put(client->db_name);
	client->user_name = strpool_get(user, strlen(user));
	client->db_name = strpool_get(dbname, strlen(dbname));
	if (plugin_has(PLUGIN_HOOK_AUTH))
		plugin_keep_startup_params(client, r->data + params.pos, r->pos - params.pos);
	return true;
}

bool client_use_database(struct pgsocket *client, const char *name)
{
	struct pgdatabase *db = lookup_or_create_database(name);

	if (!db) {
		disconnect_client_sqlstate(client, "3D000", "no such database: %s", name);
		return false;
	}
	if (db->disabled) {
		disconnect_client(client, true, "database \"%s\" is disabled", db->name);
		return false;
	}
	client->db = db;
	return true;
}

/* Choose database, user and pool; then authenticate. */
static void start_login(struct pgsocket *client)
{
	char tls[128] = "no";

	if (client->sbuf.tls)
		tls_describe(client->sbuf.tls, tls, sizeof(tls));
	if (cf->log_connections)
		slog_info(client, "login attempt: db=%s user=%s tls=%s", client->db_name, client->user_name, tls);
	/* PgBouncer's rule: sockets on this host need no TLS */
	if (!client->sbuf.tls && !client->is_unix && tls_client_mode() >= SSLMODE_REQUIRE) {
		disconnect_client_sqlstate(client, "28000", "SSL required");
		return;
	}
	if (pooler.client_count > cf->max_client_conn) {
		disconnect_client_sqlstate(client, "53300", "no more connections allowed (max_client_conn)");
		return;
	}
	if (!client_use_database(client, client->db_name))
		return;
	if (cf->application_name_add_host)
		append_client_host(client);
	client_start_auth(client);
}

/*
 * SSLRequest: 'S' and a TLS handshake when client TLS is on (TCP only, as
 * PostgreSQL), else 'N' and the startup packet follows in plain text.
 * GSSENCRequest always gets 'N'.
 */
static bool answer_ssl_request(struct pgsocket *client, bool gss)
{
	SSL_CTX *ctx = tls_accept_ctx();

	if (gss || !ctx || client->is_unix || client->sbuf.tls) {
		sbuf_send(&client->sbuf, "N", 1);
		return true;
	}
	/* Bytes after the SSLRequest, before the handshake, would be read as if
	 * they had come over TLS (CVE-2021-23222): refuse. */
	if (sbuf_has_pending_input(&client->sbuf)) {
		disconnect_client(client, false, "unencrypted data after SSLRequest");
		return false;
	}
	if (!sbuf_send(&client->sbuf, "S", 1) || !sbuf_tls_accept(&client->sbuf, ctx)) {
		disconnect_client(client, false, "cannot start TLS");
		return false;
	}
	return true;
}

static enum sbuf_result handle_startup(struct pgsocket *client, struct sbuf_pkt *pkt)
{
	struct pkt_startup msg;
	const char *err;

	if (pkt->hdr.len > PKT_MAX_STARTUP) {
		disconnect_client(client, true, "bad packet header");
		return SBUF_CLOSED;
	}
	if (!pkt->complete)
		return SBUF_NEED_FULL;
	err = pkt_read_startup(pkt->data, pkt->hdr.len, &msg);
	sbuf_skip(&client->sbuf, pkt);
	if (err) {
		disconnect_client(client, true, "%s", err);
		return SBUF_CLOSED;
	}

	switch (msg.kind) {
	case PKT_STARTUP_SSL:
	case PKT_STARTUP_GSSENC:
		if (!answer_ssl_request(client, msg.kind == PKT_STARTUP_GSSENC))
			return SBUF_CLOSED;
		return SBUF_DONE;
	case PKT_STARTUP_CANCEL:
		if (msg.cancel_key) {
			memcpy(client->cancel_key, msg.cancel_key, CANCEL_KEY_LEN);
			forward_cancel_request(client);
		}
		client->state = CL_CANCEL;	/* closes without a log line */
		disconnect_client(client, false, "cancel request");
		return SBUF_CLOSED;
	case PKT_STARTUP_V3:
		break;
	}
	client->sbuf.startup_phase = false;
	if (!read_startup_params(client, &msg.params, msg.minor))
		return SBUF_CLOSED;
	start_login(client);
	return client->state == CL_JUSTFREE ? SBUF_CLOSED : SBUF_DONE;
}

/* ---------------- after login ---------------- */

/* Bring the server's session parameters in line with this client's. */
static bool sync_server_vars(struct pgsocket *client, struct pgsocket *server)
{
	struct pktbuf pb;
	bool need;

	pktbuf_init(&pb);
	need = varcache_build_sync(&client->vars, &server->vars, &pb);
	if (need) {
		slog_debug(server, "syncing session parameters for client");
		server->setting_vars = true;
		server->ready = false;
		sbuf_send_pktbuf(&server->sbuf, &pb);
	}
	pktbuf_free(&pb);
	return need;
}

static void note_query_start(struct pgsocket *client, struct pgsocket *server, uint8_t type, usec_t now)
{
	if (type == 'Q' || type == 'S' || type == 'F') {
		server->expect_rfq++;
		server->ready = false;
	}
	/* Bind/Execute after a Query, before any Sync: the Query's
	 * ReadyForQuery does not end what the server owes this client */
	if (type == 'S')
		server->unsynced = false;
	else if (type == 'P' || type == 'B' || type == 'D' || type == 'E' || type == 'C')
		server->unsynced = true;
	if (!server->query_start)
		server->query_start = now;
	if (!server->xact_start)
		server->xact_start = now;
	client->request_time = now;
}

static enum sbuf_result handle_query_pkt(struct pgsocket *client, struct sbuf_pkt *pkt)
{
	uint8_t type = pkt->hdr.type;

	if (!pkt_frontend_type_known(type)) {
		disconnect_client(client, true, "unknown pkt from client: %u/0x%x", type, type);
		return SBUF_CLOSED;
	}
	if (type == 'X') {
		sbuf_skip(&client->sbuf, pkt);
		disconnect_client(client, false, "client close request");
		return SBUF_CLOSED;
	}
	if (client->db->is_admin)
		return admin_handle_pkt(client, pkt);
	if (cf->disable_pqexec && type == 'Q') {
		disconnect_client(client, true, "PQexec disallowed");
		return SBUF_CLOSED;
	}
	bool track_ps = prepared_tracks(client);
	if (track_ps) {
		enum sbuf_result res;
		if (prepared_client_gate(client, pkt, &res))
			return res;
	}
	/* Result and statement_decided hooks are told which statement a result
	 * or an Execute is: they need whole Query, Parse and Bind messages (up
	 * to max_full_pkt). */
	bool tracking = plugin_has(PLUGIN_HOOK_RESULT | PLUGIN_HOOK_DECIDED);
	if (tracking && !pkt->complete && (type == 'Q' || type == 'P' || type == 'B'))
		return SBUF_NEED_FULL;
	/* Decided before a server is taken: a blocked statement needs none. */
	if (plugin_has(PLUGIN_HOOK_STATEMENT)) {
		enum sbuf_result res;
		if (!plugin_statement_gate(client, pkt, &res))
			return res;
	}
	if (!client->link) {
		if (client->state == CL_WAITING)
			return SBUF_PAUSE;
		if (!find_server(client))
			return client->state == CL_JUSTFREE ? SBUF_CLOSED : SBUF_PAUSE;
	}
	struct pgsocket *server = client->link;
	if (server->setting_vars)
		return SBUF_PAUSE;
	if (sync_server_vars(client, server))
		return SBUF_PAUSE;

	usec_t now = get_time_usec();
	note_query_start(client, server, type, now);
	if (tracking)
		plugin_exec_client_msg(client, pkt);
	if (plugin_has(PLUGIN_HOOK_RESULT) && (type == 'Q' || type == 'E'))
		plugin_result_started(client, now);
	server->pool->stats.client_bytes += pkt->hdr.len;
	if (track_ps)
		prepared_forward(client, server, pkt);
	else if (client->stmt_decided)
		plugin_statement_forward(client, server, pkt);
	else
		sbuf_forward(&client->sbuf, &server->sbuf, pkt);
	return SBUF_DONE;
}

enum sbuf_result client_proto(struct sbuf *sb, enum sbuf_event ev, struct sbuf_pkt *pkt)
{
	struct pgsocket *client = container_of(sb, struct pgsocket, sbuf);

	switch (ev) {
	case SBUF_EV_RECV_FAILED:
		/* a broken TLS record is not an EOF: say what OpenSSL said */
		disconnect_client(client, false, "%s", sb->tls_failed ? sbuf_tls_error(sb) : "client unexpected eof");
		return SBUF_CLOSED;
	case SBUF_EV_SEND_FAILED:
		disconnect_client(client, false, "client send failed");
		return SBUF_CLOSED;
	case SBUF_EV_BAD_PKT:
		disconnect_client(client, true, "bad packet header");
		return SBUF_CLOSED;
	case SBUF_EV_TLS_FAILED:
		disconnect_client(client, false, "%s", sbuf_tls_error(sb));
		return SBUF_CLOSED;
	case SBUF_EV_CONNECT_OK:
	case SBUF_EV_CONNECT_FAILED:
	case SBUF_EV_TLS_READY:		/* the startup packet follows, encrypted */
	case SBUF_EV_BYTE:
		return SBUF_DONE;
	case SBUF_EV_PKT:
		break;
	}

	switch (client->state) {
	case CL_LOGIN:
		if (sb->startup_phase)
			return handle_startup(client, pkt);
		return client_auth_packet(client, pkt);
	case CL_WAITING_LOGIN:
		/* Nothing is expected before our welcome. */
		return SBUF_PAUSE;
	case CL_ACTIVE:
	case CL_WAITING:
		/* Its auth_query runs: the client has nothing to say yet. */
		if (client->auth_phase == AUTH_PHASE_LOOKUP)
			return SBUF_PAUSE;
		return handle_query_pkt(client, pkt);
	default:
		sbuf_skip(sb, pkt);
		return SBUF_DONE;
	}
}

void accept_client(int fd, bool is_unix, const struct sockaddr_storage *peer, socklen_t peer_len)
{
	struct pgsocket *client = socket_alloc(false);

	client->is_unix = is_unix;
	memcpy(&client->remote_addr, peer, MIN((size_t)peer_len, sizeof(client->remote_addr)));
	client->peer_uid = -1;
	if (is_unix) {
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0) {
			client->peer_pid = cred.pid;
			client->peer_uid = (int)cred.uid;
		}
	}
	sbuf_accept(&client->sbuf, fd);
	client->sbuf.startup_phase = true;
	client->sbuf.max_full_pkt = MAX_LOGIN_PKT;
	client->counted_client = true;
	pooler.client_count++;
	client->state = CL_FREE;
	change_client_state(client, CL_LOGIN);
	slog_noise(client, "P: got connection");
	sbuf_read_now(&client->sbuf);
}
