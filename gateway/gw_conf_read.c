/* gw_conf_read.c — see gw_conf_read.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gw_conf_read.h"

int gw_conf_open(config_t *cf, const char *file, const char *dir,
		 char *err, size_t errlen)
{
	config_init(cf);
	config_set_include_dir(cf, dir);
	if (config_read_file(cf, file))
		return 0;
	if (config_error_type(cf) == CONFIG_ERR_FILE_IO) {
		snprintf(err, errlen, "%.400s: cannot read: %s", file,
			 strerror(errno ? errno : ENOENT));
		return -ENOENT;
	}
	snprintf(err, errlen, "%.300s:%d: %.150s",
		 config_error_file(cf) ? config_error_file(cf) : file,
		 config_error_line(cf), config_error_text(cf));
	return -EINVAL;
}

int gw_conf_fail(const struct gw_conf_ctx *x, const config_setting_t *s,
		 const char *fmt, ...)
{
	const char *file = s ? config_setting_source_file(s) : NULL;
	int n = snprintf(x->err, x->errlen, "%.400s:%u: %s", file ? file : x->file,
			 s ? config_setting_source_line(s) : 0u,
			 x->prefix ? x->prefix : "");
	va_list ap;

	if (n >= 0 && (size_t)n < x->errlen) {
		va_start(ap, fmt);
		vsnprintf(x->err + n, x->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

int gw_conf_only_keys(const struct gw_conf_ctx *x, const config_setting_t *g,
		      const char *what, const char *const *keys)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		const char *const *k;

		for (k = keys; *k && (!name || strcmp(name, *k) != 0); k++)
			;
		if (*k == NULL)
			return gw_conf_fail(x, s, "unknown key '%s' in %s",
					    name ? name : "?", what);
	}
	return 0;
}

int gw_conf_int(const struct gw_conf_ctx *x, const config_setting_t *g,
		const char *name, int64_t min, int64_t max, int64_t *out)
{
	const config_setting_t *s = config_setting_get_member(g, name);
	int64_t v;

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64)
		return gw_conf_fail(x, s, "'%s' must be an integer", name);
	v = config_setting_get_int64(s);
	if (v < min || v > max)
		return gw_conf_fail(x, s, "'%s' = %lld is out of range [%lld, %lld]",
				    name, (long long)v, (long long)min, (long long)max);
	*out = v;
	return 0;
}

int gw_conf_u32(const struct gw_conf_ctx *x, const config_setting_t *g,
		const char *name, int64_t min, int64_t max, uint32_t *out)
{
	int64_t v = *out;
	int rc = gw_conf_int(x, g, name, min, max, &v);

	*out = (uint32_t)v;
	return rc;
}

int gw_conf_bool(const struct gw_conf_ctx *x, const config_setting_t *g,
		 const char *name, bool *out)
{
	const config_setting_t *s = config_setting_get_member(g, name);

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return gw_conf_fail(x, s, "'%s' must be true or false", name);
	*out = config_setting_get_bool(s);
	return 0;
}

int gw_conf_group(const struct gw_conf_ctx *x, const config_setting_t *g,
		  const char *name, const config_setting_t **out)
{
	const config_setting_t *s = config_setting_get_member(g, name);

	*out = NULL;
	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_GROUP)
		return gw_conf_fail(x, s, "'%s' must be a group { ... }", name);
	*out = s;
	return 0;
}

int gw_conf_path(const struct gw_conf_ctx *x, const config_setting_t *s,
		 const char *name, char *out, size_t cap)
{
	const char *v;
	int n;

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return gw_conf_fail(x, s, "'%s' must be a string", name);
	v = config_setting_get_string(s);
	if (v[0] == '\0')
		return gw_conf_fail(x, s, "'%s' is empty", name);
	n = v[0] == '/' ? snprintf(out, cap, "%s", v)
			: snprintf(out, cap, "%s/%s", x->dir, v);
	if (n < 0 || (size_t)n >= cap)
		return gw_conf_fail(x, s, "'%s' is too long", name);
	return 0;
}
