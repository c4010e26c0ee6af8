/* tests/unit/test_store_prep.c. Description: store_prep against a real store
 * (store_create, then store_apply of what prep made): every op and error
 * code, sequential numbering, containers and TTL, ACLs, multi rollback,
 * pipelined prep through the overlay, closeSession's ephemeral list, and a
 * seeded differential run: pipelined prep must decide exactly as
 * prep-then-apply (same codes, same paths, same tree digest). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/tn_assert.h"
#include "store/store.h"
#include "tests/lib/tn_test.h"

static const struct zk_acl open_v[] = { { ZK_PERM_ALL, { "world", "anyone" } } };
static const struct zk_acl_list open_acl = { 1, open_v };

static struct store *s;
static tn_zxid zx;
static uint64_t sess = 0x1234;
static const struct store_auth *cur_auth;
static uint8_t abuf[8][1 << 14];
static unsigned aslot;
static struct txn last; /* the txn of the last prep() */

static void mk(bool extended)
{
	struct store_cfg cfg = { .data_max_bytes = 64, .extended_types = extended };
	CU_ASSERT_EQUAL_FATAL(store_create(&s, &cfg), 0);
	zx = store_last_zxid(s);
	cur_auth = NULL;
	sess = 0x1234;
}

static void rm(void)
{
	store_destroy(s);
	s = NULL;
}

/* Prep @op as session @sess; the txn stays valid for 8 more preps. */
static int prep_as(const struct zk_op *op, int32_t type, struct txn *out)
{
	tn_zxid zxid = ++zx;
	struct store_req req = { .hdr = { .session = sess, .cxid = 1, .zxid = zxid,
					  .time_ms = 1000 + (int64_t)zxid, .type = type },
				 .op = op, .auth = cur_auth, .session_timeout_ms = 5000 };
	struct tn_arena a = tn_arena_init(abuf[aslot], sizeof abuf[0]);
	aslot = (aslot + 1) % 8;
	int rc = store_prep(s, &req, out, &a);
	last = *out;
	return rc;
}

static int prep(const struct zk_op *op)
{
	struct txn t;
	return prep_as(op, op->type, &t);
}

static void apply(const struct txn *t)
{
	struct store_apply_out out;
	CU_ASSERT_EQUAL(store_apply(s, t, &out), 0);
}

/* prep + apply; return prep's code. */
static int run(const struct zk_op *op)
{
	struct txn t;
	int rc = prep_as(op, op->type, &t);
	if (rc != -ENOMEM && rc != -EMSGSIZE)
		apply(&t);
	return rc;
}

static struct zk_op op_create(const char *path, int32_t flags)
{
	return (struct zk_op){ .type = ZK_OP_CREATE, .path = path, .data = (const uint8_t *)"x",
			       .data_len = 1, .acl = open_acl, .flags = flags };
}

static struct zk_op op_path(int32_t type, const char *path, int32_t version)
{
	return (struct zk_op){ .type = type, .path = path, .version = version };
}

static bool exists(const char *path, struct zstat *st)
{
	struct store_node_view v;
	if (store_get(s, path, &v) != ZK_OK)
		return false;
	if (st)
		*st = v.stat;
	return true;
}

static int session_op(int32_t type)
{
	struct txn t;
	int rc = prep_as(NULL, type, &t);
	apply(&t);
	return rc;
}

static void test_prep_create_basic(void)
{
	struct zk_op op = op_create("/a", 0);
	struct zstat root = { 0 }, st;

	mk(false);
	CU_ASSERT_FATAL(exists("/", &root));
	CU_ASSERT_EQUAL(run(&op), ZK_OK);
	CU_ASSERT_EQUAL(last.type, ZK_OP_CREATE);
	CU_ASSERT_EQUAL(last.hdr.type, ZK_OP_CREATE);
	CU_ASSERT_STRING_EQUAL(last.path, "/a");
	CU_ASSERT_EQUAL(last.parent_cversion, root.cversion + 1);
	CU_ASSERT_EQUAL(last.ephemeral_owner, 0);
	CU_ASSERT_EQUAL(last.data_len, 1);
	CU_ASSERT(exists("/a", &st));
	CU_ASSERT_EQUAL(run(&op), ZK_ENODEEXISTS);
	CU_ASSERT_EQUAL(last.hdr.type, ZK_OP_ERROR);
	CU_ASSERT_EQUAL(last.err, ZK_ENODEEXISTS);
	op.path = "/";
	CU_ASSERT_EQUAL(run(&op), ZK_ENODEEXISTS);
	op.path = "/x/y";
	CU_ASSERT_EQUAL(run(&op), ZK_ENONODE);
	op.type = ZK_OP_CREATE2;
	op.path = "/b";
	CU_ASSERT_EQUAL(run(&op), ZK_OK);
	CU_ASSERT_EQUAL(last.type, ZK_OP_CREATE2);
	op.data = NULL;
	op.data_len = -1;
	op.path = "/nulldata";
	CU_ASSERT_EQUAL(run(&op), ZK_OK);
	CU_ASSERT_EQUAL(last.data_len, -1);
	rm();
}

