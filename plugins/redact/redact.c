/*
 * The redact plugin: per-session policies from a policy file, chosen by the
 * identity's groups (an OIDC token) or else the pooler user.  Every Query
 * and Parse is parsed with libpg_query — the real PostgreSQL parser — and
 * blocked with 42501 when the policy forbids what it does (guardrails,
 * read_only) or when a masked column's value could leave other than as a
 * plain output column (lineage).  Plain output columns are masked in each
 * DataRow, found by the origin PostgreSQL reports in RowDescription (table
 * OID, column number), which a catalog query per database maps to the
 * policy's mask names.
 *
 * Files: redact_policy.c (the file), redact_guard.c (guardrails),
 * redact_lineage.c (where masked values could go), redact_catalog.c (the
 * catalog query), redact_mask.c (mask methods), redact_cache.c (verdicts by
 * normalized text).
 */
#include "redact_approval.h"
#include "redact_cache.h"
#include "sql_shape.h"
#include "redact_catalog.h"
#include "redact_guard.h"
#include "redact_lineage.h"
#include "redact_mask.h"
#include "redact_policy.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pg_query.h>
#include <pgwarden/plugin.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

PGW_PLUGIN_DECLARE();

/* After a failed catalog lookup, statements needing it are refused for this
 * long before the lookup is tried again. */
#define CATALOG_RETRY_SECONDS 5

static const struct pgw_host *host;

#define MAX_GROUPS 64

struct redact {
	struct pgw_plugin *self;
	struct approvals *approvals;	/* statements held for an approver */
	struct policy_set *set;
	uint64_t generation;		/* bumped by each (re)load: sessions choose again */
	char version[17];		/* the policy file's SHA-256, 16 hex digits */
	time_t loaded_at;
	uint64_t *sessions;		/* per policy of set */
	uint64_t *blocks;		/* per policy of set */
	uint64_t **mask_hits;		/* per policy, per mask: values masked */
	uint64_t guard_blocks[16];	/* per enum guardrail bit */
	uint64_t read_only_blocks;
	uint64_t function_blocks;
	struct verdict_cache *cache;	/* by normalized text */
	struct verdict_cache *shapes;	/* by shape key (sql_shape.h) */
	struct db_catalog *catalogs;	/* one per database, made on first use */
	int ncatalogs;
	char *catalog_sql;		/* NULL: no policy masks anything */
	struct pending *waiting;	/* statements waiting for a catalog */
	EVP_MAC_CTX *hmac;		/* keyed with hash_key_file; NULL without hash masks */
	uint64_t values_masked;
	int counter_checked;
	int counter_blocked;
};

struct redact_session {
	uint64_t generation;
	int policy;			/* index in set->policies */
	const struct mask_rule **col_masks;	/* per column of the current result */
	int ncols;
};

/* A statement held until its database's catalog is known. */
struct pending {
	struct pending *next;
	struct pgw_request *req;
	struct db_catalog *cat;
	int policy;
	char *sql;
};

/* Stands for "mask whatever has an origin" when the catalog is not known. */
static const struct mask_rule mask_everything = { .method = MASK_NULL };

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
		if (strcmp(kv[i].key, "path") && strcmp(kv[i].key, "policy_file") && strcmp(kv[i].key, "hash_key_file") &&
		    strcmp(kv[i].key, "approvers") && strcmp(kv[i].key, "approval_timeout") &&
		    strcmp(kv[i].key, "notify_url") && strcmp(kv[i].key, "notify_ca_file")) {
			host->set_error(self, "%s: unknown key", kv[i].key);
			return -1;
		}
	}
	return 0;
}

static bool uses_hash(const struct policy_set *set)
{
	for (int i = 0; i < set->n; i++)
		for (int j = 0; j < set->policies[i].nmasks; j++)
			if (set->policies[i].masks[j].method == MASK_HASH)
				return true;
	return false;
}

