/* fuzz_config.c — gw_config_load() on arbitrary file contents.
 *
 * The input is written to kpgate.conf in a scratch directory and loaded.
 * Checked beyond "no crash": a refusal says "file:line: reason"; an
 * accepted configuration holds only values in the documented ranges
 * (deploy/kpgate.conf), which the rest of kpgate relies on unchecked. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_config.h"
#include "fuzz_check.h"

static char dir[64], path[96];

static void fuzz_config_fini(void)
{
	unlink(path);
	rmdir(dir);
}

static void fuzz_config_init(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/kpgfuzz.XXXXXX",
		 tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	FUZZ_CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/kpgate.conf", dir);
	atexit(fuzz_config_fini);
}

static void check_config(const struct gw_config *c)
{
	FUZZ_CHECK(c->udp_port >= 1);
	FUZZ_CHECK(c->burst >= 1 && c->burst <= GW_BURST_MAX);
	FUZZ_CHECK(c->cold_queue >= 1 && c->cold_queue <= 1u << 16);
	FUZZ_CHECK(c->verifies_per_loop >= 1 && c->verifies_per_loop <= GW_BURST_MAX);
	FUZZ_CHECK(c->clock_skew_s >= 0 && c->clock_skew_s <= 7 * 86400);
	FUZZ_CHECK(c->cache_entries >= 8 && c->cache_entries <= 1u << 24);
	FUZZ_CHECK(c->mbufs >= 1023 && c->mbufs <= 1u << 24);
	FUZZ_CHECK(c->idle_sleep_us <= 1000000);
	FUZZ_CHECK(c->n_ports >= 1 && c->n_ports <= GW_PORTS_MAX);
	for (unsigned i = 0; i < c->n_ports; i++) {
		FUZZ_CHECK(c->ports[i].has_ip4 || c->ports[i].has_ip6);
		FUZZ_CHECK(c->ports[i].vlan <= 4094);
	}
	FUZZ_CHECK(c->trust_grace_s >= 0 && c->trust_grace_s <= 365 * 86400);
	FUZZ_CHECK(c->n_anchors <= KPG_ANCHORS_MAX);
	if (c->has_trust)
		FUZZ_CHECK(c->trust_list[0] != '\0' && c->n_anchors >= 1);
	FUZZ_CHECK(strnlen(c->checkpoint, sizeof(c->checkpoint)) < sizeof(c->checkpoint));
	FUZZ_CHECK(strnlen(c->jurisdiction, sizeof(c->jurisdiction)) < sizeof(c->jurisdiction));
	FUZZ_CHECK(strnlen(c->trust_list, sizeof(c->trust_list)) < sizeof(c->trust_list));
	FUZZ_CHECK(strcmp(gw_backend_name(c->backend), "unknown") != 0);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static struct gw_config c;       /* ~70 KiB of paths: not on the stack */
	char err[512] = "";
	FILE *f;
	int rc;

	if (dir[0] == '\0')
		fuzz_config_init();
	/* @include reads other files by design (the config is the operator's
	 * own); "/dev/zero" would only measure the disk, not the parser. */
	if (memmem(data, size, "@include", 8) != NULL)
		return 0;

	f = fopen(path, "wb");
	FUZZ_CHECK(f != NULL);
	FUZZ_CHECK(fwrite(data, 1, size, f) == size);
	FUZZ_CHECK(fclose(f) == 0);

	rc = gw_config_load(&c, path, err, sizeof(err));
	if (rc == 0) {
		check_config(&c);
	} else {
		FUZZ_CHECK(rc == -EINVAL || rc == -ENOENT || rc == -ENAMETOOLONG);
		/* "file:line: reason", or "file: reason" */
		FUZZ_CHECK(strncmp(err, path, strlen(path)) == 0 &&
			   err[strlen(path)] == ':');
	}
	return 0;
}
