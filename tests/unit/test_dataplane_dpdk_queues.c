/* tests/unit/test_dataplane_dpdk_queues.c: a DPDK port's worker queues
 * (dp_port.h, "worker queues"; dp_dpdk.c) on net_tap, whose kernel side is
 * a multi-queue tap in a private network namespace (root only: skipped
 * otherwise; built only when meson finds libdpdk; the EAL runs once per
 * process, so this is one test in a binary of its own).
 *
 * The kernel sends from FLOWS sockets (distinct source ports, so the tap
 * spreads them over its queues) PER_FLOW datagrams each to the workers' port,
 * and PEER_DGRAMS to a port of the owner's. Polling the owner and both worker
 * queues must deliver every native datagram exactly once, on a worker queue
 * only (those that reached queue 0 are handed over), and every peer datagram
 * to the owner only (those that reached a worker queue are handed back). Each
 * native datagram is echoed from its worker queue to the source MAC it came
 * from, and every echo must reach the kernel socket it came from: replies
 * need no ARP of the worker's own, and with the tap's checksum offload the
 * kernel accepts them. The port runs with tern.polling=busy: a worker queue
 * never asks its worker to sleep, even when quiet (adaptive polling's
 * back-off is checked by the integration test, in idle_sleeps). Each queue
 * takes its mbufs from the pool of its worker's CPU's NUMA node, and every
 * mbuf the run took is back in its pool at the end. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "dataplane/dp_port.h"
#include "tests/lib/tn_dpdk_test.h"
#include "tests/lib/tn_test.h"

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define KIFACE "tnuq0"         /* the kernel side of net_tap */
#define NATIVE_PORT 2181
#define PEER_PORT 2888
#define FLOWS 16u
#define PER_FLOW 8u
#define PEER_DGRAMS 4u
#define WORKERS 2u
#define TURNS_MAX 20000u       /* polls of all three queues (1 ms apart when idle) */

static unsigned wakes[WORKERS];

static void on_wake(void *arg)
{
	wakes[(unsigned)(uintptr_t)arg]++;
}

/* A datagram's payload: "flow:seq". */
static bool parse(const uint8_t *p, size_t len, unsigned *flow, unsigned *seq)
{
	char b[32];
	if (len == 0 || len >= sizeof b)
		return false;
	memcpy(b, p, len);
	b[len] = 0;
	return sscanf(b, "%u:%u", flow, seq) == 2 && *flow < FLOWS && *seq < PER_FLOW;
}

/* The NUMA node sysfs gives the CPU dp_worker_cpu pins worker @i to, or -1. */
static int worker_node(unsigned i)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	char path[96];

	for (int node = 0; cpus > 0 && node < 64; node++) {
		snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/node%d",
			 (long)i % cpus, node);
		if (access(path, F_OK) == 0)
			return node;
	}
	return -1;
}

