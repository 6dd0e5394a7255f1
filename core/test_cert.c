/* test_cert.c — certificate decode: the schema round trip, every check the
 * schema cannot express with its boundary on both sides, and the arena the
 * decode lives in. */
#include <errno.h>

#include "kpg_cert.h"
#include "kpg_cunit.h"
#include "kpg_request.h"
#include "test_wire_fixture.h"

static struct kpg_arena arena;

static int setup(void)
{
	return kpg_arena_init(&arena, 64 * 1024) ? -1 : 0;
}

static int teardown(void)
{
	kpg_arena_fini(&arena);
	return 0;
}

/* Packs fx, checks it is canonical, decodes it into a fresh arena. */
static int decode(const struct cert_fx *fx, struct kpg_cert *c,
		  const char **why)
{
	static uint8_t b[4096];
	size_t n;

	CU_ASSERT_FATAL(kpgate__certificate__get_packed_size(&fx->c) <=
			sizeof(b));
	n = cert_fx_pack(fx, b);
	CU_ASSERT_EQUAL(kpg_cert_scan(b, n), KPG_WIRE_OK);
	kpg_arena_reset(&arena);
	*why = "(unset)";
	return kpg_cert_decode(b, n, &arena, c, why);
}

/* Expects a refusal in these words. */
static void refused(const struct cert_fx *fx, const char *words)
{
	struct kpg_cert c;
	const char *why;

	CU_ASSERT_EQUAL(decode(fx, &c, &why), -EBADMSG);
	CU_ASSERT_STRING_EQUAL(why, words);
}

static void accepted(const struct cert_fx *fx)
{
	struct kpg_cert c;
	const char *why;

	CU_ASSERT_EQUAL(decode(fx, &c, &why), 0);
	CU_ASSERT_PTR_NULL(why);
}

static bool str_is(struct kpg_str s, const char *want)
{
	return s.len == strlen(want) && strcmp(s.p, want) == 0;
}

static bool in_arena(const void *p)
{
	const uint8_t *q = p;

	return q >= arena.base && q < arena.base + arena.size;
}

static void test_round_trip(void)
{
	struct cert_fx fx;
	struct kpg_cert c;
	const char *why;

	cert_fx_init(&fx);
	CU_ASSERT_EQUAL_FATAL(decode(&fx, &c, &why), 0);
	CU_ASSERT_TRUE(str_is(c.number, "ZA-2024-000123"));
	CU_ASSERT_STRING_EQUAL(c.issuing_participant, "ZA");
	CU_ASSERT_TRUE(str_is(c.issuing_authority, fx.c.issuing_authority));
	CU_ASSERT_TRUE(str_is(c.exporter.name, fx.exporter.name));
	CU_ASSERT_TRUE(str_is(c.exporter.address, fx.exporter.address));
	CU_ASSERT_TRUE(str_is(c.exporter.identifier, fx.exporter.identifier));
	CU_ASSERT_TRUE(str_is(c.importer.name, fx.importer.name));
	CU_ASSERT_TRUE(str_is(c.importer.identifier, ""));  /* absent */
	CU_ASSERT_PTR_NOT_NULL(c.importer.identifier.p);
	CU_ASSERT_STRING_EQUAL(c.importing_participant, "EU");
	CU_ASSERT_FALSE(c.mixed_origin);
	CU_ASSERT_EQUAL_FATAL(c.n_origins, 1);
	CU_ASSERT_STRING_EQUAL(c.origins[0].country, "ZA");
	CU_ASSERT_TRUE(str_is(c.origins[0].zone, "Northern Cape"));
	CU_ASSERT_EQUAL_FATAL(c.n_lines, 1);
	CU_ASSERT_EQUAL(c.lines[0].hs_code, KPG_HS_7102_31);
	CU_ASSERT_EQUAL(c.lines[0].carats_centi, 152375);
	CU_ASSERT_EQUAL(c.lines[0].value_usd_cents, 20570625);
	CU_ASSERT_EQUAL(c.parcels, 3);
	CU_ASSERT_EQUAL(c.issue_date, 20240301);
	CU_ASSERT_EQUAL(c.expiry_date, 20240830);
	CU_ASSERT_EQUAL_FATAL(c.n_seals, 2);
	CU_ASSERT_TRUE(str_is(c.seals[0], "SEAL-0001"));
	CU_ASSERT_TRUE(str_is(c.seals[1], "SEAL-0002"));
	CU_ASSERT_TRUE(str_is(c.traceability_ref, "G7-BE-2024-77"));
	CU_ASSERT_EQUAL(c.total_carats_centi, 152375);
	CU_ASSERT_EQUAL(c.total_value_usd_cents, 20570625);
	/* the view lives in the arena, not in the caller's buffer */
	CU_ASSERT_TRUE(in_arena(c.number.p));
	CU_ASSERT_TRUE(in_arena(c.origins));
	CU_ASSERT_TRUE(in_arena(c.lines));
	CU_ASSERT_TRUE(in_arena(c.seals));
}

