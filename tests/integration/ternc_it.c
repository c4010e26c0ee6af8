/* tests/integration/ternc_it.c. Description: the ternc client library
 * against a real ternd (started by test_client.py through ternlib.py).
 *
 *   ternc_it basic HOSTS       pipelining (1000 in flight), every op, watches
 *                              (one-shot, persistent, recursive, removal), chroot,
 *                              digest auth, TTL/container, multi, errors
 *   ternc_it reconnect HOSTS   prints "RESTART", waits for a line on stdin while
 *                              the driver restarts ternd on the same port and
 *                              changes /rc/w and creates /rc/nx; then checks the
 *                              session, its ephemeral and its watches survived
 *   ternc_it expire HOSTS      stays away longer than the session timeout:
 *                              EXPIRED reported to state_fn, watchers and calls
 *   ternc_it failover HOSTS    HOSTS lists dead ports and one live one
 *   ternc_it badserver HOSTS   the driver's fake server answers the handshake,
 *                              then sends a malformed frame: CONNECTIONLOSS, no crash
 *
 * Each prints "ok NAME" lines; the first failed check prints "FAIL ..." and
 * exits 1. Every wait is bounded.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/ternc.h"
#include "lib/tn_check.h"

#define PIPELINE_N 1000
#define WAIT_MS 10000


static struct ternc_loop *loop;

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- recorders ---- */

#define EVENTS_MAX 64
struct events {
	int n;
	struct {
		int type, state;
		char path[256];
	} v[EVENTS_MAX];
};

static void on_event(struct ternc *c, const struct ternc_event *ev, void *arg)
{
	struct events *e = arg;
	(void)c;
	if (e->n < EVENTS_MAX) {
		e->v[e->n].type = ev->type;
		e->v[e->n].state = ev->state;
		snprintf(e->v[e->n].path, sizeof(e->v[e->n].path), "%s", ev->path);
		e->n++;
	}
}

struct states {
	int n;
	int v[32];
};

static void on_state(struct ternc *c, int state, void *arg)
{
	struct states *s = arg;
	(void)c;
	if (s->n < 32)
		s->v[s->n++] = state;
}

/* Run the loop until @e has @n events (bounded). */
static void wait_events(struct events *e, int n)
{
	for (int i = 0; i < WAIT_MS / 20 && e->n < n; i++)
		ternc_loop_run(loop, 20);
	if (e->n < n) {
		fprintf(stderr, "events: %d, want %d:", e->n, n);
		for (int i = 0; i < e->n; i++)
			fprintf(stderr, " %s %s", ternc_event_name(e->v[i].type), e->v[i].path);
		fprintf(stderr, "\n");
	}
	CHECK(e->n >= n);
}

static bool has_event(const struct events *e, int type, const char *path)
{
	for (int i = 0; i < e->n; i++)
		if (e->v[i].type == type && strcmp(e->v[i].path, path) == 0)
			return true;
	return false;
}

static struct ternc *open_session(const char *hosts, int timeout_ms, struct states *st)
{
	struct ternc_cfg cfg = {.hosts = hosts,
				.session_timeout_ms = timeout_ms,
				.state_fn = st ? on_state : NULL,
				.state_arg = st};
	struct ternc *c = NULL;
	CHECK_RC(ternc_open_sync(loop, &cfg, WAIT_MS, &c), ZK_OK);
	CHECK(ternc_state(c) == TERNC_CONNECTED && ternc_session_id(c) != 0);
	return c;
}

/* ---- basic: pipelining ---- */

struct pipe_ctx {
	int done, bad, next_expected;
};

static void pipe_create_cb(struct ternc *c, const struct ternc_result *r, void *arg)
{
	struct pipe_ctx *p = arg;
	(void)c;
	char want[64];
	snprintf(want, sizeof(want), "/pl/n%04d", p->done);
	if (r->err != ZK_OK || !r->path || strcmp(r->path, want) != 0 || r->stat.czxid == 0)
		p->bad++; /* also catches out-of-order completion */
	p->done++;
}

