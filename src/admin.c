/*
 * The admin console (databases "pgbouncer" and "pgwarden"): a client whose
 * "server" is the pooler itself.  Simple query protocol only, as PgBouncer.
 *
 * This file is the console session: the console databases, who may log in,
 * PgBouncer's command grammar, dispatch and replies, and the helpers over
 * the pools' socket lists that the commands share.  The commands themselves
 * live in admin_show.c, admin_stats.c, admin_ctl.c and admin_wait.c (see
 * admin.h).
 */
#include "admin.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct console_state console;

/* ================================================================
 * Setup and access
 * ================================================================ */

static void register_admin_db(const char *name)
{
	struct pgdatabase *db = find_database(name);
	if (!db) {
		struct db_def def;
		memset(&def, 0, sizeof(def));
		def.name = (char *)name;
		def.port = cf->listen_port;
		/* As PgBouncer: every console client shares the pool of the
		 * forced user "pgbouncer", whoever logged in. */
		def.user = (char *)ADMIN_DBNAME;
		def.pool_size = 2;
		def.min_pool_size = -1;
		def.reserve_pool = -1;
		def.pool_mode = POOL_STMT;
		def.max_db_connections = -1;
		def.max_db_client_connections = -1;
		def.server_lifetime = -1;
		def.query_wait_timeout = -1;
		db = register_database(&def, false, NULL);
	}
	db->is_admin = true;
	db->db_dead = false;
}

void admin_setup(void)
{
	register_admin_db(ADMIN_DBNAME);
	register_admin_db(ADMIN_DBNAME_ALIAS);
}

bool admin_peer_login(struct pgsocket *client)
{
	return client->is_unix && client->peer_uid >= 0 && (uid_t)client->peer_uid == geteuid() &&
	       strcmp(client->user_name, ADMIN_DBNAME) == 0;
}

bool admin_check_access(struct pgsocket *client)
{
	if (admin_peer_login(client) || config_list_contains(cf->admin_users, client->user_name)) {
		client->admin_user = true;
		return true;
	}
	if (config_list_contains(cf->stats_users, client->user_name)) {
		client->stats_user = true;
		return true;
	}
	disconnect_client_sqlstate(client, "08P01", "not allowed");
	return false;
}

void admin_prepare_pool(struct pgpool *pool)
{
	static const char *const params[][2] = {
		{ "server_version", "1.18.0/bouncer" },
		{ "client_encoding", "UTF8" },
		{ "server_encoding", "UTF8" },
		{ "DateStyle", "ISO" },
		{ "TimeZone", "GMT" },
		{ "standard_conforming_strings", "on" },
		{ "is_superuser", "on" },
	};
	if (pool->welcome_ready)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(params); i++) {
		int id = varcache_lookup(params[i][0]);
		if (id >= 0) {
			varcache_set_id(&pool->server_defaults, id, params[i][1]);
			pool->welcome_tracked |= 1u << id;
		} else {
			pktbuf_param_status(&pool->welcome, params[i][0], params[i][1]);
		}
	}
	pool->welcome_ready = true;
}

/* ================================================================
 * Replies
 * ================================================================ */

void cmd_ready(struct admin_cmd *c, const char *tag)
{
	pktbuf_begin(&c->pb, 'C');
	pktbuf_put_string(&c->pb, tag);
	pktbuf_end(&c->pb);
	pktbuf_ready(&c->pb, 'I');
}

void cmd_error_state(struct admin_cmd *c, const char *sqlstate, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s", msg);
	if (cf->log_pooler_errors)
		slog_warning(c->client, "pooler error: %s", msg);
	pktbuf_error(&c->pb, "ERROR", sqlstate, msg);
	pktbuf_ready(&c->pb, 'I');
}

void syntax_error(struct admin_cmd *c)
{
	cmd_error(c, "invalid command '%s', use SHOW HELP;", c->query);
}

bool need_admin(struct admin_cmd *c)
{
	if (c->client->admin_user)
		return true;
	cmd_error(c, "admin access needed");
	return false;
}

void send_reply(struct pgsocket *client, struct admin_cmd *c)
{
	if (c->pb.len && !client->sbuf.closed)
		sbuf_send_pktbuf(&client->sbuf, &c->pb);
	pktbuf_free(&c->pb);
}

bool run_command(const struct command *table, const char *word, struct admin_cmd *c)
{
	for (; table->word; table++) {
		if (strcasecmp(table->word, word) == 0) {
			table->fn(c);
			return true;
		}
	}
	return false;
}

/* ================================================================
 * The pools' socket lists, with the state names SHOW prints
 * ================================================================ */

#define POOL_LIST(field) offsetof(struct pgpool, field)

