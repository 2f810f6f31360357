/*
 * auth_file (userlist.txt): "user" "secret" lines, PgBouncer's format.
 */
#ifndef PGWARDEN_USERLIST_H
#define PGWARDEN_USERLIST_H

#include "util.h"

struct userlist_entry {
	char *name;
	char *secret;		/* plain text, "md5<32 hex>", "SCRAM-SHA-256$..." or "" */
};

struct userlist {
	struct userlist_entry *entries;
	int n;
};

/*
 * Parse the file.  Like PgBouncer: comments start with ';', the first broken
 * line logs "broken auth file" and stops parsing, entries before it are kept.
 * Returns NULL only when the file cannot be opened (errno set, logged).
 */
struct userlist *userlist_load(const char *path);
/* Parse from a memory buffer (for unit tests and the loader itself). */
struct userlist *userlist_parse(const char *text, size_t len);
void userlist_free(struct userlist *ul);
const struct userlist_entry *userlist_find(const struct userlist *ul, const char *name);

#endif
