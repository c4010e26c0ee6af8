/* tools/tern-bench.c: a ZooKeeper-protocol load generator (issue 4).
 *
 * It speaks the client protocol over plain TCP with the project's codec
 * (dataplane/zkp.h), so the same binary drives ternd and Apache ZooKeeper.
 *
 * Why it is built this way. A load generator that burns the CPUs it shares
 * with the server hides the server's speed (the older libzookeeper_mt-based
 * zkbench spent most of the two dev CPUs on its own threads). So:
 *  - One thread by default (--threads N for more), each with its own epoll
 *    set and its own sessions; sessions never move between threads, so no
 *    lock is taken on the hot path. Threads share only relaxed atomic
 *    counters that thread 0 reads for the progress line.
 *  - Sockets are non-blocking. Requests produced while handling one turn's
 *    replies are encoded into the session's transmit buffer, and each dirty
 *    session gets one send() at the end of the turn (batched writes).
 *  - ZooKeeper answers a session's requests in order, so in-flight requests
 *    sit in a per-session FIFO ring; a reply whose xid is not the head is a
 *    protocol error. Pings (xid -2) and notifications (xid -1) bypass it.
 *  - Every buffer is sized at start from the options (value size,
 *    outstanding): nothing is allocated while the clock runs.
 *
 * Timing. t0 is the common start of all threads; requests whose intended
 * time lies in [t0 + warmup, t0 + warmup + duration) are measured. Closed
 * loop: each completion issues the next request, and the intended time is the
 * send time. Open loop (--rate): request i is due at t0 + i / rate and its
 * latency runs from that due time, even if every slot was busy and it left
 * later (so a stalled server cannot hide behind a lower offered rate:
 * coordinated omission); due requests never sent by the end are reported as
 * "unsent". After the window no new work starts and in-flight work gets
 * DRAIN_NS; what is still missing then counts as timeouts.
 *
 * Latency histogram (fixed memory, log-linear like HdrHistogram): values in
 * ns; below 2^HIST_SUB_BITS one bucket per ns; above, each power of two is
 * split into HIST_HALF buckets, so the relative error is below 1/128.
 * Percentiles report a bucket's upper bound (rounded up), capped by the exact
 * maximum.
 *
 *   bucket(v) = v                                      if v < 256
 *             = 256 + (e - 1) * 128 + (v >> e) - 128   e = msb(v) - 7
 *
 * Errors (ZooKeeper error replies, requests lost with a connection, failed
 * connects, timeouts) are counted by code and reported; the exit status is 3
 * when any occurred.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/tn_assert.h"
#include "dataplane/dp_port.h"
#include "dataplane/dp_udp.h"
#include "dataplane/zkp.h"

extern char **environ;

#define NS_PER_S 1000000000LL
#define NS_PER_MS 1000000LL
#define CONNECT_NS (10 * NS_PER_S)    /* TCP connect + handshake */
#define SETUP_NS (600 * NS_PER_S)     /* creating the prefix and the keys */
#define DRAIN_NS (10 * NS_PER_S)      /* in-flight work after the window */
#define CLOSE_NS (5 * NS_PER_S)       /* closeSession replies at the end */
#define TICK_NS (100 * NS_PER_MS)     /* housekeeping: pings, connect timeouts */
#define START_DELAY_NS (50 * NS_PER_MS)
#define DURATION_S_MAX 3600.0
#define RATE_MAX 10e6
#define UDP_RTO_NS (200 * NS_PER_MS) /* --transport udp: resend after this */
#define UDP_RX_CAP 65536             /* any datagram fits */
#define UDP_BATCH 16                 /* datagrams per sendmmsg/recvmmsg */

enum {
	SESSIONS_MAX = 1024,    /* all threads together */
	OUTSTANDING_MAX = 1024, /* per session */
	THREADS_MAX = 16,
	SERVERS_MAX = 16,
	KEYS_MAX = 10000000,
	VALUE_MAX = 1000000, /* stays below jute.maxbuffer with the header */
	PREFIX_LEN_MAX = 180,
	DIRS_MAX = 16,       /* prefix components + the workload's node */
	DIR_BUF = PREFIX_LEN_MAX + 8, /* prefix + "/create" */
	PATH_BUF = 256,               /* DIR_BUF + the longest generated name */
	EVENTS_MAX = 256,    /* epoll events per turn */
	ERRCODES_MAX = 32,   /* distinct error codes tracked */
	TIMELINE_MAX = 3700, /* seconds of progress kept for --plot */
	CHILD_NAME_MAX = 64, /* bytes per lock child on the wire (rx sizing) */
	RX_MIN = 16384,
	Q_EXTRA = 4, /* FIFO slots beyond --outstanding: close, helpers */
	HIST_SUB_BITS = 8,
	HIST_SUB = 1 << HIST_SUB_BITS,
	HIST_HALF = HIST_SUB / 2,
	HIST_MSB_MAX = 42, /* 2^42 ns is 73 minutes: longer values are clamped */
	HIST_BUCKETS = HIST_SUB + (HIST_MSB_MAX - HIST_SUB_BITS) * HIST_HALF,
	EXIT_BADOPT = 2,
	EXIT_ERRORS = 3,
};

enum workload { W_CREATE, W_SET, W_GET, W_EXISTS, W_DELETE, W_MIXED, W_WATCH, W_CHURN, W_LOCK,
		W_COUNT };
static const char *const workload_names[W_COUNT] = {
	"create", "set", "get", "exists", "delete", "mixed", "watch", "churn", "lock"};

/* Per-operation statistics, besides the workload's main measure. */
enum opstat { OS_CREATE, OS_DELETE, OS_EXISTS, OS_GET, OS_SET, OS_CHILDREN, OS_CONNECT, OS_CLOSE,
	      OS_COUNT };
static const char *const opstat_names[OS_COUNT] = {
	"create", "delete", "exists", "getData", "setData", "getChildren", "connect", "closeSession"};

enum role { ROLE_MEASURED, ROLE_HELPER, ROLE_SETUP, ROLE_CLOSE };
enum phase { PH_CONNECT, PH_SETUP, PH_RUN, PH_DRAIN, PH_CLOSE };
enum sstate { SS_IDLE, SS_CONNECTING, SS_HANDSHAKE, SS_READY, SS_CLOSING, SS_DEAD };
enum lstate { LK_IDLE, LK_CREATING, LK_LISTING, LK_WATCHING, LK_WAITING, LK_RELEASING };

struct hist {
	uint64_t count, sum_ns, max_ns;
	uint64_t b[HIST_BUCKETS];
};

struct req {
	int64_t intended_ns; /* open loop: the schedule; else the send time */
	int64_t sent_ns;
	uint32_t key; /* key index; the lane for --op delete */
	int32_t xid;
	int32_t type; /* enum zk_opcode */
	uint8_t role;
};

struct server {
	char name[128];
	struct sockaddr_storage addr;
	socklen_t addr_len;
};

struct sess {
	int fd;
	uint32_t idx, gen; /* gen tells a stale epoll event from the current fd's */
	uint8_t state, lock_state;
	bool dirty, want_out, restart;
	const struct server *srv;
	uint8_t *rx, *tx;
	size_t rx_len, tx_off, tx_len;
	struct req *q; /* in-flight FIFO, b->q_cap slots */
	uint32_t q_head, q_count;
	int32_t next_xid;
	uint32_t pings_out, seq;
	int64_t last_send_ns, state_ns, cycle_ns;
	int64_t ping_ns; /* a third of the timeout the server granted */
	/* --transport udp */
	uint64_t sid;
	uint32_t nonce, udp_sent; /* udp_sent: FIFO entries (from the head) sent as datagrams */
	uint8_t *dg;              /* q_cap datagrams of b->dg_cap bytes, one per FIFO slot */
	uint32_t *dg_len;
	int64_t *dg_ns;           /* when each was last sent */
	uint8_t hs[128];
	uint32_t hs_len;
	int64_t hs_ns;
	char own[PATH_BUF], pred[PATH_BUF]; /* lock recipe */
};

struct errcount {
	int32_t code;
	uint64_t n;
};

struct bench;

struct worker {
	struct bench *b;
	uint32_t id, n_sess, sess_base;
	int epfd;
	enum phase phase;
	struct sess *s;
	struct sess **dirty;
	uint32_t n_dirty, inflight;
	uint8_t *arena_buf;
	size_t arena_cap;
	uint64_t rng;
	struct hist main, by_op[OS_COUNT];
	uint64_t all_ops, errors, conn_lost, timeouts, unsent, created, deleted, rounds, sets_ok;
	uint64_t retransmits; /* --transport udp */
	uint8_t *udp_rx;
	struct errcount errc[ERRCODES_MAX];
	uint32_t n_errc;
	_Atomic uint64_t prog_ops, prog_errs, prog_lat_ns; /* read by worker 0 */
	double rate;                                       /* open loop, this worker's share */
	uint64_t issued;
	uint32_t rr;
	uint32_t setup_next, setup_done;
	uint32_t armed, notified; /* watch fan-out */
	bool round_open;
	int64_t round_ns, next_tick_ns, next_prog_ns;
	uint64_t prog_last_ops, prog_last_lat;
	pthread_t tid;
};

struct opts {
	const char *servers, *prefix, *plot;
	enum workload workload;
	uint32_t sessions, outstanding, threads, watchers, reads_pct, value_size, keys;
	uint32_t session_timeout_ms;
	double rate, warmup_s, duration_s;
	uint64_t seed;
	bool json, quiet, setup_only;
	bool udp; /* --transport udp */
	/* --dpdk-*: the datagrams through a DPDK port of our own (dp_port.h) */
	const char *dpdk_eal, *dpdk_port, *dpdk_ip, *dpdk_netmask, *dpdk_gateway;
};

struct bench {
	struct opts o;
	struct server srv[SERVERS_MAX];
	uint32_t n_srv;
	struct worker *w;
	uint32_t n_w;
	uint8_t *value;
	size_t rx_cap, tx_cap, frame_max, dg_cap;
	uint32_t q_cap;
	int64_t t0_ns, t_measure_ns, t_end_ns;
	char dirs[DIRS_MAX][DIR_BUF];
	uint32_t n_dirs, n_setup;
	char wdir[DIR_BUF]; /* the workload's node: PREFIX/create, PREFIX/watch, ... */
	char names[16];     /* "<pid>-": generated names start with it */
	char fatal[512];
	pthread_mutex_t fatal_mu;
	double timeline[TIMELINE_MAX];
	uint32_t n_timeline;
};

static _Atomic int64_t g_stop_ns; /* SIGINT/SIGTERM: when the window ended early (0: never) */
static const struct zk_acl open_acl = {ZK_PERM_ALL, {"world", "anyone"}};

/* ---- small helpers ---- */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *x) /* xorshift64* */
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545F4914F6CDD1DULL;
}

static void set_fatal(struct bench *b, const char *msg)
{
	pthread_mutex_lock(&b->fatal_mu);
	if (!b->fatal[0])
		snprintf(b->fatal, sizeof(b->fatal), "%s", msg);
	pthread_mutex_unlock(&b->fatal_mu);
}

static const char *zk_err_name(int32_t code)
{
	switch (code) {
	case ZK_ESYSTEM: return "SystemError";
	case ZK_ECONNECTIONLOSS: return "ConnectionLoss";
	case ZK_EMARSHALLING: return "MarshallingError";
	case ZK_EUNIMPLEMENTED: return "Unimplemented";
	case ZK_EOPERATIONTIMEOUT: return "OperationTimeout";
	case ZK_EBADARGUMENTS: return "BadArguments";
	case ZK_ENONODE: return "NoNode";
	case ZK_ENOAUTH: return "NoAuth";
	case ZK_EBADVERSION: return "BadVersion";
	case ZK_ENOCHILDRENFOREPHEMERALS: return "NoChildrenForEphemerals";
	case ZK_ENODEEXISTS: return "NodeExists";
	case ZK_ENOTEMPTY: return "NotEmpty";
	case ZK_ESESSIONEXPIRED: return "SessionExpired";
	case ZK_ESESSIONMOVED: return "SessionMoved";
	case ZK_ETHROTTLEDOP: return "Throttled";
	default: return "error";
	}
}

/* ---- histogram ---- */

static uint32_t hist_index(uint64_t v)
{
	if (v < HIST_SUB)
		return (uint32_t)v;
	uint32_t msb = 63u - (uint32_t)__builtin_clzll(v);
	uint32_t e = msb - HIST_SUB_BITS + 1;
	uint32_t i = HIST_SUB + (e - 1) * HIST_HALF + (uint32_t)(v >> e) - HIST_HALF;
	TN_ASSERT_HOT(i < HIST_BUCKETS);
	return i;
}

