/* dataplane/dp_port.c: datagram ports (see dp_port.h): the generic part, the
 * kernel UDP backend and the reliable channels (dp_chan) over dp_rel.
 *
 * Kernel backend: one non-blocking UDP socket per local port. Receives take
 * up to a burst with recvmmsg from each socket in turn into a fixed set of
 * buffers (valid until the next receive). Sends are copied into a fixed
 * burst of slots and leave with one sendmmsg per socket when the burst is
 * full or on flush; EAGAIN drops what is left (counted: dp_rel resends).
 *
 * Channels: a dp_chan wraps a struct dp_rel and emits its datagrams onto the
 * port from its local port to its peer. The port's channel counters are kept
 * as deltas of each channel's dp_rel counters after every input and poll, so
 * telemetry never reads a channel from another thread.
 */
#include "dataplane/dp_port.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/tn_assert.h"
#include "common/tn_log.h"
#include "dataplane/dp_port_int.h"
#include "dataplane/dp_rel.h"

#define KUDP_SOCKBUF_BYTES (8u << 20)  /* rx/tx socket buffers: a window of segments */
#define CHAN_RTO_INIT_US 100000u
#define CHAN_RTO_MIN_US 20000u   /* below this a loaded 2-core box fires spuriously */
#define CHAN_RTO_MAX_US 250000u  /* backoff cap: a LAN peer never waits seconds */
#define CHAN_ACK_DELAY_US 500u
#define CHAN_RCVBUF_BYTES (64ull << 20)

uint64_t dp_port_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- kernel UDP backend ---- */

struct kudp_tx {
	unsigned sock;               /* index of the local port it leaves from */
	struct sockaddr_in to;
	size_t len;
	uint8_t *buf;
};

struct kudp {
	int fd[DP_PORT_UDP_PORTS_MAX];
	unsigned nfd;
	unsigned next_sock;          /* receive round robin start */
	uint8_t *rx_buf[DP_PORT_BURST_MAX];
	struct sockaddr_in rx_from[DP_PORT_BURST_MAX];
	struct kudp_tx tx[DP_PORT_BURST_MAX];
	unsigned ntx;
};

static unsigned kudp_recv(struct dp_port *p, struct dp_port_dgram *d, unsigned max, uint64_t now_ms)
{
	struct kudp *k = p->be;
	struct mmsghdr mh[DP_PORT_BURST_MAX];
	struct iovec iov[DP_PORT_BURST_MAX];
	unsigned got = 0;

	(void)now_ms;
	max = TN_MIN(max, DP_PORT_BURST_MAX);
	for (unsigned t = 0; t < k->nfd && got < max; t++) {
		unsigned s = (k->next_sock + t) % k->nfd;
		unsigned want = max - got;
		for (unsigned i = 0; i < want; i++) {
			iov[i] = (struct iovec){ .iov_base = k->rx_buf[got + i],
						 .iov_len = p->cfg.dgram_max + 1u };
			mh[i] = (struct mmsghdr){ .msg_hdr = {
				.msg_name = &k->rx_from[got + i],
				.msg_namelen = sizeof k->rx_from[0],
				.msg_iov = &iov[i], .msg_iovlen = 1 } };
		}
		int n = recvmmsg(k->fd[s], mh, want, MSG_DONTWAIT, NULL);
		if (n <= 0)
			continue;
		p->st.rx_bursts++;
		unsigned w = got;    /* accepted datagrams are compacted to the front */
		for (unsigned i = 0; i < (unsigned)n; i++) {
			unsigned slot = got + i;
			size_t len = mh[i].msg_len;
			struct sockaddr_in from = k->rx_from[slot];
			if ((mh[i].msg_hdr.msg_flags & MSG_TRUNC) || len > p->cfg.dgram_max) {
				p->st.drop[DP_PORT_DROP_TRUNC]++;
				continue;
			}
			if (mh[i].msg_hdr.msg_namelen != sizeof from || from.sin_family != AF_INET) {
				p->st.drop[DP_PORT_DROP_IP]++;
				continue;
			}
			if (w != slot) {   /* swap buffers so the hole's buffer is reused */
				uint8_t *b = k->rx_buf[w];
				k->rx_buf[w] = k->rx_buf[slot];
				k->rx_buf[slot] = b;
			}
			p->st.rx_pkts++;
			p->st.rx_bytes += len;
			d[w] = (struct dp_port_dgram){
				.src = { .ip = ntohl(from.sin_addr.s_addr), .port = ntohs(from.sin_port) },
				.dst_port = p->cfg.udp_ports[s], .data = k->rx_buf[w], .len = len };
			w++;
		}
		got = w;
	}
	k->next_sock = (k->next_sock + 1) % k->nfd;
	TN_ASSERT_HOT(got <= max);
	return got;
}

