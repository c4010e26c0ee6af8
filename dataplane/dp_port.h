/* dataplane/dp_port.h: datagram ports and the reliable peer channels on them.
 *
 * A dp_port moves UDP datagrams in bursts for one endpoint (an IPv4 address
 * and up to DP_PORT_UDP_PORTS_MAX local UDP ports). Two backends:
 *
 *   DP_PORT_KERNEL  one non-blocking kernel UDP socket per local port,
 *                   recvmmsg/sendmmsg bursts; dp_port_fds() gives the sockets
 *                   to poll.
 *   DP_PORT_DPDK    an rte_ethdev port (PCI device or vdev such as
 *                   net_af_packet0,iface=veth-x) run by tern's own network
 *                   layer (dataplane/dp_net.c): ARP answered and resolved
 *                   with an expiring cache, IPv4/UDP checksums checked (or
 *                   offloaded), runts, bad checksums, wrong MAC/IP, oversized
 *                   datagrams and fragments dropped and counted; frames
 *                   not tern's go to the kernel through a tap (dp_exc.h).
 *                   The device has no fd: the owner polls it
 *                   (dp_port_idle_us() says how long it may
 *                   sleep between polls: 0 when busy polling or traffic is
 *                   flowing, growing to DP_PORT_IDLE_US_MAX when idle).
 *                   Built only when meson found libdpdk (dp_port_dpdk_built()).
 *
 * A dp_chan is one reliable FIFO message channel to one remote (ip, port)
 * over a port (dataplane/dp_rel.c: incarnation handshake, SACK, RTO, window,
 * segmentation): the peer channels of the ensemble use it instead of TCP.
 *
 * Threads: a port and its channels belong to one thread (the control
 * thread); dp_port_stats() may be read from any thread (relaxed, torn
 * reads tolerated like the other counters).
 */
#ifndef DP_PORT_H
#define DP_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DP_PORT_UDP_PORTS_MAX 4u     /* local UDP ports one port serves */
#define DP_PORT_BURST_MAX 32u        /* datagrams per rx/tx burst */
#define DP_PORT_DGRAM_MAX 65507u     /* largest UDP payload over IPv4 */
#define DP_PORT_EAL_ARGS_MAX 64u     /* EAL words */
#define DP_PORT_IDLE_US_MAX 1000u    /* adaptive polling: longest sleep when idle */

enum dp_port_kind { DP_PORT_KERNEL, DP_PORT_DPDK };

/* DPDK: what happens to frames that are not tern's (dataplane/dp_exc.h). */
enum dp_port_exc {
	DP_PORT_EXC_NONE = 0,   /* dropped and counted (drop_not_ours) */
	DP_PORT_EXC_AUTO,       /* to the kernel through a tap if one can be made, else dropped */
	DP_PORT_EXC_TAP,        /* to the kernel through a tap; no tap: the port does not open */
};

struct dp_port_cfg {
	enum dp_port_kind kind;
	uint32_t ip;                                 /* host order; kernel: 0 = any */
	uint16_t udp_ports[DP_PORT_UDP_PORTS_MAX];   /* local ports */
	unsigned udp_port_count;
	uint32_t dgram_max;                          /* largest payload sent or received */
	bool busy_poll;                              /* tern.polling=busy: never sleep */
	/* DPDK only */
	const char *eal_argv[DP_PORT_EAL_ARGS_MAX];  /* tern.dpdk.eal words (argv[0] added) */
	unsigned eal_argc;
	const char *dev;                             /* tern.dpdk.port: PCI address or vdev */
	uint32_t netmask, gateway;                   /* host order; gateway 0 = none */
	uint32_t mbufs;                              /* mbufs per NUMA socket's pool, beyond
							 the queues' descriptors and rings */
	enum dp_port_exc exc;                        /* tern.dpdk.exception */
	const char *exc_tap;                         /* tern.dpdk.tap; NULL: tern-exc0 */
	/* worker queues (DPDK only; 0: none): datagrams to @worker_udp_port are
	 * the workers' (the native client protocol), spread over @worker_queues
	 * queues (dp_portq below); everything else stays with the port's owner */
	unsigned worker_queues;
	uint16_t worker_udp_port;
};

struct dp_port_addr {
	uint32_t ip;     /* host order */
	uint16_t port;
};

/* One received datagram; @data is valid until the next dp_port_recv. */
struct dp_port_dgram {
	struct dp_port_addr src;
	uint16_t dst_port;
	const uint8_t *data;
	size_t len;
};

