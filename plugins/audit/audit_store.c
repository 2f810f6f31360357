/*
 * The audit store's writer thread; see audit_store.h.
 *
 * Group commit: an event waits at most flush_ms for others to join its
 * transaction, then the writer takes everything queued and commits it at
 * once.  One commit per window rather than one per handful of events is
 * what keeps the writer cheap under load (fewer fcntl locks, WAL frame
 * headers and rewrites of the last page), and the loop thread wakes the
 * writer once per window, not once per statement.  Someone waiting for
 * the disk (synchronous = on, shutdown) cuts the window short.  A failed commit
 * (disk full, file made read-only) rolls back the chain's end, keeps the
 * events queued and retries every flush interval: nothing is dropped, and
 * the plugin refuses new statements while `failed` is set (on_failure =
 * block).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* SCHED_IDLE, pthread_setname_np */
#endif
#include "audit_store.h"
#include "text_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#include "audit_record.h"
#include "json_text.h"
#include "sql_shape.h"

struct event {
	struct event *next;
	const char *kind;		/* a string constant */
	int64_t at_us;
	size_t len;
	bool captured;			/* a statement's capture (audit_record.h), else JSON text */
	_Alignas(max_align_t) char data[];
};

struct audit_store {
	struct audit_store_config cfg;
	char *path;
	sqlite3 *db;
	sqlite3_stmt *insert;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct event *head, *tail;	/* queued, oldest first */
	int queue_len;			/* events in that list */
	struct timespec oldest_at;	/* CLOCK_MONOTONIC: when head was queued, at the latest */
	bool flush_now;			/* someone waits for what is queued */
	bool stopping;
	/* chain end: only the writer touches these */
	int64_t last_seq;
	char last_hash[AUDIT_HASH_HEX_LEN + 1];
	/* under lock */
	uint64_t queued, written, batches;
	bool failed;
	atomic_bool failing;		/* = failed, readable without the lock */
	char last_error[256];
	void (*on_commit)(void *arg);
	void *on_commit_arg;
	/* writer thread only: what a statement's SQL gives (kind, fingerprint,
	 * normalized text), as JSON members, by its exact text, its normalized
	 * text and its shape key (sql_shape.h); see put_analysis */
	struct text_cache *by_text, *by_normalized, *by_shape;
	struct audit_hasher *hasher;	/* writer thread (and open, before it starts) */
	struct json_text row;		/* writer thread: the record as stored */
};

/* ---------------- SQL analysis (writer thread) ---------------- */

#include <pg_query.h>

/* The first key of {"SelectStmt": {...}}: the statement's node type. */
static const char *node_type(json_t *stmt)
{
	const char *key = NULL;
	json_t *v;

	json_object_foreach(stmt, key, v)
		return key;
	return NULL;
}

static const char *kind_of_node(const char *node)
{
	static const struct { const char *node; const char *kind; } kinds[] = {
		{ "SelectStmt", "SELECT" }, { "InsertStmt", "INSERT" }, { "UpdateStmt", "UPDATE" },
		{ "DeleteStmt", "DELETE" }, { "MergeStmt", "MERGE" }, { "CopyStmt", "COPY" },
		{ "TransactionStmt", "TRANSACTION" }, { "VariableSetStmt", "SET" }, { "VariableShowStmt", "SHOW" },
		{ "ExplainStmt", "EXPLAIN" }, { "CallStmt", "CALL" }, { "DoStmt", "DO" },
		{ "GrantStmt", "GRANT" }, { "GrantRoleStmt", "GRANT" }, { "PrepareStmt", "PREPARE" },
		{ "ExecuteStmt", "EXECUTE" }, { "DeallocateStmt", "DEALLOCATE" }, { "TruncateStmt", "TRUNCATE" },
		{ "LockStmt", "LOCK" }, { "VacuumStmt", "VACUUM" }, { "DiscardStmt", "DISCARD" },
		{ "ListenStmt", "LISTEN" }, { "NotifyStmt", "NOTIFY" }, { "UnlistenStmt", "UNLISTEN" },
		{ "DeclareCursorStmt", "DECLARE" }, { "FetchStmt", "FETCH" }, { "ClosePortalStmt", "CLOSE" },
		{ "CheckPointStmt", "CHECKPOINT" }, { "ReindexStmt", "REINDEX" }, { "ClusterStmt", "CLUSTER" },
		{ "AlterSystemStmt", "ALTER SYSTEM" }, { "DropStmt", "DDL" },
	};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(node, kinds[i].node) == 0)
			return kinds[i].kind;
	}
	/* CreateStmt, AlterTableStmt, IndexStmt, ViewStmt, RenameStmt, ... */
	return "DDL";
}

