/* Aggregation and verdict bookkeeping: the most severe decision wins. */
#include <string.h>

#include "kpg_cunit.h"
#include "kpg_verdict.h"

static void test_most_severe_wins(void)
{
	struct kpg_verdicts vs = { 0 };

	kpg_verdict_add(&vs, "a", KPG_ACCEPT, 0, "ok");
	CU_ASSERT_EQUAL(kpg_decision_aggregate(&vs), KPG_ACCEPT);
	kpg_verdict_add(&vs, "b", KPG_REFER, 1000, "inspect");
	CU_ASSERT_EQUAL(kpg_decision_aggregate(&vs), KPG_REFER);
	kpg_verdict_add(&vs, "c", KPG_REJECT, 1, "forged");
	kpg_verdict_add(&vs, "d", KPG_ACCEPT, 0, "ok");
	CU_ASSERT_EQUAL(kpg_decision_aggregate(&vs), KPG_REJECT);
	CU_ASSERT_EQUAL(vs.n, 4);
}

static void test_empty_and_undecided_never_accept(void)
{
	struct kpg_verdicts vs = { 0 };

	CU_ASSERT_EQUAL(kpg_decision_aggregate(&vs), KPG_DECISION_NONE);
	kpg_verdict_add(&vs, "a", KPG_ACCEPT, 0, "ok");
	kpg_verdict_add(&vs, "b", KPG_DECISION_NONE, 0, "could not decide");
	CU_ASSERT_EQUAL(kpg_decision_aggregate(&vs), KPG_REJECT);
}

static void test_full_list_keeps_severest(void)
{
	struct kpg_verdicts vs = { 0 };

	for (unsigned i = 0; i < KPG_VERDICTS_MAX + 5; i++)
		kpg_verdict_add(&vs, "a", KPG_ACCEPT, 0, "ok %u", i);
	CU_ASSERT_EQUAL(vs.n, KPG_VERDICTS_MAX);
	kpg_verdict_add(&vs, "late", KPG_REJECT, 3, "revoked");
	CU_ASSERT_EQUAL(vs.n, KPG_VERDICTS_MAX);
	CU_ASSERT_EQUAL(kpg_decision_aggregate(&vs), KPG_REJECT);
	kpg_verdict_add(&vs, "later", KPG_ACCEPT, 0, "ok");
	CU_ASSERT_EQUAL(kpg_decision_aggregate(&vs), KPG_REJECT);
}

static void test_detail_cut_on_character(void)
{
	struct kpg_verdicts vs = { 0 };
	char name[200];
	size_t len;

	/* "é" is two bytes: a long run of them must not be cut in half. */
	for (size_t i = 0; i + 2 < sizeof(name); i += 2)
		memcpy(name + i, "\xc3\xa9", 2);
	name[sizeof(name) - 2] = '\0';
	kpg_verdict_add(&vs, "a", KPG_ACCEPT, 0, "x%s", name);
	len = strlen(vs.v[0].detail);
	CU_ASSERT(len < KPG_DETAIL_MAX);
	CU_ASSERT(len % 2 == 1);            /* "x" plus whole characters */
	CU_ASSERT((unsigned char)vs.v[0].detail[len - 1] == 0xa9);
}

static void test_names(void)
{
	CU_ASSERT_STRING_EQUAL(kpg_decision_name(KPG_REFER), "refer");
	CU_ASSERT_STRING_EQUAL(kpg_reason_name(KPG_R_KEY_REVOKED), "key_revoked");
	CU_ASSERT_STRING_EQUAL(kpg_reason_name(12345), "plugin");
	CU_ASSERT_STRING_EQUAL(kpg_reason_name(1102), "certificate_expired");
	CU_ASSERT_STRING_EQUAL(kpg_error_name(KPG_ERR_CLOCK_SKEW), "clock_skew");
	for (unsigned r = 0; r < KPG_R__COUNT; r++)
		CU_ASSERT_PTR_NOT_NULL(kpg_reason_name(r));
	for (unsigned e = 0; e < KPG_ERR__COUNT; e++)
		CU_ASSERT_PTR_NOT_NULL(kpg_error_name(e));
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "most severe decision wins", test_most_severe_wins },
		{ "empty or undecided never accepts", test_empty_and_undecided_never_accept },
		{ "a full list keeps the severest", test_full_list_keeps_severest },
		{ "detail cut on a character boundary", test_detail_cut_on_character },
		{ "names", test_names },
		{ NULL, NULL },
	};
	return kpg_cunit_run("verdict", tests, NULL, NULL);
}
