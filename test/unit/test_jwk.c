/*
 * Unit tests for the OIDC plugin's JWK import and JWS verification
 * (plugins/oidc/jwk.c).  Keys are generated here with OpenSSL, published
 * as JWKs built from their own parameters, and tokens are signed here, so
 * the module under test never checks its own output.  Then the hostile
 * side: tampered signatures and inputs, a key used with the wrong
 * algorithm, and malformed or dangerous JWKs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "jwk.h"

static const char input[] = "eyJhbGciOiJ0ZXN0In0.eyJzdWIiOiJib2IifQ";

struct keys {
	EVP_PKEY *rsa, *rsa1024, *p256, *p384, *ed25519, *x25519;
};

static int setup_keys(void **state)
{
	struct keys *k = calloc(1, sizeof(*k));

	if (!k)
		return -1;
	k->rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	k->rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	k->p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	k->p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	k->ed25519 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	k->x25519 = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	*state = k;
	return k->rsa && k->rsa1024 && k->p256 && k->p384 && k->ed25519 && k->x25519 ? 0 : -1;
}

static int teardown_keys(void **state)
{
	struct keys *k = *state;

	EVP_PKEY_free(k->rsa);
	EVP_PKEY_free(k->rsa1024);
	EVP_PKEY_free(k->p256);
	EVP_PKEY_free(k->p384);
	EVP_PKEY_free(k->ed25519);
	EVP_PKEY_free(k->x25519);
	free(k);
	return 0;
}

/* ---- helpers: an independent base64url encoder, JWKs, signing ---- */

static char *b64url(const unsigned char *buf, size_t len)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *out = malloc(len / 3 * 4 + 5), *o = out;
	size_t i;

	assert_non_null(out);
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)buf[i] << 16 | buf[i + 1] << 8 | buf[i + 2];
		*o++ = abc[v >> 18];
		*o++ = abc[v >> 12 & 63];
		*o++ = abc[v >> 6 & 63];
		*o++ = abc[v & 63];
	}
	if (len - i == 1) {
		*o++ = abc[buf[i] >> 2];
		*o++ = abc[(buf[i] & 3) << 4];
	} else if (len - i == 2) {
		*o++ = abc[buf[i] >> 2];
		*o++ = abc[(buf[i] & 3) << 4 | buf[i + 1] >> 4];
		*o++ = abc[(buf[i + 1] & 15) << 2];
	}
	*o = '\0';
	return out;
}

/* A big-number parameter of key, base64url, left-padded to pad bytes if pad. */
static json_t *bn_member(EVP_PKEY *key, const char *param, int pad)
{
	BIGNUM *bn = NULL;
	unsigned char buf[1024];
	int len;
	char *s;
	json_t *j;

	assert_int_equal(EVP_PKEY_get_bn_param(key, param, &bn), 1);
	len = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
	assert_true(len > 0);
	s = b64url(buf, (size_t)len);
	j = json_string(s);
	free(s);
	BN_free(bn);
	return j;
}

/* The public JWK of a generated key, from the key's own parameters. */
static json_t *jwk_of(EVP_PKEY *key)
{
	unsigned char raw[32];
	size_t len = sizeof(raw);
	char group[32], *s;
	json_t *jwk = json_object();

	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_RSA:
		json_object_set_new(jwk, "kty", json_string("RSA"));
		json_object_set_new(jwk, "n", bn_member(key, OSSL_PKEY_PARAM_RSA_N, 0));
		json_object_set_new(jwk, "e", bn_member(key, OSSL_PKEY_PARAM_RSA_E, 0));
		break;
	case EVP_PKEY_EC: {
		int p384;

		assert_int_equal(EVP_PKEY_get_group_name(key, group, sizeof(group), NULL), 1);
		p384 = strcmp(group, "secp384r1") == 0;
		json_object_set_new(jwk, "kty", json_string("EC"));
		json_object_set_new(jwk, "crv", json_string(p384 ? "P-384" : "P-256"));
		json_object_set_new(jwk, "x", bn_member(key, OSSL_PKEY_PARAM_EC_PUB_X, p384 ? 48 : 32));
		json_object_set_new(jwk, "y", bn_member(key, OSSL_PKEY_PARAM_EC_PUB_Y, p384 ? 48 : 32));
		break;
	}
	default:
		assert_int_equal(EVP_PKEY_get_raw_public_key(key, raw, &len), 1);
		s = b64url(raw, len);
		json_object_set_new(jwk, "kty", json_string("OKP"));
		json_object_set_new(jwk, "crv", json_string("Ed25519"));
		json_object_set_new(jwk, "x", json_string(s));
		free(s);
	}
	return jwk;
}

