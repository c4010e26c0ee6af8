/* tests/unit/test_dataplane_rel.c. Description: the reliable FIFO peer
 * channel (dataplane/dp_rel.c) between two ends over a seeded simulated link
 * that loses, duplicates, delays and reorders datagrams. Thousands of
 * messages of random sizes (1 B to 3 MTUs, a few of 1-3 MiB) each way must
 * arrive exactly once, in order, byte-identical, within bounded simulated
 * time, over many seeds, loss rates, MTUs and windows. Also: peer restart and
 * dead-peer resets (DOWN then UP), each kind of malformed datagram dropped and
 * counted, the window bounding what is in flight, receiver flow control, and
 * retransmit counters (zero without loss, moving with it).
 * The test includes dp_rel.c so the datagram checksum helper is in reach. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dp_rel.c"
#include "tests/lib/tn_test.h"

#define SIM_PKT_MAX   4096u            /* datagrams on the wire at once */
#define SIM_MSG_MAX   (4u << 20)
#define SIM_BIG_EVERY 700u             /* every 700th message is 1-3 MiB */
#define SIM_STEPS_MAX 20000000u

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

struct pkt {
	uint64_t at_us;
	int to;
	uint32_t len;
	int corrupt;
	uint8_t *buf;
};

struct sim {
	struct dp_rel e[2];
	struct dp_rel_cfg cfg[2];
	uint64_t now, rng, seed;
	unsigned loss_pml, dup_pml, corrupt_pml;   /* per mille */
	uint64_t delay_us, jitter_us;
	struct pkt q[SIM_PKT_MAX];
	unsigned nq;
	int from;
	int down[2];                  /* crashed or partitioned: no polls, input lost */
	int no_read[2];               /* the app does not read (flow control test) */
	unsigned nmsg, sent[2], rcvd[2];
	uint8_t *pend[2];
	size_t pend_len[2];
	int pend_ok[2];
	uint8_t *expect;
	unsigned bad, wnd_violation;
	uint64_t wire_dgrams;
	uint64_t corrupt_dlv[2], corrupt_missed;
	uint64_t huge_len;            /* if set: message 1 from end 0 has this size */
	int evlog[2][16];
	unsigned nev[2];
};

static size_t gen_msg(const struct sim *s, int dir, unsigned idx, uint8_t *buf)
{
	uint64_t x = s->seed * 1000003u + (uint64_t)dir * 7919u + idx;
	uint64_t r = splitmix(&x);
	size_t len;
	if (s->huge_len && dir == 0 && idx == 1)
		len = s->huge_len;
	else if (idx % SIM_BIG_EVERY == SIM_BIG_EVERY / 2)
		len = (1u << 20) + r % (2u << 20);
	else
		len = 1 + r % (3u * s->cfg[dir].mtu);
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = splitmix(&x);
		memcpy(buf + i, &v, TN_MIN((size_t)8, len - i));
	}
	return len;
}

static int sim_emit(void *arg, const void *dgram, size_t len)
{
	struct sim *s = arg;
	const struct dp_rel *r = &s->e[s->from];
	const uint8_t *p = dgram;

	s->wire_dgrams++;
	CU_ASSERT_FATAL(len <= DP_REL_DGRAM_MAX(r->cfg.mtu));
	if (p[3] == T_DATA) {   /* the window bounds what is in flight */
		uint64_t seq = tn_load_be64(p + 40);
		if (seq < r->snd_una || seq >= r->snd_nxt || r->snd_nxt - r->snd_una > r->cfg.wnd_segs ||
		    r->inflight_bytes > (uint64_t)r->cfg.wnd_segs * r->cfg.mtu)
			s->wnd_violation++;
	}
	unsigned copies = 1;
	if (splitmix(&s->rng) % 1000 < s->loss_pml)
		copies = 0;
	else if (splitmix(&s->rng) % 1000 < s->dup_pml)
		copies = 2;
	for (unsigned c = 0; c < copies && s->nq < SIM_PKT_MAX; c++) {
		struct pkt *k = &s->q[s->nq];
		k->buf = malloc(len);
		CU_ASSERT_FATAL(k->buf != NULL);
		memcpy(k->buf, dgram, len);
		k->len = (uint32_t)len;
		k->to = 1 - s->from;
		k->corrupt = splitmix(&s->rng) % 1000 < s->corrupt_pml;
		if (k->corrupt)   /* one byte changed: CRC32C catches every such error */
			k->buf[splitmix(&s->rng) % len] ^= (uint8_t)(1 + splitmix(&s->rng) % 255);
		k->at_us = s->now + s->delay_us + (s->jitter_us ? splitmix(&s->rng) % s->jitter_us : 0);
		s->nq++;
	}
	return 0;
}

