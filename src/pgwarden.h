/*
 * The pooler's object model: databases, users, pools and sockets (clients and
 * servers), and the one struct holding the running state.  Modules:
 *   objects.c  lifecycle and lookup of these objects, state changes
 *   pool.c     server assignment, wait queue, limits, janitor timers
 *   client.c   client protocol state machine
 *   server.c   server protocol state machine
 *   auth.c     client authentication and server login answers
 *   varcache.c ParameterStatus tracking and SET synchronisation
 *   listen.c   listening sockets and accept
 *   stats.c    counters and the periodic stats log line
 */
#ifndef PGWARDEN_H
#define PGWARDEN_H

#include "util.h"
#include "list.h"
#include "log.h"
#include "config.h"
#include "userlist.h"
#include "sbuf.h"
#include "pktbuf.h"
#include "scram.h"
#include "dns.h"
#include "strpool.h"
#include "plugin_host.h"
#include "prepared.h"

#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/un.h>

#define PGWARDEN_NAME "pgwarden"
#define MAX_USERNAME 128
#define MAX_DBNAME 128
#define CANCEL_KEY_LEN 8

/* ---- parameters tracked per connection (varcache.c) ---- */
enum var_id {
	VAR_CLIENT_ENCODING,
	VAR_DATESTYLE,
	VAR_TIMEZONE,
	VAR_INTERVALSTYLE,
	VAR_STD_STRINGS,
	VAR_APPNAME,
	VAR_COUNT
};
#define VAR_MAX_LEN 128		/* longer values are cut, as before interning */
#define VAR_EXTRA_MAX 8		/* track_extra_parameters beyond the VAR_COUNT above */
#define VAR_NAME_MAX 63		/* PostgreSQL's NAMEDATALEN - 1 */
_Static_assert(VAR_COUNT + VAR_EXTRA_MAX <= 32, "a uint32_t holds a bit per tracked parameter");

/* Values are interned: every connection with the same TimeZone points at one
 * copy (thousands of clients share a handful of values), and equal values
 * are equal pointers.  NULL: not set.  Ids VAR_COUNT and up are the
 * track_extra_parameters ones, whose slots exist only once one is set. */
struct varcache {
	const char *value[VAR_COUNT];
	const char **extra;
};

int varcache_lookup(const char *name);		/* an enum var_id or an extra's id, or -1 */
const char *varcache_name(int id);
/* At startup: also track these reported parameters (track_extra_parameters). */
void varcache_track_extra(const char *list);
/* Whether that list can be tracked; err says why not. */
bool varcache_extra_allowed(const char *list, char *err, size_t errlen);
bool varcache_set(struct varcache *vc, const char *name, const char *value);
void varcache_set_id(struct varcache *vc, int id, const char *value);	/* NULL or "": unset */
const char *varcache_get(const struct varcache *vc, int id);	/* "" when unset */
void varcache_clear(struct varcache *vc);
void varcache_copy(struct varcache *dst, const struct varcache *src);
/* Build "SET a='x';SET b='y';" for what differs; false if nothing to do. */
bool varcache_build_sync(const struct varcache *client, const struct varcache *server, struct pktbuf *pb);
/* Fill in what the client did not set from the pool's defaults. */
void varcache_fill_unset(struct varcache *dst, const struct varcache *defaults);
/* ParameterStatus for each value set, and for each id in reported (a bit
 * per id) even if unset. */
void varcache_send_all(const struct varcache *vc, uint32_t reported, struct pktbuf *pb);
/* Copy the ParameterStatus messages of untracked parameters; returns the
 * tracked ones seen, a bit per id. */
uint32_t varcache_put_untracked(struct pktbuf *pb, const uint8_t *params, size_t len);

/* ---- statistics (stats.c) ---- */
struct stats {
	uint64_t server_assignment_count;
	uint64_t xact_count;
	uint64_t query_count;
	uint64_t client_bytes;	/* received from clients */
	uint64_t server_bytes;	/* received from servers */
	uint64_t xact_time;	/* usec */
	uint64_t query_time;
	uint64_t wait_time;
	uint64_t client_login_count;	/* clients that completed login */
	uint64_t ps_client_parse_count;	/* named Parse messages from clients */
	uint64_t ps_server_parse_count;	/* Parse messages we sent to servers */
	uint64_t ps_bind_count;		/* Bind messages of named statements */
};

