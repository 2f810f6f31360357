/*
 * MD5 password hashing and SCRAM-SHA-256 (RFC 5802 / RFC 7677).
 *
 * Message parsing follows PostgreSQL's auth-scram.c on the server side and
 * libpq's fe-auth-scram.c on the client side, so we accept and reject what
 * the real server and client do.  Every message is length-delimited input
 * from the network: it is never assumed to be NUL-terminated.
 */
#include "scram.h"
#include "log.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define SCRAM_PREFIX "SCRAM-SHA-256$"
#define SCRAM_NONCE_RAW_LEN 18		/* random bytes per nonce, as PostgreSQL */
#define MD5_DIGEST_LEN 16

/*
 * A hostile or misconfigured server could ask for a huge iteration count
 * and stall the single-threaded event loop in PBKDF2.  PostgreSQL uses 4096
 * unless an administrator raised it; ten million is far beyond that.
 */
#define SCRAM_MAX_ITERATIONS 10000000

/* base64 of the only gs2 headers we accept, for the c= attribute. */
#define GS2_HEADER_N_B64 "biws"		/* "n,," */
#define GS2_HEADER_Y_B64 "eSws"		/* "y,," */

/* A value inside a message being parsed: not NUL-terminated. */
struct span {
	const char *ptr;
	size_t len;
};

/* A length-delimited SCRAM message being parsed attribute by attribute. */
struct reader {
	const char *p;
	const char *end;
	bool need_comma;	/* every attribute but the first follows a ',' */
};

static bool fail(const char **errmsg, const char *msg)
{
	if (errmsg)
		*errmsg = msg;
	return false;
}

static char *str_printf(const char *fmt, ...) PRINTF_LIKE(1, 2);

static char *str_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		die("out of memory");
	return s;
}

/* --- base64 --- */

static bool is_b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/';
}

