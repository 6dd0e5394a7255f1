/* physical — the station's measurements against the certificate.
 *
 * Three parts, each judged only when the station measured it:
 *   parcels  the counted parcels must equal the certificate's;
 *   mass     gross mass against carats x 0.2 g (carats_centi x 2 mg) plus a
 *            packaging allowance per declared parcel: within the tolerance
 *            accepted, outside it referred, beyond the hard limit (when one
 *            is set) rejected;
 *   seal     the seal read must be one of the certificate's, compared
 *            trimmed and ASCII case-insensitively.
 * A tolerance is "percent of the expected mass or mg, whichever is larger"
 * (a scale's error is relative on heavy parcels, absolute on light ones);
 * neither set means an exact match. Integers only, 128-bit where products
 * could overflow, so every boundary is exact to the milligram.
 *
 * Config:
 *   { name = "physical";
 *     require_measurements = false;  # a missing part: refer (true) or skip
 *     packaging_mg = 2500;           # allowance per parcel
 *     tolerance_percent = "0.50"; tolerance_mg = 200;
 *     reject_percent = "5.00"; reject_mg = 5000; }   # optional hard limit
 * Percentages are strings with at most two decimals, 0 to 100.
 *
 * Reason codes (1700-1799):
 *   1700 physical_match           accept: every measured part matches
 *   1701 parcel_count_mismatch    refer
 *   1702 mass_outside_tolerance   refer
 *   1703 mass_beyond_limit        reject
 *   1704 seal_not_on_certificate  refer
 *   1705 measurement_missing      refer, only with require_measurements
 * No verdict when the station measured nothing and none is required.
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kpgate/plugin.h>

#include "policy_conf.h"

enum {
	PHYSICAL_MATCH = 1700,
	PARCEL_COUNT_MISMATCH = 1701,
	MASS_OUTSIDE_TOLERANCE = 1702,
	MASS_BEYOND_LIMIT = 1703,
	SEAL_NOT_ON_CERTIFICATE = 1704,
	MEASUREMENT_MISSING = 1705,
};

#define MG_PER_CENTI_CARAT  2u                    /* 1 ct = 200 mg */
#define MG_MAX              INT64_C(1000000000000) /* a thousand tonnes */
#define BP_MAX              10000u                /* 100.00 % */

/* Deviation allowed: the larger of bp/10000 of the expected mass and mg. */
struct tolerance {
	bool set;                        /* for the limit: reject beyond it */
	uint64_t bp, mg;
};

struct physical_state {
	bool require;
	uint64_t packaging_mg;
	struct tolerance tol, limit;
};

/* A mass in mg, 0 to MG_MAX; absent leaves *out and *given. 0 or -EINVAL
 * after env->error. */
static int read_mg(const struct kpg_plugin_env *env,
		   const config_setting_t *group, const char *key,
		   uint64_t *out, bool *given)
{
	const config_setting_t *s = config_setting_get_member(group, key);
	long long v;

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64) {
		env->error(env, s, "'%s' must be an integer (mg)", key);
		return -EINVAL;
	}
	v = config_setting_get_int64(s);
	if (v < 0 || v > MG_MAX) {
		env->error(env, s, "'%s' = %lld: must be 0 to %" PRId64 " mg",
			   key, v, MG_MAX);
		return -EINVAL;
	}
	*out = (uint64_t)v;
	*given = true;
	return 0;
}

static int read_percent(const struct kpg_plugin_env *env,
			const config_setting_t *group, const char *key,
			uint64_t *bp, bool *given)
{
	const char *text;

	if (pconf_string(env, group, key, false, &text) < 0)
		return -EINVAL;
	if (text == NULL)
		return 0;
	if (pconf_parse_centi(text, bp) < 0 || *bp > BP_MAX) {
		env->error(env, config_setting_get_member(group, key),
			   "'%s' = \"%s\": not a percentage like \"0.50\" (0 to 100)",
			   key, text);
		return -EINVAL;
	}
	*given = true;
	return 0;
}

/* Reads a percent/mg pair; a limit given in the same unit as the
 * tolerance must not be tighter than it, or it would reject what the
 * tolerance accepts. */
