/*
 * JSON Web Keys (RFC 7517/7518/8037) and JWS signature verification for
 * the OIDC plugin, on OpenSSL 3 only.
 *
 * An identity provider publishes its signing keys as a JWKS document, or an
 * operator pins one as a PEM file; either way we end up with an EVP_PKEY.
 * A token names its algorithm in its header, and that name is attacker
 * input: jws_verify() checks that the key fits the algorithm before it
 * verifies anything, so an RSA key is never used for "EdDSA", an HMAC
 * "HS256" or "none" is never accepted, and so on.
 *
 * Keys accepted: RSA of 2048 to 8192 bits, EC on P-256 and P-384, Ed25519.
 * Every function that takes outside input refuses bad input with a short
 * English message in err (when err is not NULL) and leaks nothing, and
 * leaves no errors on the thread's OpenSSL error queue.
 *
 *   EVP_PKEY *key = jwk_to_pkey(jwk, &kty, err, sizeof(err));
 *   enum jws_alg alg = jws_alg_from_name(header_alg);
 *   if (key && jws_verify(alg, key, token, dot2 - token, sig, sig_len)) ...
 */
#ifndef PGWARDEN_JWK_H
#define PGWARDEN_JWK_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>

/* Key types a JWK may hold. */
enum jwk_kty { JWK_RSA, JWK_EC, JWK_OKP };

/* JWS algorithms we verify (RFC 7518 names). */
enum jws_alg { JWS_RS256, JWS_RS384, JWS_RS512, JWS_PS256, JWS_PS384, JWS_PS512,
	       JWS_ES256, JWS_ES384, JWS_EDDSA, JWS_ALG_UNKNOWN };

/* "RS256" -> JWS_RS256 ...; "EdDSA" -> JWS_EDDSA; anything else (NULL,
 * "none", "HS256", "rs256") -> JWS_ALG_UNKNOWN.  Case-sensitive. */
enum jws_alg jws_alg_from_name(const char *name);

/* The RFC 7518 name; "unknown" for JWS_ALG_UNKNOWN or out of range. */
const char *jws_alg_name(enum jws_alg alg);

/* The key type an algorithm needs (RS/PS -> RSA, ES -> EC, EdDSA -> OKP).
 * JWS_ALG_UNKNOWN gives JWK_RSA, but no key fits it (jws_key_fits()). */
enum jwk_kty jws_alg_kty(enum jws_alg alg);

/*
 * One public key from a JWK JSON object:
 *  RSA: "n", "e" (base64url); modulus of 2048 to 8192 bits, e at most 32 bits.
 *  EC:  "crv" P-256 or P-384, "x", "y" (exact coordinate length), point on
 *       the curve.
 *  OKP: "crv" Ed25519, "x" (32 bytes).
 * Private members ("d", "p", ...) present: refused.  "use" present and not
 * "sig": refused.  "alg", "kid" and other members are the caller's business.
 * Returns a new EVP_PKEY (caller frees) and sets *kty_out (if not NULL), or
 * NULL with err set.
 */
EVP_PKEY *jwk_to_pkey(const json_t *jwk, enum jwk_kty *kty_out, char *err, size_t errlen);

/*
 * The first "BEGIN PUBLIC KEY" (SubjectPublicKeyInfo) block of PEM text, or
 * failing that the public key of its first "BEGIN CERTIFICATE" (the
 * certificate is only a container: dates, issuer and so on are not checked).
 * Same key restrictions as jwk_to_pkey().  Returns a new EVP_PKEY and sets
 * *kty_out (if not NULL), or NULL with err set.
 */
EVP_PKEY *pem_to_pkey(const char *pem, size_t len, enum jwk_kty *kty_out, char *err, size_t errlen);


/* Does this key fit this algorithm?  RSA (2048 to 8192 bits) for RS* and PS*,
 * EC P-256 for ES256 only, P-384 for ES384 only, Ed25519 for EdDSA.
 * 1 or 0. */
int jws_key_fits(EVP_PKEY *key, enum jws_alg alg);

/*
 * base64url (RFC 4648 section 5).  Padding is optional but, if present,
 * must complete the last 4-character group.  Anything outside the alphabet
 * (including '+' and '/'), a length of 1 mod 4, and non-zero unused bits in
 * the last character (a second spelling of the same bytes) are refused.
 * Returns a malloc'd buffer of *outlen bytes plus a NUL byte, or NULL.
 */
unsigned char *b64url_decode(const char *in, size_t inlen, size_t *outlen);

/*
 * Verify a JWS signature over signing_input ("base64url(header).
 * base64url(payload)", exactly as in the token) with the decoded signature:
 *  RS*: RSASSA-PKCS1-v1_5 with SHA-256/384/512;
 *  PS*: RSASSA-PSS, MGF1 with the same hash, salt length = hash length;
 *  ES256/ES384: raw r||s of exactly 64/96 bytes (converted to DER here);
 *  EdDSA: Ed25519.
 * Returns 1 if valid; 0 if not, if the key does not fit the algorithm, or
 * on any bad argument.
 */
int jws_verify(enum jws_alg alg, EVP_PKEY *key, const char *signing_input, size_t input_len,
	       const unsigned char *sig, size_t sig_len);

#endif
