/*
 * Session parameters that PostgreSQL reports (GUC_REPORT) and that differ per
 * client: each client and each server connection keeps its values, and when a
 * client gets a server whose values differ we send SET first, as PgBouncer's
 * varcache does.
 */
#include "pgwarden.h"
#include "strpool.h"

#include <string.h>
#include <strings.h>

static const char *const var_names[VAR_COUNT] = {
	[VAR_CLIENT_ENCODING] = "client_encoding",
	[VAR_DATESTYLE] = "DateStyle",
	[VAR_TIMEZONE] = "TimeZone",
	[VAR_INTERVALSTYLE] = "IntervalStyle",
	[VAR_STD_STRINGS] = "standard_conforming_strings",
	[VAR_APPNAME] = "application_name",
};

int varcache_lookup(const char *name)
{
	/* GUC names are case-insensitive in PostgreSQL. */
	for (int i = 0; i < VAR_COUNT; i++)
		if (strcasecmp(name, var_names[i]) == 0)
			return i;
	return -1;
}

const char *varcache_name(int id)
{
	return var_names[id];
}

/* ---------------- a connection's values ---------------- */

void varcache_set_id(struct varcache *vc, enum var_id id, const char *value)
{
	const char *old = vc->value[id];
	size_t len = value ? strnlen(value, VAR_MAX_LEN - 1) : 0;

	vc->value[id] = len ? strpool_get(value, len) : NULL;
	strpool_put(old);
}

bool varcache_set(struct varcache *vc, const char *name, const char *value)
{
	int id = varcache_lookup(name);
	if (id < 0)
		return false;
	varcache_set_id(vc, (enum var_id)id, value);
	return true;
}

const char *varcache_get(const struct varcache *vc, enum var_id id)
{
	return vc->value[id] ? vc->value[id] : "";
}

void varcache_clear(struct varcache *vc)
{
	for (int i = 0; i < VAR_COUNT; i++) {
		strpool_put(vc->value[i]);
		vc->value[i] = NULL;
	}
}

/* SQL string literal, E'' form when a backslash is present. */
static void put_quoted(struct pktbuf *pb, const char *value)
{
	if (strchr(value, '\\'))
		pktbuf_put_u8(pb, 'E');
	pktbuf_put_u8(pb, '\'');
	for (const char *p = value; *p; p++) {
		if (*p == '\'' || *p == '\\')
			pktbuf_put_u8(pb, (uint8_t)*p);
		pktbuf_put_u8(pb, (uint8_t)*p);
	}
	pktbuf_put_u8(pb, '\'');
}

bool varcache_build_sync(const struct varcache *client, const struct varcache *server, struct pktbuf *pb)
{
	bool started = false;

	for (int i = 0; i < VAR_COUNT; i++) {
		const char *want = client->value[i];
		if (!want || want == server->value[i])	/* interned: same value, same pointer */
			continue;
		if (!started) {
			pktbuf_begin(pb, 'Q');
			started = true;
		}
		pktbuf_put_bytes(pb, "SET ", 4);
		pktbuf_put_bytes(pb, var_names[i], strlen(var_names[i]));
		pktbuf_put_u8(pb, '=');
		put_quoted(pb, want);
		pktbuf_put_u8(pb, ';');
	}
	if (started) {
		pktbuf_put_u8(pb, 0);
		pktbuf_end(pb);
	}
	return started;
}

void varcache_fill_unset(struct varcache *dst, const struct varcache *defaults)
{
	for (int i = 0; i < VAR_COUNT; i++)
		if (!dst->value[i])
			dst->value[i] = strpool_share(defaults->value[i]);
}

void varcache_copy(struct varcache *dst, const struct varcache *src)
{
	for (int i = 0; i < VAR_COUNT; i++) {
		const char *old = dst->value[i];
		dst->value[i] = strpool_share(src->value[i]);
		strpool_put(old);
	}
}

void varcache_send_all(const struct varcache *vc, struct pktbuf *pb)
{
	for (int i = 0; i < VAR_COUNT; i++)
		if (vc->value[i])
			pktbuf_param_status(pb, var_names[i], vc->value[i]);
}
