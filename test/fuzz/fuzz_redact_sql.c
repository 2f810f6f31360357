/*
 * libFuzzer harness for the redact plugin's SQL analysis, driven whole
 * through the plugin ABI (plugins/redact/redact.c: the statement hook, with
 * redact_guard.c, redact_lineage.c, redact_catalog.c, the verdict caches
 * and libpg_query) by the host of fuzz_host.h.  A fixed policy file:
 *   user "agent"   -> strict:  block = all, block_functions, masks on
 *                     public.customers.ssn, customers.email and
 *                     public.orders.card, deny_predicates_on_masked;
 *   user "analyst" -> default: the same without deny_predicates_on_masked;
 *   user "reader"  -> reader:  read_only, block = all, no mask;
 * and a fixed catalog (the masked columns, a view over them, a few
 * relations and built-in function names), given when the plugin asks.
 *
 * Input: the first byte picks the user; the rest is up to four statements
 * separated by NUL bytes, sent in turn as Query messages of one session
 * (after a RELOAD, so each input starts with empty caches: later
 * statements meet the verdicts the earlier ones cached).
 *
 * Each statement gets a verdict: CONTINUE, or BLOCK with 42501 and
 * "pgwarden: blocked by policy "NAME": REASON".  And fail closed: when the
 * plugin lets a statement through, the text parses, and its parse tree
 * (libpg_query, read again here) shows
 *  - no DROP, TRUNCATE, ALTER, GRANT, DO, CREATE EXTENSION, ALTER SYSTEM
 *    or COPY PROGRAM anywhere, and no top-level (or PREPAREd) DELETE or
 *    UPDATE without WHERE;
 *  - for agent and analyst: no function of block_functions anywhere;
 *  - for the reader: only the statement types read_only allows, and no
 *    INSERT/UPDATE/DELETE/MERGE anywhere outside a plain EXPLAIN;
 *  - with masks: no planner statistics or view over masked columns, only
 *    built-in functions; and when a masked table is read, every masked
 *    column (or whole row of it) referenced is a plain top-level output
 *    column of a SELECT (EXPLAIN / PREPARE / DECLARE unwrapped) with no set
 *    operation, INTO, COPY or CREATE TABLE AS - or, for the analyst, in a
 *    predicate of that SELECT - and no NATURAL or USING join merges one.
 */
/* fuzz-build: plugins/redact/redact.c plugins/redact/redact_policy.c plugins/redact/redact_guard.c plugins/redact/redact_cache.c plugins/redact/redact_lineage.c plugins/redact/redact_catalog.c plugins/redact/redact_mask.c plugins/redact/redact_approval.c plugins/redact/redact_notify.c plugins/common/sql_shape.c plugins/common/text_cache.c -- -ljansson -lcrypto -lpg_query -lcurl */
#include <ctype.h>
#include <fnmatch.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>
#include <pg_query.h>

#include "fuzz_host.h"

#define MAX_STATEMENTS 4

static const char policy_text[] =
	"[policy strict]\n"
	"users = agent\n"
	"block = all\n"
	"deny_predicates_on_masked = on\n"
	"block_functions = pg_read_file, pg_ls_dir, lo_export, dblink*\n"
	"mask public.customers.ssn = partial 4\n"
	"mask customers.email = email\n"
	"mask public.orders.card = null\n"
	"\n"
	"[policy reader]\n"
	"users = reader\n"
	"read_only = on\n"
	"block = all\n"
	"\n"
	"[policy default]\n"
	"block = all\n"
	"block_functions = pg_read_file, pg_ls_dir, lo_export, dblink*\n"
	"mask public.customers.ssn = partial 4\n"
	"mask customers.email = email\n"
	"mask public.orders.card = null\n";

/* The masks, as the oracle reads them. */
static const struct {
	const char *schema, *table, *column;
} masks[] = {
	{ "public", "customers", "ssn" },
	{ NULL, "customers", "email" },
	{ "public", "orders", "card" },
};

