/* test_gw_audit_conf.c — the audit group as an operator writes it: every
 * key read back, paths taken from the file's directory, each mistake
 * refused with file:line, and the example config's group valid. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_audit_conf.h"
#include "kpg_cunit.h"

static char dir[64];

static const char *write_conf(const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/kpgate.conf", dir);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* gw_config first (it checks the group's shape), then the audit group. */
static int load(const char *text, struct gw_audit_conf *a, char *err, size_t len)
{
	struct gw_config c;
	const char *path = write_conf(text);

	CU_ASSERT_EQUAL_FATAL(gw_config_load(&c, path, err, len), 0);
	return gw_audit_conf_load(&c, a, err, len);
}

static void expect_refused(const char *text, int line, const char *what)
{
	struct gw_audit_conf a;
	char err[600], want[300];

	CU_ASSERT_EQUAL(load(text, &a, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s/kpgate.conf:%d: ", dir, line);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, what));
	if (!strstr(err, want) || !strstr(err, what))
		fprintf(stderr, "  got \"%s\", want \"%s...%s\"\n", err, want, what);
	CU_ASSERT_EQUAL(a.mode, GW_AUDIT_OFF);
}

static void test_absent_is_off(void)
{
	struct gw_audit_conf a;
	char err[300];

	CU_ASSERT_EQUAL(load("gateway: { udp_port = 7102; };\n", &a, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(a.mode, GW_AUDIT_OFF);
}

static void test_every_key(void)
{
	struct gw_audit_conf a;
	char err[300], want[300];

	CU_ASSERT_EQUAL_FATAL(load(
		"gateway: { checkpoint = \"BE-ANR-01\"; };\n"
		"audit: {\n"
		"  file = \"logs/audit.log\";\n"
		"  mode = \"synced\";\n"
		"  batch = 128;\n"
		"  sync_interval_us = 500;\n"
		"  held_max = 1024;\n"
		"  confirmations = \"confirmations/\";\n"
		"  checkpoint_key = \"/etc/kpgate/checkpoint.key\";\n"
		"};\n", &a, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(a.mode, GW_AUDIT_SYNCED);
	snprintf(want, sizeof(want), "%s/logs/audit.log", dir);
	CU_ASSERT_STRING_EQUAL(a.file, want);
	CU_ASSERT_EQUAL(a.batch, 128);
	CU_ASSERT_EQUAL(a.sync_interval_us, 500);
	CU_ASSERT_EQUAL(a.held_max, 1024);
	snprintf(want, sizeof(want), "%s/confirmations", dir);
	CU_ASSERT_STRING_EQUAL(a.confirmations, want);
	CU_ASSERT_STRING_EQUAL(a.checkpoint_key, "/etc/kpgate/checkpoint.key");
	CU_ASSERT_STRING_EQUAL(gw_audit_mode_name(a.mode), "synced");
}

/* An empty group records with the defaults: written, audit.log beside. */
static void test_defaults(void)
{
	struct gw_audit_conf a;
	char err[300], want[300];

	CU_ASSERT_EQUAL_FATAL(load("audit: { };\n", &a, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(a.mode, GW_AUDIT_WRITTEN);
	snprintf(want, sizeof(want), "%s/audit.log", dir);
	CU_ASSERT_STRING_EQUAL(a.file, want);
	CU_ASSERT_EQUAL(a.batch, 64);
	CU_ASSERT_EQUAL(a.sync_interval_us, 1000);
	CU_ASSERT_EQUAL(a.held_max, 4096);
	CU_ASSERT_STRING_EQUAL(a.confirmations, "");
}

static void test_mistakes_refused(void)
{
	expect_refused("audit: {\n  mode = \"fast\";\n};\n", 2, "'mode' must be");
	expect_refused("audit: {\n  mode = 1;\n};\n", 2, "'mode' must be");
	expect_refused("audit: {\n  fsync = true;\n};\n", 2, "unknown key 'fsync'");
	expect_refused("audit: {\n\n  batch = 0;\n};\n", 3, "'batch' = 0 is out of range");
	expect_refused("audit: {\n  held_max = 8;\n};\n", 2, "'held_max' = 8");
	expect_refused("audit: {\n  file = \"\";\n};\n", 2, "'file' is empty");
	expect_refused("audit: {\n  sync_interval_us = \"1ms\";\n};\n", 2,
		       "must be an integer");
	expect_refused("gateway: { checkpoint = \"X\"; };\n"
		       "audit: {\n  confirmations = \"c\";\n};\n", 3,
		       "needs 'checkpoint_key'");
	expect_refused("gateway: { checkpoint = \"X\"; };\n"
		       "audit: {\n  checkpoint_key = \"k\";\n};\n", 3,
		       "without 'confirmations'");
	expect_refused("audit: {\n  confirmations = \"c\";\n  checkpoint_key = \"k\";\n};\n",
		       2, "set gateway.checkpoint");
}

static void test_example_config(void)
{
	struct gw_config c;
	struct gw_audit_conf a;
	char err[600];
	const char *src = getenv("KPGATE_EXAMPLE_CONF");

	if (src == NULL)
		return;
	CU_ASSERT_EQUAL_FATAL(gw_config_load(&c, src, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(gw_audit_conf_load(&c, &a, err, sizeof(err)), 0);
	CU_ASSERT_NOT_EQUAL(a.mode, GW_AUDIT_OFF);
}

static int setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_gw_audit_conf.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/kpgate.conf", dir);
	unlink(path);
	rmdir(dir);
	return 0;
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "no audit group: nothing recorded", test_absent_is_off },
		{ "every key read back", test_every_key },
		{ "an empty group records with the defaults", test_defaults },
		{ "mistakes refused with file:line", test_mistakes_refused },
		{ "the example config's audit group is valid", test_example_config },
		{ NULL, NULL },
	};

	return kpg_cunit_run("gw_audit_conf", tests, setup, teardown);
}
