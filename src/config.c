/*
 * The pgbouncer.ini reader.
 *
 * The file format and its quirks follow PgBouncer's cfparser.c and loader.c
 * (see the compatibility reference, section 1), so that an existing
 * pgbouncer.ini loads unchanged and fails with the same messages.  Everything
 * is read into one freshly allocated struct config; the caller swaps it in.
 *
 * Layout of this file: lookup tables, the [pgbouncer] key table, value
 * parsers, the [databases]/[users] settings strings, the line parser, and
 * the public helpers.
 */
#include "config.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_INCLUDE_DEPTH	10		/* PgBouncer's MAX_INCLUDE */
#define MAX_CONFIG_FILE_SIZE	(16 * 1024 * 1024)
#define MAX_TIME_SECONDS	1e9		/* ~31 years; keeps microseconds far from overflow */
#define DEFAULT_PORT		5432

/*
 * Name <-> number tables
 */

struct name_value {
	const char *name;
	int value;
};

static const struct name_value pool_mode_names[] = {
	{ "session", POOL_SESSION },
	{ "transaction", POOL_TX },
	{ "statement", POOL_STMT },
	{ NULL, 0 },
};

static const struct name_value auth_type_names[] = {
	{ "any", AUTH_TYPE_ANY },
	{ "trust", AUTH_TYPE_TRUST },
	{ "plain", AUTH_TYPE_PLAIN },
	{ "md5", AUTH_TYPE_MD5 },
	{ "cert", AUTH_TYPE_CERT },
	{ "hba", AUTH_TYPE_HBA },
	{ "scram-sha-256", AUTH_TYPE_SCRAM },
	{ "pam", AUTH_TYPE_PAM },
	{ NULL, 0 },
};

/* Valid in PgBouncer builds with the libraries, but not implemented here. */
static const char *const unsupported_auth_types[] = { "ldap", NULL };

static const char *const sslmode_names[] = {
	"disable", "allow", "prefer", "require", "verify-ca", "verify-full", NULL,
};

/* Case-insensitive, like PgBouncer's cf_set_lookup(). */
static const struct name_value *find_name(const struct name_value *tab, const char *name)
{
	for (; tab->name; tab++) {
		if (strcasecmp(tab->name, name) == 0)
			return tab;
	}
	return NULL;
}

static const char *value_name(const struct name_value *tab, int value, const char *unknown)
{
	for (; tab->name; tab++) {
		if (tab->value == value)
			return tab->name;
	}
	return unknown;
}

/* The list's own spelling of word (matched case-insensitively), or NULL. */
static const char *find_word(const char *const *words, const char *word)
{
	for (; *words; words++) {
		if (strcasecmp(*words, word) == 0)
			return *words;
	}
	return NULL;
}

const char *pool_mode_name(enum pool_mode mode)
{
	if (mode == POOL_INHERIT)
		return "";
	return value_name(pool_mode_names, mode, "INVALID");
}

const char *auth_type_name(enum auth_type type)
{
	return value_name(auth_type_names, type, "INVALID");
}

/*
 * offsetof() that also checks the member's type at compile time: _Generic
 * has no association for a mismatched member, so e.g. a TIME key pointing
 * at an int field does not build.
 */
#define MEMBER_OF(S, f, T)	(offsetof(S, f) + 0 * sizeof(_Generic(((S *)0)->f, T: 1)))

/*
 * The [pgbouncer] keys
 */

#define FIELD_OF(f, T)	MEMBER_OF(struct config, f, T)
#define RELOAD		true
#define NO_RELOAD	false

#define K_INT(n, f, d, r)	{ n, CF_INT, FIELD_OF(f, int), d, r }
#define K_TIME(n, f, d, r)	{ n, CF_TIME, FIELD_OF(f, usec_t), d, r }
#define K_STR(n, f, d, r)	{ n, CF_STR, FIELD_OF(f, char *), d, r }
#define K_POOL(n, f, d, r)	{ n, CF_LOOKUP_POOL_MODE, FIELD_OF(f, int), d, r }
#define K_AUTH(n, f, d, r)	{ n, CF_LOOKUP_AUTH_TYPE, FIELD_OF(f, int), d, r }

#define DEFAULT_AUTH_QUERY \
	"SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END " \
	"FROM pg_authid WHERE rolname=$1 AND rolcanlogin"

