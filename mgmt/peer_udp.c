/* mgmt/peer_udp.c: the channels between the servers of an ensemble over
 * datagrams: dp_chan (dataplane/dp_rel.c's reliable FIFO channel) on a
 * dp_port, kernel UDP or DPDK. Same contract as the TCP channels of peer.c:
 * two links per peer (quorum and election), messages whole and in order,
 * on_up when the link comes up, on_down when it breaks.
 *
 * Addressing: a link runs from my port to the same port of the peer (quorum
 * port to quorum port, election port to election port), so a datagram's
 * (source ip, source port, destination port) names its link. Kernel UDP binds
 * my server.N host's quorum and election ports; DPDK serves both ports on
 * tern.dpdk.ip and the server.N hosts are the peers' DPDK addresses.
 *
 * Up and down: a link is up once the incarnation handshake with the peer
 * completes; it goes down when the peer is silent for dead_ms (keep-alives
 * every PU_KEEPALIVE_MS), when the peer restarts (a higher incarnation), or
 * when its send buffer overflows (we reset it with a higher incarnation, like
 * peer.c cutting a TCP link). Nobody dials: both sides ping.
 *
 * A member removed by a reconfig goes quietly (no on_down), but its links
 * linger, unseen by the owner, until the peer has acknowledged everything
 * sent (the COMMIT that removes it, above all) or dead_ms passes: as a
 * closed TCP socket still delivers what was written. Only then are they
 * destroyed, outside any callback.
 *
 * Polling: the kernel sockets are polled; a timerfd wakes the control thread
 * for the channels' timers (acks, retransmits, keep-alives) and, with DPDK,
 * for the next poll of the port (dp_port_idle_us: at once while traffic
 * flows, backing off to a short sleep when idle with tern.polling=adaptive).
 */
#include "mgmt/peer_udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common/tn_assert.h"
#include "common/tn_log.h"
#include "dataplane/dp.h"
#include "dataplane/dp_port.h"
#include "mgmt/admin.h"

#define PU_MSG_MAX (256u << 20)         /* dp_rel's cap: a snapshot must fit */
#define PU_VOTE_MSG_MAX (64u << 10)
#define PU_SNDBUF_MAX (1ull << 30)      /* queued bytes before the link is cut */
#define PU_VOTE_SNDBUF_MAX (1u << 20)
#define PU_KEEPALIVE_MS 200u
#define PU_DEAD_MS_MIN 1000u            /* silence before a link is down, at least */
#define PU_DEAD_MS_MAX 10000u
#define PU_MTU_KERNEL 8192u             /* payload per datagram: loopback and LAN (fragments) */
#define PU_WND_QUORUM 512u              /* segments in flight */
#define PU_WND_ELECTION 16u
#define PU_RX_BURSTS_MAX 64u            /* bursts per run: bounded work per turn */
#define PU_MBUFS_DEFAULT 8192u
#define PU_EAL_BYTES 4096u
#define PU_DELIVER_MAX 4096u            /* messages delivered per link per run */
#define PU_EVENTS_MAX 16u               /* up/down events read per link per run */

struct pu_link {
	uint32_t peer;
	bool election;
	bool up;                 /* as told to the owner */
	uint64_t retire_us;      /* nonzero: removed; destroyed when drained or at this time */
	struct dp_chan *ch;
};

struct peer_udp {
	uint32_t my_id;
	struct peer_cb cb;
	struct dp_port *port;
	uint16_t qport, eport;   /* my quorum and election ports */
	struct pu_link *links;   /* 2 per peer: [2i] quorum, [2i+1] election */
	unsigned link_count;
	int tfd;                 /* timerfd: channel timers and DPDK polls */
	uint64_t armed_us;       /* what tfd is armed for; UINT64_MAX = disarmed or fired */
	uint64_t unknown_src;    /* datagrams from no link of ours */
	bool dpdk;               /* server.N hosts are IPv4 literals (DPDK addresses) */
	uint32_t mtu, dead_ms;   /* of every channel, for members added later */
	uint64_t inc;            /* the highest incarnation our channels have used */
	bool more;               /* delivery stopped at its bound: poll again at once */
	char eal_buf[PU_EAL_BYTES];
};

