#include "sbuf.h"
#include "log.h"
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

static struct event_base *sbuf_base;
static int read_loop_limit = 5;		/* sbuf_loopcnt; 0 = no limit */

/*
 * Forwarded messages that sit next to each other in one source buffer and go
 * to the same destination are sent with one write.  There is one batch at a
 * time; anything else written anywhere flushes it first, which keeps every
 * destination's byte order equal to the order the decisions were taken in.
 */
static struct {
	struct sbuf *src;
	struct sbuf *dst;
	const uint8_t *data;		/* a run of src's input, forwarded without a copy */
	size_t len;
	/* Once a message pgwarden made itself (a rewritten row, ...) joins the
	 * batch, everything for dst is copied here instead, so that it still
	 * leaves in one send. */
	uint8_t *copy;
	size_t copy_len;
	size_t copy_cap;
} batch;

static void sbuf_read_cb(evutil_socket_t fd, short what, void *arg);
static void sbuf_write_cb(evutil_socket_t fd, short what, void *arg);
static void raw_send(struct sbuf *dst, const uint8_t *data, size_t len, struct sbuf *src);
static void set_write_interest(struct sbuf *sb, bool want);

/* ---------------- the socket, plain or TLS ---------------- */

/* Why the last handshake failed (the loop is single-threaded; read right
 * after SBUF_EV_TLS_FAILED). */
static char tls_error[256];

static void note_tls_error(const char *what)
{
	const char *detail = tls_error_text();

	snprintf(tls_error, sizeof(tls_error), "%s%s%s", what, detail[0] ? ": " : "", detail);
}

const char *sbuf_tls_error(const struct sbuf *sb)
{
	(void)sb;
	return tls_error;
}

/*
 * OpenSSL's answers in errno terms: EAGAIN when the record layer needs the
 * socket first (it may need to write to read: then ask for writability
 * too), 0 for a clean close, -1 otherwise.
 */
static ssize_t tls_result(struct sbuf *sb, int n)
{
	switch (SSL_get_error(sb->tls, n)) {
	case SSL_ERROR_WANT_WRITE:
		set_write_interest(sb, true);
		/* fall through */
	case SSL_ERROR_WANT_READ:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (errno == 0)
			return 0;	/* EOF without close_notify */
		return -1;		/* errno says what (EAGAIN included) */
	default:
		note_tls_error("TLS error");
		sb->tls_failed = true;
		errno = ECONNRESET;
		return -1;
	}
}

static ssize_t io_read(struct sbuf *sb, void *buf, size_t len)
{
	/* recv, not read: the socket call skips the VFS read path (what
	 * PgBouncer does too; measurable at two reads per transaction) */
	if (!sb->tls)
		return recv(sb->fd, buf, len, 0);
	ERR_clear_error();
	errno = 0;
	int n = SSL_read(sb->tls, buf, (int)MIN(len, INT32_MAX));
	return n > 0 ? n : tls_result(sb, n);
}

static ssize_t io_send(struct sbuf *sb, const void *data, size_t len)
{
	if (!sb->tls)
		return send(sb->fd, data, len, MSG_NOSIGNAL);
	ERR_clear_error();
	errno = 0;
	int n = SSL_write(sb->tls, data, (int)MIN(len, INT32_MAX));
	if (n > 0)
		return n;
	ssize_t r = tls_result(sb, n);
	if (r == 0) {
		errno = EPIPE;	/* closed while we write: a send failure */
		return -1;
	}
	return r;
}

static bool start_tls(struct sbuf *sb, SSL_CTX *ctx)
{
	if (sb->tls || !ctx || sbuf_has_pending_input(sb) || sbuf_has_pending_output(sb))
		return false;
	sb->tls = SSL_new(ctx);
	if (!sb->tls || SSL_set_fd(sb->tls, sb->fd) != 1) {
		SSL_free(sb->tls);
		sb->tls = NULL;
		return false;
	}
	sb->tls_handshaking = true;
	return true;
}

