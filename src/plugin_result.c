/*
 * The server's answers on their way to a client, shown to plugins:
 * RowDescription (row_description), DataRow (data_row), CommandComplete
 * (command_complete) and ErrorResponse (error).
 *
 * Only loaded when some plugin registered one of those hooks, and even then
 * a DataRow is parsed only while a plugin asked for the rows of the current
 * result: otherwise it is forwarded straight from the read buffer like any
 * other message.  A rewritten row is rebuilt; an untouched one is not
 * copied.
 *
 * Plugins that see rows need whole messages, so the server's read buffer
 * may grow up to MAX_PLUGIN_RESULT_PKT for them.  A larger row cannot be
 * inspected and so is not sent at all (fail closed): the client gets an
 * error and both connections close.
 */
#include "pgwarden.h"

#include <stdlib.h>
#include <string.h>

#define MAX_PLUGIN_RESULT_PKT (256u * 1024 * 1024)

static struct result_state *result_of(struct pgsocket *client)
{
	return &((struct pgw_session *)client->plug)->res;
}

/* ---------------- RowDescription ---------------- */

/* The arrays stay for the next result: a RowDescription per query. */
static void forget_columns(struct result_state *res)
{
	for (int i = 0; i < res->desc.ncolumns; i++) {
		free(res->marks[i]);
		res->marks[i] = NULL;
	}
	res->desc.ncolumns = 0;
	res->any_want_rows = false;
}

static void free_columns(struct result_state *res)
{
	forget_columns(res);
	free(res->marks);
	free(res->cols);
	free(res->desc_copy);
}

static void reserve_columns(struct result_state *res, int n, uint32_t body_len)
{
	if (body_len > res->desc_cap) {
		free(res->desc_copy);
		res->desc_copy = xmalloc(body_len);
		res->desc_cap = body_len;
	}
	if (n > res->cols_cap) {
		res->cols = xrealloc(res->cols, (size_t)n * sizeof(*res->cols));
		res->marks = xrealloc(res->marks, (size_t)n * sizeof(*res->marks));
		memset(res->marks + res->cols_cap, 0, (size_t)(n - res->cols_cap) * sizeof(*res->marks));
		res->cols_cap = n;
	}
}

static bool read_column(struct pktreader *r, struct pgw_column *c, bool describing_statement)
{
	struct pkt_column col;

	if (!pkt_read_column(r, &col))
		return false;
	c->name = col.name;
	c->table_oid = col.table_oid;
	c->column_attnum = col.attnum;
	c->type_oid = col.type_oid;
	c->type_size = col.typlen;
	c->type_modifier = col.typmod;
	c->format = describing_statement ? -1 : col.format;
	return true;
}

static bool parse_row_description(struct result_state *res, const struct sbuf_pkt *pkt)
{
	uint32_t len = pkt->hdr.len - 5;
	struct pktreader r;
	uint16_t n;

	forget_columns(res);
	if (len < 2)
		return false;
	n = read_be16(pkt->data + 5);
	reserve_columns(res, n, len);
	memcpy(res->desc_copy, pkt->data + 5, len);
	pktreader_init(&r, res->desc_copy + 2, len - 2);
	res->desc.ncolumns = n;
	for (int i = 0; i < n; i++) {
		if (!read_column(&r, &res->cols[i], res->describing_statement))
			return false;
	}
	res->desc.size = sizeof(res->desc);
	res->desc.columns = res->cols;
	return true;
}

static void run_row_description(struct pgw_session *s)
{
	struct result_state *res = &s->res;

	res->row_number = 0;
	for (int i = 0; i < plugin_count(); i++) {
		struct pgw_plugin *p = plugin_at(i);
		bool want = p->hooks.data_row != NULL;	/* data_row alone: every row */

		res->want_rows[i] = false;
		if (p->hooks.row_description) {
			p->calls++;
			want = p->hooks.row_description(p, s, &res->desc) && want;
		}
		if (want) {
			res->want_rows[i] = true;
			res->any_want_rows = true;
		}
	}
}

/* ---------------- DataRow ---------------- */

static void grow_fields(struct result_state *res, int n)
{
	if (n <= res->fields_cap)
		return;
	res->fields = xrealloc(res->fields, (size_t)n * sizeof(*res->fields));
	res->replaced = xrealloc(res->replaced, (size_t)n * sizeof(*res->replaced));
	memset(res->replaced + res->fields_cap, 0, (size_t)(n - res->fields_cap) * sizeof(*res->replaced));
	res->fields_cap = n;
}

