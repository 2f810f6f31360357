/*
 * Unit tests for the audit log's hash chain and key file
 * (plugins/audit/audit_chain.c): the HMAC covers every column, the genesis
 * depends on the key, and key files are refused unless private and long
 * enough.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit_chain.h"

static struct audit_key key_of_length(char fill, size_t len)
{
	struct audit_key k;

	memset(k.bytes, fill, len);
	k.len = len;
	return k;
}

static struct audit_key key_of(char fill)
{
	return key_of_length(fill, 32);
}

static void hash_of(struct audit_hasher *h, const char *prev, int64_t seq, const char *kind, int64_t at,
		    const char *record, char out[AUDIT_HASH_HEX_LEN + 1])
{
	assert_true(audit_chain_hash(h, prev, seq, kind, at, record, out));
	assert_int_equal(strlen(out), AUDIT_HASH_HEX_LEN);
}

/* Known answers (Python's hmac module): the chain is plain HMAC-SHA256 of
 * the documented text, and a hasher used many times gives the same answer
 * each time. */
static void test_known_answers(void **state)
{
	(void)state;
	struct audit_key k = key_of('k');
	struct audit_hasher *h = audit_hasher_new(&k);
	char out[65];

	for (int round = 0; round < 3; round++) {
		assert_true(audit_chain_genesis(h, out));
		assert_string_equal(out, "a9c3e5bc6198e4f611c38863fc673d23c835f0cc364bb3de6dd211c543c9f10a");
		hash_of(h, "abc", 7, "statement", 1700000000000000, "{\"sql\":\"SELECT 1\"}", out);
		assert_string_equal(out, "8441219828c4976e62fbbc3e8a2d163a1be4204f335c0e2bd3875493cefde79a");
	}
	audit_hasher_free(h);
}

/* HMAC's key handling at SHA-256's 64-byte block: a key of exactly one
 * block is used as it is (the key files hold 64 hex digits), a longer one
 * is hashed first (Python's hmac module gave the answers). */
static void test_key_lengths_around_the_block_size(void **state)
{
	(void)state;
	static const struct { char fill; size_t len; const char *genesis, *record; } cases[] = {
		{ 'x', 64, "9e66865c315245a296894efacbf3fdbc8fb19f07b5d71a5cf01861bd50d4cc32",
		  "e8b2133fa53d899c108e8edd337842285f61efb64bea83657d1de65cc9f29e81" },
		{ 'L', 200, "4f47eba6d42d2a37e7c809cdf5411c64a0e796d0b9e2dc70c735f8bf2399aa69",
		  "dc85a35ee5babe91ed35545f211e210b461b79126e3cab47cd1a20319fcec2da" },
	};
	char out[65];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct audit_key k = key_of_length(cases[i].fill, cases[i].len);
		struct audit_hasher *h = audit_hasher_new(&k);
		assert_true(audit_chain_genesis(h, out));
		assert_string_equal(out, cases[i].genesis);
		hash_of(h, "abc", 7, "statement", 1700000000000000, "{\"sql\":\"SELECT 1\"}", out);
		assert_string_equal(out, cases[i].record);
		audit_hasher_free(h);
	}
}

static void test_every_column_changes_the_hash(void **state)
{
	(void)state;
	struct audit_key k = key_of(1);
	struct audit_hasher *h = audit_hasher_new(&k);
	char base[65], other[65], genesis[65];

	assert_true(audit_chain_genesis(h, genesis));
	hash_of(h, genesis, 1, "statement", 100, "{\"sql\":\"SELECT 1\"}", base);
	hash_of(h, genesis, 1, "statement", 100, "{\"sql\":\"SELECT 1\"}", other);
	assert_string_equal(base, other);	/* deterministic */
	hash_of(h, genesis, 2, "statement", 100, "{\"sql\":\"SELECT 1\"}", other);
	assert_string_not_equal(base, other);
	hash_of(h, genesis, 1, "session_end", 100, "{\"sql\":\"SELECT 1\"}", other);
	assert_string_not_equal(base, other);
	hash_of(h, genesis, 1, "statement", 101, "{\"sql\":\"SELECT 1\"}", other);
	assert_string_not_equal(base, other);
	hash_of(h, genesis, 1, "statement", 100, "{\"sql\":\"SELECT 2\"}", other);
	assert_string_not_equal(base, other);
	hash_of(h, base, 1, "statement", 100, "{\"sql\":\"SELECT 1\"}", other);
	assert_string_not_equal(base, other);
	/* the separators keep fields apart: seq 1 + at 23 is not seq 12 + at 3 */
	hash_of(h, genesis, 1, "statement", 23, "{}", base);
	hash_of(h, genesis, 12, "statement", 3, "{}", other);
	assert_string_not_equal(base, other);
	audit_hasher_free(h);
}

