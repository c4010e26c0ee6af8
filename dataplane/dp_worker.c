/* dataplane/dp_worker.c: one io_uring per worker thread (kernel mode).
 *
 * Each worker owns a SO_REUSEPORT listening socket on the client port, so the
 * kernel spreads new connections over workers and no acceptor thread hands
 * sockets around. The ring carries:
 *
 *   user_data = kind << 56 | (gen & 0xffffff) << 32 | slot
 *   kind  ACCEPT  multishot accept on the listening socket
 *         RECV    multishot recv (provided buffer ring, group DP_BUF_GROUP)
 *                 or plain recv into the connection's own buffer
 *         SEND    one send per connection in flight (batched: everything
 *                 queued during a loop turn goes out in one SQE)
 *         WAKE    an 8-byte read on the eventfd the control thread writes
 *
 * Loop turn: drain the inbox ring from the control thread, reap CQEs, let
 * reads parked by the apply fence run once their events are queued (dp.h,
 * "Events before reads"), start sends, announce an RCU quiescent state,
 * submit. After DP_SPIN_TURNS idle turns
 * the worker sets @sleeping, goes RCU-offline and blocks in the kernel until a
 * CQE arrives (a client packet or the eventfd), so an idle server uses no CPU.
 *
 * A connection is freed only when no io_uring op still refers to it (@ops);
 * stale completions and messages are recognised by the generation number.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <urcu/urcu-qsbr.h>

#include "common/tn_assert.h"
#include "common/tn_log.h"
#include "dataplane/dp_int.h"
#include "dataplane/zkp.h"

enum { UD_ACCEPT = 1, UD_RECV, UD_SEND, UD_WAKE, UD_CANCEL };

static inline uint64_t ud_make(unsigned kind, uint32_t gen, uint32_t slot)
{
	return (uint64_t)kind << 56 | (uint64_t)(gen & 0xffffffu) << 32 | slot;
}

uint64_t dp_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t dp_now_ms(void)
{
	return dp_now_ns() / 1000000ull;
}

/* ---- small buffers ---- */

int dp_buf_reserve(struct dp_buf *b, size_t need)
{
	size_t cap;
	uint8_t *p;

	if (b->cap - b->len >= need)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap - b->len < need)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int dp_buf_append(struct dp_buf *b, const void *p, size_t n)
{
	int rc = dp_buf_reserve(b, n);
	if (rc < 0)
		return rc;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

void dp_buf_free(struct dp_buf *b)
{
	free(b->p);
	*b = (struct dp_buf){ 0 };
}

/* ---- SQEs ---- */

static struct io_uring_sqe *get_sqe(struct dp_worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
	if (!sqe) {
		/* the SQ is full: push what is there and take a fresh slot */
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	TN_ASSERT(sqe != NULL);
	return sqe;
}

static void arm_accept(struct dp_worker *w)
{
	struct io_uring_sqe *sqe = get_sqe(w);
	io_uring_prep_multishot_accept(sqe, w->lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ud_make(UD_ACCEPT, 0, 0));
}

static void arm_wake(struct dp_worker *w)
{
	struct io_uring_sqe *sqe = get_sqe(w);
	io_uring_prep_read(sqe, w->efd, &w->efd_val, sizeof w->efd_val, 0);
	io_uring_sqe_set_data64(sqe, ud_make(UD_WAKE, 0, 0));
}

static void arm_recv(struct dp_conn *c)
{
	struct dp_worker *w = c->w;
	struct io_uring_sqe *sqe = get_sqe(w);

	TN_ASSERT(!c->recv_armed);
	if (w->use_bufring) {
		io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = DP_BUF_GROUP;
	} else {
		io_uring_prep_recv(sqe, c->fd, c->rbuf, DP_BUF_SIZE, 0);
	}
	io_uring_sqe_set_data64(sqe, ud_make(UD_RECV, c->gen, c->slot));
	c->recv_armed = true;
	c->ops++;
}

static void arm_send(struct dp_conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(c->w);

	TN_ASSERT(c->tx_off < c->tx.len);
	io_uring_prep_send(sqe, c->fd, c->tx.p + c->tx_off, c->tx.len - c->tx_off, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud_make(UD_SEND, c->gen, c->slot));
	c->sending = true;
	c->ops++;
}

static void mark_dirty(struct dp_conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->dirty_next = c->w->dirty;
	c->w->dirty = c;
}

/* ---- connections ---- */

void dp_conn_send(struct dp_conn *c, const void *p, size_t n)
{
	if (c->st == CS_CLOSING || c->st == CS_FREE)
		return;
	if (c->acc.len + n > DP_OUT_MAX || dp_buf_append(&c->acc, p, n) < 0) {
		TN_WARN("dp", "%s: output backlog over %u bytes, closing", c->ip, DP_OUT_MAX);
		dp_conn_close(c, false);
		return;
	}
	dp_conn_stats_sync(c, c->w->dp);
	c->sent_count++;
	atomic_fetch_add_explicit(&c->w->st_sent, 1, memory_order_relaxed);
	mark_dirty(c);
}

void dp_conn_close(struct dp_conn *c, bool flush)
{
	if (c->st == CS_CLOSING || c->st == CS_FREE)
		return;
	if (flush && (c->sending || c->acc.len > 0)) {
		c->close_after = true;
		mark_dirty(c);
		return;
	}
	c->st = CS_CLOSING;
	/* shutdown makes the armed recv and any send complete promptly */
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
	mark_dirty(c);
}

static void ip_release(struct dp_conn *c)
{
	struct dp *dp = c->w->dp;

	if (!c->counted_ip)
		return;
	pthread_mutex_lock(&dp->ip_lock);
	TN_ASSERT(dp->ip_count[c->ip_hash] > 0 && dp->conn_total > 0);
	dp->ip_count[c->ip_hash]--;
	dp->conn_total--;
	pthread_mutex_unlock(&dp->ip_lock);
	c->counted_ip = false;
}

static void conn_finalize(struct dp_conn *c)
{
	struct dp_worker *w = c->w;

	TN_ASSERT(c->st == CS_CLOSING && c->ops == 0);
	if (c->paused) {
		struct dp_conn **pp = &w->paused;
		while (*pp && *pp != c)
			pp = &(*pp)->paused_next;
		TN_ASSERT(*pp == c);
		*pp = c->paused_next;
		c->paused = false;
		c->paused_next = NULL;
	}
	if (c->held) {
		struct dp_conn **pp = &w->held;
		while (*pp && *pp != c)
			pp = &(*pp)->held_next;
		TN_ASSERT(*pp == c);
		*pp = c->held_next;
		c->held = false;
		c->held_next = NULL;
	}
	dp_conn_release(c);
	dp_udp_conn_release(c);
	if (c->fd >= 0)
		close(c->fd);
	ip_release(c);
	free(c->rbuf);
	c->rbuf = NULL;
	c->fd = -1;
	c->st = CS_FREE;
	c->gen++;
	w->free_slots[w->free_count++] = c->slot;
	TN_ASSERT(w->conn_count > 0);
	w->conn_count--;
	atomic_store_explicit(&w->st_conns, w->conn_count, memory_order_relaxed);
}

static uint32_t ip_hash(const char *ip)
{
	uint32_t h = 2166136261u;
	for (const char *p = ip; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h % DP_IPTAB_SIZE;
}

/* Per-IP cap (maxClientCnxns) and total cap (zookeeper.maxCnxns). Hash
 * collisions can only make the per-IP cap stricter. */
static bool ip_admit(struct dp_worker *w, struct dp_conn *c)
{
	struct dp *dp = w->dp;
	bool ok;

	c->ip_hash = ip_hash(c->ip);
	pthread_mutex_lock(&dp->ip_lock);
	ok = (dp->cfg.max_client_cnxns == 0 ||
	      dp->ip_count[c->ip_hash] < dp->cfg.max_client_cnxns) &&
	     (dp->cfg.max_cnxns == 0 || dp->conn_total < dp->cfg.max_cnxns);
	if (ok) {
		dp->ip_count[c->ip_hash]++;
		dp->conn_total++;
	}
	pthread_mutex_unlock(&dp->ip_lock);
	c->counted_ip = ok;
	return ok;
}

static void peer_ip(int fd, char *out, size_t cap, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;

	snprintf(out, cap, "unknown");
	*port = 0;
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)cap);
		*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)cap);
		*port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
}

