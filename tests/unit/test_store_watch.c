/* tests/unit/test_store_watch.c. Description: watches of every kind fired by
 * store_apply, in ZooKeeper's order; one event per session per trigger;
 * SetWatches relative-zxid rules; remove/check, drop_session, stats. */
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
static struct store_apply_out out;

static void setup(void)
{
	zx = 0;
	CU_ASSERT_EQUAL_FATAL(store_create(&s, NULL), 0);
}

static void teardown(void)
{
	store_destroy(s);
	s = NULL;
}

static const struct store_apply_out *create(const char *path)
{
	struct txn t = { .hdr = { .zxid = ++zx, .time_ms = 1, .type = ZK_OP_CREATE },
			 .type = ZK_OP_CREATE, .path = path, .data_len = -1, .acl = open_acl,
			 .parent_cversion = -1 };
	CU_ASSERT_EQUAL(store_apply(s, &t, &out), 0);
	return &out;
}

static const struct store_apply_out *del(const char *path)
{
	struct txn t = { .hdr = { .zxid = ++zx, .type = ZK_OP_DELETE }, .type = ZK_OP_DELETE,
			 .path = path };
	CU_ASSERT_EQUAL(store_apply(s, &t, &out), 0);
	return &out;
}

static const struct store_apply_out *set(const char *path)
{
	struct txn t = { .hdr = { .zxid = ++zx, .type = ZK_OP_SETDATA }, .type = ZK_OP_SETDATA,
			 .path = path, .data = (const uint8_t *)"x", .data_len = 1,
			 .version = (int32_t)zx };
	CU_ASSERT_EQUAL(store_apply(s, &t, &out), 0);
	return &out;
}

static void add(uint64_t session, const char *path, enum store_watch_kind k)
{
	struct store_event ev;
	CU_ASSERT_EQUAL(store_watch_add(s, session, path, k, zx, &ev), 0);
}

static bool ev_is(const struct store_apply_out *o, uint32_t i, uint64_t session, int32_t type,
		  const char *path)
{
	return i < o->event_count && o->events[i].session == session &&
	       o->events[i].type == type && strcmp(o->events[i].path, path) == 0 &&
	       o->events[i].zxid == zx;
}

static void test_data_watch_one_shot(void)
{
	create("/a");
	add(1, "/a", STORE_WATCH_DATA);
	const struct store_apply_out *o = set("/a");
	CU_ASSERT_EQUAL(o->event_count, 1);
	CU_ASSERT(ev_is(o, 0, 1, ZK_EVENT_DATA_CHANGED, "/a"));
	o = set("/a");
	CU_ASSERT_EQUAL(o->event_count, 0);
	struct store_watch_stats st;
	store_watch_stats(s, &st);
	CU_ASSERT_EQUAL(st.total, 0);
	CU_ASSERT_EQUAL(st.paths, 0);
	CU_ASSERT_EQUAL(st.sessions, 0);
}

static void test_create_order(void)
{
	create("/p");
	add(1, "/p/n", STORE_WATCH_EXIST);
	add(2, "/p", STORE_WATCH_CHILD);
	add(3, "/p/n", STORE_WATCH_EXIST);
	const struct store_apply_out *o = create("/p/n");
	CU_ASSERT_EQUAL_FATAL(o->event_count, 3);
	/* NodeCreated for the node first, then the parent's NodeChildrenChanged */
	CU_ASSERT(o->events[0].type == ZK_EVENT_CREATED && o->events[1].type == ZK_EVENT_CREATED);
	CU_ASSERT(o->events[0].session != o->events[1].session);
	CU_ASSERT(ev_is(o, 2, 2, ZK_EVENT_CHILDREN_CHANGED, "/p"));
	CU_ASSERT_EQUAL(create("/p/m")->event_count, 0); /* child watch was one-shot */
}

