/* mgmt/ctl_admin.c: what the admin HTTP server (mgmt/http.c) reads of the
 * control thread's world.
 *
 * The HTTP thread is neither the control thread nor a worker, so it reads
 * only what is safe from any thread, exactly as ctl_fourlw() does on the
 * workers: the store's lock-free readers and its locked session table, the
 * dataplane's summed counters, the WAL's locked stats, and the atomics of
 * struct ctl. The Zab core and the peer channels belong to the control
 * thread: ctl_admin_publish(), called there once per loop turn, copies
 * zab_info() and the peer counters into a mutex-guarded slot at most every
 * CTL_ADM_PUB_MS; ctl_admin_fill() reads the slot. Without that call the
 * zab fields stay invalid (zab.valid == false) and /metrics leaves them out.
 * The slot also carries each peer's lag (zab_peer_info at publish time), so
 * a lag read over HTTP is at most CTL_ADM_PUB_MS plus one loop turn old.
 * Per-worker counters and ring depths are atomics/gauges any thread reads.
 *
 * c->leader is a plain field the control thread writes; it is read here with
 * a relaxed atomic load, as a gauge (a torn value is impossible for an
 * aligned 32-bit word on every target tern builds for).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/tn_assert.h"
#include "common/tn_err.h"
#include "common/tn_log.h"
#include "mgmt/admin.h"
#include "mgmt/ctl_int.h"

#define CTL_ADM_PUB_MS 10u           /* publish the Zab view at most this often */
#define CTL_ADM_CONNS_MAX 65536u     /* connections listed (as ctl_fourlw) */
#define CTL_ADM_WATCHES_MAX (1u << 22)
#define CTL_ADM_SESSIONS_MAX (1u << 20)

/* The published Zab view: one ternd runs one control thread. */
static pthread_mutex_t pub_mu = PTHREAD_MUTEX_INITIALIZER;
static const struct ctl *pub_owner;
static struct ctl_zab_pub pub;
/* snapshots taken through the admin server */
static struct {
	uint64_t count, ms_sum, ms_max, ms_last;
} snaps;

/* Control thread only: next time to publish (monotonic ms). */
static _Thread_local uint64_t pub_next_ms;

void ctl_admin_publish(struct ctl *c)
{
	uint64_t now = dp_now_ms();
	struct zab_info zi;
	struct ctl_zab_pub p = { 0 };

	if (!c->zab || now < pub_next_ms)
		return;
	pub_next_ms = now + CTL_ADM_PUB_MS;
	zab_info(c->zab, &zi);
	p.valid = true;
	p.at_ms = now;
	p.role = (uint32_t)zi.role;
	p.leader = zi.leader;
	p.serving = zi.serving;
	p.accepted_epoch = zi.accepted_epoch;
	p.current_epoch = zi.current_epoch;
	p.round = zi.round;
	p.last_logged = zi.last_logged;
	p.last_durable = zi.last_durable;
	p.last_committed = zi.last_committed;
	p.last_proposed = zi.last_proposed;
	p.synced_learners = zi.synced_learners;
	p.synced_observers = zi.synced_observers;
	p.inflight = zi.inflight;
	p.proposals = zi.proposals;
	p.batches = zi.batches;
	p.commits = zi.commits;
	p.elections = zi.elections;
	p.dropped = zi.dropped;
	if (c->pn)
		peer_net_stats(c->pn, &p.peer_sent, &p.peer_recv);
	const struct cfg *cfg = c->cc.cfg;
	/* the core's membership: a reconfig changes it */
	for (unsigned i = 0; i < CTL_ADM_MEMBERS_MAX; i++) {
		struct zab_peer_info mi;
		if (zab_peer_info(c->zab, i, now, &mi) == -ERANGE)
			break;
		uint32_t id = mi.id;
		p.member_id[i] = id;
		p.member_up[i] = id == cfg->server_id || (c->pn && peer_net_is_up(c->pn, id, false));
		if (c->pn && id != cfg->server_id)
			(void)peer_net_link_bytes(c->pn, id, &p.member_bytes[i]);   /* zeros if absent */
		p.member_count = i + 1;
	}
	for (uint32_t i = 0; i < ZAB_MEMBERS_MAX && p.lag_count < CTL_ADM_MEMBERS_MAX; i++) {
		struct zab_peer_info pi;
		int rc = zab_peer_info(c->zab, i, now, &pi);
		if (rc == -ERANGE)
			break;
		if (rc < 0)
			continue;
		p.lag[p.lag_count++] = (struct ctl_peer_lag){
			.id = pi.id, .observer = pi.observer, .synced = pi.synced, .live = pi.live,
			.zxid = pi.zxid, .target = pi.target, .lag_txns = pi.lag_txns,
			.lag_ms = pi.lag_ms, .report_age_ms = pi.report_age_ms };
	}
	pthread_mutex_lock(&pub_mu);
	pub_owner = c;
	pub = p;
	pthread_mutex_unlock(&pub_mu);
}

