#include "util.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <openssl/crypto.h>

usec_t get_time_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (usec_t)ts.tv_sec * USEC_PER_SEC + ts.tv_nsec / 1000;
}

usec_t get_wall_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (usec_t)ts.tv_sec * USEC_PER_SEC + ts.tv_nsec / 1000;
}

static void *check_alloc(void *p)
{
	if (!p)
		die("out of memory");
	return p;
}

void *xmalloc(size_t len)
{
	return check_alloc(malloc(len ? len : 1));
}

void *xcalloc(size_t n, size_t len)
{
	return check_alloc(calloc(n ? n : 1, len ? len : 1));
}

void *xrealloc(void *p, size_t len)
{
	return check_alloc(realloc(p, len ? len : 1));
}

char *xstrdup(const char *s)
{
	return check_alloc(strdup(s));
}

char *xstrdup_opt(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

char *xstrndup(const char *s, size_t n)
{
	return check_alloc(strndup(s, n));
}

size_t strlcpy_safe(char *dst, const char *src, size_t dstsize)
{
	size_t len = strlen(src);
	if (dstsize) {
		size_t n = len < dstsize - 1 ? len : dstsize - 1;
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

bool secure_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

void secure_zero(void *p, size_t len)
{
	OPENSSL_cleanse(p, len);
}

void free_secret_str(char **s)
{
	if (*s) {
		secure_zero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

/* ---------------- socket addresses ---------------- */

const char *sockaddr_ip(const struct sockaddr *sa, char *buf, size_t len)
{
	buf[0] = '\0';
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf, (socklen_t)len);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf, (socklen_t)len);
	else if (sa->sa_family == AF_UNIX)
		snprintf(buf, len, "unix");
	return buf;
}

int sockaddr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	return 0;
}

bool unix_socket_address(const char *dir, int port, struct sockaddr_un *un, unsigned int *len)
{
	memset(un, 0, sizeof(*un));
	un->sun_family = AF_UNIX;
	int n = snprintf(un->sun_path, sizeof(un->sun_path), "%s/.s.PGSQL.%d", dir, port);
	if (n < 0 || (size_t)n >= sizeof(un->sun_path))
		return false;
	if (dir[0] == '@')
		un->sun_path[0] = '\0';	/* the name's bytes follow the NUL */
	*len = unix_address_length(un);
	return true;
}

unsigned int unix_address_length(const struct sockaddr_un *un)
{
	if (un->sun_path[0] != '\0')
		return sizeof(*un);
	return (unsigned int)(offsetof(struct sockaddr_un, sun_path) + 1 +
			      strnlen(un->sun_path + 1, sizeof(un->sun_path) - 1));
}
