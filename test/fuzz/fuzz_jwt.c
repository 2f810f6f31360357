/*
 * libFuzzer harness for the OIDC plugin's token path, driven whole through
 * the plugin ABI (plugins/oidc/oidc.c: client_auth, with oidc_token.c,
 * oidc_keys.c, jwk.c, oidc_rules.c, oidc_config.c) by the host of
 * fuzz_host.h.  The plugin trusts a JWKS of three keys made at start (RSA
 * kid "rsa1", EC P-256 kid "ec1" alg ES256, Ed25519 without kid), a fixed
 * issuer and audience, login_user = claim:preferred_username, sub
 * required, and four mapping rules (groups -> admin, groups+email ->
 * analyst, a deny, realm_access.roles -> reader).
 *
 * The first byte picks a mode (bits 0-1) and the database (bit 2):
 *  - modes 0 and 1, a token: the rest is the password the client sends.
 *    The harness never signs it and the keys are new in each process, so
 *    an ACCEPT is a forged token let in: abort.
 *  - modes 2 (ES256, kid ec1) and 3 (EdDSA, no kid), claims: the rest is
 *    the JSON payload, which the harness signs with the trusted key.  An
 *    ACCEPT must be right about everything the plugin checks, recomputed
 *    here: iss and aud (exact strings, a NUL inside is no match), exp/nbf/
 *    iat against the clock and the skew, the lifetime limit, sub,
 *    preferred_username, and the role the first matching rule gives.
 * Either way the answer is ACCEPT with a role, or REJECT with a SQLSTATE
 * and a message saying why - never a crash, a leak, or undefined behaviour
 * on any number in the claims.
 */
/* fuzz-build: plugins/oidc/oidc.c plugins/oidc/oidc_config.c plugins/oidc/oidc_token.c plugins/oidc/oidc_keys.c plugins/oidc/oidc_rules.c plugins/oidc/oidc_fetch.c plugins/oidc/oidc_cache.c plugins/oidc/jwk.c -- -ljansson -lcrypto -lcurl */
#include <fnmatch.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "fuzz_host.h"

#define ISSUER "https://idp.example.com"
#define AUDIENCE "pgwarden"
#define USER "agent"
#define CLOCK_SKEW 60
#define MAX_LIFETIME 315360000	/* ten years: the seeds' times stay valid until 2035 */
#define MAX_TOKEN 4096
#define REJECTED "OIDC authentication failed for user \"" USER "\": "

static EVP_PKEY *rsa_key, *ec_key, *ed_key;

/* ---------------- keys ---------------- */

static size_t b64url(const unsigned char *in, size_t len, char *out)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t n = 0;

	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0) |
			     (i + 2 < len ? in[i + 2] : 0);
		out[n++] = abc[v >> 18 & 63];
		out[n++] = abc[v >> 12 & 63];
		if (i + 1 < len)
			out[n++] = abc[v >> 6 & 63];
		if (i + 2 < len)
			out[n++] = abc[v & 63];
	}
	out[n] = '\0';
	return n;
}

/* A BIGNUM parameter of key as base64url, pad bytes wide (0: as is). */
static void bn_param(EVP_PKEY *key, const char *name, int pad, char *out)
{
	BIGNUM *bn = NULL;
	unsigned char buf[512];
	int len;

	if (!EVP_PKEY_get_bn_param(key, name, &bn))
		abort();
	len = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
	b64url(buf, (size_t)len, out);
	BN_free(bn);
}

static char *make_jwks(void)
{
	char n[400], e[16], x[80], y[80], ed[80];
	unsigned char raw[32];
	size_t rawlen = sizeof(raw);
	char *doc = malloc(2048);

	rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ed_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!rsa_key || !ec_key || !ed_key || !EVP_PKEY_get_raw_public_key(ed_key, raw, &rawlen))
		abort();
	bn_param(rsa_key, OSSL_PKEY_PARAM_RSA_N, 0, n);
	bn_param(rsa_key, OSSL_PKEY_PARAM_RSA_E, 0, e);
	bn_param(ec_key, OSSL_PKEY_PARAM_EC_PUB_X, 32, x);
	bn_param(ec_key, OSSL_PKEY_PARAM_EC_PUB_Y, 32, y);
	b64url(raw, rawlen, ed);
	snprintf(doc, 2048,
		 "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"rsa1\",\"use\":\"sig\",\"n\":\"%s\",\"e\":\"%s\"},"
		 "{\"kty\":\"EC\",\"kid\":\"ec1\",\"alg\":\"ES256\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"},"
		 "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}]}", n, e, x, y, ed);
	return doc;
}

