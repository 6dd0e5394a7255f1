/* validity.c — the certificate's dates against the gateway's clock.
 *
 * A KP certificate is valid from its date of issue to its date of expiry,
 * both included, in UTC (scan->today). Config (all optional):
 *   max_validity_days = 180;   refer certificates valid for longer (issue
 *                              and expiry days included); absent: no limit
 *
 * Reason codes (docs/plugins.md):
 *   1100 valid                      accept  "valid until YYYY-MM-DD"
 *   1101 certificate_not_yet_valid  reject  today is before the issue date
 *   1102 certificate_expired        reject  today is after the expiry date
 *   1103 validity_too_long          refer   longer than max_validity_days
 *   1104 dates_invalid              reject  expiry before issue
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kpgate/plugin.h>

enum {
	VALIDITY_OK = 1100,
	VALIDITY_NOT_YET_VALID = 1101,
	VALIDITY_EXPIRED = 1102,
	VALIDITY_TOO_LONG = 1103,
	VALIDITY_DATES_INVALID = 1104,
};

#define VALIDITY_DAYS_MAX 36500          /* a century: surely a typo above */

struct validity_state {
	uint32_t max_days;               /* 0: no limit */
};

/* Days since 0000-03-01 of a YYYYMMDD date: counting years from March puts
 * the leap day last, so every year but the leap day has the same shape. */
static int64_t day_number(uint32_t yyyymmdd)
{
	int64_t y = yyyymmdd / 10000, m = yyyymmdd / 100 % 100, d = yyyymmdd % 100;

	if (m < 3) {
		y -= 1;
		m += 12;
	}
	/* (153 * (m - 3) + 2) / 5 is the days from March 1 to month m's 1st. */
	return 365 * y + y / 4 - y / 100 + y / 400 + (153 * (m - 3) + 2) / 5 + d - 1;
}

static int validity_configure(void *instance, const struct kpg_plugin_env *env,
			      const config_setting_t *section, void **state)
{
	static const char *const keys[] = { "max_validity_days", NULL };
	const config_setting_t *s;
	struct validity_state *st;
	long long v = 0;
	int rc;

	if ((rc = env->check_keys(env, section, keys)) < 0)
		return rc;
	s = section ? config_setting_get_member(section, "max_validity_days") : NULL;
	if (s) {
		if (config_setting_type(s) != CONFIG_TYPE_INT &&
		    config_setting_type(s) != CONFIG_TYPE_INT64) {
			env->error(env, s, "'max_validity_days' must be an integer");
			return -EINVAL;
		}
		v = config_setting_get_int64(s);
		if (v < 1 || v > VALIDITY_DAYS_MAX) {
			env->error(env, s, "'max_validity_days' = %lld is out of range [1, %d]",
				   v, VALIDITY_DAYS_MAX);
			return -EINVAL;
		}
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -ENOMEM;
	st->max_days = (uint32_t)v;
	*state = st;
	return 0;
}

static void validity_release(void *instance, void *state)
{
	free(state);
}

/* "YYYY-MM-DD" and a NUL into out[11]; by hand, as the accept path runs for
 * nearly every request and snprintf costs more than the rest of the check. */
static void put_date(char *out, uint32_t ymd)
{
	uint32_t v[3] = { ymd / 10000 % 10000, ymd / 100 % 100, ymd % 100 };
	char *p = out;

	for (int k = 1000; k > 0; k /= 10)
		*p++ = (char)('0' + v[0] / (uint32_t)k % 10);
	for (int i = 1; i < 3; i++) {
		*p++ = '-';
		*p++ = (char)('0' + v[i] / 10);
		*p++ = (char)('0' + v[i] % 10);
	}
	*p = '\0';
}

/* out->detail = words followed by a date. */
static void say_date(struct kpg_plugin_verdict *out, const char *words, uint32_t ymd)
{
	size_t n = strlen(words);

	memcpy(out->detail, words, n);   /* words are short literals */
	put_date(out->detail + n, ymd);
}

static void validity_evaluate(void *instance, const void *state,
			      const struct kpg_scan_view *scan,
			      struct kpg_plugin_verdict *out)
{
	const struct validity_state *st = state;
	const struct kpg_cert *c = scan->cert;
	uint32_t issue = c->issue_date, expiry = c->expiry_date;
	int64_t days;

	if (expiry < issue) {            /* YYYYMMDD orders as dates */
		out->decision = KPG_REJECT;
		out->reason = VALIDITY_DATES_INVALID;
		say_date(out, "expiry before issue, issued ", issue);
	} else if (scan->today < issue) {
		out->decision = KPG_REJECT;
		out->reason = VALIDITY_NOT_YET_VALID;
		say_date(out, "not valid before ", issue);
	} else if (scan->today > expiry) {
		out->decision = KPG_REJECT;
		out->reason = VALIDITY_EXPIRED;
		say_date(out, "expired ", expiry);
	} else if (st->max_days &&
		   (days = day_number(expiry) - day_number(issue) + 1) > st->max_days) {
		out->decision = KPG_REFER;
		out->reason = VALIDITY_TOO_LONG;
		snprintf(out->detail, sizeof(out->detail),
			 "valid for %lld days, more than %u", (long long)days,
			 st->max_days);
	} else {
		out->decision = KPG_ACCEPT;
		out->reason = VALIDITY_OK;
		say_date(out, "valid until ", expiry);
	}
}

KPG_PLUGIN_EXPORT = {
	.abi_version = KPG_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct kpg_plugin),
	.name = "validity",
	.description = "issue and expiry dates against the gateway's clock",
	.configure = validity_configure,
	.release = validity_release,
	.evaluate = validity_evaluate,
};
