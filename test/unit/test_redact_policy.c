/*
 * Unit tests for the redact plugin's policy file (plugins/redact/redact_policy.c):
 * every key and mask method of a full file, quoting and comments, defaults,
 * policy selection with and without an identity, function globs, every
 * error message with its line, file loading, and robustness against junk.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "redact_policy.h"

#define DEFAULT "[policy default]\n"

/* load tests write their files here; removed in the group teardown. */
#define TMPDIR_TEMPLATE "/tmp/pgwarden-test-redact-XXXXXX"
#include "unit_tmpdir.h"

static const char *tmp_path(const char *name)
{
	static char buf[512];

	snprintf(buf, sizeof(buf), "%s/%s", tmpdir, name);
	return buf;
}

static void write_file(const char *path, const char *content, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(content, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static struct policy_set *parse(const char *text)
{
	char err[512];
	struct policy_set *set = policy_parse(text, strlen(text), err, sizeof(err));

	if (!set)
		fail_msg("unexpected parse error: %s\n--- input:\n%s", err, text);
	assert_string_equal(err, "");
	assert_non_null(set->fallback);
	assert_string_equal(set->fallback->name, "default");
	return set;
}

/* The error must be "LINE: ..." for exactly that line and hold fragment. */
static void expect_error_len(const char *text, size_t len, int line, const char *fragment)
{
	char err[512], prefix[32];
	struct policy_set *set = policy_parse(text, len, err, sizeof(err));

	if (set) {
		policy_set_free(set);
		fail_msg("parsed, expected error \"%d: ...%s...\"\n--- input:\n%s", line, fragment, text);
	}
	snprintf(prefix, sizeof(prefix), "%d: ", line);
	if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, fragment))
		fail_msg("got \"%s\", expected \"%d: ...%s...\"\n--- input:\n%s", err, line, fragment, text);
}

static void expect_error(const char *text, int line, const char *fragment)
{
	expect_error_len(text, strlen(text), line, fragment);
}

/* The example of the format, every key and every mask method. */
static const char full_file[] =
	"; who: first matching [policy NAME] section in file order\n"
	"[policy agents]\n"
	"groups = agents, analysts        ; identity groups (from an OIDC token)\n"
	"users = report_bot, etl          ; pooler user names\n"
	"read_only = on                   ; default off\n"
	"block = drop, truncate, alter, delete_without_where, update_without_where, grant, "
	"create_extension, copy_program, do, set_role, alter_system\n"
	"block_functions = pg_read_file, pg_ls_dir, lo_export, dblink*   ; globs\n"
	"deny_predicates_on_masked = on   ; default off\n"
	"mask public.users.ssn = partial 4\n"
	"mask users.email = email\n"
	"mask public.cards.number = hash\n"
	"mask public.users.note = fixed '***'\n"
	"mask public.users.secret = null\n"
	"\n"
	"[policy ops]\n"
	"users = admin\n"
	"block = drop, do, set_role\n"
	"\n"
	"[policy default]\n"
	"block = all\n";

static void check_mask(const struct mask_rule *m, const char *schema, const char *table, const char *column,
		       enum mask_method method, int line)
{
	if (schema)
		assert_string_equal(m->schema, schema);
	else
		assert_null(m->schema);
	assert_string_equal(m->table, table);
	assert_string_equal(m->column, column);
	assert_int_equal(m->method, method);
	assert_int_equal(m->line, line);
}

