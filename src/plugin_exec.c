/*
 * Which statement a result belongs to, for the result hooks.
 *
 * The server answers in the order the client asked, so the core keeps, per
 * session, a queue of what went to the server and is not answered yet:
 *   - a Query: answered by one CommandComplete per statement (or an error),
 *     done at its ReadyForQuery;
 *   - an Execute: answered by one CommandComplete, EmptyQueryResponse,
 *     PortalSuspended or ErrorResponse;
 *   - a Sync: done at its ReadyForQuery — Executes still queued before it
 *     were skipped by the server after an error;
 *   - a FunctionCall: done at its ReadyForQuery.
 * To name the SQL of an Execute, the core also remembers the text of each
 * prepared statement (Parse) and which statement each portal binds (Bind),
 * as the server does, until Close or the end of the session.
 *
 * Only runs when some plugin registered a result hook or statement_decided
 * (which is shown the text an Execute runs).
 */
#include "pgwarden.h"

#include <stdlib.h>
#include <string.h>

/* A prepared statement or a portal of the client. */
struct named {
	struct named *next;
	char *name;
	char *sql;			/* the text the server got (after rewrites) */
	char *original_sql;		/* the client's text when a plugin rewrote it, else NULL */
	char *note;			/* the decision's request_note(), else NULL */
	/* portal only: the Bind's parameters */
	char *statement_name;
	uint8_t *bind_copy;		/* Bind body the params point into */
	size_t bind_len;
	struct pgw_field *params;
	int16_t *param_formats;
	int nparams;
};

struct exec_entry {
	struct exec_entry *next;
	uint8_t type;			/* 'Q', 'E', 'S' or 'F' */
	int statements_done;		/* Query: CommandCompletes seen */
	struct named *what;		/* owned copy (Query: sql only; Execute: the portal) */
};

struct exec_state {
	struct named *statements;
	struct named *portals;
	struct exec_entry *head, *tail;
};

static struct exec_state *exec_of(struct pgw_session *s)
{
	if (!s->exec)
		s->exec = xcalloc(1, sizeof(*s->exec));
	return s->exec;
}

/* ---------------- statements and portals ---------------- */

static void named_free(struct named *n)
{
	if (!n)
		return;
	free(n->name);
	free(n->sql);
	free(n->original_sql);
	free(n->note);
	free(n->statement_name);
	free(n->bind_copy);
	free(n->params);
	free(n->param_formats);
	free(n);
}

static struct named **find_named(struct named **list, const char *name)
{
	for (; *list; list = &(*list)->next) {
		if (strcmp((*list)->name, name) == 0)
			return list;
	}
	return list;
}

static void remove_named(struct named **list, const char *name)
{
	struct named **at = find_named(list, name);
	struct named *n = *at;

	if (n) {
		*at = n->next;
		named_free(n);
	}
}

/* Put n in the list, replacing one of the same name (the unnamed ones are
 * replaced by every Parse/Bind; PostgreSQL refuses a named duplicate, which
 * then never executes, so replacing is harmless). */
static void put_named(struct named **list, struct named *n)
{
	remove_named(list, n->name);
	n->next = *list;
	*list = n;
}

/* The Bind's parameters, for an entry: they must outlive a rebinding of
 * the portal (a pipeline may bind the unnamed portal again before the
 * first Execute is answered). */
static void copy_params(struct named *dst, const struct named *portal)
{
	dst->nparams = portal->nparams;
	if (!portal->bind_copy)
		return;
	dst->bind_copy = xmalloc(portal->bind_len ? portal->bind_len : 1);
	memcpy(dst->bind_copy, portal->bind_copy, portal->bind_len);
	dst->bind_len = portal->bind_len;
	dst->params = xcalloc((size_t)portal->nparams + 1, sizeof(*dst->params));
	dst->param_formats = xcalloc((size_t)portal->nparams + 1, sizeof(*dst->param_formats));
	for (int i = 0; i < portal->nparams; i++) {
		dst->params[i].len = portal->params[i].len;
		if (portal->params[i].data)
			dst->params[i].data = dst->bind_copy + (portal->params[i].data - portal->bind_copy);
		dst->param_formats[i] = portal->param_formats[i];
	}
}

