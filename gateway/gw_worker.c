/* gw_worker.c — the worker loop; see gw_worker.h. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#include "gw_audit.h"
#include "gw_log.h"
#include "gw_policy.h"
#include "gw_station.h"
#include "gw_trust.h"
#include "gw_worker.h"

/* Certificate decoding arena per lcore: a request is at most 1200 bytes,
 * its decoded form a few times that. */
#define GW_ARENA_BYTES (64u * 1024u)

static int quit;

void gw_worker_stop_all(void)
{
	__atomic_store_n(&quit, 1, __ATOMIC_RELAXED);
}

bool gw_worker_stopping(void)
{
	return __atomic_load_n(&quit, __ATOMIC_RELAXED) != 0;
}

static int draining;

void gw_worker_drain(bool on)
{
	__atomic_store_n(&draining, on, __ATOMIC_RELAXED);
}

bool gw_worker_draining(void)
{
	return __atomic_load_n(&draining, __ATOMIC_RELAXED) != 0;
}

uint32_t gw_worker_in_flight(const struct gw_worker *w)
{
	return __atomic_load_n(&w->cold_n, __ATOMIC_RELAXED);
}

static void *zalloc(const char *what, size_t n, unsigned lcore)
{
	int s = (int)rte_lcore_to_socket_id(lcore);
	void *p = rte_zmalloc_socket(what, n, RTE_CACHE_LINE_SIZE, s);

	return p ? p : rte_zmalloc(what, n, RTE_CACHE_LINE_SIZE);
}

struct gw_worker *gw_worker_new(unsigned index, unsigned lcore,
				const struct gw_config *c,
				const struct gw_ports *ps)
{
	struct kpg_engine_conf ec = {
		.cache_entries = c->cache_entries,
		.clock_skew_s = c->clock_skew_s,
		.trust_grace_s = c->trust_grace_s,
		.slot = index,
		.arena_bytes = GW_ARENA_BYTES,
		.replay_entries = gw_station_replay_entries(),
	};
	struct gw_worker *w = zalloc("gw_worker", sizeof(*w), lcore);

	if (w == NULL)
		goto nomem;
	w->index = index;
	w->lcore = lcore;
	w->ports = ps;
	w->burst = c->burst;
	w->verifies_per_loop = c->verifies_per_loop;
	w->verify_budget = c->verify_budget_us * rte_get_tsc_hz() / 1000000u;
	w->idle_polls = c->idle_polls;
	w->idle_sleep.tv_sec = c->idle_sleep_us / 1000000;
	w->idle_sleep.tv_nsec = (long)(c->idle_sleep_us % 1000000) * 1000;
	gw_lat_bounds_ticks(rte_get_tsc_hz(), w->lat_bound);
	for (unsigned i = 0; i < ps->n; i++)
		if (index < ps->port[i].n_rxq) {
			w->rx[w->n_rx].port = (uint16_t)i;
			w->rx[w->n_rx].queue = (uint16_t)index;
			w->n_rx++;
		}

	w->cold_size = c->cold_queue;
	w->cold = zalloc("gw_cold", sizeof(*w->cold) * w->cold_size, lcore);
	w->jobs = zalloc("gw_jobs", sizeof(*w->jobs) * (w->cold_size + 1), lcore);
	w->free_jobs = zalloc("gw_free_jobs",
			      sizeof(*w->free_jobs) * (w->cold_size + 1), lcore);
	if (w->cold == NULL || w->jobs == NULL || w->free_jobs == NULL)
		goto nomem;
	for (uint32_t i = 0; i <= w->cold_size; i++)
		w->free_jobs[w->n_free++] = &w->jobs[i];

	w->engine = kpg_engine_new(&ec);
	if (w->engine == NULL) {
		GW_LOG(ERR, "worker %u: cannot create the request engine\n", index);
		gw_worker_delete(w);
		return NULL;
	}
	return w;
nomem:
	GW_LOG(ERR, "worker %u: out of memory for %u cold jobs\n", index,
	       c->cold_queue);
	gw_worker_delete(w);
	return NULL;
}

void gw_worker_delete(struct gw_worker *w)
{
	if (w == NULL)
		return;
	kpg_engine_delete(w->engine);
	rte_free(w->free_jobs);
	rte_free(w->jobs);
	rte_free(w->cold);
	rte_free(w);
}

static inline void drop(struct gw_worker *w, struct rte_mbuf *m, enum gw_drop why)
{
	w->stats.drops[why]++;
	rte_pktmbuf_free(m);
}