bool sbuf_tls_accept(struct sbuf *sb, SSL_CTX *ctx)
{
	if (!start_tls(sb, ctx))
		return false;
	SSL_set_accept_state(sb->tls);
	return true;
}

bool sbuf_tls_connect(struct sbuf *sb, SSL_CTX *ctx, const char *host)
{
	if (!start_tls(sb, ctx))
		return false;
	SSL_set_connect_state(sb->tls);
	if (host && host[0]) {
		/* an address is checked against the certificate's IP entries, a
		 * name against its DNS names (and sent as SNI) */
		X509_VERIFY_PARAM *param = SSL_get0_param(sb->tls);
		if (X509_VERIFY_PARAM_set1_ip_asc(param, host) != 1) {
			SSL_set_tlsext_host_name(sb->tls, host);
			SSL_set1_host(sb->tls, host);
		}
	}
	/* ClientHello goes out from the loop, like every other write */
	set_write_interest(sb, true);
	return true;
}

static void wake_if_tls_buffered(struct sbuf *sb);

/* One handshake step; the handler hears when it is over. */
static void continue_handshake(struct sbuf *sb)
{
	ERR_clear_error();
	errno = 0;
	int n = SSL_do_handshake(sb->tls);
	if (n == 1) {
		sb->tls_handshaking = false;
		set_write_interest(sb, sbuf_has_pending_output(sb));
		sb->handler(sb, SBUF_EV_TLS_READY, NULL);
		/* the peer's first message may have been read with the handshake */
		wake_if_tls_buffered(sb);
		return;
	}
	switch (SSL_get_error(sb->tls, n)) {
	case SSL_ERROR_WANT_READ:
		set_write_interest(sb, false);
		return;
	case SSL_ERROR_WANT_WRITE:
		set_write_interest(sb, true);
		return;
	case SSL_ERROR_SYSCALL:
		if (!ERR_peek_error()) {
			snprintf(tls_error, sizeof(tls_error), "TLS handshake: %s",
				 errno ? strerror(errno) : "connection closed");
			break;
		}
		/* fall through */
	default: {
		long verify = SSL_get_verify_result(sb->tls);
		note_tls_error("TLS handshake failed");
		if (verify != X509_V_OK) {
			size_t used = strlen(tls_error);
			snprintf(tls_error + used, sizeof(tls_error) - used, " (%s)",
				 X509_verify_cert_error_string(verify));
		}
	}
	}
	set_write_interest(sb, false);
	sb->handler(sb, SBUF_EV_TLS_FAILED, NULL);
}

/* ---------------- the rest ---------------- */

void sbuf_global_init(struct event_base *base)
{
	sbuf_base = base;
}

void sbuf_set_read_loops(int loops)
{
	read_loop_limit = loops;
}

/* ---------------- read buffers, held only while they hold bytes ---------------- */

#define IBUF_CACHE_MAX 1024

static struct {
	void *free_list[IBUF_CACHE_MAX];	/* buffers of size `size` */
	int count;
	uint32_t size;			/* pkt_buf: every sbuf's ibuf_base */
	int in_use;			/* held by sbufs (SHOW MEM) */
} ibuf_cache;

void sbuf_buffer_counts(int *in_use, int *cached)
{
	*in_use = ibuf_cache.in_use;
	*cached = ibuf_cache.count;
}

static void ibuf_acquire(struct sbuf *sb)
{
	if (sb->ibuf)
		return;
	ibuf_cache.in_use++;
	sb->ibuf_size = sb->ibuf_base;
	if (ibuf_cache.count > 0 && ibuf_cache.size == sb->ibuf_size)
		sb->ibuf = ibuf_cache.free_list[--ibuf_cache.count];
	else
		sb->ibuf = xmalloc(sb->ibuf_size);
}

