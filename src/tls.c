/*
 * TLS contexts from the config; see tls.h.
 *
 * The keys follow PgBouncer (which follows libtls): protocols as
 * "secure" (TLS 1.2 and 1.3), "all"/"legacy" or a list such as
 * "tlsv1.2,tlsv1.3"; ciphers (TLS 1.2 and lower) as a keyword or an OpenSSL
 * cipher string; client_tls_ecdhcurve "auto", "none" or a group list;
 * client_tls_dheparams "auto", "legacy" or "none".
 */
#include "tls.h"
#include "config.h"
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

static struct {
	SSL_CTX *accept_ctx;
	SSL_CTX *connect_ctx;
	enum sslmode client_mode;
	enum sslmode server_mode;
} tls;

static const char *const sslmode_names[] = {
	"disable", "allow", "prefer", "require", "verify-ca", "verify-full",
};

static enum sslmode parse_sslmode(const char *s)
{
	for (size_t i = 0; i < sizeof(sslmode_names) / sizeof(sslmode_names[0]); i++) {
		if (s && strcasecmp(s, sslmode_names[i]) == 0)
			return (enum sslmode)i;
	}
	return SSLMODE_DISABLE;	/* the config loader refused anything else */
}

const char *tls_error_text(void)
{
	static char buf[256];
	unsigned long e = ERR_get_error();

	ERR_clear_error();
	if (!e)
		return "";
	ERR_error_string_n(e, buf, sizeof(buf));
	return buf;
}

/* "secure", "all", "legacy" or a list of tlsv1.0 ... tlsv1.3. */
static bool set_protocols(SSL_CTX *ctx, const char *key, const char *value, char *err, size_t errlen)
{
	static const struct { const char *name; int version; } names[] = {
		{ "tlsv1.0", TLS1_VERSION }, { "tlsv1.1", TLS1_1_VERSION },
		{ "tlsv1.2", TLS1_2_VERSION }, { "tlsv1.3", TLS1_3_VERSION },
	};
	int min = 0, max = 0;
	char list[256], *save = NULL;

	if (strcasecmp(value, "secure") == 0 || strcasecmp(value, "default") == 0)
		value = "tlsv1.2,tlsv1.3";
	else if (strcasecmp(value, "all") == 0 || strcasecmp(value, "legacy") == 0)
		value = "tlsv1.0,tlsv1.1,tlsv1.2,tlsv1.3";
	snprintf(list, sizeof(list), "%s", value);
	for (char *t = strtok_r(list, ",: ", &save); t; t = strtok_r(NULL, ",: ", &save)) {
		size_t i;
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			if (strcasecmp(t, names[i].name) == 0)
				break;
		}
		if (i == sizeof(names) / sizeof(names[0])) {
			snprintf(err, errlen, "%s: unknown protocol \"%s\"", key, t);
			return false;
		}
		if (!min || names[i].version < min)
			min = names[i].version;
		if (names[i].version > max)
			max = names[i].version;
	}
	if (!min) {
		snprintf(err, errlen, "%s: no protocol given", key);
		return false;
	}
	SSL_CTX_set_min_proto_version(ctx, min);
	SSL_CTX_set_max_proto_version(ctx, max);
	return true;
}

/* libtls' cipher keywords, else an OpenSSL cipher string. */
static bool set_ciphers(SSL_CTX *ctx, const char *key, const char *value, const char *tls13, char *err,
			size_t errlen)
{
	static const struct { const char *name; const char *ciphers; } keywords[] = {
		{ "default", "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20" },
		{ "secure", "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20" },
		{ "fast", "ECDHE+AESGCM:ECDHE+CHACHA20" },
		{ "normal", "HIGH:MEDIUM:!aNULL" },
		{ "compat", "HIGH:!aNULL" },
		{ "legacy", "HIGH:MEDIUM:!aNULL" },
		{ "insecure", "ALL:!aNULL:!eNULL" },
		{ "all", "ALL:!aNULL:!eNULL" },
	};

	for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
		if (strcasecmp(value, keywords[i].name) == 0) {
			value = keywords[i].ciphers;
			break;
		}
	}
	if (!SSL_CTX_set_cipher_list(ctx, value)) {
		snprintf(err, errlen, "%s: no usable cipher in \"%s\"", key, value);
		return false;
	}
	if (tls13 && tls13[0] && !SSL_CTX_set_ciphersuites(ctx, tls13)) {
		snprintf(err, errlen, "%s: bad TLS 1.3 cipher suites \"%s\"", key, tls13);
		return false;
	}
	return true;
}

