/*
 * Unit tests for the pgbouncer.ini reader (src/config.c): defaults, value
 * types, error texts (PgBouncer's wording plus file:line), %include,
 * [databases] / [users] settings strings, and robustness against junk.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Spelled relative to this file on purpose: under automake the build
 * directory (with autoconf's own config.h) comes first in the include path.
 */
#include "config.h"
#include "../../src/log.h"

/*
 * Helpers
 */

static char *write_tmp_len(const char *content, size_t len)
{
	char path[] = "/tmp/pgwarden-test-config-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	close(fd);
	return strdup(path);
}

static char *write_tmp(const char *content)
{
	return write_tmp_len(content, strlen(content));
}

/* Load content from a temp file; the path is returned for message checks. */
static struct config *load_text(const char *content, char **path_p, char *err, size_t errlen)
{
	char *path = write_tmp(content);
	struct config *cf = config_load(path, err, errlen);

	unlink(path);
	if (path_p)
		*path_p = path;
	else
		free(path);
	return cf;
}

static struct config *load_ok(const char *content)
{
	char err[512] = "";
	struct config *cf = load_text(content, NULL, err, sizeof(err));

	if (!cf)
		fail_msg("unexpected load error: %s", err);
	return cf;
}

/* Replace each '@' in pattern by path. */
static void expand(char *dst, size_t len, const char *pattern, const char *path)
{
	size_t n = 0;

	for (const char *p = pattern; *p && n + 1 < len; p++) {
		if (*p == '@')
			n += snprintf(dst + n, len - n, "%s", path);
		else
			dst[n++] = *p;
		if (n >= len)
			n = len - 1;
	}
	dst[n] = '\0';
}

/* Loading content must fail with exactly pattern ('@' = the file's path). */
static void expect_error(const char *content, const char *pattern)
{
	char err[1024] = "", want[1024];
	char *path;
	struct config *cf = load_text(content, &path, err, sizeof(err));

	if (cf)
		fail_msg("config loaded but expected error: %s\n--- config ---\n%s", pattern, content);
	expand(want, sizeof(want), pattern, path);
	assert_string_equal(err, want);
	free(path);
}

static const char *fmt_key(const struct config *cf, const char *name, char *buf, size_t len)
{
	const struct config_key *k = config_find_key(name);

	assert_non_null(k);
	config_format_value(cf, k, buf, len);
	return buf;
}

/*
 * [pgbouncer] defaults and the key table
 */

static void test_defaults(void **state)
{
	struct config *cf = load_ok("[pgbouncer]\n");

	assert_int_equal(cf->listen_port, 6432);
	assert_string_equal(cf->listen_addr, "");
	assert_string_equal(cf->unix_socket_dir, "/tmp");
	assert_int_equal(cf->unix_socket_mode, 0777);
	assert_int_equal(cf->listen_backlog, 128);
	assert_int_equal(cf->default_pool_size, 20);
	assert_int_equal(cf->min_pool_size, 0);
	assert_int_equal(cf->reserve_pool_size, 0);
	assert_int_equal(cf->max_client_conn, 100);
	assert_int_equal(cf->max_db_connections, 0);
	assert_int_equal(cf->max_user_connections, 0);
	assert_int_equal(cf->max_db_client_connections, 0);
	assert_int_equal(cf->max_user_client_connections, 0);
	assert_int_equal(cf->max_prepared_statements, 200);
	assert_int_equal(cf->auth_type, AUTH_TYPE_MD5);
	assert_int_equal(cf->pool_mode, POOL_SESSION);
	assert_string_equal(cf->server_reset_query, "DISCARD ALL");
	assert_int_equal(cf->server_reset_query_always, 0);
	assert_string_equal(cf->server_check_query, "<empty>");
	assert_true(cf->query_wait_timeout == 120 * USEC_PER_SEC);
	assert_true(cf->server_lifetime == 3600 * USEC_PER_SEC);
	assert_true(cf->server_idle_timeout == 600 * USEC_PER_SEC);
	assert_true(cf->server_connect_timeout == 15 * USEC_PER_SEC);
	assert_true(cf->server_login_retry == 15 * USEC_PER_SEC);
	assert_true(cf->server_check_delay == 30 * USEC_PER_SEC);
	assert_true(cf->client_login_timeout == 60 * USEC_PER_SEC);
	assert_true(cf->autodb_idle_timeout == 3600 * USEC_PER_SEC);
	assert_true(cf->reserve_pool_timeout == 5 * USEC_PER_SEC);
	assert_true(cf->cancel_wait_timeout == 10 * USEC_PER_SEC);
	assert_true(cf->suspend_timeout == 10 * USEC_PER_SEC);
	assert_true(cf->stats_period == 60 * USEC_PER_SEC);
	assert_true(cf->dns_max_ttl == 15 * USEC_PER_SEC);
	assert_true(cf->query_wait_notify == 5 * USEC_PER_SEC);
	assert_true(cf->query_timeout == 0);
	assert_true(cf->client_idle_timeout == 0);
	assert_true(cf->idle_transaction_timeout == 0);
	assert_int_equal(cf->pkt_buf, 4096);
	assert_int_equal(cf->max_packet_size, 2147483647);
	assert_int_equal(cf->sbuf_loopcnt, 5);
	assert_int_equal(cf->tcp_defer_accept, 1);
	assert_int_equal(cf->tcp_keepalive, 1);
	assert_int_equal(cf->log_connections, 1);
	assert_int_equal(cf->log_disconnections, 1);
	assert_int_equal(cf->log_pooler_errors, 1);
	assert_int_equal(cf->log_stats, 1);
	assert_int_equal(cf->syslog, 0);
	assert_int_equal(cf->verbose, 0);
	assert_int_equal(cf->scram_iterations, 4096);
	assert_int_equal(cf->peer_id, 0);
	assert_string_equal(cf->syslog_ident, "pgbouncer");
	assert_string_equal(cf->syslog_facility, "daemon");
	assert_string_equal(cf->job_name, "pgbouncer");
	assert_string_equal(cf->track_extra_parameters, "IntervalStyle");
	assert_string_equal(cf->client_tls_sslmode, "disable");
	assert_string_equal(cf->server_tls_sslmode, "prefer");
	assert_string_equal(cf->client_tls_protocols, "secure");
	assert_string_equal(cf->client_tls_ciphers, "default");
	assert_string_equal(cf->client_tls_ecdhcurve, "auto");
	assert_string_equal(cf->client_tls_dheparams, "auto");
	assert_non_null(strstr(cf->auth_query, "pg_authid"));
	assert_int_equal(cf->n_dbs, 0);
	assert_null(cf->fallback_db);
	assert_int_equal(cf->n_users, 0);
	config_free(cf);
}

