/* dataplane/dp.h: the dataplane's public header (kernel mode).
 *
 * Workers. dp_start() runs N worker threads, each with its own io_uring, its
 * own SO_REUSEPORT listening socket on the client port (the kernel spreads
 * connections), multishot accept, multishot recv over a provided buffer ring
 * (plain recv where the kernel refuses buffer rings) and batched sends. A
 * connection lives on one worker for its whole life. The worker decodes
 * frames, answers four-letter words, serves reads straight from the store
 * (lock-free, RCU readers) and ships everything that must be ordered by the
 * control thread (handshakes, writes, sync, closeSession) over a ring.
 *
 * Rings. struct dp_ring is a bounded lock-free ring of pointers (Vyukov's
 * sequence-numbered cells): many producers, one consumer. The control thread
 * consumes one MPSC ring fed by every worker; each worker consumes one ring fed
 * only by the control thread (SPSC use of the same structure). Messages are
 * struct dp_msg, allocated by the producer and freed by the consumer.
 *
 * Ordering per connection. Replies leave in request order: a write goes to
 * the control thread; a read that arrives while an earlier write of the same
 * connection is in flight waits in the connection's backlog. Watch events
 * reach the worker through the same ring as the replies, in apply order, so an
 * event always precedes the reply of any later write of that session.
 *
 * Events before reads (ZooKeeper: a client sees the watch event before any
 * read showing the change). Reads run concurrently with applies, so a read can
 * see txn Z before Z's events reach the inbox. The apply fence closes that:
 * the control thread brackets each apply with dp_apply_begin(Z) (stores
 * @applying = Z before the store mutates) and dp_apply_end(Z) (after posting
 * Z's events, publishes @posted = Z; while posts sit in the control-side
 * spill, dp_flush publishes it once they are pushed). A worker remembers
 * @drained_zxid, the @posted it loaded before a drain that emptied its inbox.
 * After serving a read it loads @applying (acquire fence first: having seen
 * Z's effects implies seeing @applying >= Z); if that is above
 * @drained_zxid and the inbox is not provably caught up (@posted >= it and
 * the ring empty), the reply is moved aside and the connection's later
 * requests wait; the loop drains the inbox and releases it once @posted
 * covers it. Nothing on the read path waits or locks: the fast path is two
 * relaxed loads and a compare; a held reply costs one loop turn. A reply is
 * never held inside a delivery and released there, so the inbox drain never
 * reenters, and the control thread never waits on a worker (posts spill).
 *
 * Datagrams. Each worker also binds the UDP port (dp_cfg.udp_port) for tern's
 * native datagram client protocol (dp_udp.h, dp_udp.c): a UDP session is a
 * connection slot without a socket, so everything above applies to it. With
 * a DPDK port (dp_cfg.nic) each worker also owns one of its queues and
 * serves the same protocol on it, polled in the same loop; with a device
 * queue the worker sleeps only as long as adaptive polling allows
 * (dp_portq_idle_us), and not at all with tern.polling=busy.
 *
 * Sleeping. A worker spins a short while after work, then sleeps in
 * io_uring_wait_cqe with an eventfd read armed; a producer that finds the
 * consumer's @sleeping flag set writes that eventfd (Dekker-style: both sides
 * use seq_cst between "publish" and "check").
 */
#ifndef DP_H
#define DP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define DP_WORKERS_MAX 64
#define DP_RING_CAP 65536u          /* entries per ring (power of two) */
#define DP_FRAME_MAX_DEFAULT 0xfffffu /* jute.maxbuffer */

struct dp_port; /* dataplane/dp_port.h */

/* The workers dp_start runs for dp_cfg.workers = @workers (0: one a core). */
unsigned dp_workers_for(unsigned workers);
/* The CPU worker @idx is pinned to (its NIC queue's memory goes on that
 * CPU's NUMA node). */
int dp_worker_cpu(unsigned idx);

