/* tests/integration/ternr_it.c. Description: the ternr recipes against a
 * real ternd (started by test_tern_recipes.py through ternlib.py).
 *
 *   ternr_it lock HOSTS P M LOG      P processes (one session each) take the
 *                                    exclusive lock M times; every critical
 *                                    section appends "S pid token wakeups" and
 *                                    "E pid token" to LOG (O_APPEND); the
 *                                    parent checks mutual exclusion, strictly
 *                                    growing tokens, at most one wakeup per
 *                                    acquisition, and fence_check
 *   ternr_it rwlock HOSTS P M LOG    half readers, half writers: a writer's
 *                                    section overlaps nothing, readers overlap
 *   ternr_it queue HOSTS P C K LOG   P producers push K items each, C
 *                                    consumers pop: every item exactly once;
 *                                    then priority order in one session
 *   ternr_it barrier HOSTS N LOG     N processes: nobody is past enter before
 *                                    all N started it, nor past leave before
 *                                    all N started leaving
 *   ternr_it expire HOSTS            the holder's loop stops (its session
 *                                    expires): the waiter gets the lock with a
 *                                    larger token, the old token fails
 *                                    fence_check, and the holder is told
 *   ternr_it protect HOSTS           HOSTS is the driver's proxy, which drops the
 *                                    connection right after forwarding the first
 *                                    lock-node create, queue-item create and
 *                                    multi, before their replies: the lock
 *                                    adopts its node by guid (exactly one
 *                                    node, lock held), the push leaves exactly
 *                                    one item, the pop's claim proves the take
 *   ternr_it observe HOSTS           leader watch, group watch and members
 *                                    list, naming service, config subscription
 *
 * Each prints "ok NAME" lines; the first failed check prints "FAIL ..." and
 * exits 1. Every wait is bounded.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tools/ternr.h"
#include "lib/tn_check.h"

#define WAIT_MS 30000
#define PROCS_MAX 64
#define LINE_MAX_ 256
#define LOG_LINES_MAX 100000
#define OBS_EVENTS_MAX 32


static const char *hosts;

static struct ternc *session(struct ternc_loop **loop, int timeout_ms)
{
	struct ternc *c = NULL;
	CHECK(ternc_loop_new(loop) == 0);
	struct ternc_cfg cfg = {.hosts = hosts, .session_timeout_ms = timeout_ms};
	CHECK_RC(ternc_open_sync(*loop, &cfg, WAIT_MS, &c), ZK_OK);
	return c;
}

static void end_session(struct ternc_loop *loop, struct ternc *c)
{
	ternc_close(c);
	ternc_loop_free(loop);
}

static void log_line(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(int fd, const char *fmt, ...)
{
	char buf[LINE_MAX_];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	CHECK(n > 0 && (size_t)n < sizeof(buf));
	CHECK(write(fd, buf, (size_t)n) == n); /* O_APPEND: one line, one atomic append */
}

/* Fork @n children running @fn(i); wait for all; every one must exit 0. */
static void run_children(int n, void (*fn)(int i, void *arg), void *arg)
{
	pid_t pids[PROCS_MAX];
	CHECK(n > 0 && n <= PROCS_MAX);
	fflush(NULL);
	for (int i = 0; i < n; i++) {
		pids[i] = fork();
		CHECK(pids[i] >= 0);
		if (pids[i] == 0) {
			fn(i, arg);
			exit(0); /* not _exit: LeakSanitizer checks children too */
		}
	}
	for (int i = 0; i < n; i++) {
		int st = 0;
		CHECK(waitpid(pids[i], &st, 0) == pids[i]);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "FAIL child %d exited with status %d\n", i, st);
			exit(1);
		}
	}
}

/* ---- lock under contention ---- */

struct lock_job {
	const char *log;
	int m;
	int kind_mix; /* 0: all exclusive; 1: even readers, odd writers */
};