const struct sock_list client_lists[] = {
	{ POOL_LIST(active_clients), "active", "cl_active" },
	{ POOL_LIST(waiting_clients), "waiting", "cl_waiting" },
	{ POOL_LIST(cancel_clients), "waiting_cancel_req", NULL },
};
const size_t n_client_lists = ARRAY_SIZE(client_lists);

const struct sock_list server_lists[] = {
	{ POOL_LIST(active_servers), "active", "sv_active" },
	{ POOL_LIST(idle_servers), "idle", "sv_idle" },
	{ POOL_LIST(used_servers), "used", "sv_used" },
	{ POOL_LIST(tested_servers), "tested", "sv_tested" },
	{ POOL_LIST(login_servers), "new", "sv_login" },
};
const size_t n_server_lists = ARRAY_SIZE(server_lists);

struct list_node *pool_list(struct pgpool *pool, const struct sock_list *l)
{
	return (struct list_node *)((char *)pool + l->offset);
}

bool is_admin_pool(const struct pgpool *pool)
{
	return pool->db->is_admin;
}

bool pool_in_scope(const struct pgpool *pool, const char *dbname)
{
	if (is_admin_pool(pool))
		return false;
	return !dbname[0] || strcmp(pool->db->name, dbname) == 0;
}

static int count_in_list(struct list_node *list, bool only_close_needed)
{
	struct list_node *n;
	int count = 0;

	list_for_each(n, list)
		count += !only_close_needed || container_of(n, struct pgsocket, node)->close_needed;
	return count;
}

int count_servers(const char *dbname, bool only_close_needed)
{
	struct list_node *n;
	int count = 0;

	list_for_each(n, &pooler.pools) {
		struct pgpool *pool = container_of(n, struct pgpool, node);
		if (!pool_in_scope(pool, dbname))
			continue;
		for (size_t i = 0; i < n_server_lists; i++)
			count += count_in_list(pool_list(pool, &server_lists[i]), only_close_needed);
	}
	return count;
}

/* The visitor may close the socket: safe iteration. */
static bool visit_list(struct list_node *list, socket_visitor fn, void *arg)
{
	struct list_node *n, *tmp;

	list_for_each_safe(n, tmp, list) {
		if (!fn(container_of(n, struct pgsocket, node), arg))
			return false;
	}
	return true;
}

static bool visit_pool(struct pgpool *pool, socket_visitor fn, void *arg)
{
	for (size_t i = 0; i < n_client_lists; i++) {
		if (!visit_list(pool_list(pool, &client_lists[i]), fn, arg))
			return false;
	}
	for (size_t i = 0; i < n_server_lists; i++) {
		if (!visit_list(pool_list(pool, &server_lists[i]), fn, arg))
			return false;
	}
	return true;
}

bool visit_pooled_sockets(socket_visitor fn, void *arg)
{
	struct list_node *n;

	list_for_each(n, &pooler.pools) {
		struct pgpool *pool = container_of(n, struct pgpool, node);
		if (!is_admin_pool(pool) && !visit_pool(pool, fn, arg))
			return false;
	}
	return visit_list(&pooler.login_clients, fn, arg);
}

/* Pop-first: closing one socket may change the list under us. */
void close_sockets(struct list_node *list, const char *reason)
{
	struct list_node *n;

	while ((n = list_first(list)) != NULL) {
		struct pgsocket *sk = container_of(n, struct pgsocket, node);
		if (sk->is_server)
			disconnect_server(sk, true, "%s", reason);
		else
			disconnect_client(sk, true, "%s", reason);
		if (list_first(list) == n)
			break;	/* did not leave the list: do not spin */
	}
}

/* ================================================================
 * Parsing and dispatch
 * ================================================================ */

/* PgBouncer's grammar (POSIX ERE, case-insensitive). */
#define WS0	"[ \t\n\r]*"
#define WS1	"[ \t\n\r]+"
#define WORD	"(\"([^\"]+|\"\")*\"|[0-9a-z_]+)"
#define STRING	"('([^']|'')*')"

/* CMD [arg]; */
static const char rx_cmd_text[] = "^" WS0 WORD "(" WS1 WORD ")?" WS0 "(;" WS0 ")?$";
/* SET key = word; */
static const char rx_set_word_text[] = "^" WS0 "set" WS1 WORD WS0 "(=|to)" WS0 WORD WS0 "(;" WS0 ")?$";
/* SET key = 'string'; */
static const char rx_set_str_text[] = "^" WS0 "set" WS1 WORD WS0 "(=|to)" WS0 STRING WS0 "(;" WS0 ")?$";