static void test_prep_create_bad_args(void)
{
	/* the parent lookup fails first for these, as in ZooKeeper */
	const char *nonode[] = { "/a//b", "/./a", "/../a" };
	const char *bad[] = { "a", "/a/", "/a/.", "/a/..", "/a\x01",
			      "/a\x7f", "/\xc3", "/\xc0\xaf", "/\xef\xbf\xbf", "/\xf0\x9f\x98\x80",
			      "/\xc2\x85", "/\xee\x80\x80", "" };
	const char *good[] = { "/.a", "/a..", "/a.b", "/\xc3\xa9", "/zookeeper/x", "/a b" };
	struct zk_op op = op_create("/ok", 0);
	uint8_t big[65];

	mk(false);
	/* ZooKeeper looks the parent up before it validates the whole path */
	op.path = "/a/.";
	CU_ASSERT_EQUAL(run(&op), ZK_ENONODE);
	op.path = "/a";
	CU_ASSERT_EQUAL(run(&op), ZK_OK);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		op.path = bad[i];
		int rc = run(&op);
		if (rc != ZK_EBADARGUMENTS) {
			printf("path %s: %d\n", bad[i], rc);
			CU_FAIL("bad path not BadArguments");
		}
	}
	for (size_t i = 0; i < sizeof nonode / sizeof nonode[0]; i++) {
		op.path = nonode[i];
		CU_ASSERT_EQUAL(run(&op), ZK_ENONODE);
	}
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		op.path = good[i];
		CU_ASSERT_EQUAL(run(&op), ZK_OK);
		CU_ASSERT(exists(good[i], NULL));
	}
	op.path = "/f";
	for (int32_t f = -1; f <= 8; f += 9) {
		op.flags = f;
		CU_ASSERT_EQUAL(run(&op), ZK_EBADARGUMENTS);
	}
	op.flags = 0;
	memset(big, 'b', sizeof big);
	op.data = big;
	op.data_len = 65; /* cfg.data_max_bytes = 64 */
	CU_ASSERT_EQUAL(run(&op), ZK_EBADARGUMENTS);
	op.data_len = 64;
	CU_ASSERT_EQUAL(run(&op), ZK_OK);
	op.path = "/g";
	op.acl = (struct zk_acl_list){ 0, NULL };
	CU_ASSERT_EQUAL(run(&op), ZK_EINVALIDACL);
	CU_ASSERT(!exists("/g", NULL));
	rm();
}

static void test_prep_sequential(void)
{
	struct zk_op op = op_create("/s", 0), del;
	char want[64];

	mk(false);
	CU_ASSERT_EQUAL(run(&op), ZK_OK);
	op.flags = ZK_CREATE_SEQUENTIAL;
	op.path = "/s/n-";
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(run(&op), ZK_OK);
		snprintf(want, sizeof want, "/s/n-%010d", i);
		CU_ASSERT_STRING_EQUAL(last.path, want);
		CU_ASSERT(exists(want, NULL));
	}
	del = op_path(ZK_OP_DELETE, "/s/n-0000000002", -1);
	CU_ASSERT_EQUAL(run(&del), ZK_OK); /* deletes do not lower cversion */
	op.flags = 0;
	op.path = "/s/plain";
	CU_ASSERT_EQUAL(run(&op), ZK_OK); /* plain creates count too */
	op.flags = ZK_CREATE_SEQUENTIAL;
	op.path = "/s/n-";
	CU_ASSERT_EQUAL(run(&op), ZK_OK);
	CU_ASSERT_STRING_EQUAL(last.path, "/s/n-0000000004");
	op.path = "/s/"; /* ZooKeeper validates the path with its suffix */
	CU_ASSERT_EQUAL(run(&op), ZK_OK);
	CU_ASSERT_STRING_EQUAL(last.path, "/s/0000000005");
	rm();
}

static void test_prep_ephemeral_and_sessions(void)
{
	struct zk_op op = op_create("/e", ZK_CREATE_EPHEMERAL), child = op_create("/e/c", 0);
	struct txn t1, t2, tc;
	struct zstat st;

	mk(false);
	CU_ASSERT_EQUAL(run(&op), ZK_ESESSIONEXPIRED); /* no such session */
	CU_ASSERT_EQUAL(session_op(ZK_OP_CREATESESSION), ZK_OK);
	CU_ASSERT_EQUAL(last.timeout_ms, 5000);
	CU_ASSERT_EQUAL(run(&op), ZK_OK);
	CU_ASSERT_EQUAL(last.ephemeral_owner, (int64_t)sess);
	CU_ASSERT(exists("/e", &st) && st.ephemeral_owner == (int64_t)sess);
	CU_ASSERT_EQUAL(run(&child), ZK_ENOCHILDRENFOREPHEMERALS);
	/* pipelined: another ephemeral, then closeSession, before either applies */
	op.path = "/e2";
	CU_ASSERT_EQUAL(prep_as(&op, op.type, &t1), ZK_OK);
	CU_ASSERT_EQUAL(prep_as(NULL, ZK_OP_CLOSESESSION, &tc), ZK_OK);
	CU_ASSERT_EQUAL_FATAL(tc.path_count, 2);
	CU_ASSERT((strcmp(tc.paths[0], "/e") == 0 && strcmp(tc.paths[1], "/e2") == 0) ||
		  (strcmp(tc.paths[0], "/e2") == 0 && strcmp(tc.paths[1], "/e") == 0));
	/* the session is closing: a new ephemeral is refused, not orphaned */
	op.path = "/e3";
	CU_ASSERT_EQUAL(prep_as(&op, op.type, &t2), ZK_ESESSIONEXPIRED);
	apply(&t1);
	apply(&tc);
	apply(&t2);
	CU_ASSERT(!exists("/e", NULL) && !exists("/e2", NULL) && !exists("/e3", NULL));
	CU_ASSERT_EQUAL(store_session_get(s, sess, &(int32_t){ 0 }), false);
	rm();
}

