/*
 * The redact plugin's verdict cache (see redact_cache.h).
 */
#include "redact_cache.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a: only picks the slot; the stored text decides a hit. */
static struct verdict_cache_entry *slot_of(struct verdict_cache *c, int policy, const char *text)
{
	uint64_t h = 14695981039346656037ULL ^ (uint64_t)policy;

	for (const unsigned char *p = (const unsigned char *)text; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return &c->slots[h % VERDICT_CACHE_SLOTS];
}

bool verdict_cache_get(struct verdict_cache *c, int policy, const char *normalized, struct guard_verdict *out)
{
	struct verdict_cache_entry *e = slot_of(c, policy, normalized);

	if (e->text && e->policy == policy && strcmp(e->text, normalized) == 0) {
		*out = e->verdict;
		c->hits++;
		return true;
	}
	c->misses++;
	return false;
}

void verdict_cache_put(struct verdict_cache *c, int policy, const char *normalized, const struct guard_verdict *v)
{
	struct verdict_cache_entry *e;

	if (strlen(normalized) > VERDICT_CACHE_MAX_TEXT)
		return;
	e = slot_of(c, policy, normalized);
	free(e->text);
	e->text = strdup(normalized);
	e->policy = policy;
	e->verdict = *v;
}

void verdict_cache_clear(struct verdict_cache *c)
{
	for (int i = 0; i < VERDICT_CACHE_SLOTS; i++) {
		free(c->slots[i].text);
		c->slots[i].text = NULL;
	}
}