/* ---- objects ---- */
struct pgdatabase {
	struct list_node node;
	char name[MAX_DBNAME];
	char dbname[MAX_DBNAME];	/* on the server */
	char *host;			/* NULL: unix socket in unix_socket_dir (or /tmp) */
	int port;
	struct pguser *forced_user;	/* user= in the connstr */
	int pool_size;
	int min_pool_size;
	int reserve_pool;
	int pool_mode;			/* POOL_INHERIT: from [users] or global */
	int max_db_connections;
	int max_db_client_connections;	/* -1: the global setting */
	usec_t server_lifetime;		/* 0: the global setting */
	int query_wait_timeout;		/* seconds; -1: the global setting */
	char *connect_query;
	/* [databases] auth_user= / auth_query= / auth_dbname=; NULL: the global one */
	char *auth_user;
	char *auth_query;
	char *auth_dbname;
	/* Users known to this database only: those auth_query found, and the
	 * auth_user when auth_file does not list it (auth_query.c). */
	struct list_node own_users;
	struct varcache startup_vars;	/* client_encoding/datestyle/timezone/application_name */

	int server_count;		/* connections to servers, all pools */
	int client_count;
	bool is_admin;
	bool is_autodb;
	bool paused;
	bool disabled;
	bool db_dead;			/* removed from config; freed when unused */
	usec_t inactive_since;

	int host_rr;			/* round-robin position in a host list */
};

struct pguser {
	struct list_node node;
	char name[MAX_USERNAME];
	char *secret;			/* from auth_file or [databases] password=; may be "" */
	int pool_mode;
	int max_user_connections;
	int max_user_client_connections;
	int pool_size;			/* [users] pool_size, -1 when unset */
	int reserve_pool_size;		/* [users] reserve_pool_size, -1 when unset */
	/* [users] overrides of the global timeouts; 0 = use the global one */
	usec_t query_timeout;
	usec_t idle_transaction_timeout;
	usec_t client_idle_timeout;
	usec_t transaction_timeout;
	usec_t query_wait_timeout;
	int server_count;
	int client_count;
	bool forced;			/* belongs to one database's user= */
	bool queried;			/* found by auth_query; in its database's own_users */
	bool removed;			/* gone from auth_file at the last reload */

	/* Learned from a client's successful SCRAM login, so we can log in to
	 * the server with only the SCRAM secret (as PgBouncer does). */
	bool has_scram_keys;
	uint8_t scram_client_key[SCRAM_KEY_LEN];
	uint8_t scram_server_key[SCRAM_KEY_LEN];

	/* PBKDF2 results of a plain password kept between logins (scram.h):
	 * with our salt for this user when a client logs in with SCRAM, and
	 * with PostgreSQL's salt when we log in to the server. */
	struct scram_keys_cache client_scram_cache;
	struct scram_keys_cache server_scram_cache;
};

enum sock_state {
	CL_FREE,
	CL_JUSTFREE,
	CL_LOGIN,
	CL_WAITING,
	CL_WAITING_LOGIN,
	CL_ACTIVE,
	CL_CANCEL,
	SV_FREE,
	SV_JUSTFREE,
	SV_LOGIN,
	SV_IDLE,
	SV_ACTIVE,
	SV_USED,
	SV_TESTED,
};

struct pgpool {
	struct list_node node;
	struct pgdatabase *db;
	struct pguser *user;

	struct list_node active_clients;
	struct list_node waiting_clients;
	struct list_node active_servers;
	struct list_node idle_servers;
	struct list_node used_servers;
	struct list_node tested_servers;
	struct list_node login_servers;
	struct list_node cancel_clients;	/* CL_CANCEL waiting for a connect */

	/* ParameterStatus of the first server login, replayed to clients: the
	 * untracked ones as they came, the tracked ones in server_defaults. */
	bool welcome_ready;
	struct pktbuf welcome;
	uint32_t welcome_tracked;	/* tracked ones it reported, a bit per var id */
	struct varcache server_defaults;

