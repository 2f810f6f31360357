/*
 * libFuzzer harness for SCRAM-SHA-256 message parsing (src/scram.c), both
 * sides, with the RFC 7677 secret (password "pencil").
 *
 * The input is up to five messages, one per line:
 *   1. client-first-message  -> scram_server_handle_first()
 *   2. client-final-message  -> scram_server_handle_final()
 *   3. server-final-message  -> scram_client_verify_final() of the genuine
 *                               client of exchange 1-2
 *   4. server-first-message  -> scram_client_final() of a client that sent
 *                               "n,,n=,r=" RFC_CLIENT_NONCE
 *   5. server-final-message  -> scram_client_verify_final() of that client
 * The nonces and proofs are random per run, so in messages 2, 3 and 4 these
 * placeholders stand for the real values: %N the server's nonce, %P the
 * proof of the genuine client (which knows the keys), %V the server's
 * signature, %C the client nonce of message 4.
 *
 * Checked, besides no crash and no leak: a refusal is false/NULL with an
 * error message; the server's first message is one our client accepts;
 * the server authenticates (proof_ok) exactly when it got the genuine
 * client's final message, and then has learnt the RFC ClientKey; a client
 * accepts server-final exactly when it is the server's genuine one, and
 * never for a server-first it did not get from the server holding the
 * secret; a client with the password accepts the same server-first as one
 * with the keys (for small iteration counts), and so does one whose keys
 * were derived by a job (scram_client_keys_job) and cached; calls out of
 * order are refused.  Also scram_parse_secret() on
 * message 1: a parsed secret formats to one that parses the same.
 */
/* fuzz-build: src/scram.c src/util.c src/log.c -- -lcrypto */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "scram.h"
#include "fuzz_check.h"

/* RFC 7677 section 3, as in test/unit/test_scram.c */
#define RFC_CLIENT_NONCE "rOprNGfwEbeRWgbNEkqO"
#define RFC_SECRET "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$" \
	"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:" \
	"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
#define RFC_CLIENT_KEY "pg/JI9Z+hkSpLRa5btpe9GVrDHJcSEN0viVTVXaZbos="
#define RFC_SERVER_KEY "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="

#define N_MSGS 5
#define MAX_SUBSTITUTIONS 4	/* per message; keeps the expansion small */

static uint8_t client_key[SCRAM_KEY_LEN], server_key[SCRAM_KEY_LEN];

struct msg {
	char *data;	/* not NUL-terminated for the code under test: len counts */
	size_t len;
};

/* A copy of src[0..len) with each placeholder ("%X") replaced by its value. */
static struct msg substitute(const char *src, size_t len, const char *const *from, const char *const *to,
			     size_t n)
{
	size_t cap = len + 1, used = 0, done = 0;
	struct msg m;

	for (size_t i = 0; i < n; i++)
		cap += MAX_SUBSTITUTIONS * strlen(to[i]);
	m.data = malloc(cap);
	for (size_t i = 0; i < len;) {
		size_t k = n;

		for (size_t j = 0; done < MAX_SUBSTITUTIONS && j < n; j++) {
			if (i + 1 < len && memcmp(src + i, from[j], 2) == 0)
				k = j;
		}
		if (k < n) {
			memcpy(m.data + used, to[k], strlen(to[k]));
			used += strlen(to[k]);
			i += 2;
			done++;
		} else {
			m.data[used++] = src[i++];
		}
	}
	m.len = used;
	/* an exact-size buffer, so ASan sees any read past the message */
	m.data = realloc(m.data, used ? used : 1);
	return m;
}

static struct msg plain(const char *src, size_t len)
{
	return substitute(src, len, NULL, NULL, 0);
}

static bool msg_equals(struct msg m, const char *s)
{
	return m.len == strlen(s) && memcmp(m.data, s, m.len) == 0;
}

static void decode_key(const char *b64, uint8_t key[SCRAM_KEY_LEN])
{
	CHECK(b64_decode(b64, strlen(b64), key, SCRAM_KEY_LEN) == SCRAM_KEY_LEN);
}

/* A client that knows the RFC keys, with its first message already sent. */
static void keyed_client(struct scram_client *cl, const char *nonce, const char *first_bare)
{
	memset(cl, 0, sizeof(*cl));
	cl->use_keys = true;
	memcpy(cl->client_key, client_key, SCRAM_KEY_LEN);
	memcpy(cl->server_key, server_key, SCRAM_KEY_LEN);
	cl->client_nonce = strdup(nonce);
	if (first_bare) {
		cl->client_first_bare = strdup(first_bare);
	} else {
		char *first = scram_client_first(cl);

		CHECK(first);
		free(first);
	}
}

/* A refused message: false/NULL and a reason. */
static void check_refused(const char *errmsg)
{
	CHECK(errmsg && errmsg[0]);
}

/*
 * Message 3 to the genuine client, whose expected signature is server_final
 * ("v=...") when the server authenticated it, unknown otherwise.
 */
