/* tests/unit/test_store_wal.c. Description: the txn log: append/sync/reopen/
 * iterate round trips, many segments, group commit batching under concurrent
 * appenders, torn tails cut at several points (zeros, garbage, out-of-order
 * pages), corruption before the tail, preallocated zero regions and segment
 * debris, purge, truncate, monotonic callbacks, -EINVAL/-TN_ELIMIT/-EIO paths
 * and short writes. Includes the files under test (statics and hooks in reach). */
#include "store/wal.c"
#include "store/wal_uring.c"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "tests/lib/tn_test.h"
#include "tests/lib/tn_tmpdir.h"

static char dir[256];

static int setup(void)
{
	tn_log_set_level(TN_LOG_ERROR); /* expected warnings stay quiet */
	return tn_tmpdir_make(dir, sizeof dir, "wal") ? 0 : -1;
}

static void fresh_dir(void)
{
	tn_tmpdir_remove(dir);
	TN_ASSERT(tn_tmpdir_make(dir, sizeof dir, "wal"));
}

static int teardown(void)
{
	tn_tmpdir_remove(dir);
	return 0;
}

/* Deterministic payload: length and bytes derived from the zxid. */
static uint32_t payload_len(tn_zxid z)
{
	return (uint32_t)(z * 37u % 301u);
}

static void payload_fill(tn_zxid z, uint8_t *buf, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(z * 131u + i * 7u);
}

/* Callback state: durable zxids must only go up. */
struct cbs {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	tn_zxid durable;
	int err;
	int calls;
	bool non_monotonic;
};

static struct cbs cbs;

static void cbs_reset(void)
{
	pthread_mutex_lock(&cbs.mu);
	cbs.durable = 0;
	cbs.err = 0;
	cbs.calls = 0;
	cbs.non_monotonic = false;
	pthread_mutex_unlock(&cbs.mu);
}

static void on_durable(void *arg, tn_zxid z, int err)
{
	(void)arg;
	pthread_mutex_lock(&cbs.mu);
	if (err < 0) {
		cbs.err = err;
	} else {
		if (z <= cbs.durable)
			cbs.non_monotonic = true;
		cbs.durable = z;
	}
	cbs.calls++;
	pthread_cond_broadcast(&cbs.cv);
	pthread_mutex_unlock(&cbs.mu);
}

static struct wal_cfg mkcfg(uint64_t seg)
{
	return (struct wal_cfg){
	    .dir = dir, .segment_bytes = seg, .force_sync = true, .batch_bytes_max = 65536};
}

static struct wal *open_ok(uint64_t seg)
{
	struct wal *w = NULL;
	struct wal_cfg c = mkcfg(seg);
	int rc = wal_open(&w, &c, on_durable, NULL);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	return w;
}

static int append_z(struct wal *w, tn_zxid z)
{
	uint8_t buf[512];
	uint32_t len = payload_len(z);
	payload_fill(z, buf, len);
	return wal_append(w, z, buf, len);
}

/* Append [lo, hi], optionally syncing after each (one batch per record). */
static void append_range(struct wal *w, tn_zxid lo, tn_zxid hi, bool sync_each)
{
	for (tn_zxid z = lo; z <= hi; z++) {
		CU_ASSERT_EQUAL(append_z(w, z), 0);
		if (sync_each)
			CU_ASSERT_EQUAL(wal_sync(w), 0);
	}
	CU_ASSERT_EQUAL(wal_sync(w), 0);
}

/* Iterate from @from; check every record is lo.. consecutive with its payload.
 * Return the number read, or the iterator's error. */
static int64_t check_iter(tn_zxid from, tn_zxid expect_first)
{
	struct wal_iter *it;
	if (wal_iter_open(&it, dir, from) < 0)
		return -1;
	tn_zxid z, want = expect_first;
	const uint8_t *rec;
	uint32_t len;
	int64_t n = 0;
	int rc;
	uint8_t buf[512];
	while ((rc = wal_iter_next(it, &z, &rec, &len)) == 1 && n < 1000000) {
		CU_ASSERT_EQUAL(z, want);
		CU_ASSERT_EQUAL(len, payload_len(z));
		payload_fill(z, buf, len);
		CU_ASSERT_EQUAL(memcmp(buf, rec, len), 0);
		want = z + 1;
		n++;
	}
	wal_iter_close(it);
	return rc < 0 ? rc : n;
}

