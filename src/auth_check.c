/*
 * Login steps too slow for the event loop run on the worker threads
 * (plugin_worker.c) while the client or server waits, paused: PAM, whose
 * modules block on files, LDAP or helper programs (pam_auth.c); a
 * cleartext password against a stored SCRAM secret, a PBKDF2 of 4096 HMAC
 * rounds or more; the SCRAM keys for a server's salt and iteration count
 * (auth.c).  Inline, each would stall every session for as long as it
 * takes, and a client (or a hostile server) could repeat it at will.
 *
 * A socket that goes away before its answer is unhooked: the check runs to
 * its end on the worker and nobody hears of it.
 */
#include "pgwarden.h"

/* Checks whose socket may still be waiting; loop thread only. */
static struct list_node in_flight = LIST_HEAD_INIT(in_flight);

static void run_check(void *arg)
{
	struct auth_check *check = arg;

	check->run(check);
}

/* Back on the loop thread. */
static void check_done(void *arg)
{
	struct auth_check *check = arg;

	list_del(&check->node);
	if (check->sk) {
		check->sk->auth_check_waiting = false;
		check->answer(check->sk, check);
	}
	check->free(check);
}

bool auth_check_start(struct pgsocket *sk, struct auth_check *check)
{
	check->sk = sk;
	if (plugin_worker_submit(NULL, run_check, check_done, check) < 0) {
		check->free(check);
		return false;
	}
	list_append(&in_flight, &check->node);
	sk->auth_check_waiting = true;
	sbuf_pause(&sk->sbuf);
	return true;
}

void auth_check_abandon(struct pgsocket *sk)
{
	struct list_node *n;

	if (!sk->auth_check_waiting)
		return;
	sk->auth_check_waiting = false;
	list_for_each(n, &in_flight) {
		struct auth_check *check = container_of(n, struct auth_check, node);
		if (check->sk == sk)
			check->sk = NULL;
	}
}
