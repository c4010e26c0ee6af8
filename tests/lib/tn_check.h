/* tests/lib/tn_check.h: fail-fast checks for test programs that are not
 * CUnit suites (integration drivers of the client library): print where and
 * exit 1. CHECK_RC names ZooKeeper codes with ternc_strerror(), so include
 * tools/ternc.h first. */
#ifndef TN_CHECK_H
#define TN_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);            \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)
#define CHECK_RC(expr, want)                                                                       \
	do {                                                                                       \
		int rc_ = (expr);                                                                  \
		if (rc_ != (want)) {                                                               \
			fprintf(stderr, "FAIL %s:%d: %s = %d %s, want %s\n", __FILE__, __LINE__,   \
				#expr, rc_, ternc_strerror(rc_), ternc_strerror(want));            \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

#endif
