/* tests/unit/test_consensus_master.c. Description: learner masters and
 * observer chaining (consensus/zab_master.c) on a small deterministic
 * network of real Zab cores (every message delivered in FIFO order, logs
 * durable at once): the config checks (no self, no repeats; ignored on a
 * voter); the LEAVE and LEADERINFO codec and the
 * reserved barrier tag; a chain leader <- follower <- observer <- observer
 * where the leader feeds no observer, a write forwarded from the chain's end
 * commits everywhere in one order, and a sync barrier there completes only
 * after what the leader had; the middle observer crashes: its downstream
 * falls back to the leader and catches up, and the restarted middle one
 * syncs from its master again; a downstream too far behind for the
 * master's history gets a SNAP from the master; two observers naming each
 * other both end up serving without a cycle. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/zab_int.h"
#include "tests/lib/tn_test.h"

#define NODES_MAX 6u
#define TXN_MAX 32u
#define LOG_MAX 512u
#define QUEUE_MAX 65536u
#define STEPS_MAX 4000u

struct rec {
	tn_zxid zxid;
	uint8_t len;
	uint8_t d[TXN_MAX];
};

struct node {
	struct zab *z;
	struct zab_cfg cfg;
	uint32_t acc_ep, cur_ep;
	struct rec log[LOG_MAX], state[LOG_MAX];
	uint32_t nlog, nstate;
	uint64_t done_tag; /* the last SYNC_DONE */
	uint32_t done_need; /* leader commits the barrier must cover */
	bool done_ok;
	uint32_t snaps_installed, snaps_sent;
};

struct qmsg {
	uint32_t from, to;
	size_t len;
	uint8_t *data;
};

struct net {
	uint32_t n;
	struct node nd[NODES_MAX];
	struct qmsg *q;
	uint32_t qh, qn;
	uint64_t now;
	uint32_t seq;
};

static struct node *node_of(struct net *t, uint32_t id)
{
	return &t->nd[id - 1];
}

static void net_push(struct net *t, uint32_t from, uint32_t to, const uint8_t *p, size_t len)
{
	struct qmsg *m;
	if (!node_of(t, to)->z)
		return; /* down: lost */
	CU_ASSERT_FATAL(t->qh + t->qn < QUEUE_MAX);
	m = &t->q[t->qh + t->qn++];
	m->from = from;
	m->to = to;
	m->len = len;
	m->data = malloc(len);
	CU_ASSERT_FATAL(m->data != NULL);
	memcpy(m->data, p, len);
}

static void snap_encode(const struct node *s, uint8_t **out, size_t *len)
{
	*len = s->nstate * sizeof(struct rec);
	*out = malloc(*len ? *len : 1);
	if (*len)
		memcpy(*out, s->state, *len);
}

static void drain(struct net *t, uint32_t id);

static void propose(struct net *t, uint32_t id, const uint8_t *txn, size_t len)
{
	struct node *s = node_of(t, id);
	tn_zxid zxid = zab_next_zxid(s->z);
	CU_ASSERT_FATAL(zxid != 0);
	CU_ASSERT_FATAL(zab_propose(s->z, zxid, txn, len) == 0);
}

