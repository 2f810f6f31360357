/*
 * Unit tests for the redact plugin's mask methods (plugins/redact/redact_mask.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "redact_mask.h"

static EVP_MAC_CTX *hmac;

static void assert_mask(enum mask_method method, int keep, const char *fixed, const char *in, int binary,
			uint32_t type, const char *want)
{
	struct mask_rule rule = { .method = method, .keep = keep, .fixed = (char *)fixed };
	uint8_t *out;
	int32_t len;

	mask_value(&rule, (const uint8_t *)in, strlen(in), binary, type, hmac, &out, &len);
	if (!want) {
		assert_null(out);
		assert_int_equal(len, -1);
		return;
	}
	assert_int_equal(len, (int32_t)strlen(want));
	assert_memory_equal(out, want, strlen(want));
	free(out);
}

static void test_partial(void **state)
{
	(void)state;
	assert_mask(MASK_PARTIAL, 4, NULL, "123-45-6789", 0, 25, "*******6789");
	/* characters, not bytes: the tail keeps whole UTF-8 characters */
	assert_mask(MASK_PARTIAL, 2, NULL, "caf\xc3\xa9s\xc3\xa9", 0, 25, "****s\xc3\xa9");
	/* too short to keep anything: all hidden, at least four stars */
	assert_mask(MASK_PARTIAL, 4, NULL, "abc", 0, 25, "****");
	assert_mask(MASK_PARTIAL, 4, NULL, "", 0, 25, "****");
	assert_mask(MASK_PARTIAL, 4, NULL, "abcdef", 0, 25, "****cdef");
}

static void test_email_fixed_null(void **state)
{
	(void)state;
	assert_mask(MASK_EMAIL, 0, NULL, "alice@example.com", 0, 25, "***@example.com");
	assert_mask(MASK_EMAIL, 0, NULL, "no-at-sign", 0, 25, "***");
	assert_mask(MASK_FIXED, 0, "[hidden]", "secret", 0, 25, "[hidden]");
	assert_mask(MASK_FIXED, 0, "", "secret", 0, 25, "");
	assert_mask(MASK_NULL, 0, NULL, "secret", 0, 25, NULL);
}

static void test_hash_known_answer(void **state)
{
	uint8_t key[MASK_HASH_KEY_LEN];

	(void)state;
	memset(key, 0xab, sizeof(key));
	hmac = mask_hmac_new(key);
	assert_non_null(hmac);
	assert_mask(MASK_HASH, 0, NULL, "4111111111111111", 0, 25, "76365070dcf3ba256d209f151cbfdda0");
	/* the re-used context gives the same answer again, and another for another value */
	assert_mask(MASK_HASH, 0, NULL, "4111111111111111", 0, 25, "76365070dcf3ba256d209f151cbfdda0");
	assert_mask(MASK_HASH, 0, NULL, "4111111111111112", 0, 25, "83dbd738add48ca171e0fb9b6fc45116");
	EVP_MAC_CTX_free(hmac);
	hmac = NULL;
}

static void test_binary(void **state)
{
	(void)state;
	/* text types carry text bytes in binary too */
	assert_mask(MASK_EMAIL, 0, NULL, "a@b.c", 1, 1043, "***@b.c");
	assert_mask(MASK_FIXED, 0, "x", "abc", 1, 1042, "x");
	/* any other binary value (int4, bytea, unknown) becomes NULL */
	assert_mask(MASK_FIXED, 0, "x", "\x00\x00\x00\x2a", 1, 23, NULL);
	assert_mask(MASK_PARTIAL, 4, NULL, "abcdef", 1, 17, NULL);
	assert_mask(MASK_HASH, 0, NULL, "abc", 1, 0, NULL);
	assert_true(mask_type_is_text(25) && mask_type_is_text(19) && !mask_type_is_text(23));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_partial),
		cmocka_unit_test(test_email_fixed_null),
		cmocka_unit_test(test_hash_known_answer),
		cmocka_unit_test(test_binary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