static void test_roundtrip(void)
{
	fresh_dir();
	cbs_reset();
	struct wal *w = open_ok(1 << 20);
	CU_ASSERT_EQUAL(wal_last_zxid(w), 0u);
	append_range(w, 1, 100, false);
	CU_ASSERT_EQUAL(wal_last_zxid(w), 100u);
	CU_ASSERT_EQUAL(append_z(w, 100), -EINVAL);
	CU_ASSERT_EQUAL(append_z(w, 7), -EINVAL);
	uint8_t big[1];
	CU_ASSERT_EQUAL(wal_append(w, 101, big, (1 << 20)), -TN_ELIMIT);
	wal_close(w);
	CU_ASSERT_EQUAL(cbs.durable, 100u);
	CU_ASSERT_FALSE(cbs.non_monotonic);

	w = open_ok(1 << 20);
	CU_ASSERT_EQUAL(wal_last_zxid(w), 100u);
	CU_ASSERT_EQUAL(append_z(w, 100), -EINVAL);
	append_range(w, 101, 120, true);
	wal_close(w);
	CU_ASSERT_EQUAL(check_iter(1, 1), 120);
	CU_ASSERT_EQUAL(check_iter(50, 50), 71);
	CU_ASSERT_EQUAL(check_iter(121, 0), 0);
	/* preallocated to the segment size; the rest reads as zeros */
	char path[512];
	wal_seg_path(path, sizeof path, dir, 1);
	struct stat st;
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL((uint64_t)st.st_size, 1u << 20);
}

static void test_bad_cfg(void)
{
	struct wal *w;
	struct wal_cfg c = mkcfg(100); /* below WAL_SEGMENT_MIN */
	CU_ASSERT_EQUAL(wal_open(&w, &c, on_durable, NULL), -EINVAL);
	c = mkcfg(1ull << 33);
	CU_ASSERT_EQUAL(wal_open(&w, &c, on_durable, NULL), -EINVAL);
	c = mkcfg(0);
	c.dir = NULL;
	CU_ASSERT_EQUAL(wal_open(&w, &c, on_durable, NULL), -EINVAL);
}

static uint32_t count_segments(void)
{
	struct wal_seglist l;
	if (wal_seglist_load(dir, &l) < 0)
		return 0;
	uint32_t n = l.count;
	wal_seglist_free(&l);
	return n;
}

static void test_many_segments(void)
{
	fresh_dir();
	cbs_reset();
	struct wal *w = open_ok(4096);
	append_range(w, 1, 400, false);
	append_range(w, 401, 440, true);
	wal_close(w);
	uint32_t segs = count_segments();
	CU_ASSERT(segs >= 15);
	w = open_ok(4096);
	CU_ASSERT_EQUAL(wal_last_zxid(w), 440u);
	wal_roll(w);
	append_range(w, 441, 441, false);
	wal_close(w);
	CU_ASSERT_EQUAL(count_segments(), segs + 1);
	char path[512];
	wal_seg_path(path, sizeof path, dir, 441);
	CU_ASSERT_EQUAL(access(path, F_OK), 0);
	CU_ASSERT_EQUAL(check_iter(1, 1), 441);
	CU_ASSERT_EQUAL(check_iter(300, 300), 142);
}

/* ---- group commit ---- */

#define GC_THREADS 8
#define GC_PER_THREAD 150

static pthread_mutex_t order_mu = PTHREAD_MUTEX_INITIALIZER;
static tn_zxid next_zxid;

static void *gc_worker(void *arg)
{
	struct wal *w = arg;
	for (int i = 0; i < GC_PER_THREAD; i++) {
		pthread_mutex_lock(&order_mu); /* zxid order = append order */
		tn_zxid z = ++next_zxid;
		int rc = append_z(w, z);
		pthread_mutex_unlock(&order_mu);
		if (rc < 0)
			return (void *)1;
		pthread_mutex_lock(&cbs.mu); /* a client waiting for its commit */
		while (cbs.durable < z && !cbs.err)
			pthread_cond_wait(&cbs.cv, &cbs.mu);
		pthread_mutex_unlock(&cbs.mu);
	}
	return NULL;
}

