/*
 * Asynchronous host name resolution with c-ares on the libevent loop, with a
 * cache honouring dns_max_ttl / dns_nxdomain_ttl (as PgBouncer's dnslookup.c).
 */
#ifndef PGWARDEN_DNS_H
#define PGWARDEN_DNS_H

#include "util.h"
#include <sys/socket.h>

struct event_base;
struct dns_context;

/* addrs: resolved addresses (sockaddr_in / sockaddr_in6 with port 0), n = 0 on failure. */
typedef void (*dns_callback)(void *arg, const struct sockaddr *const *addrs, int n, const char *errmsg);

/* A cached name's addresses changed (a later answer differs from the one before). */
typedef void (*dns_change_callback)(const char *name);
/* One cached answer: seconds left, and the addresses (none for a failed lookup). */
typedef void (*dns_host_fn)(void *arg, const char *name, usec_t ttl_left, const struct sockaddr *const *addrs,
			    int n);
typedef void (*dns_zone_fn)(void *arg, const char *zone, uint32_t serial, int names);

/* resolv_conf: a resolv.conf to use instead of the system's (NULL or "": the system's). */
struct dns_context *dns_create(struct event_base *base, const char *resolv_conf);
/* dns_zone_check_period: poll the zones' SOA serials this often (0: never). */
void dns_set_zone_check(struct dns_context *ctx, usec_t period);
void dns_set_change_callback(struct dns_context *ctx, dns_change_callback cb);
/* SHOW DNS_HOSTS, SHOW DNS_ZONES, SHOW LISTS */
void dns_list_hosts(struct dns_context *ctx, dns_host_fn fn, void *arg);
void dns_list_zones(struct dns_context *ctx, dns_zone_fn fn, void *arg);
void dns_counts(struct dns_context *ctx, int *names, int *zones, int *pending);
void dns_set_ttl(struct dns_context *ctx, usec_t max_ttl, usec_t nxdomain_ttl);
/*
 * Resolve name.  IP literals and cached names may call back before returning.
 * Returns a request handle that can be cancelled (the callback will then not
 * be called), or NULL if the callback already ran.
 */
struct dns_request *dns_resolve(struct dns_context *ctx, const char *name, dns_callback cb, void *arg);
void dns_cancel(struct dns_request *req);
void dns_free(struct dns_context *ctx);

#endif
