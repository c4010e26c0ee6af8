/* dataplane/dp_rel.c: reliable FIFO peer channel over datagrams (see dp_rel.h).
 *
 * Datagram layout (big-endian; docs/FORMATS.md "Peer channel datagrams"):
 *
 *   off size field
 *     0    2 magic 0x5452 ("TR")
 *     2    1 version 1
 *     3    1 type: 1 DATA, 2 ACK, 3 PING
 *     4    4 crc32c of the whole datagram with this field zero
 *     8    8 src_inc: the sender's incarnation (nonzero)
 *    16    8 dst_inc: the receiver's incarnation as the sender knows it, 0 = unknown
 *    24    8 ack: every seq below this was received (cumulative); 0 if dst_inc is 0
 *    32    4 wnd: receive window, segments from ack on
 *    36    1 nsack: SACK blocks that follow (<= 4)
 *    37    1 flags: DATA only, bit 0 START (first segment of a message),
 *                   bit 1 END (last segment); 0 otherwise
 *    38    2 plen: payload bytes (DATA only; <= the channel's MTU)
 *    40    8 seq: DATA segment number (from 1); 0 otherwise
 *    48   16 x nsack: SACK blocks [start u64, end u64), start < end, above ack
 *     .    8 msg_len: total message length (DATA with START only)
 *     .    plen payload
 *   The datagram ends exactly there.
 *
 * Handshake and resets. Data flows only once each side knows the other's
 * incarnation: an end that has not heard its peer sends PINGs with dst_inc 0;
 * the answer (an immediate ACK) carries dst_inc, and DATA whose dst_inc is
 * not ours is dropped. A src_inc above the known one means the peer restarted:
 * the channel resets (queued and partial messages dropped, seqs back to 1) and
 * the owner reads DOWN then UP. A dead-peer timeout resets too and bumps our
 * own incarnation, so the peer, which may still hold the old stream, resets
 * when it hears us. Lower incarnations are stale and dropped.
 *
 * Sender: messages are cut into segments of <= mtu bytes numbered by a 64-bit
 * seq (no wrap in practice). At most min(peer wnd, wnd_segs) segments are in
 * flight. Loss is repaired on the retransmission timer (RFC 6298 RTO from
 * smoothed RTT, Karn's rule, doubling backoff up to rto_max; every unSACKed
 * segment is resent), on 3 duplicate acks, and on SACK holes (a segment
 * with 3 or more SACKed segments above it, resent at most once per RTT).
 * Receiver: segments within the window are kept out of order in a ring and
 * drained in order into the message being reassembled; whole messages queue
 * for dp_rel_recv. Acks are delayed by ack_delay_us, but sent at once every
 * second segment, on out-of-order or duplicate data, and to a PING.
 */
#include "dataplane/dp_rel.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/tn_assert.h"
#include "common/tn_crc32c.h"
#include "common/tn_rd.h"

#define REL_MAGIC     0x5452u
#define REL_VERSION   1u
#define T_DATA        1u
#define T_ACK         2u
#define T_PING        3u
#define F_START       0x01u
#define F_END         0x02u
#define DUPACK_THRESH 3u
#define LOST_FAST     1u   /* tseg.lost: 3 dup acks or a SACK hole */
#define LOST_RTO      2u   /* tseg.lost: the retransmission timer */
#define ACK_EVERY     2u   /* in-order segments before an immediate ack */
#define POLL_EMIT_MAX (2u * DP_REL_WND_MAX + 4u)  /* bound on one poll's work */

struct dp_rel_msg {
	struct dp_rel_msg *next;
	uint64_t len;
	uint64_t last_seq;   /* seq of its END segment once cut, else 0 */
	uint8_t data[];
};

struct dp_rel_dmsg {
	struct dp_rel_dmsg *next;
	uint64_t len;
	uint8_t data[];
};

struct hdr {
	uint8_t type, nsack, flags;
	uint16_t plen;
	uint64_t src_inc, dst_inc, ack, seq, msg_len;
	uint32_t wnd;
	uint64_t sack[DP_REL_SACK_MAX][2];
	const uint8_t *payload;
};

