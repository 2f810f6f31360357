/*
 * libFuzzer harness for the client packet reader: what a client's bytes go
 * through before anything acts on them.
 *
 * The first input byte picks how the client logs in (cleartext/md5
 * password, SCRAM-SHA-256, or none: trust); the rest is the byte stream a
 * client sends, cut into messages by pkt_parse_header exactly as sbuf.c
 * does (startup-phase framing until a protocol 3 StartupMessage, typed
 * messages after it).  Each message is copied into a buffer of exactly its
 * size, so reading one byte past it is an ASan report, and handed to the
 * product's readers (src/pktbuf.c), the ones client.c, auth.c, prepared.c,
 * plugin_exec.c and plugin_hooks.c call:
 *   - startup: pkt_read_startup (SSLRequest, GSSENCRequest, CancelRequest,
 *     protocol version) and pkt_next_param over the parameters, with
 *     client.c's PKT_MAX_STARTUP limit;
 *   - login: pkt_read_password, pkt_read_sasl_initial, and SCRAM's
 *     scram_server_handle_first / _final (src/scram.c) on their payloads;
 *   - after login: pkt_frontend_type_known, then Query/Parse
 *     (pkt_read_statement, pkt_read_names as prepared.c reads a Parse's
 *     name), Bind (pkt_read_names on the whole message and on a partly
 *     buffered one as prepared.c does, pkt_read_bind and its parameters),
 *     Describe/Close (pkt_read_target), Execute (pkt_read_names).
 * Properties: a refusal always says why (startup errors, SCRAM errors);
 * whatever a reader accepts lies inside the message (every string ends in
 * it, every span fits, a Bind's parameters add up to its length, a
 * Describe/Close name fills it), and nothing crashes, over-reads or leaks.
 *
 * Not covered: Sync, Flush, CopyData/Done/Fail, FunctionCall and Terminate
 * are forwarded to the server unread (only their type is checked); the
 * session policy around the readers (which startup parameters are allowed,
 * users, pools) needs the whole pooler and is left to the integration tests.
 * For SCRAM the server nonce is set to the client's own so that an input can
 * reach the client-final parser past the nonce check.
 */
/* fuzz-build: src/pktbuf.c src/scram.c src/util.c src/log.c -- -lcrypto */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pktbuf.h"
#include "scram.h"

#define MAX_PKT_LEN INT32_MAX	/* sbuf.c's default max_pkt_len */

enum login { LOGIN_PASSWORD, LOGIN_SCRAM, LOGIN_TRUST };
enum phase { PHASE_STARTUP, PHASE_LOGIN, PHASE_SCRAM_FINAL, PHASE_ACTIVE, PHASE_CLOSED };

struct conn {
	enum login login;
	enum phase phase;
	struct scram_server scram;
	bool have_scram;
};

static char *scram_secret_text;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct scram_secret s;

	(void)argc;
	(void)argv;
	if (!scram_secret_from_password("fuzz", 4096, &s))
		abort();
	scram_secret_text = scram_secret_format(&s);
	scram_secret_clear(&s);
	return 0;
}

/* s is a string that ends inside [msg, msg + len). */
static void check_string(const uint8_t *msg, size_t len, const char *s)
{
	const uint8_t *p = (const uint8_t *)s;

	if (p < msg || p >= msg + len || !memchr(p, 0, (size_t)(msg + len - p)))
		abort();
}

/* [p, p + n) lies inside [msg, msg + len). */
static void check_span(const uint8_t *msg, size_t len, const uint8_t *p, size_t n)
{
	if (p < msg || p > msg + len || n > (size_t)(msg + len - p))
		abort();
}

static void refused(const char *why)
{
	if (!why || !why[0])
		abort();	/* a refusal always says why */
}

/* ---------------- startup phase ---------------- */