static void on_accept(struct dp_worker *w, int fd)
{
	struct dp_conn *c;
	int one = 1;

	if (w->free_count == 0) {
		TN_WARN("dp", "worker %u: %u connections, refusing more", w->idx, DP_CONNS_MAX);
		close(fd);
		return;
	}
	c = &w->conns[w->free_slots[--w->free_count]];
	TN_ASSERT(c->st == CS_FREE);
	c->fd = fd;
	c->w = w;
	peer_ip(fd, c->ip, sizeof c->ip, &c->port);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	w->conn_count++;
	atomic_store_explicit(&w->st_conns, w->conn_count, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->st_conns_total, 1, memory_order_relaxed);
	if (!ip_admit(w, c)) {
		TN_WARN("dp", "too many connections from %s (maxClientCnxns %u, maxCnxns %u)",
			c->ip, w->dp->cfg.max_client_cnxns, w->dp->cfg.max_cnxns);
		goto fail;
	}
	if (!w->use_bufring && !(c->rbuf = malloc(DP_BUF_SIZE)))
		goto fail;
	if (dp_conn_init(c, c->ip) < 0)
		goto fail;
	arm_recv(c);
	return;
fail:
	c->st = CS_CLOSING;
	shutdown(fd, SHUT_RDWR);
	mark_dirty(c);
}

struct dp_conn *dp_worker_conn_new(struct dp_worker *w, const char *ip, uint16_t port)
{
	struct dp_conn *c;

	if (w->free_count == 0)
		return NULL;
	c = &w->conns[w->free_slots[w->free_count - 1]];
	TN_ASSERT(c->st == CS_FREE && c->fd < 0 && c->udp == NULL);
	c->w = w;
	snprintf(c->ip, sizeof c->ip, "%s", ip);
	c->port = port;
	if (!ip_admit(w, c))
		return NULL;
	if (dp_conn_init(c, c->ip) < 0) {
		dp_conn_release(c);
		ip_release(c);
		return NULL;
	}
	w->free_count--;
	w->conn_count++;
	atomic_store_explicit(&w->st_conns, w->conn_count, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->st_conns_total, 1, memory_order_relaxed);
	c->st = CS_CONNECTING; /* datagrams carry no four-letter words */
	return c;
}

static void recycle_buf(struct dp_worker *w, unsigned bid)
{
	io_uring_buf_ring_add(w->br, w->bufs + (size_t)bid * DP_BUF_SIZE, DP_BUF_SIZE, (unsigned short)bid,
			      io_uring_buf_ring_mask(DP_BUF_COUNT), 0);
	io_uring_buf_ring_advance(w->br, 1);
}

static void on_recv(struct dp_worker *w, struct dp_conn *c, struct io_uring_cqe *cqe)
{
	bool more = (cqe->flags & IORING_CQE_F_MORE) != 0;
	int res = cqe->res;

	if (!more)
		c->recv_armed = false;
	if (res > 0) {
		const uint8_t *p = c->rbuf;
		unsigned bid = 0;
		if (cqe->flags & IORING_CQE_F_BUFFER) {
			bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
			TN_ASSERT(bid < DP_BUF_COUNT);
			p = w->bufs + (size_t)bid * DP_BUF_SIZE;
		}
		if (c->st != CS_CLOSING)
			dp_conn_input(c, p, (size_t)res);
		if (cqe->flags & IORING_CQE_F_BUFFER)
			recycle_buf(w, bid);
	} else if (res == -ENOBUFS) {
		/* every provided buffer is queued in some connection: retry next turn */
	} else if (res != -EINTR && res != -EAGAIN && res != -ECANCELED) {
		/* -ECANCELED: dp_conn_pause stopped it on purpose */
		dp_conn_close(c, res == 0);  /* EOF: flush what we owe; error: just close */
	}
	if (!c->recv_armed && !c->paused && c->st != CS_CLOSING && c->st != CS_FREE)
		arm_recv(c);
}

