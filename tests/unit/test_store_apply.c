/* tests/unit/test_store_apply.c. Description: store_apply for every txn type:
 * ZooKeeper's Stat rules, results, multi, sessions, ERROR txns and idempotent
 * replay (the same txn twice, and onto a tree that already has its effect). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/tn_assert.h"
#include "store/store_int.h"
#include "tests/lib/tn_test.h"

static const struct zk_acl open_v[] = { { ZK_PERM_ALL, { "world", "anyone" } } };
static const struct zk_acl_list open_acl = { 1, open_v };
static const struct zk_acl rd_v[] = { { ZK_PERM_READ, { "digest", "u:abc=" } },
				      { ZK_PERM_ALL, { "ip", "10.0.0.1" } } };
static const struct zk_acl_list rd_acl = { 2, rd_v };

static struct store *mk(void)
{
	struct store *s = NULL;
	CU_ASSERT_EQUAL_FATAL(store_create(&s, NULL), 0);
	return s;
}

static struct txn tx(int32_t type, tn_zxid zxid, const char *path)
{
	return (struct txn){ .hdr = { .session = 0x77, .zxid = zxid, .time_ms = (int64_t)zxid * 10,
				      .type = type },
			     .type = type, .path = path, .data_len = -1, .acl = open_acl };
}

static struct txn tx_create(tn_zxid zxid, const char *path, const char *data, int32_t pcv)
{
	struct txn t = tx(ZK_OP_CREATE, zxid, path);
	t.data = (const uint8_t *)data;
	t.data_len = data ? (int32_t)strlen(data) : -1;
	t.parent_cversion = pcv;
	return t;
}

static struct zstat stat_of(struct store *s, const char *path)
{
	struct store_node_view v;
	CU_ASSERT_EQUAL(store_get(s, path, &v), ZK_OK);
	return v.stat;
}

static bool stat_eq(const struct zstat *a, const struct zstat *b)
{
	return a->czxid == b->czxid && a->mzxid == b->mzxid && a->ctime == b->ctime &&
	       a->mtime == b->mtime && a->version == b->version && a->cversion == b->cversion &&
	       a->aversion == b->aversion && a->ephemeral_owner == b->ephemeral_owner &&
	       a->data_length == b->data_length && a->num_children == b->num_children &&
	       a->pzxid == b->pzxid;
}

static const struct store_apply_out *apply(struct store *s, const struct txn *t)
{
	static struct store_apply_out out;
	CU_ASSERT_EQUAL(store_apply(s, t, &out), 0);
	return &out;
}

static void test_create_stat_rules(void)
{
	struct store *s = mk();
	struct txn t = tx_create(10, "/a", "abc", 1);
	const struct store_apply_out *o = apply(s, &t);
	CU_ASSERT_EQUAL(o->result_count, 1);
	CU_ASSERT_EQUAL(o->results[0].type, ZK_OP_CREATE);
	CU_ASSERT_EQUAL(o->results[0].err, ZK_OK);
	CU_ASSERT_STRING_EQUAL(o->results[0].path, "/a");
	struct zstat st = stat_of(s, "/a");
	CU_ASSERT_EQUAL(st.czxid, 10);
	CU_ASSERT_EQUAL(st.mzxid, 10);
	CU_ASSERT_EQUAL(st.pzxid, 10);
	CU_ASSERT_EQUAL(st.ctime, 100);
	CU_ASSERT_EQUAL(st.mtime, 100);
	CU_ASSERT_EQUAL(st.version, 0);
	CU_ASSERT_EQUAL(st.cversion, 0);
	CU_ASSERT_EQUAL(st.aversion, 0);
	CU_ASSERT_EQUAL(st.data_length, 3);
	CU_ASSERT_EQUAL(st.num_children, 0);
	CU_ASSERT(stat_eq(&o->results[0].stat, &st));
	struct zstat root = stat_of(s, "/");
	CU_ASSERT_EQUAL(root.cversion, 1);
	CU_ASSERT_EQUAL(root.pzxid, 10);
	CU_ASSERT_EQUAL(root.num_children, 2);
	CU_ASSERT_EQUAL(root.mzxid, 0); /* the parent's data is untouched */
	CU_ASSERT_EQUAL(store_last_zxid(s), 10);
	/* parent_cversion -1 means "one more" */
	t = tx_create(11, "/a/b", NULL, -1);
	apply(s, &t);
	CU_ASSERT_EQUAL(stat_of(s, "/a").cversion, 1);
	t = tx_create(12, "/a/c", NULL, 5); /* the txn says what cversion becomes */
	apply(s, &t);
	st = stat_of(s, "/a");
	CU_ASSERT_EQUAL(st.cversion, 5);
	CU_ASSERT_EQUAL(st.pzxid, 12);
	CU_ASSERT_EQUAL(st.num_children, 2);
	store_destroy(s);
}

