/*
 * Unit tests for the audit records' JSON writer (plugins/audit/json_text.c):
 * commas in the right places, every string escaped so that a real JSON
 * parser (jansson) reads back the same bytes, text that is not UTF-8 kept
 * as bytea hex rather than written as invalid JSON.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "json_text.h"

static void test_nesting_and_commas(void **state)
{
	struct json_text j = { 0 };

	(void)state;
	jt_open(&j, '{');
	jt_key(&j, "a");
	jt_int(&j, 1);
	jt_key(&j, "list");
	jt_open(&j, '[');
	jt_str(&j, "x");
	jt_null(&j);
	jt_open(&j, '[');
	jt_close(&j, ']');
	jt_open(&j, '{');
	jt_close(&j, '}');
	jt_close(&j, ']');
	jt_key(&j, "raw");
	jt_raw(&j, "[1,2]", 5);
	jt_key(&j, "none");
	jt_str(&j, NULL);
	jt_close(&j, '}');
	assert_string_equal(j.buf, "{\"a\":1,\"list\":[\"x\",null,[],{}],\"raw\":[1,2],\"none\":null}");
	assert_int_equal(j.len, strlen(j.buf));
	jt_free(&j);
}

/* Keys take a short cut when plain ASCII; the others are escaped as values. */
static void test_keys(void **state)
{
	struct json_text j = { 0 };

	(void)state;
	jt_open(&j, '{');
	jt_key(&j, "plain key");
	jt_int(&j, 1);
	jt_key(&j, "we\"ird\\\n");
	jt_int(&j, 2);
	jt_key(&j, "caf\xc3\xa9");
	jt_int(&j, 3);
	jt_key(&j, "\xff");
	jt_int(&j, 4);
	jt_close(&j, '}');
	assert_string_equal(j.buf, "{\"plain key\":1,\"we\\\"ird\\\\\\n\":2,\"caf\xc3\xa9\":3,\"\\\\xff\":4}");
	jt_free(&j);
}

static void test_integers(void **state)
{
	struct json_text j = { 0 };

	(void)state;
	jt_open(&j, '[');
	jt_int(&j, 0);
	jt_int(&j, -7);
	jt_int(&j, INT64_MAX);
	jt_int(&j, INT64_MIN);
	jt_close(&j, ']');
	assert_string_equal(j.buf, "[0,-7,9223372036854775807,-9223372036854775808]");
	jt_free(&j);
}

/* jansson reads the one-element array back: the string it holds. */
static json_t *read_back(const struct json_text *j)
{
	json_error_t err;
	json_t *doc = json_loadb(j->buf, j->len, 0, &err);

	assert_non_null(doc);
	return doc;
}

static void test_escaping_round_trips(void **state)
{
	static const char nasty[] = "quote \" backslash \\ newline \n tab \t cr \r bell \a esc \x1b "
				    "unicode \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 end\x7f";
	struct json_text j = { 0 };
	json_t *doc;

	(void)state;
	jt_open(&j, '[');
	jt_str(&j, nasty);
	jt_close(&j, ']');
	doc = read_back(&j);
	assert_string_equal(json_string_value(json_array_get(doc, 0)), nasty);
	json_decref(doc);
	/* keys are escaped too: column names come from the server */
	jt_reset(&j);
	jt_open(&j, '{');
	jt_key(&j, "a\"b");
	jt_int(&j, 1);
	jt_close(&j, '}');
	doc = read_back(&j);
	assert_non_null(json_object_get(doc, "a\"b"));
	json_decref(doc);
	jt_free(&j);
}

static void assert_written_as(const char *bytes, size_t len, bool binary, const char *expected)
{
	struct json_text j = { 0 };

	jt_bytes(&j, (const uint8_t *)bytes, (int64_t)len, binary);
	assert_string_equal(j.buf, expected);
	jt_free(&j);
}

static void test_not_utf8_is_hex(void **state)
{
	(void)state;
	assert_written_as("caf\xe9", 4, false, "\"\\\\x636166e9\"");	/* Latin-1 */
	assert_written_as("\xc0\xaf", 2, false, "\"\\\\xc0af\"");	/* overlong '/' */
	assert_written_as("\xed\xa0\x80", 3, false, "\"\\\\xeda080\"");	/* surrogate */
	assert_written_as("\xf4\x90\x80\x80", 4, false, "\"\\\\xf4908080\"");	/* > U+10FFFF */
	assert_written_as("ab\xe2\x82", 4, false, "\"\\\\x6162e282\"");	/* cut short */
	assert_written_as("ok", 2, true, "\"\\\\x6f6b\"");		/* binary format */
	assert_written_as("", 0, false, "\"\"");
	assert_written_as(NULL, (size_t)-1, false, "null");		/* SQL NULL */
}

static void test_utf8_validity(void **state)
{
	(void)state;
	assert_true(utf8_valid((const uint8_t *)"\xf4\x8f\xbf\xbf", 4));	/* U+10FFFF */
	assert_true(utf8_valid((const uint8_t *)"\xe0\xa0\x80", 3));		/* U+0800 */
	assert_false(utf8_valid((const uint8_t *)"\xe0\x9f\xbf", 3));		/* overlong */
	assert_false(utf8_valid((const uint8_t *)"\x80", 1));			/* lone continuation */
	assert_false(utf8_valid((const uint8_t *)"\xf5\x80\x80\x80", 4));
}

static void test_reset_and_take(void **state)
{
	struct json_text j = { 0 };
	char *taken;

	(void)state;
	jt_str(&j, "first");
	jt_reset(&j);
	jt_int(&j, 5);		/* no comma after a reset */
	assert_string_equal(j.buf, "5");
	taken = jt_take(&j);
	assert_string_equal(taken, "5");
	assert_null(j.buf);
	assert_int_equal(j.len, 0);
	free(taken);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nesting_and_commas),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_escaping_round_trips),
		cmocka_unit_test(test_not_utf8_is_hex),
		cmocka_unit_test(test_utf8_validity),
		cmocka_unit_test(test_reset_and_take),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
