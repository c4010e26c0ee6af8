/* store/wal_uring.c: the txn log's I/O backend: the log thread and io_uring.
 *
 * Design. One log thread per WAL. It sleeps on a condition variable while the
 * fill buffer is empty (it never spins). When records are queued it swaps the
 * fill buffer out (appenders continue into the other one) and writes it as one
 * batch: one IORING_OP_WRITE linked (IOSQE_IO_LINK) to one
 * IORING_OP_FSYNC(DATASYNC), submitted together, reaped together. Everything
 * appended while that pair is in flight forms the next batch: group commit.
 *
 * A short write breaks the link (the kernel cancels the fdatasync), so the
 * rest is written again with a fresh linked pair. A failed write or fdatasync
 * makes the error sticky: the callback gets it once, later appends return
 * -EIO (after a failed fdatasync the page cache state is unknown; as in
 * PostgreSQL, we do not retry). With force_sync off only the write is issued.
 *
 * A batch that starts a segment first creates the file (O_EXCL), preallocates
 * it with fallocate and fsyncs the directory; the header is the first 32 bytes
 * of the batch itself, so a crash leaves either no file, a file of zeros, or a
 * header with records (see wal.c on recovery).
 *
 * clock_gettime is allowed here only, for the fsync timing stats.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/tn_assert.h"
#include "common/tn_err.h"
#include "common/tn_log.h"
#include "store/wal_int.h"

#define WAL_RING_ENTRIES 8u

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Create, preallocate and publish segment @first; it becomes w->fd. */
static int seg_create(struct wal *w, tn_zxid first)
{
	char path[4096];
	wal_seg_path(path, sizeof path, w->dir, first);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int rc = fallocate(fd, 0, 0, (off_t)w->cfg.segment_bytes);
	if (rc < 0 && errno != EOPNOTSUPP) {
		rc = -errno;
		goto fail;
	}
	if ((rc = wal_fsync_dir(w->dir)) < 0)
		goto fail;
	if (w->fd >= 0)
		close(w->fd);
	w->fd = fd;
	w->fd_first = first;
	return 0;
fail:
	close(fd);
	unlink(path);
	return rc;
}

/* Reap @n completions: the write's result in *@wres, the fsync's in *@fres. */
static int reap(struct io_uring *ring, unsigned n, int *wres, int *fres)
{
	for (unsigned i = 0; i < n; i++) {
		struct io_uring_cqe *cqe;
		int rc;
		do
			rc = io_uring_wait_cqe(ring, &cqe);
		while (rc == -EINTR);
		if (rc < 0)
			return rc; /* UNTESTED: the ring itself failed */
		if (cqe->user_data == 1)
			*wres = cqe->res;
		else
			*fres = cqe->res;
		io_uring_cqe_seen(ring, cqe);
	}
	return 0;
}

/* Apply the test hooks to a write result (faults are set by tests only). */
static int fault_write(struct wal *w, int wres, size_t asked)
{
	pthread_mutex_lock(&w->mu);
	struct wal_faults *f = &w->faults;
	if (f->eio_after_batches > 0) {
		f->eio_after_batches--;
	} else if (f->eio_after_batches == 0) {
		f->eio_after_batches = -1;
		wres = -EIO;
	} else if (f->short_writes > 0 && wres > 1 && (size_t)wres == asked) {
		f->short_writes--;
		wres /= 2; /* pretend the kernel stopped halfway: the rest is rewritten */
	}
	pthread_mutex_unlock(&w->mu);
	return wres;
}

