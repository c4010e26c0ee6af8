/* consensus/zab.c: the core's frame: creation, the history (the log as the
 * core knows it), the action queue and its byte arena, role changes, and
 * the event entry points that dispatch to zab_elect.c, zab_leader.c and
 * zab_learner.c. Single-threaded; no I/O, no clock, no randomness. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/zab_int.h"

#define HIST_CAP_MIN 64u
#define ACT_CAP_MIN 64u
#define ARENA_CAP_MIN 4096u

/* ---- members ---- */

int zab_idx(const struct zab *z, uint32_t id)
{
	for (uint32_t i = 0; i < z->cfg.member_count; i++)
		if (z->cfg.members[i].id == id)
			return (int)i;
	return -1;
}

bool zab_is_voter(const struct zab *z, uint32_t id)
{
	int i = zab_idx(z, id);
	return i >= 0 && !z->cfg.members[i].observer;
}

uint64_t zab_resend_ms(const struct zab *z)
{
	return TN_MAX(z->cfg.finalize_wait_ms, ZAB_RESEND_MS_MIN);
}

/* ---- history ---- */

const struct hent *zab_hist_at(const struct zab *z, uint32_t i)
{
	TN_ASSERT_HOT(i < z->h.n);
	return &z->h.v[z->h.head + i];
}

static tn_zxid hist_last(const struct zab *z)
{
	return z->h.n ? zab_hist_at(z, z->h.n - 1)->zxid : z->h.base;
}