/* ---------------- parsing the client's messages ---------------- */

static bool parse_bind(struct named *portal, const struct sbuf_pkt *pkt)
{
	uint32_t len = pkt->hdr.len - 5;
	struct pkt_bind b;

	portal->bind_copy = xmalloc(len ? len : 1);
	memcpy(portal->bind_copy, pkt->data + 5, len);
	portal->bind_len = len;
	/* a malformed Bind is refused by the server: no portal */
	if (!pkt_read_bind(portal->bind_copy, len, &b))
		return false;
	portal->name = xstrdup(b.portal);
	portal->statement_name = xstrdup(b.statement);
	portal->nparams = b.nparams;
	portal->params = xcalloc(b.nparams + 1u, sizeof(*portal->params));
	portal->param_formats = xcalloc(b.nparams + 1u, sizeof(*portal->param_formats));
	for (int i = 0; i < b.nparams; i++) {
		const uint8_t *data;
		uint32_t plen;

		pkt_bind_next_param(&b, &data, &plen);	/* checked by pkt_read_bind */
		portal->params[i].data = data;
		portal->params[i].len = data ? (int32_t)plen : -1;
		portal->param_formats[i] = pkt_bind_param_format(&b, i);
	}
	return true;
}

static void push_entry(struct exec_state *ex, uint8_t type, struct named *what)
{
	struct exec_entry *e = xmalloc(sizeof(*e));	/* per statement: util.h */

	*e = (struct exec_entry){ .type = type, .what = what };
	if (ex->tail)
		ex->tail->next = e;
	else
		ex->head = e;
	ex->tail = e;
}

static struct named *named_sql(const char *name, const char *sql, const char *original, const char *note)
{
	struct named *n = xmalloc(sizeof(*n));	/* per statement: util.h */

	*n = (struct named){ .name = xstrdup(name), .sql = xstrdup(sql) };
	if (original && strcmp(original, sql) != 0)
		n->original_sql = xstrdup(original);
	if (note)
		n->note = xstrdup(note);
	return n;
}

/* The Execute's portal, with its statement's text. */
static struct named *execution_of(struct exec_state *ex, const char *portal_name)
{
	struct named *portal = *find_named(&ex->portals, portal_name);
	struct named *stmt;
	struct named *n;

	if (!portal)
		return named_sql(portal_name, "", NULL, NULL);
	stmt = *find_named(&ex->statements, portal->statement_name);
	n = xmalloc(sizeof(*n));	/* per statement: util.h */
	*n = (struct named){
		.name = xstrdup(portal_name),
		.statement_name = xstrdup(portal->statement_name),
		.sql = xstrdup(stmt ? stmt->sql : ""),
		.original_sql = stmt && stmt->original_sql ? xstrdup(stmt->original_sql) : NULL,
		.note = stmt && stmt->note ? xstrdup(stmt->note) : NULL,
	};
	copy_params(n, portal);
	return n;
}

void plugin_exec_portal_statement(struct pgw_session *s, const char *portal_name, const char **stmt_name,
				  const char **sql)
{
	struct named *portal, *stmt;

	if (!s->exec || !(portal = *find_named(&s->exec->portals, portal_name)))
		return;
	*stmt_name = portal->statement_name;
	if ((stmt = *find_named(&s->exec->statements, portal->statement_name)) != NULL)
		*sql = stmt->sql;
}

/* ---------------- the client's messages ---------------- */

/* Query/Parse text: the client's, what the server gets instead, and the
 * note of the decision. */
static void statement_texts(struct pgsocket *client, const struct sbuf_pkt *pkt, const char **name,
			    const char **sql, const char **original, const char **note)
{
	struct pgw_session *s = client->plug;
	size_t rest_off;

	if (!pkt_read_statement(pkt->hdr.type, pkt->data + 5, pkt->hdr.len - 5, name, original, &rest_off)) {
		*name = NULL;
		*original = "";
	}
	*sql = *original;
	if (client->stmt_decided && s->req && s->req->rewritten)
		*sql = s->req->sql;
	*note = client->stmt_decided && s->req ? s->req->note : NULL;
}

