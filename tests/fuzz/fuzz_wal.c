/* tests/fuzz/fuzz_wal.c: arbitrary bytes as a WAL segment image.
 *
 * wal_scan_buffer() must never read outside the input or crash, whatever it
 * holds; each record it accepts must re-encode (wal_rec_encode) to exactly
 * the bytes it was decoded from, and the scan's offsets must be consistent.
 * Also runs the single-record decoder at every 8-byte offset. The first input
 * byte picks a mode: < 128 uses the input as is; otherwise a valid header for
 * zxid 1 is prepended, so the fuzzer reaches the record parser quickly;
 * >= 192 also rewrites the body into valid records (CRCs fixed up) and then
 * flips one byte, so the torn-tail/corruption classifier sees real logs.
 */
#include <stdlib.h>
#include <string.h>

#include "common/tn_assert.h"
#include "store/wal_int.h"

struct check {
	const uint8_t *buf;
	size_t size;
	uint8_t *tmp;
	uint64_t records, prev_end;
};

static int recheck(void *arg, const struct wal_rec *r, uint64_t off)
{
	struct check *c = arg;
	size_t n = (size_t)wal_rec_size(r->len);
	TN_ASSERT(off >= c->prev_end && off % 8 == 0);
	TN_ASSERT(off + n <= c->size);
	TN_ASSERT(wal_rec_encode(c->tmp, r->zxid, r->batch_off, r->payload, r->len) == n);
	TN_ASSERT(memcmp(c->tmp, c->buf + off, n) == 0);
	c->prev_end = off + n;
	c->records++;
	return 0;
}

/* Turn the body into valid records (length and zxid from the bytes), then
 * damage one byte chosen by @pick. */
static void fixup(uint8_t *buf, size_t n, uint8_t *tmp, uint32_t pick)
{
	tn_zxid prev = 0;
	uint32_t batch = 0;
	size_t off = WAL_SEG_HDR_LEN;
	while (off + WAL_REC_HDR_LEN <= n) {
		uint32_t len = buf[off + 4] % 200u;
		if (off + wal_rec_size(len) > n)
			break;
		if (buf[off + 16] & 1)
			batch = (uint32_t)off; /* this record starts a new batch */
		memcpy(tmp, buf + off + WAL_REC_HDR_LEN, len);
		off += wal_rec_encode(buf + off, prev + 1, batch, tmp, len);
		prev++;
	}
	if (n > WAL_SEG_HDR_LEN && (pick & 1))
		buf[WAL_SEG_HDR_LEN + (pick >> 1) % (n - WAL_SEG_HDR_LEN)] ^=
		    (uint8_t)(1u + (pick >> 24));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || size > (1u << 20))
		return 0;
	bool with_hdr = data[0] >= 128;
	size_t n = size - 1 + (with_hdr ? WAL_SEG_HDR_LEN : 0);
	uint8_t *buf = malloc(n ? n : 1), *tmp = malloc(n + WAL_REC_HDR_LEN + 8);
	TN_ASSERT(buf && tmp);
	if (with_hdr)
		wal_seg_hdr_encode(buf, 1);
	memcpy(buf + (with_hdr ? WAL_SEG_HDR_LEN : 0), data + 1, size - 1);
	if (data[0] >= 192 && size >= 5)
		fixup(buf, n, tmp,
		      (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16 |
			  (uint32_t)data[4] << 24);

	struct check c = {buf, n, tmp, 0, WAL_SEG_HDR_LEN};
	struct wal_scan s;
	TN_ASSERT(wal_scan_buffer(buf, n, &s, recheck, &c) == 0);
	TN_ASSERT(s.nonzero_end <= n);
	if (s.status != WAL_SCAN_BADHDR) {
		TN_ASSERT(s.count == c.records);
		TN_ASSERT(s.end_off <= n &&
			  s.end_off == (c.records ? c.prev_end : WAL_SEG_HDR_LEN));
		TN_ASSERT(s.status != WAL_SCAN_CLEAN || s.end_off >= s.nonzero_end);
		TN_ASSERT(s.status != WAL_SCAN_CORRUPT || s.proof_off > s.bad_off);
	}
	for (size_t off = 0; off < n; off += 8) {
		struct wal_rec r;
		int64_t k = wal_rec_decode(buf, n, off, 0, &r);
		TN_ASSERT(k <= 0 || off + (size_t)k <= n);
	}
	free(tmp);
	free(buf);
	return 0;
}