static void drain(struct net *t, uint32_t id)
{
	struct node *s = node_of(t, id);
	struct zab_act a;
	uint8_t buf[TXN_MAX];

	for (uint32_t round = 0; round < 64 && s->z; round++) {
		while (s->z && zab_next_action(s->z, &a)) {
			switch (a.kind) {
			case ZAB_ACT_SEND:
				net_push(t, id, a.peer, a.data, a.len);
				break;
			case ZAB_ACT_PERSIST_EPOCH:
				s->acc_ep = a.accepted_epoch;
				s->cur_ep = a.current_epoch;
				break;
			case ZAB_ACT_LOG_APPEND:
				CU_ASSERT_FATAL(s->nlog < LOG_MAX && a.len <= TXN_MAX);
				s->log[s->nlog] = (struct rec){ .zxid = a.zxid, .len = (uint8_t)a.len };
				memcpy(s->log[s->nlog++].d, a.data, a.len);
				break;
			case ZAB_ACT_LOG_TRUNCATE:
				while (s->nlog && s->log[s->nlog - 1].zxid > a.zxid)
					s->nlog--;
				if (s->nstate && s->state[s->nstate - 1].zxid > a.zxid) {
					memcpy(s->state, s->log, s->nlog * sizeof(struct rec));
					s->nstate = s->nlog;
				}
				break;
			case ZAB_ACT_SNAP_SEND: {
				uint8_t *p;
				size_t len;
				tn_zxid at = s->nstate ? s->state[s->nstate - 1].zxid : 0;
				snap_encode(s, &p, &len);
				CU_ASSERT(zab_snap_send(s->z, a.peer, at, p, len) == 0);
				s->snaps_sent++;
				free(p);
				break;
			}
			case ZAB_ACT_SNAP_INSTALL:
				CU_ASSERT_FATAL(a.len % sizeof(struct rec) == 0);
				s->nstate = s->nlog = (uint32_t)(a.len / sizeof(struct rec));
				memcpy(s->state, a.data, a.len);
				memcpy(s->log, a.data, a.len);
				s->snaps_installed++;
				break;
			case ZAB_ACT_COMMIT:
				CU_ASSERT_FATAL(s->nstate < LOG_MAX && a.len <= TXN_MAX);
				CU_ASSERT(s->nstate == 0 || a.zxid > s->state[s->nstate - 1].zxid);
				s->state[s->nstate] = (struct rec){ .zxid = a.zxid, .len = (uint8_t)a.len };
				memcpy(s->state[s->nstate++].d, a.data, a.len);
				break;
			case ZAB_ACT_REQUEST:
				memcpy(buf, a.data, a.len);
				propose(t, id, buf, a.len);
				break;
			case ZAB_ACT_SYNC_DONE:
				s->done_tag = a.tag;
				s->done_ok = s->nstate >= s->done_need;
				break;
			case ZAB_ACT_STATE:
			case ZAB_ACT_CONFIG:   /* no reconfig here */
				break;
			}
		}
		/* every append is durable at once */
		if (!s->z || s->nlog == 0)
			return;
		struct zab_info in;
		zab_info(s->z, &in);
		if (in.last_durable >= s->log[s->nlog - 1].zxid)
			return;
		zab_on_logged(s->z, s->log[s->nlog - 1].zxid, 0, t->now);
	}
}

static void links(struct net *t, uint32_t id, bool up)
{
	for (uint32_t j = 1; j <= t->n; j++) {
		if (j == id || !node_of(t, j)->z)
			continue;
		if (up) {
			zab_on_peer_up(node_of(t, j)->z, id, t->now);
			zab_on_peer_up(node_of(t, id)->z, j, t->now);
			drain(t, id);
		} else {
			zab_on_peer_down(node_of(t, j)->z, id, t->now);
		}
		drain(t, j);
	}
}

static void start(struct net *t, uint32_t id)
{
	struct node *s = node_of(t, id);
	struct zab_durable d = { .accepted_epoch = s->acc_ep, .current_epoch = s->cur_ep };

	/* recovery applies the whole log */
	memcpy(s->state, s->log, s->nlog * sizeof(struct rec));
	s->nstate = s->nlog;
	d.last_logged = d.last_applied = s->nlog ? s->log[s->nlog - 1].zxid : 0;
	CU_ASSERT_FATAL(zab_create(&s->z, &s->cfg, &d, t->now) == 0);
	for (uint32_t i = 0; i < s->nlog; i++)
		CU_ASSERT_FATAL(zab_history_load(s->z, s->log[i].zxid, s->log[i].d, s->log[i].len) == 0);
	zab_tick(s->z, t->now);
	drain(t, id);
	links(t, id, true);
}

static void crash(struct net *t, uint32_t id)
{
	struct node *s = node_of(t, id);
	zab_destroy(s->z);
	s->z = NULL;
	/* what was in flight to or from it is lost */
	for (uint32_t i = 0; i < t->qn; i++) {
		struct qmsg *m = &t->q[t->qh + i];
		if (m->to == id || m->from == id) {
			free(m->data);
			m->data = NULL;
		}
	}
	links(t, id, false);
}

