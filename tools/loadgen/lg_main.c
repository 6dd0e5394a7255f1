/* lg_main.c — kpgate-loadgen, a DPDK load generator for kpgate.
 *
 *   kpgate-loadgen --make-pki DIR [--certs N]        authorities, trust list
 *   kpgate-loadgen [EAL args] -- --pki DIR [options]  send, measure, report
 *
 * Everything costly happens before the first request leaves: certificates
 * are signed by --make-pki, frames are built from them at start, and the
 * gateway's MAC is learned by ARP. Then one lcore sends open loop at the
 * target rate and matches answers; SIGINT/SIGTERM stop sending, drain and
 * report. Shutdown is ordered: port stopped and closed, pool freed, EAL
 * cleaned up. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>

#include "lg_gen.h"
#include "lg_pki.h"
#include "lg_pool.h"
#include "lg_port.h"
#include "lg_report.h"
#include "lg_search.h"

#define LG_FORGED_PER_ALG 1024u
#define LG_UNKNOWN_MAX    1024u
#define LG_MALFORMED_MAX  256u

struct lg_opts {
	const char *make_pki, *pki;
	unsigned certs, rogue_certs;
	uint16_t port_id, queues;
	uint8_t gw_ip4[4], gw_ip6[16], gw_mac[6], src_ip4[4];
	bool has_gw_ip6, has_gw_mac;
	uint16_t gw_port;
	struct lg_run_conf run;
	struct lg_mix mix;
	unsigned warm_certs, stations;
	double ipv6_share;
	bool search, reflector, json;
	struct lg_search_conf sc;
	uint64_t seed;
	double link_wait_s;
};

enum {
	O_MAKE_PKI = 256, O_CERTS, O_ROGUE, O_PKI, O_PORT_ID, O_QUEUES, O_GW_IP,
	O_GW_IP6, O_GW_MAC, O_GW_PORT, O_SRC_IP, O_RATE, O_DURATION, O_COUNT,
	O_MIX, O_WARM, O_FORGED, O_UNKNOWN, O_MALFORMED, O_WARM_CERTS,
	O_STATIONS, O_IPV6, O_TIMEOUT, O_IDLE, O_BURST, O_NO_WARMUP, O_SEARCH,
	O_TRIAL, O_CONFIRM, O_RESOLUTION, O_PDR, O_MAX_RATE, O_REFLECTOR,
	O_JSON, O_QUIET, O_SEED, O_LINK_WAIT, O_MAX_INFLIGHT, O_WATCH_PID, O_RETRIES, O_HELP,
};

static const struct option long_opts[] = {
	{ "make-pki", required_argument, NULL, O_MAKE_PKI },
	{ "certs", required_argument, NULL, O_CERTS },
	{ "rogue-certs", required_argument, NULL, O_ROGUE },
	{ "pki", required_argument, NULL, O_PKI },
	{ "port-id", required_argument, NULL, O_PORT_ID },
	{ "queues", required_argument, NULL, O_QUEUES },
	{ "gw-ip", required_argument, NULL, O_GW_IP },
	{ "gw-ip6", required_argument, NULL, O_GW_IP6 },
	{ "gw-mac", required_argument, NULL, O_GW_MAC },
	{ "gw-port", required_argument, NULL, O_GW_PORT },
	{ "src-ip", required_argument, NULL, O_SRC_IP },
	{ "rate", required_argument, NULL, O_RATE },
	{ "duration", required_argument, NULL, O_DURATION },
	{ "count", required_argument, NULL, O_COUNT },
	{ "mix", required_argument, NULL, O_MIX },
	{ "warm", required_argument, NULL, O_WARM },
	{ "forged", required_argument, NULL, O_FORGED },
	{ "unknown", required_argument, NULL, O_UNKNOWN },
	{ "malformed", required_argument, NULL, O_MALFORMED },
	{ "warm-certs", required_argument, NULL, O_WARM_CERTS },
	{ "stations", required_argument, NULL, O_STATIONS },
	{ "ipv6", required_argument, NULL, O_IPV6 },
	{ "timeout-ms", required_argument, NULL, O_TIMEOUT },
	{ "idle-us", required_argument, NULL, O_IDLE },
	{ "burst", required_argument, NULL, O_BURST },
	{ "no-warmup", no_argument, NULL, O_NO_WARMUP },
	{ "search", no_argument, NULL, O_SEARCH },
	{ "trial", required_argument, NULL, O_TRIAL },
	{ "confirm", required_argument, NULL, O_CONFIRM },
	{ "resolution", required_argument, NULL, O_RESOLUTION },
	{ "pdr-loss", required_argument, NULL, O_PDR },
	{ "max-rate", required_argument, NULL, O_MAX_RATE },
	{ "reflector", no_argument, NULL, O_REFLECTOR },
	{ "json", no_argument, NULL, O_JSON },
	{ "quiet", no_argument, NULL, O_QUIET },
	{ "seed", required_argument, NULL, O_SEED },
	{ "link-wait", required_argument, NULL, O_LINK_WAIT },
	{ "max-inflight", required_argument, NULL, O_MAX_INFLIGHT },
	{ "watch-pid", required_argument, NULL, O_WATCH_PID },
	{ "retries", required_argument, NULL, O_RETRIES },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kpgate-loadgen --make-pki DIR [--certs N] [--rogue-certs N]\n"
		"       kpgate-loadgen [EAL args] -- --pki DIR [options]\n"
		"Sends scan requests to a kpgate gateway over a DPDK port and measures\n"
		"what comes back. On one machine: --vdev net_memif0,role=client,socket=S\n"
		"facing kpgate's --vdev net_memif0,role=server,socket=S; with\n"
		"zero-copy=yes added and the EAL option --single-file-segments, the\n"
		"generator leaves memif's copies to the gateway.\n\n"
		"PKI (no EAL):\n"
		"  --make-pki DIR       anchor, one authority per algorithm, trust.kptl,\n"
		"                       signed certificates (certs-*.bin) in DIR\n"
		"  --certs N            certificates per authority (default 4096)\n"
		"  --rogue-certs N      from a key no list names (default 1024)\n"
		"Port and addresses:\n"
		"  --pki DIR            certificates made by --make-pki (required)\n"
		"  --port-id N          DPDK port (default 0)\n"
		"  --queues N           RX/TX queue pairs; requests spread over them by\n"
		"                       Toeplitz hash of the 5-tuple (default 1)\n"
		"  --gw-ip A, --gw-ip6 A, --gw-port P\n"
		"                       the gateway (192.0.2.1, 2001:db8::1, 7102)\n"
		"  --gw-mac MAC         skip ARP (for a reflector that does not answer it)\n"
		"  --src-ip A           our address for ARP (default 192.0.2.2)\n"
		"Load:\n"
		"  --rate R             requests/s, open loop; 0 = as fast as possible\n"
		"  --max-inflight N     with --rate 0: at most N unanswered (default 1024;\n"
		"                       0 = no bound, the device's ring is the limit)\n"
		"  --duration S         seconds (default 10 unless --count)\n"
		"  --count N            requests\n"
		"  --mix A=W,...        algorithm weights (default ecdsa-p256=1,ed25519=1,rsa-pss=1)\n"
		"  --warm F             share of repeated (cached) certificates (default 0)\n"
		"  --forged F           share with a forged signature (default 0)\n"
		"  --unknown F          share signed by an unknown key (default 0)\n"
		"  --malformed F        share of malformed requests (default 0)\n"
		"  --warm-certs N       hot certificates per algorithm (default 64)\n"
		"  --stations N         source address/port pairs (default 64)\n"
		"  --ipv6 F             share of stations on IPv6 (default 0)\n"
		"  --timeout-ms T       later answers are lost (default 250)\n"
		"  --idle-us U          sleep U us when idle, to share cores (default 0)\n"
		"  --burst N            TX burst (default 32)\n"
		"  --no-warmup          do not send the hot certificates once first\n"
		"Search (RFC 2544 style):\n"
		"  --search             NDR and PDR by binary search, then a confirmation\n"
		"  --trial S            seconds per trial (default 10)\n"
		"  --confirm S          run at 0.9 x NDR (default 60; 0 = none)\n"
		"  --resolution F       (default 0.02)   --pdr-loss F (default 0.005)\n"
		"  --max-rate R         upper bound (default: the generator's top rate)\n"
		"  --watch-pid PID      the gateway's process on this machine: a trial in\n"
		"                       which it or we waited over 2 ms for a CPU is\n"
		"  --retries N          repeated, up to N times (default 2)\n"
		"Output:\n"
		"  --json               JSON on stdout (the summary goes to stderr)\n"
		"  --quiet              no line per second\n"
		"  --reflector          the peer echoes requests (dpdk-testpmd 5tswap)\n"
		"  --seed N, --link-wait S (default 10)\n");
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_uint(const char *s, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-' || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4],
		   &v[5], &tail) != 6)
		return -EINVAL;
	for (unsigned i = 0; i < 6; i++) {
		if (v[i] > 255)
			return -EINVAL;
		mac[i] = (uint8_t)v[i];
	}
	return 0;
}

/* "ecdsa-p256=2,ed25519=1": weights by algorithm name; others 0. */
static int parse_mix(const char *s, struct lg_mix *m)
{
	char buf[256], *save = NULL, *tok;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", s);
	memset(m->alg_weight, 0, sizeof(m->alg_weight));
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		uint64_t w = 1;
		enum kpg_alg a;

		if (eq) {
			*eq = '\0';
			if (parse_uint(eq + 1, 1000000, &w) < 0)
				return -EINVAL;
		}
		a = kpg_alg_from_name(tok);
		if (a == KPG_ALG_NONE)
			return -EINVAL;
		m->alg_weight[a] = (unsigned)w;
	}
	return 0;
}

