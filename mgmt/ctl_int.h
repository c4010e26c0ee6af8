/* mgmt/ctl_int.h: private to the control thread's two files.
 *
 * mgmt/control.c is the sequencer and apply step of every server: requests
 * from the workers, prep, the WAL, apply in zxid order, replies, sessions,
 * expiry, snapshots, four-letter words. mgmt/quorum.c is what an ensemble
 * member adds on the same thread: the host of the Zab core (peer channels,
 * forwarding, commits), and read-only mode. Both share struct ctl and the
 * pending FIFO below; nothing outside mgmt/ includes this header.
 */
#ifndef TN_MGMT_CTL_INT_H
#define TN_MGMT_CTL_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "consensus/zab.h"
#include "dataplane/dp.h"
#include "dataplane/zkp.h"
#include "mgmt/mgmt.h"
#include "store/store.h"

#define CTL_SESS_BUCKETS 4096u
#define CTL_BATCH 4096u           /* ring messages per loop turn */
#define CTL_STOP_WAIT_MS 10000u   /* shutdown: wait this long for the WAL */
#define CTL_ARENA_MIN 16384u
#define CTL_ARENA_MAX (256u << 20)
#define CTL_POLL_MAX 160u         /* eventfd + peer sockets */
#define CTL_ENS_POLL_MS 20        /* ensemble: longest sleep (election timers) */
#define CTL_ENS_STOP_WAIT_MS 1000u
#define CTL_TOUCH_MAX 65536u      /* sessions per touch message */

enum pend_kind { PK_TXN, PK_SYNC, PK_NEW_SESSION, PK_DEAD /* failed after queueing */ };

struct pend {
	struct pend *next;
	enum pend_kind kind;
	tn_zxid zxid;
	struct dp_msg *m;          /* the request, NULL for internal ones */
	int32_t xid, type;         /* the client's request */
	int32_t timeout_ms;        /* PK_NEW_SESSION */
	bool read_only;            /* PK_NEW_SESSION: echo flag present */
	bool has_read_only;
	const char *sync_path;
	struct txn txn;
	uint8_t *arena;            /* decode memory (the txn may borrow from it) */
	uint8_t *arena2;           /* prep memory */
	/* ensemble learner: the request goes to the leader and completes when its
	 * txn comes back in a COMMIT (matched by session and cxid) */
	bool fwd;
	bool held;                 /* not forwarded yet: behind a sync */
	uint64_t session;
	uint64_t sync_tag;         /* PK_SYNC on a learner: its zab_sync tag */
	bool foreign;              /* leader: a learner's request, applied from its COMMIT */
	bool queued;               /* already in the FIFO (held, then released) */
	size_t arena_cap;
};

struct ctl {
	struct ctl_cfg cc;
	struct store *s;
	struct dp *dp;
	_Atomic(struct dp *) dp_pub; /* set once serving; four-letter words read it */
	struct wal *wal;
	struct dp_ring *ring;
	int efd;
	_Atomic int sleeping;
	_Atomic bool stop;
	_Atomic bool failed;
	_Atomic uint64_t durable;  /* highest durable zxid (log thread → here) */
	pthread_t th;
	bool running;
	tn_zxid next_zxid;         /* the last zxid handed out */
	uint64_t next_session;
	struct pend *head, *tail;
	_Atomic uint64_t outstanding; /* read by four-letter words */
	struct dp_sess *sess[CTL_SESS_BUCKETS];
	/* timers, monotonic ms */
	uint64_t t_expiry, t_reap, t_purge, t_start;
	/* snapshots */
	uint64_t since_snap, snap_at;
	pthread_t snap_th;
	_Atomic bool snap_busy;
	bool snap_joinable;
	bool purge_due;
	uint8_t *enc;              /* txn encode buffer */
	size_t enc_cap;
	/* ensemble (zab == NULL: standalone). See the ensemble section below. */
	struct zab *zab;
	struct peer_net *pn;
	enum zab_role role;
	uint32_t leader;
	_Atomic bool serving;      /* clients may be answered; always true standalone */
	_Atomic int role_pub;      /* enum zab_role, for four-letter words */
	_Atomic bool restart;      /* the state was replaced on disk: ternd re-executes */
	tn_zxid told_durable;      /* last zab_on_logged */
	uint64_t sync_next, sync_done;
	unsigned syncs;            /* PK_SYNC items in the FIFO (ensemble) */
	uint64_t t_touch;
	uint8_t *fwd;              /* forward encode buffer */
	struct ctl_reconf *reconf; /* dynamic config (ctl_reconf.c) */
	size_t fwd_cap;
};