/* Stop reading @c: cancel its multishot recv (a plain recv is simply not
 * re-armed). The kernel's socket buffer then fills and TCP pushes back on the
 * client, as ZooKeeper does above globalOutstandingLimit. */
void dp_conn_pause(struct dp_conn *c)
{
	struct dp_worker *w = c->w;

	if (c->paused || c->st == CS_CLOSING || c->st == CS_FREE)
		return;
	TN_DEBUG("dp", "%s: pausing reads, %" PRId64 " requests outstanding", c->ip,
		 (int64_t)atomic_load(&w->dp->outstanding));
	c->paused = true;
	c->paused_next = w->paused;
	w->paused = c;
	if (c->recv_armed && w->use_bufring) {
		struct io_uring_sqe *sqe = get_sqe(w);
		io_uring_prep_cancel64(sqe, ud_make(UD_RECV, c->gen, c->slot), 0);
		io_uring_sqe_set_data64(sqe, ud_make(UD_CANCEL, 0, 0));
	}
}

/* Resume paused connections once the control thread is below 3/4 of the limit. */
static void resume_paused(struct dp_worker *w)
{
	int64_t max = w->dp->cfg.outstanding_max;
	struct dp_conn *c = w->paused;

	if (!c || atomic_load_explicit(&w->dp->outstanding, memory_order_relaxed) > max * 3 / 4)
		return;
	w->paused = NULL;
	while (c) {
		struct dp_conn *next = c->paused_next;
		c->paused = false;
		c->paused_next = NULL;
		if (!c->udp && !c->recv_armed && c->st != CS_CLOSING && c->st != CS_FREE)
			arm_recv(c); /* a datagram attachment has no socket of its own */
		c = next;
	}
}

static void on_send(struct dp_conn *c, int res)
{
	c->sending = false;
	if (res < 0) {
		c->tx.len = 0;
		c->tx_off = 0;
		dp_conn_close(c, false);
		return;
	}
	c->tx_off += (size_t)res;
	if (c->tx_off < c->tx.len && c->st != CS_CLOSING) {
		arm_send(c);
		return;
	}
	c->tx.len = 0;
	c->tx_off = 0;
	mark_dirty(c);
}

static void on_cqe(struct dp_worker *w, struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	unsigned kind = (unsigned)(ud >> 56);
	uint32_t slot = (uint32_t)ud, gen = (uint32_t)(ud >> 32) & 0xffffffu;
	struct dp_conn *c;

	if (kind == UD_ACCEPT) {
		if (cqe->res >= 0)
			on_accept(w, cqe->res);
		else if (cqe->res != -EINTR && cqe->res != -ECANCELED)
			TN_WARN("dp", "worker %u: accept: %s", w->idx, strerror(-cqe->res));
		if (!(cqe->flags & IORING_CQE_F_MORE) && !atomic_load(&w->stop))
			arm_accept(w);
		return;
	}
	if (kind == UD_CANCEL)
		return; /* the cancelled recv reports itself */
	if (kind == DP_UD_UDP) {
		if (dp_udp_on_poll(w, cqe->res, (cqe->flags & IORING_CQE_F_MORE) != 0) &&
		    !atomic_load(&w->stop))
			dp_udp_arm(w, get_sqe(w));
		return;
	}
	if (kind == UD_WAKE) {
		if (!atomic_load(&w->stop))
			arm_wake(w);
		return;
	}
	if (kind == DP_UD_NIC) {   /* the next dp_udp_poll disarms and polls the queue */
		w->nic_poll_armed = false;
		return;
	}
	TN_ASSERT(slot < DP_CONNS_MAX);
	c = &w->conns[slot];
	TN_ASSERT((c->gen & 0xffffffu) == gen && c->ops > 0);
	if (kind == UD_RECV) {
		if (!(cqe->flags & IORING_CQE_F_MORE))
			c->ops--;
		on_recv(w, c, cqe);
	} else {
		TN_ASSERT(kind == UD_SEND);
		c->ops--;
		on_send(c, cqe->res);
	}
	if (c->st == CS_CLOSING)
		mark_dirty(c);
}

/* Start sends, honour close-after-flush, free drained closed connections. */
static void flush_dirty(struct dp_worker *w)
{
	struct dp_conn *c = w->dirty;

	w->dirty = NULL;
	while (c) {
		struct dp_conn *next = c->dirty_next;
		c->dirty = false;
		if (c->udp && c->st != CS_CLOSING && c->acc.len > 0)
			dp_udp_flush(c); /* datagrams go out now: nothing stays in flight */
		if (c->st != CS_CLOSING && !c->sending && c->acc.len > 0) {
			struct dp_buf t = c->tx;
			TN_ASSERT(c->tx.len == 0);
			c->tx = c->acc;
			c->acc = t;
			c->tx_off = 0;
			arm_send(c);
		}
		if (c->st != CS_CLOSING && c->close_after && !c->sending && c->acc.len == 0)
			dp_conn_close(c, false);
		if (c->st == CS_CLOSING && c->ops == 0)
			conn_finalize(c);
		c = next;
	}
}

