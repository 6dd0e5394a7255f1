/* The plugin host against the test plugins built beside it
 * (KPG_TESTPLUGIN_DIR): loading and refusing plugins, chain errors with
 * file:line, list files, counters across reloads. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kpg_cunit.h"
#include "kpg_plugin_host.h"

static char tmp[] = "/tmp/kpg-plugin-host-XXXXXX";
static char conf_path[512];
static const char *plugdir;

static int setup(void)
{
	plugdir = getenv("KPG_TESTPLUGIN_DIR");
	if (plugdir == NULL) {
		fprintf(stderr, "KPG_TESTPLUGIN_DIR is not set (run through meson test)\n");
		return 1;
	}
	if (mkdtemp(tmp) == NULL)
		return 1;
	snprintf(conf_path, sizeof(conf_path), "%s/kpgate.conf", tmp);
	return 0;
}

static int teardown(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd) == 0 ? 0 : 1;
}

static void write_file(const char *name, const char *text, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	f = fopen(path, "w");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_EQUAL(fwrite(text, 1, len, f), len);
	fclose(f);
}

/* A fresh host whose config and state dir is tmp, and an empty call log. */
static struct kpg_plugin_host *host_new(unsigned workers)
{
	const char *dirs[] = { "/nonexistent", plugdir, NULL };
	struct kpg_plugin_host_conf c = {
		.workers = workers,
		.checkpoint = "antwerp-1",
		.jurisdiction = "EU",
		.config_dir = tmp,
		.state_dir = tmp,
		.search_dirs = dirs,
	};
	struct kpg_plugin_host *h;

	write_file("calls.log", "", 0);
	h = kpg_plugin_host_new(&c);
	CU_ASSERT_FATAL(h != NULL);
	return h;
}

/* Writes "plugins = <text>;" to kpgate.conf (the plugins list starts on
 * line 2, so line numbers in errors are the text's line + 1) and builds
 * it; the config is gone before the chain is used, as in the gateway. */
static struct kpg_chain *build(struct kpg_plugin_host *h, const char *text,
			       char *err, size_t errlen)
{
	struct kpg_chain *c;
	char buf[4096];
	config_t cf;
	int n;

	n = snprintf(buf, sizeof(buf), "# test\nplugins = %s;\n", text);
	CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof(buf));
	write_file("kpgate.conf", buf, (size_t)n);
	config_init(&cf);
	CU_ASSERT_FATAL(config_read_file(&cf, conf_path) == CONFIG_TRUE);
	c = kpg_chain_build(h, config_lookup(&cf, "plugins"), err, errlen);
	config_destroy(&cf);
	return c;
}

/* How many times the test plugins logged "what" (e.g. "tgood init"). */
static unsigned calls(const char *what)
{
	char path[512], line[256];
	unsigned n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/calls.log", tmp);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		n += strcmp(line, what) == 0;
	}
	fclose(f);
	return n;
}

static bool marker_exists(const char *plugin)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s.called", tmp, plugin);
	return access(path, F_OK) == 0;
}

static struct kpg_scan_view scan_on(unsigned worker)
{
	return (struct kpg_scan_view){ .worker = worker, .today = 20250101 };
}

static void test_chain_runs_in_order(void)
{
	struct kpg_plugin_host *h = host_new(1);
	struct kpg_scan_view s = scan_on(0);
	struct kpg_verdicts vs = { 0 };
	char err[512] = "x";
	struct kpg_chain *c;

	c = build(h, "( { name = \"tother\"; decision = \"none\"; },\n"
		     "  { name = \"tgood\"; decision = \"refer\"; reason = 1001; } )",
		  err, sizeof(err));
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL(kpg_chain_length(c), 2);
	CU_ASSERT_STRING_EQUAL(kpg_chain_name(c, 0), "tother");
	CU_ASSERT_STRING_EQUAL(kpg_chain_name(c, 1), "tgood");
	CU_ASSERT_PTR_NULL(kpg_chain_name(c, 2));

	kpg_chain_evaluate(c, &s, &vs);
	/* "none" means the rule does not apply: no verdict at all. */
	CU_ASSERT_EQUAL_FATAL(vs.n, 1);
	CU_ASSERT_STRING_EQUAL(vs.v[0].check, "tgood");
	CU_ASSERT_EQUAL(vs.v[0].decision, KPG_REFER);
	CU_ASSERT_EQUAL(vs.v[0].reason, 1001);
	CU_ASSERT_STRING_EQUAL(vs.v[0].detail, "tgood lines=0 commits=0");

	/* commit() sees the overall decision; the plugin counts accepts. */
	kpg_chain_commit(c, &s, KPG_ACCEPT);
	vs.n = 0;
	kpg_chain_evaluate(c, &s, &vs);
	CU_ASSERT_STRING_EQUAL(vs.v[0].detail, "tgood lines=0 commits=1");

	CU_ASSERT_EQUAL(calls("tgood init"), 1);
	CU_ASSERT_EQUAL(calls("tgood configure"), 1);
	kpg_chain_delete(c);
	CU_ASSERT_EQUAL(calls("tgood release"), 1);
	CU_ASSERT_EQUAL(calls("tother release"), 1);
	CU_ASSERT_EQUAL(calls("tgood fini"), 0);
	kpg_plugin_host_delete(h);
	CU_ASSERT_EQUAL(calls("tgood fini"), 1);
	CU_ASSERT_EQUAL(calls("tother fini"), 1);
}

