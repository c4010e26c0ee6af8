/* dataplane/dp_udp.c: the native datagram client protocol on a worker.
 *
 * Each worker binds the UDP port with SO_REUSEPORT, so the kernel's 4-tuple
 * hash keeps one client socket on one worker for good. A session attached
 * over UDP is an ordinary worker connection slot (struct dp_conn) without a
 * socket: dp_conn.c decodes its requests, orders its replies, serves its
 * reads and ships its writes to the control thread exactly as for TCP, and
 * the control thread cannot tell the two apart. Only the edges differ:
 *
 *   in   a datagram becomes one length-prefixed frame for dp_conn_input()
 *        (the 4 bytes before the body are the header's cookie, already read,
 *        so the length is written in place: no copy)
 *   out  at the end of a loop turn dp_udp_flush() cuts the connection's
 *        output into frames and sends each as one datagram, keeping a copy of
 *        each request's reply in the attachment's reply cache (dp_udp.h)
 *
 * Lookups. Per worker, two chained hash tables over connection slots: by
 * session id (REQUEST datagrams) and by (client address, connect nonce)
 * (a retransmitted CONNECT finds its attachment and gets the cached
 * ConnectResponse again, instead of making a second session). A REQUEST for
 * a session not attached here (expired, moved to another worker after the
 * client changed its source port, or never seen) is answered with a bare
 * UNKNOWN header: the client resumes with its password, which lands on the
 * worker its socket hashes to. That answer costs no memory, so a flood of
 * unknown sessions cannot grow anything; CONNECTs take connection slots,
 * bounded by DP_CONNS_MAX and maxClientCnxns like TCP accepts.
 *
 * DPDK. With a DPDK port (dp_cfg.nic) the worker also owns one of its
 * queues (dp_port.h, "worker queues") and serves the same protocol on it: a
 * datagram from the NIC arrives as (address, source MAC, bytes in an mbuf),
 * its attachment remembers that it came that way, and replies and events
 * leave through the same queue to that MAC. Everything between is shared.
 *
 * Receiving is plain non-blocking recvmmsg in the worker loop; a multishot
 * io_uring poll on the socket marks it ready, so a sleeping worker wakes for
 * a datagram like for a TCP packet. Sending is batched: datagrams queue during
 * the loop turn and leave with one non-blocking sendmmsg at its end
 * (dp_udp_tx_flush); a reply the kernel refuses is simply lost, and the
 * client's retransmission is answered from the cache.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/tn_assert.h"
#include "common/tn_log.h"
#include "common/tn_rd.h"
#include "dataplane/dp_int.h"
#include "dataplane/dp_udp.h"
#include "dataplane/zkp.h"

#define DP_UDP_HASH 4096u          /* buckets of each lookup table (power of two) */
#define DP_UDP_BATCH 16u           /* datagrams per recvmmsg */
#define DP_UDP_TURN_CALLS 4u       /* recvmmsg calls per loop turn: the rest waits */
#define DP_UDP_RX_SIZE 65536u      /* receive buffer per datagram (any UDP payload fits) */
#define DP_UDP_SOCKBUF (4u << 20)  /* SO_RCVBUF/SO_SNDBUF asked for */
#define DP_UDP_TX_BATCH 64u        /* datagrams per sendmmsg */
#define DP_UDP_TX_BYTES (512u << 10) /* bytes queued for one sendmmsg */

TN_STATIC_ASSERT((DP_UDP_HASH & (DP_UDP_HASH - 1)) == 0, "hash: a power of two");
TN_STATIC_ASSERT(DP_UDP_RX_SIZE > DP_UDP_DGRAM_MAX, "a whole datagram fits a buffer");

/* Where a datagram came from, and so where its answer goes. */
struct udp_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	bool nic;                     /* through the worker's DPDK queue, to @mac */
	uint8_t mac[6];
};