static void ibuf_release(struct sbuf *sb)
{
	if (!sb->ibuf)
		return;
	ibuf_cache.in_use--;
	if (ibuf_cache.count == 0)
		ibuf_cache.size = sb->ibuf_base;
	/* a buffer grown for a long message is not kept */
	if (sb->ibuf_size == ibuf_cache.size && ibuf_cache.count < IBUF_CACHE_MAX)
		ibuf_cache.free_list[ibuf_cache.count++] = sb->ibuf;
	else
		free(sb->ibuf);
	sb->ibuf = NULL;
	sb->ibuf_size = sb->ibuf_base;
	sb->recv_pos = sb->parse_pos = 0;
}

void sbuf_init(struct sbuf *sb, sbuf_handler_fn handler, uint32_t bufsize)
{
	memset(sb, 0, sizeof(*sb));
	sb->fd = -1;
	sb->handler = handler;
	sb->ibuf_base = bufsize;
	sb->ibuf_size = bufsize;
	sb->max_full_pkt = bufsize;
	sb->max_pkt_len = INT32_MAX;
}

static void attach_fd(struct sbuf *sb, int fd)
{
	sb->fd = fd;
	event_assign(&sb->ev_read, sbuf_base, fd, EV_READ | EV_PERSIST, sbuf_read_cb, sb);
}

/* Made the first time a connection must wait to write (connecting, a full
 * socket): most clients never do, and an event is 128 bytes. */
static struct event *write_event(struct sbuf *sb)
{
	if (!sb->ev_write) {
		sb->ev_write = event_new(sbuf_base, sb->fd, EV_WRITE | EV_PERSIST, sbuf_write_cb, sb);
		if (!sb->ev_write)
			die("out of memory");
	}
	return sb->ev_write;
}

static bool read_wanted(const struct sbuf *sb)
{
	return !sb->closed && !sb->paused && !sb->waiting_dst && !sb->connecting;
}

/* OpenSSL reads ahead: bytes it already holds get no readiness event from
 * the socket.  A partial record makes the next read say EAGAIN, which stops
 * this. */
static bool tls_buffered(const struct sbuf *sb)
{
	return sb->tls && !sb->tls_handshaking && SSL_has_pending(sb->tls);
}

static void wake_if_tls_buffered(struct sbuf *sb)
{
	if (read_wanted(sb) && tls_buffered(sb))
		event_active(&sb->ev_read, EV_READ, 0);
}

/*
 * Reading happens only when nobody asked us to hold still.  Stopping is lazy:
 * a paused client usually has nothing more to send (it waits for its answer),
 * so the read event stays registered and is only removed if it fires while
 * we hold still.  That saves two epoll_ctl calls per wait.
 */
static void update_read_interest(struct sbuf *sb)
{
	if (read_wanted(sb) && !sb->reading) {
		event_add(&sb->ev_read, NULL);
		sb->reading = true;
	}
}

static void stop_reading(struct sbuf *sb)
{
	if (sb->reading) {
		event_del(&sb->ev_read);
		sb->reading = false;
	}
}

static void set_write_interest(struct sbuf *sb, bool want)
{
	if (want == sb->writing)
		return;
	if (want)
		event_add(write_event(sb), NULL);
	else
		event_del(sb->ev_write);	/* writing: it exists */
	sb->writing = want;
}

/* fd must already be non-blocking and close-on-exec (accept4 flags). */
bool sbuf_accept(struct sbuf *sb, int fd)
{
	attach_fd(sb, fd);
	update_read_interest(sb);
	return true;
}

/*
 * A client usually sends its first packet together with the connect, so it
 * is already queued when accept() returns: read it now instead of paying a
 * loop iteration (epoll_wait) to learn what we can guess.  Costs one
 * EAGAIN read when the guess is wrong.  The handler may close the socket.
 */
void sbuf_read_now(struct sbuf *sb)
{
	sbuf_read_cb(sb->fd, EV_READ, sb);
}

bool sbuf_connect(struct sbuf *sb, const struct sockaddr *sa, socklen_t salen)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	attach_fd(sb, fd);
	sb->connecting = true;
	if (connect(fd, sa, salen) < 0 && errno != EINPROGRESS) {
		/* Report through the loop, as an async failure would be. */
		sb->send_failed = true;
	}
	set_write_interest(sb, true);
	if (sb->send_failed)
		event_active(write_event(sb), EV_WRITE, 0);
	return true;
}

