/* The physical plugin, loaded from its built .so through the host: parcel
 * count, gross mass at its tolerance and hard limit to the milligram, seal
 * matching, missing measurements and config errors. */
#include <stdint.h>
#include <string.h>

#include "plugin_test.h"

static struct kpg_chain *chain(const char *body)
{
	struct pt t;

	if (pt_build(&t, "physical", body) < 0)
		fprintf(stderr, "\n  %s\n", t.err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t.chain);
	return t.chain;
}

#define S(text) ((struct kpg_str){ text, sizeof(text) - 1 })

/* 50.00 ct in 2 parcels sealed "KP-0042" and "kp-0043": 10 g of stones,
 * nothing measured yet. */
static const struct kpg_str seals[] = { S("KP-0042"), S(" kp-0043 ") };

static void fixture(struct pt_cert *f)
{
	pt_cert_init(f, "ZA", 5000, 20260101);
	f->c.parcels = 2;
	f->c.n_seals = 2;
	f->c.seals = seals;
}

static void expect_f(const struct kpg_chain *c, const struct pt_cert *f,
		     enum kpg_decision d, uint32_t reason, const char *detail)
{
	CU_ASSERT(pt_is(kpg_ptest_eval(c, &f->scan), d, reason, detail));
}

static void expect_mass(const struct kpg_chain *c, uint64_t mg,
			enum kpg_decision d, uint32_t reason, const char *detail)
{
	struct pt_cert f;

	fixture(&f);
	f.m.has_gross_mass = true;
	f.m.gross_mass_mg = mg;
	expect_f(c, &f, d, reason, detail);
}

static void test_parcel_count(void)
{
	struct kpg_chain *c = chain("");
	struct pt_cert f;

	fixture(&f);
	f.m.has_parcel_count = true;
	f.m.parcel_count = 2;
	expect_f(c, &f, KPG_ACCEPT, 1700, "parcels match");
	f.m.parcel_count = 1;
	expect_f(c, &f, KPG_REFER, 1701, "1 parcels counted, certificate says 2");
	f.m.parcel_count = 3;
	expect_f(c, &f, KPG_REFER, 1701, "3 parcels counted, certificate says 2");
	kpg_chain_delete(c);
}

static void test_mass_tolerance_in_mg(void)
{
	/* expected 10 000 mg of stones + 2 x 1 500 mg of packaging */
	struct kpg_chain *c = chain("packaging_mg = 1500; tolerance_mg = 100;");

	expect_mass(c, 13000, KPG_ACCEPT, 1700, "mass match");
	expect_mass(c, 13100, KPG_ACCEPT, 1700, NULL);
	expect_mass(c, 12900, KPG_ACCEPT, 1700, NULL);
	expect_mass(c, 13101, KPG_REFER, 1702,
		    "gross 13.101 g, expected 13.000 g +/-0.100 g");
	expect_mass(c, 12899, KPG_REFER, 1702,
		    "gross 12.899 g, expected 13.000 g +/-0.100 g");
	/* no hard limit: never a reject, however far */
	expect_mass(c, 0, KPG_REFER, 1702, NULL);
	expect_mass(c, UINT64_MAX, KPG_REFER, 1702, NULL);
	kpg_chain_delete(c);
}

static void test_mass_tolerance_in_percent(void)
{
	/* 1.50 % of 13 000 mg is 195 mg exactly; the mg floor is lower */
	struct kpg_chain *c = chain(
		"packaging_mg = 1500; tolerance_percent = \"1.50\"; tolerance_mg = 20;");
	struct kpg_chain *exact = chain("");

	expect_mass(c, 13195, KPG_ACCEPT, 1700, NULL);
	expect_mass(c, 12805, KPG_ACCEPT, 1700, NULL);
	expect_mass(c, 13196, KPG_REFER, 1702,
		    "gross 13.196 g, expected 13.000 g +/-0.195 g");
	expect_mass(c, 12804, KPG_REFER, 1702, NULL);
	/* no tolerance set: only the exact mass passes */
	expect_mass(exact, 10000, KPG_ACCEPT, 1700, NULL);
	expect_mass(exact, 10001, KPG_REFER, 1702,
		    "gross 10.001 g, expected 10.000 g +/-0.000 g");
	expect_mass(exact, 9999, KPG_REFER, 1702, NULL);
	kpg_chain_delete(exact);
	kpg_chain_delete(c);
}

