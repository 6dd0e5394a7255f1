/* value — declared US$ per carat outside a configured band is referred.
 *
 * Undervaluation (duty, royalties) and overvaluation (transfer pricing,
 * laundering) both show as a price per carat far from what the origin
 * produces. Parcels vary widely, so this plugin refers for inspection and
 * never rejects.
 *
 * Per HS line: price = value_usd_cents / carats_centi, in US$ per carat.
 * It is compared exactly, in 128-bit integers, against the band that fits
 * the certificate's origin and the line's HS code best:
 *   origin + hs  >  origin  >  hs (origin "*")  >  "*"
 * A mixed-origin certificate uses origin "mixed", then the "*" bands. Both
 * ends of a band are inside it.
 *
 * Config:
 *   { name = "value";
 *     bands = ( { origin = "RU"; hs = "7102.31"; min = "40.00"; max = "400.00"; },
 *               { origin = "mixed"; min = "2.00"; },
 *               { origin = "*"; min = "5.00"; max = "5000.00"; } ); }
 * origin: two letters, "mixed" or "*" (default); hs: "7102.10", "7102.21"
 * or "7102.31" (default: any); min, max: US$ per carat with at most two
 * decimals, at least one of them.
 *
 * Reason codes (1600-1699):
 *   1600 value_in_band      accept: every line with a band lies inside it
 *   1601 value_below_band   refer:  a line's US$/ct is below its band
 *   1602 value_above_band   refer:  a line's US$/ct is above its band
 *   1603 value_no_carats    refer:  a line declares no carats (no price)
 * No verdict when no band covers any line of the certificate.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kpgate/plugin.h>

#include "policy_conf.h"

enum {
	VALUE_IN_BAND = 1600,
	VALUE_BELOW_BAND = 1601,
	VALUE_ABOVE_BAND = 1602,
	VALUE_NO_CARATS = 1603,
};

/* Origin slots: "AA".."ZZ", then "mixed", then "*" (also any code that is
 * not two letters). HS slots: the three scheme codes, then any other. */
#define ORIGIN_LETTERS  (26 * 26)
#define ORIGIN_MIXED    ORIGIN_LETTERS
#define ORIGIN_ANY      (ORIGIN_LETTERS + 1)
#define ORIGIN_SLOTS    (ORIGIN_LETTERS + 2)
#define HS_SLOTS        4
#define HS_ANY          3

#define NO_CEILING      UINT64_MAX

#define WITHIN "within "

struct band {
	uint64_t min_cents, max_cents;   /* per carat; max NO_CEILING when open */
	char label[16];                  /* "RU 7102.31", "mixed", "*" */
	int line;                        /* config line, for duplicate errors */
	/* The accept detail, made here because evaluate's accept path runs
	 * for nearly every request and snprintf would cost more than the
	 * check: "within 40.00-400.00 (RU 7102.31)". */
	char said[80];
};

struct value_state {
	unsigned n_bands;
	struct band *bands;
	/* Best band per origin and HS slot, resolved once here so evaluate
	 * makes one lookup per line: index into bands, -1 when none. */
	int16_t pick[ORIGIN_SLOTS][HS_SLOTS];
};

/* HS slot of a scheme code: 0..2 for 7102.10/.21/.31, HS_ANY otherwise. */
static int hs_slot(uint32_t code)
{
	unsigned bit = pconf_hs_bit(code);

	return bit ? __builtin_ctz(bit) : HS_ANY;
}

static int origin_slot(const char cc[3])
{
	int i = pconf_cc_index(cc);

	return i >= 0 && cc[2] == '\0' ? i : ORIGIN_ANY;
}

/* The officer's detail, cut to fit; for the rare refer paths. */
static void say(struct kpg_plugin_verdict *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void say(struct kpg_plugin_verdict *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->detail, sizeof(out->detail), fmt, ap);
	va_end(ap);
}

/* "12.34": dollars and cents of a price per carat. */
static void format_cents(char *buf, size_t len, uint64_t cents)
{
	snprintf(buf, len, "%" PRIu64 ".%02u", cents / 100,
		 (unsigned)(cents % 100));
}

/* b->said from its bounds and label (bounds have at most 9 digits of
 * dollars, so it always fits). */
static void describe_band(struct band *b)
{
	char lo[24], hi[24];

	format_cents(lo, sizeof(lo), b->min_cents);
	if (b->max_cents == NO_CEILING) {
		snprintf(b->said, sizeof(b->said), WITHIN "min %s (%s)", lo,
			 b->label);
	} else {
		format_cents(hi, sizeof(hi), b->max_cents);
		snprintf(b->said, sizeof(b->said), WITHIN "%s-%s (%s)", lo, hi,
			 b->label);
	}
}

static const char *origin_label(int o, const char *text)
{
	return o == ORIGIN_MIXED ? "mixed" : o == ORIGIN_ANY ? "*" : text;
}

