/* The validity plugin, loaded from its built .so through the host: every
 * rule at its edges, one day either side. */
#include <string.h>

#include "kpg_cunit.h"
#include "kpg_date.h"
#include "kpg_plugin_testkit.h"

static struct kpg_plugin_host *host;

static int setup(void)
{
	host = kpg_ptest_host("EU", NULL);
	return host ? 0 : 1;
}

static int teardown(void)
{
	kpg_plugin_host_delete(host);
	return 0;
}

static struct kpg_chain *chain(const char *section)
{
	return kpg_ptest_plugin_ok(host, "validity", section);
}

static void refused(const char *section, const char *want)
{
	kpg_ptest_refused(host, "validity", section, want);
}

static struct kpg_verdict judge(const struct kpg_chain *c, uint32_t today,
				uint32_t issue, uint32_t expiry)
{
	struct kpg_cert cert = { .issue_date = issue, .expiry_date = expiry };
	struct kpg_scan_view s = { .today = today, .cert = &cert };

	return kpg_ptest_eval(c, &s);
}

static void expect(const struct kpg_chain *c, uint32_t today, uint32_t issue,
		   uint32_t expiry, enum kpg_decision d, uint32_t reason,
		   const char *detail)
{
	struct kpg_verdict v = judge(c, today, issue, expiry);

	CU_ASSERT_STRING_EQUAL(v.check, "validity");
	CU_ASSERT_EQUAL(v.decision, d);
	CU_ASSERT_EQUAL(v.reason, reason);
	CU_ASSERT_STRING_EQUAL(v.detail, detail);
	if (v.decision != d || v.reason != reason || strcmp(v.detail, detail))
		fprintf(stderr, "\n  today %u issue %u expiry %u: %u %u '%s'\n",
			today, issue, expiry, v.decision, v.reason, v.detail);
}

static void test_expiry_edge(void)
{
	struct kpg_chain *c = chain("");

	expect(c, 20250615, 20250101, 20250615, KPG_ACCEPT, 1100, "valid until 2025-06-15");
	expect(c, 20250615, 20250101, 20250614, KPG_REJECT, 1102, "expired 2025-06-14");
	/* Across a month, a year and a leap day. */
	expect(c, 20250301, 20250101, 20250228, KPG_REJECT, 1102, "expired 2025-02-28");
	expect(c, 20240229, 20240101, 20240229, KPG_ACCEPT, 1100, "valid until 2024-02-29");
	expect(c, 20240301, 20240101, 20240229, KPG_REJECT, 1102, "expired 2024-02-29");
	expect(c, 20250101, 20240101, 20241231, KPG_REJECT, 1102, "expired 2024-12-31");
	kpg_chain_delete(c);
}

static void test_issue_edge(void)
{
	struct kpg_chain *c = chain("");

	expect(c, 20250615, 20250615, 20250915, KPG_ACCEPT, 1100, "valid until 2025-09-15");
	expect(c, 20250615, 20250616, 20250915, KPG_REJECT, 1101,
	       "not valid before 2025-06-16");
	expect(c, 20241231, 20250101, 20250915, KPG_REJECT, 1101,
	       "not valid before 2025-01-01");
	/* A one-day certificate is valid on that day only. */
	expect(c, 20250615, 20250615, 20250615, KPG_ACCEPT, 1100, "valid until 2025-06-15");
	expect(c, 20250614, 20250615, 20250615, KPG_REJECT, 1101,
	       "not valid before 2025-06-15");
	expect(c, 20250616, 20250615, 20250615, KPG_REJECT, 1102, "expired 2025-06-15");
	expect(c, 20250615, 20250616, 20250615, KPG_REJECT, 1104,
	       "expiry before issue, issued 2025-06-16");
	kpg_chain_delete(c);
}

static void test_no_limit_by_default(void)
{
	struct kpg_chain *c = chain("");

	expect(c, 20300101, 20200101, 20991231, KPG_ACCEPT, 1100, "valid until 2099-12-31");
	kpg_chain_delete(c);
}

