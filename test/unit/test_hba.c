/*
 * Unit tests for the pg_hba.conf parser and matcher (src/hba.c): record
 * types against connection types, name lists and keywords, @file includes,
 * addresses and masks, methods, the file syntax (quotes, comments,
 * continuations), every error message, and robustness against junk.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "hba.h"

/* @file tests write their files here; removed in the group teardown. */
#define TMPDIR_TEMPLATE "/tmp/pgwarden-test-hba-XXXXXX"
#include "unit_tmpdir.h"

static char *tmp_path(const char *name)
{
	static char buf[4][512];
	static unsigned next;
	char *p = buf[next++ % 4];

	snprintf(p, sizeof(buf[0]), "%s/%s", tmpdir, name);
	return p;
}

static void write_file_len(const char *name, const char *content, size_t len)
{
	FILE *f = fopen(tmp_path(name), "w");

	assert_non_null(f);
	assert_int_equal(fwrite(content, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void write_file(const char *name, const char *content)
{
	write_file_len(name, content, strlen(content));
}

/* A client address; a few slots so one call can use several at once. */
static const struct sockaddr *ip(const char *s)
{
	static struct sockaddr_storage slots[4];
	static unsigned next;
	struct sockaddr_storage *ss = &slots[next++ % 4];

	memset(ss, 0, sizeof(*ss));
	if (strchr(s, ':')) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, s, &sin6->sin6_addr), 1);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, s, &sin->sin_addr), 1);
	}
	return (const struct sockaddr *)ss;
}

static struct hba *parse_named(const char *text, const char *filename)
{
	char err[1024];
	struct hba *hba = hba_parse(text, filename, err, sizeof(err));

	if (!hba)
		fail_msg("unexpected parse error: %s", err);
	assert_string_equal(err, "");
	return hba;
}

static struct hba *parse(const char *text)
{
	return parse_named(text, "pg_hba.conf");
}

static void expect_error_named(const char *text, const char *filename, const char *msg)
{
	char err[1024];
	struct hba *hba = hba_parse(text, filename, err, sizeof(err));

	if (hba) {
		hba_free(hba);
		fail_msg("parsed, expected error: %s\n--- input:\n%s", msg, text);
	}
	assert_string_equal(err, msg);
}

static void expect_error(const char *text, const char *msg)
{
	expect_error_named(text, "pg_hba.conf", msg);
}

/* Shorthands: match db "db", user "u". */
static enum hba_method tcp(const struct hba *hba, const char *addr)
{
	return hba_match(hba, HBA_CONN_TCP, "db", "u", ip(addr));
}

static enum hba_method local(const struct hba *hba, const char *db, const char *user)
{
	return hba_match(hba, HBA_CONN_LOCAL, db, user, NULL);
}

/* Each record type against each connection type. */
static void test_conn_types(void **state)
{
	static const struct {
		const char *text;
		bool local, tcp, tls;
	} cases[] = {
		{ "local all all trust", true, false, false },
		{ "host all all all trust", false, true, true },
		{ "hostssl all all all trust", false, false, true },
		{ "hostnossl all all all trust", false, true, false },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hba *hba = parse(cases[i].text);

		assert_int_equal(hba_rule_count(hba), 1);
		assert_int_equal(hba_match(hba, HBA_CONN_LOCAL, "db", "u", NULL),
				 cases[i].local ? HBA_TRUST : HBA_REJECT);
		assert_int_equal(hba_match(hba, HBA_CONN_TCP, "db", "u", ip("10.0.0.1")),
				 cases[i].tcp ? HBA_TRUST : HBA_REJECT);
		assert_int_equal(hba_match(hba, HBA_CONN_TCP_TLS, "db", "u", ip("10.0.0.1")),
				 cases[i].tls ? HBA_TRUST : HBA_REJECT);
		assert_int_equal(hba_match(hba, HBA_CONN_TCP_TLS, "db", "u", ip("2001:db8::1")),
				 cases[i].tls ? HBA_TRUST : HBA_REJECT);
		hba_free(hba);
	}
}

/* The usual split: certificates over TLS, passwords otherwise. */
static void test_ssl_and_nossl(void **state)
{
	struct hba *hba = parse(
		"hostssl   all all 10.0.0.0/8 cert\n"
		"hostnossl all all 10.0.0.0/8 scram-sha-256\n"
		"hostnossl all all all        reject\n"
		"host      all all all        md5\n");

	assert_int_equal(hba_match(hba, HBA_CONN_TCP_TLS, "db", "u", ip("10.1.1.1")), HBA_CERT);
	assert_int_equal(hba_match(hba, HBA_CONN_TCP, "db", "u", ip("10.1.1.1")), HBA_SCRAM);
	assert_int_equal(hba_match(hba, HBA_CONN_TCP, "db", "u", ip("192.168.0.1")), HBA_REJECT);
	assert_int_equal(hba_match(hba, HBA_CONN_TCP_TLS, "db", "u", ip("192.168.0.1")), HBA_MD5);
	assert_int_equal(hba_match(hba, HBA_CONN_LOCAL, "db", "u", NULL), HBA_REJECT);
	hba_free(hba);
}

static void test_first_match_wins(void **state)
{
	struct hba *hba = parse(
		"host all all 10.1.0.0/16 reject\n"
		"host all all 10.0.0.0/8  md5\n"
		"host all all all         trust\n");

	assert_int_equal(tcp(hba, "10.1.2.3"), HBA_REJECT);
	assert_int_equal(tcp(hba, "10.2.2.3"), HBA_MD5);
	assert_int_equal(tcp(hba, "11.0.0.1"), HBA_TRUST);
	hba_free(hba);

	/* the same rules the other way round: the catch-all shadows the rest */
	hba = parse(
		"host all all all         trust\n"
		"host all all 10.0.0.0/8  md5\n"
		"host all all 10.1.0.0/16 reject\n");
	assert_int_equal(tcp(hba, "10.1.2.3"), HBA_TRUST);
	assert_int_equal(tcp(hba, "10.2.2.3"), HBA_TRUST);
	hba_free(hba);

	/* a rule that fails on the user is skipped, not final */
	hba = parse(
		"local all alice reject\n"
		"local all all   md5\n");
	assert_int_equal(local(hba, "db", "alice"), HBA_REJECT);
	assert_int_equal(local(hba, "db", "bob"), HBA_MD5);
	hba_free(hba);
}