static void test_prep_close_session_skips_deleted(void)
{
	struct zk_op op = op_create("/k", ZK_CREATE_EPHEMERAL);
	struct zk_op del = op_path(ZK_OP_DELETE, "/k", -1);
	struct txn td, tc;

	mk(false);
	CU_ASSERT_EQUAL(session_op(ZK_OP_CREATESESSION), ZK_OK);
	CU_ASSERT_EQUAL(run(&op), ZK_OK);
	op.path = "/k2";
	CU_ASSERT_EQUAL(run(&op), ZK_OK);
	CU_ASSERT_EQUAL(prep_as(&del, del.type, &td), ZK_OK); /* pending delete of /k */
	CU_ASSERT_EQUAL(prep_as(NULL, ZK_OP_CLOSESESSION, &tc), ZK_OK);
	CU_ASSERT_EQUAL_FATAL(tc.path_count, 1);
	CU_ASSERT_STRING_EQUAL(tc.paths[0], "/k2");
	apply(&td);
	apply(&tc);
	CU_ASSERT(!exists("/k2", NULL));
	rm();
}

static void test_prep_container_and_ttl(void)
{
	struct zk_op c = op_create("/c", ZK_CREATE_CONTAINER), t = op_create("/t", ZK_CREATE_TTL);
	struct zk_op child = op_create("/c/x", 0);
	struct zstat st;

	mk(false);
	c.type = ZK_OP_CREATECONTAINER;
	CU_ASSERT_EQUAL(run(&c), ZK_OK);
	CU_ASSERT_EQUAL(last.type, ZK_OP_CREATECONTAINER);
	CU_ASSERT(exists("/c", &st) && (uint64_t)st.ephemeral_owner == ZK_OWNER_CONTAINER);
	CU_ASSERT_EQUAL(run(&child), ZK_OK); /* containers may have children */
	t.type = ZK_OP_CREATETTL;
	t.ttl = 1000;
	CU_ASSERT_EQUAL(run(&t), ZK_EUNIMPLEMENTED); /* extended types off */
	rm();

	mk(true);
	t.ttl = 0;
	CU_ASSERT_EQUAL(run(&t), ZK_EBADARGUMENTS);
	t.ttl = (int64_t)ZK_TTL_MAX + 1;
	CU_ASSERT_EQUAL(run(&t), ZK_EBADARGUMENTS);
	t.ttl = 1000;
	t.flags = 0; /* createTTL needs a TTL mode */
	CU_ASSERT_EQUAL(run(&t), ZK_EBADARGUMENTS);
	t.flags = ZK_CREATE_TTL;
	CU_ASSERT_EQUAL(run(&t), ZK_OK);
	CU_ASSERT(exists("/t", &st) && (uint64_t)st.ephemeral_owner == (ZK_OWNER_TTL_MASK | 1000));
	child.path = "/t/kid";
	CU_ASSERT_EQUAL(run(&child), ZK_OK); /* TTL parents may have children */
	t.flags = ZK_CREATE_SEQUENTIAL_TTL;
	t.path = "/t/s-";
	CU_ASSERT_EQUAL(run(&t), ZK_OK);
	CU_ASSERT_STRING_EQUAL(last.path, "/t/s-0000000001");
	t = op_create("/t2", ZK_CREATE_TTL); /* TTL mode through plain create: no ttl */
	CU_ASSERT_EQUAL(run(&t), ZK_EBADARGUMENTS);
	rm();
}

