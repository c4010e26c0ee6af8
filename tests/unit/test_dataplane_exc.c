/* tests/unit/test_dataplane_exc.c: the DPDK port's exception path
 * (dataplane/dp_exc.h).
 *
 * route: real frames (built here, classified by dp_net_parse) go where
 * they must: tern's UDP ports to tern only, never to the kernel; TCP, ICMP,
 * other UDP ports and IPv6 multicast to the kernel; ARP to both; malformed
 * frames to nobody; and with no tap the kernel's share is dropped.
 *
 * tap (root only: skipped otherwise): in a private network namespace, a real
 * tap with our MAC and 10.77.0.1/24; an ICMP echo request written into it
 * makes the kernel ask for the sender by ARP out of the tap, and after our
 * ARP answer it sends the echo reply out of the tap, addressed to the
 * sender. A second tap of the same name is refused, bad names are refused.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dataplane/dp_exc.h"
#include "dataplane/dp_net.h"
#include "tests/lib/tn_test.h"

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define FRAME_MAX 2048u
#define TAP_WAIT_MS 5000     /* generous: a loaded 2-core box */
#define TAP_FRAMES_MAX 64u   /* frames read before giving up (IPv6 chatter included) */
#define ICMP_ID 0x7e57u
#define ICMP_SEQ 3u

static const uint8_t mac_me[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t mac_peer[6] = { 0x02, 0, 0, 0, 0, 0x02 };
static const uint8_t mac_other[6] = { 0x02, 0, 0, 0, 0, 0x09 };

static struct dp_net_cfg me_cfg(const uint8_t *mac, uint32_t ip)
{
	struct dp_net_cfg c = { .ip = ip, .udp_ports = { 2888, 3888 }, .udp_port_count = 2 };
	memcpy(c.mac, mac, 6);
	return c;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* Ethernet + IPv4 (no options) around @l4 of protocol @proto. */
static size_t ip_frame(uint8_t *f, const uint8_t *dst_mac, const uint8_t *src_mac, uint32_t src,
		       uint32_t dst, uint8_t proto, const uint8_t *l4, size_t l4_len)
{
	memset(f, 0, 34);
	memcpy(f, dst_mac, 6);
	memcpy(f + 6, src_mac, 6);
	put16(f + 12, DP_NET_ETHERTYPE_IP4);
	uint8_t *ip = f + 14;
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + l4_len));
	put16(ip + 4, 1);
	put16(ip + 6, 0x4000);   /* DF */
	ip[8] = 64;
	ip[9] = proto;
	put32(ip + 12, src);
	put32(ip + 16, dst);
	put16(ip + 10, dp_net_csum(ip, 20));
	memcpy(f + 34, l4, l4_len);
	return 34 + l4_len;
}

static size_t icmp_echo(uint8_t *f, const uint8_t *dst_mac, const uint8_t *src_mac, uint32_t src,
			uint32_t dst)
{
	uint8_t icmp[8 + 32] = { 8, 0 };
	put16(icmp + 4, ICMP_ID);
	put16(icmp + 6, ICMP_SEQ);
	for (unsigned i = 8; i < sizeof icmp; i++)
		icmp[i] = (uint8_t)i;
	put16(icmp + 2, dp_net_csum(icmp, sizeof icmp));
	return ip_frame(f, dst_mac, src_mac, src, dst, 1, icmp, sizeof icmp);
}

static size_t tcp_syn(uint8_t *f, uint32_t src, uint32_t dst)
{
	uint8_t tcp[20] = { 0 };
	put16(tcp, 40000);
	put16(tcp + 2, 22);
	put32(tcp + 4, 12345);
	tcp[12] = 5 << 4;
	tcp[13] = 0x02;   /* SYN */
	put16(tcp + 14, 65535);
	return ip_frame(f, mac_me, mac_peer, src, dst, 6, tcp, sizeof tcp);
}

static size_t udp(uint8_t *f, const uint8_t *dst_mac, uint32_t dst, uint16_t dport)
{
	struct dp_net_l2 l2 = { 0 };
	struct dp_net_udp u = { .src_ip = IP4(10, 77, 0, 2), .dst_ip = dst, .src_port = 2888,
				.dst_port = dport };
	memcpy(l2.src, mac_peer, 6);
	memcpy(l2.dst, dst_mac, 6);
	int n = dp_net_build_udp(f, FRAME_MAX, &l2, &u, 9, "hello", 5, true);
	CU_ASSERT_FATAL(n > 0);
	return (size_t)n;
}

static enum dp_exc_route route_of(const uint8_t *f, size_t len, bool tap)
{
	struct dp_net_cfg me = me_cfg(mac_me, IP4(10, 77, 0, 1));
	struct dp_net_pkt pkt;
	return dp_exc_route((enum dp_net_kind)dp_net_parse(f, len, &me, &pkt), tap);
}

