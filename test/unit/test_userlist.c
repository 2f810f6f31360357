/*
 * Unit tests for the auth_file reader (src/userlist.c): PgBouncer's line
 * format, its error messages, the "stop at the first broken line" rule, the
 * length limits, and robustness against junk and unterminated buffers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "userlist.h"
#include "../../src/log.h"

/* Log lines go to this file so tests can check PgBouncer's messages. */
static char log_path[] = "/tmp/pgwarden-test-userlist-log-XXXXXX";

static void log_reset(void)
{
	assert_int_equal(truncate(log_path, 0), 0);
}

static bool log_contains(const char *text)
{
	char buf[8192];
	FILE *f = fopen(log_path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, text) != NULL;
}

static struct userlist *parse(const char *text)
{
	log_reset();
	return userlist_parse(text, strlen(text));
}

static const char *secret_of(const struct userlist *ul, const char *name)
{
	const struct userlist_entry *e = userlist_find(ul, name);

	return e ? e->secret : NULL;
}

static void test_basic(void **state)
{
	struct userlist *ul = parse(
		"\"alice\" \"secret\"\n"
		"\"bob\" \"md5d0763edaa9d9bd2a9516280e9044d885\"\n"
		"\"carol\" \"SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy\"\n"
		"\"nopass\" \"\"\n");

	assert_int_equal(ul->n, 4);
	assert_string_equal(secret_of(ul, "alice"), "secret");
	assert_string_equal(secret_of(ul, "bob"), "md5d0763edaa9d9bd2a9516280e9044d885");
	assert_string_equal(secret_of(ul, "carol"), "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy");
	assert_string_equal(secret_of(ul, "nopass"), "");
	assert_false(log_contains("broken auth file"));
	userlist_free(ul);
}

static void test_find_is_exact(void **state)
{
	struct userlist *ul = parse("\"bob\" \"1\"\n\"bobby\" \"2\"\n\"Bob\" \"3\"\n");

	assert_string_equal(secret_of(ul, "bob"), "1");
	assert_string_equal(secret_of(ul, "bobby"), "2");
	assert_string_equal(secret_of(ul, "Bob"), "3");
	assert_null(userlist_find(ul, "bo"));
	assert_null(userlist_find(ul, "BOB"));
	assert_null(userlist_find(ul, "bob "));
	assert_null(userlist_find(ul, ""));
	assert_null(userlist_find(ul, NULL));
	assert_null(userlist_find(NULL, "bob"));
	userlist_free(ul);
}

static void test_comments_and_whitespace(void **state)
{
	struct userlist *ul = parse(
		"; comment line\n"
		"\n"
		"   \t\n"
		"   ; indented comment\n"
		"  \"alice\"   \"a\"\r\n"
		"\t\"bob\"\t\"b\"   \n");

	assert_int_equal(ul->n, 2);
	assert_string_equal(secret_of(ul, "alice"), "a");
	assert_string_equal(secret_of(ul, "bob"), "b");
	userlist_free(ul);
}

/* '#' is not a comment in auth_file: PgBouncer stops there. */
static void test_hash_is_broken(void **state)
{
	struct userlist *ul = parse("\"alice\" \"a\"\n# comment?\n\"bob\" \"b\"\n");

	assert_int_equal(ul->n, 1);
	assert_string_equal(secret_of(ul, "alice"), "a");
	assert_null(userlist_find(ul, "bob"));
	assert_true(log_contains("broken auth file"));
	userlist_free(ul);
}

static void test_quote_escapes(void **state)
{
	struct userlist *ul = parse("\"a\"\"b\" \"p\"\"q\"\"\"\n\"\"\"\" \"x\"\n");

	assert_int_equal(ul->n, 2);
	assert_string_equal(secret_of(ul, "a\"b"), "p\"q\"");
	assert_string_equal(secret_of(ul, "\""), "x");
	userlist_free(ul);
}

static void test_rest_of_line_ignored(void **state)
{
	struct userlist *ul = parse(
		"\"alice\" \"a\" extra \"stuff\" ; here\n"
		"\"bob\" junk \"b\"\n"
		"\"carol\"\"\" \"c\"x\n");

	assert_int_equal(ul->n, 3);
	assert_string_equal(secret_of(ul, "alice"), "a");
	/* PgBouncer skips anything up to the secret's opening quote */
	assert_string_equal(secret_of(ul, "bob"), "b");
	assert_string_equal(secret_of(ul, "carol\""), "c");
	assert_false(log_contains("broken auth file"));
	userlist_free(ul);
}

