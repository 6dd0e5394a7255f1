/* testplugin_bad.c — a plugin kpgate must refuse unread: built as
 * kpgate-tbadabi (TP_BAD_ABI, a future ABI version) and kpgate-tbadsize
 * (TP_BAD_SIZE, a descriptor of another size). Every function leaves
 * STATE_DIR/TP_NAME.called behind, so the test can prove none ran. */
#include <stdio.h>

#include <kpgate/plugin.h>

static void tp_mark(const char *dir)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.called", dir ? dir : "/tmp", TP_NAME);
	f = fopen(path, "w");
	if (f)
		fclose(f);
}

static const char *tp_dir;

static int tp_init(const struct kpg_plugin_env *env, void **instance)
{
	tp_dir = env->state_dir;
	tp_mark(tp_dir);
	return 0;
}

static void tp_fini(void *instance)
{
	tp_mark(tp_dir);
}

static int tp_configure(void *instance, const struct kpg_plugin_env *env,
			const config_setting_t *section, void **state)
{
	tp_mark(env->state_dir);
	return 0;
}

static void tp_release(void *instance, void *state)
{
	tp_mark(tp_dir);
}

static void tp_evaluate(void *instance, const void *state,
			const struct kpg_scan_view *scan,
			struct kpg_plugin_verdict *out)
{
	tp_mark(tp_dir);
	out->decision = KPG_ACCEPT;
}

KPG_PLUGIN_EXPORT = {
#ifdef TP_BAD_ABI
	.abi_version = KPG_PLUGIN_ABI_VERSION + 1,
#else
	.abi_version = KPG_PLUGIN_ABI_VERSION,
#endif
#ifdef TP_BAD_SIZE
	.struct_size = sizeof(struct kpg_plugin) + 8,
#else
	.struct_size = sizeof(struct kpg_plugin),
#endif
	.name = TP_NAME,
	.description = "test plugin: must never run",
	.init = tp_init,
	.fini = tp_fini,
	.configure = tp_configure,
	.release = tp_release,
	.evaluate = tp_evaluate,
};
