/*
 * The redact plugin's catalog lookups (see redact_catalog.h).
 */
#include "redact_catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sqlbuf {
	char *data;
	size_t len;
};

static void put(struct sqlbuf *b, const char *s)
{
	size_t n = strlen(s);
	b->data = realloc(b->data, b->len + n + 1);
	memcpy(b->data + b->len, s, n + 1);
	b->len += n;
}

/* A string literal: quotes doubled (standard_conforming_strings is on
 * in every supported PostgreSQL; E'' is not used). */
static void put_literal(struct sqlbuf *b, const char *s)
{
	put(b, "'");
	for (const char *p = s; *p; p++)
		put(b, *p == '\'' ? "''" : (char[]){ *p, '\0' });
	put(b, "'");
}

/* A view's rewrite rule depends on the columns (or relations) it reads. */
#define VIEW_RULES \
	" JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid" \
	" WHERE d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass" \
	" AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND r.ev_class <> d.refobjid"

char *catalog_sql(const struct policy_set *set)
{
	struct sqlbuf b = { NULL, 0 };
	int n = 0;

	put(&b, "WITH RECURSIVE m(oid, attnum) AS (SELECT c.oid, a.attnum FROM pg_catalog.pg_attribute a"
		" JOIN pg_catalog.pg_class c ON c.oid = a.attrelid WHERE a.attnum > 0 AND NOT a.attisdropped"
		" AND (c.relname, a.attname) IN (");
	for (int i = 0; i < set->n; i++) {
		for (int j = 0; j < set->policies[i].nmasks; j++) {
			const struct mask_rule *m = &set->policies[i].masks[j];
			put(&b, n++ ? ", (" : "(");
			put_literal(&b, m->table);
			put(&b, ", ");
			put_literal(&b, m->column);
			put(&b, ")");
		}
	}
	if (!n) {
		free(b.data);
		return NULL;
	}
	put(&b, ")), v(oid) AS (SELECT r.ev_class FROM m JOIN pg_catalog.pg_depend d"
		" ON d.refobjid = m.oid AND d.refobjsubid = m.attnum" VIEW_RULES
		" UNION SELECT r.ev_class FROM v JOIN pg_catalog.pg_depend d ON d.refobjid = v.oid" VIEW_RULES ")"
		" SELECT 'column', n.nspname, c.relname, a.attname, c.oid::text, a.attnum::text FROM m"
		" JOIN pg_catalog.pg_class c ON c.oid = m.oid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
		" JOIN pg_catalog.pg_attribute a ON a.attrelid = m.oid AND a.attnum = m.attnum"
		" UNION ALL SELECT 'view', n.nspname, c.relname, NULL, c.oid::text, NULL FROM v"
		" JOIN pg_catalog.pg_class c ON c.oid = v.oid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
		" UNION ALL SELECT DISTINCT 'builtin', NULL, p.proname, NULL, NULL, NULL FROM pg_catalog.pg_proc p"
		" WHERE p.pronamespace = 'pg_catalog'::pg_catalog.regnamespace"
		" UNION ALL SELECT 'relation', n.nspname, c.relname, NULL, NULL, NULL FROM pg_catalog.pg_class c"
		" JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')");
	return b.data;
}

static char *dup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void add_string(char ***list, int *n, const char *s)
{
	*list = realloc(*list, sizeof(char *) * (size_t)(*n + 1));
	(*list)[(*n)++] = strdup(s);
}

int catalog_ingest(struct db_catalog *c, int ncolumns, int nrows, const char *const *values,
		   char *err, size_t errlen)
{
	char view[300];

	if (ncolumns != 6) {
		snprintf(err, errlen, "catalog query returned %d columns", ncolumns);
		return -1;
	}
	for (int r = 0; r < nrows; r++) {
		const char *const *row = values + r * 6;
		if (!row[0] || !row[2])
			continue;
		if (strcmp(row[0], "column") == 0 && row[1] && row[3] && row[4] && row[5]) {
			struct masked_origin *o;
			c->origins = realloc(c->origins, sizeof(*c->origins) * (size_t)(c->norigins + 1));
			o = &c->origins[c->norigins++];
			o->oid = (uint32_t)strtoul(row[4], NULL, 10);
			o->attnum = (int16_t)atoi(row[5]);
			o->schema = dup(row[1]);
			o->table = dup(row[2]);
			o->column = dup(row[3]);
		} else if (strcmp(row[0], "view") == 0 && row[1]) {
			snprintf(view, sizeof(view), "%s.%s", row[1], row[2]);
			add_string(&c->lin.views, &c->lin.nviews, view);
		} else if (strcmp(row[0], "relation") == 0 && row[1]) {
			snprintf(view, sizeof(view), "%s.%s", row[1], row[2]);
			add_string(&c->lin.relations, &c->lin.nrelations, view);
		} else if (strcmp(row[0], "builtin") == 0) {
			add_string(&c->lin.builtins, &c->lin.nbuiltins, row[2]);
		}
	}
	c->state = CATALOG_READY;
	return 0;
}

void catalog_reset(struct db_catalog *c)
{
	for (int i = 0; i < c->norigins; i++) {
		free(c->origins[i].schema);
		free(c->origins[i].table);
		free(c->origins[i].column);
	}
	free(c->origins);
	c->origins = NULL;
	c->norigins = 0;
	for (int i = 0; i < c->lin.nviews; i++)
		free(c->lin.views[i]);
	for (int i = 0; i < c->lin.nbuiltins; i++)
		free(c->lin.builtins[i]);
	for (int i = 0; i < c->lin.nrelations; i++)
		free(c->lin.relations[i]);
	free(c->lin.relations);
	free(c->lin.views);
	free(c->lin.builtins);
	memset(&c->lin, 0, sizeof(c->lin));
	c->state = CATALOG_NONE;
	c->error[0] = '\0';
}

const struct mask_rule *catalog_mask_for(const struct db_catalog *c, const struct policy *p, uint32_t oid,
					 int16_t attnum)
{
	for (int i = 0; oid && i < c->norigins; i++) {
		const struct masked_origin *o = &c->origins[i];
		if (o->oid != oid || o->attnum != attnum)
			continue;
		for (int j = 0; j < p->nmasks; j++) {
			const struct mask_rule *m = &p->masks[j];
			if (strcmp(m->table, o->table) == 0 && strcmp(m->column, o->column) == 0 &&
			    (!m->schema || strcmp(m->schema, o->schema) == 0))
				return m;
		}
	}
	return NULL;
}
