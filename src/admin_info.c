/*
 * SHOW commands on the pooler as a whole (LISTS, MEM, STATE, CONFIG,
 * VERSION), the result sets pgwarden has no rows for (FDS, DNS_HOSTS,
 * DNS_ZONES, PEERS, PEER_POOLS), SHOW HELP, and the fixed answers about
 * session parameters.  The column lists are PgBouncer 1.18's, later ones
 * marked.
 */
#include "admin.h"
#include "admin_result.h"
#include "pgwarden/version.h"

#include <arpa/inet.h>	/* INET6_ADDRSTRLEN */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define VERSION_TEXT PGWARDEN_NAME " " PGWARDEN_VERSION_STRING

/* ================================================================
 * Name/value listings: LISTS, MEM, STATE
 * ================================================================ */

static int count_live_databases(void)
{
	struct list_node *n;
	int count = 0;
	list_for_each(n, &pooler.databases)
		count += !container_of(n, struct pgdatabase, node)->db_dead;
	return count;
}

static int count_users(void)
{
	struct list_node *n;
	int count = 0;
	list_for_each(n, &pooler.users)
		count += user_is_listed(container_of(n, struct pguser, node));
	return count;
}

static const struct column lists_cols[] = { COL("list", 's'), COL("items", 'i'), COLS_END };
static const struct colset lists_set = { { lists_cols } };

/* 1.18's rows first, then the peers lists of later versions.  No slab
 * allocator here: the "free" lists are always empty.  DNS has no counters
 * yet (dns.c). */
void show_lists(struct admin_cmd *c)
{
	int dns_names, dns_zones, dns_pending;

	dns_counts(pooler.dns, &dns_names, &dns_zones, &dns_pending);
	const struct { const char *name; int value; } rows[] = {
		{ "databases", count_live_databases() },
		{ "users", count_users() },
		{ "pools", list_count(&pooler.pools) },
		{ "free_clients", 0 },
		{ "used_clients", pooler.client_count },
		{ "login_clients", list_count(&pooler.login_clients) },
		{ "free_servers", 0 },
		{ "used_servers", pooler.server_count },
		{ "dns_names", dns_names },
		{ "dns_zones", dns_zones },
		{ "dns_queries", dns_pending },
		{ "dns_pending", dns_pending },
		{ "peers", cf->n_peers },
		{ "peer_pools", cf->n_peers },
	};
	struct resultset rs;

	rs_begin(&rs, &c->pb, &lists_set);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		rs_row_begin(&rs);
		rs_str(&rs, rows[i].name);
		rs_int(&rs, rows[i].value);
		rs_row_end(&rs);
	}
	cmd_ready(c, "SHOW");
}

static const struct column mem_cols[] = {
	COL("name", 's'), COL("size", 'i'), COL("used", 'i'), COL("free", 'i'), COL("memtotal", 'i'), COLS_END,
};
static const struct colset mem_set = { { mem_cols } };

/* PgBouncer's slab caches, approximated by object counts and sizes; read
 * buffers are held only while they hold bytes (sbuf.c), the rest wait in
 * a free list. */
void show_mem(struct admin_cmd *c)
{
	int buffers_used, buffers_free;

	sbuf_buffer_counts(&buffers_used, &buffers_free);
	const struct { const char *name; size_t size; int used; int free; } rows[] = {
		{ "user_cache", sizeof(struct pguser), list_count(&pooler.users), 0 },
		{ "db_cache", sizeof(struct pgdatabase), list_count(&pooler.databases), 0 },
		{ "pool_cache", sizeof(struct pgpool), list_count(&pooler.pools), 0 },
		{ "server_cache", sizeof(struct pgsocket), pooler.server_count, 0 },
		{ "client_cache", sizeof(struct pgsocket), pooler.client_count, 0 },
		{ "iobuf_cache", (size_t)cf->pkt_buf, buffers_used, buffers_free },
	};
	struct resultset rs;

	rs_begin(&rs, &c->pb, &mem_set);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		rs_row_begin(&rs);
		rs_str(&rs, rows[i].name);
		rs_int(&rs, (int64_t)rows[i].size);
		rs_int(&rs, rows[i].used);
		rs_int(&rs, rows[i].free);
		rs_int(&rs, (int64_t)rows[i].size * (rows[i].used + rows[i].free));
		rs_row_end(&rs);
	}
	cmd_ready(c, "SHOW");
}

static const struct column key_value_cols[] = { COL("key", 's'), COL("value", 's'), COLS_END };
static const struct colset key_value_set = { { key_value_cols } };