/* Write @len bytes at @off and (force_sync) fdatasync, as linked pairs. */
static int write_sync(struct wal *w, const uint8_t *data, size_t len, uint64_t off)
{
	struct io_uring *ring = w->ring;
	bool sync = w->cfg.force_sync;
	size_t done = 0;
	for (unsigned tries = 0; tries < 1000000u; tries++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
		TN_ASSERT(sqe); /* the ring holds WAL_RING_ENTRIES and only we submit */
		io_uring_prep_write(sqe, w->fd, data + done, (unsigned)(len - done), off + done);
		sqe->user_data = 1;
		if (sync) {
			sqe->flags |= IOSQE_IO_LINK;
			sqe = io_uring_get_sqe(ring);
			TN_ASSERT(sqe);
			io_uring_prep_fsync(sqe, w->fd, IORING_FSYNC_DATASYNC);
			sqe->user_data = 2;
		}
		uint64_t t0 = mono_ns();
		int rc = io_uring_submit(ring);
		if (rc < 0)
			return rc; /* UNTESTED */
		int wres = 0, fres = 0;
		if ((rc = reap(ring, sync ? 2u : 1u, &wres, &fres)) < 0)
			return rc;
		uint64_t dt = mono_ns() - t0;
		wres = fault_write(w, wres, len - done);
		if (wres < 0)
			return wres;
		if (wres == 0)
			return -EIO; /* no progress: treat as a disk failure */
		done += (size_t)wres;
		if (done < len)
			continue; /* short: the fsync was cancelled or is moot */
		if (sync && fres < 0)
			return fres;
		pthread_mutex_lock(&w->mu);
		w->stats.fsyncs += sync;
		w->stats.fsync_ns_total += dt;
		w->stats.fsync_ns_max = TN_MAX(w->stats.fsync_ns_max, dt);
		if (sync) {
			unsigned k = 0; /* bucket: the first with dt <= 16 us << k */
			while (k + 1 < WAL_FSYNC_BUCKETS && dt > (uint64_t)WAL_FSYNC_US_MIN * 1000u << k)
				k++;
			w->stats.fsync_hist[k]++;
		}
		pthread_mutex_unlock(&w->mu);
		return 0;
	}
	return -EIO; /* UNTESTED: a million short writes */
}

static int flush_batch(struct wal *w, struct wal_buf *b)
{
	int rc;
	if (b->new_seg && (rc = seg_create(w, b->seg_first)) < 0)
		return rc;
	TN_ASSERT(w->fd >= 0 && w->fd_first == b->seg_first);
	TN_ASSERT(b->len > 0 && b->file_off + b->len <= w->cfg.segment_bytes);
	return write_sync(w, b->data, b->len, b->file_off);
}

/* Under mu: account for a finished batch and wake its waiters. Return true if
 * the callback should run (success, or the first failure). */
static bool batch_done(struct wal *w, struct wal_buf *b, int rc)
{
	bool report = false;
	TN_ASSERT(w->flushing);
	if (rc == 0) {
		TN_ASSERT(b->last_zxid > w->durable_zxid);
		w->durable_zxid = b->last_zxid;
		w->stats.batches++;
		w->stats.batch_records_max = TN_MAX(w->stats.batch_records_max, (uint64_t)b->records);
		report = true;
	} else if (!w->err) {
		TN_ERROR("wal", "%s: log write failed: %s; refusing appends", w->dir,
			 tn_strerror(rc));
		w->err = rc;
		report = true;
	}
	b->len = 0;
	b->records = 0;
	b->new_seg = false;
	w->flushing = false;
	pthread_cond_broadcast(&w->done_cv);
	pthread_cond_broadcast(&w->space_cv);
	return report;
}

static void *log_thread(void *arg)
{
	struct wal *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->fill->len == 0 && !w->stopping)
			pthread_cond_wait(&w->work_cv, &w->mu);
		if (w->fill->len == 0)
			break; /* stopping, and everything is out */
		struct wal_buf *b = w->fill;
		w->fill = b == &w->bufs[0] ? &w->bufs[1] : &w->bufs[0];
		TN_ASSERT(w->fill->len == 0);
		w->flushing = true;
		int err = w->err;
		pthread_cond_broadcast(&w->space_cv);
		pthread_mutex_unlock(&w->mu);

		int rc = err ? err : flush_batch(w, b);

		pthread_mutex_lock(&w->mu);
		bool report = batch_done(w, b, rc);
		tn_zxid durable = w->durable_zxid;
		pthread_mutex_unlock(&w->mu);
		if (report && w->cb)
			w->cb(w->cb_arg, durable, rc); /* log thread, no lock held */
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int wal_io_start(struct wal *w)
{
	struct io_uring *ring = calloc(1, sizeof *ring);
	if (!ring)
		return -ENOMEM;
	int rc = io_uring_queue_init(WAL_RING_ENTRIES, ring, 0);
	if (rc < 0) {
		TN_ERROR("wal", "io_uring_queue_init: %s", tn_strerror(rc));
		free(ring);
		return rc;
	}
	w->ring = ring;
	rc = -pthread_create(&w->thread, NULL, log_thread, w);
	if (rc == 0)
		pthread_setname_np(w->thread, "tern-wal");
	if (rc < 0) {
		io_uring_queue_exit(ring);
		free(ring);
		w->ring = NULL;
	}
	return rc;
}

void wal_io_stop(struct wal *w)
{
	TN_ASSERT(w->ring);
	pthread_join(w->thread, NULL);
	io_uring_queue_exit(w->ring);
	free(w->ring);
	w->ring = NULL;
}