static void test_create_types(void)
{
	struct store *s = mk();
	struct txn t = tx_create(1, "/c", NULL, 1);
	t.type = t.hdr.type = ZK_OP_CREATECONTAINER;
	t.ephemeral_owner = (int64_t)ZK_OWNER_CONTAINER;
	const struct store_apply_out *o = apply(s, &t);
	CU_ASSERT_EQUAL(o->results[0].type, ZK_OP_CREATE2);
	CU_ASSERT_EQUAL(o->results[0].stat.ephemeral_owner, (int64_t)ZK_OWNER_CONTAINER);
	t = tx_create(2, "/t", NULL, 2);
	t.type = t.hdr.type = ZK_OP_CREATETTL;
	t.ephemeral_owner = (int64_t)(ZK_OWNER_TTL_MASK | 1000);
	o = apply(s, &t);
	CU_ASSERT_EQUAL(o->results[0].type, ZK_OP_CREATE2);
	t = tx_create(3, "/e", "x", 3);
	t.type = t.hdr.type = ZK_OP_CREATE2;
	t.ephemeral_owner = 0x77;
	o = apply(s, &t);
	CU_ASSERT_EQUAL(o->results[0].type, ZK_OP_CREATE2);
	struct store_stats ss;
	store_stats(s, &ss);
	CU_ASSERT_EQUAL(ss.ephemeral_count, 1);
	CU_ASSERT_EQUAL(ss.node_count, 7);
	/* no parent: NoNode, nothing changes */
	t = tx_create(4, "/x/y", NULL, 1);
	o = apply(s, &t);
	CU_ASSERT_EQUAL(o->results[0].err, ZK_ENONODE);
	struct store_node_view v;
	CU_ASSERT_EQUAL(store_get(s, "/x/y", &v), ZK_ENONODE);
	/* malformed paths are rejected, never applied */
	struct store_apply_out out;
	t = tx_create(5, "nope", NULL, 1);
	CU_ASSERT_EQUAL(store_apply(s, &t, &out), -EINVAL);
	t = tx_create(5, "/trailing/", NULL, 1);
	CU_ASSERT_EQUAL(store_apply(s, &t, &out), -EINVAL);
	t = tx(ZK_OP_SETDATA, 5, NULL);
	CU_ASSERT_EQUAL(store_apply(s, &t, &out), -EINVAL);
	t = tx(999, 5, "/c");
	CU_ASSERT_EQUAL(store_apply(s, &t, &out), -EINVAL);
	store_destroy(s);
}

static void test_delete_stat_rules(void)
{
	struct store *s = mk();
	struct txn t = tx_create(1, "/p", NULL, 1);
	apply(s, &t);
	t = tx_create(2, "/p/k", NULL, 1);
	apply(s, &t);
	t = tx(ZK_OP_DELETE, 3, "/p");
	const struct store_apply_out *o = apply(s, &t);
	CU_ASSERT_EQUAL(o->results[0].err, ZK_ENOTEMPTY); /* replay guard: tree stays whole */
	t = tx(ZK_OP_DELETE, 4, "/p/k");
	o = apply(s, &t);
	CU_ASSERT_EQUAL(o->results[0].err, ZK_OK);
	CU_ASSERT_EQUAL(o->results[0].type, ZK_OP_DELETE);
	struct zstat st = stat_of(s, "/p");
	CU_ASSERT_EQUAL(st.cversion, 1); /* unchanged by delete */
	CU_ASSERT_EQUAL(st.pzxid, 4);
	CU_ASSERT_EQUAL(st.num_children, 0);
	/* missing node: no-op */
	o = apply(s, &t);
	CU_ASSERT_EQUAL(o->results[0].err, ZK_ENONODE);
	CU_ASSERT_EQUAL(stat_of(s, "/p").pzxid, 4);
	t = tx(ZK_OP_DELETECONTAINER, 5, "/p");
	o = apply(s, &t);
	CU_ASSERT_EQUAL(o->results[0].err, ZK_OK);
	CU_ASSERT_EQUAL(stat_of(s, "/").pzxid, 5);
	t = tx(ZK_OP_DELETE, 6, "/");
	o = apply(s, &t);
	CU_ASSERT_EQUAL(o->results[0].err, ZK_EBADARGUMENTS);
	store_destroy(s);
}

