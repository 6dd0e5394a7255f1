/* test_gw_station.c — the stations as an operator writes them: a valid
 * file reads back every station, each mistake is refused with file:line,
 * and the example in deploy/kpgate.conf reads as it is documented. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_station_conf.h"
#include "kpg_cunit.h"
#include "kpg_testkit.h"

static char *dir;

#define KEY1 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static const char *write_file(const char *name, const char *text)
{
	static char path[512];
	FILE *f;

	kpg_tk_path(path, sizeof(path), dir, name);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void expect_refused(const char *text, int line, const char *what)
{
	struct gw_station_conf c;
	char err[512], want[600];
	const char *path = write_file("bad.conf", text);

	CU_ASSERT_EQUAL(gw_station_conf_load(path, dir, &c, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:%d: ", path, line);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, what));
	if (!strstr(err, want) || !strstr(err, what))
		fprintf(stderr, "  got \"%s\", want \"%s...%s\"\n", err, want, what);
	gw_station_conf_free(&c);
}

static void test_valid(void)
{
	struct gw_station_conf c;
	char err[512];
	const char *path;

	write_file("gate-2.key", "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n");
	path = write_file("kpgate.conf",
		"station_policy: { hmac = \"optional\"; unknown = \"serve\";\n"
		"  rate = 7; burst = 9; unknown_rate = 3; unknown_burst = 4;\n"
		"  replay_entries = 1000; };\n"
		"stations: (\n"
		"  { id = \"gate-1\"; key = \"" KEY1 "\"; hmac = \"required\";\n"
		"    addresses = [ \"192.0.2.2\", \"2001:db8::2\" ]; rate = 50; },\n"
		"  { id = \"gate-2\"; key_file = \"gate-2.key\"; },\n"
		"  { id = \"old_scanner\"; hmac = \"off\"; addresses = [ \"198.51.100.9\" ]; }\n"
		");\n");
	CU_ASSERT_EQUAL_FATAL(gw_station_conf_load(path, dir, &c, err, sizeof(err)), 0);
	CU_ASSERT_TRUE(c.configured);
	CU_ASSERT_EQUAL(c.replay_entries, 1000);
	CU_ASSERT_TRUE(c.t.allow_unknown);
	CU_ASSERT_EQUAL(c.t.unknown_rate, 3);
	CU_ASSERT_EQUAL(c.t.unknown_burst, 4);
	CU_ASSERT_EQUAL_FATAL(c.t.n, 3);
	CU_ASSERT_STRING_EQUAL(c.list[0].id, "gate-1");
	CU_ASSERT_EQUAL(c.list[0].hmac, KPG_HMAC_REQUIRED);
	CU_ASSERT_EQUAL(c.list[0].key[1], 0x11);
	CU_ASSERT_EQUAL(c.list[0].rate, 50);
	CU_ASSERT_EQUAL(c.list[0].burst, 9);         /* the policy's default */
	CU_ASSERT_EQUAL(c.list[0].n_addrs, 2);
	CU_ASSERT_EQUAL(c.list[0].addrs[0].family, 4);
	CU_ASSERT_EQUAL(c.list[0].addrs[0].a[3], 2);
	CU_ASSERT_EQUAL(c.list[0].addrs[1].family, 6);
	CU_ASSERT_EQUAL(c.list[1].hmac, KPG_HMAC_OPTIONAL);
	CU_ASSERT_TRUE(c.list[1].has_key);
	CU_ASSERT_EQUAL(c.list[1].key[0], 0xff);
	CU_ASSERT_EQUAL(c.list[1].rate, 7);
	CU_ASSERT_EQUAL(c.list[2].hmac, KPG_HMAC_OFF);
	CU_ASSERT_FALSE(c.list[2].has_key);

	/* what gw_station builds from it */
	c.t.slots = 2;
	struct kpg_stations *t = kpg_stations_new(&c.t, NULL, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(t);
	CU_ASSERT_EQUAL(kpg_stations_count(t), 3);
	kpg_stations_delete(t);
	gw_station_conf_free(&c);
}

