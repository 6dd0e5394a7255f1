/* test_request.c — the request datagram: framing, each refusal under its
 * reason, the zero-copy view pointing at the right bytes, the span the
 * station HMAC covers, and the canonical scan of the certificate bytes. */
#include <stdio.h>

#include "kpg_cunit.h"
#include "kpg_limits.h"
#include "kpg_request.h"
#include "test_wire_fixture.h"

struct req_fx {
	struct cert_fx cert;
	uint8_t cert_bytes[2048];
	uint8_t sig[KPG_SIG_MAX + 1];
	uint8_t key_id[KPG_KEY_ID_LEN + 1];
	uint8_t mac[32];
	char station[KPG_STATION_ID_MAX + 2];
	char seal[KPG_STR_MAX + 2];
	Kpgate__SignedCertificate sc;
	Kpgate__Measurement m;
	Kpgate__ScanRequest r;
};

static void req_fx_init(struct req_fx *fx)
{
	memset(fx, 0, sizeof(*fx));
	cert_fx_init(&fx->cert);
	for (size_t i = 0; i < sizeof(fx->sig); i++)
		fx->sig[i] = (uint8_t)(0xa0 + i);
	for (size_t i = 0; i < sizeof(fx->key_id); i++)
		fx->key_id[i] = (uint8_t)(0x10 + i);
	for (size_t i = 0; i < sizeof(fx->mac); i++)
		fx->mac[i] = (uint8_t)(0xc0 + i);
	strcpy(fx->station, "BE-ANR-DOCK-07");
	strcpy(fx->seal, "SEAL-0001");

	kpgate__signed_certificate__init(&fx->sc);
	fx->sc.certificate.data = fx->cert_bytes;
	fx->sc.certificate.len = cert_fx_pack(&fx->cert, fx->cert_bytes);
	fx->sc.signature.data = fx->sig;
	fx->sc.signature.len = 64;
	fx->sc.key_id.data = fx->key_id;
	fx->sc.key_id.len = KPG_KEY_ID_LEN;

	kpgate__measurement__init(&fx->m);
	fx->m.has_parcel_count = 1;
	fx->m.parcel_count = 3;
	fx->m.has_gross_mass_mg = 1;
	fx->m.gross_mass_mg = 304750;
	fx->m.seal_number = fx->seal;

	kpgate__scan_request__init(&fx->r);
	fx->r.request_id = 0x1122334455667788ull;
	fx->r.station_id = fx->station;
	fx->r.signed_ = &fx->sc;
	fx->r.measurement = &fx->m;
	fx->r.scan_time = 1731628800;
	fx->r.has_hmac = 1;
	fx->r.hmac.data = fx->mac;
	fx->r.hmac.len = sizeof(fx->mac);
}

static void put_header(uint8_t *out)
{
	out[0] = KPG_HDR_MAGIC0;
	out[1] = KPG_HDR_MAGIC1;
	out[2] = KPG_WIRE_VERSION;
	out[3] = KPG_MSG_REQUEST;
}

/* Header plus packed request; out must hold 4096 bytes. */
static size_t req_fx_pack(const struct req_fx *fx, uint8_t *out)
{
	CU_ASSERT_FATAL(kpgate__scan_request__get_packed_size(&fx->r) <
			4096 - KPG_HDR_LEN);
	put_header(out);
	return KPG_HDR_LEN + kpgate__scan_request__pack(&fx->r,
							out + KPG_HDR_LEN);
}

/* Header plus hand-made message bytes. */
static size_t dgram(uint8_t *out, const struct tbuf *t)
{
	put_header(out);
	memcpy(out + KPG_HDR_LEN, t->b, t->n);
	return KPG_HDR_LEN + t->n;
}

static bool bytes_eq(struct kpg_bytes b, const void *p, size_t n)
{
	return b.len == n && (n == 0 || memcmp(b.p, p, n) == 0);
}

static bool inside(struct kpg_bytes b, const uint8_t *buf, size_t len)
{
	return b.p >= buf && b.p + b.len <= buf + len;
}