/* Alphabetical: SHOW CONFIG prints them in this order.  Defaults are PgBouncer's current ones. */
const struct config_key config_keys[] = {
	K_STR("admin_users", admin_users, "", RELOAD),
	K_INT("application_name_add_host", application_name_add_host, "0", RELOAD),
	K_STR("auth_dbname", auth_dbname, NULL, RELOAD),
	K_STR("auth_file", auth_file, NULL, RELOAD),
	K_STR("auth_hba_file", auth_hba_file, "", RELOAD),
	K_STR("auth_ident_file", auth_ident_file, NULL, RELOAD),
	K_STR("auth_ldap_options", auth_ldap_options, NULL, RELOAD),
	K_STR("auth_query", auth_query, DEFAULT_AUTH_QUERY, RELOAD),
	K_AUTH("auth_type", auth_type, "md5", RELOAD),
	K_STR("auth_user", auth_user, NULL, RELOAD),
	K_TIME("autodb_idle_timeout", autodb_idle_timeout, "3600", RELOAD),
	K_TIME("cancel_wait_timeout", cancel_wait_timeout, "10", RELOAD),
	K_TIME("client_idle_timeout", client_idle_timeout, "0", RELOAD),
	K_TIME("client_login_timeout", client_login_timeout, "60", RELOAD),
	K_STR("client_tls13_ciphers", client_tls13_ciphers, NULL, RELOAD),
	K_STR("client_tls_ca_file", client_tls_ca_file, "", RELOAD),
	K_STR("client_tls_cert_file", client_tls_cert_file, "", RELOAD),
	K_STR("client_tls_ciphers", client_tls_ciphers, "default", RELOAD),
	K_STR("client_tls_dheparams", client_tls_dheparams, "auto", RELOAD),
	K_STR("client_tls_ecdhcurve", client_tls_ecdhcurve, "auto", RELOAD),
	K_STR("client_tls_key_file", client_tls_key_file, "", RELOAD),
	K_STR("client_tls_protocols", client_tls_protocols, "secure", RELOAD),
	K_STR("client_tls_sslmode", client_tls_sslmode, "disable", RELOAD),
	K_STR("conffile", conffile, NULL, RELOAD),
	K_INT("default_pool_size", default_pool_size, "20", RELOAD),
	K_INT("disable_pqexec", disable_pqexec, "0", NO_RELOAD),
	K_TIME("dns_max_ttl", dns_max_ttl, "15", RELOAD),
	K_TIME("dns_nxdomain_ttl", dns_nxdomain_ttl, "15", RELOAD),
	K_TIME("dns_zone_check_period", dns_zone_check_period, "0", RELOAD),
	K_TIME("idle_transaction_timeout", idle_transaction_timeout, "0", RELOAD),
	K_STR("ignore_startup_parameters", ignore_startup_parameters, "", RELOAD),
	K_STR("job_name", job_name, "pgbouncer", NO_RELOAD),
	K_STR("listen_addr", listen_addr, "", NO_RELOAD),
	K_INT("listen_backlog", listen_backlog, "128", NO_RELOAD),
	K_INT("listen_port", listen_port, "6432", NO_RELOAD),
	K_INT("log_connections", log_connections, "1", RELOAD),
	K_INT("log_disconnections", log_disconnections, "1", RELOAD),
	K_INT("log_pooler_errors", log_pooler_errors, "1", RELOAD),
	K_INT("log_stats", log_stats, "1", RELOAD),
	K_STR("logfile", logfile, "", RELOAD),
	K_STR("login_notify_message", login_notify_message, "", RELOAD),
	K_INT("max_client_conn", max_client_conn, "100", RELOAD),
	K_INT("max_db_client_connections", max_db_client_connections, "0", RELOAD),
	K_INT("max_db_connections", max_db_connections, "0", RELOAD),
	K_INT("max_packet_size", max_packet_size, "2147483647", RELOAD),
	K_INT("max_prepared_statements", max_prepared_statements, "200", RELOAD),
	K_INT("max_user_client_connections", max_user_client_connections, "0", RELOAD),
	K_INT("max_user_connections", max_user_connections, "0", RELOAD),
	K_INT("min_pool_size", min_pool_size, "0", RELOAD),
	K_INT("peer_id", peer_id, "0", RELOAD),
	K_STR("pidfile", pidfile, "", NO_RELOAD),
	K_INT("pkt_buf", pkt_buf, "4096", NO_RELOAD),
	K_STR("plugins", plugins, "", NO_RELOAD),
	K_TIME("pool_idle_timeout", pool_idle_timeout, "0", RELOAD),
	K_POOL("pool_mode", pool_mode, "session", RELOAD),
	K_TIME("query_timeout", query_timeout, "0", RELOAD),
	K_TIME("query_wait_notify", query_wait_notify, "5", RELOAD),
	K_TIME("query_wait_timeout", query_wait_timeout, "120", RELOAD),
	K_INT("reserve_pool_size", reserve_pool_size, "0", RELOAD),
	K_TIME("reserve_pool_timeout", reserve_pool_timeout, "5", RELOAD),
	K_STR("resolv_conf", resolv_conf, "", NO_RELOAD),
	K_INT("sbuf_loopcnt", sbuf_loopcnt, "5", RELOAD),
	K_INT("scram_iterations", scram_iterations, "4096", RELOAD),
	K_TIME("server_check_delay", server_check_delay, "30", RELOAD),
	K_STR("server_check_query", server_check_query, "<empty>", RELOAD),
	K_TIME("server_connect_timeout", server_connect_timeout, "15", RELOAD),
	K_INT("server_fast_close", server_fast_close, "0", RELOAD),
	K_TIME("server_idle_timeout", server_idle_timeout, "600", RELOAD),
	K_TIME("server_lifetime", server_lifetime, "3600", RELOAD),
	K_TIME("server_login_retry", server_login_retry, "15", RELOAD),
	K_STR("server_reset_query", server_reset_query, "DISCARD ALL", RELOAD),
	K_INT("server_reset_query_always", server_reset_query_always, "0", RELOAD),
	K_INT("server_round_robin", server_round_robin, "0", RELOAD),
	K_STR("server_tls13_ciphers", server_tls13_ciphers, NULL, RELOAD),
	K_STR("server_tls_ca_file", server_tls_ca_file, "", RELOAD),
	K_STR("server_tls_cert_file", server_tls_cert_file, "", RELOAD),
	K_STR("server_tls_ciphers", server_tls_ciphers, "default", RELOAD),
	K_STR("server_tls_key_file", server_tls_key_file, "", RELOAD),
	K_STR("server_tls_protocols", server_tls_protocols, "secure", RELOAD),
	K_STR("server_tls_sslmode", server_tls_sslmode, "prefer", RELOAD),
	K_INT("so_reuseport", so_reuseport, "0", NO_RELOAD),
	K_TIME("stats_period", stats_period, "60", RELOAD),
	K_STR("stats_users", stats_users, "", RELOAD),
	K_TIME("suspend_timeout", suspend_timeout, "10", RELOAD),
	K_INT("syslog", syslog, "0", RELOAD),
	K_STR("syslog_facility", syslog_facility, "daemon", RELOAD),
	K_STR("syslog_ident", syslog_ident, "pgbouncer", RELOAD),
	K_INT("tcp_defer_accept", tcp_defer_accept, "1", RELOAD),
	K_INT("tcp_keepalive", tcp_keepalive, "1", RELOAD),
	K_INT("tcp_keepcnt", tcp_keepcnt, "0", RELOAD),
	K_INT("tcp_keepidle", tcp_keepidle, "0", RELOAD),
	K_INT("tcp_keepintvl", tcp_keepintvl, "0", RELOAD),
	K_INT("tcp_socket_buffer", tcp_socket_buffer, "0", RELOAD),
	K_INT("tcp_user_timeout", tcp_user_timeout, "0", RELOAD),
	K_STR("track_extra_parameters", track_extra_parameters, "IntervalStyle", NO_RELOAD),
	K_TIME("transaction_timeout", transaction_timeout, "0", RELOAD),
	K_STR("unix_socket_dir", unix_socket_dir, "/tmp", NO_RELOAD),
	K_STR("unix_socket_group", unix_socket_group, "", NO_RELOAD),
	K_INT("unix_socket_mode", unix_socket_mode, "0777", NO_RELOAD),
	K_STR("user", user, NULL, NO_RELOAD),
	K_INT("verbose", verbose, NULL, RELOAD),
	{ NULL, CF_INT, 0, NULL, false },
};

