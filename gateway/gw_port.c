/* gw_port.c — ethdev and mempool setup and teardown; see gw_port.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "gw_log.h"
#include "gw_port.h"

static unsigned socket_of(unsigned lcore)
{
	int s = (int)rte_lcore_to_socket_id(lcore);

	return s < 0 || s >= RTE_MAX_NUMA_NODES ? 0u : (unsigned)s;
}

/* mbufs a socket's pool must hold: every RX and TX ring full, each
 * worker's cold queue full, a burst in hand and the per-lcore caches. */
static uint32_t mbufs_needed(const struct gw_config *c, unsigned n_ports,
			     unsigned workers_here)
{
	return workers_here * (n_ports * (GW_RX_DESC + GW_TX_DESC) +
			       c->cold_queue + 2 * GW_BURST_MAX +
			       GW_MBUF_CACHE);
}

static int pools_init(struct gw_ports *ps, const struct gw_config *c,
		      const unsigned *lcores, unsigned n_workers)
{
	unsigned per_socket[RTE_MAX_NUMA_NODES] = { 0 };
	char name[RTE_MEMPOOL_NAMESIZE];

	for (unsigned i = 0; i < n_workers; i++)
		per_socket[socket_of(lcores[i])]++;
	for (unsigned s = 0; s < RTE_MAX_NUMA_NODES; s++) {
		uint32_t need;

		if (per_socket[s] == 0)
			continue;
		need = mbufs_needed(c, ps->n, per_socket[s]);
		if (c->mbufs < need) {
			GW_LOG(ERR, "gateway.mbufs = %u is too few for %u worker(s) on socket %u and %u port(s): at least %u\n",
			       c->mbufs, per_socket[s], s, ps->n, need);
			return -ENOBUFS;
		}
		snprintf(name, sizeof(name), "gw_mbuf_%u", s);
		ps->pool[s] = rte_pktmbuf_pool_create(name, c->mbufs,
						      GW_MBUF_CACHE, 0,
						      RTE_MBUF_DEFAULT_BUF_SIZE,
						      (int)s);
		if (ps->pool[s] == NULL)     /* e.g. --no-huge: memory on no node */
			ps->pool[s] = rte_pktmbuf_pool_create(name, c->mbufs,
							      GW_MBUF_CACHE, 0,
							      RTE_MBUF_DEFAULT_BUF_SIZE,
							      SOCKET_ID_ANY);
		if (ps->pool[s] == NULL) {
			GW_LOG(ERR, "cannot create mbuf pool of %u on socket %u: %s\n",
			       c->mbufs, s, rte_strerror(rte_errno));
			return -ENOMEM;
		}
	}
	return 0;
}

static int port_init(struct gw_ports *ps, struct gw_port *p,
		     const struct gw_config *c, const unsigned *lcores,
		     unsigned n_workers)
{
	struct rte_eth_conf conf = { 0 };
	struct rte_eth_dev_info info;
	struct rte_ether_addr mac;
	uint16_t nrxd = GW_RX_DESC, ntxd = GW_TX_DESC;
	int rc;

	rc = rte_eth_dev_info_get(p->port_id, &info);
	if (rc != 0) {
		GW_LOG(ERR, "port %u: no device info: %s\n", p->port_id, strerror(-rc));
		return rc;
	}
	if (info.max_tx_queues < n_workers) {
		GW_LOG(ERR, "port %u (%s): %u TX queues, %u worker lcores need one each\n",
		       p->port_id, info.driver_name, info.max_tx_queues, n_workers);
		return -EINVAL;
	}
	p->n_txq = (uint16_t)n_workers;
	p->n_rxq = 1;
	/* One RX queue per worker whenever the device has them: with RSS the
	 * device spreads the flows; without (memif, a software peer) the
	 * sender picks the queue, as kpgate-loadgen does by 5-tuple hash. */
	if (n_workers > 1 && info.max_rx_queues >= n_workers)
		p->n_rxq = (uint16_t)n_workers;
	if (p->n_rxq > 1 &&
	    (info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP))) {
		p->rss = true;
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP) &
						   info.flow_type_rss_offloads;
	}
	rc = rte_eth_dev_configure(p->port_id, p->n_rxq, p->n_txq, &conf);
	if (rc == 0)
		rc = rte_eth_dev_adjust_nb_rx_tx_desc(p->port_id, &nrxd, &ntxd);
	if (rc != 0) {
		GW_LOG(ERR, "port %u (%s): configure %u rx / %u tx queues: %s\n",
		       p->port_id, info.driver_name, p->n_rxq, p->n_txq, strerror(-rc));
		return rc;
	}
	for (uint16_t q = 0; q < p->n_txq; q++) {
		unsigned s = socket_of(lcores[q]);

		if (q < p->n_rxq) {
			rc = rte_eth_rx_queue_setup(p->port_id, q, nrxd, s, NULL,
						    ps->pool[s]);
			if (rc != 0) {
				GW_LOG(ERR, "port %u: rx queue %u: %s\n", p->port_id,
				       q, strerror(-rc));
				return rc;
			}
		}
		rc = rte_eth_tx_queue_setup(p->port_id, q, ntxd, s, NULL);
		if (rc != 0) {
			GW_LOG(ERR, "port %u: tx queue %u: %s\n", p->port_id, q,
			       strerror(-rc));
			return rc;
		}
	}
	rc = rte_eth_macaddr_get(p->port_id, &mac);
	if (rc != 0)
		return rc;
	memcpy(p->ifc.mac, mac.addr_bytes, 6);
	rc = rte_eth_dev_start(p->port_id);
	if (rc != 0) {
		GW_LOG(ERR, "port %u: start: %s\n", p->port_id, strerror(-rc));
		return rc;
	}
	p->started = true;
	/* Neighbour solicitations arrive on solicited-node multicast. */
	rte_eth_allmulticast_enable(p->port_id);
	return 0;
}

