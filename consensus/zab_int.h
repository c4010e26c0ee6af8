/* consensus/zab_int.h: private to consensus/ (and its tests). */
#ifndef ZAB_INT_H
#define ZAB_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tn_assert.h"
#include "common/tn_rd.h"
#include "consensus/zab.h"

#define ZAB_MSG_VERSION 1u
#define ZAB_SYNC_PENDING_MAX 4096u   /* outstanding zab_sync barriers per server */
#define ZAB_RESEND_MS_MIN 20u        /* floor of the election/FOLLOWERINFO resend period */
#define ZAB_ZXID_UNKNOWN UINT64_MAX  /* FOLLOWERINFO prev_epoch_last when unknown */
#define ZAB_ENTRY_HDR 12u            /* zxid u64 + len u32 before each txn */

/* Message kinds (the byte after the version). */
enum zab_mkind {
	ZAB_M_VOTE = 1, /* election channel */
	ZAB_M_FOLLOWERINFO = 16,
	ZAB_M_LEADERINFO,
	ZAB_M_ACKEPOCH,
	ZAB_M_DIFF,
	ZAB_M_TRUNC,
	ZAB_M_SNAP,
	ZAB_M_PROPOSAL,
	ZAB_M_NEWLEADER,
	ZAB_M_ACKNL,
	ZAB_M_UPTODATE,
	ZAB_M_ACK,
	ZAB_M_COMMIT,
	ZAB_M_INFORM,
	ZAB_M_PING,
	ZAB_M_PONG,
	ZAB_M_REQUEST,
	ZAB_M_SYNCREQ,
	ZAB_M_SYNCRESP,
	ZAB_M_LEAVE,    /* learner master -> observer: follow someone else */
	ZAB_M_END
};

/* One decoded message. Which fields a kind uses is in zab_msg.c's table and
 * docs/FORMATS.md. @data points into the input (SNAP, REQUEST: the bytes;
 * PROPOSAL, INFORM: the @count encoded entries). */
struct zab_msg {
	uint8_t kind;
	uint8_t state;       /* VOTE: sender's role */
	bool observer;       /* FOLLOWERINFO */
	uint32_t round, leader, epoch, nonce, accepted_epoch, current_epoch, count;
	uint64_t zxid, zxid2, tag;
	const uint8_t *data;
	size_t len;
};

int zab_msg_decode(const void *buf, size_t len, struct zab_msg *m);
/* Encode @m into @buf (cap bytes); return the encoded length (> cap: nothing
 * usable was written, call again with a buffer that large). */
size_t zab_msg_encode(const struct zab_msg *m, uint8_t *buf, size_t cap);
/* Walk PROPOSAL/INFORM entries (already validated by decode). */
int zab_entry_next(struct tn_rd *r, tn_zxid *zxid, const uint8_t **p, uint32_t *len);

/* ---- core internals ---- */

struct hent {
	tn_zxid zxid;
	uint32_t len;
	uint8_t *data;
	uint64_t at_ms;  /* when the core took it in (proposed / received): lag in ms */
};

/* The log as the core knows it: @base is a zxid the log is known to hold (or
 * its snapshot state), then entries in zxid order, all > base. Committed
 * entries are trimmed from the front to the caps; uncommitted ones never. */
struct zab_hist {
	struct hent *v;
	uint32_t head, n, cap;
	uint64_t bytes;
	tn_zxid base;
};

struct zvote {
	uint32_t leader;
	tn_zxid zxid;
	uint32_t epoch;
};

struct peer_vote {
	bool valid;
	uint8_t state;
	uint32_t round;
	struct zvote v;
};

enum ln_state { LN_NONE, LN_INFO, LN_WAIT_ACKEPOCH, LN_ACKEPOCH, LN_SNAP_PENDING, LN_SYNCING, LN_SYNCED };

/* The leader's view of one learner. */
struct learner {
	uint8_t st;
	bool observer;
	uint32_t nonce, accepted_epoch, current_epoch;
	tn_zxid last_logged, prev_last, acked, nl_zxid;
	uint64_t heard_ms, pong_seq;
	/* the last PONG: its durable zxid, our commit then, and when (zab_peer_info) */
	tn_zxid pong_zxid, pong_commit;
	uint64_t pong_ms;
};