/* ---- arrays the fill owns ---- */

struct own {
	struct adm_conn *conns;
	struct adm_watch *watches;
	size_t watch_n, watch_cap;
	struct adm_session *sessions;
	int32_t *timeouts;
	unsigned sess_n, sess_cap;
	char **strs;               /* every path copied, freed with the fill */
	size_t str_n, str_cap;
	bool oom;
};

static char *own_str(struct own *o, const char *s)
{
	if (o->str_n == o->str_cap) {
		size_t cap = o->str_cap ? o->str_cap * 2 : 256;
		char **v = realloc(o->strs, cap * sizeof *v);
		if (!v) {
			o->oom = true;
			return NULL;
		}
		o->strs = v;
		o->str_cap = cap;
	}
	char *d = strdup(s);
	if (!d) {
		o->oom = true;
		return NULL;
	}
	o->strs[o->str_n++] = d;
	return d;
}

static void watch_add(void *arg, uint64_t session, const char *path)
{
	struct own *o = arg;
	if (o->watch_n >= CTL_ADM_WATCHES_MAX)
		return;
	if (o->watch_n == o->watch_cap) {
		size_t cap = o->watch_cap ? o->watch_cap * 2 : 256;
		struct adm_watch *v = realloc(o->watches, cap * sizeof *v);
		if (!v) {
			o->oom = true;
			return;
		}
		o->watches = v;
		o->watch_cap = cap;
	}
	const char *p = own_str(o, path);
	if (!p)
		return;
	o->watches[o->watch_n++] = (struct adm_watch){ .sid = session, .path = p };
}

static void session_add(void *arg, uint64_t session, int32_t timeout_ms)
{
	struct own *o = arg;
	if (o->sess_n >= CTL_ADM_SESSIONS_MAX)
		return;
	if (o->sess_n == o->sess_cap) {
		unsigned cap = o->sess_cap ? o->sess_cap * 2 : 64;
		struct adm_session *v = realloc(o->sessions, cap * sizeof *v);
		int32_t *t = v ? realloc(o->timeouts, cap * sizeof *t) : NULL;
		if (v)
			o->sessions = v;
		if (!v || !t) {
			o->oom = true;
			return;
		}
		o->timeouts = t;
		o->sess_cap = cap;
	}
	o->sessions[o->sess_n] = (struct adm_session){ .sid = session };
	o->timeouts[o->sess_n++] = timeout_ms;
}

struct eph_list {
	struct own *o;
	const char **v;
	unsigned n, cap;
};

static int eph_add(void *arg, const char *path)
{
	struct eph_list *l = arg;
	if (l->n == l->cap) {
		unsigned cap = l->cap ? l->cap * 2 : 8;
		const char **v = realloc(l->v, cap * sizeof *v);
		if (!v) {
			l->o->oom = true;
			return ZK_OK;
		}
		l->v = v;
		l->cap = cap;
	}
	const char *p = own_str(l->o, path);
	if (p)
		l->v[l->n++] = p;
	return ZK_OK;
}

/* Sessions (store table) and each one's ephemeral paths, sorted by id. */
static int cmp_session(const void *a, const void *b)
{
	const struct adm_session *x = a, *y = b;
	return x->sid < y->sid ? -1 : x->sid > y->sid;
}

static void fill_sessions(struct ctl *c, struct own *o)
{
	store_session_foreach(c->s, session_add, o);
	/* sort both arrays together: sort sessions, then look timeouts up again */
	if (o->sess_n > 1)
		qsort(o->sessions, o->sess_n, sizeof *o->sessions, cmp_session);
	for (unsigned i = 0; i < o->sess_n; i++) {
		struct eph_list l = { .o = o };
		int32_t to = 0;
		if (!store_session_get(c->s, o->sessions[i].sid, &to))
			to = -1; /* closed since the listing */
		o->timeouts[i] = to;
		store_ephemerals(c->s, o->sessions[i].sid, "/", eph_add, &l);
		/* owned by the session entry: ctl_admin_release frees it */
		o->sessions[i].ephemerals = l.v;
		o->sessions[i].ephemeral_count = l.n;
	}
}

