/*
 * SCRAM-SHA-256 and MD5 tests.  The SCRAM vectors are RFC 7677 section 3;
 * the derived secret/keys and the MD5 answers were computed independently
 * (Python hashlib, md5sum) and are hardcoded here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "scram.h"

/* RFC 7677 section 3 */
#define RFC_CLIENT_NONCE "rOprNGfwEbeRWgbNEkqO"
#define RFC_CLIENT_FIRST "n,,n=user,r=" RFC_CLIENT_NONCE
#define RFC_SERVER_NONCE RFC_CLIENT_NONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_SERVER_FIRST "r=" RFC_SERVER_NONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define RFC_CLIENT_FINAL "c=biws,r=" RFC_SERVER_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

/* pg_authid form of the RFC password "pencil" with the RFC salt. */
#define RFC_SECRET "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$" \
	"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:" \
	"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
#define RFC_CLIENT_KEY "pg/JI9Z+hkSpLRa5btpe9GVrDHJcSEN0viVTVXaZbos="
#define RFC_SERVER_KEY "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="

static void decode_key(const char *b64, uint8_t key[SCRAM_KEY_LEN])
{
	assert_int_equal(b64_decode(b64, strlen(b64), key, SCRAM_KEY_LEN), SCRAM_KEY_LEN);
}

static void server_init(struct scram_server *st, const char *secret)
{
	memset(st, 0, sizeof(*st));
	assert_true(scram_parse_secret(secret, &st->secret));
}

static bool server_first(struct scram_server *st, const char *msg, const char **errmsg)
{
	char *reply = NULL;
	bool ok;

	*errmsg = NULL;
	ok = scram_server_handle_first(st, msg, strlen(msg), &reply, errmsg);
	assert_true(ok == (reply != NULL));
	assert_true(ok || *errmsg != NULL);
	free(reply);
	return ok;
}

/* A client whose first message carries a fixed nonce. */
static void client_init(struct scram_client *cl, const char *password, const char *nonce)
{
	char *first;

	memset(cl, 0, sizeof(*cl));
	if (password)
		cl->password = strdup(password);
	if (nonce)
		cl->client_nonce = strdup(nonce);
	first = scram_client_first(cl);
	assert_non_null(first);
	free(first);
}

/*
 * The RFC client sends n=user, ours sends an empty n= as libpq does, and the
 * user name is part of AuthMessage: put the RFC's bare message in place.
 */
static void client_use_rfc_first(struct scram_client *cl)
{
	free(cl->client_first_bare);
	cl->client_first_bare = strdup(RFC_CLIENT_FIRST + 3);
}

static void test_client_first_format(void **unused)
{
	struct scram_client cl;
	char *first;

	memset(&cl, 0, sizeof(cl));
	cl.password = strdup("pencil");
	first = scram_client_first(&cl);
	assert_non_null(first);
	assert_int_equal(strncmp(first, "n,,n=,r=", 8), 0);
	assert_int_equal(strlen(first + 8), 24);	/* 18 random bytes */
	assert_string_equal(first + 8, cl.client_nonce);
	free(first);
	scram_client_clear(&cl);

	client_init(&cl, "pencil", RFC_CLIENT_NONCE);
	assert_string_equal(cl.client_first_bare, "n=,r=" RFC_CLIENT_NONCE);
	scram_client_clear(&cl);
}

/* With cl set up (password or keys), the client must produce the RFC's
 * client-final and accept the RFC's server-final. */
static void expect_rfc_exchange(struct scram_client *cl)
{
	const char *errmsg = NULL;
	char *final;

	client_use_rfc_first(cl);
	final = scram_client_final(cl, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST), &errmsg);
	assert_non_null(final);
	assert_string_equal(final, RFC_CLIENT_FINAL);
	assert_true(scram_client_verify_final(cl, RFC_SERVER_FINAL, strlen(RFC_SERVER_FINAL), &errmsg));
	free(final);
	scram_client_clear(cl);
}

static void test_rfc7677_client(void **unused)
{
	struct scram_client cl;

	client_init(&cl, "pencil", RFC_CLIENT_NONCE);
	expect_rfc_exchange(&cl);
}

