/* mgmt/admin.c: four-letter-word replies (formats in admin.h).
 *
 * Every reply is built by appending to a struct adm_out; the only state is the
 * caller's struct adm_info, so a test can pin every byte. Where ZooKeeper walks
 * a HashMap (wchc, wchp, dump), the order is unspecified; tern sorts by session
 * id and path so the text is deterministic.
 *
 * Which words answer while not serving (ZooKeeper's command classes): ruok,
 * envi and gtmk always answer; isro says "null"; every other word prints
 * "This ZooKeeper instance is not currently serving requests\n".
 */
#include "mgmt/admin.h"

#include <errno.h>
#include <inttypes.h>
#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "common/tn_assert.h"

#define ADM_NOT_SERVING "This ZooKeeper instance is not currently serving requests\n"

static const char four_letter_words[][5] = {
	"ruok", "srvr", "stat", "mntr", "conf", "cons", "crst", "srst", "envi", "wchs",
	"wchc", "wchp", "dirs", "isro", "dump", "gtmk", "stmk", "hash",
};

/* ---- output buffer ---- */

void adm_out_init(struct adm_out *o)
{
	*o = (struct adm_out){ 0 };
}

void adm_out_free(struct adm_out *o)
{
	free(o->buf);
	adm_out_init(o);
}

static bool out_reserve(struct adm_out *o, size_t more)
{
	if (o->err)
		return false;
	if (more > ADM_OUT_MAX || o->len + more + 1 > ADM_OUT_MAX) {
		o->err = -E2BIG;
		return false;
	}
	if (o->len + more + 1 <= o->cap)
		return true;
	size_t cap = o->cap ? o->cap : 1024;
	while (cap < o->len + more + 1)
		cap *= 2;
	cap = TN_MIN(cap, (size_t)ADM_OUT_MAX);
	char *nb = realloc(o->buf, cap);
	if (!nb) {
		o->err = -ENOMEM;
		return false;
	}
	o->buf = nb;
	o->cap = cap;
	TN_ASSERT(o->len + more + 1 <= o->cap);
	return true;
}

static void put(struct adm_out *o, const char *s)
{
	size_t n = strlen(s);
	if (!out_reserve(o, n))
		return;
	memcpy(o->buf + o->len, s, n + 1);
	o->len += n;
	TN_ASSERT(o->len < o->cap);
}

