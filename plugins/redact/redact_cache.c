/*
 * The redact plugin's verdict cache (see redact_cache.h).
 */
#include "redact_cache.h"
#include "text_cache.h"

#include <stdlib.h>
#include <string.h>

struct verdict_cache *verdict_cache_new(void)
{
	struct verdict_cache *c = calloc(1, sizeof(*c));

	if (c && !(c->entries = text_cache_new(VERDICT_CACHE_ENTRIES))) {
		free(c);
		return NULL;
	}
	return c;
}

void verdict_cache_free(struct verdict_cache *c)
{
	if (!c)
		return;
	text_cache_free(c->entries);
	free(c);
}

bool verdict_cache_get(struct verdict_cache *c, int policy, const char *normalized, struct guard_verdict *out)
{
	size_t len;
	const void *v = text_cache_get(c->entries, policy, normalized, &len);

	if (v && len == sizeof(*out)) {
		memcpy(out, v, sizeof(*out));
		c->hits++;
		return true;
	}
	c->misses++;
	return false;
}

void verdict_cache_put(struct verdict_cache *c, int policy, const char *normalized, const struct guard_verdict *v)
{
	if (strlen(normalized) <= VERDICT_CACHE_MAX_TEXT)
		text_cache_put(c->entries, policy, normalized, v, sizeof(*v));
}

void verdict_cache_clear(struct verdict_cache *c)
{
	text_cache_clear(c->entries);
}
