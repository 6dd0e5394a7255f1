/* origin.c — kpgate plugin "origin": embargoed origins and mixed origin.
 *
 * Embargo rules (origin country, HS codes, effective window, reference)
 * come from config and from a list file. A certificate is caught when any of
 * its origins and any of its lines' HS codes match a rule in force on the
 * gateway's date. Mixed-origin certificates are allowed, refused, must list
 * every mining country, or need a traceability reference from a carat
 * threshold, as configured from an effective date (before it: allowed).
 * Listed origins of a mixed certificate always meet the embargo rules.
 *
 * Reason codes (check "origin"):
 *   1300 origin_clear          accept: no rule caught the certificate
 *   1301 origin_embargoed      reject (or refer, per rule): origin + HS code
 *                              under an embargo rule in force
 *   1302 mixed_origin_refused  reject: mixed origin refused outright
 *   1303 mixed_origin_unlisted reject: mixed origin naming no mining country
 *   1304 traceability_missing  refer or reject (config): mixed origin of at
 *                              least the threshold carats, no traceability ref
 * When an embargo and a mixed-origin rule both apply, the more severe wins;
 * on a tie, the embargo.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kpgate/plugin.h>

#include "policy_conf.h"

enum {
	ORIGIN_CLEAR = 1300,
	ORIGIN_EMBARGOED = 1301,
	ORIGIN_MIXED_REFUSED = 1302,
	ORIGIN_MIXED_UNLISTED = 1303,
	ORIGIN_TRACEABILITY_MISSING = 1304,
};

enum origin_mixed {
	MIXED_ALLOW,
	MIXED_REFUSE,
	MIXED_LISTED,
	MIXED_TRACEABILITY,
};

/* What the detail has room for after "RU 7102.31 embargoed from
 * 2024-01-01 (", with the ")", in KPG_DETAIL_MAX - 1 bytes. */
#define ORIGIN_REF_MAX 57u

struct origin_rule {
	uint32_t from, until;            /* YYYYMMDD, both inclusive */
	uint16_t cc;                     /* pconf_cc_index of the origin */
	uint8_t hs;                      /* pconf_hs_bit mask */
	uint8_t decision;                /* KPG_REJECT or KPG_REFER */
	char reference[ORIGIN_REF_MAX];  /* "" when none */
};

struct origin_state {
	uint32_t n_rules;
	struct origin_rule *rules;       /* by country, then from */
	uint32_t first[PCONF_CC_COUNT + 1]; /* country c: first[c] .. first[c+1]-1 */
	enum origin_mixed mixed;
	uint32_t mixed_from;             /* 0: the policy was always in force */
	uint64_t trace_min_centi;
	enum kpg_decision trace_missing;
};

/* ---- configure (control thread) ----------------------------------------- */

struct origin_build {
	const struct kpg_plugin_env *env;
	struct origin_state *s;
	uint32_t cap;
};

static struct origin_rule *origin_new_rule(struct origin_build *b)
{
	struct origin_state *s = b->s;

	if (s->n_rules == b->cap) {
		uint32_t cap = b->cap ? b->cap * 2 : 16;
		struct origin_rule *r = realloc(s->rules, cap * sizeof(*r));

		if (r == NULL)
			return NULL;
		s->rules = r;
		b->cap = cap;
	}
	return memset(&s->rules[s->n_rules++], 0, sizeof(struct origin_rule));
}

/* References longer than the detail's room are cut, on a character. */
static void origin_set_reference(struct origin_rule *r, const char *ref)
{
	size_t n;

	if (ref == NULL)
		ref = "";
	n = pconf_utf8_cut(ref, strlen(ref), sizeof(r->reference) - 1);
	memcpy(r->reference, ref, n);
	r->reference[n] = '\0';
}

/* hs = [ "7102.10", ... ]: every code of the scheme it names. */
static int origin_rule_hs(struct origin_build *b, const config_setting_t *g,
			  struct origin_rule *r)
{
	const config_setting_t *hs;
	const char *v;
	uint32_t code;
	int n;