static void test_valid_request_view(void)
{
	struct req_fx fx;
	struct kpg_request rq;
	uint8_t d[4096];
	size_t n;

	req_fx_init(&fx);
	n = req_fx_pack(&fx, d);
	CU_ASSERT_FATAL(n <= KPG_DATAGRAM_MAX);
	CU_ASSERT_EQUAL_FATAL(kpg_request_parse(d, n, &rq), KPG_REQ_OK);
	CU_ASSERT_EQUAL(rq.request_id, 0x1122334455667788ull);
	CU_ASSERT_EQUAL(rq.scan_time, 1731628800);
	CU_ASSERT_TRUE(bytes_eq(rq.station_id, "BE-ANR-DOCK-07", 14));
	CU_ASSERT_TRUE(bytes_eq(rq.cert, fx.cert_bytes,
				fx.sc.certificate.len));
	CU_ASSERT_TRUE(bytes_eq(rq.sig, fx.sig, 64));
	CU_ASSERT_TRUE(bytes_eq(rq.key_id, fx.key_id, KPG_KEY_ID_LEN));
	CU_ASSERT_TRUE(bytes_eq(rq.hmac, fx.mac, sizeof(fx.mac)));
	CU_ASSERT_TRUE(rq.has_parcel_count && rq.parcel_count == 3);
	CU_ASSERT_TRUE(rq.has_gross_mass && rq.gross_mass_mg == 304750);
	CU_ASSERT_TRUE(rq.has_seal);
	CU_ASSERT_TRUE(bytes_eq(rq.seal_number, "SEAL-0001", 9));
	/* zero-copy: every view lies inside the datagram */
	CU_ASSERT_TRUE(inside(rq.cert, d, n));
	CU_ASSERT_TRUE(inside(rq.sig, d, n));
	CU_ASSERT_TRUE(inside(rq.key_id, d, n));
	CU_ASSERT_TRUE(inside(rq.station_id, d, n));
	CU_ASSERT_TRUE(inside(rq.hmac, d, n));
}

static void test_hmac_covered(void)
{
	struct req_fx fx;
	struct kpg_request rq;
	uint8_t d[4096];
	size_t n;

	req_fx_init(&fx);
	n = req_fx_pack(&fx, d);
	CU_ASSERT_EQUAL_FATAL(kpg_request_parse(d, n, &rq), KPG_REQ_OK);
	/* tag 0x7a (field 15, bytes), length 32, then the 32 bytes */
	CU_ASSERT_EQUAL(rq.hmac_covered, n - 2 - sizeof(fx.mac));
	CU_ASSERT_EQUAL(d[rq.hmac_covered], 0x7a);
	CU_ASSERT_PTR_EQUAL(rq.hmac.p, d + rq.hmac_covered + 2);

	/* without hmac the whole datagram is what a MAC would cover */
	fx.r.has_hmac = 0;
	n = req_fx_pack(&fx, d);
	CU_ASSERT_EQUAL_FATAL(kpg_request_parse(d, n, &rq), KPG_REQ_OK);
	CU_ASSERT_EQUAL(rq.hmac_covered, n);
	CU_ASSERT_EQUAL(rq.hmac.len, 0);

	/* stripping the hmac leaves a well-formed request: the station
	 * check, not the parser, must insist on one */
	fx.r.has_hmac = 1;
	n = req_fx_pack(&fx, d);
	CU_ASSERT_EQUAL_FATAL(kpg_request_parse(d, n, &rq), KPG_REQ_OK);
	size_t covered = rq.hmac_covered;
	CU_ASSERT_EQUAL(kpg_request_parse(d, covered, &rq), KPG_REQ_OK);
	CU_ASSERT_EQUAL(rq.hmac.len, 0);
}

static void test_hmac_must_be_last(void)
{
	struct req_fx fx;
	struct kpg_request rq;
	uint8_t d[4096], e[4096];
	struct tspan sp[16];
	struct tbuf t = { .n = 0 };
	size_t n, k, i15 = 0;

	req_fx_init(&fx);
	n = req_fx_pack(&fx, d);
	k = tb_split(d + KPG_HDR_LEN, n - KPG_HDR_LEN, sp, 16);
	CU_ASSERT_EQUAL_FATAL(k, 6);
	for (size_t i = 0; i < k; i++)
		if (sp[i].id == 15)
			i15 = i;
	CU_ASSERT_EQUAL_FATAL(i15, k - 1);
	/* move the hmac before scan_time: scan_time rides unauthenticated */
	for (size_t i = 0; i < k - 1; i++) {
		if (sp[i].id == 5)
			tb_raw(&t, sp[i15].p, sp[i15].n);
		tb_raw(&t, sp[i].p, sp[i].n);
	}
	CU_ASSERT_EQUAL(kpg_request_parse(e, dgram(e, &t), &rq),
			KPG_WIRE_OUT_OF_ORDER);
}

