/*
 * Unit tests for the OIDC plugin's claim checks (plugins/oidc/oidc_token.c):
 * a token's times, issuer and audience, and the time claims the fuzzer
 * (fuzz_jwt) found could overflow - 2^63-1 once overflowed exp + clock_skew
 * and 3.58e28 was an undefined float->int conversion (UBSan in the ASan
 * build).  Tokens are built here unsigned: these checks never look at the
 * signature (oidc_keys.c does).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "oidc_token.h"

#define NOW 1800000000LL

static const struct oidc_claim_policy policy = {
	.issuer = "https://idp.test", .audience = "pgwarden", .clock_skew = 30,
};

/* base64url without padding */
static void b64url(const char *in, char *out)
{
	int n = EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in, (int)strlen(in));

	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (char *p = out; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
}

/* 0 when the claims pass at NOW, else -1 with why in err. */
static int check(const char *claims_json, char *err, size_t errlen)
{
	char header[64], payload[1024], token[1200];
	struct oidc_token t;
	int rc;

	b64url("{\"alg\":\"RS256\"}", header);
	b64url(claims_json, payload);
	snprintf(token, sizeof(token), "%s.%s.AAAA", header, payload);
	err[0] = '\0';
	assert_int_equal(oidc_token_parse(token, strlen(token), 8192, &t, err, errlen), 0);
	rc = oidc_token_check_claims(&t, &policy, NOW, err, errlen);
	oidc_token_free(&t);
	return rc;
}

static void assert_refused(const char *claims_json, const char *why)
{
	char err[256];

	if (check(claims_json, err, sizeof(err)) != -1 || !strstr(err, why))
		fail_msg("%s: wanted a refusal with \"%s\", got \"%s\"", claims_json, why, err);
}

static void test_good_claims_pass(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(check("{\"iss\":\"https://idp.test\",\"aud\":[\"x\",\"pgwarden\"],\"sub\":\"a\","
			       "\"exp\":1800000600,\"iat\":1800000000,\"nbf\":1799999990}", err, sizeof(err)), 0);
	/* within the clock skew either way */
	assert_int_equal(check("{\"iss\":\"https://idp.test\",\"aud\":\"pgwarden\",\"exp\":1800000001,"
			       "\"nbf\":1800000020}", err, sizeof(err)), 0);
}

static void test_wrong_issuer_audience_and_times_are_refused(void **state)
{
	(void)state;
	assert_refused("{\"iss\":\"https://evil.test\",\"aud\":\"pgwarden\",\"exp\":1800000600}", "issuer");
	assert_refused("{\"iss\":\"https://idp.test\",\"aud\":\"other\",\"exp\":1800000600}", "audience");
	assert_refused("{\"iss\":\"https://idp.test\",\"aud\":\"pgwarden\"}", "no expiry");
	assert_refused("{\"iss\":\"https://idp.test\",\"aud\":\"pgwarden\",\"exp\":1799999900}", "expired");
	assert_refused("{\"iss\":\"https://idp.test\",\"aud\":\"pgwarden\",\"exp\":1800000600,\"nbf\":1800000100}",
		       "not valid before");
	assert_refused("{\"iss\":\"https://idp.test\",\"aud\":\"pgwarden\",\"exp\":\"1800000600\"}", "NumericDate");
}

static void test_times_beyond_year_9999_are_refused(void **state)
{
	(void)state;
	/* fuzz_jwt's two findings: no overflow, no undefined conversion, a refusal */
	assert_refused("{\"iss\":\"https://idp.test\",\"aud\":\"pgwarden\",\"exp\":9223372036854775807}",
		       "NumericDate");
	assert_refused("{\"iss\":\"https://idp.test\",\"aud\":\"pgwarden\",\"exp\":1800000600,\"iat\":3.58e28}",
		       "NumericDate");
	assert_refused("{\"iss\":\"https://idp.test\",\"aud\":\"pgwarden\",\"exp\":-9223372036854775807}",
		       "NumericDate");
	/* the last second of 9999 is still a date */
	assert_refused("{\"iss\":\"https://idp.test\",\"aud\":\"pgwarden\",\"exp\":253402300799,\"nbf\":253402300000}",
		       "not valid before");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_claims_pass),
		cmocka_unit_test(test_wrong_issuer_audience_and_times_are_refused),
		cmocka_unit_test(test_times_beyond_year_9999_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
