/* tests/unit/test_store_ztree.c. Description: the znode tree: special nodes,
 * reads, child index at 200k siblings, walk order, digest, snapshot-load hooks,
 * stats and the reap scan. Txns are built by hand (no prep.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/tn_assert.h"
#include "store/store_int.h"
#include "tests/lib/tn_test.h"

static const struct zk_acl open_v[] = { { ZK_PERM_ALL, { "world", "anyone" } } };
static const struct zk_acl_list open_acl = { 1, open_v };
static tn_zxid next_zxid = 1;

static struct store *mk(void)
{
	struct store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(store_create(&s, NULL), 0);
	next_zxid = 1;
	return s;
}

static int create_full(struct store *s, const char *path, const char *data, int64_t owner)
{
	struct store_node_view pv;
	char parent[512];
	const char *slash = strrchr(path, '/');
	size_t pl = slash == path ? 1 : (size_t)(slash - path);
	memcpy(parent, path, pl);
	parent[pl] = '\0';
	int32_t pc = store_get(s, parent, &pv) == ZK_OK ? pv.stat.cversion + 1 : 0;
	struct txn t = { .hdr = { .session = 1, .zxid = next_zxid++, .time_ms = 1000,
				  .type = ZK_OP_CREATE },
			 .type = ZK_OP_CREATE, .path = path, .data = (const uint8_t *)data,
			 .data_len = data ? (int32_t)strlen(data) : -1, .acl = open_acl,
			 .ephemeral_owner = owner, .parent_cversion = pc };
	struct store_apply_out out;
	int rc = store_apply(s, &t, &out);
	if (rc < 0)
		return rc;
	return out.results[0].err;
}

static int create(struct store *s, const char *path, const char *data)
{
	return create_full(s, path, data, 0);
}

static int delete(struct store *s, const char *path)
{
	struct txn t = { .hdr = { .zxid = next_zxid++, .time_ms = 2000, .type = ZK_OP_DELETE },
			 .type = ZK_OP_DELETE, .path = path };
	struct store_apply_out out;
	int rc = store_apply(s, &t, &out);
	return rc < 0 ? rc : out.results[0].err;
}

struct names {
	int n;
	char v[8][64];
};

static int collect(void *arg, const char *name)
{
	struct names *nm = arg;
	if (nm->n < 8)
		snprintf(nm->v[nm->n], sizeof(nm->v[0]), "%s", name);
	nm->n++;
	return 0;
}

static bool has(const struct names *nm, const char *name)
{
	for (int i = 0; i < nm->n && i < 8; i++)
		if (strcmp(nm->v[i], name) == 0)
			return true;
	return false;
}

static void test_special_nodes(void)
{
	struct store *s = mk();
	struct store_node_view v;
	CU_ASSERT_EQUAL(store_get(s, "/", &v), ZK_OK);
	CU_ASSERT_EQUAL(v.stat.num_children, 1);
	CU_ASSERT_EQUAL(store_get(s, "/zookeeper/quota", &v), ZK_OK);
	CU_ASSERT_EQUAL(v.acl->count, 1);
	CU_ASSERT_EQUAL(v.acl->v[0].perms, ZK_PERM_ALL);
	CU_ASSERT_EQUAL(store_get(s, "/zookeeper/config", &v), ZK_OK);
	CU_ASSERT_EQUAL(v.acl->v[0].perms, ZK_PERM_READ);
	CU_ASSERT_STRING_EQUAL(v.acl->v[0].id.scheme, "world");
	CU_ASSERT_STRING_EQUAL(v.acl->v[0].id.id, "anyone");
	CU_ASSERT_EQUAL(v.data_len, 0);
	struct names nm = { 0 };
	struct zstat st;
	CU_ASSERT_EQUAL(store_children(s, "/zookeeper", &st, collect, &nm), ZK_OK);
	CU_ASSERT_EQUAL(nm.n, 2);
	CU_ASSERT(has(&nm, "config") && has(&nm, "quota"));
	CU_ASSERT_EQUAL(st.num_children, 2);
	CU_ASSERT_EQUAL(store_get(s, "/nope", &v), ZK_ENONODE);
	CU_ASSERT_EQUAL(store_get(s, "", &v), ZK_ENONODE);
	CU_ASSERT_EQUAL(store_get(s, NULL, &v), ZK_ENONODE);
	CU_ASSERT_EQUAL(store_children(s, "/nope", NULL, collect, &nm), ZK_ENONODE);
	struct store_stats ss;
	store_stats(s, &ss);
	CU_ASSERT_EQUAL(ss.node_count, 4);
	CU_ASSERT(ss.mem_bytes > 0);
	store_destroy(s);
}

static void test_get_and_children(void)
{
	struct store *s = mk();
	CU_ASSERT_EQUAL(create(s, "/a", "hello"), ZK_OK);
	CU_ASSERT_EQUAL(create(s, "/a/b", NULL), ZK_OK);
	CU_ASSERT_EQUAL(create(s, "/a/c", ""), ZK_OK);
	struct store_node_view v;
	CU_ASSERT_EQUAL(store_get(s, "/a", &v), ZK_OK);
	CU_ASSERT_EQUAL(v.data_len, 5);
	CU_ASSERT_EQUAL(memcmp(v.data, "hello", 5), 0);
	CU_ASSERT_EQUAL(v.stat.num_children, 2);
	CU_ASSERT_EQUAL(v.stat.data_length, 5);
	CU_ASSERT_EQUAL(store_get(s, "/a/b", &v), ZK_OK);
	CU_ASSERT_EQUAL(v.data_len, -1);
	CU_ASSERT_EQUAL(v.stat.data_length, 0);
	CU_ASSERT_EQUAL(store_get(s, "/a/c", &v), ZK_OK);
	CU_ASSERT_EQUAL(v.data_len, 0);
	CU_ASSERT_PTR_NOT_NULL(v.data);
	struct names nm = { 0 };
	CU_ASSERT_EQUAL(store_children(s, "/a", NULL, collect, &nm), ZK_OK);
	CU_ASSERT_EQUAL(nm.n, 2);
	CU_ASSERT(has(&nm, "b") && has(&nm, "c"));
	memset(&nm, 0, sizeof(nm));
	CU_ASSERT_EQUAL(store_children(s, "/", NULL, collect, &nm), ZK_OK);
	CU_ASSERT(has(&nm, "a") && has(&nm, "zookeeper"));
	int32_t cnt = -1;
	CU_ASSERT_EQUAL(store_count_descendants(s, "/a", &cnt), ZK_OK);
	CU_ASSERT_EQUAL(cnt, 2);
	CU_ASSERT_EQUAL(store_count_descendants(s, "/", &cnt), ZK_OK);
	CU_ASSERT_EQUAL(cnt, 6);
	CU_ASSERT_EQUAL(store_count_descendants(s, "/x", &cnt), ZK_ENONODE);
	store_destroy(s);
}

static int stop_early(void *arg, const char *name)
{
	(void)name;
	return ++*(int *)arg == 2 ? 7 : 0;
}

static void test_children_stop_early(void)
{
	struct store *s = mk();
	CU_ASSERT_EQUAL(create(s, "/p", NULL), ZK_OK);
	for (int i = 0; i < 5; i++) {
		char p[32];
		snprintf(p, sizeof(p), "/p/%d", i);
		CU_ASSERT_EQUAL(create(s, p, NULL), ZK_OK);
	}
	int calls = 0;
	CU_ASSERT_EQUAL(store_children(s, "/p", NULL, stop_early, &calls), 7);
	CU_ASSERT_EQUAL(calls, 2);
	store_destroy(s);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 200k siblings, deleted in random order: O(1) each, so it takes seconds at
 * most even under ASan; a list scan per delete would take minutes. */