static uint64_t hist_upper(uint32_t i)
{
	if (i < HIST_SUB)
		return i;
	uint32_t j = i - HIST_SUB, e = j / HIST_HALF + 1;
	uint64_t m = j % HIST_HALF + HIST_HALF;
	return ((m + 1) << e) - 1;
}

static void hist_add(struct hist *h, int64_t ns)
{
	uint64_t v = ns > 0 ? (uint64_t)ns : 0;
	if (v >= (1ULL << HIST_MSB_MAX))
		v = (1ULL << HIST_MSB_MAX) - 1;
	h->b[hist_index(v)]++;
	h->count++;
	h->sum_ns += v;
	if (v > h->max_ns)
		h->max_ns = v;
}

static void hist_merge(struct hist *to, const struct hist *from)
{
	for (uint32_t i = 0; i < HIST_BUCKETS; i++)
		to->b[i] += from->b[i];
	to->count += from->count;
	to->sum_ns += from->sum_ns;
	to->max_ns = TN_MAX(to->max_ns, from->max_ns);
}

/* The value at quantile @q (0..1) in ns: the upper bound of the bucket that
 * holds rank ceil(q * count), capped by the exact maximum. */
static uint64_t hist_at(const struct hist *h, double q)
{
	if (h->count == 0)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)h->count);
	if ((double)rank < q * (double)h->count)
		rank++;
	rank = TN_MAX(rank, 1);
	uint64_t seen = 0;
	for (uint32_t i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank)
			return TN_MIN(hist_upper(i), h->max_ns);
	}
	return h->max_ns;
}

/* ---- per-worker accounting ---- */

static bool in_window(const struct bench *b, int64_t start_ns)
{
	return start_ns >= b->t_measure_ns && start_ns < b->t_end_ns;
}

static void count_err(struct worker *w, int32_t code)
{
	w->errors++;
	atomic_fetch_add_explicit(&w->prog_errs, 1, memory_order_relaxed);
	for (uint32_t i = 0; i < w->n_errc; i++) {
		if (w->errc[i].code == code) {
			w->errc[i].n++;
			return;
		}
	}
	if (w->n_errc < ERRCODES_MAX)
		w->errc[w->n_errc++] = (struct errcount){code, 1};
}

/* A completion of the workload's main measure that started at @start_ns. */
static void record_main(struct worker *w, int64_t start_ns, int64_t now)
{
	if (in_window(w->b, start_ns))
		hist_add(&w->main, now - start_ns);
	atomic_fetch_add_explicit(&w->prog_ops, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->prog_lat_ns, (uint64_t)(now - start_ns), memory_order_relaxed);
}

static int opstat_of(int32_t type)
{
	switch (type) {
	case ZK_OP_CREATE: return OS_CREATE;
	case ZK_OP_DELETE: return OS_DELETE;
	case ZK_OP_EXISTS: return OS_EXISTS;
	case ZK_OP_GETDATA: return OS_GET;
	case ZK_OP_SETDATA: return OS_SET;
	case ZK_OP_GETCHILDREN: return OS_CHILDREN;
	case ZK_OP_CLOSESESSION: return OS_CLOSE;
	default: return -1;
	}
}

static void record_op(struct worker *w, int os, int64_t sent_ns, int64_t now)
{
	if (os >= 0 && in_window(w->b, sent_ns))
		hist_add(&w->by_op[os], now - sent_ns);
}

/* ---- sessions: buffers, send, connect, loss ---- */

static void sess_mark_dirty(struct worker *w, struct sess *s)
{
	if (!s->dirty) {
		TN_ASSERT_HOT(w->n_dirty < w->n_sess);
		s->dirty = true;
		w->dirty[w->n_dirty++] = s;
	}
}

/* Room for one more frame of at most b->frame_max bytes at the tail. */
static void sess_tx_room(const struct bench *b, struct sess *s)
{
	if (s->tx_off > 0 && b->tx_cap - s->tx_len < b->frame_max) {
		memmove(s->tx, s->tx + s->tx_off, s->tx_len - s->tx_off);
		s->tx_len -= s->tx_off;
		s->tx_off = 0;
	}
}

/* Encode @r as one frame at the tail of @s's transmit buffer. The buffer
 * holds q_cap + Q_EXTRA frames of frame_max bytes: running out is our bug. */
static void sess_encode(struct worker *w, struct sess *s, const struct zkp_request *r, int64_t now)
{
	struct bench *b = w->b;
	sess_tx_room(b, s);
	struct tn_wr wr = tn_wr_init(s->tx + s->tx_len, b->tx_cap - s->tx_len);
	size_t start = zkp_frame_begin(&wr);
	int rc = zkp_encode_request(&wr, r);
	if (rc == 0)
		rc = zkp_frame_end(&wr, start);
	TN_ASSERT(rc == 0);
	s->tx_len += wr.len;
	s->last_send_ns = now;
	sess_mark_dirty(w, s);
}

/* Send @r and queue it in @s's FIFO. @intended is the latency origin. */
static void sess_send(struct worker *w, struct sess *s, struct zkp_request *r, uint8_t role,
		      int64_t intended, uint32_t key, int64_t now)
{
	TN_ASSERT(s->state == SS_READY);
	TN_ASSERT(s->q_count < w->b->q_cap);
	if (++s->next_xid <= 0)
		s->next_xid = 1;
	r->xid = s->next_xid;
	sess_encode(w, s, r, now);
	struct req *q = &s->q[(s->q_head + s->q_count++) % w->b->q_cap];
	*q = (struct req){.intended_ns = intended, .sent_ns = now, .key = key, .xid = r->xid,
			  .type = r->type, .role = role};
	w->inflight++;
}

static void sess_send_op(struct worker *w, struct sess *s, int32_t type, const char *path,
			 uint8_t role, int64_t intended, uint32_t key, int64_t now)
{
	struct zkp_request r = {.type = type};
	r.op.type = type;
	r.op.path = path;
	r.op.version = -1;
	sess_send(w, s, &r, role, intended, key, now);
}

static void sess_close_fd(struct worker *w, struct sess *s, uint8_t state)
{
	if (s->fd >= 0)
		close(s->fd); /* also leaves the epoll set */
	s->fd = -1;
	s->gen++;
	s->state = state;
	s->rx_len = s->tx_len = s->tx_off = 0;
	s->want_out = false;
	s->pings_out = 0;
	s->udp_sent = 0;
	w->inflight -= s->q_count;
	s->q_count = s->q_head = 0;
}

/* The connection is gone: every request on it failed. Before the run this is
 * fatal (the message says why); during it, each loss is counted. */
static void sess_lost(struct worker *w, struct sess *s, int err, const char *what)
{
	struct bench *b = w->b;
	if (w->phase < PH_RUN) {
		char msg[400];
		snprintf(msg, sizeof(msg), "%s: %s: %s", s->srv->name, what, strerror(err));
		set_fatal(b, msg);
	} else if (w->phase != PH_CLOSE || s->state != SS_CLOSING) {
		w->conn_lost++;
		count_err(w, ZK_ECONNECTIONLOSS);
		for (uint32_t i = 0; i < s->q_count; i++)
			count_err(w, ZK_ECONNECTIONLOSS);
	}
	s->lock_state = LK_IDLE;
	sess_close_fd(w, s, SS_DEAD);
}

static int sess_epoll(struct worker *w, struct sess *s, int op, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.u64 = (uint64_t)s->gen << 32 | s->idx};
	return epoll_ctl(w->epfd, op, s->fd, &ev);
}

/* ---- native datagram transport (--transport udp; dataplane/dp_udp.h) ----
 *
 * Same sessions, FIFO and frames; only the edges change. A session owns a
 * connected UDP socket. The flush cuts the transmit buffer into one REQUEST
 * datagram per frame and keeps a copy of each request's datagram in the slot
 * of its FIFO entry (@dg), resent by the tick when no answer came within
 * UDP_RTO_NS (the server's reply cache answers a retry without running it
 * again). A reply that is not for the FIFO head (a loss reordered it) is
 * dropped: the retransmission of the head brings the rest in order. */

static void on_frame(struct worker *w, struct sess *s, const uint8_t *p, uint32_t len, int64_t now);
static void churn_start(struct worker *w, struct sess *s, int64_t now);
static void sess_lost(struct worker *w, struct sess *s, int err, const char *what);
static int sess_epoll(struct worker *w, struct sess *s, int op, uint32_t events);

/* --dpdk-port: one DPDK port for the process (the EAL runs once), polled by
 * the one worker thread (--threads 1): every session sends from NIC_PORT and
 * a reply finds its session by the connect nonce it echoes. */
#define NIC_PORT DP_PORT_CLIENT_UDP_PORT
static struct dp_port *g_nic;

static void nic_send(const struct server *srv, const uint8_t *p, size_t n)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)&srv->addr;
	struct dp_port_addr to = {.ip = ntohl(in->sin_addr.s_addr), .port = ntohs(in->sin_port)};
	(void)dp_port_send(g_nic, NIC_PORT, &to, p, n, 0); /* lost: the tick resends */
}

static uint8_t *udp_slot(const struct worker *w, const struct sess *s, uint32_t slot)
{
	return s->dg + (size_t)slot * w->b->dg_cap;
}

static void udp_send_dgram(struct sess *s, const uint8_t *p, size_t n)
{
	if (g_nic) {
		nic_send(s->srv, p, n);
		dp_port_flush(g_nic, 0);
		return;
	}
	(void)send(s->fd, p, n, MSG_DONTWAIT); /* lost or refused: the tick resends */
}

static void udp_hdr(const struct sess *s, uint8_t kind, int32_t xid, uint8_t *out)
{
	struct dp_udp_hdr h = {.kind = kind, .session = s->sid, .xid = xid, .cookie = s->nonce};
	dp_udp_hdr_encode(out, &h);
}

/* The handshake: one CONNECT datagram, resent by the tick until answered. */
static void udp_handshake(struct worker *w, struct sess *s, int64_t now)
{
	struct zkp_connect_req cr = {.timeout_ms = (int32_t)w->b->o.session_timeout_ms,
				     .passwd_len = ZKP_PASSWD_LEN, .has_read_only = true};
	struct tn_wr wr = tn_wr_init(s->hs + DP_UDP_HDR_LEN, sizeof(s->hs) - DP_UDP_HDR_LEN);
	TN_ASSERT(zkp_encode_connect_req(&wr, &cr) == 0);
	s->sid = 0;
	s->nonce = (uint32_t)rng_next(&w->rng) | 1u;
	udp_hdr(s, DP_UDP_CONNECT, 1, s->hs);
	s->hs_len = DP_UDP_HDR_LEN + (uint32_t)wr.len;
	s->state = SS_HANDSHAKE;
	s->last_send_ns = s->hs_ns = now;
	udp_send_dgram(s, s->hs, s->hs_len);
}

static void udp_send_batch(struct sess *s, struct mmsghdr *mm, unsigned n)
{
	if (g_nic) {
		for (unsigned i = 0; i < n; i++)
			nic_send(s->srv, mm[i].msg_hdr.msg_iov->iov_base, mm[i].msg_hdr.msg_iov->iov_len);
		dp_port_flush(g_nic, 0);
		return;
	}
	for (unsigned off = 0; off < n;) {
		int k = sendmmsg(s->fd, mm + off, n - off, MSG_DONTWAIT);
		if (k <= 0)
			return; /* lost: the tick resends */
		off += (unsigned)k;
	}
}