/* ---- control.c, for quorum.c ---- */

struct dp_sess *ctl_sess_find(struct ctl *c, uint64_t id);
struct dp_sess *ctl_sess_add(struct ctl *c, uint64_t id, int32_t timeout_ms);
void ctl_sess_remove(struct ctl *c, uint64_t id);
/* ZooKeeper's session password for @id (java.util.Random(id ^ 0xB3415C00)). */
void ctl_sess_passwd(uint64_t id, uint8_t out[ZKP_PASSWD_LEN]);
uint64_t ctl_new_session_id(struct ctl *c);
void ctl_post_token(struct ctl *c, uint64_t tok, uint8_t kind, const void *p, uint32_t len);
/* Encode a framed reply (or ConnectResponse) and post it to @req's connection. */
void ctl_post_rsp(struct ctl *c, const struct dp_msg *req, uint8_t kind, uint8_t flags,
		  const struct zkp_response *rsp, const struct zkp_connect_rsp *crsp,
		  struct dp_sess *sess);
void ctl_post_hdr(struct ctl *c, const struct dp_msg *req, int32_t xid, int32_t type,
		  int32_t err, uint8_t flags);
struct pend *ctl_pend_new(struct dp_msg *m, enum pend_kind kind, size_t arena_bytes);
void ctl_pend_push(struct ctl *c, struct pend *p);
void ctl_pend_free(struct pend *p);
/* SystemError for a request, a closed connection for a handshake. */
void ctl_fail_client(struct ctl *c, struct pend *p);
/* Prep @req into @p with the next zxid, log or propose it, queue @p. */
void ctl_submit_txn(struct ctl *c, struct pend *p, struct store_req *req, size_t hint);
/* Apply @p's txn, post its watch events and its reply. */
void ctl_complete_txn(struct ctl *c, struct pend *p);
/* The WAL's durability callback (log thread). */
void ctl_wal_durable(void *arg, tn_zxid durable, int err);
struct adm_info;
/* The counters the four-letter words and the admin server share. Any thread. */
void ctl_info_fill(struct ctl *c, struct dp *dp, struct adm_info *in);

/* ---- ctl_reconf.c: dynamic reconfiguration ---- */

struct zab_cfg;
struct zkp_request;
/* Before zab_create: the committed config (recovered /zookeeper/config, else
 * zoo.cfg's, shown in /zookeeper/config as version=0) into @zc's members. */
int ctl_reconf_init(struct ctl *c, struct zab_cfg *zc);
/* After peer_net_create: links to the members zoo.cfg did not list. */
void ctl_reconf_peers(struct ctl *c);
/* ZAB_ACT_CONFIG: a vote from @from carried committed config @version
 * (/zookeeper/config text): newer than ours, it becomes ours as if its
 * COMMIT had applied here (membership, peer links, zoo.cfg.dynamic). */
void ctl_reconf_adopt(struct ctl *c, tn_zxid version, const uint8_t *data, size_t len,
		      uint32_t from);
void ctl_reconf_free(struct ctl *c);
/* Leader: check a reconfig request and propose its txn (or an error txn). */
void ctl_reconf_submit(struct ctl *c, struct pend *p, const struct zkp_request *rq,
		       const struct store_auth *au);
/* After applying @t: a setData of /zookeeper/config becomes the membership. */
void ctl_reconf_applied(struct ctl *c, const struct txn *t);
/* Serving, or a txn applied: a recovered config txn now known committed
 * becomes the membership. */
void ctl_reconf_check(struct ctl *c);
/* A txn went to the log: a config txn is noted (zab_note_config). */
void ctl_reconf_logged(struct ctl *c, tn_zxid zxid, const uint8_t *data, size_t len);

/* ---- quorum.c, for control.c ---- */

bool ctl_is_learner(const struct ctl *c);
/* Ensemble: log (leader) or forward (learner) a write, or hold it behind a sync. */
void ctl_ens_submit(struct ctl *c, struct pend *p, struct store_req *req, size_t hint);
/* Complete finished syncs at the head of the FIFO and release what they held. */
void ctl_pump(struct ctl *c);
/* One loop turn of the ensemble side; return the work done. */
unsigned ctl_ens_turn(struct ctl *c);
/* Create the Zab core and the peer channels (server.N config). */
int ctl_ens_create(struct ctl *c);
void ctl_connect_read_only(struct ctl *c, struct dp_msg *m, const struct zkp_connect_req *cr);
void ctl_request_read_only(struct ctl *c, struct dp_msg *m, const struct zkp_request *rq);

#endif
