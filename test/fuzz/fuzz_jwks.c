/*
 * libFuzzer harness for the OIDC plugin's JWKS parsing
 * (plugins/oidc/oidc_keys.c over jwk.c): any bytes as a JWKS document give
 * a key set or an error that says why - never a crash, a leak, or an error
 * left on OpenSSL's queue (jwk.h promises that: a later SSL_get_error() on
 * a client connection of the same thread would misread it).  Of a key set:
 *  - it holds at least one key, and every member of "keys" was either taken
 *    or counted as skipped (with a reason in warn);
 *  - each key came from a member with its kty, kid and alg, and is a usable
 *    public key: it fits an algorithm of its type and none of another type,
 *    and a signature check with it runs;
 *  - the key lookup never gives a token naming one kid a key with another
 *    kid, and what it gives fits the token's algorithm.
 */
/* fuzz-build: plugins/oidc/oidc_keys.c plugins/oidc/jwk.c -- -ljansson -lcrypto */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "oidc_keys.h"

static const char *const kty_names[] = { "RSA", "EC", "OKP" };

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* A member of "keys" that this key could have come from. */
static int has_source(const json_t *keys, const struct oidc_key *k)
{
	const json_t *jwk;
	size_t i;

	json_array_foreach(keys, i, jwk) {
		if (same(json_string_value(json_object_get(jwk, "kty")), kty_names[k->kty]) &&
		    same(json_string_value(json_object_get(jwk, "kid")), k->kid) &&
		    same(json_string_value(json_object_get(jwk, "alg")), k->alg))
			return 1;
	}
	return 0;
}

/* An algorithm the key fits, or JWS_ALG_UNKNOWN; aborts if it fits one of
 * another key type. */
static enum jws_alg fitting_alg(const struct oidc_key *k)
{
	enum jws_alg found = JWS_ALG_UNKNOWN;

	for (int a = 0; a < JWS_ALG_UNKNOWN; a++) {
		if (!jws_key_fits(k->pkey, (enum jws_alg)a))
			continue;
		if (jws_alg_kty((enum jws_alg)a) != k->kty) {
			fprintf(stderr, "a %s key fits %s\n", kty_names[k->kty], jws_alg_name((enum jws_alg)a));
			abort();
		}
		if (found == JWS_ALG_UNKNOWN)
			found = (enum jws_alg)a;
	}
	if (found == JWS_ALG_UNKNOWN) {
		fprintf(stderr, "a %s key fits no algorithm\n", kty_names[k->kty]);
		abort();
	}
	return found;
}

/* Look a key up for a token with this kid and algorithm. */
static void check_lookup(const struct oidc_keyset *ks, const char *kid, enum jws_alg alg)
{
	static const unsigned char zeros[1024];
	struct oidc_token t = { 0 };
	const struct oidc_key *found;
	char err[256] = "";

	t.raw = "e30.e30";
	t.raw_len = t.signing_len = 7;
	t.alg = alg;
	t.alg_name = jws_alg_name(alg);
	t.kid = kid;
	t.sig = (unsigned char *)zeros;
	t.sig_len = alg == JWS_ES256 ? 64 : alg == JWS_ES384 ? 96 : 256;
	found = oidc_keyset_find(ks, &t, err, sizeof(err));
	if (!found) {
		if (!err[0])
			abort();	/* a refusal says why */
		return;
	}
	if (kid && found->kid && strcmp(found->kid, kid) != 0) {
		fprintf(stderr, "token with kid \"%s\" got the key of kid \"%s\"\n", kid, found->kid);
		abort();
	}
	if (!jws_key_fits(found->pkey, alg) || (found->alg && strcmp(found->alg, t.alg_name) != 0)) {
		fprintf(stderr, "key %s does not fit %s\n", found->kid ? found->kid : "(no kid)", t.alg_name);
		abort();
	}
	/* Usable: the check runs (a zero signature is garbage for RSA and
	 * ECDSA; a chosen Ed25519 key may accept it, which is no bug here). */
	(void)oidc_key_verify(found, &t);
}

static void check_keyset(const struct oidc_keyset *ks, const json_t *doc, const char *warn)
{
	const json_t *keys = json_object_get(doc, "keys");

	if (!keys || ks->n < 1 || (size_t)(ks->n + ks->skipped) != json_array_size(keys) ||
	    (ks->skipped && !warn[0])) {
		fprintf(stderr, "%d keys + %d skipped of %zu members (warn \"%s\")\n", ks->n, ks->skipped,
			json_array_size(keys), warn);
		abort();
	}
	for (int i = 0; i < ks->n; i++) {
		const struct oidc_key *k = &ks->keys[i];
		enum jws_alg alg;

		if (!k->pkey || (unsigned)k->kty > JWK_OKP || !has_source(keys, k)) {
			fprintf(stderr, "key %d has no JWK it came from\n", i);
			abort();
		}
		(void)fitting_alg(k);
		alg = k->alg ? jws_alg_from_name(k->alg) : fitting_alg(k);
		if (alg == JWS_ALG_UNKNOWN || !jws_key_fits(k->pkey, alg))
			continue;	/* its "alg" names what it cannot do: never found */
		check_lookup(ks, k->kid, alg);
		check_lookup(ks, "no-such-kid", alg);
		check_lookup(ks, NULL, alg);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512] = "", warn[256] = "";
	struct oidc_keyset *ks;

	ERR_clear_error();
	ks = oidc_keyset_from_jwks((const char *)data, size, "fuzz.jwks", warn, sizeof(warn), err, sizeof(err));
	if (ks) {
		/* the same text, for what the members said */
		json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);

		if (!doc)
			abort();
		check_keyset(ks, doc, warn);
		json_decref(doc);
		oidc_keyset_free(ks);
	} else if (strncmp(err, "fuzz.jwks: ", 11) != 0 || !err[11]) {
		fprintf(stderr, "refused without a reason: \"%s\"\n", err);
		abort();
	}
	if (ERR_peek_error()) {
		ERR_print_errors_fp(stderr);
		fprintf(stderr, "an OpenSSL error was left on the queue\n");
		abort();
	}
	return 0;
}
