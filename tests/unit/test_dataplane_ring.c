/* tests/unit/test_dataplane_ring.c. Description: the bounded lock-free ring
 * (dataplane/dp_ring.c): FIFO order, full and empty edges, wrap-around over
 * many laps, bad capacities, and several producers against one consumer with
 * per-producer order and no loss or duplication. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#include "dataplane/dp.h"
#include "tests/lib/tn_test.h"

static void test_ring_bad_cap(void)
{
	struct dp_ring *r = NULL;
	CU_ASSERT_EQUAL(dp_ring_create(&r, 0), -EINVAL);
	CU_ASSERT_EQUAL(dp_ring_create(&r, 1), -EINVAL);
	CU_ASSERT_EQUAL(dp_ring_create(&r, 12), -EINVAL);
	CU_ASSERT_PTR_NULL(r);
}

static void test_ring_fifo_full_empty(void)
{
	struct dp_ring *r;
	uintptr_t i;

	CU_ASSERT_EQUAL_FATAL(dp_ring_create(&r, 8), 0);
	CU_ASSERT_PTR_NULL(dp_ring_pop(r));
	CU_ASSERT_FALSE(dp_ring_nonempty(r));
	for (i = 1; i <= 8; i++)
		CU_ASSERT_TRUE(dp_ring_push(r, (void *)i));
	CU_ASSERT_FALSE(dp_ring_push(r, (void *)99)); /* full: refused, not overwritten */
	CU_ASSERT_TRUE(dp_ring_nonempty(r));
	for (i = 1; i <= 8; i++)
		CU_ASSERT_EQUAL((uintptr_t)dp_ring_pop(r), i);
	CU_ASSERT_PTR_NULL(dp_ring_pop(r));
	dp_ring_destroy(r);
}

static void test_ring_wraps(void)
{
	struct dp_ring *r;
	uintptr_t next_in = 1, next_out = 1;

	CU_ASSERT_EQUAL_FATAL(dp_ring_create(&r, 4), 0);
	/* 10000 laps with a varying fill level */
	for (int round = 0; round < 40000; round++) {
		int n = 1 + round % 4;
		for (int k = 0; k < n; k++)
			CU_ASSERT_TRUE(dp_ring_push(r, (void *)next_in++));
		for (int k = 0; k < n; k++)
			CU_ASSERT_EQUAL((uintptr_t)dp_ring_pop(r), next_out++);
	}
	CU_ASSERT_PTR_NULL(dp_ring_pop(r));
	dp_ring_destroy(r);
}

#define PRODUCERS 3
#define PER_PRODUCER 200000u

struct prod {
	struct dp_ring *r;
	uintptr_t id;
};

static void *producer(void *arg)
{
	struct prod *p = arg;
	for (uintptr_t i = 1; i <= PER_PRODUCER; i++) {
		/* value: producer id in the top bits, sequence below */
		void *v = (void *)(p->id << 32 | i);
		while (!dp_ring_push(p->r, v))
			sched_yield();
	}
	return NULL;
}

static void test_ring_mpsc(void)
{
	struct dp_ring *r;
	pthread_t th[PRODUCERS];
	struct prod pr[PRODUCERS];
	uintptr_t last[PRODUCERS] = { 0 };
	uint64_t got = 0, spins = 0;

	CU_ASSERT_EQUAL_FATAL(dp_ring_create(&r, 1024), 0);
	for (int i = 0; i < PRODUCERS; i++) {
		pr[i] = (struct prod){ r, (uintptr_t)i };
		CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, producer, &pr[i]), 0);
	}
	while (got < (uint64_t)PRODUCERS * PER_PRODUCER && spins < 2000000000ull) {
		uintptr_t v = (uintptr_t)dp_ring_pop(r);
		if (!v) {
			spins++;
			continue;
		}
		uintptr_t id = v >> 32, seq = v & 0xffffffffu;
		CU_ASSERT_FATAL(id < PRODUCERS);
		CU_ASSERT_EQUAL(seq, last[id] + 1); /* per-producer FIFO, no loss, no dup */
		last[id] = seq;
		got++;
	}
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(th[i], NULL);
	CU_ASSERT_EQUAL(got, (uint64_t)PRODUCERS * PER_PRODUCER);
	CU_ASSERT_PTR_NULL(dp_ring_pop(r));
	dp_ring_destroy(r);
}

static void test_msg_refs(void)
{
	struct dp_msg *m = dp_msg_new(DP_MSG_REPLY, 10);
	struct dp_sess *s = calloc(1, sizeof *s);

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	atomic_init(&s->refs, 1);
	dp_sess_get(s);
	m->sess = s;
	CU_ASSERT_EQUAL(m->len, 10u);
	dp_msg_free(m); /* drops the message's reference only */
	CU_ASSERT_EQUAL(atomic_load(&s->refs), 1u);
	dp_sess_put(s);   /* the last one frees (ASan checks) */
}

static void test_conn_token(void)
{
	uint64_t t = dp_conn_token(0, 0, 0);
	CU_ASSERT_NOT_EQUAL(t, 0u); /* 0 means "no connection" */
	t = dp_conn_token(63, 16383, 0xdeadbeef);
	CU_ASSERT_EQUAL(dp_token_worker(t), 63u);
	CU_ASSERT_EQUAL(dp_token_slot(t), 16383u);
	CU_ASSERT_EQUAL(dp_token_gen(t), 0xdeadbeefu);
}

static CU_TestInfo ring_tests[] = {
	{ "bad_cap", test_ring_bad_cap },
	{ "fifo_full_empty", test_ring_fifo_full_empty },
	{ "wraps", test_ring_wraps },
	{ "mpsc", test_ring_mpsc },
	{ "msg_refs", test_msg_refs },
	{ "conn_token", test_conn_token },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "ring", NULL, NULL, NULL, NULL, ring_tests },
	CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	return tn_test_main(argc, argv, suites);
}