static void read_startup(struct conn *c, const uint8_t *msg, size_t len)
{
	struct pkt_startup st;
	const char *err = len > PKT_MAX_STARTUP ? "bad packet header" : pkt_read_startup(msg, len, &st);
	const char *name, *value;
	enum pkt_param_result res;
	int nparams = 0;

	if (err) {
		refused(err);
		c->phase = PHASE_CLOSED;
		return;
	}
	switch (st.kind) {
	case PKT_STARTUP_SSL:
	case PKT_STARTUP_GSSENC:
		/* answered 'N': the startup packet follows */
		if (len != 8)
			abort();
		return;
	case PKT_STARTUP_CANCEL:
		if (st.cancel_key && (len != 16 || st.cancel_key != msg + 8))
			abort();
		c->phase = PHASE_CLOSED;
		return;
	case PKT_STARTUP_V3:
		break;
	}
	if (read_be32(msg + 4) >> 16 != 3 || st.params.data != msg || st.params.pos != 8)
		abort();
	while ((res = pkt_next_param(&st.params, &name, &value)) == PKT_PARAM) {
		check_string(msg, len, name);
		check_string(msg, len, value);
		if (!name[0] || value <= name)
			abort();
		nparams++;
	}
	if (res == PKT_PARAM_BAD) {
		c->phase = PHASE_CLOSED;	/* "bad packet" */
		return;
	}
	/* the empty name ending the list is inside the message */
	if (st.params.pos > len || (size_t)nparams * 3 + 9 > len)
		abort();
	c->phase = c->login == LOGIN_TRUST ? PHASE_ACTIVE : PHASE_LOGIN;
}

/* ---------------- login ---------------- */

static void scram_first(struct conn *c, const uint8_t *body, size_t len)
{
	const char *mech, *err = NULL;
	const uint8_t *data;
	uint32_t data_len;
	char *server_first = NULL;

	if (!pkt_read_sasl_initial(body, len, &mech, &data, &data_len)) {
		c->phase = PHASE_CLOSED;
		return;
	}
	check_string(body, len, mech);
	check_span(body, len, data, data_len);
	if (data + data_len != body + len)
		abort();
	if (strcmp(mech, "SCRAM-SHA-256") != 0) {
		c->phase = PHASE_CLOSED;
		return;
	}
	if (!scram_parse_secret(scram_secret_text, &c->scram.secret))
		abort();
	c->have_scram = true;
	if (!scram_server_handle_first(&c->scram, (const char *)data, data_len, &server_first, &err)) {
		refused(err);
		if (server_first)
			abort();
		c->phase = PHASE_CLOSED;
		return;
	}
	if (!server_first || strncmp(server_first, "r=", 2) != 0)
		abort();
	free(server_first);
	/* the client's nonce alone: an input can echo it in client-final */
	free(c->scram.server_nonce);
	c->scram.server_nonce = xstrdup(c->scram.client_nonce);
	c->phase = PHASE_SCRAM_FINAL;
}

static void scram_final(struct conn *c, const uint8_t *body, size_t len)
{
	const char *err = NULL;
	char *server_final = NULL;
	bool proof_ok;

	if (!scram_server_handle_final(&c->scram, (const char *)body, len, &proof_ok, &server_final, &err)) {
		refused(err);
		c->phase = PHASE_CLOSED;
	} else if (proof_ok != (server_final != NULL)) {
		abort();
	} else {
		c->phase = PHASE_ACTIVE;	/* whatever the proof: read on */
	}
	free(server_final);
}

static void read_login(struct conn *c, uint8_t type, const uint8_t *body, size_t len)
{
	const char *password;

	if (type != 'p') {
		c->phase = PHASE_CLOSED;	/* unexpected packet during login */
		return;
	}
	if (c->phase == PHASE_SCRAM_FINAL) {
		scram_final(c, body, len);
		return;
	}
	if (c->login == LOGIN_SCRAM) {
		scram_first(c, body, len);
		return;
	}
	if (!pkt_read_password(body, len, &password)) {
		c->phase = PHASE_CLOSED;
		return;
	}
	check_string(body, len, password);
	if (strlen(password) + 1 != len)
		abort();
	c->phase = password[0] ? PHASE_ACTIVE : PHASE_CLOSED;
}

/* ---------------- after login ---------------- */

static void read_statement(uint8_t type, const uint8_t *body, size_t len)
{
	const char *name, *sql;
	size_t rest_off, end;

	if (pkt_read_statement(type, body, len, &name, &sql, &rest_off)) {
		if (type == 'P')
			check_string(body, len, name);
		else if (name[0])
			abort();
		check_string(body, len, sql);
		if (rest_off > len || (const uint8_t *)sql + strlen(sql) + 1 != body + rest_off)
			abort();
	}
	/* prepared.c: the name of a Parse, and what follows it */
	if (type == 'P' && pkt_read_names(body, len, 1, &name, &end)) {
		check_string(body, len, name);
		if (end != strlen(name) + 1 || end > len)
			abort();
	}
}

