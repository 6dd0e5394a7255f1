/* gw_station.c — station table build, RCU swap, telemetry; see
 * gw_station.h. */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_telemetry.h>

#include "gw_log.h"
#include "gw_metrics.h"
#include "gw_prom.h"
#include "gw_station.h"
#include "gw_station_conf.h"
#include "gw_trust.h"

#define PAGE_DEFAULT 32u
#define PAGE_MAX 64u          /* a page stays well inside one telemetry reply */

struct kpg_stations *gw_station_table;

/* Held by reload, telemetry and fini: the table they read stays alive.
 * Workers never take it. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const struct gw_config *conf;
static unsigned slots;
static uint32_t replay_entries = GW_REPLAY_ENTRIES_DEFAULT;

static const char *const mode_names[] = {
	[KPG_HMAC_REQUIRED] = "required",
	[KPG_HMAC_OPTIONAL] = "optional",
	[KPG_HMAC_OFF] = "off",
};

int gw_station_configure(const struct gw_config *c, char *err, size_t errlen)
{
	struct gw_station_conf sc;
	int rc;

	conf = c;
	rc = gw_station_conf_load(c->file, c->dir, &sc, err, errlen);
	if (rc == 0)
		replay_entries = sc.replay_entries;
	gw_station_conf_free(&sc);
	return rc;
}

uint32_t gw_station_replay_entries(void)
{
	return replay_entries;
}

/* The table the file describes now (NULL and *none when it lists no
 * stations); caller holds the lock. */
static struct kpg_stations *build(bool *none, char *err, size_t errlen)
{
	struct gw_station_conf sc;
	struct kpg_stations *t = NULL;

	*none = conf == NULL;            /* never configured: no stations */
	if (*none)
		return NULL;
	if (gw_station_conf_load(conf->file, conf->dir, &sc, err, errlen) == 0) {
		*none = !sc.configured;
		if (sc.configured) {
			sc.t.slots = slots;
			t = kpg_stations_new(&sc.t, gw_station_table, err, errlen);
		}
		if (sc.replay_entries != replay_entries)
			GW_LOG(WARNING, "stations: replay_entries = %u takes effect "
			       "at the next start; %u in force\n",
			       sc.replay_entries, replay_entries);
	}
	gw_station_conf_free(&sc);
	return t;
}

static void log_table(const char *what, const struct kpg_stations *t)
{
	unsigned modes[3] = { 0 };

	for (unsigned i = 0; i < kpg_stations_count(t); i++)
		modes[kpg_stations_at(t, i)->hmac]++;
	GW_LOG(INFO, "stations %s: %u (hmac required %u, optional %u, off %u), "
	       "unknown stations %s\n", what, kpg_stations_count(t),
	       modes[KPG_HMAC_REQUIRED], modes[KPG_HMAC_OPTIONAL], modes[KPG_HMAC_OFF],
	       kpg_stations_allow_unknown(t) ? "served (shared bucket)" : "refused");
}

static void add_counts(struct rte_tel_data *d, const struct kpg_station_counts *c)
{
	rte_tel_data_add_dict_u64(d, "requests", c->requests);
	rte_tel_data_add_dict_u64(d, "answered", c->answered);
	rte_tel_data_add_dict_u64(d, "auth_failed", c->auth_failed);
	rte_tel_data_add_dict_u64(d, "replays", c->replays);
	rte_tel_data_add_dict_u64(d, "rescans", c->rescans);
	rte_tel_data_add_dict_u64(d, "verifies", c->verifies);
	rte_tel_data_add_dict_u64(d, "rate_limited", c->rate_limited);
	rte_tel_data_add_dict_u64(d, "unanswered", c->unanswered);
}

/* Telemetry names allow letters, digits, '_' and '/': an id's '.', ':'
 * and '-' become '_'. Ids start with a letter or digit, so "_unknown" is
 * never one. */
