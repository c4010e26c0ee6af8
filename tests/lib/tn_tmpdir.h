/* tests/lib/tn_tmpdir.h: a fresh temp directory per test, removed after. */
#ifndef TN_TMPDIR_H
#define TN_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Make a directory under $TMPDIR (or /tmp) into @buf; return @buf or NULL. */
static inline char *tn_tmpdir_make(char *buf, size_t cap, const char *tag)
{
	const char *base = getenv("TMPDIR");
	snprintf(buf, cap, "%s/tern-%s-XXXXXX", base ? base : "/tmp", tag);
	return mkdtemp(buf);
}

/* rm -rf @dir (test directories only). */
static inline void tn_tmpdir_remove(const char *dir)
{
	char cmd[4200];
	if (!dir || strncmp(dir, "/tmp/", 5) != 0)
		return;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

#endif
