/* dataplane/dp_net.h: tern's minimal network layer for the kernel-bypass
 * dataplane. PRIVATE to dataplane/: other modules include dataplane/dp.h only.
 *
 * Pure C, no DPDK: the port loop hands us the bytes of one received frame and
 * gets back a classification; it builds outgoing frames into a buffer of its
 * own (an mbuf's data room). Nothing here allocates except the ARP cache at
 * boot, and nothing reads a clock: time comes in as @now_ms (STYLE rule 13).
 *
 * What is accepted (everything else is NOT_OURS, for the kernel through the
 * exception port, or DROP with a reason, counted):
 *
 *   Ethernet II  dst = our MAC, or broadcast; multicast -> NOT_OURS; other
 *                unicast -> DROP ETH_DST. At most one 802.1Q tag (0x8100).
 *                Frames below 60 bytes are accepted: veth and af_packet
 *                deliver them unpadded; "runt" means shorter than the headers.
 *   ARP          htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4, op 1 or 2.
 *                Request for our IP -> ARP_REQ_FOR_US; reply to our IP (or a
 *                gratuitous one, spa == tpa) -> ARP_REPLY; other ARP -> NOT_OURS.
 *   IPv4         version 4, 5 <= IHL, IHL*4 <= total length <= bytes present
 *                (Ethernet padding past total length is ignored), header
 *                checksum, TTL > 0, no fragments (MF or offset -> DROP FRAG).
 *                Options are skipped, not interpreted. dst = our IP: UDP to one
 *                of our ports is ours, other protocols NOT_OURS; dst broadcast
 *                or multicast -> NOT_OURS; other unicast dst -> DROP IP_DST.
 *   UDP          8 <= length == IP payload length, checksum over the
 *                pseudo-header unless it is 0 (none); a computed 0 is sent as
 *                0xffff (RFC 768).
 *
 * Frame layout built and parsed (offsets without a VLAN tag; a tag adds 4):
 *
 *   0  dst mac[6]  6 src mac[6]  12 ethertype (0x0800 IPv4, 0x0806 ARP)
 *   14 IPv4: ver/ihl, tos, total_len, id, flags/frag, ttl, proto, csum, src, dst
 *   34 UDP: src port, dst port, length, csum      42 payload
 *   14 ARP: htype, ptype, hlen, plen, op, sha[6], spa, tha[6], tpa   (28 bytes)
 *
 * All multi-byte fields are big-endian on the wire; IPv4 addresses are held
 * in host order (uint32_t) in every struct here.
 */
#ifndef DP_NET_H
#define DP_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DP_NET_MAC_LEN 6u
#define DP_NET_ETH_HDR_LEN 14u
#define DP_NET_VLAN_TAG_LEN 4u
#define DP_NET_ETH_MIN_LEN 60u /* without FCS: builders pad to it */
#define DP_NET_ARP_LEN 28u
#define DP_NET_IP4_HDR_LEN 20u /* without options; we never send options */
#define DP_NET_IP4_HDR_MAX 60u /* IHL 15 */
#define DP_NET_UDP_HDR_LEN 8u
#define DP_NET_UDP_PAYLOAD_MAX (0xffffu - DP_NET_IP4_HDR_LEN - DP_NET_UDP_HDR_LEN)
#define DP_NET_TTL_DEFAULT 64u
#define DP_NET_PORTS_MAX 8u /* UDP ports one dataplane serves */

#define DP_NET_ETHERTYPE_IP4 0x0800u
#define DP_NET_ETHERTYPE_ARP 0x0806u
#define DP_NET_ETHERTYPE_VLAN 0x8100u
#define DP_NET_ETHERTYPE_QINQ 0x88a8u
#define DP_NET_IPPROTO_UDP 17u

/* What dp_net_parse() returns (always >= 0). */
enum dp_net_kind {
	DP_NET_DROP = 0,       /* @out->drop says why */
	DP_NET_ARP_REQ_FOR_US, /* answer with dp_net_build_arp_reply(); learn sender */
	DP_NET_ARP_REPLY,      /* learn sender */
	DP_NET_UDP_FOR_US,     /* @out->udp */
	DP_NET_NOT_OURS,       /* to the kernel through the exception port */
	DP_NET_KIND_COUNT
};

