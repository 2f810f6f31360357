/*
 * Stream buffer: the io layer under the protocol state machines, modelled on
 * PgBouncer's sbuf.  It owns one non-blocking socket, reads into a fixed
 * buffer, cuts the byte stream into PostgreSQL messages and hands each
 * message header to its owner's handler.  The handler answers with what to
 * do with the message: forward it to another sbuf (sent straight from this
 * buffer when the other side can take it: no copy), skip it, or stop.
 *
 * A message longer than the buffer is streamed: its first part is handed to
 * the handler, the rest flows to the same destination as it arrives, so
 * memory stays bounded by pkt_buf whatever the message size.
 *
 * Backpressure: when a destination cannot take everything at once, the
 * source stops reading until the destination has flushed.
 *
 * Buffers are held only while they hold bytes (as PgBouncer's iobufs): an
 * idle connection has none, so 10,000 idle clients cost no 10,000 buffers.
 * Emptied buffers of the usual size wait in a small free list for reuse.
 */
#ifndef PGWARDEN_SBUF_H
#define PGWARDEN_SBUF_H

#include "util.h"
#include "pktbuf.h"
#include <event2/event.h>
#include <event2/event_struct.h>
#include <sys/socket.h>
#include <openssl/ssl.h>

struct sbuf;

enum sbuf_event {
	SBUF_EV_PKT,		/* a message header (and maybe body) is ready */
	SBUF_EV_RECV_FAILED,	/* EOF or read error */
	SBUF_EV_SEND_FAILED,	/* write error */
	SBUF_EV_CONNECT_OK,
	SBUF_EV_CONNECT_FAILED,
	SBUF_EV_BAD_PKT,	/* a length field out of range, or a message too long to parse */
	SBUF_EV_BYTE,		/* want_byte: one byte read, in pkt->hdr.type (SSLRequest's answer) */
	SBUF_EV_TLS_READY,	/* the TLS handshake finished */
	SBUF_EV_TLS_FAILED,	/* ... or failed (sbuf_tls_error() says why) */
};

/* What the handler did with a message. */
enum sbuf_result {
	SBUF_DONE,		/* consumed (sbuf_forward / sbuf_skip was called) */
	SBUF_NEED_FULL,		/* call again when the whole message is buffered */
	SBUF_PAUSE,		/* stop reading; the owner calls sbuf_continue later */
	SBUF_CLOSED,		/* the owner closed this sbuf: touch nothing */
};

struct sbuf_pkt {
	struct pkt_header hdr;
	const uint8_t *data;	/* message start (header included) */
	uint32_t avail;		/* bytes of it in the buffer */
	bool complete;		/* avail == hdr.len */
};

typedef enum sbuf_result (*sbuf_handler_fn)(struct sbuf *sb, enum sbuf_event ev, struct sbuf_pkt *pkt);

struct sbuf {
	int fd;
	bool closed : 1;
	bool startup_phase : 1;	/* next message has no type byte */
	bool paused : 1;		/* owner said stop */
	bool waiting_dst : 1;	/* backpressure: waiting for dst to flush */
	bool continue_pending : 1;
	bool reading : 1;		/* read event is added */
	bool writing : 1;		/* write event is added */
	bool connecting : 1;
	bool send_failed : 1;	/* reported from the loop, not from inside a send */
	bool want_byte : 1;		/* next input is a single byte, not a message */
	bool tls_handshaking : 1;
	bool tls_failed : 1;	/* a TLS record was bad: sbuf_tls_error() says how */

	SSL *tls;		/* NULL: plain socket */

	struct event ev_read;
	struct event *ev_write;	/* NULL until the first wait to write */