static void test_set_data_and_acl(void)
{
	struct store *s = mk();
	struct txn t = tx_create(1, "/d", "old", 1);
	apply(s, &t);
	t = tx(ZK_OP_SETDATA, 2, "/d");
	t.data = (const uint8_t *)"newer";
	t.data_len = 5;
	t.version = 1;
	const struct store_apply_out *o = apply(s, &t);
	CU_ASSERT_EQUAL(o->results[0].type, ZK_OP_SETDATA);
	struct store_node_view v;
	CU_ASSERT_EQUAL(store_get(s, "/d", &v), ZK_OK);
	CU_ASSERT_EQUAL(v.stat.version, 1);
	CU_ASSERT_EQUAL(v.stat.mzxid, 2);
	CU_ASSERT_EQUAL(v.stat.mtime, 20);
	CU_ASSERT_EQUAL(v.stat.czxid, 1);
	CU_ASSERT_EQUAL(v.stat.ctime, 10);
	CU_ASSERT_EQUAL(v.stat.data_length, 5);
	CU_ASSERT_EQUAL(memcmp(v.data, "newer", 5), 0);
	CU_ASSERT(stat_eq(&o->results[0].stat, &v.stat));
	t.hdr.zxid = 3;
	t.data = NULL;
	t.data_len = -1;
	t.version = 2;
	apply(s, &t);
	CU_ASSERT_EQUAL(store_get(s, "/d", &v), ZK_OK);
	CU_ASSERT_EQUAL(v.data_len, -1);
	CU_ASSERT_EQUAL(v.stat.data_length, 0);
	t = tx(ZK_OP_SETACL, 4, "/d");
	t.acl = rd_acl;
	t.version = 1;
	o = apply(s, &t);
	CU_ASSERT_EQUAL(o->results[0].type, ZK_OP_SETACL);
	CU_ASSERT_EQUAL(o->event_count, 0);
	CU_ASSERT_EQUAL(store_get(s, "/d", &v), ZK_OK);
	CU_ASSERT_EQUAL(v.stat.aversion, 1);
	CU_ASSERT_EQUAL(v.stat.mzxid, 3); /* setACL leaves mzxid/mtime */
	CU_ASSERT_EQUAL(v.acl->count, 2);
	CU_ASSERT_STRING_EQUAL(v.acl->v[0].id.scheme, "digest");
	CU_ASSERT_STRING_EQUAL(v.acl->v[1].id.id, "10.0.0.1");
	/* missing nodes are no-ops */
	t = tx(ZK_OP_SETDATA, 5, "/gone");
	o = apply(s, &t);
	CU_ASSERT_EQUAL(o->results[0].err, ZK_ENONODE);
	t = tx(ZK_OP_SETACL, 6, "/gone");
	o = apply(s, &t);
	CU_ASSERT_EQUAL(o->results[0].err, ZK_ENONODE);
	store_destroy(s);
}

/* Identical ACL lists are shared by reference. */
static void test_acl_interned(void)
{
	struct store *s = mk();
	struct txn t = tx_create(1, "/a", NULL, 1);
	apply(s, &t);
	t = tx_create(2, "/b", NULL, 2);
	apply(s, &t);
	struct store_node_view a, b, q;
	CU_ASSERT_EQUAL(store_get(s, "/a", &a), ZK_OK);
	CU_ASSERT_EQUAL(store_get(s, "/b", &b), ZK_OK);
	CU_ASSERT_EQUAL(store_get(s, "/zookeeper/quota", &q), ZK_OK);
	CU_ASSERT_PTR_EQUAL(a.acl, b.acl);
	CU_ASSERT_PTR_EQUAL(a.acl, q.acl);
	store_destroy(s);
}

static void test_error_and_check(void)
{
	struct store *s = mk();
	uint64_t d = store_digest(s);
	struct txn t = tx(ZK_OP_ERROR, 7, NULL);
	t.err = ZK_ENODEEXISTS;
	const struct store_apply_out *o = apply(s, &t);
	CU_ASSERT_EQUAL(o->result_count, 1);
	CU_ASSERT_EQUAL(o->results[0].err, ZK_ENODEEXISTS);
	CU_ASSERT_EQUAL(store_last_zxid(s), 7);
	CU_ASSERT_EQUAL(store_digest(s), d);
	store_destroy(s);
}

