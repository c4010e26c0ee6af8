/* consensus/zab.h: the pure Zab core (the only consensus header).
 *
 * One struct zab is one server's replication state machine: fast leader
 * election, discovery, synchronization and broadcast. It does no I/O and
 * reads no clock: the host feeds it events (zab_on_*, zab_tick, zab_propose
 * ...) with the current monotonic time, and drains the actions it produced
 * (zab_next_action) in order. ternd's control thread is the real host; the
 * seeded simulator in tests/sim/ is the other, which is how every line here
 * runs under thousands of schedules with invariant checks.
 *
 * The host's duties, in the order actions come out:
 *   SEND           deliver @msg to peer @peer over the election channel
 *                  (@election) or the quorum channel. Channels are reliable
 *                  and FIFO while up; a broken channel may lose messages and
 *                  is reported with zab_on_peer_down (then _up when it is
 *                  back). Election messages may also be lost, duplicated or
 *                  reordered: the core tolerates it.
 *   PERSIST_EPOCH  write acceptedEpoch/currentEpoch durably BEFORE executing
 *                  the next action (ZooKeeper's files of the same names).
 *   LOG_APPEND     append the txn to the log; later call zab_on_logged with
 *                  the highest zxid that is durable (cumulative).
 *   LOG_TRUNCATE   drop every logged txn above @zxid (and any state derived
 *                  from them: the host reloads its store if it had applied
 *                  past @zxid), before the next action. Durability reports
 *                  stay in log order: a zab_on_logged after it covers only
 *                  appends made after it (reports above the new end are
 *                  clamped).
 *   SNAP_SEND      (leader, or a learner master) answer with zab_snap_send():
 *                  a snapshot of the host's applied state, whose zxid is the last COMMIT the
 *                  host executed. Synchronous: before the next zab call.
 *   SNAP_INSTALL   (learner) replace the whole state with the snapshot at
 *                  @zxid and drop logged txns above @zxid; durably.
 *   COMMIT         apply the txn (zxids strictly increase across COMMITs).
 *   REQUEST        (leader) a learner forwarded host bytes (a client write,
 *                  session touches...): the host preps and zab_propose()s.
 *   SYNC_DONE      a zab_sync() completed: every txn the leader had proposed
 *                  when it saw the sync has been COMMITted here.
 *   STATE          role/leader/epoch changed, or @serving flipped. Serving
 *                  means clients may be answered: a leader with a synced
 *                  quorum, or a learner after UPTODATE. When serving drops,
 *                  the host fails its pending requests (connection loss).
 *
 * Pointers inside an action stay valid until the next call into the core
 * (copy REQUEST bytes before calling zab_propose with them).
 * Quorum channels are assumed down until zab_on_peer_up reports them.
 *
 * Protocol summary (docs/FORMATS.md has the message layouts):
 *   LOOKING: votes (epoch, last zxid, id), the larger wins; each vote carries
 *     the sender's round and state. A vote reaching a quorum of voters is
 *     kept for finalize_wait_ms without a better one, then decided. Servers
 *     that are FOLLOWING/LEADING answer a LOOKING server with their leader,
 *     so a joiner follows a running leader without a new election.
 *   Discovery: learners send FOLLOWERINFO(acceptedEpoch, last zxid); the
 *     leader waits for a voter quorum, takes max(acceptedEpoch)+1, sends
 *     LEADERINFO; learners persist acceptedEpoch and ACKEPOCH.
 *   Sync: per learner, DIFF (txns it lacks from the leader's history), TRUNC
 *     then DIFF (it holds a tail the leader does not), or SNAP (too far
 *     behind the history), then NEWLEADER; the learner logs, persists
 *     currentEpoch, and ACKs; at a voter quorum of NEWLEADER acks the leader
 *     sends UPTODATE (with its commit point) and serves. Late joiners are
 *     synced the same way while broadcast runs.
 *   Broadcast: zab_propose() batches txns until zab_flush(); one PROPOSAL per
 *     batch to each synced follower, INFORM (txns already committed) to
 *     observers; ACKs are cumulative (durable through zxid); a txn commits
 *     when a voter quorum (the leader's own durable log included) has it;
 *     COMMIT is cumulative too.
 *   Sync barriers: the leader answers one (SYNCRESP, or SYNC_DONE locally)
 *     once what it had proposed is committed AND a voter quorum answered a
 *     PING sent after the barrier, so a deposed leader that has not noticed
 *     yet cannot complete a sync.
 *   A leader that meets a learner whose acceptedEpoch is above its own epoch
 *     steps down (that learner would refuse it) and next time picks an epoch
 *     above it. A follower whose leader's VOTE shows a new election round
 *     goes LOOKING at once instead of waiting syncLimit.
 *   Liveness: the leader PINGs every tick; a learner that hears nothing from
 *     its leader for syncLimit ticks (initLimit while syncing) goes LOOKING; a
 *     leader that loses a voter quorum for syncLimit ticks goes LOOKING.
 *   Epoch roll-over: when the counter would pass zab_cfg.zxid_counter_max the
 *     leader stops proposing and steps down, so a new epoch starts.
 *   Reconfiguration (zab_reconf.c): the new config is an ordinary txn the
 *     core never parses. The leader proposes it with zab_propose_config; from
 *     its zxid on, commits need a voter quorum of the old AND the new config
 *     (joint quorum), and a leader that inherited such an uncommitted txn
 *     (zab_note_config, called by hosts when they log one) establishes only
 *     with synced quorums of both. Every host applies the committed config
 *     with zab_set_config when it executes that COMMIT (or, for a config it
 *     recovered, once zab_known_committed reaches it): the member table is
 *     rebuilt by id; a leader that is no voter any more steps down (a new
 *     election among the new voters), a learner whose role flipped
 *     reconnects, a removed server stays silent. A learner whose announced
 *     role disagrees with the leader's config (it missed a reconfig) is synced
 *     as a non-voting observer, so the config txn reaches it. Election answers
 *     from every member count toward finding a running leader.
 *     Votes carry the sender's committed config (zab_config_blob): a
 *     LOOKING server that hears a newer one adopts it (ZAB_ACT_CONFIG) and
 *     votes again under it, as in ZooKeeper.
 *   Learner masters (consensus/zab_master.c; ZooKeeper 3.6's ObserverMaster
 *     plus chaining): an observer with zab_cfg.upstream syncs from and
 *     follows the first candidate whose channel is up (a follower or another
 *     observer; the leader in the list is skipped), falling back down the
 *     list and finally to the leader, and
 *     resumes from its last zxid. Any serving learner is a master: it answers
 *     an observer's FOLLOWERINFO with LEADERINFO (its epoch), syncs it from
 *     its own committed history (DIFF, TRUNC, or SNAP through SNAP_SEND), then
 *     relays each commit as INFORM, forwards REQUEST and SYNCREQ upstream and
 *     answers the barrier after the INFORMs it covers. A master that stops
 *     serving, or is asked by its own upstream (a loop), sends LEAVE: the
 *     observer goes LOOKING and tries its next candidate.
 */
