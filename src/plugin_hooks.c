/*
 * Running the plugin hook chains for one client, and what their decisions
 * do to the protocol.
 *
 * A chain asks the plugins that registered a hook, in config order, until one
 * decides (ALLOW/ACCEPT, BLOCK/REJECT); CONTINUE and REWRITE pass on to the
 * next one.  A plugin answering LATER parks the request: the client's sbuf is
 * paused with the message still in its buffer, and request_complete() picks
 * the chain up where it stopped and wakes the client, whose handler then
 * meets the message again, this time decided (stmt_state).
 *
 * A blocked statement must leave the connection exactly as PostgreSQL would:
 *  - no server linked (nothing in flight, no open transaction): the answer
 *    is made here — ErrorResponse, then ReadyForQuery for a Query, or for a
 *    Parse every message up to the next Sync is skipped and the Sync answered;
 *  - a server linked: the message is replaced by a stand-in that fails in
 *    the parser, so the server aborts the transaction, skips to Sync and
 *    orders the error among the answers in flight exactly as for a real
 *    error; its ErrorResponse is swapped for the plugin's.
 */
#include "pgwarden.h"

#include <stdlib.h>
#include <string.h>

/* Fails in PostgreSQL's raw parser, before anything is looked up or run. */
#define BLOCK_STAND_IN_SQL "PGWARDEN_BLOCKED_STATEMENT"

#define DEFAULT_BLOCK_SQLSTATE "42501"
#define DEFAULT_REJECT_SQLSTATE "28P01"

/* ---------------- sessions and requests ---------------- */

struct pgw_session *plugin_session_of(struct pgsocket *client)
{
	struct pgw_session *s = client->plug;

	if (s)
		return s;
	s = xcalloc(1, sizeof(*s));
	s->client = client;
	s->data = xcalloc((size_t)plugin_count() + 1, sizeof(*s->data));
	s->res.want_rows = xcalloc((size_t)plugin_count() + 1, sizeof(*s->res.want_rows));
	socket_addr_text(client, s->client_addr, sizeof(s->client_addr));
	pktbuf_init(&s->out);
	client->plug = s;
	return s;
}

static struct pgw_request *request_new(struct pgw_session *s, enum request_kind kind)
{
	struct pgw_request *req = xmalloc(sizeof(*req));	/* per statement: util.h */

	*req = (struct pgw_request){ .kind = kind, .session = s };
	s->req = req;
	return req;
}

static void request_free(struct pgw_request *req)
{
	if (req->password) {
		secure_zero(req->password, strlen(req->password));
		free(req->password);
	}
	free(req->sql);
	free(req->rewrite);
	free(req->stmt_name);
	free(req->map_user);
	free(req->map_db);
	free(req->message);
	free(req->original_sql);
	free(req->note);
	free(req->veto_message);
	free(req);
}

/* The session is done with its request (the plugin may still hold it). */
static void session_drop_request(struct pgw_session *s)
{
	struct pgw_request *req = s->req;

	if (!req)
		return;
	s->req = NULL;
	if (req->waiting)
		req->session = NULL;	/* freed by the plugin's completion */
	else
		request_free(req);
}

/* ---------------- the chain ---------------- */

static bool has_hook(const struct pgw_plugin *p, enum request_kind kind)
{
	return kind == REQ_STATEMENT ? p->hooks.statement != NULL : p->hooks.client_auth != NULL;
}

void plugin_keep_startup_params(struct pgsocket *client, const uint8_t *params, size_t len)
{
	struct pgw_session *s = plugin_session_of(client);

	free(s->startup_params);
	s->startup_params = xmalloc(len + 1);
	memcpy(s->startup_params, params, len);
	s->startup_params[len] = 0;
	s->startup_params_len = len;
}

/* Every startup parameter as the client sent it (checked by client.c). */
static struct pgw_kv *auth_params(const struct pgw_session *s, int *n)
{
	struct pktreader r;
	const char *name, *value;
	int max = 0;
	struct pgw_kv *kv;

	for (size_t i = 0; i < s->startup_params_len; i++)
		max += s->startup_params[i] == 0;
	kv = xcalloc((size_t)max / 2 + 1, sizeof(*kv));
	*n = 0;
	pktreader_init(&r, s->startup_params, s->startup_params_len);
	while (*n < max / 2 && pkt_get_string(&r, &name) && name[0] && pkt_get_string(&r, &value))
		kv[(*n)++] = (struct pgw_kv){ name, value };
	return kv;
}