static void test_prep_delete_container(void)
{
	struct zk_op c = op_create("/c", ZK_CREATE_CONTAINER), child = op_create("/c/x", 0);
	struct zk_op dc = op_path(ZK_OP_DELETECONTAINER, "/c", 0);
	struct zk_op eph = op_create("/e", ZK_CREATE_EPHEMERAL);

	mk(false);
	c.type = ZK_OP_CREATECONTAINER;
	CU_ASSERT_EQUAL(run(&c), ZK_OK);
	CU_ASSERT_EQUAL(run(&child), ZK_OK);
	CU_ASSERT_EQUAL(run(&dc), ZK_ENOTEMPTY);
	child = op_path(ZK_OP_DELETE, "/c/x", -1);
	CU_ASSERT_EQUAL(run(&child), ZK_OK);
	CU_ASSERT_EQUAL(run(&dc), ZK_OK);
	CU_ASSERT_EQUAL(last.type, ZK_OP_DELETECONTAINER);
	CU_ASSERT(!exists("/c", NULL));
	CU_ASSERT_EQUAL(run(&dc), ZK_ENONODE);
	CU_ASSERT_EQUAL(session_op(ZK_OP_CREATESESSION), ZK_OK);
	CU_ASSERT_EQUAL(run(&eph), ZK_OK);
	dc.path = "/e";
	CU_ASSERT_EQUAL(run(&dc), ZK_EBADVERSION);
	dc.path = "/zookeeper";
	CU_ASSERT_EQUAL(run(&dc), ZK_EBADARGUMENTS);
	child = op_create("/plain", 0); /* a persistent node took a reaped container's path */
	CU_ASSERT_EQUAL(run(&child), ZK_OK);
	dc.path = "/plain";
	CU_ASSERT_EQUAL(run(&dc), ZK_EBADVERSION);
	CU_ASSERT(exists("/plain", NULL));
	rm();
	mk(true); /* the reaper also removes TTL nodes */
	child = op_create("/ttl", ZK_CREATE_TTL);
	child.type = ZK_OP_CREATETTL;
	child.ttl = 10;
	CU_ASSERT_EQUAL(run(&child), ZK_OK);
	dc.path = "/ttl";
	CU_ASSERT_EQUAL(run(&dc), ZK_OK);
	CU_ASSERT(!exists("/ttl", NULL));
	rm();
}

static void test_prep_delete(void)
{
	struct zk_op c = op_create("/d", 0), del = op_path(ZK_OP_DELETE, "/d", 5);
	const char *special[] = { "/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config",
				  "nodash" };

	mk(false);
	CU_ASSERT_EQUAL(run(&c), ZK_OK);
	c.path = "/d/k";
	CU_ASSERT_EQUAL(run(&c), ZK_OK);
	CU_ASSERT_EQUAL(run(&del), ZK_EBADVERSION);
	del.version = 0;
	CU_ASSERT_EQUAL(run(&del), ZK_ENOTEMPTY);
	del.path = "/d/k";
	CU_ASSERT_EQUAL(run(&del), ZK_OK);
	CU_ASSERT_STRING_EQUAL(last.path, "/d/k");
	CU_ASSERT_EQUAL(run(&del), ZK_ENONODE);
	del.path = "/nope/k";
	CU_ASSERT_EQUAL(run(&del), ZK_ENONODE);
	del.path = "/d/";
	CU_ASSERT_EQUAL(run(&del), ZK_ENONODE);
	for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) {
		del.path = special[i];
		CU_ASSERT_EQUAL(run(&del), ZK_EBADARGUMENTS);
	}
	del.path = "/d";
	del.version = -1;
	CU_ASSERT_EQUAL(run(&del), ZK_OK);
	CU_ASSERT(!exists("/d", NULL));
	rm();
}

static void test_prep_set_data_acl_check(void)
{
	struct zk_op c = op_create("/n", 0);
	struct zk_op set = { .type = ZK_OP_SETDATA, .path = "/n", .data = (const uint8_t *)"yy",
			     .data_len = 2, .version = 1 };
	struct zk_op sacl = { .type = ZK_OP_SETACL, .path = "/n", .acl = open_acl, .version = 0 };
	struct zk_op chk = op_path(ZK_OP_CHECK, "/n", 0);
	struct zstat st;

	mk(false);
	CU_ASSERT_EQUAL(run(&c), ZK_OK);
	CU_ASSERT_EQUAL(run(&set), ZK_EBADVERSION);
	set.version = 0;
	CU_ASSERT_EQUAL(run(&set), ZK_OK);
	CU_ASSERT_EQUAL(last.version, 1);
	CU_ASSERT(exists("/n", &st) && st.version == 1 && st.data_length == 2);
	set.version = -1;
	CU_ASSERT_EQUAL(run(&set), ZK_OK);
	CU_ASSERT_EQUAL(last.version, 2);
	set.path = "/missing";
	CU_ASSERT_EQUAL(run(&set), ZK_ENONODE);
	set.path = "/n/";
	CU_ASSERT_EQUAL(run(&set), ZK_EBADARGUMENTS);
	CU_ASSERT_EQUAL(run(&sacl), ZK_OK);
	CU_ASSERT_EQUAL(last.version, 1);
	CU_ASSERT(exists("/n", &st) && st.aversion == 1 && st.version == 2);
	CU_ASSERT_EQUAL(run(&sacl), ZK_EBADVERSION); /* aversion is 1 now */
	sacl.acl = (struct zk_acl_list){ 0, NULL };
	CU_ASSERT_EQUAL(run(&sacl), ZK_EINVALIDACL);
	CU_ASSERT_EQUAL(run(&chk), ZK_EUNIMPLEMENTED); /* check only inside multi */
	rm();
}

