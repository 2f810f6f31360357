/*
 * Statistics: per-pool counters summed every stats_period into the averages
 * PgBouncer logs ("stats: N xacts/s, ...").  The admin console reads the same
 * numbers.
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
}

static uint64_t per_sec(uint64_t delta, usec_t period)
{
	return period ? delta * USEC_PER_SEC / period : 0;
}

static uint64_t avg_of(uint64_t time, uint64_t count)
{
	return count ? time / count : 0;
}

static void stats_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg UNUSED)
{
	struct stats total;
	struct list_node *n;
	usec_t now = get_time_usec();
	usec_t period = now - pooler.last_stats_time;

	memset(&total, 0, sizeof(total));
	list_for_each(n, &pooler.pools) {
		struct pgpool *pool = container_of(n, struct pgpool, node);
		stats_add(&total, &pool->stats);
	}
	struct stats *old = &pooler.last_totals;
	uint64_t xacts = total.xact_count - old->xact_count;
	uint64_t queries = total.query_count - old->query_count;

	if (cf->log_stats)
		log_info("stats: %" PRIu64 " xacts/s, %" PRIu64 " queries/s, in %" PRIu64 " B/s, out %"
			 PRIu64 " B/s, xact %" PRIu64 " us, query %" PRIu64 " us, wait %" PRIu64 " us",
			 per_sec(xacts, period), per_sec(queries, period),
			 per_sec(total.client_bytes - old->client_bytes, period),
			 per_sec(total.server_bytes - old->server_bytes, period),
			 avg_of(total.xact_time - old->xact_time, xacts),
			 avg_of(total.query_time - old->query_time, queries),
			 avg_of(total.wait_time - old->wait_time, xacts));
	pooler.total_stats = total;
	pooler.last_totals = total;
	pooler.last_stats_time = now;
}

void stats_setup(void)
{
	struct timeval tv = {
		.tv_sec = (time_t)(cf->stats_period / USEC_PER_SEC),
		.tv_usec = (suseconds_t)(cf->stats_period % USEC_PER_SEC),
	};
	if (tv.tv_sec == 0 && tv.tv_usec == 0)
		tv.tv_sec = 60;
	pooler.last_stats_time = get_time_usec();
	event_assign(&pooler.ev_stats, pooler.base, -1, EV_PERSIST, stats_cb, NULL);
	event_add(&pooler.ev_stats, &tv);
}