static void test_no_match_rejects(void **state)
{
	struct hba *hba = parse("local db1 alice trust\n");

	assert_int_equal(local(hba, "db1", "alice"), HBA_TRUST);
	assert_int_equal(local(hba, "db2", "alice"), HBA_REJECT);
	assert_int_equal(local(hba, "db1", "bob"), HBA_REJECT);
	assert_int_equal(hba_match(hba, HBA_CONN_TCP, "db1", "alice", ip("127.0.0.1")), HBA_REJECT);
	/* nonsense arguments are a reject, never a crash */
	assert_int_equal(local(hba, NULL, "alice"), HBA_REJECT);
	assert_int_equal(local(hba, "db1", NULL), HBA_REJECT);
	assert_int_equal(hba_match(hba, (enum hba_conn_type)42, "db1", "alice", NULL), HBA_REJECT);
	assert_int_equal(hba_match(NULL, HBA_CONN_LOCAL, "db1", "alice", NULL), HBA_REJECT);
	hba_free(hba);

	/* an empty file, or one of comments only, rejects everyone */
	hba = parse("");
	assert_int_equal(hba_rule_count(hba), 0);
	assert_int_equal(local(hba, "db", "u"), HBA_REJECT);
	hba_free(hba);
	hba = parse("# nothing\n\n   \n");
	assert_int_equal(hba_rule_count(hba), 0);
	assert_int_equal(tcp(hba, "10.0.0.1"), HBA_REJECT);
	hba_free(hba);
	hba_free(NULL);
}

static void test_name_lists(void **state)
{
	struct hba *hba = parse(
		"local db1,db2 alice,bob md5\n"
		"local db3, db4 carol , dave password\n");

	assert_int_equal(hba_rule_count(hba), 2);
	assert_int_equal(local(hba, "db1", "alice"), HBA_MD5);
	assert_int_equal(local(hba, "db2", "bob"), HBA_MD5);
	assert_int_equal(local(hba, "db1", "carol"), HBA_REJECT);
	assert_int_equal(local(hba, "db3", "carol"), HBA_PASSWORD);
	assert_int_equal(local(hba, "db4", "dave"), HBA_PASSWORD);
	assert_int_equal(local(hba, "db4", "alice"), HBA_REJECT);
	/* names match exactly: no prefixes, case matters */
	assert_int_equal(local(hba, "db", "alice"), HBA_REJECT);
	assert_int_equal(local(hba, "db12", "alice"), HBA_REJECT);
	assert_int_equal(local(hba, "DB1", "alice"), HBA_REJECT);
	assert_int_equal(local(hba, "db1", "Alice"), HBA_REJECT);
	assert_int_equal(local(hba, "", ""), HBA_REJECT);
	hba_free(hba);
}

static void test_all_keyword(void **state)
{
	struct hba *hba = parse(
		"local all   alice trust\n"
		"local db1   all   md5\n"
		"local db2,all bob password\n");

	assert_int_equal(local(hba, "anything", "alice"), HBA_TRUST);
	assert_int_equal(local(hba, "db1", "anyone"), HBA_MD5);
	assert_int_equal(local(hba, "other", "bob"), HBA_PASSWORD);
	assert_int_equal(local(hba, "other", "carol"), HBA_REJECT);
	hba_free(hba);

	/* keywords are case-sensitive, as in PostgreSQL: ALL is a name */
	hba = parse("local ALL All trust\n");
	assert_int_equal(local(hba, "ALL", "All"), HBA_TRUST);
	assert_int_equal(local(hba, "db", "All"), HBA_REJECT);
	assert_int_equal(local(hba, "ALL", "u"), HBA_REJECT);
	hba_free(hba);
}

static void test_sameuser(void **state)
{
	struct hba *hba = parse(
		"local sameuser all md5\n"
		"local all sameuser trust\n");

	assert_int_equal(local(hba, "alice", "alice"), HBA_MD5);
	assert_int_equal(local(hba, "alice", "bob"), HBA_REJECT);
	assert_int_equal(local(hba, "sameuser", "bob"), HBA_REJECT);
	/* in the user field "sameuser" is just a name */
	assert_int_equal(local(hba, "db", "sameuser"), HBA_TRUST);
	hba_free(hba);

	/* sameuser combines with names in one list */
	hba = parse("local sameuser,shared all md5\n");
	assert_int_equal(local(hba, "bob", "bob"), HBA_MD5);
	assert_int_equal(local(hba, "shared", "bob"), HBA_MD5);
	assert_int_equal(local(hba, "alice", "bob"), HBA_REJECT);
	hba_free(hba);
}

/* "replication" is a keyword no pooler connection ever matches. */
static void test_replication(void **state)
{
	struct hba *hba = parse(
		"local replication all trust\n"
		"host  replication all all trust\n"
		"local all all md5\n");

	assert_int_equal(hba_rule_count(hba), 3);
	assert_int_equal(local(hba, "replication", "u"), HBA_MD5);
	assert_int_equal(local(hba, "db", "u"), HBA_MD5);
	assert_int_equal(hba_match(hba, HBA_CONN_TCP, "replication", "u", ip("10.0.0.1")),
			 HBA_REJECT);
	hba_free(hba);

	/* quoted, it is a database named replication; in a list, others still match */
	hba = parse(
		"local \"replication\" all trust\n"
		"local replication,db1 all password\n");
	assert_int_equal(local(hba, "replication", "u"), HBA_TRUST);
	assert_int_equal(local(hba, "db1", "u"), HBA_PASSWORD);
	assert_int_equal(local(hba, "db2", "u"), HBA_REJECT);
	hba_free(hba);
}

static void test_quoted_names(void **state)
{
	struct hba *hba = parse(
		"local \"all\" \"all\" trust\n"
		"local \"my db\" \"user, one\" md5\n"
		"local \"a\"\"b\" \"#x\" password   # a comment\n"
		"local \"@dbs\" \"+admins\" cert\n"
		"local \"sameuser\" \"\" reject\n"
		"local \"db\"\"\" u\"v w\" scram-sha-256\n");

	assert_int_equal(hba_rule_count(hba), 6);
	/* quoted keywords lose their meaning */
	assert_int_equal(local(hba, "all", "all"), HBA_TRUST);
	assert_int_equal(local(hba, "db", "all"), HBA_REJECT);
	/* blanks, commas, quotes and '#' inside quotes */
	assert_int_equal(local(hba, "my db", "user, one"), HBA_MD5);
	assert_int_equal(local(hba, "my", "user"), HBA_REJECT);
	assert_int_equal(local(hba, "a\"b", "#x"), HBA_PASSWORD);
	/* quoted @ and + are plain names, not includes or groups */
	assert_int_equal(local(hba, "@dbs", "+admins"), HBA_CERT);
	assert_int_equal(local(hba, "sameuser", ""), HBA_REJECT);
	assert_int_equal(local(hba, "x", "x"), HBA_REJECT);
	/* quotes in the middle of a word join up with it */
	assert_int_equal(local(hba, "db\"", "uv w"), HBA_SCRAM);
	hba_free(hba);
}

