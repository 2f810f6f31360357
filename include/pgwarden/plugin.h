/*
 * pgwarden plugin ABI — the only header a plugin includes.
 *
 * A plugin is a shared object that says which ABI it was built for and
 * exports one entry point:
 *
 *     PGW_PLUGIN_DECLARE();
 *
 *     int pgwarden_plugin_init(const struct pgw_host *host, struct pgw_plugin *self,
 *                              const struct pgw_kv *config, int nconfig);
 *
 * pgwarden refuses a plugin built for another PGW_ABI_VERSION before calling
 * anything in it.  Init keeps `host` and `self`, reads its config
 * (the keys of its [plugin.NAME] section) and registers its hooks with
 * host->register_hooks().  It returns 0, or -1 after host->set_error() has
 * said why: pgwarden then refuses to start and names the plugin.
 *
 * The shape follows Redis modules (opaque handles, an API table handed to
 * the module), nginx phases (a small set of decisions, including "later")
 * and PostgreSQL hooks (chains in config order) — but the chain belongs to
 * the core: a plugin cannot forget to call the next one.
 *
 * THREADING: every callback runs on pgwarden's event-loop thread, and every
 * host function must be called from it — except host->call_on_loop() and
 * host->exiting(), which any thread may call, and the `work` function given
 * to host->worker_submit(), which runs on a worker thread and may call no
 * other host function.  A callback must not block: work that waits (an
 * IdP, an approver, a disk) answers PGW_LATER and completes the request
 * from a timer, a worker's `done` callback or another loop callback.
 *
 * LIFETIMES: strings handed to a callback are valid until it returns; copy
 * what you keep.  A struct pgw_session is valid from session_start (or from
 * client_auth) until session_end returns.  A struct pgw_request is valid
 * until the plugin completes it — even if the client disconnected in the
 * meantime (then the completion is ignored): every PGW_LATER must be
 * completed exactly once.
 *
 * VERSIONING: PGW_ABI_VERSION changes only when an existing member changes
 * meaning.  New members are appended to the structs; both sides check the
 * `size` field, so a plugin built against an older header keeps working.
 */
#ifndef PGWARDEN_PLUGIN_H
#define PGWARDEN_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PGW_ABI_VERSION 1
#define PGW_PLUGIN_INIT_SYMBOL "pgwarden_plugin_init"
#define PGW_PLUGIN_ABI_SYMBOL "pgwarden_plugin_abi"

/* The ABI the plugin was built for, read by the loader before init. */
#define PGW_PLUGIN_DECLARE() const int pgwarden_plugin_abi = PGW_ABI_VERSION

/* Opaque handles: a plugin never sees pgwarden's structs. */
struct pgw_plugin;	/* one loaded plugin: the `self` of every callback */
struct pgw_session;	/* one client connection */
struct pgw_request;	/* one decision the core waits for (auth, statement) */
struct pgw_timer;
struct pgw_show;		/* a SHOW result being built */
struct pgw_command;		/* an admin console command being answered */

/* One key/value pair of a [plugin.NAME] section (path included). */
struct pgw_kv {
	const char *key;
	const char *value;
};

/*
 * What a hook answers.  Not every decision fits every hook; an answer a hook
 * does not accept is treated as BLOCK/REJECT (fail closed) and logged.
 */
enum pgw_decision {
	PGW_CONTINUE = 0,	/* no opinion: ask the next plugin, then the core */
	PGW_ALLOW = 1,		/* statement: send it now, skip later plugins */
	PGW_REWRITE = 2,	/* statement: host->request_rewrite() was called; next plugin sees the new SQL */
	PGW_BLOCK = 3,		/* host->request_error() says with what; default 42501 */
	PGW_LATER = 4,		/* park the client; complete through host->request_complete() */
};
#define PGW_ACCEPT PGW_ALLOW	/* client_auth: the client is who it says */
#define PGW_REJECT PGW_BLOCK	/* client_auth: refuse the login */

enum pgw_log_level {
	PGW_LOG_ERROR = 1,
	PGW_LOG_WARNING = 2,
	PGW_LOG_INFO = 3,
	PGW_LOG_DEBUG = 4,
};