static size_t sanitize(const char *id, char *out, size_t cap)
{
	size_t n;

	for (n = 0; id[n] && n + 1 < cap; n++)
		out[n] = (char)(id[n] == '.' || id[n] == ':' || id[n] == '-' ? '_' : id[n]);
	out[n] = '\0';
	return n;
}

/* Station i's name on a page from `first`: its sanitized id, with its
 * index appended when an earlier station of the page sanitizes alike. */
static void row_name(const struct kpg_stations *t, unsigned first, unsigned i,
		     char *out, size_t cap)
{
	size_t n = sanitize(kpg_stations_at(t, i)->id, out, cap);
	char other[KPG_STATION_ID_MAX + 1];

	for (unsigned k = first; k < i; k++) {
		sanitize(kpg_stations_at(t, k)->id, other, sizeof(other));
		if (strcmp(other, out) == 0) {
			snprintf(out + n, cap - n, "__%u", i);
			return;
		}
	}
}

/* "/kpgate/stations[,offset[,count]]": one dict per station of the page,
 * named after its id (the id itself inside), and "_unknown" for every
 * sender not in the table. */
static int cmd_stations(const char *cmd, const char *params,
			struct rte_tel_data *d)
{
	unsigned long offset = 0, count = PAGE_DEFAULT;
	const struct kpg_stations *t;
	struct kpg_station_counts c;
	char name[KPG_STATION_ID_MAX + 24], *end;
	unsigned n;

	if (params && *params) {
		offset = strtoul(params, &end, 10);
		if (*end == ',')
			count = strtoul(end + 1, &end, 10);
		if (*end != '\0' || count == 0)
			return -EINVAL;
		if (count > PAGE_MAX)
			count = PAGE_MAX;
	}
	rte_tel_data_start_dict(d);
	pthread_mutex_lock(&lock);
	t = gw_station_table;
	n = kpg_stations_count(t);
	rte_tel_data_add_dict_u64(d, "stations", n);
	rte_tel_data_add_dict_u64(d, "offset", offset);
	if (t == NULL) {
		rte_tel_data_add_dict_string(d, "unknown", "served (no stations configured)");
		pthread_mutex_unlock(&lock);
		return 0;
	}
	rte_tel_data_add_dict_string(d, "unknown", kpg_stations_allow_unknown(t) ?
				     "served" : "refused");
	for (unsigned long i = offset; i < n && i < offset + count; i++) {
		const struct kpg_station *s = kpg_stations_at(t, (unsigned)i);
		struct rte_tel_data *row = rte_tel_data_alloc();

		if (row == NULL)
			break;
		rte_tel_data_start_dict(row);
		rte_tel_data_add_dict_string(row, "id", s->id);
		rte_tel_data_add_dict_string(row, "hmac", mode_names[s->hmac]);
		rte_tel_data_add_dict_u64(row, "addresses", s->n_addrs);
		kpg_station_counts_sum(t, (unsigned)i, &c);
		add_counts(row, &c);
		row_name(t, (unsigned)offset, (unsigned)i, name, sizeof(name));
		rte_tel_data_add_dict_container(d, name, row, 0);
	}
	if (offset + count >= n) {
		struct rte_tel_data *row = rte_tel_data_alloc();

		if (row) {
			rte_tel_data_start_dict(row);
			kpg_station_counts_sum(t, n, &c);
			add_counts(row, &c);
			rte_tel_data_add_dict_container(d, "_unknown", row, 0);
		}
	}
	pthread_mutex_unlock(&lock);
	return 0;
}

/* Prometheus: each station's counters, and the shared row of everything
 * not in the table as station="_unknown". Summed over lcores per scrape. */