static void test_round_trip_many(void)
{
	struct cert_fx fx;
	struct kpg_cert c;
	const char *why;
	static const char *const cc[4] = { "CD", "AO", "ZA", "BW" };

	cert_fx_init(&fx);
	fx.c.mixed_origin = 1;
	fx.c.n_origins = 4;
	for (int i = 0; i < 4; i++) {
		fx.origin[i].country = (char *)cc[i];
		fx.origin[i].zone = NULL;
	}
	fx.c.n_lines = 3;
	fx.line[0] = (Kpgate__HsLine)KPGATE__HS_LINE__INIT;
	fx.line[0].hs_code = KPGATE__HS_CODE__HS_7102_10;
	fx.line[0].carats_centi = 10000;
	fx.line[0].value_usd_cents = 800000;
	fx.line[1].hs_code = KPGATE__HS_CODE__HS_7102_21;
	fx.line[1].carats_centi = 250;
	fx.line[1].value_usd_cents = 0;           /* no value: plugins judge */
	fx.line[2].carats_centi = 1;
	fx.line[2].value_usd_cents = 99;
	fx.c.n_container_seals = 0;
	fx.c.traceability_ref = NULL;
	CU_ASSERT_EQUAL_FATAL(decode(&fx, &c, &why), 0);
	CU_ASSERT_TRUE(c.mixed_origin);
	CU_ASSERT_EQUAL_FATAL(c.n_origins, 4);
	for (int i = 0; i < 4; i++) {
		CU_ASSERT_STRING_EQUAL(c.origins[i].country, cc[i]);
		CU_ASSERT_TRUE(str_is(c.origins[i].zone, ""));
	}
	CU_ASSERT_EQUAL_FATAL(c.n_lines, 3);
	CU_ASSERT_EQUAL(c.lines[0].hs_code, KPG_HS_7102_10);
	CU_ASSERT_EQUAL(c.lines[1].hs_code, KPG_HS_7102_21);
	CU_ASSERT_EQUAL(c.lines[2].hs_code, KPG_HS_7102_31);
	CU_ASSERT_EQUAL(c.total_carats_centi, 10251);
	CU_ASSERT_EQUAL(c.total_value_usd_cents, 800099);
	CU_ASSERT_EQUAL(c.n_seals, 0);
	CU_ASSERT_TRUE(str_is(c.traceability_ref, ""));
}

static bool same_str(struct kpg_str a, struct kpg_str b)
{
	return a.len == b.len && strlen(a.p) == a.len && memcmp(a.p, b.p, a.len) == 0;
}

static bool inside(const void *p, const uint8_t *buf, size_t n)
{
	const uint8_t *q = p;

	return q >= buf && q < buf + n;
}

/* The copy is the same view in one block, every pointer inside it, and a
 * block one byte short of it is refused without a byte written past it. */