static void pipe_get_cb(struct ternc *c, const struct ternc_result *r, void *arg)
{
	struct pipe_ctx *p = arg;
	(void)c;
	char want[64];
	int len = snprintf(want, sizeof(want), "v%d", p->done);
	if (r->err != ZK_OK || r->data_len != len || memcmp(r->data, want, (size_t)len) != 0)
		p->bad++;
	p->done++;
}

static void test_pipeline(struct ternc *c)
{
	CHECK_RC(ternc_create_sync(c, "/pl", NULL, -1, NULL, TERNC_PERSISTENT, 0, NULL), ZK_OK);
	struct pipe_ctx p = {0};
	int64_t t0 = mono_ms();
	for (int i = 0; i < PIPELINE_N; i++) {
		char path[64], data[32];
		snprintf(path, sizeof(path), "/pl/n%04d", i);
		int len = snprintf(data, sizeof(data), "v%d", i);
		CHECK_RC(
		    ternc_create(c, path, data, len, NULL, TERNC_PERSISTENT, 0, pipe_create_cb, &p),
		    ZK_OK);
	}
	for (int i = 0; i < 30000 && p.done < PIPELINE_N; i++)
		ternc_loop_run(loop, 20);
	CHECK(p.done == PIPELINE_N && p.bad == 0);
	int64_t t1 = mono_ms();
	p = (struct pipe_ctx){0};
	for (int i = 0; i < PIPELINE_N; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/pl/n%04d", i);
		CHECK_RC(ternc_get(c, path, NULL, NULL, pipe_get_cb, &p), ZK_OK);
	}
	for (int i = 0; i < 30000 && p.done < PIPELINE_N; i++)
		ternc_loop_run(loop, 20);
	CHECK(p.done == PIPELINE_N && p.bad == 0);
	int64_t t2 = mono_ms();
	int32_t n = 0;
	CHECK_RC(ternc_children_count_sync(c, "/pl", &n), ZK_OK);
	CHECK(n == PIPELINE_N);
	struct ternc_result *r = NULL;
	CHECK_RC(ternc_children_sync(c, "/pl", NULL, NULL, &r), ZK_OK);
	CHECK(r->count == PIPELINE_N && r->stat.num_children == PIPELINE_N);
	ternc_result_free(r);
	/* numbers only, never asserted: a slow machine is not a failure */
	printf("ok pipeline %d creates and %d gets in flight (%lld ms, %lld ms)\n", PIPELINE_N,
	       PIPELINE_N, (long long)(t1 - t0), (long long)(t2 - t1));
}

/* ---- basic: ops and errors ---- */