static void putf(struct adm_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void putf(struct adm_out *o, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0) {
		o->err = o->err ? o->err : -EINVAL;
		return;
	}
	if ((size_t)n < sizeof small) {
		put(o, small);
		return;
	}
	if (!out_reserve(o, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(o->buf + o->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	o->len += (size_t)n;
}

/* ---- number formats ---- */

void adm_fmt_avg(char out[32], uint64_t sum, uint64_t count)
{
	/* Math.round(avg * 1e4) / 1e4, then Double.toString; in integers (no libm) */
	double avg = count ? (double)sum / (double)count : 0.0;
	double scaled = avg * 10000.0 + 0.5;
	uint64_t r4 = scaled >= 1.8e19 ? UINT64_MAX : (uint64_t)scaled;
	uint64_t ip = r4 / 10000;
	char frac[8], digits[32];
	snprintf(frac, sizeof frac, "%04u", (unsigned)(r4 % 10000));
	size_t fl = 4;
	while (fl > 1 && frac[fl - 1] == '0')
		frac[--fl] = '\0';
	if (ip < 10000000) {
		snprintf(out, 32, "%" PRIu64 ".%s", ip, frac);
		return;
	}
	/* java's computerized notation from 1e7 on: 1.2345678E7, 1.0E7 */
	snprintf(digits, sizeof digits, "%" PRIu64 "%s", ip, frac);
	int ilen = snprintf(NULL, 0, "%" PRIu64, ip);
	size_t dl = strlen(digits);
	while (dl > 2 && digits[dl - 1] == '0')
		digits[--dl] = '\0';
	snprintf(out, 32, "%c.%.18sE%d", digits[0], dl > 1 ? digits + 1 : "0", ilen - 1);
}

static const char *built_on(const struct adm_info *in, char buf[32])
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	const char *d = __DATE__; /* "Nov 22 2026" */
	if (in->built_on)
		return in->built_on;
	const char *m = strstr(months, (char[4]){ d[0], d[1], d[2], 0 });
	int mon = m ? (int)(m - months) / 3 + 1 : 1;
	snprintf(buf, 32, "%.4s-%02d-%02d %.5s UTC", d + 7, mon, atoi(d + 4), __TIME__);
	return buf;
}

static void version_line(const struct adm_info *in, struct adm_out *o, const char *prefix)
{
	char b[32];
	putf(o, "%s%s, built on %s\n", prefix, in->version ? in->version : ADM_ZK_VERSION,
	     built_on(in, b));
}

/* ---- srvr / stat / cons ---- */

static void conn_brief(struct adm_out *o, const struct adm_conn *c)
{
	putf(o, " /%s:%u[%d](queued=%" PRIu64 ",recved=%" PRIu64 ",sent=%" PRIu64, c->addr, c->port,
	     c->interest_ops, c->queued, c->recved, c->sent);
}

static void conn_full(struct adm_out *o, const struct adm_conn *c)
{
	conn_brief(o, c);
	if (c->has_session) {
		uint64_t avg = c->lat_count ? c->lat_sum / c->lat_count : 0;
		putf(o, ",sid=0x%" PRIx64 ",lop=%s,est=%" PRIu64 ",to=%u", c->sid,
		     c->lop[0] ? c->lop : "NA", c->est_ms, c->to_ms);
		/* java prints lcxid only when one was recorded (none after crst) */
		if (c->lcxid >= 0)
			putf(o, ",lcxid=0x%" PRIx64, (uint64_t)c->lcxid);
		putf(o, ",lzxid=0x%" PRIx64, (uint64_t)c->lzxid);
		putf(o, ",lresp=%" PRIu64 ",llat=%" PRIu64 ",minlat=%" PRIu64 ",avglat=%" PRIu64
			",maxlat=%" PRIu64,
		     c->lresp_ms, c->llat, c->minlat, avg, c->maxlat);
	}
	put(o, ")\n");
}

static void server_stats(const struct adm_info *in, struct adm_out *o)
{
	char avg[32];
	adm_fmt_avg(avg, in->lat_sum, in->lat_count);
	putf(o, "Latency min/avg/max: %" PRIu64 "/%s/%" PRIu64 "\n", in->lat_min, avg, in->lat_max);
	putf(o, "Received: %" PRIu64 "\nSent: %" PRIu64 "\nConnections: %u\n", in->packets_received,
	     in->packets_sent, in->conn_count);
	putf(o, "Outstanding: %" PRIu64 "\nZxid: 0x%" PRIx64 "\nMode: %s\nNode count: %" PRIu64 "\n",
	     in->outstanding, in->zxid, in->mode ? in->mode : "standalone", in->node_count);
	if (in->leader)
		putf(o, "Proposal sizes last/min/max: %" PRId64 "/%" PRId64 "/%" PRId64 "\n",
		     in->proposal_last, in->proposal_min, in->proposal_max);
	/* tern addition: ZooKeeper hides that fsync is off; tern says so. */
	if (in->cfg && !in->cfg->force_sync)
		put(o, "Force sync: no (fsync disabled)\n");
}

static void w_srvr(const struct adm_info *in, struct adm_out *o)
{
	version_line(in, o, "Zookeeper version: ");
	server_stats(in, o);
}

static void w_stat(const struct adm_info *in, struct adm_out *o)
{
	version_line(in, o, "Zookeeper version: ");
	put(o, "Clients:\n");
	for (unsigned i = 0; i < in->conn_count; i++) {
		conn_brief(o, &in->conns[i]);
		put(o, ")\n");
	}
	put(o, "\n");
	server_stats(in, o);
}

static void w_cons(const struct adm_info *in, struct adm_out *o)
{
	for (unsigned i = 0; i < in->conn_count; i++)
		conn_full(o, &in->conns[i]);
	put(o, "\n");
}

/* ---- mntr ---- */

#define ADM_MNTR_EXTRA_MAX 4096u
static _Atomic(adm_mntr_extra_fn) mntr_extra;

void adm_mntr_extra_set(adm_mntr_extra_fn fn)
{
	atomic_store(&mntr_extra, fn);
}

static void kv(struct adm_out *o, const char *k, uint64_t v)
{
	putf(o, "zk_%s\t%" PRIu64 "\n", k, v);
}

static void w_mntr(const struct adm_info *in, struct adm_out *o)
{
	char avg[32];
	version_line(in, o, "zk_version\t");
	putf(o, "zk_server_state\t%s\n", in->mode ? in->mode : "standalone");
	if (in->peer_state)
		putf(o, "zk_peer_state\t%s\n", in->peer_state);
	kv(o, "ephemerals_count", in->ephemerals_count);
	kv(o, "num_alive_connections", in->conn_count);
	adm_fmt_avg(avg, in->lat_sum, in->lat_count);
	putf(o, "zk_avg_latency\t%s\n", avg);
	kv(o, "outstanding_requests", in->outstanding);
	kv(o, "znode_count", in->node_count);
	kv(o, "global_sessions", in->global_sessions);
	kv(o, "packets_sent", in->packets_sent);
	kv(o, "packets_received", in->packets_received);
	kv(o, "watch_count", in->watch_count);
	kv(o, "min_latency", in->lat_min);
	kv(o, "max_file_descriptor_count", in->max_fds);
	kv(o, "approximate_data_size", in->approximate_data_size);
	kv(o, "open_file_descriptor_count", in->open_fds);
	kv(o, "local_sessions", in->local_sessions);
	kv(o, "uptime", in->uptime_ms);
	kv(o, "max_latency", in->lat_max);
	if (in->quorum_size)
		kv(o, "quorum_size", in->quorum_size);
	if (in->leader) {
		kv(o, "learners", in->learners);
		kv(o, "synced_followers", in->synced_followers);
		kv(o, "synced_non_voting_followers", in->synced_non_voting_followers);
		kv(o, "synced_observers", in->synced_observers);
		kv(o, "pending_syncs", in->pending_syncs);
		putf(o, "zk_last_proposal_size\t%" PRId64 "\nzk_min_proposal_size\t%" PRId64
			"\nzk_max_proposal_size\t%" PRId64 "\n",
		     in->proposal_last, in->proposal_min, in->proposal_max);
	}
	for (unsigned i = 0; i < in->metric_count; i++) {
		const struct adm_metric *m = &in->metrics[i];
		if (!m->summary) {
			putf(o, "zk_%s\t%" PRId64 "\n", m->name, m->value);
			continue;
		}
		adm_fmt_avg(avg, m->sum > 0 ? (uint64_t)m->sum : 0, m->count > 0 ? (uint64_t)m->count : 0);
		putf(o, "zk_avg_%s\t%s\nzk_min_%s\t%" PRId64 "\nzk_max_%s\t%" PRId64 "\n", m->name, avg,
		     m->name, m->min, m->name, m->max);
		putf(o, "zk_cnt_%s\t%" PRId64 "\nzk_sum_%s\t%" PRId64 "\n", m->name, m->count, m->name,
		     m->sum);
	}
	adm_mntr_extra_fn extra = atomic_load(&mntr_extra);
	if (extra) {
		char buf[ADM_MNTR_EXTRA_MAX];
		size_t n = extra(buf, sizeof buf);
		putf(o, "%.*s", (int)TN_MIN(n, sizeof buf), buf);
	}
}

/* ---- conf / envi / dirs ---- */

static void w_conf(const struct adm_info *in, struct adm_out *o)
{
	const struct cfg *c = in->cfg;
	if (!c)
		return;
	putf(o, "clientPort=%d\nsecureClientPort=%d\n", c->client_port, c->secure_client_port);
	/* ZooKeeper prints the snapshot and log directories: dir/version-2 */
	putf(o, "dataDir=%s/version-2\ndataDirSize=%" PRIu64 "\n", c->data_dir, in->datadir_bytes);
	putf(o, "dataLogDir=%s/version-2\ndataLogSize=%" PRIu64 "\n", c->data_log_dir,
	     in->logdir_bytes);
	putf(o, "tickTime=%u\nmaxClientCnxns=%u\nminSessionTimeout=%u\nmaxSessionTimeout=%u\n",
	     c->tick_ms, c->max_client_cnxns, c->session_timeout_ms_min, c->session_timeout_ms_max);
	putf(o, "clientPortListenBacklog=%d\nserverId=%" PRIu64 "\n", c->client_port_listen_backlog,
	     c->server_id);
	const struct cfg_server *me = cfg_server_find(c, c->server_id);
	if (!me || (c->server_count == 1 && c->standalone_enabled))
		return;
	putf(o, "initLimit=%u\nsyncLimit=%u\nelectionAlg=%u\n", c->init_limit, c->sync_limit,
	     c->election_alg);
	putf(o, "electionPort=%u\nquorumPort=%u\npeerType=%d\nmembership: \n", me->election_port,
	     me->quorum_port, (int)c->peer_type);
	const struct cfg_server *sv = in->member_count ? in->members : c->servers;
	unsigned n = in->member_count ? in->member_count : c->server_count;
	for (unsigned i = 0; i < n; i++) {
		char line[2 * CFG_HOST_MAX + 64];
		if (cfg_server_str(&sv[i], line, sizeof line) >= 0)
			putf(o, "server.%" PRIu64 "=%s\n", sv[i].id, line);
	}
	putf(o, "version=%" PRIx64, in->config_version); /* no newline, as ZooKeeper */
}

static void w_envi(const struct adm_info *in, struct adm_out *o)
{
	put(o, "Environment:\n");
	version_line(in, o, "zookeeper.version=");
	putf(o, "host.name=%s\n", in->host_name[0] ? in->host_name : "<NA>");
	/* no JVM: keep java's keys (tools look for them) with java's "<NA>" */
	put(o, "java.version=<NA>\njava.vendor=<NA>\njava.home=<NA>\njava.class.path=<NA>\n"
	       "java.library.path=<NA>\njava.io.tmpdir=/tmp\njava.compiler=<NA>\n");
	putf(o, "os.name=%s\nos.arch=%s\nos.version=%s\n", in->os_name[0] ? in->os_name : "<NA>",
	     in->os_arch[0] ? in->os_arch : "<NA>", in->os_version[0] ? in->os_version : "<NA>");
	putf(o, "user.name=%s\nuser.home=%s\nuser.dir=%s\n", in->user_name[0] ? in->user_name : "<NA>",
	     in->user_home[0] ? in->user_home : "<NA>", in->user_dir[0] ? in->user_dir : "<NA>");
	putf(o, "os.memory.free=%" PRIu64 "MB\nos.memory.max=%" PRIu64 "MB\nos.memory.total=%" PRIu64
		"MB\n",
	     in->mem_free_mb, in->mem_max_mb, in->mem_total_mb);
	put(o, "tern.server=tern " ADM_TERN_VERSION "\n");
}

static void w_dirs(const struct adm_info *in, struct adm_out *o)
{
	putf(o, "datadir_size: %" PRIu64 "\nlogdir_size: %" PRIu64 "\n", in->datadir_bytes,
	     in->logdir_bytes);
}

/* ---- watches ---- */

static int cmp_by_sid(const void *a, const void *b)
{
	const struct adm_watch *x = *(const struct adm_watch *const *)a;
	const struct adm_watch *y = *(const struct adm_watch *const *)b;
	if (x->sid != y->sid)
		return x->sid < y->sid ? -1 : 1;
	return strcmp(x->path, y->path);
}

static int cmp_by_path(const void *a, const void *b)
{
	const struct adm_watch *x = *(const struct adm_watch *const *)a;
	const struct adm_watch *y = *(const struct adm_watch *const *)b;
	int r = strcmp(x->path, y->path);
	if (r)
		return r;
	return x->sid < y->sid ? -1 : x->sid > y->sid;
}

/* Sorted pointers to the watches, or NULL (none, or out of memory: o->err). */
static const struct adm_watch **sorted_watches(const struct adm_info *in, struct adm_out *o,
					       int (*cmp)(const void *, const void *))
{
	if (!in->watches || in->watch_count == 0)
		return NULL;
	const struct adm_watch **v = calloc(in->watch_count, sizeof *v);
	if (!v) {
		o->err = o->err ? o->err : -ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < in->watch_count; i++)
		v[i] = &in->watches[i];
	qsort(v, in->watch_count, sizeof *v, cmp);
	return v;
}

static void w_wchs(const struct adm_info *in, struct adm_out *o)
{
	uint64_t sessions = in->watch_sessions, paths = in->watch_paths;
	const struct adm_watch **v = sorted_watches(in, o, cmp_by_sid);
	if (v) {
		sessions = paths = 0;
		for (size_t i = 0; i < in->watch_count; i++)
			sessions += i == 0 || v[i]->sid != v[i - 1]->sid;
		qsort(v, in->watch_count, sizeof *v, cmp_by_path);
		for (size_t i = 0; i < in->watch_count; i++)
			paths += i == 0 || strcmp(v[i]->path, v[i - 1]->path) != 0;
		free(v);
	}
	putf(o, "%" PRIu64 " connections watching %" PRIu64 " paths\nTotal watches:%zu\n", sessions,
	     paths, in->watch_count);
}

static void w_wchc(const struct adm_info *in, struct adm_out *o)
{
	const struct adm_watch **v = sorted_watches(in, o, cmp_by_sid);
	for (size_t i = 0; v && i < in->watch_count; i++) {
		if (i == 0 || v[i]->sid != v[i - 1]->sid)
			putf(o, "0x%" PRIx64 "\n", v[i]->sid);
		putf(o, "\t%s\n", v[i]->path);
	}
	free(v);
	put(o, "\n");
}

static void w_wchp(const struct adm_info *in, struct adm_out *o)
{
	const struct adm_watch **v = sorted_watches(in, o, cmp_by_path);
	for (size_t i = 0; v && i < in->watch_count; i++) {
		if (i == 0 || strcmp(v[i]->path, v[i - 1]->path))
			putf(o, "%s\n", v[i]->path);
		putf(o, "\t0x%" PRIx64 "\n", v[i]->sid);
	}
	free(v);
	put(o, "\n");
}

/* ---- dump ---- */

/* java's Date.toString() in UTC: "Sun Nov 22 02:55:15 UTC 2026". */
static void java_date(char out[40], uint64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(out, 40, "%a %b %d %H:%M:%S UTC %Y", &tm))
		snprintf(out, 40, "%" PRIu64, ms);
}

static int cmp_sess(const void *a, const void *b)
{
	const struct adm_session *x = *(const struct adm_session *const *)a;
	const struct adm_session *y = *(const struct adm_session *const *)b;
	if (x->expire_ms != y->expire_ms)
		return x->expire_ms < y->expire_ms ? -1 : 1;
	return x->sid < y->sid ? -1 : x->sid > y->sid;
}

static int cmp_conn(const void *a, const void *b)
{
	const struct adm_conn *x = *(const struct adm_conn *const *)a;
	const struct adm_conn *y = *(const struct adm_conn *const *)b;
	if (x->expire_ms != y->expire_ms)
		return x->expire_ms < y->expire_ms ? -1 : 1;
	return x->port < y->port ? -1 : x->port > y->port;
}

/* Print @n items sorted by expiry as "<count> expire at <date>:" groups. */
static void expiry_groups(struct adm_out *o, const void **v, size_t n, const char *title,
			  uint64_t (*exp)(const void *), void (*line)(struct adm_out *, const void *))
{
	size_t groups = 0;
	char d[40];
	for (size_t i = 0; i < n; i++)
		groups += i == 0 || exp(v[i]) != exp(v[i - 1]);
	putf(o, "%s (%zu)/(%zu):\n", title, groups, n);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && exp(v[j]) == exp(v[i]))
			j++;
		java_date(d, exp(v[i]));
		putf(o, "%zu expire at %s:\n", j - i, d);
		for (; i < j; i++)
			line(o, v[i]);
	}
}

