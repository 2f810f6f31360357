/*
 * pgwarden: command line, startup checks, signals and the event loop.
 * The command line is PgBouncer's: pgwarden [-d] [-q] [-v] [-u user] [-V] [-h] config.ini
 */
#include "pgwarden.h"
#include "hba.h"
#include "tls.h"
#include "pgwarden/version.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <ares.h>
#include <openssl/opensslv.h>
#include <openssl/crypto.h>

static const char *progname = "pgwarden";
static const char *switch_user;

static void print_version(void)
{
	printf("pgwarden %s\n", PGWARDEN_VERSION_STRING);
	printf("libevent %s\n", event_get_version());
	printf("adns: c-ares %s\n", ares_version(NULL));
	printf("tls: %s\n", OpenSSL_version(OPENSSL_VERSION));
}

static void usage(FILE *out)
{
	fprintf(out,
		"%s is a connection pooler for PostgreSQL, compatible with PgBouncer.\n\n"
		"Usage:\n"
		"  %s [OPTION]... CONFIG_FILE\n\n"
		"Options:\n"
		"  -d, --daemon         run in background (as a daemon)\n"
		"  -q, --quiet          run quietly\n"
		"  -R, --reboot         accepted for compatibility; online restart is not supported\n"
		"  -u, --user=USERNAME  assume identity of USERNAME\n"
		"  -v, --verbose        increase verbosity\n"
		"  -V, --version        show version, then exit\n"
		"  -h, --help           show this help, then exit\n",
		progname, progname);
}

static void apply_log_settings(void)
{
	struct log_settings ls = {
		.logfile = cf->logfile,
		.quiet = pooler.quiet,
		.verbose = cf->verbose + pooler.verbose_cli,
		.syslog = cf->syslog,
		.syslog_ident = cf->syslog_ident,
		.syslog_facility = cf->syslog_facility,
	};
	log_configure(&ls);
}

static void load_userlist(void)
{
	if (!cf->auth_file || !cf->auth_file[0])
		return;
	struct userlist *ul = userlist_load(cf->auth_file);
	if (!ul)
		return;		/* userlist_load logged why */
	if (pooler.userlist)
		userlist_free(pooler.userlist);
	pooler.userlist = ul;
}

/* auth_type = hba: the rules and the user name maps, all or nothing (a bad
 * file keeps the old config). */
static bool load_hba(const struct config *ncf)
{
	char err[512] = "";
	struct hba *rules = NULL;
	struct ident_map *maps = NULL;

	if (ncf->auth_type == AUTH_TYPE_HBA) {
		if (!ncf->auth_hba_file || !ncf->auth_hba_file[0]) {
			log_error("auth_type = hba needs auth_hba_file");
			return false;
		}
		if (!(rules = hba_load_file(ncf->auth_hba_file, err, sizeof(err)))) {
			log_error("%s", err);
			return false;
		}
		if (ncf->auth_ident_file && ncf->auth_ident_file[0] &&
		    !(maps = ident_load_file(ncf->auth_ident_file, err, sizeof(err)))) {
			log_error("%s", err);
			hba_free(rules);
			return false;
		}
	}
	hba_free(pooler.hba);
	pooler.hba = rules;
	ident_free(pooler.ident);
	pooler.ident = maps;
	return true;
}

/* The file a reload reads: the conffile setting (SET conffile, or the key in
 * the file itself), as in PgBouncer; the command line's file at first. */
static const char *config_file_to_load(void)
{
	if (pooler.config && pooler.config->conffile && pooler.config->conffile[0])
		return pooler.config->conffile;
	return pooler.config_path;
}

static bool load_config(void)
{
	char err[512] = "";
	struct config *ncf = config_load(config_file_to_load(), err, sizeof(err));
	if (!ncf) {
		log_error("%s", err);
		return false;
	}
	if (!load_hba(ncf)) {
		config_free(ncf);
		return false;
	}
	/* read once, at startup (a reload keeps the running value) */
	if (!pooler.config && !varcache_extra_allowed(ncf->track_extra_parameters, err, sizeof(err))) {
		log_error("%s", err);
		config_free(ncf);
		return false;
	}
	/* The first load must have working TLS settings; a reload keeps the
	 * contexts in use when the new ones do not load. */
	if (!tls_setup(ncf, err, sizeof(err))) {
		if (!pooler.config) {
			log_error("%s", err);
			config_free(ncf);
			return false;
		}
		log_warning("TLS settings could not be applied, still using old configuration: %s", err);
	}
	if (pooler.config) {
		config_keep_startup_values(ncf, pooler.config);
		config_free(pooler.config);
	}
	pooler.config = ncf;
	return true;
}

