/* consensus/zab_elect.c: fast leader election. Votes (epoch, last zxid, id)
 * are ordered lexicographically; a LOOKING voter adopts any larger vote of
 * its round and rebroadcasts; a vote held by a voter quorum for
 * finalize_wait_ms without a better one is decided. Servers already
 * FOLLOWING/LEADING answer LOOKING ones with the vote they decided, and a
 * quorum of such answers naming a leader that itself says LEADING lets a
 * joiner follow it without a new election. Votes may be lost, duplicated or
 * reordered: every handler is idempotent, and LOOKING servers resend. */
#include <string.h>

#include "consensus/zab_int.h"

static bool vote_gt(const struct zvote *a, const struct zvote *b)
{
	if (a->epoch != b->epoch)
		return a->epoch > b->epoch;
	if (a->zxid != b->zxid)
		return a->zxid > b->zxid;
	return a->leader > b->leader;
}

static bool vote_eq(const struct zvote *a, const struct zvote *b)
{
	return a->leader == b->leader && a->zxid == b->zxid && a->epoch == b->epoch;
}

static struct zvote my_initial_vote(const struct zab *z)
{
	if (z->i_observer)
		return (struct zvote){ 0, 0, 0 };
	return (struct zvote){ z->cfg.my_id, z->last_logged, z->current_epoch };
}

static void check_recv(struct zab *z);

static size_t encode_vote(struct zab *z)
{
	struct zab_msg m = { .kind = ZAB_M_VOTE, .state = (uint8_t)z->role,
			     .zxid2 = z->cfg_version, .data = z->cfg_blob,
			     .len = z->cfg_blob ? z->cfg_blob_len : 0 };
	if (z->role == ZAB_LOOKING) {
		m.round = z->round;
		m.leader = z->vote.leader;
		m.zxid = z->vote.zxid;
		m.epoch = z->vote.epoch;
	} else {
		m.round = z->decided_round;
		m.leader = z->decided.leader;
		m.zxid = z->decided.zxid;
		m.epoch = z->decided.epoch;
	}
	return zab_encode_arena(z, &m);
}

static void send_vote(struct zab *z, uint32_t peer)
{
	size_t off = encode_vote(z);
	zab_send_off(z, peer, true, off, z->arena_len - off);
}

/* A LOOKING voter tells every voter; an observer asks the voters. */
static void broadcast_vote(struct zab *z)
{
	size_t off = encode_vote(z), len = z->arena_len - off;
	for (uint32_t i = 0; i < z->cfg.member_count; i++) {
		const struct zab_member *mb = &z->cfg.members[i];
		if (mb->id != z->cfg.my_id && !mb->observer)
			zab_send_off(z, mb->id, true, off, len);
	}
	z->resend_at = z->now_ms + zab_resend_ms(z);
}

void zab_elect_start(struct zab *z)
{
	z->round++;
	z->elections++;
	z->vote = my_initial_vote(z);
	z->decide_at = 0;
	memset(z->recv, 0, sizeof(z->recv));
	memset(z->outset, 0, sizeof(z->outset));
	broadcast_vote(z);
	check_recv(z);
}

static void decide(struct zab *z, const struct zvote *v, uint32_t round)
{
	z->decided = *v;
	z->decided_round = round;
	z->decide_at = 0;
	if (v->leader == z->cfg.my_id) {
		TN_ASSERT(!z->i_observer);
		zab_leader_start(z);
	} else {
		zab_learner_start(z, v->leader);
	}
}

static bool recv_quorum(const struct zab *z)
{
	uint32_t n = 1; /* my own vote */
	for (uint32_t i = 0; i < z->cfg.member_count; i++) {
		const struct peer_vote *pv = &z->recv[i];
		if (i != z->my_idx && !z->cfg.members[i].observer && pv->valid &&
		    pv->round == z->round && vote_eq(&pv->v, &z->vote))
			n++;
	}
	return n >= z->quorum;
}

/* Every voter has voted my vote this round, or its channel is down: no
 * better vote can come, so waiting finalize_wait_ms would only delay. (Safety
 * does not rest on the election picking the best server: discovery checks.) */
static bool all_heard(const struct zab *z)
{
	for (uint32_t i = 0; i < z->cfg.member_count; i++) {
		const struct peer_vote *pv = &z->recv[i];
		if (i == z->my_idx || z->cfg.members[i].observer || !z->peer_up[i])
			continue;
		if (!pv->valid || pv->round != z->round || !vote_eq(&pv->v, &z->vote))
			return false;
	}
	return true;
}