/* Drop reasons a port counts (kernel ports count only the first two). */
enum dp_port_drop {
	DP_PORT_DROP_TRUNC,      /* larger than dgram_max (kernel: MSG_TRUNC) */
	DP_PORT_DROP_NOPORT,     /* to a local port nobody reads (should not happen) */
	DP_PORT_DROP_RUNT,       /* shorter than the Ethernet/IP/UDP headers */
	DP_PORT_DROP_CSUM,       /* bad IPv4 header or UDP checksum */
	DP_PORT_DROP_MAC,        /* unicast to another MAC, bad source MAC */
	DP_PORT_DROP_IP,         /* to another IP, bad source, bad version/IHL/length/TTL */
	DP_PORT_DROP_FRAG,       /* IPv4 fragment: we never reassemble */
	DP_PORT_DROP_ARP,        /* malformed ARP */
	DP_PORT_DROP_NOT_OURS,   /* not ours and no exception path: other traffic */
	DP_PORT_DROP_ARP_WAIT,   /* tx: next hop unresolved and its queue full / timed out */
	DP_PORT_DROP_NOROUTE,    /* tx: off-subnet with no gateway */
	DP_PORT_DROP_COUNT
};

struct dp_port_stats {
	uint64_t rx_pkts, rx_bytes, tx_pkts, tx_bytes;
	uint64_t rx_bursts, tx_bursts;
	uint64_t tx_full;        /* tx ring full or EAGAIN: datagrams dropped (dp_rel resends) */
	uint64_t tx_err;         /* other send errors */
	uint64_t arp_req_rx, arp_reply_rx, arp_reply_tx, arp_req_tx, arp_learn;
	uint64_t drop[DP_PORT_DROP_COUNT];
	uint64_t idle_sleeps;    /* adaptive polling: polls that found nothing */
	/* exception path (DPDK with a tap): frames not tern's, to and from the kernel */
	uint64_t exc_to_kernel, exc_from_kernel;
	uint64_t exc_tap_full;   /* the tap's queue was full: frame dropped */
	uint64_t exc_errors;     /* tap read/write errors, no mbuf, oversized frames */
	bool exc_tap;            /* the exception path is up */
	/* adaptive polling on Rx interrupts (PMDs that have them) */
	uint64_t rx_intr_sleeps, rx_intr_wakeups;
	bool rx_intr;
	/* channels on this port, summed (dp_chan) */
	uint64_t chan_retrans, chan_rto, chan_malformed, chan_stale, chan_resets;
	uint64_t chan_window_full;
	bool csum_offload_rx, csum_offload_tx;
};

struct dp_port;

/* Whether this build has the DPDK backend. */
bool dp_port_dpdk_built(void);

/* Open a port. DPDK: initializes the EAL (once per process) and starts the
 * device; the calling thread's CPU affinity is kept. Return 0, -EINVAL (bad
 * config), -ENOTSUP (DPDK not built), -ENODEV (no such device), -errno. */
int dp_port_open(struct dp_port **out, const struct dp_port_cfg *cfg);
void dp_port_close(struct dp_port *p);

/* A client's own DPDK port (tern-bench --dpdk-*, ternc_loop_dpdk): options
 * as users type them. It sends from DP_PORT_CLIENT_UDP_PORT; replies find
 * their session by the connect nonce they echo. No exception path. */
#define DP_PORT_CLIENT_UDP_PORT 40000
struct dp_port_client_cfg {
	const char *eal;     /* EAL words separated by spaces; NULL: none */
	const char *dev;     /* PCI address or vdev */
	const char *ip;      /* dotted IPv4 */
	const char *netmask; /* NULL: 255.255.255.0 */
	const char *gateway; /* NULL: none */
};
/* Parse and dp_port_open. On -EINVAL *@bad names the bad option ("ip",
 * "netmask", "gateway", "eal" or "dev"). Return as dp_port_open. */
int dp_port_open_client(struct dp_port **out, const struct dp_port_client_cfg *cc,
			const char **bad);

/* The fds to poll for input (kernel: one per UDP port; DPDK: the exception
 * tap if there is one, the port itself needs dp_port_idle_us polls).
 * Return the count (<= DP_PORT_UDP_PORTS_MAX). */
unsigned dp_port_fds(const struct dp_port *p, int *fds);

