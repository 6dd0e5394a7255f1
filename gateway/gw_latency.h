/* gw_latency.h — the fixed buckets of the workers' latency histograms:
 * time from the RX burst that brought a request to the queueing of its
 * answer for TX, in TSC ticks, one histogram for warm answers (given within
 * their burst: cache hits and refusals) and one for cold ones (after a
 * signature verify). The bounds are fixed in nanoseconds, the same on every
 * gateway, so a fleet's histograms add up bucket by bucket; each worker
 * turns them into ticks once, at start. No DPDK: the TSC rate is given. */
#ifndef GW_LATENCY_H
#define GW_LATENCY_H

#include <stdint.h>

#define GW_LAT_BOUNDS 17                 /* finite bounds; one bucket above */
#define GW_LAT_BUCKETS (GW_LAT_BOUNDS + 1)

enum gw_lat_path { GW_LAT_WARM, GW_LAT_COLD, GW_LAT__COUNT };

/* Only uint64_t members: summed word by word with the worker's counters. */
struct gw_lat_hist {
	uint64_t bucket[GW_LAT_BUCKETS];     /* bucket i: bound[i-1] < t <= bound[i] */
	uint64_t ticks;                      /* sum of every latency counted */
};

extern const uint64_t gw_lat_bound_ns[GW_LAT_BOUNDS];

const char *gw_lat_path_name(enum gw_lat_path p);   /* "warm", "cold" */

/* The bounds in ticks of a TSC running at tsc_hz. */
void gw_lat_bounds_ticks(uint64_t tsc_hz, uint64_t bound[GW_LAT_BOUNDS]);

/* Data path: a linear scan, since most answers fall in the first few
 * buckets; no division, no branch on anything but the bounds. */
static inline void gw_lat_count(struct gw_lat_hist *h, const uint64_t *bound,
				uint64_t ticks)
{
	unsigned i = 0;

	while (i < GW_LAT_BOUNDS && ticks > bound[i])
		i++;
	h->bucket[i]++;
	h->ticks += ticks;
}

#endif
