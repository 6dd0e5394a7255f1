/* gw_telemetry.c — telemetry commands; see gw_telemetry.h. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_telemetry.h>
#include <rte_version.h>

#include "gw_log.h"
#include "gw_telemetry.h"
#include "gw_policy.h"
#include "gw_station.h"
#include "gw_stats.h"
#include "gw_trust.h"
#include "kpg_request.h"
#include "kpg_verdict.h"

#ifndef KPGATE_VERSION
#define KPGATE_VERSION "unknown"
#endif

/* Held while a command reads what init() was given, so fini() never
 * returns under a reader. Workers never take it. The counters themselves
 * are read through gw_stats. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct gw_worker *const *workers;
static unsigned n_workers;
static const struct gw_ports *ports;
static time_t started;

/* Telemetry accepts names of letters, digits and '_' only. */
static void add_named(struct rte_tel_data *d, const char *name, uint64_t v)
{
	char key[RTE_TEL_MAX_STRING_LEN];
	size_t i;

	for (i = 0; name[i] && i + 1 < sizeof(key); i++)
		key[i] = isalnum((unsigned char)name[i]) ? name[i] : '_';
	key[i] = '\0';
	rte_tel_data_add_dict_u64(d, key, v);
}

static struct rte_tel_data *errors_dict(const struct gw_stats *t)
{
	struct rte_tel_data *d = rte_tel_data_alloc();

	if (d == NULL)
		return NULL;
	rte_tel_data_start_dict(d);
	for (int i = 1; i < KPG_ERR__COUNT; i++)
		add_named(d, kpg_error_name(i), t->e.errors[i]);
	return d;
}

static int opened(void)
{
	pthread_mutex_lock(&lock);
	if (workers == NULL) {
		pthread_mutex_unlock(&lock);
		return -ESHUTDOWN;
	}
	return 0;
}

/* Core reasons of the checks that did not accept, by name. */
static struct rte_tel_data *reasons_dict(const struct gw_stats *t)
{
	struct rte_tel_data *d = rte_tel_data_alloc();

	if (d == NULL)
		return NULL;
	rte_tel_data_start_dict(d);
	for (int i = 1; i < KPG_R__COUNT; i++)
		add_named(d, kpg_reason_name(i), t->e.reasons[i]);
	return d;
}

/* Answers and their mean latency (RX burst to TX queueing) per path; the
 * buckets are for Prometheus. */
static struct rte_tel_data *latency_dict(const struct gw_stats *t)
{
	struct rte_tel_data *d = rte_tel_data_alloc();
	uint64_t hz = rte_get_tsc_hz();

	if (d == NULL)
		return NULL;
	rte_tel_data_start_dict(d);
	for (int p = 0; p < GW_LAT__COUNT; p++) {
		const struct gw_lat_hist *h = &t->w.lat[p];
		uint64_t n = 0;
		char key[32];

		for (int b = 0; b < GW_LAT_BUCKETS; b++)
			n += h->bucket[b];
		snprintf(key, sizeof(key), "%s_answers", gw_lat_path_name(p));
		rte_tel_data_add_dict_u64(d, key, n);
		snprintf(key, sizeof(key), "%s_mean_ns", gw_lat_path_name(p));
		rte_tel_data_add_dict_u64(d, key, n && hz ?
			(uint64_t)((double)h->ticks * 1e9 / (double)hz / (double)n) : 0);
	}
	return d;
}

static int cmd_stats(const char *cmd, const char *params,
		     struct rte_tel_data *d)
{
	struct rte_tel_data *errs, *reasons, *lat;
	struct gw_stats t;

