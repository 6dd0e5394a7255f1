/* kpg-bench-chain — ns per request of a policy chain, on one core.
 *
 * Builds the chain of a kpgate config file's `plugins` list through the
 * real plugin host (the plugins are the built .so files) and runs a typical
 * accepted request through evaluate + commit, as a worker does on the warm
 * path; then each plugin alone. Prints a table. A benchmark, not a test:
 *
 *   build/plugins/kpg-bench-chain deploy/kpgate.conf [iterations]
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libconfig.h>

#include "kpg_date.h"
#include "kpg_plugin_host.h"

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* A parcel as an Antwerp checkpoint sees it every day: one South African
 * origin, gem quality, at about the 2023 average price, all measured. */
static void typical(struct kpg_scan_view *sv, struct kpg_cert *c,
		    struct kpg_measurement *m, struct kpg_key_view *k,
		    int64_t now, unsigned k_index)
{
	static struct kpg_origin origin = { .country = "ZA" };
	static struct kpg_hs_line line = { KPG_HS_7102_31, 123456, 16666560 };
	static struct kpg_str seal = { "SEAL-ZA-000101", 14 };
	static uint8_t key_id[16] = { 1 };
	static char number[32];
	uint32_t today = kpg_date_from_unix(now);

	/* A new number each time, so a consumption ledger sees new parcels. */
	snprintf(number, sizeof(number), "ZA-2026-%09u", k_index);
	*c = (struct kpg_cert){
		.number = { number, (uint32_t)strlen(number) },
		.issuing_participant = "ZA",
		.issuing_authority = { "South African Diamond and Precious Metals Regulator", 51 },
		.exporter = { { "Kimberley Rough Exports (Pty) Ltd", 33 }, { "", 0 }, { "EXP-4471", 8 } },
		.importer = { { "Antwerp Diamond Trading NV", 26 }, { "", 0 }, { "BE0412345678", 12 } },
		.importing_participant = "EU",
		.n_origins = 1,
		.origins = &origin,
		.n_lines = 1,
		.lines = &line,
		.parcels = 1,
		.issue_date = kpg_date_from_unix(now - 10 * 86400),
		.expiry_date = kpg_date_from_unix(now + 80 * 86400),
		.n_seals = 1,
		.seals = &seal,
		.traceability_ref = { "", 0 },
		.total_carats_centi = line.carats_centi,
		.total_value_usd_cents = line.value_usd_cents,
	};
	*m = (struct kpg_measurement){
		.has_parcel_count = true, .has_gross_mass = true, .has_seal = true,
		.parcel_count = 1,
		.gross_mass_mg = line.carats_centi * 2 + 5000,
		.seal_number = seal,
	};
	*k = (struct kpg_key_view){
		.key_id = key_id, .participant = "ZA",
		.authority = c->issuing_authority.p, .alg = 1,
		.status = KPG_KEY_ACTIVE,
		.not_before = now - 365 * 86400, .not_after = now + 365 * 86400,
	};
	*sv = (struct kpg_scan_view){
		.request_id = k_index, .station_id = { "BE-ANR-01-S1", 12 },
		.scan_time = now, .now = now, .today = today, .worker = 0,
		.cert = c, .measurement = m, .key = k, .trust_version = 1,
		.issuer_status = KPG_PARTICIPANT_MEMBER,
		.importer_status = KPG_PARTICIPANT_MEMBER,
		.cert_bytes = (const uint8_t *)number, .cert_len = (uint32_t)strlen(number),
	};
}

static double run(const struct kpg_chain *chain, unsigned iters, int64_t now,
		  enum kpg_decision *last)
{
	struct kpg_scan_view sv;
	struct kpg_cert c;
	struct kpg_measurement m;
	struct kpg_key_view k;
	struct kpg_verdicts vs;
	double t0, total = 0;

	for (unsigned i = 0; i < iters; i++) {
		typical(&sv, &c, &m, &k, now, i);
		vs.n = 0;
		t0 = now_ns();
		kpg_chain_evaluate(chain, &sv, &vs);
		*last = kpg_decision_aggregate(&vs);
		kpg_chain_commit(chain, &sv, *last);
		total += now_ns() - t0;
	}
	return total / iters;
}

