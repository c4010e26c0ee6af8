/* tests/unit/test_store_recover.c. Description: replay equivalence. Seeded
 * random requests (creates of every mode, sets, setACLs, deletes, multis,
 * sessions opening and closing, failing requests too) go through store_prep
 * -> txn_encode -> wal_append, in group commits of 1..4 (prep's overlay sees
 * the unapplied ones), then wal_sync -> store_apply on a live store while
 * a background thread takes fuzzy snapshots at random points. Then
 * store_recover from the directories must give the live digest, stats,
 * sessions and last zxid: from the newest snapshot; after the newest (and
 * then the next) snapshot is corrupted (fallback + longer replay); after
 * snap_purge; and with no snapshot at all. A corrupt log record before the
 * tail must make recovery refuse. Every failure prints the seed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/tn_assert.h"
#include "common/tn_err.h"
#include "common/tn_log.h"
#include "store/store_int.h"
#include "tests/lib/tn_test.h"
#include "tests/lib/tn_tmpdir.h"

#define OPS_PER_SEED 2500
#define SNAPS_PER_SEED 6
#define SESSIONS_MAX 8
#define ARENA_BYTES (1u << 20)
#define BATCH_MAX 4 /* requests prepped before one wal_sync and their applies */
#define RUN_SECONDS_MAX 15 /* all seeds together; the loops also stop on this */

static const struct store_cfg cfg = { .data_max_bytes = STORE_DATA_MAX_DEFAULT,
				      .extended_types = true };

/* xorshift64*: the test's only randomness, from the seed. */
static uint64_t rng_state;
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}
static uint32_t rndn(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}

static const char *const names[] = { "/a", "/a/b", "/a/c", "/a/b/x", "/d", "/d/e", "/d/f",
				     "/d/e/g", "/s", "/s/q", "/zookeeper/u" };
static const struct zk_acl open_v[] = { { ZK_PERM_ALL, { "world", "anyone" } } };
static const struct zk_acl ro_v[] = { { ZK_PERM_READ | ZK_PERM_CREATE | ZK_PERM_DELETE,
					{ "world", "anyone" } },
				      { ZK_PERM_ALL, { "ip", "127.0.0.1" } } };
static const struct zk_acl_list open_acl = { 1, open_v };
static const struct zk_acl_list ro_acl = { 2, ro_v };
static const uint8_t payload[32] = "0123456789abcdefghijklmnopqrstu";

struct gen {
	uint64_t sessions[SESSIONS_MAX];
	uint32_t nsessions;
	uint64_t next_session;
	struct zk_op subs[4];
};

/* One random write op (not a multi) into @op. */
static void gen_simple(struct zk_op *op, bool in_multi)
{
	memset(op, 0, sizeof *op);
	op->path = names[rndn(TN_ARRAY_LEN(names))];
	op->version = rndn(4) == 0 ? (int32_t)rndn(3) : -1;
	op->data = payload;
	op->data_len = (int32_t)rndn(34) - 1; /* -1 (null) .. 32 */
	switch (rndn(in_multi ? 4 : 5)) {
	case 0:
	case 1: {
		static const int32_t flags[] = { ZK_CREATE_PERSISTENT, ZK_CREATE_EPHEMERAL,
						 ZK_CREATE_SEQUENTIAL, ZK_CREATE_EPHEMERAL_SEQUENTIAL,
						 ZK_CREATE_CONTAINER, ZK_CREATE_TTL,
						 ZK_CREATE_SEQUENTIAL_TTL };
		op->flags = flags[rndn(TN_ARRAY_LEN(flags))];
		op->type = op->flags == ZK_CREATE_CONTAINER ? ZK_OP_CREATECONTAINER
			   : op->flags >= ZK_CREATE_TTL     ? ZK_OP_CREATETTL
			   : rndn(2)                        ? ZK_OP_CREATE2
							    : ZK_OP_CREATE;
		op->ttl = op->type == ZK_OP_CREATETTL ? 1 + rndn(100000) : 0;
		op->acl = rndn(5) ? open_acl : ro_acl;
		op->version = 0;
		break;
	}
	case 2:
		op->type = ZK_OP_DELETE;
		break;
	case 3:
		op->type = rndn(4) ? ZK_OP_SETDATA : ZK_OP_CHECK;
		break;
	default:
		op->type = ZK_OP_SETACL;
		op->acl = rndn(3) ? open_acl : ro_acl;
		break;
	}
}

