/* JSON written straight into a text buffer; see json_text.h. */
#include "json_text.h"

#include <stdlib.h>
#include <string.h>

#include "int_text.h"

static void grow(struct json_text *j, size_t need)
{
	size_t cap = j->cap ? j->cap : 512;
	while (cap < need)
		cap *= 2;
	char *buf = realloc(j->buf, cap);
	if (!buf)
		abort();	/* as jansson's and libpg_query's allocators: no half record */
	j->buf = buf;
	j->cap = cap;
}

/* Room for more bytes and the NUL; called for every piece, so inline. */
static inline void reserve(struct json_text *j, size_t more)
{
	size_t need = j->len + more + 1;

	if (need > j->cap)
		grow(j, need);
}

static void append(struct json_text *j, const void *data, size_t len)
{
	reserve(j, len);
	memcpy(j->buf + j->len, data, len);
	j->len += len;
	j->buf[j->len] = '\0';
}

static void append_char(struct json_text *j, char c)
{
	append(j, &c, 1);
}

/* A comma unless this is the first item of an object or array, or a value
 * right after its key. */
static void separate(struct json_text *j)
{
	char last = j->len ? j->buf[j->len - 1] : '[';

	if (last != '{' && last != '[' && last != ':')
		append_char(j, ',');
}

void jt_open(struct json_text *j, char bracket)
{
	separate(j);
	append_char(j, bracket);
}

void jt_close(struct json_text *j, char bracket)
{
	append_char(j, bracket);
}

/*
 * RFC 8259 well-formed UTF-8: no overlong forms, no surrogates, nothing
 * above U+10FFFF.
 */
bool utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		size_t n;
		uint8_t lo = 0x80, hi = 0xBF;	/* range of the second byte */

		if (c < 0x80) {
			/* ASCII, eight bytes at a time while it lasts */
			uint64_t w;
			for (i++; i + 8 <= len; i += 8) {
				memcpy(&w, s + i, 8);
				if (w & 0x8080808080808080ull)
					break;
			}
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			n = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 2;
			if (c == 0xE0)
				lo = 0xA0;
			else if (c == 0xED)
				hi = 0x9F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 3;
			if (c == 0xF0)
				lo = 0x90;
			else if (c == 0xF4)
				hi = 0x8F;
		} else {
			return false;
		}
		if (len - i <= n || s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= n; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
		}
		i += n + 1;
	}
	return true;
}

/* A quoted string; the bytes are known to be UTF-8. */
static char *put_escaped(char *out, uint8_t c)
{
	static const char hex[] = "0123456789abcdef";

	*out++ = '\\';
	switch (c) {
	case '"': *out++ = '"'; break;
	case '\\': *out++ = '\\'; break;
	case '\n': *out++ = 'n'; break;
	case '\r': *out++ = 'r'; break;
	case '\t': *out++ = 't'; break;
	default:
		memcpy(out, "u00", 3);
		out += 3;
		*out++ = hex[c >> 4];
		*out++ = hex[c & 15];
	}
	return out;
}

/* One pass, written in place: a record is mostly SQL text and names, and
 * this runs for each of them on the event loop.  Room is made a chunk at a
 * time (an escape takes up to 6 bytes), so a huge text does not reserve
 * six times its size. */
static void append_quoted(struct json_text *j, const uint8_t *s, size_t len)
{
	enum { CHUNK = 4096 };

	append_char(j, '"');
	for (size_t start = 0; start < len; start += CHUNK) {
		size_t end = len - start > CHUNK ? start + CHUNK : len;
		char *out;

		reserve(j, 6 * (end - start));
		out = j->buf + j->len;
		for (size_t i = start; i < end; i++) {
			uint8_t c = s[i];
			if (c >= 0x20 && c != '"' && c != '\\')
				*out++ = (char)c;
			else
				out = put_escaped(out, c);
		}
		j->len = (size_t)(out - j->buf);
	}
	append_char(j, '"');
}

static void append_hex_string(struct json_text *j, const uint8_t *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char *out;

	reserve(j, 2 * len + 5);
	out = j->buf + j->len;
	*out++ = '"';
	*out++ = '\\';		/* the JSON escape of PostgreSQL's "\x" */
	*out++ = '\\';
	*out++ = 'x';
	for (size_t i = 0; i < len; i++) {
		*out++ = digits[data[i] >> 4];
		*out++ = digits[data[i] & 15];
	}
	*out++ = '"';
	j->len = (size_t)(out - j->buf);
	j->buf[j->len] = '\0';
}


void jt_int(struct json_text *j, int64_t v)
{
	char digits[INT_TEXT_SIZE];
	const char *p = int_text(digits, v);

	separate(j);
	append(j, p, (size_t)(digits + INT_TEXT_SIZE - 1 - p));
}

void jt_null(struct json_text *j)
{
	separate(j);
	append(j, "null", 4);
}

static void append_string(struct json_text *j, const uint8_t *data, size_t len, bool binary)
{
	if (!binary && utf8_valid(data, len))
		append_quoted(j, data, len);
	else
		append_hex_string(j, data, len);
}

/* Printable ASCII without '"' or '\\': written as it is between quotes. */
static bool plain_ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
			return false;
	}
	return true;
}

/* A key known to need no escaping, written between quotes as it is. */
void jt_name(struct json_text *j, const char *name, size_t len)
{
	separate(j);
	reserve(j, len + 3);
	char *out = j->buf + j->len;
	*out++ = '"';
	memcpy(out, name, len);
	out += len;
	*out++ = '"';
	*out++ = ':';
	j->len = (size_t)(out - j->buf);
	j->buf[j->len] = '\0';
}

/* Keys are mostly the record's own names: those skip the UTF-8 check and
 * the escaping pass (column names and such take the long way). */
void jt_key(struct json_text *j, const char *key)
{
	size_t len = strlen(key);

	if (plain_ascii(key, len)) {
		jt_name(j, key, len);
		return;
	}
	separate(j);
	append_string(j, (const uint8_t *)key, len, false);
	append_char(j, ':');
}

void jt_bytes(struct json_text *j, const uint8_t *data, int64_t len, bool binary)
{
	if (len < 0) {
		jt_null(j);
		return;
	}
	separate(j);
	append_string(j, data, (size_t)len, binary);
}

void jt_str(struct json_text *j, const char *s)
{
	if (s)
		jt_bytes(j, (const uint8_t *)s, (int64_t)strlen(s), false);
	else
		jt_null(j);
}

void jt_raw(struct json_text *j, const char *text, size_t len)
{
	separate(j);
	append(j, text, len);
}

void jt_reset(struct json_text *j)
{
	j->len = 0;
	if (j->buf)
		j->buf[0] = '\0';
}

char *jt_take(struct json_text *j)
{
	char *buf = j->buf;

	memset(j, 0, sizeof(*j));
	return buf;
}

void jt_free(struct json_text *j)
{
	free(j->buf);
	memset(j, 0, sizeof(*j));
}
