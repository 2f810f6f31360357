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

/* resolv_conf: a resolv.conf to use instead of the system's (NULL or "": the system's). */
struct dns_context *dns_create(struct event_base *base, const char *resolv_conf);
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