static void opts_defaults(struct lg_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->certs = 4096;
	o->rogue_certs = 1024;
	o->queues = 1;
	inet_pton(AF_INET, "192.0.2.1", o->gw_ip4);
	inet_pton(AF_INET6, "2001:db8::1", o->gw_ip6);
	inet_pton(AF_INET, "192.0.2.2", o->src_ip4);
	o->has_gw_ip6 = true;
	o->gw_port = 7102;
	o->run = (struct lg_run_conf){
		.label = "run", .timeout_s = 0.25, .burst = 32, .live = true,
		.max_inflight = 1024,
	};
	for (unsigned a = 1; a < LG_ALGS; a++)
		o->mix.alg_weight[a] = 1;
	o->warm_certs = 64;
	o->stations = 64;
	o->sc = (struct lg_search_conf){
		.trial_s = 10, .confirm_s = 60, .resolution = 0.02, .pdr_loss = 0.005,
		.min_rate = 10, .max_trials = 20, .retries = 2,
		.disturbed_ms = 2,
	};
	o->seed = 0x6b7067617465ull;
	o->link_wait_s = 10;
}

static int parse_opts(int argc, char **argv, struct lg_opts *o)
{
	double d;
	uint64_t u;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		const char *a = optarg;
		int bad = 0;

		switch (c) {
		case O_MAKE_PKI: o->make_pki = a; break;
		case O_CERTS: bad = parse_uint(a, 1u << 20, &u); o->certs = (unsigned)u; break;
		case O_ROGUE: bad = parse_uint(a, 1u << 20, &u); o->rogue_certs = (unsigned)u; break;
		case O_PKI: o->pki = a; break;
		case O_PORT_ID: bad = parse_uint(a, RTE_MAX_ETHPORTS - 1, &u); o->port_id = (uint16_t)u; break;
		case O_QUEUES: bad = parse_uint(a, 255, &u) || u == 0; o->queues = (uint16_t)u; break;
		case O_GW_IP: bad = inet_pton(AF_INET, a, o->gw_ip4) != 1; break;
		case O_GW_IP6:
			o->has_gw_ip6 = strcmp(a, "none") != 0;
			bad = o->has_gw_ip6 && inet_pton(AF_INET6, a, o->gw_ip6) != 1;
			break;
		case O_GW_MAC: bad = parse_mac(a, o->gw_mac); o->has_gw_mac = true; break;
		case O_GW_PORT: bad = parse_uint(a, 65535, &u) || u == 0; o->gw_port = (uint16_t)u; break;
		case O_SRC_IP: bad = inet_pton(AF_INET, a, o->src_ip4) != 1; break;
		case O_RATE: bad = parse_double(a, 0, 1e9, &o->run.rate); break;
		case O_DURATION: bad = parse_double(a, 0, 86400, &o->run.duration_s); break;
		case O_COUNT: bad = parse_uint(a, UINT64_MAX, &o->run.count); break;
		case O_MIX: bad = parse_mix(a, &o->mix); break;
		case O_WARM: bad = parse_double(a, 0, 1, &o->mix.warm); break;
		case O_FORGED: bad = parse_double(a, 0, 1, &o->mix.forged); break;
		case O_UNKNOWN: bad = parse_double(a, 0, 1, &o->mix.unknown); break;
		case O_MALFORMED: bad = parse_double(a, 0, 1, &o->mix.malformed); break;
		case O_WARM_CERTS: bad = parse_uint(a, 1u << 20, &u) || u == 0; o->warm_certs = (unsigned)u; break;
		case O_STATIONS: bad = parse_uint(a, 131000, &u) || u == 0; o->stations = (unsigned)u; break;
		case O_IPV6: bad = parse_double(a, 0, 1, &o->ipv6_share); break;
		case O_TIMEOUT: bad = parse_double(a, 1, 60000, &d); o->run.timeout_s = d / 1e3; break;
		case O_IDLE: bad = parse_uint(a, 1000000, &u); o->run.idle_us = (uint32_t)u; break;
		case O_BURST: bad = parse_uint(a, 64, &u) || u == 0; o->run.burst = (uint32_t)u; break;
		case O_NO_WARMUP: o->run.no_warmup = true; break;
		case O_SEARCH: o->search = true; break;
		case O_TRIAL: bad = parse_double(a, 0.1, 3600, &o->sc.trial_s); break;
		case O_CONFIRM: bad = parse_double(a, 0, 3600, &o->sc.confirm_s); break;
		case O_RESOLUTION: bad = parse_double(a, 0.001, 0.5, &o->sc.resolution); break;
		case O_PDR: bad = parse_double(a, 0, 0.5, &o->sc.pdr_loss); break;
		case O_MAX_RATE: bad = parse_double(a, 0, 1e9, &o->sc.max_rate); break;
		case O_REFLECTOR: o->reflector = true; break;
		case O_JSON: o->json = true; break;
		case O_QUIET: o->run.live = false; break;
		case O_SEED: bad = parse_uint(a, UINT64_MAX, &o->seed); break;
		case O_LINK_WAIT: bad = parse_double(a, 0.1, 600, &o->link_wait_s); break;
		case O_MAX_INFLIGHT: bad = parse_uint(a, 1u << 20, &u); o->run.max_inflight = (uint32_t)u; break;
		case O_WATCH_PID: bad = parse_uint(a, INT32_MAX, &u); o->run.watch_pid = (int)u; break;
		case O_RETRIES: bad = parse_uint(a, 10, &u); o->sc.retries = (unsigned)u; break;
		case O_HELP: usage(stdout); exit(0);
		default: return -EINVAL;
		}
		if (bad) {
			fprintf(stderr, "kpgate-loadgen: bad value for --%s: %s\n",
				long_opts[c - O_MAKE_PKI].name, a);
			return -EINVAL;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "kpgate-loadgen: unexpected argument %s\n", argv[optind]);
		return -EINVAL;
	}
	if (o->mix.warm + o->mix.forged + o->mix.unknown + o->mix.malformed > 1.0 + 1e-9) {
		fprintf(stderr, "kpgate-loadgen: --warm + --forged + --unknown + --malformed exceed 1\n");
		return -EINVAL;
	}
	if (!o->make_pki && !o->pki) {
		fprintf(stderr, "kpgate-loadgen: --pki DIR (or --make-pki DIR) is required\n");
		return -EINVAL;
	}
	if (o->run.duration_s == 0 && o->run.count == 0)
		o->run.duration_s = 10;
	return 0;
}