static void test_route_kinds(void)
{
	CU_ASSERT_EQUAL(dp_exc_route(DP_NET_UDP_FOR_US, true), DP_EXC_TERN);
	CU_ASSERT_EQUAL(dp_exc_route(DP_NET_UDP_FOR_US, false), DP_EXC_TERN);
	CU_ASSERT_EQUAL(dp_exc_route(DP_NET_ARP_REQ_FOR_US, true), DP_EXC_BOTH);
	CU_ASSERT_EQUAL(dp_exc_route(DP_NET_ARP_REPLY, true), DP_EXC_BOTH);
	CU_ASSERT_EQUAL(dp_exc_route(DP_NET_ARP_REQ_FOR_US, false), DP_EXC_TERN);
	CU_ASSERT_EQUAL(dp_exc_route(DP_NET_NOT_OURS, true), DP_EXC_KERNEL);
	CU_ASSERT_EQUAL(dp_exc_route(DP_NET_NOT_OURS, false), DP_EXC_DROP);
	CU_ASSERT_EQUAL(dp_exc_route(DP_NET_DROP, true), DP_EXC_DROP);
	CU_ASSERT_EQUAL(dp_exc_route(DP_NET_KIND_COUNT, true), DP_EXC_DROP);
}

static void test_route_frames(void)
{
	uint8_t f[FRAME_MAX];
	const uint32_t me = IP4(10, 77, 0, 1), peer = IP4(10, 77, 0, 2);
	size_t n;

	/* tern's ports: tern's alone, with or without a tap */
	n = udp(f, mac_me, me, 2888);
	CU_ASSERT_EQUAL(route_of(f, n, true), DP_EXC_TERN);
	n = udp(f, mac_me, me, 3888);
	CU_ASSERT_EQUAL(route_of(f, n, true), DP_EXC_TERN);
	/* tern's port with a bad checksum: nobody's (the kernel would answer ICMP) */
	n = udp(f, mac_me, me, 2888);
	/* a payload byte, not the padding */
	f[DP_NET_ETH_HDR_LEN + DP_NET_IP4_HDR_LEN + DP_NET_UDP_HDR_LEN] ^= 0xff;
	CU_ASSERT_EQUAL(route_of(f, n, true), DP_EXC_DROP);
	/* other UDP ports, TCP, ICMP: the kernel's */
	n = udp(f, mac_me, me, 53);
	CU_ASSERT_EQUAL(route_of(f, n, true), DP_EXC_KERNEL);
	CU_ASSERT_EQUAL(route_of(f, n, false), DP_EXC_DROP);
	n = tcp_syn(f, peer, me);
	CU_ASSERT_EQUAL(route_of(f, n, true), DP_EXC_KERNEL);
	n = icmp_echo(f, mac_me, mac_peer, peer, me);
	CU_ASSERT_EQUAL(route_of(f, n, true), DP_EXC_KERNEL);
	/* another host's MAC or IP: dropped, never handed to the kernel */
	n = udp(f, mac_other, me, 53);
	CU_ASSERT_EQUAL(route_of(f, n, true), DP_EXC_DROP);
	n = tcp_syn(f, peer, IP4(10, 77, 0, 200));
	CU_ASSERT_EQUAL(route_of(f, n, true), DP_EXC_DROP);
	/* a TCP header cut short is still the kernel's to judge, a cut IP header not */
	n = tcp_syn(f, peer, me);
	CU_ASSERT_EQUAL(route_of(f, 30, true), DP_EXC_DROP);
	/* ARP: a request for us goes to both, for another IP to the kernel */
	struct dp_net_cfg pc = me_cfg(mac_peer, peer);
	int an = dp_net_build_arp_request(f, sizeof f, &pc, me, false, 0);
	CU_ASSERT_FATAL(an > 0);
	CU_ASSERT_EQUAL(route_of(f, (size_t)an, true), DP_EXC_BOTH);
	an = dp_net_build_arp_request(f, sizeof f, &pc, IP4(10, 77, 0, 3), false, 0);
	CU_ASSERT_EQUAL(route_of(f, (size_t)an, true), DP_EXC_KERNEL);
	/* IPv6 neighbour discovery to a multicast MAC: the kernel's */
	static const uint8_t mc6[6] = { 0x33, 0x33, 0xff, 0, 0, 1 };
	memset(f, 0, 80);
	memcpy(f, mc6, 6);
	memcpy(f + 6, mac_peer, 6);
	put16(f + 12, 0x86dd);
	f[14] = 0x60;
	CU_ASSERT_EQUAL(route_of(f, 80, true), DP_EXC_KERNEL);
}

static void test_names(void)
{
	CU_ASSERT_TRUE(dp_exc_name_ok("tern-exc0"));
	CU_ASSERT_TRUE(dp_exc_name_ok("123456789012345"));
	CU_ASSERT_FALSE(dp_exc_name_ok("1234567890123456"));
	CU_ASSERT_FALSE(dp_exc_name_ok(""));
	CU_ASSERT_FALSE(dp_exc_name_ok(NULL));
	CU_ASSERT_FALSE(dp_exc_name_ok("a/b"));
	CU_ASSERT_FALSE(dp_exc_name_ok("eth0:1"));
	CU_ASSERT_FALSE(dp_exc_name_ok("a b"));
	CU_ASSERT_FALSE(dp_exc_name_ok(".."));
	struct dp_exc_tap_cfg c = { .name = "bad/name", .mtu = 1500 };
	CU_ASSERT_EQUAL(dp_exc_tap_open(&c), -EINVAL);
	c.name = "ok0";
	c.mtu = 100;
	CU_ASSERT_EQUAL(dp_exc_tap_open(&c), -EINVAL);
}