static void test_mass_larger_tolerance_wins(void)
{
	/* 0.5 % of 10 000 mg is 50 mg; the 80 mg floor is larger */
	struct kpg_chain *c = chain("tolerance_percent = \"0.5\"; tolerance_mg = 80;");

	expect_mass(c, 10080, KPG_ACCEPT, 1700, NULL);
	expect_mass(c, 10081, KPG_REFER, 1702,
		    "gross 10.081 g, expected 10.000 g +/-0.080 g");
	kpg_chain_delete(c);

	/* and here the percentage is: 0.5 % of 10 000 mg is 50 mg */
	c = chain("tolerance_percent = \"0.5\"; tolerance_mg = 10;");
	expect_mass(c, 9950, KPG_ACCEPT, 1700, NULL);
	expect_mass(c, 9949, KPG_REFER, 1702, NULL);
	kpg_chain_delete(c);
}

static void test_mass_hard_limit_rejects(void)
{
	struct kpg_chain *c = chain(
		"tolerance_mg = 100; reject_percent = \"5\"; reject_mg = 400;");

	/* limit: the larger of 5 % (500 mg) and 400 mg */
	expect_mass(c, 10100, KPG_ACCEPT, 1700, NULL);
	expect_mass(c, 10101, KPG_REFER, 1702, NULL);
	expect_mass(c, 10500, KPG_REFER, 1702, NULL);
	expect_mass(c, 10501, KPG_REJECT, 1703,
		    "gross 10.501 g, expected 10.000 g: beyond limit +/-0.500 g");
	expect_mass(c, 9500, KPG_REFER, 1702, NULL);
	expect_mass(c, 9499, KPG_REJECT, 1703, NULL);
	kpg_chain_delete(c);
}

