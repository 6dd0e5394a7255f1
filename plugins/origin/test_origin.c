/* test_origin.c — the origin plugin, loaded from its built .so through the
 * plugin host: embargo rules at their dates and HS codes, every mixed-origin
 * policy at its effective date and carat threshold, the embargo list file,
 * and refused configs with file:line. */
#include "plugin_test.h"

enum {
	R_CLEAR = 1300,
	R_EMBARGOED = 1301,
	R_MIXED_REFUSED = 1302,
	R_MIXED_UNLISTED = 1303,
	R_TRACE_MISSING = 1304,
};

static const char *const EMBARGO =
	"embargo = (\n"
	"  { origin = \"RU\"; hs = [ \"7102.10\", \"7102.21\", \"7102.31\" ];\n"
	"    from = \"2024-01-01\"; until = \"\"; reference = \"EU Reg. 833/2014 Art. 3p\"; },\n"
	"  { origin = \"ZW\"; hs = [ \"7102.21\" ]; from = \"2020-03-01\";\n"
	"    until = \"2020-06-30\"; decision = \"refer\"; }\n"
	");\n";

static struct kpg_verdict judge(const struct pt *t, const char *origin,
				enum kpg_hs_code hs, uint32_t today)
{
	struct pt_cert p;

	pt_cert_init(&p, origin, 1000, today);
	p.lines[0].hs_code = hs;
	return pt_eval(t, &p);
}

static void test_embargo_effective_date(void)
{
	struct pt t;

	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "origin", EMBARGO), 0);
	CU_ASSERT_TRUE(pt_is(judge(&t, "RU", KPG_HS_7102_31, 20231231),
			     KPG_ACCEPT, R_CLEAR, "origin RU: no rule applies"));
	CU_ASSERT_TRUE(pt_is(judge(&t, "RU", KPG_HS_7102_31, 20240101),
			     KPG_REJECT, R_EMBARGOED,
			     "RU 7102.31 embargoed from 2024-01-01 (EU Reg. 833/2014 Art. 3p)"));
	CU_ASSERT_TRUE(pt_is(judge(&t, "RU", KPG_HS_7102_31, 20240102),
			     KPG_REJECT, R_EMBARGOED, NULL));
	/* no end date: still in force far ahead */
	CU_ASSERT_TRUE(pt_is(judge(&t, "RU", KPG_HS_7102_10, 20991231),
			     KPG_REJECT, R_EMBARGOED, "RU 7102.10"));
	CU_ASSERT_TRUE(pt_is(judge(&t, "BW", KPG_HS_7102_31, 20240101),
			     KPG_ACCEPT, R_CLEAR, "origin BW"));
	pt_free(&t);
}

static void test_embargo_until_inclusive(void)
{
	struct pt t;

	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "origin", EMBARGO), 0);
	CU_ASSERT_TRUE(pt_is(judge(&t, "ZW", KPG_HS_7102_21, 20200229),
			     KPG_ACCEPT, R_CLEAR, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "ZW", KPG_HS_7102_21, 20200301),
			     KPG_REFER, R_EMBARGOED, "ZW 7102.21 embargoed from 2020-03-01"));
	CU_ASSERT_TRUE(pt_is(judge(&t, "ZW", KPG_HS_7102_21, 20200630),
			     KPG_REFER, R_EMBARGOED, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "ZW", KPG_HS_7102_21, 20200701),
			     KPG_ACCEPT, R_CLEAR, NULL));
	pt_free(&t);
}