/* Other spellings of a key; service_name is job_name's Windows name. */
static const struct {
	const char *alias;
	const char *name;
} key_aliases[] = {
	{ "service_name", "job_name" },
};

/*
 * Sanity limits beyond "a valid number".  PgBouncer accepts any int; these
 * only refuse values that cannot work.  INT keys not listed take 0..INT_MAX.
 */
static const struct key_rule {
	const char *name;
	long min, max;
	const char *const *choices;	/* for enumerated STR keys */
} key_rules[] = {
	{ "listen_port", 1, 65535, NULL },
	{ "pkt_buf", 1024, 64 * 1024 * 1024, NULL },
	{ "max_packet_size", 1, INT_MAX, NULL },
	{ "peer_id", 0, MAX_PEER_ID, NULL },
	{ "scram_iterations", 1, INT_MAX, NULL },
	{ "unix_socket_mode", 0, 07777, NULL },
	{ "client_tls_sslmode", 0, 0, sslmode_names },
	{ "server_tls_sslmode", 0, 0, sslmode_names },
};

static const struct key_rule *find_rule(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(key_rules); i++) {
		if (strcmp(key_rules[i].name, name) == 0)
			return &key_rules[i];
	}
	return NULL;
}

const struct config_key *config_find_key(const char *name)
{
	const struct config_key *k;

	if (!name)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(key_aliases); i++) {
		if (strcmp(key_aliases[i].alias, name) == 0)
			name = key_aliases[i].name;
	}
	/* Key lookup is case-sensitive, as in PgBouncer. */
	for (k = config_keys; k->name; k++) {
		if (strcmp(k->name, name) == 0)
			return k;
	}
	return NULL;
}

/*
 * Value parsers
 */

/* strtol base 0 (so 0777 is octal), whole string, within [min, max]. */
static bool parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (end == s || *end != '\0' || errno != 0 || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* Float seconds, like PgBouncer's parse_time(): no negatives, no junk. */
static bool parse_seconds(const char *s, usec_t *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !isfinite(v) || v < 0 || v > MAX_TIME_SECONDS)
		return false;
	*out = (usec_t)(v * USEC_PER_SEC);
	return true;
}

static void replace_str(char **dst, const char *value)
{
	char *copy = xstrdup(value);

	free(*dst);
	*dst = copy;
}

static bool set_int_key(int *dst, const struct config_key *key, const char *value,
			char *detail, size_t dlen)
{
	const struct key_rule *rule = find_rule(key->name);
	long min = rule ? rule->min : 0;
	long max = rule ? rule->max : INT_MAX;
	long v;

	if (!parse_long(value, min, max, &v)) {
		/* Say why only when the number itself was fine. */
		if (parse_long(value, LONG_MIN, LONG_MAX, &v))
			snprintf(detail, dlen, "must be between %ld and %ld", min, max);
		return false;
	}
	*dst = (int)v;
	return true;
}

static bool set_auth_type(int *dst, const char *value, char *detail, size_t dlen)
{
	const struct name_value *nv = find_name(auth_type_names, value);

	if (!nv) {
		if (find_word(unsupported_auth_types, value))
			snprintf(detail, dlen, "auth_type %s is not supported", value);
		return false;
	}
	*dst = nv->value;
	return true;
}

/* Enumerated strings are matched like lookups and stored in their canonical spelling. */
static bool set_str_key(char **dst, const struct config_key *key, const char *value)
{
	const struct key_rule *rule = find_rule(key->name);

	if (rule && rule->choices) {
		value = find_word(rule->choices, value);
		if (!value)
			return false;
	}
	replace_str(dst, value);
	return true;
}

/* Store one value; on failure cf is unchanged and detail may say why. */
static bool set_key_value(struct config *cf, const struct config_key *key, const char *value,
			  char *detail, size_t dlen)
{
	void *field = (char *)cf + key->offset;
	const struct name_value *nv;

	detail[0] = '\0';
	switch (key->type) {
	case CF_INT:
		return set_int_key(field, key, value, detail, dlen);
	case CF_TIME:
		return parse_seconds(value, field);
	case CF_STR:
		return set_str_key(field, key, value);
	case CF_LOOKUP_POOL_MODE:
		nv = find_name(pool_mode_names, value);
		if (nv)
			*(int *)field = nv->value;
		return nv != NULL;
	case CF_LOOKUP_AUTH_TYPE:
		return set_auth_type(field, value, detail, dlen);
	}
	return false;
}

bool config_set_value(struct config *cf, const struct config_key *key, const char *value,
		      char *errbuf, size_t errlen)
{
	char detail[128];

	if (!cf || !key || !value) {
		snprintf(errbuf, errlen, "invalid argument");
		return false;
	}
	if (set_key_value(cf, key, value, detail, sizeof(detail)))
		return true;
	snprintf(errbuf, errlen, "invalid value \"%s\" for parameter %s%s%s",
		 value, key->name, detail[0] ? ": " : "", detail);
	return false;
}

/*
 * Every [pgbouncer] header re-applies the defaults, as PgBouncer's
 * fill_defaults() does: a second [pgbouncer] section (say, in an included
 * file) resets what came before it.  Keys without a default are left alone.
 */
static void apply_defaults(struct config *cf)
{
	char detail[128];

	for (const struct config_key *k = config_keys; k->name; k++) {
		if (k->default_value && !set_key_value(cf, k, k->default_value, detail, sizeof(detail)))
			die("bad built-in default for %s", k->name);
	}
}

/* Unset strings are "" rather than NULL so that readers need no NULL checks. */
static void init_strings(struct config *cf)
{
	for (const struct config_key *k = config_keys; k->name; k++) {
		char **field = (char **)((char *)cf + k->offset);

		if (k->type == CF_STR && *field == NULL)
			*field = xstrdup("");
	}
}