static void check_recv(struct zab *z)
{
	if (z->i_observer)
		return;
	if (!recv_quorum(z))
		z->decide_at = 0;
	else if (all_heard(z))
		z->decide_at = z->now_ms; /* decided at the next tick */
	else if (z->decide_at == 0)
		z->decide_at = z->now_ms + z->cfg.finalize_wait_ms;
}

/* A quorum of voters out of election follow (or are) the leader @pv names,
 * and that leader itself says LEADING: follow it. Only the leader id must
 * match: servers that joined at different times decided different votes,
 * and safety does not rest on this (discovery checks epochs and histories). */
static void check_outset(struct zab *z, const struct peer_vote *pv)
{
	int li = zab_idx(z, pv->v.leader);
	uint32_t n = 0;

	if (li < 0 || pv->v.leader == z->cfg.my_id || z->cfg.members[li].observer)
		return;
	if (!z->outset[li].valid || z->outset[li].state != ZAB_LEADING ||
	    z->outset[li].v.leader != pv->v.leader)
		return;
	/* every member in the stream counts, observers too: after a reconfig our
	 * own view of who votes may be stale, and following a leader that is no
	 * longer one only costs a timeout (discovery decides) */
	for (uint32_t i = 0; i < z->cfg.member_count; i++) {
		const struct peer_vote *o = &z->outset[i];
		if (o->valid && o->v.leader == pv->v.leader)
			n++;
	}
	if (n >= z->quorum)
		decide(z, &z->outset[li].v, z->outset[li].round);
}

void zab_elect_on_vote(struct zab *z, uint32_t peer, const struct zab_msg *m)
{
	int pi = zab_idx(z, peer);
	bool from_observer;
	struct zvote v = { m->leader, m->zxid, m->epoch };
	struct peer_vote pv = { true, m->state, m->round, v };

	TN_ASSERT(pi >= 0);
	if (z->role == ZAB_LOOKING && m->zxid2 > z->cfg_version && m->zxid2 > z->cfg_offered &&
	    m->len > 0 && m->len <= ZAB_CONFIG_BLOB_MAX) {
		/* the sender lives under a newer committed config than ours: the
		 * host adopts it (ZAB_ACT_CONFIG), which restarts our election
		 * (the sender resends); a host that declines it (it knows as new
		 * a one) leaves us voting on, hearing this vote the next time */
		z->cfg_offered = m->zxid2;
		zab_act_data(z, ZAB_ACT_CONFIG, peer, m->zxid2, m->data, m->len);
		return;
	}
	from_observer = z->cfg.members[pi].observer;
	if (z->role != ZAB_LOOKING) {
		if (m->state == ZAB_LOOKING) {
			/* our own leader started a new election: it stepped down */
			if (peer == z->leader && z->role != ZAB_LEADING && m->round > z->decided_round) {
				zab_go_looking(z);
				return;
			}
			send_vote(z, peer);
		}
		return;
	}
	if (m->state != ZAB_LOOKING) {
		/* an answer from a member in the stream (an observer's too) */
		z->outset[pi] = pv;
		check_outset(z, &pv);
		return;
	}
	if (from_observer) {
		z->dropped++;
		return;
	}
	if (z->i_observer || !zab_is_voter(z, m->leader)) {
		if (!z->i_observer)
			z->dropped++;
		return;
	}
	if (m->round > z->round) {
		struct zvote mine = my_initial_vote(z);
		z->round = m->round;
		memset(z->recv, 0, sizeof(z->recv));
		z->vote = vote_gt(&v, &mine) ? v : mine;
		z->decide_at = 0;
		broadcast_vote(z);
	} else if (m->round < z->round) {
		send_vote(z, peer);
		return;
	} else if (vote_gt(&v, &z->vote)) {
		z->vote = v;
		z->decide_at = 0;
		broadcast_vote(z);
	}
	z->recv[pi] = pv;
	check_recv(z);
}

void zab_elect_tick(struct zab *z)
{
	if (z->now_ms >= z->resend_at)
		broadcast_vote(z);
	if (z->decide_at && z->now_ms >= z->decide_at) {
		if (recv_quorum(z))
			decide(z, &z->vote, z->round);
		else
			z->decide_at = 0;
	}
}

void zab_elect_peer_down(struct zab *z)
{
	if (z->decide_at)
		check_recv(z);
}
