/*
 * libFuzzer harness for a statement's audit record (plugins/audit/
 * audit_record.c): whatever the texts and numbers captured on the loop,
 * the writer's rendering is one valid JSON object (jansson reads it back)
 * holding exactly the captured values: each text as it was when it is
 * UTF-8, else its bytea hex form; a NULL text's key absent; the numbers
 * unchanged.  Records are hashed and verified as stored, so a rendering
 * that is not JSON, or says something else than was captured, would be
 * an audit trail that lies.
 *
 * Input: 2 bytes of NULL flags, 7 x 8 bytes of numbers, then the texts
 * separated by 0xfe.  JSON parts (params, columns, ...) are built from
 * their text with json_text, as the plugin builds them.
 *
 *   test/fuzz/run.sh audit_record
 */
/* fuzz-build: plugins/audit/audit_record.c plugins/audit/json_text.c plugins/audit/audit_chain.c -- -ljansson -lcrypto */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_record.h"
#include "fuzz_check.h"

static const char *const text_keys[CAP_NTEXTS] = {
	[CAP_SQL] = "sql", [CAP_ORIGINAL_SQL] = "original_sql", [CAP_STATEMENT_NAME] = "statement_name",
	[CAP_PARAMS_JSON] = "params", [CAP_COMMAND_TAG] = "command_tag", [CAP_COLUMNS_JSON] = "columns",
	[CAP_MASKED_JSON] = "masked_columns", [CAP_SAMPLE_JSON] = "result_sample", [CAP_SQLSTATE] = "sqlstate",
	[CAP_ERROR] = "error", [CAP_DECISION] = "decision", [CAP_DECIDED_BY] = "decided_by",
	[CAP_DECISION_NOTE] = "decision_note", [CAP_RUN] = "run",
};
static const char *const int_keys[CAP_NINTS] = {
	"session", "start_us", "duration_us", "statement_index", "rows_returned", "rows_affected", "bytes_returned",
};

static bool is_json_part(int i)
{
	return i == CAP_PARAMS_JSON || i == CAP_COLUMNS_JSON || i == CAP_MASKED_JSON || i == CAP_SAMPLE_JSON;
}

/* What jansson must read back for a captured text: itself, or its hex form. */
static void check_string(json_t *value, const char *text)
{
	const char *got = json_string_value(value);

	CHECK(got);
	if (utf8_valid((const uint8_t *)text, strlen(text))) {
		CHECK(strcmp(got, text) == 0);
		return;
	}
	CHECK(got[0] == '\\' && got[1] == 'x' && strlen(got) == 2 + 2 * strlen(text));
	for (size_t i = 0; text[i]; i++) {
		unsigned int byte;
		CHECK(sscanf(got + 2 + 2 * i, "%2x", &byte) == 1 && byte == (uint8_t)text[i]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct capture_buf buf;	/* reused across inputs, as on the loop */
	struct statement_values v = { 0 };
	struct json_text parts[CAP_NTEXTS] = { 0 }, out = { 0 };
	char *texts[CAP_NTEXTS] = { 0 }, *rest;
	uint16_t nulls;
	json_t *obj;

	if (size < 2 + 8 * CAP_NINTS)
		return 0;
	nulls = (uint16_t)(data[0] | data[1] << 8);
	memcpy(v.ints, data + 2, sizeof(v.ints));
	v.has_digest = data[2] & 1;
	memcpy(v.digest, data + 2, sizeof(v.digest) < size - 2 ? sizeof(v.digest) : size - 2);
	rest = strndup((const char *)data + 2 + 8 * CAP_NINTS, size - 2 - 8 * CAP_NINTS);
	for (int i = 0; i < CAP_NTEXTS; i++) {
		char *sep = rest ? strchr(rest, '\xfe') : NULL;
		texts[i] = rest;
		if (sep)
			*sep = '\0';
		rest = sep ? sep + 1 : NULL;
		if (!texts[i] || (nulls >> i & 1))
			continue;
		if (is_json_part(i)) {
			jt_open(&parts[i], '[');	/* as the plugin's ["name", ...] */
			jt_str(&parts[i], texts[i]);
			jt_close(&parts[i], ']');
			v.texts[i] = parts[i].buf;
		} else {
			v.texts[i] = texts[i];
		}
	}
	audit_capture(&buf, &v);
	CHECK(audit_capture_sql(buf.data) == NULL ? v.texts[CAP_SQL] == NULL
						  : strcmp(audit_capture_sql(buf.data), v.texts[CAP_SQL]) == 0);
	jt_open(&out, '{');
	audit_capture_render(buf.data, &out);
	jt_close(&out, '}');
	obj = json_loadb(out.buf, out.len, 0, NULL);
	CHECK(obj && json_is_object(obj));
	for (int i = 0; i < CAP_NINTS; i++)
		CHECK(json_integer_value(json_object_get(obj, int_keys[i])) == v.ints[i]);
	for (int i = 0; i < CAP_NTEXTS; i++) {
		json_t *value = json_object_get(obj, text_keys[i]);
		if (!v.texts[i]) {
			CHECK(!value);
		} else if (is_json_part(i)) {
			CHECK(json_is_array(value) && json_array_size(value) == 1);
			check_string(json_array_get(value, 0), texts[i]);
		} else {
			check_string(value, texts[i]);
		}
	}
	CHECK(!json_object_get(obj, "result_sha256") == !v.has_digest);
	json_decref(obj);
	jt_free(&out);
	for (int i = 0; i < CAP_NTEXTS; i++)
		jt_free(&parts[i]);
	free(texts[0]);
	return 0;
}