static uint64_t sess_exp(const void *p)
{
	return ((const struct adm_session *)p)->expire_ms;
}

static uint64_t conn_exp(const void *p)
{
	return ((const struct adm_conn *)p)->expire_ms;
}

static void sess_line(struct adm_out *o, const void *p)
{
	putf(o, "\t0x%" PRIx64 "\n", ((const struct adm_session *)p)->sid);
}

static void conn_line(struct adm_out *o, const void *p)
{
	const struct adm_conn *c = p;
	putf(o, "\tip: /%s:%u sessionId: 0x%" PRIx64 "\n", c->addr, c->port,
	     c->has_session ? c->sid : 0);
}

static void w_dump(const struct adm_info *in, struct adm_out *o)
{
	size_t ns = in->session_count, nc = in->conn_count, with_eph = 0;
	const void **sv = calloc(ns + 1, sizeof *sv), **cv = calloc(nc + 1, sizeof *cv);
	if (!sv || !cv) {
		o->err = o->err ? o->err : -ENOMEM;
		goto out_free;
	}
	for (size_t i = 0; i < ns; i++)
		sv[i] = &in->sessions[i];
	for (size_t i = 0; i < nc; i++)
		cv[i] = &in->conns[i];
	qsort(sv, ns, sizeof *sv, cmp_sess);
	qsort(cv, nc, sizeof *cv, cmp_conn);
	put(o, "SessionTracker dump:\n");
	expiry_groups(o, sv, ns, "Session Sets", sess_exp, sess_line);
	put(o, "ephemeral nodes dump:\n");
	for (size_t i = 0; i < ns; i++)
		with_eph += in->sessions[i].ephemeral_count > 0;
	putf(o, "Sessions with Ephemerals (%zu):\n", with_eph);
	for (size_t i = 0; i < ns; i++) {
		const struct adm_session *s = sv[i];
		if (!s->ephemeral_count)
			continue;
		putf(o, "0x%" PRIx64 ":\n", s->sid);
		for (unsigned k = 0; k < s->ephemeral_count; k++)
			putf(o, "\t%s\n", s->ephemerals[k]);
	}
	put(o, "Connections dump:\n");
	expiry_groups(o, cv, nc, "Connections Sets", conn_exp, conn_line);
out_free:
	free(sv);
	free(cv);
}

