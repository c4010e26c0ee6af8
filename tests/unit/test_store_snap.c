/* tests/unit/test_store_snap.c. Description: snapshot codec and files: the
 * pure encoder/decoder round trip; truncation at every length, every single
 * bit flip, a dropped record, trailing bytes and bad ACL refs all give
 * -TN_ECORRUPT; a real store (every node type, null vs empty data, ACLs,
 * sessions with ephemerals) written and loaded back has the same digest,
 * stats, nodes and sessions; snap_purge keeps the newest three.
 * Includes snap.c so the static encoder is in reach. */
#include "store/snap.c"

#include <sys/mman.h>

#include "tests/lib/tn_test.h"
#include "tests/lib/tn_tmpdir.h"

/* ---- pure codec ---- */

static const struct zk_acl world_v[] = { { ZK_PERM_ALL, { "world", "anyone" } } };
static const struct zk_acl digest_v[] = { { ZK_PERM_READ, { "digest", "bob:xyz=" } },
					  { ZK_PERM_ALL, { "ip", "10.0.0.1" } } };
static const struct zk_acl_list world = { 1, world_v };
static const struct zk_acl_list digest = { 2, digest_v };
static const struct zk_acl_list null_acl = { -1, NULL };

struct img {
	uint8_t *p;
	size_t len;
};

static struct store_node_view mkview(int64_t czxid, const char *data, int32_t len,
				     const struct zk_acl_list *acl, int64_t owner)
{
	struct store_node_view v = { .data = (const uint8_t *)data, .data_len = len, .acl = acl };
	v.stat.czxid = czxid;
	v.stat.mzxid = czxid + 1;
	v.stat.ctime = 1000 + czxid;
	v.stat.mtime = 2000 + czxid;
	v.stat.version = 3;
	v.stat.cversion = 4;
	v.stat.aversion = 5;
	v.stat.ephemeral_owner = owner;
	v.stat.pzxid = czxid + 2;
	return v;
}

/* Read back what @fd holds. */
static struct img slurp(int fd)
{
	struct img im = { 0 };
	off_t end = lseek(fd, 0, SEEK_END);
	CU_ASSERT_FATAL(end > 0);
	im.p = malloc((size_t)end);
	im.len = (size_t)end;
	CU_ASSERT_FATAL(pread(fd, im.p, im.len, 0) == (ssize_t)im.len);
	return im;
}

/* An image with 2 sessions and 5 nodes, 3 distinct ACL lists. If @drop_node
 * is set the trailer still counts it but the record is not written. */
static struct img build_image(bool bad_ref)
{
	int fd = memfd_create("snap", 0);
	CU_ASSERT_FATAL(fd >= 0);
	struct snap_out o = { .fd = fd, .buf = malloc(SNAP_OUTBUF_BYTES) };
	struct store_node_view v;
	CU_ASSERT_FATAL(out_header_trailer(&o, 0x100000007ull, false) == 0);
	CU_ASSERT_FATAL(scratch_reserve(&o, 13) == 0);
	for (int i = 0; i < 2; i++) {
		o.scratch[0] = SNAP_REC_SESSION;
		tn_store_be64(o.scratch + 1, 0x1000 + (uint64_t)i);
		tn_store_be32(o.scratch + 9, 4000u + (uint32_t)i);
		o.counts[0]++;
		CU_ASSERT_FATAL(out_record(&o, 13) == 0);
	}
	v = mkview(0, NULL, -1, &world, 0);
	CU_ASSERT(out_node(&o, "/", &v) == 0);
	v = mkview(10, "hello", 5, &digest, 0);
	CU_ASSERT(out_node(&o, "/a", &v) == 0);
	v = mkview(11, "", 0, &world, 0);
	CU_ASSERT(out_node(&o, "/a/b", &v) == 0);
	v = mkview(12, "x", 1, &null_acl, 0x1000);
	CU_ASSERT(out_node(&o, "/e", &v) == 0);
	v = mkview(13, NULL, -1, &world, (int64_t)ZK_OWNER_CONTAINER);
	CU_ASSERT(out_node(&o, "/c", &v) == 0);
	if (bad_ref) { /* a well-framed node that names ACL 7, never defined */
		struct tn_wr w = tn_wr_init(o.scratch, o.scratch_cap);
		v = mkview(14, NULL, -1, &world, 0);
		enc_node(&w, "/z", &v, 7);
		CU_ASSERT_FATAL(!w.overflow);
		o.counts[2]++;
		CU_ASSERT(out_record(&o, w.len) == 0);
	}
	CU_ASSERT(o.counts[1] == 3);
	CU_ASSERT(out_header_trailer(&o, 0, true) == 0);
	CU_ASSERT(out_flush(&o) == 0);
	out_free(&o);
	struct img im = slurp(fd);
	close(fd);
	return im;
}