static void test_worker_queues(void)
{
	struct dp_port_cfg c = { .kind = DP_PORT_DPDK, .ip = IP4(10, 78, 0, 1),
				 .udp_ports = { PEER_PORT }, .udp_port_count = 1,
				 .dgram_max = DP_PORT_DGRAM_MAX, .netmask = IP4(255, 255, 255, 0),
				 .mbufs = 2048, .dev = "net_tap0", .exc = DP_PORT_EXC_NONE,
				 .worker_queues = WORKERS, .worker_udp_port = NATIVE_PORT,
				 .busy_poll = true };
	struct dp_port *p = NULL;
	struct dp_portq *q[WORKERS];
	int socks[FLOWS], peer_sock = -1;
	uint8_t seen[FLOWS][PER_FLOW] = { { 0 } };
	unsigned native = 0, dup = 0, wrong_place = 0, peer = 0, per_q[WORKERS] = { 0 };
	uint64_t free_before[WORKERS];

	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
		printf("\n  skipped: needs root for a private network namespace\n");
		return;
	}
	tn_dpdk_eal(&c, "net_tap0,iface=" KIFACE, "tern-utq");
	int rc = dp_port_open(&p, &c);
	if (rc == -ENODEV || rc == -ENOTSUP) {
		printf("\n  skipped: no net_tap PMD here (%s)\n", strerror(-rc));
		return;
	}
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_EQUAL_FATAL(dp_port_queue_count(p), WORKERS);
	for (unsigned i = 0; i < WORKERS; i++) {
		struct dp_portq_stats qs;
		q[i] = dp_port_queue(p, i);
		dp_portq_set_wake(q[i], on_wake, (void *)(uintptr_t)i);
		dp_portq_thread_attach(q[i]);   /* the EAL main thread: keeps its lcore */
		dp_portq_stats(p, i, &qs);
		CU_ASSERT_TRUE(qs.hw_queue);   /* net_tap has queues enough */
		if (worker_node((unsigned)i) >= 0)
			CU_ASSERT_EQUAL(qs.numa_socket, (uint32_t)worker_node(i));
		free_before[i] = qs.pool_free;
		CU_ASSERT_TRUE(qs.pool_free >= c.mbufs);
	}
	CU_ASSERT_EQUAL_FATAL(system("sysctl -qw net.ipv6.conf." KIFACE ".disable_ipv6=1 "
				     ">/dev/null 2>&1; ip addr add 10.78.0.2/24 dev " KIFACE
				     " && ip link set " KIFACE " up && ip link set lo up"), 0);

	/* the kernel's flows: FLOWS sockets to the workers' port, one to the owner's */
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(NATIVE_PORT),
				  .sin_addr.s_addr = htonl(IP4(10, 78, 0, 1)) };
	struct timeval tv = { .tv_sec = 0, .tv_usec = 1000 };
	for (unsigned f = 0; f < FLOWS; f++) {
		socks[f] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		CU_ASSERT_FATAL(socks[f] >= 0);
		setsockopt(socks[f], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		for (unsigned k = 0; k < PER_FLOW; k++) {
			char b[32];
			int n = snprintf(b, sizeof b, "%u:%u", f, k);
			CU_ASSERT_EQUAL(sendto(socks[f], b, (size_t)n, 0, (struct sockaddr *)&to,
					       sizeof to), n);
		}
	}
	peer_sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(peer_sock >= 0);
	to.sin_port = htons(PEER_PORT);
	for (unsigned k = 0; k < PEER_DGRAMS; k++)
		CU_ASSERT_EQUAL(sendto(peer_sock, "peer", 4, 0, (struct sockaddr *)&to, sizeof to), 4);

	/* poll the owner and the workers until everything came (the kernel
	 * resolves our MAC first: the owner answers its ARP) */
	unsigned echoes[FLOWS] = { 0 }, echoed = 0;
	for (unsigned t = 0; t < TURNS_MAX && (native < FLOWS * PER_FLOW ||
					       peer < PEER_DGRAMS || echoed < FLOWS * PER_FLOW); t++) {
		struct dp_port_dgram d[DP_PORT_BURST_MAX];
		struct dp_portq_dgram g[DP_PORT_BURST_MAX];
		unsigned moved = dp_port_recv(p, d, DP_PORT_BURST_MAX, dp_port_now_us() / 1000u);
		for (unsigned k = 0; k < moved; k++) {
			if (d[k].dst_port == PEER_PORT && d[k].len == 4)
				peer++;
			else
				wrong_place++;   /* a native datagram must never reach the owner */
		}
		for (unsigned i = 0; i < WORKERS; i++) {
			unsigned n = dp_portq_recv(q[i], g, DP_PORT_BURST_MAX);
			moved += n;
			for (unsigned k = 0; k < n; k++) {
				unsigned f, s;
				if (g[k].dst_port != NATIVE_PORT || !parse(g[k].data, g[k].len, &f, &s)) {
					wrong_place++;
					continue;
				}
				if (seen[f][s]++)
					dup++;
				native++;
				per_q[i]++;
				CU_ASSERT_EQUAL(g[k].src.ip, IP4(10, 78, 0, 2));
				CU_ASSERT_EQUAL(dp_portq_send(q[i], g[k].src_mac, &g[k].src, g[k].data,
							      g[k].len), 0);
			}
			dp_portq_flush(q[i]);
		}
		for (unsigned f = 0; f < FLOWS; f++) {
			char b[64];
			ssize_t r;
			while ((r = recv(socks[f], b, sizeof b, MSG_DONTWAIT)) > 0) {
				unsigned ff, s;
				if (parse((const uint8_t *)b, (size_t)r, &ff, &s) && ff == f) {
					echoes[f]++;
					echoed++;
				}
			}
		}
		if (!moved)
			usleep(1000);
	}
	CU_ASSERT_EQUAL(native, FLOWS * PER_FLOW);
	CU_ASSERT_EQUAL(dup, 0);
	CU_ASSERT_EQUAL(wrong_place, 0);
	CU_ASSERT_EQUAL(peer, PEER_DGRAMS);
	CU_ASSERT_EQUAL(echoed, FLOWS * PER_FLOW);
	for (unsigned f = 0; f < FLOWS; f++)
		CU_ASSERT_EQUAL(echoes[f], PER_FLOW);   /* each reply to the socket it answers */

	/* the counters add up: what came in on a worker's device queue or was
	 * handed to it by the owner, and what went out */
	uint64_t in = 0, out = 0, handed = 0, to_owner = 0;
	char text[4096];
	for (unsigned i = 0; i < WORKERS; i++) {
		struct dp_portq_stats qs;
		dp_portq_stats(p, i, &qs);
		in += qs.rx_pkts;
		handed += qs.from_owner;
		to_owner += qs.to_owner;
		out += qs.tx_pkts;
		CU_ASSERT_EQUAL(qs.ring_full, 0);
		CU_ASSERT_EQUAL(qs.drops, 0);
		CU_ASSERT_TRUE(per_q[i] > 0);   /* FLOWS flows: both workers serve some */
		if (qs.from_owner)
			CU_ASSERT_TRUE(wakes[i] > 0);   /* the owner woke the worker it handed to */
	}
	CU_ASSERT_TRUE(in + handed >= FLOWS * PER_FLOW);
	CU_ASSERT_EQUAL(out, FLOWS * PER_FLOW);
	struct dp_port_stats st;
	dp_port_stats(p, &st);
	size_t tl = dp_port_queues_text(p, "zk_t", text, sizeof text);
	CU_ASSERT_TRUE(tl > 0 && strstr(text, "zk_t_q1_rx_packets\t") && strstr(text, "zk_t_q2_hw\t1"));
	printf("\n  native datagrams per worker: %u %u; from queue 0 %llu, handed back %llu; "
	       "tx checksum offload %s\n", per_q[0], per_q[1], (unsigned long long)handed,
	       (unsigned long long)to_owner, st.csum_offload_tx ? "yes" : "no");

	/* every mbuf is back: a receive frees the burst handed up before it */
	dp_port_recv(p, (struct dp_port_dgram[DP_PORT_BURST_MAX]){ 0 }, DP_PORT_BURST_MAX,
		     dp_port_now_us() / 1000u);
	for (unsigned i = 0; i < WORKERS; i++)
		dp_portq_recv(q[i], (struct dp_portq_dgram[DP_PORT_BURST_MAX]){ 0 }, DP_PORT_BURST_MAX);
	for (unsigned i = 0; i < WORKERS; i++) {
		struct dp_portq_stats qs;
		dp_portq_stats(p, i, &qs);
		CU_ASSERT_EQUAL(qs.pool_free, free_before[i]);
		if (qs.pool_free != free_before[i])
			printf("\n  queue %u: %llu mbufs free before, %llu after\n", i,
			       (unsigned long long)free_before[i], (unsigned long long)qs.pool_free);
	}

	/* busy polling: quiet or not, a worker keeps polling its queue */
	usleep(20000);
	CU_ASSERT_EQUAL(dp_portq_idle_us(q[0]), 0);
	CU_ASSERT_EQUAL(dp_portq_idle_us(q[1]), 0);
	CU_ASSERT_EQUAL(dp_port_idle_us(p), 0);
	for (unsigned f = 0; f < FLOWS; f++)
		close(socks[f]);
	close(peer_sock);
	dp_port_close(p);
}

static CU_TestInfo tests[] = {
	{ "worker_queues", test_worker_queues },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "dp_dpdk_queues", NULL, NULL, NULL, NULL, tests },
	CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	return tn_test_main(argc, argv, suites);
}
