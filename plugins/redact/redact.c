/*
 * The redact plugin: per-session policies from a policy file, chosen by the
 * identity's groups (an OIDC token) or else the pooler user.  This version
 * enforces the guardrails and read_only mode: every Query and Parse is
 * parsed with libpg_query — the real PostgreSQL parser — and blocked with
 * 42501 when the policy forbids what it does.  Column masks are parsed but
 * refused at load (result masking is not built yet): a policy that asks for
 * masks must not run without them.
 *
 * Files: redact_policy.c (the file), redact_guard.c (the checks on a parse
 * tree), redact_cache.c (verdicts by normalized text).
 */
#include "redact_cache.h"
#include "redact_guard.h"
#include "redact_policy.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <pg_query.h>
#include <pgwarden/plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

PGW_PLUGIN_DECLARE();

static const struct pgw_host *host;

#define MAX_GROUPS 64

struct redact {
	struct pgw_plugin *self;
	struct policy_set *set;
	uint64_t generation;		/* bumped by each (re)load: sessions choose again */
	char version[17];		/* the policy file's SHA-256, 16 hex digits */
	time_t loaded_at;
	uint64_t *sessions;		/* per policy of set */
	uint64_t *blocks;		/* per policy of set */
	uint64_t guard_blocks[16];	/* per enum guardrail bit */
	uint64_t read_only_blocks;
	uint64_t function_blocks;
	struct verdict_cache *cache;
	int counter_checked;
	int counter_blocked;
};

struct redact_session {
	uint64_t generation;
	int policy;			/* index in set->policies */
};

/* ---------------- loading ---------------- */

static void file_version(const char *path, char out[17])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char buf[65536];
	size_t len;
	FILE *f = fopen(path, "r");
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	strcpy(out, "?");
	if (!f || !ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	while ((len = fread(buf, 1, sizeof(buf), f)) > 0)
		EVP_DigestUpdate(ctx, buf, len);
	if (EVP_DigestFinal_ex(ctx, md, &n) == 1)
		for (int i = 0; i < 8; i++)
			snprintf(out + 2 * i, 3, "%02x", md[i]);
out:
	if (f)
		fclose(f);
	EVP_MD_CTX_free(ctx);
}

static const char *find_key(const struct pgw_kv *kv, int n, const char *key)
{
	for (int i = 0; i < n; i++) {
		if (strcmp(kv[i].key, key) == 0)
			return kv[i].value;
	}
	return NULL;
}

static int check_keys(struct pgw_plugin *self, const struct pgw_kv *kv, int n)
{
	for (int i = 0; i < n; i++) {
		if (strcmp(kv[i].key, "path") != 0 && strcmp(kv[i].key, "policy_file") != 0) {
			host->set_error(self, "%s: unknown key", kv[i].key);
			return -1;
		}
	}
	return 0;
}

/* The policy file, checked whole; masks are refused until they are applied. */
static struct policy_set *load_policy(struct pgw_plugin *self, const struct pgw_kv *kv, int n)
{
	const char *path = find_key(kv, n, "policy_file");
	char err[512];
	struct policy_set *set;

	if (check_keys(self, kv, n) < 0)
		return NULL;
	if (!path || !path[0]) {
		host->set_error(self, "policy_file: required");
		return NULL;
	}
	set = policy_load(path, err, sizeof(err));
	if (!set) {
		host->set_error(self, "%s", err);
		return NULL;
	}
	for (int i = 0; i < set->n; i++) {
		if (set->policies[i].nmasks) {
			host->set_error(self, "%s:%d: mask rules are not applied by this version of the redact plugin "
					"(result masking is not built yet); remove them", path,
					set->policies[i].masks[0].line);
			policy_set_free(set);
			return NULL;
		}
	}
	return set;
}

static void install(struct redact *r, struct policy_set *set, const struct pgw_kv *kv, int n)
{
	policy_set_free(r->set);
	free(r->sessions);
	free(r->blocks);
	r->set = set;
	r->sessions = calloc((size_t)set->n, sizeof(uint64_t));
	r->blocks = calloc((size_t)set->n, sizeof(uint64_t));
	r->generation++;
	r->loaded_at = time(NULL);
	file_version(find_key(kv, n, "policy_file"), r->version);
	verdict_cache_clear(r->cache);
}

