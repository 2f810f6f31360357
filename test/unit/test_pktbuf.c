/*
 * Unit tests for message framing: building messages and parsing headers and
 * bodies, including the malformed lengths a hostile client can send.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "pktbuf.h"

static void test_build_query(void **state)
{
	struct pktbuf pb;
	pktbuf_init(&pb);
	pktbuf_query(&pb, "select 1");
	/* 'Q' + int32 length (4 + 9) + "select 1\0" */
	assert_int_equal(pb.len, 1 + 4 + 9);
	assert_int_equal(pb.data[0], 'Q');
	assert_int_equal(pb.data[4], 13);
	assert_memory_equal(pb.data + 5, "select 1", 9);
	pktbuf_free(&pb);
}

static void test_build_startup(void **state)
{
	struct pktbuf pb;
	pktbuf_init(&pb);
	pktbuf_begin(&pb, PKT_STARTUP_TYPE);
	pktbuf_put_u32(&pb, PKT_PROTO_V3);
	pktbuf_put_string(&pb, "user");
	pktbuf_put_string(&pb, "bob");
	pktbuf_put_u8(&pb, 0);
	pktbuf_end(&pb);
	/* no type byte: length counts itself */
	assert_int_equal(pb.len, 4 + 4 + 5 + 4 + 1);
	assert_int_equal(pb.data[3], pb.len);

	struct pkt_header hdr;
	assert_int_equal(pkt_parse_header(pb.data, pb.len, true, 10000, &hdr), PKT_HDR_OK);
	assert_int_equal(hdr.len, pb.len);
	assert_int_equal(hdr.hdr_len, 4);
	pktbuf_free(&pb);
}

static void test_error_roundtrip(void **state)
{
	struct pktbuf pb;
	const char *sqlstate, *msg;
	pktbuf_init(&pb);
	pktbuf_error(&pb, "FATAL", "28P01", "password authentication failed");
	struct pkt_header hdr;
	assert_int_equal(pkt_parse_header(pb.data, pb.len, false, 100000, &hdr), PKT_HDR_OK);
	assert_int_equal(hdr.type, 'E');
	assert_int_equal(hdr.len, pb.len);
	pkt_parse_error_fields(pb.data + 5, pb.len - 5, &sqlstate, &msg);
	assert_string_equal(sqlstate, "28P01");
	assert_string_equal(msg, "password authentication failed");
	pktbuf_free(&pb);
}

static void test_header_incomplete(void **state)
{
	const uint8_t buf[] = { 'Q', 0, 0 };
	struct pkt_header hdr;
	assert_int_equal(pkt_parse_header(buf, sizeof(buf), false, 1000, &hdr), PKT_HDR_INCOMPLETE);
	assert_int_equal(pkt_parse_header(buf, 0, true, 1000, &hdr), PKT_HDR_INCOMPLETE);
}

static void test_header_bad_lengths(void **state)
{
	struct pkt_header hdr;
	const uint8_t zero[] = { 'Q', 0, 0, 0, 0 };
	const uint8_t three[] = { 'Q', 0, 0, 0, 3 };
	const uint8_t negative[] = { 'Q', 0xff, 0xff, 0xff, 0xf0 };
	const uint8_t huge[] = { 'Q', 0x7f, 0xff, 0xff, 0xff };
	const uint8_t startup_short[] = { 0, 0, 0, 7 };

	assert_int_equal(pkt_parse_header(zero, 5, false, 1000, &hdr), PKT_HDR_BAD);
	assert_int_equal(pkt_parse_header(three, 5, false, 1000, &hdr), PKT_HDR_BAD);
	assert_int_equal(pkt_parse_header(negative, 5, false, INT32_MAX, &hdr), PKT_HDR_BAD);
	assert_int_equal(pkt_parse_header(huge, 5, false, 1000, &hdr), PKT_HDR_BAD);
	assert_int_equal(pkt_parse_header(startup_short, 4, true, 1000, &hdr), PKT_HDR_BAD);
}