static void test_full_file(void **state)
{
	struct policy_set *set = parse(full_file);
	const struct policy *p = &set->policies[0], *ops = &set->policies[1];

	assert_int_equal(set->n, 3);
	assert_ptr_equal(set->fallback, &set->policies[2]);

	assert_string_equal(p->name, "agents");
	assert_int_equal(p->line, 2);
	assert_int_equal(p->ngroups, 2);
	assert_string_equal(p->groups[0], "agents");
	assert_string_equal(p->groups[1], "analysts");
	assert_int_equal(p->nusers, 2);
	assert_string_equal(p->users[0], "report_bot");
	assert_string_equal(p->users[1], "etl");
	assert_true(p->read_only);
	assert_true(p->deny_predicates_on_masked);
	assert_int_equal(p->block, GUARD_ALL);
	assert_int_equal(p->nfunctions, 4);
	assert_string_equal(p->functions[0], "pg_read_file");
	assert_string_equal(p->functions[1], "pg_ls_dir");
	assert_string_equal(p->functions[2], "lo_export");
	assert_string_equal(p->functions[3], "dblink*");

	assert_int_equal(p->nmasks, 5);
	check_mask(&p->masks[0], "public", "users", "ssn", MASK_PARTIAL, 9);
	assert_int_equal(p->masks[0].keep, 4);
	assert_null(p->masks[0].fixed);
	check_mask(&p->masks[1], NULL, "users", "email", MASK_EMAIL, 10);
	check_mask(&p->masks[2], "public", "cards", "number", MASK_HASH, 11);
	check_mask(&p->masks[3], "public", "users", "note", MASK_FIXED, 12);
	assert_string_equal(p->masks[3].fixed, "***");
	check_mask(&p->masks[4], "public", "users", "secret", MASK_NULL, 13);

	assert_string_equal(ops->name, "ops");
	assert_int_equal(ops->line, 15);
	assert_int_equal(ops->ngroups, 0);
	assert_null(ops->groups);
	assert_int_equal(ops->nusers, 1);
	assert_string_equal(ops->users[0], "admin");
	assert_int_equal(ops->block, GUARD_DROP | GUARD_DO | GUARD_SET_ROLE);
	assert_false(ops->read_only);
	assert_false(ops->deny_predicates_on_masked);

	assert_int_equal(set->fallback->line, 19);
	assert_int_equal(set->fallback->block, GUARD_ALL);
	assert_int_equal(set->fallback->ngroups + set->fallback->nusers, 0);
	policy_set_free(set);
}

/* Each guardrail word sets its own bit, whatever its case. */
static void test_guardrail_names(void **state)
{
	static const char *const names[] = {
		"drop", "TRUNCATE", "Alter", "delete_without_where", "update_without_where", "grant",
		"create_extension", "copy_program", "do", "set_role", "alter_system",
	};
	char text[128];

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(text, sizeof(text), DEFAULT "block = %s\n", names[i]);
		struct policy_set *set = parse(text);
		assert_int_equal(set->fallback->block, 1u << i);
		policy_set_free(set);
	}
}

static void test_defaults(void **state)
{
	struct policy_set *set = parse(DEFAULT);
	const struct policy *p = set->fallback;

	assert_int_equal(set->n, 1);
	assert_ptr_equal(p, &set->policies[0]);
	assert_int_equal(p->line, 1);
	assert_int_equal(p->block, GUARD_ALL);	/* fail safe */
	assert_false(p->read_only);
	assert_false(p->deny_predicates_on_masked);
	assert_int_equal(p->ngroups + p->nusers + p->nfunctions + p->nmasks, 0);
	assert_false(policy_function_blocked(p, "pg_read_file"));
	policy_set_free(set);
}

static void test_block_words(void **state)
{
	struct policy_set *set = parse(DEFAULT "block = none\n");
	assert_int_equal(set->fallback->block, 0);
	policy_set_free(set);

	set = parse(DEFAULT "block = NONE   ; everything goes\n");
	assert_int_equal(set->fallback->block, 0);
	policy_set_free(set);

	set = parse(DEFAULT "block = drop, all\n");
	assert_int_equal(set->fallback->block, GUARD_ALL);
	policy_set_free(set);

	set = parse(DEFAULT "block=grant,grant ,  do\n");
	assert_int_equal(set->fallback->block, GUARD_GRANT | GUARD_DO);
	policy_set_free(set);

	expect_error(DEFAULT "block = none, drop\n", 2, "none cannot be combined");
	expect_error(DEFAULT "block = all, none\n", 2, "none cannot be combined");
}

