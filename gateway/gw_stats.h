/* gw_stats.h — the gateway's counters in one read, for every reader on a
 * control thread (the telemetry commands, the metrics endpoint): each
 * worker's own counters, its engine's and its latency histograms, summed
 * word by word when read. Workers only ever write their own; nothing here
 * runs on the data path. Between open and close the workers stay
 * allocated; close waits for a read under way, later reads fail. */
#ifndef GW_STATS_H
#define GW_STATS_H

#include <stdint.h>

#include "gw_worker.h"
#include "kpg_engine.h"

struct gw_stats {
	struct gw_worker_stats w;
	struct kpg_engine_stats e;
	uint64_t in_flight;              /* requests in the cold queues now */
	unsigned workers;
};

/* At start, once the workers exist. */
void gw_stats_open(struct gw_worker *const *workers, unsigned n);
/* Before the workers are freed. */
void gw_stats_close(void);

/* 0, or -ESHUTDOWN outside open .. close. */
int gw_stats_read(struct gw_stats *out);

/* Every packet drop reason added up. */
uint64_t gw_stats_dropped(const struct gw_stats *s);

#endif
