/*
 * A temporary directory for a cmocka test group: define TMPDIR_TEMPLATE
 * ("/tmp/NAME-XXXXXX") before including; pass setup_tmpdir and
 * teardown_tmpdir to cmocka_run_group_tests.  Teardown removes it whole.
 */
#ifndef UNIT_TMPDIR_H
#define UNIT_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static char tmpdir[] = TMPDIR_TEMPLATE;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup_tmpdir(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmpdir(void **state)
{
	(void)state;
	return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