/* Where a statement came from. */
enum pgw_statement_source {
	PGW_STMT_QUERY = 'Q',	/* simple protocol; may hold several statements */
	PGW_STMT_PARSE = 'P',	/* extended protocol Parse */
	/* An Execute of a prepared statement: only statement_decided hooks are
	 * asked (the text was decided at its Parse); they may still veto or
	 * hold this run of it. */
	PGW_STMT_EXECUTE = 'E',
};

struct pgw_statement {
	size_t size;			/* sizeof(struct pgw_statement) of the core */
	const char *sql;		/* NUL-terminated; the current text (after earlier rewrites) */
	size_t sql_len;
	enum pgw_statement_source source;
	const char *statement_name;	/* Parse: the prepared statement's name ("" = unnamed); Query: "" */
};

/* One column of a result (RowDescription). */
struct pgw_column {
	const char *name;
	uint32_t table_oid;		/* 0: not a plain column of a table */
	int16_t column_attnum;		/* 0 when table_oid is 0 */
	uint32_t type_oid;
	int16_t type_size;
	int32_t type_modifier;
	/* 0 text, 1 binary; -1 unknown: the server described a prepared
	 * statement (Describe 'S'), whose formats the client chooses later in
	 * Bind — treat such values as opaque (e.g. mask them as NULL). */
	int16_t format;
};

struct pgw_result_columns {
	size_t size;			/* sizeof(struct pgw_result_columns) of the core */
	int ncolumns;
	const struct pgw_column *columns;
};

/* One field value of a DataRow: not NUL-terminated; len -1 is SQL NULL. */
struct pgw_field {
	const uint8_t *data;
	int32_t len;
};

struct pgw_row {
	size_t size;			/* sizeof(struct pgw_row) of the core */
	int nfields;
	/* Current values, after earlier plugins' host->row_set_field(). */
	const struct pgw_field *fields;
	const struct pgw_result_columns *columns;
	uint64_t row_number;		/* 1-based, within the result */
};

/* How a statement (or one statement of a multi-statement Query) ended. */
struct pgw_result {
	size_t size;			/* sizeof(struct pgw_result) of the core */
	const char *command_tag;	/* command_complete: "SELECT 3", "INSERT 0 1", ...; error: NULL */
	uint64_t rows;			/* the tag's row count (SELECT/INSERT/UPDATE/DELETE/MERGE/FETCH/MOVE/COPY), else 0 */
	uint64_t rows_sent;		/* DataRow messages that reached the client */
	uint64_t bytes_sent;		/* bytes of RowDescription, DataRow and CommandComplete sent */
	uint64_t duration_us;		/* from when pgwarden sent it to the server (or the previous result) */
	/* error only (otherwise NULL): */
	const char *severity;		/* "ERROR", "FATAL", ... */
	const char *sqlstate;
	const char *message;
	const char *blocked_by;		/* the plugin whose BLOCK made this error; NULL: the server's */
	/* What the result answers (NULL/0 when pgwarden cannot tell, e.g. a FunctionCall): */
	const char *sql;		/* the Query's text (all of it), or the prepared text an Execute ran */
	const char *original_sql;	/* the client's text when a plugin rewrote it; else NULL */
	const char *statement_name;	/* Execute: its prepared statement ("": unnamed); Query: NULL */
	int statement_index;		/* Query: which of its statements (0-based) */
	int nparams;			/* Execute: the Bind's parameters, as sent */
	const struct pgw_field *params;
	const int16_t *param_formats;	/* per parameter: 0 text, 1 binary */
	/* Appended (check size): */
	const char *decision_note;	/* host->request_note() of the statement's decision; NULL: none */
};

/* What the statement chain decided (statement_decided). */
struct pgw_statement_outcome {
	size_t size;			/* sizeof(struct pgw_statement_outcome) of the core */
	enum pgw_statement_source source;
	const char *statement_name;	/* Parse: its name; Execute: its statement's ("": unnamed; NULL: unknown); Query: "" */
	const char *original_sql;	/* as the client sent it (Execute: the prepared text, "" when unknown) */
	const char *sql;		/* what the server gets (after rewrites); NULL when blocked */
	enum pgw_decision decision;	/* PGW_ALLOW (sent, maybe rewritten) or PGW_BLOCK */
	const char *decided_by;		/* the plugin that answered ALLOW/BLOCK; NULL: nobody objected */
	const char *sqlstate;		/* BLOCK: what the client gets */
	const char *message;
	/* Appended (check size): */
	const char *note;		/* host->request_note(), NULL: none */
};

