/* mgmt/ternd.c: the server's main.
 *
 *   ternd CONFIG        (zoo.cfg; -D flags from SERVER_JVMFLAGS/JVMFLAGS)
 *
 * Standalone without server.N lines (or with one, as ZooKeeper); with several
 * it joins the ensemble as dataDir/myid says (election, then Zab).
 *
 * Start-up order: read the config, recover the store from dataDir/version-2
 * and dataLogDir/version-2, open the WAL (control thread), start the workers,
 * then start the control thread. The main thread only waits for SIGTERM or
 * SIGINT (blocked in every other thread), a WAL failure, or the ensemble
 * asking for a restart.
 *
 * Shutdown order: workers first (no new requests, connections closed), then
 * the control thread finishes what is in flight, then the WAL is flushed and
 * closed, then the store is freed. Exit status: 0 after a clean stop, 1 if the
 * log failed, 2 for a configuration or start-up error. When a SNAP or TRUNC
 * from the leader replaced the state on disk, ternd shuts down the same way
 * and re-executes itself (same pid, same arguments) to recover from it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/close_range.h>
#include <time.h>

#include "common/tn_env.h"
#include "common/tn_err.h"
#include "common/tn_log.h"
#include "common/tn_fs.h"
#include "dataplane/dp.h"
#include "mgmt/admin.h"
#include "mgmt/cfg.h"
#include "mgmt/mgmt.h"
#include "mgmt/peer_udp.h"
#include "store/store.h"

#define REEXEC_ENV "TERN_REEXECUTED"     /* set across ternd's own re-exec */
#define REEXEC_BIND_WAIT_MS 5000u

#define TERND_DIR_MAX (CFG_PATH_MAX + 16)

/* Two servers on one data directory would corrupt each other's log: hold an
 * exclusive lock on it for the life of the process (the fd is never closed). */
static int lock_dir(const char *dir)
{
	char path[TERND_DIR_MAX + 16];
	int fd;

	snprintf(path, sizeof path, "%s/.ternd.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		TN_ERROR("ternd", "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int rc = -errno;
		TN_ERROR("ternd", "%s is in use by another server (%s)", dir, strerror(errno));
		close(fd);
		return rc;
	}
	return 0;
}

static int load_config(const char *path, struct cfg *cfg)
{
	char err[CFG_ERR_MAX] = "";
	int rc = cfg_load(path, cfg, err);

	if (rc < 0) {
		TN_ERROR("ternd", "%s: %s", path, err[0] ? err : tn_strerror(rc));
		return rc;
	}
	tn_log_set_level((enum tn_log_level)cfg->log_level);
	if (cfg->client_port < 0) {
		TN_ERROR("ternd", "%s: clientPort is not set", path);
		cfg_free(cfg);
		return -EINVAL;
	}
	if (cfg->secure_client_port >= 0)
		TN_WARN("ternd", "secureClientPort is set but tern has no TLS; ignored");
	return 0;
}

static int open_store(const struct cfg *cfg, struct store_cfg *scfg, char *snap_dir,
		      char *log_dir, struct store **out)
{
	int rc;

	snprintf(snap_dir, TERND_DIR_MAX, "%s/version-2", cfg->data_dir);
	snprintf(log_dir, TERND_DIR_MAX, "%s/version-2",
		 cfg->data_log_dir[0] ? cfg->data_log_dir : cfg->data_dir);
	if ((rc = tn_mkdir_p(snap_dir)) < 0 || (rc = tn_mkdir_p(log_dir)) < 0) {
		TN_ERROR("ternd", "cannot create %s or %s: %s", snap_dir, log_dir, tn_strerror(rc));
		return rc;
	}
	if ((rc = lock_dir(snap_dir)) < 0 || (strcmp(snap_dir, log_dir) && (rc = lock_dir(log_dir)) < 0))
		return rc;
	*scfg = (struct store_cfg){
		.data_max_bytes = cfg->jute_maxbuffer,
		.extended_types = cfg->extended_types,
		.super_digest = cfg->super_digest,
		.skip_acl = cfg->skip_acl,
		.container_never_used_ms = cfg->container_never_used_ms,
	};
	rc = store_recover(scfg, snap_dir, log_dir, out);
	if (rc < 0)
		TN_ERROR("ternd", "recovery from %s and %s failed: %s", snap_dir, log_dir,
			 tn_strerror(rc));
	return rc;
}

/* Wait for SIGTERM/SIGINT, or the control thread failing. */
static int wait_for_stop(struct ctl *ctl, const sigset_t *set)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = 200 * 1000 * 1000 };

	for (;;) {
		int sig = sigtimedwait(set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			TN_INFO("ternd", "signal %d: shutting down", sig);
			return 0;
		}
		if (ctl_restart_wanted(ctl)) {
			TN_INFO("ternd", "state replaced by the leader: restarting to recover it");
			return 3;
		}
		if (ctl_failed(ctl)) {
			TN_ERROR("ternd", "the txn log failed: shutting down");
			return 1;
		}
	}
}

