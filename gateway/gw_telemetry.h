/* gw_telemetry.h — kpgate's DPDK telemetry commands, read with
 * dpdk-telemetry.py or the socket dpdk_telemetry.v2:
 *   /kpgate/stats   traffic, requests, decisions, errors, cache, verifies
 *   /kpgate/drops   every drop reason by name: packet, request, error
 *   /kpgate/status  version, uptime, lcores, ports, trust list in force
 *   /kpgate/reload  reloads the trust list, says the version or refusal
 *   /kpgate/plugins per plugin: place in the chain, decisions
 *   /kpgate/keys    the trust list's keys, a page from the offset given
 *   /kpgate/drain   drain on (default), off, or status
 * Counters are per lcore and summed on read, by gw_stats. */
#ifndef GW_TELEMETRY_H
#define GW_TELEMETRY_H

#include "gw_port.h"
#include "gw_worker.h"

int gw_telemetry_init(struct gw_worker *const *workers, unsigned n,
		      const struct gw_ports *ports);

/* Before the workers are freed: later reads answer an error. */
void gw_telemetry_fini(void);

#endif