static void batch_flush(void)
{
	struct sbuf *src = batch.src, *dst = batch.dst;

	if (batch.copy_len) {
		size_t len = batch.copy_len;
		batch.copy_len = 0;
		raw_send(dst, batch.copy, len, src);
		return;
	}
	if (!batch.len)
		return;
	const uint8_t *data = batch.data;
	size_t len = batch.len;
	batch.len = 0;
	raw_send(dst, data, len, src);
}

static void batch_copy(const uint8_t *data, size_t len)
{
	if (batch.copy_len + len > batch.copy_cap) {
		size_t cap = batch.copy_cap ? batch.copy_cap : 16384;
		while (cap < batch.copy_len + len)
			cap *= 2;
		batch.copy = xrealloc(batch.copy, cap);
		batch.copy_cap = cap;
	}
	memcpy(batch.copy + batch.copy_len, data, len);
	batch.copy_len += len;
}

/* A message of our own for dst while a batch for dst is pending: it joins
 * the batch (by copy) instead of costing a send of its own. */
static bool batch_join(struct sbuf *dst, const uint8_t *data, size_t len)
{
	if (batch.dst != dst || (!batch.len && !batch.copy_len))
		return false;
	if (batch.len) {
		batch_copy(batch.data, batch.len);
		batch.len = 0;
	}
	batch_copy(data, len);
	return true;
}

void sbuf_close(struct sbuf *sb)
{
	if (sb->closed)
		return;
	if ((batch.len || batch.copy_len) && (batch.src == sb || batch.dst == sb))
		batch_flush();
	sb->closed = true;
	if (sb->tls) {
		/* a close_notify if the socket takes it now; never waits */
		if (!sb->tls_handshaking)
			SSL_shutdown(sb->tls);
		ERR_clear_error();
		SSL_free(sb->tls);
		sb->tls = NULL;
		sb->tls_handshaking = false;
	}
	if (sb->fd >= 0) {
		/* event_del also drops a pending event_active. */
		event_del(&sb->ev_read);
		if (sb->ev_write) {
			event_free(sb->ev_write);
			sb->ev_write = NULL;
		}
		close(sb->fd);
		sb->fd = -1;
	}
	sb->reading = sb->writing = false;
	/* Whoever waited for us to drain must not wait forever. */
	if (sb->blocked_src) {
		struct sbuf *src = sb->blocked_src;
		sb->blocked_src = NULL;
		src->blocked_on = NULL;
		src->waiting_dst = false;
		if (src->pkt_dst == sb)
			src->pkt_dst = NULL;
		sbuf_continue(src);
	}
	if (sb->blocked_on) {
		sb->blocked_on->blocked_src = NULL;
		sb->blocked_on = NULL;
	}
	ibuf_release(sb);
	free(sb->obuf);
	sb->obuf = NULL;
	sb->olen = sb->opos = sb->ocap = 0;
	sb->recv_pos = sb->parse_pos = 0;
}

static void queue_output(struct sbuf *dst, const uint8_t *data, size_t len)
{
	if (dst->opos == dst->olen)
		dst->opos = dst->olen = 0;
	if (dst->olen + len > dst->ocap) {
		/* Reclaim the already-written prefix before growing. */
		if (dst->opos) {
			memmove(dst->obuf, dst->obuf + dst->opos, dst->olen - dst->opos);
			dst->olen -= dst->opos;
			dst->opos = 0;
		}
		size_t cap = dst->ocap ? dst->ocap : 4096;
		while (cap < dst->olen + len)
			cap *= 2;
		if (cap != dst->ocap) {
			dst->obuf = xrealloc(dst->obuf, cap);
			dst->ocap = cap;
		}
	}
	memcpy(dst->obuf + dst->olen, data, len);
	dst->olen += len;
}