static void test_delete_events(void)
{
	create("/p");
	create("/p/n");
	add(1, "/p/n", STORE_WATCH_DATA);
	add(1, "/p/n", STORE_WATCH_CHILD); /* same session: one NodeDeleted */
	add(2, "/p/n", STORE_WATCH_CHILD);
	add(3, "/p", STORE_WATCH_CHILD);
	add(1, "/p", STORE_WATCH_CHILD);   /* a different path: its own event */
	const struct store_apply_out *o = del("/p/n");
	CU_ASSERT_EQUAL_FATAL(o->event_count, 4);
	CU_ASSERT(ev_is(o, 0, 1, ZK_EVENT_DELETED, "/p/n"));
	CU_ASSERT(ev_is(o, 1, 2, ZK_EVENT_DELETED, "/p/n"));
	CU_ASSERT(o->events[2].type == ZK_EVENT_CHILDREN_CHANGED &&
		  o->events[3].type == ZK_EVENT_CHILDREN_CHANGED);
	CU_ASSERT_STRING_EQUAL(o->events[3].path, "/p");
	struct store_watch_stats st;
	store_watch_stats(s, &st);
	CU_ASSERT_EQUAL(st.total, 0);
}

static void test_root_child_watch(void)
{
	add(4, "/", STORE_WATCH_CHILD);
	const struct store_apply_out *o = create("/top");
	CU_ASSERT_EQUAL(o->event_count, 1);
	CU_ASSERT(ev_is(o, 0, 4, ZK_EVENT_CHILDREN_CHANGED, "/"));
}

static void test_persistent(void)
{
	create("/w");
	add(5, "/w", STORE_WATCH_PERSISTENT);
	for (int i = 0; i < 3; i++) {
		const struct store_apply_out *o = set("/w");
		CU_ASSERT_EQUAL(o->event_count, 1);
		CU_ASSERT(ev_is(o, 0, 5, ZK_EVENT_DATA_CHANGED, "/w"));
	}
	const struct store_apply_out *o = create("/w/c");
	CU_ASSERT_EQUAL(o->event_count, 1);
	CU_ASSERT(ev_is(o, 0, 5, ZK_EVENT_CHILDREN_CHANGED, "/w"));
	o = create("/w/c/d"); /* not recursive: nothing */
	CU_ASSERT_EQUAL(o->event_count, 0);
	del("/w/c/d");
	del("/w/c");
	o = del("/w");
	CU_ASSERT_EQUAL(o->event_count, 1); /* data + child tables: one NodeDeleted */
	CU_ASSERT(ev_is(o, 0, 5, ZK_EVENT_DELETED, "/w"));
	o = create("/w"); /* persistent watches survive the node */
	CU_ASSERT_EQUAL(o->event_count, 1);
	CU_ASSERT(ev_is(o, 0, 5, ZK_EVENT_CREATED, "/w"));
}

static void test_recursive(void)
{
	create("/r");
	add(6, "/r", STORE_WATCH_RECURSIVE);
	add(6, "/r/a", STORE_WATCH_EXIST); /* same session, matching path: one event */
	add(7, "/r", STORE_WATCH_CHILD);
	const struct store_apply_out *o = create("/r/a");
	CU_ASSERT_EQUAL_FATAL(o->event_count, 2);
	CU_ASSERT(ev_is(o, 0, 6, ZK_EVENT_CREATED, "/r/a"));
	CU_ASSERT(ev_is(o, 1, 7, ZK_EVENT_CHILDREN_CHANGED, "/r")); /* never to session 6 */
	o = create("/r/a/b");
	CU_ASSERT_EQUAL(o->event_count, 1);
	CU_ASSERT(ev_is(o, 0, 6, ZK_EVENT_CREATED, "/r/a/b"));
	o = set("/r/a/b");
	CU_ASSERT(ev_is(o, 0, 6, ZK_EVENT_DATA_CHANGED, "/r/a/b"));
	o = del("/r/a/b");
	CU_ASSERT_EQUAL(o->event_count, 1);
	CU_ASSERT(ev_is(o, 0, 6, ZK_EVENT_DELETED, "/r/a/b"));
	o = set("/r");
	CU_ASSERT(ev_is(o, 0, 6, ZK_EVENT_DATA_CHANGED, "/r"));
	o = create("/rx"); /* a sibling sharing the prefix is not a descendant */
	CU_ASSERT_EQUAL(o->event_count, 0);
	add(8, "/", STORE_WATCH_RECURSIVE);
	o = set("/r/a");
	CU_ASSERT_EQUAL(o->event_count, 2);
}

