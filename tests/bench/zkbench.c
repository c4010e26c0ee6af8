/*
 * zkbench: a ZooKeeper-protocol load generator on the official C client (libzookeeper_mt).
 *
 * Design note.
 *  - N sessions (zhandle_t), each with up to K requests in flight, so at most N*K requests are
 *    outstanding at any moment (bounded by construction: a request needs a free slot).
 *  - Closed loop (default): every slot re-issues from its completion callback, so the offered
 *    load is whatever the server sustains.  A slot whose submission fails is parked and the
 *    driver thread relaunches it, so a connection blip does not lose lanes for good.
 *  - Open loop (--rate R): the driver thread schedules request i at t0 + i/R and latency is
 *    measured from that *intended* time, not from the actual send.  If every slot is busy the
 *    request waits for one, and the wait counts as latency: a server stall shows up in p99
 *    instead of silently lowering the offered rate (coordinated omission).
 *  - Each session's completions run on that handle's single completion thread, so a per-session
 *    histogram needs no locks; the driver only reads atomic counters for the progress line.
 *  - A request counts toward the results if its intended time lies inside the measurement
 *    window [t0 + warmup, t0 + warmup + duration].  After the window no new request is issued
 *    and in-flight ones get DRAIN_NS to finish; the rest are counted as timeouts (errors).
 *  - Latency histogram: HDR-style log-linear buckets over nanoseconds, HIST_SUB_BITS bits of
 *    sub-bucket precision (relative error < 1/128), exact maximum tracked on the side.
 *
 * Usage: zkbench --hosts H:P [--sessions 8] [--outstanding 32] [--op set|get|mixed]
 *        [--read-pct 90] [--value-size 100] [--keys 1000] [--warmup 2] [--duration 10]
 *        [--rate OPS] [--prefix /zkbench] [--setup-only] [--json]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zookeeper/zookeeper.h>

enum {
	MAX_SESSIONS = 256,
	MAX_OUTSTANDING = 4096,
	MAX_INFLIGHT_TOTAL = 65536,
	MAX_KEYS = 10 * 1000 * 1000,
	MAX_VALUE = 1024 * 1024 - 1024,
	MAX_DURATION_S = 3600,
	MAX_PATH = 256,
	HIST_SUB_BITS = 8,
	HIST_SUB = 1 << HIST_SUB_BITS,
	HIST_HALF = HIST_SUB / 2,
	HIST_MAX_MSB = 42, /* ~73 minutes in ns: anything longer is clamped */
	HIST_BUCKETS = (HIST_MAX_MSB - HIST_SUB_BITS + 2) * HIST_HALF + HIST_SUB,
};

#define NS_PER_S 1000000000LL
#define CONNECT_NS (15 * NS_PER_S)
#define DRAIN_NS (10 * NS_PER_S)
#define SETUP_NS (600 * NS_PER_S)

enum bench_op { OP_SET, OP_GET, OP_MIXED };

struct opts {
	const char *hosts;
	const char *prefix;
	int sessions;
	int outstanding;
	enum bench_op op;
	int read_pct;
	int value_size;
	int keys;
	int warmup_s;
	int duration_s;
	double rate;
	bool setup_only;
	bool json;
};

struct hist {
	uint64_t count;
	uint64_t max_ns;
	uint64_t b[HIST_BUCKETS];
};

struct session;

/* One request slot: a lane of the closed loop, or a reusable ticket of the open loop. */
struct slot {
	struct session *s;
	int64_t intended_ns;
	int next_free; /* open-loop free list link, -1 ends it */
	bool busy;
};

struct session {
	int idx;
	zhandle_t *zh;
	pthread_mutex_t lock; /* protects free_head and slot.busy */
	pthread_cond_t conn_cv;
	bool connected;
	int free_head;
	struct slot *slots;
	uint64_t rng;
	struct hist *hist; /* touched only by this handle's completion thread */
	_Atomic uint64_t done;  /* completions inside the window */
	_Atomic uint64_t errors;
	_Atomic int inflight;
};

