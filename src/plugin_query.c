/*
 * host->server_query(): a plugin's own query (e.g. a catalog lookup) on a
 * pooled server connection.  A client object without a socket stands in
 * line in the pool (database, user) like any client, so the query waits for
 * a free connection and obeys the pool's limits and query_wait_timeout;
 * once linked it sends the query, collects the answer, gives the server
 * back to the pool and calls the plugin's done() on the loop.
 */
#include "pgwarden.h"

#include <stdlib.h>
#include <string.h>

#define MAX_QUERY_ROWS 100000
#define MAX_QUERY_BYTES (16 * 1024 * 1024)

struct plugin_query {
	struct pgw_plugin *plugin;
	void (*done)(void *arg, const struct pgw_query_result *res);
	void *arg;
	char *sql;
	bool answered;
	/* the result being collected (the last result set of the query) */
	char **names;
	int ncolumns;
	char **values;			/* row-major */
	int nrows;
	int cap;
	size_t bytes;
	char sqlstate[6];
	char *message;			/* error; NULL: none */
};

static void clear_rows(struct plugin_query *q)
{
	for (int i = 0; i < q->nrows * q->ncolumns; i++)
		free(q->values[i]);
	for (int i = 0; i < q->ncolumns; i++)
		free(q->names[i]);
	free(q->values);
	free(q->names);
	q->values = NULL;
	q->names = NULL;
	q->nrows = q->ncolumns = q->cap = 0;
}

static void set_error(struct plugin_query *q, const char *sqlstate, const char *message)
{
	if (q->message)
		return;		/* the first error is the answer */
	strlcpy_safe(q->sqlstate, sqlstate, sizeof(q->sqlstate));
	q->message = xstrdup(message);
}

/* Hand the answer to the plugin, once. */
static void answer(struct plugin_query *q)
{
	struct pgw_query_result res = {
		.size = sizeof(res),
		.sqlstate = q->message ? q->sqlstate : NULL,
		.message = q->message,
		.ncolumns = q->message ? 0 : q->ncolumns,
		.column_names = (const char *const *)q->names,
		.nrows = q->message ? 0 : q->nrows,
		.values = (const char *const *)q->values,
	};

	if (q->answered)
		return;
	q->answered = true;
	q->plugin->calls++;
	q->done(q->arg, &res);
}

void plugin_query_abandon(struct pgsocket *client, const char *reason)
{
	struct plugin_query *q = client->pquery;

	if (q && !q->answered) {
		set_error(q, "08006", reason);
		answer(q);
	}
}

void plugin_query_free(struct pgsocket *client)
{
	struct plugin_query *q = client->pquery;

	if (!q)
		return;
	plugin_query_abandon(client, "the query was abandoned");
	clear_rows(q);
	free(q->sql);
	free(q->message);
	free(q);
	client->pquery = NULL;
}

/* ReadyForQuery (the server is back in its pool): the stand-in client
 * leaves quietly (no log line, no socket to close). */
void plugin_query_finished(struct pgsocket *client)
{
	answer(client->pquery);
	client->pool = NULL;
	change_client_state(client, CL_JUSTFREE);
}

void plugin_query_send(struct pgsocket *client)
{
	struct pktbuf pb;

	pktbuf_init(&pb);
	pktbuf_query(&pb, client->pquery->sql);
	client->link->ready = false;
	client->link->request_time = get_time_usec();
	sbuf_send_pktbuf(&client->link->sbuf, &pb);
	pktbuf_free(&pb);
}

static void take_description(struct plugin_query *q, const uint8_t *body, size_t len)
{
	struct pktreader r;
	uint16_t n;
	struct pkt_column col;

	clear_rows(q);
	pktreader_init(&r, body, len);
	if (!pkt_get_u16(&r, &n))
		return set_error(q, "08P01", "bad RowDescription");
	q->names = xcalloc(n ? n : 1, sizeof(char *));
	for (int i = 0; i < n; i++) {
		if (!pkt_read_column(&r, &col))
			return set_error(q, "08P01", "bad RowDescription");
		q->names[q->ncolumns++] = xstrdup(col.name);
	}
}

static void take_row(struct plugin_query *q, const uint8_t *body, size_t len)
{
	struct pktreader r;
	uint16_t n;
	const uint8_t *val;
	uint32_t vlen;
	char **row;

	pktreader_init(&r, body, len);
	if (!pkt_get_u16(&r, &n) || n != q->ncolumns)
		return set_error(q, "08P01", "bad DataRow");
	q->bytes += len;
	if (q->nrows >= MAX_QUERY_ROWS || q->bytes > MAX_QUERY_BYTES)
		return set_error(q, "54000", "server_query result too large");
	if (q->nrows == q->cap) {
		q->cap = q->cap ? 2 * q->cap : 16;
		q->values = xrealloc(q->values, sizeof(char *) * (size_t)q->cap * (size_t)(n ? n : 1));
	}
	/* Counted before it is filled: a bad value leaves NULLs, which
	 * clear_rows frees along with what came before. */
	row = q->values + (size_t)q->nrows++ * n;
	memset(row, 0, sizeof(char *) * n);
	for (int i = 0; i < n; i++) {
		if (!pkt_get_column(&r, &val, &vlen))
			return set_error(q, "08P01", "bad DataRow");
		if (val) {
			row[i] = xmalloc(vlen + 1);
			memcpy(row[i], val, vlen);
			row[i][vlen] = '\0';
		}
	}
}

enum sbuf_result plugin_query_server_msg(struct pgsocket *server, struct pgsocket *client, uint8_t type,
					 const uint8_t *body, size_t len)
{
	struct plugin_query *q = client->pquery;
	const char *sqlstate, *msg;

	switch (type) {
	case 'T':
		if (!q->message)
			take_description(q, body, len);
		break;
	case 'D':
		if (!q->message)
			take_row(q, body, len);
		break;
	case 'E':
		pkt_parse_error_fields(body, len, &sqlstate, &msg);
		set_error(q, sqlstate, msg);
		break;
	case 'G':	/* COPY FROM STDIN: not for this */
	case 'H':
		disconnect_server(server, true, "server_query started a COPY");
		return SBUF_CLOSED;
	default:	/* CommandComplete, notices, parameter status, ... */
		break;
	}
	return SBUF_DONE;
}

int plugin_server_query(struct pgw_plugin *self, const char *database, const char *user, const char *sql,
			void (*done)(void *arg, const struct pgw_query_result *res), void *arg)
{
	struct pgdatabase *db = database ? find_database(database) : NULL;
	struct pguser *u;
	struct pgsocket *client;
	struct plugin_query *q;

	if (!db || db->db_dead || db->is_admin || !sql || !done)
		return -1;
	u = user ? pool_login_user(db, user) : db->forced_user;
	if (!u)
		return -1;
	q = xcalloc(1, sizeof(*q));
	q->plugin = self;
	q->done = done;
	q->arg = arg;
	q->sql = xstrdup(sql);
	client = socket_alloc(false);
	client->pquery = q;
	client->db = db;
	client->user_name = strpool_get(u->name, strlen(u->name));
	client->db_name = strpool_get(db->name, strlen(db->name));
	client->sbuf.closed = true;	/* no socket: nothing is ever sent to it */
	client->pool = get_pool(db, u);
	client->state = CL_FREE;
	if (find_server(client))
		plugin_query_send(client);
	return 0;
}
