/* tests/unit/test_store_concurrent.c. Description: lock-free reads against a
 * running writer. Three reader threads get and list random paths while the
 * writer creates, sets and deletes for a few seconds; readers check that a
 * node's data matches its Stat (the version is encoded in the data), that
 * dataLength equals the data length, and that every listed child is a name
 * the writer uses. A fourth thread registers watches meanwhile. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "tests/lib/tn_test.h"

#define KEYS 256
#define RUN_S 3.0
#define READERS 3

static const struct zk_acl open_v[] = { { ZK_PERM_ALL, { "world", "anyone" } } };
static const struct zk_acl_list open_acl = { 1, open_v };

static struct store *s;
static atomic_bool stop;
static atomic_long errors, reads, hits, listed;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The data for @version: 8 digits, then version % 50 copies of one letter. */
static int encode(char *buf, int32_t version)
{
	int n = snprintf(buf, 64, "%08d", version);
	int pad = version % 50;
	memset(buf + n, 'a' + version % 26, (size_t)pad);
	return n + pad;
}

static bool view_ok(const struct store_node_view *v)
{
	if (v->data_len < 8 || v->stat.data_length != v->data_len)
		return false;
	char digits[9];
	memcpy(digits, v->data, 8);
	digits[8] = '\0';
	int32_t ver = (int32_t)strtol(digits, NULL, 10);
	if (ver != v->stat.version || v->data_len != 8 + ver % 50)
		return false;
	for (int32_t i = 8; i < v->data_len; i++)
		if (v->data[i] != 'a' + ver % 26)
			return false;
	return v->stat.mzxid >= v->stat.czxid && v->stat.num_children == 0;
}

static int check_name(void *arg, const char *name)
{
	(void)arg;
	atomic_fetch_add_explicit(&listed, 1, memory_order_relaxed);
	int k;
	char tail;
	if (sscanf(name, "k%3d%c", &k, &tail) != 1 || k < 0 || k >= KEYS)
		atomic_fetch_add(&errors, 1);
	return 0;
}

static void *reader(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	store_reader_register();
	char path[32];
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		struct store_node_view v;
		snprintf(path, sizeof(path), "/c/k%03d", rand_r(&seed) % KEYS);
		if (store_get(s, path, &v) == ZK_OK) {
			atomic_fetch_add_explicit(&hits, 1, memory_order_relaxed);
			if (!view_ok(&v))
				atomic_fetch_add(&errors, 1);
		}
		if (rand_r(&seed) % 64 == 0) {
			struct zstat st;
			if (store_children(s, "/c", &st, check_name, NULL) != ZK_OK ||
			    st.num_children > KEYS)
				atomic_fetch_add(&errors, 1);
		}
		if (rand_r(&seed) % 1024 == 0) {
			int32_t n = -1;
			if (store_count_descendants(s, "/c", &n) != ZK_OK || n < 0 || n > KEYS)
				atomic_fetch_add(&errors, 1);
		}
		atomic_fetch_add_explicit(&reads, 1, memory_order_relaxed);
		store_quiescent();
	}
	store_reader_unregister();
	return NULL;
}

static void *watcher(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	store_reader_register();
	char path[32];
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		struct store_event ev;
		snprintf(path, sizeof(path), "/c/k%03d", rand_r(&seed) % KEYS);
		int rc = store_watch_add(s, 1 + rand_r(&seed) % 8, path, STORE_WATCH_DATA,
					 store_last_zxid(s), &ev);
		if (rc < 0 || (rc == 1 && ev.type != ZK_EVENT_DELETED &&
			       ev.type != ZK_EVENT_DATA_CHANGED))
			atomic_fetch_add(&errors, 1);
		if (rand_r(&seed) % 16 == 0)
			store_watch_drop_session(s, 1 + rand_r(&seed) % 8);
		store_quiescent();
	}
	store_reader_unregister();
	return NULL;
}

struct wstate {
	int32_t version[KEYS]; /* -1 = absent */
	tn_zxid zxid;
};

static void write_one(struct wstate *w, unsigned *seed)
{
	int k = rand_r(seed) % KEYS, r = rand_r(seed) % 10;
	char path[32], data[64];
	snprintf(path, sizeof(path), "/c/k%03d", k);
	struct txn t = { .hdr = { .zxid = ++w->zxid, .time_ms = 5 }, .path = path,
			 .acl = open_acl, .parent_cversion = -1 };
	if (w->version[k] < 0) {
		t.type = ZK_OP_CREATE;
		w->version[k] = 0;
	} else if (r < 7) {
		t.type = ZK_OP_SETDATA;
		t.version = ++w->version[k];
	} else {
		t.type = ZK_OP_DELETE;
		w->version[k] = -1;
	}
	t.hdr.type = t.type;
	if (t.type != ZK_OP_DELETE) {
		t.data_len = encode(data, w->version[k]);
		t.data = (const uint8_t *)data;
	}
	struct store_apply_out out;
	struct store_result want = { 0 };
	if (store_apply(s, &t, &out) < 0 || out.results[0].err != want.err)
		atomic_fetch_add(&errors, 1);
}

