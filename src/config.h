/*
 * Configuration: the pgbouncer.ini format (sections [pgbouncer], [databases],
 * [users], [peers], %include), read into an immutable snapshot.  A reload
 * builds a new snapshot and swaps it in, so no reader ever sees half a reload.
 */
#ifndef PGWARDEN_CONFIG_H
#define PGWARDEN_CONFIG_H

#include "util.h"

enum pool_mode {
	POOL_INHERIT = -1,	/* per-db/user: not set, use the global one */
	POOL_SESSION = 0,
	POOL_TX,
	POOL_STMT,
};

enum auth_type {
	AUTH_TYPE_ANY,
	AUTH_TYPE_TRUST,
	AUTH_TYPE_PLAIN,
	AUTH_TYPE_MD5,
	AUTH_TYPE_SCRAM,
	AUTH_TYPE_CERT,
	AUTH_TYPE_HBA,
	AUTH_TYPE_PAM,
	/* only as the method of an auth_hba_file rule: */
	AUTH_TYPE_REJECT,
	AUTH_TYPE_PEER,
};

/* "session", "transaction", "statement"; "" for POOL_INHERIT. */
const char *pool_mode_name(enum pool_mode mode);
/* The auth_type spelling of the config file, e.g. "scram-sha-256". */
const char *auth_type_name(enum auth_type type);

/* One [databases] entry.  Integers are -1 when not given (inherit). */
struct db_def {
	char *name;		/* the key: what clients ask for */
	char *dbname;		/* server database; NULL = same as name */
	char *host;		/* NULL = unix socket in default dir; may be a dir or a comma list */
	int port;		/* default 5432 */
	char *user;		/* forced server user, or NULL */
	char *password;		/* password of the forced user, or NULL */
	char *auth_user;
	char *auth_query;
	char *auth_dbname;
	int pool_size;
	int min_pool_size;
	int reserve_pool;
	int pool_mode;		/* enum pool_mode, POOL_INHERIT when unset */
	int max_db_connections;
	int max_db_client_connections;
	int server_lifetime;	/* seconds, -1 unset */
	int query_wait_timeout;	/* seconds, -1 unset */
	char *connect_query;
	char *client_encoding;
	char *datestyle;
	char *timezone;
	char *application_name;
	int line;		/* where it was defined, for messages */
};

/* One [users] entry. */
struct user_def {
	char *name;
	int pool_mode;		/* POOL_INHERIT when unset */
	int max_user_connections;	/* -1 when unset */
	int pool_size;
	int reserve_pool_size;
	int max_user_client_connections;
	int query_timeout;	/* seconds, -1 unset */
	int idle_transaction_timeout;
	int client_idle_timeout;
	int transaction_timeout;
	int query_wait_timeout;
};

#define MAX_PEER_ID 16383	/* the peer_id setting's range, as in PgBouncer */
#define MAX_PEER_KEY 65535	/* [peers] ids: two bytes of the cancel key */
#define DEFAULT_PEER_PORT 6432

/* One [peers] entry: another pooler process (peer_id), to which cancel
 * requests whose key carries its id are forwarded. */
struct peer_def {
	int id;			/* 1-65535 */
	char *host;		/* NULL: unix socket in unix_socket_dir (or /tmp) */
	int port;
	int pool_size;		/* accepted; each forwarded cancel has its own connection */
};

/* One [plugin.NAME] section: its keys in file order (path among them). */
struct plugin_kv {
	char *key;
	char *value;
};

struct plugin_def {
	char *name;
	struct plugin_kv *kv;
	int n_kv;
	int line;		/* of the section header */
};

/*
 * The whole config.  Times are in microseconds.  String settings are never
 * NULL after config_load: a setting without a value is "".  Note that
 * server_check_query defaults to "<empty>", PgBouncer's spelling for "send an
 * empty query", while "" means "no check at all".
 */
struct config {
	char *conffile;

	/* [pgbouncer] — listening */
	char *listen_addr;
	int listen_port;
	char *unix_socket_dir;
	int unix_socket_mode;
	char *unix_socket_group;
	int listen_backlog;
	char *user;
	char *pidfile;

	/* pooling */
	int pool_mode;
	int max_client_conn;
	int default_pool_size;
	int min_pool_size;
	int reserve_pool_size;
	usec_t reserve_pool_timeout;
	int max_db_connections;
	int max_user_connections;
	int max_db_client_connections;	/* client conns per database, 0 = unlimited */
	int max_user_client_connections;	/* client conns per user, 0 = unlimited */
	int server_round_robin;
	char *ignore_startup_parameters;
	char *track_extra_parameters;
	int disable_pqexec;
	int application_name_add_host;
	int max_prepared_statements;

	/* server management */
	char *server_reset_query;
	int server_reset_query_always;
	char *server_check_query;
	usec_t server_check_delay;
	int server_fast_close;
	usec_t server_lifetime;
	usec_t server_idle_timeout;
	usec_t server_connect_timeout;
	usec_t server_login_retry;

	/* client-side timeouts */
	usec_t client_login_timeout;
	usec_t autodb_idle_timeout;
	usec_t query_timeout;
	usec_t query_wait_timeout;
	usec_t cancel_wait_timeout;
	usec_t client_idle_timeout;
	usec_t idle_transaction_timeout;
	usec_t suspend_timeout;

	/* auth */
	int auth_type;		/* enum auth_type */
	char *auth_file;
	char *auth_hba_file;
	char *auth_ident_file;
	char *auth_user;
	char *auth_query;
	char *auth_dbname;

