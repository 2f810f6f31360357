/*
 * JSON Web Keys and JWS signature verification; see jwk.h.
 *
 * OpenSSL 3 non-deprecated APIs only: keys are built from their parameters
 * with EVP_PKEY_fromdata() and then validated with EVP_PKEY_public_check().
 *
 * Each public function that calls OpenSSL brackets the calls with
 * ERR_set_mark() / ERR_pop_to_mark(): a refused key or a bad signature must
 * not leave errors on the thread's queue, where a later SSL_get_error() on a
 * client connection of the same thread would misread them.
 */
#include "jwk.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#define RSA_MIN_BITS	2048
/* No identity provider uses more, and validating or verifying with a
 * larger key takes long enough to stall a pooler thread. */
#define RSA_MAX_BITS	8192
#define RSA_MAX_E_BYTES	4

/* The curves we take: JWK "crv" (also the NIST name) and OpenSSL's name. */
static const struct curve {
	const char *crv;
	const char *group;
	size_t coord_len;
} curves[] = {
	{ "P-256", "prime256v1", 32 },
	{ "P-384", "secp384r1", 48 },
};

static const struct alg_info {
	const char *name;
	enum jwk_kty kty;
	const char *md;			/* NULL for EdDSA: Ed25519 hashes itself */
	int pss;
	const struct curve *curve;	/* ES only */
} algs[] = {
	[JWS_RS256] = { "RS256", JWK_RSA, "SHA256", 0, NULL },
	[JWS_RS384] = { "RS384", JWK_RSA, "SHA384", 0, NULL },
	[JWS_RS512] = { "RS512", JWK_RSA, "SHA512", 0, NULL },
	[JWS_PS256] = { "PS256", JWK_RSA, "SHA256", 1, NULL },
	[JWS_PS384] = { "PS384", JWK_RSA, "SHA384", 1, NULL },
	[JWS_PS512] = { "PS512", JWK_RSA, "SHA512", 1, NULL },
	[JWS_ES256] = { "ES256", JWK_EC, "SHA256", 0, &curves[0] },
	[JWS_ES384] = { "ES384", JWK_EC, "SHA384", 0, &curves[1] },
	[JWS_EDDSA] = { "EdDSA", JWK_OKP, NULL, 0, NULL },
};

/* Members that only a private (or symmetric) key has (RFC 7518 6.2.2, 6.3.2, 6.4). */
static const char *const private_members[] = { "d", "p", "q", "dp", "dq", "qi", "oth", "k" };

__attribute__((format(printf, 3, 4)))
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* A JWKS comes from the network: quote its strings in messages (and so in
 * the log) only if they are short and printable. */
static const char *printable(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (i >= 32 || s[i] < 0x20 || s[i] > 0x7e)
			return "?";
	return s;
}

/* ---- algorithms ---- */

static const struct alg_info *alg_info(enum jws_alg alg)
{
	/* The cast also catches negative values of an out of range enum. */
	if ((unsigned)alg >= JWS_ALG_UNKNOWN)
		return NULL;
	return &algs[alg];
}

enum jws_alg jws_alg_from_name(const char *name)
{
	if (!name)
		return JWS_ALG_UNKNOWN;
	for (int i = 0; i < JWS_ALG_UNKNOWN; i++)
		if (strcmp(name, algs[i].name) == 0)
			return (enum jws_alg)i;
	return JWS_ALG_UNKNOWN;
}

const char *jws_alg_name(enum jws_alg alg)
{
	const struct alg_info *a = alg_info(alg);

	return a ? a->name : "unknown";
}

enum jwk_kty jws_alg_kty(enum jws_alg alg)
{
	const struct alg_info *a = alg_info(alg);

	return a ? a->kty : JWK_RSA;
}

/* ---- base64url ---- */

static const char b64url_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