	usec_t last_connect_time;
	bool last_login_failed;
	char last_login_error[256];
	char last_login_sqlstate[6];

	struct stats stats;
	/* Snapshots of stats taken at the last two stats_period ticks: the
	 * averages are (stats - older_stats) over the time since the older one,
	 * as PgBouncer computes them. */
	struct stats newer_stats;
	struct stats older_stats;
	usec_t inactive_since;		/* no clients and no servers since */
};

enum auth_phase {
	AUTH_PHASE_NONE,
	AUTH_PHASE_LOOKUP,		/* auth_query running for this client's user */
	AUTH_PHASE_PASSWORD,		/* waiting for a cleartext password */
	AUTH_PHASE_MD5,
	AUTH_PHASE_SCRAM_FIRST,
	AUTH_PHASE_SCRAM_FINAL,
	AUTH_PHASE_PLUGIN,		/* cleartext password for client_auth plugins */
	AUTH_PHASE_PAM,			/* cleartext password for PAM, then PAM's answer */
	AUTH_PHASE_VERIFY,		/* a password checked, or a SCRAM secret built, on a worker (auth_check.c) */
	AUTH_PHASE_PEER,		/* the peer's system user looked up (auth_check.c) */
	AUTH_PHASE_DONE,
};

struct pgsocket {
	struct list_node node;		/* in a pool list or a global list */
	struct sbuf sbuf;
	struct pgsocket *link;		/* client <-> server while active */
	struct pgpool *pool;
	struct pgdatabase *db;
	struct pguser *login_user;	/* who we are logged in as */
	enum sock_state state;
	uint64_t id;

	bool is_server : 1;
	bool is_unix : 1;
	bool ready : 1;			/* server: idle in ReadyForQuery */
	bool close_needed : 1;
	bool admin_user : 1;		/* client: admin console, full access */
	bool stats_user : 1;		/* client: admin console, SHOW only */
	bool setting_vars : 1;		/* server: our SET is running */
	bool resetting : 1;			/* server: reset query running */
	bool checking : 1;			/* server: check query running */
	bool exec_on_connect : 1;		/* server: connect_query running */
	bool in_copy : 1;			/* client: COPY IN in progress */
	bool wait_notified : 1;		/* client: query_wait_notify's NOTICE sent for this wait */
	bool sent_terminate : 1;
	bool counted_client : 1;		/* counted in pooler.client_count */
	bool counted_in_pool : 1;		/* counted in its db's and user's client_count */
	bool auth_ok_sent : 1;
	bool stmt_decided : 1;		/* client: a plugin decided the message at parse_pos */
	bool skip_till_sync : 1;		/* client: a Parse was blocked; skip up to Sync */
	bool swap_server_error : 1;		/* client: next server error is a block stand-in's */
	struct pgw_session *plug;	/* client: plugin session, NULL without plugins */
	struct ps_state *ps;		/* named prepared statements (prepared.c), NULL until used */
	char tx_state;			/* 'I', 'T', 'E' from ReadyForQuery */
	int expect_rfq;			/* server: ReadyForQuery messages still to come */
	bool unsynced : 1;		/* server: extended-protocol messages sent since the last Sync */
	int pending_rfq_skip;		/* server: RFQs of our own queries to swallow */

	uint8_t cancel_key[CANCEL_KEY_LEN];
	char *tls_host;			/* server: the host name, for server_tls_sslmode = verify-full */
	struct sockaddr_storage remote_addr;	/* the local address is asked of the kernel (SHOW) */
	int peer_pid;			/* unix socket peer */
	int peer_uid;			/* unix socket peer, -1 for TCP */

	usec_t connect_time;
	usec_t request_time;		/* last activity */
	usec_t query_start;
	usec_t xact_start;
	usec_t wait_start;

	struct varcache vars;

