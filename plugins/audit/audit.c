/*
 * audit: every session and statement into a tamper-evident SQLite file.
 *
 *   [pgbouncer]
 *   plugins = ..., audit          ; last: it sees what the others did
 *
 *   [plugin.audit]
 *   path = /usr/lib/pgwarden/audit.so
 *   file = /var/lib/pgwarden/audit.db
 *   key_file = /etc/pgwarden/audit.key    ; made (64 random hex digits, 0600) if missing
 *   on_failure = block            ; or continue: run statements unaudited
 *   params = redacted             ; none | redacted (format and length) | full
 *   result_sample_rows = 0        ; keep the first N rows as sent
 *   flush_ms = 20                 ; a record waits at most this long for its
 *                                 ; batch's commit to start; retry interval
 *   queue_max = 100000            ; events queued before new statements wait
 *   synchronous = off             ; on: a result reaches the client only
 *                                 ; once its record is committed
 *   writer_priority = idle        ; or normal: the writer thread's scheduling
 *
 * The loop thread only copies each statement's values (audit_record.c)
 * and queues them, with the sessions' short JSON records (audit_store.c);
 * a writer thread writes the statements' JSON, analyses the SQL with
 * libpg_query, chains the hashes and commits in batches.  A statement's record is
 * queued before its CommandComplete or ErrorResponse is sent on to the
 * client, so at a clean shutdown every statement a client saw answered is
 * in the file.  Schema and guarantees: doc/audit.md.
 */
/*
 * The result digest uses OpenSSL's SHA256_Init/Update/Final, deprecated
 * since 3.0 in favour of EVP: on 3.0 each EVP_DigestInit frees and
 * allocates the provider's context, a malloc, a free and a cleanse per
 * result on the event loop, against a context that lives in the session.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <pgwarden/plugin.h>

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "audit_record.h"
#include "audit_store.h"
#include "json_text.h"

PGW_PLUGIN_DECLARE();

static const struct pgw_host *host;

enum params_policy { PARAMS_NONE, PARAMS_REDACTED, PARAMS_FULL };

struct held {
	struct held *next;
	struct pgw_request *req;
};

/* synchronous = on: a result held until its record is committed. */
struct pending_result {
	struct pending_result *next;
	struct pgw_session *session;
	uint64_t ticket;		/* committed >= ticket: on disk */
};

struct audit {
	struct audit_store *store;
	char run[33];			/* random id of this pgwarden run */
	bool block_on_failure;
	enum params_policy params;
	int sample_rows;
	uint64_t queue_max;
	int flush_ms;
	struct held *held, **held_tail;	/* statements waiting for the queue to drain */
	atomic_bool wake_pending;	/* a call_on_loop is on its way (writer sets, loop clears) */
	bool synchronous;
	bool writer_idle;		/* the writer runs at SCHED_IDLE (fixed at startup) */
	struct pending_result *pending, **pending_tail;	/* in ticket order */
	struct json_text record;	/* the record being written (loop thread) */
	struct capture_buf capture;	/* the statement being captured (loop thread) */
};

/* Per session: the result being sent. */
struct audit_session {
	SHA256_CTX digest;
	bool digesting;
	struct json_text columns;	/* ["name", ...] from the last RowDescription; empty: none */
	struct json_text masked;	/* {"column": "plugin:note"}; empty: none masked */
	struct json_text sample;	/* [[row], ... (open); empty: not sampling */
	int sample_rows;
};

static int64_t wall_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* Every record ends with the run id; the store copies the text. */
static void put_event(struct audit *a, const char *kind)
{
	struct json_text *r = &a->record;

	jt_key(r, "run");
	jt_str(r, a->run);
	jt_close(r, '}');
	audit_store_put(a->store, kind, wall_us(), r->buf, r->len);
}

/* A new record in a->record, to be finished by put_event(). */
static struct json_text *new_record(struct audit *a)
{
	jt_reset(&a->record);
	jt_open(&a->record, '{');
	return &a->record;
}

