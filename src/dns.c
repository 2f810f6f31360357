/*
 * Asynchronous name resolution: c-ares driven by the libevent loop.
 *
 * c-ares tells us which sockets it wants watched through its socket state
 * callback; each becomes a persistent libevent event, and one timer follows
 * ares_timeout() so retries and timeouts happen without any traffic.
 *
 * Answers are cached per name (dns_max_ttl, or the record TTL if lower;
 * dns_nxdomain_ttl for names that do not exist), and concurrent requests for
 * a name share one lookup, as in PgBouncer's dnslookup.c.
 *
 * dns_zone_check_period: every name's zone (what follows its first dot) has
 * its SOA serial polled; when a serial changes, the zone's names are looked
 * up again at once.  Whenever a new answer differs from the previous one, the
 * owner hears about it (dns_set_change_callback), to replace the connections
 * made to the old addresses.
 */
#include "dns.h"
#include "list.h"
#include "log.h"

#include <ares.h>
#include <errno.h>
#include <event2/event.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Per try; with two tries a dead DNS server fails a lookup in seconds. */
#define DNS_TIMEOUT_MS 2000
#define DNS_TRIES 2
/* PgBouncer's defaults for dns_max_ttl and dns_nxdomain_ttl. */
#define DNS_DEFAULT_TTL (15 * USEC_PER_SEC)

struct dns_context {
	struct event_base *base;
	ares_channel channel;
	struct event *timer;		/* fires at ares_timeout() */
	struct list_node entries;	/* struct dns_entry, one per name */
	struct list_node watchers;	/* struct dns_watcher, one per c-ares socket */
	usec_t max_ttl;
	usec_t nxdomain_ttl;
	struct list_node zones;		/* struct dns_zone */
	usec_t zone_period;		/* dns_zone_check_period; 0: off */
	struct event *zone_timer;
	dns_change_callback on_change;
};

/* A zone whose SOA serial is polled. */
struct dns_zone {
	struct list_node node;
	struct dns_context *ctx;
	char *name;
	uint32_t serial;		/* 0: not known yet */
	bool querying;
};

/* One name: its last answer and the requests waiting for a lookup. */
struct dns_entry {
	struct list_node node;
	struct dns_context *ctx;
	char *name;
	bool pending;			/* a c-ares lookup is running */
	bool have_result;
	/*
	 * Nesting depth of callbacks running over addrs.  While non-zero the
	 * answer is served as-is whatever its TTL, so a callback resolving the
	 * same name again cannot free addrs under the caller's feet.
	 */
	int delivering;
	usec_t expires;
	struct sockaddr_storage *addrs;
	const struct sockaddr **addr_ptrs;
	int naddrs;
	const char *errmsg;		/* static (ares_strerror) or NULL */
	struct list_node waiters;	/* struct dns_request */
};

struct dns_request {
	struct list_node node;		/* on dns_entry.waiters */
	dns_callback cb;
	void *arg;
};

struct dns_watcher {
	struct list_node node;
	struct dns_context *ctx;
	ares_socket_t fd;
	short flags;			/* EV_READ / EV_WRITE */
	struct event *ev;
};

/* --- libevent glue --- */

