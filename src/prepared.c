/*
 * Named prepared statements in transaction and statement pooling
 * (max_prepared_statements), as PgBouncer 1.21+ does it.
 *
 * A client's next transaction may run on another server connection, where
 * the statements it prepared do not exist.  So the names a client gives
 * its statements stay here:
 *  - every distinct Parse (query text and parameter types) is one pooler-
 *    wide statement with its own server-side name, PGWARDEN_<id>;
 *  - each client maps its names to those statements;
 *  - each server holds some of them, prepared when a client's Parse, Bind
 *    or Describe first needs them there, at most max_prepared_statements
 *    (least recently used closed first).
 * A client's Parse of a statement its server already holds, and its Close
 * of a statement, are answered here (ParseComplete, CloseComplete); a Parse
 * or Close we send on our own is answered by the server and swallowed.
 *
 * Those answers must reach the client where PostgreSQL would have sent
 * them, so each server keeps the queue of what it still owes for the
 * messages sent to it (one entry per message that gets an answer), in
 * order, with the answers made here in their places.  When the server
 * reports an error, it skips every message up to the next Sync; so do we:
 * the entries up to that Sync are dropped and what they did here (a name
 * registered, a statement marked as held) is undone, newest first.
 */
#include "pgwarden.h"
#include "hashtab.h"
#include "prepared.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define SERVER_NAME_LEN 32

/* One distinct Parse, pooler-wide. */
struct ps_stmt {
	struct hnode node;	/* in the registry, by body */
	uint64_t id;		/* its name on servers: PGWARDEN_<id> */
	int refs;		/* client names, servers holding it, queue entries */
	uint32_t body_len;
	uint8_t body[];		/* the Parse after the name: query, parameter types */
};

/* One of a client's statement names. */
struct ps_name {
	struct hnode node;	/* by name */
	struct ps_stmt *stmt;
	char name[];
};

/* A statement prepared on one server. */
struct ps_held {
	struct hnode node;	/* by statement id */
	struct list_node lru;	/* least recently used first */
	struct ps_stmt *stmt;
};

enum entry_kind {
	ENTRY_FORWARD,		/* the server's answer goes to the client */
	ENTRY_SKIP,		/* the server's answer is ours: swallowed */
	ENTRY_ANSWER,		/* no message was sent: the answer is made here */
};

/* What to undo when the server skips the message (an earlier error). */
enum undo {
	UNDO_NAME_ADDED = 1,	/* the client's name for stmt */
	UNDO_NAME_REMOVED = 2,
	UNDO_HELD_ADDED = 4,	/* stmt as held by the server */
	UNDO_HELD_REMOVED = 8,
};

struct ps_entry {
	uint8_t msg;		/* the message: 'P', 'B', 'D', 'E', 'C', 'S', 'Q', 'F' */
	uint8_t kind;		/* enum entry_kind */
	uint8_t answer;		/* ENTRY_ANSWER: '1', '3' or 'E' */
	uint8_t undo;		/* enum undo bits */
	struct ps_stmt *stmt;	/* a reference, or NULL */
	char *text;		/* the client's statement name, or an error message */
	char sqlstate[6];
};

/* Per socket, made on first use. */
struct ps_state {
	/* client */
	struct htab names;
	bool skip_till_sync;	/* an error answered here: PostgreSQL would skip to Sync */
	/* server */
	struct htab held;
	struct list_node lru;
	struct ps_entry *queue;	/* ring */
	size_t head, len, cap;
	bool skipping;		/* the server reported an error and no Sync is queued yet */
	bool reply_matched;	/* the message at the server's parse_pos was matched */
	bool client_waits;	/* its client paused until its Query messages are answered */
};

static struct htab registry;
static uint64_t next_stmt_id;
/* Messages we make for servers are built here (the loop is single-threaded;
 * the buffer keeps its capacity between messages). */
static struct pktbuf scratch;

/* ---------------- statements ---------------- */

static struct ps_stmt *stmt_get(const uint8_t *body, uint32_t len)
{
	uint64_t hash = hash_bytes(body, len);
	struct ps_stmt *st;

