/* zones.c — kpgate plugin "zones": compliant-zone regimes.
 *
 * Config puts participants under a zone regime for a window (the Central
 * African Republic's, 2016 to its lifting on 15 Nov 2024, is the model):
 * while one is in force, every origin of that country on a certificate must
 * name a production zone on the regime's approved list. A mixed-origin
 * certificate issued by a participant under a regime must list its origins,
 * or their zones could not be checked. Zones compare with surrounding
 * blanks ignored and ASCII letters case-folded ("Berberati" = "BERBERATI").
 * A participant may have several regimes (e.g. one zone, later eight), but
 * never two in force on the same day.
 *
 * Reason codes (check "zones"):
 *   1400 zone_approved      accept: every origin under a regime in force
 *                           names an approved zone
 *   1401 zone_missing       reject: such an origin names no zone, or a mixed-
 *                           origin certificate from a participant under a
 *                           regime lists no origin
 *   1402 zone_not_approved  reject: the zone is not on the regime's list
 * No origin or issuer under a regime in force: no verdict (NONE).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kpgate/plugin.h>

#include "policy_conf.h"

enum {
	ZONE_APPROVED = 1400,
	ZONE_MISSING = 1401,
	ZONE_NOT_APPROVED = 1402,
};

/* Bytes of a zone name a detail shows: the longest detail, "CF zone
 * \"...\" not approved (zone regime from 2016-01-01)", stays within
 * KPG_DETAIL_MAX - 1. */
#define ZONES_DETAIL_ZONE 40u

struct zones_name {
	const char *p;                   /* case-folded, trimmed, owned */
	uint32_t len;
};

struct zones_regime {
	uint32_t from, until;            /* YYYYMMDD, inclusive */
	uint16_t cc;                     /* pconf_cc_index of the participant */
	uint32_t n_zones;
	struct zones_name *zones;        /* sorted by zones_cmp, no duplicates */
};

struct zones_state {
	uint32_t n;
	struct zones_regime *regimes;    /* by participant, then from */
	uint32_t first[PCONF_CC_COUNT + 1]; /* participant c: first[c] .. first[c+1]-1 */
};

/* ---- comparing zones (both threads) ------------------------------------- */