/* 64 hex digits (a trailing newline is fine): the HMAC key of hash masks. */
static int load_hash_key(struct pgw_plugin *self, const char *path, uint8_t key[MASK_HASH_KEY_LEN])
{
	char text[130] = "";
	FILE *f = path ? fopen(path, "r") : NULL;
	size_t len = f ? fread(text, 1, sizeof(text) - 1, f) : 0;

	if (f)
		fclose(f);
	while (len && isspace((unsigned char)text[len - 1]))
		len--;
	if (!path || len != 2 * MASK_HASH_KEY_LEN || strspn(text, "0123456789abcdefABCDEF") < len) {
		host->set_error(self, "hash_key_file: %s must hold 64 hex digits (hash masks need a stable key)",
				path ? path : "(not set)");
		return -1;
	}
	for (int i = 0; i < MASK_HASH_KEY_LEN; i++) {
		unsigned int byte;
		sscanf(text + 2 * i, "%2x", &byte);
		key[i] = (uint8_t)byte;
	}
	return 0;
}

/* The policy file (and the hash key), checked whole. */
static struct policy_set *load_policy(struct pgw_plugin *self, const struct pgw_kv *kv, int n,
				      uint8_t key[MASK_HASH_KEY_LEN])
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
	if (uses_hash(set) && load_hash_key(self, find_key(kv, n, "hash_key_file"), key) < 0) {
		policy_set_free(set);
		return NULL;
	}
	return set;
}

static void free_mask_hits(struct redact *r)
{
	for (int i = 0; r->set && r->mask_hits && i < r->set->n; i++)
		free(r->mask_hits[i]);
	free(r->mask_hits);
	r->mask_hits = NULL;
}

static void install(struct redact *r, struct policy_set *set, const struct pgw_kv *kv, int n,
		    const uint8_t key[MASK_HASH_KEY_LEN])
{
	free_mask_hits(r);
	policy_set_free(r->set);
	free(r->sessions);
	free(r->blocks);
	free(r->catalog_sql);
	/* The masks changed: every database is asked again. */
	for (struct db_catalog *c = r->catalogs; c; c = c->next)
		catalog_reset(c);
	r->catalog_sql = catalog_sql(set);
	EVP_MAC_CTX_free(r->hmac);
	r->hmac = uses_hash(set) ? mask_hmac_new(key) : NULL;
	size_t npolicies = set->n > 0 ? (size_t)set->n : 1;

	r->set = set;
	r->sessions = calloc(npolicies, sizeof(uint64_t));
	r->blocks = calloc(npolicies, sizeof(uint64_t));
	r->mask_hits = calloc(npolicies, sizeof(uint64_t *));
	for (int i = 0; i < set->n; i++)
		r->mask_hits[i] = calloc((size_t)set->policies[i].nmasks + 1, sizeof(uint64_t));
	r->generation++;
	r->loaded_at = time(NULL);
	file_version(find_key(kv, n, "policy_file"), r->version);
	verdict_cache_clear(r->cache);
	verdict_cache_clear(r->shapes);
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
	struct redact_session *rs = host->session_get_data(s, self);

	(void)reason;
	if (rs)
		free(rs->col_masks);
	free(rs);
	host->session_set_data(s, self, NULL);
}

/* ---------------- catalogs ---------------- */

static struct db_catalog *catalog_of(struct redact *r, const char *database)
{
	struct db_catalog *c;

	for (c = r->catalogs; c; c = c->next) {
		if (strcmp(c->database, database) == 0)
			return c;
	}
	c = calloc(1, sizeof(*c));
	c->database = strdup(database);
	c->index = ++r->ncatalogs;
	c->next = r->catalogs;
	r->catalogs = c;
	return c;
}

/* ---------------- statements ---------------- */

static void unparsed(struct guard_verdict *v, const char *why, const char *detail)
{
	memset(v, 0, sizeof(*v));
	v->blocked = true;
	snprintf(v->reason, sizeof(v->reason), "the statement could not be %s%.100s%s", why, detail,
		 detail[0] ? ")" : "");
}

/* approve_tables / approve_fingerprints: an otherwise allowed statement is
 * held for an approver. */