/* Subexpression numbers in the patterns above. */
#define RX_GROUPS 10
#define CMD_NAME 1
#define CMD_ARG 4
#define SET_KEY 1
#define SET_VAL 4

/* PgBouncer's buffer sizes: longer words are "bad arguments". */
#define MAX_CMD_WORD 16
#define MAX_CMD_ARG 64
#define MAX_SET_VALUE 256

static void compile_regexes(void)
{
	if (console.regex_ready)
		return;
	if (regcomp(&console.rx_cmd, rx_cmd_text, REG_EXTENDED | REG_ICASE) != 0 ||
	    regcomp(&console.rx_set_word, rx_set_word_text, REG_EXTENDED | REG_ICASE) != 0 ||
	    regcomp(&console.rx_set_str, rx_set_str_text, REG_EXTENDED | REG_ICASE) != 0)
		die("admin console: regex compilation failed");
	console.regex_ready = true;
}

/* Copy group g of the match, without the quotes and with doubled quotes
 * undone.  A group that did not take part gives "". */
static bool copy_group(const char *src, const regmatch_t *grp, int g, char *dst, size_t dstlen, char quote)
{
	const regmatch_t *m = &grp[g];
	size_t len, n = 0;
	const char *s;

	dst[0] = '\0';
	if (m->rm_so < 0 || m->rm_eo < 0)
		return true;
	len = (size_t)(m->rm_eo - m->rm_so);
	s = src + m->rm_so;
	if (len >= dstlen)
		return false;
	if (len >= 2 && s[0] == quote) {
		for (size_t i = 1; i < len - 1; i++) {
			if (s[i] == quote && s[i + 1] == quote)
				i++;
			dst[n++] = s[i];
		}
		dst[n] = '\0';
		return true;
	}
	memcpy(dst, s, len);
	dst[len] = '\0';
	return true;
}

bool admin_command_exists(const char *word)
{
	if (strcasecmp(word, "show") == 0 || strcasecmp(word, "select") == 0 || strcasecmp(word, "set") == 0)
		return true;
	for (const struct command *t = control_commands; t->word; t++) {
		if (strcasecmp(t->word, word) == 0)
			return true;
	}
	return false;
}

/* ---------------- commands of plugins ---------------- */

struct pgw_command {
	struct admin_cmd *c;
	const char *verb;
	bool answered;
};

const char *plugin_command_user(const struct pgw_command *cmd)
{
	return cmd->c->client->user_name;
}

void plugin_command_done(struct pgw_command *cmd, const char *tag, const char *notice)
{
	char upper[40];

	if (cmd->answered)
		return;
	cmd->answered = true;
	if (notice)
		pktbuf_notice(&cmd->c->pb, "00000", notice);
	if (!tag) {
		size_t i;
		for (i = 0; cmd->verb[i] && i + 1 < sizeof(upper); i++)
			upper[i] = (char)toupper((unsigned char)cmd->verb[i]);
		upper[i] = '\0';
		tag = upper;
	}
	cmd_ready(cmd->c, tag);
}

void plugin_command_error(struct pgw_command *cmd, const char *sqlstate, const char *message)
{
	if (cmd->answered)
		return;
	cmd->answered = true;
	cmd_error_state(cmd->c, sqlstate && strlen(sqlstate) == 5 ? sqlstate : "XX000", "%s", message ? message : "");
}

/*
 * "VERB anything" where a plugin registered VERB: the console's one-word
 * grammar does not apply, the plugin reads the rest of the line.  False:
 * not a plugin's command.
 */
static bool run_plugin_command(struct admin_cmd *c)
{
	const char *q = c->query, *end;
	char verb[33], *args;
	size_t n = 0;
	const struct plugin_command *pc;
	struct pgw_command cmd = { .c = c };

	while (isspace((unsigned char)*q))
		q++;
	while ((isalnum((unsigned char)q[n]) || q[n] == '_') && n + 1 < sizeof(verb))
		n++;
	if (!n || (q[n] && !isspace((unsigned char)q[n]) && q[n] != ';'))
		return false;
	memcpy(verb, q, n);
	verb[n] = '\0';
	pc = plugin_find_command(verb);
	if (!pc)
		return false;
	if (!need_admin(c))
		return true;
	q += n;
	while (isspace((unsigned char)*q))
		q++;
	end = q + strlen(q);
	while (end > q && (isspace((unsigned char)end[-1]) || end[-1] == ';'))
		end--;
	args = xmalloc((size_t)(end - q) + 1);
	memcpy(args, q, (size_t)(end - q));
	args[end - q] = '\0';
	cmd.verb = pc->verb;
	pc->run(pc->plugin, &cmd, args);
	free(args);
	plugin_command_done(&cmd, NULL, NULL);
	return true;
}