static void test_approve_keys(void **state)
{
	struct policy_set *set = parse(DEFAULT "block = drop\napprove = delete_without_where\n"
				       "approve_tables = Public.Payroll, secrets\napprove_fingerprints = 9F3A0C1D22B7E611\n");
	const struct policy *p = set->fallback;

	(void)state;
	assert_int_equal(p->approve, GUARD_DELETE_WITHOUT_WHERE);
	/* what needs an approval is refused without one */
	assert_int_equal(p->block, GUARD_DROP | GUARD_DELETE_WITHOUT_WHERE);
	assert_int_equal(p->napprove_tables, 2);
	assert_string_equal(p->approve_tables[0], "public.payroll");
	assert_string_equal(p->approve_tables[1], "secrets");
	assert_int_equal(p->napprove_fingerprints, 1);
	assert_string_equal(p->approve_fingerprints[0], "9f3a0c1d22b7e611");
	policy_set_free(set);

	expect_error(DEFAULT "approve = delete\n", 2, "unknown guardrail \"delete\" in approve");
	expect_error(DEFAULT "approve = none, drop\n", 2, "approve = none cannot be combined");
	expect_error(DEFAULT "approve_tables = a,,b\n", 2, "empty name in approve_tables");
}

static void test_booleans(void **state)
{
	static const struct {
		const char *word;
		bool value;
	} cases[] = {
		{ "on", true }, { "ON", true }, { "true", true }, { "Yes", true }, { "1", true },
		{ "off", false }, { "False", false }, { "no", false }, { "0", false },
	};
	char text[128];

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), DEFAULT "read_only = %s\ndeny_predicates_on_masked = %s\n",
			 cases[i].word, cases[i].word);
		struct policy_set *set = parse(text);
		assert_int_equal(set->fallback->read_only, cases[i].value);
		assert_int_equal(set->fallback->deny_predicates_on_masked, cases[i].value);
		policy_set_free(set);
	}
}

/* Keys, section words, policy names, methods and bare identifiers. */
static void test_case_insensitive(void **state)
{
	struct policy_set *set = parse(
		"[POLICY Default]\n"
		"READ_ONLY = Yes\n"
		"Block = Drop, TRUNCATE\n"
		"Block_Functions = PG_Read_File\n"
		"MASK Public.Users.\"Email\" = HASH\n"
		"Mask T.C = Partial 2\n");
	const struct policy *p = set->fallback;

	assert_string_equal(p->name, "default");
	assert_true(p->read_only);
	assert_int_equal(p->block, GUARD_DROP | GUARD_TRUNCATE);
	assert_string_equal(p->functions[0], "pg_read_file");
	check_mask(&p->masks[0], "public", "users", "Email", MASK_HASH, 5);
	check_mask(&p->masks[1], NULL, "t", "c", MASK_PARTIAL, 6);
	assert_int_equal(p->masks[1].keep, 2);
	policy_set_free(set);
}

static void test_quoted_identifiers(void **state)
{
	struct policy_set *set = parse(
		DEFAULT
		"mask \"My Schema\".\"Ta\"\"ble\".\"a=b ; c\" = null ; comment\n"
		"mask \"x\".\"it's\" = fixed 'q'\n"
		"mask _t.C$1 = hash\n"
		"mask\t\"MyTable\".id\t=\temail\n"
		"mask \"\"\"\".\"x\"\"\" = null\n");
	const struct policy *p = set->fallback;

	assert_int_equal(p->nmasks, 5);
	check_mask(&p->masks[0], "My Schema", "Ta\"ble", "a=b ; c", MASK_NULL, 2);
	check_mask(&p->masks[1], NULL, "x", "it's", MASK_FIXED, 3);
	assert_string_equal(p->masks[1].fixed, "q");
	check_mask(&p->masks[2], NULL, "_t", "c$1", MASK_HASH, 4);
	check_mask(&p->masks[3], NULL, "MyTable", "id", MASK_EMAIL, 5);
	check_mask(&p->masks[4], NULL, "\"", "x\"", MASK_NULL, 6);
	policy_set_free(set);

	/* the same column, once quoted and once bare, is a duplicate */
	expect_error(DEFAULT "mask s.t.c = null\nmask \"s\".T.\"c\" = hash\n", 3, "duplicate mask for s.t.c");
	/* but schema-qualified and unqualified are different rules */
	set = parse(DEFAULT "mask s.t.c = null\nmask t.c = hash\n");
	assert_int_equal(set->fallback->nmasks, 2);
	policy_set_free(set);
}

