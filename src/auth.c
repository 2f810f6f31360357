/*
 * Authentication, both directions:
 *  - clients: trust, any, plain, md5 and SCRAM-SHA-256 against auth_file
 *    secrets, with PgBouncer's messages; unknown users go through a mock
 *    exchange so that a failure does not reveal whether the user exists;
 *  - servers: answering PostgreSQL's cleartext, md5 and SCRAM requests with
 *    the configured password, or with the SCRAM keys a client proved.
 */
#include "pgwarden.h"
#include "hba.h"
#include "tls.h"

#include <netdb.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>

#define SCRAM_MECHANISM "SCRAM-SHA-256"

/* ---------------- clients ---------------- */

static int limit_or_global(int own, int global)
{
	return own >= 0 ? own : global;
}

/* max_db_client_connections / max_user_client_connections (0 = unlimited). */
static bool client_limits_reached(struct pgsocket *client, struct pguser *user)
{
	int max_db = limit_or_global(client->db->max_db_client_connections, cf->max_db_client_connections);
	int max_user = limit_or_global(user->max_user_client_connections, cf->max_user_client_connections);

	if (max_db > 0 && client->db->client_count >= max_db) {
		disconnect_client_sqlstate(client, "53300", "no more connections allowed (max_db_client_connections)");
		return true;
	}
	if (max_user > 0 && user->client_count >= max_user) {
		disconnect_client_sqlstate(client, "53300", "no more connections allowed (max_user_client_connections)");
		return true;
	}
	return false;
}

static void join_pool(struct pgsocket *client, struct pguser *user)
{
	struct pgdatabase *db = client->db;
	struct pguser *pool_user = db->forced_user ? db->forced_user : user;

	client->login_user = user;
	client->pool = get_pool(db, pool_user);
	client->counted_in_pool = true;
	db->client_count++;
	user->client_count++;
}

static void auth_succeeded(struct pgsocket *client, struct pguser *user)
{
	client->auth_phase = AUTH_PHASE_DONE;
	if (client->db->is_admin && !admin_check_access(client))
		return;
	if (client_limits_reached(client, user))
		return;
	join_pool(client, user);
	finish_client_login(client);
}

/* The same for a client that was paused while a worker checked it. */
static void auth_succeeded_after_wait(struct pgsocket *client, struct pguser *user)
{
	auth_succeeded(client, user);
	if (client->state != CL_JUSTFREE)
		sbuf_continue(&client->sbuf);
}

static void send_auth_request(struct pgsocket *client, uint32_t code, const void *extra, size_t len)
{
	struct pktbuf pb;
	pktbuf_init(&pb);
	pktbuf_auth_request(&pb, code, extra, len);
	sbuf_send_pktbuf(&client->sbuf, &pb);
	pktbuf_free(&pb);
}

/* The secret we check this client against; NULL for an unknown user. */
static const char *client_secret(struct pgsocket *client)
{
	struct pguser *user = client_known_user(client);
	return user ? user->secret : NULL;
}

static void fail_auth(struct pgsocket *client)
{
	bool scram = client->auth_phase == AUTH_PHASE_SCRAM_FIRST || client->auth_phase == AUTH_PHASE_SCRAM_FINAL;
	disconnect_client_sqlstate(client, "28P01", scram ? "SASL authentication failed"
							   : "password authentication failed");
}

static void start_scram(struct pgsocket *client)
{
	static const char mechanisms[] = SCRAM_MECHANISM "\0";
	client->auth_phase = AUTH_PHASE_SCRAM_FIRST;
	send_auth_request(client, AUTH_REQ_SASL, mechanisms, sizeof(mechanisms));
}

static void start_md5(struct pgsocket *client)
{
	if (RAND_bytes(client->md5_salt, sizeof(client->md5_salt)) != 1)
		die("cannot generate md5 salt");
	client->auth_phase = AUTH_PHASE_MD5;
	send_auth_request(client, AUTH_REQ_MD5, client->md5_salt, sizeof(client->md5_salt));
}

/* client_auth plugins see the password itself, so they ask for it in clear. */
static bool start_plugin_auth(struct pgsocket *client)
{
	if (!plugin_has(PLUGIN_HOOK_AUTH) || client->db->is_admin)
		return false;
	client->auth_phase = AUTH_PHASE_PLUGIN;
	send_auth_request(client, AUTH_REQ_PASSWORD, NULL, 0);
	return true;
}