static void udp_flush(struct worker *w, struct sess *s)
{
	const struct bench *b = w->b;
	int64_t now = now_ns();
	struct mmsghdr mm[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	unsigned nb = 0;
	while (s->tx_len - s->tx_off >= ZKP_LEN_PREFIX) {
		const uint8_t *f = s->tx + s->tx_off;
		uint32_t flen = tn_load_be32(f);
		TN_ASSERT(ZKP_LEN_PREFIX + (size_t)flen <= s->tx_len - s->tx_off);
		int32_t xid = flen >= 4 ? (int32_t)tn_load_be32(f + ZKP_LEN_PREFIX) : 0;
		uint8_t one[DP_UDP_HDR_LEN + 64];
		uint8_t *d = one;
		if (xid >= 0) {
			uint32_t slot = (s->q_head + s->udp_sent) % b->q_cap;
			TN_ASSERT(s->udp_sent < s->q_count && s->q[slot].xid == xid);
			d = udp_slot(w, s, slot);
			s->dg_len[slot] = DP_UDP_HDR_LEN + flen;
			s->dg_ns[slot] = now;
			s->udp_sent++;
		} else if (flen > sizeof(one) - DP_UDP_HDR_LEN) {
			s->tx_off += ZKP_LEN_PREFIX + flen; /* no such frame is sent (pings only) */
			continue;
		}
		TN_ASSERT(DP_UDP_HDR_LEN + (size_t)flen <= b->dg_cap);
		udp_hdr(s, DP_UDP_REQUEST, xid, d);
		memcpy(d + DP_UDP_HDR_LEN, f + ZKP_LEN_PREFIX, flen);
		s->tx_off += ZKP_LEN_PREFIX + flen;
		if (d == one) { /* a ping: its buffer is reused, send it now */
			udp_send_dgram(s, d, DP_UDP_HDR_LEN + (size_t)flen);
			continue;
		}
		/* slot buffers stay put until the reply: batch them */
		iov[nb] = (struct iovec){d, DP_UDP_HDR_LEN + (size_t)flen};
		mm[nb].msg_hdr = (struct msghdr){.msg_iov = &iov[nb], .msg_iovlen = 1};
		if (++nb == UDP_BATCH) {
			udp_send_batch(s, mm, nb);
			nb = 0;
		}
	}
	udp_send_batch(s, mm, nb);
	s->tx_off = s->tx_len = 0;
}

/* Tick: resend the handshake or requests left unanswered for UDP_RTO_NS. */
static void udp_tick(struct worker *w, struct sess *s, int64_t now)
{
	if (s->state == SS_HANDSHAKE && now - s->hs_ns >= UDP_RTO_NS) {
		udp_send_dgram(s, s->hs, s->hs_len);
		s->hs_ns = now;
		return;
	}
	for (uint32_t i = 0; i < s->udp_sent; i++) {
		uint32_t slot = (s->q_head + i) % w->b->q_cap;
		if (now - s->dg_ns[slot] < UDP_RTO_NS)
			continue;
		udp_send_dgram(s, udp_slot(w, s, slot), s->dg_len[slot]);
		s->dg_ns[slot] = now;
		w->retransmits++;
	}
}

/* One datagram of session @s (its header already checked against s->nonce). */
static void udp_on_dgram(struct worker *w, struct sess *s, const struct dp_udp_hdr *h,
			 const uint8_t *body, uint32_t len, int64_t now)
{
	if (h->kind == DP_UDP_CONNECTED && s->state == SS_HANDSHAKE) {
		s->sid = h->session;
		on_frame(w, s, body, len, now);
		struct zkp_connect_rsp cr;
		if (s->state == SS_READY && zkp_decode_connect_rsp(body, len, &cr) == 0)
			s->sid = (uint64_t)cr.session_id;
	} else if (h->kind == DP_UDP_UNKNOWN || h->kind == DP_UDP_EVICTED ||
		   h->kind == DP_UDP_TOOBIG) {
		if (s->state == SS_READY || s->state == SS_CLOSING)
			sess_lost(w, s, EPROTO, "server lost the udp session");
	} else if ((h->kind == DP_UDP_REPLY || h->kind == DP_UDP_EVENT) &&
		   (s->state == SS_READY || s->state == SS_CLOSING) && len >= ZKP_REPLY_HDR_LEN) {
		int32_t xid = (int32_t)tn_load_be32(body);
		if (xid >= 0 && (s->q_count == 0 || s->q[s->q_head].xid != xid))
			return; /* a duplicate, or early: the head's retry comes first */
		on_frame(w, s, body, len, now);
	}
}

static void udp_on_readable(struct worker *w, struct sess *s, int64_t now)
{
	uint32_t gen = s->gen;
	struct mmsghdr mm[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	int got = 0, at = 0;
	for (int i = 0; i < 64 * UDP_BATCH && s->gen == gen; i++) {
		if (at == got) { /* the batch is used up: fetch the next */
			for (int k = 0; k < UDP_BATCH; k++) {
				iov[k] = (struct iovec){w->udp_rx + (size_t)k * UDP_RX_CAP, UDP_RX_CAP};
				mm[k].msg_hdr = (struct msghdr){.msg_iov = &iov[k], .msg_iovlen = 1};
			}
			got = recvmmsg(s->fd, mm, UDP_BATCH, MSG_DONTWAIT, NULL);
			at = 0;
			if (got < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			if (got < 0) {
				sess_lost(w, s, errno, "udp");
				break;
			}
			if (got == 0)
				break;
		}
		const uint8_t *dg = w->udp_rx + (size_t)at * UDP_RX_CAP;
		ssize_t n = (ssize_t)mm[at].msg_len;
		at++;
		struct dp_udp_hdr h;
		if (dp_udp_hdr_decode(dg, (size_t)n, &h) < 0 || h.cookie != s->nonce)
			continue;
		udp_on_dgram(w, s, &h, dg + DP_UDP_HDR_LEN, (uint32_t)n - DP_UDP_HDR_LEN, now);
	}
	if (s->gen == gen && s->restart) {
		s->restart = false;
		churn_start(w, s, now);
	}
}

/* --dpdk-port: a burst from the port, each datagram to the session whose
 * connect nonce it carries. */
static void nic_poll(struct worker *w, int64_t now)
{
	struct dp_port_dgram d[DP_PORT_BURST_MAX];
	unsigned n = dp_port_recv(g_nic, d, DP_PORT_BURST_MAX, (uint64_t)(now / NS_PER_MS));

	for (unsigned i = 0; i < n; i++) {
		struct dp_udp_hdr h;
		if (d[i].dst_port != NIC_PORT || dp_udp_hdr_decode(d[i].data, d[i].len, &h) < 0)
			continue;
		for (uint32_t k = 0; k < w->n_sess; k++) {
			struct sess *s = &w->s[k];
			if (s->fd < 0 || s->nonce != h.cookie)
				continue;
			udp_on_dgram(w, s, &h, d[i].data + DP_UDP_HDR_LEN,
				     (uint32_t)d[i].len - DP_UDP_HDR_LEN, now);
			if (s->restart) {
				s->restart = false;
				churn_start(w, s, now);
			}
			break;
		}
	}
}

/* Start a TCP connect; the handshake follows when the socket is writable. */
static void sess_connect(struct worker *w, struct sess *s, int64_t now)
{
	TN_ASSERT(s->fd < 0);
	const struct server *srv = s->srv;
	s->state_ns = now;
	s->state = SS_CONNECTING;
	if (w->b->o.udp) {
		/* with --dpdk-port the socket only holds the session's place in the
		 * state machine: its datagrams go through the DPDK port */
		s->fd = socket(srv->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (s->fd < 0 ||
		    (!g_nic && connect(s->fd, (const struct sockaddr *)&srv->addr, srv->addr_len) < 0) ||
		    sess_epoll(w, s, EPOLL_CTL_ADD, EPOLLIN) < 0) {
			sess_lost(w, s, errno, "udp socket");
			return;
		}
		udp_handshake(w, s, now);
		return;
	}
	s->fd = socket(srv->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		sess_lost(w, s, errno, "socket");
		return;
	}
	int one = 1;
	(void)setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(s->fd, (const struct sockaddr *)&srv->addr, srv->addr_len) < 0 &&
	    errno != EINPROGRESS) {
		sess_lost(w, s, errno, "cannot connect");
		return;
	}
	if (sess_epoll(w, s, EPOLL_CTL_ADD, EPOLLIN | EPOLLOUT) < 0)
		sess_lost(w, s, errno, "epoll_ctl");
}

static void sess_start_handshake(struct worker *w, struct sess *s, int64_t now)
{
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		soerr = errno;
	if (soerr) {
		sess_lost(w, s, soerr, "cannot connect");
		return;
	}
	struct zkp_connect_req cr = {.timeout_ms = (int32_t)w->b->o.session_timeout_ms,
				     .passwd_len = ZKP_PASSWD_LEN, .has_read_only = true};
	struct tn_wr wr = tn_wr_init(s->tx, w->b->tx_cap);
	size_t start = zkp_frame_begin(&wr);
	TN_ASSERT(zkp_encode_connect_req(&wr, &cr) == 0 && zkp_frame_end(&wr, start) == 0);
	s->tx_off = 0;
	s->tx_len = wr.len;
	s->state = SS_HANDSHAKE;
	s->last_send_ns = now;
	s->want_out = true; /* the flush below drops EPOLLOUT once the bytes are out */
	sess_mark_dirty(w, s);
}

/* One send per dirty session per turn. */
static void sess_flush(struct worker *w, struct sess *s)
{
	s->dirty = false;
	if (s->fd < 0 || s->state == SS_CONNECTING || s->tx_off == s->tx_len)
		return;
	if (w->b->o.udp) {
		if (s->state != SS_HANDSHAKE)
			udp_flush(w, s);
		return;
	}
	ssize_t n = send(s->fd, s->tx + s->tx_off, s->tx_len - s->tx_off, MSG_NOSIGNAL);
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		sess_lost(w, s, errno, "send");
		return;
	}
	if (n > 0)
		s->tx_off += (size_t)n;
	bool more = s->tx_off < s->tx_len;
	if (!more)
		s->tx_off = s->tx_len = 0;
	if (more != s->want_out) {
		s->want_out = more;
		if (sess_epoll(w, s, EPOLL_CTL_MOD, EPOLLIN | (more ? EPOLLOUT : 0u)) < 0)
			sess_lost(w, s, errno, "epoll_ctl");
	}
}

static void worker_flush(struct worker *w)
{
	for (uint32_t i = 0; i < w->n_dirty; i++)
		sess_flush(w, w->dirty[i]);
	w->n_dirty = 0;
}

/* ---- workloads: paths and requests ---- */

static void key_path(const struct bench *b, uint32_t key, char *out)
{
	snprintf(out, PATH_BUF, "%s/k%07u", b->o.prefix, key);
}

static void own_path(const struct worker *w, const struct sess *s, uint32_t n, char *out)
{
	snprintf(out, PATH_BUF, "%s/%s%u-%u-%u", w->b->wdir, w->b->names, w->id, s->idx, n);
}

static void send_create(struct worker *w, struct sess *s, const char *path, int32_t flags,
			uint8_t role, int64_t intended, uint32_t key, int64_t now)
{
	const struct bench *b = w->b;
	struct zkp_request r = {.type = ZK_OP_CREATE};
	r.op.type = ZK_OP_CREATE;
	r.op.path = path;
	r.op.data = b->value;
	r.op.data_len = (int32_t)b->o.value_size;
	r.op.acl = (struct zk_acl_list){1, &open_acl};
	r.op.flags = flags;
	sess_send(w, s, &r, role, intended, key, now);
}

static void send_set(struct worker *w, struct sess *s, const char *path, uint8_t role,
		     int64_t intended, uint32_t key, int64_t now)
{
	struct zkp_request r = {.type = ZK_OP_SETDATA};
	r.op.type = ZK_OP_SETDATA;
	r.op.path = path;
	r.op.data = w->b->value;
	r.op.data_len = (int32_t)w->b->o.value_size;
	r.op.version = -1;
	sess_send(w, s, &r, role, intended, key, now);
}

static void send_watch_read(struct worker *w, struct sess *s, int32_t type, const char *path,
			    int64_t now)
{
	struct zkp_request r = {.type = type};
	r.op.type = type;
	r.op.path = path;
	r.op.watch = true;
	sess_send(w, s, &r, ROLE_HELPER, now, 0, now);
}

/* One request of a key workload (create, set, get, exists, mixed). */
static void issue_key_op(struct worker *w, struct sess *s, int64_t intended, int64_t now)
{
	const struct bench *b = w->b;
	char path[PATH_BUF];
	uint32_t key = (uint32_t)(rng_next(&w->rng) % b->o.keys);
	enum workload wl = b->o.workload;
	if (wl == W_MIXED)
		wl = rng_next(&w->rng) % 100 < b->o.reads_pct ? W_GET : W_SET;
	switch (wl) {
	case W_CREATE:
		own_path(w, s, s->seq++, path);
		send_create(w, s, path, ZK_CREATE_PERSISTENT, ROLE_MEASURED, intended, 0, now);
		return;
	case W_SET:
		key_path(b, key, path);
		send_set(w, s, path, ROLE_MEASURED, intended, key, now);
		return;
	case W_GET:
	case W_EXISTS:
		key_path(b, key, path);
		sess_send_op(w, s, wl == W_GET ? ZK_OP_GETDATA : ZK_OP_EXISTS, path, ROLE_MEASURED,
			     intended, key, now);
		return;
	default:
		TN_ASSERT(!"not a key workload");
	}
}

/* --op delete: each lane alternates create (helper) and delete (measured)
 * of its own node, so deletes never run out of victims. */
static void delete_lane_step(struct worker *w, struct sess *s, uint32_t lane, bool create,
			     int64_t now)
{
	char path[PATH_BUF];
	own_path(w, s, lane, path);
	if (create)
		send_create(w, s, path, ZK_CREATE_PERSISTENT, ROLE_HELPER, now, lane, now);
	else
		sess_send_op(w, s, ZK_OP_DELETE, path, ROLE_MEASURED, now, lane, now);
}

/* ---- churn: connect, create an ephemeral, close; one cycle at a time ---- */

static void churn_start(struct worker *w, struct sess *s, int64_t now)
{
	s->cycle_ns = now;
	sess_connect(w, s, now);
}

static void churn_on_connected(struct worker *w, struct sess *s, int64_t now)
{
	char path[PATH_BUF];
	record_op(w, OS_CONNECT, s->state_ns, now);
	own_path(w, s, s->seq++, path);
	send_create(w, s, path, ZK_CREATE_EPHEMERAL, ROLE_HELPER, now, 0, now);
}

static void send_close(struct worker *w, struct sess *s, int64_t now)
{
	sess_send_op(w, s, ZK_OP_CLOSESESSION, "", ROLE_CLOSE, now, 0, now);
	s->state = SS_CLOSING;
}

/* ---- lock: sequential-ephemeral node, watch the predecessor, release ---- */

static void lock_start(struct worker *w, struct sess *s, int64_t now)
{
	char path[PATH_BUF];
	snprintf(path, sizeof(path), "%s/%s%u-%u-", w->b->wdir, w->b->names, w->id, s->idx);
	s->cycle_ns = now;
	s->lock_state = LK_CREATING;
	send_create(w, s, path, ZK_CREATE_EPHEMERAL_SEQUENTIAL, ROLE_HELPER, now, 0, now);
}

static void lock_list(struct worker *w, struct sess *s, int64_t now)
{
	s->lock_state = LK_LISTING;
	sess_send_op(w, s, ZK_OP_GETCHILDREN, w->b->wdir, ROLE_HELPER, now, 0, now);
}

/* The 10-digit sequence suffix of @name, or -1. */
static int64_t seq_of(const char *name)
{
	size_t n = strlen(name);
	if (n < 10)
		return -1;
	int64_t v = 0;
	for (size_t i = n - 10; i < n; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -1;
		v = v * 10 + (name[i] - '0');
	}
	return v;
}

/* Holder if no child has a smaller sequence; otherwise watch the next
 * smaller one only (no herd: one waiter wakes per release). */
static void lock_check(struct worker *w, struct sess *s, const struct zkp_strv *names, int64_t now)
{
	int64_t mine = seq_of(s->own), best = -1;
	const char *pred = NULL;
	for (int32_t i = 0; i < names->count; i++) {
		int64_t q = seq_of(names->v[i]);
		if (q >= 0 && q < mine && q > best) {
			best = q;
			pred = names->v[i];
		}
	}
	if (!pred) {
		record_main(w, s->cycle_ns, now);
		s->lock_state = LK_RELEASING;
		sess_send_op(w, s, ZK_OP_DELETE, s->own, ROLE_HELPER, now, 0, now);
		return;
	}
	snprintf(s->pred, sizeof(s->pred), "%s/%s", w->b->wdir, pred);
	s->lock_state = LK_WATCHING;
	send_watch_read(w, s, ZK_OP_EXISTS, s->pred, now);
}

static void lock_on_reply(struct worker *w, struct sess *s, const struct req *rq,
			  const struct zkp_response *rsp, int64_t now)
{
	int32_t err = rsp->hdr.err;
	bool run = w->phase == PH_RUN;
	if (rq->type == ZK_OP_CREATE && err == 0) {
		snprintf(s->own, sizeof(s->own), "%s", rsp->path);
		lock_list(w, s, now);
	} else if (rq->type == ZK_OP_GETCHILDREN && err == 0) {
		lock_check(w, s, &rsp->names, now);
	} else if (rq->type == ZK_OP_EXISTS && err == ZK_ENONODE) {
		lock_list(w, s, now); /* gone before the watch was set: look again */
	} else if (rq->type == ZK_OP_EXISTS && err == 0) {
		s->lock_state = LK_WAITING;
	} else if (rq->type == ZK_OP_DELETE) {
		s->lock_state = LK_IDLE;
		if (run)
			lock_start(w, s, now);
	} else {
		/* an error reply (counted): give up this cycle; closeSession
		 * at the end removes what is left of it */
		s->lock_state = LK_IDLE;
	}
}

/* ---- watch fan-out: watchers hold a getData watch, one writer sets ---- */

static void watch_maybe_round(struct worker *w, int64_t now)
{
	struct sess *writer = &w->s[0];
	uint32_t watchers = w->n_sess - 1;
	if (w->phase != PH_RUN || w->round_open || w->armed != watchers ||
	    writer->state != SS_READY || writer->q_count != 0)
		return;
	w->round_open = true;
	w->round_ns = now;
	w->notified = 0;
	send_set(w, writer, w->b->wdir, ROLE_HELPER, now, 0, now);
}

static void watch_on_event(struct worker *w, struct sess *s, const struct zkp_response *rsp,
			   int64_t now)
{
	if (s->idx == 0 || !w->round_open || rsp->event.type != ZK_EVENT_DATA_CHANGED ||
	    strcmp(rsp->event.path ? rsp->event.path : "", w->b->wdir) != 0)
		return;
	record_main(w, w->round_ns, now);
	w->armed--;
	if (++w->notified == w->n_sess - 1) {
		w->round_open = false;
		w->rounds++;
	}
	if (w->phase == PH_RUN)
		send_watch_read(w, s, ZK_OP_GETDATA, w->b->wdir, now);
	watch_maybe_round(w, now);
}

/* ---- replies ---- */

static void setup_pump(struct worker *w, int64_t now);

static void setup_on_reply(struct worker *w, const struct req *rq, int32_t err, int64_t now)
{
	struct bench *b = w->b;
	if (err != 0 && err != ZK_ENODEEXISTS) {
		char msg[PATH_BUF + 128], path[PATH_BUF];
		if (rq->key < b->n_dirs)
			snprintf(path, sizeof(path), "%s", b->dirs[rq->key]);
		else
			key_path(b, rq->key - b->n_dirs, path);
		snprintf(msg, sizeof(msg), "setup: create %s: %s (%d)", path, zk_err_name(err),
			 err);
		set_fatal(b, msg);
		return;
	}
	w->setup_done++;
	setup_pump(w, now);
}

static void close_on_reply(struct worker *w, struct sess *s, const struct req *rq, int64_t now)
{
	sess_close_fd(w, s, SS_IDLE);
	if (w->b->o.workload != W_CHURN || w->phase < PH_RUN || w->phase == PH_CLOSE)
		return;
	record_op(w, OS_CLOSE, rq->sent_ns, now); /* part of a churn cycle */
	if (s->cycle_ns)
		record_main(w, s->cycle_ns, now);
	s->restart = w->phase == PH_RUN; /* reconnect after this frame loop */
}

static void workload_on_reply(struct worker *w, struct sess *s, const struct req *rq,
			      const struct zkp_response *rsp, int64_t now)
{
	const struct bench *b = w->b;
	int32_t err = rsp->hdr.err;
	bool run = w->phase == PH_RUN;
	switch (b->o.workload) {
	case W_CREATE:
		w->created += err == 0;
		__attribute__((fallthrough));
	case W_SET:
	case W_GET:
	case W_EXISTS:
	case W_MIXED:
		if (run && b->o.rate == 0)
			issue_key_op(w, s, now, now);
		return;
	case W_DELETE:
		if (rq->type == ZK_OP_CREATE)
			w->created += err == 0;
		else
			w->deleted += err == 0;
		if (run || rq->type == ZK_OP_CREATE)
			delete_lane_step(w, s, rq->key, rq->type == ZK_OP_DELETE, now);
		return;
	case W_WATCH:
		if (rq->type == ZK_OP_GETDATA && err == 0)
			w->armed++;
		if (rq->type == ZK_OP_SETDATA && err == 0)
			w->sets_ok++;
		watch_maybe_round(w, now);
		return;
	case W_CHURN:
		w->created += err == 0;
		send_close(w, s, now);
		return;
	case W_LOCK:
		lock_on_reply(w, s, rq, rsp, now);
		return;
	default:
		TN_ASSERT(!"unknown workload");
	}
}

static void on_reply(struct worker *w, struct sess *s, const struct req *rq,
		     const struct zkp_response *rsp, int64_t now)
{
	int32_t err = rsp->hdr.err;
	w->all_ops++;
	if (rq->role == ROLE_SETUP) {
		setup_on_reply(w, rq, err, now);
		return;
	}
	if (rq->role == ROLE_CLOSE) {
		close_on_reply(w, s, rq, now);
		return;
	}
	bool expected = w->b->o.workload == W_LOCK && rq->type == ZK_OP_EXISTS &&
			err == ZK_ENONODE;
	if (err == 0) {
		record_op(w, opstat_of(rq->type), rq->sent_ns, now);
		if (rq->role == ROLE_MEASURED)
			record_main(w, rq->intended_ns, now);
	} else if (!expected) {
		count_err(w, err);
	}
	workload_on_reply(w, s, rq, rsp, now);
}

static void on_connected(struct worker *w, struct sess *s, const uint8_t *p, uint32_t len,
			 int64_t now)
{
	struct zkp_connect_rsp cr;
	if (zkp_decode_connect_rsp(p, len, &cr) < 0) {
		sess_lost(w, s, EBADMSG, "bad ConnectResponse");
		return;
	}
	if (cr.timeout_ms <= 0) {
		sess_lost(w, s, ECONNREFUSED, "session refused (timeout 0)");
		return;
	}
	s->state = SS_READY;
	s->next_xid = 0;
	s->ping_ns = (int64_t)cr.timeout_ms * NS_PER_MS / 3;
	if (w->phase >= PH_RUN && w->b->o.workload == W_CHURN)
		churn_on_connected(w, s, now);
}

static void on_frame(struct worker *w, struct sess *s, const uint8_t *p, uint32_t len, int64_t now)
{
	if (s->state == SS_HANDSHAKE) {
		on_connected(w, s, p, len, now);
		return;
	}
	if (len < ZKP_REPLY_HDR_LEN) {
		sess_lost(w, s, EBADMSG, "short reply");
		return;
	}
	int32_t xid = (int32_t)tn_load_be32(p);
	if (xid == ZKP_XID_PING) {
		s->pings_out -= s->pings_out > 0;
		return;
	}
	struct tn_arena a = tn_arena_init(w->arena_buf, w->arena_cap);
	struct zkp_response rsp;
	if (xid != ZKP_XID_WATCH && (s->q_count == 0 || s->q[s->q_head].xid != xid)) {
		sess_lost(w, s, EPROTO, "reply out of order");
		return;
	}
	struct req rq = xid == ZKP_XID_WATCH ? (struct req){.type = ZK_OP_GETDATA}
					     : s->q[s->q_head];
	if (zkp_decode_response(p, len, rq.type, &a, &rsp) < 0) {
		sess_lost(w, s, EBADMSG, "undecodable reply");
		return;
	}
	if (xid == ZKP_XID_WATCH) {
		if (w->b->o.workload == W_WATCH)
			watch_on_event(w, s, &rsp, now);
		else if (w->b->o.workload == W_LOCK && s->lock_state == LK_WAITING &&
			 rsp.event.type == ZK_EVENT_DELETED && rsp.event.path &&
			 strcmp(rsp.event.path, s->pred) == 0)
			lock_list(w, s, now);
		return;
	}
	s->q_head = (s->q_head + 1) % w->b->q_cap;
	s->q_count--;
	s->udp_sent -= s->udp_sent > 0;
	w->inflight--;
	on_reply(w, s, &rq, &rsp, now);
}

static void sess_on_readable(struct worker *w, struct sess *s, int64_t now)
{
	const struct bench *b = w->b;
	ssize_t n = recv(s->fd, s->rx + s->rx_len, b->rx_cap - s->rx_len, 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		sess_lost(w, s, n == 0 ? ECONNRESET : errno, "connection closed by server");
		return;
	}
	if (n < 0)
		return;
	s->rx_len += (size_t)n;
	size_t off = 0;
	uint32_t gen = s->gen;
	for (;;) {
		uint32_t flen;
		int rc = zkp_frame_len(s->rx + off, s->rx_len - off,
				       (uint32_t)(b->rx_cap - ZKP_LEN_PREFIX), &flen);
		if (rc == ZKP_FRAME_NEED_MORE)
			break;
		if (rc < 0) {
			sess_lost(w, s, EMSGSIZE, "reply frame too long");
			return;
		}
		on_frame(w, s, s->rx + off + ZKP_LEN_PREFIX, flen, now);
		if (s->gen != gen) /* closed or lost: its buffer was reset */
			break;
		off += ZKP_LEN_PREFIX + flen;
	}
	if (s->gen == gen && off > 0) {
		memmove(s->rx, s->rx + off, s->rx_len - off);
		s->rx_len -= off;
	}
	if (s->restart) {
		s->restart = false;
		churn_start(w, s, now);
	}
}

static void worker_on_event(struct worker *w, const struct epoll_event *ev, int64_t now)
{
	uint32_t idx = (uint32_t)ev->data.u64, gen = (uint32_t)(ev->data.u64 >> 32);
	TN_ASSERT_HOT(idx < w->n_sess);
	struct sess *s = &w->s[idx];
	if (s->gen != gen || s->fd < 0)
		return;
	if (w->b->o.udp) {
		if (ev->events & (EPOLLIN | EPOLLERR))
			udp_on_readable(w, s, now);
		return;
	}
	if (s->state == SS_CONNECTING) {
		if (ev->events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			sess_start_handshake(w, s, now);
		return;
	}
	if (ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		sess_on_readable(w, s, now);
	if (s->gen == gen && (ev->events & EPOLLOUT))
		sess_mark_dirty(w, s);
}

/* ---- phases ---- */

static uint32_t setup_keys(const struct bench *b)
{
	enum workload wl = b->o.workload;
	return wl == W_SET || wl == W_GET || wl == W_EXISTS || wl == W_MIXED ? b->o.keys : 0;
}

/* Directories go through session 0 in order (a parent before its child);
 * keys, once they exist, through every session with a free slot. */
static void setup_pump(struct worker *w, int64_t now)
{
	struct bench *b = w->b;
	for (uint32_t guard = 0; guard < b->n_setup && w->setup_next < b->n_setup; guard++) {
		struct sess *s = NULL;
		uint32_t i = w->setup_next;
		if (i < b->n_dirs) {
			if (w->s[0].state == SS_READY && w->s[0].q_count < b->q_cap)
				s = &w->s[0];
		} else if (w->setup_done >= b->n_dirs) {
			for (uint32_t k = 0; k < w->n_sess && !s; k++) {
				struct sess *c = &w->s[(w->rr + k) % w->n_sess];
				if (c->state == SS_READY && c->q_count < b->o.outstanding)
					s = c;
			}
			w->rr++;
		}
		if (!s)
			return;
		char path[PATH_BUF];
		if (i < b->n_dirs)
			snprintf(path, sizeof(path), "%s", b->dirs[i]);
		else
			key_path(b, i - b->n_dirs, path);
		struct zkp_request r = {.type = ZK_OP_CREATE};
		r.op.type = ZK_OP_CREATE;
		r.op.path = path;
		bool with_value = i >= b->n_dirs || (b->o.workload == W_WATCH && i + 1 == b->n_dirs);
		r.op.data = with_value ? b->value : NULL;
		r.op.data_len = with_value ? (int32_t)b->o.value_size : -1;
		r.op.acl = (struct zk_acl_list){1, &open_acl};
		sess_send(w, s, &r, ROLE_SETUP, now, i, now);
		w->setup_next++;
	}
}

static struct sess *find_free(struct worker *w)
{
	for (uint32_t k = 0; k < w->n_sess; k++) {
		struct sess *s = &w->s[w->rr++ % w->n_sess];
		if (s->state == SS_READY && s->q_count < w->b->o.outstanding)
			return s;
	}
	return NULL;
}

/* Due requests of the open-loop schedule that have not left yet. */
static uint64_t open_due(const struct worker *w, int64_t t)
{
	const struct bench *b = w->b;
	if (t < b->t0_ns)
		return 0;
	return (uint64_t)((double)(t - b->t0_ns) * w->rate / 1e9) + 1;
}

static int64_t open_time(const struct worker *w, uint64_t i)
{
	return w->b->t0_ns + (int64_t)((double)i * 1e9 / w->rate);
}

static void open_loop_issue(struct worker *w, int64_t now)
{
	uint64_t due = open_due(w, TN_MIN(now, w->b->t_end_ns - 1));
	while (w->issued < due) {
		struct sess *s = find_free(w);
		if (!s)
			return; /* backlog: the wait counts as latency */
		issue_key_op(w, s, open_time(w, w->issued), now);
		w->issued++;
	}
}

static void run_start(struct worker *w, int64_t now)
{
	const struct bench *b = w->b;
	w->phase = PH_RUN;
	for (uint32_t i = 0; i < w->n_sess; i++) {
		struct sess *s = &w->s[i];
		if (s->state != SS_READY)
			continue;
		switch (b->o.workload) {
		case W_WATCH:
			if (i > 0)
				send_watch_read(w, s, ZK_OP_GETDATA, b->wdir, now);
			break;
		case W_CHURN:
			send_close(w, s, now); /* the first cycle starts after it */
			break;
		case W_LOCK:
			lock_start(w, s, now);
			break;
		case W_DELETE:
			for (uint32_t k = 0; k < b->o.outstanding; k++)
				delete_lane_step(w, s, k, true, now);
			break;
		default:
			for (uint32_t k = 0; b->o.rate == 0 && k < b->o.outstanding; k++)
				issue_key_op(w, s, now, now);
			break;
		}
	}
}

static void enter_drain(struct worker *w)
{
	const struct bench *b = w->b;
	w->phase = PH_DRAIN;
	if (b->o.rate > 0) {
		int64_t stop = atomic_load(&g_stop_ns);
		uint64_t due = open_due(w, (stop ? TN_MIN(stop, b->t_end_ns) : b->t_end_ns) - 1);
		w->unsent = due > w->issued ? due - w->issued : 0;
	}
}

/* What the second ending at @end_ns was: warm-up, measured, or drain. */
static const char *interval_label(const struct bench *b, int64_t end_ns)
{
	if (end_ns - NS_PER_S < b->t_measure_ns)
		return "warmup";
	return end_ns <= b->t_end_ns ? "run" : "drain";
}

static void progress_line(struct worker *w, int64_t now)
{
	struct bench *b = w->b;
	uint64_t ops = 0, errs = 0, lat = 0, infl = 0;
	for (uint32_t i = 0; i < b->n_w; i++) {
		ops += atomic_load_explicit(&b->w[i].prog_ops, memory_order_relaxed);
		errs += atomic_load_explicit(&b->w[i].prog_errs, memory_order_relaxed);
		lat += atomic_load_explicit(&b->w[i].prog_lat_ns, memory_order_relaxed);
	}
	infl = w->inflight;
	uint64_t d_ops = ops - w->prog_last_ops, d_lat = lat - w->prog_last_lat;
	w->prog_last_ops = ops;
	w->prog_last_lat = lat;
	int64_t sec = (w->next_prog_ns - b->t0_ns) / NS_PER_S;
	if (b->n_timeline < TIMELINE_MAX)
		b->timeline[b->n_timeline++] = (double)d_ops;
	if (!b->o.quiet)
		fprintf(stderr,
			"tern-bench: %4" PRId64 "s %-6s %10" PRIu64 " ops/s  mean %8.3f ms  "
			"errors %" PRIu64 "  in flight %" PRIu64 "%s\n",
			sec, interval_label(b, w->next_prog_ns),
			d_ops, d_ops ? (double)d_lat / (double)d_ops / 1e6 : 0.0, errs, infl,
			b->n_w > 1 ? " on thread 0" : "");
	w->next_prog_ns += NS_PER_S;
}

/* Pings for idle sessions, connect timeouts, phase change, progress. */
static void worker_tick(struct worker *w, int64_t now)
{
	struct bench *b = w->b;
	if (w->phase == PH_RUN && b->o.rate > 0)
		open_loop_issue(w, now); /* first: requests due just before the end leave too */
	if (w->phase == PH_RUN && (now >= b->t_end_ns || atomic_load(&g_stop_ns) != 0))
		enter_drain(w);
	if (w->id == 0 && w->phase >= PH_RUN && w->phase < PH_CLOSE && now >= w->next_prog_ns)
		progress_line(w, now);
	if (now < w->next_tick_ns)
		return;
	w->next_tick_ns = now + TICK_NS;
	for (uint32_t i = 0; i < w->n_sess; i++) {
		struct sess *s = &w->s[i];
		if ((s->state == SS_CONNECTING || s->state == SS_HANDSHAKE) &&
		    now - s->state_ns > CONNECT_NS) {
			sess_lost(w, s, ETIMEDOUT, "cannot connect");
		} else if (b->o.udp && s->fd >= 0) {
			udp_tick(w, s, now);
		}
		/* over UDP a ping reply may be lost: never wait for one */
		if (s->state == SS_READY && (s->pings_out == 0 || b->o.udp) &&
		    now - s->last_send_ns > s->ping_ns) {
			struct zkp_request r = {.xid = ZKP_XID_PING, .type = ZK_OP_PING};
			sess_encode(w, s, &r, now);
			s->pings_out++;
		}
	}
}

static bool worker_done(const struct worker *w)
{
	const struct bench *b = w->b;
	if (b->fatal[0] && w->phase < PH_RUN)
		return true;
	bool busy = false;
	for (uint32_t i = 0; i < w->n_sess && !busy; i++) {
		const struct sess *s = &w->s[i];
		switch (w->phase) {
		case PH_CONNECT:
			busy = s->state == SS_CONNECTING || s->state == SS_HANDSHAKE;
			break;
		case PH_DRAIN:
			busy = (b->o.workload == W_CHURN && s->state != SS_IDLE &&
				s->state != SS_DEAD) ||
			       (b->o.workload == W_LOCK && s->lock_state != LK_IDLE);
			break;
		case PH_CLOSE:
			busy = s->state == SS_CLOSING;
			break;
		default:
			break;
		}
	}
	switch (w->phase) {
	case PH_SETUP:
		return w->setup_done == b->n_setup && w->inflight == 0;
	case PH_RUN:
		return false;
	case PH_DRAIN:
		return !busy && w->inflight == 0 && !w->round_open;
	default:
		return !busy;
	}
}

static int64_t worker_next_wake(const struct worker *w, int64_t now, int64_t deadline)
{
	const struct bench *b = w->b;
	int64_t wake = TN_MIN(deadline, w->next_tick_ns);
	if (w->id == 0 && w->phase >= PH_RUN)
		wake = TN_MIN(wake, w->next_prog_ns);
	if (w->phase == PH_RUN) {
		wake = TN_MIN(wake, b->t_end_ns);
		if (b->o.rate > 0 && w->issued >= open_due(w, now))
			wake = TN_MIN(wake, open_time(w, w->issued));
	}
	return TN_MAX(wake, now);
}

static int wait_events(int epfd, struct epoll_event *ev, int64_t timeout_ns)
{
	struct timespec ts = {timeout_ns / NS_PER_S, timeout_ns % NS_PER_S};
	int n = epoll_pwait2(epfd, ev, EVENTS_MAX, &ts, NULL);
	if (n < 0 && errno == ENOSYS) /* kernels before 5.11: ms resolution */
		n = epoll_wait(epfd, ev, EVENTS_MAX, (int)((timeout_ns + NS_PER_MS - 1) / NS_PER_MS));
	return n;
}

/* Run turns until the phase is done. Return: 0, -ETIMEDOUT (@deadline_ns
 * passed first), or -errno from epoll. */
static int worker_loop(struct worker *w, int64_t deadline_ns)
{
	struct epoll_event ev[EVENTS_MAX];
	for (;;) {
		int64_t now = now_ns();
		worker_tick(w, now);
		worker_flush(w);
		if (worker_done(w))
			return 0;
		if (now >= deadline_ns)
			return -ETIMEDOUT;
		int64_t wait_ns = worker_next_wake(w, now, deadline_ns) - now;
		if (g_nic) /* the port has no fd: sleep no longer than adaptive polling says */
			wait_ns = TN_MIN(wait_ns, (int64_t)TN_MIN(dp_port_idle_us(g_nic), 1000u) * 1000);
		int n = wait_events(w->epfd, ev, wait_ns);
		if (n < 0 && errno != EINTR)
			return -errno;
		now = now_ns();
		if (g_nic)
			nic_poll(w, now);
		for (int i = 0; i < n; i++)
			worker_on_event(w, &ev[i], now);
	}
}

/* The timed part of one worker, then closeSession for every session. */
static void worker_run(struct worker *w)
{
	struct bench *b = w->b;
	struct timespec ts = {b->t0_ns / NS_PER_S, b->t0_ns % NS_PER_S};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
	w->next_prog_ns = b->t0_ns + NS_PER_S;
	run_start(w, now_ns());
	if (worker_loop(w, b->t_end_ns + DRAIN_NS) == -ETIMEDOUT) {
		uint64_t missing = w->inflight;
		if (w->round_open) /* notifications that never came */
			missing += w->n_sess - 1 - w->notified;
		for (uint32_t i = 0; i < w->n_sess; i++) { /* cycles stuck between requests */
			const struct sess *s = &w->s[i];
			missing += s->q_count == 0 && (s->lock_state == LK_WAITING ||
						       s->state == SS_CONNECTING ||
						       s->state == SS_HANDSHAKE);
		}
		w->timeouts += missing;
		for (uint64_t i = 0; i < missing; i++)
			count_err(w, ZK_EOPERATIONTIMEOUT);
	}
	w->phase = PH_CLOSE;
	int64_t now = now_ns();
	for (uint32_t i = 0; i < w->n_sess; i++) {
		struct sess *s = &w->s[i];
		if (s->state == SS_READY && s->q_count < b->q_cap)
			send_close(w, s, now);
		else if (s->state != SS_CLOSING)
			sess_close_fd(w, s, s->state == SS_DEAD ? SS_DEAD : SS_IDLE);
	}
	(void)worker_loop(w, now + CLOSE_NS);
	for (uint32_t i = 0; i < w->n_sess; i++)
		sess_close_fd(w, &w->s[i], w->s[i].state == SS_DEAD ? SS_DEAD : SS_IDLE);
}

static void *worker_thread(void *arg)
{
	worker_run(arg);
	return NULL;
}

/* ---- options ---- */

static const char usage_text[] =
	"usage: tern-bench [options]\n"
	"A ZooKeeper-protocol load generator: drives ternd or Apache ZooKeeper alike.\n"
	"\n"
	"  --server H:P[,H:P...]  servers; sessions are spread over them (default 127.0.0.1:2181)\n"
	"  --op NAME              workload (default set):\n"
	"                           create  create persistent znodes PREFIX/create/<pid>-...\n"
	"                           set     setData on a random key;  get  getData;  exists  exists\n"
	"                           delete  each slot creates then deletes its own znode under\n"
	"                                   PREFIX/delete; deletes are measured\n"
	"                           mixed   --reads percent getData, the rest setData\n"
	"                           watch   --watchers sessions hold a getData watch on PREFIX/watch;\n"
	"                                   one writer sets it; measures set-send to each event\n"
	"                           churn   each session: connect, create an ephemeral under\n"
	"                                   PREFIX/churn, closeSession; measures the whole cycle\n"
	"                           lock    each session takes a sequential-ephemeral lock under\n"
	"                                   PREFIX/lock (watching only its predecessor) and releases\n"
	"                                   it; measures the time to acquire\n"
	"  --workload NAME        the same as --op\n"
	"  --reads PCT            mixed: percent of reads (default 90)\n"
	"  --sessions S           sessions (connections) in all (default 8, max 1024)\n"
	"  --outstanding K        requests in flight per session, closed loop; the slot limit in\n"
	"                         open loop (default 32, max 1024)\n"
	"  --threads N            event-loop threads, sessions split between them (default 1)\n"
	"  --rate R               open loop: R requests/s offered in all (create/set/get/exists/\n"
	"                         mixed); latency counts from each request's scheduled time\n"
	"  --watchers N           watch: watcher sessions (default: --sessions); plus one writer\n"
	"  --value-size B         bytes written by create/set (default 100, max 1000000)\n"
	"  --keys N               keys PREFIX/k0000000.. created before the run (default 1000)\n"
	"  --prefix PATH          where everything lives; created at start (default /tern-bench)\n"
	"  --warmup S             seconds before measuring (default 2; fractions allowed)\n"
	"  --duration S           seconds measured (default 10)\n"
	"  --session-timeout MS   requested session timeout (default 10000)\n"
	"  --seed N               key choice seed (default: from the clock)\n"
	"  --setup-only           create the prefix and keys, report, exit\n"
	"  --json                 print the result as one JSON object on stdout\n"
	"  --plot PREFIX          write PREFIX-throughput.png and PREFIX-latency.png with gnuplot\n"
	"                         (Debian: gnuplot-nox), and the .dat/.gp files they come from\n"
	"  --quiet                no progress line each second (on stderr)\n"
	"  --transport tcp|udp    udp: tern's native datagram protocol on the server's UDP port\n"
	"                         (tern.udp.port, default the client port), with retransmission\n"
	"                         after 200 ms; ternd only (default tcp)\n"
	"  --dpdk-port DEV --dpdk-ip A.B.C.D [--dpdk-netmask M] [--dpdk-gateway G]\n"
	"  [--dpdk-eal \"ARGS\"]  with --transport udp and --threads 1: the datagrams go through\n"
	"                         a DPDK port of our own (a PCI address or a vdev such as\n"
	"                         net_af_packet0,iface=veth0; EAL arguments such as --no-huge)\n"
	"  -h, --help             this text\n"
	"\n"
	"Output: ops and ops/s in the window, p50/p90/p99/p99.9/max/mean latency, per-op\n"
	"statistics, errors by ZooKeeper code (lost connections count as ConnectionLoss,\n"
	"requests missing after the window as OperationTimeout). Exit status: 0 ok, 1 the server\n"
	"could not be reached or setup failed, 2 bad options, 3 the run saw errors.\n";

static void bad_opt(const char *what, const char *arg)
{
	fprintf(stderr, "tern-bench: %s: '%s' (see --help)\n", what, arg);
	exit(EXIT_BADOPT);
}

static uint32_t parse_u32(const char *arg, uint32_t lo, uint32_t hi, const char *name)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v < lo || v > hi) {
		char what[96];
		snprintf(what, sizeof(what), "%s wants an integer in %u..%u", name, lo, hi);
		bad_opt(what, arg);
	}
	return (uint32_t)v;
}

static double parse_dbl(const char *arg, double lo, double hi, const char *name)
{
	char *end;
	errno = 0;
	double v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v >= lo && v <= hi)) {
		char what[96];
		snprintf(what, sizeof(what), "%s wants a number in %g..%g", name, lo, hi);
		bad_opt(what, arg);
	}
	return v;
}