static void lock_child(int i, void *arg)
{
	const struct lock_job *j = arg;
	struct ternc_loop *loop;
	struct ternc *c = session(&loop, 10000);
	int fd = open(j->log, O_WRONLY | O_APPEND);
	CHECK(fd >= 0);
	int kind =
	    !j->kind_mix ? TERNR_LOCK_EXCLUSIVE : (i % 2 ? TERNR_LOCK_WRITE : TERNR_LOCK_READ);
	const char *path = j->kind_mix ? "/rw" : "/lk";
	struct ternr_lock_cfg cfg = {.path = path, .kind = kind};
	struct ternr_lock *l = NULL;
	CHECK_RC(ternr_lock_new(c, &cfg, &l), ZK_OK);
	char tag = kind == TERNR_LOCK_READ ? 'R' : kind == TERNR_LOCK_WRITE ? 'W' : 'S';
	for (int k = 0; k < j->m; k++) {
		CHECK_RC(ternr_lock_acquire(l, WAIT_MS), ZK_OK);
		int64_t tok = ternr_lock_token(l);
		log_line(fd, "%c %d %" PRId64 " %u\n", tag, (int)getpid(), tok,
			 ternr_lock_wakeups(l));
		if (!j->kind_mix)
			CHECK_RC(ternr_fence_check(c, path, tok), ZK_OK);
		CHECK_RC(ternr_lock_check(l), ZK_OK);
		usleep(2000);
		log_line(fd, "%c %d %" PRId64 " 0\n", tag + 1, (int)getpid(), tok);
		CHECK_RC(ternr_lock_release(l), ZK_OK);
	}
	ternr_lock_free(l);
	close(fd);
	end_session(loop, c);
}

struct entry {
	char tag;
	int pid;
	int64_t token;
	unsigned wakeups;
};

static uint32_t read_log(const char *path, struct entry *v, uint32_t cap)
{
	FILE *f = fopen(path, "r");
	char line[LINE_MAX_];
	uint32_t n = 0;
	CHECK(f);
	while (n < cap && fgets(line, sizeof(line), f)) {
		CHECK(sscanf(line, "%c %d %" SCNd64 " %u", &v[n].tag, &v[n].pid, &v[n].token,
			     &v[n].wakeups) == 4);
		n++;
	}
	fclose(f);
	return n;
}

static void test_lock(int p, int m, const char *log)
{
	struct lock_job j = {.log = log, .m = m};
	run_children(p, lock_child, &j);
	struct entry *v = calloc(LOG_LINES_MAX, sizeof(*v));
	CHECK(v);
	uint32_t n = read_log(log, v, LOG_LINES_MAX);
	CHECK(n == (uint32_t)(2 * p * m));
	int64_t last = 0;
	unsigned wakeups = 0, waited = 0;
	for (uint32_t i = 0; i < n; i += 2) {
		/* mutual exclusion: every start is followed by the same holder's end */
		CHECK(v[i].tag == 'S' && v[i + 1].tag == 'T');
		CHECK(v[i].pid == v[i + 1].pid && v[i].token == v[i + 1].token);
		CHECK(v[i].token > last); /* fencing tokens grow in acquisition order */
		last = v[i].token;
		CHECK(v[i].wakeups <= 1); /* no herd: one release wakes one waiter */
		wakeups += v[i].wakeups;
		waited += v[i].wakeups > 0;
	}
	printf("lock: %d procs x %d: %u acquisitions, %u woken by a watch, %u wakeups\n", p, m,
	       n / 2, waited, wakeups);
	free(v);
	printf("ok lock\n");
}

static void test_rwlock(int p, int m, const char *log)
{
	struct lock_job j = {.log = log, .m = m, .kind_mix = 1};
	run_children(p, lock_child, &j);
	struct entry *v = calloc(LOG_LINES_MAX, sizeof(*v));
	CHECK(v);
	uint32_t n = read_log(log, v, LOG_LINES_MAX);
	CHECK(n == (uint32_t)(2 * p * m));
	int readers = 0, writers = 0, max_readers = 0;
	unsigned wakeups = 0;
	for (uint32_t i = 0; i < n; i++) {
		switch (v[i].tag) {
		case 'R':
			CHECK(writers == 0);
			readers++;
			max_readers = readers > max_readers ? readers : max_readers;
			break;
		case 'S': /* 'R' + 1 */
			readers--;
			break;
		case 'W':
			CHECK(writers == 0 && readers == 0);
			writers++;
			break;
		case 'X': /* 'W' + 1 */
			writers--;
			break;
		default:
			CHECK(0);
		}
		/* a reader waits for one writer; a writer for each earlier reader in turn */
		CHECK(v[i].tag != 'R' || v[i].wakeups <= 1);
		wakeups += v[i].wakeups;
	}
	CHECK(readers == 0 && writers == 0);
	/* a writer's release wakes every reader queued right behind it (they all get
	 * the lock together), so the total may pass the number of releases */
	printf("rwlock: %u sections, up to %d readers at once, %u wakeups\n", n / 2, max_readers,
	       wakeups);
	free(v);
	printf("ok rwlock\n");
}