static void kudp_flush(struct dp_port *p, uint64_t now_ms)
{
	struct kudp *k = p->be;
	struct mmsghdr mh[DP_PORT_BURST_MAX];
	struct iovec iov[DP_PORT_BURST_MAX];

	(void)now_ms;
	if (!k->ntx)
		return;
	for (unsigned s = 0; s < k->nfd; s++) {
		unsigned n = 0;
		for (unsigned i = 0; i < k->ntx; i++) {
			if (k->tx[i].sock != s)
				continue;
			iov[n] = (struct iovec){ .iov_base = k->tx[i].buf, .iov_len = k->tx[i].len };
			mh[n] = (struct mmsghdr){ .msg_hdr = {
				.msg_name = &k->tx[i].to, .msg_namelen = sizeof k->tx[i].to,
				.msg_iov = &iov[n], .msg_iovlen = 1 } };
			n++;
		}
		unsigned done = 0;
		for (unsigned tries = 0; done < n && tries < DP_PORT_BURST_MAX; tries++) {
			int r = sendmmsg(k->fd[s], mh + done, n - done, MSG_DONTWAIT);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == ENOBUFS) {
					p->st.tx_full += n - done;
				} else {
					/* e.g. ECONNREFUSED from an earlier datagram: skip one */
					p->st.tx_err++;
					done++;
					continue;
				}
				break;
			}
			p->st.tx_bursts++;
			for (int i = 0; i < r; i++) {
				p->st.tx_pkts++;
				p->st.tx_bytes += iov[done + (unsigned)i].iov_len;
			}
			done += (unsigned)r;
		}
	}
	k->ntx = 0;
}

static int kudp_send(struct dp_port *p, uint16_t src_port, const struct dp_port_addr *dst,
		     const void *data, size_t len, uint64_t now_ms)
{
	struct kudp *k = p->be;
	unsigned s;

	if (len > p->cfg.dgram_max)
		return -EMSGSIZE;
	for (s = 0; s < k->nfd; s++)
		if (p->cfg.udp_ports[s] == src_port)
			break;
	if (s == k->nfd) {
		p->st.drop[DP_PORT_DROP_NOPORT]++;
		return -EINVAL;
	}
	if (k->ntx == DP_PORT_BURST_MAX)
		kudp_flush(p, now_ms);
	struct kudp_tx *t = &k->tx[k->ntx++];
	t->sock = s;
	t->to = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(dst->port),
				      .sin_addr.s_addr = htonl(dst->ip) };
	memcpy(t->buf, data, len);
	t->len = len;
	return 0;
}

static unsigned kudp_fds(const struct dp_port *p, int *fds)
{
	const struct kudp *k = p->be;
	for (unsigned i = 0; i < k->nfd; i++)
		fds[i] = k->fd[i];
	return k->nfd;
}

static uint64_t kudp_idle_us(const struct dp_port *p)
{
	(void)p;
	return UINT64_MAX;
}