static void sim_cfg(struct dp_rel_cfg *c, uint64_t inc, uint32_t mtu, uint32_t wnd)
{
	*c = (struct dp_rel_cfg){
		.incarnation = inc, .mtu = mtu, .wnd_segs = wnd, .msg_max = SIM_MSG_MAX,
		.sndbuf_bytes = 1u << 20, .rcvbuf_bytes = 1u << 20,
		.rto_init_us = 3000, .rto_min_us = 1000, .rto_max_us = 200000,
		.ack_delay_us = 100, .keepalive_us = 50000, .dead_us = 3000000,
	};
}

static struct sim *sim_new(uint64_t seed, unsigned loss_pml, uint32_t mtu, uint32_t wnd,
			   unsigned nmsg)
{
	struct sim *s = calloc(1, sizeof(*s));
	CU_ASSERT_FATAL(s != NULL);
	s->seed = seed;
	s->rng = seed ^ 0xabcdefull;
	s->loss_pml = loss_pml;
	s->dup_pml = loss_pml ? 20 : 0;
	s->corrupt_pml = loss_pml ? 10 : 0;
	s->delay_us = 50;
	s->jitter_us = loss_pml ? 300 : 0;   /* jitter > spacing: reordering */
	s->nmsg = nmsg;
	for (int i = 0; i < 2; i++) {
		sim_cfg(&s->cfg[i], 100 + (uint64_t)i, mtu, wnd);
		CU_ASSERT_FATAL(dp_rel_init(&s->e[i], &s->cfg[i], 0) == 0);
		s->pend[i] = malloc(SIM_MSG_MAX);
		CU_ASSERT_FATAL(s->pend[i] != NULL);
	}
	s->expect = malloc(SIM_MSG_MAX);
	CU_ASSERT_FATAL(s->expect != NULL);
	return s;
}

static void sim_free(struct sim *s)
{
	for (unsigned i = 0; i < s->nq; i++)
		free(s->q[i].buf);
	for (int i = 0; i < 2; i++) {
		dp_rel_fini(&s->e[i]);
		free(s->pend[i]);
	}
	free(s->expect);
	free(s);
}

/* The app of end @i: a DOWN means its stream died; both sides start over. */
static void app_io(struct sim *s, int i)
{
	for (int ev; (ev = dp_rel_event(&s->e[i])) != DP_REL_EV_NONE;) {
		if (s->nev[i] < TN_ARRAY_LEN(s->evlog[i]))
			s->evlog[i][s->nev[i]++] = ev;
		if (ev == DP_REL_EV_DOWN) {
			s->sent[i] = s->rcvd[i] = 0;
			s->pend_ok[i] = 0;
		}
	}
	while (s->sent[i] < s->nmsg) {
		if (!s->pend_ok[i]) {
			s->pend_len[i] = gen_msg(s, i, s->sent[i], s->pend[i]);
			s->pend_ok[i] = 1;
		}
		int rc = dp_rel_send(&s->e[i], s->pend[i], s->pend_len[i]);
		if (rc == -EAGAIN)
			break;
		CU_ASSERT_EQUAL_FATAL(rc, 0);
		s->pend_ok[i] = 0;
		s->sent[i]++;
	}
	const uint8_t *m;
	size_t len;
	while (!s->no_read[i] && dp_rel_recv(&s->e[i], &m, &len) == 1) {
		if (s->rcvd[i] >= s->nmsg) {
			s->bad++;   /* more messages than were sent */
			continue;
		}
		size_t want = gen_msg(s, 1 - i, s->rcvd[i], s->expect);
		if (want != len || memcmp(m, s->expect, len) != 0)
			s->bad++;
		s->rcvd[i]++;
	}
}

