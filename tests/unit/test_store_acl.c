/* tests/unit/test_store_acl.c. Description: ACL checks (world, digest, ip
 * address/CIDR v4+v6, super, skip_acl, empty list), fixupACL (dedup, auth
 * expansion, validation), and the digest id known value. */
#include <errno.h>
#include <string.h>

#include "store/store_int.h"
#include "tests/lib/tn_test.h"

static uint8_t arena_buf[1 << 14];

static struct store_auth auth_of(const char *scheme, const char *id)
{
	struct store_auth a;
	memset(&a, 0, sizeof a);
	a.count = 1;
	a.ids[0] = (struct zk_id){ scheme, id };
	return a;
}

static bool allows1(int32_t perms, const char *scheme, const char *id, int32_t want,
		    const struct store_auth *auth)
{
	struct zk_acl e = { perms, { scheme, id } };
	struct zk_acl_list l = { 1, &e };
	return store_acl_allows(NULL, &l, want, auth);
}

static void test_acl_world_and_empty(void)
{
	struct zk_acl_list empty = { 0, NULL };
	CU_ASSERT(allows1(ZK_PERM_ALL, "world", "anyone", ZK_PERM_WRITE, NULL));
	CU_ASSERT(!allows1(ZK_PERM_READ, "world", "anyone", ZK_PERM_WRITE, NULL));
	CU_ASSERT(!allows1(ZK_PERM_ALL, "world", "someone", ZK_PERM_WRITE, NULL));
	CU_ASSERT(store_acl_allows(NULL, &empty, ZK_PERM_ADMIN, NULL));
	CU_ASSERT(store_acl_allows(NULL, NULL, ZK_PERM_ADMIN, NULL));
}

static void test_acl_digest(void)
{
	struct store_auth bob = auth_of("digest", "bob:hash=");
	struct store_auth ip = auth_of("ip", "bob:hash=");
	CU_ASSERT(allows1(ZK_PERM_ALL, "digest", "bob:hash=", ZK_PERM_READ, &bob));
	CU_ASSERT(!allows1(ZK_PERM_ALL, "digest", "bob:other", ZK_PERM_READ, &bob));
	CU_ASSERT(!allows1(ZK_PERM_ALL, "digest", "bob:hash=", ZK_PERM_READ, &ip));
	CU_ASSERT(!allows1(ZK_PERM_ALL, "digest", "bob:hash=", ZK_PERM_READ, NULL));
	CU_ASSERT(!allows1(ZK_PERM_WRITE, "digest", "bob:hash=", ZK_PERM_READ, &bob));
}

static void test_acl_ip(void)
{
	struct store_auth v4 = auth_of("ip", "10.1.2.3");
	struct store_auth v6 = auth_of("ip", "2001:db8::1");
	CU_ASSERT(allows1(ZK_PERM_ALL, "ip", "10.1.2.3", ZK_PERM_READ, &v4));
	CU_ASSERT(!allows1(ZK_PERM_ALL, "ip", "10.1.2.4", ZK_PERM_READ, &v4));
	CU_ASSERT(allows1(ZK_PERM_ALL, "ip", "10.1.0.0/16", ZK_PERM_READ, &v4));
	CU_ASSERT(allows1(ZK_PERM_ALL, "ip", "10.1.2.0/24", ZK_PERM_READ, &v4));
	CU_ASSERT(allows1(ZK_PERM_ALL, "ip", "10.1.2.2/31", ZK_PERM_READ, &v4));
	CU_ASSERT(!allows1(ZK_PERM_ALL, "ip", "10.1.2.0/31", ZK_PERM_READ, &v4));
	CU_ASSERT(!allows1(ZK_PERM_ALL, "ip", "10.2.0.0/16", ZK_PERM_READ, &v4));
	CU_ASSERT(allows1(ZK_PERM_ALL, "ip", "0.0.0.0/0", ZK_PERM_READ, &v4));
	CU_ASSERT(!allows1(ZK_PERM_ALL, "ip", "10.1.2.3/33", ZK_PERM_READ, &v4));
	CU_ASSERT(!allows1(ZK_PERM_ALL, "ip", "garbage", ZK_PERM_READ, &v4));
	CU_ASSERT(allows1(ZK_PERM_ALL, "ip", "2001:db8::/32", ZK_PERM_READ, &v6));
	CU_ASSERT(allows1(ZK_PERM_ALL, "ip", "2001:db8::1", ZK_PERM_READ, &v6));
	CU_ASSERT(!allows1(ZK_PERM_ALL, "ip", "2001:db9::/32", ZK_PERM_READ, &v6));
	CU_ASSERT(!allows1(ZK_PERM_ALL, "ip", "10.1.2.3", ZK_PERM_READ, &v6));
	CU_ASSERT(!allows1(ZK_PERM_ALL, "ip", "2001:db8::/32", ZK_PERM_READ, &v4));
}

