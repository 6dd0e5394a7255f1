#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kpg_verdict.h"

/* The slot for a new verdict, or NULL when the list is full and d is no
 * more severe than what the last slot holds (bounded, never losing a
 * severer verdict). */
static struct kpg_verdict *slot(struct kpg_verdicts *vs, enum kpg_decision d)
{
	struct kpg_verdict *v;

	if (vs->n < KPG_VERDICTS_MAX)
		return &vs->v[vs->n++];
	v = &vs->v[KPG_VERDICTS_MAX - 1];
	return d > v->decision ? v : NULL;
}

/* Ends detail at most at byte `end`, backing off so that no UTF-8
 * character is cut in half: details carry names in any script. */
static void cut_utf8(char *detail, size_t end)
{
	size_t lead = end;

	while (lead > 0 && ((unsigned char)detail[lead - 1] & 0xc0) == 0x80)
		lead--;
	if (lead > 0) {
		unsigned char c = (unsigned char)detail[lead - 1];
		size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;

		if (lead - 1 + need > end)
			end = lead - 1;
	}
	detail[end] = '\0';
}

void kpg_verdict_add(struct kpg_verdicts *vs, const char *check,
		     enum kpg_decision d, uint32_t reason, const char *fmt, ...)
{
	struct kpg_verdict *v = slot(vs, d);
	va_list ap;
	int n;

	if (v == NULL)
		return;
	v->check = check;
	v->decision = d;
	v->reason = reason;
	va_start(ap, fmt);
	n = vsnprintf(v->detail, sizeof(v->detail), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(v->detail))
		cut_utf8(v->detail, sizeof(v->detail) - 1);
}

void kpg_verdict_put(struct kpg_verdicts *vs, const char *check,
		     enum kpg_decision d, uint32_t reason, const char *detail)
{
	struct kpg_verdict *v = slot(vs, d);
	size_t n = strnlen(detail, sizeof(v->detail));

	if (v == NULL)
		return;
	v->check = check;
	v->decision = d;
	v->reason = reason;
	memcpy(v->detail, detail, n < sizeof(v->detail) ? n : sizeof(v->detail) - 1);
	if (n < sizeof(v->detail))
		v->detail[n] = '\0';
	else
		cut_utf8(v->detail, sizeof(v->detail) - 1);
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

/* Reason codes of the rule-set plugins shipped with kpgate (each plugin's
 * source and docs/plugins.md say when each is given). Out-of-tree plugins
 * use codes from 10000 up and are named "plugin". */
static const struct {
	uint32_t code;
	const char *name;
} plugin_reasons[] = {
	{ 1100, "valid" }, { 1101, "certificate_not_yet_valid" },
	{ 1102, "certificate_expired" }, { 1103, "validity_too_long" },
	{ 1104, "dates_invalid" },
	{ 1200, "participant_ok" }, { 1201, "issuer_not_participant" },
	{ 1202, "issuer_suspended" }, { 1203, "issuer_restricted" },
	{ 1204, "importer_not_this_jurisdiction" },
	{ 1300, "origin_clear" }, { 1301, "origin_embargoed" },
	{ 1302, "mixed_origin_refused" }, { 1303, "mixed_origin_unlisted" },
	{ 1304, "traceability_missing" },
	{ 1400, "zone_approved" }, { 1401, "zone_missing" },
	{ 1402, "zone_not_approved" },
	{ 1500, "parties_clear" }, { 1501, "sanctioned_identifier" },
	{ 1502, "sanctioned_name" },
	{ 1600, "value_in_band" }, { 1601, "value_below_band" },
	{ 1602, "value_above_band" }, { 1603, "value_no_carats" },
	{ 1700, "physical_match" }, { 1701, "parcel_count_mismatch" },
	{ 1702, "mass_outside_tolerance" }, { 1703, "mass_beyond_limit" },
	{ 1704, "seal_not_on_certificate" }, { 1705, "measurement_missing" },
	{ 1800, "not_consumed" }, { 1801, "rescan_in_window" },
	{ 1802, "already_consumed" }, { 1803, "number_reused" },
	{ 1804, "ledger_busy" }, { 1805, "ledger_unreachable" },
	{ 1806, "not_consumed_locally" },
};

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
	for (size_t i = 0; i < sizeof(plugin_reasons) / sizeof(plugin_reasons[0]); i++)
		if (plugin_reasons[i].code == reason)
			return plugin_reasons[i].name;
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
