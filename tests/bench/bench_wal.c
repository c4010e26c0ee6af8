/* tests/bench/bench_wal.c: group-commit throughput and commit latency of the
 * txn log, against the disk's raw write+fdatasync floor in the same directory.
 *
 * Each appender thread is a client waiting for its commit: take the next zxid,
 * append a 100-byte record, wait until the WAL callback reports it durable,
 * repeat. For 1, 8 and 64 appenders it prints durable txns/s and p50/p99
 * commit latency (append to durable callback). The floor is a plain loop of
 * 100-byte pwrite + fdatasync into a preallocated file.
 *
 * Blocking appenders cap throughput at appenders / fsync time whatever the
 * log does. The server's control thread instead keeps many writes in flight,
 * so a second set of runs gives each appender DEPTH records in flight (it
 * waits only when DEPTH are outstanding): that is the log's group-commit
 * capacity as ternd uses it.
 *
 * Usage: bench_wal [dir (default /tmp)] [seconds per run (default 2)] [depth (default 32)]
 * Built, not run by `meson test`.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/tn_err.h"
#include "store/store.h"

#define REC_BYTES 100
#define RAW_ITERS 3000
#define LAT_PER_THREAD_MAX 400000
#define THREADS_MAX 64
#define DEPTH_MAX 1024

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void percentiles(uint64_t *v, size_t n, double *p50_us, double *p99_us)
{
	qsort(v, n, sizeof *v, cmp_u64);
	*p50_us = n ? (double)v[n / 2] / 1000.0 : 0;
	*p99_us = n ? (double)v[(size_t)((double)n * 0.99)] / 1000.0 : 0;
}

/* ---- raw floor ---- */

static int raw_floor(const char *dir, double *p50, double *p99)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/bench-raw-%d", dir, (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -errno;
	static uint64_t lat[RAW_ITERS];
	uint8_t rec[REC_BYTES];
	memset(rec, 0x42, sizeof rec);
	int rc = fallocate(fd, 0, 0, (off_t)RAW_ITERS * REC_BYTES) < 0 ? -errno : 0;
	if (rc == 0)
		fsync(fd);
	for (int i = 0; i < RAW_ITERS && rc == 0; i++) {
		uint64_t t0 = now_ns();
		if (pwrite(fd, rec, sizeof rec, (off_t)i * REC_BYTES) != REC_BYTES ||
		    fdatasync(fd) < 0)
			rc = -EIO;
		lat[i] = now_ns() - t0;
	}
	close(fd);
	unlink(path);
	if (rc == 0)
		percentiles(lat, RAW_ITERS, p50, p99);
	return rc;
}

/* ---- WAL runs ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t amu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static tn_zxid durable, next_zxid;
static _Atomic int failed;
static uint64_t stop_at_ns;
static int depth = 1; /* records in flight per appender */

struct worker {
	pthread_t t;
	struct wal *w;
	uint64_t *lat;
	size_t n;
};

static void on_durable(void *arg, tn_zxid z, int err)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	if (err < 0)
		atomic_store(&failed, err);
	else
		durable = z;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

/* Append until @depth records are in flight, then wait for the oldest.
 * amu orders zxids across appenders; mu guards durable. wal_append may block
 * on a full buffer until the log thread (which takes mu in on_durable) drains
 * it, so no appender holds mu while appending. */
static void *worker_run(void *arg)
{
	struct worker *k = arg;
	uint8_t rec[REC_BYTES];
	tn_zxid zx[DEPTH_MAX];
	uint64_t t0[DEPTH_MAX];
	unsigned head = 0, count = 0;
	memset(rec, 0x17, sizeof rec);
	while (!atomic_load(&failed) && k->n + count < LAT_PER_THREAD_MAX) {
		if (now_ns() < stop_at_ns && count < (unsigned)depth) {
			unsigned slot = (head + count) % DEPTH_MAX;
			t0[slot] = now_ns();
			pthread_mutex_lock(&amu);
			zx[slot] = ++next_zxid;
			int rc = wal_append(k->w, zx[slot], rec, sizeof rec);
			pthread_mutex_unlock(&amu);
			if (rc < 0) {
				atomic_store(&failed, rc);
				break;
			}
			count++;
			continue;
		}
		if (count == 0)
			break;
		pthread_mutex_lock(&mu);
		while (durable < zx[head] && !atomic_load(&failed))
			pthread_cond_wait(&cv, &mu);
		tn_zxid d = durable;
		pthread_mutex_unlock(&mu);
		uint64_t t = now_ns();
		while (count > 0 && d >= zx[head]) {
			k->lat[k->n++] = t - t0[head];
			head = (head + 1) % DEPTH_MAX;
			count--;
		}
	}
	return NULL;
}

