/*
 * pg_hba.conf parser and matcher for auth_type = hba.
 *
 * Reading happens in three layers:
 *
 *   records   physical lines joined on a trailing backslash (PostgreSQL
 *             joins before tokenizing, so this works inside quotes and
 *             comments too);
 *   tokens    words and commas; "..." quotes blanks, commas and '#', and
 *             "" inside quotes is a literal quote;
 *   fields    connection type, database list, user list, address, method,
 *             options.
 *
 * Any error aborts the whole parse: an auth file that is half applied is
 * worse than the previous one, which the caller keeps.
 *
 * Matching is a linear walk over the rules, first match wins, exactly as
 * PostgreSQL does it.  It runs once per client login, so simplicity beats
 * indexing here.
 */
#include "hba.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* @file may include @file; a cycle must end in an error, not a stack overflow. */
#define HBA_MAX_INCLUDE_DEPTH	10
/* Bounds the work of a (non-cyclic) include tree with a large fan-out. */
#define HBA_MAX_INCLUDES	1000
/* Far beyond any sane HBA file; keeps a wrong path from eating memory. */
#define HBA_MAX_FILE_SIZE	(64 * 1024 * 1024)
/* Tokens quoted in error messages are cut here to keep the message readable. */
#define TOK_FMT			"\"%.200s\""

#define DEFAULT_FILENAME	"pg_hba.conf"

enum rule_type {
	RULE_LOCAL,
	RULE_HOST,
	RULE_HOSTSSL,
	RULE_HOSTNOSSL,
};

/* The database or user field of a rule. */
struct name_list {
	bool all;
	bool sameuser;		/* database field only */
	bool replication;	/* database field only; never matches here */
	char **names;
	size_t n, cap;
};

struct hba_rule {
	enum rule_type type;
	struct name_list db;
	struct name_list user;
	int af;			/* AF_INET, AF_INET6, or 0 for "all" */
	uint8_t addr[16];	/* network address, host bits zeroed */
	unsigned bits;		/* prefix length */
	enum hba_method method;
	char *map;		/* map=NAME of a cert or peer rule, or NULL */
};

struct hba {
	struct hba_rule *rules;
	size_t n, cap;
};

/* One line of the ident map file: MAP SYSTEM-USER DATABASE-USER. */
struct ident_line {
	char *map;
	char *system_user;
	char *db_user;		/* NULL: "all" */
};

struct ident_map {
	struct ident_line *lines;
	size_t n, cap;
};

/*
 * Small growable string.
 */

struct strbuf {
	char *s;
	size_t len, cap;
};

static void strbuf_append(struct strbuf *sb, const char *p, size_t n)
{
	if (sb->len + n + 1 > sb->cap) {
		size_t cap = sb->cap ? sb->cap : 128;

		while (cap < sb->len + n + 1)
			cap *= 2;
		sb->s = xrealloc(sb->s, cap);
		sb->cap = cap;
	}
	memcpy(sb->s + sb->len, p, n);
	sb->len += n;
	sb->s[sb->len] = '\0';
}

static void strbuf_putc(struct strbuf *sb, char c)
{
	strbuf_append(sb, &c, 1);
}

/*
 * Error reporting.  Every message is "FILE:LINE: text"; inside an @file
 * the file and line are the included file's, with the referencing line
 * appended, so the admin can find both.
 */

struct parse_state {
	char *err;
	size_t errlen;
	unsigned includes;	/* @file reads so far */
};

/* Where the parser is: one per file being read. */
struct file_pos {
	struct parse_state *st;
	const char *name;	/* for messages */
	char *dir;		/* base of relative @file names */
	unsigned long line;	/* first physical line of the current record */
	int depth;		/* @file nesting */
};

