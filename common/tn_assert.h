/* common/tn_assert.h: three assertion tiers (STYLE.md rule 7).
 *
 * TN_ASSERT           always on, production too: data is at stake.
 * TN_ASSERT_HOT       hot loops; on when built with -Dassert_hot=true (CI, sim).
 * TN_ASSERT_EXPENSIVE O(n) walks; on only with -Dassert_expensive=true.
 * A disabled tier becomes (void)sizeof(cond): it still type-checks.
 */
#ifndef TN_ASSERT_H
#define TN_ASSERT_H

#include <stdio.h>
#include <stdlib.h>

#define TN_STATIC_ASSERT(c, msg) _Static_assert(c, msg)

__attribute__((noreturn, cold)) static inline void tn_assert_fail(const char *cond,
								  const char *file, int line)
{
	fprintf(stderr, "tern: assertion failed: %s (%s:%d)\n", cond, file, line);
	abort();
}

#define TN_ASSERT(c) ((c) ? (void)0 : tn_assert_fail(#c, __FILE__, __LINE__))

#ifdef TN_ASSERT_HOT_ON
#define TN_ASSERT_HOT(c) TN_ASSERT(c)
#else
#define TN_ASSERT_HOT(c) ((void)sizeof(c))
#endif

#ifdef TN_ASSERT_EXPENSIVE_ON
#define TN_ASSERT_EXPENSIVE(c) TN_ASSERT(c)
#else
#define TN_ASSERT_EXPENSIVE(c) ((void)sizeof(c))
#endif

#define TN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define TN_MAX(a, b) ((a) > (b) ? (a) : (b))
#define TN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define TN_UNUSED __attribute__((unused))

#endif
