/*
 * The admin console's internal interface, shared by its modules:
 *   admin.c         the console session: access, grammar, dispatch, replies
 *   admin_result.c  result sets: RowDescription/DataRow from column tables
 *   admin_show.c    SHOW on the objects: CLIENTS, SERVERS, SOCKETS, POOLS,
 *                   DATABASES, USERS; the SHOW dispatch
 *   admin_info.c    SHOW on the pooler as a whole: LISTS, MEM, STATE, CONFIG,
 *                   VERSION, HELP, the sets without rows, session parameters
 *   admin_stats.c   SHOW STATS, STATS_TOTALS, STATS_AVERAGES, TOTALS
 *   admin_ctl.c     control commands: PAUSE, RESUME, KILL, RELOAD, SET, ...
 *   admin_wait.c    commands answered later (PAUSE, SUSPEND, WAIT_CLOSE) and
 *                   the janitor's part: pause, suspend timeout, shutdown
 * The rest of the pooler sees only the admin_* functions in pgwarden.h.
 */
#ifndef PGWARDEN_ADMIN_H
#define PGWARDEN_ADMIN_H

#include "pgwarden.h"

#include <regex.h>

/* ---------------- console state (admin.c) ---------------- */

/* A command that is answered later, by the janitor. */
enum wait_kind { WAIT_PAUSE, WAIT_SUSPEND, WAIT_CLOSE };

struct waiting_cmd {
	uint64_t client_id;		/* not a pointer: the client may be freed meanwhile */
	enum wait_kind kind;
	char dbname[MAX_DBNAME];	/* "" = the whole pooler */
};

enum shutdown_mode { SHUTDOWN_NONE, SHUTDOWN_WAIT_FOR_SERVERS, SHUTDOWN_WAIT_FOR_CLIENTS };

/* Everything the console keeps between commands. */
struct console_state {
	struct waiting_cmd *waiting;
	int n_waiting;
	int cap_waiting;
	usec_t suspend_start;
	enum shutdown_mode shutdown;

	bool regex_ready;
	regex_t rx_cmd;
	regex_t rx_set_word;
	regex_t rx_set_str;
};

extern struct console_state console;

/* ---------------- one command and its reply (admin.c) ---------------- */

struct admin_cmd {
	struct pgsocket *client;
	const char *query;	/* the whole query, for "invalid command" */
	const char *arg;	/* "" when none */
	struct pktbuf pb;	/* the reply, sent when the command returns */
};

void cmd_ready(struct admin_cmd *c, const char *tag);
void cmd_error_state(struct admin_cmd *c, const char *sqlstate, const char *fmt, ...) PRINTF_LIKE(3, 4);
/* PgBouncer answers nearly every console error with 08P01. */
#define cmd_error(c, ...) cmd_error_state(c, "08P01", __VA_ARGS__)
/* "invalid command '<query>', use SHOW HELP;" */
void syntax_error(struct admin_cmd *c);
/* Control commands need admin_users; stats_users may only look.  False: the
 * error was sent. */
bool need_admin(struct admin_cmd *c);
/* Send the reply built so far (if the client is still there). */
void send_reply(struct pgsocket *client, struct admin_cmd *c);

typedef void (*cmd_fn)(struct admin_cmd *c);

struct command {
	const char *word;
	cmd_fn fn;
};

/* Run the command named word (case-insensitive) from a NULL-ended table. */
bool run_command(const struct command *table, const char *word, struct admin_cmd *c);

/* ---------------- the pools' socket lists (admin.c) ---------------- */

struct sock_list {
	size_t offset;		/* of the list head in struct pgpool */
	const char *state;	/* SHOW CLIENTS / SERVERS */
	const char *debug_state;	/* SHOW SOCKETS; NULL: not listed there */
};

extern const struct sock_list client_lists[];
extern const size_t n_client_lists;
extern const struct sock_list server_lists[];
extern const size_t n_server_lists;

struct list_node *pool_list(struct pgpool *pool, const struct sock_list *l);
bool is_admin_pool(const struct pgpool *pool);
/* Does the pool belong to dbname ("" = every non-console database)? */
bool pool_in_scope(const struct pgpool *pool, const char *dbname);
/* Servers in scope, optionally only those waiting to be closed. */
int count_servers(const char *dbname, bool only_close_needed);

/* Called for every socket of the non-console pools, then for the clients
 * still logging in; it may close the socket.  Return false to stop. */
typedef bool (*socket_visitor)(struct pgsocket *sk, void *arg);
/* False: a visitor stopped the walk. */
bool visit_pooled_sockets(socket_visitor fn, void *arg);

/* Close every socket of a list (PAUSE, KILL, RECONNECT). */
void close_sockets(struct list_node *list, const char *reason);

/* ---------------- SHOW (admin_show.c, admin_info.c, admin_stats.c) ---------------- */

void cmd_show(struct admin_cmd *c);
/* SHOW USERS lists this user (and SHOW LISTS counts it). */
bool user_is_listed(const struct pguser *u);

void show_lists(struct admin_cmd *c);
void show_mem(struct admin_cmd *c);
void show_state(struct admin_cmd *c);
void show_config(struct admin_cmd *c);
void show_version(struct admin_cmd *c);
void show_fds(struct admin_cmd *c);
void show_dns_hosts(struct admin_cmd *c);
void show_dns_zones(struct admin_cmd *c);
void show_peers(struct admin_cmd *c);
void show_plugins(struct admin_cmd *c);
void show_plugin_counters(struct admin_cmd *c);
bool show_plugin_command(struct admin_cmd *c, const char *name);
bool admin_show_exists(const char *name);
/* A console command of pgwarden's own (SHOW, SET, PAUSE, ...)? */
bool admin_command_exists(const char *word);
void show_peer_pools(struct admin_cmd *c);
void show_help(struct admin_cmd *c);
/* Session parameters some clients ask the console about: SHOW answers with
 * PgBouncer's fixed value (false: not one of them), SET is ignored. */
bool show_fake_param(struct admin_cmd *c);
bool is_fake_param(const char *name);

void show_stats(struct admin_cmd *c);
void show_stats_totals(struct admin_cmd *c);
void show_stats_averages(struct admin_cmd *c);
void show_totals(struct admin_cmd *c);

/* ---------------- control (admin_ctl.c) ---------------- */

extern const struct command control_commands[];
/* SET key = value; SET key TO 'value' */
void cmd_set(struct admin_cmd *c, const char *key, const char *value);
void wake_pools(const char *dbname);

/* ---------------- commands answered later (admin_wait.c) ---------------- */

/* Park the client until the janitor can answer (it may answer at once). */
void wait_for_janitor(struct admin_cmd *c, enum wait_kind kind, const char *dbname);
/* Is a command of this client waiting?  Nothing it sends is read meanwhile. */
bool is_waiting(const struct pgsocket *client);
/* Paused pools keep no idle server connections. */
void enforce_pause(void);

#endif
