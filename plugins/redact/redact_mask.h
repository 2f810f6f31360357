/*
 * What a masked value becomes.  Text-format values get the method's text;
 * binary-format values of text types (text, varchar, bpchar, name) get the
 * same bytes, and every other binary value becomes NULL: a made-up value of
 * another type could be wrong on the wire, NULL never is.
 */
#ifndef REDACT_MASK_H
#define REDACT_MASK_H

#include "redact_policy.h"

#include <stddef.h>
#include <stdint.h>

#define MASK_HASH_KEY_LEN 32

/* The masked value of in (len bytes; NULL values stay NULL and are not
 * passed here).  *out is malloc'd; *out_len -1 means SQL NULL (*out NULL).
 * key: MASK_HASH_KEY_LEN bytes for MASK_HASH (HMAC-SHA-256, hex, first 32
 * digits: stable, so equal values still join). */
void mask_value(const struct mask_rule *rule, const uint8_t *in, size_t len, int binary, uint32_t type_oid,
		const uint8_t *key, uint8_t **out, int32_t *out_len);

/* A binary value of this type is text bytes (so a text mask fits it). */
int mask_type_is_text(uint32_t type_oid);

#endif