/* ---------------- synchronous = on ---------------- */

/* The client gets this result once the record (and all before it) is on disk. */
static void hold_until_committed(struct audit *a, struct pgw_session *s)
{
	struct pending_result *p = calloc(1, sizeof(*p));

	p->session = s;
	p->ticket = audit_store_ticket(a->store);
	*a->pending_tail = p;
	a->pending_tail = &p->next;
	host->result_hold(s);
	audit_store_flush_soon(a->store);
}

static void release_committed(struct audit *a)
{
	uint64_t committed = audit_store_committed(a->store);

	while (a->pending && a->pending->ticket <= committed) {
		struct pending_result *p = a->pending;
		a->pending = p->next;
		if (!a->pending)
			a->pending_tail = &a->pending;
		host->result_release(p->session);
		free(p);
	}
}

/* The session is going: its held results go with it. */
static void forget_pending(struct audit *a, struct pgw_session *s)
{
	struct pending_result **at = &a->pending;

	a->pending_tail = &a->pending;
	while (*at) {
		struct pending_result *p = *at;
		if (p->session == s) {
			*at = p->next;
			free(p);
			continue;
		}
		a->pending_tail = &p->next;
		at = &p->next;
	}
}

/* ---------------- sessions ---------------- */

static void put_identity(struct json_text *r, struct pgw_session *s)
{
	const char *subject = host->identity_subject(s);
	int64_t expires_at = host->identity_expires_at(s);

	if (!subject) {
		jt_null(r);
		return;
	}
	jt_open(r, '{');
	jt_key(r, "subject");
	jt_str(r, subject);
	jt_key(r, "issuer");
	jt_str(r, host->identity_issuer(s));
	jt_key(r, "groups");
	jt_open(r, '[');
	for (int i = 0; i < host->identity_group_count(s); i++)
		jt_str(r, host->identity_group(s, i));
	jt_close(r, ']');
	jt_key(r, "jti");
	jt_str(r, host->identity_get(s, "jti"));
	jt_key(r, "expires_at");
	if (expires_at)
		jt_int(r, expires_at);
	else
		jt_null(r);
	jt_close(r, '}');
}

/* "10.0.0.1:5555" / "[::1]:5555" / "unix(PID)" -> address and port */
static void put_client_addr(struct json_text *r, const char *addr)
{
	const char *colon = strrchr(addr, ':');
	size_t len;

	jt_key(r, "client_addr");
	if (!colon || strncmp(addr, "unix", 4) == 0) {
		jt_str(r, addr);
		jt_key(r, "client_port");
		jt_null(r);
		return;
	}
	len = (size_t)(colon - addr);
	if (addr[0] == '[' && len >= 2 && addr[len - 1] == ']')
		jt_bytes(r, (const uint8_t *)addr + 1, (int64_t)len - 2, false);
	else
		jt_bytes(r, (const uint8_t *)addr, (int64_t)len, false);
	jt_key(r, "client_port");
	jt_int(r, strtol(colon + 1, NULL, 10));
}

static void put_string_field(struct json_text *r, const char *key, const char *value)
{
	jt_key(r, key);
	jt_str(r, value);
}

static void put_int_field(struct json_text *r, const char *key, int64_t value)
{
	jt_key(r, key);
	jt_int(r, value);
}

static void on_session_start(struct pgw_plugin *self, struct pgw_session *s)
{
	struct audit *a = host->get_private(self);
	struct audit_session *as = calloc(1, sizeof(*as));
	struct json_text *r = new_record(a);

	host->session_set_data(s, self, as);
	put_int_field(r, "session", (int64_t)host->session_id(s));
	put_client_addr(r, host->session_client_addr(s));
	put_string_field(r, "application_name", host->session_application_name(s));
	put_string_field(r, "database", host->session_database(s));
	put_string_field(r, "user", host->session_user(s));
	put_string_field(r, "server_user", host->session_server_user(s));
	put_string_field(r, "server_database", host->session_server_database(s));
	jt_key(r, "identity");
	put_identity(r, s);
	put_event(a, "session_start");
}

