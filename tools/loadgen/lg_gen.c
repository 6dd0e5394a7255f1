/* lg_gen.c — the send/receive loop; see lg_gen.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>
#include <rte_prefetch.h>

#include "lg_gen.h"
#include "lg_sched.h"

#define LG_WINDOW_BITS 21u               /* 2 M requests in flight */
#define LG_WINDOW      (1u << LG_WINDOW_BITS)
#define LG_BURST_MAX   64u
#define LG_REAP_BUDGET 64u               /* slots retired per loop */
#define LG_SWEEP_STEP  4u                /* requests restamped per loop in a sweep */
#define LG_RX_PREFETCH 6u                /* answers read ahead of the one parsed */
#define LG_WARMUP_RATE 2000.0            /* hot certificates/s: far below any verify rate */
/* At a target rate, requests due but not yet sent that the generator may
 * still send late, at once. More are due only when the generator itself
 * was off its CPU; sending them all in one rush would fill the gateway's
 * ring faster than any real line would, so the excess is skipped and
 * counted (result.skipped), not offered. Half a memif ring. */
#define LG_CATCHUP_MAX 512u

enum lg_slot_state {
	LG_SLOT_FREE = 0,                /* retired, or refused by the device */
	LG_SLOT_INFLIGHT,                /* waits for its answer by id */
	LG_SLOT_ANON,                    /* waits for an answer with id 0 */
	LG_SLOT_DONE,                    /* answered, not yet retired */
};

struct lg_slot {
	uint64_t tsc;                    /* when it was handed to the device */
	uint8_t state;
	uint8_t kind;
};

struct lg_gen {
	struct lg_port *port;
	struct lg_pool *pool;
	struct lg_result *r;
	uint16_t gw_port;
	bool reflector;
	uint64_t prng;
	bool has_warm;                   /* the mix sends hot certificates */
	uint64_t hz;
	uint64_t ns_mult;                /* ns = ticks * ns_mult >> 32 */

	unsigned n_cuts;                 /* kinds other than cold in the mix */
	uint32_t kind_cut[LG_K__COUNT];  /* cumulative shares out of 2^24 */
	uint8_t kind_of_cut[LG_K__COUNT];
	uint32_t alg_cut[LG_ALGS];       /* cumulative weights out of 2^16 */
	uint32_t rr[LG_K__COUNT][LG_ALGS];   /* round-robin cursors */
	uint32_t warm_cursor;            /* warm-up: next hot certificate */

	struct lg_slot *slots;
	uint64_t next_seq, reap_seq;
	uint64_t inflight, anon_out, anon_credit;
	int64_t wall;                    /* Unix seconds, read once a second */
	struct lg_sched_snap sched[4];   /* ours and the watched, before and after */

	uint16_t *n_tx;
	struct rte_mbuf **tx;            /* [queue][LG_BURST_MAX] */
	uint64_t *tx_seq;
};

static volatile int lg_quit;

void lg_gen_stop(void)
{
	lg_quit = 1;
}

bool lg_gen_stopped(void)
{
	return lg_quit != 0;
}

/* xorshift64*: a few cycles, plenty for choosing what to send next. */
static inline uint64_t prng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static inline uint64_t ticks_ns(const struct lg_gen *g, uint64_t ticks)
{
	return (uint64_t)(((unsigned __int128)ticks * g->ns_mult) >> 32);
}

static const struct lg_group *group_of(const struct lg_pool *p, unsigned kind,
				       unsigned alg)
{
	switch (kind) {
	case LG_K_WARM:
		return &p->warm[alg];
	case LG_K_COLD:
		return &p->cold[alg];
	case LG_K_FORGED:
		return &p->forged[alg];
	case LG_K_UNKNOWN:
		return &p->unknown;
	default:
		return &p->malformed;
	}
}