static void test_embargo_hs_codes(void)
{
	struct pt t;
	struct pt_cert p;

	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "origin", EMBARGO), 0);
	/* the ZW rule names 7102.21 only */
	CU_ASSERT_TRUE(pt_is(judge(&t, "ZW", KPG_HS_7102_31, 20200401),
			     KPG_ACCEPT, R_CLEAR, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "ZW", KPG_HS_7102_10, 20200401),
			     KPG_ACCEPT, R_CLEAR, NULL));
	/* any line's code is enough */
	pt_cert_init(&p, "ZW", 1000, 20200401);
	p.c.n_lines = 3;
	p.lines[1] = (struct kpg_hs_line){ KPG_HS_7102_10, 500, 1000 };
	p.lines[2] = (struct kpg_hs_line){ KPG_HS_7102_21, 500, 1000 };
	CU_ASSERT_TRUE(pt_is(pt_eval(&t, &p), KPG_REFER, R_EMBARGOED, "ZW 7102.21"));
	p.lines[2].hs_code = KPG_HS_7102_31;
	CU_ASSERT_TRUE(pt_is(pt_eval(&t, &p), KPG_ACCEPT, R_CLEAR, NULL));
	/* a code outside the scheme matches no rule */
	p.c.n_lines = 1;
	p.lines[0].hs_code = (enum kpg_hs_code)710239;
	CU_ASSERT_TRUE(pt_is(pt_eval(&t, &p), KPG_ACCEPT, R_CLEAR, NULL));
	pt_free(&t);
}

static void test_embargo_any_origin(void)
{
	static const char *const mixed_ru[] = { "BW", "RU", NULL };
	static const char *const mixed_ok[] = { "BW", "CA", NULL };
	struct pt t;
	struct pt_cert p;

	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "origin", EMBARGO), 0);
	pt_cert_init(&p, "BW", 1000, 20240101);
	pt_cert_mixed(&p, mixed_ru);
	CU_ASSERT_TRUE(pt_is(pt_eval(&t, &p), KPG_REJECT, R_EMBARGOED, "RU 7102.31"));
	pt_cert_mixed(&p, mixed_ok);
	CU_ASSERT_TRUE(pt_is(pt_eval(&t, &p), KPG_ACCEPT, R_CLEAR,
			     "mixed origin: no rule applies"));
	/* a malformed country code matches nothing and breaks nothing */
	memcpy(p.origins[0].country, "r", 2);
	CU_ASSERT_TRUE(pt_is(pt_eval(&t, &p), KPG_ACCEPT, R_CLEAR, NULL));
	pt_free(&t);
}

/* Two rules in force for one origin: the more severe one speaks. */
static void test_embargo_most_severe(void)
{
	struct pt t;

	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "origin",
		"embargo = (\n"
		"  { origin = \"CI\"; hs = [ \"7102.31\" ]; from = \"2005-01-01\"; decision = \"refer\"; reference = \"watch\"; },\n"
		"  { origin = \"CI\"; hs = [ \"7102.31\" ]; from = \"2005-02-01\"; until = \"2014-04-29\"; reference = \"UN embargo\"; }\n"
		");"), 0);
	CU_ASSERT_TRUE(pt_is(judge(&t, "CI", KPG_HS_7102_31, 20050131),
			     KPG_REFER, R_EMBARGOED, "(watch)"));
	CU_ASSERT_TRUE(pt_is(judge(&t, "CI", KPG_HS_7102_31, 20050201),
			     KPG_REJECT, R_EMBARGOED, "CI 7102.31 embargoed from 2005-02-01 (UN embargo)"));
	CU_ASSERT_TRUE(pt_is(judge(&t, "CI", KPG_HS_7102_31, 20140429),
			     KPG_REJECT, R_EMBARGOED, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "CI", KPG_HS_7102_31, 20140430),
			     KPG_REFER, R_EMBARGOED, "(watch)"));
	pt_free(&t);
}

static void test_no_config_accepts(void)
{
	static const char *const none[] = { NULL };
	struct pt t;
	struct pt_cert p;

	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "origin", ""), 0);
	CU_ASSERT_TRUE(pt_is(judge(&t, "RU", KPG_HS_7102_31, 20240601),
			     KPG_ACCEPT, R_CLEAR, NULL));
	/* mixed_origin absent is "allow" */
	pt_cert_init(&p, "BW", 1000, 20250601);
	pt_cert_mixed(&p, none);
	CU_ASSERT_TRUE(pt_is(pt_eval(&t, &p), KPG_ACCEPT, R_CLEAR,
			     "mixed origin: no rule applies"));
	pt_free(&t);
}

