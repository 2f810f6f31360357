/*
 * Result sets of the admin console: a RowDescription built from a column
 * table, then DataRows.  Every column has PgBouncer's type letter:
 *   i int4, q int8, N numeric (uint64), s text, T timestamp (sent as text),
 *   b bytea
 * and every value is sent as text, as PgBouncer does.
 *
 * A column set is PgBouncer 1.18's columns, in 1.18's order, then the
 * columns later versions added: clients written for 1.18 read a prefix of
 * what they know.
 */
#ifndef PGWARDEN_ADMIN_RESULT_H
#define PGWARDEN_ADMIN_RESULT_H

#include "pgwarden.h"

struct resultset {
	struct pktbuf *pb;
	int ncols;
	int col;		/* next column of the row being built */
	usec_t now;		/* monotonic */
	usec_t wall_offset;	/* wall clock - monotonic clock, for T columns */
};

/* Writes the column's value for one row (whatever object the SHOW lists). */
typedef void (*column_fn)(struct resultset *rs, const void *row);

struct column {
	const char *name;
	char type;
	column_fn put;		/* NULL: the caller writes the values itself */
};

/* A column whose values the caller writes; the end of a column table. */
#define COL(name, type) { name, type, NULL }
#define COLS_END { NULL, 0, NULL }

/* Up to four column tables, each ended by COLS_END; unused parts NULL. */
#define COLSET_PARTS 4
struct colset {
	const struct column *parts[COLSET_PARTS];
};

void rs_begin(struct resultset *rs, struct pktbuf *pb, const struct colset *set);
/* One row, every value from its column's put function. */
void rs_row(struct resultset *rs, const struct colset *set, const void *row);

/* A row written value by value. */
void rs_row_begin(struct resultset *rs);
void rs_row_end(struct resultset *rs);
void rs_str(struct resultset *rs, const char *s);	/* NULL: SQL NULL */
void rs_int(struct resultset *rs, int64_t v);
void rs_uint(struct resultset *rs, uint64_t v);
void rs_time(struct resultset *rs, usec_t mono);	/* 0: NULL */

/* A result set with its columns and no rows. */
void rs_empty(struct pktbuf *pb, const struct colset *set);

#endif