void dp_worker_to_ctl(struct dp_worker *w, struct dp_msg *m)
{
	m->worker = (uint16_t)w->idx;
	if (w->spill_count == 0 && dp_ring_push(w->dp->cfg.to_ctl, m)) {
		w->ctl_pushed = true;
		return;
	}
	if (w->spill_count == w->spill_cap) {
		uint32_t cap = w->spill_cap ? w->spill_cap * 2 : 64;
		struct dp_msg **s = realloc(w->spill, cap * sizeof *s);
		TN_ASSERT(s != NULL); /* UNTESTED: only when the control ring is full and memory is gone */
		w->spill = s;
		w->spill_cap = cap;
	}
	w->spill[w->spill_count++] = m;
}

static void flush_spill(struct dp_worker *w)
{
	uint32_t i = 0;

	while (i < w->spill_count && dp_ring_push(w->dp->cfg.to_ctl, w->spill[i]))
		i++;
	if (i) {
		memmove(w->spill, w->spill + i, (w->spill_count - i) * sizeof *w->spill);
		w->spill_count -= i;
		w->ctl_pushed = true;
	}
	if (w->ctl_pushed) {
		w->ctl_pushed = false;
		w->dp->cfg.ctl_wake(w->dp->cfg.ctl_arg);
	}
}

/* Deliver what the control thread posted. A drain that empties the ring
 * has queued every event of txns up to the @posted it loaded first (the
 * control thread pushes a txn's events, then publishes @posted). */
static unsigned drain_inbox(struct dp_worker *w)
{
	/* acquire: pairs with dp_apply_end's release; the pops below see the pushes */
	uint64_t posted = atomic_load_explicit(&w->dp->events_posted, memory_order_acquire);
	unsigned n = 0;
	struct dp_msg *m;

	for (;;) {
		if (n == DP_INBOX_BATCH)
			return n; /* more next turn; @drained_zxid stays */
		if (!(m = dp_ring_pop(w->inbox)))
			break;
		struct dp_conn *c = m->slot < DP_CONNS_MAX ? &w->conns[m->slot] : NULL;
		n++;
		if (!c || c->gen != m->gen || c->st == CS_FREE || c->st == CS_CLOSING) {
			if (m->kind == DP_MSG_REPLY) /* it was counted when its request left */
				atomic_fetch_sub_explicit(&w->dp->outstanding, 1,
							  memory_order_relaxed);
			dp_msg_free(m); /* the connection is gone */
			continue;
		}
		dp_conn_deliver(c, m);
	}
	w->drained_zxid = TN_MAX(w->drained_zxid, posted);
	return n;
}

/* True if every event of txns up to @zxid is queued on its connection. With
 * the ring empty after loading @posted, nothing pushed before it is left. */
static bool events_queued_through(struct dp_worker *w, uint64_t zxid)
{
	uint64_t posted;

	if (zxid <= w->drained_zxid)
		return true;
	posted = atomic_load_explicit(&w->dp->events_posted, memory_order_acquire);
	if (posted < zxid || dp_ring_nonempty(w->inbox))
		return false;
	w->drained_zxid = posted;
	return true;
}

/* Park @c until every event of txns up to @zxid is queued; its read waits
 * in the backlog meanwhile. */
static void fence_park(struct dp_conn *c, uint64_t zxid)
{
	struct dp_worker *w = c->w;

	TN_ASSERT(!c->held);
	c->held = true;
	c->hold_zxid = zxid;
	c->held_next = w->held;
	w->held = c;
}

bool dp_fence_enter(struct dp_conn *c, uint64_t *zxid)
{
	/* acquire: the store reads that follow cannot move above this load */
	uint64_t z = atomic_load_explicit(&c->w->dp->applying, memory_order_acquire);

	if (!events_queued_through(c->w, z)) {
		fence_park(c, z);
		return false;
	}
	*zxid = z;
	return true;
}

bool dp_fence_exit(struct dp_conn *c, uint64_t zxid)
{
	uint64_t z;

	/* The store reads above happen before this load: a read that saw any
	 * effect of txn Z (published after dp_apply_begin stored @applying = Z)
	 * loads @applying >= Z here. */
	atomic_thread_fence(memory_order_acquire);
	z = atomic_load_explicit(&c->w->dp->applying, memory_order_relaxed);
	if (z == zxid)
		return true;
	TN_ASSERT(z > zxid);
	fence_park(c, z);
	return false;
}

/* Let parked connections run their reads once their fence zxid is covered.
 * Runs at the top of the loop (never inside a delivery), so the backlog may
 * run here; a read that parks again joins the fresh list. */
static unsigned release_held(struct dp_worker *w)
{
	struct dp_conn *c = w->held;
	unsigned n = 0;

	w->held = NULL;
	while (c) {
		struct dp_conn *next = c->held_next;
		TN_ASSERT(c->held);
		c->held_next = NULL;
		if (!events_queued_through(w, c->hold_zxid)) {
			c->held_next = w->held; /* still waiting */
			w->held = c;
		} else {
			c->held = false;
			n++;
			dp_conn_unhold(c);
		}
		c = next;
	}
	return n;
}

static unsigned drain_cqes(struct dp_worker *w)
{
	struct io_uring_cqe *cqes[DP_CQE_BATCH];
	unsigned total = 0, n;

	do {
		n = io_uring_peek_batch_cqe(&w->ring, cqes, DP_CQE_BATCH);
		for (unsigned i = 0; i < n; i++)
			on_cqe(w, cqes[i]);
		io_uring_cq_advance(&w->ring, n);
		total += n;
	} while (n == DP_CQE_BATCH && total < 16 * DP_CQE_BATCH);
	return total;
}

/* Sleep until a CQE arrives. The eventfd read is always armed, so a
 * control-thread post wakes us; RCU-offline so the writer never waits on us. */