static void test_copy(void)
{
	static uint8_t buf[4096] __attribute__((aligned(16)));
	static const char *const cc[3] = { "CD", "AO", "ZA" };
	const struct kpg_cert *k;
	struct cert_fx fx;
	struct kpg_cert c;
	const char *why;
	int n;

	cert_fx_init(&fx);
	fx.c.mixed_origin = 1;
	fx.c.n_origins = 3;
	for (int i = 0; i < 3; i++)
		fx.origin[i].country = (char *)cc[i];
	CU_ASSERT_EQUAL_FATAL(decode(&fx, &c, &why), 0);
	n = kpg_cert_copy(&c, buf, sizeof(buf), &k);
	CU_ASSERT_FATAL(n > (int)sizeof(c));
	CU_ASSERT_PTR_EQUAL(k, (const void *)buf);
	/* the copy stands alone: the arena it came from overwritten */
	kpg_arena_reset(&arena);
	memset(kpg_arena_alloc(&arena, 4096), 0x5a, 4096);
	CU_ASSERT_FATAL(decode(&fx, &c, &why) == 0);
	CU_ASSERT_TRUE(same_str(k->number, c.number));
	CU_ASSERT_TRUE(same_str(k->issuing_authority, c.issuing_authority));
	CU_ASSERT_TRUE(same_str(k->exporter.name, c.exporter.name));
	CU_ASSERT_TRUE(same_str(k->exporter.address, c.exporter.address));
	CU_ASSERT_TRUE(same_str(k->importer.identifier, c.importer.identifier));
	CU_ASSERT_TRUE(same_str(k->traceability_ref, c.traceability_ref));
	CU_ASSERT_STRING_EQUAL(k->issuing_participant, "ZA");
	CU_ASSERT_STRING_EQUAL(k->importing_participant, "EU");
	CU_ASSERT_EQUAL_FATAL(k->n_origins, 3);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_STRING_EQUAL(k->origins[i].country, cc[i]);
		CU_ASSERT_TRUE(same_str(k->origins[i].zone, c.origins[i].zone));
	}
	CU_ASSERT_EQUAL_FATAL(k->n_lines, c.n_lines);
	for (uint32_t i = 0; i < c.n_lines; i++) {
		CU_ASSERT_EQUAL(k->lines[i].hs_code, c.lines[i].hs_code);
		CU_ASSERT_EQUAL(k->lines[i].carats_centi, c.lines[i].carats_centi);
		CU_ASSERT_EQUAL(k->lines[i].value_usd_cents, c.lines[i].value_usd_cents);
	}
	CU_ASSERT_EQUAL_FATAL(k->n_seals, 2);
	CU_ASSERT_TRUE(same_str(k->seals[1], c.seals[1]));
	CU_ASSERT_EQUAL(k->total_value_usd_cents, c.total_value_usd_cents);
	CU_ASSERT_EQUAL(k->issue_date, c.issue_date);
	CU_ASSERT_TRUE(inside(k->number.p, buf, (size_t)n));
	CU_ASSERT_TRUE(inside(k->origins, buf, (size_t)n));
	CU_ASSERT_TRUE(inside(k->lines, buf, (size_t)n));
	CU_ASSERT_TRUE(inside(k->seals[1].p, buf, (size_t)n));
	CU_ASSERT_TRUE(inside(k->origins[0].zone.p, buf, (size_t)n));

	for (size_t cap = 0; cap < (size_t)n; cap++) {
		const struct kpg_cert *none = NULL;

		memset(buf, 0xee, sizeof(buf));
		CU_ASSERT_EQUAL(kpg_cert_copy(&c, buf, cap, &none), -ENOSPC);
		CU_ASSERT_PTR_NULL(none);
		CU_ASSERT_EQUAL(buf[cap], 0xee);
	}
	CU_ASSERT_EQUAL(kpg_cert_copy(&c, buf, (size_t)n, &k), n);
}

