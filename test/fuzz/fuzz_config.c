/*
 * libFuzzer harness for the pgbouncer.ini reader (src/config.c), through
 * config_load() itself: [pgbouncer], [databases], [users], [peers],
 * [plugin.NAME] sections and %include.
 *
 * The input is the config file "pgwarden.ini"; "\n%%\n" lines cut off the
 * files "a.ini", "b.ini" and "c.ini" it may %include (virtual_files.h: no
 * real file is ever opened, whatever path the input names).
 *
 * Checked: any bytes give a config or an error message, never a crash or a
 * leak.  A refusal always says why.  A config is self-consistent: every
 * string setting is set, every database and user has a unique non-empty
 * name and is found by its lookup, the "*" entry is only the fallback,
 * "pgbouncer" is never a database, ports and pool modes are in range,
 * every plugin in plugins= has its section with a path, the words of a
 * list setting (admin_users...) are found by config_list_contains, and every
 * [pgbouncer] value as SHOW CONFIG formats it is accepted back by SET
 * (config_set_value) unchanged.  A reload keeps the settings that need a
 * restart (config_keep_startup_values), whatever their values.
 */
/* fuzz-build: src/config.c src/util.c src/log.c -- -Wl,--wrap=fopen -lcrypto -lm */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "virtual_files.h"
#include "fuzz_check.h"

static const char *const file_names[] = { "pgwarden.ini", "a.ini", "b.ini", "c.ini" };

static bool int_setting_ok(int v)
{
	return v >= -1;		/* -1 = not given, otherwise a parsed 0..INT_MAX */
}

static void check_db(const struct config *cf, const struct db_def *db, bool fallback)
{
	CHECK(db->name && db->name[0]);
	CHECK(strcmp(db->name, "pgbouncer") != 0);
	CHECK(fallback == (strcmp(db->name, "*") == 0));
	if (!fallback)
		CHECK(config_find_db(cf, db->name) == db);
	CHECK(db->port >= 1 && db->port <= 65535);
	CHECK(db->pool_mode >= POOL_INHERIT && db->pool_mode <= POOL_STMT);
	CHECK(int_setting_ok(db->pool_size) && int_setting_ok(db->min_pool_size) &&
	      int_setting_ok(db->reserve_pool) && int_setting_ok(db->max_db_connections) &&
	      int_setting_ok(db->max_db_client_connections) && int_setting_ok(db->server_lifetime));
	/* a given string setting is never empty: empty values are refused */
	CHECK(!db->host || db->host[0]);
	CHECK(!db->dbname || db->dbname[0]);
	CHECK(!db->user || db->user[0]);
	CHECK(!db->password || db->password[0]);
}

static void check_user(const struct config *cf, const struct user_def *u)
{
	CHECK(u->name && u->name[0]);
	CHECK(config_find_user(cf, u->name) == u);
	CHECK(u->pool_mode >= POOL_INHERIT && u->pool_mode <= POOL_STMT);
	CHECK(int_setting_ok(u->max_user_connections) && int_setting_ok(u->pool_size) &&
	      int_setting_ok(u->reserve_pool_size) && int_setting_ok(u->max_user_client_connections) &&
	      int_setting_ok(u->query_timeout) && int_setting_ok(u->idle_transaction_timeout) &&
	      int_setting_ok(u->client_idle_timeout));
}

static void check_plugin(const struct config *cf, const struct plugin_def *p)
{
	CHECK(p->name && p->name[0] && !strchr(p->name, '.') && !strchr(p->name, '*'));
	CHECK(config_find_plugin(cf, p->name) == p);
	CHECK(p->n_kv >= 0);
	for (int i = 0; i < p->n_kv; i++) {
		CHECK(p->kv[i].key && p->kv[i].key[0] && p->kv[i].value);
		/* a repeated key replaces the earlier value: keys are unique */
		CHECK(config_plugin_value(p, p->kv[i].key) == p->kv[i].value);
	}
}

static void check_listed_plugins(const struct config *cf)
{
	char name[256];
	const char *p = cf->plugins;

	while ((p = config_list_next(p, name, sizeof(name))) != NULL) {
		const struct plugin_def *def = config_find_plugin(cf, name);
		const char *path = def ? config_plugin_value(def, "path") : NULL;

		CHECK(path && path[0]);
	}
}

/*
 * The two readers of comma/space lists (admin_users, plugins...) agree:
 * every word config_list_next() yields is one config_list_contains() finds.
 */