void config_format_value(const struct config *cf, const struct config_key *key, char *buf, size_t len)
{
	const void *field;

	if (!buf || len == 0)
		return;
	buf[0] = '\0';
	if (!cf || !key)
		return;
	field = (const char *)cf + key->offset;
	switch (key->type) {
	case CF_INT:
		snprintf(buf, len, "%d", *(const int *)field);
		break;
	case CF_TIME:
		snprintf(buf, len, "%g", (double)*(const usec_t *)field / USEC_PER_SEC);
		break;
	case CF_STR:
		snprintf(buf, len, "%s", *(char *const *)field ? *(char *const *)field : "");
		break;
	case CF_LOOKUP_POOL_MODE:
		snprintf(buf, len, "%s", pool_mode_name(*(const int *)field));
		break;
	case CF_LOOKUP_AUTH_TYPE:
		snprintf(buf, len, "%s", auth_type_name(*(const int *)field));
		break;
	}
}

/*
 * [databases] and [users] settings strings: "key=value key='quoted ''value'''"
 */

enum setting_type {
	SET_STR,		/* char * */
	SET_INT,		/* int, >= 0 */
	SET_PORT,		/* int, 1..65535 */
	SET_POOL_MODE,		/* int, enum pool_mode */
	SET_IGNORE,		/* accepted for compatibility, no effect */
};

struct setting {
	const char *name;
	enum setting_type type;
	size_t offset;
};

#define DB_STR(n, f)	{ n, SET_STR, MEMBER_OF(struct db_def, f, char *) }
#define DB_INT(n, f)	{ n, SET_INT, MEMBER_OF(struct db_def, f, int) }

static const struct setting db_settings[] = {
	DB_STR("dbname", dbname),
	DB_STR("host", host),
	{ "port", SET_PORT, MEMBER_OF(struct db_def, port, int) },
	DB_STR("user", user),
	DB_STR("password", password),
	DB_STR("auth_user", auth_user),
	DB_STR("auth_query", auth_query),
	DB_STR("auth_dbname", auth_dbname),
	DB_INT("pool_size", pool_size),
	DB_INT("min_pool_size", min_pool_size),
	DB_INT("reserve_pool", reserve_pool),
	DB_INT("reserve_pool_size", reserve_pool),
	{ "pool_mode", SET_POOL_MODE, MEMBER_OF(struct db_def, pool_mode, int) },
	DB_INT("max_db_connections", max_db_connections),
	DB_INT("max_db_client_connections", max_db_client_connections),
	DB_INT("server_lifetime", server_lifetime),
	DB_INT("query_wait_timeout", query_wait_timeout),
	DB_STR("connect_query", connect_query),
	DB_STR("client_encoding", client_encoding),
	DB_STR("datestyle", datestyle),
	DB_STR("timezone", timezone),
	DB_STR("application_name", application_name),
	{ "load_balance_hosts", SET_IGNORE, 0 },
	{ NULL, SET_IGNORE, 0 },
};

#define USER_INT(n, f)	{ n, SET_INT, MEMBER_OF(struct user_def, f, int) }

static const struct setting user_settings[] = {
	{ "pool_mode", SET_POOL_MODE, MEMBER_OF(struct user_def, pool_mode, int) },
	USER_INT("max_user_connections", max_user_connections),
	USER_INT("pool_size", pool_size),
	USER_INT("reserve_pool_size", reserve_pool_size),
	USER_INT("max_user_client_connections", max_user_client_connections),
	USER_INT("query_timeout", query_timeout),
	USER_INT("idle_transaction_timeout", idle_transaction_timeout),
	USER_INT("client_idle_timeout", client_idle_timeout),
	USER_INT("transaction_timeout", transaction_timeout),
	USER_INT("query_wait_timeout", query_wait_timeout),
	{ NULL, SET_IGNORE, 0 },
};

#define PEER_STR(n, f)	{ n, SET_STR, MEMBER_OF(struct peer_def, f, char *) }

static const struct setting peer_settings[] = {
	PEER_STR("host", host),
	{ "port", SET_PORT, MEMBER_OF(struct peer_def, port, int) },
	{ "pool_size", SET_INT, MEMBER_OF(struct peer_def, pool_size, int) },
	{ NULL, SET_IGNORE, 0 },
};

/* What differs between the kinds of settings string: keys and messages. */
struct settings_kind {
	const struct setting *table;
	const char *syntax_error;
	const char *unknown_key;	/* prefix of the key name */
};

static const struct settings_kind db_kind = {
	db_settings, "syntax error in connection string", "unrecognized connection parameter: ",
};

static const struct settings_kind user_kind = {
	user_settings, "syntax error in user settings", "unrecognized user parameter: ",
};

static const struct settings_kind peer_kind = {
	peer_settings, "syntax error in peer settings", "unrecognized peer parameter: ",
};

/* Set every field named in the table to "not given". */
static void settings_reset(void *base, const struct setting *table)
{
	for (const struct setting *s = table; s->name; s++) {
		void *field = (char *)base + s->offset;

		switch (s->type) {
		case SET_STR:
			*(char **)field = NULL;
			break;
		case SET_INT:
		case SET_POOL_MODE:	/* POOL_INHERIT is -1 too */
			*(int *)field = -1;
			break;
		case SET_PORT:
			*(int *)field = DEFAULT_PORT;
			break;
		case SET_IGNORE:
			break;
		}
	}
}

/*
 * Free the strings named in the table (never the name key itself).  They are
 * wiped first because one of them may be a password.
 */
