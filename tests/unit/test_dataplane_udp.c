/* tests/unit/test_dataplane_udp.c. Description: the native datagram protocol's
 * header codec (round trip; short, bad magic/version/kind rejected) and the
 * per-session reply cache (in-order admission, gaps, retries in flight and
 * answered, the window, the byte cap, eviction, hand-over on resume, xid
 * wrap). Includes dataplane/dp_udp_proto.c: pure, no sockets. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dp_udp_proto.c"
#include "tests/lib/tn_test.h"

static void test_hdr_round_trip(void)
{
	uint8_t b[DP_UDP_HDR_LEN];
	struct dp_udp_hdr h = {.kind = DP_UDP_REQUEST, .flags = 0x0102,
			       .session = 0x0123456789abcdefull, .xid = -2, .cookie = 0xdeadbeef};
	struct dp_udp_hdr g;

	dp_udp_hdr_encode(b, &h);
	CU_ASSERT_EQUAL(tn_load_be32(b), DP_UDP_MAGIC);
	CU_ASSERT_EQUAL(dp_udp_hdr_decode(b, sizeof b, &g), 0);
	CU_ASSERT_EQUAL(g.kind, h.kind);
	CU_ASSERT_EQUAL(g.flags, h.flags);
	CU_ASSERT_EQUAL(g.session, h.session);
	CU_ASSERT_EQUAL(g.xid, h.xid);
	CU_ASSERT_EQUAL(g.cookie, h.cookie);
}

static void test_hdr_rejects(void)
{
	uint8_t b[DP_UDP_HDR_LEN + 4] = {0};
	struct dp_udp_hdr h = {.kind = DP_UDP_CONNECT, .cookie = 1}, g;

	dp_udp_hdr_encode(b, &h);
	CU_ASSERT_EQUAL(dp_udp_hdr_decode(b, sizeof b, &g), 0); /* a body may follow */
	for (size_t n = 0; n < DP_UDP_HDR_LEN; n++)
		CU_ASSERT_EQUAL(dp_udp_hdr_decode(b, n, &g), -EBADMSG);
	CU_ASSERT_EQUAL(dp_udp_hdr_decode(b, DP_UDP_DGRAM_MAX + 1, &g), -EBADMSG);
	b[0] ^= 1; /* magic */
	CU_ASSERT_EQUAL(dp_udp_hdr_decode(b, sizeof b, &g), -EBADMSG);
	b[0] ^= 1;
	b[4] = DP_UDP_VERSION + 1;
	CU_ASSERT_EQUAL(dp_udp_hdr_decode(b, sizeof b, &g), -EBADMSG);
	b[4] = DP_UDP_VERSION;
	b[5] = 0;
	CU_ASSERT_EQUAL(dp_udp_hdr_decode(b, sizeof b, &g), -EBADMSG);
	b[5] = DP_UDP_KIND_MAX + 1;
	CU_ASSERT_EQUAL(dp_udp_hdr_decode(b, sizeof b, &g), -EBADMSG);
	b[5] = DP_UDP_KIND_MAX;
	CU_ASSERT_EQUAL(dp_udp_hdr_decode(b, sizeof b, &g), 0);
}

static enum dp_udp_verdict admit(struct dp_udp_cache *c, int32_t xid)
{
	const uint8_t *p = NULL;
	size_t n = 0;
	return dp_udp_cache_admit(c, xid, &p, &n);
}

static void test_cache_order_and_retries(void)
{
	struct dp_udp_cache c;
	const uint8_t *p = NULL;
	size_t n = 0;

	dp_udp_cache_init(&c, 5);
	CU_ASSERT_EQUAL(admit(&c, 6), DP_UDP_GAP);  /* 5 was lost: 6 must wait */
	CU_ASSERT_EQUAL(admit(&c, 4), DP_UDP_GONE); /* before this attachment */
	CU_ASSERT_EQUAL(admit(&c, 5), DP_UDP_NEW);
	CU_ASSERT_EQUAL(admit(&c, 5), DP_UDP_DUP_INFLIGHT); /* still running: its reply comes */
	CU_ASSERT_EQUAL(admit(&c, 6), DP_UDP_NEW);
	CU_ASSERT_EQUAL(dp_udp_cache_complete(&c, 5, (const uint8_t *)"five", 4), 0);
	CU_ASSERT_EQUAL(dp_udp_cache_complete(&c, 5, (const uint8_t *)"again", 5), -ENOENT);
	CU_ASSERT_EQUAL(dp_udp_cache_complete(&c, 7, (const uint8_t *)"x", 1), -ENOENT);
	CU_ASSERT_EQUAL(dp_udp_cache_complete(&c, -1, (const uint8_t *)"x", 1), -ENOENT);
	CU_ASSERT_EQUAL(dp_udp_cache_admit(&c, 5, &p, &n), DP_UDP_DUP_REPLY);
	CU_ASSERT(n == 4 && memcmp(p, "five", 4) == 0);
	CU_ASSERT_EQUAL(c.bytes, 4u);
	CU_ASSERT_EQUAL(admit(&c, 6), DP_UDP_DUP_INFLIGHT);
	CU_ASSERT_EQUAL(c.next_xid, 7);
	dp_udp_cache_free(&c);
	CU_ASSERT_EQUAL(c.bytes, 0u);
}