	for (struct hnode *n = htab_first(&registry, hash); n; n = hnode_next(n)) {
		st = container_of(n, struct ps_stmt, node);
		if (st->body_len == len && memcmp(st->body, body, len) == 0)
			return st;
	}
	st = xmalloc(sizeof(*st) + len);
	st->id = ++next_stmt_id;
	st->refs = 0;
	st->body_len = len;
	memcpy(st->body, body, len);
	htab_insert(&registry, &st->node, hash);
	return st;
}

static struct ps_stmt *stmt_ref(struct ps_stmt *st)
{
	if (st)
		st->refs++;
	return st;
}

static void stmt_unref(struct ps_stmt *st)
{
	if (st && --st->refs == 0) {
		htab_remove(&registry, &st->node);
		free(st);
	}
}

static void server_name(const struct ps_stmt *st, char out[SERVER_NAME_LEN])
{
	snprintf(out, SERVER_NAME_LEN, "PGWARDEN_%" PRIu64, st->id);
}

static struct ps_state *state_of(struct pgsocket *sk)
{
	if (!sk->ps) {
		sk->ps = xcalloc(1, sizeof(*sk->ps));
		list_init(&sk->ps->lru);
	}
	return sk->ps;
}

/* ---------------- a client's names ---------------- */

static struct ps_name *name_find(struct ps_state *ps, const char *name)
{
	uint64_t hash = hash_bytes(name, strlen(name));

	for (struct hnode *n = htab_first(&ps->names, hash); n; n = hnode_next(n)) {
		struct ps_name *pn = container_of(n, struct ps_name, node);
		if (strcmp(pn->name, name) == 0)
			return pn;
	}
	return NULL;
}

static void name_add(struct ps_state *ps, const char *name, struct ps_stmt *st)
{
	size_t len = strlen(name);
	struct ps_name *pn = xmalloc(sizeof(*pn) + len + 1);

	memcpy(pn->name, name, len + 1);
	pn->stmt = stmt_ref(st);
	htab_insert(&ps->names, &pn->node, hash_bytes(name, len));
}

static void name_remove(struct ps_state *ps, struct ps_name *pn)
{
	htab_remove(&ps->names, &pn->node);
	stmt_unref(pn->stmt);
	free(pn);
}

static void names_clear(struct ps_state *ps)
{
	for (size_t i = 0; i < ps->names.nslots; i++) {
		while (ps->names.slots[i])
			name_remove(ps, container_of(ps->names.slots[i], struct ps_name, node));
	}
	htab_free(&ps->names);
}

/* ---------------- what a server holds ---------------- */

static struct ps_held *held_find(struct ps_state *ps, const struct ps_stmt *st)
{
	for (struct hnode *n = htab_first(&ps->held, st->id); n; n = hnode_next(n)) {
		struct ps_held *h = container_of(n, struct ps_held, node);
		if (h->stmt == st)
			return h;
	}
	return NULL;
}

static void held_touch(struct ps_state *ps, struct ps_held *h)
{
	list_del(&h->lru);
	list_append(&ps->lru, &h->lru);
}

static void held_add(struct ps_state *ps, struct ps_stmt *st)
{
	struct ps_held *h = xmalloc(sizeof(*h));

	h->stmt = stmt_ref(st);
	list_append(&ps->lru, &h->lru);
	htab_insert(&ps->held, &h->node, st->id);
}

static void held_remove(struct ps_state *ps, struct ps_held *h)
{
	htab_remove(&ps->held, &h->node);
	list_del(&h->lru);
	stmt_unref(h->stmt);
	free(h);
}

static void held_clear(struct ps_state *ps)
{
	while (!list_empty(&ps->lru))
		held_remove(ps, container_of(ps->lru.next, struct ps_held, lru));
	htab_free(&ps->held);
}

/* ---------------- the queue of answers a server owes ---------------- */

static struct ps_entry *entry_at(struct ps_state *ps, size_t i)
{
	return &ps->queue[(ps->head + i) % ps->cap];
}

