/* The example plugin as built out of tree (test_out_of_tree.sh puts it in
 * $KPG_PLUGIN_DIR): it loads through the host and judges by its limit. */
#include <string.h>

#include "kpg_cunit.h"
#include "kpg_plugin_testkit.h"

static void expect(const struct kpg_chain *c, uint64_t centi, enum kpg_decision d,
		   uint32_t reason, const char *detail)
{
	struct kpg_cert cert = { .total_carats_centi = centi };
	struct kpg_scan_view s = { .cert = &cert };
	struct kpg_verdict v = kpg_ptest_eval(c, &s);

	CU_ASSERT_STRING_EQUAL(v.check, "example");
	CU_ASSERT_EQUAL(v.decision, d);
	CU_ASSERT_EQUAL(v.reason, reason);
	CU_ASSERT_STRING_EQUAL(v.detail, detail);
}

static void test_loads_and_judges(void)
{
	struct kpg_plugin_host *h = kpg_ptest_host("EU", NULL);
	struct kpg_chain *c;
	char err[512] = "";

	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	c = kpg_ptest_chain(h, "( { name = \"example\"; max_carats = 5000; } )",
			    err, sizeof(err));
	if (c == NULL)
		fprintf(stderr, "\n  %s\n", err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	expect(c, 500000, KPG_ACCEPT, 9900, "within 5000 ct");
	expect(c, 500001, KPG_REFER, 9901, "5000.01 ct, over 5000 ct");
	kpg_chain_delete(c);

	CU_ASSERT_PTR_NULL(kpg_ptest_chain(h, "( { name = \"example\"; } )", err,
					   sizeof(err)));
	CU_ASSERT_STRING_EQUAL(err, "<config>:1: plugin example: 'max_carats' is required");
	kpg_plugin_host_delete(h);
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "built out of tree, loads and judges", test_loads_and_judges },
		{ NULL, NULL },
	};

	return kpg_cunit_run("plugins/example-out-of-tree", tests, NULL, NULL);
}
