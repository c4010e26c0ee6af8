/* tests/unit/test_dataplane_dpdk_qintr.c: adaptive polling of a worker
 * queue on its Rx interrupt (dp_dpdk.c, dp_portq_sleep_fd), on a
 * two-queue net_tap whose kernel side is in a private network namespace
 * (root only: skipped otherwise; built only when meson finds libdpdk; one
 * EAL per process, so a binary of its own).
 *
 * The worker queue goes quiet, arms its interrupt and offers an fd to sleep
 * on. The kernel then sends FLOWS datagrams from distinct source ports to
 * the workers' port: the tap spreads them over its two queues, so some land
 * on the worker's, and its fd must wake the sleeper (a poll with a long
 * timeout returns, not by timing out); those on queue 0 are handed over by
 * the owner. Every datagram reaches the worker queue once. */
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
#define KIFACE "tnqi0"         /* the kernel side of net_tap */
#define NATIVE_PORT 2181
#define PEER_PORT 2888
#define FLOWS 16u
#define WAIT_MS 5000           /* generous: a loaded 2-core box */
#define ARM_POLLS_MAX 5000u
#define TURNS_MAX 5000u

/* One turn of the owner and the worker; returns native datagrams received. */
static unsigned turn(struct dp_port *p, struct dp_portq *q)
{
	struct dp_port_dgram d[DP_PORT_BURST_MAX];
	struct dp_portq_dgram g[DP_PORT_BURST_MAX];
	unsigned got = 0, n;

	dp_port_recv(p, d, DP_PORT_BURST_MAX, dp_port_now_us() / 1000u);
	n = dp_portq_recv(q, g, DP_PORT_BURST_MAX);
	for (unsigned k = 0; k < n; k++)
		got += g[k].dst_port == NATIVE_PORT && g[k].len == 4 && !memcmp(g[k].data, "flow", 4);
	return got;
}

static void test_worker_queue_interrupt(void)
{
	struct dp_port_cfg c = { .kind = DP_PORT_DPDK, .ip = IP4(10, 77, 0, 1),
				 .udp_ports = { PEER_PORT }, .udp_port_count = 1,
				 .dgram_max = DP_PORT_DGRAM_MAX, .netmask = IP4(255, 255, 255, 0),
				 .mbufs = 2048, .dev = "net_tap0", .exc = DP_PORT_EXC_NONE,
				 .worker_queues = 1, .worker_udp_port = NATIVE_PORT };
	struct dp_port *p = NULL;
	struct dp_portq *q;
	struct dp_portq_stats qs;
	int fd = -1, socks[FLOWS];
	unsigned i, got = 0;

	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
		printf("\n  skipped: needs root for a private network namespace\n");
		return;
	}
	tn_dpdk_eal(&c, "net_tap0,iface=" KIFACE, "tern-utqi");
	int rc = dp_port_open(&p, &c);
	if (rc == -ENODEV || rc == -ENOTSUP) {
		printf("\n  skipped: no net_tap PMD here (%s)\n", strerror(-rc));
		return;
	}
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	q = dp_port_queue(p, 0);
	dp_portq_thread_attach(q);
	dp_portq_stats(p, 0, &qs);
	CU_ASSERT_TRUE_FATAL(qs.hw_queue && qs.rx_intr);   /* net_tap: queues with interrupts */
	CU_ASSERT_EQUAL_FATAL(system("sysctl -qw net.ipv6.conf." KIFACE ".disable_ipv6=1 "
				     ">/dev/null 2>&1; ip addr add 10.77.0.2/24 dev " KIFACE
				     " && ip link set " KIFACE " up && ip link set lo up"), 0);

	/* quiet: the queue arms its interrupt and offers an fd, not readable yet */
	for (i = 0; i < ARM_POLLS_MAX; i++) {
		turn(p, q);
		if (dp_portq_idle_us(q) == UINT64_MAX && (fd = dp_portq_sleep_fd(q)) >= 0) {
			struct pollfd pf = { .fd = fd, .events = POLLIN };
			if (poll(&pf, 1, 0) == 0)
				break;
		}
		fd = -1;
		usleep(1000);
	}
	CU_ASSERT_FATAL(i < ARM_POLLS_MAX && fd >= 0);

	/* the kernel sends: some flows land on the worker's queue and wake it */
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(NATIVE_PORT),
				  .sin_addr.s_addr = htonl(IP4(10, 77, 0, 1)) };
	for (unsigned f = 0; f < FLOWS; f++) {
		socks[f] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		CU_ASSERT_FATAL(socks[f] >= 0);
		CU_ASSERT_EQUAL(sendto(socks[f], "flow", 4, 0, (struct sockaddr *)&to, sizeof to), 4);
	}
	/* the owner answers the kernel's ARP (on whichever queue it came) while
	 * the worker sleeps on its fd */
	bool woke = false;
	for (i = 0; i < TURNS_MAX && !woke; i++) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		struct dp_port_dgram d[DP_PORT_BURST_MAX];
		if (poll(&pf, 1, 1) == 1)
			woke = true;
		else
			dp_port_recv(p, d, DP_PORT_BURST_MAX, dp_port_now_us() / 1000u);
	}
	CU_ASSERT_TRUE(woke);
	for (i = 0; i < TURNS_MAX && got < FLOWS; i++)
		if ((got += turn(p, q)) < FLOWS)
			usleep(1000);
	CU_ASSERT_EQUAL(got, FLOWS);
	dp_portq_stats(p, 0, &qs);
	CU_ASSERT_TRUE(qs.intr_sleeps >= 1);
	CU_ASSERT_TRUE(qs.intr_wakeups >= 1);
	CU_ASSERT_TRUE(qs.rx_pkts >= 1);   /* some came on the worker's own queue */
	printf("\n  worker queue: interrupt sleeps %llu, wakeups %llu; %llu datagrams on its "
	       "queue, %llu handed over\n", (unsigned long long)qs.intr_sleeps,
	       (unsigned long long)qs.intr_wakeups, (unsigned long long)qs.rx_pkts,
	       (unsigned long long)qs.from_owner);
	for (unsigned f = 0; f < FLOWS; f++)
		close(socks[f]);
	dp_port_close(p);
}

static CU_TestInfo tests[] = {
	{ "worker_queue_interrupt", test_worker_queue_interrupt },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "dp_dpdk_qintr", NULL, NULL, NULL, NULL, tests },
	CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	return tn_test_main(argc, argv, suites);
}