	/* client login: from the startup packet, interned (strpool.h), "" before */
	const char *user_name;
	const char *db_name;
	enum auth_phase auth_phase;
	uint8_t md5_salt[4];
	struct scram_server *scram_srv;	/* client SCRAM in progress */
	struct auth_lookup *lookup;	/* client: auth_query result; NULL if not run */
	struct plugin_query *pquery;	/* a socketless client running a plugin's server_query */
	struct scram_client *scram_cli;	/* server login SCRAM in progress */
	struct dns_request *dns_req;	/* server: address lookup in flight */
	bool is_cancel_conn : 1;		/* server: only carries a CancelRequest */
	bool auth_check_waiting : 1;	/* a login step runs on a worker for it (auth_check.c) */
	uint8_t cancel_to_send[CANCEL_KEY_LEN];	/* its payload: the server's key */
	struct pktbuf login_params;	/* server: ParameterStatus seen at login */
};

/* The running pooler: every piece of mutable state lives here. */
struct pooler {
	struct event_base *base;
	struct config *config;
	struct userlist *userlist;
	struct hba *hba;		/* auth_type = hba: the auth_hba_file rules */
	struct ident_map *ident;	/* ... and the auth_ident_file user name maps */
	struct dns_context *dns;

	struct list_node databases;
	struct list_node users;
	struct list_node pools;
	struct list_node login_clients;		/* clients not yet in a pool */
	struct list_node justfree;		/* closed, freed after this loop turn */
	struct list_node cancel_servers;	/* connections carrying a CancelRequest */

	int client_count;
	int server_count;
	uint64_t next_id;
	bool shutting_down;
	bool paused;
	bool suspended;

	struct event ev_janitor;
	struct event ev_stats;
	struct event ev_reap;
	struct event ev_sigterm, ev_sigint, ev_sighup, ev_sigusr1, ev_sigusr2, ev_sigquit;

	struct stats total_stats;
	struct stats last_totals;
	usec_t last_stats_time;
	usec_t prev_stats_time;		/* the tick before last_stats_time */

	char *config_path;
	int verbose_cli;
	bool quiet;
	bool daemonize;
};

extern struct pooler pooler;
#define cf (pooler.config)

/* ---- objects.c ---- */
struct pgdatabase *find_database(const char *name);
struct pgdatabase *register_database(const struct db_def *def, bool is_autodb, const char *autoname);
struct pgdatabase *lookup_or_create_database(const char *name);
struct pguser *find_user(const char *name);
struct pguser *add_user(const char *name, const char *secret);
struct pgpool *get_pool(struct pgdatabase *db, struct pguser *user);
/* A user of db's own_users (queried: an auth_query result), created on first use. */
struct pguser *own_user(struct pgdatabase *db, const char *name, bool queried);
/* Who a pool of db (an auth_query's, a plugin's server_query) logs in as:
 * the auth_file user of that name, or else one private to db, with no
 * password, that no client can log in as. */
struct pguser *pool_login_user(struct pgdatabase *db, const char *name);
/* An auth_query answer: the user's secret as PostgreSQL holds it now. */
struct pguser *update_queried_user(struct pgdatabase *db, const char *name, const char *secret);
struct pgsocket *socket_alloc(bool is_server);
void change_client_state(struct pgsocket *client, enum sock_state newstate);
void change_server_state(struct pgsocket *server, enum sock_state newstate);
void disconnect_client(struct pgsocket *client, bool notify, const char *reason_fmt, ...) PRINTF_LIKE(3, 4);
void disconnect_client_sqlstate(struct pgsocket *client, const char *sqlstate, const char *reason_fmt, ...) PRINTF_LIKE(3, 4);
void disconnect_server(struct pgsocket *server, bool notify, const char *reason_fmt, ...) PRINTF_LIKE(3, 4);
void reap_justfree(void);
struct pgsocket *find_client_by_cancel_key(const uint8_t key[CANCEL_KEY_LEN]);
int pool_mode_of(const struct pgpool *pool);
int pool_size_of(const struct pgpool *pool);
int reserve_pool_size_of(const struct pgpool *pool);
void objects_apply_config(void);
void socket_prefix(const struct pgsocket *sk, char *buf, size_t len);
/* "1.2.3.4:5555", "[::1]:5555" or "unix(PID)". */
void socket_addr_text(const struct pgsocket *sk, char *buf, size_t len);
void slog(enum log_level lvl, const struct pgsocket *sk, const char *fmt, ...) PRINTF_LIKE(3, 4);
#define slog_error(sk, ...) slog(LOG_LVL_ERROR, sk, __VA_ARGS__)
#define slog_warning(sk, ...) slog(LOG_LVL_WARNING, sk, __VA_ARGS__)
#define slog_info(sk, ...) slog(LOG_LVL_LOG, sk, __VA_ARGS__)
#define slog_debug(sk, ...) do { if (log_enabled(LOG_LVL_DEBUG)) slog(LOG_LVL_DEBUG, sk, __VA_ARGS__); } while (0)
#define slog_noise(sk, ...) do { if (log_enabled(LOG_LVL_NOISE)) slog(LOG_LVL_NOISE, sk, __VA_ARGS__); } while (0)
void send_error_to_client(struct pgsocket *client, const char *sqlstate, const char *msg);
void generate_cancel_key(uint8_t key[CANCEL_KEY_LEN]);
void kill_pool_logins(struct pgpool *pool, const char *sqlstate, const char *msg);