static uint32_t dgram_crc(const uint8_t *p, size_t len)
{
	static const uint8_t zero[4];
	uint32_t c = tn_crc32c_extend(0, p, 4);
	c = tn_crc32c_extend(c, zero, 4);
	return tn_crc32c_extend(c, p + 8, len - 8);
}

static void ev_push(struct dp_rel *r, uint8_t ev)
{
	if (r->evq_len == DP_REL_EVQ_MAX) {   /* owner not reading: keep the newest */
		r->evq_head = (r->evq_head + 1) % DP_REL_EVQ_MAX;
		r->evq_len--;
	}
	r->evq[(r->evq_head + r->evq_len) % DP_REL_EVQ_MAX] = ev;
	r->evq_len++;
	TN_ASSERT(r->evq_len <= DP_REL_EVQ_MAX);
}

static int cfg_ok(const struct dp_rel_cfg *c)
{
	return c->incarnation != 0 && c->mtu >= DP_REL_MTU_MIN && c->mtu <= DP_REL_MTU_MAX &&
	       c->wnd_segs >= 1 && c->wnd_segs <= DP_REL_WND_MAX && c->msg_max >= 1 &&
	       c->msg_max <= DP_REL_MSG_MAX && c->sndbuf_bytes >= 1 && c->rcvbuf_bytes >= 1 &&
	       c->rto_min_us >= 1 && c->rto_min_us <= c->rto_init_us &&
	       c->rto_init_us <= c->rto_max_us && c->keepalive_us >= 1 &&
	       c->dead_us > c->keepalive_us;
}

/* Drop every piece of connection state; keep config, counters and buffers. */
static void conn_clear(struct dp_rel *r)
{
	while (r->sq_head) {
		struct dp_rel_msg *m = r->sq_head;
		r->sq_head = m->next;
		free(m);
	}
	while (r->dq_head) {
		struct dp_rel_dmsg *d = r->dq_head;
		r->dq_head = d->next;
		free(d);
	}
	if (r->in_msg)
		free(r->asm_buf - offsetof(struct dp_rel_dmsg, data));
	r->sq_tail = r->sq_next = NULL;
	r->dq_tail = NULL;
	r->sq_next_off = r->sq_bytes = r->dq_bytes = 0;
	r->snd_una = r->snd_nxt = r->rcv_nxt = 1;
	r->peer_wnd = r->cfg.wnd_segs;
	r->inflight_bytes = 0;
	r->nlost = 0;
	r->rx_high = 0;
	r->sack_high = 0;
	r->dupacks = 0;
	r->srtt_us = r->rttvar_us = 0;
	r->rto_us = r->cfg.rto_init_us;
	r->rto_deadline_us = 0;
	r->backoff = 0;
	r->asm_buf = NULL;
	r->asm_len = r->asm_off = 0;
	r->in_msg = 0;
	r->ack_pending = 0;
	r->segs_unacked = 0;
	r->wnd_advertised = r->cfg.wnd_segs;
	memset(r->tx, 0, sizeof(*r->tx) * r->cfg.wnd_segs);
	for (uint32_t i = 0; i < r->cfg.wnd_segs; i++)
		r->rx[i].present = 0;
}

int dp_rel_init(struct dp_rel *r, const struct dp_rel_cfg *cfg, uint64_t now_us)
{
	memset(r, 0, sizeof(*r));
	if (!cfg_ok(cfg))
		return -EINVAL;
	r->cfg = *cfg;
	r->tx = calloc(cfg->wnd_segs, sizeof(*r->tx));
	r->rx = calloc(cfg->wnd_segs, sizeof(*r->rx));
	r->obuf = malloc(DP_REL_DGRAM_MAX(cfg->mtu));
	if (!r->tx || !r->rx || !r->obuf)
		goto fail_free;
	for (uint32_t i = 0; i < cfg->wnd_segs; i++)
		if (!(r->rx[i].data = malloc(cfg->mtu)))
			goto fail_free;
	r->my_inc = cfg->incarnation;
	r->last_rx_us = r->last_tx_us = r->hello_us = now_us;
	conn_clear(r);
	return 0;
fail_free:
	dp_rel_fini(r);
	return -ENOMEM;
}