void plugin_exec_client_msg(struct pgsocket *client, const struct sbuf_pkt *pkt)
{
	struct exec_state *ex = exec_of(client->plug);
	const uint8_t *body = pkt->data + 5;
	size_t len = pkt->hdr.len - 5;
	const char *name, *sql, *original, *note;

	/* Without result hooks only the statements and portals are kept (for
	 * statement_decided's view of an Execute); nothing reads the queue. */
	if (!plugin_has(PLUGIN_HOOK_RESULT) && strchr("QESF", pkt->hdr.type))
		return;
	switch (pkt->hdr.type) {
	case 'Q':
		statement_texts(client, pkt, &name, &sql, &original, &note);
		push_entry(ex, 'Q', named_sql("", sql, original, note));
		break;
	case 'P':
		statement_texts(client, pkt, &name, &sql, &original, &note);
		if (name)
			put_named(&ex->statements, named_sql(name, sql, original, note));
		break;
	case 'B': {
		struct named *portal = xmalloc(sizeof(*portal));	/* per statement: util.h */
		*portal = (struct named){ 0 };
		if (parse_bind(portal, pkt))
			put_named(&ex->portals, portal);
		else
			named_free(portal);
		break;
	}
	case 'E': {
		/* even a malformed Execute is answered (by an error): the
		 * portal name is enough to queue it */
		size_t end;
		if (pkt_read_names(body, len, 1, &name, &end))
			push_entry(ex, 'E', execution_of(ex, name));
		break;
	}
	case 'S':
	case 'F':	/* FunctionCall: answered, then ReadyForQuery */
		push_entry(ex, pkt->hdr.type, NULL);
		break;
	case 'C': {
		uint8_t what;
		if (pkt_read_target(body, len, &what, &name))
			remove_named(what == 'S' ? &ex->statements : &ex->portals, name);
		break;
	}
	}
}

/* ---------------- the server's answers ---------------- */

static void pop_entry(struct exec_state *ex)
{
	struct exec_entry *e = ex->head;

	ex->head = e->next;
	if (!ex->head)
		ex->tail = NULL;
	named_free(e->what);
	free(e);
}

/* What the result being answered came from, into r. */
void plugin_exec_describe(struct pgw_session *s, struct pgw_result *r)
{
	struct exec_entry *e = s->exec ? s->exec->head : NULL;

	if (!e || !e->what)
		return;
	r->sql = e->what->sql;
	r->original_sql = e->what->original_sql;
	r->decision_note = e->what->note;
	r->statement_name = e->type == 'E' ? e->what->statement_name : NULL;
	r->statement_index = e->statements_done;
	r->nparams = e->what->nparams;
	r->params = e->what->params;
	r->param_formats = e->what->param_formats;
}

/* A CommandComplete, EmptyQueryResponse, PortalSuspended or ErrorResponse
 * answered the head entry. */
void plugin_exec_answered(struct pgw_session *s, uint8_t msg_type)
{
	struct exec_entry *e = s->exec ? s->exec->head : NULL;

	if (!e)
		return;
	if (e->type == 'E')
		pop_entry(s->exec);
	else if (e->type == 'Q' && msg_type == 'C')
		e->statements_done++;
}

bool plugin_exec_in_flight(const struct pgw_session *s)
{
	const struct exec_entry *e = s->exec ? s->exec->head : NULL;

	return e && e->what && (e->type == 'Q' || e->type == 'E');
}

/* ReadyForQuery: the Query, or everything up to the Sync, is done. */
void plugin_exec_ready(struct pgw_session *s)
{
	struct exec_state *ex = s->exec;

	while (ex && ex->head) {
		uint8_t type = ex->head->type;
		pop_entry(ex);
		if (type != 'E')
			break;
	}
}

static void free_list(struct named *n)
{
	while (n) {
		struct named *next = n->next;
		named_free(n);
		n = next;
	}
}

void plugin_exec_free(struct pgw_session *s)
{
	struct exec_state *ex = s->exec;

	if (!ex)
		return;
	while (ex->head)
		pop_entry(ex);
	free_list(ex->statements);
	free_list(ex->portals);
	free(ex);
	s->exec = NULL;
}