static void test_rfc7677_client_use_keys(void **unused)
{
	struct scram_client cl;

	client_init(&cl, NULL, RFC_CLIENT_NONCE);
	cl.use_keys = true;
	decode_key(RFC_CLIENT_KEY, cl.client_key);
	decode_key(RFC_SERVER_KEY, cl.server_key);
	expect_rfc_exchange(&cl);
}

/* The server side fed the RFC messages, with the RFC's server nonce put in. */
static void test_rfc7677_server(void **unused)
{
	struct scram_server st;
	const char *errmsg = NULL;
	char *final = NULL;
	uint8_t client_key[SCRAM_KEY_LEN];
	bool proof_ok = false;

	server_init(&st, RFC_SECRET);
	assert_true(server_first(&st, RFC_CLIENT_FIRST, &errmsg));
	assert_string_equal(st.client_first_bare, "n=user,r=" RFC_CLIENT_NONCE);
	assert_int_equal(strncmp(st.server_nonce, RFC_CLIENT_NONCE, strlen(RFC_CLIENT_NONCE)), 0);
	free(st.server_nonce);
	free(st.server_first);
	st.server_nonce = strdup(RFC_SERVER_NONCE);
	st.server_first = strdup(RFC_SERVER_FIRST);

	assert_true(scram_server_handle_final(&st, RFC_CLIENT_FINAL, strlen(RFC_CLIENT_FINAL),
					      &proof_ok, &final, &errmsg));
	assert_true(proof_ok);
	assert_string_equal(final, RFC_SERVER_FINAL);
	assert_true(st.have_client_key);
	decode_key(RFC_CLIENT_KEY, client_key);
	assert_memory_equal(st.client_key, client_key, SCRAM_KEY_LEN);
	free(final);
	scram_server_clear(&st);
}

/* Full exchange between our server and our client; returns proof_ok. */
static bool exchange(struct scram_server *st, struct scram_client *cl)
{
	const char *errmsg = NULL;
	char *cfirst, *sfirst = NULL, *cfinal, *sfinal = NULL;
	bool proof_ok = false;

	cfirst = scram_client_first(cl);
	assert_non_null(cfirst);
	assert_true(scram_server_handle_first(st, cfirst, strlen(cfirst), &sfirst, &errmsg));
	cfinal = scram_client_final(cl, sfirst, strlen(sfirst), &errmsg);
	assert_non_null(cfinal);
	assert_true(scram_server_handle_final(st, cfinal, strlen(cfinal), &proof_ok, &sfinal, &errmsg));
	if (proof_ok)
		assert_true(scram_client_verify_final(cl, sfinal, strlen(sfinal), &errmsg));
	else
		assert_null(sfinal);
	free(cfirst);
	free(sfirst);
	free(cfinal);
	free(sfinal);
	return proof_ok;
}

static void test_server_round_trip(void **unused)
{
	struct scram_server st;
	struct scram_client cl;
	uint8_t client_key[SCRAM_KEY_LEN];

	server_init(&st, RFC_SECRET);
	memset(&cl, 0, sizeof(cl));
	cl.password = strdup("pencil");
	assert_true(exchange(&st, &cl));
	assert_true(st.have_client_key);
	decode_key(RFC_CLIENT_KEY, client_key);
	assert_memory_equal(st.client_key, client_key, SCRAM_KEY_LEN);
	scram_client_clear(&cl);
	scram_server_clear(&st);
}

static void test_server_wrong_password(void **unused)
{
	struct scram_server st;
	struct scram_client cl;

	server_init(&st, RFC_SECRET);
	memset(&cl, 0, sizeof(cl));
	cl.password = strdup("pencil2");
	assert_false(exchange(&st, &cl));
	assert_false(st.have_client_key);
	scram_client_clear(&cl);
	scram_server_clear(&st);
}