void dp_rel_fini(struct dp_rel *r)
{
	if (r->tx && r->rx)
		conn_clear(r);
	if (r->rx)
		for (uint32_t i = 0; i < r->cfg.wnd_segs; i++)
			free(r->rx[i].data);
	free(r->rx);
	free(r->tx);
	free(r->obuf);
	free(r->cur_recv);
	memset(r, 0, sizeof(*r));
}

/* The channel lost its peer (restart, timeout, bad stream): start over. */
static void conn_reset(struct dp_rel *r)
{
	conn_clear(r);
	r->st.resets++;
	if (r->up)
		ev_push(r, DP_REL_EV_DOWN);
	r->up = 0;
}

static void peer_learn(struct dp_rel *r, uint64_t inc)
{
	TN_ASSERT(inc != 0 && !r->up);
	r->peer_inc = inc;
	r->up = 1;
	ev_push(r, DP_REL_EV_UP);
}

int dp_rel_send(struct dp_rel *r, const void *msg, size_t len)
{
	TN_ASSERT(r->obuf != NULL);
	if (len > r->cfg.msg_max)
		return -EMSGSIZE;
	/* An empty queue takes any message, so one larger than the buffer still goes. */
	if (r->sq_head && r->sq_bytes + len > r->cfg.sndbuf_bytes) {
		r->st.sndbuf_full++;
		return -EAGAIN;
	}
	struct dp_rel_msg *m = malloc(sizeof(*m) + len);
	if (!m)
		return -ENOMEM;
	m->next = NULL;
	m->len = len;
	m->last_seq = 0;
	if (len)
		memcpy(m->data, msg, len);
	if (r->sq_tail)
		r->sq_tail->next = m;
	else
		r->sq_head = m;
	r->sq_tail = m;
	if (!r->sq_next) {
		r->sq_next = m;
		r->sq_next_off = 0;
	}
	r->sq_bytes += len;
	r->st.msgs_sent++;
	return 0;
}

/* ---- decode ---- */

static int decode(const uint8_t *p, size_t len, uint32_t mtu, uint64_t msg_max, struct hdr *h)
{
	struct tn_rd rd = tn_rd_init(p, len);
	uint32_t crc;
	uint8_t ver;

	if (len < DP_REL_HDR_LEN || tn_load_be32(p) >> 16 != REL_MAGIC)
		return -EBADMSG;
	ver = p[2];
	h->type = p[3];
	if (ver != REL_VERSION || h->type < T_DATA || h->type > T_PING)
		return -EBADMSG;
	crc = tn_load_be32(p + 4);
	h->src_inc = tn_load_be64(p + 8);   /* len >= DP_REL_HDR_LEN: fixed fields */
	h->dst_inc = tn_load_be64(p + 16);
	h->ack = tn_load_be64(p + 24);
	h->wnd = tn_load_be32(p + 32);
	h->nsack = p[36];
	h->flags = p[37];
	h->plen = (uint16_t)(p[38] << 8 | p[39]);
	h->seq = tn_load_be64(p + 40);
	rd.p = p + DP_REL_HDR_LEN;
	if (h->src_inc == 0 || h->nsack > DP_REL_SACK_MAX || h->wnd > DP_REL_WND_MAX)
		return -EBADMSG;
	if (h->dst_inc == 0 && (h->ack != 0 || h->nsack != 0))
		return -EBADMSG;   /* acks refer to a known stream */
	if (h->dst_inc != 0 && h->ack == 0)
		return -EBADMSG;
	if (h->type == T_DATA) {
		if (h->seq == 0 || h->plen > mtu || (h->flags & ~(F_START | F_END)) ||
		    (h->plen == 0 && !(h->flags & F_START)))
			return -EBADMSG;
	} else if (h->flags || h->plen || h->seq) {
		return -EBADMSG;
	}
	for (unsigned i = 0; i < h->nsack; i++) {
		if (tn_rd_u64(&rd, &h->sack[i][0]) < 0 || tn_rd_u64(&rd, &h->sack[i][1]) < 0)
			return -EBADMSG;
		if (h->sack[i][0] >= h->sack[i][1] || h->sack[i][0] <= h->ack)
			return -EBADMSG;
	}
	h->msg_len = 0;
	if (h->type == T_DATA && (h->flags & F_START)) {
		if (tn_rd_u64(&rd, &h->msg_len) < 0 || h->msg_len > msg_max ||
		    h->plen > h->msg_len || ((h->flags & F_END) && h->plen != h->msg_len) ||
		    (!(h->flags & F_END) && h->plen == h->msg_len))
			return -EBADMSG;
	}
	if (tn_rd_left(&rd) != h->plen)
		return -EBADMSG;
	h->payload = rd.p;
	if (dgram_crc(p, len) != crc)
		return -EBADMSG;
	return 0;
}