/* Sign input with key and digest mdname; RSA-PSS if mgf1 is not NULL. */
static unsigned char *sign_md(EVP_PKEY *key, const char *mdname, const char *mgf1, int saltlen,
			      const char *tbs, size_t *siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx;
	unsigned char *sig = malloc(1024);

	*siglen = 1024;
	assert_int_equal(EVP_DigestSignInit_ex(ctx, &pctx, mdname, NULL, NULL, key, NULL), 1);
	if (mgf1) {
		assert_true(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0);
		assert_true(EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, mgf1, NULL) > 0);
		assert_true(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, saltlen) > 0);
	}
	assert_int_equal(EVP_DigestSign(ctx, sig, siglen, (const unsigned char *)tbs, strlen(tbs)), 1);
	EVP_MD_CTX_free(ctx);
	return sig;
}

/* Sign like a token issuer would: ES signatures as raw r || s. */
static unsigned char *sign(EVP_PKEY *key, enum jws_alg alg, const char *tbs, size_t *siglen)
{
	static const char *const md[] = { "SHA256", "SHA384", "SHA512" };
	const char *mdname = NULL;
	unsigned char *sig;

	if (alg <= JWS_PS512)
		mdname = md[alg % 3];
	else if (alg != JWS_EDDSA)
		mdname = md[alg - JWS_ES256];
	sig = sign_md(key, mdname, alg >= JWS_PS256 && alg <= JWS_PS512 ? mdname : NULL,
		      RSA_PSS_SALTLEN_DIGEST, tbs, siglen);
	if (alg == JWS_ES256 || alg == JWS_ES384) {
		const unsigned char *p = sig;
		size_t half = alg == JWS_ES256 ? 32 : 48;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)*siglen);

		assert_non_null(es);
		assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, (int)half), (int)half);
		assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + half, (int)half), (int)half);
		ECDSA_SIG_free(es);
		*siglen = 2 * half;
	}
	return sig;
}

static EVP_PKEY *import(const json_t *jwk, enum jwk_kty *kty)
{
	char err[128] = "";
	EVP_PKEY *key = jwk_to_pkey(jwk, kty, err, sizeof(err));

	if (!key)
		fail_msg("jwk_to_pkey: %s", err);
	return key;
}

/* PEM text (SubjectPublicKeyInfo) of a public key, malloc'd; NULL on failure. */
static char *pem_of(EVP_PKEY *key)
{
	BIO *bio;
	char *data, *pem = NULL;
	long len;

	if (!key)
		return NULL;
	ERR_set_mark();
	bio = BIO_new(BIO_s_mem());
	if (bio && PEM_write_bio_PUBKEY(bio, key) == 1 &&
	    (len = BIO_get_mem_data(bio, &data)) > 0 && (pem = malloc((size_t)len + 1))) {
		memcpy(pem, data, (size_t)len);
		pem[len] = '\0';
	}
	BIO_free(bio);
	ERR_pop_to_mark();
	return pem;
}

/* jwk is refused with a message containing why, and leaves OpenSSL clean. */
static void assert_refused(json_t *jwk, const char *why)
{
	char err[128] = "";
	enum jwk_kty kty = (enum jwk_kty)99;
	EVP_PKEY *key = jwk_to_pkey(jwk, &kty, err, sizeof(err));

	if (key || !strstr(err, why))
		fail_msg("expected \"%s\", got key %p err \"%s\"", why, (void *)key, err);
	assert_int_equal(kty, 99);
	assert_int_equal(ERR_peek_error(), 0);
	json_decref(jwk);
}