static void queue_grow(struct ps_state *ps)
{
	size_t cap = ps->cap ? ps->cap * 2 : 16;
	struct ps_entry *q = xmalloc(cap * sizeof(*q));

	for (size_t i = 0; i < ps->len; i++)
		q[i] = *entry_at(ps, i);
	free(ps->queue);
	ps->queue = q;
	ps->cap = cap;
	ps->head = 0;
}

static void entry_free(struct ps_entry *e)
{
	stmt_unref(e->stmt);
	free(e->text);
	memset(e, 0, sizeof(*e));
}

static void queue_pop(struct ps_state *ps)
{
	entry_free(entry_at(ps, 0));
	ps->head = (ps->head + 1) % ps->cap;
	ps->len--;
}

static bool queue_has_query(struct ps_state *ps)
{
	for (size_t i = 0; i < ps->len; i++) {
		if (entry_at(ps, i)->msg == 'Q')
			return true;
	}
	return false;
}

/* What the entry did here, undone: the server skipped its message. */
static void entry_undo(struct pgsocket *server, struct ps_entry *e)
{
	struct ps_state *sps = server->ps;
	struct ps_state *cps = server->link ? server->link->ps : NULL;
	struct ps_held *h = e->stmt ? held_find(sps, e->stmt) : NULL;

	if ((e->undo & UNDO_HELD_ADDED) && h)
		held_remove(sps, h);
	if ((e->undo & UNDO_HELD_REMOVED) && !h)
		held_add(sps, e->stmt);
	if (cps && e->text && (e->undo & (UNDO_NAME_ADDED | UNDO_NAME_REMOVED))) {
		struct ps_name *pn = name_find(cps, e->text);
		if ((e->undo & UNDO_NAME_ADDED) && pn && pn->stmt == e->stmt)
			name_remove(cps, pn);
		if ((e->undo & UNDO_NAME_REMOVED) && !pn)
			name_add(cps, e->text, e->stmt);
	}
}

/* The server skips everything up to the next Sync: so do the entries
 * before it (newest first, so that undoing replays backwards). */
static void skip_to_sync(struct pgsocket *server)
{
	struct ps_state *ps = server->ps;
	size_t n = 0;

	while (n < ps->len && entry_at(ps, n)->msg != 'S')
		n++;
	for (size_t i = n; i-- > 0;)
		entry_undo(server, entry_at(ps, i));
	for (size_t i = 0; i < n; i++)
		queue_pop(ps);
	ps->skipping = ps->len == 0;
}

static void queue_push(struct pgsocket *server, const struct ps_entry *e)
{
	struct ps_state *ps = server->ps;
	struct ps_entry copy = *e;

	stmt_ref(copy.stmt);
	copy.text = e->text ? xstrdup(e->text) : NULL;
	if (ps->skipping) {
		/* an error is being skipped to the next Sync: this message is too */
		if (e->msg != 'S') {
			entry_undo(server, &copy);
			entry_free(&copy);
			return;
		}
		ps->skipping = false;
	}
	if (ps->len == ps->cap)
		queue_grow(ps);
	*entry_at(ps, ps->len++) = copy;
	if (ps->len == 1)
		prepared_after_reply(server);
}

static void push_forward(struct pgsocket *server, uint8_t msg)
{
	struct ps_entry e = { .msg = msg, .kind = ENTRY_FORWARD };

	queue_push(server, &e);
}

/* Does this server message end the answer to the client message msg? */
static bool reply_ends(uint8_t msg, uint8_t reply)
{
	switch (msg) {
	case 'P':
		return reply == '1';
	case 'B':
		return reply == '2';
	case 'C':
		return reply == '3';
	case 'D':
		return reply == 'T' || reply == 'n';
	case 'E':
		return reply == 'C' || reply == 'I' || reply == 's';
	default:		/* Sync, Query, FunctionCall */
		return reply == 'Z';
	}
}

