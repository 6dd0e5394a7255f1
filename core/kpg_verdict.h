/* kpg_verdict.h — decisions, reason codes, error codes and the verdict list
 * a response carries. Numbers are the wire's (proto/kpgate.proto,
 * docs/protocol.md); the most severe decision wins. */
#ifndef KPG_VERDICT_H
#define KPG_VERDICT_H

#include <stdint.h>

#include <kpgate/plugin.h>   /* enum kpg_decision, KPG_DETAIL_MAX */

#include "kpg_limits.h"

#define KPG_DECISION__COUNT 4

/* Reason codes of the gateway's own checks; plugins use 1000 and above. */
enum kpg_reason {
	KPG_R_OK = 0,
	KPG_R_SIGNATURE_INVALID = 1,
	KPG_R_UNKNOWN_KEY = 2,
	KPG_R_KEY_REVOKED = 3,
	KPG_R_KEY_RETIRED = 4,           /* certificate issued after retirement */
	KPG_R_KEY_OUT_OF_WINDOW = 5,     /* issued outside the key's validity */
	KPG_R_ISSUER_MISMATCH = 6,       /* certificate's participant is not the key's */
	KPG_R_CERT_INVALID = 7,          /* signed, but a field is impossible */
	KPG_R_CERT_EXPIRED = 8,
	KPG_R_CERT_NOT_YET_VALID = 9,
	KPG_R__COUNT
};

/* Error answers (ScanResponse.error); same numbers as ErrorCode. */
enum kpg_error {
	KPG_ERR_NONE = 0,
	KPG_ERR_MALFORMED_REQUEST = 1,
	KPG_ERR_NONCANONICAL_CERTIFICATE = 2,
	KPG_ERR_TRUST_LIST_UNAVAILABLE = 3,
	KPG_ERR_TRUST_LIST_STALE = 4,
	KPG_ERR_CLOCK_SKEW = 5,
	KPG_ERR_UNSUPPORTED_VERSION = 6,
	KPG_ERR_OVERLOADED = 7,
	KPG_ERR_STATION_UNKNOWN = 8,
	KPG_ERR_STATION_AUTH_FAILED = 9,
	KPG_ERR_REPLAY = 10,
	KPG_ERR__COUNT
};

struct kpg_verdict {
	const char *check;               /* static name: "signature", "validity" */
	enum kpg_decision decision;
	uint32_t reason;
	char detail[KPG_DETAIL_MAX];     /* words for the officer, may be cut */
};

struct kpg_verdicts {
	unsigned n;
	struct kpg_verdict v[KPG_VERDICTS_MAX];
};

/* Appends a verdict; detail is printf-style and cut to fit. Beyond
 * KPG_VERDICTS_MAX the verdict is dropped but a reject still counts: the
 * last slot is overwritten by the most severe. */
void kpg_verdict_add(struct kpg_verdicts *vs, const char *check,
		     enum kpg_decision d, uint32_t reason, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* The same with a plain string, no formatting: the per-request path of
 * plugin verdicts. */
void kpg_verdict_put(struct kpg_verdicts *vs, const char *check,
		     enum kpg_decision d, uint32_t reason, const char *detail);

enum kpg_decision kpg_decision_aggregate(const struct kpg_verdicts *vs);

const char *kpg_decision_name(enum kpg_decision d);   /* "accept", ... */
const char *kpg_reason_name(uint32_t reason);          /* core reasons; "plugin" above */
const char *kpg_error_name(enum kpg_error e);          /* "malformed_request", ... */

#endif