static void forget_result(struct audit_session *as)
{
	jt_reset(&as->columns);
	jt_reset(&as->masked);
	jt_reset(&as->sample);
	as->sample_rows = 0;
	as->digesting = false;
}

static void on_session_end(struct pgw_plugin *self, struct pgw_session *s, const char *reason)
{
	struct audit *a = host->get_private(self);
	struct audit_session *as = host->session_get_data(s, self);
	struct json_text *r = new_record(a);

	put_int_field(r, "session", (int64_t)host->session_id(s));
	put_string_field(r, "reason", reason);
	put_event(a, "session_end");
	forget_pending(a, s);
	if (as) {
		jt_free(&as->columns);
		jt_free(&as->masked);
		jt_free(&as->sample);
		free(as);
	}
	host->session_set_data(s, self, NULL);
}

/* ---------------- results ---------------- */

static int on_row_description(struct pgw_plugin *self, struct pgw_session *s, const struct pgw_result_columns *rc)
{
	struct audit *a = host->get_private(self);
	struct audit_session *as = host->session_get_data(s, self);

	if (!as)
		return 0;
	forget_result(as);
	jt_open(&as->columns, '[');
	for (int i = 0; i < rc->ncolumns; i++) {
		const char *marks = host->result_column_marks(s, i);
		jt_str(&as->columns, rc->columns[i].name);
		if (marks) {
			if (!as->masked.len)
				jt_open(&as->masked, '{');
			jt_key(&as->masked, rc->columns[i].name);
			jt_str(&as->masked, marks);
		}
	}
	jt_close(&as->columns, ']');
	if (as->masked.len)
		jt_close(&as->masked, '}');
	if (a->sample_rows > 0)
		jt_open(&as->sample, '[');
	as->digesting = SHA256_Init(&as->digest) == 1;
	return 1;	/* every row: the digest covers the whole result */
}

/* The digest covers each field as the client gets it: length, then bytes. */
static void on_data_row(struct pgw_plugin *self, struct pgw_session *s, struct pgw_row *row)
{
	struct audit *a = host->get_private(self);
	struct audit_session *as = host->session_get_data(s, self);
	bool sampled;

	if (!as || !as->digesting)
		return;
	sampled = as->sample.len && as->sample_rows < a->sample_rows;
	if (sampled) {
		jt_open(&as->sample, '[');
		as->sample_rows++;
	}
	for (int i = 0; i < row->nfields; i++) {
		const struct pgw_field *f = &row->fields[i];
		uint8_t len_be[4] = { (uint8_t)((uint32_t)f->len >> 24), (uint8_t)((uint32_t)f->len >> 16),
				      (uint8_t)((uint32_t)f->len >> 8), (uint8_t)f->len };
		SHA256_Update(&as->digest, len_be, 4);
		if (f->len > 0)
			SHA256_Update(&as->digest, f->data, (size_t)f->len);
		if (sampled)
			jt_bytes(&as->sample, f->data, f->len, row->columns->columns[i].format != 0);
	}
	if (sampled)
		jt_close(&as->sample, ']');
}

/* The result's SHA-256 into out; false when none was being computed. */
static bool finish_digest(struct audit_session *as, uint8_t out[SHA256_DIGEST_LENGTH])
{
	if (!as->digesting)
		return false;
	as->digesting = false;
	return SHA256_Final(out, &as->digest) == 1;
}

/* The params member as JSON text in a->record, or NULL for null. */
static const char *params_json(struct audit *a, const struct pgw_result *res)
{
	struct json_text *r = &a->record;

	if (a->params == PARAMS_NONE || !res->statement_name)
		return NULL;
	jt_reset(r);
	jt_open(r, '[');
	for (int i = 0; i < res->nparams; i++) {
		const struct pgw_field *p = &res->params[i];
		bool binary = res->param_formats[i] != 0;
		if (a->params == PARAMS_FULL) {
			jt_bytes(r, p->data, p->len, binary);
			continue;
		}
		jt_open(r, '{');
		put_string_field(r, "format", binary ? "binary" : "text");
		jt_key(r, "length");
		if (p->len < 0)
			jt_null(r);
		else
			jt_int(r, p->len);
		jt_close(r, '}');
	}
	jt_close(r, ']');
	return r->buf;
}