/* ---- rings (dataplane/dp_ring.c) ---- */

struct dp_ring;

/* A ring of @cap pointers (@cap a power of two >= 2). Return 0, -EINVAL, -ENOMEM. */
int dp_ring_create(struct dp_ring **out, uint32_t cap);
/* The ring must be empty or its contents owned elsewhere. */
void dp_ring_destroy(struct dp_ring *r);
/* Any thread. Return false if the ring is full (the caller keeps @p). */
bool dp_ring_push(struct dp_ring *r, void *p);
/* The single consumer. Return NULL if empty. */
void *dp_ring_pop(struct dp_ring *r);
/* Approximate: true if a pop would likely find something. */
bool dp_ring_nonempty(struct dp_ring *r);
/* Any thread, for metrics: entries queued now (approximate while producers
 * and the consumer run) and, in *@max_out, the most the consumer found
 * queued when it sampled (every 16th pop, so bursts shorter than that
 * may not show). */
uint64_t dp_ring_depth(const struct dp_ring *r, uint64_t *max_out);

/* ---- shared objects ---- */

/* A session as both sides see it. The control thread creates it; a worker
 * connection holds a reference while attached. @touch_ms is written by the
 * worker on every packet (relaxed: expiry is a coarse check) and read by the
 * control thread's expiry scan. */
struct dp_sess {
	uint64_t id;
	int32_t timeout_ms;
	_Atomic uint64_t touch_ms; /* monotonic ms of the last packet */
	_Atomic uint32_t refs;
	_Atomic uint64_t owner;    /* dp_conn_token of the attached connection, 0 = none */
	_Atomic bool watched;      /* a watch was ever registered for this session (any
				    * connection): its reads take the apply fence */
	bool closing;              /* control thread only: a closeSession is in flight */
	bool read_only;            /* control thread only: attached to a read-only server
				    * (readonlymode.enabled, no quorum): writes refused */
	bool local;                /* control thread only: made by a read-only server, in no log */
	struct dp_sess *hnext;     /* control thread only: hash chain */
};

void dp_sess_get(struct dp_sess *s);
/* Drop a reference; the last one frees it. */
void dp_sess_put(struct dp_sess *s);

/* The ids a connection authenticated as, immutable once published (copy on
 * write), shared with the control thread by reference count. */
struct dp_auth {
	_Atomic uint32_t refs;
	struct store_auth a;
	size_t str_used;
	char str[2048]; /* backing for a.ids[].scheme/id */
};

void dp_auth_put(struct dp_auth *a);

/* ---- messages ---- */

enum dp_msg_kind {
	DP_MSG_CONNECT = 1, /* w→c: @data = ConnectRequest body */
	DP_MSG_REQUEST,     /* w→c: @data = request frame (header + body) */
	DP_MSG_REPLY,       /* c→w: @data = framed reply; completes one request */
	DP_MSG_EVENT,       /* c→w: @data = framed notification(s) */
	DP_MSG_CONNECTED,   /* c→w: @data = framed ConnectResponse; @sess set on success */
	DP_MSG_CLOSE,       /* c→w: send @data (may be empty), then close */
};

enum { DP_MSGF_CLOSE_AFTER = 1 };

struct dp_msg {
	uint8_t kind;
	uint8_t flags;
	uint16_t worker;
	uint32_t slot, gen;      /* the connection on @worker */
	uint64_t t0_ns;          /* when the request arrived (latency stats) */
	struct dp_sess *sess;    /* a reference travels with the message */
	struct dp_auth *auth;    /* REQUEST: the connection's ids (a reference) */
	char ip[48];             /* CONNECT/REQUEST: peer address */
	uint32_t len;
	uint8_t data[];
};

/* malloc a message with @len bytes of payload. NULL on ENOMEM. */
struct dp_msg *dp_msg_new(uint8_t kind, uint32_t len);
/* Free @m and drop the references it carries. */
void dp_msg_free(struct dp_msg *m);