static void test_ops(struct ternc *c)
{
	struct ternc_result *r = NULL;
	struct zstat st;
	CHECK_RC(ternc_create_sync(c, "/ops", "abc", 3, NULL, TERNC_PERSISTENT, 0, &r), ZK_OK);
	CHECK(strcmp(r->path, "/ops") == 0 && r->stat.data_length == 3);
	ternc_result_free(r);
	CHECK_RC(ternc_create_sync(c, "/ops", NULL, 0, NULL, 0, 0, NULL), ZK_ENODEEXISTS);
	CHECK_RC(ternc_create_sync(c, "/nope/x", NULL, 0, NULL, 0, 0, NULL), ZK_ENONODE);
	CHECK_RC(ternc_create(c, "bad", NULL, 0, NULL, 0, 0, NULL, NULL), ZK_EBADARGUMENTS);
	CHECK_RC(ternc_create(c, "/a//b", NULL, 0, NULL, 0, 0, NULL, NULL), ZK_EBADARGUMENTS);
	CHECK_RC(ternc_get_sync(c, "/ops", NULL, NULL, &r), ZK_OK);
	CHECK(r->data_len == 3 && memcmp(r->data, "abc", 3) == 0 && r->stat.version == 0);
	ternc_result_free(r);
	CHECK_RC(ternc_set_sync(c, "/ops", "xy", 2, 5, NULL), ZK_EBADVERSION);
	CHECK_RC(ternc_set_sync(c, "/ops", "xy", 2, 0, &st), ZK_OK);
	CHECK(st.version == 1 && st.data_length == 2);
	CHECK_RC(ternc_exists_sync(c, "/ops", NULL, NULL, &st), ZK_OK);
	CHECK(st.version == 1);
	CHECK_RC(ternc_exists_sync(c, "/ops/none", NULL, NULL, NULL), ZK_ENONODE);
	CHECK_RC(ternc_create_sync(c, "/ops/s-", NULL, -1, NULL, TERNC_EPHEMERAL_SEQUENTIAL, 0, &r),
		 ZK_OK);
	CHECK(strcmp(r->path, "/ops/s-0000000000") == 0 &&
	      r->stat.ephemeral_owner == ternc_session_id(c));
	ternc_result_free(r);
	CHECK_RC(ternc_create_sync(c, "/ops/s-0000000000/x", NULL, 0, NULL, 0, 0, NULL),
		 ZK_ENOCHILDRENFOREPHEMERALS);
	CHECK_RC(ternc_delete_sync(c, "/ops", -1), ZK_ENOTEMPTY);
	CHECK_RC(ternc_create_sync(c, "/ops/ttl", NULL, 0, NULL, TERNC_TTL, 60000, NULL), ZK_OK);
	CHECK_RC(ternc_create_sync(c, "/ops/ctr", NULL, 0, NULL, TERNC_CONTAINER, 0, NULL), ZK_OK);
	CHECK_RC(ternc_exists_sync(c, "/ops/ctr", NULL, NULL, &st), ZK_OK);
	CHECK((uint64_t)st.ephemeral_owner == 0 ||
	      (uint64_t)st.ephemeral_owner == 0x8000000000000000ull);
	CHECK_RC(ternc_sync_sync(c, "/ops"), ZK_OK);
	CHECK_RC(ternc_get_acl_sync(c, "/ops", &r), ZK_OK);
	CHECK(r->acl.count == 1 && strcmp(r->acl.v[0].id.scheme, "world") == 0 &&
	      r->acl.v[0].perms == ZK_PERM_ALL);
	ternc_result_free(r);
	printf("ok ops and error codes\n");
}

static void test_multi(struct ternc *c)
{
	struct zk_op ops[3] = {
	    {.type = ZK_OP_CREATE, .path = "/mu", .data = (const uint8_t *)"1", .data_len = 1},
	    {.type = ZK_OP_CREATE, .path = "/mu/a", .data_len = -1},
	    {.type = ZK_OP_SETDATA,
	     .path = "/mu",
	     .data = (const uint8_t *)"2",
	     .data_len = 1,
	     .version = 0},
	};
	struct ternc_result *r = NULL;
	CHECK_RC(ternc_multi_sync(c, ops, 3, &r), ZK_OK);
	CHECK(r->multi_count == 3 && r->multi[0].err == 0 &&
	      strcmp(r->multi[1].path, "/mu/a") == 0);
	CHECK(r->multi[2].stat.version == 1);
	ternc_result_free(r);
	struct zk_op bad[2] = {
	    {.type = ZK_OP_CHECK, .path = "/mu", .version = 7, .data_len = -1},
	    {.type = ZK_OP_DELETE, .path = "/mu/a", .version = -1, .data_len = -1},
	};
	CHECK_RC(ternc_multi_sync(c, bad, 2, &r), ZK_EBADVERSION);
	ternc_result_free(r);
	CHECK_RC(ternc_exists_sync(c, "/mu/a", NULL, NULL, NULL), ZK_OK); /* nothing applied */
	printf("ok multi\n");
}

