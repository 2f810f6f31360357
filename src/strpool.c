/*
 * Interned strings (strpool.h): a hash table of reference-counted copies.
 */
#include "strpool.h"
#include "hashtab.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct pooled_str {
	struct hnode node;
	uint32_t refs;
	char str[];
};

static struct htab pool;

static struct pooled_str *pooled_of(const char *str)
{
	return (struct pooled_str *)(void *)(str - offsetof(struct pooled_str, str));
}

const char *strpool_get(const char *value, size_t len)
{
	uint64_t h;
	struct pooled_str *ps;

	if (len == 0)
		return "";
	h = hash_bytes(value, len);
	for (struct hnode *n = htab_first(&pool, h); n; n = hnode_next(n)) {
		ps = (struct pooled_str *)(void *)n;
		if (memcmp(ps->str, value, len) == 0 && ps->str[len] == '\0') {
			ps->refs++;
			return ps->str;
		}
	}
	ps = xmalloc(sizeof(*ps) + len + 1);
	ps->refs = 1;
	memcpy(ps->str, value, len);
	ps->str[len] = '\0';
	htab_insert(&pool, &ps->node, h);
	return ps->str;
}

const char *strpool_share(const char *str)
{
	if (str && str[0])
		pooled_of(str)->refs++;
	return str;
}

void strpool_put(const char *str)
{
	struct pooled_str *ps;

	if (!str || !str[0])
		return;
	ps = pooled_of(str);
	if (--ps->refs == 0) {
		htab_remove(&pool, &ps->node);
		free(ps);
	}
}