static enum pgw_decision call_hook(struct pgw_plugin *p, struct pgw_request *req)
{
	struct pgw_session *s = req->session;

	if (req->kind == REQ_STATEMENT) {
		struct pgw_statement st = {
			.size = sizeof(st),
			.sql = req->sql,
			.sql_len = strlen(req->sql),
			.source = req->source,
			.statement_name = req->stmt_name,
		};
		return p->hooks.statement(p, s, req, &st);
	}
	struct pgw_auth_info info = {
		.size = sizeof(info),
		.user = s->client->user_name,
		.database = s->client->db_name,
		.password = req->password,
		.client_addr = s->client_addr,
	};
	struct pgw_kv *params = auth_params(s, &info.nparams);
	info.params = params;
	s->started = true;
	enum pgw_decision d = p->hooks.client_auth(p, s, req, &info);
	free(params);
	return d;
}

static void decide(struct pgw_request *req, enum pgw_decision d, const struct pgw_plugin *p)
{
	char msg[160];

	req->final = d;
	req->done = true;
	req->decided_by = p->name;
	if (d != PGW_BLOCK)
		return;
	if (req->session)
		req->session->blocked_by = p->name;
	if (!req->sqlstate[0])
		strlcpy_safe(req->sqlstate, req->kind == REQ_STATEMENT ? DEFAULT_BLOCK_SQLSTATE
				 : DEFAULT_REJECT_SQLSTATE, sizeof(req->sqlstate));
	if (!req->message) {
		snprintf(msg, sizeof(msg), req->kind == REQ_STATEMENT ? "statement blocked by plugin %s"
			 : "authentication rejected by plugin %s", p->name);
		req->message = xstrdup(msg);
	}
}

/* What a plugin set but did not act on must not reach the next one. */
static void forget_answer(struct pgw_request *req)
{
	free(req->rewrite);
	req->rewrite = NULL;
	free(req->message);
	req->message = NULL;
	req->sqlstate[0] = '\0';
}

/* Record plugin p's answer.  False: the chain stops here. */
static bool take_decision(struct pgw_plugin *p, struct pgw_request *req, enum pgw_decision d)
{
	switch (d) {
	case PGW_CONTINUE:
		forget_answer(req);
		return true;
	case PGW_REWRITE:
		if (req->kind != REQ_STATEMENT || !req->rewrite)
			break;
		/* the first rewrite keeps the client's text */
		if (req->original_sql)
			free(req->sql);
		else
			req->original_sql = req->sql;
		req->sql = req->rewrite;
		req->rewrite = NULL;
		req->rewritten = true;
		forget_answer(req);
		return true;
	case PGW_ALLOW:
	case PGW_BLOCK:
		decide(req, d, p);
		return false;
	default:
		break;
	}
	/* Fail closed: a confused plugin must not let a statement or a login through. */
	p->errors++;
	log_warning("plugin %s: invalid decision %d from %s hook, refusing", p->name, (int)d,
		    req->kind == REQ_STATEMENT ? "statement" : "client_auth");
	forget_answer(req);
	decide(req, PGW_BLOCK, p);
	return false;
}

/* Around each hook call: request_complete() from inside the hook is an
 * early answer, not a late one. */
static void enter_hook(struct pgw_request *req)
{
	req->in_hook = true;
	req->completed_early = false;
}

/* After the hook answered *d: false when the request now waits for a
 * late completion; true with the answer in *d (an early one counts). */
static bool settle(struct pgw_request *req, enum pgw_decision *d)
{
	req->in_hook = false;
	if (*d != PGW_LATER)
		return true;
	if (!req->completed_early) {
		req->waiting = true;
		return false;
	}
	*d = req->early;
	return true;
}

/* Ask the plugins from req->plugin on; returns with req done or waiting. */
static void run_chain(struct pgw_request *req)
{
	for (; req->plugin < plugin_count(); req->plugin++) {
		struct pgw_plugin *p = plugin_at(req->plugin);
		enum pgw_decision d;

		if (!has_hook(p, req->kind))
			continue;
		p->calls++;
		enter_hook(req);
		d = call_hook(p, req);
		if (!settle(req, &d))
			return;
		if (!take_decision(p, req, d))
			return;
	}
	/* Nobody decided: statements go on, logins go to the core's auth. */
	req->final = req->kind == REQ_STATEMENT ? PGW_ALLOW : PGW_CONTINUE;
	req->done = true;
}

