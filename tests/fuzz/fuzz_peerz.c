/* tests/fuzz/fuzz_peerz.c: libFuzzer target for the zstd frames of the peer
 * links (mgmt/peer.c: zframe_queue / zframe_decode).
 *
 * The first input byte picks a mode:
 * - even: round trip. The rest is cut into messages (a length byte, then
 *   that many bytes, repeated to make them compressible); each one goes
 *   through one link's compression stream and back through a decoder, and
 *   must come out byte for byte. Stream history spans the messages, as on a
 *   real link.
 * - odd: hostile. The rest is fed, as a run of compressed frame bodies, to
 *   a fresh decoder: it must fail cleanly or produce exactly the raw length
 *   the frame claims, never reading or writing out of bounds.
 */
#include <stdlib.h>
#include <string.h>

#include "mgmt/peer.c"

#define FZ_MSG_MAX 4096u
#define FZ_OUT_MAX 65536u

static void round_trip(const uint8_t *p, size_t n)
{
	struct peer_net pn = { .z_level = 1 };
	struct link tx = { .fd = -1 }, rx = { .fd = -1 };
	static uint8_t msg[FZ_MSG_MAX], out[FZ_MSG_MAX];

	TN_ASSERT(zlink_start(&pn, &tx) == 0);
	TN_ASSERT(zlink_start(&pn, &rx) == 0);
	while (n > 0) {
		size_t len = (size_t)p[0] * 16u, src = n - 1 < 255 ? n - 1 : 255;
		p++;
		n--;
		if (len > FZ_MSG_MAX)
			len = FZ_MSG_MAX;
		for (size_t i = 0; i < len; i++)
			msg[i] = src ? p[i % src] : (uint8_t)i;
		p += src;
		n -= src;
		TN_ASSERT(zframe_queue(&tx, msg, len) == 0);
		/* the frame just queued: length word (zstd bit), then the body */
		uint32_t w = tn_load_be32(tx.out.p + tx.out.head);
		TN_ASSERT(w & PEER_FRAME_ZSTD);
		w &= ~PEER_FRAME_ZSTD;
		TN_ASSERT(buf_len(&tx.out) == 4u + w);
		long got = zframe_decode(rx.zd, tx.out.p + tx.out.head + 4, w, out, sizeof out);
		TN_ASSERT(got == (long)len);
		TN_ASSERT(memcmp(out, msg, len) == 0);
		tx.out.head = tx.out.tail = 0;
	}
	zlink_reset(&tx);
	zlink_reset(&rx);
	buf_free(&tx.out);
}

static void hostile(const uint8_t *p, size_t n)
{
	struct peer_net pn = { .z_level = 1 };
	struct link rx = { .fd = -1 };
	static uint8_t out[FZ_OUT_MAX];

	TN_ASSERT(zlink_start(&pn, &rx) == 0);
	while (n >= 2) {
		size_t len = ((size_t)p[0] << 8 | p[1]) % (n - 1);
		p += 2;
		n -= 2;
		/* a copy of exactly @len bytes, so ASan sees any over-read */
		uint8_t *body = malloc(len ? len : 1);
		TN_ASSERT(body);
		memcpy(body, p, len);
		long got = zframe_decode(rx.zd, body, len, out, sizeof out);
		free(body);
		TN_ASSERT(got < 0 || (len >= 4 && got == (long)tn_load_be32(p)));
		p += len;
		n -= len;
		if (got < 0)
			break;      /* a link closes at its first bad frame */
	}
	zlink_reset(&rx);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	tn_log_set_level(TN_LOG_ERROR);   /* zlink_start's line, per run, is noise */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		hostile(data + 1, size - 1);
	else
		round_trip(data + 1, size - 1);
	return 0;
}