static int set_mix(struct lg_gen *g, const struct lg_mix *mix)
{
	static const uint8_t order[] = { LG_K_MALFORMED, LG_K_UNKNOWN, LG_K_FORGED, LG_K_WARM };
	const double share[LG_K__COUNT] = {
		[LG_K_WARM] = mix->warm, [LG_K_FORGED] = mix->forged,
		[LG_K_UNKNOWN] = mix->unknown, [LG_K_MALFORMED] = mix->malformed,
	};
	double cum = 0, total = 0, acc = 0;
	unsigned last = 0;

	for (unsigned a = 1; a < LG_ALGS; a++)
		if (mix->alg_weight[a] && g->pool->cold[a].n)
			total += mix->alg_weight[a];
	if (total == 0)
		return -EINVAL;
	for (unsigned a = 1; a < LG_ALGS; a++) {
		if (mix->alg_weight[a] && g->pool->cold[a].n) {
			acc += mix->alg_weight[a];
			g->alg_cut[a] = (uint32_t)(acc / total * 65536.0);
			last = a;
		}
	}
	g->alg_cut[last] = 65536;
	for (unsigned i = 0; i < sizeof(order); i++) {
		unsigned k = order[i];

		if (share[k] <= 0)
			continue;
		if ((k == LG_K_UNKNOWN && g->pool->unknown.n == 0) ||
		    (k == LG_K_MALFORMED && g->pool->malformed.n == 0) ||
		    (k == LG_K_FORGED && g->pool->forged[last].n == 0))
			return -ENOENT;
		if (k == LG_K_WARM)
			g->has_warm = true;
		cum += share[k];
		g->kind_cut[g->n_cuts] = (uint32_t)(cum > 1 ? 1 << 24 : cum * (1 << 24));
		g->kind_of_cut[g->n_cuts++] = (uint8_t)k;
	}
	return 0;
}

struct lg_gen *lg_gen_new(struct lg_port *port, struct lg_pool *pool,
			  const struct lg_mix *mix, uint16_t gw_udp_port,
			  bool reflector, uint64_t seed)
{
	struct lg_gen *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return NULL;
	g->port = port;
	g->pool = pool;
	g->gw_port = gw_udp_port;
	g->reflector = reflector;
	g->prng = seed ? seed : 0x9e3779b97f4a7c15ull;
	g->hz = rte_get_tsc_hz();
	g->ns_mult = (uint64_t)((1000000000.0 * 4294967296.0) / (double)g->hz);
	g->wall = time(NULL);
	/* Touched now, so no page fault lands on the first seconds of a run. */
	g->slots = rte_zmalloc("lg_slots", sizeof(*g->slots) * LG_WINDOW, RTE_CACHE_LINE_SIZE);
	g->n_tx = calloc(port->queues, sizeof(*g->n_tx));
	g->tx = calloc((size_t)port->queues * LG_BURST_MAX, sizeof(*g->tx));
	g->tx_seq = calloc((size_t)port->queues * LG_BURST_MAX, sizeof(*g->tx_seq));
	if (g->slots == NULL || g->n_tx == NULL || g->tx == NULL || g->tx_seq == NULL ||
	    set_mix(g, mix) != 0) {
		lg_gen_delete(g);
		return NULL;
	}
	return g;
}

void lg_gen_delete(struct lg_gen *g)
{
	if (g == NULL)
		return;
	rte_free(g->slots);
	free(g->n_tx);
	free(g->tx);
	free(g->tx_seq);
	free(g);
}

/* Next entry to send: a kind by its share, an algorithm by its weight,
 * then a random hot certificate or the next one of the other groups. */
static inline uint32_t pick(struct lg_gen *g)
{
	uint64_t x = prng_next(&g->prng);
	uint32_t u = (uint32_t)(x >> 40), v = (uint32_t)(x >> 24) & 0xffffu;
	unsigned k = LG_K_COLD, a = 1;
	const struct lg_group *grp;
	uint32_t i;

	for (unsigned c = 0; c < g->n_cuts; c++)
		if (u < g->kind_cut[c]) {
			k = g->kind_of_cut[c];
			break;
		}
	while (a < LG_ALGS - 1 && v >= g->alg_cut[a])
		a++;
	grp = group_of(g->pool, k, a);
	if (k == LG_K_WARM)
		return grp->first + (uint32_t)(((x & 0xffffffu) * grp->n) >> 24);
	i = g->rr[k][a];
	g->rr[k][a] = i + 1 == grp->n ? 0 : i + 1;
	return grp->first + i;
}

