/*
 * auth_file reader, in PgBouncer's format (compatibility reference §1.5):
 *
 *   "username" "secret" anything else on the line is ignored
 *   ; a comment
 *
 * Both fields are double-quoted, "" stands for one quote.  The first line
 * that does not fit logs "broken auth file" and ends parsing; what was read
 * before it is kept.  Entries end up sorted by name and unique (a later line
 * for the same user wins, as in PgBouncer), so lookups are a binary search.
 */
#include "userlist.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* PgBouncer's MAX_USERNAME and MAX_PASSWORD (releases up to 1.25.2), NUL included. */
#define MAX_USERNAME	128
#define MAX_PASSWORD	2048

#define MAX_AUTH_FILE_SIZE	(256 * 1024 * 1024)

/* One double-quoted field as it appears in the buffer, quotes excluded. */
struct field {
	const char *start;
	size_t raw_len;		/* escaped length, as PgBouncer measures it */
};

struct cursor {
	const char *p;
	const char *end;
};

static bool at_end(const struct cursor *c)
{
	return c->p >= c->end;
}

static void skip_to_eol(struct cursor *c)
{
	while (!at_end(c) && *c->p != '\n')
		c->p++;
}

static bool is_ws(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/*
 * Read "..." at the cursor.  A field may not span lines or contain NUL
 * bytes: both mean the file is broken, not that the name is odd.
 */
static bool read_field(struct cursor *c, struct field *f)
{
	if (at_end(c) || *c->p != '"')
		return false;
	f->start = ++c->p;
	for (;;) {
		if (at_end(c) || *c->p == '\n' || *c->p == '\0')
			return false;
		if (*c->p == '"') {
			if (c->p + 1 < c->end && c->p[1] == '"') {
				c->p += 2;
				continue;
			}
			break;
		}
		c->p++;
	}
	f->raw_len = c->p - f->start;
	c->p++;		/* closing quote */
	return true;
}

/* Copy a field, turning "" into ". */
static char *unquote(const struct field *f)
{
	char *out = xmalloc(f->raw_len + 1);
	size_t n = 0;

	for (size_t i = 0; i < f->raw_len; i++) {
		out[n++] = f->start[i];
		if (f->start[i] == '"')
			i++;	/* skip the second quote of the pair */
	}
	out[n] = '\0';
	return out;
}

static void add_entry(struct userlist *ul, int *cap, const struct field *name, const struct field *secret)
{
	if (ul->n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		ul->entries = xrealloc(ul->entries, *cap * sizeof(*ul->entries));
	}
	ul->entries[ul->n].name = unquote(name);
	ul->entries[ul->n].secret = unquote(secret);
	ul->n++;
}

/* Parse one "user" "secret" line at the cursor; false (logged) if it is broken. */
static bool parse_entry(struct cursor *c, struct userlist *ul, int *cap)
{
	struct field name, secret;

	if (!read_field(c, &name)) {
		log_error("broken auth file");
		return false;
	}
	if (name.raw_len >= MAX_USERNAME) {
		log_error("username too long in auth file");
		return false;
	}
	/*
	 * PgBouncer skips anything up to the next quote; we do the same, but
	 * only on this line, so that a line missing its secret does not
	 * swallow the next user's name as one.
	 */
	while (!at_end(c) && *c->p != '"' && *c->p != '\n')
		c->p++;
	if (!read_field(c, &secret)) {
		log_error("broken auth file");
		return false;
	}
	if (secret.raw_len >= MAX_PASSWORD) {
		log_error("password too long in auth file");
		return false;
	}
	add_entry(ul, cap, &name, &secret);
	skip_to_eol(c);		/* the rest of the line is ignored */
	return true;
}

static void free_entry(struct userlist_entry *e)
{
	if (e->secret)
		secure_zero(e->secret, strlen(e->secret));
	free(e->secret);
	free(e->name);
	e->name = e->secret = NULL;
}

/* Entries paired with their line order, so that sorting keeps "last one wins". */
struct ordered {
	struct userlist_entry e;
	int seq;
};

static int cmp_ordered(const void *a, const void *b)
{
	const struct ordered *x = a, *y = b;
	int r = strcmp(x->e.name, y->e.name);

	if (r != 0)
		return r;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Sort by name and drop all but the last line for each user. */
static void sort_unique(struct userlist *ul)
{
	struct ordered *tmp;
	int n = 0;

	if (ul->n < 2)
		return;
	tmp = xmalloc(ul->n * sizeof(*tmp));
	for (int i = 0; i < ul->n; i++) {
		tmp[i].e = ul->entries[i];
		tmp[i].seq = i;
	}
	qsort(tmp, ul->n, sizeof(*tmp), cmp_ordered);
	for (int i = 0; i < ul->n; i++) {
		if (i + 1 < ul->n && strcmp(tmp[i].e.name, tmp[i + 1].e.name) == 0)
			free_entry(&tmp[i].e);
		else
			ul->entries[n++] = tmp[i].e;
	}
	ul->n = n;
	free(tmp);
}

struct userlist *userlist_parse(const char *text, size_t len)
{
	struct userlist *ul = xcalloc(1, sizeof(*ul));
	struct cursor c;
	int cap = 0;

	if (!text)
		return ul;
	c.p = text;
	c.end = text + len;
	for (;;) {
		while (!at_end(&c) && is_ws(*c.p))
			c.p++;
		if (at_end(&c))
			break;
		if (*c.p == ';') {
			skip_to_eol(&c);
			continue;
		}
		/* Anything else, '#' included, must start an entry. */
		if (!parse_entry(&c, ul, &cap))
			break;
	}
	sort_unique(ul);
	return ul;
}

/* Read the whole file; NULL with errno set on failure. */
static char *read_file(const char *path, size_t *len_p)
{
	FILE *f = fopen(path, "r");
	size_t len = 0, cap = 8192;
	char *buf;
	int err;

	if (!f)
		return NULL;
	buf = xmalloc(cap);
	for (;;) {
		size_t n = fread(buf + len, 1, cap - len, f);

		len += n;
		if (n == 0)
			break;
		if (len == cap) {
			if (cap >= MAX_AUTH_FILE_SIZE) {
				errno = EFBIG;
				goto fail;
			}
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
	}
	if (ferror(f))
		goto fail;
	fclose(f);
	*len_p = len;
	return buf;
fail:
	err = errno;
	fclose(f);
	secure_zero(buf, len);
	free(buf);
	errno = err;
	return NULL;
}

struct userlist *userlist_load(const char *path)
{
	struct userlist *ul;
	size_t len = 0;
	char *buf;

	if (!path) {
		errno = EINVAL;
		return NULL;
	}
	buf = read_file(path, &len);
	if (!buf) {
		int err = errno;

		log_error("could not open auth_file %s: %s", path, strerror(err));
		errno = err;
		return NULL;
	}
	ul = userlist_parse(buf, len);
	/* The buffer held every secret in the file. */
	secure_zero(buf, len);
	free(buf);
	return ul;
}

void userlist_free(struct userlist *ul)
{
	if (!ul)
		return;
	for (int i = 0; i < ul->n; i++)
		free_entry(&ul->entries[i]);
	free(ul->entries);
	free(ul);
}

static int cmp_name_entry(const void *key, const void *elem)
{
	const struct userlist_entry *e = elem;

	return strcmp(key, e->name);
}

const struct userlist_entry *userlist_find(const struct userlist *ul, const char *name)
{
	if (!ul || !name || ul->n == 0)
		return NULL;
	return bsearch(name, ul->entries, ul->n, sizeof(*ul->entries), cmp_name_entry);
}