uint32_t zab_hist_after(const struct zab *z, tn_zxid zxid)
{
	uint32_t lo = 0, hi = z->h.n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (zab_hist_at(z, mid)->zxid <= zxid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool zab_hist_contains(const struct zab *z, tn_zxid zxid)
{
	uint32_t i;
	if (zxid == z->h.base)
		return true;
	i = zab_hist_after(z, zxid);
	return i > 0 && zab_hist_at(z, i - 1)->zxid == zxid;
}

int zab_hist_add(struct zab *z, tn_zxid zxid, const void *data, uint32_t len)
{
	struct zab_hist *h = &z->h;
	uint8_t *copy;

	TN_ASSERT(zxid > hist_last(z));
	if (h->head + h->n == h->cap) {
		if (h->head > h->cap / 2) {
			memmove(h->v, h->v + h->head, h->n * sizeof(*h->v));
			h->head = 0;
		} else {
			uint32_t ncap = h->cap ? h->cap * 2 : HIST_CAP_MIN;
			struct hent *nv = realloc(h->v, ncap * sizeof(*nv));
			if (!nv)
				return -ENOMEM;
			h->v = nv;
			h->cap = ncap;
		}
	}
	copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	if (len)
		memcpy(copy, data, len);
	h->v[h->head + h->n] = (struct hent){ zxid, len, copy, z->now_ms };
	h->n++;
	h->bytes += len;
	return 0;
}

void zab_hist_truncate(struct zab *z, tn_zxid zxid)
{
	struct zab_hist *h = &z->h;
	while (h->n && h->v[h->head + h->n - 1].zxid > zxid) {
		struct hent *e = &h->v[h->head + h->n - 1];
		h->bytes -= e->len;
		free(e->data);
		h->n--;
	}
	if (zxid < h->base)
		h->base = zxid;
}

void zab_hist_reset(struct zab *z, tn_zxid base)
{
	zab_hist_truncate(z, 0);
	TN_ASSERT(z->h.n == 0 && z->h.bytes == 0);
	z->h.head = 0;
	z->h.base = base;
}

/* Drop committed entries past the caps; uncommitted ones always stay. */
void zab_hist_trim(struct zab *z)
{
	struct zab_hist *h = &z->h;
	while (h->n && h->v[h->head].zxid <= z->last_committed &&
	       (h->n > z->cfg.history_max || h->bytes > z->cfg.history_bytes_max)) {
		struct hent *e = &h->v[h->head];
		h->base = e->zxid;
		h->bytes -= e->len;
		free(e->data);
		h->head++;
		h->n--;
	}
	if (h->n == 0)
		h->head = 0;
}

/* The last logged zxid of an epoch before the last logged one, if known. */
tn_zxid zab_prev_epoch_last(const struct zab *z)
{
	uint32_t e = ZK_EPOCH(z->last_logged);
	for (uint32_t i = z->h.n; i > 0; i--) {
		tn_zxid x = zab_hist_at(z, i - 1)->zxid;
		if (ZK_EPOCH(x) < e)
			return x;
	}
	return ZK_EPOCH(z->h.base) < e ? z->h.base : ZAB_ZXID_UNKNOWN;
}

/* ---- actions ---- */

static size_t arena_alloc(struct zab *z, size_t len)
{
	size_t off = z->arena_len;
	if (z->arena_cap - z->arena_len < len) {
		size_t ncap = TN_MAX(z->arena_cap * 2, TN_MAX(z->arena_len + len, (size_t)ARENA_CAP_MIN));
		uint8_t *na = realloc(z->arena, ncap);
		TN_ASSERT(na != NULL); /* bounded by one event's output */
		z->arena = na;
		z->arena_cap = ncap;
	}
	z->arena_len += len;
	return off;
}

size_t zab_arena_grow(struct zab *z, size_t len)
{
	return arena_alloc(z, len);
}

static struct act_int *act_push(struct zab *z, enum zab_act_kind kind)
{
	struct act_int *a;
	if (z->act_head + z->act_n == z->act_cap) {
		if (z->act_head > 0) {
			memmove(z->acts, z->acts + z->act_head, z->act_n * sizeof(*a));
			z->act_head = 0;
		} else {
			uint32_t ncap = z->act_cap ? z->act_cap * 2 : ACT_CAP_MIN;
			struct act_int *na = realloc(z->acts, ncap * sizeof(*na));
			TN_ASSERT(na != NULL);
			z->acts = na;
			z->act_cap = ncap;
		}
	}
	a = &z->acts[z->act_head + z->act_n++];
	memset(a, 0, sizeof(*a));
	a->kind = (uint8_t)kind;
	return a;
}

/* A new event: the host drained the queue, so the arena can be reused. */
static void begin_event(struct zab *z, uint64_t now_ms)
{
	if (now_ms > z->now_ms)
		z->now_ms = now_ms;
	if (z->act_n == 0) {
		z->act_head = 0;
		z->arena_len = 0;
	}
}

size_t zab_encode_arena(struct zab *z, const struct zab_msg *m)
{
	size_t need = zab_msg_encode(m, NULL, 0);
	size_t off = arena_alloc(z, need);
	TN_ASSERT(zab_msg_encode(m, z->arena + off, need) == need);
	return off;
}

void zab_send_off(struct zab *z, uint32_t peer, bool election, size_t off, size_t len)
{
	struct act_int *a;
	TN_ASSERT(peer != z->cfg.my_id && zab_idx(z, peer) >= 0);
	a = act_push(z, ZAB_ACT_SEND);
	a->peer = peer;
	a->election = election;
	a->off = off;
	a->len = len;
}

void zab_send(struct zab *z, uint32_t peer, const struct zab_msg *m)
{
	size_t off = zab_encode_arena(z, m);
	zab_send_off(z, peer, m->kind == ZAB_M_VOTE, off, z->arena_len - off);
}

void zab_act_persist(struct zab *z)
{
	struct act_int *a = act_push(z, ZAB_ACT_PERSIST_EPOCH);
	TN_ASSERT(z->current_epoch <= z->accepted_epoch);
	a->a_ep = z->accepted_epoch;
	a->c_ep = z->current_epoch;
}

void zab_act_data(struct zab *z, enum zab_act_kind kind, uint32_t peer, tn_zxid zxid,
		  const void *data, size_t len)
{
	size_t off = arena_alloc(z, len);
	struct act_int *a;
	if (len)
		memcpy(z->arena + off, data, len);
	a = act_push(z, kind);
	a->peer = peer;
	a->zxid = zxid;
	a->off = off;
	a->len = len;
}

void zab_act_simple(struct zab *z, enum zab_act_kind kind, uint32_t peer, tn_zxid zxid, uint64_t tag)
{
	struct act_int *a = act_push(z, kind);
	a->peer = peer;
	a->zxid = zxid;
	a->tag = tag;
}

void zab_act_append(struct zab *z, tn_zxid zxid, const void *data, uint32_t len)
{
	TN_ASSERT(zxid > z->last_logged);
	zab_act_data(z, ZAB_ACT_LOG_APPEND, 0, zxid, data, len);
	z->last_logged = zxid;
}

void zab_act_truncate(struct zab *z, tn_zxid zxid)
{
	zab_act_simple(z, ZAB_ACT_LOG_TRUNCATE, 0, zxid, 0);
	zab_hist_truncate(z, zxid);
	if (z->joint && z->joint_zxid > zxid)
		z->joint = false;   /* the config txn is gone: it binds nothing */
	z->last_logged = TN_MIN(z->last_logged, zxid);
	z->last_durable = TN_MIN(z->last_durable, zxid);
	z->last_committed = TN_MIN(z->last_committed, zxid);
}

/* COMMIT every history entry in (last_committed, @upto]; they must be there. */
void zab_act_commit_to(struct zab *z, tn_zxid upto)
{
	uint32_t i;
	TN_ASSERT(upto <= z->last_logged);
	if (upto <= z->last_committed)
		return;
	TN_ASSERT(z->last_committed >= z->h.base);
	for (i = zab_hist_after(z, z->last_committed); i < z->h.n; i++) {
		const struct hent *e = zab_hist_at(z, i);
		if (e->zxid > upto)
			break;
		zab_act_data(z, ZAB_ACT_COMMIT, 0, e->zxid, e->data, e->len);
		z->commits++;
	}
	z->last_committed = upto;
	if (z->role != ZAB_LEADING)
		zab_syncs_answer(z, 0);
	zab_hist_trim(z);
}

/* Answer the barriers whose zxid is committed and whose PING round a voter
 * quorum answered (@confirmed_seq; learners' barriers have seq 0). SYNCRESP
 * goes after the COMMITs it covers: the caller sent those first. */
void zab_syncs_answer(struct zab *z, uint64_t confirmed_seq)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < z->nsync; i++) {
		const struct zsync *s = &z->syncs[i];
		if (s->zxid > z->last_committed || s->seq > confirmed_seq) {
			z->syncs[k++] = *s;
		} else if (s->peer == 0) {
			zab_act_simple(z, ZAB_ACT_SYNC_DONE, 0, 0, s->tag);
		} else {
			struct zab_msg m = { .kind = ZAB_M_SYNCRESP, .tag = s->tag, .zxid = s->zxid };
			zab_send(z, s->peer, &m);
		}
	}
	z->nsync = k;
}