char *b64_encode(const uint8_t *data, size_t len)
{
	char *out;

	/* EVP_EncodeBlock takes an int; nothing we encode comes close. */
	if (len > INT_MAX / 4 * 3 - 3)
		return NULL;
	out = xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

int b64_decode(const char *src, size_t srclen, uint8_t *dst, size_t dstlen)
{
	size_t pad = 0, rawlen, i;
	uint8_t *tmp;
	int n;

	/*
	 * EVP_DecodeBlock skips surrounding whitespace and takes '=' anywhere
	 * (as zero bits), so insist on canonical padded base64 first.
	 */
	if (srclen % 4 != 0 || srclen > INT_MAX)
		return -1;
	while (pad < 2 && pad < srclen && src[srclen - 1 - pad] == '=')
		pad++;
	for (i = 0; i < srclen - pad; i++) {
		if (!is_b64_char(src[i]))
			return -1;
	}
	if (srclen == 0)
		return 0;

	/* EVP_DecodeBlock writes 3 bytes per quantum, padding included. */
	rawlen = srclen / 4 * 3;
	if (rawlen - pad > dstlen)
		return -1;
	tmp = xmalloc(rawlen);
	n = EVP_DecodeBlock(tmp, (const unsigned char *)src, (int)srclen);
	if (n == (int)rawlen) {
		n -= (int)pad;
		memcpy(dst, tmp, n);
	} else {
		n = -1;
	}
	secure_zero(tmp, rawlen);
	free(tmp);
	return n;
}

/* Decode into a fresh buffer of the right size; NULL on bad input. */
static uint8_t *b64_decode_alloc(const char *src, size_t srclen, int *outlen)
{
	size_t cap = srclen / 4 * 3 + 1;
	uint8_t *buf = xmalloc(cap);

	*outlen = b64_decode(src, srclen, buf, cap);
	if (*outlen < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* --- hashing primitives --- */

static bool sha256(const void *data, size_t len, uint8_t out[SCRAM_KEY_LEN])
{
	return EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL) == 1;
}

/* SHA-256 over parts one after the other, as if concatenated. */
static bool sha256_parts(const struct span *parts, size_t n, uint8_t out[SCRAM_KEY_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;

	for (size_t i = 0; ok && i < n; i++)
		ok = EVP_DigestUpdate(ctx, parts[i].ptr, parts[i].len) == 1;
	ok = ok && EVP_DigestFinal_ex(ctx, out, NULL) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

static bool hmac_sha256(const uint8_t key[SCRAM_KEY_LEN], const void *data, size_t len,
			uint8_t out[SCRAM_KEY_LEN])
{
	size_t outlen = 0;

	return EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, SCRAM_KEY_LEN,
			 data, len, out, SCRAM_KEY_LEN, &outlen) != NULL &&
	       outlen == SCRAM_KEY_LEN;
}

/*
 * out = in XOR HMAC(StoredKey, AuthMessage).  The client turns ClientKey
 * into ClientProof with it, the server turns ClientProof back into ClientKey.
 */
static bool xor_client_signature(const uint8_t stored_key[SCRAM_KEY_LEN], const char *auth_msg,
				 const uint8_t in[SCRAM_KEY_LEN], uint8_t out[SCRAM_KEY_LEN])
{
	uint8_t sig[SCRAM_KEY_LEN];
	int i;

	if (!hmac_sha256(stored_key, auth_msg, strlen(auth_msg), sig))
		return false;
	for (i = 0; i < SCRAM_KEY_LEN; i++)
		out[i] = in[i] ^ sig[i];
	secure_zero(sig, sizeof(sig));
	return true;
}

/* ClientKey and ServerKey from a plain password (RFC 5802 section 3). */
static bool keys_from_password(const char *password, const uint8_t *salt, int saltlen, int iterations,
			       uint8_t client_key[SCRAM_KEY_LEN], uint8_t server_key[SCRAM_KEY_LEN])
{
	uint8_t salted[SCRAM_KEY_LEN];
	bool ok;

	/*
	 * PostgreSQL runs the password through SASLprep first.  SASLprep leaves
	 * pure ASCII untouched and PostgreSQL uses the raw bytes when SASLprep
	 * fails (e.g. invalid UTF-8), so the raw password is exact in those
	 * cases.  Non-ASCII passwords that SASLprep would normalise (NFKC,
	 * non-ASCII spaces, ...) are not supported.
	 */
	ok = PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, saltlen, iterations,
			       EVP_sha256(), SCRAM_KEY_LEN, salted) == 1 &&
	     hmac_sha256(salted, "Client Key", 10, client_key) &&
	     hmac_sha256(salted, "Server Key", 10, server_key);
	secure_zero(salted, sizeof(salted));
	return ok;
}

/* What the keys cache is keyed on: SHA-256 over iterations, salt and password. */
static bool keys_cache_inputs(const char *password, const uint8_t *salt, int saltlen, int iterations,
			      uint8_t out[SCRAM_KEY_LEN])
{
	uint8_t head[8] = {
		(uint8_t)(iterations >> 24), (uint8_t)(iterations >> 16), (uint8_t)(iterations >> 8), (uint8_t)iterations,
		(uint8_t)(saltlen >> 24), (uint8_t)(saltlen >> 16), (uint8_t)(saltlen >> 8), (uint8_t)saltlen,
	};
	const struct span parts[] = {
		{ (const char *)head, sizeof(head) },
		{ (const char *)salt, (size_t)saltlen },
		{ password, strlen(password) },
	};

	return sha256_parts(parts, ARRAY_SIZE(parts), out);
}

static void cache_store(struct scram_keys_cache *cache, const uint8_t inputs[SCRAM_KEY_LEN],
			const uint8_t client_key[SCRAM_KEY_LEN], const uint8_t server_key[SCRAM_KEY_LEN])
{
	memcpy(cache->inputs, inputs, SCRAM_KEY_LEN);
	memcpy(cache->client_key, client_key, SCRAM_KEY_LEN);
	memcpy(cache->server_key, server_key, SCRAM_KEY_LEN);
	cache->valid = true;
}

/* keys_from_password, or the keys the cache holds for the same three inputs. */
static bool cached_keys_from_password(struct scram_keys_cache *cache, const char *password,
				      const uint8_t *salt, int saltlen, int iterations,
				      uint8_t client_key[SCRAM_KEY_LEN], uint8_t server_key[SCRAM_KEY_LEN])
{
	uint8_t inputs[SCRAM_KEY_LEN];

	if (!cache)
		return keys_from_password(password, salt, saltlen, iterations, client_key, server_key);
	if (!keys_cache_inputs(password, salt, saltlen, iterations, inputs))
		return false;
	if (cache->valid && secure_equal(cache->inputs, inputs, SCRAM_KEY_LEN)) {
		memcpy(client_key, cache->client_key, SCRAM_KEY_LEN);
		memcpy(server_key, cache->server_key, SCRAM_KEY_LEN);
		return true;
	}
	scram_keys_cache_clear(cache);
	if (!keys_from_password(password, salt, saltlen, iterations, client_key, server_key))
		return false;
	cache_store(cache, inputs, client_key, server_key);
	return true;
}

void scram_keys_cache_clear(struct scram_keys_cache *cache)
{
	secure_zero(cache, sizeof(*cache));
}

/* AuthMessage = client-first-bare "," server-first "," client-final-without-proof */
static char *auth_message(const char *client_first_bare, const char *server_first,
			  const char *final_no_proof, size_t final_len)
{
	return str_printf("%s,%s,%.*s", client_first_bare, server_first, (int)final_len, final_no_proof);
}

static char *random_b64(size_t nbytes)
{
	uint8_t raw[SCRAM_NONCE_RAW_LEN];

	if (nbytes > sizeof(raw) || RAND_bytes(raw, (int)nbytes) != 1)
		return NULL;
	return b64_encode(raw, nbytes);
}

/* --- MD5 --- */

/* "md5" + hex(md5(a || b)) into out[MD5_PASSWD_LEN + 1]. */
static bool md5_hex(const void *a, size_t alen, const void *b, size_t blen, char *out)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t digest[MD5_DIGEST_LEN];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok;
	int i;

	ok = ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, a, alen) == 1 &&
	     EVP_DigestUpdate(ctx, b, blen) == 1 &&
	     EVP_DigestFinal_ex(ctx, digest, NULL) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		/* e.g. a FIPS-only OpenSSL; an empty answer never matches. */
		log_error("MD5 digest failed");
		out[0] = '\0';
		return false;
	}
	memcpy(out, "md5", 3);
	for (i = 0; i < MD5_DIGEST_LEN; i++) {
		out[3 + 2 * i] = hex[digest[i] >> 4];
		out[4 + 2 * i] = hex[digest[i] & 15];
	}
	out[MD5_PASSWD_LEN] = '\0';
	return true;
}

