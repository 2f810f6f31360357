/*
 * pg_hba.conf rules for auth_type = hba.
 *
 * The file format is PgBouncer's subset of PostgreSQL's pg_hba.conf:
 *
 *   local      DATABASE USER         METHOD [name=value ...]
 *   host       DATABASE USER ADDRESS METHOD [name=value ...]
 *   hostssl    DATABASE USER ADDRESS METHOD [name=value ...]
 *   hostnossl  DATABASE USER ADDRESS METHOD [name=value ...]
 *
 * DATABASE: comma-separated names, "all", "sameuser", "replication"
 *           (never matches a pooler connection), "@file".
 * USER:     comma-separated names, "all", "@file" ("+group" is an error).
 * ADDRESS:  "all", a.b.c.d/len, x::y/len, or an address with an optional
 *           separate netmask column (no mask = that single host).
 * METHOD:   trust, reject, md5, password, scram-sha-256, cert, peer
 *           (peer on local lines only).  Options: map=NAME on cert and
 *           peer rules names a user name map of the ident map file (below);
 *           other options are accepted and ignored.
 *
 * The ident map file (auth_ident_file) is PgBouncer 1.23's subset of
 * pg_ident.conf: "MAP SYSTEM-USER DATABASE-USER" lines, DATABASE-USER a
 * name or "all"; regular expressions, +groups and includes are refused.
 *
 * Loading is all-or-nothing: a file with any bad line yields NULL and a
 * "FILE:LINE: message" error, so a reload can keep the previous rules.
 * This module only parses and matches; it logs nothing and does no I/O
 * other than reading the file and its @file includes.
 */
#ifndef PGWARDEN_HBA_H
#define PGWARDEN_HBA_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

enum hba_conn_type {
	HBA_CONN_LOCAL,		/* unix socket */
	HBA_CONN_TCP,		/* TCP without TLS */
	HBA_CONN_TCP_TLS,	/* TCP with TLS */
};

enum hba_method {
	HBA_TRUST,
	HBA_REJECT,
	HBA_MD5,
	HBA_PASSWORD,
	HBA_SCRAM,
	HBA_CERT,
	HBA_PEER,
};

struct hba;

/* Read and parse an HBA file.  NULL with a message in err on any error. */
struct hba *hba_load_file(const char *path, char *err, size_t errlen);

/*
 * Parse HBA text.  filename is used in error messages and its directory is
 * the base for relative @file names; NULL means "pg_hba.conf" in the
 * current directory.  NULL with a message in err on any error.
 */
struct hba *hba_parse(const char *text, const char *filename, char *err, size_t errlen);

void hba_free(struct hba *hba);

/* Number of rules loaded (comment and blank lines are not rules). */
size_t hba_rule_count(const struct hba *hba);

/*
 * The method of the first rule that matches; HBA_REJECT when none does
 * (as PostgreSQL: no matching line = reject), and for a NULL hba,
 * database or user.  addr is NULL for unix sockets.  An IPv4-mapped IPv6
 * client (::ffff:a.b.c.d) is matched as the IPv4 client it is.
 *
 * A "cert" result on a connection without TLS cannot succeed: the caller
 * has to fail it, as it would for a missing client certificate.
 */
enum hba_method hba_match(const struct hba *hba, enum hba_conn_type conn,
			  const char *database, const char *user,
			  const struct sockaddr *addr);

/* hba_match, also giving the matching rule's map= (NULL: none), valid while hba is. */
enum hba_method hba_match_map(const struct hba *hba, enum hba_conn_type conn,
			      const char *database, const char *user,
			      const struct sockaddr *addr, const char **map);

/* "trust", "reject", "md5", "password", "scram-sha-256", "cert", "peer". */
const char *hba_method_name(enum hba_method m);

/* ---- user name maps ---- */
struct ident_map;

/* Read and parse an ident map file; NULL with "FILE:LINE: message" on any error. */
struct ident_map *ident_load_file(const char *path, char *err, size_t errlen);
/* The same from text (filename for messages; NULL: "pg_ident.conf"). */
struct ident_map *ident_parse(const char *text, const char *filename, char *err, size_t errlen);
void ident_free(struct ident_map *im);
size_t ident_line_count(const struct ident_map *im);
/* Does map allow the external name system_user (OS user, certificate CN)
 * to log in as db_user?  False for a NULL map file or an unknown map. */
bool ident_allows(const struct ident_map *im, const char *map, const char *system_user, const char *db_user);

#endif