enum lphase { LP_NONE, LP_CONNECT, LP_SYNC, LP_SYNC_TXNS, LP_NL_PENDING, LP_WAIT_UPTODATE, LP_BROADCAST };

struct act_int {
	uint8_t kind, role;
	bool election, serving;
	uint32_t peer, leader, epoch, a_ep, c_ep;
	tn_zxid zxid;
	size_t off, len;
	uint64_t tag;
};

struct zsync {
	uint32_t peer; /* 0: local */
	uint64_t tag;
	tn_zxid zxid;
	uint64_t seq;  /* leader: PING round a voter quorum must answer first */
};

struct zab {
	struct zab_cfg cfg;
	uint32_t voters, quorum, my_idx;
	bool i_observer, started, failed;
	uint64_t now_ms;

	/* role and the last STATE reported */
	enum zab_role role;
	uint32_t leader, epoch_shown;
	bool serving;
	enum zab_role st_role;
	uint32_t st_leader, st_epoch;
	bool st_serving;

	uint32_t accepted_epoch, current_epoch;
	tn_zxid last_logged, last_durable, last_committed, last_proposed, last_flushed;
	struct zab_hist h;
	bool peer_up[ZAB_MEMBERS_MAX];

	/* election */
	uint32_t round;
	struct zvote vote, decided;
	uint32_t decided_round;
	uint64_t decide_at, resend_at;
	struct peer_vote recv[ZAB_MEMBERS_MAX], outset[ZAB_MEMBERS_MAX];

	/* leader */
	uint32_t new_epoch, prev_current_epoch;
	uint32_t epoch_hint; /* highest acceptedEpoch a learner showed us */
	bool epoch_decided, epoch_acked, established;
	uint64_t lead_start_ms, quorum_lost_ms, ping_seq;
	struct learner ln[ZAB_MEMBERS_MAX];

	/* learner */
	uint8_t lphase;
	uint32_t nonce, nonce_ctr, nl_epoch;
	uint64_t heard_ms, fi_resend_at;
	tn_zxid nl_zxid, leader_commit, last_acked;

	/* sync barriers: leader (peer 0 = local) or learner (answered, waiting) */
	struct zsync *syncs;
	uint32_t nsync;

	/* actions and their bytes */
	struct act_int *acts;
	uint32_t act_head, act_n, act_cap;
	uint8_t *arena;
	size_t arena_len, arena_cap;
	bool oom;

	uint64_t proposals, batches, commits, elections, dropped;

	/* reconfig (zab_reconf.c), leader: the config proposed at @joint_zxid and
	 * not applied yet; txns >= it need a quorum of it as well */
	bool joint;
	/* the committed config as the host encodes it (zab_config_blob), sent
	 * in every vote; @cfg_offered: the newest version handed to the host
	 * from a vote (ZAB_ACT_CONFIG), so each is offered once */
	uint8_t *cfg_blob;
	size_t cfg_blob_len;
	tn_zxid cfg_version, cfg_offered;
	tn_zxid joint_zxid;
	uint32_t joint_count;
	struct zab_member joint_members[ZAB_MEMBERS_MAX];

	/* learner master (zab_master.c): our upstream, the next candidate to
	 * try, downstream pings, and relayed barriers; z->ln holds downstreams */
	uint32_t upstream, up_next;
	uint64_t m_ping_at, m_ping_seq, m_relay_seq;
	struct zrelay *m_relay;
};

/* zab.c */
int zab_idx(const struct zab *z, uint32_t id);
bool zab_is_voter(const struct zab *z, uint32_t id);
void zab_set_role(struct zab *z, enum zab_role role, uint32_t leader);
void zab_set_serving(struct zab *z, bool serving);
void zab_emit_state(struct zab *z);
void zab_send(struct zab *z, uint32_t peer, const struct zab_msg *m);
size_t zab_encode_arena(struct zab *z, const struct zab_msg *m);
size_t zab_arena_grow(struct zab *z, size_t len);
void zab_send_off(struct zab *z, uint32_t peer, bool election, size_t off, size_t len);
void zab_act_persist(struct zab *z);
void zab_act_append(struct zab *z, tn_zxid zxid, const void *data, uint32_t len);
void zab_act_commit_to(struct zab *z, tn_zxid upto);
void zab_act_truncate(struct zab *z, tn_zxid zxid);
void zab_act_simple(struct zab *z, enum zab_act_kind kind, uint32_t peer, tn_zxid zxid, uint64_t tag);
void zab_act_data(struct zab *z, enum zab_act_kind kind, uint32_t peer, tn_zxid zxid,
		  const void *data, size_t len);
