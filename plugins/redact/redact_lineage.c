/*
 * Fail-closed lineage over a libpg_query parse tree (see redact_lineage.h).
 *
 * Names, not OIDs: a relation reference matches a mask rule by table name
 * (and schema, when both give one: an unqualified reference matches a rule
 * for any schema, as the search_path could pick it); a column reference
 * matches by its last name part.  Over-matching only blocks more.
 */
#include "redact_lineage.h"

#include <stdio.h>
#include <string.h>

#define MAX_NAMES 256

/* What the statement reads of masked tables. */
struct scope {
	const struct policy *p;
	const struct lineage_catalog *cat;
	struct guard_verdict *v;
	const char *aliases[MAX_NAMES];	/* names for rows of masked tables (alias or relname) */
	int naliases;
	const char *columns[MAX_NAMES];	/* masked column names of those tables */
	int ncolumns;
	const char *ctes[MAX_NAMES];	/* WITH names: relations of the statement itself */
	int nctes;
};

static const char *const statistics_relations[] = {
	"pg_stats", "pg_statistic", "pg_stats_ext", "pg_stats_ext_exprs", "pg_statistic_ext_data",
};

static const char *const table_text_functions[] = {
	"query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema", "table_to_xml",
	"table_to_xmlschema", "table_to_xml_and_xmlschema", "cursor_to_xml", "cursor_to_xmlschema",
	"schema_to_xml", "schema_to_xmlschema", "schema_to_xml_and_xmlschema", "database_to_xml",
	"database_to_xmlschema", "database_to_xml_and_xmlschema",
};

static void block(struct scope *sc, const char *what, const char *name)
{
	if (sc->v->blocked)
		return;
	sc->v->blocked = true;
	snprintf(sc->v->reason, sizeof(sc->v->reason), "%s%s", what, name);
}

static bool in_list(const char *name, const char *const *list, int n)
{
	for (int i = 0; i < n; i++) {
		if (strcmp(name, list[i]) == 0)
			return true;
	}
	return false;
}

static void add_name(const char **list, int *n, const char *name)
{
	if (*n < MAX_NAMES && !in_list(name, list, *n))
		list[(*n)++] = name;
}

/* ---------------- relations ---------------- */

static bool rule_matches(const struct mask_rule *m, const char *schema, const char *rel)
{
	return strcmp(m->table, rel) == 0 && (!m->schema || !schema || strcmp(m->schema, schema) == 0);
}

/* rel (in schema, or any schema when unqualified) among "schema.name"s. */
static bool in_catalog_list(char *const *list, int n, const char *schema, const char *rel)
{
	char full[300];

	snprintf(full, sizeof(full), "%s.%s", schema ? schema : "", rel);
	for (int i = 0; i < n; i++) {
		const char *dot = strchr(list[i], '.');
		if (schema ? strcmp(list[i], full) == 0 : dot && strcmp(dot + 1, rel) == 0)
			return true;
	}
	return false;
}

static bool is_guarded_view(const struct scope *sc, const char *schema, const char *rel)
{
	return sc->cat && in_catalog_list(sc->cat->views, sc->cat->nviews, schema, rel);
}

/* A relation read that the lookup did not see: it may be a view created
 * since, whose output carries no origin the masking knows. */
static bool unknown_relation(const struct scope *sc, const char *schema, const char *rel)
{
	if (!sc->cat || (!schema && in_list(rel, sc->ctes, sc->nctes)))
		return false;
	return !in_catalog_list(sc->cat->relations, sc->cat->nrelations, schema, rel);
}

/* A relation reference: any object with "relname" (RangeVar, also as the
 * unwrapped "relation" of INSERT/UPDATE/DELETE/COPY). */
