/* testplugin_good.c — a plugin for test_plugin_host, built as kpgate-tgood
 * and kpgate-tother (TP_NAME). Its section says what it answers:
 *   decision = "accept" | "refer" | "reject" | "none"; reason = 1000;
 *   fail = true (configure refuses); list = "file" (one word a line);
 *   raw = 9 (a decision number outside the enum, as a broken plugin).
 * It appends "NAME init|configure|release|fini" to STATE_DIR/calls.log, so
 * the test can see which of its functions ran. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kpgate/plugin.h>

struct tp_instance {
	char log[512];
	unsigned commits[4];             /* by overall decision */
};

struct tp_state {
	enum kpg_decision decision;
	uint32_t reason;
	unsigned list_lines;
};

static void tp_log(const struct tp_instance *in, const char *what)
{
	FILE *f = fopen(in->log, "a");

	if (f) {
		fprintf(f, "%s %s\n", TP_NAME, what);
		fclose(f);
	}
}

static int tp_init(const struct kpg_plugin_env *env, void **instance)
{
	struct tp_instance *in = calloc(1, sizeof(*in));

	if (in == NULL)
		return -ENOMEM;
	snprintf(in->log, sizeof(in->log), "%s/calls.log", env->state_dir);
	tp_log(in, "init");
	*instance = in;
	return 0;
}

static void tp_fini(void *instance)
{
	tp_log(instance, "fini");
	free(instance);
}

/* A list entry is a lowercase word; anything else names its line. */
static int tp_line(void *arg, const char *text, unsigned lineno, char *err,
		   size_t errlen)
{
	struct tp_state *st = arg;

	for (const char *p = text; *p; p++)
		if (*p < 'a' || *p > 'z') {
			snprintf(err, errlen, "'%s' is not a word", text);
			return -EINVAL;
		}
	st->list_lines++;
	return 0;
}

static int tp_configure(void *instance, const struct kpg_plugin_env *env,
			const config_setting_t *section, void **state)
{
	static const char *const keys[] = { "decision", "reason", "fail", "list",
					    "raw", NULL };
	static const char *const names[] = { "none", "accept", "refer", "reject" };
	struct tp_state *st;
	const char *s;
	int v, rc;

	tp_log(instance, "configure");
	if ((rc = env->check_keys(env, section, keys)) < 0)
		return rc;
	if (config_setting_lookup_bool(section, "fail", &v) && v) {
		env->error(env, config_setting_get_member(section, "fail"),
			   "told to fail");
		return -EINVAL;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -ENOMEM;
	st->decision = KPG_ACCEPT;
	st->reason = 1000;
	if (config_setting_lookup_string(section, "decision", &s)) {
		unsigned d;

		for (d = 0; d < 4 && strcmp(s, names[d]) != 0; d++)
			;
		if (d == 4) {
			env->error(env, config_setting_get_member(section, "decision"),
				   "bad decision '%s'", s);
			free(st);
			return -EINVAL;
		}
		st->decision = (enum kpg_decision)d;
	}
	if (config_setting_lookup_int(section, "reason", &v))
		st->reason = (uint32_t)v;
	if (config_setting_lookup_int(section, "raw", &v))
		st->decision = (enum kpg_decision)v;
	if (config_setting_lookup_string(section, "list", &s) &&
	    (rc = env->read_lines(env, config_setting_get_member(section, "list"),
				  s, tp_line, st)) < 0) {
		free(st);
		return rc;
	}
	*state = st;
	return 0;
}

static void tp_release(void *instance, void *state)
{
	tp_log(instance, "release");
	free(state);
}

static void tp_evaluate(void *instance, const void *state,
			const struct kpg_scan_view *scan,
			struct kpg_plugin_verdict *out)
{
	const struct tp_state *st = state;
	const struct tp_instance *in = instance;

	out->decision = st->decision;
	out->reason = st->reason;
	snprintf(out->detail, sizeof(out->detail), "%s lines=%u commits=%u",
		 TP_NAME, st->list_lines,
		 __atomic_load_n(&in->commits[KPG_ACCEPT], __ATOMIC_RELAXED));
}

static void tp_commit(void *instance, const void *state,
		      const struct kpg_scan_view *scan, enum kpg_decision overall)
{
	struct tp_instance *in = instance;

	__atomic_fetch_add(&in->commits[overall & 3], 1, __ATOMIC_RELAXED);
}

KPG_PLUGIN_EXPORT = {
	.abi_version = KPG_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct kpg_plugin),
	.name = TP_NAME,
	.description = "test plugin: answers what its section says",
	.init = tp_init,
	.fini = tp_fini,
	.configure = tp_configure,
	.release = tp_release,
	.evaluate = tp_evaluate,
	.commit = tp_commit,
};
