/*
 * The verified-signature cache of the OIDC plugin (see oidc_cache.h).
 */
#include "oidc_cache.h"

#include <openssl/evp.h>
#include <string.h>

int oidc_cache_hash(const char *token, size_t len, unsigned char hash[32])
{
	unsigned int n = 0;
	return EVP_Digest(token, len, hash, &n, EVP_sha256(), NULL) == 1 && n == 32 ? 0 : -1;
}

/* The OIDC_CACHE_WAYS entries a token may sit in. */
static struct oidc_cache_entry *set_of(struct oidc_cache *c, const unsigned char hash[32])
{
	uint32_t h;
	memcpy(&h, hash, sizeof(h));
	return &c->slots[(h % (OIDC_CACHE_SLOTS / OIDC_CACHE_WAYS)) * OIDC_CACHE_WAYS];
}

static struct oidc_cache_entry *find(struct oidc_cache *c, const unsigned char hash[32])
{
	struct oidc_cache_entry *set = set_of(c, hash);

	for (int i = 0; i < OIDC_CACHE_WAYS; i++) {
		if (set[i].until && memcmp(set[i].hash, hash, sizeof(set[i].hash)) == 0)
			return &set[i];
	}
	return NULL;
}

int oidc_cache_verified(struct oidc_cache *c, const unsigned char hash[32], int64_t now)
{
	struct oidc_cache_entry *e = find(c, hash);

	if (e && e->until > now) {
		c->hits++;
		return 1;
	}
	c->misses++;
	return 0;
}

/* The entry for a new token: an empty or expired one of its set, else the
 * one that expires first (it had the least time left to save). */
static struct oidc_cache_entry *victim(struct oidc_cache *c, const unsigned char hash[32], int64_t now)
{
	struct oidc_cache_entry *set = set_of(c, hash), *soonest = &set[0];

	for (int i = 0; i < OIDC_CACHE_WAYS; i++) {
		if (set[i].until <= now)
			return &set[i];
		if (set[i].until < soonest->until)
			soonest = &set[i];
	}
	return soonest;
}

void oidc_cache_remember(struct oidc_cache *c, const unsigned char hash[32], int64_t until, int64_t now)
{
	struct oidc_cache_entry *e = find(c, hash);

	if (!e)
		e = victim(c, hash, now);
	memcpy(e->hash, hash, sizeof(e->hash));
	e->until = until;
}

void oidc_cache_clear(struct oidc_cache *c)
{
	memset(c->slots, 0, sizeof(c->slots));
}