static json_t *with(json_t *jwk, const char *name, const char *value)
{
	if (value)
		json_object_set_new(jwk, name, json_string(value));
	else
		json_object_del(jwk, name);
	return jwk;
}

/* ---- tests ---- */

static void test_alg_names(void **state)
{
	static const char *const names[] = { "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
					     "ES256", "ES384", "EdDSA" };

	(void)state;
	for (int i = 0; i < JWS_ALG_UNKNOWN; i++) {
		assert_int_equal(jws_alg_from_name(names[i]), i);
		assert_string_equal(jws_alg_name((enum jws_alg)i), names[i]);
	}
	assert_int_equal(jws_alg_from_name("none"), JWS_ALG_UNKNOWN);
	assert_int_equal(jws_alg_from_name("HS256"), JWS_ALG_UNKNOWN);
	assert_int_equal(jws_alg_from_name("rs256"), JWS_ALG_UNKNOWN);
	assert_int_equal(jws_alg_from_name("EDDSA"), JWS_ALG_UNKNOWN);
	assert_int_equal(jws_alg_from_name("RS256 "), JWS_ALG_UNKNOWN);
	assert_int_equal(jws_alg_from_name(""), JWS_ALG_UNKNOWN);
	assert_int_equal(jws_alg_from_name(NULL), JWS_ALG_UNKNOWN);
	assert_string_equal(jws_alg_name(JWS_ALG_UNKNOWN), "unknown");
	assert_string_equal(jws_alg_name((enum jws_alg)-1), "unknown");
	assert_int_equal(jws_alg_kty(JWS_RS256), JWK_RSA);
	assert_int_equal(jws_alg_kty(JWS_PS512), JWK_RSA);
	assert_int_equal(jws_alg_kty(JWS_ES384), JWK_EC);
	assert_int_equal(jws_alg_kty(JWS_EDDSA), JWK_OKP);
}

static void assert_b64(const char *in, const char *want, size_t wantlen)
{
	size_t len = 12345;
	unsigned char *out = b64url_decode(in, strlen(in), &len);

	if (!out)
		fail_msg("\"%s\" refused", in);
	assert_int_equal(len, wantlen);
	assert_memory_equal(out, want, wantlen);
	assert_int_equal(out[len], '\0');
	free(out);
}

static void assert_b64_refused(const char *in, size_t inlen)
{
	size_t len = 12345;
	unsigned char *out = b64url_decode(in, inlen, &len);

	if (out)
		fail_msg("\"%.*s\" accepted", (int)inlen, in);
	assert_int_equal(len, 12345);
}

static void test_b64url(void **state)
{
	size_t len;
	unsigned char *out;

	(void)state;
	assert_b64("", "", 0);
	assert_b64("Zg", "f", 1);
	assert_b64("Zm8", "fo", 2);
	assert_b64("Zm9v", "foo", 3);
	assert_b64("Zm9vYmFy", "foobar", 6);
	assert_b64("Zg==", "f", 1);
	assert_b64("Zm8=", "fo", 2);
	assert_b64("-w", "\xfb", 1);
	assert_b64("_w", "\xff", 1);
	assert_b64("--__", "\xfb\xef\xff", 3);
	assert_b64("AAA", "\0\0", 2);

	assert_b64_refused("Z", 1);
	assert_b64_refused("Zm9vY", 5);
	assert_b64_refused("Zm9v!", 5);
	assert_b64_refused("Zm+v", 4);
	assert_b64_refused("Zm/v", 4);
	assert_b64_refused("Zm 9v", 5);
	assert_b64_refused("Zm9v\n", 5);
	assert_b64_refused("Zg\0\0", 4);
	assert_b64_refused("Zh", 2);		/* "f" with non-zero unused bits */
	assert_b64_refused("Zg=", 3);		/* padding that does not complete a group */
	assert_b64_refused("Zg===", 5);
	assert_b64_refused("Zm8==", 5);
	assert_b64_refused("=", 1);
	assert_b64_refused("==", 2);
	assert_b64_refused("Z=g", 3);
	assert_b64_refused("\xff\xfe", 2);
	/* every length, every byte value, against the encoder above */
	for (size_t n = 0; n <= 256; n++) {
		unsigned char raw[256];
		char *enc;

		for (size_t i = 0; i < n; i++)
			raw[i] = (unsigned char)(255 - i);
		enc = b64url(raw, n);
		out = b64url_decode(enc, strlen(enc), &len);
		assert_non_null(out);
		assert_int_equal(len, n);
		assert_memory_equal(out, raw, n);
		free(out);
		free(enc);
	}
	assert_null(b64url_decode(NULL, 3, &len));
	assert_null(b64url_decode("Zg", 2, NULL));
	out = b64url_decode(NULL, 0, &len);
	assert_non_null(out);
	assert_int_equal(len, 0);
	free(out);
}