static void approval_by_rule(const struct policy *p, const json_t *tree, const char *sql, struct guard_verdict *v)
{
	const char *table = approval_table(tree, p);
	char what[120] = "";

	if (table) {
		snprintf(what, sizeof(what), "table %s", table);
	} else if (p->napprove_fingerprints) {
		PgQueryFingerprintResult fp = pg_query_fingerprint(sql);
		for (int i = 0; !fp.error && fp.fingerprint_str && i < p->napprove_fingerprints; i++) {
			if (strcmp(fp.fingerprint_str, p->approve_fingerprints[i]) == 0)
				snprintf(what, sizeof(what), "fingerprint %s", fp.fingerprint_str);
		}
		pg_query_free_fingerprint_result(fp);
	}
	if (!what[0])
		return;
	v->blocked = true;
	v->approvable = true;
	v->guardrail = 0;
	snprintf(v->reason, sizeof(v->reason), "needs approval: %s", what);
}

/* Walk the parse tree of sql: guardrails, then where masked values go. */
static void analyse(const struct policy *p, const struct db_catalog *cat, const char *sql, struct guard_verdict *v)
{
	PgQueryParseResult parsed = pg_query_parse(sql);
	json_t *tree = parsed.error ? NULL : json_loads(parsed.parse_tree, 0, NULL);

	pg_query_free_parse_result(parsed);
	if (!tree) {
		unparsed(v, "analysed", "");
		return;
	}
	guard_check(tree, p, v);
	if (cat)
		lineage_check(tree, p, &cat->lin, v);
	/* Approvable when nothing but approve's guardrails stands in the way:
	 * the same checks without them must pass. */
	if (v->blocked && (v->guardrail & p->approve)) {
		struct policy hard = *p;
		struct guard_verdict h = { 0 };
		hard.block &= ~p->approve;
		guard_check(tree, &hard, &h);
		if (cat && !h.blocked)
			lineage_check(tree, &hard, &cat->lin, &h);
		v->approvable = !h.blocked;
	}
	if (!v->blocked)
		approval_by_rule(p, tree, sql, v);
	json_decref(tree);
}

/*
 * Parse sql and check it.  Verdicts are cached per policy and, with masks,
 * per database (its catalog matters), under the normalized text and, when
 * the text has one, under its shape key — which finds a statement seen
 * before with other literal values without pg_query_normalize's parse.  A
 * shape key is stored only when normalize agrees with it (sql_shape.h).
 */
static void decide(struct redact *r, int policy, const struct db_catalog *cat, const char *sql,
		   struct guard_verdict *v)
{
	char shape[VERDICT_CACHE_MAX_TEXT + 1];
	bool has_shape = sql_shape_key(sql, shape, sizeof(shape));
	int key = policy + 65536 * (cat ? cat->index : 0);
	PgQueryNormalizeResult norm;

	if (has_shape && verdict_cache_get(r->shapes, key, shape, v))
		return;
	norm = pg_query_normalize(sql);
	if (norm.error) {
		unparsed(v, "parsed (", norm.error->message);
		pg_query_free_normalize_result(norm);
		return;
	}
	if (!verdict_cache_get(r->cache, key, norm.normalized_query, v)) {
		analyse(&r->set->policies[policy], cat, sql, v);
		if (!v->uses_literals)
			verdict_cache_put(r->cache, key, norm.normalized_query, v);
	}
	if (has_shape && !v->uses_literals && sql_shape_agrees(shape, norm.normalized_query))
		verdict_cache_put(r->shapes, key, shape, v);
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
	return p->read_only || p->block || p->nfunctions || p->nmasks;
}

/* The verdict as the hook's answer; a block also tells the client why.  A
 * statement an approver may allow is held (PGW_LATER) instead. */
static enum pgw_decision verdict_decision(struct redact *r, int policy, struct pgw_request *req,
					  const struct guard_verdict *v, const char *sql)
{
	char msg[300];

	if (!v->blocked)
		return PGW_CONTINUE;
	if (v->approvable)
		return approvals_ask(r->approvals, host->request_session(req), req, sql, v->reason,
				     r->set->policies[policy].name);
	snprintf(msg, sizeof(msg), "pgwarden: blocked by policy \"%s\": %s", r->set->policies[policy].name,
		 v->reason);
	host->request_error(req, "42501", msg);
	host->counter_add(r->self, r->counter_blocked, 1);
	count_block(r, policy, v);
	return PGW_BLOCK;
}