/* Since 1.19: not in 1.18. */
void show_state(struct admin_cmd *c)
{
	const struct { const char *key; bool yes; } rows[] = {
		{ "active", !pooler.paused && !pooler.suspended },
		{ "paused", pooler.paused && !pooler.suspended },
		{ "suspended", pooler.suspended },
	};
	struct resultset rs;

	rs_begin(&rs, &c->pb, &key_value_set);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		rs_row_begin(&rs);
		rs_str(&rs, rows[i].key);
		rs_str(&rs, rows[i].yes ? "yes" : "no");
		rs_row_end(&rs);
	}
	cmd_ready(c, "SHOW");
}

/* ================================================================
 * SHOW CONFIG, VERSION, and the sets without rows
 * ================================================================ */

static const struct column config_cols[] = {
	COL("key", 's'), COL("value", 's'), COL("default", 's'), COL("changeable", 's'), COLS_END,
};
static const struct colset config_set = { { config_cols } };

void show_config(struct admin_cmd *c)
{
	struct resultset rs;
	char value[4096];

	rs_begin(&rs, &c->pb, &config_set);
	for (const struct config_key *k = config_keys; k->name; k++) {
		config_format_value(cf, k, value, sizeof(value));
		/* An unset string without a default is NULL in PgBouncer. */
		bool is_null = k->type == CF_STR && !k->default_value && !value[0];
		rs_row_begin(&rs);
		rs_str(&rs, k->name);
		rs_str(&rs, is_null ? NULL : value);
		rs_str(&rs, k->default_value);
		rs_str(&rs, k->reloadable ? "yes" : "no");
		rs_row_end(&rs);
	}
	cmd_ready(c, "SHOW");
}

void show_version(struct admin_cmd *c)
{
	static const struct column cols[] = { COL("version", 's'), COLS_END };
	static const struct colset set = { { cols } };
	struct resultset rs;

	rs_begin(&rs, &c->pb, &set);
	rs_row_begin(&rs);
	rs_str(&rs, VERSION_TEXT);
	rs_row_end(&rs);
	cmd_ready(c, "SHOW");
}

/* Online restart's FDS (no rows: pgwarden has no -R), the DNS cache and the peers. */
static const struct column fds_cols[] = {
	COL("fd", 'i'), COL("task", 's'), COL("user", 's'), COL("database", 's'), COL("addr", 's'),
	COL("port", 'i'), COL("cancel", 'q'), COL("link", 'i'), COL("client_encoding", 's'),
	COL("std_strings", 's'), COL("datestyle", 's'), COL("timezone", 's'), COL("password", 's'),
	COL("scram_client_key", 'b'), COL("scram_server_key", 'b'), COLS_END,
};
static const struct column dns_hosts_cols[] = { COL("hostname", 's'), COL("ttl", 'q'), COL("addrs", 's'), COLS_END };
static const struct column dns_zones_cols[] = { COL("zonename", 's'), COL("serial", 'q'), COL("count", 'i'), COLS_END };
static const struct column peers_cols[] = {
	COL("peer_id", 'i'), COL("host", 's'), COL("port", 'i'), COL("pool_size", 'i'), COLS_END,
};
static const struct column peer_pools_cols[] = {
	COL("peer_id", 'i'), COL("cl_active_cancel_req", 'i'), COL("cl_waiting_cancel_req", 'i'),
	COL("sv_active_cancel", 'i'), COL("sv_login", 'i'), COLS_END,
};

static const struct colset fds_set = { { fds_cols } };
static const struct colset dns_hosts_set = { { dns_hosts_cols } };
static const struct colset dns_zones_set = { { dns_zones_cols } };
static const struct colset peers_set = { { peers_cols } };
static const struct colset peer_pools_set = { { peer_pools_cols } };

static void show_empty(struct admin_cmd *c, const struct colset *set)
{
	rs_empty(&c->pb, set);
	cmd_ready(c, "SHOW");
}

void show_fds(struct admin_cmd *c)
{
	/* It would hand out cancel keys: admins only, as in PgBouncer. */
	if (need_admin(c))
		show_empty(c, &fds_set);
}

static void put_dns_host(void *arg, const char *name, usec_t ttl_left, const struct sockaddr *const *addrs, int n)
{
	struct resultset *rs = arg;
	char list[512] = "";
	size_t used = 0;

	for (int i = 0; i < n && used < sizeof(list) - 1; i++) {
		char ip[INET6_ADDRSTRLEN];
		sockaddr_ip(addrs[i], ip, sizeof(ip));
		/* PgBouncer's form: address and port, the port 0 for a name's address */
		used += (size_t)snprintf(list + used, sizeof(list) - used, addrs[i]->sa_family == AF_INET6 ? "%s[%s]:0" : "%s%s:0",
					 i ? "," : "", ip);
	}
	rs_row_begin(rs);
	rs_str(rs, name);
	rs_int(rs, (int64_t)ttl_left);
	rs_str(rs, list);
	rs_row_end(rs);
}