static void test_multi(void)
{
	struct store *s = mk();
	struct txn subs[4] = { tx_create(5, "/m", "1", 1), tx_create(5, "/m/x", NULL, 1),
			       tx(ZK_OP_SETDATA, 5, "/m"), tx(ZK_OP_CHECK, 5, "/m") };
	subs[2].data = (const uint8_t *)"22";
	subs[2].data_len = 2;
	subs[2].version = 1;
	struct txn t = tx(ZK_OP_MULTI, 5, NULL);
	t.sub = subs;
	t.sub_count = 4;
	const struct store_apply_out *o = apply(s, &t);
	CU_ASSERT_EQUAL_FATAL(o->result_count, 4);
	CU_ASSERT_EQUAL(o->results[0].type, ZK_OP_CREATE);
	CU_ASSERT_STRING_EQUAL(o->results[1].path, "/m/x");
	CU_ASSERT_EQUAL(o->results[2].stat.version, 1);
	CU_ASSERT_EQUAL(o->results[3].type, ZK_OP_CHECK);
	CU_ASSERT_EQUAL(o->results[3].err, ZK_OK);
	struct zstat st = stat_of(s, "/m");
	CU_ASSERT_EQUAL(st.mzxid, 5);
	CU_ASSERT_EQUAL(st.czxid, 5);
	CU_ASSERT_EQUAL(st.num_children, 1);
	/* a failed multi: all subs are ERROR txns, nothing changes */
	uint64_t d = store_digest(s);
	struct txn err[3] = { tx(ZK_OP_ERROR, 6, NULL), tx(ZK_OP_ERROR, 6, NULL),
			      tx(ZK_OP_ERROR, 6, NULL) };
	err[0].err = ZK_OK;
	err[1].err = ZK_EBADVERSION;
	err[2].err = ZK_ERUNTIMEINCONSISTENCY;
	t = tx(ZK_OP_MULTI, 6, NULL);
	t.sub = err;
	t.sub_count = 3;
	o = apply(s, &t);
	CU_ASSERT_EQUAL(o->result_count, 3);
	CU_ASSERT_EQUAL(o->results[1].err, ZK_EBADVERSION);
	CU_ASSERT_EQUAL(o->results[2].err, ZK_ERUNTIMEINCONSISTENCY);
	CU_ASSERT_EQUAL(store_digest(s), d);
	CU_ASSERT_EQUAL(store_last_zxid(s), 6);
	/* nested multi is malformed */
	struct txn nested = tx(ZK_OP_MULTI, 7, NULL);
	t.sub = &nested;
	t.sub_count = 1;
	struct store_apply_out out;
	CU_ASSERT_EQUAL(store_apply(s, &t, &out), -EINVAL);
	store_destroy(s);
}

static int count_cb(void *arg, const char *path)
{
	(void)path;
	++*(int *)arg;
	return 0;
}

static void sum_sessions(void *arg, uint64_t session, int32_t timeout_ms)
{
	((uint64_t *)arg)[0] += session;
	((uint64_t *)arg)[1] += (uint64_t)timeout_ms;
}

static int stop_first(void *arg, const char *path)
{
	(void)path;
	++*(int *)arg;
	return 5;
}