static void catalog_unavailable(const struct db_catalog *cat, struct guard_verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->blocked = true;
	snprintf(v->reason, sizeof(v->reason), "masking is unavailable: the catalog lookup failed (%.100s)",
		 cat->error);
}

/* The database's catalog answered: decide the statements that waited. */
static void catalog_done(void *arg, const struct pgw_query_result *res)
{
	struct db_catalog *cat = arg;
	struct redact *r = cat->owner;
	struct pending **at = &r->waiting;

	if (cat->state != CATALOG_LOADING) {
		snprintf(cat->error, sizeof(cat->error), "the policy was reloaded during the lookup");
		cat->state = CATALOG_FAILED;	/* tried again at the next statement */
	} else if (res->sqlstate) {
		cat->state = CATALOG_FAILED;
		snprintf(cat->error, sizeof(cat->error), "%s %s", res->sqlstate, res->message);
	} else if (catalog_ingest(cat, res->ncolumns, res->nrows, res->values, cat->error, sizeof(cat->error)) < 0) {
		cat->state = CATALOG_FAILED;
	}
	if (cat->state == CATALOG_FAILED) {
		cat->failed_at = (int64_t)time(NULL);
		host->log(r->self, PGW_LOG_WARNING, "catalog lookup for database %s failed: %s", cat->database,
			  cat->error);
	}
	while (*at) {
		struct pending *p = *at;
		struct guard_verdict v;
		if (p->cat != cat) {
			at = &p->next;
			continue;
		}
		*at = p->next;
		if (cat->state == CATALOG_READY)
			decide(r, p->policy, cat, p->sql, &v);
		else
			catalog_unavailable(cat, &v);
		enum pgw_decision d = host->request_session(p->req) ? verdict_decision(r, p->policy, p->req, &v, p->sql)
								    : PGW_BLOCK;
		if (d != PGW_LATER)	/* held for an approval: answered from there */
			host->request_complete(p->req, d);
		free(p->sql);
		free(p);
	}
}

/* Hold the statement until the catalog is known (starting the lookup). */
static enum pgw_decision wait_for_catalog(struct redact *r, struct pgw_session *s, struct pgw_request *req,
					  struct db_catalog *cat, int policy, const char *sql)
{
	struct pending *p;
	struct guard_verdict v;

	if (cat->state == CATALOG_FAILED && time(NULL) - cat->failed_at < CATALOG_RETRY_SECONDS) {
		catalog_unavailable(cat, &v);
		return verdict_decision(r, policy, req, &v, sql);
	}
	if (cat->state != CATALOG_LOADING) {
		catalog_reset(cat);
		cat->state = CATALOG_LOADING;
		cat->owner = r;
		if (host->server_query(r->self, cat->database, host->session_server_user(s), r->catalog_sql,
				       catalog_done, cat) < 0) {
			cat->state = CATALOG_FAILED;
			cat->failed_at = (int64_t)time(NULL);
			snprintf(cat->error, sizeof(cat->error), "no pool for database %s", cat->database);
			catalog_unavailable(cat, &v);
			return verdict_decision(r, policy, req, &v, sql);
		}
	}
	p = calloc(1, sizeof(*p));
	p->req = req;
	p->cat = cat;
	p->policy = policy;
	p->sql = strdup(sql);
	p->next = r->waiting;
	r->waiting = p;
	return PGW_LATER;
}

static enum pgw_decision on_statement(struct pgw_plugin *self, struct pgw_session *s, struct pgw_request *req,
				      const struct pgw_statement *stmt)
{
	struct redact *r = host->get_private(self);
	struct redact_session *rs = session_of(r, s);
	const struct policy *p = &r->set->policies[rs->policy];
	struct db_catalog *cat = NULL;
	struct guard_verdict v;

	if (!policy_checks_statements(p))
		return PGW_CONTINUE;
	host->counter_add(self, r->counter_checked, 1);
	if (p->nmasks) {
		cat = catalog_of(r, host->session_database(s));
		if (cat->state != CATALOG_READY)
			return wait_for_catalog(r, s, req, cat, rs->policy, stmt->sql);
	}
	decide(r, rs->policy, cat, stmt->sql, &v);
	return verdict_decision(r, rs->policy, req, &v, stmt->sql);
}