static void test_many_sessions(void)
{
	create("/m");
	for (uint64_t i = 1; i <= 500; i++) {
		add(i, "/m", STORE_WATCH_DATA);
		add(i, "/m", STORE_WATCH_RECURSIVE);
	}
	const struct store_apply_out *o = set("/m");
	CU_ASSERT_EQUAL(o->event_count, 500);
	uint64_t sum = 0;
	for (uint32_t i = 0; i < o->event_count; i++)
		sum += o->events[i].session;
	CU_ASSERT_EQUAL(sum, 500u * 501u / 2u);
	CU_ASSERT_EQUAL(set("/m")->event_count, 500); /* recursive ones stay */
}

static void test_set_watches_rules(void)
{
	struct store_event ev;
	create("/s");
	tn_zxid seen = zx;
	set("/s");
	/* data watch, changed since the client's view */
	CU_ASSERT_EQUAL(store_watch_add(s, 1, "/s", STORE_WATCH_DATA, seen, &ev), 1);
	CU_ASSERT_EQUAL(ev.type, ZK_EVENT_DATA_CHANGED);
	CU_ASSERT_EQUAL(ev.session, 1);
	CU_ASSERT_STRING_EQUAL(ev.path, "/s");
	CU_ASSERT_EQUAL(store_watch_add(s, 1, "/s", STORE_WATCH_DATA, zx, &ev), 0);
	CU_ASSERT_EQUAL(store_watch_add(s, 1, "/none", STORE_WATCH_DATA, zx, &ev), 1);
	CU_ASSERT_EQUAL(ev.type, ZK_EVENT_DELETED);
	CU_ASSERT_EQUAL(store_watch_add(s, 1, "/none", STORE_WATCH_CHILD, zx, &ev), 1);
	CU_ASSERT_EQUAL(ev.type, ZK_EVENT_DELETED);
	/* exist watch: the node appeared after the client saw "no node" */
	CU_ASSERT_EQUAL(store_watch_add(s, 2, "/s", STORE_WATCH_EXIST, seen - 1, &ev), 1);
	CU_ASSERT_EQUAL(ev.type, ZK_EVENT_CREATED);
	CU_ASSERT_EQUAL(store_watch_add(s, 2, "/none", STORE_WATCH_EXIST, zx, &ev), 0);
	/* child watch: pzxid moved */
	seen = zx;
	create("/s/k");
	CU_ASSERT_EQUAL(store_watch_add(s, 3, "/s", STORE_WATCH_CHILD, seen, &ev), 1);
	CU_ASSERT_EQUAL(ev.type, ZK_EVENT_CHILDREN_CHANGED);
	CU_ASSERT_EQUAL(store_watch_add(s, 3, "/s", STORE_WATCH_CHILD, zx, &ev), 0);
	CU_ASSERT_EQUAL(store_watch_add(s, 3, "/none", STORE_WATCH_PERSISTENT, 0, &ev), 0);
	CU_ASSERT_EQUAL(store_watch_add(s, 3, "/none", STORE_WATCH_RECURSIVE, 0, &ev), 0);
	CU_ASSERT_EQUAL(store_watch_add(s, 3, "bad", STORE_WATCH_DATA, 0, &ev), -EINVAL);
	CU_ASSERT_EQUAL(store_watch_add(s, 3, "/s", (enum store_watch_kind)42, 0, &ev), -EINVAL);
	/* the registered ones fire later */
	const struct store_apply_out *o = create("/none");
	CU_ASSERT_EQUAL(o->event_count, 2); /* session 2 exist, session 3 persistent+recursive */
}

/* exists() on a present node registers an exist watch with its mzxid: it
 * then behaves as a data watch (fires on change and on delete). */
