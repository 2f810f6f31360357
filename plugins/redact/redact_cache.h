/*
 * Verdicts already reached, so that a statement seen before costs a
 * normalization and a lookup instead of a parse and a tree walk.  The key is
 * the policy and the statement's normalized text (pg_query_normalize:
 * constants replaced by $n), so "... WHERE id = 1" and "... WHERE id = 2"
 * share an entry — or, in a second cache, its shape key (sql_shape.h).
 * The text itself is stored and compared, so no hash collision can lend one
 * statement another's verdict.  A fixed size (text_cache.h: a new entry
 * replaces the least recently used of its set); texts longer than
 * VERDICT_CACHE_MAX_TEXT are not cached.  Cleared when the policy is
 * reloaded.
 */
#ifndef REDACT_CACHE_H
#define REDACT_CACHE_H

#include "redact_guard.h"

#include <stdint.h>

#define VERDICT_CACHE_ENTRIES 4096
#define VERDICT_CACHE_MAX_TEXT 4096

struct verdict_cache {
	struct text_cache *entries;
	uint64_t hits;
	uint64_t misses;
};

/* NULL without memory. */
struct verdict_cache *verdict_cache_new(void);
void verdict_cache_free(struct verdict_cache *c);

bool verdict_cache_get(struct verdict_cache *c, int policy, const char *normalized, struct guard_verdict *out);
void verdict_cache_put(struct verdict_cache *c, int policy, const char *normalized, const struct guard_verdict *v);
void verdict_cache_clear(struct verdict_cache *c);

#endif