static EVP_PKEY *key_for(struct keys *k, enum jws_alg alg)
{
	if (alg <= JWS_PS512)
		return k->rsa;
	return alg == JWS_ES256 ? k->p256 : alg == JWS_ES384 ? k->p384 : k->ed25519;
}

/* Every algorithm: the imported JWK verifies what the private key signed,
 * and any change to signature or input is caught. */
static void test_sign_verify(void **state)
{
	struct keys *k = *state;

	for (int alg = 0; alg < JWS_ALG_UNKNOWN; alg++) {
		EVP_PKEY *priv = key_for(k, alg), *pub;
		json_t *jwk = jwk_of(priv);
		enum jwk_kty kty = (enum jwk_kty)99;
		size_t siglen, n = strlen(input);
		unsigned char *sig = sign(priv, alg, input, &siglen);
		char *tampered = strdup(input);

		pub = import(jwk, &kty);
		assert_int_equal(kty, jws_alg_kty(alg));
		assert_int_equal(EVP_PKEY_eq(pub, priv), 1);
		assert_true(jws_key_fits(pub, alg));
		if (!jws_verify(alg, pub, input, n, sig, siglen))
			fail_msg("%s: valid signature refused", jws_alg_name(alg));

		sig[siglen / 2] ^= 0x01;
		assert_false(jws_verify(alg, pub, input, n, sig, siglen));
		sig[siglen / 2] ^= 0x01;
		sig[siglen - 1] ^= 0x80;
		assert_false(jws_verify(alg, pub, input, n, sig, siglen));
		sig[siglen - 1] ^= 0x80;

		tampered[n - 1] ^= 0x01;
		assert_false(jws_verify(alg, pub, tampered, n, sig, siglen));
		assert_false(jws_verify(alg, pub, input, n - 1, sig, siglen));
		assert_false(jws_verify(alg, pub, input, n, sig, siglen - 1));
		assert_false(jws_verify(alg, pub, input, n, sig, 0));
		assert_false(jws_verify(alg, NULL, input, n, sig, siglen));
		assert_false(jws_verify(alg, pub, input, n, NULL, siglen));
		assert_true(jws_verify(alg, pub, input, n, sig, siglen));
		assert_int_equal(ERR_peek_error(), 0);

		free(tampered);
		free(sig);
		EVP_PKEY_free(pub);
		json_decref(jwk);
	}
}

/* RFC 7518 3.5: PS256 is SHA-256, MGF1 with SHA-256, 32 bytes of salt. */
static void assert_pss(EVP_PKEY *key, const char *md, const char *mgf1, int saltlen, int valid)
{
	size_t len;
	unsigned char *sig = sign_md(key, md, mgf1, saltlen, input, &len);

	if (jws_verify(JWS_PS256, key, input, strlen(input), sig, len) != valid)
		fail_msg("PS256 with %s, MGF1 %s, salt %d: expected %d", md, mgf1, saltlen, valid);
	free(sig);
}

