/* tests/unit/test_common.c. Description: common/ leaf: CRC32C known values,
 * bounded reader never reads past the end, writer overflow counting, arena. */
#include <errno.h>

#include "common/tn_arena.h"
#include "common/tn_crc32c.h"
#include "common/tn_err.h"
#include "common/tn_rd.h"
#include "tests/lib/tn_test.h"

static void test_crc32c_known(void)
{
	CU_ASSERT_EQUAL(tn_crc32c("123456789", 9), 0xE3069283u);
	CU_ASSERT_EQUAL(tn_crc32c("", 0), 0u);
	uint8_t zeros[32] = { 0 };
	CU_ASSERT_EQUAL(tn_crc32c(zeros, 32), 0x8A9136AAu);
	/* extend in pieces equals one pass */
	uint32_t c = tn_crc32c_extend(0, "1234", 4);
	CU_ASSERT_EQUAL(tn_crc32c_extend(c, "56789", 5), 0xE3069283u);
}

static void test_rd_bounds(void)
{
	uint8_t b[6] = { 0, 0, 0, 5, 'a', 'b' };
	struct tn_rd r = tn_rd_init(b, sizeof b);
	const uint8_t *p;
	int32_t n;
	CU_ASSERT_EQUAL(tn_rd_buf(&r, &p, &n), -EBADMSG); /* claims 5, has 2 */
	r = tn_rd_init(b, 3);
	uint32_t v;
	CU_ASSERT_EQUAL(tn_rd_u32(&r, &v), -EBADMSG);
	uint8_t neg[4] = { 0xff, 0xff, 0xff, 0xfe };
	r = tn_rd_init(neg, 4);
	CU_ASSERT_EQUAL(tn_rd_buf(&r, &p, &n), -EBADMSG); /* -2 is not a length */
	uint8_t null[4] = { 0xff, 0xff, 0xff, 0xff };
	r = tn_rd_init(null, 4);
	CU_ASSERT_EQUAL(tn_rd_buf(&r, &p, &n), 0);
	CU_ASSERT_EQUAL(n, -1);
	CU_ASSERT_PTR_NULL(p);
}

static void test_wr_roundtrip_and_overflow(void)
{
	uint8_t b[32];
	struct tn_wr w = tn_wr_init(b, sizeof b);
	tn_wr_i32(&w, -7);
	tn_wr_i64(&w, 0x0102030405060708ll);
	tn_wr_str(&w, "hi");
	tn_wr_bool(&w, true);
	CU_ASSERT_FALSE(w.overflow);
	CU_ASSERT_EQUAL(w.len, 4u + 8u + 6u + 1u);
	struct tn_rd r = tn_rd_init(b, w.len);
	int32_t i;
	int64_t l;
	const uint8_t *p;
	int32_t n;
	bool t;
	CU_ASSERT_EQUAL(tn_rd_i32(&r, &i), 0);
	CU_ASSERT_EQUAL(i, -7);
	CU_ASSERT_EQUAL(tn_rd_i64(&r, &l), 0);
	CU_ASSERT_EQUAL(l, 0x0102030405060708ll);
	CU_ASSERT_EQUAL(tn_rd_buf(&r, &p, &n), 0);
	CU_ASSERT_EQUAL(n, 2);
	CU_ASSERT_EQUAL(memcmp(p, "hi", 2), 0);
	CU_ASSERT_EQUAL(tn_rd_bool(&r, &t), 0);
	CU_ASSERT_TRUE(t);
	CU_ASSERT_EQUAL(tn_rd_left(&r), 0u);
	struct tn_wr z = tn_wr_init(NULL, 0);
	tn_wr_str(&z, "hello");
	CU_ASSERT_TRUE(z.overflow);
	CU_ASSERT_EQUAL(z.len, 9u);
}

static void test_arena(void)
{
	uint8_t buf[24];
	struct tn_arena a = tn_arena_init(buf, sizeof buf);
	char *s = tn_arena_strndup(&a, "abc", 3);
	CU_ASSERT_STRING_EQUAL(s, "abc");
	CU_ASSERT_PTR_NOT_NULL(tn_arena_alloc(&a, 8));
	CU_ASSERT_PTR_NULL(tn_arena_alloc(&a, 9));
	CU_ASSERT_STRING_EQUAL(tn_strerror(-TN_ECORRUPT), "data corrupt (CRC or framing)");
}

static CU_TestInfo tests[] = {
	{ "crc32c_known", test_crc32c_known },
	{ "rd_bounds", test_rd_bounds },
	{ "wr_roundtrip_and_overflow", test_wr_roundtrip_and_overflow },
	{ "arena", test_arena },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "common", NULL, NULL, NULL, NULL, tests },
	CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	return tn_test_main(argc, argv, suites);
}
