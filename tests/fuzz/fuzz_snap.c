/* tests/fuzz/fuzz_snap.c: arbitrary bytes as a snapshot image.
 *
 * The decoder must never crash or read past the input (ASan), and whatever it
 * accepts must survive a round trip: re-encoding the decoded sessions and
 * nodes with snap.c's own encoder gives an image that decodes to the same
 * callback stream (compared by a running hash). Includes snap.c for the
 * static encoder.
 */
#include "store/snap.c"

#include <sys/mman.h>

struct fz {
	struct snap_out *o; /* re-encode into this, or NULL */
	uint64_t h;
	int err;
};

static void mix(uint64_t *h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		*h = (*h ^ b[i]) * 0x100000001b3ull;
}

static int fz_session(void *arg, uint64_t session, int32_t timeout_ms)
{
	struct fz *f = arg;
	mix(&f->h, &session, sizeof session);
	mix(&f->h, &timeout_ms, sizeof timeout_ms);
	if (!f->o)
		return 0;
	TN_ASSERT(scratch_reserve(f->o, 13) == 0);
	f->o->scratch[0] = SNAP_REC_SESSION;
	tn_store_be64(f->o->scratch + 1, session);
	tn_store_be32(f->o->scratch + 9, (uint32_t)timeout_ms);
	f->o->counts[0]++;
	return out_record(f->o, 13);
}

static int fz_node(void *arg, const char *path, const struct zstat *st, const uint8_t *data,
		   int32_t data_len, const struct zk_acl_list *acl)
{
	struct fz *f = arg;
	mix(&f->h, path, strlen(path) + 1);
	mix(&f->h, st, sizeof *st);
	mix(&f->h, &data_len, sizeof data_len);
	TN_ASSERT(data_len < 0 ? data == NULL : data != NULL);
	if (data_len > 0)
		mix(&f->h, data, (size_t)data_len);
	mix(&f->h, &acl->count, sizeof acl->count);
	for (int32_t i = 0; i < acl->count; i++) {
		mix(&f->h, &acl->v[i].perms, sizeof acl->v[i].perms);
		mix(&f->h, acl->v[i].id.scheme, strlen(acl->v[i].id.scheme) + 1);
		mix(&f->h, acl->v[i].id.id, strlen(acl->v[i].id.id) + 1);
	}
	if (!f->o)
		return 0;
	struct store_node_view v = { .stat = *st, .data = data, .data_len = data_len, .acl = acl };
	return out_node(f->o, path, &v);
}

static const struct snap_decode_cb fz_cb = { fz_session, fz_node };

/* Fix every CRC in @p so mutations reach the record parsers instead of
 * stopping at the first checksum (the raw input is decoded as well). */
static void repair_crcs(uint8_t *p, size_t len)
{
	if (len < SNAP_HDR_LEN)
		return;
	tn_store_be32(p + 28, tn_crc32c(p, 28));
	size_t off = SNAP_HDR_LEN;
	while (len - off >= SNAP_FRAME_LEN) {
		uint32_t n = tn_load_be32(p + off);
		if (n < 1 || n > len - off - SNAP_FRAME_LEN)
			return;
		uint8_t *body = p + off + SNAP_FRAME_LEN;
		if (body[0] == SNAP_REC_TRAILER && n == 29)
			tn_store_be32(body + 25, tn_crc32c(p, off));
		tn_store_be32(p + off + 4, tn_crc32c(body, n));
		off += SNAP_FRAME_LEN + n;
	}
}

static void check_one(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_one(data, size);
	uint8_t *copy = malloc(size ? size : 1);
	TN_ASSERT(copy != NULL);
	if (size)
		memcpy(copy, data, size);
	repair_crcs(copy, size);
	check_one(copy, size);
	free(copy);
	return 0;
}

static void check_one(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct snap_info info, info2;
	struct fz a = { 0 }, b = { 0 };
	if (snap_decode(data, size, &fz_cb, &a, &info, NULL, NULL) != 0)
		return;
	/* Accepted: re-encode (the decoder drives the encoder), then compare. */
	if (fd < 0)
		fd = memfd_create("fuzz_snap", 0);
	TN_ASSERT(fd >= 0 && ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0);
	struct snap_out o = { .fd = fd, .buf = malloc(SNAP_OUTBUF_BYTES) };
	TN_ASSERT(o.buf != NULL);
	b.o = &o;
	TN_ASSERT(out_header_trailer(&o, info.zxid, false) == 0);
	TN_ASSERT(snap_decode(data, size, &fz_cb, &b, NULL, NULL, NULL) == 0);
	TN_ASSERT(a.h == b.h);
	TN_ASSERT(out_header_trailer(&o, 0, true) == 0 && out_flush(&o) == 0);
	TN_ASSERT(o.counts[0] == info.sessions && o.counts[2] == info.nodes);
	TN_ASSERT(o.counts[1] <= info.acls); /* unused ACLs are not re-emitted */
	out_free(&o);
	off_t len = lseek(fd, 0, SEEK_END);
	uint8_t *img = malloc((size_t)len);
	TN_ASSERT(img && pread(fd, img, (size_t)len, 0) == len);
	struct fz c = { 0 };
	TN_ASSERT(snap_decode(img, (size_t)len, &fz_cb, &c, &info2, NULL, NULL) == 0);
	TN_ASSERT(c.h == a.h && info2.zxid == info.zxid && info2.nodes == info.nodes);
	free(img);
}
