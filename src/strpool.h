/*
 * Interned, reference-counted strings: thousands of connections with the
 * same user name, database or TimeZone share one copy, and two interned
 * strings are equal exactly when their pointers are.  Loop thread only.
 */
#ifndef PGWARDEN_STRPOOL_H
#define PGWARDEN_STRPOOL_H

#include <stddef.h>

/* The pooled copy of value[0..len) (len bytes, no NUL needed); "" (a
 * constant, never counted) when len is 0. */
const char *strpool_get(const char *value, size_t len);
/* One more holder of an interned string (or of "" / NULL: nothing to do). */
const char *strpool_share(const char *str);
/* One holder less; the copy goes with the last. NULL and "" are ignored. */
void strpool_put(const char *str);

#endif
