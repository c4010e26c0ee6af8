/* dataplane/dp_rel.h: reliable FIFO peer channel over datagrams.
 *
 * INTERNAL to dataplane/: other modules must not include this header; the
 * peer-channel interface Zab sees is built on top of it inside dataplane/.
 *
 * A pure state machine: no sockets, no clock of its own. The owner feeds it
 * received datagrams (dp_rel_input), asks it for datagrams to send
 * (dp_rel_poll, through an emit callback) and calls dp_rel_poll again at or
 * after dp_rel_next_timer(). Time is an injected monotonic clock in
 * microseconds. The same code runs over DPDK UDP, kernel UDP and the
 * simulated link of the unit tests. The datagram layout is documented at the
 * top of dp_rel.c and in docs/FORMATS.md.
 *
 * One struct dp_rel is one peer, both directions: whole messages in, whole
 * messages out, each exactly once and in order, while both ends keep their
 * incarnation. A restarted or timed-out peer resets the channel like a TCP
 * reset: queued and half-received messages are dropped and the owner reads
 * DP_REL_EV_DOWN, then DP_REL_EV_UP once the new peer is heard.
 * Not thread-safe: one worker owns a channel.
 */
#ifndef DP_REL_H
#define DP_REL_H

#include <stddef.h>
#include <stdint.h>

#define DP_REL_HDR_LEN      48u        /* fixed header, see dp_rel.c */
#define DP_REL_SACK_MAX     4u         /* SACK blocks per datagram */
#define DP_REL_SACK_LEN     16u        /* start u64, end u64 */
#define DP_REL_MSGLEN_LEN   8u         /* message length in a START segment */
#define DP_REL_MTU_MIN      64u        /* smallest payload per datagram */
#define DP_REL_MTU_MAX      65000u     /* largest payload per datagram */
#define DP_REL_WND_MAX      4096u      /* segments in flight / buffered out of order */
#define DP_REL_MSG_MAX      (256u << 20) /* largest message the config may allow */
#define DP_REL_EVQ_MAX      8u         /* pending up/down events */
/* Largest datagram for @mtu payload bytes: the owner's buffers size from this. */
#define DP_REL_DGRAM_MAX(mtu) \
	(DP_REL_HDR_LEN + DP_REL_SACK_MAX * DP_REL_SACK_LEN + DP_REL_MSGLEN_LEN + (mtu))

enum { DP_REL_EV_NONE = 0, DP_REL_EV_UP = 1, DP_REL_EV_DOWN = 2 };

struct dp_rel_cfg {
	uint64_t incarnation;     /* nonzero; strictly above any earlier run's (e.g. boot ns) */
	uint32_t mtu;             /* payload bytes per datagram */
	uint32_t wnd_segs;        /* receive window and in-flight cap, segments */
	uint64_t msg_max;         /* largest message, bytes */
	uint64_t sndbuf_bytes;    /* queued-but-unacked bytes before dp_rel_send says -EAGAIN */
	uint64_t rcvbuf_bytes;    /* delivered-but-unread bytes before the window closes */
	uint64_t rto_init_us, rto_min_us, rto_max_us;
	uint64_t ack_delay_us;    /* delayed-ack time */
	uint64_t keepalive_us;    /* ping when nothing was sent for this long */
	uint64_t dead_us;         /* nothing heard for this long: the peer is down */
};

struct dp_rel_stats {
	uint64_t dgrams_sent, dgrams_recv;
	uint64_t segs_sent;          /* first transmissions of data segments */
	uint64_t segs_retrans;       /* retransmitted data segments (timer + fast) */
	uint64_t fast_retrans;       /* of which on 3 dup acks / SACK holes */
	uint64_t rto_fired;
	uint64_t dup_segs;           /* data segments received twice */
	uint64_t ooo_segs;           /* data segments buffered out of order */
	uint64_t out_of_window;      /* data segments beyond the advertised window */
	uint64_t malformed;          /* bad magic/version/type/length/crc/field */
	uint64_t stale_inc;          /* from an old incarnation (ours or the peer's) */
	uint64_t protocol_err;       /* well-formed but inconsistent stream: reset */
	uint64_t window_full;        /* polls with data waiting and the window closed */
	uint64_t sndbuf_full;        /* dp_rel_send refused with -EAGAIN */
	uint64_t msgs_sent, msgs_recv;
	uint64_t resets;             /* peer restarts, dead-peer timeouts, protocol errors */
	uint64_t inflight_bytes_max; /* largest payload bytes in flight seen */
};