/* ---- pool.c ---- */
bool find_server(struct pgsocket *client);	/* true: linked now */
void release_server(struct pgsocket *server);
void launch_new_connection(struct pgpool *pool);
void pool_wake_waiters(struct pgpool *pool);
void janitor_setup(void);
void forward_cancel_request(struct pgsocket *req);
struct pgsocket *cancel_conn_new(struct pgdatabase *db, const uint8_t key[CANCEL_KEY_LEN]);

/* peer.c: cancel requests between peered processes (peer_id, [peers]) */
void peer_stamp_cancel_key(uint8_t key[CANCEL_KEY_LEN]);
/* true: another peer's key, handled; false: ours, key made to match ours again */
bool peer_forward_cancel(uint8_t key[CANCEL_KEY_LEN]);
int peer_cancels_in_flight(int id);

/* ---- client.c ---- */
enum sbuf_result client_proto(struct sbuf *sb, enum sbuf_event ev, struct sbuf_pkt *pkt);
void accept_client(int fd, bool is_unix, const struct sockaddr_storage *peer, socklen_t peer_len);
bool finish_client_login(struct pgsocket *client);
/* Look up (or auto-create) the database for a login; false after disconnecting. */
bool client_use_database(struct pgsocket *client, const char *name);
void client_activate(struct pgsocket *client);

/* ---- server.c ---- */
enum sbuf_result server_proto(struct sbuf *sb, enum sbuf_event ev, struct sbuf_pkt *pkt);
void connect_server(struct pgsocket *server);
void server_login_failed(struct pgsocket *server);
/* Our own query runs for this client: its auth_query, or it stands in for
 * a plugin's server_query. */
static inline bool side_query_running(const struct pgsocket *client)
{
	return client->auth_phase == AUTH_PHASE_LOOKUP || client->pquery;
}
/* The client got a server for that query: send it. */
void side_query_send(struct pgsocket *client);

/* ---- auth.c ---- */
void client_start_auth(struct pgsocket *client);
/* The auth_query lookup for this client finished; password: what a plugin
 * handed back to be checked (NULL: start the core's method). */
void auth_lookup_done(struct pgsocket *client, const char *password);
/* auth_type = pam (pam_auth.c): check on a worker thread; the client waits paused. */
bool pam_auth_start(struct pgsocket *client, const char *password);
void auth_pam_accepted(struct pgsocket *client, const char *password);

/* ---- auth_check.c: a login step on a worker thread ---- */
struct auth_check {
	struct list_node node;		/* in flight, on the loop thread */
	struct pgsocket *sk;		/* the client or server waiting; NULL once gone */
	atomic_bool abandoned;		/* sk went: the worker need not run it */
	bool watching;			/* client_gone is added */
	struct event client_gone;	/* the paused client hung up */
	void (*run)(struct auth_check *check);	/* on a worker thread: the slow part */
	void (*answer)(struct pgsocket *sk, struct auth_check *check);	/* loop: sk is still there */
	void (*free)(struct auth_check *check);	/* loop: always, last */
};
/* Queue the check and pause sk until its answer; false (check freed) when
 * it cannot be queued. */