static const char *const builtins[] = {
	"count", "sum", "max", "min", "avg", "lower", "upper", "length", "substr", "now", "md5", "concat",
	"row_to_json", "to_json", "to_jsonb", "json_agg", "string_agg", "array_agg", "format", "set_config",
	"current_setting", "generate_series", "query_to_xml", "table_to_xml", "pg_read_file", "pg_ls_dir",
	"lo_export", "encode", "convert_to", "split_part", "regexp_replace", "first_value", "random",
	"pg_sleep", "coalesce", "jsonb_build_object", "unnest",
};

static const char *const table_text_functions[] = {
	"query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema", "table_to_xml",
	"table_to_xmlschema", "table_to_xml_and_xmlschema", "cursor_to_xml", "cursor_to_xmlschema",
	"schema_to_xml", "schema_to_xmlschema", "schema_to_xml_and_xmlschema", "database_to_xml",
	"database_to_xmlschema", "database_to_xml_and_xmlschema",
};

static const char *const statistics[] = {
	"pg_stats", "pg_statistic", "pg_stats_ext", "pg_stats_ext_exprs", "pg_statistic_ext_data",
};

static char policy_path[64];
static struct pgw_kv config[2];

/* ---------------- the plugin ---------------- */

static void remove_policy(void)
{
	unlink(policy_path);
}

static void start_plugin(void)
{
	int fd;

	snprintf(policy_path, sizeof(policy_path), "/tmp/fuzz-redact-XXXXXX");
	fd = mkstemp(policy_path);
	if (fd < 0 || write(fd, policy_text, strlen(policy_text)) != (ssize_t)strlen(policy_text))
		abort();
	close(fd);
	atexit(remove_policy);	/* read again at each input's RELOAD */
	config[0] = (struct pgw_kv){ "path", "redact.so" };
	config[1] = (struct pgw_kv){ "policy_file", policy_path };
	if (pgwarden_plugin_init(&fuzz_host_api, &fuzz_plugin, config, 2) != 0 || !fuzz_host.hooks.statement ||
	    !fuzz_host.hooks.reload || !fuzz_host.hooks.session_end) {
		fprintf(stderr, "redact init: %s\n", fuzz_host.error);
		abort();
	}
	fuzz_session.database = "appdb";
}

/* The catalog query's answer (kind, schema, name, column, oid, attnum). */
static void answer_catalog(void)
{
	static const char *const fixed[][6] = {
		{ "column", "public", "customers", "ssn", "16384", "3" },
		{ "column", "public", "customers", "email", "16384", "4" },
		{ "column", "public", "orders", "card", "16390", "3" },
		{ "view", "public", "customer_v", NULL, "16400", NULL },
		{ "relation", "public", "customers", NULL, NULL, NULL },
		{ "relation", "public", "orders", NULL, NULL, NULL },
		{ "relation", "public", "products", NULL, NULL, NULL },
		{ "relation", "public", "customer_v", NULL, NULL, NULL },
		{ "relation", "pg_catalog", "pg_class", NULL, NULL, NULL },
		{ "relation", "pg_catalog", "pg_stats", NULL, NULL, NULL },
	};
	enum { NFIXED = sizeof(fixed) / sizeof(fixed[0]), NBUILTINS = sizeof(builtins) / sizeof(char *) };
	static const char *values[(NFIXED + NBUILTINS) * 6];
	static const char *const names[6] = { "kind", "nspname", "relname", "attname", "oid", "attnum" };
	struct pgw_query_result res = { sizeof(res), NULL, NULL, 6, names, NFIXED + NBUILTINS, values };
	void (*done)(void *, const struct pgw_query_result *) = fuzz_host.query_done;

	for (int r = 0; r < NFIXED; r++)
		memcpy(&values[r * 6], fixed[r], sizeof(fixed[r]));
	for (int b = 0; b < NBUILTINS; b++) {
		const char *row[6] = { "builtin", NULL, builtins[b], NULL, NULL, NULL };
		memcpy(&values[(NFIXED + b) * 6], row, sizeof(row));
	}
	fuzz_host.query_done = NULL;
	done(fuzz_host.query_arg, &res);
}