/* Re-arm the timer for c-ares' next retry or timeout, if any. */
static void update_timer(struct dns_context *ctx)
{
	struct timeval tv;

	if (ares_timeout(ctx->channel, NULL, &tv))
		evtimer_add(ctx->timer, &tv);
	else
		evtimer_del(ctx->timer);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_context *ctx = arg;

	/* No sockets: only lets c-ares expire and retry queries. */
	ares_process_fd(ctx->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	update_timer(ctx);
}

static void watcher_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_watcher *w = arg;
	struct dns_context *ctx = w->ctx;	/* w may be freed below */

	ares_process_fd(ctx->channel,
			(what & EV_READ) ? fd : ARES_SOCKET_BAD,
			(what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	update_timer(ctx);
}

static struct dns_watcher *find_watcher(struct dns_context *ctx, ares_socket_t fd)
{
	struct list_node *n;

	list_for_each(n, &ctx->watchers) {
		struct dns_watcher *w = container_of(n, struct dns_watcher, node);
		if (w->fd == fd)
			return w;
	}
	return NULL;
}

/* Freeing the event from inside its own callback is fine with libevent. */
static void watcher_free(struct dns_watcher *w)
{
	event_free(w->ev);
	list_del(&w->node);
	free(w);
}

static void watcher_add(struct dns_context *ctx, ares_socket_t fd, short flags)
{
	struct dns_watcher *w = xcalloc(1, sizeof(*w));

	w->ctx = ctx;
	w->fd = fd;
	w->flags = flags;
	w->ev = event_new(ctx->base, fd, flags | EV_PERSIST, watcher_cb, w);
	if (!w->ev || event_add(w->ev, NULL) < 0)
		die("dns: cannot watch c-ares socket %d", (int)fd);
	list_append(&ctx->watchers, &w->node);
}

/* c-ares opened, closed or changed interest in one of its sockets. */
static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_context *ctx = data;
	struct dns_watcher *w = find_watcher(ctx, fd);
	short flags = (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);

	if (w && w->flags == flags)
		return;
	if (w)
		watcher_free(w);
	if (flags)
		watcher_add(ctx, fd, flags);
}

/* --- cache entries --- */

static void entry_clear_result(struct dns_entry *e)
{
	free(e->addrs);
	free(e->addr_ptrs);
	e->addrs = NULL;
	e->addr_ptrs = NULL;
	e->naddrs = 0;
	e->errmsg = NULL;
	e->have_result = false;
}

/* Only for entries with no waiters (requests are dropped uncalled). */
static void entry_free(struct dns_entry *e)
{
	struct list_node *n;

	while ((n = list_pop(&e->waiters)))
		free(container_of(n, struct dns_request, node));
	entry_clear_result(e);
	list_del(&e->node);
	free(e->name);
	free(e);
}

static bool entry_fresh(const struct dns_entry *e, usec_t now)
{
	return e->have_result && (e->delivering > 0 || now < e->expires);
}

/* Drop stale answers nobody waits for, so odd names do not pile up. */
static void prune_entries(struct dns_context *ctx, usec_t now)
{
	struct list_node *n, *tmp;

	list_for_each_safe(n, tmp, &ctx->entries) {
		struct dns_entry *e = container_of(n, struct dns_entry, node);
		if (!e->pending && !entry_fresh(e, now) && list_empty(&e->waiters))
			entry_free(e);
	}
}

/* Names are few (one per configured host), so a list is enough. */
static struct dns_entry *find_entry(struct dns_context *ctx, const char *name)
{
	struct list_node *n;

	list_for_each(n, &ctx->entries) {
		struct dns_entry *e = container_of(n, struct dns_entry, node);
		if (strcasecmp(e->name, name) == 0)
			return e;
	}
	return NULL;
}

static struct dns_entry *entry_new(struct dns_context *ctx, const char *name)
{
	struct dns_entry *e = xcalloc(1, sizeof(*e));

	e->ctx = ctx;
	e->name = xstrdup(name);
	list_init(&e->waiters);
	list_append(&ctx->entries, &e->node);
	return e;
}

/* Call one callback over the entry's answer; see dns_entry.delivering. */
static void deliver(struct dns_entry *e, dns_callback cb, void *arg)
{
	e->delivering++;
	cb(arg, e->addr_ptrs, e->naddrs, e->errmsg);
	e->delivering--;
}

/*
 * Callbacks may cancel other waiters or resolve again, so take the waiters
 * off the list one at a time.
 */
static void deliver_waiters(struct dns_entry *e)
{
	struct list_node *n;

	while ((n = list_pop(&e->waiters))) {
		struct dns_request *req = container_of(n, struct dns_request, node);
		dns_callback cb = req->cb;
		void *arg = req->arg;

		free(req);
		deliver(e, cb, arg);
	}
}

/* --- lookups --- */

static int count_addrs(const struct ares_addrinfo *res)
{
	const struct ares_addrinfo_node *ai;
	int n = 0;

	for (ai = res ? res->nodes : NULL; ai; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
			n++;
	}
	return n;
}

/* Copy the addresses out; returns the lowest record TTL in seconds, 0 if none. */
static int store_addrs(struct dns_entry *e, const struct ares_addrinfo *res, int n)
{
	const struct ares_addrinfo_node *ai;
	int i = 0, ttl = 0;

	e->addrs = xcalloc(n, sizeof(*e->addrs));
	e->addr_ptrs = xcalloc(n, sizeof(*e->addr_ptrs));
	for (ai = res->nodes; ai && i < n; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		memcpy(&e->addrs[i], ai->ai_addr, MIN((size_t)ai->ai_addrlen, sizeof(e->addrs[i])));
		e->addr_ptrs[i] = (const struct sockaddr *)&e->addrs[i];
		if (ai->ai_ttl > 0 && (ttl == 0 || ai->ai_ttl < ttl))
			ttl = ai->ai_ttl;
		i++;
	}
	e->naddrs = i;
	return ttl;
}

/* Whether a new answer has other addresses than the one before it. */
static bool addrs_differ(const struct sockaddr_storage *old, int n_old, const struct dns_entry *e)
{
	if (n_old != e->naddrs)
		return true;
	for (int i = 0; i < n_old; i++)
		if (memcmp(&old[i], &e->addrs[i], sizeof(old[i])) != 0)
			return true;
	return false;
}

static void store_result(struct dns_entry *e, int status, const struct ares_addrinfo *res)
{
	struct dns_context *ctx = e->ctx;
	usec_t now = get_time_usec();
	int n = status == ARES_SUCCESS ? count_addrs(res) : 0;
	struct sockaddr_storage *old = e->addrs;
	int n_old = e->naddrs;
	int ttl;

	e->addrs = NULL;	/* kept a moment longer, to compare */
	entry_clear_result(e);
	e->have_result = true;
	if (n > 0) {
		/* Hosts-file answers carry no TTL (0): use dns_max_ttl then. */
		ttl = store_addrs(e, res, n);
		e->expires = now + (ttl > 0 ? MIN((usec_t)ttl * USEC_PER_SEC, ctx->max_ttl) : ctx->max_ttl);
		log_debug("dns: %s resolved to %d address(es), ttl %d", e->name, e->naddrs, ttl);
		if (n_old > 0 && addrs_differ(old, n_old, e) && ctx->on_change) {
			log_info("dns: the addresses of %s changed", e->name);
			ctx->on_change(e->name);
		}
		free(old);
		return;
	}
	free(old);

	e->errmsg = status == ARES_SUCCESS ? "no addresses found" : ares_strerror(status);
	log_warning("DNS lookup failed: %s: %s", e->name, e->errmsg);
	/*
	 * Only a definite "no such name" is cached; after a timeout or a
	 * server failure the next request tries again.
	 */
	if (status == ARES_ENOTFOUND || status == ARES_ENODATA || status == ARES_SUCCESS)
		e->expires = now + ctx->nxdomain_ttl;
	else
		e->expires = now;
}

static void lookup_done(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct dns_entry *e = arg;

	/* dns_free() is tearing the channel down and frees the entry itself. */
	if (status == ARES_EDESTRUCTION) {
		ares_freeaddrinfo(res);
		return;
	}
	e->pending = false;
	store_result(e, status, res);
	ares_freeaddrinfo(res);
	deliver_waiters(e);
}

/* May complete, and call back, before returning (hosts file, bad names). */
static void start_lookup(struct dns_entry *e)
{
	struct ares_addrinfo_hints hints;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;	/* one node per address */
	e->pending = true;
	ares_getaddrinfo(e->ctx->channel, e->name, NULL, &hints, lookup_done, e);
	update_timer(e->ctx);
}

/* IPv4/IPv6 literals (with an IPv6 scope, too) need no lookup at all. */
static bool resolve_literal(const char *name, dns_callback cb, void *arg)
{
	struct addrinfo hints, *res = NULL;
	struct sockaddr_storage ss;
	const struct sockaddr *sa = (const struct sockaddr *)&ss;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST;	/* never blocks: no lookup */
	if (getaddrinfo(name, NULL, &hints, &res) != 0 || !res)
		return false;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, res->ai_addr, MIN((size_t)res->ai_addrlen, sizeof(ss)));
	freeaddrinfo(res);
	cb(arg, &sa, 1, NULL);
	return true;
}