	if (gw_stats_read(&t) != 0)
		return -ESHUTDOWN;

	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "rx", t.w.rx);
	rte_tel_data_add_dict_u64(d, "tx", t.w.tx);
	rte_tel_data_add_dict_u64(d, "requests", t.w.requests);
	rte_tel_data_add_dict_u64(d, "answered", t.w.answered);
	for (int i = KPG_ACCEPT; i < KPG_DECISION__COUNT; i++)
		add_named(d, kpg_decision_name(i), t.e.decisions[i]);
	rte_tel_data_add_dict_u64(d, "cache_hits", t.e.cache_hits);
	rte_tel_data_add_dict_u64(d, "cache_misses", t.e.cache_misses);
	rte_tel_data_add_dict_u64(d, "verify_ok", t.e.verify_ok);
	rte_tel_data_add_dict_u64(d, "verify_failed", t.e.verify_failed);
	rte_tel_data_add_dict_u64(d, "cold_queue_full",
				  t.w.drops[GW_DROP_COLD_QUEUE_FULL]);
	rte_tel_data_add_dict_u64(d, "tx_dropped", t.w.tx_dropped);
	rte_tel_data_add_dict_u64(d, "arp_replies", t.w.replies[GW_REPLY_ARP]);
	rte_tel_data_add_dict_u64(d, "icmp_echo_replies",
				  t.w.replies[GW_REPLY_ICMP4_ECHO] +
				  t.w.replies[GW_REPLY_ICMP6_ECHO]);
	rte_tel_data_add_dict_u64(d, "nd_replies", t.w.replies[GW_REPLY_ND]);
	rte_tel_data_add_dict_u64(d, "dropped", gw_stats_dropped(&t));
	rte_tel_data_add_dict_u64(d, "idle_sleeps", t.w.idle_sleeps);
	rte_tel_data_add_dict_u64(d, "loops", t.w.loops);
	rte_tel_data_add_dict_u64(d, "busy_loops", t.w.busy_loops);
	rte_tel_data_add_dict_u64(d, "busy_ns", (uint64_t)((double)t.w.busy_tsc * 1e9 /
							    (double)rte_get_tsc_hz()));
	rte_tel_data_add_dict_u64(d, "cert_decodes", t.e.cert_decodes);
	rte_tel_data_add_dict_u64(d, "views_kept", t.e.views_kept);
	rte_tel_data_add_dict_u64(d, "in_flight", t.in_flight);
	rte_tel_data_add_dict_u64(d, "drained", t.w.drained);
	rte_tel_data_add_dict_u64(d, "audit_backpressure", t.w.audit_backpressure);
	rte_tel_data_add_dict_u64(d, "audit_ring_full", t.w.audit_ring_full);
	errs = errors_dict(&t);
	if (errs)
		rte_tel_data_add_dict_container(d, "errors", errs, 0);
	reasons = reasons_dict(&t);
	if (reasons)
		rte_tel_data_add_dict_container(d, "reasons", reasons, 0);
	lat = latency_dict(&t);
	if (lat)
		rte_tel_data_add_dict_container(d, "latency", lat, 0);
	return 0;
}

static int cmd_drops(const char *cmd, const char *params,
		     struct rte_tel_data *d)
{
	struct rte_tel_data *pkt, *req, *errs;
	struct gw_stats t;

	if (gw_stats_read(&t) != 0)
		return -ESHUTDOWN;

	rte_tel_data_start_dict(d);
	pkt = rte_tel_data_alloc();
	req = rte_tel_data_alloc();
	if (pkt == NULL || req == NULL) {
		rte_tel_data_free(pkt);
		rte_tel_data_free(req);
		return -ENOMEM;
	}
	rte_tel_data_start_dict(pkt);
	for (int i = 1; i < GW_DROP__COUNT; i++)
		add_named(pkt, gw_drop_name(i), t.w.drops[i]);
	rte_tel_data_start_dict(req);
	for (int i = 1; i < KPG_REQ__COUNT; i++)
		add_named(req, kpg_request_reason_name(i), t.e.refused[i]);
	rte_tel_data_add_dict_container(d, "packet", pkt, 0);
	rte_tel_data_add_dict_container(d, "request", req, 0);
	errs = errors_dict(&t);
	if (errs)
		rte_tel_data_add_dict_container(d, "error", errs, 0);
	return 0;
}

static int cmd_status(const char *cmd, const char *params,
		      struct rte_tel_data *d)
{
	uint64_t version;
	int64_t issued, next;
	unsigned keys;

	if (opened() != 0)
		return -ESHUTDOWN;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "version", KPGATE_VERSION);
	rte_tel_data_add_dict_string(d, "dpdk", rte_version());
	rte_tel_data_add_dict_u64(d, "uptime_s", (uint64_t)(time(NULL) - started));
	rte_tel_data_add_dict_u64(d, "lcores", n_workers);
	rte_tel_data_add_dict_u64(d, "ports", ports->n);
	pthread_mutex_unlock(&lock);
	rte_tel_data_add_dict_int(d, "draining", gw_worker_draining());

	if (gw_trust_describe(&version, &issued, &next, &keys) == 0) {
		struct rte_tel_data *t = rte_tel_data_alloc();

		if (t == NULL)
			return -ENOMEM;
		rte_tel_data_start_dict(t);
		rte_tel_data_add_dict_u64(t, "version", version);
		/* dict ints are 32 bits: instants (positive) go as u64 */
		rte_tel_data_add_dict_u64(t, "issued_at", (uint64_t)issued);
		rte_tel_data_add_dict_u64(t, "next_update", (uint64_t)next);
		rte_tel_data_add_dict_u64(t, "keys", keys);
		rte_tel_data_add_dict_container(d, "trust_list", t, 0);
	} else {
		rte_tel_data_add_dict_string(d, "trust_list", "none");
	}
	return 0;
}

