/* kpg_cunit.h — the one main() every CUnit test program shares: runs the
 * listed tests as one suite and exits non-zero on any failure. */
#ifndef KPG_CUNIT_H
#define KPG_CUNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <CUnit/Basic.h>

struct kpg_cunit_test {
	const char *name;
	void (*fn)(void);
};

static inline int kpg_cunit_run(const char *suite_name,
				const struct kpg_cunit_test *tests,
				int (*setup)(void), int (*teardown)(void))
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	CU_pSuite s = CU_add_suite(suite_name, setup, teardown);
	if (s == NULL)
		return 2;
	for (const struct kpg_cunit_test *t = tests; t->name; t++)
		if (CU_add_test(s, t->name, t->fn) == NULL)
			return 2;
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned failed = CU_get_number_of_failures() +
			  CU_get_number_of_suites_failed();
	unsigned ran = CU_get_number_of_tests_run();
	CU_cleanup_registry();
	if (ran == 0) {
		fprintf(stderr, "%s: no test ran\n", suite_name);
		return 1;
	}
	return failed ? 1 : 0;
}

#endif