/* --- zone serial checks (dns_zone_check_period) --- */

/* What follows the first dot: PgBouncer's idea of a name's zone; NULL if none. */
static const char *zone_of(const char *name)
{
	const char *dot = strchr(name, '.');

	return dot && dot[1] ? dot + 1 : NULL;
}

static bool in_zone(const char *name, const char *zone)
{
	const char *z = zone_of(name);

	return z && strcasecmp(z, zone) == 0;
}

static struct dns_zone *find_zone(struct dns_context *ctx, const char *name)
{
	struct list_node *n;

	list_for_each(n, &ctx->zones) {
		struct dns_zone *z = container_of(n, struct dns_zone, node);
		if (strcasecmp(z->name, name) == 0)
			return z;
	}
	return NULL;
}

static int zone_name_count(struct dns_context *ctx, const char *zone)
{
	struct list_node *n;
	int count = 0;

	list_for_each(n, &ctx->entries)
		count += in_zone(container_of(n, struct dns_entry, node)->name, zone);
	return count;
}

/* The zone's serial changed: look every name in it up again now. */
static void refresh_zone(struct dns_context *ctx, const char *zone)
{
	struct list_node *n, *tmp;

	list_for_each_safe(n, tmp, &ctx->entries) {
		struct dns_entry *e = container_of(n, struct dns_entry, node);
		if (in_zone(e->name, zone) && !e->pending)
			start_lookup(e);	/* the answer replaces the cached one */
	}
}