static void worker_sleep(struct dp_worker *w)
{
	/* a DPDK queue has no fd: sleep only as long as adaptive polling says
	 * (0: keep spinning; UINT64_MAX: the owner wakes us, see nic_wake) */
	uint64_t us = UINT64_MAX;

	atomic_store(&w->sleeping, 1); /* seq_cst: pairs with dp_flush's fence */
	if (w->nicq)
		us = dp_portq_idle_us(w->nicq);
	if (dp_ring_nonempty(w->inbox) || atomic_load(&w->stop) || us == 0) {
		atomic_store(&w->sleeping, 0);
		return;
	}
	urcu_qsbr_thread_offline();
	int fd = w->nicq ? dp_portq_sleep_fd(w->nicq) : -1;
	if (fd >= 0 && !w->nic_poll_armed) {   /* the queue's Rx interrupt wakes us */
		struct io_uring_sqe *sqe = get_sqe(w);
		io_uring_prep_poll_add(sqe, fd, POLLIN);
		io_uring_sqe_set_data64(sqe, (uint64_t)DP_UD_NIC << 56);
		w->nic_poll_armed = true;
	}
	if (us == UINT64_MAX) {
		io_uring_submit_and_wait(&w->ring, 1);
	} else {
		struct __kernel_timespec ts = { .tv_sec = (long long)(us / 1000000u),
						.tv_nsec = (long long)(us % 1000000u) * 1000 };
		struct io_uring_cqe *cqe;
		io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
	}
	urcu_qsbr_thread_online();
	atomic_store(&w->sleeping, 0);
}

/* The DPDK port's owner handed this worker datagrams (dp_portq_set_wake). */
static void nic_wake(void *arg)
{
	struct dp_worker *w = arg;
	uint64_t one = 1;

	atomic_thread_fence(memory_order_seq_cst); /* published, then check: see dp.h */
	if (atomic_load(&w->sleeping) && write(w->efd, &one, sizeof one) < 0)
		TN_WARN("dp", "wake worker %u: %s", w->idx, strerror(errno));
}

static void *worker_main(void *arg)
{
	struct dp_worker *w = arg;
	unsigned idle = 0;

	store_reader_register();
	arm_accept(w);
	arm_wake(w);
	if (w->udp)
		dp_udp_arm(w, get_sqe(w));
	if (w->nicq)
		dp_portq_thread_attach(w->nicq);
	while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
		/* inbox first: watch events queued by the control thread go out
		 * before this turn's reads are answered; a read that meets an
		 * apply in flight waits for its events (dp.h, "Ordering") */
		unsigned work = drain_inbox(w);
		work += drain_cqes(w);
		work += dp_udp_poll(w);
		if (w->held) {
			work += drain_inbox(w);
			work += release_held(w);
		}
		resume_paused(w);
		flush_spill(w);
		flush_dirty(w);
		dp_udp_tx_flush(w);
		store_quiescent();
		io_uring_submit(&w->ring);
		if (work) {
			idle = 0;
		} else if (++idle >= DP_SPIN_TURNS && w->spill_count == 0 && !w->held) {
			worker_sleep(w);
			idle = 0;
		} else if (w->spill_count || w->held) {
			/* the control ring is full, or a read waits on an apply:
			 * let the control thread run (it may share this cpu) */
			sched_yield();
		}
	}
	store_reader_unregister();
	return NULL;
}

/* ---- setup and teardown ---- */

static int listen_socket(const struct dp_cfg *cfg)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(cfg->port) };
	int fd, one = 1, rc;

	if (cfg->addr && *cfg->addr && inet_pton(AF_INET, cfg->addr, &sa.sin_addr) != 1) {
		struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai;
		if ((rc = getaddrinfo(cfg->addr, NULL, &hints, &ai)) != 0) {
			TN_ERROR("dp", "clientPortAddress %s: %s", cfg->addr, gai_strerror(rc));
			return -EINVAL;
		}
		sa.sin_addr = ((struct sockaddr_in *)ai->ai_addr)->sin_addr;
		freeaddrinfo(ai);
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(fd, cfg->backlog > 0 ? cfg->backlog : 1024) < 0) {
		rc = -errno;
		TN_ERROR("dp", "listen on %s:%u: %s", cfg->addr ? cfg->addr : "0.0.0.0", cfg->port,
			 strerror(-rc));
		close(fd);
		return rc;
	}
	return fd;
}