static bool tag_is_write(const char *tag)
{
	static const char *const writes[] = { "INSERT ", "UPDATE ", "DELETE ", "MERGE ", "COPY " };

	for (size_t i = 0; tag && i < sizeof(writes) / sizeof(writes[0]); i++) {
		if (strncmp(tag, writes[i], strlen(writes[i])) == 0)
			return true;
	}
	return false;
}

/* Captured here, written out as JSON on the writer thread (audit_record.h). */
static void record_statement(struct pgw_plugin *self, struct pgw_session *s, const struct pgw_result *res)
{
	struct audit *a = host->get_private(self);
	struct audit_session *as = host->session_get_data(s, self);
	int64_t now = wall_us();
	struct statement_values v = { 0 };
	size_t size;

	v.ints[CAP_SESSION] = (int64_t)host->session_id(s);
	v.ints[CAP_START_US] = now - (int64_t)res->duration_us;
	v.ints[CAP_DURATION_US] = (int64_t)res->duration_us;
	v.ints[CAP_STATEMENT_INDEX] = res->statement_index;
	v.ints[CAP_ROWS_RETURNED] = (int64_t)res->rows_sent;
	v.ints[CAP_ROWS_AFFECTED] = tag_is_write(res->command_tag) ? (int64_t)res->rows : 0;
	v.ints[CAP_BYTES_RETURNED] = (int64_t)res->bytes_sent;
	v.texts[CAP_SQL] = res->sql;
	v.texts[CAP_ORIGINAL_SQL] = res->original_sql;
	v.texts[CAP_STATEMENT_NAME] = res->statement_name;
	v.texts[CAP_PARAMS_JSON] = params_json(a, res);
	v.texts[CAP_COMMAND_TAG] = res->command_tag;
	if (as) {
		v.texts[CAP_COLUMNS_JSON] = as->columns.buf;
		v.texts[CAP_MASKED_JSON] = as->masked.buf;
		if (as->sample.len)
			jt_close(&as->sample, ']');
		v.texts[CAP_SAMPLE_JSON] = as->sample.buf;
		v.has_digest = as->columns.len && finish_digest(as, v.digest);
	}
	v.texts[CAP_SQLSTATE] = res->sqlstate;
	v.texts[CAP_ERROR] = res->message;
	v.texts[CAP_DECISION] = res->blocked_by ? "blocked" : res->original_sql ? "rewritten" : "allowed";
	v.texts[CAP_DECIDED_BY] = res->blocked_by && res->blocked_by[0] ? res->blocked_by : NULL;
	v.texts[CAP_DECISION_NOTE] = res->decision_note;
	v.texts[CAP_RUN] = a->run;
	size = audit_capture(&a->capture, &v);
	audit_store_put_statement(a->store, now, a->capture.data, size);
	if (as)
		forget_result(as);
	if (a->synchronous)
		hold_until_committed(a, s);
}

static void on_command_complete(struct pgw_plugin *self, struct pgw_session *s, const struct pgw_result *r)
{
	record_statement(self, s, r);
}

static void on_error(struct pgw_plugin *self, struct pgw_session *s, const struct pgw_result *r)
{
	record_statement(self, s, r);
}

/* ---------------- refusing and holding statements ---------------- */

static enum pgw_decision refuse(struct pgw_request *req, const char *why)
{
	char msg[400];

	snprintf(msg, sizeof(msg), "audit log unavailable, statement refused: %s", why);
	host->request_error(req, "58030", msg);
	return PGW_BLOCK;
}

