/* The audit log's hash chain and key file; see audit_chain.h. */
#define OPENSSL_SUPPRESS_DEPRECATED	/* SHA256_CTX: see struct audit_hasher */

#include "audit_chain.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "int_text.h"

void audit_hex(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

static bool create_key(const char *path, struct audit_key *key, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0) {
		snprintf(err, errlen, "cannot create key file %s: %s", path, strerror(errno));
		return false;
	}
	/* 256 random bits as 64 hex digits and a newline: the key is the text.
	 * Raw random bytes could end in '\n' or '\r', which reading the file
	 * back drops — the writer and the verifier would then use two keys. */
	uint8_t random[32];
	char text[2 * sizeof(random) + 2];
	if (RAND_bytes(random, sizeof(random)) != 1) {
		snprintf(err, errlen, "cannot make a random key");
		close(fd);
		unlink(path);
		return false;
	}
	audit_hex(random, sizeof(random), text);
	OPENSSL_cleanse(random, sizeof(random));
	key->len = 2 * sizeof(random);
	memcpy(key->bytes, text, key->len);
	text[key->len] = '\n';
	if (write(fd, text, key->len + 1) != (ssize_t)key->len + 1 || fsync(fd) != 0) {
		OPENSSL_cleanse(text, sizeof(text));
		snprintf(err, errlen, "cannot write key file %s", path);
		close(fd);
		unlink(path);
		return false;
	}
	OPENSSL_cleanse(text, sizeof(text));
	close(fd);
	return true;
}

bool audit_key_load(const char *path, bool create, struct audit_key *key, char *err, size_t errlen)
{
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT && create)
		return create_key(path, key, err, errlen);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open key file %s: %s", path, strerror(errno));
		return false;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "key file %s is not a regular file", path);
		close(fd);
		return false;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen, "key file %s has group or world access; permissions should be u=rw (0600) or less",
			 path);
		close(fd);
		return false;
	}
	n = read(fd, key->bytes, sizeof(key->bytes));
	close(fd);
	while (n > 0 && (key->bytes[n - 1] == '\n' || key->bytes[n - 1] == '\r'))
		n--;
	if (n < AUDIT_KEY_MIN) {
		snprintf(err, errlen, "key file %s: key must have at least %d bytes", path, AUDIT_KEY_MIN);
		return false;
	}
	key->len = (size_t)n;
	return true;
}

/*
 * HMAC-SHA256 (RFC 2104) over OpenSSL's SHA-256: the states after the
 * padded key's inner and outer blocks are computed once, and each record
 * starts from copies of them.  EVP_MAC gave the same answers with about
 * 4,000 instructions per record of dispatch, buffering and cleansing around
 * the hashing itself, on the writer thread that shares the CPUs with
 * PostgreSQL (doc/performance.md).  The known-answer tests
 * (test/unit/test_audit_chain.c) hold it to Python's hmac.
 */
struct audit_hasher {
	SHA256_CTX inner;		/* after SHA-256 of key ^ ipad */
	SHA256_CTX outer;		/* after SHA-256 of key ^ opad */
};

struct audit_hasher *audit_hasher_new(const struct audit_key *key)
{
	struct audit_hasher *h = calloc(1, sizeof(*h));
	uint8_t block[SHA256_CBLOCK] = { 0 }, ipad[SHA256_CBLOCK], opad[SHA256_CBLOCK];

	if (!h)
		return NULL;
	if (key->len > sizeof(block))
		SHA256(key->bytes, key->len, block);	/* a long key is hashed first */
	else
		memcpy(block, key->bytes, key->len);
	for (size_t i = 0; i < sizeof(block); i++) {
		ipad[i] = block[i] ^ 0x36;
		opad[i] = block[i] ^ 0x5c;
	}
	SHA256_Init(&h->inner);
	SHA256_Update(&h->inner, ipad, sizeof(ipad));
	SHA256_Init(&h->outer);
	SHA256_Update(&h->outer, opad, sizeof(opad));
	OPENSSL_cleanse(block, sizeof(block));
	OPENSSL_cleanse(ipad, sizeof(ipad));
	OPENSSL_cleanse(opad, sizeof(opad));
	return h;
}

void audit_hasher_free(struct audit_hasher *h)
{
	if (!h)
		return;
	OPENSSL_cleanse(h, sizeof(*h));
	free(h);
}

static bool hmac_parts(struct audit_hasher *h, const char *const *parts, int nparts,
		       char out[AUDIT_HASH_HEX_LEN + 1])
{
	uint8_t mac[SHA256_DIGEST_LENGTH];
	SHA256_CTX ctx;

	if (!h)
		return false;
	ctx = h->inner;
	for (int i = 0; i < nparts; i++)
		SHA256_Update(&ctx, parts[i], strlen(parts[i]));
	SHA256_Final(mac, &ctx);
	ctx = h->outer;
	SHA256_Update(&ctx, mac, sizeof(mac));
	SHA256_Final(mac, &ctx);
	audit_hex(mac, sizeof(mac), out);
	return true;
}

