/* tests/unit/test_consensus_zab.c. Description: the Zab core driven by
 * hand-made message sequences: election of the highest (epoch, zxid, id)
 * among three cores; DIFF / TRUNC / SNAP chosen for given learner and
 * leader histories; a txn commits at a voter quorum of durable acks and not
 * before; an observer gets INFORM and never counts toward the quorum; the
 * codec rejects a malformed message of every kind (truncated, trailing
 * bytes, bad version, bad fields); epoch roll-over makes the leader step
 * down so a new epoch starts; a sync barrier waits for a quorum PING round. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/zab_int.h"
#include "tests/lib/tn_test.h"

#define Z(e, c) ((tn_zxid)(e) << 32 | (c))
#define SENT_MAX 256

/* Actions one drain produced; SEND bytes copied. */
struct cap {
	uint32_t n;
	struct zab_act a[SENT_MAX];
	struct zab_msg m[SENT_MAX]; /* decoded SENDs */
	uint8_t *buf[SENT_MAX];
};

static void cap_free(struct cap *c)
{
	for (uint32_t i = 0; i < c->n; i++)
		free(c->buf[i]);
	c->n = 0;
}

static void drain(struct zab *z, struct cap *c)
{
	struct zab_act a;
	cap_free(c);
	while (zab_next_action(z, &a)) {
		CU_ASSERT_FATAL(c->n < SENT_MAX);
		c->a[c->n] = a;
		c->buf[c->n] = NULL;
		memset(&c->m[c->n], 0, sizeof(c->m[c->n]));
		if (a.data && a.len) {
			c->buf[c->n] = malloc(a.len);
			memcpy(c->buf[c->n], a.data, a.len);
			c->a[c->n].data = c->buf[c->n];
		}
		if (a.kind == ZAB_ACT_SEND)
			CU_ASSERT(zab_msg_decode(c->buf[c->n], a.len, &c->m[c->n]) == 0);
		c->n++;
	}
}

/* The first SEND of @kind to @peer, or NULL. */
static const struct zab_msg *find_send(const struct cap *c, uint32_t peer, uint8_t kind)
{
	for (uint32_t i = 0; i < c->n; i++)
		if (c->a[i].kind == ZAB_ACT_SEND && c->a[i].peer == peer && c->m[i].kind == kind)
			return &c->m[i];
	return NULL;
}

static uint32_t count_kind(const struct cap *c, enum zab_act_kind k)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < c->n; i++)
		n += c->a[i].kind == k;
	return n;
}

static int deliver(struct zab *z, uint32_t from, const struct zab_msg *m, uint64_t now)
{
	uint8_t buf[4096];
	size_t len = zab_msg_encode(m, buf, sizeof(buf));
	CU_ASSERT_FATAL(len <= sizeof(buf));
	return zab_on_message(z, from, buf, len, now);
}

static struct zab_cfg cfg3(uint32_t me, uint32_t voters, uint32_t observers)
{
	struct zab_cfg c = { .my_id = me, .member_count = voters + observers, .tick_ms = 100,
			     .init_limit = 10, .sync_limit = 5, .finalize_wait_ms = 50 };
	for (uint32_t i = 0; i < voters + observers; i++)
		c.members[i] = (struct zab_member){ i + 1, i >= voters };
	return c;
}

/* ---- election among three cores, every vote delivered ---- */