static void tx_flush_port(struct gw_worker *w, uint16_t pi)
{
	uint16_t n = w->n_tx[pi], sent;

	sent = rte_eth_tx_burst(w->ports->port[pi].port_id, (uint16_t)w->index,
				w->tx[pi], n);
	w->stats.tx += sent;
	if (unlikely(sent < n)) {
		w->stats.tx_dropped += n - sent;
		w->stats.drops[GW_DROP_TX_FULL] += n - sent;
		rte_pktmbuf_free_bulk(&w->tx[pi][sent], n - sent);
	}
	w->n_tx[pi] = 0;
}

static void tx_flush(struct gw_worker *w)
{
	for (uint16_t i = 0; i < w->ports->n; i++)
		if (w->n_tx[i])
			tx_flush_port(w, i);
}

static inline void tx_queue(struct gw_worker *w, uint16_t pi,
			    struct rte_mbuf *m, uint32_t len)
{
	m->data_len = (uint16_t)len;
	m->pkt_len = len;
	m->ol_flags = 0;
	if (unlikely(w->n_tx[pi] == GW_BURST_MAX))
		tx_flush_port(w, pi);
	w->tx[pi][w->n_tx[pi]++] = m;
}

static inline void job_put(struct gw_worker *w, struct kpg_job *j)
{
	w->free_jobs[w->n_free++] = j;
}

/* Held replies whose audit records are durable now go out, in order,
 * straight to the device: one fdatasync can free hundreds at once, and
 * what the TX ring cannot take stays held for the next loop instead of
 * being dropped. */
static void audit_release(struct gw_worker *w)
{
	struct rte_mbuf *m, *pkts[GW_BURST_MAX];
	uint16_t port[GW_BURST_MAX], pi;
	uint32_t len[GW_BURST_MAX], n, i, j;

	do {
		for (n = 0; n < GW_BURST_MAX &&
		     (m = gw_audit_ready(w->audit, &pi, &len[n])) != NULL; n++) {
			m->data_len = (uint16_t)len[n];
			m->pkt_len = len[n];
			m->ol_flags = 0;
			pkts[n] = m;
			port[n] = pi;
		}
		for (i = 0; i < n; i = j) {
			uint16_t sent;

			for (j = i; j < n && port[j] == port[i]; j++)
				;
			sent = rte_eth_tx_burst(w->ports->port[port[i]].port_id,
						(uint16_t)w->index, &pkts[i],
						(uint16_t)(j - i));
			w->stats.tx += sent;
			w->stats.answered += sent;
			if (sent < j - i) {
				/* back at the head, in order */
				for (uint32_t k = n; k-- > i + sent;)
					gw_audit_unready(w->audit, pkts[k], port[k], len[k]);
				return;
			}
		}
	} while (n == GW_BURST_MAX);
}

/* The engine's step for a request: its answer goes out in the request's
 * own mbuf (addresses swapped), or the mbuf is freed. An answer counts in
 * the latency histogram of its path, from the TSC of its RX burst. */
static void answer(struct gw_worker *w, uint16_t pi, struct rte_mbuf *m,
		   const struct gw_pkt_info *info, enum kpg_step step,
		   uint32_t out_len, enum gw_lat_path path, uint64_t rx_tsc)
{
	const struct gw_port *p = &w->ports->port[pi];

	if (step == KPG_STEP_DROP) {
		drop(w, m, GW_DROP_REQUEST_DROPPED);
		return;
	}
	if (unlikely(out_len == 0 || out_len > info->payload_len)) {
		drop(w, m, GW_DROP_REPLY_FAILED);
		return;
	}
	/* The audit record first: the reply overwrites the request, which
	 * an accepted certificate's confirmation is made from. */
	enum gw_audit_fate fate = gw_audit_record(w->audit,
		kpg_engine_audit(w->engine),
		rte_pktmbuf_mtod_offset(m, const uint8_t *, info->payload),
		info->payload_len);

	if (unlikely(fate == GW_AUDIT_LOST)) {
		w->stats.audit_ring_full++;
		if (w->audit->hold) {        /* never a reply whose record is lost */
			rte_pktmbuf_free(m);
			return;
		}
	}
	uint32_t len = gw_pkt_reply(&p->ifc, rte_pktmbuf_mtod(m, uint8_t *),
				    info, w->scratch, out_len);

	gw_lat_count(&w->stats.lat[path], w->lat_bound, rte_rdtsc() - rx_tsc);
	if (fate == GW_AUDIT_HOLD) {
		/* Sent by audit_release() once its record is durable. */
		if (unlikely(!gw_audit_hold(w->audit, m, pi, len))) {
			w->stats.audit_backpressure++;
			rte_pktmbuf_free(m);
		}
		return;
	}
	w->stats.answered++;
	tx_queue(w, pi, m, len);
}

