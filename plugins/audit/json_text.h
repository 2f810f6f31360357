/*
 * JSON written straight into a text buffer, for the audit records.
 *
 * Why not jansson here: a record per statement is the audit plugin's hot
 * path, and building a jansson tree (an allocation per value, a hash table
 * per object) then dumping it was about half the plugin's CPU.  The records
 * only ever need writing, never reading back, so a growing buffer does.
 * jansson still reads JSON where reading is needed (pgwarden-audit, the
 * libpg_query parse tree).
 *
 * Commas are placed by looking at the last byte written: a key or value
 * after '{', '[' or ':' needs none, anything else gets one.
 *
 *   struct json_text j = { 0 };
 *   jt_open(&j, '{');
 *   jt_key(&j, "rows");  jt_int(&j, 3);
 *   jt_key(&j, "sql");   jt_str(&j, sql);
 *   jt_close(&j, '}');   ... j.buf is "{"rows":3,"sql":"..."}"
 */
#ifndef PGWARDEN_JSON_TEXT_H
#define PGWARDEN_JSON_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_text {
	char *buf;			/* NUL-terminated once anything is written */
	size_t len;
	size_t cap;
};

void jt_open(struct json_text *j, char bracket);	/* '{' or '[' */
void jt_close(struct json_text *j, char bracket);	/* '}' or ']' */
void jt_key(struct json_text *j, const char *key);
/* A key of printable ASCII without '"' or '\\' (the caller's own names), len bytes. */
void jt_name(struct json_text *j, const char *name, size_t len);
void jt_int(struct json_text *j, int64_t v);
void jt_null(struct json_text *j);
/* NULL gives null; not UTF-8: the hex form, as jt_bytes */
void jt_str(struct json_text *j, const char *s);
/* Already-encoded JSON, appended as one value. */
void jt_raw(struct json_text *j, const char *text, size_t len);
/*
 * Bytes as a JSON string when they are UTF-8 text, else as PostgreSQL's
 * bytea hex form ("\\x0a1b..."), because a JSON string can only hold
 * Unicode.  binary forces the hex form.  len < 0 gives null (SQL NULL).
 */
void jt_bytes(struct json_text *j, const uint8_t *data, int64_t len, bool binary);

/* Forget the content, keep the memory (for the next record). */
void jt_reset(struct json_text *j);
/* Hand the buffer over (the caller frees it); j is empty afterwards. */
char *jt_take(struct json_text *j);
void jt_free(struct json_text *j);

bool utf8_valid(const uint8_t *s, size_t len);

#endif