static int cmd_reload(const char *cmd, const char *params,
		      struct rte_tel_data *d)
{
	char msg[RTE_TEL_MAX_STRING_LEN];
	uint64_t version;
	int64_t issued, next;
	unsigned keys;
	int rc;

	/* Held across the reload: shutdown waits for it to finish. */
	if (opened() != 0)
		return -ESHUTDOWN;
	/* "/kpgate/reload" reloads all; ",trust", ",plugins" or ",stations"
	 * one of them. */
	bool trust = params == NULL || *params == '\0' || strcmp(params, "trust") == 0;
	bool plugins = params == NULL || *params == '\0' || strcmp(params, "plugins") == 0;
	bool stations = params == NULL || *params == '\0' || strcmp(params, "stations") == 0;
	char pmsg[RTE_TEL_MAX_STRING_LEN], smsg[RTE_TEL_MAX_STRING_LEN];
	int prc = 0, src = 0;

	if (!trust && !plugins && !stations) {
		pthread_mutex_unlock(&lock);
		return -EINVAL;
	}
	rc = trust ? gw_trust_reload(-1, msg, sizeof(msg)) : 0;
	if (plugins)
		prc = gw_policy_reload(-1, pmsg, sizeof(pmsg));
	if (stations)
		src = gw_station_reload(-1, smsg, sizeof(smsg));
	pthread_mutex_unlock(&lock);

	rte_tel_data_start_dict(d);
	if (trust) {
		rte_tel_data_add_dict_string(d, "result", rc == 0 ? "loaded" : "refused");
		if (rc != 0)
			rte_tel_data_add_dict_string(d, "reason", msg);
		if (gw_trust_describe(&version, &issued, &next, &keys) == 0)
			rte_tel_data_add_dict_u64(d, "version", version);
		else
			rte_tel_data_add_dict_string(d, "version", "none");
	}
	if (plugins) {
		rte_tel_data_add_dict_string(d, "plugins", prc == 0 ? "loaded" : "refused");
		rte_tel_data_add_dict_string(d, "plugins_reason", pmsg);
	}
	if (stations) {
		rte_tel_data_add_dict_string(d, "stations", src == 0 ? "loaded" : "refused");
		rte_tel_data_add_dict_string(d, "stations_reason", smsg);
	}
	return 0;
}

/* Keys per /kpgate/keys page: at most ~470 bytes of JSON each (a 127-byte
 * authority name escaped), so a page stays under telemetry's 16 KiB reply,
 * beyond which entries would be silently left out. */
#define KEYS_PAGE 32

static const char *key_status_name(enum kpg_key_status s)
{
	switch (s) {
	case KPG_KEY_ACTIVE: return "active";
	case KPG_KEY_RETIRED: return "retired";
	case KPG_KEY_REVOKED: return "revoked";
	}
	return "unknown";
}

static void add_key(void *arg, const struct kpg_trust_key *k)
{
	struct rte_tel_data *d = arg, *e = rte_tel_data_alloc();
	char id[2 * KPG_KEY_ID_LEN + 1];

	if (e == NULL)
		return;
	for (unsigned i = 0; i < KPG_KEY_ID_LEN; i++)
		snprintf(id + 2 * i, 3, "%02x", k->key_id[i]);
	rte_tel_data_start_dict(e);
	rte_tel_data_add_dict_string(e, "participant", k->participant);
	rte_tel_data_add_dict_string(e, "alg", kpg_alg_name(k->alg));
	rte_tel_data_add_dict_string(e, "status", key_status_name(k->status));
	rte_tel_data_add_dict_string(e, "authority", k->authority ? k->authority : "");
	/* dict ints are 32 bits: instants (positive) go as u64 */
	rte_tel_data_add_dict_u64(e, "not_before", (uint64_t)k->not_before);
	rte_tel_data_add_dict_u64(e, "not_after", (uint64_t)k->not_after);
	rte_tel_data_add_dict_u64(e, "status_since", (uint64_t)k->status_since);
	rte_tel_data_add_dict_container(d, id, e, 0);
}

/* "/kpgate/keys,OFFSET": one page of the trust list in force, keyed by key
 * id; the client asks again from offset + count until total. version
 * tells a page of another list (a reload in between). */
static int cmd_keys(const char *cmd, const char *params,
		    struct rte_tel_data *d)
{
	unsigned long offset = 0;
	uint64_t version;
	unsigned total;
	char *end;

