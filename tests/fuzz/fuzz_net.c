/* tests/fuzz/fuzz_net.c: libFuzzer target for the dataplane network layer
 * (dataplane/dp_net.c, included so the fuzzer instruments it).
 *
 * The first input byte picks a mode; the rest is the frame.
 *   bit 0      the port verified checksums (cfg.rx_csum_verified)
 *   bit 1      drive the ARP cache with the bytes instead of parsing
 * Parse: whatever the bytes, the result is consistent (a drop reason only for
 * DROP, the payload inside the frame). A UDP_FOR_US frame is rebuilt with
 * dp_net_build_udp() (checksum computed) and parsed again to the same fields;
 * an ARP_REQ_FOR_US gets a reply built that the requester parses as a reply
 * to itself. The fuzzer finds our MAC/IP/port in the dictionary-free input by
 * comparison tracing (-use_cmp, on by default).
 */
#include <stdlib.h>
#include <string.h>

#include "common/tn_assert.h"
#include "dataplane/dp_net.c"

#define FUZZ_ARP_CAP 8u
#define FUZZ_ARP_TTL_MS 100u

static uint8_t out[DP_NET_ETH_HDR_LEN + DP_NET_VLAN_TAG_LEN + 0x10000];
static struct dp_net_counters ctr;

static void same_udp(const struct dp_net_pkt *a, const struct dp_net_pkt *b)
{
	TN_ASSERT(b->kind == DP_NET_UDP_FOR_US);
	TN_ASSERT(memcmp(a->eth_dst, b->eth_dst, 6) == 0 && memcmp(a->eth_src, b->eth_src, 6) == 0);
	TN_ASSERT(a->has_vlan == b->has_vlan && a->vlan_tci == b->vlan_tci);
	TN_ASSERT(a->udp.src_ip == b->udp.src_ip && a->udp.dst_ip == b->udp.dst_ip);
	TN_ASSERT(a->udp.src_port == b->udp.src_port && a->udp.dst_port == b->udp.dst_port);
	TN_ASSERT(a->udp.ttl == b->udp.ttl);
	TN_ASSERT(a->udp.payload_len == b->udp.payload_len);
	TN_ASSERT(a->udp.payload_len == 0 ||
		  memcmp(a->udp.payload, b->udp.payload, a->udp.payload_len) == 0);
}

static void rebuild_udp(const struct dp_net_cfg *me, const struct dp_net_pkt *p)
{
	struct dp_net_l2 l2 = {.has_vlan = p->has_vlan, .vlan_tci = p->vlan_tci};
	struct dp_net_pkt q;

	memcpy(l2.src, p->eth_src, 6);
	memcpy(l2.dst, p->eth_dst, 6);
	int n = dp_net_build_udp(out, sizeof(out), &l2, &p->udp, 7, p->udp.payload,
				 p->udp.payload_len, true);
	TN_ASSERT(n > 0 && (size_t)n <= sizeof(out));
	TN_ASSERT(dp_net_parse(out, (size_t)n, me, &q) == DP_NET_UDP_FOR_US);
	same_udp(p, &q);
	/* Without a UDP checksum the same fields come back too. */
	n = dp_net_build_udp(out, sizeof(out), &l2, &p->udp, 7, p->udp.payload, p->udp.payload_len,
			     false);
	TN_ASSERT(n > 0 && dp_net_parse(out, (size_t)n, me, &q) == DP_NET_UDP_FOR_US);
	same_udp(p, &q);
}

static void reply_arp(const struct dp_net_cfg *me, const struct dp_net_pkt *p)
{
	struct dp_net_cfg asker = {.ip = p->arp.spa};
	struct dp_net_pkt q;

	memcpy(asker.mac, p->arp.sha, 6);
	int n = dp_net_build_arp_reply(out, sizeof(out), me, p);
	TN_ASSERT(n == (int)DP_NET_ETH_MIN_LEN);
	TN_ASSERT(dp_net_parse(out, (size_t)n, &asker, &q) == DP_NET_ARP_REPLY);
	TN_ASSERT(q.arp.op == 2 && q.arp.spa == me->ip && q.arp.tpa == p->arp.spa);
	TN_ASSERT(memcmp(q.arp.sha, me->mac, 6) == 0 && memcmp(q.arp.tha, p->arp.sha, 6) == 0);
	TN_ASSERT(q.has_vlan == p->has_vlan && q.vlan_tci == p->vlan_tci);
}