/* Deliver what is due, earliest first; equal times in the order sent. */
static void sim_deliver(struct sim *s)
{
	for (unsigned n = 0; n < SIM_PKT_MAX; n++) {
		unsigned best = s->nq;
		for (unsigned k = 0; k < s->nq; k++)
			if (s->q[k].at_us <= s->now && (best == s->nq || s->q[k].at_us < s->q[best].at_us))
				best = k;
		if (best == s->nq)
			return;
		struct pkt p = s->q[best];
		memmove(&s->q[best], &s->q[best + 1], (s->nq - best - 1) * sizeof(s->q[0]));
		s->nq--;
		if (!s->down[p.to]) {
			int rc = dp_rel_input(&s->e[p.to], p.buf, p.len, s->now);
			if (p.corrupt) {
				s->corrupt_dlv[p.to]++;
				s->corrupt_missed += rc != -EBADMSG;
			}
		}
		free(p.buf);
	}
}

static int all_done(const struct sim *s)
{
	return s->rcvd[0] == s->nmsg && s->rcvd[1] == s->nmsg;
}

/* Run until both ends received every message or simulated @until_us. */
static void sim_run(struct sim *s, uint64_t until_us, int stop_when_done)
{
	for (unsigned step = 0; step < SIM_STEPS_MAX; step++) {
		for (int i = 0; i < 2; i++) {
			if (s->down[i])
				continue;
			app_io(s, i);
			s->from = i;
			(void)dp_rel_poll(&s->e[i], s->now, sim_emit, s);
			app_io(s, i);
		}
		if (stop_when_done && all_done(s))
			return;
		uint64_t next = UINT64_MAX;
		for (unsigned k = 0; k < s->nq; k++)
			next = TN_MIN(next, s->q[k].at_us);
		for (int i = 0; i < 2; i++)
			if (!s->down[i])
				next = TN_MIN(next, dp_rel_next_timer(&s->e[i]));
		s->now = next > s->now ? next : s->now + 1;
		if (s->now > until_us)
			return;
		sim_deliver(s);
	}
	CU_FAIL("simulation step bound hit");
}

/* ---- the soak: many seeds, loss rates, MTUs and windows ---- */

static const unsigned loss_pmls[] = { 0, 10, 50, 100, 200, 300 };
static const uint32_t mtus[] = { 1400, 8192 };
static const uint32_t wnds[] = { 4, 16, 64 };