static void test_server_y_flag(void **unused)
{
	struct scram_server st;
	const char *errmsg;
	char *final = NULL, *msg;
	bool proof_ok;

	/* "y,," must be answered with c=eSws, not c=biws. */
	server_init(&st, RFC_SECRET);
	assert_true(server_first(&st, "y,,n=,r=abc", &errmsg));
	msg = NULL;
	assert_true(asprintf(&msg, "c=biws,r=%s,p=" RFC_CLIENT_KEY, st.server_nonce) > 0);
	assert_false(scram_server_handle_final(&st, msg, strlen(msg), &proof_ok, &final, &errmsg));
	assert_string_equal(errmsg, "SCRAM channel binding check failed");
	free(msg);
	assert_true(asprintf(&msg, "c=eSws,r=%s,p=" RFC_CLIENT_KEY, st.server_nonce) > 0);
	assert_true(scram_server_handle_final(&st, msg, strlen(msg), &proof_ok, &final, &errmsg));
	assert_false(proof_ok);
	free(msg);
	scram_server_clear(&st);
}

/* Secrets made from a password log in with that password and no other. */
static void test_secret_from_password(void **unused)
{
	struct scram_secret secret, parsed;
	struct scram_server st;
	struct scram_client cl;
	char *text;

	assert_false(scram_secret_from_password("pw", 0, &secret));
	assert_true(scram_secret_from_password("s3cr3t", 4096, &secret));
	text = scram_secret_format(&secret);
	assert_int_equal(password_type_of(text), PASSWORD_SCRAM);
	assert_true(scram_parse_secret(text, &parsed));
	assert_int_equal(parsed.iterations, 4096);
	assert_string_equal(parsed.salt_b64, secret.salt_b64);
	assert_int_equal(strlen(parsed.salt_b64), 24);	/* 16 bytes */
	assert_memory_equal(parsed.stored_key, secret.stored_key, SCRAM_KEY_LEN);
	assert_memory_equal(parsed.server_key, secret.server_key, SCRAM_KEY_LEN);
	scram_secret_clear(&parsed);

	for (int i = 0; i < 2; i++) {
		server_init(&st, text);
		memset(&cl, 0, sizeof(cl));
		cl.password = strdup(i == 0 ? "s3cr3t" : "S3cr3t");
		assert_true(exchange(&st, &cl) == (i == 0));
		scram_client_clear(&cl);
		scram_server_clear(&st);
	}
	free(text);
	scram_secret_clear(&secret);
}

/* The RFC client with the RFC's keys in cache, one bit spoiled: the proof
 * differs from the RFC's, so client-final took the cached keys as they are. */
static void expect_cached_keys_taken(struct scram_keys_cache *cache)
{
	const char *errmsg = NULL;
	struct scram_client cl;
	char *final;

	cache->client_key[0] ^= 1;
	client_init(&cl, "pencil", RFC_CLIENT_NONCE);
	cl.keys_cache = cache;
	client_use_rfc_first(&cl);
	final = scram_client_final(&cl, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST), &errmsg);
	assert_non_null(final);
	assert_string_not_equal(final, RFC_CLIENT_FINAL);
	free(final);
	scram_client_clear(&cl);
}

/* The RFC client through a keys cache: filled by the first exchange, and
 * what a second exchange with the same salt and password takes. */
static void test_client_keys_cache(void **unused)
{
	struct scram_keys_cache cache = { 0 };
	uint8_t rfc_client_key[SCRAM_KEY_LEN];
	struct scram_client cl;

	decode_key(RFC_CLIENT_KEY, rfc_client_key);
	client_init(&cl, "pencil", RFC_CLIENT_NONCE);
	cl.keys_cache = &cache;
	expect_rfc_exchange(&cl);
	assert_true(cache.valid);
	assert_memory_equal(cache.client_key, rfc_client_key, SCRAM_KEY_LEN);

	/* A hit is taken as it is. */
	expect_cached_keys_taken(&cache);

	/* Another password misses and replaces the entry. */
	const char *errmsg = NULL;
	char *final;
	client_init(&cl, "pencil2", RFC_CLIENT_NONCE);
	cl.keys_cache = &cache;
	client_use_rfc_first(&cl);
	final = scram_client_final(&cl, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST), &errmsg);
	assert_non_null(final);
	assert_false(memcmp(cache.client_key, rfc_client_key, SCRAM_KEY_LEN) == 0);
	free(final);
	scram_client_clear(&cl);

	/* ... and the RFC password gives the RFC exchange again. */
	client_init(&cl, "pencil", RFC_CLIENT_NONCE);
	cl.keys_cache = &cache;
	expect_rfc_exchange(&cl);
	scram_keys_cache_clear(&cache);
	assert_false(cache.valid);
}