static void read_bind(const uint8_t *body, size_t len)
{
	const char *names[2];
	struct pkt_bind b;
	size_t end, used;

	/* prepared.c acts on the names once they are buffered */
	for (int half = 1; half >= 0; half--) {
		size_t avail = half ? len / 2 : len;

		if (pkt_read_names(body, avail, 2, names, &end)) {
			check_string(body, avail, names[0]);
			check_string(body, avail, names[1]);
			if (end > avail || end != strlen(names[0]) + strlen(names[1]) + 2)
				abort();
		}
	}
	if (!pkt_read_bind(body, len, &b))
		return;
	check_string(body, len, b.portal);
	check_string(body, len, b.statement);
	check_span(body, len, b.formats, 2u * b.nformats);
	if (b.nformats > 1 && b.nformats != b.nparams)
		abort();
	used = (size_t)(b.formats - body) + 2u * b.nformats + 2;
	for (int i = 0; i < b.nparams; i++) {
		const uint8_t *data;
		uint32_t plen;
		int16_t format = pkt_bind_param_format(&b, i);

		if (!pkt_bind_next_param(&b, &data, &plen))
			abort();	/* checked whole by pkt_read_bind */
		if (data)
			check_span(body, len, data, plen);
		else if (plen)
			abort();
		if (b.nformats == 0 ? format != 0 : format != (int16_t)read_be16(b.formats + (b.nformats == 1 ? 0 : 2 * i)))
			abort();
		used += 4 + plen;
	}
	/* then the result formats: an int16 count and its codes */
	if (used + 2 > len || (len - used - 2) % 2 != 0 || read_be16(body + used) * 2u != len - used - 2)
		abort();
}

static void read_target(const uint8_t *body, size_t len)
{
	uint8_t kind;
	const char *name;

	if (!pkt_read_target(body, len, &kind, &name))
		return;
	check_string(body, len, name);
	if ((kind != 'S' && kind != 'P') || name != (const char *)body + 1 || strlen(name) + 2 != len)
		abort();
}

static void read_active(struct conn *c, uint8_t type, const uint8_t *body, size_t len)
{
	const char *portal;
	size_t end;

	if (!pkt_frontend_type_known(type)) {
		c->phase = PHASE_CLOSED;	/* unknown pkt from client */
		return;
	}
	switch (type) {
	case 'Q':
	case 'P':
		read_statement(type, body, len);
		break;
	case 'B':
		read_bind(body, len);
		break;
	case 'D':
	case 'C':
		read_target(body, len);
		break;
	case 'E':
		if (pkt_read_names(body, len, 1, &portal, &end)) {
			check_string(body, len, portal);
			if (end != strlen(portal) + 1)
				abort();
		}
		break;
	case 'X':
		c->phase = PHASE_CLOSED;
		break;
	default:	/* forwarded unread */
		break;
	}
}

/* ---------------- the stream ---------------- */

static void check_header(const uint8_t *p, size_t avail, bool startup, const struct pkt_header *hdr)
{
	if (startup) {
		if (hdr->type != PKT_STARTUP_TYPE || hdr->hdr_len != 4 || hdr->len < 8 || hdr->len != read_be32(p))
			abort();
	} else if (hdr->type != p[0] || hdr->hdr_len != 5 || hdr->len < 5 || hdr->len - 1 != read_be32(p + 1)) {
		abort();
	}
	(void)avail;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conn c = { .phase = PHASE_STARTUP };
	size_t pos = 1;

	if (size < 1)
		return 0;
	c.login = (enum login)(data[0] % 3);
	while (c.phase != PHASE_CLOSED && pos < size) {
		bool startup = c.phase == PHASE_STARTUP;
		struct pkt_header hdr;
		enum pkt_header_result hr = pkt_parse_header(data + pos, size - pos, startup, MAX_PKT_LEN, &hdr);
		uint8_t *msg;

		if (hr != PKT_HDR_OK)
			break;	/* more bytes needed, or "bad packet header" */
		check_header(data + pos, size - pos, startup, &hdr);
		if (hdr.len > size - pos)
			break;	/* the rest never arrives */
		msg = malloc(hdr.len);
		memcpy(msg, data + pos, hdr.len);
		pos += hdr.len;
		if (startup)
			read_startup(&c, msg, hdr.len);
		else if (c.phase == PHASE_ACTIVE)
			read_active(&c, hdr.type, msg + 5, hdr.len - 5);
		else
			read_login(&c, hdr.type, msg + 5, hdr.len - 5);
		free(msg);
	}
	if (c.have_scram)
		scram_server_clear(&c.scram);
	return 0;
}
