/*
 * auth_query: secrets of users who are not in auth_file, looked up in
 * PostgreSQL as PgBouncer does.  The logging-in client waits in the queue of
 * the (auth database, auth_user) pool like any client; once it holds a server
 * the query runs there with the user name as its one parameter, and the
 * server goes back to the pool.  Nothing blocks the loop.
 *
 * Unlike PgBouncer, a user the query does not find goes through the same
 * mock exchange as an unknown auth_file user, so a failed login does not
 * tell whether the user exists.  An answer that is not exactly one row of
 * (name, secret) for the name asked about is an error, never a guess.
 */
#include "pgwarden.h"

#include <stdlib.h>
#include <string.h>

struct auth_lookup {
	bool failed;			/* the query errored or answered nonsense */
	int rows;
	char *secret;			/* the row's secret; NULL if no row yet */
	char *password;			/* a plugin's CONTINUE: to check afterwards */
	struct pguser *user;		/* after a good answer: the queried user */
};

static const char *auth_user_name(const struct pgdatabase *db)
{
	return db->auth_user ? db->auth_user : cf->auth_user;
}

static const char *auth_query_text(const struct pgdatabase *db)
{
	return db->auth_query ? db->auth_query : cf->auth_query;
}

bool auth_query_wanted(const struct pgsocket *client)
{
	const char *name = auth_user_name(client->db);

	return name && name[0] && !client->lookup && !client->db->is_admin && !find_user(client->user_name);
}

/* auth_dbname, or else the database the client asked for. */
static struct pgdatabase *auth_database(struct pgsocket *client)
{
	const char *name = client->db->auth_dbname ? client->db->auth_dbname : cf->auth_dbname;
	struct pgdatabase *db;

	if (!name || !name[0])
		return client->db;
	db = lookup_or_create_database(name);
	if (!db || db->is_admin || db->disabled) {
		slog_error(client, "auth_dbname \"%s\" is not a usable database", name);
		disconnect_client_sqlstate(client, "08P01", "bouncer config error");
		return NULL;
	}
	return db;
}

void auth_query_start(struct pgsocket *client, const char *password)
{
	struct pgdatabase *db = auth_database(client);

	if (!db)
		return;
	client->lookup = xcalloc(1, sizeof(*client->lookup));
	client->lookup->password = xstrdup_opt(password);
	client->auth_phase = AUTH_PHASE_LOOKUP;
	/* the private user, if any, belongs to the pool's database: it lives
	 * as long as that database's pools */
	client->pool = get_pool(db, pool_login_user(db, auth_user_name(client->db)));
	/* Nothing is read from the client until we ask it for a password. */
	sbuf_pause(&client->sbuf);
	slog_debug(client, "running auth_query on db=%s as user=%s", db->name, client->pool->user->name);
	if (find_server(client))
		auth_query_send(client);
}

/* Parse, Bind (the user name as text), Execute, Sync: no quoting needed. */
void auth_query_send(struct pgsocket *client)
{
	struct pgsocket *server = client->link;
	struct pktbuf pb;

	pktbuf_init(&pb);
	pktbuf_begin(&pb, 'P');
	pktbuf_put_string(&pb, "");
	pktbuf_put_string(&pb, auth_query_text(client->db));
	pktbuf_put_u16(&pb, 0);
	pktbuf_end(&pb);
	pktbuf_begin(&pb, 'B');
	pktbuf_put_string(&pb, "");
	pktbuf_put_string(&pb, "");
	pktbuf_put_u16(&pb, 0);
	pktbuf_put_u16(&pb, 1);
	pktbuf_put_u32(&pb, (uint32_t)strlen(client->user_name));
	pktbuf_put_bytes(&pb, client->user_name, strlen(client->user_name));
	pktbuf_put_u16(&pb, 0);
	pktbuf_end(&pb);
	pktbuf_begin(&pb, 'E');
	pktbuf_put_string(&pb, "");
	pktbuf_put_u32(&pb, 0);
	pktbuf_end(&pb);
	pktbuf_begin(&pb, 'S');
	pktbuf_end(&pb);
	server->ready = false;
	server->request_time = get_time_usec();
	sbuf_send_pktbuf(&server->sbuf, &pb);
	pktbuf_free(&pb);
}