struct pgw_auth_info {
	size_t size;			/* sizeof(struct pgw_auth_info) of the core */
	const char *user;		/* startup parameter "user" */
	const char *database;		/* startup parameter "database" (defaults to user) */
	const char *password;		/* the cleartext password the client sent */
	/* every startup parameter the client sent, in its order, as sent
	 * (user and database included; options, replication, ... too) */
	const struct pgw_kv *params;
	int nparams;
	const char *client_addr;	/* "10.0.0.1:5555", "[::1]:5555" or "unix(PID)" */
};

/* The answer to host->server_query(): valid only during the done call. */
struct pgw_query_result {
	size_t size;			/* sizeof(struct pgw_query_result) of the core */
	const char *sqlstate;		/* error: its SQLSTATE; NULL on success */
	const char *message;		/* error: the server's (or pgwarden's) message */
	int ncolumns;
	const char *const *column_names;
	int nrows;
	const char *const *values;	/* nrows * ncolumns, row-major, text; NULL: SQL NULL */
};

/*
 * The hooks a plugin registers.  Set `size = sizeof(struct pgw_hooks)`;
 * leave unused hooks NULL (they cost nothing).  Hooks of several plugins run
 * in the order of the `plugins =` list.
 */
struct pgw_hooks {
	size_t size;

	/*
	 * A client sent its password (the core asked for it in cleartext
	 * because some plugin registered this hook).  Runs before the core's
	 * own auth.  ACCEPT: the client is logged in, possibly with an identity
	 * (host->identity_*) and a server user/database
	 * (host->request_map_login).  REJECT: the client is disconnected with
	 * host->request_error()'s SQLSTATE/message (default 28P01).  CONTINUE:
	 * next plugin, then the core's auth_type.  LATER: the client waits
	 * until host->request_complete().  No session_start has run yet; the
	 * session's data slot may already be used.
	 */
	enum pgw_decision (*client_auth)(struct pgw_plugin *self, struct pgw_session *s,
					 struct pgw_request *req, const struct pgw_auth_info *info);

	/* Login succeeded, before the client gets its welcome. */
	void (*session_start)(struct pgw_plugin *self, struct pgw_session *s);

	/*
	 * The client connection is closing; reason is the log line's reason.
	 * Free what you keep in the session data slot here.  Runs for every
	 * session that ran session_start (or client_auth).
	 */
	void (*session_end)(struct pgw_plugin *self, struct pgw_session *s, const char *reason);

	/*
	 * A simple Query or an extended-protocol Parse, before it goes to the
	 * server.  ALLOW / CONTINUE send it on; REWRITE sends the text given
	 * to host->request_rewrite() (a Parse keeps its name and parameter
	 * types); BLOCK answers the client with an ErrorResponse — the
	 * connection stays usable and the transaction state is PostgreSQL's
	 * (an open transaction becomes failed; extended-protocol messages up to
	 * the next Sync are skipped).  LATER holds the client (later messages
	 * wait behind this one).
	 */
	enum pgw_decision (*statement)(struct pgw_plugin *self, struct pgw_session *s,
				       struct pgw_request *req, const struct pgw_statement *stmt);

	/*
	 * RELOAD / SIGHUP with the section's new keys.  Return 0, or -1 after
	 * host->set_error(): the plugin keeps its old configuration.
	 */
	int (*reload)(struct pgw_plugin *self, const struct pgw_kv *config, int nconfig);

	/* Shutdown: free everything; no other callback follows. */
	void (*unload)(struct pgw_plugin *self);

	/*
	 * A RowDescription from the server, before it reaches the client (a
	 * result set starts, or the answer to a Describe).  The plugin may
	 * host->result_mark_column() here.  Return nonzero to be shown every
	 * DataRow of this result (data_row); 0 when it does not care — rows
	 * then pass without being parsed or copied, unless another plugin
	 * asked.
	 */
	int (*row_description)(struct pgw_plugin *self, struct pgw_session *s,
			       const struct pgw_result_columns *columns);