int gw_port_describe(const struct gw_port *p, char *buf, size_t len)
{
	char a4[INET_ADDRSTRLEN] = "-", a6[INET6_ADDRSTRLEN] = "-";
	const uint8_t *m = p->ifc.mac;

	if (p->ifc.has_ip4)
		inet_ntop(AF_INET, p->ifc.ip4, a4, sizeof(a4));
	if (p->ifc.has_ip6)
		inet_ntop(AF_INET6, p->ifc.ip6, a6, sizeof(a6));
	char vl[16] = "";

	if (p->ifc.vlan)
		snprintf(vl, sizeof(vl), " vlan %u", p->ifc.vlan);
	return snprintf(buf, len, "port %u %02x:%02x:%02x:%02x:%02x:%02x %s %s%s",
			p->port_id, m[0], m[1], m[2], m[3], m[4], m[5], a4, a6, vl);
}

int gw_ports_init(struct gw_ports *ps, const struct gw_config *c,
		  const unsigned *lcores, unsigned n_workers)
{
	unsigned avail = rte_eth_dev_count_avail(), i = 0;
	uint16_t pid;
	int rc;

	memset(ps, 0, sizeof(*ps));
	if (avail == 0) {
		GW_LOG(ERR, "no DPDK port: give a device or a vdev (e.g. --vdev net_tap0)\n");
		return -ENODEV;
	}
	if (avail < c->n_ports) {
		GW_LOG(ERR, "%s: %u port(s) configured but DPDK has %u\n",
		       c->file[0] ? c->file : "defaults", c->n_ports, avail);
		return -ENODEV;
	}
	if (avail > c->n_ports)
		GW_LOG(WARNING, "%u DPDK port(s) without a config entry left unused\n",
		       avail - c->n_ports);
	RTE_ETH_FOREACH_DEV(pid) {
		struct gw_port *p;

		if (i == c->n_ports)
			break;
		p = &ps->port[i];
		p->port_id = pid;
		p->ifc.has_ip4 = c->ports[i].has_ip4;
		p->ifc.has_ip6 = c->ports[i].has_ip6;
		memcpy(p->ifc.ip4, c->ports[i].ip4, 4);
		memcpy(p->ifc.ip6, c->ports[i].ip6, 16);
		p->ifc.vlan = c->ports[i].vlan;
		p->ifc.udp_port = c->udp_port;
		i++;
	}
	ps->n = i;
	rc = pools_init(ps, c, lcores, n_workers);
	if (rc != 0)
		return rc;
	for (i = 0; i < ps->n; i++) {
		rc = port_init(ps, &ps->port[i], c, lcores, n_workers);
		if (rc != 0)
			return rc;
	}
	for (i = 0; i < ps->n; i++) {
		struct gw_port *p = &ps->port[i];
		struct rte_eth_link link;
		char ls[RTE_ETH_LINK_MAX_STR_LEN] = "unknown", d[160];

		if (rte_eth_link_get_nowait(p->port_id, &link) == 0)
			rte_eth_link_to_str(ls, sizeof(ls), &link);
		gw_port_describe(p, d, sizeof(d));
		GW_LOG(INFO, "%s: %u rx / %u tx queue(s)%s, %s\n", d, p->n_rxq,
		       p->n_txq, p->rss ? " with RSS" : "", ls);
	}
	return 0;
}

void gw_ports_fini(struct gw_ports *ps)
{
	for (unsigned i = 0; i < ps->n; i++) {
		struct gw_port *p = &ps->port[i];

		if (p->started) {
			int rc = rte_eth_dev_stop(p->port_id);

			if (rc != 0)
				GW_LOG(WARNING, "port %u: stop: %s\n", p->port_id,
				       strerror(-rc));
			p->started = false;
		}
		rte_eth_dev_close(p->port_id);
	}
	ps->n = 0;
	for (unsigned s = 0; s < RTE_MAX_NUMA_NODES; s++) {
		rte_mempool_free(ps->pool[s]);
		ps->pool[s] = NULL;
	}
}