/* ---------------- the oracle: reading the parse tree again ---------------- */

struct oracle {
	bool strict;			/* deny_predicates_on_masked */
	const char *columns[16];	/* masked column names of the tables read */
	int ncolumns;
	const char *aliases[64];	/* names for rows of masked tables */
	int naliases;
	const char *why;		/* the first way out found */
};

static bool in_list(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; name && i < n; i++) {
		if (strcmp(name, list[i]) == 0)
			return true;
	}
	return false;
}

#define IN(name, array) in_list(name, array, sizeof(array) / sizeof(array[0]))

static void add(const char **list, int *n, int max, const char *name)
{
	if (*n < max && !in_list(name, list, (size_t)*n))
		list[(*n)++] = name;
}

static const char *str(const json_t *v, const char *key)
{
	return json_string_value(json_object_get(v, key));
}

static const char *string_node(const json_t *v)
{
	return str(json_object_get(v, "String"), "sval");
}

/* Calls fn on every object of the tree with its key (NULL at the root). */
static void each_node(const json_t *v, const char *key, void (*fn)(struct oracle *o, const char *key, const json_t *node),
		      struct oracle *o)
{
	const char *k;
	const json_t *child;
	size_t i;

	if (json_is_array(v)) {
		json_array_foreach(v, i, child)
			each_node(child, key, fn, o);
	} else if (json_is_object(v)) {
		fn(o, key, v);
		json_object_foreach((json_t *)v, k, child)
			each_node(child, k, fn, o);
	}
}

static bool is_node_type(const char *key, const json_t *node)
{
	return key && isupper((unsigned char)key[0]) && json_is_object(node);
}

/* Relations: masked tables and what else a masking policy refuses. */
static void note_relation(struct oracle *o, const char *key, const json_t *node)
{
	const char *rel = str(node, "relname"), *schema = str(node, "schemaname");
	const char *alias = str(json_object_get(node, "alias"), "aliasname");
	bool masked = false;

	(void)key;
	if (!rel)
		return;
	if (IN(rel, statistics))
		o->why = "reads planner statistics";
	if (strcmp(rel, "customer_v") == 0 && (!schema || strcmp(schema, "public") == 0))
		o->why = "reads the view over masked columns";
	for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
		if (strcmp(rel, masks[i].table) == 0 && (!masks[i].schema || !schema || strcmp(schema, masks[i].schema) == 0)) {
			add(o->columns, &o->ncolumns, 16, masks[i].column);
			masked = true;
		}
	}
	if (masked) {
		add(o->aliases, &o->naliases, 64, rel);
		if (alias)
			add(o->aliases, &o->naliases, 64, alias);
	}
}

/* Functions a masking policy lets through: built in, by name. */
static void note_function(struct oracle *o, const char *key, const json_t *node)
{
	const json_t *names = json_object_get(node, "funcname");
	const char *name, *schema;

	if (!key || strcmp(key, "FuncCall") != 0)
		return;
	name = string_node(json_array_get(names, json_array_size(names) - 1));
	schema = json_array_size(names) > 1 ? string_node(json_array_get(names, 0)) : NULL;
	if (!name)
		return;
	if (IN(name, table_text_functions) || !IN(name, builtins) || (schema && strcmp(schema, "pg_catalog") != 0))
		o->why = "calls a function that is not an allowed built-in";
}

/* Guardrails (block = all), anywhere in the tree. */
static void note_guarded(struct oracle *o, const char *key, const json_t *node)
{
	static const char *const kinds[] = {
		"TruncateStmt", "GrantStmt", "GrantRoleStmt", "DoStmt", "CreateExtensionStmt", "AlterSystemStmt",
		"RenameStmt",
	};

	if (!is_node_type(key, node))
		return;
	if (strncmp(key, "Drop", 4) == 0 || strncmp(key, "Alter", 5) == 0 || IN(key, kinds))
		o->why = "a guarded statement kind";
	if (strcmp(key, "CopyStmt") == 0 && json_is_true(json_object_get(node, "is_program")))
		o->why = "COPY PROGRAM";
}