/* Make src wait until dst has written out its queue. */
static void block_on(struct sbuf *src, struct sbuf *dst)
{
	if (!src || src->closed || src->waiting_dst)
		return;
	if (dst->blocked_src && dst->blocked_src != src)
		return;		/* one waiter at a time; the other keeps its data small */
	src->waiting_dst = true;
	src->blocked_on = dst;
	dst->blocked_src = src;
	update_read_interest(src);
}

static void raw_send(struct sbuf *dst, const uint8_t *data, size_t len, struct sbuf *src)
{
	if (dst->closed || dst->fd < 0 || dst->send_failed)
		return;
	if (dst->opos == dst->olen && !dst->connecting && !dst->tls_handshaking) {
		ssize_t n = io_send(dst, data, len);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				dst->send_failed = true;
				event_active(write_event(dst), EV_WRITE, 0);
				return;
			}
			n = 0;
		}
		dst->bytes_out += (size_t)n;
		data += n;
		len -= (size_t)n;
		if (!len)
			return;
	}
	queue_output(dst, data, len);
	set_write_interest(dst, true);
	block_on(src, dst);
}

bool sbuf_send(struct sbuf *dst, const void *data, size_t len)
{
	if (dst->closed)
		return false;
	if (batch_join(dst, data, len))
		return true;
	batch_flush();
	raw_send(dst, data, len, NULL);
	return !dst->send_failed;
}

void sbuf_send_for(struct sbuf *src, struct sbuf *dst, struct pktbuf *pb)
{
	if (!dst->closed && !batch_join(dst, pb->data, pb->len)) {
		batch_flush();
		batch.src = src;
		batch.dst = dst;
		batch_copy(pb->data, pb->len);
	}
	pktbuf_reset(pb);
}

bool sbuf_send_pktbuf(struct sbuf *dst, struct pktbuf *pb)
{
	bool ok = sbuf_send(dst, pb->data, pb->len);
	pktbuf_reset(pb);
	return ok;
}

static void batch_add(struct sbuf *src, struct sbuf *dst, const uint8_t *data, size_t len)
{
	if (batch.copy_len && batch.src == src && batch.dst == dst) {
		batch_copy(data, len);
		return;
	}
	if (batch.len && batch.src == src && batch.dst == dst && batch.data + batch.len == data) {
		batch.len += len;
		return;
	}
	batch_flush();
	batch.src = src;
	batch.dst = dst;
	batch.data = data;
	batch.len = len;
}

void sbuf_forward_tail(struct sbuf *sb, struct sbuf *dst, const struct sbuf_pkt *pkt, uint32_t offset)
{
	if (dst && !dst->closed) {
		if (pkt->avail > offset)
			batch_add(sb, dst, pkt->data + offset, pkt->avail - offset);
	} else {
		dst = NULL;
	}
	sb->parse_pos += pkt->avail;
	sb->pkt_remain = pkt->hdr.len - pkt->avail;
	sb->pkt_dst = dst;
}

void sbuf_forward(struct sbuf *sb, struct sbuf *dst, const struct sbuf_pkt *pkt)
{
	sbuf_forward_tail(sb, dst, pkt, 0);
}

void sbuf_skip(struct sbuf *sb, const struct sbuf_pkt *pkt)
{
	sbuf_forward(sb, NULL, pkt);
}

void sbuf_unlink_stream(struct sbuf *sb, struct sbuf *dst)
{
	if (sb->pkt_dst == dst)
		sb->pkt_dst = NULL;
	if ((batch.len || batch.copy_len) && batch.src == sb && batch.dst == dst)
		batch_flush();
}

/* Make room so that a message of pkt_len bytes fits from parse_pos on. */
static bool make_room_for(struct sbuf *sb, uint32_t pkt_len)
{
	if (pkt_len > sb->max_full_pkt)
		return false;
	if (pkt_len > sb->ibuf_size) {
		sb->ibuf = xrealloc(sb->ibuf, pkt_len);
		sb->ibuf_size = pkt_len;
	}
	return true;
}

static enum sbuf_result call_handler(struct sbuf *sb, enum sbuf_event ev, struct sbuf_pkt *pkt)
{
	return sb->handler(sb, ev, pkt);
}