static uint32_t elect3(const struct zab_durable d[3])
{
	struct zab *z[3];
	struct cap *c = calloc(1, sizeof(*c));
	uint64_t now = 1000;
	uint32_t leader = 0;

	for (uint32_t i = 0; i < 3; i++) {
		struct zab_cfg cf = cfg3(i + 1, 3, 0);
		CU_ASSERT_FATAL(zab_create(&z[i], &cf, &d[i], now) == 0);
	}
	for (uint32_t round = 0; round < 50 && !leader; round++) {
		for (uint32_t i = 0; i < 3; i++) {
			zab_tick(z[i], now);
			drain(z[i], c);
			for (uint32_t k = 0; k < c->n; k++)
				if (c->a[k].kind == ZAB_ACT_SEND && c->a[k].election)
					zab_on_message(z[c->a[k].peer - 1], i + 1, c->a[k].data, c->a[k].len, now);
		}
		now += 10;
		for (uint32_t i = 0; i < 3; i++) {
			struct zab_info in;
			zab_info(z[i], &in);
			if (in.role == ZAB_LEADING)
				leader = i + 1;
		}
	}
	/* everyone else follows it */
	for (uint32_t i = 0; i < 3; i++) {
		struct zab_info in;
		zab_info(z[i], &in);
		if (i + 1 != leader)
			CU_ASSERT(in.role == ZAB_FOLLOWING || in.role == ZAB_LOOKING);
		zab_destroy(z[i]);
	}
	cap_free(c);
	free(c);
	return leader;
}

static void test_election_highest(void)
{
	struct zab_durable d[3] = { { 1, 1, Z(1, 5), Z(1, 5) }, { 1, 1, Z(1, 5), Z(1, 5) },
				    { 1, 1, Z(1, 5), Z(1, 5) } };
	CU_ASSERT_EQUAL(elect3(d), 3); /* a tie: the highest id */
	d[0].last_logged = d[0].last_applied = Z(1, 9);
	CU_ASSERT_EQUAL(elect3(d), 1); /* the highest zxid */
	d[1].accepted_epoch = d[1].current_epoch = 2;
	d[1].last_logged = d[1].last_applied = Z(2, 1);
	CU_ASSERT_EQUAL(elect3(d), 2); /* the highest epoch first */
}

/* A LOOKING core adopts a better vote of its round and rebroadcasts it. */
static void test_election_adopts_better_vote(void)
{
	struct zab_durable d = { 1, 1, Z(1, 5), Z(1, 5) };
	struct zab_cfg cf = cfg3(1, 3, 0);
	struct zab *z;
	struct cap *c = calloc(1, sizeof(*c));
	struct zab_msg v = { .kind = ZAB_M_VOTE, .state = ZAB_LOOKING, .round = 1, .leader = 2,
			     .zxid = Z(1, 9), .epoch = 1 };
	const struct zab_msg *out;

	CU_ASSERT_FATAL(zab_create(&z, &cf, &d, 0) == 0);
	zab_tick(z, 0);
	drain(z, c);
	out = find_send(c, 2, ZAB_M_VOTE);
	CU_ASSERT_FATAL(out != NULL);
	CU_ASSERT_EQUAL(out->leader, 1);
	CU_ASSERT_EQUAL(deliver(z, 2, &v, 1), 0);
	drain(z, c);
	out = find_send(c, 3, ZAB_M_VOTE);
	CU_ASSERT_FATAL(out != NULL);
	CU_ASSERT_EQUAL(out->leader, 2);
	CU_ASSERT_EQUAL(out->zxid, Z(1, 9));
	/* a worse vote changes nothing */
	v.leader = 3;
	v.zxid = Z(1, 2);
	CU_ASSERT_EQUAL(deliver(z, 3, &v, 2), 0);
	drain(z, c);
	CU_ASSERT(find_send(c, 2, ZAB_M_VOTE) == NULL);
	/* quorum {1,2} on 2, held past finalize_wait: follow 2 */
	zab_tick(z, 100);
	drain(z, c);
	CU_ASSERT(find_send(c, 2, ZAB_M_FOLLOWERINFO) == NULL); /* channel not up yet */
	zab_on_peer_up(z, 2, 101);
	drain(z, c);
	CU_ASSERT(find_send(c, 2, ZAB_M_FOLLOWERINFO) != NULL);
	zab_destroy(z);
	cap_free(c);
	free(c);
}

/* ---- a leader driven by hand ---- */

struct lead {
	struct zab *z;
	struct cap *c;
	uint64_t now;
};

