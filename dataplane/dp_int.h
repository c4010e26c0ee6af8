/* dataplane/dp_int.h: declarations shared by dp_worker.c (the io_uring loop)
 * and dp_conn.c (what a connection does with its bytes). Private to
 * dataplane/.
 *
 * A connection's output has two buffers: @tx is owned by the kernel while a
 * send is in flight and never moves; @acc accumulates replies meanwhile. When
 * the send completes, the buffers swap, so every send of a loop turn goes out
 * as one syscall-free SQE per connection (batched sends).
 */
#ifndef DP_INT_H
#define DP_INT_H

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>

#include "common/tn_assert.h"
#include "dataplane/dp.h"
#include "dataplane/dp_port.h"

#define DP_CONNS_MAX 16384u        /* per worker */
#define DP_BUF_COUNT 512u          /* provided recv buffers per worker */
#define DP_BUF_SIZE 16384u         /* bytes each */
#define DP_BUF_GROUP 1
#define DP_SPIN_TURNS 2000u        /* idle loop turns before sleeping */
#define DP_CQE_BATCH 64u
#define DP_OUT_MAX (64u << 20)     /* a connection buffering more output is dropped */
#define DP_BACKLOG_MAX 100000u     /* requests queued behind writes, per connection */
#define DP_IPTAB_SIZE 4096u
#define DP_INBOX_BATCH 4096u       /* inbox messages per drain */

TN_STATIC_ASSERT(DP_CONNS_MAX <= (1u << 24), "slots must fit dp_conn_token and user_data");
TN_STATIC_ASSERT(DP_WORKERS_MAX <= 128, "workers must fit dp_conn_token");

enum conn_state {
	CS_FREE = 0,
	CS_FIRST,        /* nothing read yet: maybe a four-letter word */
	CS_CONNECTING,   /* waiting for the ConnectRequest frame */
	CS_WAIT_SESSION, /* ConnectRequest at the control thread */
	CS_OPEN,         /* session established */
	CS_CLOSING,      /* socket shut down, waiting for io_uring ops to drain */
};

struct dp_buf {
	uint8_t *p;
	size_t len, cap;
};

struct dp_req {
	struct dp_req *next;
	uint64_t t0_ns;
	uint32_t len;
	uint8_t data[];
};

struct dp_worker;

struct dp_conn {
	struct dp_worker *w;
	uint32_t slot, gen;
	int fd;
	enum conn_state st;
	char ip[48];
	uint16_t port;               /* peer port */
	uint32_t ip_hash;
	struct dp_buf in;            /* partial frame bytes */
	uint8_t *rbuf;               /* plain-recv mode: this connection's recv buffer */
	struct dp_buf tx, acc;       /* see the file note */
	size_t tx_off;
	bool sending, close_after, dirty, recv_armed, counted_ip;
	bool paused;                 /* reading stopped: too many requests outstanding */
	struct dp_conn *paused_next;
	uint32_t ops;                /* io_uring ops in flight */
	uint32_t inflight;           /* requests at the control thread */
	uint32_t backlog_count;
	struct dp_req *bl_head, *bl_tail;
	struct dp_sess *sess;
	uint64_t sid;                /* copies of sess->id/timeout_ms for dp_conns() */
	int32_t timeout_ms;
	struct dp_auth *auth;
	struct dp_conn *dirty_next;
	uint64_t recv_count, sent_count;
	int64_t last_zxid;           /* highest zxid sent in a reply header */
	/* Parked by the apply fence: the next read waits until this worker has
	 * queued every watch event of txns up to @hold_zxid (dp.h, "Events
	 * before reads"); the connection's requests wait in the backlog. */
	bool held;
	uint64_t hold_zxid;
	struct dp_conn *held_next;
	/* cons statistics, ZooKeeper's per-connection ServerCnxn stats. Written
	 * by the owning worker only; dp_conns() reads them unsynchronised. A
	 * crst bumps dp->crst_epoch; the owner resets when it sees the change
	 * (dp_conn_stats_sync), so the hot path takes no lock. */
	uint32_t stats_epoch;
	bool fourlw;                 /* a four-letter-word connection */
	bool connect_new;            /* the ConnectRequest asked for a new session */
	int32_t lop;                 /* op of the last response, DP_LOP_NONE: none */
	int32_t ctl_lop;             /* op of the last request sent to the control thread */
	int64_t st_lcxid, st_lzxid;  /* last response's cxid (>= 0 only) and zxid; -1: none */
	uint64_t est_ms;             /* wall clock at accept */
	uint64_t lresp_ms;           /* monotonic ms of the last response */
	uint64_t llat_ms, minlat_ms, maxlat_ms, lat_sum_ms, lat_count;
	/* SASL DIGEST-MD5 exchange state */
	int sasl_step;
	char sasl_nonce[40];
	struct dp_udp_conn *udp;     /* a datagram attachment (dp_udp.c), fd -1; NULL: TCP */
};

