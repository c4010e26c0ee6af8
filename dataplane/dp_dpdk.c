/* dataplane/dp_dpdk.c: the DPDK backend of dp_port (see dp_port.h).
 *
 * One rte_ethdev port. Queue 0 is owned by the thread that polls the
 * dp_port (the control thread; the EAL main lcore is the thread that opened
 * the port, whose CPU affinity we put back afterwards so three servers on a
 * 2-core machine are not all pinned to core 0). With worker_queues W, queues
 * 1..W go to the workers (dp_portq, "Worker queues" below and in dp_port.h).
 *
 * RX: a burst of mbufs; each frame goes through dp_net_parse. ARP requests
 * for our IP are answered and their sender learnt, replies learnt (packets
 * waiting for that IP leave); UDP to one of our ports is handed up zero-copy
 * (the mbufs are freed on the next receive); frames that are not tern's go
 * to the kernel through the exception tap when there is one (dp_exc.h: ARP
 * is copied there too so the kernel learns its neighbours), and are dropped
 * and counted otherwise; malformed frames are dropped and counted by reason.
 * Checksums are checked by the port when it offers that, in software
 * otherwise. Each receive first moves up to DP_EXC_BURST_MAX frames the
 * kernel wrote to the tap out of the port (never blocking: the tap is
 * non-blocking, a full one drops and counts).
 *
 * TX: the next hop is the destination on our subnet, the gateway otherwise.
 * Resolved: the frame is built into an mbuf and joins the TX burst. Not
 * resolved: the frame waits in the ARP cache (up to DP_NET_ARP_QUEUE_MAX per
 * IP) and a request goes out; when the reply comes its destination MAC is
 * filled in and it is sent, or after DP_NET_ARP_PENDING_MS it is dropped and
 * counted (dp_rel retransmits). UDP checksums are offloaded when the port
 * offers it.
 *
 * Adaptive polling: the owner polls at once while frames flow and sleeps
 * longer as the port stays quiet (dpdk_idle_us). Where the PMD has Rx
 * interrupts the quiet port instead arms queue 0's interrupt, polls once
 * more (a frame that beat the enable raised none), and offers an epoll fd
 * the owner sleeps on (dpdk_fds); the next receive disarms it. Without
 * them (af_packet, net_null) the sleep stays, and the open says so once.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_epoll.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "common/tn_assert.h"
#include "common/tn_log.h"
#include "dataplane/dp.h"
#include "dataplane/dp_exc.h"
#include "dataplane/dp_net.h"
#include "dataplane/dp_port_int.h"

#define DPDK_RXD 512u
#define DPDK_TXD 512u
#define DPDK_MBUF_CACHE 64u
#define DPDK_ARP_CAP 256u
#define DPDK_ARP_TTL_MS 60000u
#define DPDK_ARP_EXPIRE_EVERY_MS 100u
#define DPDK_IDLE_SPIN_US 300u        /* adaptive: keep polling this long after traffic */
#define DPDK_IDLE_SLOPE 4u            /* then sleep 1/4 of the idle time so far (capped) */
#define DPDK_Q_SPIN_US 50u            /* a worker queue: its loop already spun DP_SPIN_TURNS */
#define DPDK_NAME_MAX 128u
#define DPDK_INTR_AFTER_US 2000u      /* Rx interrupts: arm after this long without frames */
#define DPDK_INTR_SLEEP_US 10000u     /* armed: sleep at most this (a lost interrupt costs this) */
#define DPDK_INTR_EVENTS 4
#define DPDK_L2_L3_LEN (DP_NET_ETH_HDR_LEN + DP_NET_IP4_HDR_LEN + DP_NET_UDP_HDR_LEN)
#define DPDK_QUEUES_MAX 64u           /* worker queues (DP_WORKERS_MAX) */
#define DPDK_RING 1024u               /* frames one hand-over ring holds (power of two) */
#define DPDK_SOCKETS_MAX 8u           /* NUMA sockets with an mbuf pool of their own */

struct dpdk;

/* A worker's queue. Fields under "worker" are written by the worker thread
 * only, those under "owner" by the owner thread only. */
struct dpdk_q {
	struct dp_portq pub;
	struct dpdk *d;
	int hwq;                      /* device queue; -1: the software ring only */
	unsigned sock;                /* NUMA socket of its worker's CPU */
	struct rte_mempool *pool;     /* that socket's: its RX descriptors and TX frames */
	struct rte_ring *in;          /* owner -> worker: native datagrams of queue 0 */
	void (*wake)(void *arg);
	void *wake_arg;
	/* worker */
	struct rte_mbuf *held[DP_PORT_BURST_MAX];
	unsigned nheld;
	struct rte_mbuf *tx[DP_PORT_BURST_MAX];
	unsigned ntx;
	uint16_t ip_id;
	uint64_t last_rx_us;
	bool registered;              /* rte_thread_register'ed: an mbuf cache of its own */
	int intr_epfd;                /* Rx interrupt of hwq (PMD has them): epoll fd; -1: none */
	enum { QI_OFF, QI_ARMING, QI_ARMED } intr;
	struct dp_portq_stats st;
	/* owner */
	uint64_t from_owner, in_full;
};

static bool eal_up;           /* rte_eal_init is once per process */
static unsigned eal_ports;    /* ports open: the EAL is cleaned up after the last */

struct dpdk {
	uint16_t port_id;
	struct rte_mempool *pool;     /* the owner's (queue 0): pools[nic_sock] */
	struct rte_mempool *pools[DPDK_SOCKETS_MAX];
	unsigned nic_sock;            /* the NIC's NUMA socket (a vdev: the owner's) */
	struct dp_net_cfg me;
	uint32_t netmask, gateway;
	struct dp_net_arp_cache *arp;
	struct rte_mbuf *held[DP_PORT_BURST_MAX];   /* handed up, freed next receive */
	unsigned nheld;
	struct rte_mbuf *tx[DP_PORT_BURST_MAX];
	unsigned ntx;
	uint16_t ip_id;
	bool rx_csum, tx_udp_csum;
	uint64_t idle_polls;
	uint64_t last_rx_us;          /* adaptive polling: when a burst last brought frames */
	uint64_t next_expire_ms;
	uint32_t frame_max;           /* longest frame accepted: tern's largest, or the MTU's */
	int tap_fd;                   /* exception path; -1: none */
	int intr_epfd;                /* Rx interrupts (PMD has them): epoll fd; -1: none */
	enum { INTR_OFF, INTR_ARMING, INTR_ARMED } intr;
	struct dp_port *p;
	/* worker queues */
	unsigned nq;                  /* cfg.worker_queues */
	unsigned hw_queues;           /* device queues configured (1 + workers that have one) */
	struct dpdk_q *q;
	struct rte_ring *to_owner;    /* workers -> owner: frames of queues 1.. that are not theirs */
	struct rte_ring *to_owner_tx; /* workers without a device queue -> owner's TX queue */
	int owner_efd;                /* workers poke it after handing the owner frames */
};

static void arp_drop(void *ctx, void *pkt)
{
	struct dpdk *d = ctx;
	d->p->st.drop[DP_PORT_DROP_ARP_WAIT]++;
	rte_pktmbuf_free(pkt);
}

static void tx_push(struct dp_port *p, struct rte_mbuf *m, uint64_t now_ms);

