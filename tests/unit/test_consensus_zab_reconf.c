/* tests/unit/test_consensus_zab_reconf.c. Description: membership change in
 * the Zab core. A config txn proposed with zab_propose_config commits only at
 * a voter quorum of the old AND of the new config (txns before it need the
 * old one only); a second one is refused while one is pending; a leader that
 * inherited an uncommitted config txn does not establish on an old quorum
 * alone; applying a
 * config in which the leader is no voter makes it step down; a learner whose
 * own role flips goes LOOKING; the new quorum size governs commits after. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/zab_int.h"
#include "tests/lib/tn_test.h"

#define Z(e, c) ((tn_zxid)(e) << 32 | (c))
#define ACTS_MAX 256

struct cap {
	uint32_t n, commits, configs;
	tn_zxid last_commit, config_zxid;
	uint32_t config_from;
	char config[64];
	struct zab_msg m[ACTS_MAX];
	uint32_t to[ACTS_MAX];
	uint8_t *buf[ACTS_MAX];
};

static void cap_free(struct cap *c)
{
	for (uint32_t i = 0; i < c->n; i++)
		free(c->buf[i]);
	c->n = 0;
	c->commits = 0;
	c->configs = 0;
}

static void drain(struct zab *z, struct cap *c)
{
	struct zab_act a;
	cap_free(c);
	while (zab_next_action(z, &a)) {
		if (a.kind == ZAB_ACT_COMMIT) {
			c->commits++;
			c->last_commit = a.zxid;
		}
		if (a.kind == ZAB_ACT_CONFIG) {
			c->configs++;
			c->config_zxid = a.zxid;
			c->config_from = a.peer;
			snprintf(c->config, sizeof c->config, "%.*s", (int)a.len, (const char *)a.data);
		}
		if (a.kind != ZAB_ACT_SEND)
			continue;
		CU_ASSERT_FATAL(c->n < ACTS_MAX);
		c->buf[c->n] = malloc(a.len);
		memcpy(c->buf[c->n], a.data, a.len);
		c->to[c->n] = a.peer;
		CU_ASSERT(zab_msg_decode(c->buf[c->n], a.len, &c->m[c->n]) == 0);
		c->n++;
	}
}

static const struct zab_msg *find_send(const struct cap *c, uint32_t peer, uint8_t kind)
{
	for (uint32_t i = 0; i < c->n; i++)
		if (c->to[i] == peer && c->m[i].kind == kind)
			return &c->m[i];
	return NULL;
}

static int deliver(struct zab *z, uint32_t from, const struct zab_msg *m, uint64_t now)
{
	uint8_t buf[4096];
	size_t len = zab_msg_encode(m, buf, sizeof(buf));
	CU_ASSERT_FATAL(len <= sizeof(buf));
	return zab_on_message(z, from, buf, len, now);
}

static struct zab_cfg cfg_n(uint32_t me, uint32_t voters, uint32_t observers)
{
	struct zab_cfg c = { .my_id = me, .member_count = voters + observers, .tick_ms = 100,
			     .init_limit = 10, .sync_limit = 5, .finalize_wait_ms = 50 };
	for (uint32_t i = 0; i < voters + observers; i++)
		c.members[i] = (struct zab_member){ i + 1, i >= voters };
	return c;
}

struct lead {
	struct zab *z;
	struct cap *c;
	uint64_t now;
	uint32_t epoch;
};

/* Core 1 leads voters 1..@voters (observers after them), every learner synced. */
static void lead_setup(struct lead *L, uint32_t voters, uint32_t observers)
{
	struct zab_cfg cf = cfg_n(1, voters, observers);
	struct zab_durable d = { 0, 0, 0, 0 };
	struct zab_info in;

	L->c = calloc(1, sizeof(*L->c));
	L->now = 1000;
	CU_ASSERT_FATAL(zab_create(&L->z, &cf, &d, L->now) == 0);
	zab_tick(L->z, L->now);
	for (uint32_t p = 2; p <= voters + observers; p++)
		zab_on_peer_up(L->z, p, L->now);
	for (uint32_t p = 2; p <= voters; p++) {
		struct zab_msg v = { .kind = ZAB_M_VOTE, .state = ZAB_LOOKING, .round = 1, .leader = 1 };
		CU_ASSERT(deliver(L->z, p, &v, L->now) == 0);
	}
	L->now += 100;
	zab_tick(L->z, L->now);
	drain(L->z, L->c);
	zab_info(L->z, &in);
	CU_ASSERT_FATAL(in.role == ZAB_LEADING);
	for (uint32_t p = 2; p <= voters + observers; p++) {
		struct zab_msg fi = { .kind = ZAB_M_FOLLOWERINFO, .observer = p > voters, .nonce = 70 + p };
		struct zab_msg ae = { .kind = ZAB_M_ACKEPOCH, .nonce = 70 + p };
		CU_ASSERT(deliver(L->z, p, &fi, L->now) == 0);
		drain(L->z, L->c);
		if (find_send(L->c, p, ZAB_M_LEADERINFO))
			L->epoch = find_send(L->c, p, ZAB_M_LEADERINFO)->epoch;
		CU_ASSERT(deliver(L->z, p, &ae, L->now) == 0);
		drain(L->z, L->c);
	}
	CU_ASSERT_FATAL(L->epoch == 1);
	for (uint32_t p = 2; p <= voters + observers; p++) {
		struct zab_msg nl = { .kind = ZAB_M_ACKNL, .epoch = L->epoch };
		CU_ASSERT(deliver(L->z, p, &nl, L->now) == 0);
		drain(L->z, L->c);
	}
	zab_info(L->z, &in);
	CU_ASSERT_FATAL(in.serving);
}