static void station_metrics(struct gw_prom *p, void *arg)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} fam[] = {
		{ "kpgate_station_requests_total", "Requests naming the station.",
		  offsetof(struct kpg_station_counts, requests) },
		{ "kpgate_station_answered_total", "Answers sent to the station.",
		  offsetof(struct kpg_station_counts, answered) },
		{ "kpgate_station_auth_failed_total", "Bad or missing HMAC, wrong source.",
		  offsetof(struct kpg_station_counts, auth_failed) },
		{ "kpgate_station_replays_total", "Other bytes under a request id already seen.",
		  offsetof(struct kpg_station_counts, replays) },
		{ "kpgate_station_rate_limited_total", "Cold verifies refused: bucket empty.",
		  offsetof(struct kpg_station_counts, rate_limited) },
	};
	const struct kpg_stations *t;
	struct kpg_station_counts c;
	unsigned n;

	pthread_mutex_lock(&lock);
	t = gw_station_table;
	n = kpg_stations_count(t);
	for (size_t f = 0; t && f < sizeof(fam) / sizeof(fam[0]); f++) {
		gw_prom_family(p, fam[f].name, "counter", fam[f].help);
		for (unsigned i = 0; i <= n; i++) {
			kpg_station_counts_sum(t, i, &c);
			gw_prom_u64(p, fam[f].name,
				    *(const uint64_t *)((const char *)&c + fam[f].off),
				    "station", i < n ? kpg_stations_at(t, i)->id : "_unknown",
				    NULL);
		}
	}
	pthread_mutex_unlock(&lock);
}

int gw_station_init(unsigned workers)
{
	char err[512];
	bool none;
	int rc;

	slots = workers;
	pthread_mutex_lock(&lock);
	gw_station_table = build(&none, err, sizeof(err));
	pthread_mutex_unlock(&lock);
	if (gw_station_table == NULL && !none) {
		GW_LOG(ERR, "stations refused: %s\n", err);
		return -EINVAL;
	}
	if (gw_station_table)
		log_table("in force", gw_station_table);
	else
		GW_LOG(WARNING, "no stations configured: every source is served "
		       "and told its errors\n");
	rc = rte_telemetry_register_cmd("/kpgate/stations", cmd_stations,
		"Per station: requests, answers, HMAC failures, replays, rescans, "
		"verifies, rate limited, unanswered (params: offset,count)");
	if (rc)
		GW_LOG(WARNING, "/kpgate/stations not registered: %s\n", strerror(-rc));
	gw_metrics_add_source(station_metrics, NULL);
	return 0;
}

void gw_station_fini(void)
{
	gw_metrics_remove_source(station_metrics, NULL);
	pthread_mutex_lock(&lock);
	kpg_stations_delete(gw_station_table);
	gw_station_table = NULL;
	pthread_mutex_unlock(&lock);
}

int gw_station_reload(int self_slot, char *msg, size_t len)
{
	struct kpg_stations *next, *old;
	char err[512];
	bool none;

	if (pthread_mutex_trylock(&lock) != 0) {
		snprintf(msg, len, "a reload is already under way");
		return -EBUSY;
	}
	next = build(&none, err, sizeof(err));
	if (next == NULL && !none) {
		snprintf(msg, len, "stations refused: %s", err);
		GW_LOG(WARNING, "%s; the table in force stays\n", msg);
		pthread_mutex_unlock(&lock);
		return -EINVAL;
	}
	old = gw_station_table;
	__atomic_store_n(&gw_station_table, next, __ATOMIC_RELEASE);
	/* States shared with the new table live on; the rest go only once
	 * every worker has left the old table. */
	rte_rcu_qsbr_synchronize(gw_trust_qsbr, self_slot < 0 ?
				 RTE_QSBR_THRID_INVALID : (unsigned)self_slot);
	kpg_stations_delete(old);
	if (next) {
		snprintf(msg, len, "stations loaded: %u", kpg_stations_count(next));
		log_table("reloaded", next);
	} else {
		snprintf(msg, len, "no stations listed: every source is served");
		GW_LOG(WARNING, "stations removed: every source is served and told "
		       "its errors\n");
	}
	pthread_mutex_unlock(&lock);
	return 0;
}
