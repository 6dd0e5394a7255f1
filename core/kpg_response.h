/* kpg_response.h — encodes a ScanResponse datagram (header + protobuf) into
 * at most cap bytes. A reply is never larger than its request: when the full
 * answer does not fit, verdict details are cut, then dropped, never the
 * decisions. An answer to an authenticated request ends with field 15,
 * counted in that size: the encoder writes its tag and length and leaves
 * the last KPG_HMAC_LEN bytes for the caller's HMAC over the bytes before
 * the field. */
#ifndef KPG_RESPONSE_H
#define KPG_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kpg_verdict.h"

struct kpg_answer {
	uint64_t request_id;
	enum kpg_decision decision;
	enum kpg_error error;
	uint64_t trust_version;
	const struct kpg_verdicts *verdicts;   /* may be NULL */
	bool hmac;                             /* end with field 15, tag zeroed */
};

/* Returns the datagram length, or -ENOSPC when even the bare answer does
 * not fit in cap. */
int kpg_response_encode(const struct kpg_answer *a, uint8_t *out, size_t cap);

#endif
