/*
 * The core's side of the plugin ABI (include/pgwarden/plugin.h):
 *   plugin.c        loading, the host-services table, timers, identity
 *   plugin_hooks.c  running the hook chains for a client: auth, session,
 *                   statement, and what each decision does to the protocol
 *   plugin_result.c the server's answers on their way to the client:
 *                   row_description, data_row, command_complete, error
 *   plugin_worker.c the worker threads for plugins' blocking work
 *
 * With no plugin loaded every call site costs one predictable branch on
 * plugin_hook_mask.
 */
#ifndef PGWARDEN_PLUGIN_HOST_H
#define PGWARDEN_PLUGIN_HOST_H

#include "pgwarden/plugin.h"
#include "config.h"
#include "sbuf.h"

struct pgsocket;

enum plugin_hook_bit {
	PLUGIN_HOOK_AUTH = 1u << 0,
	PLUGIN_HOOK_SESSION = 1u << 1,	/* session_start or session_end */
	PLUGIN_HOOK_STATEMENT = 1u << 2,
	PLUGIN_HOOK_RESULT = 1u << 3,	/* row_description, data_row, command_complete, error */
	PLUGIN_HOOK_DECIDED = 1u << 4,	/* statement_decided: also asked about each Execute */
	PLUGIN_HOOK_ANY = ~0u,
};

/* Which hooks any loaded plugin registered. */
extern unsigned plugin_hook_mask;

static inline bool plugin_has(unsigned hook)
{
	return __builtin_expect((plugin_hook_mask & hook) != 0, 0);
}

/*
 * Load every plugin of cf->plugins in order.  On failure nothing stays
 * loaded and errbuf names the plugin and the reason.
 */
bool plugins_load(const struct config *conf, char *errbuf, size_t errlen);
/* Call unload and dlclose, in reverse order. */
void plugins_unload_all(void);
/* RELOAD: hand each loaded plugin its section's new keys. */
void plugins_reload(const struct config *conf);

/* ---- shared by plugin.c and plugin_hooks.c ---- */

struct pgw_plugin {
	int index;			/* position in plugins= */
	char *name;
	char *path;
	void *dl;
	struct pgw_hooks hooks;
	struct pgw_kv *config;		/* own copies: the config snapshot changes on reload */
	int nconfig;
	void *priv;
	char error[256];		/* set_error() */
	uint64_t calls;
	uint64_t errors;		/* invalid decisions, failed reloads */
	struct plugin_counter *counters;	/* host->counter_register() */
	int ncounters;
};

struct plugin_counter {
	char *name;
	int64_t value;
};

struct identity_kv {
	char *key;
	char *value;
};

struct identity {
	char *subject;
	char *issuer;
	int64_t expires_at;
	char **groups;
	int ngroups;
	struct identity_kv *kv;
	int nkv;
};

enum request_kind { REQ_AUTH, REQ_STATEMENT };

struct pgw_request {
	enum request_kind kind;
	struct pgw_session *session;	/* NULL once the client has gone */
	int plugin;			/* the plugin being asked */
	bool waiting;			/* a PGW_LATER is outstanding */
	bool in_hook;
	bool done;			/* final decision taken */
	bool completed_early;		/* request_complete() from inside the hook */
	enum pgw_decision early;
	enum pgw_decision final;
	enum pgw_statement_source source;
	char *stmt_name;		/* statement: Parse's name */
	char *sql;			/* statement: current text (after rewrites) */
	bool rewritten;
	char *rewrite;			/* statement: request_rewrite()'s text */
	char *password;			/* auth */
	char *map_user;
	char *map_db;
	char sqlstate[6];
	char *message;
	const char *decided_by;		/* plugin that answered ALLOW/BLOCK */
	char *original_sql;		/* statement: the client's text, once rewritten */
	char *note;			/* request_note() */
	/* statement_decided hooks, after the chain */
	bool observing;			/* request_error() now fills veto_* */
	int observer;			/* the plugin being shown the outcome */
	bool finished;			/* chain and observers done */
	char veto_sqlstate[6];
	char *veto_message;
};

enum stmt_state {
	STMT_NONE,			/* no decision for the message at parse_pos */
	STMT_ASKING,			/* the chain runs or waits for a LATER */
	STMT_DECIDED,
};