/* The keys job: derived elsewhere, stored in the cache, taken by client-final
 * (RFC vectors); none when keys are cached, come from the client, or the
 * server-first is bad. */
static void test_client_keys_job(void **unused)
{
	struct scram_keys_cache cache = { 0 };
	uint8_t rfc_client_key[SCRAM_KEY_LEN];
	struct scram_keys_job *job;
	struct scram_client cl;

	decode_key(RFC_CLIENT_KEY, rfc_client_key);
	client_init(&cl, "pencil", RFC_CLIENT_NONCE);
	client_use_rfc_first(&cl);
	assert_null(scram_client_keys_job(&cl, &cache, "r=bad", 5));
	job = scram_client_keys_job(&cl, &cache, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST));
	assert_non_null(job);
	assert_int_equal(job->iterations, 4096);
	scram_keys_job_run(job);
	assert_true(job->ok);
	assert_memory_equal(job->client_key, rfc_client_key, SCRAM_KEY_LEN);
	scram_keys_job_store(job, &cache);
	scram_keys_job_free(job);
	assert_true(cache.valid);
	assert_null(scram_client_keys_job(&cl, &cache, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST)));
	scram_client_clear(&cl);

	/* client-final takes the stored keys: spoiled, the proof changes */
	client_init(&cl, "pencil", RFC_CLIENT_NONCE);
	cl.keys_cache = &cache;
	expect_rfc_exchange(&cl);
	expect_cached_keys_taken(&cache);

	/* keys from the client: nothing to derive */
	client_init(&cl, NULL, RFC_CLIENT_NONCE);
	cl.use_keys = true;
	client_use_rfc_first(&cl);
	assert_null(scram_client_keys_job(&cl, NULL, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST)));
	scram_client_clear(&cl);
	scram_keys_cache_clear(&cache);
}

/*
 * The keys job for a secret built from a plain password (a client's first
 * SCRAM login): run and stored, it gives the secret an inline build gives,
 * and the builder takes its keys from the cache (spoiled, the secret
 * changes); once stored, there is no job for the same inputs.
 */
static void test_secret_keys_job(void **unused)
{
	const uint8_t salt[SCRAM_SALT_LEN] = { 9, 8, 7 };
	struct scram_keys_cache cache = { 0 };
	struct scram_secret inline_built, from_cache;
	struct scram_keys_job *job;

	assert_true(scram_secret_from_password_salt("s3cr3t", salt, sizeof(salt), 4096, NULL, &inline_built));
	job = scram_keys_job_new("s3cr3t", salt, sizeof(salt), 4096, &cache);
	assert_non_null(job);
	scram_keys_job_run(job);
	assert_true(job->ok);
	scram_keys_job_store(job, &cache);
	scram_keys_job_free(job);
	assert_null(scram_keys_job_new("s3cr3t", salt, sizeof(salt), 4096, &cache));
	assert_non_null(job = scram_keys_job_new("s3cr3t", salt, sizeof(salt), 4097, &cache));
	scram_keys_job_free(job);

	assert_true(scram_secret_from_password_salt("s3cr3t", salt, sizeof(salt), 4096, &cache, &from_cache));
	assert_memory_equal(from_cache.stored_key, inline_built.stored_key, SCRAM_KEY_LEN);
	assert_memory_equal(from_cache.server_key, inline_built.server_key, SCRAM_KEY_LEN);
	scram_secret_clear(&from_cache);
	cache.server_key[0] ^= 1;
	assert_true(scram_secret_from_password_salt("s3cr3t", salt, sizeof(salt), 4096, &cache, &from_cache));
	assert_memory_not_equal(from_cache.server_key, inline_built.server_key, SCRAM_KEY_LEN);
	scram_secret_clear(&from_cache);
	scram_secret_clear(&inline_built);
	scram_keys_cache_clear(&cache);
}

/*
 * Per-user salts: the same name gives the same salt, another name or another
 * nonce a different one; a secret made with one logs in with its password
 * only, and a mock secret with none.
 */