/* Same test as PostgreSQL's get_password_type(): lowercase hex only. */
static bool is_md5_secret(const char *secret)
{
	return strncmp(secret, "md5", 3) == 0 &&
	       strlen(secret) == MD5_PASSWD_LEN &&
	       strspn(secret + 3, "0123456789abcdef") == MD5_PASSWD_LEN - 3;
}

void md5_password_hash(const char *password, const char *user, char *out)
{
	md5_hex(password, strlen(password), user, strlen(user), out);
}

/* Anything that is not an MD5 hash is taken to be the plain password. */
void md5_challenge_response(const char *secret, const char *user, const uint8_t salt[4], char *out)
{
	char hashed[MD5_PASSWD_LEN + 1];

	if (is_md5_secret(secret))
		strlcpy_safe(hashed, secret, sizeof(hashed));
	else if (!md5_hex(secret, strlen(secret), user, strlen(user), hashed)) {
		out[0] = '\0';
		return;
	}
	md5_hex(hashed + 3, MD5_PASSWD_LEN - 3, salt, 4, out);
	secure_zero(hashed, sizeof(hashed));
}

/* --- secrets --- */

enum password_type password_type_of(const char *secret)
{
	struct scram_secret parsed;

	if (!secret)
		return PASSWORD_PLAIN;
	if (is_md5_secret(secret))
		return PASSWORD_MD5;
	if (scram_parse_secret(secret, &parsed)) {
		scram_secret_clear(&parsed);
		return PASSWORD_SCRAM;
	}
	return PASSWORD_PLAIN;
}

/* Strictly positive decimal int, no sign, no spaces. */
static bool parse_positive_int(const char *s, size_t len, int *out)
{
	long v = 0;
	size_t i;

	if (len == 0 || len > 10)
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > INT_MAX)
		return false;
	*out = (int)v;
	return true;
}

/* The field following the next sep in s, or NULL. */
static const char *field_after(const char *s, char sep)
{
	const char *p = strchr(s, sep);

	return p ? p + 1 : NULL;
}

/* "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>" */
bool scram_parse_secret(const char *secret, struct scram_secret *out)
{
	const char *iter, *salt, *stored, *server;
	uint8_t *salt_raw;
	int salt_len;

	memset(out, 0, sizeof(*out));
	if (!secret || strncmp(secret, SCRAM_PREFIX, strlen(SCRAM_PREFIX)) != 0)
		return false;
	iter = secret + strlen(SCRAM_PREFIX);
	salt = field_after(iter, ':');
	stored = salt ? field_after(salt, '$') : NULL;
	server = stored ? field_after(stored, ':') : NULL;
	if (!server)
		return false;

	if (!parse_positive_int(iter, salt - 1 - iter, &out->iterations) ||
	    b64_decode(stored, server - 1 - stored, out->stored_key, SCRAM_KEY_LEN) != SCRAM_KEY_LEN ||
	    b64_decode(server, strlen(server), out->server_key, SCRAM_KEY_LEN) != SCRAM_KEY_LEN)
		goto bad;
	/* The salt is only passed on, but PostgreSQL refuses undecodable ones too. */
	salt_raw = b64_decode_alloc(salt, stored - 1 - salt, &salt_len);
	if (!salt_raw)
		goto bad;
	free(salt_raw);
	out->salt_b64 = xstrndup(salt, stored - 1 - salt);
	return true;
bad:
	scram_secret_clear(out);
	return false;
}

