/* gw_metrics.h — the Prometheus endpoint: GET /metrics in the text
 * exposition format 0.0.4, served by libmicrohttpd from a control thread of
 * its own (made with rte_ctrl_thread_create, so it runs on the control
 * cores, never on a worker lcore). Config, the top-level group of the
 * config file:
 *   metrics: { enabled = true; listen = "127.0.0.1"; port = 9102; };
 * Without the group the endpoint is on at 127.0.0.1:9102 and a port already
 * taken there is only a warning (two gateways on one host); with the
 * group, a listener that cannot be made stops kpgate at start.
 *
 * Modules with figures of their own add a source that writes whole
 * families on the same page at each scrape, e.g. the station module
 * kpgate_station_requests_total{station=...} and the audit writer
 * kpgate_audit_backlog_records; deploy/grafana/kpgate.json expects those
 * names. A source runs on the metrics thread: it reads counters its
 * workers write, it never blocks on them. */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stddef.h>

#include "gw_config.h"
#include "gw_prom.h"

#define GW_METRICS_PORT_DEFAULT 9102

/* Reads the metrics group of c's file; before the EAL, so --check-config
 * sees its mistakes. 0, or -EINVAL with "file:line: reason" in err. */
int gw_metrics_configure(const struct gw_config *c, char *err, size_t len);

/* Opens the listener and starts the thread: 0, or a negative errno after
 * logging why. */
int gw_metrics_start(void);
/* Stops the thread and closes the listener; a scrape under way finishes
 * first. Sources stay registered. */
void gw_metrics_stop(void);

typedef void gw_metrics_source_fn(struct gw_prom *p, void *arg);

/* Any thread, any time; a source removed is never called again once
 * remove returns. 0, -EEXIST or -ENOSPC. */
int gw_metrics_add_source(gw_metrics_source_fn *fn, void *arg);
void gw_metrics_remove_source(gw_metrics_source_fn *fn, void *arg);

#endif
