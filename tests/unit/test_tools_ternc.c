/* tests/unit/test_tools_ternc.c. Description: the client library's pure
 * parts: host strings and chroot, path checks, watch matching and dispatch
 * (one-shot, persistent, recursive, dedup), result deep copies, ACL text,
 * frames growing past the buffer, DPDK option checks. Includes the .c
 * files (statics in reach); the network paths are covered by
 * tests/integration/test_client.py (and test_dpdk.py over DPDK). */
#include "tools/ternc.c"
#include "tools/ternc_ops.c"

#include "tests/lib/tn_test.h"

static struct ternc_loop test_loop = {.epfd = -1};

static struct ternc *mk(const char *hosts)
{
	struct ternc *c = calloc(1, sizeof(*c));
	CU_ASSERT_FATAL(c != NULL);
	c->loop = &test_loop;
	c->fd = -1;
	c->state = TERNC_CONNECTED;
	CU_ASSERT_EQUAL_FATAL(parse_hosts(c, hosts), 0);
	return c;
}

static void rm(struct ternc *c)
{
	watch_free_all(c);
	free(c->hosts);
	free(c);
}

static void test_hosts(void)
{
	struct ternc *c = mk("127.0.0.1:2181,localhost:2182,[::1]:2183/app/x");
	CU_ASSERT_EQUAL(c->nhosts, 3);
	CU_ASSERT_STRING_EQUAL(c->chroot, "/app/x");
	rm(c);
	c = mk("127.0.0.1/");
	CU_ASSERT_EQUAL(c->nhosts, 1);
	CU_ASSERT_EQUAL(c->chroot_len, 0);
	rm(c);
	struct ternc d = {0};
	CU_ASSERT_EQUAL(parse_hosts(&d, "127.0.0.1:1/app/"), -EINVAL);
	free(d.hosts);
	memset(&d, 0, sizeof(d));
	CU_ASSERT(parse_hosts(&d, ",,") < 0);
	free(d.hosts);
}

static void test_paths(void)
{
	char buf[TERNC_PATH_MAX];
	struct ternc *c = mk("127.0.0.1:1/app");
	CU_ASSERT_EQUAL(tc_path_out(c, "/a/b", false, buf), ZK_OK);
	CU_ASSERT_STRING_EQUAL(buf, "/app/a/b");
	CU_ASSERT_EQUAL(tc_path_out(c, "/", false, buf), ZK_OK);
	CU_ASSERT_STRING_EQUAL(buf, "/app");
	CU_ASSERT_EQUAL(tc_path_out(c, "a", false, buf), ZK_EBADARGUMENTS);
	CU_ASSERT_EQUAL(tc_path_out(c, "/a//b", false, buf), ZK_EBADARGUMENTS);
	CU_ASSERT_EQUAL(tc_path_out(c, "/a/", false, buf), ZK_EBADARGUMENTS);
	CU_ASSERT_EQUAL(tc_path_out(c, "/a/", true, buf), ZK_OK);
	CU_ASSERT_EQUAL(tc_path_out(c, NULL, false, buf), ZK_EBADARGUMENTS);
	CU_ASSERT_STRING_EQUAL(path_in(c, "/app/a"), "/a");
	CU_ASSERT_STRING_EQUAL(path_in(c, "/app"), "/");
	CU_ASSERT_STRING_EQUAL(path_in(c, "/apple"), "/apple"); /* not under the chroot */
	char big[TERNC_PATH_MAX + 8];
	memset(big, 'a', sizeof(big) - 1);
	big[0] = '/';
	big[sizeof(big) - 1] = '\0';
	CU_ASSERT_EQUAL(tc_path_out(c, big, false, buf), ZK_EBADARGUMENTS);
	rm(c);
}

static int fired[4];

static void wfn(struct ternc *c, const struct ternc_event *ev, void *arg)
{
	(void)c;
	(void)ev;
	fired[(intptr_t)arg]++;
}