static void settings_free(void *base, const struct setting *table)
{
	for (const struct setting *s = table; s->name; s++) {
		char **field = (char **)((char *)base + s->offset);

		if (s->type == SET_STR && *field) {
			secure_zero(*field, strlen(*field));
			free(*field);
			*field = NULL;
		}
	}
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static char *skip_blanks(char *p)
{
	while (is_blank(*p))
		p++;
	return p;
}

/* Unquote in place after the opening quote; '' is a quote.  NULL if unterminated. */
static char *cut_quoted(char *p, char **val)
{
	char *dst = p;

	*val = p;
	for (;;) {
		if (*p == '\0')
			return NULL;
		if (*p == '\'') {
			if (p[1] != '\'')
				break;
			p++;
		}
		*dst++ = *p++;
	}
	*dst = '\0';
	return p + 1;
}

/*
 * Cut the next key=value pair out of a writable settings string.  Returns
 * where to continue, or NULL on a syntax error; *key is "" at the end.
 */
static char *cut_pair(char *p, char **key, char **val)
{
	char *key_end;

	p = skip_blanks(p);
	*key = *val = p;
	if (*p == '\0')
		return p;
	while (*p && *p != '=' && !is_blank(*p))
		p++;
	key_end = p;
	p = skip_blanks(p);
	if (*p != '=' || key_end == *key)
		return NULL;
	*key_end = '\0';

	p = skip_blanks(p + 1);
	if (*p == '\'') {
		p = cut_quoted(p + 1, val);
		if (!p)
			return NULL;
	} else {
		*val = p;
		while (*p && !is_blank(*p))
			p++;
	}
	/* A value ends at a blank or the end of the string, quoted or not. */
	if (*p) {
		if (!is_blank(*p))
			return NULL;
		*p++ = '\0';
	}
	if (**val == '\0')
		return NULL;	/* empty values are an error, as in PgBouncer */
	return p;
}

static bool apply_setting(void *base, const struct setting *s, const char *val,
			  char *errbuf, size_t errlen)
{
	void *field = (char *)base + s->offset;
	const struct name_value *nv;
	long v;

	switch (s->type) {
	case SET_STR:
		replace_str(field, val);
		return true;
	case SET_INT:
		if (parse_long(val, 0, INT_MAX, &v)) {
			*(int *)field = (int)v;
			return true;
		}
		snprintf(errbuf, errlen, "invalid %s: %s", s->name, val);
		return false;
	case SET_PORT:
		if (parse_long(val, 1, 65535, &v)) {
			*(int *)field = (int)v;
			return true;
		}
		snprintf(errbuf, errlen, "invalid port: %s", val);
		return false;
	case SET_POOL_MODE:
		nv = find_name(pool_mode_names, val);
		if (nv) {
			*(int *)field = nv->value;
			return true;
		}
		snprintf(errbuf, errlen, "invalid pool mode: %s", val);
		return false;
	case SET_IGNORE:
		return true;
	}
	return false;
}

static const struct setting *find_setting(const struct setting *table, const char *name)
{
	for (; table->name; table++) {
		if (strcmp(table->name, name) == 0)
			return table;
	}
	return NULL;
}

/*
 * Fill base from text.  The caller has reset base; on failure the strings
 * set so far are freed again, so nothing leaks either way.
 */
static bool parse_settings(void *base, const struct settings_kind *kind, const char *text,
			   char *errbuf, size_t errlen)
{
	char *copy = xstrdup(text);
	char *p = copy, *key, *val;
	bool ok = true;

	for (;;) {
		const struct setting *s;

		p = cut_pair(p, &key, &val);
		if (!p) {
			snprintf(errbuf, errlen, "%s", kind->syntax_error);
			ok = false;
			break;
		}
		if (*key == '\0')
			break;
		s = find_setting(kind->table, key);
		if (!s) {
			snprintf(errbuf, errlen, "%s%s", kind->unknown_key, key);
			ok = false;
			break;
		}
		if (!apply_setting(base, s, val, errbuf, errlen)) {
			ok = false;
			break;
		}
	}
	/* The copy may hold a password. */
	secure_zero(copy, strlen(text));
	free(copy);
	if (!ok)
		settings_free(base, kind->table);
	return ok;
}

bool config_parse_connstr(struct db_def *def, const char *connstr, char *errbuf, size_t errlen)
{
	settings_reset(def, db_settings);
	return parse_settings(def, &db_kind, connstr ? connstr : "", errbuf, errlen);
}

void config_db_def_clear(struct db_def *def)
{
	if (!def)
		return;
	settings_free(def, db_settings);
	free(def->name);
	memset(def, 0, sizeof(*def));
}

void config_db_def_copy(struct db_def *dst, const struct db_def *src, const char *name)
{
	*dst = *src;
	dst->name = xstrdup(name);
	for (const struct setting *s = db_settings; s->name; s++) {
		char **field = (char **)((char *)dst + s->offset);

		if (s->type == SET_STR && *field)
			*field = xstrdup(*field);
	}
}

static void user_def_clear(struct user_def *def)
{
	free(def->name);
	memset(def, 0, sizeof(*def));
}

/*
 * The loader
 */

struct loader;
typedef bool (*entry_handler)(struct loader *ld, const char *key, const char *value);

struct section {
	const char *name;
	entry_handler handler;
};

struct loader {
	struct config *cf;
	const struct section *section;	/* NULL before the first header */
	struct plugin_def *plugin;	/* the [plugin.NAME] section being read */
	bool seen_main;
	const char *file;		/* where we are, for messages */
	int line;
	int db_cap, user_cap, peer_cap;
	char *errbuf;
	size_t errlen;
};

/* Report an error with PgBouncer's text, prefixed by file:line. */
static bool PRINTF_LIKE(2, 3) fail(struct loader *ld, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(ld->errbuf, ld->errlen, "%s:%d: %s", ld->file, ld->line, msg);
	return false;
}

/* Report an error whose PgBouncer text already names file and line. */
static bool PRINTF_LIKE(2, 3) fail_verbatim(struct loader *ld, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ld->errbuf, ld->errlen, fmt, ap);
	va_end(ap);
	return false;
}

static bool handle_main(struct loader *ld, const char *key, const char *value)
{
	const struct config_key *k = config_find_key(key);
	char detail[128];

	if (!k)
		return fail(ld, "unknown parameter: pgbouncer/%s", key);
	if (set_key_value(ld->cf, k, value, detail, sizeof(detail)))
		return true;
	return fail_verbatim(ld, "invalid value \"%s\" for parameter %s in configuration (%s:%d)%s%s",
			     value, key, ld->file, ld->line, detail[0] ? ": " : "", detail);
}

static int db_index(const struct config *cf, const char *name)
{
	for (int i = 0; i < cf->n_dbs; i++) {
		if (strcmp(cf->dbs[i].name, name) == 0)
			return i;
	}
	return -1;
}

static int user_index(const struct config *cf, const char *name)
{
	for (int i = 0; i < cf->n_users; i++) {
		if (strcmp(cf->users[i].name, name) == 0)
			return i;
	}
	return -1;
}

/* Where a new or redefined database goes; a later definition replaces the earlier one. */
static struct db_def *db_slot(struct loader *ld, const char *name)
{
	struct config *cf = ld->cf;
	struct db_def *def;
	int i;