/* Receive up to @max (<= DP_PORT_BURST_MAX) datagrams. Return the count. */
unsigned dp_port_recv(struct dp_port *p, struct dp_port_dgram *d, unsigned max, uint64_t now_ms);

/* Queue one datagram from local port @src_port to @dst (copied; sent by the
 * next full burst or dp_port_flush). Return 0, -EMSGSIZE, -ENOBUFS (dropped,
 * counted). */
int dp_port_send(struct dp_port *p, uint16_t src_port, const struct dp_port_addr *dst,
		 const void *data, size_t len, uint64_t now_ms);
void dp_port_flush(struct dp_port *p, uint64_t now_ms);

/* The largest payload this port sends or receives (DPDK: the device MTU's). */
uint32_t dp_port_dgram_max(const struct dp_port *p);

/* Adaptive polling: how long the owner may sleep before polling the port
 * again even if none of its fds is readable (µs; 0 = poll at once). Kernel
 * ports, whose fds say everything, return UINT64_MAX. */
uint64_t dp_port_idle_us(const struct dp_port *p);

/* A copy of the counters (any thread). */
void dp_port_stats(const struct dp_port *p, struct dp_port_stats *out);
const char *dp_port_drop_name(enum dp_port_drop d);
/* "<prefix>_name\tvalue" lines (mntr). Return the length written (<= @cap). */
size_t dp_port_stats_text(const struct dp_port_stats *st, const char *prefix, char *out,
			  size_t cap);

/* ---- worker queues ----
 *
 * A DPDK port opened with worker_queues = W > 0 asks the device for 1 + W
 * RX/TX queue pairs with RSS over the UDP 4-tuple (or whatever spreading the
 * PMD does itself: net_af_packet's qpairs use the kernel's fanout hash).
 * Queue 0 stays the owner's (dp_port_recv/send: peers, ARP, exception path);
 * dp_portq i (0 <= i < W) belongs to worker i and only that thread calls
 * the dp_portq_* functions on it. Since RSS cannot tell tern's flows apart,
 * each side hands the other what it should not have received, through
 * rte_rings: a worker queue passes ARP, peer datagrams and everything else
 * not for worker_udp_port to the owner; the owner passes datagrams for
 * worker_udp_port to worker hash(src ip, src port) % W, so one client flow
 * always lands on one worker. A device with fewer queues than asked gives
 * the workers without one only that software ring (and sends their frames
 * through the owner's TX queue): same behavior, slower.
 *
 * Replies go back to the source MAC of the request (the client, or the
 * gateway for a routed one): workers need no ARP of their own. */
struct dp_portq;

struct dp_portq_dgram {
	struct dp_port_addr src;
	uint8_t src_mac[6];
	uint16_t dst_port;
	uint8_t *data;       /* writable; valid until the next dp_portq_recv */
	size_t len;
};

struct dp_portq_stats {
	uint64_t rx_pkts, rx_bytes, tx_pkts, tx_bytes;
	uint64_t to_owner;       /* frames this queue received that were the owner's */
	uint64_t from_owner;     /* native datagrams the owner's queue received, handed here */
	uint64_t ring_full;      /* a hand-over ring was full: frame dropped */
	uint64_t tx_full;        /* tx ring full or no mbuf: datagram dropped (clients retry) */
	uint64_t drops;          /* malformed, bad checksum, oversized: dropped */
	uint64_t idle_sleeps;    /* adaptive polling: sleeps of the worker on this queue */
	uint64_t intr_sleeps, intr_wakeups;   /* sleeps on the queue's Rx interrupt */
	bool hw_queue;           /* a device queue of its own (else the software ring only) */
	bool rx_intr;            /* its device queue has an Rx interrupt */
	uint32_t numa_socket;    /* of its worker's CPU: where its descriptors and mbufs live */
	uint64_t pool_free;      /* mbufs free in that socket's pool */
};

/* Worker queues of @p (cfg.worker_queues when DPDK, else 0). */
unsigned dp_port_queue_count(const struct dp_port *p);
/* Worker queue @i (< dp_port_queue_count). */
struct dp_portq *dp_port_queue(struct dp_port *p, unsigned i);
/* Called by the owner after handing datagrams to queue @q, so a sleeping
 * worker wakes. Set before the owner's thread and the worker's start. */
void dp_portq_set_wake(struct dp_portq *q, void (*wake)(void *arg), void *arg);
/* The calling thread is @q's worker from now on (it gets an EAL lcore id,
 * hence a per-lcore mbuf cache). Once, before its first dp_portq_recv. */