enum { OPT_SERVER = 256, OPT_OP, OPT_READS, OPT_SESSIONS, OPT_OUTSTANDING, OPT_THREADS,
       OPT_RATE, OPT_WATCHERS, OPT_VALUE, OPT_KEYS, OPT_PREFIX, OPT_WARMUP, OPT_DURATION,
       OPT_TIMEOUT, OPT_SEED, OPT_SETUP_ONLY, OPT_JSON, OPT_PLOT, OPT_QUIET, OPT_TRANSPORT,
       OPT_DPDK_EAL, OPT_DPDK_PORT, OPT_DPDK_IP, OPT_DPDK_NETMASK, OPT_DPDK_GATEWAY };

static const struct option long_opts[] = {
	{"server", required_argument, NULL, OPT_SERVER},
	{"op", required_argument, NULL, OPT_OP},
	{"workload", required_argument, NULL, OPT_OP},
	{"reads", required_argument, NULL, OPT_READS},
	{"sessions", required_argument, NULL, OPT_SESSIONS},
	{"outstanding", required_argument, NULL, OPT_OUTSTANDING},
	{"threads", required_argument, NULL, OPT_THREADS},
	{"rate", required_argument, NULL, OPT_RATE},
	{"watchers", required_argument, NULL, OPT_WATCHERS},
	{"value-size", required_argument, NULL, OPT_VALUE},
	{"keys", required_argument, NULL, OPT_KEYS},
	{"prefix", required_argument, NULL, OPT_PREFIX},
	{"warmup", required_argument, NULL, OPT_WARMUP},
	{"duration", required_argument, NULL, OPT_DURATION},
	{"session-timeout", required_argument, NULL, OPT_TIMEOUT},
	{"seed", required_argument, NULL, OPT_SEED},
	{"setup-only", no_argument, NULL, OPT_SETUP_ONLY},
	{"json", no_argument, NULL, OPT_JSON},
	{"plot", required_argument, NULL, OPT_PLOT},
	{"quiet", no_argument, NULL, OPT_QUIET},
	{"transport", required_argument, NULL, OPT_TRANSPORT},
	{"dpdk-eal", required_argument, NULL, OPT_DPDK_EAL},
	{"dpdk-port", required_argument, NULL, OPT_DPDK_PORT},
	{"dpdk-ip", required_argument, NULL, OPT_DPDK_IP},
	{"dpdk-netmask", required_argument, NULL, OPT_DPDK_NETMASK},
	{"dpdk-gateway", required_argument, NULL, OPT_DPDK_GATEWAY},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static enum workload parse_workload(const char *arg)
{
	for (int i = 0; i < W_COUNT; i++)
		if (strcmp(arg, workload_names[i]) == 0)
			return (enum workload)i;
	bad_opt("--op wants create, set, get, exists, delete, mixed, watch, churn or lock", arg);
	return W_SET;
}

static void parse_one(struct opts *o, int c, const char *arg)
{
	switch (c) {
	case OPT_SERVER: o->servers = arg; break;
	case OPT_OP: o->workload = parse_workload(arg); break;
	case OPT_READS: o->reads_pct = parse_u32(arg, 0, 100, "--reads"); break;
	case OPT_SESSIONS: o->sessions = parse_u32(arg, 1, SESSIONS_MAX, "--sessions"); break;
	case OPT_OUTSTANDING:
		o->outstanding = parse_u32(arg, 1, OUTSTANDING_MAX, "--outstanding");
		break;
	case OPT_THREADS: o->threads = parse_u32(arg, 1, THREADS_MAX, "--threads"); break;
	case OPT_RATE: o->rate = parse_dbl(arg, 0, RATE_MAX, "--rate"); break;
	case OPT_WATCHERS:
		o->watchers = parse_u32(arg, 1, SESSIONS_MAX - 1, "--watchers");
		break;
	case OPT_VALUE: o->value_size = parse_u32(arg, 0, VALUE_MAX, "--value-size"); break;
	case OPT_KEYS: o->keys = parse_u32(arg, 1, KEYS_MAX, "--keys"); break;
	case OPT_PREFIX: o->prefix = arg; break;
	case OPT_WARMUP: o->warmup_s = parse_dbl(arg, 0, DURATION_S_MAX, "--warmup"); break;
	case OPT_DURATION:
		o->duration_s = parse_dbl(arg, 0.001, DURATION_S_MAX, "--duration");
		break;
	case OPT_TIMEOUT:
		o->session_timeout_ms = parse_u32(arg, 100, 3600000, "--session-timeout");
		break;
	case OPT_SEED: o->seed = parse_u32(arg, 0, UINT32_MAX, "--seed"); break;
	case OPT_SETUP_ONLY: o->setup_only = true; break;
	case OPT_JSON: o->json = true; break;
	case OPT_PLOT: o->plot = arg; break;
	case OPT_QUIET: o->quiet = true; break;
	case OPT_TRANSPORT:
		if (strcmp(arg, "udp") != 0 && strcmp(arg, "tcp") != 0)
			bad_opt("--transport wants tcp or udp", arg);
		o->udp = strcmp(arg, "udp") == 0;
		break;
	case OPT_DPDK_EAL: o->dpdk_eal = arg; break;
	case OPT_DPDK_PORT: o->dpdk_port = arg; break;
	case OPT_DPDK_IP: o->dpdk_ip = arg; break;
	case OPT_DPDK_NETMASK: o->dpdk_netmask = arg; break;
	case OPT_DPDK_GATEWAY: o->dpdk_gateway = arg; break;
	case 'h': fputs(usage_text, stdout); exit(0);
	default: fprintf(stderr, "tern-bench: see --help\n"); exit(EXIT_BADOPT);
	}
}

static void check_opts(struct opts *o)
{
	size_t n = strlen(o->prefix);
	if (o->prefix[0] != '/' || n < 2 || n > PREFIX_LEN_MAX || o->prefix[n - 1] == '/' ||
	    strstr(o->prefix, "//"))
		bad_opt("--prefix wants an absolute path like /tern-bench (no trailing /)",
			o->prefix);
	if (o->rate > 0 && (o->workload == W_DELETE || o->workload >= W_WATCH))
		bad_opt("--rate (open loop) works with create, set, get, exists and mixed",
			workload_names[o->workload]);
	if (o->workload == W_WATCH && o->threads > 1)
		bad_opt("watch fan-out runs on one thread", "--threads");
	if (o->threads > o->sessions)
		bad_opt("--threads may not exceed --sessions", "--threads");
	if (o->plot && strchr(o->plot, '\''))
		bad_opt("--plot prefix may not hold a quote", o->plot);
	if (o->workload == W_WATCH && o->watchers == 0)
		o->watchers = TN_MIN(o->sessions, SESSIONS_MAX - 1);
	if (o->dpdk_port || o->dpdk_eal || o->dpdk_ip) {
		if (!o->dpdk_port || !o->dpdk_ip)
			bad_opt("DPDK wants both --dpdk-port and --dpdk-ip", o->dpdk_port ? o->dpdk_port : "");
		if (!o->udp)
			bad_opt("--dpdk-port carries the native datagram protocol: add --transport udp",
				o->dpdk_port);
		if (o->threads != 1)
			bad_opt("--dpdk-port is polled by one thread: --threads 1", "--threads");
		if (!dp_port_dpdk_built())
			bad_opt("this tern-bench was built without DPDK (libdpdk not found)",
				o->dpdk_port);
	}
}

/* --dpdk-*: open the port. Return 0 or -errno. */
static int nic_open(const struct opts *o)
{
	const struct dp_port_client_cfg c = {.eal = o->dpdk_eal, .dev = o->dpdk_port,
					     .ip = o->dpdk_ip, .netmask = o->dpdk_netmask,
					     .gateway = o->dpdk_gateway};
	const char *bad = "";
	int rc = dp_port_open_client(&g_nic, &c, &bad);
	if (rc == -EINVAL && *bad)
		fprintf(stderr, "tern-bench: bad --dpdk-%s\n", strcmp(bad, "dev") ? bad : "port");
	return rc;
}

static void parse_opts(struct opts *o, int argc, char **argv)
{
	*o = (struct opts){.servers = "127.0.0.1:2181", .prefix = "/tern-bench",
			   .workload = W_SET, .sessions = 8, .outstanding = 32, .threads = 1,
			   .reads_pct = 90, .value_size = 100, .keys = 1000,
			   .session_timeout_ms = 10000, .warmup_s = 2, .duration_s = 10,
			   .seed = (uint64_t)now_ns()};
	int c;
	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1)
		parse_one(o, c, optarg);
	if (optind < argc)
		bad_opt("unexpected argument", argv[optind]);
	check_opts(o);
}

