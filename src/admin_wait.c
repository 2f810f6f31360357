/*
 * Console commands answered later, and the console's part of the janitor.
 *
 * PAUSE, SUSPEND and WAIT_CLOSE return only when done, as in PgBouncer: the
 * command parks its client (nothing it sends is read meanwhile) and the
 * janitor answers once the servers are gone, the buffers flushed or the
 * close_needed servers closed.  The janitor also keeps paused pools free of
 * idle servers, applies suspend_timeout, and ends a shutdown in progress.
 */
#include "admin.h"

#include <string.h>

/* ================================================================
 * The waiting list
 * ================================================================ */

static struct waiting_cmd *find_waiting(uint64_t client_id)
{
	for (int i = 0; i < console.n_waiting; i++) {
		if (console.waiting[i].client_id == client_id)
			return &console.waiting[i];
	}
	return NULL;
}

bool is_waiting(const struct pgsocket *client)
{
	return find_waiting(client->id) != NULL;
}

static void forget_waiting(struct waiting_cmd *w)
{
	int i = (int)(w - console.waiting);
	memmove(w, w + 1, sizeof(*w) * (size_t)(console.n_waiting - i - 1));
	console.n_waiting--;
}

static const char *wait_tag(enum wait_kind kind)
{
	switch (kind) {
	case WAIT_PAUSE: return "PAUSE";
	case WAIT_SUSPEND: return "SUSPEND";
	default: return "WAIT_CLOSE";
	}
}

/* ================================================================
 * Is it done yet?
 * ================================================================ */

/* Is the scope of a PAUSE still paused (no RESUME came in between)? */
static bool scope_paused(const char *dbname)
{
	struct pgdatabase *db;

	if (!dbname[0])
		return pooler.paused;
	db = find_database(dbname);
	return db && db->paused;
}

static bool is_flushed(struct pgsocket *sk, void *arg UNUSED)
{
	return !sbuf_has_pending_output(&sk->sbuf);
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
		return visit_pooled_sockets(is_flushed, NULL) ? WAIT_DONE : WAIT_GOING_ON;
	case WAIT_CLOSE:
		return count_servers(w->dbname, true) ? WAIT_GOING_ON : WAIT_DONE;
	}
	return WAIT_DONE;
}

/* ================================================================
 * Answering
 * ================================================================ */

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

void wait_for_janitor(struct admin_cmd *c, enum wait_kind kind, const char *dbname)
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
	/* Nothing to wait for: answered at once. */
	answer_if_done(c->client, w);
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

/* ================================================================
 * Janitor
 * ================================================================ */

void enforce_pause(void)
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

static bool close_if_unflushed(struct pgsocket *sk, void *arg UNUSED)
{
	if (!sbuf_has_pending_output(&sk->sbuf))
		return true;
	if (sk->is_server)
		disconnect_server(sk, true, "suspend_timeout");
	else
		disconnect_client(sk, true, "suspend_timeout");
	return true;
}

/* SUSPEND waits at most suspend_timeout for buffers to drain, and lasts
 * only as long as some console connection does. */
static void check_suspend(void)
{
	if (!pooler.suspended)
		return;
	if (!any_admin_client()) {
		log_info("admin disappeared when suspended, doing RESUME");
		admin_resume_all();
		return;
	}
	if (!cf->suspend_timeout || get_time_usec() - console.suspend_start < cf->suspend_timeout)
		return;
	visit_pooled_sockets(close_if_unflushed, NULL);
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
