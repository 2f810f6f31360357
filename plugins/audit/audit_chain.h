/*
 * The tamper-evident chain of the audit log, shared by the plugin (which
 * writes it) and pgwarden-audit (which verifies it).
 *
 * Every row of the events table carries
 *     hash = HMAC-SHA256(key, prev_hash "|" seq "|" kind "|" at_us "|" record)
 * in lower-case hex, where prev_hash is the previous row's hash (for the
 * first row: the genesis value, HMAC(key, "pgwarden-audit genesis")).
 * Editing any column of a row breaks its hash; removing or inserting a row
 * breaks the next row's prev_hash or the run of seq numbers.  Without the
 * key, nobody can recompute a chain that verifies.
 */
#ifndef PGWARDEN_AUDIT_CHAIN_H
#define PGWARDEN_AUDIT_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUDIT_HASH_HEX_LEN 64
#define AUDIT_KEY_MIN 16
#define AUDIT_KEY_MAX 256

struct audit_key {
	uint8_t bytes[AUDIT_KEY_MAX];
	size_t len;
};

/*
 * Read the key file: its bytes are the key (trailing newline kept out).
 * With create, a missing file is made with 32 random bytes, mode 0600.
 * Refuses a file that group or others may read (as PostgreSQL does for its
 * TLS key) and one shorter than AUDIT_KEY_MIN bytes.
 */
bool audit_key_load(const char *path, bool create, struct audit_key *key, char *err, size_t errlen);

/* An HMAC ready for one key: keyed once (the SHA-256 states after the
 * key's pad blocks), used per record.  One per thread. */
struct audit_hasher;
struct audit_hasher *audit_hasher_new(const struct audit_key *key);
void audit_hasher_free(struct audit_hasher *h);

bool audit_chain_genesis(struct audit_hasher *h, char out[AUDIT_HASH_HEX_LEN + 1]);
bool audit_chain_hash(struct audit_hasher *h, const char *prev_hash, int64_t seq, const char *kind,
		      int64_t at_us, const char *record, char out[AUDIT_HASH_HEX_LEN + 1]);

/* Lower-case hex of len bytes into out (2 * len + 1 bytes, NUL-terminated). */
void audit_hex(const uint8_t *in, size_t len, char *out);

/* The SQLite schema (events table, views, schema_version). */
#define AUDIT_SCHEMA_VERSION 1
extern const char audit_schema_sql[];

#endif