static void test_empty_chain(void)
{
	struct kpg_plugin_host *h = host_new(1);
	struct kpg_scan_view s = scan_on(0);
	struct kpg_verdicts vs = { 0 };
	char err[512];
	struct kpg_chain *c;

	c = kpg_chain_build(h, NULL, err, sizeof(err));
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_EQUAL(kpg_chain_length(c), 0);
	kpg_chain_evaluate(c, &s, &vs);
	CU_ASSERT_EQUAL(vs.n, 0);
	kpg_chain_delete(c);
	c = build(h, "()", err, sizeof(err));
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_EQUAL(kpg_chain_length(c), 0);
	kpg_chain_delete(c);
	kpg_plugin_host_delete(h);
}

/* A wrong descriptor is refused by name and file, and not one function of
 * the plugin has run (each would leave NAME.called behind). The good plugin
 * loaded earlier in the same build is unloaded again. */
static void check_refused_unread(const char *plugin, const char *why)
{
	struct kpg_plugin_host *h = host_new(1);
	char err[512], want[1024], conf[256];
	struct kpg_chain *c;

	snprintf(conf, sizeof(conf), "( { name = \"tgood\"; },\n  { name = \"%s\"; } )",
		 plugin);
	c = build(h, conf, err, sizeof(err));
	CU_ASSERT_PTR_NULL(c);
	snprintf(want, sizeof(want), "%s:3: plugin %s (%s/kpgate-%s.so): %s",
		 conf_path, plugin, plugdir, plugin, why);
	CU_ASSERT_STRING_EQUAL(err, want);
	CU_ASSERT_FALSE(marker_exists(plugin));
	CU_ASSERT_EQUAL(kpg_plugin_host_count(h), 0);
	CU_ASSERT_EQUAL(calls("tgood release"), 1);
	CU_ASSERT_EQUAL(calls("tgood fini"), 1);
	kpg_plugin_host_delete(h);
	CU_ASSERT_FALSE(marker_exists(plugin));
}

static void test_wrong_abi_version_refused(void)
{
	char why[128];

	snprintf(why, sizeof(why), "ABI version %u, kpgate speaks %u",
		 KPG_PLUGIN_ABI_VERSION + 1, KPG_PLUGIN_ABI_VERSION);
	check_refused_unread("tbadabi", why);
}

static void test_wrong_struct_size_refused(void)
{
	char why[128];

	snprintf(why, sizeof(why), "descriptor of %zu bytes, kpgate's is %zu "
		 "(built against another plugin.h?)",
		 sizeof(struct kpg_plugin) + 8, sizeof(struct kpg_plugin));
	check_refused_unread("tbadsize", why);
}

/* A configure() failing halfway: the states already built are released,
 * the plugin loaded for this build unloaded, the running chain untouched. */
