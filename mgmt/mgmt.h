/* mgmt/mgmt.h: the control thread of a standalone ternd (mgmt/control.c).
 *
 * The control thread is the sequencer and the apply step in one: it owns
 * zxid assignment, store_prep, the WAL appends, store_apply in zxid order,
 * session creation/expiry, container/TTL reaping and snapshot scheduling.
 * Workers reach it through one MPSC ring (ctl_ring) and it answers through
 * each worker's ring (dp_post).
 */
#ifndef TN_MGMT_H
#define TN_MGMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tn_env.h"
#include "dataplane/dp.h"
#include "mgmt/cfg.h"
#include "store/store.h"

struct ctl;

struct ctl_cfg {
	struct store *store;       /* recovered; the control thread becomes its writer */
	const struct cfg *cfg;
	const char *snap_dir;      /* dataDir/version-2 */
	const char *log_dir;       /* dataLogDir/version-2 */
	struct tn_env *env;
};

/* Open the WAL (wal_open on @cc->log_dir) and the ring. Return 0, -errno,
 * -TN_ECORRUPT. */
int ctl_create(struct ctl **out, const struct ctl_cfg *cc);
/* The ring workers push to, and its wake function (dp_cfg.to_ctl/ctl_wake). */
struct dp_ring *ctl_ring(struct ctl *c);
void ctl_wake(void *arg);
/* Start the thread, answering through @dp. Return 0, -errno. */
int ctl_start(struct ctl *c, struct dp *dp);
/* Stop taking requests, finish what is in flight (bounded wait), join. */
void ctl_stop(struct ctl *c);
/* Close the WAL (flushes) and free. After ctl_stop and dp_stop. */
void ctl_destroy(struct ctl *c);
/* dp_cfg.fourlw: the text of a four-letter word. Any worker thread. */
size_t ctl_fourlw(void *arg, const char *cmd, char *out, size_t cap);
/* True once the WAL failed (ternd exits non-zero), or a restart is wanted. */
bool ctl_failed(struct ctl *c);
/* The ensemble replaced the state on disk (SNAP, or TRUNC below what the
 * store applied): ternd stops and re-executes itself to recover from it. */
bool ctl_restart_wanted(struct ctl *c);

/* ---- peer channels (mgmt/peer.c): kernel TCP between ensemble servers ----
 * Driven by the control thread: it adds peer_net_pollfds() to its poll set
 * and calls peer_net_run() with the result. Callbacks run inside
 * peer_net_run() (and peer_net_send() on a failure); @msg is valid only
 * during on_msg. */
struct pollfd;
struct peer_net;

struct peer_cb {
	void *arg;
	void (*on_msg)(void *arg, uint32_t peer, bool election, const uint8_t *msg, size_t len);
	void (*on_up)(void *arg, uint32_t peer, bool election);
	void (*on_down)(void *arg, uint32_t peer, bool election);
};

/* Listen on my quorum and election ports (cfg->server_id's server.N line).
 * Return 0, -EINVAL, -errno. */
int peer_net_create(struct peer_net **out, const struct cfg *cfg, const struct peer_cb *cb);
void peer_net_destroy(struct peer_net *pn);
/* Fill up to @max poll entries (dialing links that are due); return the count. */
unsigned peer_net_pollfds(struct peer_net *pn, struct pollfd *pfd, unsigned max, uint64_t now_ms);
/* Handle the ready entries of a poll over peer_net_pollfds()'s set. */
void peer_net_run(struct peer_net *pn, const struct pollfd *pfd, unsigned n, uint64_t now_ms);
/* Queue one message. Return 0, -ENOTCONN (link down), -ENOBUFS/-ENOMEM (the
 * link was cut). */
int peer_net_send(struct peer_net *pn, uint32_t peer, bool election, const void *msg, size_t len);
void peer_net_flush(struct peer_net *pn);
bool peer_net_is_up(struct peer_net *pn, uint32_t peer, bool election);
void peer_net_stats(struct peer_net *pn, uint64_t *sent, uint64_t *recvd);
/* Reconfig: open links to a new member (copied; no-op if known or us), or
 * close a member's links for good, without a down callback. TCP and UDP/DPDK
 * (mgmt/peer_udp.c) alike. Return 0, -ENOMEM, -EINVAL (UDP: not an IPv4 host). */
int peer_net_member_add(struct peer_net *pn, const struct cfg_server *srv);
void peer_net_member_remove(struct peer_net *pn, uint32_t peer);
/* Bytes over the quorum link to @peer since start (every connection): raw =
 * frames as the Zab layer sent/received them, wire = as they crossed TCP
 * (zstd, tern.peer.compress). compressed: the current connection is.
 * Return 0, or -ENOENT (@peer is not in the ensemble). */
