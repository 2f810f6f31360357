/*
 * The OIDC plugin: agents log in with a JWT as their password.  The token
 * is checked (signature with the issuer's keys, algorithm allow-list, iss,
 * aud, exp/nbf/iat, lifetime, required claims), its claims are mapped to a
 * PostgreSQL role by the rule.N keys, and the core logs in to the server as
 * that role with the gateway's own credential — the token never goes
 * further than this plugin.  The session ends when the token does.
 *
 * Files: oidc_config.c (the section), oidc_token.c (parsing, claims),
 * oidc_keys.c + jwk.c (keys, signatures), oidc_cache.c (signatures already
 * checked), oidc_fetch.c (HTTPS on a worker), oidc_rules.c (mapping).
 */
#include "oidc_cache.h"
#include "oidc_config.h"
#include "oidc_fetch.h"
#include "oidc_keys.h"
#include "curl_exit.h"

#include <pgwarden/plugin.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

PGW_PLUGIN_DECLARE();

static const struct pgw_host *host;

/* A login parked until the keys are fetched (an unknown kid). */
struct pending_login {
	struct pending_login *next;
	struct pgw_request *req;
	char *token;
	char *user;
	char *database;
};

struct oidc {
	struct pgw_plugin *self;
	struct oidc_conf *conf;
	struct oidc_keyset *keys;	/* NULL until the first fetch */
	struct oidc_cache *cache;
	bool fetching;
	int64_t last_fetch;		/* when the last fetch started */
	uint64_t fetches_ok;
	uint64_t fetches_failed;
	char last_error[256];
	struct pgw_timer *refresh_timer;
	struct pending_login *waiting;
	int counter_logins;
	int counter_rejected;
};

/* The session data slot: set when this plugin accepted the login. */
struct oidc_session {
	struct oidc *o;
	struct pgw_session *s;
	int64_t expires_at;
	struct pgw_timer *expiry;
};

enum check_result { CHECK_ACCEPT, CHECK_REJECT, CHECK_WAIT, CHECK_CONTINUE };

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static bool keys_are_remote(const struct oidc_conf *c)
{
	return !c->jwks_file && !c->public_key_file;
}

/* ---------------- rejections ---------------- */

static enum check_result reject(struct oidc *o, struct pgw_request *req, const struct oidc_token *t,
				const char *user, const char *sqlstate, const char *why)
{
	char msg[512];
	const char *sub = t && t->claims ? oidc_token_string(t, "sub") : "";
	const char *jti = t && t->claims ? oidc_token_string(t, "jti") : "";

	snprintf(msg, sizeof(msg), "OIDC authentication failed for user \"%.64s\": %s", user, why);
	host->request_error(req, sqlstate, msg);
	host->log(o->self, PGW_LOG_WARNING, "login rejected for user \"%.64s\": %s (sub=%.128s jti=%.128s)",
		  user, why, sub[0] ? sub : "-", jti[0] ? jti : "-");
	host->counter_add(o->self, o->counter_rejected, 1);
	return CHECK_REJECT;
}

/* ---------------- key fetching ---------------- */

static void start_fetch(struct oidc *o);

static bool may_fetch_for_unknown_key(const struct oidc *o)
{
	return keys_are_remote(o->conf) &&
	       (o->fetching || now_s() - o->last_fetch >= o->conf->refresh_min_interval);
}

static void park_login(struct oidc *o, struct pgw_request *req, const char *token, const char *user,
		       const char *database)
{
	struct pending_login *p = calloc(1, sizeof(*p));
	p->req = req;
	p->token = strdup(token);
	p->user = strdup(user);
	p->database = strdup(database);
	p->next = o->waiting;
	o->waiting = p;
	start_fetch(o);
}

/* ---------------- the checks ---------------- */

static bool login_user_ok(const struct oidc_conf *c, const struct oidc_token *t, const char *user)
{
	const json_t *claim;

	switch (c->login_mode) {
	case LOGIN_USER_LITERAL:
		return strcmp(user, c->login_value) == 0;
	case LOGIN_USER_CLAIM:
		claim = oidc_claim(t->claims, c->login_value);
		return json_is_string(claim) && strcmp(json_string_value(claim), user) == 0;
	default:
		return true;
	}
}