struct dp_worker {
	struct dp *dp;
	unsigned idx;
	pthread_t th;
	struct io_uring ring;
	int lfd, efd;
	uint64_t efd_val;
	struct dp_ring *inbox;       /* from the control thread */
	_Atomic int sleeping;
	_Atomic bool stop;
	struct dp_conn *conns;
	uint32_t *free_slots, free_count;
	uint32_t conn_count;
	struct io_uring_buf_ring *br;
	uint8_t *bufs;
	size_t br_bytes;
	bool use_bufring;
	struct dp_conn *dirty;
	struct dp_conn *paused;      /* connections whose reading is stopped */
	struct dp_conn *held;        /* connections parked by the apply fence */
	uint64_t drained_zxid;       /* every event of txns <= this is queued on its connection */
	struct dp_msg **spill;       /* messages for the control ring that did not fit */
	uint32_t spill_count, spill_cap;
	bool ctl_pushed;
	uint8_t *arena_buf;          /* decode arena, ZKP_ARENA_FOR(frame_max) */
	size_t arena_cap;
	struct dp_buf scratch;       /* reply encoding */
	/* Watches that fire the moment a read sets them (the node changed
	 * between the read and the registration) report after that read's
	 * reply, as ZooKeeper orders them: framed events wait here meanwhile. */
	struct dp_buf late;
	bool defer_events;
	struct dp_udp_port *udp;     /* the native datagram socket (dp_udp.c), NULL: off */
	struct dp_portq *nicq;       /* this worker's DPDK queue (dp_cfg.nic), NULL: none */
	bool nic_poll_armed;         /* a poll on its Rx interrupt fd is in the ring */
	/* stats (written by this worker, read by any thread) */
	_Atomic uint64_t st_recv, st_sent, st_conns, st_conns_total;
	_Atomic uint64_t st_lat_count, st_lat_sum_us, st_lat_min_us, st_lat_max_us;
	_Atomic uint64_t st_reads, st_writes; /* per-worker ops (dp_worker_stats) */
};

struct dp {
	struct dp_cfg cfg;
	unsigned n;
	struct dp_worker *w[DP_WORKERS_MAX];
	/* control thread side: posts that did not fit a worker's inbox */
	struct dp_msg **ctl_spill[DP_WORKERS_MAX];
	uint32_t ctl_spill_count[DP_WORKERS_MAX], ctl_spill_cap[DP_WORKERS_MAX];
	bool posted[DP_WORKERS_MAX];
	/* connections per client IP (accept path only, under the mutex) */
	pthread_mutex_t ip_lock;
	uint32_t ip_count[DP_IPTAB_SIZE];
	uint32_t conn_total;
	/* requests handed to the control thread and not yet answered (all workers) */
	_Atomic int64_t outstanding;
	/* Apply fence (dp.h, "Ordering"): the zxid whose apply has begun, and
	 * the zxid whose watch events are all in the workers' inboxes. The
	 * control thread writes both; workers read them. */
	_Alignas(64) _Atomic uint64_t applying;
	_Atomic uint64_t events_posted;
	uint64_t post_pending;       /* control thread: ended, not yet published (spills) */
	uint32_t ctl_spilled;        /* control thread: messages in ctl_spill[] */
	_Atomic uint32_t crst_epoch; /* bumped by dp_conns_reset() */
};

#define DP_LOP_NONE INT32_MIN      /* no response yet: cons prints lop=NA */

/* Reset @c's cons statistics if a crst happened since they were last touched. */
static inline void dp_conn_stats_sync(struct dp_conn *c, const struct dp *dp)
{
	/* relaxed: crst is approximate, as ZooKeeper's is */
	uint32_t e = atomic_load_explicit(&dp->crst_epoch, memory_order_relaxed);

	if (e == c->stats_epoch)
		return;
	c->stats_epoch = e;
	c->recv_count = c->sent_count = 0;
	c->lop = DP_LOP_NONE;
	c->st_lcxid = c->st_lzxid = -1;
	c->lresp_ms = c->llat_ms = c->maxlat_ms = c->lat_sum_ms = c->lat_count = 0;
	c->minlat_ms = UINT64_MAX;
}