static void kudp_close(struct dp_port *p)
{
	struct kudp *k = p->be;
	if (!k)
		return;
	for (unsigned i = 0; i < k->nfd; i++)
		close(k->fd[i]);
	for (unsigned i = 0; i < DP_PORT_BURST_MAX; i++) {
		free(k->rx_buf[i]);
		free(k->tx[i].buf);
	}
	free(k);
	p->be = NULL;
}

static const struct dp_port_ops kudp_ops = {
	.recv = kudp_recv, .send = kudp_send, .flush = kudp_flush,
	.fds = kudp_fds, .idle_us = kudp_idle_us, .close = kudp_close,
};

static int kudp_open(struct dp_port *p)
{
	struct kudp *k = calloc(1, sizeof *k);
	int rc = -ENOMEM;

	if (!k)
		return -ENOMEM;
	p->be = k;
	p->ops = &kudp_ops;
	for (unsigned i = 0; i < DP_PORT_BURST_MAX; i++) {
		k->rx_buf[i] = malloc(p->cfg.dgram_max + 1u);
		k->tx[i].buf = malloc(p->cfg.dgram_max);
		if (!k->rx_buf[i] || !k->tx[i].buf)
			goto fail;
	}
	for (unsigned i = 0; i < p->cfg.udp_port_count; i++) {
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		int sz = KUDP_SOCKBUF_BYTES;
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_port = htons(p->cfg.udp_ports[i]),
					  .sin_addr.s_addr = htonl(p->cfg.ip) };
		if (fd < 0) {
			rc = -errno;
			goto fail;
		}
		k->fd[k->nfd++] = fd;
		/* FORCE works for root past rmem_max; otherwise take what is allowed */
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) < 0)
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz) < 0)
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
		if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
			rc = -errno;
			goto fail;
		}
	}
	return 0;
fail:
	kudp_close(p);
	return rc;
}

/* ---- the generic port ---- */

bool dp_port_dpdk_built(void)
{
#ifdef TERN_HAVE_DPDK
	return true;
#else
	return false;
#endif
}

int dp_port_open(struct dp_port **out, const struct dp_port_cfg *cfg)
{
	struct dp_port *p;
	int rc;

	if (cfg->udp_port_count == 0 || cfg->udp_port_count > DP_PORT_UDP_PORTS_MAX ||
	    cfg->dgram_max < 64 || cfg->dgram_max > DP_PORT_DGRAM_MAX ||
	    cfg->eal_argc > DP_PORT_EAL_ARGS_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < cfg->udp_port_count; i++)
		if (cfg->udp_ports[i] == 0)
			return -EINVAL;
	if (!(p = calloc(1, sizeof *p)))
		return -ENOMEM;
	p->cfg = *cfg;
	if (cfg->kind == DP_PORT_KERNEL) {
		rc = kudp_open(p);
	} else {
#ifdef TERN_HAVE_DPDK
		rc = dp_dpdk_open(p);
#else
		rc = -ENOTSUP;
#endif
	}
	if (rc < 0) {
		free(p);
		return rc;
	}
	TN_ASSERT(p->ops && p->be);
	TN_ASSERT(p->cfg.dgram_max >= 64);
	*out = p;
	return 0;
}

static int ipv4_opt(const char *s, uint32_t *out)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*out = ntohl(a.s_addr);
	return 0;
}

static int opt_invalid(const char **bad, const char *what)
{
	*bad = what;
	return -EINVAL;
}

