/* test_zones.c — the zones plugin, loaded from its built .so through the
 * plugin host: regime windows to the day, approved, unknown and missing
 * zones, mixed origin, zone list files, and refused configs with file:line.
 * Zone names other than Berberati are examples, not the KP's list. */
#include "plugin_test.h"

enum {
	R_APPROVED = 1400,
	R_MISSING = 1401,
	R_NOT_APPROVED = 1402,
};

/* CAR: Berberati alone first, a longer list later, lifted 15 Nov 2024. */
static const char *const CAR =
	"regimes = (\n"
	"  { participant = \"CF\"; from = \"2016-01-01\"; until = \"2019-06-30\";\n"
	"    zones = [ \"Berberati\" ]; },\n"
	"  { participant = \"CF\"; from = \"2019-07-01\"; until = \"2024-11-14\";\n"
	"    zones = [ \"Berberati\", \"Carnot\", \"Nola\", \"Boda\", \"Gadzi\",\n"
	"              \"Bouar\", \"Baoro\", \"Abba\" ]; zones_file = \"\"; },\n"
	"  { participant = \"ZW\"; from = \"2009-11-05\"; zones = [ \"Murowa\" ]; }\n"
	");";

static struct kpg_verdict judge(const struct pt *t, const char *origin,
				const char *zone, uint32_t today)
{
	struct pt_cert p;

	pt_cert_init(&p, origin, 1000, today);
	memcpy(p.c.issuing_participant, origin, 2);
	p.origins[0].zone = pt_str(zone);
	return pt_eval(t, &p);
}

static void test_regime_window(void)
{
	struct pt t;

	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "zones", CAR), 0);
	/* before the regime: nothing to say, even without a zone */
	CU_ASSERT_TRUE(pt_is(judge(&t, "CF", "", 20151231), KPG_DECISION_NONE, 0, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "CF", "Carnot", 20151231), KPG_DECISION_NONE, 0, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "CF", "Berberati", 20160101),
			     KPG_ACCEPT, R_APPROVED, "CF zone Berberati approved"));
	CU_ASSERT_TRUE(pt_is(judge(&t, "CF", "Carnot", 20160101), KPG_REJECT, R_NOT_APPROVED,
			     "CF zone \"Carnot\" not approved (zone regime from 2016-01-01)"));
	CU_ASSERT_TRUE(pt_is(judge(&t, "CF", "Carnot", 20190630), KPG_REJECT, R_NOT_APPROVED, NULL));
	/* the next regime's list, from its first day */
	CU_ASSERT_TRUE(pt_is(judge(&t, "CF", "Carnot", 20190701), KPG_ACCEPT, R_APPROVED,
			     "CF zone Carnot approved"));
	CU_ASSERT_TRUE(pt_is(judge(&t, "CF", "Abba", 20241114), KPG_ACCEPT, R_APPROVED, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "CF", "Bangui", 20241114), KPG_REJECT, R_NOT_APPROVED,
			     "(zone regime from 2019-07-01)"));
	/* lifted: until is the last day in force */
	CU_ASSERT_TRUE(pt_is(judge(&t, "CF", "Bangui", 20241115), KPG_DECISION_NONE, 0, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "CF", "", 20241115), KPG_DECISION_NONE, 0, NULL));
	pt_free(&t);
}

static void test_zone_missing(void)
{
	struct pt t;

	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "zones", CAR), 0);
	CU_ASSERT_TRUE(pt_is(judge(&t, "CF", "", 20160101), KPG_REJECT, R_MISSING,
			     "CF origin names no production zone (zone regime from 2016-01-01)"));
	CU_ASSERT_TRUE(pt_is(judge(&t, "CF", " \t ", 20241114), KPG_REJECT, R_MISSING, NULL));
	pt_free(&t);
}

