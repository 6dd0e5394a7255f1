#include <stdarg.h>
#include <stdio.h>

#include "kpg_verdict.h"

void kpg_verdict_add(struct kpg_verdicts *vs, const char *check,
		     enum kpg_decision d, uint32_t reason, const char *fmt, ...)
{
	struct kpg_verdict *v;
	va_list ap;

	if (vs->n < KPG_VERDICTS_MAX) {
		v = &vs->v[vs->n++];
	} else {
		/* Full: keep the list bounded, but never lose a severer verdict. */
		v = &vs->v[KPG_VERDICTS_MAX - 1];
		if (d <= v->decision)
			return;
	}
	v->check = check;
	v->decision = d;
	v->reason = reason;
	va_start(ap, fmt);
	int n = vsnprintf(v->detail, sizeof(v->detail), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(v->detail)) {
		/* Cut on a character boundary: details carry UTF-8 names. */
		size_t end = sizeof(v->detail) - 1, lead = end;

		while (lead > 0 && ((unsigned char)v->detail[lead - 1] & 0xc0) == 0x80)
			lead--;
		if (lead > 0) {
			unsigned char c = (unsigned char)v->detail[lead - 1];
			size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;

			if (lead - 1 + need > end)
				v->detail[lead - 1] = '\0';
		}
	}
}

enum kpg_decision kpg_decision_aggregate(const struct kpg_verdicts *vs)
{
	enum kpg_decision d = KPG_ACCEPT;

	if (vs->n == 0)
		return KPG_DECISION_NONE;  /* nothing checked: never an accept */
	for (unsigned i = 0; i < vs->n; i++) {
		if (vs->v[i].decision == KPG_DECISION_NONE)
			return KPG_REJECT; /* a check that could not decide fails closed */
		if (vs->v[i].decision > d)
			d = vs->v[i].decision;
	}
	return d;
}

const char *kpg_decision_name(enum kpg_decision d)
{
	static const char *const names[KPG_DECISION__COUNT] = {
		[KPG_DECISION_NONE] = "none",
		[KPG_ACCEPT] = "accept",
		[KPG_REFER] = "refer",
		[KPG_REJECT] = "reject",
	};
	return (unsigned)d < KPG_DECISION__COUNT ? names[d] : "unknown";
}

const char *kpg_reason_name(uint32_t reason)
{
	static const char *const names[KPG_R__COUNT] = {
		[KPG_R_OK] = "ok",
		[KPG_R_SIGNATURE_INVALID] = "signature_invalid",
		[KPG_R_UNKNOWN_KEY] = "unknown_key",
		[KPG_R_KEY_REVOKED] = "key_revoked",
		[KPG_R_KEY_RETIRED] = "key_retired",
		[KPG_R_KEY_OUT_OF_WINDOW] = "key_out_of_window",
		[KPG_R_ISSUER_MISMATCH] = "issuer_mismatch",
		[KPG_R_CERT_INVALID] = "certificate_invalid",
		[KPG_R_CERT_EXPIRED] = "certificate_expired",
		[KPG_R_CERT_NOT_YET_VALID] = "certificate_not_yet_valid",
	};
	if (reason < KPG_R__COUNT)
		return names[reason];
	return reason >= 1000 ? "plugin" : "unknown";
}

const char *kpg_error_name(enum kpg_error e)
{
	static const char *const names[KPG_ERR__COUNT] = {
		[KPG_ERR_NONE] = "none",
		[KPG_ERR_MALFORMED_REQUEST] = "malformed_request",
		[KPG_ERR_NONCANONICAL_CERTIFICATE] = "noncanonical_certificate",
		[KPG_ERR_TRUST_LIST_UNAVAILABLE] = "trust_list_unavailable",
		[KPG_ERR_TRUST_LIST_STALE] = "trust_list_stale",
		[KPG_ERR_CLOCK_SKEW] = "clock_skew",
		[KPG_ERR_UNSUPPORTED_VERSION] = "unsupported_version",
		[KPG_ERR_OVERLOADED] = "overloaded",
		[KPG_ERR_STATION_UNKNOWN] = "station_unknown",
		[KPG_ERR_STATION_AUTH_FAILED] = "station_auth_failed",
		[KPG_ERR_REPLAY] = "replay",
	};
	return (unsigned)e < KPG_ERR__COUNT ? names[e] : "unknown";
}
