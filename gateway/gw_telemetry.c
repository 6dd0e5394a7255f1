/* gw_telemetry.c — telemetry commands; see gw_telemetry.h. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <rte_lcore.h>
#include <rte_telemetry.h>
#include <rte_version.h>

#include "gw_log.h"
#include "gw_telemetry.h"
#include "gw_policy.h"
#include "gw_trust.h"
#include "kpg_request.h"
#include "kpg_verdict.h"

#ifndef KPGATE_VERSION
#define KPGATE_VERSION "unknown"
#endif

/* Held while a command reads the workers, so fini() never frees them
 * under a reader. Workers never take it. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct gw_worker *const *workers;
static unsigned n_workers;
static const struct gw_ports *ports;
static time_t started;

struct totals {
	struct gw_worker_stats w;
	struct kpg_engine_stats e;
};

/* Both stats structs are uint64_t counters only: summed word by word. */
static void add_u64s(void *dst, const void *src, size_t bytes)
{
	uint64_t *d = dst;
	const uint64_t *s = src;

	for (size_t i = 0; i < bytes / sizeof(uint64_t); i++)
		d[i] += s[i];
}

static void sum(struct totals *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned i = 0; i < n_workers; i++) {
		add_u64s(&t->w, &workers[i]->stats, sizeof(t->w));
		add_u64s(&t->e, kpg_engine_stats(workers[i]->engine), sizeof(t->e));
	}
}

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

static struct rte_tel_data *errors_dict(const struct totals *t)
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

static int cmd_stats(const char *cmd, const char *params,
		     struct rte_tel_data *d)
{
	struct rte_tel_data *errs;
	struct totals t;

	if (opened() != 0)
		return -ESHUTDOWN;
	sum(&t);
	pthread_mutex_unlock(&lock);

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
	uint64_t dropped = 0;

	for (int i = 1; i < GW_DROP__COUNT; i++)
		dropped += t.w.drops[i];
	rte_tel_data_add_dict_u64(d, "dropped", dropped);
	rte_tel_data_add_dict_u64(d, "idle_sleeps", t.w.idle_sleeps);
	errs = errors_dict(&t);
	if (errs)
		rte_tel_data_add_dict_container(d, "errors", errs, 0);
	return 0;
}

static int cmd_drops(const char *cmd, const char *params,
		     struct rte_tel_data *d)
{
	struct rte_tel_data *pkt, *req, *errs;
	struct totals t;

	if (opened() != 0)
		return -ESHUTDOWN;
	sum(&t);
	pthread_mutex_unlock(&lock);

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
	/* "/kpgate/reload" reloads both; ",trust" or ",plugins" one of them. */
	bool trust = params == NULL || *params == '\0' || strcmp(params, "trust") == 0;
	bool plugins = params == NULL || *params == '\0' || strcmp(params, "plugins") == 0;
	char pmsg[RTE_TEL_MAX_STRING_LEN];
	int prc = 0;

	if (!trust && !plugins) {
		pthread_mutex_unlock(&lock);
		return -EINVAL;
	}
	rc = trust ? gw_trust_reload(-1, msg, sizeof(msg)) : 0;
	if (plugins)
		prc = gw_policy_reload(-1, pmsg, sizeof(pmsg));
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
			"Reload trust list and plugins (param: trust or plugins for one); says what loaded or why refused")) ||
	    (rc = rte_telemetry_register_cmd("/kpgate/plugins", cmd_plugins,
			"Per plugin: place in the chain (-1: out) and decisions, summed over lcores")))
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