/* Make core 1 LEADING by votes from 2 and 3. */
static void lead_setup(struct lead *L, uint32_t voters, uint32_t observers, const struct zab_durable *d,
		       uint32_t counter_max)
{
	struct zab_cfg cf = cfg3(1, voters, observers);
	struct zab_info in;
	cf.zxid_counter_max = counter_max;
	L->c = calloc(1, sizeof(*L->c));
	L->now = 1000;
	CU_ASSERT_FATAL(zab_create(&L->z, &cf, d, L->now) == 0);
	zab_tick(L->z, L->now);
	for (uint32_t p = 2; p <= voters + observers; p++)
		zab_on_peer_up(L->z, p, L->now);
	for (uint32_t p = 2; p <= voters; p++) {
		struct zab_msg v = { .kind = ZAB_M_VOTE, .state = ZAB_LOOKING, .round = 1, .leader = 1,
				     .zxid = d->last_logged, .epoch = d->current_epoch };
		CU_ASSERT(deliver(L->z, p, &v, L->now) == 0);
	}
	L->now += 100;
	zab_tick(L->z, L->now);
	drain(L->z, L->c);
	zab_info(L->z, &in);
	CU_ASSERT_FATAL(in.role == ZAB_LEADING);
}

static void lead_free(struct lead *L)
{
	zab_destroy(L->z);
	cap_free(L->c);
	free(L->c);
}

/* Learner @p: FOLLOWERINFO + ACKEPOCH; returns the leader's new epoch. */
static uint32_t learner_hello(struct lead *L, uint32_t p, bool observer, uint32_t cur, tn_zxid last,
			      tn_zxid prev)
{
	struct zab_msg fi = { .kind = ZAB_M_FOLLOWERINFO, .observer = observer, .nonce = 77 + p,
			      .accepted_epoch = cur, .current_epoch = cur, .zxid = last, .zxid2 = prev };
	struct zab_msg ae = { .kind = ZAB_M_ACKEPOCH, .nonce = 77 + p, .current_epoch = cur, .zxid = last };
	const struct zab_msg *li;
	uint32_t epoch;

	CU_ASSERT(deliver(L->z, p, &fi, L->now) == 0);
	drain(L->z, L->c);
	li = find_send(L->c, p, ZAB_M_LEADERINFO);
	if (!li)
		return 0;
	epoch = li->epoch;
	CU_ASSERT(deliver(L->z, p, &ae, L->now) == 0);
	drain(L->z, L->c);
	return epoch;
}

static struct zab_durable hist_durable(void)
{
	return (struct zab_durable){ 5, 5, Z(5, 10), Z(4, 1) };
}

/* Leader history: (4,1) applied, then (4,2) (4,3) (5,1)..(5,10) uncommitted. */
static void load_hist(struct zab *z)
{
	tn_zxid zs[] = { Z(4, 1), Z(4, 2), Z(4, 3) };
	for (uint32_t i = 0; i < 3; i++)
		CU_ASSERT(zab_history_load(z, zs[i], "t", 1) == 0);
	for (uint32_t c = 1; c <= 10; c++)
		CU_ASSERT(zab_history_load(z, Z(5, c), "u", 1) == 0);
}

