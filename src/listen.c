/*
 * Listening sockets: TCP on every listen_addr (IPv4 and IPv6, names
 * resolved once at start) and the unix socket .s.PGSQL.<port>.
 */
#include "pgwarden.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <netinet/tcp.h>

#define MAX_LISTENERS 32

struct listener {
	int fd;
	bool is_unix;
	struct event ev;
	struct event ev_resume;
	char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static struct listener listeners[MAX_LISTENERS];
static int n_listeners;

/* Keepalive, user timeout and buffer sizes: same settings for clients and servers. */
void tune_tcp_socket(int fd)
{
	int on = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if (cf->tcp_keepalive) {
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
		if (cf->tcp_keepidle)
			setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &cf->tcp_keepidle, sizeof(int));
		if (cf->tcp_keepintvl)
			setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &cf->tcp_keepintvl, sizeof(int));
		if (cf->tcp_keepcnt)
			setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cf->tcp_keepcnt, sizeof(int));
	}
	if (cf->tcp_user_timeout)
		setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &cf->tcp_user_timeout, sizeof(int));
	if (cf->tcp_socket_buffer) {
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &cf->tcp_socket_buffer, sizeof(int));
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &cf->tcp_socket_buffer, sizeof(int));
	}
}

static void resume_accept_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg)
{
	struct listener *l = arg;
	if (l->fd >= 0)
		event_add(&l->ev, NULL);
}

/*
 * Out of file descriptors: a level-triggered listener would fire again at
 * once and spin.  Stop accepting for a second; existing clients go on.
 */
static void back_off(struct listener *l)
{
	struct timeval tv = { 1, 0 };
	log_warning("accept() failed: %s; pausing new connections for 1s", strerror(errno));
	event_del(&l->ev);
	event_assign(&l->ev_resume, pooler.base, -1, 0, resume_accept_cb, l);
	event_add(&l->ev_resume, &tv);
}

static void accept_cb(evutil_socket_t fd, short what UNUSED, void *arg)
{
	struct listener *l = arg;

	/* Take a few per wakeup so a connect storm cannot starve the loop. */
	for (int i = 0; i < 32; i++) {
		struct sockaddr_storage peer;
		socklen_t peer_len = sizeof(peer);
		int cfd = accept4(fd, (struct sockaddr *)&peer, &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				back_off(l);
			else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warning("accept() failed: %s", strerror(errno));
			return;
		}
		if (!l->is_unix)
			tune_tcp_socket(cfd);
		accept_client(cfd, l->is_unix, &peer, peer_len);
	}
}

static bool add_listener(int fd, bool is_unix, const char *path)
{
	if (n_listeners >= MAX_LISTENERS) {
		close(fd);
		return false;
	}
	struct listener *l = &listeners[n_listeners++];
	l->fd = fd;
	l->is_unix = is_unix;
	strlcpy_safe(l->unix_path, path ? path : "", sizeof(l->unix_path));
	event_assign(&l->ev, pooler.base, fd, EV_READ | EV_PERSIST, accept_cb, l);
	event_add(&l->ev, NULL);
	return true;
}

/* tcp_defer_accept: a connection is accepted once it has sent something
 * (or after 45 s), so silent connections do not take a client slot. */
static void set_defer_accept(int fd)
{
	int secs = cf->tcp_defer_accept ? 45 : 0;

	setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs));
}

/* After a reload or SET, on the TCP sockets already listening. */
void listen_apply_defer_accept(void)
{
	for (int i = 0; i < n_listeners; i++)
		if (!listeners[i].is_unix && listeners[i].fd >= 0)
			set_defer_accept(listeners[i].fd);
}

static bool listen_tcp_addr(const struct addrinfo *ai, const char *what)
{
	int on = 1;
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0) {
		log_error("could not create socket: %s", strerror(errno));
		return false;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (cf->so_reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, cf->listen_backlog) < 0) {
		log_error("cannot listen on %s: %s", what, strerror(errno));
		close(fd);
		return false;
	}
	set_defer_accept(fd);
	log_info("listening on %s", what);
	return add_listener(fd, false, NULL);
}