bool zab_sync_push(struct zab *z, uint32_t peer, uint64_t tag, tn_zxid zxid, uint64_t seq)
{
	if (z->nsync >= ZAB_SYNC_PENDING_MAX)
		return false;
	if (!z->syncs) {
		z->syncs = malloc(ZAB_SYNC_PENDING_MAX * sizeof(*z->syncs));
		if (!z->syncs)
			return false;
	}
	z->syncs[z->nsync++] = (struct zsync){ peer, tag, zxid, seq };
	return true;
}

/* A learner's session ended: its unanswered barriers die with it. */
void zab_sync_drop_peer(struct zab *z, uint32_t peer)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < z->nsync; i++)
		if (z->syncs[i].peer != peer)
			z->syncs[k++] = z->syncs[i];
	z->nsync = k;
}

/* ---- role and state ---- */

void zab_emit_state(struct zab *z)
{
	struct act_int *a;
	if (z->st_role == z->role && z->st_leader == z->leader && z->st_epoch == z->current_epoch &&
	    z->st_serving == z->serving)
		return;
	z->st_role = z->role;
	z->st_leader = z->leader;
	z->st_epoch = z->current_epoch;
	z->st_serving = z->serving;
	a = act_push(z, ZAB_ACT_STATE);
	a->role = (uint8_t)z->role;
	a->leader = z->leader;
	a->epoch = z->current_epoch;
	a->serving = z->serving;
}

void zab_set_serving(struct zab *z, bool serving)
{
	z->serving = serving;
	zab_emit_state(z);
}

void zab_set_role(struct zab *z, enum zab_role role, uint32_t leader)
{
	z->role = role;
	z->leader = leader;
	z->serving = false;
	zab_emit_state(z);
}

void zab_go_looking(struct zab *z)
{
	zab_master_stop(z); /* LEAVE to our observers; the next upstream to try */
	z->nsync = 0; /* barriers die with the role; the host fails them on !serving */
	memset(z->ln, 0, sizeof(z->ln));
	z->established = false;
	z->lphase = LP_NONE;
	zab_set_role(z, ZAB_LOOKING, 0);
	if (!z->failed)
		zab_elect_start(z);
}

