/* test_gw_latency.c — the latency buckets as a dashboard reads them: a
 * latency on a bound counts in that bound's bucket, one tick more in the
 * next, anything past the last bound in the top one, at any TSC rate. */
#include "gw_latency.h"
#include "kpg_cunit.h"

static void test_bounds_rise(void)
{
	for (unsigned i = 1; i < GW_LAT_BOUNDS; i++)
		CU_ASSERT(gw_lat_bound_ns[i] > gw_lat_bound_ns[i - 1]);
	CU_ASSERT_EQUAL(gw_lat_bound_ns[0], 500);
	CU_ASSERT_EQUAL(gw_lat_bound_ns[GW_LAT_BOUNDS - 1], 100000000);
}

static void test_bucket_edges(void)
{
	static const uint64_t rates[] = { 1000000000ull, 2100000000ull, 3600000000ull };

	for (unsigned r = 0; r < 3; r++) {
		uint64_t b[GW_LAT_BOUNDS];

		gw_lat_bounds_ticks(rates[r], b);
		for (unsigned i = 0; i < GW_LAT_BOUNDS; i++) {
			struct gw_lat_hist h = { 0 };

			gw_lat_count(&h, b, b[i]);
			CU_ASSERT_EQUAL(h.bucket[i], 1);
			gw_lat_count(&h, b, b[i] + 1);
			CU_ASSERT_EQUAL(h.bucket[i + 1], 1);
			CU_ASSERT_EQUAL(h.ticks, 2 * b[i] + 1);
		}
	}
}

static void test_ticks_from_ns(void)
{
	uint64_t b[GW_LAT_BOUNDS];

	gw_lat_bounds_ticks(2500000000ull, b);  /* 2.5 GHz: 2.5 ticks per ns */
	CU_ASSERT_EQUAL(b[0], 1250);
	CU_ASSERT_EQUAL(b[GW_LAT_BOUNDS - 1], 250000000ull);
}

static void test_zero_and_huge(void)
{
	struct gw_lat_hist h = { 0 };
	uint64_t b[GW_LAT_BOUNDS];

	gw_lat_bounds_ticks(3000000000ull, b);
	gw_lat_count(&h, b, 0);
	gw_lat_count(&h, b, UINT64_MAX / 2);
	CU_ASSERT_EQUAL(h.bucket[0], 1);
	CU_ASSERT_EQUAL(h.bucket[GW_LAT_BUCKETS - 1], 1);
	CU_ASSERT_STRING_EQUAL(gw_lat_path_name(GW_LAT_WARM), "warm");
	CU_ASSERT_STRING_EQUAL(gw_lat_path_name(GW_LAT_COLD), "cold");
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "bounds rise from 500 ns to 100 ms", test_bounds_rise },
		{ "a bound counts in its bucket, one tick more in the next", test_bucket_edges },
		{ "bounds in ticks follow the TSC rate", test_ticks_from_ns },
		{ "zero and past the last bound", test_zero_and_huge },
		{ NULL, NULL },
	};

	return kpg_cunit_run("gateway/latency", tests, NULL, NULL);
}