/* One random request. */
static void gen_req(struct gen *g, struct store_req *req, struct zk_op *op)
{
	memset(req, 0, sizeof *req);
	req->op = op;
	uint32_t k = rndn(100);
	if (k < 4 || g->nsessions == 0) {
		memset(op, 0, sizeof *op);
		op->type = ZK_OP_CREATESESSION;
		req->session_timeout_ms = 4000 + (int32_t)rndn(20000);
		req->hdr.session = g->next_session++;
		if (g->nsessions < SESSIONS_MAX)
			g->sessions[g->nsessions++] = req->hdr.session;
		return;
	}
	uint32_t si = rndn(g->nsessions);
	req->hdr.session = g->sessions[si];
	if (k < 7) {
		memset(op, 0, sizeof *op);
		op->type = ZK_OP_CLOSESESSION;
		g->sessions[si] = g->sessions[--g->nsessions];
		return;
	}
	if (k < 20) {
		memset(op, 0, sizeof *op);
		op->type = ZK_OP_MULTI;
		op->sub_count = 1 + rndn(4);
		op->sub = g->subs;
		for (uint32_t i = 0; i < op->sub_count; i++)
			gen_simple(&g->subs[i], true);
		return;
	}
	gen_simple(op, false);
}

/* ---- the background snapshotter ---- */

struct snapper {
	struct store *s;
	const char *dir;
	atomic_uint requested, taken;
	atomic_bool stop;
	int err;
	unsigned fuzzy; /* snapshots during which the writer applied */
};

static void *snapper_main(void *arg)
{
	struct snapper *sn = arg;
	store_reader_register();
	for (unsigned spins = 0; spins < 10000000u; spins++) {
		unsigned want = atomic_load(&sn->requested), have = atomic_load(&sn->taken);
		if (want == have) {
			if (atomic_load(&sn->stop))
				break;
			store_quiescent();
			nanosleep(&(struct timespec){ 0, 100000 }, NULL);
			continue;
		}
		tn_zxid z;
		int rc = snap_write(sn->s, sn->dir, &z);
		if (rc < 0 && sn->err == 0)
			sn->err = rc;
		if (rc == 0 && store_last_zxid(sn->s) != z)
			sn->fuzzy++;
		atomic_store(&sn->taken, have + 1);
		store_quiescent();
	}
	store_reader_unregister();
	return NULL;
}

/* ---- one seeded run ---- */

struct run {
	uint64_t seed;
	char root[256], snap_dir[300], log_dir[300];
	struct store *live;
	uint64_t ok_count, err_count;
	unsigned fuzzy;
};

/* Prep one random request as @zxid into @t (memory from @abuf), log it. */
static int prep_one(struct run *r, struct wal *w, struct gen *g, tn_zxid zxid, uint8_t *abuf,
		    uint8_t *enc, struct txn *t)
{
	struct store_req req;
	struct zk_op op;
	gen_req(g, &req, &op);
	req.hdr.cxid = (int32_t)zxid;
	req.hdr.zxid = zxid;
	req.hdr.time_ms = 1700000000000ll + (int64_t)(zxid & 0xffffff) * 3;
	struct tn_arena a = tn_arena_init(abuf, ARENA_BYTES);
	int rc = store_prep(r->live, &req, t, &a);
	if (rc == -ENOMEM || rc == -EMSGSIZE)
		return rc;
	if (rc == ZK_OK)
		r->ok_count++;
	else
		r->err_count++;
	int len = txn_encode(t, enc, ARENA_BYTES);
	if (len < 0)
		return len;
	return wal_append(w, zxid, enc, (uint32_t)len);
}

/* A group commit: prep 1..BATCH_MAX requests (later ones see the earlier
 * ones through prep's overlay), append them, one wal_sync, then apply. */
