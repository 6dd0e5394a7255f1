/* gw_latency.c — latency bucket bounds; see gw_latency.h. */
#include "gw_latency.h"

/* 500 ns to 100 ms in 1-2-5 steps: a warm answer takes microseconds, a
 * cold one tens to hundreds of them; beyond 100 ms something is wrong
 * and the top bucket says so. */
const uint64_t gw_lat_bound_ns[GW_LAT_BOUNDS] = {
	500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000,
	1000000, 2000000, 5000000, 10000000, 20000000, 50000000, 100000000,
};

const char *gw_lat_path_name(enum gw_lat_path p)
{
	switch (p) {
	case GW_LAT_WARM: return "warm";
	case GW_LAT_COLD: return "cold";
	case GW_LAT__COUNT: break;
	}
	return "unknown";
}

void gw_lat_bounds_ticks(uint64_t tsc_hz, uint64_t bound[GW_LAT_BOUNDS])
{
	/* 100 ms times the rate fits 64 bits for any TSC below 180 GHz. */
	for (unsigned i = 0; i < GW_LAT_BOUNDS; i++)
		bound[i] = gw_lat_bound_ns[i] * tsc_hz / 1000000000u;
}
