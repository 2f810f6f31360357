/*
 * The audit store: a SQLite file written by one dedicated thread.
 *
 * The event loop hands events (kind + JSON record text, or a statement's
 * captured values) to audit_store_put*(), which only append to an
 * in-memory queue.  The writer thread takes what has queued, computes what
 * is expensive (a statement's JSON; its fingerprint, normalized text and
 * kind with libpg_query; the hash chain), and inserts the batch in one
 * transaction.
 */
#ifndef PGWARDEN_AUDIT_STORE_H
#define PGWARDEN_AUDIT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit_chain.h"

struct audit_store;

struct audit_store_config {
	const char *path;		/* the SQLite file; created 0600 */
	struct audit_key key;
	int flush_ms;			/* the longest an event waits for its batch to start */
	int batch_max;			/* events per transaction at most */
	int queue_soft_max;		/* above it, new statements wait (backpressure) */
};

struct audit_store_stats {
	uint64_t queued;		/* events handed to the store */
	uint64_t written;		/* events committed */
	uint64_t batches;		/* transactions committed */
	uint64_t pending;		/* queued - written */
	int64_t file_size;
	char last_error[256];		/* "" when none */
	bool failed;			/* a write failed: events are not being recorded */
};

/* Open (creating file and schema), read the chain's end, start the thread
 * (named "audit-writer": ps -L, top -H).  NULL with err filled on failure. */
struct audit_store *audit_store_open(const struct audit_store_config *cfg, char *err, size_t errlen);

/*
 * Queue an event: record is a JSON object's text (copied), kind a string
 * constant.  Never blocks and never drops: the queue is unbounded, the
 * caller watches audit_store_backlog() to hold new work.
 */
void audit_store_put(struct audit_store *st, const char *kind, int64_t at_us, const char *record, size_t len);
/*
 * Queue a statement (kind "statement") as captured by audit_capture()
 * (copied).  The writer thread writes its record and adds the keys
 * "kind", "fingerprint" and "normalized" its SQL gives.
 */
void audit_store_put_statement(struct audit_store *st, int64_t at_us, const void *capture, size_t len);

/* Commit what is queued now rather than at the end of its window (for a
 * caller about to wait for it). */
void audit_store_flush_soon(struct audit_store *st);

/* Events queued and not yet committed. */
uint64_t audit_store_backlog(struct audit_store *st);
/* Highest sequence number of a committed event the caller queued — for
 * "is my record on disk yet": compare with audit_store_put's ticket. */
uint64_t audit_store_ticket(struct audit_store *st);
uint64_t audit_store_committed(struct audit_store *st);

/* Everything SHOW AUDIT prints (stat()s the file: not for every statement). */
void audit_store_stats(struct audit_store *st, struct audit_store_stats *out);
/* Are writes failing now?  why: the last error.  Cheap: per statement. */
bool audit_store_failed(struct audit_store *st, char *why, size_t len);

/* The batching window from now on (RELOAD of flush_ms). */
void audit_store_set_flush_ms(struct audit_store *st, int flush_ms);

/*
 * Run the writer at idle priority (SCHED_IDLE): on CPU time no other
 * thread wants, giving way to the event loop and PostgreSQL whenever they
 * wake.  0, or the errno of pthread_setschedparam.
 */
int audit_store_idle_priority(struct audit_store *st);

/* Called on the writer thread after each commit (or failure). */
void audit_store_on_commit(struct audit_store *st, void (*cb)(void *arg), void *arg);

/* Flush everything, write the stop checkpoint, join the thread, close. */
void audit_store_close(struct audit_store *st);

/* Statement kind, fingerprint and normalized text (libpg_query).  Returns
 * false for SQL that does not parse (kind "UNPARSED"). */
bool audit_analyze_sql(const char *sql, char **kind, char **fingerprint, char **normalized);

#endif
