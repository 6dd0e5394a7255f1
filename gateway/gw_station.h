/* gw_station.h — the station table in force, published to the workers
 * like the trust snapshot: swapped with an atomic store and reclaimed
 * after a grace period of the same rte_rcu_qsbr (workers report one
 * quiescent state per loop for all three). Built from the config file's
 * `station_policy` group and `stations` list (gw_station_conf): at start a
 * list that cannot be built stops the gateway, on reload (SIGHUP,
 * /kpgate/reload) it is refused and the table in force stays. Without a
 * stations list no table is in force and every source is served as before.
 * Per-station counters are read with the telemetry command
 * /kpgate/stations, paged by "offset,count". */
#ifndef GW_STATION_H
#define GW_STATION_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gw_config.h"
#include "gw_pkt.h"
#include "kpg_station.h"

extern struct kpg_stations *gw_station_table;

/* Before the EAL: reads and checks the stations, so --check-config sees
 * their mistakes too. 0, or -errno with "file:line: reason" in err. */
int gw_station_configure(const struct gw_config *c, char *err, size_t errlen);

/* Replay window entries per worker lcore, fixed at start (engines are
 * made with it). */
uint32_t gw_station_replay_entries(void);

/* After gw_trust_init() (it makes the RCU state) and before the workers:
 * builds the table for `workers` lcores and registers /kpgate/stations.
 * 0 or -errno, logged. */
int gw_station_init(unsigned workers);
/* After the workers stopped. */
void gw_station_fini(void);

static inline const struct kpg_stations *gw_station_current(void)
{
	return __atomic_load_n(&gw_station_table, __ATOMIC_ACQUIRE);
}

/* Re-reads the config file's stations and swaps the table; self_slot as
 * for gw_trust_reload(). 0 with a message, -EBUSY, or -EINVAL with the
 * refusal ("file:line: ...") in msg. The replay window's size stays. */
int gw_station_reload(int self_slot, char *msg, size_t len);

/* The sender of a request frame that gw_pkt_classify() located in pi. */
static inline void gw_station_source(const uint8_t *frame,
				     const struct gw_pkt_info *pi,
				     struct kpg_addr *a)
{
	a->family = pi->ipv6 ? 6 : 4;
	memcpy(a->a, frame + pi->l3 + (pi->ipv6 ? 8 : 12), pi->ipv6 ? 16 : 4);
}

#endif
