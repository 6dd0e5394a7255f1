/* The value plugin, loaded from its built .so through the host: band edges
 * to the cent, the most specific band, mixed origin, several lines,
 * overflow-sized numbers and every config error. */
#include <stdint.h>
#include <string.h>

#include "plugin_test.h"

/* The bands most tests run against: one of each specificity. */
static const char bands[] =
	"bands = ( { origin = \"RU\"; hs = \"7102.31\"; min = \"40.00\"; max = \"400.00\"; },\n"
	"          { origin = \"RU\"; min = \"20\"; max = \"300.0\"; },\n"
	"          { hs = \"7102.21\"; min = \"1.00\"; max = \"50.00\"; },\n"
	"          { origin = \"mixed\"; min = \"2.00\"; },\n"
	"          { origin = \"*\"; min = \"5.00\"; max = \"5000.00\"; } );";

static struct kpg_chain *chain(const char *body)
{
	struct pt t;

	if (pt_build(&t, "value", body) < 0)
		fprintf(stderr, "\n  %s\n", t.err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t.chain);
	return t.chain;
}

/* A certificate of origin (NULL: mixed, none listed) with no HS line yet,
 * to which add_line() adds up to four. */
static void fixture(struct pt_cert *p, const char *origin)
{
	static const char *const none[] = { NULL };

	pt_cert_init(p, origin ? origin : "ZZ", 100, 20260101);
	p->c.n_lines = 0;
	if (origin == NULL)
		pt_cert_mixed(p, none);
}

static void add_line(struct pt_cert *p, enum kpg_hs_code hs,
		     uint64_t carats_centi, uint64_t value_cents)
{
	p->lines[p->c.n_lines++] = (struct kpg_hs_line){
		.hs_code = hs, .carats_centi = carats_centi,
		.value_usd_cents = value_cents };
}

static void expect_f(const struct kpg_chain *c, const struct pt_cert *p,
		     enum kpg_decision d, uint32_t reason, const char *detail)
{
	CU_ASSERT(pt_is(kpg_ptest_eval(c, &p->scan), d, reason, detail));
}

/* One line of origin and hs; carats and value in hundredths. */
static void expect(const struct kpg_chain *c, const char *origin,
		   enum kpg_hs_code hs, uint64_t carats_centi, uint64_t cents,
		   enum kpg_decision d, uint32_t reason, const char *detail)
{
	struct pt_cert p;

	fixture(&p, origin);
	add_line(&p, hs, carats_centi, cents);
	expect_f(c, &p, d, reason, detail);
}

static void test_band_edges_to_the_cent(void)
{
	struct kpg_chain *c = chain(bands);

	/* 1.00 ct: the value in cents is the price in cents per carat. */
	expect(c, "RU", KPG_HS_7102_31, 100, 4000, KPG_ACCEPT, 1600,
	       "within 40.00-400.00 (RU 7102.31)");
	expect(c, "RU", KPG_HS_7102_31, 100, 3999, KPG_REFER, 1601,
	       "line 1 7102.31 US$39.99/ct below 40.00-400.00 (RU 7102.31)");
	expect(c, "RU", KPG_HS_7102_31, 100, 40000, KPG_ACCEPT, 1600,
	       "within 40.00-400.00 (RU 7102.31)");
	expect(c, "RU", KPG_HS_7102_31, 100, 40001, KPG_REFER, 1602,
	       "line 1 7102.31 US$400.01/ct above 40.00-400.00 (RU 7102.31)");

	/* 3.00 ct: the edges are 120.00 and 1200.00 of value; a cent off is
	 * a third of a cent per carat, still outside. */
	expect(c, "RU", KPG_HS_7102_31, 300, 12000, KPG_ACCEPT, 1600, NULL);
	expect(c, "RU", KPG_HS_7102_31, 300, 11999, KPG_REFER, 1601,
	       "line 1 7102.31 US$39.99/ct below 40.00-400.00 (RU 7102.31)");
	expect(c, "RU", KPG_HS_7102_31, 300, 120000, KPG_ACCEPT, 1600, NULL);
	/* 400.0033/ct is shown rounded up, never as "400.00 above 400.00" */
	expect(c, "RU", KPG_HS_7102_31, 300, 120001, KPG_REFER, 1602,
	       "line 1 7102.31 US$400.01/ct above 40.00-400.00 (RU 7102.31)");

	/* 0.01 ct of a 0.01 ct parcel: the smallest unit still divides. */
	expect(c, "RU", KPG_HS_7102_31, 1, 40, KPG_ACCEPT, 1600, NULL);
	expect(c, "RU", KPG_HS_7102_31, 1, 39, KPG_REFER, 1601, NULL);
	kpg_chain_delete(c);
}

