/*
 * Building and reading PostgreSQL protocol messages.
 *
 * pktbuf: a growable buffer that messages are appended to, each one framed as
 * type byte + int32 length (filled in by pktbuf_end).  Failure to grow is
 * fatal (xrealloc), so callers never check errors.
 *
 * pktreader: bounds-checked reads from one received message; every getter
 * returns false once the message is exhausted or malformed, and stays false.
 */
#ifndef PGWARDEN_PKTBUF_H
#define PGWARDEN_PKTBUF_H

#include "util.h"

/* Startup-phase magic codes (in place of a protocol version). */
#define PKT_PROTO_V3		0x00030000u
#define PKT_CANCEL_REQUEST	80877102u
#define PKT_SSL_REQUEST		80877103u
#define PKT_GSSENC_REQUEST	80877104u

/* The first message has no type byte. */
#define PKT_STARTUP_TYPE	0

/* Authentication request codes ('R' messages). */
enum {
	AUTH_REQ_OK = 0,
	AUTH_REQ_PASSWORD = 3,
	AUTH_REQ_MD5 = 5,
	AUTH_REQ_SASL = 10,
	AUTH_REQ_SASL_CONT = 11,
	AUTH_REQ_SASL_FIN = 12,
};

/* Network byte order int32 at p (no alignment needed). */
static inline uint32_t read_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint16_t read_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

struct pktbuf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t msg_start;	/* where the message being built begins */
	bool msg_typed;		/* it has a type byte before the length */
};

void pktbuf_init(struct pktbuf *pb);
void pktbuf_reset(struct pktbuf *pb);
void pktbuf_free(struct pktbuf *pb);

void pktbuf_begin(struct pktbuf *pb, uint8_t type);	/* type 0: startup-style, no type byte */
void pktbuf_end(struct pktbuf *pb);
/* The message goes on with more bytes, sent separately after it. */
void pktbuf_end_before(struct pktbuf *pb, size_t more);
void pktbuf_put_u8(struct pktbuf *pb, uint8_t v);
void pktbuf_put_u16(struct pktbuf *pb, uint16_t v);
void pktbuf_put_u32(struct pktbuf *pb, uint32_t v);
void pktbuf_put_bytes(struct pktbuf *pb, const void *p, size_t len);
void pktbuf_put_string(struct pktbuf *pb, const char *s);	/* with NUL */

/* Whole messages. */
void pktbuf_error(struct pktbuf *pb, const char *severity, const char *sqlstate, const char *msg);
void pktbuf_notice(struct pktbuf *pb, const char *sqlstate, const char *msg);
void pktbuf_auth_request(struct pktbuf *pb, uint32_t code, const void *extra, size_t extra_len);
void pktbuf_param_status(struct pktbuf *pb, const char *name, const char *value);
void pktbuf_backend_key(struct pktbuf *pb, const uint8_t key[8]);
void pktbuf_ready(struct pktbuf *pb, char tx_state);
void pktbuf_query(struct pktbuf *pb, const char *sql);

/* Reading one message body (after the 5-byte header, or 8 for startup). */
struct pktreader {
	const uint8_t *data;
	size_t len;
	size_t pos;
	bool ok;
};

void pktreader_init(struct pktreader *r, const uint8_t *body, size_t len);
bool pkt_get_u8(struct pktreader *r, uint8_t *v);
bool pkt_get_u16(struct pktreader *r, uint16_t *v);
bool pkt_get_u32(struct pktreader *r, uint32_t *v);
bool pkt_get_bytes(struct pktreader *r, size_t n, const uint8_t **p);
/* A NUL-terminated string inside the message; false when no NUL before the end. */
bool pkt_get_string(struct pktreader *r, const char **s);
size_t pkt_remaining(const struct pktreader *r);
/* One DataRow column: *val points at its bytes, or is NULL for SQL NULL. */
bool pkt_get_column(struct pktreader *r, const uint8_t **val, uint32_t *len);

/* Header of the message at the start of buf. */
struct pkt_header {
	uint8_t type;		/* PKT_STARTUP_TYPE for startup-phase messages */
	uint32_t len;		/* whole message including type byte and length */
	uint32_t hdr_len;	/* 5, or 4 for startup-phase messages */
};

enum pkt_header_result {
	PKT_HDR_OK,
	PKT_HDR_INCOMPLETE,	/* need more bytes */
	PKT_HDR_BAD,		/* length below minimum or above max */
};

enum pkt_header_result pkt_parse_header(const uint8_t *buf, size_t avail, bool startup,
					uint32_t max_len, struct pkt_header *hdr);

/* Fields of an ErrorResponse/NoticeResponse body, for logging. */
void pkt_parse_error_fields(const uint8_t *body, size_t len, const char **sqlstate, const char **msg);
const char *pkt_parse_error_severity(const uint8_t *body, size_t len);

#endif
