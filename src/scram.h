/*
 * Password hashing and SCRAM-SHA-256 (RFC 5802 / RFC 7677), both as a server
 * (authenticating clients) and as a client (logging in to PostgreSQL).
 * Pure functions over buffers: no sockets, no global state, so they are unit
 * tested with the RFC vectors.
 */
#ifndef PGWARDEN_SCRAM_H
#define PGWARDEN_SCRAM_H

#include "util.h"

#define SCRAM_KEY_LEN 32		/* SHA-256 */
#define SCRAM_SALT_LEN 16		/* PostgreSQL's SCRAM_DEFAULT_SALT_LEN */
#define MD5_PASSWD_LEN 35		/* "md5" + 32 hex */

enum password_type { PASSWORD_PLAIN, PASSWORD_MD5, PASSWORD_SCRAM };
enum password_type password_type_of(const char *secret);

/* "md5" + hex(md5(password || user)); out must hold MD5_PASSWD_LEN + 1. */
void md5_password_hash(const char *password, const char *user, char *out);
/* The answer to an MD5 challenge: "md5" + hex(md5(hex_md5_secret_without_prefix || salt)).
 * secret may be plain (hashed first with user) or already "md5...". */
void md5_challenge_response(const char *secret, const char *user, const uint8_t salt[4], char *out);

/* A parsed SCRAM secret "SCRAM-SHA-256$iter:salt$StoredKey:ServerKey". */
struct scram_secret {
	int iterations;
	char *salt_b64;
	uint8_t stored_key[SCRAM_KEY_LEN];
	uint8_t server_key[SCRAM_KEY_LEN];
};
bool scram_parse_secret(const char *secret, struct scram_secret *out);

/*
 * PBKDF2 costs about a millisecond at 4096 iterations (pgwarden runs it on
 * a worker thread: scram_keys_job).  A login with the same password, salt
 * and iteration count as the one before takes the keys that came out of it
 * then.  Only for passwords held in the clear anyway (the cache adds
 * nothing an attacker reading memory would not have): never for checking
 * a client's password.
 */
struct scram_keys_cache {
	bool valid;
	uint8_t inputs[SCRAM_KEY_LEN];	/* SHA-256 over iterations, salt, password */
	uint8_t client_key[SCRAM_KEY_LEN];
	uint8_t server_key[SCRAM_KEY_LEN];
};
void scram_keys_cache_clear(struct scram_keys_cache *cache);

/* Build a secret from a plain password (random salt, given iterations). */
bool scram_secret_from_password(const char *password, int iterations, struct scram_secret *out);
/* The same with a given salt; cache (may be NULL) as above. */
bool scram_secret_from_password_salt(const char *password, const uint8_t *salt, int saltlen, int iterations,
				     struct scram_keys_cache *cache, struct scram_secret *out);
/* A user's own salt when we hold no SCRAM secret for it (plain password, or
 * no such user): SHA-256(username || nonce), the same at every login. */
bool scram_user_salt(const char *username, const uint8_t nonce[SCRAM_KEY_LEN], uint8_t salt[SCRAM_SALT_LEN]);
/* A secret for a user that does not exist: that salt, keys no proof matches. */
bool scram_mock_secret(const uint8_t *salt, int saltlen, int iterations, struct scram_secret *out);
/* Format as PostgreSQL stores it in pg_authid (malloc'd). */
char *scram_secret_format(const struct scram_secret *s);
void scram_secret_clear(struct scram_secret *s);
/* Check a cleartext password against a secret; fills client_key_out (may be NULL) on success. */
bool scram_verify_plain_password(const struct scram_secret *s, const char *password,
				 uint8_t client_key_out[SCRAM_KEY_LEN]);

/* --- server side: we authenticate a client --- */
struct scram_server {
	struct scram_secret secret;
	char *client_first_bare;
	char *server_first;
	char *client_nonce;
	char *server_nonce;	/* full nonce = client_nonce + our part */
	/* After a successful verify: the ClientKey the client proved, so we can
	 * log in to PostgreSQL as this client with the same secret. */
	uint8_t client_key[SCRAM_KEY_LEN];
	bool have_client_key;
	char gs2_flag;		/* 'n' or 'y' from client-first, checked against c= */
};
/* The caller fills st->secret (scram_parse_secret or scram_secret_from_password)
 * before the first message.
 * Parse client-first-message (gs2 header "n,," or "y,,"; no channel binding),
 * produce server-first-message (malloc'd in *server_first). false = protocol error. */
bool scram_server_handle_first(struct scram_server *st, const char *client_first, size_t len,
			       char **server_first, const char **errmsg);
/* Verify client-final-message; on success produce server-final ("v=...").
 * *proof_ok false means wrong password (not a protocol error). */
bool scram_server_handle_final(struct scram_server *st, const char *client_final, size_t len,
			       bool *proof_ok, char **server_final, const char **errmsg);
void scram_server_clear(struct scram_server *st);

/* --- client side: we log in to PostgreSQL --- */
struct scram_client {
	char *password;		/* plain password, or NULL when using keys */
	struct scram_keys_cache *keys_cache;	/* optional, with password: not owned */
	bool use_keys;		/* use client_key/server_key learned from the client */
	uint8_t client_key[SCRAM_KEY_LEN];
	uint8_t server_key[SCRAM_KEY_LEN];
	char *client_nonce;
	char *client_first_bare;
	char *server_first;
	uint8_t expected_server_signature[SCRAM_KEY_LEN];
};
/*
 * The PBKDF2 scram_client_final would run for this server-first message,
 * to run elsewhere first (a worker thread: a server asking for a huge
 * iteration count would stall the event loop).  NULL when there is none
 * to run: keys from the client, keys already in cache, or a bad message
 * (scram_client_final then says what is wrong with it).
 */
struct scram_keys_job {
	char *password;
	uint8_t *salt;
	int salt_len, iterations;
	bool ok;			/* after scram_keys_job_run */
	uint8_t client_key[SCRAM_KEY_LEN];
	uint8_t server_key[SCRAM_KEY_LEN];
};
struct scram_keys_job *scram_client_keys_job(const struct scram_client *st, const struct scram_keys_cache *cache,
					     const char *server_first, size_t len);
/* The job for these inputs; NULL when cache already holds their keys. */
struct scram_keys_job *scram_keys_job_new(const char *password, const uint8_t *salt, int salt_len, int iterations,
					  const struct scram_keys_cache *cache);
/* Any thread: derive the keys. */
void scram_keys_job_run(struct scram_keys_job *job);
/* The derived keys into cache, where scram_client_final finds them. */
void scram_keys_job_store(const struct scram_keys_job *job, struct scram_keys_cache *cache);
void scram_keys_job_free(struct scram_keys_job *job);

/* Produce client-first-message ("n,,n=,r=<nonce>").  A client_nonce set
 * beforehand (malloc'd) is used instead of a random one: test vectors only. */
char *scram_client_first(struct scram_client *st);
/* Given server-first, produce client-final (with proof). Checks that the
 * server nonce extends ours and iterations are sane. */
char *scram_client_final(struct scram_client *st, const char *server_first, size_t len,
			 const char **errmsg);
/* Verify the server's signature in server-final. */
bool scram_client_verify_final(struct scram_client *st, const char *server_final, size_t len,
			       const char **errmsg);
void scram_client_clear(struct scram_client *st);

/* base64 helpers (OpenSSL EVP); return malloc'd strings / lengths, -1 on bad input. */
char *b64_encode(const uint8_t *data, size_t len);
int b64_decode(const char *src, size_t srclen, uint8_t *dst, size_t dstlen);

#endif
