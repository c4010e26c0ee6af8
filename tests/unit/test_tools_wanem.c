/* tests/unit/test_tools_wanem.c. Description: tern-wanem's pure parts:
 * the settings parser, the seeded decisions (same seed, same drops; the loss
 * rate near its setting), the token bucket (serialisation time, tail drop at
 * the queue bound), the due-time heap (order, FIFO among equals, overtaking
 * by jitter and reorder) and the JSON report. Includes the .c file with
 * WANEM_NO_MAIN; the relay's socket loop runs in tests/integration/test_wan.py. */
#define WANEM_NO_MAIN
#include "tools/tern-wanem.c"

#include "tests/lib/tn_test.h"

static void test_parse(void)
{
	struct wan_params p;
	char bad[64];

	params_default(&p);
	CU_ASSERT_EQUAL(params_apply(&p, "delay=20ms jitter=2ms loss=1% rate=100mbit", bad,
				     sizeof bad), 0);
	CU_ASSERT_EQUAL(p.delay_us, 20000);
	CU_ASSERT_EQUAL(p.jitter_us, 2000);
	CU_ASSERT_EQUAL(p.loss_ppm, 10000);
	CU_ASSERT_EQUAL(p.rate_bps, 100000000);
	CU_ASSERT_FALSE(p.cut);
	/* comments, commas, newlines; cut then heal */
	CU_ASSERT_EQUAL(params_apply(&p, "# a comment\ndup=0.5%,reorder=0.25%\ncut\nqueue=64kb", bad,
				     sizeof bad), 0);
	CU_ASSERT_EQUAL(p.dup_ppm, 5000);
	CU_ASSERT_EQUAL(p.reorder_ppm, 2500);
	CU_ASSERT_EQUAL(p.queue_bytes, 65536);
	CU_ASSERT_TRUE(p.cut);
	CU_ASSERT_EQUAL(params_apply(&p, "heal delay=500us", NULL, 0), 0);
	CU_ASSERT_FALSE(p.cut);
	CU_ASSERT_EQUAL(p.delay_us, 500);
	CU_ASSERT_EQUAL(p.jitter_us, 500);     /* clamped to the delay */
	CU_ASSERT_EQUAL(params_apply(&p, "rate=12500kbps", NULL, 0), 0);
	CU_ASSERT_EQUAL(p.rate_bps, 100000000);

	/* errors leave the settings alone and name the word */
	struct wan_params before = p;
	CU_ASSERT_EQUAL(params_apply(&p, "delay=5ms loss=150%", bad, sizeof bad), -EINVAL);
	CU_ASSERT_STRING_EQUAL(bad, "loss=150%");
	CU_ASSERT_EQUAL(memcmp(&p, &before, sizeof p), 0);
	CU_ASSERT_EQUAL(params_apply(&p, "bogus", bad, sizeof bad), -EINVAL);
	CU_ASSERT_STRING_EQUAL(bad, "bogus");
	CU_ASSERT_EQUAL(params_apply(&p, "delay=fast", NULL, 0), -EINVAL);
	CU_ASSERT_EQUAL(params_apply(&p, "delay=100s", NULL, 0), -EINVAL);
	CU_ASSERT_EQUAL(params_apply(&p, "rate=10furlongs", NULL, 0), -EINVAL);
	CU_ASSERT_EQUAL(params_apply(&p, "queue=-1", NULL, 0), -EINVAL);
	CU_ASSERT_EQUAL(memcmp(&p, &before, sizeof p), 0);
	CU_ASSERT_EQUAL(params_apply(&p, "clear", NULL, 0), 0);
	CU_ASSERT_EQUAL(p.delay_us, 0);
	CU_ASSERT_EQUAL(p.rate_bps, 0);
}

/* Run @n frames of @len bytes spaced @gap_us through a fresh direction. */
static void run(struct wan_dir *d, const struct wan_params *p, uint64_t seed, unsigned n,
		uint32_t len, uint64_t gap_us, struct wan_verdict *out)
{
	dir_init(d, seed, 0);
	for (unsigned i = 0; i < n; i++)
		wan_decide(d, p, 1000000 + i * gap_us, len, &out[i]);
}