static struct kpg_verdict judge_mixed(const struct pt *t, const char *const *origins,
				      uint64_t centi, const char *trace, uint32_t today)
{
	struct pt_cert p;

	pt_cert_init(&p, "BW", centi, today);
	pt_cert_mixed(&p, origins);
	p.c.traceability_ref = pt_str(trace);
	return pt_eval(t, &p);
}

static void test_mixed_allow(void)
{
	static const char *const none[] = { NULL };
	struct pt t;

	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "origin", "mixed_origin = \"allow\";"), 0);
	CU_ASSERT_TRUE(pt_is(judge_mixed(&t, none, 100000, "", 20250301),
			     KPG_ACCEPT, R_CLEAR, NULL));
	pt_free(&t);
}

static void test_mixed_refuse_from(void)
{
	static const char *const listed[] = { "BW", "CA", NULL };
	struct pt t;

	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "origin",
		"mixed_origin = \"refuse\"; mixed_origin_from = \"2025-03-01\";"), 0);
	CU_ASSERT_TRUE(pt_is(judge_mixed(&t, listed, 100, "", 20250228),
			     KPG_ACCEPT, R_CLEAR, NULL));
	CU_ASSERT_TRUE(pt_is(judge_mixed(&t, listed, 100, "", 20250301),
			     KPG_REJECT, R_MIXED_REFUSED, "mixed origin refused from 2025-03-01"));
	CU_ASSERT_TRUE(pt_is(judge_mixed(&t, listed, 100, "TR-1", 20250302),
			     KPG_REJECT, R_MIXED_REFUSED, NULL));
	/* an unmixed certificate is not concerned */
	CU_ASSERT_TRUE(pt_is(judge(&t, "BW", KPG_HS_7102_31, 20250301),
			     KPG_ACCEPT, R_CLEAR, NULL));
	pt_free(&t);
}

static void test_mixed_listed_from(void)
{
	static const char *const none[] = { NULL };
	static const char *const listed[] = { "BW", "CA", "AO", NULL };
	static const char *const with_ru[] = { "BW", "RU", NULL };
	struct pt t;
	char body[1024];

	snprintf(body, sizeof(body), "%smixed_origin = \"listed\"; mixed_origin_from = \"2025-03-01\";",
		 EMBARGO);
	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "origin", body), 0);
	CU_ASSERT_TRUE(pt_is(judge_mixed(&t, none, 100, "", 20250228),
			     KPG_ACCEPT, R_CLEAR, NULL));
	CU_ASSERT_TRUE(pt_is(judge_mixed(&t, none, 100, "", 20250301),
			     KPG_REJECT, R_MIXED_UNLISTED,
			     "mixed origin must list every mining country; from 2025-03-01"));
	CU_ASSERT_TRUE(pt_is(judge_mixed(&t, listed, 100, "", 20250301),
			     KPG_ACCEPT, R_CLEAR, "mixed origin: no rule applies"));
	/* listed origins meet the embargo rules, before the date too */
	CU_ASSERT_TRUE(pt_is(judge_mixed(&t, with_ru, 100, "", 20250301),
			     KPG_REJECT, R_EMBARGOED, "RU 7102.31"));
	CU_ASSERT_TRUE(pt_is(judge_mixed(&t, with_ru, 100, "", 20250228),
			     KPG_REJECT, R_EMBARGOED, "RU 7102.31"));
	pt_free(&t);

	/* without a date the policy is always in force */
	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "origin", "mixed_origin = \"listed\";"), 0);
	CU_ASSERT_TRUE(pt_is(judge_mixed(&t, none, 100, "", 19900101),
			     KPG_REJECT, R_MIXED_UNLISTED, "mixed origin must list every mining country"));
	pt_free(&t);
}