/* ---------------- statement_decided: after the chain ---------------- */

static void outcome_of(const struct pgw_request *req, struct pgw_statement_outcome *o)
{
	bool blocked = req->final == PGW_BLOCK;

	*o = (struct pgw_statement_outcome){
		.size = sizeof(*o),
		.source = req->source,
		.statement_name = req->stmt_name,
		.original_sql = req->original_sql ? req->original_sql : req->sql,
		.sql = blocked ? NULL : req->sql,
		.decision = blocked ? PGW_BLOCK : PGW_ALLOW,
		.decided_by = req->decided_by,
		.sqlstate = blocked ? req->sqlstate : NULL,
		.message = blocked ? req->message : NULL,
		.note = req->note,
	};
}

/* A statement_decided answer.  Only a veto of a statement that was to be
 * sent changes anything; an unknown answer is a veto (fail closed). */
static void take_observer_decision(struct pgw_plugin *p, struct pgw_request *req, enum pgw_decision d)
{
	if (d != PGW_CONTINUE && d != PGW_BLOCK) {
		p->errors++;
		log_warning("plugin %s: invalid decision %d from statement_decided hook, refusing", p->name, (int)d);
		req->veto_sqlstate[0] = '\0';
		free(req->veto_message);
		req->veto_message = NULL;
		d = PGW_BLOCK;
	}
	if (d == PGW_BLOCK && req->final != PGW_BLOCK) {
		free(req->message);
		req->message = req->veto_message;
		req->veto_message = NULL;
		memcpy(req->sqlstate, req->veto_sqlstate, sizeof(req->sqlstate));
		req->rewritten = false;
		decide(req, PGW_BLOCK, p);
	}
	free(req->veto_message);
	req->veto_message = NULL;
	req->veto_sqlstate[0] = '\0';
}

/* Show the outcome from req->observer on; returns finished or waiting. */
static void run_observers(struct pgw_request *req)
{
	for (; req->observer < plugin_count(); req->observer++) {
		struct pgw_plugin *p = plugin_at(req->observer);
		struct pgw_statement_outcome o;
		enum pgw_decision d;

		if (!p->hooks.statement_decided)
			continue;
		outcome_of(req, &o);
		p->calls++;
		req->observing = true;
		enter_hook(req);
		d = p->hooks.statement_decided(p, req->session, req, &o);
		if (!settle(req, &d))
			return;
		take_observer_decision(p, req, d);
	}
	req->observing = false;
	req->finished = true;
}

/* Run what is left of the request: the chain, then (statements) the
 * observers.  Returns with req finished or waiting. */
static void advance(struct pgw_request *req)
{
	if (!req->done) {
		run_chain(req);
		if (req->waiting)
			return;
	}
	if (req->kind == REQ_STATEMENT)
		run_observers(req);
	else
		req->finished = true;
}

static void deliver_auth(struct pgsocket *client, struct pgw_request *req);

void plugin_request_complete(struct pgw_request *req, enum pgw_decision d)
{
	if (req->in_hook) {
		req->completed_early = true;
		req->early = d;
		return;
	}
	if (!req->waiting) {
		log_warning("plugin request completed but not waiting (completed twice?)");
		return;
	}
	req->waiting = false;
	if (!req->session) {
		request_free(req);	/* the client went away meanwhile */
		return;
	}
	if (req->observing) {
		take_observer_decision(plugin_at(req->observer), req, d);
		req->observer++;
	} else if (take_decision(plugin_at(req->plugin), req, d)) {
		req->plugin++;
	}
	advance(req);
	if (req->waiting)
		return;
	struct pgsocket *client = req->session->client;
	if (req->kind == REQ_AUTH) {
		deliver_auth(client, req);
		return;
	}
	req->session->stmt_state = STMT_DECIDED;
	sbuf_continue(&client->sbuf);
}

/* ---------------- statements ---------------- */

/* Query: the SQL.  Parse: name, SQL and where the parameter types start. */
static bool read_statement(const struct sbuf_pkt *pkt, const char **name, const char **sql, size_t *rest_off)
{
	if (!pkt_read_statement(pkt->hdr.type, pkt->data + 5, pkt->hdr.len - 5, name, sql, rest_off))
		return false;
	*rest_off += 5;
	return true;
}

