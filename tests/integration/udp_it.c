/* tests/integration/udp_it.c: the ternc library over tern's native datagram
 * protocol (ternc_cfg.transport = TERNC_UDP) against a real ternd; driven by
 * test_udp.py.
 *
 *   udp_it basic HOSTS          create/get/set/children/multi/delete and watches
 *                               (data, exists, children) over UDP
 *   udp_it seq HOSTS PATH N     N sequential creates under PATH, each waited for
 *   udp_it pipe HOSTS PATH N    N sequential creates under PATH, all in flight at once
 *
 * Every call must succeed (any error, ConnectionLoss included, fails the run),
 * so the caller can check over TCP that exactly N nodes exist under PATH.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/ternc.h"
#include "lib/tn_check.h"

#define WAIT_MS 30000
#define SESSION_MS 30000 /* long: 20% loss must not time the session out */

static struct ternc_loop *loop;

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct ternc *open_udp(const char *hosts)
{
	struct ternc_cfg cfg = {.hosts = hosts, .session_timeout_ms = SESSION_MS,
				.transport = TERNC_UDP};
	struct ternc *c = NULL;
	CHECK_RC(ternc_open_sync(loop, &cfg, WAIT_MS, &c), ZK_OK);
	CHECK(ternc_state(c) == TERNC_CONNECTED);
	return c;
}

struct seen {
	int n, type;
	char path[256];
};

static void on_watch(struct ternc *c, const struct ternc_event *ev, void *arg)
{
	struct seen *s = arg;
	(void)c;
	s->n++;
	s->type = ev->type;
	snprintf(s->path, sizeof(s->path), "%s", ev->path);
}

/* Run the loop until @s saw an event (best effort over UDP, but no loss on lo). */
static void wait_event(struct seen *s, int type, const char *path)
{
	int64_t end = mono_ms() + WAIT_MS;
	while (s->n == 0 && mono_ms() < end)
		CHECK(ternc_loop_run(loop, 100) >= 0);
	CHECK(s->n == 1);
	CHECK(s->type == type);
	CHECK(strcmp(s->path, path) == 0);
}

static void basic(const char *hosts)
{
	struct ternc *a = open_udp(hosts), *b = open_udp(hosts);
	struct ternc_result *r = NULL;
	struct zstat st;
	char base[64], p1[96], p2[96];

	CHECK(ternc_session_id(a) != ternc_session_id(b));
	snprintf(base, sizeof(base), "/udp-basic-%d", (int)getpid());
	snprintf(p1, sizeof(p1), "%s/x", base);
	snprintf(p2, sizeof(p2), "%s/y", base);
	CHECK_RC(ternc_create_sync(a, base, "b", 1, NULL, TERNC_PERSISTENT, 0, NULL), ZK_OK);
	CHECK_RC(ternc_create_sync(a, base, "b", 1, NULL, TERNC_PERSISTENT, 0, NULL),
		 ZK_ENODEEXISTS);
	CHECK_RC(ternc_create_sync(a, p1, "one", 3, NULL, TERNC_PERSISTENT, 0, NULL), ZK_OK);

	/* getData with a watch; another UDP session changes the node */
	struct seen wd = {0};
	CHECK_RC(ternc_get_sync(a, p1, on_watch, &wd, &r), ZK_OK);
	CHECK(r->data_len == 3 && memcmp(r->data, "one", 3) == 0);
	ternc_result_free(r);
	CHECK_RC(ternc_set_sync(b, p1, "two", 3, 0, &st), ZK_OK);
	CHECK(st.version == 1);
	wait_event(&wd, ZK_EVENT_DATA_CHANGED, p1);
	CHECK_RC(ternc_set_sync(b, p1, "three", 5, 0, NULL), ZK_EBADVERSION);

	/* exists watch on an absent node, children watch on the parent */
	struct seen we = {0}, wc = {0};
	CHECK_RC(ternc_exists_sync(a, p2, on_watch, &we, NULL), ZK_ENONODE);
	CHECK_RC(ternc_children_sync(a, base, on_watch, &wc, &r), ZK_OK);
	CHECK(r->count == 1 && strcmp(r->names[0], "x") == 0);
	ternc_result_free(r);
	CHECK_RC(ternc_create_sync(b, p2, NULL, -1, NULL, TERNC_PERSISTENT, 0, NULL), ZK_OK);
	wait_event(&we, ZK_EVENT_CREATED, p2);
	wait_event(&wc, ZK_EVENT_CHILDREN_CHANGED, base);

	/* multi: a check that fails rolls back, then one that commits */
	struct zk_op ops[2] = {
		{.type = ZK_OP_CHECK, .path = p1, .version = 7},
		{.type = ZK_OP_DELETE, .path = p2, .version = -1},
	};
	CHECK_RC(ternc_multi_sync(a, ops, 2, &r), ZK_EBADVERSION);
	ternc_result_free(r);
	ops[0].version = 1;
	CHECK_RC(ternc_multi_sync(a, ops, 2, &r), ZK_OK);
	CHECK(r->multi_count == 2);
	ternc_result_free(r);
	CHECK_RC(ternc_exists_sync(b, p2, NULL, NULL, NULL), ZK_ENONODE);

	/* resume: drop the attachment; the next call reconnects with the
	 * password, same session, its ephemeral intact */
	char pe[96];
	int64_t sid = ternc_session_id(a);
	snprintf(pe, sizeof(pe), "%s/eph", base);
	CHECK_RC(ternc_create_sync(a, pe, NULL, -1, NULL, TERNC_EPHEMERAL, 0, NULL), ZK_OK);
	ternc_disconnect(a);
	CHECK(ternc_state(a) == TERNC_DISCONNECTED);
	CHECK_RC(ternc_exists_sync(a, pe, NULL, NULL, &st), ZK_OK);
	CHECK(ternc_state(a) == TERNC_CONNECTED && ternc_session_id(a) == sid);
	CHECK(st.ephemeral_owner == sid);
	CHECK_RC(ternc_delete_sync(a, pe, -1), ZK_OK);

	CHECK_RC(ternc_delete_sync(a, p1, -1), ZK_OK);
	CHECK_RC(ternc_delete_sync(a, base, -1), ZK_OK);
	CHECK_RC(ternc_get_sync(b, base, NULL, NULL, NULL), ZK_ENONODE);
	ternc_close(a);
	ternc_close(b);
	printf("basic ok\n");
}