static void sync_case_h(const struct zab_durable *dd, const tn_zxid *hist, uint32_t nhist, tn_zxid f,
			tn_zxid prev, uint8_t want_kind, tn_zxid want_zxid)
{
	struct lead L;
	struct zab_durable d = *dd;
	struct zab_cfg cf = cfg3(1, 3, 0);
	const struct zab_msg *m;

	/* like lead_setup, but with the history loaded before the first tick */
	L.c = calloc(1, sizeof(*L.c));
	L.now = 1000;
	CU_ASSERT_FATAL(zab_create(&L.z, &cf, &d, L.now) == 0);
	if (hist) {
		for (uint32_t i = 0; i < nhist; i++)
			CU_ASSERT(zab_history_load(L.z, hist[i], "h", 1) == 0);
	} else {
		load_hist(L.z);
	}
	zab_tick(L.z, L.now);
	zab_on_peer_up(L.z, 2, L.now);
	for (uint32_t p = 2; p <= 3; p++) {
		struct zab_msg v = { .kind = ZAB_M_VOTE, .state = ZAB_LOOKING, .round = 1, .leader = 1,
				     .zxid = d.last_logged, .epoch = d.current_epoch };
		deliver(L.z, p, &v, L.now);
	}
	L.now += 100;
	zab_tick(L.z, L.now);
	drain(L.z, L.c);
	CU_ASSERT_EQUAL(learner_hello(&L, 2, false, 4, f, prev), d.accepted_epoch + 1);
	if (want_kind == ZAB_M_SNAP) {
		CU_ASSERT(count_kind(L.c, ZAB_ACT_SNAP_SEND) == 1);
		CU_ASSERT(find_send(L.c, 2, ZAB_M_DIFF) == NULL);
		CU_ASSERT(find_send(L.c, 2, ZAB_M_TRUNC) == NULL);
		/* the host answers with its state at (4,1); the sync follows it */
		CU_ASSERT(zab_snap_send(L.z, 2, Z(4, 1), "snap", 4) == 0);
		drain(L.z, L.c);
	}
	m = find_send(L.c, 2, want_kind);
	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT_EQUAL(m->zxid, want_zxid);
	m = find_send(L.c, 2, ZAB_M_NEWLEADER);
	CU_ASSERT_FATAL(m != NULL);
	CU_ASSERT_EQUAL(m->zxid, d.last_logged);
	CU_ASSERT_EQUAL(m->epoch, d.accepted_epoch + 1);
	lead_free(&L);
}

static void sync_case(tn_zxid f, tn_zxid prev, uint8_t want_kind, tn_zxid want_zxid)
{
	struct zab_durable d = hist_durable();
	sync_case_h(&d, NULL, 0, f, prev, want_kind, want_zxid);
}

static void test_sync_selection(void)
{
	sync_case(Z(5, 6), ZAB_ZXID_UNKNOWN, ZAB_M_DIFF, Z(5, 6));     /* a prefix of ours */
	sync_case(Z(5, 10), ZAB_ZXID_UNKNOWN, ZAB_M_DIFF, Z(5, 10));   /* up to date */
	sync_case(Z(4, 1), ZAB_ZXID_UNKNOWN, ZAB_M_DIFF, Z(4, 1));     /* our base */
	sync_case(Z(4, 7), Z(3, 2), ZAB_M_TRUNC, Z(4, 3));             /* an epoch-4 tail we lack */
	sync_case(Z(3, 9), Z(2, 5), ZAB_M_SNAP, Z(4, 1));              /* older than our history */
	sync_case(Z(4, 0) + 0, ZAB_ZXID_UNKNOWN, ZAB_M_SNAP, Z(4, 1)); /* unknown point */
	{
		/* We skipped epoch 5 and hold (4,3), which the learner's epoch-5 leader
		 * lacked: the learner keeps only its log through (4,2), its last zxid
		 * before epoch 5, not through our (4,3). */
		struct zab_durable d = { 6, 6, Z(6, 2), Z(4, 1) };
		const tn_zxid h[] = { Z(4, 1), Z(4, 2), Z(4, 3), Z(6, 1), Z(6, 2) };
		sync_case_h(&d, h, 5, Z(5, 3), Z(4, 2), ZAB_M_TRUNC, Z(4, 2));
		sync_case_h(&d, h, 5, Z(5, 3), ZAB_ZXID_UNKNOWN, ZAB_M_SNAP, Z(4, 1));
	}
}