bool scram_secret_from_password_salt(const char *password, const uint8_t *salt, int saltlen, int iterations,
				     struct scram_keys_cache *cache, struct scram_secret *out)
{
	uint8_t client_key[SCRAM_KEY_LEN];
	bool ok;

	memset(out, 0, sizeof(*out));
	if (iterations < 1)
		return false;
	ok = cached_keys_from_password(cache, password, salt, saltlen, iterations, client_key, out->server_key) &&
	     sha256(client_key, SCRAM_KEY_LEN, out->stored_key);
	secure_zero(client_key, sizeof(client_key));
	if (!ok) {
		scram_secret_clear(out);
		return false;
	}
	out->iterations = iterations;
	out->salt_b64 = b64_encode(salt, (size_t)saltlen);
	return true;
}

bool scram_secret_from_password(const char *password, int iterations, struct scram_secret *out)
{
	uint8_t salt[SCRAM_SALT_LEN];

	memset(out, 0, sizeof(*out));
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return false;
	return scram_secret_from_password_salt(password, salt, sizeof(salt), iterations, NULL, out);
}

/*
 * PostgreSQL's mock authentication, for a user we have no secret for: the
 * exchange runs as for a real user, with a salt that stays the same for
 * that name (scram_user_salt) and random keys no proof can match, so the
 * client cannot tell from the salt, nor from the time PBKDF2 would take,
 * that the user does not exist.
 */
bool scram_mock_secret(const uint8_t *salt, int saltlen, int iterations, struct scram_secret *out)
{
	memset(out, 0, sizeof(*out));
	if (iterations < 1 || RAND_bytes(out->stored_key, SCRAM_KEY_LEN) != 1 ||
	    RAND_bytes(out->server_key, SCRAM_KEY_LEN) != 1)
		return false;
	out->iterations = iterations;
	out->salt_b64 = b64_encode(salt, (size_t)saltlen);
	return true;
}

/* As PostgreSQL's scram_mock_salt: SHA-256(username || nonce), cut to salt length. */
bool scram_user_salt(const char *username, const uint8_t nonce[SCRAM_KEY_LEN], uint8_t salt[SCRAM_SALT_LEN])
{
	const struct span parts[] = { { username, strlen(username) }, { (const char *)nonce, SCRAM_KEY_LEN } };
	uint8_t digest[SCRAM_KEY_LEN];
	bool ok = sha256_parts(parts, ARRAY_SIZE(parts), digest);

	memcpy(salt, digest, SCRAM_SALT_LEN);
	return ok;
}

/*
 * A cleartext password (auth_type = plain, or the client sent one) checked
 * against a stored SCRAM secret: derive the keys with the secret's salt and
 * iteration count and compare.  On success the ClientKey is handed back so
 * the pooler can log in to PostgreSQL with the same secret.
 */
bool scram_verify_plain_password(const struct scram_secret *s, const char *password,
				 uint8_t client_key_out[SCRAM_KEY_LEN])
{
	uint8_t client_key[SCRAM_KEY_LEN], server_key[SCRAM_KEY_LEN], stored_key[SCRAM_KEY_LEN];
	int saltlen = 0;
	uint8_t *salt = b64_decode_alloc(s->salt_b64, strlen(s->salt_b64), &saltlen);
	bool ok;

	if (!salt)
		return false;
	ok = keys_from_password(password, salt, saltlen, s->iterations, client_key, server_key) &&
	     sha256(client_key, SCRAM_KEY_LEN, stored_key) &&
	     secure_equal(stored_key, s->stored_key, SCRAM_KEY_LEN) &&
	     secure_equal(server_key, s->server_key, SCRAM_KEY_LEN);
	if (ok && client_key_out)
		memcpy(client_key_out, client_key, SCRAM_KEY_LEN);
	secure_zero(client_key, sizeof(client_key));
	secure_zero(server_key, sizeof(server_key));
	free(salt);
	return ok;
}

