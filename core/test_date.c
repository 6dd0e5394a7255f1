/* test_date.c — calendar arithmetic: the dates an officer reads on a
 * certificate must map to the right UTC days, leap years included. */
#include <time.h>

#include "kpg_cunit.h"
#include "kpg_date.h"

static void test_valid_leap_days(void)
{
	CU_ASSERT_TRUE(kpg_date_valid(20240229));   /* divisible by 4 */
	CU_ASSERT_FALSE(kpg_date_valid(20230229));
	CU_ASSERT_TRUE(kpg_date_valid(20000229));   /* divisible by 400 */
	CU_ASSERT_FALSE(kpg_date_valid(19000229));  /* by 100, not 400 */
	CU_ASSERT_FALSE(kpg_date_valid(21000229));
	CU_ASSERT_FALSE(kpg_date_valid(20240230));
}

static void test_valid_month_ends(void)
{
	static const unsigned last[12] = { 31, 28, 31, 30, 31, 30,
					   31, 31, 30, 31, 30, 31 };

	for (unsigned m = 1; m <= 12; m++) {
		uint32_t base = 2023 * 10000 + m * 100;

		CU_ASSERT_TRUE(kpg_date_valid(base + 1));
		CU_ASSERT_TRUE(kpg_date_valid(base + last[m - 1]));
		CU_ASSERT_FALSE(kpg_date_valid(base + last[m - 1] + 1));
		CU_ASSERT_FALSE(kpg_date_valid(base));  /* day 0 */
	}
	CU_ASSERT_FALSE(kpg_date_valid(20230001));  /* month 0 */
	CU_ASSERT_FALSE(kpg_date_valid(20231301));  /* month 13 */
	CU_ASSERT_FALSE(kpg_date_valid(20239901));
}

static void test_valid_range(void)
{
	CU_ASSERT_TRUE(kpg_date_valid(19000101));
	CU_ASSERT_FALSE(kpg_date_valid(18991231));
	CU_ASSERT_TRUE(kpg_date_valid(99991231));
	CU_ASSERT_FALSE(kpg_date_valid(100000101));
	CU_ASSERT_FALSE(kpg_date_valid(0));
	CU_ASSERT_FALSE(kpg_date_valid(UINT32_MAX));
}

static void test_known_instants(void)
{
	CU_ASSERT_EQUAL(kpg_date_to_unix(19700101), 0);
	CU_ASSERT_EQUAL(kpg_date_to_unix(20000301), 951868800);
	CU_ASSERT_EQUAL(kpg_date_to_unix(20241115), 1731628800);
	CU_ASSERT_EQUAL(kpg_date_to_unix(19000101), -2208988800LL);
	CU_ASSERT_EQUAL(kpg_date_to_unix(20230229), INT64_MIN);

	CU_ASSERT_EQUAL(kpg_date_from_unix(0), 19700101);
	CU_ASSERT_EQUAL(kpg_date_from_unix(86399), 19700101);
	CU_ASSERT_EQUAL(kpg_date_from_unix(86400), 19700102);
	/* before the epoch the day must round down, not toward zero */
	CU_ASSERT_EQUAL(kpg_date_from_unix(-1), 19691231);
	CU_ASSERT_EQUAL(kpg_date_from_unix(-86400), 19691231);
	CU_ASSERT_EQUAL(kpg_date_from_unix(-86401), 19691230);
	CU_ASSERT_EQUAL(kpg_date_from_unix(951868799), 20000229);
	CU_ASSERT_EQUAL(kpg_date_from_unix(1709251199), 20240229);
	CU_ASSERT_EQUAL(kpg_date_from_unix(1709251200), 20240301);
}

static void test_out_of_range_instants(void)
{
	CU_ASSERT_EQUAL(kpg_date_from_unix(-2208988801LL), 0);  /* 1899 */
	CU_ASSERT_EQUAL(kpg_date_from_unix(-2208988800LL), 19000101);
	CU_ASSERT_EQUAL(kpg_date_from_unix(253402300799LL), 99991231);
	CU_ASSERT_EQUAL(kpg_date_from_unix(253402300800LL), 0);  /* 10000 */
	CU_ASSERT_EQUAL(kpg_date_from_unix(INT64_MAX), 0);
	CU_ASSERT_EQUAL(kpg_date_from_unix(INT64_MIN), 0);
}

/* Every day of the supported range against glibc's gmtime_r, which the
 * gateway does not use but which is a trustworthy reference here. */
static void test_every_day_matches_gmtime(void)
{
	int64_t t = kpg_date_to_unix(19000101);
	uint32_t prev = 0;
	unsigned bad = 0, days = 0;

	for (; t <= kpg_date_to_unix(99991231); t += 86400, days++) {
		time_t tt = (time_t)t + 43200;  /* midday */
		struct tm tm;
		uint32_t want, got;

		gmtime_r(&tt, &tm);
		want = (uint32_t)(tm.tm_year + 1900) * 10000 +
		       (uint32_t)(tm.tm_mon + 1) * 100 + (uint32_t)tm.tm_mday;
		got = kpg_date_from_unix(t + 43200);
		if (got != want || kpg_date_to_unix(got) != t ||
		    !kpg_date_valid(got) || got <= prev)
			bad++;
		prev = got;
	}
	CU_ASSERT_EQUAL(bad, 0);
	/* 1900-01-01 .. 9999-12-31 inclusive */
	CU_ASSERT_EQUAL(days, 2958464);
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "valid: leap days", test_valid_leap_days },
		{ "valid: month ends", test_valid_month_ends },
		{ "valid: year range", test_valid_range },
		{ "known instants", test_known_instants },
		{ "out of range instants", test_out_of_range_instants },
		{ "every day matches gmtime", test_every_day_matches_gmtime },
		{ NULL, NULL },
	};

	return kpg_cunit_run("date", tests, NULL, NULL);
}