static int run_batch(struct run *r, struct wal *w, struct gen *g, uint32_t *i, uint8_t *abuf,
		     uint8_t *enc)
{
	struct txn t[BATCH_MAX];
	struct store_apply_out out;
	uint32_t n = 1 + rndn(BATCH_MAX), k;
	int rc = 0;
	for (k = 0; k < n && *i <= OPS_PER_SEED && rc == 0; k++, (*i)++)
		rc = prep_one(r, w, g, (1ull << 32) | *i, abuf + (size_t)k * ARENA_BYTES, enc, &t[k]);
	if (rc == 0)
		rc = wal_sync(w);
	for (uint32_t j = 0; j < k && rc == 0; j++)
		rc = store_apply(r->live, &t[j], &out);
	return rc;
}

/* Drive OPS_PER_SEED requests with snapshots at random points. */
static int run_seed(struct run *r)
{
	struct wal *w;
	struct wal_cfg wc = { .dir = r->log_dir, .segment_bytes = 64u << 10, .force_sync = false };
	struct gen g = { .next_session = 0x100 };
	struct snapper sn = { .s = r->live, .dir = r->snap_dir };
	pthread_t th;
	uint8_t *abuf = malloc((size_t)BATCH_MAX * ARENA_BYTES), *enc = malloc(ARENA_BYTES);
	int rc = wal_open(&w, &wc, NULL, NULL);
	if (rc < 0 || !abuf || !enc)
		goto out;
	TN_ASSERT(pthread_create(&th, NULL, snapper_main, &sn) == 0);
	time_t t0 = time(NULL);
	uint32_t i = 1, next_fixed = OPS_PER_SEED / 8;
	while (i <= OPS_PER_SEED && rc == 0) {
		rc = run_batch(r, w, &g, &i, abuf, enc);
		bool fixed = i > next_fixed; /* at 1/8, 3/8, 5/8, 7/8: never at the very end */
		if (fixed)
			next_fixed += OPS_PER_SEED / 4;
		if (fixed || rndn(OPS_PER_SEED / SNAPS_PER_SEED / 2) == 0) {
			wal_roll(w); /* as the server does when it snapshots */
			atomic_fetch_add(&sn.requested, 1);
		}
		if (time(NULL) - t0 > RUN_SECONDS_MAX)
			break;
	}
	atomic_store(&sn.stop, true);
	pthread_join(th, NULL);
	wal_close(w);
	r->fuzzy = sn.fuzzy;
	if (rc == 0)
		rc = sn.err;
out:
	free(abuf);
	free(enc);
	return rc;
}

/* ---- comparing ---- */

static void cmp_session(void *arg, uint64_t session, int32_t timeout_ms)
{
	struct store *other = arg;
	int32_t t = 0;
	if (!store_session_get(other, session, &t) || t != timeout_ms)
		fprintf(stderr, "session 0x%" PRIx64 " differs\n", session);
}

/* Recover from the run's directories and compare with the live store. */
static int recover_equal(struct run *r, const char *what)
{
	struct store *rec;
	int rc = store_recover(&cfg, r->snap_dir, r->log_dir, &rec);
	if (rc < 0) {
		fprintf(stderr, "seed %" PRIu64 " %s: recover failed: %s\n", r->seed, what,
			tn_strerror(rc));
		return rc;
	}
	struct store_stats a, b;
	store_stats(r->live, &a);
	store_stats(rec, &b);
	bool same = store_digest(r->live) == store_digest(rec) && a.last_zxid == b.last_zxid &&
		    a.node_count == b.node_count && a.ephemeral_count == b.ephemeral_count &&
		    a.data_bytes == b.data_bytes &&
		    store_session_count(r->live) == store_session_count(rec);
	if (!same) {
		fprintf(stderr, "seed %" PRIu64 " %s: recovered store differs (nodes %" PRIu64
			"/%" PRIu64 " zxid 0x%" PRIx64 "/0x%" PRIx64 ")\n", r->seed, what,
			a.node_count, b.node_count, a.last_zxid, b.last_zxid);
		store_session_foreach(r->live, cmp_session, rec);
	}
	store_destroy(rec);
	return same ? 0 : -1;
}