static void test_participant_code_valid(void)
{
	CU_ASSERT_TRUE(kpg_participant_code_valid("ZA", 2));
	CU_ASSERT_TRUE(kpg_participant_code_valid("EU", 2));
	CU_ASSERT_FALSE(kpg_participant_code_valid("za", 2));
	CU_ASSERT_FALSE(kpg_participant_code_valid("Za", 2));
	CU_ASSERT_FALSE(kpg_participant_code_valid("Z1", 2));
	CU_ASSERT_FALSE(kpg_participant_code_valid("Z", 1));
	CU_ASSERT_FALSE(kpg_participant_code_valid("ZAF", 3));
	CU_ASSERT_FALSE(kpg_participant_code_valid("", 0));
	CU_ASSERT_FALSE(kpg_participant_code_valid(NULL, 2));
	CU_ASSERT_FALSE(kpg_participant_code_valid("@Z", 2));  /* 'A' - 1 */
	CU_ASSERT_FALSE(kpg_participant_code_valid("Z[", 2));  /* 'Z' + 1 */
}

static void test_participant_codes(void)
{
	struct cert_fx fx;

	cert_fx_init(&fx);
	fx.c.issuing_participant = (char *)"za";
	fx.c.number = (char *)"za-2024-1";
	refused(&fx, "bad issuing participant code");
	fx.c.issuing_participant = (char *)"ZAF";
	fx.c.number = (char *)"ZAF-2024-1";
	refused(&fx, "bad issuing participant code");

	cert_fx_init(&fx);
	fx.c.importing_participant = (char *)"E";
	refused(&fx, "bad importing participant code");
	fx.c.importing_participant = (char *)"BE";   /* a member state */
	accepted(&fx);

	cert_fx_init(&fx);
	fx.origin[0].country = (char *)"Z4";
	refused(&fx, "bad origin country code");
	/* a bad code in the second of several origins is found too */
	cert_fx_init(&fx);
	fx.c.mixed_origin = 1;
	fx.c.n_origins = 2;
	fx.origin[1].country = (char *)"RUS";
	refused(&fx, "bad origin country code");

	/* the EU issues as one participant */
	cert_fx_init(&fx);
	fx.c.issuing_participant = (char *)"EU";
	fx.c.number = (char *)"EU-BE-2024-55";
	fx.c.importing_participant = (char *)"AE";
	accepted(&fx);
}

static void test_certificate_number(void)
{
	struct cert_fx fx;

	cert_fx_init(&fx);
	fx.c.number = (char *)"";
	refused(&fx, "certificate number missing");
	fx.c.number = (char *)"BW-2024-000123";  /* another issuer's number */
	refused(&fx, "certificate number not of issuer");
	fx.c.number = (char *)"ZA2024000123";
	refused(&fx, "certificate number not of issuer");
	fx.c.number = (char *)"ZA-";
	refused(&fx, "certificate number not of issuer");
	fx.c.number = (char *)"Z";
	refused(&fx, "certificate number not of issuer");
	fx.c.number = (char *)"ZA-1";
	accepted(&fx);
}

static void test_dates(void)
{
	struct cert_fx fx;

	cert_fx_init(&fx);
	fx.c.issue_date = 20240301;
	fx.c.expiry_date = 20240301;              /* same day: valid */
	accepted(&fx);
	fx.c.expiry_date = 20240229;              /* the day before */
	refused(&fx, "expiry before issue");

	fx.c.issue_date = 20240229;               /* leap year */
	fx.c.expiry_date = 20240529;
	accepted(&fx);
	fx.c.issue_date = 20230229;
	fx.c.expiry_date = 20230529;
	refused(&fx, "bad issue date");
	fx.c.issue_date = 20000229;               /* divisible by 400 */
	fx.c.expiry_date = 20000301;
	accepted(&fx);
	fx.c.issue_date = 21000228;
	fx.c.expiry_date = 21000229;              /* 2100 is not leap */
	refused(&fx, "bad expiry date");

	fx.c.issue_date = 0;
	fx.c.expiry_date = 20240301;
	refused(&fx, "bad issue date");
	fx.c.issue_date = 20241301;
	refused(&fx, "bad issue date");
	fx.c.issue_date = 20240101;
	fx.c.expiry_date = 20240132;
	refused(&fx, "bad expiry date");
	fx.c.expiry_date = 20240131;
	accepted(&fx);
}