static void test_seal(void)
{
	struct kpg_chain *c = chain("");
	struct pt_cert f;

	fixture(&f);
	f.m.has_seal = true;
	f.m.seal_number = S("KP-0042");
	expect_f(c, &f, KPG_ACCEPT, 1700, "seal match");
	f.m.seal_number = S("  Kp-0043\t");          /* trimmed, any case */
	expect_f(c, &f, KPG_ACCEPT, 1700, NULL);
	f.m.seal_number = S("KP-00430");
	expect_f(c, &f, KPG_REFER, 1704, "seal \"KP-00430\" not on certificate");
	f.m.seal_number = S("KP-004");
	expect_f(c, &f, KPG_REFER, 1704, NULL);
	f.m.seal_number = S("KP 0042");
	expect_f(c, &f, KPG_REFER, 1704, NULL);
	f.m.seal_number = S("   ");
	expect_f(c, &f, KPG_REFER, 1704, NULL);
	/* a long seal is quoted cut to 32 bytes, on a UTF-8 character */
	f.m.seal_number = S("SEAL-\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
			    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
	expect_f(c, &f, KPG_REFER, 1704,
		 "seal \"SEAL-\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\" not on certificate");
	f.c.n_seals = 0;
	f.m.seal_number = S("KP-0042");
	expect_f(c, &f, KPG_REFER, 1704,
		 "seal \"KP-0042\" not on certificate (none listed)");
	kpg_chain_delete(c);
}

static void test_missing_measurements(void)
{
	struct kpg_chain *lax = chain("");
	struct kpg_chain *strict = chain("require_measurements = true;");
	struct pt_cert f;

	fixture(&f);
	expect_f(lax, &f, KPG_DECISION_NONE, 0, "");
	expect_f(strict, &f, KPG_REFER, 1705, "not measured: parcels mass seal");
	f.scan.measurement = NULL;
	expect_f(lax, &f, KPG_DECISION_NONE, 0, "");
	expect_f(strict, &f, KPG_REFER, 1705, NULL);

	/* a certificate without seals needs no seal read */
	fixture(&f);
	f.c.n_seals = 0;
	f.m.has_parcel_count = true;
	f.m.parcel_count = 2;
	f.m.has_gross_mass = true;
	f.m.gross_mass_mg = 10000;
	expect_f(strict, &f, KPG_ACCEPT, 1700, "parcels mass match");
	f.c.n_seals = 2;
	expect_f(strict, &f, KPG_REFER, 1705, "not measured: seal");
	expect_f(lax, &f, KPG_ACCEPT, 1700, "parcels mass match");
	kpg_chain_delete(strict);
	kpg_chain_delete(lax);
}

static void test_worst_finding_first(void)
{
	struct kpg_chain *c = chain("tolerance_mg = 10; reject_mg = 100;");
	struct pt_cert f;

	fixture(&f);
	f.m.has_parcel_count = true;
	f.m.parcel_count = 3;
	f.m.has_gross_mass = true;
	f.m.gross_mass_mg = 10050;
	f.m.has_seal = true;
	f.m.seal_number = S("KP-0042");
	expect_f(c, &f, KPG_REFER, 1701,
		 "3 parcels counted, certificate says 2 +more");
	f.m.gross_mass_mg = 10101;
	expect_f(c, &f, KPG_REJECT, 1703,
		 "gross 10.101 g, expected 10.000 g: beyond limit +/-0.100 g +more");
	f.m.parcel_count = 2;
	f.m.gross_mass_mg = 10000;
	expect_f(c, &f, KPG_ACCEPT, 1700, "parcels mass seal match");
	kpg_chain_delete(c);
}

static void test_huge_certificate(void)
{
	struct kpg_chain *c = chain("packaging_mg = 1000000000000L; tolerance_percent = \"100\";");
	struct pt_cert f;

	/* expected mass beyond 64 bits: computed in 128, shown clamped */
	fixture(&f);
	f.c.total_carats_centi = UINT64_MAX;
	f.c.parcels = UINT32_MAX;
	f.m.has_gross_mass = true;
	f.m.gross_mass_mg = UINT64_MAX;
	expect_f(c, &f, KPG_ACCEPT, 1700, NULL);
	kpg_chain_delete(c);
}

static void expect_refused(const char *body, const char *why)
{
	CU_ASSERT(pt_refused("physical", body, why));
}

static void test_config_errors(void)
{
	expect_refused("tolerance = 5;", "tolerance");
	expect_refused("require_measurements = 1;", "true or false");
	expect_refused("packaging_mg = -1;", "packaging_mg");
	expect_refused("packaging_mg = \"5\";", "must be an integer");
	expect_refused("tolerance_mg = 1.5;", "must be an integer");
	expect_refused("tolerance_mg = 1000000000001L;", "tolerance_mg");
	expect_refused("tolerance_percent = 1;", "must be a string");
	expect_refused("tolerance_percent = \"100.01\";", "100.01");
	expect_refused("tolerance_percent = \"0.125\";", "0.125");
	expect_refused("tolerance_percent = \"-1\";", "-1");
	expect_refused("tolerance_percent = \"2\"; reject_percent = \"1.99\";",
		       "'reject_percent' is tighter");
	expect_refused("tolerance_mg = 100; reject_mg = 99;",
		       "'reject_mg' is tighter");
	/* equal limits, and limits in the other unit, are fine */
	kpg_chain_delete(chain("tolerance_mg = 100; reject_mg = 100;"));
	kpg_chain_delete(chain("tolerance_mg = 100; reject_percent = \"0\";"));
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "parcel count", test_parcel_count },
		{ "mass tolerance in mg, +/-1 mg", test_mass_tolerance_in_mg },
		{ "mass tolerance in percent, +/-1 mg", test_mass_tolerance_in_percent },
		{ "the larger tolerance wins", test_mass_larger_tolerance_wins },
		{ "beyond the hard limit: reject", test_mass_hard_limit_rejects },
		{ "seal trimmed, case-insensitive", test_seal },
		{ "missing measurements", test_missing_measurements },
		{ "the worst finding is named", test_worst_finding_first },
		{ "huge certificate does not overflow", test_huge_certificate },
		{ "config errors name the setting", test_config_errors },
		{ NULL, NULL },
	};

	return kpg_cunit_run("plugins/physical", tests, pt_setup, pt_teardown);
}
