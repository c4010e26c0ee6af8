/* consensus/zab_leader.c: the leader. Discovery (a voter quorum of
 * FOLLOWERINFO, new epoch = max acceptedEpoch + 1, a quorum of ACKEPOCH none
 * of which is ahead of us), synchronization of each learner (DIFF, TRUNC or
 * SNAP, then NEWLEADER), establishment at a voter quorum of NEWLEADER acks
 * (our whole history commits then), and broadcast: batched PROPOSALs to
 * followers, cumulative ACKs counted over voters, cumulative COMMITs, INFORM
 * to observers. A learner enters the stream (gets every later proposal and
 * commit) the moment its sync is queued, so FIFO channels keep it gapless. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/zab_int.h"

static uint64_t confirmed_seq(const struct zab *z);
static void try_commit(struct zab *z);

static bool in_stream(const struct learner *l)
{
	return l->st == LN_SYNCING || l->st == LN_SYNCED;
}

static uint32_t count_voters(const struct zab *z, uint8_t min_st)
{
	uint32_t n = 1; /* the leader */
	for (uint32_t i = 0; i < z->cfg.member_count; i++)
		if (i != z->my_idx && !z->cfg.members[i].observer && !z->ln[i].observer &&
		    z->ln[i].st >= min_st)
			n++;
	return n;
}

/* Encode entries [i0, i1) of the history as one PROPOSAL or INFORM. */
static size_t encode_batch(struct zab *z, uint8_t kind, tn_zxid commit, uint32_t i0, uint32_t i1,
			   size_t *len_out)
{
	struct zab_msg m = { .kind = kind, .epoch = z->current_epoch, .zxid2 = commit,
			     .count = i1 - i0 };
	size_t body = 0, hdr, off, at;
	uint8_t *p;

	TN_ASSERT(i0 < i1 && i1 <= z->h.n);
	for (uint32_t i = i0; i < i1; i++)
		body += ZAB_ENTRY_HDR + zab_hist_at(z, i)->len;
	hdr = zab_msg_encode(&m, NULL, 0);
	off = zab_encode_arena(z, &m); /* the header; the entries follow it */
	TN_ASSERT(z->arena_len - off == hdr);
	at = zab_arena_grow(z, body); /* may move the arena */
	p = z->arena + at;
	for (uint32_t i = i0; i < i1; i++) {
		const struct hent *e = zab_hist_at(z, i);
		tn_store_be64(p, e->zxid);
		tn_store_be32(p + 8, e->len);
		if (e->len)
			memcpy(p + ZAB_ENTRY_HDR, e->data, e->len);
		p += ZAB_ENTRY_HDR + e->len;
	}
	*len_out = hdr + body;
	return off;
}

/* Where the next batch starting at entry @i0 must end (exclusive), up to @upto. */
static uint32_t batch_end(const struct zab *z, uint32_t i0, tn_zxid upto)
{
	uint64_t bytes = 0;
	uint32_t i = i0;
	while (i < z->h.n && zab_hist_at(z, i)->zxid <= upto && i - i0 < z->cfg.batch_txns_max) {
		bytes += ZAB_ENTRY_HDR + zab_hist_at(z, i)->len;
		i++;
		if (bytes >= z->cfg.batch_bytes_max)
			break;
	}
	return i;
}

/* Send history entries (@after, @upto] as PROPOSAL batches to one peer (or,
 * @peer 0, to every follower in the stream). */
static void send_entries(struct zab *z, uint32_t peer, tn_zxid after, tn_zxid upto)
{
	uint32_t i = zab_hist_after(z, after);
	while (i < z->h.n && zab_hist_at(z, i)->zxid <= upto) {
		uint32_t end = batch_end(z, i, upto);
		size_t len, off = encode_batch(z, ZAB_M_PROPOSAL, 0, i, end, &len);
		if (peer) {
			zab_send_off(z, peer, false, off, len);
		} else {
			for (uint32_t k = 0; k < z->cfg.member_count; k++)
				if (k != z->my_idx && in_stream(&z->ln[k]) && !z->ln[k].observer)
					zab_send_off(z, z->cfg.members[k].id, false, off, len);
			z->batches++;
		}
		i = end;
	}
}

void zab_leader_flush(struct zab *z)
{
	if (!z->established || z->last_flushed >= z->last_proposed)
		return;
	send_entries(z, 0, z->last_flushed, z->last_proposed);
	z->last_flushed = z->last_proposed;
}