/*
 * cert and peer: the name the certificate or the kernel vouches for must be
 * the user asked for, or, with the hba rule's map=, be mapped to it by the
 * ident map file (auth_ident_file; no file: no mapping allows anything).
 */
static bool external_name_may_be(const char *external, const char *map, const char *user_name)
{
	if (map)
		return ident_allows(pooler.ident, map, external, user_name);
	return strcmp(external, user_name) == 0;
}

/*
 * auth_type = cert: the TLS handshake verified the client's certificate
 * against client_tls_ca_file; its common name must be the user asked for
 * (or mapped to it), and that user must be in the auth file (as for trust).
 */
static void cert_auth(struct pgsocket *client, struct pguser *user, const char *map)
{
	char cn[256];

	if (!client->sbuf.tls) {
		disconnect_client_sqlstate(client, "28000", "TLS connection required for certificate authentication");
		return;
	}
	if (!tls_peer_common_name(client->sbuf.tls, cn, sizeof(cn))) {
		disconnect_client_sqlstate(client, "28000", "connection requires a valid client certificate");
		return;
	}
	if (!external_name_may_be(cn, map, client->user_name) || !user) {
		slog_info(client, map ? "certificate common name \"%s\" is not mapped to the user by map \"%s\""
				      : "certificate common name \"%s\" is not the user", cn, map);
		disconnect_client_sqlstate(client, "28000", "certificate authentication failed for user \"%s\"",
					   client->user_name);
		return;
	}
	auth_succeeded(client, user);
}

/* hba "peer": the unix socket's peer is the operating-system user of that
 * name (or one the rule's map= maps to it).  getpwuid may ask NSS (LDAP,
 * sssd, ...), so the name is looked up on a worker. */
struct peer_check {
	struct auth_check check;
	uid_t uid;
	char *map;			/* a copy: a RELOAD may replace the rules meanwhile */
	char name[256];			/* empty: no such uid */
};

static void look_up_peer(struct auth_check *check)
{
	struct peer_check *c = container_of(check, struct peer_check, check);
	struct passwd pw, *found = NULL;
	char buf[16384];

	if (getpwuid_r(c->uid, &pw, buf, sizeof(buf), &found) == 0 && found)
		strlcpy_safe(c->name, found->pw_name, sizeof(c->name));
}

static void peer_refused(struct pgsocket *client)
{
	disconnect_client_sqlstate(client, "28000", "peer authentication failed for user \"%s\"", client->user_name);
}

static void peer_answer(struct pgsocket *client, struct auth_check *check)
{
	struct peer_check *c = container_of(check, struct peer_check, check);
	struct pguser *user = client_known_user(client);

	if (!c->name[0] || !external_name_may_be(c->name, c->map, client->user_name) || !user) {
		if (c->name[0] && c->map)
			slog_info(client, "system user \"%s\" is not mapped to the user by map \"%s\"", c->name, c->map);
		peer_refused(client);
		return;
	}
	auth_succeeded_after_wait(client, user);
}

static void peer_check_free(struct auth_check *check)
{
	struct peer_check *c = container_of(check, struct peer_check, check);

	free(c->map);
	free(c);
}

