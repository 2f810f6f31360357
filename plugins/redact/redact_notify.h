/*
 * Approval requests announced to a webhook: an HTTPS POST of a JSON body
 * (notify_url), made on a worker thread, retried with backoff.
 */
#ifndef REDACT_NOTIFY_H
#define REDACT_NOTIFY_H

#include <pgwarden/plugin.h>

#include <stdbool.h>
#include <stddef.h>

struct notifier;

struct notifier *notifier_new(struct pgw_plugin *self, const struct pgw_host *host);
/* url NULL: no webhook; else it must be https://.  ca_file NULL: the
 * system's CAs.  false (err set): bad values, the old ones stay. */
bool notifier_configure(struct notifier *n, const char *url, const char *ca_file, char *err, size_t errlen);
/* POST body (copied), if a webhook is configured. */
void notifier_send(struct notifier *n, const char *body);
/* At unload (the workers have finished): drops retries still waiting. */
void notifier_free(struct notifier *n);

#endif
