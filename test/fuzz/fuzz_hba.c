/*
 * libFuzzer harness for the pg_hba.conf parser and matcher (src/hba.c),
 * used with auth_type = hba.
 *
 * The input is the HBA file /etc/pgw/pg_hba.conf; "\n%%\n" lines cut off
 * the files /etc/pgw/a, /etc/pgw/b and /etc/pgw/sub/c that its @file
 * lists may name (virtual_files.h: no real file is ever opened, whatever
 * path the input names).
 *
 * Checked: any text gives rules or an error, never a crash or a leak.  An
 * error is "FILE:LINE: message" with FILE the file at fault.  hba_parse()
 * of the text and hba_load_file() of the same file agree (same rules or
 * same message).  On rules, hba_match() over connection types, addresses,
 * databases and users: always a known method, "peer" only for unix
 * sockets, no rules = reject, no database or user = reject, and an
 * IPv4-mapped IPv6 client (::ffff:a.b.c.d) gets what the IPv4 client gets;
 * a map= comes only with a cert or peer rule.  The same text read as an
 * ident map file (auth_ident_file): a map or a "pg_ident.conf:LINE: ..."
 * error, and ident_allows() over map and user names never crashes.
 */
/* fuzz-build: src/hba.c src/util.c src/log.c -- -Wl,--wrap=fopen -lcrypto */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hba.h"
#include "virtual_files.h"
#include "fuzz_check.h"

#define HBA_PATH "/etc/pgw/pg_hba.conf"

static const char *const file_names[] = { HBA_PATH, "/etc/pgw/a", "/etc/pgw/b", "/etc/pgw/sub/c" };

static const char *const names[] = {
	"postgres", "app", "all", "sameuser", "replication", "a b", "x,y", "\"q\"", "",
};

static const char *const ipv4[] = { "127.0.0.1", "10.1.2.3", "192.168.100.7", "0.0.0.0", "255.255.255.255" };
static const char *const ipv6[] = { "::1", "fe80::1", "2001:db8::7", "::" };

/* "FILE:LINE: message", FILE one of ours (a missing @file is reported where it is named). */
static void check_error(const char *err)
{
	const char *p = strchr(err, ':');
	bool known = false;

	CHECK(p);
	for (size_t i = 0; i < sizeof(file_names) / sizeof(file_names[0]); i++) {
		size_t n = strlen(file_names[i]);

		if ((size_t)(p - err) == n && strncmp(err, file_names[i], n) == 0)
			known = true;
	}
	if (!known) {
		fprintf(stderr, "error names no file of ours: %s\n", err);
		abort();
	}
	p++;
	CHECK(*p >= '1' && *p <= '9');
	while (*p >= '0' && *p <= '9')
		p++;
	CHECK(p[0] == ':' && p[1] == ' ' && p[2] != '\0');
}

static void check_method(enum hba_method m, enum hba_conn_type conn)
{
	CHECK(strcmp(hba_method_name(m), "unknown") != 0);
	CHECK(m != HBA_PEER || conn == HBA_CONN_LOCAL);
}

static void check_matches(const struct hba *hba)
{
	static const enum hba_conn_type tcp[] = { HBA_CONN_TCP, HBA_CONN_TCP_TLS };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in6 mapped = { .sin6_family = AF_INET6 };
	size_t n_names = sizeof(names) / sizeof(names[0]);

	CHECK(hba_match(hba, HBA_CONN_LOCAL, NULL, "app", NULL) == HBA_REJECT);
	CHECK(hba_match(hba, HBA_CONN_TCP, "app", NULL, NULL) == HBA_REJECT);
	for (size_t d = 0; d < n_names; d++) {
		for (size_t u = 0; u < n_names; u++) {
			const char *db = names[d], *user = names[u];
			enum hba_method m = hba_match(hba, HBA_CONN_LOCAL, db, user, NULL);

			check_method(m, HBA_CONN_LOCAL);
			CHECK(hba_rule_count(hba) > 0 || m == HBA_REJECT);
			for (size_t t = 0; t < 2; t++) {
				check_method(hba_match(hba, tcp[t], db, user, NULL), tcp[t]);
				for (size_t a = 0; a < sizeof(ipv4) / sizeof(ipv4[0]); a++) {
					inet_pton(AF_INET, ipv4[a], &sin.sin_addr);
					mapped.sin6_addr.s6_addr[10] = 0xff;
					mapped.sin6_addr.s6_addr[11] = 0xff;
					memcpy(mapped.sin6_addr.s6_addr + 12, &sin.sin_addr, 4);
					const char *map;
					m = hba_match_map(hba, tcp[t], db, user, (struct sockaddr *)&sin, &map);
					check_method(m, tcp[t]);
					CHECK(!map || m == HBA_CERT || m == HBA_PEER);
					CHECK(hba_match(hba, tcp[t], db, user, (struct sockaddr *)&mapped) == m);
				}
				for (size_t a = 0; a < sizeof(ipv6) / sizeof(ipv6[0]); a++) {
					inet_pton(AF_INET6, ipv6[a], &sin6.sin6_addr);
					check_method(hba_match(hba, tcp[t], db, user, (struct sockaddr *)&sin6), tcp[t]);
				}
			}
		}
	}
}

static void check_ident(const char *text)
{
	char err[1024];
	struct ident_map *im = ident_parse(text, NULL, err, sizeof(err));
	size_t n_names = sizeof(names) / sizeof(names[0]);

	if (!im) {
		CHECK(strncmp(err, "pg_ident.conf:", 14) == 0);
		return;
	}
	CHECK(err[0] == '\0');
	for (size_t a = 0; a < n_names; a++)
		for (size_t b = 0; b < n_names; b++)
			(void)ident_allows(im, names[a], names[b], names[(a + b) % n_names]);
	CHECK(!ident_allows(im, NULL, "app", "app"));
	ident_free(im);
}

/* hba_load_file() of the virtual file must say exactly what hba_parse() said. */
static void check_load_agrees(const struct hba *parsed, const char *parse_err)
{
	char err[1024];
	struct hba *loaded;

	vfs_begin();
	loaded = hba_load_file(HBA_PATH, err, sizeof(err));
	vfs_end();
	CHECK(!loaded == !parsed);
	if (loaded)
		CHECK(hba_rule_count(loaded) == hba_rule_count(parsed));
	else if (strcmp(err, parse_err) != 0) {
		fprintf(stderr, "hba_parse: %s\nhba_load_file: %s\n", parse_err, err);
		abort();
	}
	hba_free(loaded);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[1024];
	struct hba *hba;
	char *text;

	vfs_split(data, size, file_names, sizeof(file_names) / sizeof(file_names[0]));
	text = strndup(vfs.files[0].data, vfs.files[0].len);
	vfs_begin();
	hba = hba_parse(text, HBA_PATH, err, sizeof(err));
	vfs_end();
	if (hba) {
		CHECK(err[0] == '\0');
		check_matches(hba);
	} else {
		check_error(err);
	}
	/* a NUL byte cuts hba_parse()'s text short but makes the file invalid */
	if (strlen(text) == vfs.files[0].len)
		check_load_agrees(hba, err);
	hba_free(hba);
	check_ident(text);
	free(text);
	return 0;
}