static void soak(unsigned seeds, unsigned nmsg, uint64_t seed0)
{
	uint64_t retrans = 0, fast = 0, rto = 0, dgrams = 0, dups = 0, ooo = 0, sim_us_max = 0;
	uint64_t corrupt = 0, msgs = 0;
	for (unsigned k = 0; k < seeds; k++) {
		uint64_t seed = seed0 + k;
		unsigned loss = loss_pmls[k % TN_ARRAY_LEN(loss_pmls)];
		uint32_t mtu = mtus[(k / 6) % 2], wnd = wnds[(k / 2) % 3];
		struct sim *s = sim_new(seed, loss, mtu, wnd, nmsg);
		sim_run(s, 600000000ull, 1);   /* 600 s simulated at most */
		if (!all_done(s) || s->bad || s->wnd_violation)
			printf("\nseed %llu loss %u/1000 mtu %u wnd %u: rcvd %u/%u %u/%u bad %u wnd %u\n",
			       (unsigned long long)seed, loss, mtu, wnd, s->rcvd[0], nmsg, s->rcvd[1], nmsg,
			       s->bad, s->wnd_violation);
		CU_ASSERT_TRUE(all_done(s));
		CU_ASSERT_EQUAL(s->bad, 0);
		CU_ASSERT_EQUAL(s->wnd_violation, 0);
		CU_ASSERT_EQUAL(s->corrupt_missed, 0);
		/* nothing extra arrives later */
		sim_run(s, s->now + 100000, 0);
		CU_ASSERT_EQUAL(s->bad, 0);
		CU_ASSERT_EQUAL(s->rcvd[0], nmsg);
		CU_ASSERT_EQUAL(s->rcvd[1], nmsg);
		for (int i = 0; i < 2; i++) {
			const struct dp_rel_stats *st = dp_rel_stats(&s->e[i]);
			CU_ASSERT_EQUAL(st->resets, 0);
			CU_ASSERT_EQUAL(st->malformed, s->corrupt_dlv[i]);
			CU_ASSERT_TRUE(st->inflight_bytes_max <= (uint64_t)wnd * mtu);
			if (loss == 0)
				CU_ASSERT_EQUAL(st->segs_retrans, 0);
			retrans += st->segs_retrans;
			fast += st->fast_retrans;
			rto += st->rto_fired;
			dups += st->dup_segs;
			ooo += st->ooo_segs;
			corrupt += st->malformed;
			msgs += st->msgs_recv;
		}
		if (loss >= 50)
			CU_ASSERT_TRUE(dp_rel_stats(&s->e[0])->segs_retrans > 0);
		dgrams += s->wire_dgrams;
		sim_us_max = TN_MAX(sim_us_max, s->now);
		sim_free(s);
	}
	printf("\n  %u seeds x %u msgs each way (%llu delivered): %llu datagrams, %llu retransmits "
	       "(%llu fast), %llu RTOs, %llu dup segs, %llu out-of-order segs, %llu corrupted "
	       "dropped, longest run %.2f s simulated\n",
	       seeds, nmsg, (unsigned long long)msgs, (unsigned long long)dgrams,
	       (unsigned long long)retrans, (unsigned long long)fast, (unsigned long long)rto,
	       (unsigned long long)dups, (unsigned long long)ooo, (unsigned long long)corrupt,
	       (double)sim_us_max / 1e6);
}

static void test_rel_soak(void)
{
	soak(24, 2000, 1);   /* with 1-3 MiB messages */
}

static void test_rel_soak_seeds(void)
{
	soak(96, 400, 1000);
}

/* One 64 MiB message (the configured maximum) among small ones, over a
 * lossy, reordering link with an 8 KiB MTU; the send buffer (1 MiB) is
 * smaller than the message, which an empty queue still takes whole. */
static void test_rel_huge_message(void)
{
	const uint64_t huge = 64ull << 20;
	struct sim *s = sim_new(21, 50, 8192, 64, 20);
	s->huge_len = huge;
	for (int i = 0; i < 2; i++) {
		dp_rel_fini(&s->e[i]);
		s->cfg[i].msg_max = huge;
		CU_ASSERT_FATAL(dp_rel_init(&s->e[i], &s->cfg[i], 0) == 0);
	}
	free(s->pend[0]);
	free(s->expect);
	s->pend[0] = malloc(huge);
	s->expect = malloc(huge);
	CU_ASSERT_FATAL(s->pend[0] && s->expect);
	sim_run(s, 600000000ull, 1);
	CU_ASSERT_TRUE(all_done(s));
	CU_ASSERT_EQUAL(s->bad, 0);
	CU_ASSERT_TRUE(s->e[0].st.segs_sent >= huge / 8192);
	CU_ASSERT_TRUE(s->e[0].st.segs_retrans > 0);
	CU_ASSERT_EQUAL(s->e[0].st.resets + s->e[1].st.resets, 0);
	printf("\n  64 MiB message: %llu segments sent, %llu retransmitted, %.2f s simulated\n",
	       (unsigned long long)s->e[0].st.segs_sent, (unsigned long long)s->e[0].st.segs_retrans,
	       (double)s->now / 1e6);
	sim_free(s);
}