static struct opts g_o;
static struct session *g_sess;
static char *g_value;
static _Atomic bool g_stop;
static int64_t g_win_start, g_win_end;
static _Atomic uint64_t g_submit_err;
static _Atomic uint64_t g_completed; /* every completion, warmup included: progress line only */
static uint64_t g_backlog_waits;     /* open loop: times the driver found every slot busy */
static uint64_t g_issued_in_window;  /* open loop: sends whose intended time is in the window */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static void sleep_until(int64_t t)
{
	struct timespec ts = { .tv_sec = t / NS_PER_S, .tv_nsec = t % NS_PER_S };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static uint64_t xorshift(uint64_t *st)
{
	uint64_t x = *st;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*st = x;
	return x;
}

/* ---- histogram ---- */

static int hist_index(uint64_t v)
{
	int msb, shift;

	if (v < HIST_SUB)
		return (int)v;
	msb = 63 - __builtin_clzll(v);
	if (msb > HIST_MAX_MSB)
		return HIST_BUCKETS - 1;
	shift = msb - HIST_SUB_BITS + 1; /* v >> shift lies in [HIST_HALF, HIST_SUB) */
	return shift * HIST_HALF + (int)(v >> shift);
}

/* Upper edge of a bucket: reported percentiles never understate latency. */
static uint64_t hist_value(int idx)
{
	int shift;
	uint64_t m;

	if (idx < HIST_SUB)
		return (uint64_t)idx;
	shift = idx / HIST_HALF - 1;
	m = (uint64_t)(idx - shift * HIST_HALF);
	return ((m + 1) << shift) - 1;
}

static void hist_add(struct hist *h, uint64_t v)
{
	int i = hist_index(v);

	if (i >= HIST_BUCKETS)
		i = HIST_BUCKETS - 1;
	h->b[i]++;
	h->count++;
	if (v > h->max_ns)
		h->max_ns = v;
}

static void hist_merge(struct hist *dst, const struct hist *src)
{
	for (int i = 0; i < HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
}

static uint64_t hist_pct(const struct hist *h, double pct)
{
	uint64_t want, seen = 0;

	if (h->count == 0)
		return 0;
	want = (uint64_t)((double)h->count * pct / 100.0 + 0.999999);
	if (want < 1)
		want = 1;
	for (int i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want) {
			uint64_t v = hist_value(i);
			return v < h->max_ns ? v : h->max_ns;
		}
	}
	return h->max_ns;
}

/* ---- request issue / completion ---- */

static void key_path(char *buf, size_t n, long k)
{
	snprintf(buf, n, "%s/k%07ld", g_o.prefix, k);
}

static void slot_release(struct slot *sl)
{
	struct session *s = sl->s;

	pthread_mutex_lock(&s->lock);
	sl->busy = false;
	if (g_o.rate > 0) {
		sl->next_free = s->free_head;
		s->free_head = (int)(sl - s->slots);
	}
	pthread_mutex_unlock(&s->lock);
	atomic_fetch_sub(&s->inflight, 1);
}

static void issue(struct slot *sl);

static void on_done(int rc, struct slot *sl)
{
	struct session *s = sl->s;
	int64_t t = now_ns();
	bool counted = sl->intended_ns >= g_win_start && sl->intended_ns < g_win_end;

	atomic_fetch_add_explicit(&g_completed, 1, memory_order_relaxed);
	if (counted) {
		if (rc == ZOK) {
			hist_add(s->hist, (uint64_t)(t - sl->intended_ns));
			atomic_fetch_add_explicit(&s->done, 1, memory_order_relaxed);
		} else {
			atomic_fetch_add_explicit(&s->errors, 1, memory_order_relaxed);
		}
	}
	if (g_o.rate > 0 || atomic_load(&g_stop)) {
		slot_release(sl);
		return;
	}
	/* closed loop: the lane goes straight on with its next request */
	sl->intended_ns = now_ns();
	issue(sl);
}

static void stat_cb(int rc, const struct Stat *st, const void *data)
{
	(void)st;
	on_done(rc, (struct slot *)(uintptr_t)data);
}

static void data_cb(int rc, const char *v, int vlen, const struct Stat *st, const void *data)
{
	(void)v;
	(void)vlen;
	(void)st;
	on_done(rc, (struct slot *)(uintptr_t)data);
}

/* Send one request for an already-claimed slot; on a submission failure release the slot. */
static void issue(struct slot *sl)
{
	struct session *s = sl->s;
	char path[MAX_PATH];
	bool read;
	int rc;

	pthread_mutex_lock(&s->lock); /* rng is shared by driver and completion thread */
	key_path(path, sizeof(path), (long)(xorshift(&s->rng) % (uint64_t)g_o.keys));
	read = g_o.op == OP_GET ||
	       (g_o.op == OP_MIXED && (int)(xorshift(&s->rng) % 100) < g_o.read_pct);
	pthread_mutex_unlock(&s->lock);
	if (read)
		rc = zoo_aget(s->zh, path, 0, data_cb, sl);
	else
		rc = zoo_aset(s->zh, path, g_value, g_o.value_size, -1, stat_cb, sl);
	if (rc != ZOK) {
		atomic_fetch_add(&g_submit_err, 1);
		if (sl->intended_ns >= g_win_start && sl->intended_ns < g_win_end)
			atomic_fetch_add(&s->errors, 1);
		pthread_mutex_lock(&s->lock);
		sl->busy = false;
		if (g_o.rate > 0) {
			sl->next_free = s->free_head;
			s->free_head = (int)(sl - s->slots);
		}
		pthread_mutex_unlock(&s->lock);
		atomic_fetch_sub(&s->inflight, 1);
	}
}

/* Claim a free slot of session s, or NULL when all are busy. */
static struct slot *slot_claim(struct session *s)
{
	struct slot *sl = NULL;

	pthread_mutex_lock(&s->lock);
	if (g_o.rate > 0) {
		if (s->free_head >= 0) {
			sl = &s->slots[s->free_head];
			s->free_head = sl->next_free;
		}
	} else {
		for (int i = 0; i < g_o.outstanding; i++) {
			if (!s->slots[i].busy) {
				sl = &s->slots[i];
				break;
			}
		}
	}
	if (sl) {
		sl->busy = true;
		atomic_fetch_add(&s->inflight, 1);
	}
	pthread_mutex_unlock(&s->lock);
	return sl;
}

/* ---- sessions ---- */

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	struct session *s = ctx;

	(void)zh;
	(void)path;
	if (type != ZOO_SESSION_EVENT || s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	s->connected = state == ZOO_CONNECTED_STATE;
	if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE)
		fprintf(stderr, "zkbench: session %d lost (state %d)\n", s->idx, state);
	pthread_cond_broadcast(&s->conn_cv);
	pthread_mutex_unlock(&s->lock);
}

