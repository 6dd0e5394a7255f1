/* kpg_request.c — framing, schema checks and zero-copy view of a scan
 * request, in one pass over the datagram. */
#include <string.h>

#include "kpg_limits.h"
#include "kpg_request.h"
#include "kpgate.pb-c.h"

static const char *const kpg_request_reason_names[] = {
	[KPG_REQ_SHORT - KPG_WIRE__COUNT] = "short",
	[KPG_REQ_BAD_MAGIC - KPG_WIRE__COUNT] = "bad_magic",
	[KPG_REQ_BAD_VERSION - KPG_WIRE__COUNT] = "bad_version",
	[KPG_REQ_BAD_TYPE - KPG_WIRE__COUNT] = "bad_type",
	[KPG_REQ_TOO_LONG - KPG_WIRE__COUNT] = "too_long",
	[KPG_REQ_BAD_KEY_ID - KPG_WIRE__COUNT] = "bad_key_id",
};

const char *kpg_request_reason_name(int reason)
{
	if (reason >= 0 && reason < KPG_WIRE__COUNT)
		return kpg_wire_reason_name(reason);
	if (reason >= KPG_WIRE__COUNT && reason < KPG_REQ__COUNT)
		return kpg_request_reason_names[reason - KPG_WIRE__COUNT];
	return "unknown_reason";
}

static struct kpg_bytes kpg_field_bytes(const struct kpg_pb_field *f)
{
	return (struct kpg_bytes){ .p = f->p, .len = f->len };
}

/* One pass reads the request: the schema's checks (those kpg_pb_scan()
 * makes against the descriptor, in its order: a field's encoding, the
 * field count, unknown, duplicate, wire type, length, UTF-8 and value
 * range, nested messages depth first, then missing required fields) and
 * the view's own limits. A schema fault ends the pass at once; a view
 * fault is kept, the first one in byte order, and reported only if the
 * schema holds, so every datagram gets the reason the scan-then-walk
 * reading gave it (test_request compares the two on mutated requests).
 * The messages are ScanRequest, SignedCertificate and Measurement of
 * proto/kpgate.proto: no repeated field, no oneof, one level deep. */
struct kpg_rq_pass {
	uint32_t fields;                 /* at any depth, as the scan counts */
	int view_err;                    /* first view fault, 0: none */
};

static inline void kpg_view_fault(struct kpg_rq_pass *ps, int reason)
{
	if (ps->view_err == 0)
		ps->view_err = reason;
}

/* What every field of these messages goes through first: its count, its
 * number among the message's (bit set known), no second copy, its wire
 * type; *seen gets its bit. */
static inline int kpg_rq_field(struct kpg_rq_pass *ps, const struct kpg_pb_field *f,
			       uint32_t known, uint32_t *seen, uint32_t wire_type)
{
	if (++ps->fields > KPG_FIELDS_MAX)
		return KPG_WIRE_TOO_MANY_FIELDS;
	if (f->id >= 32 || !(known & (1u << f->id)))
		return KPG_WIRE_UNKNOWN_FIELD;
	if (*seen & (1u << f->id))
		return KPG_WIRE_DUPLICATE_FIELD;
	*seen |= 1u << f->id;
	if (f->wire_type != wire_type)
		return KPG_WIRE_BAD_WIRE_TYPE;
	if (wire_type == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED && f->len > KPG_DATAGRAM_MAX)
		return KPG_WIRE_OVERSIZED_FIELD;
	return KPG_REQ_OK;
}

static int kpg_rq_signed(struct kpg_rq_pass *ps, const uint8_t *p,
			 const uint8_t *end, struct kpg_request *rq)
{
	const uint32_t wt = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
	struct kpg_pb_field f;
	uint32_t seen = 0;
	int r;

	while (p < end) {
		if ((r = kpg_pb_next(&p, end, &f)) ||
		    (r = kpg_rq_field(ps, &f, 0xe, &seen, wt)))
			return r;
		switch (f.id) {
		case 1:
			rq->cert = kpg_field_bytes(&f);
			break;
		case 2:
			if (f.len > KPG_SIG_MAX)
				kpg_view_fault(ps, KPG_WIRE_OVERSIZED_FIELD);
			rq->sig = kpg_field_bytes(&f);
			break;
		case 3:
			if (f.len != KPG_KEY_ID_LEN)
				kpg_view_fault(ps, KPG_REQ_BAD_KEY_ID);
			rq->key_id = kpg_field_bytes(&f);
			break;
		}
	}
	return seen == 0xe ? KPG_REQ_OK : KPG_WIRE_MISSING_FIELD;
}