void show_dns_hosts(struct admin_cmd *c)
{
	struct resultset rs;

	rs_begin(&rs, &c->pb, &dns_hosts_set);
	dns_list_hosts(pooler.dns, put_dns_host, &rs);
	cmd_ready(c, "SHOW");
}

static void put_dns_zone(void *arg, const char *zone, uint32_t serial, int names)
{
	struct resultset *rs = arg;

	rs_row_begin(rs);
	rs_str(rs, zone);
	rs_int(rs, serial);
	rs_int(rs, names);
	rs_row_end(rs);
}

void show_dns_zones(struct admin_cmd *c)
{
	struct resultset rs;

	rs_begin(&rs, &c->pb, &dns_zones_set);
	dns_list_zones(pooler.dns, put_dns_zone, &rs);
	cmd_ready(c, "SHOW");
}
void show_peers(struct admin_cmd *c)
{
	struct resultset rs;

	rs_begin(&rs, &c->pb, &peers_set);
	for (int i = 0; i < cf->n_peers; i++) {
		const struct peer_def *p = &cf->peers[i];
		rs_row_begin(&rs);
		rs_int(&rs, p->id);
		rs_str(&rs, p->host);
		rs_int(&rs, p->port);
		rs_int(&rs, p->pool_size >= 0 ? p->pool_size : cf->default_pool_size);
		rs_row_end(&rs);
	}
	cmd_ready(c, "SHOW");
}

/* Forwarded cancels never wait for a slot: only the connections in flight show. */
void show_peer_pools(struct admin_cmd *c)
{
	struct resultset rs;

	rs_begin(&rs, &c->pb, &peer_pools_set);
	for (int i = 0; i < cf->n_peers; i++) {
		rs_row_begin(&rs);
		rs_int(&rs, cf->peers[i].id);
		rs_int(&rs, 0);
		rs_int(&rs, 0);
		rs_int(&rs, peer_cancels_in_flight(cf->peers[i].id));
		rs_int(&rs, 0);
		rs_row_end(&rs);
	}
	cmd_ready(c, "SHOW");
}

/* ================================================================
 * SHOW PLUGINS: what is loaded, in call order
 * ================================================================ */

