/*
 * The OIDC plugin's [plugin.NAME] section, parsed and checked.  A snapshot:
 * RELOAD builds a new one and swaps it only when the whole section is good.
 */
#ifndef OIDC_CONFIG_H
#define OIDC_CONFIG_H

#include "oidc_rules.h"
#include "oidc_token.h"

#include <pgwarden/plugin.h>
#include <stdbool.h>

enum login_user_mode {
	LOGIN_USER_ANY,			/* any startup user name */
	LOGIN_USER_LITERAL,		/* exactly login_user */
	LOGIN_USER_CLAIM,		/* login_user = claim:PATH: equal to that claim */
};

struct oidc_conf {
	struct oidc_claim_policy policy;
	unsigned algorithms;		/* bit (1 << enum jws_alg) per allowed algorithm */
	char *jwks_file;
	char *public_key_file;
	char *jwks_uri;			/* set, or discovered from issuer when no file is */
	char *ca_file;			/* for HTTPS; NULL: the system's */
	size_t max_token_size;
	bool allow_insecure_transport;
	bool password_fallback;		/* a password that is no JWT goes to the core's auth_type */
	enum login_user_mode login_mode;
	char *login_value;
	char *groups_claim;
	int64_t refresh_interval;	/* seconds between JWKS fetches */
	int64_t refresh_min_interval;	/* at least this long between fetches for unknown kids */
	int64_t http_timeout;		/* seconds */
	bool expire_immediate;		/* expire_action = immediate */
	struct oidc_rules *rules;
};

/* NULL with err naming the key at fault. */
struct oidc_conf *oidc_conf_parse(const struct pgw_kv *kv, int n, char *err, size_t errlen);
void oidc_conf_free(struct oidc_conf *c);

#endif