static void test_traceability_threshold(void)
{
	static const char *const none[] = { NULL };
	static const char *const listed[] = { "BW", "NA", NULL };
	struct pt t;

	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "origin",
		"mixed_origin = \"traceability\"; traceability_min_carats = \"0.50\";"), 0);
	CU_ASSERT_TRUE(pt_is(judge_mixed(&t, none, 49, "", 20240101),
			     KPG_ACCEPT, R_CLEAR, NULL));
	CU_ASSERT_TRUE(pt_is(judge_mixed(&t, none, 50, "", 20240101),
			     KPG_REFER, R_TRACE_MISSING,
			     "mixed origin 0.50 ct, traceability ref needed from 0.50 ct"));
	CU_ASSERT_TRUE(pt_is(judge_mixed(&t, none, 51, "", 20240101),
			     KPG_REFER, R_TRACE_MISSING, "mixed origin 0.51 ct"));
	CU_ASSERT_TRUE(pt_is(judge_mixed(&t, listed, 51, "", 20240101),
			     KPG_REFER, R_TRACE_MISSING, NULL));
	CU_ASSERT_TRUE(pt_is(judge_mixed(&t, none, 50, "G7-ANR-2024-0042", 20240101),
			     KPG_ACCEPT, R_CLEAR, NULL));
	/* blanks are no reference */
	CU_ASSERT_TRUE(pt_is(judge_mixed(&t, none, 50, " \t ", 20240101),
			     KPG_REFER, R_TRACE_MISSING, NULL));
	/* unmixed: not concerned */
	CU_ASSERT_TRUE(pt_is(judge(&t, "BW", KPG_HS_7102_31, 20240101),
			     KPG_ACCEPT, R_CLEAR, NULL));
	pt_free(&t);
}

static void test_traceability_reject_from(void)
{
	static const char *const none[] = { NULL };
	struct pt t;

	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "origin",
		"mixed_origin = \"traceability\"; mixed_origin_from = \"2024-09-01\";\n"
		"traceability_min_carats = \"1\"; traceability_missing = \"reject\";"), 0);
	CU_ASSERT_TRUE(pt_is(judge_mixed(&t, none, 100, "", 20240831),
			     KPG_ACCEPT, R_CLEAR, NULL));
	CU_ASSERT_TRUE(pt_is(judge_mixed(&t, none, 99, "", 20240901),
			     KPG_ACCEPT, R_CLEAR, NULL));
	CU_ASSERT_TRUE(pt_is(judge_mixed(&t, none, 100, "", 20240901),
			     KPG_REJECT, R_TRACE_MISSING, "from 1.00 ct"));
	CU_ASSERT_TRUE(pt_is(judge_mixed(&t, none, 101, "", 20240901),
			     KPG_REJECT, R_TRACE_MISSING, NULL));
	pt_free(&t);

	/* "0.5" is 50 hundredths */
	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "origin",
		"mixed_origin = \"traceability\"; traceability_min_carats = \"0.5\";"), 0);
	CU_ASSERT_TRUE(pt_is(judge_mixed(&t, none, 49, "", 20240901),
			     KPG_ACCEPT, R_CLEAR, NULL));
	CU_ASSERT_TRUE(pt_is(judge_mixed(&t, none, 50, "", 20240901),
			     KPG_REFER, R_TRACE_MISSING, NULL));
	pt_free(&t);
}

/* Embargo and mixed-origin rule together: the more severe; the embargo on
 * a tie. */
static void test_embargo_against_mixed(void)
{
	static const char *const zw[] = { "ZW", NULL };
	struct pt t;
	char body[1024];

	snprintf(body, sizeof(body), "%smixed_origin = \"refuse\";", EMBARGO);
	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "origin", body), 0);
	/* ZW rule refers, refusal rejects */
	CU_ASSERT_TRUE(pt_is(judge_mixed(&t, zw, 100, "", 20200401),
			     KPG_REJECT, R_MIXED_REFUSED, NULL));
	pt_free(&t);

	snprintf(body, sizeof(body), "%smixed_origin = \"traceability\";\n"
		 "traceability_min_carats = \"0.00\";", EMBARGO);
	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "origin", body), 0);
	{
		struct pt_cert p;

		pt_cert_init(&p, "BW", 100, 20200401);
		pt_cert_mixed(&p, zw);
		p.lines[0].hs_code = KPG_HS_7102_21;
		/* both refer: the embargo speaks */
		CU_ASSERT_TRUE(pt_is(pt_eval(&t, &p), KPG_REFER, R_EMBARGOED, "ZW 7102.21"));
	}
	pt_free(&t);
}