static void start_request(struct pgw_session *s, struct pgw_request *req)
{
	s->stmt_state = STMT_ASKING;
	advance(req);
	if (req->finished)
		s->stmt_state = STMT_DECIDED;
}

/* Start asking about the message; false after disconnecting the client. */
static bool ask_statement(struct pgsocket *client, struct pgw_session *s, const struct sbuf_pkt *pkt)
{
	const char *name, *sql;
	size_t rest_off;

	if (!read_statement(pkt, &name, &sql, &rest_off)) {
		disconnect_client(client, true, "bad packet");
		return false;
	}
	struct pgw_request *req = request_new(s, REQ_STATEMENT);
	req->source = pkt->hdr.type == 'P' ? PGW_STMT_PARSE : PGW_STMT_QUERY;
	req->sql = xstrdup(sql);
	req->stmt_name = xstrdup(name);
	start_request(s, req);
	return true;
}

/*
 * An Execute: its text was decided at its Parse, so the statement chain is
 * not asked again, but statement_decided hooks see every run — an audit
 * that cannot record must be able to refuse a prepared statement's
 * hundredth run as it refused its first.
 */
static bool ask_execution(struct pgsocket *client, struct pgw_session *s, const struct sbuf_pkt *pkt)
{
	struct pktreader r;
	const char *portal, *stmt_name = NULL, *sql = "";

	pktreader_init(&r, pkt->data + 5, pkt->hdr.len - 5);
	if (!pkt_get_string(&r, &portal)) {
		disconnect_client(client, true, "bad packet");
		return false;
	}
	plugin_exec_portal_statement(s, portal, &stmt_name, &sql);
	struct pgw_request *req = request_new(s, REQ_STATEMENT);
	req->source = PGW_STMT_EXECUTE;
	req->sql = xstrdup(sql);
	req->stmt_name = xstrdup_opt(stmt_name);
	req->final = PGW_ALLOW;
	req->done = true;
	start_request(s, req);
	return true;
}

/* The message to send instead of the client's: same kind, new SQL. */
static void build_replacement(struct pgw_session *s, const struct sbuf_pkt *pkt, const char *sql)
{
	const char *name, *old_sql;
	size_t rest_off;

	read_statement(pkt, &name, &old_sql, &rest_off);	/* checked by ask_statement */
	pktbuf_reset(&s->out);
	pktbuf_begin(&s->out, pkt->hdr.type);
	if (pkt->hdr.type == 'P')
		pktbuf_put_string(&s->out, name);
	pktbuf_put_string(&s->out, sql);
	/* Parse: the parameter types stay, except for the stand-in, which has none. */
	if (pkt->hdr.type == 'P') {
		if (strcmp(sql, BLOCK_STAND_IN_SQL) == 0)
			pktbuf_put_u16(&s->out, 0);
		else
			pktbuf_put_bytes(&s->out, pkt->data + rest_off, pkt->hdr.len - rest_off);
	}
	pktbuf_end(&s->out);
}

static void statement_finished(struct pgsocket *client, struct pgw_session *s)
{
	client->stmt_decided = false;
	s->stmt_state = STMT_NONE;
	pktbuf_reset(&s->out);
	session_drop_request(s);
}

/* Blocked with no server in between: PostgreSQL's answer, made here. */
static void answer_block_locally(struct pgsocket *client, struct pgw_session *s, const struct sbuf_pkt *pkt)
{
	struct pgw_request *req = s->req;
	struct pktbuf pb;

	/* The error hooks (an audit) see it before the client does. */
	plugin_result_blocked(s, req->sqlstate, req->message, false);
	sbuf_skip(&client->sbuf, pkt);
	pktbuf_init(&pb);
	pktbuf_error(&pb, "ERROR", req->sqlstate, req->message);
	if (pkt->hdr.type == 'Q')
		pktbuf_ready(&pb, client->tx_state);
	else
		client->skip_till_sync = true;
	sbuf_send_pktbuf(&client->sbuf, &pb);
	pktbuf_free(&pb);
	slog_debug(client, "statement blocked: %s", req->message);
	statement_finished(client, s);
}

/* After a Parse blocked here: PostgreSQL skips everything up to Sync. */
static enum sbuf_result skip_till_sync(struct pgsocket *client, struct sbuf_pkt *pkt)
{
	sbuf_skip(&client->sbuf, pkt);
	if (pkt->hdr.type == 'S') {
		struct pktbuf pb;
		client->skip_till_sync = false;
		pktbuf_init(&pb);
		pktbuf_ready(&pb, client->tx_state);
		sbuf_send_pktbuf(&client->sbuf, &pb);
		pktbuf_free(&pb);
	}
	return SBUF_DONE;
}