static void test_genesis_and_hashes_depend_on_the_key(void **state)
{
	(void)state;
	struct audit_key k1 = key_of(1), k2 = key_of(2);
	struct audit_hasher *h1 = audit_hasher_new(&k1), *h2 = audit_hasher_new(&k2);
	char g1[65], g2[65], a[65], b[65];

	assert_true(audit_chain_genesis(h1, g1));
	assert_true(audit_chain_genesis(h2, g2));
	assert_string_not_equal(g1, g2);
	hash_of(h1, g1, 1, "start", 1, "{}", a);
	hash_of(h2, g1, 1, "start", 1, "{}", b);
	assert_string_not_equal(a, b);
	audit_hasher_free(h1);
	audit_hasher_free(h2);
}

static char dir[] = "/tmp/pgwarden-test-audit-XXXXXX";

static void path_in_dir(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
	unlink(buf);
}

static void write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_key_file_created_private(void **state)
{
	(void)state;
	char path[128], err[256];
	struct audit_key k, again;
	struct stat st;

	path_in_dir(path, sizeof(path), "new.key");
	assert_false(audit_key_load(path, false, &k, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot open key file"));
	assert_true(audit_key_load(path, true, &k, err, sizeof(err)));
	assert_int_equal(k.len, 64);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* what the creator uses is what any later reader gets, every time
	 * (raw random bytes ending in a newline once broke this 1 time in 128) */
	for (int i = 0; i < 300; i++) {
		assert_true(audit_key_load(path, false, &again, err, sizeof(err)));
		assert_int_equal(again.len, k.len);
		assert_memory_equal(k.bytes, again.bytes, k.len);
		unlink(path);
		assert_true(audit_key_load(path, true, &k, err, sizeof(err)));
	}
}

static void test_key_file_refusals(void **state)
{
	(void)state;
	char path[128], err[256];
	struct audit_key k;

	path_in_dir(path, sizeof(path), "open.key");
	write_file(path, "0123456789abcdef0123456789abcdef", 32, 0644);
	assert_false(audit_key_load(path, true, &k, err, sizeof(err)));
	assert_non_null(strstr(err, "group or world access"));

	path_in_dir(path, sizeof(path), "short.key");
	write_file(path, "short\n", 6, 0600);
	assert_false(audit_key_load(path, true, &k, err, sizeof(err)));
	assert_non_null(strstr(err, "at least 16 bytes"));

	/* a trailing newline is not part of the key */
	path_in_dir(path, sizeof(path), "nl.key");
	write_file(path, "0123456789abcdef\n", 17, 0600);
	assert_true(audit_key_load(path, false, &k, err, sizeof(err)));
	assert_int_equal(k.len, 16);

	assert_false(audit_key_load(dir, false, &k, err, sizeof(err)));
	assert_non_null(strstr(err, "not a regular file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answers),
		cmocka_unit_test(test_key_lengths_around_the_block_size),
		cmocka_unit_test(test_every_column_changes_the_hash),
		cmocka_unit_test(test_genesis_and_hashes_depend_on_the_key),
		cmocka_unit_test(test_key_file_created_private),
		cmocka_unit_test(test_key_file_refusals),
	};
	char cmd[96];
	int rc;

	if (!mkdtemp(dir))
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return rc;
}