/* ---------------- sessions ---------------- */

/* With an identity, its groups choose; without, the pooler user. */
static int select_policy(struct redact *r, struct pgw_session *s)
{
	const char *groups[MAX_GROUPS];
	int ngroups = -1;
	const struct policy *p;

	if (host->identity_subject(s)) {
		ngroups = host->identity_group_count(s);
		if (ngroups > MAX_GROUPS)
			ngroups = MAX_GROUPS;
		for (int i = 0; i < ngroups; i++)
			groups[i] = host->identity_group(s, i);
	}
	p = policy_select(r->set, groups, ngroups, host->session_user(s));
	r->sessions[p - r->set->policies]++;
	return (int)(p - r->set->policies);
}

static struct redact_session *session_of(struct redact *r, struct pgw_session *s)
{
	struct redact_session *rs = host->session_get_data(s, r->self);

	if (!rs) {
		rs = calloc(1, sizeof(*rs));
		host->session_set_data(s, r->self, rs);
	}
	if (rs->generation != r->generation) {
		rs->policy = select_policy(r, s);
		rs->generation = r->generation;
	}
	return rs;
}

static void on_session_start(struct pgw_plugin *self, struct pgw_session *s)
{
	session_of(host->get_private(self), s);
}

static void on_session_end(struct pgw_plugin *self, struct pgw_session *s, const char *reason)
{
	(void)reason;
	free(host->session_get_data(s, self));
	host->session_set_data(s, self, NULL);
}

/* ---------------- statements ---------------- */

static void unparsed(struct guard_verdict *v, const char *why, const char *detail)
{
	memset(v, 0, sizeof(*v));
	v->blocked = true;
	snprintf(v->reason, sizeof(v->reason), "the statement could not be %s%.100s%s", why, detail,
		 detail[0] ? ")" : "");
}

/* Walk the parse tree of sql. */
static void analyse(const struct policy *p, const char *sql, struct guard_verdict *v)
{
	PgQueryParseResult parsed = pg_query_parse(sql);
	json_t *tree = parsed.error ? NULL : json_loads(parsed.parse_tree, 0, NULL);

	pg_query_free_parse_result(parsed);
	if (!tree) {
		unparsed(v, "analysed", "");
		return;
	}
	guard_check(tree, p, v);
	json_decref(tree);
}

/* Parse sql and check it; verdicts of the normalized text are cached. */
static void decide(struct redact *r, int policy, const char *sql, struct guard_verdict *v)
{
	PgQueryNormalizeResult norm = pg_query_normalize(sql);

	if (norm.error)
		unparsed(v, "parsed (", norm.error->message);
	else if (!verdict_cache_get(r->cache, policy, norm.normalized_query, v)) {
		analyse(&r->set->policies[policy], sql, v);
		if (!v->uses_literals)
			verdict_cache_put(r->cache, policy, norm.normalized_query, v);
	}
	pg_query_free_normalize_result(norm);
}

static void count_block(struct redact *r, int policy, const struct guard_verdict *v)
{
	r->blocks[policy]++;
	if (v->guardrail)
		r->guard_blocks[__builtin_ctz(v->guardrail)]++;
	else if (strncmp(v->reason, "read_only", 9) == 0)
		r->read_only_blocks++;
	else if (strncmp(v->reason, "function", 8) == 0)
		r->function_blocks++;
}

static bool policy_checks_statements(const struct policy *p)
{
	return p->read_only || p->block || p->nfunctions;
}

static enum pgw_decision on_statement(struct pgw_plugin *self, struct pgw_session *s, struct pgw_request *req,
				      const struct pgw_statement *stmt)
{
	struct redact *r = host->get_private(self);
	struct redact_session *rs = session_of(r, s);
	const struct policy *p = &r->set->policies[rs->policy];
	struct guard_verdict v;
	char msg[300];

	if (!policy_checks_statements(p))
		return PGW_CONTINUE;
	host->counter_add(self, r->counter_checked, 1);
	decide(r, rs->policy, stmt->sql, &v);
	if (!v.blocked)
		return PGW_CONTINUE;
	snprintf(msg, sizeof(msg), "pgwarden: blocked by policy \"%s\": %s", p->name, v.reason);
	host->request_error(req, "42501", msg);
	host->counter_add(self, r->counter_blocked, 1);
	count_block(r, rs->policy, &v);
	return PGW_BLOCK;
}