bool prepared_server_reply(struct pgsocket *server, struct sbuf_pkt *pkt)
{
	struct ps_state *ps = server->ps;
	uint8_t type = pkt->hdr.type;
	struct ps_entry *head;
	bool forward;

	if (!ps->len)
		return true;
	head = entry_at(ps, 0);
	if (type == 'E') {
		/* Query, FunctionCall and Sync end with ReadyForQuery anyway */
		if (head->msg != 'Q' && head->msg != 'F' && head->msg != 'S')
			skip_to_sync(server);
		return true;
	}
	if (!reply_ends(head->msg, type))
		return true;
	forward = head->kind != ENTRY_SKIP;
	queue_pop(ps);
	return forward;
}

static void send_answer(struct pgsocket *client, const struct ps_entry *e)
{
	struct pktbuf pb;

	pktbuf_init(&pb);
	if (e->answer == 'E') {
		pktbuf_error(&pb, "ERROR", e->sqlstate, e->text);
	} else {
		pktbuf_begin(&pb, e->answer);
		pktbuf_end(&pb);
	}
	sbuf_send_pktbuf(&client->sbuf, &pb);
	pktbuf_free(&pb);
}

void prepared_after_reply(struct pgsocket *server)
{
	struct ps_state *ps = server->ps;

	while (ps->len && entry_at(ps, 0)->kind == ENTRY_ANSWER) {
		if (server->link)
			send_answer(server->link, entry_at(ps, 0));
		queue_pop(ps);
	}
	if (ps->client_waits && !queue_has_query(ps)) {
		ps->client_waits = false;
		if (server->link)
			sbuf_continue(&server->link->sbuf);
	}
}

bool prepared_owes_answers(const struct pgsocket *server)
{
	return server->ps && server->ps->len > 0;
}

void prepared_server_released(struct pgsocket *server)
{
	struct ps_state *ps = server->ps;

	prepared_after_reply(server);
	while (ps->len)
		queue_pop(ps);
	ps->skipping = false;
}

bool prepared_reply_matched(struct ps_state *ps)
{
	bool matched = ps->reply_matched;

	ps->reply_matched = false;
	return matched;
}

void prepared_reply_hold(struct ps_state *ps)
{
	ps->reply_matched = true;
}

void prepared_command_done(struct pgsocket *server, const uint8_t *tag, size_t len, bool from_client)
{
	if (!pkt_tag_is(tag, len, "DISCARD ALL") && !pkt_tag_is(tag, len, "DEALLOCATE ALL"))
		return;
	held_clear(state_of(server));
	if (from_client && server->link && server->link->ps)
		names_clear(server->link->ps);
}

/* ---------------- client messages ---------------- */

bool prepared_tracks(const struct pgsocket *client)
{
	if (client->ps && client->ps->names.count)
		return true;	/* its names keep working after a RELOAD */
	return cf->max_prepared_statements > 0 && pool_mode_of(client->pool) != POOL_SESSION;
}

/*
 * The names at the start of a Bind (portal, statement): false when the
 * buffered part of the message does not hold them whole.  *end: where the
 * bytes after them start, from the message start.
 */
static bool read_bind_names(const struct sbuf_pkt *pkt, const char *names[2], uint32_t *end)
{
	size_t len;

	if (pkt->avail < pkt->hdr.hdr_len ||
	    !pkt_read_names(pkt->data + pkt->hdr.hdr_len, pkt->avail - pkt->hdr.hdr_len, 2, names, &len))
		return false;
	*end = pkt->hdr.hdr_len + (uint32_t)len;
	return true;
}

/* Enough of the message to act on: a Parse whole; Bind, Describe and Close
 * up to their names (a Bind's parameters stream through). */
static bool have_enough(const struct sbuf_pkt *pkt)
{
	const char *names[2];
	uint32_t end;

	if (pkt->complete)
		return true;
	switch (pkt->hdr.type) {
	case 'P': case 'D': case 'C':
		return false;
	case 'B':
		return read_bind_names(pkt, names, &end);
	default:
		return true;
	}
}

/*
 * A Query the server has not answered yet may be DEALLOCATE ALL or DISCARD
 * ALL, which pgwarden learns from its command tag: a named-statement
 * message after it must wait for that answer, or it would be decided
 * against names the Query drops.  (Pipelining after a Query is rare.)
 */