	/*
	 * A DataRow of a result whose row_description this plugin answered
	 * nonzero.  host->row_set_field() replaces a value (text or binary,
	 * as the column's format says); the client gets the rewritten row.
	 */
	void (*data_row)(struct pgw_plugin *self, struct pgw_session *s, struct pgw_row *row);

	/* CommandComplete from the server, before it reaches the client. */
	void (*command_complete)(struct pgw_plugin *self, struct pgw_session *s, const struct pgw_result *result);

	/*
	 * An ErrorResponse on its way to the client: from the server, or made
	 * by pgwarden for a statement a plugin blocked (result->blocked_by).
	 */
	void (*error)(struct pgw_plugin *self, struct pgw_session *s, const struct pgw_result *result);

	/*
	 * After the statement chain has decided about a Query or Parse: every
	 * plugin with this hook sees the outcome, in config order, whatever the
	 * chain answered (an ALLOW does not hide the statement from it).  The
	 * place to record decisions, and to veto: return PGW_CONTINUE to let
	 * the outcome stand, PGW_BLOCK (with host->request_error()) to refuse a
	 * statement that was to be sent — e.g. an audit that cannot record it —
	 * or PGW_LATER to hold it until host->request_complete(req,
	 * PGW_CONTINUE or PGW_BLOCK) — e.g. until its record is on disk.
	 */
	enum pgw_decision (*statement_decided)(struct pgw_plugin *self, struct pgw_session *s,
					       struct pgw_request *req, const struct pgw_statement_outcome *outcome);
};

/*
 * Services of the host.  Check `size` (or abi_version) before using a member
 * added after the version you built against.
 */
struct pgw_host {
	size_t size;
	int abi_version;		/* PGW_ABI_VERSION of the core */
	const char *version;		/* pgwarden's version string */

	/* ---- the plugin itself ---- */
	int (*register_hooks)(struct pgw_plugin *self, const struct pgw_hooks *hooks);
	const char *(*plugin_name)(const struct pgw_plugin *self);
	/* A key of the plugin's current [plugin.NAME] section, or NULL. */
	const char *(*config_get)(const struct pgw_plugin *self, const char *key);
	/* Why init/reload failed; copied.  printf-like. */
	void (*set_error)(struct pgw_plugin *self, const char *fmt, ...)
		__attribute__((format(printf, 2, 3)));
	/* One log line through pgwarden's logger, prefixed "plugin NAME: ". */
	void (*log)(struct pgw_plugin *self, enum pgw_log_level level, const char *fmt, ...)
		__attribute__((format(printf, 3, 4)));
	/* A per-plugin private pointer (e.g. parsed config). */
	void (*set_private)(struct pgw_plugin *self, void *data);
	void *(*get_private)(const struct pgw_plugin *self);

	/* ---- sessions (strings valid while the session is) ---- */
	uint64_t (*session_id)(const struct pgw_session *s);
	const char *(*session_user)(const struct pgw_session *s);
	const char *(*session_database)(const struct pgw_session *s);
	const char *(*session_client_addr)(const struct pgw_session *s);
	const char *(*session_application_name)(const struct pgw_session *s);
	/* This plugin's slot in the session; NULL until set. */
	void *(*session_get_data)(const struct pgw_session *s, const struct pgw_plugin *self);
	void (*session_set_data)(struct pgw_session *s, const struct pgw_plugin *self, void *data);

	/* ---- identity: set by an auth plugin, read by any other ---- */
	void (*identity_set)(struct pgw_session *s, const char *subject, const char *issuer, int64_t expires_at);
	const char *(*identity_subject)(const struct pgw_session *s);	/* NULL: none */
	const char *(*identity_issuer)(const struct pgw_session *s);
	int64_t (*identity_expires_at)(const struct pgw_session *s);	/* unix time, 0: none */
	void (*identity_add_group)(struct pgw_session *s, const char *group);
	int (*identity_group_count)(const struct pgw_session *s);
	const char *(*identity_group)(const struct pgw_session *s, int i);
	void (*identity_put)(struct pgw_session *s, const char *key, const char *value);
	const char *(*identity_get)(const struct pgw_session *s, const char *key);

