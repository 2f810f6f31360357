/*
 * Small helpers shared by every module: time, allocation that cannot fail
 * silently, and bounded string copies.
 */
#ifndef PGWARDEN_UTIL_H
#define PGWARDEN_UTIL_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdarg.h>

typedef uint64_t usec_t;	/* microseconds */

#define USEC_PER_SEC 1000000ULL

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

#define UNUSED __attribute__((unused))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

/* Monotonic clock, for timeouts and durations. */
usec_t get_time_usec(void);
/* Wall clock, for log lines and SHOW output. */
usec_t get_wall_usec(void);

/*
 * Allocation: abort with a log line on out-of-memory, like xmalloc.
 * Objects made and freed per statement are better xmalloc'd and set with a
 * compound literal: glibc's calloc() bypasses the per-thread cache, which
 * makes a calloc'd object cost ~250 instructions to get and, its cache bin
 * full of freed ones calloc never reuses, ~100 to free, against ~50 for
 * both through malloc().
 */
void *xmalloc(size_t len);
void *xcalloc(size_t n, size_t len);
void *xrealloc(void *p, size_t len);
char *xstrdup(const char *s);
char *xstrdup_opt(const char *s);	/* NULL stays NULL */
char *xstrndup(const char *s, size_t n);

/* strlcpy semantics: always NUL-terminates, returns strlen(src). */
size_t strlcpy_safe(char *dst, const char *src, size_t dstsize);

struct sockaddr;
/* An IPv4/IPv6 address as text ("10.0.0.5", "::1"), "unix" for a unix
 * socket, "" otherwise; buf needs INET6_ADDRSTRLEN bytes.  Returns buf. */
const char *sockaddr_ip(const struct sockaddr *sa, char *buf, size_t len);
/* The port of an IPv4/IPv6 address; 0 otherwise. */
int sockaddr_port(const struct sockaddr *sa);

struct sockaddr_un;
/*
 * PostgreSQL's socket in dir: dir/.s.PGSQL.port.  A dir starting with '@' is
 * a name in Linux's abstract namespace (no file), as PostgreSQL and PgBouncer
 * read it.  False when the path does not fit.
 */
bool unix_socket_address(const char *dir, int port, struct sockaddr_un *un, unsigned int *len);
/* The length connect()/bind() needs for un: exact for an abstract name. */
unsigned int unix_address_length(const struct sockaddr_un *un);

/* Constant-time comparison for secrets. */
bool secure_equal(const void *a, const void *b, size_t len);

/* Zero memory in a way the compiler will not elide. */
void secure_zero(void *p, size_t len);
/* Zero and free a string holding a secret; *s becomes NULL. */
void free_secret_str(char **s);

#endif
