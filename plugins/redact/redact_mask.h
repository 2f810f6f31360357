/*
 * What a masked value becomes.  Text-format values get the method's text;
 * binary-format values of text types (text, varchar, bpchar, name) get the
 * same bytes, and every other binary value becomes NULL: a made-up value of
 * another type could be wrong on the wire, NULL never is.
 */
#ifndef REDACT_MASK_H
#define REDACT_MASK_H

#include "redact_policy.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define MASK_HASH_KEY_LEN 32

/* An HMAC-SHA-256 context keyed once (MASK_HASH_KEY_LEN bytes), re-used
 * for every hash mask; NULL on failure.  Free with EVP_MAC_CTX_free. */
EVP_MAC_CTX *mask_hmac_new(const uint8_t *key);

/* The masked value of in (len bytes; NULL values stay NULL and are not
 * passed here).  *out is malloc'd; *out_len -1 means SQL NULL (*out NULL).
 * hmac: from mask_hmac_new, for MASK_HASH (hex, first 32 digits: stable, so
 * equal values still join; without a context the value becomes NULL). */
void mask_value(const struct mask_rule *rule, const uint8_t *in, size_t len, int binary, uint32_t type_oid,
		EVP_MAC_CTX *hmac, uint8_t **out, int32_t *out_len);

/* A binary value of this type is text bytes (so a text mask fits it). */
int mask_type_is_text(uint32_t type_oid);

#endif