/* ---- queue ---- */

struct queue_job {
	int producers, k;
	const char *log;
};

static void queue_child(int i, void *arg)
{
	const struct queue_job *j = arg;
	struct ternc_loop *loop;
	struct ternc *c = session(&loop, 10000);
	if (i < j->producers) {
		for (int k = 0; k < j->k; k++) {
			char item[64];
			snprintf(item, sizeof(item), "p%d-%d", i, k);
			CHECK_RC(ternr_queue_push(c, "/qq", 0, item, (int32_t)strlen(item)), ZK_OK);
		}
	} else {
		int fd = open(j->log, O_WRONLY | O_APPEND);
		CHECK(fd >= 0);
		for (;;) {
			struct ternr_item *it = NULL;
			int rc = ternr_queue_pop(c, "/qq", 3000, &it);
			if (rc == ZK_EOPERATIONTIMEOUT)
				break;
			CHECK_RC(rc, ZK_OK);
			log_line(fd, "%s\n", (const char *)it->data);
			ternr_item_free(it);
		}
		close(fd);
	}
	end_session(loop, c);
}

static void test_queue(int p, int cons, int k, const char *log)
{
	struct queue_job j = {.producers = p, .k = k, .log = log};
	run_children(p + cons, queue_child, &j);
	FILE *f = fopen(log, "r");
	CHECK(f);
	char *seen = calloc((size_t)(p * k), 1);
	char line[LINE_MAX_];
	int n = 0;
	while (fgets(line, sizeof(line), f)) {
		int pi, ki;
		CHECK(sscanf(line, "p%d-%d", &pi, &ki) == 2 && pi < p && ki < k);
		CHECK(!seen[pi * k + ki]); /* each item once */
		seen[pi * k + ki] = 1;
		n++;
	}
	fclose(f);
	free(seen);
	CHECK(n == p * k); /* and none lost */
	printf("queue: %d producers x %d items, %d consumers: each taken once\n", p, k, cons);

	struct ternc_loop *loop;
	struct ternc *c = session(&loop, 10000);
	static const struct {
		uint32_t prio;
		const char *data;
	} in[] = {{5, "e1"}, {1, "b1"}, {3, "d1"}, {1, "b2"}, {0, "a1"}, {3, "d2"}, {1, "b3"}};
	static const char *const want[] = {"a1", "b1", "b2", "b3", "d1", "d2", "e1"};
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		CHECK_RC(ternr_queue_push(c, "/pq", in[i].prio, in[i].data, 2), ZK_OK);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct ternr_item *it = NULL;
		CHECK_RC(ternr_queue_pop(c, "/pq", 0, &it), ZK_OK);
		CHECK(strcmp((const char *)it->data, want[i]) == 0);
		ternr_item_free(it);
	}
	struct ternr_item *none = NULL;
	CHECK_RC(ternr_queue_pop(c, "/pq", 0, &none), ZK_ENONODE);
	CHECK_RC(ternr_queue_pop(c, "/pq", 200, &none), ZK_EOPERATIONTIMEOUT);
	struct ternc_result *r = NULL;
	CHECK_RC(ternc_children_sync(c, "/pq", NULL, NULL, &r), ZK_OK);
	CHECK(r->count == 0); /* no claim nodes left behind */
	ternc_result_free(r);
	end_session(loop, c);
	printf("ok queue\n");
}

/* ---- double barrier ---- */

struct barrier_job {
	int n;
	const char *log;
};

static void barrier_child(int i, void *arg)
{
	const struct barrier_job *j = arg;
	struct ternc_loop *loop;
	struct ternc *c = session(&loop, 10000);
	int fd = open(j->log, O_WRONLY | O_APPEND);
	char name[32];
	CHECK(fd >= 0);
	snprintf(name, sizeof(name), "p%02d", i);
	usleep((useconds_t)(i * 50000)); /* arrive one by one */
	log_line(fd, "a %d 0 0\n", i);
	CHECK_RC(ternr_dbarrier_enter(c, "/bar", name, (uint32_t)j->n, WAIT_MS), ZK_OK);
	log_line(fd, "b %d 0 0\n", i);
	usleep((useconds_t)((j->n - i) * 30000)); /* leave in another order */
	log_line(fd, "c %d 0 0\n", i);
	CHECK_RC(ternr_dbarrier_leave(c, "/bar", name, WAIT_MS), ZK_OK);
	log_line(fd, "d %d 0 0\n", i);
	close(fd);
	end_session(loop, c);
}

