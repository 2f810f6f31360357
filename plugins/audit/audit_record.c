/* A statement's record: captured on the loop, rendered on the writer; see audit_record.h. */
#include "audit_record.h"

#include <stdlib.h>
#include <string.h>

#include "audit_chain.h"

#define NO_TEXT SIZE_MAX

struct capture {
	int64_t ints[CAP_NINTS];
	size_t offset[CAP_NTEXTS];	/* into texts; NO_TEXT: NULL */
	bool has_digest;
	uint8_t digest[32];
	char texts[];			/* each text followed by a NUL */
};

size_t audit_capture(struct capture_buf *buf, const struct statement_values *v)
{
	size_t lengths[CAP_NTEXTS], size = sizeof(struct capture);
	struct capture *c;
	char *at;

	for (int i = 0; i < CAP_NTEXTS; i++) {
		lengths[i] = v->texts[i] ? strlen(v->texts[i]) : 0;
		size += v->texts[i] ? lengths[i] + 1 : 0;
	}
	if (size > buf->cap) {
		uint8_t *data = realloc(buf->data, size);
		if (!data)
			abort();	/* no record may be lost quietly */
		buf->data = data;
		buf->cap = size;
	}
	c = (struct capture *)buf->data;
	memcpy(c->ints, v->ints, sizeof(c->ints));
	c->has_digest = v->has_digest;
	memcpy(c->digest, v->digest, sizeof(c->digest));
	at = c->texts;
	for (int i = 0; i < CAP_NTEXTS; i++) {
		if (!v->texts[i]) {
			c->offset[i] = NO_TEXT;
			continue;
		}
		c->offset[i] = (size_t)(at - c->texts);
		memcpy(at, v->texts[i], lengths[i] + 1);
		at += lengths[i] + 1;
	}
	return size;
}

void audit_capture_buf_free(struct capture_buf *buf)
{
	free(buf->data);
	buf->data = NULL;
	buf->cap = 0;
}

static const char *text_of(const struct capture *c, enum capture_text which)
{
	return c->offset[which] == NO_TEXT ? NULL : c->texts + c->offset[which];
}

const char *audit_capture_sql(const void *capture)
{
	return text_of(capture, CAP_SQL);
}

enum member_type { M_INT, M_TEXT, M_JSON, M_DIGEST };

/* The record's keys in their order (doc/audit.md); index: into ints or texts. */
static const struct member {
	const char *key;
	size_t key_len;
	enum member_type type;
	int index;
} members[] = {
#define MEMBER(key, type, index) { key, sizeof(key) - 1, type, index }
	MEMBER("session", M_INT, CAP_SESSION),
	MEMBER("start_us", M_INT, CAP_START_US),
	MEMBER("duration_us", M_INT, CAP_DURATION_US),
	MEMBER("sql", M_TEXT, CAP_SQL),
	MEMBER("original_sql", M_TEXT, CAP_ORIGINAL_SQL),
	MEMBER("statement_name", M_TEXT, CAP_STATEMENT_NAME),
	MEMBER("statement_index", M_INT, CAP_STATEMENT_INDEX),
	MEMBER("params", M_JSON, CAP_PARAMS_JSON),
	MEMBER("command_tag", M_TEXT, CAP_COMMAND_TAG),
	MEMBER("rows_returned", M_INT, CAP_ROWS_RETURNED),
	MEMBER("rows_affected", M_INT, CAP_ROWS_AFFECTED),
	MEMBER("bytes_returned", M_INT, CAP_BYTES_RETURNED),
	MEMBER("columns", M_JSON, CAP_COLUMNS_JSON),
	MEMBER("masked_columns", M_JSON, CAP_MASKED_JSON),
	MEMBER("result_sha256", M_DIGEST, 0),
	MEMBER("result_sample", M_JSON, CAP_SAMPLE_JSON),
	MEMBER("sqlstate", M_TEXT, CAP_SQLSTATE),
	MEMBER("error", M_TEXT, CAP_ERROR),
	MEMBER("decision", M_TEXT, CAP_DECISION),
	MEMBER("decided_by", M_TEXT, CAP_DECIDED_BY),
	MEMBER("decision_note", M_TEXT, CAP_DECISION_NOTE),
	MEMBER("run", M_TEXT, CAP_RUN),
#undef MEMBER
};

/* A member whose value is null is left out (a JSON reader, json_extract
 * and the views read a missing key as null): a statement leaves about
 * half of its keys null, and every byte is hashed, written to the WAL and
 * copied again at the checkpoint. */
static void render_member(const struct capture *c, const struct member *m, struct json_text *out)
{
	const char *text = m->type == M_TEXT || m->type == M_JSON ? text_of(c, m->index) : NULL;
	char quoted[2 * sizeof(c->digest) + 3];	/* "hex" */

	switch (m->type) {
	case M_INT:
		jt_name(out, m->key, m->key_len);
		jt_int(out, c->ints[m->index]);
		break;
	case M_TEXT:
		if (!text)
			break;
		jt_name(out, m->key, m->key_len);
		jt_str(out, text);
		break;
	case M_JSON:
		if (!text || !text[0])
			break;
		jt_name(out, m->key, m->key_len);
		jt_raw(out, text, strlen(text));
		break;
	case M_DIGEST:
		if (!c->has_digest)
			break;
		quoted[0] = '"';
		audit_hex(c->digest, sizeof(c->digest), quoted + 1);
		quoted[sizeof(quoted) - 2] = '"';
		jt_name(out, m->key, m->key_len);
		jt_raw(out, quoted, sizeof(quoted) - 1);
		break;
	}
}

void audit_capture_render(const void *capture, struct json_text *out)
{
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
		render_member(capture, &members[i], out);
}
