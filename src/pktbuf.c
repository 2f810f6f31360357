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

static void pktbuf_reserve(struct pktbuf *pb, size_t extra)
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

void pktbuf_param_status(struct pktbuf *pb, const char *name, const char *value)
{
	pktbuf_begin(pb, 'S');
	pktbuf_put_string(pb, name);
	pktbuf_put_string(pb, value);
	pktbuf_end(pb);
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
