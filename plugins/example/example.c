/* example.c — the smallest useful kpgate plugin, the one docs/plugins.md
 * walks through: refer for inspection any certificate whose total weight
 * is over a configured number of carats. It builds out of tree against the
 * installed <kpgate/plugin.h> alone (see Makefile). Config:
 *   { name = "example"; max_carats = 5000; }   whole carats, required
 *
 * Reason codes (the example's range, 9900 up, is never used in production):
 *   9900 within_limit   accept
 *   9901 over_limit     refer
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <kpgate/plugin.h>

enum {
	EXAMPLE_WITHIN_LIMIT = 9900,
	EXAMPLE_OVER_LIMIT = 9901,
};

/* Built by configure, read by every worker, never changed: no lock needed. */
struct example_state {
	uint64_t max_centi;              /* hundredths of a carat, as the cert */
};

/* Control thread: check the section, build the state. */
static int example_configure(void *instance, const struct kpg_plugin_env *env,
			     const config_setting_t *section, void **state)
{
	static const char *const keys[] = { "max_carats", NULL };
	const config_setting_t *s;
	struct example_state *st;
	long long v;

	if (env->check_keys(env, section, keys) < 0)
		return -EINVAL;
	s = config_setting_get_member(section, "max_carats");
	if (s == NULL) {
		env->error(env, NULL, "'max_carats' is required");
		return -EINVAL;
	}
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64) {
		env->error(env, s, "'max_carats' must be an integer");
		return -EINVAL;
	}
	v = config_setting_get_int64(s);
	if (v < 1 || v > 10000000) {
		env->error(env, s, "'max_carats' = %lld is out of range [1, 10000000]", v);
		return -EINVAL;
	}
	st = malloc(sizeof(*st));        /* allocating is fine here, not in evaluate */
	if (st == NULL)
		return -ENOMEM;
	st->max_centi = (uint64_t)v * 100;
	*state = st;
	return 0;
}

/* Control thread, once no worker can still see the state. */
static void example_release(void *instance, void *state)
{
	free(state);
}

/* Worker lcores: read the state and the scan, write out; nothing else. */
static void example_evaluate(void *instance, const void *state,
			     const struct kpg_scan_view *scan,
			     struct kpg_plugin_verdict *out)
{
	const struct example_state *st = state;
	uint64_t ct = scan->cert->total_carats_centi;

	if (ct > st->max_centi) {
		out->decision = KPG_REFER;
		out->reason = EXAMPLE_OVER_LIMIT;
		snprintf(out->detail, sizeof(out->detail),
			 "%" PRIu64 ".%02u ct, over %" PRIu64 " ct", ct / 100,
			 (unsigned)(ct % 100), st->max_centi / 100);
	} else {
		out->decision = KPG_ACCEPT;
		out->reason = EXAMPLE_WITHIN_LIMIT;
		snprintf(out->detail, sizeof(out->detail), "within %" PRIu64 " ct",
			 st->max_centi / 100);
	}
}

/* The one exported symbol: kpgate checks the first two fields before it
 * calls anything. */
KPG_PLUGIN_EXPORT = {
	.abi_version = KPG_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct kpg_plugin),
	.name = "example",
	.description = "refers certificates over a carat total",
	.configure = example_configure,
	.release = example_release,
	.evaluate = example_evaluate,
};