struct seen {
	int sessions, nodes;
	uint64_t sid[4];
	char path[8][16];
	struct zstat st[8];
	int32_t data_len[8];
	bool data_nonnull[8];
	int32_t acl_count[8];
};

static int seen_session(void *arg, uint64_t session, int32_t timeout_ms)
{
	struct seen *s = arg;
	if (s->sessions < 4)
		s->sid[s->sessions] = session + (uint64_t)timeout_ms * 0; /* timeout checked below */
	CU_ASSERT(timeout_ms == 4000 + s->sessions);
	s->sessions++;
	return 0;
}

static int seen_node(void *arg, const char *path, const struct zstat *st, const uint8_t *data,
		     int32_t data_len, const struct zk_acl_list *acl)
{
	struct seen *s = arg;
	int i = s->nodes++;
	if (i >= 8)
		return -E2BIG;
	snprintf(s->path[i], sizeof s->path[i], "%s", path);
	s->st[i] = *st;
	s->data_len[i] = data_len;
	s->data_nonnull[i] = data != NULL;
	s->acl_count[i] = acl->count;
	if (acl->count == 2)
		CU_ASSERT(strcmp(acl->v[0].id.id, "bob:xyz=") == 0 && acl->v[1].perms == ZK_PERM_ALL);
	if (data_len == 5)
		CU_ASSERT(memcmp(data, "hello", 5) == 0);
	return 0;
}

static const struct snap_decode_cb seen_cb = { seen_session, seen_node };

static void test_codec_roundtrip(void)
{
	struct img im = build_image(false);
	struct seen s = { 0 };
	struct snap_info info;
	size_t off;
	const char *why;
	CU_ASSERT_EQUAL_FATAL(snap_decode(im.p, im.len, &seen_cb, &s, &info, &off, &why), 0);
	CU_ASSERT_EQUAL(info.zxid, 0x100000007ull);
	CU_ASSERT_EQUAL(info.flags, SNAP_FLAG_FUZZY);
	CU_ASSERT(info.sessions == 2 && info.acls == 3 && info.nodes == 5);
	CU_ASSERT(s.sessions == 2 && s.sid[0] == 0x1000 && s.sid[1] == 0x1001);
	CU_ASSERT_EQUAL_FATAL(s.nodes, 5);
	CU_ASSERT_STRING_EQUAL(s.path[0], "/");
	CU_ASSERT_STRING_EQUAL(s.path[2], "/a/b");
	CU_ASSERT(s.data_len[0] == -1 && !s.data_nonnull[0]);            /* null */
	CU_ASSERT(s.data_len[2] == 0 && s.data_nonnull[2]);              /* empty */
	CU_ASSERT(s.data_len[1] == 5 && s.st[1].data_length == 5);
	CU_ASSERT(s.acl_count[1] == 2 && s.acl_count[3] == -1 && s.acl_count[2] == 1);
	CU_ASSERT(s.st[3].ephemeral_owner == 0x1000);
	CU_ASSERT(s.st[4].ephemeral_owner == (int64_t)ZK_OWNER_CONTAINER);
	CU_ASSERT(s.st[1].czxid == 10 && s.st[1].mzxid == 11 && s.st[1].ctime == 1010 &&
		  s.st[1].mtime == 2010 && s.st[1].version == 3 && s.st[1].cversion == 4 &&
		  s.st[1].aversion == 5 && s.st[1].pzxid == 12);
	free(im.p);
}

