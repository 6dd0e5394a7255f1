/* dup_ring.h — a bounded single-producer single-consumer ring of records,
 * one per worker lcore, carrying consumptions from commit() to the owner
 * thread. Lock-free with C11 atomics: the producer publishes a slot by a
 * release store of head, the consumer frees it by a release store of tail;
 * each side caches the other's index to touch the shared line rarely. A
 * full ring refuses the push and counts it: the worker never waits.
 */
#ifndef DUP_RING_H
#define DUP_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "dup_store.h"

struct dup_ring {
	/* producer's line */
	_Alignas(64) _Atomic uint32_t head;
	uint32_t tail_seen;
	_Atomic uint64_t full;           /* pushes refused */
	/* consumer's line */
	_Alignas(64) _Atomic uint32_t tail;
	uint32_t head_seen;
	_Alignas(64) uint32_t mask;
	struct dup_record slot[];
};

/* size: a power of two, 2 .. 1<<20. NULL when out of memory or bad. */
static inline struct dup_ring *dup_ring_new(uint32_t size)
{
	struct dup_ring *r;
	size_t bytes = sizeof(*r) + (size_t)size * sizeof(struct dup_record);

	if (size < 2 || size > (1u << 20) || (size & (size - 1)))
		return NULL;
	r = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
	if (r == NULL)
		return NULL;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	atomic_init(&r->full, 0);
	r->tail_seen = r->head_seen = 0;
	r->mask = size - 1;
	return r;
}

/* Producer. false (and counted) when full. */
static inline bool dup_ring_push(struct dup_ring *r, const struct dup_record *rec)
{
	uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);

	if (h - r->tail_seen > r->mask) {
		r->tail_seen = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (h - r->tail_seen > r->mask) {
			dup_count(&r->full, 1);
			return false;
		}
	}
	r->slot[h & r->mask] = *rec;
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
	return true;
}

/* Consumer: the oldest record, left in place until dup_ring_pop(), so a
 * drained ring means "handled", not merely "taken"; NULL when empty. */
static inline const struct dup_record *dup_ring_peek(struct dup_ring *r)
{
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);

	if (t == r->head_seen) {
		r->head_seen = atomic_load_explicit(&r->head, memory_order_acquire);
		if (t == r->head_seen)
			return NULL;
	}
	return &r->slot[t & r->mask];
}

static inline void dup_ring_pop(struct dup_ring *r)
{
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);

	atomic_store_explicit(&r->tail, t + 1, memory_order_release);
}

/* Any thread: pushed so far, and handled so far. */
static inline uint32_t dup_ring_pushed(const struct dup_ring *r)
{
	return atomic_load_explicit(&r->head, memory_order_acquire);
}

static inline uint32_t dup_ring_handled(const struct dup_ring *r)
{
	return atomic_load_explicit(&r->tail, memory_order_acquire);
}

#endif