/* Continue a message that is being streamed past the buffer. */
static void stream_remainder(struct sbuf *sb)
{
	uint32_t n = MIN(sb->recv_pos - sb->parse_pos, sb->pkt_remain);
	if (sb->pkt_dst && !sb->pkt_dst->closed)
		batch_add(sb, sb->pkt_dst, sb->ibuf + sb->parse_pos, n);
	sb->parse_pos += n;
	sb->pkt_remain -= n;
}

/* Returns false when the sbuf was closed by its owner. */
static bool process_buffer(struct sbuf *sb)
{
	while (!sb->closed && !sb->paused && sb->recv_pos > sb->parse_pos) {
		if (sb->pkt_remain) {
			stream_remainder(sb);
			continue;
		}
		struct sbuf_pkt pkt;
		uint32_t avail = sb->recv_pos - sb->parse_pos;
		const uint8_t *p = sb->ibuf + sb->parse_pos;
		enum pkt_header_result hr = pkt_parse_header(p, avail, sb->startup_phase, sb->max_pkt_len, &pkt.hdr);
		if (sb->want_byte) {
			/* SSLRequest's answer: one byte, no message framing */
			sb->want_byte = false;
			pkt.hdr.type = *p;
			pkt.hdr.len = 1;
			pkt.data = p;
			pkt.avail = 1;
			pkt.complete = true;
			sb->parse_pos++;
			if (call_handler(sb, SBUF_EV_BYTE, &pkt) == SBUF_CLOSED || sb->closed)
				return false;
			continue;
		}
		if (hr == PKT_HDR_INCOMPLETE)
			break;
		if (hr == PKT_HDR_BAD) {
			batch_flush();
			call_handler(sb, SBUF_EV_BAD_PKT, NULL);
			return false;
		}
		pkt.data = p;
		pkt.avail = MIN(avail, pkt.hdr.len);
		pkt.complete = pkt.avail == pkt.hdr.len;

		enum sbuf_result res = call_handler(sb, SBUF_EV_PKT, &pkt);
		if (res == SBUF_CLOSED || sb->closed)
			return false;
		if (res == SBUF_PAUSE) {
			sb->paused = true;
			break;
		}
		if (res == SBUF_NEED_FULL) {
			/* The batch may point into ibuf, which make_room_for moves. */
			batch_flush();
			if (pkt.complete || !make_room_for(sb, pkt.hdr.len)) {
				call_handler(sb, SBUF_EV_BAD_PKT, &pkt);
				return false;
			}
			break;
		}
	}
	batch_flush();
	return !sb->closed;
}

/* Move the unprocessed tail to the front so the next read has room. */
static void compact(struct sbuf *sb)
{
	if (sb->parse_pos == 0)
		return;
	uint32_t left = sb->recv_pos - sb->parse_pos;
	if (left)
		memmove(sb->ibuf, sb->ibuf + sb->parse_pos, left);
	sb->recv_pos = left;
	sb->parse_pos = 0;
}

static void process_and_compact(struct sbuf *sb)
{
	if (process_buffer(sb)) {
		compact(sb);
		if (sb->recv_pos == 0)
			ibuf_release(sb);
	}
	update_read_interest(sb);
}

/*
 * One read into the free part of the buffer, and the messages it completes.
 * True when the read filled that space, so more bytes are probably waiting
 * and the caller may read again at once.
 */
static bool read_and_process(struct sbuf *sb)
{
	size_t space = sb->ibuf_size - sb->recv_pos;

	ibuf_acquire(sb);
	ssize_t n = io_read(sb, sb->ibuf + sb->recv_pos, space);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
			if (sb->recv_pos == 0)
				ibuf_release(sb);
			return false;
		}
		call_handler(sb, SBUF_EV_RECV_FAILED, NULL);
		return false;
	}
	if (n == 0) {
		/* Whatever complete messages arrived before EOF still count. */
		process_buffer(sb);
		if (!sb->closed)
			call_handler(sb, SBUF_EV_RECV_FAILED, NULL);
		return false;
	}
	sb->recv_pos += (uint32_t)n;
	sb->bytes_in += (uint64_t)n;
	process_and_compact(sb);
	wake_if_tls_buffered(sb);
	return (size_t)n == space;
}