static void test_fixed_text(void **state)
{
	struct policy_set *set = parse(
		DEFAULT
		"mask t.a = fixed 'it''s'\n"
		"mask t.b = fixed ''\n"
		"mask t.c = fixed 'a ; b'   ; a real comment\n"
		"mask t.d = fixed ''''\n"
		"mask t.e = FIXED   '  spaced \"x\" '  \n"
		"mask t.f = partial 1\n"
		"mask t.g = partial 64\n");
	const struct policy *p = set->fallback;

	assert_string_equal(p->masks[0].fixed, "it's");
	assert_string_equal(p->masks[1].fixed, "");
	assert_string_equal(p->masks[2].fixed, "a ; b");
	assert_string_equal(p->masks[3].fixed, "'");
	assert_string_equal(p->masks[4].fixed, "  spaced \"x\" ");
	assert_int_equal(p->masks[5].keep, 1);
	assert_int_equal(p->masks[6].keep, 64);
	policy_set_free(set);
}

static void test_comments(void **state)
{
	struct policy_set *set = parse(
		"# hash comment\n"
		"   ; indented comment\n"
		"\n"
		"[policy p]   ; header comment\n"
		"groups = a;b, c ;comment\n"
		"users = x\t; after a tab\n"
		"  # groups = ignored\n"
		"[ policy default ]\r\n"
		"block = drop\r\n");
	const struct policy *p = &set->policies[0];

	assert_int_equal(p->line, 4);
	assert_int_equal(p->ngroups, 2);
	assert_string_equal(p->groups[0], "a;b");	/* no whitespace before ';' */
	assert_string_equal(p->groups[1], "c");
	assert_int_equal(p->nusers, 1);
	assert_string_equal(p->users[0], "x");
	assert_int_equal(set->fallback->line, 8);
	assert_int_equal(set->fallback->block, GUARD_DROP);
	policy_set_free(set);

	/* '#' after a value is not a comment: it stays in the name */
	set = parse("[policy p]\ngroups = g #1\n" DEFAULT);
	assert_string_equal(set->policies[0].groups[0], "g #1");
	policy_set_free(set);
}

static const char select_file[] =
	"[policy first]\n"
	"groups = a, b\n"
	"users = u1\n"
	"[policy second]\n"
	"groups = b, c\n"
	"users = u2, u1\n"
	"[policy default]\n"
	"[policy last]\n"
	"groups = z\n";

static const char *selected(const struct policy_set *set, int ngroups, const char *user, ...)
{
	const char *groups[8];
	va_list ap;

	va_start(ap, user);
	for (int i = 0; i < ngroups; i++)
		groups[i] = va_arg(ap, const char *);
	va_end(ap);
	return policy_select(set, groups, ngroups, user)->name;
}

static void test_select_identity(void **state)
{
	struct policy_set *set = parse(select_file);

	assert_string_equal(selected(set, 1, NULL, "c"), "second");
	assert_string_equal(selected(set, 1, NULL, "b"), "first");	/* first in file order */
	assert_string_equal(selected(set, 2, NULL, "c", "a"), "first");
	assert_string_equal(selected(set, 2, NULL, "x", "b"), "first");
	assert_string_equal(selected(set, 1, NULL, "z"), "last");	/* default never matches by name */
	assert_string_equal(selected(set, 1, NULL, "q"), "default");
	assert_string_equal(selected(set, 1, NULL, "A"), "default");	/* case-sensitive */
	assert_string_equal(selected(set, 0, NULL), "default");
	assert_ptr_equal(policy_select(set, NULL, 0, "u1"), set->fallback);
	/* with an identity the pooler user name does not count */
	assert_string_equal(selected(set, 1, "u1", "q"), "default");
	assert_string_equal(selected(set, 0, "u2"), "default");
	policy_set_free(set);
}

