/*
 * Unit tests for interned strings (src/strpool.c) and the varcache built on
 * them: equal values share one copy and compare by pointer, the last holder
 * frees it (LeakSanitizer in the ASan build checks that nothing stays), and
 * long values are cut as before.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pgwarden.h"

static void test_equal_values_share_one_copy(void **state)
{
	(void)state;
	const char *a = strpool_get("Europe/Paris", 12);
	const char *b = strpool_get("Europe/Paris and more", 12);	/* only len bytes count */
	const char *c = strpool_get("UTC", 3);

	assert_ptr_equal(a, b);
	assert_string_equal(a, "Europe/Paris");
	assert_ptr_not_equal(a, c);
	strpool_put(a);
	/* still held by b */
	assert_string_equal(b, "Europe/Paris");
	assert_ptr_equal(strpool_share(b), b);
	strpool_put(b);
	strpool_put(b);
	strpool_put(c);
}

static void test_empty_is_a_constant(void **state)
{
	(void)state;
	const char *e = strpool_get("x", 0);

	assert_string_equal(e, "");
	strpool_put(e);		/* ignored */
	strpool_put(NULL);
	assert_null(strpool_share(NULL));
}

static void test_varcache_values_are_interned(void **state)
{
	(void)state;
	struct varcache client = { 0 }, server = { 0 }, copy = { 0 };
	char longval[300];
	struct pktbuf pb;

	assert_true(varcache_set(&client, "timezone", "UTC"));	/* names are case-insensitive */
	assert_true(varcache_set(&server, "TimeZone", "UTC"));
	assert_false(varcache_set(&client, "work_mem", "1GB"));
	assert_ptr_equal(client.value[VAR_TIMEZONE], server.value[VAR_TIMEZONE]);
	assert_string_equal(varcache_get(&client, VAR_DATESTYLE), "");

	/* same values: nothing to SET; a different one: SET it */
	pktbuf_init(&pb);
	assert_false(varcache_build_sync(&client, &server, &pb));
	varcache_set_id(&client, VAR_DATESTYLE, "ISO, MDY");
	assert_true(varcache_build_sync(&client, &server, &pb));
	assert_non_null(memmem(pb.data, pb.len, "SET DateStyle='ISO, MDY';", 25));
	pktbuf_free(&pb);

	memset(longval, 'a', sizeof(longval) - 1);
	longval[sizeof(longval) - 1] = '\0';
	varcache_set_id(&client, VAR_APPNAME, longval);
	assert_int_equal(strlen(varcache_get(&client, VAR_APPNAME)), VAR_MAX_LEN - 1);

	varcache_copy(&copy, &client);
	varcache_fill_unset(&server, &client);
	assert_ptr_equal(copy.value[VAR_APPNAME], client.value[VAR_APPNAME]);
	assert_ptr_equal(server.value[VAR_DATESTYLE], client.value[VAR_DATESTYLE]);
	varcache_set_id(&client, VAR_APPNAME, NULL);
	assert_string_equal(varcache_get(&client, VAR_APPNAME), "");
	assert_int_equal(strlen(varcache_get(&copy, VAR_APPNAME)), VAR_MAX_LEN - 1);

	varcache_clear(&client);
	varcache_clear(&server);
	varcache_clear(&copy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_equal_values_share_one_copy),
		cmocka_unit_test(test_empty_is_a_constant),
		cmocka_unit_test(test_varcache_values_are_interned),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