struct dp_rel_msg;   /* queued outgoing message (dp_rel.c) */
struct dp_rel_dmsg;  /* delivered incoming message (dp_rel.c) */

struct dp_rel_tseg {   /* a data segment sent and not yet acknowledged */
	struct dp_rel_msg *msg;
	uint64_t sent_us;
	uint32_t off, len;
	uint16_t xmits;
	uint8_t flags, sacked, lost;
};

struct dp_rel_rseg {   /* a data segment received out of order */
	uint8_t *data;     /* mtu bytes, allocated at init */
	uint64_t msg_len;
	uint32_t len;
	uint8_t flags, present;
};

struct dp_rel {
	struct dp_rel_cfg cfg;
	uint64_t my_inc, peer_inc;   /* peer_inc 0: not heard yet (no data flows) */
	int up;
	uint8_t evq[DP_REL_EVQ_MAX];
	unsigned evq_head, evq_len;
	uint64_t last_rx_us, last_tx_us, hello_us;

	/* sender */
	struct dp_rel_msg *sq_head, *sq_tail, *sq_next; /* sq_next: first with unsent bytes */
	uint64_t sq_next_off;
	uint64_t sq_bytes;
	uint64_t snd_una, snd_nxt;   /* oldest unacked seq, next new seq */
	uint32_t peer_wnd;
	struct dp_rel_tseg *tx;      /* wnd_segs slots, by seq % wnd_segs */
	uint64_t inflight_bytes;
	uint64_t nlost;              /* segments marked for retransmission */
	uint64_t sack_high;          /* highest seq + 1 the peer SACKed */
	unsigned dupacks;
	uint64_t srtt_us, rttvar_us, rto_us;
	uint64_t rto_deadline_us;    /* 0: no timer */
	unsigned backoff;

	/* receiver */
	uint64_t rcv_nxt;
	uint64_t rx_high;            /* highest seq + 1 ever buffered: bounds the SACK scan */
	struct dp_rel_rseg *rx;      /* wnd_segs slots, by seq % wnd_segs */
	uint8_t *asm_buf;            /* message being reassembled */
	uint64_t asm_len, asm_off;
	int in_msg;
	struct dp_rel_dmsg *dq_head, *dq_tail;  /* whole messages for dp_rel_recv */
	uint64_t dq_bytes;
	uint8_t *cur_recv;           /* last message handed out, freed on next recv */
	int ack_pending;
	uint64_t ack_due_us;
	unsigned segs_unacked;
	uint32_t wnd_advertised;

	uint8_t *obuf;               /* one outgoing datagram */
	struct dp_rel_stats st;
};

/* Emit one datagram of @len bytes; the bytes are valid only during the call.
 * Return 0, or <0 if it could not be queued (treated as loss; poll stops). */
typedef int (*dp_rel_emit_fn)(void *arg, const void *dgram, size_t len);

/* Check @cfg and allocate the buffers. Returns 0, -EINVAL or -ENOMEM. */
int dp_rel_init(struct dp_rel *r, const struct dp_rel_cfg *cfg, uint64_t now_us);
/* Free everything, including undelivered messages. */
void dp_rel_fini(struct dp_rel *r);

/* Copy @len bytes at @msg into the send queue. Returns 0, -EMSGSIZE over
 * msg_max, -EAGAIN when the send buffer is full (retry after polls). */
int dp_rel_send(struct dp_rel *r, const void *msg, size_t len);

/* Feed one received datagram. Returns 0 if it was taken, -EBADMSG if it was
 * malformed, -ESTALE if from another incarnation; dropped ones are counted. */
int dp_rel_input(struct dp_rel *r, const void *dgram, size_t len, uint64_t now_us);

/* Run timers and emit whatever is due: handshake and keep-alive pings,
 * retransmits, new data within the window, acks. Returns datagrams emitted. */
int dp_rel_poll(struct dp_rel *r, uint64_t now_us, dp_rel_emit_fn emit, void *arg);

/* The next whole message: *@msg stays valid until the next dp_rel_recv or
 * dp_rel_fini. Returns 1 with a message, 0 if none. */
int dp_rel_recv(struct dp_rel *r, const uint8_t **msg, size_t *len);

/* Next time dp_rel_poll has work to do (absolute, µs). */
uint64_t dp_rel_next_timer(const struct dp_rel *r);

/* Next up/down event, DP_REL_EV_NONE if none. */
int dp_rel_event(struct dp_rel *r);

static inline const struct dp_rel_stats *dp_rel_stats(const struct dp_rel *r)
{
	return &r->st;
}

#endif