/* Settings that live outside the config snapshot: at startup, reload and SET. */
void pooler_apply_runtime_settings(void)
{
	dns_set_ttl(pooler.dns, cf->dns_max_ttl, cf->dns_nxdomain_ttl);
	dns_set_zone_check(pooler.dns, cf->dns_zone_check_period);
	sbuf_set_read_loops(cf->sbuf_loopcnt);
	listen_apply_defer_accept();	/* no-ops before the sockets and the timer exist */
	stats_apply_period();
}

/* Re-read the ini and auth_file; the running config stays if the new one is bad. */
bool pooler_reload(void)
{
	if (!load_config()) {
		log_error("config file loading failed");
		apply_log_settings();	/* reopen the log file all the same (logrotate) */
		return false;
	}
	apply_log_settings();
	load_userlist();
	objects_apply_config();
	pooler_apply_runtime_settings();
	admin_setup();
	plugins_reload(cf);
	return true;
}

/* ---------------- signals ---------------- */

/*
 * PgBouncer 1.18's signals, with what later versions added where 1.18 has
 * nothing: a second SIGINT exits at once, SIGQUIT is an immediate exit, and
 * SIGUSR2 is ignored during a shutdown.
 *   SIGHUP   reload the config, reopen the log file
 *   SIGINT   safe shutdown: pause, exit when the servers are released
 *   SIGTERM  immediate shutdown, exit status 1 as 1.18 (later versions wait
 *            for the clients instead: use SHUTDOWN WAIT_FOR_CLIENTS)
 *   SIGUSR1  PAUSE, SIGUSR2 RESUME
 * They arrive through the event loop, so the handlers may do anything.
 */

static void exit_now(int status, const char *why)
{
	log_info("%s", why);
	/* before exit(): plugins flush (an audit log) while OpenSSL and the
	 * event base still work */
	plugins_unload_all();
	listen_cleanup();
	if (cf->pidfile && cf->pidfile[0])
		unlink(cf->pidfile);
	exit(status);
}

void pooler_shutdown_now(const char *why)
{
	exit_now(0, why);
}

static void on_sighup(void)
{
	log_info("got SIGHUP, re-reading config");
	pooler_reload();
}

static void on_sigint(void)
{
	if (admin_shutting_down())
		exit_now(0, "got SIGINT while shutting down, fast exit");
	log_info("got SIGINT, shutting down");
	if (pooler.suspended)
		exit_now(1, "suspend was in progress, going down immediately");
	admin_begin_shutdown(false);
}

static void on_sigterm(void)
{
	exit_now(1, "got SIGTERM, fast exit");
}

static void on_sigquit(void)
{
	exit_now(0, "got SIGQUIT, fast exit");
}

static void on_sigusr1(void)
{
	if (pooler.paused) {
		log_info("got SIGUSR1, but already paused/suspended");
		return;
	}
	log_info("got SIGUSR1, pausing all activity");
	pooler.paused = true;
}

static void on_sigusr2(void)
{
	if (admin_shutting_down()) {
		log_info("got SIGUSR2 while shutting down, ignoring");
	} else if (pooler.paused || pooler.suspended) {
		log_info("got SIGUSR2, continuing from %s", pooler.suspended ? "SUSPEND" : "PAUSE");
		admin_resume_all();
	} else {
		log_info("got SIGUSR2, but not paused/suspended");
	}
}

static const struct signal_action {
	int sig;
	void (*handle)(void);
} signal_actions[] = {
	{ SIGHUP, on_sighup },
	{ SIGINT, on_sigint },
	{ SIGTERM, on_sigterm },
	{ SIGQUIT, on_sigquit },
	{ SIGUSR1, on_sigusr1 },
	{ SIGUSR2, on_sigusr2 },
};

static void on_signal(evutil_socket_t sig UNUSED, short what UNUSED, void *arg)
{
	((const struct signal_action *)arg)->handle();
}

static void setup_signals(void)
{
	static struct event evs[ARRAY_SIZE(signal_actions)];

	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < ARRAY_SIZE(signal_actions); i++) {
		evsignal_assign(&evs[i], pooler.base, signal_actions[i].sig, on_signal, (void *)&signal_actions[i]);
		evsignal_add(&evs[i], NULL);
	}
}

/* ---------------- process setup ---------------- */

static void check_pidfile(void)
{
	char buf[32];
	const char *path = cf->pidfile;
	if (!path || !path[0])
		return;
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		long pid = strtol(buf, NULL, 10);
		if (pid > 0 && kill((pid_t)pid, 0) == 0)
			die("pidfile exists, another instance running?");
	}
	log_info("stale pidfile, removing");
	unlink(path);
}

