/* kpg_request.h — the zero-copy view of one scan request datagram.
 * kpg_request_parse() checks the 4-byte framing header, pre-scans the
 * ScanRequest (kpg_pb), then points the view's fields into the datagram
 * itself: nothing is copied or allocated, so a request can wait in the cold
 * queue inside its own packet buffer. */
#ifndef KPG_REQUEST_H
#define KPG_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kpg_pb.h"

#define KPG_STATION_ID_MAX 64u    /* bytes of station_id */
#define KPG_HMAC_MAX       64u    /* bytes of the hmac field */

struct kpg_bytes {
	const uint8_t *p;
	uint32_t len;
};

/* Framing failures, after the protobuf reasons of kpg_pb.h. */
enum kpg_request_reason {
	KPG_REQ_OK = 0,
	/* 1 .. KPG_WIRE__COUNT-1: enum kpg_wire_reason */
	KPG_REQ_SHORT = KPG_WIRE__COUNT, /* shorter than the header */
	KPG_REQ_BAD_MAGIC,           /* not kpgate's protocol: dropped silently */
	KPG_REQ_BAD_VERSION,
	KPG_REQ_BAD_TYPE,            /* not a request */
	KPG_REQ_TOO_LONG,            /* over KPG_DATAGRAM_MAX */
	KPG_REQ_BAD_KEY_ID,          /* key_id not 16 bytes */
	KPG_REQ__COUNT
};

struct kpg_request {
	uint64_t request_id;
	int64_t scan_time;
	struct kpg_bytes station_id;
	struct kpg_bytes cert;       /* signed certificate bytes */
	struct kpg_bytes sig;
	struct kpg_bytes key_id;     /* exactly KPG_KEY_ID_LEN bytes */
	struct kpg_bytes hmac;       /* len 0 when absent */
	uint32_t hmac_covered;       /* datagram bytes before the hmac field */
	bool has_parcel_count, has_gross_mass, has_seal;
	uint32_t parcel_count;
	uint64_t gross_mass_mg;
	struct kpg_bytes seal_number;
};

/* p/len: the whole UDP payload. Returns KPG_REQ_OK or a reason code (a
 * kpg_wire_reason, or an enum kpg_request_reason above). */
int kpg_request_parse(const uint8_t *p, size_t len, struct kpg_request *rq);

/* Canonical pre-scan of the signed certificate bytes. */
enum kpg_wire_reason kpg_cert_scan(const uint8_t *p, size_t len);

const char *kpg_request_reason_name(int reason);

#endif