static void test_reader_bounds(void **state)
{
	const uint8_t body[] = { 'a', 'b', 0, 0, 0, 0, 42, 'x' };
	struct pktreader r;
	const char *s;
	uint32_t v;

	pktreader_init(&r, body, sizeof(body));
	assert_true(pkt_get_string(&r, &s));
	assert_string_equal(s, "ab");
	assert_true(pkt_get_u32(&r, &v));
	assert_int_equal(v, 42);
	/* "x" has no terminator: must fail, and stay failed */
	assert_false(pkt_get_string(&r, &s));
	assert_false(pkt_get_u32(&r, &v));
	assert_int_equal(pkt_remaining(&r), 0);
}

static void test_reader_truncated_int(void **state)
{
	const uint8_t body[] = { 0, 1 };
	struct pktreader r;
	uint32_t v;
	uint16_t s;
	pktreader_init(&r, body, sizeof(body));
	assert_false(pkt_get_u32(&r, &v));
	pktreader_init(&r, body, sizeof(body));
	assert_true(pkt_get_u16(&r, &s));
	assert_int_equal(s, 1);
}

/* DataRow columns: text, NULL (-1), and a length running past the end. */
static void test_reader_columns(void **state)
{
	const uint8_t row[] = { 0, 2, 0, 0, 0, 2, 'h', 'i', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 9, 'x' };
	struct pktreader r;
	const uint8_t *val;
	uint32_t len;
	uint16_t ncols;

	pktreader_init(&r, row, sizeof(row));
	assert_true(pkt_get_u16(&r, &ncols));
	assert_int_equal(ncols, 2);
	assert_true(pkt_get_column(&r, &val, &len));
	assert_int_equal(len, 2);
	assert_memory_equal(val, "hi", 2);
	assert_true(pkt_get_column(&r, &val, &len));
	assert_null(val);
	assert_int_equal(len, 0);
	assert_false(pkt_get_column(&r, &val, &len));
}

/* A DataRow length below -1 is malformed, not NULL. */
static void test_reader_negative_column(void **state)
{
	const uint8_t col[] = { 0xff, 0xff, 0xff, 0xfe, 'x' };
	struct pktreader r;
	const uint8_t *val;
	uint32_t len;

	pktreader_init(&r, col, sizeof(col));
	assert_false(pkt_get_column(&r, &val, &len));
}

/* ReadyForQuery: exactly one of PostgreSQL's three status bytes. */
static void test_read_ready(void **state)
{
	(void)state;
	assert_int_equal(pkt_read_ready((const uint8_t *)"I", 1), 'I');
	assert_int_equal(pkt_read_ready((const uint8_t *)"T", 1), 'T');
	assert_int_equal(pkt_read_ready((const uint8_t *)"E", 1), 'E');
	assert_int_equal(pkt_read_ready((const uint8_t *)"", 0), 0);	/* missing */
	assert_int_equal(pkt_read_ready((const uint8_t *)"X", 1), 0);	/* unknown */
	assert_int_equal(pkt_read_ready((const uint8_t *)"\0", 1), 0);
	assert_int_equal(pkt_read_ready((const uint8_t *)"II", 2), 0);	/* trailing byte */
}

