/*
 * pgwarden-audit: read the audit plugin's SQLite file.
 *
 *   pgwarden-audit verify FILE --key KEYFILE [--allow-open]
 *   pgwarden-audit export FILE [--since TIME] [--format jsonl|csv]
 *   pgwarden-audit tail FILE [-n N] [--follow]
 *
 * verify walks the hash chain (audit_chain.h) and names the first record
 * that was edited, removed or inserted, and a tail cut off after the last
 * checkpoint.  Exit 0: intact; 1: tampered or truncated; 2: usage or I/O.
 */
#include "audit_chain.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#define EXIT_BROKEN 1
#define EXIT_USAGE 2

static int usage(void)
{
	fprintf(stderr,
		"usage: pgwarden-audit verify FILE --key KEYFILE [--allow-open]\n"
		"       pgwarden-audit export FILE [--since TIME] [--format jsonl|csv]\n"
		"       pgwarden-audit tail FILE [-n N] [--follow]\n"
		"TIME is unix seconds or UTC 'YYYY-MM-DD[ HH:MM[:SS]]'.\n");
	return EXIT_USAGE;
}

static sqlite3 *open_readonly(const char *path)
{
	sqlite3 *db = NULL;

	if (access(path, R_OK) != 0) {
		fprintf(stderr, "pgwarden-audit: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fprintf(stderr, "pgwarden-audit: %s: %s\n", path, db ? sqlite3_errmsg(db) : "cannot open");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *q = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
		fprintf(stderr, "pgwarden-audit: %s\n", sqlite3_errmsg(db));
		return NULL;
	}
	return q;
}

static const char *text_col(sqlite3_stmt *q, int i)
{
	const unsigned char *t = sqlite3_column_text(q, i);
	return t ? (const char *)t : "";
}

/* ---------------- verify ---------------- */

struct chain_walk {
	int64_t expect_seq;
	char prev_hash[AUDIT_HASH_HEX_LEN + 1];
	char last_kind[32];
	int64_t records;
};

/* Returns NULL while the chain holds, else what is wrong (in buf). */
static const char *check_record(struct audit_hasher *hasher, struct chain_walk *w, sqlite3_stmt *q, char *buf,
				size_t len)
{
	int64_t seq = sqlite3_column_int64(q, 0);
	const char *kind = text_col(q, 1);
	int64_t at_us = sqlite3_column_int64(q, 2);
	const char *record = text_col(q, 3);
	const char *prev = text_col(q, 4);
	const char *hash = text_col(q, 5);
	char expect[AUDIT_HASH_HEX_LEN + 1];

	if (seq != w->expect_seq) {
		snprintf(buf, len, seq > w->expect_seq ? "record %" PRId64 " is missing (removed); next is %" PRId64
			 : "record %" PRId64 " is out of sequence (found %" PRId64 ")", w->expect_seq, seq);
		return buf;
	}
	if (strcmp(prev, w->prev_hash) != 0) {
		snprintf(buf, len, "record %" PRId64 " does not follow record %" PRId64
			 " (prev_hash differs: inserted, replaced or reordered)", seq, seq - 1);
		return buf;
	}
	if (!audit_chain_hash(hasher, prev, seq, kind, at_us, record, expect) || strcmp(expect, hash) != 0) {
		snprintf(buf, len, "record %" PRId64 " was edited (hash does not match its content)", seq);
		return buf;
	}
	w->expect_seq = seq + 1;
	memcpy(w->prev_hash, hash, sizeof(w->prev_hash));
	snprintf(w->last_kind, sizeof(w->last_kind), "%s", kind);
	w->records++;
	return NULL;
}

static int cmd_verify(const char *file, const char *key_file, bool allow_open)
{
	struct audit_key key;
	struct chain_walk w = { .expect_seq = 1 };
	char err[512], what[512];
	const char *broken = NULL;
	sqlite3 *db;
	sqlite3_stmt *q;
	int rc;

	if (!audit_key_load(key_file, false, &key, err, sizeof(err))) {
		fprintf(stderr, "pgwarden-audit: %s\n", err);
		return EXIT_USAGE;
	}
	struct audit_hasher *hasher = audit_hasher_new(&key);
	if (!hasher) {
		fprintf(stderr, "pgwarden-audit: cannot set up HMAC-SHA256\n");
		return EXIT_USAGE;
	}
	if (!audit_chain_genesis(hasher, w.prev_hash)) {
		fprintf(stderr, "pgwarden-audit: cannot compute HMAC-SHA256\n");
		audit_hasher_free(hasher);
		return EXIT_USAGE;
	}
	if (!(db = open_readonly(file))) {
		audit_hasher_free(hasher);
		return EXIT_USAGE;
	}
	if (!(q = prepare(db, "SELECT seq, kind, at_us, record, prev_hash, hash FROM events ORDER BY seq"))) {
		sqlite3_close(db);
		audit_hasher_free(hasher);
		return EXIT_USAGE;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW && !broken)
		broken = check_record(hasher, &w, q, what, sizeof(what));
	audit_hasher_free(hasher);
	sqlite3_finalize(q);
	sqlite3_close(db);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		fprintf(stderr, "pgwarden-audit: %s: read error\n", file);
		return EXIT_USAGE;
	}
	if (broken) {
		printf("BROKEN: %s\n", broken);
		return EXIT_BROKEN;
	}
	if (w.records == 0) {
		printf("BROKEN: no records\n");
		return EXIT_BROKEN;
	}
	if (strcmp(w.last_kind, "stop") != 0 && !allow_open) {
		printf("BROKEN: the chain ends at record %" PRId64 " without a stop checkpoint "
		       "(tail removed, or pgwarden still running or killed; --allow-open accepts a live file)\n",
		       w.expect_seq - 1);
		return EXIT_BROKEN;
	}
	printf("OK: %" PRId64 " records, chain intact%s\n", w.records,
	       strcmp(w.last_kind, "stop") == 0 ? ", ends with a stop checkpoint" : " (open)");
	return 0;
}