/* "host:port,host:port" (IPv6 as [addr]:port) into b->srv. */
static int resolve_servers(struct bench *b)
{
	char list[1024];
	if (strlen(b->o.servers) >= sizeof(list))
		bad_opt("--server list too long", b->o.servers);
	snprintf(list, sizeof(list), "%s", b->o.servers);
	char *save = NULL;
	for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (b->n_srv == SERVERS_MAX)
			bad_opt("too many servers", b->o.servers);
		char *colon = strrchr(tok, ':'), *host = tok;
		if (!colon || colon == tok || !colon[1])
			bad_opt("--server wants host:port", tok);
		*colon = '\0';
		if (host[0] == '[' && colon[-1] == ']') {
			host++;
			colon[-1] = '\0';
		}
		struct server *srv = &b->srv[b->n_srv];
		snprintf(srv->name, sizeof(srv->name), "%s:%s", host, colon + 1);
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
		int rc = getaddrinfo(host, colon + 1, &hints, &ai);
		if (rc != 0) {
			fprintf(stderr, "tern-bench: cannot resolve %s: %s\n", srv->name,
				gai_strerror(rc));
			return -EINVAL;
		}
		TN_ASSERT(ai->ai_addrlen <= sizeof(srv->addr));
		memcpy(&srv->addr, ai->ai_addr, ai->ai_addrlen);
		srv->addr_len = ai->ai_addrlen;
		freeaddrinfo(ai);
		b->n_srv++;
	}
	if (b->n_srv == 0)
		bad_opt("--server is empty", b->o.servers);
	return 0;
}

