/*
 * TLS settings: the two OpenSSL contexts built from the client_tls_* and
 * server_tls_* keys, PgBouncer's names and semantics.
 *
 *   accept context:  pgwarden as the TLS server, for clients
 *   connect context: pgwarden as the TLS client, towards PostgreSQL
 *
 * Both are rebuilt on RELOAD/SET; when the new settings do not load the old
 * contexts stay (connections hold a reference to the context they started
 * with, so nothing in flight is disturbed).
 */
#ifndef PGWARDEN_TLS_H
#define PGWARDEN_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct config;

enum sslmode {
	SSLMODE_DISABLE,
	SSLMODE_ALLOW,
	SSLMODE_PREFER,
	SSLMODE_REQUIRE,
	SSLMODE_VERIFY_CA,
	SSLMODE_VERIFY_FULL,
};

/* Build both contexts from cf.  On failure err says why and the contexts in
 * use (if any) stay. */
bool tls_setup(const struct config *conf, char *err, size_t errlen);
void tls_shutdown(void);

enum sslmode tls_client_mode(void);
enum sslmode tls_server_mode(void);
/* NULL when that side has TLS disabled. */
SSL_CTX *tls_accept_ctx(void);
SSL_CTX *tls_connect_ctx(void);

/* "TLSv1.3/TLS_AES_256_GCM_SHA384/ECDH=X25519", as PgBouncer's SHOW CLIENTS. */
void tls_describe(SSL *ssl, char *buf, size_t len);
/* The verified peer certificate's common name; false when there is none. */
bool tls_peer_common_name(SSL *ssl, char *buf, size_t len);
/* The first queued OpenSSL error, for log lines ("" when none). */
const char *tls_error_text(void);

#endif