/* "SELECT" or, for several statements, "BEGIN-like,SELECT,...". */
static char *statement_kinds(const char *sql)
{
	PgQueryParseResult parsed = pg_query_parse(sql);
	json_t *tree = NULL, *stmts;
	char kinds[256] = "";
	size_t i;
	json_t *item;

	if (parsed.error) {
		pg_query_free_parse_result(parsed);
		return NULL;
	}
	tree = json_loads(parsed.parse_tree, 0, NULL);
	pg_query_free_parse_result(parsed);
	stmts = tree ? json_object_get(tree, "stmts") : NULL;
	json_array_foreach(stmts, i, item) {
		const char *node = node_type(json_object_get(item, "stmt"));
		const char *kind = node ? kind_of_node(node) : "UNKNOWN";
		size_t used = strlen(kinds);
		/* several statements of one kind are named once */
		if (!strstr(kinds, kind))
			snprintf(kinds + used, sizeof(kinds) - used, "%s%s", used ? "," : "", kind);
	}
	json_decref(tree);
	return strdup(kinds[0] ? kinds : "EMPTY");
}

bool audit_analyze_sql(const char *sql, char **kind, char **fingerprint, char **normalized)
{
	PgQueryFingerprintResult fp;
	PgQueryNormalizeResult norm;

	*kind = statement_kinds(sql);
	*fingerprint = NULL;
	*normalized = NULL;
	if (!*kind) {
		*kind = strdup("UNPARSED");
		return false;
	}
	fp = pg_query_fingerprint(sql);
	if (!fp.error && fp.fingerprint_str)
		*fingerprint = strdup(fp.fingerprint_str);
	pg_query_free_fingerprint_result(fp);
	norm = pg_query_normalize(sql);
	if (!norm.error && norm.normalized_query)
		*normalized = strdup(norm.normalized_query);
	pg_query_free_normalize_result(norm);
	return true;
}

/*
 * Parsing is most of the writer's work.  Three caches, writer thread only
 * (text_cache.h: a new text replaces the least recently used of its set):
 *  - by exact text: prepared statements and ORMs repeat their texts, which
 *    then cost no parse at all;
 *  - by shape key: literal values vary (WHERE id = 42, = 43, ...); the shape
 *    key (sql_shape.h) finds such a text without a parse, for the texts it
 *    can read;
 *  - by normalized text: for the others, a miss above costs one parse
 *    (pg_query_normalize) and finds kind and fingerprint here — the
 *    fingerprint ignores literal values, so one computed for another text
 *    with the same normalized form is the same.
 * Only a statement shape never seen before is parsed three times.
 */
#define ANALYSIS_ENTRIES 4096
#define ANALYSIS_MAX_SHAPE 4096

/* The three keys a statement record gets from its SQL, as JSON text. */
static void analysis_fields(struct json_text *out, const char *kind, const char *fingerprint,
			    const char *normalized)
{
	jt_reset(out);
	jt_key(out, "kind");
	jt_str(out, kind);
	jt_key(out, "fingerprint");
	jt_str(out, fingerprint);
	jt_key(out, "normalized");
	jt_str(out, normalized);
}

/* Analyses sql from scratch: kind, fingerprint, normalized text. */
static void analyse_fields(const char *sql, struct json_text *fields, char **normalized)
{
	char *kind, *fingerprint;

	audit_analyze_sql(sql, &kind, &fingerprint, normalized);
	analysis_fields(fields, kind, fingerprint, *normalized);
	free(kind);
	free(fingerprint);
}