/* No loss, no reordering: no retransmissions at all, everything in order. */
static void test_rel_clean_link(void)
{
	struct sim *s = sim_new(77, 0, 1400, 16, 3000);
	sim_run(s, 600000000ull, 1);
	CU_ASSERT_TRUE(all_done(s));
	CU_ASSERT_EQUAL(s->bad, 0);
	for (int i = 0; i < 2; i++) {
		const struct dp_rel_stats *st = dp_rel_stats(&s->e[i]);
		CU_ASSERT_EQUAL(st->segs_retrans, 0);
		CU_ASSERT_EQUAL(st->rto_fired, 0);
		CU_ASSERT_EQUAL(st->dup_segs, 0);
		CU_ASSERT_EQUAL(st->ooo_segs, 0);
		CU_ASSERT_EQUAL(st->msgs_recv, 3000);
	}
	sim_free(s);
}

/* A window of 2 segments: never more than 2 segments (2 MTUs) in flight. */
static void test_rel_window_bounds_inflight(void)
{
	struct sim *s = sim_new(5, 100, 1400, 2, 500);
	sim_run(s, 600000000ull, 1);
	CU_ASSERT_TRUE(all_done(s));
	CU_ASSERT_EQUAL(s->bad, 0);
	CU_ASSERT_EQUAL(s->wnd_violation, 0);
	for (int i = 0; i < 2; i++) {
		const struct dp_rel_stats *st = dp_rel_stats(&s->e[i]);
		CU_ASSERT_TRUE(st->inflight_bytes_max <= 2u * 1400u);
		CU_ASSERT_TRUE(st->inflight_bytes_max > 1400u);   /* the window was used */
		CU_ASSERT_TRUE(st->window_full > 0);
	}
	sim_free(s);
}

/* The receiving app stops reading: the receiver's buffer caps what it holds
 * and the sender stalls; once the app reads again everything arrives. */
static void test_rel_flow_control(void)
{
	struct sim *s = sim_new(9, 0, 1400, 16, 2000);
	s->no_read[1] = 1;
	sim_run(s, 2000000, 0);   /* 2 s simulated */
	const struct dp_rel *b = &s->e[1];
	CU_ASSERT_TRUE(b->dq_bytes >= b->cfg.rcvbuf_bytes);   /* it filled up ... */
	CU_ASSERT_TRUE(b->dq_bytes <= b->cfg.rcvbuf_bytes + SIM_MSG_MAX); /* ... and stopped */
	CU_ASSERT_TRUE(b->st.msgs_recv < 2000);
	CU_ASSERT_TRUE(s->e[0].st.window_full > 0);
	CU_ASSERT_EQUAL(s->e[0].st.resets, 0);
	s->no_read[1] = 0;
	sim_run(s, 600000000ull, 1);
	CU_ASSERT_TRUE(all_done(s));
	CU_ASSERT_EQUAL(s->bad, 0);
	sim_free(s);
}

static void expect_events(struct dp_rel *r, const int *evs, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		CU_ASSERT_EQUAL(dp_rel_event(r), evs[i]);
	CU_ASSERT_EQUAL(dp_rel_event(r), DP_REL_EV_NONE);
}

static void expect_log(const struct sim *s, int i, const int *evs, unsigned n)
{
	CU_ASSERT_EQUAL(s->nev[i], n);
	for (unsigned k = 0; k < n && k < s->nev[i]; k++)
		CU_ASSERT_EQUAL(s->evlog[i][k], evs[k]);
}

/* End 1 crashes mid-transfer, under loss and reordering, and comes back as a
 * new incarnation while its old datagrams are still on the wire: end 0 hears
 * DOWN then UP, drops its old stream, and fresh streams flow both ways. */
