/*
 * Guardrails: does a statement's parse tree (libpg_query's JSON, loaded
 * with jansson) do something the session's policy forbids?  The whole tree
 * is walked — statements nested in CTEs, EXPLAIN ANALYZE, PREPARE, DECLARE,
 * COPY (query) and subqueries count like top-level ones — and the first
 * violation in tree order is the verdict.
 */
#ifndef REDACT_GUARD_H
#define REDACT_GUARD_H

#include "redact_policy.h"

#include <jansson.h>
#include <stdbool.h>

struct guard_verdict {
	bool blocked;
	unsigned guardrail;		/* the enum guardrail bit, 0 for read_only and functions */
	char reason[160];		/* "DELETE without WHERE", "function pg_read_file", "read_only: INSERT" */
	bool uses_literals;		/* the verdict read a constant (set_config('role', ...)): not the
					 * same for every statement of this normalized text */
	bool approvable;		/* blocked only by guardrails the policy lets an approver allow */
};

void guard_check(const json_t *tree, const struct policy *p, struct guard_verdict *v);

/* The policy's approve_tables entry the statement uses (any RangeVar: read,
 * write, DDL; an unqualified name matches an entry in any schema), or NULL. */
const char *approval_table(const json_t *tree, const struct policy *p);

/* Parse-tree reading shared with redact_lineage.c. */
/* The text of a String node ({"String": {"sval": ...}}); NULL if it is none. */
const char *tree_string(const json_t *node);
/* A FuncCall's name (its last part); *schema: the first part when the name
 * is qualified, else NULL. */
const char *tree_function_name(const json_t *call, const char **schema);

#endif