static void ensure_started(struct zab *z)
{
	if (z->started)
		return;
	z->started = true;
	/* the history must cover the uncommitted log tail (zab_history_load) */
	if (hist_last(z) != z->last_logged) {
		z->failed = true;
		z->st_role = ZAB_OBSERVING; /* force one STATE */
	}
	zab_go_looking(z);
}

/* O(1) invariants, checked after every event (always on: data is at stake). */
static void check(const struct zab *z)
{
	TN_ASSERT(z->current_epoch <= z->accepted_epoch);
	TN_ASSERT(z->last_committed <= z->last_logged && z->last_durable <= z->last_logged);
	TN_ASSERT(z->failed || hist_last(z) == z->last_logged); /* the core knows its log tail */
	TN_ASSERT(z->h.base <= z->last_committed);                /* uncommitted txns are kept */
	TN_ASSERT(z->role != ZAB_LEADING || z->last_proposed == z->last_logged);
	TN_ASSERT(!z->serving || z->role != ZAB_LOOKING);
	TN_ASSERT(z->nsync <= ZAB_SYNC_PENDING_MAX);
	TN_ASSERT_HOT(z->h.n == 0 || zab_hist_at(z, 0)->zxid > z->h.base);
}

/* ---- lifecycle ---- */

int zab_create(struct zab **out, const struct zab_cfg *cfg, const struct zab_durable *d,
	       uint64_t now_ms)
{
	struct zab *z;
	uint32_t voters = 0;
	int me = -1;

	if (!cfg || !d || cfg->member_count == 0 || cfg->member_count > ZAB_MEMBERS_MAX ||
	    cfg->my_id == 0 || cfg->tick_ms == 0 || cfg->init_limit == 0 || cfg->sync_limit == 0)
		return -EINVAL;
	for (uint32_t i = 0; i < cfg->member_count; i++) {
		if (cfg->members[i].id == 0)
			return -EINVAL;
		for (uint32_t j = 0; j < i; j++)
			if (cfg->members[j].id == cfg->members[i].id)
				return -EINVAL;
		if (cfg->members[i].id == cfg->my_id)
			me = (int)i;
		if (!cfg->members[i].observer)
			voters++;
	}
	if (me < 0 || voters == 0 || d->last_applied > d->last_logged ||
	    d->current_epoch > d->accepted_epoch)
		return -EINVAL;
	/* learner masters: not ourselves, no repeats (on a voter, or naming a
	 * non-member, they are ignored: reconfiguration may change either) */
	for (uint32_t i = 0; i < ZAB_UPSTREAM_MAX && cfg->upstream[i]; i++) {
		if (cfg->upstream[i] == cfg->my_id)
			return -EINVAL;
		for (uint32_t j = 0; j < i; j++)
			if (cfg->upstream[j] == cfg->upstream[i])
				return -EINVAL;
	}
	z = calloc(1, sizeof(*z));
	if (!z)
		return -ENOMEM;
	z->cfg = *cfg;
	if (!z->cfg.finalize_wait_ms)
		z->cfg.finalize_wait_ms = 200;
	if (!z->cfg.batch_txns_max)
		z->cfg.batch_txns_max = 1024;
	if (!z->cfg.batch_bytes_max)
		z->cfg.batch_bytes_max = 1u << 20;
	if (!z->cfg.inflight_max)
		z->cfg.inflight_max = 65536;
	if (!z->cfg.history_max)
		z->cfg.history_max = 100000;
	if (!z->cfg.history_bytes_max)
		z->cfg.history_bytes_max = 256ull << 20;
	if (!z->cfg.zxid_counter_max)
		z->cfg.zxid_counter_max = 0xfffffff0u;
	z->voters = voters;
	z->quorum = voters / 2 + 1;
	z->my_idx = (uint32_t)me;
	z->i_observer = cfg->members[me].observer;
	z->now_ms = now_ms;
	z->accepted_epoch = d->accepted_epoch;
	z->current_epoch = d->current_epoch;
	z->last_logged = d->last_logged;
	z->last_durable = d->last_logged;
	z->last_committed = d->last_applied;
	z->h.base = d->last_applied;
	z->role = z->st_role = ZAB_LOOKING;
	z->st_epoch = z->current_epoch;
	z->nonce_ctr = (uint32_t)now_ms << 12;
	*out = z;
	return 0;
}