static void test_zone_spelling(void)
{
	struct pt t;

	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "zones", CAR), 0);
	CU_ASSERT_TRUE(pt_is(judge(&t, "CF", " BERBERATI\t", 20160101), KPG_ACCEPT, R_APPROVED,
			     "CF zone BERBERATI approved"));
	CU_ASSERT_TRUE(pt_is(judge(&t, "CF", "berberati", 20160101), KPG_ACCEPT, R_APPROVED, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "CF", "Berberat", 20160101), KPG_REJECT, R_NOT_APPROVED, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "CF", "Berberatii", 20160101), KPG_REJECT, R_NOT_APPROVED, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "CF", "Ber berati", 20160101), KPG_REJECT, R_NOT_APPROVED, NULL));
	/* only ASCII case folds: the list spells the zone as certificates must */
	CU_ASSERT_TRUE(pt_is(judge(&t, "CF", "B\xc3\xa9rb\xc3\xa9rati", 20160101),
			     KPG_REJECT, R_NOT_APPROVED, NULL));
	/* every listed zone is found (binary search over the sorted list) */
	static const char *const all[] = { "Abba", "Baoro", "Berberati", "Boda", "Bouar",
					   "Carnot", "Gadzi", "Nola", NULL };
	for (unsigned i = 0; all[i]; i++)
		CU_ASSERT_TRUE(pt_is(judge(&t, "CF", all[i], 20200101), KPG_ACCEPT, R_APPROVED, all[i]));
	static const char *const none[] = { "Aaa", "Abb", "Bao", "Bz", "Zz", "", NULL };
	for (unsigned i = 0; none[i][0]; i++)
		CU_ASSERT_TRUE(pt_is(judge(&t, "CF", none[i], 20200101), KPG_REJECT, R_NOT_APPROVED, NULL));
	/* a long zone is cut in the detail, never overflows it */
	char long_zone[300];
	memset(long_zone, 'x', sizeof(long_zone) - 1);
	long_zone[sizeof(long_zone) - 1] = '\0';
	struct kpg_verdict v = judge(&t, "CF", long_zone, 20200101);
	CU_ASSERT_TRUE(pt_is(v, KPG_REJECT, R_NOT_APPROVED, NULL));
	CU_ASSERT_TRUE(strlen(v.detail) < KPG_DETAIL_MAX);
	/* cut on a character: 39 ASCII bytes, then a two-byte letter */
	memset(long_zone, 'x', 39);
	strcpy(long_zone + 39, "\xc3\xa9xyz");
	v = judge(&t, "CF", long_zone, 20200101);
	CU_ASSERT_TRUE(pt_is(v, KPG_REJECT, R_NOT_APPROVED, "xxx\" not approved"));
	pt_free(&t);
}

/* Any participant can be put under a regime; others are not concerned. */
static void test_generic_participants(void)
{
	struct pt t;

	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "zones", CAR), 0);
	CU_ASSERT_TRUE(pt_is(judge(&t, "ZW", "Marange", 20091104), KPG_DECISION_NONE, 0, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "ZW", "Marange", 20091105), KPG_REJECT, R_NOT_APPROVED,
			     "ZW zone \"Marange\" not approved"));
	/* no end date */
	CU_ASSERT_TRUE(pt_is(judge(&t, "ZW", "Murowa", 20991231), KPG_ACCEPT, R_APPROVED, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "BW", "", 20200101), KPG_DECISION_NONE, 0, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "BW", "Jwaneng", 20200101), KPG_DECISION_NONE, 0, NULL));
	pt_free(&t);
	/* no regime at all */
	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "zones", ""), 0);
	CU_ASSERT_TRUE(pt_is(judge(&t, "CF", "", 20200101), KPG_DECISION_NONE, 0, NULL));
	pt_free(&t);
}

static void test_mixed_origin(void)
{
	static const char *const two[] = { "BW", "CF", NULL };
	static const char *const none[] = { NULL };
	struct pt t;
	struct pt_cert p;

	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "zones", CAR), 0);
	pt_cert_init(&p, "BW", 1000, 20200101);
	memcpy(p.c.issuing_participant, "EU", 2);
	pt_cert_mixed(&p, two);
	p.origins[1].zone = pt_str("Nola");
	CU_ASSERT_TRUE(pt_is(pt_eval(&t, &p), KPG_ACCEPT, R_APPROVED, "CF zone Nola approved"));
	p.origins[1].zone = pt_str("");
	CU_ASSERT_TRUE(pt_is(pt_eval(&t, &p), KPG_REJECT, R_MISSING, "CF origin names no"));
	p.origins[1].zone = pt_str("Bria");
	CU_ASSERT_TRUE(pt_is(pt_eval(&t, &p), KPG_REJECT, R_NOT_APPROVED, "\"Bria\""));

	/* issued by a participant under a regime, listing nothing */
	memcpy(p.c.issuing_participant, "CF", 2);
	pt_cert_mixed(&p, none);
	CU_ASSERT_TRUE(pt_is(pt_eval(&t, &p), KPG_REJECT, R_MISSING,
			     "mixed origin from CF lists no origin"));
	p.scan.today = 20241115;
	CU_ASSERT_TRUE(pt_is(pt_eval(&t, &p), KPG_DECISION_NONE, 0, NULL));
	p.scan.today = 20200101;
	memcpy(p.c.issuing_participant, "EU", 2);
	CU_ASSERT_TRUE(pt_is(pt_eval(&t, &p), KPG_DECISION_NONE, 0, NULL));
	pt_free(&t);
}