void dp_portq_thread_attach(struct dp_portq *q);
/* Up to @max (<= DP_PORT_BURST_MAX) datagrams for worker_udp_port. */
unsigned dp_portq_recv(struct dp_portq *q, struct dp_portq_dgram *d, unsigned max);
/* Queue one datagram to @dst at @dst_mac from worker_udp_port (sent by the
 * next full burst or dp_portq_flush). Return 0, -EMSGSIZE, -ENOBUFS. */
int dp_portq_send(struct dp_portq *q, const uint8_t dst_mac[6], const struct dp_port_addr *dst,
		  const void *data, size_t len);
void dp_portq_flush(struct dp_portq *q);
/* Adaptive polling as dp_port_idle_us (0 with busy polling). UINT64_MAX:
 * sleep until woken, by the owner's wake or, when dp_portq_sleep_fd() gives
 * one, by that fd becoming readable (the queue's Rx interrupt is armed). */
uint64_t dp_portq_idle_us(struct dp_portq *q);
/* The fd to poll while sleeping (armed Rx interrupt), or -1. */
int dp_portq_sleep_fd(const struct dp_portq *q);
/* A copy of queue @i's counters (any thread). */
void dp_portq_stats(const struct dp_port *p, unsigned i, struct dp_portq_stats *out);
/* "<prefix>_q<i>_name\tvalue" lines for every worker queue. Return the length. */
size_t dp_port_queues_text(const struct dp_port *p, const char *prefix, char *out, size_t cap);

/* ---- reliable channels ---- */

enum { DP_CHAN_EV_NONE = 0, DP_CHAN_EV_UP = 1, DP_CHAN_EV_DOWN = 2 };

struct dp_chan_cfg {
	uint64_t incarnation;    /* nonzero, above any earlier run's (boot time in ns) */
	uint32_t mtu;            /* payload bytes per datagram (<= dgram_max - overhead) */
	uint32_t wnd_segs;       /* segments in flight */
	uint64_t msg_max;        /* largest message */
	uint64_t sndbuf_bytes;   /* queued bytes before dp_chan_send says -ENOBUFS */
	uint64_t keepalive_ms, dead_ms;
};

/* Datagram bytes a channel adds to @mtu payload bytes. */
uint32_t dp_chan_overhead(void);

struct dp_chan;

/* A channel from local @src_port to @peer over @p. Return 0, -EINVAL, -ENOMEM. */
int dp_chan_create(struct dp_chan **out, struct dp_port *p, uint16_t src_port,
		   const struct dp_port_addr *peer, const struct dp_chan_cfg *cfg, uint64_t now_us);
void dp_chan_destroy(struct dp_chan *ch);
/* Drop everything queued and start over with a higher incarnation (the peer
 * sees a restart): the owner hears DOWN if it was up. */
int dp_chan_reset(struct dp_chan *ch, uint64_t now_us);
/* Feed a datagram received from the channel's peer. Return 0 or -EBADMSG/-ESTALE. */
int dp_chan_input(struct dp_chan *ch, const void *dgram, size_t len, uint64_t now_us);
/* Queue a message. Return 0, -EMSGSIZE, -ENOBUFS (send buffer full). */
int dp_chan_send(struct dp_chan *ch, const void *msg, size_t len);
/* Emit what is due onto the port. Return datagrams emitted. */
int dp_chan_poll(struct dp_chan *ch, uint64_t now_us);
/* 1 with the next whole message (valid until the next call), 0 if none. */
int dp_chan_recv(struct dp_chan *ch, const uint8_t **msg, size_t *len);
int dp_chan_event(struct dp_chan *ch);
bool dp_chan_is_up(const struct dp_chan *ch);
/* Every message sent was acknowledged (or the channel is reset): nothing left to deliver. */
bool dp_chan_drained(const struct dp_chan *ch);
uint64_t dp_chan_next_timer(const struct dp_chan *ch);
const struct dp_port_addr *dp_chan_peer(const struct dp_chan *ch);
uint16_t dp_chan_src_port(const struct dp_chan *ch);
/* Bytes of messages sent and received. */
void dp_chan_bytes(const struct dp_chan *ch, uint64_t *sent, uint64_t *recvd);

/* Monotonic µs. */
uint64_t dp_port_now_us(void);

#endif