void zab_destroy(struct zab *z)
{
	if (!z)
		return;
	zab_hist_reset(z, 0);
	free(z->h.v);
	free(z->acts);
	free(z->arena);
	free(z->syncs);
	free(z->m_relay);
	free(z->cfg_blob);
	free(z);
}

int zab_history_load(struct zab *z, tn_zxid zxid, const void *txn, size_t len)
{
	if (z->started || zxid > z->last_logged || len > ZAB_MSG_MAX || zxid == 0)
		return -EINVAL;
	if (z->h.n == 0 && zxid <= z->last_committed) {
		/* applied already: only a point the log holds, to DIFF from */
		z->h.base = zxid;
		return 0;
	}
	if (zxid <= hist_last(z))
		return -EINVAL;
	if (zab_hist_add(z, zxid, txn, (uint32_t)len) < 0)
		return -ENOMEM;
	zab_hist_trim(z);
	return 0;
}

/* ---- events ---- */

void zab_tick(struct zab *z, uint64_t now_ms)
{
	begin_event(z, now_ms);
	if (!z->started) {
		ensure_started(z);
		return;
	}
	if (z->failed)
		return;
	switch (z->role) {
	case ZAB_LOOKING: zab_elect_tick(z); break;
	case ZAB_LEADING: zab_leader_tick(z); break;
	default:
		zab_learner_tick(z);
		zab_master_tick(z);
		break;
	}
	check(z);
}

int zab_on_message(struct zab *z, uint32_t peer, const void *msg, size_t len, uint64_t now_ms)
{
	struct zab_msg m;

	begin_event(z, now_ms);
	ensure_started(z);
	if (zab_msg_decode(msg, len, &m) < 0) {
		z->dropped++;
		return -EBADMSG;
	}
	if (z->failed || peer == z->cfg.my_id || zab_idx(z, peer) < 0) {
		z->dropped++;
		return 0;
	}
	if (m.kind == ZAB_M_VOTE) {
		zab_elect_on_vote(z, peer, &m);
		return 0;
	}
	if (z->role == ZAB_LEADING)
		zab_leader_on_msg(z, peer, &m);
	else if (m.kind == ZAB_M_FOLLOWERINFO || (z->role != ZAB_LOOKING && peer != z->upstream))
		zab_master_on_msg(z, peer, &m); /* an observer of ours (or a refused one) */
	else if (z->role != ZAB_LOOKING)
		zab_learner_on_msg(z, peer, &m);
	else
		z->dropped++;
	check(z);
	return 0;
}

void zab_on_peer_up(struct zab *z, uint32_t peer, uint64_t now_ms)
{
	int i = zab_idx(z, peer);
	begin_event(z, now_ms);
	ensure_started(z);
	if (i < 0 || peer == z->cfg.my_id)
		return;
	z->peer_up[i] = true;
	if (!z->failed && (z->role == ZAB_FOLLOWING || z->role == ZAB_OBSERVING))
		zab_learner_peer_up(z, peer);
}

void zab_on_peer_down(struct zab *z, uint32_t peer, uint64_t now_ms)
{
	int i = zab_idx(z, peer);
	begin_event(z, now_ms);
	ensure_started(z);
	if (i < 0 || peer == z->cfg.my_id)
		return;
	z->peer_up[i] = false;
	if (z->failed)
		return;
	if (z->role == ZAB_LEADING)
		zab_leader_peer_down(z, peer);
	else if (z->role != ZAB_LOOKING && peer == z->upstream)
		zab_go_looking(z);
	else if (z->role != ZAB_LOOKING)
		zab_master_peer_down(z, peer);
	else if (z->role == ZAB_LOOKING)
		zab_elect_peer_down(z); /* one fewer vote to wait for */
	check(z);
}

void zab_on_logged(struct zab *z, tn_zxid zxid, int err, uint64_t now_ms)
{
	begin_event(z, now_ms);
	ensure_started(z);
	if (z->failed)
		return;
	if (err < 0) {
		z->failed = true;
		zab_go_looking(z);
		return;
	}
	zxid = TN_MIN(zxid, z->last_logged); /* a report from before a truncation */
	if (zxid <= z->last_durable)
		return;
	z->last_durable = zxid;
	if (z->role == ZAB_LEADING)
		zab_leader_on_logged(z);
	else if (z->role != ZAB_LOOKING)
		zab_learner_on_logged(z);
	check(z);
}