static void dpdk_flush(struct dp_port *p, uint64_t now_ms)
{
	struct dpdk *d = p->be;
	(void)now_ms;
	if (!d->ntx)
		return;
	uint16_t sent = rte_eth_tx_burst(d->port_id, 0, d->tx, (uint16_t)d->ntx);
	p->st.tx_bursts++;
	for (unsigned i = 0; i < sent; i++) {
		p->st.tx_pkts++;
		p->st.tx_bytes += rte_pktmbuf_pkt_len(d->tx[i]);
	}
	for (unsigned i = sent; i < d->ntx; i++) {   /* ring full: drop, dp_rel resends */
		p->st.tx_full++;
		rte_pktmbuf_free(d->tx[i]);
	}
	d->ntx = 0;
}

static void tx_push(struct dp_port *p, struct rte_mbuf *m, uint64_t now_ms)
{
	struct dpdk *d = p->be;
	if (d->ntx == DP_PORT_BURST_MAX)
		dpdk_flush(p, now_ms);
	d->tx[d->ntx++] = m;
	TN_ASSERT_HOT(d->ntx <= DP_PORT_BURST_MAX);
}

static struct rte_mbuf *frame_alloc(struct dp_port *p, uint8_t **buf, size_t *cap)
{
	struct dpdk *d = p->be;
	struct rte_mbuf *m = rte_pktmbuf_alloc(d->pool);
	if (!m) {
		p->st.tx_full++;
		return NULL;
	}
	*buf = rte_pktmbuf_mtod(m, uint8_t *);
	*cap = rte_pktmbuf_tailroom(m);
	return m;
}

static void frame_done(struct rte_mbuf *m, int len)
{
	m->data_len = (uint16_t)len;
	m->pkt_len = (uint32_t)len;
}

static void arp_request(struct dp_port *p, uint32_t ip, uint64_t now_ms)
{
	struct dpdk *d = p->be;
	uint8_t *buf;
	size_t cap;
	struct rte_mbuf *m = frame_alloc(p, &buf, &cap);
	if (!m)
		return;
	int len = dp_net_build_arp_request(buf, cap, &d->me, ip, false, 0);
	if (len < 0) {
		rte_pktmbuf_free(m);
		return;
	}
	frame_done(m, len);
	p->st.arp_req_tx++;
	tx_push(p, m, now_ms);
}

/* A gratuitous ARP reply (sender = target = our IP, broadcast): peers that
 * are up learn our MAC at once instead of after a resolution round. */
static void arp_announce(struct dp_port *p, uint64_t now_ms)
{
	struct dpdk *d = p->be;
	uint8_t *buf;
	size_t cap;
	struct rte_mbuf *m = frame_alloc(p, &buf, &cap);
	if (!m)
		return;
	int len = dp_net_build_arp_request(buf, cap, &d->me, d->me.ip, false, 0);
	if (len < (int)(DP_NET_ETH_HDR_LEN + DP_NET_ARP_LEN)) {
		rte_pktmbuf_free(m);
		return;
	}
	buf[DP_NET_ETH_HDR_LEN + 7] = 2;   /* op: reply (RFC 5227 announcement) */
	frame_done(m, len);
	tx_push(p, m, now_ms);
	dpdk_flush(p, now_ms);
}

/* Frames that waited for an ARP answer: fill in the MAC and send. */
static void arp_release(struct dp_port *p, void **ready, int n, const uint8_t *mac,
			uint64_t now_ms)
{
	for (int i = 0; i < n; i++) {
		struct rte_mbuf *m = ready[i];
		memcpy(rte_pktmbuf_mtod(m, uint8_t *), mac, DP_NET_MAC_LEN);
		tx_push(p, m, now_ms);
	}
}

static void learn(struct dp_port *p, const struct dp_net_arp *a, uint64_t now_ms)
{
	struct dpdk *d = p->be;
	void *ready[DP_NET_ARP_QUEUE_MAX];
	if (a->spa == 0)
		return;   /* a probe */
	int n = dp_net_arp_insert(d->arp, a->spa, a->sha, now_ms, ready, DP_NET_ARP_QUEUE_MAX);
	if (n < 0)
		return;
	p->st.arp_learn++;
	arp_release(p, ready, n, a->sha, now_ms);
}

static enum dp_port_drop drop_reason(enum dp_net_drop r)
{
	switch (r) {
	case DP_NET_DROP_RUNT:
	case DP_NET_DROP_IP_SHORT:
	case DP_NET_DROP_UDP_SHORT:
		return DP_PORT_DROP_RUNT;
	case DP_NET_DROP_ETH_DST:
	case DP_NET_DROP_ETH_SRC:
	case DP_NET_DROP_VLAN:
		return DP_PORT_DROP_MAC;
	case DP_NET_DROP_ARP_SHORT:
	case DP_NET_DROP_ARP_FORMAT:
	case DP_NET_DROP_ARP_OP:
	case DP_NET_DROP_ARP_SENDER:
		return DP_PORT_DROP_ARP;
	case DP_NET_DROP_IP_CSUM:
	case DP_NET_DROP_UDP_CSUM:
		return DP_PORT_DROP_CSUM;
	case DP_NET_DROP_IP_FRAG:
		return DP_PORT_DROP_FRAG;
	default:
		return DP_PORT_DROP_IP;
	}
}

/* The worker queue of a client flow: the same flow always the same worker. */
static unsigned flow_queue(const struct dpdk *d, uint32_t ip, uint16_t port)
{
	uint64_t h = ((uint64_t)ip << 16 | port) * 0x9e3779b97f4a7c15ull;
	return (unsigned)((h >> 32) % d->nq);
}

/* Frames of workers without a device queue leave through queue 0. */
static void owner_tx_drain(struct dp_port *p, uint64_t now_ms)
{
	struct dpdk *d = p->be;
	struct rte_mbuf *m[DP_PORT_BURST_MAX];
	unsigned n = rte_ring_sc_dequeue_burst(d->to_owner_tx, (void **)m, DP_PORT_BURST_MAX, NULL);
	for (unsigned i = 0; i < n; i++)
		tx_push(p, m[i], now_ms);
}

/* Rx interrupts. Arming enables the queue's interrupt and then polls once
 * more (INTR_ARMING): a frame that came in before the enable raised none,
 * so only an empty poll after it makes sleeping on the interrupt safe. */
static void intr_arm(struct dp_port *p)
{
	struct dpdk *d = p->be;
	/* -ENOTSUP: a PMD whose event is always on (net_tap: its queue fd) */
	int rc = rte_eth_dev_rx_intr_enable(d->port_id, 0);
	if (rc < 0 && rc != -ENOTSUP)
		return;   /* keep the adaptive sleep */
	d->intr = INTR_ARMING;
}

static void intr_disarm(struct dp_port *p)
{
	struct dpdk *d = p->be;
	struct rte_epoll_event ev[DPDK_INTR_EVENTS];
	int n = rte_epoll_wait(d->intr_epfd, ev, DPDK_INTR_EVENTS, 0);   /* clears the event */
	if (n > 0)
		p->st.rx_intr_wakeups++;
	rte_eth_dev_rx_intr_disable(d->port_id, 0);   /* -ENOTSUP: always on, nothing to do */
	d->intr = INTR_OFF;
}