static void add_groups(struct pgw_session *s, const json_t *groups)
{
	const json_t *g;
	size_t i;

	if (json_is_string(groups))
		host->identity_add_group(s, json_string_value(groups));
	json_array_foreach(groups, i, g) {
		if (json_is_string(g))
			host->identity_add_group(s, json_string_value(g));
	}
}

static void put_claim(struct pgw_session *s, const struct oidc_token *t, const char *claim)
{
	const char *v = oidc_token_string(t, claim);
	if (v[0])
		host->identity_put(s, claim, v);
}

/* Identity for other plugins (the audit) and the session's expiry. */
static void accept_login(struct oidc *o, struct pgw_session *s, struct pgw_request *req,
			 const struct oidc_token *t, const struct oidc_rule_result *rule)
{
	struct oidc_session *os = calloc(1, sizeof(*os));

	host->identity_set(s, oidc_token_string(t, "sub"), oidc_token_string(t, "iss"), oidc_token_int(t, "exp"));
	add_groups(s, oidc_claim(t->claims, o->conf->groups_claim));
	put_claim(s, t, "jti");
	put_claim(s, t, "email");
	host->identity_put(s, "role", rule->role);
	host->identity_put(s, "rule", rule->rule);
	host->request_map_login(req, rule->role, NULL);
	os->o = o;
	os->s = s;
	os->expires_at = oidc_token_int(t, "exp");
	free(host->session_get_data(s, o->self));
	host->session_set_data(s, o->self, os);
	oidc_rules_count_hit(o->conf->rules, rule->rule);
	host->counter_add(o->self, o->counter_logins, 1);
	host->log(o->self, PGW_LOG_INFO, "login accepted: sub=%.128s jti=%.128s %s -> role %s",
		  oidc_token_string(t, "sub"), oidc_token_string(t, "jti"), rule->rule, rule->role);
}

static enum check_result check_mapping(struct oidc *o, struct pgw_session *s, struct pgw_request *req,
				       const struct oidc_token *t, const char *user, const char *database)
{
	struct oidc_rule_result rule;
	char why[200];

	if (!login_user_ok(o->conf, t, user))
		return reject(o, req, t, user, "28000", "the user name does not match the token (login_user)");
	oidc_rules_match(o->conf->rules, t->claims, database, &rule);
	if (!rule.rule)
		return reject(o, req, t, user, "28000", "no mapping rule matches the token");
	if (rule.deny) {
		snprintf(why, sizeof(why), "denied by mapping rule %s", rule.rule);
		return reject(o, req, t, user, "28000", why);
	}
	if (!rule.database_allowed) {
		snprintf(why, sizeof(why), "database \"%.64s\" is not allowed by mapping rule %s", database, rule.rule);
		return reject(o, req, t, user, "28000", why);
	}
	accept_login(o, s, req, t, &rule);
	return CHECK_ACCEPT;
}

/* The signature, or the memory of having checked it for this very token. */
static bool signature_ok(struct oidc *o, const struct oidc_key *key, const struct oidc_token *t)
{
	unsigned char hash[32];
	int64_t until = oidc_token_int(t, "exp") + o->conf->policy.clock_skew, now = now_s();

	if (oidc_cache_hash(t->raw, t->raw_len, hash) < 0)
		return oidc_key_verify(key, t);
	if (oidc_cache_verified(o->cache, hash, now))
		return true;
	if (!oidc_key_verify(key, t))
		return false;
	oidc_cache_remember(o->cache, hash, until, now);
	return true;
}

static enum check_result check_token(struct oidc *o, struct pgw_session *s, struct pgw_request *req,
				     struct oidc_token *t, const char *user, const char *database, bool may_wait)
{
	const struct oidc_key *key;
	char why[300];