static void request(struct gw_worker *w, uint16_t pi, struct rte_mbuf *m,
		    const struct gw_pkt_info *info)
{
	struct kpg_job *j = w->free_jobs[--w->n_free];
	enum kpg_step step;
	uint32_t out_len = 0;

	if (unlikely(!gw_audit_admit(w->audit, w->cold_n))) {
		/* Its reply could not be held until its record is durable:
		 * dropped before the engine, so no plugin commits it. */
		w->stats.audit_backpressure++;
		job_put(w, j);
		rte_pktmbuf_free(m);
		return;
	}
	w->stats.requests++;
	j->dgram = rte_pktmbuf_mtod_offset(m, const uint8_t *, info->payload);
	j->len = info->payload_len;
	gw_station_source(rte_pktmbuf_mtod(m, const uint8_t *), info, &j->src);
	if (unlikely(gw_worker_draining()) &&
	    kpg_request_parse(j->dgram, j->len, &j->rq) == KPG_REQ_OK) {
		/* Refused before any check, so no plugin commits a request
		 * this gateway will not judge; unreadable ones are staged
		 * below and answered their error as usual. */
		w->stats.drained++;
		step = kpg_engine_refuse(w->engine, j, KPG_ERR_OVERLOADED,
					 w->scratch, info->payload_len, &out_len);
		job_put(w, j);
		answer(w, pi, m, info, step, out_len, GW_LAT_WARM, w->rx_tsc);
		return;
	}
	step = kpg_engine_stage(w->engine, j, w->scratch, info->payload_len,
				&out_len);
	if (step == KPG_STEP_VERIFY) {
		if (likely(w->cold_n < w->cold_size)) {
			uint32_t t = w->cold_head + w->cold_n;
			struct gw_cold *c;

			if (t >= w->cold_size)
				t -= w->cold_size;
			c = &w->cold[t];
			c->job = j;
			c->m = m;
			c->pi = *info;
			c->port = pi;
			c->rx_tsc = w->rx_tsc;
			w->cold_n++;
			return;
		}
		/* Full: the sender is told to back off rather than left to
		 * time out; counted as a drop of the request. */
		w->stats.drops[GW_DROP_COLD_QUEUE_FULL]++;
		step = kpg_engine_refuse(w->engine, j, KPG_ERR_OVERLOADED,
					 w->scratch, info->payload_len, &out_len);
	}
	job_put(w, j);
	answer(w, pi, m, info, step, out_len, GW_LAT_WARM, w->rx_tsc);
}

static void rx_one(struct gw_worker *w, uint16_t pi, struct rte_mbuf *m)
{
	const struct gw_port *p = &w->ports->port[pi];
	struct gw_pkt_info info;

	if (unlikely(m->nb_segs != 1)) {
		drop(w, m, GW_DROP_MULTI_SEGMENT);
		return;
	}
	switch (gw_pkt_classify(&p->ifc, rte_pktmbuf_mtod(m, uint8_t *),
				m->data_len,
				m->data_len + rte_pktmbuf_tailroom(m), &info)) {
	case GW_PKT_REQUEST:
		request(w, pi, m, &info);
		break;
	case GW_PKT_REPLY:
		w->stats.replies[info.reply]++;
		tx_queue(w, pi, m, info.len);
		break;
	case GW_PKT_DROP:
		drop(w, m, info.drop);
		break;
	}
}

/* Verifies cold jobs in arrival order, one at a time, and sends each
 * answer at once: at most verifies_per_loop of them, and no new one once
 * the loop's verify budget is spent. A verify cannot be cut short, so a
 * warm request arriving meanwhile waits for the budget plus one verify at
 * most, not for a whole batch. */
static void cold_run(struct gw_worker *w)
{
	uint64_t start = rte_rdtsc();

	for (uint32_t i = 0; i < w->verifies_per_loop && w->cold_n != 0; i++) {
		struct gw_cold *c = &w->cold[w->cold_head];
		uint32_t out_len = 0;
		enum kpg_step step;

		if (i != 0 && rte_rdtsc() - start >= w->verify_budget)
			break;
		kpg_engine_verify(w->engine, &c->job, 1);
		step = kpg_engine_finish(w->engine, c->job, w->scratch,
					 c->pi.payload_len, &out_len);
		job_put(w, c->job);
		answer(w, c->port, c->m, &c->pi, step, out_len, GW_LAT_COLD,
		       c->rx_tsc);
		if (++w->cold_head == w->cold_size)
			w->cold_head = 0;
		w->cold_n--;
		tx_flush(w);
	}
}