static void test_zones_file(void)
{
	struct pt t;

	pt_write("car.zones",
		 "# CAR compliant zones (examples)\n"
		 "Berberati\n"
		 "Bangui # not a mining zone, a test of the comment\n"
		 "\n"
		 "  Nola  \n"
		 "Haute-Kotto\n"
		 "berberati\n", NULL, 0);
	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "zones",
		"regimes = ( { participant = \"CF\"; from = \"2016-01-01\"; until = \"2024-11-14\";\n"
		"              zones = [ \"Carnot\" ]; zones_file = \"car.zones\"; } );"), 0);
	CU_ASSERT_TRUE(pt_is(judge(&t, "CF", "Berberati", 20200101), KPG_ACCEPT, R_APPROVED, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "CF", "Bangui", 20200101), KPG_ACCEPT, R_APPROVED, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "CF", "Nola", 20200101), KPG_ACCEPT, R_APPROVED, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "CF", "Haute-Kotto", 20200101), KPG_ACCEPT, R_APPROVED, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "CF", "Carnot", 20200101), KPG_ACCEPT, R_APPROVED, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "CF", "Bangui # not", 20200101), KPG_REJECT, R_NOT_APPROVED, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "CF", "Bria", 20200101), KPG_REJECT, R_NOT_APPROVED, NULL));
	pt_free(&t);
	/* a file alone is enough */
	CU_ASSERT_TRUE(pt_accepted("zones",
		"regimes = ( { participant = \"CF\"; from = \"2016-01-01\"; zones_file = \"car.zones\"; } );"));
}

static bool file_refused(const char *text, unsigned line, const char *why)
{
	return pt_file_refused("zones",
		"regimes = ( { participant = \"CF\"; from = \"2016-01-01\"; zones_file = \"bad.zones\"; } );",
		"bad.zones", text, line, why);
}