static void check_list(const char *list)
{
	static char word[4096];
	const char *p = list;

	while ((p = config_list_next(p, word, sizeof(word))) != NULL) {
		CHECK(word[0] && !strpbrk(word, ", \t\r\n\v\f"));
		if (strlen(word) + 1 < sizeof(word))
			CHECK(config_list_contains(list, word));
	}
}

/* SHOW CONFIG's text of each key goes back through SET unchanged. */
static void check_keys_round_trip(struct config *cf)
{
	char before[4096], after[4096], err[4096 + 256];

	for (const struct config_key *k = config_keys; k->name; k++) {
		CHECK(config_find_key(k->name) == k);
		if (k->type == CF_STR)
			CHECK(*(char **)((char *)cf + k->offset) != NULL);
		config_format_value(cf, k, before, sizeof(before));
		if (strlen(before) + 1 >= sizeof(before))
			continue;	/* cut by the buffer: nothing to compare */
		if (!config_set_value(cf, k, before, err, sizeof(err))) {
			fprintf(stderr, "SET %s = '%s' refused: %s\n", k->name, before, err);
			abort();
		}
		config_format_value(cf, k, after, sizeof(after));
		if (strcmp(before, after) != 0) {
			fprintf(stderr, "SET %s: '%s' became '%s'\n", k->name, before, after);
			abort();
		}
	}
}

/* A fresh config with only the defaults, as a running or a reloaded one. */
static struct config *defaults_config(void)
{
	static const char text[] = "[pgbouncer]\n";
	static const char *const name[] = { "defaults.ini" };
	char err[256];
	struct config *cf;

	vfs_split((const uint8_t *)text, strlen(text), name, 1);
	vfs_begin();
	cf = config_load(name[0], err, sizeof(err));
	vfs_end();
	CHECK(cf);
	return cf;
}

/* After config_keep_startup_values(), newcf shows oldcf's startup values. */
static void check_kept(const struct config *newcf, const struct config *oldcf)
{
	static char want[8192], got[8192];

	for (const struct config_key *k = config_keys; k->name; k++) {
		if (k->reloadable)
			continue;
		config_format_value(oldcf, k, want, sizeof(want));
		config_format_value(newcf, k, got, sizeof(got));
		if (strcmp(want, got) != 0) {
			fprintf(stderr, "reload changed %s from '%s' to '%s'\n", k->name, want, got);
			abort();
		}
	}
}

/*
 * A reload keeps the settings that need a restart: from this config to
 * the defaults, and from the defaults to this one.
 */
static void check_reload(struct config *cf)
{
	struct config *other = defaults_config();

	config_keep_startup_values(other, cf);
	check_kept(other, cf);
	config_free(other);
	other = defaults_config();
	config_keep_startup_values(cf, other);
	check_kept(cf, other);
	config_free(other);
}

static void check_config(struct config *cf)
{
	CHECK(strcmp(cf->conffile, file_names[0]) == 0);
	CHECK(cf->n_dbs >= 0 && cf->n_users >= 0 && cf->n_plugin_defs >= 0);
	for (int i = 0; i < cf->n_dbs; i++)
		check_db(cf, &cf->dbs[i], false);
	if (cf->fallback_db)
		check_db(cf, cf->fallback_db, true);
	for (int i = 0; i < cf->n_users; i++)
		check_user(cf, &cf->users[i]);
	for (int i = 0; i < cf->n_plugin_defs; i++)
		check_plugin(cf, &cf->plugin_defs[i]);
	check_listed_plugins(cf);
	check_list(cf->admin_users);
	check_list(cf->stats_users);
	check_list(cf->ignore_startup_parameters);
	check_list(cf->track_extra_parameters);
	check_list(cf->plugins);
	CHECK(cf->pool_mode >= POOL_SESSION && cf->pool_mode <= POOL_STMT);
	CHECK(cf->listen_port >= 1 && cf->listen_port <= 65535);
	check_keys_round_trip(cf);
	check_reload(cf);	/* last: changes cf */
}

/* [peers] logs a warning per entry: keep the fuzzer's output readable */
FUZZ_INIT_QUIET_LOG()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[1024];
	struct config *cf;

	vfs_split(data, size, file_names, sizeof(file_names) / sizeof(file_names[0]));
	vfs_begin();
	cf = config_load(file_names[0], err, sizeof(err));
	vfs_end();
	CHECK(vfs.opens >= 1);
	if (cf) {
		check_config(cf);
		config_free(cf);
	} else {
		CHECK(err[0] != '\0');	/* a refusal always says why */
	}
	return 0;
}