#ifndef ZAB_H
#define ZAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store-t.h"

#define ZAB_MEMBERS_MAX 32u           /* voters + observers */
#define ZAB_MSG_MAX (64u << 20)       /* largest message other than SNAP */
#define ZAB_SNAP_MAX (1u << 30)       /* largest snapshot message */
#define ZAB_UPSTREAM_MAX 8u           /* learner masters an observer may try */

enum zab_role { ZAB_LOOKING, ZAB_FOLLOWING, ZAB_LEADING, ZAB_OBSERVING };

struct zab_member {
	uint32_t id;                  /* server.N: 1..255 in ZooKeeper, any non-zero here */
	bool observer;
};

struct zab_cfg {
	uint32_t my_id;
	uint32_t member_count;
	struct zab_member members[ZAB_MEMBERS_MAX]; /* includes my_id */
	uint32_t tick_ms;             /* tickTime */
	uint32_t init_limit;          /* ticks a learner may take to sync */
	uint32_t sync_limit;          /* ticks of silence before a peer is dropped */
	uint32_t finalize_wait_ms;    /* election: hold a quorum vote this long (200) */
	uint32_t batch_txns_max;      /* txns per PROPOSAL (0: 1024) */
	uint32_t batch_bytes_max;     /* bytes per PROPOSAL (0: 1 MiB) */
	uint32_t inflight_max;        /* proposed, uncommitted txns (0: 65536) */
	uint32_t history_max;         /* committed txns kept for DIFF (0: 100000) */
	uint64_t history_bytes_max;   /* and their bytes (0: 256 MiB) */
	uint32_t zxid_counter_max;    /* roll the epoch before the counter passes it (0: 0xfffffff0) */
	/* observers: servers to follow before the leader, in preference order
	 * (0 ends the list; not my_id, no repeats; ignored while we are a voter,
	 * and so are entries that are not members); empty: the leader */
	uint32_t upstream[ZAB_UPSTREAM_MAX];
};