/* A signature checked under the wrong algorithm, or a key of the wrong kind. */
static void test_verify_mismatch(void **state)
{
	struct keys *k = *state;
	size_t n = strlen(input), rs_len, ps_len, es_len, ed_len;
	unsigned char *rs = sign(k->rsa, JWS_RS256, input, &rs_len);
	unsigned char *ps = sign(k->rsa, JWS_PS256, input, &ps_len);
	unsigned char *es = sign(k->p256, JWS_ES256, input, &es_len);
	unsigned char *ed = sign(k->ed25519, JWS_EDDSA, input, &ed_len);
	unsigned char es_long[65];

	assert_true(jws_verify(JWS_RS256, k->rsa, input, n, rs, rs_len));
	assert_true(jws_verify(JWS_PS256, k->rsa, input, n, ps, ps_len));
	assert_false(jws_verify(JWS_PS256, k->rsa, input, n, rs, rs_len));
	assert_false(jws_verify(JWS_RS256, k->rsa, input, n, ps, ps_len));
	assert_false(jws_verify(JWS_RS384, k->rsa, input, n, rs, rs_len));
	assert_false(jws_verify(JWS_PS512, k->rsa, input, n, ps, ps_len));
	assert_pss(k->rsa, "SHA256", "SHA256", RSA_PSS_SALTLEN_DIGEST, 1);	/* control */
	assert_pss(k->rsa, "SHA256", "SHA256", RSA_PSS_SALTLEN_MAX, 0);	/* longer salt */
	assert_pss(k->rsa, "SHA256", "SHA256", 0, 0);				/* no salt */
	assert_pss(k->rsa, "SHA256", "SHA1", RSA_PSS_SALTLEN_DIGEST, 0);	/* other MGF1 hash */
	assert_pss(k->rsa, "SHA384", "SHA384", RSA_PSS_SALTLEN_DIGEST, 0);	/* other hash */

	/* ES256 wants exactly 64 bytes of r || s, not DER nor anything longer */
	assert_int_equal(es_len, 64);
	assert_true(jws_verify(JWS_ES256, k->p256, input, n, es, es_len));
	assert_false(jws_verify(JWS_ES256, k->p256, input, n, es, 63));
	memcpy(es_long, es, 64);
	es_long[64] = 0;
	assert_false(jws_verify(JWS_ES256, k->p256, input, n, es_long, 65));
	assert_false(jws_verify(JWS_ES384, k->p256, input, n, es, es_len));
	memset(es_long, 0, sizeof(es_long));		/* r = s = 0 */
	assert_false(jws_verify(JWS_ES256, k->p256, input, n, es_long, 64));

	/* keys used for an algorithm they do not fit */
	assert_false(jws_verify(JWS_EDDSA, k->rsa, input, n, ed, ed_len));
	assert_false(jws_verify(JWS_RS256, k->ed25519, input, n, rs, rs_len));
	assert_false(jws_verify(JWS_RS256, k->rsa1024, input, n, rs, rs_len));
	assert_false(jws_verify(JWS_ALG_UNKNOWN, k->rsa, input, n, rs, rs_len));
	assert_false(jws_verify((enum jws_alg)-1, k->rsa, input, n, rs, rs_len));
	assert_true(jws_verify(JWS_EDDSA, k->ed25519, input, n, ed, ed_len));

	assert_true(jws_key_fits(k->rsa, JWS_RS256));
	assert_true(jws_key_fits(k->rsa, JWS_PS384));
	assert_false(jws_key_fits(k->rsa, JWS_ES256));
	assert_false(jws_key_fits(k->rsa, JWS_EDDSA));
	assert_false(jws_key_fits(k->rsa1024, JWS_RS256));
	assert_true(jws_key_fits(k->p256, JWS_ES256));
	assert_false(jws_key_fits(k->p256, JWS_ES384));
	assert_false(jws_key_fits(k->p384, JWS_ES256));
	assert_true(jws_key_fits(k->p384, JWS_ES384));
	assert_false(jws_key_fits(k->p256, JWS_RS256));
	assert_true(jws_key_fits(k->ed25519, JWS_EDDSA));
	assert_false(jws_key_fits(k->ed25519, JWS_ES256));
	assert_false(jws_key_fits(k->x25519, JWS_EDDSA));
	assert_false(jws_key_fits(NULL, JWS_RS256));
	assert_false(jws_key_fits(k->rsa, JWS_ALG_UNKNOWN));
	assert_int_equal(ERR_peek_error(), 0);

	free(rs);
	free(ps);
	free(es);
	free(ed);
}