static void PRINTF_LIKE(3, 4) set_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Report an error at the current record; returns false for "return fail(...)". */
static bool PRINTF_LIKE(2, 3) fail(const struct file_pos *fp, const char *fmt, ...)
{
	struct parse_state *st = fp->st;
	va_list ap;
	int n;

	if (!st->err || st->errlen == 0)
		return false;
	n = snprintf(st->err, st->errlen, "%s:%lu: ", fp->name, fp->line);
	if (n < 0 || (size_t)n >= st->errlen)
		return false;
	va_start(ap, fmt);
	vsnprintf(st->err + n, st->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return false;
}

/* Add " (...)" context to a message already set further down. */
static void PRINTF_LIKE(2, 3) append_error(struct parse_state *st, const char *fmt, ...)
{
	size_t len;
	va_list ap;

	if (!st->err || st->errlen == 0)
		return;
	len = strlen(st->err);
	if (len + 1 >= st->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(st->err + len, st->errlen - len, fmt, ap);
	va_end(ap);
}

/*
 * Files and paths.
 */

/* Directory part of a path, "." when there is none (like dirname(3)). */
static char *base_dir(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

static char *join_path(const char *dir, const char *name)
{
	struct strbuf sb = { 0 };

	if (name[0] == '/')
		return xstrdup(name);
	strbuf_append(&sb, dir, strlen(dir));
	if (sb.len == 0 || sb.s[sb.len - 1] != '/')
		strbuf_putc(&sb, '/');
	strbuf_append(&sb, name, strlen(name));
	return sb.s;
}

/*
 * Read a whole text file.  On failure returns NULL and points *why at the
 * reason.  A NUL byte would silently cut the text short, so it is an error.
 */
static char *read_text_file(const char *path, const char **why)
{
	struct strbuf sb = { 0 };
	char chunk[8192];
	size_t n;
	FILE *f;

	f = fopen(path, "r");
	if (!f) {
		*why = strerror(errno);
		return NULL;
	}
	strbuf_append(&sb, "", 0);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (memchr(chunk, '\0', n)) {
			*why = "file contains a NUL byte";
			goto failed;
		}
		if (sb.len + n > HBA_MAX_FILE_SIZE) {
			*why = "file too large";
			goto failed;
		}
		strbuf_append(&sb, chunk, n);
	}
	if (ferror(f)) {
		*why = strerror(errno);
		goto failed;
	}
	fclose(f);
	return sb.s;
failed:
	fclose(f);
	free(sb.s);
	return NULL;
}

/*
 * Records: physical lines joined on a trailing backslash.
 */

struct reader {
	const char *pos;
	unsigned long lineno;	/* physical lines consumed so far */
};

/* The next record into sb; false at end of text.  *first = its first line. */
static bool next_record(struct reader *r, struct strbuf *sb, unsigned long *first)
{
	if (*r->pos == '\0')
		return false;
	sb->len = 0;
	strbuf_append(sb, "", 0);
	*first = r->lineno + 1;
	for (;;) {
		const char *line = r->pos;
		const char *eol = strchr(line, '\n');
		size_t n = eol ? (size_t)(eol - line) : strlen(line);
		bool cont;

		r->lineno++;
		r->pos = eol ? eol + 1 : line + n;
		/* CRLF files are common when edited on another OS */
		while (n > 0 && line[n - 1] == '\r')
			n--;
		cont = n > 0 && line[n - 1] == '\\';
		if (cont)
			n--;
		strbuf_append(sb, line, n);
		/* a backslash on the very last line continues into nothing */
		if (!cont || *r->pos == '\0')
			return true;
	}
}

/*
 * Tokens.
 */

enum tok_kind {
	TOK_WORD,
	TOK_COMMA,
};

struct token {
	enum tok_kind kind;
	/*
	 * As PostgreSQL: a word is "quoted" when it starts with a quote.  Such
	 * a word is a literal name, never a keyword, "@file" or "+group".
	 */
	bool quoted;
	char *text;
};

struct token_list {
	struct token *v;
	size_t n, cap;
};

static void tokens_clear(struct token_list *tl)
{
	size_t i;

	for (i = 0; i < tl->n; i++)
		free(tl->v[i].text);
	tl->n = 0;
}

static void tokens_free(struct token_list *tl)
{
	tokens_clear(tl);
	free(tl->v);
	tl->v = NULL;
	tl->cap = 0;
}

static void tokens_push(struct token_list *tl, enum tok_kind kind, bool quoted, char *text)
{
	if (tl->n == tl->cap) {
		tl->cap = tl->cap ? tl->cap * 2 : 16;
		tl->v = xrealloc(tl->v, tl->cap * sizeof(*tl->v));
	}
	tl->v[tl->n].kind = kind;
	tl->v[tl->n].quoted = quoted;
	tl->v[tl->n].text = text;
	tl->n++;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Read one word starting at *pp; the quote rules are PostgreSQL's. */
static bool read_word(const char **pp, struct token_list *tl, const struct file_pos *fp)
{
	const char *p = *pp;
	struct strbuf sb = { 0 };
	bool quoted = *p == '"';
	bool in_quote = false;

	strbuf_append(&sb, "", 0);
	while (*p) {
		if (!in_quote && (is_blank(*p) || *p == ',' || *p == '#'))
			break;
		if (*p == '"') {
			if (in_quote && p[1] == '"') {
				strbuf_putc(&sb, '"');
				p += 2;
				continue;
			}
			in_quote = !in_quote;
			p++;
			continue;
		}
		strbuf_putc(&sb, *p++);
	}
	if (in_quote) {
		free(sb.s);
		return fail(fp, "unterminated quoted string");
	}
	tokens_push(tl, TOK_WORD, quoted, sb.s);
	*pp = p;
	return true;
}

static bool tokenize(const char *line, struct token_list *tl, const struct file_pos *fp)
{
	const char *p = line;

	tokens_clear(tl);
	for (;;) {
		while (is_blank(*p))
			p++;
		if (*p == '\0' || *p == '#')
			return true;
		if (*p == ',') {
			tokens_push(tl, TOK_COMMA, false, NULL);
			p++;
			continue;
		}
		if (!read_word(&p, tl, fp))
			return false;
	}
}

/*
 * Token cursor over one record.
 */

struct cursor {
	const struct token_list *tl;
	size_t i;
	const struct file_pos *fp;
};

static const struct token *peek(const struct cursor *c)
{
	return c->i < c->tl->n ? &c->tl->v[c->i] : NULL;
}

/* The next token, which must be a word; "what" names the field for errors. */
static const struct token *expect_word(struct cursor *c, const char *what)
{
	const struct token *t = peek(c);

	if (!t) {
		fail(c->fp, "missing %s", what);
		return NULL;
	}
	if (t->kind != TOK_WORD) {
		fail(c->fp, "unexpected \",\" where %s was expected", what);
		return NULL;
	}
	c->i++;
	return t;
}

/* After a single-valued field: a comma means someone wrote a list. */
static bool no_list(struct cursor *c, const char *what)
{
	const struct token *t = peek(c);

	if (t && t->kind == TOK_COMMA)
		return fail(c->fp, "%s cannot be a list", what);
	return true;
}

/*
 * Name lists: the database and user fields.
 */

static void name_list_add(struct name_list *nl, const char *name)
{
	if (nl->n == nl->cap) {
		nl->cap = nl->cap ? nl->cap * 2 : 4;
		nl->names = xrealloc(nl->names, nl->cap * sizeof(*nl->names));
	}
	nl->names[nl->n++] = xstrdup(name);
}

static void name_list_free(struct name_list *nl)
{
	size_t i;

	for (i = 0; i < nl->n; i++)
		free(nl->names[i]);
	free(nl->names);
	memset(nl, 0, sizeof(*nl));
}

static bool name_list_contains(const struct name_list *nl, const char *name)
{
	size_t i;

	for (i = 0; i < nl->n; i++) {
		if (strcmp(nl->names[i], name) == 0)
			return true;
	}
	return false;
}

static bool add_name(struct name_list *nl, bool is_db, const struct token *t,
		     const struct file_pos *fp);

/* Names from an @file: words separated by blanks, commas or newlines. */
static bool add_names_from_text(struct name_list *nl, bool is_db, const char *text,
				struct file_pos *fp)
{
	struct reader r = { text, 0 };
	struct strbuf line = { 0 };
	struct token_list tl = { 0 };
	bool ok = true;
	size_t i;

	while (ok && next_record(&r, &line, &fp->line)) {
		ok = tokenize(line.s, &tl, fp);
		for (i = 0; ok && i < tl.n; i++) {
			if (tl.v[i].kind == TOK_WORD)
				ok = add_name(nl, is_db, &tl.v[i], fp);
		}
	}
	tokens_free(&tl);
	free(line.s);
	return ok;
}

static bool include_names(struct name_list *nl, bool is_db, const char *name,
			  const struct file_pos *from)
{
	struct file_pos inc;
	const char *why;
	char *path, *text;
	bool ok;

	if (name[0] == '\0')
		return fail(from, "missing file name after \"@\"");
	if (from->depth >= HBA_MAX_INCLUDE_DEPTH)
		return fail(from, "@file nesting too deep (more than %d levels)", HBA_MAX_INCLUDE_DEPTH);
	if (++from->st->includes > HBA_MAX_INCLUDES)
		return fail(from, "too many @file includes (more than %d)", HBA_MAX_INCLUDES);

	path = join_path(from->dir, name);
	text = read_text_file(path, &why);
	if (!text) {
		fail(from, "could not read @file \"%.200s\": %s", path, why);
		free(path);
		return false;
	}

	/* a relative name inside the @file is relative to the @file itself */
	inc.st = from->st;
	inc.name = path;
	inc.dir = base_dir(path);
	inc.line = 0;
	inc.depth = from->depth + 1;
	ok = add_names_from_text(nl, is_db, text, &inc);
	if (!ok)
		append_error(from->st, " (in @file included from %s:%lu)", from->name, from->line);

	free(inc.dir);
	free(text);
	free(path);
	return ok;
}

/* One item of a database or user list: a keyword, @file, or a name. */
static bool add_name(struct name_list *nl, bool is_db, const struct token *t,
		     const struct file_pos *fp)
{
	const char *s = t->text;

	if (t->quoted) {
		name_list_add(nl, s);
		return true;
	}
	if (strcmp(s, "all") == 0) {
		nl->all = true;
		return true;
	}
	if (is_db) {
		if (strcmp(s, "sameuser") == 0) {
			nl->sameuser = true;
			return true;
		}
		if (strcmp(s, "replication") == 0) {
			nl->replication = true;
			return true;
		}
		/* these need role membership, which a pooler does not know */
		if (strcmp(s, "samerole") == 0 || strcmp(s, "samegroup") == 0)
			return fail(fp, TOK_FMT " is not supported", s);
	} else if (s[0] == '+') {
		return fail(fp, "group membership " TOK_FMT " is not supported", s);
	}
	if (s[0] == '@')
		return include_names(nl, is_db, s + 1, fp);
	name_list_add(nl, s);
	return true;
}

/* field: name [, name ...] */
static bool parse_name_field(struct cursor *c, struct name_list *nl, bool is_db)
{
	const char *what = is_db ? "database field" : "user field";
	const char *list = is_db ? "database list" : "user list";
	const struct token *t;

	t = expect_word(c, what);
	if (!t)
		return false;
	for (;;) {
		if (!add_name(nl, is_db, t, c->fp))
			return false;
		t = peek(c);
		if (!t || t->kind != TOK_COMMA)
			return true;
		c->i++;
		t = peek(c);
		if (!t)
			return fail(c->fp, "missing name after \",\" in %s", list);
		if (t->kind != TOK_WORD)
			return fail(c->fp, "empty name in %s", list);
		c->i++;
	}
}

/*
 * Addresses.
 */

static bool parse_ip(const char *s, int *af, uint8_t out[16])
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, s, out) == 1) {
		*af = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, out) == 1) {
		*af = AF_INET6;
		return true;
	}
	return false;
}