/* ---- setup of the bench: paths, sizes, memory (all before the clock runs) ---- */

static void bench_layout(struct bench *b)
{
	static const char *const wdirs[W_COUNT] = {
		[W_CREATE] = "create", [W_DELETE] = "delete", [W_WATCH] = "watch",
		[W_CHURN] = "churn", [W_LOCK] = "lock"};
	const char *p = b->o.prefix;
	for (const char *c = p + 1; b->n_dirs < DIRS_MAX; c++) {
		if (*c != '/' && *c != '\0')
			continue;
		snprintf(b->dirs[b->n_dirs++], DIR_BUF, "%.*s", (int)(c - p), p);
		if (*c == '\0')
			break;
	}
	if (strcmp(b->dirs[b->n_dirs - 1], p) != 0 || b->n_dirs == DIRS_MAX)
		bad_opt("--prefix is too deep", p);
	if (wdirs[b->o.workload]) {
		snprintf(b->wdir, sizeof(b->wdir), "%s/%s", p, wdirs[b->o.workload]);
		snprintf(b->dirs[b->n_dirs++], DIR_BUF, "%s", b->wdir);
	}
	b->n_setup = b->n_dirs + setup_keys(b);
	snprintf(b->names, sizeof(b->names), "%d-", (int)getpid());

	const struct opts *o = &b->o;
	size_t rx_frame = o->value_size + 1024u +
			  (o->workload == W_LOCK ? (size_t)o->sessions * CHILD_NAME_MAX : 0u);
	b->q_cap = o->outstanding + Q_EXTRA;
	b->frame_max = o->value_size + PATH_BUF + 128u;
	b->dg_cap = DP_UDP_HDR_LEN + b->frame_max;
	b->tx_cap = (b->q_cap + Q_EXTRA) * b->frame_max;
	b->rx_cap = TN_MAX((size_t)RX_MIN, 2 * (rx_frame + ZKP_LEN_PREFIX));
}