/* A voter of the ACKEPOCH quorum ahead of the leader makes it give up. */
static void test_leader_behind_gives_up(void)
{
	struct lead L;
	struct zab_durable d = { 3, 3, Z(3, 4), Z(3, 4) };
	struct zab_info in;

	lead_setup(&L, 3, 0, &d, 0);
	learner_hello(&L, 2, false, 3, Z(3, 9), ZAB_ZXID_UNKNOWN); /* same epoch, longer log */
	zab_info(L.z, &in);
	CU_ASSERT_EQUAL(in.role, ZAB_LOOKING);
	CU_ASSERT(find_send(L.c, 2, ZAB_M_DIFF) == NULL);
	CU_ASSERT(find_send(L.c, 2, ZAB_M_TRUNC) == NULL);
	lead_free(&L);
	lead_setup(&L, 3, 0, &d, 0);
	learner_hello(&L, 2, false, 2, Z(3, 9), ZAB_ZXID_UNKNOWN); /* older currentEpoch: not ahead */
	zab_info(L.z, &in);
	CU_ASSERT_EQUAL(in.role, ZAB_LEADING);
	CU_ASSERT(find_send(L.c, 2, ZAB_M_TRUNC) != NULL);
	lead_free(&L);
}

/* ---- broadcast ---- */

/* Establish with learner 2 (voter) and optionally 4 (observer). */
static uint32_t establish(struct lead *L, bool with_observer)
{
	struct zab_info in;
	uint32_t e = learner_hello(L, 2, false, 0, 0, 0);
	struct zab_msg nl = { .kind = ZAB_M_ACKNL, .epoch = e, .zxid = 0 };

	CU_ASSERT_EQUAL(e, 1);
	CU_ASSERT(find_send(L->c, 2, ZAB_M_DIFF) != NULL);
	if (with_observer) {
		CU_ASSERT_EQUAL(learner_hello(L, 4, true, 0, 0, 0), e);
		CU_ASSERT(deliver(L->z, 4, &nl, L->now) == 0);
		drain(L->z, L->c);
		zab_info(L->z, &in);
		CU_ASSERT(!in.serving); /* an observer's ack does not establish */
	}
	CU_ASSERT(deliver(L->z, 2, &nl, L->now) == 0);
	drain(L->z, L->c);
	CU_ASSERT(find_send(L->c, 2, ZAB_M_UPTODATE) != NULL);
	if (with_observer)
		CU_ASSERT(find_send(L->c, 4, ZAB_M_UPTODATE) != NULL);
	zab_info(L->z, &in);
	CU_ASSERT(in.serving);
	return e;
}

static void test_commit_at_quorum(void)
{
	struct lead L;
	struct zab_durable d = { 0, 0, 0, 0 };
	struct zab_msg ack = { .kind = ZAB_M_ACK };
	tn_zxid z1, z2;
	const struct zab_msg *p;

	lead_setup(&L, 3, 0, &d, 0);
	establish(&L, false);
	z1 = zab_next_zxid(L.z);
	CU_ASSERT_EQUAL(z1, Z(1, 1));
	CU_ASSERT_EQUAL(zab_propose(L.z, z1 + 1, "a", 1), -EINVAL);
	CU_ASSERT_EQUAL(zab_propose(L.z, z1, "a", 1), 0);
	z2 = zab_next_zxid(L.z);
	CU_ASSERT_EQUAL(zab_propose(L.z, z2, "b", 1), 0);
	zab_flush(L.z, L.now);
	drain(L.z, L.c);
	CU_ASSERT_EQUAL(count_kind(L.c, ZAB_ACT_LOG_APPEND), 2);
	p = find_send(L.c, 2, ZAB_M_PROPOSAL);
	CU_ASSERT_FATAL(p != NULL);
	CU_ASSERT_EQUAL(p->count, 2); /* one batch */
	CU_ASSERT(find_send(L.c, 3, ZAB_M_PROPOSAL) == NULL); /* 3 never synced */
	/* the leader's own durable log alone is not a quorum */
	zab_on_logged(L.z, z2, 0, L.now);
	drain(L.z, L.c);
	CU_ASSERT_EQUAL(count_kind(L.c, ZAB_ACT_COMMIT), 0);
	/* 2 acks the first: quorum {1,2} for z1 only */
	ack.zxid = z1;
	CU_ASSERT(deliver(L.z, 2, &ack, L.now) == 0);
	drain(L.z, L.c);
	CU_ASSERT_EQUAL(count_kind(L.c, ZAB_ACT_COMMIT), 1);
	CU_ASSERT(find_send(L.c, 2, ZAB_M_COMMIT) != NULL);
	CU_ASSERT_EQUAL(find_send(L.c, 2, ZAB_M_COMMIT)->zxid, z1);
	ack.zxid = z2;
	CU_ASSERT(deliver(L.z, 2, &ack, L.now) == 0);
	drain(L.z, L.c);
	CU_ASSERT_EQUAL(count_kind(L.c, ZAB_ACT_COMMIT), 1);
	CU_ASSERT_EQUAL(find_send(L.c, 2, ZAB_M_COMMIT)->zxid, z2);
	lead_free(&L);
}