char *scram_secret_format(const struct scram_secret *s)
{
	char *stored = b64_encode(s->stored_key, SCRAM_KEY_LEN);
	char *server = b64_encode(s->server_key, SCRAM_KEY_LEN);
	char *res = str_printf(SCRAM_PREFIX "%d:%s$%s:%s", s->iterations, s->salt_b64, stored, server);

	free_secret_str(&stored);
	free_secret_str(&server);
	return res;
}

void scram_secret_clear(struct scram_secret *s)
{
	free_secret_str(&s->salt_b64);
	secure_zero(s, sizeof(*s));
}

/* --- message parsing --- */

static bool reader_init(struct reader *r, const char *msg, size_t len)
{
	r->p = msg;
	r->end = msg + len;
	r->need_comma = false;
	/* An embedded NUL would make the strings we copy out lie about lengths. */
	return msg && len > 0 && !memchr(msg, '\0', len);
}

static bool at_end(const struct reader *r)
{
	return r->p == r->end;
}

static bool starts_with(const struct reader *r, const char *prefix)
{
	size_t n = strlen(prefix);

	return (size_t)(r->end - r->p) >= n && memcmp(r->p, prefix, n) == 0;
}

/* Read "<letter>=<value>" up to the next ',' or the end of the message. */
static bool read_any_attr(struct reader *r, char *attr, struct span *val)
{
	const char *comma;
	char c;

	if (r->need_comma) {
		if (at_end(r) || *r->p != ',')
			return false;
		r->p++;
	}
	if (r->end - r->p < 2 || r->p[1] != '=')
		return false;
	c = r->p[0];
	if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
		return false;
	*attr = c;
	val->ptr = r->p + 2;
	comma = memchr(val->ptr, ',', r->end - val->ptr);
	r->p = comma ? comma : r->end;
	val->len = r->p - val->ptr;
	r->need_comma = true;
	return true;
}

static bool read_attr(struct reader *r, char want, struct span *val)
{
	char attr;

	return read_any_attr(r, &attr, val) && attr == want;
}

static bool span_equals(struct span s, const char *str)
{
	return s.len == strlen(str) && memcmp(s.ptr, str, s.len) == 0;
}

/* RFC 5802: printable ASCII except ','. */
static bool nonce_is_valid(struct span nonce)
{
	size_t i;

	if (nonce.len == 0)
		return false;
	for (i = 0; i < nonce.len; i++) {
		if (nonce.ptr[i] < 0x21 || nonce.ptr[i] > 0x7e || nonce.ptr[i] == ',')
			return false;
	}
	return true;
}

/* --- server side --- */

/*
 * gs2-header = cbind-flag "," [authzid] ","
 * Like PgBouncer we support neither channel binding nor an authzid.
 */
static bool read_gs2_header(struct reader *r, char *flag, const char **errmsg)
{
	if (starts_with(r, "p="))
		return fail(errmsg, "channel binding not supported");
	if (!starts_with(r, "n,") && !starts_with(r, "y,"))
		return fail(errmsg, "malformed SCRAM message (unexpected channel-binding flag)");
	*flag = r->p[0];
	r->p += 2;
	if (starts_with(r, "a="))
		return fail(errmsg, "client uses authorization identity, but it is not supported");
	if (!starts_with(r, ","))
		return fail(errmsg, "malformed SCRAM message (unexpected attribute in gs2 header)");
	r->p++;
	return true;
}

bool scram_server_handle_first(struct scram_server *st, const char *client_first, size_t len,
			       char **server_first, const char **errmsg)
{
	struct reader r;
	struct span ignored, nonce;
	const char *bare;
	char *our_nonce;
	char attr;

	*server_first = NULL;
	if (st->server_first)
		return fail(errmsg, "SCRAM exchange out of order");
	if (!st->secret.salt_b64 || st->secret.iterations < 1)
		return fail(errmsg, "no SCRAM secret available");
	if (!reader_init(&r, client_first, len))
		return fail(errmsg, "malformed SCRAM message (empty or contains NUL)");
	if (!read_gs2_header(&r, &st->gs2_flag, errmsg))
		return false;

	bare = r.p;
	if (starts_with(&r, "m="))
		return fail(errmsg, "client requires an unsupported SCRAM extension");
	/* PostgreSQL ignores the user name here: the startup packet has it. */
	if (!read_attr(&r, 'n', &ignored))
		return fail(errmsg, "malformed SCRAM message (expected username attribute)");
	if (!read_attr(&r, 'r', &nonce))
		return fail(errmsg, "malformed SCRAM message (expected nonce attribute)");
	if (!nonce_is_valid(nonce))
		return fail(errmsg, "malformed SCRAM message (invalid nonce)");
	/* Optional extensions: we support none and skip them, as PostgreSQL. */
	while (!at_end(&r)) {
		if (!read_any_attr(&r, &attr, &ignored))
			return fail(errmsg, "malformed SCRAM message (invalid attribute)");
	}

	our_nonce = random_b64(SCRAM_NONCE_RAW_LEN);
	if (!our_nonce)
		return fail(errmsg, "could not generate random nonce");
	st->client_first_bare = xstrndup(bare, r.end - bare);
	st->client_nonce = xstrndup(nonce.ptr, nonce.len);
	st->server_nonce = str_printf("%s%s", st->client_nonce, our_nonce);
	free(our_nonce);
	st->server_first = str_printf("r=%s,s=%s,i=%d", st->server_nonce,
				      st->secret.salt_b64, st->secret.iterations);
	*server_first = xstrdup(st->server_first);
	return true;
}

