/* tests/bench/bench_store.c: store throughput and footprint.
 *
 *   bench_store [nodes]      (default 1000000)
 *
 * Prints: apply rate of one writer for creates and for setData of 100-byte
 * values (txns/s); lock-free store_get rate per reader thread with 1 and 2
 * threads; and bytes per znode beyond path and data:
 *   (mem_bytes - mem_bytes of an empty store) / nodes - (path + data bytes) / nodes
 * Goals: >= 1M txns/s, >= 5M gets/s per reader core, <= 150 B/znode.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"

#define VALUE_LEN 100
#define GET_RUN_S 1.0

static const struct zk_acl open_v[] = { { ZK_PERM_ALL, { "world", "anyone" } } };
static const struct zk_acl_list open_acl = { 1, open_v };
static struct store *s;
static char **paths;
static long nodes;
static atomic_bool stop;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int apply_all(int32_t type, tn_zxid *zxid, const uint8_t *value)
{
	struct store_apply_out out;
	for (long i = 0; i < nodes; i++) {
		struct txn t = { .hdr = { .zxid = ++*zxid, .time_ms = 1, .type = type },
				 .type = type, .path = paths[i], .data = value,
				 .data_len = VALUE_LEN, .acl = open_acl, .parent_cversion = -1,
				 .version = 1 };
		if (store_apply(s, &t, &out) < 0 || out.results[0].err != ZK_OK)
			return -1;
		if ((i & 1023) == 0)
			store_quiescent();
	}
	return 0;
}

struct reader_arg {
	unsigned seed;
	unsigned range; /* paths[0..range) */
	long gets;
};

static void *reader(void *p)
{
	struct reader_arg *a = p;
	store_reader_register();
	long n = 0, bad = 0;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		for (int i = 0; i < 1024; i++) {
			struct store_node_view v;
			if (store_get(s, paths[rand_r(&a->seed) % a->range], &v) != ZK_OK ||
			    v.data_len != VALUE_LEN)
				bad++;
		}
		n += 1024;
		store_quiescent();
	}
	if (bad)
		fprintf(stderr, "reader: %ld bad reads\n", bad);
	a->gets = n;
	store_reader_unregister();
	return NULL;
}

static void bench_gets(int threads, unsigned range)
{
	pthread_t th[2];
	struct reader_arg args[2] = { { 1, range, 0 }, { 2, range, 0 } };
	atomic_store(&stop, false);
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, reader, &args[i]);
	double t0 = now_s();
	while (now_s() - t0 < GET_RUN_S) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	atomic_store(&stop, true);
	double dt = now_s() - t0;
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		printf("get over %u nodes, %d reader thread(s): thread %d: %.2f M gets/s\n", range,
		       threads, i, (double)args[i].gets / dt / 1e6);
	}
}

int main(int argc, char **argv)
{
	nodes = argc > 1 ? atol(argv[1]) : 1000000;
	if (nodes <= 0 || nodes > 100000000) {
		fprintf(stderr, "usage: bench_store [nodes]\n");
		return 2;
	}
	store_reader_register();
	if (store_create(&s, NULL) < 0)
		return 1;
	paths = malloc((size_t)nodes * sizeof(*paths));
	for (long i = 0; i < nodes && paths; i++) {
		char p[32];
		snprintf(p, sizeof(p), "/bench/n%010ld", i);
		paths[i] = strdup(p);
	}
	uint8_t value[VALUE_LEN];
	memset(value, 'v', sizeof(value));
	tn_zxid zxid = 0;
	struct txn t = { .hdr = { .zxid = ++zxid, .type = ZK_OP_CREATE }, .type = ZK_OP_CREATE,
			 .path = "/bench", .data_len = -1, .acl = open_acl, .parent_cversion = -1 };
	struct store_apply_out out;
	if (!paths || store_apply(s, &t, &out) < 0)
		return 1;
	store_reclaim(s);
	struct store_stats before, after;
	store_stats(s, &before);

	double t0 = now_s();
	if (apply_all(ZK_OP_CREATE, &zxid, value) < 0)
		return 1;
	double dt = now_s() - t0;
	printf("apply create (%d B values): %.2f M txns/s (%ld in %.2f s)\n", VALUE_LEN,
	       (double)nodes / dt / 1e6, nodes, dt);
	store_reclaim(s);
	store_stats(s, &after);
	double n = (double)(after.node_count - before.node_count);
	double payload = (double)(after.data_bytes - before.data_bytes) / n;
	double mem = (double)(after.mem_bytes - before.mem_bytes) / n;
	printf("memory: %.1f B/znode in use, %.1f B path+data, %.1f B/znode overhead\n", mem,
	       payload, mem - payload);

	t0 = now_s();
	if (apply_all(ZK_OP_SETDATA, &zxid, value) < 0)
		return 1;
	dt = now_s() - t0;
	printf("apply setData (%d B values): %.2f M txns/s\n", VALUE_LEN,
	       (double)nodes / dt / 1e6);
	store_reclaim(s);

	/* all nodes (DRAM-bound: several cache misses a get), then a hot set */
	bench_gets(1, (unsigned)nodes);
	bench_gets(2, (unsigned)nodes);
	unsigned hot = nodes < 10000 ? (unsigned)nodes : 10000;
	bench_gets(1, hot);
	bench_gets(2, hot);
	store_destroy(s);
	for (long i = 0; i < nodes; i++)
		free(paths[i]);
	free(paths);
	store_reader_unregister();
	return 0;
}
