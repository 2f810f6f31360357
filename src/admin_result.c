/*
 * Result sets of the admin console (see admin_result.h).
 */
#include "admin_result.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT4 23
#define OID_TEXT 25
#define OID_NUMERIC 1700

static void put_column_type(struct pktbuf *pb, char type)
{
	uint32_t oid = OID_TEXT;
	int16_t len = -1;

	switch (type) {
	case 'i': oid = OID_INT4; len = 4; break;
	case 'q': oid = OID_INT8; len = 8; break;
	case 'N': oid = OID_NUMERIC; break;
	case 'b': oid = OID_BYTEA; break;
	default: break;		/* s, T: text */
	}
	pktbuf_put_u32(pb, oid);
	pktbuf_put_u16(pb, (uint16_t)len);
}

/* Every column of a set, in order (two loops: no break). */
#define for_each_column(col, set)						\
	for (int part_ = 0; part_ < COLSET_PARTS && (set)->parts[part_]; part_++)	\
		for (const struct column *col = (set)->parts[part_]; col->name; col++)

static void put_column(struct pktbuf *pb, const struct column *col)
{
	pktbuf_put_string(pb, col->name);
	pktbuf_put_u32(pb, 0);			/* table */
	pktbuf_put_u16(pb, 0);			/* column */
	put_column_type(pb, col->type);
	pktbuf_put_u32(pb, 0xffffffffu);	/* typmod -1 */
	pktbuf_put_u16(pb, 0);			/* text format */
}

static int count_columns(const struct colset *set)
{
	int n = 0;

	for_each_column(col, set)
		n++;
	return n;
}

void rs_begin(struct resultset *rs, struct pktbuf *pb, const struct colset *set)
{
	memset(rs, 0, sizeof(*rs));
	rs->pb = pb;
	rs->ncols = count_columns(set);
	rs->now = get_time_usec();
	rs->wall_offset = get_wall_usec() - rs->now;

	pktbuf_begin(pb, 'T');
	pktbuf_put_u16(pb, (uint16_t)rs->ncols);
	for_each_column(col, set)
		put_column(pb, col);
	pktbuf_end(pb);
}

void rs_row_begin(struct resultset *rs)
{
	rs->col = 0;
	pktbuf_begin(rs->pb, 'D');
	pktbuf_put_u16(rs->pb, (uint16_t)rs->ncols);
}

static void rs_put_bytes(struct resultset *rs, const void *data, int len)
{
	if (rs->col >= rs->ncols) {
		log_error("admin: more values than the %d columns", rs->ncols);
		return;
	}
	rs->col++;
	pktbuf_put_u32(rs->pb, (uint32_t)len);
	if (len > 0)
		pktbuf_put_bytes(rs->pb, data, (size_t)len);
}

void rs_str(struct resultset *rs, const char *s)
{
	rs_put_bytes(rs, s, s ? (int)strlen(s) : -1);
}

void rs_int(struct resultset *rs, int64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%" PRId64, v);
	rs_str(rs, buf);
}

void rs_uint(struct resultset *rs, uint64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	rs_str(rs, buf);
}

/* A monotonic timestamp, shown in local time like PgBouncer. */
void rs_time(struct resultset *rs, usec_t mono)
{
	char buf[64];
	struct tm tm;
	time_t t = (time_t)((mono + rs->wall_offset) / USEC_PER_SEC);

	if (!mono || !localtime_r(&t, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %Z", &tm)) {
		rs_str(rs, NULL);
		return;
	}
	rs_str(rs, buf);
}

void rs_row_end(struct resultset *rs)
{
	/* A short row would break the protocol: pad it, and say so. */
	if (rs->col < rs->ncols)
		log_error("admin: row with %d of %d columns", rs->col, rs->ncols);
	while (rs->col < rs->ncols)
		rs_str(rs, NULL);
	pktbuf_end(rs->pb);
}

void rs_row(struct resultset *rs, const struct colset *set, const void *row)
{
	rs_row_begin(rs);
	for_each_column(col, set) {
		if (col->put)
			col->put(rs, row);
		else
			rs_str(rs, NULL);
	}
	rs_row_end(rs);
}

void rs_empty(struct pktbuf *pb, const struct colset *set)
{
	struct resultset rs;
	rs_begin(&rs, pb, set);
}
