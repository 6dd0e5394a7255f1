/* gw_port.h — DPDK ports for the gateway: one mbuf pool per socket, one
 * RX/TX queue pair per worker lcore on every configured port (RSS spreads
 * the flows when the device can; otherwise one RX queue, polled by worker
 * 0), addresses from the config. Works with any ethdev, vdevs included. */
#ifndef GW_PORT_H
#define GW_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mempool.h>

#include "gw_config.h"
#include "gw_pkt.h"

#define GW_RX_DESC 1024
#define GW_TX_DESC 1024
#define GW_MBUF_CACHE 256

struct gw_port {
	uint16_t port_id;
	uint16_t n_rxq, n_txq;
	bool rss;
	bool started;
	struct gw_if ifc;                /* what the parser answers for */
};

struct gw_ports {
	unsigned n;                      /* configured ports in use */
	struct gw_port port[GW_PORTS_MAX];
	struct rte_mempool *pool[RTE_MAX_NUMA_NODES];
};

/* Sets up and starts the ports; lcores[i] is worker i's lcore (queue i).
 * Returns 0, or a negative errno after logging why. */
int gw_ports_init(struct gw_ports *ps, const struct gw_config *c,
		  const unsigned *lcores, unsigned n_workers);

/* Stops and closes the ports, then frees the pools. */
void gw_ports_fini(struct gw_ports *ps);

/* "port 0 02:..:01 192.0.2.1 2001:db8::1" for the ready line. */
int gw_port_describe(const struct gw_port *p, char *buf, size_t len);

#endif