static void test_most_specific_band_wins(void)
{
	struct kpg_chain *c = chain(bands);

	/* origin alone beats hs alone and "*" */
	expect(c, "RU", KPG_HS_7102_10, 100, 2000, KPG_ACCEPT, 1600,
	       "within 20.00-300.00 (RU)");
	expect(c, "RU", KPG_HS_7102_10, 100, 1999, KPG_REFER, 1601,
	       "line 1 7102.10 US$19.99/ct below 20.00-300.00 (RU)");
	expect(c, "RU", KPG_HS_7102_21, 100, 1000, KPG_REFER, 1601,
	       "line 1 7102.21 US$10.00/ct below 20.00-300.00 (RU)");
	/* hs alone beats "*" */
	expect(c, "ZA", KPG_HS_7102_21, 100, 5000, KPG_ACCEPT, 1600,
	       "within 1.00-50.00 (7102.21)");
	expect(c, "ZA", KPG_HS_7102_21, 100, 5001, KPG_REFER, 1602,
	       "line 1 7102.21 US$50.01/ct above 1.00-50.00 (7102.21)");
	/* "*" for everything else */
	expect(c, "ZA", KPG_HS_7102_31, 100, 500, KPG_ACCEPT, 1600,
	       "within 5.00-5000.00 (*)");
	expect(c, "ZA", KPG_HS_7102_31, 100, 499, KPG_REFER, 1601,
	       "line 1 7102.31 US$4.99/ct below 5.00-5000.00 (*)");
	expect(c, "ZA", KPG_HS_7102_31, 100, 500001, KPG_REFER, 1602, NULL);
	kpg_chain_delete(c);
}

static void test_mixed_origin(void)
{
	struct kpg_chain *c = chain(bands);
	struct kpg_chain *plain = chain(
		"bands = ( { min = \"5.00\"; max = \"5000.00\"; } );");

	/* the "mixed" band has no ceiling */
	expect(c, NULL, KPG_HS_7102_31, 100, 200, KPG_ACCEPT, 1600,
	       "within min 2.00 (mixed)");
	expect(c, NULL, KPG_HS_7102_31, 100, 199, KPG_REFER, 1601,
	       "line 1 7102.31 US$1.99/ct below min 2.00 (mixed)");
	expect(c, NULL, KPG_HS_7102_31, 100, UINT64_MAX / 2, KPG_ACCEPT,
	       1600, NULL);
	/* without a "mixed" band, mixed origin takes "*" */
	expect(plain, NULL, KPG_HS_7102_31, 100, 499, KPG_REFER, 1601,
	       "line 1 7102.31 US$4.99/ct below 5.00-5000.00 (*)");
	expect(plain, NULL, KPG_HS_7102_31, 100, 500, KPG_ACCEPT, 1600, NULL);
	kpg_chain_delete(plain);
	kpg_chain_delete(c);
}

static void test_several_lines(void)
{
	struct kpg_chain *c = chain(bands);
	struct pt_cert f;

	fixture(&f, "RU");
	add_line(&f, KPG_HS_7102_31, 1000, 100000);     /* 100.00/ct */
	add_line(&f, KPG_HS_7102_21, 200, 8000);        /* 40.00/ct, RU band */
	expect_f(c, &f, KPG_ACCEPT, 1600, "lines within their bands");

	/* the first line outside its band is named; more are flagged */
	add_line(&f, KPG_HS_7102_10, 100, 1999);        /* 19.99/ct */
	expect_f(c, &f, KPG_REFER, 1601,
		 "line 3 7102.10 US$19.99/ct below 20.00-300.00 (RU)");
	f.lines[1].value_usd_cents = 60001;             /* 300.005/ct */
	expect_f(c, &f, KPG_REFER, 1602,
		 "line 2 7102.21 US$300.01/ct above 20.00-300.00 (RU) +more");
	kpg_chain_delete(c);
}