/* ---------------- results ---------------- */

static const char *method_note(enum mask_method m)
{
	static const char *const notes[] = { "masked:null", "masked:fixed", "masked:partial", "masked:hash",
					     "masked:email" };
	return notes[m];
}

/* Which output columns are masked: by their origin.  Without a known
 * catalog (a reload in between), every column with an origin is. */
static int on_row_description(struct pgw_plugin *self, struct pgw_session *s, const struct pgw_result_columns *rc)
{
	struct redact *r = host->get_private(self);
	struct redact_session *rs = session_of(r, s);
	const struct policy *p = &r->set->policies[rs->policy];
	struct db_catalog *cat;
	int any = 0;

	rs->ncols = 0;
	if (!p->nmasks)
		return 0;
	cat = catalog_of(r, host->session_database(s));
	rs->col_masks = realloc(rs->col_masks, sizeof(*rs->col_masks) * (size_t)(rc->ncolumns ? rc->ncolumns : 1));
	rs->ncols = rc->ncolumns;
	for (int i = 0; i < rc->ncolumns; i++) {
		const struct pgw_column *col = &rc->columns[i];
		const struct mask_rule *m = cat->state == CATALOG_READY
			? catalog_mask_for(cat, p, col->table_oid, col->column_attnum)
			: col->table_oid ? &mask_everything : NULL;
		rs->col_masks[i] = m;
		if (m) {
			host->result_mark_column(s, self, i, method_note(m->method));
			any = 1;
		}
	}
	return any;
}

static void on_data_row(struct pgw_plugin *self, struct pgw_session *s, struct pgw_row *row)
{
	struct redact *r = host->get_private(self);
	struct redact_session *rs = host->session_get_data(s, self);

	for (int i = 0; rs && i < row->nfields && i < rs->ncols; i++) {
		const struct mask_rule *m = rs->col_masks[i];
		const struct pgw_column *col = &row->columns->columns[i];
		uint8_t *out;
		int32_t out_len;

		if (!m || row->fields[i].len < 0)
			continue;
		mask_value(m, row->fields[i].data, (size_t)row->fields[i].len, col->format != 0, col->type_oid,
			   r->hmac, &out, &out_len);
		host->row_set_field(row, i, out, out_len);
		free(out);
		r->values_masked++;
		if (m != &mask_everything)
			r->mask_hits[rs->policy][m - r->set->policies[rs->policy].masks]++;
	}
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
	snprintf(detail, sizeof(detail), "hits %llu, misses %llu, found without a parse %llu",
		 (unsigned long long)(r->cache->hits + r->shapes->hits), (unsigned long long)r->cache->misses,
		 (unsigned long long)r->shapes->hits);
	show_row4(out, "*", "cache", detail, NULL);
	snprintf(value, sizeof(value), "%llu", (unsigned long long)r->values_masked);
	show_row4(out, "*", "masked values", NULL, value);
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
		for (int j = 0; j < p->nmasks; j++) {
			const struct mask_rule *m = &p->masks[j];
			snprintf(detail, sizeof(detail), "%s%s%s.%s %s", m->schema ? m->schema : "", m->schema ? "." : "",
				 m->table, m->column, method_note(m->method) + 7);
			snprintf(value, sizeof(value), "%llu", (unsigned long long)r->mask_hits[i][j]);
			show_row4(out, p->name, "mask", detail, value);
		}
	}
}

/* ---------------- life cycle ---------------- */

/* ---------------- approvals in the admin console ---------------- */

static void approval_config_of(const struct pgw_kv *config, int n, struct approval_config *out)
{
	out->approvers = find_key(config, n, "approvers");
	out->timeout = find_key(config, n, "approval_timeout");
	out->notify_url = find_key(config, n, "notify_url");
	out->notify_ca_file = find_key(config, n, "notify_ca_file");
}