/* ---------------- SHOW REDACT ---------------- */

static void show_row4(struct pgw_show *out, const char *a, const char *b, const char *c, const char *d)
{
	const char *row[4] = { a, b, c, d };
	host->show_row(out, row);
}

static void show_redact(struct pgw_plugin *self, struct pgw_show *out)
{
	struct redact *r = host->get_private(self);
	char detail[200], value[32];
	struct tm tm;

	gmtime_r(&r->loaded_at, &tm);
	strftime(detail, sizeof(detail), "loaded %Y-%m-%d %H:%M:%S UTC", &tm);
	show_row4(out, "*", "version", detail, r->version);
	snprintf(detail, sizeof(detail), "hits %llu, misses %llu", (unsigned long long)r->cache->hits,
		 (unsigned long long)r->cache->misses);
	show_row4(out, "*", "cache", detail, NULL);
	for (unsigned bit = 0; bit < 16; bit++) {
		if (!r->guard_blocks[bit])
			continue;
		snprintf(value, sizeof(value), "%llu", (unsigned long long)r->guard_blocks[bit]);
		show_row4(out, "*", "blocked", guardrail_label((enum guardrail)(1u << bit)), value);
	}
	if (r->read_only_blocks) {
		snprintf(value, sizeof(value), "%llu", (unsigned long long)r->read_only_blocks);
		show_row4(out, "*", "blocked", "read_only", value);
	}
	if (r->function_blocks) {
		snprintf(value, sizeof(value), "%llu", (unsigned long long)r->function_blocks);
		show_row4(out, "*", "blocked", "block_functions", value);
	}
	for (int i = 0; i < r->set->n; i++) {
		const struct policy *p = &r->set->policies[i];
		snprintf(value, sizeof(value), "%llu", (unsigned long long)r->sessions[i]);
		show_row4(out, p->name, "sessions", p->read_only ? "read_only" : "", value);
		snprintf(value, sizeof(value), "%llu", (unsigned long long)r->blocks[i]);
		show_row4(out, p->name, "blocks", NULL, value);
	}
}

/* ---------------- life cycle ---------------- */

static int on_reload(struct pgw_plugin *self, const struct pgw_kv *config, int n)
{
	struct redact *r = host->get_private(self);
	struct policy_set *set = load_policy(self, config, n);

	if (!set)
		return -1;
	install(r, set, config, n);
	host->log(self, PGW_LOG_INFO, "policy %s loaded: %d policies", r->version, set->n);
	return 0;
}

static void on_unload(struct pgw_plugin *self)
{
	struct redact *r = host->get_private(self);

	policy_set_free(r->set);
	free(r->sessions);
	free(r->blocks);
	verdict_cache_clear(r->cache);
	free(r->cache);
	free(r);
}

int pgwarden_plugin_init(const struct pgw_host *h, struct pgw_plugin *self, const struct pgw_kv *config, int n)
{
	static const char *const columns[] = { "policy", "item", "detail", "value" };
	struct pgw_hooks hooks = {
		.size = sizeof(struct pgw_hooks),
		.session_start = on_session_start,
		.session_end = on_session_end,
		.statement = on_statement,
		.reload = on_reload,
		.unload = on_unload,
	};
	struct policy_set *set;
	struct redact *r;

	host = h;
	set = load_policy(self, config, n);
	if (!set)
		return -1;
	r = calloc(1, sizeof(*r));
	r->self = self;
	r->cache = calloc(1, sizeof(*r->cache));
	install(r, set, config, n);
	host->set_private(self, r);
	r->counter_checked = host->counter_register(self, "checked");
	r->counter_blocked = host->counter_register(self, "blocked");
	if (host->show_register(self, "redact", columns, 4, show_redact) < 0 || host->register_hooks(self, &hooks) < 0)
		return -1;
	return 0;
}