static void test_max_validity_days(void)
{
	struct kpg_chain *c = chain("max_validity_days = 90;");

	/* Issue and expiry days both count: Jan + Feb + Mar 2025 = 90 days. */
	expect(c, 20250201, 20250101, 20250331, KPG_ACCEPT, 1100, "valid until 2025-03-31");
	expect(c, 20250201, 20250101, 20250401, KPG_REFER, 1103,
	       "valid for 91 days, more than 90");
	/* 2024 is a leap year: Jan + Feb + 30 days of March = 90. */
	expect(c, 20240201, 20240101, 20240330, KPG_ACCEPT, 1100, "valid until 2024-03-30");
	expect(c, 20240201, 20240101, 20240331, KPG_REFER, 1103,
	       "valid for 91 days, more than 90");
	/* A date rule that fails outranks the length. */
	expect(c, 20250402, 20250101, 20250401, KPG_REJECT, 1102, "expired 2025-04-01");
	expect(c, 20241231, 20250101, 20250401, KPG_REJECT, 1101,
	       "not valid before 2025-01-01");
	kpg_chain_delete(c);

	c = chain("max_validity_days = 1;");
	expect(c, 20250615, 20250615, 20250615, KPG_ACCEPT, 1100, "valid until 2025-06-15");
	expect(c, 20250615, 20250615, 20250616, KPG_REFER, 1103,
	       "valid for 2 days, more than 1");
	kpg_chain_delete(c);
}

/* The day count agrees with the core's calendar over centuries and leap
 * rules (1900 and 2100 are not leap years, 2000 is): N days is accepted,
 * N + 1 referred, for issue dates spread over 1900..2399. */
static void test_day_count_matches_calendar(void)
{
	static const uint32_t limits[] = { 1, 28, 59, 365, 366, 1461, 36500 };
	char section[64];

	for (unsigned l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
		struct kpg_chain *c;
		unsigned bad = 0;

		snprintf(section, sizeof(section), "max_validity_days = %u;", limits[l]);
		c = chain(section);
		for (int64_t t = kpg_date_to_unix(19000101); t < kpg_date_to_unix(23000101);
		     t += 86400 * 13 + 3600) {
			uint32_t issue = kpg_date_from_unix(t);
			uint32_t last = kpg_date_from_unix(t + 86400LL * (limits[l] - 1));
			uint32_t over = kpg_date_from_unix(t + 86400LL * limits[l]);

			if (over == 0)
				break;
			bad += judge(c, issue, issue, last).decision != KPG_ACCEPT;
			bad += judge(c, issue, issue, over).decision != KPG_REFER;
		}
		CU_ASSERT_EQUAL(bad, 0);
		kpg_chain_delete(c);
	}
}

static void test_config_refused(void)
{
	refused("max_validity_days = 0;",
		"<config>:2: plugin validity: 'max_validity_days' = 0 is out of range [1, 36500]");
	refused("max_validity_days = 36501;",
		"<config>:2: plugin validity: 'max_validity_days' = 36501 is out of range [1, 36500]");
	refused("max_validity_days = \"90\";",
		"<config>:2: plugin validity: 'max_validity_days' must be an integer");
	refused("max_days = 90;", "<config>:2: plugin validity: unknown key 'max_days'");
	kpg_chain_delete(chain("max_validity_days = 36500;"));
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "expiry: today accepted, yesterday rejected", test_expiry_edge },
		{ "issue: today accepted, tomorrow rejected", test_issue_edge },
		{ "no length limit by default", test_no_limit_by_default },
		{ "max_validity_days: N accepted, N + 1 referred", test_max_validity_days },
		{ "day count matches the calendar", test_day_count_matches_calendar },
		{ "bad config refused at its line", test_config_refused },
		{ NULL, NULL },
	};

	return kpg_cunit_run("plugins/validity", tests, setup, teardown);
}