/* Decimal prefix length, no signs or blanks (strtoul would allow both). */
static bool parse_prefix(const char *s, unsigned max, unsigned *bits)
{
	unsigned v = 0;

	if (*s == '\0')
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned)(*s - '0');
		if (v > max)
			return false;
	}
	*bits = v;
	return true;
}

/* Prefix length of a contiguous netmask; false for 255.0.255.0 and the like. */
static bool mask_to_prefix(const uint8_t *mask, size_t len, unsigned *bits)
{
	unsigned n = 0;
	size_t i;
	bool ended = false;

	for (i = 0; i < len * 8; i++) {
		bool set = mask[i / 8] & (0x80 >> (i % 8));

		if (set && ended)
			return false;
		if (set)
			n++;
		else
			ended = true;
	}
	*bits = n;
	return true;
}

static void apply_prefix(uint8_t *addr, size_t len, unsigned bits)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (bits >= 8) {
			bits -= 8;
		} else {
			addr[i] &= (uint8_t)(0xff << (8 - bits));
			bits = 0;
		}
	}
}

/* Does the token start a netmask column, rather than being the method? */
static bool looks_like_netmask(const struct token *t)
{
	const char *s;

	if (!t || t->kind != TOK_WORD || t->quoted)
		return false;
	s = t->text;
	/* every method name starts with a letter and has no '.' or ':' */
	return (*s >= '0' && *s <= '9') || strchr(s, '.') || strchr(s, ':');
}