/* Appends to row the keys sql gives ("kind":...,"fingerprint":...,"normalized":...). */
static void put_analysis(struct audit_store *st, const char *sql, struct json_text *row)
{
	char shape[ANALYSIS_MAX_SHAPE + 1];
	bool has_shape;
	PgQueryNormalizeResult norm;
	struct json_text built = { 0 };
	const char *fields;
	size_t len;
	char *normalized = NULL;

	fields = text_cache_get(st->by_text, 0, sql, &len);
	has_shape = !fields && sql_shape_key(sql, shape, sizeof(shape));
	if (has_shape)
		fields = text_cache_get(st->by_shape, 0, shape, &len);
	if (fields) {
		jt_raw(row, fields, len);
		return;
	}
	norm = pg_query_normalize(sql);
	fields = !norm.error && norm.normalized_query ? text_cache_get(st->by_normalized, 0, norm.normalized_query, &len)
						      : NULL;
	if (!fields) {
		analyse_fields(sql, &built, &normalized);
		fields = built.buf;
		len = built.len;
		if (normalized)
			text_cache_put(st->by_normalized, 0, normalized, fields, len);
	}
	jt_raw(row, fields, len);	/* before a put below may replace what fields points to */
	/* the shape key stands for the text only where normalize agrees */
	if (has_shape && !norm.error && norm.normalized_query && sql_shape_agrees(shape, norm.normalized_query))
		text_cache_put(st->by_shape, 0, shape, row->buf + row->len - len, len);
	else
		text_cache_put(st->by_text, 0, sql, row->buf + row->len - len, len);
	pg_query_free_normalize_result(norm);
	jt_free(&built);
	free(normalized);
}

/*
 * The record as stored: JSON text as queued, or for a statement its
 * captured values written out, then the keys its SQL gives.
 */
static const char *stored_record(struct audit_store *st, const struct event *e, size_t *len)
{
	const char *sql;

	if (!e->captured) {
		*len = e->len;
		return e->data;
	}
	jt_reset(&st->row);
	jt_open(&st->row, '{');
	audit_capture_render(e->data, &st->row);
	if ((sql = audit_capture_sql(e->data)))
		put_analysis(st, sql, &st->row);
	jt_close(&st->row, '}');
	*len = st->row.len;
	return st->row.buf;
}

/* ---------------- SQLite ---------------- */

static bool exec_sql(struct audit_store *st, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return true;
	snprintf(err, errlen, "%s: %s", st->path, msg ? msg : sqlite3_errmsg(st->db));
	sqlite3_free(msg);
	return false;
}

/* 0600 from the start: the file never exists with looser permissions. */
static bool create_file(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0) {
		snprintf(err, errlen, "cannot create audit file %s: %s", path, strerror(errno));
		return false;
	}
	close(fd);
	return true;
}

static bool read_chain_end(struct audit_store *st, char *err, size_t errlen)
{
	sqlite3_stmt *q;
	int rc;

	if (!audit_chain_genesis(st->hasher, st->last_hash)) {
		snprintf(err, errlen, "%s: cannot compute HMAC-SHA256", st->path);
		return false;
	}
	st->last_seq = 0;
	if (sqlite3_prepare_v2(st->db, "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1", -1, &q, NULL)
	    != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", st->path, sqlite3_errmsg(st->db));
		return false;
	}
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		st->last_seq = sqlite3_column_int64(q, 0);
		snprintf(st->last_hash, sizeof(st->last_hash), "%s", (const char *)sqlite3_column_text(q, 1));
	}
	sqlite3_finalize(q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE;
}

