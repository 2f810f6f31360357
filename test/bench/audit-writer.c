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
#include "audit_store.h"
#include "json_text.h"

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

/* A record shaped like the plugin's (plugins/audit/audit.c); sql gets the text. */
static void record(struct json_text *r, char *sql, size_t sql_size, long i, int distinct)
{
	if (literals)
		snprintf(sql, sql_size, "SELECT id, name, email FROM customers_%d WHERE id = %ld AND region = 'eu'",
			 (int)(i % distinct), i);
	else
		snprintf(sql, sql_size, "SELECT id, name, email FROM customers_%d WHERE id = $1 AND region = $2",
			 (int)(i % distinct));
	jt_reset(r);
	jt_open(r, '{');
	jt_key(r, "session");
	jt_int(r, i % 50);
	jt_key(r, "start_us");
	jt_int(r, 1700000000000000 + i);
	jt_key(r, "duration_us");
	jt_int(r, 120);
	jt_key(r, "sql");
	jt_str(r, sql);
	jt_key(r, "statement_name");
	jt_str(r, "");
	jt_key(r, "command_tag");
	jt_str(r, "SELECT 1");
	jt_key(r, "rows_returned");
	jt_int(r, 1);
	jt_key(r, "bytes_returned");
	jt_int(r, 96);
	jt_key(r, "columns");
	jt_raw(r, "[\"id\",\"name\",\"email\"]", 21);
	jt_key(r, "result_sha256");
	jt_str(r, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
	jt_key(r, "decision");
	jt_str(r, "allowed");
	jt_key(r, "run");
	jt_str(r, "bench");
	jt_close(r, '}');
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
	struct json_text rec = { 0 };
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
		record(&rec, sql, sizeof(sql), i, distinct);
		audit_store_put(st, "statement", 1700000000000000 + i, rec.buf, rec.len, sql);
	}
	t_queued = now_s();
	while (audit_store_committed(st) < (uint64_t)n)
		usleep(1000);
	t_done = now_s();
	struct audit_store_stats stats;
	audit_store_stats(st, &stats);
	audit_store_close(st);
	jt_free(&rec);
	printf("records: %ld, distinct statement shapes: %d%s\n", n, distinct,
	       literals ? ", a new literal in every text" : "");
	printf("queued:    %.0f records/s (the loop thread's side)\n", n / (t_queued - t0));
	printf("committed: %.0f records/s (%.2f s, %" PRIu64 " transactions)\n", n / (t_done - t0), t_done - t0,
	       stats.batches);
	snprintf(err, sizeof(err), "rm -rf %s", dir);
	return system(err) == 0 ? 0 : 1;
}