void zab_go_looking(struct zab *z);
uint64_t zab_resend_ms(const struct zab *z);
bool zab_sync_push(struct zab *z, uint32_t peer, uint64_t tag, tn_zxid zxid, uint64_t seq);
void zab_syncs_answer(struct zab *z, uint64_t confirmed_seq);
void zab_sync_drop_peer(struct zab *z, uint32_t peer);

/* history */
int zab_hist_add(struct zab *z, tn_zxid zxid, const void *data, uint32_t len);
const struct hent *zab_hist_at(const struct zab *z, uint32_t i);
bool zab_hist_contains(const struct zab *z, tn_zxid zxid);
/* Index of the first entry with zxid > @zxid (n if none). */
uint32_t zab_hist_after(const struct zab *z, tn_zxid zxid);
void zab_hist_truncate(struct zab *z, tn_zxid zxid);
void zab_hist_reset(struct zab *z, tn_zxid base);
void zab_hist_trim(struct zab *z);
tn_zxid zab_prev_epoch_last(const struct zab *z);

/* zab_elect.c */
void zab_elect_start(struct zab *z);
void zab_elect_on_vote(struct zab *z, uint32_t peer, const struct zab_msg *m);
void zab_elect_tick(struct zab *z);
void zab_elect_peer_down(struct zab *z);

/* zab_leader.c */
void zab_leader_start(struct zab *z);
void zab_leader_on_msg(struct zab *z, uint32_t peer, const struct zab_msg *m);
void zab_leader_tick(struct zab *z);
void zab_leader_peer_down(struct zab *z, uint32_t peer);
void zab_leader_on_logged(struct zab *z);
int zab_leader_snap_send(struct zab *z, uint32_t peer, tn_zxid zxid, const void *snap, size_t len);
void zab_leader_flush(struct zab *z);
int zab_leader_sync(struct zab *z, uint64_t tag);

/* zab_reconf.c: @c clamped to what the joint quorum allows */
tn_zxid zab_reconf_clamp(const struct zab *z, tn_zxid c);
/* A leader holding an uncommitted config txn establishes only with a synced
 * quorum of that config as well. */
bool zab_reconf_may_establish(const struct zab *z);
/* Leader, deciding and acking its epoch: with a config txn pending, a voter
 * quorum of the NEW config must take part too (learners at @st or later, or
 * us), as of the old one (the caller counts those): else a leader of a stale
 * config could reuse an epoch, or outrank a newer history with an epoch its
 * new-config peers never saw. Always true without one. */
bool zab_reconf_quorum_at(const struct zab *z, enum ln_state st);
/* The learner at index @k is a voter of a pending new config. */
bool zab_reconf_joint_voter(const struct zab *z, uint32_t k);

/* zab_learner.c */
void zab_learner_start(struct zab *z, uint32_t leader);
void zab_learner_on_msg(struct zab *z, uint32_t peer, const struct zab_msg *m);
void zab_learner_tick(struct zab *z);
void zab_learner_peer_up(struct zab *z, uint32_t peer);
void zab_learner_on_logged(struct zab *z);
int zab_learner_forward(struct zab *z, const void *req, size_t len);
int zab_learner_sync(struct zab *z, uint64_t tag);

/* zab_master.c: a serving learner feeding observers (learner master) */
#define ZAB_MASTER_TAG (1ull << 63) /* relayed barrier tags (zab_sync refuses it) */
struct zrelay {
	uint32_t peer, nonce;
	uint64_t tag, seq;
};
uint32_t zab_master_pick(struct zab *z, uint32_t leader);
void zab_master_on_msg(struct zab *z, uint32_t peer, const struct zab_msg *m);
void zab_master_relay(struct zab *z, tn_zxid upto);
void zab_master_after_commit(struct zab *z);
void zab_master_on_syncresp(struct zab *z, const struct zab_msg *m);
void zab_master_tick(struct zab *z);
void zab_master_peer_down(struct zab *z, uint32_t peer);
void zab_master_stop(struct zab *z);
int zab_master_snap_send(struct zab *z, uint32_t peer, tn_zxid zxid, const void *snap, size_t len);

#endif
