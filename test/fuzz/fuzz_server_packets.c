/*
 * libFuzzer harness for the server packet reader: what PostgreSQL's (or
 * anything claiming to be PostgreSQL) bytes go through in pgwarden.
 *
 * The input is the byte stream a server sends, cut into messages by
 * pkt_parse_header exactly as sbuf.c does.  Each message is copied into a buffer of exactly its size,
 * so reading one byte past it is an ASan report, and handed to the
 * product's readers (src/pktbuf.c), the ones server.c, auth.c,
 * plugin_result.c, plugin_query.c, auth_query.c and prepared.c call:
 *   - login (server.c handle_login_pkt): Authentication requests
 *     (pkt_read_auth_request; the MD5 salt into md5_challenge_response;
 *     pkt_sasl_offers; SASLContinue and SASLFinal into scram.c's
 *     scram_client_final / scram_client_verify_final), ParameterStatus
 *     (pkt_read_param_status), BackendKeyData (pkt_read_backend_key),
 *     ErrorResponse/NoticeResponse (pkt_parse_error_fields / _severity),
 *     ReadyForQuery (pkt_read_ready), which ends the login;
 *   - after login: RowDescription (pkt_read_column per column, as
 *     plugin_result.c and plugin_query.c read it), DataRow (its count, then
 *     pkt_get_column per column, nothing after: plugin_result.c's
 *     parse_data_row, plugin_query.c and auth_query.c), CommandComplete
 *     (pkt_read_command_tag, pkt_tag_rows, pkt_tag_is as prepared.c checks
 *     DISCARD ALL), errors, notices, ParameterStatus, ReadyForQuery.
 * Properties: a refusal always says why (SCRAM errors); whatever a reader
 * accepts lies inside the message (strings end in it, a DataRow's columns
 * add up to its length, a NULL column has no bytes), and nothing crashes,
 * over-reads or leaks.
 *
 * Not covered: what the handlers then do (pools, forwarding, plugin hooks)
 * needs the whole pooler and is left to the integration tests.  The SCRAM
 * client nonce is fixed so that an input can answer it, and pgwarden logs in
 * with the keys a client proved rather than a password: the iteration count
 * is the input's, and PBKDF2 with up to SCRAM_MAX_ITERATIONS would only time
 * SHA-256 (the parsing is the same either way).
 */
/* fuzz-build: src/pktbuf.c src/scram.c src/util.c src/log.c -- -lcrypto */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pktbuf.h"
#include "scram.h"

#define MAX_PKT_LEN INT32_MAX	/* sbuf.c's default max_pkt_len */
#define FUZZ_NONCE "fuzznonce"

struct conn {
	bool login;		/* before the ReadyForQuery that ends the login */
	bool closed;
	struct scram_client *scram;
	int ncolumns;		/* of the last RowDescription, -1: none */
};

/* s is a string that ends inside [msg, msg + len). */
static void check_string(const uint8_t *msg, size_t len, const char *s)
{
	const uint8_t *p = (const uint8_t *)s;

	if (p < msg || p >= msg + len || !memchr(p, 0, (size_t)(msg + len - p)))
		abort();
}

static void refused(const char *why)
{
	if (!why || !why[0])
		abort();	/* a refusal always says why */
}

/* ---------------- authentication ---------------- */

static void start_scram(struct conn *c)
{
	char *first;

	c->scram = xcalloc(1, sizeof(*c->scram));
	c->scram->client_nonce = xstrdup(FUZZ_NONCE);
	c->scram->use_keys = true;
	memset(c->scram->client_key, 0x11, SCRAM_KEY_LEN);
	memset(c->scram->server_key, 0x22, SCRAM_KEY_LEN);
	first = scram_client_first(c->scram);
	if (!first || strcmp(first, "n,,n=,r=" FUZZ_NONCE) != 0)
		abort();
	free(first);
}

static void read_auth(struct conn *c, const uint8_t *body, size_t len)
{
	const uint8_t *rest;
	size_t rest_len;
	uint32_t code;
	const char *err = NULL;
	char out[MD5_PASSWD_LEN + 1];
	char *final;

	if (!pkt_read_auth_request(body, len, &code, &rest, &rest_len)) {
		c->closed = true;	/* bad auth packet */
		return;
	}
	if (rest != body + 4 || rest_len != len - 4)
		abort();
	switch (code) {
	case AUTH_REQ_OK:
	case AUTH_REQ_PASSWORD:
		return;
	case AUTH_REQ_MD5:
		if (rest_len < 4) {
			c->closed = true;
			return;
		}
		md5_challenge_response("fuzz", "fuzzuser", rest, out);
		if (strlen(out) != MD5_PASSWD_LEN)
			abort();
		return;
	case AUTH_REQ_SASL:
		if (!pkt_sasl_offers(rest, rest_len, "SCRAM-SHA-256") || c->scram) {
			c->closed = true;
			return;
		}
		start_scram(c);
		return;
	case AUTH_REQ_SASL_CONT:
		if (!c->scram) {
			c->closed = true;
			return;
		}
		final = scram_client_final(c->scram, (const char *)rest, rest_len, &err);
		if (!final) {
			refused(err);
			c->closed = true;
			return;
		}
		if (strncmp(final, "c=biws,r=" FUZZ_NONCE, strlen("c=biws,r=" FUZZ_NONCE)) != 0 || !strstr(final, ",p="))
			abort();
		free(final);
		return;
	case AUTH_REQ_SASL_FIN:
		if (!c->scram || !scram_client_verify_final(c->scram, (const char *)rest, rest_len, &err)) {
			if (c->scram)
				refused(err);
			c->closed = true;
		}
		return;
	default:
		c->closed = true;	/* unknown/unsupported auth method */
		return;
	}
}