/* A connection's name across threads: gen << 32 | 1 << 31 | worker << 24 | slot.
 * Bit 31 keeps it non-zero (0 means "no connection"). */
static inline uint64_t dp_conn_token(uint32_t worker, uint32_t slot, uint32_t gen)
{
	return (uint64_t)gen << 32 | 1ull << 31 | (uint64_t)(worker & 0x7f) << 24 | (slot & 0xffffff);
}

static inline uint32_t dp_token_worker(uint64_t tok)
{
	return (uint32_t)(tok >> 24) & 0x7f;
}

static inline uint32_t dp_token_slot(uint64_t tok)
{
	return (uint32_t)tok & 0xffffff;
}

static inline uint32_t dp_token_gen(uint64_t tok)
{
	return (uint32_t)(tok >> 32);
}

/* ---- the dataplane ---- */

struct dp;

struct dp_cfg {
	struct store *store;
	const char *addr;          /* listen address, NULL = 0.0.0.0 */
	uint16_t port;
	unsigned workers;          /* 0 = one per core */
	bool pin;                  /* pin worker i to cpu i % cores */
	uint32_t frame_max;        /* jute.maxbuffer */
	uint32_t max_client_cnxns; /* per IP; 0 = unlimited */
	uint32_t max_cnxns;        /* all clients (zookeeper.maxCnxns); 0 = unlimited */
	uint32_t outstanding_max;  /* globalOutstandingLimit: requests at the control
				    * thread above which workers stop reading; 0 = off */
	int backlog;
	bool force_plain_recv;     /* tests: skip the provided buffer ring */
	/* A taken client port is retried this long (ms) before giving up: after
	 * ternd re-executes itself, the old image's io_uring rings (and the
	 * sockets their requests hold) are torn down by the kernel a moment
	 * later. 0: fail at once, as ZooKeeper does on a port in use. */
	uint32_t bind_wait_ms;
	struct dp_ring *to_ctl;    /* MPSC ring the control thread consumes */
	void (*ctl_wake)(void *arg); /* called after pushing to @to_ctl */
	void *ctl_arg;
	/* Four-letter words: fill @out with the text for @cmd (already
	 * whitelisted or not: the callee decides). Return the length. Called
	 * on worker threads. */
	size_t (*fourlw)(void *arg, const char *cmd, char *out, size_t cap);
	void *fourlw_arg;
	const char *super_digest;  /* "super:<b64>" or NULL */
	bool reconfig_enabled;     /* reconfigEnabled: reconfig says UNIMPLEMENTED, not DISABLED */
	/* SASL DIGEST-MD5: the JAAS password of @user, or NULL (worker threads) */
	const char *(*sasl_password)(void *arg, const char *user);
	void *sasl_arg;
	/* Native datagram protocol (dataplane/dp_udp.h): each worker binds this
	 * UDP port with SO_REUSEPORT; 0 = off. With @udp_optional a port that
	 * cannot be bound only turns it off (the default port = clientPort). */
	uint16_t udp_port;
	bool udp_optional;
	/* The DPDK port (tern.dataplane=dpdk), opened with worker_queues and
	 * worker_udp_port = udp_port: worker i serves native datagram clients on
	 * dp_port_queue(nic, i) too, and polls it in its loop (dp_port.h, "worker
	 * queues"). NULL: kernel sockets only. */
	struct dp_port *nic;
};

struct dp_stats {
	uint64_t packets_recv, packets_sent, conns, conns_total, outstanding;
	uint64_t lat_count, lat_sum_us, lat_min_us, lat_max_us;
};

/* Bind, start the workers. Return 0, -errno (bind failures are logged). */
int dp_start(struct dp **out, const struct dp_cfg *cfg);
/* Stop the workers and close every connection. dp_post() stays safe (messages
 * just wait) until dp_destroy(). */