static void test_session_table(void)
{
	struct store *s = mk();
	for (uint64_t id = 1; id <= 300; id++) { /* grows the table */
		struct txn t = tx(ZK_OP_CREATESESSION, id, NULL);
		t.hdr.session = id;
		t.timeout_ms = 10;
		apply(s, &t);
	}
	CU_ASSERT_EQUAL(store_session_count(s), 300);
	uint64_t sums[2] = { 0, 0 };
	store_session_foreach(s, sum_sessions, sums);
	CU_ASSERT_EQUAL(sums[0], 300u * 301u / 2u);
	CU_ASSERT_EQUAL(sums[1], 3000u);
	struct txn t = tx(ZK_OP_CREATESESSION, 400, NULL); /* re-create updates the timeout */
	t.hdr.session = 7;
	t.timeout_ms = 99;
	apply(s, &t);
	int32_t to = 0;
	CU_ASSERT(store_session_get(s, 7, &to));
	CU_ASSERT_EQUAL(to, 99);
	CU_ASSERT_EQUAL(store_session_count(s), 300);
	for (uint64_t id = 1; id <= 300; id += 2) {
		t = tx(ZK_OP_CLOSESESSION, 500 + id, NULL);
		t.hdr.session = id;
		apply(s, &t);
	}
	CU_ASSERT_EQUAL(store_session_count(s), 150);
	CU_ASSERT(!store_session_get(s, 7, &to));
	CU_ASSERT(store_session_get(s, 8, &to));
	/* getEphemerals stops when the callback says so */
	for (int i = 0; i < 3; i++) {
		char p[16];
		snprintf(p, sizeof(p), "/x%d", i);
		struct txn c = tx_create(900 + (tn_zxid)i, p, NULL, -1);
		c.ephemeral_owner = 8;
		apply(s, &c);
	}
	int n = 0;
	CU_ASSERT_EQUAL(store_ephemerals(s, 8, "/", stop_first, &n), 5);
	CU_ASSERT_EQUAL(n, 1);
	n = 0;
	CU_ASSERT_EQUAL(store_ephemerals(s, 9, "/", stop_first, &n), ZK_OK);
	CU_ASSERT_EQUAL(n, 0);
	store_destroy(s);
}

static void test_sessions(void)
{
	struct store *s = mk();
	struct txn t = tx(ZK_OP_CREATESESSION, 1, NULL);
	t.hdr.session = 0x42;
	t.timeout_ms = 6000;
	apply(s, &t);
	int32_t to = 0;
	CU_ASSERT(store_session_get(s, 0x42, &to));
	CU_ASSERT_EQUAL(to, 6000);
	CU_ASSERT_EQUAL(store_session_count(s), 1);
	CU_ASSERT(!store_session_get(s, 0x43, &to));
	const char *eph[] = { "/e1", "/e2", "/dir/e3" };
	struct txn c = tx_create(2, "/dir", NULL, 1);
	apply(s, &c);
	for (int i = 0; i < 3; i++) {
		c = tx_create(3 + (tn_zxid)i, eph[i], "v", -1);
		c.ephemeral_owner = 0x42;
		apply(s, &c);
	}
	int n = 0;
	CU_ASSERT_EQUAL(store_ephemerals(s, 0x42, "/", count_cb, &n), ZK_OK);
	CU_ASSERT_EQUAL(n, 3);
	n = 0;
	CU_ASSERT_EQUAL(store_ephemerals(s, 0x42, "/dir", count_cb, &n), ZK_OK);
	CU_ASSERT_EQUAL(n, 1);
	/* close lists two paths; the third goes too, so nothing outlives it */
	const char *const list[] = { "/e1", "/dir/e3" };
	t = tx(ZK_OP_CLOSESESSION, 10, NULL);
	t.hdr.session = 0x42;
	t.paths = list;
	t.path_count = 2;
	const struct store_apply_out *o = apply(s, &t);
	CU_ASSERT_EQUAL(o->results[0].err, ZK_OK);
	struct store_node_view v;
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(store_get(s, eph[i], &v), ZK_ENONODE);
	CU_ASSERT_EQUAL(stat_of(s, "/dir").pzxid, 10);
	CU_ASSERT(!store_session_get(s, 0x42, &to));
	CU_ASSERT_EQUAL(store_session_count(s), 0);
	n = 0;
	CU_ASSERT_EQUAL(store_ephemerals(s, 0x42, "/", count_cb, &n), ZK_OK);
	CU_ASSERT_EQUAL(n, 0);
	struct store_stats ss;
	store_stats(s, &ss);
	CU_ASSERT_EQUAL(ss.ephemeral_count, 0);
	store_destroy(s);
}

/* Applying every txn twice leaves the same tree as applying it once. */
static void test_replay_twice(void)
{
	struct store *a = mk(), *b = mk();
	struct txn seq[6] = { tx_create(1, "/r", "a", 1), tx_create(2, "/r/1", "b", 1),
			      tx(ZK_OP_SETDATA, 3, "/r"), tx(ZK_OP_SETACL, 4, "/r/1"),
			      tx(ZK_OP_DELETE, 5, "/r/1"), tx_create(6, "/r/2", NULL, 2) };
	seq[2].data = (const uint8_t *)"zz";
	seq[2].data_len = 2;
	seq[2].version = 1;
	seq[3].acl = rd_acl;
	seq[3].version = 1;
	for (int i = 0; i < 6; i++) {
		apply(a, &seq[i]);
		apply(b, &seq[i]);
		apply(b, &seq[i]);
	}
	CU_ASSERT_EQUAL(store_digest(a), store_digest(b));
	struct zstat ra = stat_of(a, "/r"), rb = stat_of(b, "/r");
	CU_ASSERT(stat_eq(&ra, &rb));
	store_destroy(a);
	store_destroy(b);
}