static bool listen_tcp(const char *addr)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *res, *ai;
	char port[16];
	bool any = false;

	snprintf(port, sizeof(port), "%d", cf->listen_port);
	int err = getaddrinfo(strcmp(addr, "*") == 0 ? NULL : addr, port, &hints, &res);
	if (err) {
		log_error("getaddrinfo('%s', '%s') = %s", addr, port, gai_strerror(err));
		return false;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		char what[128], host[NI_MAXHOST];
		getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), NULL, 0, NI_NUMERICHOST);
		snprintf(what, sizeof(what), ai->ai_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
		any |= listen_tcp_addr(ai, what);
	}
	freeaddrinfo(res);
	return any;
}

/* A live socket means another pooler owns it. */
static bool unix_socket_in_use(const struct sockaddr_un *un, socklen_t len)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	bool in_use = fd >= 0 && connect(fd, (const struct sockaddr *)un, len) == 0;
	if (fd >= 0)
		close(fd);
	return in_use;
}

/* unix_socket_group: let members of a group connect with mode 0770 and the like. */
static void set_socket_group(const char *path)
{
	if (!cf->unix_socket_group || !cf->unix_socket_group[0])
		return;
	struct group *gr = getgrnam(cf->unix_socket_group);
	if (!gr)
		die("unix_socket_group: no such group: %s", cf->unix_socket_group);
	if (chown(path, (uid_t)-1, gr->gr_gid) < 0)
		log_warning("could not set group of %s: %s", path, strerror(errno));
}

/*
 * unix_socket_dir/.s.PGSQL.port; with unix_socket_dir = @name, a socket in
 * Linux's abstract namespace: no file to remove, chmod or chgrp (anyone who
 * shares the network namespace can connect).
 */
static bool listen_unix(void)
{
	struct sockaddr_un un;
	socklen_t len;
	char shown[sizeof(un.sun_path) + 1];
	bool abstract = cf->unix_socket_dir[0] == '@';

	if (!unix_socket_address(cf->unix_socket_dir, cf->listen_port, &un, &len)) {
		log_error("unix socket path too long");
		return false;
	}
	snprintf(shown, sizeof(shown), "%s/.s.PGSQL.%d", cf->unix_socket_dir, cf->listen_port);
	if (unix_socket_in_use(&un, len))
		die("unix socket is in use, cannot continue");
	if (!abstract)
		unlink(un.sun_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&un, len) < 0 ||
	    listen(fd, cf->listen_backlog) < 0) {
		log_error("cannot listen on unix:%s: %s", shown, strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	if (!abstract) {
		chmod(un.sun_path, (mode_t)cf->unix_socket_mode);
		set_socket_group(un.sun_path);
	}
	log_info("listening on unix:%s", shown);
	return add_listener(fd, true, abstract ? NULL : un.sun_path);
}

bool listen_start(void)
{
	if (cf->listen_addr && cf->listen_addr[0]) {
		char *list = xstrdup(cf->listen_addr), *save = NULL;
		for (char *tok = strtok_r(list, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save))
			listen_tcp(tok);
		free(list);
	}
	if (cf->unix_socket_dir && cf->unix_socket_dir[0])
		listen_unix();
	if (n_listeners == 0) {
		log_error("nowhere to listen on");
		return false;
	}
	return true;
}

/* SIGTERM: stop taking new TCP clients, keep the unix socket for admins. */
void listen_stop_tcp(void)
{
	for (int i = 0; i < n_listeners; i++) {
		if (!listeners[i].is_unix && listeners[i].fd >= 0) {
			event_del(&listeners[i].ev);
			if (event_initialized(&listeners[i].ev_resume))
				event_del(&listeners[i].ev_resume);
			close(listeners[i].fd);
			listeners[i].fd = -1;
		}
	}
}

void listen_cleanup(void)
{
	for (int i = 0; i < n_listeners; i++) {
		if (listeners[i].fd < 0)
			continue;
		event_del(&listeners[i].ev);
		close(listeners[i].fd);
		if (listeners[i].is_unix && listeners[i].unix_path[0])
			unlink(listeners[i].unix_path);
	}
	n_listeners = 0;
}