/* Whether /proc/net/route has 0.0.0.0/0 via @gw on @dev, metric
 * DP_EXC_ROUTE_METRIC. */
static bool default_route_via(const char *dev, uint32_t gw)
{
	FILE *f = fopen("/proc/net/route", "r");
	char line[256], ifname[32];
	unsigned dst, via, flags, refcnt, use, metric, mask;
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof line, f))
		if (sscanf(line, "%31s %x %x %x %u %u %u %x", ifname, &dst, &via, &flags, &refcnt, &use,
			   &metric, &mask) == 8)
			found = !strcmp(ifname, dev) && dst == 0 && mask == 0 &&
				via == htonl(gw) && metric == DP_EXC_ROUTE_METRIC;
	fclose(f);
	return found;
}

/* The next frame from the tap the peer endpoint @pc classifies as @want. */
static int tap_expect(int fd, const struct dp_net_cfg *pc, enum dp_net_kind want, uint8_t *f,
		      struct dp_net_pkt *pkt)
{
	for (unsigned i = 0; i < TAP_FRAMES_MAX; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, TAP_WAIT_MS) != 1)
			return -ETIMEDOUT;
		ssize_t r = dp_exc_tap_read(fd, f, FRAME_MAX);
		if (r <= 0)
			continue;
		if (dp_net_parse(f, (size_t)r, pc, pkt) == (int)want)
			return (int)r;
	}
	return -ENOENT;
}

static void test_tap_kernel_answers(void)
{
	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
		printf("\n  skipped: needs root for a private network namespace and a tap\n");
		return;
	}
	const uint32_t me = IP4(10, 77, 0, 1), peer = IP4(10, 77, 0, 2);
	struct dp_exc_tap_cfg c = { .name = "tern-ut0", .ip = me, .netmask = IP4(255, 255, 255, 0),
				    .gateway = IP4(10, 77, 0, 254), .mtu = 1500 };
	memcpy(c.mac, mac_me, 6);
	int fd = dp_exc_tap_open(&c);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(dp_exc_tap_open(&c), -EBUSY);   /* the name is taken while fd lives */
	CU_ASSERT_TRUE(default_route_via("tern-ut0", IP4(10, 77, 0, 254)));
	uint8_t f[FRAME_MAX], rep[FRAME_MAX];
	CU_ASSERT_EQUAL(dp_exc_tap_read(fd, f, sizeof f) >= 0, 1);   /* never blocks */

	/* an echo request from the peer: the kernel first asks who the peer is */
	size_t n = icmp_echo(f, mac_me, mac_peer, peer, me);
	CU_ASSERT_EQUAL_FATAL(dp_exc_tap_write(fd, f, n), 0);
	struct dp_net_cfg pc = me_cfg(mac_peer, peer);
	struct dp_net_pkt pkt;
	int r = tap_expect(fd, &pc, DP_NET_ARP_REQ_FOR_US, f, &pkt);
	CU_ASSERT_FATAL(r > 0);
	CU_ASSERT_EQUAL(memcmp(pkt.arp.sha, mac_me, 6), 0);   /* the tap carries our MAC */
	CU_ASSERT_EQUAL(pkt.arp.spa, me);
	int rl = dp_net_build_arp_reply(rep, sizeof rep, &pc, &pkt);
	CU_ASSERT_FATAL(rl > 0);
	CU_ASSERT_EQUAL_FATAL(dp_exc_tap_write(fd, rep, (size_t)rl), 0);

	/* then answers the echo, to the peer's MAC, out of the tap */
	r = tap_expect(fd, &pc, DP_NET_NOT_OURS, f, &pkt);
	CU_ASSERT_FATAL(r >= 42);
	CU_ASSERT_EQUAL(memcmp(f, mac_peer, 6), 0);
	CU_ASSERT_EQUAL(memcmp(f + 6, mac_me, 6), 0);
	CU_ASSERT_EQUAL(f[14 + 9], 1);        /* ICMP */
	CU_ASSERT_EQUAL(f[34], 0);            /* echo reply */
	CU_ASSERT_EQUAL(f[38] << 8 | f[39], ICMP_ID);
	CU_ASSERT_EQUAL(f[40] << 8 | f[41], ICMP_SEQ);
	dp_exc_tap_close(fd);
}

static CU_TestInfo tests[] = {
	{ "route_kinds", test_route_kinds },
	{ "route_frames", test_route_frames },
	{ "names", test_names },
	{ "tap_kernel_answers", test_tap_kernel_answers },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "dp_exc", NULL, NULL, NULL, NULL, tests },
	CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	return tn_test_main(argc, argv, suites);
}
