/* The real tn_env: the only clock and randomness source production code uses. */
#include "tn_env.h"

#include <sys/random.h>
#include <time.h>

static uint64_t real_now_ms(struct tn_env *env)
{
	(void)env;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t real_mono_ns(struct tn_env *env)
{
	(void)env;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t real_rand64(struct tn_env *env)
{
	(void)env;
	uint64_t v = 0;
	if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
		v = real_mono_ns(env) * 0x9E3779B97F4A7C15ull; /* UNTESTED: getrandom cannot fail here */
	return v;
}

static struct tn_env real_env = { real_now_ms, real_mono_ns, real_rand64, NULL };

struct tn_env *tn_env_real(void)
{
	return &real_env;
}