static void test_acl_super_and_skip(void)
{
	struct store_auth sup = auth_of("digest", "x:y");
	struct store_auth sup2 = auth_of("super", "");
	struct store_cfg cfg = { .skip_acl = true };
	struct store *s = NULL;
	struct zk_acl e = { ZK_PERM_READ, { "digest", "nobody:z" } };
	struct zk_acl_list l = { 1, &e };

	sup.super = true;
	CU_ASSERT(store_acl_allows(NULL, &l, ZK_PERM_ADMIN, &sup));
	CU_ASSERT(store_acl_allows(NULL, &l, ZK_PERM_ADMIN, &sup2));
	CU_ASSERT(!store_acl_allows(NULL, &l, ZK_PERM_ADMIN, NULL));
	CU_ASSERT_EQUAL_FATAL(store_create(&s, &cfg), 0);
	CU_ASSERT(store_acl_allows(s, &l, ZK_PERM_ADMIN, NULL));
	store_destroy(s);
	cfg.skip_acl = false;
	CU_ASSERT_EQUAL_FATAL(store_create(&s, &cfg), 0);
	CU_ASSERT(!store_acl_allows(s, &l, ZK_PERM_ADMIN, NULL));
	store_destroy(s);
}

static int fix(const struct zk_acl *v, int32_t n, const struct store_auth *auth,
	       struct zk_acl_list *out)
{
	struct tn_arena a = tn_arena_init(arena_buf, sizeof arena_buf);
	struct zk_acl_list in = { n, v };
	return store_acl_fixup(&in, auth, &a, out);
}

static void test_acl_fixup_validate(void)
{
	struct zk_acl_list out;
	const struct zk_acl ok[] = {
		{ ZK_PERM_ALL, { "world", "anyone" } },   { ZK_PERM_READ, { "digest", "u:h" } },
		{ ZK_PERM_READ, { "ip", "10.0.0.0/8" } }, { ZK_PERM_READ, { "ip", "::1" } },
		{ ZK_PERM_ALL, { "world", "anyone" } }, /* duplicate: dropped */
	};
	const struct zk_acl bad[][1] = {
		{ { ZK_PERM_ALL, { "world", "someone" } } }, { { ZK_PERM_ALL, { "digest", "nocolon" } } },
		{ { ZK_PERM_ALL, { "digest", "u:" } } },     { { ZK_PERM_ALL, { "digest", "a:b:c" } } },
		{ { ZK_PERM_ALL, { "ip", "10.0.0.1/40" } } }, { { ZK_PERM_ALL, { "ip", "host" } } },
		{ { ZK_PERM_ALL, { "super", "" } } },        { { ZK_PERM_ALL, { "nosuch", "x" } } },
		{ { ZK_PERM_ALL, { "auth", "" } } }, /* no authenticated id */
	};

	CU_ASSERT_EQUAL(fix(ok, 5, NULL, &out), ZK_OK);
	CU_ASSERT_EQUAL(out.count, 4);
	CU_ASSERT_STRING_EQUAL(out.v[1].id.id, "u:h");
	CU_ASSERT_STRING_EQUAL(out.v[3].id.id, "::1");
	CU_ASSERT_EQUAL(fix(ok, 0, NULL, &out), ZK_EINVALIDACL);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CU_ASSERT_EQUAL(fix(bad[i], 1, NULL, &out), ZK_EINVALIDACL);
}