static int decode_quiet(const uint8_t *p, size_t len)
{
	struct seen s = { 0 };
	return snap_decode(p, len, &seen_cb, &s, NULL, NULL, NULL);
}

static void test_codec_truncated(void)
{
	struct img im = build_image(false);
	CU_ASSERT_EQUAL(decode_quiet(NULL, 0), -TN_ECORRUPT);
	for (size_t n = 0; n < im.len; n++) {
		uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan catches any over-read */
		memcpy(copy, im.p, n);
		int rc = decode_quiet(copy, n);
		if (rc != -TN_ECORRUPT)
			fprintf(stderr, "truncated at %zu: rc %d\n", n, rc);
		CU_ASSERT_EQUAL(rc, -TN_ECORRUPT);
		free(copy);
	}
	free(im.p);
}

static void test_codec_bitflips(void)
{
	struct img im = build_image(false);
	int missed = 0;
	for (size_t bit = 0; bit < im.len * 8; bit++) {
		im.p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		if (decode_quiet(im.p, im.len) != -TN_ECORRUPT) {
			fprintf(stderr, "flip of bit %zu not detected\n", bit);
			missed++;
		}
		im.p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	CU_ASSERT_EQUAL(missed, 0);
	CU_ASSERT_EQUAL(decode_quiet(im.p, im.len), 0); /* restored */
	free(im.p);
}

static void test_codec_structure(void)
{
	struct img im = build_image(false);
	size_t off;
	const char *why;
	struct seen s = { 0 };
	/* trailing garbage */
	uint8_t *big = malloc(im.len + 1);
	memcpy(big, im.p, im.len);
	big[im.len] = 0;
	CU_ASSERT_EQUAL(snap_decode(big, im.len + 1, &seen_cb, &s, NULL, &off, &why), -TN_ECORRUPT);
	CU_ASSERT_STRING_EQUAL(why, "bytes after the trailer");
	/* drop the second session record (frame 8 + body 13): the file CRC catches it */
	size_t at = SNAP_HDR_LEN + 21, cut = 21;
	memcpy(big, im.p, at);
	memcpy(big + at, im.p + at + cut, im.len - at - cut);
	memset(&s, 0, sizeof s);
	CU_ASSERT_EQUAL(snap_decode(big, im.len - cut, &seen_cb, &s, NULL, &off, &why),
			-TN_ECORRUPT);
	CU_ASSERT(off > at); /* found at the trailer */
	free(big);
	free(im.p);
	/* a CRC-valid node naming an undefined ACL */
	im = build_image(true);
	memset(&s, 0, sizeof s);
	CU_ASSERT_EQUAL(snap_decode(im.p, im.len, &seen_cb, &s, NULL, &off, &why), -TN_ECORRUPT);
	CU_ASSERT_STRING_EQUAL(why, "node refers to an undefined ACL");
	free(im.p);
}

static void test_codec_path_valid(void)
{
	CU_ASSERT(path_valid((const uint8_t *)"/", 1));
	CU_ASSERT(path_valid((const uint8_t *)"/a/b", 4));
	CU_ASSERT(!path_valid((const uint8_t *)"a", 1));
	CU_ASSERT(!path_valid((const uint8_t *)"/a/", 3));
	CU_ASSERT(!path_valid((const uint8_t *)"/a//b", 5));
	CU_ASSERT(!path_valid((const uint8_t *)"/a\0b", 4));
	CU_ASSERT(!path_valid((const uint8_t *)"", 0));
}

/* ---- real store ---- */

static struct store_cfg cfg = { .data_max_bytes = STORE_DATA_MAX_DEFAULT, .extended_types = true };
static tn_zxid next_zxid = 0x100000000ull;

static void apply_txn(struct store *s, struct txn *t)
{
	struct store_apply_out out;
	t->hdr.zxid = ++next_zxid;
	t->hdr.time_ms = (int64_t)(next_zxid & 0xffff) * 10;
	t->hdr.type = t->type;
	CU_ASSERT_EQUAL_FATAL(store_apply(s, t, &out), 0);
	CU_ASSERT(out.result_count < 1 || out.results[0].err == ZK_OK);
}

static void mk_session(struct store *s, uint64_t id, int32_t timeout)
{
	struct txn t = { .type = ZK_OP_CREATESESSION, .timeout_ms = timeout };
	t.hdr.session = id;
	apply_txn(s, &t);
}

static void mk_node(struct store *s, const char *path, const char *data, int32_t len,
		    const struct zk_acl_list *acl, int64_t owner)
{
	char parent[256];
	struct store_node_view pv;
	const char *slash = strrchr(path, '/');
	snprintf(parent, sizeof parent, "%.*s", slash == path ? 1 : (int)(slash - path), path);
	CU_ASSERT_FATAL(store_get(s, parent, &pv) == ZK_OK);
	struct txn t = { .type = ZK_OP_CREATE, .path = path, .data = (const uint8_t *)data,
			 .data_len = len, .acl = *acl, .ephemeral_owner = owner,
			 .parent_cversion = pv.stat.cversion + 1 };
	t.hdr.session = owner > 0 && !(owner & (int64_t)ZK_OWNER_TTL_MASK) ? (uint64_t)owner : 1;
	apply_txn(s, &t);
}

static void build_store(struct store *s)
{
	mk_session(s, 0x5001, 6000);
	mk_session(s, 0x5002, 9000);
	mk_node(s, "/p", "persistent", 10, &world, 0);
	mk_node(s, "/p/null", NULL, -1, &world, 0);
	mk_node(s, "/p/empty", "", 0, &digest, 0);
	mk_node(s, "/p/seq0000000003", "s", 1, &world, 0);
	mk_node(s, "/p/eph", "e", 1, &digest, 0x5001);
	mk_node(s, "/p/eph2", NULL, -1, &world, 0x5002);
	mk_node(s, "/c", NULL, -1, &world, (int64_t)ZK_OWNER_CONTAINER);
	mk_node(s, "/c/kid", "k", 1, &world, 0);
	mk_node(s, "/ttl", "t", 1, &world, (int64_t)(ZK_OWNER_TTL_MASK | 5000));
	mk_node(s, "/deep", NULL, -1, &world, 0);
	mk_node(s, "/deep/a", NULL, -1, &world, 0);
	mk_node(s, "/deep/a/b", NULL, -1, &world, 0);
	mk_node(s, "/deep/a/b/c", "bottom", 6, &digest, 0);
	struct txn t = { .type = ZK_OP_SETDATA, .path = "/p", .data = (const uint8_t *)"v2",
			 .data_len = 2, .version = 1 };
	apply_txn(s, &t);
	struct txn a = { .type = ZK_OP_SETACL, .path = "/deep", .acl = digest, .version = 1 };
	apply_txn(s, &a);
	struct txn d = { .type = ZK_OP_DELETE, .path = "/c/kid" };
	apply_txn(s, &d);
}

struct cmp_ctx {
	struct store *other;
	int nodes, diffs;
};

static bool acl_equal(const struct zk_acl_list *a, const struct zk_acl_list *b)
{
	int32_t ac = a ? a->count : -1, bc = b ? b->count : -1;
	if (ac != bc)
		return false;
	for (int32_t i = 0; i < ac; i++)
		if (a->v[i].perms != b->v[i].perms || strcmp(a->v[i].id.scheme, b->v[i].id.scheme) ||
		    strcmp(a->v[i].id.id, b->v[i].id.id))
			return false;
	return true;
}

/* Field by field: struct zstat has padding. */
static bool stat_equal(const struct zstat *a, const struct zstat *b)
{
	return a->czxid == b->czxid && a->mzxid == b->mzxid && a->ctime == b->ctime &&
	       a->mtime == b->mtime && a->version == b->version && a->cversion == b->cversion &&
	       a->aversion == b->aversion && a->ephemeral_owner == b->ephemeral_owner &&
	       a->data_length == b->data_length && a->num_children == b->num_children &&
	       a->pzxid == b->pzxid;
}

static int cmp_node(void *arg, const char *path, const struct store_node_view *v)
{
	struct cmp_ctx *c = arg;
	struct store_node_view w;
	c->nodes++;
	if (store_get(c->other, path, &w) != ZK_OK || !stat_equal(&v->stat, &w.stat) ||
	    v->data_len != w.data_len ||
	    (v->data_len > 0 && memcmp(v->data, w.data, (size_t)v->data_len)) ||
	    !acl_equal(v->acl, w.acl)) {
		fprintf(stderr, "node %s differs after load: stat %d len %d/%d acl %d\n", path,
			!stat_equal(&v->stat, &w.stat), v->data_len, w.data_len,
			acl_equal(v->acl, w.acl));
		c->diffs++;
	}
	return 0;
}

static void cmp_session(void *arg, uint64_t session, int32_t timeout_ms)
{
	struct cmp_ctx *c = arg;
	int32_t t = 0;
	if (!store_session_get(c->other, session, &t) || t != timeout_ms)
		c->diffs++;
}

/* @a and @b hold the same tree, sessions and last zxid. */
static void assert_same(struct store *a, struct store *b)
{
	struct store_stats sa, sb;
	struct cmp_ctx c = { .other = b };
	store_stats(a, &sa);
	store_stats(b, &sb);
	CU_ASSERT_EQUAL(store_digest(a), store_digest(b));
	CU_ASSERT_EQUAL(sa.node_count, sb.node_count);
	CU_ASSERT_EQUAL(sa.ephemeral_count, sb.ephemeral_count);
	CU_ASSERT_EQUAL(sa.data_bytes, sb.data_bytes);
	CU_ASSERT_EQUAL(sa.last_zxid, sb.last_zxid);
	CU_ASSERT_EQUAL(store_walk(a, cmp_node, &c), 0);
	CU_ASSERT_EQUAL(c.nodes, (int)sa.node_count);
	store_session_foreach(a, cmp_session, &c);
	CU_ASSERT_EQUAL(store_session_count(a), store_session_count(b));
	CU_ASSERT_EQUAL(c.diffs, 0);
}

static int count_eph(void *arg, const char *path)
{
	(*(int *)arg)++;
	return 0;
}

static void test_store_roundtrip(void)
{
	char dir[256], path[512];
	struct store *s, *l;
	tn_zxid z, lz;
	CU_ASSERT_FATAL(tn_tmpdir_make(dir, sizeof dir, "snap") != NULL);
	CU_ASSERT_FATAL(store_create(&s, &cfg) == 0);
	build_store(s);
	CU_ASSERT_EQUAL_FATAL(snap_write(s, dir, &z), 0);
	CU_ASSERT_EQUAL(z, store_last_zxid(s));
	snprintf(path, sizeof path, "%s/snapshot.%016" PRIx64, dir, z);
	CU_ASSERT_EQUAL_FATAL(snap_load(path, &cfg, &l, &lz), 0);
	CU_ASSERT_EQUAL(lz, z);
	assert_same(s, l);
	assert_same(l, s);
	int n = 0;
	CU_ASSERT(store_ephemerals(l, 0x5001, "/", count_eph, &n) == ZK_OK);
	CU_ASSERT_EQUAL(n, 1);
	store_destroy(l);
	store_destroy(s);
	tn_tmpdir_remove(dir);
}

/* A real snapshot file cut short or with a flipped bit never loads. */
static void test_store_file_corrupt(void)
{
	char dir[256], path[512];
	struct store *s, *l = NULL;
	tn_zxid z;
	CU_ASSERT_FATAL(tn_tmpdir_make(dir, sizeof dir, "snapc") != NULL);
	CU_ASSERT_FATAL(store_create(&s, &cfg) == 0);
	build_store(s);
	CU_ASSERT_EQUAL_FATAL(snap_write(s, dir, &z), 0);
	snprintf(path, sizeof path, "%s/snapshot.%016" PRIx64, dir, z);
	struct img im = { 0 };
	int fd = open(path, O_RDWR);
	CU_ASSERT_FATAL(fd >= 0);
	im = slurp(fd);
	enum tn_log_level lvl = tn_log_get_level();
	tn_log_set_level(TN_LOG_ERROR + 1); /* thousands of expected "corrupt" lines */
	for (size_t n = 0; n < im.len; n += 1 + n / 16) {
		CU_ASSERT_FATAL(ftruncate(fd, (off_t)n) == 0);
		CU_ASSERT_EQUAL(snap_load(path, &cfg, &l, NULL), -TN_ECORRUPT);
	}
	CU_ASSERT_FATAL(pwrite(fd, im.p, im.len, 0) == (ssize_t)im.len);
	for (size_t i = 0; i < 300; i++) {
		size_t bit = (i * 7919u + 13u) % (im.len * 8);
		uint8_t b = im.p[bit / 8] ^ (uint8_t)(1u << (bit % 8));
		CU_ASSERT_FATAL(pwrite(fd, &b, 1, (off_t)(bit / 8)) == 1);
		CU_ASSERT_EQUAL(snap_load(path, &cfg, &l, NULL), -TN_ECORRUPT);
		CU_ASSERT_FATAL(pwrite(fd, &im.p[bit / 8], 1, (off_t)(bit / 8)) == 1);
	}
	tn_log_set_level(lvl);
	CU_ASSERT_EQUAL(snap_load(path, &cfg, &l, NULL), 0);
	if (l)
		store_destroy(l);
	CU_ASSERT_EQUAL(snap_load("/nonexistent/snapshot.0000000000000001", &cfg, &l, NULL),
			-ENOENT);
	close(fd);
	free(im.p);
	store_destroy(s);
	tn_tmpdir_remove(dir);
}

static void test_purge_keeps_three(void)
{
	char dir[256], logs[300], p[512];
	struct store *s;
	tn_zxid z[5], *v;
	CU_ASSERT_FATAL(tn_tmpdir_make(dir, sizeof dir, "snapp") != NULL);
	snprintf(logs, sizeof logs, "%s/nolog", dir);
	CU_ASSERT_FATAL(store_create(&s, &cfg) == 0);
	for (int i = 0; i < 5; i++) {
		mk_session(s, 0x7000 + (uint64_t)i, 5000);
		CU_ASSERT_EQUAL_FATAL(snap_write(s, dir, &z[i]), 0);
	}
	snprintf(p, sizeof p, "%s/snapshot.%016" PRIx64 ".tmp", dir, z[0]);
	FILE *f = fopen(p, "w"); /* a crash's leftover */
	CU_ASSERT_FATAL(f != NULL);
	fclose(f);
	snprintf(p, sizeof p, "%s/snapshot.%016" PRIx64 "x", dir, z[0]); /* not ours */
	f = fopen(p, "w");
	fclose(f);
	CU_ASSERT_EQUAL(snap_list(dir, &v), 5);
	CU_ASSERT(v[0] == z[4] && v[4] == z[0]);
	free(v);
	CU_ASSERT_EQUAL(snap_purge(dir, logs, 1), 3); /* 2 old snapshots + the stale tmp */
	CU_ASSERT_EQUAL_FATAL(snap_list(dir, &v), 3);
	CU_ASSERT(v[0] == z[4] && v[1] == z[3] && v[2] == z[2]);
	free(v);
	CU_ASSERT_EQUAL(access(p, F_OK), 0);
	CU_ASSERT_EQUAL(snap_purge(dir, logs, 3), 0);
	CU_ASSERT_EQUAL(snap_list("/nonexistent-tern-dir", &v), 0);
	free(v);
	store_destroy(s);
	tn_tmpdir_remove(dir);
}

static CU_TestInfo codec_tests[] = {
	{ "roundtrip", test_codec_roundtrip },
	{ "truncated", test_codec_truncated },
	{ "bitflips", test_codec_bitflips },
	{ "structure", test_codec_structure },
	{ "path_valid", test_codec_path_valid },
	CU_TEST_INFO_NULL,
};

static CU_TestInfo store_tests[] = {
	{ "roundtrip", test_store_roundtrip },
	{ "file_corrupt", test_store_file_corrupt },
	{ "purge_keeps_three", test_purge_keeps_three },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "snap_codec", NULL, NULL, NULL, NULL, codec_tests },
	{ "snap_store", NULL, NULL, NULL, NULL, store_tests },
	CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	store_reader_register();
	int rc = tn_test_main(argc, argv, suites);
	store_reader_unregister();
	return rc;
}
