/* consensus/zab_master.c: a learner master (ZooKeeper 3.6's ObserverMaster,
 * plus chaining: the master may itself be an observer fed by a master).
 *
 * Any serving learner (follower or observer in BROADCAST) takes observers
 * that send it FOLLOWERINFO, so the leader feeds one stream per master
 * instead of one per observer. For each such downstream observer, in z->ln
 * (a learner's own table is otherwise unused): LEADERINFO with our current
 * epoch, ACKEPOCH, then a sync from our committed history only (DIFF, TRUNC
 * to a shared point of its epoch, or SNAP through the host's SNAP_SEND),
 * entries as INFORM up to our commit point C, NEWLEADER(C); at its ACKNL,
 * UPTODATE. From the moment its sync is queued it is in our stream: every
 * later commit is relayed as INFORM before we COMMIT it ourselves, so the
 * FIFO channel carries it gapless and in commit order. Its REQUESTs go
 * upstream unchanged (the leader's COMMIT comes back through us, matched by
 * session and cxid at its host); its SYNCREQ goes upstream under a tag of
 * ours (ZAB_MASTER_TAG | seq), and the answer is relayed once we committed
 * what it covers, after those INFORMs. We PING downstreams every tick and
 * drop the silent ones, as a leader does.
 *
 * Candidates (the observer side): zab_cfg.upstream in order, then the
 * leader; a candidate whose channel is down, or that is the leader itself
 * (the last resort), is skipped at once; a failed
 * attempt moves to the next one; a session that served restarts from the
 * first. A master that stops serving (any go_looking) sends LEAVE to its
 * downstreams; one that is not serving answers FOLLOWERINFO with LEAVE; one
 * asked by its own upstream (a loop) too. Since a master serves only while
 * it is itself synced, and drops its downstreams before it changes upstream,
 * a chain can never close into a cycle. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/zab_int.h"

static bool serving_learner(const struct zab *z)
{
	return (z->role == ZAB_FOLLOWING || z->role == ZAB_OBSERVING) && z->lphase == LP_BROADCAST;
}

static bool in_stream(const struct learner *l)
{
	return l->st == LN_SYNCING || l->st == LN_SYNCED;
}

static uint32_t upstream_count(const struct zab *z)
{
	uint32_t n = 0;
	while (n < ZAB_UPSTREAM_MAX && z->cfg.upstream[n])
		n++;
	return n;
}

uint32_t zab_master_pick(struct zab *z, uint32_t leader)
{
	uint32_t n = z->i_observer ? upstream_count(z) : 0; /* voters follow the leader */

	/* the first candidate from up_next whose channel is up, else the
	 * leader; the leader among them is skipped (it is the last resort, and
	 * the point is to spare it) */
	for (; z->up_next < n; z->up_next++) {
		uint32_t u = z->cfg.upstream[z->up_next];
		int ui = zab_idx(z, u); /* < 0: no longer a member (reconfiguration) */
		if (u != leader && ui >= 0 && z->peer_up[ui])
			return u;
	}
	return leader;
}

static void send_leave(struct zab *z, uint32_t peer, uint32_t nonce)
{
	struct zab_msg m = { .kind = ZAB_M_LEAVE, .nonce = nonce };
	zab_send(z, peer, &m);
}

void zab_master_stop(struct zab *z)
{
	uint32_t n = upstream_count(z);

	if (z->role != ZAB_FOLLOWING && z->role != ZAB_OBSERVING)
		return;
	for (uint32_t k = 0; k < z->cfg.member_count; k++)
		if (k != z->my_idx && z->ln[k].st != LN_NONE && z->peer_up[k])
			send_leave(z, z->cfg.members[k].id, z->ln[k].nonce);
	/* a session that served: start over from the preferred master;
	 * a failed attempt: the next candidate (after the leader, the first) */
	if (z->lphase == LP_BROADCAST || z->up_next >= n)
		z->up_next = 0;
	else
		z->up_next++;
}

