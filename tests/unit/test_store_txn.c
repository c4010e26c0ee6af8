/* tests/unit/test_store_txn.c. Description: txn codec round trips for every
 * type; rejects truncation at every length, trailing bytes, bad counts,
 * unknown and nested types, NULs in strings; reports a short arena. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "common/tn_assert.h"
#include "common/tn_rd.h"
#include "tests/lib/tn_test.h"

static uint8_t arena_buf[1 << 16];

static const struct zk_acl acl2[] = {
	{ ZK_PERM_ALL, { "world", "anyone" } },
	{ ZK_PERM_READ | ZK_PERM_WRITE, { "digest", "bob:abc=" } },
};
static const uint8_t data5[] = { 'h', 0, 'l', 'l', 'o' };
static const char *const eph_paths[] = { "/e1", "/a/e2", "/x" };

static struct txn base(int32_t type)
{
	struct txn t;
	memset(&t, 0, sizeof(t));
	t.hdr = (struct txn_hdr){ .session = 0x1122334455667788ull, .cxid = -7,
				  .zxid = 0x500000009ull, .time_ms = 1700000000123, .type = type };
	t.type = type;
	return t;
}

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool acl_eq(const struct zk_acl_list *a, const struct zk_acl_list *b)
{
	if (a->count != b->count)
		return false;
	for (int32_t i = 0; i < a->count; i++)
		if (a->v[i].perms != b->v[i].perms || !str_eq(a->v[i].id.scheme, b->v[i].id.scheme) ||
		    !str_eq(a->v[i].id.id, b->v[i].id.id))
			return false;
	return true;
}

static bool data_eq(const struct txn *a, const struct txn *b)
{
	if (a->data_len != b->data_len)
		return false;
	return a->data_len <= 0 || memcmp(a->data, b->data, (size_t)a->data_len) == 0;
}

static bool txn_eq(const struct txn *a, const struct txn *b)
{
	if (memcmp(&a->hdr, &b->hdr, sizeof(a->hdr)) != 0 || a->type != b->type)
		return false;
	if (!str_eq(a->path, b->path) || !data_eq(a, b) || !acl_eq(&a->acl, &b->acl))
		return false;
	if (a->ephemeral_owner != b->ephemeral_owner || a->parent_cversion != b->parent_cversion ||
	    a->version != b->version || a->timeout_ms != b->timeout_ms || a->err != b->err)
		return false;
	if (a->path_count != b->path_count || a->sub_count != b->sub_count)
		return false;
	for (uint32_t i = 0; i < a->path_count; i++)
		if (!str_eq(a->paths[i], b->paths[i]))
			return false;
	for (uint32_t i = 0; i < a->sub_count; i++)
		if (!txn_eq(&a->sub[i], &b->sub[i]))
			return false;
	return true;
}

/* Encode @t, decode it, compare; then every truncation must fail. */
static void round_trip(const struct txn *t)
{
	size_t len = txn_encoded_len(t);
	uint8_t *buf = malloc(len + 1);
	struct tn_arena a = tn_arena_init(arena_buf, sizeof arena_buf);
	struct txn out;

	CU_ASSERT_FATAL(buf != NULL);
	CU_ASSERT_EQUAL(txn_encode(t, buf, len - 1), -EMSGSIZE);
	CU_ASSERT_EQUAL(txn_encode(t, buf, len), (int)len);
	CU_ASSERT_EQUAL(txn_decode(buf, len, &out, &a), 0);
	CU_ASSERT(txn_eq(t, &out));
	for (size_t cut = 0; cut < len; cut++) {
		a = tn_arena_init(arena_buf, sizeof arena_buf);
		CU_ASSERT_EQUAL(txn_decode(buf, cut, &out, &a), -EBADMSG);
	}
	buf[len] = 0;
	a = tn_arena_init(arena_buf, sizeof arena_buf);
	CU_ASSERT_EQUAL(txn_decode(buf, len + 1, &out, &a), -EBADMSG);
	free(buf);
}