static void test_embargo_file(void)
{
	struct pt t;
	char body[1024];

	pt_write("embargo.list",
		 "# country HS FROM [UNTIL|-] [reference]\n"
		 "\n"
		 "RU 7102.31 2024-01-01 - EU Reg. 833/2014 Art. 3p\n"
		 "ZW 7102.10,7102.21 2009-11-05 2012-11-30 KP monitor # Marange\n"
		 "  AO 7102.31 2030-01-01  \n"
		 "CG 7102.10 2004-07-09 2007-11-08\n", NULL, 0);
	snprintf(body, sizeof(body),
		 "embargo = ( { origin = \"VE\"; hs = [ \"7102.31\" ]; from = \"2008-06-01\"; until = \"2016-11-30\"; } );\n"
		 "embargo_file = \"embargo.list\";");
	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "origin", body), 0);
	CU_ASSERT_TRUE(pt_is(judge(&t, "RU", KPG_HS_7102_31, 20231231), KPG_ACCEPT, R_CLEAR, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "RU", KPG_HS_7102_31, 20240101), KPG_REJECT, R_EMBARGOED,
			     "RU 7102.31 embargoed from 2024-01-01 (EU Reg. 833/2014 Art. 3p)"));
	CU_ASSERT_TRUE(pt_is(judge(&t, "RU", KPG_HS_7102_21, 20240101), KPG_ACCEPT, R_CLEAR, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "ZW", KPG_HS_7102_10, 20091104), KPG_ACCEPT, R_CLEAR, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "ZW", KPG_HS_7102_21, 20091105), KPG_REJECT, R_EMBARGOED,
			     "ZW 7102.21 embargoed from 2009-11-05 (KP monitor)"));
	CU_ASSERT_TRUE(pt_is(judge(&t, "ZW", KPG_HS_7102_10, 20121130), KPG_REJECT, R_EMBARGOED, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "ZW", KPG_HS_7102_10, 20121201), KPG_ACCEPT, R_CLEAR, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "AO", KPG_HS_7102_31, 20300101), KPG_REJECT, R_EMBARGOED,
			     "AO 7102.31 embargoed from 2030-01-01"));
	CU_ASSERT_TRUE(pt_is(judge(&t, "CG", KPG_HS_7102_10, 20071108), KPG_REJECT, R_EMBARGOED, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "CG", KPG_HS_7102_10, 20071109), KPG_ACCEPT, R_CLEAR, NULL));
	/* the inline rule is kept beside the file's */
	CU_ASSERT_TRUE(pt_is(judge(&t, "VE", KPG_HS_7102_31, 20161130), KPG_REJECT, R_EMBARGOED, NULL));
	CU_ASSERT_TRUE(pt_is(judge(&t, "VE", KPG_HS_7102_31, 20161201), KPG_ACCEPT, R_CLEAR, NULL));
	pt_free(&t);
}