/* Entries (@after, @upto] of our history as INFORM batches (commit point
 * @commit) to @peer, or to every downstream in the stream (@peer 0). */
static void send_informs(struct zab *z, uint32_t peer, tn_zxid after, tn_zxid upto, tn_zxid commit)
{
	uint32_t i = zab_hist_after(z, after);

	while (i < z->h.n && zab_hist_at(z, i)->zxid <= upto) {
		struct zab_msg m = { .kind = ZAB_M_INFORM, .epoch = z->current_epoch, .zxid2 = commit };
		uint64_t bytes = 0;
		uint32_t end = i;
		size_t off, at, body = 0;
		uint8_t *p;

		while (end < z->h.n && zab_hist_at(z, end)->zxid <= upto &&
		       end - i < z->cfg.batch_txns_max && bytes < z->cfg.batch_bytes_max) {
			bytes += ZAB_ENTRY_HDR + zab_hist_at(z, end)->len;
			end++;
		}
		m.count = end - i;
		body = (size_t)bytes;
		off = zab_encode_arena(z, &m);
		at = zab_arena_grow(z, body); /* may move the arena */
		p = z->arena + at;
		for (uint32_t j = i; j < end; j++) {
			const struct hent *e = zab_hist_at(z, j);
			tn_store_be64(p, e->zxid);
			tn_store_be32(p + 8, e->len);
			if (e->len)
				memcpy(p + ZAB_ENTRY_HDR, e->data, e->len);
			p += ZAB_ENTRY_HDR + e->len;
		}
		if (peer) {
			zab_send_off(z, peer, false, off, z->arena_len - off);
		} else {
			for (uint32_t k = 0; k < z->cfg.member_count; k++)
				if (k != z->my_idx && in_stream(&z->ln[k]))
					zab_send_off(z, z->cfg.members[k].id, false, off,
						     z->arena_len - off);
		}
		i = end;
	}
}

void zab_master_relay(struct zab *z, tn_zxid upto)
{
	bool any = false;
	for (uint32_t k = 0; k < z->cfg.member_count && !any; k++)
		any = k != z->my_idx && in_stream(&z->ln[k]);
	if (any && upto > z->last_committed)
		send_informs(z, 0, z->last_committed, upto, upto);
}

/* The tail of a downstream's sync after its starting point was sent. */
static void finish_sync(struct zab *z, uint32_t k, tn_zxid from)
{
	struct learner *l = &z->ln[k];
	uint32_t peer = z->cfg.members[k].id;
	tn_zxid c = z->last_committed;
	struct zab_msg m = { .kind = ZAB_M_NEWLEADER, .epoch = z->current_epoch, .zxid = c };

	send_informs(z, peer, from, c, c);
	zab_send(z, peer, &m);
	l->nl_zxid = c;
	l->st = LN_SYNCING;
}

/* Sync downstream @k (st ACKEPOCH) from our committed history, or leave it
 * waiting while it holds a txn of our epoch we have not committed yet. */
static void sync_down(struct zab *z, uint32_t k)
{
	struct learner *l = &z->ln[k];
	uint32_t peer = z->cfg.members[k].id;
	tn_zxid f = l->last_logged, c = z->last_committed;
	struct zab_msg m = { 0 };

	if (f > c && ZK_EPOCH(f) == z->current_epoch)
		return; /* zab_master_after_commit retries */
	if (f <= c && zab_hist_contains(z, f)) {
		m.kind = ZAB_M_DIFF;
		m.zxid = f;
	} else {
		/* the last point of f's epoch we both hold (observers log a prefix
		 * of one epoch's stream), else a snapshot */
		uint32_t i = zab_hist_after(z, TN_MIN(f, c));
		tn_zxid cand = i > 0 ? zab_hist_at(z, i - 1)->zxid : z->h.base;
		if (cand > f || cand < z->h.base || ZK_EPOCH(cand) != ZK_EPOCH(f) || cand == 0) {
			l->st = LN_SNAP_PENDING;
			zab_act_simple(z, ZAB_ACT_SNAP_SEND, peer, 0, 0);
			return;
		}
		m.kind = ZAB_M_TRUNC;
		m.zxid = cand;
	}
	zab_send(z, peer, &m);
	finish_sync(z, k, m.zxid);
}

