/*
 * Intrusive chained hash table: an object embeds a struct hnode and is
 * found by its 64-bit hash; the owner compares keys itself (walk the
 * chain with htab_first / hnode_next).  The slot array doubles when the
 * table is fuller than one entry per slot.
 */
#ifndef PGWARDEN_HASHTAB_H
#define PGWARDEN_HASHTAB_H

#include <stddef.h>
#include <stdint.h>

struct hnode {
	struct hnode *next;
	uint64_t hash;
};

struct htab {
	struct hnode **slots;
	size_t nslots;		/* a power of two, or 0 before the first insert */
	size_t count;
};

void htab_insert(struct htab *t, struct hnode *node, uint64_t hash);
void htab_remove(struct htab *t, struct hnode *node);
/* Frees the slot array only; the objects are the owner's. */
void htab_free(struct htab *t);

/* The first node with this hash, then the next one with the same hash. */
struct hnode *htab_first(const struct htab *t, uint64_t hash);
struct hnode *hnode_next(const struct hnode *node);

/* FNV-1a over bytes. */
uint64_t hash_bytes(const void *data, size_t len);

#endif