static void test_jwk_refused(void **state)
{
	struct keys *k = *state;
	unsigned char one[32] = { [31] = 1 }, short_x[31] = { 0 }, big[1025];
	char *big_b64;
	char *one_b64 = b64url(one, sizeof(one)), *short_b64 = b64url(short_x, sizeof(short_x));
	json_t *j;
	EVP_PKEY *key;

	assert_refused(json_array(), "not a JSON object");
	assert_refused(NULL, "not a JSON object");
	assert_refused(json_pack("{s:i}", "kty", 1), "no \"kty\"");
	assert_refused(with(jwk_of(k->rsa), "kty", NULL), "no \"kty\"");
	assert_refused(with(jwk_of(k->rsa), "kty", "oct"), "unsupported JWK key type \"oct\"");
	assert_refused(with(jwk_of(k->rsa), "kty", "rsa"), "unsupported JWK key type");
	assert_refused(with(jwk_of(k->rsa), "kty", "\x1b[31m"), "unsupported JWK key type \"?\"");

	/* private key material and key use */
	assert_refused(with(jwk_of(k->rsa), "d", "AQAB"), "private key material");
	assert_refused(with(jwk_of(k->p256), "d", "AQAB"), "private key material");
	assert_refused(with(jwk_of(k->ed25519), "d", "AQAB"), "private key material");
	assert_refused(with(jwk_of(k->rsa), "qi", "AQAB"), "private key material");
	assert_refused(with(jwk_of(k->rsa), "use", "enc"), "\"use\" is not \"sig\"");
	j = jwk_of(k->rsa);
	json_object_set_new(j, "use", json_true());
	assert_refused(j, "\"use\" is not \"sig\"");
	j = jwk_of(k->rsa);
	json_object_set_new(j, "use", json_stringn("sig\0enc", 7));
	assert_refused(j, "\"use\" is not \"sig\"");
	j = with(jwk_of(k->rsa), "use", "sig");
	key = import(j, NULL);
	EVP_PKEY_free(key);
	json_decref(j);

	/* RSA */
	assert_refused(with(jwk_of(k->rsa), "n", NULL), "\"n\" is missing");
	assert_refused(with(jwk_of(k->rsa), "e", NULL), "\"e\" is missing");
	j = jwk_of(k->rsa);
	json_object_set_new(j, "n", json_integer(3));
	assert_refused(j, "\"n\" is not a string");
	assert_refused(with(jwk_of(k->rsa), "e", "AQ+B"), "\"e\" is not valid base64url");
	assert_refused(with(jwk_of(k->rsa), "n", "A"), "\"n\" is not valid base64url");
	assert_refused(with(jwk_of(k->rsa), "e", "AQAA"), "failed validation");	/* even e */
	assert_refused(with(jwk_of(k->rsa), "e", "AQ"), "failed validation");	/* e = 1 */
	assert_refused(with(jwk_of(k->rsa), "e", "AQAAAAE"), "too large");
	assert_refused(with(jwk_of(k->rsa), "n", ""), "RSA key has 0 bits");
	assert_refused(jwk_of(k->rsa1024), "RSA key has 1024 bits (need 2048 to 8192)");
	memset(big, 0xff, sizeof(big));
	big_b64 = b64url(big, sizeof(big));		/* 8200 bits */
	assert_refused(with(jwk_of(k->rsa), "n", big_b64), "RSA key is too large");
	free(big_b64);

	/* EC */
	assert_refused(with(jwk_of(k->p256), "x", NULL), "\"x\" is missing");
	assert_refused(with(jwk_of(k->p256), "y", NULL), "\"y\" is missing");
	assert_refused(with(jwk_of(k->p256), "crv", NULL), "JWK has no \"crv\"");
	assert_refused(with(jwk_of(k->p256), "crv", "P-521"), "unsupported EC curve \"P-521\"");
	assert_refused(with(jwk_of(k->p256), "crv", "secp256k1"), "unsupported EC curve");
	assert_refused(with(jwk_of(k->p256), "crv", "prime256v1"), "unsupported EC curve");
	assert_refused(with(with(jwk_of(k->p256), "x", one_b64), "y", one_b64), "not on the P-256 curve");
	/* a short coordinate is left-padded: all zeros is then off the curve */
	assert_refused(with(jwk_of(k->p256), "x", short_b64), "not on the P-256 curve");
	assert_refused(with(jwk_of(k->p256), "crv", "P-384"), "not on the P-384 curve");
	assert_refused(with(jwk_of(k->p384), "crv", "P-256"), "must be 32 bytes");
	assert_refused(with(jwk_of(k->p256), "y", "!!"), "\"y\" is not valid base64url");

	/* OKP */
	assert_refused(with(jwk_of(k->ed25519), "crv", "X25519"), "unsupported OKP curve \"X25519\"");
	assert_refused(with(jwk_of(k->ed25519), "crv", "Ed448"), "unsupported OKP curve");
	assert_refused(with(jwk_of(k->ed25519), "crv", NULL), "JWK has no \"crv\"");
	assert_refused(with(jwk_of(k->ed25519), "x", short_b64), "must be 32 bytes");
	assert_refused(with(jwk_of(k->ed25519), "x", NULL), "\"x\" is missing");

	/* A NULL or empty error buffer is fine. */
	j = with(jwk_of(k->rsa), "d", "AQAB");
	assert_null(jwk_to_pkey(j, NULL, NULL, 0));
	json_decref(j);
	free(one_b64);
	free(short_b64);
}

