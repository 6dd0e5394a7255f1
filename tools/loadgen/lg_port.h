/* lg_port.h — the generator's DPDK port: one RX/TX queue pair per queue
 * the gateway polls, an mbuf pool, link wait, and the gateway's MAC
 * learned by a proper ARP exchange (request from our address, reply
 * checked against what we asked). Works with any ethdev; on one machine
 * a memif client facing kpgate's memif server. */
#ifndef LG_PORT_H
#define LG_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#define LG_RX_DESC 1024u
#define LG_TX_DESC 1024u
#define LG_RING_MAX 4096u                /* memif rsize=12, as the benchmark runs it */
#define LG_RX_BURST 64u

struct lg_port {
	uint16_t id;
	uint16_t queues;
	struct rte_mempool *pool;
	uint8_t mac[6];
	uint8_t ip4[4];                  /* what we ARP from, and answer ARP for */
};

/* Sets up and starts port `id` with `queues` queue pairs, then waits up to
 * link_wait_s for the link (a memif client is up once connected).
 * 0, or -errno after logging why. */
int lg_port_init(struct lg_port *p, uint16_t id, uint16_t queues,
		 double link_wait_s);
void lg_port_fini(struct lg_port *p);

/* ARP for target from p->ip4, retrying for up to wait_s; the gateway's
 * MAC into mac. 0 or -ETIMEDOUT. */
int lg_port_arp(struct lg_port *p, const uint8_t target[4], uint8_t mac[6],
		double wait_s);

/* A received ARP request for our address is answered in place and sent
 * (on queue q); true when it took the mbuf. */
bool lg_port_arp_reply(struct lg_port *p, uint16_t q, struct rte_mbuf *m);

#endif
