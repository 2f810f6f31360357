/*
 * libFuzzer harness for the statement shape key (plugins/common/sql_shape.c),
 * checked against libpg_query: the property the redact and audit caches
 * rely on.  For any text whose key normalize agreed with, every other text
 * with the same key (here: the key with each mark replaced by another
 * literal of its kind) must normalize to the same text.
 *
 *   test/fuzz/run.sh            (builds and runs every harness)
 */
/* fuzz-build: plugins/common/sql_shape.c -- -lpg_query */
#include <pg_query.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql_shape.h"

#define MAX_TEXT 2048

static char *normalized(const char *sql)
{
	PgQueryNormalizeResult r = pg_query_normalize(sql);
	char *out = r.error ? NULL : strdup(r.normalized_query);

	pg_query_free_normalize_result(r);
	return out;
}

/* The key with its marks replaced: integers by int_text, strings by str_text. */
static void other_text(const char *key, const char *int_text, const char *str_text, char *out, size_t size)
{
	size_t used = 0;

	for (const char *k = key; *k && used + 32 < size; k++) {
		const char *put = *k == SQL_SHAPE_INTEGER ? int_text : *k == SQL_SHAPE_STRING ? str_text : NULL;
		if (put) {
			used += (size_t)snprintf(out + used, size - used, "%s", put);
		} else {
			out[used++] = *k;
		}
	}
	out[used] = '\0';
}

static void check_variant(const char *text, const char *key, const char *norm, const char *int_text,
			  const char *str_text)
{
	char variant[MAX_TEXT * 8], key2[MAX_TEXT * 8];
	char *norm2;

	other_text(key, int_text, str_text, variant, sizeof(variant));
	if (!sql_shape_key(variant, key2, sizeof(key2)) || strcmp(key, key2) != 0) {
		fprintf(stderr, "variant has another key:\n%s\n%s\n", text, variant);
		abort();
	}
	norm2 = normalized(variant);
	if (!norm2 || strcmp(norm, norm2) != 0) {
		fprintf(stderr, "one key, two shapes:\n%s\n-> %s\n%s\n-> %s\n", text, norm, variant,
			norm2 ? norm2 : "(parse error)");
		abort();
	}
	free(norm2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[MAX_TEXT + 1], key[MAX_TEXT + 1];
	char *norm;

	if (size > MAX_TEXT)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (strlen(text) != size || !sql_shape_key(text, key, sizeof(key)))
		return 0;
	norm = normalized(text);
	if (norm && sql_shape_agrees(key, norm)) {
		check_variant(text, key, norm, "7", "'q'");
		check_variant(text, key, norm, "2147483647", "''");
		check_variant(text, key, norm, "0", "'it''s -- /* $$'");
	}
	free(norm);
	return 0;
}