/* Register the provided buffer ring; false if the kernel refuses (old kernel). */
static bool setup_bufring(struct dp_worker *w)
{
	struct io_uring_buf_reg reg = { 0 };

	w->br_bytes = DP_BUF_COUNT * sizeof(struct io_uring_buf);
	w->br = mmap(NULL, w->br_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (w->br == MAP_FAILED) {
		w->br = NULL;
		return false;
	}
	w->bufs = malloc((size_t)DP_BUF_COUNT * DP_BUF_SIZE);
	reg.ring_addr = (unsigned long)w->br;
	reg.ring_entries = DP_BUF_COUNT;
	reg.bgid = DP_BUF_GROUP;
	if (!w->bufs || io_uring_register_buf_ring(&w->ring, &reg, 0) < 0) {
		free(w->bufs);
		w->bufs = NULL;
		munmap(w->br, w->br_bytes);
		w->br = NULL;
		return false;
	}
	io_uring_buf_ring_init(w->br);
	for (unsigned i = 0; i < DP_BUF_COUNT; i++)
		io_uring_buf_ring_add(w->br, w->bufs + (size_t)i * DP_BUF_SIZE, DP_BUF_SIZE,
				      (unsigned short)i, io_uring_buf_ring_mask(DP_BUF_COUNT), (int)i);
	io_uring_buf_ring_advance(w->br, DP_BUF_COUNT);
	return true;
}

static int setup_ring(struct dp_worker *w)
{
	struct io_uring_params p = { 0 };
	int rc;

	/* not SINGLE_ISSUER: the ring is set up on the main thread, used on the worker */
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN;
	p.cq_entries = 16384;
	rc = io_uring_queue_init_params(1024, &w->ring, &p);
	if (rc == -EINVAL) {
		/* older kernels lack COOP_TASKRUN */
		memset(&p, 0, sizeof p);
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = 16384;
		rc = io_uring_queue_init_params(1024, &w->ring, &p);
	}
	return rc;
}

static void worker_free(struct dp_worker *w)
{
	struct dp_msg *m;

	if (!w)
		return;
	if (w->ring.ring_fd > 0)
		io_uring_queue_exit(&w->ring);
	for (uint32_t i = 0; w->conns && i < DP_CONNS_MAX; i++) {
		struct dp_conn *c = &w->conns[i];
		if (c->st == CS_FREE)
			continue;
		dp_conn_release(c);
		dp_udp_conn_release(c);
		if (c->fd >= 0)
			close(c->fd);
		free(c->rbuf);
	}
	dp_udp_port_close(w);
	while (w->inbox && (m = dp_ring_pop(w->inbox)))
		dp_msg_free(m);
	for (uint32_t i = 0; i < w->spill_count; i++)
		dp_msg_free(w->spill[i]);
	dp_ring_destroy(w->inbox);
	if (w->lfd >= 0)
		close(w->lfd);
	if (w->efd >= 0)
		close(w->efd);
	if (w->br)
		munmap(w->br, w->br_bytes);
	free(w->bufs);
	free(w->conns);
	free(w->free_slots);
	free(w->spill);
	free(w->arena_buf);
	dp_buf_free(&w->scratch);
	dp_buf_free(&w->late);
	free(w);
}

static int worker_new(struct dp *dp, unsigned idx, struct dp_worker **out)
{
	struct dp_worker *w = calloc(1, sizeof *w);
	int rc = -ENOMEM;

	if (!w)
		return -ENOMEM;
	w->dp = dp;
	w->idx = idx;
	w->lfd = w->efd = -1;
	w->arena_cap = ZKP_ARENA_FOR(dp->cfg.frame_max);
	w->arena_buf = malloc(w->arena_cap);
	w->conns = calloc(DP_CONNS_MAX, sizeof *w->conns);
	w->free_slots = malloc(DP_CONNS_MAX * sizeof *w->free_slots);
	if (!w->arena_buf || !w->conns || !w->free_slots || dp_ring_create(&w->inbox, DP_RING_CAP) < 0)
		goto fail;
	for (uint32_t i = 0; i < DP_CONNS_MAX; i++) {
		w->conns[i].slot = i;
		w->conns[i].fd = -1;
		w->free_slots[i] = DP_CONNS_MAX - 1 - i;
	}
	w->free_count = DP_CONNS_MAX;
	atomic_init(&w->st_lat_min_us, UINT64_MAX);
	if ((w->efd = eventfd(0, EFD_CLOEXEC)) < 0 || (rc = setup_ring(w)) < 0) {
		rc = rc < 0 ? rc : -errno;
		goto fail;
	}
	if (dp->cfg.nic && dp->cfg.udp_port && idx < dp_port_queue_count(dp->cfg.nic)) {
		w->nicq = dp_port_queue(dp->cfg.nic, idx);
		/* now, before the owner (the control thread) starts polling */
		dp_portq_set_wake(w->nicq, nic_wake, w);
	}
	if ((rc = w->lfd = listen_socket(&dp->cfg)) < 0 || (rc = dp_udp_port_open(w)) < 0)
		goto fail;
	w->use_bufring = !dp->cfg.force_plain_recv && setup_bufring(w);
	*out = w;
	return 0;
fail:
	worker_free(w);
	return rc;
}

int dp_worker_cpu(unsigned idx)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	return cores > 0 ? (int)(idx % (unsigned long)cores) : -1;
}

static void pin_worker(struct dp_worker *w)
{
	int cpu = dp_worker_cpu(w->idx);
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pthread_setaffinity_np(w->th, sizeof set, &set) != 0)
		TN_WARN("dp", "worker %u: could not pin to a cpu", w->idx);
}

/* SO_REUSEPORT would let a second server on the same port silently share the
 * connections; a plain bind first fails with EADDRINUSE as ZooKeeper would. */
static int port_probe(const struct dp_cfg *cfg)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(cfg->port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, rc = 0;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		rc = -errno;
		TN_ERROR("dp", "port %u: %s", cfg->port, strerror(-rc));
	}
	close(fd);
	return rc;
}

/* The same for the native datagram port: a plain UDP bind first. */
static int udp_probe(const struct dp_cfg *cfg)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(cfg->udp_port) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = 0;

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		rc = -errno;
		TN_WARN("dp", "udp port %u: %s: native datagram protocol off", cfg->udp_port,
			strerror(-rc));
	}
	close(fd);
	return rc;
}

unsigned dp_workers_for(unsigned workers)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n = workers ? workers : (unsigned)(cores > 0 ? cores : 1);
	return TN_MIN(n, DP_WORKERS_MAX);
}

