/* gw_audit.h — every answer's audit record, from its worker to the log.
 *
 * Each worker has a lane: a single-producer single-consumer ring of record
 * slots to one writer thread (a control thread, never a worker lcore) that
 * appends the records in batches to the hash-chained log (kpg_audit.h) and,
 * for an accepted certificate, writes the signed KP import confirmation
 * (gw_confirm.h). Workers never touch the disk. In the written and synced
 * modes a worker holds each reply in its lane's FIFO until the writer
 * publishes that the reply's record is durable (written, or fdatasync'd);
 * held replies are capped per lane, and a request that would pass the cap
 * is dropped before the engine sees it (counted audit_backpressure).
 *
 * Config: the audit group of the config file (deploy/kpgate.conf):
 *   audit: { file = "audit.log"; mode = "written"; batch = 64;
 *            sync_interval_us = 1000; held_max = 4096;
 *            confirmations = "confirmations/"; checkpoint_key = "checkpoint.key"; };
 * Without the group nothing is recorded (and kpgate says so at start). */
#ifndef GW_AUDIT_H
#define GW_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <rte_common.h>
#include <rte_mbuf.h>

#include "gw_audit_conf.h"
#include "gw_config.h"
#include "kpg_audit.h"

/* One ring slot: the record, and for an accepted certificate the request
 * datagram it came in, from which the writer builds the confirmation. */
struct gw_audit_slot {
	uint32_t dgram_len;              /* 0: no confirmation owed */
	struct kpg_audit_rec rec;
	uint8_t dgram[KPG_DATAGRAM_MAX];
};

struct gw_audit_held {
	struct rte_mbuf *m;
	uint64_t seq;
	uint32_t len;
	uint16_t port;
};

/* One worker's lane. The first part is the worker's alone; the counters
 * after it are each written by one side and read by the other. */
struct gw_audit_lane {
	struct gw_audit_slot *slots;
	uint32_t mask;                   /* slots - 1; a power of two */
	bool hold;                       /* written or synced mode */
	bool confirm;                    /* import confirmations are made */
	uint32_t lcore;
	uint64_t head;                   /* next slot the worker fills */
	uint64_t tail_seen;              /* the writer's tail, as last read */
	uint64_t next_seq;               /* the next record's seq */
	struct gw_audit_held *held;      /* FIFO of held_max */
	uint32_t held_max, held_head, held_n;

	/* worker -> writer: slots filled */
	uint64_t head_pub __rte_cache_aligned;
	/* writer -> worker: slots consumed; seq of the last record that is
	 * durable in the mode's sense; written and synced for telemetry */
	uint64_t tail __rte_cache_aligned;
	uint64_t durable;
	uint64_t written_seq, synced_seq;
} __rte_cache_aligned;

enum gw_audit_fate {
	GW_AUDIT_SEND,                   /* recorded (or audit off): send now */
	GW_AUDIT_HOLD,                   /* send when its record is durable */
	GW_AUDIT_LOST,                   /* ring full: in async the record is
					  * lost (the seq gap says so), in held
					  * modes the reply must not leave */
};

/* Before a request reaches the engine: false when its reply could not be
 * held (held replies plus cold jobs, which will need a place, at the cap). */
static inline bool gw_audit_admit(const struct gw_audit_lane *a, uint32_t cold_n)
{
	return a == NULL || !a->hold || a->held_n + cold_n < a->held_max;
}

/* Hands the engine's record of the answer just made to the writer, with
 * the request datagram when a confirmation is owed. Call it before the
 * reply overwrites the request. No syscall, no lock: one ring slot.
 * r NULL: a rescan, the original answer sent again, whose record was made
 * with it; held behind this lane's latest record, so it never leaves
 * before the original's record is durable. */