static void show_approvals(struct pgw_plugin *self, struct pgw_show *out)
{
	struct redact *r = host->get_private(self);

	approvals_show(r->approvals, out);
}

static void command_approve(struct pgw_plugin *self, struct pgw_command *cmd, const char *args)
{
	struct redact *r = host->get_private(self);

	approvals_approve(r->approvals, cmd, args);
}

static void command_deny(struct pgw_plugin *self, struct pgw_command *cmd, const char *args)
{
	struct redact *r = host->get_private(self);

	approvals_deny(r->approvals, cmd, args);
}

static int on_reload(struct pgw_plugin *self, const struct pgw_kv *config, int n)
{
	struct redact *r = host->get_private(self);
	uint8_t key[MASK_HASH_KEY_LEN] = { 0 };
	struct policy_set *set = load_policy(self, config, n, key);
	char err[200];

	if (!set)
		return -1;
	struct approval_config acfg;

	approval_config_of(config, n, &acfg);
	if (!approvals_configure(r->approvals, &acfg, err, sizeof(err))) {
		host->set_error(self, "%s", err);
		policy_set_free(set);
		OPENSSL_cleanse(key, sizeof(key));
		return -1;
	}
	install(r, set, config, n, key);
	OPENSSL_cleanse(key, sizeof(key));
	host->log(self, PGW_LOG_INFO, "policy %s loaded: %d policies", r->version, set->n);
	return 0;
}

static void on_unload(struct pgw_plugin *self)
{
	struct redact *r = host->get_private(self);

	approvals_free(r->approvals);
	free_mask_hits(r);
	policy_set_free(r->set);
	free(r->sessions);
	free(r->blocks);
	free(r->catalog_sql);
	while (r->catalogs) {
		struct db_catalog *c = r->catalogs;
		r->catalogs = c->next;
		catalog_reset(c);
		free(c->database);
		free(c);
	}
	while (r->waiting) {	/* the core is going away with their clients */
		struct pending *p = r->waiting;
		r->waiting = p->next;
		free(p->sql);
		free(p);
	}
	verdict_cache_free(r->cache);
	verdict_cache_free(r->shapes);
	EVP_MAC_CTX_free(r->hmac);
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
		.row_description = on_row_description,
		.data_row = on_data_row,
		.reload = on_reload,
		.unload = on_unload,
	};
	uint8_t key[MASK_HASH_KEY_LEN] = { 0 };
	struct policy_set *set;
	struct redact *r;
	struct approvals *approvals;
	struct approval_config acfg;
	char err[200];

	host = h;
	set = load_policy(self, config, n, key);
	if (!set)
		return -1;
	approval_config_of(config, n, &acfg);
	approvals = approvals_new(self, host, &acfg, err, sizeof(err));
	if (!approvals) {
		host->set_error(self, "%s", err);
		policy_set_free(set);
		OPENSSL_cleanse(key, sizeof(key));
		return -1;
	}
	r = calloc(1, sizeof(*r));
	if (r) {
		r->cache = verdict_cache_new();
		r->shapes = verdict_cache_new();
	}
	if (!r || !r->cache || !r->shapes) {
		host->set_error(self, "out of memory");
		if (r) {
			verdict_cache_free(r->cache);
			verdict_cache_free(r->shapes);
			free(r);
		}
		approvals_free(approvals);
		policy_set_free(set);
		OPENSSL_cleanse(key, sizeof(key));
		return -1;
	}
	r->self = self;
	r->approvals = approvals;
	install(r, set, config, n, key);
	OPENSSL_cleanse(key, sizeof(key));
	host->set_private(self, r);
	r->counter_checked = host->counter_register(self, "checked");
	r->counter_blocked = host->counter_register(self, "blocked");
	if (host->show_register(self, "redact", columns, 4, show_redact) < 0 ||
	    host->show_register(self, "approvals", approvals_columns, APPROVALS_NCOLUMNS, show_approvals) < 0 ||
	    host->command_register(self, "approve", command_approve) < 0 ||
	    host->command_register(self, "deny", command_deny) < 0 || host->register_hooks(self, &hooks) < 0)
		return -1;
	return 0;
}