	if (t->alg == JWS_ALG_UNKNOWN || !(o->conf->algorithms & (1u << t->alg))) {
		snprintf(why, sizeof(why), "token algorithm \"%.16s\" is not allowed", t->alg_name);
		return reject(o, req, t, user, "28P01", why);
	}
	key = oidc_keyset_find(o->keys, t, why, sizeof(why));
	if (!key && may_wait && may_fetch_for_unknown_key(o)) {
		park_login(o, req, t->raw, user, database);
		return CHECK_WAIT;
	}
	if (!key)
		return reject(o, req, t, user, "28P01", o->keys ? why : "the issuer's keys are not loaded yet");
	if (!signature_ok(o, key, t))
		return reject(o, req, t, user, "28P01", "token signature is invalid");
	if (oidc_token_check_claims(t, &o->conf->policy, now_s(), why, sizeof(why)) < 0)
		return reject(o, req, t, user, "28000", why);
	return check_mapping(o, s, req, t, user, database);
}

/* Three dot-separated parts: the shape of a JWS, which no sane password has. */
static bool looks_like_jwt(const char *password)
{
	const char *dot1 = strchr(password, '.');
	const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	return dot2 && !strchr(dot2 + 1, '.');
}

static enum check_result authenticate(struct oidc *o, struct pgw_session *s, struct pgw_request *req,
				      const char *token, const char *user, const char *database, bool may_wait)
{
	struct oidc_token t;
	char why[300];
	enum check_result r;

	if (o->conf->password_fallback && !looks_like_jwt(token))
		return CHECK_CONTINUE;
	if (!o->conf->allow_insecure_transport && strcmp(host->session_transport(s), "tcp") == 0)
		return reject(o, req, NULL, user, "28000",
			      "tokens are accepted only over TLS or a unix socket (allow_insecure_transport is off)");
	if (oidc_token_parse(token, strlen(token), o->conf->max_token_size, &t, why, sizeof(why)) < 0)
		r = reject(o, req, &t, user, "28P01", why);
	else
		r = check_token(o, s, req, &t, user, database, may_wait);
	oidc_token_free(&t);
	return r;
}

static enum pgw_decision decision_of(enum check_result r)
{
	switch (r) {
	case CHECK_ACCEPT: return PGW_ACCEPT;
	case CHECK_WAIT: return PGW_LATER;
	case CHECK_CONTINUE: return PGW_CONTINUE;
	default: return PGW_REJECT;
	}
}

static enum pgw_decision on_auth(struct pgw_plugin *self, struct pgw_session *s, struct pgw_request *req,
				 const struct pgw_auth_info *info)
{
	struct oidc *o = host->get_private(self);
	return decision_of(authenticate(o, s, req, info->password, info->user, info->database, true));
}

static void free_parked(struct pending_login *p)
{
	while (p) {
		struct pending_login *next = p->next;
		memset(p->token, 0, strlen(p->token));
		free(p->token);
		free(p->user);
		free(p->database);
		free(p);
		p = next;
	}
}

/* Keys arrived (or did not): decide the parked logins. */
static void retry_parked(struct oidc *o)
{
	struct pending_login *list = o->waiting;

	o->waiting = NULL;
	for (struct pending_login *p = list; p; p = p->next) {
		struct pgw_session *s = host->request_session(p->req);
		if (!s) {
			host->request_complete(p->req, PGW_REJECT);
			continue;
		}
		host->request_complete(p->req, decision_of(authenticate(o, s, p->req, p->token, p->user,
									p->database, false)));
	}
	free_parked(list);
}

/* ---------------- fetching, continued ---------------- */

static void refresh_due(void *arg)
{
	struct oidc *o = arg;
	o->refresh_timer = NULL;
	start_fetch(o);
}

static void schedule_refresh(struct oidc *o, int64_t seconds)
{
	if (o->refresh_timer)
		host->timer_cancel(o->refresh_timer);
	o->refresh_timer = host->timer_start(o->self, (uint64_t)seconds * 1000, refresh_due, o);
}