	if (strcmp(name, "*") == 0) {
		if (!cf->fallback_db)
			cf->fallback_db = xcalloc(1, sizeof(*cf->fallback_db));
		def = cf->fallback_db;
	} else if ((i = db_index(cf, name)) >= 0) {
		def = &cf->dbs[i];
	} else {
		if (cf->n_dbs == ld->db_cap) {
			ld->db_cap = ld->db_cap ? ld->db_cap * 2 : 16;
			cf->dbs = xrealloc(cf->dbs, ld->db_cap * sizeof(*cf->dbs));
		}
		def = &cf->dbs[cf->n_dbs++];
		memset(def, 0, sizeof(*def));
	}
	config_db_def_clear(def);
	return def;
}

static bool handle_database(struct loader *ld, const char *name, const char *connstr)
{
	struct db_def parsed = { 0 };
	char err[256];

	if (strcmp(name, "pgbouncer") == 0)
		return fail(ld, "database name \"pgbouncer\" is reserved");
	if (!config_parse_connstr(&parsed, connstr, err, sizeof(err)))
		return fail(ld, "%s", err);
	parsed.name = xstrdup(name);
	parsed.line = ld->line;
	*db_slot(ld, name) = parsed;
	return true;
}

static struct user_def *user_slot(struct loader *ld, const char *name)
{
	struct config *cf = ld->cf;
	struct user_def *def;
	int i = user_index(cf, name);

	if (i >= 0) {
		def = &cf->users[i];
		user_def_clear(def);
		return def;
	}
	if (cf->n_users == ld->user_cap) {
		ld->user_cap = ld->user_cap ? ld->user_cap * 2 : 16;
		cf->users = xrealloc(cf->users, ld->user_cap * sizeof(*cf->users));
	}
	def = &cf->users[cf->n_users++];
	memset(def, 0, sizeof(*def));
	return def;
}

static bool handle_user(struct loader *ld, const char *name, const char *settings)
{
	struct user_def parsed = { 0 };
	char err[256];

	settings_reset(&parsed, user_settings);
	if (!parse_settings(&parsed, &user_kind, settings, err, sizeof(err)))
		return fail(ld, "%s", err);
	parsed.name = xstrdup(name);
	*user_slot(ld, name) = parsed;
	return true;
}

static struct peer_def *peer_slot(struct loader *ld, int id)
{
	struct config *cf = ld->cf;

	for (int i = 0; i < cf->n_peers; i++) {
		if (cf->peers[i].id == id) {
			settings_free(&cf->peers[i], peer_settings);
			return &cf->peers[i];	/* a later line replaces the earlier one */
		}
	}
	if (cf->n_peers == ld->peer_cap) {
		ld->peer_cap = ld->peer_cap ? ld->peer_cap * 2 : 8;
		cf->peers = xrealloc(cf->peers, ld->peer_cap * sizeof(*cf->peers));
	}
	return &cf->peers[cf->n_peers++];
}

/* [peers]: peer id = host=... port=... pool_size=... */
static bool handle_peer(struct loader *ld, const char *key, const char *value)
{
	struct peer_def parsed;
	char err[256];
	long id;

	if (!parse_long(key, 1, MAX_PEER_KEY, &id))
		return fail(ld, "invalid peer id: %s", key);
	settings_reset(&parsed, peer_settings);
	parsed.port = DEFAULT_PEER_PORT;	/* a pooler's port, not PostgreSQL's */
	if (!parse_settings(&parsed, &peer_kind, value, err, sizeof(err))) {
		settings_free(&parsed, peer_settings);
		return fail(ld, "%s", err);
	}
	parsed.id = (int)id;
	*peer_slot(ld, (int)id) = parsed;
	return true;
}

/*
 * [plugin.NAME]: the keys belong to the plugin, so any key goes; a repeated
 * key replaces the earlier value.  Kept in file order for the plugin.
 */
static bool handle_plugin(struct loader *ld, const char *key, const char *value)
{
	struct plugin_def *def = ld->plugin;

	for (int i = 0; i < def->n_kv; i++) {
		if (strcmp(def->kv[i].key, key) == 0) {
			replace_str(&def->kv[i].value, value);
			return true;
		}
	}
	def->kv = xrealloc(def->kv, (size_t)(def->n_kv + 1) * sizeof(*def->kv));
	def->kv[def->n_kv].key = xstrdup(key);
	def->kv[def->n_kv].value = xstrdup(value);
	def->n_kv++;
	return true;
}

static const struct section sections[] = {
	{ "pgbouncer", handle_main },
	{ "databases", handle_database },
	{ "users", handle_user },
	{ "peers", handle_peer },
};

#define PLUGIN_SECTION_PREFIX "plugin."
#define MAX_PLUGIN_NAME 64

static bool is_key_char(char c);

static const struct section plugin_section = { PLUGIN_SECTION_PREFIX, handle_plugin };

static bool valid_plugin_name(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len >= MAX_PLUGIN_NAME)
		return false;
	for (; *name; name++) {
		if (!is_key_char(*name) || *name == '*' || *name == '.')
			return false;
	}
	return true;
}

/* A second [plugin.NAME] header for the same name continues the first. */
static bool open_plugin_section(struct loader *ld, const char *name)
{
	struct config *cf = ld->cf;

	if (!valid_plugin_name(name))
		return fail(ld, "invalid plugin name \"%s\" in section header", name);
	ld->section = &plugin_section;
	for (int i = 0; i < cf->n_plugin_defs; i++) {
		if (strcmp(cf->plugin_defs[i].name, name) == 0) {
			ld->plugin = &cf->plugin_defs[i];
			return true;
		}
	}
	cf->plugin_defs = xrealloc(cf->plugin_defs, (size_t)(cf->n_plugin_defs + 1) * sizeof(*cf->plugin_defs));
	ld->plugin = &cf->plugin_defs[cf->n_plugin_defs++];
	memset(ld->plugin, 0, sizeof(*ld->plugin));
	ld->plugin->name = xstrdup(name);
	ld->plugin->line = ld->line;
	return true;
}

static bool syntax_error(struct loader *ld)
{
	return fail_verbatim(ld, "syntax error in configuration (%s:%d), stopping loading",
			     ld->file, ld->line);
}