static void test_user_salt_and_mock_secret(void **unused)
{
	uint8_t nonce[SCRAM_KEY_LEN] = { 1, 2, 3 }, salt[SCRAM_SALT_LEN], again[SCRAM_SALT_LEN];
	struct scram_keys_cache cache = { 0 };
	struct scram_secret secret, cached;
	char *text;

	assert_true(scram_user_salt("alice", nonce, salt));
	assert_true(scram_user_salt("alice", nonce, again));
	assert_memory_equal(salt, again, SCRAM_SALT_LEN);
	assert_true(scram_user_salt("alicf", nonce, again));
	assert_memory_not_equal(salt, again, SCRAM_SALT_LEN);
	nonce[0] = 9;
	assert_true(scram_user_salt("alice", nonce, again));
	assert_memory_not_equal(salt, again, SCRAM_SALT_LEN);

	assert_true(scram_secret_from_password_salt("s3cr3t", salt, sizeof(salt), 4096, &cache, &secret));
	assert_true(cache.valid);
	assert_true(scram_secret_from_password_salt("s3cr3t", salt, sizeof(salt), 4096, &cache, &cached));
	assert_string_equal(secret.salt_b64, cached.salt_b64);
	assert_memory_equal(secret.stored_key, cached.stored_key, SCRAM_KEY_LEN);
	assert_memory_equal(secret.server_key, cached.server_key, SCRAM_KEY_LEN);
	assert_true(scram_verify_plain_password(&cached, "s3cr3t", NULL));
	assert_false(scram_verify_plain_password(&cached, "s3cr3T", NULL));
	text = scram_secret_format(&secret);
	assert_int_equal(strncmp(text, "SCRAM-SHA-256$4096:", 19), 0);
	free(text);
	scram_secret_clear(&cached);

	assert_true(scram_mock_secret(salt, sizeof(salt), 4096, &cached));
	assert_string_equal(cached.salt_b64, secret.salt_b64);
	assert_int_equal(cached.iterations, 4096);
	assert_false(scram_verify_plain_password(&cached, "s3cr3t", NULL));
	assert_false(scram_verify_plain_password(&cached, "", NULL));
	scram_secret_clear(&cached);
	assert_false(scram_mock_secret(salt, sizeof(salt), 0, &cached));
	scram_secret_clear(&secret);
}

static void test_format_rfc_secret(void **unused)
{
	struct scram_secret s;
	char *text;

	assert_true(scram_parse_secret(RFC_SECRET, &s));
	text = scram_secret_format(&s);
	assert_string_equal(text, RFC_SECRET);
	free(text);
	scram_secret_clear(&s);
	assert_null(s.salt_b64);
}

/*
 * Log in to a "PostgreSQL" with the ClientKey a client proved to us: the
 * proof must be the one the password would give.
 */
static void test_use_keys_matches_password(void **unused)
{
	struct scram_server front, back;
	struct scram_client by_password, by_keys;
	const char *errmsg = NULL;
	char *sfirst = NULL, *final_pw, *final_keys;

	server_init(&front, RFC_SECRET);
	memset(&by_password, 0, sizeof(by_password));
	by_password.password = strdup("pencil");
	assert_true(exchange(&front, &by_password));
	scram_client_clear(&by_password);

	server_init(&back, RFC_SECRET);
	assert_true(server_first(&back, "n,,n=,r=fixednonce", &errmsg));
	sfirst = strdup(back.server_first);

	client_init(&by_password, "pencil", "fixednonce");
	client_init(&by_keys, NULL, "fixednonce");
	by_keys.use_keys = true;
	memcpy(by_keys.client_key, front.client_key, SCRAM_KEY_LEN);
	memcpy(by_keys.server_key, front.secret.server_key, SCRAM_KEY_LEN);

	final_pw = scram_client_final(&by_password, sfirst, strlen(sfirst), &errmsg);
	final_keys = scram_client_final(&by_keys, sfirst, strlen(sfirst), &errmsg);
	assert_non_null(final_pw);
	assert_non_null(final_keys);
	assert_string_equal(final_pw, final_keys);
	assert_memory_equal(by_password.expected_server_signature,
			    by_keys.expected_server_signature, SCRAM_KEY_LEN);

	free(sfirst);
	free(final_pw);
	free(final_keys);
	scram_client_clear(&by_password);
	scram_client_clear(&by_keys);
	scram_server_clear(&front);
	scram_server_clear(&back);
}