/* What the host recovered from disk before zab_create. */
struct zab_durable {
	uint32_t accepted_epoch;
	uint32_t current_epoch;
	tn_zxid last_logged;          /* last txn in the log */
	tn_zxid last_applied;         /* last txn in the host's state (recovery applies the whole log) */
};

enum zab_act_kind {
	ZAB_ACT_SEND = 1,
	ZAB_ACT_PERSIST_EPOCH,
	ZAB_ACT_LOG_APPEND,
	ZAB_ACT_LOG_TRUNCATE,
	ZAB_ACT_SNAP_SEND,
	ZAB_ACT_SNAP_INSTALL,
	ZAB_ACT_COMMIT,
	ZAB_ACT_REQUEST,
	ZAB_ACT_SYNC_DONE,
	ZAB_ACT_STATE,
	ZAB_ACT_CONFIG,
};

struct zab_act {
	enum zab_act_kind kind;
	uint32_t peer;                /* SEND: to; SNAP_SEND: for; REQUEST: from */
	bool election;                /* SEND: the election channel */
	tn_zxid zxid;                 /* LOG_APPEND, LOG_TRUNCATE, SNAP_INSTALL, COMMIT; CONFIG: version */
	const uint8_t *data;          /* SEND: message; LOG_APPEND/COMMIT: txn; SNAP_INSTALL; REQUEST;
				       * CONFIG: the config blob */
	size_t len;
	uint64_t tag;                 /* SYNC_DONE */
	uint32_t accepted_epoch, current_epoch; /* PERSIST_EPOCH */
	/* STATE */
	enum zab_role role;
	uint32_t leader;              /* 0 = none known */
	uint32_t epoch;
	bool serving;
};

struct zab_info {
	enum zab_role role;
	uint32_t leader;
	bool serving;
	uint32_t accepted_epoch, current_epoch;
	tn_zxid last_logged;          /* appended (durable or not) */
	tn_zxid last_durable;         /* reported by zab_on_logged */
	tn_zxid last_committed;       /* highest COMMIT action emitted */
	tn_zxid last_proposed;        /* leader */
	uint32_t round;               /* election round (logical clock) */
	uint32_t synced_learners;     /* leader: learners in broadcast */
	uint32_t inflight;            /* leader: proposed, uncommitted */
	uint64_t proposals, batches, commits, elections; /* counters */
	bool failed;                  /* stopped for good: the log failed, the recovered log
				       * does not cover last_logged, or epochs ran out */
	uint64_t dropped;             /* malformed or unexpected messages (added) */
	uint32_t upstream;            /* learner: the server we sync from (the leader or a master) */
	uint32_t synced_observers;    /* leader or master: observers in our broadcast stream */
};

struct zab;

/* Validate @cfg (my_id a member, ids unique and non-zero, at least one voter)
 * and allocate. Starts LOOKING at the first zab_tick. Return 0, -EINVAL, -ENOMEM. */
int zab_create(struct zab **out, const struct zab_cfg *cfg, const struct zab_durable *d,
	       uint64_t now_ms);
void zab_destroy(struct zab *z);