static struct txn make_create(int32_t type)
{
	struct txn t = base(type);
	t.path = "/app/node0000000042";
	t.data = data5;
	t.data_len = 5;
	t.acl = (struct zk_acl_list){ 2, acl2 };
	t.ephemeral_owner = type == ZK_OP_CREATETTL ? (int64_t)(ZK_OWNER_TTL_MASK | 5000) : 0x42;
	t.parent_cversion = 43;
	return t;
}

static void test_txn_create_types(void)
{
	const int32_t types[] = { ZK_OP_CREATE, ZK_OP_CREATE2, ZK_OP_CREATECONTAINER,
				  ZK_OP_CREATETTL };
	for (size_t i = 0; i < TN_ARRAY_LEN(types); i++) {
		struct txn t = make_create(types[i]);
		round_trip(&t);
		t.data = NULL;
		t.data_len = -1; /* null data stays null */
		round_trip(&t);
		t.data_len = 0; /* empty stays empty */
		t.acl = (struct zk_acl_list){ 0, NULL };
		round_trip(&t);
	}
}

static void test_txn_simple_types(void)
{
	struct txn t = base(ZK_OP_DELETE);
	t.path = "/a";
	round_trip(&t);
	t = base(ZK_OP_DELETECONTAINER);
	t.path = "/c";
	round_trip(&t);
	t = base(ZK_OP_SETDATA);
	t.path = "/a";
	t.data = data5;
	t.data_len = 5;
	t.version = 12;
	round_trip(&t);
	t = base(ZK_OP_SETACL);
	t.path = "/a";
	t.acl = (struct zk_acl_list){ 2, acl2 };
	t.version = 3;
	round_trip(&t);
	t.acl = (struct zk_acl_list){ -1, NULL };
	round_trip(&t);
	t = base(ZK_OP_CHECK);
	t.path = "/";
	t.version = -1;
	round_trip(&t);
	t = base(ZK_OP_CREATESESSION);
	t.timeout_ms = 30000;
	round_trip(&t);
	t = base(ZK_OP_ERROR);
	t.err = ZK_ENONODE;
	round_trip(&t);
}

static void test_txn_close_session(void)
{
	struct txn t = base(ZK_OP_CLOSESESSION);
	round_trip(&t); /* no ephemerals */
	t.path_count = 3;
	t.paths = eph_paths;
	round_trip(&t);
}

static void test_txn_multi(void)
{
	struct txn subs[5], t = base(ZK_OP_MULTI);
	subs[0] = make_create(ZK_OP_CREATE);
	subs[1] = base(ZK_OP_DELETE);
	subs[1].path = "/d";
	subs[2] = base(ZK_OP_SETDATA);
	subs[2].path = "/s";
	subs[2].data_len = -1;
	subs[2].version = 2;
	subs[3] = base(ZK_OP_CHECK);
	subs[3].path = "/c";
	subs[3].version = 9;
	subs[4] = base(ZK_OP_ERROR);
	subs[4].err = ZK_ERUNTIMEINCONSISTENCY;
	t.sub = subs;
	t.sub_count = 5;
	round_trip(&t);
	t.sub_count = 0;
	round_trip(&t);
}

/* Build a raw message: header with @type then @body. */
static size_t raw(uint8_t *buf, int32_t type, const uint8_t *body, size_t blen)
{
	struct tn_wr w = tn_wr_init(buf, 512);
	tn_wr_u64(&w, 1);
	tn_wr_i32(&w, 2);
	tn_wr_u64(&w, 3);
	tn_wr_i64(&w, 4);
	tn_wr_i32(&w, type);
	tn_wr_bytes(&w, body, blen);
	CU_ASSERT_FATAL(!w.overflow);
	return w.len;
}

static int dec(const uint8_t *buf, size_t len)
{
	struct tn_arena a = tn_arena_init(arena_buf, sizeof arena_buf);
	struct txn out;
	return txn_decode(buf, len, &out, &a);
}