static void write_pidfile(void)
{
	const char *path = cf->pidfile;
	if (!path || !path[0])
		return;
	FILE *f = fopen(path, "w");
	if (!f)
		die("could not write pidfile '%s': %s", path, strerror(errno));
	fprintf(f, "%d\n", (int)getpid());
	fclose(f);
}

static void daemonize(void)
{
	if (!cf->pidfile || !cf->pidfile[0])
		die("daemon needs pidfile configured");
	pid_t pid = fork();
	if (pid < 0)
		die("fork failed: %s", strerror(errno));
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		die("setsid failed: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		die("fork failed: %s", strerror(errno));
	if (pid > 0)
		_exit(0);
	int fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		die("could not open /dev/null: %s", strerror(errno));
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
	log_refresh_pid();
}

static void change_user(const char *name)
{
	struct passwd *pw = getpwnam(name);
	if (!pw)
		die("could not find user '%s' to switch to", name);
	if (getuid() == pw->pw_uid)
		return;
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
		die("could not switch to user '%s': %s", name, strerror(errno));
}

static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	int expected = cf->max_client_conn + cf->default_pool_size * (cf->n_dbs + 1) + 32;
	log_info("kernel file descriptor limit: %lu (hard: %lu); max_client_conn: %d, max expected fd use: %d",
		 (unsigned long)rl.rlim_cur, (unsigned long)rl.rlim_max, cf->max_client_conn, expected);
}

static void parse_args(int argc, char **argv)
{
	static const struct option long_options[] = {
		{ "daemon", no_argument, NULL, 'd' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "reboot", no_argument, NULL, 'R' },
		{ "user", required_argument, NULL, 'u' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "dqRu:vVh", long_options, NULL)) != -1) {
		switch (c) {
		case 'd':
			pooler.daemonize = true;
			pooler.quiet = true;
			break;
		case 'q':
			pooler.quiet = true;
			break;
		case 'R':
			fprintf(stderr, "%s: online restart (-R) is not supported, starting normally\n", progname);
			break;
		case 'u':
			switch_user = optarg;
			break;
		case 'v':
			pooler.verbose_cli++;
			break;
		case 'V':
			print_version();
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "Try \"%s --help\" for more information.\n", progname);
			exit(1);
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "%s: no configuration file specified\n", progname);
		fprintf(stderr, "Try \"%s --help\" for more information.\n", progname);
		exit(1);
	}
	pooler.config_path = argv[optind];
}

/* After the event base exists: a plugin may start timers in its init. */
static void load_plugins(void)
{
	char err[768];

	if (!plugins_load(cf, err, sizeof(err)))
		die("%s", err);
}

static void init_pooler_state(void)
{
	list_init(&pooler.databases);
	list_init(&pooler.users);
	list_init(&pooler.pools);
	list_init(&pooler.login_clients);
	list_init(&pooler.justfree);
	list_init(&pooler.cancel_servers);
}

int main(int argc, char **argv)
{
	if (argv[0] && strrchr(argv[0], '/'))
		progname = strrchr(argv[0], '/') + 1;
	else if (argv[0])
		progname = argv[0];
	init_pooler_state();
	parse_args(argc, argv);

	if (!load_config())
		die("cannot load config file");
	apply_log_settings();

	const char *user = switch_user ? switch_user : (cf->user && cf->user[0] ? cf->user : NULL);
	if (getuid() == 0 && !user)
		die("pgwarden should not run as root");

	if (pooler.daemonize)
		daemonize();
	check_pidfile();

	pooler.base = event_base_new();
	if (!pooler.base)
		die("event_base_new() failed");
	sbuf_global_init(pooler.base);
	varcache_track_extra(cf->track_extra_parameters);
	pooler.dns = dns_create(pooler.base, cf->resolv_conf);
	if (!pooler.dns)
		die("dns setup failed");
	dns_set_change_callback(pooler.dns, objects_host_changed);
	pooler_apply_runtime_settings();
	load_plugins();

	load_userlist();
	raise_fd_limit();
	if (!listen_start())
		die("nowhere to listen on");
	write_pidfile();
	if (user)
		change_user(user);

	objects_apply_config();
	admin_setup();
	setup_signals();
	janitor_setup();
	stats_setup();

	log_info("process up: pgwarden %s, libevent %s, adns: c-ares %s, tls: %s", PGWARDEN_VERSION_STRING,
		 event_get_version(), ares_version(NULL), OpenSSL_version(OPENSSL_VERSION));
	event_base_dispatch(pooler.base);
	plugins_unload_all();
	listen_cleanup();
	return 0;
}
