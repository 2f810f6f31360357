/*
 * Named prepared statements across server connections
 * (max_prepared_statements), in transaction and statement pooling.
 */
#ifndef PGWARDEN_PREPARED_H
#define PGWARDEN_PREPARED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pgsocket;
struct ps_state;
struct sbuf_pkt;
enum sbuf_result;

/* Whether this client's extended-protocol messages go through here. */
bool prepared_tracks(const struct pgsocket *client);

/*
 * Client side, before a server is taken: true when the message is dealt
 * with (*res says how): more of it is needed, or it is skipped because an
 * error this module answered waits for the client's Sync.
 */
bool prepared_client_gate(struct pgsocket *client, struct sbuf_pkt *pkt, enum sbuf_result *res);

/* Send the client's message (or a plugin's replacement) to its server,
 * translating statement names. */
void prepared_forward(struct pgsocket *client, struct pgsocket *server, struct sbuf_pkt *pkt);

/* Server side.  prepared_server_reply: false when the message answers one
 * of our own and must not reach the client; prepared_after_reply once a
 * forwarded message is on its way: answers made here that are now due. */
bool prepared_server_reply(struct pgsocket *server, struct sbuf_pkt *pkt);
void prepared_after_reply(struct pgsocket *server);
/* A CommandComplete on the server: DISCARD ALL / DEALLOCATE ALL drop its
 * statements (and, for a client's own command, the client's). */
void prepared_command_done(struct pgsocket *server, const uint8_t *tag, size_t len, bool from_client);
/* The handler may see one server message more than once (more of it
 * needed, paused): matched says whether it was matched already (and
 * forgets it), hold remembers it for the next time. */
bool prepared_reply_matched(struct ps_state *ps);
void prepared_reply_hold(struct ps_state *ps);
/* Answers the server still owes (messages sent after the last Sync or
 * Query count too): it must not go back to its pool yet. */
bool prepared_owes_answers(const struct pgsocket *server);
/* The server goes back to its pool. */
void prepared_server_released(struct pgsocket *server);

/* SHOW CLIENTS / SHOW SERVERS: statements the client named, or the server holds. */
size_t prepared_count(const struct pgsocket *sk);

void prepared_free(struct pgsocket *sk);

#endif