/* Commit through @c: COMMIT to followers and INFORM to observers first (so
 * a SYNCRESP answered below follows them on the channel), then our own
 * COMMIT actions. */
static void advance_commit(struct zab *z, tn_zxid c)
{
	struct zab_msg m = { .kind = ZAB_M_COMMIT, .zxid = c };
	size_t off, len;
	uint32_t i0, i1;
	bool observers = false, followers = false;

	TN_ASSERT(c > z->last_committed && c <= z->last_proposed);
	zab_leader_flush(z);
	for (uint32_t k = 0; k < z->cfg.member_count; k++) {
		if (k == z->my_idx || !in_stream(&z->ln[k]))
			continue;
		if (z->ln[k].observer)
			observers = true;
		else
			followers = true;
	}
	if (followers) {
		off = zab_encode_arena(z, &m);
		len = z->arena_len - off;
		for (uint32_t k = 0; k < z->cfg.member_count; k++)
			if (k != z->my_idx && in_stream(&z->ln[k]) && !z->ln[k].observer)
				zab_send_off(z, z->cfg.members[k].id, false, off, len);
	}
	if (observers) {
		i0 = zab_hist_after(z, z->last_committed);
		while (i0 < z->h.n && zab_hist_at(z, i0)->zxid <= c) {
			i1 = batch_end(z, i0, c);
			off = encode_batch(z, ZAB_M_INFORM, c, i0, i1, &len);
			for (uint32_t k = 0; k < z->cfg.member_count; k++)
				if (k != z->my_idx && in_stream(&z->ln[k]) && z->ln[k].observer)
					zab_send_off(z, z->cfg.members[k].id, false, off, len);
			i0 = i1;
		}
	}
	zab_act_commit_to(z, c);
	zab_syncs_answer(z, confirmed_seq(z));
}

/* PING every learner in the stream with a new round number. */
static void send_pings(struct zab *z)
{
	struct zab_msg m = { .kind = ZAB_M_PING, .zxid = z->last_committed, .tag = ++z->ping_seq };
	size_t off = zab_encode_arena(z, &m), len = z->arena_len - off;
	for (uint32_t k = 0; k < z->cfg.member_count; k++)
		if (k != z->my_idx && in_stream(&z->ln[k]))
			zab_send_off(z, z->cfg.members[k].id, false, off, len);
	z->resend_at = z->now_ms + z->cfg.tick_ms;
}

/* The highest PING round a voter quorum (us included) has answered: a
 * barrier confirmed this way was not served by a deposed leader. */