int dp_port_open_client(struct dp_port **out, const struct dp_port_client_cfg *cc,
			const char **bad)
{
	/* the EAL may keep pointers into its argv, and it runs once per
	 * process: the first caller's words stay for the process's life */
	static char *eal_words;
	static const char *eal_argv[DP_PORT_EAL_ARGS_MAX];
	static unsigned eal_argc;
	struct dp_port_cfg c = {.kind = DP_PORT_DPDK, .udp_ports = {DP_PORT_CLIENT_UDP_PORT},
				.udp_port_count = 1, .dgram_max = DP_PORT_DGRAM_MAX,
				.dev = cc->dev, .mbufs = 8192, .exc = DP_PORT_EXC_NONE,
				.netmask = 0xffffff00u};
	const char *dummy;

	bad = bad ? bad : &dummy;
	if (!cc->dev || !*cc->dev)
		return opt_invalid(bad, "dev");
	if (!cc->ip || ipv4_opt(cc->ip, &c.ip) < 0 || !c.ip)
		return opt_invalid(bad, "ip");
	if (cc->netmask && ipv4_opt(cc->netmask, &c.netmask) < 0)
		return opt_invalid(bad, "netmask");
	if (cc->gateway && ipv4_opt(cc->gateway, &c.gateway) < 0)
		return opt_invalid(bad, "gateway");
	if (!eal_words) {
		if (!(eal_words = strdup(cc->eal ? cc->eal : "")))
			return -ENOMEM;
		for (char *save = NULL, *w = strtok_r(eal_words, " ", &save); w;
		     w = strtok_r(NULL, " ", &save)) {
			if (eal_argc == DP_PORT_EAL_ARGS_MAX) {
				free(eal_words);
				eal_words = NULL;
				eal_argc = 0;
				return opt_invalid(bad, "eal");
			}
			eal_argv[eal_argc++] = w;
		}
	}
	memcpy(c.eal_argv, eal_argv, sizeof eal_argv);
	c.eal_argc = eal_argc;
	return dp_port_open(out, &c);
}

void dp_port_close(struct dp_port *p)
{
	if (!p)
		return;
	p->ops->close(p);
	free(p);
}

unsigned dp_port_fds(const struct dp_port *p, int *fds)
{
	unsigned n = p->ops->fds(p, fds);
	TN_ASSERT(n <= DP_PORT_UDP_PORTS_MAX);
	return n;
}

unsigned dp_port_recv(struct dp_port *p, struct dp_port_dgram *d, unsigned max, uint64_t now_ms)
{
	TN_ASSERT(max <= DP_PORT_BURST_MAX);
	unsigned n = p->ops->recv(p, d, max, now_ms);
	if (n == 0)
		p->st.idle_sleeps++;
	return n;
}

int dp_port_send(struct dp_port *p, uint16_t src_port, const struct dp_port_addr *dst,
		 const void *data, size_t len, uint64_t now_ms)
{
	TN_ASSERT(dst->ip != 0);
	return p->ops->send(p, src_port, dst, data, len, now_ms);
}

void dp_port_flush(struct dp_port *p, uint64_t now_ms)
{
	p->ops->flush(p, now_ms);
}

uint32_t dp_port_dgram_max(const struct dp_port *p)
{
	return p->cfg.dgram_max;
}

uint64_t dp_port_idle_us(const struct dp_port *p)
{
	return p->ops->idle_us(p);
}

void dp_port_stats(const struct dp_port *p, struct dp_port_stats *out)
{
	*out = p->st;   /* relaxed copy: counters are monotonic, torn reads tolerated */
}

const char *dp_port_drop_name(enum dp_port_drop d)
{
	static const char *const names[DP_PORT_DROP_COUNT] = {
		"trunc", "noport", "runt", "csum", "mac", "ip", "frag", "arp", "not_ours",
		"arp_wait", "noroute",
	};
	return (unsigned)d < DP_PORT_DROP_COUNT ? names[d] : "?";
}