static void put_hook_names(struct resultset *rs, const struct pgw_plugin *p)
{
	char buf[256] = "";
	const struct { const void *set; const char *name; } hooks[] = {
		{ (const void *)p->hooks.client_auth, "client_auth" },
		{ (const void *)p->hooks.session_start, "session_start" },
		{ (const void *)p->hooks.session_end, "session_end" },
		{ (const void *)p->hooks.statement, "statement" },
		{ (const void *)p->hooks.reload, "reload" },
		{ (const void *)p->hooks.row_description, "row_description" },
		{ (const void *)p->hooks.data_row, "data_row" },
		{ (const void *)p->hooks.command_complete, "command_complete" },
		{ (const void *)p->hooks.error, "error" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(hooks); i++) {
		if (!hooks[i].set)
			continue;
		if (buf[0])
			strncat(buf, ",", sizeof(buf) - strlen(buf) - 1);
		strncat(buf, hooks[i].name, sizeof(buf) - strlen(buf) - 1);
	}
	rs_str(rs, buf);
}

void show_plugins(struct admin_cmd *c)
{
	static const struct column cols[] = {
		COL("name", 's'), COL("path", 's'), COL("abi_version", 'i'), COL("hooks", 's'),
		COL("calls", 'N'), COL("errors", 'N'), COLS_END,
	};
	static const struct colset set = { { cols } };
	struct resultset rs;

	rs_begin(&rs, &c->pb, &set);
	for (int i = 0; i < plugin_count(); i++) {
		const struct pgw_plugin *p = plugin_at(i);
		rs_row_begin(&rs);
		rs_str(&rs, p->name);
		rs_str(&rs, p->path);
		rs_int(&rs, PGW_ABI_VERSION);
		put_hook_names(&rs, p);
		rs_uint(&rs, p->calls);
		rs_uint(&rs, p->errors);
		rs_row_end(&rs);
	}
	cmd_ready(c, "SHOW");
}

/* SHOW PLUGIN_COUNTERS: what plugins count (host->counter_register). */
void show_plugin_counters(struct admin_cmd *c)
{
	static const struct column cols[] = {
		COL("plugin", 's'), COL("counter", 's'), COL("value", 'q'), COLS_END,
	};
	static const struct colset set = { { cols } };
	struct resultset rs;

	rs_begin(&rs, &c->pb, &set);
	for (int i = 0; i < plugin_count(); i++) {
		const struct pgw_plugin *p = plugin_at(i);
		for (int k = 0; k < p->ncounters; k++) {
			rs_row_begin(&rs);
			rs_str(&rs, p->name);
			rs_str(&rs, p->counters[k].name);
			rs_int(&rs, p->counters[k].value);
			rs_row_end(&rs);
		}
	}
	cmd_ready(c, "SHOW");
}

/* SHOW <name> registered by a plugin: text columns, rows from its fill(). */
struct pgw_show {
	struct resultset rs;
	int ncolumns;
};

bool show_plugin_command(struct admin_cmd *c, const char *name)
{
	const struct plugin_show *ps = plugin_find_show(name);
	struct column cols[65];
	struct colset set = { { cols } };
	struct pgw_show out;

	if (!ps)
		return false;
	for (int i = 0; i < ps->ncolumns; i++)
		cols[i] = (struct column)COL(ps->columns[i], 's');
	cols[ps->ncolumns] = (struct column)COLS_END;
	out.ncolumns = ps->ncolumns;
	rs_begin(&out.rs, &c->pb, &set);
	ps->fill(ps->plugin, &out);
	cmd_ready(c, "SHOW");
	return true;
}

void plugin_show_row(struct pgw_show *out, const char *const *values)
{
	rs_row_begin(&out->rs);
	for (int i = 0; i < out->ncolumns; i++)
		rs_str(&out->rs, values ? values[i] : NULL);
	rs_row_end(&out->rs);
}

/* ================================================================
 * SHOW HELP and the fake session parameters
 * ================================================================ */

static const char help_text[] =
	"\n"
	"\tSHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION\n"
	"\tSHOW PEERS|PEER_POOLS\n"
	"\tSHOW PLUGINS|PLUGIN_COUNTERS\n"
	"\tSHOW FDS|SOCKETS|ACTIVE_SOCKETS|LISTS|MEM|STATE\n"
	"\tSHOW DNS_HOSTS|DNS_ZONES\n"
	"\tSHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS\n"
	"\tSET key = arg\n"
	"\tRELOAD\n"
	"\tPAUSE [<db>]\n"
	"\tRESUME [<db>]\n"
	"\tDISABLE <db>\n"
	"\tENABLE <db>\n"
	"\tRECONNECT [<db>]\n"
	"\tKILL <db>\n"
	"\tKILL_CLIENT <client_id>\n"
	"\tSUSPEND\n"
	"\tSHUTDOWN\n"
	"\tSHUTDOWN WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS\n"
	"\tWAIT_CLOSE [<db>]";

void show_help(struct admin_cmd *c)
{
	struct pktbuf *pb = &c->pb;

	pktbuf_begin(pb, 'N');
	pktbuf_put_u8(pb, 'S');
	pktbuf_put_string(pb, "NOTICE");
	pktbuf_put_u8(pb, 'C');
	pktbuf_put_string(pb, "00000");
	pktbuf_put_u8(pb, 'M');
	pktbuf_put_string(pb, "Console usage");
	pktbuf_put_u8(pb, 'D');
	pktbuf_put_string(pb, help_text);
	pktbuf_put_u8(pb, 0);
	pktbuf_end(pb);
	cmd_ready(c, "SHOW");
}

/*
 * Some clients read or set session parameters without asking whether they
 * talk to a database.  These get PgBouncer's fixed answers.
 */
static const struct fake_param {
	const char *name;
	const char *value;
} fake_params[] = {
	{ "client_encoding", "UTF-8" },
	{ "default_transaction_isolation", "read committed" },
	{ "standard_conforming_strings", "on" },
	{ "datestyle", "ISO" },
	{ "timezone", "GMT" },
	{ "extra_float_digits", "2" },
};

static const struct fake_param *find_fake_param(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(fake_params); i++) {
		if (strcasecmp(fake_params[i].name, name) == 0)
			return &fake_params[i];
	}
	return NULL;
}

bool is_fake_param(const char *name)
{
	return find_fake_param(name) != NULL;
}

bool show_fake_param(struct admin_cmd *c)
{
	const struct fake_param *p = find_fake_param(c->arg);
	struct resultset rs;

	if (!p)
		return false;
	const struct column cols[] = { COL(p->name, 's'), COLS_END };
	const struct colset set = { { cols } };
	rs_begin(&rs, &c->pb, &set);
	rs_row_begin(&rs);
	rs_str(&rs, p->value);
	rs_row_end(&rs);
	cmd_ready(c, "SHOW");
	return true;
}
