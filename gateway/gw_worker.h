/* gw_worker.h — one worker lcore's run-to-completion loop and its private,
 * cache-aligned state: the request engine, a job pool, the bounded cold
 * queue of requests waiting for signature verification, TX buffers and
 * counters. Per loop: RX burst, answer what is answerable at once, send
 * those first, then verify cold jobs one by one, sending each answer, until
 * verifies_per_loop are done or verify_budget_us has passed (at least
 * one), so a warm request never waits behind more than the budget and one
 * verify. Nothing here allocates, locks, logs or makes a
 * syscall per packet; counters are summed by readers (gw_stats). */
#ifndef GW_WORKER_H
#define GW_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <rte_common.h>
#include <rte_mbuf.h>

#include "gw_config.h"
#include "gw_latency.h"
#include "gw_pkt.h"
#include "gw_port.h"
#include "kpg_engine.h"

struct gw_worker_stats {
	uint64_t rx, tx, tx_dropped;
	uint64_t requests;               /* datagrams handed to the engine */
	uint64_t answered;               /* answers to requests queued for TX */
	uint64_t replies[GW_REPLY_ND + 1];  /* ARP, echo and ND answers by kind */
	uint64_t drops[GW_DROP__COUNT];
	uint64_t idle_sleeps;
	uint64_t loops;                  /* polls of the RX queues */
	uint64_t busy_loops;             /* ... that had work: packets, verifies */
	uint64_t busy_tsc;               /* TSC ticks those busy polls took */
	uint64_t drained;                /* answered overloaded while draining */
	uint64_t audit_backpressure;     /* dropped: held replies at audit.held_max */
	uint64_t audit_ring_full;        /* audit ring full: async lost the record,
					  * written/synced dropped the reply */
	struct gw_lat_hist lat[GW_LAT__COUNT];  /* RX burst to TX queueing */
} __rte_cache_aligned;

struct gw_audit_lane;

struct gw_cold {
	struct kpg_job *job;
	struct rte_mbuf *m;
	struct gw_pkt_info pi;
	uint16_t port;                   /* index into gw_ports */
	uint64_t rx_tsc;                 /* of its RX burst */
};

struct gw_rxq {
	uint16_t port;                   /* index into gw_ports */
	uint16_t queue;
};

struct gw_worker {
	struct kpg_engine *engine;
	const struct gw_ports *ports;
	unsigned index;                  /* trust slot, RCU thread id, TX queue */
	unsigned lcore;
	uint32_t burst, verifies_per_loop, idle_polls;
	uint64_t verify_budget;          /* TSC ticks of cold work per loop */
	struct timespec idle_sleep;      /* zero: busy poll */
	void (*control)(void);           /* main lcore only: between bursts */
	struct gw_audit_lane *audit;     /* NULL: no audit (gw_audit.h) */

	unsigned n_rx;
	struct gw_rxq rx[GW_PORTS_MAX];

	struct gw_cold *cold;            /* FIFO of cold_size */
	uint32_t cold_size, cold_head, cold_n;
	struct kpg_job *jobs;            /* cold_size + 1: one is being staged */
	struct kpg_job **free_jobs;
	uint32_t n_free;

	uint64_t rx_tsc;                 /* TSC at the last RX burst */
	uint64_t lat_bound[GW_LAT_BOUNDS];  /* gw_lat_bound_ns in ticks */

	uint16_t n_tx[GW_PORTS_MAX];
	struct rte_mbuf *tx[GW_PORTS_MAX][GW_BURST_MAX];

	uint8_t scratch[KPG_DATAGRAM_MAX] __rte_cache_aligned;
	struct gw_worker_stats stats;
} __rte_cache_aligned;

/* Builds worker `index` for `lcore`; NULL (logged) on failure. */
struct gw_worker *gw_worker_new(unsigned index, unsigned lcore,
				const struct gw_config *c,
				const struct gw_ports *ps);
void gw_worker_delete(struct gw_worker *w);

/* The lcore entry point (arg: struct gw_worker *). Returns after a stop
 * request once its cold queue is drained and sent. */
int gw_worker_main(void *arg);

/* Draining: every readable new request is answered overloaded (stations
 * go to another gateway) before any check runs; what is queued is still
 * answered. Turned on and off by control threads, read by the workers. */
void gw_worker_drain(bool on);
bool gw_worker_draining(void);
/* Requests of w waiting in its cold queue, read from a control thread. */
uint32_t gw_worker_in_flight(const struct gw_worker *w);

/* Async-signal-safe: asks every worker to stop. */
void gw_worker_stop_all(void);
bool gw_worker_stopping(void);

#endif