static void test_no_band_no_verdict(void)
{
	struct kpg_chain *ru = chain(
		"bands = ( { origin = \"RU\"; min = \"10.00\"; } );");
	struct kpg_chain *none = chain("");
	struct kpg_chain *empty = chain("bands = ();");
	struct pt_cert f;

	expect(ru, "ZA", KPG_HS_7102_31, 100, 1, KPG_DECISION_NONE, 0, "");
	expect(ru, NULL, KPG_HS_7102_31, 100, 1, KPG_DECISION_NONE, 0, "");
	expect(none, "RU", KPG_HS_7102_31, 100, 1, KPG_DECISION_NONE, 0, "");
	expect(empty, "RU", KPG_HS_7102_31, 100, 1, KPG_DECISION_NONE, 0, "");
	expect(ru, "RU", KPG_HS_7102_31, 100, 999, KPG_REFER, 1601, NULL);

	/* no origin listed on an unmixed certificate: only "*" could judge */
	fixture(&f, "RU");
	f.c.n_origins = 0;
	add_line(&f, KPG_HS_7102_31, 100, 1);
	expect_f(ru, &f, KPG_DECISION_NONE, 0, "");
	kpg_chain_delete(empty);
	kpg_chain_delete(none);
	kpg_chain_delete(ru);
}

static void test_huge_numbers_do_not_overflow(void)
{
	struct kpg_chain *c = chain(bands);
	struct pt_cert f;

	expect(c, "ZA", KPG_HS_7102_31, 1, UINT64_MAX, KPG_REFER, 1602, NULL);
	expect(c, "ZA", KPG_HS_7102_31, UINT64_MAX, UINT64_MAX, KPG_REFER,
	       1601, "line 1 7102.31 US$1.00/ct below 5.00-5000.00 (*)");
	expect(c, "ZA", KPG_HS_7102_31, UINT64_MAX / 100, UINT64_MAX / 4,
	       KPG_ACCEPT, 1600, NULL);
	/* a line without carats has no price: refer (the decoder refuses
	 * these, but a plugin must not divide by zero) */
	fixture(&f, "ZA");
	add_line(&f, KPG_HS_7102_31, 0, 100);
	expect_f(c, &f, KPG_REFER, 1603, "line 1 declares no carats");
	kpg_chain_delete(c);
}

static void expect_refused(const char *body, const char *why)
{
	CU_ASSERT(pt_refused("value", body, why));
}

static void test_config_errors(void)
{
	expect_refused("band = ();", "band");
	expect_refused("bands = \"x\";", "must be a list");
	expect_refused("bands = ( \"x\" );", "must be a group");
	expect_refused("bands = ( { origin = \"RU\"; minimum = \"1\"; } );",
		       "minimum");
	expect_refused("bands = ( { origin = \"RUS\"; min = \"1\"; } );", "RUS");
	expect_refused("bands = ( { origin = \"ru\"; min = \"1\"; } );", "\"ru\"");
	expect_refused("bands = ( { origin = 7; min = \"1\"; } );",
		       "must be a string");
	expect_refused("bands = ( { hs = \"7102.39\"; min = \"1\"; } );",
		       "7102.39");
	expect_refused("bands = ( { min = \"10.001\"; } );", "10.001");
	expect_refused("bands = ( { min = \"-1.00\"; } );", "-1.00");
	expect_refused("bands = ( { min = \"1.\"; } );", "\"1.\"");
	expect_refused("bands = ( { min = \"\"; } );", "'min'");
	expect_refused("bands = ( { max = \"1e3\"; } );", "1e3");
	expect_refused("bands = ( { max = 10; } );", "must be a string");
	expect_refused("bands = ( { origin = \"RU\"; } );", "needs 'min', 'max'");
	expect_refused("bands = ( { min = \"10.00\"; max = \"9.99\"; } );",
		       "above its 'max'");
	expect_refused("bands = ( { origin = \"RU\"; hs = \"7102.31\"; min = \"1\"; },\n"
		       "          { origin = \"RU\"; hs = \"7102.31\"; max = \"9\"; } );",
		       "RU 7102.31 is already set at line 2");
	expect_refused("bands = ( { min = \"1\"; },\n { origin = \"*\"; max = \"9\"; } );",
		       "already set");
	/* min equal to max is a band of one price */
	kpg_chain_delete(chain("bands = ( { min = \"10.00\"; max = \"10\"; } );"));
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "band edges to the cent", test_band_edges_to_the_cent },
		{ "the most specific band wins", test_most_specific_band_wins },
		{ "mixed origin: its band, else *", test_mixed_origin },
		{ "several lines: the first outside is named", test_several_lines },
		{ "no band: no verdict", test_no_band_no_verdict },
		{ "huge numbers do not overflow", test_huge_numbers_do_not_overflow },
		{ "config errors name the setting", test_config_errors },
		{ NULL, NULL },
	};

	return kpg_cunit_run("plugins/value", tests, pt_setup, pt_teardown);
}
