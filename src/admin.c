/*
 * The admin console (databases "pgbouncer" and "pgwarden"): a client whose
 * "server" is the pooler itself.  Simple query protocol only, as PgBouncer.
 */
#include "pgwarden.h"

#include <string.h>
#include <unistd.h>

static void register_admin_db(const char *name)
{
	struct pgdatabase *db = find_database(name);
	if (!db) {
		struct db_def def;
		memset(&def, 0, sizeof(def));
		def.name = (char *)name;
		def.port = cf->listen_port;
		def.pool_size = 2;
		def.min_pool_size = -1;
		def.reserve_pool = -1;
		def.pool_mode = POOL_STMT;
		def.max_db_connections = -1;
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
		pktbuf_param_status(&pool->welcome, params[i][0], params[i][1]);
		varcache_set(&pool->server_defaults, params[i][0], params[i][1]);
	}
	pool->welcome_ready = true;
}

enum sbuf_result admin_handle_pkt(struct pgsocket *client, struct sbuf_pkt *pkt)
{
	struct pktbuf pb;

	if (!pkt->complete)
		return SBUF_NEED_FULL;
	sbuf_skip(&client->sbuf, pkt);
	if (pkt->hdr.type != 'Q') {
		disconnect_client(client, true, "extended query protocol not supported by admin console");
		return SBUF_CLOSED;
	}
	pktbuf_init(&pb);
	pktbuf_error(&pb, "ERROR", "08P01", "admin console is not implemented yet");
	pktbuf_ready(&pb, 'I');
	sbuf_send_pktbuf(&client->sbuf, &pb);
	pktbuf_free(&pb);
	return SBUF_DONE;
}

void admin_janitor(void)
{
}