/* ---- dispatch ---- */

bool adm_is_4lw(const char w[4])
{
	for (size_t i = 0; i < TN_ARRAY_LEN(four_letter_words); i++)
		if (!memcmp(four_letter_words[i], w, 4))
			return true;
	return false;
}

static bool is(const char w[4], const char *name)
{
	return !memcmp(w, name, 4);
}

/* Words that need a running server print the not-serving text instead. */
static bool needs_server(const char w[4])
{
	return !is(w, "ruok") && !is(w, "envi") && !is(w, "gtmk") && !is(w, "isro") &&
	       !is(w, "stmk");
}

static void run_word(const char w[4], const struct adm_info *in, struct adm_out *o)
{
	static const struct {
		char w[5];
		void (*fn)(const struct adm_info *, struct adm_out *);
	} table[] = {
		{ "srvr", w_srvr }, { "stat", w_stat }, { "cons", w_cons }, { "mntr", w_mntr },
		{ "conf", w_conf }, { "envi", w_envi }, { "dirs", w_dirs }, { "wchs", w_wchs },
		{ "wchc", w_wchc }, { "wchp", w_wchp }, { "dump", w_dump },
	};
	for (size_t i = 0; i < TN_ARRAY_LEN(table); i++) {
		if (is(w, table[i].w)) {
			table[i].fn(in, o);
			return;
		}
	}
	if (is(w, "ruok"))
		put(o, "imok");
	else if (is(w, "isro"))
		put(o, !in->serving ? "null" : in->mode && !strcmp(in->mode, "read-only") ? "ro" : "rw");
	else if (is(w, "crst"))
		put(o, "Connection stats reset.\n");
	else if (is(w, "srst"))
		put(o, "Server stats reset.\n");
	else if (is(w, "gtmk") || is(w, "stmk"))
		putf(o, "%" PRIu64, in->trace_mask);
	else if (is(w, "hash"))
		put(o, "Digest in every 128 txns:\n"); /* tern keeps no digest log: header only */
}

