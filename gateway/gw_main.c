/* gw_main.c — kpgate: `kpgate [EAL args] -- [-c FILE] [--check-config]`.
 * Reads the config before the EAL starts (so a bad file costs nothing),
 * sets up ports, trust list, workers, telemetry and metrics, launches the
 * worker lcores and keeps the main lcore for control: signals set flags only, a
 * SIGHUP reloads the trust list here. Shutdown is ordered: workers drain
 * and return, ports stop and close, pools and engines are freed, then
 * rte_eal_cleanup(). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include "gw_audit.h"
#include "gw_config.h"
#include "gw_log.h"
#include "gw_metrics.h"
#include "gw_port.h"
#include "gw_stats.h"
#include "gw_telemetry.h"
#include "gw_policy.h"
#include "gw_station.h"
#include "gw_trust.h"
#include "gw_worker.h"

int gw_logtype;

static volatile sig_atomic_t reload_requested;
static struct gw_config cfg;
static struct gw_ports ports;
static struct gw_worker *workers[RTE_MAX_LCORE];
static unsigned n_workers;
static struct gw_audit_conf audit_conf;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_requested = 1;
	else
		gw_worker_stop_all();
}

/* Main lcore, between bursts or control sleeps. self_slot: the main
 * lcore's reader slot when it runs the worker loop itself, else -1. */
static void control_poll_slot(int self_slot)
{
	char msg[256];

	if (!reload_requested)
		return;
	reload_requested = 0;
	/* SIGHUP reloads the trust list, the plugin chain and the stations. */
	if (gw_trust_reload(self_slot, msg, sizeof(msg)) == -EBUSY ||
	    gw_policy_reload(self_slot, msg, sizeof(msg)) == -EBUSY ||
	    gw_station_reload(self_slot, msg, sizeof(msg)) == -EBUSY)
		reload_requested = 1;        /* telemetry is reloading: later */
}

static void control_inline(void)
{
	control_poll_slot(0);
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [EAL args] -- [-c FILE] [--check-config]\n"
		"  -c, --config FILE   libconfig file (see deploy/kpgate.conf);\n"
		"                      without it the embedded defaults run\n"
		"  --check-config      check the file, print the verdict, exit\n",
		prog);
}

/* App arguments are those after "--"; they are read before the EAL. */
static int parse_app_args(int argc, char **argv, const char **conf_path,
			  bool *check)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
			if (i + 1 == argc)
				return -EINVAL;
			*conf_path = argv[++i];
		} else if (strcmp(argv[i], "--check-config") == 0) {
			*check = true;
		} else {
			return -EINVAL;
		}
	}
	return 0;
}

static int print_ready(void)
{
	uint64_t version;
	int64_t issued, next;
	unsigned keys;
	char d[160], tv[32] = "none";

	if (gw_trust_describe(&version, &issued, &next, &keys) == 0)
		snprintf(tv, sizeof(tv), "%" PRIu64, version);
	printf("kpgate: ready:");
	for (unsigned i = 0; i < ports.n; i++) {
		gw_port_describe(&ports.port[i], d, sizeof(d));
		printf(" %s,", d);
	}
	printf(" udp %u, %u worker(s), trust list version %s\n", cfg.udp_port,
	       n_workers, tv);
	return fflush(stdout);
}

static void workers_delete(void)
{
	for (unsigned i = 0; i < n_workers; i++) {
		gw_worker_delete(workers[i]);
		workers[i] = NULL;
	}
	n_workers = 0;
}