static void test_server_bad_first(void **unused)
{
	static const char *const bad[] = {
		"", "n", "n,", "n,,", "n,,n=user", "n,,n=user,r=", "n,,n=user,r",
		"x,,n=,r=abc", "n,x,n=,r=abc", "n,,r=abc", "n,,n=,x=abc",
		"n,,n=,r=abc,", "n,,n=,r=abc,=x", "n,,n=,r=abc,1=x", "n,,n=,r=a b",
		"n,,n=,r=a\x01" "b", "nn,,n=,r=abc", ",,n=,r=abc",
	};
	struct scram_server st;
	const char *errmsg;
	char *reply;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		server_init(&st, RFC_SECRET);
		assert_false(server_first(&st, bad[i], &errmsg));
		assert_null(st.server_first);
		scram_server_clear(&st);
	}

	server_init(&st, RFC_SECRET);
	assert_false(server_first(&st, "p=tls-server-end-point,,n=,r=abc", &errmsg));
	assert_string_equal(errmsg, "channel binding not supported");
	assert_false(server_first(&st, "n,a=bob,n=,r=abc", &errmsg));
	assert_string_equal(errmsg, "client uses authorization identity, but it is not supported");
	assert_false(server_first(&st, "n,,m=ext,n=,r=abc", &errmsg));
	assert_string_equal(errmsg, "client requires an unsupported SCRAM extension");

	/* Length-delimited: a valid message cut short, and one with a NUL. */
	reply = NULL;
	assert_false(scram_server_handle_first(&st, "n,,n=,r=abc", 7, &reply, &errmsg));
	assert_false(scram_server_handle_first(&st, "n,,n=,r=a\0bc", 12, &reply, &errmsg));
	assert_false(scram_server_handle_first(&st, NULL, 0, &reply, &errmsg));
	assert_null(reply);

	/* Unknown extensions after the nonce are skipped, as by PostgreSQL. */
	assert_true(server_first(&st, "n,,n=ignored,r=abc,x=ext", &errmsg));
	assert_string_equal(st.client_nonce, "abc");
	assert_false(server_first(&st, "n,,n=,r=abc", &errmsg));	/* twice */
	scram_server_clear(&st);

	/* No secret to authenticate against. */
	memset(&st, 0, sizeof(st));
	assert_false(server_first(&st, "n,,n=,r=abc", &errmsg));
}

/* tmpl with each "%s" replaced by nonce (not a format: -Wformat=2). */
static char *with_nonce(const char *tmpl, const char *nonce)
{
	char *out = malloc(strlen(tmpl) * (strlen(nonce) + 1) + 1), *o = out;

	while (*tmpl) {
		if (strncmp(tmpl, "%s", 2) == 0) {
			o = stpcpy(o, nonce);
			tmpl += 2;
		} else {
			*o++ = *tmpl++;
		}
	}
	*o = '\0';
	return out;
}

static void test_server_bad_final(void **unused)
{
	static const char *const bad[] = {
		"", "c=biws", "c=biws,r=%s", "c=biws,r=%s,", "c=biws,r=%sX,p=" RFC_CLIENT_KEY,
		"c=eSws,r=%s,p=" RFC_CLIENT_KEY, "c=,r=%s,p=" RFC_CLIENT_KEY,
		"r=%s,c=biws,p=" RFC_CLIENT_KEY, "c=biws,r=%s,p=!!!!",
		"c=biws,r=%s,p=QUJD", "c=biws,r=%s,p=" RFC_CLIENT_KEY ",x=1",
		"c=biws,r=%s,p=" RFC_CLIENT_KEY "=", "c=biws,r=%s,p=",
		"c=biws,r=%s,x=1",
	};
	struct scram_server st;
	const char *errmsg;
	char *msg, *final;
	bool proof_ok;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		server_init(&st, RFC_SECRET);
		assert_true(server_first(&st, "n,,n=,r=abc", &errmsg));
		msg = with_nonce(bad[i], st.server_nonce);
		final = NULL;
		errmsg = NULL;
		proof_ok = true;
		assert_false(scram_server_handle_final(&st, msg, strlen(msg), &proof_ok, &final, &errmsg));
		assert_non_null(errmsg);
		assert_false(proof_ok);
		assert_null(final);
		free(msg);
		scram_server_clear(&st);
	}

	/* Final before first. */
	server_init(&st, RFC_SECRET);
	assert_false(scram_server_handle_final(&st, "c=biws", 6, &proof_ok, &final, &errmsg));
	scram_server_clear(&st);
}