/* On the loop: let held statements go while the queue has room. */
static void release_held(void *arg)
{
	struct audit *a = arg;
	char why[256];

	atomic_store(&a->wake_pending, false);
	release_committed(a);
	while (a->held) {
		bool failed = a->block_on_failure && audit_store_failed(a->store, why, sizeof(why));
		if (!failed && audit_store_backlog(a->store) > a->queue_max)
			return;
		struct held *h = a->held;
		a->held = h->next;
		if (!a->held)
			a->held_tail = &a->held;
		if (failed) {
			refuse(h->req, why);
			host->request_complete(h->req, PGW_BLOCK);
		} else {
			host->request_complete(h->req, PGW_CONTINUE);
		}
		free(h);
	}
}

static struct pgw_plugin *the_plugin;	/* for the writer's callback */

/* On the writer thread, after each commit or failed write: one wake-up of
 * the loop at a time, which then releases what it can. */
static void after_commit(void *arg)
{
	struct audit *a = arg;

	if (!atomic_exchange(&a->wake_pending, true) && host->call_on_loop(the_plugin, release_held, a) != 0)
		atomic_store(&a->wake_pending, false);
}

static enum pgw_decision on_statement_decided(struct pgw_plugin *self, struct pgw_session *s,
					      struct pgw_request *req, const struct pgw_statement_outcome *o)
{
	struct audit *a = host->get_private(self);
	char why[256];

	(void)s;
	if (o->decision == PGW_BLOCK)
		return PGW_CONTINUE;	/* not run: nothing to protect */
	if (a->block_on_failure && audit_store_failed(a->store, why, sizeof(why)))
		return refuse(req, why);
	if (audit_store_backlog(a->store) <= a->queue_max && !a->held)
		return PGW_CONTINUE;
	/* Backpressure: the client waits, no record is dropped. */
	struct held *h = calloc(1, sizeof(*h));
	h->req = req;
	*a->held_tail = h;
	a->held_tail = &h->next;
	return PGW_LATER;
}

/* ---------------- SHOW AUDIT ---------------- */

static void show_audit(struct pgw_plugin *self, struct pgw_show *out)
{
	struct audit *a = host->get_private(self);
	struct audit_store_stats st;
	char queued[24], written[24], batches[24], pending[24], size[24];
	const char *file = host->config_get(self, "file");

	audit_store_stats(a->store, &st);
	snprintf(queued, sizeof(queued), "%" PRIu64, st.queued);
	snprintf(written, sizeof(written), "%" PRIu64, st.written);
	snprintf(batches, sizeof(batches), "%" PRIu64, st.batches);
	snprintf(pending, sizeof(pending), "%" PRIu64, st.pending);
	snprintf(size, sizeof(size), "%" PRId64, st.file_size);
	const char *row[] = { file, queued, written, batches, pending, size, st.failed ? "yes" : "no",
			      st.last_error[0] ? st.last_error : NULL };
	host->show_row(out, row);
}

/* ---------------- configuration ---------------- */

static const char *cfg(const struct pgw_kv *config, int n, const char *key, const char *dflt)
{
	for (int i = 0; i < n; i++) {
		if (strcmp(config[i].key, key) == 0)
			return config[i].value;
	}
	return dflt;
}

static bool parse_int(struct pgw_plugin *self, const char *key, const char *text, long min, long max, long *out)
{
	char *end;
	long v = strtol(text, &end, 10);

	if (!text[0] || *end || v < min || v > max) {
		host->set_error(self, "%s = %s: expected a number from %ld to %ld", key, text, min, max);
		return false;
	}
	*out = v;
	return true;
}

/* value as the index of one of names (NULL-terminated), case-insensitive;
 * else the error "key = value: expected a, b or c". */
static bool parse_choice(struct pgw_plugin *self, const char *key, const char *value,
			 const char *const *names, int *out)
{
	char expected[128] = "";
	size_t used = 0;

	for (int i = 0; names[i]; i++) {
		if (strcasecmp(value, names[i]) == 0) {
			*out = i;
			return true;
		}
		used += (size_t)snprintf(expected + used, sizeof(expected) - used, "%s%s",
					 i == 0 ? "" : names[i + 1] ? ", " : " or ", names[i]);
	}
	host->set_error(self, "%s = %s: expected %s", key, value, expected);
	return false;
}

