/* tests/lib/tn_test.h: a CUnit main for every unit binary.
 *
 *   static CU_TestInfo tests[] = { { "name", fn }, CU_TEST_INFO_NULL };
 *   static CU_SuiteInfo suites[] = { { "wal", NULL, NULL, NULL, NULL, tests }, CU_SUITE_INFO_NULL };
 *   int main(int argc, char **argv) { return tn_test_main(argc, argv, suites); }
 *
 * Flags: -l lists suites and tests; -s SUITE and -t TEST narrow the run.
 * Prints CUnit's run summary; the exit status is the number of failures
 * (1 if no test ran at all, so an empty run never passes).
 */
#ifndef TN_TEST_H
#define TN_TEST_H

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static inline int tn_test_main(int argc, char **argv, CU_SuiteInfo *suites)
{
	const char *only_suite = NULL, *only_test = NULL;
	int list = 0, c;
	while ((c = getopt(argc, argv, "ls:t:")) != -1) {
		if (c == 'l')
			list = 1;
		else if (c == 's')
			only_suite = optarg;
		else if (c == 't')
			only_test = optarg;
		else
			return 2;
	}
	if (list) {
		for (CU_SuiteInfo *s = suites; s->pName; s++)
			for (CU_TestInfo *t = s->pTests; t->pName; t++)
				printf("%s %s\n", s->pName, t->pName);
		return 0;
	}
	if (CU_initialize_registry() != CUE_SUCCESS || CU_register_suites(suites) != CUE_SUCCESS)
		return 2;
	CU_basic_set_mode(CU_BRM_VERBOSE);
	if (only_suite) {
		CU_pSuite s = CU_get_suite(only_suite);
		if (!s)
			return 2;
		if (only_test) {
			CU_pTest t = CU_get_test(s, only_test);
			if (!t)
				return 2;
			CU_basic_run_test(s, t);
		} else {
			CU_basic_run_suite(s);
		}
	} else {
		CU_basic_run_tests();
	}
	unsigned ran = CU_get_number_of_tests_run();
	unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	int rc = ran == 0 ? 1 : (int)(CU_get_number_of_tests_failed() ? CU_get_number_of_tests_failed() : (failed ? 1 : 0));
	printf("\n%u passed, %u failed\n", ran - CU_get_number_of_tests_failed(),
	       CU_get_number_of_tests_failed());
	CU_cleanup_registry();
	return rc;
}

#endif
