/* lg_gen.h — the generator's send/receive loop on one lcore. Open loop:
 * requests leave on a TSC schedule at the target rate (or as fast as the
 * device takes them) whatever the answers do; each carries a sequence
 * number as its request id, and a window of in-flight slots (send TSC,
 * kind) matches answers to requests. An answer later than the timeout is
 * lost. Malformed requests are answered with request id 0, so they are
 * matched by count. Nothing per packet allocates, locks, logs or sleeps;
 * in idle mode the loop sleeps only when nothing is due and nothing came. */
#ifndef LG_GEN_H
#define LG_GEN_H

#include <stdbool.h>
#include <stdint.h>

#include "kpg_verdict.h"
#include "lg_hist.h"
#include "lg_pool.h"
#include "lg_port.h"

#define LG_REASONS 17u                   /* core reasons 0..15, 16: a plugin's */
#define LG_QUEUES_SHOWN 16u              /* per-queue counts kept for the first ones */

/* What the requests are made of: shares of each kind (cold is the rest)
 * and relative weights of the algorithms. */
struct lg_mix {
	double warm, forged, unknown, malformed;
	unsigned alg_weight[LG_ALGS];
};

struct lg_run_conf {
	const char *label;               /* live lines and reports */
	double rate;                     /* requests/s; 0: as fast as possible */
	double duration_s;               /* 0: until count */
	uint64_t count;                  /* 0: until duration */
	double timeout_s;                /* answers later than this are lost */
	uint32_t idle_us;                /* 0: busy poll */
	uint32_t burst;
	uint32_t max_inflight;           /* rate 0 only: at most this many unanswered */
	bool warmup;                     /* send each hot certificate once */
	bool no_warmup;                  /* lg_gen_prepare() only sets the time */
	bool live;                       /* a line a second on stderr */
	int watch_pid;                   /* the gateway's process, 0: none */
};

struct lg_kind_stats {
	uint64_t sent, answered, lost, tx_dropped;
	uint64_t decisions[KPG_DECISION__COUNT];   /* by ScanResponse.decision */
	uint64_t errors[KPG_ERR__COUNT];
	uint64_t reasons[LG_REASONS];              /* first non-accept verdict */
	uint64_t echoed;
};

struct lg_result {
	double seconds;                  /* from first send to last send */
	double rate;                     /* target; 0 = as fast as possible */
	uint64_t attempted;              /* given to the device or refused */
	uint64_t sent, tx_dropped, answered, lost;
	uint64_t late;                   /* answers after their timeout */
	uint64_t unmatched;              /* answers to no request of ours */
	uint64_t overloaded;             /* answered "overloaded": not served */
	uint64_t alloc_failed;           /* loops without an mbuf */
	uint64_t skipped;                /* due while the generator itself was off
					  * its CPU, beyond what it may catch up:
					  * never offered, so never a loss */
	uint64_t max_gap_ns;             /* longest time between two loops */
	uint64_t arp_answered;
	uint64_t other_rx;
	uint64_t trust_version;
	uint64_t queue_sent[LG_QUEUES_SHOWN];    /* how the 5-tuple hash spread them */
	uint64_t wait_self_ns;           /* our threads runnable, not running */
	uint64_t wait_watched_ns;        /* the same for watch_pid */
	uint64_t run_watched_ns;         /* watch_pid's time on a CPU */
	double busy_share;               /* of the sending time, in loops that sent
					  * or received: near 1, the generator set the rate */
	struct lg_kind_stats kind[LG_K__COUNT];
	struct lg_hist all;
	struct lg_hist by_kind[LG_K__COUNT];
};

/* Requests not served: lost, refused by the device, or "overloaded". */
static inline uint64_t lg_result_unserved(const struct lg_result *r)
{
	return r->lost + r->tx_dropped + r->overloaded;
}

static inline double lg_result_loss(const struct lg_result *r)
{
	return r->attempted ? (double)lg_result_unserved(r) / (double)r->attempted : 0.0;
}

struct lg_gen;

/* The gateway's endpoint and the expected port are taken from the pool.
 * reflector: answers are our requests sent back (testpmd 5tswap). */
struct lg_gen *lg_gen_new(struct lg_port *port, struct lg_pool *pool,
			  const struct lg_mix *mix, uint16_t gw_udp_port,
			  bool reflector, uint64_t seed);
void lg_gen_delete(struct lg_gen *g);

/* One run; r is reset first. Returns 0, or -EINTR when stopped by a
 * signal (r holds what was done). */
int lg_gen_run(struct lg_gen *g, const struct lg_run_conf *c, struct lg_result *r);

/* Before a run: every request's scan_time set to now and, when the mix
 * has warm requests, each hot certificate sent once (slowly, so the
 * gateway verifies and caches them all). scratch receives that run. */
int lg_gen_prepare(struct lg_gen *g, const struct lg_run_conf *c,
		   struct lg_result *scratch);

/* Where each group's round robin stands. A gateway's cache remembers the
 * last requests of a previous run: continuing from there (the PKI
 * directory keeps the cursors) keeps cold requests cold across runs. */
typedef uint32_t lg_cursors_t[LG_K__COUNT][LG_ALGS];
void lg_gen_get_cursors(const struct lg_gen *g, lg_cursors_t c);
void lg_gen_set_cursors(struct lg_gen *g, const lg_cursors_t c);

/* Async-signal-safe: the current run stops sending and drains. */
void lg_gen_stop(void);
bool lg_gen_stopped(void);

#endif