static void test_prep_acl_checks(void)
{
	static const struct zk_acl bob_v[] = { { ZK_PERM_ALL, { "digest", "bob:h" } },
					       { ZK_PERM_READ, { "world", "anyone" } } };
	static const struct zk_acl auth_v[] = { { ZK_PERM_ALL, { "auth", "" } } };
	struct store_auth bob = { .count = 2, .ids = { { "ip", "127.0.0.1" }, { "digest", "bob:h" } } };
	struct store_auth eve = { .count = 1, .ids = { { "digest", "eve:h" } } };
	struct store_auth sup = { .count = 0, .super = true };
	struct zk_op c = op_create("/p", 0), kid = op_create("/p/k", 0);
	struct zk_op set = { .type = ZK_OP_SETDATA, .path = "/p", .data_len = -1, .version = -1 };
	struct zk_op sacl = { .type = ZK_OP_SETACL, .path = "/p", .acl = open_acl, .version = -1 };
	struct zk_op del = op_path(ZK_OP_DELETE, "/p/k", -1);

	mk(false);
	c.acl = (struct zk_acl_list){ 2, bob_v };
	CU_ASSERT_EQUAL(run(&c), ZK_OK);
	cur_auth = &eve;
	CU_ASSERT_EQUAL(run(&kid), ZK_ENOAUTH);
	CU_ASSERT_EQUAL(run(&set), ZK_ENOAUTH);
	CU_ASSERT_EQUAL(run(&sacl), ZK_ENOAUTH);
	cur_auth = &bob;
	kid.acl = (struct zk_acl_list){ 1, auth_v }; /* auth: expands to digest:bob:h */
	CU_ASSERT_EQUAL(run(&kid), ZK_OK);
	CU_ASSERT_EQUAL_FATAL(last.acl.count, 1);
	CU_ASSERT_STRING_EQUAL(last.acl.v[0].id.id, "bob:h");
	CU_ASSERT_EQUAL(run(&set), ZK_OK);
	cur_auth = &eve;
	CU_ASSERT_EQUAL(run(&del), ZK_ENOAUTH); /* DELETE on the parent */
	cur_auth = NULL;
	kid.path = "/q";
	CU_ASSERT_EQUAL(run(&kid), ZK_EINVALIDACL); /* auth with no ids */
	cur_auth = &sup;
	CU_ASSERT_EQUAL(run(&del), ZK_OK);
	CU_ASSERT_EQUAL(run(&sacl), ZK_OK);
	rm();
}

static void test_prep_acl_ip(void)
{
	static const struct zk_acl net_v[] = { { ZK_PERM_CREATE, { "ip", "10.0.0.0/8" } },
					       { ZK_PERM_READ, { "ip", "fd00::/8" } } };
	struct store_auth in4 = { .count = 1, .ids = { { "ip", "10.9.8.7" } } };
	struct store_auth out4 = { .count = 1, .ids = { { "ip", "192.168.1.1" } } };
	struct store_auth in6 = { .count = 1, .ids = { { "ip", "fd12::5" } } };
	struct zk_op c = op_create("/net", 0), kid = op_create("/net/k", 0);
	struct zk_op chk = op_path(ZK_OP_CHECK, "/net", -1);
	struct zk_op multi = { .type = ZK_OP_MULTI, .sub_count = 1, .sub = &chk };

	mk(false);
	c.acl = (struct zk_acl_list){ 2, net_v };
	CU_ASSERT_EQUAL(run(&c), ZK_OK);
	cur_auth = &out4;
	CU_ASSERT_EQUAL(run(&kid), ZK_ENOAUTH);
	cur_auth = &in6;
	CU_ASSERT_EQUAL(run(&kid), ZK_ENOAUTH); /* READ only for v6 */
	CU_ASSERT_EQUAL(run(&multi), ZK_OK);     /* check needs READ */
	cur_auth = &in4;
	CU_ASSERT_EQUAL(run(&multi), ZK_ENOAUTH);
	CU_ASSERT_EQUAL(run(&kid), ZK_OK);
	rm();
}

static void test_prep_op_types(void)
{
	struct zk_op get = op_path(ZK_OP_GETDATA, "/", -1);
	struct zk_op dc = op_path(ZK_OP_DELETECONTAINER, "/x", -1);
	struct zk_op sess_op = { .type = ZK_OP_CLOSESESSION };
	struct zk_op multi = { .type = ZK_OP_MULTI, .sub_count = 1, .sub = &dc };
	struct zk_op empty = { .type = ZK_OP_MULTI };

	mk(false);
	CU_ASSERT_EQUAL(run(&get), ZK_EUNIMPLEMENTED); /* not a write */
	CU_ASSERT_EQUAL(run(&multi), ZK_EBADARGUMENTS); /* deleteContainer is internal */
	multi.sub = &sess_op;
	CU_ASSERT_EQUAL(run(&multi), ZK_EBADARGUMENTS);
	multi.sub = &get;
	CU_ASSERT_EQUAL(run(&multi), ZK_EBADARGUMENTS);
	CU_ASSERT_EQUAL(run(&empty), ZK_OK); /* an empty multi still takes a zxid */
	CU_ASSERT_EQUAL(last.hdr.type, ZK_OP_MULTI);
	CU_ASSERT_EQUAL(last.sub_count, 0);
	rm();
}