static void test_include_files(void **state)
{
	char text[2048];
	struct hba *hba;

	write_file("dbs.txt",
		   "# databases for the app\n"
		   "db1, db2\n"
		   "   db3\t\"my db\"   # trailing comment\n"
		   "\n");
	write_file("users.txt", "alice\nbob,carol\n@more.txt\n");
	write_file("more.txt", "dave\n");
	write_file("allusers.txt", "all\n");
	assert_int_equal(mkdir(tmp_path("sub"), 0700), 0);
	/* relative names in an @file are relative to that file's directory */
	write_file("sub/nested.txt", "@deeper.txt\n");
	write_file("sub/deeper.txt", "deepdb\n");
	write_file("deeper.txt", "wrongdb\n");

	snprintf(text, sizeof(text),
		 "local @dbs.txt @users.txt md5\n"
		 "local @sub/nested.txt @allusers.txt trust\n"
		 "local @%s erin password\n"
		 "local \"@dbs.txt\" all cert\n"
		 "local extra,@more.txt frank scram-sha-256\n",
		 tmp_path("dbs.txt"));
	hba = parse_named(text, tmp_path("pg_hba.conf"));

	assert_int_equal(hba_rule_count(hba), 5);
	assert_int_equal(local(hba, "db1", "alice"), HBA_MD5);
	assert_int_equal(local(hba, "db2", "carol"), HBA_MD5);
	assert_int_equal(local(hba, "my db", "bob"), HBA_MD5);
	assert_int_equal(local(hba, "db3", "dave"), HBA_MD5);		/* nested @file */
	assert_int_equal(local(hba, "db3", "erin"), HBA_PASSWORD);	/* absolute path */
	assert_int_equal(local(hba, "deepdb", "anyone"), HBA_TRUST);	/* "all" from a file */
	assert_int_equal(local(hba, "wrongdb", "anyone"), HBA_REJECT);
	assert_int_equal(local(hba, "@dbs.txt", "zed"), HBA_CERT);
	assert_int_equal(local(hba, "extra", "frank"), HBA_SCRAM);
	assert_int_equal(local(hba, "dave", "frank"), HBA_SCRAM);
	/* neither comments nor file names are names */
	assert_int_equal(local(hba, "#", "alice"), HBA_REJECT);
	assert_int_equal(local(hba, "databases", "alice"), HBA_REJECT);
	assert_int_equal(local(hba, "db1", "@more.txt"), HBA_REJECT);
	hba_free(hba);
}

static void test_include_errors(void **state)
{
	char text[256], msg[2048];

	snprintf(text, sizeof(text), "local all all trust\nlocal @nope.txt all trust\n");
	snprintf(msg, sizeof(msg),
		 "%s:2: could not read @file \"%s\": No such file or directory",
		 tmp_path("pg_hba.conf"), tmp_path("nope.txt"));
	expect_error_named(text, tmp_path("pg_hba.conf"), msg);

	/* an error inside the @file points at both places */
	write_file("badusers.txt", "alice\n+admins\n");
	snprintf(msg, sizeof(msg),
		 "%s:2: group membership \"+admins\" is not supported"
		 " (in @file included from %s:1)",
		 tmp_path("badusers.txt"), tmp_path("pg_hba.conf"));
	expect_error_named("local all @badusers.txt trust\n", tmp_path("pg_hba.conf"), msg);

	write_file("unterminated.txt", "a\n\"b\n");
	snprintf(msg, sizeof(msg),
		 "%s:2: unterminated quoted string (in @file included from %s:1)",
		 tmp_path("unterminated.txt"), tmp_path("pg_hba.conf"));
	expect_error_named("local @unterminated.txt all trust\n", tmp_path("pg_hba.conf"), msg);

	/* database keywords are rejected inside an @file too */
	write_file("samerole.txt", "samerole\n");
	snprintf(msg, sizeof(msg),
		 "%s:1: \"samerole\" is not supported (in @file included from %s:1)",
		 tmp_path("samerole.txt"), tmp_path("pg_hba.conf"));
	expect_error_named("local @samerole.txt all trust\n", tmp_path("pg_hba.conf"), msg);

	/* an include cycle ends in an error, not a stack overflow */
	write_file("loop.txt", "@loop.txt\n");
	{
		char err[4096];
		struct hba *hba = hba_parse("local @loop.txt all trust\n", tmp_path("pg_hba.conf"),
					    err, sizeof(err));

		assert_null(hba);
		assert_non_null(strstr(err, "@file nesting too deep"));
		assert_non_null(strstr(err, "loop.txt:1:"));
	}

	write_file_len("nul.txt", "alice\0bob\n", 10);
	snprintf(msg, sizeof(msg),
		 "%s:1: could not read @file \"%s\": file contains a NUL byte",
		 tmp_path("pg_hba.conf"), tmp_path("nul.txt"));
	expect_error_named("local all @nul.txt trust\n", tmp_path("pg_hba.conf"), msg);

	expect_error("local @ all trust\n", "pg_hba.conf:1: missing file name after \"@\"");
	/* "+" in a database list is an ordinary name, so only "@" errors there */
	expect_error("local +db,@ all trust\n", "pg_hba.conf:1: missing file name after \"@\"");
}

static void test_cidr_v4(void **state)
{
	struct hba *hba = parse(
		"host all all 10.0.0.1/32      trust\n"
		"host all all 10.0.0.0/31      password\n"
		"host all all 192.168.2.0/23   md5\n"
		"host all all 172.16.0.0/12    scram-sha-256\n"
		"host all all 0.0.0.0/0        cert\n");

	assert_int_equal(tcp(hba, "10.0.0.1"), HBA_TRUST);
	assert_int_equal(tcp(hba, "10.0.0.0"), HBA_PASSWORD);
	assert_int_equal(tcp(hba, "10.0.0.2"), HBA_CERT);
	assert_int_equal(tcp(hba, "192.168.2.0"), HBA_MD5);
	assert_int_equal(tcp(hba, "192.168.3.255"), HBA_MD5);
	assert_int_equal(tcp(hba, "192.168.1.255"), HBA_CERT);
	assert_int_equal(tcp(hba, "192.168.4.0"), HBA_CERT);
	assert_int_equal(tcp(hba, "172.31.255.255"), HBA_SCRAM);
	assert_int_equal(tcp(hba, "172.32.0.0"), HBA_CERT);
	assert_int_equal(tcp(hba, "255.255.255.255"), HBA_CERT);
	/* /0 is every IPv4 address, but no IPv6 one */
	assert_int_equal(tcp(hba, "::1"), HBA_REJECT);
	assert_int_equal(tcp(hba, "2001:db8::1"), HBA_REJECT);
	hba_free(hba);
}

static void test_cidr_v6(void **state)
{
	struct hba *hba = parse(
		"host all all ::1/128        trust\n"
		"host all all fe80::/10      md5\n"
		"host all all 2001:db8::/32  password\n"
		"host all all 2001:db8:1::/127 cert\n"
		"host all all ::/0           scram-sha-256\n");

	assert_int_equal(tcp(hba, "::1"), HBA_TRUST);
	assert_int_equal(tcp(hba, "fe80::1"), HBA_MD5);
	assert_int_equal(tcp(hba, "febf:ffff::1"), HBA_MD5);
	assert_int_equal(tcp(hba, "fec0::1"), HBA_SCRAM);
	assert_int_equal(tcp(hba, "2001:db8:ffff::1"), HBA_PASSWORD);
	assert_int_equal(tcp(hba, "2001:db9::1"), HBA_SCRAM);
	assert_int_equal(tcp(hba, "::2"), HBA_SCRAM);
	/* ::/0 is every IPv6 address, but no IPv4 one */
	assert_int_equal(tcp(hba, "10.0.0.1"), HBA_REJECT);
	hba_free(hba);

	hba = parse("host all all 2001:db8:1::/127 cert\n");
	assert_int_equal(tcp(hba, "2001:db8:1::"), HBA_CERT);
	assert_int_equal(tcp(hba, "2001:db8:1::1"), HBA_CERT);
	assert_int_equal(tcp(hba, "2001:db8:1::2"), HBA_REJECT);
	hba_free(hba);
}