static void test_observer_inform(void)
{
	struct lead L;
	struct zab_durable d = { 0, 0, 0, 0 };
	struct zab_msg ack = { .kind = ZAB_M_ACK };
	const struct zab_msg *inf;
	tn_zxid z1;

	/* voters 1,2,3 (quorum 2) + observer 4 */
	lead_setup(&L, 3, 1, &d, 0);
	establish(&L, true);
	z1 = zab_next_zxid(L.z);
	CU_ASSERT(zab_propose(L.z, z1, "x", 1) == 0);
	zab_flush(L.z, L.now);
	drain(L.z, L.c);
	CU_ASSERT(find_send(L.c, 4, ZAB_M_PROPOSAL) == NULL); /* observers get no proposals */
	zab_on_logged(L.z, z1, 0, L.now);
	ack.zxid = z1;
	CU_ASSERT(deliver(L.z, 4, &ack, L.now) == 0); /* an observer's ack is ignored */
	drain(L.z, L.c);
	CU_ASSERT_EQUAL(count_kind(L.c, ZAB_ACT_COMMIT), 0);
	CU_ASSERT(deliver(L.z, 2, &ack, L.now) == 0);
	drain(L.z, L.c);
	CU_ASSERT_EQUAL(count_kind(L.c, ZAB_ACT_COMMIT), 1);
	inf = find_send(L.c, 4, ZAB_M_INFORM);
	CU_ASSERT_FATAL(inf != NULL);
	CU_ASSERT_EQUAL(inf->count, 1);
	CU_ASSERT_EQUAL(inf->zxid2, z1);
	lead_free(&L);
}

static void test_rollover(void)
{
	struct lead L;
	struct zab_durable d = { 0, 0, 0, 0 };
	struct zab_msg ack = { .kind = ZAB_M_ACK };
	struct zab_info in;

	lead_setup(&L, 3, 0, &d, 3);
	establish(&L, false);
	for (uint32_t i = 1; i <= 3; i++) {
		tn_zxid z = zab_next_zxid(L.z);
		CU_ASSERT_EQUAL(z, Z(1, i));
		CU_ASSERT(zab_propose(L.z, z, "r", 1) == 0);
	}
	CU_ASSERT_EQUAL(zab_next_zxid(L.z), 0); /* the counter is spent */
	CU_ASSERT_EQUAL(zab_propose(L.z, Z(1, 4), "r", 1), -EAGAIN);
	zab_flush(L.z, L.now);
	zab_on_logged(L.z, Z(1, 3), 0, L.now);
	ack.zxid = Z(1, 3);
	deliver(L.z, 2, &ack, L.now);
	drain(L.z, L.c);
	CU_ASSERT_EQUAL(count_kind(L.c, ZAB_ACT_COMMIT), 3);
	L.now += 100;
	zab_tick(L.z, L.now);
	drain(L.z, L.c);
	zab_info(L.z, &in);
	CU_ASSERT_EQUAL(in.role, ZAB_LOOKING); /* steps down: the next leader starts epoch 2 */
	CU_ASSERT(!in.serving);
	lead_free(&L);
}