static void note_relation(struct scope *sc, const json_t *rv, bool read)
{
	const char *rel = json_string_value(json_object_get(rv, "relname"));
	const char *schema = json_string_value(json_object_get(rv, "schemaname"));
	const char *alias = json_string_value(json_object_get(json_object_get(rv, "alias"), "aliasname"));
	bool masked = false;

	if (!rel)
		return;
	if (in_list(rel, statistics_relations, (int)(sizeof(statistics_relations) / sizeof(char *))))
		block(sc, "reads planner statistics (sample values of masked columns): ", rel);
	if (is_guarded_view(sc, schema, rel))
		block(sc, "reads a view over masked columns: ", rel);
	if (read && unknown_relation(sc, schema, rel))
		block(sc, "reads a relation created after the masking catalog was read (RELOAD): ", rel);
	for (int i = 0; i < sc->p->nmasks; i++) {
		if (rule_matches(&sc->p->masks[i], schema, rel)) {
			add_name(sc->columns, &sc->ncolumns, sc->p->masks[i].column);
			masked = true;
		}
	}
	if (masked) {
		add_name(sc->aliases, &sc->naliases, rel);
		if (alias)
			add_name(sc->aliases, &sc->naliases, alias);
	}
}

/* Not a built-in: any schema but pg_catalog named, or a name pg_catalog
 * does not have (an allow-list: a function created after the catalog
 * lookup is refused too). */
static bool user_function(const struct scope *sc, const char *schema, const char *name)
{
	if (schema && strcmp(schema, "pg_catalog") != 0)
		return true;
	return !sc->cat || !in_list(name, (const char *const *)sc->cat->builtins, sc->cat->nbuiltins);
}

static void check_function(struct scope *sc, const json_t *call)
{
	const char *schema;
	const char *name = tree_function_name(call, &schema);

	if (!name)
		return;
	if (in_list(name, table_text_functions, (int)(sizeof(table_text_functions) / sizeof(char *))))
		block(sc, "function reads tables by name: ", name);
	else if (user_function(sc, schema, name))
		block(sc, "not a built-in function (it could read masked columns): ", name);
}

/* The names WITH gives to its queries, anywhere in the tree. */
static void collect_ctes(struct scope *sc, const json_t *v)
{
	const char *key;
	const json_t *child;
	size_t i;

	if (json_is_array(v)) {
		json_array_foreach(v, i, child)
			collect_ctes(sc, child);
		return;
	}
	if (!json_is_object(v))
		return;
	json_object_foreach((json_t *)v, key, child) {
		if (strcmp(key, "ctename") == 0 && json_is_string(child))
			add_name(sc->ctes, &sc->nctes, json_string_value(child));
		collect_ctes(sc, child);
	}
}

/* First pass: the relations and functions of the whole tree; read: below
 * a FROM (or DELETE ... USING), where relations are read. */
static void collect(struct scope *sc, const json_t *v, bool read)
{
	const char *key;
	const json_t *child;
	size_t i;

	if (json_is_array(v)) {
		json_array_foreach(v, i, child)
			collect(sc, child, read);
		return;
	}
	if (!json_is_object(v))
		return;
	if (json_object_get(v, "relname"))
		note_relation(sc, v, read);
	json_object_foreach((json_t *)v, key, child) {
		if (strcmp(key, "FuncCall") == 0)
			check_function(sc, child);
		collect(sc, child, read || !strcmp(key, "fromClause") || !strcmp(key, "usingClause"));
	}
}

/* ---------------- column references ---------------- */

enum ref_kind { REF_NONE, REF_MASKED_COLUMN, REF_WHOLE_ROW };

/* t.* or *: the last name part is A_Star. */
static bool is_star(const json_t *colref)
{
	const json_t *fields = json_object_get(colref, "fields");
	return json_object_get(json_array_get(fields, json_array_size(fields) - 1), "A_Star") != NULL;
}

/* What a ColumnRef names: a masked column, a whole row of a masked table
 * (t, t.*, *), or neither. */
static enum ref_kind classify(const struct scope *sc, const json_t *colref, const char **name)
{
	const json_t *fields = json_object_get(colref, "fields");
	size_t n = json_array_size(fields);
	const json_t *last = json_array_get(fields, n - 1);
	const char *first = tree_string(json_array_get(fields, 0));