static int make_pki(const struct lg_opts *o)
{
	struct lg_pki_spec spec = {
		.certs = o->certs, .rogue_certs = o->rogue_certs, .now = time(NULL),
		.progress = 1,
	};
	char err[512];

	if (o->certs < 2) {
		fprintf(stderr, "kpgate-loadgen: --certs must be at least 2\n");
		return EXIT_FAILURE;
	}
	if (lg_pki_make(o->make_pki, &spec, err, sizeof(err)) < 0) {
		fprintf(stderr, "kpgate-loadgen: %s\n", err);
		return EXIT_FAILURE;
	}
	printf("kpgate-loadgen: PKI in %s: trust.kptl (anchor.pub), %u certificates per authority\n",
	       o->make_pki, o->certs);
	return EXIT_SUCCESS;
}

static void on_signal(int sig)
{
	lg_gen_stop();
}

static json_t *config_json(const struct lg_opts *o, const struct lg_pool *pool)
{
	json_t *mix = json_object(), *kinds = json_object();

	for (unsigned a = 1; a < LG_ALGS; a++)
		json_object_set_new(mix, kpg_alg_name((enum kpg_alg)a),
				    json_integer(o->mix.alg_weight[a]));
	for (unsigned k = 0; k < LG_K__COUNT; k++) {
		uint32_t n = 0;

		for (uint32_t i = 0; i < pool->n; i++)
			n += pool->e[i].kind == k;
		if (n)
			json_object_set_new(kinds, lg_kind_name((enum lg_kind)k),
					    json_pack("{s:i, s:f}", "frames", n,
						      "mean_frame_bytes",
						      (double)pool->bytes[k] / n));
	}
	return json_pack("{s:o, s:f, s:f, s:f, s:f, s:i, s:i, s:f, s:i, s:f, s:i, s:b, s:o}",
			 "algorithms", mix, "warm", o->mix.warm, "forged", o->mix.forged,
			 "unknown", o->mix.unknown, "malformed", o->mix.malformed,
			 "stations", o->stations, "queues", o->queues,
			 "timeout_ms", o->run.timeout_s * 1e3, "idle_us", o->run.idle_us,
			 "ipv6_share", o->ipv6_share, "warm_certs", o->warm_certs,
			 "reflector", o->reflector, "pool", kinds);
}