/* An amount of US$ per carat in cents; 1 when given, 0 when absent,
 * -EINVAL after env->error. Money stays in integers from the config on, so
 * a band edge is exact to the cent. */
static int parse_amount(const struct kpg_plugin_env *env,
			const config_setting_t *group, const char *key,
			uint64_t *cents)
{
	const char *text;

	if (pconf_string(env, group, key, false, &text) < 0)
		return -EINVAL;
	if (text == NULL)
		return 0;
	if (pconf_parse_centi(text, cents) < 0) {
		env->error(env, config_setting_get_member(group, key),
			   "'%s' = \"%s\": not US$ per carat like \"10.00\"",
			   key, text);
		return -EINVAL;
	}
	return 1;
}

/* Reads band i into bands[i] and records it in keyed[origin][hs] (hs
 * HS_ANY for any). 0 or -EINVAL after env->error. */
static int parse_band(const struct kpg_plugin_env *env,
		      const config_setting_t *g, struct band *bands, int16_t i,
		      int16_t keyed[ORIGIN_SLOTS][HS_SLOTS])
{
	static const char *const keys[] = { "origin", "hs", "min", "max", NULL };
	struct band *b = &bands[i];
	const char *origin, *hs;
	int o = ORIGIN_ANY, h = HS_ANY, has_min, has_max;
	char cc[3];
	uint32_t code;

	if (!config_setting_is_group(g)) {
		env->error(env, g, "'bands': each band must be a group { ... }");
		return -EINVAL;
	}
	if (env->check_keys(env, g, keys) < 0 ||
	    pconf_string(env, g, "origin", false, &origin) < 0 ||
	    pconf_string(env, g, "hs", false, &hs) < 0)
		return -EINVAL;
	if (origin != NULL && strcmp(origin, "*") != 0) {
		if (strcmp(origin, "mixed") == 0) {
			o = ORIGIN_MIXED;
		} else if (pconf_parse_country(origin, cc) == 0) {
			o = origin_slot(cc);
		} else {
			env->error(env, config_setting_get_member(g, "origin"),
				   "'origin' = \"%s\": not a two-letter country"
				   " code, \"mixed\" or \"*\"", origin);
			return -EINVAL;
		}
	}
	if (hs != NULL) {
		if (pconf_parse_hs(hs, &code) < 0) {
			env->error(env, config_setting_get_member(g, "hs"),
				   "'hs' = \"%s\": not 7102.10, 7102.21 or 7102.31",
				   hs);
			return -EINVAL;
		}
		h = hs_slot(code);
	}

	b->min_cents = 0;
	b->max_cents = NO_CEILING;
	has_min = parse_amount(env, g, "min", &b->min_cents);
	has_max = parse_amount(env, g, "max", &b->max_cents);
	if (has_min < 0 || has_max < 0)
		return -EINVAL;
	if (!has_min && !has_max) {
		env->error(env, g, "a band needs 'min', 'max' or both");
		return -EINVAL;
	}
	if (b->min_cents > b->max_cents) {
		env->error(env, g, "band 'min' is above its 'max'");
		return -EINVAL;
	}

	if (h == HS_ANY)
		snprintf(b->label, sizeof(b->label), "%s", origin_label(o, origin));
	else if (o == ORIGIN_ANY)
		snprintf(b->label, sizeof(b->label), "%s", pconf_hs_name(1u << h));
	else
		snprintf(b->label, sizeof(b->label), "%s %s",
			 origin_label(o, origin), pconf_hs_name(1u << h));
	describe_band(b);
	b->line = (int)config_setting_source_line(g);
	if (keyed[o][h] >= 0) {
		env->error(env, g, "a band for %s is already set at line %d",
			   b->label, bands[keyed[o][h]].line);
		return -EINVAL;
	}
	keyed[o][h] = i;
	return 0;
}

static int16_t resolve(int16_t keyed[ORIGIN_SLOTS][HS_SLOTS], int o, int h)
{
	/* The most specific band wins: origin+hs, origin, hs, "*". */
	const int order[4][2] = {
		{ o, h }, { o, HS_ANY }, { ORIGIN_ANY, h }, { ORIGIN_ANY, HS_ANY },
	};

	for (int i = 0; i < 4; i++)
		if (keyed[order[i][0]][order[i][1]] >= 0)
			return keyed[order[i][0]][order[i][1]];
	return -1;
}