static bool has_letter(const char *s)
{
	for (; *s; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))
			return true;
	}
	return false;
}

static bool bad_address(struct cursor *c, const char *host)
{
	if (host[0] == '.')
		return fail(c->fp, "domain suffixes are not supported: " TOK_FMT, host);
	if (has_letter(host) && !strchr(host, ':'))
		return fail(c->fp, "host names are not supported: " TOK_FMT, host);
	return fail(c->fp, "invalid IP address " TOK_FMT, host);
}

/* The separate netmask column after a bare address. */
static bool parse_netmask(struct cursor *c, struct hba_rule *rule)
{
	const struct token *t = expect_word(c, "netmask");
	uint8_t mask[16];
	int af;

	if (!t)
		return false;
	if (!parse_ip(t->text, &af, mask) || af != rule->af ||
	    !mask_to_prefix(mask, af == AF_INET ? 4 : 16, &rule->bits))
		return fail(c->fp, "invalid netmask " TOK_FMT, t->text);
	return true;
}

/*
 * An IPv6 rule inside ::ffff:0:0/96 is really an IPv4 rule.  Clients in
 * that range are matched as IPv4 (see client_addr()), so convert the rule
 * the same way and keep the two spellings equivalent.
 */
static void unmap_rule(struct hba_rule *rule)
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (rule->af != AF_INET6 || rule->bits < 96 || memcmp(rule->addr, prefix, 12) != 0)
		return;
	memmove(rule->addr, rule->addr + 12, 4);
	memset(rule->addr + 4, 0, 12);
	rule->af = AF_INET;
	rule->bits -= 96;
}