static void setup_run(struct run *r, uint64_t seed)
{
	r->seed = seed;
	rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
	CU_ASSERT_FATAL(tn_tmpdir_make(r->root, sizeof r->root, "recover") != NULL);
	snprintf(r->snap_dir, sizeof r->snap_dir, "%s/snap", r->root);
	snprintf(r->log_dir, sizeof r->log_dir, "%s/log", r->root);
	CU_ASSERT_FATAL(store_create(&r->live, &cfg) == 0);
	int rc = run_seed(r);
	if (rc != 0)
		fprintf(stderr, "seed %" PRIu64 ": run failed: %s\n", seed, tn_strerror(rc));
	CU_ASSERT_FATAL(rc == 0);
}

static void teardown_run(struct run *r)
{
	store_destroy(r->live);
	tn_tmpdir_remove(r->root);
}

/* ---- file helpers ---- */

static void snap_path(const struct run *r, tn_zxid z, char *out, size_t cap)
{
	snprintf(out, cap, "%s/snapshot.%016" PRIx64, r->snap_dir, z);
}

static void flip_byte(const char *path, off_t at)
{
	int fd = open(path, O_RDWR);
	uint8_t b = 0;
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(pread(fd, &b, 1, at) == 1);
	b ^= 0x10;
	CU_ASSERT_FATAL(pwrite(fd, &b, 1, at) == 1);
	close(fd);
}

static off_t file_size(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/* Count the log segments (log.<hex>) in @dir; their names into @first. */
static int segments(const char *dir, char first[][64], int cap)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "ls %s | grep '^log\\.' | sort", dir);
	FILE *f = popen(cmd, "r");
	int n = 0;
	char line[128];
	while (f && fgets(line, sizeof line, f)) {
		if (n < cap)
			snprintf(first[n], 64, "%.*s", (int)strcspn(line, "\n"), line);
		n++;
	}
	if (f)
		pclose(f);
	return n;
}

static void remove_snapshots(struct run *r)
{
	tn_zxid *v;
	char p[512];
	int n = snap_list(r->snap_dir, &v);
	for (int i = 0; i < n; i++) {
		snap_path(r, v[i], p, sizeof p);
		CU_ASSERT(unlink(p) == 0);
	}
	free(v);
}

/* ---- tests ---- */

static void test_replay_equivalence(void)
{
	static const uint64_t seeds[] = { 1, 2, 3, 0xdecafbad };
	unsigned fuzzy = 0;
	for (size_t i = 0; i < TN_ARRAY_LEN(seeds); i++) {
		struct run r = { 0 };
		tn_zxid *v;
		setup_run(&r, seeds[i]);
		int n = snap_list(r.snap_dir, &v);
		free(v);
		if (n < 4)
			fprintf(stderr, "seed %" PRIu64 ": only %d snapshots\n", r.seed, n);
		CU_ASSERT(n >= 4);
		CU_ASSERT(r.ok_count > OPS_PER_SEED / 4 && r.err_count > 0);
		CU_ASSERT_EQUAL(recover_equal(&r, "newest snapshot"), 0);
		fuzzy += r.fuzzy;
		teardown_run(&r);
	}
	/* Soak: TERN_RECOVER_SEEDS=N adds seeds 1000..1000+N-1 (at most 1000). */
	const char *extra = getenv("TERN_RECOVER_SEEDS");
	int n_extra = extra ? TN_MIN(atoi(extra), 1000) : 0;
	for (int i = 0; i < n_extra; i++) {
		struct run r = { 0 };
		setup_run(&r, 1000 + (uint64_t)i);
		CU_ASSERT_EQUAL(recover_equal(&r, "soak"), 0);
		fuzzy += r.fuzzy;
		teardown_run(&r);
	}
	/* The point of the test: some snapshots raced the writer. */
	printf("(%u fuzzy snapshots) ", fuzzy);
	CU_ASSERT(fuzzy > 0);
}