static void test_group_commit(void)
{
	fresh_dir();
	cbs_reset();
	next_zxid = 0;
	struct wal *w = open_ok(1 << 20);
	pthread_t t[GC_THREADS];
	for (int i = 0; i < GC_THREADS; i++)
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, gc_worker, w), 0);
	int bad = 0;
	for (int i = 0; i < GC_THREADS; i++) {
		void *r;
		pthread_join(t[i], &r);
		bad += r != NULL;
	}
	CU_ASSERT_EQUAL(bad, 0);
	struct wal_stats st;
	wal_stats(w, &st);
	wal_close(w);
	CU_ASSERT_EQUAL(st.records, (uint64_t)GC_THREADS * GC_PER_THREAD);
	CU_ASSERT(st.batches < st.records);
	CU_ASSERT_EQUAL(st.fsyncs, st.batches);
	CU_ASSERT_FALSE(cbs.non_monotonic);
	CU_ASSERT_EQUAL(cbs.durable, (tn_zxid)GC_THREADS * GC_PER_THREAD);
	CU_ASSERT_EQUAL(check_iter(1, 1), GC_THREADS * GC_PER_THREAD);
	printf("\n  group commit: %llu records in %llu batches ", (unsigned long long)st.records,
	       (unsigned long long)st.batches);
}

/* ---- torn tails and corruption ---- */

struct offs {
	uint64_t off[1024];
	tn_zxid zxid[1024];
	uint32_t n;
};

static int collect(void *arg, const struct wal_rec *r, uint64_t off)
{
	struct offs *o = arg;
	if (o->n < 1024) {
		o->off[o->n] = off;
		o->zxid[o->n++] = r->zxid;
	}
	return 0;
}

static void seg_offsets(tn_zxid first, struct offs *o)
{
	char path[512];
	struct wal_scan s;
	o->n = 0;
	wal_seg_path(path, sizeof path, dir, first);
	CU_ASSERT_EQUAL(scan_file(path, &s, collect, o), 0);
}

static void patch(tn_zxid first, uint64_t off, const void *p, size_t n)
{
	char path[512];
	wal_seg_path(path, sizeof path, dir, first);
	int fd = open(path, O_WRONLY);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(pwrite(fd, p, n, (off_t)off), (ssize_t)n);
	close(fd);
}

static void zero_from(tn_zxid first, uint64_t off, uint64_t to)
{
	static const uint8_t z[65536];
	while (off < to) {
		size_t n = (size_t)TN_MIN(to - off, (uint64_t)sizeof z);
		patch(first, off, z, n);
		off += n;
	}
}

/* 1..10 one batch each, then 11..20 in one batch: the last batch is 11..20. */
static void make_log(void)
{
	fresh_dir();
	cbs_reset();
	struct wal *w = open_ok(1 << 16);
	append_range(w, 1, 10, true);
	append_range(w, 11, 20, false);
	wal_close(w);
}

/* After recovery the log must hold exactly 1..@last and take new appends. */
static void expect_recovered(tn_zxid last)
{
	struct wal *w = open_ok(1 << 16);
	CU_ASSERT_EQUAL(wal_last_zxid(w), last);
	append_range(w, last + 1, last + 3, false);
	wal_close(w);
	CU_ASSERT_EQUAL(check_iter(1, 1), (int64_t)last + 3);
	w = open_ok(1 << 16); /* and the repaired log reopens clean */
	CU_ASSERT_EQUAL(wal_last_zxid(w), last + 3);
	wal_close(w);
}

static void test_torn_tail_cuts(void)
{
	struct offs o;
	make_log();
	seg_offsets(1, &o);
	CU_ASSERT_EQUAL_FATAL(o.n, 20u);
	uint64_t end = o.off[19] + wal_rec_size(payload_len(20));
	/* cut inside the last header, inside its payload, at its start */
	/* ... and its last payload byte (the padding after it is zero anyway) */
	uint64_t cuts[] = {o.off[19] + 5, o.off[19] + WAL_REC_HDR_LEN + 3, o.off[19],
			   o.off[19] + WAL_REC_HDR_LEN + payload_len(20) - 1};
	for (unsigned i = 0; i < TN_ARRAY_LEN(cuts); i++) {
		make_log();
		zero_from(1, cuts[i], end);
		expect_recovered(19);
	}
	/* garbage (not zeros) in the last record: bad CRC on the last record */
	make_log();
	uint8_t junk[16];
	memset(junk, 0xa5, sizeof junk);
	patch(1, o.off[19] + WAL_REC_HDR_LEN, junk, sizeof junk);
	expect_recovered(19);
	/* pages of the last batch landed out of order: a hole, then valid records */
	make_log();
	zero_from(1, o.off[13], o.off[14]);
	expect_recovered(13);
	/* the whole last batch lost */
	make_log();
	zero_from(1, o.off[10], end);
	expect_recovered(10);
}