unsigned char *b64url_decode(const char *in, size_t inlen, size_t *outlen)
{
	unsigned char *out;
	size_t pad = 0, n = 0;
	unsigned int acc = 0, bits = 0;

	if (!outlen || (!in && inlen))
		return NULL;
	while (inlen > 0 && pad < 2 && in[inlen - 1] == '=') {
		inlen--;
		pad++;
	}
	if (pad && (inlen + pad) % 4 != 0)
		return NULL;
	if (inlen % 4 == 1)		/* 6 bits cannot make a byte */
		return NULL;
	out = malloc(inlen / 4 * 3 + 3);
	if (!out)
		return NULL;
	for (size_t i = 0; i < inlen; i++) {
		/* in[i] == '\0' would find the alphabet's terminator */
		const char *p = in[i] ? strchr(b64url_alphabet, in[i]) : NULL;

		if (!p) {
			free(out);
			return NULL;
		}
		acc = (acc << 6 | (unsigned int)(p - b64url_alphabet)) & 0xfff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	/* Unused bits must be zero so that bytes have one spelling only. */
	if (acc & ((1u << bits) - 1)) {
		free(out);
		return NULL;
	}
	out[n] = '\0';
	*outlen = n;
	return out;
}

/* ---- JWK members ---- */

/* A string member, or NULL if absent, not a string, or holding a NUL. */
static const char *jwk_str(const json_t *jwk, const char *name)
{
	const json_t *v = json_object_get(jwk, name);
	const char *s = json_string_value(v);

	if (!s || strlen(s) != json_string_length(v))
		return NULL;
	return s;
}

/* A base64url member, decoded (caller frees); NULL with err set. */
static unsigned char *jwk_b64(const json_t *jwk, const char *name, size_t *len,
			      char *err, size_t errlen)
{
	const json_t *v = json_object_get(jwk, name);
	unsigned char *buf;

	if (!v) {
		seterr(err, errlen, "JWK member \"%s\" is missing", name);
		return NULL;
	}
	if (!json_is_string(v)) {
		seterr(err, errlen, "JWK member \"%s\" is not a string", name);
		return NULL;
	}
	buf = b64url_decode(json_string_value(v), json_string_length(v), len);
	if (!buf)
		seterr(err, errlen, "JWK member \"%s\" is not valid base64url", name);
	return buf;
}

/* ---- keys ---- */

/* A public key of the given type from the parameters in bld; NULL if
 * OpenSSL refuses them (e.g. an EC point not on the curve). */
static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *key = NULL;

	if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1)
		EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return key;
}

static EVP_PKEY *rsa_from_jwk(const json_t *jwk, char *err, size_t errlen)
{
	unsigned char *n, *e = NULL;
	size_t nlen, elen;
	BIGNUM *bn_n = NULL, *bn_e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *key = NULL;

	if (!(n = jwk_b64(jwk, "n", &nlen, err, errlen)) ||
	    !(e = jwk_b64(jwk, "e", &elen, err, errlen)))
		goto out;
	/* Checked before any arithmetic: a huge n or e is slow, not just wrong. */
	if (nlen > RSA_MAX_BITS / 8 || elen > RSA_MAX_E_BYTES) {
		seterr(err, errlen, "RSA key is too large");
		goto out;
	}
	bn_n = BN_bin2bn(n, (int)nlen, NULL);
	bn_e = BN_bin2bn(e, (int)elen, NULL);
	bld = OSSL_PARAM_BLD_new();
	if (!bn_n || !bn_e || !bld ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e)) {
		seterr(err, errlen, "out of memory");
		goto out;
	}
	if (!(key = pkey_fromdata("RSA", bld)))
		seterr(err, errlen, "invalid RSA key");
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	free(n);
	free(e);
	return key;
}

static EVP_PKEY *ec_from_jwk(const json_t *jwk, char *err, size_t errlen)
{
	const char *crv = jwk_str(jwk, "crv");
	const struct curve *c = NULL;
	unsigned char *x = NULL, *y = NULL, point[1 + 2 * 48];
	size_t xlen, ylen;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *key = NULL;

	if (!crv) {
		seterr(err, errlen, "JWK has no \"crv\"");
		return NULL;
	}
	for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
		if (strcmp(crv, curves[i].crv) == 0)
			c = &curves[i];
	if (!c) {
		seterr(err, errlen, "unsupported EC curve \"%s\"", printable(crv));
		return NULL;
	}
	if (!(x = jwk_b64(jwk, "x", &xlen, err, errlen)) ||
	    !(y = jwk_b64(jwk, "y", &ylen, err, errlen)))
		goto out;
	/* RFC 7518 wants full-length coordinates, but some JOSE libraries drop
	 * leading zero bytes: left-pad those (the point is checked anyway). */
	if (!xlen || !ylen || xlen > c->coord_len || ylen > c->coord_len) {
		seterr(err, errlen, "EC coordinates must be %zu bytes for %s", c->coord_len, c->crv);
		goto out;
	}
	/* SEC 1 uncompressed point: 0x04 || x || y */
	memset(point, 0, sizeof(point));
	point[0] = 0x04;
	memcpy(point + 1 + c->coord_len - xlen, x, xlen);
	memcpy(point + 1 + 2 * c->coord_len - ylen, y, ylen);
	bld = OSSL_PARAM_BLD_new();
	if (!bld ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, c->group, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * c->coord_len)) {
		seterr(err, errlen, "out of memory");
		goto out;
	}
	/* OpenSSL refuses a point that is not on the curve right here. */
	if (!(key = pkey_fromdata("EC", bld)))
		seterr(err, errlen, "EC point is not on the %s curve", c->crv);
