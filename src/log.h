/*
 * Logging in PgBouncer's line format, so existing log parsers keep working:
 *   2024-01-01 12:00:00.123 UTC [1234] LOG C-0x55d0c0: db/user@127.0.0.1:5555 login attempt: ...
 */
#ifndef PGWARDEN_LOG_H
#define PGWARDEN_LOG_H

#include "util.h"

enum log_level {
	LOG_LVL_FATAL = 0,
	LOG_LVL_ERROR,
	LOG_LVL_WARNING,
	LOG_LVL_LOG,
	LOG_LVL_DEBUG,
	LOG_LVL_NOISE,
};

struct log_settings {
	const char *logfile;	/* "" or NULL: none */
	bool quiet;		/* -q: nothing on stderr */
	int verbose;		/* -v count + config verbose */
	bool syslog;
	const char *syslog_ident;
	const char *syslog_facility;
};

/* (Re)apply settings; reopens the log file (SIGHUP / logrotate). */
void log_configure(const struct log_settings *s);
void log_shutdown(void);
/* After fork(): log lines carry the new pid. */
void log_refresh_pid(void);

void log_generic(enum log_level lvl, const char *prefix, const char *fmt, ...) PRINTF_LIKE(3, 4);
void log_generic_v(enum log_level lvl, const char *prefix, const char *fmt, va_list ap) PRINTF_LIKE(3, 0);
bool log_enabled(enum log_level lvl);

#define log_error(...)   log_generic(LOG_LVL_ERROR, NULL, __VA_ARGS__)
#define log_warning(...) log_generic(LOG_LVL_WARNING, NULL, __VA_ARGS__)
#define log_info(...)    log_generic(LOG_LVL_LOG, NULL, __VA_ARGS__)
#define log_debug(...)   do { if (log_enabled(LOG_LVL_DEBUG)) log_generic(LOG_LVL_DEBUG, NULL, __VA_ARGS__); } while (0)
#define log_noise(...)   do { if (log_enabled(LOG_LVL_NOISE)) log_generic(LOG_LVL_NOISE, NULL, __VA_ARGS__); } while (0)

/* Log at FATAL and exit(1). */
void die(const char *fmt, ...) PRINTF_LIKE(1, 2) __attribute__((noreturn));

#endif