/* ---------------- export and tail ---------------- */

static bool parse_time(const char *text, int64_t *at_us)
{
	struct tm tm = { 0 };
	char *end;
	long long secs = strtoll(text, &end, 10);

	if (*text && !*end) {
		*at_us = secs * 1000000LL;
		return true;
	}
	static const char *const formats[] = { "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M",
					       "%Y-%m-%d" };
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(text, formats[i], &tm);
		if (end && !*end) {
			*at_us = (int64_t)timegm(&tm) * 1000000LL;
			return true;
		}
	}
	return false;
}

/* One event as a JSON object: its columns, the record inlined. */
static void print_jsonl(sqlite3_stmt *q)
{
	json_t *o = json_object();
	json_t *record = json_loads(text_col(q, 3), 0, NULL);
	char *line;

	json_object_set_new(o, "seq", json_integer(sqlite3_column_int64(q, 0)));
	json_object_set_new(o, "kind", json_string(text_col(q, 1)));
	json_object_set_new(o, "at_us", json_integer(sqlite3_column_int64(q, 2)));
	json_object_set_new(o, "record", record ? record : json_string(text_col(q, 3)));
	json_object_set_new(o, "hash", json_string(text_col(q, 5)));
	line = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	puts(line);
	free(line);
	json_decref(o);
}

static void csv_field(const char *s, bool last)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s);
	}
	putchar('"');
	putchar(last ? '\n' : ',');
}

static void print_csv(sqlite3_stmt *q)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRId64, (int64_t)sqlite3_column_int64(q, 0));
	csv_field(num, false);
	csv_field(text_col(q, 1), false);
	snprintf(num, sizeof(num), "%" PRId64, (int64_t)sqlite3_column_int64(q, 2));
	csv_field(num, false);
	csv_field(text_col(q, 3), false);
	csv_field(text_col(q, 5), true);
}

static int64_t print_rows(sqlite3 *db, const char *sql, int64_t arg, bool csv)
{
	sqlite3_stmt *q = prepare(db, sql);
	int64_t last = -1;

	if (!q)
		return -2;
	sqlite3_bind_int64(q, 1, arg);
	while (sqlite3_step(q) == SQLITE_ROW) {
		if (csv)
			print_csv(q);
		else
			print_jsonl(q);
		last = sqlite3_column_int64(q, 0);
	}
	sqlite3_finalize(q);
	fflush(stdout);
	return last;
}

static int cmd_export(const char *file, const char *since, const char *format)
{
	int64_t since_us = 0;
	bool csv;
	sqlite3 *db;

	if (strcmp(format, "jsonl") != 0 && strcmp(format, "csv") != 0)
		return usage();
	csv = strcmp(format, "csv") == 0;
	if (since && !parse_time(since, &since_us)) {
		fprintf(stderr, "pgwarden-audit: --since %s: not a time\n", since);
		return EXIT_USAGE;
	}
	if (!(db = open_readonly(file)))
		return EXIT_USAGE;
	if (csv)
		puts("\"seq\",\"kind\",\"at_us\",\"record\",\"hash\"");
	int64_t r = print_rows(db, "SELECT seq, kind, at_us, record, prev_hash, hash FROM events "
			       "WHERE at_us >= ? ORDER BY seq", since_us, csv);
	sqlite3_close(db);
	return r == -2 ? EXIT_USAGE : 0;
}

static int cmd_tail(const char *file, long n, bool follow)
{
	sqlite3 *db = open_readonly(file);
	int64_t last;

	if (!db)
		return EXIT_USAGE;
	last = print_rows(db, "SELECT * FROM (SELECT seq, kind, at_us, record, prev_hash, hash FROM events "
			  "ORDER BY seq DESC LIMIT ?) ORDER BY seq", n, false);
	while (follow && last != -2) {
		usleep(500 * 1000);
		int64_t more = print_rows(db, "SELECT seq, kind, at_us, record, prev_hash, hash FROM events "
					  "WHERE seq > ? ORDER BY seq", last < 0 ? 0 : last, false);
		if (more >= 0)
			last = more;
	}
	sqlite3_close(db);
	return last == -2 ? EXIT_USAGE : 0;
}

int main(int argc, char **argv)
{
	const char *key = NULL, *since = NULL, *format = "jsonl";
	bool allow_open = false, follow = false;
	long n = 10;

	if (argc < 3)
		return usage();
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
			key = argv[++i];
		else if (strcmp(argv[i], "--since") == 0 && i + 1 < argc)
			since = argv[++i];
		else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc)
			format = argv[++i];
		else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			n = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--allow-open") == 0)
			allow_open = true;
		else if (strcmp(argv[i], "--follow") == 0 || strcmp(argv[i], "-f") == 0)
			follow = true;
		else
			return usage();
	}
	if (strcmp(argv[1], "verify") == 0)
		return key ? cmd_verify(argv[2], key, allow_open) : usage();
	if (strcmp(argv[1], "export") == 0)
		return cmd_export(argv[2], since, format);
	if (strcmp(argv[1], "tail") == 0)
		return n > 0 ? cmd_tail(argv[2], n, follow) : usage();
	return usage();
}