static void test_failed_configure_keeps_chain(void)
{
	struct kpg_plugin_host *h = host_new(1);
	struct kpg_scan_view s = scan_on(0);
	struct kpg_verdicts vs = { 0 };
	char err[512], want[600];
	struct kpg_chain *old, *c;

	old = build(h, "( { name = \"tgood\"; decision = \"accept\"; } )", err, sizeof(err));
	CU_ASSERT_FATAL(old != NULL);
	c = build(h, "( { name = \"tgood\"; decision = \"reject\"; },\n"
		     "  { name = \"tother\";\n"
		     "    fail = true; } )", err, sizeof(err));
	CU_ASSERT_PTR_NULL(c);
	snprintf(want, sizeof(want), "%s:4: plugin tother: told to fail", conf_path);
	CU_ASSERT_STRING_EQUAL(err, want);
	CU_ASSERT_EQUAL(calls("tgood configure"), 2);
	CU_ASSERT_EQUAL(calls("tgood release"), 1);      /* the new state only */
	CU_ASSERT_EQUAL(calls("tgood fini"), 0);
	CU_ASSERT_EQUAL(calls("tother init"), 1);
	CU_ASSERT_EQUAL(calls("tother fini"), 1);
	CU_ASSERT_EQUAL(kpg_plugin_host_count(h), 1);

	kpg_chain_evaluate(old, &s, &vs);
	CU_ASSERT_EQUAL_FATAL(vs.n, 1);
	CU_ASSERT_EQUAL(vs.v[0].decision, KPG_ACCEPT);

	/* A bad value reported by the plugin at the setting's line. */
	c = build(h, "( { name = \"tgood\";\n  decision = \"maybe\"; } )", err, sizeof(err));
	CU_ASSERT_PTR_NULL(c);
	snprintf(want, sizeof(want), "%s:3: plugin tgood: bad decision 'maybe'", conf_path);
	CU_ASSERT_STRING_EQUAL(err, want);

	kpg_chain_delete(old);
	kpg_plugin_host_delete(h);
}