/*
 * Check ClientProof against StoredKey; on success remember ClientKey and
 * build server-final.  A wrong proof is not an error: *proof_ok says it.
 */
static bool verify_client_proof(struct scram_server *st, const char *auth_msg,
				const uint8_t proof[SCRAM_KEY_LEN], bool *proof_ok,
				char **server_final, const char **errmsg)
{
	uint8_t client_key[SCRAM_KEY_LEN];
	uint8_t stored_key[SCRAM_KEY_LEN];
	uint8_t server_sig[SCRAM_KEY_LEN];
	char *sig_b64;
	bool ok;

	ok = xor_client_signature(st->secret.stored_key, auth_msg, proof, client_key) &&
	     sha256(client_key, SCRAM_KEY_LEN, stored_key) &&
	     hmac_sha256(st->secret.server_key, auth_msg, strlen(auth_msg), server_sig);
	if (!ok) {
		fail(errmsg, "SCRAM internal error");
	} else if (secure_equal(stored_key, st->secret.stored_key, SCRAM_KEY_LEN)) {
		memcpy(st->client_key, client_key, SCRAM_KEY_LEN);
		st->have_client_key = true;
		sig_b64 = b64_encode(server_sig, SCRAM_KEY_LEN);
		*server_final = str_printf("v=%s", sig_b64);
		free(sig_b64);
		*proof_ok = true;
	}
	secure_zero(client_key, sizeof(client_key));
	secure_zero(server_sig, sizeof(server_sig));
	return ok;
}

bool scram_server_handle_final(struct scram_server *st, const char *client_final, size_t len,
			       bool *proof_ok, char **server_final, const char **errmsg)
{
	struct reader r;
	struct span cbind, nonce, val;
	const char *proof_attr;
	uint8_t proof[SCRAM_KEY_LEN];
	char *auth_msg;
	char attr;
	bool ok;

	*proof_ok = false;
	*server_final = NULL;
	if (!st->server_first)
		return fail(errmsg, "SCRAM exchange out of order");
	if (!reader_init(&r, client_final, len))
		return fail(errmsg, "malformed SCRAM message (empty or contains NUL)");
	if (!read_attr(&r, 'c', &cbind))
		return fail(errmsg, "malformed SCRAM message (expected channel-binding attribute)");
	if (!span_equals(cbind, st->gs2_flag == 'y' ? GS2_HEADER_Y_B64 : GS2_HEADER_N_B64))
		return fail(errmsg, "SCRAM channel binding check failed");
	if (!read_attr(&r, 'r', &nonce))
		return fail(errmsg, "malformed SCRAM message (expected nonce attribute)");
	if (!span_equals(nonce, st->server_nonce))
		return fail(errmsg, "SCRAM nonce mismatch");
	/* Skip extensions; the proof comes last and is left out of AuthMessage. */
	do {
		proof_attr = r.p;
		if (!read_any_attr(&r, &attr, &val))
			return fail(errmsg, "malformed SCRAM message (expected proof attribute)");
	} while (attr != 'p');
	if (!at_end(&r))
		return fail(errmsg, "malformed SCRAM message (unexpected data after proof)");
	if (b64_decode(val.ptr, val.len, proof, SCRAM_KEY_LEN) != SCRAM_KEY_LEN)
		return fail(errmsg, "malformed SCRAM message (invalid proof)");

	auth_msg = auth_message(st->client_first_bare, st->server_first,
				client_final, proof_attr - client_final);
	ok = verify_client_proof(st, auth_msg, proof, proof_ok, server_final, errmsg);
	free(auth_msg);
	return ok;
}

void scram_server_clear(struct scram_server *st)
{
	scram_secret_clear(&st->secret);
	free_secret_str(&st->client_first_bare);
	free_secret_str(&st->server_first);
	free_secret_str(&st->client_nonce);
	free_secret_str(&st->server_nonce);
	secure_zero(st, sizeof(*st));
}

