/* store/wal.c: the txn log's format, recovery, reading and append queue.
 *
 * Design. The log is a directory of preallocated segment files named by the
 * first zxid they hold. Records are framed (length, zxid, CRC32C) and 8-byte
 * aligned; the zero bytes of the preallocated region mark the end of the log.
 * The format table is in wal_int.h and docs/FORMATS.md.
 *
 * Appends from any thread are copied into the "fill" buffer under one mutex;
 * the log thread (wal_uring.c) swaps it out and writes it as one batch (one
 * write linked to one fdatasync) while new appends fill the other buffer. That
 * is group commit: everything appended during a flush goes out in the next.
 * A batch never spans segments, and every record carries the offset at which
 * its batch's write began ("batch offset").
 *
 * Torn tail or corruption? Only the last batch can be partly on disk after a
 * crash: a batch is written only after the previous one's fdatasync returned.
 * Its pages may land in any order, so the debris of a torn batch can hold
 * zeros followed by whole, valid records. The scanner finds the first bad
 * record at offset P and looks at every valid record after it:
 *   - all of them (if any) belong to one batch that began at or before P and
 *     not before the batch of the last good record: a torn tail. Recovery
 *     zeroes everything from P, so the next append is clean;
 *   - any of them belongs to a batch that began after P, or two different
 *     batches appear: a later batch was written after P was durable, so P was
 *     damaged on disk. wal_open refuses with -TN_ECORRUPT, naming file and P.
 * A torn tail is only possible in the last segment that holds records; damage
 * in an earlier segment is corruption. Trailing segments with no records (or
 * a torn header) are debris of a segment creation and are deleted.
 *
 * No clock here: fsync timing lives in the I/O backend (wal_uring.c).
 */
#include "store/wal_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/tn_assert.h"
#include "common/tn_crc32c.h"
#include "common/tn_fs.h"
#include "common/tn_err.h"
#include "common/tn_log.h"
#include "common/tn_rd.h"

#define ZERO_CHUNK 65536u

/* ---- format ---- */