struct peer_bytes {
	uint64_t raw_out, wire_out, raw_in, wire_in;
	bool compressed;
};
int peer_net_link_bytes(struct peer_net *pn, uint32_t peer, struct peer_bytes *out);

/* ---- admin state for the HTTP server (mgmt/ctl_admin.c) ----
 * Any thread may call ctl_admin_fill(); it reads what the four-letter words
 * read (the store, the dataplane's counters, the WAL's stats, atomics of
 * struct ctl) plus what the control thread last published with
 * ctl_admin_publish(): zab_info() and the peer byte counters may only be
 * read there. */
struct adm_info;

#define CTL_ADM_CONNS 1u      /* fill info->conns (cons, stat, sessions) */
#define CTL_ADM_WATCHES 2u    /* fill info->watches (wchc, wchp) */
#define CTL_ADM_SESSIONS 4u   /* fill info->sessions with ephemerals (dump, sessions) */
#define CTL_ADM_MEMBERS_MAX 32u

/* What the control thread published (ctl_admin_publish); @valid false until then. */
struct ctl_zab_pub {
	bool valid;
	uint64_t at_ms;                       /* dp_now_ms() when published */
	uint32_t role, leader, accepted_epoch, current_epoch, round;
	bool serving;
	uint64_t last_logged, last_durable, last_committed, last_proposed;
	uint32_t synced_learners, synced_observers, inflight;
	uint64_t proposals, batches, commits, elections, dropped;
	uint64_t peer_sent, peer_recv;        /* bytes over the quorum/election links */
	uint32_t member_count;
	uint32_t member_id[CTL_ADM_MEMBERS_MAX];
	bool member_up[CTL_ADM_MEMBERS_MAX];  /* quorum link up (self: true) */
	struct peer_bytes member_bytes[CTL_ADM_MEMBERS_MAX]; /* quorum link raw/wire (zstd) */
	/* lag per peer (zab_peer_info): a leader's learners, a learner's leader */
	uint32_t lag_count;
	struct ctl_peer_lag {
		uint32_t id;
		bool observer, synced, live;
		uint64_t zxid, target, lag_txns, lag_ms, report_age_ms;
	} lag[CTL_ADM_MEMBERS_MAX];
};

struct ctl_admin {
	struct adm_info *info;      /* as the four-letter words see it (owned) */
	bool ensemble;
	uint32_t role;              /* enum zab_role; LOOKING while unknown */
	uint32_t leader;            /* 0: none known */
	struct ctl_zab_pub zab;
	struct wal_stats wal;
	uint64_t store_mem_bytes, conns_total;
	unsigned workers;
	struct dp_worker_stats wk[DP_WORKERS_MAX]; /* per worker, @workers of them */
	struct dp_udp_stats udp;    /* the native datagram protocol, all workers */
	uint64_t ctl_ring_depth, ctl_ring_depth_max; /* workers → control ring */
	/* snapshots taken through ctl_admin_snapshot() */
	uint64_t snap_count, snap_ms_sum, snap_ms_max, snap_ms_last;
	bool snap_busy;
	/* the newest snapshot file in the snapshot directory: zxid, mtime (s); -1 none */
	int64_t last_snap_zxid, last_snap_time_s;
	int32_t *session_timeouts;  /* CTL_ADM_SESSIONS: per info->sessions[i], ms */
	void *own;                  /* what the fill allocated */
};

/* Fill @out (zeroed by the caller) with the server's state; @what adds the
 * CTL_ADM_* arrays. Registers the calling thread as a store reader for the
 * walk. Any thread, after ctl_create. Release with ctl_admin_release.
 * Return 0, -ENOMEM. */
int ctl_admin_fill(struct ctl *c, unsigned what, struct ctl_admin *out);
void ctl_admin_release(struct ctl_admin *a);
/* Take a snapshot now (roll the log, write snapshot.<zxid>) on the calling
 * thread, unless one is being written. Return 0 with *@zxid and *@ms,
 * -EBUSY (one is being written), -EAGAIN (not started), or snap_write's -errno. */
int ctl_admin_snapshot(struct ctl *c, uint64_t *zxid, uint64_t *ms);
/* Control thread only, once per loop turn (cheap: it publishes at most every
 * CTL_ADM_PUB_MS): copy zab_info() and the peer counters for ctl_admin_fill. */
void ctl_admin_publish(struct ctl *c);

#endif