/* A datagram attachment: the UDP half of a dp_conn. */
struct dp_udp_conn {
	struct udp_addr peer;         /* the session's last address: replies and events go here */
	uint32_t nonce;               /* the CONNECT's cookie; REQUESTs must repeat it */
	uint32_t pn_bucket, pn_next;  /* (address, nonce) chain: slot + 1, 0 = end */
	uint64_t sid;
	bool sid_linked;
	uint32_t sid_next;            /* session chain: slot + 1, 0 = end */
	bool connected_sent;
	uint8_t *connected;           /* the CONNECTED datagram, for CONNECT retries */
	uint32_t connected_len;
	struct dp_udp_cache cache;
};

struct dp_udp_port {
	int fd;
	bool ready;                   /* the poll fired: drain until EAGAIN */
	uint32_t sid_head[DP_UDP_HASH], pn_head[DP_UDP_HASH];
	uint8_t *rx;                  /* DP_UDP_BATCH buffers of DP_UDP_RX_SIZE */
	uint8_t tx[DP_UDP_DGRAM_MAX];
	/* datagrams queued this loop turn, sent with one sendmmsg (dp_udp_tx_flush) */
	uint8_t *txq;
	size_t txq_used;
	uint32_t txn;
	struct mmsghdr tmsg[DP_UDP_TX_BATCH];
	struct iovec tiov[DP_UDP_TX_BATCH];
	struct sockaddr_storage tto[DP_UDP_TX_BATCH];
	struct mmsghdr msgs[DP_UDP_BATCH];
	struct iovec iov[DP_UDP_BATCH];
	struct sockaddr_storage from[DP_UDP_BATCH];
	struct dp_portq_dgram nic_rx[DP_UDP_BATCH];
	_Atomic uint64_t st_rx, st_tx, st_bad, st_unknown, st_cookie, st_cached, st_dropped,
		st_evicted, st_refused, st_send_fail, st_sessions;
};

static void count(_Atomic uint64_t *c)
{
	/* one writer (this worker): relaxed is enough for approximate stats */
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static uint32_t hash64(uint64_t v)
{
	v ^= v >> 33;
	v *= 0xff51afd7ed558ccdull;
	v ^= v >> 33;
	return (uint32_t)v & (DP_UDP_HASH - 1);
}

static uint32_t hash_peer(const struct udp_addr *addr, uint32_t nonce)
{
	const struct sockaddr_storage *ss = &addr->ss;
	uint64_t h = nonce;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		h = h << 32 ^ (uint64_t)in->sin_addr.s_addr << 16 ^ in->sin_port;
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		uint64_t a, b;
		memcpy(&a, in6->sin6_addr.s6_addr, 8);
		memcpy(&b, in6->sin6_addr.s6_addr + 8, 8);
		h = h << 32 ^ a ^ hash64(b) ^ in6->sin6_port;
	}
	return hash64(h);
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr);
	}
	return false;
}

static bool same_peer(const struct udp_addr *a, const struct udp_addr *b)
{
	return a->nic == b->nic && same_addr(&a->ss, &b->ss);
}

static struct dp_conn *slot_conn(struct dp_worker *w, uint32_t link)
{
	TN_ASSERT(link > 0 && link <= DP_CONNS_MAX);
	return &w->conns[link - 1];
}

/* ---- lookup tables ---- */

static struct dp_conn *find_sid(struct dp_worker *w, uint64_t sid)
{
	uint32_t link = w->udp->sid_head[hash64(sid)];

	for (uint32_t n = 0; link && n < DP_CONNS_MAX; n++) {
		struct dp_conn *c = slot_conn(w, link);
		TN_ASSERT_HOT(c->udp && c->udp->sid_linked);
		if (c->udp->sid == sid)
			return c;
		link = c->udp->sid_next;
	}
	return NULL;
}

static struct dp_conn *find_peer(struct dp_worker *w, const struct udp_addr *ss, uint32_t nonce)
{
	uint32_t link = w->udp->pn_head[hash_peer(ss, nonce)];

	for (uint32_t n = 0; link && n < DP_CONNS_MAX; n++) {
		struct dp_conn *c = slot_conn(w, link);
		TN_ASSERT_HOT(c->udp);
		if (c->udp->nonce == nonce && same_peer(&c->udp->peer, ss))
			return c;
		link = c->udp->pn_next;
	}
	return NULL;
}