static void step(struct net *t)
{
	t->now += 10;
	for (uint32_t id = 1; id <= t->n; id++) {
		struct node *s = node_of(t, id);
		if (!s->z)
			continue;
		zab_tick(s->z, t->now);
		zab_flush(s->z, t->now);
		drain(t, id);
	}
	for (uint32_t k = 0; k < QUEUE_MAX && t->qn; k++) {
		struct qmsg m = t->q[t->qh++];
		t->qn--;
		if (m.data && node_of(t, m.to)->z) {
			zab_on_message(node_of(t, m.to)->z, m.from, m.data, m.len, t->now);
			drain(t, m.to);
			/* a leader batches until flushed */
			zab_flush(node_of(t, m.to)->z, t->now);
			drain(t, m.to);
		}
		free(m.data);
		if (t->qn == 0)
			t->qh = 0;
	}
	if (t->qn == 0)
		t->qh = 0;
}

static struct zab_info info(struct net *t, uint32_t id)
{
	struct zab_info in;
	zab_info(node_of(t, id)->z, &in);
	return in;
}

static bool all_serving(struct net *t)
{
	for (uint32_t id = 1; id <= t->n; id++)
		if (node_of(t, id)->z && !info(t, id).serving)
			return false;
	return true;
}

/* Run until @cond holds (true) or the step budget is spent (false). */
static bool run_until(struct net *t, bool (*cond)(struct net *))
{
	for (uint32_t k = 0; k < STEPS_MAX; k++) {
		if (cond(t))
			return true;
		step(t);
	}
	return cond(t);
}

/* 3 voters + @obs observers; upstream lists per observer (0-terminated). */
static struct net *net_new(uint32_t obs, const uint32_t up[][3], uint32_t history_max)
{
	struct net *t = calloc(1, sizeof(*t));
	CU_ASSERT_FATAL(t != NULL);
	t->q = calloc(QUEUE_MAX, sizeof(*t->q));
	CU_ASSERT_FATAL(t->q != NULL);
	t->n = 3 + obs;
	t->now = 1000;
	for (uint32_t i = 0; i < t->n; i++) {
		struct zab_cfg *c = &t->nd[i].cfg;
		*c = (struct zab_cfg){ .my_id = i + 1, .member_count = t->n, .tick_ms = 50,
				       .init_limit = 10, .sync_limit = 5, .finalize_wait_ms = 20,
				       .history_max = history_max, .history_bytes_max = 1u << 20 };
		for (uint32_t j = 0; j < t->n; j++)
			c->members[j] = (struct zab_member){ j + 1, j >= 3 };
		for (uint32_t k = 0; i >= 3 && k < 3; k++)
			c->upstream[k] = up[i - 3][k];
	}
	for (uint32_t id = 1; id <= t->n; id++)
		start(t, id);
	return t;
}

static void net_free(struct net *t)
{
	for (uint32_t id = 1; id <= t->n; id++)
		zab_destroy(node_of(t, id)->z);
	for (uint32_t i = 0; i < t->qn; i++)
		free(t->q[t->qh + i].data);
	free(t->q);
	free(t);
}

/* A write: proposed at the leader (3), or forwarded from a learner. */
static void write_at(struct net *t, uint32_t id)
{
	uint8_t txn[16];
	memset(txn, 0, sizeof(txn));
	tn_store_be32(txn, id);
	tn_store_be32(txn + 4, ++t->seq);
	if (info(t, id).role == ZAB_LEADING)
		propose(t, id, txn, sizeof(txn));
	else
		CU_ASSERT(zab_forward(node_of(t, id)->z, txn, sizeof(txn)) == 0);
	drain(t, id);
}

/* Every live server applied exactly the leader's sequence. */
static bool caught_up(struct net *t)
{
	const struct node *l = node_of(t, 3);
	if (t->qn || l->nstate != l->nlog)
		return false; /* in flight, or not committed yet */
	for (uint32_t id = 1; id <= t->n; id++) {
		const struct node *s = node_of(t, id);
		if (!s->z)
			continue;
		if (s->nstate != l->nstate)
			return false;
		for (uint32_t i = 0; i < s->nstate; i++)
			if (s->state[i].zxid != l->state[i].zxid ||
			    memcmp(s->state[i].d, l->state[i].d, s->state[i].len) != 0)
				return false;
	}
	return true;
}