static void test_prep_multi_ok(void)
{
	struct zk_op subs[4] = { op_create("/m", 0), op_create("/m/a", ZK_CREATE_SEQUENTIAL),
				 { .type = ZK_OP_SETDATA, .path = "/m", .data_len = -1, .version = 0 },
				 op_path(ZK_OP_CHECK, "/m", 1) };
	struct zk_op multi = { .type = ZK_OP_MULTI, .sub_count = 4, .sub = subs };
	struct zstat st;

	mk(false);
	CU_ASSERT_EQUAL_FATAL(run(&multi), ZK_OK);
	CU_ASSERT_EQUAL(last.hdr.type, ZK_OP_MULTI);
	CU_ASSERT_EQUAL_FATAL(last.sub_count, 4);
	CU_ASSERT_STRING_EQUAL(last.sub[1].path, "/m/a0000000000");
	CU_ASSERT_EQUAL(last.sub[2].version, 1);
	CU_ASSERT_EQUAL(last.sub[3].type, ZK_OP_CHECK);
	for (int i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(last.sub[i].hdr.zxid, last.hdr.zxid);
	CU_ASSERT(exists("/m", &st) && st.version == 1 && st.num_children == 1);
	CU_ASSERT(exists("/m/a0000000000", NULL));
	rm();
}

static void test_prep_multi_rollback(void)
{
	struct zk_op subs[4] = { op_create("/f", 0), op_create("/f/a", 0),
				 op_path(ZK_OP_DELETE, "/nonexistent", -1), op_create("/g", 0) };
	struct zk_op multi = { .type = ZK_OP_MULTI, .sub_count = 4, .sub = subs };
	struct zk_op after = op_create("/f/a", 0), setacl = { .type = ZK_OP_SETACL, .path = "/" };
	const int32_t want[4] = { ZK_OK, ZK_OK, ZK_ENONODE, ZK_ERUNTIMEINCONSISTENCY };
	struct txn t;

	mk(false);
	CU_ASSERT_EQUAL(prep_as(&multi, ZK_OP_MULTI, &t), ZK_ENONODE);
	CU_ASSERT_EQUAL(t.hdr.type, ZK_OP_MULTI);
	CU_ASSERT_EQUAL_FATAL(t.sub_count, 4);
	for (int i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(t.sub[i].type, ZK_OP_ERROR);
		CU_ASSERT_EQUAL(t.sub[i].err, want[i]);
	}
	/* before the error multi applies, the next prep must not see /f */
	CU_ASSERT_EQUAL(prep(&after), ZK_ENONODE);
	apply(&t);
	apply(&last);
	CU_ASSERT(!exists("/f", NULL) && !exists("/g", NULL));
	CU_ASSERT_EQUAL(run(&after), ZK_ENONODE);
	/* setACL is not a multi op */
	subs[2] = setacl;
	CU_ASSERT_EQUAL(run(&multi), ZK_EBADARGUMENTS);
	CU_ASSERT(!exists("/f", NULL));
	rm();
}

/* A failed multi that changed a node twice leaves its old version visible. */
static void test_prep_multi_rollback_versions(void)
{
	struct zk_op c = op_create("/v", 0);
	struct zk_op subs[3] = { { .type = ZK_OP_SETDATA, .path = "/v", .data_len = -1, .version = 0 },
				 { .type = ZK_OP_SETDATA, .path = "/v", .data_len = -1, .version = 1 },
				 op_path(ZK_OP_CHECK, "/v", 7) };
	struct zk_op multi = { .type = ZK_OP_MULTI, .sub_count = 3, .sub = subs };
	struct txn t, t2;

	mk(false);
	CU_ASSERT_EQUAL(prep_as(&c, c.type, &t), ZK_OK); /* not applied: lives in the overlay */
	CU_ASSERT_EQUAL(prep_as(&multi, ZK_OP_MULTI, &t2), ZK_EBADVERSION);
	CU_ASSERT_EQUAL(t2.sub[0].err, ZK_OK);
	CU_ASSERT_EQUAL(t2.sub[2].err, ZK_EBADVERSION);
	CU_ASSERT_EQUAL(prep(&subs[0]), ZK_OK); /* version 0 again */
	CU_ASSERT_EQUAL(last.version, 1);
	apply(&t);
	apply(&t2);
	apply(&last);
	subs[2].version = 1;
	CU_ASSERT_EQUAL(run(&multi), ZK_EBADVERSION); /* the first sub expects 0 */
	subs[0].version = 1;
	subs[1].version = 2;
	subs[2].version = 3;
	CU_ASSERT_EQUAL(run(&multi), ZK_OK);
	rm();
}

static void test_prep_pipelined(void)
{
	struct zk_op a = op_create("/a", 0), b = op_create("/a/b", 0);
	struct zk_op da = op_path(ZK_OP_DELETE, "/a", -1), db = op_path(ZK_OP_DELETE, "/a/b", -1);
	struct zk_op set = { .type = ZK_OP_SETDATA, .path = "/a", .data_len = -1, .version = -1 };
	struct txn t[6];
	struct zstat st;

	mk(false);
	CU_ASSERT_EQUAL(prep_as(&a, a.type, &t[0]), ZK_OK);
	CU_ASSERT_EQUAL(prep_as(&b, b.type, &t[1]), ZK_OK);
	CU_ASSERT_EQUAL(prep_as(&da, da.type, &t[2]), ZK_ENOTEMPTY);
	CU_ASSERT_EQUAL(prep_as(&set, set.type, &t[3]), ZK_OK);
	CU_ASSERT_EQUAL(t[3].version, 1);
	set.version = 1; /* the overlay knows version 1 before it applies */
	CU_ASSERT_EQUAL(prep_as(&set, set.type, &t[4]), ZK_OK);
	CU_ASSERT_EQUAL(t[4].version, 2);
	CU_ASSERT_EQUAL(prep_as(&db, db.type, &t[5]), ZK_OK);
	for (int i = 0; i < 6; i++)
		apply(&t[i]);
	CU_ASSERT(exists("/a", &st) && st.version == 2 && st.num_children == 0);
	CU_ASSERT(!exists("/a/b", NULL));
	CU_ASSERT_EQUAL(run(&da), ZK_OK);
	CU_ASSERT(!exists("/a", NULL));
	rm();
}

static void test_prep_reset(void)
{
	struct zk_op r = op_create("/r", 0), rx = op_create("/r/x", 0);
	struct txn t;

	mk(false);
	CU_ASSERT_EQUAL(prep_as(&r, r.type, &t), ZK_OK);
	CU_ASSERT_EQUAL(prep(&rx), ZK_OK);
	store_prep_reset(s); /* e.g. the log write failed: forget both */
	CU_ASSERT_EQUAL(prep(&rx), ZK_ENONODE);
	CU_ASSERT_EQUAL(run(&r), ZK_OK);
	CU_ASSERT_EQUAL(run(&rx), ZK_OK);
	rm();
}

static void test_prep_arena_short(void)
{
	struct zk_op z = op_create("/z", 0), zw = op_create("/z/w", 0);
	struct store_req req = { .hdr = { .session = 1, .zxid = 0, .type = ZK_OP_CREATE }, .op = &z };
	uint8_t tiny[16];
	struct tn_arena a = tn_arena_init(tiny, sizeof tiny);
	struct txn t;

	mk(false);
	req.hdr.zxid = ++zx;
	CU_ASSERT_EQUAL(store_prep(s, &req, &t, &a), -EMSGSIZE);
	CU_ASSERT_EQUAL(prep(&zw), ZK_ENONODE); /* the failed prep left nothing behind */
	CU_ASSERT_EQUAL(run(&z), ZK_OK);
	CU_ASSERT_EQUAL(run(&zw), ZK_OK);
	rm();
}


/* What prep makes survives the codec: encode, decode, apply the copy. */
static void test_prep_through_codec(void)
{
	struct zk_op subs[2] = { op_create("/w", 0), op_create("/w/s-", ZK_CREATE_SEQUENTIAL) };
	struct zk_op multi = { .type = ZK_OP_MULTI, .sub_count = 2, .sub = subs };
	static uint8_t buf[4096], abuf2[8192];
	struct tn_arena a = tn_arena_init(abuf2, sizeof abuf2);
	struct txn t, copy;
	int len;

	mk(false);
	CU_ASSERT_EQUAL(prep_as(&multi, ZK_OP_MULTI, &t), ZK_OK);
	len = txn_encode(&t, buf, sizeof buf);
	CU_ASSERT_FATAL(len > 0 && (size_t)len == txn_encoded_len(&t));
	CU_ASSERT_EQUAL_FATAL(txn_decode(buf, (size_t)len, &copy, &a), 0);
	apply(&copy);
	CU_ASSERT(exists("/w/s-0000000000", NULL));
	rm();
}


/* ---- differential: pipelined prep must decide exactly as prep-then-apply ---- */

#define DIFF_OPS 4000
#define DIFF_DEPTH_MAX 8

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rng_state >> 33) % n;
}