static bool must_wait_for_query(struct pgsocket *client, uint8_t type)
{
	struct pgsocket *server = client->link;

	if (type != 'P' && type != 'B' && type != 'D' && type != 'C')
		return false;
	if (!server || !server->ps || !server->ps->len || !queue_has_query(server->ps))
		return false;
	server->ps->client_waits = true;
	return true;
}

bool prepared_client_gate(struct pgsocket *client, struct sbuf_pkt *pkt, enum sbuf_result *res)
{
	if (client->ps && client->ps->skip_till_sync) {
		if (pkt->hdr.type != 'S') {
			sbuf_skip(&client->sbuf, pkt);
			*res = SBUF_DONE;
			return true;
		}
		client->ps->skip_till_sync = false;
	}
	if (!have_enough(pkt)) {
		*res = SBUF_NEED_FULL;
		return true;
	}
	if (must_wait_for_query(client, pkt->hdr.type)) {
		*res = SBUF_PAUSE;
		return true;
	}
	return false;
}

/* PostgreSQL's error for the client's message, answered here in its turn;
 * the client's messages up to its Sync are then skipped, as PostgreSQL does. */
static void answer_error(struct pgsocket *client, struct pgsocket *server, uint8_t msg, const char *sqlstate,
			 const char *name, const char *what)
{
	char text[256];
	struct ps_entry e = { .msg = msg, .kind = ENTRY_ANSWER, .answer = 'E', .text = text };

	snprintf(text, sizeof(text), "prepared statement \"%.200s\" %s", name, what);
	strlcpy_safe(e.sqlstate, sqlstate, sizeof(e.sqlstate));
	queue_push(server, &e);
	state_of(client)->skip_till_sync = true;
}

/*
 * A Parse (of e->stmt) or a Close of a statement, made by pgwarden and sent
 * under name, with e queued for its answer.
 */
static void send_to_server(struct pgsocket *server, const struct ps_entry *e, const char *name)
{
	pktbuf_begin(&scratch, e->msg);
	if (e->msg == 'C')
		pktbuf_put_u8(&scratch, 'S');
	pktbuf_put_string(&scratch, name);
	if (e->msg == 'P')
		pktbuf_put_bytes(&scratch, e->stmt->body, e->stmt->body_len);
	pktbuf_end(&scratch);
	sbuf_send_for(&server->link->sbuf, &server->sbuf, &scratch);
	queue_push(server, e);
}

/* Close the server's least recently used statement when it is full. */
static void make_room(struct pgsocket *server)
{
	struct ps_state *ps = server->ps;
	size_t max = cf->max_prepared_statements > 0 ? (size_t)cf->max_prepared_statements : 1;
	char name[SERVER_NAME_LEN];

	/* while the server skips to a Sync, the Parse this makes room for is
	 * skipped too: nothing to close */
	while (ps->held.count >= max && !ps->skipping) {
		struct ps_held *h = container_of(ps->lru.next, struct ps_held, lru);
		struct ps_stmt *st = stmt_ref(h->stmt);
		struct ps_entry e = { .msg = 'C', .kind = ENTRY_SKIP, .undo = UNDO_HELD_REMOVED, .stmt = st };
		/* gone from the set before the entry is queued, so that an
		 * entry undone at once (a skipped pipeline) puts it back */
		held_remove(ps, h);
		server_name(st, name);
		send_to_server(server, &e, name);
		stmt_unref(st);
	}
}

/* Prepare st on the server.  kind: whether the ParseComplete goes to the
 * client (its own Parse) or is ours; client_name: the name to undo. */
static void prepare_on_server(struct pgsocket *server, struct ps_stmt *st, enum entry_kind kind,
			      const char *client_name)
{
	struct ps_entry e = { .msg = 'P', .kind = (uint8_t)kind, .stmt = st, .text = (char *)client_name,
			      .undo = UNDO_HELD_ADDED | (client_name ? UNDO_NAME_ADDED : 0) };
	char name[SERVER_NAME_LEN];

	make_room(server);
	server_name(st, name);
	held_add(server->ps, st);	/* before the entry: a skipped one undoes it */
	send_to_server(server, &e, name);
	server->pool->stats.ps_server_parse_count++;
}