static void test_exist_watch_on_present_node(void)
{
	struct store_event ev;
	create("/q");
	CU_ASSERT_EQUAL(store_watch_add(s, 1, "/q", STORE_WATCH_EXIST, zx, &ev), 0);
	const struct store_apply_out *o = set("/q");
	CU_ASSERT_EQUAL(o->event_count, 1);
	CU_ASSERT(ev_is(o, 0, 1, ZK_EVENT_DATA_CHANGED, "/q"));
	CU_ASSERT_EQUAL(store_watch_add(s, 1, "/q", STORE_WATCH_EXIST, zx, &ev), 0);
	o = del("/q");
	CU_ASSERT_EQUAL(o->event_count, 1);
	CU_ASSERT(ev_is(o, 0, 1, ZK_EVENT_DELETED, "/q"));
}

/* In a multi, events follow the sub-op order. */
static void test_multi_event_order(void)
{
	create("/o");
	add(1, "/o", STORE_WATCH_CHILD);
	add(2, "/o/a", STORE_WATCH_EXIST);
	add(3, "/o", STORE_WATCH_DATA);
	struct txn subs[2] = {
		{ .type = ZK_OP_CREATE, .path = "/o/a", .data_len = -1, .acl = open_acl,
		  .parent_cversion = -1 },
		{ .type = ZK_OP_SETDATA, .path = "/o", .data_len = -1, .version = 1 },
	};
	struct txn t = { .hdr = { .zxid = ++zx, .type = ZK_OP_MULTI }, .type = ZK_OP_MULTI,
			 .sub = subs, .sub_count = 2 };
	CU_ASSERT_EQUAL(store_apply(s, &t, &out), 0);
	CU_ASSERT_EQUAL_FATAL(out.event_count, 3);
	CU_ASSERT(ev_is(&out, 0, 2, ZK_EVENT_CREATED, "/o/a"));
	CU_ASSERT(ev_is(&out, 1, 1, ZK_EVENT_CHILDREN_CHANGED, "/o"));
	CU_ASSERT(ev_is(&out, 2, 3, ZK_EVENT_DATA_CHANGED, "/o"));
}

static void count_fe(void *arg, uint64_t session, const char *path)
{
	(void)session;
	(void)path;
	++*(int *)arg;
}

static void test_remove_and_check(void)
{
	create("/x");
	add(1, "/x", STORE_WATCH_DATA);
	add(1, "/x", STORE_WATCH_CHILD);
	add(1, "/x", STORE_WATCH_PERSISTENT);
	add(2, "/x", STORE_WATCH_RECURSIVE);
	struct store_watch_stats st;
	store_watch_stats(s, &st);
	CU_ASSERT_EQUAL(st.total, 4);
	CU_ASSERT_EQUAL(st.sessions, 2);
	CU_ASSERT_EQUAL(st.paths, 1);
	int n = 0;
	store_watch_foreach(s, count_fe, &n);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(store_watch_remove(s, 1, "/x", ZK_WATCHER_DATA, true), ZK_OK);
	CU_ASSERT_EQUAL(store_watch_remove(s, 1, "/x", ZK_WATCHER_DATA, false), ZK_OK);
	CU_ASSERT_EQUAL(store_watch_remove(s, 1, "/x", ZK_WATCHER_DATA, false), ZK_ENOWATCHER);
	CU_ASSERT_EQUAL(store_watch_remove(s, 1, "/x", ZK_WATCHER_PERSISTENT_RECURSIVE, true),
			ZK_ENOWATCHER);
	CU_ASSERT_EQUAL(store_watch_remove(s, 2, "/x", ZK_WATCHER_PERSISTENT_RECURSIVE, true),
			ZK_OK);
	CU_ASSERT_EQUAL(store_watch_remove(s, 1, "/x", ZK_WATCHER_CHILDREN, false), ZK_OK);
	CU_ASSERT_EQUAL(store_watch_remove(s, 1, "/x", ZK_WATCHER_PERSISTENT, false), ZK_OK);
	CU_ASSERT_EQUAL(store_watch_remove(s, 1, "/x", ZK_WATCHER_ANY, false), ZK_ENOWATCHER);
	CU_ASSERT_EQUAL(store_watch_remove(s, 9, "/x", ZK_WATCHER_ANY, false), ZK_ENOWATCHER);
	CU_ASSERT_EQUAL(store_watch_remove(s, 2, "/x", 77, false), ZK_EBADARGUMENTS);
	CU_ASSERT_EQUAL(store_watch_remove(s, 2, "/x", ZK_WATCHER_ANY, false), ZK_OK);
	store_watch_stats(s, &st);
	CU_ASSERT_EQUAL(st.total, 0);
	CU_ASSERT_EQUAL(st.sessions, 0);
	CU_ASSERT_EQUAL(st.paths, 0);
	CU_ASSERT_EQUAL(set("/x")->event_count, 0);
}

