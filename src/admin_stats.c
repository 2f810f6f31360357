/*
 * SHOW STATS, STATS_TOTALS, STATS_AVERAGES and TOTALS.
 *
 * One table lists every counter with the names it goes by in each command.
 * PgBouncer 1.18 has the first seven; the counters later versions added
 * follow them in every command, so 1.18's columns (and TOTALS' rows) come
 * first and in 1.18's order:
 *   SHOW STATS      database, 1.18 totals, 1.18 averages, later totals, later averages
 *   STATS_TOTALS    database, 1.18 counters, later counters
 *   TOTALS (rows)   1.18 total_*, 1.18 avg_*, later total_*, later avg_*
 * The numbers come from stats.c.
 */
#include "admin.h"
#include "admin_result.h"

#include <stdlib.h>
#include <string.h>

#define STAT(f) offsetof(struct stats, f)

/* One counter and the names it goes by in each statistics command. */
static const struct metric {
	const char *stats_total;	/* SHOW STATS */
	const char *stats_avg;		/* SHOW STATS */
	const char *plain;		/* SHOW STATS_TOTALS */
	const char *plain_avg;		/* SHOW STATS_AVERAGES */
	const char *totals;		/* SHOW TOTALS, after total_ / avg_ */
	size_t field;
	bool later;			/* not in PgBouncer 1.18 */
} metrics[] = {
	{ "total_xact_count", "avg_xact_count", "xact_count", "xact_count", "xact_count",
	  STAT(xact_count), false },
	{ "total_query_count", "avg_query_count", "query_count", "query_count", "query_count",
	  STAT(query_count), false },
	{ "total_received", "avg_recv", "bytes_received", "bytes_received", "client_bytes",
	  STAT(client_bytes), false },
	{ "total_sent", "avg_sent", "bytes_sent", "bytes_sent", "server_bytes",
	  STAT(server_bytes), false },
	{ "total_xact_time", "avg_xact_time", "xact_time", "xact_time", "xact_time",
	  STAT(xact_time), false },
	{ "total_query_time", "avg_query_time", "query_time", "query_time", "query_time",
	  STAT(query_time), false },
	{ "total_wait_time", "avg_wait_time", "wait_time", "wait_time", "wait_time",
	  STAT(wait_time), false },
	{ "total_server_assignment_count", "avg_server_assignment_count", "server_assignment_count",
	  "server_assignment_count", "server_assignment_count", STAT(server_assignment_count), true },
	/* The "avg_" in STATS_AVERAGES for these is PgBouncer's. */
	{ "total_client_parse_count", "avg_client_parse_count", "client_parse_count", "avg_client_parse_count",
	  "ps_client_parse_count", STAT(ps_client_parse_count), true },
	{ "total_server_parse_count", "avg_server_parse_count", "server_parse_count", "avg_server_parse_count",
	  "ps_server_parse_count", STAT(ps_server_parse_count), true },
	{ "total_bind_count", "avg_bind_count", "bind_count", "avg_bind_count", "ps_bind_count",
	  STAT(ps_bind_count), true },
	{ "total_client_login_count", "avg_client_login_count", "client_login_count", "avg_client_login_count",
	  "client_login_count", STAT(client_login_count), true },
};
#define N_METRICS ARRAY_SIZE(metrics)

/* Which statistics command. */
enum stats_view { STATS_BOTH, STATS_TOTALS, STATS_AVERAGES };

/* One value in a row (or one row of TOTALS): a counter, total or average. */
struct stat_item {
	const struct metric *m;
	bool avg;
};

#define MAX_ITEMS (2 * N_METRICS)

/* The values a view shows, in order (see the top of the file). */
static size_t stats_layout(enum stats_view view, struct stat_item *items)
{
	size_t n = 0;

	for (int later = 0; later < 2; later++) {
		for (int avg = 0; avg < 2; avg++) {
			if ((avg && view == STATS_TOTALS) || (!avg && view == STATS_AVERAGES))
				continue;
			for (size_t i = 0; i < N_METRICS; i++) {
				if (metrics[i].later == (bool)later)
					items[n++] = (struct stat_item){ &metrics[i], avg };
			}
		}
	}
	return n;
}