static bool check_schema_version(struct audit_store *st, char *err, size_t errlen)
{
	sqlite3_stmt *q;
	int version = -1;

	if (sqlite3_prepare_v2(st->db, "SELECT version FROM schema_version", -1, &q, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", st->path, sqlite3_errmsg(st->db));
		return false;
	}
	if (sqlite3_step(q) == SQLITE_ROW)
		version = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	if (version == -1) {
		char sql[96];
		snprintf(sql, sizeof(sql), "INSERT INTO schema_version VALUES (%d)", AUDIT_SCHEMA_VERSION);
		return exec_sql(st, sql, err, errlen);
	}
	if (version != AUDIT_SCHEMA_VERSION) {
		snprintf(err, errlen, "%s: audit schema version %d, this pgwarden writes version %d", st->path,
			 version, AUDIT_SCHEMA_VERSION);
		return false;
	}
	return true;
}

static bool open_db(struct audit_store *st, char *err, size_t errlen)
{
	if (!create_file(st->path, err, errlen))
		return false;
	if (sqlite3_open_v2(st->path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open audit file %s: %s", st->path,
			 st->db ? sqlite3_errmsg(st->db) : "out of memory");
		return false;
	}
	sqlite3_busy_timeout(st->db, 5000);
	return exec_sql(st, "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;", err, errlen) &&
	       exec_sql(st, "BEGIN IMMEDIATE", err, errlen) &&
	       exec_sql(st, audit_schema_sql, err, errlen) &&
	       check_schema_version(st, err, errlen) &&
	       exec_sql(st, "COMMIT", err, errlen) &&
	       read_chain_end(st, err, errlen) &&
	       sqlite3_prepare_v2(st->db,
				  "INSERT INTO events (seq, kind, at_us, record, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)",
				  -1, &st->insert, NULL) == SQLITE_OK;
}

/* ---------------- the writer ---------------- */

static bool insert_event(struct audit_store *st, struct event *e)
{
	char hash[AUDIT_HASH_HEX_LEN + 1];
	int64_t seq = st->last_seq + 1;
	size_t len;
	const char *text = stored_record(st, e, &len);
	bool ok;

	if (!audit_chain_hash(st->hasher, st->last_hash, seq, e->kind, e->at_us, text, hash))
		return false;
	sqlite3_bind_int64(st->insert, 1, seq);
	sqlite3_bind_text(st->insert, 2, e->kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st->insert, 3, e->at_us);
	sqlite3_bind_text(st->insert, 4, text, (int)len, SQLITE_STATIC);
	sqlite3_bind_text(st->insert, 5, st->last_hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st->insert, 6, hash, -1, SQLITE_STATIC);
	ok = sqlite3_step(st->insert) == SQLITE_DONE;
	sqlite3_reset(st->insert);	/* every parameter is bound again next time */
	if (ok) {
		st->last_seq = seq;
		memcpy(st->last_hash, hash, sizeof(hash));
	}
	return ok;
}

/* Commit the list [first, ...]; false leaves the chain end as it was. */
static bool write_batch(struct audit_store *st, struct event *first, char *err, size_t errlen)
{
	int64_t seq0 = st->last_seq;
	char hash0[sizeof(st->last_hash)];

	memcpy(hash0, st->last_hash, sizeof(hash0));
	if (!exec_sql(st, "BEGIN IMMEDIATE", err, errlen))
		return false;
	for (struct event *e = first; e; e = e->next) {
		if (!insert_event(st, e)) {
			snprintf(err, errlen, "%s: %s", st->path, sqlite3_errmsg(st->db));
			goto fail;
		}
	}
	if (exec_sql(st, "COMMIT", err, errlen))
		return true;
fail:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	st->last_seq = seq0;
	memcpy(st->last_hash, hash0, sizeof(hash0));
	return false;
}

/*
 * Under the lock, which the event loop needs for every record: the whole
 * queue when it fits in a batch (the usual case) is taken without walking
 * it.  A walk of a few hundred records is a few microseconds, and an
 * idle-priority writer preempted in the middle of it would leave the loop
 * waiting on the lock until the writer got a CPU back.
 */
static struct event *take_batch(struct audit_store *st)
{
	struct event *first = st->head, *last = st->tail;
	int n = st->queue_len;

	if (!first)
		return NULL;
	if (n > st->cfg.batch_max) {
		for (last = first, n = 1; n < st->cfg.batch_max; n++)
			last = last->next;
	}
	st->head = last->next;
	if (!st->head)
		st->tail = NULL;
	last->next = NULL;
	st->queue_len -= n;
	st->flush_now = false;
	memset(&st->oldest_at, 0, sizeof(st->oldest_at));	/* what is left is due now */
	return first;
}

/* A failed batch goes back to the front, in order. */
static void put_back(struct audit_store *st, struct event *first)
{
	struct event *last = first;
	int n = 1;

	for (; last->next; n++)
		last = last->next;
	st->queue_len += n;
	last->next = st->head;
	st->head = first;
	if (!st->tail)
		st->tail = last;
}

static struct timespec monotonic_after_ms(struct timespec t, int ms)
{
	t.tv_nsec += (long)ms * 1000000L;
	t.tv_sec += t.tv_nsec / 1000000000L;
	t.tv_nsec %= 1000000000L;
	return t;
}

static bool batch_due(struct audit_store *st)
{
	return st->stopping || st->flush_now || st->queue_len >= st->cfg.batch_max;
}

/* Under the lock: until a batch is due, or a retry after a failed write. */
static void wait_for_work(struct audit_store *st, bool retrying)
{
	struct timespec now, until;

	if (retrying) {
		if (!st->stopping) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			until = monotonic_after_ms(now, st->cfg.flush_ms);
			pthread_cond_timedwait(&st->wake, &st->lock, &until);
		}
		return;
	}
	while (!st->head && !st->stopping)
		pthread_cond_wait(&st->wake, &st->lock);
	until = monotonic_after_ms(st->oldest_at, st->cfg.flush_ms);
	while (st->head && !batch_due(st) && pthread_cond_timedwait(&st->wake, &st->lock, &until) != ETIMEDOUT)
		;
}