static bool serving_and_caught_up(struct net *t)
{
	return all_serving(t) && caught_up(t);
}

/* ---- config and codec ---- */

static void test_cfg_checks(void)
{
	struct zab_durable d = { 0 };
	struct zab *z = NULL;
	struct zab_cfg c = { .my_id = 4, .member_count = 5, .tick_ms = 50, .init_limit = 10,
			     .sync_limit = 5 };
	for (uint32_t j = 0; j < 5; j++)
		c.members[j] = (struct zab_member){ j + 1, j >= 3 };
	c.upstream[0] = 5;
	c.upstream[1] = 2;
	CU_ASSERT(zab_create(&z, &c, &d, 0) == 0);
	zab_destroy(z);
	c.upstream[1] = 4; /* itself */
	CU_ASSERT(zab_create(&z, &c, &d, 0) == -EINVAL);
	c.upstream[1] = 5; /* twice */
	CU_ASSERT(zab_create(&z, &c, &d, 0) == -EINVAL);
	/* not a member, or on a voter: kept, ignored (reconfiguration may change both) */
	c.upstream[1] = 9;
	CU_ASSERT(zab_create(&z, &c, &d, 0) == 0);
	zab_destroy(z);
	c.my_id = 2;
	CU_ASSERT(zab_create(&z, &c, &d, 0) == 0);
	CU_ASSERT(zab_master_pick(z, 3) == 3); /* a voter follows the leader only */
	zab_destroy(z);
}

static void test_codec(void)
{
	struct zab_msg m = { .kind = ZAB_M_LEAVE, .nonce = 77 }, o;
	uint8_t buf[64];
	size_t n = zab_msg_encode(&m, buf, sizeof(buf));
	struct zab_durable d = { 0 };
	struct zab *z = NULL;
	struct zab_cfg c = { .my_id = 1, .member_count = 1, .tick_ms = 50, .init_limit = 10,
			     .sync_limit = 5 };

	CU_ASSERT(zab_msg_decode(buf, n, &o) == 0 && o.kind == ZAB_M_LEAVE && o.nonce == 77);
	CU_ASSERT(zab_msg_check(buf, n - 1) == -EBADMSG);
	m = (struct zab_msg){ .kind = ZAB_M_LEADERINFO, .nonce = 5, .leader = 3, .epoch = 9 };
	n = zab_msg_encode(&m, buf, sizeof(buf));
	CU_ASSERT(zab_msg_decode(buf, n, &o) == 0 && o.leader == 3 && o.epoch == 9 && o.nonce == 5);
	/* the relay tag bit is reserved */
	c.members[0] = (struct zab_member){ 1, false };
	CU_ASSERT_FATAL(zab_create(&z, &c, &d, 0) == 0);
	CU_ASSERT(zab_sync(z, ZAB_MASTER_TAG | 1) == -EINVAL);
	zab_destroy(z);
}

/* ---- a chain: 3 leads, 2 follows, 4 <- 2, 5 <- 4 ---- */

