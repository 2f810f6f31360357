#include "pktbuf.h"

#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

void pktbuf_init(struct pktbuf *pb)
{
	memset(pb, 0, sizeof(*pb));
}

void pktbuf_reset(struct pktbuf *pb)
{
	pb->len = 0;
	pb->msg_start = 0;
}

void pktbuf_free(struct pktbuf *pb)
{
	free(pb->data);
	pktbuf_init(pb);
}

void pktbuf_reserve(struct pktbuf *pb, size_t extra)
{
	if (pb->len + extra <= pb->cap)
		return;
	size_t cap = pb->cap ? pb->cap : 256;
	while (cap < pb->len + extra)
		cap *= 2;
	pb->data = xrealloc(pb->data, cap);
	pb->cap = cap;
}

void pktbuf_put_bytes(struct pktbuf *pb, const void *p, size_t len)
{
	pktbuf_reserve(pb, len);
	if (len)
		memcpy(pb->data + pb->len, p, len);
	pb->len += len;
}

void pktbuf_put_u8(struct pktbuf *pb, uint8_t v)
{
	pktbuf_put_bytes(pb, &v, 1);
}

void pktbuf_put_u16(struct pktbuf *pb, uint16_t v)
{
	uint16_t n = htons(v);
	pktbuf_put_bytes(pb, &n, 2);
}

void pktbuf_put_u32(struct pktbuf *pb, uint32_t v)
{
	uint32_t n = htonl(v);
	pktbuf_put_bytes(pb, &n, 4);
}

void pktbuf_put_string(struct pktbuf *pb, const char *s)
{
	pktbuf_put_bytes(pb, s, strlen(s) + 1);
}

void pktbuf_begin(struct pktbuf *pb, uint8_t type)
{
	pb->msg_start = pb->len;
	pb->msg_typed = type != PKT_STARTUP_TYPE;
	if (type)
		pktbuf_put_u8(pb, type);
	pktbuf_put_u32(pb, 0);	/* length, patched by pktbuf_end */
}

void pktbuf_end_before(struct pktbuf *pb, size_t more)
{
	/* The length counts itself but not the type byte. */
	size_t len_pos = pb->msg_start + (pb->msg_typed ? 1 : 0);
	uint32_t n = htonl((uint32_t)(pb->len - len_pos + more));
	memcpy(pb->data + len_pos, &n, 4);
}

void pktbuf_end(struct pktbuf *pb)
{
	pktbuf_end_before(pb, 0);
}

/* ErrorResponse and NoticeResponse share their field layout. */
static void put_report(struct pktbuf *pb, uint8_t type, const char *severity, const char *sqlstate,
		       const char *msg)
{
	pktbuf_begin(pb, type);
	pktbuf_put_u8(pb, 'S');
	pktbuf_put_string(pb, severity);
	pktbuf_put_u8(pb, 'V');	/* the untranslated severity, for clients that read it */
	pktbuf_put_string(pb, severity);
	pktbuf_put_u8(pb, 'C');
	pktbuf_put_string(pb, sqlstate);
	pktbuf_put_u8(pb, 'M');
	pktbuf_put_string(pb, msg);
	pktbuf_put_u8(pb, 0);
	pktbuf_end(pb);
}

void pktbuf_error(struct pktbuf *pb, const char *severity, const char *sqlstate, const char *msg)
{
	put_report(pb, 'E', severity, sqlstate, msg);
}

void pktbuf_notice(struct pktbuf *pb, const char *sqlstate, const char *msg)
{
	put_report(pb, 'N', "NOTICE", sqlstate, msg);
}

void pktbuf_auth_request(struct pktbuf *pb, uint32_t code, const void *extra, size_t extra_len)
{
	pktbuf_begin(pb, 'R');
	pktbuf_put_u32(pb, code);
	pktbuf_put_bytes(pb, extra, extra_len);
	pktbuf_end(pb);
}

/* In one piece: a login sends a dozen of these. */
void pktbuf_param_status(struct pktbuf *pb, const char *name, const char *value)
{
	size_t name_len = strlen(name) + 1, value_len = strlen(value) + 1;
	uint32_t len = htonl((uint32_t)(4 + name_len + value_len));
	uint8_t *p;

	pktbuf_reserve(pb, 5 + name_len + value_len);
	p = pb->data + pb->len;
	p[0] = 'S';
	memcpy(p + 1, &len, 4);
	memcpy(p + 5, name, name_len);
	memcpy(p + 5 + name_len, value, value_len);
	pb->len += 5 + name_len + value_len;
}

