/*
 * In-memory files for harnesses whose parser opens files by name
 * (%include in the config, @file in pg_hba.conf).
 *
 * A harness that includes this header links with -Wl,--wrap=fopen, so every
 * fopen() in the code under test reaches __wrap_fopen() below.  Between
 * vfs_begin() and vfs_end() a read-only fopen() opens only the files the
 * harness registered, as memory streams; any other name fails with ENOENT.
 * Fuzz input can thus name any path (/dev/zero, /dev/stdin, a FIFO, the
 * corpus...) and the parser still never reads a real file.  Outside that
 * window, and for writes at any time (libFuzzer writing a crash artifact),
 * fopen() is the real one.
 *
 * vfs_split() cuts one fuzz input into files at VFS_SEPARATOR lines, so a
 * single input describes a main file and the files it includes.
 */
#ifndef PGWARDEN_FUZZ_VIRTUAL_FILES_H
#define PGWARDEN_FUZZ_VIRTUAL_FILES_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define VFS_MAX_FILES 8
#define VFS_SEPARATOR "\n%%\n"

struct vfs_file {
	const char *name;
	const char *data;	/* need not be NUL-terminated */
	size_t len;
};

static struct {
	bool active;
	struct vfs_file files[VFS_MAX_FILES];
	size_t n;
	unsigned opens;		/* fopen() calls while active, found or not */
} vfs;

FILE *__real_fopen(const char *path, const char *mode);
FILE *__wrap_fopen(const char *path, const char *mode);

FILE *__wrap_fopen(const char *path, const char *mode)
{
	if (!vfs.active || mode[0] != 'r' || strchr(mode, '+'))
		return __real_fopen(path, mode);
	vfs.opens++;
	for (size_t i = 0; i < vfs.n; i++) {
		if (strcmp(vfs.files[i].name, path) == 0)
			return fmemopen((void *)vfs.files[i].data, vfs.files[i].len, "r");
	}
	errno = ENOENT;
	return NULL;
}

/*
 * Cut data at each VFS_SEPARATOR into at most n_names files named names[i]
 * (text after the last one that fits goes to the last file).  Files beyond
 * the pieces present do not exist.
 */
static void vfs_split(const uint8_t *data, size_t size, const char *const *names, size_t n_names)
{
	const char *p = (const char *)data, *end = p + size;
	size_t seplen = strlen(VFS_SEPARATOR);

	vfs.n = 0;
	while (vfs.n < n_names && vfs.n < VFS_MAX_FILES) {
		const char *sep = vfs.n + 1 < n_names ? memmem(p, end - p, VFS_SEPARATOR, seplen) : NULL;
		const char *stop = sep ? sep : end;

		vfs.files[vfs.n].name = names[vfs.n];
		vfs.files[vfs.n].data = p;
		vfs.files[vfs.n].len = stop - p;
		vfs.n++;
		if (!sep)
			break;
		p = sep + seplen;
	}
}

static void vfs_begin(void)
{
	vfs.active = true;
	vfs.opens = 0;
}

static void vfs_end(void)
{
	vfs.active = false;
}

#endif
