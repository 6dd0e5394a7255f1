/* test_lg_hist.c — the latency histogram keeps every value within one
 * bucket (under 1 % above it), reports exact small values, min and max,
 * and merges. */
#include <stdlib.h>

#include "kpg_cunit.h"
#include "lg_hist.h"

static struct lg_hist h, h2;

static void test_small_values_exact(void)
{
	lg_hist_reset(&h);
	for (uint64_t v = 1; v <= 100; v++)
		lg_hist_add(&h, v);
	CU_ASSERT_EQUAL(h.count, 100);
	CU_ASSERT_EQUAL(lg_hist_quantile(&h, 0.5), 50);
	CU_ASSERT_EQUAL(lg_hist_quantile(&h, 0.99), 99);
	CU_ASSERT_EQUAL(h.min, 1);
	CU_ASSERT_EQUAL(h.max, 100);
	CU_ASSERT_DOUBLE_EQUAL(lg_hist_mean(&h), 50.5, 1e-9);
}

static void test_bucket_bounds(void)
{
	/* Every value lands in a bucket whose top is >= it and < 1/128 above. */
	uint64_t v = 1;

	for (int i = 0; i < 200000; i++) {
		uint32_t b = lg_hist_index(v);
		uint64_t hi = lg_hist_bucket_high(b);

		CU_ASSERT_TRUE_FATAL(b < LG_HIST_BUCKETS);
		CU_ASSERT_TRUE_FATAL(hi >= v);
		CU_ASSERT_TRUE_FATAL((double)(hi - v) <= (double)v / 128.0 + 1e-9);
		v = v + 1 + v / 97;              /* sweep 1 .. ~2^40 */
		if (v >= (1ull << 41))
			break;
	}
}

static void test_percentiles(void)
{
	lg_hist_reset(&h);
	for (uint64_t v = 1; v <= 1000000; v++)
		lg_hist_add(&h, v * 10);         /* 10 ns .. 10 ms */
	CU_ASSERT_DOUBLE_EQUAL((double)lg_hist_quantile(&h, 0.5), 5e6, 5e6 / 100);
	CU_ASSERT_DOUBLE_EQUAL((double)lg_hist_quantile(&h, 0.99), 9.9e6, 9.9e6 / 100);
	CU_ASSERT_DOUBLE_EQUAL((double)lg_hist_quantile(&h, 0.999), 9.99e6, 9.99e6 / 100);
	CU_ASSERT_EQUAL(lg_hist_quantile(&h, 1.0), 10000000);
	CU_ASSERT_TRUE(lg_hist_quantile(&h, 0.9999) <= 10000000);
}

static void test_huge_and_empty(void)
{
	lg_hist_reset(&h);
	CU_ASSERT_EQUAL(lg_hist_quantile(&h, 0.99), 0);
	lg_hist_add(&h, 1ull << 50);
	CU_ASSERT_EQUAL(lg_hist_index(1ull << 50), LG_HIST_BUCKETS - 1);
	CU_ASSERT_EQUAL(lg_hist_quantile(&h, 0.5), 1ull << 50);
}

static void test_merge(void)
{
	lg_hist_reset(&h);
	lg_hist_reset(&h2);
	for (uint64_t v = 1; v <= 50; v++)
		lg_hist_add(&h, v);
	for (uint64_t v = 51; v <= 100; v++)
		lg_hist_add(&h2, v);
	lg_hist_merge(&h, &h2);
	CU_ASSERT_EQUAL(h.count, 100);
	CU_ASSERT_EQUAL(h.max, 100);
	CU_ASSERT_EQUAL(h.min, 1);
	CU_ASSERT_EQUAL(lg_hist_quantile(&h, 0.9), 90);
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "small values are exact", test_small_values_exact },
		{ "buckets are within 1/128 of their values", test_bucket_bounds },
		{ "percentiles of a uniform spread", test_percentiles },
		{ "huge values and an empty histogram", test_huge_and_empty },
		{ "merge", test_merge },
		{ NULL, NULL },
	};

	return kpg_cunit_run("loadgen-hist", tests, NULL, NULL);
}