static void fetch_done(void *arg)
{
	struct oidc_fetch *job = arg;
	struct oidc *o = job->owner;
	struct oidc_keyset *ks = NULL;
	char warn[200] = "";

	o->fetching = false;
	if (job->body)
		ks = oidc_keyset_from_jwks(job->body, job->len, job->jwks_uri_used, warn, sizeof(warn),
					   job->err, sizeof(job->err));
	if (ks) {
		oidc_keyset_free(o->keys);
		o->keys = ks;
		oidc_cache_clear(o->cache);
		o->fetches_ok++;
		o->last_error[0] = '\0';
		host->log(o->self, PGW_LOG_INFO, "loaded %d key(s) from %s%s%s", ks->n, ks->source,
			  warn[0] ? "; " : "", warn);
	} else {
		o->fetches_failed++;
		snprintf(o->last_error, sizeof(o->last_error), "%s", job->err);
		host->log(o->self, PGW_LOG_WARNING, "cannot load the issuer's keys: %s", job->err);
	}
	schedule_refresh(o, ks ? o->conf->refresh_interval : o->conf->refresh_min_interval);
	oidc_fetch_free(job);
	retry_parked(o);
}

static void start_fetch(struct oidc *o)
{
	struct oidc_fetch *job;

	if (o->fetching || !keys_are_remote(o->conf))
		return;
	job = calloc(1, sizeof(*job));
	job->issuer = strdup(o->conf->policy.issuer);
	job->jwks_uri = o->conf->jwks_uri ? strdup(o->conf->jwks_uri) : NULL;
	job->ca_file = o->conf->ca_file ? strdup(o->conf->ca_file) : NULL;
	job->timeout_s = (long)o->conf->http_timeout;
	job->exiting = host_exiting_fn(host);
	job->owner = o;
	o->fetching = true;
	o->last_fetch = now_s();
	if (host->worker_submit(o->self, oidc_fetch_run, fetch_done, job) < 0) {
		snprintf(job->err, sizeof(job->err), "the worker queue is full");
		fetch_done(job);
	}
}

/* Local keys: read now (init and reload). */
static int load_local_keys(struct oidc *o, const struct oidc_conf *c)
{
	char err[300], warn[200] = "";
	const char *path = c->jwks_file ? c->jwks_file : c->public_key_file;
	struct oidc_keyset *ks = oidc_keyset_from_file(path, c->public_key_file != NULL, warn, sizeof(warn),
						       err, sizeof(err));

	if (!ks) {
		host->set_error(o->self, "%s", err);
		return -1;
	}
	if (warn[0])
		host->log(o->self, PGW_LOG_WARNING, "%s: %s", path, warn);
	oidc_keyset_free(o->keys);
	o->keys = ks;
	oidc_cache_clear(o->cache);
	return 0;
}

/* ---------------- sessions ---------------- */

static void token_expired(void *arg)
{
	struct oidc_session *os = arg;

	os->expiry = NULL;
	host->session_close(os->s, "08006", "session ended: the OIDC token expired",
			    !os->o->conf->expire_immediate);
}

static void on_session_start(struct pgw_plugin *self, struct pgw_session *s)
{
	struct oidc_session *os = host->session_get_data(s, self);
	int64_t left;

	if (!os || !os->expires_at)
		return;
	left = os->expires_at + os->o->conf->policy.clock_skew - now_s();
	os->expiry = host->timer_start(self, left > 0 ? (uint64_t)left * 1000 : 0, token_expired, os);
}

static void on_session_end(struct pgw_plugin *self, struct pgw_session *s, const char *reason)
{
	struct oidc_session *os = host->session_get_data(s, self);

	(void)reason;
	if (!os)
		return;
	if (os->expiry)
		host->timer_cancel(os->expiry);
	free(os);
	host->session_set_data(s, self, NULL);
}

/* ---------------- SHOW OIDC ---------------- */

static void show_row4(struct pgw_show *out, const char *a, const char *b, const char *c, const char *d)
{
	const char *row[4] = { a, b, c, d };
	host->show_row(out, row);
}