/* ---- sender side of input: acks ---- */

static void rtt_sample(struct dp_rel *r, uint64_t rtt_us)
{
	if (r->srtt_us == 0) {
		r->srtt_us = rtt_us ? rtt_us : 1;
		r->rttvar_us = rtt_us / 2;
	} else {
		uint64_t d = rtt_us > r->srtt_us ? rtt_us - r->srtt_us : r->srtt_us - rtt_us;
		r->rttvar_us = (3 * r->rttvar_us + d) / 4;
		r->srtt_us = (7 * r->srtt_us + rtt_us) / 8;
	}
	uint64_t rto = r->srtt_us + TN_MAX(4 * r->rttvar_us, (uint64_t)1);
	r->rto_us = TN_MIN(TN_MAX(rto, r->cfg.rto_min_us), r->cfg.rto_max_us);
}

static void mark_lost(struct dp_rel *r, struct dp_rel_tseg *t, uint8_t why)
{
	if (!t->lost)
		r->nlost++;
	t->lost = why;
	TN_ASSERT_HOT(r->nlost <= r->snd_nxt - r->snd_una);
}

static struct dp_rel_tseg *tseg(struct dp_rel *r, uint64_t seq)
{
	TN_ASSERT_HOT(seq >= r->snd_una && seq < r->snd_nxt);
	return &r->tx[seq % r->cfg.wnd_segs];
}

static void ack_apply(struct dp_rel *r, const struct hdr *h, uint64_t now_us)
{
	if (h->ack > r->snd_una) {
		uint64_t n = 0;
		for (uint64_t s = r->snd_una; s < h->ack; s++, n++) {
			struct dp_rel_tseg *t = tseg(r, s);
			if (s == h->ack - 1 && t->xmits == 1)   /* Karn: never a resent one */
				rtt_sample(r, now_us - t->sent_us);
			TN_ASSERT(r->inflight_bytes >= t->len);
			r->inflight_bytes -= t->len;
			if (t->lost)
				r->nlost--;
			memset(t, 0, sizeof(*t));
		}
		TN_ASSERT(n <= r->cfg.wnd_segs);
		r->snd_una = h->ack;
		while (r->sq_head && r->sq_head->last_seq && r->sq_head->last_seq < r->snd_una) {
			struct dp_rel_msg *m = r->sq_head;
			TN_ASSERT(m != r->sq_next);
			r->sq_head = m->next;
			if (!r->sq_head)
				r->sq_tail = NULL;
			r->sq_bytes -= m->len;
			free(m);
		}
		r->dupacks = 0;
		r->backoff = 0;
		r->rto_deadline_us = r->snd_una < r->snd_nxt ? now_us + r->rto_us : 0;
	} else if (h->ack == r->snd_una && h->type == T_ACK && r->snd_una < r->snd_nxt) {
		if (++r->dupacks == DUPACK_THRESH) {
			struct dp_rel_tseg *t = tseg(r, r->snd_una);
			if (!t->sacked)
				mark_lost(r, t, LOST_FAST);
		}
	}
	if (h->ack >= r->snd_una)   /* an older ack's window is older news */
		r->peer_wnd = h->wnd;
	for (unsigned i = 0; i < h->nsack; i++) {
		uint64_t a = TN_MAX(h->sack[i][0], r->snd_una), b = TN_MIN(h->sack[i][1], r->snd_nxt);
		for (uint64_t s = a; s < b; s++)
			tseg(r, s)->sacked = 1;
		if (b > a && b > r->sack_high)
			r->sack_high = b;
	}
	/* SACK holes: a segment with DUPACK_THRESH SACKed ones above it is lost,
	 * unless it was (re)sent within the last RTT. */
	if (r->sack_high > r->snd_una + DUPACK_THRESH) {
		uint64_t wait_us = r->srtt_us + r->srtt_us / 4;
		for (uint64_t s = r->snd_una; s + DUPACK_THRESH < r->sack_high && s < r->snd_nxt; s++) {
			struct dp_rel_tseg *t = tseg(r, s);
			if (!t->sacked && !t->lost && now_us - t->sent_us >= wait_us)
				mark_lost(r, t, LOST_FAST);
		}
	}
}