static void fuzz_parse(const uint8_t *f, size_t len, bool verified)
{
	const struct dp_net_cfg me = {
	    .mac = {0x02, 0, 0, 0, 0, 0x01},
	    .ip = 0x0a000001,
	    .udp_ports = {2888, 3888},
	    .udp_port_count = 2,
	    .rx_csum_verified = verified,
	};
	struct dp_net_pkt p;
	int k = dp_net_parse(f, len, &me, &p);

	TN_ASSERT(k >= 0 && k < DP_NET_KIND_COUNT && k == (int)p.kind);
	TN_ASSERT((p.kind == DP_NET_DROP) == (p.drop != DP_NET_DROP_NONE));
	dp_net_count(&ctr, &p, len);
	if (k == DP_NET_UDP_FOR_US) {
		TN_ASSERT(p.udp.payload >= f && p.udp.payload + p.udp.payload_len <= f + len);
		rebuild_udp(&me, &p);
	} else if (k == DP_NET_ARP_REQ_FOR_US) {
		reply_arp(&me, &p);
	}
}

static void drop_count(void *ctx, void *pkt)
{
	TN_ASSERT(pkt != NULL);
	(*(uint64_t *)ctx)++;
}

/* ARP cache ops, 4 bytes each: op (low 2 bits; top 2: ready slots), ip,
 * mac byte, clock step. Every queued packet must come back exactly once:
 * through @ready when its IP resolves, or through the drop callback. */
static void fuzz_arp_cache(const uint8_t *d, size_t len)
{
	static int pkts[64];
	struct dp_net_arp_cache *c;
	void *ready[DP_NET_ARP_QUEUE_MAX];
	uint64_t now = 0, dropped = 0, queued = 0, returned = 0;
	uint8_t mac[6];

	TN_ASSERT(dp_net_arp_create(&c, FUZZ_ARP_CAP, FUZZ_ARP_TTL_MS, drop_count, &dropped) == 0);
	for (size_t i = 0; i + 4 <= len; i += 4) {
		uint32_t ip = d[i + 1] & 0x1fu; /* 0 is invalid for insert */
		uint8_t m[6] = {0x02, 0, 0, 0, 0, d[i + 2]};
		unsigned cap = d[i] >> 6;
		now += d[i + 3] & 0x3fu;
		switch (d[i] & 3u) {
		case 0: {
			int n = dp_net_arp_insert(c, ip, m, now, ready, cap);
			TN_ASSERT(ip == 0 ? n == -EINVAL : (n >= 0 && n <= (int)cap));
			returned += n > 0 ? (uint64_t)n : 0;
			break;
		}
		case 1: {
			int rc = dp_net_arp_lookup(c, ip, now, mac);
			TN_ASSERT(rc == 0 || rc == -ENOENT || rc == -EAGAIN);
			break;
		}
		case 2: {
			int rc = dp_net_arp_queue(c, ip, &pkts[i / 4 % 64], now);
			TN_ASSERT(rc == 0 || rc == 1 || rc == -ENOBUFS || rc == -EEXIST);
			queued += rc >= 0;
			break;
		}
		default:
			dp_net_arp_expire(c, now);
			break;
		}
		TN_ASSERT(dp_net_arp_count(c) <= FUZZ_ARP_CAP);
		TN_ASSERT(returned + dropped <= queued);
	}
	dp_net_arp_destroy(c);
	TN_ASSERT(returned + dropped == queued);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 2u)
		fuzz_arp_cache(data + 1, size - 1);
	else
		fuzz_parse(data + 1, size - 1, (data[0] & 1u) != 0);
	return 0;
}