/* Optional, before the first tick: the log tail the host recovered (in zxid
 * order, all <= d->last_logged), so DIFF can serve learners after a restart
 * instead of SNAP. Copied. Required when d->last_applied < d->last_logged:
 * the txns above last_applied must all be loaded, else the first tick marks
 * the core failed (LOOKING, never serving). Txns <= last_applied only mark a
 * point to DIFF from (their bytes are not kept).
 * Return 0, -ENOMEM, -EINVAL (out of order, above last_logged, after the
 * first tick). */
int zab_history_load(struct zab *z, tn_zxid zxid, const void *txn, size_t len);

/* ---- events ---- */

/* Timers: election retries and finalize wait, pings, liveness. */
void zab_tick(struct zab *z, uint64_t now_ms);
/* A whole message from @peer (either channel). Malformed or unexpected
 * messages are dropped and counted, never trusted. Return 0 or -EBADMSG. */
int zab_on_message(struct zab *z, uint32_t peer, const void *msg, size_t len, uint64_t now_ms);
/* The quorum channel to @peer came up / broke. */
void zab_on_peer_up(struct zab *z, uint32_t peer, uint64_t now_ms);
void zab_on_peer_down(struct zab *z, uint32_t peer, uint64_t now_ms);
/* Every LOG_APPEND up to @zxid is durable. @err < 0: the log failed; the
 * server stops (role LOOKING, never serving again in this process). */
void zab_on_logged(struct zab *z, tn_zxid zxid, int err, uint64_t now_ms);
/* Answer to SNAP_SEND: @snap is the host's state at @zxid. Copied.
 * Return 0, -EPERM (not leading nor a learner), -EMSGSIZE (> ZAB_SNAP_MAX), -EINVAL (no
 * SNAP_SEND pending for @peer, or @zxid outside [history start, last
 * commit]: the learner times out and retries). */
int zab_snap_send(struct zab *z, uint32_t peer, tn_zxid zxid, const void *snap, size_t len);

/* ---- the host's requests ---- */

/* Leader, serving: the zxid the next zab_propose must carry (the host preps
 * the txn with it). 0 if not leading/serving, the window is full, or the
 * epoch must roll. */
tn_zxid zab_next_zxid(const struct zab *z);
/* Leader: propose the txn @txn (encoded by the host, zxid == zab_next_zxid()).
 * Copied. Return 0, -EAGAIN (window full or the epoch must roll), -EPERM
 * (not a serving leader), -EINVAL (wrong zxid, or @len > ZAB_MSG_MAX / 2),
 * -ENOMEM. */
int zab_propose(struct zab *z, tn_zxid zxid, const void *txn, size_t len);
/* Send what zab_propose batched (call once per host loop turn). */
void zab_flush(struct zab *z, uint64_t now_ms);
/* Learner, serving: forward host bytes to the leader (REQUEST there).
 * Return 0, -EPERM (no leader to forward to), -EMSGSIZE. */
int zab_forward(struct zab *z, const void *req, size_t len);
/* A sync barrier: SYNC_DONE(@tag) once every txn the leader had proposed
 * when it saw the barrier is committed here. On the leader it is local.
 * Barriers die with serving (the host fails them on STATE !serving).
 * @tag's top bit is reserved (learner masters relay barriers with it).
 * Return 0, -EPERM, -EAGAIN (ZAB_SYNC_PENDING_MAX barriers outstanding),
 * -EINVAL (top bit set). */
int zab_sync(struct zab *z, uint64_t tag);

/* ---- reconfiguration (consensus/zab_reconf.c) ---- */

/* Leader: zab_propose() a txn that carries a new config (@members, n of
 * them; the host encodes it in @txn). Until the host applies it with
 * zab_set_config(), txns >= @zxid commit only at a voter quorum of the
 * current config and one of @members (joint quorum). Return as zab_propose,
 * or -EBUSY (one is already pending), -EINVAL (bad member list). */
int zab_propose_config(struct zab *z, tn_zxid zxid, const void *txn, size_t len,
		       const struct zab_member *members, uint32_t n);
/* Any server: a config txn at @zxid is in our log (LOG_APPEND, or the
 * recovered tail: the host notes the last config txn it recovered above
 * the committed config it starts from), not known committed. Should we lead
 * before it commits (the host applies it with zab_set_config), the joint
 * rule above holds for it. Return 0, -EINVAL. */