out:
	OSSL_PARAM_BLD_free(bld);
	free(x);
	free(y);
	return key;
}

static EVP_PKEY *okp_from_jwk(const json_t *jwk, char *err, size_t errlen)
{
	const char *crv = jwk_str(jwk, "crv");
	unsigned char *x;
	size_t xlen;
	EVP_PKEY *key = NULL;

	if (!crv) {
		seterr(err, errlen, "JWK has no \"crv\"");
		return NULL;
	}
	if (strcmp(crv, "Ed25519") != 0) {
		seterr(err, errlen, "unsupported OKP curve \"%s\"", printable(crv));
		return NULL;
	}
	if (!(x = jwk_b64(jwk, "x", &xlen, err, errlen)))
		return NULL;
	if (xlen != 32)
		seterr(err, errlen, "Ed25519 key must be 32 bytes");
	else if (!(key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xlen)))
		seterr(err, errlen, "invalid Ed25519 key");
	free(x);
	return key;
}

/* Which of our curves an EC key is on, or NULL. */
static const struct curve *ec_curve_of(EVP_PKEY *key)
{
	char name[64];
	size_t len;

	if (EVP_PKEY_get_group_name(key, name, sizeof(name), &len) != 1)
		return NULL;
	for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
		if (strcmp(name, curves[i].group) == 0 || strcmp(name, curves[i].crv) == 0)
			return &curves[i];
	return NULL;
}

static int rsa_bits_ok(EVP_PKEY *key)
{
	return EVP_PKEY_get_bits(key) >= RSA_MIN_BITS && EVP_PKEY_get_bits(key) <= RSA_MAX_BITS;
}

/*
 * What a key must pass however it came in: a type and size we accept, and
 * OpenSSL's own public key validation (RSA: odd composite modulus, odd
 * exponent > 1; EC: point on the curve and of the right order).
 */
static int check_key(EVP_PKEY *key, enum jwk_kty *kty, char *err, size_t errlen)
{
	EVP_PKEY_CTX *ctx;
	int ok;

	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_RSA:
		if (!rsa_bits_ok(key)) {
			seterr(err, errlen, "RSA key has %d bits (need %d to %d)",
			       EVP_PKEY_get_bits(key), RSA_MIN_BITS, RSA_MAX_BITS);
			return 0;
		}
		*kty = JWK_RSA;
		break;
	case EVP_PKEY_EC:
		if (!ec_curve_of(key)) {
			seterr(err, errlen, "unsupported EC curve (only P-256 and P-384)");
			return 0;
		}
		*kty = JWK_EC;
		break;
	case EVP_PKEY_ED25519:
		*kty = JWK_OKP;
		break;
	default:
		seterr(err, errlen, "unsupported key type (only RSA, EC and Ed25519)");
		return 0;
	}
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	ok = ctx && EVP_PKEY_public_check(ctx) == 1;
	EVP_PKEY_CTX_free(ctx);
	if (!ok)
		seterr(err, errlen, "public key failed validation");
	return ok;
}

EVP_PKEY *jwk_to_pkey(const json_t *jwk, enum jwk_kty *kty_out, char *err, size_t errlen)
{
	const char *kty;
	EVP_PKEY *key = NULL;
	enum jwk_kty k;

	if (!json_is_object(jwk)) {
		seterr(err, errlen, "JWK is not a JSON object");
		return NULL;
	}
	for (size_t i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++) {
		if (json_object_get(jwk, private_members[i])) {
			seterr(err, errlen, "JWK contains private key material");
			return NULL;
		}
	}
	if (json_object_get(jwk, "use")) {
		const char *use = jwk_str(jwk, "use");

		if (!use || strcmp(use, "sig") != 0) {
			seterr(err, errlen, "JWK \"use\" is not \"sig\"");
			return NULL;
		}
	}
	if (!(kty = jwk_str(jwk, "kty"))) {
		seterr(err, errlen, "JWK has no \"kty\"");
		return NULL;
	}

	ERR_set_mark();
	if (strcmp(kty, "RSA") == 0)
		key = rsa_from_jwk(jwk, err, errlen);
	else if (strcmp(kty, "EC") == 0)
		key = ec_from_jwk(jwk, err, errlen);
	else if (strcmp(kty, "OKP") == 0)
		key = okp_from_jwk(jwk, err, errlen);
	else
		seterr(err, errlen, "unsupported JWK key type \"%s\"", printable(kty));
	if (key && !check_key(key, &k, err, errlen)) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	ERR_pop_to_mark();
	if (key && kty_out)
		*kty_out = k;
	return key;
}