static void test_readers_vs_writer(void)
{
	store_reader_register();
	CU_ASSERT_EQUAL_FATAL(store_create(&s, NULL), 0);
	struct wstate *w = calloc(1, sizeof(*w));
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	memset(w->version, 0xff, sizeof(w->version));
	struct txn t = { .hdr = { .zxid = ++w->zxid, .type = ZK_OP_CREATE }, .type = ZK_OP_CREATE,
			 .path = "/c", .data_len = -1, .acl = open_acl, .parent_cversion = -1 };
	struct store_apply_out out;
	CU_ASSERT_EQUAL_FATAL(store_apply(s, &t, &out), 0);
	pthread_t th[READERS + 1];
	for (uintptr_t i = 0; i < READERS; i++)
		CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, reader, (void *)(i + 1)), 0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th[READERS], NULL, watcher, (void *)99), 0);
	unsigned seed = 7;
	long writes = 0;
	double end = now_s() + RUN_S;
	while (now_s() < end) {
		for (int i = 0; i < 256; i++, writes++)
			write_one(w, &seed);
		store_quiescent();
	}
	atomic_store(&stop, true);
	for (int i = 0; i <= READERS; i++)
		pthread_join(th[i], NULL);
	printf("\n  writes %ld, reads %ld (hits %ld), children listed %ld, errors %ld\n", writes,
	       atomic_load(&reads), atomic_load(&hits), atomic_load(&listed),
	       atomic_load(&errors));
	CU_ASSERT_EQUAL(atomic_load(&errors), 0);
	CU_ASSERT(writes > 1000);
	CU_ASSERT(atomic_load(&hits) > 1000);
	CU_ASSERT(atomic_load(&listed) > 0);
	/* the final tree matches the writer's model */
	int present = 0;
	for (int k = 0; k < KEYS; k++) {
		char path[32];
		struct store_node_view v;
		snprintf(path, sizeof(path), "/c/k%03d", k);
		int rc = store_get(s, path, &v);
		CU_ASSERT_EQUAL(rc, w->version[k] < 0 ? ZK_ENONODE : ZK_OK);
		if (rc == ZK_OK) {
			present++;
			CU_ASSERT_EQUAL(v.stat.version, w->version[k]);
			CU_ASSERT(view_ok(&v));
		}
	}
	struct store_node_view c;
	CU_ASSERT_EQUAL(store_get(s, "/c", &c), ZK_OK);
	CU_ASSERT_EQUAL(c.stat.num_children, present);
	free(w);
	store_destroy(s);
	store_reader_unregister();
}

static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;
static int idle_stage;

/* A thread that never registered reads once, then idles: it must not hold up
 * grace periods (reclaim, the table resizer, destroy). */
static void *idle_reader(void *arg)
{
	struct store_node_view v;
	int *rc = arg;
	*rc = store_get(s, "/x", &v);
	pthread_mutex_lock(&idle_lock);
	idle_stage = 1;
	pthread_cond_broadcast(&idle_cond);
	while (idle_stage != 2)
		pthread_cond_wait(&idle_cond, &idle_lock);
	pthread_mutex_unlock(&idle_lock);
	return NULL;
}

static void test_implicit_reader_does_not_stall(void)
{
	store_reader_register();
	CU_ASSERT_EQUAL_FATAL(store_create(&s, NULL), 0);
	struct txn t = { .hdr = { .zxid = 1, .type = ZK_OP_CREATE }, .type = ZK_OP_CREATE,
			 .path = "/x", .data_len = -1, .acl = open_acl, .parent_cversion = -1 };
	struct store_apply_out out;
	CU_ASSERT_EQUAL_FATAL(store_apply(s, &t, &out), 0);
	pthread_t th;
	int get_rc = -1;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, idle_reader, &get_rc), 0);
	pthread_mutex_lock(&idle_lock);
	while (idle_stage != 1)
		pthread_cond_wait(&idle_cond, &idle_lock);
	pthread_mutex_unlock(&idle_lock);
	alarm(60); /* a stall would hang here: fail loudly instead */
	char path[32];
	for (int i = 0; i < 20000; i++) { /* grows the path table twice */
		snprintf(path, sizeof(path), "/x/n%d", i);
		t = (struct txn){ .hdr = { .zxid = 2 + (tn_zxid)i, .type = ZK_OP_CREATE },
				  .type = ZK_OP_CREATE, .path = path, .data_len = -1,
				  .acl = open_acl, .parent_cversion = -1 };
		CU_ASSERT_EQUAL(store_apply(s, &t, &out), 0);
	}
	for (int i = 0; i < 3; i++) { /* retires data: reclaim needs a grace period */
		t = (struct txn){ .hdr = { .zxid = 30000 + (tn_zxid)i, .type = ZK_OP_SETDATA },
				  .type = ZK_OP_SETDATA, .path = "/x", .data = (const uint8_t *)"d",
				  .data_len = 1, .version = i + 1 };
		CU_ASSERT_EQUAL(store_apply(s, &t, &out), 0);
	}
	store_reclaim(s);
	store_destroy(s);
	alarm(0);
	CU_ASSERT_EQUAL(get_rc, ZK_OK);
	pthread_mutex_lock(&idle_lock);
	idle_stage = 2;
	pthread_cond_broadcast(&idle_cond);
	pthread_mutex_unlock(&idle_lock);
	pthread_join(th, NULL);
	store_reader_unregister();
}

static CU_TestInfo tests[] = {
	{ "readers_vs_writer", test_readers_vs_writer },
	{ "implicit_reader_does_not_stall", test_implicit_reader_does_not_stall },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "concurrent", NULL, NULL, NULL, NULL, tests },
	CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	return tn_test_main(argc, argv, suites);
}
