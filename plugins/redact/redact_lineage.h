/*
 * Where could a masked column's value go?  Results are masked by the
 * origin PostgreSQL reports for each output column (table OID and column
 * number in RowDescription), which covers a plain column or * in the
 * statement's own SELECT list — nothing else.  So, for a statement that
 * reads a table with masked columns, this check blocks every other way out
 * (fail closed): the column in an expression, a cast, a function or an
 * aggregate; a whole-row reference (t, t.* inside an expression,
 * row_to_json(t)); a subquery, CTE, LATERAL or set operation mentioning
 * it; COPY, SELECT INTO, CREATE TABLE AS and writes that carry it
 * (RETURNING, INSERT ... SELECT).  Predicates (WHERE, JOIN ON, GROUP BY,
 * ORDER BY, HAVING) may mention it unless deny_predicates_on_masked.
 *
 * Besides, with any mask in the policy: views that depend on a masked
 * column, every function that is not built in (pg_catalog: a user's
 * function body could read anything, and one created after the catalog
 * lookup is unknown, so not built in either), the
 * planner statistics views (they hold sample values) and the table-to-text
 * functions (query_to_xml, ...) are refused outright.
 */
#ifndef REDACT_LINEAGE_H
#define REDACT_LINEAGE_H

#include "redact_guard.h"
#include "redact_policy.h"

#include <jansson.h>

/* What the database says, resolved by a catalog query. */
struct lineage_catalog {
	char **views;			/* "schema.name" of views over masked columns */
	int nviews;
	char **builtins;		/* names of the functions in pg_catalog */
	int nbuiltins;
	char **relations;		/* "schema.name" of every table and view at the lookup */
	int nrelations;
};

/* Leaves v alone when nothing leaks; else blocks with the reason. */
void lineage_check(const json_t *tree, const struct policy *p, const struct lineage_catalog *cat,
		   struct guard_verdict *v);

#endif