/* PEM public keys and certificates are never encrypted: fail rather than
 * let OpenSSL's default callback prompt for a passphrase on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

/* The first PUBLIC KEY block, or else the key of the first CERTIFICATE. */
static EVP_PKEY *read_pem(const char *pem, int len)
{
	BIO *bio = BIO_new_mem_buf(pem, len);
	EVP_PKEY *key = bio ? PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL) : NULL;
	X509 *cert;

	BIO_free(bio);
	if (key)
		return key;
	bio = BIO_new_mem_buf(pem, len);
	cert = bio ? PEM_read_bio_X509(bio, NULL, no_passphrase, NULL) : NULL;
	if (cert)
		key = X509_get_pubkey(cert);
	X509_free(cert);
	BIO_free(bio);
	return key;
}

EVP_PKEY *pem_to_pkey(const char *pem, size_t len, enum jwk_kty *kty_out, char *err, size_t errlen)
{
	EVP_PKEY *key;
	enum jwk_kty k;

	if (!pem || len == 0 || len > INT_MAX) {
		seterr(err, errlen, "PEM text is empty or too large");
		return NULL;
	}
	ERR_set_mark();
	key = read_pem(pem, (int)len);
	if (!key) {
		seterr(err, errlen, "no PUBLIC KEY or CERTIFICATE found in PEM text");
	} else if (!check_key(key, &k, err, errlen)) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	ERR_pop_to_mark();
	if (key && kty_out)
		*kty_out = k;
	return key;
}

/* ---- signatures ---- */

int jws_key_fits(EVP_PKEY *key, enum jws_alg alg)
{
	const struct alg_info *a = alg_info(alg);
	int fits = 0;

	if (!a || !key)
		return 0;
	ERR_set_mark();
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_RSA:
		fits = a->kty == JWK_RSA && rsa_bits_ok(key);
		break;
	case EVP_PKEY_EC:
		fits = a->kty == JWK_EC && ec_curve_of(key) == a->curve;
		break;
	case EVP_PKEY_ED25519:
		fits = a->kty == JWK_OKP;
		break;
	}
	ERR_pop_to_mark();
	return fits;
}

/* JWS carries an ECDSA signature as fixed-width r || s (RFC 7518 3.4),
 * OpenSSL verifies DER.  Returns the DER length (*der to OPENSSL_free) or 0. */
static int ecdsa_raw_to_der(const unsigned char *sig, size_t sig_len, size_t coord_len,
			    unsigned char **der)
{
	ECDSA_SIG *es;
	BIGNUM *r, *s;
	int len = 0;

	if (sig_len != 2 * coord_len)
		return 0;
	es = ECDSA_SIG_new();
	r = BN_bin2bn(sig, (int)coord_len, NULL);
	s = BN_bin2bn(sig + coord_len, (int)coord_len, NULL);
	if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
		r = s = NULL;		/* es owns them now */
		len = i2d_ECDSA_SIG(es, der);
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return len > 0 ? len : 0;
}

/* RFC 7518 3.5: MGF1 with the signature's hash, salt as long as the hash. */
static int set_rsa_padding(EVP_PKEY_CTX *pctx, const struct alg_info *a)
{
	if (!a->pss)
		return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0;
	return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
	       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0 &&
	       EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, a->md, NULL) > 0;
}

int jws_verify(enum jws_alg alg, EVP_PKEY *key, const char *signing_input, size_t input_len,
	       const unsigned char *sig, size_t sig_len)
{
	const struct alg_info *a = alg_info(alg);
	unsigned char *der = NULL;
	EVP_MD_CTX *md = NULL;
	EVP_PKEY_CTX *pctx = NULL;	/* belongs to md */
	int ok = 0;

	if (!jws_key_fits(key, alg) || !sig || (!signing_input && input_len))
		return 0;
	if (!signing_input)
		signing_input = "";
	ERR_set_mark();
	if (a->kty == JWK_EC) {
		int len = ecdsa_raw_to_der(sig, sig_len, a->curve->coord_len, &der);

		if (!len)
			goto out;
		sig = der;
		sig_len = (size_t)len;
	}
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestVerifyInit_ex(md, &pctx, a->md, NULL, NULL, key, NULL) != 1)
		goto out;
	if (a->kty == JWK_RSA && !set_rsa_padding(pctx, a))
		goto out;
	ok = EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)signing_input,
			      input_len) == 1;
out:
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	ERR_pop_to_mark();
	return ok;
}
