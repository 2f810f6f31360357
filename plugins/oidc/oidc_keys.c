/*
 * Signing keys of the OIDC plugin and signature checks.
 */
#include "oidc_keys.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_KEY_FILE (1024 * 1024)

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static struct oidc_keyset *new_keyset(const char *source, size_t capacity)
{
	struct oidc_keyset *ks = calloc(1, sizeof(*ks));
	ks->keys = calloc(capacity ? capacity : 1, sizeof(struct oidc_key));
	ks->source = strdup(source);
	ks->loaded_at = (int64_t)time(NULL);
	return ks;
}

void oidc_keyset_free(struct oidc_keyset *ks)
{
	if (!ks)
		return;
	for (int i = 0; i < ks->n; i++) {
		free(ks->keys[i].kid);
		free(ks->keys[i].alg);
		EVP_PKEY_free(ks->keys[i].pkey);
	}
	free(ks->keys);
	free(ks->source);
	free(ks);
}

/* Takes pkey. */
static void add_key(struct oidc_keyset *ks, EVP_PKEY *pkey, enum jwk_kty kty, const char *kid, const char *alg)
{
	struct oidc_key *k = &ks->keys[ks->n++];
	k->pkey = pkey;
	k->kty = kty;
	k->kid = dup_or_null(kid);
	k->alg = dup_or_null(alg);
}

static int no_key_error(struct oidc_keyset *ks, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s", ks->source, what);
	oidc_keyset_free(ks);
	return -1;
}

struct oidc_keyset *oidc_keyset_from_jwks(const char *text, size_t len, const char *source,
					  char *warn, size_t warnlen, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	const json_t *keys = json_object_get(doc, "keys");
	const json_t *jwk;
	struct oidc_keyset *ks;
	size_t i;

	if (warn && warnlen)
		warn[0] = '\0';
	if (!json_is_array(keys)) {
		snprintf(err, errlen, "%s: not a JWKS (a JSON object with a \"keys\" array)%s%s", source,
			 doc ? "" : ": ", doc ? "" : jerr.text);
		json_decref(doc);
		return NULL;
	}
	ks = new_keyset(source, json_array_size(keys));
	json_array_foreach(keys, i, jwk) {
		char why[160];
		enum jwk_kty kty;
		EVP_PKEY *pkey = jwk_to_pkey(jwk, &kty, why, sizeof(why));
		const char *kid = json_string_value(json_object_get(jwk, "kid"));
		if (!pkey) {
			ks->skipped++;
			if (warn && warnlen)
				snprintf(warn, warnlen, "key %s skipped: %s", kid ? kid : "(no kid)", why);
			continue;
		}
		add_key(ks, pkey, kty, kid, json_string_value(json_object_get(jwk, "alg")));
	}
	json_decref(doc);
	if (!ks->n) {
		no_key_error(ks, "no usable signing key", err, errlen);
		return NULL;
	}
	return ks;
}

static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *buf;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(MAX_KEY_FILE + 1);
	*len = fread(buf, 1, MAX_KEY_FILE + 1, f);
	fclose(f);
	if (*len > MAX_KEY_FILE) {
		snprintf(err, errlen, "%s: larger than %d bytes", path, MAX_KEY_FILE);
		free(buf);
		return NULL;
	}
	buf[*len] = '\0';
	return buf;
}

struct oidc_keyset *oidc_keyset_from_file(const char *path, int is_pem, char *warn, size_t warnlen,
					  char *err, size_t errlen)
{
	size_t len;
	char *text = read_file(path, &len, err, errlen);
	struct oidc_keyset *ks = NULL;

	if (!text)
		return NULL;
	if (!is_pem) {
		ks = oidc_keyset_from_jwks(text, len, path, warn, warnlen, err, errlen);
	} else {
		enum jwk_kty kty;
		char why[160];
		EVP_PKEY *pkey = pem_to_pkey(text, len, &kty, why, sizeof(why));
		if (!pkey) {
			snprintf(err, errlen, "%s: %s", path, why);
		} else {
			ks = new_keyset(path, 1);
			add_key(ks, pkey, kty, NULL, NULL);
		}
	}
	free(text);
	return ks;
}

static int key_fits(const struct oidc_key *k, const struct oidc_token *t)
{
	if (k->alg && strcmp(k->alg, t->alg_name) != 0)
		return 0;
	return jws_key_fits(k->pkey, t->alg);
}

/* Keys that fit the token: with its kid (or, when by_kid is false, keys
 * without a kid).  Returns how many; *found is the last. */
static int fitting_keys(const struct oidc_keyset *ks, const struct oidc_token *t, bool by_kid,
			const struct oidc_key **found)
{
	int n = 0;

	for (int i = 0; ks && i < ks->n; i++) {
		const struct oidc_key *k = &ks->keys[i];
		if (by_kid ? !k->kid || strcmp(k->kid, t->kid) != 0 : k->kid != NULL)
			continue;
		if (key_fits(k, t)) {
			*found = k;
			n++;
		}
	}
	return n;
}

/* By kid first; a key without a kid (a PEM file) serves any token whose
 * algorithm it fits, and a token without a kid needs exactly one such key. */
const struct oidc_key *oidc_keyset_find(const struct oidc_keyset *ks, const struct oidc_token *t,
					char *err, size_t errlen)
{
	const struct oidc_key *found = NULL;
	int n = t->kid ? fitting_keys(ks, t, true, &found) : 0;

	if (!n)
		n = fitting_keys(ks, t, false, &found);
	if (!n && !t->kid)
		for (int i = 0; ks && i < ks->n; i++)
			if (key_fits(&ks->keys[i], t)) {
				found = &ks->keys[i];
				n++;
			}
	if (n == 1)
		return found;
	if (!n && t->kid)
		snprintf(err, errlen, "unknown signing key (kid \"%.64s\") for %s", t->kid, t->alg_name);
	else if (!n)
		snprintf(err, errlen, "no signing key for %s", t->alg_name);
	else
		snprintf(err, errlen, "token has no kid and several keys fit %s", t->alg_name);
	return NULL;
}

/*
 * Every algorithm through OpenSSL (jwk.c).  Not libjwt: Debian 12's libjwt
 * 1.10 has no PS* or EdDSA, and refuses any typ but "JWT" — RFC 9068 access
 * tokens say "at+jwt".  The algorithm was checked against the allow-list and
 * the key's type before we get here, so no token can pick HMAC.
 */
int oidc_key_verify(const struct oidc_key *key, const struct oidc_token *t)
{
	return jws_key_fits(key->pkey, t->alg) &&
	       jws_verify(t->alg, key->pkey, t->raw, t->signing_len, t->sig, t->sig_len) == 1;
}