void zab_master_after_commit(struct zab *z)
{
	for (uint32_t k = 0; k < z->cfg.member_count; k++)
		if (k != z->my_idx && z->ln[k].st == LN_ACKEPOCH)
			sync_down(z, k);
}

int zab_master_snap_send(struct zab *z, uint32_t peer, tn_zxid zxid, const void *snap, size_t len)
{
	int k = zab_idx(z, peer);
	struct zab_msg m = { .kind = ZAB_M_SNAP, .zxid = zxid, .data = snap, .len = len };

	if (k < 0 || z->ln[k].st != LN_SNAP_PENDING)
		return -EINVAL;
	if (!serving_learner(z) || zxid < z->h.base || zxid > z->last_committed) {
		memset(&z->ln[k], 0, sizeof(z->ln[k])); /* it times out and tries again */
		return -EINVAL;
	}
	zab_send(z, peer, &m);
	finish_sync(z, (uint32_t)k, zxid);
	return 0;
}

/* A downstream's barrier: ask upstream under our own tag; remember whose. */
static bool relay_sync(struct zab *z, uint32_t k, uint64_t tag)
{
	struct zab_msg m = { .kind = ZAB_M_SYNCREQ };
	struct zrelay *r;

	if (!z->m_relay && !(z->m_relay = calloc(ZAB_SYNC_PENDING_MAX, sizeof(*z->m_relay))))
		return false;
	z->m_relay_seq++;
	r = &z->m_relay[z->m_relay_seq % ZAB_SYNC_PENDING_MAX]; /* the oldest is forgotten */
	*r = (struct zrelay){ z->cfg.members[k].id, z->ln[k].nonce, tag, z->m_relay_seq };
	m.tag = ZAB_MASTER_TAG | z->m_relay_seq;
	zab_send(z, z->upstream, &m);
	return true;
}

void zab_master_on_syncresp(struct zab *z, const struct zab_msg *m)
{
	uint64_t seq = m->tag & ~ZAB_MASTER_TAG;
	const struct zrelay *r;
	int k;

	if (!z->m_relay || seq == 0) {
		z->dropped++;
		return;
	}
	r = &z->m_relay[seq % ZAB_SYNC_PENDING_MAX];
	k = zab_idx(z, r->peer);
	if (r->seq != seq || k < 0 || z->ln[k].st != LN_SYNCED || z->ln[k].nonce != r->nonce)
		return; /* that observer left meanwhile */
	if (z->last_committed >= m->zxid) {
		/* the INFORMs through m->zxid went out before this */
		struct zab_msg a = { .kind = ZAB_M_SYNCRESP, .tag = r->tag, .zxid = m->zxid };
		zab_send(z, r->peer, &a);
	} else if (!zab_sync_push(z, r->peer, r->tag, m->zxid, 0)) {
		z->dropped++; /* its barrier times out at its host */
	}
}

static void send_leaderinfo(struct zab *z, uint32_t k)
{
	struct zab_msg m = { .kind = ZAB_M_LEADERINFO, .nonce = z->ln[k].nonce,
			     .leader = z->leader, .epoch = z->current_epoch };
	zab_send(z, z->cfg.members[k].id, &m);
	z->ln[k].st = LN_WAIT_ACKEPOCH;
}