static void check_client_verify(struct scram_client *cl, struct msg raw, const char *server_final)
{
	const char *from[] = { "%V" }, *to[] = { server_final ? server_final + 2 : "" };
	struct msg m = substitute(raw.data, raw.len, from, to, 1);
	const char *errmsg = NULL;
	bool ok = scram_client_verify_final(cl, m.data, m.len, &errmsg);

	if (ok)
		CHECK(server_final && msg_equals(m, server_final));
	else
		check_refused(errmsg);
	if (server_final)
		CHECK(ok == msg_equals(m, server_final));
	free(m.data);
}

/* Messages 2 and 3, once the server accepted message 1. */
static void server_final_round(struct scram_server *st, struct msg raw_final, struct msg raw_verify)
{
	struct scram_client genuine;
	const char *errmsg = NULL;
	char *final, *server_final = NULL;
	const char *proof, *from[] = { "%N", "%P" }, *to[2];
	struct msg m;
	bool proof_ok = true, ok;
	uint8_t key[SCRAM_KEY_LEN];

	/* what a client knowing the keys answers to the server's first message */
	keyed_client(&genuine, st->client_nonce, st->client_first_bare);
	final = scram_client_final(&genuine, st->server_first, strlen(st->server_first), &errmsg);
	if (!final) {
		fprintf(stderr, "our client refuses our server's \"%s\": %s\n", st->server_first, errmsg);
		abort();
	}
	proof = strstr(final, ",p=");
	CHECK(proof);
	to[0] = st->server_nonce;
	to[1] = proof + 3;
	m = substitute(raw_final.data, raw_final.len, from, to, 2);

	CHECK(scram_client_final(&genuine, st->server_first, strlen(st->server_first), &errmsg) == NULL);
	errmsg = NULL;
	ok = scram_server_handle_final(st, m.data, m.len, &proof_ok, &server_final, &errmsg);
	if (!ok) {
		check_refused(errmsg);
		CHECK(!proof_ok && !server_final);
	} else {
		CHECK(proof_ok == (server_final != NULL));
	}
	/* authenticated exactly by the genuine answer (which "y,," cannot give) */
	CHECK(proof_ok == (msg_equals(m, final) && st->gs2_flag == 'n'));
	if (proof_ok) {
		decode_key(RFC_CLIENT_KEY, key);
		CHECK(st->have_client_key && memcmp(st->client_key, key, SCRAM_KEY_LEN) == 0);
		CHECK(strncmp(server_final, "v=", 2) == 0);
	}
	check_client_verify(&genuine, raw_verify, server_final);
	free(server_final);
	free(m.data);
	free(final);
	scram_client_clear(&genuine);
}

static void server_side(struct msg first, struct msg raw_final, struct msg raw_verify)
{
	struct scram_server st = { 0 };
	const char *errmsg = NULL;
	char *server_first = NULL;
	bool proof_ok;

	CHECK(scram_parse_secret(RFC_SECRET, &st.secret));
	CHECK(!scram_server_handle_final(&st, raw_final.data, raw_final.len, &proof_ok, &server_first, &errmsg));
	check_refused(errmsg);
	errmsg = NULL;
	if (!scram_server_handle_first(&st, first.data, first.len, &server_first, &errmsg)) {
		check_refused(errmsg);
		CHECK(!server_first && !st.server_first);
	} else {
		CHECK(server_first && strcmp(server_first, st.server_first) == 0);
		CHECK(strncmp(st.server_nonce, st.client_nonce, strlen(st.client_nonce)) == 0);
		CHECK(strlen(st.server_nonce) > strlen(st.client_nonce));
		free(server_first);
		CHECK(!scram_server_handle_first(&st, first.data, first.len, &server_first, &errmsg));
		server_final_round(&st, raw_final, raw_verify);
	}
	scram_server_clear(&st);
}

/* The iteration count a server-first asks for: after its last ",i=" (0 if none or huge). */
static long asked_iterations(struct msg m)
{
	long v = 0;
	size_t i = m.len;

	while (i >= 3 && memcmp(m.data + i - 3, ",i=", 3) != 0)
		i--;
	if (i < 3)
		return 0;
	for (; i < m.len && v < 1000000; i++) {
		if (m.data[i] < '0' || m.data[i] > '9')
			return 0;
		v = v * 10 + (m.data[i] - '0');
	}
	return v;
}

static void password_client(struct scram_client *cl)
{
	char *first;

	memset(cl, 0, sizeof(*cl));
	cl->password = strdup("pencil");
	cl->client_nonce = strdup(RFC_CLIENT_NONCE);
	first = scram_client_first(cl);
	CHECK(first);
	free(first);
}

/*
 * The keys derived by a job (what a worker thread runs for the server
 * login) and taken from the cache: a job exactly when the client accepts
 * the message, then the same answer as deriving them inline, and no second
 * job for the same salt and count.
 */