static void test_many_children(void)
{
	enum { N = 200000 };
	struct store *s = mk();
	CU_ASSERT_EQUAL(create(s, "/q", NULL), ZK_OK);
	char p[64];
	double t0 = now_s();
	for (int i = 0; i < N; i++) {
		snprintf(p, sizeof(p), "/q/item-%010d", i);
		if (create(s, p, "x") != ZK_OK) {
			CU_FAIL("create");
			break;
		}
		if (i % 4096 == 0)
			store_quiescent();
	}
	struct store_node_view v;
	CU_ASSERT_EQUAL(store_get(s, "/q", &v), ZK_OK);
	CU_ASSERT_EQUAL(v.stat.num_children, N);
	CU_ASSERT_EQUAL(v.stat.cversion, N);
	int *order = malloc(N * sizeof(*order));
	CU_ASSERT_PTR_NOT_NULL_FATAL(order);
	for (int i = 0; i < N; i++)
		order[i] = i;
	srand(42);
	for (int i = N - 1; i > 0; i--) {
		int j = rand() % (i + 1), tmp = order[i];
		order[i] = order[j];
		order[j] = tmp;
	}
	for (int i = 0; i < N; i++) {
		snprintf(p, sizeof(p), "/q/item-%010d", order[i]);
		if (delete(s, p) != ZK_OK) {
			CU_FAIL("delete");
			break;
		}
		if (i % 4096 == 0)
			store_quiescent();
	}
	double dt = now_s() - t0;
	CU_ASSERT(dt < 15.0);
	CU_ASSERT_EQUAL(store_get(s, "/q", &v), ZK_OK);
	CU_ASSERT_EQUAL(v.stat.num_children, 0);
	CU_ASSERT_EQUAL(v.stat.cversion, N); /* delete leaves cversion */
	struct names nm = { 0 };
	CU_ASSERT_EQUAL(store_children(s, "/q", NULL, collect, &nm), ZK_OK);
	CU_ASSERT_EQUAL(nm.n, 0);
	free(order);
	store_reclaim(s);
	store_destroy(s);
}