static void test_chain(void)
{
	static const uint32_t up[2][3] = { { 2 }, { 4 } };
	struct net *t = net_new(2, up, 0);
	struct zab_info li;

	CU_ASSERT_FATAL(run_until(t, all_serving));
	li = info(t, 3);
	CU_ASSERT_EQUAL(li.role, ZAB_LEADING);
	CU_ASSERT_EQUAL(li.synced_learners, 2); /* the followers only */
	CU_ASSERT_EQUAL(li.synced_observers, 0);
	CU_ASSERT_EQUAL(info(t, 2).synced_observers, 1);
	CU_ASSERT_EQUAL(info(t, 4).upstream, 2);
	CU_ASSERT_EQUAL(info(t, 5).upstream, 4);
	CU_ASSERT_EQUAL(info(t, 5).leader, 3);
	CU_ASSERT_EQUAL(info(t, 4).synced_observers, 1);

	for (uint32_t k = 0; k < 10; k++) {
		write_at(t, 3);
		write_at(t, 5); /* forwarded 5 -> 4 -> 2 -> 3 */
		write_at(t, 4);
	}
	CU_ASSERT_FATAL(run_until(t, serving_and_caught_up));
	CU_ASSERT_EQUAL(node_of(t, 5)->nstate, 30);

	/* a barrier at the chain's end covers what the leader had */
	write_at(t, 3);
	node_of(t, 5)->done_need = node_of(t, 3)->nlog;
	node_of(t, 5)->done_tag = 0;
	CU_ASSERT(zab_sync(node_of(t, 5)->z, 42) == 0);
	drain(t, 5);
	for (uint32_t k = 0; k < 100 && node_of(t, 5)->done_tag != 42; k++)
		step(t);
	CU_ASSERT_EQUAL(node_of(t, 5)->done_tag, 42);
	CU_ASSERT(node_of(t, 5)->done_ok);

	/* the middle observer dies: 5 falls back to the leader and catches up */
	crash(t, 4);
	for (uint32_t k = 0; k < 5; k++)
		write_at(t, 3);
	CU_ASSERT_FATAL(run_until(t, serving_and_caught_up));
	CU_ASSERT_EQUAL(info(t, 5).upstream, 3);
	CU_ASSERT_EQUAL(info(t, 3).synced_observers, 1);
	write_at(t, 5);
	CU_ASSERT_FATAL(run_until(t, serving_and_caught_up));

	/* it comes back: syncs from its master again; 5 may stay where it is */
	start(t, 4);
	write_at(t, 3);
	CU_ASSERT_FATAL(run_until(t, serving_and_caught_up));
	CU_ASSERT_EQUAL(info(t, 4).upstream, 2);
	CU_ASSERT_EQUAL(node_of(t, 5)->nstate, node_of(t, 3)->nstate);
	net_free(t);
}

/* A downstream beyond the master's history gets the master's snapshot. */
static void test_master_snap(void)
{
	static const uint32_t up[2][3] = { { 2 }, { 4 } };
	struct net *t = net_new(2, up, 4);

	CU_ASSERT_FATAL(run_until(t, all_serving));
	write_at(t, 3);
	CU_ASSERT_FATAL(run_until(t, serving_and_caught_up));
	crash(t, 5);
	for (uint32_t k = 0; k < 20; k++)
		write_at(t, 3);
	CU_ASSERT_FATAL(run_until(t, serving_and_caught_up));
	start(t, 5);
	CU_ASSERT_FATAL(run_until(t, serving_and_caught_up));
	CU_ASSERT_EQUAL(info(t, 5).upstream, 4);
	CU_ASSERT(node_of(t, 4)->snaps_sent >= 1);
	CU_ASSERT(node_of(t, 5)->snaps_installed >= 1);
	CU_ASSERT_EQUAL(node_of(t, 5)->nstate, 21);
	net_free(t);
}

/* 4 names 5 and 5 names 4: both serve, and not in a cycle. */
static void test_loop(void)
{
	static const uint32_t up[2][3] = { { 5 }, { 4 } };
	struct net *t = net_new(2, up, 0);

	CU_ASSERT_FATAL(run_until(t, all_serving));
	CU_ASSERT(!(info(t, 4).upstream == 5 && info(t, 5).upstream == 4));
	CU_ASSERT(info(t, 4).upstream == 3 || info(t, 5).upstream == 3);
	write_at(t, 4);
	write_at(t, 5);
	CU_ASSERT_FATAL(run_until(t, serving_and_caught_up));
	CU_ASSERT_EQUAL(node_of(t, 4)->nstate, 2);
	net_free(t);
}

static CU_TestInfo tests[] = {
	{ "config checks", test_cfg_checks },
	{ "LEAVE / LEADERINFO codec, reserved tag", test_codec },
	{ "chain: relay, forward, barrier, crash of the middle", test_chain },
	{ "master sends SNAP past its history", test_master_snap },
	{ "mutual masters do not form a cycle", test_loop },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "consensus_master", NULL, NULL, NULL, NULL, tests },
	CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	return tn_test_main(argc, argv, suites);
}