static int read_tolerance(const struct kpg_plugin_env *env,
			  const config_setting_t *section, const char *pct_key,
			  const char *mg_key, struct tolerance *t,
			  const struct tolerance *inner)
{
	bool given[2] = { false, false };

	if (read_percent(env, section, pct_key, &t->bp, &given[0]) < 0 ||
	    read_mg(env, section, mg_key, &t->mg, &given[1]) < 0)
		return -EINVAL;
	t->set = given[0] || given[1];
	if (inner && given[0] && t->bp < inner->bp) {
		env->error(env, config_setting_get_member(section, pct_key),
			   "'%s' is tighter than the tolerance", pct_key);
		return -EINVAL;
	}
	if (inner && given[1] && t->mg < inner->mg) {
		env->error(env, config_setting_get_member(section, mg_key),
			   "'%s' is tighter than the tolerance", mg_key);
		return -EINVAL;
	}
	return 0;
}

static int physical_configure(void *instance, const struct kpg_plugin_env *env,
			      const config_setting_t *section, void **state)
{
	static const char *const keys[] = {
		"require_measurements", "packaging_mg", "tolerance_percent",
		"tolerance_mg", "reject_percent", "reject_mg", NULL,
	};
	const config_setting_t *req;
	struct physical_state st = { 0 }, *out;
	bool packaging = false;

	if (env->check_keys(env, section, keys) < 0)
		return -EINVAL;
	req = config_setting_get_member(section, "require_measurements");
	if (req != NULL) {
		if (config_setting_type(req) != CONFIG_TYPE_BOOL) {
			env->error(env, req,
				   "'require_measurements' must be true or false");
			return -EINVAL;
		}
		st.require = config_setting_get_bool(req);
	}
	if (read_mg(env, section, "packaging_mg", &st.packaging_mg, &packaging) < 0 ||
	    read_tolerance(env, section, "tolerance_percent", "tolerance_mg",
			   &st.tol, NULL) < 0 ||
	    read_tolerance(env, section, "reject_percent", "reject_mg",
			   &st.limit, &st.tol) < 0)
		return -EINVAL;

	out = malloc(sizeof(*out));
	if (out == NULL)
		return -ENOMEM;
	*out = st;
	*state = out;
	return 0;
}

static void physical_release(void *instance, void *state)
{
	free(state);
}

static bool within(const struct tolerance *t, unsigned __int128 dev,
		   unsigned __int128 expected)
{
	return dev <= t->mg || dev * 10000 <= expected * t->bp;
}

static uint64_t clamp64(unsigned __int128 v)
{
	return v > UINT64_MAX ? UINT64_MAX : (uint64_t)v;
}

/* The deviation a tolerance allows at this mass, rounded down, for the
 * officer's detail only. */
static uint64_t allowed_mg(const struct tolerance *t, unsigned __int128 expected)
{
	unsigned __int128 pct = expected * t->bp / 10000;

	return clamp64(pct > t->mg ? pct : t->mg);
}