size_t wal_rec_encode(uint8_t *buf, tn_zxid zxid, uint32_t batch_off, const void *payload,
		      uint32_t len)
{
	size_t size = (size_t)wal_rec_size(len);
	TN_ASSERT(zxid != 0);
	TN_ASSERT(len <= WAL_REC_MAX);
	tn_store_be32(buf + 4, len);
	tn_store_be64(buf + 8, zxid);
	tn_store_be32(buf + 16, batch_off);
	tn_store_be32(buf + 20, 0);
	if (len)
		memcpy(buf + WAL_REC_HDR_LEN, payload, len);
	memset(buf + WAL_REC_HDR_LEN + len, 0, size - WAL_REC_HDR_LEN - len);
	uint32_t crc = tn_crc32c_extend(tn_crc32c(buf + 4, WAL_REC_HDR_LEN - 4), payload, len);
	tn_store_be32(buf, crc);
	return size;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

int64_t wal_rec_decode(const uint8_t *buf, size_t size, size_t off, tn_zxid after,
		       struct wal_rec *out)
{
	if (off > size || size - off < WAL_REC_HDR_LEN)
		return all_zero(buf + TN_MIN(off, size), size - TN_MIN(off, size)) ? 0
										   : -TN_ECORRUPT;
	const uint8_t *h = buf + off;
	if (all_zero(h, WAL_REC_HDR_LEN))
		return 0;
	uint32_t len = tn_load_be32(h + 4);
	tn_zxid zxid = tn_load_be64(h + 8);
	if (len > WAL_REC_MAX || wal_rec_size(len) > size - off || zxid <= after ||
	    tn_load_be32(h + 20) != 0)
		return -TN_ECORRUPT;
	const uint8_t *payload = h + WAL_REC_HDR_LEN;
	uint64_t size_rec = wal_rec_size(len);
	if (!all_zero(payload + len, (size_t)size_rec - WAL_REC_HDR_LEN - len))
		return -TN_ECORRUPT;
	uint32_t crc = tn_crc32c_extend(tn_crc32c(h + 4, WAL_REC_HDR_LEN - 4), payload, len);
	if (crc != tn_load_be32(h))
		return -TN_ECORRUPT;
	out->zxid = zxid;
	out->len = len;
	out->batch_off = tn_load_be32(h + 16);
	out->payload = payload;
	return (int64_t)size_rec;
}

void wal_seg_hdr_encode(uint8_t *buf, tn_zxid first_zxid)
{
	TN_ASSERT(first_zxid != 0);
	memset(buf, 0, WAL_SEG_HDR_LEN);
	tn_store_be32(buf, WAL_MAGIC);
	tn_store_be32(buf + 4, WAL_VERSION);
	tn_store_be64(buf + 8, first_zxid);
	tn_store_be32(buf + 28, tn_crc32c(buf, 28));
}

int wal_seg_hdr_decode(const uint8_t *buf, size_t size, tn_zxid *first)
{
	if (size < WAL_SEG_HDR_LEN || tn_load_be32(buf) != WAL_MAGIC ||
	    tn_load_be32(buf + 4) != WAL_VERSION || tn_crc32c(buf, 28) != tn_load_be32(buf + 28))
		return -TN_ECORRUPT;
	if (!all_zero(buf + 16, 12) || tn_load_be64(buf + 8) == 0)
		return -TN_ECORRUPT;
	*first = tn_load_be64(buf + 8);
	return 0;
}

/* ---- the scanner ---- */

/* The offset just past the last nonzero byte. Scanned forward: segments are
 * mapped MADV_SEQUENTIAL, and a backward walk over a 64 MiB preallocated
 * segment makes every fault re-walk the readahead window (seconds per
 * restart, measured with perf on a restarted ensemble member). */
static uint64_t nonzero_end(const uint8_t *buf, size_t size)
{
	size_t n = 0, i = 0;
	for (; i + 8 <= size; i += 8) {
		uint64_t v;
		memcpy(&v, buf + i, 8);
		if (v)
			n = i + 8;
	}
	for (; i < size; i++)
		if (buf[i])
			n = i + 1;
	while (n > 0 && buf[n - 1] == 0)
		n--;
	return n;
}

/* Classify the bytes after the first bad record at @p (see the design note).
 * @last_batch: batch offset of the last good record (0 if none). @any: every
 * valid record is proof of corruption (used when the header is bad). */
static void scan_after_bad(const uint8_t *buf, size_t size, uint64_t p, tn_zxid last,
			   uint32_t last_batch, bool any, struct wal_scan *out)
{
	bool seen = false;
	uint32_t batch = 0;
	out->status = WAL_SCAN_TORN;
	for (uint64_t q = p + 8; q + WAL_REC_HDR_LEN <= size;) {
		const uint8_t *h = buf + q;
		struct wal_rec r;
		/* cheap filters before the CRC: most offsets fail them */
		if (tn_load_be64(h + 8) <= last || tn_load_be32(h + 16) > q ||
		    tn_load_be32(h + 4) > WAL_REC_MAX ||
		    wal_rec_decode(buf, size, q, last, &r) <= 0) {
			q += 8;
			continue;
		}
		if (any || r.batch_off > p || r.batch_off < last_batch ||
		    (seen && r.batch_off != batch)) {
			out->status = WAL_SCAN_CORRUPT;
			out->proof_off = q;
			return;
		}
		seen = true;
		batch = r.batch_off;
		q += wal_rec_size(r.len);
	}
}

int wal_scan_buffer(const uint8_t *buf, size_t size, struct wal_scan *out, wal_scan_fn fn,
		    void *arg)
{
	memset(out, 0, sizeof *out);
	out->nonzero_end = nonzero_end(buf, size);
	if (wal_seg_hdr_decode(buf, size, &out->first_zxid) < 0) {
		/* any valid record in the body means data is at stake */
		scan_after_bad(buf, size, 0, 0, 0, true, out);
		out->status = WAL_SCAN_BADHDR;
		return 0;
	}
	tn_zxid last = out->first_zxid - 1;
	uint32_t last_batch = 0;
	uint64_t off = WAL_SEG_HDR_LEN;
	for (;;) {
		struct wal_rec r;
		int64_t n = wal_rec_decode(buf, size, off, last, &r);
		if (n <= 0 || (out->count == 0 && r.zxid != out->first_zxid) || r.batch_off > off ||
		    r.batch_off < last_batch)
			break;
		if (fn) {
			int rc = fn(arg, &r, off);
			if (rc)
				return rc;
		}
		last = r.zxid;
		last_batch = r.batch_off;
		out->count++;
		off += (uint64_t)n;
	}
	out->last_zxid = last;
	out->end_off = out->bad_off = off;
	if (off >= out->nonzero_end)
		out->status = WAL_SCAN_CLEAN;
	else
		scan_after_bad(buf, size, off, last, last_batch, false, out);
	TN_ASSERT(out->end_off <= size || size < WAL_SEG_HDR_LEN);
	return 0;
}

/* ---- directory helpers ---- */

void wal_seg_path(char *buf, size_t cap, const char *dir, tn_zxid first)
{
	snprintf(buf, cap, "%s/log.%016" PRIx64, dir, first);
}

int wal_fsync_dir(const char *dir)
{
	return tn_fsync_dir(dir);
}

static int cmp_zxid(const void *a, const void *b)
{
	tn_zxid x = *(const tn_zxid *)a, y = *(const tn_zxid *)b;
	return x < y ? -1 : x > y;
}

/* Parse "log.<16 hex>" exactly; other names are not ours. */
static bool parse_seg_name(const char *name, tn_zxid *z)
{
	if (strncmp(name, "log.", 4) != 0 || strlen(name) != 20)
		return false;
	uint64_t v = 0;
	for (int i = 4; i < 20; i++) {
		char c = name[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*z = v;
	return v != 0;
}

int wal_seglist_load(const char *dir, struct wal_seglist *out)
{
	out->count = 0;
	out->first = NULL;
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	int rc = 0;
	uint32_t cap = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		tn_zxid z;
		if (!parse_seg_name(e->d_name, &z))
			continue;
		if (out->count == WAL_SEGMENTS_MAX) {
			rc = -TN_ELIMIT;
			break;
		}
		if (out->count == cap) {
			cap = cap ? cap * 2 : 16;
			tn_zxid *n = realloc(out->first, cap * sizeof *n);
			if (!n) {
				rc = -ENOMEM;
				break;
			}
			out->first = n;
		}
		out->first[out->count++] = z;
	}
	closedir(d);
	if (rc < 0) {
		wal_seglist_free(out);
		return rc;
	}
	if (out->count)
		qsort(out->first, out->count, sizeof *out->first, cmp_zxid);
	return 0;
}

void wal_seglist_free(struct wal_seglist *l)
{
	free(l->first);
	l->first = NULL;
	l->count = 0;
}

/* A read-only image of one segment file. */
struct seg_map {
	const uint8_t *p;
	size_t size;
};

static int seg_map_open(const char *path, struct seg_map *m)
{
	return tn_file_map(path, &m->p, &m->size);
}

static void seg_map_close(struct seg_map *m)
{
	tn_file_unmap(m->p, m->size);
	m->p = NULL;
	m->size = 0;
}

static const uint8_t empty_image[1];

static int scan_file(const char *path, struct wal_scan *out, wal_scan_fn fn, void *arg)
{
	struct seg_map m;
	int rc = seg_map_open(path, &m);
	if (rc < 0)
		return rc;
	rc = wal_scan_buffer(m.p ? m.p : empty_image, m.size, out, fn, arg);
	seg_map_close(&m);
	return rc;
}

/* Zero [@from, @to) of @path and make it durable. */
static int zero_range(const char *path, uint64_t from, uint64_t to)
{
	static const uint8_t zeros[ZERO_CHUNK];
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = 0;
	while (from < to && rc == 0) {
		size_t n = (size_t)TN_MIN(to - from, (uint64_t)ZERO_CHUNK);
		ssize_t k = pwrite(fd, zeros, n, (off_t)from);
		if (k < 0 && errno != EINTR)
			rc = -errno;
		else if (k > 0)
			from += (uint64_t)k;
	}
	if (rc == 0 && fdatasync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* Zero [@from, @to) of @path from the end backwards, each chunk durable
 * before the next. A crash midway leaves records, then zeros: a log that ends
 * cleanly. (Zeroing forwards could leave a hole followed by records of later
 * batches, which recovery must call corruption.) */
static int zero_range_backward(const char *path, uint64_t from, uint64_t to)
{
	const uint64_t chunk = 1u << 20;
	int rc = 0;
	for (unsigned i = 0; to > from && rc == 0 && i < 1u << 20; i++) {
		uint64_t lo = to - from > chunk ? to - chunk : from;
		rc = zero_range(path, lo, to);
		to = lo;
	}
	return rc;
}

/* ---- recovery ---- */

static int corrupt_at(const char *path, uint64_t off, const char *why)
{
	TN_ERROR("wal", "%s: corrupt at byte %" PRIu64 ": %s", path, off, why);
	return -TN_ECORRUPT;
}

/* Check segment @i against the rules; @tail is the last segment with records. */
static int recover_check_one(const char *path, const struct wal_scan *s, tn_zxid name, int64_t i,
			     int64_t tail, tn_zxid prev)
{
	if (i > tail) {
		/* past the tail: allowed only as debris of a segment creation */
		if (s->status == WAL_SCAN_BADHDR && s->proof_off)
			return corrupt_at(path, 0, "damaged header before valid records");
		if (s->status == WAL_SCAN_CORRUPT)
			return corrupt_at(path, s->bad_off, "bad record before durable records");
		return 0;
	}
	if (s->status == WAL_SCAN_BADHDR)
		return corrupt_at(path, 0, "damaged segment header before later records");
	if (s->first_zxid != name)
		return corrupt_at(path, 8, "header zxid does not match the file name");
	if (s->first_zxid <= prev)
		return corrupt_at(path, WAL_SEG_HDR_LEN, "zxid not above the previous segment");
	if (s->status == WAL_SCAN_CORRUPT)
		return corrupt_at(path, s->bad_off, "bad record before durable records");
	if (s->count == 0)
		return corrupt_at(path, WAL_SEG_HDR_LEN, "empty segment before later records");
	if (s->status == WAL_SCAN_TORN && i < tail)
		return corrupt_at(path, s->bad_off, "bad record before later segments");
	return 0;
}

/* Delete debris past @tail (newest first), zero the tail's torn end. */
static int recover_repair(const char *dir, const struct wal_seglist *l,
			  const struct wal_scan *scans, int64_t tail)
{
	char path[4096];
	int rc;
	bool deleted = false;
	for (int64_t i = (int64_t)l->count - 1; i > tail; i--) {
		wal_seg_path(path, sizeof path, dir, l->first[i]);
		TN_WARN("wal", "%s: removing a segment with no records", path);
		if (unlink(path) < 0)
			return -errno;
		deleted = true;
	}
	if (deleted && (rc = wal_fsync_dir(dir)) < 0)
		return rc;
	if (tail < 0)
		return 0;
	const struct wal_scan *s = &scans[tail];
	wal_seg_path(path, sizeof path, dir, l->first[tail]);
	if (s->nonzero_end > s->end_off) {
		TN_WARN("wal", "%s: torn tail at byte %" PRIu64 " zeroed (%" PRIu64 " bytes)", path,
			s->end_off, s->nonzero_end - s->end_off);
		if ((rc = zero_range(path, s->end_off, s->nonzero_end)) < 0)
			return rc;
	}
	return 0;
}

/* Scan every segment of @dir and decide; on success @tail is the index of the
 * last segment holding records (-1: none) and @scans[tail] describes it. */
static int recover_dir(const char *dir, struct wal_seglist *l, struct wal_scan **scans_out,
		       int64_t *tail)
{
	char path[4096];
	int rc = wal_seglist_load(dir, l);
	if (rc < 0)
		return rc;
	struct wal_scan *scans = calloc(l->count ? l->count : 1, sizeof *scans);
	if (!scans) {
		rc = -ENOMEM;
		goto fail_list;
	}
	*tail = -1;
	for (uint32_t i = 0; i < l->count; i++) {
		wal_seg_path(path, sizeof path, dir, l->first[i]);
		if ((rc = scan_file(path, &scans[i], NULL, NULL)) < 0)
			goto fail_scans;
		if (scans[i].status != WAL_SCAN_BADHDR && scans[i].count > 0)
			*tail = i;
	}
	tn_zxid prev = 0;
	for (uint32_t i = 0; i < l->count; i++) {
		wal_seg_path(path, sizeof path, dir, l->first[i]);
		if ((rc = recover_check_one(path, &scans[i], l->first[i], i, *tail, prev)) < 0)
			goto fail_scans;
		prev = scans[i].last_zxid;
	}
	*scans_out = scans;
	return 0;
fail_scans:
	free(scans);
fail_list:
	wal_seglist_free(l);
	return rc;
}

static int wal_recover(struct wal *w)
{
	struct wal_seglist l;
	struct wal_scan *scans;
	int64_t tail;
	int rc = recover_dir(w->dir, &l, &scans, &tail);
	if (rc < 0)
		return rc;
	if ((rc = recover_repair(w->dir, &l, scans, tail)) < 0)
		goto out;
	if (tail >= 0) {
		char path[4096];
		wal_seg_path(path, sizeof path, w->dir, l.first[tail]);
		w->fd = open(path, O_RDWR | O_CLOEXEC);
		if (w->fd < 0 || fdatasync(w->fd) < 0) {
			rc = -errno;
			goto out;
		}
		w->fd_first = w->seg_first = l.first[tail];
		w->seg_tail = scans[tail].end_off;
		w->last_zxid = w->durable_zxid = scans[tail].last_zxid;
		TN_ASSERT(w->seg_tail >= WAL_SEG_HDR_LEN + WAL_REC_HDR_LEN);
	}
out:
	free(scans);
	wal_seglist_free(&l);
	return rc;
}

/* ---- open, append, sync ---- */

static int cfg_check(struct wal_cfg *c)
{
	if (!c->dir)
		return -EINVAL;
	if (c->segment_bytes == 0)
		c->segment_bytes = WAL_SEGMENT_DEFAULT;
	if (c->batch_bytes_max == 0)
		c->batch_bytes_max = WAL_BATCH_DEFAULT;
	if (c->segment_bytes < WAL_SEGMENT_MIN || c->segment_bytes > UINT32_MAX ||
	    c->batch_bytes_max < WAL_BATCH_MIN)
		return -EINVAL;
	return 0;
}

static void wal_free(struct wal *w)
{
	if (w->fd >= 0)
		close(w->fd);
	free(w->bufs[0].data);
	free(w->bufs[1].data);
	free(w->dir);
	free(w);
}

int wal_open(struct wal **out, const struct wal_cfg *cfg, wal_cb cb, void *arg)
{
	struct wal *w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	w->cfg = *cfg;
	w->fd = -1;
	w->cb = cb;
	w->cb_arg = arg;
	w->faults.eio_after_batches = -1;
	int rc = cfg_check(&w->cfg);
	if (rc < 0)
		goto fail;
	w->dir = strdup(cfg->dir);
	rc = -ENOMEM;
	if (!w->dir)
		goto fail;
	w->cfg.dir = w->dir;
	for (int i = 0; i < 2; i++) {
		w->bufs[i].cap = w->cfg.batch_bytes_max;
		if (!(w->bufs[i].data = malloc(w->bufs[i].cap)))
			goto fail;
	}
	w->fill = &w->bufs[0];
	if ((rc = tn_mkdir_p(w->dir)) < 0 || (rc = wal_recover(w)) < 0)
		goto fail;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work_cv, NULL);
	pthread_cond_init(&w->space_cv, NULL);
	pthread_cond_init(&w->done_cv, NULL);
	if ((rc = wal_io_start(w)) < 0)
		goto fail_sync;
	*out = w;
	return 0;
fail_sync:
	pthread_cond_destroy(&w->done_cv);
	pthread_cond_destroy(&w->space_cv);
	pthread_cond_destroy(&w->work_cv);
	pthread_mutex_destroy(&w->mu);
fail:
	wal_free(w);
	return rc;
}

void wal_close(struct wal *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_cond_broadcast(&w->work_cv);
	pthread_cond_broadcast(&w->space_cv);
	pthread_mutex_unlock(&w->mu);
	wal_io_stop(w); /* drains the fill buffer, joins the thread */
	TN_ASSERT(w->fill->len == 0);
	pthread_cond_destroy(&w->done_cv);
	pthread_cond_destroy(&w->space_cv);
	pthread_cond_destroy(&w->work_cv);
	pthread_mutex_destroy(&w->mu);
	wal_free(w);
}

tn_zxid wal_last_zxid(struct wal *w)
{
	pthread_mutex_lock(&w->mu);
	tn_zxid z = w->last_zxid;
	pthread_mutex_unlock(&w->mu);
	return z;
}

static uint32_t rec_max(const struct wal *w)
{
	uint64_t m = TN_MIN(w->cfg.segment_bytes, (uint64_t)w->cfg.batch_bytes_max);
	m -= WAL_SEG_HDR_LEN + WAL_REC_HDR_LEN;
	return (uint32_t)TN_MIN(m, (uint64_t)WAL_REC_MAX);
}

/* Under mu: 1 if the record can go into the fill buffer now, 0 to wait. */
static int append_room(struct wal *w, uint64_t size, bool *new_seg)
{
	struct wal_buf *b = w->fill;
	*new_seg = w->seg_tail == 0 || w->roll || w->seg_tail + size > w->cfg.segment_bytes;
	if (*new_seg)
		return b->len == 0; /* a batch never spans segments */
	return b->len + size <= b->cap;
}

/* Under mu: start the fill buffer at the current tail (or a new segment). */
static void fill_begin(struct wal *w, tn_zxid zxid, bool new_seg)
{
	struct wal_buf *b = w->fill;
	TN_ASSERT(b->len == 0 && b->records == 0);
	b->new_seg = new_seg;
	if (new_seg) {
		wal_seg_hdr_encode(b->data, zxid);
		b->len = WAL_SEG_HDR_LEN;
		b->file_off = 0;
		w->seg_first = zxid;
		w->seg_tail = WAL_SEG_HDR_LEN;
		w->roll = false;
	} else {
		b->file_off = w->seg_tail;
	}
	b->seg_first = w->seg_first;
}

int wal_append(struct wal *w, tn_zxid zxid, const void *rec, uint32_t len)
{
	if (len > rec_max(w))
		return -TN_ELIMIT;
	uint64_t size = wal_rec_size(len);
	int rc = 0;
	bool new_seg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		if (w->stopping) {
			rc = -TN_ESHUTDOWN;
			goto out;
		}
		if (w->err) {
			rc = -EIO;
			goto out;
		}
		if (zxid <= w->last_zxid) {
			rc = -EINVAL;
			goto out;
		}
		if (append_room(w, size, &new_seg))
			break;
		pthread_cond_wait(&w->space_cv, &w->mu);
	}
	struct wal_buf *b = w->fill;
	if (b->len == 0)
		fill_begin(w, zxid, new_seg);
	TN_ASSERT(b->len + size <= b->cap);
	TN_ASSERT(b->file_off + b->len == w->seg_tail);
	wal_rec_encode(b->data + b->len, zxid, (uint32_t)b->file_off, rec, len);
	b->len += size;
	b->records++;
	b->last_zxid = zxid;
	w->seg_tail += size;
	w->last_zxid = zxid;
	w->stats.records++;
	w->stats.bytes += size;
	pthread_cond_signal(&w->work_cv);
out:
	pthread_mutex_unlock(&w->mu);
	return rc;
}

int wal_sync(struct wal *w)
{
	pthread_mutex_lock(&w->mu);
	tn_zxid target = w->last_zxid;
	while (w->durable_zxid < target && !w->err)
		pthread_cond_wait(&w->done_cv, &w->mu);
	int rc = w->durable_zxid >= target ? 0 : -EIO;
	pthread_mutex_unlock(&w->mu);
	return rc;
}

void wal_roll(struct wal *w)
{
	pthread_mutex_lock(&w->mu);
	w->roll = true;
	pthread_mutex_unlock(&w->mu);
}

void wal_stats(struct wal *w, struct wal_stats *out)
{
	pthread_mutex_lock(&w->mu);
	*out = w->stats;
	pthread_mutex_unlock(&w->mu);
}

/* ---- reading ---- */

struct wal_iter {
	char *dir;
	struct wal_seglist l;
	uint32_t idx;       /* segment being read */
	tn_zxid from, prev; /* prev: zxid of the last record passed */
	struct seg_map m;
	struct wal_scan scan; /* of segment idx, taken when it was loaded */
	uint64_t off;
	bool loaded, done;
};

int wal_iter_open(struct wal_iter **out, const char *dir, tn_zxid from)
{
	struct wal_iter *it = calloc(1, sizeof *it);
	if (!it)
		return -ENOMEM;
	int rc = -ENOMEM;
	if (!(it->dir = strdup(dir)))
		goto fail;
	if ((rc = wal_seglist_load(dir, &it->l)) < 0)
		goto fail;
	it->from = from;
	/* segment i holds only zxids below first[i + 1]: skip those below @from */
	while (it->idx + 1 < it->l.count && it->l.first[it->idx + 1] <= from)
		it->idx++;
	it->done = it->l.count == 0;
	*out = it;
	return 0;
fail:
	free(it->dir);
	free(it);
	return rc;
}

/* True if a segment after @it->idx holds records (so damage at idx is not a tail). */
static int later_has_records(struct wal_iter *it, bool *yes)
{
	char path[4096];
	*yes = false;
	for (uint32_t j = it->idx + 1; j < it->l.count && !*yes; j++) {
		struct wal_scan s;
		wal_seg_path(path, sizeof path, it->dir, it->l.first[j]);
		int rc = scan_file(path, &s, NULL, NULL);
		if (rc < 0)
			return rc;
		*yes = s.status == WAL_SCAN_BADHDR ? s.proof_off != 0 : s.count > 0;
	}
	return 0;
}

static int iter_load(struct wal_iter *it)
{
	char path[4096];
	wal_seg_path(path, sizeof path, it->dir, it->l.first[it->idx]);
	int rc = seg_map_open(path, &it->m);
	if (rc < 0)
		return rc;
	struct wal_scan *s = &it->scan;
	wal_scan_buffer(it->m.p ? it->m.p : empty_image, it->m.size, s, NULL, NULL);
	it->loaded = true;
	it->off = WAL_SEG_HDR_LEN;
	/* a tail-like state is fine only if no later segment holds records
	 * (that check reads the later files, so only when it matters) */
	bool tail_like =
	    s->status == WAL_SCAN_BADHDR || s->status == WAL_SCAN_TORN || s->count == 0;
	bool later = false;
	if (tail_like && (rc = later_has_records(it, &later)) < 0)
		return rc;
	if (s->status == WAL_SCAN_BADHDR) {
		if (later || s->proof_off)
			return corrupt_at(path, 0, "damaged segment header");
		it->done = true; /* debris of a segment creation */
		return 0;
	}
	if (s->status == WAL_SCAN_CORRUPT)
		return corrupt_at(path, s->bad_off, "bad record before durable records");
	if (s->first_zxid != it->l.first[it->idx] || s->first_zxid <= it->prev)
		return corrupt_at(path, 8, "segment zxid out of order");
	if (later)
		return corrupt_at(path, s->bad_off, "bad record before later segments");
	return 0;
}

int wal_iter_next(struct wal_iter *it, tn_zxid *zxid, const uint8_t **rec, uint32_t *len)
{
	/* each segment takes at most two turns: load, then move on */
	for (uint64_t guard = 0; guard <= 2ull * it->l.count + 2; guard++) {
		if (it->done)
			return 0;
		if (!it->loaded) {
			int rc = iter_load(it);
			if (rc < 0)
				return rc;
			continue;
		}
		while (it->off < it->scan.end_off) {
			struct wal_rec r;
			int64_t n = wal_rec_decode(it->m.p, it->m.size, it->off, it->prev, &r);
			if (n <= 0) /* the file changed under us after the scan */
				return corrupt_at(it->dir, it->off, "segment changed while read");
			it->off += (uint64_t)n;
			it->prev = r.zxid;
			if (r.zxid < it->from)
				continue;
			*zxid = r.zxid;
			*rec = r.payload;
			*len = r.len;
			return 1;
		}
		if (it->scan.status != WAL_SCAN_CLEAN || it->idx + 1 >= it->l.count) {
			it->done = true;
			continue;
		}
		seg_map_close(&it->m);
		it->loaded = false;
		it->idx++;
	}
	return 0;
}

void wal_iter_close(struct wal_iter *it)
{
	if (!it)
		return;
	seg_map_close(&it->m);
	wal_seglist_free(&it->l);
	free(it->dir);
	free(it);
}

/* ---- purge and truncate ---- */

int wal_purge(const char *dir, tn_zxid keep_zxid)
{
	struct wal_seglist l;
	char path[4096];
	int rc = wal_seglist_load(dir, &l), n = 0;
	if (rc < 0)
		return rc;
	/* oldest first, so a crash midway leaves a contiguous log */
	for (uint32_t i = 0; i + 1 < l.count && l.first[i + 1] <= keep_zxid; i++) {
		wal_seg_path(path, sizeof path, dir, l.first[i]);
		if (unlink(path) < 0) {
			rc = -errno;
			break;
		}
		n++;
	}
	wal_seglist_free(&l);
	if (n > 0 && rc == 0)
		rc = wal_fsync_dir(dir);
	return rc < 0 ? rc : n;
}

struct cut_state {
	tn_zxid zxid;
	uint64_t off;
};

static int find_cut(void *arg, const struct wal_rec *r, uint64_t off)
{
	struct cut_state *c = arg;
	if (r->zxid <= c->zxid)
		return 0;
	c->off = off;
	return 1;
}

/* Zero every record above @zxid in the segment @path (the last one). */
static int truncate_segment(const char *path, tn_zxid zxid)
{
	struct seg_map m;
	struct wal_scan s;
	struct cut_state c = {zxid, 0};
	int rc = seg_map_open(path, &m);
	if (rc < 0)
		return rc;
	rc = wal_scan_buffer(m.p ? m.p : empty_image, m.size, &s, find_cut, &c);
	seg_map_close(&m);
	if (rc == 0) { /* no record above @zxid: cut at the end of the good ones */
		if (s.status == WAL_SCAN_CORRUPT || s.status == WAL_SCAN_BADHDR)
			return corrupt_at(path, s.bad_off, "damaged segment");
		c.off = s.end_off;
	}
	TN_ASSERT(c.off >= WAL_SEG_HDR_LEN);
	return s.nonzero_end > c.off ? zero_range_backward(path, c.off, s.nonzero_end) : 0;
}

int wal_truncate(const char *dir, tn_zxid zxid)
{
	struct wal_seglist l;
	char path[4096];
	int rc = wal_seglist_load(dir, &l);
	if (rc < 0)
		return rc;
	/* newest first: a crash midway leaves a log that ends cleanly */
	uint32_t n = l.count;
	while (n > 0 && l.first[n - 1] > zxid) {
		wal_seg_path(path, sizeof path, dir, l.first[--n]);
		if (unlink(path) < 0) {
			rc = -errno;
			goto out;
		}
	}
	if (n < l.count && (rc = wal_fsync_dir(dir)) < 0)
		goto out;
	if (n > 0) {
		wal_seg_path(path, sizeof path, dir, l.first[n - 1]);
		rc = truncate_segment(path, zxid);
	}
out:
	wal_seglist_free(&l);
	return rc;
}