/* ---- receiver side of input: data ---- */

static uint32_t rcv_wnd(const struct dp_rel *r)
{
	return r->dq_bytes >= r->cfg.rcvbuf_bytes ? 0 : r->cfg.wnd_segs;
}

static void ack_soon(struct dp_rel *r, uint64_t due_us)
{
	if (!r->ack_pending || due_us < r->ack_due_us)
		r->ack_due_us = due_us;
	r->ack_pending = 1;
}

/* Take the in-order segment @g into the message being built. Returns 0,
 * -EPROTO for an inconsistent stream, -ENOMEM (segment kept, retried later). */
static int consume(struct dp_rel *r, struct dp_rel_rseg *g)
{
	if (g->flags & F_START) {
		if (r->in_msg)
			return -EPROTO;
		struct dp_rel_dmsg *d = malloc(sizeof(*d) + g->msg_len);
		if (!d)
			return -ENOMEM;
		d->next = NULL;
		d->len = g->msg_len;
		r->asm_buf = d->data;
		r->asm_len = g->msg_len;
		r->asm_off = 0;
		r->in_msg = 1;
	} else if (!r->in_msg) {
		return -EPROTO;
	}
	if (g->len > r->asm_len - r->asm_off)
		return -EPROTO;
	if (g->len)
		memcpy(r->asm_buf + r->asm_off, g->data, g->len);
	r->asm_off += g->len;
	if ((g->flags & F_END) != 0) {
		if (r->asm_off != r->asm_len)
			return -EPROTO;
		struct dp_rel_dmsg *d = (struct dp_rel_dmsg *)(void *)(r->asm_buf -
								    offsetof(struct dp_rel_dmsg, data));
		if (r->dq_tail)
			r->dq_tail->next = d;
		else
			r->dq_head = d;
		r->dq_tail = d;
		r->dq_bytes += d->len;
		r->st.msgs_recv++;
		r->in_msg = 0;
		r->asm_buf = NULL;
	} else if (r->asm_off == r->asm_len) {
		return -EPROTO;
	}
	return 0;
}