bool audit_chain_genesis(struct audit_hasher *h, char out[AUDIT_HASH_HEX_LEN + 1])
{
	const char *parts[] = { "pgwarden-audit genesis" };

	return hmac_parts(h, parts, 1, out);
}

bool audit_chain_hash(struct audit_hasher *h, const char *prev_hash, int64_t seq, const char *kind,
		      int64_t at_us, const char *record, char out[AUDIT_HASH_HEX_LEN + 1])
{
	char seq_buf[INT_TEXT_SIZE], at_buf[INT_TEXT_SIZE];
	const char *parts[] = { prev_hash, "|", int_text(seq_buf, seq), "|", kind, "|", int_text(at_buf, at_us), "|",
				record };

	return hmac_parts(h, parts, (int)(sizeof(parts) / sizeof(parts[0])), out);
}

const char audit_schema_sql[] =
	"CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);\n"
	"CREATE TABLE IF NOT EXISTS events (\n"
	"  seq INTEGER PRIMARY KEY,\n"
	"  kind TEXT NOT NULL,\n"
	"  at_us INTEGER NOT NULL,\n"
	"  record TEXT NOT NULL,\n"
	"  prev_hash TEXT NOT NULL,\n"
	"  hash TEXT NOT NULL\n"
	");\n"
	"CREATE VIEW IF NOT EXISTS sessions AS\n"
	"  SELECT json_extract(s.record, '$.session') AS id,\n"
	"         s.at_us AS start_us,\n"
	"         e.at_us AS end_us,\n"
	"         json_extract(s.record, '$.client_addr') AS client_addr,\n"
	"         json_extract(s.record, '$.client_port') AS client_port,\n"
	"         json_extract(s.record, '$.application_name') AS application_name,\n"
	"         json_extract(s.record, '$.database') AS database,\n"
	"         json_extract(s.record, '$.user') AS pooler_user,\n"
	"         json_extract(s.record, '$.server_user') AS server_user,\n"
	"         json_extract(s.record, '$.server_database') AS server_database,\n"
	"         json_extract(s.record, '$.identity.subject') AS subject,\n"
	"         json_extract(s.record, '$.identity.issuer') AS issuer,\n"
	"         json_extract(s.record, '$.identity.groups') AS groups,\n"
	"         json_extract(s.record, '$.identity.jti') AS token_id,\n"
	"         json_extract(s.record, '$.identity.expires_at') AS token_expires_at,\n"
	"         json_extract(e.record, '$.reason') AS end_reason,\n"
	"         json_extract(s.record, '$.run') AS run\n"
	"  FROM events s LEFT JOIN events e\n"
	"    ON e.kind = 'session_end' AND json_extract(e.record, '$.run') = json_extract(s.record, '$.run')\n"
	"   AND json_extract(e.record, '$.session') = json_extract(s.record, '$.session')\n"
	"  WHERE s.kind = 'session_start';\n"
	"CREATE VIEW IF NOT EXISTS statements AS\n"
	"  SELECT seq AS id,\n"
	"         json_extract(record, '$.session') AS session_id,\n"
	"         json_extract(record, '$.run') AS run,\n"
	"         json_extract(record, '$.start_us') AS start_us,\n"
	"         json_extract(record, '$.duration_us') AS duration_us,\n"
	"         json_extract(record, '$.sql') AS sql,\n"
	"         json_extract(record, '$.original_sql') AS original_sql,\n"
	"         json_extract(record, '$.fingerprint') AS fingerprint,\n"
	"         json_extract(record, '$.normalized') AS normalized,\n"
	"         json_extract(record, '$.kind') AS kind,\n"
	"         json_extract(record, '$.statement_name') AS statement_name,\n"
	"         json_extract(record, '$.params') AS params,\n"
	"         json_extract(record, '$.command_tag') AS command_tag,\n"
	"         json_extract(record, '$.rows_returned') AS rows_returned,\n"
	"         json_extract(record, '$.rows_affected') AS rows_affected,\n"
	"         json_extract(record, '$.bytes_returned') AS bytes_returned,\n"
	"         json_extract(record, '$.columns') AS columns,\n"
	"         json_extract(record, '$.masked_columns') AS masked_columns,\n"
	"         json_extract(record, '$.result_sha256') AS result_sha256,\n"
	"         json_extract(record, '$.result_sample') AS result_sample,\n"
	"         json_extract(record, '$.sqlstate') AS sqlstate,\n"
	"         json_extract(record, '$.error') AS error,\n"
	"         json_extract(record, '$.decision') AS decision,\n"
	"         json_extract(record, '$.decided_by') AS decided_by,\n"
	"         json_extract(record, '$.decision_note') AS decision_note\n"
	"  FROM events WHERE kind = 'statement';\n";