/* block_functions (strict and default), anywhere in the tree. */
static void note_blocked_function(struct oracle *o, const char *key, const json_t *node)
{
	char lower[128];	/* as redact_guard.c reads it */
	size_t i;

	if (key && strcmp(key, "FuncCall") == 0) {
		const json_t *names = json_object_get(node, "funcname");
		const char *name = string_node(json_array_get(names, json_array_size(names) - 1));

		for (i = 0; name && name[i] && i + 1 < sizeof(lower); i++)
			lower[i] = (char)tolower((unsigned char)name[i]);
		lower[i] = '\0';
		if (!fnmatch("pg_read_file", lower, 0) || !fnmatch("pg_ls_dir", lower, 0) ||
		    !fnmatch("lo_export", lower, 0) || !fnmatch("dblink*", lower, 0))
			o->why = "a blocked function";
	}
}

static void note_write(struct oracle *o, const char *key, const json_t *node)
{
	static const char *const writes[] = { "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt" };

	if (is_node_type(key, node) && IN(key, writes))
		o->why = "read_only: a write inside";
}

/* The statement, with its type, unwrapped from EXPLAIN / PREPARE / DECLARE. */
static const json_t *unwrap(const json_t *stmt, const char **type)
{
	void *it = json_object_iter((json_t *)stmt);

	*type = NULL;
	while (it) {
		const json_t *node = json_object_iter_value(it);
		*type = json_object_iter_key(it);
		if (strcmp(*type, "ExplainStmt") && strcmp(*type, "PrepareStmt") && strcmp(*type, "DeclareCursorStmt"))
			return node;
		it = json_object_iter(json_object_get(node, "query"));
	}
	return NULL;
}

/* A ColumnRef that carries a masked value: a masked column, a whole row
 * of a masked table (t, t.*) or *. */
static bool masked_ref(const struct oracle *o, const json_t *colref)
{
	const json_t *fields = json_object_get(colref, "fields");
	size_t n = json_array_size(fields);
	const json_t *last = json_array_get(fields, n - 1);
	const char *first = string_node(json_array_get(fields, 0));

	if (json_object_get(last, "A_Star"))
		return n == 1 || in_list(first, o->aliases, (size_t)o->naliases);
	return in_list(string_node(last), o->columns, (size_t)o->ncolumns) ||
	       (n == 1 && in_list(first, o->aliases, (size_t)o->naliases));
}

static void no_masked_ref(struct oracle *o, const char *key, const json_t *node)
{
	if (key && strcmp(key, "ColumnRef") == 0 && masked_ref(o, node))
		o->why = "a masked value outside a plain output column";
}

static void forbid(struct oracle *o, const json_t *v)
{
	each_node(v, NULL, no_masked_ref, o);
}

/* FROM: join conditions are predicates; subqueries and functions carry values. */
static void check_from(struct oracle *o, const json_t *v)
{
	const char *key;
	const json_t *child, *name;
	size_t i;

	if (json_is_array(v)) {
		json_array_foreach(v, i, child)
			check_from(o, child);
		return;
	}
	json_object_foreach((json_t *)v, key, child) {
		if (strcmp(key, "JoinExpr") == 0) {
			if (json_is_true(json_object_get(child, "isNatural")))
				o->why = "a NATURAL join of a masked table";
			json_array_foreach(json_object_get(child, "usingClause"), i, name) {
				if (in_list(string_node(name), o->columns, (size_t)o->ncolumns))
					o->why = "a USING join on a masked column";
			}
		}
		if (strcmp(key, "quals") == 0) {
			if (o->strict)
				forbid(o, child);
		} else if (!strcmp(key, "RangeSubselect") || !strcmp(key, "RangeFunction") ||
			   !strcmp(key, "RangeTableSample") || !strcmp(key, "RangeTableFunc")) {
			forbid(o, child);
		} else if (json_is_object(child) || json_is_array(child)) {
			check_from(o, child);
		}
	}
}

