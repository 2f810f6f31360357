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

static struct oidc_cache_entry *slot_of(struct oidc_cache *c, const unsigned char hash[32])
{
	uint32_t h;
	memcpy(&h, hash, sizeof(h));
	return &c->slots[h % OIDC_CACHE_SLOTS];
}

int oidc_cache_verified(struct oidc_cache *c, const unsigned char hash[32], int64_t now)
{
	struct oidc_cache_entry *e = slot_of(c, hash);

	if (e->until > now && memcmp(e->hash, hash, sizeof(e->hash)) == 0) {
		c->hits++;
		return 1;
	}
	c->misses++;
	return 0;
}

void oidc_cache_remember(struct oidc_cache *c, const unsigned char hash[32], int64_t until)
{
	struct oidc_cache_entry *e = slot_of(c, hash);
	memcpy(e->hash, hash, sizeof(e->hash));
	e->until = until;
}

void oidc_cache_clear(struct oidc_cache *c)
{
	memset(c->slots, 0, sizeof(c->slots));
}