static void check_keys_job(struct msg m, const char *password_final)
{
	struct scram_keys_cache cache = { 0 };
	struct scram_client cl;
	struct scram_keys_job *job;
	const char *errmsg = NULL;
	char *final;

	password_client(&cl);
	job = scram_client_keys_job(&cl, &cache, m.data, m.len);
	CHECK(!job == !password_final);
	if (job) {
		scram_keys_job_run(job);
		CHECK(job->ok);
		scram_keys_job_store(job, &cache);
		scram_keys_job_free(job);
		CHECK(!scram_client_keys_job(&cl, &cache, m.data, m.len));
		cl.keys_cache = &cache;
		final = scram_client_final(&cl, m.data, m.len, &errmsg);
		CHECK(final && strcmp(final, password_final) == 0);
		free(final);
	}
	scram_client_clear(&cl);
	scram_keys_cache_clear(&cache);
}

/*
 * The same server-first to a client with the password instead of the keys
 * (only for few iterations: PBKDF2 is slow by design): accepted or refused
 * alike, and the same answer up to the proof.
 */
static void check_password_client(struct msg m, const char *keyed_final)
{
	struct scram_client cl;
	const char *errmsg = NULL;
	char *final;

	if (asked_iterations(m) > 64)
		return;
	password_client(&cl);
	final = scram_client_final(&cl, m.data, m.len, &errmsg);
	CHECK(!final == !keyed_final);
	if (final) {
		size_t head = strstr(final, ",p=") - final;

		CHECK(strncmp(final, keyed_final, head + 3) == 0);
	} else {
		check_refused(errmsg);
	}
	check_keys_job(m, final);
	free(final);
	scram_client_clear(&cl);
}

/* Messages 4 and 5: a server-first from nowhere, then any server-final. */
static void client_side(struct msg raw_first, struct msg raw_verify)
{
	struct scram_client cl;
	const char *from[] = { "%C" }, *to[] = { RFC_CLIENT_NONCE };
	struct msg m = substitute(raw_first.data, raw_first.len, from, to, 1);
	const char *errmsg = NULL;
	char *final;

	keyed_client(&cl, RFC_CLIENT_NONCE, NULL);
	CHECK(!scram_client_verify_final(&cl, raw_verify.data, raw_verify.len, &errmsg));
	check_refused(errmsg);
	errmsg = NULL;
	final = scram_client_final(&cl, m.data, m.len, &errmsg);
	check_password_client(m, final);
	if (!final) {
		check_refused(errmsg);
	} else {
		const char *comma = memchr(m.data, ',', m.len);
		size_t nonce_attr = comma ? (size_t)(comma - m.data) : m.len;

		/* c=biws, then server-first's r= attribute as it was, then p= */
		CHECK(strncmp(final, "c=biws,", 7) == 0);
		CHECK(strncmp(final + 7, m.data, nonce_attr) == 0);
		CHECK(strncmp(final + 7 + nonce_attr, ",p=", 3) == 0);
		CHECK(strncmp(m.data, "r=" RFC_CLIENT_NONCE, strlen("r=" RFC_CLIENT_NONCE)) == 0);
		CHECK(strlen(final + 7 + nonce_attr + 3) == 44);
		errmsg = NULL;
		/* no server without the secret can sign this exchange */
		CHECK(!scram_client_verify_final(&cl, raw_verify.data, raw_verify.len, &errmsg));
		check_refused(errmsg);
		free(final);
	}
	scram_client_clear(&cl);
	free(m.data);
}

/* A secret that parses formats to one that parses the same. */
static void secret_round_trip(struct msg m)
{
	char *text = strndup(m.data, m.len);
	struct scram_secret s, again;

	if (scram_parse_secret(text, &s)) {
		char *formatted = scram_secret_format(&s);

		CHECK(password_type_of(text) == PASSWORD_SCRAM);
		CHECK(scram_parse_secret(formatted, &again));
		CHECK(s.iterations == again.iterations && strcmp(s.salt_b64, again.salt_b64) == 0 &&
		      memcmp(s.stored_key, again.stored_key, SCRAM_KEY_LEN) == 0 &&
		      memcmp(s.server_key, again.server_key, SCRAM_KEY_LEN) == 0);
		scram_secret_clear(&again);
		scram_secret_clear(&s);
		free(formatted);
	}
	free(text);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet_log();
	decode_key(RFC_CLIENT_KEY, client_key);
	decode_key(RFC_SERVER_KEY, server_key);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg msgs[N_MSGS];
	const char *p = (const char *)data, *end = p + size;

	for (int i = 0; i < N_MSGS; i++) {
		const char *nl = i + 1 < N_MSGS ? memchr(p, '\n', end - p) : NULL;
		const char *stop = nl ? nl : end;

		msgs[i] = plain(p, stop - p);
		p = nl ? nl + 1 : end;
	}
	server_side(msgs[0], msgs[1], msgs[2]);
	client_side(msgs[3], msgs[4]);
	secret_round_trip(msgs[0]);
	for (int i = 0; i < N_MSGS; i++)
		free(msgs[i].data);
	return 0;
}