static int worker_init(struct bench *b, struct worker *w, uint32_t id, uint32_t n_sess,
		       uint32_t base)
{
	*w = (struct worker){.b = b, .id = id, .n_sess = n_sess, .sess_base = base, .epfd = -1};
	w->rng = b->o.seed * 0x9E3779B97F4A7C15ULL + id + 1;
	w->rate = b->o.rate / b->n_w;
	w->arena_cap = ZKP_ARENA_FOR_REPLY(b->rx_cap);
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->s = calloc(n_sess, sizeof(*w->s));
	w->dirty = calloc(n_sess, sizeof(*w->dirty));
	w->arena_buf = malloc(w->arena_cap);
	if (w->epfd < 0 || !w->s || !w->dirty || !w->arena_buf)
		return -ENOMEM;
	if (b->o.udp && !(w->udp_rx = malloc((size_t)UDP_BATCH * UDP_RX_CAP)))
		return -ENOMEM;
	for (uint32_t i = 0; i < n_sess; i++) {
		struct sess *s = &w->s[i];
		s->fd = -1;
		s->idx = i;
		s->srv = &b->srv[(base + i) % b->n_srv];
		s->rx = malloc(b->rx_cap);
		s->tx = malloc(b->tx_cap);
		s->q = calloc(b->q_cap, sizeof(*s->q));
		if (!s->rx || !s->tx || !s->q)
			return -ENOMEM;
		if (b->o.udp) {
			s->dg = malloc(b->q_cap * b->dg_cap);
			s->dg_len = calloc(b->q_cap, sizeof(*s->dg_len));
			s->dg_ns = calloc(b->q_cap, sizeof(*s->dg_ns));
			if (!s->dg || !s->dg_len || !s->dg_ns)
				return -ENOMEM;
		}
	}
	return 0;
}

static void worker_free(struct worker *w)
{
	for (uint32_t i = 0; w->s && i < w->n_sess; i++) {
		if (w->s[i].fd >= 0)
			close(w->s[i].fd);
		free(w->s[i].rx);
		free(w->s[i].tx);
		free(w->s[i].q);
		free(w->s[i].dg);
		free(w->s[i].dg_len);
		free(w->s[i].dg_ns);
	}
	free(w->udp_rx);
	free(w->s);
	free(w->dirty);
	free(w->arena_buf);
	if (w->epfd >= 0)
		close(w->epfd);
}

static int bench_alloc(struct bench *b)
{
	const struct opts *o = &b->o;
	b->n_w = o->threads;
	b->w = calloc(b->n_w, sizeof(*b->w));
	b->value = malloc(o->value_size + 1u);
	if (!b->w || !b->value)
		return -ENOMEM;
	for (uint32_t i = 0; i < o->value_size; i++)
		b->value[i] = (uint8_t)('a' + i % 26);
	uint32_t total = o->workload == W_WATCH ? o->watchers + 1 : o->sessions, base = 0;
	for (uint32_t t = 0; t < b->n_w; t++) {
		uint32_t n = total / b->n_w + (t < total % b->n_w);
		int rc = worker_init(b, &b->w[t], t, n, base);
		if (rc < 0)
			return rc;
		base += n;
	}
	return 0;
}

static void bench_free(struct bench *b)
{
	for (uint32_t i = 0; b->w && i < b->n_w; i++)
		worker_free(&b->w[i]);
	free(b->w);
	free(b->value);
	pthread_mutex_destroy(&b->fatal_mu);
	free(b);
}

static int worker_connect(struct worker *w)
{
	struct bench *b = w->b;
	int64_t now = now_ns();
	w->phase = PH_CONNECT;
	for (uint32_t i = 0; i < w->n_sess && !b->fatal[0]; i++)
		sess_connect(w, &w->s[i], now);
	if (worker_loop(w, now + CONNECT_NS + TICK_NS) < 0)
		set_fatal(b, "connecting: timed out");
	return b->fatal[0] ? -1 : 0;
}

/* Connect worker 0, create the prefix and keys through it, then connect the
 * other workers (a long setup would otherwise leave their sessions without
 * pings). Return: 0, or -1 with b->fatal saying why. */
static int bench_prepare(struct bench *b)
{
	struct worker *w0 = &b->w[0];
	if (worker_connect(w0) < 0)
		return -1;
	int64_t now = now_ns();
	w0->phase = PH_SETUP;
	setup_pump(w0, now);
	if (worker_loop(w0, now + SETUP_NS) < 0)
		set_fatal(b, "setup: timed out creating the keys");
	for (uint32_t t = 1; t < b->n_w && !b->fatal[0]; t++)
		(void)worker_connect(&b->w[t]);
	return b->fatal[0] ? -1 : 0;
}