static void test_barrier(int n, const char *log)
{
	struct barrier_job j = {.n = n, .log = log};
	run_children(n, barrier_child, &j);
	struct entry v[4 * PROCS_MAX];
	uint32_t cnt = read_log(log, v, 4 * PROCS_MAX);
	CHECK(cnt == (uint32_t)(4 * n));
	int arrived = 0, leaving = 0;
	for (uint32_t i = 0; i < cnt; i++) {
		arrived += v[i].tag == 'a';
		leaving += v[i].tag == 'c';
		if (v[i].tag == 'b')
			CHECK(arrived == n); /* nobody entered before all N arrived */
		if (v[i].tag == 'd')
			CHECK(leaving == n); /* nobody left before all N were leaving */
	}
	struct ternc_loop *loop;
	struct ternc *c = session(&loop, 10000);
	struct ternc_result *r = NULL;
	CHECK_RC(ternc_children_sync(c, "/bar", NULL, NULL, &r), ZK_OK);
	CHECK(r->count == 0); /* the last one out removed "ready" */
	ternc_result_free(r);
	end_session(loop, c);
	printf("ok barrier\n");
}

/* ---- expiry ---- */

static int lost_err;

static void on_lost(struct ternr_lock *l, int err, void *arg)
{
	(void)l;
	(void)arg;
	lost_err = err;
}

static void test_expire(void)
{
	struct ternc_loop *la, *lb;
	struct ternc *a = session(&la, 4000), *b = session(&lb, 10000);
	struct ternr_lock *ha = NULL, *hb = NULL;
	struct ternr_lock_cfg ca = {.path = "/ex", .lost_fn = on_lost}, cb = {.path = "/ex"};
	CHECK_RC(ternr_lock_new(a, &ca, &ha), ZK_OK);
	CHECK_RC(ternr_lock_new(b, &cb, &hb), ZK_OK);
	CHECK_RC(ternr_lock_acquire(ha, WAIT_MS), ZK_OK);
	int64_t ta = ternr_lock_token(ha);
	CHECK_RC(ternr_lock_acquire(hb, 300), ZK_EOPERATIONTIMEOUT); /* held: waiter gives up */
	CHECK(ternr_lock_node(hb)[0] == '\0');
	/* a's loop no longer runs: no pings, the server expires a's session */
	CHECK_RC(ternr_lock_acquire(hb, WAIT_MS), ZK_OK);
	int64_t tb = ternr_lock_token(hb);
	CHECK(tb > ta);
	CHECK(ternr_lock_wakeups(hb) == 1); /* woken by the deletion of a's node */
	CHECK_RC(ternr_fence_check(b, "/ex", tb), ZK_OK);
	CHECK_RC(ternr_fence_check(b, "/ex", ta), ZK_EBADVERSION);
	CHECK(lost_err == 0);
	/* a comes back: the server says expired; the lock tells its owner */
	for (int i = 0; i < 200 && lost_err == 0; i++)
		ternc_loop_run(la, 50);
	/* the node's deletion may be read before the server's "expired" */
	CHECK(lost_err == ZK_ESESSIONEXPIRED || lost_err == ZK_ENONODE);
	CHECK_RC(ternr_lock_check(ha), lost_err);
	for (int i = 0; i < 200 && ternc_state(a) != TERNC_EXPIRED; i++)
		ternc_loop_run(la, 50);
	CHECK(ternc_state(a) == TERNC_EXPIRED);
	printf("expire: holder told %s\n", ternc_strerror(lost_err));
	CHECK_RC(ternr_lock_check(hb), ZK_OK);
	ternr_lock_free(ha);
	ternr_lock_free(hb);
	end_session(la, a);
	end_session(lb, b);
	printf("ok expire\n");
}

/* ---- observers ---- */

