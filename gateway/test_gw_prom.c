/* test_gw_prom.c — the exposition text as Prometheus reads it: HELP and
 * TYPE lines, labels escaped, histograms cumulative with +Inf, _sum and
 * _count, bounds written without exponents. */
#include <stdlib.h>
#include <string.h>

#include "gw_prom.h"
#include "kpg_cunit.h"

static char *text(struct gw_prom *p)
{
	size_t len = 0;
	char *t = gw_prom_take(p, &len);

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_EQUAL(strlen(t), len);
	return t;
}

static void test_family_and_samples(void)
{
	struct gw_prom p;
	char *t;

	gw_prom_init(&p);
	gw_prom_family(&p, "kpgate_decisions_total", "counter", "Overall decisions.");
	gw_prom_u64(&p, "kpgate_decisions_total", 18446744073709551615ull,
		    "decision", "accept", NULL);
	gw_prom_u64(&p, "kpgate_decisions_total", 0, "decision", "reject", NULL);
	gw_prom_family(&p, "kpgate_draining", "gauge", "1 while draining.");
	gw_prom_i64(&p, "kpgate_draining", -1, NULL);
	gw_prom_f64(&p, "kpgate_x", 0.25, "a", "1", "b", "2", NULL);
	t = text(&p);
	CU_ASSERT_STRING_EQUAL(t,
		"# HELP kpgate_decisions_total Overall decisions.\n"
		"# TYPE kpgate_decisions_total counter\n"
		"kpgate_decisions_total{decision=\"accept\"} 18446744073709551615\n"
		"kpgate_decisions_total{decision=\"reject\"} 0\n"
		"# HELP kpgate_draining 1 while draining.\n"
		"# TYPE kpgate_draining gauge\n"
		"kpgate_draining -1\n"
		"kpgate_x{a=\"1\",b=\"2\"} 0.25\n");
	free(t);
}

static void test_escaping(void)
{
	struct gw_prom p;
	char *t;

	gw_prom_init(&p);
	gw_prom_family(&p, "m", "gauge", "back\\slash \"quoted\"\nnext");
	gw_prom_u64(&p, "m", 1, "station", "a\"b\\c\nd", NULL);
	t = text(&p);
	CU_ASSERT_STRING_EQUAL(t,
		"# HELP m back\\\\slash \"quoted\"\\nnext\n"
		"# TYPE m gauge\n"
		"m{station=\"a\\\"b\\\\c\\nd\"} 1\n");
	free(t);
}

static void test_histogram(void)
{
	static const double le[] = { 0.0000005, 0.001, 2 };
	static const uint64_t count[] = { 3, 0, 2, 1 };
	struct gw_prom p;
	char *t;

	gw_prom_init(&p);
	gw_prom_histogram(&p, "lat_seconds", le, 3, count, 1.5, "path", "warm");
	gw_prom_histogram(&p, "bare_seconds", le, 3, count, 0, NULL, NULL);
	t = text(&p);
	CU_ASSERT_STRING_EQUAL(t,
		"lat_seconds_bucket{path=\"warm\",le=\"0.0000005\"} 3\n"
		"lat_seconds_bucket{path=\"warm\",le=\"0.001\"} 3\n"
		"lat_seconds_bucket{path=\"warm\",le=\"2\"} 5\n"
		"lat_seconds_bucket{path=\"warm\",le=\"+Inf\"} 6\n"
		"lat_seconds_sum{path=\"warm\"} 1.5\n"
		"lat_seconds_count{path=\"warm\"} 6\n"
		"bare_seconds_bucket{le=\"0.0000005\"} 3\n"
		"bare_seconds_bucket{le=\"0.001\"} 3\n"
		"bare_seconds_bucket{le=\"2\"} 5\n"
		"bare_seconds_bucket{le=\"+Inf\"} 6\n"
		"bare_seconds_sum 0\n"
		"bare_seconds_count 6\n");
	free(t);
}

static void test_large_page(void)
{
	struct gw_prom p;
	char *t;

	gw_prom_init(&p);
	for (int i = 0; i < 20000; i++)
		gw_prom_u64(&p, "kpgate_station_requests_total", (uint64_t)i,
			    "station", "scanner-with-a-longish-name", NULL);
	t = text(&p);
	CU_ASSERT(strlen(t) > 20000 * 60);
	free(t);
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "families and samples", test_family_and_samples },
		{ "HELP and label values escaped", test_escaping },
		{ "histogram cumulative with +Inf, _sum, _count", test_histogram },
		{ "a page of a megabyte grows its buffer", test_large_page },
		{ NULL, NULL },
	};

	return kpg_cunit_run("gateway/prom", tests, NULL, NULL);
}
