/*
 * Login steps too slow for the event loop run on worker threads of their
 * own (plugin_worker.c) while the client or server waits, paused: PAM, whose
 * modules block on files, LDAP or helper programs (pam_auth.c); a
 * cleartext password against a stored SCRAM secret, a PBKDF2 of 4096 HMAC
 * rounds or more; the SCRAM keys for a server's salt and iteration count
 * (auth.c).  Inline, each would stall every session for as long as it
 * takes, and a client (or a hostile server) could repeat it at will.
 *
 * A socket that goes away before its answer is unhooked: a check already
 * running goes on to its end and nobody hears of it; one still queued is
 * not run at all.  A paused client is not read, so its hang-up is watched
 * for separately (EV_CLOSED): clients that send a password and leave at
 * once then cost no PBKDF2 each.
 */
#include "pgwarden.h"

/* Checks whose socket may still be waiting; loop thread only. */
static struct list_node in_flight = LIST_HEAD_INIT(in_flight);

static void run_check(void *arg)
{
	struct auth_check *check = arg;

	/*
	 * Nobody will hear the answer: the socket left while the check was
	 * queued, or pgwarden is exiting (the workers drain their queue before
	 * exit, and up to 10,000 queued PBKDF2s would hold the exit up for
	 * minutes).
	 */
	if (atomic_load(&check->abandoned) || plugin_workers_exiting())
		return;
	check->run(check);
}

static void stop_watching(struct auth_check *check)
{
	if (check->watching) {
		event_del(&check->client_gone);
		check->watching = false;
	}
}

/* Loop: the client closed its end while it waited for the check. */
static void client_gone_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg)
{
	struct auth_check *check = arg;

	disconnect_client(check->sk, false, "client unexpected eof");	/* abandons the check */
}

/* A server that hangs up is noticed when its login goes on. */
static void watch_client(struct auth_check *check)
{
	if (check->sk->is_server)
		return;
	event_assign(&check->client_gone, pooler.base, check->sk->sbuf.fd, EV_CLOSED, client_gone_cb, check);
	check->watching = event_add(&check->client_gone, NULL) == 0;
}

/* Back on the loop thread. */
static void check_done(void *arg)
{
	struct auth_check *check = arg;

	list_del(&check->node);
	stop_watching(check);
	/*
	 * At exit (workers_shutdown) nobody is answered: the process ends.  Not
	 * exiting now means not exiting when the worker looked either, so a
	 * check whose socket is still here has run.
	 */
	if (check->sk && !plugin_workers_exiting()) {
		check->sk->auth_check_waiting = false;
		check->answer(check->sk, check);
	}
	check->free(check);
}

bool auth_check_start(struct pgsocket *sk, struct auth_check *check)
{
	check->sk = sk;
	atomic_init(&check->abandoned, false);
	check->watching = false;
	if (login_worker_submit(run_check, check_done, check) < 0) {
		check->free(check);
		return false;
	}
	list_append(&in_flight, &check->node);
	sk->auth_check_waiting = true;
	sbuf_pause(&sk->sbuf);
	watch_client(check);
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
		if (check->sk == sk) {
			check->sk = NULL;
			atomic_store(&check->abandoned, true);
			stop_watching(check);
		}
	}
}
