/*
 * An int64 in decimal, as "%" PRId64 writes it, without snprintf: the
 * audit plugin writes several per record (JSON values, the hash chain's
 * input), where snprintf's format parsing showed in profiles.
 */
#ifndef PGWARDEN_INT_TEXT_H
#define PGWARDEN_INT_TEXT_H

#include <stdint.h>

#define INT_TEXT_SIZE 24	/* "-9223372036854775808" and a NUL */

/* Writes v at the end of buf, NUL-terminated; returns where it starts. */
static inline const char *int_text(char buf[INT_TEXT_SIZE], int64_t v)
{
	char *p = buf + INT_TEXT_SIZE - 1;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	*p = '\0';
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	return p;
}

#endif
