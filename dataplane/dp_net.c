/* dataplane/dp_net.c: Ethernet/ARP/IPv4/UDP for the kernel-bypass port loop.
 *
 * The parser checks each header's fixed length against what is left of the
 * frame before it loads a single field (one bound check, then fixed offsets),
 * so no path reads past @len whatever the bytes say. Checks run in the order
 * the kernel's own input path runs them (lengths, checksum, then addressing),
 * so a corrupted header is counted as corrupt rather than as misaddressed.
 * See dp_net.h for what is accepted and the frame layout.
 */
#include "dataplane/dp_net.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/tn_assert.h"
#include "common/tn_rd.h"

#define ARP_HTYPE_ETH 1u
#define ARP_OP_REQUEST 1u
#define ARP_OP_REPLY 2u
#define IP4_FLAG_DF 0x4000u
#define IP4_FRAG_MASK 0x3fffu /* MF | fragment offset */
#define IP4_BROADCAST 0xffffffffu

TN_STATIC_ASSERT(DP_NET_UDP_PAYLOAD_MAX + DP_NET_IP4_HDR_LEN + DP_NET_UDP_HDR_LEN == 0xffffu,
		 "the largest datagram fills the 16-bit IPv4 total length");
TN_STATIC_ASSERT(DP_NET_ARP_QUEUE_MAX <= UINT8_MAX, "slot.qlen is a uint8_t");