	if (pconf_aggregate(b->env, g, "hs", &hs) < 0)
		return -EINVAL;
	if (hs == NULL || (n = config_setting_length(hs)) == 0) {
		b->env->error(b->env, hs ? hs : g,
			      "'hs' is required: one or more of 7102.10, 7102.21, 7102.31");
		return -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		if (pconf_elem_string(b->env, hs, (unsigned)i, &v) < 0)
			return -EINVAL;
		if (pconf_parse_hs(v, &code) < 0) {
			b->env->error(b->env, config_setting_get_elem(hs, (unsigned)i),
				      "HS code \"%s\": must be 7102.10, 7102.21 or 7102.31", v);
			return -EINVAL;
		}
		r->hs |= (uint8_t)pconf_hs_bit(code);
	}
	return 0;
}

static int origin_rule_group(struct origin_build *b, const config_setting_t *g)
{
	static const char *const keys[] = { "origin", "hs", "from", "until",
					     "reference", "decision", NULL };
	const struct kpg_plugin_env *env = b->env;
	struct origin_rule *r;
	enum kpg_decision d;
	const char *ref;
	char cc[3];

	if (!config_setting_is_group(g)) {
		env->error(env, g, "an embargo rule must be a group: { origin = ...; }");
		return -EINVAL;
	}
	if (env->check_keys(env, g, keys) < 0)
		return -EINVAL;
	r = origin_new_rule(b);
	if (r == NULL) {
		env->error(env, g, "out of memory");
		return -ENOMEM;
	}
	if (pconf_country(env, g, "origin", cc) < 0 ||
	    origin_rule_hs(b, g, r) < 0 ||
	    pconf_date(env, g, "from", true, 0, &r->from) < 0 ||
	    pconf_date(env, g, "until", false, PCONF_DATE_OPEN, &r->until) < 0 ||
	    pconf_string(env, g, "reference", false, &ref) < 0 ||
	    pconf_decision(env, g, "decision", KPG_REJECT, &d) < 0)
		return -EINVAL;
	if (r->until < r->from) {
		env->error(env, config_setting_get_member(g, "until"),
			   "'until' is before 'from'");
		return -EINVAL;
	}
	r->cc = (uint16_t)pconf_cc_index(cc);
	r->decision = (uint8_t)d;
	origin_set_reference(r, ref);
	return 0;
}

/* embargo_file line: CC HS[,HS...] FROM [UNTIL|-] [reference ...] */
static int origin_file_line(void *arg, const char *text, unsigned lineno,
			    char *err, size_t errlen)
{
	struct origin_build *b = arg;
	char line[512], *p = line, *cc, *hs, *from, *until, *code;
	struct origin_rule *r;
	uint32_t v;
	size_t n;

	if (strlen(text) >= sizeof(line)) {
		snprintf(err, errlen, "line longer than %zu bytes", sizeof(line) - 1);
		return -EINVAL;
	}
	strcpy(line, text);
	pconf_cut_comment(line);
	cc = pconf_word(&p);
	hs = pconf_word(&p);
	from = pconf_word(&p);
	if (cc == NULL || hs == NULL || from == NULL) {
		snprintf(err, errlen, "expected: CC HS[,HS...] FROM [UNTIL|-] [reference]");
		return -EINVAL;
	}
	r = origin_new_rule(b);
	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (strlen(cc) != 2 || pconf_cc_index(cc) < 0) {
		snprintf(err, errlen, "origin \"%.16s\": not a two-letter ISO 3166 code", cc);
		return -EINVAL;
	}
	r->cc = (uint16_t)pconf_cc_index(cc);
	while ((code = strsep(&hs, ",")) != NULL) {
		if (pconf_parse_hs(code, &v) < 0) {
			snprintf(err, errlen, "HS code \"%.16s\": must be 7102.10, 7102.21 or 7102.31",
				 code);
			return -EINVAL;
		}
		r->hs |= (uint8_t)pconf_hs_bit(v);
	}
	if (pconf_parse_date(from, &r->from) < 0) {
		snprintf(err, errlen, "from \"%.16s\": not a date YYYY-MM-DD", from);
		return -EINVAL;
	}
	r->until = PCONF_DATE_OPEN;
	/* The fourth word is an end date only when it looks like one, so a
	 * rule with no end may go straight on to its reference. */
	until = p + strspn(p, " \t");
	n = strcspn(until, " \t");
	if (n == 1 && until[0] == '-') {
		p = until + 1;
	} else if (n == 10 && until[0] >= '0' && until[0] <= '9' && until[4] == '-') {
		until = pconf_word(&p);
		if (pconf_parse_date(until, &r->until) < 0) {
			snprintf(err, errlen, "until \"%.16s\": not a date YYYY-MM-DD", until);
			return -EINVAL;
		}
		if (r->until < r->from) {
			snprintf(err, errlen, "until %s is before from %s", until, from);
			return -EINVAL;
		}
	}
	while (*p == ' ' || *p == '\t')
		p++;
	r->decision = KPG_REJECT;
	origin_set_reference(r, p);
	(void)lineno;
	return 0;
}