/* An Execute of a portal that does not exist: the server's error (then
 * skipping to Sync) without touching any of the client's portals. */
static void build_blocked_execute(struct pgw_session *s)
{
	pktbuf_reset(&s->out);
	pktbuf_begin(&s->out, 'E');
	pktbuf_put_string(&s->out, BLOCK_STAND_IN_SQL);
	pktbuf_put_u32(&s->out, 0);
	pktbuf_end(&s->out);
}

static void prepare_block_stand_in(struct pgsocket *client, struct pgw_session *s, const struct sbuf_pkt *pkt)
{
	struct pgw_request *req = s->req;

	if (pkt->hdr.type == 'E')
		build_blocked_execute(s);
	else
		build_replacement(s, pkt, BLOCK_STAND_IN_SQL);
	memcpy(s->block_sqlstate, req->sqlstate, sizeof(s->block_sqlstate));
	free(s->block_message);
	s->block_message = xstrdup(req->message);
	client->swap_server_error = true;
}

bool plugin_statement_gate(struct pgsocket *client, struct sbuf_pkt *pkt, enum sbuf_result *res)
{
	struct pgw_session *s;

	if (client->skip_till_sync) {
		*res = skip_till_sync(client, pkt);
		return false;
	}
	bool execute = pkt->hdr.type == 'E';
	if (execute ? !plugin_has(PLUGIN_HOOK_DECIDED) : pkt->hdr.type != 'Q' && pkt->hdr.type != 'P')
		return true;
	s = plugin_session_of(client);
	if (s->stmt_state == STMT_NONE) {
		if (!pkt->complete) {
			*res = SBUF_NEED_FULL;
			return false;
		}
		if (!(execute ? ask_execution(client, s, pkt) : ask_statement(client, s, pkt))) {
			*res = SBUF_CLOSED;
			return false;
		}
	}
	if (s->stmt_state == STMT_ASKING) {
		*res = SBUF_PAUSE;
		return false;
	}
	/* Decided.  This may run again for the same message when the client
	 * then waits for a server, so everything here is idempotent. */
	struct pgw_request *req = s->req;
	if (req->final == PGW_BLOCK) {
		if (!client->link) {
			answer_block_locally(client, s, pkt);
			*res = SBUF_DONE;
			return false;
		}
		prepare_block_stand_in(client, s, pkt);
	} else if (req->rewritten) {
		build_replacement(s, pkt, req->sql);
	}
	client->stmt_decided = true;
	return true;
}

const struct pktbuf *plugin_statement_replacement(struct pgsocket *client)
{
	struct pgw_session *s = client->plug;

	return s->out.len ? &s->out : NULL;
}

void plugin_statement_sent(struct pgsocket *client)
{
	statement_finished(client, client->plug);
}

void plugin_statement_forward(struct pgsocket *client, struct pgsocket *server, struct sbuf_pkt *pkt)
{
	const struct pktbuf *repl = plugin_statement_replacement(client);

	if (repl) {
		sbuf_skip(&client->sbuf, pkt);
		sbuf_send(&server->sbuf, repl->data, repl->len);
	} else {
		sbuf_forward(&client->sbuf, &server->sbuf, pkt);
	}
	plugin_statement_sent(client);
}

bool plugin_cancel_held(struct pgsocket *client)
{
	struct pgw_session *s = client->plug;
	struct pgw_request *held = s->req, *req;

	if (s->stmt_state != STMT_ASKING || !held || !held->waiting)
		return false;
	session_drop_request(s);	/* the plugin's completion will only free it */
	/* the same statement, answered here: the result hooks (an audit
	 * record) see what it was and what the plugin said of it */
	req = request_new(s, REQ_STATEMENT);
	req->source = held->source;
	req->stmt_name = xstrdup_opt(held->stmt_name);
	req->sql = xstrdup_opt(held->sql);
	req->original_sql = xstrdup_opt(held->original_sql);
	req->note = xstrdup_opt(held->note);
	req->final = PGW_BLOCK;
	req->done = true;
	strlcpy_safe(req->sqlstate, "57014", sizeof(req->sqlstate));
	req->message = xstrdup("canceling statement due to user request");
	s->stmt_state = STMT_DECIDED;
	slog_debug(client, "cancel request for a statement held by a plugin");
	sbuf_continue(&client->sbuf);
	return true;
}