/* The statement a Bind or Describe names, prepared on this server. */
static struct ps_stmt *statement_for(struct pgsocket *client, struct pgsocket *server, uint8_t msg,
				     const char *name)
{
	struct ps_name *pn = client->ps ? name_find(client->ps, name) : NULL;
	struct ps_held *h;

	if (!pn) {
		answer_error(client, server, msg, "26000", name, "does not exist");
		return NULL;
	}
	h = held_find(server->ps, pn->stmt);
	if (h)
		held_touch(server->ps, h);
	else
		prepare_on_server(server, pn->stmt, ENTRY_SKIP, NULL);
	return pn->stmt;
}

/*
 * A Parse of a name the client already uses.  PostgreSQL parses and
 * analyses the text before it looks at the name, so a syntax error or an
 * unknown table is reported rather than the name: the server checks the
 * text under a throwaway name first, and only if that passes does the
 * client get "already exists".
 */
static void refuse_duplicate(struct pgsocket *client, struct pgsocket *server, const char *name,
			     const uint8_t *body, uint32_t body_len)
{
	struct ps_stmt *check = stmt_ref(stmt_get(body, body_len));
	struct ps_entry parse = { .msg = 'P', .kind = ENTRY_SKIP, .stmt = check };
	struct ps_entry close = { .msg = 'C', .kind = ENTRY_SKIP };

	send_to_server(server, &parse, "PGWARDEN_CHECK");
	send_to_server(server, &close, "PGWARDEN_CHECK");
	stmt_unref(check);
	answer_error(client, server, 'P', "42P05", name, "already exists");
}

static void client_parse(struct pgsocket *client, struct pgsocket *server, const char *name, const uint8_t *body,
			 uint32_t body_len)
{
	struct ps_state *cps = state_of(client);
	struct ps_stmt *st;
	struct ps_held *h;

	server->pool->stats.ps_client_parse_count++;
	if (name_find(cps, name)) {
		refuse_duplicate(client, server, name, body, body_len);
		return;
	}
	st = stmt_get(body, body_len);
	name_add(cps, name, st);
	h = held_find(server->ps, st);
	if (h) {
		struct ps_entry e = { .msg = 'P', .kind = ENTRY_ANSWER, .answer = '1', .undo = UNDO_NAME_ADDED,
				      .stmt = st, .text = (char *)name };
		held_touch(server->ps, h);
		queue_push(server, &e);
	} else {
		prepare_on_server(server, st, ENTRY_FORWARD, name);
	}
}

static void client_close(struct pgsocket *client, struct pgsocket *server, const char *name)
{
	struct ps_name *pn = client->ps ? name_find(client->ps, name) : NULL;
	struct ps_entry e = { .msg = 'C', .kind = ENTRY_ANSWER, .answer = '3' };

	/* the server keeps it for other clients; closing an unknown name is
	 * no error in PostgreSQL either */
	if (pn) {
		/* the name goes before the entry is queued, so that an entry
		 * undone at once (a skipped pipeline) brings it back */
		e.undo = UNDO_NAME_REMOVED;
		e.stmt = stmt_ref(pn->stmt);
		e.text = (char *)name;
		name_remove(client->ps, pn);
		queue_push(server, &e);
		stmt_unref(e.stmt);
		return;
	}
	queue_push(server, &e);
}

/* Bind or Describe with the server's name for the statement in place of
 * the client's; what follows the name is the client's, streamed. */
static void send_renamed(struct pgsocket *client, struct pgsocket *server, struct sbuf_pkt *pkt,
			 const char *before, size_t before_len, struct ps_stmt *st, uint32_t rest_at)
{
	char name[SERVER_NAME_LEN];

	server_name(st, name);
	pktbuf_begin(&scratch, pkt->hdr.type);
	pktbuf_put_bytes(&scratch, before, before_len);
	pktbuf_put_string(&scratch, name);
	pktbuf_end_before(&scratch, pkt->hdr.len - rest_at);
	sbuf_send_for(&server->link->sbuf, &server->sbuf, &scratch);
	sbuf_forward_tail(&client->sbuf, &server->sbuf, pkt, rest_at);
	push_forward(server, pkt->hdr.type);
}