	/* input: [0, parse_pos) consumed, [parse_pos, recv_pos) unprocessed;
	 * NULL while empty */
	uint8_t *ibuf;
	uint32_t ibuf_size;
	uint32_t ibuf_base;	/* the usual size (pkt_buf); ibuf_size may grow */
	uint32_t max_full_pkt;	/* how far the buffer may grow for SBUF_NEED_FULL */
	uint32_t parse_pos;
	uint32_t recv_pos;
	uint32_t max_pkt_len;	/* messages longer than this are refused */

	/* a message being streamed past the buffer */
	uint32_t pkt_remain;
	struct sbuf *pkt_dst;	/* NULL: skip the remainder */

	/* output queue for what could not be written immediately */
	uint8_t *obuf;
	size_t olen;
	size_t opos;
	size_t ocap;

	struct sbuf *blocked_src;	/* a source waiting for us to flush */
	struct sbuf *blocked_on;	/* the destination we wait for */

	uint64_t bytes_in;
	uint64_t bytes_out;

	sbuf_handler_fn handler;
};

void sbuf_global_init(struct event_base *base);
/* sbuf_loopcnt: reads in a row on one connection with more to read (0 = no limit). */
void sbuf_set_read_loops(int loops);
/* Read buffers held by connections now, and emptied ones kept for reuse. */
void sbuf_buffer_counts(int *in_use, int *cached);

/* Attach an accepted or connecting socket. */
void sbuf_init(struct sbuf *sb, sbuf_handler_fn handler, uint32_t bufsize);
bool sbuf_accept(struct sbuf *sb, int fd);
void sbuf_read_now(struct sbuf *sb);
bool sbuf_connect(struct sbuf *sb, const struct sockaddr *sa, socklen_t salen);
void sbuf_close(struct sbuf *sb);

/* Handler verbs for the current message (pkt.hdr.len bytes). */
void sbuf_forward(struct sbuf *sb, struct sbuf *dst, const struct sbuf_pkt *pkt);
void sbuf_skip(struct sbuf *sb, const struct sbuf_pkt *pkt);
/* Forward the message from byte offset on (<= pkt.avail): the caller sent
 * its own first part with sbuf_send. */
void sbuf_forward_tail(struct sbuf *sb, struct sbuf *dst, const struct sbuf_pkt *pkt, uint32_t offset);

/* Queue bytes we built ourselves (after anything already forwarded). */
bool sbuf_send(struct sbuf *dst, const void *data, size_t len);
bool sbuf_send_pktbuf(struct sbuf *dst, struct pktbuf *pb);	/* sends and resets pb */
/* Inside src's handler: a message made in place of src's current one goes
 * out with what src forwards to dst in the same pass (one send). */
void sbuf_send_for(struct sbuf *src, struct sbuf *dst, struct pktbuf *pb);

/* Resume after SBUF_PAUSE: buffered messages are processed from the loop. */
void sbuf_continue(struct sbuf *sb);
/* Stop reading (PAUSE from outside the handler). */
void sbuf_pause(struct sbuf *sb);

/* Anything buffered in either direction? */
static inline bool sbuf_has_pending_input(const struct sbuf *sb) { return sb->recv_pos > sb->parse_pos; }
static inline bool sbuf_has_pending_output(const struct sbuf *sb) { return sb->olen > sb->opos; }

/*
 * Switch the socket to TLS (nothing may be buffered in either direction):
 * as the server side (a client's SSLRequest was answered 'S') or the client
 * side (PostgreSQL answered 'S'); host: the name or address to verify, NULL
 * for none.  The handshake runs from the loop and ends in SBUF_EV_TLS_READY
 * or SBUF_EV_TLS_FAILED.
 */
bool sbuf_tls_accept(struct sbuf *sb, SSL_CTX *ctx);
bool sbuf_tls_connect(struct sbuf *sb, SSL_CTX *ctx, const char *host);
const char *sbuf_tls_error(const struct sbuf *sb);

/* If sb is streaming a message into dst, drop the rest of it instead. */
void sbuf_unlink_stream(struct sbuf *sb, struct sbuf *dst);


#endif