static int wal_run(const char *base, int threads, double secs, double *p99_out)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/bench-wal-%d-%d", base, (int)getpid(), threads);
	struct wal_cfg cfg = {.dir = dir, .segment_bytes = 64ull << 20, .force_sync = true};
	struct wal *w;
	int rc = wal_open(&w, &cfg, on_durable, NULL);
	if (rc < 0)
		return rc;
	durable = next_zxid = 0;
	atomic_store(&failed, 0);
	static struct worker k[THREADS_MAX];
	uint64_t t0 = now_ns();
	stop_at_ns = t0 + (uint64_t)(secs * 1e9);
	for (int i = 0; i < threads; i++) {
		k[i] =
		    (struct worker){.w = w, .lat = malloc(LAT_PER_THREAD_MAX * sizeof(uint64_t))};
		if (!k[i].lat || pthread_create(&k[i].t, NULL, worker_run, &k[i]) != 0)
			abort(); /* the benchmark cannot run: nothing to measure */
	}
	size_t total = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(k[i].t, NULL);
		total += k[i].n;
	}
	double elapsed = (double)(now_ns() - t0) / 1e9;
	struct wal_stats st;
	wal_stats(w, &st);
	wal_close(w);
	uint64_t *all = malloc((total ? total : 1) * sizeof *all);
	size_t n = 0;
	for (int i = 0; i < threads; i++) {
		memcpy(all + n, k[i].lat, k[i].n * sizeof *all);
		n += k[i].n;
		free(k[i].lat);
	}
	double p50, p99;
	percentiles(all, n, &p50, &p99);
	free(all);
	printf("wal %2d appenders x %2d in flight: %9.0f durable txns/s  p50 %7.1f us  p99 %7.1f us  "
	       "(%" PRIu64 " batches, %.1f rec/batch, write+fdatasync avg %.1f us max %.1f us)\n",
	       threads, depth, (double)total / elapsed, p50, p99, st.batches,
	       st.batches ? (double)st.records / (double)st.batches : 0.0,
	       st.batches ? (double)st.fsync_ns_total / (double)st.batches / 1000.0 : 0.0,
	       (double)st.fsync_ns_max / 1000.0);
	*p99_out = p99;
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return atomic_load(&failed);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	double secs = argc > 2 ? atof(argv[2]) : 2.0;
	double raw50, raw99, p99 = 0;
	printf("bench_wal in %s, %d-byte records, %.1f s per run\n", dir, REC_BYTES, secs);
	int rc = raw_floor(dir, &raw50, &raw99);
	if (rc < 0) {
		fprintf(stderr, "raw floor: %s\n", tn_strerror(rc));
		return 1;
	}
	printf("raw write+fdatasync: p50 %7.1f us  p99 %7.1f us  (%d iterations)\n", raw50, raw99,
	       RAW_ITERS);
	int pipelined = argc > 3 ? atoi(argv[3]) : 32;
	if (pipelined < 1 || pipelined > DEPTH_MAX) {
		fprintf(stderr, "depth must be 1..%d\n", DEPTH_MAX);
		return 2;
	}
	static const int runs[] = {1, 8, 64};
	double p99_blocking = 0;
	for (int pass = 0; pass < 2; pass++) {
		depth = pass == 0 ? 1 : pipelined;
		for (unsigned i = 0; i < sizeof runs / sizeof runs[0]; i++) {
			if ((rc = wal_run(dir, runs[i], secs, &p99)) < 0) {
				fprintf(stderr, "wal run: %s\n", tn_strerror(rc));
				return 1;
			}
		}
		if (pass == 0)
			p99_blocking = p99;
	}
	printf("p99 ratio (64 blocking appenders / raw fdatasync): %.2f\n",
	       raw99 > 0 ? p99_blocking / raw99 : 0);
	printf("p99 ratio (64 appenders x %d in flight / raw fdatasync): %.2f\n", pipelined,
	       raw99 > 0 ? p99 / raw99 : 0);
	return 0;
}
