/* kpg_request.c — framing, pre-scan and zero-copy view of a scan request.
 * The scan proves the bytes well formed first, so the walk that fills the
 * view can trust every tag and length it meets. */
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

static int kpg_walk_signed(const uint8_t *p, const uint8_t *end,
			   struct kpg_request *rq)
{
	struct kpg_pb_field f;

	while (p < end) {
		if (kpg_pb_next(&p, end, &f))
			return KPG_WIRE_TRUNCATED;   /* scanned: cannot happen */
		switch (f.id) {
		case 1:
			rq->cert = kpg_field_bytes(&f);
			break;
		case 2:
			if (f.len > KPG_SIG_MAX)
				return KPG_WIRE_OVERSIZED_FIELD;
			rq->sig = kpg_field_bytes(&f);
			break;
		case 3:
			if (f.len != KPG_KEY_ID_LEN)
				return KPG_REQ_BAD_KEY_ID;
			rq->key_id = kpg_field_bytes(&f);
			break;
		}
	}
	return KPG_REQ_OK;
}

static int kpg_walk_measurement(const uint8_t *p, const uint8_t *end,
				struct kpg_request *rq)
{
	struct kpg_pb_field f;

	while (p < end) {
		if (kpg_pb_next(&p, end, &f))
			return KPG_WIRE_TRUNCATED;
		switch (f.id) {
		case 1:
			rq->has_parcel_count = true;
			rq->parcel_count = (uint32_t)f.value;
			break;
		case 2:
			rq->has_gross_mass = true;
			rq->gross_mass_mg = f.value;
			break;
		case 3:
			if (f.len > KPG_STR_MAX)
				return KPG_WIRE_OVERSIZED_FIELD;
			rq->has_seal = true;
			rq->seal_number = kpg_field_bytes(&f);
			break;
		}
	}
	return KPG_REQ_OK;
}

int kpg_request_parse(const uint8_t *p, size_t len, struct kpg_request *rq)
{
	/* bytes fields may be as long as a datagram; strings are capped below */
	static const struct kpg_pb_limits lim = {
		.max_len = KPG_DATAGRAM_MAX,
		.max_fields = KPG_FIELDS_MAX,
		.max_depth = KPG_DEPTH_MAX,
		.canonical = false,
	};
	const uint8_t *pos, *end = p + len;
	struct kpg_pb_field f;
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

	pos = p + KPG_HDR_LEN;
	r = kpg_pb_scan(&kpgate__scan_request__descriptor, pos,
			len - KPG_HDR_LEN, &lim);
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
			rq->station_id = kpg_field_bytes(&f);
			break;
		case 3:
			r = kpg_walk_signed(f.p, f.p + f.len, rq);
			if (r)
				return r;
			break;
		case 4:
			r = kpg_walk_measurement(f.p, f.p + f.len, rq);
			if (r)
				return r;
			break;
		case 5:
			rq->scan_time = (int64_t)f.value;
			break;
		case 15:
			/* the HMAC covers everything before it: nothing may
			 * follow, or those bytes would ride unauthenticated */
			if (pos != end)
				return KPG_WIRE_OUT_OF_ORDER;
			if (f.len > KPG_HMAC_MAX)
				return KPG_WIRE_OVERSIZED_FIELD;
			rq->hmac = kpg_field_bytes(&f);
			rq->hmac_covered = (uint32_t)(f.tag - p);
			break;
		}
	}
	return KPG_REQ_OK;
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
