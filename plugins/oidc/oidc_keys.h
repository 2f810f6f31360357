/*
 * The OIDC plugin's signing keys: a set loaded from a JWKS (file or the
 * issuer's jwks_uri) or one PEM public key, and signature checks with them.
 * A set is immutable once built; refreshing builds a new one and swaps it.
 */
#ifndef OIDC_KEYS_H
#define OIDC_KEYS_H

#include "jwk.h"
#include "oidc_token.h"

#include <stddef.h>
#include <stdint.h>

struct oidc_key {
	char *kid;			/* NULL: none */
	char *alg;			/* the JWK's "alg", NULL: any that fits */
	enum jwk_kty kty;
	EVP_PKEY *pkey;
};

struct oidc_keyset {
	struct oidc_key *keys;
	int n;
	int skipped;			/* JWKS members that were not usable signing keys */
	char *source;			/* file path or URL */
	int64_t loaded_at;
};

/* JWKS JSON text: {"keys": [...]}.  Unusable members are skipped (counted,
 * reason in warn); no usable key at all is an error. */
struct oidc_keyset *oidc_keyset_from_jwks(const char *text, size_t len, const char *source,
					  char *warn, size_t warnlen, char *err, size_t errlen);
struct oidc_keyset *oidc_keyset_from_file(const char *path, int is_pem, char *warn, size_t warnlen,
					  char *err, size_t errlen);
void oidc_keyset_free(struct oidc_keyset *ks);

/* The key for this token: by kid, else the only key that fits its alg.
 * NULL with err ("unknown signing key ..."). */
const struct oidc_key *oidc_keyset_find(const struct oidc_keyset *ks, const struct oidc_token *t,
					char *err, size_t errlen);

/* 1: the token's signature is valid with key. */
int oidc_key_verify(const struct oidc_key *key, const struct oidc_token *t);

#endif
