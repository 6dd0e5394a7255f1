/* gw_audit_conf.c — the audit group of the config file; see gw_audit_conf.h.
 * Needs no EAL: --check-config and the unit tests read it too. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libconfig.h>

#include "gw_audit_conf.h"
#include "gw_conf_read.h"

/* A file name, relative ones taken from the config file's directory. */
static int get_path(const struct gw_conf_ctx *x, const config_setting_t *g,
		    const char *name, char *out)
{
	const config_setting_t *s = config_setting_get_member(g, name);
	size_t n;
	int rc;

	if (s == NULL)
		return 0;
	if ((rc = gw_conf_path(x, s, name, out, GW_PATH_MAX)))
		return rc;
	/* "confirmations/" names the directory itself */
	n = strlen(out);
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
	const struct gw_conf_ctx cx = { .file = c->file, .dir = c->dir,
					.prefix = "audit: ", .err = err,
					.errlen = errlen };
	const struct gw_conf_ctx *x = &cx;
	const config_setting_t *s;
	int rc;

	if ((rc = gw_conf_only_keys(x, g, "audit", keys)))
		return rc;
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
			return gw_conf_fail(x, s,
				    "'mode' must be \"async\", \"written\" or \"synced\"");
	}
	if ((rc = get_path(x, g, "file", a->file)) ||
	    (rc = gw_conf_u32(x, g, "batch", 1, 4096, &a->batch)) ||
	    (rc = gw_conf_u32(x, g, "sync_interval_us", 0, 1000000, &a->sync_interval_us)) ||
	    (rc = gw_conf_u32(x, g, "held_max", 16, 1u << 20, &a->held_max)) ||
	    (rc = get_path(x, g, "confirmations", a->confirmations)) ||
	    (rc = get_path(x, g, "checkpoint_key", a->checkpoint_key)))
		return rc;
	if (a->confirmations[0] && !a->checkpoint_key[0])
		return gw_conf_fail(x, config_setting_get_member(g, "confirmations"),
			    "'confirmations' needs 'checkpoint_key', the key that signs them");
	if (a->checkpoint_key[0] && !a->confirmations[0])
		return gw_conf_fail(x, config_setting_get_member(g, "checkpoint_key"),
			    "'checkpoint_key' without 'confirmations': nothing to sign");
	if (a->confirmations[0] && c->checkpoint[0] == '\0')
		return gw_conf_fail(x, config_setting_get_member(g, "confirmations"),
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

	rc = gw_conf_open(&cf, c->file, c->dir, err, errlen);
	if (rc == 0 && ((g = config_lookup(&cf, "audit")) == NULL ||
			!config_setting_is_group(g))) {
		snprintf(err, errlen, "%.300s: 'audit' must be a group { ... }", c->file);
		rc = -EINVAL;
	} else if (rc == 0) {
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