/* Warm-up: every hot certificate of the algorithms in the mix, once. */
static inline uint32_t pick_warmup(struct lg_gen *g)
{
	uint32_t c = g->warm_cursor++;

	for (unsigned a = 1; a < LG_ALGS; a++) {
		const struct lg_group *grp = &g->pool->warm[a];

		if (g->alg_cut[a] == 0 || grp->n == 0)
			continue;
		if (c < grp->n)
			return grp->first + c;
		c -= grp->n;
	}
	return UINT32_MAX;
}

static uint64_t warmup_count(const struct lg_gen *g)
{
	uint64_t n = 0;

	for (unsigned a = 1; a < LG_ALGS; a++)
		if (g->alg_cut[a])
			n += g->pool->warm[a].n;
	return n;
}

static void reap(struct lg_gen *g, uint64_t now, uint64_t timeout, bool all,
		 uint64_t budget)
{
	struct lg_result *r = g->r;

	while (g->reap_seq < g->next_seq && budget--) {
		struct lg_slot *s = &g->slots[g->reap_seq & (LG_WINDOW - 1)];

		switch (s->state) {
		case LG_SLOT_ANON:
			if (g->anon_credit) {
				g->anon_credit--;
				r->answered++;
				r->kind[s->kind].answered++;
			} else if (all || now - s->tsc >= timeout) {
				r->lost++;
				r->kind[s->kind].lost++;
			} else {
				return;
			}
			g->anon_out--;
			break;
		case LG_SLOT_INFLIGHT:
			if (!all && now - s->tsc < timeout)
				return;
			r->lost++;
			r->kind[s->kind].lost++;
			g->inflight--;
			break;
		default:
			break;
		}
		s->state = LG_SLOT_FREE;
		g->reap_seq++;
	}
}

static unsigned tx_step(struct lg_gen *g, const struct lg_run_conf *c,
			uint64_t now, unsigned n)
{
	struct lg_result *r = g->r;
	struct rte_mbuf *m[LG_BURST_MAX];
	const struct lg_pool *p = g->pool;
	unsigned queues = g->port->queues, done = 0;

	if (rte_pktmbuf_alloc_bulk(g->port->pool, m, n) != 0) {
		r->alloc_failed++;
		return 0;
	}
	for (unsigned i = 0; i < n; i++) {
		uint32_t idx = c->warmup ? pick_warmup(g) : pick(g);
		const struct lg_entry *e = &p->e[idx];
		uint8_t *d = rte_pktmbuf_mtod(m[i], uint8_t *);
		uint64_t seq = g->next_seq++;
		struct lg_slot *s;
		unsigned q = e->queue;

		if (unlikely(seq - g->reap_seq >= LG_WINDOW))
			reap(g, now, 0, true, 1);    /* window full: the oldest is lost */
		rte_memcpy(d, lg_pool_frame(p, e), e->len);
		m[i]->data_len = e->len;
		m[i]->pkt_len = e->len;
		lg_id_write(d, e->l4, e->sum, e->id_off, LG_ID_BASE | seq);
		s = &g->slots[seq & (LG_WINDOW - 1)];
		s->tsc = now;
		s->kind = e->kind;
		r->kind[e->kind].sent++;         /* taken back below if refused */
		if (e->kind == LG_K_MALFORMED && !g->reflector) {
			s->state = LG_SLOT_ANON;
			g->anon_out++;
		} else {
			s->state = LG_SLOT_INFLIGHT;
			g->inflight++;
		}
		g->tx[q * LG_BURST_MAX + g->n_tx[q]] = m[i];
		g->tx_seq[q * LG_BURST_MAX + g->n_tx[q]] = seq;
		g->n_tx[q]++;
	}
	r->attempted += n;
	for (unsigned q = 0; q < queues; q++) {
		struct rte_mbuf **tx = &g->tx[q * LG_BURST_MAX];
		uint16_t k = g->n_tx[q], sent;

		if (k == 0)
			continue;
		sent = rte_eth_tx_burst(g->port->id, (uint16_t)q, tx, k);
		for (uint16_t j = sent; j < k; j++) {
			struct lg_slot *s = &g->slots[g->tx_seq[q * LG_BURST_MAX + j] &
						      (LG_WINDOW - 1)];

			/* The device (the gateway's RX ring, on memif) is full. */
			r->kind[s->kind].sent--;
			r->kind[s->kind].tx_dropped++;
			if (s->state == LG_SLOT_ANON)
				g->anon_out--;
			else
				g->inflight--;
			s->state = LG_SLOT_FREE;
		}
		if (unlikely(sent < k))
			rte_pktmbuf_free_bulk(&tx[sent], k - sent);
		r->sent += sent;
		if (q < LG_QUEUES_SHOWN)
			r->queue_sent[q] += sent;
		r->tx_dropped += k - sent;
		done += sent;
		g->n_tx[q] = 0;
	}
	return done ? done : n;
}

