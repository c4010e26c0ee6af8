/* tests/fuzz/fuzz_rel.c: libFuzzer target for the reliable peer channel
 * (dataplane/dp_rel.c), driven mid-transfer.
 *
 * Two ends exchange messages over a simulated link while the input, read as
 * a list of operations, injects arbitrary datagrams, corrupts, duplicates or
 * drops datagrams on the wire, and advances time. Every message carries a
 * serial and a CRC32C in this harness: whatever an end delivers must be the
 * next serial of the current stream, intact. The incarnations are derived
 * from a hash of the whole input, so the fuzzer cannot learn them from
 * comparisons; one operation patches the right incarnations and a valid
 * checksum into a non-DATA datagram (forged acks, windows, SACKs, pings) to
 * reach the ack path. Unless that operation ran, the transfer must also
 * complete afterwards on a clean link (garbage never wedges the channel).
 */
#include <stdlib.h>
#include <string.h>

#include "dataplane/dp_rel.c"

#define FZ_MTU     256u
#define FZ_WND     8u
#define FZ_NMSG    30u
#define FZ_BODY    700u
#define FZ_PKT_MAX 256u
#define FZ_DG_MAX  DP_REL_DGRAM_MAX(FZ_MTU)

struct fpkt {
	uint64_t at_us;
	int to;
	uint32_t len;
	uint8_t buf[FZ_DG_MAX];
};

static struct {
	struct dp_rel e[2];
	uint64_t now;
	struct fpkt q[FZ_PKT_MAX];
	unsigned nq;
	int from;
	unsigned sent[2], rcvd[2];
	uint64_t rng;
} F;

static uint64_t mix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	return z ^ (z >> 27);
}

static size_t make_msg(int dir, unsigned serial, uint8_t *buf)
{
	uint64_t x = (uint64_t)dir << 32 | serial;
	size_t body = mix(&x) % FZ_BODY;
	for (size_t i = 0; i < body; i++)
		buf[8 + i] = (uint8_t)mix(&x);
	tn_store_be32(buf, serial);
	uint32_t c = tn_crc32c_extend(tn_crc32c(buf, 4), buf + 8, body);
	tn_store_be32(buf + 4, c);
	return 8 + body;
}

static int emit(void *arg, const void *d, size_t len)
{
	(void)arg;
	TN_ASSERT(len <= FZ_DG_MAX);
	if (F.nq == FZ_PKT_MAX)
		return 0;   /* the wire is full: lost */
	struct fpkt *k = &F.q[F.nq++];
	memcpy(k->buf, d, len);
	k->len = (uint32_t)len;
	k->to = 1 - F.from;
	k->at_us = F.now + 40 + mix(&F.rng) % 60;
	return 0;
}

static void app(int i)
{
	static uint8_t m[8 + FZ_BODY];
	for (int ev; (ev = dp_rel_event(&F.e[i])) != DP_REL_EV_NONE;)
		if (ev == DP_REL_EV_DOWN)
			F.sent[i] = F.rcvd[i] = 0;   /* the stream died: start over */
	while (F.sent[i] < FZ_NMSG) {
		size_t len = make_msg(i, F.sent[i], m);
		if (dp_rel_send(&F.e[i], m, len) != 0)
			break;
		F.sent[i]++;
	}
	const uint8_t *p;
	size_t len;
	while (dp_rel_recv(&F.e[i], &p, &len) == 1) {
		/* The oracle: intact, and exactly the next message of this stream. */
		TN_ASSERT(len >= 8 && len <= 8 + FZ_BODY);
		TN_ASSERT(tn_crc32c_extend(tn_crc32c(p, 4), p + 8, len - 8) == tn_load_be32(p + 4));
		TN_ASSERT(tn_load_be32(p) == F.rcvd[i]);
		TN_ASSERT(F.rcvd[i] < FZ_NMSG);
		F.rcvd[i]++;
	}
}

static void deliver(void)
{
	for (unsigned n = 0; n < FZ_PKT_MAX; n++) {
		unsigned best = F.nq;
		for (unsigned k = 0; k < F.nq; k++)
			if (F.q[k].at_us <= F.now && (best == F.nq || F.q[k].at_us < F.q[best].at_us))
				best = k;
		if (best == F.nq)
			return;
		struct fpkt *p = &F.q[best];
		(void)dp_rel_input(&F.e[p->to], p->buf, p->len, F.now);
		memmove(p, p + 1, (F.nq - best - 1) * sizeof(*p));
		F.nq--;
	}
}