int dp_start(struct dp **out, const struct dp_cfg *cfg)
{
	struct dp *dp = calloc(1, sizeof *dp);
	int rc = 0;

	if (!dp)
		return -ENOMEM;
	TN_ASSERT(cfg->store && cfg->to_ctl && cfg->ctl_wake);
	dp->cfg = *cfg;
	if (!dp->cfg.frame_max)
		dp->cfg.frame_max = DP_FRAME_MAX_DEFAULT;
	dp->n = dp_workers_for(cfg->workers);
	pthread_mutex_init(&dp->ip_lock, NULL);
	rc = port_probe(cfg);
	for (uint32_t waited = 0; rc == -EADDRINUSE && waited < cfg->bind_wait_ms; waited += 50) {
		usleep(50 * 1000);
		rc = port_probe(cfg);
	}
	int urc = cfg->udp_port ? udp_probe(cfg) : 0;
	for (uint32_t waited = 0; rc == 0 && urc == -EADDRINUSE && waited < cfg->bind_wait_ms;
	     waited += 50) {
		usleep(50 * 1000);
		urc = udp_probe(cfg);
	}
	if (rc == 0 && urc < 0) {
		if (!cfg->udp_optional)
			rc = -EADDRINUSE;
		dp->cfg.udp_port = 0;
	}
	for (unsigned i = 0; i < dp->n && rc == 0; i++)
		rc = worker_new(dp, i, &dp->w[i]);
	for (unsigned i = 0; i < dp->n && rc == 0; i++) {
		if (pthread_create(&dp->w[i]->th, NULL, worker_main, dp->w[i]) != 0) {
			rc = -EAGAIN;
			dp->n = i; /* only these run */
			break;
		}
		char name[32];   /* per-thread CPU in top and ensemble_bench.py (<= 15 chars) */
		snprintf(name, sizeof name, "tern-w%u", i);
		pthread_setname_np(dp->w[i]->th, name);
		if (cfg->pin)
			pin_worker(dp->w[i]);
	}
	if (rc < 0) {
		dp_stop(dp);
		dp_destroy(dp);
		return rc;
	}
	TN_INFO("dp", "%u workers on port %u (%s recv), udp port %u", dp->n, cfg->port,
		dp->w[0]->use_bufring ? "multishot, provided buffers" : "plain", dp->cfg.udp_port);
	*out = dp;
	return 0;
}

void dp_stop(struct dp *dp)
{
	for (unsigned i = 0; i < dp->n; i++) {
		struct dp_worker *w = dp->w[i];
		uint64_t one = 1;
		if (!w || !w->th)
			continue;
		atomic_store(&w->stop, true);
		if (write(w->efd, &one, sizeof one) < 0)
			TN_WARN("dp", "worker %u: wake: %s", i, strerror(errno));
		pthread_join(w->th, NULL);
		w->th = 0;
		/* no more accepts; connections close with the ring in dp_destroy */
		close(w->lfd);
		w->lfd = -1;
	}
	dp_udp_log_stats(dp);
}

void dp_destroy(struct dp *dp)
{
	if (!dp)
		return;
	for (unsigned i = 0; i < DP_WORKERS_MAX; i++) {
		worker_free(dp->w[i]);
		for (uint32_t j = 0; j < dp->ctl_spill_count[i]; j++)
			dp_msg_free(dp->ctl_spill[i][j]);
		free(dp->ctl_spill[i]);
	}
	pthread_mutex_destroy(&dp->ip_lock);
	free(dp);
}

unsigned dp_worker_count(const struct dp *dp)
{
	return dp->n;
}

void dp_post(struct dp *dp, struct dp_msg *m)
{
	unsigned i = m->worker;

	TN_ASSERT(i < dp->n);
	dp->posted[i] = true;
	if (dp->ctl_spill_count[i] == 0 && dp_ring_push(dp->w[i]->inbox, m))
		return;
	dp->ctl_spilled++;
	if (dp->ctl_spill_count[i] == dp->ctl_spill_cap[i]) {
		uint32_t cap = dp->ctl_spill_cap[i] ? dp->ctl_spill_cap[i] * 2 : 64;
		struct dp_msg **s = realloc(dp->ctl_spill[i], cap * sizeof *s);
		TN_ASSERT(s != NULL); /* UNTESTED: a full worker ring and no memory */
		dp->ctl_spill[i] = s;
		dp->ctl_spill_cap[i] = cap;
	}
	dp->ctl_spill[i][dp->ctl_spill_count[i]++] = m;
}

void dp_flush(struct dp *dp)
{
	for (unsigned i = 0; i < dp->n; i++) {
		struct dp_worker *w = dp->w[i];
		uint32_t k = 0;
		uint64_t one = 1;
		while (k < dp->ctl_spill_count[i] && dp_ring_push(w->inbox, dp->ctl_spill[i][k]))
			k++;
		if (k) {
			memmove(dp->ctl_spill[i], dp->ctl_spill[i] + k,
				(dp->ctl_spill_count[i] - k) * sizeof(struct dp_msg *));
			dp->ctl_spill_count[i] -= k;
			TN_ASSERT(dp->ctl_spilled >= k);
			dp->ctl_spilled -= k;
		}
		if (!dp->posted[i])
			continue;
		dp->posted[i] = dp->ctl_spill_count[i] > 0;
		atomic_thread_fence(memory_order_seq_cst); /* publish, then check: see dp.h */
		if (atomic_load(&w->sleeping) && write(w->efd, &one, sizeof one) < 0)
			TN_WARN("dp", "wake worker %u: %s", i, strerror(errno));
	}
	/* the spilled events are in the rings now: publish what dp_apply_end could not */
	if (dp->ctl_spilled == 0 &&
	    atomic_load_explicit(&dp->events_posted, memory_order_relaxed) < dp->post_pending)
		atomic_store_explicit(&dp->events_posted, dp->post_pending, memory_order_release);
}

void dp_apply_begin(struct dp *dp, uint64_t zxid)
{
	TN_ASSERT(zxid >= atomic_load_explicit(&dp->applying, memory_order_relaxed));
	TN_ASSERT(atomic_load_explicit(&dp->events_posted, memory_order_relaxed) <= dp->post_pending);
	/* seq_cst, and a full fence: ordered before every store the apply makes,
	 * whatever ordering the store's own publication uses */
	atomic_store(&dp->applying, zxid);
	atomic_thread_fence(memory_order_seq_cst);
}

void dp_apply_end(struct dp *dp, uint64_t zxid)
{
	TN_ASSERT(zxid == atomic_load_explicit(&dp->applying, memory_order_relaxed));
	dp->post_pending = zxid;
	/* release: a worker that loads it sees the pushes of the events before */
	if (dp->ctl_spilled == 0)
		atomic_store_explicit(&dp->events_posted, zxid, memory_order_release);
}

