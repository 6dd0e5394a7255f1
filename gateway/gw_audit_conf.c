/* gw_audit_conf.c — the audit group of the config file; see gw_audit_conf.h.
 * Needs no EAL: --check-config and the unit tests read it too. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libconfig.h>

#include "gw_audit_conf.h"

static int fail(const struct gw_config *c, const config_setting_t *s,
		char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* "file:line: audit: reason", at the setting the reason is about. */
static int fail(const struct gw_config *c, const config_setting_t *s,
		char *err, size_t errlen, const char *fmt, ...)
{
	const char *file = s ? config_setting_source_file(s) : NULL;
	int n = snprintf(err, errlen, "%.300s:%u: audit: ", file ? file : c->file,
			 s ? config_setting_source_line(s) : 0u);
	va_list ap;

	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int get_u32(const struct gw_config *c, const config_setting_t *g,
		   const char *name, uint32_t min, uint32_t max, uint32_t *out,
		   char *err, size_t errlen)
{
	const config_setting_t *s = config_setting_get_member(g, name);
	long long v;

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64)
		return fail(c, s, err, errlen, "'%s' must be an integer", name);
	v = config_setting_get_int64(s);
	if (v < min || v > max)
		return fail(c, s, err, errlen, "'%s' = %lld is out of range [%u, %u]",
			    name, v, min, max);
	*out = (uint32_t)v;
	return 0;
}

/* A file name, relative ones taken from the config file's directory. */
static int get_path(const struct gw_config *c, const config_setting_t *g,
		    const char *name, char *out, char *err, size_t errlen)
{
	const config_setting_t *s = config_setting_get_member(g, name);
	const char *v;
	int n;

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail(c, s, err, errlen, "'%s' must be a string", name);
	v = config_setting_get_string(s);
	if (v[0] == '\0')
		return fail(c, s, err, errlen, "'%s' is empty", name);
	n = v[0] == '/' ? snprintf(out, GW_PATH_MAX, "%s", v)
			: snprintf(out, GW_PATH_MAX, "%s/%s", c->dir, v);
	if (n < 0 || n >= GW_PATH_MAX)
		return fail(c, s, err, errlen, "'%s' is too long", name);
	/* "confirmations/" names the directory itself */
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
	return 0;
}

static int read_group(const struct gw_config *c, const config_setting_t *g,
		      struct gw_audit_conf *a, char *err, size_t errlen)
{
	static const char *const keys[] = { "file", "mode", "batch",
		"sync_interval_us", "held_max", "confirmations", "checkpoint_key",
		NULL };
	const config_setting_t *s;
	int rc;

	for (int i = 0; i < config_setting_length(g); i++) {
		const char *name;
		const char *const *k;

		s = config_setting_get_elem(g, (unsigned)i);
		name = config_setting_name(s);
		for (k = keys; *k; k++)
			if (name && strcmp(name, *k) == 0)
				break;
		if (*k == NULL)
			return fail(c, s, err, errlen, "unknown key '%s'", name ? name : "?");
	}
	s = config_setting_get_member(g, "mode");
	if (s) {
		const char *v = config_setting_type(s) == CONFIG_TYPE_STRING ?
				config_setting_get_string(s) : "";

		if (strcmp(v, "async") == 0)
			a->mode = GW_AUDIT_ASYNC;
		else if (strcmp(v, "written") == 0)
			a->mode = GW_AUDIT_WRITTEN;
		else if (strcmp(v, "synced") == 0)
			a->mode = GW_AUDIT_SYNCED;
		else
			return fail(c, s, err, errlen,
				    "'mode' must be \"async\", \"written\" or \"synced\"");
	}
	if ((rc = get_path(c, g, "file", a->file, err, errlen)) ||
	    (rc = get_u32(c, g, "batch", 1, 4096, &a->batch, err, errlen)) ||
	    (rc = get_u32(c, g, "sync_interval_us", 0, 1000000, &a->sync_interval_us,
			  err, errlen)) ||
	    (rc = get_u32(c, g, "held_max", 16, 1u << 20, &a->held_max, err, errlen)) ||
	    (rc = get_path(c, g, "confirmations", a->confirmations, err, errlen)) ||
	    (rc = get_path(c, g, "checkpoint_key", a->checkpoint_key, err, errlen)))
		return rc;
	if (a->confirmations[0] && !a->checkpoint_key[0])
		return fail(c, config_setting_get_member(g, "confirmations"), err, errlen,
			    "'confirmations' needs 'checkpoint_key', the key that signs them");
	if (a->checkpoint_key[0] && !a->confirmations[0])
		return fail(c, config_setting_get_member(g, "checkpoint_key"), err, errlen,
			    "'checkpoint_key' without 'confirmations': nothing to sign");
	if (a->confirmations[0] && c->checkpoint[0] == '\0')
		return fail(c, config_setting_get_member(g, "confirmations"), err, errlen,
			    "import confirmations name the checkpoint: set gateway.checkpoint");
	return 0;
}

int gw_audit_conf_load(const struct gw_config *c, struct gw_audit_conf *a,
		       char *err, size_t errlen)
{
	const config_setting_t *g;
	config_t cf;
	int rc;

	memset(a, 0, sizeof(*a));
	a->mode = GW_AUDIT_OFF;
	a->batch = 64;
	a->sync_interval_us = 1000;
	a->held_max = 4096;
	if (c->file[0] == '\0' || !c->has_audit)
		return 0;
	a->mode = GW_AUDIT_WRITTEN;
	if (snprintf(a->file, sizeof(a->file), "%.*s/audit.log",
		     (int)(sizeof(a->file) - 11), c->dir) >= (int)sizeof(a->file))
		return -ENAMETOOLONG;

	config_init(&cf);
	config_set_include_dir(&cf, c->dir);
	if (!config_read_file(&cf, c->file)) {
		snprintf(err, errlen, "%.300s:%d: %.150s",
			 config_error_file(&cf) ? config_error_file(&cf) : c->file,
			 config_error_line(&cf), config_error_text(&cf));
		rc = config_error_type(&cf) == CONFIG_ERR_FILE_IO ? -ENOENT : -EINVAL;
	} else if ((g = config_lookup(&cf, "audit")) == NULL ||
		   !config_setting_is_group(g)) {
		snprintf(err, errlen, "%.300s: 'audit' must be a group { ... }", c->file);
		rc = -EINVAL;
	} else {
		rc = read_group(c, g, a, err, errlen);
	}
	config_destroy(&cf);
	if (rc != 0)
		a->mode = GW_AUDIT_OFF;
	return rc;
}

const char *gw_audit_mode_name(enum gw_audit_mode m)
{
	switch (m) {
	case GW_AUDIT_OFF: return "off";
	case GW_AUDIT_ASYNC: return "async";
	case GW_AUDIT_WRITTEN: return "written";
	case GW_AUDIT_SYNCED: return "synced";
	}
	return "unknown";
}
