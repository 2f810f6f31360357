/*
 * The shape key of a statement: see sql_shape.h for what it promises.
 * The scan follows PostgreSQL's lexer (scan.l) only as far as it has to:
 * where a text needs more of the lexer than this, it gets no key.
 */
#include "sql_shape.h"

#include <stdint.h>
#include <string.h>

static bool is_ident_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$';
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Printable ASCII and the whitespace scan.l knows; anything else (control
 * bytes, multibyte characters whose encoding we do not know) gets no key. */
static bool is_plain_byte(unsigned char c)
{
	return (c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/*
 * A '...' string or "..." identifier starting at s[0]; returns its length
 * or 0 when it is not a plain one: a backslash (in a string, its meaning
 * depends on standard_conforming_strings), an unplain byte, or no closing
 * quote.  A doubled quote inside stands for one.
 */
static size_t quoted_length(const char *s)
{
	const char quote = s[0];
	size_t i = 1;

	for (;;) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\0' || c == '\\' || !is_plain_byte(c))
			return 0;
		if (c == (unsigned char)quote) {
			if (s[i + 1] != quote)
				return i + 1;
			i++;
		}
		i++;
	}
}

static size_t run_length(const char *s, bool (*in_run)(unsigned char))
{
	size_t n = 0;

	while (s[n] && in_run((unsigned char)s[n]))
		n++;
	return n;
}

/* scan.l makes a digit run an integer constant (ICONST) only when it fits
 * in 32 bits; beyond, a numeric one (FCONST), which the grammar treats
 * differently (ORDER BY 2 is a column number, ORDER BY 2147483648 is not). */
static bool fits_int32(const char *digits, size_t n)
{
	int64_t value = 0;

	for (size_t i = 0; i < n; i++) {
		value = value * 10 + (digits[i] - '0');
		if (value > INT32_MAX)
			return false;
	}
	return true;
}

struct shape_writer {
	char *out;
	size_t used;
	size_t size;
};

static bool put(struct shape_writer *w, const char *bytes, size_t n)
{
	if (w->used + n >= w->size)
		return false;
	memcpy(w->out + w->used, bytes, n);
	w->used += n;
	return true;
}

static bool put_mark(struct shape_writer *w, char mark)
{
	return put(w, &mark, 1);
}

static bool is_mark(char c)
{
	return c == SQL_SHAPE_INTEGER || c == SQL_SHAPE_STRING;
}

/*
 * How many bytes at s make the next piece of the shape, written to w;
 * 0: the text gets no key.  prev is the byte before s ('\0' at the start).
 */
static size_t shape_piece(const char *s, unsigned char prev, struct shape_writer *w)
{
	unsigned char c = (unsigned char)s[0];
	size_t n;

	if (c == '\'') {
		/* E'', B'', X'', N'', U&'' and the like: prefixes change the rules */
		if (is_ident_char(prev) || prev == '&')
			return 0;
		n = quoted_length(s);
		return n && put_mark(w, SQL_SHAPE_STRING) ? n : 0;
	}
	if (c == '"') {
		if (prev == '&')	/* U&"..." with its UESCAPE */
			return 0;
		n = quoted_length(s);
		return n && put(w, s, n) ? n : 0;
	}
	if (is_digit(c)) {
		n = run_length(s, is_digit);
		/* a literal only when it is a whole integer token: not part of a
		 * name or $n, not a decimal, exponent or trailing junk */
		if (is_ident_char(prev) || prev == '.' || is_ident_char((unsigned char)s[n]) || s[n] == '.' ||
		    !fits_int32(s, n))
			return put(w, s, n) ? n : 0;
		return put_mark(w, SQL_SHAPE_INTEGER) ? n : 0;
	}
	if (is_ident_char(c)) {
		if (c == '$' && !is_digit((unsigned char)s[1]))
			return 0;	/* a dollar quote */
		n = run_length(s, is_ident_char);
		return put(w, s, n) ? n : 0;
	}
	if ((c == '-' && s[1] == '-') || (c == '/' && s[1] == '*') || c == '\\' || !is_plain_byte(c))
		return 0;	/* comments, and bytes the lexer would treat specially */
	return put(w, s, 1) ? 1 : 0;
}

bool sql_shape_key(const char *sql, char *out, size_t out_size)
{
	struct shape_writer w = { out, 0, out_size };
	size_t at = 0;

	if (out_size == 0)
		return false;
	while (sql[at]) {
		size_t n = shape_piece(sql + at, at ? (unsigned char)sql[at - 1] : '\0', &w);
		if (n == 0)
			return false;
		at += n;
	}
	out[w.used] = '\0';
	return true;
}

/* How many bytes of normalized, at its start, are a $n parameter; 0: none. */
static size_t parameter_length(const char *normalized)
{
	size_t digits;

	if (normalized[0] != '$')
		return 0;
	digits = run_length(normalized + 1, is_digit);
	return digits ? 1 + digits : 0;
}

bool sql_shape_agrees(const char *key, const char *normalized)
{
	while (*key) {
		size_t param = parameter_length(normalized);

		/* the grammar folds a unary minus into the number after it
		 * (doNegate), so normalize replaces "-5" whole; whether a minus
		 * is unary depends on the text around it, which one key fixes */
		if (key[0] == '-' && key[1] == SQL_SHAPE_INTEGER && param) {
			key += 2;
			normalized += param;
			continue;
		}
		if (is_mark(*key)) {
			if (!param)
				return false;
			key++;
			normalized += param;
			continue;
		}
		if (*key++ != *normalized++)
			return false;
	}
	return *normalized == '\0';
}
