/* tests/unit/test_consensus_zab_lag.c. Description: zab_peer_info, the lag
 * the leader reports per learner: a follower's lag in txns and in ms (age of
 * the oldest proposal it has not ACKed, by the injected clock) falls as its
 * cumulative ACKs arrive and is 0 once it has everything; an observer's lag
 * is what its last PONG showed (not live); a voter that never synced, the
 * leader itself and an index past the members say so with -ENODATA and
 * -ERANGE. The core is driven by hand-made messages as in test_consensus_zab.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/zab_int.h"
#include "tests/lib/tn_test.h"

#define Z(e, c) ((tn_zxid)(e) << 32 | (c))
#define T0_MS 1000u

static void drain(struct zab *z)
{
	struct zab_act a;
	uint32_t n = 0;
	while (zab_next_action(z, &a))
		CU_ASSERT_FATAL(++n < 100000);
}

static void deliver(struct zab *z, uint32_t from, const struct zab_msg *m, uint64_t now)
{
	uint8_t buf[512];
	size_t len = zab_msg_encode(m, buf, sizeof(buf));
	CU_ASSERT_FATAL(len <= sizeof(buf));
	CU_ASSERT(zab_on_message(z, from, buf, len, now) == 0);
	drain(z);
}

/* Core 1 leads voters 1..3 and observer 4; 2 and 4 are synced, 3 never came. */
static struct zab *leader_with_learners(uint64_t now)
{
	struct zab_cfg c = {.my_id = 1,
			    .member_count = 4,
			    .tick_ms = 100,
			    .init_limit = 10,
			    .sync_limit = 5,
			    .finalize_wait_ms = 50};
	struct zab_durable d = {0, 0, 0, 0};
	struct zab_info in;
	struct zab *z;

	for (uint32_t i = 0; i < 4; i++)
		c.members[i] = (struct zab_member){i + 1, i == 3};
	CU_ASSERT_FATAL(zab_create(&z, &c, &d, now) == 0);
	zab_tick(z, now);
	for (uint32_t p = 2; p <= 4; p++)
		zab_on_peer_up(z, p, now);
	for (uint32_t p = 2; p <= 3; p++) {
		struct zab_msg v = {
		    .kind = ZAB_M_VOTE, .state = ZAB_LOOKING, .round = 1, .leader = 1};
		deliver(z, p, &v, now);
	}
	zab_tick(z, now + 100);
	drain(z);
	zab_info(z, &in);
	CU_ASSERT_FATAL(in.role == ZAB_LEADING);
	for (uint32_t p = 2; p <= 4; p += 2) {
		struct zab_msg fi = {
		    .kind = ZAB_M_FOLLOWERINFO, .observer = p == 4, .nonce = 7 + p};
		struct zab_msg ae = {.kind = ZAB_M_ACKEPOCH, .nonce = 7 + p};
		deliver(z, p, &fi, now + 100);
		deliver(z, p, &ae, now + 100);
	}
	for (uint32_t p = 2; p <= 4; p += 2) {
		struct zab_msg nl = {.kind = ZAB_M_ACKNL, .epoch = 1, .zxid = 0};
		deliver(z, p, &nl, now + 100);
	}
	zab_info(z, &in);
	CU_ASSERT_FATAL(in.serving);
	return z;
}