static void test_watches(const char *hosts, struct ternc *c, struct ternc *other)
{
	struct events e = {0}, pe = {0}, re = {0};
	/* persistent and recursive watches each on their own session: Apache
	 * ZooKeeper 3.8 keeps one watch mode per (session, path), so mixing kinds
	 * on one path of one session loses events there */
	struct ternc *w = open_session(hosts, WAIT_MS, NULL);
	struct ternc *w2 = open_session(hosts, WAIT_MS, NULL);
	CHECK_RC(ternc_create_sync(c, "/wt", "0", 1, NULL, 0, 0, NULL), ZK_OK);
	CHECK_RC(ternc_exists_sync(c, "/wt/nx", on_event, &e, NULL), ZK_ENONODE);
	struct ternc_result *r = NULL;
	CHECK_RC(ternc_get_sync(c, "/wt", on_event, &e, &r), ZK_OK);
	ternc_result_free(r);
	CHECK_RC(ternc_children_sync(c, "/wt", on_event, &e, &r), ZK_OK);
	ternc_result_free(r);
	CHECK_RC(ternc_add_watch_sync(w, "/wt", false, on_event, &pe), ZK_OK);
	CHECK_RC(ternc_add_watch_sync(w2, "/wt", true, on_event, &re), ZK_OK);
	CHECK_RC(ternc_create_sync(other, "/wt/nx", NULL, 0, NULL, 0, 0, NULL), ZK_OK);
	wait_events(&e, 2); /* exists: created; child: children changed */
	CHECK(has_event(&e, ZK_EVENT_CREATED, "/wt/nx"));
	CHECK(has_event(&e, ZK_EVENT_CHILDREN_CHANGED, "/wt"));
	CHECK_RC(ternc_set_sync(other, "/wt", "1", 1, -1, NULL), ZK_OK);
	wait_events(&e, 3);
	CHECK(has_event(&e, ZK_EVENT_DATA_CHANGED, "/wt"));
	wait_events(&re, 2); /* recursive: /wt/nx created, /wt changed */
	CHECK(has_event(&re, ZK_EVENT_CREATED, "/wt/nx"));
	wait_events(&pe, 2); /* persistent: children changed, data changed */
	CHECK(has_event(&pe, ZK_EVENT_DATA_CHANGED, "/wt"));
	CHECK(has_event(&pe, ZK_EVENT_CHILDREN_CHANGED, "/wt"));
	/* one-shot watchers are gone; persistent ones stay */
	CHECK_RC(ternc_set_sync(other, "/wt", "2", 1, -1, NULL), ZK_OK);
	wait_events(&re, 3);
	wait_events(&pe, 3);
	CHECK_RC(ternc_sync_sync(c, "/wt"), ZK_OK);
	CHECK(e.n == 3);
	/* ANY: Apache ZooKeeper 3.8 refuses the persistent watcher types here */
	CHECK_RC(ternc_remove_watches_sync(w2, "/wt", ZK_WATCHER_ANY), ZK_OK);
	CHECK_RC(ternc_remove_watches_sync(w, "/wt", ZK_WATCHER_ANY), ZK_OK);
	CHECK_RC(ternc_remove_watches_sync(w, "/wt", ZK_WATCHER_ANY), ZK_ENOWATCHER);
	int re_n = re.n, pe_n = pe.n;
	CHECK_RC(ternc_set_sync(other, "/wt", "3", 1, -1, NULL), ZK_OK);
	CHECK_RC(ternc_sync_sync(w, "/wt"), ZK_OK);
	CHECK_RC(ternc_sync_sync(w2, "/wt"), ZK_OK);
	ternc_loop_run(loop, 100);
	CHECK(re.n == re_n && pe.n == pe_n);
	ternc_close(w2);
	ternc_close(w);
	printf("ok watches: one-shot data/exists/child, persistent, recursive, removeWatches\n");
}