static void zone_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_zone *z = arg;
	struct ares_soa_reply *soa = NULL;

	(void)timeouts;
	if (status == ARES_EDESTRUCTION)
		return;		/* dns_free() frees the zone */
	z->querying = false;
	if (status != ARES_SUCCESS || ares_parse_soa_reply(abuf, alen, &soa) != ARES_SUCCESS) {
		log_debug("dns: no SOA for zone %s: %s", z->name, ares_strerror(status));
		return;
	}
	if (z->serial && soa->serial != z->serial) {
		log_info("dns: zone %s serial changed (%u -> %u), looking its names up again", z->name, z->serial,
			 soa->serial);
		refresh_zone(z->ctx, z->name);
	}
	z->serial = soa->serial;
	ares_free_data(soa);
}

static void zone_free(struct dns_zone *z)
{
	list_del(&z->node);
	free(z->name);
	free(z);
}

/* Zones of the names in the cache; zones without names go (unless asked). */
static void collect_zones(struct dns_context *ctx)
{
	struct list_node *n, *tmp;

	list_for_each(n, &ctx->entries) {
		const char *zone = zone_of(container_of(n, struct dns_entry, node)->name);
		if (zone && !find_zone(ctx, zone)) {
			struct dns_zone *z = xcalloc(1, sizeof(*z));
			z->ctx = ctx;
			z->name = xstrdup(zone);
			list_append(&ctx->zones, &z->node);
		}
	}
	list_for_each_safe(n, tmp, &ctx->zones) {
		struct dns_zone *z = container_of(n, struct dns_zone, node);
		if (!z->querying && zone_name_count(ctx, z->name) == 0)
			zone_free(z);
	}
}

static void zone_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_context *ctx = arg;
	struct list_node *n;

	(void)fd;
	(void)what;
	collect_zones(ctx);
	list_for_each(n, &ctx->zones) {
		struct dns_zone *z = container_of(n, struct dns_zone, node);
		if (z->querying)
			continue;
		z->querying = true;
		ares_query(ctx->channel, z->name, 1 /* IN */, 6 /* SOA */, zone_answer, z);
	}
	update_timer(ctx);
}

void dns_set_zone_check(struct dns_context *ctx, usec_t period)
{
	struct timeval tv = { (time_t)(period / USEC_PER_SEC), (suseconds_t)(period % USEC_PER_SEC) };

	if (period == ctx->zone_period)
		return;
	ctx->zone_period = period;
	event_del(ctx->zone_timer);
	if (period)
		event_add(ctx->zone_timer, &tv);
}

void dns_set_change_callback(struct dns_context *ctx, dns_change_callback cb)
{
	ctx->on_change = cb;
}

void dns_list_hosts(struct dns_context *ctx, dns_host_fn fn, void *arg)
{
	usec_t now = get_time_usec();
	struct list_node *n;

	list_for_each(n, &ctx->entries) {
		const struct dns_entry *e = container_of(n, struct dns_entry, node);
		if (e->have_result)
			fn(arg, e->name, e->expires > now ? (e->expires - now) / USEC_PER_SEC : 0, e->addr_ptrs,
			   e->naddrs);
	}
}

void dns_list_zones(struct dns_context *ctx, dns_zone_fn fn, void *arg)
{
	struct list_node *n;

	list_for_each(n, &ctx->zones) {
		const struct dns_zone *z = container_of(n, struct dns_zone, node);
		fn(arg, z->name, z->serial, zone_name_count(ctx, z->name));
	}
}