static void test_corrupt_before_tail(void)
{
	struct offs o;
	make_log();
	seg_offsets(1, &o);
	uint8_t b;
	/* flip one bit in record 5's payload: records of later batches follow */
	char path[512];
	wal_seg_path(path, sizeof path, dir, 1);
	int fd = open(path, O_RDWR);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(pread(fd, &b, 1, (off_t)(o.off[4] + WAL_REC_HDR_LEN + 1)), 1);
	b ^= 0x10;
	CU_ASSERT_EQUAL(pwrite(fd, &b, 1, (off_t)(o.off[4] + WAL_REC_HDR_LEN + 1)), 1);
	close(fd);
	struct wal *w = NULL;
	struct wal_cfg c = mkcfg(1 << 16);
	CU_ASSERT_EQUAL(wal_open(&w, &c, on_durable, NULL), -TN_ECORRUPT);
	CU_ASSERT_EQUAL(check_iter(1, 1), -TN_ECORRUPT);
	/* a zeroed record before durable ones is corruption too */
	make_log();
	zero_from(1, o.off[2], o.off[3]);
	CU_ASSERT_EQUAL(wal_open(&w, &c, on_durable, NULL), -TN_ECORRUPT);
}

static void test_corrupt_earlier_segment(void)
{
	fresh_dir();
	cbs_reset();
	struct wal *w = open_ok(4096);
	append_range(w, 1, 200, false);
	wal_close(w);
	struct offs o;
	seg_offsets(1, &o);
	CU_ASSERT_FATAL(o.n > 2);
	/* damage the LAST record of the first segment: later segments hold records */
	uint8_t junk = 0x5a;
	patch(1, o.off[o.n - 1] + 9, &junk, 1);
	struct wal_cfg c = mkcfg(4096);
	CU_ASSERT_EQUAL(wal_open(&w, &c, on_durable, NULL), -TN_ECORRUPT);
	CU_ASSERT_EQUAL(check_iter(1, 1), -TN_ECORRUPT);
}

static void test_segment_debris(void)
{
	make_log();
	/* a created but never written segment (zeros) and one with a torn header */
	char path[512];
	wal_seg_path(path, sizeof path, dir, 21);
	int fd = open(path, O_CREAT | O_WRONLY, 0644);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(ftruncate(fd, 65536), 0);
	close(fd);
	wal_seg_path(path, sizeof path, dir, 22);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	CU_ASSERT_FATAL(fd >= 0);
	uint8_t hdr[WAL_SEG_HDR_LEN];
	wal_seg_hdr_encode(hdr, 22);
	CU_ASSERT_EQUAL(write(fd, hdr, 20), 20); /* torn: CRC missing */
	close(fd);
	CU_ASSERT_EQUAL(check_iter(1, 1), 20);
	struct wal *w = open_ok(1 << 16);
	CU_ASSERT_EQUAL(wal_last_zxid(w), 20u);
	wal_close(w);
	CU_ASSERT_EQUAL(count_segments(), 1u);
}

static void test_purge_truncate(void)
{
	fresh_dir();
	cbs_reset();
	struct wal *w = open_ok(4096);
	append_range(w, 1, 300, false);
	wal_close(w);
	struct wal_seglist l;
	CU_ASSERT_EQUAL_FATAL(wal_seglist_load(dir, &l), 0);
	CU_ASSERT_FATAL(l.count > 4);
	tn_zxid keep = l.first[3] + 1; /* inside segment 3 */
	uint32_t before = l.count;
	wal_seglist_free(&l);
	CU_ASSERT_EQUAL(wal_purge(dir, keep), 3);
	CU_ASSERT_EQUAL(count_segments(), before - 3);
	CU_ASSERT_EQUAL(check_iter(keep, keep), (int64_t)(300 - keep + 1));
	CU_ASSERT_EQUAL(wal_purge(dir, 0), 0);
	CU_ASSERT_EQUAL(wal_purge(dir, 1000), (int)before - 4); /* never the last */

	fresh_dir();
	w = open_ok(4096);
	append_range(w, 1, 300, false);
	wal_close(w);
	CU_ASSERT_EQUAL(wal_truncate(dir, 150), 0);
	CU_ASSERT_EQUAL(check_iter(1, 1), 150);
	w = open_ok(4096);
	CU_ASSERT_EQUAL(wal_last_zxid(w), 150u);
	append_range(w, 151, 160, false);
	wal_close(w);
	CU_ASSERT_EQUAL(check_iter(1, 1), 160);
	CU_ASSERT_EQUAL(wal_truncate(dir, 0), 0);
	CU_ASSERT_EQUAL(count_segments(), 0u);
}