static void test_rel_peer_restart(void)
{
	struct sim *s = sim_new(11, 50, 1400, 16, 400);
	sim_run(s, 20000, 0);   /* 20 ms: mid-transfer */
	CU_ASSERT_TRUE(s->rcvd[1] > 0 && s->rcvd[1] < 400);
	CU_ASSERT_TRUE(s->nq > 0);
	expect_log(s, 0, (const int[]){ DP_REL_EV_UP }, 1);
	expect_log(s, 1, (const int[]){ DP_REL_EV_UP }, 1);

	dp_rel_fini(&s->e[1]);
	s->cfg[1].incarnation = 5000;
	CU_ASSERT_FATAL(dp_rel_init(&s->e[1], &s->cfg[1], s->now) == 0);
	s->sent[1] = s->rcvd[1] = 0;   /* a new process */
	s->pend_ok[1] = 0;
	s->nev[1] = 0;
	sim_run(s, s->now + 600000000ull, 1);
	CU_ASSERT_TRUE(all_done(s));
	CU_ASSERT_EQUAL(s->bad, 0);
	expect_log(s, 0, (const int[]){ DP_REL_EV_UP, DP_REL_EV_DOWN, DP_REL_EV_UP }, 3);
	expect_log(s, 1, (const int[]){ DP_REL_EV_UP }, 1);
	CU_ASSERT_EQUAL(s->e[0].st.resets, 1);
	CU_ASSERT_EQUAL(s->e[0].peer_inc, 5000);
	CU_ASSERT_EQUAL(s->e[1].peer_inc, 100);
	CU_ASSERT_TRUE(s->e[1].st.stale_inc > 0);   /* old datagrams for the dead one */
	sim_free(s);
}

/* End 1 is cut off longer than dead_us (a partition; it keeps its state):
 * end 0 times out, bumps its incarnation; when the partition heals end 1
 * drops its stale stream; both reconnect and fresh streams flow. */
static void test_rel_dead_peer(void)
{
	struct sim *s = sim_new(13, 0, 1400, 16, 100);
	sim_run(s, 600000000ull, 1);
	CU_ASSERT_TRUE(all_done(s));
	CU_ASSERT_EQUAL_FATAL(dp_rel_send(&s->e[1], "x", 1), 0);   /* never delivered */
	s->down[1] = 1;
	sim_run(s, s->now + s->cfg[0].dead_us + 200000, 0);
	expect_log(s, 0, (const int[]){ DP_REL_EV_UP, DP_REL_EV_DOWN }, 2);
	CU_ASSERT_EQUAL(s->e[0].peer_inc, 0);
	CU_ASSERT_EQUAL(s->e[0].my_inc, 101);   /* bumped: the peer must drop its stream */
	s->down[1] = 0;
	s->nmsg = 200;
	sim_run(s, s->now + 600000000ull, 1);
	CU_ASSERT_TRUE(all_done(s));
	CU_ASSERT_EQUAL(s->bad, 0);   /* "x" was dropped with the old stream */
	expect_log(s, 0, (const int[]){ DP_REL_EV_UP, DP_REL_EV_DOWN, DP_REL_EV_UP }, 3);
	expect_log(s, 1, (const int[]){ DP_REL_EV_UP, DP_REL_EV_DOWN, DP_REL_EV_UP }, 3);
	CU_ASSERT_EQUAL(s->e[1].peer_inc, 101);
	sim_free(s);
}

/* ---- malformed datagrams ---- */

static uint8_t cap_buf[DP_REL_DGRAM_MAX(1400)];
static size_t cap_len;

static int capture(void *arg, const void *dgram, size_t len)
{
	const uint8_t *p = dgram;
	(void)arg;
	if (p[3] == T_DATA && !cap_len) {   /* keep the first data datagram */
		memcpy(cap_buf, dgram, len);
		cap_len = len;
	}
	return 0;
}

static void fix_crc(uint8_t *p, size_t len)
{
	tn_store_be32(p + 4, dgram_crc(p, len));
}