enum dp_net_drop {
	DP_NET_DROP_NONE = 0,
	DP_NET_DROP_RUNT,       /* shorter than an Ethernet header (+ tag) */
	DP_NET_DROP_ETH_DST,    /* unicast to another MAC */
	DP_NET_DROP_ETH_SRC,    /* source MAC multicast/broadcast */
	DP_NET_DROP_VLAN,       /* stacked tags (QinQ or 802.1Q in 802.1Q) */
	DP_NET_DROP_ARP_SHORT,  /* ARP body truncated */
	DP_NET_DROP_ARP_FORMAT, /* not Ethernet/IPv4 sizes and types */
	DP_NET_DROP_ARP_OP,     /* neither request nor reply */
	DP_NET_DROP_ARP_SENDER, /* sender MAC multicast or IP broadcast/multicast */
	DP_NET_DROP_IP_SHORT,   /* IPv4 header truncated */
	DP_NET_DROP_IP_VERSION,
	DP_NET_DROP_IP_IHL, /* IHL < 5 or header past the end */
	DP_NET_DROP_IP_LEN, /* total length < header or > bytes present */
	DP_NET_DROP_IP_CSUM,
	DP_NET_DROP_IP_FRAG,   /* MF set or offset != 0: we never reassemble */
	DP_NET_DROP_IP_TTL,    /* TTL 0 */
	DP_NET_DROP_IP_SRC,    /* source broadcast, multicast or our own */
	DP_NET_DROP_IP_DST,    /* unicast to another IP on our MAC: we do not route */
	DP_NET_DROP_UDP_SHORT, /* UDP header truncated */
	DP_NET_DROP_UDP_LEN,   /* UDP length < 8 or != IP payload length */
	DP_NET_DROP_UDP_CSUM,
	DP_NET_DROP_COUNT
};

/* This endpoint. Read-only to the parser. */
struct dp_net_cfg {
	uint8_t mac[DP_NET_MAC_LEN];
	uint32_t ip;                          /* host order */
	uint16_t udp_ports[DP_NET_PORTS_MAX]; /* dst ports that are ours */
	uint32_t udp_port_count;
	bool rx_csum_verified; /* the port verified IP/UDP checksums and dropped bad ones */
};

struct dp_net_arp {
	uint16_t op;                 /* 1 request, 2 reply */
	uint8_t sha[DP_NET_MAC_LEN]; /* sender */
	uint32_t spa;                /* 0 in a probe (RFC 5227): do not learn */
	uint8_t tha[DP_NET_MAC_LEN];
	uint32_t tpa;
};

struct dp_net_udp {
	uint32_t src_ip, dst_ip; /* host order */
	uint16_t src_port, dst_port;
	uint8_t ttl;
	const uint8_t *payload; /* points into the frame */
	size_t payload_len;
};

/* One parsed frame. Pointers borrow the frame given to dp_net_parse(). */
struct dp_net_pkt {
	enum dp_net_kind kind;
	enum dp_net_drop drop; /* DP_NET_DROP_NONE unless kind == DP_NET_DROP */
	uint8_t eth_dst[DP_NET_MAC_LEN], eth_src[DP_NET_MAC_LEN];
	bool has_vlan;
	uint16_t vlan_tci;
	uint16_t ethertype; /* the inner one when tagged */
	union {
		struct dp_net_arp arp; /* ARP_REQ_FOR_US, ARP_REPLY, NOT_OURS ARP */
		struct dp_net_udp udp; /* UDP_FOR_US */
	};
};

/* Per-queue counters: one per kind, one per drop reason. Owned by the port
 * loop of one queue; read by telemetry with relaxed tearing tolerated. */
struct dp_net_counters {
	uint64_t kind[DP_NET_KIND_COUNT];
	uint64_t drop[DP_NET_DROP_COUNT];
	uint64_t rx_bytes;
};

/* Addressing for a frame we build. */
struct dp_net_l2 {
	uint8_t src[DP_NET_MAC_LEN], dst[DP_NET_MAC_LEN];
	bool has_vlan;
	uint16_t vlan_tci;
};

/**
 * Classify the frame @frame[0..@len) for the endpoint @me; fill @out.
 * Reads nothing past @len and never asserts on frame contents.
 * Return: enum dp_net_kind (>= 0); @out->kind is the same value.
 */
int dp_net_parse(const uint8_t *frame, size_t len, const struct dp_net_cfg *me,
		 struct dp_net_pkt *out);

/* Count @pkt (the result of a dp_net_parse() of @len bytes) in @c. */
void dp_net_count(struct dp_net_counters *c, const struct dp_net_pkt *pkt, size_t len);

/* Short static names for telemetry. */
const char *dp_net_kind_name(enum dp_net_kind k);
const char *dp_net_drop_name(enum dp_net_drop d);

/**
 * Build an Ethernet(+tag)/IPv4/UDP frame carrying @payload into @buf (cap
 * @cap), padded to DP_NET_ETH_MIN_LEN. @u gives addresses, ports and TTL (0
 * means DP_NET_TTL_DEFAULT); its payload fields are ignored. @ip_id is the
 * IPv4 identification; DF is set. The UDP checksum is computed unless
 * @udp_csum is false (then 0 is sent: the port offloads it or none is wanted).
 * Return: frame length (> 0), -EMSGSIZE if the payload exceeds one unfragmented
 * datagram, -ENOBUFS if @cap is too small.
 */
int dp_net_build_udp(uint8_t *buf, size_t cap, const struct dp_net_l2 *l2,
		     const struct dp_net_udp *u, uint16_t ip_id, const void *payload,
		     size_t payload_len, bool udp_csum);

/**
 * Build the reply to the ARP request @req (parsed as DP_NET_ARP_REQ_FOR_US,
 * with its VLAN tag repeated from @req) from @me into @buf.
 * Return: frame length, or -ENOBUFS.
 */
int dp_net_build_arp_reply(uint8_t *buf, size_t cap, const struct dp_net_cfg *me,
			   const struct dp_net_pkt *req);