	*name = tree_string(last);
	if (is_star(colref)) {
		*name = n > 1 ? first : "*";
		return n == 1 || (first && in_list(first, sc->aliases, sc->naliases)) ? REF_WHOLE_ROW : REF_NONE;
	}
	if (!*name)
		return REF_NONE;
	if (in_list(*name, sc->columns, sc->ncolumns))
		return REF_MASKED_COLUMN;
	if (n == 1 && in_list(*name, sc->aliases, sc->naliases))
		return REF_WHOLE_ROW;
	return REF_NONE;
}

/* Anywhere below v, a reference that would carry a masked value. */
static void forbid_refs(struct scope *sc, const json_t *v, const char *where)
{
	const char *key, *name;
	const json_t *child;
	size_t i;
	char what[96];

	if (json_is_array(v)) {
		json_array_foreach(v, i, child)
			forbid_refs(sc, child, where);
		return;
	}
	if (!json_is_object(v) || sc->v->blocked)
		return;
	json_object_foreach((json_t *)v, key, child) {
		if (strcmp(key, "ColumnRef") == 0) {
			enum ref_kind k = classify(sc, child, &name);
			if (k != REF_NONE) {
				snprintf(what, sizeof(what), "%s %s: ", where,
					 k == REF_MASKED_COLUMN ? "uses masked column" : "uses a whole row of");
				block(sc, what, name ? name : "?");
				return;
			}
		}
		forbid_refs(sc, child, where);
	}
}

/* ---------------- statements ---------------- */

static const char *const predicate_keys[] = {
	"whereClause", "havingClause", "groupClause", "sortClause", "distinctClause", "windowClause",
	"limitCount", "limitOffset",
};

/* The other SelectStmt fields check_select handles (the predicates being
 * the ones above); any field in neither list (a libpg_query upgrade may add
 * some) must not refer to a masked column: what is not understood is
 * refused, not passed. */
static const char *const other_select_keys[] = {
	"op", "intoClause", "withClause", "valuesLists", "targetList", "fromClause",
	"limitOption", "groupDistinct", "all", "lockingClause",
};

#define N_KEYS(list) (sizeof(list) / sizeof((list)[0]))

static bool key_in(const char *key, const char *const *list, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (strcmp(key, list[k]) == 0)
			return true;
	return false;
}

static bool select_key_checked(const char *key)
{
	return key_in(key, predicate_keys, N_KEYS(predicate_keys)) ||
	       key_in(key, other_select_keys, N_KEYS(other_select_keys));
}

/* A plain column (or *) of the SELECT list: PostgreSQL reports its origin,
 * so the result masking sees it.  A bare masked-table name is a whole row. */
static void check_target(struct scope *sc, const json_t *target)
{
	const json_t *val = json_object_get(json_object_get(target, "ResTarget"), "val");
	const json_t *colref = json_object_get(val, "ColumnRef");
	const char *name;

	if (colref && classify(sc, colref, &name) != REF_WHOLE_ROW)
		return;		/* a plain column */
	if (colref && is_star(colref))
		return;		/* t.* / * in the SELECT list: expanded into plain columns */
	forbid_refs(sc, val, "an expression");
}

/* NATURAL / USING joins output merged columns (COALESCE for a FULL join),
 * which have no origin for the result masking to see. */
static bool merges_masked_columns(const struct scope *sc, const json_t *join)
{
	const json_t *name;
	size_t i;

	if (json_is_true(json_object_get(join, "isNatural")))
		return true;
	json_array_foreach(json_object_get(join, "usingClause"), i, name) {
		if (tree_string(name) && in_list(tree_string(name), sc->columns, sc->ncolumns))
			return true;
	}
	return false;
}

/* JOIN ... ON is a predicate; anything else in FROM (subqueries, LATERAL,
 * functions) may carry values out. */