static bool load_key_pair(SSL_CTX *ctx, const char *cert_key, const char *cert, const char *key, char *err,
			  size_t errlen)
{
	if (!cert[0] && !key[0])
		return true;
	if (!cert[0] || !key[0]) {
		snprintf(err, errlen, "%s: a certificate needs its key and the key its certificate", cert_key);
		return false;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		snprintf(err, errlen, "cannot load certificate %s: %s", cert, tls_error_text());
		return false;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		snprintf(err, errlen, "cannot load key %s: %s", key, tls_error_text());
		return false;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "key %s does not match certificate %s", key, cert);
		return false;
	}
	return true;
}

static bool load_ca(SSL_CTX *ctx, const char *ca, char *err, size_t errlen)
{
	if (!ca[0])
		return true;
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		snprintf(err, errlen, "cannot load CA file %s: %s", ca, tls_error_text());
		return false;
	}
	return true;
}

static SSL_CTX *new_ctx(const SSL_METHOD *method)
{
	SSL_CTX *ctx = SSL_CTX_new(method);

	if (!ctx)
		return NULL;
	/* the sbuf's output queue may move between a partial write and its
	 * retry; renegotiation would need reads inside writes */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	/* one read() per burst of records instead of two per record (header,
	 * then body); sbuf.c polls what OpenSSL holds */
	SSL_CTX_set_read_ahead(ctx, 1);
	return ctx;
}

static bool set_key_exchange(SSL_CTX *ctx, const struct config *conf, char *err, size_t errlen)
{
	const char *curve = conf->client_tls_ecdhcurve;
	const char *dh = conf->client_tls_dheparams;

	if (strcasecmp(curve, "auto") != 0 && strcasecmp(curve, "none") != 0 &&
	    SSL_CTX_set1_groups_list(ctx, curve) != 1) {
		snprintf(err, errlen, "client_tls_ecdhcurve: unknown curve \"%s\"", curve);
		return false;
	}
	if (strcasecmp(dh, "auto") == 0 || strcasecmp(dh, "legacy") == 0) {
		SSL_CTX_set_dh_auto(ctx, 1);
	} else if (strcasecmp(dh, "none") != 0) {
		snprintf(err, errlen, "client_tls_dheparams: expected auto, legacy or none, not \"%s\"", dh);
		return false;
	}
	return true;
}