static void lead_free(struct lead *L)
{
	zab_destroy(L->z);
	cap_free(L->c);
	free(L->c);
}

static void ack(struct lead *L, uint32_t p, tn_zxid zxid)
{
	struct zab_msg a = { .kind = ZAB_M_ACK, .zxid = zxid };
	CU_ASSERT(deliver(L->z, p, &a, L->now) == 0);
	drain(L->z, L->c);
}

static enum zab_role role_of(struct zab *z)
{
	struct zab_info in;
	zab_info(z, &in);
	return in.role;
}

/* 3 voters grow to 5 (4 and 5 unknown yet): the config txn needs 3 of the
 * new 5, so 1+2 (an old quorum) is not enough; the txn before it is. */
static void test_joint_quorum_grow(void)
{
	struct lead L;
	struct zab_member five[5] = { { 1, false }, { 2, false }, { 3, false }, { 4, false }, { 5, false } };
	tn_zxid a, j, b;

	lead_setup(&L, 3, 0);
	a = zab_next_zxid(L.z);
	CU_ASSERT_EQUAL(zab_propose(L.z, a, "a", 1), 0);
	j = zab_next_zxid(L.z);
	CU_ASSERT_EQUAL(zab_propose_config(L.z, j, "cfg", 3, five, 5), 0);
	CU_ASSERT(zab_config_pending(L.z));
	b = zab_next_zxid(L.z);
	CU_ASSERT_EQUAL(zab_propose_config(L.z, b, "c2", 2, five, 5), -EBUSY);
	CU_ASSERT_EQUAL(zab_propose(L.z, b, "b", 1), 0);
	CU_ASSERT_EQUAL(zab_synced_voters(L.z, five, 5), 3);
	zab_flush(L.z, L.now);
	zab_on_logged(L.z, b, 0, L.now);
	drain(L.z, L.c);
	ack(&L, 2, b);
	CU_ASSERT_EQUAL(L.c->commits, 1); /* a only: {1,2} is 2 of the new 5 */
	CU_ASSERT_EQUAL(L.c->last_commit, a);
	CU_ASSERT(zab_config_pending(L.z));
	ack(&L, 3, b);
	CU_ASSERT_EQUAL(L.c->commits, 2); /* j and b: 3 of 5 and 3 of 3 */
	CU_ASSERT_EQUAL(L.c->last_commit, b);
	CU_ASSERT(!zab_config_pending(L.z));
	/* the host applies it: now 3 of 5 voters form the quorum */
	CU_ASSERT_EQUAL(zab_set_config(L.z, five, 5, L.now), 0);
	CU_ASSERT_EQUAL(role_of(L.z), ZAB_LEADING);
	CU_ASSERT_EQUAL(L.z->quorum, 3);
	lead_free(&L);
}