/* The result the server is sending to a client (plugin_result.c). */
struct result_state {
	struct pgw_result_columns desc;
	struct pgw_column *cols;
	uint8_t *desc_copy;		/* the RowDescription body the names point into */
	char **marks;			/* per column: result_mark_column() notes */
	int cols_cap;			/* cols and marks: grown, never shrunk */
	uint32_t desc_cap;
	bool *want_rows;		/* per plugin: answered row_description nonzero */
	bool any_want_rows;
	bool describing_statement;	/* ParameterDescription seen: formats come from Bind */
	uint64_t row_number;
	uint64_t rows_sent;		/* since the last CommandComplete/ErrorResponse */
	uint64_t bytes_sent;
	usec_t started;			/* 0: nothing in flight */
	/* the row being shown to data_row hooks */
	struct pgw_field *fields;
	uint8_t **replaced;		/* per field: row_set_field()'s copy, or NULL */
	int fields_cap;
	bool row_changed;
	/* result_hold(): the server's message waits in its buffer */
	int holds;
	bool held;			/* the message at the server's parse_pos was shown already */
	struct pgsocket *held_server;
};

struct pgw_session {
	struct pgsocket *client;
	char client_addr[64];
	void **data;			/* one slot per plugin */
	struct identity id;
	bool started;			/* session_start ran: session_end will */
	enum stmt_state stmt_state;
	struct pgw_request *req;	/* the request of the current message / login */
	struct pktbuf out;		/* decided message to send instead */
	bool replace_error;		/* block stand-in sent: swap the server's error */
	char block_sqlstate[6];
	char *block_message;
	const char *blocked_by;		/* the plugin whose BLOCK is answered */
	struct result_state res;
	struct exec_state *exec;	/* plugin_exec.c: what the server is answering */
	uint8_t *startup_params;	/* the startup packet's name/value pairs, for client_auth */
	size_t startup_params_len;
	/* session_close(after_transaction): the FATAL to send once idle */
	bool close_when_idle;
	char close_sqlstate[6];
	char *close_message;
};

int plugin_count(void);
struct pgw_plugin *plugin_at(int i);
/* Host functions that plugin_hooks.c implements. */
void plugin_request_complete(struct pgw_request *req, enum pgw_decision decision);
void plugin_session_close(struct pgw_session *s, const char *sqlstate, const char *message, int after_transaction);
void identity_clear(struct identity *id);

/* ---- plugin_hooks.c: per-client ---- */

/*
 * Statement gate for every message of an active client (only 'Q' and 'P'
 * are shown to plugins; the rest may be skipped after a blocked Parse).
 * True: go on and send it to a server (through plugin_statement_forward
 * when client->stmt_decided).  False: *res is what the handler returns
 * (paused, blocked and answered, skipped, ...).
 */
bool plugin_statement_gate(struct pgsocket *client, struct sbuf_pkt *pkt, enum sbuf_result *res);
/* Send the decided message (as is, rewritten or the block stand-in). */
void plugin_statement_forward(struct pgsocket *client, struct pgsocket *server, struct sbuf_pkt *pkt);
/* The same in two steps, for a sender that translates the message first
 * (prepared.c): the plugin's replacement for the decided message (NULL:
 * the client's own), then, once sent, the end of the decision. */
const struct pktbuf *plugin_statement_replacement(struct pgsocket *client);
void plugin_statement_sent(struct pgsocket *client);
/* CancelRequest for a client whose statement a plugin holds (LATER): the
 * statement fails with 57014 now; the plugin's late answer is dropped.
 * False: nothing was held. */
bool plugin_cancel_held(struct pgsocket *client);
/* The server's error for a block stand-in: replace it with the plugin's. */
void plugin_send_block_error(struct pgsocket *client);

/* A session_close(after_transaction) is due: the client is idle now
 * (ReadyForQuery 'I' with nothing outstanding). */
void plugin_close_if_due(struct pgsocket *client);

/* ---- plugin_query.c: host->server_query ---- */
int plugin_server_query(struct pgw_plugin *self, const char *database, const char *user, const char *sql,
			void (*done)(void *arg, const struct pgw_query_result *res), void *arg);
/* The stand-in client got its server: send the query. */
void plugin_query_send(struct pgsocket *client);
enum sbuf_result plugin_query_server_msg(struct pgsocket *server, struct pgsocket *client, uint8_t type,
					 const uint8_t *body, size_t len);
void plugin_query_finished(struct pgsocket *client);
/* The stand-in client is disconnected (timeout, server gone): the plugin
 * hears why, if it has not had its answer. */
void plugin_query_abandon(struct pgsocket *client, const char *reason);
void plugin_query_free(struct pgsocket *client);

/* The session of a client, made on first use. */
struct pgw_session *plugin_session_of(struct pgsocket *client);

/* The client's startup parameters (name\0value\0...), for client_auth. */
void plugin_keep_startup_params(struct pgsocket *client, const uint8_t *params, size_t len);

/* ---- plugin_result.c ---- */

