/*
 * A fixed-size cache from a text, with a small integer tag (a policy
 * number, or 0), to a value: the plugins' per-statement caches (by exact
 * text, by shape key, by normalized text).
 *
 * Set-associative: a text may sit in any of TEXT_CACHE_WAYS entries of its
 * set, and a new text replaces the set's least recently used one.  (A
 * direct-mapped table let two texts that shared a slot evict each other at
 * every alternation: an application cycling through 200 statements missed
 * about 6 % of its lookups, and every miss is a full parse.)  The hash
 * only picks the set; the stored text and tag decide a hit, so no hash
 * collision can lend one text another's value.
 *
 * Values are copied in and owned by the cache; a value returned by
 * text_cache_get or text_cache_put stays valid until the next put or clear.
 * Not thread-safe: each cache belongs to one thread.
 */
#ifndef PGW_TEXT_CACHE_H
#define PGW_TEXT_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TEXT_CACHE_WAYS 4

struct text_cache;

/* A cache of about `entries` entries (at least one set); NULL without memory. */
struct text_cache *text_cache_new(size_t entries);
void text_cache_free(struct text_cache *c);

/* The value stored for (tag, text) and its length, or NULL. */
const void *text_cache_get(struct text_cache *c, int tag, const char *text, size_t *len);

/* Stores a copy of value under (tag, text), replacing any value it had;
 * the stored copy, or NULL without memory (the cache is then unchanged). */
const void *text_cache_put(struct text_cache *c, int tag, const char *text, const void *value, size_t len);

/* Forgets every entry. */
void text_cache_clear(struct text_cache *c);

#endif
