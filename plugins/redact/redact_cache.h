/*
 * Verdicts already reached, so that a statement seen before costs a
 * normalization and a hash instead of a parse and a tree walk.  The key is
 * the SHA-256 of the policy's name and the statement's normalized text
 * (pg_query_normalize: constants replaced by $n), so "... WHERE id = 1" and
 * "... WHERE id = 2" share an entry.  A fixed table: a new entry replaces
 * whatever shares its slot.  Cleared when the policy file is reloaded.
 */
#ifndef REDACT_CACHE_H
#define REDACT_CACHE_H

#include "redact_guard.h"

#include <stdint.h>

#define VERDICT_CACHE_SLOTS 4096

struct verdict_cache_entry {
	unsigned char key[32];
	bool used;
	struct guard_verdict verdict;
};

struct verdict_cache {
	struct verdict_cache_entry slots[VERDICT_CACHE_SLOTS];
	uint64_t hits;
	uint64_t misses;
};

/* key = SHA-256(policy NUL normalized); -1 if OpenSSL fails. */
int verdict_cache_key(const char *policy, const char *normalized, unsigned char key[32]);
bool verdict_cache_get(struct verdict_cache *c, const unsigned char key[32], struct guard_verdict *out);
void verdict_cache_put(struct verdict_cache *c, const unsigned char key[32], const struct guard_verdict *v);
void verdict_cache_clear(struct verdict_cache *c);

#endif
