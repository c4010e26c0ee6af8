/* tests/unit/test_dataplane_net.c. Description: the dataplane's network layer
 * (dataplane/dp_net.c): RFC 1071 checksums and the incremental update;
 * build -> parse round trips for UDP (tagged and not, every checksum mode,
 * IP options) and ARP request/reply; every malformed or misaddressed frame
 * dropped (or handed to the kernel) with the right reason and counted; the
 * builders' bounds; the ARP cache (hit, pending queue, expiry on a fake clock,
 * capacity eviction) against a reference model. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dp_net.c"
#include "tests/lib/tn_test.h"

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

static const struct dp_net_cfg me = {
    .mac = {0x02, 0, 0, 0, 0, 0x01},
    .ip = IP4(10, 0, 0, 1),
    .udp_ports = {2888, 9000},
    .udp_port_count = 2,
};
static const struct dp_net_cfg peer = {
    .mac = {0x02, 0, 0, 0, 0, 0x02},
    .ip = IP4(10, 0, 0, 2),
    .udp_ports = {2888},
    .udp_port_count = 1,
};

static uint8_t frame[2048];
static uint8_t payload[1600];
static struct dp_net_counters ctr;

/* A frame from peer to me, UDP 40000 -> 2888, @plen payload bytes. */
static size_t build_to_me(bool vlan, size_t plen, bool csum)
{
	struct dp_net_l2 l2 = {.has_vlan = vlan, .vlan_tci = 0x0123};
	struct dp_net_udp u = {
	    .src_ip = peer.ip, .dst_ip = me.ip, .src_port = 40000, .dst_port = 2888, .ttl = 7};
	memcpy(l2.src, peer.mac, 6);
	memcpy(l2.dst, me.mac, 6);
	for (size_t i = 0; i < plen; i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	int n = dp_net_build_udp(frame, sizeof(frame), &l2, &u, 0x4242, payload, plen, csum);
	CU_ASSERT_FATAL(n > 0);
	return (size_t)n;
}

static void fix_ip_csum(uint8_t *ip)
{
	size_t ihl = (size_t)(ip[0] & 0xfu) * 4;
	store_be16(ip + 10, 0);
	store_be16(ip + 10, dp_net_csum(ip, ihl));
}

static int parse_count(const uint8_t *f, size_t len, const struct dp_net_cfg *cfg,
		       struct dp_net_pkt *p)
{
	int k = dp_net_parse(f, len, cfg, p);
	CU_ASSERT_EQUAL(k, (int)p->kind);
	dp_net_count(&ctr, p, len);
	return k;
}

static void expect_drop(const uint8_t *f, size_t len, enum dp_net_drop why)
{
	struct dp_net_pkt p;
	uint64_t before = ctr.drop[why], kbefore = ctr.kind[DP_NET_DROP];
	CU_ASSERT_EQUAL(parse_count(f, len, &me, &p), DP_NET_DROP);
	CU_ASSERT_EQUAL(p.drop, why);
	if (p.drop != why)
		fprintf(stderr, "  got %s, want %s\n", dp_net_drop_name(p.drop),
			dp_net_drop_name(why));
	CU_ASSERT_EQUAL(ctr.drop[why], before + 1);
	CU_ASSERT_EQUAL(ctr.kind[DP_NET_DROP], kbefore + 1);
}

static void expect_kind(const uint8_t *f, size_t len, enum dp_net_kind k)
{
	struct dp_net_pkt p;
	uint64_t before = ctr.kind[k];
	CU_ASSERT_EQUAL(parse_count(f, len, &me, &p), (int)k);
	CU_ASSERT_EQUAL(p.drop, DP_NET_DROP_NONE);
	if (p.kind != k)
		fprintf(stderr, "  got %s/%s, want %s\n", dp_net_kind_name(p.kind),
			dp_net_drop_name(p.drop), dp_net_kind_name(k));
	CU_ASSERT_EQUAL(ctr.kind[k], before + 1);
}

/* --- checksums --- */

static void test_csum_rfc1071(void)
{
	/* RFC 1071 section 3's worked example. */
	const uint8_t ex[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	CU_ASSERT_EQUAL(dp_net_csum_partial(ex, sizeof(ex), 0), 0xddf2);
	CU_ASSERT_EQUAL(dp_net_csum(ex, sizeof(ex)), 0x220d);
	/* Split sums compose (even-length first part). */
	CU_ASSERT_EQUAL(dp_net_csum_partial(ex + 4, 4, dp_net_csum_partial(ex, 4, 0)), 0xddf2);
	/* An odd tail is padded with a zero byte. */
	const uint8_t odd[] = {0x12, 0x34, 0x56};
	CU_ASSERT_EQUAL(dp_net_csum_partial(odd, 3, 0), 0x1234 + 0x5600);
	CU_ASSERT_EQUAL(dp_net_csum(NULL, 0), 0xffff);
	/* A known IPv4 header (Wikipedia's example): checksum 0xb861. */
	uint8_t ip[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
			0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
	CU_ASSERT_EQUAL(dp_net_csum(ip, sizeof(ip)), 0xb861);
}

static void test_csum_incremental(void)
{
	size_t n = build_to_me(false, 10, true);
	uint8_t *ip = frame + DP_NET_ETH_HDR_LEN;
	(void)n;
	/* Decrement the TTL as a router would, for every TTL value. */
	for (int ttl = 255; ttl > 0; ttl--) {
		ip[8] = (uint8_t)ttl;
		fix_ip_csum(ip);
		uint16_t old_w = load_be16(ip + 8), hc = load_be16(ip + 10);
		ip[8] = (uint8_t)(ttl - 1);
		uint16_t upd = dp_net_csum_update16(hc, old_w, load_be16(ip + 8));
		store_be16(ip + 10, upd);
		CU_ASSERT_EQUAL(dp_net_csum_partial(ip, 20, 0), 0xffff);
		fix_ip_csum(ip);
		CU_ASSERT_EQUAL(load_be16(ip + 10), upd);
	}
	/* Rewrite the destination address word by word. */
	fix_ip_csum(ip);
	uint16_t hc = load_be16(ip + 10);
	hc = dp_net_csum_update16(hc, load_be16(ip + 16), 0xc0a8);
	store_be16(ip + 16, 0xc0a8);
	hc = dp_net_csum_update16(hc, load_be16(ip + 18), 0x0107);
	store_be16(ip + 18, 0x0107);
	store_be16(ip + 10, hc);
	CU_ASSERT_EQUAL(dp_net_csum_partial(ip, 20, 0), 0xffff);
}

/* --- round trips --- */

static void check_udp_fields(const struct dp_net_pkt *p, bool vlan, size_t plen)
{
	CU_ASSERT_EQUAL(p->kind, DP_NET_UDP_FOR_US);
	CU_ASSERT_EQUAL(p->has_vlan, vlan);
	if (vlan)
		CU_ASSERT_EQUAL(p->vlan_tci, 0x0123);
	CU_ASSERT_EQUAL(memcmp(p->eth_src, peer.mac, 6), 0);
	CU_ASSERT_EQUAL(memcmp(p->eth_dst, me.mac, 6), 0);
	CU_ASSERT_EQUAL(p->udp.src_ip, peer.ip);
	CU_ASSERT_EQUAL(p->udp.dst_ip, me.ip);
	CU_ASSERT_EQUAL(p->udp.src_port, 40000);
	CU_ASSERT_EQUAL(p->udp.dst_port, 2888);
	CU_ASSERT_EQUAL(p->udp.ttl, 7);
	CU_ASSERT_EQUAL_FATAL(p->udp.payload_len, plen);
	CU_ASSERT(plen == 0 || memcmp(p->udp.payload, payload, plen) == 0);
}

static void test_udp_roundtrip(void)
{
	const size_t lens[] = {0, 1, 5, 17, 18, 19, 100, 1472, sizeof(payload)};
	for (int v = 0; v < 2; v++)
		for (int cs = 0; cs < 2; cs++)
			for (size_t i = 0; i < TN_ARRAY_LEN(lens); i++) {
				struct dp_net_pkt p;
				size_t n = build_to_me(v, lens[i], cs);
				size_t want = (v ? 18u : 14u) + 28u + lens[i];
				CU_ASSERT_EQUAL(n, TN_MAX(want, (size_t)DP_NET_ETH_MIN_LEN));
				CU_ASSERT_EQUAL(parse_count(frame, n, &me, &p), DP_NET_UDP_FOR_US);
				check_udp_fields(&p, v, lens[i]);
				/* The UDP checksum field is never 0 when computed. */
				size_t u = (v ? 18u : 14u) + 20u;
				CU_ASSERT_EQUAL(load_be16(frame + u + 6) != 0, cs != 0);
			}
}

static void test_udp_payload_in_place(void)
{
	/* The caller may write the payload where the builder will put it. */
	uint8_t *dst = frame + DP_NET_ETH_HDR_LEN + 28;
	struct dp_net_l2 l2 = {0};
	struct dp_net_udp u = {.src_ip = peer.ip, .dst_ip = me.ip, .src_port = 1, .dst_port = 9000};
	struct dp_net_pkt p;
	memcpy(l2.src, peer.mac, 6);
	memcpy(l2.dst, me.mac, 6);
	memcpy(dst, "hello, tern", 11);
	int n = dp_net_build_udp(frame, sizeof(frame), &l2, &u, 1, dst, 11, true);
	CU_ASSERT_EQUAL_FATAL(n, 60);
	CU_ASSERT_EQUAL(dp_net_parse(frame, (size_t)n, &me, &p), DP_NET_UDP_FOR_US);
	CU_ASSERT_EQUAL(p.udp.payload_len, 11);
	CU_ASSERT_EQUAL(memcmp(p.udp.payload, "hello, tern", 11), 0);
	CU_ASSERT_EQUAL(p.udp.ttl, DP_NET_TTL_DEFAULT);
}

static void test_ip_options_skipped(void)
{
	size_t n = build_to_me(false, 50, true);
	uint8_t *ip = frame + DP_NET_ETH_HDR_LEN;
	struct dp_net_pkt p;
	/* Insert 8 bytes of options (NOP...EOL): IHL 7. */
	memmove(ip + 28, ip + 20, n - 34);
	memset(ip + 20, 1, 7);
	ip[27] = 0;
	ip[0] = 0x47;
	store_be16(ip + 2, (uint16_t)(load_be16(ip + 2) + 8));
	fix_ip_csum(ip);
	CU_ASSERT_EQUAL(parse_count(frame, n + 8, &me, &p), DP_NET_UDP_FOR_US);
	check_udp_fields(&p, false, 50);
}

/* Bytes written out by hand (checksums computed apart from dp_net.c): parse
 * gives the fields, and the builder reproduces the same bytes. */
static void test_udp_handmade(void)
{
	static const uint8_t hand[47] = {
	    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02, /* macs */
	    0x08, 0x00,                                                             /* IPv4 */
	    0x45, 0x00, 0x00, 0x21, 0x00, 0x01, 0x40, 0x00, 0x40, 0x11, 0x26, 0xc9,
	    0x0a, 0x00, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x01, /* ip */
	    0x9c, 0x40, 0x0b, 0x48, 0x00, 0x0d, 0x00, 0x77, /* udp */
	    'h',  'e',  'l',  'l',  'o',
	};
	struct dp_net_pkt p;
	CU_ASSERT_EQUAL_FATAL(parse_count(hand, sizeof(hand), &me, &p), DP_NET_UDP_FOR_US);
	CU_ASSERT_EQUAL(p.udp.src_ip, peer.ip);
	CU_ASSERT_EQUAL(p.udp.src_port, 40000);
	CU_ASSERT_EQUAL(p.udp.dst_port, 2888);
	CU_ASSERT_EQUAL(p.udp.ttl, 64);
	CU_ASSERT_EQUAL(p.udp.payload_len, 5);
	CU_ASSERT_EQUAL(memcmp(p.udp.payload, "hello", 5), 0);

	struct dp_net_l2 l2 = {0};
	memcpy(l2.src, peer.mac, 6);
	memcpy(l2.dst, me.mac, 6);
	int n = dp_net_build_udp(frame, sizeof(frame), &l2, &p.udp, 1, "hello", 5, true);
	CU_ASSERT_EQUAL_FATAL(n, 60);
	CU_ASSERT_EQUAL(memcmp(frame, hand, sizeof(hand)), 0);
	for (int i = (int)sizeof(hand); i < n; i++)
		CU_ASSERT_EQUAL(frame[i], 0); /* padding */
}

static void test_arp_roundtrip(void)
{
	for (int v = 0; v < 2; v++) {
		struct dp_net_pkt req, rep;
		int n = dp_net_build_arp_request(frame, sizeof(frame), &peer, me.ip, v, 0x0456);
		CU_ASSERT_EQUAL_FATAL(n, 60);
		CU_ASSERT_EQUAL(parse_count(frame, (size_t)n, &me, &req), DP_NET_ARP_REQ_FOR_US);
		CU_ASSERT_EQUAL(req.has_vlan, v);
		CU_ASSERT_EQUAL(req.arp.op, 1);
		CU_ASSERT_EQUAL(memcmp(req.arp.sha, peer.mac, 6), 0);
		CU_ASSERT_EQUAL(req.arp.spa, peer.ip);
		CU_ASSERT_EQUAL(req.arp.tpa, me.ip);
		CU_ASSERT_EQUAL(memcmp(req.eth_dst, mac_bcast, 6), 0);
		/* A request for us seen by the peer is not the peer's business. */
		CU_ASSERT_EQUAL(dp_net_parse(frame, (size_t)n, &peer, &rep), DP_NET_NOT_OURS);

		n = dp_net_build_arp_reply(frame, sizeof(frame), &me, &req);
		CU_ASSERT_EQUAL_FATAL(n, 60);
		CU_ASSERT_EQUAL(dp_net_parse(frame, (size_t)n, &peer, &rep), DP_NET_ARP_REPLY);
		CU_ASSERT_EQUAL(rep.arp.op, 2);
		CU_ASSERT_EQUAL(memcmp(rep.arp.sha, me.mac, 6), 0);
		CU_ASSERT_EQUAL(rep.arp.spa, me.ip);
		CU_ASSERT_EQUAL(memcmp(rep.arp.tha, peer.mac, 6), 0);
		CU_ASSERT_EQUAL(rep.arp.tpa, peer.ip);
		CU_ASSERT_EQUAL(memcmp(rep.eth_dst, peer.mac, 6), 0);
		CU_ASSERT_EQUAL(rep.has_vlan, v);
		CU_ASSERT_EQUAL(rep.vlan_tci, v ? 0x0456 : 0);
		/* The reply is unicast to the peer: a third host drops it. */
		CU_ASSERT_EQUAL(dp_net_parse(frame, (size_t)n, &me, &rep), DP_NET_DROP);
		CU_ASSERT_EQUAL(rep.drop, DP_NET_DROP_ETH_DST);
	}
}

static void test_build_bounds(void)
{
	struct dp_net_l2 l2 = {0};
	struct dp_net_udp u = {.src_ip = 1, .dst_ip = 2, .src_port = 1, .dst_port = 2};
	static uint8_t big[70000];
	struct dp_net_pkt req;

	CU_ASSERT_EQUAL(dp_net_build_udp(frame, 59, &l2, &u, 0, payload, 0, true), -ENOBUFS);
	CU_ASSERT_EQUAL(dp_net_build_udp(frame, 60, &l2, &u, 0, payload, 0, true), 60);
	CU_ASSERT_EQUAL(dp_net_build_udp(frame, 141, &l2, &u, 0, payload, 100, true), -ENOBUFS);
	CU_ASSERT_EQUAL(dp_net_build_udp(frame, 142, &l2, &u, 0, payload, 100, true), 142);
	l2.has_vlan = true;
	CU_ASSERT_EQUAL(dp_net_build_udp(frame, 145, &l2, &u, 0, payload, 100, true), -ENOBUFS);
	CU_ASSERT_EQUAL(
	    dp_net_build_udp(big, sizeof(big), &l2, &u, 0, big, DP_NET_UDP_PAYLOAD_MAX + 1, true),
	    -EMSGSIZE);
	CU_ASSERT_EQUAL(
	    dp_net_build_udp(big, sizeof(big), &l2, &u, 0, big + 100, DP_NET_UDP_PAYLOAD_MAX, true),
	    (int)(18 + 0xffff));
	CU_ASSERT_EQUAL(dp_net_build_arp_request(frame, 59, &me, peer.ip, false, 0), -ENOBUFS);
	CU_ASSERT_EQUAL(dp_net_build_arp_request(frame, 60, &me, peer.ip, true, 0), 60);
	CU_ASSERT_EQUAL(dp_net_build_arp_request(frame, 60, &peer, me.ip, false, 0), 60);
	CU_ASSERT_EQUAL_FATAL(dp_net_parse(frame, 60, &me, &req), DP_NET_ARP_REQ_FOR_US);
	CU_ASSERT_EQUAL(dp_net_build_arp_reply(frame, 59, &me, &req), -ENOBUFS);
}

/* --- malformed and misaddressed --- */

static void test_drop_runt_and_truncated(void)
{
	size_t n = build_to_me(false, 100, true);
	CU_ASSERT_EQUAL_FATAL(n, 142);
	for (size_t len = 0; len < 14; len++)
		expect_drop(frame, len, DP_NET_DROP_RUNT);
	for (size_t len = 14; len < 34; len++)
		expect_drop(frame, len, DP_NET_DROP_IP_SHORT);
	for (size_t len = 34; len < n; len++)
		expect_drop(frame, len, DP_NET_DROP_IP_LEN); /* total length > frame */
	expect_kind(frame, n, DP_NET_UDP_FOR_US);

	n = build_to_me(true, 100, true);
	for (size_t len = 14; len < 18; len++)
		expect_drop(frame, len, DP_NET_DROP_RUNT); /* tag cut short */
	expect_drop(frame, 37, DP_NET_DROP_IP_SHORT);

	n = (size_t)dp_net_build_arp_request(frame, sizeof(frame), &peer, me.ip, false, 0);
	for (size_t len = 14; len < 42; len++)
		expect_drop(frame, len, DP_NET_DROP_ARP_SHORT);
	expect_kind(frame, 42, DP_NET_ARP_REQ_FOR_US); /* unpadded, as veth delivers it */
}

static void test_drop_ip_header(void)
{
	size_t n = build_to_me(false, 100, true);
	uint8_t *ip = frame + DP_NET_ETH_HDR_LEN;

	ip[0] = 0x65; /* version 6 */
	fix_ip_csum(ip);
	expect_drop(frame, n, DP_NET_DROP_IP_VERSION);
	for (uint8_t ihl = 0; ihl < 5; ihl++) {
		ip[0] = (uint8_t)(0x40 | ihl);
		expect_drop(frame, n, DP_NET_DROP_IP_IHL);
	}
	ip[0] = 0x4f; /* 60 bytes of header, only 40 present */
	expect_drop(frame, 14 + 40, DP_NET_DROP_IP_IHL);
	ip[0] = 0x45;
	store_be16(ip + 2, (uint16_t)(n - 14 + 1)); /* one past the frame */
	fix_ip_csum(ip);
	expect_drop(frame, n, DP_NET_DROP_IP_LEN);
	store_be16(ip + 2, 19); /* below the header */
	fix_ip_csum(ip);
	expect_drop(frame, n, DP_NET_DROP_IP_LEN);
	ip[0] = 0x46;
	store_be16(ip + 2, 22); /* inside the options */
	fix_ip_csum(ip);
	expect_drop(frame, n, DP_NET_DROP_IP_LEN);

	n = build_to_me(false, 100, true);
	for (int bit = 0; bit < 16; bit++) { /* any single flip in the checksum */
		ip[10 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
		expect_drop(frame, n, DP_NET_DROP_IP_CSUM);
		ip[10 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	ip[15] ^= 0x10; /* or in the source address */
	expect_drop(frame, n, DP_NET_DROP_IP_CSUM);
	ip[15] ^= 0x10;
	expect_kind(frame, n, DP_NET_UDP_FOR_US);

	ip[8] = 0;
	fix_ip_csum(ip);
	expect_drop(frame, n, DP_NET_DROP_IP_TTL);
}

static void test_drop_fragments(void)
{
	size_t n = build_to_me(false, 100, true);
	uint8_t *ip = frame + DP_NET_ETH_HDR_LEN;
	const uint16_t frag[] = {0x2000, 0x0001, 0x2001, 0x1fff, 0x6000, 0x4001};

	for (size_t i = 0; i < TN_ARRAY_LEN(frag); i++) {
		store_be16(ip + 6, frag[i]);
		fix_ip_csum(ip);
		expect_drop(frame, n, DP_NET_DROP_IP_FRAG);
	}
	store_be16(ip + 6, 0x0000); /* DF clear, not a fragment: fine */
	fix_ip_csum(ip);
	expect_kind(frame, n, DP_NET_UDP_FOR_US);
	CU_ASSERT(ctr.drop[DP_NET_DROP_IP_FRAG] >= TN_ARRAY_LEN(frag));
}

static void test_drop_udp(void)
{
	size_t n = build_to_me(false, 100, true);
	uint8_t *ip = frame + DP_NET_ETH_HDR_LEN, *u = ip + 20;

	u[8 + 50] ^= 0x01; /* payload corrupted */
	expect_drop(frame, n, DP_NET_DROP_UDP_CSUM);
	store_be16(u + 6, 0); /* no checksum: accepted as sent */
	expect_kind(frame, n, DP_NET_UDP_FOR_US);

	n = build_to_me(false, 100, true);
	u[6] ^= 0x80; /* the checksum itself */
	expect_drop(frame, n, DP_NET_DROP_UDP_CSUM);
	struct dp_net_cfg trusting = me; /* the NIC verified: we do not */
	trusting.rx_csum_verified = true;
	struct dp_net_pkt p;
	CU_ASSERT_EQUAL(dp_net_parse(frame, n, &trusting, &p), DP_NET_UDP_FOR_US);
	ip[11] ^= 1;
	CU_ASSERT_EQUAL(dp_net_parse(frame, n, &trusting, &p), DP_NET_UDP_FOR_US);

	n = build_to_me(false, 100, true);
	store_be16(u + 4, 107); /* one short of the IP payload */
	expect_drop(frame, n, DP_NET_DROP_UDP_LEN);
	store_be16(u + 4, 109); /* one past */
	expect_drop(frame, n, DP_NET_DROP_UDP_LEN);
	store_be16(u + 4, 7);
	expect_drop(frame, n, DP_NET_DROP_UDP_LEN);
	store_be16(ip + 2, 20 + 7); /* IP payload too short for a UDP header */
	fix_ip_csum(ip);
	expect_drop(frame, n, DP_NET_DROP_UDP_SHORT);
}

static void test_addressing(void)
{
	size_t n = build_to_me(false, 100, true);
	uint8_t *ip = frame + DP_NET_ETH_HDR_LEN, *u = ip + 20;

	frame[5] = 0x09; /* another unicast MAC */
	expect_drop(frame, n, DP_NET_DROP_ETH_DST);
	frame[0] = 0x01; /* multicast (IPv6 ND, ...) */
	expect_kind(frame, n, DP_NET_NOT_OURS);
	memset(frame, 0xff, 6); /* broadcast to our IP: ours */
	expect_kind(frame, n, DP_NET_UDP_FOR_US);
	tn_store_be32(ip + 16, IP4(10, 0, 0, 255)); /* broadcast to a subnet: the kernel's */
	fix_ip_csum(ip);
	expect_kind(frame, n, DP_NET_NOT_OURS);
	memcpy(frame, me.mac, 6); /* our MAC, another IP: we do not route */
	expect_drop(frame, n, DP_NET_DROP_IP_DST);
	tn_store_be32(ip + 16, IP4(255, 255, 255, 255));
	fix_ip_csum(ip);
	expect_kind(frame, n, DP_NET_NOT_OURS);
	tn_store_be32(ip + 16, IP4(239, 1, 2, 3));
	fix_ip_csum(ip);
	expect_kind(frame, n, DP_NET_NOT_OURS);

	n = build_to_me(false, 100, true);
	frame[6] = 0x03; /* multicast source MAC */
	expect_drop(frame, n, DP_NET_DROP_ETH_SRC);
	frame[6] = 0x02;
	const uint32_t bad_src[] = {0, IP4(255, 255, 255, 255), IP4(224, 0, 0, 1), me.ip};
	for (size_t i = 0; i < TN_ARRAY_LEN(bad_src); i++) {
		tn_store_be32(ip + 12, bad_src[i]);
		fix_ip_csum(ip);
		expect_drop(frame, n, DP_NET_DROP_IP_SRC);
	}

	n = build_to_me(false, 100, true);
	store_be16(u + 2, 2181); /* another port: the kernel's */
	expect_kind(frame, n, DP_NET_NOT_OURS);
	store_be16(u + 2, 9000); /* our second port (checksum now wrong) */
	expect_drop(frame, n, DP_NET_DROP_UDP_CSUM);
	ip[9] = 6; /* TCP */
	fix_ip_csum(ip);
	expect_kind(frame, n, DP_NET_NOT_OURS);
	store_be16(frame + 12, 0x86dd); /* IPv6 */
	expect_kind(frame, n, DP_NET_NOT_OURS);
}

static void test_vlan(void)
{
	size_t n = build_to_me(true, 100, true);
	expect_kind(frame, n, DP_NET_UDP_FOR_US);
	store_be16(frame + 16, DP_NET_ETHERTYPE_VLAN); /* 802.1Q in 802.1Q */
	expect_drop(frame, n, DP_NET_DROP_VLAN);
	store_be16(frame + 16, DP_NET_ETHERTYPE_QINQ);
	expect_drop(frame, n, DP_NET_DROP_VLAN);
	store_be16(frame + 12, DP_NET_ETHERTYPE_QINQ); /* an S-tag outermost */
	expect_drop(frame, n, DP_NET_DROP_VLAN);
}

static void test_arp_malformed(void)
{
	uint8_t *a = frame + DP_NET_ETH_HDR_LEN;
	const struct {
		size_t off;
		uint8_t val;
		enum dp_net_drop why;
	} cases[] = {
	    {1, 6, DP_NET_DROP_ARP_FORMAT},    /* htype 6 (IEEE 802) */
	    {3, 0xdd, DP_NET_DROP_ARP_FORMAT}, /* ptype 0x08dd */
	    {4, 8, DP_NET_DROP_ARP_FORMAT},    /* hlen 8 */
	    {4, 0, DP_NET_DROP_ARP_FORMAT},
	    {5, 16, DP_NET_DROP_ARP_FORMAT}, /* plen 16 */
	    {5, 0, DP_NET_DROP_ARP_FORMAT},
	    {7, 3, DP_NET_DROP_ARP_OP}, /* RARP request */
	    {7, 0, DP_NET_DROP_ARP_OP},
	    {8, 0x01, DP_NET_DROP_ARP_SENDER},  /* multicast sender MAC */
	    {14, 0xff, DP_NET_DROP_ARP_SENDER}, /* sender 255.255.255.255 (set below) */
	    {14, 0xe0, DP_NET_DROP_ARP_SENDER}, /* sender 224.0.0.2 */
	};
	for (size_t i = 0; i < TN_ARRAY_LEN(cases); i++) {
		int n = dp_net_build_arp_request(frame, sizeof(frame), &peer, me.ip, false, 0);
		a[cases[i].off] = cases[i].val;
		if (i == 9)
			memset(a + 14, 0xff, 4);
		expect_drop(frame, (size_t)n, cases[i].why);
	}

	int n = dp_net_build_arp_request(frame, sizeof(frame), &peer, IP4(10, 0, 0, 3), false, 0);
	expect_kind(frame, (size_t)n, DP_NET_NOT_OURS); /* a request for someone else */
	tn_store_be32(a + 14, 0); /* a probe (RFC 5227) for our IP: answered, not learnt */
	tn_store_be32(a + 24, me.ip);
	expect_kind(frame, (size_t)n, DP_NET_ARP_REQ_FOR_US);

	/* A gratuitous reply (spa == tpa), broadcast: learnt. */
	store_be16(a + 6, 2);
	memset(frame, 0xff, 6);
	tn_store_be32(a + 14, peer.ip);
	tn_store_be32(a + 24, peer.ip);
	expect_kind(frame, (size_t)n, DP_NET_ARP_REPLY);
	tn_store_be32(a + 24, IP4(10, 0, 0, 3)); /* a reply for someone else */
	expect_kind(frame, (size_t)n, DP_NET_NOT_OURS);
}

static void test_counters_and_names(void)
{
	uint64_t total = 0, drops = 0;
	for (unsigned k = 0; k < DP_NET_KIND_COUNT; k++) {
		total += ctr.kind[k];
		CU_ASSERT_STRING_NOT_EQUAL(dp_net_kind_name((enum dp_net_kind)k), "?");
	}
	for (unsigned d = 0; d < DP_NET_DROP_COUNT; d++) {
		drops += ctr.drop[d];
		CU_ASSERT_PTR_NOT_NULL(dp_net_drop_name((enum dp_net_drop)d));
		CU_ASSERT_STRING_NOT_EQUAL(dp_net_drop_name((enum dp_net_drop)d), "?");
		if (d != DP_NET_DROP_NONE)
			CU_ASSERT(ctr.drop[d] > 0); /* every reason was exercised above */
	}
	CU_ASSERT_EQUAL(ctr.drop[DP_NET_DROP_NONE], 0);
	CU_ASSERT_EQUAL(drops, ctr.kind[DP_NET_DROP]);
	CU_ASSERT(total > 0 && ctr.rx_bytes > 0);
	CU_ASSERT_STRING_EQUAL(dp_net_drop_name(DP_NET_DROP_COUNT), "?");
}

/* --- ARP cache --- */

static unsigned dropped;
static void *last_dropped;

static void on_drop(void *ctx, void *pkt)
{
	CU_ASSERT_PTR_EQUAL(ctx, &dropped);
	last_dropped = pkt;
	dropped++;
}

static const uint8_t mac_a[6] = {0x02, 0xaa, 0, 0, 0, 1};
static const uint8_t mac_b[6] = {0x02, 0xbb, 0, 0, 0, 2};

static void test_arp_cache_basic(void)
{
	struct dp_net_arp_cache *c;
	uint8_t mac[6];
	void *ready[DP_NET_ARP_QUEUE_MAX];

	CU_ASSERT_EQUAL(dp_net_arp_create(&c, 0, 1000, on_drop, &dropped), -EINVAL);
	CU_ASSERT_EQUAL(dp_net_arp_create(&c, 8, 0, on_drop, &dropped), -EINVAL);
	CU_ASSERT_EQUAL(dp_net_arp_create(&c, DP_NET_ARP_CAP_MAX + 1, 1, on_drop, &dropped),
			-EINVAL);
	CU_ASSERT_EQUAL_FATAL(dp_net_arp_create(&c, 8, 1000, on_drop, &dropped), 0);

	CU_ASSERT_EQUAL(dp_net_arp_lookup(c, peer.ip, 0, mac), -ENOENT);
	CU_ASSERT_EQUAL(dp_net_arp_insert(c, peer.ip, mac_a, 100, ready, 4), 0);
	CU_ASSERT_EQUAL(dp_net_arp_lookup(c, peer.ip, 100, mac), 0);
	CU_ASSERT_EQUAL(memcmp(mac, mac_a, 6), 0);
	CU_ASSERT_EQUAL(dp_net_arp_insert(c, peer.ip, mac_b, 500, ready, 4), 0); /* moved */
	CU_ASSERT_EQUAL(dp_net_arp_lookup(c, peer.ip, 1499, mac), 0);
	CU_ASSERT_EQUAL(memcmp(mac, mac_b, 6), 0);
	CU_ASSERT_EQUAL(dp_net_arp_lookup(c, peer.ip, 1500, mac), -ENOENT); /* ttl from 500 */
	CU_ASSERT_EQUAL(dp_net_arp_count(c), 0);
	CU_ASSERT_EQUAL(dp_net_arp_insert(c, 0, mac_a, 0, ready, 4), -EINVAL);
	CU_ASSERT_EQUAL(dp_net_arp_insert(c, 5, mac_bcast, 0, ready, 4), -EINVAL);

	/* Pending: packets wait, a request goes out at most every RETRY_MS. */
	int p[8];
	CU_ASSERT_EQUAL(dp_net_arp_queue(c, peer.ip, &p[0], 2000), 1);
	CU_ASSERT_EQUAL(dp_net_arp_lookup(c, peer.ip, 2000, mac), -EAGAIN);
	CU_ASSERT_EQUAL(dp_net_arp_queue(c, peer.ip, &p[1], 2001), 0);
	CU_ASSERT_EQUAL(dp_net_arp_queue(c, peer.ip, &p[2], 2000 + DP_NET_ARP_RETRY_MS), 1);
	CU_ASSERT_EQUAL(dp_net_arp_queue(c, peer.ip, &p[3], 2300), 0);
	CU_ASSERT_EQUAL(dp_net_arp_queue(c, peer.ip, &p[4], 2300), -ENOBUFS);
	CU_ASSERT_EQUAL(dp_net_arp_stats(c)->queue_full, 1);
	CU_ASSERT_EQUAL(dp_net_arp_insert(c, peer.ip, mac_a, 2400, ready, 4), 4);
	for (int i = 0; i < 4; i++)
		CU_ASSERT_PTR_EQUAL(ready[i], &p[i]); /* arrival order */
	CU_ASSERT_EQUAL(dp_net_arp_queue(c, peer.ip, &p[5], 2400), -EEXIST);
	CU_ASSERT_EQUAL(dropped, 0);

	/* A short @ready drops the rest through the callback. */
	CU_ASSERT_EQUAL(dp_net_arp_queue(c, me.ip, &p[0], 3000), 1);
	CU_ASSERT_EQUAL(dp_net_arp_queue(c, me.ip, &p[1], 3000), 0);
	CU_ASSERT_EQUAL(dp_net_arp_insert(c, me.ip, mac_b, 3000, ready, 1), 1);
	CU_ASSERT_EQUAL(dropped, 1);
	CU_ASSERT_PTR_EQUAL(last_dropped, &p[1]);

	/* An unanswered request gives up after PENDING_MS; its packets drop. */
	CU_ASSERT_EQUAL(dp_net_arp_queue(c, IP4(10, 0, 0, 9), &p[6], 4000), 1);
	CU_ASSERT_EQUAL(dp_net_arp_queue(c, IP4(10, 0, 0, 9), &p[7], 4001), 0);
	CU_ASSERT_EQUAL(dp_net_arp_expire(c, 4000 + DP_NET_ARP_PENDING_MS - 1), 2); /* resolved */
	CU_ASSERT_EQUAL(dropped, 1);
	CU_ASSERT_EQUAL(dp_net_arp_lookup(c, IP4(10, 0, 0, 9), 4999, mac), -EAGAIN);
	CU_ASSERT_EQUAL(dp_net_arp_expire(c, 4000 + DP_NET_ARP_PENDING_MS), 1);
	CU_ASSERT_EQUAL(dropped, 3);
	CU_ASSERT_EQUAL(dp_net_arp_count(c), 0);

	/* destroy hands queued packets to the callback too. */
	CU_ASSERT_EQUAL(dp_net_arp_queue(c, IP4(10, 0, 0, 9), &p[6], 9000), 1);
	dp_net_arp_destroy(c);
	CU_ASSERT_EQUAL(dropped, 4);
	dp_net_arp_destroy(NULL);
}

static void test_arp_cache_eviction(void)
{
	struct dp_net_arp_cache *c;
	uint8_t mac[6];

	CU_ASSERT_EQUAL_FATAL(dp_net_arp_create(&c, 4, 10000, on_drop, &dropped), 0);
	for (uint32_t i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(dp_net_arp_insert(c, IP4(10, 0, 1, i + 1), mac_a, 100 + i, NULL, 0),
				0);
	CU_ASSERT_EQUAL(dp_net_arp_insert(c, IP4(10, 0, 1, 1), mac_b, 200, NULL, 0),
			0); /* refresh */
	CU_ASSERT_EQUAL(dp_net_arp_insert(c, IP4(10, 0, 1, 9), mac_a, 300, NULL, 0), 0);
	CU_ASSERT_EQUAL(dp_net_arp_count(c), 4);
	CU_ASSERT_EQUAL(dp_net_arp_stats(c)->evictions, 1);
	/* The oldest (.2, learnt at 101) went; the refreshed .1 stayed. */
	CU_ASSERT_EQUAL(dp_net_arp_lookup(c, IP4(10, 0, 1, 2), 300, mac), -ENOENT);
	CU_ASSERT_EQUAL(dp_net_arp_lookup(c, IP4(10, 0, 1, 1), 300, mac), 0);
	CU_ASSERT_EQUAL(memcmp(mac, mac_b, 6), 0);
	CU_ASSERT_EQUAL(dp_net_arp_lookup(c, IP4(10, 0, 1, 3), 300, mac), 0);
	CU_ASSERT_EQUAL(dp_net_arp_lookup(c, IP4(10, 0, 1, 4), 300, mac), 0);
	CU_ASSERT_EQUAL(dp_net_arp_lookup(c, IP4(10, 0, 1, 9), 300, mac), 0);
	dp_net_arp_destroy(c);
}

/* Random inserts, lookups and expiries against a plain array. Every time
 * stamp is distinct, so "earliest deadline" names one victim. 200 IPs
 * over 16 entries keep the table full (evictions) while idle spells of the
 * fake clock let entries age out (expiry); a half-full table of 32 slots gives probe runs,
 * wrap-around and backward shifts. */
#define MODEL_CAP 16u
#define MODEL_IPS 200u
#define MODEL_TTL 500u

static void test_arp_cache_model(void)
{
	struct dp_net_arp_cache *c;
	uint64_t stamp[MODEL_IPS + 1] = {0}; /* in the table since; 0 = not in it */
	uint8_t macv[MODEL_IPS + 1] = {0};
	uint64_t now = 1, seed = 0x9e3779b97f4a7c15ull;
	unsigned in_table = 0;
	uint8_t mac[6];

	CU_ASSERT_EQUAL_FATAL(dp_net_arp_create(&c, MODEL_CAP, MODEL_TTL, on_drop, &dropped), 0);
	for (int step = 0; step < 200000; step++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		uint32_t r = (uint32_t)(seed >> 33);
		now += (r >> 28) == 0 ? 100 : 1; /* idle spells let entries age out */
		uint32_t ip = 1 + r % MODEL_IPS;
		unsigned op = (r >> 8) % 16;
		if (op < 7) { /* insert: refresh in place, else evict the oldest when full */
			uint8_t m[6] = {0x02, 0, 0, 0, 0, (uint8_t)(r >> 16)};
			if (!stamp[ip] && in_table == MODEL_CAP) {
				uint32_t victim = 0;
				for (uint32_t k = 1; k <= MODEL_IPS; k++)
					if (stamp[k] && (!victim || stamp[k] < stamp[victim]))
						victim = k;
				stamp[victim] = 0;
				in_table--;
			}
			CU_ASSERT_EQUAL(dp_net_arp_insert(c, ip, m, now, NULL, 0), 0);
			in_table += stamp[ip] == 0;
			stamp[ip] = now;
			macv[ip] = m[5];
		} else if (op < 15) { /* lookup: an expired entry is removed */
			bool live = stamp[ip] && now < stamp[ip] + MODEL_TTL;
			int rc = dp_net_arp_lookup(c, ip, now, mac);
			CU_ASSERT_EQUAL(rc, live ? 0 : -ENOENT);
			if (rc == 0)
				CU_ASSERT_EQUAL(mac[5], macv[ip]);
			if (stamp[ip] && !live) {
				stamp[ip] = 0;
				in_table--;
			}
		} else {
			unsigned gone = 0;
			for (uint32_t k = 1; k <= MODEL_IPS; k++)
				if (stamp[k] && now >= stamp[k] + MODEL_TTL) {
					stamp[k] = 0;
					gone++;
				}
			CU_ASSERT_EQUAL(dp_net_arp_expire(c, now), gone);
			in_table -= gone;
		}
		CU_ASSERT_EQUAL(dp_net_arp_count(c), in_table);
		if (CU_get_number_of_failures() > 0)
			break;
	}
	const struct dp_net_arp_stats *st = dp_net_arp_stats(c);
	printf("(%llu evictions, %llu expired, %llu hits, %llu misses) ",
	       (unsigned long long)st->evictions, (unsigned long long)st->expired,
	       (unsigned long long)st->hits, (unsigned long long)st->misses);
	CU_ASSERT(st->evictions > 1000 && st->expired > 1000 && st->hits > 1000);
	dp_net_arp_destroy(c);
}

static CU_TestInfo csum_tests[] = {
    {"csum_rfc1071", test_csum_rfc1071},
    {"csum_incremental", test_csum_incremental},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo parse_tests[] = {
    {"udp_handmade", test_udp_handmade},
    {"udp_roundtrip", test_udp_roundtrip},
    {"udp_payload_in_place", test_udp_payload_in_place},
    {"ip_options_skipped", test_ip_options_skipped},
    {"arp_roundtrip", test_arp_roundtrip},
    {"build_bounds", test_build_bounds},
    {"drop_runt_and_truncated", test_drop_runt_and_truncated},
    {"drop_ip_header", test_drop_ip_header},
    {"drop_fragments", test_drop_fragments},
    {"drop_udp", test_drop_udp},
    {"addressing", test_addressing},
    {"vlan", test_vlan},
    {"arp_malformed", test_arp_malformed},
    {"counters_and_names", test_counters_and_names}, /* last: sums the above */
    CU_TEST_INFO_NULL,
};

static CU_TestInfo arp_cache_tests[] = {
    {"arp_cache_basic", test_arp_cache_basic},
    {"arp_cache_eviction", test_arp_cache_eviction},
    {"arp_cache_model", test_arp_cache_model},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"csum", NULL, NULL, NULL, NULL, csum_tests},
    {"parse", NULL, NULL, NULL, NULL, parse_tests},
    {"arp_cache", NULL, NULL, NULL, NULL, arp_cache_tests},
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	return tn_test_main(argc, argv, suites);
}
