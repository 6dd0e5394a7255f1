/* test_pb.c — the pre-scan: every malformed shape refused under its own
 * reason, canonical-only rules refused only in canonical mode, and what
 * protobuf-c itself packs always accepted. */
#include "kpg_cunit.h"
#include "kpg_limits.h"
#include "kpg_pb.h"
#include "test_wire_fixture.h"

static const struct kpg_pb_limits canon = {
	.max_len = KPG_STR_MAX, .max_fields = KPG_FIELDS_MAX,
	.max_depth = KPG_DEPTH_MAX, .canonical = true,
};
static const struct kpg_pb_limits loose = {
	.max_len = KPG_STR_MAX, .max_fields = KPG_FIELDS_MAX,
	.max_depth = KPG_DEPTH_MAX, .canonical = false,
};

static enum kpg_wire_reason scan(const ProtobufCMessageDescriptor *d,
				 const struct tbuf *t,
				 const struct kpg_pb_limits *lim)
{
	return kpg_pb_scan(d, t->b, t->n, lim);
}

/* Both modes must give the same reason for shapes that are wrong in any
 * encoding; this runs both and reports a difference as a failure. */
static enum kpg_wire_reason scan_both(const ProtobufCMessageDescriptor *d,
				      const struct tbuf *t)
{
	enum kpg_wire_reason a = scan(d, t, &canon), b = scan(d, t, &loose);

	CU_ASSERT_EQUAL(a, b);
	return a;
}

#define HSL (&kpgate__hs_line__descriptor)
#define ORG (&kpgate__origin__descriptor)
#define CERT (&kpgate__certificate__descriptor)
#define SCERT (&kpgate__signed_certificate__descriptor)
#define MEAS (&kpgate__measurement__descriptor)

/* ---- a hand-made descriptor with every proto2 scalar kind, packed and
 * unpacked repeated fields, a oneof and a self-nested message ---- */

static const ProtobufCMessageDescriptor probe;

#define PF(n, id, lab, ty, d, q, fl) \
	{ n, id, PROTOBUF_C_LABEL_##lab, PROTOBUF_C_TYPE_##ty, q, 0, d, NULL, \
	  fl, 0, NULL, NULL }
static const ProtobufCFieldDescriptor probe_fields[] = {
	PF("i32", 1, OPTIONAL, INT32, NULL, 0, 0),
	PF("s32", 2, OPTIONAL, SINT32, NULL, 0, 0),
	PF("s64", 3, OPTIONAL, SINT64, NULL, 0, 0),
	PF("f32", 4, OPTIONAL, FIXED32, NULL, 0, 0),
	PF("f64", 5, OPTIONAL, FIXED64, NULL, 0, 0),
	PF("sf32", 6, OPTIONAL, SFIXED32, NULL, 0, 0),
	PF("dbl", 7, OPTIONAL, DOUBLE, NULL, 0, 0),
	PF("flt", 8, OPTIONAL, FLOAT, NULL, 0, 0),
	PF("packed", 9, REPEATED, UINT32, NULL, 0, PROTOBUF_C_FIELD_FLAG_PACKED),
	PF("unpacked", 10, REPEATED, UINT32, NULL, 0, 0),
	PF("child", 11, OPTIONAL, MESSAGE, &probe, 0, 0),
	PF("flag", 12, OPTIONAL, BOOL, NULL, 0, 0),
	PF("i64", 13, OPTIONAL, INT64, NULL, 0, 0),
	PF("pf64", 14, REPEATED, FIXED64, NULL, 0, PROTOBUF_C_FIELD_FLAG_PACKED),
	PF("u32", 15, OPTIONAL, UINT32, NULL, 0, 0),
	PF("dec", 16, OPTIONAL, ENUM, &kpgate__decision__descriptor, 0, 0),
	PF("one_a", 17, OPTIONAL, STRING, NULL, 8, PROTOBUF_C_FIELD_FLAG_ONEOF),
	PF("one_b", 18, OPTIONAL, STRING, NULL, 8, PROTOBUF_C_FIELD_FLAG_ONEOF),
};
static const ProtobufCIntRange probe_ranges[] = { { 1, 0 }, { 0, 18 } };
static const ProtobufCMessageDescriptor probe = {
	PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC, "Probe", "Probe", "Probe", "",
	0, 18, probe_fields, NULL, 1, probe_ranges, NULL, NULL, NULL, NULL,
};

/* ---- what protobuf-c packs passes ---- */

static void test_packed_certificate_is_canonical(void)
{
	struct cert_fx fx;
	uint8_t b[2048];
	size_t n;

	cert_fx_init(&fx);
	n = cert_fx_pack(&fx, b);
	CU_ASSERT_EQUAL(kpg_pb_scan(CERT, b, n, &canon), KPG_WIRE_OK);
	CU_ASSERT_EQUAL(kpg_pb_scan(CERT, b, n, &loose), KPG_WIRE_OK);

	/* many origins, lines and seals: repeated fields stay contiguous */
	fx.c.mixed_origin = 1;
	fx.c.n_origins = 4;
	fx.c.n_lines = 3;
	fx.line[1].hs_code = KPGATE__HS_CODE__HS_7102_10;
	fx.line[2].hs_code = KPGATE__HS_CODE__HS_7102_21;
	n = cert_fx_pack(&fx, b);
	CU_ASSERT_EQUAL(kpg_pb_scan(CERT, b, n, &canon), KPG_WIRE_OK);

	/* optional fields absent */
	fx.c.n_container_seals = 0;
	fx.c.traceability_ref = NULL;
	fx.exporter.address = NULL;
	n = cert_fx_pack(&fx, b);
	CU_ASSERT_EQUAL(kpg_pb_scan(CERT, b, n, &canon), KPG_WIRE_OK);
}