	/* ---- requests: what a decision carries, and late answers ---- */
	/* The session a request belongs to; NULL once the client has gone. */
	struct pgw_session *(*request_session)(const struct pgw_request *req);
	/* Statement: the new SQL text (copied), used with PGW_REWRITE. */
	void (*request_rewrite)(struct pgw_request *req, const char *sql);
	/* BLOCK / REJECT: the client's ErrorResponse (copied). */
	void (*request_error)(struct pgw_request *req, const char *sqlstate, const char *message);
	/* client_auth ACCEPT: log in to the server as user/database (NULL: keep). */
	void (*request_map_login)(struct pgw_request *req, const char *server_user, const char *database);
	/*
	 * Answer a PGW_LATER, exactly once, with any decision the hook itself
	 * could have returned but PGW_LATER.  Called from inside the hook that
	 * then returns PGW_LATER, it simply answers at once.  When the client
	 * has gone meanwhile, this only frees the request.
	 */
	void (*request_complete)(struct pgw_request *req, enum pgw_decision decision);

	/* ---- timers on the event loop (one-shot) ---- */
	struct pgw_timer *(*timer_start)(struct pgw_plugin *self, uint64_t after_ms,
					 void (*cb)(void *arg), void *arg);
	/* Before it fired; a fired timer is already freed. */
	void (*timer_cancel)(struct pgw_timer *t);

	/* ---- results (from row_description / data_row hooks) ---- */
	/* Replace field i of the row (data copied; len -1: NULL). */
	void (*row_set_field)(struct pgw_row *row, int i, const void *data, int32_t len);
	/* Note what this plugin does to column i of the current result (e.g.
	 * "masked:hash"), for other plugins (an audit) to read; copied. */
	void (*result_mark_column)(struct pgw_session *s, struct pgw_plugin *self, int i, const char *note);
	/* The notes on column i, "plugin:note" joined by ", "; NULL: none. */
	const char *(*result_column_marks)(const struct pgw_session *s, int i);

	/* ---- blocking work off the loop ---- */
	/*
	 * Run work(arg) on one of pgwarden's worker threads, then done(arg)
	 * back on the loop thread.  work may block (disk, network) but must
	 * not call any host function but exiting(); hand it copies of what it
	 * needs.
	 * Returns 0, or -1 when the queue is full (done is then not called).
	 */
	int (*worker_submit)(struct pgw_plugin *self, void (*work)(void *arg), void (*done)(void *arg), void *arg);

	/* ---- sessions, continued ---- */
	/* The login used on the server (after request_map_login): user and database. */
	const char *(*session_server_user)(const struct pgw_session *s);
	const char *(*session_server_database)(const struct pgw_session *s);

	/* ---- counters shown by SHOW PLUGIN_COUNTERS ---- */
	/* Register a counter (at init); returns its id, -1 on error. */
	int (*counter_register)(struct pgw_plugin *self, const char *name);
	void (*counter_add)(struct pgw_plugin *self, int id, int64_t delta);

	/*
	 * From a command_complete or error hook: hold that answer — the
	 * server's connection is not read further, so the client gets neither
	 * this CommandComplete/ErrorResponse nor anything after it — until
	 * result_release(s).  E.g. an audit that must have the record on disk
	 * before the client sees the result.  Release on the loop thread, and
	 * only before the session's session_end returns (after it the session
	 * is gone).  An error pgwarden makes itself for a blocked statement
	 * cannot be held.
	 */
	void (*result_hold)(struct pgw_session *s);
	void (*result_release)(struct pgw_session *s);

	/* ---- from the plugin's own threads ---- */
	/*
	 * Run fn(arg) on the loop thread soon.  With exiting(), the host
	 * functions that may be called from any thread (e.g. a plugin's writer
	 * thread saying "committed").  Returns 0, -1 when it could not be queued.
	 */
	int (*call_on_loop)(struct pgw_plugin *self, void (*fn)(void *arg), void *arg);