/* DIR/cursors: "kind alg cursor" lines; absent or odd lines are skipped. */
static void cursors_load(struct lg_gen *g, const char *dir)
{
	lg_cursors_t c = { { 0 } };
	char path[4096];
	unsigned k, a, v;
	FILE *f;

	snprintf(path, sizeof(path), "%s/cursors", dir);
	f = fopen(path, "r");
	if (f == NULL)
		return;
	while (fscanf(f, "%u %u %u", &k, &a, &v) == 3)
		if (k < LG_K__COUNT && a < LG_ALGS)
			c[k][a] = v;
	fclose(f);
	lg_gen_set_cursors(g, c);
}

static void cursors_save(const struct lg_gen *g, const char *dir)
{
	lg_cursors_t c;
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/cursors", dir);
	f = fopen(path, "w");
	if (f == NULL)
		return;                      /* a read-only PKI: runs start over */
	lg_gen_get_cursors(g, c);
	for (unsigned k = 0; k < LG_K__COUNT; k++)
		for (unsigned a = 0; a < LG_ALGS; a++)
			fprintf(f, "%u %u %u\n", k, a, c[k][a]);
	fclose(f);
}

static int run(struct lg_opts *o)
{
	struct lg_pool_conf pc = {
		.gw_has_ip6 = o->has_gw_ip6,
		.stations = o->stations,
		.ipv6_share = o->ipv6_share,
		.queues = o->queues,
		.warm = o->warm_certs,
		.forged = o->mix.forged > 0 ? LG_FORGED_PER_ALG : 0,
		.unknown = o->mix.unknown > 0 ? LG_UNKNOWN_MAX : 0,
		.malformed = o->mix.malformed > 0 ? LG_MALFORMED_MAX : 0,
		.now = time(NULL),
	};
	FILE *human = o->json ? stderr : stdout;
	struct lg_result *r = NULL, *scratch = NULL;
	struct lg_port port = { 0 };
	struct lg_gen *g = NULL;
	struct lg_pool pool = { 0 };
	struct lg_pki pki;
	json_t *doc = NULL;
	char err[512], mac[32];
	int rc, status = EXIT_FAILURE;

	if (lg_pki_load(&pki, o->pki, err, sizeof(err)) < 0) {
		fprintf(stderr, "kpgate-loadgen: %s\n", err);
		return EXIT_FAILURE;
	}
	rc = lg_port_init(&port, o->port_id, o->queues, o->link_wait_s);
	if (rc < 0)
		goto out;
	memcpy(port.ip4, o->src_ip4, 4);
	if (o->has_gw_mac) {
		memcpy(pc.gw.mac, o->gw_mac, 6);
	} else if (o->reflector) {
		static const uint8_t any[6] = { 0x02, 0, 0, 0, 0, 0x01 };

		memcpy(pc.gw.mac, any, 6);
	} else if (lg_port_arp(&port, o->gw_ip4, pc.gw.mac, o->link_wait_s) < 0) {
		fprintf(stderr, "kpgate-loadgen: no ARP answer for the gateway's address\n");
		goto out;
	}
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", pc.gw.mac[0],
		 pc.gw.mac[1], pc.gw.mac[2], pc.gw.mac[3], pc.gw.mac[4], pc.gw.mac[5]);
	memcpy(pc.gw.ip4, o->gw_ip4, 4);
	memcpy(pc.gw.ip6, o->gw_ip6, 16);
	pc.gw.port = o->gw_port;
	memcpy(pc.mac, port.mac, 6);
	for (unsigned a = 1; a < LG_ALGS; a++)
		pc.alg[a] = o->mix.alg_weight[a] > 0;
	if (lg_pool_build(&pool, &pki, &pc, err, sizeof(err)) < 0) {
		fprintf(stderr, "kpgate-loadgen: %s\n", err);
		goto out;
	}
	fprintf(stderr, "kpgate-loadgen: gateway %s, %u requests built (largest frame %u bytes), %u queue(s)\n",
		mac, pool.n, pool.max_len, o->queues);
	g = lg_gen_new(&port, &pool, &o->mix, o->gw_port, o->reflector, o->seed);
	r = malloc(sizeof(*r));
	scratch = malloc(sizeof(*scratch));
	if (g == NULL || r == NULL || scratch == NULL) {
		fprintf(stderr, "kpgate-loadgen: cannot set the generator up (memory, or a kind in the mix without requests)\n");
		goto out;
	}
	cursors_load(g, o->pki);
	doc = json_pack("{s:s, s:s, s:o}", "tool", "kpgate-loadgen", "gateway_mac", mac,
			"config", config_json(o, &pool));
	if (o->search) {
		struct lg_search_out so;

		rc = lg_search(g, &o->run, &o->sc, &so, human);
		if (so.json)
			json_object_set_new(doc, "search", so.json);
	} else {
		rc = lg_gen_prepare(g, &o->run, scratch);
		if (rc == 0 && scratch->attempted)
			json_object_set_new(doc, "warmup", lg_report_json(scratch, "warm-up"));
		if (rc == 0)
			rc = lg_gen_run(g, &o->run, r);
		lg_report_print(human, r, o->run.label);
		json_object_set_new(doc, "result", lg_report_json(r, o->run.label));
	}
	cursors_save(g, o->pki);
	if (o->json) {
		json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
		fputc('\n', stdout);
	}
	status = rc == 0 || rc == -EINTR ? EXIT_SUCCESS : EXIT_FAILURE;