static void check_from(struct scope *sc, const json_t *v)
{
	const char *key;
	const json_t *child;
	size_t i;

	if (json_is_array(v)) {
		json_array_foreach(v, i, child)
			check_from(sc, child);
		return;
	}
	if (!json_is_object(v))
		return;
	json_object_foreach((json_t *)v, key, child) {
		if (strcmp(key, "JoinExpr") == 0 && merges_masked_columns(sc, child)) {
			block(sc, "NATURAL or USING join merges masked columns", "");
			return;
		}
		if (strcmp(key, "quals") == 0) {
			if (sc->p->deny_predicates_on_masked)
				forbid_refs(sc, child, "a join condition");
		} else if (strcmp(key, "RangeSubselect") == 0 || strcmp(key, "RangeFunction") == 0 ||
			   strcmp(key, "RangeTableSample") == 0 || strcmp(key, "RangeTableFunc") == 0) {
			forbid_refs(sc, child, "a subquery or function in FROM");
		} else {
			check_from(sc, child);
		}
	}
}

static void check_select(struct scope *sc, const json_t *sel)
{
	const json_t *target;
	const char *op = json_string_value(json_object_get(sel, "op"));
	size_t i;

	if (op && strcmp(op, "SETOP_NONE") != 0) {
		forbid_refs(sc, sel, "a set operation");
		return;
	}
	if (json_object_get(sel, "intoClause"))
		return block(sc, "SELECT INTO copies a table with masked columns", "");
	forbid_refs(sc, json_object_get(sel, "withClause"), "a CTE");
	/* VALUES ((SELECT ssn ...)): its output columns have no origin either */
	forbid_refs(sc, json_object_get(sel, "valuesLists"), "a VALUES list");
	json_array_foreach(json_object_get(sel, "targetList"), i, target)
		check_target(sc, target);
	check_from(sc, json_object_get(sel, "fromClause"));
	for (size_t k = 0; sc->p->deny_predicates_on_masked && k < N_KEYS(predicate_keys); k++)
		forbid_refs(sc, json_object_get(sel, predicate_keys[k]), "a predicate");
	/* lockingClause names relations only; the rest is unknown here */
	const char *key;
	json_t *value;
	json_object_foreach((json_t *)sel, key, value)
		if (!select_key_checked(key))
			forbid_refs(sc, value, "a part of SELECT the checker does not know");
}

/* One statement, unwrapped from EXPLAIN / PREPARE / DECLARE. */
static void check_statement(struct scope *sc, const json_t *stmt)
{
	const char *type;
	const json_t *node;
	void *iter = json_object_iter((json_t *)stmt);

	if (!iter)
		return;
	type = json_object_iter_key(iter);
	node = json_object_iter_value(iter);
	if (!strcmp(type, "ExplainStmt") || !strcmp(type, "PrepareStmt") || !strcmp(type, "DeclareCursorStmt"))
		return check_statement(sc, json_object_get(node, "query"));
	if (!strcmp(type, "SelectStmt"))
		return check_select(sc, node);
	if (!strcmp(type, "CopyStmt") || !strcmp(type, "CreateTableAsStmt"))
		return block(sc, "copies a table with masked columns", "");
	/* INSERT ... SELECT, UPDATE ... FROM, RETURNING: the value must not move */
	forbid_refs(sc, node, "a write");
}

void lineage_check(const json_t *tree, const struct policy *p, const struct lineage_catalog *cat,
		   struct guard_verdict *v)
{
	struct scope sc = { .p = p, .cat = cat, .v = v };
	const json_t *item;
	size_t i;

	if (!p->nmasks || v->blocked)
		return;
	collect_ctes(&sc, json_object_get(tree, "stmts"));
	collect(&sc, json_object_get(tree, "stmts"), false);
	if (v->blocked || !sc.naliases)
		return;
	json_array_foreach(json_object_get(tree, "stmts"), i, item)
		check_statement(&sc, json_object_get(item, "stmt"));
}