static int session_connect(struct session *s)
{
	struct timespec dl;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &dl); /* pthread_cond_timedwait uses the realtime clock */
	dl.tv_sec += CONNECT_NS / NS_PER_S;
	s->zh = zookeeper_init(g_o.hosts, watcher, 30000, NULL, s, 0);
	if (s->zh == NULL)
		return -errno ? -errno : -EIO;
	pthread_mutex_lock(&s->lock);
	while (!s->connected && rc == 0)
		rc = pthread_cond_timedwait(&s->conn_cv, &s->lock, &dl);
	pthread_mutex_unlock(&s->lock);
	return s->connected ? 0 : -ETIMEDOUT;
}

static int sessions_open(void)
{
	int per = g_o.outstanding;

	g_sess = calloc((size_t)g_o.sessions, sizeof(*g_sess));
	if (g_sess == NULL)
		return -ENOMEM;
	for (int i = 0; i < g_o.sessions; i++) {
		struct session *s = &g_sess[i];

		s->idx = i;
		s->rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1) ^ (uint64_t)now_ns();
		s->free_head = -1;
		pthread_mutex_init(&s->lock, NULL);
		pthread_cond_init(&s->conn_cv, NULL);
		s->slots = calloc((size_t)per, sizeof(*s->slots));
		s->hist = calloc(1, sizeof(*s->hist));
		if (s->slots == NULL || s->hist == NULL)
			return -ENOMEM;
		for (int j = per - 1; j >= 0; j--) {
			s->slots[j].s = s;
			s->slots[j].next_free = s->free_head;
			s->free_head = j;
		}
		if (session_connect(s) < 0) {
			fprintf(stderr, "zkbench: session %d could not connect to %s within %llds\n",
				i, g_o.hosts, (long long)(CONNECT_NS / NS_PER_S));
			return -ETIMEDOUT;
		}
	}
	return 0;
}