/* PostgreSQL compares only the prefix: 10.1.2.3/8 is 10.0.0.0/8. */
static void test_host_bits_ignored(void **state)
{
	struct hba *hba = parse(
		"host all all 10.1.2.3/8 md5\n"
		"host all all 172.20.1.1/12 password\n"
		"host all all 2001:db8::ffff/32 trust\n");

	assert_int_equal(tcp(hba, "10.200.0.1"), HBA_MD5);
	assert_int_equal(tcp(hba, "11.1.2.3"), HBA_REJECT);
	/* the prefix ends inside a byte: 172.16.0.0 - 172.31.255.255 */
	assert_int_equal(tcp(hba, "172.16.0.1"), HBA_PASSWORD);
	assert_int_equal(tcp(hba, "172.31.255.255"), HBA_PASSWORD);
	assert_int_equal(tcp(hba, "172.32.0.0"), HBA_REJECT);
	assert_int_equal(tcp(hba, "2001:db8:5::5"), HBA_TRUST);
	hba_free(hba);
}

static void test_separate_netmask(void **state)
{
	struct hba *hba = parse(
		"host all all 10.1.1.1 255.255.255.255 trust\n"
		"host all all 10.0.0.0 255.0.0.0 md5\n"
		"host all all 192.168.1.0\t255.255.255.0 password\n"
		"host all all 2001:db8:: ffff:ffff:: cert\n"
		"host all all 0.0.0.0 0.0.0.0 scram-sha-256\n");

	assert_int_equal(hba_rule_count(hba), 5);
	assert_int_equal(tcp(hba, "10.1.1.1"), HBA_TRUST);
	assert_int_equal(tcp(hba, "10.1.1.2"), HBA_MD5);
	assert_int_equal(tcp(hba, "192.168.1.77"), HBA_PASSWORD);
	assert_int_equal(tcp(hba, "192.168.2.77"), HBA_SCRAM);
	assert_int_equal(tcp(hba, "2001:db8:abcd::1"), HBA_CERT);
	assert_int_equal(tcp(hba, "2001:db9::1"), HBA_REJECT);
	hba_free(hba);
}

/* An address without a mask is that one host. */
static void test_bare_address(void **state)
{
	struct hba *hba = parse(
		"host all all 10.1.1.1 md5\n"
		"host all all ::1 trust # v6 loopback\n");

	assert_int_equal(tcp(hba, "10.1.1.1"), HBA_MD5);
	assert_int_equal(tcp(hba, "10.1.1.0"), HBA_REJECT);
	assert_int_equal(tcp(hba, "10.1.1.2"), HBA_REJECT);
	assert_int_equal(tcp(hba, "::1"), HBA_TRUST);
	assert_int_equal(tcp(hba, "::"), HBA_REJECT);
	hba_free(hba);
}

/* A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d. */
static void test_ipv4_mapped(void **state)
{
	struct hba *hba = parse("host all all 10.0.0.0/8 md5\n");

	assert_int_equal(tcp(hba, "::ffff:10.1.2.3"), HBA_MD5);
	assert_int_equal(tcp(hba, "::ffff:11.1.2.3"), HBA_REJECT);
	/* only the mapped form: the IPv4-compatible ::a.b.c.d is IPv6 */
	assert_int_equal(tcp(hba, "::10.1.2.3"), HBA_REJECT);
	assert_int_equal(tcp(hba, "::ffff:0:10.1.2.3"), HBA_REJECT);
	hba_free(hba);

	hba = parse("host all all 10.1.2.3/32 trust\nhost all all 0.0.0.0/0 password\n");
	assert_int_equal(tcp(hba, "::ffff:10.1.2.3"), HBA_TRUST);
	assert_int_equal(tcp(hba, "::ffff:10.1.2.4"), HBA_PASSWORD);
	assert_int_equal(tcp(hba, "::ffff:0.0.0.0"), HBA_PASSWORD);
	hba_free(hba);

	/* a mapped client is an IPv4 client: an IPv6 catch-all does not take it */
	hba = parse("host all all ::/0 trust\nhost all all 0.0.0.0/0 md5\n");
	assert_int_equal(tcp(hba, "::ffff:10.1.2.3"), HBA_MD5);
	assert_int_equal(tcp(hba, "2001:db8::1"), HBA_TRUST);
	hba_free(hba);

	/* and a rule written in the mapped form is an IPv4 rule */
	hba = parse("host all all ::ffff:10.0.0.0/104 cert\n");
	assert_int_equal(tcp(hba, "10.9.9.9"), HBA_CERT);
	assert_int_equal(tcp(hba, "::ffff:10.9.9.9"), HBA_CERT);
	assert_int_equal(tcp(hba, "11.9.9.9"), HBA_REJECT);
	hba_free(hba);
}

static void test_address_all(void **state)
{
	struct sockaddr_un sun;
	struct hba *hba = parse("host all all all md5\n");

	assert_int_equal(tcp(hba, "10.0.0.1"), HBA_MD5);
	assert_int_equal(tcp(hba, "::1"), HBA_MD5);
	assert_int_equal(tcp(hba, "::ffff:1.2.3.4"), HBA_MD5);
	assert_int_equal(hba_match(hba, HBA_CONN_TCP, "db", "u", NULL), HBA_MD5);
	hba_free(hba);

	/* a rule with an address cannot match a connection without one */
	hba = parse("host all all 0.0.0.0/0 md5\nhost all all ::/0 md5\n");
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_int_equal(hba_match(hba, HBA_CONN_TCP, "db", "u", NULL), HBA_REJECT);
	assert_int_equal(hba_match(hba, HBA_CONN_TCP, "db", "u", (struct sockaddr *)&sun),
			 HBA_REJECT);
	hba_free(hba);

	/* local rules never look at the address */
	hba = parse("local all all peer\n");
	assert_int_equal(hba_match(hba, HBA_CONN_LOCAL, "db", "u", (struct sockaddr *)&sun),
			 HBA_PEER);
	hba_free(hba);
}

static void test_methods(void **state)
{
	static const struct {
		const char *name;
		enum hba_method m;
	} cases[] = {
		{ "trust", HBA_TRUST },
		{ "reject", HBA_REJECT },
		{ "md5", HBA_MD5 },
		{ "password", HBA_PASSWORD },
		{ "scram-sha-256", HBA_SCRAM },
		{ "cert", HBA_CERT },
		{ "peer", HBA_PEER },
	};
	char text[128];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hba *hba;

		snprintf(text, sizeof(text), "local all all %s\n", cases[i].name);
		hba = parse(text);
		assert_int_equal(local(hba, "db", "u"), cases[i].m);
		assert_string_equal(hba_method_name(cases[i].m), cases[i].name);
		hba_free(hba);

		if (cases[i].m == HBA_PEER)
			continue;
		snprintf(text, sizeof(text), "hostssl all all all %s\n", cases[i].name);
		hba = parse(text);
		assert_int_equal(hba_match(hba, HBA_CONN_TCP_TLS, "db", "u", ip("1.2.3.4")),
				 cases[i].m);
		hba_free(hba);
	}
	assert_string_equal(hba_method_name((enum hba_method)99), "unknown");
}