static int origin_embargo(struct origin_build *b, const config_setting_t *sec)
{
	const config_setting_t *list;
	const char *file;

	if (pconf_aggregate(b->env, sec, "embargo", &list) < 0)
		return -EINVAL;
	for (int i = 0; list && i < config_setting_length(list); i++)
		if (origin_rule_group(b, config_setting_get_elem(list, (unsigned)i)) < 0)
			return -EINVAL;
	if (pconf_string(b->env, sec, "embargo_file", false, &file) < 0)
		return -EINVAL;
	if (file == NULL)
		return 0;
	return b->env->read_lines(b->env, config_setting_get_member(sec, "embargo_file"),
				  file, origin_file_line, b);
}

static int origin_mixed(const struct kpg_plugin_env *env,
			const config_setting_t *sec, struct origin_state *s)
{
	static const char *const names[] = { "allow", "refuse", "listed",
					     "traceability" };
	const config_setting_t *min = config_setting_get_member(sec,
								"traceability_min_carats");
	const config_setting_t *miss = config_setting_get_member(sec,
								 "traceability_missing");
	const char *v;
	unsigned i;

	if (pconf_string(env, sec, "mixed_origin", false, &v) < 0)
		return -EINVAL;
	for (i = 0; v && i < 4 && strcmp(v, names[i]) != 0; i++)
		;
	if (i == 4) {
		env->error(env, config_setting_get_member(sec, "mixed_origin"),
			   "mixed_origin = \"%s\": must be allow, refuse, listed or traceability",
			   v);
		return -EINVAL;
	}
	s->mixed = v ? (enum origin_mixed)i : MIXED_ALLOW;
	if (pconf_date(env, sec, "mixed_origin_from", false, 0, &s->mixed_from) < 0)
		return -EINVAL;
	if (s->mixed_from && s->mixed == MIXED_ALLOW) {
		env->error(env, config_setting_get_member(sec, "mixed_origin_from"),
			   "mixed_origin_from needs a mixed_origin policy other than \"allow\"");
		return -EINVAL;
	}
	if (s->mixed != MIXED_TRACEABILITY) {
		if (min || miss) {
			env->error(env, min ? min : miss,
				   "'%s' applies only with mixed_origin = \"traceability\"",
				   config_setting_name(min ? min : miss));
			return -EINVAL;
		}
		return 0;
	}
	if (min == NULL) {
		env->error(env, config_setting_get_member(sec, "mixed_origin"),
			   "mixed_origin = \"traceability\" needs traceability_min_carats");
		return -EINVAL;
	}
	if (pconf_string(env, sec, "traceability_min_carats", true, &v) < 0)
		return -EINVAL;
	if (pconf_parse_centi(v, &s->trace_min_centi) < 0) {
		env->error(env, min, "traceability_min_carats = \"%s\": "
			   "not carats like \"0.50\" (at most two decimals)", v);
		return -EINVAL;
	}
	return pconf_decision(env, sec, "traceability_missing", KPG_REFER,
			      &s->trace_missing);
}