/* The JWS signature of input: raw r||s for ES256 (RFC 7518 3.4). */
static size_t sign(EVP_PKEY *key, bool ecdsa, const char *input, size_t len, unsigned char *sig)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char der[128];
	size_t siglen = ecdsa ? sizeof(der) : 64;

	if (!md || EVP_DigestSignInit(md, NULL, ecdsa ? EVP_sha256() : NULL, NULL, key) != 1 ||
	    EVP_DigestSign(md, ecdsa ? der : sig, &siglen, (const unsigned char *)input, len) != 1)
		abort();
	EVP_MD_CTX_free(md);
	if (ecdsa) {
		const unsigned char *p = der;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
		if (!es || BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) != 32 ||
		    BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) != 32)
			abort();
		ECDSA_SIG_free(es);
		siglen = 64;
	}
	return siglen;
}

/* header.payload.signature, signed by the trusted key; NULL when too large. */
static char *signed_token(const uint8_t *claims, size_t len, bool ecdsa)
{
	static const char es_header[] = "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"ec1\"}";
	static const char ed_header[] = "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}";
	const char *header = ecdsa ? es_header : ed_header;
	char *token = malloc(MAX_TOKEN + 256);
	unsigned char sig[64];
	size_t n, siglen;

	if (len > MAX_TOKEN / 2)
		return free(token), NULL;
	n = b64url((const unsigned char *)header, strlen(header), token);
	token[n++] = '.';
	n += b64url(claims, len, token + n);
	siglen = sign(ecdsa ? ec_key : ed_key, ecdsa, token, n, sig);
	token[n++] = '.';
	b64url(sig, siglen, token + n);
	return token;
}

/* ---------------- the plugin ---------------- */

static void start_plugin(void)
{
	char path[] = "/tmp/fuzz-jwt-XXXXXX";
	char *jwks = make_jwks();
	int fd = mkstemp(path);
	struct pgw_kv kv[] = {
		{ "path", "oidc.so" },
		{ "issuer", ISSUER },
		{ "audience", AUDIENCE },
		{ "jwks_file", path },
		{ "algorithms", "RS256, PS256, ES256, EdDSA" },
		{ "clock_skew", "60" },
		{ "max_token_lifetime", "315360000" },
		{ "required_claims", "sub" },
		{ "login_user", "claim:preferred_username" },
		{ "max_token_size", "4096" },
		{ "rule.10", "groups=db-admins -> role=admin databases=appdb" },
		{ "rule.20", "groups~analyst* & email~*@example.com -> role=analyst" },
		{ "rule.30", "sub=rogue-agent -> deny" },
		{ "rule.40", "realm_access.roles=reader -> role=reader databases=appdb,reports" },
	};

	if (fd < 0 || write(fd, jwks, strlen(jwks)) != (ssize_t)strlen(jwks))
		abort();
	close(fd);
	free(jwks);
	if (pgwarden_plugin_init(&fuzz_host_api, &fuzz_plugin, kv, (int)(sizeof(kv) / sizeof(kv[0]))) != 0 ||
	    !fuzz_host.hooks.client_auth || !fuzz_host.hooks.session_end) {
		fprintf(stderr, "oidc init: %s\n", fuzz_host.error);
		abort();
	}
	unlink(path);	/* read at init: reloads are not fuzzed */
	fuzz_session.user = USER;
	fuzz_session.transport = "tls";
}

/* ---------------- the claims, checked again here ---------------- */

/* The claim is exactly this string (no NUL inside). */
static bool is_string(const json_t *v, const char *s)
{
	return json_is_string(v) && json_string_length(v) == strlen(s) && strcmp(json_string_value(v), s) == 0;
}

/* A string that matches, or an array holding one (oidc_rules.h). */
static bool claim_matches(const json_t *v, const char *value, bool glob)
{
	const json_t *e;
	size_t i;

	if (json_is_array(v)) {
		json_array_foreach(v, i, e) {
			if (claim_matches(e, value, glob))
				return true;
		}
		return false;
	}
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return false;
	return glob ? fnmatch(value, json_string_value(v), 0) == 0 : strcmp(json_string_value(v), value) == 0;
}

/* The role the rules give (NULL: denied, none, or not this database). */
static const char *expected_role(const json_t *c, const char *database)
{
	if (claim_matches(json_object_get(c, "groups"), "db-admins", false))
		return strcmp(database, "appdb") == 0 ? "admin" : NULL;
	if (claim_matches(json_object_get(c, "groups"), "analyst*", true) &&
	    claim_matches(json_object_get(c, "email"), "*@example.com", true))
		return "analyst";
	if (claim_matches(json_object_get(c, "sub"), "rogue-agent", false))
		return NULL;
	if (claim_matches(json_object_get(json_object_get(c, "realm_access"), "roles"), "reader", false))
		return strcmp(database, "appdb") == 0 || strcmp(database, "reports") == 0 ? "reader" : NULL;
	return NULL;
}

/* A NumericDate the token may carry: a positive number of seconds.  0: absent. */
static bool numeric_date(const json_t *c, const char *name, double *out)
{
	const json_t *v = json_object_get(c, name);

	*out = 0;
	if (!v)
		return true;
	*out = json_number_value(v);
	return json_is_number(v) && *out >= 1;
}