/* --- client side --- */

char *scram_client_first(struct scram_client *st)
{
	if (!st->client_nonce) {
		st->client_nonce = random_b64(SCRAM_NONCE_RAW_LEN);
		if (!st->client_nonce)
			return NULL;
	}
	free(st->client_first_bare);
	/* Empty n=: PostgreSQL takes the user name from the startup packet. */
	st->client_first_bare = str_printf("n=,r=%s", st->client_nonce);
	return str_printf("n,,%s", st->client_first_bare);
}

/* Parse server-first into its nonce, raw salt and iteration count. */
static bool read_server_first(const struct scram_client *st, const char *msg, size_t len,
			      struct span *nonce, uint8_t **salt, int *salt_len,
			      int *iterations, const char **errmsg)
{
	struct reader r;
	struct span salt_b64, iter;
	size_t our_len = strlen(st->client_nonce);

	if (!reader_init(&r, msg, len))
		return fail(errmsg, "malformed SCRAM message (empty or contains NUL)");
	if (!read_attr(&r, 'r', nonce))
		return fail(errmsg, "malformed SCRAM message (expected nonce attribute)");
	if (nonce->len <= our_len || memcmp(nonce->ptr, st->client_nonce, our_len) != 0)
		return fail(errmsg, "invalid SCRAM response (nonce mismatch)");
	if (!read_attr(&r, 's', &salt_b64))
		return fail(errmsg, "malformed SCRAM message (expected salt attribute)");
	if (!read_attr(&r, 'i', &iter))
		return fail(errmsg, "malformed SCRAM message (expected iteration count)");
	if (!at_end(&r))
		return fail(errmsg, "malformed SCRAM message (garbage at end of server-first-message)");
	if (!parse_positive_int(iter.ptr, iter.len, iterations) || *iterations > SCRAM_MAX_ITERATIONS)
		return fail(errmsg, "malformed SCRAM message (invalid iteration count)");
	*salt = b64_decode_alloc(salt_b64.ptr, salt_b64.len, salt_len);
	if (!*salt)
		return fail(errmsg, "malformed SCRAM message (invalid salt)");
	return true;
}

/*
 * ClientProof for AuthMessage, and the ServerSignature we will expect in
 * server-final.  client_key/server_key are set by now, from either path.
 */
static bool make_client_proof(struct scram_client *st, const char *auth_msg, uint8_t proof[SCRAM_KEY_LEN])
{
	uint8_t stored_key[SCRAM_KEY_LEN];
	bool ok;

	ok = sha256(st->client_key, SCRAM_KEY_LEN, stored_key) &&
	     xor_client_signature(stored_key, auth_msg, st->client_key, proof) &&
	     hmac_sha256(st->server_key, auth_msg, strlen(auth_msg), st->expected_server_signature);
	secure_zero(stored_key, sizeof(stored_key));
	return ok;
}

/* Does the cache hold keys for these inputs? */
static bool keys_cached(const struct scram_keys_cache *cache, const char *password,
			const uint8_t *salt, int saltlen, int iterations)
{
	uint8_t inputs[SCRAM_KEY_LEN];

	return cache && cache->valid && keys_cache_inputs(password, salt, saltlen, iterations, inputs) &&
	       secure_equal(cache->inputs, inputs, SCRAM_KEY_LEN);
}

struct scram_keys_job *scram_client_keys_job(const struct scram_client *st, const struct scram_keys_cache *cache,
					     const char *server_first, size_t len)
{
	struct scram_keys_job *job;
	struct span nonce;
	uint8_t *salt;
	int salt_len, iterations;
	const char *err;

	if (st->use_keys || !st->password || !st->client_first_bare || st->server_first ||
	    !read_server_first(st, server_first, len, &nonce, &salt, &salt_len, &iterations, &err))
		return NULL;
	job = scram_keys_job_new(st->password, salt, salt_len, iterations, cache);
	free(salt);
	return job;
}

struct scram_keys_job *scram_keys_job_new(const char *password, const uint8_t *salt, int salt_len, int iterations,
					  const struct scram_keys_cache *cache)
{
	struct scram_keys_job *job;

	if (keys_cached(cache, password, salt, salt_len, iterations))
		return NULL;
	job = xcalloc(1, sizeof(*job));
	job->password = xstrdup(password);
	job->salt = xmalloc((size_t)salt_len);
	memcpy(job->salt, salt, (size_t)salt_len);
	job->salt_len = salt_len;
	job->iterations = iterations;
	return job;
}