/* Unlink @c from its session chain (and below, from its address chain). */
static void unlink_sid(struct dp_worker *w, struct dp_conn *c)
{
	uint32_t *pp = &w->udp->sid_head[hash64(c->udp->sid)];

	for (uint32_t n = 0; *pp && n < DP_CONNS_MAX; n++) {
		struct dp_conn *o = slot_conn(w, *pp);
		if (o == c) {
			*pp = c->udp->sid_next;
			break;
		}
		pp = &o->udp->sid_next;
	}
	c->udp->sid_linked = false;
	c->udp->sid_next = 0;
}

static void unlink_peer(struct dp_worker *w, struct dp_conn *c)
{
	uint32_t *pp = &w->udp->pn_head[c->udp->pn_bucket];

	for (uint32_t n = 0; *pp && n < DP_CONNS_MAX; n++) {
		struct dp_conn *o = slot_conn(w, *pp);
		if (o == c) {
			*pp = c->udp->pn_next;
			break;
		}
		pp = &o->udp->pn_next;
	}
	c->udp->pn_next = 0;
}

/* @c's session is known: index it. An older attachment of the same session
 * on this worker (a resume from the same socket) hands over its reply cache,
 * so retries across the resume still run once. */
static void link_sid(struct dp_conn *c)
{
	struct dp_worker *w = c->w;
	struct dp_udp_conn *u = c->udp;
	struct dp_conn *old;

	TN_ASSERT(c->sess && !u->sid_linked);
	u->sid = c->sess->id;
	if ((old = find_sid(w, u->sid)) != NULL) {
		unlink_sid(w, old);
		dp_udp_cache_move(&u->cache, &old->udp->cache);
	}
	u->sid_next = w->udp->sid_head[hash64(u->sid)];
	w->udp->sid_head[hash64(u->sid)] = c->slot + 1;
	u->sid_linked = true;
}

/* ---- sending ---- */

void dp_udp_tx_flush(struct dp_worker *w)
{
	struct dp_udp_port *pt = w->udp;
	uint32_t off = 0;

	if (!pt)
		return;
	if (w->nicq)
		dp_portq_flush(w->nicq);
	if (pt->txn == 0)
		return;
	while (off < pt->txn) {
		int n = sendmmsg(pt->fd, pt->tmsg + off, pt->txn - off, MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
			/* this one datagram was refused (a firewall: EPERM; EINTR): skip it */
			count(&pt->st_send_fail);
			off++;
			continue;
		}
		if (n <= 0) {
			/* the socket buffer is full: these are lost, the clients retry */
			atomic_fetch_add_explicit(&pt->st_send_fail, pt->txn - off, memory_order_relaxed);
			break;
		}
		off += (uint32_t)n;
		atomic_fetch_add_explicit(&pt->st_tx, (uint64_t)n, memory_order_relaxed);
	}
	pt->txn = 0;
	pt->txq_used = 0;
}

/* Queue one datagram to @to; it leaves with the turn's sendmmsg (or the
 * DPDK queue's burst). */
static void send_dgram(struct dp_worker *w, const struct udp_addr *to, const uint8_t *p,
		       size_t len)
{
	struct dp_udp_port *pt = w->udp;
	socklen_t to_len = to->len;
	uint32_t i;

	TN_ASSERT_HOT(len >= DP_UDP_HDR_LEN && len <= DP_UDP_DGRAM_MAX);
	if (to->nic) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&to->ss;
		struct dp_port_addr dst = { .ip = ntohl(in->sin_addr.s_addr),
					    .port = ntohs(in->sin_port) };
		TN_ASSERT_HOT(w->nicq && to->ss.ss_family == AF_INET);
		if (dp_portq_send(w->nicq, to->mac, &dst, p, len) == 0)
			count(&pt->st_tx);
		else
			count(&pt->st_send_fail); /* lost: the client retries */
		return;
	}
	if (pt->txn == DP_UDP_TX_BATCH || pt->txq_used + len > DP_UDP_TX_BYTES)
		dp_udp_tx_flush(w);
	TN_ASSERT_HOT(pt->txq_used + len <= DP_UDP_TX_BYTES); /* a datagram fits an empty queue */
	i = pt->txn++;
	memcpy(pt->txq + pt->txq_used, p, len);
	memcpy(&pt->tto[i], &to->ss, to_len);
	pt->tiov[i] = (struct iovec){ pt->txq + pt->txq_used, len };
	pt->tmsg[i].msg_hdr = (struct msghdr){ .msg_name = &pt->tto[i], .msg_namelen = to_len,
		.msg_iov = &pt->tiov[i], .msg_iovlen = 1 };
	pt->txq_used += len;
}