static void test_refused(void)
{
	char body[1024], zone[300];

	CU_ASSERT_TRUE(pt_refused("zones", "regime = ( );",
				  "<config>:2: plugin zones: unknown key 'regime'"));
	CU_ASSERT_TRUE(pt_refused("zones", "regimes = { participant = \"CF\"; };",
				  "<config>:2: plugin zones: 'regimes' must be a list"));
	CU_ASSERT_TRUE(pt_refused("zones", "regimes = ( \"CF\" );",
				  "<config>:2: plugin zones: a regime must be a group"));
	CU_ASSERT_TRUE(pt_refused("zones",
		"regimes = ( { participant = \"CF\"; from = \"2016-01-01\";\n"
		"              zone = [ \"Berberati\" ]; } );",
		"<config>:3: plugin zones: unknown key 'zone'"));
	CU_ASSERT_TRUE(pt_refused("zones",
		"regimes = ( { participant = \"CAR\"; from = \"2016-01-01\"; zones = [ \"Berberati\" ]; } );",
		"<config>:2: plugin zones: 'participant' = \"CAR\": not a two-letter ISO 3166 code"));
	CU_ASSERT_TRUE(pt_refused("zones",
		"regimes = ( { from = \"2016-01-01\"; zones = [ \"Berberati\" ]; } );",
		"<config>:2: plugin zones: 'participant' is required"));
	CU_ASSERT_TRUE(pt_refused("zones",
		"regimes = ( { participant = \"CF\"; zones = [ \"Berberati\" ]; } );",
		"<config>:2: plugin zones: 'from' is required"));
	CU_ASSERT_TRUE(pt_refused("zones",
		"regimes = ( { participant = \"CF\"; zones = [ \"Berberati\" ];\n"
		"              from = \"2016-02-30\"; } );",
		"<config>:3: plugin zones: 'from' = \"2016-02-30\": not a date"));
	CU_ASSERT_TRUE(pt_refused("zones",
		"regimes = ( { participant = \"CF\"; zones = [ \"Berberati\" ]; from = \"2016-01-01\";\n"
		"              until = \"2015-12-31\"; } );",
		"<config>:3: plugin zones: 'until' is before 'from'"));
	CU_ASSERT_TRUE(pt_refused("zones",
		"regimes = ( { participant = \"CF\"; zones = [ \"Berberati\" ]; from = \"2016-01-01\";\n"
		"              until = \"2024-11-31\"; } );",
		"<config>:3: plugin zones: 'until' = \"2024-11-31\": not a date"));
	/* one day of overlap is ambiguous */
	CU_ASSERT_TRUE(pt_refused("zones",
		"regimes = ( { participant = \"CF\"; from = \"2016-01-01\"; until = \"2019-07-01\"; zones = [ \"A\" ]; },\n"
		"            { participant = \"CF\"; from = \"2019-07-01\"; zones = [ \"B\" ]; } );",
		"<config>:3: plugin zones: CF is already under a regime from 2016-01-01 to 2019-07-01"));
	CU_ASSERT_TRUE(pt_refused("zones",
		"regimes = ( { participant = \"CF\"; from = \"2019-07-01\"; zones = [ \"A\" ]; },\n"
		"            { participant = \"CF\"; from = \"2016-01-01\"; until = \"2030-01-01\"; zones = [ \"B\" ]; } );",
		"<config>:3: plugin zones: CF is already under a regime from 2019-07-01 to 9999-12-31"));
	CU_ASSERT_TRUE(pt_refused("zones",
		"regimes = ( { participant = \"CF\"; from = \"2016-01-01\"; } );",
		"<config>:2: plugin zones: regime with no zone"));
	CU_ASSERT_TRUE(pt_refused("zones",
		"regimes = ( { participant = \"CF\"; from = \"2016-01-01\"; zones = [ ]; zones_file = \"\"; } );",
		"<config>:2: plugin zones: regime with no zone"));
	CU_ASSERT_TRUE(pt_refused("zones",
		"regimes = ( { participant = \"CF\"; from = \"2016-01-01\"; zones = \"Berberati\"; } );",
		"<config>:2: plugin zones: 'zones' must be a list"));
	CU_ASSERT_TRUE(pt_refused("zones",
		"regimes = ( { participant = \"CF\"; from = \"2016-01-01\";\n"
		"  zones = [ \"Berberati\",\n"
		"            \"  \" ]; } );",
		"<config>:4: plugin zones: zone \"  \": empty"));
	CU_ASSERT_TRUE(pt_refused("zones",
		"regimes = ( { participant = \"CF\"; from = \"2016-01-01\"; zones = [ \"Ber\\nberati\" ]; } );",
		"<config>:2: plugin zones: zone \"Ber"));
	memset(zone, 'z', 256);
	zone[256] = '\0';
	snprintf(body, sizeof(body),
		 "regimes = ( { participant = \"CF\"; from = \"2016-01-01\"; zones = [ \"%s\" ]; } );", zone);
	CU_ASSERT_TRUE(pt_refused("zones", body, ": longer than 255 bytes"));
	zone[255] = '\0';
	snprintf(body, sizeof(body),
		 "regimes = ( { participant = \"CF\"; from = \"2016-01-01\"; zones = [ \"%s\" ]; } );", zone);
	CU_ASSERT_TRUE(pt_accepted("zones", body));
	CU_ASSERT_TRUE(pt_refused("zones",
		"regimes = ( { participant = \"CF\"; from = \"2016-01-01\";\n"
		"  zones_file = \"missing.zones\"; } );",
		"<config>:3: plugin zones: cannot read list"));
	memset(zone, 'z', 256);
	zone[256] = '\0';
	snprintf(body, sizeof(body), "Berberati\n%s\n", zone);
	CU_ASSERT_TRUE(file_refused(body, 2, "zone: longer than 255 bytes"));
	memset(zone, 'z', 299);
	zone[299] = '\0';
	snprintf(body, sizeof(body), "Berberati\n\n%s\n", zone);
	CU_ASSERT_TRUE(file_refused(body, 3, "zone: longer than 255 bytes"));
	CU_ASSERT_TRUE(file_refused("Berberati\nNo\x01la\n", 2, "zone: control character"));
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "regime window to the day", test_regime_window },
		{ "missing zone", test_zone_missing },
		{ "zone spelling: blanks and ASCII case", test_zone_spelling },
		{ "any participant under a regime", test_generic_participants },
		{ "mixed origin under a regime", test_mixed_origin },
		{ "zone list file", test_zones_file },
		{ "bad config refused", test_refused },
		{ NULL, NULL },
	};

	return kpg_cunit_run("plugins/zones", tests, pt_setup, pt_teardown);
}
