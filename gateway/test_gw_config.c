/* test_gw_config.c — the config file as an operator writes it: a valid file
 * reads back every value, and each mistake is refused with file:line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_config.h"
#include "kpg_cunit.h"

static char dir[64];

static const char *write_conf(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* Loads text; expects refusal naming "file:line:" and containing what. */
static void expect_refused(const char *text, int line, const char *what)
{
	struct gw_config c;
	char err[512], want[300];
	const char *path = write_conf("bad.conf", text);

	CU_ASSERT_EQUAL(gw_config_load(&c, path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:%d: ", path, line);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, what));
	if (!strstr(err, want) || !strstr(err, what))
		fprintf(stderr, "  got \"%s\", want \"%s...%s\"\n", err, want, what);
}

static const char VALID[] =
	"# example\n"
	"gateway: {\n"
	"  udp_port = 7200;\n"
	"  burst = 16;\n"
	"  cold_queue = 512;\n"
	"  verifies_per_loop = 4;\n"
	"  verify_budget_us = 50;\n"
	"  clock_skew = 120;\n"
	"  cache_entries = 4096;\n"
	"  mbufs = 4095;\n"
	"  idle: { polls = 10; sleep_us = 0; };\n"
	"};\n"
	"ports: (\n"
	"  { address = \"192.0.2.1\"; address6 = \"2001:db8::1\"; vlan = 0; },\n"
	"  { address = \"198.51.100.7\"; vlan = 12; }\n"
	");\n"
	"trust: {\n"
	"  list = \"lists/trust.kptl\";\n"
	"  anchors = [ \"anchor.pub\", \"/etc/kpgate/next.pub\" ];\n"
	"  state = \"trust.state\";\n"
	"  grace = 3600;\n"
	"  backend = \"openssl\";\n"
	"};\n";

static void test_valid(void)
{
	struct gw_config c;
	char err[512], want[300];
	const char *path = write_conf("kpgate.conf", VALID);

	CU_ASSERT_EQUAL_FATAL(gw_config_load(&c, path, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.udp_port, 7200);
	CU_ASSERT_EQUAL(c.burst, 16);
	CU_ASSERT_EQUAL(c.cold_queue, 512);
	CU_ASSERT_EQUAL(c.verifies_per_loop, 4);
	CU_ASSERT_EQUAL(c.verify_budget_us, 50);
	CU_ASSERT_EQUAL(c.clock_skew_s, 120);
	CU_ASSERT_EQUAL(c.cache_entries, 4096);
	CU_ASSERT_EQUAL(c.mbufs, 4095);
	CU_ASSERT_EQUAL(c.idle_polls, 10);
	CU_ASSERT_EQUAL(c.idle_sleep_us, 0);
	CU_ASSERT_EQUAL(c.n_ports, 2);
	CU_ASSERT_TRUE(c.ports[0].has_ip4 && c.ports[0].has_ip6);
	CU_ASSERT_EQUAL(c.ports[0].ip4[0], 192);
	CU_ASSERT_EQUAL(c.ports[0].ip4[3], 1);
	CU_ASSERT_EQUAL(c.ports[0].ip6[0], 0x20);
	CU_ASSERT_EQUAL(c.ports[0].ip6[15], 1);
	CU_ASSERT_FALSE(c.ports[1].has_ip6);
	CU_ASSERT_EQUAL(c.ports[1].vlan, 12);
	CU_ASSERT_EQUAL(c.ports[1].ip4[3], 7);
	CU_ASSERT_TRUE(c.has_trust);
	CU_ASSERT_EQUAL(c.trust_grace_s, 3600);
	CU_ASSERT_EQUAL(c.backend, KPG_BACKEND_OPENSSL);
	CU_ASSERT_EQUAL(c.n_anchors, 2);

	/* relative to the config file's directory; absolute left alone */
	snprintf(want, sizeof(want), "%s/lists/trust.kptl", dir);
	CU_ASSERT_STRING_EQUAL(c.trust_list, want);
	snprintf(want, sizeof(want), "%s/anchor.pub", dir);
	CU_ASSERT_STRING_EQUAL(c.anchors[0], want);
	CU_ASSERT_STRING_EQUAL(c.anchors[1], "/etc/kpgate/next.pub");
	snprintf(want, sizeof(want), "%s/trust.state", dir);
	CU_ASSERT_STRING_EQUAL(c.trust_state, want);
}

static void test_defaults(void)
{
	struct gw_config c;
	char err[512];
	const char *path = write_conf("empty.conf", "# nothing\n");

	CU_ASSERT_EQUAL_FATAL(gw_config_load(&c, path, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(c.udp_port, 7102);
	CU_ASSERT_EQUAL(c.burst, 32);
	CU_ASSERT_EQUAL(c.cold_queue, 1024);
	CU_ASSERT_EQUAL(c.idle_sleep_us, 100);
	CU_ASSERT_EQUAL(c.n_ports, 1);
	CU_ASSERT_FALSE(c.has_trust);
}

static void test_unknown_key(void)
{
	expect_refused("gateway: {\n  udp_port = 7102;\n  bursts = 32;\n};\n",
		       3, "unknown key 'bursts'");
	expect_refused("\n\nfrobnicate = 1;\n", 3, "unknown key 'frobnicate'");
	expect_refused("ports: ( { address = \"192.0.2.1\";\n mac = \"x\"; } );\n",
		       2, "unknown key 'mac'");
	expect_refused("gateway: { idle: {\n polls = 3;\n sleep = 1; }; };\n",
		       3, "unknown key 'sleep'");
}

static void test_duplicate(void)
{
	expect_refused("gateway: {\n  burst = 32;\n  burst = 16;\n};\n",
		       3, "duplicate");
}

static void test_bad_values(void)
{
	expect_refused("gateway: {\n\n  burst = 1000;\n};\n", 3, "'burst'");
	expect_refused("gateway: {\n  udp_port = \"7102\";\n};\n", 2,
		       "must be an integer");
	expect_refused("gateway: {\n  udp_port = 0;\n};\n", 2, "out of range");
	expect_refused("gateway: {\n  verify_budget_us = 100001;\n};\n", 2,
		       "out of range");
	expect_refused("gateway: {\n  burst = 3.5;\n};\n", 2, "must be an integer");
	expect_refused("ports: (\n { address = \"192.0.2.300\"; } );\n", 2,
		       "IPv4 address");
	expect_refused("ports: (\n { address6 = \"2001:db8::1\";\n vlan = 5000; } );\n",
		       3, "'vlan'");
	expect_refused("trust: {\n list = \"t\";\n anchors = [ \"a\" ];\n"
		       " backend = \"fast\";\n};\n", 4, "'backend'");
	expect_refused("trust: {\n list = \"t\";\n anchors = [ \"a\", \"b\", \"c\" ];\n};\n",
		       3, "'anchors'");
	/* a syntax error is libconfig's own, with its line */
	expect_refused("gateway: {\n burst = 32;\n udp_port = = 1;\n};\n", 3,
		       "syntax error");
}

static void test_missing_file(void)
{
	struct gw_config c;
	char err[512];

	CU_ASSERT_EQUAL(gw_config_load(&c, "/nonexistent/kpgate.conf", err,
				       sizeof(err)), -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/kpgate.conf"));
}

static void test_example_config(void)
{
	struct gw_config c;
	char err[512];
	const char *src = getenv("KPGATE_EXAMPLE_CONF");

	if (src == NULL)
		return;
	int rc = gw_config_load(&c, src, err, sizeof(err));

	CU_ASSERT_EQUAL(rc, 0);
	if (rc != 0)
		fprintf(stderr, "  %s\n", err);
	CU_ASSERT_TRUE(c.has_trust);
}

static int setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_gw_config.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "valid file parses, paths resolved", test_valid },
		{ "empty file keeps the defaults", test_defaults },
		{ "unknown key refused with file:line", test_unknown_key },
		{ "duplicate refused with file:line", test_duplicate },
		{ "bad values and types refused with line", test_bad_values },
		{ "missing file refused", test_missing_file },
		{ "deploy/kpgate.conf is valid", test_example_config },
		{ NULL, NULL },
	};

	return kpg_cunit_run("gateway/config", tests, setup, teardown);
}