static void test_broken_lines(void **state)
{
	static const char *const cases[] = {
		"alice \"a\"\n",			/* no opening quote */
		"\"alice \"a\"\n",			/* the name swallows a quote, then no secret */
		"\"alice\"\n\"bob\" \"b\"\n",		/* no secret on the line */
		"\"alice\" \"a\n\"bob\" \"b\"\n",	/* secret not closed on its line */
		"\"alice\" a\n",			/* unquoted secret */
		"\"alice",				/* unterminated at end of input */
		"\"alice\" \"",
		"'alice' 'a'\n",
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct userlist *ul = parse(cases[i]);

		if (ul->n != 0)
			fail_msg("case %zu parsed %d entries", i, ul->n);
		assert_true(log_contains("broken auth file"));
		userlist_free(ul);
	}
}

/* Entries before the broken line stay, none after it are read. */
static void test_broken_keeps_earlier(void **state)
{
	struct userlist *ul = parse("\"a\" \"1\"\n\"b\" \"2\"\nbroken\n\"c\" \"3\"\n");

	assert_int_equal(ul->n, 2);
	assert_non_null(userlist_find(ul, "a"));
	assert_non_null(userlist_find(ul, "b"));
	assert_null(userlist_find(ul, "c"));
	userlist_free(ul);
}

static char *entry_line(size_t name_len, size_t secret_len)
{
	char *s = malloc(name_len + secret_len + 8);
	size_t n = 0;

	s[n++] = '"';
	memset(s + n, 'u', name_len);
	n += name_len;
	memcpy(s + n, "\" \"", 3);
	n += 3;
	memset(s + n, 'p', secret_len);
	n += secret_len;
	memcpy(s + n, "\"\n", 3);
	return s;
}

static void test_length_limits(void **state)
{
	struct userlist *ul;
	char *line;

	line = entry_line(127, 2047);
	ul = parse(line);
	assert_int_equal(ul->n, 1);
	assert_int_equal(strlen(ul->entries[0].name), 127);
	assert_int_equal(strlen(ul->entries[0].secret), 2047);
	userlist_free(ul);
	free(line);

	line = entry_line(128, 1);
	ul = parse(line);
	assert_int_equal(ul->n, 0);
	assert_true(log_contains("username too long in auth file"));
	userlist_free(ul);
	free(line);

	line = entry_line(1, 2048);
	ul = parse(line);
	assert_int_equal(ul->n, 0);
	assert_true(log_contains("password too long in auth file"));
	userlist_free(ul);
	free(line);
}

/* Like PgBouncer, the limit applies to the field as written, escapes included. */
static void test_length_counts_escapes(void **state)
{
	char line[256];
	struct userlist *ul;
	size_t n = 0;

	line[n++] = '"';
	for (int i = 0; i < 64; i++) {
		line[n++] = '"';
		line[n++] = '"';
	}
	strcpy(line + n, "\" \"p\"\n");
	ul = parse(line);
	assert_int_equal(ul->n, 0);
	assert_true(log_contains("username too long in auth file"));
	userlist_free(ul);
}

/* A later line for the same user wins; entries come out sorted and unique. */
static void test_duplicates(void **state)
{
	struct userlist *ul = parse("\"b\" \"1\"\n\"a\" \"x\"\n\"b\" \"2\"\n\"c\" \"y\"\n\"b\" \"3\"\n");

	assert_int_equal(ul->n, 3);
	assert_string_equal(secret_of(ul, "b"), "3");
	assert_string_equal(ul->entries[0].name, "a");
	assert_string_equal(ul->entries[1].name, "b");
	assert_string_equal(ul->entries[2].name, "c");
	userlist_free(ul);
}

static void test_empty_inputs(void **state)
{
	struct userlist *ul;

	ul = userlist_parse("", 0);
	assert_int_equal(ul->n, 0);
	assert_null(userlist_find(ul, "a"));
	userlist_free(ul);

	ul = userlist_parse(NULL, 0);
	assert_int_equal(ul->n, 0);
	userlist_free(ul);

	ul = parse("\n\n; nothing\n   ");
	assert_int_equal(ul->n, 0);
	assert_false(log_contains("broken auth file"));
	userlist_free(ul);
	userlist_free(NULL);
}