struct walk_rec {
	int n;
	char paths[32][64];
};

static int walk_fn(void *arg, const char *path, const struct store_node_view *v)
{
	struct walk_rec *w = arg;
	(void)v;
	if (w->n < 32)
		snprintf(w->paths[w->n], sizeof(w->paths[0]), "%s", path);
	w->n++;
	return 0;
}

static int index_of(const struct walk_rec *w, const char *p)
{
	for (int i = 0; i < w->n && i < 32; i++)
		if (strcmp(w->paths[i], p) == 0)
			return i;
	return -1;
}

static void test_walk_parents_first(void)
{
	struct store *s = mk();
	const char *paths[] = { "/a", "/a/b", "/a/b/c", "/d", "/a/e", "/d/f" };
	for (size_t i = 0; i < TN_ARRAY_LEN(paths); i++)
		CU_ASSERT_EQUAL(create(s, paths[i], "v"), ZK_OK);
	struct walk_rec w = { 0 };
	CU_ASSERT_EQUAL(store_walk(s, walk_fn, &w), 0);
	CU_ASSERT_EQUAL(w.n, 10);
	CU_ASSERT_EQUAL(index_of(&w, "/"), 0);
	for (size_t i = 0; i < TN_ARRAY_LEN(paths); i++) {
		char parent[64];
		snprintf(parent, sizeof(parent), "%s", paths[i]);
		*strrchr(parent, '/') = '\0';
		int pi = parent[0] ? index_of(&w, parent) : 0, ci = index_of(&w, paths[i]);
		CU_ASSERT(ci > 0 && pi >= 0 && pi < ci);
	}
	store_destroy(s);
}

/* Two trees with the same nodes built in different orders digest equal;
 * any change to data, stat or ACL changes the digest. */
static void test_digest(void)
{
	struct store *a = mk(), *b;
	CU_ASSERT_EQUAL(create(a, "/x", "1"), ZK_OK);
	CU_ASSERT_EQUAL(create(a, "/y", "2"), ZK_OK);
	b = mk();
	struct store_node_view vx, vy;
	CU_ASSERT_EQUAL(store_get(a, "/x", &vx), ZK_OK);
	CU_ASSERT_EQUAL(store_get(a, "/y", &vy), ZK_OK);
	struct store_node_view root;
	CU_ASSERT_EQUAL(store_get(a, "/", &root), ZK_OK);
	CU_ASSERT_EQUAL(store_load_node(b, "/", &root.stat, NULL, 0, root.acl), 0);
	CU_ASSERT_EQUAL(store_load_node(b, "/y", &vy.stat, vy.data, vy.data_len, vy.acl), 0);
	CU_ASSERT_EQUAL(store_load_node(b, "/x", &vx.stat, vx.data, vx.data_len, vx.acl), 0);
	CU_ASSERT_EQUAL(store_digest(a), store_digest(b));
	struct zstat st = vx.stat;
	st.version = 9;
	CU_ASSERT_EQUAL(store_load_node(b, "/x", &st, vx.data, vx.data_len, vx.acl), 0);
	CU_ASSERT_NOT_EQUAL(store_digest(a), store_digest(b));
	CU_ASSERT_EQUAL(store_load_node(b, "/x", &vx.stat, (const uint8_t *)"3", 1, vx.acl), 0);
	CU_ASSERT_NOT_EQUAL(store_digest(a), store_digest(b));
	static const struct zk_acl rd[] = { { ZK_PERM_READ, { "world", "anyone" } } };
	const struct zk_acl_list rdl = { 1, rd };
	CU_ASSERT_EQUAL(store_load_node(b, "/x", &vx.stat, vx.data, vx.data_len, &rdl), 0);
	CU_ASSERT_NOT_EQUAL(store_digest(a), store_digest(b));
	CU_ASSERT_EQUAL(store_load_node(b, "/x", &vx.stat, vx.data, vx.data_len, vx.acl), 0);
	CU_ASSERT_EQUAL(store_digest(a), store_digest(b));
	store_destroy(a);
	store_destroy(b);
}