static void fill_conns(struct ctl *c, struct dp *dp, struct own *o, struct adm_info *in)
{
	struct dp_conn_info *ci = calloc(CTL_ADM_CONNS_MAX, sizeof *ci);
	unsigned n;

	(void)c;
	if (!ci) {
		o->oom = true;
		return;
	}
	n = dp_conns(dp, ci, CTL_ADM_CONNS_MAX);
	o->conns = calloc(n + 1, sizeof *o->conns);
	if (!o->conns) {
		o->oom = true;
		free(ci);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		struct adm_conn *a = &o->conns[i];
		snprintf(a->addr, sizeof a->addr, "%s", ci[i].ip);
		a->port = ci[i].port;
		a->interest_ops = ci[i].fourlw ? 0 : 1;
		a->recved = ci[i].recved;
		a->sent = ci[i].sent;
		a->has_session = ci[i].has_session;
		a->sid = ci[i].sid;
		snprintf(a->lop, sizeof a->lop, "%s", ci[i].lop);
		a->to_ms = (uint32_t)ci[i].timeout_ms;
		a->lcxid = ci[i].lcxid;
		a->lzxid = ci[i].lzxid;
		a->est_ms = ci[i].est_ms;
		a->lresp_ms = ci[i].lresp_ms;
		a->llat = ci[i].llat_ms;
		a->minlat = ci[i].minlat_ms;
		a->maxlat = ci[i].maxlat_ms;
		a->lat_sum = ci[i].lat_sum_ms;
		a->lat_count = ci[i].lat_count;
	}
	free(ci);
	in->conns = o->conns;
	in->conn_count = n;
}

/* The newest snapshot.<hex zxid> in @dir: its zxid and mtime. */
static void last_snapshot(const char *dir, int64_t *zxid, int64_t *time_s)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	*zxid = *time_s = -1;
	if (!d)
		return;
	while ((e = readdir(d))) {
		char *end;
		struct stat st;
		if (strncmp(e->d_name, "snapshot.", 9) != 0)
			continue;
		uint64_t z = strtoull(e->d_name + 9, &end, 16);
		if (*end || end == e->d_name + 9 || (int64_t)z < *zxid)
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, 0) < 0)
			continue;
		*zxid = (int64_t)z;
		*time_s = (int64_t)st.st_mtime;
	}
	closedir(d);
}

/* The counters ctl_fourlw() shows (ctl_info_fill), plus file descriptors,
 * directory sizes and the environment. */
static void fill_info(struct ctl *c, struct dp *dp, struct adm_info *in)
{
	ctl_info_fill(c, dp, in);
	adm_fds_fill(in);
	adm_dir_bytes(c->cc.snap_dir, &in->datadir_bytes);
	adm_dir_bytes(c->cc.log_dir, &in->logdir_bytes);
	adm_env_fill(in);
}

/* Ensemble fields: role, leader, quorum size and learners, from the atomics
 * and the published Zab view. */
static void fill_ensemble(struct ctl *c, struct ctl_admin *a)
{
	const struct cfg *cfg = c->cc.cfg;
	struct adm_info *in = a->info;
	uint32_t voters = 0;

	a->ensemble = c->zab != NULL;
	a->role = (uint32_t)atomic_load(&c->role_pub);
	if (!a->ensemble)
		return;
	a->leader = __atomic_load_n(&c->leader, __ATOMIC_RELAXED);
	pthread_mutex_lock(&pub_mu);
	if (pub_owner == c)
		a->zab = pub;
	pthread_mutex_unlock(&pub_mu);
	if (in->member_count) {
		for (unsigned i = 0; i < in->member_count; i++)
			voters += in->members[i].type != CFG_PEER_OBSERVER;
	} else {
		for (unsigned i = 0; i < cfg->server_count; i++)
			voters += cfg->servers[i].type != CFG_PEER_OBSERVER;
	}
	in->quorum_size = voters / 2 + 1;
	in->peer_state = in->serving ? "following - broadcast" : "looking - election";
	in->leader = a->role == ZAB_LEADING;
	if (!in->leader)
		return;
	in->peer_state = "leading - broadcast";
	in->learners = a->zab.synced_learners;
	/* the core counts its own stream: observers behind a learner master are not ours */
	in->synced_observers = TN_MIN(a->zab.synced_observers, a->zab.synced_learners);
	in->synced_followers = a->zab.synced_learners - in->synced_observers;
}

