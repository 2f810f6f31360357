/*
 * Intrusive chained hash table (see hashtab.h).
 */
#include "hashtab.h"
#include "util.h"

#include <stdlib.h>

static size_t slot_of(const struct htab *t, uint64_t hash)
{
	return (size_t)hash & (t->nslots - 1);
}

static void grow(struct htab *t)
{
	size_t old_n = t->nslots;
	struct hnode **old = t->slots;

	t->nslots = old_n ? old_n * 2 : 16;
	t->slots = xcalloc(t->nslots, sizeof(*t->slots));
	for (size_t i = 0; i < old_n; i++) {
		struct hnode *n = old[i];
		while (n) {
			struct hnode *next = n->next;
			size_t s = slot_of(t, n->hash);
			n->next = t->slots[s];
			t->slots[s] = n;
			n = next;
		}
	}
	free(old);
}

void htab_insert(struct htab *t, struct hnode *node, uint64_t hash)
{
	size_t s;

	if (t->count >= t->nslots)
		grow(t);
	s = slot_of(t, hash);
	node->hash = hash;
	node->next = t->slots[s];
	t->slots[s] = node;
	t->count++;
}

void htab_remove(struct htab *t, struct hnode *node)
{
	struct hnode **at;

	if (!t->nslots)
		return;
	for (at = &t->slots[slot_of(t, node->hash)]; *at; at = &(*at)->next) {
		if (*at == node) {
			*at = node->next;
			t->count--;
			return;
		}
	}
}

void htab_free(struct htab *t)
{
	free(t->slots);
	t->slots = NULL;
	t->nslots = t->count = 0;
}

static struct hnode *same_hash_from(struct hnode *n, uint64_t hash)
{
	while (n && n->hash != hash)
		n = n->next;
	return n;
}

struct hnode *htab_first(const struct htab *t, uint64_t hash)
{
	return t->nslots ? same_hash_from(t->slots[slot_of(t, hash)], hash) : NULL;
}

struct hnode *hnode_next(const struct hnode *node)
{
	return same_hash_from(node->next, node->hash);
}

uint64_t hash_bytes(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}
