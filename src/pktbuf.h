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
void pktbuf_reserve(struct pktbuf *pb, size_t extra);	/* room for extra more bytes */

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

/*
 * The messages pgwarden reads, one body at a time (after the header).
 * Pure functions, shared by the protocol handlers and the fuzz harnesses:
 * every pointer they hand out lies inside the body and every string ends
 * inside it; a malformed message gives false (or an error text).
 */

/* PostgreSQL's own limit for a startup-phase message. */
#define PKT_MAX_STARTUP		10000
#define PKT_CANCEL_KEY_LEN	8

enum pkt_startup_kind {
	PKT_STARTUP_V3,		/* params: the name/value pairs */
	PKT_STARTUP_SSL,
	PKT_STARTUP_GSSENC,
	PKT_STARTUP_CANCEL,	/* cancel_key: NULL unless the request has its 16 bytes */
};

struct pkt_startup {
	enum pkt_startup_kind kind;
	const uint8_t *cancel_key;
	uint16_t minor;		/* V3: the minor protocol version asked for */
	struct pktreader params;
};

/* A startup-phase message, msg/len whole (its length word included):
 * NULL, or why it is refused. */
const char *pkt_read_startup(const uint8_t *msg, size_t len, struct pkt_startup *out);

enum pkt_param_result {
	PKT_PARAM,		/* *name, *value set */
	PKT_PARAM_END,		/* the empty name that ends the list */
	PKT_PARAM_BAD,
};
enum pkt_param_result pkt_next_param(struct pktreader *r, const char **name, const char **value);

/* The message types a client may send once logged in. */
bool pkt_frontend_type_known(uint8_t type);

/* count NUL-terminated names at the start of p/len (a message may be only
 * partly buffered); *end: where the bytes after them start. */
bool pkt_read_names(const uint8_t *p, size_t len, int count, const char **names, size_t *end);

/* Query ('Q': *name is "") or Parse ('P'); *rest_off: where a Parse's
 * parameter types start. */
bool pkt_read_statement(uint8_t type, const uint8_t *body, size_t len, const char **name, const char **sql,
			size_t *rest_off);

/* Bind, checked whole: the parameters are then read with pkt_bind_next_param. */
struct pkt_bind {
	const char *portal;
	const char *statement;
	uint16_t nformats;	/* 0: all text, 1: one for all, else one per parameter */
	const uint8_t *formats;
	uint16_t nparams;
	struct pktreader params;
};
bool pkt_read_bind(const uint8_t *body, size_t len, struct pkt_bind *b);
/* The next parameter: *data NULL (and *len 0) for SQL NULL. */
bool pkt_bind_next_param(struct pkt_bind *b, const uint8_t **data, uint32_t *len);
int16_t pkt_bind_param_format(const struct pkt_bind *b, int i);

/* Describe or Close: 'S' (statement) or 'P' (portal), then the name. */
bool pkt_read_target(const uint8_t *body, size_t len, uint8_t *kind, const char **name);
/* PasswordMessage: one string, filling the message. */
bool pkt_read_password(const uint8_t *body, size_t len, const char **password);
bool pkt_read_sasl_initial(const uint8_t *body, size_t len, const char **mech, const uint8_t **data,
			   uint32_t *data_len);

/* Backend messages. */
bool pkt_read_auth_request(const uint8_t *body, size_t len, uint32_t *code, const uint8_t **rest,
			   size_t *rest_len);
/* An AuthenticationSASL's mechanism list names mech. */
bool pkt_sasl_offers(const uint8_t *mechs, size_t len, const char *mech);
bool pkt_read_param_status(const uint8_t *body, size_t len, const char **name, const char **value);
bool pkt_read_backend_key(const uint8_t *body, size_t len, const uint8_t **key);
/* ReadyForQuery's transaction state: 'I', 'T' or 'E'; 0 when the message is
 * not exactly one of those bytes. */
char pkt_read_ready(const uint8_t *body, size_t len);

/* One RowDescription column (after the int16 count). */
struct pkt_column {
	const char *name;
	uint32_t table_oid;
	int16_t attnum;
	uint32_t type_oid;
	int16_t typlen;
	int32_t typmod;
	int16_t format;
};
bool pkt_read_column(struct pktreader *r, struct pkt_column *c);

/* CommandComplete's tag, its row count ("INSERT 0 5": 5), and whether the
 * raw body is the tag want. */
bool pkt_read_command_tag(const uint8_t *body, size_t len, const char **tag);
uint64_t pkt_tag_rows(const char *tag);
bool pkt_tag_is(const uint8_t *body, size_t len, const char *want);

#endif