static void test_framing(void)
{
	struct req_fx fx;
	struct kpg_request rq;
	uint8_t d[4096];
	size_t n;

	req_fx_init(&fx);
	n = req_fx_pack(&fx, d);

	CU_ASSERT_EQUAL(kpg_request_parse(d, 0, &rq), KPG_REQ_SHORT);
	CU_ASSERT_EQUAL(kpg_request_parse(d, 3, &rq), KPG_REQ_SHORT);
	/* a header and no message: the required fields are missing */
	CU_ASSERT_EQUAL(kpg_request_parse(d, 4, &rq), KPG_WIRE_MISSING_FIELD);

	d[0] = 'k';
	CU_ASSERT_EQUAL(kpg_request_parse(d, n, &rq), KPG_REQ_BAD_MAGIC);
	d[0] = 'K';
	d[1] = 'Q';
	CU_ASSERT_EQUAL(kpg_request_parse(d, n, &rq), KPG_REQ_BAD_MAGIC);
	d[1] = 'P';
	d[2] = 0;
	CU_ASSERT_EQUAL(kpg_request_parse(d, n, &rq), KPG_REQ_BAD_VERSION);
	d[2] = 2;
	CU_ASSERT_EQUAL(kpg_request_parse(d, n, &rq), KPG_REQ_BAD_VERSION);
	d[2] = KPG_WIRE_VERSION;
	d[3] = KPG_MSG_RESPONSE;              /* a reflected response */
	CU_ASSERT_EQUAL(kpg_request_parse(d, n, &rq), KPG_REQ_BAD_TYPE);
	d[3] = 0;
	CU_ASSERT_EQUAL(kpg_request_parse(d, n, &rq), KPG_REQ_BAD_TYPE);
	d[3] = KPG_MSG_REQUEST;
	CU_ASSERT_EQUAL(kpg_request_parse(d, n, &rq), KPG_REQ_OK);

	/* magic is checked before size: foreign traffic is never "too long" */
	memset(d, 0, 2000);
	CU_ASSERT_EQUAL(kpg_request_parse(d, 2000, &rq), KPG_REQ_BAD_MAGIC);
}

/* The datagram limit is inclusive: 1200 bytes pass, 1201 are refused. */
static void test_datagram_limit(void)
{
	static uint8_t big[KPG_DATAGRAM_MAX];
	struct req_fx fx;
	struct kpg_request rq;
	uint8_t d[4096];
	size_t n;

	req_fx_init(&fx);
	fx.sc.certificate.data = big;     /* opaque to the request scan */
	fx.sc.certificate.len = 900;
	n = req_fx_pack(&fx, d);
	fx.sc.certificate.len += KPG_DATAGRAM_MAX - n;
	n = req_fx_pack(&fx, d);
	CU_ASSERT_EQUAL_FATAL(n, KPG_DATAGRAM_MAX);
	CU_ASSERT_EQUAL(kpg_request_parse(d, n, &rq), KPG_REQ_OK);
	CU_ASSERT_EQUAL(rq.cert.len, fx.sc.certificate.len);

	fx.sc.certificate.len++;
	n = req_fx_pack(&fx, d);
	CU_ASSERT_EQUAL_FATAL(n, KPG_DATAGRAM_MAX + 1);
	CU_ASSERT_EQUAL(kpg_request_parse(d, n, &rq), KPG_REQ_TOO_LONG);
}

static void test_key_id_length(void)
{
	struct req_fx fx;
	struct kpg_request rq;
	uint8_t d[4096];

	req_fx_init(&fx);
	fx.sc.key_id.len = KPG_KEY_ID_LEN - 1;
	CU_ASSERT_EQUAL(kpg_request_parse(d, req_fx_pack(&fx, d), &rq),
			KPG_REQ_BAD_KEY_ID);
	fx.sc.key_id.len = KPG_KEY_ID_LEN + 1;
	CU_ASSERT_EQUAL(kpg_request_parse(d, req_fx_pack(&fx, d), &rq),
			KPG_REQ_BAD_KEY_ID);
	fx.sc.key_id.len = 0;
	CU_ASSERT_EQUAL(kpg_request_parse(d, req_fx_pack(&fx, d), &rq),
			KPG_REQ_BAD_KEY_ID);
	fx.sc.key_id.len = KPG_KEY_ID_LEN;
	CU_ASSERT_EQUAL(kpg_request_parse(d, req_fx_pack(&fx, d), &rq),
			KPG_REQ_OK);
}

