/* kpg_request_build.h — the station side: encodes a scan request datagram
 * (framing header + ScanRequest) from a signed certificate and the
 * station's measurements. Used by kpgate-scan, the load generator and the
 * tests; the gateway only reads requests. */
#ifndef KPG_REQUEST_BUILD_H
#define KPG_REQUEST_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kpg_scan {
	uint64_t request_id;
	const char *station_id;
	int64_t scan_time;
	const uint8_t *signed_cert;      /* SignedCertificate protobuf bytes */
	size_t signed_cert_len;
	bool has_parcel_count, has_gross_mass;
	uint32_t parcel_count;
	uint64_t gross_mass_mg;
	const char *seal_number;         /* NULL when not read */
};

/* Returns the datagram length, -EBADMSG if signed_cert is not a
 * SignedCertificate, or -EMSGSIZE if it would exceed cap. */
int kpg_request_build(const struct kpg_scan *s, uint8_t *out, size_t cap);

#endif
