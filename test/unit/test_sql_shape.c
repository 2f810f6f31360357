/*
 * Unit tests for the statement shape key (plugins/common/sql_shape.c),
 * checked against libpg_query's own normalization.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pg_query.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql_shape.h"

static char *normalized(const char *sql)
{
	PgQueryNormalizeResult r = pg_query_normalize(sql);
	char *out = r.error ? NULL : strdup(r.normalized_query);

	pg_query_free_normalize_result(r);
	return out;
}

/* The key, with integer marks shown as '#' and string marks as '?', or NULL
 * for no key. */
static const char *shown_key(const char *sql)
{
	static char key[512];

	if (!sql_shape_key(sql, key, sizeof(key)))
		return NULL;
	for (char *p = key; *p; p++) {
		if (*p == SQL_SHAPE_INTEGER)
			*p = '#';
		else if (*p == SQL_SHAPE_STRING)
			*p = '?';
	}
	return key;
}

static bool agrees_with_normalize(const char *sql)
{
	char key[512];
	char *norm = normalized(sql);
	bool agrees = norm && sql_shape_key(sql, key, sizeof(key)) && sql_shape_agrees(key, norm);

	free(norm);
	return agrees;
}

static void test_literals_become_marks(void **state)
{
	(void)state;
	assert_string_equal(shown_key("SELECT abalance FROM pgbench_accounts WHERE aid = 12345;"),
			    "SELECT abalance FROM pgbench_accounts WHERE aid = #;");
	assert_string_equal(shown_key("UPDATE t SET v = 'it''s', w = 'x' WHERE id IN (1,22)"),
			    "UPDATE t SET v = ?, w = ? WHERE id IN (#,#)");
	/* names, parameters, decimals and exponents are kept as they are */
	assert_string_equal(shown_key("SELECT t1.c2, $1, 1.5, .5, 1e5, \"a\"\"9\" FROM t1"),
			    "SELECT t1.c2, $1, 1.5, .5, 1e5, \"a\"\"9\" FROM t1");
	/* whitespace is part of the shape */
	assert_string_equal(shown_key("SELECT  1\n"), "SELECT  #\n");
}

static void test_texts_the_scan_does_not_read_get_no_key(void **state)
{
	static const char *const texts[] = {
		"SELECT E'a\\nb'",		/* escape string */
		"SELECT 'a\\'",			/* backslash: standard_conforming_strings decides */
		"SELECT U&'d\\0061t'",		/* unicode string */
		"SELECT U&\"d!0061t\" UESCAPE '!'",
		"SELECT B'101', X'1F', N'x'",	/* prefixed strings */
		"SELECT $$a$$",			/* dollar quotes */
		"SELECT $q$a$q$",
		"SELECT 1 -- comment",
		"SELECT /* comment */ 1",
		"SELECT 'caf\xc3\xa9'",		/* bytes outside ASCII */
		"SELECT '\x01'",
		"SELECT 'unterminated",
		"SELECT \"unterminated",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		if (shown_key(texts[i]))
			fail_msg("a key for %s: %s", texts[i], shown_key(texts[i]));
	}
}

static void test_key_longer_than_buffer_is_refused(void **state)
{
	char key[8];

	(void)state;
	assert_false(sql_shape_key("SELECT 1, 2, 3", key, sizeof(key)));
	assert_true(sql_shape_key("SELECT", key, sizeof(key)));
}

static void test_normalize_must_agree(void **state)
{
	(void)state;
	assert_true(agrees_with_normalize("SELECT abalance FROM pgbench_accounts WHERE aid = 12345;"));
	assert_true(agrees_with_normalize("SELECT 1 LIMIT 3 OFFSET 2"));	/* numbered out of order */
	assert_true(agrees_with_normalize("SELECT $2, 5, 'x'"));
	/* what normalize keeps, folds or joins differently */
	assert_false(agrees_with_normalize("SELECT a FROM t ORDER BY 1"));
	assert_true(agrees_with_normalize("SELECT -1, 2 - -3, 4 -5"));	/* unary minus folded */
	assert_false(agrees_with_normalize("SELECT - 1"));
	assert_false(agrees_with_normalize("SELECT 'a'\n'b'"));
	assert_false(agrees_with_normalize("SELECT x::varchar(10) FROM t"));
	assert_false(agrees_with_normalize("FETCH 5 FROM c"));
	assert_true(sql_shape_agrees("SELECT \x01, \x02", "SELECT $1, $2"));
	assert_false(sql_shape_agrees("SELECT \x01", "SELECT 1"));
	assert_false(sql_shape_agrees("SELECT \x01", "SELECT $1 "));
	assert_false(sql_shape_agrees("SELECT \x01 ", "SELECT $1"));
}

/* template with its "%s" marks replaced by the values in turn */
static void fill(char *out, size_t size, const char *template, const char *const values[3])
{
	size_t used = 0;
	int next = 0;

	for (const char *p = template; *p && used + 1 < size; p++) {
		if (p[0] == '%' && p[1] == 's') {
			used += (size_t)snprintf(out + used, size - used, "%s", values[next++]);
			p++;
		} else {
			out[used++] = *p;
		}
	}
	out[used < size ? used : size - 1] = '\0';
}

