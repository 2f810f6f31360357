/*
 * Parsing the OIDC plugin's section.  Every key is checked; an unknown key
 * is an error (a typo in a security setting must not pass silently).
 */
#include "oidc_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_ALGORITHMS "RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"

struct conf_parse {
	struct oidc_conf *c;
	char *err;
	size_t errlen;
};

static int fail(struct conf_parse *p, const char *key, const char *why)
{
	snprintf(p->err, p->errlen, "%s: %s", key, why);
	return -1;
}

static int parse_seconds(struct conf_parse *p, const char *key, const char *value, int64_t *out)
{
	char *end = NULL;
	errno = 0;
	long long v = strtoll(value, &end, 10);
	if (errno || end == value || *end || v < 0 || v > 10LL * 365 * 86400)
		return fail(p, key, "must be a number of seconds");
	*out = v;
	return 0;
}

static int parse_bool(struct conf_parse *p, const char *key, const char *value, bool *out)
{
	if (!strcasecmp(value, "on") || !strcasecmp(value, "true") || !strcasecmp(value, "yes") || !strcmp(value, "1"))
		*out = true;
	else if (!strcasecmp(value, "off") || !strcasecmp(value, "false") || !strcasecmp(value, "no") || !strcmp(value, "0"))
		*out = false;
	else
		return fail(p, key, "must be on or off");
	return 0;
}

static int parse_algorithms(struct conf_parse *p, const char *key, const char *value)
{
	char *copy = strdup(value), *save = NULL;
	int rc = 0;

	p->c->algorithms = 0;
	for (char *name = strtok_r(copy, ", \t", &save); name && !rc; name = strtok_r(NULL, ", \t", &save)) {
		enum jws_alg alg = jws_alg_from_name(name);
		if (alg == JWS_ALG_UNKNOWN)
			rc = fail(p, key, "only RS256/384/512, PS256/384/512, ES256/384 and EdDSA "
				  "(never none, never HS*: the key is public)");
		else
			p->c->algorithms |= 1u << alg;
	}
	free(copy);
	if (!rc && !p->c->algorithms)
		rc = fail(p, key, "no algorithm listed");
	return rc;
}

static int parse_required(struct conf_parse *p, const char *value)
{
	char *copy = strdup(value), *save = NULL;
	struct oidc_claim_policy *pol = &p->c->policy;

	for (char *name = strtok_r(copy, ", \t", &save); name; name = strtok_r(NULL, ", \t", &save)) {
		pol->required = realloc(pol->required, sizeof(char *) * (size_t)(pol->nrequired + 1));
		pol->required[pol->nrequired++] = strdup(name);
	}
	free(copy);
	return 0;
}

static int parse_login_user(struct conf_parse *p, const char *key, const char *value)
{
	struct oidc_conf *c = p->c;

	if (strcmp(value, "*") == 0) {
		c->login_mode = LOGIN_USER_ANY;
	} else if (strncmp(value, "claim:", 6) == 0 && value[6]) {
		c->login_mode = LOGIN_USER_CLAIM;
		c->login_value = strdup(value + 6);
	} else if (value[0]) {
		c->login_mode = LOGIN_USER_LITERAL;
		c->login_value = strdup(value);
	} else {
		return fail(p, key, "must be *, a user name, or claim:PATH");
	}
	return 0;
}

static void set_str(char **dst, const char *value)
{
	free(*dst);
	*dst = value[0] ? strdup(value) : NULL;
}

