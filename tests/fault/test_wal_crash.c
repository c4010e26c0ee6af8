/* tests/fault/test_wal_crash.c. Description: SIGKILL the txn log mid-write,
 * many times over one directory, and check that nothing reported durable is
 * lost and nothing recovered is corrupt.
 *
 * Each round forks a child that opens the WAL (recovering the previous
 * round's torn tail), then appends records with WAL_THREADS threads (zxids
 * consecutive, payload derived from the zxid) and writes every durable zxid
 * the callback reports to a pipe. The parent kills it after a seeded random
 * delay, reopens the log itself (recovery), and iterates it: records must be
 * 1..N consecutive with correct payloads, N >= every zxid reported durable.
 *
 * Usage: test_wal_crash [seed] [rounds]. The seed is printed; rerun with it.
 * A SIGKILL only kills the process, not the kernel, so this checks the
 * recovery logic against torn batches in the page cache; power loss is the
 * unit tests' business (they cut files at chosen points).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/tn_err.h"
#include "common/tn_log.h"
#include "store/store.h"
#include "tests/lib/tn_tmpdir.h"

#define WAL_THREADS 4
#define ROUNDS_DEFAULT 20
#define CHILD_LIFE_MS 5000    /* a child never outlives this, even unkilled */
#define TOTAL_BUDGET_MS 50000 /* the whole test */
#define KILL_MS_MIN 5
#define KILL_MS_MAX 120

static char dir[256];
static int report_fd = -1;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint32_t payload_len(tn_zxid z)
{
	return (uint32_t)(z * 2654435761u % 400u);
}

static void payload_fill(tn_zxid z, uint8_t *buf, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(z ^ (z >> 8) ^ i * 29u);
}

/* ---- child ---- */

static pthread_mutex_t order_mu = PTHREAD_MUTEX_INITIALIZER;
static tn_zxid next_zxid;

static void on_durable(void *arg, tn_zxid z, int err)
{
	(void)arg;
	if (err < 0)
		_exit(4);
	if (write(report_fd, &z, sizeof z) != (ssize_t)sizeof z)
		_exit(5);
}

static void *appender(void *arg)
{
	struct wal *w = arg;
	uint8_t buf[512];
	uint64_t end = now_ms() + CHILD_LIFE_MS;
	while (now_ms() < end) {
		pthread_mutex_lock(&order_mu);
		tn_zxid z = ++next_zxid;
		uint32_t len = payload_len(z);
		payload_fill(z, buf, len);
		int rc = wal_append(w, z, buf, len);
		pthread_mutex_unlock(&order_mu);
		if (rc < 0)
			_exit(6);
	}
	return NULL;
}

static void child_run(int fd)
{
	report_fd = fd;
	struct wal *w;
	struct wal_cfg cfg = {.dir = dir,
			      .segment_bytes = 256 << 10,
			      .force_sync = true,
			      .batch_bytes_max = 64 << 10};
	if (wal_open(&w, &cfg, on_durable, NULL) < 0)
		_exit(3);
	next_zxid = wal_last_zxid(w);
	pthread_t t[WAL_THREADS];
	for (int i = 0; i < WAL_THREADS; i++)
		if (pthread_create(&t[i], NULL, appender, w) != 0)
			_exit(7);
	for (int i = 0; i < WAL_THREADS; i++)
		pthread_join(t[i], NULL);
	wal_close(w);
	_exit(0);
}

/* ---- parent ---- */

/* Read durable reports until @deadline (or EOF); keep the maximum. */
static void drain(int fd, uint64_t deadline, tn_zxid *max)
{
	for (;;) {
		uint64_t t = now_ms();
		int wait_ms = deadline > t ? (int)(deadline - t) : 0;
		struct pollfd p = {fd, POLLIN, 0};
		int n = poll(&p, 1, wait_ms);
		if (n <= 0)
			return;
		tn_zxid buf[512];
		ssize_t k = read(fd, buf, sizeof buf);
		if (k <= 0)
			return;
		for (ssize_t i = 0; i < k / (ssize_t)sizeof buf[0]; i++)
			if (buf[i] > *max)
				*max = buf[i];
	}
}

/* Recover and check the log; return the last zxid, or -1. */
static int64_t verify(tn_zxid durable_max)
{
	struct wal *w;
	struct wal_cfg cfg = {.dir = dir, .segment_bytes = 256 << 10, .force_sync = true};
	int rc = wal_open(&w, &cfg, NULL, NULL);
	if (rc < 0) {
		fprintf(stderr, "recovery failed: %s\n", tn_strerror(rc));
		return -1;
	}
	tn_zxid last = wal_last_zxid(w);
	wal_close(w);
	struct wal_iter *it;
	if ((rc = wal_iter_open(&it, dir, 1)) < 0)
		return -1;
	tn_zxid z, want = 1;
	const uint8_t *rec;
	uint32_t len;
	uint8_t buf[512];
	while ((rc = wal_iter_next(it, &z, &rec, &len)) == 1) {
		payload_fill(z, buf, payload_len(z));
		if (z != want || len != payload_len(z) || memcmp(buf, rec, len) != 0) {
			fprintf(stderr, "record %" PRIu64 " (want %" PRIu64 ") is wrong\n", z,
				want);
			rc = -1;
			break;
		}
		want++;
	}
	wal_iter_close(it);
	if (rc < 0 || want - 1 != last || last < durable_max) {
		fprintf(stderr,
			"rc %d: log ends at %" PRIu64 " (iter %" PRIu64 "), durable %" PRIu64 "\n",
			rc, last, want - 1, durable_max);
		return -1;
	}
	return (int64_t)last;
}

static int round_run(uint64_t *rng, int round)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(p[0]);
		child_run(p[1]);
	}
	close(p[1]);
	uint64_t delay = KILL_MS_MIN + rng_next(rng) % (KILL_MS_MAX - KILL_MS_MIN);
	tn_zxid durable = 0;
	drain(p[0], now_ms() + delay, &durable);
	kill(pid, SIGKILL);
	int st;
	waitpid(pid, &st, 0);
	drain(p[0], now_ms() + 1000, &durable); /* what was written before death */
	close(p[0]);
	if (!WIFSIGNALED(st)) {
		fprintf(stderr, "round %d: child exited with %d\n", round, WEXITSTATUS(st));
		return -1;
	}
	int64_t last = verify(durable);
	printf("round %2d: killed after %3" PRIu64 " ms, durable %8" PRIu64 ", recovered %8" PRId64
	       "\n",
	       round, delay, durable, last);
	return last < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : (uint64_t)time(NULL);
	int rounds = argc > 2 ? atoi(argv[2]) : ROUNDS_DEFAULT;
	printf("seed %" PRIu64 " (rerun: %s %" PRIu64 ")\n", seed, argv[0], seed);
	uint64_t rng = seed * 0x9E3779B97F4A7C15ull + 1;
	tn_log_set_level(TN_LOG_ERROR);
	if (!tn_tmpdir_make(dir, sizeof dir, "walcrash"))
		return 1;
	uint64_t start = now_ms();
	int rc = 0;
	for (int r = 0; r < rounds && rc == 0; r++) {
		if (now_ms() - start > TOTAL_BUDGET_MS) {
			printf("time budget reached after %d rounds\n", r);
			break;
		}
		rc = round_run(&rng, r);
	}
	if (rc == 0)
		tn_tmpdir_remove(dir);
	else
		fprintf(stderr, "FAILED (seed %" PRIu64 "), log kept in %s\n", seed, dir);
	return rc == 0 ? 0 : 1;
}