static void lookup_error(struct pgsocket *client, const char *what)
{
	slog_warning(client, "auth_query for user \"%s\": %s", client->user_name, what);
	client->lookup->failed = true;
}

/* A DataRow: (name, secret).  A NULL name means "no such user", as
 * PgBouncer treats it; a NULL secret is a user nobody can log in as. */
static void take_row(struct pgsocket *client, const uint8_t *body, size_t len)
{
	struct auth_lookup *lk = client->lookup;
	const uint8_t *name, *secret;
	uint32_t name_len, secret_len;
	struct pktreader r;
	uint16_t ncols;

	pktreader_init(&r, body, len);
	if (!pkt_get_u16(&r, &ncols) || ncols != 2 || !pkt_get_column(&r, &name, &name_len) ||
	    !pkt_get_column(&r, &secret, &secret_len)) {
		lookup_error(client, "the answer must be two columns (user name, secret)");
		return;
	}
	if (!name)
		return;
	if (++lk->rows > 1) {
		lookup_error(client, "more than one row");
		return;
	}
	if (name_len != strlen(client->user_name) || memcmp(name, client->user_name, name_len) != 0) {
		lookup_error(client, "the row is for another user");
		return;
	}
	if (secret && memchr(secret, '\0', secret_len)) {
		lookup_error(client, "the secret contains a NUL byte");
		return;
	}
	lk->secret = xcalloc(1, secret_len + 1);
	if (secret)
		memcpy(lk->secret, secret, secret_len);
}

/* ReadyForQuery (the server is back in its pool): the client goes on logging in. */
void auth_query_finished(struct pgsocket *client)
{
	struct auth_lookup *lk = client->lookup;

	if (!lk->failed && lk->secret)
		lk->user = update_queried_user(client->db, client->user_name, lk->secret);
	else if (!lk->failed)
		slog_info(client, "no such user: %s", client->user_name);
	free_secret_str(&lk->secret);
	client->pool = NULL;
	client->auth_phase = AUTH_PHASE_NONE;
	change_client_state(client, CL_LOGIN);
	sbuf_continue(&client->sbuf);
	auth_lookup_done(client, lk->password);
	/* The client may be gone; its lookup is freed with it, not before. */
	if (client->lookup)
		free_secret_str(&client->lookup->password);
}

enum sbuf_result auth_query_server_msg(struct pgsocket *server, struct pgsocket *client, uint8_t type,
				       const uint8_t *body, size_t len)
{
	const char *sqlstate, *msg;

	switch (type) {
	case 'D':
		if (!client->lookup->failed)
			take_row(client, body, len);
		return SBUF_DONE;
	case 'E':
		pkt_parse_error_fields(body, len, &sqlstate, &msg);
		slog_warning(client, "auth_query failed: %s %s", sqlstate, msg);
		client->lookup->failed = true;
		return SBUF_DONE;
	case 'S':
	case 'N':
	case '1':	/* ParseComplete */
	case '2':	/* BindComplete */
	case 'T':
	case 'n':
	case 'C':
		return SBUF_DONE;
	default:
		disconnect_server(server, true, "unexpected answer to auth_query: '%c'", type);
		return SBUF_CLOSED;
	}
}

struct pguser *client_known_user(const struct pgsocket *client)
{
	return client->lookup ? client->lookup->user : find_user(client->user_name);
}

bool auth_query_failed(const struct pgsocket *client)
{
	return client->lookup && client->lookup->failed;
}

void auth_query_free(struct pgsocket *client)
{
	if (!client->lookup)
		return;
	free_secret_str(&client->lookup->secret);
	free_secret_str(&client->lookup->password);
	free(client->lookup);
	client->lookup = NULL;
}
