/*
 * libcurl requests on pgwarden's worker threads that give up when pgwarden
 * exits (host->exiting): a silent server must not hold the exit up for the
 * request's whole timeout.  Header-only, compiled into each plugin that
 * makes requests (oidc's key fetch, redact's approval webhook).
 */
#ifndef PGW_CURL_EXIT_H
#define PGW_CURL_EXIT_H

#include <pgwarden/plugin.h>

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

typedef int (*pgw_exiting_fn)(void);

/* host->exiting, or NULL on a core older than it (the exit then waits). */
static inline pgw_exiting_fn host_exiting_fn(const struct pgw_host *host)
{
	return host->size >= offsetof(struct pgw_host, exiting) + sizeof(host->exiting) ? host->exiting : NULL;
}

/* Any thread. */
static inline bool pgw_exiting(pgw_exiting_fn exiting)
{
	return exiting && exiting();
}

/* libcurl calls this at least once a second, connecting or not. */
static inline int curl_abandon_on_exit(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
				       curl_off_t ulnow)
{
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return pgw_exiting(*(const pgw_exiting_fn *)arg);
}

/* h stops with CURLE_ABORTED_BY_CALLBACK once *exiting says so; exiting
 * must outlive the request. */
static inline void curl_give_up_on_exit(CURL *h, const pgw_exiting_fn *exiting)
{
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, curl_abandon_on_exit);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)exiting);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
}

#endif