/* "12.345" grams of a mass in mg. */
static void format_g(char *buf, size_t len, uint64_t mg)
{
	snprintf(buf, len, "%" PRIu64 ".%03u", mg / 1000, (unsigned)(mg % 1000));
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trims blanks off both ends of s: start in *p, length returned. */
static uint32_t trimmed(const struct kpg_str *s, const char **p)
{
	const char *a = s->p, *b = s->p + s->len;

	while (a < b && blank(*a))
		a++;
	while (b > a && blank(b[-1]))
		b--;
	*p = a;
	return (uint32_t)(b - a);
}

static bool same_seal(const struct kpg_str *x, const struct kpg_str *y)
{
	const char *a, *b;
	uint32_t n = trimmed(x, &a);

	if (trimmed(y, &b) != n)
		return false;
	/* ASCII only, so no locale decides what matches. */
	for (uint32_t i = 0; i < n; i++) {
		unsigned char ca = (unsigned char)a[i], cb = (unsigned char)b[i];

		if (ca >= 'a' && ca <= 'z')
			ca -= 'a' - 'A';
		if (cb >= 'a' && cb <= 'z')
			cb -= 'a' - 'A';
		if (ca != cb)
			return false;
	}
	return n > 0;
}

/* The most severe finding so far (ties keep the first); its detail leaves
 * room for " +more". */
struct finding {
	enum kpg_decision decision;
	uint32_t reason;
	unsigned count;
	char detail[KPG_DETAIL_MAX - sizeof(" +more") + 1];
};

static void note(struct finding *f, enum kpg_decision d, uint32_t reason,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void note(struct finding *f, enum kpg_decision d, uint32_t reason,
		 const char *fmt, ...)
{
	va_list ap;

	f->count++;
	if (d <= f->decision)
		return;
	f->decision = d;
	f->reason = reason;
	va_start(ap, fmt);
	vsnprintf(f->detail, sizeof(f->detail), fmt, ap);
	va_end(ap);
}

static void check_mass(const struct physical_state *st,
		       const struct kpg_cert *c, uint64_t gross,
		       struct finding *f)
{
	unsigned __int128 expected =
		(unsigned __int128)c->total_carats_centi * MG_PER_CENTI_CARAT +
		(unsigned __int128)st->packaging_mg * c->parcels;
	unsigned __int128 dev = gross > expected ? gross - expected : expected - gross;
	char got[32], want[32], tol[32];

	if (within(&st->tol, dev, expected))
		return;
	format_g(got, sizeof(got), gross);
	format_g(want, sizeof(want), clamp64(expected));
	if (st->limit.set && !within(&st->limit, dev, expected)) {
		format_g(tol, sizeof(tol), allowed_mg(&st->limit, expected));
		note(f, KPG_REJECT, MASS_BEYOND_LIMIT,
		     "gross %s g, expected %s g: beyond limit +/-%s g",
		     got, want, tol);
		return;
	}
	format_g(tol, sizeof(tol), allowed_mg(&st->tol, expected));
	note(f, KPG_REFER, MASS_OUTSIDE_TOLERANCE,
	     "gross %s g, expected %s g +/-%s g", got, want, tol);
}

enum { PART_PARCELS = 1, PART_MASS = 2, PART_SEAL = 4 };

/* By the parts measured (accept) or missing (refer); made once, as the
 * accept path runs for nearly every request. */
static const char *const parts_match[8] = {
	"", "parcels match", "mass match", "parcels mass match", "seal match",
	"parcels seal match", "mass seal match", "parcels mass seal match",
};
static const char *const parts_missing[8] = {
	"", "parcels", "mass", "parcels mass", "seal", "parcels seal",
	"mass seal", "parcels mass seal",
};

static void physical_evaluate(void *instance, const void *state,
			      const struct kpg_scan_view *scan,
			      struct kpg_plugin_verdict *out)
{
	static const struct kpg_measurement nothing;
	const struct physical_state *st = state;
	const struct kpg_cert *c = scan->cert;
	const struct kpg_measurement *m =
		scan->measurement ? scan->measurement : &nothing;
	struct finding f = { .decision = KPG_DECISION_NONE };
	unsigned checked = 0, missing = 0;

	if (c == NULL)
		return;

	if (m->has_parcel_count) {
		checked |= PART_PARCELS;
		if (m->parcel_count != c->parcels)
			note(&f, KPG_REFER, PARCEL_COUNT_MISMATCH,
			     "%" PRIu32 " parcels counted, certificate says %" PRIu32,
			     m->parcel_count, c->parcels);
	} else if (st->require) {
		missing |= PART_PARCELS;
	}

	if (m->has_gross_mass) {
		checked |= PART_MASS;
		check_mass(st, c, m->gross_mass_mg, &f);
	} else if (st->require) {
		missing |= PART_MASS;
	}

	if (m->has_seal) {
		bool found = false;

		checked |= PART_SEAL;
		for (uint32_t i = 0; i < c->n_seals && !found; i++)
			found = same_seal(&m->seal_number, &c->seals[i]);
		if (!found)
			note(&f, KPG_REFER, SEAL_NOT_ON_CERTIFICATE,
			     "seal \"%.*s\" not on certificate%s",
			     (int)pconf_utf8_cut(m->seal_number.p,
						 m->seal_number.len, 32),
			     m->seal_number.p, c->n_seals ? "" : " (none listed)");
	} else if (st->require && c->n_seals > 0) {
		/* Only a certificate that lists seals needs one read. */
		missing |= PART_SEAL;
	}

	if (missing)
		note(&f, KPG_REFER, MEASUREMENT_MISSING, "not measured: %s",
		     parts_missing[missing]);

	if (f.decision != KPG_DECISION_NONE) {
		out->decision = f.decision;
		out->reason = f.reason;
		strcpy(out->detail, f.detail);
		if (f.count > 1)
			strcat(out->detail, " +more");
	} else if (checked) {
		out->decision = KPG_ACCEPT;
		out->reason = PHYSICAL_MATCH;
		strcpy(out->detail, parts_match[checked]);
	}
}

KPG_PLUGIN_EXPORT = {
	.abi_version = KPG_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct kpg_plugin),
	.name = "physical",
	.description = "parcel count, gross mass and seal against the certificate",
	.configure = physical_configure,
	.release = physical_release,
	.evaluate = physical_evaluate,
};