/* dp_buf helpers. Return 0 or -ENOMEM. */
int dp_buf_reserve(struct dp_buf *b, size_t need);
int dp_buf_append(struct dp_buf *b, const void *p, size_t n);
void dp_buf_free(struct dp_buf *b);

/* dp_conn.c */
/* A fresh connection: state CS_FIRST, implicit ip:<addr> auth. Return 0, -ENOMEM. */
int dp_conn_init(struct dp_conn *c, const char *ip);
/* Bytes arrived: reassemble frames and handle each. */
void dp_conn_input(struct dp_conn *c, const uint8_t *p, size_t n);
/* A message from the control thread for this connection. Consumes @m. */
void dp_conn_deliver(struct dp_conn *c, struct dp_msg *m);
/* Release what the connection holds (buffers, backlog, session, auth). */
void dp_conn_release(struct dp_conn *c);

/* dp_sasl.c: one SASL DIGEST-MD5 step for token @tok (@len <= 0: empty).
 * Writes the server token to @out; on the last step @user gets the
 * authenticated name. Return the token length, or < 0: fail (AuthFailed). */
int dp_sasl_step(struct dp_conn *c, const uint8_t *tok, int32_t len, char *out, size_t cap,
		 char *user, size_t user_cap);

/* dp_worker.c services for dp_conn.c */
/* Queue @n bytes for sending on @c (flushed at the end of the loop turn). */
void dp_conn_send(struct dp_conn *c, const void *p, size_t n);
/* Shut the connection down (after flushing when @flush). */
void dp_conn_close(struct dp_conn *c, bool flush);
/* The apply fence around a read (dp.h, "Events before reads"). Enter: true
 * if the read may run now, with *@zxid the apply zxid it runs under; false:
 * @c is parked until that txn's events are queued. Exit: true if no apply
 * began during the read; false: discard the reply, @c is parked, retry. */
bool dp_fence_enter(struct dp_conn *c, uint64_t *zxid);
bool dp_fence_exit(struct dp_conn *c, uint64_t zxid);
/* dp_conn.c: ZooKeeper's four-letter name of op @type for cons ("GETD"). */
const char *dp_lop_name(int32_t type);
/* dp_conn.c: @c's held reply went out; run its backlog. */
void dp_conn_unhold(struct dp_conn *c);
/* Push @m to the control thread (spilling if the ring is full). */
void dp_worker_to_ctl(struct dp_worker *w, struct dp_msg *m);
uint64_t dp_now_ns(void);
/* Backpressure (globalOutstandingLimit): stop reading @c until the control
 * thread has caught up. */
void dp_conn_pause(struct dp_conn *c);

/* dp_worker.c for dp_udp.c: take a free slot for a datagram attachment from
 * @ip:@port (maxClientCnxns counted), state CS_CONNECTING, no fd.
 * NULL: no slot, over a cap, or no memory. */
struct dp_conn *dp_worker_conn_new(struct dp_worker *w, const char *ip, uint16_t port);

/* dp_udp.c: the native datagram protocol on the worker (dp_udp.h). */
#define DP_UD_UDP 6                /* io_uring user_data kind of the socket's poll */
#define DP_UD_NIC 7                /* ... of the poll on the DPDK queue's Rx interrupt */
/* Bind @w's SO_REUSEPORT UDP socket (cfg.udp_port; 0: none). Return 0, -errno. */
int dp_udp_port_open(struct dp_worker *w);
void dp_udp_port_close(struct dp_worker *w);
/* Arm the multishot poll on the socket (user_data kind DP_UD_UDP). */
void dp_udp_arm(struct dp_worker *w, struct io_uring_sqe *sqe);
/* The poll fired (@res: poll mask or -errno; @more: still armed). Return
 * true if the caller must re-arm. */
bool dp_udp_on_poll(struct dp_worker *w, int res, bool more);
/* Receive and handle a bounded batch of datagrams. Return how many. */
unsigned dp_udp_poll(struct dp_worker *w);
/* Queue what @c (a datagram attachment) queued in @acc as datagrams. */
void dp_udp_flush(struct dp_conn *c);
/* Send the datagrams queued this loop turn (one sendmmsg). */
void dp_udp_tx_flush(struct dp_worker *w);
/* Log the dp_udp_stats counters (at stop: what was dropped and why). */
void dp_udp_log_stats(struct dp *dp);
/* @c is being freed: unlink and free its datagram state. */
void dp_udp_conn_release(struct dp_conn *c);

#endif
