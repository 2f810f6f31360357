/*
 * Statistics: per-pool counters, snapshotted every stats_period.  The
 * averages are PgBouncer's: rates and per-event times over the interval from
 * the older of the last two snapshots until now, so a fresh tick never shows
 * an average over a nearly empty interval.  The admin console (SHOW STATS,
 * STATS_AVERAGES, TOTALS) and the "stats: ..." log line read the same numbers.
 */
#include "pgwarden.h"

#include <inttypes.h>
#include <string.h>

static void stats_add(struct stats *dst, const struct stats *src)
{
	dst->server_assignment_count += src->server_assignment_count;
	dst->xact_count += src->xact_count;
	dst->query_count += src->query_count;
	dst->client_bytes += src->client_bytes;
	dst->server_bytes += src->server_bytes;
	dst->xact_time += src->xact_time;
	dst->query_time += src->query_time;
	dst->wait_time += src->wait_time;
	dst->client_login_count += src->client_login_count;
	dst->ps_client_parse_count += src->ps_client_parse_count;
	dst->ps_server_parse_count += src->ps_server_parse_count;
	dst->ps_bind_count += src->ps_bind_count;
}

static uint64_t per_sec(uint64_t delta, usec_t period)
{
	return delta * USEC_PER_SEC / period;
}

static uint64_t avg_of(uint64_t time, uint64_t count)
{
	return count ? time / count : 0;
}

/* PgBouncer's calc_average(): period is the time since old was taken. */
static void stats_average(struct stats *avg, const struct stats *cur, const struct stats *old, usec_t period)
{
	uint64_t xacts = cur->xact_count - old->xact_count;
	uint64_t queries = cur->query_count - old->query_count;
	uint64_t assignments = cur->server_assignment_count - old->server_assignment_count;

	memset(avg, 0, sizeof(*avg));
	if (period == 0)
		return;
	avg->server_assignment_count = per_sec(assignments, period);
	avg->xact_count = per_sec(xacts, period);
	avg->query_count = per_sec(queries, period);
	avg->client_bytes = per_sec(cur->client_bytes - old->client_bytes, period);
	avg->server_bytes = per_sec(cur->server_bytes - old->server_bytes, period);
	avg->client_login_count = per_sec(cur->client_login_count - old->client_login_count, period);
	avg->ps_client_parse_count = per_sec(cur->ps_client_parse_count - old->ps_client_parse_count, period);
	avg->ps_server_parse_count = per_sec(cur->ps_server_parse_count - old->ps_server_parse_count, period);
	avg->ps_bind_count = per_sec(cur->ps_bind_count - old->ps_bind_count, period);
	avg->xact_time = avg_of(cur->xact_time - old->xact_time, xacts);
	avg->query_time = avg_of(cur->query_time - old->query_time, queries);
	avg->wait_time = avg_of(cur->wait_time - old->wait_time, assignments);
}

static void sum_pools(const struct pgdatabase *db, struct stats *cur, struct stats *old)
{
	struct list_node *n;

	memset(cur, 0, sizeof(*cur));
	memset(old, 0, sizeof(*old));
	list_for_each(n, &pooler.pools) {
		struct pgpool *pool = container_of(n, struct pgpool, node);
		if (db && pool->db != db)
			continue;
		stats_add(cur, &pool->stats);
		stats_add(old, &pool->older_stats);
	}
}

void stats_collect(const struct pgdatabase *db, struct stats *total, struct stats *avg)
{
	struct stats old;

	sum_pools(db, total, &old);
	stats_average(avg, total, &old, get_time_usec() - pooler.prev_stats_time);
}

static void log_stats(const struct stats *avg)
{
	log_info("stats: %" PRIu64 " xacts/s, %" PRIu64 " queries/s, in %" PRIu64 " B/s, out %"
		 PRIu64 " B/s, xact %" PRIu64 " us, query %" PRIu64 " us, wait %" PRIu64 " us",
		 avg->xact_count, avg->query_count, avg->client_bytes, avg->server_bytes,
		 avg->xact_time, avg->query_time, avg->wait_time);
}

static void stats_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg UNUSED)
{
	struct stats total, avg;
	struct list_node *n;

	pooler.prev_stats_time = pooler.last_stats_time;
	pooler.last_stats_time = get_time_usec();
	list_for_each(n, &pooler.pools) {
		struct pgpool *pool = container_of(n, struct pgpool, node);
		pool->older_stats = pool->newer_stats;
		pool->newer_stats = pool->stats;
	}
	/* Right after the shift, older_stats is the previous tick: the log
	 * line covers exactly the period that just ended. */
	stats_collect(NULL, &total, &avg);
	if (cf->log_stats)
		log_stats(&avg);
	pooler.total_stats = total;
	pooler.last_totals = total;
}

static usec_t armed_period;	/* the period the timer runs with; 0 before stats_setup */

/* stats_period, 0 meaning PgBouncer's default of 60 s. */
static usec_t stats_period(void)
{
	return cf->stats_period ? cf->stats_period : 60 * USEC_PER_SEC;
}

static void arm_stats_timer(void)
{
	struct timeval tv;

	armed_period = stats_period();
	tv.tv_sec = (time_t)(armed_period / USEC_PER_SEC);
	tv.tv_usec = (suseconds_t)(armed_period % USEC_PER_SEC);
	event_add(&pooler.ev_stats, &tv);	/* re-adding a pending timer restarts it */
}

void stats_setup(void)
{
	pooler.last_stats_time = get_time_usec();
	/* As PgBouncer: the first averages are over at least one second. */
	if (pooler.last_stats_time > USEC_PER_SEC)
		pooler.prev_stats_time = pooler.last_stats_time - USEC_PER_SEC;
	event_assign(&pooler.ev_stats, pooler.base, -1, EV_PERSIST, stats_cb, NULL);
	arm_stats_timer();
}

/* After a reload or SET: a new period starts now. */
void stats_apply_period(void)
{
	if (armed_period && stats_period() != armed_period)
		arm_stats_timer();
}
