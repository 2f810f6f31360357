/*
 * Mask methods of the redact plugin (see redact_mask.h).
 */
#include "redact_mask.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

/* PostgreSQL type OIDs whose binary send format is the text's bytes. */
#define TEXTOID 25
#define VARCHAROID 1043
#define BPCHAROID 1042
#define NAMEOID 19

int mask_type_is_text(uint32_t type_oid)
{
	return type_oid == TEXTOID || type_oid == VARCHAROID || type_oid == BPCHAROID || type_oid == NAMEOID;
}

static void set_text(const char *text, size_t len, uint8_t **out, int32_t *out_len)
{
	*out = malloc(len ? len : 1);
	memcpy(*out, text, len);
	*out_len = (int32_t)len;
}

/* Characters, not bytes: a UTF-8 continuation byte starts no character. */
static size_t utf8_tail_start(const uint8_t *in, size_t len, int keep)
{
	size_t pos = len;
	int chars = 0;

	while (pos > 0 && chars < keep) {
		pos--;
		if ((in[pos] & 0xc0) != 0x80)
			chars++;
	}
	return pos;
}

/* "****6789": as many stars as characters hidden (at least 4), then the tail. */
static void mask_partial(int keep, const uint8_t *in, size_t len, uint8_t **out, int32_t *out_len)
{
	size_t start = utf8_tail_start(in, len, keep);
	size_t hidden = 0;
	char *buf;

	for (size_t i = 0; i < start; i++)
		hidden += (in[i] & 0xc0) != 0x80;
	/* a short value keeps nothing: its tail would be all of it */
	if (start == 0) {
		start = len;
		hidden = 4;
	}
	if (hidden < 4)
		hidden = 4;
	buf = malloc(hidden + (len - start) + 1);
	memset(buf, '*', hidden);
	memcpy(buf + hidden, in + start, len - start);
	set_text(buf, hidden + (len - start), out, out_len);
	free(buf);
}

/* "***@example.com"; a value without '@' is hidden whole. */
static void mask_email(const uint8_t *in, size_t len, uint8_t **out, int32_t *out_len)
{
	const uint8_t *at = memchr(in, '@', len);
	size_t domain = at ? len - (size_t)(at - in) : 0;
	char *buf = malloc(3 + domain + 1);

	memcpy(buf, "***", 3);
	if (at)
		memcpy(buf + 3, at, domain);
	set_text(buf, 3 + domain, out, out_len);
	free(buf);
}

EVP_MAC_CTX *mask_hmac_new(const uint8_t *key)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};

	EVP_MAC_free(mac);	/* the context keeps its own reference */
	if (ctx && EVP_MAC_init(ctx, key, MASK_HASH_KEY_LEN, params) != 1) {
		EVP_MAC_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

/* Re-initialised with its key (NULL key: keep it), not rebuilt. */
static void mask_hash(EVP_MAC_CTX *hmac, const uint8_t *in, size_t len, uint8_t **out, int32_t *out_len)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	size_t maclen = 0;
	char hex[33];

	if (!hmac || EVP_MAC_init(hmac, NULL, 0, NULL) != 1 || EVP_MAC_update(hmac, in, len) != 1 ||
	    EVP_MAC_final(hmac, mac, &maclen, sizeof(mac)) != 1 || maclen < 16)
		return;		/* stays NULL */
	for (int i = 0; i < 16; i++) {
		static const char digits[] = "0123456789abcdef";
		hex[2 * i] = digits[mac[i] >> 4];
		hex[2 * i + 1] = digits[mac[i] & 15];
	}
	set_text(hex, 32, out, out_len);
}

void mask_value(const struct mask_rule *rule, const uint8_t *in, size_t len, int binary, uint32_t type_oid,
		EVP_MAC_CTX *hmac, uint8_t **out, int32_t *out_len)
{
	*out = NULL;
	*out_len = -1;
	if (rule->method == MASK_NULL || (binary && !mask_type_is_text(type_oid)))
		return;
	switch (rule->method) {
	case MASK_FIXED:
		set_text(rule->fixed, strlen(rule->fixed), out, out_len);
		return;
	case MASK_PARTIAL:
		mask_partial(rule->keep, in, len, out, out_len);
		return;
	case MASK_EMAIL:
		mask_email(in, len, out, out_len);
		return;
	case MASK_HASH:
		mask_hash(hmac, in, len, out, out_len);
		return;
	default:
		return;
	}
}