void dns_counts(struct dns_context *ctx, int *names, int *zones, int *pending)
{
	struct list_node *n;

	*names = list_count(&ctx->entries);
	*zones = list_count(&ctx->zones);
	*pending = 0;
	list_for_each(n, &ctx->entries)
		*pending += container_of(n, struct dns_entry, node)->pending;
}

/* --- public API --- */

struct dns_context *dns_create(struct event_base *base, const char *resolv_conf)
{
	struct dns_context *ctx;
	struct ares_options opts;
	int optmask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
	int status;

	/* c-ares quietly uses its defaults when the file is missing: say so instead. */
	if (resolv_conf && resolv_conf[0] && access(resolv_conf, R_OK) != 0) {
		log_error("resolv_conf: cannot read %s: %s", resolv_conf, strerror(errno));
		return NULL;
	}

	status = ares_library_init(ARES_LIB_INIT_ALL);
	if (status != ARES_SUCCESS) {
		log_error("c-ares init failed: %s", ares_strerror(status));
		return NULL;
	}
	ctx = xcalloc(1, sizeof(*ctx));
	ctx->base = base;
	ctx->max_ttl = DNS_DEFAULT_TTL;
	ctx->nxdomain_ttl = DNS_DEFAULT_TTL;
	list_init(&ctx->entries);
	list_init(&ctx->watchers);
	list_init(&ctx->zones);

	/* Lookup order ("fb": hosts file, then DNS) comes from the system. */
	memset(&opts, 0, sizeof(opts));
	opts.sock_state_cb = sock_state_cb;
	opts.sock_state_cb_data = ctx;
	opts.timeout = DNS_TIMEOUT_MS;
	opts.tries = DNS_TRIES;
	if (resolv_conf && resolv_conf[0]) {
		opts.resolvconf_path = (char *)resolv_conf;	/* c-ares copies it */
		optmask |= ARES_OPT_RESOLVCONF;
	}
	status = ares_init_options(&ctx->channel, &opts, optmask);
	if (status != ARES_SUCCESS) {
		log_error("c-ares channel init failed: %s", ares_strerror(status));
		free(ctx);
		ares_library_cleanup();
		return NULL;
	}
	ctx->timer = evtimer_new(base, timer_cb, ctx);
	ctx->zone_timer = event_new(base, -1, EV_PERSIST, zone_timer_cb, ctx);
	if (!ctx->timer || !ctx->zone_timer)
		die("dns: cannot create timer");
	return ctx;
}

void dns_set_ttl(struct dns_context *ctx, usec_t max_ttl, usec_t nxdomain_ttl)
{
	ctx->max_ttl = max_ttl;
	ctx->nxdomain_ttl = nxdomain_ttl;
}

struct dns_request *dns_resolve(struct dns_context *ctx, const char *name, dns_callback cb, void *arg)
{
	usec_t now = get_time_usec();
	struct dns_entry *e;
	struct dns_request *req;

	if (resolve_literal(name, cb, arg))
		return NULL;

	e = find_entry(ctx, name);
	if (!e) {
		prune_entries(ctx, now);
		e = entry_new(ctx, name);
	}
	if (!e->pending && entry_fresh(e, now)) {
		deliver(e, cb, arg);
		return NULL;
	}

	req = xcalloc(1, sizeof(*req));
	req->cb = cb;
	req->arg = arg;
	list_append(&e->waiters, &req->node);
	if (!e->pending)
		start_lookup(e);
	/* Not pending any more: answered synchronously, req is gone. */
	return e->pending ? req : NULL;
}

void dns_cancel(struct dns_request *req)
{
	if (!req)
		return;
	/* The lookup goes on for the other waiters and the cache. */
	list_del(&req->node);
	free(req);
}

/* Pending requests are dropped without a callback.  Not from a callback. */
void dns_free(struct dns_context *ctx)
{
	struct list_node *n;

	if (!ctx)
		return;
	/* Fails every query with ARES_EDESTRUCTION and closes the sockets. */
	ares_destroy(ctx->channel);
	while ((n = list_first(&ctx->watchers)))
		watcher_free(container_of(n, struct dns_watcher, node));
	while ((n = list_first(&ctx->entries)))
		entry_free(container_of(n, struct dns_entry, node));
	while ((n = list_first(&ctx->zones)))
		zone_free(container_of(n, struct dns_zone, node));
	event_free(ctx->timer);
	event_free(ctx->zone_timer);
	free(ctx);
	ares_library_cleanup();
}