static void peer_auth(struct pgsocket *client, const char *map)
{
	struct peer_check *c;

	if (!client->is_unix || client->peer_uid < 0) {
		peer_refused(client);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->check.run = look_up_peer;
	c->check.answer = peer_answer;
	c->check.free = peer_check_free;
	c->uid = (uid_t)client->peer_uid;
	c->map = map ? xstrdup(map) : NULL;
	client->auth_phase = AUTH_PHASE_PEER;
	if (!auth_check_start(client, &c->check))
		disconnect_client_sqlstate(client, "53000", "cannot check the peer now: too many waiting");
}

static enum auth_type method_of_rule(enum hba_method m)
{
	switch (m) {
	case HBA_TRUST: return AUTH_TYPE_TRUST;
	case HBA_MD5: return AUTH_TYPE_MD5;
	case HBA_PASSWORD: return AUTH_TYPE_PLAIN;
	case HBA_SCRAM: return AUTH_TYPE_SCRAM;
	case HBA_CERT: return AUTH_TYPE_CERT;
	case HBA_PEER: return AUTH_TYPE_PEER;
	case HBA_REJECT: break;
	}
	return AUTH_TYPE_REJECT;
}

/* auth_type, or with auth_type = hba the method of the first matching rule
 * (and its map=, when map is not NULL). */
static enum auth_type client_auth_method(struct pgsocket *client, const char **map)
{
	enum hba_conn_type conn = client->is_unix ? HBA_CONN_LOCAL : client->sbuf.tls ? HBA_CONN_TCP_TLS : HBA_CONN_TCP;

	if (map)
		*map = NULL;
	if (cf->auth_type != AUTH_TYPE_HBA)
		return cf->auth_type;
	return method_of_rule(hba_match_map(pooler.hba, conn, client->db_name, client->user_name,
					    client->is_unix ? NULL : (const struct sockaddr *)&client->remote_addr,
					    map));
}

static void reject_by_hba(struct pgsocket *client)
{
	char addr[64] = "local";

	if (!client->is_unix)
		getnameinfo((const struct sockaddr *)&client->remote_addr, sizeof(client->remote_addr), addr,
			    sizeof(addr), NULL, 0, NI_NUMERICHOST);
	disconnect_client_sqlstate(client, "28000",
				   "no pg_hba.conf entry for host \"%s\", user \"%s\", database \"%s\", %s", addr,
				   client->user_name, client->db_name, client->sbuf.tls ? "SSL encryption" : "no encryption");
}

/* Methods that check who the client is need the user's secret first. */
static bool method_needs_user(enum auth_type method)
{
	/* PAM knows its users; auth_file and auth_query are not asked */
	return method != AUTH_TYPE_ANY && method != AUTH_TYPE_REJECT && method != AUTH_TYPE_PAM;
}

/* The auth_type of the config (and the console's own rules). */
static void client_start_core_auth(struct pgsocket *client)
{
	struct pguser *user = client_known_user(client);
	const char *secret = user ? user->secret : NULL;
	const char *map;
	enum auth_type method = client_auth_method(client, &map);

	if (client->db->is_admin && admin_peer_login(client)) {
		auth_succeeded(client, user ? user : add_user(client->user_name, ""));
		return;
	}
	if (method_needs_user(method) && auth_query_wanted(client)) {
		auth_query_start(client, NULL);
		return;
	}
	switch (method) {
	case AUTH_TYPE_ANY:
		/* The console has no server login to vouch for. */
		if (client->db->is_admin) {
			auth_succeeded(client, user ? user : add_user(client->user_name, ""));
			return;
		}
		/* Without a forced user nobody would vouch for the server login. */
		if (!client->db->forced_user) {
			slog_warning(client, "auth_type=any requires forced user");
			disconnect_client_sqlstate(client, "08P01", "bouncer config error");
			return;
		}
		auth_succeeded(client, user ? user : add_user(client->user_name, ""));
		return;
	case AUTH_TYPE_TRUST:
		if (!user) {
			disconnect_client_sqlstate(client, "28000", "\"trust\" authentication failed");
			return;
		}
		auth_succeeded(client, user);
		return;
	case AUTH_TYPE_PLAIN:
		client->auth_phase = AUTH_PHASE_PASSWORD;
		send_auth_request(client, AUTH_REQ_PASSWORD, NULL, 0);
		return;
	case AUTH_TYPE_PAM:
		client->auth_phase = AUTH_PHASE_PAM;
		send_auth_request(client, AUTH_REQ_PASSWORD, NULL, 0);
		return;
	case AUTH_TYPE_MD5:
		/* A SCRAM secret cannot answer md5: PgBouncer upgrades to SCRAM. */
		if (secret && password_type_of(secret) == PASSWORD_SCRAM)
			start_scram(client);
		else
			start_md5(client);
		return;
	case AUTH_TYPE_SCRAM:
		if (secret && password_type_of(secret) == PASSWORD_MD5) {
			slog_warning(client, "SCRAM authentication failed: user has MD5 secret");
			client->auth_phase = AUTH_PHASE_SCRAM_FIRST;
			fail_auth(client);
			return;
		}
		start_scram(client);
		return;
	case AUTH_TYPE_CERT:
		cert_auth(client, user, map);
		return;
	case AUTH_TYPE_PEER:
		peer_auth(client, map);
		return;
	case AUTH_TYPE_REJECT:
		reject_by_hba(client);
		return;
	default:
		disconnect_client(client, true, "unsupported auth_type");
		return;
	}
}

void client_start_auth(struct pgsocket *client)
{
	if (!start_plugin_auth(client))
		client_start_core_auth(client);
}

/* A cleartext password checked against a plain or md5 secret: quick, on the loop. */
static bool check_plain_password(const char *secret, const char *user, const char *password)
{
	char md5[MD5_PASSWD_LEN + 1];

	switch (password_type_of(secret)) {
	case PASSWORD_PLAIN:
		return secret[0] && strlen(secret) == strlen(password) &&
		       secure_equal(secret, password, strlen(secret));
	case PASSWORD_MD5:
		md5_password_hash(password, user, md5);
		return secure_equal(md5, secret, MD5_PASSWD_LEN);
	case PASSWORD_SCRAM:
		break;	/* check_scram_password */
	}
	return false;
}

/* A cleartext password against a SCRAM secret: PBKDF2, on a worker (auth_check.c). */
struct scram_password_check {
	struct auth_check check;
	char *secret;			/* copies: a RELOAD may change the user meanwhile */
	char *password;
	bool ok;			/* written by the worker, read after it is done */
};

static void verify_scram_password(struct auth_check *check)
{
	struct scram_password_check *c = container_of(check, struct scram_password_check, check);
	struct scram_secret s;

	if (scram_parse_secret(c->secret, &s)) {
		c->ok = scram_verify_plain_password(&s, c->password, NULL);
		scram_secret_clear(&s);
	}
}

static void scram_password_answer(struct pgsocket *client, struct auth_check *check)
{
	struct scram_password_check *c = container_of(check, struct scram_password_check, check);
	struct pguser *user = client_known_user(client);

	if (!c->ok || !user) {
		fail_auth(client);
		return;
	}
	auth_succeeded_after_wait(client, user);
}

static void scram_password_check_free(struct auth_check *check)
{
	struct scram_password_check *c = container_of(check, struct scram_password_check, check);

	free_secret_str(&c->secret);
	free_secret_str(&c->password);
	free(c);
}

static void check_scram_password(struct pgsocket *client, const char *secret, const char *password)
{
	struct scram_password_check *c = xcalloc(1, sizeof(*c));

	c->check.run = verify_scram_password;
	c->check.answer = scram_password_answer;
	c->check.free = scram_password_check_free;
	c->secret = xstrdup(secret);
	c->password = xstrdup(password);
	client->auth_phase = AUTH_PHASE_VERIFY;
	if (!auth_check_start(client, &c->check))
		disconnect_client_sqlstate(client, "53000", "cannot check the password now: too many waiting");
}

/* The password message's string; NULL after disconnecting the client. */
static const char *read_password(struct pgsocket *client, const uint8_t *body, size_t len)
{
	const char *password;

	if (!pkt_read_password(body, len, &password)) {
		disconnect_client(client, true, "bad packet");
		return NULL;
	}
	if (!password[0]) {
		disconnect_client(client, true, "empty password returned by client");
		return NULL;
	}
	return password;
}

/* Check a cleartext or md5 answer against the auth_file secret. */
static void check_password(struct pgsocket *client, const char *password)
{
	const char *secret = client_secret(client);
	bool ok = false;

	if (secret) {
		if (client->auth_phase == AUTH_PHASE_MD5) {
			char expect[MD5_PASSWD_LEN + 1];
			md5_challenge_response(secret, client->user_name, client->md5_salt, expect);
			ok = secret[0] && strlen(password) == MD5_PASSWD_LEN &&
			     secure_equal(expect, password, MD5_PASSWD_LEN);
		} else if (password_type_of(secret) == PASSWORD_SCRAM) {
			check_scram_password(client, secret, password);
			return;
		} else {
			ok = check_plain_password(secret, client->user_name, password);
		}
	}
	if (!ok) {
		fail_auth(client);
		return;
	}
	auth_succeeded(client, client_known_user(client));
}

void auth_lookup_done(struct pgsocket *client, const char *password)
{
	if (auth_query_failed(client))
		disconnect_client(client, true, "auth_query failed");
	else if (password)
		check_password(client, password);
	else
		client_start_core_auth(client);
}

static enum sbuf_result auth_password(struct pgsocket *client, const uint8_t *body, size_t len)
{
	const char *password = read_password(client, body, len);

	if (!password)
		return SBUF_CLOSED;
	check_password(client, password);
	return client->state == CL_JUSTFREE ? SBUF_CLOSED : SBUF_DONE;
}

static enum sbuf_result auth_pam_password(struct pgsocket *client, const uint8_t *body, size_t len)
{
	const char *password = read_password(client, body, len);

	if (!password || !pam_auth_start(client, password))
		return SBUF_CLOSED;
	return SBUF_PAUSE;	/* until PAM answers (auth_pam_accepted, or a disconnect) */
}

/* PAM said yes: the server login uses the password PAM accepted, as in PgBouncer. */
void auth_pam_accepted(struct pgsocket *client, const char *password)
{
	auth_succeeded_after_wait(client, add_user(client->user_name, password));
}

static enum sbuf_result auth_plugin_password(struct pgsocket *client, const uint8_t *body, size_t len)
{
	const char *password = read_password(client, body, len);

	if (!password)
		return SBUF_CLOSED;
	return plugin_client_auth(client, password);
}

/* ACCEPT: the plugin vouches for the client and may choose the server login. */
static void plugin_accepted(struct pgsocket *client, const struct plugin_auth_result *r)
{
	const char *name = r->server_user ? r->server_user : client->user_name;
	struct pguser *user;

	if (r->database && !client_use_database(client, r->database))
		return;
	/* Never into the console: its access rules are the core's own. */
	if (client->db->is_admin) {
		disconnect_client_sqlstate(client, "3D000", "no such database: %s", r->database);
		return;
	}
	if (strlen(name) >= MAX_USERNAME) {
		disconnect_client(client, true, "username too long");
		return;
	}
	/* The server login uses the auth_file secret of that user, if any. */
	user = find_user(name);
	auth_succeeded(client, user ? user : add_user(name, ""));
}

void auth_plugin_decided(struct pgsocket *client, const struct plugin_auth_result *r)
{
	switch (r->decision) {
	case PGW_ACCEPT:
		plugin_accepted(client, r);
		return;
	case PGW_CONTINUE:
		/* The core's own method, with the password already in hand. */
		switch (client_auth_method(client, NULL)) {
		case AUTH_TYPE_MD5:
		case AUTH_TYPE_SCRAM:
		case AUTH_TYPE_PLAIN:
			if (auth_query_wanted(client))
				auth_query_start(client, r->password);
			else
				check_password(client, r->password);
			return;
		default:	/* methods without a password */
			client->auth_phase = AUTH_PHASE_NONE;
			client_start_core_auth(client);
			return;
		}
	default:
		disconnect_client_sqlstate(client, r->sqlstate, "%s", r->message);
		return;
	}
}

/*
 * A PBKDF2 for SCRAM keys on a worker (auth_check.c) while the message
 * that needs them waits, its client or server paused: a client's secret
 * built from a plain-text password, a server login's keys.  The answer
 * puts the keys in the user's cache and handles the message again.
 */
struct keys_check {
	struct auth_check check;
	struct scram_keys_job *job;
	uint8_t *msg;
	size_t len;
};

static void derive_keys(struct auth_check *check)
{
	scram_keys_job_run(container_of(check, struct keys_check, check)->job);
}

static void keys_check_free(struct auth_check *check)
{
	struct keys_check *c = container_of(check, struct keys_check, check);

	scram_keys_job_free(c->job);
	free(c->msg);
	free(c);
}

/* False (job freed): no worker free, do it inline. */
static bool start_keys_check(struct pgsocket *sk, struct scram_keys_job *job, const uint8_t *msg, size_t len,
			     void (*answer)(struct pgsocket *sk, struct auth_check *check))
{
	struct keys_check *c = xcalloc(1, sizeof(*c));

	c->check.run = derive_keys;
	c->check.answer = answer;
	c->check.free = keys_check_free;
	c->job = job;
	c->msg = xmalloc(len ? len : 1);
	memcpy(c->msg, msg, len);
	c->len = len;
	return auth_check_start(sk, &c->check);
}

/* A plain-text password to derive keys from (auth_file may hold "" too). */
static bool plain_password(const char *secret)
{
	return secret && password_type_of(secret) == PASSWORD_PLAIN && secret[0];
}

/* Key of the per-name salts (scram_user_salt): random, once per process. */
static bool user_salt(const char *username, uint8_t salt[SCRAM_SALT_LEN])
{
	static uint8_t nonce[SCRAM_KEY_LEN];
	static bool have_nonce;

	if (!have_nonce && RAND_bytes(nonce, sizeof(nonce)) != 1)
		return false;
	have_nonce = true;
	return scram_user_salt(username, nonce, salt);
}

/*
 * The secret a SCRAM exchange with this client runs against: the stored
 * SCRAM secret; for a plain password, one derived with this user's own salt
 * (PBKDF2 once, then from the cache); for an unknown user, a mock secret with
 * such a salt.  A plain password and an unknown user look the same to the
 * client, and the same at every attempt.
 */
static bool load_scram_secret(struct pgsocket *client, struct scram_secret *out)
{
	struct pguser *user = client_known_user(client);
	const char *secret = user ? user->secret : NULL;
	uint8_t salt[SCRAM_SALT_LEN];

	if (secret && password_type_of(secret) == PASSWORD_SCRAM)
		return scram_parse_secret(secret, out);
	if (!user_salt(client->user_name, salt))
		return false;
	if (plain_password(secret))
		return scram_secret_from_password_salt(secret, salt, sizeof(salt), cf->scram_iterations,
						       &user->client_scram_cache, out);
	client->auth_phase = AUTH_PHASE_SCRAM_FIRST;
	return scram_mock_secret(salt, sizeof(salt), cf->scram_iterations, out);
}

static enum sbuf_result auth_scram_first(struct pgsocket *client, const uint8_t *body, size_t len);

/* The secret's keys are cached now: the SASL initial response again. */
static void client_secret_answer(struct pgsocket *client, struct auth_check *check)
{
	struct keys_check *c = container_of(check, struct keys_check, check);
	struct pguser *user = client_known_user(client);

	if (!c->job->ok || !user) {
		fail_auth(client);
		return;
	}
	scram_keys_job_store(c->job, &user->client_scram_cache);
	client->auth_phase = AUTH_PHASE_SCRAM_FIRST;
	if (auth_scram_first(client, c->msg, c->len) != SBUF_CLOSED)
		sbuf_continue(&client->sbuf);
}

/*
 * A user with a plain-text password in auth_file logging in with SCRAM for
 * the first time (per password): the secret it is checked against costs a
 * PBKDF2 of scram_iterations rounds, built on a worker while the client
 * waits.  False: nothing to build (cached, or not a plain password), or no
 * worker free (built inline).
 */
static bool build_client_secret_off_loop(struct pgsocket *client, const uint8_t *body, size_t len)
{
	struct pguser *user = client_known_user(client);
	uint8_t salt[SCRAM_SALT_LEN];
	struct scram_keys_job *job;

	if (!user || !plain_password(user->secret) || !user_salt(client->user_name, salt))
		return false;
	job = scram_keys_job_new(user->secret, salt, sizeof(salt), cf->scram_iterations, &user->client_scram_cache);
	if (!job)
		return false;
	client->auth_phase = AUTH_PHASE_VERIFY;
	if (start_keys_check(client, job, body, len, client_secret_answer))
		return true;
	client->auth_phase = AUTH_PHASE_SCRAM_FIRST;
	return false;
}

static enum sbuf_result auth_scram_first(struct pgsocket *client, const uint8_t *body, size_t len)
{
	const char *mech;
	uint32_t data_len;
	const uint8_t *data;
	char *server_first = NULL;
	const char *err = NULL;

	if (!pkt_read_sasl_initial(body, len, &mech, &data, &data_len)) {
		disconnect_client(client, true, "bad packet");
		return SBUF_CLOSED;
	}
	if (strcmp(mech, SCRAM_MECHANISM) != 0) {
		disconnect_client(client, true, "client selected an invalid SASL authentication mechanism");
		return SBUF_CLOSED;
	}
	if (build_client_secret_off_loop(client, body, len))
		return SBUF_DONE;	/* client_secret_answer goes on */
	client->scram_srv = xcalloc(1, sizeof(*client->scram_srv));
	if (!load_scram_secret(client, &client->scram_srv->secret)) {
		fail_auth(client);
		return SBUF_CLOSED;
	}
	if (!scram_server_handle_first(client->scram_srv, (const char *)data, data_len, &server_first, &err)) {
		disconnect_client(client, true, "%s", err ? err : "invalid SCRAM message");
		return SBUF_CLOSED;
	}
	client->auth_phase = AUTH_PHASE_SCRAM_FINAL;
	send_auth_request(client, AUTH_REQ_SASL_CONT, server_first, strlen(server_first));
	free(server_first);
	return SBUF_DONE;
}

static enum sbuf_result auth_scram_final(struct pgsocket *client, const uint8_t *body, size_t len)
{
	bool proof_ok = false;
	char *server_final = NULL;
	const char *err = NULL;
	struct pguser *user = client_known_user(client);

	if (!scram_server_handle_final(client->scram_srv, (const char *)body, len, &proof_ok, &server_final, &err)) {
		disconnect_client(client, true, "%s", err ? err : "invalid SCRAM message");
		return SBUF_CLOSED;
	}
	if (!proof_ok || !user) {
		free(server_final);
		fail_auth(client);
		return SBUF_CLOSED;
	}
	send_auth_request(client, AUTH_REQ_SASL_FIN, server_final, strlen(server_final));
	free(server_final);

	/* What the client proved lets us log in to PostgreSQL as this user
	 * even though we only hold the SCRAM secret. */
	if (client->scram_srv->have_client_key) {
		memcpy(user->scram_client_key, client->scram_srv->client_key, SCRAM_KEY_LEN);
		memcpy(user->scram_server_key, client->scram_srv->secret.server_key, SCRAM_KEY_LEN);
		user->has_scram_keys = true;
	}
	scram_server_clear(client->scram_srv);
	free(client->scram_srv);
	client->scram_srv = NULL;
	auth_succeeded(client, user);
	return client->state == CL_JUSTFREE ? SBUF_CLOSED : SBUF_DONE;
}

enum sbuf_result client_auth_packet(struct pgsocket *client, struct sbuf_pkt *pkt)
{
	if (!pkt->complete)
		return SBUF_NEED_FULL;
	sbuf_skip(&client->sbuf, pkt);
	if (pkt->hdr.type != 'p') {
		disconnect_client(client, true, "client sent unexpected packet '%c' during login",
				  pkt->hdr.type >= 32 && pkt->hdr.type < 127 ? pkt->hdr.type : '?');
		return SBUF_CLOSED;
	}
	const uint8_t *body = pkt->data + 5;
	size_t len = pkt->hdr.len - 5;

	switch (client->auth_phase) {
	case AUTH_PHASE_PASSWORD:
	case AUTH_PHASE_MD5:
		return auth_password(client, body, len);
	case AUTH_PHASE_SCRAM_FIRST:
		return auth_scram_first(client, body, len);
	case AUTH_PHASE_SCRAM_FINAL:
		return auth_scram_final(client, body, len);
	case AUTH_PHASE_PLUGIN:
		return auth_plugin_password(client, body, len);
	case AUTH_PHASE_PAM:
		return auth_pam_password(client, body, len);
	default:
		disconnect_client(client, true, "client password pkt before startup packet");
		return SBUF_CLOSED;
	}
}

/* ---------------- servers ---------------- */

static void send_password_msg(struct pgsocket *server, const void *data, size_t len)
{
	struct pktbuf pb;
	pktbuf_init(&pb);
	pktbuf_begin(&pb, 'p');
	pktbuf_put_bytes(&pb, data, len);
	pktbuf_end(&pb);
	sbuf_send_pktbuf(&server->sbuf, &pb);
	pktbuf_free(&pb);
}

static bool server_auth_fail(struct pgsocket *server, const char *msg)
{
	slog_warning(server, "%s", msg);
	strlcpy_safe(server->pool->last_login_error, msg, sizeof(server->pool->last_login_error));
	return false;
}

static bool start_server_scram(struct pgsocket *server, const char *secret, const struct pguser *user)
{
	struct scram_client *sc = xcalloc(1, sizeof(*sc));

	if (plain_password(secret)) {
		sc->password = xstrdup(secret);
	} else if (password_type_of(secret) == PASSWORD_SCRAM && user->has_scram_keys) {
		sc->use_keys = true;
		memcpy(sc->client_key, user->scram_client_key, SCRAM_KEY_LEN);
		memcpy(sc->server_key, user->scram_server_key, SCRAM_KEY_LEN);
	} else {
		free(sc);
		return server_auth_fail(server, password_type_of(secret) == PASSWORD_SCRAM
			? "cannot do SCRAM authentication: password is SCRAM secret but client authentication did not provide SCRAM keys"
			: "server login failed: wrong password type");
	}
	server->scram_cli = sc;
	char *first = scram_client_first(sc);
	struct pktbuf pb;
	pktbuf_init(&pb);
	pktbuf_begin(&pb, 'p');
	pktbuf_put_string(&pb, SCRAM_MECHANISM);
	pktbuf_put_u32(&pb, (uint32_t)strlen(first));
	pktbuf_put_bytes(&pb, first, strlen(first));
	pktbuf_end(&pb);
	sbuf_send_pktbuf(&server->sbuf, &pb);
	pktbuf_free(&pb);
	free(first);
	return true;
}

/* SCRAM client-final for the server's server-first message. */
static bool answer_server_first(struct pgsocket *server, struct pguser *user, const uint8_t *msg, size_t len)
{
	const char *err = NULL;
	char *final;

	/* set here, not kept: the user outlives this call, not necessarily the login */
	server->scram_cli->keys_cache = &user->server_scram_cache;
	final = scram_client_final(server->scram_cli, (const char *)msg, len, &err);
	server->scram_cli->keys_cache = NULL;
	if (!final)
		return server_auth_fail(server, err ? err : "server login failed: bad SCRAM message");
	send_password_msg(server, final, strlen(final));
	free(final);
	return true;
}

/* Keys in the user's cache: the answer does not run PBKDF2 again. */
static void server_keys_answer(struct pgsocket *server, struct auth_check *check)
{
	struct keys_check *c = container_of(check, struct keys_check, check);
	struct pguser *user = server->login_user;

	scram_keys_job_store(c->job, &user->server_scram_cache);
	if (!answer_server_first(server, user, c->msg, c->len)) {
		server_login_failed(server);
		return;
	}
	sbuf_continue(&server->sbuf);
}

/*
 * Logging in to a server with a plain-text password, the first time for
 * its salt and iteration count: the PBKDF2 runs on a worker, the server
 * waits.  A server may ask for up to SCRAM_MAX_ITERATIONS rounds, seconds
 * of work.  False: nothing to derive (or no worker free), answer now.
 */
static bool derive_server_keys_off_loop(struct pgsocket *server, struct pguser *user, const uint8_t *msg,
					size_t len)
{
	struct scram_keys_job *job = scram_client_keys_job(server->scram_cli, &user->server_scram_cache,
							   (const char *)msg, len);

	return job && start_keys_check(server, job, msg, len, server_keys_answer);
}

bool server_answer_auth(struct pgsocket *server, const uint8_t *body, size_t len)
{
	struct pguser *user = server->login_user;
	const char *secret = user->secret ? user->secret : "";
	const char *err = NULL;
	const uint8_t *rest;
	size_t rest_len;
	uint32_t code;

	if (!pkt_read_auth_request(body, len, &code, &rest, &rest_len))
		return server_auth_fail(server, "server login failed: bad auth packet");

	switch (code) {
	case AUTH_REQ_PASSWORD:
		if (!plain_password(secret))
			return server_auth_fail(server, "server login failed: wrong password type");
		send_password_msg(server, secret, strlen(secret) + 1);
		return true;
	case AUTH_REQ_MD5: {
		char resp[MD5_PASSWD_LEN + 1];
		if (rest_len < 4 || password_type_of(secret) == PASSWORD_SCRAM || !secret[0])
			return server_auth_fail(server, "server login failed: wrong password type");
		md5_challenge_response(secret, user->name, rest, resp);
		send_password_msg(server, resp, sizeof(resp));
		return true;
	}
	case AUTH_REQ_SASL:
		if (!pkt_sasl_offers(rest, rest_len, SCRAM_MECHANISM))
			return server_auth_fail(server, "server login failed: none of the server's SASL authentication mechanisms are supported");
		return start_server_scram(server, secret, user);
	case AUTH_REQ_SASL_CONT:
		if (!server->scram_cli)
			return server_auth_fail(server, "server login failed: unexpected SASL message");
		return derive_server_keys_off_loop(server, user, rest, rest_len) ||
		       answer_server_first(server, user, rest, rest_len);
	case AUTH_REQ_SASL_FIN:
		if (!server->scram_cli || !scram_client_verify_final(server->scram_cli, (const char *)rest, rest_len, &err))
			return server_auth_fail(server, "server login failed: invalid server signature");
		return true;
	default: {
		char msg[80];
		snprintf(msg, sizeof(msg), "unknown/unsupported auth method: %u", code);
		return server_auth_fail(server, msg);
	}
	}
}