static bool parse_config(struct pgw_plugin *self, struct audit *a, const struct pgw_kv *config, int n)
{
	static const char *const failure_names[] = { "block", "continue", NULL };
	static const char *const params_names[] = { "none", "redacted", "full", NULL };	/* enum params_policy */
	static const char *const sync_names[] = { "on", "off", NULL };
	int failure, params_policy, sync_choice;
	const char *on_failure = cfg(config, n, "on_failure", "block");
	const char *params = cfg(config, n, "params", "redacted");
	const char *sync = cfg(config, n, "synchronous", "off");
	long sample, queue_max, flush_ms;

	if (!parse_choice(self, "on_failure", on_failure, failure_names, &failure) ||
	    !parse_choice(self, "params", params, params_names, &params_policy) ||
	    !parse_choice(self, "synchronous", sync, sync_names, &sync_choice))
		return false;
	a->block_on_failure = failure == 0;
	a->params = (enum params_policy)params_policy;
	a->synchronous = sync_choice == 0;
	if (!parse_int(self, "result_sample_rows", cfg(config, n, "result_sample_rows", "0"), 0, 1000, &sample) ||
	    !parse_int(self, "queue_max", cfg(config, n, "queue_max", "100000"), 100, 100000000, &queue_max) ||
	    !parse_int(self, "flush_ms", cfg(config, n, "flush_ms", "20"), 1, 10000, &flush_ms))
		return false;
	a->sample_rows = (int)sample;
	a->queue_max = (uint64_t)queue_max;
	a->flush_ms = (int)flush_ms;
	return true;
}

/*
 * The writer is background work with a deadline (flush_ms) on the cores
 * that the event loop and PostgreSQL, which clients wait on, need now.  At
 * idle priority it gives way to them the moment they wake: on 2 CPUs,
 * pgbench tpcb-like through pgwarden+audit went from 0.86-0.87x to
 * 0.84-0.95x (mean 0.91) of PgBouncer's TPS (doc/performance.md).  It
 * still gets a small share of a saturated CPU, and at queue_max clients
 * wait for it (backpressure): nothing is lost, only the window of records
 * not yet on disk grows.  Start-only: an unprivileged thread cannot leave
 * SCHED_IDLE.
 */
static void lower_writer_priority(struct pgw_plugin *self, struct audit *a)
{
	int err = audit_store_idle_priority(a->store);

	a->writer_idle = err == 0;
	if (err)
		host->log(self, PGW_LOG_WARNING, "writer_priority = idle: %s; the writer runs at normal priority",
			  strerror(err));
}

/*
 * With synchronous = on every result waits for the writer's commit, so a
 * writer that only gets idle CPU would hold every client up on a busy
 * host: there the default is normal.
 */
static const char *default_writer_priority(const struct audit *a)
{
	return a->synchronous ? "normal" : "idle";
}

static bool open_store(struct pgw_plugin *self, struct audit *a, const struct pgw_kv *config, int n)
{
	static const char *const priority_names[] = { "normal", "idle", NULL };
	struct audit_store_config sc = { 0 };
	const char *file = cfg(config, n, "file", NULL);
	const char *key_file = cfg(config, n, "key_file", NULL);
	char err[512] = "";
	int idle;

	if (!file || !key_file) {
		host->set_error(self, "file and key_file must be set");
		return false;
	}
	if (!parse_choice(self, "writer_priority", cfg(config, n, "writer_priority", default_writer_priority(a)), priority_names, &idle))
		return false;
	if (!audit_key_load(key_file, true, &sc.key, err, sizeof(err))) {
		host->set_error(self, "%s", err);
		return false;
	}
	sc.path = file;
	sc.flush_ms = a->flush_ms;
	a->store = audit_store_open(&sc, err, sizeof(err));
	OPENSSL_cleanse(&sc.key, sizeof(sc.key));
	if (!a->store) {
		host->set_error(self, "%s", err);
		return false;
	}
	if (idle)
		lower_writer_priority(self, a);
	return true;
}