int main(int argc, char **argv)
{
	unsigned iters = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 200000;
	char exe[PATH_MAX], dir[PATH_MAX], err[1024], cdir[PATH_MAX];
	const char *dirs[2] = { dir, NULL };
	struct kpg_plugin_host *h;
	struct kpg_chain *chain;
	enum kpg_decision last;
	config_t cf;
	ssize_t n;
	int64_t now = time(NULL);

	if (argc < 2) {
		fprintf(stderr, "usage: %s KPGATE.CONF [iterations]\n", argv[0]);
		return 2;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return 1;
	exe[n] = '\0';
	snprintf(dir, sizeof(dir), "%s", dirname(exe));       /* build/plugins */
	snprintf(cdir, sizeof(cdir), "%s", argv[1]);

	config_init(&cf);
	if (!config_read_file(&cf, argv[1])) {
		fprintf(stderr, "%s:%d: %s\n", argv[1], config_error_line(&cf),
			config_error_text(&cf));
		return 1;
	}
	const config_setting_t *list = config_lookup(&cf, "plugins");
	if (list == NULL) {
		fprintf(stderr, "%s: no plugins list\n", argv[1]);
		return 1;
	}
	char statedir[] = "/tmp/kpg-bench-chain-XXXXXX";
	if (mkdtemp(statedir) == NULL)
		return 1;
	const char *jur = NULL;
	config_lookup_string(&cf, "gateway.jurisdiction", &jur);
	struct kpg_plugin_host_conf hc = {
		.workers = 1, .checkpoint = "bench", .jurisdiction = jur ? jur : "EU",
		.config_dir = dirname(cdir), .state_dir = statedir, .search_dirs = dirs,
	};
	h = kpg_plugin_host_new(&hc);
	chain = h ? kpg_chain_build(h, list, err, sizeof(err)) : NULL;
	if (chain == NULL) {
		fprintf(stderr, "chain refused: %s\n", err);
		return 1;
	}
	unsigned len = kpg_chain_length(chain);
	double ns[KPG_PLUGINS_MAX + 1];
	const char *names[KPG_PLUGINS_MAX];

	for (unsigned i = 0; i < len; i++)
		names[i] = kpg_chain_name(chain, i);
	/* Whole chain, then shorter and shorter prefixes of it: each
	 * plugin's cost is what removing it saves. Warm up each first. */
	ns[len] = (run(chain, iters / 10 + 1, now, &last), run(chain, iters, now, &last));
	enum kpg_decision overall = last;
	config_setting_t *mlist = config_lookup(&cf, "plugins");
	for (unsigned k = len; k-- > 0;) {
		struct kpg_chain *shorter;

		config_setting_remove_elem(mlist, k);
		shorter = kpg_chain_build(h, mlist, err, sizeof(err));
		if (shorter == NULL) {
			fprintf(stderr, "chain refused: %s\n", err);
			return 1;
		}
		ns[k] = (run(shorter, iters / 10 + 1, now, &last),
			 run(shorter, iters, now, &last));
		kpg_chain_delete(shorter);
	}

	printf("policy chain of %s, %u requests, one core\n", argv[1], iters);
	printf("  %-14s %10s\n", "plugin", "ns/request");
	for (unsigned i = 0; i < len; i++)
		printf("  %-14s %10.1f\n", names[i], ns[i + 1] - ns[i]);
	printf("  %-14s %10.1f   (overall decision %s)\n",
	       "whole chain", ns[len], kpg_decision_name(overall));
	printf("  %-14s %10.1f   (clock reads and an empty chain: already in the figures above)\n",
	       "baseline", ns[0]);
	printf("  chain cost %.1f ns per request beyond the baseline; target < 250 ns\n",
	       ns[len] - ns[0]);

	kpg_chain_delete(chain);
	kpg_plugin_host_delete(h);
	config_destroy(&cf);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", statedir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", statedir);
	return 0;
}