void pktbuf_backend_key(struct pktbuf *pb, const uint8_t key[8])
{
	pktbuf_begin(pb, 'K');
	pktbuf_put_bytes(pb, key, 8);
	pktbuf_end(pb);
}

void pktbuf_ready(struct pktbuf *pb, char tx_state)
{
	pktbuf_begin(pb, 'Z');
	pktbuf_put_u8(pb, (uint8_t)tx_state);
	pktbuf_end(pb);
}

void pktbuf_query(struct pktbuf *pb, const char *sql)
{
	pktbuf_begin(pb, 'Q');
	pktbuf_put_string(pb, sql);
	pktbuf_end(pb);
}

void pktreader_init(struct pktreader *r, const uint8_t *body, size_t len)
{
	r->data = body;
	r->len = len;
	r->pos = 0;
	r->ok = true;
}

bool pkt_get_bytes(struct pktreader *r, size_t n, const uint8_t **p)
{
	if (!r->ok || r->len - r->pos < n)
		return r->ok = false;
	*p = r->data + r->pos;
	r->pos += n;
	return true;
}

bool pkt_get_column(struct pktreader *r, const uint8_t **val, uint32_t *len)
{
	if (!pkt_get_u32(r, len))
		return false;
	if (*len == UINT32_MAX) {	/* -1: NULL */
		*val = NULL;
		*len = 0;
		return true;
	}
	return pkt_get_bytes(r, *len, val);
}

bool pkt_get_u8(struct pktreader *r, uint8_t *v)
{
	const uint8_t *p;
	if (!pkt_get_bytes(r, 1, &p))
		return false;
	*v = p[0];
	return true;
}

bool pkt_get_u16(struct pktreader *r, uint16_t *v)
{
	const uint8_t *p;
	if (!pkt_get_bytes(r, 2, &p))
		return false;
	*v = (uint16_t)(p[0] << 8 | p[1]);
	return true;
}

bool pkt_get_u32(struct pktreader *r, uint32_t *v)
{
	const uint8_t *p;
	if (!pkt_get_bytes(r, 4, &p))
		return false;
	*v = read_be32(p);
	return true;
}

bool pkt_get_string(struct pktreader *r, const char **s)
{
	if (!r->ok)
		return false;
	const uint8_t *start = r->data + r->pos;
	const uint8_t *nul = memchr(start, 0, r->len - r->pos);
	if (!nul)
		return r->ok = false;
	*s = (const char *)start;
	r->pos += (size_t)(nul - start) + 1;
	return true;
}

size_t pkt_remaining(const struct pktreader *r)
{
	return r->ok ? r->len - r->pos : 0;
}

enum pkt_header_result pkt_parse_header(const uint8_t *buf, size_t avail, bool startup,
					uint32_t max_len, struct pkt_header *hdr)
{
	uint32_t body_len;
	size_t need = startup ? 4 : 5;

	if (avail < need)
		return PKT_HDR_INCOMPLETE;
	if (startup) {
		hdr->type = PKT_STARTUP_TYPE;
		hdr->hdr_len = 4;
		body_len = read_be32(buf);
		/* Length includes itself; a startup message needs at least a code. */
		if (body_len < 8 || body_len > max_len)
			return PKT_HDR_BAD;
		hdr->len = body_len;
		return PKT_HDR_OK;
	}
	hdr->type = buf[0];
	hdr->hdr_len = 5;
	body_len = read_be32(buf + 1);
	/* The length counts itself (4) but not the type byte. */
	if (body_len < 4 || body_len > max_len || body_len > UINT32_MAX - 1)
		return PKT_HDR_BAD;
	hdr->len = body_len + 1;
	return PKT_HDR_OK;
}

void pkt_parse_error_fields(const uint8_t *body, size_t len, const char **sqlstate, const char **msg)
{
	struct pktreader r;
	uint8_t code;
	const char *val;

	*sqlstate = "";
	*msg = "";
	pktreader_init(&r, body, len);
	while (pkt_get_u8(&r, &code) && code != 0) {
		if (!pkt_get_string(&r, &val))
			break;
		if (code == 'C')
			*sqlstate = val;
		else if (code == 'M')
			*msg = val;
	}
}