/* One key of the section; rule.N keys are parsed together afterwards. */
static int parse_key(struct conf_parse *p, const char *key, const char *value)
{
	struct oidc_conf *c = p->c;
	int64_t n;

	if (!strcmp(key, "path") || !strncmp(key, "rule.", 5))
		return 0;
	if (!strcmp(key, "issuer")) {
		set_str((char **)&c->policy.issuer, value);
	} else if (!strcmp(key, "audience")) {
		set_str((char **)&c->policy.audience, value);
	} else if (!strcmp(key, "typ")) {
		set_str((char **)&c->policy.typ, value);
	} else if (!strcmp(key, "jwks_file")) {
		set_str(&c->jwks_file, value);
	} else if (!strcmp(key, "public_key_file")) {
		set_str(&c->public_key_file, value);
	} else if (!strcmp(key, "jwks_uri")) {
		set_str(&c->jwks_uri, value);
	} else if (!strcmp(key, "ca_file")) {
		set_str(&c->ca_file, value);
	} else if (!strcmp(key, "groups_claim")) {
		set_str(&c->groups_claim, value);
	} else if (!strcmp(key, "algorithms")) {
		return parse_algorithms(p, key, value);
	} else if (!strcmp(key, "required_claims")) {
		return parse_required(p, value);
	} else if (!strcmp(key, "login_user")) {
		return parse_login_user(p, key, value);
	} else if (!strcmp(key, "allow_insecure_transport")) {
		return parse_bool(p, key, value, &c->allow_insecure_transport);
	} else if (!strcmp(key, "password_fallback")) {
		return parse_bool(p, key, value, &c->password_fallback);
	} else if (!strcmp(key, "clock_skew")) {
		return parse_seconds(p, key, value, &c->policy.clock_skew);
	} else if (!strcmp(key, "max_token_lifetime")) {
		return parse_seconds(p, key, value, &c->policy.max_lifetime);
	} else if (!strcmp(key, "refresh_interval")) {
		return parse_seconds(p, key, value, &c->refresh_interval);
	} else if (!strcmp(key, "refresh_min_interval")) {
		return parse_seconds(p, key, value, &c->refresh_min_interval);
	} else if (!strcmp(key, "http_timeout")) {
		return parse_seconds(p, key, value, &c->http_timeout);
	} else if (!strcmp(key, "max_token_size")) {
		if (parse_seconds(p, key, value, &n) < 0 || n < 256 || n > 1024 * 1024)
			return fail(p, key, "must be a byte count from 256 to 1048576");
		c->max_token_size = (size_t)n;
	} else if (!strcmp(key, "expire_action")) {
		if (strcmp(value, "immediate") && strcmp(value, "after_transaction"))
			return fail(p, key, "must be after_transaction or immediate");
		c->expire_immediate = !strcmp(value, "immediate");
	} else {
		return fail(p, key, "unknown key");
	}
	return 0;
}

static void set_defaults(struct oidc_conf *c)
{
	c->policy.clock_skew = 60;
	c->max_token_size = 16384;
	c->groups_claim = strdup("groups");
	c->refresh_interval = 3600;
	c->refresh_min_interval = 30;
	c->http_timeout = 10;
	c->login_mode = LOGIN_USER_ANY;
}

static int check_whole(struct conf_parse *p)
{
	struct oidc_conf *c = p->c;
	int sources = !!c->jwks_file + !!c->public_key_file;

	if (!c->policy.issuer)
		return fail(p, "issuer", "required (the exact iss of accepted tokens)");
	if (!c->policy.audience)
		return fail(p, "audience", "required (tokens must name this gateway in aud)");
	if (sources > 1 || (sources && c->jwks_uri))
		return fail(p, "jwks_file", "give one of jwks_file, public_key_file, jwks_uri (or none: discovery)");
	if (!sources && !c->jwks_uri && strncmp(c->policy.issuer, "https://", 8) != 0)
		return fail(p, "issuer", "discovery needs an https:// issuer (or set jwks_file / public_key_file)");
	if (c->jwks_uri && strncmp(c->jwks_uri, "https://", 8) != 0)
		return fail(p, "jwks_uri", "must be an https:// URL");
	if (!c->algorithms)
		return parse_algorithms(p, "algorithms", DEFAULT_ALGORITHMS);
	return 0;
}

struct oidc_conf *oidc_conf_parse(const struct pgw_kv *kv, int n, char *err, size_t errlen)
{
	struct conf_parse p = { calloc(1, sizeof(struct oidc_conf)), err, errlen };
	const char **keys = calloc((size_t)n + 1, sizeof(char *));
	const char **values = calloc((size_t)n + 1, sizeof(char *));

	set_defaults(p.c);
	for (int i = 0; i < n; i++) {
		keys[i] = kv[i].key;
		values[i] = kv[i].value;
		if (parse_key(&p, kv[i].key, kv[i].value) < 0)
			goto bad;
	}
	if (check_whole(&p) < 0)
		goto bad;
	p.c->rules = oidc_rules_parse(keys, values, n, err, errlen);
	if (!p.c->rules)
		goto bad;
	free(keys);
	free(values);
	return p.c;
bad:
	free(keys);
	free(values);
	oidc_conf_free(p.c);
	return NULL;
}

void oidc_conf_free(struct oidc_conf *c)
{
	if (!c)
		return;
	free((char *)c->policy.issuer);
	free((char *)c->policy.audience);
	free((char *)c->policy.typ);
	for (int i = 0; i < c->policy.nrequired; i++)
		free(c->policy.required[i]);
	free(c->policy.required);
	free(c->jwks_file);
	free(c->public_key_file);
	free(c->jwks_uri);
	free(c->ca_file);
	free(c->login_value);
	free(c->groups_claim);
	oidc_rules_free(c->rules);
	free(c);
}