void zab_master_on_msg(struct zab *z, uint32_t peer, const struct zab_msg *m)
{
	int k = zab_idx(z, peer);
	struct learner *l;

	TN_ASSERT(k >= 0);
	l = &z->ln[k];
	if (m->kind == ZAB_M_FOLLOWERINFO) {
		if (!m->observer || !z->cfg.members[k].observer) {
			z->dropped++; /* followers follow the leader */
			return;
		}
		/* not serving, or our own upstream asks (a loop): go elsewhere */
		if (!serving_learner(z) || peer == z->upstream) {
			send_leave(z, peer, m->nonce);
			return;
		}
		l->heard_ms = z->now_ms;
		if (l->st != LN_NONE && l->nonce == m->nonce) {
			if (l->st == LN_WAIT_ACKEPOCH)
				send_leaderinfo(z, (uint32_t)k); /* a resend crossed ours */
			return;
		}
		zab_sync_drop_peer(z, peer);
		*l = (struct learner){ .observer = true, .nonce = m->nonce,
				       .accepted_epoch = m->accepted_epoch,
				       .current_epoch = m->current_epoch, .last_logged = m->zxid,
				       .prev_last = m->zxid2, .heard_ms = z->now_ms };
		send_leaderinfo(z, (uint32_t)k);
		return;
	}
	if (l->st == LN_NONE || !serving_learner(z)) {
		z->dropped++;
		return;
	}
	l->heard_ms = z->now_ms;
	switch (m->kind) {
	case ZAB_M_ACKEPOCH:
		if (l->st != LN_WAIT_ACKEPOCH || m->nonce != l->nonce)
			break;
		l->current_epoch = m->current_epoch;
		l->last_logged = m->zxid;
		l->st = LN_ACKEPOCH;
		sync_down(z, (uint32_t)k);
		return;
	case ZAB_M_ACKNL: {
		struct zab_msg u = { .kind = ZAB_M_UPTODATE, .zxid = z->last_committed };
		if (l->st != LN_SYNCING || m->epoch != z->current_epoch || m->zxid != l->nl_zxid)
			break;
		l->st = LN_SYNCED;
		l->acked = l->nl_zxid;
		zab_send(z, peer, &u);
		return;
	}
	case ZAB_M_PONG:
		l->pong_zxid = m->zxid;
		l->pong_commit = z->last_committed;
		l->pong_ms = z->now_ms;
		return;
	case ZAB_M_REQUEST:
		if (l->st != LN_SYNCED)
			break;
		zab_learner_forward(z, m->data, m->len); /* the leader answers via COMMIT */
		return;
	case ZAB_M_SYNCREQ:
		if (l->st != LN_SYNCED || !relay_sync(z, (uint32_t)k, m->tag))
			break;
		return;
	default:
		break;
	}
	z->dropped++;
}

void zab_master_peer_down(struct zab *z, uint32_t peer)
{
	int k = zab_idx(z, peer);
	if (k >= 0 && (uint32_t)k != z->my_idx && z->ln[k].st != LN_NONE) {
		memset(&z->ln[k], 0, sizeof(z->ln[k]));
		zab_sync_drop_peer(z, peer);
	}
}

void zab_master_tick(struct zab *z)
{
	uint64_t tick = z->cfg.tick_ms;
	bool any = false;

	if (z->role != ZAB_FOLLOWING && z->role != ZAB_OBSERVING)
		return;
	for (uint32_t k = 0; k < z->cfg.member_count; k++) {
		struct learner *l = &z->ln[k];
		uint64_t limit = (l->st == LN_SYNCED ? z->cfg.sync_limit : z->cfg.init_limit) * tick;
		if (k == z->my_idx || l->st == LN_NONE)
			continue;
		if (z->now_ms - l->heard_ms > limit) {
			memset(l, 0, sizeof(*l));
			zab_sync_drop_peer(z, z->cfg.members[k].id);
			continue;
		}
		any |= in_stream(l);
	}
	if (any && z->now_ms >= z->m_ping_at) {
		struct zab_msg m = { .kind = ZAB_M_PING, .zxid = z->last_committed,
				     .tag = ++z->m_ping_seq };
		size_t off = zab_encode_arena(z, &m), len = z->arena_len - off;
		for (uint32_t k = 0; k < z->cfg.member_count; k++)
			if (k != z->my_idx && in_stream(&z->ln[k]))
				zab_send_off(z, z->cfg.members[k].id, false, off, len);
		z->m_ping_at = z->now_ms + tick;
	}
}