static void test_method_options(void **state)
{
	struct hba *hba = parse(
		"local all all peer map=omap\n"
		"hostssl all all all cert clientcert=verify-full map=\"my map\"\n"
		"host all all all scram-sha-256 a=b c= # options then a comment\n");

	assert_int_equal(hba_rule_count(hba), 3);
	assert_int_equal(local(hba, "db", "u"), HBA_PEER);
	assert_int_equal(hba_match(hba, HBA_CONN_TCP_TLS, "db", "u", ip("1.2.3.4")), HBA_CERT);
	assert_int_equal(tcp(hba, "1.2.3.4"), HBA_SCRAM);
	hba_free(hba);
}

/* map= is kept for cert and peer rules and handed out with the match. */
static void test_rule_maps(void **state)
{
	struct hba *hba = parse(
		"local all all peer map=omap\n"
		"hostssl all all all cert clientcert=verify-full map=\"my map\"\n"
		"host all all all cert\n");
	const char *map = "unset";

	assert_int_equal(hba_match_map(hba, HBA_CONN_LOCAL, "db", "u", NULL, &map), HBA_PEER);
	assert_string_equal(map, "omap");
	assert_int_equal(hba_match_map(hba, HBA_CONN_TCP_TLS, "db", "u", ip("1.2.3.4"), &map), HBA_CERT);
	assert_string_equal(map, "my map");
	assert_int_equal(hba_match_map(hba, HBA_CONN_TCP, "db", "u", ip("1.2.3.4"), &map), HBA_CERT);
	assert_null(map);
	map = "unset";
	assert_int_equal(hba_match_map(NULL, HBA_CONN_TCP, "db", "u", ip("1.2.3.4"), &map), HBA_REJECT);
	assert_null(map);
	hba_free(hba);

	expect_error("host all all all md5 map=m\n",
		     "pg_hba.conf:1: map= is only supported for the cert and peer methods");
	expect_error("local all all peer map=\n", "pg_hba.conf:1: map= needs a map name");
}

static struct ident_map *ident_ok(const char *text)
{
	char err[256] = "";
	struct ident_map *im = ident_parse(text, NULL, err, sizeof(err));

	if (!im)
		fail_msg("unexpected ident error: %s", err);
	return im;
}

static void expect_ident_error(const char *text, const char *msg)
{
	char err[256] = "";

	assert_null(ident_parse(text, NULL, err, sizeof(err)));
	assert_string_equal(err, msg);
}

static void test_ident_maps(void **state)
{
	struct ident_map *im = ident_ok(
		"# MAP  SYSTEM-USER  DATABASE-USER\n"
		"ops    alice        appuser\n"
		"ops    alice        md5user   # one system user, two roles\n"
		"ops    \"bob smith\"  appuser\n"
		"certs  mallory      all\n"
		"certs  eve          \"all\"\n"
		"\n");

	assert_int_equal(ident_line_count(im), 5);
	assert_true(ident_allows(im, "ops", "alice", "appuser"));
	assert_true(ident_allows(im, "ops", "alice", "md5user"));
	assert_false(ident_allows(im, "ops", "alice", "postgres"));
	assert_true(ident_allows(im, "ops", "bob smith", "appuser"));
	assert_false(ident_allows(im, "ops", "bob", "appuser"));
	assert_false(ident_allows(im, "ops", "Alice", "appuser"));	/* case matters */
	assert_false(ident_allows(im, "certs", "alice", "appuser"));	/* another map */
	assert_true(ident_allows(im, "certs", "mallory", "anyone"));	/* all */
	assert_true(ident_allows(im, "certs", "eve", "all"));		/* "all" quoted: the name */
	assert_false(ident_allows(im, "certs", "eve", "anyone"));
	assert_false(ident_allows(im, "nomap", "alice", "appuser"));
	assert_false(ident_allows(im, NULL, "alice", "appuser"));
	assert_false(ident_allows(NULL, "ops", "alice", "appuser"));
	ident_free(im);

	expect_ident_error("ops alice\n", "pg_ident.conf:1: missing database user name");
	expect_ident_error("ops alice appuser extra\n",
			   "pg_ident.conf:1: extra field \"extra\" after the database user name");
	expect_ident_error("\nops /^(.*)$ \\1\n",
			   "pg_ident.conf:2: system user name \"/^(.*)$\": regular expressions, groups and files are not supported");
	expect_ident_error("ops alice +admins\n",
			   "pg_ident.conf:1: database user name \"+admins\": regular expressions, groups and files are not supported");
	expect_ident_error("ops alice,bob appuser\n", "pg_ident.conf:1: system user name cannot be a list");
	expect_ident_error("include other.conf\n",
			   "pg_ident.conf:1: include directives are not supported in the ident map file");
	expect_ident_error("ops \"alice appuser\n", "pg_ident.conf:1: unterminated quoted string");
	expect_ident_error(", ops alice appuser\n", "pg_ident.conf:1: unexpected \",\" where map name was expected");
}

static void test_ident_load_file(void **state)
{
	char err[256];
	struct ident_map *im;

	write_file("ident.conf", "m  root  postgres\n");
	im = ident_load_file(tmp_path("ident.conf"), err, sizeof(err));
	assert_non_null(im);
	assert_true(ident_allows(im, "m", "root", "postgres"));
	ident_free(im);
	assert_null(ident_load_file(tmp_path("missing.conf"), err, sizeof(err)));
	assert_non_null(strstr(err, "could not read ident map file"));
	assert_null(ident_load_file("", err, sizeof(err)));
	assert_string_equal(err, "no ident map file name given");
}

static void test_comments_and_continuations(void **state)
{
	struct hba *hba;

	/* '#' ends the record even right after a word */
	expect_error("local db9#comment\n all cert\n", "pg_hba.conf:1: missing user field");

	hba = parse(
		"# full line comment\n"
		"   # indented comment\n"
		"\n"
		"\t \t\n"
		"local\tdb1\tall\ttrust   # trailing comment\n"
		"host db2 \\\n"
		"  all \\\n"
		"  10.0.0.0/8 md5\n"
		"local db3 all reject # a comment continues too \\\n"
		"local db4 all trust\n"
		"local db5 all md5\r\n"
		"local db11 \\\r\n"
		"all password\r\n"
		"local db6,\\\n"
		"db7 all password\n"
		"local \"db \\\n"
		"8\" all trust\n"
		"local db10 all scram-sha-256 \\");

	assert_int_equal(hba_rule_count(hba), 8);
	assert_int_equal(local(hba, "db1", "u"), HBA_TRUST);
	assert_int_equal(tcp(hba, "10.0.0.1") , HBA_REJECT);
	assert_int_equal(hba_match(hba, HBA_CONN_TCP, "db2", "u", ip("10.0.0.1")), HBA_MD5);
	assert_int_equal(local(hba, "db3", "u"), HBA_REJECT);
	/* swallowed by the comment continued above it */
	assert_int_equal(local(hba, "db4", "u"), HBA_REJECT);
	assert_int_equal(local(hba, "db5", "u"), HBA_MD5);
	/* CRLF after the backslash still continues */
	assert_int_equal(local(hba, "db11", "u"), HBA_PASSWORD);
	assert_int_equal(local(hba, "db6", "u"), HBA_PASSWORD);
	assert_int_equal(local(hba, "db7", "u"), HBA_PASSWORD);
	assert_int_equal(local(hba, "db 8", "u"), HBA_TRUST);
	/* a backslash on the last line continues into nothing */
	assert_int_equal(local(hba, "db10", "u"), HBA_SCRAM);
	hba_free(hba);
}