size_t dp_port_stats_text(const struct dp_port_stats *st, const char *prefix, char *out,
			  size_t cap)
{
	size_t n = 0;
#define PUT(name, v)                                                                          \
	do {                                                                                  \
		if (n < cap) {                                                                \
			int w = snprintf(out + n, cap - n, "%s_%s\t%llu\n", prefix,        \
					 name, (unsigned long long)(v));                      \
			n += w > 0 ? (size_t)w : 0;                                           \
		}                                                                             \
	} while (0)
	PUT("rx_packets", st->rx_pkts);
	PUT("rx_bytes", st->rx_bytes);
	PUT("tx_packets", st->tx_pkts);
	PUT("tx_bytes", st->tx_bytes);
	PUT("tx_full", st->tx_full);
	PUT("tx_errors", st->tx_err);
	PUT("retransmits", st->chan_retrans);
	PUT("rto_fired", st->chan_rto);
	PUT("chan_malformed", st->chan_malformed);
	PUT("chan_stale", st->chan_stale);
	PUT("chan_resets", st->chan_resets);
	PUT("window_full", st->chan_window_full);
	PUT("arp_requests_rx", st->arp_req_rx);
	PUT("arp_requests_tx", st->arp_req_tx);
	PUT("arp_replies_rx", st->arp_reply_rx);
	PUT("exc_tap", st->exc_tap ? 1u : 0u);
	PUT("exc_to_kernel", st->exc_to_kernel);
	PUT("exc_from_kernel", st->exc_from_kernel);
	PUT("exc_tap_full", st->exc_tap_full);
	PUT("exc_errors", st->exc_errors);
	PUT("rx_intr", st->rx_intr ? 1u : 0u);
	PUT("rx_intr_sleeps", st->rx_intr_sleeps);
	PUT("rx_intr_wakeups", st->rx_intr_wakeups);
	for (unsigned i = 0; i < DP_PORT_DROP_COUNT; i++) {
		char name[32];
		snprintf(name, sizeof name, "drop_%s", dp_port_drop_name((enum dp_port_drop)i));
		PUT(name, st->drop[i]);
	}
#undef PUT
	return TN_MIN(n, cap);
}

/* ---- worker queues (dp_dpdk.c has the only backend of them) ---- */

unsigned dp_port_queue_count(const struct dp_port *p)
{
	return p->ops->queue ? p->cfg.worker_queues : 0;
}

struct dp_portq *dp_port_queue(struct dp_port *p, unsigned i)
{
	TN_ASSERT(i < dp_port_queue_count(p));
	return p->ops->queue(p, i);
}

void dp_portq_set_wake(struct dp_portq *q, void (*wake)(void *arg), void *arg)
{
	q->ops->set_wake(q, wake, arg);
}

void dp_portq_thread_attach(struct dp_portq *q)
{
	q->ops->thread_attach(q);
}

unsigned dp_portq_recv(struct dp_portq *q, struct dp_portq_dgram *d, unsigned max)
{
	TN_ASSERT(max <= DP_PORT_BURST_MAX);
	return q->ops->recv(q, d, max);
}

int dp_portq_send(struct dp_portq *q, const uint8_t dst_mac[6], const struct dp_port_addr *dst,
		  const void *data, size_t len)
{
	return q->ops->send(q, dst_mac, dst, data, len);
}

void dp_portq_flush(struct dp_portq *q)
{
	q->ops->flush(q);
}

uint64_t dp_portq_idle_us(struct dp_portq *q)
{
	return q->ops->idle_us(q);
}

int dp_portq_sleep_fd(const struct dp_portq *q)
{
	return q->ops->sleep_fd(q);
}

void dp_portq_stats(const struct dp_port *p, unsigned i, struct dp_portq_stats *out)
{
	TN_ASSERT(i < dp_port_queue_count(p));
	const struct dp_portq *q = p->ops->queue((struct dp_port *)p, i);
	q->ops->stats(q, out);
}