/* SHOW, and SELECT its alias, then the control commands. */
static void dispatch(struct admin_cmd *c, const char *word)
{
	if (strcasecmp(word, "show") == 0 || strcasecmp(word, "select") == 0)
		cmd_show(c);
	else if (!run_command(control_commands, word, c))
		syntax_error(c);
}

static void run_query(struct admin_cmd *c)
{
	regmatch_t grp[RX_GROUPS];
	char word[MAX_CMD_WORD], arg[MAX_CMD_ARG], value[MAX_SET_VALUE];
	const char *q = c->query;

	compile_regexes();
	if (run_plugin_command(c))
		return;
	if (regexec(&console.rx_cmd, q, RX_GROUPS, grp, 0) == 0) {
		if (!copy_group(q, grp, CMD_NAME, word, sizeof(word), '"') ||
		    !copy_group(q, grp, CMD_ARG, arg, sizeof(arg), '"')) {
			cmd_error(c, "bad arguments");
			return;
		}
		c->arg = arg;
		dispatch(c, word);
		return;
	}
	bool is_str = regexec(&console.rx_set_str, q, RX_GROUPS, grp, 0) == 0;
	if (is_str || regexec(&console.rx_set_word, q, RX_GROUPS, grp, 0) == 0) {
		if (!copy_group(q, grp, SET_KEY, arg, sizeof(arg), '"') || !arg[0] ||
		    !copy_group(q, grp, SET_VAL, value, sizeof(value), is_str ? '\'' : '"')) {
			cmd_error(c, "bad arguments");
			return;
		}
		cmd_set(c, arg, value);
		return;
	}
	syntax_error(c);
}

/*
 * As PgBouncer counts them: a console connection's first query starts a
 * "transaction" that no server ever ends, so each connection counts one
 * transaction and one query.  The client's query_start (unused on clients
 * otherwise) remembers that it was counted.
 */
static void count_query(struct pgsocket *client)
{
	if (client->query_start)
		return;
	client->query_start = get_time_usec();
	client->pool->stats.query_count++;
	client->pool->stats.xact_count++;
}

static enum sbuf_result handle_query(struct pgsocket *client, struct sbuf_pkt *pkt)
{
	const char *body = (const char *)pkt->data + pkt->hdr.hdr_len;
	size_t len = pkt->hdr.len - pkt->hdr.hdr_len;
	struct admin_cmd c = { .client = client, .arg = "" };
	char *query;

	if (!memchr(body, '\0', len)) {
		sbuf_skip(&client->sbuf, pkt);
		disconnect_client(client, true, "incomplete query");
		return SBUF_CLOSED;
	}
	/* A copy: the command may close sockets, this one included. */
	query = xstrdup(body);
	sbuf_skip(&client->sbuf, pkt);
	log_debug("got admin query: %s", query);
	client->request_time = get_time_usec();
	count_query(client);

	c.query = query;
	pktbuf_init(&c.pb);
	run_query(&c);
	free(query);
	if (client->state == CL_JUSTFREE) {
		pktbuf_free(&c.pb);
		return SBUF_CLOSED;
	}
	send_reply(client, &c);
	return SBUF_DONE;
}

static enum sbuf_result reject_packet(struct pgsocket *client, struct sbuf_pkt *pkt)
{
	struct admin_cmd c = { .client = client, .query = "", .arg = "" };
	uint8_t type = pkt->hdr.type;

	sbuf_skip(&client->sbuf, pkt);
	pktbuf_init(&c.pb);
	if (type == 'P' || type == 'B' || type == 'E')
		cmd_error(&c, "extended query protocol not supported by admin console");
	else
		cmd_error(&c, "unsupported packet type for admin console: %d", type);
	send_reply(client, &c);
	disconnect_client(client, true, "bad packet");
	return SBUF_CLOSED;
}

enum sbuf_result admin_handle_pkt(struct pgsocket *client, struct sbuf_pkt *pkt)
{
	if (!pkt->complete) {
		if (pkt->hdr.len <= client->sbuf.max_full_pkt)
			return SBUF_NEED_FULL;
		/* No command is that long; PgBouncer gives up the same way. */
		disconnect_client(client, true, "incomplete pkt");
		return SBUF_CLOSED;
	}
	/* One command at a time: wait for PAUSE & co to be answered. */
	if (is_waiting(client))
		return SBUF_PAUSE;
	switch (pkt->hdr.type) {
	case 'Q':
		return handle_query(client, pkt);
	case 'X':
		sbuf_skip(&client->sbuf, pkt);
		disconnect_client(client, false, "client close request");
		return SBUF_CLOSED;
	default:
		return reject_packet(client, pkt);
	}
}