/* Unset strings are "", never NULL, and conffile is the path loaded. */
static void test_strings_never_null(void **state)
{
	char *path;
	char err[256];
	struct config *cf = load_text("[pgbouncer]\n", &path, err, sizeof(err));

	assert_non_null(cf);
	for (const struct config_key *k = config_keys; k->name; k++) {
		if (k->type == CF_STR)
			assert_non_null(*(char **)((char *)cf + k->offset));
	}
	assert_string_equal(cf->auth_file, "");
	assert_string_equal(cf->user, "");
	assert_string_equal(cf->conffile, path);
	config_free(cf);
	free(path);
}

static void test_key_table(void **state)
{
	struct config *cf = load_ok("[pgbouncer]\n");
	char buf[512], err[256];
	int n = 0;

	for (const struct config_key *k = config_keys; k->name; k++, n++) {
		/* alphabetical, no duplicates: SHOW CONFIG relies on it */
		if (k[1].name)
			assert_true(strcmp(k->name, k[1].name) < 0);
		assert_ptr_equal(config_find_key(k->name), k);
		config_format_value(cf, k, buf, sizeof(buf));
		/* every built-in default is itself a valid value */
		if (k->default_value && !config_set_value(cf, k, k->default_value, err, sizeof(err)))
			fail_msg("default of %s rejected: %s", k->name, err);
	}
	/* PgBouncer HEAD on Linux has 100 settings; pgwarden adds plugins */
	assert_int_equal(n, 101);
	config_free(cf);
}

static void test_key_table_contents(void **state)
{
	static const char *const must_have[] = {
		"peer_id", "client_tls_sslmode", "server_tls13_ciphers", "verbose", "conffile",
		"job_name", "auth_dbname", "auth_ident_file", "track_extra_parameters",
		"max_prepared_statements", "query_wait_notify", "transaction_timeout",
		"scram_iterations", "login_notify_message", "pool_idle_timeout", "auth_ldap_options",
	};
	static const char *const not_reloadable[] = {
		"listen_addr", "listen_port", "unix_socket_dir", "unix_socket_mode", "unix_socket_group",
		"user", "pidfile", "pkt_buf", "listen_backlog", "so_reuseport", "disable_pqexec",
		"resolv_conf", "job_name", "track_extra_parameters", "plugins",
	};
	int nr = 0;

	for (size_t i = 0; i < sizeof(must_have) / sizeof(must_have[0]); i++)
		assert_non_null(config_find_key(must_have[i]));
	for (size_t i = 0; i < sizeof(not_reloadable) / sizeof(not_reloadable[0]); i++)
		assert_false(config_find_key(not_reloadable[i])->reloadable);
	for (const struct config_key *k = config_keys; k->name; k++)
		nr += !k->reloadable;
	assert_int_equal(nr, (int)(sizeof(not_reloadable) / sizeof(not_reloadable[0])));

	assert_ptr_equal(config_find_key("service_name"), config_find_key("job_name"));
	assert_null(config_find_key("Listen_port"));
	assert_null(config_find_key("nope"));
	assert_null(config_find_key(NULL));
	assert_string_equal(config_find_key("listen_port")->default_value, "6432");
	assert_string_equal(config_find_key("unix_socket_mode")->default_value, "0777");
	assert_null(config_find_key("verbose")->default_value);
	assert_null(config_find_key("auth_file")->default_value);
}

/*
 * [plugin.NAME] sections
 */

static void test_plugin_sections(void **state)
{
	struct config *cf = load_ok("[pgbouncer]\nplugins = a, b\n"
				    "[plugin.a]\npath = /x/a.so\nkey = 1\nkey = 2\n"
				    "[plugin.b]\npath = b.so\nAnything-Goes.here = 'v'\n"
				    "[plugin.unused]\ncolour = red\n");
	const struct plugin_def *a = config_find_plugin(cf, "a");
	const struct plugin_def *b = config_find_plugin(cf, "b");

	assert_non_null(a);
	assert_int_equal(a->n_kv, 2);	/* a repeated key replaces the value */
	assert_string_equal(a->kv[0].key, "path");
	assert_string_equal(config_plugin_value(a, "key"), "2");
	assert_string_equal(config_plugin_value(b, "Anything-Goes.here"), "'v'");
	assert_null(config_plugin_value(b, "nope"));
	assert_null(config_find_plugin(cf, "c"));
	assert_non_null(config_find_plugin(cf, "unused"));
	config_free(cf);
}

static void test_plugin_errors(void **state)
{
	expect_error("[pgbouncer]\nplugins = ghost\n",
		     "plugin \"ghost\" is listed in plugins but has no [plugin.ghost] section");
	expect_error("[pgbouncer]\nplugins = p\n[plugin.p]\ncolour = red\n",
		     "plugin \"p\": [plugin.p] has no path");
	expect_error("[pgbouncer]\n[plugin.]\npath = x\n", "@:2: invalid plugin name \"\" in section header");
	expect_error("[pgbouncer]\n[plugin.a.b]\npath = x\n", "@:2: invalid plugin name \"a.b\" in section header");
}

/*
 * [pgbouncer] values
 */

