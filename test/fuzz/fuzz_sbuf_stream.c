/*
 * libFuzzer harness for the stream buffer (src/sbuf.c) on real sockets: a
 * byte stream of PostgreSQL messages arrives in fuzzer-chosen chunks through
 * a small read buffer (messages longer than it are streamed), every message
 * is forwarded to a second connection whose reader drains it in
 * fuzzer-chosen amounts (backpressure), except messages of type '!', which
 * are skipped.  After EOF, what came out must be exactly the forwarded
 * messages, then at most a prefix of a last message cut off by the EOF; a
 * malformed header ends the stream.  Nothing may hang, leak or crash.
 *
 * Input: 4 setup bytes (buffer size, sbuf_loopcnt, whether the handler asks
 * for whole messages, socket buffer size), then pairs of (chunk size, drain
 * size) bytes interleaved with the stream: see take_plan().
 */
/* fuzz-build: src/sbuf.c src/pktbuf.c src/tls.c src/util.c src/log.c -- -levent -lssl -lcrypto */
#include "fuzz_check.h"
#include "sbuf.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PKT_LEN (1u << 20)		/* longer is a malformed header here */
#define MAX_ROUNDS 200000		/* a stream this short never needs more */

static struct event_base *base;

static struct {
	struct sbuf src, dst;
	bool need_full;
	bool src_done;
} t;

static enum sbuf_result src_handler(struct sbuf *sb, enum sbuf_event ev, struct sbuf_pkt *pkt)
{
	switch (ev) {
	case SBUF_EV_PKT:
		if (t.need_full && !pkt->complete && pkt->hdr.len <= sb->max_full_pkt)
			return SBUF_NEED_FULL;
		if (pkt->hdr.type == '!')
			sbuf_skip(sb, pkt);
		else
			sbuf_forward(sb, &t.dst, pkt);
		return SBUF_DONE;
	default:		/* EOF, a bad header: the end of the stream */
		sbuf_unlink_stream(sb, &t.dst);
		sbuf_close(sb);
		t.src_done = true;
		return SBUF_CLOSED;
	}
}

static enum sbuf_result dst_handler(struct sbuf *sb, enum sbuf_event ev, struct sbuf_pkt *pkt)
{
	(void)pkt;
	CHECK(ev != SBUF_EV_PKT);	/* nobody writes to dst's socket */
	return ev == SBUF_EV_SEND_FAILED ? (sbuf_close(sb), SBUF_CLOSED) : SBUF_DONE;
}

/*
 * What must come out: the messages before the first malformed header or the
 * cut, minus skipped ones (*full bytes, in expect), then possibly a prefix of
 * the cut message if it is a forwarded one (*partial_max more bytes).
 */
static void expected_output(const uint8_t *s, size_t n, uint8_t *expect, size_t *full, size_t *partial_max)
{
	size_t pos = 0;

	*full = 0;
	*partial_max = 0;
	while (pos < n) {
		struct pkt_header hdr;
		enum pkt_header_result r = pkt_parse_header(s + pos, n - pos, false, MAX_PKT_LEN, &hdr);
		if (r == PKT_HDR_BAD)
			return;
		if (r == PKT_HDR_INCOMPLETE || hdr.len > n - pos) {
			if (s[pos] != '!')
				*partial_max = n - pos;
			return;
		}
		if (hdr.type != '!') {
			memcpy(expect + *full, s + pos, hdr.len);
			*full += hdr.len;
		}
		pos += hdr.len;
	}
}