void dp_stats(struct dp *dp, struct dp_stats *out)
{
	memset(out, 0, sizeof *out);
	out->lat_min_us = UINT64_MAX;
	for (unsigned i = 0; i < dp->n; i++) {
		struct dp_worker *w = dp->w[i];
		uint64_t mn = atomic_load_explicit(&w->st_lat_min_us, memory_order_relaxed);
		uint64_t mx = atomic_load_explicit(&w->st_lat_max_us, memory_order_relaxed);
		out->packets_recv += atomic_load_explicit(&w->st_recv, memory_order_relaxed);
		out->packets_sent += atomic_load_explicit(&w->st_sent, memory_order_relaxed);
		out->conns += atomic_load_explicit(&w->st_conns, memory_order_relaxed);
		out->conns_total += atomic_load_explicit(&w->st_conns_total, memory_order_relaxed);
		out->lat_count += atomic_load_explicit(&w->st_lat_count, memory_order_relaxed);
		out->lat_sum_us += atomic_load_explicit(&w->st_lat_sum_us, memory_order_relaxed);
		out->lat_min_us = TN_MIN(out->lat_min_us, mn);
		out->lat_max_us = TN_MAX(out->lat_max_us, mx);
	}
	if (out->lat_count == 0)
		out->lat_min_us = 0;
}

void dp_stats_reset(struct dp *dp)
{
	for (unsigned i = 0; i < dp->n; i++) {
		struct dp_worker *w = dp->w[i];
		atomic_store(&w->st_recv, 0);
		atomic_store(&w->st_sent, 0);
		atomic_store(&w->st_lat_count, 0);
		atomic_store(&w->st_lat_sum_us, 0);
		atomic_store(&w->st_lat_min_us, UINT64_MAX);
		atomic_store(&w->st_lat_max_us, 0);
	}
}

int dp_worker_stats(struct dp *dp, unsigned i, struct dp_worker_stats *out)
{
	TN_ASSERT(dp && out);
	if (i >= dp->n)
		return -ERANGE;
	struct dp_worker *w = dp->w[i];
	TN_ASSERT(w && w->idx == i);
	out->reads = atomic_load_explicit(&w->st_reads, memory_order_relaxed);
	out->writes = atomic_load_explicit(&w->st_writes, memory_order_relaxed);
	out->packets_recv = atomic_load_explicit(&w->st_recv, memory_order_relaxed);
	out->packets_sent = atomic_load_explicit(&w->st_sent, memory_order_relaxed);
	out->conns = atomic_load_explicit(&w->st_conns, memory_order_relaxed);
	out->inbox_depth = dp_ring_depth(w->inbox, &out->inbox_depth_max);
	return 0;
}

/* ---- messages, sessions, auth ---- */

struct dp_msg *dp_msg_new(uint8_t kind, uint32_t len)
{
	struct dp_msg *m = malloc(sizeof *m + len);
	if (!m)
		return NULL;
	memset(m, 0, sizeof *m);
	m->kind = kind;
	m->len = len;
	return m;
}

void dp_msg_free(struct dp_msg *m)
{
	if (!m)
		return;
	if (m->sess)
		dp_sess_put(m->sess);
	if (m->auth)
		dp_auth_put(m->auth);
	free(m);
}

void dp_sess_get(struct dp_sess *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void dp_sess_put(struct dp_sess *s)
{
	/* acq_rel: the last owner sees every write the others made */
	uint32_t old = atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel);
	TN_ASSERT(old > 0);
	if (old == 1)
		free(s);
}

void dp_auth_put(struct dp_auth *a)
{
	uint32_t old = atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel);
	TN_ASSERT(old > 0);
	if (old == 1)
		free(a);
}

/* One connection's cons fields; @c is another thread's, so each is read once. */
static void conn_info(volatile struct dp_conn *c, uint32_t epoch, enum conn_state st,
		      struct dp_conn_info *o)
{
	memset(o, 0, sizeof *o);
	for (size_t j = 0; j + 1 < sizeof o->ip && c->ip[j]; j++)
		o->ip[j] = c->ip[j];
	o->port = c->port;
	o->fourlw = c->fourlw;
	o->est_ms = c->est_ms;
	if (st == CS_OPEN) {
		o->has_session = true;
		o->sid = c->sid;
		o->timeout_ms = c->timeout_ms;
	}
	snprintf(o->lop, sizeof o->lop, "NA");
	o->lcxid = o->lzxid = -1;
	if (c->stats_epoch != epoch)
		return; /* a crst the owner has not applied yet: show the reset values */
	o->recved = c->recv_count;
	o->sent = c->sent_count;
	o->lcxid = c->st_lcxid;
	o->lzxid = c->st_lzxid;
	o->lresp_ms = c->lresp_ms;
	o->llat_ms = c->llat_ms;
	o->maxlat_ms = c->maxlat_ms;
	o->lat_sum_ms = c->lat_sum_ms;
	o->lat_count = c->lat_count;
	o->minlat_ms = o->lat_count ? c->minlat_ms : 0;
	if (c->lop != DP_LOP_NONE)
		snprintf(o->lop, sizeof o->lop, "%s", dp_lop_name(c->lop));
}

unsigned dp_conns(struct dp *dp, struct dp_conn_info *out, unsigned max)
{
	uint32_t epoch = atomic_load_explicit(&dp->crst_epoch, memory_order_relaxed);
	unsigned n = 0;

	for (unsigned i = 0; i < dp->n; i++) {
		struct dp_worker *w = dp->w[i];
		for (uint32_t k = 0; k < DP_CONNS_MAX && n < max; k++) {
			/* volatile: another thread writes these; take one snapshot each */
			volatile struct dp_conn *c = &w->conns[k];
			enum conn_state st = c->st;
			/* every accepted socket counts, as in ZooKeeper (not the closing) */
			if (st == CS_FREE || st == CS_CLOSING)
				continue;
			conn_info(c, epoch, st, &out[n++]);
		}
	}
	return n;
}

void dp_conns_reset(struct dp *dp)
{
	atomic_fetch_add_explicit(&dp->crst_epoch, 1, memory_order_relaxed);
}