/* The non-localized severity ('V'), else the localized one ('S'). */
const char *pkt_parse_error_severity(const uint8_t *body, size_t len)
{
	struct pktreader r;
	uint8_t code;
	const char *val, *severity = "ERROR";

	pktreader_init(&r, body, len);
	while (pkt_get_u8(&r, &code) && code != 0) {
		if (!pkt_get_string(&r, &val))
			break;
		if (code == 'V')
			return val;
		if (code == 'S')
			severity = val;
	}
	return severity;
}

/* ---------------- the messages pgwarden reads ---------------- */

const char *pkt_read_startup(const uint8_t *msg, size_t len, struct pkt_startup *out)
{
	struct pktreader r;
	const uint8_t *length_word;
	uint32_t code;

	memset(out, 0, sizeof(*out));
	pktreader_init(&r, msg, len);
	if (!pkt_get_bytes(&r, 4, &length_word) || !pkt_get_u32(&r, &code))
		return "bad packet header";
	switch (code) {
	case PKT_SSL_REQUEST:
	case PKT_GSSENC_REQUEST:
		out->kind = code == PKT_SSL_REQUEST ? PKT_STARTUP_SSL : PKT_STARTUP_GSSENC;
		return len == 8 ? NULL : "bad packet";
	case PKT_CANCEL_REQUEST:
		/* a malformed one is not answered either: no error text */
		out->kind = PKT_STARTUP_CANCEL;
		if (len == 8 + PKT_CANCEL_KEY_LEN)
			pkt_get_bytes(&r, PKT_CANCEL_KEY_LEN, &out->cancel_key);
		return NULL;
	default:
		break;
	}
	if (code >> 16 == 2)
		return "old V2 protocol not supported";
	if (code >> 16 != 3)
		return "bad packet header";
	out->kind = PKT_STARTUP_V3;
	out->minor = (uint16_t)(code & 0xffff);
	out->params = r;
	return NULL;
}

enum pkt_param_result pkt_next_param(struct pktreader *r, const char **name, const char **value)
{
	if (!pkt_get_string(r, name))
		return PKT_PARAM_BAD;
	if (!(*name)[0])
		return PKT_PARAM_END;
	return pkt_get_string(r, value) ? PKT_PARAM : PKT_PARAM_BAD;
}

bool pkt_frontend_type_known(uint8_t type)
{
	switch (type) {
	case 'Q': case 'P': case 'B': case 'D': case 'E': case 'S': case 'H':
	case 'C': case 'd': case 'c': case 'f': case 'F': case 'X':
		return true;
	default:
		return false;
	}
}

bool pkt_read_names(const uint8_t *p, size_t len, int count, const char **names, size_t *end)
{
	struct pktreader r;

	pktreader_init(&r, p, len);
	for (int i = 0; i < count; i++) {
		if (!pkt_get_string(&r, &names[i]))
			return false;
	}
	*end = r.pos;
	return true;
}

bool pkt_read_statement(uint8_t type, const uint8_t *body, size_t len, const char **name, const char **sql,
			size_t *rest_off)
{
	struct pktreader r;

	pktreader_init(&r, body, len);
	*name = "";
	if (type == 'P' && !pkt_get_string(&r, name))
		return false;
	if (!pkt_get_string(&r, sql))
		return false;
	*rest_off = r.pos;
	return true;
}

bool pkt_read_bind(const uint8_t *body, size_t len, struct pkt_bind *b)
{
	struct pktreader r;
	const uint8_t *skip;
	uint32_t skip_len;
	uint16_t nresults;

	pktreader_init(&r, body, len);
	if (!pkt_get_string(&r, &b->portal) || !pkt_get_string(&r, &b->statement) ||
	    !pkt_get_u16(&r, &b->nformats) || !pkt_get_bytes(&r, 2u * b->nformats, &b->formats) ||
	    !pkt_get_u16(&r, &b->nparams))
		return false;
	/* PostgreSQL's rule: no format code, one for all, or one each */
	if (b->nformats > 1 && b->nformats != b->nparams)
		return false;
	b->params = r;
	for (int i = 0; i < b->nparams; i++) {
		if (!pkt_get_column(&r, &skip, &skip_len))
			return false;
	}
	/* the result column format codes end the message */
	if (!pkt_get_u16(&r, &nresults) || !pkt_get_bytes(&r, 2u * nresults, &skip))
		return false;
	return pkt_remaining(&r) == 0;
}

bool pkt_bind_next_param(struct pkt_bind *b, const uint8_t **data, uint32_t *len)
{
	return pkt_get_column(&b->params, data, len);
}