/* Close every handle first: that joins its completion thread, so nothing touches the histograms
 * afterwards, even when requests were still in flight at the end of the drain. */
static void handles_close(void)
{
	for (int i = 0; g_sess && i < g_o.sessions; i++) {
		if (g_sess[i].zh)
			zookeeper_close(g_sess[i].zh);
		g_sess[i].zh = NULL;
	}
}

static void sessions_free(void)
{
	if (g_sess == NULL)
		return;
	for (int i = 0; i < g_o.sessions; i++) {
		free(g_sess[i].slots);
		free(g_sess[i].hist);
	}
	free(g_sess);
	g_sess = NULL;
}

/* ---- setup: create the parent and every key, bounded in flight ---- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	int inflight;
	long done, exists, errors;
	int last_err;
} g_setup = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0 };

static void create_cb(int rc, const char *name, const void *data)
{
	(void)name;
	(void)data;
	pthread_mutex_lock(&g_setup.lock);
	g_setup.inflight--;
	g_setup.done++;
	if (rc == ZNODEEXISTS) {
		g_setup.exists++;
	} else if (rc != ZOK) {
		g_setup.errors++;
		g_setup.last_err = rc;
	}
	pthread_cond_signal(&g_setup.cv);
	pthread_mutex_unlock(&g_setup.lock);
}

/* Wait until fewer than `limit` creates are in flight; false if the deadline passed. */
static bool setup_wait(int limit, int64_t deadline)
{
	bool ok = true;

	pthread_mutex_lock(&g_setup.lock);
	while (g_setup.inflight >= limit) {
		struct timespec ts;

		if (now_ns() > deadline) {
			ok = false;
			break;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000 * 1000;
		if (ts.tv_nsec >= NS_PER_S) {
			ts.tv_sec++;
			ts.tv_nsec -= NS_PER_S;
		}
		pthread_cond_timedwait(&g_setup.cv, &g_setup.lock, &ts);
	}
	pthread_mutex_unlock(&g_setup.lock);
	return ok;
}

static int setup_one(struct session *s, const char *path, const char *val, int len)
{
	int rc;

	pthread_mutex_lock(&g_setup.lock);
	g_setup.inflight++;
	pthread_mutex_unlock(&g_setup.lock);
	rc = zoo_acreate(s->zh, path, val, len, &ZOO_OPEN_ACL_UNSAFE, 0, create_cb, NULL);
	if (rc != ZOK) {
		pthread_mutex_lock(&g_setup.lock);
		g_setup.inflight--;
		g_setup.errors++;
		g_setup.last_err = rc;
		pthread_mutex_unlock(&g_setup.lock);
	}
	return rc;
}

static int setup_keys(void)
{
	int limit = g_o.sessions * g_o.outstanding;
	int64_t t0 = now_ns(), deadline = t0 + SETUP_NS;
	char path[MAX_PATH];

	setup_one(&g_sess[0], g_o.prefix, "", 0);
	if (!setup_wait(1, deadline))
		goto timeout;
	g_setup.exists = 0; /* the parent may exist from an earlier run: count keys only */
	g_setup.done = 0;
	for (long k = 0; k < g_o.keys; k++) {
		if (!setup_wait(limit, deadline))
			goto timeout;
		key_path(path, sizeof(path), k);
		setup_one(&g_sess[k % g_o.sessions], path, g_value, g_o.value_size);
	}
	if (!setup_wait(1, deadline))
		goto timeout;
	fprintf(stderr, "zkbench: setup %d keys under %s in %.2fs (%ld existed, %ld errors)\n",
			g_o.keys, g_o.prefix, (double)(now_ns() - t0) / 1e9, g_setup.exists,
			g_setup.errors);
	if (g_setup.errors) {
		fprintf(stderr, "zkbench: setup failed: %s\n", zerror(g_setup.last_err));
		return -EIO;
	}
	return 0;
timeout:
	fprintf(stderr, "zkbench: setup timed out after %llds\n", (long long)(SETUP_NS / NS_PER_S));
	return -ETIMEDOUT;
}

/* ---- driver ---- */

static int inflight_total(void)
{
	int n = 0;

	for (int i = 0; i < g_o.sessions; i++)
		n += atomic_load(&g_sess[i].inflight);
	return n;
}

static uint64_t errors_total(void)
{
	uint64_t n = 0;

	for (int i = 0; i < g_o.sessions; i++)
		n += atomic_load(&g_sess[i].errors);
	return n;
}

static void progress(int64_t t0, int64_t now, uint64_t *last_done)
{
	uint64_t done = atomic_load(&g_completed);
	/* label the second that just ended */
	const char *phase = now - NS_PER_S < g_win_start ? "warmup" : "measure";

	fprintf(stderr, "[%4.0fs %-7s] %8" PRIu64 " ops/s  errors %" PRIu64
				"  inflight %d\n",
			(double)(now - t0) / 1e9, phase, done - *last_done, errors_total(),
			inflight_total());
	*last_done = done;
}

/* Closed loop: keep every slot busy; lanes re-issue themselves, we only relaunch parked ones. */
static void fill_closed(void)
{
	for (int i = 0; i < g_o.sessions; i++) {
		struct slot *sl;

		while ((sl = slot_claim(&g_sess[i])) != NULL) {
			sl->intended_ns = now_ns();
			issue(sl);
		}
	}
}

/* Open loop: issue every request whose intended time has come; returns false on backlog. */
static bool fill_open(int64_t *next, int64_t interval_ns, int *rr)
{
	int64_t now = now_ns();

	while (*next <= now && *next < g_win_end) {
		struct slot *sl = NULL;

		for (int k = 0; k < g_o.sessions && sl == NULL; k++) {
			sl = slot_claim(&g_sess[*rr]);
			*rr = (*rr + 1) % g_o.sessions;
		}
		if (sl == NULL) {
			g_backlog_waits++;
			return false;
		}
		sl->intended_ns = *next; /* not the send time: a late send counts as latency */
		if (*next >= g_win_start)
			g_issued_in_window++;
		issue(sl);
		*next += interval_ns;
	}
	return true;
}

static void run_load(void)
{
	int64_t t0 = now_ns(), next_tick = t0 + NS_PER_S, next = t0, drain_end;
	int64_t interval = g_o.rate > 0 ? (int64_t)(1e9 / g_o.rate) : 0;
	uint64_t last_done = 0;
	int rr = 0;

	if (interval < 1 && g_o.rate > 0)
		interval = 1;
	g_win_start = t0 + (int64_t)g_o.warmup_s * NS_PER_S;
	g_win_end = g_win_start + (int64_t)g_o.duration_s * NS_PER_S;
	for (;;) {
		int64_t now = now_ns(), wake;
		bool ok = true;

		if (now >= g_win_end)
			break;
		if (now >= next_tick) {
			progress(t0, now, &last_done);
			next_tick += NS_PER_S;
		}
		if (g_o.rate > 0)
			ok = fill_open(&next, interval, &rr);
		else
			fill_closed();
		wake = now + (g_o.rate > 0 ? (ok ? 1000000 : 20000) : 2000000);
		if (g_o.rate > 0 && ok && next < wake)
			wake = next;
		if (wake > next_tick)
			wake = next_tick;
		sleep_until(wake);
	}
	if (g_o.rate > 0)
		fill_open(&next, interval, &rr); /* requests due just before the window closed */
	atomic_store(&g_stop, true);
	drain_end = now_ns() + DRAIN_NS;
	while (inflight_total() > 0 && now_ns() < drain_end)
		sleep_until(now_ns() + 1000000);
}

/* Counters are sampled before the handles close, since closing fails what is still in flight:
 * `stuck_reqs` of those count once, as timeouts. */
static void report(int stuck_reqs, uint64_t errors)
{
	struct hist *h = calloc(1, sizeof(*h));
	uint64_t ops = 0, errs = errors, stuck = (uint64_t)stuck_reqs, unsent = 0;
	static const char *names[] = { "set", "get", "mixed" };
	double secs = g_o.duration_s, p50, p99, p999, mx;

	if (h == NULL) {
		fprintf(stderr, "zkbench: out of memory\n");
		return;
	}
	for (int i = 0; i < g_o.sessions; i++) {
		hist_merge(h, g_sess[i].hist);
		ops += atomic_load(&g_sess[i].done);
	}
	errs += stuck; /* still in flight DRAIN_NS after the window: count as timed out */
	if (g_o.rate > 0) {
		uint64_t due = (uint64_t)(g_o.rate * g_o.duration_s);

		/* the server fell so far behind that these were never even sent */
		unsent = due > g_issued_in_window ? due - g_issued_in_window : 0;
	}
	p50 = (double)hist_pct(h, 50) / 1e3;
	p99 = (double)hist_pct(h, 99) / 1e3;
	p999 = (double)hist_pct(h, 99.9) / 1e3;
	mx = (double)h->max_ns / 1e3;
	if (g_o.json) {
		printf("{\"op\":\"%s\",\"mode\":\"%s\",\"sessions\":%d,\"outstanding\":%d,"
		       "\"read_pct\":%d,\"value_size\":%d,\"keys\":%d,\"duration_s\":%d,"
		       "\"rate\":%.1f,\"ops\":%" PRIu64 ",\"ops_per_sec\":%.1f,\"errors\":%" PRIu64
		       ",\"timeouts\":%" PRIu64 ",\"unsent\":%" PRIu64 ",\"backlog_waits\":%" PRIu64 ",\"p50_us\":%.1f,"
		       "\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"all_ops\":%" PRIu64 "}\n",
		       names[g_o.op], g_o.rate > 0 ? "open" : "closed", g_o.sessions, g_o.outstanding,
		       g_o.read_pct, g_o.value_size, g_o.keys, g_o.duration_s, g_o.rate, ops,
		       (double)ops / secs, errs, stuck, unsent, g_backlog_waits, p50, p99, p999, mx,
		       atomic_load(&g_completed) + (uint64_t)g_setup.done);
	} else {
		printf("zkbench %s %s-loop: %d sessions x %d outstanding, %d B values, %d keys",
		       names[g_o.op], g_o.rate > 0 ? "open" : "closed", g_o.sessions,
		       g_o.outstanding, g_o.value_size, g_o.keys);
		if (g_o.rate > 0)
			printf(", offered %.0f ops/s", g_o.rate);
		printf("\n  ops %" PRIu64 " in %ds = %.1f ops/s, errors %" PRIu64 " (timeouts %" PRIu64
		       ")\n  latency us: p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
		       ops, g_o.duration_s, (double)ops / secs, errs, stuck, p50, p99, p999, mx);
		if (g_o.rate > 0)
			printf("  driver found all slots busy %" PRIu64 " times; %" PRIu64
			       " requests due in the window were never sent (overload)\n",
			       g_backlog_waits, unsent);
	}
	free(h);
}

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(f, "usage: zkbench --hosts HOST:PORT[,...] [--sessions N] [--outstanding N]\n"
		   "       [--op set|get|mixed] [--read-pct P] [--value-size B] [--keys N]\n"
		   "       [--warmup S] [--duration S] [--rate OPS] [--prefix /path]\n"
		   "       [--setup-only] [--json]\n"
		   "  closed loop by default; --rate switches to an open loop whose latency is\n"
		   "  measured from each request's intended send time\n");
}