static void test_seeded_loss(void)
{
	enum { N = 20000 };
	static struct wan_verdict a[N], b[N], c[N];
	struct wan_dir d;
	struct wan_params p;

	params_default(&p);
	CU_ASSERT_EQUAL(params_apply(&p, "delay=20ms jitter=3ms loss=1% dup=0.5%", NULL, 0), 0);
	run(&d, &p, 42, N, 100, 100, a);
	uint64_t lost = d.st.rx_frames, dups = d.st.dup_frames;
	run(&d, &p, 42, N, 100, 100, b);
	CU_ASSERT_EQUAL(memcmp(a, b, sizeof a), 0);     /* same seed, same run */
	run(&d, &p, 43, N, 100, 100, c);
	CU_ASSERT_NOT_EQUAL(memcmp(a, c, sizeof a), 0); /* another seed differs */

	unsigned drops = 0, copies2 = 0;
	for (unsigned i = 0; i < N; i++) {
		if (a[i].copies == 0) {
			CU_ASSERT_EQUAL(a[i].drop, DROP_LOSS);
			drops++;
			continue;
		}
		copies2 += a[i].copies == 2;
		uint64_t now = 1000000 + i * 100ull;
		CU_ASSERT(a[i].due_us[0] >= now + 17000 && a[i].due_us[0] <= now + 23000);
	}
	CU_ASSERT_EQUAL(lost, N);
	CU_ASSERT_EQUAL(dups, copies2);
	/* 1% of 20000 is 200; binomial sd ~14, so 120..280 is far outside chance */
	CU_ASSERT(drops >= 120 && drops <= 280);
	CU_ASSERT(copies2 >= 50 && copies2 <= 150);

	/* cut drops all of them, without touching the coin */
	CU_ASSERT_EQUAL(params_apply(&p, "cut", NULL, 0), 0);
	run(&d, &p, 42, 100, 100, 100, a);
	for (unsigned i = 0; i < 100; i++)
		CU_ASSERT(a[i].copies == 0 && a[i].drop == DROP_CUT);
}

static void test_bucket(void)
{
	struct wan_bucket b = { 0 };
	/* 8 Mbit/s = 1 byte per us; burst 1000 bytes, queue 5000 bytes */
	uint64_t t0 = 1000000;

	CU_ASSERT_EQUAL(bucket_admit(&b, 8000000, 1000, 5000, t0, 1000), t0);   /* burst */
	CU_ASSERT_EQUAL(bucket_admit(&b, 8000000, 1000, 5000, t0, 1000), t0 + 1000);
	CU_ASSERT_EQUAL(bucket_admit(&b, 8000000, 1000, 5000, t0, 1000), t0 + 2000);
	CU_ASSERT_EQUAL(bucket_admit(&b, 8000000, 1000, 5000, t0, 3000), t0 + 5000);
	/* the queue holds 5000 bytes: one more byte is a tail drop */
	CU_ASSERT_EQUAL(bucket_admit(&b, 8000000, 1000, 5000, t0, 1), UINT64_MAX);
	/* 2500 us later 2500 bytes have drained: 2500 fit again */
	CU_ASSERT_EQUAL(bucket_admit(&b, 8000000, 1000, 5000, t0 + 2500, 2500), t0 + 7500);
	CU_ASSERT_EQUAL(bucket_admit(&b, 8000000, 1000, 5000, t0 + 2500, 1), UINT64_MAX);
	/* idle long: full again, but never beyond the burst */
	CU_ASSERT_EQUAL(bucket_admit(&b, 8000000, 1000, 5000, t0 + 60000000, 1000), t0 + 60000000);
	CU_ASSERT_EQUAL(bucket_admit(&b, 8000000, 1000, 5000, t0 + 60000000, 10), t0 + 60000010);
	/* fractions add up: 1 byte every 0.5 us at 16 Mbit/s */
	struct wan_bucket f = { 0 };
	bucket_admit(&f, 16000000, 1, 1000000, t0, 1);
	uint64_t last = 0;
	for (unsigned i = 0; i < 1000; i++)
		last = bucket_admit(&f, 16000000, 1, 1000000, t0 + i / 2, 1);
	CU_ASSERT(last >= t0 + 499 && last <= t0 + 501);
	/* no rate: everything now */
	CU_ASSERT_EQUAL(bucket_admit(&f, 0, 0, 0, t0 + 1000, 60000), t0 + 1000);
}

static void test_rate_in_decide(void)
{
	struct wan_dir d;
	struct wan_params p;
	struct wan_verdict v;
	unsigned queued = 0, dropped = 0;

	params_default(&p);
	/* 1 Mbit/s, 10 ms delay, 10 kB queue: 100 frames of 1000 bytes at once */
	CU_ASSERT_EQUAL(params_apply(&p, "delay=10ms rate=1mbit queue=10kb burst=1000", NULL, 0), 0);
	dir_init(&d, 1, 0);
	uint64_t prev = 0;
	for (unsigned i = 0; i < 100; i++) {
		wan_decide(&d, &p, 5000000, 1000, &v);
		if (v.copies == 0) {
			CU_ASSERT_EQUAL(v.drop, DROP_QUEUE);
			dropped++;
			continue;
		}
		queued++;
		CU_ASSERT(v.due_us[0] >= prev + 8000 || prev == 0);  /* 8 ms per frame */
		prev = v.due_us[0];
	}
	CU_ASSERT_EQUAL(queued, 11);           /* the burst and 10 kB (10240) of queue */
	CU_ASSERT_EQUAL(dropped, 89);
}