/* A header-only answer (UNKNOWN, EVICTED) to @to. */
static void send_bare(struct dp_worker *w, uint8_t kind, uint64_t sid, int32_t xid,
		      uint32_t cookie, const struct udp_addr *to)
{
	uint8_t b[DP_UDP_HDR_LEN];
	struct dp_udp_hdr h = { .kind = kind, .session = sid, .xid = xid, .cookie = cookie };

	dp_udp_hdr_encode(b, &h);
	send_dgram(w, to, b, sizeof b);
}

/* One frame of @c's output as one datagram. */
static void send_frame(struct dp_conn *c, const uint8_t *body, uint32_t len)
{
	struct dp_worker *w = c->w;
	struct dp_udp_conn *u = c->udp;
	uint8_t *d = w->udp->tx;
	struct dp_udp_hdr h = { .session = c->sess ? c->sess->id : u->sid, .cookie = u->nonce };
	size_t n;

	if (!u->connected_sent) {
		/* the first frame of an attachment is always its ConnectResponse */
		h.kind = DP_UDP_CONNECTED;
		h.xid = u->cache.next_xid;
	} else {
		h.xid = len >= 4 ? (int32_t)tn_load_be32(body) : 0;
		h.kind = h.xid == ZKP_XID_WATCH ? DP_UDP_EVENT : DP_UDP_REPLY;
	}
	if (len > DP_UDP_BODY_MAX) {
		TN_INFO("dp", "%s: reply to xid %d is %u bytes, over a datagram", c->ip, h.xid, len);
		h.kind = h.kind == DP_UDP_REPLY ? DP_UDP_TOOBIG : h.kind;
		len = 0;
		if (h.kind != DP_UDP_TOOBIG)
			return; /* an event or handshake that big: lost (best effort) */
	}
	dp_udp_hdr_encode(d, &h);
	if (len)
		memcpy(d + DP_UDP_HDR_LEN, body, len);
	n = DP_UDP_HDR_LEN + len;
	if (!u->connected_sent) {
		u->connected_sent = true;
		if ((u->connected = malloc(n)) != NULL) {
			memcpy(u->connected, d, n);
			u->connected_len = (uint32_t)n;
		}
	} else if (h.xid >= 0) {
		dp_udp_cache_complete(&u->cache, h.xid, d, n);
	}
	send_dgram(w, &u->peer, d, n);
}

void dp_udp_flush(struct dp_conn *c)
{
	struct dp_buf *b = &c->acc;
	size_t off = 0;

	TN_ASSERT(c->udp && c->fd < 0);
	while (off + ZKP_LEN_PREFIX <= b->len) {
		uint32_t flen = tn_load_be32(b->p + off);
		TN_ASSERT(off + ZKP_LEN_PREFIX + flen <= b->len); /* framed by dp_conn.c / control */
		send_frame(c, b->p + off + ZKP_LEN_PREFIX, flen);
		off += ZKP_LEN_PREFIX + flen;
	}
	TN_ASSERT(off == b->len);
	b->len = 0;
	if (!c->udp->sid_linked && c->sess && c->st == CS_OPEN)
		link_sid(c);
}

/* ---- receiving ---- */

/* Hand @body (@len bytes, with 4 writable bytes before it) to dp_conn.c as a frame. */
static void feed(struct dp_conn *c, uint8_t *body, size_t len)
{
	tn_store_be32(body - ZKP_LEN_PREFIX, (uint32_t)len);
	dp_conn_input(c, body - ZKP_LEN_PREFIX, len + ZKP_LEN_PREFIX);
}