/* ---------------- other messages ---------------- */

static void read_error(const uint8_t *body, size_t len)
{
	const char *sqlstate, *msg, *severity;

	pkt_parse_error_fields(body, len, &sqlstate, &msg);
	severity = pkt_parse_error_severity(body, len);
	if (sqlstate[0])
		check_string(body, len, sqlstate);
	if (msg[0])
		check_string(body, len, msg);
	if (strcmp(severity, "ERROR") != 0)
		check_string(body, len, severity);
}

static void read_param_status(const uint8_t *body, size_t len)
{
	const char *name, *value;

	if (!pkt_read_param_status(body, len, &name, &value))
		return;		/* ignored */
	check_string(body, len, name);
	check_string(body, len, value);
	if (strlen(name) + strlen(value) + 2 != len)
		abort();
}

static void read_row_description(struct conn *c, const uint8_t *body, size_t len)
{
	struct pktreader r;
	struct pkt_column col;
	uint16_t n;

	c->ncolumns = -1;
	pktreader_init(&r, body, len);
	if (!pkt_get_u16(&r, &n))
		return;
	for (int i = 0; i < n; i++) {
		size_t before = r.pos;

		if (!pkt_read_column(&r, &col))
			return;		/* "malformed RowDescription from server" */
		check_string(body, len, col.name);
		if (col.name != (const char *)body + before || r.pos != before + strlen(col.name) + 1 + 18)
			abort();
	}
	c->ncolumns = n;
}

static void read_data_row(struct conn *c, const uint8_t *body, size_t len)
{
	struct pktreader r;
	const uint8_t *val;
	uint32_t vlen;
	size_t used = 2;
	uint16_t n;

	pktreader_init(&r, body, len);
	if (!pkt_get_u16(&r, &n) || (c->ncolumns >= 0 && n != c->ncolumns))
		return;		/* "malformed DataRow from server" */
	for (int i = 0; i < n; i++) {
		if (!pkt_get_column(&r, &val, &vlen))
			return;
		if (!val && vlen)
			abort();	/* NULL has no bytes */
		if (val && (val != body + used + 4 || vlen > len - used - 4))
			abort();
		used += 4 + vlen;
	}
	if (pkt_remaining(&r) == 0 && used != len)
		abort();
}

static void read_command_complete(const uint8_t *body, size_t len)
{
	const char *tag;
	bool discard = pkt_tag_is(body, len, "DISCARD ALL");

	if (!pkt_read_command_tag(body, len, &tag)) {
		if (discard)
			abort();
		return;
	}
	check_string(body, len, tag);
	if (discard != (strcmp(tag, "DISCARD ALL") == 0))
		abort();
	(void)pkt_tag_rows(tag);
}

static void read_message(struct conn *c, uint8_t type, const uint8_t *body, size_t len)
{
	const uint8_t *key;
	char tx;

	switch (type) {
	case 'R':
		if (c->login)
			read_auth(c, body, len);
		else
			c->closed = true;
		return;
	case 'S':
		read_param_status(body, len);
		return;
	case 'K':
		if (pkt_read_backend_key(body, len, &key) && (key != body || len < PKT_CANCEL_KEY_LEN))
			abort();
		return;
	case 'E':
	case 'N':
		read_error(body, len);
		if (type == 'E' && c->login)
			c->closed = true;	/* login failed */
		return;
	case 'Z':
		tx = pkt_read_ready(body, len);
		if (len == 1 && (body[0] == 'I' || body[0] == 'T' || body[0] == 'E') ? tx != (char)body[0] : tx != 0)
			abort();
		c->login = false;
		return;
	}
	if (c->login) {
		c->closed = true;	/* unexpected packet during login */
		return;
	}
	switch (type) {
	case 'T':
		read_row_description(c, body, len);
		break;
	case 'D':
		read_data_row(c, body, len);
		break;
	case 'C':
		read_command_complete(body, len);
		break;
	default:	/* forwarded to the client unread */
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conn c = { .login = true, .ncolumns = -1 };
	size_t pos = 0;

	while (!c.closed && pos < size) {
		struct pkt_header hdr;
		uint8_t *msg;

		if (pkt_parse_header(data + pos, size - pos, false, MAX_PKT_LEN, &hdr) != PKT_HDR_OK)
			break;	/* more bytes needed, or "bad packet from server" */
		if (hdr.type != data[pos] || hdr.hdr_len != 5 || hdr.len < 5 || hdr.len - 1 != read_be32(data + pos + 1))
			abort();
		if (hdr.len > size - pos)
			break;	/* the rest never arrives */
		msg = malloc(hdr.len);
		memcpy(msg, data + pos, hdr.len);
		pos += hdr.len;
		read_message(&c, hdr.type, msg + 5, hdr.len - 5);
		free(msg);
	}
	if (c.scram) {
		scram_client_clear(c.scram);
		free(c.scram);
	}
	return 0;
}