static void record(struct lg_result *r, struct lg_kind_stats *ks,
		   const struct lg_answer *a)
{
	if (a->echo) {
		ks->echoed++;
		return;
	}
	ks->decisions[a->decision < KPG_DECISION__COUNT ? a->decision : 0]++;
	if (a->error) {
		ks->errors[a->error < KPG_ERR__COUNT ? a->error : 0]++;
		if (a->error == KPG_ERR_OVERLOADED)
			r->overloaded++;
	}
	if (a->reason)
		ks->reasons[a->reason < LG_REASONS - 1 ? a->reason : LG_REASONS - 1]++;
	if (a->trust_version)
		r->trust_version = a->trust_version;
}

static void answer(struct lg_gen *g, const uint8_t *p, uint32_t len, uint64_t now)
{
	struct lg_result *r = g->r;
	struct lg_answer a;
	struct lg_slot *s;
	uint64_t seq, ns;

	if (lg_answer_read(p, len, &a) < 0) {
		r->other_rx++;
		return;
	}
	if (a.request_id == 0 && !a.echo) {
		/* Unreadable requests are answered without their id. */
		g->anon_credit++;
		record(r, &r->kind[LG_K_MALFORMED], &a);
		return;
	}
	if (!(a.request_id & LG_ID_BASE)) {
		r->unmatched++;
		return;
	}
	seq = a.request_id & (LG_ID_BASE - 1);
	if (seq >= g->next_seq) {
		r->unmatched++;
		return;
	}
	s = &g->slots[seq & (LG_WINDOW - 1)];
	if (seq < g->reap_seq || s->state != LG_SLOT_INFLIGHT) {
		r->late++;                   /* timed out already, or twice */
		return;
	}
	s->state = LG_SLOT_DONE;
	g->inflight--;
	ns = ticks_ns(g, now - s->tsc);
	lg_hist_add(&r->all, ns);
	lg_hist_add(&r->by_kind[s->kind], ns);
	r->answered++;
	r->kind[s->kind].answered++;
	record(r, &r->kind[s->kind], &a);
}