static void peer_name(const struct sockaddr_storage *ss, char *ip, size_t cap, uint16_t *port)
{
	snprintf(ip, cap, "unknown");
	*port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;
		inet_ntop(AF_INET, &in->sin_addr, ip, (socklen_t)cap);
		*port = ntohs(in->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, (socklen_t)cap);
		*port = ntohs(in6->sin6_port);
	}
}

static void on_connect(struct dp_worker *w, const struct dp_udp_hdr *h, uint8_t *body, size_t len,
		       const struct udp_addr *from)
{
	struct dp_udp_port *pt = w->udp;
	struct dp_udp_conn *u;
	struct dp_conn *c;
	char ip[48];
	uint16_t port;

	if (h->cookie == 0 || h->xid < 0) {
		count(&pt->st_bad);
		return;
	}
	if ((c = find_peer(w, from, h->cookie)) != NULL) {
		/* a retransmitted CONNECT: answer again once the answer exists */
		if (c->udp->connected)
			send_dgram(w, from, c->udp->connected, c->udp->connected_len);
		else
			count(&pt->st_dropped);
		return;
	}
	peer_name(&from->ss, ip, sizeof ip, &port);
	if (!(u = calloc(1, sizeof *u)) || !(c = dp_worker_conn_new(w, ip, port))) {
		free(u);
		count(&pt->st_refused);
		return;
	}
	u->peer = *from;
	u->nonce = h->cookie;
	u->pn_bucket = hash_peer(from, h->cookie);
	u->pn_next = pt->pn_head[u->pn_bucket];
	pt->pn_head[u->pn_bucket] = c->slot + 1;
	dp_udp_cache_init(&u->cache, h->xid);
	c->udp = u;
	atomic_store_explicit(&pt->st_sessions, atomic_load(&pt->st_sessions) + 1,
			      memory_order_relaxed);
	feed(c, body, len);
}

/* A REQUEST: find the attachment, check it, then run, answer from the
 * cache, or drop, by the cache's verdict. */
static void on_request(struct dp_worker *w, const struct dp_udp_hdr *h, uint8_t *body, size_t len,
		       const struct udp_addr *from)
{
	struct dp_udp_port *pt = w->udp;
	struct dp_conn *c = find_sid(w, h->session);
	struct dp_udp_conn *u;
	const uint8_t *cached = NULL;
	size_t cached_len = 0;

	if (!c || c->st != CS_OPEN) {
		count(&pt->st_unknown);
		send_bare(w, DP_UDP_UNKNOWN, h->session, h->xid, h->cookie, from);
		return;
	}
	u = c->udp;
	if (h->cookie != u->nonce) {
		count(&pt->st_cookie);
		return;
	}
	if (len < 8 || (int32_t)tn_load_be32(body) != h->xid) {
		count(&pt->st_bad);
		return;
	}
	/* the session's last address: NAT rebinding keeps working */
	u->peer = *from;
	if (h->xid >= 0) {
		switch (dp_udp_cache_admit(&u->cache, h->xid, &cached, &cached_len)) {
		case DP_UDP_NEW:
			break;
		case DP_UDP_DUP_REPLY:
			count(&pt->st_cached);
			atomic_store_explicit(&c->sess->touch_ms, dp_now_ms(), memory_order_relaxed);
			send_dgram(w, from, cached, cached_len);
			return;
		case DP_UDP_GONE:
			count(&pt->st_evicted);
			send_bare(w, DP_UDP_EVICTED, h->session, h->xid, h->cookie, from);
			return;
		default:
			count(&pt->st_dropped);
			return;
		}
	}
	feed(c, body, len);
}

static void on_dgram(struct dp_worker *w, uint8_t *p, size_t len, const struct udp_addr *from)
{
	struct dp_udp_hdr h;
	size_t body_len = len - DP_UDP_HDR_LEN;

	count(&w->udp->st_rx);
	if (dp_udp_hdr_decode(p, len, &h) < 0 || body_len > w->dp->cfg.frame_max ||
	    from->len > sizeof(struct sockaddr_storage)) {
		count(&w->udp->st_bad);
		return;
	}
	if (h.kind == DP_UDP_CONNECT)
		on_connect(w, &h, p + DP_UDP_HDR_LEN, body_len, from);
	else if (h.kind == DP_UDP_REQUEST)
		on_request(w, &h, p + DP_UDP_HDR_LEN, body_len, from);
	else
		count(&w->udp->st_bad); /* a server-to-client kind */
}