/* For clients: our certificate, and theirs checked against the CA. */
static SSL_CTX *build_accept_ctx(const struct config *conf, enum sslmode mode, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	if (mode == SSLMODE_DISABLE)
		return NULL;
	if (!conf->client_tls_key_file[0] || !conf->client_tls_cert_file[0]) {
		snprintf(err, errlen, "client_tls_sslmode = %s needs client_tls_key_file and client_tls_cert_file",
			 sslmode_names[mode]);
		return NULL;
	}
	if (mode >= SSLMODE_VERIFY_CA && !conf->client_tls_ca_file[0]) {
		snprintf(err, errlen, "client_tls_sslmode = %s needs client_tls_ca_file", sslmode_names[mode]);
		return NULL;
	}
	if (!(ctx = new_ctx(TLS_server_method()))) {
		snprintf(err, errlen, "cannot create a TLS context: %s", tls_error_text());
		return NULL;
	}
	if (!set_protocols(ctx, "client_tls_protocols", conf->client_tls_protocols, err, errlen) ||
	    !set_ciphers(ctx, "client_tls_ciphers", conf->client_tls_ciphers, conf->client_tls13_ciphers, err, errlen) ||
	    !set_key_exchange(ctx, conf, err, errlen) ||
	    !load_key_pair(ctx, "client_tls_cert_file", conf->client_tls_cert_file, conf->client_tls_key_file, err,
			   errlen) ||
	    !load_ca(ctx, conf->client_tls_ca_file, err, errlen)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	/* With a CA, a client certificate is asked for (auth_type = cert needs
	 * it); verify-ca/verify-full also refuse a client without one. */
	if (conf->client_tls_ca_file[0]) {
		int verify = SSL_VERIFY_PEER;
		if (mode >= SSLMODE_VERIFY_CA)
			verify |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
		SSL_CTX_set_verify(ctx, verify, NULL);
	}
	return ctx;
}

/* Towards PostgreSQL: its certificate checked for verify-ca/verify-full
 * (the host name per connection, see sbuf_tls_connect). */
static SSL_CTX *build_connect_ctx(const struct config *conf, enum sslmode mode, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	if (mode == SSLMODE_DISABLE)
		return NULL;
	if (mode >= SSLMODE_VERIFY_CA && !conf->server_tls_ca_file[0]) {
		snprintf(err, errlen, "server_tls_sslmode = %s needs server_tls_ca_file", sslmode_names[mode]);
		return NULL;
	}
	if (!(ctx = new_ctx(TLS_client_method()))) {
		snprintf(err, errlen, "cannot create a TLS context: %s", tls_error_text());
		return NULL;
	}
	if (!set_protocols(ctx, "server_tls_protocols", conf->server_tls_protocols, err, errlen) ||
	    !set_ciphers(ctx, "server_tls_ciphers", conf->server_tls_ciphers, conf->server_tls13_ciphers, err, errlen) ||
	    !load_key_pair(ctx, "server_tls_cert_file", conf->server_tls_cert_file, conf->server_tls_key_file, err,
			   errlen) ||
	    !load_ca(ctx, conf->server_tls_ca_file, err, errlen)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, mode >= SSLMODE_VERIFY_CA ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	return ctx;
}

bool tls_setup(const struct config *conf, char *err, size_t errlen)
{
	enum sslmode client_mode = parse_sslmode(conf->client_tls_sslmode);
	enum sslmode server_mode = parse_sslmode(conf->server_tls_sslmode);
	SSL_CTX *accept_ctx, *connect_ctx = NULL;

	err[0] = '\0';
	accept_ctx = build_accept_ctx(conf, client_mode, err, errlen);
	if (!err[0])
		connect_ctx = build_connect_ctx(conf, server_mode, err, errlen);
	if (err[0]) {
		SSL_CTX_free(accept_ctx);
		SSL_CTX_free(connect_ctx);
		return false;
	}
	tls_shutdown();
	tls.accept_ctx = accept_ctx;
	tls.connect_ctx = connect_ctx;
	tls.client_mode = client_mode;
	tls.server_mode = server_mode;
	return true;
}

/* Connections keep their own reference (SSL_new), so this only lets go of ours. */
void tls_shutdown(void)
{
	SSL_CTX_free(tls.accept_ctx);
	SSL_CTX_free(tls.connect_ctx);
	tls.accept_ctx = tls.connect_ctx = NULL;
}

enum sslmode tls_client_mode(void) { return tls.client_mode; }
enum sslmode tls_server_mode(void) { return tls.server_mode; }
SSL_CTX *tls_accept_ctx(void) { return tls.accept_ctx; }
SSL_CTX *tls_connect_ctx(void) { return tls.connect_ctx; }

void tls_describe(SSL *ssl, char *buf, size_t len)
{
	EVP_PKEY *key = NULL;
	char group[64] = "";

	if (SSL_get_peer_tmp_key(ssl, &key) == 1 && key) {
		char name[48] = "";
		size_t n = 0;
		if (EVP_PKEY_get_group_name(key, name, sizeof(name), &n) == 1)
			snprintf(group, sizeof(group), "/ECDH=%s", name);
		EVP_PKEY_free(key);
	}
	snprintf(buf, len, "%s/%s%s", SSL_get_version(ssl), SSL_get_cipher_name(ssl), group);
}

bool tls_peer_common_name(SSL *ssl, char *buf, size_t len)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);
	X509_NAME *name = cert ? X509_get_subject_name(cert) : NULL;
	int n;

	if (!name || SSL_get_verify_result(ssl) != X509_V_OK)
		return false;
	n = X509_NAME_get_text_by_NID(name, NID_commonName, buf, (int)len);
	/* a CN with an embedded NUL would read as a shorter, different name */
	return n > 0 && (size_t)n < len && strlen(buf) == (size_t)n;
}