int adm_4lw(const char w[4], const struct adm_info *in, struct adm_out *o)
{
	TN_ASSERT(w && in && o);
	size_t start = o->len;
	if (!adm_is_4lw(w))
		return -ENOENT;
	if (in->cfg && !cfg_4lw_allowed(in->cfg, w))
		putf(o, "%.4s is not executed because it is not in the whitelist.\n", w);
	else if (!in->serving && needs_server(w))
		put(o, ADM_NOT_SERVING);
	else
		run_word(w, in, o);
	if (o->err)
		return o->err;
	TN_ASSERT(o->len >= start && o->len <= ADM_OUT_MAX);
	return (int)(o->len - start);
}

int adm_4lw_buf(const char w[4], const struct adm_info *in, char *buf, size_t cap)
{
	struct adm_out o;
	adm_out_init(&o);
	int rc = adm_4lw(w, in, &o);
	if (rc >= 0 && (size_t)rc + 1 > cap)
		rc = -ENOSPC;
	if (rc >= 0) {
		if (o.buf)
			memcpy(buf, o.buf, (size_t)rc);
		buf[rc] = '\0';
	}
	adm_out_free(&o);
	return rc;
}

static void copy_field(char *dst, size_t cap, const char *src)
{
	size_t n = src ? TN_MIN(strlen(src), cap - 1) : 0; /* cut to fit, on purpose */
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

void adm_env_fill(struct adm_info *in)
{
	struct utsname u;
	struct sysinfo si;
	char pwbuf[4096];
	struct passwd pw, *pwp = NULL;
	if (gethostname(in->host_name, sizeof in->host_name) < 0)
		in->host_name[0] = '\0';
	in->host_name[sizeof in->host_name - 1] = '\0';
	if (uname(&u) == 0) {
		copy_field(in->os_name, sizeof in->os_name, u.sysname);
		copy_field(in->os_arch, sizeof in->os_arch,
			   !strcmp(u.machine, "x86_64") ? "amd64" : u.machine); /* java's name */
		copy_field(in->os_version, sizeof in->os_version, u.release);
	}
	if (getpwuid_r(getuid(), &pw, pwbuf, sizeof pwbuf, &pwp) == 0 && pwp) {
		copy_field(in->user_name, sizeof in->user_name, pw.pw_name);
		copy_field(in->user_home, sizeof in->user_home, pw.pw_dir);
	}
	if (!getcwd(in->user_dir, sizeof in->user_dir))
		in->user_dir[0] = '\0';
	if (sysinfo(&si) == 0) {
		uint64_t unit = si.mem_unit ? si.mem_unit : 1;
		in->mem_free_mb = si.freeram * unit >> 20;
		in->mem_total_mb = si.totalram * unit >> 20;
		in->mem_max_mb = in->mem_total_mb;
	}
}

int adm_dir_bytes(const char *dir, uint64_t *bytes)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	uint64_t sum = 0;
	TN_ASSERT(dir && bytes);
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			sum += (uint64_t)st.st_size;
	}
	closedir(d);
	*bytes = sum;
	return 0;
}

void adm_fds_fill(struct adm_info *in)
{
	struct rlimit rl;
	uint64_t n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		for (struct dirent *e; (e = readdir(d));)
			n += e->d_name[0] != '.';
		closedir(d);
		n -= n > 0; /* the directory stream's own fd */
	}
	in->open_fds = n;
	in->max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
			      ? (uint64_t)rl.rlim_cur
			      : 0;
}