static void test_heap_order(void)
{
	struct wan_heap h;
	enum { N = 1000 };

	CU_ASSERT_EQUAL_FATAL(heap_init(&h, N), 0);
	uint64_t rng = 7;
	for (unsigned i = 0; i < N; i++) {
		struct wan_slot *s = heap_take(&h);
		CU_ASSERT_FATAL(s != NULL);
		s->len = i;
		heap_push(&h, s, rng_next(&rng) % 50);    /* many equal due times */
	}
	CU_ASSERT_PTR_NULL(heap_take(&h));            /* bounded: all slots held */
	uint64_t last_due = 0, last_seq = 0;
	for (unsigned i = 0; i < N; i++) {
		const struct wan_slot *top = heap_peek(&h);
		struct wan_slot *s = heap_pop(&h);
		CU_ASSERT_PTR_EQUAL(top, s);
		CU_ASSERT(s->due_us >= last_due);
		if (i && s->due_us == last_due)
			CU_ASSERT(s->seq > last_seq);      /* FIFO among equals */
		last_due = s->due_us;
		last_seq = s->seq;
	}
	CU_ASSERT_PTR_NULL(heap_pop(&h));
	CU_ASSERT_EQUAL(h.nfree, N);
	heap_free(&h);
}

/* Jitter and the reorder coin let a later frame leave first; without them
 * frames leave in arrival order. */
static void test_reorder(void)
{
	enum { N = 2000 };
	static struct wan_verdict v[N];
	struct wan_dir d;
	struct wan_params p;
	unsigned overtakes = 0;

	params_default(&p);
	CU_ASSERT_EQUAL(params_apply(&p, "delay=20ms", NULL, 0), 0);
	run(&d, &p, 5, N, 100, 50, v);
	for (unsigned i = 1; i < N; i++)
		CU_ASSERT(v[i].due_us[0] >= v[i - 1].due_us[0]);
	CU_ASSERT_EQUAL(params_apply(&p, "jitter=2ms", NULL, 0), 0);
	run(&d, &p, 5, N, 100, 50, v);
	for (unsigned i = 1; i < N; i++)
		overtakes += v[i].due_us[0] < v[i - 1].due_us[0];
	CU_ASSERT(overtakes > N / 10);
	CU_ASSERT_EQUAL(params_apply(&p, "jitter=0ms reorder=5%", NULL, 0), 0);
	run(&d, &p, 5, N, 100, 50, v);
	overtakes = 0;
	for (unsigned i = 1; i < N; i++)
		overtakes += v[i].due_us[0] < v[i - 1].due_us[0];
	CU_ASSERT(overtakes >= 50 && overtakes <= 150);
	CU_ASSERT(d.st.reordered >= overtakes);     /* two in a row: one overtake */
}

static void test_json(void)
{
	struct wan_stats st = { .rx_frames = 3, .fwd_bytes = 1500 };
	char buf[2048], small[16];
	struct wan_params p;

	st.drops[DROP_LOSS] = 2;
	st.hist[hist_bucket(20500)]++;       /* 20 ms: in "<32" */
	st.hist[hist_bucket(0)]++;           /* under 1 ms */
	st.hist[hist_bucket(100000000)]++;   /* 100 s: "more" */
	CU_ASSERT(stats_json(&st, buf, sizeof buf) > 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\"rx_frames\":3,"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\"loss\":2,"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\"<32\":1,"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\"<1\":1,"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\"more\":1}}"));
	CU_ASSERT_EQUAL(stats_json(&st, small, sizeof small), -ENOSPC);
	params_default(&p);
	CU_ASSERT_EQUAL(params_apply(&p, "rate=80mbit cut", NULL, 0), 0);
	CU_ASSERT(params_json(&p, buf, sizeof buf) > 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\"queue_bytes\":500000,"));   /* 50 ms at 10 MB/s */
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\"cut\":true"));
}

static CU_TestInfo tests[] = {
	{ "parse", test_parse },
	{ "seeded_loss", test_seeded_loss },
	{ "bucket", test_bucket },
	{ "rate_in_decide", test_rate_in_decide },
	{ "heap_order", test_heap_order },
	{ "reorder", test_reorder },
	{ "json", test_json },
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{ "wanem", NULL, NULL, NULL, NULL, tests },
	CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	return tn_test_main(argc, argv, suites);
}