static void check_select(struct oracle *o, const json_t *sel)
{
	static const char *const predicates[] = {
		"whereClause", "havingClause", "groupClause", "sortClause", "distinctClause", "windowClause",
		"limitCount", "limitOffset",
	};
	const char *key, *op = str(sel, "op");
	const json_t *child, *target;
	size_t i;

	if (op && strcmp(op, "SETOP_NONE") != 0) {
		forbid(o, sel);
		return;
	}
	if (json_object_get(sel, "intoClause"))
		o->why = "SELECT INTO from a masked table";
	json_object_foreach((json_t *)sel, key, child) {
		if (strcmp(key, "targetList") == 0) {
			json_array_foreach(child, i, target) {
				const json_t *val = json_object_get(json_object_get(target, "ResTarget"), "val");
				const json_t *colref = json_object_get(val, "ColumnRef");
				const json_t *fields = json_object_get(colref, "fields");

				if (!colref)
					forbid(o, val);
				else if (json_array_size(fields) == 1 &&
					 in_list(string_node(json_array_get(fields, 0)), o->aliases, (size_t)o->naliases) &&
					 !in_list(string_node(json_array_get(fields, 0)), o->columns, (size_t)o->ncolumns))
					o->why = "a whole row of a masked table as an output column";
			}
		} else if (strcmp(key, "fromClause") == 0) {
			check_from(o, child);
		} else if (IN(key, predicates)) {
			if (o->strict)
				forbid(o, child);
		} else {
			forbid(o, child);	/* WITH, VALUES, ...: no way out for a masked value */
		}
	}
}

static void check_lineage(struct oracle *o, const json_t *stmt)
{
	const char *type;
	const json_t *node = unwrap(stmt, &type);

	if (!node)
		return;
	if (strcmp(type, "SelectStmt") == 0)
		check_select(o, node);
	else if (strcmp(type, "CopyStmt") == 0 || strcmp(type, "CreateTableAsStmt") == 0)
		o->why = "COPY or CREATE TABLE AS with a masked table";
	else
		forbid(o, node);
}

static bool read_only_type(const char *type, const json_t *node)
{
	static const char *const allowed[] = {
		"VariableShowStmt", "ExplainStmt", "VariableSetStmt", "DeclareCursorStmt", "FetchStmt",
		"ClosePortalStmt", "PrepareStmt", "ExecuteStmt", "DeallocateStmt", "DiscardStmt",
	};

	if (strcmp(type, "SelectStmt") == 0)
		return !json_object_get(node, "intoClause");
	if (strcmp(type, "TransactionStmt") == 0)
		return !str(node, "kind") || !strstr(str(node, "kind"), "PREPARE");
	return IN(type, allowed);
}

