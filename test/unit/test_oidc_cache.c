/*
 * Unit tests for the OIDC plugin's verified-signature cache
 * (plugins/oidc/oidc_cache.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "oidc_cache.h"

/* A token hash whose set is `set` (the first four bytes pick it), told apart by `n`. */
static void hash_in_set(unsigned char hash[32], uint32_t set, unsigned char n)
{
	memset(hash, 0, 32);
	memcpy(hash, &set, sizeof(set));
	hash[31] = n;
}

static struct oidc_cache *new_cache(void)
{
	struct oidc_cache *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	return c;
}

/* Two agents whose tokens share a set both stay verified (direct-mapped,
 * each login evicted the other's token). */
static void test_tokens_sharing_a_set_both_stay(void **state)
{
	struct oidc_cache *c = new_cache();
	unsigned char a[32], b[32];

	(void)state;
	hash_in_set(a, 7, 1);
	hash_in_set(b, 7, 2);
	oidc_cache_remember(c, a, 2000, 1000);
	oidc_cache_remember(c, b, 2000, 1000);
	for (int login = 0; login < 3; login++) {
		assert_true(oidc_cache_verified(c, a, 1000));
		assert_true(oidc_cache_verified(c, b, 1000));
	}
	assert_int_equal(c->hits, 6);
	free(c);
}

/* A token is vouched for until its expiry, not after. */
static void test_expired_token_is_not_vouched_for(void **state)
{
	struct oidc_cache *c = new_cache();
	unsigned char a[32];

	(void)state;
	hash_in_set(a, 3, 1);
	oidc_cache_remember(c, a, 1500, 1000);
	assert_true(oidc_cache_verified(c, a, 1499));
	assert_false(oidc_cache_verified(c, a, 1500));
	free(c);
}

/* A full set gives up an expired entry first, else the one expiring first. */
static void test_full_set_replaces_expired_then_soonest(void **state)
{
	struct oidc_cache *c = new_cache();
	unsigned char h[6][32];

	(void)state;
	for (int i = 0; i < 6; i++)
		hash_in_set(h[i], 11, (unsigned char)(i + 1));
	oidc_cache_remember(c, h[0], 5000, 1000);
	oidc_cache_remember(c, h[1], 1100, 1000);	/* expires first */
	oidc_cache_remember(c, h[2], 6000, 1000);
	oidc_cache_remember(c, h[3], 7000, 1000);
	oidc_cache_remember(c, h[4], 8000, 1000);	/* full: h[1] goes */
	assert_false(oidc_cache_verified(c, h[1], 1050));
	for (int i = 0; i < 5; i++) {
		if (i != 1)
			assert_true(oidc_cache_verified(c, h[i], 1050));
	}
	/* at 5500 h[0] has expired: it goes, though h[2] expires sooner than the rest */
	oidc_cache_remember(c, h[5], 9000, 5500);
	assert_true(oidc_cache_verified(c, h[5], 5500));
	assert_true(oidc_cache_verified(c, h[2], 5500));
	assert_true(oidc_cache_verified(c, h[3], 5500));
	assert_true(oidc_cache_verified(c, h[4], 5500));
	free(c);
}

static void test_clear_forgets_everything(void **state)
{
	struct oidc_cache *c = new_cache();
	unsigned char a[32];

	(void)state;
	hash_in_set(a, 1, 1);
	oidc_cache_remember(c, a, 2000, 1000);
	oidc_cache_clear(c);
	assert_false(oidc_cache_verified(c, a, 1000));
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tokens_sharing_a_set_both_stay),
		cmocka_unit_test(test_expired_token_is_not_vouched_for),
		cmocka_unit_test(test_full_set_replaces_expired_then_soonest),
		cmocka_unit_test(test_clear_forgets_everything),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