static void test_rel_malformed(void)
{
	struct dp_rel a, b;
	struct dp_rel_cfg ca, cb;
	uint8_t d[sizeof(cap_buf) + 64];
	sim_cfg(&ca, 100, 1400, 16);
	sim_cfg(&cb, 200, 1400, 16);
	CU_ASSERT_FATAL(dp_rel_init(&a, &ca, 0) == 0);
	CU_ASSERT_FATAL(dp_rel_init(&b, &cb, 0) == 0);
	/* Handshake by hand: a's ping makes b answer; then a has data to send. */
	uint8_t msg[3000];
	for (unsigned i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7);
	CU_ASSERT_FATAL(dp_rel_send(&a, msg, sizeof(msg)) == 0);
	(void)dp_rel_poll(&a, 0, capture, NULL);
	CU_ASSERT_FATAL(dp_rel_input(&b, a.obuf, DP_REL_HDR_LEN, 1) == 0);   /* the ping */
	(void)dp_rel_poll(&b, 1, capture, NULL);
	CU_ASSERT_FATAL(dp_rel_input(&a, b.obuf, DP_REL_HDR_LEN, 2) == 0);   /* the ack */
	(void)dp_rel_poll(&a, 3, capture, NULL);
	CU_ASSERT_FATAL(cap_len > DP_REL_HDR_LEN + 8);   /* first segment, START + msg_len */

	struct { const char *what; int kind; } cases[] = {
		{ "runt", 0 }, { "magic", 1 }, { "version", 2 }, { "type", 3 }, { "crc", 4 },
		{ "nsack>4", 5 }, { "plen>mtu", 6 }, { "truncated", 7 }, { "trailing", 8 },
		{ "seq0", 9 }, { "flags", 10 }, { "msg_len>max", 11 }, { "sack start>=end", 12 },
		{ "src_inc0", 13 }, { "ack>snd_nxt", 14 }, { "wnd>max", 15 }, { "plen>msg_len", 16 },
		{ "ack0 with dst", 17 }, { "empty non-start", 18 },
	};
	for (unsigned c = 0; c < TN_ARRAY_LEN(cases); c++) {
		size_t len = cap_len;
		memcpy(d, cap_buf, cap_len);
		int fix = 1;
		switch (cases[c].kind) {
		case 0: len = DP_REL_HDR_LEN - 1; fix = 0; break;
		case 1: d[0] ^= 0xff; break;
		case 2: d[2] = 9; break;
		case 3: d[3] = 7; break;
		case 4: d[100] ^= 1; fix = 0; break;
		case 5: d[36] = 5; break;
		case 6: d[38] = 0xff; break;
		case 7: len--; break;
		case 8: d[len++] = 0; break;
		case 9: memset(d + 40, 0, 8); break;
		case 10: d[37] |= 0x80; break;
		case 11: tn_store_be64(d + DP_REL_HDR_LEN, SIM_MSG_MAX + 1ull); break;
		case 12: /* one SACK block [5, 5) in front of msg_len */
			memmove(d + DP_REL_HDR_LEN + 16, d + DP_REL_HDR_LEN, len - DP_REL_HDR_LEN);
			tn_store_be64(d + DP_REL_HDR_LEN, 5);
			tn_store_be64(d + DP_REL_HDR_LEN + 8, 5);
			d[36] = 1;
			len += 16;
			break;
		case 13: memset(d + 8, 0, 8); break;
		case 14: tn_store_be64(d + 24, 1000); break;   /* b sent nothing: snd_nxt 1 */
		case 15: tn_store_be32(d + 32, DP_REL_WND_MAX + 1); break;
		case 16: tn_store_be64(d + DP_REL_HDR_LEN, 10); break;
		case 17: tn_store_be64(d + 24, 0); break;
		case 18: d[37] = F_END; d[38] = d[39] = 0; len = DP_REL_HDR_LEN; break;
		}
		if (fix)
			fix_crc(d, len);
		uint64_t before = b.st.malformed, rcv = b.rcv_nxt;
		int rc = dp_rel_input(&b, d, len, 10);
		if (rc != -EBADMSG)
			printf("\ncase %s: rc %d\n", cases[c].what, rc);
		CU_ASSERT_EQUAL(rc, -EBADMSG);
		CU_ASSERT_EQUAL(b.st.malformed, before + 1);
		CU_ASSERT_EQUAL(b.rcv_nxt, rcv);
	}
	/* Stale incarnations: for an old b, and from an old a. */
	memcpy(d, cap_buf, cap_len);
	tn_store_be64(d + 16, 199);
	fix_crc(d, cap_len);
	CU_ASSERT_EQUAL(dp_rel_input(&b, d, cap_len, 10), -ESTALE);
	memcpy(d, cap_buf, cap_len);
	tn_store_be64(d + 8, 99);
	fix_crc(d, cap_len);
	CU_ASSERT_EQUAL(dp_rel_input(&b, d, cap_len, 10), -ESTALE);
	CU_ASSERT_EQUAL(b.st.stale_inc, 2);
	CU_ASSERT_EQUAL(b.st.malformed, TN_ARRAY_LEN(cases));
	CU_ASSERT_EQUAL(b.st.resets, 0);
	/* The untouched datagram is still good: the first segment is taken. */
	CU_ASSERT_EQUAL(dp_rel_input(&b, cap_buf, cap_len, 10), 0);
	CU_ASSERT_EQUAL(b.rcv_nxt, 2);
	/* A second START while a message is half built is a bad stream: reset. */
	memcpy(d, cap_buf, cap_len);
	tn_store_be64(d + 40, 2);
	fix_crc(d, cap_len);
	CU_ASSERT_EQUAL(dp_rel_input(&b, d, cap_len, 11), -EPROTO);
	CU_ASSERT_EQUAL(b.st.protocol_err, 1);
	CU_ASSERT_EQUAL(b.st.resets, 1);
	CU_ASSERT_EQUAL(b.my_inc, 201);
	expect_events(&b, (const int[]){ DP_REL_EV_UP, DP_REL_EV_DOWN }, 2);
	dp_rel_fini(&a);
	dp_rel_fini(&b);
}