	if (params && *params) {
		errno = 0;
		offset = strtoul(params, &end, 10);
		if (errno || *end || offset > UINT32_MAX)
			return -EINVAL;
	}
	rte_tel_data_start_dict(d);
	if (gw_trust_keys((unsigned)offset, KEYS_PAGE, add_key, d, &version,
			  &total) != 0) {
		rte_tel_data_add_dict_string(d, "trust_list", "none");
		return 0;
	}
	rte_tel_data_add_dict_u64(d, "version", version);
	rte_tel_data_add_dict_u64(d, "total", total);
	rte_tel_data_add_dict_u64(d, "offset", offset);
	rte_tel_data_add_dict_u64(d, "count", offset < total ?
				  RTE_MIN(total - offset, (unsigned long)KEYS_PAGE) : 0);
	return 0;
}

/* "/kpgate/drain" (or ",on") starts draining, ",off" resumes, ",status"
 * only tells; every form says the state and what is still queued. */
static int cmd_drain(const char *cmd, const char *params,
		     struct rte_tel_data *d)
{
	struct gw_stats t;

	if (params == NULL || *params == '\0' || strcmp(params, "on") == 0) {
		if (!gw_worker_draining())
			GW_LOG(NOTICE, "draining: new requests are answered overloaded\n");
		gw_worker_drain(true);
	} else if (strcmp(params, "off") == 0) {
		if (gw_worker_draining())
			GW_LOG(NOTICE, "drain ended: taking requests again\n");
		gw_worker_drain(false);
	} else if (strcmp(params, "status") != 0) {
		return -EINVAL;
	}
	if (gw_stats_read(&t) != 0)
		return -ESHUTDOWN;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_int(d, "draining", gw_worker_draining());
	rte_tel_data_add_dict_u64(d, "in_flight", t.in_flight);
	rte_tel_data_add_dict_u64(d, "drained", t.w.drained);
	return 0;
}

static void add_plugin_stat(void *arg, const char *name, uint64_t value)
{
	rte_tel_data_add_dict_u64(arg, name, value);
}

static void add_plugin(void *arg, const char *name, int position,
		       const struct kpg_plugin_counts *c)
{
	struct rte_tel_data *d = arg, *p = rte_tel_data_alloc();

	if (p == NULL)
		return;
	rte_tel_data_start_dict(p);
	rte_tel_data_add_dict_int(p, "position", position);
	rte_tel_data_add_dict_u64(p, "accept", c->decisions[KPG_ACCEPT]);
	rte_tel_data_add_dict_u64(p, "refer", c->decisions[KPG_REFER]);
	rte_tel_data_add_dict_u64(p, "reject", c->decisions[KPG_REJECT]);
	rte_tel_data_add_dict_u64(p, "not_applicable", c->decisions[KPG_DECISION_NONE]);
	gw_policy_plugin_stats(name, add_plugin_stat, p);
	rte_tel_data_add_dict_container(d, name, p, 0);
}

static int cmd_plugins(const char *cmd, const char *params,
		       struct rte_tel_data *d)
{
	rte_tel_data_start_dict(d);
	gw_policy_foreach(add_plugin, d);
	return 0;
}

int gw_telemetry_init(struct gw_worker *const *w, unsigned n,
		      const struct gw_ports *ps)
{
	int rc;

	pthread_mutex_lock(&lock);
	workers = w;
	n_workers = n;
	ports = ps;
	started = time(NULL);
	pthread_mutex_unlock(&lock);
	if ((rc = rte_telemetry_register_cmd("/kpgate/stats", cmd_stats,
			"Traffic, requests, decisions, errors, cache and verifies, summed over lcores")) ||
	    (rc = rte_telemetry_register_cmd("/kpgate/drops", cmd_drops,
			"Every drop reason by name: packet, request, error")) ||
	    (rc = rte_telemetry_register_cmd("/kpgate/status", cmd_status,
			"Version, uptime, lcores, ports, trust list in force")) ||
	    (rc = rte_telemetry_register_cmd("/kpgate/reload", cmd_reload,
			"Reload trust list, plugins and stations (param: trust, plugins or stations for one); says what loaded or why refused")) ||
	    (rc = rte_telemetry_register_cmd("/kpgate/plugins", cmd_plugins,
			"Per plugin: place in the chain (-1: out) and decisions, summed over lcores")) ||
	    (rc = rte_telemetry_register_cmd("/kpgate/keys", cmd_keys,
			"Trust list keys from the offset given, one page")) ||
	    (rc = rte_telemetry_register_cmd("/kpgate/drain", cmd_drain,
			"Drain: on (default), off or status")))
		GW_LOG(WARNING, "telemetry commands not registered: %s\n",
		       strerror(-rc));
	return rc;
}

void gw_telemetry_fini(void)
{
	pthread_mutex_lock(&lock);
	workers = NULL;
	n_workers = 0;
	pthread_mutex_unlock(&lock);
}