static void test_load_hooks(void)
{
	struct store *s = mk();
	struct zstat st = { .czxid = 5, .mzxid = 6, .ctime = 7, .mtime = 8, .version = 2,
			    .cversion = 3, .aversion = 1, .pzxid = 9, .num_children = 99,
			    .data_length = 77 };
	CU_ASSERT_EQUAL(store_load_node(s, "/m/n", &st, NULL, -1, &open_acl), -ENOENT);
	CU_ASSERT_EQUAL(store_load_node(s, "/m", &st, (const uint8_t *)"abc", 3, &open_acl), 0);
	st.ephemeral_owner = 0x55;
	CU_ASSERT_EQUAL(store_load_node(s, "/m/n", &st, NULL, -1, &open_acl), 0);
	CU_ASSERT_EQUAL(store_load_node(s, "/m/n", &st, NULL, -1, &open_acl), 0); /* replace */
	CU_ASSERT_EQUAL(store_load_node(s, "bad", &st, NULL, -1, &open_acl), -EINVAL);
	struct store_node_view v;
	CU_ASSERT_EQUAL(store_get(s, "/m", &v), ZK_OK);
	CU_ASSERT_EQUAL(v.stat.czxid, 5);
	CU_ASSERT_EQUAL(v.stat.mzxid, 6);
	CU_ASSERT_EQUAL(v.stat.cversion, 3);
	CU_ASSERT_EQUAL(v.stat.pzxid, 9);
	CU_ASSERT_EQUAL(v.stat.num_children, 1); /* recomputed from links */
	CU_ASSERT_EQUAL(v.stat.data_length, 3);
	CU_ASSERT_EQUAL(store_load_session(s, 0x55, 4000), 0);
	int32_t to = 0;
	CU_ASSERT(store_session_get(s, 0x55, &to));
	CU_ASSERT_EQUAL(to, 4000);
	CU_ASSERT_EQUAL(store_session_count(s), 1);
	struct store_stats ss;
	store_stats(s, &ss);
	CU_ASSERT_EQUAL(ss.node_count, 6);
	CU_ASSERT_EQUAL(ss.ephemeral_count, 1);
	store_set_last_zxid(s, 0x100000005ull);
	CU_ASSERT_EQUAL(store_last_zxid(s), 0x100000005ull);
	CU_ASSERT_PTR_NOT_NULL(store_cfg_of(s));
	CU_ASSERT_EQUAL(store_cfg_of(s)->data_max_bytes, STORE_DATA_MAX_DEFAULT);
	CU_ASSERT_PTR_NULL(*store_prep_slot(s));
	store_destroy(s);
}

struct reaped {
	int n;
	char path[8][32];
	bool container[8];
};

static void reap_fn(void *arg, const char *path, bool container)
{
	struct reaped *r = arg;
	if (r->n < 8) {
		snprintf(r->path[r->n], sizeof(r->path[0]), "%s", path);
		r->container[r->n] = container;
	}
	r->n++;
}

