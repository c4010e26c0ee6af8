/* tests/unit/test_dataplane_ring_depth.c. Description: dp_ring_depth, the
 * ring gauges the metrics endpoint shows: the depth counts what is queued,
 * the max keeps the most the consumer found at its sampled pops (every
 * 16th) and never reads below the current depth, and both survive laps of
 * the ring. */
#include <stdint.h>
#include <stdlib.h>

#include "dataplane/dp.h"
#include "tests/lib/tn_test.h"

#define CAP 64u
#define N 40u

static void test_depth_and_max(void)
{
	struct dp_ring *r = NULL;
	uint64_t max = 99;

	CU_ASSERT_FATAL(dp_ring_create(&r, CAP) == 0);
	CU_ASSERT_EQUAL(dp_ring_depth(r, &max), 0);
	CU_ASSERT_EQUAL(max, 0);
	for (uintptr_t i = 1; i <= N; i++)
		CU_ASSERT(dp_ring_push(r, (void *)i));
	CU_ASSERT_EQUAL(dp_ring_depth(r, &max), N);
	CU_ASSERT_EQUAL(max, N); /* not sampled yet: the current depth */
	for (uintptr_t i = 1; i <= N; i++)
		CU_ASSERT_EQUAL((uintptr_t)dp_ring_pop(r), i);
	/* samples at the 16th pop (25 queued, the popped one included) and the 32nd (9) */
	CU_ASSERT_EQUAL(dp_ring_depth(r, &max), 0);
	CU_ASSERT_EQUAL(max, N - 16 + 1);
	CU_ASSERT_EQUAL(dp_ring_depth(r, NULL), 0);
	/* many laps of small bursts: the max does not grow past what was seen */
	for (unsigned lap = 0; lap < 100; lap++) {
		for (uintptr_t i = 1; i <= 3; i++)
			CU_ASSERT(dp_ring_push(r, (void *)i));
		CU_ASSERT_EQUAL(dp_ring_depth(r, NULL), 3);
		for (unsigned i = 0; i < 3; i++)
			CU_ASSERT_PTR_NOT_NULL(dp_ring_pop(r));
	}
	CU_ASSERT_EQUAL(dp_ring_depth(r, &max), 0);
	CU_ASSERT_EQUAL(max, N - 16 + 1);
	/* a full ring */
	for (uintptr_t i = 1; i <= CAP; i++)
		CU_ASSERT(dp_ring_push(r, (void *)i));
	CU_ASSERT_FALSE(dp_ring_push(r, (void *)1));
	CU_ASSERT_EQUAL(dp_ring_depth(r, &max), CAP);
	CU_ASSERT_EQUAL(max, CAP);
	while (dp_ring_pop(r))
		;
	dp_ring_depth(r, &max);
	CU_ASSERT(max >= CAP - 15 && max <= CAP);
	dp_ring_destroy(r);
}

static CU_TestInfo tests[] = {
    {"depth_and_max", test_depth_and_max},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"ring_depth", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	return tn_test_main(argc, argv, suites);
}