static void test_watch_dispatch(void)
{
	struct ternc *c = mk("127.0.0.1:1");
	memset(fired, 0, sizeof(fired));
	watch_add(c, "/a", TC_W_DATA, wfn, (void *)0);
	watch_add(c, "/a", TC_W_DATA, wfn, (void *)0); /* a set: no duplicate */
	watch_add(c, "/a", TC_W_CHILD, wfn, (void *)1);
	watch_add(c, "/a", TC_W_PERSIST, wfn, (void *)2);
	watch_add(c, "/", TC_W_RECURSIVE, wfn, (void *)3);
	struct ternc_event ev = {ZK_EVENT_CHILDREN_CHANGED, TERNC_CONNECTED, "/a", 5};
	watch_dispatch(c, &ev);
	CU_ASSERT(fired[0] == 0 && fired[1] == 1 && fired[2] == 1 && fired[3] == 0);
	ev.type = ZK_EVENT_DATA_CHANGED;
	watch_dispatch(c, &ev);
	CU_ASSERT(fired[0] == 1 && fired[1] == 1 && fired[2] == 2 && fired[3] == 1);
	watch_dispatch(c, &ev); /* the data watch was one-shot */
	CU_ASSERT(fired[0] == 1 && fired[2] == 3 && fired[3] == 2);
	ev.path = "/a/b/c";
	watch_dispatch(c, &ev);
	CU_ASSERT(fired[2] == 3 && fired[3] == 3);
	CU_ASSERT(tc_watch_remove(c, "/a", ZK_WATCHER_PERSISTENT));
	CU_ASSERT(!tc_watch_remove(c, "/a", ZK_WATCHER_PERSISTENT));
	/* the same watcher on two kinds of one path runs once per event */
	watch_add(c, "/d", TC_W_DATA, wfn, (void *)0);
	watch_add(c, "/d", TC_W_CHILD, wfn, (void *)0);
	ev = (struct ternc_event){ZK_EVENT_DELETED, TERNC_CONNECTED, "/d", 6};
	int before = fired[0];
	watch_dispatch(c, &ev);
	CU_ASSERT_EQUAL(fired[0], before + 1);
	/* session end: everyone told, everything dropped */
	ev = (struct ternc_event){ZK_EVENT_NONE, TERNC_EXPIRED, "/", -1};
	watch_dispatch(c, &ev);
	CU_ASSERT(c->watches == NULL);
	CU_ASSERT_EQUAL(fired[3], 5); /* /d deleted (recursive on /), then the end */
	rm(c);
}

static void test_result_copy(void)
{
	static const char *const names[] = {"x", "yy"};
	static const struct zk_acl acl[] = {{ZK_PERM_READ, {"digest", "u:h"}}};
	struct ternc_multi_result mr[2] = {{ZK_OP_CREATE2, 0, "/m", {.version = 3}},
					   {ZK_OP_DELETE, 0, NULL, {0}}};
	struct ternc_result r = {.err = 0,
				 .op = ZK_OP_GETDATA,
				 .path = "/p",
				 .data = (const uint8_t *)"abc",
				 .data_len = 3,
				 .acl = {1, acl},
				 .names = names,
				 .count = 2,
				 .multi = mr,
				 .multi_count = 2};
	struct ternc_result *d = result_copy(&r);
	CU_ASSERT_FATAL(d != NULL);
	CU_ASSERT(d->path != r.path && strcmp(d->path, "/p") == 0);
	CU_ASSERT(d->data_len == 3 && memcmp(d->data, "abc", 4) == 0);
	CU_ASSERT(strcmp(d->names[1], "yy") == 0 && d->names != r.names);
	CU_ASSERT(strcmp(d->acl.v[0].id.id, "u:h") == 0 && d->acl.v[0].perms == ZK_PERM_READ);
	CU_ASSERT(strcmp(d->multi[0].path, "/m") == 0 && d->multi[0].stat.version == 3);
	CU_ASSERT(d->multi[1].path == NULL);
	ternc_result_free(d);
}

static void test_acl_text(void)
{
	struct zk_acl_list a;
	CU_ASSERT_EQUAL(ternc_acl_parse("world:anyone:cdrwa,digest:u:h/+=:r,ip:10.0.0.1:rw", &a),
			ZK_OK);
	CU_ASSERT_EQUAL(a.count, 3);
	CU_ASSERT(a.v[0].perms == ZK_PERM_ALL && strcmp(a.v[0].id.scheme, "world") == 0);
	CU_ASSERT(strcmp(a.v[1].id.id, "u:h/+=") == 0 && a.v[1].perms == ZK_PERM_READ);
	CU_ASSERT(a.v[2].perms == (ZK_PERM_READ | ZK_PERM_WRITE));
	ternc_acl_free(&a);
	CU_ASSERT_EQUAL(ternc_acl_parse("world:anyone", &a), ZK_EBADARGUMENTS);
	CU_ASSERT_EQUAL(ternc_acl_parse("world:anyone:q", &a), ZK_EBADARGUMENTS);
	CU_ASSERT_EQUAL(ternc_acl_parse(":x:r", &a), ZK_EBADARGUMENTS);
	CU_ASSERT_EQUAL(ternc_acl_parse("", &a), ZK_EBADARGUMENTS);
	char p[6];
	CU_ASSERT_STRING_EQUAL(ternc_perms_str(ZK_PERM_ALL, p), "cdrwa");
	CU_ASSERT_STRING_EQUAL(ternc_perms_str(ZK_PERM_READ | ZK_PERM_ADMIN, p), "ra");
	char id[64];
	CU_ASSERT_EQUAL(ternc_digest_id("alice:pw", id, sizeof(id)), ZK_OK);
	CU_ASSERT_STRING_EQUAL(id, "alice:V55/p2T0OpjQ+low3NVAH4aLvm0="); /* python hashlib */
	CU_ASSERT_EQUAL(ternc_digest_id("nocolon", id, sizeof(id)), ZK_EBADARGUMENTS);
	CU_ASSERT_STRING_EQUAL(ternc_strerror(ZK_ENONODE), "NoNode");
	CU_ASSERT_STRING_EQUAL(ternc_strerror(12345), "Unknown");
}