out:
	json_decref(doc);
	free(r);
	free(scratch);
	lg_gen_delete(g);
	lg_port_fini(&port);
	lg_pool_free(&pool);
	lg_pki_free(&pki);
	return status;
}

int main(int argc, char **argv)
{
	struct lg_opts o;
	struct sigaction sa;
	int eal_argc = argc, app_argc, rc, status;
	char **app_argv;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			eal_argc = i;
			break;
		}
	opts_defaults(&o);
	/* --make-pki needs no EAL; everything else goes after "--". */
	if (eal_argc == argc) {
		app_argc = argc;
		app_argv = argv;
	} else {
		app_argc = argc - eal_argc;
		app_argv = argv + eal_argc;
		app_argv[0] = argv[0];
	}
	if (parse_opts(app_argc, app_argv, &o) < 0) {
		usage(stderr);
		return 64;
	}
	if (o.make_pki)
		return make_pki(&o);
	if (eal_argc == argc) {
		fprintf(stderr, "kpgate-loadgen: EAL arguments and \"--\" come before the options\n");
		return 64;
	}
	rc = rte_eal_init(eal_argc, argv);
	if (rc < 0) {
		fprintf(stderr, "kpgate-loadgen: EAL init failed: %s\n", rte_strerror(rte_errno));
		return EXIT_FAILURE;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	status = run(&o);
	rte_eal_cleanup();
	return status;
}