static void test_client_bad_server_first(void **unused)
{
	static const char *const bad[] = {
		"", "r=abc,s=QQ==,i=4096", "r=abd1,s=QQ==,i=4096", "r=abc1", "r=abc1,s=QQ==",
		"r=abc1,s=!!!!,i=4096", "r=abc1,s=QQ=,i=4096", "r=abc1,s=QQ==,i=0",
		"r=abc1,s=QQ==,i=-1", "r=abc1,s=QQ==,i=99999999999", "r=abc1,s=QQ==,i=2000000000",
		"r=abc1,s=QQ==,i=40x", "r=abc1,s=QQ==,i=", "r=abc1,s=QQ==,i=4096,x=1",
		"r=abc1,s=QQ==,i=4096,", "m=ext,r=abc1,s=QQ==,i=4096", "s=QQ==,r=abc1,i=4096",
	};
	struct scram_client cl;
	const char *errmsg;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		client_init(&cl, "pencil", "abc");
		errmsg = NULL;
		assert_null(scram_client_final(&cl, bad[i], strlen(bad[i]), &errmsg));
		assert_non_null(errmsg);
		scram_client_clear(&cl);
	}

	/* Truncated by length: the "i=4096" is not part of the message. */
	client_init(&cl, "pencil", "abc");
	assert_null(scram_client_final(&cl, "r=abc1,s=QQ==,i=4096", 13, &errmsg));
	scram_client_clear(&cl);

	/* Out of order: no client-first yet. */
	memset(&cl, 0, sizeof(cl));
	assert_null(scram_client_final(&cl, "r=abc1,s=QQ==,i=1", 17, &errmsg));
}

static void test_client_bad_server_final(void **unused)
{
	static const char *const bad[] = {
		"", "v=", "v=!!!!", "v=QUJD", RFC_SERVER_FINAL ",x=1", "x=1",
		"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	};
	struct scram_client cl;
	const char *errmsg;
	char *final;

	for (size_t i = 0; i <= ARRAY_SIZE(bad); i++) {
		client_init(&cl, "pencil", RFC_CLIENT_NONCE);
		client_use_rfc_first(&cl);
		final = scram_client_final(&cl, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST), &errmsg);
		assert_non_null(final);
		free(final);
		errmsg = NULL;
		if (i < ARRAY_SIZE(bad)) {
			assert_false(scram_client_verify_final(&cl, bad[i], strlen(bad[i]), &errmsg));
			assert_non_null(errmsg);
		} else {
			assert_false(scram_client_verify_final(&cl, "e=invalid-proof\n", 16, &errmsg));
			assert_string_equal(errmsg, "error received from server in SCRAM exchange: invalid-proof?");
		}
		scram_client_clear(&cl);
	}
}

static void test_md5(void **unused)
{
	static const uint8_t salt1[4] = { 1, 2, 3, 4 };
	static const uint8_t salt2[4] = { 0xde, 0xad, 0xbe, 0xef };
	char out[MD5_PASSWD_LEN + 1];

	/* printf '%s' secretpostgres | md5sum */
	md5_password_hash("secret", "postgres", out);
	assert_string_equal(out, "md553f48b7c4b76a86ce72276c5755f217d");

	/* printf '%s\x01\x02\x03\x04' 53f48b7c4b76a86ce72276c5755f217d | md5sum */
	md5_challenge_response("secret", "postgres", salt1, out);
	assert_string_equal(out, "md5bb41a296aab6baccb36ff243a562abff");
	md5_challenge_response("md553f48b7c4b76a86ce72276c5755f217d", "ignored", salt1, out);
	assert_string_equal(out, "md5bb41a296aab6baccb36ff243a562abff");
	md5_challenge_response("md553f48b7c4b76a86ce72276c5755f217d", "postgres", salt2, out);
	assert_string_equal(out, "md5c546d0bbed2af888b328536b45c76348");
}