size_t dp_port_queues_text(const struct dp_port *p, const char *prefix, char *out, size_t cap)
{
	size_t n = 0;

	for (unsigned i = 0; i < dp_port_queue_count(p); i++) {
		struct dp_portq_stats st;
		dp_portq_stats(p, i, &st);
		const struct {
			const char *name;
			uint64_t v;
		} f[] = {
			{ "hw", st.hw_queue ? 1u : 0u }, { "rx_packets", st.rx_pkts },
			{ "rx_bytes", st.rx_bytes }, { "tx_packets", st.tx_pkts },
			{ "tx_bytes", st.tx_bytes }, { "to_owner", st.to_owner },
			{ "from_owner", st.from_owner }, { "ring_full", st.ring_full },
			{ "tx_full", st.tx_full }, { "drops", st.drops },
			{ "idle_sleeps", st.idle_sleeps }, { "rx_intr", st.rx_intr ? 1u : 0u },
			{ "intr_sleeps", st.intr_sleeps }, { "intr_wakeups", st.intr_wakeups },
			{ "socket", st.numa_socket }, { "pool_free", st.pool_free },
		};
		for (unsigned k = 0; k < sizeof f / sizeof f[0] && n < cap; k++) {
			int w = snprintf(out + n, cap - n, "%s_q%u_%s\t%llu\n", prefix, i + 1, f[k].name,
					 (unsigned long long)f[k].v);
			n += w > 0 ? (size_t)w : 0;
		}
	}
	return TN_MIN(n, cap);
}

/* ---- reliable channels ---- */

struct dp_chan {
	struct dp_rel rel;
	struct dp_port *port;
	uint16_t src_port;
	struct dp_port_addr peer;
	struct dp_rel_cfg rcfg;
	bool down_pending;           /* a reset dropped an up channel: report DOWN */
	struct dp_rel_stats seen;    /* counters already added to the port */
	uint64_t sent_bytes, recv_bytes;
};

uint32_t dp_chan_overhead(void)
{
	return DP_REL_DGRAM_MAX(0u);
}

/* A reset whose re-init failed (-ENOMEM) leaves the dp_rel zeroed: the
 * channel is then down and dp_chan_poll tries the init again. */
static bool chan_ok(const struct dp_chan *ch)
{
	return ch->rel.tx != NULL;
}

static int chan_emit(void *arg, const void *dgram, size_t len)
{
	struct dp_chan *ch = arg;
	return dp_port_send(ch->port, ch->src_port, &ch->peer, dgram, len, 0);
}

/* Add what the channel counted since last time to the port's counters. */
static void chan_account(struct dp_chan *ch)
{
	if (!chan_ok(ch))
		return;
	const struct dp_rel_stats *s = dp_rel_stats(&ch->rel);
	struct dp_port_stats *ps = &ch->port->st;

	ps->chan_retrans += s->segs_retrans - ch->seen.segs_retrans;
	ps->chan_rto += s->rto_fired - ch->seen.rto_fired;
	ps->chan_malformed += s->malformed - ch->seen.malformed;
	ps->chan_stale += s->stale_inc - ch->seen.stale_inc;
	ps->chan_resets += s->resets - ch->seen.resets;
	ps->chan_window_full += s->window_full - ch->seen.window_full;
	ch->seen = *s;
}

int dp_chan_create(struct dp_chan **out, struct dp_port *p, uint16_t src_port,
		   const struct dp_port_addr *peer, const struct dp_chan_cfg *cfg, uint64_t now_us)
{
	struct dp_chan *ch;
	int rc;

	if (cfg->mtu + dp_chan_overhead() > p->cfg.dgram_max || cfg->keepalive_ms == 0 ||
	    cfg->dead_ms <= cfg->keepalive_ms || peer->ip == 0 || peer->port == 0)
		return -EINVAL;
	if (!(ch = calloc(1, sizeof *ch)))
		return -ENOMEM;
	ch->port = p;
	ch->src_port = src_port;
	ch->peer = *peer;
	ch->rcfg = (struct dp_rel_cfg){
		.incarnation = cfg->incarnation, .mtu = cfg->mtu, .wnd_segs = cfg->wnd_segs,
		.msg_max = cfg->msg_max, .sndbuf_bytes = cfg->sndbuf_bytes,
		.rcvbuf_bytes = TN_MAX(CHAN_RCVBUF_BYTES, cfg->msg_max),
		.rto_init_us = CHAN_RTO_INIT_US, .rto_min_us = CHAN_RTO_MIN_US,
		.rto_max_us = CHAN_RTO_MAX_US, .ack_delay_us = CHAN_ACK_DELAY_US,
		.keepalive_us = cfg->keepalive_ms * 1000u, .dead_us = cfg->dead_ms * 1000u,
	};
	if ((rc = dp_rel_init(&ch->rel, &ch->rcfg, now_us)) < 0) {
		free(ch);
		return rc;
	}
	*out = ch;
	return 0;
}

