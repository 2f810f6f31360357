/*
 * What one database says about the policy's masks, from one catalog query
 * (run by the plugin through host->server_query): the tables and column
 * numbers the mask names resolve to (every schema, for a mask without one),
 * the views that depend on those columns (directly or through other views),
 * and the names of the built-in functions (pg_catalog).
 */
#ifndef REDACT_CATALOG_H
#define REDACT_CATALOG_H

#include "redact_lineage.h"
#include "redact_policy.h"

#include <stdint.h>

enum catalog_state { CATALOG_NONE, CATALOG_LOADING, CATALOG_READY, CATALOG_FAILED };

struct masked_origin {
	uint32_t oid;
	int16_t attnum;
	char *schema;
	char *table;
	char *column;
};

struct db_catalog {
	struct db_catalog *next;
	char *database;
	int index;			/* for verdict cache keys: 1, 2, ... */
	void *owner;			/* the plugin's, for the lookup's callback */
	enum catalog_state state;
	int64_t failed_at;
	char error[200];
	struct masked_origin *origins;
	int norigins;
	struct lineage_catalog lin;
};

/* The query for every mask of set; NULL when set has no mask. */
char *catalog_sql(const struct policy_set *set);
/* Take the query's rows (kind, schema, name, column, oid, attnum). */
int catalog_ingest(struct db_catalog *c, int ncolumns, int nrows, const char *const *values,
		   char *err, size_t errlen);
/* Forget everything (the policy changed): back to CATALOG_NONE. */
void catalog_reset(struct db_catalog *c);
/* The policy's mask for an output column of this origin; NULL: not masked. */
const struct mask_rule *catalog_mask_for(const struct db_catalog *c, const struct policy *p, uint32_t oid,
					 int16_t attnum);

#endif