static void test_select_no_identity(void **state)
{
	struct policy_set *set = parse(select_file);

	assert_string_equal(selected(set, -1, "u1"), "first");
	assert_string_equal(selected(set, -1, "u2"), "second");
	assert_string_equal(selected(set, -1, "nobody"), "default");
	assert_string_equal(selected(set, -1, NULL), "default");
	/* without an identity groups do not count, even if a user is named so */
	assert_string_equal(selected(set, -1, "a"), "default");
	assert_ptr_equal(policy_select(set, NULL, -1, "u2"), &set->policies[1]);
	assert_null(policy_select(NULL, NULL, -1, "u1"));
	policy_set_free(set);
}

static void test_function_globs(void **state)
{
	struct policy_set *set = parse(DEFAULT "block_functions = pg_read_file, dblink*, lo_?xport, PG_LS_DIR, *_admin\n");
	const struct policy *p = set->fallback;

	assert_string_equal(p->functions[3], "pg_ls_dir");
	assert_true(policy_function_blocked(p, "dblink_exec"));
	assert_true(policy_function_blocked(p, "dblink"));
	assert_false(policy_function_blocked(p, "xdblink"));
	assert_true(policy_function_blocked(p, "lo_export"));
	assert_false(policy_function_blocked(p, "lo_eexport"));
	assert_true(policy_function_blocked(p, "pg_read_file"));
	assert_false(policy_function_blocked(p, "pg_read_file2"));
	assert_false(policy_function_blocked(p, "pg_read"));
	assert_true(policy_function_blocked(p, "pg_ls_dir"));
	assert_true(policy_function_blocked(p, "super_admin"));
	assert_false(policy_function_blocked(p, "now"));
	assert_false(policy_function_blocked(p, ""));
	assert_false(policy_function_blocked(p, NULL));
	assert_false(policy_function_blocked(NULL, "dblink"));
	policy_set_free(set);
}

static void test_guardrail_labels(void **state)
{
	assert_string_equal(guardrail_label(GUARD_DROP), "DROP");
	assert_string_equal(guardrail_label(GUARD_DELETE_WITHOUT_WHERE), "DELETE without WHERE");
	assert_string_equal(guardrail_label(GUARD_UPDATE_WITHOUT_WHERE), "UPDATE without WHERE");
	assert_string_equal(guardrail_label(GUARD_GRANT), "GRANT/REVOKE");
	assert_string_equal(guardrail_label(GUARD_CREATE_EXTENSION), "CREATE EXTENSION");
	assert_string_equal(guardrail_label(GUARD_COPY_PROGRAM), "COPY PROGRAM");
	assert_string_equal(guardrail_label(GUARD_SET_ROLE), "SET ROLE");
	assert_string_equal(guardrail_label(GUARD_ALTER_SYSTEM), "ALTER SYSTEM");
	for (unsigned bit = 0; bit < 11; bit++)
		assert_string_not_equal(guardrail_label((enum guardrail)(1u << bit)), "unknown guardrail");
	assert_string_equal(guardrail_label((enum guardrail)0), "unknown guardrail");
	assert_string_equal(guardrail_label((enum guardrail)(GUARD_DROP | GUARD_DO)), "unknown guardrail");
}