static void test_absent(void)
{
	struct gw_station_conf c;
	char err[512];
	const char *path = write_file("plain.conf", "gateway: { udp_port = 7102; };\n");

	CU_ASSERT_EQUAL(gw_station_conf_load(path, dir, &c, err, sizeof(err)), 0);
	CU_ASSERT_FALSE(c.configured);
	CU_ASSERT_EQUAL(c.replay_entries, GW_REPLAY_ENTRIES_DEFAULT);
	gw_station_conf_free(&c);
	CU_ASSERT_EQUAL(gw_station_conf_load("", dir, &c, err, sizeof(err)), 0);
	CU_ASSERT_FALSE(c.configured);
	gw_station_conf_free(&c);
}

static void test_refusals(void)
{
	expect_refused("stations: (\n  { id = \"a\"; key = \"" KEY1 "\"; colour = 1; }\n);\n",
		       2, "unknown key 'colour'");
	expect_refused("stations: (\n  { id = \"a\";\n    key = \"" KEY1 "\";\n"
		       "    hmac = \"maybe\"; }\n);\n", 4, "'hmac' must be");
	expect_refused("stations: (\n  { id = \"a\";\n    key = \"0011\"; }\n);\n",
		       3, "hex digits");
	expect_refused("stations: (\n  { id = \"a\";\n    key_file = \"none.key\"; }\n);\n",
		       3, "none.key");
	expect_refused("stations: (\n  { id = \"a\"; key = \"" KEY1 "\";\n"
		       "    key_file = \"gate-2.key\"; }\n);\n", 3, "not both");
	expect_refused("stations: (\n  { id = \"a\"; key = \"" KEY1 "\";\n"
		       "    addresses = [ \"192.0.2.300\" ]; }\n);\n", 3,
		       "not an IPv4 or IPv6 address");
	expect_refused("stations: (\n  { id = \"a\"; key = \"" KEY1 "\"; },\n"
		       "  { id = \"b\"; key = \"" KEY1 "\"; },\n"
		       "  { id = \"a\"; key = \"" KEY1 "\"; }\n);\n", 4, "listed twice");
	expect_refused("station_policy: { hmac = \"off\"; };\n", 1, "without a 'stations'");
	expect_refused("stations: (\n  { id = \"a\"; }\n);\n", 2, "needs a key");
	expect_refused("stations: (\n  { id = \"a\"; hmac = \"off\"; }\n);\n", 2,
		       "needs addresses");
	expect_refused("stations: (\n  { id = \"a\"; key = \"" KEY1 "\";\n"
		       "    rate = 0; }\n);\n", 3, "out of range");
	expect_refused("stations: (\n  { id = \"gate 1\"; key = \"" KEY1 "\"; }\n);\n",
		       2, "letters, digits");
	expect_refused("stations: (\n  { id = \"a\"; key = \"" KEY1 "\"; }\n);\n"
		       "station_policy: { unknown = \"welcome\"; };\n", 4, "'unknown' must be");
	expect_refused("stations = { id = \"a\"; };\n", 1, "must be a list");
}

/* The commented example in deploy/kpgate.conf, uncommented, is valid. */
static void test_example(void)
{
	const char *src = getenv("KPGATE_EXAMPLE_CONF");
	char line[512], text[8192] = "", err[512];
	struct gw_station_conf c;
	bool in = false;
	size_t n = 0;
	FILE *f;

	if (src == NULL)
		return;
	f = fopen(src, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "# station_policy:", 17) == 0)
			in = true;
		if (!in)
			continue;
		if (strncmp(line, "# ", 2) != 0 && strcmp(line, "#\n") != 0)
			break;
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s",
				      line[1] == '\n' ? "\n" : line + 2);
	}
	fclose(f);
	CU_ASSERT_FATAL(in);
	write_file("gate-2.key", KEY1 "\n");
	CU_ASSERT_EQUAL(gw_station_conf_load(write_file("example.conf", text), dir, &c,
					     err, sizeof(err)), 0);
	if (!c.configured)
		fprintf(stderr, "  %s\n%s", err, text);
	CU_ASSERT_TRUE(c.configured);
	CU_ASSERT(c.t.n >= 2);
	gw_station_conf_free(&c);
}

static int setup(void)
{
	dir = kpg_tk_tmpdir();
	return dir ? 0 : -1;
}

static int teardown(void)
{
	kpg_tk_rmtree(dir);
	free(dir);
	return 0;
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "a valid stations list reads back", test_valid },
		{ "no stations list: none", test_absent },
		{ "mistakes refused with file:line", test_refusals },
		{ "the example in deploy/kpgate.conf", test_example },
		{ NULL, NULL },
	};

	return kpg_cunit_run("gateway/station_conf", tests, setup, teardown);
}