static inline void burst_begin(struct gw_worker *w)
{
	struct timespec now;

	/* vDSO: no syscall; one reading serves the whole burst. */
	clock_gettime(CLOCK_REALTIME_COARSE, &now);
	kpg_engine_begin(w->engine, gw_trust_current(), gw_policy_current(),
			 gw_station_current(), now.tv_sec * 1000000000ll + now.tv_nsec);
}

/* One poll of every RX queue, then the cold work. The ticks of polls that
 * found work add up to the worker's busy time: requests per busy second
 * is what one lcore can do, whatever the offered load. */
static unsigned loop_once(struct gw_worker *w)
{
	struct rte_mbuf *pkts[GW_BURST_MAX];
	uint64_t start = rte_rdtsc();
	unsigned total = 0;
	bool cold = w->cold_n != 0;

	burst_begin(w);
	for (unsigned r = 0; r < w->n_rx; r++) {
		uint16_t pi = w->rx[r].port;
		uint16_t n = rte_eth_rx_burst(w->ports->port[pi].port_id,
					      w->rx[r].queue, pkts,
					      (uint16_t)w->burst);

		w->rx_tsc = rte_rdtsc();
		w->stats.rx += n;
		total += n;
		for (uint16_t i = 0; i < n; i++) {
			if (i + 1 < n)
				rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
			rx_one(w, pi, pkts[i]);
		}
	}
	/* Warm answers leave before any cold verify of this burst. */
	audit_release(w);
	tx_flush(w);
	cold_run(w);
	gw_trust_quiescent(w->index);
	w->stats.loops++;
	if (total != 0 || cold) {
		w->stats.busy_loops++;
		w->stats.busy_tsc += rte_rdtsc() - start;
	}
	return total;
}

/* At stop: held replies leave as their records become durable; a writer
 * that cannot write gets a few seconds, then they are dropped unsent. */
static void audit_drain(struct gw_worker *w)
{
	uint64_t deadline = rte_rdtsc() + 5 * rte_get_tsc_hz();
	struct timespec pause = { 0, 50000 };

	while (gw_audit_held_n(w->audit) != 0) {
		audit_release(w);
		tx_flush(w);
		if (gw_audit_held_n(w->audit) == 0)
			break;
		if (rte_rdtsc() > deadline) {
			GW_LOG(ERR, "worker %u: %u replies dropped at stop: their "
			       "audit records never became durable\n", w->index,
			       gw_audit_drop_held(w->audit));
			break;
		}
		nanosleep(&pause, NULL);
	}
}

int gw_worker_main(void *arg)
{
	struct gw_worker *w = arg;
	uint32_t empty = 0;

	if (gw_trust_reader_online(w->index) != 0) {
		GW_LOG(ERR, "worker %u: cannot register with RCU\n", w->index);
		return -EINVAL;
	}
	GW_LOG(INFO, "worker %u on lcore %u: %u rx queue(s)\n", w->index,
	       w->lcore, w->n_rx);
	while (!gw_worker_stopping()) {
		if (w->control)
			w->control();
		if (loop_once(w) != 0 || w->cold_n != 0 ||
		    gw_audit_held_n(w->audit) != 0) {
			empty = 0;
			continue;
		}
		/* Idle: yield the core after idle_polls empty polls, so
		 * processes sharing cores (tests, small boxes) do not starve. */
		if (empty < w->idle_polls)
			empty++;
		else if (w->idle_sleep.tv_sec != 0 || w->idle_sleep.tv_nsec != 0) {
			w->stats.idle_sleeps++;
			nanosleep(&w->idle_sleep, NULL);
		}
	}
	/* Stop receiving; answer what is already queued. */
	while (w->cold_n != 0) {
		burst_begin(w);
		cold_run(w);
		gw_trust_quiescent(w->index);
	}
	audit_drain(w);
	tx_flush(w);
	gw_trust_reader_offline(w->index);
	GW_LOG(INFO, "worker %u stopped: %" PRIu64 " rx, %" PRIu64 " tx\n",
	       w->index, w->stats.rx, w->stats.tx);
	return 0;
}