static void test_chroot(const char *hosts, struct ternc *root)
{
	char h[512];
	snprintf(h, sizeof(h), "%s/app", hosts);
	CHECK_RC(ternc_create_sync(root, "/app", NULL, 0, NULL, 0, 0, NULL), ZK_OK);
	struct ternc *c = open_session(h, WAIT_MS, NULL);
	struct ternc_result *r = NULL;
	CHECK_RC(ternc_create_sync(c, "/q-", "d", 1, NULL, TERNC_SEQUENTIAL, 0, &r), ZK_OK);
	CHECK(strcmp(r->path, "/q-0000000000") == 0);
	ternc_result_free(r);
	CHECK_RC(ternc_exists_sync(root, "/app/q-0000000000", NULL, NULL, NULL), ZK_OK);
	CHECK_RC(ternc_children_sync(c, "/", NULL, NULL, &r), ZK_OK);
	CHECK(r->count == 1 && strcmp(r->names[0], "q-0000000000") == 0);
	ternc_result_free(r);
	struct events e = {0};
	CHECK_RC(ternc_get_sync(c, "/q-0000000000", on_event, &e, NULL), ZK_OK);
	CHECK_RC(ternc_set_sync(root, "/app/q-0000000000", "e", 1, -1, NULL), ZK_OK);
	wait_events(&e, 1);
	CHECK(e.v[0].type == ZK_EVENT_DATA_CHANGED && strcmp(e.v[0].path, "/q-0000000000") == 0);
	struct zk_op ops[1] = {{.type = ZK_OP_CREATE, .path = "/m", .data_len = -1}};
	CHECK_RC(ternc_multi_sync(c, ops, 1, &r), ZK_OK);
	CHECK(strcmp(r->multi[0].path, "/m") == 0);
	ternc_result_free(r);
	CHECK_RC(ternc_exists_sync(root, "/app/m", NULL, NULL, NULL), ZK_OK);
	ternc_close(c);
	printf("ok chroot: paths prefixed out, stripped in (create, children, events, multi)\n");
}

static void test_auth(const char *hosts, struct ternc *anon)
{
	struct ternc *c = open_session(hosts, WAIT_MS, NULL);
	CHECK_RC(ternc_add_auth_sync(c, "digest", "alice:secret", 12), ZK_OK);
	CHECK_RC(ternc_create_sync(c, "/sec", "s", 1, &TERNC_CREATOR_ACL, 0, 0, NULL), ZK_OK);
	struct ternc_result *r = NULL;
	CHECK_RC(ternc_get_acl_sync(c, "/sec", &r), ZK_OK);
	char id[128];
	CHECK_RC(ternc_digest_id("alice:secret", id, sizeof(id)), ZK_OK);
	CHECK(r->acl.count == 1 && strcmp(r->acl.v[0].id.scheme, "digest") == 0 &&
	      strcmp(r->acl.v[0].id.id, id) == 0);
	ternc_result_free(r);
	CHECK_RC(ternc_get_sync(anon, "/sec", NULL, NULL, NULL), ZK_ENOAUTH);
	CHECK_RC(ternc_get_sync(c, "/sec", NULL, NULL, NULL), ZK_OK);
	CHECK_RC(ternc_whoami_sync(c, &r), ZK_OK);
	bool found = false;
	for (int32_t i = 0; i < r->count; i++)
		found |= strncmp(r->names[i], "digest:alice", 12) == 0;
	ternc_result_free(r);
	/* an ACL in zkCli's syntax */
	struct zk_acl_list acl;
	char text[200];
	snprintf(text, sizeof(text), "world:anyone:r,digest:%s:cdrwa", id);
	CHECK_RC(ternc_acl_parse(text, &acl), ZK_OK);
	CHECK(acl.count == 2 && acl.v[1].perms == ZK_PERM_ALL && strcmp(acl.v[1].id.id, id) == 0);
	CHECK_RC(ternc_set_acl_sync(c, "/sec", &acl, -1), ZK_OK);
	ternc_acl_free(&acl);
	CHECK_RC(ternc_get_sync(anon, "/sec", NULL, NULL, NULL), ZK_OK);
	CHECK_RC(ternc_set_sync(anon, "/sec", "x", 1, -1, NULL), ZK_ENOAUTH);
	ternc_close(c);
	printf("ok digest auth (whoami %s), creator ACL, setAcl from text\n",
	       found ? "names alice" : "without alice");
}

#define MANY_SESSIONS 64
#define MANY_OPS 16

static void count_ok_cb(struct ternc *c, const struct ternc_result *r, void *arg)
{
	int *n = arg;
	(void)c;
	*n += r->err == ZK_OK ? 1 : 1000000; /* a failure shows as a huge count */
}