/**
 * Build a broadcast ARP request from @me asking for @target_ip (host order).
 * @has_vlan/@vlan_tci tag it. Return: frame length, or -ENOBUFS.
 */
int dp_net_build_arp_request(uint8_t *buf, size_t cap, const struct dp_net_cfg *me,
			     uint32_t target_ip, bool has_vlan, uint16_t vlan_tci);

/* --- checksums (RFC 1071) --- */

/* The one's complement sum of @len bytes folded to 16 bits, seeded with @sum
 * (a previous partial result; 0 to start). Not complemented. An odd final byte
 * is padded with zero, so only the last block of a sum may be odd-length. */
uint16_t dp_net_csum_partial(const void *data, size_t len, uint32_t sum);

/* The Internet checksum of @len bytes: ~partial sum. */
uint16_t dp_net_csum(const void *data, size_t len);

/* RFC 1624 (eqn. 3): the header checksum @hc after a 16-bit field changed from
 * @old_v to @new_v, without summing the header again. All values as they
 * are read big-endian from the wire. */
uint16_t dp_net_csum_update16(uint16_t hc, uint16_t old_v, uint16_t new_v);

/* --- ARP cache ---
 *
 * Fixed capacity, open addressing with linear probing over a table twice the
 * capacity (so a probe run stays short), deletion by backward shift (no
 * tombstones). An entry is PENDING (a request went out; up to
 * DP_NET_ARP_QUEUE_MAX packets wait for the answer) or RESOLVED (a MAC, good
 * until @ttl_ms after it was learnt). When full, inserting a new IP evicts the
 * entry with the oldest timestamp (expired ones first, by construction). The
 * cache never frees packets itself: those that expire or are evicted go to
 * @drop_cb, those that resolve go back to the caller to transmit.
 * One queue (one core) owns a cache; no locking.
 */
#define DP_NET_ARP_CAP_MAX 65536u
#define DP_NET_ARP_QUEUE_MAX 4u     /* packets waiting per unresolved IP */
#define DP_NET_ARP_PENDING_MS 1000u /* a request unanswered this long gives up */
#define DP_NET_ARP_RETRY_MS 250u    /* resend the request at most this often */

struct dp_net_arp_cache;

struct dp_net_arp_stats {
	uint64_t hits, misses, inserts, updates, evictions, expired;
	uint64_t queued, queue_full, dropped_pkts, requests;
};

typedef void (*dp_net_arp_drop_cb)(void *ctx, void *pkt);

/**
 * Create a cache for @cap entries (1..DP_NET_ARP_CAP_MAX); resolved entries
 * live @ttl_ms (> 0). Packets it gives up on go to @drop_cb(@ctx, pkt).
 * Boot time only (allocates). Return: 0, -EINVAL, -ENOMEM.
 */
int dp_net_arp_create(struct dp_net_arp_cache **out, uint32_t cap, uint64_t ttl_ms,
		      dp_net_arp_drop_cb drop_cb, void *ctx);

/* Free @c; queued packets go to the drop callback first. NULL is a no-op. */
void dp_net_arp_destroy(struct dp_net_arp_cache *c);

/**
 * Look up @ip at @now_ms. Return: 0 with the MAC in @mac, -ENOENT (unknown or
 * expired: queue with dp_net_arp_queue()), -EAGAIN (resolution pending).
 */
int dp_net_arp_lookup(struct dp_net_arp_cache *c, uint32_t ip, uint64_t now_ms,
		      uint8_t mac[DP_NET_MAC_LEN]);

/**
 * Learn @ip -> @mac at @now_ms (from a reply or a request). Packets that
 * waited for @ip are moved to @ready (up to DP_NET_ARP_QUEUE_MAX slots needed;
 * extra ones beyond @ready_cap are dropped through the callback) in arrival
 * order; the caller owns and sends them.
 * Return: number of packets in @ready (>= 0), or -EINVAL for ip 0 or a
 * multicast @mac (never cached).
 */
int dp_net_arp_insert(struct dp_net_arp_cache *c, uint32_t ip, const uint8_t mac[DP_NET_MAC_LEN],
		      uint64_t now_ms, void **ready, unsigned ready_cap);

/**
 * Park @pkt until @ip resolves; creates a PENDING entry if needed.
 * Return: 1 (queued; send an ARP request now), 0 (queued; a request is
 * already out), -ENOBUFS (this IP's queue is full: the caller keeps @pkt),
 * -EEXIST (@ip is resolved: look it up and send).
 */
int dp_net_arp_queue(struct dp_net_arp_cache *c, uint32_t ip, void *pkt, uint64_t now_ms);

/* Remove entries past their deadline at @now_ms; their packets go to the drop
 * callback. Bounded by the table size. Return: entries removed. */
unsigned dp_net_arp_expire(struct dp_net_arp_cache *c, uint64_t now_ms);

uint32_t dp_net_arp_count(const struct dp_net_arp_cache *c);
const struct dp_net_arp_stats *dp_net_arp_stats(const struct dp_net_arp_cache *c);

#endif