static void test_errors(void **state)
{
	static const struct {
		const char *text;
		int line;
		const char *fragment;
	} cases[] = {
		{ DEFAULT "blok = all\n", 2, "unknown key \"blok\"" },
		{ DEFAULT "read_only = on\n\nREAD_ONLY = off\n", 4, "duplicate key \"read_only\"" },
		{ "[policy a]\ngroups = g\n" DEFAULT "[policy A]\nusers = u\n", 4, "duplicate policy a (first at line 1)" },
		{ "[policy a]\ngroups = g\n\n", 3, "no [policy default] section" },
		{ "", 0, "no [policy default] section" },
		{ "; nothing\n# at all", 2, "no [policy default] section" },
		{ DEFAULT "block = none\ngroups = g\n", 3, "[policy default] cannot have groups" },
		{ DEFAULT "users = u\n", 2, "[policy default] cannot have users" },
		{ "[policy a]\nread_only = on\n" DEFAULT, 1, "policy a matches nobody: set groups or users" },
		{ DEFAULT "\n[policy b]\nblock = all\n", 3, "policy b matches nobody" },
		{ DEFAULT "block = drop, dorp\n", 2, "unknown guardrail \"dorp\"" },
		{ DEFAULT "block = drop,,do\n", 2, "empty guardrail name" },
		{ DEFAULT "block =\n", 2, "empty guardrail name" },
		{ DEFAULT "read_only = maybe\n", 2, "read_only must be on or off" },
		{ DEFAULT "deny_predicates_on_masked =\n", 2, "deny_predicates_on_masked must be on or off" },
		{ DEFAULT "mask t.c = scramble\n", 2, "unknown mask method \"scramble\"" },
		{ DEFAULT "mask t.c =\n", 2, "unknown mask method \"\"" },
		{ DEFAULT "mask t.c = partial\n", 2, "partial needs a number" },
		{ DEFAULT "mask t.c = partial 4x\n", 2, "partial needs a number" },
		{ DEFAULT "mask t.c = partial -1\n", 2, "partial needs a number" },
		{ DEFAULT "mask t.c = partial 0\n", 2, "partial keeps 1 to 64 characters, not 0" },
		{ DEFAULT "mask t.c = partial 65\n", 2, "not 65" },
		{ DEFAULT "mask t.c = partial 1000\n", 2, "partial needs a number" },
		{ DEFAULT "mask t.c = fixed ***\n", 2, "fixed needs a single-quoted text" },
		{ DEFAULT "mask t.c = fixed\n", 2, "fixed needs a single-quoted text" },
		{ DEFAULT "mask t.c = fixed 'abc ; comment\n", 2, "unterminated quote in fixed text" },
		{ DEFAULT "mask t.c = fixed 'it''s\n", 2, "unterminated quote" },
		{ DEFAULT "mask t.c = fixed 'a' b\n", 2, "unexpected text after" },
		{ DEFAULT "mask t.c = hash sha1\n", 2, "hash takes no argument" },
		{ DEFAULT "\nmask a.b.c.d = null\n", 3, "mask column must be [SCHEMA.]TABLE.COLUMN" },
		{ DEFAULT "mask c = null\n", 2, "mask column must be [SCHEMA.]TABLE.COLUMN" },
		{ DEFAULT "mask = null\n", 2, "mask needs a column" },
		{ DEFAULT "mask t. c = null\n", 2, "bad identifier" },
		{ DEFAULT "mask 1t.c = null\n", 2, "bad identifier" },
		{ DEFAULT "mask t.c- = null\n", 2, "unexpected '-'" },
		{ DEFAULT "mask \"\".c = null\n", 2, "zero-length quoted identifier" },
		{ DEFAULT "mask \"t.c = null\n", 2, "expected \"key = value\"" },
		{ DEFAULT "mask \"t\" = \"\n", 2, "mask column must be" },
		{ DEFAULT "mask public.t.c = null\n\nmask PUBLIC.T.C = hash\n", 4,
		  "duplicate mask for public.t.c (first at line 2)" },
		{ DEFAULT "block_functions = pg_read_file, evil()\n", 2, "bad function pattern \"evil()\"" },
		{ DEFAULT "block_functions = pg_catalog.pg_read_file\n", 2, "bad function pattern" },
		{ DEFAULT "block_functions = a,,b\n", 2, "empty pattern" },
		{ "read_only = on\n" DEFAULT, 1, "key \"read_only\" before the first [policy NAME] section" },
		{ "\nmask t.c = null\n" DEFAULT, 2, "before the first [policy NAME] section" },
		{ DEFAULT "[pool x]\n", 2, "unknown section \"[pool x]\"" },
		{ DEFAULT "[policyx]\n", 2, "unknown section" },
		{ DEFAULT "[]\n", 2, "unknown section" },
		{ DEFAULT "[policy a\n", 2, "missing ']'" },
		{ DEFAULT "[policy ]\n", 2, "empty policy name" },
		{ DEFAULT "[policy]\n", 2, "empty policy name" },
		{ DEFAULT "[policy a/b]\n", 2, "bad policy name \"a/b\"" },
		{ DEFAULT "[policy a b]\n", 2, "bad policy name" },
		{ DEFAULT "groups agents\n", 2, "expected \"key = value\"" },
		{ DEFAULT "= x\n", 2, "missing key" },
		{ "[policy a]\ngroups = a,,b\n" DEFAULT, 2, "empty name in groups" },
		{ "[policy a]\nusers =\n" DEFAULT, 2, "empty name in users" },
		{ DEFAULT "block = drop\x01\n", 2, "control character 0x01" },
		{ DEFAULT "block = drop\rx\n", 2, "control character 0x0d" },
		{ DEFAULT "\n\r\nblok = 1\r\n", 4, "unknown key" },
	};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_error(cases[i].text, cases[i].line, cases[i].fragment);
}