static void test_sync_barrier(void)
{
	struct lead L;
	struct zab_durable d = { 0, 0, 0, 0 };
	struct zab_msg ack = { .kind = ZAB_M_ACK }, pong = { .kind = ZAB_M_PONG };
	const struct zab_msg *ping;
	tn_zxid z1;

	lead_setup(&L, 3, 0, &d, 0);
	establish(&L, false);
	z1 = zab_next_zxid(L.z);
	CU_ASSERT(zab_propose(L.z, z1, "s", 1) == 0);
	CU_ASSERT(zab_sync(L.z, 42) == 0);
	zab_flush(L.z, L.now);
	drain(L.z, L.c);
	ping = find_send(L.c, 2, ZAB_M_PING);
	CU_ASSERT_FATAL(ping != NULL);
	pong.tag = ping->tag;
	zab_on_logged(L.z, z1, 0, L.now);
	ack.zxid = z1;
	deliver(L.z, 2, &ack, L.now);
	drain(L.z, L.c);
	CU_ASSERT_EQUAL(count_kind(L.c, ZAB_ACT_COMMIT), 1);
	CU_ASSERT_EQUAL(count_kind(L.c, ZAB_ACT_SYNC_DONE), 0); /* no quorum PING round yet */
	deliver(L.z, 2, &pong, L.now);
	drain(L.z, L.c);
	CU_ASSERT_EQUAL(count_kind(L.c, ZAB_ACT_SYNC_DONE), 1);
	CU_ASSERT_EQUAL(L.c->a[0].tag, 42);
	lead_free(&L);
}

/* ---- codec ---- */

static size_t enc(const struct zab_msg *m, uint8_t *buf, size_t cap)
{
	size_t n = zab_msg_encode(m, buf, cap);
	CU_ASSERT_FATAL(n <= cap);
	return n;
}