	/* logging */
	char *logfile;
	int syslog;
	char *syslog_ident;
	char *syslog_facility;
	int log_connections;
	int log_disconnections;
	int log_pooler_errors;
	int log_stats;
	int verbose;
	usec_t stats_period;

	/* admin */
	char *admin_users;
	char *stats_users;

	/* network */
	int pkt_buf;
	int max_packet_size;
	int sbuf_loopcnt;
	int so_reuseport;
	int tcp_defer_accept;
	int tcp_socket_buffer;
	int tcp_keepalive;
	int tcp_keepcnt;
	int tcp_keepidle;
	int tcp_keepintvl;
	int tcp_user_timeout;

	/* DNS */
	usec_t dns_max_ttl;
	usec_t dns_nxdomain_ttl;
	usec_t dns_zone_check_period;
	char *resolv_conf;

	/* TLS ([tls-auth]; read and shown, not applied yet) */
	char *client_tls_sslmode;
	char *client_tls_key_file;
	char *client_tls_cert_file;
	char *client_tls_ca_file;
	char *client_tls_protocols;
	char *client_tls_ciphers;
	char *client_tls13_ciphers;
	char *client_tls_ecdhcurve;
	char *client_tls_dheparams;
	char *server_tls_sslmode;
	char *server_tls_ca_file;
	char *server_tls_key_file;
	char *server_tls_cert_file;
	char *server_tls_protocols;
	char *server_tls_ciphers;
	char *server_tls13_ciphers;

	/* accepted for compatibility, no effect yet */
	int peer_id;
	usec_t query_wait_notify;
	usec_t transaction_timeout;
	usec_t pool_idle_timeout;
	int scram_iterations;
	char *auth_ldap_options;
	char *login_notify_message;
	char *job_name;

	/* plugins, in call order; each needs a [plugin.NAME] section */
	char *plugins;

	/* [databases], [users], [plugin.NAME] */
	struct db_def *dbs;
	int n_dbs;
	struct db_def *fallback_db;	/* the "*" entry, or NULL */
	struct user_def *users;
	int n_users;
	struct peer_def *peers;
	int n_peers;
	struct plugin_def *plugin_defs;
	int n_plugin_defs;
};

/*
 * Description of one [pgbouncer] key, for SHOW CONFIG and SET (later).
 * default_value is the text of SHOW CONFIG's default column; it is NULL where
 * PgBouncer has no default (conffile, user, auth_file, verbose, ...).
 */
enum cf_type { CF_INT, CF_TIME, CF_STR, CF_LOOKUP_POOL_MODE, CF_LOOKUP_AUTH_TYPE };
struct config_key {
	const char *name;
	enum cf_type type;
	size_t offset;		/* into struct config */
	const char *default_value;
	bool reloadable;
};
/* NULL-name terminated, alphabetical (SHOW CONFIG order). */
extern const struct config_key config_keys[];

/*
 * Load a config file.  On error returns NULL and fills errbuf with a message
 * naming file, line and key, e.g.
 *   invalid value "abc" for parameter listen_port in configuration (/etc/x.ini:12)
 *   unknown parameter: pgbouncer/foo   (file:line)
 */
struct config *config_load(const char *path, char *errbuf, size_t errlen);
void config_free(struct config *cf);

/* Look up a [databases] entry by exact name (not the "*" one). */
const struct db_def *config_find_db(const struct config *cf, const char *name);
const struct user_def *config_find_user(const struct config *cf, const char *name);
const struct peer_def *config_find_peer(const struct config *cf, int id);
const struct plugin_def *config_find_plugin(const struct config *cf, const char *name);
/* The value of key in a [plugin.NAME] section, or NULL. */
const char *config_plugin_value(const struct plugin_def *def, const char *key);

/* Find a [pgbouncer] key by name (also accepts the alias service_name). */
const struct config_key *config_find_key(const char *name);
/*
 * Parse value and store it in cf (for admin SET on a copy of the snapshot).
 * Returns false with errbuf set when the value is invalid; cf is unchanged.
 */
bool config_set_value(struct config *cf, const struct config_key *key, const char *value,
		      char *errbuf, size_t errlen);

/* Reload: carry the not-reloadable settings over from the running config. */
void config_keep_startup_values(struct config *newcf, const struct config *oldcf);

/*
 * Walk a comma/space separated list: copies the next word into buf and
 * returns where to continue, or NULL at the end.  Words longer than buf are
 * cut.
 */
const char *config_list_next(const char *list, char *buf, size_t len);

/* Is word in a comma/space separated list (admin_users, ignore_startup_parameters)? */
bool config_list_contains(const char *list, const char *word);

/* Format the value of a key as SHOW CONFIG prints it (times with %g seconds). */
void config_format_value(const struct config *cf, const struct config_key *key, char *buf, size_t len);

/* Parse one connection string "host=... port=..." into def (used by [databases]).
 * Returns false with errbuf set, e.g. "unrecognized connection parameter: foo".
 * Every field but name and line is (re)set, without freeing what was there:
 * pass a fresh struct or one emptied by config_db_def_clear().  On failure
 * nothing is left allocated. */
bool config_parse_connstr(struct db_def *def, const char *connstr, char *errbuf, size_t errlen);
/* Deep copy of src named name (e.g. an auto-database made from the "*" entry). */
void config_db_def_copy(struct db_def *dst, const struct db_def *src, const char *name);
/* Free the strings of def (name included) and zero it. */
void config_db_def_clear(struct db_def *def);

#endif