static void test_read_startup(void **state)
{
	const uint8_t ssl[] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };
	const uint8_t ssl_long[] = { 0, 0, 0, 9, 0x04, 0xd2, 0x16, 0x2f, 0 };
	const uint8_t cancel[] = { 0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 1, 2, 3, 4, 5, 6, 7, 8 };
	const uint8_t v2[] = { 0, 0, 0, 9, 0, 2, 0, 0, 0 };
	const uint8_t v3[] = { 0, 0, 0, 17, 0, 3, 0, 0, 'u', 's', 'e', 'r', 0, 'b', 'o', 'b', 0 };
	const uint8_t v3_2[] = { 0, 0, 0, 9, 0, 3, 0, 2, 0 };
	const uint8_t v4[] = { 0, 0, 0, 9, 0, 4, 0, 0, 0 };
	struct pkt_startup st;
	const char *name, *value;

	assert_null(pkt_read_startup(ssl, sizeof(ssl), &st));
	assert_int_equal(st.kind, PKT_STARTUP_SSL);
	assert_string_equal(pkt_read_startup(ssl_long, sizeof(ssl_long), &st), "bad packet");
	assert_null(pkt_read_startup(cancel, sizeof(cancel), &st));
	assert_int_equal(st.kind, PKT_STARTUP_CANCEL);
	assert_ptr_equal(st.cancel_key, cancel + 8);
	assert_null(pkt_read_startup(cancel, sizeof(cancel) - 1, &st));
	assert_null(st.cancel_key);
	assert_string_equal(pkt_read_startup(v2, sizeof(v2), &st), "old V2 protocol not supported");
	/* the parameter list lacks its terminator */
	assert_null(pkt_read_startup(v3, sizeof(v3), &st));
	assert_int_equal(st.kind, PKT_STARTUP_V3);
	assert_int_equal(pkt_next_param(&st.params, &name, &value), PKT_PARAM);
	assert_string_equal(name, "user");
	assert_string_equal(value, "bob");
	assert_int_equal(pkt_next_param(&st.params, &name, &value), PKT_PARAM_BAD);
	assert_int_equal(st.minor, 0);
	/* 3.2: accepted, the minor version kept for NegotiateProtocolVersion */
	assert_null(pkt_read_startup(v3_2, sizeof(v3_2), &st));
	assert_int_equal(st.kind, PKT_STARTUP_V3);
	assert_int_equal(st.minor, 2);
	assert_int_equal(pkt_next_param(&st.params, &name, &value), PKT_PARAM_END);
	assert_string_equal(pkt_read_startup(v4, sizeof(v4), &st), "bad packet header");
}

static void test_read_bind(void **state)
{
	/* portal "", statement "s", one format (binary) for two parameters:
	 * 'ab' and NULL; no result formats */
	const uint8_t bind[] = { 0, 's', 0, 0, 1, 0, 1, 0, 2, 0, 0, 0, 2, 'a', 'b', 0xff, 0xff, 0xff, 0xff, 0, 0 };
	uint8_t bad[sizeof(bind)];
	struct pkt_bind b;
	const uint8_t *data;
	uint32_t len;

	assert_true(pkt_read_bind(bind, sizeof(bind), &b));
	assert_string_equal(b.statement, "s");
	assert_int_equal(b.nparams, 2);
	assert_int_equal(pkt_bind_param_format(&b, 1), 1);
	assert_true(pkt_bind_next_param(&b, &data, &len));
	assert_memory_equal(data, "ab", 2);
	assert_true(pkt_bind_next_param(&b, &data, &len));
	assert_null(data);
	/* no result format count, or a length of -2: refused */
	assert_false(pkt_read_bind(bind, sizeof(bind) - 2, &b));
	memcpy(bad, bind, sizeof(bad));
	bad[18] = 0xfe;
	assert_false(pkt_read_bind(bad, sizeof(bad), &b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_query),
		cmocka_unit_test(test_reader_columns),
		cmocka_unit_test(test_build_startup),
		cmocka_unit_test(test_error_roundtrip),
		cmocka_unit_test(test_header_incomplete),
		cmocka_unit_test(test_header_bad_lengths),
		cmocka_unit_test(test_reader_bounds),
		cmocka_unit_test(test_reader_truncated_int),
		cmocka_unit_test(test_reader_negative_column),
		cmocka_unit_test(test_read_startup),
		cmocka_unit_test(test_read_bind),
		cmocka_unit_test(test_read_ready),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