/*
 * Under the lock; calls the commit callback without it (it wakes the event
 * loop, a system call), so that the loop, which takes the lock for every
 * record, never waits for that.
 */
static void tell_committed(struct audit_store *st)
{
	void (*on_commit)(void *) = st->on_commit;
	void *arg = st->on_commit_arg;

	if (!on_commit)
		return;
	pthread_mutex_unlock(&st->lock);
	on_commit(arg);
	pthread_mutex_lock(&st->lock);
}

static void *writer_main(void *arg)
{
	struct audit_store *st = arg;
	bool retrying = false;

	pthread_mutex_lock(&st->lock);
	for (;;) {
		wait_for_work(st, retrying);
		if (!st->head) {
			if (st->stopping)
				break;
			continue;
		}
		if (st->stopping && retrying)
			break;	/* the disk still refuses: give up at exit, say so */
		struct event *batch = take_batch(st);
		pthread_mutex_unlock(&st->lock);

		char err[256] = "";
		uint64_t n = 0;
		bool ok = write_batch(st, batch, err, sizeof(err));
		if (ok) {
			while (batch) {
				struct event *next = batch->next;
				free(batch);
				batch = next;
				n++;
			}
		}
		pthread_mutex_lock(&st->lock);
		if (ok) {
			st->written += n;
			st->batches++;
			st->failed = false;
			atomic_store(&st->failing, false);
			st->last_error[0] = '\0';
		} else {
			put_back(st, batch);
			st->failed = true;
			atomic_store(&st->failing, true);
			snprintf(st->last_error, sizeof(st->last_error), "%s", err);
		}
		retrying = !ok;
		tell_committed(st);
	}
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

/* ---------------- the loop's side ---------------- */

/* Everything the store holds; the writer thread is not running (any more). */
static void store_free(struct audit_store *st)
{
	/* events are only left when the disk refused them to the end */
	for (struct event *e = st->head; e;) {
		struct event *next = e->next;
		free(e);
		e = next;
	}
	sqlite3_finalize(st->insert);
	sqlite3_close(st->db);
	text_cache_free(st->by_text);
	text_cache_free(st->by_normalized);
	text_cache_free(st->by_shape);
	jt_free(&st->row);
	audit_hasher_free(st->hasher);
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->wake);
	free(st->path);
	free(st);
}

struct audit_store *audit_store_open(const struct audit_store_config *cfg, char *err, size_t errlen)
{
	struct audit_store *st = calloc(1, sizeof(*st));

	err[0] = '\0';
	st->cfg = *cfg;
	st->path = strdup(cfg->path);
	st->cfg.path = st->path;
	if (st->cfg.flush_ms <= 0)
		st->cfg.flush_ms = 20;
	if (st->cfg.batch_max <= 0)
		st->cfg.batch_max = 5000;
	st->by_text = text_cache_new(ANALYSIS_ENTRIES);
	st->by_normalized = text_cache_new(ANALYSIS_ENTRIES);
	st->by_shape = text_cache_new(ANALYSIS_ENTRIES);
	st->hasher = audit_hasher_new(&cfg->key);
	OPENSSL_cleanse(&st->cfg.key, sizeof(st->cfg.key));	/* the hasher keeps it */
	pthread_mutex_init(&st->lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);	/* the window ignores clock changes */
	pthread_cond_init(&st->wake, &attr);
	pthread_condattr_destroy(&attr);
	if (!st->by_text || !st->by_normalized || !st->by_shape)
		snprintf(err, errlen, "out of memory");
	else if (!st->hasher)
		snprintf(err, errlen, "cannot set up HMAC-SHA256");
	if (err[0] || !open_db(st, err, errlen) || pthread_create(&st->thread, NULL, writer_main, st) != 0) {
		if (!err[0])
			snprintf(err, errlen, "cannot start the audit writer thread");
		store_free(st);
		return NULL;
	}
	pthread_setname_np(st->thread, "audit-writer");
	return st;
}