static void show_oidc(struct pgw_plugin *self, struct pgw_show *out)
{
	struct oidc *o = host->get_private(self);
	const struct oidc_keyset *ks = o->keys;
	char detail[300], value[64];

	for (int i = 0; ks && i < ks->n; i++) {
		const struct oidc_key *k = &ks->keys[i];
		static const char *const kty_names[] = { "RSA", "EC", "OKP" };
		snprintf(detail, sizeof(detail), "%s %s from %s", kty_names[k->kty], k->alg ? k->alg : "(any fitting alg)",
			 ks->source);
		snprintf(value, sizeof(value), "%llds", (long long)(now_s() - ks->loaded_at));
		show_row4(out, "key", k->kid ? k->kid : "(no kid)", detail, value);
	}
	if (keys_are_remote(o->conf)) {
		snprintf(detail, sizeof(detail), "ok %llu, failed %llu%s", (unsigned long long)o->fetches_ok,
			 (unsigned long long)o->fetches_failed, o->fetching ? ", fetching" : "");
		show_row4(out, "refresh", o->conf->jwks_uri ? o->conf->jwks_uri : o->conf->policy.issuer, detail,
			  o->last_error[0] ? o->last_error : NULL);
	}
	snprintf(detail, sizeof(detail), "hits %llu, misses %llu", (unsigned long long)o->cache->hits,
		 (unsigned long long)o->cache->misses);
	show_row4(out, "cache", "verified signatures", detail, NULL);
	for (int i = 0; i < oidc_rules_count(o->conf->rules); i++) {
		snprintf(value, sizeof(value), "%llu", (unsigned long long)oidc_rules_hits(o->conf->rules, i));
		show_row4(out, "rule", oidc_rules_name(o->conf->rules, i), oidc_rules_text(o->conf->rules, i), value);
	}
}

/* ---------------- life cycle ---------------- */

static struct oidc_conf *parse_conf(struct oidc *o, const struct pgw_kv *config, int n)
{
	char err[300];
	struct oidc_conf *c = oidc_conf_parse(config, n, err, sizeof(err));
	if (!c)
		host->set_error(o->self, "%s", err);
	return c;
}

static int on_reload(struct pgw_plugin *self, const struct pgw_kv *config, int n)
{
	struct oidc *o = host->get_private(self);
	struct oidc_conf *c = parse_conf(o, config, n);

	if (!c)
		return -1;
	if (!keys_are_remote(c) && load_local_keys(o, c) < 0) {
		oidc_conf_free(c);
		return -1;
	}
	oidc_conf_free(o->conf);
	o->conf = c;
	if (keys_are_remote(c)) {
		o->last_fetch = 0;
		start_fetch(o);
	}
	return 0;
}

static void on_unload(struct pgw_plugin *self)
{
	struct oidc *o = host->get_private(self);

	if (o->refresh_timer)
		host->timer_cancel(o->refresh_timer);
	free_parked(o->waiting);	/* the core is going away with their clients */
	oidc_keyset_free(o->keys);
	oidc_conf_free(o->conf);
	free(o->cache);
	free(o);
	oidc_fetch_global_cleanup();
}

int pgwarden_plugin_init(const struct pgw_host *h, struct pgw_plugin *self, const struct pgw_kv *config, int n)
{
	static const char *const columns[] = { "item", "name", "detail", "value" };
	struct oidc *o;
	struct pgw_hooks hooks = {
		.size = sizeof(struct pgw_hooks),
		.client_auth = on_auth,
		.session_start = on_session_start,
		.session_end = on_session_end,
		.reload = on_reload,
		.unload = on_unload,
	};

	host = h;
	if (h->size < offsetof(struct pgw_host, session_close) + sizeof(h->session_close)) {
		h->set_error(self, "this pgwarden is too old for the oidc plugin (no session_close)");
		return -1;
	}
	o = calloc(1, sizeof(*o));
	o->self = self;
	o->cache = calloc(1, sizeof(*o->cache));
	host->set_private(self, o);
	o->conf = parse_conf(o, config, n);
	if (!o->conf || (!keys_are_remote(o->conf) && load_local_keys(o, o->conf) < 0))
		goto fail;
	if (oidc_fetch_global_init() < 0) {
		host->set_error(self, "cannot initialise libcurl");
		goto fail;
	}
	o->counter_logins = host->counter_register(self, "logins");
	o->counter_rejected = host->counter_register(self, "rejected");
	if (host->show_register(self, "oidc", columns, 4, show_oidc) < 0 || host->register_hooks(self, &hooks) < 0)
		return -1;
	start_fetch(o);
	return 0;
fail:
	oidc_keyset_free(o->keys);
	oidc_conf_free(o->conf);
	free(o->cache);
	free(o);
	return -1;
}