static int value_configure(void *instance, const struct kpg_plugin_env *env,
			   const config_setting_t *section, void **state)
{
	static const char *const keys[] = { "bands", NULL };
	int16_t keyed[ORIGIN_SLOTS][HS_SLOTS];   /* band given for exactly this pair */
	const config_setting_t *list;
	struct value_state *st;
	int n = 0;

	if (env->check_keys(env, section, keys) < 0)
		return -EINVAL;
	if (pconf_aggregate(env, section, "bands", &list) < 0)
		return -EINVAL;
	if (list != NULL) {
		n = config_setting_length(list);
		if (n > INT16_MAX) {
			env->error(env, list, "'bands': at most %d bands", INT16_MAX);
			return -EINVAL;
		}
	}

	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -ENOMEM;
	st->bands = calloc(n ? (size_t)n : 1, sizeof(*st->bands));
	if (st->bands == NULL) {
		free(st);
		return -ENOMEM;
	}
	memset(keyed, 0xff, sizeof(keyed));
	for (int i = 0; i < n; i++) {
		if (parse_band(env, config_setting_get_elem(list, (unsigned)i),
			       st->bands, (int16_t)i, keyed) < 0) {
			free(st->bands);
			free(st);
			return -EINVAL;
		}
	}
	st->n_bands = (unsigned)n;
	for (int o = 0; o < ORIGIN_SLOTS; o++)
		for (int h = 0; h < HS_SLOTS; h++)
			st->pick[o][h] = resolve(keyed, o, h);
	*state = st;
	return 0;
}

static void value_release(void *instance, void *state)
{
	struct value_state *st = state;

	if (st == NULL)
		return;
	free(st->bands);
	free(st);
}

static uint64_t price_cents(const struct kpg_hs_line *l, int round_up)
{
	unsigned __int128 v = (unsigned __int128)l->value_usd_cents * 100;
	unsigned __int128 p = v / l->carats_centi;

	/* An above-band price is shown rounded up, so the officer never reads
	 * "400.00 above 400.00" for 400.004. */
	if (round_up && p * l->carats_centi != v)
		p++;
	return p > UINT64_MAX ? UINT64_MAX : (uint64_t)p;
}

static void value_evaluate(void *instance, const void *state,
			   const struct kpg_scan_view *scan,
			   struct kpg_plugin_verdict *out)
{
	const struct value_state *st = state;
	const struct kpg_cert *c = scan->cert;
	const struct band *first_band = NULL;
	const struct kpg_hs_line *first_line = NULL;
	unsigned judged = 0, bad = 0, first_at = 0;
	uint32_t first_reason = 0;
	char price[24];
	int o;

	if (c == NULL || st->n_bands == 0)
		return;
	if (c->mixed_origin)
		o = ORIGIN_MIXED;
	else if (c->n_origins >= 1)
		o = origin_slot(c->origins[0].country);
	else
		o = ORIGIN_ANY;

	for (uint32_t i = 0; i < c->n_lines; i++) {
		const struct kpg_hs_line *l = &c->lines[i];
		int16_t bi = st->pick[o][hs_slot(l->hs_code)];
		const struct band *b;
		uint32_t reason = 0;

		if (bi < 0)
			continue;
		b = &st->bands[bi];
		judged++;
		if (l->carats_centi == 0) {
			reason = VALUE_NO_CARATS;
		} else {
			/* value/carats < min  <=>  value*100 < min*carats, with
			 * value in cents, carats in hundredths, min in cents/ct */
			unsigned __int128 v = (unsigned __int128)l->value_usd_cents * 100;

			if (v < (unsigned __int128)b->min_cents * l->carats_centi)
				reason = VALUE_BELOW_BAND;
			else if (b->max_cents != NO_CEILING &&
				 v > (unsigned __int128)b->max_cents * l->carats_centi)
				reason = VALUE_ABOVE_BAND;
		}
		if (reason == 0 && judged > 1)
			continue;
		if (reason != 0 && bad++ > 0)
			continue;
		/* Remember the first offending line, or the only judged one. */
		first_band = b;
		first_line = l;
		first_at = i + 1;
		first_reason = reason;
	}
	if (judged == 0)
		return;

	if (bad == 0) {
		out->decision = KPG_ACCEPT;
		out->reason = VALUE_IN_BAND;
		if (judged > 1)
			strcpy(out->detail, "lines within their bands");
		else
			memcpy(out->detail, first_band->said, sizeof(first_band->said));
		return;
	}

	out->decision = KPG_REFER;
	out->reason = first_reason;
	if (first_reason == VALUE_NO_CARATS) {
		say(out, "line %u declares no carats", first_at);
		return;
	}
	format_cents(price, sizeof(price),
		     price_cents(first_line, first_reason == VALUE_ABOVE_BAND));
	say(out, "line %u %u.%02u US$%s/ct %s %s%s", first_at,
	    first_line->hs_code / 100, first_line->hs_code % 100, price,
	    first_reason == VALUE_BELOW_BAND ? "below" : "above",
	    first_band->said + sizeof(WITHIN) - 1, bad > 1 ? " +more" : "");
}

KPG_PLUGIN_EXPORT = {
	.abi_version = KPG_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct kpg_plugin),
	.name = "value",
	.description = "US$ per carat per origin and HS code outside a band: refer",
	.configure = value_configure,
	.release = value_release,
	.evaluate = value_evaluate,
};