static void test_rel_api_edges(void)
{
	struct dp_rel r;
	struct dp_rel_cfg c;
	sim_cfg(&c, 0, 1400, 16);
	CU_ASSERT_EQUAL(dp_rel_init(&r, &c, 0), -EINVAL);   /* incarnation 0 */
	sim_cfg(&c, 1, 10, 16);
	CU_ASSERT_EQUAL(dp_rel_init(&r, &c, 0), -EINVAL);   /* mtu too small */
	sim_cfg(&c, 1, 1400, DP_REL_WND_MAX + 1);
	CU_ASSERT_EQUAL(dp_rel_init(&r, &c, 0), -EINVAL);
	sim_cfg(&c, 1, 1400, 16);
	c.sndbuf_bytes = 100;
	CU_ASSERT_FATAL(dp_rel_init(&r, &c, 0) == 0);
	static uint8_t big[SIM_MSG_MAX + 1];
	CU_ASSERT_EQUAL(dp_rel_send(&r, big, sizeof(big)), -EMSGSIZE);
	CU_ASSERT_EQUAL(dp_rel_send(&r, big, 1000), 0);    /* an empty queue takes it */
	CU_ASSERT_EQUAL(dp_rel_send(&r, big, 1), -EAGAIN);
	CU_ASSERT_EQUAL(r.st.sndbuf_full, 1);
	const uint8_t *m;
	size_t len;
	CU_ASSERT_EQUAL(dp_rel_recv(&r, &m, &len), 0);
	CU_ASSERT_EQUAL(dp_rel_event(&r), DP_REL_EV_NONE);
	dp_rel_fini(&r);
}

static CU_TestInfo tests[] = {
	{ "api_edges", test_rel_api_edges },
	{ "malformed", test_rel_malformed },
	{ "clean_link", test_rel_clean_link },
	{ "window_bounds_inflight", test_rel_window_bounds_inflight },
	{ "flow_control", test_rel_flow_control },
	{ "huge_message", test_rel_huge_message },
	{ "peer_restart", test_rel_peer_restart },
	{ "dead_peer", test_rel_dead_peer },
	{ "soak", test_rel_soak },
	{ "soak_seeds", test_rel_soak_seeds },
	CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = { { "rel", NULL, NULL, NULL, NULL, tests }, CU_SUITE_INFO_NULL };

int main(int argc, char **argv)
{
	return tn_test_main(argc, argv, suites);
}
