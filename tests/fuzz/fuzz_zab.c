/* tests/fuzz/fuzz_zab.c. Description: arbitrary bytes into the Zab peer
 * codec and into live cores. (1) zab_msg_check on the whole input; a
 * message that decodes must re-encode to the same bytes (the encoding is
 * canonical) and decode again. (2) The input, split into length-prefixed
 * messages, is fed to a fresh core in the role the first byte picks
 * (LOOKING, LEADING established, FOLLOWING in broadcast, OBSERVING in
 * broadcast) from the peer the second byte picks; every action is drained
 * (SNAP_SEND answered) and nothing may crash or trip an assertion. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/tn_assert.h"
#include "consensus/zab_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t now_ms;

static void drain(struct zab *z, uint32_t *nonce)
{
	struct zab_act a;
	uint32_t snap_peer[ZAB_MEMBERS_MAX], nsnap = 0;
	while (zab_next_action(z, &a)) {
		if (a.kind == ZAB_ACT_SEND) {
			struct zab_msg m;
			TN_ASSERT(zab_msg_decode(a.data, a.len, &m) == 0); /* we only send valid messages */
			if (nonce && m.kind == ZAB_M_FOLLOWERINFO)
				*nonce = m.nonce;
		} else if (a.kind == ZAB_ACT_SNAP_SEND && nsnap < ZAB_MEMBERS_MAX) {
			snap_peer[nsnap++] = a.peer;
		}
	}
	for (uint32_t i = 0; i < nsnap; i++) {
		zab_snap_send(z, snap_peer[i], 0, "s", 1);
		drain(z, NULL);
	}
}

static void feed(struct zab *z, uint32_t from, const struct zab_msg *m, uint32_t *nonce)
{
	uint8_t buf[512];
	size_t len = zab_msg_encode(m, buf, sizeof(buf));
	TN_ASSERT(len <= sizeof(buf));
	TN_ASSERT(zab_on_message(z, from, buf, len, now_ms) == 0);
	drain(z, nonce);
}

static struct zab *make(uint32_t me)
{
	struct zab_cfg c = { .my_id = me, .member_count = 4, .tick_ms = 100, .init_limit = 10,
			     .sync_limit = 5, .finalize_wait_ms = 50 };
	struct zab_durable d = { 0, 0, 0, 0 };
	struct zab *z;
	for (uint32_t i = 0; i < 4; i++)
		c.members[i] = (struct zab_member){ i + 1, i == 3 };
	TN_ASSERT(zab_create(&z, &c, &d, now_ms) == 0);
	zab_tick(z, now_ms);
	for (uint32_t p = 1; p <= 4; p++)
		if (p != me)
			zab_on_peer_up(z, p, now_ms);
	drain(z, NULL);
	return z;
}

/* Core 1, leading epoch 1 with follower 2 and observer 4 synced. */
static struct zab *make_leader(void)
{
	struct zab *z = make(1);
	for (uint32_t p = 2; p <= 3; p++)
		feed(z, p, &(struct zab_msg){ .kind = ZAB_M_VOTE, .state = ZAB_LOOKING, .round = 1, .leader = 1 },
		     NULL);
	now_ms += 100;
	zab_tick(z, now_ms);
	drain(z, NULL);
	for (uint32_t p = 2; p <= 4; p += 2) {
		feed(z, p, &(struct zab_msg){ .kind = ZAB_M_FOLLOWERINFO, .observer = p == 4, .nonce = p }, NULL);
		feed(z, p, &(struct zab_msg){ .kind = ZAB_M_ACKEPOCH, .nonce = p }, NULL);
		feed(z, p, &(struct zab_msg){ .kind = ZAB_M_ACKNL, .epoch = 1 }, NULL);
	}
	return z;
}

/* Core @me (2: follower, 4: observer) in broadcast under leader 1. */
static struct zab *make_learner(uint32_t me)
{
	struct zab *z = make(me);
	uint32_t nonce = 0;
	feed(z, 1, &(struct zab_msg){ .kind = ZAB_M_VOTE, .state = ZAB_LEADING, .round = 1, .leader = 1 }, NULL);
	for (uint32_t p = 2; p <= 3; p++)
		if (p != me)
			feed(z, p,
			     &(struct zab_msg){ .kind = ZAB_M_VOTE, .state = ZAB_FOLLOWING, .round = 1, .leader = 1 },
			     NULL);
	drain(z, &nonce);
	zab_on_peer_up(z, 1, now_ms);
	drain(z, &nonce);
	feed(z, 1, &(struct zab_msg){ .kind = ZAB_M_LEADERINFO, .nonce = nonce, .epoch = 1 }, NULL);
	feed(z, 1, &(struct zab_msg){ .kind = ZAB_M_DIFF }, NULL);
	feed(z, 1, &(struct zab_msg){ .kind = ZAB_M_NEWLEADER, .epoch = 1 }, NULL);
	feed(z, 1, &(struct zab_msg){ .kind = ZAB_M_UPTODATE }, NULL);
	return z;
}

static void roundtrip(const uint8_t *data, size_t size)
{
	struct zab_msg m, m2;
	uint8_t *buf;
	size_t len;

	if (zab_msg_check(data, size) < 0)
		return;
	TN_ASSERT(zab_msg_decode(data, size, &m) == 0);
	len = zab_msg_encode(&m, NULL, 0);
	TN_ASSERT(len == size);
	buf = malloc(len);
	TN_ASSERT(buf);
	TN_ASSERT(zab_msg_encode(&m, buf, len) == len);
	TN_ASSERT(memcmp(buf, data, len) == 0);
	TN_ASSERT(zab_msg_decode(buf, len, &m2) == 0);
	TN_ASSERT(m2.kind == m.kind && m2.zxid == m.zxid && m2.count == m.count && m2.len == m.len);
	TN_ASSERT(zab_msg_is_election(buf, len) == (m.kind == ZAB_M_VOTE));
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zab *z;
	uint32_t from;
	size_t off = 2;

	roundtrip(data, size);
	if (size < 2)
		return 0;
	now_ms = 1000;
	switch (data[0] % 4) {
	case 0: z = make(1); break;
	case 1: z = make_leader(); break;
	case 2: z = make_learner(2); break;
	default: z = make_learner(4); break;
	}
	from = 1u + data[1] % 5u; /* 5 is not a member */
	while (off + 2 <= size) {
		size_t n = (size_t)data[off] << 8 | data[off + 1];
		off += 2;
		n = n > size - off ? size - off : n;
		now_ms += data[off - 1] & 0x3f;
		zab_on_message(z, from, data + off, n, now_ms);
		drain(z, NULL);
		if (z && (data[off - 2] & 0x80)) {
			zab_tick(z, now_ms);
			zab_flush(z, now_ms);
			drain(z, NULL);
		}
		off += n;
	}
	zab_destroy(z);
	return 0;
}