int zab_snap_send(struct zab *z, uint32_t peer, tn_zxid zxid, const void *snap, size_t len)
{
	begin_event(z, z->now_ms);
	if (z->failed || z->role == ZAB_LOOKING)
		return -EPERM;
	if (len > ZAB_SNAP_MAX)
		return -EMSGSIZE;
	if (z->role != ZAB_LEADING)
		return zab_master_snap_send(z, peer, zxid, snap, len);
	return zab_leader_snap_send(z, peer, zxid, snap, len);
}

/* ---- requests ---- */

static uint32_t inflight(const struct zab *z)
{
	return z->h.n - zab_hist_after(z, z->last_committed);
}

tn_zxid zab_next_zxid(const struct zab *z)
{
	tn_zxid next;
	if (z->failed || z->role != ZAB_LEADING || !z->serving || inflight(z) >= z->cfg.inflight_max)
		return 0;
	if (ZK_EPOCH(z->last_proposed) == z->current_epoch)
		next = z->last_proposed + 1;
	else
		next = (tn_zxid)z->current_epoch << 32 | 1u;
	if (ZK_COUNTER(next) > z->cfg.zxid_counter_max || ZK_COUNTER(next) == 0)
		return 0;
	return next;
}

int zab_propose(struct zab *z, tn_zxid zxid, const void *txn, size_t len)
{
	tn_zxid want;
	begin_event(z, z->now_ms);
	if (z->failed || z->role != ZAB_LEADING || !z->serving)
		return -EPERM;
	if (len > ZAB_MSG_MAX / 2)
		return -EINVAL;
	want = zab_next_zxid(z);
	if (want == 0)
		return -EAGAIN;
	if (zxid != want)
		return -EINVAL;
	if (zab_hist_add(z, zxid, txn, (uint32_t)len) < 0)
		return -ENOMEM;
	zab_act_append(z, zxid, txn, (uint32_t)len);
	z->last_proposed = zxid;
	z->proposals++;
	check(z);
	return 0;
}

void zab_flush(struct zab *z, uint64_t now_ms)
{
	begin_event(z, now_ms);
	if (!z->failed && z->role == ZAB_LEADING)
		zab_leader_flush(z);
}

int zab_forward(struct zab *z, const void *req, size_t len)
{
	begin_event(z, z->now_ms);
	if (z->failed || (z->role != ZAB_FOLLOWING && z->role != ZAB_OBSERVING))
		return -EPERM;
	if (len + 16 > ZAB_MSG_MAX)
		return -EMSGSIZE;
	return zab_learner_forward(z, req, len);
}

int zab_sync(struct zab *z, uint64_t tag)
{
	begin_event(z, z->now_ms);
	if (tag & ZAB_MASTER_TAG)
		return -EINVAL;
	if (z->failed || !z->serving)
		return -EPERM;
	if (z->role == ZAB_LEADING)
		return zab_leader_sync(z, tag);
	return zab_learner_sync(z, tag);
}

/* ---- output ---- */

bool zab_next_action(struct zab *z, struct zab_act *out)
{
	const struct act_int *a;
	if (z->act_n == 0)
		return false;
	a = &z->acts[z->act_head++];
	z->act_n--;
	memset(out, 0, sizeof(*out));
	out->kind = (enum zab_act_kind)a->kind;
	out->peer = a->peer;
	out->election = a->election;
	out->zxid = a->zxid;
	out->data = a->len ? z->arena + a->off : NULL;
	out->len = a->len;
	out->tag = a->tag;
	out->accepted_epoch = a->a_ep;
	out->current_epoch = a->c_ep;
	out->role = (enum zab_role)a->role;
	out->leader = a->leader;
	out->epoch = a->epoch;
	out->serving = a->serving;
	return true;
}

