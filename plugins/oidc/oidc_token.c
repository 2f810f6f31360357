/*
 * JWT parsing and claim checks for the OIDC plugin.
 */
#include "oidc_token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static json_t *decode_object(const char *part, size_t len)
{
	size_t n;
	unsigned char *bytes = b64url_decode(part, len, &n);
	json_t *obj;

	if (!bytes)
		return NULL;
	obj = json_loadb((const char *)bytes, n, JSON_REJECT_DUPLICATES, NULL);
	free(bytes);
	if (obj && !json_is_object(obj)) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

int oidc_token_parse(const char *raw, size_t len, size_t max_size, struct oidc_token *t,
		     char *err, size_t errlen)
{
	const char *dot1, *dot2;

	memset(t, 0, sizeof(*t));
	t->raw = raw;
	t->raw_len = len;
	if (len > max_size) {
		snprintf(err, errlen, "token is too large (%zu bytes, max_token_size is %zu)", len, max_size);
		return -1;
	}
	dot1 = memchr(raw, '.', len);
	dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - raw)) : NULL;
	if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - raw))) {
		snprintf(err, errlen, "malformed token: not three dot-separated parts");
		return -1;
	}
	t->header = decode_object(raw, (size_t)(dot1 - raw));
	if (!t->header) {
		snprintf(err, errlen, "malformed token: the header is not base64url JSON");
		return -1;
	}
	t->claims = decode_object(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	if (!t->claims) {
		snprintf(err, errlen, "malformed token: the payload is not a base64url JSON object");
		return -1;
	}
	t->sig = b64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - raw), &t->sig_len);
	if (!t->sig) {
		snprintf(err, errlen, "malformed token: the signature is not base64url");
		return -1;
	}
	t->signing_len = (size_t)(dot2 - raw);
	t->alg_name = json_string_value(json_object_get(t->header, "alg"));
	t->kid = json_string_value(json_object_get(t->header, "kid"));
	if (!t->alg_name) {
		snprintf(err, errlen, "malformed token: the header has no alg");
		return -1;
	}
	t->alg = jws_alg_from_name(t->alg_name);
	return 0;
}

void oidc_token_free(struct oidc_token *t)
{
	json_decref(t->header);
	json_decref(t->claims);
	free(t->sig);
	memset(t, 0, sizeof(*t));
}

const char *oidc_token_string(const struct oidc_token *t, const char *claim)
{
	const char *s = t->claims ? json_string_value(json_object_get(t->claims, claim)) : NULL;
	return s ? s : "";
}

/* A number beyond this many seconds (the year 9999) is no time: converting
 * a larger real is undefined, and exp + clock_skew must not overflow. */
#define MAX_TIME 253402300799LL

int64_t oidc_token_int(const struct oidc_token *t, const char *claim)
{
	const json_t *v = t->claims ? json_object_get(t->claims, claim) : NULL;
	if (json_is_integer(v) && json_integer_value(v) >= -MAX_TIME && json_integer_value(v) <= MAX_TIME)
		return json_integer_value(v);
	if (json_is_real(v) && json_real_value(v) >= -MAX_TIME && json_real_value(v) <= MAX_TIME)
		return (int64_t)json_real_value(v);
	return 0;
}

/* RFC 7519 NumericDate: a number of seconds; absent is 0, anything else -1. */
static int numeric_date(const struct oidc_token *t, const char *claim, int64_t *out)
{
	const json_t *v = json_object_get(t->claims, claim);
	*out = 0;
	if (!v)
		return 0;
	if (!json_is_number(v))
		return -1;
	*out = oidc_token_int(t, claim);
	return *out > 0 ? 0 : -1;
}

static void utc_text(int64_t when, char *buf, size_t len)
{
	time_t tt = (time_t)when;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static int check_audience(const struct oidc_token *t, const char *audience)
{
	const json_t *aud = json_object_get(t->claims, "aud");
	const json_t *elem;
	size_t i;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), audience) == 0;
	json_array_foreach(aud, i, elem) {
		if (json_is_string(elem) && strcmp(json_string_value(elem), audience) == 0)
			return 1;
	}
	return 0;
}

static int check_times(const struct oidc_token *t, const struct oidc_claim_policy *p, int64_t now,
		       char *err, size_t errlen)
{
	int64_t exp, nbf, iat;
	char when[40];

	if (numeric_date(t, "exp", &exp) < 0 || numeric_date(t, "nbf", &nbf) < 0 || numeric_date(t, "iat", &iat) < 0) {
		snprintf(err, errlen, "exp, nbf and iat must be NumericDate numbers");
		return -1;
	}
	if (!exp) {
		snprintf(err, errlen, "token has no expiry (exp)");
		return -1;
	}
	if (now >= exp + p->clock_skew) {
		utc_text(exp, when, sizeof(when));
		snprintf(err, errlen, "token expired at %s", when);
		return -1;
	}
	if (nbf && now + p->clock_skew < nbf) {
		utc_text(nbf, when, sizeof(when));
		snprintf(err, errlen, "token is not valid before %s", when);
		return -1;
	}
	if (iat && now + p->clock_skew < iat) {
		snprintf(err, errlen, "token was issued in the future (iat)");
		return -1;
	}
	if (p->max_lifetime && exp - (iat ? iat : now) > p->max_lifetime) {
		snprintf(err, errlen, "token lifetime exceeds max_token_lifetime (%lld s)", (long long)p->max_lifetime);
		return -1;
	}
	return 0;
}

int oidc_token_check_claims(const struct oidc_token *t, const struct oidc_claim_policy *p, int64_t now,
			    char *err, size_t errlen)
{
	const char *typ = json_string_value(json_object_get(t->header, "typ"));
	const char *iss = json_string_value(json_object_get(t->claims, "iss"));

	if (p->typ && (!typ || strcasecmp(typ, p->typ) != 0)) {
		snprintf(err, errlen, "token type is not \"%s\"", p->typ);
		return -1;
	}
	if (!iss || strcmp(iss, p->issuer) != 0) {
		snprintf(err, errlen, "token issuer (iss) is not the configured issuer");
		return -1;
	}
	if (!check_audience(t, p->audience)) {
		snprintf(err, errlen, "token audience (aud) does not include \"%s\"", p->audience);
		return -1;
	}
	if (check_times(t, p, now, err, errlen) < 0)
		return -1;
	for (int i = 0; i < p->nrequired; i++) {
		if (!json_object_get(t->claims, p->required[i])) {
			snprintf(err, errlen, "token lacks the required claim \"%s\"", p->required[i]);
			return -1;
		}
	}
	return 0;
}