/* Many sessions on one loop, each with calls queued before its handshake. */
static void test_many_sessions(const char *hosts, struct ternc *c)
{
	struct ternc *v[MANY_SESSIONS];
	int done = 0;
	CHECK_RC(ternc_create_sync(c, "/many", NULL, 0, NULL, 0, 0, NULL), ZK_OK);
	for (int i = 0; i < MANY_SESSIONS; i++) {
		struct ternc_cfg cfg = {.hosts = hosts};
		CHECK(ternc_open(loop, &cfg, &v[i]) == 0);
		for (int k = 0; k < MANY_OPS; k++) {
			char path[64];
			snprintf(path, sizeof(path), "/many/s%02d-%02d", i, k);
			CHECK_RC(ternc_create(v[i], path, NULL, -1, NULL, TERNC_EPHEMERAL, 0,
					      count_ok_cb, &done),
				 ZK_OK);
		}
	}
	for (int i = 0; i < WAIT_MS / 20 && done < MANY_SESSIONS * MANY_OPS; i++)
		ternc_loop_run(loop, 20);
	if (done != MANY_SESSIONS * MANY_OPS)
		fprintf(stderr, "done %d\n", done);
	CHECK(done == MANY_SESSIONS * MANY_OPS);
	int32_t n = 0;
	CHECK_RC(ternc_children_count_sync(c, "/many", &n), ZK_OK);
	CHECK(n == MANY_SESSIONS * MANY_OPS);
	for (int i = 0; i < MANY_SESSIONS; i++)
		ternc_close(v[i]);
	CHECK_RC(ternc_children_count_sync(c, "/many", &n), ZK_OK);
	CHECK(n == 0); /* each close ended its session and its ephemerals */
	printf("ok %d sessions on one loop, %d calls queued before each handshake\n", MANY_SESSIONS,
	       MANY_OPS);
}

struct cb_probe {
	struct ternc *victim;
	int sync_rc;
	bool done;
};

static void probe_cb(struct ternc *c, const struct ternc_result *r, void *arg)
{
	struct cb_probe *p = arg;
	(void)r;
	p->sync_rc = ternc_get_sync(c, "/", NULL, NULL, NULL);
	ternc_close(p->victim); /* deferred: freed after this callback returns */
	CHECK_RC(ternc_get(p->victim, "/", NULL, NULL, NULL, NULL), ZK_ESESSIONEXPIRED);
	p->done = true;
}

static void test_callbacks(const char *hosts, struct ternc *c)
{
	struct states st = {0};
	struct cb_probe p = {open_session(hosts, WAIT_MS, &st), 0, false};
	CHECK_RC(ternc_get(c, "/", NULL, NULL, probe_cb, &p), ZK_OK);
	for (int i = 0; i < WAIT_MS / 20 && !(p.done && st.n > 0 && st.v[st.n - 1] == TERNC_CLOSED);
	     i++)
		ternc_loop_run(loop, 20);
	CHECK(p.done && p.sync_rc == ZK_EAPI);
	CHECK(st.n > 0 && st.v[st.n - 1] == TERNC_CLOSED);
	CHECK_RC(ternc_loop_run(loop, 0) >= 0 ? ZK_OK : ZK_ESYSTEM, ZK_OK);
	printf("ok callbacks: *_sync refused inside (APIError), ternc_close deferred\n");
}

static int cmd_basic(const char *hosts)
{
	struct ternc *c = open_session(hosts, WAIT_MS, NULL);
	struct ternc *other = open_session(hosts, WAIT_MS, NULL);
	test_pipeline(c);
	test_ops(c);
	test_multi(c);
	test_watches(hosts, c, other);
	test_chroot(hosts, c);
	test_auth(hosts, other);
	test_callbacks(hosts, c);
	test_many_sessions(hosts, c);
	ternc_close(other);
	ternc_close(c);
	return 0;
}

/* ---- reconnect ---- */

struct loss {
	bool done;
	int err;
};

static void loss_cb(struct ternc *c, const struct ternc_result *r, void *arg)
{
	struct loss *l = arg;
	(void)c;
	l->done = true;
	l->err = r->err;
}