static void test_field_size_limits(void)
{
	struct req_fx fx;
	struct kpg_request rq;
	uint8_t d[4096];

	req_fx_init(&fx);
	memset(fx.station, 'S', KPG_STATION_ID_MAX);
	fx.station[KPG_STATION_ID_MAX] = '\0';
	CU_ASSERT_EQUAL(kpg_request_parse(d, req_fx_pack(&fx, d), &rq),
			KPG_REQ_OK);
	CU_ASSERT_EQUAL(rq.station_id.len, KPG_STATION_ID_MAX);
	fx.station[KPG_STATION_ID_MAX] = 'S';
	CU_ASSERT_EQUAL(kpg_request_parse(d, req_fx_pack(&fx, d), &rq),
			KPG_WIRE_OVERSIZED_FIELD);

	req_fx_init(&fx);
	fx.sc.signature.len = KPG_SIG_MAX;        /* RSA-4096 */
	CU_ASSERT_EQUAL(kpg_request_parse(d, req_fx_pack(&fx, d), &rq),
			KPG_REQ_OK);
	fx.sc.signature.len = KPG_SIG_MAX + 1;
	CU_ASSERT_EQUAL(kpg_request_parse(d, req_fx_pack(&fx, d), &rq),
			KPG_WIRE_OVERSIZED_FIELD);

	req_fx_init(&fx);
	memset(fx.seal, 'x', KPG_STR_MAX);
	fx.seal[KPG_STR_MAX] = '\0';
	CU_ASSERT_EQUAL(kpg_request_parse(d, req_fx_pack(&fx, d), &rq),
			KPG_REQ_OK);
	fx.seal[KPG_STR_MAX] = 'x';
	CU_ASSERT_EQUAL(kpg_request_parse(d, req_fx_pack(&fx, d), &rq),
			KPG_WIRE_OVERSIZED_FIELD);
}

/* The request itself need not be canonical (it is never signed) ... */
static void test_reordered_request_accepted(void)
{
	struct req_fx fx;
	struct kpg_request rq;
	uint8_t d[4096], e[4096];
	struct tspan sp[16];
	struct tbuf t = { .n = 0 };
	size_t n, k;

	req_fx_init(&fx);
	n = req_fx_pack(&fx, d);
	k = tb_split(d + KPG_HDR_LEN, n - KPG_HDR_LEN, sp, 16);
	CU_ASSERT_EQUAL_FATAL(k, 6);
	/* scan_time, measurement, signed, station, request_id, hmac */
	for (size_t i = k - 1; i-- > 0;)
		tb_raw(&t, sp[i].p, sp[i].n);
	tb_raw(&t, sp[k - 1].p, sp[k - 1].n);
	n = dgram(e, &t);
	CU_ASSERT_EQUAL_FATAL(kpg_request_parse(e, n, &rq), KPG_REQ_OK);
	CU_ASSERT_EQUAL(rq.request_id, fx.r.request_id);
	CU_ASSERT_EQUAL(rq.scan_time, fx.r.scan_time);
	CU_ASSERT_TRUE(bytes_eq(rq.cert, fx.cert_bytes,
				fx.sc.certificate.len));
	CU_ASSERT_EQUAL(rq.hmac_covered, n - 2 - sizeof(fx.mac));
}

/* ... but the certificate bytes inside must be: the same reordered bytes
 * ride through the request scan and are refused by the certificate scan. */
static void test_reordered_certificate(void)
{
	struct req_fx fx;
	struct kpg_request rq;
	uint8_t d[4096];
	struct tspan sp[40];
	struct tbuf t = { .n = 0 };
	size_t k;

	req_fx_init(&fx);
	CU_ASSERT_EQUAL(kpg_cert_scan(fx.cert_bytes, fx.sc.certificate.len),
			KPG_WIRE_OK);
	k = tb_split(fx.cert_bytes, fx.sc.certificate.len, sp, 40);
	CU_ASSERT_EQUAL_FATAL(k, 15);
	tb_raw(&t, sp[1].p, sp[1].n);         /* issuing_participant first */
	tb_raw(&t, sp[0].p, sp[0].n);
	for (size_t i = 2; i < k; i++)
		tb_raw(&t, sp[i].p, sp[i].n);
	fx.sc.certificate.data = t.b;
	fx.sc.certificate.len = t.n;
	CU_ASSERT_EQUAL_FATAL(kpg_request_parse(d, req_fx_pack(&fx, d), &rq),
			      KPG_REQ_OK);
	CU_ASSERT_EQUAL(kpg_cert_scan(rq.cert.p, rq.cert.len),
			KPG_WIRE_OUT_OF_ORDER);
}