void zab_info(const struct zab *z, struct zab_info *out)
{
	memset(out, 0, sizeof(*out));
	out->role = z->role;
	out->leader = z->leader;
	out->serving = z->serving;
	out->accepted_epoch = z->accepted_epoch;
	out->current_epoch = z->current_epoch;
	out->last_logged = z->last_logged;
	out->last_durable = z->last_durable;
	out->last_committed = z->last_committed;
	out->last_proposed = z->last_proposed;
	out->round = z->round;
	for (uint32_t i = 0; i < z->cfg.member_count; i++)
		if (z->ln[i].st == LN_SYNCED) {
			out->synced_learners++;
			out->synced_observers += z->cfg.members[i].observer;
		}
	out->upstream = z->role == ZAB_FOLLOWING || z->role == ZAB_OBSERVING ? z->upstream : 0;
	out->inflight = z->role == ZAB_LEADING ? inflight(z) : 0;
	out->proposals = z->proposals;
	out->batches = z->batches;
	out->commits = z->commits;
	out->elections = z->elections;
	out->dropped = z->dropped;
	out->failed = z->failed;
}

const char *zab_role_name(enum zab_role r)
{
	switch (r) {
	case ZAB_LOOKING: return "LOOKING";
	case ZAB_FOLLOWING: return "FOLLOWING";
	case ZAB_LEADING: return "LEADING";
	case ZAB_OBSERVING: return "OBSERVING";
	}
	return "?";
}

/* ---- lag, for metrics (zab_peer_info) ---- */

/* Txns in (@from, @to]: the counter difference within an epoch, else the
 * history entries in that range (a lower bound once trimmed). */
static uint64_t txns_between(const struct zab *z, tn_zxid from, tn_zxid to)
{
	if (to <= from)
		return 0;
	if (ZK_EPOCH(from) == ZK_EPOCH(to))
		return ZK_COUNTER(to) - ZK_COUNTER(from);
	uint32_t a = zab_hist_after(z, from), b = zab_hist_after(z, to);
	TN_ASSERT(a <= b && b <= z->h.n);
	return b - a;
}

/* ms since the oldest txn above @have was taken in, as of @at_ms (0: none). */
static uint64_t age_after(const struct zab *z, tn_zxid have, tn_zxid target, uint64_t at_ms)
{
	uint32_t i;

	if (target <= have || z->h.n == 0)
		return 0;
	i = zab_hist_after(z, have);
	if (i >= z->h.n)
		return 0;
	const struct hent *e = zab_hist_at(z, i);
	TN_ASSERT(e->zxid > have);
	return at_ms > e->at_ms ? at_ms - e->at_ms : 0;
}

int zab_peer_info(const struct zab *z, uint32_t i, uint64_t now_ms, struct zab_peer_info *out)
{
	TN_ASSERT(z && out);
	if (i >= z->cfg.member_count)
		return -ERANGE;
	memset(out, 0, sizeof(*out));
	out->id = z->cfg.members[i].id;
	out->observer = z->cfg.members[i].observer;
	if (i == z->my_idx)
		return -ENODATA;
	if (z->role == ZAB_LEADING) {
		const struct learner *l = &z->ln[i];
		if (l->st != LN_SYNCING && l->st != LN_SYNCED)
			return -ENODATA;
		out->synced = l->st == LN_SYNCED;
		out->report_age_ms = now_ms > l->heard_ms ? now_ms - l->heard_ms : 0;
		if (!l->observer) {
			out->live = true;
			out->zxid = TN_MAX(l->acked, l->nl_zxid);
			out->target = z->last_proposed;
			out->lag_ms = age_after(z, out->zxid, out->target, now_ms);
		} else if (l->pong_ms) {
			out->zxid = l->pong_zxid;
			out->target = l->pong_commit;
			out->lag_ms = age_after(z, out->zxid, out->target, l->pong_ms);
		} else {
			out->zxid = l->nl_zxid; /* no PONG yet: what its sync carried */
			out->target = z->last_committed;
		}
		out->lag_txns = txns_between(z, out->zxid, out->target);
		TN_ASSERT((out->lag_txns == 0 && out->lag_ms == 0) || out->target > out->zxid);
		return 0;
	}
	if ((z->role != ZAB_FOLLOWING && z->role != ZAB_OBSERVING) || out->id != z->upstream)
		return -ENODATA;
	out->synced = z->lphase == LP_BROADCAST;
	out->live = true;
	out->report_age_ms = now_ms > z->heard_ms ? now_ms - z->heard_ms : 0;
	out->zxid = z->last_committed;
	out->target = z->leader_commit;
	out->lag_txns = txns_between(z, out->zxid, out->target);
	out->lag_ms = age_after(z, out->zxid, out->target, now_ms);
	TN_ASSERT((out->lag_txns == 0 && out->lag_ms == 0) || out->target > out->zxid);
	return 0;
}
