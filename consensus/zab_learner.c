/* consensus/zab_learner.c: follower and observer. CONNECT (FOLLOWERINFO,
 * resent until LEADERINFO with our nonce) -> SYNC (ACKEPOCH sent; DIFF,
 * TRUNC or SNAP comes) -> SYNC_TXNS (txns logged as they come) ->
 * NL_PENDING (NEWLEADER seen; ACK it once durable, after persisting
 * currentEpoch) -> WAIT_UPTODATE -> BROADCAST (serving). Txns held from the
 * sync are COMMITted at UPTODATE; afterwards the logged tail commits as the
 * leader's commit point covers it. Followers ACK cumulatively once their
 * NEWLEADER ack is out; observers never ACK proposals and get INFORM. */
#include <errno.h>
#include <string.h>

#include "consensus/zab_int.h"

/* Everything goes to our upstream: the leader, or a learner master. */
static void send_to_leader(struct zab *z, const struct zab_msg *m)
{
	zab_send(z, z->upstream, m);
}

static void send_fi(struct zab *z)
{
	struct zab_msg m = { .kind = ZAB_M_FOLLOWERINFO, .observer = z->i_observer, .nonce = z->nonce,
			     .accepted_epoch = z->accepted_epoch, .current_epoch = z->current_epoch,
			     .zxid = z->last_logged, .zxid2 = zab_prev_epoch_last(z) };
	send_to_leader(z, &m);
	z->fi_resend_at = z->now_ms + zab_resend_ms(z);
}

void zab_learner_start(struct zab *z, uint32_t leader)
{
	zab_set_role(z, z->i_observer ? ZAB_OBSERVING : ZAB_FOLLOWING, leader);
	z->lphase = LP_CONNECT;
	z->nonce = ++z->nonce_ctr;
	z->heard_ms = z->now_ms;
	z->leader_commit = 0;
	z->last_acked = 0;
	z->nl_zxid = 0;
	z->nsync = 0;
	z->upstream = zab_master_pick(z, leader);
	if (z->peer_up[zab_idx(z, z->upstream)])
		send_fi(z);
	else
		z->fi_resend_at = z->now_ms;
}

void zab_learner_peer_up(struct zab *z, uint32_t peer)
{
	if (peer == z->upstream && z->lphase == LP_CONNECT)
		send_fi(z);
}

static void commit_upto(struct zab *z)
{
	tn_zxid to = TN_MIN(z->leader_commit, z->last_logged);
	if (z->lphase != LP_BROADCAST || to <= z->last_committed)
		return;
	zab_master_relay(z, to); /* INFORM downstream before barriers answer */
	zab_act_commit_to(z, to);
	zab_master_after_commit(z);
}

static void maybe_ack(struct zab *z)
{
	struct zab_msg m = { .kind = ZAB_M_ACK };
	if (z->i_observer || z->lphase < LP_WAIT_UPTODATE || z->last_durable <= z->last_acked)
		return;
	m.zxid = z->last_durable;
	send_to_leader(z, &m);
	z->last_acked = z->last_durable;
}

static void check_nl(struct zab *z)
{
	struct zab_msg m = { .kind = ZAB_M_ACKNL, .epoch = z->nl_epoch, .zxid = z->nl_zxid };
	if (z->lphase != LP_NL_PENDING || z->last_durable < z->nl_zxid)
		return;
	/* durable through the sync: now the epoch is ours */
	if (z->current_epoch != z->nl_epoch) {
		TN_ASSERT(z->nl_epoch > z->current_epoch && z->nl_epoch <= z->accepted_epoch);
		z->current_epoch = z->nl_epoch;
		zab_act_persist(z);
		zab_emit_state(z);
	}
	send_to_leader(z, &m);
	z->lphase = LP_WAIT_UPTODATE;
	z->last_acked = z->nl_zxid;
	maybe_ack(z);
}

void zab_learner_on_logged(struct zab *z)
{
	check_nl(z);
	maybe_ack(z);
}

/* Log the entries the leader sent that we do not have. */
static bool log_entries(struct zab *z, const struct zab_msg *m)
{
	struct tn_rd r = tn_rd_init(m->data, m->len);
	for (uint32_t i = 0; i < m->count; i++) {
		tn_zxid zxid;
		const uint8_t *p;
		uint32_t len;
		if (zab_entry_next(&r, &zxid, &p, &len) < 0)
			return false; /* decode checked it already */
		if (zxid <= z->last_logged)
			continue;
		if (zab_hist_add(z, zxid, p, len) < 0)
			return false;
		zab_act_append(z, zxid, p, len);
	}
	return true;
}

