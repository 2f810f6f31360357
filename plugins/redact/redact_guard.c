/*
 * Guardrails over a libpg_query parse tree (see redact_guard.h).
 *
 * The JSON tree names every node by its PostgreSQL node type as the only
 * key of an object: {"DeleteStmt": {...}}.  visit() walks every object and
 * array; check_node() looks at the nodes that matter.  Statements under an
 * EXPLAIN without ANALYZE are not executed, so the checks about what a
 * statement does (writes, WHERE-less DELETE/UPDATE) skip them; the checks
 * about what it is (DROP, functions, ...) do not.
 */
#include "redact_guard.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct walk {
	const struct policy *p;
	struct guard_verdict *v;
};

/* The first one found is the verdict. */
static void violation(struct walk *w, unsigned guardrail, const char *what, const char *detail)
{
	if (w->v->blocked)
		return;
	w->v->blocked = true;
	w->v->guardrail = guardrail;
	snprintf(w->v->reason, sizeof(w->v->reason), "%s%s", what, detail);
}

static void guard(struct walk *w, unsigned guardrail)
{
	if (w->p->block & guardrail)
		violation(w, guardrail, guardrail_label((enum guardrail)guardrail), "");
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static const char *str_field(const json_t *node, const char *key)
{
	return json_string_value(json_object_get(node, key));
}

/* The first node of this type below (or at) v that match accepts (NULL:
 * any), or NULL. */
static const json_t *find_node(const json_t *v, const char *type, bool (*match)(const json_t *node, void *arg),
			       void *arg)
{
	const char *key;
	const json_t *child, *hit;
	size_t i;

	if (json_is_array(v)) {
		json_array_foreach(v, i, child) {
			if ((hit = find_node(child, type, match, arg)))
				return hit;
		}
	} else if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, child) {
			if (strcmp(key, type) == 0 && (!match || match(child, arg)))
				return child;
			if ((hit = find_node(child, type, match, arg)))
				return hit;
		}
	}
	return NULL;
}

static bool contains_node(const json_t *v, const char *type)
{
	return find_node(v, type, NULL, NULL) != NULL;
}

/* No WHERE, or one that reads no column ("WHERE true", "WHERE 1 = 1"):
 * every row.  WHERE CURRENT OF names one row. */
static bool touches_every_row(const json_t *stmt)
{
	const json_t *where = json_object_get(stmt, "whereClause");
	return !where || (!contains_node(where, "ColumnRef") && !contains_node(where, "CurrentOfExpr"));
}

const char *tree_string(const json_t *node)
{
	return str_field(json_object_get(node, "String"), "sval");
}

const char *tree_function_name(const json_t *call, const char **schema)
{
	const json_t *names = json_object_get(call, "funcname");

	*schema = json_array_size(names) > 1 ? tree_string(json_array_get(names, 0)) : NULL;
	return tree_string(json_array_get(names, json_array_size(names) - 1));
}

/* The last part of a function's name, lowercased: "pg_catalog.PG_READ_FILE" -> "pg_read_file". */
static void function_name(const json_t *call, char *out, size_t len)
{
	const char *schema;
	const char *name = tree_function_name(call, &schema);
	size_t i;

	for (i = 0; name && name[i] && i + 1 < len; i++)
		out[i] = (char)tolower((unsigned char)name[i]);
	out[i] = '\0';
}

/* set_config('role', ...) is SET ROLE by another name. */
static bool sets_role(const json_t *call)
{
	const json_t *first = json_array_get(json_object_get(call, "args"), 0);
	const char *param = str_field(json_object_get(json_object_get(first, "A_Const"), "sval"), "sval");
	return param && (!strcasecmp(param, "role") || !strcasecmp(param, "session_authorization"));
}

static void check_function(struct walk *w, const json_t *call)
{
	char name[128];

	function_name(call, name, sizeof(name));
	if (strcmp(name, "set_config") == 0) {
		w->v->uses_literals = true;
		if (sets_role(call))
			guard(w, GUARD_SET_ROLE);
	}
	if (name[0] && policy_function_blocked(w->p, name))
		violation(w, 0, "function ", name);
}

/* Statements a read-only policy allows (besides SELECT, checked apart). */
static bool read_only_statement(const char *type, const json_t *node)
{
	static const char *const allowed[] = {
		"VariableShowStmt", "ExplainStmt", "VariableSetStmt", "DeclareCursorStmt", "FetchStmt",
		"ClosePortalStmt", "PrepareStmt", "ExecuteStmt", "DeallocateStmt", "DiscardStmt",
	};
	const char *kind;

	if (strcmp(type, "TransactionStmt") == 0) {
		kind = str_field(node, "kind");
		return !kind || !strstr(kind, "PREPARE");	/* no two-phase commit */
	}
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		if (strcmp(type, allowed[i]) == 0)
			return true;
	}
	return false;
}

/* "InsertStmt" -> "INSERT", "CreateTableAsStmt" -> "CREATETABLEAS": a label for messages. */
static void statement_label(const char *type, char *out, size_t len)
{
	size_t n = strlen(type) - (strlen(type) > 4 && !strcmp(type + strlen(type) - 4, "Stmt") ? 4 : 0);
	size_t i;

	for (i = 0; i < n && i + 1 < len; i++)
		out[i] = (char)toupper((unsigned char)type[i]);
	out[i] = '\0';
}