static const uint8_t mac_bcast[DP_NET_MAC_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static inline uint16_t load_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void store_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline bool mac_is_multicast(const uint8_t *m)
{
	return (m[0] & 1u) != 0; /* includes broadcast */
}

static inline bool ip_is_multicast(uint32_t ip)
{
	return (ip >> 28) == 0xeu; /* 224.0.0.0/4 */
}

/* --- checksums --- */

uint16_t dp_net_csum_partial(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;
	uint64_t acc = sum; /* 64 bits: no carry is lost before the fold */
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		acc += load_be16(p + i);
	if (len & 1u)
		acc += (uint32_t)p[len - 1] << 8;
	while (acc >> 16)
		acc = (acc & 0xffffu) + (acc >> 16);
	return (uint16_t)acc;
}

uint16_t dp_net_csum(const void *data, size_t len)
{
	return (uint16_t)~dp_net_csum_partial(data, len, 0);
}

uint16_t dp_net_csum_update16(uint16_t hc, uint16_t old_v, uint16_t new_v)
{
	/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') */
	uint32_t s = (uint32_t)(uint16_t)~hc + (uint16_t)~old_v + new_v;
	while (s >> 16)
		s = (s & 0xffffu) + (s >> 16);
	return (uint16_t)~s;
}

static uint32_t pseudo_sum(uint32_t src, uint32_t dst, uint16_t udp_len)
{
	return (src >> 16) + (src & 0xffffu) + (dst >> 16) + (dst & 0xffffu) + DP_NET_IPPROTO_UDP +
	       udp_len;
}

/* --- parser --- */

static int set_kind(struct dp_net_pkt *out, enum dp_net_kind k)
{
	out->kind = k;
	return (int)k;
}

static int drop(struct dp_net_pkt *out, enum dp_net_drop why)
{
	out->drop = why;
	return set_kind(out, DP_NET_DROP);
}

static int parse_arp(struct tn_rd *r, const struct dp_net_cfg *me, struct dp_net_pkt *out)
{
	struct dp_net_arp *a = &out->arp;
	const uint8_t *p = r->p;

	if (tn_rd_left(r) < DP_NET_ARP_LEN)
		return drop(out, DP_NET_DROP_ARP_SHORT);
	if (load_be16(p) != ARP_HTYPE_ETH || load_be16(p + 2) != DP_NET_ETHERTYPE_IP4 ||
	    p[4] != DP_NET_MAC_LEN || p[5] != 4)
		return drop(out, DP_NET_DROP_ARP_FORMAT);
	a->op = load_be16(p + 6);
	if (a->op != ARP_OP_REQUEST && a->op != ARP_OP_REPLY)
		return drop(out, DP_NET_DROP_ARP_OP);
	memcpy(a->sha, p + 8, DP_NET_MAC_LEN);
	a->spa = tn_load_be32(p + 14);
	memcpy(a->tha, p + 18, DP_NET_MAC_LEN);
	a->tpa = tn_load_be32(p + 24);
	/* A cached broadcast MAC would turn unicast into a flood. */
	if (mac_is_multicast(a->sha) || a->spa == IP4_BROADCAST || ip_is_multicast(a->spa))
		return drop(out, DP_NET_DROP_ARP_SENDER);
	if (a->op == ARP_OP_REQUEST)
		return set_kind(out, a->tpa == me->ip ? DP_NET_ARP_REQ_FOR_US : DP_NET_NOT_OURS);
	if (a->tpa == me->ip || (a->spa == a->tpa && a->spa != 0))
		return set_kind(out, DP_NET_ARP_REPLY);
	return set_kind(out, DP_NET_NOT_OURS);
}

static bool port_is_ours(const struct dp_net_cfg *me, uint16_t port)
{
	uint32_t n = TN_MIN(me->udp_port_count, DP_NET_PORTS_MAX);
	for (uint32_t i = 0; i < n; i++)
		if (me->udp_ports[i] == port)
			return true;
	return false;
}

/* @u: the UDP header and body, exactly @ulen_ip bytes (the IP payload). */
static int parse_udp(const uint8_t *u, size_t ulen_ip, uint32_t src, uint32_t dst, uint8_t ttl,
		     const struct dp_net_cfg *me, struct dp_net_pkt *out)
{
	if (ulen_ip < DP_NET_UDP_HDR_LEN)
		return drop(out, DP_NET_DROP_UDP_SHORT);
	uint16_t ulen = load_be16(u + 4);
	if (ulen < DP_NET_UDP_HDR_LEN || ulen != ulen_ip)
		return drop(out, DP_NET_DROP_UDP_LEN);
	uint16_t dport = load_be16(u + 2);
	if (!port_is_ours(me, dport))
		return set_kind(out, DP_NET_NOT_OURS);
	/* Zero: the sender computed none (RFC 768). Valid data sums to 0xffff. */
	if (!me->rx_csum_verified && load_be16(u + 6) != 0 &&
	    dp_net_csum_partial(u, ulen, pseudo_sum(src, dst, ulen)) != 0xffffu)
		return drop(out, DP_NET_DROP_UDP_CSUM);
	out->udp = (struct dp_net_udp){
	    .src_ip = src,
	    .dst_ip = dst,
	    .src_port = load_be16(u),
	    .dst_port = dport,
	    .ttl = ttl,
	    .payload = u + DP_NET_UDP_HDR_LEN,
	    .payload_len = ulen - DP_NET_UDP_HDR_LEN,
	};
	return set_kind(out, DP_NET_UDP_FOR_US);
}

static int parse_ip4(struct tn_rd *r, const struct dp_net_cfg *me, bool eth_bcast,
		     struct dp_net_pkt *out)
{
	const uint8_t *p = r->p;
	size_t left = tn_rd_left(r);

	if (left < DP_NET_IP4_HDR_LEN)
		return drop(out, DP_NET_DROP_IP_SHORT);
	if (p[0] >> 4 != 4)
		return drop(out, DP_NET_DROP_IP_VERSION);
	size_t ihl = (size_t)(p[0] & 0xfu) * 4;
	if (ihl < DP_NET_IP4_HDR_LEN || ihl > left)
		return drop(out, DP_NET_DROP_IP_IHL);
	size_t tot = load_be16(p + 2);
	if (tot < ihl || tot > left)
		return drop(out, DP_NET_DROP_IP_LEN);
	if (!me->rx_csum_verified && dp_net_csum_partial(p, ihl, 0) != 0xffffu)
		return drop(out, DP_NET_DROP_IP_CSUM);
	if (load_be16(p + 6) & IP4_FRAG_MASK)
		return drop(out, DP_NET_DROP_IP_FRAG);
	uint8_t ttl = p[8];
	if (ttl == 0)
		return drop(out, DP_NET_DROP_IP_TTL);
	uint32_t src = tn_load_be32(p + 12), dst = tn_load_be32(p + 16);
	if (dst != me->ip) {
		/* Broadcast and multicast may matter to the kernel (DHCP, IGMP);
		 * unicast to another IP on our own MAC is misrouted: we do not forward. */
		if (dst == IP4_BROADCAST || ip_is_multicast(dst) || eth_bcast)
			return set_kind(out, DP_NET_NOT_OURS);
		return drop(out, DP_NET_DROP_IP_DST);
	}
	if (src == 0 || src == IP4_BROADCAST || ip_is_multicast(src) || src == me->ip)
		return drop(out, DP_NET_DROP_IP_SRC);
	if (p[9] != DP_NET_IPPROTO_UDP)
		return set_kind(out, DP_NET_NOT_OURS); /* TCP, ICMP: the kernel's */
	return parse_udp(p + ihl, tot - ihl, src, dst, ttl, me, out);
}

int dp_net_parse(const uint8_t *frame, size_t len, const struct dp_net_cfg *me,
		 struct dp_net_pkt *out)
{
	struct tn_rd r = tn_rd_init(frame, len);

	TN_ASSERT_HOT(me != NULL && out != NULL);
	TN_ASSERT_HOT(frame != NULL || len == 0);
	memset(out, 0, sizeof(*out));
	if (len < DP_NET_ETH_HDR_LEN)
		return drop(out, DP_NET_DROP_RUNT);
	memcpy(out->eth_dst, frame, DP_NET_MAC_LEN);
	memcpy(out->eth_src, frame + 6, DP_NET_MAC_LEN);
	out->ethertype = load_be16(frame + 12);
	r.p += DP_NET_ETH_HDR_LEN;
	if (out->ethertype == DP_NET_ETHERTYPE_VLAN) {
		if (tn_rd_left(&r) < DP_NET_VLAN_TAG_LEN)
			return drop(out, DP_NET_DROP_RUNT);
		out->has_vlan = true;
		out->vlan_tci = load_be16(r.p);
		out->ethertype = load_be16(r.p + 2);
		r.p += DP_NET_VLAN_TAG_LEN;
	}
	if (out->ethertype == DP_NET_ETHERTYPE_VLAN || out->ethertype == DP_NET_ETHERTYPE_QINQ)
		return drop(out, DP_NET_DROP_VLAN);

	bool bcast = memcmp(out->eth_dst, mac_bcast, DP_NET_MAC_LEN) == 0;
	if (!bcast && memcmp(out->eth_dst, me->mac, DP_NET_MAC_LEN) != 0) {
		if (mac_is_multicast(out->eth_dst))
			return set_kind(out, DP_NET_NOT_OURS); /* IPv6 ND, LLDP, ... */
		return drop(out, DP_NET_DROP_ETH_DST);
	}
	if (mac_is_multicast(out->eth_src))
		return drop(out, DP_NET_DROP_ETH_SRC);
	if (out->ethertype == DP_NET_ETHERTYPE_ARP)
		return parse_arp(&r, me, out);
	if (out->ethertype == DP_NET_ETHERTYPE_IP4)
		return parse_ip4(&r, me, bcast, out);
	return set_kind(out, DP_NET_NOT_OURS);
}

void dp_net_count(struct dp_net_counters *c, const struct dp_net_pkt *pkt, size_t len)
{
	TN_ASSERT_HOT((unsigned)pkt->kind < DP_NET_KIND_COUNT);
	TN_ASSERT_HOT((unsigned)pkt->drop < DP_NET_DROP_COUNT);
	c->kind[pkt->kind]++;
	if (pkt->kind == DP_NET_DROP)
		c->drop[pkt->drop]++;
	c->rx_bytes += len;
}

const char *dp_net_kind_name(enum dp_net_kind k)
{
	static const char *const names[DP_NET_KIND_COUNT] = {
	    [DP_NET_DROP] = "drop",           [DP_NET_ARP_REQ_FOR_US] = "arp_req",
	    [DP_NET_ARP_REPLY] = "arp_reply", [DP_NET_UDP_FOR_US] = "udp",
	    [DP_NET_NOT_OURS] = "not_ours",
	};
	return (unsigned)k < DP_NET_KIND_COUNT ? names[k] : "?";
}

const char *dp_net_drop_name(enum dp_net_drop d)
{
	static const char *const names[DP_NET_DROP_COUNT] = {
	    [DP_NET_DROP_NONE] = "none",
	    [DP_NET_DROP_RUNT] = "runt",
	    [DP_NET_DROP_ETH_DST] = "eth_dst",
	    [DP_NET_DROP_ETH_SRC] = "eth_src",
	    [DP_NET_DROP_VLAN] = "vlan",
	    [DP_NET_DROP_ARP_SHORT] = "arp_short",
	    [DP_NET_DROP_ARP_FORMAT] = "arp_format",
	    [DP_NET_DROP_ARP_OP] = "arp_op",
	    [DP_NET_DROP_ARP_SENDER] = "arp_sender",
	    [DP_NET_DROP_IP_SHORT] = "ip_short",
	    [DP_NET_DROP_IP_VERSION] = "ip_version",
	    [DP_NET_DROP_IP_IHL] = "ip_ihl",
	    [DP_NET_DROP_IP_LEN] = "ip_len",
	    [DP_NET_DROP_IP_CSUM] = "ip_csum",
	    [DP_NET_DROP_IP_FRAG] = "ip_frag",
	    [DP_NET_DROP_IP_TTL] = "ip_ttl",
	    [DP_NET_DROP_IP_SRC] = "ip_src",
	    [DP_NET_DROP_IP_DST] = "ip_dst",
	    [DP_NET_DROP_UDP_SHORT] = "udp_short",
	    [DP_NET_DROP_UDP_LEN] = "udp_len",
	    [DP_NET_DROP_UDP_CSUM] = "udp_csum",
	};
	return (unsigned)d < DP_NET_DROP_COUNT ? names[d] : "?";
}

/* --- builders --- */

/* Ethernet header (+ tag) at @buf; returns its length. @buf has room. */
static size_t put_eth(uint8_t *buf, const uint8_t *dst, const uint8_t *src, bool has_vlan,
		      uint16_t tci, uint16_t ethertype)
{
	size_t off = 12;

	memcpy(buf, dst, DP_NET_MAC_LEN);
	memcpy(buf + 6, src, DP_NET_MAC_LEN);
	if (has_vlan) {
		store_be16(buf + off, DP_NET_ETHERTYPE_VLAN);
		store_be16(buf + off + 2, tci);
		off += DP_NET_VLAN_TAG_LEN;
	}
	store_be16(buf + off, ethertype);
	return off + 2;
}

static size_t l2_len(bool has_vlan)
{
	return DP_NET_ETH_HDR_LEN + (has_vlan ? DP_NET_VLAN_TAG_LEN : 0);
}

int dp_net_build_udp(uint8_t *buf, size_t cap, const struct dp_net_l2 *l2,
		     const struct dp_net_udp *u, uint16_t ip_id, const void *payload,
		     size_t payload_len, bool udp_csum)
{
	TN_ASSERT_HOT(buf != NULL && l2 != NULL && u != NULL);
	TN_ASSERT_HOT(payload != NULL || payload_len == 0);
	if (payload_len > DP_NET_UDP_PAYLOAD_MAX)
		return -EMSGSIZE;
	size_t hl = l2_len(l2->has_vlan);
	size_t need = hl + DP_NET_IP4_HDR_LEN + DP_NET_UDP_HDR_LEN + payload_len;
	size_t flen = TN_MAX(need, (size_t)DP_NET_ETH_MIN_LEN);
	if (cap < flen)
		return -ENOBUFS;

	uint8_t *ip = buf + hl, *udp = ip + DP_NET_IP4_HDR_LEN;
	uint16_t ulen = (uint16_t)(DP_NET_UDP_HDR_LEN + payload_len);
	/* memmove first: the caller may have written the payload in place. */
	if (payload_len)
		memmove(udp + DP_NET_UDP_HDR_LEN, payload, payload_len);
	memset(buf + need, 0, flen - need);
	put_eth(buf, l2->dst, l2->src, l2->has_vlan, l2->vlan_tci, DP_NET_ETHERTYPE_IP4);

	ip[0] = 0x45; /* version 4, IHL 5 */
	ip[1] = 0;
	store_be16(ip + 2, (uint16_t)(DP_NET_IP4_HDR_LEN + ulen));
	store_be16(ip + 4, ip_id);
	store_be16(ip + 6, IP4_FLAG_DF);
	ip[8] = u->ttl ? u->ttl : DP_NET_TTL_DEFAULT;
	ip[9] = DP_NET_IPPROTO_UDP;
	store_be16(ip + 10, 0);
	tn_store_be32(ip + 12, u->src_ip);
	tn_store_be32(ip + 16, u->dst_ip);
	store_be16(ip + 10, dp_net_csum(ip, DP_NET_IP4_HDR_LEN));

	store_be16(udp, u->src_port);
	store_be16(udp + 2, u->dst_port);
	store_be16(udp + 4, ulen);
	store_be16(udp + 6, 0);
	if (udp_csum) {
		uint16_t c = (uint16_t)~dp_net_csum_partial(udp, ulen,
							    pseudo_sum(u->src_ip, u->dst_ip, ulen));
		store_be16(udp + 6, c ? c : 0xffffu); /* 0 would mean "none" */
	}
	TN_ASSERT_HOT(dp_net_csum_partial(ip, DP_NET_IP4_HDR_LEN, 0) == 0xffffu);
	return (int)flen;
}

static int build_arp(uint8_t *buf, size_t cap, const uint8_t *eth_dst, bool has_vlan, uint16_t tci,
		     uint16_t op, const uint8_t *sha, uint32_t spa, const uint8_t *tha,
		     uint32_t tpa)
{
	size_t hl = l2_len(has_vlan);
	size_t need = hl + DP_NET_ARP_LEN;
	size_t flen = TN_MAX(need, (size_t)DP_NET_ETH_MIN_LEN);

	if (cap < flen)
		return -ENOBUFS;
	put_eth(buf, eth_dst, sha, has_vlan, tci, DP_NET_ETHERTYPE_ARP);
	uint8_t *a = buf + hl;
	store_be16(a, ARP_HTYPE_ETH);
	store_be16(a + 2, DP_NET_ETHERTYPE_IP4);
	a[4] = DP_NET_MAC_LEN;
	a[5] = 4;
	store_be16(a + 6, op);
	memcpy(a + 8, sha, DP_NET_MAC_LEN);
	tn_store_be32(a + 14, spa);
	memcpy(a + 18, tha, DP_NET_MAC_LEN);
	tn_store_be32(a + 24, tpa);
	memset(buf + need, 0, flen - need);
	return (int)flen;
}

int dp_net_build_arp_reply(uint8_t *buf, size_t cap, const struct dp_net_cfg *me,
			   const struct dp_net_pkt *req)
{
	TN_ASSERT(req->kind == DP_NET_ARP_REQ_FOR_US); /* our caller's bug otherwise */
	TN_ASSERT(req->arp.tpa == me->ip);
	return build_arp(buf, cap, req->arp.sha, req->has_vlan, req->vlan_tci, ARP_OP_REPLY,
			 me->mac, me->ip, req->arp.sha, req->arp.spa);
}

int dp_net_build_arp_request(uint8_t *buf, size_t cap, const struct dp_net_cfg *me,
			     uint32_t target_ip, bool has_vlan, uint16_t vlan_tci)
{
	static const uint8_t zero[DP_NET_MAC_LEN];

	TN_ASSERT_HOT(me != NULL && buf != NULL);
	TN_ASSERT_HOT(target_ip != 0);
	return build_arp(buf, cap, mac_bcast, has_vlan, vlan_tci, ARP_OP_REQUEST, me->mac, me->ip,
			 zero, target_ip);
}

/* --- ARP cache --- */

enum { SLOT_FREE = 0, SLOT_PENDING, SLOT_RESOLVED };

struct slot {
	uint32_t ip;
	uint8_t state;
	uint8_t qlen;
	uint8_t mac[DP_NET_MAC_LEN];
	uint64_t stamp_ms; /* learnt (RESOLVED) or first queued (PENDING) */
	uint64_t req_ms;   /* PENDING: last request sent */
	void *q[DP_NET_ARP_QUEUE_MAX];
};

struct dp_net_arp_cache {
	struct slot *slots;
	uint32_t mask; /* table size - 1; table size = 2 * cap rounded up */
	uint32_t cap, count;
	uint64_t ttl_ms;
	dp_net_arp_drop_cb drop_cb;
	void *ctx;
	struct dp_net_arp_stats st;
};

static uint32_t home(const struct dp_net_arp_cache *c, uint32_t ip)
{
	uint32_t h = ip; /* murmur3 finalizer: neighbours in a /24 spread out */
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h & c->mask;
}

static uint64_t deadline(const struct dp_net_arp_cache *c, const struct slot *s)
{
	return s->stamp_ms + (s->state == SLOT_RESOLVED ? c->ttl_ms : DP_NET_ARP_PENDING_MS);
}

/* Index of @ip's slot, or -1. Bounded: the table always has a free slot. */
static int64_t find(const struct dp_net_arp_cache *c, uint32_t ip)
{
	uint32_t i = home(c, ip);
	for (uint32_t n = 0; n <= c->mask; n++, i = (i + 1) & c->mask) {
		if (c->slots[i].state == SLOT_FREE)
			return -1;
		if (c->slots[i].ip == ip)
			return i;
	}
	return -1; /* UNTESTED: count <= cap < table size leaves a free slot */
}

static void drop_queue(struct dp_net_arp_cache *c, struct slot *s)
{
	TN_ASSERT(s->qlen <= DP_NET_ARP_QUEUE_MAX);
	for (unsigned k = 0; k < s->qlen; k++) {
		c->drop_cb(c->ctx, s->q[k]);
		c->st.dropped_pkts++;
	}
	s->qlen = 0;
}

/* Remove slot @i, then shift back later members of its probe run so no
 * lookup stops early at the new hole (linear probing without tombstones). */
static void slot_remove(struct dp_net_arp_cache *c, uint32_t i)
{
	uint32_t j = i;

	TN_ASSERT(c->slots[i].state != SLOT_FREE && c->count > 0);
	drop_queue(c, &c->slots[i]);
	c->slots[i].state = SLOT_FREE;
	c->count--;
	for (uint32_t n = 0; n < c->mask; n++) {
		j = (j + 1) & c->mask;
		if (c->slots[j].state == SLOT_FREE)
			return;
		uint32_t k = home(c, c->slots[j].ip);
		/* j stays if its home lies cyclically in (i, j]. */
		bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
		if (stays)
			continue;
		c->slots[i] = c->slots[j];
		c->slots[j].state = SLOT_FREE;
		c->slots[j].qlen = 0;
		i = j;
	}
}

/* Evict the entry with the earliest deadline: expired ones go first. */
static void evict_one(struct dp_net_arp_cache *c, uint64_t now_ms)
{
	uint32_t victim = 0;
	uint64_t best = UINT64_MAX;

	for (uint32_t i = 0; i <= c->mask; i++) {
		if (c->slots[i].state == SLOT_FREE)
			continue;
		uint64_t d = deadline(c, &c->slots[i]);
		if (d < best) {
			best = d;
			victim = i;
		}
	}
	TN_ASSERT(best != UINT64_MAX);
	if (best <= now_ms)
		c->st.expired++;
	else
		c->st.evictions++;
	slot_remove(c, victim);
}

/* A fresh slot for @ip (not present), evicting if the cache is full. */
static struct slot *slot_alloc(struct dp_net_arp_cache *c, uint32_t ip, uint64_t now_ms)
{
	if (c->count >= c->cap)
		evict_one(c, now_ms);
	TN_ASSERT(c->count < c->cap);
	uint32_t i = home(c, ip);
	for (uint32_t n = 0; n <= c->mask; n++, i = (i + 1) & c->mask) {
		struct slot *s = &c->slots[i];
		if (s->state != SLOT_FREE)
			continue;
		memset(s, 0, sizeof(*s));
		s->ip = ip;
		c->count++;
		return s;
	}
	TN_ASSERT(!"arp table has no free slot"); /* count < cap < table size */
	return NULL;
}

int dp_net_arp_create(struct dp_net_arp_cache **out, uint32_t cap, uint64_t ttl_ms,
		      dp_net_arp_drop_cb drop_cb, void *ctx)
{
	struct dp_net_arp_cache *c;
	uint32_t size = 2;

	*out = NULL;
	if (cap == 0 || cap > DP_NET_ARP_CAP_MAX || ttl_ms == 0 || drop_cb == NULL)
		return -EINVAL;
	while (size < 2 * cap)
		size <<= 1;
	c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->slots = calloc(size, sizeof(*c->slots));
	if (!c->slots)
		goto fail_free_cache;
	c->mask = size - 1;
	c->cap = cap;
	c->ttl_ms = ttl_ms;
	c->drop_cb = drop_cb;
	c->ctx = ctx;
	*out = c;
	return 0;
fail_free_cache:
	free(c);
fail:
	return -ENOMEM;
}

void dp_net_arp_destroy(struct dp_net_arp_cache *c)
{
	if (!c)
		return;
	for (uint32_t i = 0; i <= c->mask; i++)
		if (c->slots[i].state == SLOT_PENDING)
			drop_queue(c, &c->slots[i]);
	free(c->slots);
	free(c);
}

int dp_net_arp_lookup(struct dp_net_arp_cache *c, uint32_t ip, uint64_t now_ms,
		      uint8_t mac[DP_NET_MAC_LEN])
{
	int64_t i = find(c, ip);

	if (i >= 0 && now_ms >= deadline(c, &c->slots[i])) {
		c->st.expired++;
		slot_remove(c, (uint32_t)i);
		i = -1;
	}
	if (i < 0) {
		c->st.misses++;
		return -ENOENT;
	}
	struct slot *s = &c->slots[i];
	if (s->state == SLOT_PENDING)
		return -EAGAIN;
	TN_ASSERT_HOT(s->state == SLOT_RESOLVED);
	memcpy(mac, s->mac, DP_NET_MAC_LEN);
	c->st.hits++;
	return 0;
}

int dp_net_arp_insert(struct dp_net_arp_cache *c, uint32_t ip, const uint8_t mac[DP_NET_MAC_LEN],
		      uint64_t now_ms, void **ready, unsigned ready_cap)
{
	int64_t i = find(c, ip);
	struct slot *s;
	int n = 0;

	if (ip == 0 || mac_is_multicast(mac))
		return -EINVAL;
	if (i < 0) {
		s = slot_alloc(c, ip, now_ms);
		c->st.inserts++;
	} else {
		s = &c->slots[i];
		c->st.updates++;
	}
	if (s->state == SLOT_PENDING) {
		TN_ASSERT(s->qlen <= DP_NET_ARP_QUEUE_MAX);
		for (unsigned k = 0; k < s->qlen; k++) {
			if ((unsigned)n < ready_cap) {
				ready[n++] = s->q[k];
			} else {
				c->drop_cb(c->ctx, s->q[k]);
				c->st.dropped_pkts++;
			}
		}
		s->qlen = 0;
	}
	s->state = SLOT_RESOLVED;
	memcpy(s->mac, mac, DP_NET_MAC_LEN);
	s->stamp_ms = now_ms;
	return n;
}

int dp_net_arp_queue(struct dp_net_arp_cache *c, uint32_t ip, void *pkt, uint64_t now_ms)
{
	int64_t i = find(c, ip);
	struct slot *s;

	TN_ASSERT_HOT(pkt != NULL);
	if (i >= 0 && now_ms >= deadline(c, &c->slots[i])) {
		c->st.expired++;
		slot_remove(c, (uint32_t)i);
		i = -1;
	}
	if (i < 0) {
		s = slot_alloc(c, ip, now_ms);
		s->state = SLOT_PENDING;
		s->stamp_ms = now_ms;
		s->req_ms = now_ms;
		s->q[s->qlen++] = pkt;
		c->st.queued++;
		c->st.requests++;
		return 1;
	}
	s = &c->slots[i];
	if (s->state == SLOT_RESOLVED)
		return -EEXIST;
	if (s->qlen >= DP_NET_ARP_QUEUE_MAX) {
		c->st.queue_full++;
		return -ENOBUFS;
	}
	s->q[s->qlen++] = pkt;
	c->st.queued++;
	if (now_ms - s->req_ms < DP_NET_ARP_RETRY_MS)
		return 0;
	s->req_ms = now_ms;
	c->st.requests++;
	return 1;
}

unsigned dp_net_arp_expire(struct dp_net_arp_cache *c, uint64_t now_ms)
{
	unsigned removed = 0;
	uint32_t i = 0, steps = 0;

	/* A removal may shift a later entry into slot i: look at i again. Each
	 * step either advances i or removes an entry, so this ends. */
	while (i <= c->mask && steps++ <= 2 * (c->mask + 1)) {
		struct slot *s = &c->slots[i];
		if (s->state != SLOT_FREE && now_ms >= deadline(c, s)) {
			slot_remove(c, i);
			removed++;
			continue;
		}
		i++;
	}
	c->st.expired += removed;
	return removed;
}

uint32_t dp_net_arp_count(const struct dp_net_arp_cache *c)
{
	return c->count;
}

const struct dp_net_arp_stats *dp_net_arp_stats(const struct dp_net_arp_cache *c)
{
	return &c->st;
}