static void test_follower_lag(void)
{
	uint64_t now = T0_MS + 100;
	struct zab *z = leader_with_learners(T0_MS);
	struct zab_peer_info pi;
	struct zab_msg ack = {.kind = ZAB_M_ACK};
	tn_zxid z1, z2, z3;

	CU_ASSERT_EQUAL(zab_peer_info(z, 0, now, &pi), -ENODATA); /* ourselves */
	CU_ASSERT_EQUAL(pi.id, 1);
	CU_ASSERT_EQUAL(zab_peer_info(z, 2, now, &pi), -ENODATA); /* 3 never synced */
	CU_ASSERT_EQUAL(zab_peer_info(z, 4, now, &pi), -ERANGE);
	CU_ASSERT_EQUAL(zab_peer_info(z, 1, now, &pi), 0);
	CU_ASSERT(pi.id == 2 && !pi.observer && pi.synced && pi.live);
	CU_ASSERT_EQUAL(pi.lag_txns, 0);
	CU_ASSERT_EQUAL(pi.lag_ms, 0);

	/* z1, z2 proposed at now; z3 30 ms later */
	z1 = zab_next_zxid(z);
	CU_ASSERT(zab_propose(z, z1, "a", 1) == 0);
	z2 = zab_next_zxid(z);
	CU_ASSERT(zab_propose(z, z2, "b", 1) == 0);
	zab_flush(z, now);
	drain(z);
	zab_tick(z, now + 30);
	z3 = zab_next_zxid(z);
	CU_ASSERT(zab_propose(z, z3, "c", 1) == 0);
	zab_flush(z, now + 30);
	zab_on_logged(z, z3, 0, now + 30);
	drain(z);

	CU_ASSERT_EQUAL(zab_peer_info(z, 1, now + 50, &pi), 0);
	CU_ASSERT_EQUAL(pi.lag_txns, 3);
	CU_ASSERT_EQUAL(pi.lag_ms, 50); /* z1's age */
	CU_ASSERT_EQUAL(pi.target, z3);

	ack.zxid = z2;
	deliver(z, 2, &ack, now + 60);
	CU_ASSERT_EQUAL(zab_peer_info(z, 1, now + 70, &pi), 0);
	CU_ASSERT_EQUAL(pi.zxid, z2);
	CU_ASSERT_EQUAL(pi.lag_txns, 1);
	CU_ASSERT_EQUAL(pi.lag_ms, 40); /* z3's age */
	CU_ASSERT_EQUAL(pi.report_age_ms, 10);

	ack.zxid = z3;
	deliver(z, 2, &ack, now + 80);
	CU_ASSERT_EQUAL(zab_peer_info(z, 1, now + 500, &pi), 0);
	CU_ASSERT_EQUAL(pi.lag_txns, 0);
	CU_ASSERT_EQUAL(pi.lag_ms, 0);
	zab_destroy(z);
}

static void test_observer_lag(void)
{
	uint64_t now = T0_MS + 100;
	struct zab *z = leader_with_learners(T0_MS);
	struct zab_peer_info pi;
	struct zab_msg ack = {.kind = ZAB_M_ACK}, pong = {.kind = ZAB_M_PONG};
	tn_zxid z1, z2;

	z1 = zab_next_zxid(z);
	CU_ASSERT(zab_propose(z, z1, "a", 1) == 0);
	z2 = zab_next_zxid(z);
	CU_ASSERT(zab_propose(z, z2, "b", 1) == 0);
	zab_flush(z, now);
	zab_on_logged(z, z2, 0, now);
	drain(z);
	ack.zxid = z2;
	deliver(z, 2, &ack, now + 5); /* committed: INFORM goes to 4 */

	/* it has z1 (its PONG says) while we had committed z2 */
	pong.zxid = z1;
	deliver(z, 4, &pong, now + 20);
	CU_ASSERT_EQUAL(zab_peer_info(z, 3, now + 900, &pi), 0);
	CU_ASSERT(pi.id == 4 && pi.observer && pi.synced && !pi.live);
	CU_ASSERT_EQUAL(pi.zxid, z1);
	CU_ASSERT_EQUAL(pi.target, z2);
	CU_ASSERT_EQUAL(pi.lag_txns, 1);
	CU_ASSERT_EQUAL(pi.lag_ms, 20); /* as of the PONG, not now */
	CU_ASSERT_EQUAL(pi.report_age_ms, 880);

	pong.zxid = z2;
	deliver(z, 4, &pong, now + 950);
	CU_ASSERT_EQUAL(zab_peer_info(z, 3, now + 960, &pi), 0);
	CU_ASSERT_EQUAL(pi.lag_txns, 0);
	CU_ASSERT_EQUAL(pi.lag_ms, 0);
	zab_destroy(z);
}

static CU_TestInfo tests[] = {
    {"follower_lag", test_follower_lag},
    {"observer_lag", test_observer_lag},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"zab_lag", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	return tn_test_main(argc, argv, suites);
}