static unsigned char zones_fold(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

static bool zones_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* a may be raw (folded here), b is folded; the order the lists are sorted in. */
static int zones_cmp(const char *a, uint32_t an, const char *b, uint32_t bn)
{
	uint32_t n = an < bn ? an : bn;

	for (uint32_t i = 0; i < n; i++) {
		unsigned char x = zones_fold((unsigned char)a[i]);
		unsigned char y = (unsigned char)b[i];

		if (x != y)
			return x < y ? -1 : 1;
	}
	return an < bn ? -1 : an > bn;
}

static void zones_trim(const char **p, uint32_t *n)
{
	while (*n > 0 && zones_blank((*p)[0])) {
		(*p)++;
		(*n)--;
	}
	while (*n > 0 && zones_blank((*p)[*n - 1]))
		(*n)--;
}

/* ---- configure (control thread) ----------------------------------------- */

struct zones_build {
	const struct kpg_plugin_env *env;
	struct zones_state *s;
	uint32_t cap;                    /* regimes allocated */
	struct zones_regime *r;          /* the regime being read */
	uint32_t zcap;                   /* its zones allocated */
};

/* Adds one zone to the regime being read; NULL or why not. */
static const char *zones_add(struct zones_build *b, const char *text)
{
	struct zones_regime *r = b->r;
	uint32_t n = (uint32_t)strlen(text);
	const char *why;
	char *copy;

	zones_trim(&text, &n);
	if ((why = pconf_text_invalid(text, n)) != NULL)
		return why;
	if (r->n_zones == b->zcap) {
		uint32_t cap = b->zcap ? b->zcap * 2 : 16;
		struct zones_name *z = realloc(r->zones, cap * sizeof(*z));

		if (z == NULL)
			return "out of memory";
		r->zones = z;
		b->zcap = cap;
	}
	copy = malloc(n + 1);
	if (copy == NULL)
		return "out of memory";
	for (uint32_t i = 0; i < n; i++)
		copy[i] = (char)zones_fold((unsigned char)text[i]);
	copy[n] = '\0';
	r->zones[r->n_zones++] = (struct zones_name){ copy, n };
	return NULL;
}

static int zones_file_line(void *arg, const char *text, unsigned lineno,
			   char *err, size_t errlen)
{
	char line[PCONF_TEXT_MAX + 2];
	const char *why;

	(void)lineno;
	if (strlen(text) >= sizeof(line)) {
		snprintf(err, errlen, "zone: longer than %u bytes", PCONF_TEXT_MAX);
		return -EINVAL;
	}
	strcpy(line, text);
	why = zones_add(arg, pconf_cut_comment(line));
	if (why) {
		snprintf(err, errlen, "zone: %s", why);
		return -EINVAL;
	}
	return 0;
}

static int zones_name_cmp(const void *a, const void *b)
{
	const struct zones_name *x = a, *y = b;

	return zones_cmp(x->p, x->len, y->p, y->len);
}

static void zones_sort(struct zones_regime *r)
{
	uint32_t k = 0;

	qsort(r->zones, r->n_zones, sizeof(*r->zones), zones_name_cmp);
	for (uint32_t i = 0; i < r->n_zones; i++) {
		if (k && zones_name_cmp(&r->zones[k - 1], &r->zones[i]) == 0)
			free((char *)r->zones[i].p);     /* listed twice */
		else
			r->zones[k++] = r->zones[i];
	}
	r->n_zones = k;
}

static int zones_list(struct zones_build *b, const config_setting_t *g)
{
	const struct kpg_plugin_env *env = b->env;
	const config_setting_t *list;
	const char *v, *why;
	int rc;

	if (pconf_aggregate(env, g, "zones", &list) < 0)
		return -EINVAL;
	for (int i = 0; list && i < config_setting_length(list); i++) {
		if (pconf_elem_string(env, list, (unsigned)i, &v) < 0)
			return -EINVAL;
		if ((why = zones_add(b, v)) != NULL) {
			env->error(env, config_setting_get_elem(list, (unsigned)i),
				   "zone \"%.64s\": %s", v, why);
			return -EINVAL;
		}
	}
	if (pconf_string(env, g, "zones_file", false, &v) < 0)
		return -EINVAL;
	if (v && v[0]) {
		rc = env->read_lines(env, config_setting_get_member(g, "zones_file"), v,
				     zones_file_line, b);
		if (rc < 0)
			return rc;
	}
	if (b->r->n_zones == 0) {
		/* A regime approving nothing bans the participant: that is a
		 * suspension, which the trust list says, not a zone list. */
		env->error(env, g, "regime with no zone: give 'zones' or a 'zones_file' "
			   "listing at least one");
		return -EINVAL;
	}
	zones_sort(b->r);
	return 0;
}

static struct zones_regime *zones_new_regime(struct zones_build *b)
{
	struct zones_state *s = b->s;

	if (s->n == b->cap) {
		uint32_t cap = b->cap ? b->cap * 2 : 8;
		struct zones_regime *r = realloc(s->regimes, cap * sizeof(*r));

		if (r == NULL)
			return NULL;
		s->regimes = r;
		b->cap = cap;
	}
	b->zcap = 0;
	return memset(&s->regimes[s->n++], 0, sizeof(struct zones_regime));
}

static void zones_date(char out[11], uint32_t ymd)
{
	snprintf(out, 11, "%04u-%02u-%02u", ymd / 10000 % 10000, ymd / 100 % 100,
		 ymd % 100);
}

static int zones_regime(struct zones_build *b, const config_setting_t *g)
{
	static const char *const keys[] = { "participant", "from", "until", "zones",
					     "zones_file", NULL };
	const struct kpg_plugin_env *env = b->env;
	struct zones_regime *r;
	char cc[3], a[11], z[11];

	if (!config_setting_is_group(g)) {
		env->error(env, g, "a regime must be a group: { participant = ...; }");
		return -EINVAL;
	}
	if (env->check_keys(env, g, keys) < 0)
		return -EINVAL;
	r = b->r = zones_new_regime(b);
	if (r == NULL) {
		env->error(env, g, "out of memory");
		return -ENOMEM;
	}
	if (pconf_country(env, g, "participant", cc) < 0 ||
	    pconf_date(env, g, "from", true, 0, &r->from) < 0 ||
	    pconf_date(env, g, "until", false, PCONF_DATE_OPEN, &r->until) < 0)
		return -EINVAL;
	if (r->until < r->from) {
		env->error(env, config_setting_get_member(g, "until"),
			   "'until' is before 'from'");
		return -EINVAL;
	}
	r->cc = (uint16_t)pconf_cc_index(cc);
	for (struct zones_regime *o = b->s->regimes; o < r; o++)
		if (o->cc == r->cc && o->from <= r->until && r->from <= o->until) {
			zones_date(a, o->from);
			zones_date(z, o->until);
			env->error(env, g, "%s is already under a regime from %s to %s: "
				   "windows of one participant must not overlap", cc, a, z);
			return -EINVAL;
		}
	return zones_list(b, g);
}

static int zones_regime_cmp(const void *a, const void *b)
{
	const struct zones_regime *x = a, *y = b;

	if (x->cc != y->cc)
		return x->cc < y->cc ? -1 : 1;
	return x->from < y->from ? -1 : x->from > y->from;
}

static void zones_release(void *instance, void *state)
{
	struct zones_state *s = state;

	for (uint32_t i = 0; s && i < s->n; i++) {
		for (uint32_t k = 0; k < s->regimes[i].n_zones; k++)
			free((char *)s->regimes[i].zones[k].p);
		free(s->regimes[i].zones);
	}
	if (s)
		free(s->regimes);
	free(s);
}

static int zones_configure(void *instance, const struct kpg_plugin_env *env,
			   const config_setting_t *sec, void **state)
{
	static const char *const keys[] = { "regimes", NULL };
	struct zones_build b = { .env = env };
	const config_setting_t *list;
	uint32_t r = 0;

	if (env->check_keys(env, sec, keys) < 0 ||
	    pconf_aggregate(env, sec, "regimes", &list) < 0)
		return -EINVAL;
	b.s = calloc(1, sizeof(*b.s));
	if (b.s == NULL)
		return -ENOMEM;
	for (int i = 0; list && i < config_setting_length(list); i++) {
		int rc = zones_regime(&b, config_setting_get_elem(list, (unsigned)i));

		if (rc < 0) {
			zones_release(instance, b.s);
			return rc;
		}
	}
	if (b.s->n)
		qsort(b.s->regimes, b.s->n, sizeof(*b.s->regimes), zones_regime_cmp);
	for (uint32_t c = 0; c <= PCONF_CC_COUNT; c++) {
		while (r < b.s->n && b.s->regimes[r].cc < c)
			r++;
		b.s->first[c] = r;
	}
	*state = b.s;
	return 0;
}

/* ---- evaluate (workers) ------------------------------------------------- */

static const struct zones_regime *zones_in_force(const struct zones_state *s,
						 const char cc[2], uint32_t today)
{
	int i = pconf_cc_index(cc);

	if (i < 0)
		return NULL;
	for (uint32_t k = s->first[i]; k < s->first[i + 1]; k++)
		if (s->regimes[k].from <= today && today <= s->regimes[k].until)
			return &s->regimes[k];
	return NULL;
}

static bool zones_approved(const struct zones_regime *r, const char *p, uint32_t n)
{
	uint32_t lo = 0, hi = r->n_zones;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = zones_cmp(p, n, r->zones[mid].p, r->zones[mid].len);

		if (c == 0)
			return true;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}

static void zones_evaluate(void *instance, const void *state,
			   const struct kpg_scan_view *scan,
			   struct kpg_plugin_verdict *out)
{
	const struct zones_state *s = state;
	const struct kpg_cert *c = scan->cert;
	const struct zones_regime *r;
	const struct kpg_origin *ok = NULL;
	char from[11];

	for (uint32_t i = 0; i < c->n_origins; i++) {
		const struct kpg_origin *o = &c->origins[i];
		const char *p = o->zone.p;
		uint32_t n = o->zone.len;

		if ((r = zones_in_force(s, o->country, scan->today)) == NULL)
			continue;
		zones_trim(&p, &n);
		if (n == 0) {
			zones_date(from, r->from);
			out->decision = KPG_REJECT;
			out->reason = ZONE_MISSING;
			snprintf(out->detail, sizeof(out->detail),
				 "%.2s origin names no production zone (zone regime from %s)",
				 o->country, from);
			return;
		}
		if (!zones_approved(r, p, n)) {
			zones_date(from, r->from);
			out->decision = KPG_REJECT;
			out->reason = ZONE_NOT_APPROVED;
			snprintf(out->detail, sizeof(out->detail),
				 "%.2s zone \"%.*s\" not approved (zone regime from %s)",
				 o->country, (int)pconf_utf8_cut(p, n, ZONES_DETAIL_ZONE),
				 p, from);
			return;
		}
		if (ok == NULL)
			ok = o;
	}
	if (c->mixed_origin && c->n_origins == 0 &&
	    (r = zones_in_force(s, c->issuing_participant, scan->today)) != NULL) {
		zones_date(from, r->from);
		out->decision = KPG_REJECT;
		out->reason = ZONE_MISSING;
		snprintf(out->detail, sizeof(out->detail),
			 "mixed origin from %.2s lists no origin, zones unknown "
			 "(zone regime from %s)", c->issuing_participant, from);
		return;
	}
	if (ok) {
		/* every certificate of a regime's origin: copied, no snprintf */
		const char *p = ok->zone.p;
		uint32_t n = ok->zone.len;
		char *d = out->detail;

		zones_trim(&p, &n);
		n = (uint32_t)pconf_utf8_cut(p, n, ZONES_DETAIL_ZONE);
		out->decision = KPG_ACCEPT;
		out->reason = ZONE_APPROVED;
		memcpy(d, ok->country, 2);
		memcpy(d + 2, " zone ", 6);
		memcpy(d + 8, p, n);
		memcpy(d + 8 + n, " approved", sizeof(" approved"));
	}
}

KPG_PLUGIN_EXPORT = {
	.abi_version = KPG_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct kpg_plugin),
	.name = "zones",
	.description = "origins of a participant under a compliant-zone regime: "
		       "approved production zones only",
	.configure = zones_configure,
	.release = zones_release,
	.evaluate = zones_evaluate,
};