/* "[name]", optionally followed by a comment. */
static bool parse_section_line(struct loader *ld, char *line)
{
	char *name = line + 1;
	char *end = strchr(name, ']');
	char *rest;

	if (!end)
		return syntax_error(ld);
	*end = '\0';
	rest = skip_blanks(end + 1);
	if (*rest && *rest != ';' && *rest != '#')
		return syntax_error(ld);

	/* Section names are case-sensitive. */
	for (size_t i = 0; i < ARRAY_SIZE(sections); i++) {
		if (strcmp(sections[i].name, name) == 0) {
			ld->section = &sections[i];
			if (sections[i].handler == handle_main) {
				ld->seen_main = true;
				apply_defaults(ld->cf);
			}
			return true;
		}
	}
	if (strncmp(name, PLUGIN_SECTION_PREFIX, strlen(PLUGIN_SECTION_PREFIX)) == 0)
		return open_plugin_section(ld, name + strlen(PLUGIN_SECTION_PREFIX));
	return fail_verbatim(ld, "invalid section \"%s\" in configuration (%s:%d)",
			     name, ld->file, ld->line);
}

static bool is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '*' || c == '-';
}

/* "key = value" or "'quoted key' = value"; the line has no trailing blanks. */
static bool parse_key_line(struct loader *ld, char *line)
{
	char *key, *key_end, *p;

	if (*line == '\'') {
		key = line + 1;
		key_end = strchr(key, '\'');
		if (!key_end)
			return syntax_error(ld);
		p = key_end + 1;
	} else {
		key = line;
		for (p = line; is_key_char(*p); p++)
			;
		key_end = p;
	}
	p = skip_blanks(p);
	if (key_end == key || *p != '=')
		return syntax_error(ld);
	*key_end = '\0';

	if (!ld->section)
		return fail(ld, "value without section: %s", key);
	return ld->section->handler(ld, key, skip_blanks(p + 1));
}

static bool load_file(struct loader *ld, const char *path, int depth);

/* "%include file": the path is taken as is, relative to the process cwd. */
static bool parse_include(struct loader *ld, char *arg, int depth)
{
	const char *file = ld->file;
	int line = ld->line;
	bool ok;

	if (depth >= MAX_INCLUDE_DEPTH)
		return fail_verbatim(ld, "include nesting level too deep (%s:%d), stopping loading",
				     file, line);
	ok = load_file(ld, arg, depth + 1);
	ld->file = file;
	ld->line = line;
	return ok;
}

static bool is_space(char c)
{
	return is_blank(c) || c == '\r' || c == '\v' || c == '\f';
}

static bool parse_line(struct loader *ld, char *line, size_t len, int depth)
{
	/* Trim both ends; a value runs to the end of the line minus trailing blanks. */
	while (len > 0 && is_space(line[len - 1]))
		line[--len] = '\0';
	while (is_space(*line))
		line++;

	if (*line == '\0' || *line == ';' || *line == '#')
		return true;
	if (strncmp(line, "%include", 8) == 0 && is_blank(line[8]))
		return parse_include(ld, skip_blanks(line + 8), depth);
	if (*line == '[')
		return parse_section_line(ld, line);
	return parse_key_line(ld, line);
}