static void test_txn_rejects(void)
{
	uint8_t buf[512];
	const uint8_t neg[] = { 0xff, 0xff, 0xff, 0xfe };
	const uint8_t huge[] = { 0x7f, 0xff, 0xff, 0xff };
	const uint8_t nul_path[] = { 0, 0, 0, 3, '/', 0, 'a' };
	const uint8_t null_path[] = { 0xff, 0xff, 0xff, 0xff };
	const uint8_t nested[] = { 0, 0, 0, 1, 0, 0, 0, 14, 0, 0, 0, 0 };
	const uint8_t setacl_sub[] = { 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 1, '/', 0, 0, 0, 0, 0, 0, 0, 0 };
	const uint8_t ok_del[] = { 0, 0, 0, 2, '/', 'a' };

	CU_ASSERT_EQUAL(dec(buf, raw(buf, ZK_OP_DELETE, ok_del, sizeof ok_del)), 0);
	CU_ASSERT_EQUAL(dec(buf, raw(buf, 99, ok_del, sizeof ok_del)), -EBADMSG);
	CU_ASSERT_EQUAL(dec(buf, raw(buf, ZK_OP_GETDATA, ok_del, sizeof ok_del)), -EBADMSG);
	CU_ASSERT_EQUAL(dec(buf, raw(buf, ZK_OP_CLOSESESSION, neg, sizeof neg)), -EBADMSG);
	CU_ASSERT_EQUAL(dec(buf, raw(buf, ZK_OP_CLOSESESSION, huge, sizeof huge)), -EBADMSG);
	CU_ASSERT_EQUAL(dec(buf, raw(buf, ZK_OP_MULTI, neg, sizeof neg)), -EBADMSG);
	CU_ASSERT_EQUAL(dec(buf, raw(buf, ZK_OP_MULTI, huge, sizeof huge)), -EBADMSG);
	CU_ASSERT_EQUAL(dec(buf, raw(buf, ZK_OP_DELETE, nul_path, sizeof nul_path)), -EBADMSG);
	CU_ASSERT_EQUAL(dec(buf, raw(buf, ZK_OP_DELETE, null_path, sizeof null_path)), -EBADMSG);
	CU_ASSERT_EQUAL(dec(buf, raw(buf, ZK_OP_MULTI, nested, sizeof nested)), -EBADMSG);
	CU_ASSERT_EQUAL(dec(buf, raw(buf, ZK_OP_MULTI, setacl_sub, sizeof setacl_sub)), -EBADMSG);
}

static void test_txn_bad_acl_count(void)
{
	uint8_t buf[512];
	/* setACL "/" with acl count -2, then with a count larger than the bytes left */
	const uint8_t neg[] = { 0, 0, 0, 1, '/', 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0 };
	const uint8_t big[] = { 0, 0, 0, 1, '/', 0, 0, 0, 9, 0, 0, 0, 0 };
	CU_ASSERT_EQUAL(dec(buf, raw(buf, ZK_OP_SETACL, neg, sizeof neg)), -EBADMSG);
	CU_ASSERT_EQUAL(dec(buf, raw(buf, ZK_OP_SETACL, big, sizeof big)), -EBADMSG);
}

static void test_txn_arena_short(void)
{
	struct txn t = make_create(ZK_OP_CREATE), out;
	uint8_t buf[512], small[16];
	int len = txn_encode(&t, buf, sizeof buf);
	struct tn_arena a = tn_arena_init(small, sizeof small);

	CU_ASSERT_FATAL(len > 0);
	CU_ASSERT_EQUAL(txn_decode(buf, (size_t)len, &out, &a), -EMSGSIZE);
	/* the exact-size arena works: usage must not depend on luck */
	a = tn_arena_init(arena_buf, sizeof arena_buf);
	CU_ASSERT_EQUAL(txn_decode(buf, (size_t)len, &out, &a), 0);
	CU_ASSERT(a.used > 0 && a.used < (size_t)len * 4);
}

static CU_TestInfo tests[] = {
	{ "create_types", test_txn_create_types },
	{ "simple_types", test_txn_simple_types },
	{ "close_session", test_txn_close_session },
	{ "multi", test_txn_multi },
	{ "rejects", test_txn_rejects },
	{ "bad_acl_count", test_txn_bad_acl_count },
	{ "arena_short", test_txn_arena_short },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "store_txn", NULL, NULL, NULL, NULL, tests },
	CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	return tn_test_main(argc, argv, suites);
}
