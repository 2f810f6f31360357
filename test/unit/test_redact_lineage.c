/*
 * Unit tests for the redact plugin's fail-closed lineage check
 * (plugins/redact/redact_lineage.c): statements parsed with libpg_query,
 * checked against a policy masking users.ssn and users.email.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pg_query.h>
#include <stdlib.h>
#include <string.h>

#include "redact_lineage.h"

static struct mask_rule masks[] = {
	{ .schema = NULL, .table = "users", .column = "ssn", .method = MASK_PARTIAL, .keep = 4 },
	{ .schema = "public", .table = "users", .column = "email", .method = MASK_EMAIL },
};

static struct policy policy = { .name = "agents", .masks = masks, .nmasks = 2 };

static char *views[] = { "public.users_v" };
static char *builtins[] = { "upper", "count", "row_to_json", "lower", "query_to_xml" };
static char *relations[] = { "public.users", "other.users", "public.orders", "public.users_v", "pg_catalog.pg_stats" };
static struct lineage_catalog catalog = {
	.views = views, .nviews = 1, .builtins = builtins, .nbuiltins = 5, .relations = relations, .nrelations = 5,
};

/* The verdict's reason, or "" when the statement passes. */
static const char *check(const char *sql, bool deny_predicates)
{
	static struct guard_verdict v;
	PgQueryParseResult parsed = pg_query_parse(sql);
	json_t *tree;

	assert_null(parsed.error);
	tree = json_loads(parsed.parse_tree, 0, NULL);
	pg_query_free_parse_result(parsed);
	assert_non_null(tree);
	memset(&v, 0, sizeof(v));
	policy.deny_predicates_on_masked = deny_predicates;
	lineage_check(tree, &policy, &catalog, &v);
	json_decref(tree);
	return v.blocked ? v.reason : "";
}

static void assert_passes(const char *sql)
{
	const char *why = check(sql, false);
	if (why[0])
		fail_msg("%s: blocked (%s)", sql, why);
}

static void assert_blocked(const char *sql, const char *fragment)
{
	const char *why = check(sql, false);
	if (!strstr(why, fragment))
		fail_msg("%s: wanted a block with \"%s\", got \"%s\"", sql, fragment, why);
}

static void test_plain_output_columns_pass(void **state)
{
	(void)state;
	assert_passes("SELECT ssn, email FROM users");
	assert_passes("SELECT u.ssn FROM public.users u JOIN orders o ON o.user_id = u.id");
	assert_passes("SELECT * FROM users");
	assert_passes("SELECT u.* FROM users u");
	assert_passes("SELECT ssn FROM users WHERE ssn LIKE '1%' ORDER BY ssn");
	assert_passes("SELECT count(*) FROM users");
	assert_passes("WITH c AS (SELECT id FROM users) SELECT * FROM c");
	assert_passes("SELECT upper(name) FROM orders");	/* no masked table read */
	assert_passes("DELETE FROM users WHERE id = 1");
	assert_passes("EXPLAIN SELECT ssn FROM users");
}

static void test_ways_out_are_blocked(void **state)
{
	(void)state;
	assert_blocked("SELECT upper(ssn) FROM users", "an expression uses masked column: ssn");
	assert_blocked("SELECT ssn::bytea FROM users", "masked column: ssn");
	assert_blocked("SELECT u FROM users u", "whole row of: u");
	assert_blocked("SELECT row_to_json(u) FROM users u", "whole row of: u");
	assert_blocked("SELECT row_to_json(u.*) FROM users u", "whole row of: u");
	assert_blocked("SELECT x FROM (SELECT ssn AS x FROM users) s", "a subquery or function in FROM");
	assert_blocked("WITH c AS (SELECT ssn FROM users) SELECT * FROM c", "a CTE");
	assert_blocked("SELECT ssn FROM users UNION SELECT 'x'", "a set operation");
	assert_blocked("SELECT (SELECT ssn FROM users LIMIT 1)", "masked column: ssn");
	assert_blocked("VALUES ((SELECT ssn FROM users LIMIT 1))", "a VALUES list uses masked column: ssn");
	assert_blocked("VALUES (1), ((SELECT u FROM users u))", "a VALUES list uses a whole row of: u");
	assert_blocked("SELECT * FROM users a NATURAL JOIN users b", "NATURAL or USING join");
	assert_blocked("COPY users TO STDOUT", "copies a table");
	assert_blocked("CREATE TABLE t AS SELECT * FROM users", "copies a table");
	assert_blocked("SELECT ssn INTO t FROM users", "SELECT INTO");
	assert_blocked("INSERT INTO orders SELECT ssn FROM users", "a write uses masked column");
	assert_blocked("UPDATE users SET name = 'x' WHERE id = 1 RETURNING email", "a write uses masked column");
	assert_blocked("PREPARE p AS SELECT lower(email) FROM users", "masked column: email");
	assert_blocked("EXPLAIN ANALYZE SELECT lower(email) FROM users", "masked column: email");
}