/* 3 voters shrink to {1,2} with 3 removed: 3's ack is needed by the old
 * quorum only when 2 is silent; after applying, {1,2} is the quorum. */
static void test_joint_quorum_shrink(void)
{
	struct lead L;
	struct zab_member two[2] = { { 1, false }, { 2, false } };
	tn_zxid j, b;

	lead_setup(&L, 3, 0);
	j = zab_next_zxid(L.z);
	CU_ASSERT_EQUAL(zab_propose_config(L.z, j, "cfg", 3, two, 2), 0);
	zab_flush(L.z, L.now);
	zab_on_logged(L.z, j, 0, L.now);
	drain(L.z, L.c);
	ack(&L, 3, j);
	CU_ASSERT_EQUAL(L.c->commits, 0); /* old quorum {1,3}, but new needs 2 of {1,2} */
	ack(&L, 2, j);
	CU_ASSERT_EQUAL(L.c->commits, 1);
	CU_ASSERT_EQUAL(zab_set_config(L.z, two, 2, L.now), 0);
	CU_ASSERT_EQUAL(role_of(L.z), ZAB_LEADING);
	CU_ASSERT_EQUAL(zab_idx(L.z, 3), -1);
	b = zab_next_zxid(L.z);
	CU_ASSERT_EQUAL(zab_propose(L.z, b, "b", 1), 0);
	zab_flush(L.z, L.now);
	zab_on_logged(L.z, b, 0, L.now);
	drain(L.z, L.c);
	CU_ASSERT(find_send(L.c, 3, ZAB_M_PROPOSAL) == NULL); /* 3 is gone */
	ack(&L, 2, b);
	CU_ASSERT_EQUAL(L.c->commits, 1);
	lead_free(&L);
}

/* The leader is not in the new config: it steps down once it applies it. */
static void test_leader_removed_steps_down(void)
{
	struct lead L;
	struct zab_member m[3] = { { 2, false }, { 3, false }, { 4, false } };
	struct zab_member bad[2] = { { 2, false }, { 2, true } };

	lead_setup(&L, 3, 0);
	CU_ASSERT_EQUAL(zab_set_config(L.z, bad, 2, L.now), -EINVAL);
	CU_ASSERT_EQUAL(role_of(L.z), ZAB_LEADING);
	CU_ASSERT_EQUAL(zab_set_config(L.z, m, 3, L.now), 0);
	CU_ASSERT_EQUAL(role_of(L.z), ZAB_LOOKING);
	CU_ASSERT(L.z->i_observer); /* kept as a silent non-voter */
	CU_ASSERT_EQUAL(L.z->quorum, 2);
	lead_free(&L);
}

/* An observer that becomes a voter (swap): the leader forgets its observer
 * stream so it reconnects as a follower; its FOLLOWERINFO as a participant
 * is then accepted. A learner core whose own role flips goes LOOKING. */