static int copy_node(void *arg, const char *path, const struct store_node_view *v)
{
	if (strcmp(path, "/") == 0)
		return 0;
	return store_load_node(arg, path, &v->stat, v->data, v->data_len, v->acl);
}

/* A fuzzy snapshot taken after txn k holds effects of later txns; replaying
 * from k must converge to the same tree. */
static void test_replay_onto_fuzzy(void)
{
	struct store *full = mk();
	struct txn seq[5] = { tx_create(1, "/f", NULL, 1), tx_create(2, "/f/a", "1", 1),
			      tx_create(3, "/f/b", "2", 2), tx(ZK_OP_SETDATA, 4, "/f/a"),
			      tx(ZK_OP_DELETE, 5, "/f/b") };
	seq[3].data = (const uint8_t *)"3";
	seq[3].data_len = 1;
	seq[3].version = 1;
	for (int i = 0; i < 5; i++)
		apply(full, &seq[i]);
	/* the "snapshot": the full tree's state, but claimed at zxid 2 */
	struct store *snap = mk();
	struct store_node_view root;
	CU_ASSERT_EQUAL(store_get(full, "/", &root), ZK_OK);
	CU_ASSERT_EQUAL(store_load_node(snap, "/", &root.stat, root.data, root.data_len, root.acl), 0);
	CU_ASSERT_EQUAL(store_walk(full, copy_node, snap), 0);
	for (int i = 2; i < 5; i++) /* replay from the snapshot zxid */
		apply(snap, &seq[i]);
	CU_ASSERT_EQUAL(store_digest(full), store_digest(snap));
	/* and from a state that misses the last two txns */
	struct store *part = mk();
	for (int i = 0; i < 3; i++)
		apply(part, &seq[i]);
	for (int i = 1; i < 5; i++)
		apply(part, &seq[i]);
	CU_ASSERT_EQUAL(store_digest(full), store_digest(part));
	store_destroy(full);
	store_destroy(snap);
	store_destroy(part);
}

/* Create of an existing node on replay moves the parent's cversion/pzxid up
 * to the txn's, and never down. */
static void test_replay_create_existing(void)
{
	struct store *s = mk();
	struct txn t = tx_create(1, "/p", NULL, 1);
	apply(s, &t);
	t = tx_create(2, "/p/c", NULL, 1);
	apply(s, &t);
	t = tx_create(9, "/p/c", NULL, 4);
	const struct store_apply_out *o = apply(s, &t);
	CU_ASSERT_EQUAL(o->results[0].err, ZK_OK);
	CU_ASSERT_EQUAL(o->event_count, 0);
	struct zstat st = stat_of(s, "/p");
	CU_ASSERT_EQUAL(st.cversion, 4);
	CU_ASSERT_EQUAL(st.pzxid, 9);
	CU_ASSERT_EQUAL(st.num_children, 1);
	CU_ASSERT_EQUAL(stat_of(s, "/p/c").czxid, 2);
	t = tx_create(10, "/p/c", NULL, 2);
	apply(s, &t);
	st = stat_of(s, "/p");
	CU_ASSERT_EQUAL(st.cversion, 4);
	CU_ASSERT_EQUAL(st.pzxid, 9);
	store_destroy(s);
}

static CU_TestInfo tests[] = {
	{ "create_stat_rules", test_create_stat_rules },
	{ "create_types", test_create_types },
	{ "delete_stat_rules", test_delete_stat_rules },
	{ "set_data_and_acl", test_set_data_and_acl },
	{ "acl_interned", test_acl_interned },
	{ "error_and_check", test_error_and_check },
	{ "multi", test_multi },
	{ "sessions", test_sessions },
	{ "session_table", test_session_table },
	{ "replay_twice", test_replay_twice },
	{ "replay_onto_fuzzy", test_replay_onto_fuzzy },
	{ "replay_create_existing", test_replay_create_existing },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "apply", NULL, NULL, NULL, NULL, tests },
	CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	return tn_test_main(argc, argv, suites);
}