static bool parse_address(struct cursor *c, struct hba_rule *rule)
{
	const struct token *t = expect_word(c, "address field");
	const char *s, *slash;
	char host[INET6_ADDRSTRLEN + 1];
	size_t hostlen;
	unsigned max;

	if (!t)
		return false;
	s = t->text;
	if (!t->quoted) {
		if (strcmp(s, "all") == 0) {
			rule->af = 0;
			return no_list(c, "address field");
		}
		if (strcmp(s, "samehost") == 0 || strcmp(s, "samenet") == 0)
			return fail(c->fp, TOK_FMT " is not supported", s);
	}

	slash = strchr(s, '/');
	hostlen = slash ? (size_t)(slash - s) : strlen(s);
	if (hostlen >= sizeof(host)) {
		/* too long for any IP address; still say what it looks like */
		char *tmp = xstrndup(s, hostlen);
		bool ok = bad_address(c, tmp);

		free(tmp);
		return ok;
	}
	memcpy(host, s, hostlen);
	host[hostlen] = '\0';
	if (!parse_ip(host, &rule->af, rule->addr))
		return bad_address(c, host);

	max = rule->af == AF_INET ? 32 : 128;
	if (slash) {
		if (!parse_prefix(slash + 1, max, &rule->bits))
			return fail(c->fp, "invalid CIDR mask length " TOK_FMT " in " TOK_FMT,
				    slash + 1, s);
	} else if (looks_like_netmask(peek(c))) {
		if (!parse_netmask(c, rule))
			return false;
	} else {
		/* a bare address is that one host */
		rule->bits = max;
	}

	/*
	 * PostgreSQL compares only the prefix bits, so 10.1.2.3/8 means
	 * 10.0.0.0/8.  Zeroing the host bits once keeps matching simple.
	 */
	apply_prefix(rule->addr, sizeof(rule->addr), rule->bits);
	unmap_rule(rule);
	return no_list(c, "address field");
}

/*
 * Methods and options.
 */

static const struct {
	const char *name;
	enum hba_method method;
} methods[] = {
	{ "trust", HBA_TRUST },
	{ "reject", HBA_REJECT },
	{ "md5", HBA_MD5 },
	{ "password", HBA_PASSWORD },
	{ "scram-sha-256", HBA_SCRAM },
	{ "cert", HBA_CERT },
	{ "peer", HBA_PEER },
};

const char *hba_method_name(enum hba_method m)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(methods); i++) {
		if (methods[i].method == m)
			return methods[i].name;
	}
	return "unknown";
}

static bool parse_method(struct cursor *c, struct hba_rule *rule)
{
	const struct token *t = expect_word(c, "auth method");
	size_t i;

	if (!t)
		return false;
	for (i = 0; i < ARRAY_SIZE(methods); i++) {
		if (strcmp(t->text, methods[i].name) == 0)
			break;
	}
	if (i == ARRAY_SIZE(methods))
		return fail(c->fp, "unsupported auth method " TOK_FMT, t->text);
	rule->method = methods[i].method;
	/* peer asks the kernel for the client's uid: only unix sockets have one */
	if (rule->method == HBA_PEER && rule->type != RULE_LOCAL)
		return fail(c->fp, "auth method \"peer\" is only supported on local lines");
	return no_list(c, "auth method");
}