static const char *const diff_paths[] = { "/a", "/b", "/a/x", "/a/y", "/b/x", "/a/x/z" };

/* One random request into @op (subs in @subs); returns its type. */
static int32_t diff_op(struct zk_op *op, struct zk_op *subs, uint64_t *session)
{
	const char *path = diff_paths[rnd(TN_ARRAY_LEN(diff_paths))];
	uint32_t k = rnd(subs ? 100 : 85); /* no multi inside a multi */

	*session = 1 + rnd(2);
	if (k < 3)
		return rnd(2) ? ZK_OP_CLOSESESSION : ZK_OP_CREATESESSION;
	if (k < 5) {
		/* sequential children pile up, so only under one parent */
		*op = op_create("/b/x/s-", ZK_CREATE_SEQUENTIAL + (int32_t)rnd(2));
	} else if (k < 40) {
		*op = op_create(path, (int32_t)rnd(2));
	} else if (k < 60) {
		*op = op_path(ZK_OP_DELETE, path, rnd(3) ? -1 : (int32_t)rnd(3));
	} else if (k < 80) {
		*op = (struct zk_op){ .type = ZK_OP_SETDATA, .path = path, .data_len = -1,
				      .version = rnd(2) ? -1 : (int32_t)rnd(3) };
	} else if (k < 85) {
		*op = (struct zk_op){ .type = ZK_OP_SETACL, .path = path, .acl = open_acl,
				      .version = rnd(2) ? -1 : (int32_t)rnd(3) };
	} else {
		uint32_t n = 1 + rnd(3);
		for (uint32_t i = 0; i < n; i++) {
			struct zk_op one;
			uint64_t ignored;
			int32_t t;
			while ((t = diff_op(&one, NULL, &ignored)) == ZK_OP_CLOSESESSION ||
			       t == ZK_OP_CREATESESSION || t == ZK_OP_MULTI || t == ZK_OP_SETACL)
				;
			subs[i] = one;
		}
		*op = (struct zk_op){ .type = ZK_OP_MULTI, .sub_count = n, .sub = subs };
	}
	return op->type;
}