void dp_chan_destroy(struct dp_chan *ch)
{
	if (!ch)
		return;
	chan_account(ch);
	dp_rel_fini(&ch->rel);
	free(ch);
}

int dp_chan_reset(struct dp_chan *ch, uint64_t now_us)
{
	bool was_up = chan_ok(ch) && ch->rel.up;
	uint64_t inc = TN_MAX(ch->rel.my_inc, ch->rcfg.incarnation) + 1;   /* the peer sees a restart */

	chan_account(ch);
	ch->port->st.chan_resets++;
	dp_rel_fini(&ch->rel);
	ch->seen = (struct dp_rel_stats){ 0 };
	ch->rcfg.incarnation = inc;
	int rc = dp_rel_init(&ch->rel, &ch->rcfg, now_us);
	if (rc < 0)
		return rc;   /* the caller destroys the channel */
	ch->down_pending = ch->down_pending || was_up;
	return 0;
}

int dp_chan_input(struct dp_chan *ch, const void *dgram, size_t len, uint64_t now_us)
{
	if (!chan_ok(ch))
		return -ESTALE;
	int rc = dp_rel_input(&ch->rel, dgram, len, now_us);
	chan_account(ch);
	return rc;
}

int dp_chan_send(struct dp_chan *ch, const void *msg, size_t len)
{
	if (!chan_ok(ch))
		return -ENOBUFS;
	int rc = dp_rel_send(&ch->rel, msg, len);
	if (rc == -EAGAIN)
		return -ENOBUFS;
	if (rc == 0)
		ch->sent_bytes += len;
	return rc;
}

int dp_chan_poll(struct dp_chan *ch, uint64_t now_us)
{
	if (!chan_ok(ch) && dp_rel_init(&ch->rel, &ch->rcfg, now_us) < 0)
		return 0;
	int n = dp_rel_poll(&ch->rel, now_us, chan_emit, ch);
	chan_account(ch);
	return n;
}

int dp_chan_recv(struct dp_chan *ch, const uint8_t **msg, size_t *len)
{
	if (!chan_ok(ch))
		return 0;
	int r = dp_rel_recv(&ch->rel, msg, len);
	if (r > 0)
		ch->recv_bytes += *len;
	return r;
}

int dp_chan_event(struct dp_chan *ch)
{
	if (ch->down_pending) {
		ch->down_pending = false;
		return DP_CHAN_EV_DOWN;
	}
	if (!chan_ok(ch))
		return DP_CHAN_EV_NONE;
	int ev = dp_rel_event(&ch->rel);
	return ev == DP_REL_EV_UP ? DP_CHAN_EV_UP : ev == DP_REL_EV_DOWN ? DP_CHAN_EV_DOWN
									 : DP_CHAN_EV_NONE;
}

bool dp_chan_is_up(const struct dp_chan *ch)
{
	return chan_ok(ch) && ch->rel.up != 0;
}

bool dp_chan_drained(const struct dp_chan *ch)
{
	return !chan_ok(ch) || !ch->rel.sq_head;
}

uint64_t dp_chan_next_timer(const struct dp_chan *ch)
{
	return chan_ok(ch) ? dp_rel_next_timer(&ch->rel) : dp_port_now_us() + 100000u;
}

const struct dp_port_addr *dp_chan_peer(const struct dp_chan *ch)
{
	return &ch->peer;
}

uint16_t dp_chan_src_port(const struct dp_chan *ch)
{
	return ch->src_port;
}

void dp_chan_bytes(const struct dp_chan *ch, uint64_t *sent, uint64_t *recvd)
{
	*sent = ch->sent_bytes;
	*recvd = ch->recv_bytes;
}
