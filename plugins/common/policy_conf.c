/* policy_conf.c — strict parsers and config readers shared by the KP rule
 * plugins; see policy_conf.h. Own parsers, not strtoul/strptime: those
 * accept signs, blanks and locale forms that a policy file must refuse. */
#include <errno.h>
#include <string.h>

#include "policy_conf.h"

static bool pconf_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static uint32_t pconf_number(const char *s, size_t n)
{
	uint32_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v * 10 + (uint32_t)(s[i] - '0');
	return v;
}

int pconf_parse_date(const char *s, uint32_t *ymd)
{
	static const uint8_t mdays[12] = { 31, 29, 31, 30, 31, 30,
					   31, 31, 30, 31, 30, 31 };
	uint32_t y, m, d;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
	    !pconf_digits(s, 4) || !pconf_digits(s + 5, 2) ||
	    !pconf_digits(s + 8, 2))
		return -EINVAL;
	y = pconf_number(s, 4);
	m = pconf_number(s + 5, 2);
	d = pconf_number(s + 8, 2);
	if (y < 1900 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return -EINVAL;
	if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return -EINVAL;
	*ymd = y * 10000 + m * 100 + d;
	return 0;
}

int pconf_parse_hs(const char *s, uint32_t *hs)
{
	static const char *const names[] = { "7102.10", "7102.21", "7102.31" };
	static const uint32_t codes[] = { KPG_HS_7102_10, KPG_HS_7102_21,
					  KPG_HS_7102_31 };

	for (unsigned i = 0; i < 3; i++)
		if (strcmp(s, names[i]) == 0) {
			*hs = codes[i];
			return 0;
		}
	return -EINVAL;
}

const char *pconf_hs_name(unsigned mask)
{
	if (mask & 1u)
		return "7102.10";
	if (mask & 2u)
		return "7102.21";
	return mask & 4u ? "7102.31" : "?";
}

/* Whole carats, then at most two decimals: "3", "0.5", "1.00". The cap
 * keeps every value far from overflow when summed with line carats. */
int pconf_parse_centi(const char *s, uint64_t *centi)
{
	const char *dot = strchr(s, '.');
	size_t whole = dot ? (size_t)(dot - s) : strlen(s);
	size_t frac = dot ? strlen(dot + 1) : 0;
	uint64_t v = 0;

	if (whole == 0 || whole > 9 || !pconf_digits(s, whole) ||
	    (dot && (frac == 0 || frac > 2 || !pconf_digits(dot + 1, frac))))
		return -EINVAL;
	v = (uint64_t)pconf_number(s, whole) * 100;
	if (frac == 1)
		v += (uint64_t)(dot[1] - '0') * 10;
	else if (frac == 2)
		v += pconf_number(dot + 1, 2);
	*centi = v;
	return 0;
}

int pconf_parse_country(const char *s, char cc[3])
{
	if (strlen(s) != 2 || pconf_cc_index(s) < 0)
		return -EINVAL;
	cc[0] = s[0];
	cc[1] = s[1];
	cc[2] = '\0';
	return 0;
}

int pconf_parse_decision(const char *s, enum kpg_decision *d)
{
	if (strcmp(s, "reject") == 0)
		*d = KPG_REJECT;
	else if (strcmp(s, "refer") == 0)
		*d = KPG_REFER;
	else
		return -EINVAL;
	return 0;
}

int pconf_string(const struct kpg_plugin_env *env, const config_setting_t *group,
		 const char *key, bool required, const char **out)
{
	const config_setting_t *s = config_setting_get_member(group, key);

	*out = NULL;
	if (s == NULL) {
		if (!required)
			return 0;
		env->error(env, group, "'%s' is required", key);
		return -EINVAL;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		env->error(env, s, "'%s' must be a string", key);
		return -EINVAL;
	}
	*out = config_setting_get_string(s);
	return 0;
}

int pconf_date(const struct kpg_plugin_env *env, const config_setting_t *group,
	       const char *key, bool required, uint32_t dflt, uint32_t *out)
{
	const char *v;
	int rc = pconf_string(env, group, key, required, &v);

	if (rc < 0)
		return rc;
	*out = dflt;
	if (v == NULL || (v[0] == '\0' && !required))
		return 0;
	if (pconf_parse_date(v, out) < 0) {
		env->error(env, config_setting_get_member(group, key),
			   "'%s' = \"%s\": not a date YYYY-MM-DD (1900 or later)",
			   key, v);
		return -EINVAL;
	}
	return 0;
}

int pconf_country(const struct kpg_plugin_env *env, const config_setting_t *group,
		  const char *key, char cc[3])
{
	const char *v;
	int rc = pconf_string(env, group, key, true, &v);

	if (rc < 0)
		return rc;
	if (pconf_parse_country(v, cc) < 0) {
		env->error(env, config_setting_get_member(group, key),
			   "'%s' = \"%s\": not a two-letter ISO 3166 code (e.g. \"RU\")",
			   key, v);
		return -EINVAL;
	}
	return 0;
}

int pconf_decision(const struct kpg_plugin_env *env, const config_setting_t *group,
		   const char *key, enum kpg_decision dflt, enum kpg_decision *out)
{
	const char *v;
	int rc = pconf_string(env, group, key, false, &v);

	if (rc < 0)
		return rc;
	*out = dflt;
	if (v && pconf_parse_decision(v, out) < 0) {
		env->error(env, config_setting_get_member(group, key),
			   "'%s' = \"%s\": must be \"reject\" or \"refer\"", key, v);
		return -EINVAL;
	}
	return 0;
}

int pconf_aggregate(const struct kpg_plugin_env *env, const config_setting_t *group,
		    const char *key, const config_setting_t **out)
{
	const config_setting_t *s = config_setting_get_member(group, key);

	*out = s;
	if (s && !config_setting_is_array(s) && !config_setting_is_list(s)) {
		env->error(env, s, "'%s' must be a list: [ ... ] or ( ... )", key);
		return -EINVAL;
	}
	return 0;
}

int pconf_elem_string(const struct kpg_plugin_env *env, const config_setting_t *list,
		      unsigned i, const char **out)
{
	const config_setting_t *e = config_setting_get_elem(list, i);

	if (e == NULL || config_setting_type(e) != CONFIG_TYPE_STRING) {
		env->error(env, e ? e : list, "'%s' item %u must be a string",
			   config_setting_name(list) ? config_setting_name(list) : "?",
			   i + 1);
		return -EINVAL;
	}
	*out = config_setting_get_string(e);
	return 0;
}

const char *pconf_text_invalid(const char *s, size_t n)
{
	if (n == 0)
		return "empty";
	if (n > PCONF_TEXT_MAX)
		return "longer than 255 bytes";
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return "control character";
	return NULL;
}

static bool pconf_blank(char c)
{
	return c == ' ' || c == '\t';
}

char *pconf_cut_comment(char *s)
{
	size_t n;

	for (char *p = s; *p; p++)
		if (*p == '#' && (p == s || pconf_blank(p[-1]))) {
			*p = '\0';
			break;
		}
	n = strlen(s);
	while (n > 0 && pconf_blank(s[n - 1]))
		s[--n] = '\0';
	return s;
}

char *pconf_word(char **s)
{
	char *p = *s, *w;

	while (pconf_blank(*p))
		p++;
	if (*p == '\0') {
		*s = p;
		return NULL;
	}
	w = p;
	while (*p && !pconf_blank(*p))
		p++;
	if (*p)
		*p++ = '\0';
	*s = p;
	return w;
}