static void test_observer_swap(void)
{
	struct lead L;
	struct zab_member m[4] = { { 1, false }, { 2, false }, { 3, true }, { 4, false } };
	struct zab_cfg cf = cfg_n(4, 3, 1);
	struct zab_durable d = { 0, 0, 0, 0 };
	struct zab_msg fi = { .kind = ZAB_M_FOLLOWERINFO, .observer = false, .nonce = 99 };
	struct zab *o;

	lead_setup(&L, 3, 1);
	CU_ASSERT_EQUAL(L.z->ln[3].st, LN_SYNCED);
	CU_ASSERT_EQUAL(zab_set_config(L.z, m, 4, L.now), 0);
	CU_ASSERT_EQUAL(role_of(L.z), ZAB_LEADING);
	CU_ASSERT_EQUAL(L.z->ln[3].st, LN_NONE);
	CU_ASSERT_EQUAL(L.z->quorum, 2); /* voters 1,2,4 */
	CU_ASSERT(deliver(L.z, 4, &fi, L.now) == 0);
	drain(L.z, L.c);
	CU_ASSERT(find_send(L.c, 4, ZAB_M_LEADERINFO) != NULL);
	lead_free(&L);

	/* the learner side: observer 4 following leader 1 becomes a voter */
	CU_ASSERT_FATAL(zab_create(&o, &cf, &d, 1000) == 0);
	zab_tick(o, 1000);
	CU_ASSERT(o->i_observer);
	CU_ASSERT_EQUAL(zab_set_config(o, m, 4, 1100), 0);
	CU_ASSERT(!o->i_observer);
	CU_ASSERT_EQUAL(role_of(o), ZAB_LOOKING);
	zab_destroy(o);
}

/* A server that logged a config txn (zab_note_config) and then leads before
 * it commits establishes only with a synced quorum of that config too: with
 * {1,4,5} as the new voters, followers 2 and 3 are not enough. */
static void test_inherited_config_blocks_establish(void)
{
	struct zab_cfg cf = cfg_n(1, 3, 0);
	struct zab_durable d = { 1, 1, Z(1, 1), 0 };
	struct zab_member nm[3] = { { 1, false }, { 4, false }, { 5, false } };
	struct cap *c = calloc(1, sizeof(*c));
	struct zab *z;
	struct zab_info in;
	uint64_t now = 1000;
	uint32_t epoch = 0;

	CU_ASSERT_FATAL(zab_create(&z, &cf, &d, now) == 0);
	CU_ASSERT_EQUAL(zab_history_load(z, Z(1, 1), "cfg", 3), 0);
	CU_ASSERT_EQUAL(zab_note_config(z, Z(1, 1), nm, 3), 0);
	zab_tick(z, now);
	for (uint32_t p = 2; p <= 3; p++)
		zab_on_peer_up(z, p, now);
	for (uint32_t p = 2; p <= 3; p++) {
		struct zab_msg v = { .kind = ZAB_M_VOTE, .state = ZAB_LOOKING, .round = 1, .leader = 1,
				     .zxid = Z(1, 1), .epoch = 1 };
		CU_ASSERT(deliver(z, p, &v, now) == 0);
	}
	now += 100;
	zab_tick(z, now);
	drain(z, c);
	CU_ASSERT_FATAL(role_of(z) == ZAB_LEADING);
	for (uint32_t p = 2; p <= 3; p++) {
		struct zab_msg fi = { .kind = ZAB_M_FOLLOWERINFO, .nonce = 70 + p, .accepted_epoch = 1,
				      .current_epoch = 1, .zxid = Z(1, 1), .zxid2 = Z(1, 1) };
		struct zab_msg ae = { .kind = ZAB_M_ACKEPOCH, .nonce = 70 + p, .current_epoch = 1,
				      .zxid = Z(1, 1) };
		CU_ASSERT(deliver(z, p, &fi, now) == 0);
		drain(z, c);
		if (find_send(c, p, ZAB_M_LEADERINFO))
			epoch = find_send(c, p, ZAB_M_LEADERINFO)->epoch;
		CU_ASSERT(deliver(z, p, &ae, now) == 0);
		drain(z, c);
	}
	/* an old quorum only: not even an epoch is decided (4 and 5 could
	 * hold a newer one, or elect another leader under the new config) */
	CU_ASSERT_EQUAL(epoch, 0);
	zab_info(z, &in);
	CU_ASSERT(!in.serving);
	CU_ASSERT_EQUAL(in.accepted_epoch, 1);
	CU_ASSERT_EQUAL(in.role, ZAB_LEADING);
	zab_destroy(z);
	cap_free(c);
	free(c);
}

