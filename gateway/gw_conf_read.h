/* gw_conf_read.h — reading libconfig settings, the one way every part of
 * the gateway reads its config file: a refused value is reported as
 * "file:line: reason" at the setting it is about, and an absent optional
 * setting leaves the caller's default untouched. Needs no EAL. */
#ifndef GW_CONF_READ_H
#define GW_CONF_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libconfig.h>

struct gw_conf_ctx {
	const char *file;                /* for settings without a source */
	const char *dir;                 /* relative paths resolve here */
	const char *prefix;              /* before each reason ("audit: "), or NULL */
	char *err;
	size_t errlen;
};

/* Initialises cf and reads file into it, @include resolving from dir.
 * 0, -ENOENT (cannot be read) or -EINVAL (its syntax), the reason in err
 * as "file: cannot read: why" or "file:line: why". The caller destroys cf
 * either way. */
int gw_conf_open(config_t *cf, const char *file, const char *dir,
		 char *err, size_t errlen);

/* Writes the reason into x->err and returns -EINVAL. */
int gw_conf_fail(const struct gw_conf_ctx *x, const config_setting_t *s,
		 const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Refuses any member of g not named in keys (NULL-ended). */
int gw_conf_only_keys(const struct gw_conf_ctx *x, const config_setting_t *g,
		      const char *what, const char *const *keys);

/* Integers within [min, max]; absent: *out unchanged. 0 or -EINVAL. */
int gw_conf_int(const struct gw_conf_ctx *x, const config_setting_t *g,
		const char *name, int64_t min, int64_t max, int64_t *out);
int gw_conf_u32(const struct gw_conf_ctx *x, const config_setting_t *g,
		const char *name, int64_t min, int64_t max, uint32_t *out);

/* true or false; absent: *out unchanged. 0 or -EINVAL. */
int gw_conf_bool(const struct gw_conf_ctx *x, const config_setting_t *g,
		 const char *name, bool *out);

/* A member that must be a group; *out NULL when absent. */
int gw_conf_group(const struct gw_conf_ctx *x, const config_setting_t *g,
		  const char *name, const config_setting_t **out);

/* A non-empty string setting s naming a file, made absolute from x->dir
 * into out (cap bytes). */
int gw_conf_path(const struct gw_conf_ctx *x, const config_setting_t *s,
		 const char *name, char *out, size_t cap);

#endif