static void test_frames_grow(void)
{
	struct tc_buf b = {0};
	static uint8_t data[300000];
	struct zkp_request req = {.xid = 7, .type = ZK_OP_SETDATA};
	req.op = (struct zk_op){.type = ZK_OP_SETDATA,
				.path = "/big",
				.data = data,
				.data_len = (int32_t)sizeof(data),
				.version = -1};
	CU_ASSERT_EQUAL(buf_put_request(&b, &req), ZK_OK);
	CU_ASSERT_EQUAL(buf_put_request(&b, &req), ZK_OK);
	uint32_t flen = 0;
	CU_ASSERT_EQUAL(zkp_frame_len(b.p, b.len, ZKP_FRAME_MAX, &flen), ZKP_FRAME_OK);
	CU_ASSERT_EQUAL(b.len, 2 * (ZKP_LEN_PREFIX + flen));
	struct zkp_request bad = {.xid = 1, .type = 9999};
	CU_ASSERT_EQUAL(buf_put_request(&b, &bad), ZK_EBADARGUMENTS);
	buf_free(&b);
}

/* ternc_loop_dpdk refuses bad options before touching the EAL, naming the
 * option, and refuses a loop that already has sessions. */
static void test_dpdk_cfg(void)
{
	struct ternc_loop *l;
	const char *bad = NULL;
	struct ternc_dpdk_cfg cfg = {.port = "net_null0", .ip = "10.0.0.300"};

	CU_ASSERT_EQUAL_FATAL(ternc_loop_new(&l), 0);
	CU_ASSERT_EQUAL(ternc_loop_dpdk(l, &cfg, &bad), -EINVAL);
	CU_ASSERT_STRING_EQUAL(bad, "ip");
	cfg.ip = "10.0.0.3";
	cfg.netmask = "255.255.0";
	CU_ASSERT_EQUAL(ternc_loop_dpdk(l, &cfg, &bad), -EINVAL);
	CU_ASSERT_STRING_EQUAL(bad, "netmask");
	cfg.netmask = NULL;
	cfg.gateway = "gw";
	CU_ASSERT_EQUAL(ternc_loop_dpdk(l, &cfg, &bad), -EINVAL);
	CU_ASSERT_STRING_EQUAL(bad, "gateway");
	cfg.gateway = NULL;
	cfg.port = "";
	CU_ASSERT_EQUAL(ternc_loop_dpdk(l, &cfg, &bad), -EINVAL);
	CU_ASSERT_STRING_EQUAL(bad, "dev");
	cfg.port = "net_null0";
	struct ternc *c;
	struct ternc_cfg sc = {.hosts = "127.0.0.1:1", .transport = TERNC_UDP};
	CU_ASSERT_EQUAL_FATAL(ternc_open(l, &sc, &c), 0);
	CU_ASSERT_EQUAL(ternc_loop_dpdk(l, &cfg, &bad), -EBUSY);
	ternc_loop_free(l);
}

static CU_TestInfo tests[] = {
    {"hosts", test_hosts},
    {"paths", test_paths},
    {"watch_dispatch", test_watch_dispatch},
    {"result_copy", test_result_copy},
    {"acl_text", test_acl_text},
    {"frames_grow", test_frames_grow},
    {"dpdk_cfg", test_dpdk_cfg},
    CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = {{"ternc", NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};

int main(int argc, char **argv)
{
	return tn_test_main(argc, argv, suites);
}