static const char *jaas_password(void *arg, const char *user)
{
	return cfg_user_password(arg, user);
}

static int run(const struct cfg *cfg, struct store *store, const char *snap_dir,
	       const char *log_dir, const sigset_t *set)
{
	struct ctl_cfg cc = { store, cfg, snap_dir, log_dir, tn_env_real() };
	struct dp_cfg dc = { 0 };
	struct ctl *ctl;
	struct dp *dp;
	int rc;

	if ((rc = ctl_create(&ctl, &cc)) < 0)
		return 2;
	dc.store = store;
	dc.addr = cfg->client_port_address[0] ? cfg->client_port_address : NULL;
	dc.port = (uint16_t)cfg->client_port;
	dc.workers = cfg->workers;
	dc.pin = true;
	dc.frame_max = cfg->jute_maxbuffer;
	dc.max_client_cnxns = cfg->max_client_cnxns;
	dc.max_cnxns = cfg->max_cnxns;
	dc.outstanding_max = cfg->global_outstanding_limit;
	dc.backlog = cfg->client_port_listen_backlog;
	dc.force_plain_recv = getenv("TERN_PLAIN_RECV") != NULL;
	dc.to_ctl = ctl_ring(ctl);
	dc.ctl_wake = ctl_wake;
	dc.ctl_arg = ctl;
	dc.fourlw = ctl_fourlw;
	dc.fourlw_arg = ctl;
	dc.super_digest = cfg->super_digest;
	dc.reconfig_enabled = cfg->reconfig_enabled;
	dc.sasl_password = jaas_password;
	dc.sasl_arg = (void *)cfg;
	/* tern.udp.port unset: the client port, if UDP has it free */
	dc.udp_optional = cfg->udp_port < 0;
	dc.udp_port = (uint16_t)(cfg->udp_port < 0 ? cfg->client_port : cfg->udp_port);
	dc.nic = peer_udp_nic();
	/* re-executed after a SNAP: the old image's rings may still hold the port */
	dc.bind_wait_ms = getenv(REEXEC_ENV) ? REEXEC_BIND_WAIT_MS : 0;
	unsetenv(REEXEC_ENV);   /* tern.dataplane=dpdk: workers serve on its queues too */
	if ((rc = dp_start(&dp, &dc)) < 0) {
		TN_ERROR("ternd", "cannot serve on port %d: %s", cfg->client_port, tn_strerror(rc));
		ctl_destroy(ctl);
		return 2;
	}
	if ((rc = ctl_start(ctl, dp)) < 0) {
		dp_stop(dp);
		dp_destroy(dp);
		ctl_destroy(ctl);
		return 2;
	}
	if (cfg->server_id)
		TN_INFO("ternd", "server %llu of an ensemble of %u, client port %d, data in %s",
			(unsigned long long)cfg->server_id, cfg->server_count, cfg->client_port,
			snap_dir);
	else
		TN_INFO("ternd", "standalone, serving on port %d, data in %s", cfg->client_port,
			snap_dir);
	/* the admin server is optional: a taken port is a warning, as in ZooKeeper */
	struct adm_http *admin = NULL;
	if ((rc = adm_http_start(&admin, cfg, ctl)) < 0)
		TN_WARN("ternd", "admin server on %s:%u not started: %s; serving clients without it",
			cfg->admin_address, cfg->admin_port, tn_strerror(rc));
	rc = wait_for_stop(ctl, set);
	adm_http_stop(admin);
	dp_stop(dp);
	ctl_stop(ctl);
	dp_destroy(dp);
	ctl_destroy(ctl);
	TN_INFO("ternd", "stopped");
	return rc;
}

int main(int argc, char **argv)
{
	char snap_dir[TERND_DIR_MAX], log_dir[TERND_DIR_MAX];
	struct store_cfg scfg;
	struct store *store;
	static struct cfg cfg; /* large: keep it off the stack */
	sigset_t set;
	int rc;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: %s CONFIG\n  CONFIG  a ZooKeeper zoo.cfg (standalone, or "
			"server.N lines and dataDir/myid for an ensemble)\n",
			argv[0]);
		return 2;
	}
	/* Signals go to the main thread only: block them before any thread starts. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (load_config(argv[1], &cfg) < 0)
		return 2;
	if (open_store(&cfg, &scfg, snap_dir, log_dir, &store) < 0) {
		cfg_free(&cfg);
		return 2;
	}
	rc = run(&cfg, store, snap_dir, log_dir, &set);
	store_destroy(store);
	cfg_free(&cfg);
	if (rc == 3) {
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		/* nothing open crosses into the new image: libraries that do not
		 * say O_CLOEXEC (DPDK's runtime files, with their flock()s) would
		 * otherwise hold locks the new image's EAL init then fails on */
		close_range(3, ~0u, CLOSE_RANGE_CLOEXEC);
		setenv(REEXEC_ENV, "1", 1);
		execv("/proc/self/exe", argv);
		TN_ERROR("ternd", "cannot re-execute: %s", strerror(errno));
		return 1;
	}
	return rc;
}