static void test_values(void **state)
{
	struct config *cf = load_ok(
		"; a comment\n"
		"# another comment\n"
		"   ; indented comment\n"
		"\n"
		"[pgbouncer]\n"
		"listen_addr = 127.0.0.1, ::1\n"
		"listen_port=7000\n"
		"unix_socket_mode = 0700\n"
		"max_client_conn = 0x100\n"
		"pool_mode = TRANSACTION\n"
		"auth_type = scram-sha-256\n"
		"query_timeout = 0.5\n"
		"server_lifetime\t=\t90   \n"
		"server_reset_query = SELECT 1; -- # not a comment   \n"
		"admin_users =\n"
		"syslog = 1\n"
		"client_tls_sslmode = Verify-Full\n"
		"service_name = svc\n"
		"auth_file = /etc/pgbouncer/userlist.txt\n");

	assert_string_equal(cf->listen_addr, "127.0.0.1, ::1");
	assert_int_equal(cf->listen_port, 7000);
	assert_int_equal(cf->unix_socket_mode, 0700);
	assert_int_equal(cf->max_client_conn, 256);
	assert_int_equal(cf->pool_mode, POOL_TX);
	assert_int_equal(cf->auth_type, AUTH_TYPE_SCRAM);
	assert_true(cf->query_timeout == 500000);
	assert_true(cf->server_lifetime == 90 * USEC_PER_SEC);
	assert_string_equal(cf->server_reset_query, "SELECT 1; -- # not a comment");
	assert_string_equal(cf->admin_users, "");
	assert_int_equal(cf->syslog, 1);
	assert_string_equal(cf->client_tls_sslmode, "verify-full");
	assert_string_equal(cf->job_name, "svc");
	assert_string_equal(cf->auth_file, "/etc/pgbouncer/userlist.txt");
	config_free(cf);
}

static void test_later_key_overrides(void **state)
{
	struct config *cf = load_ok("[pgbouncer]\nlisten_port = 1\nlogfile = a\nlisten_port = 2\nlogfile = b\n");

	assert_int_equal(cf->listen_port, 2);
	assert_string_equal(cf->logfile, "b");
	config_free(cf);
}

/* PgBouncer re-applies the defaults at every [pgbouncer] header; keys without one survive. */
static void test_second_main_section_resets(void **state)
{
	struct config *cf = load_ok(
		"[pgbouncer]\nmax_client_conn = 77\nauth_file = /x\nlisten_port = 7000\n"
		"[databases]\n"
		"[pgbouncer]\nlisten_port = 7001\n");

	assert_int_equal(cf->max_client_conn, 100);
	assert_int_equal(cf->listen_port, 7001);
	assert_string_equal(cf->auth_file, "/x");
	config_free(cf);
}

static void test_crlf_and_tabs(void **state)
{
	struct config *cf = load_ok("[pgbouncer]\r\n\tlisten_port = 7002\r\nlogfile = /tmp/x.log \t\r\n");

	assert_int_equal(cf->listen_port, 7002);
	assert_string_equal(cf->logfile, "/tmp/x.log");
	config_free(cf);
}

static void test_bad_values(void **state)
{
	static const struct {
		const char *line;
		const char *err;
	} cases[] = {
		{ "syslog = on", "invalid value \"on\" for parameter syslog in configuration (@:2)" },
		{ "log_stats = true", "invalid value \"true\" for parameter log_stats in configuration (@:2)" },
		{ "server_lifetime = -1", "invalid value \"-1\" for parameter server_lifetime in configuration (@:2)" },
		{ "listen_port = 12abc", "invalid value \"12abc\" for parameter listen_port in configuration (@:2)" },
		{ "listen_port = ", "invalid value \"\" for parameter listen_port in configuration (@:2)" },
		{ "listen_port = 99999999999999999999999",
		  "invalid value \"99999999999999999999999\" for parameter listen_port in configuration (@:2)" },
		{ "listen_port = 70000",
		  "invalid value \"70000\" for parameter listen_port in configuration (@:2): must be between 1 and 65535" },
		{ "listen_port = 0",
		  "invalid value \"0\" for parameter listen_port in configuration (@:2): must be between 1 and 65535" },
		{ "max_client_conn = -5",
		  "invalid value \"-5\" for parameter max_client_conn in configuration (@:2): must be between 0 and 2147483647" },
		{ "max_client_conn = 4294967296",
		  "invalid value \"4294967296\" for parameter max_client_conn in configuration (@:2): must be between 0 and 2147483647" },
		{ "pkt_buf = 10",
		  "invalid value \"10\" for parameter pkt_buf in configuration (@:2): must be between 1024 and 67108864" },
		{ "query_timeout = abc", "invalid value \"abc\" for parameter query_timeout in configuration (@:2)" },
		{ "query_timeout = 1e400", "invalid value \"1e400\" for parameter query_timeout in configuration (@:2)" },
		{ "query_timeout = nan", "invalid value \"nan\" for parameter query_timeout in configuration (@:2)" },
		{ "query_timeout = inf", "invalid value \"inf\" for parameter query_timeout in configuration (@:2)" },
		{ "query_timeout = 5s", "invalid value \"5s\" for parameter query_timeout in configuration (@:2)" },
		{ "pool_mode = bogus", "invalid value \"bogus\" for parameter pool_mode in configuration (@:2)" },
		{ "auth_type = ldap",
		  "invalid value \"ldap\" for parameter auth_type in configuration (@:2): auth_type ldap is not supported" },
		{ "auth_type = password", "invalid value \"password\" for parameter auth_type in configuration (@:2)" },
		{ "server_tls_sslmode = sometimes",
		  "invalid value \"sometimes\" for parameter server_tls_sslmode in configuration (@:2)" },
		{ "foo = 1", "@:2: unknown parameter: pgbouncer/foo" },
		{ "Listen_port = 1", "@:2: unknown parameter: pgbouncer/Listen_port" },
		{ "'quoted key' = 1", "@:2: unknown parameter: pgbouncer/quoted key" },
	};
	char content[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(content, sizeof(content), "[pgbouncer]\n%s\nlisten_port = 7000\n", cases[i].line);
		expect_error(content, cases[i].err);
	}
}

