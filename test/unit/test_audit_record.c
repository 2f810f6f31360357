/*
 * Unit tests for a statement's audit record (plugins/audit/audit_record.c):
 * what the loop captures comes out of the writer's rendering as the same
 * values, keys in the record's order, null ones left out, text that is not
 * UTF-8 kept as bytea hex, and a capture buffer reused for larger and
 * smaller statements.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit_record.h"

/* The capture rendered as a JSON object, read back with jansson. */
static json_t *render(const struct capture_buf *buf)
{
	struct json_text j = { 0 };
	json_t *obj;

	jt_open(&j, '{');
	audit_capture_render(buf->data, &j);
	jt_close(&j, '}');
	obj = json_loads(j.buf, 0, NULL);
	assert_non_null(obj);
	jt_free(&j);
	return obj;
}

static void test_values_and_key_order(void **state)
{
	struct capture_buf buf = { 0 };
	struct statement_values v = { 0 };
	const char *expect_keys[] = { "session", "start_us", "duration_us", "sql", "statement_index", "params",
				      "command_tag", "rows_returned", "rows_affected", "bytes_returned", "columns",
				      "result_sha256", "decision", "run" };
	const char *key;
	json_t *obj, *value;
	size_t i = 0;

	(void)state;
	v.ints[CAP_SESSION] = 7;
	v.ints[CAP_START_US] = 1700000000000001;
	v.ints[CAP_DURATION_US] = 42;
	v.ints[CAP_ROWS_RETURNED] = 3;
	v.ints[CAP_BYTES_RETURNED] = -1;	/* any int64 goes through */
	v.texts[CAP_SQL] = "SELECT \"a\"\n FROM t";
	v.texts[CAP_PARAMS_JSON] = "[{\"format\":\"text\",\"length\":6}]";
	v.texts[CAP_COMMAND_TAG] = "SELECT 3";
	v.texts[CAP_COLUMNS_JSON] = "[\"a\"]";
	v.texts[CAP_MASKED_JSON] = "";		/* empty JSON part: null, left out */
	v.texts[CAP_DECISION] = "allowed";
	v.texts[CAP_RUN] = "0123abcd";
	v.has_digest = true;
	memset(v.digest, 0xab, sizeof(v.digest));
	assert_true(audit_capture(&buf, &v) > 0);
	assert_string_equal(audit_capture_sql(buf.data), "SELECT \"a\"\n FROM t");
	obj = render(&buf);
	json_object_foreach(obj, key, value) {
		assert_true(i < sizeof(expect_keys) / sizeof(expect_keys[0]));
		assert_string_equal(key, expect_keys[i++]);
	}
	assert_int_equal(i, sizeof(expect_keys) / sizeof(expect_keys[0]));
	assert_int_equal(json_integer_value(json_object_get(obj, "start_us")), 1700000000000001);
	assert_int_equal(json_integer_value(json_object_get(obj, "bytes_returned")), -1);
	assert_string_equal(json_string_value(json_object_get(obj, "sql")), "SELECT \"a\"\n FROM t");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(obj, "params"), 0),
							   "length")), 6);
	assert_string_equal(json_string_value(json_object_get(obj, "result_sha256")),
			    "abababababababababababababababababababababababababababababababab");
	json_decref(obj);
	audit_capture_buf_free(&buf);
}

static void test_buffer_reused_and_not_utf8(void **state)
{
	struct capture_buf buf = { 0 };
	struct statement_values big = { 0 }, small = { 0 };
	char long_sql[5000];
	json_t *obj;

	(void)state;
	memset(long_sql, 'x', sizeof(long_sql) - 1);
	long_sql[sizeof(long_sql) - 1] = '\0';
	big.texts[CAP_SQL] = long_sql;
	big.texts[CAP_ERROR] = "boom";
	audit_capture(&buf, &big);
	small.texts[CAP_SQL] = "SELECT '\xff'";	/* not UTF-8 */
	audit_capture(&buf, &small);
	obj = render(&buf);
	assert_string_equal(json_string_value(json_object_get(obj, "sql")), "\\x53454c4543542027ff27");
	assert_null(json_object_get(obj, "error"));	/* nothing of the earlier capture */
	assert_null(json_object_get(obj, "result_sha256"));
	json_decref(obj);
	small.texts[CAP_SQL] = NULL;
	audit_capture(&buf, &small);
	assert_null(audit_capture_sql(buf.data));
	audit_capture_buf_free(&buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values_and_key_order),
		cmocka_unit_test(test_buffer_reused_and_not_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