/* A frame that is (also) the kernel's: into the tap, never blocking. */
static void exc_to_kernel(struct dp_port *p, const uint8_t *frame, size_t len)
{
	struct dpdk *d = p->be;
	TN_ASSERT_HOT(d->tap_fd >= 0 && len <= d->frame_max);
	int rc = dp_exc_tap_write(d->tap_fd, frame, len);
	if (rc == 0)
		p->st.exc_to_kernel++;
	else if (rc == -EAGAIN || rc == -ENOBUFS)
		p->st.exc_tap_full++;
	else
		p->st.exc_errors++;
}

/* What the kernel sent into the tap, out of the port: at most
 * DP_EXC_BURST_MAX frames per turn so tern's own traffic is never starved.
 * Return the frames taken. */
static unsigned exc_from_kernel(struct dp_port *p, uint64_t now_ms)
{
	struct dpdk *d = p->be;
	unsigned taken = 0;

	for (unsigned i = 0; i < DP_EXC_BURST_MAX; i++) {
		uint8_t *buf;
		size_t cap;
		struct rte_mbuf *m = rte_pktmbuf_alloc(d->pool);
		if (!m) {   /* leave the frames in the tap: next turn */
			p->st.exc_errors++;
			break;
		}
		buf = rte_pktmbuf_mtod(m, uint8_t *);
		cap = rte_pktmbuf_tailroom(m);
		ssize_t r = dp_exc_tap_read(d->tap_fd, buf, cap);
		if (r == 0) {
			rte_pktmbuf_free(m);
			break;
		}
		if (r < 0) {
			rte_pktmbuf_free(m);
			p->st.exc_errors++;
			if (r == -EMSGSIZE || r == -EBADMSG)
				continue;   /* that frame is gone; the next may be fine */
			break;
		}
		TN_ASSERT_HOT((size_t)r < cap && (size_t)r >= DP_NET_ETH_HDR_LEN);
		if (memcmp(buf + DP_NET_MAC_LEN, d->me.mac, DP_NET_MAC_LEN) != 0) {
			/* not from the tap's own MAC (bridged, or its MAC changed):
			 * the port speaks for its own address only */
			rte_pktmbuf_free(m);
			p->st.exc_errors++;
			continue;
		}
		frame_done(m, (int)r);
		p->st.exc_from_kernel++;
		taken++;
		tx_push(p, m, now_ms);
	}
	if (taken)
		dpdk_flush(p, now_ms);
	return taken;
}

