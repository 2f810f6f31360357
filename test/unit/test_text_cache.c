/*
 * Unit tests for the plugins' per-statement cache (plugins/common/text_cache.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text_cache.h"

static const char *get_text(struct text_cache *c, int tag, const char *key)
{
	size_t len;
	const char *v = text_cache_get(c, tag, key, &len);

	if (v)
		assert_int_equal(len, strlen(v) + 1);
	return v;
}

static void put_text(struct text_cache *c, int tag, const char *key, const char *value)
{
	assert_non_null(text_cache_put(c, tag, key, value, strlen(value) + 1));
}

static void test_get_what_was_put(void **state)
{
	struct text_cache *c = text_cache_new(64);

	(void)state;
	assert_null(get_text(c, 0, "SELECT 1"));
	put_text(c, 0, "SELECT 1", "one");
	assert_string_equal(get_text(c, 0, "SELECT 1"), "one");
	put_text(c, 0, "SELECT 1", "uno");	/* replaced, not added */
	assert_string_equal(get_text(c, 0, "SELECT 1"), "uno");
	assert_null(get_text(c, 0, "SELECT 2"));
	text_cache_clear(c);
	assert_null(get_text(c, 0, "SELECT 1"));
	text_cache_free(c);
}

/* The tag (a policy number) is part of the key. */
static void test_tags_keep_entries_apart(void **state)
{
	struct text_cache *c = text_cache_new(64);

	(void)state;
	put_text(c, 1, "SELECT secret FROM t", "blocked");
	assert_null(get_text(c, 2, "SELECT secret FROM t"));
	put_text(c, 2, "SELECT secret FROM t", "allowed");
	assert_string_equal(get_text(c, 1, "SELECT secret FROM t"), "blocked");
	assert_string_equal(get_text(c, 2, "SELECT secret FROM t"), "allowed");
	text_cache_free(c);
}

/* One set (four entries): a fifth text replaces the least recently used. */
static void test_a_full_set_drops_the_least_recently_used(void **state)
{
	struct text_cache *c = text_cache_new(TEXT_CACHE_WAYS);

	(void)state;
	put_text(c, 0, "a", "A");
	put_text(c, 0, "b", "B");
	put_text(c, 0, "c", "C");
	put_text(c, 0, "d", "D");
	assert_non_null(get_text(c, 0, "a"));	/* a is now the most recent; b the least */
	put_text(c, 0, "e", "E");
	assert_null(get_text(c, 0, "b"));
	assert_string_equal(get_text(c, 0, "a"), "A");
	assert_string_equal(get_text(c, 0, "c"), "C");
	assert_string_equal(get_text(c, 0, "d"), "D");
	assert_string_equal(get_text(c, 0, "e"), "E");
	text_cache_free(c);
}

/*
 * An application cycling through a few hundred statements, far fewer than
 * the entries: once each has been seen, every lookup hits.  (A direct-mapped
 * table of the same size missed about 6 % here: texts sharing a slot evicted
 * each other on every round.)
 */
static void test_a_working_set_smaller_than_the_cache_stays(void **state)
{
	struct text_cache *c = text_cache_new(4096);
	char key[64];
	int misses = 0;

	(void)state;
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 500; i++) {
			snprintf(key, sizeof(key), "SELECT * FROM customers_%d WHERE id = $1", i);
			if (!get_text(c, 0, key)) {
				misses++;
				put_text(c, 0, key, key);
			}
		}
	}
	assert_int_equal(misses, 500);
	text_cache_free(c);
}

/* Values are copied: binary ones, of any length, including none. */
static void test_values_are_copied(void **state)
{
	struct text_cache *c = text_cache_new(8);
	uint8_t blob[3] = { 0, 1, 0 };
	size_t len = 99;
	const uint8_t *v;

	(void)state;
	assert_non_null(text_cache_put(c, 0, "k", blob, sizeof(blob)));
	blob[1] = 7;
	v = text_cache_get(c, 0, "k", &len);
	assert_int_equal(len, 3);
	assert_int_equal(v[1], 1);
	assert_non_null(text_cache_put(c, 0, "empty", NULL, 0));
	assert_non_null(text_cache_get(c, 0, "empty", &len));
	assert_int_equal(len, 0);
	text_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_what_was_put),
		cmocka_unit_test(test_tags_keep_entries_apart),
		cmocka_unit_test(test_a_full_set_drops_the_least_recently_used),
		cmocka_unit_test(test_a_working_set_smaller_than_the_cache_stays),
		cmocka_unit_test(test_values_are_copied),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