static int cmd_reconnect(const char *hosts)
{
	struct states st = {0};
	struct events e = {0}, pe = {0};
	struct ternc *c = open_session(hosts, 20000, &st);
	int64_t sid = ternc_session_id(c);
	CHECK_RC(ternc_create_sync(c, "/rc", NULL, 0, NULL, 0, 0, NULL), ZK_OK);
	CHECK_RC(ternc_create_sync(c, "/rc/w", "0", 1, NULL, 0, 0, NULL), ZK_OK);
	CHECK_RC(ternc_create_sync(c, "/rc/p", "0", 1, NULL, 0, 0, NULL), ZK_OK);
	CHECK_RC(ternc_create_sync(c, "/rc/eph", NULL, 0, NULL, TERNC_EPHEMERAL, 0, NULL), ZK_OK);
	CHECK_RC(ternc_get_sync(c, "/rc/w", on_event, &e, NULL), ZK_OK);
	CHECK_RC(ternc_exists_sync(c, "/rc/nx", on_event, &e, NULL), ZK_ENONODE);
	CHECK_RC(ternc_add_watch_sync(c, "/rc/p", false, on_event, &pe), ZK_OK);
	CHECK_RC(ternc_add_auth_sync(c, "digest", "bob:pw", 6), ZK_OK);
	CHECK_RC(ternc_create_sync(c, "/rc/sec", "s", 1, &TERNC_CREATOR_ACL, 0, 0, NULL), ZK_OK);
	printf("RESTART\n");
	fflush(stdout);
	char line[64];
	CHECK(fgets(line, sizeof(line), stdin) != NULL);
	/* queued now, sent on the dead connection at the next loop turn */
	struct loss l = {0};
	CHECK_RC(ternc_get(c, "/rc/w", NULL, NULL, loss_cb, &l), ZK_OK);
	wait_events(&e, 2); /* fired by setWatches2 for the changes made while away */
	CHECK(has_event(&e, ZK_EVENT_DATA_CHANGED, "/rc/w"));
	CHECK(has_event(&e, ZK_EVENT_CREATED, "/rc/nx"));
	CHECK(l.done && (l.err == ZK_ECONNECTIONLOSS || l.err == ZK_OK));
	CHECK(ternc_state(c) == TERNC_CONNECTED && ternc_session_id(c) == sid);
	CHECK(st.n >= 3 && st.v[st.n - 2] == TERNC_DISCONNECTED &&
	      st.v[st.n - 1] == TERNC_CONNECTED);
	struct zstat s;
	CHECK_RC(ternc_exists_sync(c, "/rc/eph", NULL, NULL, &s), ZK_OK);
	CHECK(s.ephemeral_owner == sid);
	CHECK_RC(ternc_get_sync(c, "/rc/sec", NULL, NULL, NULL), ZK_OK); /* auth was re-sent */
	/* the persistent watch was re-armed: a change now still fires it */
	struct ternc *other = open_session(hosts, WAIT_MS, NULL);
	CHECK_RC(ternc_set_sync(other, "/rc/p", "1", 1, -1, NULL), ZK_OK);
	wait_events(&pe, 1);
	CHECK(has_event(&pe, ZK_EVENT_DATA_CHANGED, "/rc/p"));
	ternc_close(other);
	ternc_close(c);
	printf("ok reconnect: same session %" PRIx64 ", ephemeral kept, in-flight call %s, "
	       "watches fired via setWatches2 and re-armed\n",
	       (uint64_t)sid, ternc_strerror(l.err));
	return 0;
}

/* ---- expiry ---- */