static int parse_long(const char *name, const char *arg, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "zkbench: --%s wants an integer in [%ld, %ld], got '%s'\n", name,
			lo, hi, arg);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_op(const char *arg)
{
	if (strcmp(arg, "set") == 0)
		g_o.op = OP_SET;
	else if (strcmp(arg, "get") == 0)
		g_o.op = OP_GET;
	else if (strcmp(arg, "mixed") == 0)
		g_o.op = OP_MIXED;
	else {
		fprintf(stderr, "zkbench: --op must be set, get or mixed, got '%s'\n", arg);
		return -EINVAL;
	}
	return 0;
}

static int parse_rate(const char *arg)
{
	char *end;

	errno = 0;
	g_o.rate = strtod(arg, &end);
	if (errno || end == arg || *end != '\0' || !(g_o.rate > 0) || g_o.rate > 1e7) {
		fprintf(stderr, "zkbench: --rate wants ops/s in (0, 1e7], got '%s'\n", arg);
		return -EINVAL;
	}
	return 0;
}

static int parse_prefix(const char *arg)
{
	size_t n = strlen(arg);

	if (n < 2 || n > 200 || arg[0] != '/' || arg[n - 1] == '/') {
		fprintf(stderr, "zkbench: --prefix must be an absolute znode path like /zkbench\n");
		return -EINVAL;
	}
	g_o.prefix = arg;
	return 0;
}