static int data_in(struct dp_rel *r, const struct hdr *h, uint64_t now_us)
{
	uint32_t w = r->cfg.wnd_segs;

	if (h->seq < r->rcv_nxt) {
		r->st.dup_segs++;
		ack_soon(r, now_us);   /* our ack may have been lost */
		return 0;
	}
	if (h->seq - r->rcv_nxt >= w) {
		r->st.out_of_window++;
		ack_soon(r, now_us);
		return 0;
	}
	struct dp_rel_rseg *g = &r->rx[h->seq % w];
	if (g->present) {
		r->st.dup_segs++;
		ack_soon(r, now_us);
		return 0;
	}
	memcpy(g->data, h->payload, h->plen);
	g->len = h->plen;
	g->flags = h->flags;
	g->msg_len = h->msg_len;
	g->present = 1;
	r->rx_high = TN_MAX(r->rx_high, h->seq + 1);
	if (h->seq != r->rcv_nxt) {
		r->st.ooo_segs++;
		ack_soon(r, now_us);   /* tell the sender about the hole now */
		return 0;
	}
	for (uint32_t n = 0; n < w; n++) {
		g = &r->rx[r->rcv_nxt % w];
		if (!g->present)
			break;
		int rc = consume(r, g);
		if (rc == -ENOMEM)
			break;
		if (rc < 0)
			return rc;
		g->present = 0;
		r->rcv_nxt++;
		r->segs_unacked++;
	}
	ack_soon(r, r->segs_unacked >= ACK_EVERY ? now_us : now_us + r->cfg.ack_delay_us);
	return 0;
}

int dp_rel_input(struct dp_rel *r, const void *dgram, size_t len, uint64_t now_us)
{
	struct hdr h;
	TN_ASSERT(r->obuf != NULL);
	if (decode(dgram, len, r->cfg.mtu, r->cfg.msg_max, &h) < 0) {
		r->st.malformed++;
		return -EBADMSG;
	}
	if ((h.dst_inc != 0 && h.dst_inc != r->my_inc) ||
	    (h.type == T_DATA && h.dst_inc == 0) || (r->peer_inc && h.src_inc < r->peer_inc)) {
		r->st.stale_inc++;
		return -ESTALE;
	}
	if (r->peer_inc && h.src_inc > r->peer_inc) {   /* the peer restarted */
		conn_reset(r);
		r->peer_inc = 0;
	}
	/* Ack fields must fit our stream before anything changes. */
	if (h.dst_inc != 0) {
		if (h.ack > r->snd_nxt) {
			r->st.malformed++;
			return -EBADMSG;
		}
		for (unsigned i = 0; i < h.nsack; i++)
			if (h.sack[i][1] > r->snd_nxt) {
				r->st.malformed++;
				return -EBADMSG;
			}
	}
	r->st.dgrams_recv++;
	r->last_rx_us = now_us;
	if (!r->peer_inc)
		peer_learn(r, h.src_inc);
	if (h.dst_inc == 0 || h.type == T_PING)
		ack_soon(r, now_us);   /* let it learn us / answer the probe */
	if (h.dst_inc != 0)
		ack_apply(r, &h, now_us);
	if (h.type == T_DATA && data_in(r, &h, now_us) < 0) {
		r->st.protocol_err++;
		conn_reset(r);
		r->my_inc++;   /* the peer must drop its stream too */
		r->peer_inc = 0;
		return -EPROTO;
	}
	return 0;
}

/* ---- output ---- */