/* Each kind of bad line, with its exact message. */
static void test_error_messages(void **state)
{
	static const struct {
		const char *text;
		const char *msg;
	} cases[] = {
		{ "host all all 10.0.0.0/8 ident\n",
		  "pg_hba.conf:1: unsupported auth method \"ident\"" },
		{ "# comment\n\nlocal all all ident\n",
		  "pg_hba.conf:3: unsupported auth method \"ident\"" },
		{ "local all all ldap ldapserver=x\n", "pg_hba.conf:1: unsupported auth method \"ldap\"" },
		{ "host all all all gss\n", "pg_hba.conf:1: unsupported auth method \"gss\"" },
		{ "local all all pam\n", "pg_hba.conf:1: unsupported auth method \"pam\"" },
		{ "local all all MD5\n", "pg_hba.conf:1: unsupported auth method \"MD5\"" },
		{ "local all all scram\n", "pg_hba.conf:1: unsupported auth method \"scram\"" },
		{ "host all all all peer\n",
		  "pg_hba.conf:1: auth method \"peer\" is only supported on local lines" },
		{ "hostssl all all 10.0.0.0/8 peer\n",
		  "pg_hba.conf:1: auth method \"peer\" is only supported on local lines" },
		{ "hostgssenc all all all md5\n", "pg_hba.conf:1: unknown connection type \"hostgssenc\"" },
		{ "HOST all all all md5\n", "pg_hba.conf:1: unknown connection type \"HOST\"" },
		{ "local,host all all md5\n", "pg_hba.conf:1: connection type cannot be a list" },
		{ ",local all all md5\n",
		  "pg_hba.conf:1: unexpected \",\" where connection type was expected" },
		{ "local\n", "pg_hba.conf:1: missing database field" },
		{ "local all\n", "pg_hba.conf:1: missing user field" },
		{ "local all all\n", "pg_hba.conf:1: missing auth method" },
		{ "local all all # trust\n", "pg_hba.conf:1: missing auth method" },
		{ "host all all\n", "pg_hba.conf:1: missing address field" },
		{ "host all all 10.0.0.0/8\n", "pg_hba.conf:1: missing auth method" },
		{ "host all all 10.0.0.0 255.0.0.0\n", "pg_hba.conf:1: missing auth method" },
		{ "host all all 10.0.0.0/33 md5\n",
		  "pg_hba.conf:1: invalid CIDR mask length \"33\" in \"10.0.0.0/33\"" },
		{ "host all all ::1/129 md5\n",
		  "pg_hba.conf:1: invalid CIDR mask length \"129\" in \"::1/129\"" },
		{ "host all all 10.0.0.0/ md5\n",
		  "pg_hba.conf:1: invalid CIDR mask length \"\" in \"10.0.0.0/\"" },
		{ "host all all 10.0.0.0/-1 md5\n",
		  "pg_hba.conf:1: invalid CIDR mask length \"-1\" in \"10.0.0.0/-1\"" },
		{ "host all all 10.0.0.0/+8 md5\n",
		  "pg_hba.conf:1: invalid CIDR mask length \"+8\" in \"10.0.0.0/+8\"" },
		{ "host all all 10.0.0.0/8x md5\n",
		  "pg_hba.conf:1: invalid CIDR mask length \"8x\" in \"10.0.0.0/8x\"" },
		{ "host all all 10.0.0.0/99999999999999999999 md5\n",
		  "pg_hba.conf:1: invalid CIDR mask length \"99999999999999999999\""
		  " in \"10.0.0.0/99999999999999999999\"" },
		{ "host all all 10.0.0.0/8/8 md5\n",
		  "pg_hba.conf:1: invalid CIDR mask length \"8/8\" in \"10.0.0.0/8/8\"" },
		{ "host all all 10.0.0.256/32 md5\n", "pg_hba.conf:1: invalid IP address \"10.0.0.256\"" },
		{ "host all all 10.0.0/8 md5\n", "pg_hba.conf:1: invalid IP address \"10.0.0\"" },
		{ "host all all /8 md5\n", "pg_hba.conf:1: invalid IP address \"\"" },
		{ "host all all 1::2::3 md5\n", "pg_hba.conf:1: invalid IP address \"1::2::3\"" },
		{ "host all all fe80::1%eth0 md5\n", "pg_hba.conf:1: invalid IP address \"fe80::1%eth0\"" },
		{ "host all all samehost md5\n", "pg_hba.conf:1: \"samehost\" is not supported" },
		{ "host all all samenet md5\n", "pg_hba.conf:1: \"samenet\" is not supported" },
		{ "host all all db.example.com md5\n",
		  "pg_hba.conf:1: host names are not supported: \"db.example.com\"" },
		{ "host all all localhost md5\n", "pg_hba.conf:1: host names are not supported: \"localhost\"" },
		{ "host all all \"all\" md5\n", "pg_hba.conf:1: host names are not supported: \"all\"" },
		{ "host all all .example.com md5\n",
		  "pg_hba.conf:1: domain suffixes are not supported: \".example.com\"" },
		{ "host all all 10.0.0.0 255.0.255.0 md5\n", "pg_hba.conf:1: invalid netmask \"255.0.255.0\"" },
		{ "host all all 10.0.0.0 255.0.0 md5\n", "pg_hba.conf:1: invalid netmask \"255.0.0\"" },
		{ "host all all 10.0.0.0 0.0.0.255 md5\n", "pg_hba.conf:1: invalid netmask \"0.0.0.255\"" },
		{ "host all all 10.0.0.0 24 md5\n", "pg_hba.conf:1: invalid netmask \"24\"" },
		{ "host all all 10.0.0.0 ffff:: md5\n", "pg_hba.conf:1: invalid netmask \"ffff::\"" },
		{ "host all all ::1 255.255.255.255 md5\n",
		  "pg_hba.conf:1: invalid netmask \"255.255.255.255\"" },
		{ "host all all 10.0.0.0/8,11.0.0.0/8 md5\n", "pg_hba.conf:1: address field cannot be a list" },
		{ "host all all all,10.0.0.0/8 md5\n", "pg_hba.conf:1: address field cannot be a list" },
		{ "host all +admins all md5\n", "pg_hba.conf:1: group membership \"+admins\" is not supported" },
		{ "local all alice,+admins md5\n",
		  "pg_hba.conf:1: group membership \"+admins\" is not supported" },
		{ "local samerole all md5\n", "pg_hba.conf:1: \"samerole\" is not supported" },
		{ "local db1,samegroup all md5\n", "pg_hba.conf:1: \"samegroup\" is not supported" },
		{ "host \"all all 10.0.0.0/8 md5\n", "pg_hba.conf:1: unterminated quoted string" },
		{ "local all all \"trust\n", "pg_hba.conf:1: unterminated quoted string" },
		{ "local all all trust map=\"x\n", "pg_hba.conf:1: unterminated quoted string" },
		{ "local \"\"\" all trust\n", "pg_hba.conf:1: unterminated quoted string" },
		{ "local a,,b all trust\n", "pg_hba.conf:1: empty name in database list" },
		{ "local all a, \n", "pg_hba.conf:1: missing name after \",\" in user list" },
		{ "local all all trust,md5\n", "pg_hba.conf:1: auth method cannot be a list" },
		{ "local all all trust foo\n",
		  "pg_hba.conf:1: invalid auth option \"foo\" (expected name=value)" },
		{ "local all all trust =x\n",
		  "pg_hba.conf:1: invalid auth option \"=x\" (expected name=value)" },
		{ "local all all trust a=b,c=d\n", "pg_hba.conf:1: unexpected \",\" in auth options" },
		/* the address column on a local line is read as the method */
		{ "local all all 127.0.0.1/32 trust\n",
		  "pg_hba.conf:1: unsupported auth method \"127.0.0.1/32\"" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_error(cases[i].text, cases[i].msg);
}

/* One bad line rejects the whole file; the message names that line. */
static void test_bad_file_rejected_whole(void **state)
{
	expect_error("local all all trust\nlocal all all ident\nlocal all all md5\n",
		     "pg_hba.conf:2: unsupported auth method \"ident\"");
	expect_error("local all all ident\nlocal all all md5\n",
		     "pg_hba.conf:1: unsupported auth method \"ident\"");
	expect_error("local all all trust\nlocal all all md5\nbogus",
		     "pg_hba.conf:3: unknown connection type \"bogus\"");
	/* a continued record is reported at its first line */
	expect_error("local all all trust\n"
		     "host all \\\n"
		     "  all \\\n"
		     "  10.0.0.0/8 ident\n",
		     "pg_hba.conf:2: unsupported auth method \"ident\"");
	/* and line numbers keep counting after it */
	expect_error("host all \\\nall all trust\nlocal all all ident\n",
		     "pg_hba.conf:3: unsupported auth method \"ident\"");
	expect_error("local all all trust\r\nlocal all all ident\r\n",
		     "pg_hba.conf:2: unsupported auth method \"ident\"");
	/* the file name is part of the message; NULL names the default */
	expect_error_named("x\n", "/etc/pgwarden/hba.conf",
			   "/etc/pgwarden/hba.conf:1: unknown connection type \"x\"");
	expect_error_named("x\n", NULL, "pg_hba.conf:1: unknown connection type \"x\"");
}

static void test_load_file(void **state)
{
	char err[1024], msg[1024];
	struct hba *hba;

	write_file("load_dbs.txt", "appdb\n");
	write_file("load_hba.conf",
		   "# loaded from disk\n"
		   "local @load_dbs.txt all md5\n"
		   "host all all 127.0.0.1/32 scram-sha-256\n");
	hba = hba_load_file(tmp_path("load_hba.conf"), err, sizeof(err));
	if (!hba)
		fail_msg("load failed: %s", err);
	assert_int_equal(hba_rule_count(hba), 2);
	assert_int_equal(local(hba, "appdb", "u"), HBA_MD5);
	assert_int_equal(local(hba, "otherdb", "u"), HBA_REJECT);
	assert_int_equal(tcp(hba, "127.0.0.1"), HBA_SCRAM);
	hba_free(hba);

	write_file("load_bad.conf", "local all all trust\nlocal all all ident\n");
	assert_null(hba_load_file(tmp_path("load_bad.conf"), err, sizeof(err)));
	snprintf(msg, sizeof(msg), "%s:2: unsupported auth method \"ident\"",
		 tmp_path("load_bad.conf"));
	assert_string_equal(err, msg);

	assert_null(hba_load_file(tmp_path("missing.conf"), err, sizeof(err)));
	snprintf(msg, sizeof(msg), "%s: could not read HBA file: No such file or directory",
		 tmp_path("missing.conf"));
	assert_string_equal(err, msg);

	write_file_len("load_nul.conf", "local all all trust\n\0\n", 22);
	assert_null(hba_load_file(tmp_path("load_nul.conf"), err, sizeof(err)));
	snprintf(msg, sizeof(msg), "%s: could not read HBA file: file contains a NUL byte",
		 tmp_path("load_nul.conf"));
	assert_string_equal(err, msg);

	/* a directory is not an HBA file */
	assert_null(hba_load_file(tmpdir, err, sizeof(err)));
	assert_non_null(strstr(err, "could not read HBA file"));

	assert_null(hba_load_file(NULL, err, sizeof(err)));
	assert_string_equal(err, "no HBA file name given");
	assert_null(hba_load_file("", err, sizeof(err)));
}

/* Tiny, missing or NULL error buffers are never overrun. */
static void test_error_buffer(void **state)
{
	char err[16];

	memset(err, 'X', sizeof(err));
	assert_null(hba_parse("local all all ident\n", "pg_hba.conf", err, 8));
	assert_string_equal(err, "pg_hba.");
	assert_int_equal(err[8], 'X');

	memset(err, 'X', sizeof(err));
	assert_null(hba_parse("local all all ident\n", "pg_hba.conf", err, 1));
	assert_string_equal(err, "");
	assert_int_equal(err[1], 'X');

	assert_null(hba_parse("local all all ident\n", "pg_hba.conf", NULL, 0));
	assert_null(hba_parse("local @nope all trust\n", "/nonexistent/pg_hba.conf", NULL, 0));
	assert_null(hba_parse(NULL, "pg_hba.conf", err, sizeof(err)));
	assert_null(hba_load_file("/nonexistent/x", NULL, 0));
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void test_long_input(void **state)
{
	const size_t big = 1 << 20;
	char *name = repeat('d', big);
	char *text = malloc(2 * big + 100);
	char err[512];
	struct hba *hba;
	size_t i, len;

	assert_non_null(text);

	/* a 1 MiB name is just a name */
	snprintf(text, 2 * big + 100, "local %s all trust\n", name);
	hba = parse(text);
	assert_int_equal(local(hba, name, "u"), HBA_TRUST);
	name[big - 1] = 'e';
	assert_int_equal(local(hba, name, "u"), HBA_REJECT);
	hba_free(hba);

	/* a 1 MiB address: the message stays short and still says what is wrong */
	memset(name, '1', big);
	snprintf(text, 2 * big + 100, "host all all %s md5\n", name);
	assert_null(hba_parse(text, "pg_hba.conf", err, sizeof(err)));
	assert_true(strncmp(err, "pg_hba.conf:1: invalid IP address \"1111", 39) == 0);
	assert_true(strlen(err) < 300);

	/* an unterminated quote running to the end of a huge line */
	snprintf(text, 2 * big + 100, "local \"%s", name);
	expect_error(text, "pg_hba.conf:1: unterminated quoted string");

	/* a huge continued record */
	len = 0;
	len += (size_t)sprintf(text + len, "local ");
	for (i = 0; i < 20000; i++)
		len += (size_t)sprintf(text + len, "db%zu,\\\n", i);
	sprintf(text + len, "last all md5\n");
	hba = parse(text);
	assert_int_equal(hba_rule_count(hba), 1);
	assert_int_equal(local(hba, "db19999", "u"), HBA_MD5);
	assert_int_equal(local(hba, "last", "u"), HBA_MD5);
	assert_int_equal(local(hba, "db20000", "u"), HBA_REJECT);
	hba_free(hba);

	/* many rules: the last one still matches, and errors count lines right */
	len = 0;
	for (i = 0; i < 20000; i++)
		len += (size_t)sprintf(text + len, "local db%zu all reject\n", i);
	sprintf(text + len, "local all all trust\n");
	hba = parse(text);
	assert_int_equal(hba_rule_count(hba), 20001);
	assert_int_equal(local(hba, "db19999", "u"), HBA_REJECT);
	assert_int_equal(local(hba, "other", "u"), HBA_TRUST);
	hba_free(hba);
	sprintf(text + len, "local all all ident\n");
	expect_error(text, "pg_hba.conf:20001: unsupported auth method \"ident\"");

	free(text);
	free(name);
}

/* "<tmpdir>/NAME:LINE: ": the error of a file in tmpdir or an @file in it. */
static bool has_file_line_prefix(const char *err)
{
	size_t dirlen = strlen(tmpdir);
	const char *colon, *p;

	if (strncmp(err, tmpdir, dirlen) != 0 || err[dirlen] != '/')
		return false;
	colon = strstr(err + dirlen, ": ");
	if (!colon)
		return false;
	for (p = colon; p > err && p[-1] >= '0' && p[-1] <= '9'; p--)
		;
	return p < colon && p > err && p[-1] == ':';
}

static uint32_t fuzz_seed = 12345;

static unsigned fuzz_rand(unsigned n)
{
	fuzz_seed = fuzz_seed * 1103515245 + 12345;
	return (fuzz_seed >> 8) % n;
}

#define PICK(a) ((a)[fuzz_rand(sizeof(a) / sizeof((a)[0]))])

/* Append a mostly well-formed record to sb. */
static size_t fuzz_record(char *buf, size_t len, size_t size)
{
	static const char *const types[] = { "local", "host", "hostssl", "hostnossl" };
	static const char *const names[] = {
		"all", "sameuser", "replication", "db", "u", "\"q u\"", "a,b", "db, u",
		"@dbs.txt", "@more.txt", "\"all\"", "samerole", "+g", "x\"\"y",
	};
	static const char *const addrs[] = {
		"all", "10.0.0.0/8", "10.1.2.3", "::1/128", "::/0", "0.0.0.0/0",
		"10.0.0.0 255.0.0.0", "2001:db8:: ffff:ffff::", "::ffff:10.0.0.0/104",
		"10.0.0.0/33", "samehost", "db.example.com", "255.0.255.0",
	};
	static const char *const methods[] = {
		"trust", "reject", "md5", "password", "scram-sha-256", "cert", "peer",
		"ident", "md5 map=x", "trust x",
	};
	const char *type = PICK(types);
	int n;

	if (type[0] == 'l')
		n = snprintf(buf + len, size - len, "%s %s %s %s\n", type, PICK(names),
			     PICK(names), PICK(methods));
	else
		n = snprintf(buf + len, size - len, "%s %s %s %s %s\n", type, PICK(names),
			     PICK(names), PICK(addrs), PICK(methods));
	return n > 0 && (size_t)n < size - len ? len + (size_t)n : len;
}

/*
 * Records built from the pieces that matter to the parser, then a few
 * random bytes changed.  The result may be a rule set or an error, but
 * never a crash, a leak (ASan build), or an error without "FILE:LINE: ".
 */
static void test_fuzz(void **state)
{
	static const char alphabet[] = " \t\n,\"#\\/.:@+=-019afl";
	char text[1024], err[256];
	unsigned iter, parsed = 0, failed = 0;

	for (iter = 0; iter < 20000; iter++) {
		size_t len = 0, records = 1 + fuzz_rand(4), flips, i;
		struct hba *hba;

		for (i = 0; i < records; i++)
			len = fuzz_record(text, len, sizeof(text));
		flips = fuzz_rand(3) == 0 ? 0 : fuzz_rand(4);
		for (i = 0; i < flips && len > 0; i++)
			text[fuzz_rand((unsigned)len)] = alphabet[fuzz_rand(sizeof(alphabet) - 1)];
		text[len] = '\0';

		hba = hba_parse(text, tmp_path("fuzz.conf"), err, sizeof(err));
		if (hba) {
			parsed++;
			(void)hba_match(hba, HBA_CONN_LOCAL, "db", "u", NULL);
			(void)hba_match(hba, HBA_CONN_TCP, "all", "all", ip("10.1.2.3"));
			(void)hba_match(hba, HBA_CONN_TCP_TLS, "q u", "db", ip("::1"));
			(void)hba_match(hba, HBA_CONN_TCP, "db", "u", ip("::ffff:10.0.0.1"));
			hba_free(hba);
		} else {
			failed++;
			if (!has_file_line_prefix(err))
				fail_msg("bad error \"%s\" for input:\n%s", err, text);
		}
	}
	/* both outcomes must be common, or the loop tests little */
	assert_true(parsed > 1000);
	assert_true(failed > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conn_types),
		cmocka_unit_test(test_ssl_and_nossl),
		cmocka_unit_test(test_first_match_wins),
		cmocka_unit_test(test_no_match_rejects),
		cmocka_unit_test(test_name_lists),
		cmocka_unit_test(test_all_keyword),
		cmocka_unit_test(test_sameuser),
		cmocka_unit_test(test_replication),
		cmocka_unit_test(test_quoted_names),
		cmocka_unit_test(test_include_files),
		cmocka_unit_test(test_include_errors),
		cmocka_unit_test(test_cidr_v4),
		cmocka_unit_test(test_cidr_v6),
		cmocka_unit_test(test_host_bits_ignored),
		cmocka_unit_test(test_separate_netmask),
		cmocka_unit_test(test_bare_address),
		cmocka_unit_test(test_ipv4_mapped),
		cmocka_unit_test(test_address_all),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_method_options),
		cmocka_unit_test(test_rule_maps),
		cmocka_unit_test(test_ident_maps),
		cmocka_unit_test(test_ident_load_file),
		cmocka_unit_test(test_comments_and_continuations),
		cmocka_unit_test(test_error_messages),
		cmocka_unit_test(test_bad_file_rejected_whole),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_error_buffer),
		cmocka_unit_test(test_long_input),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, setup_tmpdir, teardown_tmpdir);
}