	/* ---- admin console: SHOW <name> ---- */
	/*
	 * Register SHOW <name> (case-insensitive; must not be one of
	 * pgwarden's own) with text columns.  fill() runs on the loop when an
	 * admin asks and adds rows with show_row().  At init.  0 or -1.
	 */
	int (*show_register)(struct pgw_plugin *self, const char *name, const char *const *columns, int ncolumns,
			     void (*fill)(struct pgw_plugin *self, struct pgw_show *out));
	/* One row: ncolumns values (NULL: SQL NULL). */
	void (*show_row)(struct pgw_show *out, const char *const *values);

	/* ---- ending a session from the gateway's side ---- */
	/*
	 * "unix", "tls" or "tcp" (plain text over the network): how the
	 * client is connected, e.g. to refuse a token sent in clear.
	 */
	const char *(*session_transport)(const struct pgw_session *s);
	/*
	 * Disconnect the client with a FATAL error (sqlstate, message; copied),
	 * e.g. when its credential expires.  after_transaction nonzero: only
	 * once it is outside a transaction block with nothing running (now,
	 * if it already is).  Call from a timer, a worker's done or a
	 * call_on_loop callback — not from inside a hook for that session.
	 * session_end follows as for any disconnect.
	 */
	void (*session_close)(struct pgw_session *s, const char *sqlstate, const char *message,
			      int after_transaction);

	/* ---- the plugin's own queries ---- */
	/*
	 * Run sql (simple protocol, text results) on a server connection of
	 * the pool (database, user) — user NULL: the database's user= — waiting
	 * for a free connection like any client of that pool (pool limits,
	 * query_wait_timeout).  done(arg, result) follows exactly once, on the
	 * loop thread, with the last result set or the first error (or an
	 * error when the wait failed or the server went away).  A query of a
	 * pool whose connections a waiting client holds waits with it.
	 * Returns 0, or -1 (unknown database or user; done is not called).
	 */
	int (*server_query)(struct pgw_plugin *self, const char *database, const char *user, const char *sql,
			    void (*done)(void *arg, const struct pgw_query_result *result), void *arg);

	/* ---- admin console: commands ---- */
	/*
	 * Register the console command VERB (one word of letters, digits and
	 * '_', case-insensitive; not one of pgwarden's own, e.g. APPROVE).
	 * When a user in admin_users sends "VERB anything ...", run() gets
	 * the text after the verb (trimmed, without a final ';'; may be "")
	 * on the loop thread and answers before returning, with command_done
	 * or command_error (no answer: CommandComplete "VERB").  Users in
	 * stats_users only get "admin access needed".  At init.  0 or -1.
	 */
	int (*command_register)(struct pgw_plugin *self, const char *verb,
				void (*run)(struct pgw_plugin *self, struct pgw_command *cmd, const char *args));
	/* Who sent it: the console login name. */
	const char *(*command_user)(const struct pgw_command *cmd);
	/* Success: CommandComplete with tag (NULL: "VERB"), after an optional
	 * NOTICE message (NULL: none). */
	void (*command_done)(struct pgw_command *cmd, const char *tag, const char *notice);
	/* Failure: ErrorResponse sqlstate, message. */
	void (*command_error)(struct pgw_command *cmd, const char *sqlstate, const char *message);

	/*
	 * A line about how a statement was decided (e.g. "approved by bob,
	 * request 3"), copied; the last one stands.  statement_decided hooks
	 * see it as outcome->note, result hooks as result->decision_note (the
	 * audit plugin records it).  Before the request is completed.
	 */
	void (*request_note)(struct pgw_request *req, const char *note);

	/*
	 * Nonzero once pgwarden has begun to exit: the worker threads finish
	 * what is queued before the plugins unload, and the exit waits for
	 * them.  The one host function a worker_submit job may call (from any
	 * thread): work that can block for long (a network fetch) polls it
	 * and gives up rather than hold the exit up.
	 */
	int (*exiting)(void);
};

/* The entry point every plugin exports (visible even with -fvisibility=hidden). */
typedef int (*pgw_plugin_init_fn)(const struct pgw_host *host, struct pgw_plugin *self,
				  const struct pgw_kv *config, int nconfig);
__attribute__((visibility("default")))
int pgwarden_plugin_init(const struct pgw_host *host, struct pgw_plugin *self,
			 const struct pgw_kv *config, int nconfig);
__attribute__((visibility("default"))) extern const int pgwarden_plugin_abi;

#ifdef __cplusplus
}
#endif

#endif