static void check_read_only(struct walk *w, const char *type, const json_t *node)
{
	char label[64];

	if (!w->p->read_only || !strstr(type, "Stmt"))
		return;
	if (strcmp(type, "SelectStmt") == 0) {
		if (json_object_get(node, "intoClause"))
			violation(w, 0, "read_only: ", "SELECT INTO");
		return;
	}
	if (!read_only_statement(type, node)) {
		statement_label(type, label, sizeof(label));
		violation(w, 0, "read_only: ", label);
	}
}

/* What a statement is, whether it runs or is only explained. */
static void check_kind(struct walk *w, const char *type, const json_t *node)
{
	const char *name;

	if (starts_with(type, "Drop"))
		guard(w, GUARD_DROP);
	else if (strcmp(type, "TruncateStmt") == 0)
		guard(w, GUARD_TRUNCATE);
	else if (strcmp(type, "AlterSystemStmt") == 0)
		guard(w, GUARD_ALTER_SYSTEM);
	else if (starts_with(type, "Alter") || strcmp(type, "RenameStmt") == 0)
		guard(w, GUARD_ALTER);
	else if (strcmp(type, "GrantStmt") == 0 || strcmp(type, "GrantRoleStmt") == 0)
		guard(w, GUARD_GRANT);
	else if (strcmp(type, "CreateExtensionStmt") == 0)
		guard(w, GUARD_CREATE_EXTENSION);
	else if (strcmp(type, "CopyStmt") == 0 && json_is_true(json_object_get(node, "is_program")))
		guard(w, GUARD_COPY_PROGRAM);
	else if (strcmp(type, "DoStmt") == 0)
		guard(w, GUARD_DO);
	else if (strcmp(type, "VariableSetStmt") == 0) {
		name = str_field(node, "name");
		if (name && (!strcmp(name, "role") || !strcmp(name, "session_authorization")) &&
		    strcmp(str_field(node, "kind") ? str_field(node, "kind") : "", "VAR_RESET") != 0)
			guard(w, GUARD_SET_ROLE);
	} else if (strcmp(type, "FuncCall") == 0) {
		check_function(w, node);
	}
}

/* What a statement does when it runs. */
static void check_effect(struct walk *w, const char *type, const json_t *node)
{
	if (strcmp(type, "DeleteStmt") == 0 && touches_every_row(node))
		guard(w, GUARD_DELETE_WITHOUT_WHERE);
	else if (strcmp(type, "UpdateStmt") == 0 && touches_every_row(node))
		guard(w, GUARD_UPDATE_WITHOUT_WHERE);
	check_read_only(w, type, node);
}

/* EXPLAIN runs its statement only with ANALYZE (not ANALYZE false/off/0). */
static bool explain_runs(const json_t *explain)
{
	const json_t *opt;
	size_t i;

	json_array_foreach(json_object_get(explain, "options"), i, opt) {
		const json_t *def = json_object_get(opt, "DefElem");
		const char *name = str_field(def, "defname");
		const json_t *arg = json_object_get(def, "arg");
		const char *val = tree_string(arg);
		if (!name || strcmp(name, "analyze") != 0)
			continue;
		if (json_object_get(arg, "Boolean"))
			return json_is_true(json_object_get(json_object_get(arg, "Boolean"), "boolval"));
		return !val || (strcasecmp(val, "false") && strcasecmp(val, "off") && strcmp(val, "0"));
	}
	return false;
}

static void visit(struct walk *w, const json_t *v, bool executes)
{
	const char *key;
	const json_t *child;
	size_t i;

	if (w->v->blocked)
		return;
	if (json_is_array(v)) {
		json_array_foreach(v, i, child)
			visit(w, child, executes);
		return;
	}
	if (!json_is_object(v))
		return;
	json_object_foreach((json_t *)v, key, child) {
		bool runs = executes;
		/* node types are CamelCase (A_Const too); fields are lower case */
		if (isupper((unsigned char)key[0]) && json_is_object(child)) {
			check_kind(w, key, child);
			if (executes)
				check_effect(w, key, child);
			if (strcmp(key, "ExplainStmt") == 0)
				runs = executes && explain_runs(child);
		}
		visit(w, child, runs);
	}
}

void guard_check(const json_t *tree, const struct policy *p, struct guard_verdict *v)
{
	struct walk w = { p, v };

	memset(v, 0, sizeof(*v));
	visit(&w, json_object_get(tree, "stmts"), true);
}

static bool range_var_matches(const json_t *rv, const char *entry)
{
	const char *schema = str_field(rv, "schemaname");
	const char *rel = str_field(rv, "relname");
	const char *dot = strchr(entry, '.');

	if (!rel)
		return false;
	if (!dot)
		return strcasecmp(rel, entry) == 0;
	if (strcasecmp(rel, dot + 1) != 0)
		return false;
	return !schema || (strlen(schema) == (size_t)(dot - entry) && strncasecmp(schema, entry, (size_t)(dot - entry)) == 0);
}

struct table_match {
	const struct policy *p;
	const char *entry;	/* the approve_tables entry found */
};

static bool is_approval_table(const json_t *rv, void *arg)
{
	struct table_match *m = arg;

	for (int k = 0; k < m->p->napprove_tables; k++) {
		if (range_var_matches(rv, m->p->approve_tables[k])) {
			m->entry = m->p->approve_tables[k];
			return true;
		}
	}
	return false;
}

const char *approval_table(const json_t *tree, const struct policy *p)
{
	struct table_match m = { p, NULL };

	if (p->napprove_tables)
		find_node(tree, "RangeVar", is_approval_table, &m);
	return m.entry;
}
