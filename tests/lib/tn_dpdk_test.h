/* tests/lib/tn_dpdk_test.h: what the DPDK unit tests share. Each runs one
 * EAL (once per process) with --no-huge and a --file-prefix of its own, and
 * removes the runtime directory DPDK 22.11 leaves behind, at exit (a failed
 * assertion leaves a test early). Header-only: one binary, one test. */
#ifndef TN_DPDK_TEST_H
#define TN_DPDK_TEST_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataplane/dp_port.h"

static char tn_dpdk_prefix[64];

static int tn_dpdk_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);   /* best effort */
	return 0;
}

static void tn_dpdk_rm_runtime_dir(void)
{
	char dir[128];
	snprintf(dir, sizeof dir, "/var/run/dpdk/%s", tn_dpdk_prefix);
	nftw(dir, tn_dpdk_rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* @c's EAL words for the vdev @vdev, file prefix "<@tag>-<pid>"; its runtime
 * directory is removed at exit. */
static void tn_dpdk_eal(struct dp_port_cfg *c, const char *vdev, const char *tag)
{
	static const char *const words[] = { "-l", "0", "--no-huge", "-m", "128", "--no-pci",
					     "--no-telemetry", "--log-level=lib.eal:error", "--vdev" };
	for (unsigned i = 0; i < sizeof words / sizeof words[0]; i++)
		c->eal_argv[c->eal_argc++] = words[i];
	c->eal_argv[c->eal_argc++] = vdev;
	snprintf(tn_dpdk_prefix, sizeof tn_dpdk_prefix, "%s-%d", tag, (int)getpid());
	c->eal_argv[c->eal_argc++] = "--file-prefix";
	c->eal_argv[c->eal_argc++] = tn_dpdk_prefix;
	atexit(tn_dpdk_rm_runtime_dir);
}

#endif
