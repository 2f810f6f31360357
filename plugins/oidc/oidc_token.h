/*
 * A JWT as the OIDC plugin sees it: split, decoded, and its claims checked
 * against the configured policy.  The signature is checked by oidc_keys.c
 * with the key the header names; nothing here trusts the token.
 */
#ifndef OIDC_TOKEN_H
#define OIDC_TOKEN_H

#include "jwk.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct oidc_token {
	const char *raw;		/* the token text (not owned) */
	size_t raw_len;
	json_t *header;
	json_t *claims;
	enum jws_alg alg;
	const char *alg_name;		/* as the header says */
	const char *kid;		/* NULL: no key id */
	size_t signing_len;		/* "header.payload": the first signing_len bytes of raw */
	unsigned char *sig;
	size_t sig_len;
};

/* What the claims must say.  Times are unix seconds. */
struct oidc_claim_policy {
	const char *issuer;
	const char *audience;
	const char *typ;		/* NULL: any */
	int64_t clock_skew;
	int64_t max_lifetime;		/* 0: no limit (exp - iat, or exp - now without iat) */
	char **required;		/* claims that must be present */
	int nrequired;
};

/* Split and decode.  -1 with err: malformed (not three base64url parts,
 * not JSON objects, no alg, too large). */
int oidc_token_parse(const char *raw, size_t len, size_t max_size, struct oidc_token *t,
		     char *err, size_t errlen);
void oidc_token_free(struct oidc_token *t);

/* iss, aud, exp, nbf, iat, lifetime, required claims, typ; at time now.
 * -1 with err naming the failed check. */
int oidc_token_check_claims(const struct oidc_token *t, const struct oidc_claim_policy *p, int64_t now,
			    char *err, size_t errlen);

/* A claim as text for logs and identity ("" when absent or not a string). */
const char *oidc_token_string(const struct oidc_token *t, const char *claim);
/* A claim as a whole number of seconds: 0 when absent, not a number, or
 * beyond the year 9999 either way (so that sums of times cannot overflow;
 * a NumericDate of 0 is refused). */
int64_t oidc_token_int(const struct oidc_token *t, const char *claim);

#endif