struct obs {
	int n;
	char ev[OBS_EVENTS_MAX][LINE_MAX_];
};

static void obs_add(struct obs *o, const char *s)
{
	if (o->n < OBS_EVENTS_MAX)
		snprintf(o->ev[o->n++], LINE_MAX_, "%s", s);
}

static void on_leader(struct ternc *c, int err, const char *id, void *arg)
{
	(void)c;
	obs_add(arg, err ? "ERR" : id ? id : "-");
}

static void on_group(struct ternc *c, int err, const char *const *names, uint32_t count, void *arg)
{
	char buf[LINE_MAX_] = "";
	(void)c;
	for (uint32_t i = 0; i < count; i++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", i ? "," : "",
			 names[i]);
	obs_add(arg, err ? "ERR" : buf);
}

static void on_config(struct ternc *c, int err, const void *data, int32_t len,
		      const struct zstat *st, void *arg)
{
	char buf[LINE_MAX_];
	(void)c;
	if (err)
		snprintf(buf, sizeof(buf), "%s", ternc_strerror(err));
	else
		snprintf(buf, sizeof(buf), "%.*s@%d", len > 0 ? (int)len : 0, (const char *)data,
			 st->version);
	obs_add(arg, buf);
}

/* Run @loop until @o has @n events. */
static void obs_wait(struct ternc_loop *loop, struct obs *o, int n)
{
	for (int i = 0; i < 400 && o->n < n; i++)
		ternc_loop_run(loop, 25);
	if (o->n != n) {
		fprintf(stderr, "FAIL: %d events, want %d:", o->n, n);
		for (int i = 0; i < o->n; i++)
			fprintf(stderr, " [%s]", o->ev[i]);
		fprintf(stderr, "\n");
		exit(1);
	}
}

static void test_observe_leader(struct ternc_loop *loop, struct ternc *obs_c)
{
	struct ternc *c1, *c2;
	struct ternc_cfg cfg = {.hosts = hosts};
	CHECK_RC(ternc_open_sync(loop, &cfg, WAIT_MS, &c1), ZK_OK);
	CHECK_RC(ternc_open_sync(loop, &cfg, WAIT_MS, &c2), ZK_OK);
	struct obs lo = {0};
	struct ternr_watcher *w = NULL;
	CHECK_RC(ternr_leader_watch(obs_c, "/el", on_leader, &lo, &w), ZK_OK);
	obs_wait(loop, &lo, 1);
	CHECK(strcmp(lo.ev[0], "-") == 0); /* nobody leads yet */
	struct ternr_lock *l1 = NULL, *l2 = NULL;
	struct ternr_lock_cfg k1 = {.path = "/el", .data = "c1", .len = 2};
	struct ternr_lock_cfg k2 = {.path = "/el", .data = "c2", .len = 2};
	CHECK_RC(ternr_lock_new(c1, &k1, &l1), ZK_OK);
	CHECK_RC(ternr_lock_new(c2, &k2, &l2), ZK_OK);
	CHECK_RC(ternr_lock_acquire(l1, WAIT_MS), ZK_OK);
	obs_wait(loop, &lo, 2);
	CHECK(strcmp(lo.ev[1], "c1") == 0);
	char id[TERNR_ID_MAX];
	int64_t tok = 0;
	CHECK_RC(ternr_leader_get(obs_c, "/el", id, sizeof(id), &tok), ZK_OK);
	CHECK(strcmp(id, "c1") == 0 && tok == ternr_lock_token(l1));
	ternr_lock_free(l1); /* the leader resigns: c2 takes over */
	ternc_close(c1);
	CHECK_RC(ternr_lock_acquire(l2, WAIT_MS), ZK_OK);
	obs_wait(loop, &lo, 4);
	CHECK(strcmp(lo.ev[2], "-") == 0 && strcmp(lo.ev[3], "c2") == 0);
	CHECK_RC(ternr_lock_release(l2), ZK_OK);
	obs_wait(loop, &lo, 5);
	CHECK(strcmp(lo.ev[4], "-") == 0);
	ternr_lock_free(l2);
	ternr_watcher_free(w);
	ternc_close(c2);
	printf("ok leader\n");
}