/*
 * Options: map=NAME names the user name map (auth_ident_file) of a cert or
 * peer rule, as PgBouncer 1.23; the others (clientcert=...) are accepted
 * and ignored, as the methods above need none.  The name=value shape is
 * checked, so a stray word such as a forgotten column is still caught.
 */
static bool parse_options(struct cursor *c, struct hba_rule *rule)
{
	const struct token *t;

	while ((t = peek(c)) != NULL) {
		if (t->kind != TOK_WORD)
			return fail(c->fp, "unexpected \",\" in auth options");
		if (t->text[0] == '=' || !strchr(t->text, '='))
			return fail(c->fp, "invalid auth option " TOK_FMT " (expected name=value)",
				    t->text);
		if (strncmp(t->text, "map=", 4) == 0) {
			if (rule->method != HBA_CERT && rule->method != HBA_PEER)
				return fail(c->fp, "map= is only supported for the cert and peer methods");
			if (!t->text[4])
				return fail(c->fp, "map= needs a map name");
			free(rule->map);
			rule->map = xstrdup(t->text + 4);
		}
		c->i++;
	}
	return true;
}

/*
 * Rules.
 */

static bool parse_conn_type(const char *s, enum rule_type *type)
{
	static const struct {
		const char *name;
		enum rule_type type;
	} types[] = {
		{ "local", RULE_LOCAL },
		{ "host", RULE_HOST },
		{ "hostssl", RULE_HOSTSSL },
		{ "hostnossl", RULE_HOSTNOSSL },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(types); i++) {
		if (strcmp(s, types[i].name) == 0) {
			*type = types[i].type;
			return true;
		}
	}
	return false;
}

static void rule_free(struct hba_rule *rule)
{
	name_list_free(&rule->db);
	name_list_free(&rule->user);
	free(rule->map);
}

static void hba_add_rule(struct hba *hba, const struct hba_rule *rule)
{
	if (hba->n == hba->cap) {
		hba->cap = hba->cap ? hba->cap * 2 : 16;
		hba->rules = xrealloc(hba->rules, hba->cap * sizeof(*hba->rules));
	}
	hba->rules[hba->n++] = *rule;
}

/* What parse_records does with each tokenized record of a file. */
typedef bool (*record_fn)(void *target, const struct token_list *tl, const struct file_pos *fp);

/* One tokenized record of the HBA file (a record_fn on a struct hba); an
 * empty one (blank or comment line) is fine. */
static bool parse_rule(void *target, const struct token_list *tl, const struct file_pos *fp)
{
	struct hba *hba = target;
	struct cursor c = { tl, 0, fp };
	struct hba_rule rule;
	const struct token *t;

	if (tl->n == 0)
		return true;
	memset(&rule, 0, sizeof(rule));

	t = expect_word(&c, "connection type");
	if (!t)
		return false;
	if (!parse_conn_type(t->text, &rule.type))
		return fail(fp, "unknown connection type " TOK_FMT, t->text);
	if (!no_list(&c, "connection type"))
		return false;

	if (!parse_name_field(&c, &rule.db, true) ||
	    !parse_name_field(&c, &rule.user, false) ||
	    (rule.type != RULE_LOCAL && !parse_address(&c, &rule)) ||
	    !parse_method(&c, &rule) ||
	    !parse_options(&c, &rule)) {
		rule_free(&rule);
		return false;
	}
	hba_add_rule(hba, &rule);
	return true;
}

/* Each record of text through tokenize and parse_record; false at the first error. */
static bool parse_records(const char *text, const char *filename, char *err, size_t errlen,
			  record_fn parse_record, void *target)
{
	struct parse_state st = { err, errlen, 0 };
	struct file_pos fp;
	struct reader r;
	struct strbuf line = { 0 };
	struct token_list tl = { 0 };
	bool ok = true;

	fp.st = &st;
	fp.name = filename;
	fp.dir = base_dir(filename);
	fp.line = 0;
	fp.depth = 0;
	r.pos = text;
	r.lineno = 0;

	while (ok && next_record(&r, &line, &fp.line))
		ok = tokenize(line.s, &tl, &fp) && parse_record(target, &tl, &fp);

	tokens_free(&tl);
	free(line.s);
	free(fp.dir);
	return ok;
}