/*
 * What the caches rely on: two texts with one key, where normalize agreed
 * with the key of the first, normalize to the same text.  Each template's
 * %s is filled with literal values of different kinds and lengths.
 */
static void test_same_key_means_same_normalized_text(void **state)
{
	static const char *const templates[] = {
		"SELECT * FROM t WHERE id = %s",
		"SELECT a, %s FROM t WHERE b = 'x' LIMIT %s",
		"INSERT INTO t VALUES (%s, %s) ON CONFLICT (id) DO UPDATE SET v = %s",
		"UPDATE t SET v = %s WHERE id = %s RETURNING v",
		"DELETE FROM t WHERE id BETWEEN %s AND %s",
		"SELECT %s::int, %s::varchar(10), CAST(%s AS text)",
		"SELECT x FROM t WHERE x IN (%s, %s) ORDER BY x DESC OFFSET %s",
		"WITH c AS (SELECT %s AS v) SELECT v FROM c UNION ALL SELECT %s",
		"SET statement_timeout = %s",
		"SELECT set_config('role', %s, false)",
		"SELECT * FROM t WHERE d > now() - interval %s",
		"SELECT 1 FROM t GROUP BY a HAVING count(*) > %s",
		"SELECT %s; SELECT %s",
		"SELECT ARRAY[%s, %s][%s]",
		"SELECT f(%s) OVER (ROWS %s PRECEDING)",
		"SELECT x FROM t TABLESAMPLE SYSTEM (%s)",
		"SELECT %s\n%s",
		"SELECT a FROM t ORDER BY %s",
		"SELECT -%s, + %s",
		"SELECT x::numeric(%s, %s) FROM t",
		"SELECT %s%s", "SELECT %s.%s", "SELECT %s AS x, (%s)", "SELECT x[%s:%s] FROM t",
		"VALUES (%s), (%s)", "SELECT %s::bit(%s)", "SELECT 'a' %s", "SELECT %s 'x'",
		"SELECT %s e", "COPY t FROM %s", "CREATE TABLE x (a varchar(%s))", "ALTER ROLE r PASSWORD %s",
		"SELECT %s IS NOT NULL, %s NOTNULL", "SELECT x FROM t FETCH FIRST %s ROWS ONLY",
		"SELECT %s COLLATE \"C\"", "SELECT 1 FROM t WHERE a = %s\n%s", "SELECT %s\n'z'",
		"DECLARE c CURSOR FOR SELECT %s", "EXPLAIN SELECT %s", "SELECT timestamp %s",
		"SELECT %s::interval hour", "CREATE SEQUENCE s INCREMENT %s", "SELECT $1 + %s",
		"UPDATE t SET a = a + -%s WHERE id = -%s", "SELECT -%s::int, 1 -%s", "SELECT x FROM t LIMIT -%s",
		"SELECT -%s -%s", "SELECT - -%s", "SELECT a-%s, (-%s)", "SELECT %s-%s",
	};
	static const char *const values[] = {
		"0", "7", "42", "2147483647", "2147483648", "99999999999999999999999", "007",
		"'x'", "''", "'it''s'", "'1 day'", "'a b\nc'", "'role'", "'--not a comment'",
		"'/*'", "'\"'", "'$$'", "1.5", "1e3", "-1", "'2000-01-01'", "0000000000002147483648",
	};
	const size_t nvalues = sizeof(values) / sizeof(values[0]);
	unsigned checked = 0;

	(void)state;
	for (size_t t = 0; t < sizeof(templates) / sizeof(templates[0]); t++) {
		for (size_t a = 0; a < nvalues; a++) {
			for (size_t b = 0; b < nvalues; b++) {
				char sql_a[512], sql_b[512], key_a[512], key_b[512];
				char *norm_a, *norm_b;

				const char *const fill_a[3] = { values[a], values[b], values[a] };
				const char *const fill_b[3] = { values[b], values[a], values[(a + b) % nvalues] };

				fill(sql_a, sizeof(sql_a), templates[t], fill_a);
				fill(sql_b, sizeof(sql_b), templates[t], fill_b);
				if (!sql_shape_key(sql_a, key_a, sizeof(key_a)) ||
				    !sql_shape_key(sql_b, key_b, sizeof(key_b)) || strcmp(key_a, key_b) != 0)
					continue;
				norm_a = normalized(sql_a);
				if (norm_a && sql_shape_agrees(key_a, norm_a)) {
					norm_b = normalized(sql_b);
					if (!norm_b || strcmp(norm_a, norm_b) != 0)
						fail_msg("one key, two shapes:\n%s\n%s", sql_a, sql_b);
					free(norm_b);
					checked++;
				}
				free(norm_a);
			}
		}
	}
	/* the property was exercised, not skipped */
	assert_true(checked > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literals_become_marks),
		cmocka_unit_test(test_texts_the_scan_does_not_read_get_no_key),
		cmocka_unit_test(test_key_longer_than_buffer_is_refused),
		cmocka_unit_test(test_normalize_must_agree),
		cmocka_unit_test(test_same_key_means_same_normalized_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