static size_t encode(struct dp_rel *r, uint8_t type, const struct dp_rel_tseg *t, uint64_t seq)
{
	uint8_t *p = r->obuf;
	uint32_t wnd = rcv_wnd(r), w = r->cfg.wnd_segs;
	unsigned nsack = 0;
	size_t len = DP_REL_HDR_LEN;
	int known = r->peer_inc != 0;

	if (known) {   /* SACK blocks: runs of buffered segments above rcv_nxt */
		uint64_t s = r->rcv_nxt + 1, end = TN_MIN(r->rcv_nxt + w, r->rx_high);
		while (s < end && nsack < DP_REL_SACK_MAX) {
			while (s < end && !r->rx[s % w].present)
				s++;
			if (s >= end)
				break;
			uint64_t a = s;
			while (s < end && r->rx[s % w].present)
				s++;
			tn_store_be64(p + len, a);
			tn_store_be64(p + len + 8, s);
			len += DP_REL_SACK_LEN;
			nsack++;
		}
	}
	tn_store_be32(p, REL_MAGIC << 16 | REL_VERSION << 8 | type);
	tn_store_be64(p + 8, r->my_inc);
	tn_store_be64(p + 16, r->peer_inc);
	tn_store_be64(p + 24, known ? r->rcv_nxt : 0);
	tn_store_be32(p + 32, wnd);
	p[36] = (uint8_t)nsack;
	p[37] = t ? t->flags : 0;
	p[38] = (uint8_t)((t ? t->len : 0) >> 8);
	p[39] = (uint8_t)(t ? t->len : 0);
	tn_store_be64(p + 40, t ? seq : 0);
	if (t) {
		TN_ASSERT(t->len <= r->cfg.mtu && t->off + t->len <= t->msg->len);
		if (t->flags & F_START) {
			tn_store_be64(p + len, t->msg->len);
			len += DP_REL_MSGLEN_LEN;
		}
		if (t->len)
			memcpy(p + len, t->msg->data + t->off, t->len);
		len += t->len;
	}
	TN_ASSERT(len <= DP_REL_DGRAM_MAX(r->cfg.mtu));
	tn_store_be32(p + 4, dgram_crc(p, len));
	if (known) {   /* every datagram to a known peer carries the ack */
		r->ack_pending = 0;
		r->segs_unacked = 0;
		r->wnd_advertised = wnd;
	}
	return len;
}

static int out(struct dp_rel *r, size_t len, uint64_t now_us, dp_rel_emit_fn emit, void *arg)
{
	r->last_tx_us = now_us;
	r->st.dgrams_sent++;
	return emit(arg, r->obuf, len);
}

int dp_rel_poll(struct dp_rel *r, uint64_t now_us, dp_rel_emit_fn emit, void *arg)
{
	int n = 0;
	TN_ASSERT(r->obuf != NULL);

	if (r->peer_inc && now_us - r->last_rx_us >= r->cfg.dead_us) {
		conn_reset(r);
		r->my_inc++;
		r->peer_inc = 0;
		r->hello_us = now_us;
	}
	if (!r->peer_inc) {   /* handshake: ping until the peer answers */
		if (now_us >= r->hello_us) {
			r->hello_us = now_us + r->cfg.rto_init_us;
			if (out(r, encode(r, T_PING, NULL, 0), now_us, emit, arg) < 0)
				return 1;
			n++;
		}
		return n;
	}
	if (r->rto_deadline_us && now_us >= r->rto_deadline_us) {
		TN_ASSERT(r->snd_una < r->snd_nxt);
		r->st.rto_fired++;
		for (uint64_t s = r->snd_una; s < r->snd_nxt; s++) {
			struct dp_rel_tseg *t = tseg(r, s);
			if (!t->sacked)
				mark_lost(r, t, LOST_RTO);
		}
		if (r->backoff < 32)
			r->backoff++;
		r->rto_us = TN_MIN(r->rto_us * 2, r->cfg.rto_max_us);
		r->rto_deadline_us = now_us + r->rto_us;
		r->dupacks = 0;
		r->sack_high = 0;   /* the receiver may have dropped what it SACKed */
	}
	for (uint64_t s = r->snd_una; r->nlost && s < r->snd_nxt; s++) {
		struct dp_rel_tseg *t = tseg(r, s);
		if (!t->lost)
			continue;
		t->xmits++;
		t->sent_us = now_us;
		r->st.segs_retrans++;
		if (t->lost == LOST_FAST)
			r->st.fast_retrans++;
		t->lost = 0;
		r->nlost--;
		n++;
		if (out(r, encode(r, T_DATA, t, s), now_us, emit, arg) < 0)
			return n;
	}
	uint32_t cap = TN_MIN(r->peer_wnd, r->cfg.wnd_segs);
	if (r->sq_next && r->snd_nxt - r->snd_una >= cap)
		r->st.window_full++;
	while (r->sq_next && r->snd_nxt - r->snd_una < cap && (unsigned)n < POLL_EMIT_MAX) {
		struct dp_rel_msg *m = r->sq_next;
		uint64_t seq = r->snd_nxt++;
		struct dp_rel_tseg *t = &r->tx[seq % r->cfg.wnd_segs];
		TN_ASSERT(t->msg == NULL);
		t->msg = m;
		t->off = (uint32_t)r->sq_next_off;
		t->len = (uint32_t)TN_MIN((uint64_t)r->cfg.mtu, m->len - r->sq_next_off);
		t->flags = (uint8_t)((t->off == 0 ? F_START : 0) |
				     (t->off + t->len == m->len ? F_END : 0));
		t->xmits = 1;
		t->sent_us = now_us;
		t->sacked = t->lost = 0;
		r->sq_next_off += t->len;
		if (t->flags & F_END) {
			m->last_seq = seq;
			r->sq_next = m->next;
			r->sq_next_off = 0;
		}
		r->inflight_bytes += t->len;
		if (r->inflight_bytes > r->st.inflight_bytes_max)
			r->st.inflight_bytes_max = r->inflight_bytes;
		TN_ASSERT(r->snd_nxt - r->snd_una <= r->cfg.wnd_segs);
		if (!r->rto_deadline_us)
			r->rto_deadline_us = now_us + r->rto_us;
		r->st.segs_sent++;
		n++;
		if (out(r, encode(r, T_DATA, t, seq), now_us, emit, arg) < 0)
			return n;
	}
	/* Zero window and nothing in flight: probe so the reopening is heard. */
	if (r->sq_next && r->snd_una == r->snd_nxt && r->peer_wnd == 0 && now_us >= r->hello_us) {
		r->hello_us = now_us + r->rto_us;
		n++;
		if (out(r, encode(r, T_PING, NULL, 0), now_us, emit, arg) < 0)
			return n;
	}
	if (r->ack_pending && now_us >= r->ack_due_us) {
		n++;
		if (out(r, encode(r, T_ACK, NULL, 0), now_us, emit, arg) < 0)
			return n;
	}
	if (now_us - r->last_tx_us >= r->cfg.keepalive_us) {
		n++;
		(void)out(r, encode(r, T_PING, NULL, 0), now_us, emit, arg);
	}
	return n;
}