static void seq(const char *hosts, const char *path, long n)
{
	struct ternc *c = open_udp(hosts);
	char prefix[512];
	int64_t t0 = mono_ms();

	snprintf(prefix, sizeof(prefix), "%s/n-", path);
	for (long i = 0; i < n; i++)
		CHECK_RC(ternc_create_sync(c, prefix, NULL, -1, NULL, TERNC_SEQUENTIAL, 0, NULL),
			 ZK_OK);
	printf("seq ok %ld creates in %lld ms\n", n, (long long)(mono_ms() - t0));
	ternc_close(c);
}

struct pipe_state {
	long done, failed;
};

static void pipe_cb(struct ternc *c, const struct ternc_result *r, void *arg)
{
	struct pipe_state *ps = arg;
	(void)c;
	ps->done++;
	if (r->err != ZK_OK) {
		fprintf(stderr, "create failed: %s\n", ternc_strerror(r->err));
		ps->failed++;
	}
}

static void pipe_run(const char *hosts, const char *path, long n)
{
	struct ternc *c = open_udp(hosts);
	struct pipe_state ps = {0};
	char prefix[512];
	int64_t t0 = mono_ms(), end = t0 + 4 * WAIT_MS;

	snprintf(prefix, sizeof(prefix), "%s/p-", path);
	for (long i = 0; i < n; i++)
		CHECK_RC(ternc_create(c, prefix, NULL, -1, NULL, TERNC_SEQUENTIAL, 0, pipe_cb, &ps),
			 ZK_OK);
	while (ps.done < n && mono_ms() < end)
		CHECK(ternc_loop_run(loop, 100) >= 0);
	CHECK(ps.done == n);
	CHECK(ps.failed == 0);
	printf("pipe ok %ld creates in %lld ms\n", n, (long long)(mono_ms() - t0));
	ternc_close(c);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: udp_it basic|seq|pipe HOSTS [PATH N]\n");
		return 2;
	}
	CHECK(ternc_loop_new(&loop) == 0);
	if (strcmp(argv[1], "basic") == 0)
		basic(argv[2]);
	else if (strcmp(argv[1], "seq") == 0 && argc == 5)
		seq(argv[2], argv[3], atol(argv[4]));
	else if (strcmp(argv[1], "pipe") == 0 && argc == 5)
		pipe_run(argv[2], argv[3], atol(argv[4]));
	else
		return 2;
	ternc_loop_free(loop);
	return 0;
}