/* A reference longer than the detail's room is cut on a character. */
static void test_long_reference(void)
{
	char body[512], ref[96];
	struct kpg_verdict v;
	struct pt t;

	memset(ref, 'a', 55);
	strcpy(ref + 55, "\xc3\xa9tail of a long reference");   /* e-acute at 55..56 */
	snprintf(body, sizeof(body),
		 "embargo = ( { origin = \"RU\"; hs = [ \"7102.31\" ]; from = \"2024-01-01\";\n"
		 "              reference = \"%s\"; } );", ref);
	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "origin", body), 0);
	v = judge(&t, "RU", KPG_HS_7102_31, 20240101);
	CU_ASSERT_TRUE(pt_is(v, KPG_REJECT, R_EMBARGOED, "aaaa)"));
	CU_ASSERT_TRUE(strlen(v.detail) < KPG_DETAIL_MAX - 1);
	pt_free(&t);
	ref[56] = '\0';
	ref[55] = 'b';
	snprintf(body, sizeof(body),
		 "embargo = ( { origin = \"RU\"; hs = [ \"7102.31\" ]; from = \"2024-01-01\";\n"
		 "              reference = \"%s\"; } );", ref);
	CU_ASSERT_EQUAL_FATAL(pt_build(&t, "origin", body), 0);
	v = judge(&t, "RU", KPG_HS_7102_31, 20240101);
	CU_ASSERT_TRUE(pt_is(v, KPG_REJECT, R_EMBARGOED, "aab)"));
	CU_ASSERT_EQUAL(strlen(v.detail), KPG_DETAIL_MAX - 1);
	pt_free(&t);
}

static bool file_refused(const char *text, unsigned line, const char *why)
{
	return pt_file_refused("origin", "embargo_file = \"bad.list\";", "bad.list",
			       text, line, why);
}

static void test_embargo_file_refused(void)
{
	CU_ASSERT_TRUE(file_refused("RU 7102.31 2024-01-01\nRU 7102.39 2024-01-01\n", 2,
				    "HS code \"7102.39\": must be 7102.10, 7102.21 or 7102.31"));
	CU_ASSERT_TRUE(file_refused("RU 710231 2024-01-01\n", 1, "HS code \"710231\""));
	CU_ASSERT_TRUE(file_refused("RU 7102.31, 2024-01-01\n", 1, "HS code \"\""));
	CU_ASSERT_TRUE(file_refused("# c\nRU 7102.31 2024-02-30\n", 2, "from \"2024-02-30\": not a date"));
	CU_ASSERT_TRUE(file_refused("RU 7102.31 2024-01-01 2023-12-31\n", 1,
				    "until 2023-12-31 is before from 2024-01-01"));
	CU_ASSERT_TRUE(file_refused("RU 7102.31 2024-01-01 2024-13-01\n", 1, "until \"2024-13-01\""));
	CU_ASSERT_TRUE(file_refused("Russia 7102.31 2024-01-01\n", 1, "origin \"Russia\""));
	CU_ASSERT_TRUE(file_refused("ru 7102.31 2024-01-01\n", 1, "origin \"ru\""));
	CU_ASSERT_TRUE(file_refused("\n\nRU 7102.31\n", 3, "expected: CC HS[,HS...] FROM"));
	CU_ASSERT_TRUE(pt_refused("origin", "embargo_file = \"missing.list\";",
				  "<config>:2: plugin origin: cannot read list"));
	CU_ASSERT_TRUE(pt_refused("origin", "embargo_file = \"\";",
				  "<config>:2: plugin origin: empty list file name"));
}

static void test_dates_refused(void)
{
	static const char *const bad[] = { "2024-02-30", "2023-02-29", "2100-02-29",
					   "2024-13-01", "2024-00-10", "2024-01-00",
					   "2024-1-01", "2024/01/01", "20240101",
					   "1899-12-31", " 2024-01-01", NULL };
	char body[512];

	for (unsigned i = 0; bad[i]; i++) {
		snprintf(body, sizeof(body),
			 "embargo = (\n{ origin = \"RU\"; hs = [ \"7102.31\" ];\n  from = \"%s\"; } );",
			 bad[i]);
		CU_ASSERT_TRUE(pt_refused("origin", body,
					  "<config>:4: plugin origin: 'from' = \""));
	}
	/* leap days that exist */
	CU_ASSERT_TRUE(pt_accepted("origin",
		"embargo = ( { origin = \"RU\"; hs = [ \"7102.31\" ]; from = \"2024-02-29\"; until = \"2400-02-29\"; },\n"
		"            { origin = \"RU\"; hs = [ \"7102.31\" ]; from = \"2000-02-29\"; until = \"2000-02-29\"; } );"));
	CU_ASSERT_TRUE(pt_refused("origin",
		"embargo = ( { origin = \"RU\"; hs = [ \"7102.31\" ];\n"
		"  from = \"2024-01-01\"; until = \"2023-12-31\"; } );",
		"<config>:3: plugin origin: 'until' is before 'from'"));
	CU_ASSERT_TRUE(pt_refused("origin",
		"embargo = ( { origin = \"RU\"; hs = [ \"7102.31\" ];\n  from = 20240101; } );",
		"<config>:3: plugin origin: 'from' must be a string"));
	CU_ASSERT_TRUE(pt_refused("origin",
		"embargo = ( { origin = \"RU\"; hs = [ \"7102.31\" ]; } );",
		"<config>:2: plugin origin: 'from' is required"));
}