static void set_nonblocking(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* The stream and the schedule: every third byte of the rest is a chunk or
 * drain size, the others are the stream (so mutations move both). */
static size_t take_plan(const uint8_t *data, size_t size, uint8_t *stream, uint8_t *chunks, uint8_t *drains,
			size_t *nplan)
{
	size_t n = 0, k = 0;

	for (size_t i = 0; i < size; i++) {
		if (i % 3 == 2) {
			chunks[k] = (uint8_t)(data[i] & 0x3f);
			drains[k] = (uint8_t)(data[i] >> 2);
			k++;
		} else {
			stream[n++] = data[i];
		}
	}
	*nplan = k;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int in[2], out[2];
	uint8_t *stream, *chunks, *drains, *expect, *got;
	size_t n, nplan, full, partial_max, written = 0, got_len = 0, step = 0;
	int rounds = 0;

	if (size < 4)
		return 0;
	if (!base) {
		base = event_base_new();
		sbuf_global_init(base);
		log_configure(&(struct log_settings){ .quiet = true });
	}
	uint32_t bufsize = 16u + data[0];
	int loops = data[1] % 6;
	bool need_full = data[2] & 1;
	int sockbuf = 1024 + (data[3] & 0x0f) * 512;
	data += 4;
	size -= 4;

	stream = malloc(size + 1);
	chunks = malloc(size + 1);
	drains = malloc(size + 1);
	expect = malloc(size + 1);
	got = malloc(size + 1);
	n = take_plan(data, size, stream, chunks, drains, &nplan);
	expected_output(stream, n, expect, &full, &partial_max);

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, in) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, out) == 0);
	setsockopt(out[0], SOL_SOCKET, SO_SNDBUF, &sockbuf, sizeof(sockbuf));
	setsockopt(out[1], SOL_SOCKET, SO_RCVBUF, &sockbuf, sizeof(sockbuf));
	for (int i = 0; i < 2; i++) {	/* as pgwarden's sockets are */
		set_nonblocking(in[i]);
		set_nonblocking(out[i]);
	}

	memset(&t, 0, sizeof(t));
	t.need_full = need_full;
	sbuf_set_read_loops(loops);
	sbuf_init(&t.src, src_handler, bufsize);
	t.src.max_pkt_len = MAX_PKT_LEN;
	t.src.max_full_pkt = bufsize * 4;
	sbuf_init(&t.dst, dst_handler, bufsize);
	CHECK(sbuf_accept(&t.src, in[1]));
	CHECK(sbuf_accept(&t.dst, out[0]));

	/* write in chunks, turn the loop, drain some; then EOF and drain all */
	while (!t.src_done || sbuf_has_pending_output(&t.dst)) {
		CHECK(++rounds < MAX_ROUNDS);	/* a hang */
		uint8_t chunk = nplan ? chunks[step % nplan] : 64;
		uint8_t drain = nplan ? drains[step % nplan] : 64;
		step++;
		if (written < n) {
			size_t len = chunk ? chunk : 1;
			/* after a malformed header src is closed: no SIGPIPE for that */
			ssize_t w = send(in[0], stream + written, len < n - written ? len : n - written, MSG_NOSIGNAL);
			if (w < 0 && errno == EPIPE)
				w = (ssize_t)(n - written);
			if (w > 0)
				written += (size_t)w;
			if (written == n)
				shutdown(in[0], SHUT_WR);
		} else if (n == 0 && written == 0) {
			shutdown(in[0], SHUT_WR);
			written = 1;	/* once */
		}
		event_base_loop(base, EVLOOP_NONBLOCK);
		/* drain: a little while writing, everything once the input is over */
		size_t want = written >= n ? size + 1 - got_len : (size_t)drain;
		while (want > 0 && got_len <= size) {
			ssize_t r = read(out[1], got + got_len, want < size + 1 - got_len ? want : size + 1 - got_len);
			if (r <= 0)
				break;
			got_len += (size_t)r;
			want = want > (size_t)r ? want - (size_t)r : 0;
		}
	}
	/* the last bytes dst sent */
	for (;;) {
		ssize_t r = read(out[1], got + got_len, size + 1 - got_len);
		if (r <= 0)
			break;
		got_len += (size_t)r;
	}

	CHECK(got_len >= full && got_len <= full + partial_max);
	CHECK(memcmp(got, expect, full) == 0);
	if (got_len > full) {
		/* the cut message's first bytes, as they were in the stream */
		size_t cut = n - partial_max;
		CHECK(memcmp(got + full, stream + cut, got_len - full) == 0);
	}

	sbuf_close(&t.dst);
	if (!t.src_done)
		sbuf_close(&t.src);
	event_base_loop(base, EVLOOP_NONBLOCK);
	close(in[0]);
	close(out[1]);
	free(stream);
	free(chunks);
	free(drains);
	free(expect);
	free(got);
	return 0;
}