static void test_password_type_of(void **unused)
{
	assert_int_equal(password_type_of("md553f48b7c4b76a86ce72276c5755f217d"), PASSWORD_MD5);
	assert_int_equal(password_type_of("md553F48B7C4B76A86CE72276C5755F217D"), PASSWORD_PLAIN);
	assert_int_equal(password_type_of("md553f48b7c4b76a86ce72276c5755f217"), PASSWORD_PLAIN);
	assert_int_equal(password_type_of("md553f48b7c4b76a86ce72276c5755f217dd"), PASSWORD_PLAIN);
	assert_int_equal(password_type_of("md5"), PASSWORD_PLAIN);
	assert_int_equal(password_type_of(RFC_SECRET), PASSWORD_SCRAM);
	assert_int_equal(password_type_of("SCRAM-SHA-256$"), PASSWORD_PLAIN);
	assert_int_equal(password_type_of("SCRAM-SHA-256$4096:salt$bad:bad"), PASSWORD_PLAIN);
	assert_int_equal(password_type_of("SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==$"
					  "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
					  "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="), PASSWORD_PLAIN);
	assert_int_equal(password_type_of(RFC_SECRET "x"), PASSWORD_PLAIN);
	assert_int_equal(password_type_of("scram-sha-256$4096:x$y:z"), PASSWORD_PLAIN);
	assert_int_equal(password_type_of("pencil"), PASSWORD_PLAIN);
	assert_int_equal(password_type_of(""), PASSWORD_PLAIN);
	assert_int_equal(password_type_of(NULL), PASSWORD_PLAIN);
}

static void test_base64(void **unused)
{
	static const struct { const char *raw, *b64; } vec[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	static const char *const invalid[] = {
		"Zg=", "Z===", "====", "Zg==Zg==", " Zg=", "Zg=\n", "Zm9v\n", "Zm 9",
		"Zm9v====", "Zm-v", "Zm9_",
	};
	uint8_t data[64], back[64];
	char *enc;

	for (size_t i = 0; i < ARRAY_SIZE(vec); i++) {
		enc = b64_encode((const uint8_t *)vec[i].raw, strlen(vec[i].raw));
		assert_string_equal(enc, vec[i].b64);
		free(enc);
		assert_int_equal(b64_decode(vec[i].b64, strlen(vec[i].b64), back, sizeof(back)),
				 strlen(vec[i].raw));
		assert_memory_equal(back, vec[i].raw, strlen(vec[i].raw));
	}
	for (size_t i = 0; i < ARRAY_SIZE(invalid); i++)
		assert_int_equal(b64_decode(invalid[i], strlen(invalid[i]), back, sizeof(back)), -1);

	/* Every length, including ones needing both kinds of padding. */
	for (size_t len = 0; len <= sizeof(data); len++) {
		for (size_t i = 0; i < len; i++)
			data[i] = (uint8_t)(i * 37 + len);
		enc = b64_encode(data, len);
		assert_int_equal(b64_decode(enc, strlen(enc), back, len), len);
		assert_memory_equal(back, data, len);
		if (len > 0)	/* one byte short of room */
			assert_int_equal(b64_decode(enc, strlen(enc), back, len - 1), -1);
		free(enc);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_first_format),
		cmocka_unit_test(test_rfc7677_client),
		cmocka_unit_test(test_rfc7677_client_use_keys),
		cmocka_unit_test(test_rfc7677_server),
		cmocka_unit_test(test_server_round_trip),
		cmocka_unit_test(test_server_wrong_password),
		cmocka_unit_test(test_server_y_flag),
		cmocka_unit_test(test_secret_from_password),
		cmocka_unit_test(test_client_keys_cache),
		cmocka_unit_test(test_client_keys_job),
		cmocka_unit_test(test_secret_keys_job),
		cmocka_unit_test(test_user_salt_and_mock_secret),
		cmocka_unit_test(test_format_rfc_secret),
		cmocka_unit_test(test_use_keys_matches_password),
		cmocka_unit_test(test_server_bad_first),
		cmocka_unit_test(test_server_bad_final),
		cmocka_unit_test(test_client_bad_server_first),
		cmocka_unit_test(test_client_bad_server_final),
		cmocka_unit_test(test_md5),
		cmocka_unit_test(test_password_type_of),
		cmocka_unit_test(test_base64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