/* Bind: portal, statement, then parameters.  A malformed one passes
 * through for PostgreSQL to refuse. */
static bool client_bind(struct pgsocket *client, struct pgsocket *server, struct sbuf_pkt *pkt)
{
	const char *names[2];
	uint32_t rest_at;
	struct ps_stmt *st;

	if (!read_bind_names(pkt, names, &rest_at) || !names[1][0])
		return false;
	server->pool->stats.ps_bind_count++;
	st = statement_for(client, server, 'B', names[1]);
	if (!st) {
		sbuf_skip(&client->sbuf, pkt);
		return true;
	}
	send_renamed(client, server, pkt, names[0], strlen(names[0]) + 1, st, rest_at);
	return true;
}

/* Describe or Close of a statement (not a portal): 'S', then its name. */
static bool client_describe_or_close(struct pgsocket *client, struct pgsocket *server, struct sbuf_pkt *pkt)
{
	const char *name;
	uint8_t kind;
	struct ps_stmt *st;

	if (!pkt_read_target(pkt->data + pkt->hdr.hdr_len, pkt->hdr.len - pkt->hdr.hdr_len, &kind, &name) ||
	    kind != 'S' || !name[0])
		return false;
	if (pkt->hdr.type == 'C') {
		sbuf_skip(&client->sbuf, pkt);
		client_close(client, server, name);
		return true;
	}
	st = statement_for(client, server, 'D', name);
	if (!st) {
		sbuf_skip(&client->sbuf, pkt);
		return true;
	}
	send_renamed(client, server, pkt, "S", 1, st, pkt->hdr.len);
	return true;
}

/* A Parse (the client's, or a plugin's replacement in msg): named ones stay here. */
static bool client_parse_msg(struct pgsocket *client, struct pgsocket *server, struct sbuf_pkt *pkt,
			     const uint8_t *msg, uint32_t msg_len)
{
	const char *name;
	size_t end;

	if (!pkt_read_names(msg + 5, msg_len - 5, 1, &name, &end) || !name[0])
		return false;	/* unnamed, or not a string: PostgreSQL will say so */
	sbuf_skip(&client->sbuf, pkt);
	client_parse(client, server, name, msg + 5 + end, msg_len - 5 - (uint32_t)end);
	return true;
}

static bool gets_answer(uint8_t type)
{
	return type == 'P' || type == 'B' || type == 'D' || type == 'E' || type == 'C' || type == 'S' ||
	       type == 'Q' || type == 'F';
}

void prepared_forward(struct pgsocket *client, struct pgsocket *server, struct sbuf_pkt *pkt)
{
	const struct pktbuf *repl = client->stmt_decided ? plugin_statement_replacement(client) : NULL;
	uint8_t type = pkt->hdr.type;
	bool done = false;

	state_of(server);
	if (type == 'P')
		done = client_parse_msg(client, server, pkt, repl ? repl->data : pkt->data,
					repl ? (uint32_t)repl->len : pkt->hdr.len);
	else if (type == 'B')
		done = client_bind(client, server, pkt);
	else if (type == 'D' || type == 'C')
		done = client_describe_or_close(client, server, pkt);
	if (!done) {
		if (repl) {
			sbuf_skip(&client->sbuf, pkt);
			sbuf_send(&server->sbuf, repl->data, repl->len);
		} else {
			sbuf_forward(&client->sbuf, &server->sbuf, pkt);
		}
		if (gets_answer(type))
			push_forward(server, type);
	}
	if (client->stmt_decided)
		plugin_statement_sent(client);
}

/* ---------------- bookkeeping ---------------- */

size_t prepared_count(const struct pgsocket *sk)
{
	if (!sk->ps)
		return 0;
	return sk->is_server ? sk->ps->held.count : sk->ps->names.count;
}

void prepared_free(struct pgsocket *sk)
{
	struct ps_state *ps = sk->ps;

	if (!ps)
		return;
	while (ps->len)
		queue_pop(ps);
	free(ps->queue);
	names_clear(ps);
	held_clear(ps);
	free(ps);
	sk->ps = NULL;
}