int dp_rel_recv(struct dp_rel *r, const uint8_t **msg, size_t *len)
{
	free(r->cur_recv);
	r->cur_recv = NULL;
	struct dp_rel_dmsg *d = r->dq_head;
	if (!d)
		return 0;
	r->dq_head = d->next;
	if (!r->dq_head)
		r->dq_tail = NULL;
	TN_ASSERT(r->dq_bytes >= d->len);
	r->dq_bytes -= d->len;
	r->cur_recv = (uint8_t *)d;
	*msg = d->data;
	*len = d->len;
	if (r->wnd_advertised == 0 && rcv_wnd(r) > 0 && r->peer_inc)
		ack_soon(r, 0);   /* window update: the sender may be stalled */
	return 1;
}

uint64_t dp_rel_next_timer(const struct dp_rel *r)
{
	if (!r->peer_inc)
		return r->hello_us;
	uint64_t t = TN_MIN(r->last_rx_us + r->cfg.dead_us, r->last_tx_us + r->cfg.keepalive_us);
	if (r->rto_deadline_us)
		t = TN_MIN(t, r->rto_deadline_us);
	if (r->ack_pending)
		t = TN_MIN(t, r->ack_due_us);
	if (r->sq_next && r->snd_nxt - r->snd_una < TN_MIN(r->peer_wnd, r->cfg.wnd_segs))
		return 0;   /* new data can go now */
	if (r->sq_next && r->peer_wnd == 0 && r->snd_una == r->snd_nxt)
		t = TN_MIN(t, r->hello_us);
	if (r->nlost)
		return 0;   /* retransmissions are due */
	return t;
}

int dp_rel_event(struct dp_rel *r)
{
	if (!r->evq_len)
		return DP_REL_EV_NONE;
	int ev = r->evq[r->evq_head];
	r->evq_head = (r->evq_head + 1) % DP_REL_EVQ_MAX;
	r->evq_len--;
	return ev;
}