static int origin_rule_cmp(const void *a, const void *b)
{
	const struct origin_rule *x = a, *y = b;

	if (x->cc != y->cc)
		return x->cc < y->cc ? -1 : 1;
	return x->from < y->from ? -1 : x->from > y->from;
}

/* Rules grouped by origin, so evaluate reads only the origin's rules. */
static void origin_index(struct origin_state *s)
{
	uint32_t r = 0;

	if (s->n_rules)
		qsort(s->rules, s->n_rules, sizeof(*s->rules), origin_rule_cmp);
	for (uint32_t c = 0; c <= PCONF_CC_COUNT; c++) {
		while (r < s->n_rules && s->rules[r].cc < c)
			r++;
		s->first[c] = r;
	}
}

static void origin_release(void *instance, void *state)
{
	struct origin_state *s = state;

	if (s)
		free(s->rules);
	free(s);
}

static int origin_configure(void *instance, const struct kpg_plugin_env *env,
			    const config_setting_t *sec, void **state)
{
	static const char *const keys[] = {
		"embargo", "embargo_file", "mixed_origin", "mixed_origin_from",
		"traceability_min_carats", "traceability_missing", NULL
	};
	struct origin_build b = { .env = env };
	int rc;

	if (env->check_keys(env, sec, keys) < 0)
		return -EINVAL;
	b.s = calloc(1, sizeof(*b.s));
	if (b.s == NULL)
		return -ENOMEM;
	rc = origin_embargo(&b, sec);
	if (rc == 0)
		rc = origin_mixed(env, sec, b.s);
	if (rc < 0) {
		origin_release(instance, b.s);
		return rc;
	}
	origin_index(b.s);
	*state = b.s;
	return 0;
}

/* ---- evaluate (workers) ------------------------------------------------- */

static void origin_date(char out[11], uint32_t ymd)
{
	snprintf(out, 11, "%04u-%02u-%02u", ymd / 10000 % 10000, ymd / 100 % 100,
		 ymd % 100);
}

static bool origin_blank(const struct kpg_str *s)
{
	for (uint32_t i = 0; i < s->len; i++)
		if (s->p[i] != ' ' && s->p[i] != '\t')
			return false;
	return true;
}

/* The most severe rule in force that catches one of the certificate's
 * origins on one of its HS codes; the earliest such rule on a tie. */
static const struct origin_rule *origin_embargo_hit(const struct origin_state *s,
						    const struct kpg_cert *c,
						    uint32_t today, unsigned *hs)
{
	const struct origin_rule *hit = NULL;
	unsigned mask = 0;

	for (uint32_t i = 0; i < c->n_lines; i++)
		mask |= pconf_hs_bit(c->lines[i].hs_code);
	for (uint32_t o = 0; o < c->n_origins; o++) {
		int cc = pconf_cc_index(c->origins[o].country);

		if (cc < 0)
			continue;
		for (uint32_t i = s->first[cc]; i < s->first[cc + 1]; i++) {
			const struct origin_rule *r = &s->rules[i];

			if (today < r->from || today > r->until || !(r->hs & mask))
				continue;
			if (hit == NULL || r->decision > hit->decision) {
				hit = r;
				*hs = r->hs & mask;
			}
		}
	}
	return hit;
}