int16_t pkt_bind_param_format(const struct pkt_bind *b, int i)
{
	if (b->nformats == 0 || i < 0 || (b->nformats > 1 && i >= b->nformats))
		return 0;
	return (int16_t)read_be16(b->formats + 2 * (b->nformats == 1 ? 0 : i));
}

bool pkt_read_target(const uint8_t *body, size_t len, uint8_t *kind, const char **name)
{
	struct pktreader r;

	pktreader_init(&r, body, len);
	if (!pkt_get_u8(&r, kind) || (*kind != 'S' && *kind != 'P') || !pkt_get_string(&r, name))
		return false;
	return pkt_remaining(&r) == 0;
}

bool pkt_read_password(const uint8_t *body, size_t len, const char **password)
{
	struct pktreader r;

	pktreader_init(&r, body, len);
	return pkt_get_string(&r, password) && pkt_remaining(&r) == 0;
}

bool pkt_read_sasl_initial(const uint8_t *body, size_t len, const char **mech, const uint8_t **data,
			   uint32_t *data_len)
{
	struct pktreader r;

	pktreader_init(&r, body, len);
	/* a length of -1 (no initial response) is too long here: SCRAM needs one */
	if (!pkt_get_string(&r, mech) || !pkt_get_u32(&r, data_len) || !pkt_get_bytes(&r, *data_len, data))
		return false;
	return pkt_remaining(&r) == 0;
}

bool pkt_read_auth_request(const uint8_t *body, size_t len, uint32_t *code, const uint8_t **rest,
			   size_t *rest_len)
{
	struct pktreader r;

	pktreader_init(&r, body, len);
	if (!pkt_get_u32(&r, code))
		return false;
	*rest = body + r.pos;
	*rest_len = pkt_remaining(&r);
	return true;
}

bool pkt_sasl_offers(const uint8_t *mechs, size_t len, const char *mech)
{
	struct pktreader r;
	const char *m;

	pktreader_init(&r, mechs, len);
	while (pkt_get_string(&r, &m) && m[0]) {
		if (strcmp(m, mech) == 0)
			return true;
	}
	return false;
}

bool pkt_read_param_status(const uint8_t *body, size_t len, const char **name, const char **value)
{
	struct pktreader r;

	pktreader_init(&r, body, len);
	return pkt_get_string(&r, name) && pkt_get_string(&r, value) && pkt_remaining(&r) == 0;
}

bool pkt_read_backend_key(const uint8_t *body, size_t len, const uint8_t **key)
{
	if (len < PKT_CANCEL_KEY_LEN)
		return false;
	*key = body;
	return true;
}

char pkt_read_ready(const uint8_t *body, size_t len)
{
	if (len != 1)
		return 0;
	switch (body[0]) {
	case 'I':	/* idle */
	case 'T':	/* in a transaction */
	case 'E':	/* in a failed transaction */
		return (char)body[0];
	default:
		return 0;
	}
}

bool pkt_read_column(struct pktreader *r, struct pkt_column *c)
{
	uint16_t attnum, typlen, format;
	uint32_t typmod;

	if (!pkt_get_string(r, &c->name) || !pkt_get_u32(r, &c->table_oid) || !pkt_get_u16(r, &attnum) ||
	    !pkt_get_u32(r, &c->type_oid) || !pkt_get_u16(r, &typlen) || !pkt_get_u32(r, &typmod) ||
	    !pkt_get_u16(r, &format))
		return false;
	c->attnum = (int16_t)attnum;
	c->typlen = (int16_t)typlen;
	c->typmod = (int32_t)typmod;
	c->format = (int16_t)format;
	return true;
}

bool pkt_read_command_tag(const uint8_t *body, size_t len, const char **tag)
{
	struct pktreader r;

	pktreader_init(&r, body, len);
	return pkt_get_string(&r, tag);
}

uint64_t pkt_tag_rows(const char *tag)
{
	static const char *const counted[] = { "SELECT ", "INSERT ", "UPDATE ", "DELETE ", "MERGE ",
					       "FETCH ", "MOVE ", "COPY " };
	const char *last;

	for (size_t i = 0; i < ARRAY_SIZE(counted); i++) {
		if (strncmp(tag, counted[i], strlen(counted[i])) != 0)
			continue;
		last = strrchr(tag, ' ');
		return strtoull(last + 1, NULL, 10);
	}
	return 0;
}

bool pkt_tag_is(const uint8_t *body, size_t len, const char *want)
{
	size_t n = strlen(want);

	return len >= n + 1 && memcmp(body, want, n + 1) == 0;
}
