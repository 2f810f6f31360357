/*
 * The plugins' per-statement caches (see text_cache.h).
 */
#include "text_cache.h"

#include <stdlib.h>
#include <string.h>

struct text_cache_entry {
	char *text;			/* NULL: empty */
	int tag;
	uint32_t hash;
	uint64_t used;			/* c->clock at the last hit or put */
	void *value;
	size_t len;
};

struct text_cache {
	size_t sets;
	uint64_t clock;
	struct text_cache_entry entries[];	/* sets x TEXT_CACHE_WAYS */
};

/* Eight bytes a step: the caches are looked up for every statement, and a
 * byte-at-a-time hash over every statement's text was a visible cost. */
static uint32_t text_hash(int tag, const char *s)
{
	size_t len = strlen(s);
	uint64_t h = 0x9e3779b97f4a7c15ull ^ len ^ ((uint64_t)(uint32_t)tag << 32), w;

	for (; len >= 8; s += 8, len -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	w = 0;
	memcpy(&w, s, len);
	h = (h ^ w) * 0xff51afd7ed558ccdull;
	return (uint32_t)(h ^ (h >> 29));
}

struct text_cache *text_cache_new(size_t entries)
{
	size_t sets = entries / TEXT_CACHE_WAYS ? entries / TEXT_CACHE_WAYS : 1;
	struct text_cache *c = calloc(1, sizeof(*c) + sets * TEXT_CACHE_WAYS * sizeof(c->entries[0]));

	if (c)
		c->sets = sets;
	return c;
}

static void entry_clear(struct text_cache_entry *e)
{
	free(e->text);
	free(e->value);
	memset(e, 0, sizeof(*e));
}

void text_cache_clear(struct text_cache *c)
{
	for (size_t i = 0; i < c->sets * TEXT_CACHE_WAYS; i++)
		entry_clear(&c->entries[i]);
}

void text_cache_free(struct text_cache *c)
{
	if (!c)
		return;
	text_cache_clear(c);
	free(c);
}

static struct text_cache_entry *set_of(struct text_cache *c, uint32_t hash)
{
	return &c->entries[(hash % c->sets) * TEXT_CACHE_WAYS];
}

static struct text_cache_entry *find(struct text_cache *c, int tag, const char *text, uint32_t hash)
{
	struct text_cache_entry *set = set_of(c, hash);

	for (int i = 0; i < TEXT_CACHE_WAYS; i++) {
		struct text_cache_entry *e = &set[i];
		if (e->text && e->hash == hash && e->tag == tag && strcmp(e->text, text) == 0)
			return e;
	}
	return NULL;
}

const void *text_cache_get(struct text_cache *c, int tag, const char *text, size_t *len)
{
	struct text_cache_entry *e = find(c, tag, text, text_hash(tag, text));

	if (!e)
		return NULL;
	e->used = ++c->clock;
	*len = e->len;
	return e->value;
}

/* The entry for a new text: an empty one of its set, else the least recently used. */
static struct text_cache_entry *victim(struct text_cache *c, uint32_t hash)
{
	struct text_cache_entry *set = set_of(c, hash), *oldest = &set[0];

	for (int i = 0; i < TEXT_CACHE_WAYS; i++) {
		if (!set[i].text)
			return &set[i];
		if (set[i].used < oldest->used)
			oldest = &set[i];
	}
	return oldest;
}

const void *text_cache_put(struct text_cache *c, int tag, const char *text, const void *value, size_t len)
{
	uint32_t hash = text_hash(tag, text);
	struct text_cache_entry *e = find(c, tag, text, hash);
	char *text_copy = e ? NULL : strdup(text);
	void *value_copy = malloc(len ? len : 1);

	if ((!e && !text_copy) || !value_copy) {
		free(text_copy);
		free(value_copy);
		return NULL;
	}
	if (len)
		memcpy(value_copy, value, len);
	if (!e) {
		e = victim(c, hash);
		entry_clear(e);
		e->text = text_copy;
		e->tag = tag;
		e->hash = hash;
	} else {
		free(e->value);
	}
	e->value = value_copy;
	e->len = len;
	e->used = ++c->clock;
	return e->value;
}