/* The mixed-origin policy's decision for c (NONE: it has nothing to say). */
static enum kpg_decision origin_mixed_check(const struct origin_state *s,
					    const struct kpg_cert *c, uint32_t today,
					    uint32_t *reason)
{
	if (!c->mixed_origin || (s->mixed_from && today < s->mixed_from))
		return KPG_DECISION_NONE;
	switch (s->mixed) {
	case MIXED_REFUSE:
		*reason = ORIGIN_MIXED_REFUSED;
		return KPG_REJECT;
	case MIXED_LISTED:
		*reason = ORIGIN_MIXED_UNLISTED;
		return c->n_origins == 0 ? KPG_REJECT : KPG_DECISION_NONE;
	case MIXED_TRACEABILITY:
		*reason = ORIGIN_TRACEABILITY_MISSING;
		if (c->total_carats_centi < s->trace_min_centi ||
		    !origin_blank(&c->traceability_ref))
			return KPG_DECISION_NONE;
		return s->trace_missing;
	default:
		return KPG_DECISION_NONE;
	}
}

static void origin_mixed_detail(const struct origin_state *s,
				const struct kpg_cert *c, uint32_t reason,
				char *out, size_t cap)
{
	char from[11] = "";

	if (s->mixed_from)
		origin_date(from, s->mixed_from);
	switch (reason) {
	case ORIGIN_MIXED_REFUSED:
		snprintf(out, cap, "mixed origin refused%s%s", from[0] ? " from " : "",
			 from);
		break;
	case ORIGIN_MIXED_UNLISTED:
		snprintf(out, cap, "mixed origin must list every mining country%s%s",
			 from[0] ? "; from " : "", from);
		break;
	default:
		snprintf(out, cap, "mixed origin %llu.%02u ct, traceability ref needed from "
			 "%llu.%02u ct",
			 (unsigned long long)(c->total_carats_centi / 100),
			 (unsigned)(c->total_carats_centi % 100),
			 (unsigned long long)(s->trace_min_centi / 100),
			 (unsigned)(s->trace_min_centi % 100));
		break;
	}
}

static void origin_evaluate(void *instance, const void *state,
			    const struct kpg_scan_view *scan,
			    struct kpg_plugin_verdict *out)
{
	const struct origin_state *s = state;
	const struct kpg_cert *c = scan->cert;
	const struct origin_rule *hit;
	enum kpg_decision mixed;
	uint32_t mixed_reason = 0;
	unsigned hs = 0;
	char from[11];

	hit = origin_embargo_hit(s, c, scan->today, &hs);
	mixed = origin_mixed_check(s, c, scan->today, &mixed_reason);
	if (hit && (enum kpg_decision)hit->decision >= mixed) {
		origin_date(from, hit->from);
		out->decision = (enum kpg_decision)hit->decision;
		out->reason = ORIGIN_EMBARGOED;
		snprintf(out->detail, sizeof(out->detail), "%c%c %s embargoed from %s%s%s%s",
			 'A' + hit->cc / 26, 'A' + hit->cc % 26, pconf_hs_name(hs), from,
			 hit->reference[0] ? " (" : "", hit->reference,
			 hit->reference[0] ? ")" : "");
	} else if (mixed != KPG_DECISION_NONE) {
		out->decision = mixed;
		out->reason = mixed_reason;
		origin_mixed_detail(s, c, mixed_reason, out->detail, sizeof(out->detail));
	} else {
		/* nearly every request: words copied, no snprintf */
		static const char mixed_words[] = "mixed origin: no rule applies";
		static const char words[] = "origin ??: no rule applies";

		out->decision = KPG_ACCEPT;
		out->reason = ORIGIN_CLEAR;
		if (c->mixed_origin || c->n_origins == 0) {
			memcpy(out->detail, mixed_words, sizeof(mixed_words));
		} else {
			memcpy(out->detail, words, sizeof(words));
			memcpy(out->detail + 7, c->origins[0].country, 2);
		}
	}
}

KPG_PLUGIN_EXPORT = {
	.abi_version = KPG_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct kpg_plugin),
	.name = "origin",
	.description = "embargoed origins by HS code and date; mixed-origin policy",
	.configure = origin_configure,
	.release = origin_release,
	.evaluate = origin_evaluate,
};