void scram_keys_job_run(struct scram_keys_job *job)
{
	job->ok = keys_from_password(job->password, job->salt, job->salt_len, job->iterations,
				     job->client_key, job->server_key);
}

void scram_keys_job_store(const struct scram_keys_job *job, struct scram_keys_cache *cache)
{
	uint8_t inputs[SCRAM_KEY_LEN];

	if (job->ok && keys_cache_inputs(job->password, job->salt, job->salt_len, job->iterations, inputs))
		cache_store(cache, inputs, job->client_key, job->server_key);
}

void scram_keys_job_free(struct scram_keys_job *job)
{
	if (!job)
		return;
	free_secret_str(&job->password);
	free(job->salt);
	secure_zero(job, sizeof(*job));
	free(job);
}

char *scram_client_final(struct scram_client *st, const char *server_first, size_t len,
			 const char **errmsg)
{
	struct span nonce;
	uint8_t *salt;
	int salt_len, iterations;
	uint8_t proof[SCRAM_KEY_LEN];
	char *final_no_proof, *auth_msg, *proof_b64, *result = NULL;
	bool ok;

	if (!st->client_first_bare || st->server_first) {
		fail(errmsg, "SCRAM exchange out of order");
		return NULL;
	}
	if (!st->use_keys && !st->password) {
		fail(errmsg, "no password or SCRAM keys available");
		return NULL;
	}
	if (!read_server_first(st, server_first, len, &nonce, &salt, &salt_len, &iterations, errmsg))
		return NULL;
	ok = st->use_keys ||
	     cached_keys_from_password(st->keys_cache, st->password, salt, salt_len, iterations,
				       st->client_key, st->server_key);
	free(salt);
	if (!ok) {
		fail(errmsg, "SCRAM internal error");
		return NULL;
	}

	st->server_first = xstrndup(server_first, len);
	final_no_proof = str_printf("c=" GS2_HEADER_N_B64 ",r=%.*s", (int)nonce.len, nonce.ptr);
	auth_msg = auth_message(st->client_first_bare, st->server_first,
				final_no_proof, strlen(final_no_proof));
	if (make_client_proof(st, auth_msg, proof)) {
		proof_b64 = b64_encode(proof, SCRAM_KEY_LEN);
		result = str_printf("%s,p=%s", final_no_proof, proof_b64);
		free(proof_b64);
	} else {
		fail(errmsg, "SCRAM internal error");
	}
	secure_zero(proof, sizeof(proof));
	free(auth_msg);
	free(final_no_proof);
	return result;
}

/*
 * errmsg is a plain const char *, so the server's e= text is kept here until
 * the next call; the pooler runs a single event loop thread.
 */
static const char *server_error(struct span text)
{
	static char buf[128];
	int prefix = snprintf(buf, sizeof(buf), "error received from server in SCRAM exchange: ");
	size_t i, n = MIN(text.len, sizeof(buf) - (size_t)prefix - 1);

	/* Keep control characters from the network out of our logs. */
	for (i = 0; i < n; i++)
		buf[prefix + i] = (text.ptr[i] >= 0x20 && text.ptr[i] < 0x7f) ? text.ptr[i] : '?';
	buf[prefix + n] = '\0';
	return buf;
}

bool scram_client_verify_final(struct scram_client *st, const char *server_final, size_t len,
			       const char **errmsg)
{
	struct reader r;
	struct span val;
	uint8_t sig[SCRAM_KEY_LEN];
	char attr;

	if (!st->server_first)
		return fail(errmsg, "SCRAM exchange out of order");
	if (!reader_init(&r, server_final, len) || !read_any_attr(&r, &attr, &val))
		return fail(errmsg, "malformed SCRAM message (expected server signature)");
	if (attr == 'e')
		return fail(errmsg, server_error(val));
	if (attr != 'v' || !at_end(&r))
		return fail(errmsg, "malformed SCRAM message (expected server signature)");
	if (b64_decode(val.ptr, val.len, sig, SCRAM_KEY_LEN) != SCRAM_KEY_LEN)
		return fail(errmsg, "malformed SCRAM message (invalid server signature)");
	if (!secure_equal(sig, st->expected_server_signature, SCRAM_KEY_LEN))
		return fail(errmsg, "incorrect server signature");
	return true;
}

void scram_client_clear(struct scram_client *st)
{
	free_secret_str(&st->password);
	free_secret_str(&st->client_nonce);
	free_secret_str(&st->client_first_bare);
	free_secret_str(&st->server_first);
	secure_zero(st, sizeof(*st));
}
