/*
 * The redact plugin's verdict cache (see redact_cache.h).
 */
#include "redact_cache.h"

#include <openssl/evp.h>
#include <string.h>

int verdict_cache_key(const char *policy, const char *normalized, unsigned char key[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(ctx, policy, strlen(policy) + 1) == 1 &&
		 EVP_DigestUpdate(ctx, normalized, strlen(normalized)) == 1 &&
		 EVP_DigestFinal_ex(ctx, key, &n) == 1 && n == 32;

	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

static struct verdict_cache_entry *slot_of(struct verdict_cache *c, const unsigned char key[32])
{
	uint32_t h;
	memcpy(&h, key, sizeof(h));
	return &c->slots[h % VERDICT_CACHE_SLOTS];
}

bool verdict_cache_get(struct verdict_cache *c, const unsigned char key[32], struct guard_verdict *out)
{
	struct verdict_cache_entry *e = slot_of(c, key);

	if (e->used && memcmp(e->key, key, sizeof(e->key)) == 0) {
		*out = e->verdict;
		c->hits++;
		return true;
	}
	c->misses++;
	return false;
}

void verdict_cache_put(struct verdict_cache *c, const unsigned char key[32], const struct guard_verdict *v)
{
	struct verdict_cache_entry *e = slot_of(c, key);
	memcpy(e->key, key, sizeof(e->key));
	e->verdict = *v;
	e->used = true;
}

void verdict_cache_clear(struct verdict_cache *c)
{
	memset(c->slots, 0, sizeof(c->slots));
}