int main(int argc, char **argv)
{
	unsigned lcores[RTE_MAX_LCORE], lcore;
	const char *conf_path = NULL;
	bool check = false, inline_worker;
	struct sigaction sa;
	char err[512];
	int eal_argc = argc, rc, status = EXIT_FAILURE;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			eal_argc = i;
			break;
		}
	if (parse_app_args(argc - eal_argc - (eal_argc < argc),
			   argv + eal_argc + (eal_argc < argc),
			   &conf_path, &check) != 0) {
		usage(argv[0]);
		return 2;
	}
	if (conf_path) {
		if (gw_config_load(&cfg, conf_path, err, sizeof(err)) != 0) {
			fprintf(stderr, "kpgate: %s\n", err);
			return EXIT_FAILURE;
		}
	} else {
		gw_config_defaults(&cfg);
	}
	/* The metrics group is the metrics module's; read before the EAL
	 * like the rest, so --check-config sees its mistakes too. */
	if (gw_metrics_configure(&cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "kpgate: %s\n", err);
		return EXIT_FAILURE;
	}
	if (gw_audit_conf_load(&cfg, &audit_conf, err, sizeof(err)) != 0) {
		fprintf(stderr, "kpgate: %s\n", err);
		return EXIT_FAILURE;
	}
	if (gw_station_configure(&cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "kpgate: %s\n", err);
		return EXIT_FAILURE;
	}
	if (check) {
		printf("kpgate: %s: config OK\n", conf_path ? conf_path : "defaults");
		return EXIT_SUCCESS;
	}

	rc = rte_eal_init(eal_argc, argv);
	if (rc < 0) {
		fprintf(stderr, "kpgate: EAL init failed: %s\n", rte_strerror(rte_errno));
		return EXIT_FAILURE;
	}
	gw_logtype = rte_log_register_type_and_pick_level("kpgate", RTE_LOG_INFO);
	if (gw_logtype < 0)
		gw_logtype = RTE_LOGTYPE_USER1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	/* Worker lcores, or the main lcore alone when the EAL has none. */
	RTE_LCORE_FOREACH_WORKER(lcore)
		lcores[n_workers++] = lcore;
	inline_worker = n_workers == 0;
	if (inline_worker)
		lcores[n_workers++] = rte_get_main_lcore();
	GW_LOG(INFO, "starting %s, %s, %u worker(s)%s\n", KPGATE_VERSION,
	       conf_path ? conf_path : "embedded defaults", n_workers,
	       inline_worker ? " on the main lcore" : "");

	if (gw_ports_init(&ports, &cfg, lcores, n_workers) != 0)
		goto out_ports;
	if (gw_trust_init(&cfg, n_workers) != 0)
		goto out_ports;
	if (gw_policy_init(&cfg, n_workers) != 0) {
		gw_trust_fini();
		goto out_ports;
	}
	if (gw_station_init(n_workers) != 0) {
		gw_policy_fini();
		gw_trust_fini();
		goto out_ports;
	}
	/* Answers 503 until the workers are opened to readers below. */
	if (gw_metrics_start() != 0) {
		gw_station_fini();
		gw_policy_fini();
		gw_trust_fini();
		goto out_ports;
	}
	{
		unsigned n = n_workers;

		n_workers = 0;
		for (unsigned i = 0; i < n; i++) {
			workers[i] = gw_worker_new(i, lcores[i], &cfg, &ports);
			if (workers[i] == NULL)
				goto out_workers;
			n_workers++;
		}
	}
	/* Lanes and the writer before any worker runs: no answer unrecorded. */
	if (gw_audit_init(&audit_conf, &cfg, workers, n_workers) != 0)
		goto out_workers;
	gw_stats_open(workers, n_workers);
	gw_telemetry_init(workers, n_workers, &ports);

	if (inline_worker) {
		workers[0]->control = control_inline;
		print_ready();
		gw_worker_main(workers[0]);
	} else {
		for (unsigned i = 0; i < n_workers; i++)
			rte_eal_remote_launch(gw_worker_main, workers[i], lcores[i]);
		print_ready();
		while (!gw_worker_stopping()) {
			control_poll_slot(-1);
			usleep(10000);
		}
	}
	GW_LOG(INFO, "stopping: draining workers\n");
	rte_eal_mp_wait_lcore();
	status = EXIT_SUCCESS;

	gw_telemetry_fini();
	gw_stats_close();
out_workers:
	/* Workers returned with their held replies sent: the writer writes
	 * what is left, syncs and closes the log. */
	gw_audit_fini();
	gw_metrics_stop();
	gw_ports_fini(&ports);
	workers_delete();
	gw_station_fini();
	gw_policy_fini();
	gw_trust_fini();
	goto out_eal;
out_ports:
	gw_ports_fini(&ports);
out_eal:
	GW_LOG(INFO, "stopped\n");
	rte_eal_cleanup();
	if (status == EXIT_SUCCESS)
		printf("kpgate: stopped\n");
	return status;
}