static int kpg_rq_measurement(struct kpg_rq_pass *ps, const uint8_t *p,
			      const uint8_t *end, struct kpg_request *rq)
{
	struct kpg_pb_field f;
	uint32_t seen = 0;
	int r;

	while (p < end) {
		if ((r = kpg_pb_next(&p, end, &f)))
			return r;
		switch (f.id) {
		case 1:
			if ((r = kpg_rq_field(ps, &f, 0xe, &seen, PROTOBUF_C_WIRE_TYPE_VARINT)))
				return r;
			if (f.value > UINT32_MAX)
				return KPG_WIRE_BAD_VALUE;
			rq->has_parcel_count = true;
			rq->parcel_count = (uint32_t)f.value;
			break;
		case 2:
			if ((r = kpg_rq_field(ps, &f, 0xe, &seen, PROTOBUF_C_WIRE_TYPE_VARINT)))
				return r;
			rq->has_gross_mass = true;
			rq->gross_mass_mg = f.value;
			break;
		default:
			if ((r = kpg_rq_field(ps, &f, 0xe, &seen,
					      PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)))
				return r;
			if (!kpg_pb_utf8_ok(f.p, f.len))
				return KPG_WIRE_BAD_UTF8;
			if (f.len > KPG_STR_MAX)
				kpg_view_fault(ps, KPG_WIRE_OVERSIZED_FIELD);
			rq->has_seal = true;
			rq->seal_number = kpg_field_bytes(&f);
			break;
		}
	}
	return KPG_REQ_OK;
}

/* Fields 1, 2, 3, 4, 5 and 15; 1, 2, 3 and 5 required. */
#define KPG_RQ_KNOWN    ((1u << 1) | (1u << 2) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 15))
#define KPG_RQ_REQUIRED ((1u << 1) | (1u << 2) | (1u << 3) | (1u << 5))

int kpg_request_parse(const uint8_t *p, size_t len, struct kpg_request *rq)
{
	const uint32_t vt = PROTOBUF_C_WIRE_TYPE_VARINT, lt = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
	struct kpg_rq_pass ps = { 0 };
	const uint8_t *pos, *end = p + len;
	struct kpg_pb_field f;
	uint32_t seen = 0;
	int r;

	memset(rq, 0, sizeof(*rq));
	/* magic first: what is not kpgate's is dropped, whatever its size;
	 * version before length, as a later version may size differently */
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

	rq->hmac_covered = (uint32_t)len;
	pos = p + KPG_HDR_LEN;
	while (pos < end) {
		if ((r = kpg_pb_next(&pos, end, &f)))
			return r;
		switch (f.id) {
		case 1:
			if ((r = kpg_rq_field(&ps, &f, KPG_RQ_KNOWN, &seen, vt)))
				return r;
			rq->request_id = f.value;
			break;
		case 2:
			if ((r = kpg_rq_field(&ps, &f, KPG_RQ_KNOWN, &seen, lt)))
				return r;
			if (!kpg_pb_utf8_ok(f.p, f.len))
				return KPG_WIRE_BAD_UTF8;
			if (f.len > KPG_STATION_ID_MAX)
				kpg_view_fault(&ps, KPG_WIRE_OVERSIZED_FIELD);
			rq->station_id = kpg_field_bytes(&f);
			break;
		case 3:
			if ((r = kpg_rq_field(&ps, &f, KPG_RQ_KNOWN, &seen, lt)) ||
			    (r = kpg_rq_signed(&ps, f.p, f.p + f.len, rq)))
				return r;
			break;
		case 4:
			if ((r = kpg_rq_field(&ps, &f, KPG_RQ_KNOWN, &seen, lt)) ||
			    (r = kpg_rq_measurement(&ps, f.p, f.p + f.len, rq)))
				return r;
			break;
		case 5:
			if ((r = kpg_rq_field(&ps, &f, KPG_RQ_KNOWN, &seen, vt)))
				return r;
			rq->scan_time = (int64_t)f.value;
			break;
		case 15:
			if ((r = kpg_rq_field(&ps, &f, KPG_RQ_KNOWN, &seen, lt)))
				return r;
			/* the HMAC covers everything before it: nothing may
			 * follow, or those bytes would ride unauthenticated */
			if (pos != end)
				kpg_view_fault(&ps, KPG_WIRE_OUT_OF_ORDER);
			else if (f.len > KPG_HMAC_MAX)
				kpg_view_fault(&ps, KPG_WIRE_OVERSIZED_FIELD);
			rq->hmac = kpg_field_bytes(&f);
			rq->hmac_covered = (uint32_t)(f.tag - p);
			break;
		default:
			if ((r = kpg_rq_field(&ps, &f, KPG_RQ_KNOWN, &seen, vt)))
				return r;
			break;
		}
	}
	if ((seen & KPG_RQ_REQUIRED) != KPG_RQ_REQUIRED)
		return KPG_WIRE_MISSING_FIELD;
	return ps.view_err;
}

enum kpg_wire_reason kpg_cert_scan(const uint8_t *p, size_t len)
{
	static const struct kpg_pb_limits lim = {
		.max_len = KPG_STR_MAX,
		.max_fields = KPG_FIELDS_MAX,
		.max_depth = KPG_DEPTH_MAX,
		.canonical = true,
	};

	return kpg_pb_scan(&kpgate__certificate__descriptor, p, len, &lim);
}