static void put_checkpoint(struct audit *a, const char *what)
{
	struct json_text *r = new_record(a);

	put_string_field(r, "checkpoint", what);
	put_int_field(r, "pid", getpid());
	put_event(a, what);
}

/* file, key_file and writer_priority need a restart; the rest changes here. */
static int on_reload(struct pgw_plugin *self, const struct pgw_kv *config, int n)
{
	struct audit *a = host->get_private(self);
	struct audit next = *a;

	if (!parse_config(self, &next, config, n))
		return -1;
	a->block_on_failure = next.block_on_failure;
	a->params = next.params;
	a->sample_rows = next.sample_rows;
	a->queue_max = next.queue_max;
	if (next.synchronous && !a->synchronous && a->writer_idle)
		host->log(self, PGW_LOG_WARNING, "synchronous = on with the writer at idle priority (writer_priority "
			  "is read at startup): every result now waits for a writer that gets only idle CPU; "
			  "restart to run it at normal priority");
	a->synchronous = next.synchronous;
	if (next.flush_ms != a->flush_ms) {
		a->flush_ms = next.flush_ms;
		audit_store_set_flush_ms(a->store, a->flush_ms);
	}
	return 0;
}

static void on_unload(struct pgw_plugin *self)
{
	struct audit *a = host->get_private(self);

	put_checkpoint(a, "stop");
	audit_store_close(a->store);	/* flushes the queue first */
	jt_free(&a->record);
	audit_capture_buf_free(&a->capture);
	while (a->held) {
		struct held *h = a->held;
		a->held = h->next;
		free(h);
	}
	while (a->pending) {
		struct pending_result *p = a->pending;
		a->pending = p->next;
		free(p);
	}
	free(a);
}

int pgwarden_plugin_init(const struct pgw_host *h, struct pgw_plugin *self, const struct pgw_kv *config, int n)
{
	static const char *const show_columns[] = { "file", "queued", "written", "batches", "pending",
						     "file_size", "failed", "last_error" };
	struct pgw_hooks hooks = {
		.size = sizeof(struct pgw_hooks),
		.session_start = on_session_start,
		.session_end = on_session_end,
		.row_description = on_row_description,
		.data_row = on_data_row,
		.command_complete = on_command_complete,
		.error = on_error,
		.statement_decided = on_statement_decided,
		.reload = on_reload,
		.unload = on_unload,
	};
	uint8_t run[16];
	struct audit *a;

	host = h;
	if (h->abi_version != PGW_ABI_VERSION || h->size < sizeof(struct pgw_host)) {
		h->set_error(self, "needs a pgwarden with the full plugin ABI %d", PGW_ABI_VERSION);
		return -1;
	}
	if (the_plugin) {
		h->set_error(self, "only one audit plugin instance per pgwarden");
		return -1;
	}
	a = calloc(1, sizeof(*a));
	a->held_tail = &a->held;
	a->pending_tail = &a->pending;
	if (!parse_config(self, a, config, n) || !open_store(self, a, config, n)) {
		free(a);
		return -1;
	}
	RAND_bytes(run, sizeof(run));
	audit_hex(run, sizeof(run), a->run);
	the_plugin = self;
	host->set_private(self, a);
	audit_store_on_commit(a->store, after_commit, a);
	put_checkpoint(a, "start");
	if (host->show_register(self, "audit", show_columns, 8, show_audit) != 0 ||
	    host->register_hooks(self, &hooks) != 0) {
		audit_store_close(a->store);
		jt_free(&a->record);
		free(a);
		the_plugin = NULL;
		return -1;
	}
	host->log(self, PGW_LOG_INFO, "recording to %s (run %s)", cfg(config, n, "file", ""), a->run);
	return 0;
}