static void test_hs_lines(void)
{
	struct cert_fx fx;

	cert_fx_init(&fx);
	fx.c.n_lines = 0;
	refused(&fx, "no HS code line");

	cert_fx_init(&fx);
	fx.line[0].hs_code = KPGATE__HS_CODE__HS_UNSPECIFIED;
	refused(&fx, "HS code outside the KP scheme");

	cert_fx_init(&fx);
	fx.c.n_lines = 2;
	fx.line[1].carats_centi = 0;
	refused(&fx, "HS line without carats");
	fx.line[1].carats_centi = 1;              /* 0.01 ct is a parcel */
	accepted(&fx);
}

static void test_totals_overflow(void)
{
	struct cert_fx fx;
	struct kpg_cert c;
	const char *why;

	cert_fx_init(&fx);
	fx.c.n_lines = 2;
	fx.line[0].carats_centi = UINT64_MAX - 100;
	fx.line[1].carats_centi = 100;            /* sums to UINT64_MAX */
	CU_ASSERT_EQUAL(decode(&fx, &c, &why), 0);
	CU_ASSERT_EQUAL(c.total_carats_centi, UINT64_MAX);
	fx.line[1].carats_centi = 101;            /* would wrap to 0 */
	refused(&fx, "carat total overflows");

	cert_fx_init(&fx);
	fx.c.n_lines = 2;
	fx.line[0].value_usd_cents = UINT64_MAX;
	fx.line[1].value_usd_cents = 0;
	accepted(&fx);
	fx.line[1].value_usd_cents = 1;
	refused(&fx, "value total overflows");
}

static void test_origins(void)
{
	struct cert_fx fx;

	cert_fx_init(&fx);
	fx.c.n_origins = 0;
	refused(&fx, "unmixed origin needs exactly one country");
	fx.c.n_origins = 2;
	refused(&fx, "unmixed origin needs exactly one country");
	fx.c.mixed_origin = 1;                    /* mixed: any number */
	accepted(&fx);
	fx.c.n_origins = 0;
	accepted(&fx);
}

static void test_parcels(void)
{
	struct cert_fx fx;

	cert_fx_init(&fx);
	fx.c.parcels = 0;
	refused(&fx, "no parcels");
	fx.c.parcels = 1;
	accepted(&fx);
	fx.c.parcels = UINT32_MAX;
	accepted(&fx);
}

static void test_not_protobuf(void)
{
	static const uint8_t junk[] = { 0x0a, 0x40, 'Z', 'A' };
	struct kpg_cert c;
	const char *why = NULL;

	kpg_arena_reset(&arena);
	CU_ASSERT_EQUAL(kpg_cert_decode(junk, sizeof(junk), &arena, &c, &why),
			-EBADMSG);
	CU_ASSERT_STRING_EQUAL(why, "certificate does not decode");
}