void plugin_send_block_error(struct pgsocket *client)
{
	struct pgw_session *s = client->plug;
	const char *message = s->block_message ? s->block_message : "statement blocked";
	struct pktbuf pb;

	client->swap_server_error = false;
	plugin_result_blocked(s, s->block_sqlstate, message, true);
	pktbuf_init(&pb);
	pktbuf_error(&pb, "ERROR", s->block_sqlstate, message);
	sbuf_send_pktbuf(&client->sbuf, &pb);
	pktbuf_free(&pb);
}

/* ---------------- authentication ---------------- */

static void deliver_auth(struct pgsocket *client, struct pgw_request *req)
{
	struct pgw_session *s = req->session;
	struct plugin_auth_result r = {
		.decision = req->final,
		.server_user = req->map_user,
		.database = req->map_db,
		.sqlstate = req->sqlstate,
		.message = req->message,
		.password = req->password,
	};

	s->req = NULL;
	auth_plugin_decided(client, &r);
	request_free(req);
}

enum sbuf_result plugin_client_auth(struct pgsocket *client, const char *password)
{
	struct pgw_session *s = plugin_session_of(client);
	struct pgw_request *req = request_new(s, REQ_AUTH);

	req->password = xstrdup(password);
	advance(req);
	if (req->waiting)
		return SBUF_PAUSE;
	deliver_auth(client, req);
	return client->state == CL_JUSTFREE ? SBUF_CLOSED : SBUF_DONE;
}

/* ---------------- session start and end ---------------- */

void plugin_session_start(struct pgsocket *client)
{
	struct pgw_session *s = plugin_session_of(client);

	s->started = true;
	for (int i = 0; i < plugin_count(); i++) {
		struct pgw_plugin *p = plugin_at(i);
		if (p->hooks.session_start) {
			p->calls++;
			p->hooks.session_start(p, s);
		}
	}
}

void plugin_session_end(struct pgsocket *client, const char *reason)
{
	struct pgw_session *s = client->plug;

	if (s->started)
		plugin_result_abandoned(s, reason);
	for (int i = 0; s->started && i < plugin_count(); i++) {
		struct pgw_plugin *p = plugin_at(i);
		if (p->hooks.session_end) {
			p->calls++;
			p->hooks.session_end(p, s, reason);
		}
	}
	session_drop_request(s);
	identity_clear(&s->id);
	pktbuf_free(&s->out);
	plugin_result_free(s);
	if (s->startup_params)
		secure_zero(s->startup_params, s->startup_params_len);
	free(s->startup_params);
	free(s->block_message);
	free(s->close_message);
	free(s->data);
	free(s);
	client->plug = NULL;
	client->stmt_decided = false;
}

/* ---- session_close ---- */

static bool client_is_idle(const struct pgsocket *client)
{
	const struct pgsocket *server = client->link;

	if (client->state != CL_ACTIVE || client->tx_state != 'I' || client->in_copy)
		return false;
	return !server || (server->ready && !server->setting_vars);
}

/* session_end runs inside the disconnect and may free what the strings
 * point into (the session, the plugin's data): send copies. */
static void close_session_now(struct pgsocket *client, const char *sqlstate, const char *message)
{
	char state[6];
	char text[256];

	snprintf(state, sizeof(state), "%s", sqlstate);
	snprintf(text, sizeof(text), "%s", message);
	disconnect_client_sqlstate(client, state, "%s", text);
}

void plugin_session_close(struct pgw_session *s, const char *sqlstate, const char *message, int after_transaction)
{
	struct pgsocket *client = s->client;
	const char *state = sqlstate && strlen(sqlstate) == 5 ? sqlstate : "08006";
	const char *msg = message && message[0] ? message : "session closed by a plugin";

	if (!after_transaction || client_is_idle(client)) {
		close_session_now(client, state, msg);
		return;
	}
	s->close_when_idle = true;
	memcpy(s->close_sqlstate, state, sizeof(s->close_sqlstate));
	free(s->close_message);
	s->close_message = xstrdup(msg);
}

void plugin_close_if_due(struct pgsocket *client)
{
	struct pgw_session *s = client->plug;

	if (s->close_when_idle && client_is_idle(client)) {
		s->close_when_idle = false;
		close_session_now(client, s->close_sqlstate, s->close_message);
	}
}