bool auth_check_start(struct pgsocket *sk, struct auth_check *check);
/* sk is going: its check's answer goes nowhere. */
void auth_check_abandon(struct pgsocket *sk);

/* ---- auth_query.c: secrets of users not in auth_file, from PostgreSQL ---- */
/* auth_user is set for the client's database and auth_file lacks the user. */
bool auth_query_wanted(const struct pgsocket *client);
/* Queue the client for a server of the auth_user pool; auth_lookup_done
 * follows, with a copy of password (may be NULL). */
void auth_query_start(struct pgsocket *client, const char *password);
/* The client got its auth_user server (it waited in the pool's queue). */
void auth_query_send(struct pgsocket *client);
/* A whole message answering the auth_query (already consumed from the
 * server), but its ReadyForQuery: auth_query_finished then. */
enum sbuf_result auth_query_server_msg(struct pgsocket *server, struct pgsocket *client, uint8_t type,
				       const uint8_t *body, size_t len);
void auth_query_finished(struct pgsocket *client);
/* The user the client says it is, from auth_file or found by auth_query;
 * NULL when unknown (such logins fail after a mock exchange). */
struct pguser *client_known_user(const struct pgsocket *client);
bool auth_query_failed(const struct pgsocket *client);
void auth_query_free(struct pgsocket *client);
enum sbuf_result client_auth_packet(struct pgsocket *client, struct sbuf_pkt *pkt);
/* false: the login failed (server_login_failed's business).  The answer may
 * come later, from a worker (auth_check.c), with the server paused. */
bool server_answer_auth(struct pgsocket *server, const uint8_t *body, size_t len);

/* ---- admin.c: the console, a client whose "server" is the pooler ---- */
#define ADMIN_DBNAME "pgbouncer"
#define ADMIN_DBNAME_ALIAS "pgwarden"
/* Register the console databases; called at start and after each reload. */
void admin_setup(void);
/* After the client passed authentication: admin_users / stats_users /
 * unix-socket peer rules.  False: the client was disconnected. */
bool admin_check_access(struct pgsocket *client);
/* Unix socket from the pooler's own OS user as "pgbouncer": no password. */
bool admin_peer_login(struct pgsocket *client);
/* Fill a console pool's welcome (ParameterStatus) the first time it is used. */
void admin_prepare_pool(struct pgpool *pool);
enum sbuf_result admin_handle_pkt(struct pgsocket *client, struct sbuf_pkt *pkt);
/* Called by the janitor: completes PAUSE / SUSPEND / WAIT_CLOSE in progress. */
void admin_janitor(void);
/* Undo PAUSE / SUSPEND (RESUME, SIGUSR2): unpause sockets, wake every pool. */
void admin_resume_all(void);
/* A CancelRequest aimed at a console client: a waiting PAUSE/SUSPEND is
 * abandoned and the pooler resumed, as in PgBouncer. */
void admin_handle_cancel(struct pgsocket *admin);
/* SHUTDOWN WAIT_FOR_SERVERS (false) / WAIT_FOR_CLIENTS (true): stop TCP
 * listening and exit once servers are released / clients are gone (checked
 * by admin_janitor).  False: a shutdown was already under way. */
bool admin_begin_shutdown(bool wait_for_clients);
/* A shutdown (signal or console) is under way. */
bool admin_shutting_down(void);

/* ---- main.c: process control shared by signals and the console ---- */
bool pooler_reload(void);		/* false: config invalid, old one kept */
void pooler_apply_runtime_settings(void);
void objects_host_changed(const char *name);	/* dns: a server host's addresses changed */
void pooler_shutdown_now(const char *why);

/* ---- listen.c ---- */
bool listen_start(void);
void tune_tcp_socket(int fd);
void listen_stop_tcp(void);
void listen_cleanup(void);
void listen_apply_defer_accept(void);

/* ---- stats.c ---- */
void stats_setup(void);
void stats_apply_period(void);
/* Counters of db's pools (every pool when db is NULL): the current totals and
 * PgBouncer's averages (per second for counts and bytes, per transaction /
 * query / server assignment for times) since the older snapshot. */
void stats_collect(const struct pgdatabase *db, struct stats *total, struct stats *avg);

#endif