int zab_note_config(struct zab *z, tn_zxid zxid, const struct zab_member *members, uint32_t n);
/* While serving: a zxid known committed ensemble-wide (leader: its commit
 * point; learner: the leader's, as last heard), else 0. A host that
 * recovered a config txn above its last committed config applies it once
 * this reaches it (recovery applies the whole log, committed or not). */
tn_zxid zab_known_committed(const struct zab *z);
/* Leader: a proposed config is not committed yet. */
bool zab_config_pending(const struct zab *z);
/* Leader: how many voters of @members are us or synced followers (0 when
 * not leading; observers never ACK, so one to promote does not count): the
 * host refuses a config they are no quorum of, as it could not commit. */
uint32_t zab_synced_voters(const struct zab *z, const struct zab_member *members, uint32_t n);
/* Any server: the committed config is now @members (the host calls it when
 * it executes the COMMIT of a config txn, installs a snapshot holding one, or
 * starts from one). Same list: no-op. A leader that is no voter of it steps
 * down; a learner whose own role flipped, or whose leader is no voter, goes
 * LOOKING; a server left out stays as a silent non-voting member. Actions
 * may follow. Return 0, -EINVAL, -ENOSPC. */
int zab_set_config(struct zab *z, const struct zab_member *members, uint32_t n, uint64_t now_ms);
/* Any server: the committed config in force is version @version (the zxid
 * of its txn), encoded by the host as @blob (copied). Every vote carries it,
 * as ZooKeeper's notifications carry theirs: a LOOKING server that hears a
 * newer version gets it as a ZAB_ACT_CONFIG action (peer: the sender; once
 * per version) and, if it accepts it, applies it like a committed config
 * (zab_set_config, zab_config_blob), which restarts its election under the
 * new membership. So servers that crashed through reconfigs still agree on
 * a leader. Return 0, -EINVAL (@len > ZAB_CONFIG_BLOB_MAX), -ENOMEM. */
#define ZAB_CONFIG_BLOB_MAX (256u << 10)
int zab_config_blob(struct zab *z, tn_zxid version, const void *blob, size_t len);

/* ---- output ---- */

/* Pop the next action into @out. Return false when there are none. */
bool zab_next_action(struct zab *z, struct zab_act *out);
void zab_info(const struct zab *z, struct zab_info *out);
const char *zab_role_name(enum zab_role r);

/* How far one peer is behind, for metrics (any role; read-only).
 * Leader, for each learner in the stream: a follower's cumulative ACK
 * against the last proposal, live; an observer (it never ACKs) as its last
 * PONG showed it against our commit point then (@report_age_ms old).
 * Learner, for its leader: our last COMMIT against the leader's commit
 * point as last seen. @lag_ms is the age of the oldest txn the peer lacks,
 * by when this core took it in (proposed here; received, on a learner):
 * 0 when caught up. */
struct zab_peer_info {
	uint32_t id;
	bool observer;
	bool synced;                  /* leader: in broadcast; learner: UPTODATE seen */
	bool live;                    /* false: as of the last PONG */
	tn_zxid zxid;                 /* what the peer has (learner: our last COMMIT) */
	tn_zxid target;               /* measured against (learner: the leader's commit) */
	uint64_t lag_txns;            /* txns in (zxid, target] */
	uint64_t lag_ms;
	uint64_t report_age_ms;       /* ms since that peer was last heard from */
};
/* Fill @out for member index @i (0 <= i < member count) at @now_ms.
 * Return 0; -ENODATA (nothing to say: ourselves, or a peer that is not in
 * the stream / not our leader); -ERANGE (@i past the last member). */
int zab_peer_info(const struct zab *z, uint32_t i, uint64_t now_ms, struct zab_peer_info *out);

/* ---- message codec (consensus/zab_msg.c; fuzzed) ---- */

/* Check that @msg is one well-formed message of any kind. Return its kind
 * (> 0) or -EBADMSG. Never reads past @len. */
int zab_msg_check(const void *msg, size_t len);
/* True for election-channel kinds. */
bool zab_msg_is_election(const void *msg, size_t len);

#endif
