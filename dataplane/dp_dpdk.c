/* dataplane/dp_dpdk.c: the DPDK backend of dp_port (see dp_port.h).
 *
 * One rte_ethdev port, one RX and one TX queue, owned by the thread that
 * polls the dp_port (the control thread; the EAL main lcore is the thread
 * that opened the port, whose CPU affinity we put back afterwards so three
 * servers on a 2-core machine are not all pinned to core 0).
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
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
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

#include "common/tn_assert.h"
#include "common/tn_log.h"
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
#define DPDK_NAME_MAX 128u
#define DPDK_INTR_AFTER_US 2000u      /* Rx interrupts: arm after this long without frames */
#define DPDK_INTR_SLEEP_US 10000u     /* armed: sleep at most this (a lost interrupt costs this) */
#define DPDK_INTR_EVENTS 4
#define DPDK_L2_L3_LEN (DP_NET_ETH_HDR_LEN + DP_NET_IP4_HDR_LEN + DP_NET_UDP_HDR_LEN)

static bool eal_up;           /* rte_eal_init is once per process */
static unsigned eal_ports;    /* ports open: the EAL is cleaned up after the last */

struct dpdk {
	uint16_t port_id;
	struct rte_mempool *pool;
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
	uint16_t n = rte_eth_rx_burst(d->port_id, 0, rx, (uint16_t)TN_MIN(max, DP_PORT_BURST_MAX));
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
	TN_ASSERT_HOT(got <= max && d->nheld <= DP_PORT_BURST_MAX);
	return got;
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
	struct dp_net_l2 l2 = { 0 };
	memcpy(l2.src, d->me.mac, DP_NET_MAC_LEN);
	memcpy(l2.dst, mac, DP_NET_MAC_LEN);   /* zero until resolved: patched then */
	struct dp_net_udp u = { .src_ip = d->me.ip, .dst_ip = dst->ip, .src_port = src_port,
				.dst_port = dst->port };
	int fl = dp_net_build_udp(buf, cap, &l2, &u, d->ip_id++, data, len, !d->tx_udp_csum);
	if (fl < 0) {
		rte_pktmbuf_free(m);
		return fl;
	}
	frame_done(m, fl);
	if (d->tx_udp_csum) {   /* the port sums the UDP datagram from the pseudo-header */
		struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *,
								  DP_NET_ETH_HDR_LEN);
		struct rte_udp_hdr *uh = rte_pktmbuf_mtod_offset(
			m, struct rte_udp_hdr *, DP_NET_ETH_HDR_LEN + DP_NET_IP4_HDR_LEN);
		m->l2_len = DP_NET_ETH_HDR_LEN;
		m->l3_len = DP_NET_IP4_HDR_LEN;
		m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_UDP_CKSUM;
		uh->dgram_cksum = rte_ipv4_phdr_cksum(ip, m->ol_flags);
	}
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

static void dpdk_close(struct dp_port *p)
{
	struct dpdk *d = p->be;
	if (!d)
		return;
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
	rte_mempool_free(d->pool);
	free(d);
	p->be = NULL;
	if (--eal_ports == 0 && eal_up) {
		rte_eal_cleanup();
		eal_up = false;   /* DPDK 22.11 cannot init again; a restart is a new process */
	}
}

static const struct dp_port_ops dpdk_ops = {
	.recv = dpdk_recv, .send = dpdk_send, .flush = dpdk_flush,
	.fds = dpdk_fds, .idle_us = dpdk_idle_us, .close = dpdk_close,
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

/* Configure one RX and one TX queue and start the device. */
static int port_start(struct dpdk *d, const struct rte_eth_conf *conf)
{
	uint16_t rxd = DPDK_RXD, txd = DPDK_TXD;
	int rc;

	if ((rc = rte_eth_dev_configure(d->port_id, 1, 1, conf)) < 0)
		return rc;
	rte_eth_dev_adjust_nb_rx_tx_desc(d->port_id, &rxd, &txd);
	int sock = rte_eth_dev_socket_id(d->port_id);
	unsigned sid = sock < 0 ? rte_socket_id() : (unsigned)sock;
	if ((rc = rte_eth_rx_queue_setup(d->port_id, 0, rxd, sid, NULL, d->pool)) < 0 ||
	    (rc = rte_eth_tx_queue_setup(d->port_id, 0, txd, sid, NULL)) < 0)
		return rc;
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
	char pool_name[RTE_MEMPOOL_NAMESIZE];
	uint16_t mtu = 1500;
	int rc;

	if (!p->cfg.dev || !p->cfg.ip || p->cfg.mbufs < 1024)
		return -EINVAL;
	if ((rc = eal_init(&p->cfg)) < 0)
		return rc;
	if (!(d = calloc(1, sizeof *d)))
		return -ENOMEM;
	d->p = p;
	d->tap_fd = -1;
	d->intr_epfd = -1;
	if ((rc = find_port(p->cfg.dev, &d->port_id)) < 0)
		goto fail;
	if ((rc = rte_eth_dev_info_get(d->port_id, &info)) < 0)
		goto fail;
	snprintf(pool_name, sizeof pool_name, "tern_mb%u", d->port_id);
	d->pool = rte_pktmbuf_pool_create(pool_name, p->cfg.mbufs, DPDK_MBUF_CACHE, 0,
					  RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (!d->pool) {
		TN_ERROR("dpdk", "mbuf pool of %u: %s", p->cfg.mbufs, rte_strerror(rte_errno));
		rc = -ENOMEM;
		goto fail;
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
	if (conf.intr_conf.rxq)
		intr_open(p, d);
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
	rte_mempool_free(d->pool);
fail:
	if (rc > 0)
		rc = -rc;
	TN_ERROR("dpdk", "cannot start '%s': %s", p->cfg.dev, rte_strerror(-rc));
	free(d);
	return rc < 0 ? rc : -EIO;
}