/* Why the plugin should not have let this statement through, or NULL. */
static const char *wrongly_allowed(const char *sql, const char *user)
{
	PgQueryParseResult parsed = pg_query_parse(sql);
	json_t *tree = parsed.error ? NULL : json_loads(parsed.parse_tree, 0, NULL);
	const json_t *stmts = json_object_get(tree, "stmts"), *item;
	struct oracle o = { .strict = strcmp(user, "agent") == 0 };
	size_t i;

	pg_query_free_parse_result(parsed);
	if (!tree)
		return "a text that does not parse";
	each_node(stmts, NULL, note_guarded, &o);
	json_array_foreach(stmts, i, item) {
		const json_t *stmt = json_object_get(item, "stmt");
		void *it = json_object_iter((json_t *)stmt);
		const char *type = it ? json_object_iter_key(it) : "";
		const json_t *node = it ? json_object_iter_value(it) : NULL;
		const char *inner;
		const json_t *body = unwrap(stmt, &inner);

		/* a DELETE / UPDATE that runs (not under a plain EXPLAIN) */
		if (strcmp(type, "ExplainStmt") != 0 && body && (!strcmp(inner, "DeleteStmt") || !strcmp(inner, "UpdateStmt")) &&
		    !json_object_get(body, "whereClause"))
			o.why = "DELETE or UPDATE without WHERE";
		if (strcmp(user, "reader") == 0) {
			if (!read_only_type(type, node))
				o.why = "read_only: a statement it does not allow";
			if (strcmp(type, "ExplainStmt") != 0)
				each_node(stmt, NULL, note_write, &o);
		}
	}
	if (strcmp(user, "reader") != 0) {
		each_node(stmts, NULL, note_blocked_function, &o);
		each_node(stmts, NULL, note_relation, &o);
		each_node(stmts, NULL, note_function, &o);
		if (o.naliases) {
			json_array_foreach(stmts, i, item)
				check_lineage(&o, json_object_get(item, "stmt"));
		}
	}
	json_decref(tree);
	return o.why;
}

/* ---------------- one statement ---------------- */

static void run_statement(const char *sql, const char *user, const char *policy)
{
	struct pgw_statement stmt = { sizeof(stmt), sql, strlen(sql), PGW_STMT_QUERY, "" };
	char prefix[128];
	enum pgw_decision d;
	const char *why;

	fuzz_request_reset();
	d = fuzz_host.hooks.statement(&fuzz_plugin, &fuzz_session, &fuzz_request, &stmt);
	if (d == PGW_LATER) {
		/* waiting for the catalog: answer the lookup */
		if (!fuzz_host.query_done || fuzz_request.completed)
			abort();
		answer_catalog();
		if (fuzz_request.completed != 1) {
			fprintf(stderr, "a held statement was not answered once the catalog came\n");
			abort();
		}
		d = fuzz_request.decision;
	}
	if (getenv("FUZZ_REDACT_VERBOSE"))
		fprintf(stderr, "%s: %s -> %d %s\n", user, sql, (int)d, fuzz_request.message);
	snprintf(prefix, sizeof(prefix), "pgwarden: blocked by policy \"%s\": ", policy);
	if (d == PGW_BLOCK) {
		if (fuzz_request.errors != 1 || strcmp(fuzz_request.sqlstate, "42501") != 0 ||
		    strncmp(fuzz_request.message, prefix, strlen(prefix)) != 0 || !fuzz_request.message[strlen(prefix)]) {
			fprintf(stderr, "blocked without a reason: %s \"%s\"\n", fuzz_request.sqlstate, fuzz_request.message);
			abort();
		}
	} else if (d != PGW_CONTINUE || fuzz_request.errors) {
		fprintf(stderr, "decision %d (errors %d): neither CONTINUE nor BLOCK\n", (int)d, fuzz_request.errors);
		abort();
	} else if ((why = wrongly_allowed(sql, user))) {
		fprintf(stderr, "%s let through: %s\n  %s\n", user, why, sql);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const users[] = { "agent", "analyst", "reader" };
	static const char *const policies[] = { "strict", "default", "reader" };
	static bool started;
	char *text, *sql;
	int who, n = 0;

	if (!started) {
		start_plugin();
		started = true;
	}
	if (size < 1)
		return 0;
	who = data[0] % 3;
	/* a RELOAD: empty verdict caches, the catalog asked again */
	if (fuzz_host.hooks.reload(&fuzz_plugin, config, 2) != 0)
		abort();
	fuzz_session.user = users[who];
	text = malloc(size);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	for (sql = text; n < MAX_STATEMENTS && sql < text + size - 1; sql += strlen(sql) + 1, n++) {
		if (*sql)
			run_statement(sql, users[who], policies[who]);
	}
	if (n == 0)
		run_statement("", users[who], policies[who]);
	free(text);
	fuzz_host.hooks.session_end(&fuzz_plugin, &fuzz_session, "fuzz");
	return 0;
}
