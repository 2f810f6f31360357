/*
 * audit-writer: how many statement records per second the audit plugin's
 * writer thread commits (plugins/audit/audit_store.c), without pgwarden.
 *
 *   test/bench/audit-writer [RECORDS] [DISTINCT_SQL] [literals]
 *
 * Queues RECORDS statement records (default 200000) shaped like the
 * plugin's, cycling through DISTINCT_SQL parameterized statement texts
 * (default 200: an application's prepared statements) — or, with
 * "literals", texts whose constant differs every time (as pgbench -S
 * sends) — as fast as the caller can, and reports queue and commit rates.  The file goes to a
 * temporary directory and is removed afterwards.  Built by `make
 * test/bench/audit-writer` (not part of `make check`).
 */
#include "audit_record.h"
#include "audit_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool literals;

/* A statement captured as the plugin does (plugins/audit/audit.c); sql gets the text. */
static size_t capture(struct capture_buf *buf, char *sql, size_t sql_size, long i, int distinct)
{
	struct statement_values v = { 0 };

	if (literals)
		snprintf(sql, sql_size, "SELECT id, name, email FROM customers_%d WHERE id = %ld AND region = 'eu'",
			 (int)(i % distinct), i);
	else
		snprintf(sql, sql_size, "SELECT id, name, email FROM customers_%d WHERE id = $1 AND region = $2",
			 (int)(i % distinct));
	v.ints[CAP_SESSION] = i % 50;
	v.ints[CAP_START_US] = 1700000000000000 + i;
	v.ints[CAP_DURATION_US] = 120;
	v.ints[CAP_ROWS_RETURNED] = 1;
	v.ints[CAP_BYTES_RETURNED] = 96;
	v.texts[CAP_SQL] = sql;
	v.texts[CAP_STATEMENT_NAME] = "";
	v.texts[CAP_COMMAND_TAG] = "SELECT 1";
	v.texts[CAP_COLUMNS_JSON] = "[\"id\",\"name\",\"email\"]";
	v.has_digest = true;
	memset(v.digest, 0x9f, sizeof(v.digest));
	v.texts[CAP_DECISION] = "allowed";
	v.texts[CAP_RUN] = "bench";
	return audit_capture(buf, &v);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
	int distinct = argc > 2 ? atoi(argv[2]) : 200;
	literals = argc > 3 && strcmp(argv[3], "literals") == 0;
	char dir[] = "/tmp/audit-writer-XXXXXX";
	char path[96], err[512] = "";
	struct audit_store_config cfg = { .flush_ms = 20 };
	struct audit_store *st;
	double t0, t_queued, t_done;
	struct capture_buf buf = { 0 };
	char sql[160];

	if (n <= 0 || distinct <= 0 || !mkdtemp(dir))
		return 2;
	snprintf(path, sizeof(path), "%s/audit.db", dir);
	cfg.path = path;
	cfg.key.len = 32;
	memset(cfg.key.bytes, 7, cfg.key.len);
	if (!(st = audit_store_open(&cfg, err, sizeof(err)))) {
		fprintf(stderr, "audit-writer: %s\n", err);
		return 1;
	}
	t0 = now_s();
	for (long i = 0; i < n; i++) {
		size_t size = capture(&buf, sql, sizeof(sql), i, distinct);
		audit_store_put_statement(st, 1700000000000000 + i, buf.data, size);
	}
	t_queued = now_s();
	while (audit_store_committed(st) < (uint64_t)n)
		usleep(1000);
	t_done = now_s();
	struct audit_store_stats stats;
	audit_store_stats(st, &stats);
	audit_store_close(st);
	audit_capture_buf_free(&buf);
	printf("records: %ld, distinct statement shapes: %d%s\n", n, distinct,
	       literals ? ", a new literal in every text" : "");
	printf("queued:    %.0f records/s (the loop thread's side)\n", n / (t_queued - t0));
	printf("committed: %.0f records/s (%.2f s, %" PRIu64 " transactions)\n", n / (t_done - t0), t_done - t0,
	       stats.batches);
	snprintf(err, sizeof(err), "rm -rf %s", dir);
	return system(err) == 0 ? 0 : 1;
}