/* The buffer need not be NUL-terminated; len is the only bound. */
static void test_not_nul_terminated(void **state)
{
	static const char text[] = "\"alice\" \"a\"\n\"bob\" \"b\"";
	size_t len = sizeof(text) - 1;
	char *exact = malloc(len);
	struct userlist *ul;

	memcpy(exact, text, len);
	log_reset();
	ul = userlist_parse(exact, len);		/* ASan catches any read past len */
	assert_int_equal(ul->n, 2);
	assert_string_equal(secret_of(ul, "bob"), "b");
	userlist_free(ul);

	/* cut inside bob's secret: his line is broken */
	ul = userlist_parse(exact, len - 1);
	assert_int_equal(ul->n, 1);
	assert_true(log_contains("broken auth file"));
	userlist_free(ul);

	/* cut right after a doubled quote's first half */
	memcpy(exact, "\"a\" \"x\"\"", 8);
	ul = userlist_parse(exact, 7);
	assert_int_equal(ul->n, 1);
	assert_string_equal(secret_of(ul, "a"), "x");
	userlist_free(ul);
	free(exact);
}

static void test_nul_inside_field(void **state)
{
	static const char text[] = "\"al\0ice\" \"a\"\n";
	struct userlist *ul;

	log_reset();
	ul = userlist_parse(text, sizeof(text) - 1);
	assert_int_equal(ul->n, 0);
	assert_true(log_contains("broken auth file"));
	userlist_free(ul);
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/pgwarden-test-userlist-XXXXXX";
	static const char text[] = ";; users\n\"alice\" \"md5abc\"\n\"bob\" \"\"\n";
	int fd = mkstemp(path);
	struct userlist *ul;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
	close(fd);
	ul = userlist_load(path);
	assert_non_null(ul);
	assert_int_equal(ul->n, 2);
	assert_string_equal(secret_of(ul, "alice"), "md5abc");
	userlist_free(ul);
	unlink(path);

	log_reset();
	errno = 0;
	assert_null(userlist_load("/nonexistent/userlist.txt"));
	assert_int_equal(errno, ENOENT);
	assert_true(log_contains("could not open auth_file /nonexistent/userlist.txt"));
	assert_null(userlist_load(NULL));
}

static void test_many_users(void **state)
{
	size_t cap = 1 << 20, n = 0;
	char *text = malloc(cap);
	char name[32], want[32];
	struct userlist *ul;

	for (int i = 0; i < 5000; i++)
		n += snprintf(text + n, cap - n, "\"user%d\" \"pw%d\"\n", (i * 7919) % 5000, i);
	log_reset();
	ul = userlist_parse(text, n);
	assert_int_equal(ul->n, 5000);
	for (int i = 0; i < ul->n - 1; i++)
		assert_true(strcmp(ul->entries[i].name, ul->entries[i + 1].name) < 0);
	for (int i = 0; i < 5000; i += 101) {
		snprintf(name, sizeof(name), "user%d", (i * 7919) % 5000);
		snprintf(want, sizeof(want), "pw%d", i);
		assert_string_equal(secret_of(ul, name), want);
	}
	userlist_free(ul);
	free(text);
}

/* Random junk: no crash, no leak, and whatever was parsed can be found. */
static void test_fuzz(void **state)
{
	static const char alphabet[] = "\"\"\" ;#\n\r\tab\0";
	char buf[256];
	unsigned seed = 4242;

	for (int iter = 0; iter < 20000; iter++) {
		size_t len = rand_r(&seed) % sizeof(buf);
		bool raw = iter % 4 == 0;
		struct userlist *ul;

		for (size_t i = 0; i < len; i++)
			buf[i] = raw ? (char)rand_r(&seed) : alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
		ul = userlist_parse(buf, len);
		for (int i = 0; i < ul->n; i++)
			assert_ptr_equal(userlist_find(ul, ul->entries[i].name), &ul->entries[i]);
		userlist_free(ul);
	}
}

static int setup_log(void **state)
{
	int fd = mkstemp(log_path);
	struct log_settings s = { .logfile = log_path, .quiet = true };

	if (fd < 0)
		return -1;
	close(fd);
	log_configure(&s);
	return 0;
}

static int teardown_log(void **state)
{
	log_shutdown();
	unlink(log_path);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_find_is_exact),
		cmocka_unit_test(test_comments_and_whitespace),
		cmocka_unit_test(test_hash_is_broken),
		cmocka_unit_test(test_quote_escapes),
		cmocka_unit_test(test_rest_of_line_ignored),
		cmocka_unit_test(test_broken_lines),
		cmocka_unit_test(test_broken_keeps_earlier),
		cmocka_unit_test(test_length_limits),
		cmocka_unit_test(test_length_counts_escapes),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_empty_inputs),
		cmocka_unit_test(test_not_nul_terminated),
		cmocka_unit_test(test_nul_inside_field),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_many_users),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, setup_log, teardown_log);
}