static void test_malformed_every_kind(void)
{
	uint8_t entries[2 * (ZAB_ENTRY_HDR + 1)], buf[256], bad[260];
	struct zab_msg m, back;
	struct zab *z;
	struct zab_cfg cf = cfg3(1, 3, 0);
	struct zab_durable d = { 0, 0, 0, 0 };

	tn_store_be64(entries, Z(1, 1));
	tn_store_be32(entries + 8, 1);
	entries[12] = 'a';
	tn_store_be64(entries + 13, Z(1, 2));
	tn_store_be32(entries + 21, 1);
	entries[25] = 'b';
	CU_ASSERT_FATAL(zab_create(&z, &cf, &d, 0) == 0);
	for (uint8_t k = 1; k < ZAB_M_END; k++) {
		size_t n;
		memset(&m, 0, sizeof(m));
		m.kind = k;
		if (k == ZAB_M_VOTE) {
			m.state = ZAB_LOOKING;
			m.leader = 2;
		}
		if (k == ZAB_M_PROPOSAL || k == ZAB_M_INFORM) {
			m.count = 2;
			m.data = entries;
			m.len = sizeof(entries);
		}
		if (k == ZAB_M_SNAP || k == ZAB_M_REQUEST) {
			m.data = (const uint8_t *)"abc";
			m.len = 3;
		}
		if (k > ZAB_M_VOTE && k < ZAB_M_FOLLOWERINFO)
			continue; /* not a kind */
		n = enc(&m, buf, sizeof(buf));
		CU_ASSERT_EQUAL(zab_msg_check(buf, n), k);
		CU_ASSERT(zab_msg_decode(buf, n, &back) == 0);
		CU_ASSERT_EQUAL(zab_msg_encode(&back, bad, sizeof(bad)), n);
		CU_ASSERT(memcmp(bad, buf, n) == 0);
		CU_ASSERT_EQUAL(zab_msg_is_election(buf, n), k == ZAB_M_VOTE);
		/* every truncation */
		for (size_t cut = 0; cut < n; cut++) {
			CU_ASSERT_EQUAL(zab_msg_check(buf, cut), -EBADMSG);
			CU_ASSERT_EQUAL(zab_on_message(z, 2, buf, cut, 0), -EBADMSG);
		}
		/* a trailing byte */
		memcpy(bad, buf, n);
		bad[n] = 0;
		CU_ASSERT_EQUAL(zab_msg_check(bad, n + 1), -EBADMSG);
		/* a wrong version */
		bad[0] = ZAB_MSG_VERSION + 1;
		CU_ASSERT_EQUAL(zab_msg_check(bad, n), -EBADMSG);
	}
	/* an unknown kind, a bad vote state, entries out of order, a count that lies */
	buf[0] = ZAB_MSG_VERSION;
	buf[1] = 200;
	CU_ASSERT_EQUAL(zab_msg_check(buf, 2), -EBADMSG);
	memset(&m, 0, sizeof(m));
	m.kind = ZAB_M_VOTE;
	m.state = 9;
	CU_ASSERT_EQUAL(zab_msg_check(buf, enc(&m, buf, sizeof(buf))), -EBADMSG);
	memset(&m, 0, sizeof(m));
	m.kind = ZAB_M_PROPOSAL;
	m.count = 2;
	m.data = entries;
	m.len = sizeof(entries);
	tn_store_be64(entries + 13, Z(1, 1));
	CU_ASSERT_EQUAL(zab_msg_check(buf, enc(&m, buf, sizeof(buf))), -EBADMSG);
	tn_store_be64(entries + 13, Z(1, 2));
	m.count = 3;
	CU_ASSERT_EQUAL(zab_msg_check(buf, enc(&m, buf, sizeof(buf))), -EBADMSG);
	m.count = 0;
	m.len = 0;
	CU_ASSERT_EQUAL(zab_msg_check(buf, enc(&m, buf, sizeof(buf))), -EBADMSG);
	/* FOLLOWERINFO with an observer flag that is not a bool */
	memset(&m, 0, sizeof(m));
	m.kind = ZAB_M_FOLLOWERINFO;
	enc(&m, buf, sizeof(buf));
	buf[2] = 2;
	CU_ASSERT_EQUAL(zab_msg_check(buf, zab_msg_encode(&m, NULL, 0)), -EBADMSG);
	zab_destroy(z);
}

static void test_create_rejects(void)
{
	struct zab *z;
	struct zab_durable d = { 0, 0, 0, 0 };
	struct zab_cfg c = cfg3(1, 3, 0);
	c.my_id = 9;
	CU_ASSERT_EQUAL(zab_create(&z, &c, &d, 0), -EINVAL); /* not a member */
	c = cfg3(1, 3, 0);
	c.members[2].id = 2;
	CU_ASSERT_EQUAL(zab_create(&z, &c, &d, 0), -EINVAL); /* duplicate id */
	c = cfg3(1, 0, 2);
	CU_ASSERT_EQUAL(zab_create(&z, &c, &d, 0), -EINVAL); /* no voter */
	c = cfg3(1, 3, 0);
	d.current_epoch = 2;
	CU_ASSERT_EQUAL(zab_create(&z, &c, &d, 0), -EINVAL); /* current > accepted */
}

static CU_TestInfo tests[] = {
	{ "election_highest", test_election_highest },
	{ "election_adopts_better_vote", test_election_adopts_better_vote },
	{ "sync_selection", test_sync_selection },
	{ "leader_behind_gives_up", test_leader_behind_gives_up },
	{ "commit_at_quorum", test_commit_at_quorum },
	{ "observer_inform", test_observer_inform },
	{ "rollover", test_rollover },
	{ "sync_barrier", test_sync_barrier },
	{ "malformed_every_kind", test_malformed_every_kind },
	{ "create_rejects", test_create_rejects },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "zab", NULL, NULL, NULL, NULL, tests },
	CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	return tn_test_main(argc, argv, suites);
}
