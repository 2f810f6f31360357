/*
 * A cache key for a statement's text that ignores the values of its simple
 * literals, found without a parse.
 *
 * Statements that differ only in literal values (WHERE aid = 1, = 2, ...)
 * should share a cached analysis, and pg_query_normalize finds that shape
 * with a full parse: most of a plugin's per-statement cost.  The shape key
 * is one pass over the text instead: the text with each integer that fits
 * in 32 bits replaced by one \x01 byte and each plain '...' string by one
 * \x02 byte (the grammar takes them in different places: interval '1 day'
 * but not interval 1), everything else kept byte for byte.  It is built
 * only for texts this scan reads exactly as PostgreSQL's lexer does;
 * anything else (backslashes, E'' / U&'' / B'' prefixes, dollar quotes,
 * comments, bytes outside printable ASCII, a text longer than the buffer)
 * gets no key and takes the normalize path.
 *
 * The key is not trusted by itself.  The first time a key is seen, the
 * caller also runs pg_query_normalize and keeps the key only if
 * sql_shape_agrees() — normalize replaced exactly the literals the key
 * marks, with nothing else changed.  Two texts with one key differ only in
 * the contents of those literals, which PostgreSQL lexes as the same
 * tokens, so they normalize to the same text: the key may then stand in for
 * the normalized text, no looser.
 */
#ifndef PGW_SQL_SHAPE_H
#define PGW_SQL_SHAPE_H

#include <stdbool.h>
#include <stddef.h>

/* The bytes that stand for literals in a key. */
#define SQL_SHAPE_INTEGER '\x01'
#define SQL_SHAPE_STRING '\x02'

/* Writes sql's shape key to out (NUL-terminated); false: no key for it. */
bool sql_shape_key(const char *sql, char *out, size_t out_size);

/* Whether normalized (pg_query_normalize of the same text) is key with each
 * literal mark replaced by a $n parameter and nothing else changed. */
bool sql_shape_agrees(const char *key, const char *normalized);

#endif