static void test_eio(void)
{
	fresh_dir();
	cbs_reset();
	struct wal *w = open_ok(1 << 16);
	append_range(w, 1, 5, false);
	pthread_mutex_lock(&w->mu);
	w->faults.eio_after_batches = 2;
	pthread_mutex_unlock(&w->mu);
	append_range(w, 6, 7, true); /* two more batches succeed */
	CU_ASSERT_EQUAL(append_z(w, 8), 0);
	CU_ASSERT_EQUAL(wal_sync(w), -EIO);
	CU_ASSERT_EQUAL(append_z(w, 9), -EIO);
	CU_ASSERT_EQUAL(wal_sync(w), -EIO);
	wal_close(w);
	CU_ASSERT_EQUAL(cbs.err, -EIO);
	CU_ASSERT_EQUAL(cbs.durable, 7u);
	CU_ASSERT_FALSE(cbs.non_monotonic);
}

static void test_short_writes_and_nosync(void)
{
	fresh_dir();
	cbs_reset();
	struct wal *w = open_ok(1 << 16);
	pthread_mutex_lock(&w->mu);
	w->faults.short_writes = 5;
	pthread_mutex_unlock(&w->mu);
	append_range(w, 1, 30, true);
	CU_ASSERT_EQUAL(w->faults.short_writes, 0);
	wal_close(w);
	CU_ASSERT_EQUAL(check_iter(1, 1), 30);

	struct wal_cfg c = mkcfg(1 << 16);
	c.force_sync = false;
	CU_ASSERT_EQUAL_FATAL(wal_open(&w, &c, on_durable, NULL), 0);
	append_range(w, 31, 40, true);
	struct wal_stats st;
	wal_stats(w, &st);
	wal_close(w);
	CU_ASSERT_EQUAL(st.fsyncs, 0u);
	CU_ASSERT(st.batches >= 10u);
	CU_ASSERT_EQUAL(check_iter(1, 1), 40);
}

static void test_decode_rejects(void)
{
	uint8_t buf[256];
	struct wal_rec r;
	size_t n = wal_rec_encode(buf, 9, 0, "hello", 5);
	CU_ASSERT_EQUAL(n, 32u);
	CU_ASSERT_EQUAL(wal_rec_decode(buf, n, 0, 8, &r), 32);
	CU_ASSERT_EQUAL(wal_rec_decode(buf, n, 0, 9, &r), -TN_ECORRUPT);     /* not above */
	CU_ASSERT_EQUAL(wal_rec_decode(buf, n - 1, 0, 0, &r), -TN_ECORRUPT); /* short */
	buf[30] = 1; /* padding must be zero */
	CU_ASSERT_EQUAL(wal_rec_decode(buf, n, 0, 0, &r), -TN_ECORRUPT);
	memset(buf, 0, sizeof buf);
	CU_ASSERT_EQUAL(wal_rec_decode(buf, sizeof buf, 0, 0, &r), 0);
	tn_zxid f;
	CU_ASSERT_EQUAL(wal_seg_hdr_decode(buf, sizeof buf, &f), -TN_ECORRUPT);
	wal_seg_hdr_encode(buf, 77);
	CU_ASSERT_EQUAL(wal_seg_hdr_decode(buf, sizeof buf, &f), 0);
	CU_ASSERT_EQUAL(f, 77u);
}

static CU_TestInfo tests[] = {
    {"roundtrip", test_roundtrip},
    {"bad_cfg", test_bad_cfg},
    {"many_segments", test_many_segments},
    {"group_commit", test_group_commit},
    {"torn_tail_cuts", test_torn_tail_cuts},
    {"corrupt_before_tail", test_corrupt_before_tail},
    {"corrupt_earlier_segment", test_corrupt_earlier_segment},
    {"segment_debris", test_segment_debris},
    {"purge_truncate", test_purge_truncate},
    {"eio", test_eio},
    {"short_writes_and_nosync", test_short_writes_and_nosync},
    {"decode_rejects", test_decode_rejects},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"wal", setup, teardown, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	pthread_mutex_init(&cbs.mu, NULL);
	pthread_cond_init(&cbs.cv, NULL);
	return tn_test_main(argc, argv, suites);
}
