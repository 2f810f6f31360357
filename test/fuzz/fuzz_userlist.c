/*
 * libFuzzer harness for the auth_file parser (src/userlist.c,
 * userlist_parse): any bytes give a user list (maybe empty), never a crash,
 * a leak or a read past the input.
 *
 * Checked, as the module promises: entries are sorted by name and unique,
 * userlist_find() finds each one, names and secrets stay within PgBouncer's
 * limits and on one line.  And "a later line for the same user wins":
 * appending a probe user and a new line for the first user, when the
 * parser got as far as the probe, the first user's secret is the new one,
 * the probe is there and nobody else was lost or added.
 */
/* fuzz-build: src/userlist.c src/util.c src/log.c -- -lcrypto */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "userlist.h"
#include "fuzz_check.h"

#define MAX_USERNAME 128	/* NUL included, as in userlist.c */
#define MAX_PASSWORD 2048

#define PROBE_NAME "fuzz probe \x01"
#define NEW_SECRET "SCRAM-SHA-256$new"

static void check_list(const struct userlist *ul)
{
	CHECK(ul && ul->n >= 0);
	for (int i = 0; i < ul->n; i++) {
		const struct userlist_entry *e = &ul->entries[i];

		CHECK(e->name && e->secret);
		CHECK(strlen(e->name) < MAX_USERNAME && strlen(e->secret) < MAX_PASSWORD);
		CHECK(!strchr(e->name, '\n') && !strchr(e->secret, '\n'));
		if (i > 0)
			CHECK(strcmp(ul->entries[i - 1].name, e->name) < 0);
		CHECK(userlist_find(ul, e->name) == e);
	}
}

/* text + a probe user + a new line for name, in the file's quoting. */
static char *with_override(const uint8_t *data, size_t size, const char *name, size_t *len_p)
{
	size_t cap = size + 2 * strlen(name) + 64;
	char *out = malloc(cap);
	size_t n = size;

	memcpy(out, data, size);
	n += (size_t)sprintf(out + n, "\n\"%s\" \"x\"\n\"", PROBE_NAME);
	for (const char *p = name; *p; p++) {
		if (*p == '"')
			out[n++] = '"';
		out[n++] = *p;
	}
	n += (size_t)sprintf(out + n, "\" \"%s\"\n", NEW_SECRET);
	*len_p = n;
	return out;
}

static void check_last_line_wins(const uint8_t *data, size_t size, const struct userlist *ul)
{
	const char *name = ul->entries[0].name;
	bool had_probe = userlist_find(ul, PROBE_NAME) != NULL;
	struct userlist *ul2;
	size_t len;
	char *text = with_override(data, size, name, &len);

	ul2 = userlist_parse(text, len);
	check_list(ul2);
	/* the probe shows the parser read the lines we appended */
	if (!had_probe && userlist_find(ul2, PROBE_NAME)) {
		const struct userlist_entry *e = userlist_find(ul2, name);

		CHECK(e && strcmp(e->secret, NEW_SECRET) == 0);
		CHECK(ul2->n == ul->n + 1);
		for (int i = 0; i < ul->n; i++)
			CHECK(userlist_find(ul2, ul->entries[i].name));
	}
	userlist_free(ul2);
	free(text);
}

/* every broken file logs an error: keep the fuzzer's output readable */
FUZZ_INIT_QUIET_LOG()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy, so ASan sees any read past the end */
	char *text = malloc(size ? size : 1);
	struct userlist *ul;

	if (size)
		memcpy(text, data, size);
	ul = userlist_parse(text, size);
	check_list(ul);
	if (ul->n > 0)
		check_last_line_wins(data, size, ul);
	userlist_free(ul);
	free(text);
	return 0;
}
