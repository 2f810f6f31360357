/*
 * auth_type = pam: the client's cleartext password is checked by PAM, with
 * the service name "pgbouncer" as PgBouncer uses (so /etc/pam.d/pgbouncer
 * keeps working).  PAM modules block (files, LDAP, Kerberos, a helper
 * program), so the check runs on a worker thread (auth_check.c) and the
 * client waits, paused, for the answer.  A user PAM accepts logs in to the
 * server with that same password, as in PgBouncer.
 */
#include "pgwarden.h"

#include <arpa/inet.h>	/* INET6_ADDRSTRLEN */
#include <security/pam_appl.h>
#include <stdlib.h>
#include <string.h>

#define PGBOUNCER_PAM_SERVICE "pgbouncer"

struct pam_job {
	struct auth_check check;
	char user[MAX_USERNAME];
	char rhost[INET6_ADDRSTRLEN];	/* PAM_RHOST, for modules and their logs */
	char *password;
	bool ok;			/* written by the worker, read after it is done */
	char why[128];
};

/* PAM asks for the password (echo off, or on); anything else it says is logged. */
static int conversation(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct pam_job *job = data;
	struct pam_response *r;

	if (n < 1 || !msg || !job)
		return PAM_CONV_ERR;
	r = calloc((size_t)n, sizeof(*r));	/* PAM frees it, with free() */
	if (!r)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF || msg[i]->msg_style == PAM_PROMPT_ECHO_ON) {
			r[i].resp = strdup(job->password);
			if (!r[i].resp) {
				for (int j = 0; j < i; j++)
					free(r[j].resp);
				free(r);
				return PAM_BUF_ERR;
			}
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

/* On a worker thread: authenticate, then the account check (expiry, hours...). */
static void check_with_pam(struct auth_check *check)
{
	struct pam_job *job = container_of(check, struct pam_job, check);
	struct pam_conv conv = { conversation, job };
	pam_handle_t *pamh = NULL;
	int rc = pam_start(PGBOUNCER_PAM_SERVICE, job->user, &conv, &pamh);

	if (rc == PAM_SUCCESS && job->rhost[0])
		rc = pam_set_item(pamh, PAM_RHOST, job->rhost);
	if (rc == PAM_SUCCESS)
		rc = pam_authenticate(pamh, PAM_SILENT);
	if (rc == PAM_SUCCESS)
		rc = pam_acct_mgmt(pamh, PAM_SILENT);
	job->ok = rc == PAM_SUCCESS;
	if (!job->ok)
		snprintf(job->why, sizeof(job->why), "%s", pam_strerror(pamh, rc));
	if (pamh)
		pam_end(pamh, rc);
}

static void job_free(struct auth_check *check)
{
	struct pam_job *job = container_of(check, struct pam_job, check);

	free_secret_str(&job->password);
	free(job);
}

static void pam_answer(struct pgsocket *client, struct auth_check *check)
{
	struct pam_job *job = container_of(check, struct pam_job, check);

	if (job->ok) {
		auth_pam_accepted(client, job->password);
	} else {
		slog_warning(client, "PAM authentication failed: %s", job->why);
		disconnect_client(client, true, "PAM authentication failed");
	}
}

bool pam_auth_start(struct pgsocket *client, const char *password)
{
	struct pam_job *job = xcalloc(1, sizeof(*job));

	job->check.run = check_with_pam;
	job->check.answer = pam_answer;
	job->check.free = job_free;
	strlcpy_safe(job->user, client->user_name, sizeof(job->user));
	sockaddr_ip((const struct sockaddr *)&client->remote_addr, job->rhost, sizeof(job->rhost));
	job->password = xstrdup(password);
	if (!auth_check_start(client, &job->check)) {
		disconnect_client(client, true, "PAM authentication failed");
		return false;
	}
	return true;
}