int ctl_admin_fill(struct ctl *c, unsigned what, struct ctl_admin *a)
{
	struct dp *dp = atomic_load_explicit(&c->dp_pub, memory_order_acquire);
	struct own *o = calloc(1, sizeof *o);
	struct wal_stats ws = { 0 };

	TN_ASSERT(c && a);
	a->info = calloc(1, sizeof *a->info);
	a->own = o;
	if (!o || !a->info) {
		ctl_admin_release(a);
		return -ENOMEM;
	}
	store_reader_register();
	fill_info(c, dp, a->info);
	if (dp)
		dp_udp_stats(dp, &a->udp);
	fill_ensemble(c, a);
	if (dp && (what & CTL_ADM_CONNS))
		fill_conns(c, dp, o, a->info);
	if (what & CTL_ADM_WATCHES) {
		store_watch_foreach(c->s, watch_add, o);
		a->info->watches = o->watches;
		a->info->watch_count = o->watch_n;
	}
	if (what & CTL_ADM_SESSIONS) {
		fill_sessions(c, o);
		a->info->sessions = o->sessions;
		a->info->session_count = o->sess_n;
		a->session_timeouts = o->timeouts;
	}
	store_reader_unregister();
	if (c->wal)
		wal_stats(c->wal, &ws);
	a->wal = ws;
	struct store_stats ss;
	store_stats(c->s, &ss);
	a->store_mem_bytes = ss.mem_bytes;
	if (dp) {
		struct dp_stats ds;
		dp_stats(dp, &ds);
		a->conns_total = ds.conns_total;
		a->workers = TN_MIN(dp_worker_count(dp), (unsigned)DP_WORKERS_MAX);
		for (unsigned i = 0; i < a->workers; i++)
			if (dp_worker_stats(dp, i, &a->wk[i]) < 0)
				memset(&a->wk[i], 0, sizeof a->wk[i]);
	}
	if (c->ring)
		a->ctl_ring_depth = dp_ring_depth(c->ring, &a->ctl_ring_depth_max);
	pthread_mutex_lock(&pub_mu);
	a->snap_count = snaps.count;
	a->snap_ms_sum = snaps.ms_sum;
	a->snap_ms_max = snaps.ms_max;
	a->snap_ms_last = snaps.ms_last;
	pthread_mutex_unlock(&pub_mu);
	a->snap_busy = atomic_load(&c->snap_busy);
	last_snapshot(c->cc.snap_dir, &a->last_snap_zxid, &a->last_snap_time_s);
	if (o->oom) {
		ctl_admin_release(a);
		return -ENOMEM;
	}
	return 0;
}

void ctl_admin_release(struct ctl_admin *a)
{
	struct own *o = a->own;
	if (o) {
		for (size_t i = 0; i < o->str_n; i++)
			free(o->strs[i]);
		free(o->strs);
		free(o->conns);
		free(o->watches);
		for (unsigned i = 0; i < o->sess_n; i++)
			free((void *)o->sessions[i].ephemerals);
		free(o->sessions);
		free(o->timeouts);
		free(o);
	}
	free(a->info);
	a->info = NULL;
	a->own = NULL;
	a->session_timeouts = NULL;
}

int ctl_admin_snapshot(struct ctl *c, uint64_t *zxid, uint64_t *ms)
{
	bool idle = false;
	tn_zxid z = 0;
	struct timespec t0, t1;
	int rc;

	TN_ASSERT(c && zxid && ms);
	if (!atomic_load_explicit(&c->dp_pub, memory_order_acquire))
		return -EAGAIN;
	/* the control thread's snap_maybe() skips while this is set */
	if (!atomic_compare_exchange_strong(&c->snap_busy, &idle, true))
		return -EBUSY;
	if (c->wal)
		wal_roll(c->wal); /* as snap_maybe: later txns start a new segment */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	store_reader_register();
	rc = snap_write(c->s, c->cc.snap_dir, &z);
	store_reader_unregister();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	atomic_store(&c->snap_busy, false);
	if (rc < 0) {
		TN_ERROR("admin", "snapshot: %s", tn_strerror(rc));
		return rc;
	}
	int64_t ns = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec);
	uint64_t took = ns > 0 ? (uint64_t)ns / 1000000u : 0;
	pthread_mutex_lock(&pub_mu);
	snaps.count++;
	snaps.ms_sum += took;
	snaps.ms_max = TN_MAX(snaps.ms_max, took);
	snaps.ms_last = took;
	pthread_mutex_unlock(&pub_mu);
	TN_INFO("admin", "snapshot at zxid 0x%" PRIx64 " in %" PRIu64 " ms (admin request)", z, took);
	*zxid = z;
	*ms = took;
	return 0;
}