static _Atomic(struct dp_port *) g_port;   /* for peer_udp_port_stats */
static size_t mntr_lines(char *buf, size_t cap);
static _Atomic uint64_t g_unknown_src;     /* datagrams from no link of ours */

bool peer_udp_wanted(const struct cfg *cfg)
{
	const char *t = cfg_prop(cfg, "tern.peer.transport");
	return cfg->dataplane == CFG_DP_DPDK || (t && !strcmp(t, "udp"));
}

static int ip4_of(const char *host, uint32_t *ip)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_DGRAM };
	struct addrinfo *ai;

	if (getaddrinfo(host, NULL, &hints, &ai) != 0 || !ai)
		return -EHOSTUNREACH;
	*ip = ntohl(((const struct sockaddr_in *)(const void *)ai->ai_addr)->sin_addr.s_addr);
	freeaddrinfo(ai);
	return 0;
}

static int ip4_literal(const char *s, uint32_t *ip)
{
	struct in_addr a;
	if (!s || inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*ip = ntohl(a.s_addr);
	return 0;
}

/* Fill the DPDK part of @pc from tern.dpdk.*; @me is my server.N line. */
static int dpdk_cfg(struct peer_udp *pu, const struct cfg *cfg, const struct cfg_server *me,
		    struct dp_port_cfg *pc)
{
	const char *ip = cfg_prop(cfg, "tern.dpdk.ip"), *mask = cfg_prop(cfg, "tern.dpdk.netmask");
	const char *gw = cfg_prop(cfg, "tern.dpdk.gateway"), *eal = cfg_prop(cfg, "tern.dpdk.eal");
	const char *mb = cfg_prop(cfg, "tern.dpdk.mbufs");
	const char *exc = cfg_prop(cfg, "tern.dpdk.exception");
	int n;

	pc->kind = DP_PORT_DPDK;
	pc->dev = cfg_prop(cfg, "tern.dpdk.port");
	if (!pc->dev || !*pc->dev) {
		TN_ERROR("peer", "tern.dataplane=dpdk needs tern.dpdk.port (a PCI address or a vdev)");
		return -EINVAL;
	}
	if (ip4_literal(ip ? ip : me->host, &pc->ip) < 0) {
		TN_ERROR("peer", "tern.dpdk.ip '%s' is not an IPv4 address", ip ? ip : me->host);
		return -EINVAL;
	}
	pc->netmask = 0xffffff00u;
	if (mask && ip4_literal(mask, &pc->netmask) < 0) {
		TN_ERROR("peer", "tern.dpdk.netmask '%s' is not an IPv4 netmask", mask);
		return -EINVAL;
	}
	if (gw && ip4_literal(gw, &pc->gateway) < 0) {
		TN_ERROR("peer", "tern.dpdk.gateway '%s' is not an IPv4 address", gw);
		return -EINVAL;
	}
	/* frames not tern's reach the kernel through a tap (the host stays
	 * reachable on this address): by default when a tap can be made */
	pc->exc = !exc                  ? DP_PORT_EXC_AUTO
		  : strcmp(exc, "none") ? DP_PORT_EXC_TAP
					: DP_PORT_EXC_NONE;
	pc->exc_tap = cfg_prop(cfg, "tern.dpdk.tap");
	pc->mbufs = PU_MBUFS_DEFAULT;
	if (mb) {
		char *end;
		unsigned long v = strtoul(mb, &end, 10);
		if (*end || v < 1024 || v > (1u << 24)) {
			TN_ERROR("peer", "tern.dpdk.mbufs '%s' must be 1024..16777216", mb);
			return -EINVAL;
		}
		pc->mbufs = (uint32_t)v;
	}
	/* the workers serve native datagram clients on queues of this port
	 * (dataplane/dp.h: dp_cfg.nic; ternd passes it on with peer_udp_nic) */
	int up = cfg->udp_port < 0 ? cfg->client_port : cfg->udp_port;
	if (up > 0 && up <= 65535) {
		pc->worker_queues = dp_workers_for(cfg->workers);
		pc->worker_udp_port = (uint16_t)up;
	}
	n = cfg_split_words(eal ? eal : "", pu->eal_buf, sizeof pu->eal_buf);
	if (n < 0 || (unsigned)n > DP_PORT_EAL_ARGS_MAX) {
		TN_ERROR("peer", "tern.dpdk.eal: bad or too many words");
		return -EINVAL;
	}
	const char *w = pu->eal_buf;
	for (int i = 0; i < n; i++) {
		pc->eal_argv[pc->eal_argc++] = w;
		w += strlen(w) + 1;
	}
	return 0;
}

/* The owner's link to @peer (never a retiring one). */
static struct pu_link *link_of(struct peer_udp *pu, uint32_t peer, bool election)
{
	for (unsigned i = 0; i < pu->link_count; i++)
		if (pu->links[i].peer == peer && pu->links[i].election == election &&
		    !pu->links[i].retire_us)
			return &pu->links[i];
	return NULL;
}

/* Destroy the retiring links that are done. Never from a callback: the
 * array shifts. */
static void links_reap(struct peer_udp *pu, uint64_t now_us)
{
	unsigned k = 0, n = pu->link_count;

	for (unsigned i = 0; i < n; i++) {
		struct pu_link *l = &pu->links[i];
		if (l->retire_us && (now_us >= l->retire_us || dp_chan_drained(l->ch))) {
			dp_chan_destroy(l->ch);
			continue;
		}
		pu->links[k++] = *l;
	}
	pu->link_count = k;
	memset(&pu->links[k], 0, (n - k) * sizeof pu->links[0]);
}

/* The link a datagram is for: a live one before a retiring one. */
static struct pu_link *link_from(struct peer_udp *pu, const struct dp_port_dgram *d)
{
	struct pu_link *retiring = NULL;

	for (unsigned i = 0; i < pu->link_count; i++) {
		const struct dp_port_addr *a = dp_chan_peer(pu->links[i].ch);
		if (a->ip == d->src.ip && a->port == d->src.port &&
		    dp_chan_src_port(pu->links[i].ch) == d->dst_port) {
			if (!pu->links[i].retire_us)
				return &pu->links[i];
			retiring = retiring ? retiring : &pu->links[i];
		}
	}
	return retiring;
}

static uint64_t boot_incarnation(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);   /* above any earlier run of this server */
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The quorum and election channels to @s, under incarnation @inc. Return 0,
 * -EINVAL, -ENOMEM. */
static int add_server(struct peer_udp *pu, const struct cfg_server *s, uint64_t inc,
		      uint64_t now_us)
{
	struct dp_port_addr addr;
	int rc = pu->dpdk ? ip4_literal(s->host, &addr.ip) : ip4_of(s->host, &addr.ip);

	if (rc < 0) {
		TN_ERROR("peer", "server.%u host '%s' is not an IPv4 %s", (unsigned)s->id, s->host,
			 pu->dpdk ? "address (dpdk mode)" : "host");
		return -EINVAL;
	}
	if (pu->link_count + 2 > 2u * CFG_SERVERS_MAX)
		return -ENOMEM;
	for (int e = 0; e < 2; e++) {
		struct pu_link *l = &pu->links[pu->link_count];
		struct dp_chan_cfg cc = {
			.incarnation = inc, .mtu = pu->mtu,
			.wnd_segs = e ? PU_WND_ELECTION : PU_WND_QUORUM,
			.msg_max = e ? PU_VOTE_MSG_MAX : PU_MSG_MAX,
			.sndbuf_bytes = e ? PU_VOTE_SNDBUF_MAX : PU_SNDBUF_MAX,
			.keepalive_ms = PU_KEEPALIVE_MS, .dead_ms = pu->dead_ms,
		};
		addr.port = e ? s->election_port : s->quorum_port;
		*l = (struct pu_link){ .peer = (uint32_t)s->id, .election = e };
		if ((rc = dp_chan_create(&l->ch, pu->port, e ? pu->eport : pu->qport, &addr, &cc,
					 now_us)) < 0) {
			TN_ERROR("peer", "channel to server %u: %s", l->peer, strerror(-rc));
			return rc;
		}
		pu->link_count++;
	}
	TN_ASSERT(pu->link_count % 2 == 0);
	return 0;
}

int peer_udp_member_add(struct peer_udp *pu, const struct cfg_server *srv)
{
	if (srv->id == pu->my_id || link_of(pu, (uint32_t)srv->id, false))
		return 0;
	/* added back while its old links linger: they go at the next reap,
	 * and link_from prefers the new ones */
	for (unsigned i = 0; i < pu->link_count; i++)
		if (pu->links[i].peer == srv->id && pu->links[i].retire_us)
			pu->links[i].retire_us = 1;
	/* a server removed and added back still holds our old channel: a
	 * higher incarnation makes it reset instead of taking our new
	 * channel's first sequence numbers for duplicates */
	pu->inc = TN_MAX(boot_incarnation(), pu->inc + 1);
	int rc = add_server(pu, srv, pu->inc, dp_port_now_us());
	if (rc == 0)
		TN_INFO("peer", "server %u added (%s:%u:%u, udp)", (uint32_t)srv->id, srv->host,
			srv->quorum_port, srv->election_port);
	return rc;
}

void peer_udp_member_remove(struct peer_udp *pu, uint32_t peer)
{
	uint64_t until = dp_port_now_us() + (uint64_t)pu->dead_ms * 1000u;
	bool any = false;

	for (unsigned i = 0; i < pu->link_count; i++) {
		struct pu_link *l = &pu->links[i];
		if (l->peer != peer || l->retire_us)
			continue;
		l->retire_us = until;   /* quietly: no down callback */
		l->up = false;
		any = true;
	}
	if (any)
		TN_INFO("peer", "server %u removed (udp): its links linger until drained", peer);
}

int peer_udp_create(struct peer_udp **out, const struct cfg *cfg, const struct peer_cb *cb)
{
	const struct cfg_server *me = cfg_server_find(cfg, cfg->server_id);
	struct dp_port_cfg pc = { .kind = DP_PORT_KERNEL };
	struct peer_udp *pu;
	const char *mtus = cfg_prop(cfg, "tern.peer.mtu");
	uint32_t mtu = PU_MTU_KERNEL;
	uint64_t now_us = dp_port_now_us(), inc = boot_incarnation();
	int rc;

	if (!me)
		return -EINVAL;
	if (!(pu = calloc(1, sizeof *pu)))
		return -ENOMEM;
	pu->my_id = (uint32_t)cfg->server_id;
	pu->cb = *cb;
	pu->tfd = -1;
	pu->armed_us = UINT64_MAX;
	pu->qport = me->quorum_port;
	pu->eport = me->election_port;
	if (mtus) {
		char *end;
		unsigned long v = strtoul(mtus, &end, 10);
		if (*end || v < 256 || v > DP_PORT_DGRAM_MAX - dp_chan_overhead()) {
			TN_ERROR("peer", "tern.peer.mtu '%s' must be 256..%u", mtus,
				 DP_PORT_DGRAM_MAX - dp_chan_overhead());
			rc = -EINVAL;
			goto fail;
		}
		mtu = (uint32_t)v;
	}
	pc.udp_ports[0] = pu->qport;
	pc.udp_ports[1] = pu->eport;
	pc.udp_port_count = 2;
	pc.busy_poll = cfg->polling == CFG_POLL_BUSY;
	if (cfg->dataplane == CFG_DP_DPDK) {
		if ((rc = dpdk_cfg(pu, cfg, me, &pc)) < 0)
			goto fail;
		pc.dgram_max = DP_PORT_DGRAM_MAX;   /* the port lowers it to the device MTU */
	} else {
		if ((rc = ip4_of(me->host, &pc.ip)) < 0) {
			TN_ERROR("peer", "server.%u host '%s' has no IPv4 address (UDP peers)",
				 pu->my_id, me->host);
			goto fail;
		}
		pc.dgram_max = mtu + dp_chan_overhead();
	}
	if ((rc = dp_port_open(&pu->port, &pc)) < 0) {
		TN_ERROR("peer", "cannot open the %s peer port: %s",
			 pc.kind == DP_PORT_DPDK ? "DPDK" : "UDP", strerror(-rc));
		goto fail;
	}
	if (pc.kind == DP_PORT_DPDK) {   /* what one frame of the device carries */
		uint32_t most = dp_port_dgram_max(pu->port) - dp_chan_overhead();
		if (mtus && mtu > most) {
			TN_ERROR("peer", "tern.peer.mtu %u is over what the DPDK port carries (%u)",
				 mtu, most);
			rc = -EINVAL;
			goto fail;
		}
		mtu = mtus ? mtu : most;
	}
	pu->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (pu->tfd < 0) {
		rc = -errno;
		goto fail;
	}
	/* room for every member reconfig may add: the array never moves */
	if (!(pu->links = calloc(2u * CFG_SERVERS_MAX, sizeof *pu->links))) {
		rc = -ENOMEM;
		goto fail;
	}
	pu->dpdk = pc.kind == DP_PORT_DPDK;
	pu->mtu = mtu;
	pu->inc = inc;
	pu->dead_ms = TN_MIN(TN_MAX(cfg->tick_ms * TN_MAX(cfg->sync_limit, 1u), PU_DEAD_MS_MIN),
			     PU_DEAD_MS_MAX);
	for (unsigned i = 0; i < cfg->server_count; i++)
		if (cfg->servers[i].id != cfg->server_id &&
		    (rc = add_server(pu, &cfg->servers[i], inc, now_us)) < 0)
			goto fail;
	atomic_store(&g_port, pu->port);
	adm_mntr_extra_set(mntr_lines);
	TN_INFO("peer", "peer channels over %s datagrams (mtu %u), incarnation %llu",
		pc.kind == DP_PORT_DPDK ? "DPDK" : "kernel UDP", mtu,
		(unsigned long long)inc);
	*out = pu;
	return 0;
fail:
	peer_udp_destroy(pu);
	return rc;
}

void peer_udp_destroy(struct peer_udp *pu)
{
	if (!pu)
		return;
	adm_mntr_extra_set(NULL);
	atomic_store(&g_port, NULL);
	for (unsigned i = 0; i < pu->link_count; i++)
		dp_chan_destroy(pu->links[i].ch);
	free(pu->links);
	if (pu->tfd >= 0)
		close(pu->tfd);
	dp_port_close(pu->port);
	free(pu);
}

/* Arm the timerfd for @at_us (absolute, CLOCK_MONOTONIC µs), if it changed. */
static void arm(struct peer_udp *pu, uint64_t at_us)
{
	struct itimerspec its = { 0 };

	if (at_us == pu->armed_us)
		return;
	pu->armed_us = at_us;
	if (at_us != UINT64_MAX) {
		at_us = TN_MAX(at_us, 1u);   /* 0 would disarm; a past time fires at once */
		its.it_value.tv_sec = (time_t)(at_us / 1000000u);
		its.it_value.tv_nsec = (long)(at_us % 1000000u) * 1000;
	}
	if (timerfd_settime(pu->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		TN_WARN("peer", "timerfd: %s", strerror(errno));
}

unsigned peer_udp_pollfds(struct peer_udp *pu, struct pollfd *pfd, unsigned max, uint64_t now_ms)
{
	int fds[DP_PORT_UDP_PORTS_MAX];
	unsigned nf = dp_port_fds(pu->port, fds), n = 0;
	uint64_t now_us = dp_port_now_us(), at = UINT64_MAX, idle = dp_port_idle_us(pu->port);

	(void)now_ms;
	for (unsigned i = 0; i < pu->link_count; i++)
		at = TN_MIN(at, dp_chan_next_timer(pu->links[i].ch));
	if (idle != UINT64_MAX)
		at = TN_MIN(at, now_us + idle);
	if (pu->more)
		at = 0;
	pu->more = false;
	arm(pu, at);
	for (unsigned i = 0; i < nf && n < max; i++)
		pfd[n++] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
	if (n < max)
		pfd[n++] = (struct pollfd){ .fd = pu->tfd, .events = POLLIN };
	return n;
}

static void set_up(struct peer_udp *pu, struct pu_link *l, bool up)
{
	if (l->up == up)
		return;
	l->up = up;
	TN_INFO("peer", "%s link to server %u %s (udp)", l->election ? "election" : "quorum",
		l->peer, up ? "up" : "down");
	if (up)
		pu->cb.on_up(pu->cb.arg, l->peer, l->election);
	else
		pu->cb.on_down(pu->cb.arg, l->peer, l->election);
}

/* Events, then whole messages, of one link. */
static void link_deliver(struct peer_udp *pu, struct pu_link *l)
{
	const uint8_t *msg;
	size_t len;
	int ev;

	if (l->retire_us) {   /* the owner no longer hears this peer */
		while (dp_chan_event(l->ch) != DP_CHAN_EV_NONE)
			;
		while (dp_chan_recv(l->ch, &msg, &len) > 0)
			;
		return;
	}
	for (unsigned i = 0; i < PU_EVENTS_MAX && l->ch && (ev = dp_chan_event(l->ch)); i++)
		set_up(pu, l, ev == DP_CHAN_EV_UP);
	/* l->ch is rechecked: a callback may remove the member (reconfig) */
	unsigned i = 0;
	for (; i < PU_DELIVER_MAX && l->ch && l->up && dp_chan_recv(l->ch, &msg, &len) > 0; i++)
		pu->cb.on_msg(pu->cb.arg, l->peer, l->election, msg, len);
	if (i == PU_DELIVER_MAX)
		pu->more = true;   /* the rest next turn, without sleeping */
}

void peer_udp_run(struct peer_udp *pu, const struct pollfd *pfd, unsigned n, uint64_t now_ms)
{
	struct dp_port_dgram d[DP_PORT_BURST_MAX];
	uint64_t now_us = dp_port_now_us(), v;

	(void)now_ms;
	for (unsigned i = 0; i < n; i++)
		if (pfd[i].fd == pu->tfd && (pfd[i].revents & POLLIN)) {
			if (read(pu->tfd, &v, sizeof v) < 0 && errno != EAGAIN)
				TN_WARN("peer", "timerfd read: %s", strerror(errno));
			pu->armed_us = UINT64_MAX;   /* fired: arm again whatever is due */
		}
	for (unsigned b = 0; b < PU_RX_BURSTS_MAX; b++) {
		unsigned got = dp_port_recv(pu->port, d, DP_PORT_BURST_MAX, now_us / 1000u);
		for (unsigned i = 0; i < got; i++) {
			struct pu_link *l = link_from(pu, &d[i]);
			if (!l) {
				pu->unknown_src++;
				atomic_fetch_add_explicit(&g_unknown_src, 1, memory_order_relaxed);
				continue;
			}
			dp_chan_input(l->ch, d[i].data, d[i].len, now_us);
		}
		if (got < DP_PORT_BURST_MAX)
			break;
	}
	for (unsigned i = 0; i < pu->link_count; i++) {
		struct pu_link *l = &pu->links[i];
		if (dp_chan_next_timer(l->ch) <= now_us)
			dp_chan_poll(l->ch, now_us);
		link_deliver(pu, l);
	}
	peer_udp_flush(pu);
	links_reap(pu, dp_port_now_us());
}

int peer_udp_send(struct peer_udp *pu, uint32_t peer, bool election, const void *msg, size_t len)
{
	struct pu_link *l = link_of(pu, peer, election);
	int rc;

	if (!l || !l->up)
		return -ENOTCONN;
	if ((rc = dp_chan_send(l->ch, msg, len)) == 0)
		return 0;
	TN_WARN("peer", "%s link to server %u cut: %s", election ? "election" : "quorum", peer,
		rc == -ENOBUFS ? "peer too slow (send queue full)" : strerror(-rc));
	if (dp_chan_reset(l->ch, dp_port_now_us()) < 0)
		TN_ERROR("peer", "cannot reset the channel to server %u", peer);
	while (dp_chan_event(l->ch) != DP_CHAN_EV_NONE)
		;
	set_up(pu, l, false);
	return rc == -EMSGSIZE ? -ENOBUFS : rc;
}

void peer_udp_flush(struct peer_udp *pu)
{
	uint64_t now_us = dp_port_now_us();

	for (unsigned i = 0; i < pu->link_count; i++)
		if (dp_chan_next_timer(pu->links[i].ch) <= now_us)
			dp_chan_poll(pu->links[i].ch, now_us);
	dp_port_flush(pu->port, now_us / 1000u);
}

bool peer_udp_is_up(struct peer_udp *pu, uint32_t peer, bool election)
{
	struct pu_link *l = link_of(pu, peer, election);
	return l && l->up;
}

void peer_udp_stats(struct peer_udp *pu, uint64_t *sent, uint64_t *recvd)
{
	*sent = *recvd = 0;
	for (unsigned i = 0; i < pu->link_count; i++) {
		uint64_t s, r;
		dp_chan_bytes(pu->links[i].ch, &s, &r);
		*sent += s;
		*recvd += r;
	}
}

/* mntr: zk_peer_port_* lines (adm_mntr_extra_set). */
static size_t mntr_lines(char *buf, size_t cap)
{
	struct dp_port_stats st;
	if (!peer_udp_port_stats(&st))
		return 0;
	size_t n = dp_port_stats_text(&st, "zk_peer_port", buf, cap);
	n += dp_port_queues_text(atomic_load(&g_port), "zk_peer_port", buf + n, cap - n);
	int w = snprintf(buf + n, cap - n, "zk_peer_port_drop_unknown_peer\t%llu\n",
			 (unsigned long long)atomic_load_explicit(&g_unknown_src,
								  memory_order_relaxed));
	return w > 0 ? TN_MIN(n + (size_t)w, cap) : n;
}

int peer_udp_link_bytes(struct peer_udp *pu, uint32_t peer, struct peer_bytes *out)
{
	struct pu_link *l = link_of(pu, peer, false);
	uint64_t s, r;

	if (!l)
		return -ENOENT;
	dp_chan_bytes(l->ch, &s, &r);
	*out = (struct peer_bytes){ .raw_out = s, .wire_out = s, .raw_in = r, .wire_in = r };
	return 0;
}

struct dp_port *peer_udp_nic(void)
{
	struct dp_port *p = atomic_load(&g_port);
	return p && dp_port_queue_count(p) ? p : NULL;
}

bool peer_udp_port_stats(struct dp_port_stats *out)
{
	struct dp_port *p = atomic_load(&g_port);
	if (!p)
		return false;
	dp_port_stats(p, out);
	return true;
}
