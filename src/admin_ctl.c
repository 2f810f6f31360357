/*
 * Control commands of the admin console: PAUSE, RESUME, SUSPEND, DISABLE,
 * ENABLE, RECONNECT, KILL, KILL_CLIENT, WAIT_CLOSE, RELOAD, SHUTDOWN and SET.
 * All need admin_users.  Messages and error texts are PgBouncer's; PAUSE,
 * SUSPEND and WAIT_CLOSE are answered later by admin_wait.c.
 */
#include "admin.h"
#include "tls.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ================================================================
 * Shared pieces
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

/* Commands that take no argument treat one as a syntax error. */
static bool no_argument(struct admin_cmd *c)
{
	if (!c->arg[0])
		return true;
	syntax_error(c);
	return false;
}

/* PAUSE, SUSPEND and KILL refuse to start while paused or suspended. */
static bool ensure_running(struct admin_cmd *c)
{
	if (!pooler.paused && !pooler.suspended)
		return true;
	cmd_error(c, "already suspended/paused");
	return false;
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

void wake_pools(const char *dbname)
{
	struct list_node *n;
	list_for_each(n, &pooler.pools) {
		struct pgpool *pool = container_of(n, struct pgpool, node);
		if (pool_in_scope(pool, dbname))
			pool_wake_waiters(pool);
	}
}

/*
 * Commands on [db] share one shape: the log line, the database (or every
 * non-console one), a refusal for the console itself.  Returns false when an
 * error was sent; *scope is "" for all databases.
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

/* ================================================================
 * PAUSE, RESUME, SUSPEND
 * ================================================================ */

static void cmd_pause(struct admin_cmd *c)
{
	const char *scope;

	if (!need_admin(c) || !ensure_running(c))
		return;
	if (!command_scope(c, "PAUSE", "cannot pause admin db", &scope))
		return;
	if (scope[0])
		find_database(scope)->paused = true;
	else
		pooler.paused = true;
	enforce_pause();
	wait_for_janitor(c, WAIT_PAUSE, scope);
}

static bool continue_socket(struct pgsocket *sk, void *arg UNUSED)
{
	sbuf_continue(&sk->sbuf);
	return true;
}

void admin_resume_all(void)
{
	bool was_suspended = pooler.suspended;

	pooler.paused = false;
	pooler.suspended = false;
	if (was_suspended)
		visit_pooled_sockets(continue_socket, NULL);
	wake_pools("");
}

static void resume_database(struct admin_cmd *c)
{
	struct pgdatabase *db;

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

static void cmd_resume(struct admin_cmd *c)
{
	if (!need_admin(c))
		return;
	if (c->arg[0]) {
		resume_database(c);
		return;
	}
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
}

/* Stop reading every pooled socket; SUSPEND completes when they flushed. */
static bool pause_socket(struct pgsocket *sk, void *arg UNUSED)
{
	sbuf_pause(&sk->sbuf);
	return true;
}

static void cmd_suspend(struct admin_cmd *c)
{
	if (!no_argument(c) || !need_admin(c) || !ensure_running(c))
		return;
	/* Paused databases may hold clients that never flush. */
	if (any_paused_database()) {
		cmd_error(c, "cannot suspend with paused databases");
		return;
	}
	log_info("SUSPEND command issued");
	pooler.suspended = true;
	pooler.paused = true;	/* new work queues instead of starting */
	console.suspend_start = get_time_usec();
	visit_pooled_sockets(pause_socket, NULL);
	wait_for_janitor(c, WAIT_SUSPEND, "");
}

/* ================================================================
 * DISABLE, ENABLE, RECONNECT, KILL, KILL_CLIENT, WAIT_CLOSE
 * ================================================================ */

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

/* Servers of the pool close when released; idle ones right away. */
static void tag_pool_dirty(struct pgpool *pool)
{
	struct list_node *n;

	for (size_t i = 0; i < n_server_lists; i++) {
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

	for (size_t i = 0; i < n_client_lists; i++)
		close_sockets(pool_list(pool, &client_lists[i]), reason);
	for (size_t i = 0; i < n_server_lists; i++)
		close_sockets(pool_list(pool, &server_lists[i]), reason);
}

/* KILL db: as in PgBouncer 1.18 the database is required (later versions
 * kill every database without one: too easy to type by accident). */
static void cmd_kill(struct admin_cmd *c)
{
	const char *scope;
	struct list_node *n;

	if (!need_admin(c) || !ensure_running(c))
		return;
	if (!c->arg[0]) {
		cmd_error(c, "a database is required");
		return;
	}
	if (!command_scope(c, "KILL", "cannot kill admin db", &scope))
		return;
	/* Paused first: nobody may grab a server while they are closed, and
	 * the database stays paused until RESUME. */
	find_database(scope)->paused = true;
	list_for_each(n, &pooler.pools) {
		struct pgpool *pool = container_of(n, struct pgpool, node);
		if (pool_in_scope(pool, scope))
			kill_pool(pool);
	}
	cmd_ready(c, "KILL");
}

/* Any pool's client, console clients included. */
static struct pgsocket *find_client_by_id(uint64_t id)
{
	struct list_node *n, *s;

	list_for_each(n, &pooler.pools) {
		struct pgpool *pool = container_of(n, struct pgpool, node);
		for (size_t i = 0; i < n_client_lists; i++) {
			list_for_each(s, pool_list(pool, &client_lists[i])) {
				struct pgsocket *client = container_of(s, struct pgsocket, node);
				if (client->id == id)
					return client;
			}
		}
	}
	return NULL;
}

/* Since 1.24: KILL_CLIENT <id from SHOW CLIENTS>. */
static void cmd_kill_client(struct admin_cmd *c)
{
	struct pgsocket *target;
	uint64_t id;
	char *end;

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

/* ================================================================
 * RELOAD, SHUTDOWN, SET
 * ================================================================ */

static void cmd_reload(struct admin_cmd *c)
{
	if (!no_argument(c) || !need_admin(c))
		return;
	log_info("RELOAD command issued");
	if (!pooler_reload()) {
		cmd_error_state(c, "F0000", "RELOAD failed, see logs for additional details");
		return;
	}
	cmd_ready(c, "RELOAD");
}

bool admin_shutting_down(void)
{
	return pooler.shutting_down || console.shutdown != SHUTDOWN_NONE;
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

/* SHUTDOWN exits at once (no reply); the WAIT_FOR_* forms are 1.23's. */
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

void cmd_set(struct admin_cmd *c, const char *key, const char *value)
{
	const struct config_key *k;
	char tag[512], err[256];

	if (is_fake_param(key)) {
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
		pooler_apply_runtime_settings();
	if (k->reloadable && (strncmp(key, "client_tls", 10) == 0 || strncmp(key, "server_tls", 10) == 0) &&
	    !tls_setup(cf, err, sizeof(err))) {
		log_warning("TLS settings could not be applied, still using old configuration: %s", err);
		pktbuf_notice(&c->pb, "00000", "TLS settings could not be applied, still using old configuration");
	}
	snprintf(tag, sizeof(tag), "SET %s=%s", key, value);
	cmd_ready(c, tag);
}

const struct command control_commands[] = {
	{ "disable", cmd_disable },
	{ "enable", cmd_enable },
	{ "kill", cmd_kill },
	{ "kill_client", cmd_kill_client },
	{ "pause", cmd_pause },
	{ "reconnect", cmd_reconnect },
	{ "reload", cmd_reload },
	{ "resume", cmd_resume },
	{ "shutdown", cmd_shutdown },
	{ "suspend", cmd_suspend },
	{ "wait_close", cmd_wait_close },
	{ NULL, NULL },
};