static void test_all_scalar_kinds_pass(void)
{
	struct tbuf t = { .n = 0 };
	uint8_t four[4] = { 1, 2, 3, 4 }, eight[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct tbuf child = { .n = 0 };

	tb_uint(&t, 1, (uint64_t)-1);         /* int32 -1: ten bytes */
	tb_uint(&t, 2, 0xffffffffu);          /* sint32 zigzag of INT32_MIN */
	tb_uint(&t, 3, UINT64_MAX);           /* sint64 */
	tb_tag(&t, 4, 5); tb_raw(&t, four, 4);
	tb_tag(&t, 5, 1); tb_raw(&t, eight, 8);
	tb_tag(&t, 6, 5); tb_raw(&t, four, 4);
	tb_tag(&t, 7, 1); tb_raw(&t, eight, 8);
	tb_tag(&t, 8, 5); tb_raw(&t, four, 4);
	tb_uint(&child, 15, 7);
	tb_sub(&t, 11, &child);
	tb_uint(&t, 12, 1);
	tb_uint(&t, 13, (uint64_t)INT64_MIN);
	tb_uint(&t, 15, UINT32_MAX);
	tb_uint(&t, 16, 3);                   /* REJECT */
	tb_str(&t, 17, "a");
	CU_ASSERT_EQUAL(scan_both(&probe, &t), KPG_WIRE_OK);
}

/* ---- varints ---- */

static void test_truncated_varint(void)
{
	struct tbuf t = { .n = 0 };

	tb_uint(&t, 1, KPGATE__HS_CODE__HS_7102_31);
	tb_tag(&t, 2, 0);
	tb_byte(&t, 0x80);                    /* continuation, then nothing */
	CU_ASSERT_EQUAL(scan_both(HSL, &t), KPG_WIRE_BAD_VARINT);

	t.n = 0;
	tb_byte(&t, 0x88);                    /* a tag cut short */
	CU_ASSERT_EQUAL(scan_both(HSL, &t), KPG_WIRE_BAD_VARINT);

	t.n = 0;
	tb_tag(&t, 1, 2);
	tb_byte(&t, 0xff);                    /* a length cut short */
	CU_ASSERT_EQUAL(scan_both(ORG, &t), KPG_WIRE_BAD_VARINT);
}

static void test_overlong_varint(void)
{
	struct tbuf t = { .n = 0 };

	tb_uint(&t, 1, KPGATE__HS_CODE__HS_7102_31);
	tb_uint(&t, 3, 1);
	tb_tag(&t, 2, 0);
	for (int i = 0; i < 10; i++)
		tb_byte(&t, 0xff);
	tb_byte(&t, 0x01);                    /* eleven bytes */
	CU_ASSERT_EQUAL(scan_both(HSL, &t), KPG_WIRE_BAD_VARINT);

	/* ten bytes, but the last carries bits past 64 */
	t.n = 0;
	tb_uint(&t, 1, KPGATE__HS_CODE__HS_7102_31);
	tb_uint(&t, 3, 1);
	tb_tag(&t, 2, 0);
	for (int i = 0; i < 9; i++)
		tb_byte(&t, 0xff);
	tb_byte(&t, 0x02);
	CU_ASSERT_EQUAL(scan_both(HSL, &t), KPG_WIRE_BAD_VARINT);

	/* UINT64_MAX itself is ten bytes and fine */
	t.n = 0;
	tb_uint(&t, 1, KPGATE__HS_CODE__HS_7102_31);
	tb_uint(&t, 2, UINT64_MAX);
	tb_uint(&t, 3, 1);
	CU_ASSERT_EQUAL(scan_both(HSL, &t), KPG_WIRE_OK);

	/* a tag beyond 32 bits names no field number */
	t.n = 0;
	tb_varint(&t, (uint64_t)1 << 35);
	tb_byte(&t, 0);
	CU_ASSERT_EQUAL(scan_both(HSL, &t), KPG_WIRE_BAD_VARINT);
}

static void test_nonminimal_varint_canonical_only(void)
{
	struct tbuf t = { .n = 0 };

	/* value 1 as 0x81 0x00 */
	tb_uint(&t, 1, KPGATE__HS_CODE__HS_7102_31);
	tb_tag(&t, 2, 0);
	tb_byte(&t, 0x81);
	tb_byte(&t, 0x00);
	tb_uint(&t, 3, 1);
	CU_ASSERT_EQUAL(scan(HSL, &t, &loose), KPG_WIRE_OK);
	CU_ASSERT_EQUAL(scan(HSL, &t, &canon), KPG_WIRE_BAD_VARINT);

	/* tag 0x08 as 0x88 0x00 */
	t.n = 0;
	tb_byte(&t, 0x88);
	tb_byte(&t, 0x00);
	tb_varint(&t, KPGATE__HS_CODE__HS_7102_31);
	tb_uint(&t, 2, 1);
	tb_uint(&t, 3, 1);
	CU_ASSERT_EQUAL(scan(HSL, &t, &loose), KPG_WIRE_OK);
	CU_ASSERT_EQUAL(scan(HSL, &t, &canon), KPG_WIRE_BAD_VARINT);

	/* string length 2 as 0x82 0x80 0x00 */
	t.n = 0;
	tb_tag(&t, 1, 2);
	tb_raw(&t, "\x82\x80\x00", 3);
	tb_raw(&t, "ZA", 2);
	CU_ASSERT_EQUAL(scan(ORG, &t, &loose), KPG_WIRE_OK);
	CU_ASSERT_EQUAL(scan(ORG, &t, &canon), KPG_WIRE_BAD_VARINT);
}

/* ---- lengths ---- */

static void test_truncated_length(void)
{
	struct tbuf t = { .n = 0 };
	uint8_t four[4] = { 0 };

	tb_tag(&t, 1, 2);
	tb_varint(&t, 10);
	tb_raw(&t, "ZA", 2);                  /* 8 bytes missing */
	CU_ASSERT_EQUAL(scan_both(ORG, &t), KPG_WIRE_TRUNCATED);

	/* a nested message claiming more than its parent holds */
	struct cert_fx fx;
	uint8_t b[2048];
	size_t n;

	cert_fx_init(&fx);
	n = cert_fx_pack(&fx, b);
	CU_ASSERT_EQUAL(kpg_pb_scan(CERT, b, n - 1, &canon),
			KPG_WIRE_TRUNCATED);

	/* fixed-width values cut short */
	t.n = 0;
	tb_tag(&t, 5, 1);
	tb_raw(&t, four, 4);
	CU_ASSERT_EQUAL(scan_both(&probe, &t), KPG_WIRE_TRUNCATED);
	t.n = 0;
	tb_tag(&t, 4, 5);
	tb_raw(&t, four, 3);
	CU_ASSERT_EQUAL(scan_both(&probe, &t), KPG_WIRE_TRUNCATED);
}

static void test_oversized_field(void)
{
	struct tbuf t = { .n = 0 };
	char s[KPG_STR_MAX + 2];

	memset(s, 'x', sizeof(s));
	s[KPG_STR_MAX] = '\0';
	tb_str(&t, 1, "ZA");
	tb_str(&t, 2, s);                     /* exactly the limit */
	CU_ASSERT_EQUAL(scan_both(ORG, &t), KPG_WIRE_OK);

	s[KPG_STR_MAX] = 'x';
	s[KPG_STR_MAX + 1] = '\0';
	t.n = 0;
	tb_str(&t, 1, "ZA");
	tb_str(&t, 2, s);                     /* one byte over */
	CU_ASSERT_EQUAL(scan_both(ORG, &t), KPG_WIRE_OVERSIZED_FIELD);

	/* bytes fields obey the same limit */
	t.n = 0;
	tb_len(&t, 1, s, 4);
	tb_len(&t, 2, s, KPG_STR_MAX + 1);
	tb_len(&t, 3, s, KPG_KEY_ID_LEN);
	CU_ASSERT_EQUAL(scan_both(SCERT, &t), KPG_WIRE_OVERSIZED_FIELD);
}

/* ---- wire types and field numbers ---- */

static void test_bad_wire_type(void)
{
	struct tbuf t = { .n = 0 };

	/* hs_code (varint) sent length-prefixed */
	tb_len(&t, 1, "\x01", 1);
	tb_uint(&t, 2, 1);
	tb_uint(&t, 3, 1);
	CU_ASSERT_EQUAL(scan_both(HSL, &t), KPG_WIRE_BAD_WIRE_TYPE);

	/* country (string) sent as a varint */
	t.n = 0;
	tb_uint(&t, 1, 5);
	CU_ASSERT_EQUAL(scan_both(ORG, &t), KPG_WIRE_BAD_WIRE_TYPE);

	/* a fixed32 field sent as 64-bit */
	t.n = 0;
	tb_tag(&t, 4, 1);
	tb_raw(&t, "\0\0\0\0\0\0\0\0", 8);
	CU_ASSERT_EQUAL(scan_both(&probe, &t), KPG_WIRE_BAD_WIRE_TYPE);

	/* group start/end and the two wire types that do not exist */
	for (unsigned wt = 3; wt <= 7; wt++) {
		if (wt == 5)
			continue;
		t.n = 0;
		tb_tag(&t, 1, wt);
		tb_byte(&t, 0);
		CU_ASSERT_EQUAL(scan_both(ORG, &t), KPG_WIRE_BAD_WIRE_TYPE);
	}
}

static void test_unknown_field(void)
{
	struct tbuf t = { .n = 0 };

	tb_str(&t, 1, "ZA");
	tb_str(&t, 3, "extra");
	CU_ASSERT_EQUAL(scan_both(ORG, &t), KPG_WIRE_UNKNOWN_FIELD);

	t.n = 0;
	tb_str(&t, 1, "ZA");
	tb_uint(&t, 0, 1);                    /* field number 0 */
	CU_ASSERT_EQUAL(scan_both(ORG, &t), KPG_WIRE_UNKNOWN_FIELD);

	/* unknown inside a nested message is found too */
	struct cert_fx fx;
	uint8_t b[2048];
	struct tspan sp[40];
	struct tbuf party = { .n = 0 }, field = { .n = 0 }, out = { .n = 0 };

	cert_fx_init(&fx);
	size_t n = tb_split(b, cert_fx_pack(&fx, b), sp, 40);
	tb_str(&party, 1, "Exporter");
	tb_str(&party, 9, "?");
	tb_sub(&field, 4, &party);
	tb_replace(&out, sp, n, 4, &field);
	CU_ASSERT_EQUAL(scan_both(CERT, &out), KPG_WIRE_UNKNOWN_FIELD);
}

static void test_duplicate_field(void)
{
	struct tbuf t = { .n = 0 };

	tb_str(&t, 1, "ZA");
	tb_str(&t, 1, "RU");                  /* which origin? */
	CU_ASSERT_EQUAL(scan_both(ORG, &t), KPG_WIRE_DUPLICATE_FIELD);

	/* a singular field twice but not adjacent: still a duplicate */
	t.n = 0;
	tb_str(&t, 1, "ZA");
	tb_str(&t, 2, "zone");
	tb_str(&t, 1, "ZA");
	CU_ASSERT_EQUAL(scan_both(ORG, &t), KPG_WIRE_DUPLICATE_FIELD);

	/* a message field twice (protobuf-c would merge the two) */
	struct cert_fx fx;
	uint8_t b[2048];
	struct tspan sp[40];
	struct tbuf two = { .n = 0 }, out = { .n = 0 };

	cert_fx_init(&fx);
	size_t n = tb_split(b, cert_fx_pack(&fx, b), sp, 40);
	for (size_t i = 0; i < n; i++)
		if (sp[i].id == 4) {
			tb_raw(&two, sp[i].p, sp[i].n);
			tb_raw(&two, sp[i].p, sp[i].n);
		}
	tb_replace(&out, sp, n, 4, &two);
	CU_ASSERT_EQUAL(scan_both(CERT, &out), KPG_WIRE_DUPLICATE_FIELD);

	/* two members of one oneof */
	t.n = 0;
	tb_str(&t, 17, "a");
	tb_str(&t, 18, "b");
	CU_ASSERT_EQUAL(scan_both(&probe, &t), KPG_WIRE_DUPLICATE_FIELD);

	/* repeated fields may repeat */
	t.n = 0;
	tb_uint(&t, 10, 1);
	tb_uint(&t, 10, 2);
	CU_ASSERT_EQUAL(scan_both(&probe, &t), KPG_WIRE_OK);
}

/* ---- order: canonical only ---- */

static void test_out_of_order_canonical_only(void)
{
	struct tbuf t = { .n = 0 };

	tb_str(&t, 2, "Berberati");
	tb_str(&t, 1, "CF");
	CU_ASSERT_EQUAL(scan(ORG, &t, &loose), KPG_WIRE_OK);
	CU_ASSERT_EQUAL(scan(ORG, &t, &canon), KPG_WIRE_OUT_OF_ORDER);

	/* a whole certificate with two top-level fields swapped */
	struct cert_fx fx;
	uint8_t b[2048];
	struct tspan sp[40];
	struct tbuf out = { .n = 0 };

	cert_fx_init(&fx);
	size_t n = tb_split(b, cert_fx_pack(&fx, b), sp, 40);
	CU_ASSERT_EQUAL_FATAL(n, 15);
	struct tspan tmp = sp[10];            /* issue_date <-> expiry_date */
	sp[10] = sp[11];
	sp[11] = tmp;
	for (size_t i = 0; i < n; i++)
		tb_raw(&out, sp[i].p, sp[i].n);
	CU_ASSERT_EQUAL(scan(CERT, &out, &loose), KPG_WIRE_OK);
	CU_ASSERT_EQUAL(scan(CERT, &out, &canon), KPG_WIRE_OUT_OF_ORDER);
}

static void test_repeated_not_contiguous_canonical_only(void)
{
	struct cert_fx fx;
	uint8_t b[2048];
	struct tspan sp[40];
	struct tbuf out = { .n = 0 };
	size_t n, second = 0;

	cert_fx_init(&fx);
	fx.c.mixed_origin = 1;
	fx.c.n_origins = 2;
	n = tb_split(b, cert_fx_pack(&fx, b), sp, 40);
	for (size_t i = 1; i < n; i++)
		if (sp[i].id == 8 && sp[i - 1].id == 8)
			second = i;
	CU_ASSERT_FATAL(second != 0);
	/* origin, line, origin: the second origin moved after the lines */
	for (size_t i = 0; i < n; i++) {
		if (i == second)
			continue;
		tb_raw(&out, sp[i].p, sp[i].n);
		if (sp[i].id == 9)
			tb_raw(&out, sp[second].p, sp[second].n);
	}
	CU_ASSERT_EQUAL(out.n, (size_t)cert_fx_pack(&fx, b));
	CU_ASSERT_EQUAL(scan(CERT, &out, &loose), KPG_WIRE_OK);
	CU_ASSERT_EQUAL(scan(CERT, &out, &canon), KPG_WIRE_OUT_OF_ORDER);
}

/* ---- presence ---- */

static void test_missing_required(void)
{
	struct tbuf t = { .n = 0 };

	tb_uint(&t, 1, KPGATE__HS_CODE__HS_7102_31);
	tb_uint(&t, 2, 100);                  /* no value_usd_cents */
	CU_ASSERT_EQUAL(scan_both(HSL, &t), KPG_WIRE_MISSING_FIELD);

	t.n = 0;                              /* empty Origin: no country */
	CU_ASSERT_EQUAL(scan_both(ORG, &t), KPG_WIRE_MISSING_FIELD);
	CU_ASSERT_EQUAL(scan_both(MEAS, &t), KPG_WIRE_OK);  /* all optional */

	/* a nested Party without its name */
	struct cert_fx fx;
	uint8_t b[2048];
	struct tspan sp[40];
	struct tbuf party = { .n = 0 }, field = { .n = 0 }, out = { .n = 0 };
	size_t n;

	cert_fx_init(&fx);
	n = tb_split(b, cert_fx_pack(&fx, b), sp, 40);
	tb_str(&party, 2, "Hoveniersstraat 2, Antwerpen");
	tb_sub(&field, 5, &party);
	tb_replace(&out, sp, n, 5, &field);
	CU_ASSERT_EQUAL(scan_both(CERT, &out), KPG_WIRE_MISSING_FIELD);

	/* a top-level required field dropped */
	out.n = 0;
	tb_replace(&out, sp, n, 10, NULL);    /* parcels */
	CU_ASSERT_EQUAL(scan_both(CERT, &out), KPG_WIRE_MISSING_FIELD);
}

/* ---- counts and depth ---- */

static void test_too_many_fields(void)
{
	struct cert_fx fx;
	uint8_t b[2048];
	size_t n;
	struct kpg_pb_limits lim = canon;

	/* the fixture holds 15 top-level and 10 nested fields */
	cert_fx_init(&fx);
	n = cert_fx_pack(&fx, b);
	lim.max_fields = 25;
	CU_ASSERT_EQUAL(kpg_pb_scan(CERT, b, n, &lim), KPG_WIRE_OK);
	lim.max_fields = 24;
	CU_ASSERT_EQUAL(kpg_pb_scan(CERT, b, n, &lim),
			KPG_WIRE_TOO_MANY_FIELDS);

	/* many small repeated fields under the protocol's own limit */
	struct tbuf t = { .n = 0 };

	for (unsigned i = 0; i < KPG_FIELDS_MAX + 1; i++)
		tb_uint(&t, 10, 1);
	CU_ASSERT_EQUAL(scan_both(&probe, &t), KPG_WIRE_TOO_MANY_FIELDS);
	t.n -= 2;
	CU_ASSERT_EQUAL(scan_both(&probe, &t), KPG_WIRE_OK);
}

static void probe_nest(struct tbuf *t, unsigned levels)
{
	struct tbuf inner = { .n = 0 };

	tb_uint(&inner, 15, levels);
	for (unsigned i = 0; i < levels; i++) {
		struct tbuf outer = { .n = 0 };

		tb_sub(&outer, 11, &inner);
		inner = outer;
	}
	*t = inner;
}

static void test_too_deep(void)
{
	struct tbuf t;
	struct kpg_pb_limits lim = canon;

	probe_nest(&t, KPG_DEPTH_MAX);
	CU_ASSERT_EQUAL(scan_both(&probe, &t), KPG_WIRE_OK);
	probe_nest(&t, KPG_DEPTH_MAX + 1);
	CU_ASSERT_EQUAL(scan_both(&probe, &t), KPG_WIRE_TOO_DEEP);

	/* a certificate nests one level (its parties, origins, lines) */
	struct cert_fx fx;
	uint8_t b[2048];
	size_t n;

	cert_fx_init(&fx);
	n = cert_fx_pack(&fx, b);
	lim.max_depth = 1;
	CU_ASSERT_EQUAL(kpg_pb_scan(CERT, b, n, &lim), KPG_WIRE_OK);
	lim.max_depth = 0;
	CU_ASSERT_EQUAL(kpg_pb_scan(CERT, b, n, &lim), KPG_WIRE_TOO_DEEP);
}

/* ---- string contents ---- */

/* The byte-by-byte rules (RFC 3629, no NUL), as kpg_pb_utf8_ok() had them
 * before it took ASCII eight bytes at a time. */
static bool ref_utf8_ok(const uint8_t *p, uint32_t len)
{
	const uint8_t *end = p + len;

	while (p < end) {
		uint8_t c = *p++, lo = 0x80, hi = 0xbf;
		unsigned n;

		if (c == 0)
			return false;
		if (c < 0x80)
			continue;
		if (c >= 0xc2 && c <= 0xdf)
			n = 1;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
		else
			return false;
		if ((size_t)(end - p) < n || p[0] < lo || p[0] > hi)
			return false;
		for (unsigned i = 1; i < n; i++)
			if ((p[i] & 0xc0) != 0x80)
				return false;
		p += n;
	}
	return true;
}

/* Strings of every mix (ASCII runs, NULs, valid and broken multi-byte
 * characters, at every offset and length) judged as the byte-by-byte
 * rules judge them. */
static void test_utf8_matches_reference(void)
{
	static const uint8_t pieces[][4] = {
		{ 'a' }, { 'Z' }, { ' ' }, { 0 }, { 0x7f }, { 0xc3, 0xa9 }, { 0xe2, 0x82, 0xac },
		{ 0xf0, 0x9f, 0x92, 0x8e }, { 0x80 }, { 0xc0, 0x80 }, { 0xed, 0xa0, 0x80 },
		{ 0xf4, 0x90, 0x80, 0x80 }, { 0xe0, 0x80, 0x80 }, { 0xc3 }, { 0xff },
	};
	static const uint8_t plen[] = { 1, 1, 1, 1, 1, 2, 3, 4, 1, 2, 3, 4, 3, 1, 1 };
	uint8_t buf[80];
	uint64_t x = 0x243f6a8885a308d3ull;
	unsigned valid = 0;

	for (unsigned round = 0; round < 300000; round++) {
		uint32_t n = 0;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		while (n < 60) {
			/* mostly ASCII letters, now and then something else */
			unsigned k = (x >> (n % 50)) % 64 < 56 ? (unsigned)(x >> 7) % 3 :
				     (unsigned)((x >> (n % 37)) % 15);

			memcpy(buf + n, pieces[k], plen[k]);
			n += plen[k];
			x = x * 6364136223846793005ull + 1442695040888963407ull;
		}
		uint32_t off = (uint32_t)(x % 8), len = (uint32_t)((x >> 8) % (n - off + 1));

		if (kpg_pb_utf8_ok(buf + off, len) != ref_utf8_ok(buf + off, len)) {
			CU_FAIL("kpg_pb_utf8_ok differs from the byte-by-byte rules");
			return;
		}
		valid += ref_utf8_ok(buf + off, len);
	}
	CU_ASSERT(valid > 10000 && valid < 290000);
}

static void test_bad_utf8(void)
{
	static const struct {
		const char *s;
		size_t n;
	} bad[] = {
		{ "\xc0\x80", 2 },              /* overlong NUL */
		{ "\xc1\xbf", 2 },              /* overlong 2-byte */
		{ "\xe0\x80\xaf", 3 },          /* overlong 3-byte '/' */
		{ "\xf0\x8f\xbf\xbf", 4 },      /* overlong 4-byte */
		{ "\xed\xa0\x80", 3 },          /* surrogate U+D800 */
		{ "\xed\xbf\xbf", 3 },          /* surrogate U+DFFF */
		{ "\xf4\x90\x80\x80", 4 },      /* U+110000 */
		{ "\xf5\x80\x80\x80", 4 },
		{ "\xff", 1 },
		{ "Mbuji\x80Mayi", 10 },        /* lone continuation */
		{ "Kasa\xe2\x82", 6 },          /* sequence cut by the end */
		{ "\xe2\x28\xa1", 3 },          /* bad continuation */
		{ "ZA\0RU", 5 },                /* NUL: C string reads "ZA" */
		{ "\0", 1 },
	};
	static const char *const good[] = {
		"C\xc3\xb4te d'Ivoire",         /* 2-byte */
		"\xe2\x82\xac",                 /* U+20AC euro */
		"\xed\x9f\xbf",                 /* U+D7FF, below surrogates */
		"\xee\x80\x80",                 /* U+E000, above them */
		"\xf0\x9f\x92\x8e",             /* U+1F48E gem stone */
		"\xf4\x8f\xbf\xbf",             /* U+10FFFF */
		"",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tbuf t = { .n = 0 };

		tb_str(&t, 1, "CD");
		tb_len(&t, 2, bad[i].s, bad[i].n);
		CU_ASSERT_EQUAL(scan_both(ORG, &t), KPG_WIRE_BAD_UTF8);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct tbuf t = { .n = 0 };

		tb_str(&t, 1, "CD");
		tb_str(&t, 2, good[i]);
		CU_ASSERT_EQUAL(scan_both(ORG, &t), KPG_WIRE_OK);
	}

	/* bytes fields are not text: NUL and 0xff are fine there */
	struct tbuf t = { .n = 0 };
	uint8_t key[KPG_KEY_ID_LEN] = { 0, 0xff, 0xc0, 0x80 };

	tb_len(&t, 1, "\0\xff", 2);
	tb_len(&t, 2, "\0", 1);
	tb_len(&t, 3, key, sizeof(key));
	CU_ASSERT_EQUAL(scan_both(SCERT, &t), KPG_WIRE_OK);
}

/* ---- values ---- */

static void test_bad_enum_and_bool(void)
{
	struct tbuf t = { .n = 0 };

	tb_uint(&t, 1, 710229);               /* worked stones: not in the enum */
	tb_uint(&t, 2, 1);
	tb_uint(&t, 3, 1);
	CU_ASSERT_EQUAL(scan_both(HSL, &t), KPG_WIRE_BAD_VALUE);

	t.n = 0;
	tb_uint(&t, 1, (uint64_t)-1);         /* negative enum */
	tb_uint(&t, 2, 1);
	tb_uint(&t, 3, 1);
	CU_ASSERT_EQUAL(scan_both(HSL, &t), KPG_WIRE_BAD_VALUE);

	/* mixed_origin = 2 in a certificate */
	struct cert_fx fx;
	uint8_t b[2048];
	struct tspan sp[40];
	struct tbuf f = { .n = 0 }, out = { .n = 0 };

	cert_fx_init(&fx);
	size_t n = tb_split(b, cert_fx_pack(&fx, b), sp, 40);
	tb_uint(&f, 7, 2);
	tb_replace(&out, sp, n, 7, &f);
	CU_ASSERT_EQUAL(scan_both(CERT, &out), KPG_WIRE_BAD_VALUE);

	/* parcels = 2^32 + 3 would read as 3 after protobuf-c's truncation */
	f.n = 0;
	out.n = 0;
	tb_uint(&f, 10, (UINT64_C(1) << 32) + 3);
	tb_replace(&out, sp, n, 10, &f);
	CU_ASSERT_EQUAL(scan_both(CERT, &out), KPG_WIRE_BAD_VALUE);

	/* int32 from a 5-byte varint of 0xffffffff is not -1 but 2^32-1 */
	t.n = 0;
	tb_uint(&t, 1, 0xffffffffu);
	CU_ASSERT_EQUAL(scan_both(&probe, &t), KPG_WIRE_BAD_VALUE);
	t.n = 0;
	tb_uint(&t, 2, UINT64_C(0x100000000)); /* sint32 out of range */
	CU_ASSERT_EQUAL(scan_both(&probe, &t), KPG_WIRE_BAD_VALUE);
	t.n = 0;
	tb_uint(&t, 16, 4);                   /* Decision has 0..3 */
	CU_ASSERT_EQUAL(scan_both(&probe, &t), KPG_WIRE_BAD_VALUE);
}

/* ---- packed repeated scalars ---- */

static void test_packed(void)
{
	struct tbuf t = { .n = 0 }, pk = { .n = 0 };

	tb_varint(&pk, 1);
	tb_varint(&pk, 300);
	tb_varint(&pk, UINT32_MAX);

	/* declared packed: packed is canonical, unpacked is not */
	tb_len(&t, 9, pk.b, pk.n);
	CU_ASSERT_EQUAL(scan_both(&probe, &t), KPG_WIRE_OK);
	t.n = 0;
	tb_uint(&t, 9, 1);
	tb_uint(&t, 9, 300);
	CU_ASSERT_EQUAL(scan(&probe, &t, &loose), KPG_WIRE_OK);
	CU_ASSERT_EQUAL(scan(&probe, &t, &canon), KPG_WIRE_BAD_WIRE_TYPE);

	/* declared unpacked: packed accepted only when not canonical */
	t.n = 0;
	tb_len(&t, 10, pk.b, pk.n);
	CU_ASSERT_EQUAL(scan(&probe, &t, &loose), KPG_WIRE_OK);
	CU_ASSERT_EQUAL(scan(&probe, &t, &canon), KPG_WIRE_BAD_WIRE_TYPE);

	/* elements are checked like single values */
	t.n = 0;
	pk.n = 0;
	tb_varint(&pk, UINT64_C(1) << 32);
	tb_len(&t, 9, pk.b, pk.n);
	CU_ASSERT_EQUAL(scan_both(&probe, &t), KPG_WIRE_BAD_VALUE);
	t.n = 0;
	tb_len(&t, 9, "\x01\x80", 2);         /* last element cut */
	CU_ASSERT_EQUAL(scan_both(&probe, &t), KPG_WIRE_BAD_VARINT);
	t.n = 0;
	tb_len(&t, 9, "\x81\x00", 2);         /* not minimal */
	CU_ASSERT_EQUAL(scan(&probe, &t, &loose), KPG_WIRE_OK);
	CU_ASSERT_EQUAL(scan(&probe, &t, &canon), KPG_WIRE_BAD_VARINT);
	t.n = 0;
	tb_len(&t, 14, "12345678abcd", 12);   /* one and a half fixed64 */
	CU_ASSERT_EQUAL(scan_both(&probe, &t), KPG_WIRE_TRUNCATED);
	t.n = 0;
	tb_len(&t, 14, "12345678abcdefgh", 16);
	CU_ASSERT_EQUAL(scan_both(&probe, &t), KPG_WIRE_OK);

	/* every element counts toward the field limit */
	struct kpg_pb_limits lim = loose;

	lim.max_fields = 2;                   /* the tag and one element */
	t.n = 0;
	tb_len(&t, 14, "12345678abcdefgh", 16);
	CU_ASSERT_EQUAL(scan(&probe, &t, &lim), KPG_WIRE_TOO_MANY_FIELDS);
	lim.max_fields = 3;
	CU_ASSERT_EQUAL(scan(&probe, &t, &lim), KPG_WIRE_OK);
}

/* ---- properties over many mutants of a valid certificate ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rng(uint32_t bound)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % bound);
}

/* Swaps two adjacent top-level fields: well formed, but out of order. */
static void swap_fields(uint8_t *m, size_t n)
{
	struct tspan sp[40];
	uint8_t tmp[2048];
	size_t k = tb_split(m, n, sp, 40), i;

	if (k < 2)
		return;
	i = rng((uint32_t)k - 1);
	size_t off = (size_t)(sp[i].p - m);
	memcpy(tmp, sp[i + 1].p, sp[i + 1].n);
	memcpy(tmp + sp[i + 1].n, sp[i].p, sp[i].n);
	memcpy(m + off, tmp, sp[i].n + sp[i + 1].n);
}

static size_t mutate(uint8_t *m, size_t n, size_t cap)
{
	if (rng(4) == 0) {
		swap_fields(m, n);
		if (rng(2))
			return n;
	}
	for (unsigned k = 1 + rng(3); k > 0 && n > 1; k--) {
		size_t at = rng((uint32_t)n);

		switch (rng(4)) {
		case 0:                               /* overwrite a byte */
			m[at] = (uint8_t)rng(256);
			break;
		case 1:                               /* flip one bit */
			m[at] ^= (uint8_t)(1u << rng(8));
			break;
		case 2:                               /* delete a byte */
			memmove(m + at, m + at + 1, n - at - 1);
			n--;
			break;
		default:                              /* insert a byte */
			if (n < cap) {
				memmove(m + at + 1, m + at, n - at);
				m[at] = (uint8_t)rng(256);
				n++;
			}
		}
	}
	return n;
}

/* What the canonical scan accepts, protobuf-c unpacks and packs back to
 * the very same bytes: one signed byte string has one reading. What the
 * loose scan accepts, protobuf-c unpacks. Neither ever crashes. */
static void test_scan_agrees_with_protobuf_c(void)
{
	struct cert_fx fx;
	uint8_t b[2048], m[2048], re[2048];
	size_t n;
	unsigned canonical_ok = 0, loose_ok = 0, bad_repack = 0;
	unsigned bad_unpack = 0;

	cert_fx_init(&fx);
	fx.c.mixed_origin = 1;
	fx.c.n_origins = 2;
	fx.c.n_lines = 2;
	n = cert_fx_pack(&fx, b);
	for (unsigned i = 0; i < 50000; i++) {
		size_t mn;

		memcpy(m, b, n);
		mn = mutate(m, n, sizeof(m));
		if (kpg_pb_scan(CERT, m, mn, &loose) != KPG_WIRE_OK)
			continue;
		loose_ok++;
		ProtobufCMessage *u = protobuf_c_message_unpack(CERT, NULL,
								mn, m);
		if (u == NULL) {
			bad_unpack++;
			continue;
		}
		if (kpg_pb_scan(CERT, m, mn, &canon) == KPG_WIRE_OK) {
			canonical_ok++;
			if (protobuf_c_message_get_packed_size(u) != mn ||
			    protobuf_c_message_pack(u, re) != mn ||
			    memcmp(re, m, mn) != 0)
				bad_repack++;
		}
		protobuf_c_message_free_unpacked(u, NULL);
	}
	CU_ASSERT_EQUAL(bad_unpack, 0);
	CU_ASSERT_EQUAL(bad_repack, 0);
	/* the mutants reached both sides of each scan */
	CU_ASSERT(canonical_ok > 100);
	CU_ASSERT(loose_ok > canonical_ok);
}

/* ---- the field iterator ---- */

static void test_next_reports_field(void)
{
	struct tbuf t = { .n = 0 };
	struct kpg_pb_field f;
	const uint8_t *pos = t.b;

	tb_uint(&t, 1, 300);
	tb_str(&t, 15, "mac");
	CU_ASSERT_EQUAL_FATAL(kpg_pb_next(&pos, t.b + t.n, &f), KPG_WIRE_OK);
	CU_ASSERT_EQUAL(f.id, 1);
	CU_ASSERT_EQUAL(f.wire_type, 0);
	CU_ASSERT_EQUAL(f.value, 300);
	CU_ASSERT_TRUE(f.minimal);
	CU_ASSERT_EQUAL_FATAL(kpg_pb_next(&pos, t.b + t.n, &f), KPG_WIRE_OK);
	CU_ASSERT_EQUAL(f.id, 15);
	CU_ASSERT_PTR_EQUAL(f.tag, t.b + 3);
	CU_ASSERT_EQUAL(f.len, 3);
	CU_ASSERT_EQUAL(memcmp(f.p, "mac", 3), 0);
	CU_ASSERT_PTR_EQUAL(pos, t.b + t.n);
}

static void test_reason_names(void)
{
	static const char *const want[KPG_WIRE__COUNT] = {
		"ok", "truncated", "bad_varint", "bad_wire_type",
		"unknown_field", "duplicate_field", "out_of_order",
		"missing_field", "oversized_field", "too_many_fields",
		"too_deep", "bad_utf8", "bad_value",
	};

	for (int r = 0; r < KPG_WIRE__COUNT; r++)
		CU_ASSERT_STRING_EQUAL(kpg_wire_reason_name(r), want[r]);
	CU_ASSERT_STRING_EQUAL(kpg_wire_reason_name(KPG_WIRE__COUNT),
			       "unknown_reason");
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "packed certificate is canonical",
		  test_packed_certificate_is_canonical },
		{ "all scalar kinds pass", test_all_scalar_kinds_pass },
		{ "truncated varint", test_truncated_varint },
		{ "overlong varint", test_overlong_varint },
		{ "non-minimal varint: canonical only",
		  test_nonminimal_varint_canonical_only },
		{ "truncated length", test_truncated_length },
		{ "oversized field", test_oversized_field },
		{ "bad wire type", test_bad_wire_type },
		{ "unknown field", test_unknown_field },
		{ "duplicate field", test_duplicate_field },
		{ "out of order: canonical only",
		  test_out_of_order_canonical_only },
		{ "repeated not contiguous: canonical only",
		  test_repeated_not_contiguous_canonical_only },
		{ "missing required", test_missing_required },
		{ "too many fields", test_too_many_fields },
		{ "too deep", test_too_deep },
		{ "bad utf8 and NUL", test_bad_utf8 },
		{ "utf8 eight bytes at a time, as byte by byte", test_utf8_matches_reference },
		{ "bad enum, bool and range", test_bad_enum_and_bool },
		{ "packed repeated", test_packed },
		{ "scan agrees with protobuf-c",
		  test_scan_agrees_with_protobuf_c },
		{ "field iterator", test_next_reports_field },
		{ "reason names", test_reason_names },
		{ NULL, NULL },
	};

	return kpg_cunit_run("pb", tests, NULL, NULL);
}
