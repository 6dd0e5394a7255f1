#include <errno.h>
#include <string.h>

#include "kpg_limits.h"
#include "kpg_request_build.h"
#include "kpgate.pb-c.h"

int kpg_request_build(const struct kpg_scan *s, uint8_t *out, size_t cap)
{
	Kpgate__ScanRequest rq = KPGATE__SCAN_REQUEST__INIT;
	Kpgate__Measurement m = KPGATE__MEASUREMENT__INIT;
	Kpgate__SignedCertificate *sc;
	size_t size;
	int ret;

	sc = kpgate__signed_certificate__unpack(NULL, s->signed_cert_len, s->signed_cert);
	if (sc == NULL)
		return -EBADMSG;
	rq.request_id = s->request_id;
	rq.station_id = (char *)(s->station_id ? s->station_id : "");
	rq.signed_ = sc;
	rq.scan_time = s->scan_time;
	if (s->has_parcel_count || s->has_gross_mass || s->seal_number) {
		m.has_parcel_count = s->has_parcel_count;
		m.parcel_count = s->parcel_count;
		m.has_gross_mass_mg = s->has_gross_mass;
		m.gross_mass_mg = s->gross_mass_mg;
		m.seal_number = (char *)s->seal_number;
		rq.measurement = &m;
	}
	size = protobuf_c_message_get_packed_size(&rq.base);
	if (cap < KPG_HDR_LEN || size > cap - KPG_HDR_LEN) {
		ret = -EMSGSIZE;
	} else {
		out[0] = KPG_HDR_MAGIC0;
		out[1] = KPG_HDR_MAGIC1;
		out[2] = KPG_WIRE_VERSION;
		out[3] = KPG_MSG_REQUEST;
		protobuf_c_message_pack(&rq.base, out + KPG_HDR_LEN);
		ret = (int)(KPG_HDR_LEN + size);
	}
	kpgate__signed_certificate__free_unpacked(sc, NULL);
	return ret;
}