struct diff_rec {
	int rc;
	char path[32];
};

/* Run the seeded sequence with up to @depth preps in flight. */
static uint64_t diff_run(uint64_t seed, unsigned depth, struct diff_rec *rec)
{
	static struct zk_op ops[DIFF_DEPTH_MAX + 1], subs[DIFF_DEPTH_MAX + 1][3];
	static struct txn q[DIFF_DEPTH_MAX + 1];
	unsigned qn = 0, qh = 0;
	uint64_t digest;

	uint64_t depth_rng = seed * 7919;

	rng_state = seed;
	mk(false);
	for (uint64_t id = 1; id <= 2; id++) {
		sess = id;
		session_op(ZK_OP_CREATESESSION);
	}
	for (int i = 0; i < DIFF_OPS; i++) {
		unsigned slot = (qh + qn) % (DIFF_DEPTH_MAX + 1);
		int32_t type = diff_op(&ops[slot], subs[slot], &sess);
		unsigned inflight;
		uint64_t ops_rng = rng_state;
		rng_state = depth_rng; /* the depth draws must not shift the op stream */
		inflight = depth > 1 ? rnd(depth) : 0;
		depth_rng = rng_state;
		rng_state = ops_rng;
		if (qn == DIFF_DEPTH_MAX)
			inflight = 0;
		rec[i].rc = prep_as(type == ZK_OP_CREATESESSION || type == ZK_OP_CLOSESESSION ? NULL
											  : &ops[slot],
				    type, &q[slot]);
		snprintf(rec[i].path, sizeof rec[i].path, "%s", q[slot].path ? q[slot].path : "");
		qn++;
		while (qn > inflight) {
			apply(&q[qh]);
			qh = (qh + 1) % (DIFF_DEPTH_MAX + 1);
			qn--;
		}
	}
	while (qn > 0) {
		apply(&q[qh]);
		qh = (qh + 1) % (DIFF_DEPTH_MAX + 1);
		qn--;
	}
	digest = store_digest(s);
	rm();
	return digest;
}

static void test_prep_pipelined_differential(void)
{
	static struct diff_rec serial[DIFF_OPS], piped[DIFF_OPS];

	for (uint64_t seed = 1; seed <= 4; seed++) {
		uint64_t d1 = diff_run(seed, 1, serial);
		uint64_t d2 = diff_run(seed, DIFF_DEPTH_MAX, piped);
		int bad = 0;
		for (int i = 0; i < DIFF_OPS && bad < 3; i++) {
			if (serial[i].rc != piped[i].rc || strcmp(serial[i].path, piped[i].path)) {
				printf("seed %llu op %d: serial %d %s, pipelined %d %s\n",
				       (unsigned long long)seed, i, serial[i].rc, serial[i].path,
				       piped[i].rc, piped[i].path);
				bad++;
			}
		}
		int ok = 0;
		for (int i = 0; i < DIFF_OPS; i++)
			ok += serial[i].rc == ZK_OK;
		CU_ASSERT(ok > DIFF_OPS / 5); /* the sequence must do real work */
		CU_ASSERT_EQUAL(bad, 0);
		CU_ASSERT_EQUAL(d1, d2);
	}
}

static CU_TestInfo tests[] = {
	{ "create_basic", test_prep_create_basic },
	{ "create_bad_args", test_prep_create_bad_args },
	{ "sequential", test_prep_sequential },
	{ "ephemeral_and_sessions", test_prep_ephemeral_and_sessions },
	{ "close_session_skips_deleted", test_prep_close_session_skips_deleted },
	{ "container_and_ttl", test_prep_container_and_ttl },
	{ "delete_container", test_prep_delete_container },
	{ "delete", test_prep_delete },
	{ "set_data_acl_check", test_prep_set_data_acl_check },
	{ "acl_checks", test_prep_acl_checks },
	{ "acl_ip", test_prep_acl_ip },
	{ "op_types", test_prep_op_types },
	{ "multi_ok", test_prep_multi_ok },
	{ "multi_rollback", test_prep_multi_rollback },
	{ "multi_rollback_versions", test_prep_multi_rollback_versions },
	{ "pipelined", test_prep_pipelined },
	{ "reset", test_prep_reset },
	{ "arena_short", test_prep_arena_short },
	{ "through_codec", test_prep_through_codec },
	{ "pipelined_differential", test_prep_pipelined_differential },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "store_prep", NULL, NULL, NULL, NULL, tests },
	CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	return tn_test_main(argc, argv, suites);
}