/* One round: apps, polls, then time jumps to the next event (at most @max_us). */
static void step(uint64_t max_us)
{
	for (int i = 0; i < 2; i++) {
		app(i);
		F.from = i;
		(void)dp_rel_poll(&F.e[i], F.now, emit, NULL);
		app(i);
	}
	uint64_t next = F.now + max_us;
	for (unsigned k = 0; k < F.nq; k++)
		next = TN_MIN(next, F.q[k].at_us);
	for (int i = 0; i < 2; i++)
		next = TN_MIN(next, dp_rel_next_timer(&F.e[i]));
	F.now = next > F.now ? next : F.now + 1;
	deliver();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t d[FZ_DG_MAX + 64];
	uint64_t inc = ((uint64_t)tn_crc32c(data, size) << 8) | 1u << 20;
	struct dp_rel_cfg c = {
		.mtu = FZ_MTU, .wnd_segs = FZ_WND, .msg_max = 8 + FZ_BODY,
		.sndbuf_bytes = 4096, .rcvbuf_bytes = 4096,
		.rto_init_us = 2000, .rto_min_us = 500, .rto_max_us = 50000,
		.ack_delay_us = 100, .keepalive_us = 20000, .dead_us = 1000000,
	};
	int forged = 0;

	memset(&F, 0, sizeof(F));
	F.rng = inc;
	for (int i = 0; i < 2; i++) {
		c.incarnation = inc + (uint64_t)i * 7;
		if (dp_rel_init(&F.e[i], &c, 0) != 0)
			abort();
	}
	for (unsigned i = 0; i < 20; i++)   /* handshake and the first messages */
		step(1000);

	size_t pos = 0;
	for (unsigned ops = 0; pos + 2 <= size && ops < 256; ops++) {
		uint8_t op = data[pos] & 7, to = data[pos] >> 7, arg = data[pos + 1];
		pos += 2;
		switch (op) {
		case 0:     /* raw datagram: len byte, bytes */
		case 1: {   /* the same with true incarnations and checksum; never DATA */
			size_t len = TN_MIN((size_t)arg, size - pos);
			len = TN_MIN(len, sizeof(d));
			memcpy(d, data + pos, len);
			pos += len;
			if (op == 1 && len >= DP_REL_HDR_LEN && d[3] != T_DATA) {
				tn_store_be64(d + 8, F.e[1 - to].my_inc);
				tn_store_be64(d + 16, F.e[to].my_inc);
				tn_store_be32(d + 4, dgram_crc(d, len));
				forged = 1;
			}
			(void)dp_rel_input(&F.e[to], d, len, F.now);
			break;
		}
		case 2:     /* corrupt a byte of a datagram on the wire */
			if (F.nq && pos < size && F.q[arg % F.nq].len) {
				struct fpkt *k = &F.q[arg % F.nq];
				k->buf[data[pos] % k->len] ^= (uint8_t)(arg | 1);
				pos++;
			}
			break;
		case 3:     /* duplicate one on the wire */
			if (F.nq && F.nq < FZ_PKT_MAX) {
				F.q[F.nq] = F.q[arg % F.nq];
				F.q[F.nq].at_us += arg;
				F.nq++;
			}
			break;
		case 4:     /* drop one */
			if (F.nq) {
				unsigned k = arg % F.nq;
				memmove(&F.q[k], &F.q[k + 1], (F.nq - k - 1) * sizeof(F.q[0]));
				F.nq--;
			}
			break;
		case 5:     /* truncate one */
			if (F.nq)
				F.q[arg % F.nq].len = F.q[arg % F.nq].len * (arg & 0xf) / 16;
			break;
		default:    /* let time pass */
			for (unsigned i = 0; i < (arg & 15u) + 1; i++)
				step((uint64_t)arg * 100);
			break;
		}
	}
	/* Liveness on a clean link, unless acks were forged with the true keys. */
	for (unsigned i = 0; i < 100000 && !(F.rcvd[0] == FZ_NMSG && F.rcvd[1] == FZ_NMSG); i++)
		step(100000);
	if (!forged)
		TN_ASSERT(F.rcvd[0] == FZ_NMSG && F.rcvd[1] == FZ_NMSG);
	for (int i = 0; i < 2; i++)
		dp_rel_fini(&F.e[i]);
	return 0;
}