static void test_observe_group(struct ternc_loop *loop, struct ternc *obs_c)
{
	struct ternc *m1, *m2;
	struct ternc_cfg cfg = {.hosts = hosts};
	CHECK_RC(ternc_open_sync(loop, &cfg, WAIT_MS, &m1), ZK_OK);
	CHECK_RC(ternc_open_sync(loop, &cfg, WAIT_MS, &m2), ZK_OK);
	struct obs go = {0};
	struct ternr_watcher *w = NULL;
	CHECK_RC(ternr_group_watch(obs_c, "/grp/a", on_group, &go, &w), ZK_OK);
	obs_wait(loop, &go, 1);
	CHECK(strcmp(go.ev[0], "") == 0); /* the group does not exist yet */
	CHECK_RC(ternr_group_join(m1, "/grp/a", "m1", "x", 1), ZK_OK);
	obs_wait(loop, &go, 2);
	CHECK(strcmp(go.ev[1], "m1") == 0);
	CHECK_RC(ternr_group_join(m2, "/grp/a", "m2", "y", 1), ZK_OK);
	CHECK_RC(ternr_group_join(m1, "/grp/a", "m2", NULL, 0), ZK_ENODEEXISTS);
	obs_wait(loop, &go, 3);
	CHECK(strcmp(go.ev[2], "m1,m2") == 0);
	struct ternr_members *ms = NULL;
	CHECK_RC(ternr_group_list(obs_c, "/grp/a", &ms), ZK_OK);
	CHECK(ms->count == 2 && strcmp(ms->v[1].name, "m2") == 0 &&
	      strcmp((const char *)ms->v[1].data, "y") == 0);
	ternr_members_free(ms);
	ternc_close(m1); /* ephemeral membership ends with the session */
	obs_wait(loop, &go, 4);
	CHECK(strcmp(go.ev[3], "m2") == 0);
	CHECK_RC(ternr_group_leave(m2, "/grp/a", "m2"), ZK_OK);
	obs_wait(loop, &go, 5);
	CHECK(strcmp(go.ev[4], "") == 0);
	ternr_watcher_free(w);
	/* naming service */
	CHECK_RC(ternr_service_register(m2, "/svc/db", "i1", "10.0.0.1:5432"), ZK_OK);
	CHECK_RC(ternr_service_register(m2, "/svc/db", "i2", "10.0.0.2:5432"), ZK_OK);
	CHECK_RC(ternr_service_lookup(obs_c, "/svc/db", &ms), ZK_OK);
	CHECK(ms->count == 2 && strcmp((const char *)ms->v[0].data, "10.0.0.1:5432") == 0);
	ternr_members_free(ms);
	ternc_close(m2);
	CHECK_RC(ternr_service_lookup(obs_c, "/svc/db", &ms), ZK_OK);
	CHECK(ms->count == 0);
	ternr_members_free(ms);
	printf("ok group\n");
}

static void test_observe_config(struct ternc_loop *loop, struct ternc *obs_c)
{
	struct ternc *wr;
	struct ternc_cfg cfg = {.hosts = hosts};
	CHECK_RC(ternc_open_sync(loop, &cfg, WAIT_MS, &wr), ZK_OK);
	struct obs co = {0};
	struct ternr_watcher *w = NULL;
	CHECK_RC(ternr_config_subscribe(obs_c, "/cfg", on_config, &co, &w), ZK_OK);
	obs_wait(loop, &co, 1);
	CHECK(strcmp(co.ev[0], "NoNode") == 0); /* the first call: the current state */
	CHECK_RC(ternc_create_sync(wr, "/cfg", "v0", 2, NULL, TERNC_PERSISTENT, 0, NULL), ZK_OK);
	obs_wait(loop, &co, 2);
	CHECK(strcmp(co.ev[1], "v0@0") == 0);
	CHECK_RC(ternc_set_sync(wr, "/cfg", "v1", 2, -1, NULL), ZK_OK);
	obs_wait(loop, &co, 3);
	CHECK(strcmp(co.ev[2], "v1@1") == 0);
	CHECK_RC(ternc_set_sync(wr, "/cfg", "v2", 2, -1, NULL), ZK_OK);
	obs_wait(loop, &co, 4);
	CHECK(strcmp(co.ev[3], "v2@2") == 0);
	CHECK_RC(ternc_delete_sync(wr, "/cfg", -1), ZK_OK);
	obs_wait(loop, &co, 5);
	CHECK(strcmp(co.ev[4], "NoNode") == 0);
	CHECK_RC(ternc_create_sync(wr, "/cfg", "v3", 2, NULL, TERNC_PERSISTENT, 0, NULL), ZK_OK);
	obs_wait(loop, &co, 6);
	CHECK(strcmp(co.ev[5], "v3@0") == 0);
	ternc_close(wr);
	ternc_close(obs_c);
	obs_wait(loop, &co, 7); /* the session's end is the last call */
	CHECK(strcmp(co.ev[6], "SessionExpired") == 0);
	ternr_watcher_free(w);
	printf("ok config\n");
}