void dp_stop(struct dp *dp);
/* Free the rings, leftover messages and the rest. After dp_stop(). */
void dp_destroy(struct dp *dp);
unsigned dp_worker_count(const struct dp *dp);
/* Control thread: queue @m for its worker (@m->worker). Never fails: a full
 * ring spills to a control-side overflow list flushed by dp_flush(). */
void dp_post(struct dp *dp, struct dp_msg *m);
/* Control thread: push spilled messages and wake the workers posted to. */
void dp_flush(struct dp *dp);
/* Control thread: txn @zxid is about to be applied to the store. Call
 * before store_apply; zxids never decrease. See "Events before reads". */
void dp_apply_begin(struct dp *dp, uint64_t zxid);
/* Control thread: every watch event of txn @zxid has been dp_post()ed
 * (also when the apply failed). Pairs with dp_apply_begin(). */
void dp_apply_end(struct dp *dp, uint64_t zxid);
/* Sum of every worker's counters (any thread; approximate). */
void dp_stats(struct dp *dp, struct dp_stats *out);
void dp_stats_reset(struct dp *dp);
/* One worker's counters, for per-worker metrics (any thread; approximate). */
struct dp_worker_stats {
	uint64_t reads;              /* requests answered by the worker itself */
	uint64_t writes;             /* requests handed to the control thread */
	uint64_t packets_recv, packets_sent, conns;
	uint64_t inbox_depth, inbox_depth_max; /* its ring from the control thread */
};
/* Return 0, or -ERANGE when @i >= dp_worker_count(). */
int dp_worker_stats(struct dp *dp, unsigned i, struct dp_worker_stats *out);
/* One connection, as four-letter words show it. */
struct dp_conn_info {
	char ip[48];
	uint16_t port;
	uint64_t recved, sent, sid;
	int64_t lcxid, lzxid;        /* last response's; -1: none (cons omits lcxid) */
	int32_t timeout_ms;
	bool has_session;
	bool fourlw;                 /* a four-letter-word connection (java: ops 0) */
	char lop[8];                 /* last op as ZooKeeper names it: "GETD", or "NA" */
	uint64_t est_ms;             /* established: wall clock ms */
	uint64_t lresp_ms;           /* last response: monotonic ms (java's elapsed clock) */
	uint64_t llat_ms, minlat_ms, maxlat_ms, lat_sum_ms, lat_count; /* min 0 when none */
};

/* Copy up to @max connections' info: every accepted client socket, with a
 * session or not (any thread; fields are read without synchronisation, so
 * the numbers are approximate, as ZooKeeper's are). Return the count copied. */
unsigned dp_conns(struct dp *dp, struct dp_conn_info *out, unsigned max);
/* crst: reset every connection's statistics (any thread; each worker applies
 * it to its connections lock-free, and dp_conns() shows them reset at once). */
void dp_conns_reset(struct dp *dp);
/* Monotonic ms (the clock dp_sess.touch_ms uses). */
uint64_t dp_now_ms(void);

/* Native datagram protocol counters, summed over workers (any thread). */
struct dp_udp_stats {
	uint64_t rx, tx;           /* datagrams received and sent */
	uint64_t bad;              /* dropped: short, bad magic/version/kind/body, too big */
	uint64_t unknown;          /* for no session here: answered UNKNOWN */
	uint64_t cookie;           /* dropped: wrong cookie for the session */
	uint64_t retry_cached;     /* retries answered from the reply cache */
	uint64_t retry_dropped;    /* dropped: in flight, ahead of the next xid, window full */
	uint64_t evicted;          /* retries answered EVICTED */
	uint64_t refused;          /* CONNECTs refused (no slot, over maxClientCnxns) */
	uint64_t send_fail;        /* sendmsg failed (the client retries) */
	uint64_t sessions;         /* attachments now */
};
void dp_udp_stats(struct dp *dp, struct dp_udp_stats *out);

#endif
