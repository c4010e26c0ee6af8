/* common/tn_env.h: the injected environment (STYLE rule 13). store/ and
 * consensus/ get time and randomness only through this, so a simulator or a
 * test can drive them with a fake clock. The real one is tn_env_real(). */
#ifndef TN_ENV_H
#define TN_ENV_H

#include <stdint.h>

struct tn_env {
	uint64_t (*now_ms)(struct tn_env *env);   /* wall clock, ms since the epoch */
	uint64_t (*mono_ns)(struct tn_env *env);  /* monotonic, ns */
	uint64_t (*rand64)(struct tn_env *env);
	void *ctx;
};

/* The process-wide real environment (clock_gettime, getrandom). */
struct tn_env *tn_env_real(void);

#endif