static unsigned rx_step(struct lg_gen *g)
{
	struct rte_mbuf *pkts[LG_RX_BURST], *done[LG_RX_BURST];
	struct lg_port *port = g->port;
	unsigned total = 0;

	for (uint16_t q = 0; q < port->queues; q++) {
		uint16_t n = rte_eth_rx_burst(port->id, q, pkts, LG_RX_BURST), nd = 0;
		uint64_t now;

		if (n == 0)
			continue;
		now = rte_rdtsc();
		total += n;
		/* The peer's core wrote these frames: their first lines come
		 * from its cache, several at once, LG_RX_PREFETCH ahead. */
		for (uint16_t i = 0; i < n && i < LG_RX_PREFETCH; i++)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
		for (uint16_t i = 0; i < n; i++) {
			const uint8_t *f = rte_pktmbuf_mtod(pkts[i], const uint8_t *);
			struct lg_rx_info ri;

			if (i + LG_RX_PREFETCH < n)
				rte_prefetch0(rte_pktmbuf_mtod(pkts[i + LG_RX_PREFETCH], void *));
			switch (lg_frame_classify(f, pkts[i]->data_len, &ri)) {
			case LG_RX_UDP:
				if (ri.sport == g->gw_port) {
					answer(g, ri.payload, ri.payload_len, now);
					break;
				}
				g->r->other_rx++;
				break;
			case LG_RX_ARP_REQUEST:
				if (lg_port_arp_reply(port, q, pkts[i])) {
					g->r->arp_answered++;
					continue;
				}
				g->r->other_rx++;
				break;
			default:
				g->r->other_rx++;
				break;
			}
			done[nd++] = pkts[i];
		}
		rte_pktmbuf_free_bulk(done, nd);
	}
	return total;
}

static void result_reset(struct lg_result *r)
{
	memset(r, 0, offsetof(struct lg_result, all));
	lg_hist_reset(&r->all);
	for (unsigned k = 0; k < LG_K__COUNT; k++)
		lg_hist_reset(&r->by_kind[k]);
}

struct live {
	uint64_t next, sent, answered;
	unsigned second;
};

static void live_line(struct lg_gen *g, const struct lg_run_conf *c, struct live *lv)
{
	const struct lg_result *r = g->r;

	lv->second++;
	fprintf(stderr, "%s %4us: sent %9" PRIu64 "/s answered %9" PRIu64
		"/s lost %" PRIu64 " refused %" PRIu64 " overloaded %" PRIu64
		" in flight %" PRIu64 " p99 %.1f us\n",
		c->label ? c->label : "run", lv->second, r->sent - lv->sent,
		r->answered - lv->answered, r->lost, r->tx_dropped, r->overloaded,
		g->inflight + g->anon_out, (double)lg_hist_quantile(&r->all, 0.99) / 1e3);
	lv->sent = r->sent;
	lv->answered = r->answered;
}