struct hba *hba_parse(const char *text, const char *filename, char *err, size_t errlen)
{
	struct hba *hba;

	set_error(err, errlen, "%s", "");
	if (!filename)
		filename = DEFAULT_FILENAME;
	if (!text) {
		set_error(err, errlen, "%s: no HBA text", filename);
		return NULL;
	}
	hba = xcalloc(1, sizeof(*hba));
	if (!parse_records(text, filename, err, errlen, parse_rule, hba)) {
		hba_free(hba);
		return NULL;
	}
	return hba;
}

/* text of a whole file, or NULL with "PATH: could not read WHAT file: why" */
static char *read_config_file(const char *path, const char *what, char *err, size_t errlen)
{
	const char *why;
	char *text;

	if (!path || !*path) {
		set_error(err, errlen, "no %s file name given", what);
		return NULL;
	}
	text = read_text_file(path, &why);
	if (!text)
		set_error(err, errlen, "%s: could not read %s file: %s", path, what, why);
	return text;
}

struct hba *hba_load_file(const char *path, char *err, size_t errlen)
{
	char *text = read_config_file(path, "HBA", err, errlen);
	struct hba *hba;

	if (!text)
		return NULL;
	hba = hba_parse(text, path, err, errlen);
	free(text);
	return hba;
}

void hba_free(struct hba *hba)
{
	size_t i;

	if (!hba)
		return;
	for (i = 0; i < hba->n; i++)
		rule_free(&hba->rules[i]);
	free(hba->rules);
	free(hba);
}

size_t hba_rule_count(const struct hba *hba)
{
	return hba ? hba->n : 0;
}

/*
 * Matching.
 */

static bool conn_matches(enum rule_type type, enum hba_conn_type conn)
{
	switch (type) {
	case RULE_LOCAL:
		return conn == HBA_CONN_LOCAL;
	case RULE_HOST:
		return conn == HBA_CONN_TCP || conn == HBA_CONN_TCP_TLS;
	case RULE_HOSTSSL:
		return conn == HBA_CONN_TCP_TLS;
	case RULE_HOSTNOSSL:
		return conn == HBA_CONN_TCP;
	}
	return false;
}

/*
 * The client's address as (family, bytes).  A dual-stack listener reports
 * IPv4 clients as ::ffff:a.b.c.d; they are IPv4 clients all the same, and
 * must meet the IPv4 rules whichever way the socket was opened.
 */
static bool client_addr(const struct sockaddr *sa, int *af, uint8_t out[16])
{
	memset(out, 0, 16);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		memcpy(out, &sin->sin_addr, 4);
		*af = AF_INET;
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			memcpy(out, sin6->sin6_addr.s6_addr + 12, 4);
			*af = AF_INET;
		} else {
			memcpy(out, sin6->sin6_addr.s6_addr, 16);
			*af = AF_INET6;
		}
		return true;
	}
	return false;
}

static bool addr_matches(const struct hba_rule *rule, const struct sockaddr *sa)
{
	uint8_t addr[16];
	unsigned bytes, rest;
	int af;

	if (rule->af == 0)
		return true;	/* "all" */
	if (!sa || !client_addr(sa, &af, addr) || af != rule->af)
		return false;
	bytes = rule->bits / 8;
	rest = rule->bits % 8;
	if (memcmp(addr, rule->addr, bytes) != 0)
		return false;
	if (rest && (addr[bytes] & (uint8_t)(0xff << (8 - rest))) != rule->addr[bytes])
		return false;
	return true;
}

static bool db_matches(const struct name_list *nl, const char *database, const char *user)
{
	/* nl->replication: a pooler connection is never a replication one */
	if (nl->all)
		return true;
	if (nl->sameuser && strcmp(database, user) == 0)
		return true;
	return name_list_contains(nl, database);
}

static bool user_matches(const struct name_list *nl, const char *user)
{
	return nl->all || name_list_contains(nl, user);
}

enum hba_method hba_match(const struct hba *hba, enum hba_conn_type conn,
			  const char *database, const char *user,
			  const struct sockaddr *addr)
{
	return hba_match_map(hba, conn, database, user, addr, NULL);
}