static void test_unknown_key_refused(void)
{
	struct kpg_plugin_host *h = host_new(1);
	char err[512], want[600];

	CU_ASSERT_PTR_NULL(build(h, "( { name = \"tgood\";\n"
				    "    path = \"kpgate-tgood.so\";\n"
				    "    reason = 1002;\n"
				    "    colour = \"red\"; } )", err, sizeof(err)));
	/* "path" is relative to config_dir (tmp), where no such file is. */
	snprintf(want, sizeof(want), "%s:2: plugin tgood: cannot load %s/kpgate-tgood.so",
		 conf_path, tmp);
	CU_ASSERT_NSTRING_EQUAL(err, want, strlen(want));

	CU_ASSERT_PTR_NULL(build(h, "( { name = \"tgood\";\n"
				    "    reason = 1002;\n"
				    "    colour = \"red\"; } )", err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:4: plugin tgood: unknown key 'colour'", conf_path);
	CU_ASSERT_STRING_EQUAL(err, want);
	kpg_plugin_host_delete(h);
}

static void expect_refused(struct kpg_plugin_host *h, const char *conf,
			   const char *want_suffix)
{
	char err[512];
	const char *p;

	CU_ASSERT_PTR_NULL(build(h, conf, err, sizeof(err)));
	/* Every refusal starts with the config file and a line. */
	CU_ASSERT_NSTRING_EQUAL(err, conf_path, strlen(conf_path));
	p = strstr(err, want_suffix);
	CU_ASSERT_PTR_NOT_NULL(p);
	if (p == NULL)
		fprintf(stderr, "\n  got: %s\n  want: ...%s\n", err, want_suffix);
}

static void test_chain_entry_errors(void)
{
	struct kpg_plugin_host *h = host_new(1);
	char conf[4096], path[512];
	size_t n = 0;

	expect_refused(h, "( { name = \"tgood\"; }, { name = \"tgood\"; } )",
		       ":2: plugin tgood: named twice in the chain");
	expect_refused(h, "( { decision = \"accept\"; } )",
		       ":2: plugin chain entry 1 has no 'name'");
	expect_refused(h, "( { name = 7; } )",
		       ":2: 'name' of plugin chain entry 1 must be a string");
	expect_refused(h, "( { name = \"../tgood\"; } )",
		       ":2: bad plugin name '../tgood'");
	expect_refused(h, "( \"tgood\" )", ":2: plugin chain entry 1 must be a group");
	expect_refused(h, "{ name = \"tgood\"; }", ":2: the plugin chain must be a list");
	expect_refused(h, "( { name = \"nosuch\"; } )",
		       "plugin nosuch: kpgate-nosuch.so not found in /nonexistent, ");
	snprintf(path, sizeof(path), "%s/kpgate-tgood.so", plugdir);
	snprintf(conf, sizeof(conf), "( { name = \"tother\"; path = \"%s\"; } )", path);
	expect_refused(h, conf, "the file holds plugin 'tgood'");

	n += (size_t)snprintf(conf, sizeof(conf), "(");
	for (int i = 0; i <= KPG_PLUGINS_MAX; i++)
		n += (size_t)snprintf(conf + n, sizeof(conf) - n, "%s{ name = \"p%d\"; }",
				      i ? ", " : "", i);
	snprintf(conf + n, sizeof(conf) - n, ")");
	expect_refused(h, conf, ":2: 33 plugins in the chain, at most 32");
	CU_ASSERT_EQUAL(kpg_plugin_host_count(h), 0);
	/* tgood, loaded for the builds that failed after it, went with them. */
	CU_ASSERT_EQUAL(calls("tgood init"), calls("tgood fini"));
	kpg_plugin_host_delete(h);
}

/* An explicit path loads the plugin; another path for a loaded name is
 * refused, as a plugin cannot be swapped while chains use it. */
static void test_explicit_path(void)
{
	struct kpg_plugin_host *h = host_new(1);
	char conf[1024], err[512];
	struct kpg_chain *c, *c2;

	snprintf(conf, sizeof(conf), "( { name = \"tgood\"; path = \"%s/kpgate-tgood.so\"; } )",
		 plugdir);
	c = build(h, conf, err, sizeof(err));
	CU_ASSERT_FATAL(c != NULL);
	expect_refused(h, "( { name = \"tgood\"; path = \"/elsewhere/kpgate-tgood.so\"; } )",
		       "plugin tgood: already loaded from ");
	/* The same file however spelled, or found by name, is the one loaded. */
	snprintf(conf, sizeof(conf), "( { name = \"tgood\"; path = \"%s/./kpgate-tgood.so\"; } )",
		 plugdir);
	c2 = build(h, conf, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(c2);
	kpg_chain_delete(c2);
	c2 = build(h, "( { name = \"tgood\"; } )", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(c2);
	kpg_chain_delete(c2);
	CU_ASSERT_EQUAL(calls("tgood init"), 1);
	kpg_chain_delete(c);
	kpg_plugin_host_delete(h);
}

static void test_list_files(void)
{
	struct kpg_plugin_host *h = host_new(1);
	struct kpg_scan_view s = scan_on(0);
	struct kpg_verdicts vs = { 0 };
	static const char good[] = "alpha\n  # a comment\n\n \t beta \r\ngamma";
	static const char bad[] = "alpha\n\n# fine\n  beta\nGamma\n";
	char err[512], want[1024], big[5000];
	struct kpg_chain *c;

	write_file("good.list", good, sizeof(good) - 1);
	c = build(h, "( { name = \"tgood\"; list = \"good.list\"; } )", err, sizeof(err));
	CU_ASSERT_FATAL(c != NULL);
	kpg_chain_evaluate(c, &s, &vs);
	CU_ASSERT_STRING_EQUAL(vs.v[0].detail, "tgood lines=3 commits=0");
	kpg_chain_delete(c);

	write_file("bad.list", bad, sizeof(bad) - 1);
	CU_ASSERT_PTR_NULL(build(h, "( { name = \"tgood\"; list = \"bad.list\"; } )",
				 err, sizeof(err)));
	snprintf(want, sizeof(want), "%s/bad.list:5: plugin tgood: 'Gamma' is not a word", tmp);
	CU_ASSERT_STRING_EQUAL(err, want);

	/* Binary data and endless lines are errors at their line, not crashes. */
	write_file("nul.list", "alpha\nbe\0ta\n", 12);
	CU_ASSERT_PTR_NULL(build(h, "( { name = \"tgood\"; list = \"nul.list\"; } )",
				 err, sizeof(err)));
	snprintf(want, sizeof(want), "%s/nul.list:2: plugin tgood: NUL byte: not a text file", tmp);
	CU_ASSERT_STRING_EQUAL(err, want);

	memset(big, 'a', sizeof(big));
	big[0] = '\n';
	write_file("long.list", big, sizeof(big));
	CU_ASSERT_PTR_NULL(build(h, "( { name = \"tgood\"; list = \"long.list\"; } )",
				 err, sizeof(err)));
	snprintf(want, sizeof(want), "%s/long.list:2: plugin tgood: line longer than 4095 bytes", tmp);
	CU_ASSERT_STRING_EQUAL(err, want);

	CU_ASSERT_PTR_NULL(build(h, "( { name = \"tgood\";\n  list = \"missing.list\"; } )",
				 err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:3: plugin tgood: cannot read list '%s/missing.list': %s",
		 conf_path, tmp, strerror(ENOENT));
	CU_ASSERT_STRING_EQUAL(err, want);
	kpg_plugin_host_delete(h);
}

/* Counters are per worker, summed when read, and belong to the plugin, not
 * the chain: a reload keeps them. */
static void test_counters_survive_reload(void)
{
	struct kpg_plugin_host *h = host_new(4);
	struct kpg_plugin_counts good, other;
	struct kpg_verdicts vs;
	struct kpg_scan_view s;
	char err[512];
	struct kpg_chain *c1, *c2;

	c1 = build(h, "( { name = \"tgood\"; }, { name = \"tother\"; decision = \"reject\"; } )",
		   err, sizeof(err));
	CU_ASSERT_FATAL(c1 != NULL);
	for (unsigned i = 0; i < 10; i++) {
		s = scan_on(i % 4);
		vs.n = 0;
		kpg_chain_evaluate(c1, &s, &vs);
	}
	c2 = build(h, "( { name = \"tother\"; decision = \"none\"; },\n"
		      "  { name = \"tgood\"; decision = \"refer\"; } )", err, sizeof(err));
	CU_ASSERT_FATAL(c2 != NULL);
	kpg_chain_delete(c1);
	for (unsigned i = 0; i < 3; i++) {
		s = scan_on(3 - i);
		vs.n = 0;
		kpg_chain_evaluate(c2, &s, &vs);
	}
	CU_ASSERT_EQUAL(kpg_plugin_host_count(h), 2);
	CU_ASSERT_STRING_EQUAL(kpg_plugin_host_name(h, 0), "tgood");
	CU_ASSERT_STRING_EQUAL(kpg_plugin_host_name(h, 1), "tother");
	CU_ASSERT_PTR_NULL(kpg_plugin_host_name(h, 2));
	kpg_plugin_host_counts(h, 0, &good);
	kpg_plugin_host_counts(h, 1, &other);
	CU_ASSERT_EQUAL(good.decisions[KPG_DECISION_NONE], 0);
	CU_ASSERT_EQUAL(good.decisions[KPG_ACCEPT], 10);
	CU_ASSERT_EQUAL(good.decisions[KPG_REFER], 3);
	CU_ASSERT_EQUAL(good.decisions[KPG_REJECT], 0);
	CU_ASSERT_EQUAL(other.decisions[KPG_REJECT], 10);
	CU_ASSERT_EQUAL(other.decisions[KPG_DECISION_NONE], 3);

	/* A decision outside the enum is a broken plugin: it rejects. */
	c1 = build(h, "( { name = \"tother\"; raw = 9; } )", err, sizeof(err));
	CU_ASSERT_FATAL(c1 != NULL);
	s = scan_on(1);
	vs.n = 0;
	kpg_chain_evaluate(c1, &s, &vs);
	CU_ASSERT_EQUAL_FATAL(vs.n, 1);
	CU_ASSERT_EQUAL(vs.v[0].decision, KPG_REJECT);
	kpg_plugin_host_counts(h, 1, &other);
	CU_ASSERT_EQUAL(other.decisions[KPG_REJECT], 11);
	kpg_chain_delete(c1);

	/* A refused rebuild counts nothing and loses nothing. */
	CU_ASSERT_PTR_NULL(build(h, "( { name = \"tgood\"; fail = true; } )", err, sizeof(err)));
	kpg_plugin_host_counts(h, 0, &good);
	CU_ASSERT_EQUAL(good.decisions[KPG_ACCEPT], 10);
	kpg_chain_delete(c2);
	kpg_plugin_host_delete(h);
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "chain runs in order, none gives no verdict", test_chain_runs_in_order },
		{ "empty chain", test_empty_chain },
		{ "wrong ABI version refused unread", test_wrong_abi_version_refused },
		{ "wrong struct size refused unread", test_wrong_struct_size_refused },
		{ "failed configure keeps the chain in force", test_failed_configure_keeps_chain },
		{ "unknown key refused at its line", test_unknown_key_refused },
		{ "chain entry errors", test_chain_entry_errors },
		{ "explicit path", test_explicit_path },
		{ "list files", test_list_files },
		{ "counters survive a reload", test_counters_survive_reload },
		{ NULL, NULL },
	};

	return kpg_cunit_run("plugin_host", tests, setup, teardown);
}