static void sbuf_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sbuf *sb = arg;

	if (sb->continue_pending) {
		sb->continue_pending = false;
		if (!(what & EV_READ) || sb->recv_pos > sb->parse_pos) {
			process_and_compact(sb);
			wake_if_tls_buffered(sb);
			return;
		}
	}
	if (sb->tls_handshaking) {
		continue_handshake(sb);
		return;
	}
	/*
	 * sbuf_loopcnt: a connection with a lot to read (a big result, a COPY)
	 * gets that many buffers' worth before the others get a turn; fewer
	 * trips through epoll, and still no connection can stall the rest.
	 */
	if (!read_wanted(sb)) {
		stop_reading(sb);
		return;
	}
	for (int loops = 1;; loops++) {
		if (sb->recv_pos >= sb->ibuf_size) {
			/* Full buffer but no complete message to act on; cannot happen
			 * unless the handler misbehaves.  Treat as a protocol error. */
			call_handler(sb, SBUF_EV_BAD_PKT, NULL);
			return;
		}
		if (!read_and_process(sb) || (read_loop_limit > 0 && loops >= read_loop_limit) ||
		    sb->continue_pending || !read_wanted(sb))
			return;
	}
}

static void finish_connect(struct sbuf *sb)
{
	int err = 0;
	socklen_t len = sizeof(err);

	sb->connecting = false;
	if (sb->send_failed || getsockopt(sb->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
		if (err)
			errno = err;
		set_write_interest(sb, false);
		call_handler(sb, SBUF_EV_CONNECT_FAILED, NULL);
		return;
	}
	if (sb->olen == sb->opos)
		set_write_interest(sb, false);
	update_read_interest(sb);
	call_handler(sb, SBUF_EV_CONNECT_OK, NULL);
}

static void release_blocked_source(struct sbuf *sb)
{
	struct sbuf *src = sb->blocked_src;
	if (!src)
		return;
	sb->blocked_src = NULL;
	src->blocked_on = NULL;
	src->waiting_dst = false;
	sbuf_continue(src);
}

static void sbuf_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sbuf *sb = arg;

	if (sb->closed)
		return;
	if (sb->connecting) {
		finish_connect(sb);
		return;
	}
	if (sb->tls_handshaking) {
		continue_handshake(sb);
		return;
	}
	if (sb->send_failed) {
		set_write_interest(sb, false);
		call_handler(sb, SBUF_EV_SEND_FAILED, NULL);
		return;
	}
	(void)fd;
	while (sb->opos < sb->olen) {
		ssize_t n = io_send(sb, sb->obuf + sb->opos, sb->olen - sb->opos);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			sb->send_failed = true;
			set_write_interest(sb, false);
			call_handler(sb, SBUF_EV_SEND_FAILED, NULL);
			return;
		}
		sb->opos += (size_t)n;
		sb->bytes_out += (uint64_t)n;
	}
	/* flushed: an idle connection keeps no output buffer */
	free(sb->obuf);
	sb->obuf = NULL;
	sb->opos = sb->olen = sb->ocap = 0;
	set_write_interest(sb, false);
	release_blocked_source(sb);
}

void sbuf_continue(struct sbuf *sb)
{
	if (sb->closed)
		return;
	sb->paused = false;
	if (sb->waiting_dst)
		return;		/* the destination will wake us */
	update_read_interest(sb);
	if ((sb->recv_pos > sb->parse_pos || tls_buffered(sb)) && !sb->continue_pending) {
		/* Process what is buffered from the loop, not from inside the
		 * caller's handler: no re-entrancy. */
		sb->continue_pending = true;
		event_active(&sb->ev_read, 0, 0);
	}
}

void sbuf_pause(struct sbuf *sb)
{
	sb->paused = true;
	update_read_interest(sb);
}