int lg_gen_run(struct lg_gen *g, const struct lg_run_conf *c, struct lg_result *r)
{
	uint64_t hz = g->hz, t0, now, stop_tsc = 0, last, busy = 0;
	bool sending = true, worked = false;
	uint64_t timeout = (uint64_t)(c->timeout_s * (double)hz);
	uint64_t idle_ticks = (uint64_t)c->idle_us * hz / 1000000u;
	uint64_t end = c->duration_s > 0 ? (uint64_t)(c->duration_s * (double)hz) : UINT64_MAX;
	uint64_t limit = c->warmup ? warmup_count(g) : c->count;
	unsigned burst = c->burst ? (c->burst < LG_BURST_MAX ? c->burst : LG_BURST_MAX) : 32;
	double per_tick = c->rate > 0 ? c->rate / (double)hz : 0;
	struct timespec idle = { 0, (long)c->idle_us * 1000L };
	struct live lv = { 0 };
	struct lg_sched self, watched;

	result_reset(r);
	r->rate = c->rate;
	/* Time lost to other processes on these cores, to tell a disturbed
	 * measurement (read before and after, not while sending). */
	lg_sched_snap(0, &g->sched[0]);
	lg_sched_snap(c->watch_pid > 0 ? c->watch_pid : -1, &g->sched[1]);
	g->r = r;
	g->warm_cursor = 0;
	if (c->warmup && limit == 0)
		return 0;
	t0 = last = rte_rdtsc();
	lv.next = t0 + hz;
	for (;;) {
		unsigned did = 0;

		now = rte_rdtsc();
		if (worked && sending)       /* the previous loop's time */
			busy += now - last;
		if (sending && now - last > r->max_gap_ns)
			r->max_gap_ns = now - last;  /* in ticks until the end */
		last = now;
		if (sending) {
			if (lg_quit || now - t0 >= end || (limit && r->attempted >= limit)) {
				sending = false;
				stop_tsc = now;
				r->seconds = (double)(now - t0) / (double)hz;
			} else {
				/* Open loop: what the schedule says is due, whatever
				 * came back; the first request leaves at once. */
				uint64_t want = burst;

				/* As fast as possible, yet no faster than answers
				 * come back: a full device ring only burns copies. */
				if (per_tick == 0 && c->max_inflight &&
				    g->inflight + g->anon_out >= c->max_inflight)
					want = 0;
				if (per_tick > 0) {
					uint64_t due = (uint64_t)((double)(now - t0) * per_tick) + 1;
					uint64_t done = r->attempted + r->skipped;

					if (due > done + LG_CATCHUP_MAX) {
						r->skipped += due - done - LG_CATCHUP_MAX;
						done = due - LG_CATCHUP_MAX;
					}
					want = due > done ? due - done : 0;
				}
				if (limit && want > limit - r->attempted)
					want = limit - r->attempted;
				if (want > burst)
					want = burst;
				if (want)
					did += tx_step(g, c, now, (unsigned)want);
			}
		}
		did += rx_step(g);
		worked = did != 0;
		reap(g, now, timeout, false, LG_REAP_BUDGET);
		if (!sending && ((g->inflight == 0 && g->anon_credit >= g->anon_out) ||
				 now - stop_tsc > timeout)) {
			reap(g, now, timeout, true, UINT64_MAX);
			break;
		}
		if (unlikely(now >= lv.next)) {
			g->wall = time(NULL);
			if (c->live)
				live_line(g, c, &lv);
			lv.next += hz;
		}
		/* scan_time follows the clock: a sweep now and then, a few
		 * requests a loop; otherwise nothing. */
		lg_pool_refresh(g->pool, g->wall, LG_SWEEP_STEP);
		if (did == 0 && idle_ticks) {
			uint64_t next_due = per_tick > 0 ?
				t0 + (uint64_t)((double)(r->attempted + r->skipped) / per_tick) : now;

			if (!sending || next_due > now + idle_ticks)
				nanosleep(&idle, NULL);
		}
	}
	lg_sched_snap(0, &g->sched[2]);
	lg_sched_snap(c->watch_pid > 0 ? c->watch_pid : -1, &g->sched[3]);
	self = lg_sched_busiest(&g->sched[0], &g->sched[2]);
	watched = lg_sched_busiest(&g->sched[1], &g->sched[3]);
	r->wait_self_ns = self.wait_ns;
	r->wait_watched_ns = watched.wait_ns;
	r->run_watched_ns = watched.run_ns;
	r->unmatched += g->anon_credit;
	g->anon_credit = 0;
	if (r->seconds <= 0)
		r->seconds = (double)(now - t0) / (double)hz;
	r->max_gap_ns = ticks_ns(g, r->max_gap_ns);
	r->busy_share = stop_tsc > t0 ? (double)busy / (double)(stop_tsc - t0) : 0;
	return lg_quit ? -EINTR : 0;
}

int lg_gen_prepare(struct lg_gen *g, const struct lg_run_conf *c,
		   struct lg_result *scratch)
{
	struct lg_run_conf w = *c;

	g->wall = time(NULL);
	lg_pool_set_time(g->pool, g->wall);
	scratch->attempted = 0;
	if (!g->has_warm || c->no_warmup)
		return 0;
	w.label = "warm-up";
	w.warmup = true;
	w.rate = LG_WARMUP_RATE;
	w.duration_s = 0;
	w.count = 0;
	w.live = false;
	return lg_gen_run(g, &w, scratch);
}

void lg_gen_get_cursors(const struct lg_gen *g, lg_cursors_t c)
{
	memcpy(c, g->rr, sizeof(g->rr));
}

void lg_gen_set_cursors(struct lg_gen *g, const lg_cursors_t c)
{
	for (unsigned k = 0; k < LG_K__COUNT; k++)
		for (unsigned a = 0; a < LG_ALGS; a++) {
			const struct lg_group *grp = group_of(g->pool, k, a);

			g->rr[k][a] = grp->n ? c[k][a] % grp->n : 0;
		}
}