static const char *item_column_name(const struct stat_item *it, enum stats_view view)
{
	switch (view) {
	case STATS_TOTALS:
		return it->m->plain;
	case STATS_AVERAGES:
		return it->m->plain_avg;
	default:
		return it->avg ? it->m->stats_avg : it->m->stats_total;
	}
}

static uint64_t item_value(const struct stat_item *it, const struct stats *total, const struct stats *avg)
{
	const struct stats *st = it->avg ? avg : total;

	return *(const uint64_t *)((const char *)st + it->m->field);
}

static bool db_has_pools(const struct pgdatabase *db)
{
	struct list_node *n;
	list_for_each(n, &pooler.pools) {
		if (container_of(n, struct pgpool, node)->db == db)
			return true;
	}
	return false;
}

static int cmp_db_name(const void *a, const void *b)
{
	return strcmp((*(struct pgdatabase *const *)a)->name, (*(struct pgdatabase *const *)b)->name);
}

/* Databases with pools, by name. */
static int databases_in_use(struct pgdatabase ***out)
{
	struct list_node *n;
	int count = 0;

	*out = xmalloc(sizeof(**out) * (size_t)(list_count(&pooler.databases) + 1));
	list_for_each(n, &pooler.databases) {
		struct pgdatabase *db = container_of(n, struct pgdatabase, node);
		if (db_has_pools(db))
			(*out)[count++] = db;
	}
	qsort(*out, (size_t)count, sizeof(**out), cmp_db_name);
	return count;
}

static void stats_row(struct resultset *rs, struct pgdatabase *db, const struct stat_item *items, size_t n)
{
	struct stats total, avg;

	stats_collect(db, &total, &avg);
	rs_row_begin(rs);
	rs_str(rs, db->name);
	for (size_t i = 0; i < n; i++)
		rs_uint(rs, item_value(&items[i], &total, &avg));
	rs_row_end(rs);
}

/* SHOW STATS / STATS_TOTALS / STATS_AVERAGES: one row per database in use. */
static void show_db_stats(struct admin_cmd *c, enum stats_view view)
{
	struct stat_item items[MAX_ITEMS];
	struct column cols[MAX_ITEMS + 2];
	const struct colset set = { { cols } };
	struct pgdatabase **dbs;
	struct resultset rs;
	size_t n = stats_layout(view, items);
	int ndbs;

	memset(cols, 0, sizeof(cols));
	cols[0] = (struct column){ "database", 's', NULL };
	for (size_t i = 0; i < n; i++)
		cols[i + 1] = (struct column){ item_column_name(&items[i], view), 'N', NULL };

	rs_begin(&rs, &c->pb, &set);
	ndbs = databases_in_use(&dbs);
	for (int i = 0; i < ndbs; i++)
		stats_row(&rs, dbs[i], items, n);
	free(dbs);
	cmd_ready(c, "SHOW");
}

void show_stats(struct admin_cmd *c) { show_db_stats(c, STATS_BOTH); }
void show_stats_totals(struct admin_cmd *c) { show_db_stats(c, STATS_TOTALS); }
void show_stats_averages(struct admin_cmd *c) { show_db_stats(c, STATS_AVERAGES); }

static const struct column name_value_cols[] = { COL("name", 's'), COL("value", 'N'), COLS_END };
static const struct colset name_value_set = { { name_value_cols } };

/* SHOW TOTALS: the whole pooler, one row per value. */
void show_totals(struct admin_cmd *c)
{
	struct stat_item items[MAX_ITEMS];
	size_t n = stats_layout(STATS_BOTH, items);
	struct stats total, avg;
	struct resultset rs;

	stats_collect(NULL, &total, &avg);
	rs_begin(&rs, &c->pb, &name_value_set);
	for (size_t i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof(name), "%s_%s", items[i].avg ? "avg" : "total", items[i].m->totals);
		rs_row_begin(&rs);
		rs_str(&rs, name);
		rs_uint(&rs, item_value(&items[i], &total, &avg));
		rs_row_end(&rs);
	}
	cmd_ready(c, "SHOW");
}