static void test_syntax_errors(void **state)
{
	static const struct {
		const char *content;
		const char *err;
	} cases[] = {
		{ "", "main section missing from config file @" },
		{ "; only a comment\n", "main section missing from config file @" },
		{ "[databases]\nfoo = host=x\n", "main section missing from config file @" },
		{ "[pgbouncerx]\n", "invalid section \"pgbouncerx\" in configuration (@:1)" },
		{ "[pgbouncer]\n[Databases]\n", "invalid section \"Databases\" in configuration (@:2)" },
		{ "[]\n", "invalid section \"\" in configuration (@:1)" },
		{ "[pgbouncer\n", "syntax error in configuration (@:1), stopping loading" },
		{ "[pgbouncer] junk\n", "syntax error in configuration (@:1), stopping loading" },
		{ "[pgbouncer]\nlisten_port 6432\n", "syntax error in configuration (@:2), stopping loading" },
		{ "[pgbouncer]\nlisten port = 6432\n", "syntax error in configuration (@:2), stopping loading" },
		{ "[pgbouncer]\n= 1\n", "syntax error in configuration (@:2), stopping loading" },
		{ "[pgbouncer]\n'' = 1\n", "syntax error in configuration (@:2), stopping loading" },
		{ "[pgbouncer]\n'unterminated = 1\n", "syntax error in configuration (@:2), stopping loading" },
		{ "[pgbouncer]\n%include\n", "syntax error in configuration (@:2), stopping loading" },
		{ "[pgbouncer]\n%includefoo\n", "syntax error in configuration (@:2), stopping loading" },
		{ "[pgbouncer]\n\n\n\xff\xfe = 1\n", "syntax error in configuration (@:4), stopping loading" },
		{ "listen_port = 1\n[pgbouncer]\n", "@:1: value without section: listen_port" },
		{ "[pgbouncer]\n%include /nonexistent/x.ini\n",
		  "@:2: error processing include file: could not load file \"/nonexistent/x.ini\": No such file or directory" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_error(cases[i].content, cases[i].err);
}

/* Comments and section headers may carry trailing comments. */
static void test_section_trailing_comment(void **state)
{
	struct config *cf = load_ok("[pgbouncer] ; main\n[databases]\t# dbs\nfoo = host=x\n");

	assert_int_equal(cf->n_dbs, 1);
	config_free(cf);
}

static void test_embedded_nul(void **state)
{
	static const char content[] = "[pgbouncer]\nlisten_port = 70\0000\n";
	char err[256], want[256];
	char *path = write_tmp_len(content, sizeof(content) - 1);

	assert_null(config_load(path, err, sizeof(err)));
	expand(want, sizeof(want), "syntax error in configuration (@:2), stopping loading", path);
	assert_string_equal(err, want);
	unlink(path);
	free(path);
}

static void test_missing_file(void **state)
{
	char err[256];

	assert_null(config_load("/nonexistent/pgwarden.ini", err, sizeof(err)));
	assert_string_equal(err, "could not load file \"/nonexistent/pgwarden.ini\": No such file or directory");
	/* a directory opens but cannot be read */
	assert_null(config_load("/tmp", err, sizeof(err)));
	assert_non_null(strstr(err, "could not load file \"/tmp\""));
	/* no errbuf at all is fine too */
	assert_null(config_load("/nonexistent/pgwarden.ini", NULL, 0));
	assert_null(config_load(NULL, err, sizeof(err)));
}

/*
 * %include
 */

static void test_include(void **state)
{
	char *inner = write_tmp("listen_port = 7100\n[databases]\nincluded = host=inner\n");
	char middle_text[256], outer_text[512];
	char *middle, *outer;
	struct config *cf;
	char err[512];

	/* the included file continues the including file's section */
	snprintf(middle_text, sizeof(middle_text), "max_client_conn = 55\n%%include %s\n", inner);
	middle = write_tmp(middle_text);
	snprintf(outer_text, sizeof(outer_text),
		 "[pgbouncer]\n%%include\t%s  \nfoo = host=outer\n[pgbouncer]\nlisten_port = 7101\n", middle);
	outer = write_tmp(outer_text);

	cf = config_load(outer, err, sizeof(err));
	if (!cf)
		fail_msg("%s", err);
	/* the second [pgbouncer] header reset max_client_conn */
	assert_int_equal(cf->max_client_conn, 100);
	assert_int_equal(cf->listen_port, 7101);
	assert_int_equal(cf->n_dbs, 2);
	assert_string_equal(config_find_db(cf, "included")->host, "inner");
	/* back in the outer file, the section is still [databases] */
	assert_string_equal(config_find_db(cf, "foo")->host, "outer");
	config_free(cf);

	unlink(inner);
	unlink(middle);
	unlink(outer);
	free(inner);
	free(middle);
	free(outer);
}

/* An error inside an included file names the included file and its line. */
static void test_include_error_location(void **state)
{
	char *inner = write_tmp("\n\nbogus_key = 1\n");
	char text[256], err[512], want[512];
	char *outer;

	snprintf(text, sizeof(text), "[pgbouncer]\n%%include %s\n", inner);
	outer = write_tmp(text);
	assert_null(config_load(outer, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:3: unknown parameter: pgbouncer/bogus_key", inner);
	assert_string_equal(err, want);
	unlink(inner);
	unlink(outer);
	free(inner);
	free(outer);
}

/* A relative %include path is resolved from the process cwd, as in PgBouncer. */
static void test_include_relative_to_cwd(void **state)
{
	char *inner = write_tmp("listen_port = 7200\n");
	char text[256], err[256], cwd[PATH_MAX];
	char *outer;
	struct config *cf;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir("/tmp"), 0);
	snprintf(text, sizeof(text), "[pgbouncer]\n%%include %s\n", strrchr(inner, '/') + 1);
	outer = write_tmp(text);
	cf = config_load(outer, err, sizeof(err));
	assert_int_equal(chdir(cwd), 0);
	if (!cf)
		fail_msg("%s", err);
	assert_int_equal(cf->listen_port, 7200);
	config_free(cf);
	unlink(inner);
	unlink(outer);
	free(inner);
	free(outer);
}

static void test_include_loop(void **state)
{
	char path[] = "/tmp/pgwarden-test-config-XXXXXX";
	char text[256], err[512], want[512];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	snprintf(text, sizeof(text), "[pgbouncer]\n%%include %s\n", path);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_null(config_load(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "include nesting level too deep (%s:2), stopping loading", path);
	assert_string_equal(err, want);
	unlink(path);
}

/*
 * [databases]
 */

static void test_databases(void **state)
{
	struct config *cf = load_ok(
		"[pgbouncer]\n"
		"[databases]\n"
		"plain = \n"
		"full = dbname=real host=db1,db2 port=6000 user=u password='p w' auth_user=au "
		"auth_query='SELECT p FROM t WHERE u=$1' auth_dbname=adb pool_size=5 min_pool_size=1 "
		"reserve_pool=2 pool_mode=statement max_db_connections=9 max_db_client_connections=10 "
		"server_lifetime=30 connect_query='SET x = ''y''' client_encoding=UTF8 datestyle=ISO "
		"timezone=UTC application_name=app load_balance_hosts=disable\n"
		"'my db' = host=/var/run/postgresql reserve_pool_size=4\n"
		"spaces   =   host=a    port=5433   \n"
		"* = host=fallback port=5499\n"
		"redefined = host=first\n"
		"redefined = host=second\n");

	const struct db_def *d;

	assert_int_equal(cf->n_dbs, 5);
	assert_null(config_find_db(cf, "*"));
	assert_null(config_find_db(cf, "nope"));
	assert_null(config_find_db(cf, "FULL"));

	d = config_find_db(cf, "plain");
	assert_non_null(d);
	assert_null(d->dbname);
	assert_null(d->host);
	assert_null(d->user);
	assert_null(d->password);
	assert_int_equal(d->port, 5432);
	assert_int_equal(d->pool_size, -1);
	assert_int_equal(d->min_pool_size, -1);
	assert_int_equal(d->reserve_pool, -1);
	assert_int_equal(d->pool_mode, POOL_INHERIT);
	assert_int_equal(d->max_db_connections, -1);
	assert_int_equal(d->max_db_client_connections, -1);
	assert_int_equal(d->server_lifetime, -1);
	assert_int_equal(d->line, 3);

	d = config_find_db(cf, "full");
	assert_string_equal(d->name, "full");
	assert_string_equal(d->dbname, "real");
	assert_string_equal(d->host, "db1,db2");
	assert_int_equal(d->port, 6000);
	assert_string_equal(d->user, "u");
	assert_string_equal(d->password, "p w");
	assert_string_equal(d->auth_user, "au");
	assert_string_equal(d->auth_query, "SELECT p FROM t WHERE u=$1");
	assert_string_equal(d->auth_dbname, "adb");
	assert_int_equal(d->pool_size, 5);
	assert_int_equal(d->min_pool_size, 1);
	assert_int_equal(d->reserve_pool, 2);
	assert_int_equal(d->pool_mode, POOL_STMT);
	assert_int_equal(d->max_db_connections, 9);
	assert_int_equal(d->max_db_client_connections, 10);
	assert_int_equal(d->server_lifetime, 30);
	assert_string_equal(d->connect_query, "SET x = 'y'");
	assert_string_equal(d->client_encoding, "UTF8");
	assert_string_equal(d->datestyle, "ISO");
	assert_string_equal(d->timezone, "UTC");
	assert_string_equal(d->application_name, "app");
	assert_int_equal(d->line, 4);

	d = config_find_db(cf, "my db");
	assert_non_null(d);
	assert_string_equal(d->host, "/var/run/postgresql");
	assert_int_equal(d->reserve_pool, 4);

	d = config_find_db(cf, "spaces");
	assert_string_equal(d->host, "a");
	assert_int_equal(d->port, 5433);

	d = config_find_db(cf, "redefined");
	assert_string_equal(d->host, "second");
	assert_int_equal(d->line, 9);

	assert_non_null(cf->fallback_db);
	assert_string_equal(cf->fallback_db->name, "*");
	assert_string_equal(cf->fallback_db->host, "fallback");
	assert_int_equal(cf->fallback_db->port, 5499);
	config_free(cf);
}

static void test_many_databases(void **state)
{
	size_t cap = 64 * 1024, n;
	char *text = malloc(cap);
	char name[32];
	struct config *cf;

	n = snprintf(text, cap, "[pgbouncer]\n[databases]\n");
	for (int i = 0; i < 500; i++)
		n += snprintf(text + n, cap - n, "db%d = host=h%d port=%d\n", i, i, 1000 + i);
	cf = load_ok(text);
	assert_int_equal(cf->n_dbs, 500);
	for (int i = 0; i < 500; i += 37) {
		snprintf(name, sizeof(name), "db%d", i);
		assert_int_equal(config_find_db(cf, name)->port, 1000 + i);
	}
	config_free(cf);
	free(text);
}

static void test_database_errors(void **state)
{
	static const struct {
		const char *entry;
		const char *err;
	} cases[] = {
		{ "pgbouncer = host=x", "@:3: database name \"pgbouncer\" is reserved" },
		{ "foo = host=", "@:3: syntax error in connection string" },
		{ "foo = host=''", "@:3: syntax error in connection string" },
		{ "foo = host='abc", "@:3: syntax error in connection string" },
		{ "foo = host='a'b", "@:3: syntax error in connection string" },
		{ "foo = host=x dbname", "@:3: syntax error in connection string" },
		{ "foo = =x", "@:3: syntax error in connection string" },
		{ "foo = host=x bar=1", "@:3: unrecognized connection parameter: bar" },
		{ "foo = Host=x", "@:3: unrecognized connection parameter: Host" },
		{ "foo = query_wait_timeout=5x", "@:3: invalid query_wait_timeout: 5x" },
		{ "foo = port=abc", "@:3: invalid port: abc" },
		{ "foo = port=0", "@:3: invalid port: 0" },
		{ "foo = port=65536", "@:3: invalid port: 65536" },
		{ "foo = pool_size=12abc", "@:3: invalid pool_size: 12abc" },
		{ "foo = pool_size=-1", "@:3: invalid pool_size: -1" },
		{ "foo = server_lifetime=1.5", "@:3: invalid server_lifetime: 1.5" },
		{ "foo = pool_mode=bogus", "@:3: invalid pool mode: bogus" },
		{ "* = host=x bad=1", "@:3: unrecognized connection parameter: bad" },
	};
	char content[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(content, sizeof(content), "[pgbouncer]\n[databases]\n%s\n", cases[i].entry);
		expect_error(content, cases[i].err);
	}
}

static void test_parse_connstr(void **state)
{
	struct db_def def = { 0 }, copy;
	char err[256];

	assert_true(config_parse_connstr(&def, "host=h password='it''s a secret' pool_mode=Session", err, sizeof(err)));
	assert_string_equal(def.host, "h");
	assert_string_equal(def.password, "it's a secret");
	assert_int_equal(def.pool_mode, POOL_SESSION);
	assert_int_equal(def.port, 5432);
	assert_null(def.name);

	/* a later pair for the same key replaces the earlier one */
	config_db_def_clear(&def);
	assert_true(config_parse_connstr(&def, "host=a host=b\tport=1", err, sizeof(err)));
	assert_string_equal(def.host, "b");
	assert_int_equal(def.port, 1);

	config_db_def_copy(&copy, &def, "auto");
	assert_string_equal(copy.name, "auto");
	assert_string_equal(copy.host, "b");
	assert_ptr_not_equal(copy.host, def.host);
	config_db_def_clear(&copy);
	config_db_def_clear(&def);
	assert_null(def.host);

	/* failures leave nothing allocated (LeakSanitizer checks) */
	assert_false(config_parse_connstr(&def, "host=x user=y nope=1", err, sizeof(err)));
	assert_string_equal(err, "unrecognized connection parameter: nope");
	assert_null(def.host);
	assert_null(def.user);
	assert_false(config_parse_connstr(&def, "host=x port=", err, sizeof(err)));
	assert_string_equal(err, "syntax error in connection string");

	/* empty and blank strings are fine */
	assert_true(config_parse_connstr(&def, "", err, sizeof(err)));
	assert_true(config_parse_connstr(&def, "   ", err, sizeof(err)));
	assert_true(config_parse_connstr(&def, NULL, err, sizeof(err)));
	config_db_def_clear(NULL);
}

/*
 * [users] and [peers]
 */

static void test_users(void **state)
{
	struct config *cf = load_ok(
		"[pgbouncer]\n"
		"[users]\n"
		"bare =\n"
		"alice = pool_mode=transaction max_user_connections=3 pool_size=4 reserve_pool_size=5 "
		"max_user_client_connections=6 query_timeout=7 idle_transaction_timeout=8 client_idle_timeout=9 "
		"transaction_timeout=10 query_wait_timeout=11\n"
		"bob = pool_mode=session\n"
		"bob = max_user_connections=1\n");
	const struct user_def *u;

	assert_int_equal(cf->n_users, 3);
	u = config_find_user(cf, "bare");
	assert_non_null(u);
	assert_int_equal(u->pool_mode, POOL_INHERIT);
	assert_int_equal(u->max_user_connections, -1);
	assert_int_equal(u->pool_size, -1);
	assert_int_equal(u->reserve_pool_size, -1);
	assert_int_equal(u->max_user_client_connections, -1);
	assert_int_equal(u->query_timeout, -1);
	assert_int_equal(u->idle_transaction_timeout, -1);
	assert_int_equal(u->client_idle_timeout, -1);
	assert_int_equal(u->transaction_timeout, -1);
	assert_int_equal(u->query_wait_timeout, -1);

	u = config_find_user(cf, "alice");
	assert_int_equal(u->pool_mode, POOL_TX);
	assert_int_equal(u->max_user_connections, 3);
	assert_int_equal(u->pool_size, 4);
	assert_int_equal(u->reserve_pool_size, 5);
	assert_int_equal(u->max_user_client_connections, 6);
	assert_int_equal(u->query_timeout, 7);
	assert_int_equal(u->idle_transaction_timeout, 8);
	assert_int_equal(u->client_idle_timeout, 9);
	assert_int_equal(u->transaction_timeout, 10);
	assert_int_equal(u->query_wait_timeout, 11);

	/* the second line replaces the first entirely, as a redefinition */
	u = config_find_user(cf, "bob");
	assert_int_equal(u->pool_mode, POOL_INHERIT);
	assert_int_equal(u->max_user_connections, 1);

	assert_null(config_find_user(cf, "carol"));
	assert_null(config_find_user(NULL, "bob"));
	config_free(cf);
}

static void test_user_errors(void **state)
{
	static const struct {
		const char *entry;
		const char *err;
	} cases[] = {
		{ "bob = foo=1", "@:3: unrecognized user parameter: foo" },
		{ "bob = pool_mode=session host=x", "@:3: unrecognized user parameter: host" },
		{ "bob = pool_mode=bogus", "@:3: invalid pool mode: bogus" },
		{ "bob = max_user_connections=x", "@:3: invalid max_user_connections: x" },
		{ "bob = pool_mode", "@:3: syntax error in user settings" },
		{ "bob = pool_mode=", "@:3: syntax error in user settings" },
	};
	char content[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(content, sizeof(content), "[pgbouncer]\n[users]\n%s\n", cases[i].entry);
		expect_error(content, cases[i].err);
	}
}

static void test_peers(void **state)
{
	struct config *cf = load_ok("[pgbouncer]\npeer_id = 1\n[peers]\n1 = host=/tmp\n2 = host=x port=6433\n"
				    "3 = host=y pool_size=4\n2 = host=z port=6434\n");
	const struct peer_def *p;

	(void)state;
	assert_int_equal(cf->peer_id, 1);
	assert_int_equal(cf->n_dbs, 0);
	assert_int_equal(cf->n_peers, 3);
	p = config_find_peer(cf, 1);
	assert_non_null(p);
	assert_string_equal(p->host, "/tmp");
	assert_int_equal(p->port, 6432);
	assert_int_equal(p->pool_size, -1);
	p = config_find_peer(cf, 2);	/* the later line wins */
	assert_string_equal(p->host, "z");
	assert_int_equal(p->port, 6434);
	assert_int_equal(config_find_peer(cf, 3)->pool_size, 4);
	assert_null(config_find_peer(cf, 4));
	config_free(cf);
}

static void test_bad_peers(void **state)
{
	(void)state;
	expect_error("[peers]\n0 = host=x\n", "@:2: invalid peer id: 0");
	expect_error("[peers]\n65536 = host=x\n", "@:2: invalid peer id: 65536");
	expect_error("[peers]\nx = host=x\n", "@:2: invalid peer id: x");
	expect_error("[peers]\n1 = host=x nosuch=1\n", "@:2: unrecognized peer parameter: nosuch");
	expect_error("[peers]\n1 = host=x port=0\n", "@:2: invalid port: 0");
	expect_error("[peers]\n1 = host='x\n", "@:2: syntax error in peer settings");
}

/*
 * Helpers: lists, formatting, names, SET
 */

static void test_list_contains(void **state)
{
	assert_true(config_list_contains("a", "a"));
	assert_true(config_list_contains("admin, ops,root\tdba\n x", "ops"));
	assert_true(config_list_contains("admin, ops,root\tdba\n x", "root"));
	assert_true(config_list_contains("admin, ops,root\tdba\n x", "dba"));
	assert_true(config_list_contains("admin, ops,root\tdba\n x", "x"));
	assert_true(config_list_contains(",,a,,", "a"));
	assert_true(config_list_contains("extra_float_digits, options", "options"));
	assert_false(config_list_contains("admin, ops", "adm"));
	assert_false(config_list_contains("admin, ops", "opsx"));
	assert_false(config_list_contains("admin, ops", "Admin"));
	assert_false(config_list_contains("admin, ops", ""));
	assert_false(config_list_contains("", "admin"));
	assert_false(config_list_contains(" , ", "admin"));
	assert_false(config_list_contains(NULL, "admin"));
	assert_false(config_list_contains("admin", NULL));
}

static void test_format_value(void **state)
{
	struct config *cf = load_ok(
		"[pgbouncer]\nquery_timeout = 0.25\nstats_period = 1.5\npool_mode = statement\n"
		"auth_type = HBA\nadmin_users = a, b\n");
	char buf[256];

	assert_string_equal(fmt_key(cf, "listen_port", buf, sizeof(buf)), "6432");
	assert_string_equal(fmt_key(cf, "unix_socket_mode", buf, sizeof(buf)), "511");
	assert_string_equal(fmt_key(cf, "server_lifetime", buf, sizeof(buf)), "3600");
	assert_string_equal(fmt_key(cf, "query_timeout", buf, sizeof(buf)), "0.25");
	assert_string_equal(fmt_key(cf, "stats_period", buf, sizeof(buf)), "1.5");
	assert_string_equal(fmt_key(cf, "client_idle_timeout", buf, sizeof(buf)), "0");
	assert_string_equal(fmt_key(cf, "pool_mode", buf, sizeof(buf)), "statement");
	assert_string_equal(fmt_key(cf, "auth_type", buf, sizeof(buf)), "hba");
	assert_string_equal(fmt_key(cf, "admin_users", buf, sizeof(buf)), "a, b");
	assert_string_equal(fmt_key(cf, "auth_file", buf, sizeof(buf)), "");
	assert_string_equal(fmt_key(cf, "server_reset_query", buf, 4), "DIS");
	config_format_value(cf, config_find_key("listen_port"), buf, 0);
	config_format_value(cf, NULL, buf, sizeof(buf));
	assert_string_equal(buf, "");
	config_free(cf);
}

static void test_names(void **state)
{
	assert_string_equal(pool_mode_name(POOL_SESSION), "session");
	assert_string_equal(pool_mode_name(POOL_TX), "transaction");
	assert_string_equal(pool_mode_name(POOL_STMT), "statement");
	assert_string_equal(pool_mode_name(POOL_INHERIT), "");
	assert_string_equal(pool_mode_name((enum pool_mode)42), "INVALID");
	assert_string_equal(auth_type_name(AUTH_TYPE_ANY), "any");
	assert_string_equal(auth_type_name(AUTH_TYPE_TRUST), "trust");
	assert_string_equal(auth_type_name(AUTH_TYPE_PLAIN), "plain");
	assert_string_equal(auth_type_name(AUTH_TYPE_MD5), "md5");
	assert_string_equal(auth_type_name(AUTH_TYPE_SCRAM), "scram-sha-256");
	assert_string_equal(auth_type_name(AUTH_TYPE_CERT), "cert");
	assert_string_equal(auth_type_name(AUTH_TYPE_HBA), "hba");
}

static void test_set_value(void **state)
{
	struct config *cf = load_ok("[pgbouncer]\n");
	char err[256];

	assert_true(config_set_value(cf, config_find_key("default_pool_size"), "50", err, sizeof(err)));
	assert_int_equal(cf->default_pool_size, 50);
	assert_true(config_set_value(cf, config_find_key("server_reset_query"), "", err, sizeof(err)));
	assert_string_equal(cf->server_reset_query, "");

	assert_false(config_set_value(cf, config_find_key("default_pool_size"), "lots", err, sizeof(err)));
	assert_string_equal(err, "invalid value \"lots\" for parameter default_pool_size");
	assert_int_equal(cf->default_pool_size, 50);
	assert_false(config_set_value(cf, config_find_key("listen_port"), "0", err, sizeof(err)));
	assert_string_equal(err, "invalid value \"0\" for parameter listen_port: must be between 1 and 65535");
	assert_false(config_set_value(cf, NULL, "1", err, sizeof(err)));
	config_free(cf);
}

/* "listen_addr = aaa...a<last>" with a value of len characters. */
static char *long_listen_addr(const char *head, size_t len, char last)
{
	char *text = malloc(strlen(head) + len + 32);
	size_t n = strlen(head);

	strcpy(text, head);
	strcpy(text + n, "listen_addr = ");
	n += strlen("listen_addr = ");
	memset(text + n, 'a', len - 1);
	text[n + len - 1] = last;
	strcpy(text + n + len, "\n");
	return text;
}

/*
 * A reload keeps the settings that need a restart, and keeps them whole:
 * values once went through a 1 KB text buffer, so a longer listen_addr was
 * cut short, or could change when the difference lay past the cut.
 */
static void test_keep_startup_values(void **state)
{
	char *old_text = long_listen_addr("[pgbouncer]\nlisten_port = 7000\ndefault_pool_size = 5\n", 2000, 'a');
	char *new_text = long_listen_addr("[pgbouncer]\nlisten_port = 7001\ndefault_pool_size = 9\n", 2000, 'b');
	struct config *oldcf = load_ok(old_text), *newcf = load_ok(new_text);

	config_keep_startup_values(newcf, oldcf);
	assert_int_equal(newcf->listen_port, 7000);
	assert_string_equal(newcf->listen_addr, oldcf->listen_addr);
	assert_int_equal(newcf->default_pool_size, 9);	/* reloadable: the new value */
	config_free(newcf);

	/* the other way round: a short value replaced by the long one */
	newcf = load_ok("[pgbouncer]\nlisten_addr = 127.0.0.1\n");
	config_keep_startup_values(newcf, oldcf);
	assert_string_equal(newcf->listen_addr, oldcf->listen_addr);
	config_free(newcf);
	config_free(oldcf);
	free(old_text);
	free(new_text);
}

/*
 * Robustness: long lines, junk, random bytes.  The only requirement is a
 * clean result (config or error) and no memory error under ASan.
 */

static void test_long_lines(void **state)
{
	size_t big = 200 * 1024, head;
	char *text = malloc(big + 64);
	struct config *cf;
	char err[256];

	/* a very long value is kept whole */
	strcpy(text, "[pgbouncer]\nserver_reset_query = ");
	head = strlen(text);
	memset(text + head, 'x', big);
	strcpy(text + head + big, "\n");
	cf = load_ok(text);
	assert_int_equal(strlen(cf->server_reset_query), big);
	config_free(cf);

	/* a very long key is just unknown, and the message is cut short safely */
	memset(text, 'k', big);
	strcpy(text + big, " = 1\n");
	memmove(text + 12, text, big + 6);
	memcpy(text, "[pgbouncer]\n", 12);
	cf = load_text(text, NULL, err, sizeof(err));
	assert_null(cf);
	assert_non_null(strstr(err, "unknown parameter: pgbouncer/kkkk"));

	/* a long line of junk */
	memset(text, '\x80', big);
	text[big] = '\0';
	assert_null(load_text(text, NULL, err, sizeof(err)));
	free(text);
}

static void test_fuzz(void **state)
{
	static const char *const pieces[] = {
		"[pgbouncer]", "[databases]", "[users]", "[peers]", "[x", "]", "=", " = ", "'", "''", "\n",
		"\r\n", "\t", ";", "#", "%include ", "%include /nonexistent", "listen_port", "pool_mode",
		"auth_type", "host=", "port=", "pool_size=", "'a b'", "x", "1", "-1", "0x", "1e9", "*",
		"pgbouncer", "\xff", "\0", "server_lifetime", "session", " ",
	};
	char buf[512], err[128];
	unsigned seed = 12345;

	for (int iter = 0; iter < 3000; iter++) {
		size_t len = 0;
		int n = rand_r(&seed) % 24;
		char *path;
		struct config *cf;

		for (int i = 0; i < n; i++) {
			const char *p = pieces[rand_r(&seed) % (sizeof(pieces) / sizeof(pieces[0]))];
			size_t plen = *p ? strlen(p) : 1;

			if (len + plen >= sizeof(buf))
				break;
			memcpy(buf + len, p, plen);
			len += plen;
		}
		/* sometimes raw random bytes instead */
		if (iter % 5 == 0) {
			len = rand_r(&seed) % sizeof(buf);
			for (size_t i = 0; i < len; i++)
				buf[i] = (char)rand_r(&seed);
		}
		path = write_tmp_len(buf, len);
		cf = config_load(path, err, sizeof(err));
		assert_true(cf != NULL || err[0] != '\0');
		config_free(cf);
		unlink(path);
		free(path);
	}
}

static void test_fuzz_connstr(void **state)
{
	static const char alphabet[] = "hostport=' \tuser=dbname=pool_mode=session123'";
	struct db_def def = { 0 };
	char buf[64], err[128];
	unsigned seed = 999;

	for (int iter = 0; iter < 20000; iter++) {
		size_t len = rand_r(&seed) % (sizeof(buf) - 1);

		for (size_t i = 0; i < len; i++)
			buf[i] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
		buf[len] = '\0';
		if (config_parse_connstr(&def, buf, err, sizeof(err)))
			config_db_def_clear(&def);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_strings_never_null),
		cmocka_unit_test(test_key_table),
		cmocka_unit_test(test_key_table_contents),
		cmocka_unit_test(test_plugin_sections),
		cmocka_unit_test(test_plugin_errors),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_later_key_overrides),
		cmocka_unit_test(test_second_main_section_resets),
		cmocka_unit_test(test_crlf_and_tabs),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_section_trailing_comment),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_include),
		cmocka_unit_test(test_include_error_location),
		cmocka_unit_test(test_include_relative_to_cwd),
		cmocka_unit_test(test_include_loop),
		cmocka_unit_test(test_databases),
		cmocka_unit_test(test_many_databases),
		cmocka_unit_test(test_database_errors),
		cmocka_unit_test(test_parse_connstr),
		cmocka_unit_test(test_users),
		cmocka_unit_test(test_user_errors),
		cmocka_unit_test(test_peers),
		cmocka_unit_test(test_bad_peers),
		cmocka_unit_test(test_list_contains),
		cmocka_unit_test(test_format_value),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_set_value),
		cmocka_unit_test(test_keep_startup_values),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_fuzz),
		cmocka_unit_test(test_fuzz_connstr),
	};
	struct log_settings quiet = { .quiet = true };

	/* warnings from the files under test are expected; keep the output readable */
	log_configure(&quiet);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
