/* tests/unit/test_dataplane_dpdk.c: dp_port's DPDK backend on virtual
 * devices, with --no-huge --in-memory (built only when meson finds libdpdk).
 *
 * net_null0 hands back zero-filled 64-byte frames on every receive: they are
 * not for our MAC, so the port must drop and count every one and deliver
 * nothing. A send to a peer on our subnet goes out as an ARP request (the
 * datagram waits in the ARP cache); one off-subnet with no gateway is
 * refused and counted. Config errors: an unknown device is -ENODEV, and
 * adaptive polling backs off once the port is quiet. The EAL runs once per
 * process, so this is one test. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dataplane/dp_port.h"
#include "tests/lib/tn_dpdk_test.h"
#include "tests/lib/tn_test.h"

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define POLLS 200u

static void test_dpdk_null_port(void)
{
	struct dp_port_cfg c = { .kind = DP_PORT_DPDK, .ip = IP4(10, 9, 8, 1),
				 .udp_ports = { 2888, 3888 }, .udp_port_count = 2,
				 .dgram_max = DP_PORT_DGRAM_MAX, .netmask = IP4(255, 255, 255, 0),
				 .mbufs = 2048, .dev = "net_null0" };
	struct dp_port *p = NULL, *q = NULL;
	struct dp_port_dgram d[DP_PORT_BURST_MAX];
	struct dp_port_stats st;
	int fds[DP_PORT_UDP_PORTS_MAX];
	uint8_t payload[100] = { 1, 2, 3 };

	tn_dpdk_eal(&c, "net_null0", "tern-ut");
	CU_ASSERT_FATAL(dp_port_dpdk_built());
	int rc = dp_port_open(&p, &c);
	if (rc == -EALREADY || rc == -ENOMEM) {   /* no EAL memory here: nothing to test */
		printf("SKIP: EAL init failed (%d)\n", rc);
		return;
	}
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_EQUAL(dp_port_fds(p, fds), 0);
	/* one frame, no fragments: the MTU bounds a datagram */
	CU_ASSERT(dp_port_dgram_max(p) <= 1472u);
	CU_ASSERT(dp_port_dgram_max(p) >= 1000u);

	unsigned got = 0;
	for (unsigned i = 0; i < POLLS; i++)
		got += dp_port_recv(p, d, DP_PORT_BURST_MAX, 1000 + i);
	CU_ASSERT_EQUAL(got, 0);
	dp_port_stats(p, &st);
	CU_ASSERT(st.rx_pkts > 0);
	uint64_t dropped = 0;
	for (unsigned i = 0; i < DP_PORT_DROP_COUNT; i++)
		dropped += st.drop[i];
	/* every frame is counted: net_null hands back recycled mbufs, so our own
	 * ARP announcement can come back as a reply */
	CU_ASSERT_EQUAL(dropped + st.arp_req_rx + st.arp_reply_rx, st.rx_pkts);

	/* same subnet, unresolved: queued behind an ARP request */
	struct dp_port_addr peer = { IP4(10, 9, 8, 2), 2888 };
	CU_ASSERT_EQUAL(dp_port_send(p, 2888, &peer, payload, sizeof payload, 5000), 0);
	CU_ASSERT_EQUAL(dp_port_send(p, 2888, &peer, payload, sizeof payload, 5000), 0);
	dp_port_flush(p, 5000);
	dp_port_stats(p, &st);
	CU_ASSERT_EQUAL(st.arp_req_tx, 1);
	CU_ASSERT(st.tx_pkts >= 1);
	/* too big for one frame */
	CU_ASSERT_EQUAL(dp_port_send(p, 2888, &peer, payload, 9000, 5000), -EMSGSIZE);
	/* off-subnet and no gateway */
	struct dp_port_addr far = { IP4(192, 0, 2, 7), 2888 };
	CU_ASSERT_EQUAL(dp_port_send(p, 2888, &far, payload, sizeof payload, 5000), -ENOBUFS);
	dp_port_stats(p, &st);
	CU_ASSERT_EQUAL(st.drop[DP_PORT_DROP_NOROUTE], 1);
	/* the waiting datagrams give up after the ARP timeout: counted */
	for (unsigned i = 0; i < 5; i++)
		dp_port_recv(p, d, DP_PORT_BURST_MAX, 5000 + 1000u * (i + 1));
	dp_port_stats(p, &st);
	CU_ASSERT_EQUAL(st.drop[DP_PORT_DROP_ARP_WAIT], 2);

	/* a text dump names the drop reasons */
	char text[4096];
	dp_port_stats_text(&st, "zk_t", text, sizeof text);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "zk_t_drop_noroute\t1\n"));

	/* a second port on a device that does not exist */
	struct dp_port_cfg c2 = c;
	c2.dev = "net_no_such_driver0";
	CU_ASSERT(dp_port_open(&q, &c2) < 0);
	CU_ASSERT_PTR_NULL(q);
	dp_port_close(p);
}

static CU_TestInfo tests[] = {
	{ "dpdk_null_port", test_dpdk_null_port },
	CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = { { "dp_dpdk", NULL, NULL, NULL, NULL, tests }, CU_SUITE_INFO_NULL };

int main(int argc, char **argv)
{
	return tn_test_main(argc, argv, suites);
}