static char *cert_pem(EVP_PKEY *key)
{
	X509 *cert = X509_new();
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *pem;
	long len;

	assert_int_equal(X509_set_version(cert, X509_VERSION_3), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(cert), 0);
	X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
				   (const unsigned char *)"idp.test", -1, -1, 0);
	X509_set_issuer_name(cert, X509_get_subject_name(cert));
	assert_int_equal(X509_set_pubkey(cert, key), 1);
	assert_true(X509_sign(cert, key, EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256()) > 0);
	assert_int_equal(PEM_write_bio_X509(bio, cert), 1);
	len = BIO_get_mem_data(bio, &data);
	pem = strndup(data, (size_t)len);
	BIO_free(bio);
	X509_free(cert);
	return pem;
}

static void assert_pem_refused(const char *pem, size_t len, const char *why)
{
	char err[128] = "";
	EVP_PKEY *key = pem_to_pkey(pem, len, NULL, err, sizeof(err));

	if (key || !strstr(err, why))
		fail_msg("expected \"%s\", got key %p err \"%s\"", why, (void *)key, err);
	assert_int_equal(ERR_peek_error(), 0);
}

static void test_pem(void **state)
{
	struct keys *k = *state;
	EVP_PKEY *keys[] = { k->rsa, k->p256, k->p384, k->ed25519 };
	enum jwk_kty ktys[] = { JWK_RSA, JWK_EC, JWK_EC, JWK_OKP };
	char err[128], *pem;
	BIO *bio;
	long len;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		enum jwk_kty kty = (enum jwk_kty)99;
		char *text = pem_of(keys[i]), *cert = cert_pem(keys[i]);
		EVP_PKEY *key;

		assert_non_null(text);
		assert_non_null(strstr(text, "-----BEGIN PUBLIC KEY-----\n"));
		assert_null(strstr(text, "PRIVATE"));
		key = pem_to_pkey(text, strlen(text), &kty, err, sizeof(err));
		assert_non_null(key);
		assert_int_equal(kty, ktys[i]);
		assert_int_equal(EVP_PKEY_eq(key, keys[i]), 1);
		EVP_PKEY_free(key);

		kty = (enum jwk_kty)99;
		key = pem_to_pkey(cert, strlen(cert), &kty, err, sizeof(err));
		if (!key)
			fail_msg("certificate refused: %s", err);
		assert_int_equal(kty, ktys[i]);
		assert_int_equal(EVP_PKEY_eq(key, keys[i]), 1);
		EVP_PKEY_free(key);

		/* cut short in the middle of the base64 */
		assert_pem_refused(text, strlen(text) / 2, "no PUBLIC KEY or CERTIFICATE");
		free(text);
		free(cert);
	}

	assert_pem_refused("garbage", 7, "no PUBLIC KEY or CERTIFICATE");
	assert_pem_refused("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", 56,
			   "no PUBLIC KEY or CERTIFICATE");
	assert_pem_refused("", 0, "empty");
	assert_pem_refused(NULL, 10, "empty");

	/* keys we do not take: weak RSA, X25519 (not a signing key) */
	pem = pem_of(k->rsa1024);
	assert_pem_refused(pem, strlen(pem), "RSA key has 1024 bits (need 2048 to 8192)");
	free(pem);
	pem = pem_of(k->x25519);
	assert_pem_refused(pem, strlen(pem), "unsupported key type");
	free(pem);

	/* a private key is not a public key */
	bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PrivateKey(bio, k->p256, NULL, NULL, 0, NULL, NULL), 1);
	len = BIO_get_mem_data(bio, &pem);
	assert_pem_refused(pem, (size_t)len, "no PUBLIC KEY or CERTIFICATE");
	BIO_free(bio);

}