static bool parse_data_row(struct result_state *res, const struct sbuf_pkt *pkt, int *nfields)
{
	struct pktreader r;
	uint16_t n;

	pktreader_init(&r, pkt->data + 5, pkt->hdr.len - 5);
	if (!pkt_get_u16(&r, &n) || n != res->desc.ncolumns)
		return false;
	grow_fields(res, n);
	for (int i = 0; i < n; i++) {
		uint32_t len;
		/* -1 is NULL; any other negative length is malformed */
		if (!pkt_get_column(&r, &res->fields[i].data, &len))
			return false;
		res->fields[i].len = res->fields[i].data ? (int32_t)len : -1;
	}
	*nfields = n;
	return pkt_remaining(&r) == 0;
}

/* What data_row hooks get; row_set_field finds the session through it. */
struct row_ctx {
	struct pgw_row row;
	struct result_state *res;
};

void plugin_row_set_field(struct pgw_row *row, int i, const void *data, int32_t len)
{
	struct result_state *res = container_of(row, struct row_ctx, row)->res;

	if (i < 0 || i >= row->nfields)
		return;
	free(res->replaced[i]);
	res->replaced[i] = NULL;
	if (len >= 0) {
		res->replaced[i] = xmalloc(len ? (size_t)len : 1);
		memcpy(res->replaced[i], data, (size_t)len);
	} else {
		len = -1;
	}
	res->fields[i].data = res->replaced[i];
	res->fields[i].len = len;
	res->row_changed = true;
}

static void build_data_row(struct pktbuf *pb, const struct result_state *res, int n)
{
	pktbuf_begin(pb, 'D');
	pktbuf_put_u16(pb, (uint16_t)n);
	for (int i = 0; i < n; i++) {
		pktbuf_put_u32(pb, (uint32_t)res->fields[i].len);
		if (res->fields[i].len > 0)
			pktbuf_put_bytes(pb, res->fields[i].data, (size_t)res->fields[i].len);
	}
	pktbuf_end(pb);
}

static void forget_replacements(struct result_state *res, int n)
{
	for (int i = 0; i < n; i++) {
		free(res->replaced[i]);
		res->replaced[i] = NULL;
	}
	res->row_changed = false;
}

/* A row nobody may see unchecked: refuse it and drop both sides. */
static enum sbuf_result refuse_row(struct pgsocket *server, struct pgsocket *client, const char *why)
{
	slog_warning(client, "result row refused: %s", why);
	disconnect_client(client, true, "%s", why);
	disconnect_server(server, true, "result row refused: %s", why);
	return SBUF_CLOSED;
}

/* True: the row was sent (rewritten); false: forward it as it is. */
static bool run_data_row(struct pgsocket *client, struct pgw_session *s, int n)
{
	struct result_state *res = &s->res;
	struct row_ctx ctx = {
		.row = { .size = sizeof(struct pgw_row), .nfields = n, .fields = res->fields,
			 .columns = &res->desc, .row_number = ++res->row_number },
		.res = res,
	};

	for (int i = 0; i < plugin_count(); i++) {
		struct pgw_plugin *p = plugin_at(i);
		if (!res->want_rows[i])
			continue;
		p->calls++;
		p->hooks.data_row(p, s, &ctx.row);
	}
	if (!res->row_changed)
		return false;
	struct pktbuf pb;
	pktbuf_init(&pb);
	build_data_row(&pb, res, n);
	res->bytes_sent += pb.len;
	sbuf_send_pktbuf(&client->sbuf, &pb);
	pktbuf_free(&pb);
	forget_replacements(res, n);
	return true;
}

enum row_outcome { ROW_FORWARD, ROW_REWRITTEN, ROW_REFUSED };

static enum row_outcome handle_data_row(struct pgsocket *server, struct pgsocket *client, struct sbuf_pkt *pkt)
{
	struct pgw_session *s = client->plug;
	int n;

	s->res.rows_sent++;
	if (!s->res.any_want_rows)
		return ROW_FORWARD;
	if (!parse_data_row(&s->res, pkt, &n)) {
		refuse_row(server, client, "malformed DataRow from server");
		return ROW_REFUSED;
	}
	if (!run_data_row(client, s, n))
		return ROW_FORWARD;
	server->pool->stats.server_bytes += pkt->hdr.len;
	sbuf_skip(&server->sbuf, pkt);
	return ROW_REWRITTEN;
}

