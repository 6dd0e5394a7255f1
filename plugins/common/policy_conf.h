/* policy_conf.h — config values the KP rule plugins (origin, zones,
 * sanctions) read alike: dates, HS codes, carats, country codes, decisions
 * and list-file lines, parsed strictly, each error reported at its setting
 * through env->error. Compiled into each of those plugins (hidden symbols);
 * runs on the control thread only, from configure. */
#ifndef KPG_POLICY_CONF_H
#define KPG_POLICY_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kpgate/plugin.h>

#define PCONF_DATE_OPEN  99991231u      /* an empty "until": no end date */
#define PCONF_CC_COUNT   (26u * 26u)    /* two-letter codes, see pconf_cc_index */
#define PCONF_TEXT_MAX   255u           /* a zone, name or identifier, bytes */

/* Pure parsers: 0, or -EINVAL when s is not exactly the format. */
int pconf_parse_date(const char *s, uint32_t *yyyymmdd);   /* "2024-01-01" */
int pconf_parse_hs(const char *s, uint32_t *hs);           /* "7102.31" -> 710231 */
int pconf_parse_centi(const char *s, uint64_t *centi);     /* "1.05" -> 105 */
int pconf_parse_country(const char *s, char cc[3]);        /* "RU" */
int pconf_parse_decision(const char *s, enum kpg_decision *d); /* "reject" | "refer" */

/* 0..PCONF_CC_COUNT-1 for two letters A-Z, else -1; worker-safe. */
static inline int pconf_cc_index(const char cc[2])
{
	unsigned a = (unsigned)cc[0] - 'A', b = (unsigned)cc[1] - 'A';

	return a < 26 && b < 26 ? (int)(a * 26 + b) : -1;
}

/* One bit per HS code of the scheme (0 for any other code); worker-safe. */
static inline unsigned pconf_hs_bit(uint32_t hs)
{
	switch (hs) {
	case KPG_HS_7102_10: return 1u;
	case KPG_HS_7102_21: return 2u;
	case KPG_HS_7102_31: return 4u;
	default: return 0u;
	}
}

/* The longest prefix of p[0..n) of at most max bytes that ends on a UTF-8
 * character boundary, for details cut to fit; worker-safe. */
static inline size_t pconf_utf8_cut(const char *p, size_t n, size_t max)
{
	if (n <= max)
		return n;
	while (max > 0 && ((unsigned char)p[max] & 0xC0) == 0x80)
		max--;
	return max;
}

/* "7102.10" for the lowest bit set in mask; worker-safe. */
const char *pconf_hs_name(unsigned mask);

/* Readers of a group's member key. Absent and not required: 0 and the
 * default (NULL, dflt). Wrong type or bad value: env->error at the member,
 * -EINVAL. pconf_date also takes "" as absent, so `until = "";` is open. */
int pconf_string(const struct kpg_plugin_env *env, const config_setting_t *group,
		 const char *key, bool required, const char **out);
int pconf_date(const struct kpg_plugin_env *env, const config_setting_t *group,
	       const char *key, bool required, uint32_t dflt, uint32_t *out);
int pconf_country(const struct kpg_plugin_env *env, const config_setting_t *group,
		  const char *key, char cc[3]);
int pconf_decision(const struct kpg_plugin_env *env, const config_setting_t *group,
		   const char *key, enum kpg_decision dflt, enum kpg_decision *out);
/* A member that must be an array or list (of scalars or groups). */
int pconf_aggregate(const struct kpg_plugin_env *env, const config_setting_t *group,
		    const char *key, const config_setting_t **out);
/* An element of an array or list that must be a string. */
int pconf_elem_string(const struct kpg_plugin_env *env, const config_setting_t *list,
		      unsigned i, const char **out);

/* A zone, name or identifier: 1 to PCONF_TEXT_MAX bytes, no control
 * character. Returns NULL or why not. */
const char *pconf_text_invalid(const char *s, size_t n);

/* List-file lines: cuts a trailing comment (a '#' after a blank) and the
 * blanks before it, in place; returns s. */
char *pconf_cut_comment(char *s);

/* Splits off the next blank-separated word of *s, in place: NULL at the end. */
char *pconf_word(char **s);

#endif
