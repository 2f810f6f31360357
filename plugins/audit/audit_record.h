/*
 * A statement's audit record in two steps: captured on the event loop as
 * the values themselves, written out as JSON on the writer thread.
 *
 * Why: the event loop is the pooler's one serial resource, and formatting
 * a record (twenty-odd keys, every string checked for UTF-8 and escaped)
 * was most of what auditing cost it per statement.  A capture is a copy:
 * the numbers, the 32 digest bytes and the texts end to end in one block
 * that the store queues as it is.  The writer renders the same JSON the
 * record always had (keys and order as doc/audit.md), so files, views and
 * pgwarden-audit do not change.
 *
 *   struct statement_values v = { ... };          (loop: pointers borrowed)
 *   size_t n = audit_capture(&buf, &v);          (loop: one copy into buf)
 *   audit_store_put_statement(st, at_us, buf.data, n);
 *   ...
 *   audit_capture_render(capture, &json);         (writer: the members)
 */
#ifndef PGWARDEN_AUDIT_RECORD_H
#define PGWARDEN_AUDIT_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json_text.h"

enum capture_int {
	CAP_SESSION,
	CAP_START_US,
	CAP_DURATION_US,
	CAP_STATEMENT_INDEX,
	CAP_ROWS_RETURNED,
	CAP_ROWS_AFFECTED,
	CAP_BYTES_RETURNED,
	CAP_NINTS
};

/* Texts are strings (NULL: JSON null) or, for the ..._JSON ones, JSON
 * text already encoded (NULL or "": null). */
enum capture_text {
	CAP_SQL,
	CAP_ORIGINAL_SQL,
	CAP_STATEMENT_NAME,
	CAP_PARAMS_JSON,
	CAP_COMMAND_TAG,
	CAP_COLUMNS_JSON,
	CAP_MASKED_JSON,
	CAP_SAMPLE_JSON,
	CAP_SQLSTATE,
	CAP_ERROR,
	CAP_DECISION,
	CAP_DECIDED_BY,
	CAP_DECISION_NOTE,
	CAP_RUN,
	CAP_NTEXTS
};

struct statement_values {
	int64_t ints[CAP_NINTS];
	const char *texts[CAP_NTEXTS];	/* borrowed until audit_capture returns */
	bool has_digest;
	uint8_t digest[32];		/* SHA-256 of the result as sent */
};

/* Where captures are made; grows as needed, reused from one to the next. */
struct capture_buf {
	uint8_t *data;
	size_t cap;
};

/* Copies v into buf; returns the capture's size in bytes. */
size_t audit_capture(struct capture_buf *buf, const struct statement_values *v);
void audit_capture_buf_free(struct capture_buf *buf);

/* The statement's SQL text inside a capture; NULL when it had none. */
const char *audit_capture_sql(const void *capture);

/* The record's members, in the record's key order, appended to out (an
 * object opened by the caller, who closes it). */
void audit_capture_render(const void *capture, struct json_text *out);

#endif