/* ---------------- CommandComplete and ErrorResponse ---------------- */

static void finish_result(struct result_state *res, struct pgw_result *r, usec_t now)
{
	r->size = sizeof(*r);
	r->rows_sent = res->rows_sent;
	r->bytes_sent = res->bytes_sent;
	r->duration_us = res->started && now > res->started ? now - res->started : 0;
}

/* The next statement of the same Query (or pipeline) starts now. */
static void next_result(struct result_state *res, usec_t now)
{
	res->rows_sent = 0;
	res->bytes_sent = 0;
	if (res->started)
		res->started = now;
}

static void run_result_hooks(struct pgw_session *s, const struct pgw_result *r, bool is_error)
{
	for (int i = 0; i < plugin_count(); i++) {
		struct pgw_plugin *p = plugin_at(i);
		void (*hook)(struct pgw_plugin *, struct pgw_session *, const struct pgw_result *) =
			is_error ? p->hooks.error : p->hooks.command_complete;
		if (!hook)
			continue;
		p->calls++;
		hook(p, s, r);
	}
}

static void handle_command_complete(struct pgw_session *s, const struct sbuf_pkt *pkt)
{
	const char *tag = "";
	usec_t now = get_time_usec();
	struct pgw_result result = { 0 };

	/* else EmptyQueryResponse: no tag */
	if (pkt->hdr.type == 'C' && !pkt_read_command_tag(pkt->data + 5, pkt->hdr.len - 5, &tag))
		tag = "";
	s->res.bytes_sent += pkt->hdr.len;
	finish_result(&s->res, &result, now);
	plugin_exec_describe(s, &result);
	result.command_tag = tag;
	result.rows = pkt_tag_rows(tag);
	run_result_hooks(s, &result, false);
	plugin_exec_answered(s, pkt->hdr.type);
	next_result(&s->res, now);
}

static void handle_error(struct pgw_session *s, const struct sbuf_pkt *pkt)
{
	const uint8_t *body = pkt->data + 5;
	size_t len = pkt->hdr.len - 5;
	usec_t now = get_time_usec();
	struct pgw_result result = { 0 };

	finish_result(&s->res, &result, now);
	plugin_exec_describe(s, &result);
	result.severity = pkt_parse_error_severity(body, len);
	pkt_parse_error_fields(body, len, &result.sqlstate, &result.message);
	run_result_hooks(s, &result, true);
	plugin_exec_answered(s, 'E');
	next_result(&s->res, now);
}

void plugin_result_blocked(struct pgw_session *s, const char *sqlstate, const char *message, bool via_server)
{
	struct pgw_result result = { 0 };
	usec_t now = get_time_usec();

	if (!plugin_has(PLUGIN_HOOK_RESULT))
		return;
	finish_result(&s->res, &result, now);
	if (via_server) {
		/* the stand-in's error answers a queued Query/Execute */
		plugin_exec_describe(s, &result);
	} else if (s->req) {
		result.sql = s->req->original_sql ? s->req->original_sql : s->req->sql;
		result.decision_note = s->req->note;
		result.statement_name = s->req->source == PGW_STMT_PARSE ? s->req->stmt_name : NULL;
	}
	result.severity = "ERROR";
	result.sqlstate = sqlstate;
	result.message = message;
	result.blocked_by = s->blocked_by ? s->blocked_by : "";
	run_result_hooks(s, &result, true);
	/* nothing waits in a server's buffer here: a hold cannot apply */
	s->res.holds = 0;
	if (via_server)
		plugin_exec_answered(s, 'E');
	next_result(&s->res, now);
}

void plugin_result_abandoned(struct pgw_session *s, const char *reason)
{
	struct pgw_result result = { 0 };

	/* held: the hooks have seen this answer already */
	if (!plugin_has(PLUGIN_HOOK_RESULT) || s->res.held || !plugin_exec_in_flight(s))
		return;
	finish_result(&s->res, &result, get_time_usec());
	plugin_exec_describe(s, &result);
	result.severity = "FATAL";
	result.sqlstate = "08006";	/* connection_failure: no answer will come */
	result.message = reason && reason[0] ? reason : "connection closed";
	run_result_hooks(s, &result, true);
}

/* ---------------- the server's messages ---------------- */