static void test_acl_fixup_auth(void)
{
	struct store_auth auth;
	struct zk_acl_list out;
	const struct zk_acl creator[] = { { ZK_PERM_ALL, { "auth", "" } },
					  { ZK_PERM_READ, { "world", "anyone" } } };

	memset(&auth, 0, sizeof auth);
	auth.count = 3;
	auth.ids[0] = (struct zk_id){ "ip", "127.0.0.1" }; /* not authenticated */
	auth.ids[1] = (struct zk_id){ "digest", "bob:h1" };
	auth.ids[2] = (struct zk_id){ "digest", "eve:h2" };
	CU_ASSERT_EQUAL(fix(creator, 2, &auth, &out), ZK_OK);
	CU_ASSERT_EQUAL_FATAL(out.count, 3);
	CU_ASSERT_STRING_EQUAL(out.v[0].id.scheme, "digest");
	CU_ASSERT_STRING_EQUAL(out.v[0].id.id, "bob:h1");
	CU_ASSERT_EQUAL(out.v[0].perms, ZK_PERM_ALL);
	CU_ASSERT_STRING_EQUAL(out.v[1].id.id, "eve:h2");
	CU_ASSERT_STRING_EQUAL(out.v[2].id.scheme, "world");
	auth.count = 1; /* only the ip id: auth cannot expand */
	CU_ASSERT_EQUAL(fix(creator, 2, &auth, &out), ZK_EINVALIDACL);
}

static void test_acl_fixup_arena_short(void)
{
	uint8_t small[32];
	struct tn_arena a = tn_arena_init(small, sizeof small);
	const struct zk_acl v[] = { { ZK_PERM_ALL, { "digest", "someone:longhashvalue=" } } };
	struct zk_acl_list in = { 1, v }, out;
	CU_ASSERT_EQUAL(store_acl_fixup(&in, NULL, &a, &out), -EMSGSIZE);
}

static void test_acl_fixup_many(void)
{
	/* 4000 entries, half duplicates: linear dedup keeps the first of each */
	static struct zk_acl v[4000];
	static char ids[2000][16];
	static uint8_t big[1 << 20];
	struct tn_arena a = tn_arena_init(big, sizeof big);
	struct zk_acl_list in = { 4000, v }, out;

	for (int i = 0; i < 2000; i++) {
		snprintf(ids[i], sizeof ids[i], "u%d:h", i);
		v[i] = (struct zk_acl){ ZK_PERM_READ, { "digest", ids[i] } };
		v[2000 + i] = v[i];
	}
	CU_ASSERT_EQUAL(store_acl_fixup(&in, NULL, &a, &out), ZK_OK);
	CU_ASSERT_EQUAL(out.count, 2000);
	CU_ASSERT_STRING_EQUAL(out.v[1999].id.id, "u1999:h");
}

static void test_acl_digest_known(void)
{
	char out[64];
	CU_ASSERT_EQUAL(store_digest_id("super:test", out, sizeof out), 34);
	CU_ASSERT_STRING_EQUAL(out, "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
	CU_ASSERT_EQUAL(store_digest_id("nocolon", out, sizeof out), -EINVAL);
	CU_ASSERT_EQUAL(store_digest_id("super:test", out, 34), -ENOSPC);
	CU_ASSERT_EQUAL(store_digest_id("super:test", out, 35), 34);
	/* the hash covers "user:password", so the same password differs per user */
	CU_ASSERT_EQUAL(store_digest_id("other:test", out, sizeof out), 34);
	CU_ASSERT_STRING_NOT_EQUAL(out + 6, "D/InIHSb7yEEbrWz8b9l71RjZJU=");
}

static CU_TestInfo tests[] = {
	{ "world_and_empty", test_acl_world_and_empty },
	{ "digest", test_acl_digest },
	{ "ip", test_acl_ip },
	{ "super_and_skip", test_acl_super_and_skip },
	{ "fixup_validate", test_acl_fixup_validate },
	{ "fixup_auth", test_acl_fixup_auth },
	{ "fixup_arena_short", test_acl_fixup_arena_short },
	{ "fixup_many", test_acl_fixup_many },
	{ "digest_known", test_acl_digest_known },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "store_acl", NULL, NULL, NULL, NULL, tests },
	CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	return tn_test_main(argc, argv, suites);
}
