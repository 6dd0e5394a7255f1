/* lg_port.c — the generator's port; see lg_port.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "lg_frame.h"
#include "lg_port.h"

#define LG_MBUF_CACHE 256u

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000u, (long)(ms % 1000u) * 1000000L };

	nanosleep(&ts, NULL);
}

int lg_port_init(struct lg_port *p, uint16_t id, uint16_t queues,
		 double link_wait_s)
{
	struct rte_eth_conf conf = { 0 };
	struct rte_eth_dev_info info;
	struct rte_ether_addr mac;
	struct rte_eth_link link;
	uint16_t nrxd = LG_RX_DESC, ntxd = LG_TX_DESC;
	unsigned n_mbufs;
	int socket, rc;

	memset(p, 0, sizeof(*p));
	p->id = id;
	p->queues = queues;
	if (!rte_eth_dev_is_valid_port(id)) {
		fprintf(stderr, "kpgate-loadgen: no DPDK port %u (give --vdev net_memif0,role=client,...)\n", id);
		return -ENODEV;
	}
	rc = rte_eth_dev_info_get(id, &info);
	if (rc != 0)
		return rc;
	if (info.max_rx_queues < queues || info.max_tx_queues < queues) {
		fprintf(stderr, "kpgate-loadgen: port %u (%s) has %u rx / %u tx queues, %u wanted\n",
			id, info.driver_name, info.max_rx_queues, info.max_tx_queues, queues);
		return -EINVAL;
	}
	socket = rte_eth_dev_socket_id(id);
	if (socket < 0)
		socket = (int)rte_socket_id();
	/* Every ring full, a burst per queue in hand, and the lcore cache.
	 * memif sizes its rings itself (rsize, up to LG_RING_MAX slots) and,
	 * zero-copy, fills them with this pool's mbufs. */
	n_mbufs = queues * (2u * RTE_MAX(LG_RX_DESC, LG_RING_MAX) + 2u * LG_RX_BURST) +
		  2u * LG_MBUF_CACHE;
	n_mbufs = rte_align32pow2(n_mbufs) - 1u;
	p->pool = rte_pktmbuf_pool_create("lg_mbuf", n_mbufs, LG_MBUF_CACHE, 0,
					  RTE_MBUF_DEFAULT_BUF_SIZE, socket);
	if (p->pool == NULL)
		p->pool = rte_pktmbuf_pool_create("lg_mbuf", n_mbufs, LG_MBUF_CACHE, 0,
						  RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (p->pool == NULL) {
		fprintf(stderr, "kpgate-loadgen: cannot create a pool of %u mbufs\n", n_mbufs);
		return -ENOMEM;
	}
	rc = rte_eth_dev_configure(id, queues, queues, &conf);
	if (rc == 0)
		rc = rte_eth_dev_adjust_nb_rx_tx_desc(id, &nrxd, &ntxd);
	for (uint16_t q = 0; rc == 0 && q < queues; q++) {
		rc = rte_eth_rx_queue_setup(id, q, nrxd, (unsigned)socket, NULL, p->pool);
		if (rc == 0)
			rc = rte_eth_tx_queue_setup(id, q, ntxd, (unsigned)socket, NULL);
	}
	if (rc == 0)
		rc = rte_eth_macaddr_get(id, &mac);
	/* A memif server still tearing down the previous client's connection
	 * refuses the next one for a moment: try again until the link wait. */
	for (unsigned waited = 0; rc == 0; waited += 100) {
		rc = rte_eth_dev_start(id);
		if (rc == 0 || waited >= link_wait_s * 1000)
			break;
		rte_eth_dev_stop(id);
		sleep_ms(100);
		rc = 0;
	}
	if (rc != 0) {
		fprintf(stderr, "kpgate-loadgen: port %u (%s): setup: %s\n", id,
			info.driver_name, strerror(-rc));
		return rc;
	}
	memcpy(p->mac, mac.addr_bytes, 6);
	for (unsigned waited = 0;; waited += 10) {
		if (rte_eth_link_get_nowait(id, &link) == 0 &&
		    link.link_status == RTE_ETH_LINK_UP)
			return 0;
		if (waited >= link_wait_s * 1000) {
			fprintf(stderr, "kpgate-loadgen: port %u: link down after %.0f s (is the gateway up?)\n",
				id, link_wait_s);
			return -ENOLINK;
		}
		sleep_ms(10);
	}
}

void lg_port_fini(struct lg_port *p)
{
	if (p->pool == NULL)
		return;
	rte_eth_dev_stop(p->id);
	rte_eth_dev_close(p->id);
	rte_mempool_free(p->pool);
	p->pool = NULL;
}

bool lg_port_arp_reply(struct lg_port *p, uint16_t q, struct rte_mbuf *m)
{
	uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
	struct lg_rx_info ri;

	if (m->data_len < LG_ARP_FRAME && rte_pktmbuf_tailroom(m) < LG_ARP_FRAME - m->data_len)
		return false;
	if (lg_frame_classify(f, m->data_len, &ri) != LG_RX_ARP_REQUEST ||
	    memcmp(ri.arp_target_ip, p->ip4, 4) != 0)
		return false;
	m->data_len = m->pkt_len = lg_frame_arp_answer(f, p->mac);
	if (rte_eth_tx_burst(p->id, q, &m, 1) != 1)
		rte_pktmbuf_free(m);
	return true;
}

/* Polls every queue for an ARP reply from target to us. */
static bool arp_poll(struct lg_port *p, const uint8_t target[4], uint8_t mac[6])
{
	struct rte_mbuf *pkts[LG_RX_BURST];
	bool found = false;

	for (uint16_t q = 0; q < p->queues; q++) {
		uint16_t n = rte_eth_rx_burst(p->id, q, pkts, LG_RX_BURST);

		for (uint16_t i = 0; i < n; i++) {
			struct lg_rx_info ri;
			const uint8_t *f = rte_pktmbuf_mtod(pkts[i], const uint8_t *);

			if (lg_port_arp_reply(p, q, pkts[i]))
				continue;
			if (lg_frame_classify(f, pkts[i]->data_len, &ri) == LG_RX_ARP_REPLY &&
			    memcmp(ri.arp_sender_ip, target, 4) == 0 &&
			    memcmp(ri.arp_target_ip, p->ip4, 4) == 0 &&
			    !(ri.peer_mac[0] & 1u)) {
				memcpy(mac, ri.peer_mac, 6);
				found = true;
			}
			rte_pktmbuf_free(pkts[i]);
		}
	}
	return found;
}

int lg_port_arp(struct lg_port *p, const uint8_t target[4], uint8_t mac[6],
		double wait_s)
{
	uint64_t hz = rte_get_tsc_hz(), end = rte_rdtsc() + (uint64_t)(wait_s * (double)hz);

	while (rte_rdtsc() < end) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(p->pool);
		uint64_t retry = rte_rdtsc() + hz / 5;   /* ask again every 200 ms */

		if (m == NULL)
			return -ENOMEM;
		m->data_len = m->pkt_len = lg_frame_arp_request(rte_pktmbuf_mtod(m, uint8_t *),
								p->mac, p->ip4, target);
		if (rte_eth_tx_burst(p->id, 0, &m, 1) != 1)
			rte_pktmbuf_free(m);
		while (rte_rdtsc() < retry) {
			if (arp_poll(p, target, mac))
				return 0;
			sleep_ms(1);
		}
	}
	return -ETIMEDOUT;
}