/* Whole messages for the hooks: the buffer may grow up to the limit. */
static bool want_whole(struct pgsocket *server, const struct sbuf_pkt *pkt, enum sbuf_result *res)
{
	if (pkt->complete)
		return true;
	if (pkt->hdr.len > MAX_PLUGIN_RESULT_PKT) {
		*res = refuse_row(server, server->link, "result message too large for plugin inspection");
		return false;
	}
	if (server->sbuf.max_full_pkt < pkt->hdr.len)
		server->sbuf.max_full_pkt = MAX_PLUGIN_RESULT_PKT;
	*res = SBUF_NEED_FULL;
	return false;
}

enum sbuf_result plugin_result_forward(struct pgsocket *server, struct pgsocket *client, struct sbuf_pkt *pkt)
{
	struct pgw_session *s = client->plug;
	struct result_state *res = &s->res;
	enum sbuf_result r;

	switch (pkt->hdr.type) {
	case 't':	/* ParameterDescription: a statement is being described */
		res->describing_statement = true;
		break;
	case 'n':	/* NoData */
		res->describing_statement = false;
		break;
	case 'T':
		if (!want_whole(server, pkt, &r))
			return r;
		if (!parse_row_description(res, pkt))
			return refuse_row(server, client, "malformed RowDescription from server");
		res->describing_statement = false;
		res->bytes_sent += pkt->hdr.len;
		run_row_description(s);
		break;
	case 'D':
		if (res->any_want_rows && !want_whole(server, pkt, &r))
			return r;
		switch (handle_data_row(server, client, pkt)) {
		case ROW_REFUSED:
			return SBUF_CLOSED;
		case ROW_REWRITTEN:
			return SBUF_DONE;
		case ROW_FORWARD:
			res->bytes_sent += pkt->hdr.len;
			break;
		}
		break;
	case 'C':
	case 'E':
	case 'I':	/* EmptyQueryResponse: a result without a tag */
		if (!want_whole(server, pkt, &r))
			return r;
		if (res->held) {
			res->held = false;	/* released: shown to the hooks already */
			break;
		}
		if (pkt->hdr.type == 'E')
			handle_error(s, pkt);
		else
			handle_command_complete(s, pkt);
		if (res->holds > 0) {
			/* a plugin holds the answer (e.g. until its record is on
			 * disk): it stays in the server's buffer until released */
			res->held = true;
			res->held_server = server;
			return SBUF_PAUSE;
		}
		break;
	case 's':	/* PortalSuspended: this Execute is answered */
		plugin_exec_answered(s, 's');
		break;
	}
	server->pool->stats.server_bytes += pkt->hdr.len;
	sbuf_forward(&server->sbuf, &client->sbuf, pkt);
	return SBUF_DONE;
}

void plugin_result_started(struct pgsocket *client, usec_t now)
{
	struct result_state *res = result_of(client);

	if (!res->started)
		res->started = now;
}

void plugin_result_ready(struct pgsocket *client, bool idle)
{
	plugin_exec_ready(client->plug);
	if (idle)
		result_of(client)->started = 0;
}

/* ---------------- holding an answer ---------------- */

void plugin_result_hold(struct pgw_session *s)
{
	s->res.holds++;
}

void plugin_result_release(struct pgw_session *s)
{
	struct result_state *res = &s->res;

	if (res->holds <= 0)
		return;
	if (--res->holds == 0 && res->held && res->held_server)
		sbuf_continue(&res->held_server->sbuf);
}

/* ---------------- marks ---------------- */

void plugin_result_mark_column(struct pgw_session *s, struct pgw_plugin *p, int i, const char *note)
{
	struct result_state *res = &s->res;
	char *old, *joined;
	size_t len;

	if (i < 0 || i >= res->desc.ncolumns || !note)
		return;
	old = res->marks[i];
	len = (old ? strlen(old) + 2 : 0) + strlen(p->name) + 1 + strlen(note) + 1;
	joined = xmalloc(len);
	snprintf(joined, len, "%s%s%s:%s", old ? old : "", old ? ", " : "", p->name, note);
	free(old);
	res->marks[i] = joined;
}

const char *plugin_result_column_marks(const struct pgw_session *s, int i)
{
	if (i < 0 || i >= s->res.desc.ncolumns)
		return NULL;
	return s->res.marks[i];
}

void plugin_result_free(struct pgw_session *s)
{
	struct result_state *res = &s->res;

	plugin_exec_free(s);
	free_columns(res);
	forget_replacements(res, res->fields_cap);
	free(res->fields);
	free(res->replaced);
	free(res->want_rows);
}