static void test_reap_scan(void)
{
	struct store *s = mk();
	const int64_t ttl_owner = (int64_t)(ZK_OWNER_TTL_MASK | 500u);
	CU_ASSERT_EQUAL(create_full(s, "/c1", NULL, (int64_t)ZK_OWNER_CONTAINER), ZK_OK);
	CU_ASSERT_EQUAL(create_full(s, "/c2", NULL, (int64_t)ZK_OWNER_CONTAINER), ZK_OK);
	CU_ASSERT_EQUAL(create_full(s, "/t1", NULL, ttl_owner), ZK_OK);
	CU_ASSERT_EQUAL(create(s, "/c1/kid", NULL), ZK_OK);
	struct reaped r = { 0 };
	store_reap_scan(s, 1000 + 400, reap_fn, &r);
	CU_ASSERT_EQUAL(r.n, 0); /* c1 has a child, c2 never used, t1 too young */
	CU_ASSERT_EQUAL(delete(s, "/c1/kid"), ZK_OK);
	store_reap_scan(s, 1000 + 501, reap_fn, &r);
	CU_ASSERT_EQUAL(r.n, 2);
	for (int i = 0; i < r.n && i < 8; i++) {
		if (strcmp(r.path[i], "/c1") == 0) {
			CU_ASSERT(r.container[i]);
		} else if (strcmp(r.path[i], "/t1") == 0) {
			CU_ASSERT(!r.container[i]);
		} else {
			CU_FAIL("unexpected reap candidate");
		}
	}
	CU_ASSERT_EQUAL(delete(s, "/c1"), ZK_OK);
	memset(&r, 0, sizeof(r));
	store_reap_scan(s, 1000 + 501, reap_fn, &r);
	CU_ASSERT_EQUAL(r.n, 1);
	store_destroy(s);
	struct store_cfg cfg = { .container_never_used_ms = 100 };
	CU_ASSERT_EQUAL_FATAL(store_create(&s, &cfg), 0);
	CU_ASSERT_EQUAL(create_full(s, "/c2", NULL, (int64_t)ZK_OWNER_CONTAINER), ZK_OK);
	memset(&r, 0, sizeof(r));
	store_reap_scan(s, 1050, reap_fn, &r);
	CU_ASSERT_EQUAL(r.n, 0);
	store_reap_scan(s, 1101, reap_fn, &r);
	CU_ASSERT_EQUAL(r.n, 1);
	store_destroy(s);
}

static int prep_freed;
static void fake_prep_free(struct prep_state *p)
{
	CU_ASSERT_PTR_EQUAL(p, (struct prep_state *)&prep_freed);
	prep_freed++;
}

static void test_prep_free_hook(void)
{
	struct store *s = mk();
	*store_prep_slot(s) = (struct prep_state *)&prep_freed;
	*store_prep_free_slot(s) = fake_prep_free;
	prep_freed = 0;
	store_destroy(s);
	CU_ASSERT_EQUAL(prep_freed, 1);
}

static void test_mem_accounting(void)
{
	struct store *s = mk();
	struct store_stats a, b;
	CU_ASSERT_EQUAL(create(s, "/warm", "x"), ZK_OK); /* grows the output buffers once */
	CU_ASSERT_EQUAL(delete(s, "/warm"), ZK_OK);
	store_reclaim(s);
	store_stats(s, &a);
	CU_ASSERT_EQUAL(create(s, "/m", "0123456789"), ZK_OK);
	store_stats(s, &b);
	CU_ASSERT(b.mem_bytes > a.mem_bytes);
	CU_ASSERT_EQUAL(b.data_bytes, a.data_bytes + 2 + 10);
	CU_ASSERT_EQUAL(delete(s, "/m"), ZK_OK);
	for (int i = 0; i < 1000; i++) {
		char p[32];
		snprintf(p, sizeof(p), "/n%d", i);
		CU_ASSERT_EQUAL(create(s, p, "some data"), ZK_OK);
		CU_ASSERT_EQUAL(delete(s, p), ZK_OK);
	}
	store_reclaim(s);
	store_stats(s, &b);
	CU_ASSERT_EQUAL(b.data_bytes, a.data_bytes);
	CU_ASSERT_EQUAL(b.mem_bytes, a.mem_bytes); /* every node, buffer and ACL came back */
	store_destroy(s);
}

static CU_TestInfo tests[] = {
	{ "special_nodes", test_special_nodes },
	{ "get_and_children", test_get_and_children },
	{ "children_stop_early", test_children_stop_early },
	{ "many_children", test_many_children },
	{ "walk_parents_first", test_walk_parents_first },
	{ "digest", test_digest },
	{ "load_hooks", test_load_hooks },
	{ "reap_scan", test_reap_scan },
	{ "prep_free_hook", test_prep_free_hook },
	{ "mem_accounting", test_mem_accounting },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "ztree", NULL, NULL, NULL, NULL, tests },
	CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	store_reader_register();
	int rc = tn_test_main(argc, argv, suites);
	store_reader_unregister();
	return rc;
}