/* The worker's DPDK queue: one burst a turn. */
static unsigned nic_poll(struct dp_worker *w)
{
	struct dp_udp_port *pt = w->udp;
	unsigned n = dp_portq_recv(w->nicq, pt->nic_rx, DP_UDP_BATCH);

	for (unsigned i = 0; i < n; i++) {
		const struct dp_portq_dgram *g = &pt->nic_rx[i];
		struct udp_addr from = { .len = sizeof(struct sockaddr_in), .nic = true };
		struct sockaddr_in *in = (struct sockaddr_in *)&from.ss;
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(g->src.ip);
		in->sin_port = htons(g->src.port);
		memcpy(from.mac, g->src_mac, sizeof from.mac);
		on_dgram(w, g->data, g->len, &from);
	}
	return n;
}

unsigned dp_udp_poll(struct dp_worker *w)
{
	struct dp_udp_port *pt = w->udp;
	unsigned total = 0;

	if (!pt)
		return 0;
	if (w->nicq)
		total += nic_poll(w);
	if (!pt->ready)
		return total;
	for (unsigned call = 0; call < DP_UDP_TURN_CALLS; call++) {
		for (unsigned i = 0; i < DP_UDP_BATCH; i++) {
			pt->iov[i] = (struct iovec){ pt->rx + (size_t)i * DP_UDP_RX_SIZE, DP_UDP_RX_SIZE };
			pt->msgs[i].msg_hdr = (struct msghdr){ .msg_name = &pt->from[i],
				.msg_namelen = sizeof pt->from[i], .msg_iov = &pt->iov[i], .msg_iovlen = 1 };
		}
		int n = recvmmsg(pt->fd, pt->msgs, DP_UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				TN_WARN("dp", "worker %u: udp recv: %s", w->idx, strerror(errno));
			if (n == 0 || errno != EINTR)
				pt->ready = false; /* the poll fires again on new data */
			break;
		}
		TN_ASSERT_HOT((unsigned)n <= DP_UDP_BATCH);
		for (int i = 0; i < n; i++) {
			if (pt->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
				count(&pt->st_bad);
				continue;
			}
			struct udp_addr from = { .len = pt->msgs[i].msg_hdr.msg_namelen };
			if (from.len <= sizeof from.ss)
				memcpy(&from.ss, &pt->from[i], from.len);
			on_dgram(w, pt->rx + (size_t)i * DP_UDP_RX_SIZE, pt->msgs[i].msg_len, &from);
		}
		total += (unsigned)n;
		if ((unsigned)n < DP_UDP_BATCH) {
			pt->ready = false;
			break;
		}
	}
	return total;
}

void dp_udp_arm(struct dp_worker *w, struct io_uring_sqe *sqe)
{
	TN_ASSERT(w->udp && w->udp->fd >= 0);
	io_uring_prep_poll_multishot(sqe, w->udp->fd, POLLIN);
	io_uring_sqe_set_data64(sqe, (uint64_t)DP_UD_UDP << 56);
	/* a datagram may already wait: look once without the poll */
	w->udp->ready = true;
}

bool dp_udp_on_poll(struct dp_worker *w, int res, bool more)
{
	TN_ASSERT(w->udp);
	if (res >= 0 || res == -ECANCELED)
		w->udp->ready = true;
	else
		TN_WARN("dp", "worker %u: udp poll: %s", w->idx, strerror(-res));
	return !more;
}

/* ---- lifecycle ---- */

void dp_udp_conn_release(struct dp_conn *c)
{
	struct dp_udp_conn *u = c->udp;
	struct dp_udp_port *pt = c->w->udp;

	if (!u)
		return;
	TN_ASSERT(pt != NULL);
	if (u->sid_linked)
		unlink_sid(c->w, c);
	unlink_peer(c->w, c);
	dp_udp_cache_free(&u->cache);
	free(u->connected);
	free(u);
	c->udp = NULL;
	atomic_store_explicit(&pt->st_sessions, atomic_load(&pt->st_sessions) - 1,
			      memory_order_relaxed);
}