/* Errors that need lengths or sizes a string literal cannot easily give. */
static void test_size_errors(void **state)
{
	static const char nul[] = DEFAULT "block = drop\n\nread_only = o\0n\n";
	size_t big = 1024 * 1024 + 1;
	char *text = malloc(big + 1);
	int n;

	expect_error_len(nul, sizeof(nul) - 1, 4, "NUL byte");

	/* 8191 bytes is the longest line, CR or not */
	n = snprintf(text, big, DEFAULT "groups_not_checked = ");
	memset(text + n, 'x', 8191 - (size_t)(n - 17));
	strcpy(text + 17 + 8191, "\n");
	expect_error(text, 2, "unknown key");	/* long but accepted */
	strcpy(text + 17 + 8191, "x\n");
	expect_error(text, 2, "line longer than 8191 bytes");
	strcpy(text + 17 + 8191, "\r\n");	/* CR counts */
	expect_error(text, 2, "line longer than 8191 bytes");

	/* 65 function globs, 257 masks */
	n = snprintf(text, big, DEFAULT "block_functions = f0");
	for (int i = 1; i < 65; i++)
		n += snprintf(text + n, big - (size_t)n, ",f%d", i);
	expect_error(text, 2, "more than 64 patterns");
	text[n - 4] = '\0';	/* drop ",f64" */
	policy_set_free(parse(text));

	n = snprintf(text, big, DEFAULT);
	for (int i = 0; i < 257; i++)
		n += snprintf(text + n, big - (size_t)n, "mask t.c%d = hash\n", i);
	expect_error(text, 258, "more than 256 masks in policy default");

	/* identifiers up to 63 bytes */
	snprintf(text, big, DEFAULT "mask t.%.63s = null\n", "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
	policy_set_free(parse(text));
	snprintf(text, big, DEFAULT "mask t.%.64s = null\n", "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
	expect_error(text, 2, "identifier longer than 63 bytes");
	snprintf(text, big, DEFAULT "mask t.\"%.64s\" = null\n", "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
	expect_error(text, 2, "identifier longer than 63 bytes");
	snprintf(text, big, "[policy %.64s]\n", "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp");
	expect_error(text, 1, "bad policy name");
	snprintf(text, big, DEFAULT "block_functions = %.64s\n", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
	expect_error(text, 2, "bad function pattern");

	/* the whole text is limited to 1 MiB, comments included */
	memset(text, ';', big);
	text[0] = '\n';
	expect_error_len(text, big, 0, "larger than 1 MiB");
	free(text);
}

static void test_error_buffer(void **state)
{
	static const char bad[] = DEFAULT "blok = 1\n";
	char err[8];

	assert_null(policy_parse(bad, strlen(bad), NULL, 0));
	memset(err, 'x', sizeof(err));
	assert_null(policy_parse(bad, strlen(bad), err, 1));
	assert_int_equal(err[0], '\0');
	assert_null(policy_parse(bad, strlen(bad), err, 5));
	assert_string_equal(err, "2: u");
	assert_null(policy_parse(NULL, 0, err, sizeof(err)));
	assert_string_equal(err, "0: no [");

	/* text need not be NUL-terminated: only len bytes are read */
	char buf[sizeof(DEFAULT) + 4];
	memcpy(buf, DEFAULT "XXXX", sizeof(buf));
	struct policy_set *set = policy_parse(buf, sizeof(DEFAULT) - 1, err, sizeof(err));
	assert_non_null(set);
	policy_set_free(set);
}

static void test_load(void **state)
{
	char err[1024], want[1024];
	struct policy_set *set;
	const char *path = tmp_path("policy.ini");
	char *big;

	write_file(path, full_file, strlen(full_file));
	set = policy_load(path, err, sizeof(err));
	assert_non_null(set);
	assert_int_equal(set->n, 3);
	assert_int_equal(set->policies[0].nmasks, 5);
	policy_set_free(set);

	write_file(path, DEFAULT "blok = 1\n", strlen(DEFAULT "blok = 1\n"));
	assert_null(policy_load(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:2: unknown key \"blok\"", path);
	assert_string_equal(err, want);

	big = malloc(1024 * 1024 + 1);
	memset(big, '\n', 1024 * 1024 + 1);
	write_file(path, big, 1024 * 1024 + 1);
	assert_null(policy_load(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: larger than 1 MiB", path);
	assert_string_equal(err, want);
	/* exactly 1 MiB is fine */
	memcpy(big, DEFAULT, strlen(DEFAULT));
	write_file(path, big, 1024 * 1024);
	set = policy_load(path, err, sizeof(err));
	assert_non_null(set);
	policy_set_free(set);
	free(big);

	path = tmp_path("missing.ini");
	assert_null(policy_load(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	assert_string_equal(err, want);

	assert_null(policy_load(tmpdir, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: Is a directory", tmpdir);
	assert_string_equal(err, want);
}

/* A small LCG: reproducible junk without touching rand()'s state. */
static unsigned fuzz_rand(unsigned *seed, unsigned n)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 16) % n;
}

/*
 * The full file with a few bytes changed, or cut short.  The result may be
 * a policy set or an error, but never a crash, a leak (ASan build), or an
 * error without "LINE: ".
 */
static void test_fuzz(void **state)
{
	static const char alphabet[] = " \t\n\r,;#=.'\"[]*?$_0146aAzZ\x01\x80";
	const size_t len = strlen(full_file);
	unsigned seed = 42, parsed = 0, failed = 0;
	char text[sizeof(full_file)], err[256];

	for (unsigned iter = 0; iter < 20000; iter++) {
		size_t n = fuzz_rand(&seed, 4) == 0 ? fuzz_rand(&seed, (unsigned)len + 1) : len;
		unsigned flips = fuzz_rand(&seed, 4);
		struct policy_set *set;

		memcpy(text, full_file, len);
		for (unsigned i = 0; i < flips && n > 0; i++)
			text[fuzz_rand(&seed, (unsigned)n)] = alphabet[fuzz_rand(&seed, sizeof(alphabet) - 1)];
		set = policy_parse(text, n, err, sizeof(err));
		if (set) {
			const char *groups[] = { "agents", "x" };

			parsed++;
			assert_non_null(set->fallback);
			(void)policy_select(set, groups, 2, "etl");
			(void)policy_select(set, NULL, -1, "etl");
			(void)policy_function_blocked(&set->policies[0], "dblink_exec");
			policy_set_free(set);
		} else {
			char *end;

			failed++;
			if (strtol(err, &end, 10) < 0 || end == err || strncmp(end, ": ", 2) != 0)
				fail_msg("bad error \"%s\"", err);
		}
	}
	assert_true(parsed > 1000);
	assert_true(failed > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_guardrail_names),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_block_words),
		cmocka_unit_test(test_approve_keys),
		cmocka_unit_test(test_booleans),
		cmocka_unit_test(test_case_insensitive),
		cmocka_unit_test(test_quoted_identifiers),
		cmocka_unit_test(test_fixed_text),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_select_identity),
		cmocka_unit_test(test_select_no_identity),
		cmocka_unit_test(test_function_globs),
		cmocka_unit_test(test_guardrail_labels),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_size_errors),
		cmocka_unit_test(test_error_buffer),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, setup_tmpdir, teardown_tmpdir);
}