/* Why an accepted token should not have been, or NULL. */
static const char *wrongly_accepted(const uint8_t *claims, size_t len, const char *database, int64_t before,
				    int64_t after)
{
	json_t *c = json_loadb((const char *)claims, len, JSON_REJECT_DUPLICATES, NULL);
	const json_t *aud = json_object_get(c, "aud");
	const char *why = NULL, *role;
	double exp, nbf, iat;

	if (!json_is_object(c))
		why = "claims that are no JSON object";
	else if (!is_string(json_object_get(c, "iss"), ISSUER))
		why = "another issuer";
	else if (!is_string(aud, AUDIENCE) && !(json_is_array(aud) && claim_matches(aud, AUDIENCE, false)))
		why = "another audience";
	else if (!numeric_date(c, "exp", &exp) || !numeric_date(c, "nbf", &nbf) || !numeric_date(c, "iat", &iat))
		why = "a time that is no NumericDate";
	else if (exp == 0)
		why = "no exp";
	else if (exp + CLOCK_SKEW <= (double)before)
		why = "an expired token";
	else if (nbf > (double)after + CLOCK_SKEW + 1)
		why = "a token not valid yet (nbf)";
	else if (iat > (double)after + CLOCK_SKEW + 1)
		why = "a token issued in the future";
	else if (exp - (iat ? iat : (double)after) > MAX_LIFETIME + 1)
		why = "a lifetime over the limit";
	else if (!json_object_get(c, "sub"))
		why = "no sub";
	else if (!is_string(json_object_get(c, "preferred_username"), USER))
		why = "another user";
	else if (!(role = expected_role(c, database)) || strcmp(role, fuzz_request.map_user) != 0)
		why = "a role the rules do not give";
	json_decref(c);
	return why;
}

/* ---------------- one login ---------------- */

static enum pgw_decision login(const char *password, const char *database)
{
	struct pgw_auth_info info = { sizeof(info), USER, database, password, NULL, 0, "10.0.0.1:5555" };
	enum pgw_decision d;

	fuzz_request_reset();
	fuzz_session.database = database;
	d = fuzz_host.hooks.client_auth(&fuzz_plugin, &fuzz_session, &fuzz_request, &info);
	if (getenv("FUZZ_JWT_VERBOSE"))
		fprintf(stderr, "decision %d: %s%s\n", (int)d, fuzz_request.message, fuzz_request.map_user);
	if (d == PGW_REJECT) {
		if (fuzz_request.errors != 1 || fuzz_request.mapped ||
		    strncmp(fuzz_request.message, REJECTED, strlen(REJECTED)) != 0 ||
		    !fuzz_request.message[strlen(REJECTED)] || (strcmp(fuzz_request.sqlstate, "28000") != 0 &&
						  strcmp(fuzz_request.sqlstate, "28P01") != 0)) {
			fprintf(stderr, "a rejection without its reason: %s \"%s\"\n", fuzz_request.sqlstate,
				fuzz_request.message);
			abort();
		}
	} else if (d == PGW_ACCEPT) {
		if (fuzz_request.errors || fuzz_request.mapped != 1 || !fuzz_request.map_user[0] ||
		    !fuzz_session.subject || !fuzz_host.hooks.session_end) {
			fprintf(stderr, "an acceptance without a role or an identity\n");
			abort();
		}
	} else {
		fprintf(stderr, "decision %d: neither ACCEPT nor REJECT (keys are local)\n", (int)d);
		abort();
	}
	if (ERR_peek_error()) {
		ERR_print_errors_fp(stderr);
		abort();	/* left on the queue: a later SSL_get_error() would misread it */
	}
	return d;
}

/* What session_end would have cleaned. */
static void logout(void)
{
	fuzz_host.hooks.session_end(&fuzz_plugin, &fuzz_session, "fuzz");
	fuzz_session_reset();
	if (fuzz_session.data)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool started;
	const char *database;
	int mode;

	if (!started) {
		start_plugin();
		started = true;
	}
	if (size < 1)
		return 0;
	mode = data[0] & 3;
	database = data[0] & 4 ? "reports" : "appdb";
	data++, size--;
	if (mode < 2) {
		char *token = strndup((const char *)data, size);

		if (strlen(token) == size && login(token, database) == PGW_ACCEPT) {
			fprintf(stderr, "a token the harness did not sign was accepted as %s\n", fuzz_request.map_user);
			abort();
		}
		free(token);
	} else {
		char *token = signed_token(data, size, mode == 2);
		int64_t before = (int64_t)time(NULL), after;
		enum pgw_decision d = token ? login(token, database) : PGW_REJECT;
		const char *why;

		after = (int64_t)time(NULL);
		if (d == PGW_ACCEPT && (why = wrongly_accepted(data, size, database, before, after))) {
			fprintf(stderr, "accepted %s (role %s)\n", why, fuzz_request.map_user);
			abort();
		}
		free(token);
	}
	logout();
	return 0;
}
