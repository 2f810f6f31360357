/*
 * HTTPS GETs for the OIDC plugin's keys (see oidc_fetch.h).
 */
#include "oidc_fetch.h"
#include "curl_exit.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DOCUMENT (1024 * 1024)
#define DISCOVERY_PATH "/.well-known/openid-configuration"

struct buffer {
	char *data;
	size_t len;
	int too_big;
};

static size_t collect(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct buffer *b = arg;
	size_t n = size * nmemb;

	if (b->len + n > MAX_DOCUMENT) {
		b->too_big = 1;
		return 0;		/* makes curl fail the transfer */
	}
	b->data = realloc(b->data, b->len + n + 1);
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* GET url; the body (NUL-terminated) or NULL with job->err. */
static char *https_get(struct oidc_fetch *job, const char *url, size_t *len)
{
	struct buffer b = { NULL, 0, 0 };
	char curl_err[CURL_ERROR_SIZE] = "";
	CURL *h = curl_easy_init();
	CURLcode rc;

	if (!h) {
		snprintf(job->err, sizeof(job->err), "cannot start an HTTPS request");
		return NULL;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 3L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (job->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, job->ca_file);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, job->timeout_s);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "pgwarden-oidc");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_give_up_on_exit(h, &job->exiting);	/* not wait for a silent issuer until http_timeout */
	rc = curl_easy_perform(h);
	curl_easy_cleanup(h);
	if (rc != CURLE_OK) {
		snprintf(job->err, sizeof(job->err), "GET %.120s: %s", url,
			 b.too_big ? "document larger than 1 MiB"
			 : rc == CURLE_ABORTED_BY_CALLBACK ? "abandoned: pgwarden is exiting"
			 : curl_err[0] ? curl_err : curl_easy_strerror(rc));
		free(b.data);
		return NULL;
	}
	if (!b.data)
		b.data = calloc(1, 1);
	*len = b.len;
	return b.data;
}

/* The jwks_uri of the issuer's discovery document. */
static char *discover_jwks_uri(struct oidc_fetch *job)
{
	size_t ilen = strlen(job->issuer), len;
	char *url = malloc(ilen + sizeof(DISCOVERY_PATH));
	char *doc;
	json_t *meta;
	const char *iss, *uri;
	char *result = NULL;

	memcpy(url, job->issuer, ilen + 1);
	if (ilen && url[ilen - 1] == '/')
		url[ilen - 1] = '\0';
	strcat(url, DISCOVERY_PATH);
	doc = https_get(job, url, &len);
	free(url);
	if (!doc)
		return NULL;
	meta = json_loadb(doc, len, 0, NULL);
	free(doc);
	iss = json_string_value(json_object_get(meta, "issuer"));
	uri = json_string_value(json_object_get(meta, "jwks_uri"));
	if (!iss || strcmp(iss, job->issuer) != 0)
		snprintf(job->err, sizeof(job->err), "discovery document names another issuer");
	else if (!uri || strncmp(uri, "https://", 8) != 0)
		snprintf(job->err, sizeof(job->err), "discovery document has no https jwks_uri");
	else
		result = strdup(uri);
	json_decref(meta);
	return result;
}

void oidc_fetch_run(void *arg)
{
	struct oidc_fetch *job = arg;

	job->jwks_uri_used = job->jwks_uri ? strdup(job->jwks_uri) : discover_jwks_uri(job);
	if (job->jwks_uri_used)
		job->body = https_get(job, job->jwks_uri_used, &job->len);
}

void oidc_fetch_free(struct oidc_fetch *job)
{
	if (!job)
		return;
	free(job->issuer);
	free(job->jwks_uri);
	free(job->ca_file);
	free(job->body);
	free(job->jwks_uri_used);
	free(job);
}

int oidc_fetch_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void oidc_fetch_global_cleanup(void)
{
	curl_global_cleanup();
}