static void test_cache_window(void)
{
	struct dp_udp_cache c;
	uint8_t r[8] = "reply";

	dp_udp_cache_init(&c, 1);
	for (int32_t x = 1; x <= (int32_t)DP_UDP_CACHE_SLOTS; x++)
		CU_ASSERT_EQUAL(admit(&c, x), DP_UDP_NEW);
	/* every slot waits for a reply: the next request is dropped, not admitted */
	CU_ASSERT_EQUAL(admit(&c, DP_UDP_CACHE_SLOTS + 1), DP_UDP_FULL);
	CU_ASSERT_EQUAL(c.next_xid, (int32_t)DP_UDP_CACHE_SLOTS + 1);
	CU_ASSERT_EQUAL(dp_udp_cache_complete(&c, 1, r, sizeof r), 0);
	CU_ASSERT_EQUAL(admit(&c, DP_UDP_CACHE_SLOTS + 1), DP_UDP_NEW);
	/* xid 1's slot now belongs to DP_UDP_CACHE_SLOTS + 1: 1 is gone */
	CU_ASSERT_EQUAL(admit(&c, 1), DP_UDP_GONE);
	CU_ASSERT_EQUAL(c.bytes, 0u);
	dp_udp_cache_free(&c);
}

static void test_cache_byte_cap(void)
{
	struct dp_udp_cache c;
	size_t big = DP_UDP_CACHE_BYTES / 4 + 1; /* three fit, four do not */
	uint8_t *r = calloc(1, DP_UDP_CACHE_BYTES + 1);

	CU_ASSERT_FATAL(r != NULL);
	dp_udp_cache_init(&c, 0);
	for (int32_t x = 0; x < 4; x++) {
		CU_ASSERT_EQUAL(admit(&c, x), DP_UDP_NEW);
		r[0] = (uint8_t)x;
		CU_ASSERT_EQUAL(dp_udp_cache_complete(&c, x, r, big), 0);
		CU_ASSERT(c.bytes <= DP_UDP_CACHE_BYTES);
	}
	CU_ASSERT_EQUAL(c.bytes, 3 * big);
	CU_ASSERT_EQUAL(admit(&c, 0), DP_UDP_GONE); /* the oldest was evicted */
	const uint8_t *p = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL(dp_udp_cache_admit(&c, 3, &p, &n), DP_UDP_DUP_REPLY);
	CU_ASSERT(n == big && p[0] == 3);
	/* a reply over the cap is answered once, never kept */
	CU_ASSERT_EQUAL(admit(&c, 4), DP_UDP_NEW);
	CU_ASSERT_EQUAL(dp_udp_cache_complete(&c, 4, r, DP_UDP_CACHE_BYTES + 1), 0);
	CU_ASSERT_EQUAL(admit(&c, 4), DP_UDP_GONE);
	CU_ASSERT_EQUAL(c.bytes, 3 * big);
	dp_udp_cache_free(&c);
	free(r);
}

static void test_cache_move_and_wrap(void)
{
	struct dp_udp_cache a, b;
	const uint8_t *p = NULL;
	size_t n = 0;

	dp_udp_cache_init(&a, INT32_MAX - 1);
	CU_ASSERT_EQUAL(admit(&a, INT32_MAX - 1), DP_UDP_NEW);
	CU_ASSERT_EQUAL(admit(&a, INT32_MAX), DP_UDP_NEW);
	CU_ASSERT_EQUAL(a.next_xid, 1); /* ternc wraps INT32_MAX to 1 */
	CU_ASSERT_EQUAL(admit(&a, 1), DP_UDP_NEW);
	CU_ASSERT_EQUAL(dp_udp_cache_complete(&a, INT32_MAX - 1, (const uint8_t *)"ab", 2), 0);
	dp_udp_cache_init(&b, 2); /* the resuming client's next xid */
	dp_udp_cache_move(&b, &a);
	CU_ASSERT_EQUAL(a.bytes, 0u);
	CU_ASSERT_EQUAL(b.next_xid, 2);
	CU_ASSERT_EQUAL(dp_udp_cache_admit(&b, INT32_MAX - 1, &p, &n), DP_UDP_DUP_REPLY);
	CU_ASSERT(n == 2 && memcmp(p, "ab", 2) == 0);
	/* still running on the old attachment: its reply goes there, never here */
	CU_ASSERT_EQUAL(admit(&b, INT32_MAX), DP_UDP_GONE);
	CU_ASSERT_EQUAL(admit(&b, 2), DP_UDP_NEW);
	/* a client ahead of the old attachment (its later requests never
	 * arrived) is followed, or every new xid would look like a gap */
	dp_udp_cache_init(&a, 40);
	dp_udp_cache_move(&a, &b);
	CU_ASSERT_EQUAL(a.next_xid, 40);
	CU_ASSERT_EQUAL(admit(&a, 40), DP_UDP_NEW);
	dp_udp_cache_free(&a);
	dp_udp_cache_free(&b);
}

static CU_TestInfo tests[] = {
	{"hdr_round_trip", test_hdr_round_trip},
	{"hdr_rejects", test_hdr_rejects},
	{"cache_order_and_retries", test_cache_order_and_retries},
	{"cache_window", test_cache_window},
	{"cache_byte_cap", test_cache_byte_cap},
	{"cache_move_and_wrap", test_cache_move_and_wrap},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"dataplane_udp", NULL, NULL, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	return tn_test_main(argc, argv, suites);
}