static inline enum gw_audit_fate
gw_audit_record(struct gw_audit_lane *a, const struct kpg_audit_rec *r,
		const uint8_t *dgram, uint32_t dgram_len)
{
	struct gw_audit_slot *s;
	uint64_t seq;

	if (a == NULL)
		return GW_AUDIT_SEND;
	if (r == NULL)
		return a->hold ? GW_AUDIT_HOLD : GW_AUDIT_SEND;
	if (unlikely(a->head - a->tail_seen > a->mask)) {
		a->tail_seen = __atomic_load_n(&a->tail, __ATOMIC_ACQUIRE);
		if (a->head - a->tail_seen > a->mask) {
			if (!a->hold)
				a->next_seq++;   /* the gap in the log shows the loss */
			return GW_AUDIT_LOST;
		}
	}
	seq = a->next_seq++;
	s = &a->slots[a->head & a->mask];
	/* The verdicts in use only: most answers carry a few. */
	memcpy(&s->rec, r, offsetof(struct kpg_audit_rec, verdicts) +
	       r->n_verdicts * sizeof(r->verdicts[0]));
	s->rec.lcore = a->lcore;
	s->rec.seq = seq;
	s->dgram_len = 0;
	if (a->confirm && r->decision == KPG_ACCEPT && r->error == 0 &&
	    dgram_len <= KPG_DATAGRAM_MAX && dgram != NULL) {
		memcpy(s->dgram, dgram, dgram_len);
		s->dgram_len = dgram_len;
	}
	a->head++;
	__atomic_store_n(&a->head_pub, a->head, __ATOMIC_RELEASE);
	return a->hold ? GW_AUDIT_HOLD : GW_AUDIT_SEND;
}

/* Holds a reply made ready to send (len: the frame's length) until the
 * record just given to gw_audit_record() is durable. False when the FIFO
 * is full, which gw_audit_admit() prevents: the caller drops it. */
static inline bool gw_audit_hold(struct gw_audit_lane *a, struct rte_mbuf *m,
				 uint16_t port, uint32_t len)
{
	uint32_t t;

	if (unlikely(a->held_n == a->held_max))
		return false;
	t = a->held_head + a->held_n;
	if (t >= a->held_max)
		t -= a->held_max;
	a->held[t] = (struct gw_audit_held){ m, a->next_seq - 1, len, port };
	a->held_n++;
	return true;
}

/* The oldest held reply if its record is durable now, else NULL. */
static inline struct rte_mbuf *gw_audit_ready(struct gw_audit_lane *a,
					      uint16_t *port, uint32_t *len)
{
	struct gw_audit_held *h;

	if (a == NULL || a->held_n == 0)
		return NULL;
	h = &a->held[a->held_head];
	if (h->seq > __atomic_load_n(&a->durable, __ATOMIC_ACQUIRE))
		return NULL;
	*port = h->port;
	*len = h->len;
	if (++a->held_head == a->held_max)
		a->held_head = 0;
	a->held_n--;
	return h->m;
}

/* Gives back a reply gw_audit_ready() returned (the device could not take
 * it): it is the oldest held again. */
static inline void gw_audit_unready(struct gw_audit_lane *a, struct rte_mbuf *m,
				    uint16_t port, uint32_t len)
{
	a->held_head = a->held_head ? a->held_head - 1 : a->held_max - 1;
	a->held[a->held_head] = (struct gw_audit_held){ m, 0, len, port };
	a->held_n++;
}

static inline uint32_t gw_audit_held_n(const struct gw_audit_lane *a)
{
	return a ? a->held_n : 0;
}

struct gw_worker;

/* Opens the log (cutting a torn tail), loads the checkpoint key, gives
 * each worker its lane with its sequence continued from the log, starts
 * the writer thread and registers /kpgate/audit. With mode OFF it only
 * warns. 0, or a negative errno after logging why. */
int gw_audit_init(const struct gw_audit_conf *ac, const struct gw_config *c,
		  struct gw_worker *const *workers, unsigned n);

/* After the workers returned (their held replies sent or dropped): the
 * writer writes what is left, syncs, closes the log and exits. */
void gw_audit_fini(void);

/* Frees a lane's held replies that will never be sent (a writer that
 * cannot write at shutdown); returns how many. */
unsigned gw_audit_drop_held(struct gw_audit_lane *a);

#endif
