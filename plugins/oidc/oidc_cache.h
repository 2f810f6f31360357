/*
 * Tokens whose signature was already verified, so that an agent that
 * reconnects with the same token costs a hash instead of a signature check.
 * Bounded: a fixed table, 4-way set-associative (a new token replaces an
 * expired entry of its set, else the one expiring first; a direct-mapped
 * table let two agents' tokens that shared a slot evict each other at every
 * login), keyed by the SHA-256 of the whole token, each entry kept until the
 * token's exp.  Only the signature is remembered: every other check runs on
 * every login.  Cleared whenever the key set changes, so a key the issuer
 * withdrew stops vouching at once.
 */
#ifndef OIDC_CACHE_H
#define OIDC_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define OIDC_CACHE_SLOTS 4096
#define OIDC_CACHE_WAYS 4

struct oidc_cache_entry {
	unsigned char hash[32];
	int64_t until;			/* unix time; 0: empty */
};

struct oidc_cache {
	struct oidc_cache_entry slots[OIDC_CACHE_SLOTS];
	uint64_t hits;
	uint64_t misses;
};

/* SHA-256 of the token; -1 if OpenSSL fails (then do not use the cache). */
int oidc_cache_hash(const char *token, size_t len, unsigned char hash[32]);
int oidc_cache_verified(struct oidc_cache *c, const unsigned char hash[32], int64_t now);
void oidc_cache_remember(struct oidc_cache *c, const unsigned char hash[32], int64_t until, int64_t now);
void oidc_cache_clear(struct oidc_cache *c);

#endif