static unsigned dpdk_recv(struct dp_port *p, struct dp_port_dgram *out, unsigned max,
			  uint64_t now_ms)
{
	struct dpdk *d = p->be;
	struct rte_mbuf *rx[DP_PORT_BURST_MAX];
	unsigned got = 0;

	for (unsigned i = 0; i < d->nheld; i++)
		rte_pktmbuf_free(d->held[i]);
	d->nheld = 0;
	bool arming = d->intr == INTR_ARMING;
	if (d->intr == INTR_ARMED)
		intr_disarm(p);   /* woken (interrupt, tap, timer): poll again */
	if (now_ms >= d->next_expire_ms) {
		dp_net_arp_expire(d->arp, now_ms);
		d->next_expire_ms = now_ms + DPDK_ARP_EXPIRE_EVERY_MS;
	}
	if (d->tap_fd >= 0 && exc_from_kernel(p, now_ms) > 0)
		d->last_rx_us = dp_port_now_us();   /* the kernel is talking: keep polling */
	unsigned n = 0;
	if (d->nq) {   /* what the workers handed over first: it waited longest */
		uint64_t ev;
		if (read(d->owner_efd, &ev, sizeof ev) < 0) { /* EAGAIN: nobody poked */ }
		owner_tx_drain(p, now_ms);
		n = rte_ring_sc_dequeue_burst(d->to_owner, (void **)rx,
					      TN_MIN(max, DP_PORT_BURST_MAX), NULL);
	}
	n += rte_eth_rx_burst(d->port_id, 0, rx + n, (uint16_t)(TN_MIN(max, DP_PORT_BURST_MAX) - n));
	uint64_t woken = 0;   /* worker queues handed datagrams in this burst */
	if (n == 0) {
		d->idle_polls++;
		if (arming) {   /* nothing came in after the interrupt was enabled: sleep on it */
			d->intr = INTR_ARMED;
			p->st.rx_intr_sleeps++;
		} else if (d->intr_epfd >= 0 && !p->cfg.busy_poll &&
			 dp_port_now_us() - d->last_rx_us >= DPDK_INTR_AFTER_US)
			intr_arm(p);
		return 0;
	}
	if (arming)
		intr_disarm(p);
	d->idle_polls = 0;
	d->last_rx_us = dp_port_now_us();
	p->st.rx_bursts++;
	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = rx[i];
		struct dp_net_pkt pkt;
		struct dp_net_cfg me = d->me;
		bool keep = false;

		if (m->nb_segs != 1 || rte_pktmbuf_pkt_len(m) > d->frame_max) {
			p->st.drop[DP_PORT_DROP_TRUNC]++;   /* over the MTU: nobody's */
			rte_pktmbuf_free(m);
			continue;
		}
		if (d->rx_csum) {
			uint64_t f = m->ol_flags;
			if ((f & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_BAD ||
			    (f & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_BAD) {
				p->st.drop[DP_PORT_DROP_CSUM]++;
				rte_pktmbuf_free(m);
				continue;
			}
			me.rx_csum_verified =
				(f & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD &&
				(f & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD;
		}
		const uint8_t *frame = rte_pktmbuf_mtod(m, const uint8_t *);
		size_t len = rte_pktmbuf_data_len(m);
		p->st.rx_pkts++;
		p->st.rx_bytes += len;
		int kind = dp_net_parse(frame, len, &me, &pkt);
		enum dp_exc_route route = dp_exc_route((enum dp_net_kind)kind, d->tap_fd >= 0);
		if (route == DP_EXC_KERNEL || route == DP_EXC_BOTH)
			exc_to_kernel(p, frame, len);
		if (route == DP_EXC_KERNEL)
			kind = DP_NET_KIND_COUNT;   /* the kernel's alone: nothing more here */
		switch (kind) {
		case DP_NET_KIND_COUNT:
			break;
		case DP_NET_ARP_REQ_FOR_US: {
			uint8_t *buf;
			size_t cap;
			p->st.arp_req_rx++;
			learn(p, &pkt.arp, now_ms);
			struct rte_mbuf *r = frame_alloc(p, &buf, &cap);
			int rl = r ? dp_net_build_arp_reply(buf, cap, &d->me, &pkt) : -ENOBUFS;
			if (rl > 0) {
				frame_done(r, rl);
				p->st.arp_reply_tx++;
				tx_push(p, r, now_ms);
			} else if (r) {
				rte_pktmbuf_free(r);
			}
			break;
		}
		case DP_NET_ARP_REPLY:
			p->st.arp_reply_rx++;
			learn(p, &pkt.arp, now_ms);
			break;
		case DP_NET_UDP_FOR_US:
			/* never the kernel's too: it would answer ICMP port unreachable */
			TN_ASSERT_HOT(route == DP_EXC_TERN);
			if (pkt.udp.payload_len > p->cfg.dgram_max) {
				p->st.drop[DP_PORT_DROP_TRUNC]++;
				break;
			}
			if (d->nq && pkt.udp.dst_port == p->cfg.worker_udp_port) {
				unsigned qi = flow_queue(d, pkt.udp.src_ip, pkt.udp.src_port);
				struct dpdk_q *q = &d->q[qi];
				if (rte_ring_sp_enqueue(q->in, m) == 0) {
					q->from_owner++;
					woken |= 1ull << qi;
					continue;   /* the worker's now */
				}
				q->in_full++;
				break;
			}
			if (pkt.udp.payload_len > p->cfg.dgram_max) {
				p->st.drop[DP_PORT_DROP_TRUNC]++;
				break;
			}
			out[got++] = (struct dp_port_dgram){
				.src = { .ip = pkt.udp.src_ip, .port = pkt.udp.src_port },
				.dst_port = pkt.udp.dst_port, .data = pkt.udp.payload,
				.len = pkt.udp.payload_len };
			keep = true;
			break;
		case DP_NET_NOT_OURS:
			p->st.drop[DP_PORT_DROP_NOT_OURS]++;
			break;
		default:
			p->st.drop[drop_reason(pkt.drop)]++;
			break;
		}
		if (keep)
			d->held[d->nheld++] = m;
		else
			rte_pktmbuf_free(m);
	}
	dpdk_flush(p, now_ms);   /* ARP answers and released frames */
	for (unsigned qi = 0; woken && qi < d->nq; qi++, woken >>= 1)
		if ((woken & 1) && d->q[qi].wake)
			d->q[qi].wake(d->q[qi].wake_arg);
	TN_ASSERT_HOT(got <= max && d->nheld <= DP_PORT_BURST_MAX);
	return got;
}

/* The port sums the UDP datagram from the pseudo-header. */
static void tx_csum_offload(struct rte_mbuf *m)
{
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *,
							  DP_NET_ETH_HDR_LEN);
	struct rte_udp_hdr *uh = rte_pktmbuf_mtod_offset(m, struct rte_udp_hdr *,
							 DP_NET_ETH_HDR_LEN + DP_NET_IP4_HDR_LEN);
	m->l2_len = DP_NET_ETH_HDR_LEN;
	m->l3_len = DP_NET_IP4_HDR_LEN;
	m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_UDP_CKSUM;
	uh->dgram_cksum = rte_ipv4_phdr_cksum(ip, m->ol_flags);
}

/* Our Ethernet/IPv4/UDP frame to @dst at @dst_mac in @m, checksummed or
 * marked for the port's offload. Return the frame length, or -errno with
 * @m freed. */
static int udp_frame(struct dpdk *d, struct rte_mbuf *m, const uint8_t *dst_mac,
		     const struct dp_port_addr *dst, uint16_t src_port, uint16_t ip_id,
		     const void *data, size_t len)
{
	struct dp_net_l2 l2 = { 0 };
	memcpy(l2.src, d->me.mac, DP_NET_MAC_LEN);
	memcpy(l2.dst, dst_mac, DP_NET_MAC_LEN);
	struct dp_net_udp u = { .src_ip = d->me.ip, .dst_ip = dst->ip, .src_port = src_port,
				.dst_port = dst->port };
	int fl = dp_net_build_udp(rte_pktmbuf_mtod(m, uint8_t *), rte_pktmbuf_tailroom(m), &l2, &u,
				  ip_id, data, len, !d->tx_udp_csum);
	if (fl < 0) {
		rte_pktmbuf_free(m);
		return fl;
	}
	frame_done(m, fl);
	if (d->tx_udp_csum)
		tx_csum_offload(m);
	return fl;
}

static int dpdk_send(struct dp_port *p, uint16_t src_port, const struct dp_port_addr *dst,
		     const void *data, size_t len, uint64_t now_ms)
{
	struct dpdk *d = p->be;
	uint32_t hop = dst->ip;
	uint8_t mac[DP_NET_MAC_LEN] = { 0 };
	uint8_t *buf;
	size_t cap;

	if (len > p->cfg.dgram_max)
		return -EMSGSIZE;
	if (now_ms == 0)
		now_ms = dp_port_now_us() / 1000u;
	if ((hop & d->netmask) != (d->me.ip & d->netmask)) {
		if (!d->gateway) {
			p->st.drop[DP_PORT_DROP_NOROUTE]++;
			return -ENOBUFS;
		}
		hop = d->gateway;
	}
	int found = dp_net_arp_lookup(d->arp, hop, now_ms, mac);
	struct rte_mbuf *m = frame_alloc(p, &buf, &cap);
	if (!m)
		return -ENOBUFS;
	/* the MAC is zero until resolved: patched then */
	int fl = udp_frame(d, m, mac, dst, src_port, d->ip_id++, data, len);
	if (fl < 0)
		return fl;
	if (found == 0) {
		tx_push(p, m, now_ms);
		return 0;
	}
	int q = dp_net_arp_queue(d->arp, hop, m, now_ms);
	if (q == 1) {
		arp_request(p, hop, now_ms);
	} else if (q == -EEXIST) {   /* resolved meanwhile: cannot happen on one thread */
		tx_push(p, m, now_ms);
	} else if (q < 0) {
		p->st.drop[DP_PORT_DROP_ARP_WAIT]++;
		rte_pktmbuf_free(m);
		return -ENOBUFS;
	}
	return 0;
}

/* The tap, when there is one: the kernel's frames wake the owner at once
 * instead of at the next adaptive poll. The port itself has no fd. */
static unsigned dpdk_fds(const struct dp_port *p, int *fds)
{
	const struct dpdk *d = p->be;
	unsigned n = 0;
	if (d->tap_fd >= 0)
		fds[n++] = d->tap_fd;
	if (d->intr == INTR_ARMED)   /* only then: a stale event must not spin the owner */
		fds[n++] = d->intr_epfd;
	if (d->owner_efd >= 0)       /* a worker handed frames over */
		fds[n++] = d->owner_efd;
	TN_ASSERT_HOT(n <= DP_PORT_UDP_PORTS_MAX);
	return n;
}

static uint64_t dpdk_idle_us(const struct dp_port *p)
{
	const struct dpdk *d = p->be;
	uint64_t idle = dp_port_now_us() - d->last_rx_us;
	/* a reply usually follows within a round trip: spin through it, then
	 * sleep longer the longer the port has been quiet */
	if (p->cfg.busy_poll || idle < DPDK_IDLE_SPIN_US || d->intr == INTR_ARMING)
		return 0;
	if (d->intr == INTR_ARMED)
		return DPDK_INTR_SLEEP_US;   /* the interrupt wakes the owner sooner */
	return TN_MIN((idle - DPDK_IDLE_SPIN_US) / DPDK_IDLE_SLOPE + 1, DP_PORT_IDLE_US_MAX);
}

static void queues_close(struct dpdk *d);
static void pools_free(struct dpdk *d);

static void dpdk_close(struct dp_port *p)
{
	struct dpdk *d = p->be;
	if (!d)
		return;
	queues_close(d);
	for (unsigned i = 0; i < d->nheld; i++)
		rte_pktmbuf_free(d->held[i]);
	for (unsigned i = 0; i < d->ntx; i++)
		rte_pktmbuf_free(d->tx[i]);
	dp_net_arp_destroy(d->arp);
	dp_exc_tap_close(d->tap_fd);
	if (d->intr_epfd >= 0) {
		rte_eth_dev_rx_intr_ctl_q(d->port_id, 0, d->intr_epfd, RTE_INTR_EVENT_DEL, NULL);
		close(d->intr_epfd);
	}
	rte_eth_dev_stop(d->port_id);
	rte_eth_dev_close(d->port_id);
	pools_free(d);
	free(d);
	p->be = NULL;
	if (--eal_ports == 0 && eal_up) {
		rte_eal_cleanup();
		eal_up = false;   /* DPDK 22.11 cannot init again; a restart is a new process */
	}
}


/* ---- worker queues ---- */

static void owner_poke(struct dpdk *d)
{
	uint64_t one = 1;
	if (write(d->owner_efd, &one, sizeof one) < 0) { /* EAGAIN: already poked */ }
}

static void q_set_wake(struct dp_portq *pq, void (*wake)(void *arg), void *arg)
{
	struct dpdk_q *q = (struct dpdk_q *)pq;
	q->wake_arg = arg;
	q->wake = wake;
}

static void q_thread_attach(struct dp_portq *pq)
{
	struct dpdk_q *q = (struct dpdk_q *)pq;
	/* an lcore id for this thread: the mbuf pool's per-lcore cache instead
	 * of its shared ring on every alloc/free (kept until the process ends) */
	q->registered = rte_lcore_id() != LCORE_ID_ANY || rte_thread_register() == 0;
}

/* A worker queue's Rx interrupt, as queue 0's (intr_arm/intr_disarm). */
static void q_intr_disarm(struct dpdk_q *q)
{
	struct rte_epoll_event ev[DPDK_INTR_EVENTS];
	if (rte_epoll_wait(q->intr_epfd, ev, DPDK_INTR_EVENTS, 0) > 0)   /* clears the event */
		q->st.intr_wakeups++;
	rte_eth_dev_rx_intr_disable(q->d->port_id, (uint16_t)q->hwq);
	q->intr = QI_OFF;
}

static unsigned q_recv(struct dp_portq *pq, struct dp_portq_dgram *out, unsigned max)
{
	struct dpdk_q *q = (struct dpdk_q *)pq;
	struct dpdk *d = q->d;
	struct rte_mbuf *rx[DP_PORT_BURST_MAX];
	unsigned got = 0, handed = 0;

	for (unsigned i = 0; i < q->nheld; i++)
		rte_pktmbuf_free(q->held[i]);
	q->nheld = 0;
	bool arming = q->intr == QI_ARMING;
	if (q->intr == QI_ARMED)
		q_intr_disarm(q);   /* woken (interrupt or the owner): poll again */
	max = TN_MIN(max, DP_PORT_BURST_MAX);
	unsigned nin = rte_ring_sc_dequeue_burst(q->in, (void **)rx, max, NULL);
	unsigned n = nin;
	if (q->hwq >= 0)
		n += rte_eth_rx_burst(d->port_id, (uint16_t)q->hwq, rx + n, (uint16_t)(max - n));
	if (n == 0) {
		if (arming) {   /* nothing came after the enable: sleeping on it is safe */
			q->intr = QI_ARMED;
			q->st.intr_sleeps++;
		}
		return 0;
	}
	if (arming)
		q_intr_disarm(q);
	q->last_rx_us = dp_port_now_us();
	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = rx[i];
		bool from_dev = i >= nin;   /* else the owner classified it already */
		struct dp_net_cfg me = d->me;
		struct dp_net_pkt pkt;
		int kind = DP_NET_DROP;

		if (from_dev) {
			q->st.rx_pkts++;
			q->st.rx_bytes += rte_pktmbuf_pkt_len(m);
		}
		uint64_t f = m->ol_flags;
		bool csum_bad = d->rx_csum &&
				((f & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_BAD ||
				 (f & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_BAD);
		me.rx_csum_verified = d->rx_csum &&
				      (f & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD &&
				      (f & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD;
		if (m->nb_segs == 1 && rte_pktmbuf_pkt_len(m) <= d->frame_max && !csum_bad)
			kind = dp_net_parse(rte_pktmbuf_mtod(m, const uint8_t *),
					    rte_pktmbuf_data_len(m), &me, &pkt);
		if (kind != DP_NET_UDP_FOR_US || pkt.udp.dst_port != d->p->cfg.worker_udp_port ||
		    pkt.udp.payload_len > d->p->cfg.dgram_max) {
			/* ARP, peers, the kernel's, malformed: the owner handles and counts
			 * them all (a frame it handed here is never one of these) */
			if (!from_dev) {
				q->st.drops++;
				rte_pktmbuf_free(m);
			} else if (rte_ring_mp_enqueue(d->to_owner, m) == 0) {
				q->st.to_owner++;
				handed++;
			} else {
				q->st.ring_full++;
				rte_pktmbuf_free(m);
			}
			continue;
		}
		out[got++] = (struct dp_portq_dgram){
			.src = { .ip = pkt.udp.src_ip, .port = pkt.udp.src_port },
			.dst_port = pkt.udp.dst_port, .data = (uint8_t *)pkt.udp.payload,
			.len = pkt.udp.payload_len };
		memcpy(out[got - 1].src_mac, pkt.eth_src, DP_NET_MAC_LEN);
		q->held[q->nheld++] = m;
	}
	if (handed)
		owner_poke(d);
	TN_ASSERT_HOT(got <= max && q->nheld <= DP_PORT_BURST_MAX);
	return got;
}

static void q_flush(struct dp_portq *pq)
{
	struct dpdk_q *q = (struct dpdk_q *)pq;
	struct dpdk *d = q->d;
	unsigned sent;

	if (!q->ntx)
		return;
	if (q->hwq >= 0) {
		sent = rte_eth_tx_burst(d->port_id, (uint16_t)q->hwq, q->tx, (uint16_t)q->ntx);
	} else {
		sent = rte_ring_mp_enqueue_burst(d->to_owner_tx, (void **)q->tx, q->ntx, NULL);
		if (sent)
			owner_poke(d);
	}
	for (unsigned i = 0; i < sent; i++) {
		q->st.tx_pkts++;
		q->st.tx_bytes += rte_pktmbuf_pkt_len(q->tx[i]);
	}
	for (unsigned i = sent; i < q->ntx; i++) {   /* full: lost, the client retries */
		q->st.tx_full++;
		rte_pktmbuf_free(q->tx[i]);
	}
	q->ntx = 0;
}

static int q_send(struct dp_portq *pq, const uint8_t dst_mac[6], const struct dp_port_addr *dst,
		  const void *data, size_t len)
{
	struct dpdk_q *q = (struct dpdk_q *)pq;
	struct dpdk *d = q->d;

	if (len > d->p->cfg.dgram_max)
		return -EMSGSIZE;
	struct rte_mbuf *m = rte_pktmbuf_alloc(q->pool);
	if (!m) {
		q->st.tx_full++;
		return -ENOBUFS;
	}
	int fl = udp_frame(d, m, dst_mac, dst, d->p->cfg.worker_udp_port, q->ip_id++, data, len);
	if (fl < 0)
		return fl;
	if (q->ntx == DP_PORT_BURST_MAX)
		q_flush(pq);
	q->tx[q->ntx++] = m;
	return 0;
}

static uint64_t q_idle_us(struct dp_portq *pq)
{
	struct dpdk_q *q = (struct dpdk_q *)pq;
	if (!rte_ring_empty(q->in))
		return 0;
	if (q->hwq < 0)   /* nothing to poll: the owner wakes us (q->wake) */
		return UINT64_MAX;
	uint64_t idle = dp_port_now_us() - q->last_rx_us;
	if (q->d->p->cfg.busy_poll || idle < DPDK_Q_SPIN_US || q->intr == QI_ARMING)
		return 0;
	if (q->intr == QI_ARMED)
		return UINT64_MAX;   /* the worker sleeps on dp_portq_sleep_fd */
	if (q->intr_epfd >= 0 && idle >= DPDK_INTR_AFTER_US) {
		int rc = rte_eth_dev_rx_intr_enable(q->d->port_id, (uint16_t)q->hwq);
		if (rc == 0 || rc == -ENOTSUP) {   /* -ENOTSUP: always on (net_tap) */
			q->intr = QI_ARMING;
			return 0;   /* one more poll: a frame that beat the enable raised none */
		}
	}
	q->st.idle_sleeps++;
	return TN_MIN(idle - DPDK_Q_SPIN_US + 1, DP_PORT_IDLE_US_MAX);
}

static int q_sleep_fd(const struct dp_portq *pq)
{
	const struct dpdk_q *q = (const struct dpdk_q *)pq;
	return q->intr == QI_ARMED ? q->intr_epfd : -1;
}

static void q_stats(const struct dp_portq *pq, struct dp_portq_stats *out)
{
	const struct dpdk_q *q = (const struct dpdk_q *)pq;
	*out = q->st;   /* relaxed copy, torn reads tolerated like the port's */
	out->from_owner = q->from_owner;
	out->ring_full += q->in_full;
	out->pool_free = q->pool ? rte_mempool_avail_count(q->pool) : 0;
}

static const struct dp_portq_ops q_ops = {
	.set_wake = q_set_wake, .thread_attach = q_thread_attach, .recv = q_recv, .send = q_send, .flush = q_flush,
	.idle_us = q_idle_us, .sleep_fd = q_sleep_fd, .stats = q_stats,
};

static struct dp_portq *dpdk_queue(struct dp_port *p, unsigned i)
{
	struct dpdk *d = p->be;
	TN_ASSERT(i < d->nq);
	return &d->q[i].pub;
}

static void ring_drain_free(struct rte_ring *r)
{
	struct rte_mbuf *m;
	if (!r)
		return;
	while (rte_ring_dequeue(r, (void **)&m) == 0)
		rte_pktmbuf_free(m);
	rte_ring_free(r);
}

/* After the workers stopped: every mbuf still held goes back to the pool. */
static void queues_close(struct dpdk *d)
{
	for (unsigned i = 0; d->q && i < d->nq; i++) {
		struct dpdk_q *q = &d->q[i];
		for (unsigned k = 0; k < q->nheld; k++)
			rte_pktmbuf_free(q->held[k]);
		for (unsigned k = 0; k < q->ntx; k++)
			rte_pktmbuf_free(q->tx[k]);
		ring_drain_free(q->in);
		if (q->intr_epfd >= 0) {
			rte_eth_dev_rx_intr_ctl_q(d->port_id, (uint16_t)q->hwq, q->intr_epfd,
						  RTE_INTR_EVENT_DEL, NULL);
			close(q->intr_epfd);
		}
	}
	free(d->q);
	d->q = NULL;
	ring_drain_free(d->to_owner);
	ring_drain_free(d->to_owner_tx);
	d->to_owner = d->to_owner_tx = NULL;
	if (d->owner_efd >= 0)
		close(d->owner_efd);
	d->owner_efd = -1;
}

/* The NUMA node of @cpu (sysfs lists it as a nodeN entry), or -1. */
static int cpu_socket(int cpu)
{
	char path[64];
	int node = -1;

	snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d", cpu);
	DIR *dir = cpu >= 0 ? opendir(path) : NULL;
	if (!dir)
		return -1;
	for (struct dirent *e; node < 0 && (e = readdir(dir));) {
		unsigned n;
		char tail;
		if (sscanf(e->d_name, "node%u%c", &n, &tail) == 1)
			node = (int)n;
	}
	closedir(dir);
	return node;
}

static int queues_open(struct dpdk *d)
{
	char name[RTE_RING_NAMESIZE];
	int sock = (int)d->nic_sock;

	if (!(d->q = calloc(d->nq, sizeof *d->q)))
		return -ENOMEM;
	for (unsigned i = 0; i < d->nq; i++)
		d->q[i].intr_epfd = -1;   /* before anything can fail: queues_close closes it */
	d->owner_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	snprintf(name, sizeof name, "tern_own%u", d->port_id);
	d->to_owner = rte_ring_create(name, DPDK_RING, sock, RING_F_SC_DEQ);
	snprintf(name, sizeof name, "tern_otx%u", d->port_id);
	d->to_owner_tx = rte_ring_create(name, DPDK_RING, sock, RING_F_SC_DEQ);
	if (d->owner_efd < 0 || !d->to_owner || !d->to_owner_tx)
		return -ENOMEM;
	for (unsigned i = 0; i < d->nq; i++) {
		struct dpdk_q *q = &d->q[i];
		q->pub.ops = &q_ops;
		q->d = d;
		q->hwq = 1 + i < d->hw_queues ? (int)(1 + i) : -1;
		q->st.hw_queue = q->hwq >= 0;
		int ws = cpu_socket(dp_worker_cpu(i));
		q->sock = ws >= 0 && (unsigned)ws < DPDK_SOCKETS_MAX ? (unsigned)ws : d->nic_sock;
		q->st.numa_socket = q->sock;
		snprintf(name, sizeof name, "tern_in%u_%u", d->port_id, i);
		q->in = rte_ring_create(name, DPDK_RING, (int)q->sock,
					RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (!q->in)
			return -ENOMEM;
	}
	return 0;
}

/* One mbuf pool per NUMA socket in use: the owner's queue 0 on the NIC's
 * socket, each worker queue on its worker's CPU's (descriptors and frames
 * where they are read). Each holds cfg.mbufs on top of what its queues'
 * descriptors, hand-over rings and per-lcore caches can hold. */
static int pools_create(struct dpdk *d)
{
	uint32_t need[DPDK_SOCKETS_MAX] = { 0 };
	bool workers_on[DPDK_SOCKETS_MAX] = { false };
	char name[RTE_MEMPOOL_NAMESIZE];

	need[d->nic_sock] = DPDK_RXD + DPDK_TXD + d->nq * DPDK_RING + DPDK_MBUF_CACHE;
	for (unsigned i = 0; i < d->nq; i++) {
		const struct dpdk_q *q = &d->q[i];
		need[q->sock] += (q->hwq >= 0 ? DPDK_RXD + DPDK_TXD : 0) + DPDK_MBUF_CACHE;
		workers_on[q->sock] = true;
	}
	for (unsigned s = 0; s < DPDK_SOCKETS_MAX; s++) {
		if (!need[s])
			continue;
		uint32_t n = d->p->cfg.mbufs + need[s] + (workers_on[s] ? 2 * DPDK_RING : 0);
		snprintf(name, sizeof name, "tern_mb%u_%u", d->port_id, s);
		d->pools[s] = rte_pktmbuf_pool_create(name, n, DPDK_MBUF_CACHE, 0,
						      RTE_MBUF_DEFAULT_BUF_SIZE, (int)s);
		if (!d->pools[s]) {
			TN_ERROR("dpdk", "mbuf pool of %u on socket %u: %s", n, s,
				 rte_strerror(rte_errno));
			return -ENOMEM;
		}
		TN_INFO("dpdk", "mbuf pool on socket %u: %u mbufs", s, n);
	}
	d->pool = d->pools[d->nic_sock];
	for (unsigned i = 0; i < d->nq; i++)
		d->q[i].pool = d->pools[d->q[i].sock];
	return 0;
}

static void pools_free(struct dpdk *d)
{
	for (unsigned s = 0; s < DPDK_SOCKETS_MAX; s++)
		rte_mempool_free(d->pools[s]);
	memset(d->pools, 0, sizeof d->pools);
	d->pool = NULL;
}

static const struct dp_port_ops dpdk_ops = {
	.recv = dpdk_recv, .send = dpdk_send, .flush = dpdk_flush,
	.fds = dpdk_fds, .idle_us = dpdk_idle_us, .close = dpdk_close, .queue = dpdk_queue,
};

static int eal_init(const struct dp_port_cfg *cfg)
{
	char *argv[DP_PORT_EAL_ARGS_MAX + 2];
	cpu_set_t cpus;
	int argc = 0, rc, have_aff;
	static bool tried;

	if (eal_up)
		return 0;
	if (tried)
		return -EALREADY;   /* rte_eal_init runs once per process */
	tried = true;
	argv[argc++] = (char *)"ternd";
	for (unsigned i = 0; i < cfg->eal_argc; i++)
		argv[argc++] = (char *)cfg->eal_argv[i];
	argv[argc] = NULL;
	have_aff = pthread_getaffinity_np(pthread_self(), sizeof cpus, &cpus) == 0;
	rc = rte_eal_init(argc, argv);
	if (have_aff)   /* the EAL pins us to the main lcore: give the threads back their CPUs */
		pthread_setaffinity_np(pthread_self(), sizeof cpus, &cpus);
	if (rc < 0) {
		TN_ERROR("dpdk", "rte_eal_init: %s", rte_strerror(rte_errno));
		return -rte_errno ? -rte_errno : -EINVAL;
	}
	eal_up = true;
	return 0;
}

/* The ethdev of @dev: already probed by the EAL (--vdev, PCI), or probed now. */
static int find_port(const char *dev, uint16_t *port_id)
{
	char name[DPDK_NAME_MAX];
	size_t n = strcspn(dev, ",");

	if (n >= sizeof name)
		return -EINVAL;
	memcpy(name, dev, n);
	name[n] = 0;
	if (rte_eth_dev_get_port_by_name(name, port_id) == 0)
		return 0;
	int rc = rte_dev_probe(dev);
	if (rc < 0) {
		TN_ERROR("dpdk", "cannot probe '%s': %s", dev, rte_strerror(-rc));
		return -ENODEV;
	}
	return rte_eth_dev_get_port_by_name(name, port_id) == 0 ? 0 : -ENODEV;
}

/* Configure hw_queues RX/TX queue pairs and start the device. */
static int port_start(struct dpdk *d, const struct rte_eth_conf *conf)
{
	uint16_t rxd = DPDK_RXD, txd = DPDK_TXD;
	int rc;

	if ((rc = rte_eth_dev_configure(d->port_id, (uint16_t)d->hw_queues, (uint16_t)d->hw_queues,
					conf)) < 0)
		return rc;
	rte_eth_dev_adjust_nb_rx_tx_desc(d->port_id, &rxd, &txd);
	for (uint16_t q = 0; q < d->hw_queues; q++) {
		/* queue 1+i is worker i's: its memory on that worker's socket */
		const struct dpdk_q *wq = q ? &d->q[q - 1] : NULL;
		unsigned sid = wq ? wq->sock : d->nic_sock;
		if ((rc = rte_eth_rx_queue_setup(d->port_id, q, rxd, sid, NULL,
						 wq ? wq->pool : d->pool)) < 0 ||
		    (rc = rte_eth_tx_queue_setup(d->port_id, q, txd, sid, NULL)) < 0)
			return rc;
	}
	return rte_eth_dev_start(d->port_id);
}

/* Rx interrupts of queue 0 into an epoll fd of ours, which the owner polls
 * while the port sleeps (dpdk_fds). Said once either way. */
static void intr_open(struct dp_port *p, struct dpdk *d)
{
	int ep = epoll_create1(EPOLL_CLOEXEC), rc = -EINVAL;

	if (ep >= 0 &&
	    (rc = rte_eth_dev_rx_intr_ctl_q(d->port_id, 0, ep, RTE_INTR_EVENT_ADD, NULL)) == 0) {
		d->intr_epfd = ep;
		p->st.rx_intr = true;
		TN_INFO("dpdk", "adaptive polling sleeps on Rx interrupts after %u µs idle",
			DPDK_INTR_AFTER_US);
		return;
	}
	if (ep >= 0)
		close(ep);
	TN_INFO("dpdk", "the PMD of %s has no Rx interrupts (%s): adaptive polling sleeps up "
		"to %u µs when idle", p->cfg.dev, rte_strerror(rc < 0 ? -rc : rc),
		DP_PORT_IDLE_US_MAX);
}

/* A worker queue's Rx interrupt into an epoll fd of its own, which its
 * worker polls through io_uring while it sleeps (dp_portq_sleep_fd). */
static void q_intr_open(struct dpdk *d, struct dpdk_q *q)
{
	int ep;
	if (q->hwq < 0 || (ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return;
	if (rte_eth_dev_rx_intr_ctl_q(d->port_id, (uint16_t)q->hwq, ep, RTE_INTR_EVENT_ADD,
				      NULL) == 0) {
		q->intr_epfd = ep;
		q->st.rx_intr = true;
	} else {
		close(ep);
	}
}

/* The exception tap: the port's MAC, MTU and address, so the kernel answers
 * for it (ssh, ping, metrics) exactly as it would on the NIC itself. */
static int exc_open(struct dp_port *p, struct dpdk *d, uint16_t mtu)
{
	/* the kernel's frames must fit one mbuf, as tern's do */
	uint32_t tap_mtu = TN_MIN((uint32_t)mtu, RTE_MBUF_DEFAULT_DATAROOM - DP_NET_ETH_HDR_LEN -
							   DP_NET_VLAN_TAG_LEN);
	struct dp_exc_tap_cfg tc = { .name = p->cfg.exc_tap, .ip = p->cfg.ip,
				     .netmask = p->cfg.netmask, .gateway = p->cfg.gateway,
				     .mtu = tap_mtu };
	const char *name = tc.name ? tc.name : DP_EXC_TAP_NAME_DEFAULT;

	memcpy(tc.mac, d->me.mac, DP_NET_MAC_LEN);
	int fd = dp_exc_tap_open(&tc);
	if (fd < 0) {
		if (p->cfg.exc == DP_PORT_EXC_TAP)
			TN_ERROR("dpdk", "tern.dpdk.exception=tap: cannot make tap %s: %s", name,
				 strerror(-fd));
		else
			TN_WARN("dpdk", "no exception path (tap %s: %s): frames not tern's are "
				"dropped, the host is unreachable on this port's address", name,
				strerror(-fd));
		return fd;
	}
	d->tap_fd = fd;
	/* the kernel's frames may be as long as the MTU allows, tern's or not */
	d->frame_max = TN_MAX(d->frame_max, tap_mtu + DP_NET_ETH_HDR_LEN + DP_NET_VLAN_TAG_LEN);
	p->st.exc_tap = true;
	TN_INFO("dpdk", "exception path: frames not tern's to and from the kernel through tap %s",
		name);
	return 0;
}

int dp_dpdk_open(struct dp_port *p)
{
	struct dpdk *d;
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf = { 0 };
	struct rte_ether_addr mac;
	uint16_t mtu = 1500;
	int rc;

	if (!p->cfg.dev || !p->cfg.ip || p->cfg.mbufs < 1024 ||
	    p->cfg.worker_queues > DPDK_QUEUES_MAX ||
	    (p->cfg.worker_queues && !p->cfg.worker_udp_port))
		return -EINVAL;
	if ((rc = eal_init(&p->cfg)) < 0)
		return rc;
	if (!(d = calloc(1, sizeof *d)))
		return -ENOMEM;
	d->p = p;
	d->tap_fd = -1;
	d->intr_epfd = -1;
	d->owner_efd = -1;
	d->nq = p->cfg.worker_queues;
	if ((rc = find_port(p->cfg.dev, &d->port_id)) < 0)
		goto fail;
	if ((rc = rte_eth_dev_info_get(d->port_id, &info)) < 0)
		goto fail;
	/* queue 0 and one per worker, as many as the device has */
	d->hw_queues = TN_MAX(1u, TN_MIN(1u + d->nq, TN_MIN((unsigned)info.max_rx_queues,
							    (unsigned)info.max_tx_queues)));
	/* the NIC's NUMA socket (where its DMA lands); a vdev has none: ours */
	int nic_sock = rte_eth_dev_socket_id(d->port_id);
	if (nic_sock < 0 || (unsigned)nic_sock >= DPDK_SOCKETS_MAX)
		nic_sock = (int)rte_socket_id();
	d->nic_sock = nic_sock >= 0 && (unsigned)nic_sock < DPDK_SOCKETS_MAX ? (unsigned)nic_sock : 0;
	if (d->nq && (rc = queues_open(d)) < 0) {
		TN_ERROR("dpdk", "worker queue rings: %s", rte_strerror(rte_errno));
		goto fail_pool;
	}
	if ((rc = pools_create(d)) < 0)
		goto fail_pool;
	if (d->hw_queues > 1) {
		/* RSS over the UDP 4-tuple where the device hashes it; a PMD without
		 * RSS (net_af_packet: the kernel's fanout hash) spreads flows itself */
		uint64_t hf = info.flow_type_rss_offloads &
			      (RTE_ETH_RSS_NONFRAG_IPV4_UDP | RTE_ETH_RSS_IPV4);
		if (hf) {
			conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
			conf.rx_adv_conf.rss_conf.rss_hf = hf;
		}
		TN_INFO("dpdk", "%u worker queues: %u on device queues (%s), %u through queue 0",
			d->nq, d->hw_queues - 1,
			hf ? "RSS over the UDP 4-tuple" : "the PMD's own flow spreading",
			d->nq - (d->hw_queues - 1));
	} else if (d->nq) {
		TN_INFO("dpdk", "%s has one queue: the %u workers' datagrams go through queue 0",
			p->cfg.dev, d->nq);
	}
	const uint64_t rxo = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
	const uint64_t txo = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
	d->rx_csum = (info.rx_offload_capa & rxo) == rxo;
	d->tx_udp_csum = (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_UDP_CKSUM) != 0;
	if (d->rx_csum)
		conf.rxmode.offloads |= rxo;
	if (d->tx_udp_csum)
		conf.txmode.offloads |= info.tx_offload_capa & txo;
	/* Rx interrupts where the PMD has them (checked after the start): a
	 * PMD without them ignores the request */
	conf.intr_conf.rxq = p->cfg.busy_poll ? 0 : 1;
	if ((rc = port_start(d, &conf)) < 0 && conf.intr_conf.rxq) {
		TN_INFO("dpdk", "%s does not start with Rx interrupts (%s): starting without",
			p->cfg.dev, rte_strerror(-rc));
		conf.intr_conf.rxq = 0;
		rc = port_start(d, &conf);
	}
	if (rc < 0)
		goto fail_pool;
	if ((rc = rte_eth_macaddr_get(d->port_id, &mac)) < 0)
		goto fail_started;
	if (rte_eth_dev_get_mtu(d->port_id, &mtu) < 0 || mtu < 576)
		mtu = 1500;
	/* one frame, no fragments: that is the largest datagram either way */
	p->cfg.dgram_max = TN_MIN(p->cfg.dgram_max,
				  (uint32_t)mtu - DP_NET_IP4_HDR_LEN - DP_NET_UDP_HDR_LEN);
	p->cfg.dgram_max = TN_MIN(p->cfg.dgram_max, RTE_MBUF_DEFAULT_DATAROOM - DPDK_L2_L3_LEN -
							    DP_NET_VLAN_TAG_LEN);
	memcpy(d->me.mac, mac.addr_bytes, DP_NET_MAC_LEN);
	d->me.ip = p->cfg.ip;
	for (unsigned i = 0; i < p->cfg.udp_port_count && i < DP_NET_PORTS_MAX; i++)
		d->me.udp_ports[d->me.udp_port_count++] = p->cfg.udp_ports[i];
	if (d->nq)   /* the workers' port is ours too (handed over, never the kernel's) */
		d->me.udp_ports[d->me.udp_port_count++] = p->cfg.worker_udp_port;
	d->netmask = p->cfg.netmask;
	d->gateway = p->cfg.gateway;
	d->frame_max = p->cfg.dgram_max + DPDK_L2_L3_LEN + DP_NET_VLAN_TAG_LEN;
	if ((rc = dp_net_arp_create(&d->arp, DPDK_ARP_CAP, DPDK_ARP_TTL_MS, arp_drop, d)) < 0)
		goto fail_started;
	if (p->cfg.exc != DP_PORT_EXC_NONE) {
		if ((rc = exc_open(p, d, mtu)) < 0 && p->cfg.exc == DP_PORT_EXC_TAP) {
			dp_net_arp_destroy(d->arp);
			goto fail_started;
		}
		rc = 0;
	}
	if (conf.intr_conf.rxq) {
		intr_open(p, d);
		for (unsigned i = 0; i < d->nq; i++)
			q_intr_open(d, &d->q[i]);
	}
	p->st.csum_offload_rx = d->rx_csum;
	p->st.csum_offload_tx = d->tx_udp_csum;
	p->be = d;
	p->ops = &dpdk_ops;
	eal_ports++;
	arp_announce(p, dp_port_now_us() / 1000u);
	TN_INFO("dpdk", "port %u (%s) %02x:%02x:%02x:%02x:%02x:%02x ip %u.%u.%u.%u mtu %u, "
		"%u mbufs, checksum offload rx %s tx %s", d->port_id, p->cfg.dev, mac.addr_bytes[0],
		mac.addr_bytes[1], mac.addr_bytes[2], mac.addr_bytes[3], mac.addr_bytes[4],
		mac.addr_bytes[5], d->me.ip >> 24, (d->me.ip >> 16) & 255, (d->me.ip >> 8) & 255,
		d->me.ip & 255, mtu, p->cfg.mbufs, d->rx_csum ? "yes" : "no",
		d->tx_udp_csum ? "yes" : "no");
	return 0;
fail_started:
	rte_eth_dev_stop(d->port_id);
fail_pool:
	queues_close(d);
	pools_free(d);
fail:
	if (rc > 0)
		rc = -rc;
	TN_ERROR("dpdk", "cannot start '%s': %s", p->cfg.dev, rte_strerror(-rc));
	free(d);
	return rc < 0 ? rc : -EIO;
}
