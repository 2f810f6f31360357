/*
 * Fetching the issuer's keys over HTTPS (libcurl), on a pgwarden worker
 * thread: never on the event loop.  With no jwks_uri configured, the
 * issuer's /.well-known/openid-configuration names it (and must name the
 * same issuer).  Certificates are verified; only https:// is followed.
 */
#ifndef OIDC_FETCH_H
#define OIDC_FETCH_H

#include <stddef.h>

struct oidc_fetch {
	/* in: copies, owned by the job */
	char *issuer;
	char *jwks_uri;			/* NULL: discover it */
	char *ca_file;			/* NULL: the system's CAs */
	long timeout_s;
	int (*exiting)(void);		/* nonzero: give up now (may be NULL) */
	void *owner;			/* the caller's, untouched */
	/* out */
	char *body;			/* the JWKS document */
	size_t len;
	char *jwks_uri_used;
	char err[256];			/* set when body is NULL */
};

/* Once per process, before any fetch (not thread-safe; call at init). */
int oidc_fetch_global_init(void);
void oidc_fetch_global_cleanup(void);

/* The worker's side: fills body/len or err.  Blocks. */
void oidc_fetch_run(void *job);
void oidc_fetch_free(struct oidc_fetch *job);

#endif