/* A message of the server for its linked client that has a session
 * (PLUGIN_HOOK_RESULT loaded): run the hooks, then send it on. */
enum sbuf_result plugin_result_forward(struct pgsocket *server, struct pgsocket *client, struct sbuf_pkt *pkt);
/* A Query or Execute went to the server: the clock of its result starts. */
void plugin_result_started(struct pgsocket *client, usec_t now);
/* A ReadyForQuery for the client; idle: nothing in flight any more. */
void plugin_result_ready(struct pgsocket *client, bool idle);
/* pgwarden answered a blocked statement: itself, or by swapping the error
 * of a stand-in (via_server).  The error hooks see it. */
void plugin_result_blocked(struct pgw_session *s, const char *sqlstate, const char *message, bool via_server);
/* The session ends (reason) with a statement still running on the server:
 * the error hooks see it fail, so that no executed statement goes unseen. */
void plugin_result_abandoned(struct pgw_session *s, const char *reason);
void plugin_result_free(struct pgw_session *s);
/* The row behind a struct pgw_row handed to data_row. */
void plugin_row_set_field(struct pgw_row *row, int i, const void *data, int32_t len);
void plugin_result_mark_column(struct pgw_session *s, struct pgw_plugin *p, int i, const char *note);
void plugin_result_hold(struct pgw_session *s);
void plugin_result_release(struct pgw_session *s);
const char *plugin_result_column_marks(const struct pgw_session *s, int i);

/* ---- SHOW commands of plugins (host->show_register) ---- */
struct plugin_show {
	struct pgw_plugin *plugin;
	char *name;
	char **columns;
	int ncolumns;
	void (*fill)(struct pgw_plugin *self, struct pgw_show *out);
};
const struct plugin_show *plugin_find_show(const char *name);

/* ---- console commands of plugins (host->command_register) ---- */
struct plugin_command {
	struct pgw_plugin *plugin;
	char *verb;
	void (*run)(struct pgw_plugin *self, struct pgw_command *cmd, const char *args);
};
const struct plugin_command *plugin_find_command(const char *verb);
/* admin.c: run one; answers into the console's reply */
const char *plugin_command_user(const struct pgw_command *cmd);
void plugin_command_done(struct pgw_command *cmd, const char *tag, const char *notice);
void plugin_command_error(struct pgw_command *cmd, const char *sqlstate, const char *message);
void plugin_show_row(struct pgw_show *out, const char *const *values);	/* admin_info.c */

/* ---- plugin_exec.c: which statement a result answers ---- */
/* A Query, Parse, Bind, Execute, Sync or Close on its way to the server. */
void plugin_exec_client_msg(struct pgsocket *client, const struct sbuf_pkt *pkt);
/* The statement (name, text) bound to the portal, when known. */
void plugin_exec_portal_statement(struct pgw_session *s, const char *portal_name, const char **stmt_name,
				  const char **sql);
void plugin_exec_describe(struct pgw_session *s, struct pgw_result *r);
void plugin_exec_answered(struct pgw_session *s, uint8_t msg_type);
/* A Query or Execute went to the server and its answer has not come. */
bool plugin_exec_in_flight(const struct pgw_session *s);
void plugin_exec_ready(struct pgw_session *s);
void plugin_exec_free(struct pgw_session *s);

/* ---- plugin_worker.c ---- */
bool plugin_workers_init(void);
int plugin_call_on_loop(struct pgw_plugin *p, void (*fn)(void *), void *arg);
int plugin_worker_submit(struct pgw_plugin *p, void (*work)(void *), void (*done)(void *), void *arg);
/* The core's login checks, on threads of their own (auth_check.c). */
int login_worker_submit(void (*work)(void *), void (*done)(void *), void *arg);
/* Stop the threads after finishing queued work (at exit). */
void plugin_workers_shutdown(void);
int plugin_workers_exiting(void);

/* Run client_auth with the cleartext password; the answer goes to auth.c. */
enum sbuf_result plugin_client_auth(struct pgsocket *client, const char *password);

void plugin_session_start(struct pgsocket *client);
/* Client closing: session_end hooks, then the session is freed. */
void plugin_session_end(struct pgsocket *client, const char *reason);

/* ---- auth.c: where a client_auth decision lands ---- */
struct plugin_auth_result {
	enum pgw_decision decision;	/* ACCEPT, REJECT or CONTINUE */
	const char *server_user;	/* NULL: the client's user */
	const char *database;		/* NULL: the client's database */
	const char *sqlstate;
	const char *message;
	const char *password;		/* for CONTINUE: the core checks it */
};
void auth_plugin_decided(struct pgsocket *client, const struct plugin_auth_result *r);

#endif