void zab_learner_on_msg(struct zab *z, uint32_t peer, const struct zab_msg *m)
{
	if (peer != z->upstream) {
		z->dropped++;
		return;
	}
	switch (m->kind) {
	case ZAB_M_LEADERINFO:
		if (z->lphase != LP_CONNECT || m->nonce != z->nonce)
			break;
		z->heard_ms = z->now_ms;
		if (m->epoch < z->accepted_epoch) {
			zab_go_looking(z);
			return;
		}
		if (m->epoch > z->accepted_epoch) {
			z->accepted_epoch = m->epoch;
			zab_act_persist(z);
		}
		z->nl_epoch = m->epoch;
		/* the leader of the stream we join (a master names it; 0: the sender),
		 * whatever our election vote said */
		if (zab_is_voter(z, m->leader ? m->leader : peer) &&
		    z->leader != (m->leader ? m->leader : peer)) {
			z->leader = m->leader ? m->leader : peer;
			zab_emit_state(z);
		}
		{
			struct zab_msg a = { .kind = ZAB_M_ACKEPOCH, .nonce = z->nonce,
					     .current_epoch = z->current_epoch, .zxid = z->last_logged };
			send_to_leader(z, &a);
		}
		z->lphase = LP_SYNC;
		return;
	case ZAB_M_DIFF:
	case ZAB_M_TRUNC:
	case ZAB_M_SNAP:
		if (z->lphase != LP_SYNC)
			break;
		z->heard_ms = z->now_ms;
		if (m->kind == ZAB_M_DIFF) {
			if (m->zxid != z->last_logged) {
				zab_go_looking(z);
				return;
			}
		} else if (m->kind == ZAB_M_TRUNC) {
			if (m->zxid > z->last_logged) {
				zab_go_looking(z);
				return;
			}
			zab_act_truncate(z, m->zxid);
		} else {
			zab_act_data(z, ZAB_ACT_SNAP_INSTALL, 0, m->zxid, m->data, m->len);
			zab_hist_reset(z, m->zxid);
			z->joint = false;   /* our log is gone; the host applies the snapshot's config */
			z->last_logged = z->last_durable = z->last_committed = m->zxid;
		}
		z->lphase = LP_SYNC_TXNS;
		return;
	case ZAB_M_PROPOSAL:
	case ZAB_M_INFORM:
		if (z->lphase < LP_SYNC_TXNS)
			break;
		z->heard_ms = z->now_ms;
		if (!log_entries(z, m)) {
			zab_go_looking(z);
			return;
		}
		if (m->kind == ZAB_M_INFORM) {
			z->leader_commit = TN_MAX(z->leader_commit, m->zxid2);
			commit_upto(z);
		}
		return;
	case ZAB_M_NEWLEADER:
		if (z->lphase != LP_SYNC_TXNS)
			break;
		z->heard_ms = z->now_ms;
		if (m->epoch != z->nl_epoch || m->zxid != z->last_logged) {
			zab_go_looking(z);
			return;
		}
		z->nl_zxid = m->zxid;
		z->lphase = LP_NL_PENDING;
		check_nl(z);
		return;
	case ZAB_M_UPTODATE:
		if (z->lphase != LP_WAIT_UPTODATE)
			break;
		z->heard_ms = z->now_ms;
		z->leader_commit = TN_MAX(z->leader_commit, m->zxid);
		z->lphase = LP_BROADCAST;
		zab_set_serving(z, true);
		commit_upto(z);
		return;
	case ZAB_M_COMMIT:
		if (z->lphase < LP_SYNC_TXNS)
			break;
		z->heard_ms = z->now_ms;
		z->leader_commit = TN_MAX(z->leader_commit, m->zxid);
		commit_upto(z);
		return;
	case ZAB_M_PING: {
		struct zab_msg r = { .kind = ZAB_M_PONG, .zxid = z->last_durable, .tag = m->tag };
		z->heard_ms = z->now_ms;
		if (z->lphase >= LP_SYNC_TXNS) {
			z->leader_commit = TN_MAX(z->leader_commit, m->zxid);
			commit_upto(z);
		}
		send_to_leader(z, &r);
		return;
	}
	case ZAB_M_LEAVE:
		if (m->nonce != z->nonce)
			break;
		/* not serving yet (or a loop): ask again until initLimit, then the
		 * next candidate; a master we followed stopped: look again */
		if (z->lphase != LP_CONNECT)
			zab_go_looking(z);
		return;
	case ZAB_M_SYNCRESP:
		if (z->lphase != LP_BROADCAST)
			break;
		z->heard_ms = z->now_ms;
		if (m->tag & ZAB_MASTER_TAG)
			zab_master_on_syncresp(z, m);
		else if (z->last_committed >= m->zxid)
			zab_act_simple(z, ZAB_ACT_SYNC_DONE, 0, 0, m->tag);
		else if (!zab_sync_push(z, 0, m->tag, m->zxid, 0))
			break;
		return;
	default:
		break;
	}
	z->dropped++;
}

void zab_learner_tick(struct zab *z)
{
	if (zab_idx(z, z->upstream) < 0) {
		zab_go_looking(z); /* our master left the configuration */
		return;
	}
	uint64_t limit = (z->lphase == LP_BROADCAST ? z->cfg.sync_limit : z->cfg.init_limit) *
			 (uint64_t)z->cfg.tick_ms;
	if (z->now_ms - z->heard_ms > limit) {
		zab_go_looking(z);
		return;
	}
	if (z->lphase == LP_CONNECT && z->now_ms >= z->fi_resend_at &&
	    z->peer_up[zab_idx(z, z->upstream)])
		send_fi(z);
}

int zab_learner_forward(struct zab *z, const void *req, size_t len)
{
	struct zab_msg m = { .kind = ZAB_M_REQUEST, .data = req, .len = len };
	if (z->lphase != LP_BROADCAST)
		return -EPERM;
	send_to_leader(z, &m);
	return 0;
}

int zab_learner_sync(struct zab *z, uint64_t tag)
{
	struct zab_msg m = { .kind = ZAB_M_SYNCREQ, .tag = tag };
	if (z->lphase != LP_BROADCAST)
		return -EPERM;
	send_to_leader(z, &m);
	return 0;
}