static void test_rules_refused(void)
{
	CU_ASSERT_TRUE(pt_refused("origin", "colour = \"red\";",
				  "<config>:2: plugin origin: unknown key 'colour'"));
	CU_ASSERT_TRUE(pt_refused("origin",
		"embargo = ( { origin = \"RU\"; hs = [ \"7102.31\" ]; from = \"2024-01-01\";\n"
		"  note = \"x\"; } );",
		"<config>:3: plugin origin: unknown key 'note'"));
	CU_ASSERT_TRUE(pt_refused("origin",
		"embargo = ( { origin = \"RU\"; from = \"2024-01-01\";\n"
		"  hs = [ \"7102.31\",\n"
		"         \"7102.39\" ]; } );",
		"<config>:4: plugin origin: HS code \"7102.39\": must be 7102.10, 7102.21 or 7102.31"));
	CU_ASSERT_TRUE(pt_refused("origin",
		"embargo = ( { origin = \"RU\"; from = \"2024-01-01\"; hs = [ \"710231\" ]; } );",
		"<config>:2: plugin origin: HS code \"710231\""));
	CU_ASSERT_TRUE(pt_refused("origin",
		"embargo = ( { origin = \"RU\"; from = \"2024-01-01\"; hs = [ ]; } );",
		"<config>:2: plugin origin: 'hs' is required"));
	CU_ASSERT_TRUE(pt_refused("origin",
		"embargo = ( { origin = \"RU\"; from = \"2024-01-01\"; } );",
		"<config>:2: plugin origin: 'hs' is required"));
	CU_ASSERT_TRUE(pt_refused("origin",
		"embargo = ( { origin = \"RU\"; from = \"2024-01-01\"; hs = \"7102.31\"; } );",
		"<config>:2: plugin origin: 'hs' must be a list"));
	CU_ASSERT_TRUE(pt_refused("origin",
		"embargo = ( { origin = \"RU\"; from = \"2024-01-01\"; hs = [ 7102 ]; } );",
		"<config>:2: plugin origin: 'hs' item 1 must be a string"));
	CU_ASSERT_TRUE(pt_refused("origin",
		"embargo = ( { origin = \"Russia\"; hs = [ \"7102.31\" ]; from = \"2024-01-01\"; } );",
		"<config>:2: plugin origin: 'origin' = \"Russia\": not a two-letter ISO 3166 code"));
	CU_ASSERT_TRUE(pt_refused("origin",
		"embargo = ( { origin = \"ru\"; hs = [ \"7102.31\" ]; from = \"2024-01-01\"; } );",
		"'origin' = \"ru\""));
	CU_ASSERT_TRUE(pt_refused("origin",
		"embargo = ( { hs = [ \"7102.31\" ]; from = \"2024-01-01\"; } );",
		"<config>:2: plugin origin: 'origin' is required"));
	CU_ASSERT_TRUE(pt_refused("origin",
		"embargo = ( { origin = \"RU\"; hs = [ \"7102.31\" ]; from = \"2024-01-01\";\n"
		"  decision = \"accept\"; } );",
		"<config>:3: plugin origin: 'decision' = \"accept\": must be \"reject\" or \"refer\""));
	CU_ASSERT_TRUE(pt_refused("origin", "embargo = \"RU\";",
				  "<config>:2: plugin origin: 'embargo' must be a list"));
	CU_ASSERT_TRUE(pt_refused("origin", "embargo = ( \"RU\" );",
				  "<config>:2: plugin origin: an embargo rule must be a group"));
}