/* A verified JWK, written as PEM and read back, is the same key. */
static void test_jwk_to_pem(void **state)
{
	struct keys *k = *state;
	json_t *jwk = jwk_of(k->p384);
	EVP_PKEY *key = import(jwk, NULL), *back;
	char err[128], *pem = pem_of(key);
	enum jwk_kty kty;
	size_t siglen;
	unsigned char *sig = sign(k->p384, JWS_ES384, input, &siglen);

	assert_non_null(pem);
	back = pem_to_pkey(pem, strlen(pem), &kty, err, sizeof(err));
	assert_non_null(back);
	assert_int_equal(kty, JWK_EC);
	assert_true(jws_verify(JWS_ES384, back, input, strlen(input), sig, siglen));
	EVP_PKEY_free(back);
	EVP_PKEY_free(key);
	free(pem);
	free(sig);
	json_decref(jwk);
}

/* Some JOSE libraries drop leading zero bytes of EC coordinates. */
static void test_ec_short_coordinate(void **state)
{
	EVP_PKEY *key = NULL, *back;
	BIGNUM *x = NULL;
	json_t *jwk;

	(void)state;
	for (int tries = 0; tries < 5000; tries++) {
		EVP_PKEY_free(key);
		BN_free(x);
		x = NULL;
		key = EVP_EC_gen("P-256");
		assert_non_null(key);
		assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x), 1);
		if (BN_num_bytes(x) < 32)
			break;
	}
	assert_true(BN_num_bytes(x) < 32);
	jwk = jwk_of(key);
	json_object_set_new(jwk, "x", bn_member(key, OSSL_PKEY_PARAM_EC_PUB_X, 0));
	back = import(jwk, NULL);
	assert_int_equal(EVP_PKEY_eq(key, back), 1);
	EVP_PKEY_free(back);
	EVP_PKEY_free(key);
	BN_free(x);
	json_decref(jwk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alg_names),
		cmocka_unit_test(test_b64url),
		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_verify_mismatch),
		cmocka_unit_test(test_jwk_refused),
		cmocka_unit_test(test_pem),
		cmocka_unit_test(test_jwk_to_pem),
		cmocka_unit_test(test_ec_short_coordinate),
	};

	return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