int dp_udp_port_open(struct dp_worker *w)
{
	const struct dp_cfg *cfg = &w->dp->cfg;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(cfg->udp_port) };
	struct dp_udp_port *pt;
	int one = 1, buf = DP_UDP_SOCKBUF, rc;

	if (cfg->udp_port == 0)
		return 0;
	if (cfg->addr && *cfg->addr && inet_pton(AF_INET, cfg->addr, &sa.sin_addr) != 1)
		sa.sin_addr.s_addr = htonl(INADDR_ANY); /* a host name: dp_worker resolved it for TCP */
	if (!(pt = calloc(1, sizeof *pt)) || !(pt->rx = malloc((size_t)DP_UDP_BATCH * DP_UDP_RX_SIZE)) ||
	    !(pt->txq = malloc(DP_UDP_TX_BYTES))) {
		if (pt)
			free(pt->rx);
		free(pt);
		return -ENOMEM;
	}
	pt->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (pt->fd < 0) {
		rc = -errno;
		goto fail;
	}
	setsockopt(pt->fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
	setsockopt(pt->fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
	if (setsockopt(pt->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
	    bind(pt->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		rc = -errno;
		TN_ERROR("dp", "udp port %u: %s", cfg->udp_port, strerror(-rc));
		close(pt->fd);
		goto fail;
	}
	w->udp = pt;
	return 0;
fail:
	free(pt->rx);
	free(pt->txq);
	free(pt);
	return rc;
}

void dp_udp_port_close(struct dp_worker *w)
{
	struct dp_udp_port *pt = w->udp;

	if (!pt)
		return;
	close(pt->fd);
	free(pt->rx);
	free(pt->txq);
	free(pt);
	w->udp = NULL;
}

void dp_udp_log_stats(struct dp *dp)
{
	struct dp_udp_stats st;

	if (!dp->cfg.udp_port)
		return;
	dp_udp_stats(dp, &st);
	TN_INFO("dp", "udp: rx %" PRIu64 " tx %" PRIu64 " bad %" PRIu64 " unknown %" PRIu64
		" cookie %" PRIu64 " retry_cached %" PRIu64 " retry_dropped %" PRIu64
		" evicted %" PRIu64 " refused %" PRIu64 " send_fail %" PRIu64, st.rx, st.tx, st.bad,
		st.unknown, st.cookie, st.retry_cached, st.retry_dropped, st.evicted, st.refused,
		st.send_fail);
}

void dp_udp_stats(struct dp *dp, struct dp_udp_stats *out)
{
	memset(out, 0, sizeof *out);
	for (unsigned i = 0; i < dp->n; i++) {
		struct dp_udp_port *pt = dp->w[i] ? dp->w[i]->udp : NULL;
		if (!pt)
			continue;
		out->rx += atomic_load_explicit(&pt->st_rx, memory_order_relaxed);
		out->tx += atomic_load_explicit(&pt->st_tx, memory_order_relaxed);
		out->bad += atomic_load_explicit(&pt->st_bad, memory_order_relaxed);
		out->unknown += atomic_load_explicit(&pt->st_unknown, memory_order_relaxed);
		out->cookie += atomic_load_explicit(&pt->st_cookie, memory_order_relaxed);
		out->retry_cached += atomic_load_explicit(&pt->st_cached, memory_order_relaxed);
		out->retry_dropped += atomic_load_explicit(&pt->st_dropped, memory_order_relaxed);
		out->evicted += atomic_load_explicit(&pt->st_evicted, memory_order_relaxed);
		out->refused += atomic_load_explicit(&pt->st_refused, memory_order_relaxed);
		out->send_fail += atomic_load_explicit(&pt->st_send_fail, memory_order_relaxed);
		out->sessions += atomic_load_explicit(&pt->st_sessions, memory_order_relaxed);
	}
}