/* Read a whole file, NUL-terminated; NULL with errbuf set on failure. */
static char *read_file(const char *path, size_t *len_p, char *errbuf, size_t errlen)
{
	FILE *f = fopen(path, "r");
	size_t len = 0, cap = 8192;
	char *buf;

	if (!f) {
		snprintf(errbuf, errlen, "could not load file \"%s\": %s", path, strerror(errno));
		return NULL;
	}
	buf = xmalloc(cap);
	for (;;) {
		size_t n = fread(buf + len, 1, cap - len - 1, f);

		len += n;
		if (n == 0)
			break;
		if (len + 1 == cap) {
			if (cap >= MAX_CONFIG_FILE_SIZE) {
				snprintf(errbuf, errlen, "could not load file \"%s\": file too large", path);
				goto fail;
			}
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
	}
	if (ferror(f)) {
		snprintf(errbuf, errlen, "could not load file \"%s\": %s", path, strerror(errno));
		goto fail;
	}
	fclose(f);
	buf[len] = '\0';
	*len_p = len;
	return buf;
fail:
	fclose(f);
	free(buf);
	return NULL;
}

static bool parse_buffer(struct loader *ld, char *buf, size_t len, int depth)
{
	char *p = buf, *end = buf + len;

	for (ld->line = 1; p < end; ld->line++) {
		char *eol = memchr(p, '\n', end - p);

		if (!eol)
			eol = end;
		*eol = '\0';
		/* A NUL byte would silently cut the line short: refuse binary junk. */
		if (strlen(p) != (size_t)(eol - p))
			return syntax_error(ld);
		if (!parse_line(ld, p, eol - p, depth))
			return false;
		p = eol + 1;
	}
	return true;
}

static bool load_file(struct loader *ld, const char *path, int depth)
{
	char err[512];
	size_t len;
	char *buf = read_file(path, &len, err, sizeof(err));
	bool ok;

	if (!buf) {
		if (depth == 0)
			return fail_verbatim(ld, "%s", err);
		return fail(ld, "error processing include file: %s", err);
	}
	ld->file = path;
	ok = parse_buffer(ld, buf, len, depth);
	free(buf);
	return ok;
}

/* Every plugin listed in plugins= needs its section, with a path. */
static bool check_plugins(const struct config *cf, char *errbuf, size_t errlen)
{
	char name[MAX_PLUGIN_NAME + 1];
	const char *p = cf->plugins;

	while ((p = config_list_next(p, name, sizeof(name))) != NULL) {
		const struct plugin_def *def = config_find_plugin(cf, name);
		const char *path = def ? config_plugin_value(def, "path") : NULL;

		if (!valid_plugin_name(name)) {
			snprintf(errbuf, errlen, "invalid plugin name \"%s\" in plugins", name);
			return false;
		}
		if (!def) {
			snprintf(errbuf, errlen, "plugin \"%s\" is listed in plugins but has no [plugin.%s] section",
				 name, name);
			return false;
		}
		if (!path || !path[0]) {
			snprintf(errbuf, errlen, "plugin \"%s\": [plugin.%s] has no path", name, name);
			return false;
		}
	}
	return true;
}

static void plugin_def_clear(struct plugin_def *def)
{
	for (int i = 0; i < def->n_kv; i++) {
		free(def->kv[i].key);
		free(def->kv[i].value);
	}
	free(def->kv);
	free(def->name);
}

struct config *config_load(const char *path, char *errbuf, size_t errlen)
{
	char dummy[1];
	struct loader ld = { 0 };

	if (!errbuf || errlen == 0) {
		errbuf = dummy;
		errlen = sizeof(dummy);
	}
	errbuf[0] = '\0';
	if (!path) {
		snprintf(errbuf, errlen, "no configuration file specified");
		return NULL;
	}

	ld.cf = xcalloc(1, sizeof(*ld.cf));
	ld.errbuf = errbuf;
	ld.errlen = errlen;
	ld.file = path;
	apply_defaults(ld.cf);
	init_strings(ld.cf);
	replace_str(&ld.cf->conffile, path);

	if (!load_file(&ld, path, 0))
		goto fail;
	if (!ld.seen_main) {
		snprintf(errbuf, errlen, "main section missing from config file %s", path);
		goto fail;
	}
	if (!check_plugins(ld.cf, errbuf, errlen))
		goto fail;
	return ld.cf;
fail:
	config_free(ld.cf);
	return NULL;
}

void config_free(struct config *cf)
{
	if (!cf)
		return;
	for (const struct config_key *k = config_keys; k->name; k++) {
		if (k->type == CF_STR)
			free(*(char **)((char *)cf + k->offset));
	}
	for (int i = 0; i < cf->n_dbs; i++)
		config_db_def_clear(&cf->dbs[i]);
	free(cf->dbs);
	config_db_def_clear(cf->fallback_db);
	free(cf->fallback_db);
	for (int i = 0; i < cf->n_users; i++)
		user_def_clear(&cf->users[i]);
	free(cf->users);
	for (int i = 0; i < cf->n_peers; i++)
		settings_free(&cf->peers[i], peer_settings);
	free(cf->peers);
	for (int i = 0; i < cf->n_plugin_defs; i++)
		plugin_def_clear(&cf->plugin_defs[i]);
	free(cf->plugin_defs);
	free(cf);
}

/*
 * Lookups
 */

const struct db_def *config_find_db(const struct config *cf, const char *name)
{
	int i = (cf && name) ? db_index(cf, name) : -1;

	return i >= 0 ? &cf->dbs[i] : NULL;
}

const struct user_def *config_find_user(const struct config *cf, const char *name)
{
	int i = (cf && name) ? user_index(cf, name) : -1;

	return i >= 0 ? &cf->users[i] : NULL;
}

const struct peer_def *config_find_peer(const struct config *cf, int id)
{
	for (int i = 0; cf && i < cf->n_peers; i++)
		if (cf->peers[i].id == id)
			return &cf->peers[i];
	return NULL;
}

const struct plugin_def *config_find_plugin(const struct config *cf, const char *name)
{
	for (int i = 0; cf && name && i < cf->n_plugin_defs; i++) {
		if (strcmp(cf->plugin_defs[i].name, name) == 0)
			return &cf->plugin_defs[i];
	}
	return NULL;
}

const char *config_plugin_value(const struct plugin_def *def, const char *key)
{
	for (int i = 0; def && key && i < def->n_kv; i++) {
		if (strcmp(def->kv[i].key, key) == 0)
			return def->kv[i].value;
	}
	return NULL;
}

static bool is_list_separator(char c)
{
	return c == ',' || is_space(c) || c == '\n';
}

const char *config_list_next(const char *list, char *buf, size_t len)
{
	const char *start;
	size_t n;

	if (!list)
		return NULL;
	while (is_list_separator(*list))
		list++;
	if (!*list)
		return NULL;
	start = list;
	while (*list && !is_list_separator(*list))
		list++;
	n = MIN((size_t)(list - start), len - 1);
	memcpy(buf, start, n);
	buf[n] = '\0';
	return list;
}

bool config_list_contains(const char *list, const char *word)
{
	size_t wlen;

	if (!list || !word || !*word)
		return false;
	wlen = strlen(word);
	while (*list) {
		const char *start;

		while (is_list_separator(*list))
			list++;
		start = list;
		while (*list && !is_list_separator(*list))
			list++;
		if ((size_t)(list - start) == wlen && memcmp(start, word, wlen) == 0)
			return true;
	}
	return false;
}

/*
 * Does key hold the same value in both configs?  The stored values are
 * compared, not their text: a formatted value may be cut by its buffer.
 */
static bool same_value(const struct config *a, const struct config *b, const struct config_key *key)
{
	const void *fa = (const char *)a + key->offset;
	const void *fb = (const char *)b + key->offset;
	const char *sa, *sb;

	switch (key->type) {
	case CF_STR:
		sa = *(char *const *)fa;
		sb = *(char *const *)fb;
		return strcmp(sa ? sa : "", sb ? sb : "") == 0;
	case CF_TIME:
		return *(const usec_t *)fa == *(const usec_t *)fb;
	case CF_INT:
	case CF_LOOKUP_POOL_MODE:
	case CF_LOOKUP_AUTH_TYPE:
		return *(const int *)fa == *(const int *)fb;
	}
	return false;
}

static void copy_value(struct config *dst, const struct config *src, const struct config_key *key)
{
	void *fd = (char *)dst + key->offset;
	const void *fs = (const char *)src + key->offset;

	switch (key->type) {
	case CF_STR:
		replace_str(fd, *(char *const *)fs ? *(char *const *)fs : "");
		break;
	case CF_TIME:
		*(usec_t *)fd = *(const usec_t *)fs;
		break;
	case CF_INT:
	case CF_LOOKUP_POOL_MODE:
	case CF_LOOKUP_AUTH_TYPE:
		*(int *)fd = *(const int *)fs;
		break;
	}
}

/*
 * On reload, settings PgBouncer marks "no reload" keep the value the process
 * started with (listen sockets, pkt_buf, ...); changing them needs a restart.
 */
void config_keep_startup_values(struct config *newcf, const struct config *oldcf)
{
	for (const struct config_key *k = config_keys; k->name; k++) {
		if (k->reloadable || same_value(newcf, oldcf, k))
			continue;
		log_warning("setting %s cannot be changed by a reload; restart to apply it", k->name);
		copy_value(newcf, oldcf, k);
	}
}