static void test_catalog_rules(void **state)
{
	(void)state;
	assert_blocked("SELECT * FROM users_v", "a view over masked columns");
	assert_blocked("SELECT * FROM pg_stats", "planner statistics");
	assert_blocked("SELECT my_func(1)", "not a built-in function");
	assert_blocked("SELECT public.upper('x')", "not a built-in function");
	assert_blocked("SELECT query_to_xml('select 1', true, false, '')", "reads tables by name");
	assert_blocked("SELECT * FROM made_later", "created after the masking catalog");
	assert_passes("SELECT pg_catalog.upper('x')");
	assert_passes("INSERT INTO made_later VALUES (1)");	/* written, not read */
}

static void test_schema_matching(void **state)
{
	(void)state;
	/* a mask with a schema matches that schema (or an unqualified name) */
	assert_passes("SELECT lower(email) FROM other.users");
	assert_blocked("SELECT lower(email) FROM public.users", "masked column: email");
	/* a mask without one matches every schema */
	assert_blocked("SELECT upper(ssn) FROM public.users", "masked column: ssn");
}

static void test_deny_predicates(void **state)
{
	(void)state;
	assert_string_equal(check("SELECT id FROM users WHERE ssn LIKE '1%'", false), "");
	assert_non_null(strstr(check("SELECT id FROM users WHERE ssn LIKE '1%'", true), "a predicate"));
	assert_non_null(strstr(check("SELECT id FROM users ORDER BY email", true), "a predicate"));
	assert_non_null(strstr(check("SELECT u.id FROM users u JOIN orders o ON o.x = u.ssn", true),
			       "a join condition"));
}

/* A SelectStmt field this checker was not written for (a newer parser may
 * add one) must not carry a masked column through: grafted on by hand. */
static void test_unknown_select_fields_fail_closed(void **state)
{
	struct guard_verdict v = { 0 };
	PgQueryParseResult parsed = pg_query_parse("SELECT 1 FROM users WHERE ssn = '1'");
	json_t *tree, *sel;

	(void)state;
	assert_null(parsed.error);
	tree = json_loads(parsed.parse_tree, 0, NULL);
	pg_query_free_parse_result(parsed);
	sel = json_object_get(json_array_get(json_object_get(tree, "stmts"), 0), "stmt");
	sel = json_object_get(sel, "SelectStmt");
	assert_non_null(sel);
	/* the WHERE clause, moved to a field nobody knows */
	json_object_set(sel, "futureClause", json_object_get(sel, "whereClause"));
	json_object_del(sel, "whereClause");
	policy.deny_predicates_on_masked = false;
	lineage_check(tree, &policy, &catalog, &v);
	json_decref(tree);
	assert_true(v.blocked);
	assert_non_null(strstr(v.reason, "a part of SELECT the checker does not know uses masked column: ssn"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_output_columns_pass),
		cmocka_unit_test(test_ways_out_are_blocked),
		cmocka_unit_test(test_catalog_rules),
		cmocka_unit_test(test_schema_matching),
		cmocka_unit_test(test_deny_predicates),
		cmocka_unit_test(test_unknown_select_fields_fail_closed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