static void test_noncanonical_certificate_bytes(void)
{
	struct cert_fx fx;
	uint8_t b[2048];
	struct tspan sp[40];
	struct tbuf f = { .n = 0 }, t = { .n = 0 };
	size_t n, k;

	cert_fx_init(&fx);
	n = cert_fx_pack(&fx, b);
	k = tb_split(b, n, sp, 40);
	CU_ASSERT_EQUAL(kpg_cert_scan(b, n), KPG_WIRE_OK);

	/* parcels = 3 as 0x83 0x00: same number, other bytes */
	tb_tag(&f, 10, 0);
	tb_raw(&f, "\x83\x00", 2);
	tb_replace(&t, sp, k, 10, &f);
	CU_ASSERT_EQUAL(kpg_cert_scan(t.b, t.n), KPG_WIRE_BAD_VARINT);

	/* the number twice: which one did the authority sign? */
	t.n = 0;
	tb_raw(&t, sp[0].p, sp[0].n);
	for (size_t i = 0; i < k; i++)
		tb_raw(&t, sp[i].p, sp[i].n);
	CU_ASSERT_EQUAL(kpg_cert_scan(t.b, t.n), KPG_WIRE_DUPLICATE_FIELD);

	/* an unknown field appended */
	t.n = 0;
	tb_raw(&t, b, n);
	tb_str(&t, 20, "x");
	CU_ASSERT_EQUAL(kpg_cert_scan(t.b, t.n), KPG_WIRE_UNKNOWN_FIELD);

	/* a NUL inside the number: C would read "ZA-2024" */
	f.n = 0;
	t.n = 0;
	tb_len(&f, 1, "ZA-2024\0-999", 12);
	tb_replace(&t, sp, k, 1, &f);
	CU_ASSERT_EQUAL(kpg_cert_scan(t.b, t.n), KPG_WIRE_BAD_UTF8);

	/* a string over KPG_STR_MAX */
	char longname[KPG_STR_MAX + 2];

	memset(longname, 'A', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	fx.c.issuing_authority = longname;
	n = cert_fx_pack(&fx, b);
	CU_ASSERT_EQUAL(kpg_cert_scan(b, n), KPG_WIRE_OVERSIZED_FIELD);
}

static void test_malformed_requests(void)
{
	struct req_fx fx;
	struct kpg_request rq;
	uint8_t d[4096], e[4096];
	struct tspan sp[16];
	struct tbuf t = { .n = 0 }, f = { .n = 0 };
	size_t n, k;

	req_fx_init(&fx);
	n = req_fx_pack(&fx, d);
	k = tb_split(d + KPG_HDR_LEN, n - KPG_HDR_LEN, sp, 16);

	/* request_id twice */
	tb_raw(&t, sp[0].p, sp[0].n);
	for (size_t i = 0; i < k; i++)
		tb_raw(&t, sp[i].p, sp[i].n);
	CU_ASSERT_EQUAL(kpg_request_parse(e, dgram(e, &t), &rq),
			KPG_WIRE_DUPLICATE_FIELD);

	/* an unknown field 6 before the hmac */
	t.n = 0;
	for (size_t i = 0; i < k - 1; i++)
		tb_raw(&t, sp[i].p, sp[i].n);
	tb_uint(&t, 6, 1);
	tb_raw(&t, sp[k - 1].p, sp[k - 1].n);
	CU_ASSERT_EQUAL(kpg_request_parse(e, dgram(e, &t), &rq),
			KPG_WIRE_UNKNOWN_FIELD);

	/* station id not UTF-8 */
	t.n = 0;
	tb_len(&f, 2, "DOCK\xff", 5);
	tb_replace(&t, sp, k, 2, &f);
	CU_ASSERT_EQUAL(kpg_request_parse(e, dgram(e, &t), &rq),
			KPG_WIRE_BAD_UTF8);

	/* scan_time missing */
	t.n = 0;
	tb_replace(&t, sp, k, 5, NULL);
	CU_ASSERT_EQUAL(kpg_request_parse(e, dgram(e, &t), &rq),
			KPG_WIRE_MISSING_FIELD);

	/* signature missing inside SignedCertificate */
	uint8_t d2[4096];

	fx.sc.signature.len = 0;              /* empty is present, though */
	CU_ASSERT_EQUAL(kpg_request_parse(d2, req_fx_pack(&fx, d2), &rq),
			KPG_REQ_OK);
	t.n = 0;
	f.n = 0;
	struct tbuf sc = { .n = 0 };

	tb_len(&sc, 1, fx.cert_bytes, fx.sc.certificate.len);
	tb_len(&sc, 3, fx.key_id, KPG_KEY_ID_LEN);
	tb_sub(&f, 3, &sc);
	tb_replace(&t, sp, k, 3, &f);
	CU_ASSERT_EQUAL(kpg_request_parse(e, dgram(e, &t), &rq),
			KPG_WIRE_MISSING_FIELD);

	/* measurement.parcel_count as a 64-bit value */
	t.n = 0;
	f.n = 0;
	struct tbuf m = { .n = 0 };

	tb_tag(&m, 1, 1);
	tb_raw(&m, "\3\0\0\0\0\0\0\0", 8);
	tb_sub(&f, 4, &m);
	tb_replace(&t, sp, k, 4, &f);
	CU_ASSERT_EQUAL(kpg_request_parse(e, dgram(e, &t), &rq),
			KPG_WIRE_BAD_WIRE_TYPE);
}

/* Every cut of a valid datagram is refused, except the one that drops
 * exactly the trailing hmac field. */
static void test_every_truncation_refused(void)
{
	struct req_fx fx;
	struct kpg_request rq;
	uint8_t d[4096];
	size_t n, covered;
	unsigned accepted = 0;

	req_fx_init(&fx);
	n = req_fx_pack(&fx, d);
	CU_ASSERT_EQUAL_FATAL(kpg_request_parse(d, n, &rq), KPG_REQ_OK);
	covered = rq.hmac_covered;
	for (size_t cut = 0; cut < n; cut++) {
		int r = kpg_request_parse(d, cut, &rq);

		if (r == KPG_REQ_OK) {
			accepted++;
			CU_ASSERT_EQUAL(cut, covered);
		}
	}
	CU_ASSERT_EQUAL(accepted, 1);
}

/* ---- the oracle: the descriptor-driven reading ----
 * kpg_pb_scan() against the protobuf-c descriptor, then a walk filling the
 * view: how kpgate read requests before its one-pass reader. The one-pass
 * reader must give every datagram the same reason and, when it accepts,
 * the same view. */

static struct kpg_bytes ref_bytes(const struct kpg_pb_field *f)
{
	return (struct kpg_bytes){ .p = f->p, .len = f->len };
}

static int ref_walk_signed(const uint8_t *p, const uint8_t *end, struct kpg_request *rq)
{
	struct kpg_pb_field f;

	while (p < end) {
		if (kpg_pb_next(&p, end, &f))
			return KPG_WIRE_TRUNCATED;
		if (f.id == 1)
			rq->cert = ref_bytes(&f);
		else if (f.id == 2) {
			if (f.len > KPG_SIG_MAX)
				return KPG_WIRE_OVERSIZED_FIELD;
			rq->sig = ref_bytes(&f);
		} else if (f.id == 3) {
			if (f.len != KPG_KEY_ID_LEN)
				return KPG_REQ_BAD_KEY_ID;
			rq->key_id = ref_bytes(&f);
		}
	}
	return KPG_REQ_OK;
}

static int ref_walk_measurement(const uint8_t *p, const uint8_t *end,
				struct kpg_request *rq)
{
	struct kpg_pb_field f;

	while (p < end) {
		if (kpg_pb_next(&p, end, &f))
			return KPG_WIRE_TRUNCATED;
		if (f.id == 1) {
			rq->has_parcel_count = true;
			rq->parcel_count = (uint32_t)f.value;
		} else if (f.id == 2) {
			rq->has_gross_mass = true;
			rq->gross_mass_mg = f.value;
		} else if (f.id == 3) {
			if (f.len > KPG_STR_MAX)
				return KPG_WIRE_OVERSIZED_FIELD;
			rq->has_seal = true;
			rq->seal_number = ref_bytes(&f);
		}
	}
	return KPG_REQ_OK;
}

static int ref_parse(const uint8_t *p, size_t len, struct kpg_request *rq)
{
	static const struct kpg_pb_limits lim = {
		.max_len = KPG_DATAGRAM_MAX, .max_fields = KPG_FIELDS_MAX,
		.max_depth = KPG_DEPTH_MAX, .canonical = false,
	};
	const uint8_t *pos, *end = p + len;
	struct kpg_pb_field f;
	int r;

	memset(rq, 0, sizeof(*rq));
	if (len < KPG_HDR_LEN)
		return KPG_REQ_SHORT;
	if (p[0] != KPG_HDR_MAGIC0 || p[1] != KPG_HDR_MAGIC1)
		return KPG_REQ_BAD_MAGIC;
	if (p[2] != KPG_WIRE_VERSION)
		return KPG_REQ_BAD_VERSION;
	if (p[3] != KPG_MSG_REQUEST)
		return KPG_REQ_BAD_TYPE;
	if (len > KPG_DATAGRAM_MAX)
		return KPG_REQ_TOO_LONG;
	pos = p + KPG_HDR_LEN;
	r = kpg_pb_scan(&kpgate__scan_request__descriptor, pos, len - KPG_HDR_LEN, &lim);
	if (r)
		return r;
	rq->hmac_covered = (uint32_t)len;
	while (pos < end) {
		if (kpg_pb_next(&pos, end, &f))
			return KPG_WIRE_TRUNCATED;
		switch (f.id) {
		case 1:
			rq->request_id = f.value;
			break;
		case 2:
			if (f.len > KPG_STATION_ID_MAX)
				return KPG_WIRE_OVERSIZED_FIELD;
			rq->station_id = ref_bytes(&f);
			break;
		case 3:
			if ((r = ref_walk_signed(f.p, f.p + f.len, rq)))
				return r;
			break;
		case 4:
			if ((r = ref_walk_measurement(f.p, f.p + f.len, rq)))
				return r;
			break;
		case 5:
			rq->scan_time = (int64_t)f.value;
			break;
		case 15:
			if (pos != end)
				return KPG_WIRE_OUT_OF_ORDER;
			if (f.len > KPG_HMAC_MAX)
				return KPG_WIRE_OVERSIZED_FIELD;
			rq->hmac = ref_bytes(&f);
			rq->hmac_covered = (uint32_t)(f.tag - p);
			break;
		}
	}
	return KPG_REQ_OK;
}

static bool same_bytes(struct kpg_bytes a, struct kpg_bytes b)
{
	return a.p == b.p && a.len == b.len;
}

static bool same_view(const struct kpg_request *a, const struct kpg_request *b)
{
	return a->request_id == b->request_id && a->scan_time == b->scan_time &&
	       same_bytes(a->station_id, b->station_id) && same_bytes(a->cert, b->cert) &&
	       same_bytes(a->sig, b->sig) && same_bytes(a->key_id, b->key_id) &&
	       same_bytes(a->hmac, b->hmac) && a->hmac_covered == b->hmac_covered &&
	       a->has_parcel_count == b->has_parcel_count &&
	       a->has_gross_mass == b->has_gross_mass && a->has_seal == b->has_seal &&
	       a->parcel_count == b->parcel_count && a->gross_mass_mg == b->gross_mass_mg &&
	       same_bytes(a->seal_number, b->seal_number);
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* One random change: a byte set to a value that matters on the wire
 * (tags, lengths, UTF-8 edges), a byte cut or added, a span doubled,
 * moved or dropped, the end cut. */
static size_t mutate(uint8_t *d, size_t n, size_t cap, uint64_t *x)
{
	static const uint8_t vals[] = { 0x00, 0x01, 0x02, 0x07, 0x08, 0x0a, 0x10,
		0x12, 0x18, 0x1a, 0x20, 0x22, 0x28, 0x2a, 0x7a, 0x7f, 0x80, 0xff,
		0xc0, 0xe0, 0xed, 0xf4, 0xf5, 0x0b, 0x0c, 0x0d, 0x0f, 0x3a, 0x41 };
	size_t at = KPG_HDR_LEN + (n > KPG_HDR_LEN ? rnd(x) % (n - KPG_HDR_LEN) : 0);
	size_t span = 1 + rnd(x) % 24;

	switch (rnd(x) % 7) {
	case 0:
	case 1:
		if (at < n)
			d[at] = vals[rnd(x) % sizeof(vals)];
		return n;
	case 2:
		if (at < n) {
			memmove(d + at, d + at + 1, n - at - 1);
			return n - 1;
		}
		return n;
	case 3:
		if (n < cap) {
			memmove(d + at + 1, d + at, n - at);
			d[at] = vals[rnd(x) % sizeof(vals)];
			return n + 1;
		}
		return n;
	case 4:
		if (at + span <= n && n + span <= cap) {
			memmove(d + at + span, d + at, n - at);
			return n + span;
		}
		return n;
	case 5:
		if (at + span <= n) {
			memmove(d + at, d + at + span, n - at - span);
			return n - span;
		}
		return n;
	default:
		return at;
	}
}

static void test_one_pass_matches_descriptor_scan(void)
{
	static uint8_t base[4][4096], d[4096];
	struct kpg_request a, b;
	struct req_fx fx;
	size_t len[4];
	uint64_t x = 0x853c49e6748fea9bull;
	unsigned agreed = 0, accepted = 0;
	char seal[KPG_STR_MAX + 40];

	/* with everything; without measurement and hmac; a long seal and
	 * station; an RSA-sized signature */
	req_fx_init(&fx);
	len[0] = req_fx_pack(&fx, base[0]);
	fx.r.measurement = NULL;
	fx.r.has_hmac = 0;
	len[1] = req_fx_pack(&fx, base[1]);
	req_fx_init(&fx);
	memset(seal, 'S', sizeof(seal) - 1);
	seal[KPG_STR_MAX - 2] = '\0';
	fx.m.seal_number = seal;
	memset(fx.station, 'D', KPG_STATION_ID_MAX);
	fx.station[KPG_STATION_ID_MAX] = '\0';
	len[2] = req_fx_pack(&fx, base[2]);
	req_fx_init(&fx);
	fx.sc.signature.len = 256;
	len[3] = req_fx_pack(&fx, base[3]);

	for (unsigned round = 0; round < 200000; round++) {
		unsigned which = round % 4;
		size_t n = len[which];

		memcpy(d, base[which], n);
		for (unsigned k = 1 + (unsigned)(rnd(&x) % 3); k > 0; k--)
			n = mutate(d, n, sizeof(d), &x);
		int ra = kpg_request_parse(d, n, &a), rb = ref_parse(d, n, &b);

		if (ra != rb || (ra == KPG_REQ_OK && !same_view(&a, &b))) {
			fprintf(stderr, "round %u: one-pass %s, descriptor scan %s\n", round,
				kpg_request_reason_name(ra), kpg_request_reason_name(rb));
			CU_FAIL("the one-pass reader disagrees with the descriptor scan");
			return;
		}
		agreed++;
		accepted += ra == KPG_REQ_OK;
	}
	CU_ASSERT_EQUAL(agreed, 200000);
	/* the mutations reach deep: some still read, most are refused */
	CU_ASSERT(accepted > 1000 && accepted < 100000);
}

static void test_reason_names(void)
{
	CU_ASSERT_STRING_EQUAL(kpg_request_reason_name(KPG_REQ_OK), "ok");
	CU_ASSERT_STRING_EQUAL(kpg_request_reason_name(KPG_WIRE_TRUNCATED),
			       "truncated");
	CU_ASSERT_STRING_EQUAL(kpg_request_reason_name(KPG_WIRE_BAD_VALUE),
			       "bad_value");
	CU_ASSERT_STRING_EQUAL(kpg_request_reason_name(KPG_REQ_SHORT),
			       "short");
	CU_ASSERT_STRING_EQUAL(kpg_request_reason_name(KPG_REQ_BAD_MAGIC),
			       "bad_magic");
	CU_ASSERT_STRING_EQUAL(kpg_request_reason_name(KPG_REQ_BAD_VERSION),
			       "bad_version");
	CU_ASSERT_STRING_EQUAL(kpg_request_reason_name(KPG_REQ_BAD_TYPE),
			       "bad_type");
	CU_ASSERT_STRING_EQUAL(kpg_request_reason_name(KPG_REQ_TOO_LONG),
			       "too_long");
	CU_ASSERT_STRING_EQUAL(kpg_request_reason_name(KPG_REQ_BAD_KEY_ID),
			       "bad_key_id");
	CU_ASSERT_STRING_EQUAL(kpg_request_reason_name(KPG_REQ__COUNT),
			       "unknown_reason");
	CU_ASSERT_STRING_EQUAL(kpg_request_reason_name(-1), "unknown_reason");

	/* counters are labelled by these names: no two may be the same */
	for (int a = 0; a < KPG_REQ__COUNT; a++)
		for (int b = a + 1; b < KPG_REQ__COUNT; b++)
			CU_ASSERT_STRING_NOT_EQUAL(kpg_request_reason_name(a),
						   kpg_request_reason_name(b));
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "valid request view", test_valid_request_view },
		{ "one pass reads as the descriptor scan", test_one_pass_matches_descriptor_scan },
		{ "hmac covered", test_hmac_covered },
		{ "hmac must be last", test_hmac_must_be_last },
		{ "framing", test_framing },
		{ "datagram limit", test_datagram_limit },
		{ "key id length", test_key_id_length },
		{ "field size limits", test_field_size_limits },
		{ "reordered request accepted", test_reordered_request_accepted },
		{ "reordered certificate refused",
		  test_reordered_certificate },
		{ "non-canonical certificate bytes",
		  test_noncanonical_certificate_bytes },
		{ "malformed requests", test_malformed_requests },
		{ "every truncation refused", test_every_truncation_refused },
		{ "reason names", test_reason_names },
		{ NULL, NULL },
	};

	return kpg_cunit_run("request", tests, NULL, NULL);
}