/* Decoding reuses the same arena bytes request after request. */
static void test_arena_reuse_and_exhaustion(void)
{
	struct cert_fx fx;
	struct kpg_cert c;
	const char *why;
	size_t used, hw;
	struct kpg_arena small;
	uint8_t b[2048];
	size_t n;

	cert_fx_init(&fx);
	CU_ASSERT_EQUAL_FATAL(decode(&fx, &c, &why), 0);
	used = arena.used;
	hw = arena.high_water;
	CU_ASSERT(used > 0 && hw >= used);
	for (int i = 0; i < 1000; i++)
		CU_ASSERT_EQUAL(decode(&fx, &c, &why), 0);
	CU_ASSERT_EQUAL(arena.used, used);
	CU_ASSERT_EQUAL(arena.high_water, hw);

	/* an arena too small fails cleanly, blaming the arena */
	n = cert_fx_pack(&fx, b);
	CU_ASSERT_EQUAL_FATAL(kpg_arena_init(&small, used / 2), 0);
	CU_ASSERT_EQUAL(kpg_cert_decode(b, n, &small, &c, &why), -ENOMEM);
	CU_ASSERT_STRING_EQUAL(why, "decode arena full");
	CU_ASSERT(small.failed > 0);
	kpg_arena_fini(&small);
	CU_ASSERT_PTR_NULL(small.base);

	/* just large enough for protobuf-c, too small for the view arrays */
	CU_ASSERT_EQUAL_FATAL(kpg_arena_init(&small, used - 16), 0);
	CU_ASSERT_EQUAL(kpg_cert_decode(b, n, &small, &c, &why), -ENOMEM);
	kpg_arena_fini(&small);
	CU_ASSERT_EQUAL_FATAL(kpg_arena_init(&small, used), 0);
	CU_ASSERT_EQUAL(kpg_cert_decode(b, n, &small, &c, &why), 0);
	kpg_arena_fini(&small);
}

static void test_arena_alloc(void)
{
	struct kpg_arena a;
	uint8_t *p, *q;

	CU_ASSERT_EQUAL(kpg_arena_init(&a, 0), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(kpg_arena_init(&a, 100), 0);
	CU_ASSERT_EQUAL(a.size, 112);             /* rounded to 16 */
	p = kpg_arena_alloc(&a, 1);
	q = kpg_arena_alloc(&a, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	CU_ASSERT_NOT_EQUAL(p, q);
	CU_ASSERT_EQUAL((uintptr_t)p % 16, 0);
	CU_ASSERT_EQUAL((uintptr_t)q % 16, 0);
	CU_ASSERT_PTR_NOT_NULL(kpg_arena_alloc(&a, 80));  /* exactly full */
	CU_ASSERT_EQUAL(a.used, a.size);
	CU_ASSERT_PTR_NULL(kpg_arena_alloc(&a, 1));
	CU_ASSERT_PTR_NULL(kpg_arena_alloc(&a, SIZE_MAX));
	CU_ASSERT_EQUAL(a.failed, 2);
	kpg_arena_reset(&a);
	CU_ASSERT_PTR_EQUAL(kpg_arena_alloc(&a, 112), p);
	CU_ASSERT_EQUAL(a.high_water, 112);
	/* protobuf-c's allocator hooks point at this arena */
	kpg_arena_reset(&a);
	CU_ASSERT_PTR_EQUAL(a.pb.alloc(a.pb.allocator_data, 8), p);
	a.pb.free(a.pb.allocator_data, p);        /* a no-op */
	CU_ASSERT_EQUAL(a.used, 16);
	kpg_arena_fini(&a);
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "round trip", test_round_trip },
		{ "round trip: mixed origin, many lines", test_round_trip_many },
		{ "copy into one block", test_copy },
		{ "participant code syntax", test_participant_code_valid },
		{ "participant codes", test_participant_codes },
		{ "certificate number", test_certificate_number },
		{ "dates", test_dates },
		{ "HS lines", test_hs_lines },
		{ "totals overflow", test_totals_overflow },
		{ "origins", test_origins },
		{ "parcels", test_parcels },
		{ "not protobuf", test_not_protobuf },
		{ "arena reuse and exhaustion", test_arena_reuse_and_exhaustion },
		{ "arena alloc", test_arena_alloc },
		{ NULL, NULL },
	};

	return kpg_cunit_run("cert", tests, setup, teardown);
}