static int cmd_expire(const char *hosts)
{
	struct states st = {0};
	struct events e = {0};
	struct ternc *c = open_session(hosts, 4000, &st);
	CHECK_RC(ternc_create_sync(c, "/ex", NULL, 0, NULL, TERNC_EPHEMERAL, 0, NULL), ZK_OK);
	CHECK_RC(ternc_get_sync(c, "/ex", on_event, &e, NULL), ZK_OK);
	int32_t t = ternc_session_timeout(c);
	/* idle for 1.5 timeouts with the loop running: pings keep the session */
	int64_t idle_end = mono_ms() + t * 3 / 2;
	while (mono_ms() < idle_end)
		ternc_loop_run(loop, 50);
	CHECK(st.n == 1 && ternc_state(c) == TERNC_CONNECTED);
	CHECK_RC(ternc_exists_sync(c, "/ex", NULL, NULL, NULL), ZK_OK);
	ternc_disconnect(c);
	CHECK(ternc_state(c) == TERNC_DISCONNECTED);
	usleep((useconds_t)(t + 4000) * 1000); /* away longer than the timeout (+ a tick) */
	for (int i = 0; i < WAIT_MS / 20 && ternc_state(c) != TERNC_EXPIRED; i++)
		ternc_loop_run(loop, 20);
	CHECK(ternc_state(c) == TERNC_EXPIRED);
	CHECK(st.v[st.n - 1] == TERNC_EXPIRED);
	/* the data watcher was told, and calls now fail at once */
	CHECK(e.n == 1 && e.v[0].type == ZK_EVENT_NONE && e.v[0].state == TERNC_EXPIRED);
	CHECK_RC(ternc_get(c, "/ex", NULL, NULL, NULL, NULL), ZK_ESESSIONEXPIRED);
	CHECK_RC(ternc_get_sync(c, "/ex", NULL, NULL, NULL), ZK_ESESSIONEXPIRED);
	ternc_close(c);
	struct ternc *c2 = open_session(hosts, WAIT_MS, NULL);
	CHECK_RC(ternc_exists_sync(c2, "/ex", NULL, NULL, NULL), ZK_ENONODE);
	ternc_close(c2);
	printf("ok expiry: pings kept it through %d ms idle; then EXPIRED, watcher told, "
	       "calls refused, ephemeral gone\n",
	       t * 3 / 2);
	return 0;
}

/* ---- failover ---- */

static int cmd_failover(const char *hosts)
{
	for (int i = 0; i < 8; i++) {
		struct ternc *c = open_session(hosts, WAIT_MS, NULL);
		CHECK_RC(ternc_exists_sync(c, "/", NULL, NULL, NULL), ZK_OK);
		printf("ok failover round %d: connected to %s\n", i, ternc_server(c));
		ternc_close(c);
	}
	/* a call made before the handshake waits for the live host */
	struct ternc_cfg cfg = {.hosts = hosts};
	struct ternc *c = NULL;
	CHECK(ternc_open(loop, &cfg, &c) == 0);
	CHECK_RC(ternc_exists_sync(c, "/", NULL, NULL, NULL), ZK_OK);
	ternc_close(c);
	printf("ok failover: call queued while connecting\n");
	return 0;
}

/* ---- bad server ---- */

#define BAD_REPLIES 4 /* kinds of malformed reply test_client.py's fake server sends */

static int cmd_badserver(const char *hosts)
{
	struct states st = {0};
	struct ternc *c = open_session(hosts, WAIT_MS, &st);
	for (int k = 0; k < BAD_REPLIES; k++) {
		struct loss l = {0};
		CHECK_RC(ternc_get(c, "/x", NULL, NULL, loss_cb, &l), ZK_OK);
		for (int i = 0; i < WAIT_MS / 20 && !l.done; i++)
			ternc_loop_run(loop, 20);
		CHECK(l.done && l.err == ZK_ECONNECTIONLOSS);
		printf("ok malformed reply %d: connection dropped, call got ConnectionLoss\n", k);
	}
	CHECK(st.n >= 2 && st.v[1] == TERNC_DISCONNECTED);
	ternc_close(c);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr,
			"usage: ternc_it basic|reconnect|expire|failover|badserver HOSTS\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK(ternc_loop_new(&loop) == 0);
	int rc = 2;
	if (strcmp(argv[1], "basic") == 0)
		rc = cmd_basic(argv[2]);
	else if (strcmp(argv[1], "reconnect") == 0)
		rc = cmd_reconnect(argv[2]);
	else if (strcmp(argv[1], "expire") == 0)
		rc = cmd_expire(argv[2]);
	else if (strcmp(argv[1], "failover") == 0)
		rc = cmd_failover(argv[2]);
	else if (strcmp(argv[1], "badserver") == 0)
		rc = cmd_badserver(argv[2]);
	ternc_loop_free(loop);
	return rc;
}