static void test_observe(void)
{
	struct ternc_loop *loop;
	struct ternc *c = session(&loop, 10000);
	test_observe_leader(loop, c);
	test_observe_group(loop, c);
	test_observe_config(loop, c);
	ternc_loop_free(loop);
}

/* ---- connection loss after the server applied a create ---- */

static void test_protect(void)
{
	struct ternc_loop *loop;
	struct ternc *c = session(&loop, 10000);
	struct ternr_lock *l = NULL;
	struct ternr_lock_cfg cfg = {.path = "/pr"};
	/* parents first: the proxy must cut a create that succeeds, not one that
	 * fails with NoNode before the recipe creates the parent */
	CHECK_RC(ternc_create_sync(c, "/pr", NULL, 0, NULL, TERNC_PERSISTENT, 0, NULL), ZK_OK);
	CHECK_RC(ternc_create_sync(c, "/pq2", NULL, 0, NULL, TERNC_PERSISTENT, 0, NULL), ZK_OK);
	CHECK_RC(ternr_lock_new(c, &cfg, &l), ZK_OK);
	/* the proxy cuts after the create; a second node would wait on the first forever */
	CHECK_RC(ternr_lock_acquire(l, 10000), ZK_OK);
	struct ternc_result *r = NULL;
	CHECK_RC(ternc_children_sync(c, "/pr", NULL, NULL, &r), ZK_OK);
	CHECK(r->count == 1); /* one node: ours, adopted, not created twice */
	CHECK(strcmp(strrchr(ternr_lock_node(l), '/') + 1, r->names[0]) == 0);
	ternc_result_free(r);
	CHECK_RC(ternr_fence_check(c, "/pr", ternr_lock_token(l)), ZK_OK);
	CHECK_RC(ternr_lock_release(l), ZK_OK);
	ternr_lock_free(l);
	printf("ok protect lock\n");

	CHECK_RC(ternr_queue_push(c, "/pq2", 0, "one", 3), ZK_OK); /* cut after the create */
	CHECK_RC(ternc_children_sync(c, "/pq2", NULL, NULL, &r), ZK_OK);
	CHECK(r->count == 1); /* pushed once */
	ternc_result_free(r);
	struct ternr_item *it = NULL;
	CHECK_RC(ternr_queue_pop(c, "/pq2", 0, &it), ZK_OK); /* cut after the multi */
	CHECK(strcmp((const char *)it->data, "one") == 0);
	ternr_item_free(it);
	CHECK_RC(ternc_children_sync(c, "/pq2", NULL, NULL, &r), ZK_OK);
	CHECK(r->count == 0); /* item taken, claim removed */
	ternc_result_free(r);
	end_session(loop, c);
	printf("ok protect queue\n");
}

static int usage(void)
{
	fprintf(stderr,
		"usage: ternr_it lock|rwlock|queue|barrier|expire|protect|observe HOSTS ...\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return usage();
	hosts = argv[2];
	const char *t = argv[1];
	if ((strcmp(t, "lock") == 0 || strcmp(t, "rwlock") == 0) && argc == 6) {
		int p = atoi(argv[3]), m = atoi(argv[4]);
		if (t[0] == 'l')
			test_lock(p, m, argv[5]);
		else
			test_rwlock(p, m, argv[5]);
	} else if (strcmp(t, "queue") == 0 && argc == 7) {
		test_queue(atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), argv[6]);
	} else if (strcmp(t, "barrier") == 0 && argc == 5) {
		test_barrier(atoi(argv[3]), argv[4]);
	} else if (strcmp(t, "expire") == 0) {
		test_expire();
	} else if (strcmp(t, "protect") == 0) {
		test_protect();
	} else if (strcmp(t, "observe") == 0) {
		test_observe();
	} else {
		return usage();
	}
	return 0;
}