/* Votes carry the committed config: a LOOKING server hearing a newer one
 * than its own gets it once as ZAB_ACT_CONFIG and ignores that vote (its
 * membership is stale); once the host applies it, its own votes carry it. */
static void test_vote_carries_config(void)
{
	struct zab_cfg cf = cfg_n(1, 3, 0);
	struct zab_durable d = { 1, 1, Z(1, 1), Z(1, 1) };
	struct cap *c = calloc(1, sizeof(*c));
	struct zab *z;
	uint64_t now = 1000;
	struct zab_msg v = { .kind = ZAB_M_VOTE, .state = ZAB_LOOKING, .round = 1, .leader = 2,
			     .zxid = Z(2, 9), .epoch = 2, .zxid2 = Z(2, 5),
			     .data = (const uint8_t *)"server.1=a", .len = 10 };

	CU_ASSERT_FATAL(c && zab_create(&z, &cf, &d, now) == 0);
	zab_tick(z, now);
	zab_on_peer_up(z, 2, now);
	drain(z, c);
	const struct zab_msg *mine = find_send(c, 2, ZAB_M_VOTE);
	CU_ASSERT_FATAL(mine != NULL);
	CU_ASSERT_EQUAL(mine->zxid2, 0);   /* the static config: no version, no text */
	CU_ASSERT_EQUAL(mine->len, 0);
	CU_ASSERT(deliver(z, 2, &v, now) == 0);
	drain(z, c);
	CU_ASSERT_EQUAL(c->configs, 1);
	CU_ASSERT_EQUAL(c->config_zxid, Z(2, 5));
	CU_ASSERT_EQUAL(c->config_from, 2);
	CU_ASSERT_STRING_EQUAL(c->config, "server.1=a");
	CU_ASSERT_PTR_NULL(find_send(c, 2, ZAB_M_VOTE));   /* its vote did not count */
	CU_ASSERT(deliver(z, 2, &v, now) == 0);
	drain(z, c);
	CU_ASSERT_EQUAL(c->configs, 0);   /* offered once; a host that declines votes on */
	mine = find_send(c, 2, ZAB_M_VOTE);
	CU_ASSERT_FATAL(mine != NULL);    /* v outranks our vote: adopted and rebroadcast */
	CU_ASSERT_EQUAL(mine->leader, 2);
	CU_ASSERT_EQUAL(mine->zxid2, 0);
	/* the host applied it: our votes carry it from the next one on */
	CU_ASSERT_EQUAL(zab_config_blob(z, Z(2, 5), "server.1=a", 10), 0);
	now += 1000;
	zab_tick(z, now);
	drain(z, c);
	mine = find_send(c, 2, ZAB_M_VOTE);
	CU_ASSERT_FATAL(mine != NULL);
	CU_ASSERT_EQUAL(mine->zxid2, Z(2, 5));
	CU_ASSERT(mine->len == 10 && !memcmp(mine->data, "server.1=a", 10));
	/* an older version never replaces ours */
	CU_ASSERT_EQUAL(zab_config_blob(z, Z(1, 7), "old", 3), 0);
	CU_ASSERT_EQUAL(z->cfg_version, Z(2, 5));
	CU_ASSERT(z->cfg_blob_len == 10 && !memcmp(z->cfg_blob, "server.1=a", 10));
	CU_ASSERT_EQUAL(zab_config_blob(z, Z(3, 1), NULL, ZAB_CONFIG_BLOB_MAX + 1), -EINVAL);
	zab_destroy(z);
	cap_free(c);
	free(c);
}

static CU_TestInfo tests[] = {
	{ "vote_carries_config", test_vote_carries_config },
	{ "inherited_config_blocks_establish", test_inherited_config_blocks_establish },
	{ "joint_quorum_grow", test_joint_quorum_grow },
	{ "joint_quorum_shrink", test_joint_quorum_shrink },
	{ "leader_removed_steps_down", test_leader_removed_steps_down },
	{ "observer_swap", test_observer_swap },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "zab_reconf", NULL, NULL, NULL, NULL, tests },
	CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	return tn_test_main(argc, argv, suites);
}