/* Corrupt snapshots are skipped: older snapshot + longer replay, still exact. */
static void test_fallback_corrupt(void)
{
	struct run r = { 0 };
	tn_zxid *v;
	char p[512];
	setup_run(&r, 11);
	int n = snap_list(r.snap_dir, &v);
	CU_ASSERT_FATAL(n >= 3);
	snap_path(&r, v[0], p, sizeof p);
	flip_byte(p, file_size(p) / 2);
	CU_ASSERT_EQUAL(recover_equal(&r, "newest flipped"), 0);
	snap_path(&r, v[1], p, sizeof p);
	CU_ASSERT_FATAL(truncate(p, file_size(p) - 3) == 0);
	CU_ASSERT_EQUAL(recover_equal(&r, "two newest corrupt"), 0);
	for (int i = 2; i < n; i++) {
		snap_path(&r, v[i], p, sizeof p);
		CU_ASSERT_FATAL(truncate(p, 40) == 0);
	}
	/* none verifies: the log still reaches back to zxid 1, so a full replay */
	CU_ASSERT_EQUAL(recover_equal(&r, "all corrupt"), 0);
	free(v);
	teardown_run(&r);
}

/* Purge keeps what recovery needs, even from the oldest kept snapshot. */
static void test_purge_then_recover(void)
{
	struct run r = { 0 };
	tn_zxid *v;
	char p[512], segs[256][64];
	setup_run(&r, 21);
	int before = segments(r.log_dir, segs, 256);
	int nsnap = snap_list(r.snap_dir, &v);
	free(v);
	int deleted = snap_purge(r.snap_dir, r.log_dir, 1);
	int after = segments(r.log_dir, segs, 256);
	CU_ASSERT(nsnap > 3);
	CU_ASSERT(deleted >= nsnap - 3 + 1); /* old snapshots and at least one segment */
	CU_ASSERT(after < before);
	CU_ASSERT_EQUAL_FATAL(snap_list(r.snap_dir, &v), 3);
	CU_ASSERT_EQUAL(recover_equal(&r, "after purge"), 0);
	/* make the oldest kept snapshot the only usable one */
	for (int i = 0; i < 2; i++) {
		snap_path(&r, v[i], p, sizeof p);
		flip_byte(p, 10);
	}
	CU_ASSERT_EQUAL(recover_equal(&r, "after purge, oldest kept"), 0);
	/* all snapshots gone while the log was purged: history is lost, refuse */
	remove_snapshots(&r);
	struct store *rec = NULL;
	CU_ASSERT_EQUAL(store_recover(&cfg, r.snap_dir, r.log_dir, &rec), -TN_ECORRUPT);
	free(v);
	teardown_run(&r);
}

static void test_no_snapshot(void)
{
	struct run r = { 0 };
	setup_run(&r, 31);
	remove_snapshots(&r);
	CU_ASSERT_EQUAL(recover_equal(&r, "no snapshot"), 0);
	teardown_run(&r);
}

/* Damage inside an early segment (not a torn tail) must refuse recovery. */
static void test_log_corrupt_refused(void)
{
	struct run r = { 0 };
	char segs[256][64], p[600];
	struct store *rec = NULL;
	setup_run(&r, 41);
	remove_snapshots(&r);
	int n = segments(r.log_dir, segs, 256);
	CU_ASSERT_FATAL(n >= 2);
	snprintf(p, sizeof p, "%s/%s", r.log_dir, segs[0]);
	flip_byte(p, 32 + 24 + 5); /* the first record's payload */
	CU_ASSERT_EQUAL(store_recover(&cfg, r.snap_dir, r.log_dir, &rec), -TN_ECORRUPT);
	CU_ASSERT(rec == NULL);
	teardown_run(&r);
}

static CU_TestInfo tests[] = {
	{ "replay_equivalence", test_replay_equivalence },
	{ "fallback_corrupt", test_fallback_corrupt },
	{ "purge_then_recover", test_purge_then_recover },
	{ "no_snapshot", test_no_snapshot },
	{ "log_corrupt_refused", test_log_corrupt_refused },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "recover", NULL, NULL, NULL, NULL, tests },
	CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	tn_log_set_level(TN_LOG_WARN);
	store_reader_register();
	int rc = tn_test_main(argc, argv, suites);
	store_reader_unregister();
	return rc;
}