enum hba_method hba_match_map(const struct hba *hba, enum hba_conn_type conn,
			      const char *database, const char *user,
			      const struct sockaddr *addr, const char **map)
{
	size_t i;

	if (map)
		*map = NULL;
	if (!hba || !database || !user)
		return HBA_REJECT;
	for (i = 0; i < hba->n; i++) {
		const struct hba_rule *rule = &hba->rules[i];

		if (!conn_matches(rule->type, conn))
			continue;
		if (rule->type != RULE_LOCAL && !addr_matches(rule, addr))
			continue;
		if (!db_matches(&rule->db, database, user))
			continue;
		if (!user_matches(&rule->user, user))
			continue;
		if (map)
			*map = rule->map;
		return rule->method;
	}
	return HBA_REJECT;
}

/*
 * The ident map file (auth_ident_file), PgBouncer 1.23's subset of
 * pg_ident.conf: MAP SYSTEM-USER DATABASE-USER per line, the database
 * user a name or "all".  What PgBouncer does not support is refused
 * rather than half understood: a regular expression ("/..."), "+group",
 * include directives.
 */

static bool ident_field(struct cursor *c, const char *what, const struct token **out)
{
	const struct token *t = expect_word(c, what);

	if (!t || !no_list(c, what))
		return false;
	if (!t->quoted && (t->text[0] == '/' || t->text[0] == '+' || t->text[0] == '@'))
		return fail(c->fp, "%s " TOK_FMT ": regular expressions, groups and files are not supported",
			    what, t->text);
	*out = t;
	return true;
}

static bool is_include_directive(const struct token *t)
{
	return t->kind == TOK_WORD && !t->quoted &&
	       (strcmp(t->text, "include") == 0 || strcmp(t->text, "include_if_exists") == 0 ||
		strcmp(t->text, "include_dir") == 0);
}

static bool ident_record(void *target, const struct token_list *tl, const struct file_pos *fp)
{
	struct ident_map *im = target;
	struct cursor c = { tl, 0, fp };
	const struct token *map, *system_user, *db_user;

	if (tl->n == 0)
		return true;
	if (is_include_directive(&tl->v[0]))
		return fail(fp, "include directives are not supported in the ident map file");
	if (!ident_field(&c, "map name", &map) || !ident_field(&c, "system user name", &system_user) ||
	    !ident_field(&c, "database user name", &db_user))
		return false;
	if (peek(&c))
		return fail(fp, "extra field " TOK_FMT " after the database user name", peek(&c)->text);
	if (im->n == im->cap) {
		im->cap = im->cap ? im->cap * 2 : 8;
		im->lines = xrealloc(im->lines, im->cap * sizeof(*im->lines));
	}
	im->lines[im->n++] = (struct ident_line) {
		.map = xstrdup(map->text),
		.system_user = xstrdup(system_user->text),
		.db_user = !db_user->quoted && strcmp(db_user->text, "all") == 0 ? NULL : xstrdup(db_user->text),
	};
	return true;
}

struct ident_map *ident_parse(const char *text, const char *filename, char *err, size_t errlen)
{
	struct ident_map *im;

	set_error(err, errlen, "%s", "");
	if (!filename)
		filename = "pg_ident.conf";
	if (!text) {
		set_error(err, errlen, "%s: no ident map text", filename);
		return NULL;
	}
	im = xcalloc(1, sizeof(*im));
	if (!parse_records(text, filename, err, errlen, ident_record, im)) {
		ident_free(im);
		return NULL;
	}
	return im;
}

struct ident_map *ident_load_file(const char *path, char *err, size_t errlen)
{
	char *text = read_config_file(path, "ident map", err, errlen);
	struct ident_map *im;

	if (!text)
		return NULL;
	im = ident_parse(text, path, err, errlen);
	free(text);
	return im;
}

void ident_free(struct ident_map *im)
{
	if (!im)
		return;
	for (size_t i = 0; i < im->n; i++) {
		free(im->lines[i].map);
		free(im->lines[i].system_user);
		free(im->lines[i].db_user);
	}
	free(im->lines);
	free(im);
}

size_t ident_line_count(const struct ident_map *im)
{
	return im ? im->n : 0;
}

bool ident_allows(const struct ident_map *im, const char *map, const char *system_user, const char *db_user)
{
	if (!im || !map || !system_user || !db_user)
		return false;
	for (size_t i = 0; i < im->n; i++) {
		const struct ident_line *l = &im->lines[i];

		if (strcmp(l->map, map) == 0 && strcmp(l->system_user, system_user) == 0 &&
		    (!l->db_user || strcmp(l->db_user, db_user) == 0))
			return true;
	}
	return false;
}