void audit_store_set_flush_ms(struct audit_store *st, int flush_ms)
{
	pthread_mutex_lock(&st->lock);
	st->cfg.flush_ms = flush_ms;
	pthread_mutex_unlock(&st->lock);
}

int audit_store_idle_priority(struct audit_store *st)
{
	struct sched_param none = { 0 };

	return pthread_setschedparam(st->thread, SCHED_IDLE, &none);
}

static void enqueue(struct audit_store *st, const char *kind, int64_t at_us, const void *data, size_t len,
		    bool captured)
{
	struct event *e = malloc(sizeof(*e) + len + 1);
	bool wake;

	if (!e)
		abort();	/* no record may be lost quietly */
	e->next = NULL;
	e->kind = kind;
	e->at_us = at_us;
	e->len = len;
	e->captured = captured;
	memcpy(e->data, data, len);
	e->data[len] = '\0';
	pthread_mutex_lock(&st->lock);
	if (st->tail) {
		st->tail->next = e;
	} else {
		st->head = e;
		clock_gettime(CLOCK_MONOTONIC, &st->oldest_at);
	}
	st->tail = e;
	st->queued++;
	/* the writer sleeps until its window ends: wake it only to start one */
	wake = ++st->queue_len == 1 || st->queue_len == st->cfg.batch_max;
	pthread_mutex_unlock(&st->lock);
	if (wake)	/* after unlocking: the writer would only wait for the lock */
		pthread_cond_signal(&st->wake);
}

void audit_store_put(struct audit_store *st, const char *kind, int64_t at_us, const char *record, size_t len)
{
	enqueue(st, kind, at_us, record, len, false);
}

void audit_store_put_statement(struct audit_store *st, int64_t at_us, const void *capture, size_t len)
{
	enqueue(st, "statement", at_us, capture, len, true);
}

void audit_store_flush_soon(struct audit_store *st)
{
	pthread_mutex_lock(&st->lock);
	if (!st->flush_now) {
		st->flush_now = true;
		pthread_cond_signal(&st->wake);
	}
	pthread_mutex_unlock(&st->lock);
}

/* Both counters in one look under the lock. */
static void counts(struct audit_store *st, uint64_t *queued, uint64_t *written)
{
	pthread_mutex_lock(&st->lock);
	*queued = st->queued;
	*written = st->written;
	pthread_mutex_unlock(&st->lock);
}

uint64_t audit_store_backlog(struct audit_store *st)
{
	uint64_t queued, written;

	counts(st, &queued, &written);
	return queued - written;
}

uint64_t audit_store_ticket(struct audit_store *st)
{
	uint64_t queued, written;

	counts(st, &queued, &written);
	return queued;
}

uint64_t audit_store_committed(struct audit_store *st)
{
	uint64_t queued, written;

	counts(st, &queued, &written);
	return written;
}

bool audit_store_failed(struct audit_store *st, char *why, size_t len)
{
	bool failed;

	if (!atomic_load(&st->failing))
		return false;	/* per statement: no lock while all is well */
	pthread_mutex_lock(&st->lock);
	failed = st->failed;
	snprintf(why, len, "%s", st->last_error);
	pthread_mutex_unlock(&st->lock);
	return failed;
}

void audit_store_stats(struct audit_store *st, struct audit_store_stats *out)
{
	struct stat sb;

	pthread_mutex_lock(&st->lock);
	out->queued = st->queued;
	out->written = st->written;
	out->batches = st->batches;
	out->pending = st->queued - st->written;
	out->failed = st->failed;
	snprintf(out->last_error, sizeof(out->last_error), "%s", st->last_error);
	pthread_mutex_unlock(&st->lock);
	out->file_size = stat(st->path, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

void audit_store_on_commit(struct audit_store *st, void (*cb)(void *arg), void *arg)
{
	pthread_mutex_lock(&st->lock);
	st->on_commit = cb;
	st->on_commit_arg = arg;
	pthread_mutex_unlock(&st->lock);
}

void audit_store_close(struct audit_store *st)
{
	if (!st)
		return;
	pthread_mutex_lock(&st->lock);
	st->stopping = true;
	pthread_cond_signal(&st->wake);
	pthread_mutex_unlock(&st->lock);
	pthread_join(st->thread, NULL);
	store_free(st);
}