static void on_signal(int sig)
{
	struct timespec ts;
	(void)sig;
	clock_gettime(CLOCK_MONOTONIC, &ts); /* async-signal-safe */
	int64_t expect = 0;
	atomic_compare_exchange_strong(&g_stop_ns, &expect,
				       (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec);
}

/* ---- results ---- */

static void totals_add(struct worker *t, const struct worker *w)
{
	hist_merge(&t->main, &w->main);
	for (int i = 0; i < OS_COUNT; i++)
		hist_merge(&t->by_op[i], &w->by_op[i]);
	t->all_ops += w->all_ops;
	t->conn_lost += w->conn_lost;
	t->timeouts += w->timeouts;
	t->unsent += w->unsent;
	t->created += w->created;
	t->deleted += w->deleted;
	t->rounds += w->rounds;
	t->sets_ok += w->sets_ok;
	t->retransmits += w->retransmits;
	for (uint32_t i = 0; i < w->n_errc; i++) {
		for (uint64_t k = 0; k < w->errc[i].n; k++)
			count_err(t, w->errc[i].code);
	}
}

static double window_s(const struct bench *b)
{
	int64_t stop = atomic_load(&g_stop_ns), end = b->t_end_ns;
	if (stop && stop < end)
		end = stop;
	return end > b->t_measure_ns ? (double)(end - b->t_measure_ns) / 1e9 : 0.0;
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_hist(FILE *f, const struct hist *h, double secs)
{
	fprintf(f,
		"\"ops\":%" PRIu64 ",\"ops_per_sec\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,"
		"\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f",
		h->count, secs > 0 ? (double)h->count / secs : 0.0, hist_at(h, 0.5) / 1e3,
		hist_at(h, 0.9) / 1e3, hist_at(h, 0.99) / 1e3, hist_at(h, 0.999) / 1e3,
		h->max_ns / 1e3, h->count ? (double)h->sum_ns / (double)h->count / 1e3 : 0.0);
}

static void print_json(const struct bench *b, const struct worker *t)
{
	const struct opts *o = &b->o;
	double secs = window_s(b);
	printf("{\"tool\":\"tern-bench\",\"workload\":\"%s\",\"server\":",
	       workload_names[o->workload]);
	json_str(stdout, o->servers);
	printf(",\"prefix\":");
	json_str(stdout, o->prefix);
	printf(",\"dir\":");
	json_str(stdout, b->wdir);
	printf(",\"name_prefix\":\"%s\",\"threads\":%u,\"sessions\":%u,\"outstanding\":%u,"
	       "\"watchers\":%u,\"reads_pct\":%u,\"rate\":%.1f,\"value_size\":%u,\"keys\":%u,"
	       "\"warmup_s\":%.3f,\"duration_s\":%.3f,\"setup_znodes\":%u,",
	       b->names, o->threads, o->sessions, o->outstanding,
	       o->workload == W_WATCH ? o->watchers : 0, o->reads_pct, o->rate, o->value_size,
	       o->keys, o->warmup_s, secs, b->n_setup);
	json_hist(stdout, &t->main, secs);
	printf(",\"errors\":%" PRIu64 ",\"errors_by_code\":{", t->errors);
	for (uint32_t i = 0; i < t->n_errc; i++)
		printf("%s\"%d\":%" PRIu64, i ? "," : "", t->errc[i].code, t->errc[i].n);
	printf("},\"connections_lost\":%" PRIu64 ",\"timeouts\":%" PRIu64 ",\"unsent\":%" PRIu64
	       ",\"all_ops\":%" PRIu64 ",\"znodes_created\":%" PRIu64
	       ",\"znodes_deleted\":%" PRIu64 ",\"rounds\":%" PRIu64 ",\"watch_sets\":%" PRIu64
	       ",\"by_op\":{",
	       t->conn_lost, t->timeouts, t->unsent, t->all_ops, t->created, t->deleted, t->rounds,
	       t->sets_ok);
	bool first = true;
	for (int i = 0; i < OS_COUNT; i++) {
		if (!t->by_op[i].count)
			continue;
		printf("%s\"%s\":{", first ? "" : ",", opstat_names[i]);
		json_hist(stdout, &t->by_op[i], secs);
		printf("}");
		first = false;
	}
	printf("},\"timeline_ops_per_sec\":[");
	for (uint32_t i = 0; i < b->n_timeline; i++)
		printf("%s%.0f", i ? "," : "", b->timeline[i]);
	printf("]}\n");
}

static void print_hist_line(const char *name, const struct hist *h, double secs)
{
	printf("  %-14s %10" PRIu64 " ops %11.1f/s  p50 %8.3f  p99 %8.3f  p99.9 %8.3f  max %8.3f"
	       " ms\n",
	       name, h->count, secs > 0 ? (double)h->count / secs : 0.0, hist_at(h, 0.5) / 1e6,
	       hist_at(h, 0.99) / 1e6, hist_at(h, 0.999) / 1e6, h->max_ns / 1e6);
}

static void print_summary(const struct bench *b, const struct worker *t)
{
	const struct opts *o = &b->o;
	double secs = window_s(b);
	static const char *const what[W_COUNT] = {
		[W_WATCH] = "notifications", [W_CHURN] = "cycles", [W_LOCK] = "acquisitions"};
	printf("tern-bench: %s against %s: ", workload_names[o->workload], o->servers);
	if (o->workload == W_WATCH)
		printf("1 writer + %u watchers", o->watchers);
	else if (o->workload >= W_WATCH || o->workload == W_DELETE)
		printf("%u sessions", o->sessions);
	else
		printf("%u sessions x %u outstanding", o->sessions, o->outstanding);
	printf(", %u thread%s, value %u B, %u keys\n", o->threads, o->threads > 1 ? "s" : "",
	       o->value_size, o->keys);
	if (o->rate > 0)
		printf("  open loop: %.0f ops/s offered, latency from the scheduled time; unsent "
		       "%" PRIu64 "\n", o->rate, t->unsent);
	if (o->udp)
		printf("  transport udp: %" PRIu64 " datagrams retransmitted\n", t->retransmits);
	printf("  window %.2f s after %.2f s warm-up: %" PRIu64 " %s, %.1f/s, errors %" PRIu64
	       "\n",
	       secs, o->warmup_s, t->main.count, what[o->workload] ? what[o->workload] : "ops",
	       secs > 0 ? (double)t->main.count / secs : 0.0, t->errors);
	const struct hist *h = &t->main;
	printf("  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f\n",
	       hist_at(h, 0.5) / 1e6, hist_at(h, 0.9) / 1e6, hist_at(h, 0.99) / 1e6,
	       hist_at(h, 0.999) / 1e6, h->max_ns / 1e6,
	       h->count ? (double)h->sum_ns / (double)h->count / 1e6 : 0.0);
	for (int i = 0; i < OS_COUNT; i++)
		if (t->by_op[i].count)
			print_hist_line(opstat_names[i], &t->by_op[i], secs);
	if (t->created || t->deleted)
		printf("  znodes created %" PRIu64 ", deleted %" PRIu64 "\n", t->created,
		       t->deleted);
	for (uint32_t i = 0; i < t->n_errc; i++)
		printf("  error %s (%d): %" PRIu64 "\n", zk_err_name(t->errc[i].code),
		       t->errc[i].code, t->errc[i].n);
	if (t->unsent)
		printf("  warning: %" PRIu64 " requests were due but never sent: the offered rate"
		       " was not sustained\n", t->unsent);
}

/* ---- --plot: data files, a gnuplot script, and gnuplot itself ---- */

static int plot_write_data(const struct bench *b, const struct worker *t, const char *pfx)
{
	char path[PATH_BUF + 64];
	snprintf(path, sizeof(path), "%s-throughput.dat", pfx);
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "# second ops_per_sec (all threads' completions of the main measure)\n");
	for (uint32_t i = 0; i < b->n_timeline; i++)
		fprintf(f, "%u %.0f\n", i + 1, b->timeline[i]);
	if (fclose(f) != 0)
		return -errno;
	snprintf(path, sizeof(path), "%s-latency.dat", pfx);
	if (!(f = fopen(path, "w")))
		return -errno;
	/* x = 1 / (1 - q): 10 is p90, 1000 is p99.9; 40 points a decade */
	fprintf(f, "# x=1/(1-quantile) latency_ms\n");
	const double step = 1.0592537251772889; /* 10^(1/40) */
	double x = 1.0;
	for (int i = 0; i < 240 && t->main.count; i++, x *= step) {
		double q = 1.0 - 1.0 / x;
		if (q * (double)t->main.count > (double)t->main.count - 1.0 && i > 0)
			break;
		fprintf(f, "%.4f %.4f\n", x, hist_at(&t->main, q) / 1e6);
	}
	return fclose(f) != 0 ? -errno : 0;
}

static int plot_write_script(const struct bench *b, const char *pfx, char *gp, size_t gp_len)
{
	const char *wl = workload_names[b->o.workload];
	snprintf(gp, gp_len, "%s.gp", pfx);
	FILE *f = fopen(gp, "w");
	if (!f)
		return -errno;
	fprintf(f, "set terminal png size 900,500\nset grid\n"
		   "set output '%s-throughput.png'\n"
		   "set title 'tern-bench %s on %s: throughput'\n"
		   "set xlabel 'seconds since start (warm-up included)'\nset ylabel 'ops/s'\n"
		   "set xrange [0:*]\nset yrange [0:*]\n"
		   "plot '%s-throughput.dat' using 1:2 with linespoints title 'ops/s'\n",
		pfx, wl, b->o.servers, pfx);
	fprintf(f, "set output '%s-latency.png'\n"
		   "set title 'tern-bench %s on %s: latency by percentile'\n"
		   "set logscale x\nset xlabel 'percentile'\nset ylabel 'latency (ms)'\n"
		   "set xtics ('0' 1, '90' 10, '99' 100, '99.9' 1000, '99.99' 10000, "
		   "'99.999' 100000)\n"
		   "plot '%s-latency.dat' using 1:2 with lines lw 2 title 'latency'\n",
		pfx, wl, b->o.servers, pfx);
	return fclose(f) != 0 ? -errno : 0;
}

static int plot(const struct bench *b, const struct worker *t)
{
	const char *pfx = b->o.plot;
	char gp[PATH_BUF + 64];
	int rc = plot_write_data(b, t, pfx);
	if (rc == 0)
		rc = plot_write_script(b, pfx, gp, sizeof(gp));
	if (rc < 0) {
		fprintf(stderr, "tern-bench: --plot %s: %s\n", pfx, strerror(-rc));
		return -1;
	}
	pid_t pid;
	char *argv[] = {(char *)"gnuplot", gp, NULL};
	rc = posix_spawnp(&pid, "gnuplot", NULL, NULL, argv, environ);
	if (rc != 0) {
		fprintf(stderr, "tern-bench: cannot run gnuplot (%s; Debian: gnuplot-nox); "
				"data and script left in %s-*.dat and %s\n",
			strerror(rc), pfx, gp);
		return -1;
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "tern-bench: gnuplot %s failed\n", gp);
		return -1;
	}
	if (!b->o.json)
		printf("  plots: %s-throughput.png %s-latency.png\n", pfx, pfx);
	return 0;
}

/* ---- main ---- */

static int bench_run(struct bench *b)
{
	const struct opts *o = &b->o;
	b->t0_ns = now_ns() + START_DELAY_NS;
	b->t_measure_ns = b->t0_ns + (int64_t)(o->warmup_s * 1e9);
	b->t_end_ns = b->t_measure_ns + (int64_t)(o->duration_s * 1e9);
	if (!o->quiet)
		fprintf(stderr, "tern-bench: %s, %u session%s on %u thread%s, %.1f s warm-up, "
				"%.1f s measured\n",
			workload_names[o->workload], o->sessions, o->sessions > 1 ? "s" : "",
			b->n_w, b->n_w > 1 ? "s" : "", o->warmup_s, o->duration_s);
	uint32_t started = 1;
	for (; started < b->n_w; started++) {
		if (pthread_create(&b->w[started].tid, NULL, worker_thread, &b->w[started]) != 0) {
			set_fatal(b, "pthread_create failed");
			atomic_store(&g_stop_ns, now_ns());
			break;
		}
	}
	worker_run(&b->w[0]);
	for (uint32_t i = 1; i < started; i++)
		pthread_join(b->w[i].tid, NULL);
	return b->fatal[0] ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct bench *b = calloc(1, sizeof(*b));
	struct worker *t = calloc(1, sizeof(*t));
	if (!b || !t) {
		fprintf(stderr, "tern-bench: out of memory\n");
		return 1;
	}
	pthread_mutex_init(&b->fatal_mu, NULL);
	parse_opts(&b->o, argc, argv);
	int status = 1;
	if (resolve_servers(b) < 0)
		goto out;
	int nrc;
	if (b->o.dpdk_port && (nrc = nic_open(&b->o)) < 0) {
		fprintf(stderr, "tern-bench: cannot open DPDK port %s: %s\n", b->o.dpdk_port,
			strerror(-nrc));
		goto out;
	}
	bench_layout(b);
	if (bench_alloc(b) < 0) {
		fprintf(stderr, "tern-bench: out of memory for %u sessions\n", b->o.sessions);
		goto out;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (bench_prepare(b) < 0) {
		fprintf(stderr, "tern-bench: %s\n", b->fatal);
		goto out;
	}
	if (!b->o.setup_only && bench_run(b) < 0) {
		fprintf(stderr, "tern-bench: %s\n", b->fatal);
		goto out;
	}
	for (uint32_t i = 0; i < b->n_w; i++)
		totals_add(t, &b->w[i]);
	if (b->o.json)
		print_json(b, t);
	else
		print_summary(b, t);
	fflush(stdout);
	status = t->errors ? EXIT_ERRORS : 0;
	if (b->o.plot && !b->o.setup_only && plot(b, t) < 0 && status == 0)
		status = 1;
out:
	if (g_nic) {
		struct dp_port_stats st;
		dp_port_stats(g_nic, &st);
		if (!b->o.json)
			printf("  dpdk port %s: rx %" PRIu64 " tx %" PRIu64 " packets, tx_full %" PRIu64
			       ", arp requests sent %" PRIu64 "\n", b->o.dpdk_port, st.rx_pkts,
			       st.tx_pkts, st.tx_full, st.arp_req_tx);
		dp_port_close(g_nic);
	}
	bench_free(b);
	free(t);
	return status;
}