static void test_drop_session(void)
{
	create("/d");
	for (int i = 0; i < 50; i++) {
		char p[16];
		snprintf(p, sizeof(p), "/d/%d", i);
		add(1, p, STORE_WATCH_EXIST);
		add(2, p, STORE_WATCH_EXIST);
	}
	store_watch_drop_session(s, 1);
	store_watch_drop_session(s, 99);
	struct store_watch_stats st;
	store_watch_stats(s, &st);
	CU_ASSERT_EQUAL(st.total, 50);
	CU_ASSERT_EQUAL(st.sessions, 1);
	const struct store_apply_out *o = create("/d/7");
	CU_ASSERT_EQUAL(o->event_count, 1);
	CU_ASSERT(ev_is(o, 0, 2, ZK_EVENT_CREATED, "/d/7"));
}

/* closeSession deletes fire NodeDeleted and the parent's children event. */
static void test_close_session_events(void)
{
	struct txn t = { .hdr = { .session = 0x10, .zxid = ++zx, .type = ZK_OP_CREATESESSION },
			 .type = ZK_OP_CREATESESSION, .timeout_ms = 4000 };
	CU_ASSERT_EQUAL(store_apply(s, &t, &out), 0);
	create("/e");
	struct txn c = { .hdr = { .session = 0x10, .zxid = ++zx, .type = ZK_OP_CREATE },
			 .type = ZK_OP_CREATE, .path = "/e/x", .data_len = -1, .acl = open_acl,
			 .ephemeral_owner = 0x10, .parent_cversion = -1 };
	CU_ASSERT_EQUAL(store_apply(s, &c, &out), 0);
	add(1, "/e/x", STORE_WATCH_DATA);
	add(1, "/e", STORE_WATCH_CHILD);
	const char *const paths[] = { "/e/x" };
	struct txn cl = { .hdr = { .session = 0x10, .zxid = ++zx, .type = ZK_OP_CLOSESESSION },
			  .type = ZK_OP_CLOSESESSION, .paths = paths, .path_count = 1 };
	CU_ASSERT_EQUAL(store_apply(s, &cl, &out), 0);
	CU_ASSERT_EQUAL(out.event_count, 2);
	CU_ASSERT(ev_is(&out, 0, 1, ZK_EVENT_DELETED, "/e/x"));
	CU_ASSERT(ev_is(&out, 1, 1, ZK_EVENT_CHILDREN_CHANGED, "/e"));
}

static CU_TestInfo tests[] = {
	{ "data_watch_one_shot", test_data_watch_one_shot },
	{ "create_order", test_create_order },
	{ "delete_events", test_delete_events },
	{ "root_child_watch", test_root_child_watch },
	{ "persistent", test_persistent },
	{ "recursive", test_recursive },
	{ "many_sessions", test_many_sessions },
	{ "set_watches_rules", test_set_watches_rules },
	{ "remove_and_check", test_remove_and_check },
	{ "exist_watch_on_present_node", test_exist_watch_on_present_node },
	{ "multi_event_order", test_multi_event_order },
	{ "drop_session", test_drop_session },
	{ "close_session_events", test_close_session_events },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "watch", NULL, NULL, setup, teardown, tests },
	CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	return tn_test_main(argc, argv, suites);
}
