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

/* track_extra_parameters: more reported parameters, fixed at startup. */
static char *extra_names[VAR_EXTRA_MAX];
static int n_extra;

static int builtin_lookup(const char *name)
{
	/* GUC names are case-insensitive in PostgreSQL. */
	for (int i = 0; i < VAR_COUNT; i++)
		if (strcasecmp(name, var_names[i]) == 0)
			return i;
	return -1;
}

int varcache_lookup(const char *name)
{
	int id = builtin_lookup(name);

	for (int i = 0; id < 0 && i < n_extra; i++)
		if (strcasecmp(name, extra_names[i]) == 0)
			id = VAR_COUNT + i;
	return id;
}

const char *varcache_name(int id)
{
	return id < VAR_COUNT ? var_names[id] : extra_names[id - VAR_COUNT];
}

void varcache_track_extra(const char *list)
{
	char name[VAR_NAME_MAX + 1];
	const char *p = list;

	while ((p = config_list_next(p, name, sizeof(name))) != NULL)
		if (varcache_lookup(name) < 0 && n_extra < VAR_EXTRA_MAX)
			extra_names[n_extra++] = xstrdup(name);
}

static bool listed_before(char names[][VAR_NAME_MAX + 1], int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcasecmp(names[i], name) == 0)
			return true;
	return false;
}

bool varcache_extra_allowed(const char *list, char *err, size_t errlen)
{
	char name[VAR_NAME_MAX + 2];
	char extra[VAR_EXTRA_MAX][VAR_NAME_MAX + 1];	/* distinct, as varcache_track_extra keeps them */
	const char *p = list;
	int n = 0;

	while ((p = config_list_next(p, name, sizeof(name))) != NULL) {
		if (strlen(name) > VAR_NAME_MAX || strspn(name, "abcdefghijklmnopqrstuvwxyz"
						  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.") != strlen(name)) {
			snprintf(err, errlen, "track_extra_parameters: invalid parameter name: %s", name);
			return false;
		}
		if (builtin_lookup(name) >= 0 || listed_before(extra, n, name))
			continue;
		if (n == VAR_EXTRA_MAX) {
			snprintf(err, errlen, "track_extra_parameters: at most %d parameters besides the always tracked ones",
				 VAR_EXTRA_MAX);
			return false;
		}
		strcpy(extra[n++], name);
	}
	return true;
}

/* ---------------- a connection's values ---------------- */

static const char *value_of(const struct varcache *vc, int id)
{
	if (id < VAR_COUNT)
		return vc->value[id];
	return vc->extra ? vc->extra[id - VAR_COUNT] : NULL;
}

/* Where id's value lives; the extra slots are made on first use. */
static const char **slot_of(struct varcache *vc, int id)
{
	if (id < VAR_COUNT)
		return &vc->value[id];
	if (!vc->extra)
		vc->extra = xcalloc((size_t)n_extra, sizeof(*vc->extra));
	return &vc->extra[id - VAR_COUNT];
}

static void put_value(struct varcache *vc, int id, const char *interned)
{
	const char **slot;

	if (!interned && !value_of(vc, id))
		return;		/* nothing to replace: no slots made for nothing */
	slot = slot_of(vc, id);
	strpool_put(*slot);
	*slot = interned;
}

void varcache_set_id(struct varcache *vc, int id, const char *value)
{
	size_t len = value ? strnlen(value, VAR_MAX_LEN - 1) : 0;

	put_value(vc, id, len ? strpool_get(value, len) : NULL);
}

bool varcache_set(struct varcache *vc, const char *name, const char *value)
{
	int id = varcache_lookup(name);
	if (id < 0)
		return false;
	varcache_set_id(vc, id, value);
	return true;
}

const char *varcache_get(const struct varcache *vc, int id)
{
	const char *v = value_of(vc, id);
	return v ? v : "";
}

void varcache_clear(struct varcache *vc)
{
	for (int i = 0; i < VAR_COUNT + n_extra; i++)
		put_value(vc, i, NULL);
	free(vc->extra);
	vc->extra = NULL;
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

	for (int i = 0; i < VAR_COUNT + n_extra; i++) {
		const char *want = value_of(client, i);
		if (!want || want == value_of(server, i))	/* interned: same value, same pointer */
			continue;
		if (!started) {
			pktbuf_begin(pb, 'Q');
			started = true;
		}
		pktbuf_put_bytes(pb, "SET ", 4);
		pktbuf_put_bytes(pb, varcache_name(i), strlen(varcache_name(i)));
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
	for (int i = 0; i < VAR_COUNT + n_extra; i++)
		if (!value_of(dst, i) && value_of(defaults, i))
			put_value(dst, i, strpool_share(value_of(defaults, i)));
}

void varcache_copy(struct varcache *dst, const struct varcache *src)
{
	for (int i = 0; i < VAR_COUNT + n_extra; i++)
		put_value(dst, i, strpool_share(value_of(src, i)));
}

/* The ParameterStatus messages in params whose parameter is not tracked per
 * connection: the part of a server's welcome every client shares.  Returns
 * the tracked ones it reported, for varcache_send_all. */
uint32_t varcache_put_untracked(struct pktbuf *pb, const uint8_t *params, size_t len)
{
	uint32_t reported = 0;
	size_t pos = 0;

	while (pos + 5 <= len) {
		uint32_t msg_len = read_be32(params + pos + 1);
		int id = varcache_lookup((const char *)params + pos + 5);
		if (id < 0)
			pktbuf_put_bytes(pb, params + pos, msg_len + 1);
		else
			reported |= 1u << id;
		pos += msg_len + 1;
	}
	return reported;
}

/* A value is sent if set; one the server reported is sent even when empty
 * (application_name is "" by default), as PostgreSQL and PgBouncer do. */
void varcache_send_all(const struct varcache *vc, uint32_t reported, struct pktbuf *pb)
{
	for (int i = 0; i < VAR_COUNT + n_extra; i++) {
		const char *value = value_of(vc, i);
		if (value || (reported & (1u << i)))
			pktbuf_param_status(pb, varcache_name(i), value ? value : "");
	}
}
