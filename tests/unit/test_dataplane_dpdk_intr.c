/* tests/unit/test_dataplane_dpdk_intr.c: adaptive polling on Rx interrupts
 * (dp_dpdk.c), on a PMD that has them: net_tap, whose kernel side is an
 * interface in a private network namespace (root only: skipped otherwise;
 * built only when meson finds libdpdk; the EAL runs once per process, so
 * this is one test in a binary of its own).
 *
 * The port goes quiet, arms its interrupt and offers an fd to sleep on
 * (dp_port_fds); the kernel then sends a UDP datagram to the port's
 * address: it first asks for our MAC by ARP, and that frame alone must make
 * the fd readable (a poll() with a long timeout returns at once, not by
 * timing out); the port answers, and the datagram arrives. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dataplane/dp_port.h"
#include "tests/lib/tn_dpdk_test.h"
#include "tests/lib/tn_test.h"

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define KIFACE "tnut0"         /* the kernel side of net_tap */
#define WAIT_MS 5000           /* generous: a loaded 2-core box */
#define ARM_POLLS_MAX 5000u    /* polls (with short sleeps) before the port must have armed */
#define RECV_TURNS_MAX 2000u
#define UDP_PORT 2888

/* The fds the port offers beyond the tap (none here): 1 once armed. */
static unsigned port_fds(struct dp_port *p, int *fd)
{
	int fds[DP_PORT_UDP_PORTS_MAX];
	unsigned n = dp_port_fds(p, fds);
	if (n)
		*fd = fds[0];
	return n;
}

static void test_rx_interrupt_wakes(void)
{
	struct dp_port_cfg c = { .kind = DP_PORT_DPDK, .ip = IP4(10, 79, 0, 1),
				 .udp_ports = { UDP_PORT }, .udp_port_count = 1,
				 .dgram_max = DP_PORT_DGRAM_MAX, .netmask = IP4(255, 255, 255, 0),
				 .mbufs = 2048, .dev = "net_tap0", .exc = DP_PORT_EXC_NONE };
	struct dp_port_dgram d[DP_PORT_BURST_MAX];
	struct dp_port_stats st;
	struct dp_port *p = NULL;
	int fd = -1, s = -1;

	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
		printf("\n  skipped: needs root for a private network namespace\n");
		return;
	}
	tn_dpdk_eal(&c, "net_tap0,iface=" KIFACE, "tern-uti");
	int rc = dp_port_open(&p, &c);
	if (rc == -ENODEV || rc == -ENOTSUP) {
		printf("\n  skipped: no net_tap PMD here (%s)\n", strerror(-rc));
		return;
	}
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	dp_port_stats(p, &st);
	CU_ASSERT_TRUE_FATAL(st.rx_intr);   /* net_tap has Rx interrupts */
	/* no IPv6 on the kernel side: its chatter would wake the port too */
	CU_ASSERT_EQUAL_FATAL(system("sysctl -qw net.ipv6.conf." KIFACE ".disable_ipv6=1 "
				     ">/dev/null 2>&1; ip addr add 10.79.0.2/24 dev " KIFACE
				     " && ip link set " KIFACE " up && ip link set lo up"), 0);

	/* quiet: the port arms and offers an fd, not readable yet (anything
	 * the kernel said on the new link first is polled away) */
	unsigned i;
	for (i = 0; i < ARM_POLLS_MAX; i++) {
		struct pollfd q = { .fd = -1, .events = POLLIN };
		if (port_fds(p, &q.fd) == 1 && poll(&q, 1, 0) == 0) {
			fd = q.fd;
			break;
		}
		dp_port_recv(p, d, DP_PORT_BURST_MAX, dp_port_now_us() / 1000u);
		usleep(1000);
	}
	CU_ASSERT_FATAL(i < ARM_POLLS_MAX && fd >= 0);
	CU_ASSERT_TRUE(dp_port_idle_us(p) > DP_PORT_IDLE_US_MAX);   /* sleeps on the interrupt */

	/* the kernel speaks: its ARP request alone wakes the sleeper */
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(s >= 0);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(UDP_PORT),
				  .sin_addr.s_addr = htonl(IP4(10, 79, 0, 1)) };
	CU_ASSERT_EQUAL(sendto(s, "wake", 4, 0, (struct sockaddr *)&to, sizeof to), 4);
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	CU_ASSERT_EQUAL(poll(&pf, 1, WAIT_MS), 1);   /* not a timeout */

	/* then the port answers the ARP and the datagram arrives */
	bool got = false;
	for (i = 0; i < RECV_TURNS_MAX && !got; i++) {
		unsigned n = dp_port_recv(p, d, DP_PORT_BURST_MAX, dp_port_now_us() / 1000u);
		for (unsigned k = 0; k < n; k++)
			got = got || (d[k].len == 4 && !memcmp(d[k].data, "wake", 4) &&
				      d[k].src.ip == IP4(10, 79, 0, 2) &&
				      d[k].dst_port == UDP_PORT);
		if (!got && port_fds(p, &fd)) {
			pf.fd = fd;
			poll(&pf, 1, 100);
		} else if (!got) {
			usleep(1000);
		}
	}
	CU_ASSERT_TRUE(got);
	dp_port_stats(p, &st);
	CU_ASSERT_TRUE(st.rx_intr_sleeps >= 1);
	CU_ASSERT_TRUE(st.rx_intr_wakeups >= 1);
	CU_ASSERT_TRUE(st.arp_reply_tx >= 1);
	printf("\n  interrupt sleeps %llu, wakeups %llu\n", (unsigned long long)st.rx_intr_sleeps,
	       (unsigned long long)st.rx_intr_wakeups);
	close(s);
	dp_port_close(p);
}

static CU_TestInfo tests[] = {
	{ "rx_interrupt_wakes", test_rx_interrupt_wakes },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "dp_dpdk_intr", NULL, NULL, NULL, NULL, tests },
	CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	return tn_test_main(argc, argv, suites);
}
