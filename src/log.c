#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>
#include <syslog.h>
#include <sys/time.h>

static struct {
	FILE *file;
	bool quiet;
	int verbose;
	bool syslog;
	bool syslog_open;
	int pid;		/* cached: getpid() per line is measurable */
} log_state;

static const char *const level_names[] = {
	[LOG_LVL_FATAL] = "FATAL",
	[LOG_LVL_ERROR] = "ERROR",
	[LOG_LVL_WARNING] = "WARNING",
	[LOG_LVL_LOG] = "LOG",
	[LOG_LVL_DEBUG] = "DEBUG",
	[LOG_LVL_NOISE] = "NOISE",
};

static const int syslog_levels[] = {
	[LOG_LVL_FATAL] = LOG_CRIT,
	[LOG_LVL_ERROR] = LOG_ERR,
	[LOG_LVL_WARNING] = LOG_WARNING,
	[LOG_LVL_LOG] = LOG_INFO,
	[LOG_LVL_DEBUG] = LOG_DEBUG,
	[LOG_LVL_NOISE] = LOG_DEBUG,
};

static const struct {
	const char *name;
	int code;
} facilities[] = {
	{ "auth", LOG_AUTH }, { "authpriv", LOG_AUTHPRIV }, { "daemon", LOG_DAEMON },
	{ "user", LOG_USER }, { "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
	{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 },
	{ "local5", LOG_LOCAL5 }, { "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

static int facility_code(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(facilities); i++)
		if (strcasecmp(name, facilities[i].name) == 0)
			return facilities[i].code;
	return LOG_DAEMON;
}

void log_configure(const struct log_settings *s)
{
	if (log_state.file) {
		fclose(log_state.file);
		log_state.file = NULL;
	}
	if (s->logfile && s->logfile[0]) {
		log_state.file = fopen(s->logfile, "a");
		if (!log_state.file)
			fprintf(stderr, "cannot open logfile '%s': %s\n", s->logfile, strerror(errno));
		else
			setvbuf(log_state.file, NULL, _IOLBF, 0);
	}
	log_state.pid = (int)getpid();	/* also refreshed after daemonizing */
	log_state.quiet = s->quiet;
	log_state.verbose = s->verbose;
	if (log_state.syslog_open) {
		closelog();
		log_state.syslog_open = false;
	}
	log_state.syslog = s->syslog;
	if (s->syslog) {
		openlog(s->syslog_ident ? s->syslog_ident : "pgwarden", LOG_PID,
			facility_code(s->syslog_facility));
		log_state.syslog_open = true;
	}
}

void log_shutdown(void)
{
	if (log_state.file)
		fclose(log_state.file);
	log_state.file = NULL;
}

void log_refresh_pid(void)
{
	log_state.pid = (int)getpid();
}

bool log_enabled(enum log_level lvl)
{
	if (lvl <= LOG_LVL_LOG)
		return true;
	return (int)lvl - LOG_LVL_LOG <= log_state.verbose;
}

/*
 * "YYYY-MM-DD HH:MM:SS.mmm TZ".  The part up to the seconds is formatted once
 * per second: a busy pooler logs two lines per connection.
 */
static void format_timestamp(char *buf, size_t len)
{
	static time_t cached_sec = -1;
	static char cached_date[32], cached_zone[16];
	struct timeval tv;

	gettimeofday(&tv, NULL);
	if (tv.tv_sec != cached_sec) {
		struct tm tm;
		localtime_r(&tv.tv_sec, &tm);
		strftime(cached_date, sizeof(cached_date), "%Y-%m-%d %H:%M:%S", &tm);
		strftime(cached_zone, sizeof(cached_zone), "%Z", &tm);
		cached_sec = tv.tv_sec;
	}
	snprintf(buf, len, "%s.%03d %s", cached_date, (int)(tv.tv_usec / 1000), cached_zone);
}

void log_generic_v(enum log_level lvl, const char *prefix, const char *fmt, va_list ap)
{
	char msg[4096];
	char ts[96];
	int saved_errno = errno;

	if (!log_enabled(lvl))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	format_timestamp(ts, sizeof(ts));
	if (!prefix)
		prefix = "";
	if (!log_state.pid)
		log_state.pid = (int)getpid();

	/* A fatal error before daemonizing must reach the operator even with -q. */
	if (!log_state.quiet || lvl == LOG_LVL_FATAL)
		fprintf(stderr, "%s [%d] %s %s%s\n", ts, log_state.pid, level_names[lvl], prefix, msg);
	if (log_state.file)
		fprintf(log_state.file, "%s [%d] %s %s%s\n", ts, log_state.pid, level_names[lvl], prefix, msg);
	if (log_state.syslog)
		syslog(syslog_levels[lvl], "%s %s%s", level_names[lvl], prefix, msg);
	errno = saved_errno;
}

void log_generic(enum log_level lvl, const char *prefix, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_generic_v(lvl, prefix, fmt, ap);
	va_end(ap);
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_generic_v(LOG_LVL_FATAL, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