static void test_mixed_refused(void)
{
	CU_ASSERT_TRUE(pt_refused("origin", "mixed_origin = \"sometimes\";",
		"<config>:2: plugin origin: mixed_origin = \"sometimes\": must be allow, refuse, listed or traceability"));
	CU_ASSERT_TRUE(pt_refused("origin", "mixed_origin = true;",
		"<config>:2: plugin origin: 'mixed_origin' must be a string"));
	CU_ASSERT_TRUE(pt_refused("origin", "mixed_origin = \"listed\";\nmixed_origin_from = \"2025-02-29\";",
		"<config>:3: plugin origin: 'mixed_origin_from' = \"2025-02-29\": not a date"));
	CU_ASSERT_TRUE(pt_refused("origin", "mixed_origin_from = \"2025-03-01\";",
		"<config>:2: plugin origin: mixed_origin_from needs a mixed_origin policy"));
	CU_ASSERT_TRUE(pt_refused("origin", "mixed_origin = \"traceability\";",
		"<config>:2: plugin origin: mixed_origin = \"traceability\" needs traceability_min_carats"));
	CU_ASSERT_TRUE(pt_refused("origin", "mixed_origin = \"listed\";\ntraceability_min_carats = \"1.00\";",
		"<config>:3: plugin origin: 'traceability_min_carats' applies only with mixed_origin = \"traceability\""));
	CU_ASSERT_TRUE(pt_refused("origin", "traceability_missing = \"reject\";",
		"<config>:2: plugin origin: 'traceability_missing' applies only"));
	CU_ASSERT_TRUE(pt_refused("origin",
		"mixed_origin = \"traceability\"; traceability_min_carats = \"0.50\";\n"
		"traceability_missing = \"ignore\";",
		"<config>:3: plugin origin: 'traceability_missing' = \"ignore\""));

	static const char *const bad[] = { "0.505", "-1", ".5", "1.", "abc", "", "1,00",
					   " 1", "1e2", "0x10", "1234567890", NULL };
	char body[256];

	for (unsigned i = 0; bad[i]; i++) {
		snprintf(body, sizeof(body),
			 "mixed_origin = \"traceability\";\ntraceability_min_carats = \"%s\";",
			 bad[i]);
		CU_ASSERT_TRUE(pt_refused("origin", body,
			"<config>:3: plugin origin: traceability_min_carats = \""));
	}
	CU_ASSERT_TRUE(pt_refused("origin",
		"mixed_origin = \"traceability\";\ntraceability_min_carats = 0.5;",
		"<config>:3: plugin origin: 'traceability_min_carats' must be a string"));
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "embargo from its effective date", test_embargo_effective_date },
		{ "embargo until is inclusive", test_embargo_until_inclusive },
		{ "embargo by HS code of any line", test_embargo_hs_codes },
		{ "embargo by any origin", test_embargo_any_origin },
		{ "the most severe embargo rule", test_embargo_most_severe },
		{ "empty config accepts", test_no_config_accepts },
		{ "mixed origin allowed", test_mixed_allow },
		{ "mixed origin refused from a date", test_mixed_refuse_from },
		{ "mixed origin must be listed from a date", test_mixed_listed_from },
		{ "traceability at the carat threshold", test_traceability_threshold },
		{ "traceability reject from a date", test_traceability_reject_from },
		{ "embargo against mixed-origin rule", test_embargo_against_mixed },
		{ "embargo list file", test_embargo_file },
		{ "long reference cut on a character", test_long_reference },
		{ "bad embargo list lines refused", test_embargo_file_refused },
		{ "bad dates refused", test_dates_refused },
		{ "bad embargo rules refused", test_rules_refused },
		{ "bad mixed-origin settings refused", test_mixed_refused },
		{ NULL, NULL },
	};

	return kpg_cunit_run("plugins/origin", tests, pt_setup, pt_teardown);
}