static uint64_t confirmed_seq(const struct zab *z)
{
	uint64_t v[ZAB_MEMBERS_MAX];
	uint32_t n = 0;
	v[n++] = z->ping_seq;
	for (uint32_t k = 0; k < z->cfg.member_count; k++)
		if (k != z->my_idx && !z->ln[k].observer && z->ln[k].st == LN_SYNCED)
			v[n++] = z->ln[k].pong_seq;
	if (n < z->quorum)
		return 0;
	for (uint32_t i = 1; i < n; i++)
		for (uint32_t j = i; j > 0 && v[j] > v[j - 1]; j--) {
			uint64_t t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return v[z->quorum - 1];
}

static void send_uptodate(struct zab *z, uint32_t peer)
{
	struct zab_msg m = { .kind = ZAB_M_UPTODATE, .zxid = z->last_committed };
	zab_send(z, peer, &m);
}

static void maybe_establish(struct zab *z)
{
	if (!z->epoch_acked || z->established || z->last_durable < z->last_logged)
		return;
	if (count_voters(z, LN_SYNCED) < z->quorum || !zab_reconf_may_establish(z))
		return;
	z->established = true;
	z->last_flushed = z->last_proposed;
	if (zab_reconf_clamp(z, z->last_proposed) > z->last_committed)
		advance_commit(z, zab_reconf_clamp(z, z->last_proposed));
	for (uint32_t k = 0; k < z->cfg.member_count; k++)
		if (k != z->my_idx && z->ln[k].st == LN_SYNCED)
			send_uptodate(z, z->cfg.members[k].id);
	zab_set_serving(z, true);
	try_commit(z); /* an inherited config txn: a new-config quorum may have it */
}

static void try_commit(struct zab *z)
{
	tn_zxid v[ZAB_MEMBERS_MAX], c;
	uint32_t n = 0;

	if (!z->established)
		return;
	v[n++] = TN_MIN(z->last_durable, z->last_proposed);
	for (uint32_t k = 0; k < z->cfg.member_count; k++) {
		const struct learner *l = &z->ln[k];
		if (k != z->my_idx && !l->observer && l->st == LN_SYNCED)
			v[n++] = TN_MAX(l->acked, l->nl_zxid);
	}
	if (n < z->quorum)
		return;
	/* the quorum-th largest: insertion sort, n <= 32 */
	for (uint32_t i = 1; i < n; i++)
		for (uint32_t j = i; j > 0 && v[j] > v[j - 1]; j--) {
			tn_zxid t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	c = zab_reconf_clamp(z, TN_MIN(v[z->quorum - 1], z->last_proposed));
	if (c > z->last_committed)
		advance_commit(z, c);
}

/* Queue one learner's sync and put it in the stream. */
static void sync_learner(struct zab *z, uint32_t k)
{
	struct learner *l = &z->ln[k];
	uint32_t peer = z->cfg.members[k].id;
	tn_zxid f = l->last_logged, L = z->last_proposed, from;
	struct zab_msg m = { 0 };
	uint32_t i;

	TN_ASSERT(l->st == LN_ACKEPOCH);
	zab_leader_flush(z); /* the stream so far goes to the others first */
	if (f <= L && zab_hist_contains(z, f)) {
		m.kind = ZAB_M_DIFF;
		from = f;
	} else {
		tn_zxid cand = ZAB_ZXID_UNKNOWN;
		i = zab_hist_after(z, f - 1);
		if (i > 0)
			cand = zab_hist_at(z, i - 1)->zxid;
		else if (z->h.base < f)
			cand = z->h.base;
		if (cand != ZAB_ZXID_UNKNOWN && ZK_EPOCH(cand) == ZK_EPOCH(f)) {
			from = cand; /* same epoch: its log holds our prefix to cand */
		} else if (l->prev_last != ZAB_ZXID_UNKNOWN && l->prev_last <= L &&
			   zab_hist_contains(z, l->prev_last)) {
			from = l->prev_last; /* drop its whole last epoch */
		} else {
			l->st = LN_SNAP_PENDING;
			zab_act_simple(z, ZAB_ACT_SNAP_SEND, peer, 0, 0);
			return;
		}
		m.kind = ZAB_M_TRUNC;
	}
	m.zxid = from;
	zab_send(z, peer, &m);
	send_entries(z, peer, from, L);
	m = (struct zab_msg){ .kind = ZAB_M_NEWLEADER, .epoch = z->new_epoch, .zxid = L };
	zab_send(z, peer, &m);
	l->nl_zxid = L;
	l->acked = 0;
	l->st = LN_SYNCING;
}

int zab_leader_snap_send(struct zab *z, uint32_t peer, tn_zxid zxid, const void *snap, size_t len)
{
	int k = zab_idx(z, peer);
	struct learner *l;
	struct zab_msg m = { .kind = ZAB_M_SNAP, .zxid = zxid, .data = snap, .len = len };
	tn_zxid L = z->last_proposed;

	if (k < 0 || z->ln[k].st != LN_SNAP_PENDING)
		return -EINVAL;
	l = &z->ln[k];
	if (zxid < z->h.base || zxid > L || zxid > z->last_committed) {
		l->st = LN_NONE; /* it times out and tries again */
		return -EINVAL;
	}
	zab_send(z, peer, &m);
	send_entries(z, peer, zxid, L);
	m = (struct zab_msg){ .kind = ZAB_M_NEWLEADER, .epoch = z->new_epoch, .zxid = L };
	zab_send(z, peer, &m);
	l->nl_zxid = L;
	l->acked = 0;
	l->st = LN_SYNCING;
	return 0;
}

static void send_leaderinfo(struct zab *z, uint32_t k)
{
	struct zab_msg m = { .kind = ZAB_M_LEADERINFO, .nonce = z->ln[k].nonce, .epoch = z->new_epoch };
	zab_send(z, z->cfg.members[k].id, &m);
	z->ln[k].st = LN_WAIT_ACKEPOCH;
}

static void maybe_epoch_acked(struct zab *z)
{
	if (!z->epoch_decided || z->epoch_acked || count_voters(z, LN_ACKEPOCH) < z->quorum ||
	    !zab_reconf_quorum_at(z, LN_ACKEPOCH))
		return;
	for (uint32_t k = 0; k < z->cfg.member_count; k++) {
		const struct learner *l = &z->ln[k];
		if (k == z->my_idx || l->st < LN_ACKEPOCH ||
		    (z->cfg.members[k].observer && !zab_reconf_joint_voter(z, k)))
			continue;
		/* a voter of the quorum ahead of us: we may lack committed txns */
		if (l->current_epoch > z->prev_current_epoch ||
		    (l->current_epoch == z->prev_current_epoch && l->last_logged > z->last_logged)) {
			zab_go_looking(z);
			return;
		}
	}
	z->current_epoch = z->new_epoch;
	zab_act_persist(z);
	z->epoch_acked = true;
	zab_emit_state(z);
	for (uint32_t k = 0; k < z->cfg.member_count; k++)
		if (k != z->my_idx && z->ln[k].st == LN_ACKEPOCH)
			sync_learner(z, k);
	maybe_establish(z);
}

static void maybe_decide_epoch(struct zab *z)
{
	uint32_t e = TN_MAX(z->accepted_epoch, z->epoch_hint);
	if (z->epoch_decided || count_voters(z, LN_INFO) < z->quorum ||
	    !zab_reconf_quorum_at(z, LN_INFO))
		return;
	/* the voters of a pending new config count too: it may have committed */
	for (uint32_t k = 0; k < z->cfg.member_count; k++)
		if (k != z->my_idx && z->ln[k].st >= LN_INFO &&
		    (!z->cfg.members[k].observer || zab_reconf_joint_voter(z, k)))
			e = TN_MAX(e, z->ln[k].accepted_epoch);
	if (e == UINT32_MAX) { /* epochs exhausted: nothing safe to do */
		z->failed = true;
		zab_go_looking(z);
		return;
	}
	z->new_epoch = e + 1;
	z->accepted_epoch = z->new_epoch;
	zab_act_persist(z);
	z->epoch_decided = true;
	for (uint32_t k = 0; k < z->cfg.member_count; k++)
		if (k != z->my_idx && z->ln[k].st == LN_INFO)
			send_leaderinfo(z, k);
	maybe_epoch_acked(z);
}

void zab_leader_start(struct zab *z)
{
	memset(z->ln, 0, sizeof(z->ln));
	z->established = z->epoch_decided = z->epoch_acked = false;
	z->lead_start_ms = z->now_ms;
	z->quorum_lost_ms = 0;
	z->prev_current_epoch = z->current_epoch;
	z->last_proposed = z->last_flushed = z->last_logged;
	z->resend_at = z->now_ms;
	z->nsync = 0;
	zab_set_role(z, ZAB_LEADING, z->cfg.my_id);
	maybe_decide_epoch(z);
}

void zab_leader_peer_down(struct zab *z, uint32_t peer)
{
	int k = zab_idx(z, peer);
	if (k >= 0) {
		memset(&z->ln[k], 0, sizeof(z->ln[k]));
		zab_sync_drop_peer(z, peer);
	}
}

void zab_leader_on_logged(struct zab *z)
{
	maybe_establish(z);
	try_commit(z);
}

/* A barrier: answered once what we proposed by now is committed and a voter
 * quorum answered a PING sent after it (we are still the leader). */
static bool push_barrier(struct zab *z, uint32_t peer, uint64_t tag)
{
	if (!zab_sync_push(z, peer, tag, z->last_proposed, z->ping_seq + 1))
		return false;
	send_pings(z);
	zab_syncs_answer(z, confirmed_seq(z));
	return true;
}

int zab_leader_sync(struct zab *z, uint64_t tag)
{
	return push_barrier(z, 0, tag) ? 0 : -EAGAIN;
}

void zab_leader_on_msg(struct zab *z, uint32_t peer, const struct zab_msg *m)
{
	int k = zab_idx(z, peer);
	struct learner *l;

	TN_ASSERT(k >= 0);
	l = &z->ln[k];
	if (m->kind != ZAB_M_FOLLOWERINFO && l->st == LN_NONE) {
		z->dropped++;
		return;
	}
	l->heard_ms = z->now_ms;
	switch (m->kind) {
	case ZAB_M_FOLLOWERINFO:
		/* a role that disagrees with the config: a learner that missed a
		 * reconfig. Sync it as an observer (it never counts); the config txn
		 * reaches it in the sync and it reconnects in its new role. */
		if (l->st != LN_NONE && l->nonce == m->nonce) {
			if (l->st == LN_WAIT_ACKEPOCH)
				send_leaderinfo(z, (uint32_t)k); /* a resend crossed ours */
			return;
		}
		if (z->epoch_decided && m->accepted_epoch > z->new_epoch) {
			/* it promised a later epoch and would refuse ours: make one above it */
			z->epoch_hint = TN_MAX(z->epoch_hint, m->accepted_epoch);
			zab_go_looking(z);
			return;
		}
		zab_sync_drop_peer(z, peer);
		*l = (struct learner){ .st = LN_INFO,
				       .observer = m->observer || z->cfg.members[k].observer,
				       .nonce = m->nonce,
				       .accepted_epoch = m->accepted_epoch, .current_epoch = m->current_epoch,
				       .last_logged = m->zxid, .prev_last = m->zxid2, .heard_ms = z->now_ms };
		if (z->epoch_decided)
			send_leaderinfo(z, (uint32_t)k);
		else
			maybe_decide_epoch(z);
		return;
	case ZAB_M_ACKEPOCH:
		if (l->st != LN_WAIT_ACKEPOCH || m->nonce != l->nonce)
			break;
		l->current_epoch = m->current_epoch;
		l->last_logged = m->zxid;
		l->st = LN_ACKEPOCH;
		if (z->epoch_acked)
			sync_learner(z, (uint32_t)k);
		else
			maybe_epoch_acked(z);
		return;
	case ZAB_M_ACKNL:
		if (l->st != LN_SYNCING || m->epoch != z->new_epoch || m->zxid != l->nl_zxid)
			break;
		l->st = LN_SYNCED;
		l->acked = l->nl_zxid;
		if (z->established) {
			send_uptodate(z, peer);
			try_commit(z); /* its NEWLEADER ack counts as an ack of the sync */
		} else {
			maybe_establish(z);
		}
		return;
	case ZAB_M_ACK:
		if (l->st != LN_SYNCED || l->observer)
			break;
		if (m->zxid > l->acked)
			l->acked = TN_MIN(m->zxid, z->last_proposed);
		try_commit(z);
		return;
	case ZAB_M_PONG:
		l->pong_zxid = m->zxid;
		l->pong_commit = z->last_committed;
		l->pong_ms = z->now_ms;
		if (m->tag > l->pong_seq && m->tag <= z->ping_seq) {
			l->pong_seq = m->tag;
			if (z->nsync)
				zab_syncs_answer(z, confirmed_seq(z));
		}
		return;
	case ZAB_M_REQUEST:
		if (l->st != LN_SYNCED || !z->serving)
			break;
		zab_act_data(z, ZAB_ACT_REQUEST, peer, 0, m->data, m->len);
		return;
	case ZAB_M_SYNCREQ:
		if (l->st != LN_SYNCED || !z->serving)
			break;
		if (!push_barrier(z, peer, m->tag))
			break;
		return;
	default:
		break;
	}
	z->dropped++;
}

void zab_leader_tick(struct zab *z)
{
	uint64_t tick = z->cfg.tick_ms;

	if (!z->established && z->now_ms - z->lead_start_ms > z->cfg.init_limit * tick) {
		zab_go_looking(z);
		return;
	}
	for (uint32_t k = 0; k < z->cfg.member_count; k++) {
		struct learner *l = &z->ln[k];
		uint64_t limit = (l->st == LN_SYNCED ? z->cfg.sync_limit : z->cfg.init_limit) * tick;
		if (k != z->my_idx && l->st != LN_NONE && z->now_ms - l->heard_ms > limit) {
			memset(l, 0, sizeof(*l));
			zab_sync_drop_peer(z, z->cfg.members[k].id);
		}
	}
	if (z->now_ms >= z->resend_at)
		send_pings(z);
	if (!z->established)
		return;
	if (count_voters(z, LN_SYNCED) < z->quorum) {
		if (z->quorum_lost_ms == 0)
			z->quorum_lost_ms = z->now_ms;
		else if (z->now_ms - z->quorum_lost_ms > z->cfg.sync_limit * tick) {
			zab_go_looking(z);
			return;
		}
	} else {
		z->quorum_lost_ms = 0;
	}
	/* roll-over: the counter is spent; step down once it all committed */
	if (ZK_EPOCH(z->last_proposed) == z->current_epoch &&
	    ZK_COUNTER(z->last_proposed) >= z->cfg.zxid_counter_max &&
	    z->last_committed == z->last_proposed)
		zab_go_looking(z);
}
