/*
 * Peering, as in PgBouncer 1.19: several pooler processes share one listen
 * address (so_reuseport, or a load balancer), so a client's cancel request
 * may reach a process other than the one it logged in to.  Each process has
 * a peer_id, written into the cancel keys it hands out; a cancel request
 * whose key names another peer is forwarded to that peer's [peers] address.
 * The key's last two bits are a time to live, so a misconfigured ring of
 * peers forwards a request at most three times.  The key layout is
 * PgBouncer's, so pgwarden and PgBouncer processes can peer with each other.
 */
#include "pgwarden.h"

#include <string.h>

#define CANCEL_TTL_MASK 0x03

/*
 * The address of a peer, kept as a database object (what connect_server()
 * dials) for the life of the process: a forwarded cancel still connecting
 * points at it after a reload dropped the peer.
 */
struct peer {
	struct list_node node;
	int id;
	struct pgdatabase db;
};

static struct list_node peers = LIST_HEAD_INIT(peers);

static struct peer *find_peer(int id)
{
	struct list_node *n;

	list_for_each(n, &peers)
		if (container_of(n, struct peer, node)->id == id)
			return container_of(n, struct peer, node);
	return NULL;
}

static struct pgdatabase *peer_database(const struct peer_def *def)
{
	struct peer *p = find_peer(def->id);

	if (!p) {
		p = xcalloc(1, sizeof(*p));
		p->id = def->id;
		snprintf(p->db.name, sizeof(p->db.name), "peer_%d", def->id);
		list_init(&p->db.node);
		list_init(&p->db.own_users);
		list_append(&peers, &p->node);
	}
	/* the [peers] line as it is now */
	free(p->db.host);
	p->db.host = def->host ? xstrdup(def->host) : NULL;
	p->db.port = def->port;
	return &p->db;
}

void peer_stamp_cancel_key(uint8_t key[CANCEL_KEY_LEN])
{
	if (cf->peer_id <= 0)
		return;
	key[1] = (uint8_t)(cf->peer_id & 0xff);
	key[2] = (uint8_t)(cf->peer_id >> 8);
	key[7] |= CANCEL_TTL_MASK;
}

bool peer_forward_cancel(uint8_t key[CANCEL_KEY_LEN])
{
	int id = key[1] | key[2] << 8;
	const struct peer_def *def;
	uint8_t forwarded[CANCEL_KEY_LEN];

	if (cf->peer_id <= 0)
		return false;
	if (id == cf->peer_id) {
		/* Ours; forwarding spent some of its TTL: back to the key we handed out. */
		key[7] |= CANCEL_TTL_MASK;
		return false;
	}
	if (!(key[7] & CANCEL_TTL_MASK)) {
		log_warning("failed to forward cancel request because its TTL was exhausted");
		return true;
	}
	def = config_find_peer(cf, id);
	if (!def) {
		log_warning("could not find peer %d to forward cancel request to", id);
		return true;
	}
	log_debug("forwarding cancel request to peer %d", id);
	memcpy(forwarded, key, CANCEL_KEY_LEN);
	forwarded[7]--;		/* the TTL lives in the low bits */
	connect_server(cancel_conn_new(peer_database(def), forwarded));
	return true;
}

/* In-flight forwarded cancels per peer (SHOW PEER_POOLS). */
int peer_cancels_in_flight(int id)
{
	const struct peer *p = find_peer(id);
	struct list_node *n;
	int count = 0;

	if (!p)
		return 0;	/* nothing forwarded there yet */
	list_for_each(n, &pooler.cancel_servers)
		count += container_of(n, struct pgsocket, node)->db == &p->db;
	return count;
}