/* The numeric options: their letter, name, bounds and destination. */
static int parse_num_opt(int c, const char *arg)
{
	const struct {
		int c;
		const char *name;
		long lo, hi;
		int *dst;
	} tab[] = {
		{ 's', "sessions", 1, MAX_SESSIONS, &g_o.sessions },
		{ 'o', "outstanding", 1, MAX_OUTSTANDING, &g_o.outstanding },
		{ 'p', "read-pct", 0, 100, &g_o.read_pct },
		{ 'v', "value-size", 0, MAX_VALUE, &g_o.value_size },
		{ 'k', "keys", 1, MAX_KEYS, &g_o.keys },
		{ 'w', "warmup", 0, MAX_DURATION_S, &g_o.warmup_s },
		{ 'd', "duration", 1, MAX_DURATION_S, &g_o.duration_s },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		long v;

		if (tab[i].c != c)
			continue;
		if (parse_long(tab[i].name, arg, tab[i].lo, tab[i].hi, &v) < 0)
			return -EINVAL;
		*tab[i].dst = (int)v;
		return 0;
	}
	return -EINVAL;
}

static int parse_opts(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "hosts", required_argument, NULL, 'h' },
		{ "sessions", required_argument, NULL, 's' },
		{ "outstanding", required_argument, NULL, 'o' },
		{ "op", required_argument, NULL, 'O' },
		{ "read-pct", required_argument, NULL, 'p' },
		{ "value-size", required_argument, NULL, 'v' },
		{ "keys", required_argument, NULL, 'k' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "duration", required_argument, NULL, 'd' },
		{ "rate", required_argument, NULL, 'r' },
		{ "prefix", required_argument, NULL, 'P' },
		{ "setup-only", no_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc = 0;

	g_o = (struct opts){ .prefix = "/zkbench", .sessions = 8, .outstanding = 32,
			     .op = OP_SET, .read_pct = 90, .value_size = 100, .keys = 1000,
			     .warmup_s = 2, .duration_s = 10 };
	while (rc == 0 && (c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'h': g_o.hosts = optarg; break;
		case 'O': rc = parse_op(optarg); break;
		case 'r': rc = parse_rate(optarg); break;
		case 'P': rc = parse_prefix(optarg); break;
		case 'S': g_o.setup_only = true; break;
		case 'j': g_o.json = true; break;
		case 'H': usage(stdout); exit(0);
		case '?': rc = -EINVAL; break;
		default: rc = parse_num_opt(c, optarg); break;
		}
	}
	if (rc == 0 && (optind < argc || g_o.hosts == NULL)) {
		fprintf(stderr, "zkbench: %s\n", optind < argc ? "unexpected argument" : "--hosts is required");
		rc = -EINVAL;
	}
	if (rc == 0 && (long)g_o.sessions * g_o.outstanding > MAX_INFLIGHT_TOTAL) {
		fprintf(stderr, "zkbench: sessions x outstanding must be <= %d\n", MAX_INFLIGHT_TOTAL);
		rc = -EINVAL;
	}
	return rc;
}

int main(int argc, char **argv)
{
	int rc, in_flight_at_end;
	uint64_t errors_at_end;

	if (parse_opts(argc, argv) < 0) {
		usage(stderr);
		return 2;
	}
	zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
	g_value = malloc((size_t)g_o.value_size + 1);
	if (g_value == NULL)
		return 1;
	memset(g_value, 'v', (size_t)g_o.value_size + 1);
	rc = sessions_open();
	if (rc == 0)
		rc = setup_keys();
	if (rc == 0 && !g_o.setup_only)
		run_load();
	in_flight_at_end = g_sess ? inflight_total() : 0;
	errors_at_end = g_sess ? errors_total() : 0;
	handles_close();
	if (rc == 0 && !g_o.setup_only)
		report(in_flight_at_end, errors_at_end);
	if (rc == 0 && g_o.setup_only && g_o.json)
		printf("{\"setup_keys\":%d,\"existed\":%ld,\"errors\":%ld}\n", g_o.keys,
		       g_setup.exists, g_setup.errors);
	sessions_free();
	free(g_value);
	return rc == 0 ? 0 : 1;
}
