/*
 * The approval webhook (see redact_notify.h).  A POST runs on a worker
 * thread (libcurl, https only, certificate verified); a failed one is tried
 * again after 1, 2 and 4 seconds, each from a loop timer, then given up
 * with a warning in the log.  Jobs copy the URL they were made for, so a
 * RELOAD never pulls it from under a running request.
 */
#include "redact_notify.h"
#include "curl_exit.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ATTEMPTS 4
#define POST_TIMEOUT_S 10L

struct notify_job {
	struct notifier *owner;
	struct notify_job *next;	/* waiting for a retry */
	struct pgw_timer *retry;
	char *url, *ca_file, *body;
	int attempt;
	pgw_exiting_fn exiting;		/* host->exiting, NULL on older cores */
	long status;
	char err[CURL_ERROR_SIZE + 64];
};

struct notifier {
	struct pgw_plugin *self;
	const struct pgw_host *host;
	char *url, *ca_file;
	struct notify_job *waiting;
};

struct notifier *notifier_new(struct pgw_plugin *self, const struct pgw_host *host)
{
	struct notifier *n = calloc(1, sizeof(*n));

	n->self = self;
	n->host = host;
	return n;
}

bool notifier_configure(struct notifier *n, const char *url, const char *ca_file, char *err, size_t errlen)
{
	if (url && strncmp(url, "https://", 8) != 0) {
		snprintf(err, errlen, "notify_url must be an https:// URL");
		return false;
	}
	free(n->url);
	free(n->ca_file);
	n->url = url ? strdup(url) : NULL;
	n->ca_file = ca_file ? strdup(ca_file) : NULL;
	return true;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
	(void)ptr;
	(void)arg;
	return size * nmemb;
}

/* Worker thread: no host calls but exiting(). */
static void post(void *arg)
{
	struct notify_job *j = arg;
	struct curl_slist *headers;
	char curl_err[CURL_ERROR_SIZE] = "";
	CURL *h;
	CURLcode rc;

	j->status = 0;
	j->err[0] = '\0';
	if (pgw_exiting(j->exiting)) {
		snprintf(j->err, sizeof(j->err), "abandoned: pgwarden is exiting");
		return;
	}
	headers = curl_slist_append(NULL, "Content-Type: application/json");
	h = curl_easy_init();
	if (!h) {
		snprintf(j->err, sizeof(j->err), "cannot start an HTTPS request");
		curl_slist_free_all(headers);
		return;
	}
	curl_easy_setopt(h, CURLOPT_URL, j->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (j->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, j->ca_file);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, POST_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, j->body);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
	curl_give_up_on_exit(h, &j->exiting);	/* not wait POST_TIMEOUT_S per queued request */
	rc = curl_easy_perform(h);
	if (rc == CURLE_ABORTED_BY_CALLBACK)
		snprintf(j->err, sizeof(j->err), "abandoned: pgwarden is exiting");
	else if (rc != CURLE_OK)
		snprintf(j->err, sizeof(j->err), "%s", curl_err[0] ? curl_err : curl_easy_strerror(rc));
	else
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &j->status);
	if (rc == CURLE_OK && (j->status < 200 || j->status > 299))
		snprintf(j->err, sizeof(j->err), "HTTP status %ld", j->status);
	curl_easy_cleanup(h);
	curl_slist_free_all(headers);
}

static void job_free(struct notify_job *j)
{
	free(j->url);
	free(j->ca_file);
	free(j->body);
	free(j);
}

static void posted(void *arg);

static void submit(struct notify_job *j)
{
	struct notifier *n = j->owner;

	j->attempt++;
	if (n->host->worker_submit(n->self, post, posted, j) < 0) {
		snprintf(j->err, sizeof(j->err), "the worker queue is full");
		posted(j);
	}
}

static void unlink_waiting(struct notifier *n, struct notify_job *j)
{
	for (struct notify_job **at = &n->waiting; *at; at = &(*at)->next) {
		if (*at == j) {
			*at = j->next;
			return;
		}
	}
}

static void retry_now(void *arg)
{
	struct notify_job *j = arg;

	j->retry = NULL;	/* a fired timer is freed */
	unlink_waiting(j->owner, j);
	submit(j);
}

/* Loop thread: the POST's outcome. */
static void posted(void *arg)
{
	struct notify_job *j = arg;
	struct notifier *n = j->owner;

	if (!j->err[0]) {
		n->host->log(n->self, PGW_LOG_DEBUG, "approval webhook: posted (HTTP %ld)", j->status);
		job_free(j);
		return;
	}
	if (j->attempt >= MAX_ATTEMPTS || pgw_exiting(j->exiting)) {
		n->host->log(n->self, PGW_LOG_WARNING, "approval webhook: gave up after %d attempts: %s", j->attempt,
			     j->err);
		job_free(j);
		return;
	}
	n->host->log(n->self, PGW_LOG_INFO, "approval webhook: attempt %d failed (%s), trying again", j->attempt,
		     j->err);
	j->retry = n->host->timer_start(n->self, 1000ull << (j->attempt - 1), retry_now, j);
	j->next = n->waiting;
	n->waiting = j;
}

void notifier_send(struct notifier *n, const char *body)
{
	struct notify_job *j;

	if (!n->url)
		return;
	j = calloc(1, sizeof(*j));
	j->owner = n;
	j->url = strdup(n->url);
	j->ca_file = n->ca_file ? strdup(n->ca_file) : NULL;
	j->body = strdup(body);
	j->exiting = host_exiting_fn(n->host);
	submit(j);
}

void notifier_free(struct notifier *n)
{
	if (!n)
		return;
	while (n->waiting) {
		struct notify_job *j = n->waiting;
		n->waiting = j->next;
		if (j->retry)
			n->host->timer_cancel(j->retry);
		job_free(j);
	}
	free(n->url);
	free(n->ca_file);
	free(n);
}
