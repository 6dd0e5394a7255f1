/* dup_table.c — see dup_table.h for the reader/writer protocol. Every
 * access to a slot is atomic (relaxed unless it publishes or observes
 * word 0), so readers racing a rebuild read stale words, never undefined
 * ones, and the generation check discards them. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dup_table.h"

#define LOOKUP_TRIES 8

struct dup_slot {
	_Atomic uint64_t w[DUP_RECORD_WORDS];
} __attribute__((aligned(64)));

union dup_words {
	struct dup_record r;
	uint64_t w[DUP_RECORD_WORDS];
};

struct dup_table {
	uint32_t capacity, mask;
	uint32_t count;                  /* writer only */
	_Atomic uint64_t gen;            /* readers use slots[gen & 1] */
	struct dup_slot *slots[2];
};

static uint32_t pow2_at_least(uint64_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

struct dup_table *dup_table_new(uint32_t capacity)
{
	struct dup_table *t;
	uint32_t n;

	if (capacity == 0 || capacity > (1u << 24))
		return NULL;
	n = pow2_at_least((uint64_t)capacity * 2);
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->capacity = capacity;
	t->mask = n - 1;
	for (int i = 0; i < 2; i++) {
		t->slots[i] = aligned_alloc(64, (size_t)n * sizeof(struct dup_slot));
		if (t->slots[i] == NULL) {
			dup_table_delete(t);
			return NULL;
		}
		/* Nothing reads the table before it is returned. */
		memset(t->slots[i], 0, (size_t)n * sizeof(struct dup_slot));
	}
	return t;
}

void dup_table_delete(struct dup_table *t)
{
	if (t == NULL)
		return;
	free(t->slots[0]);
	free(t->slots[1]);
	free(t);
}

static void read_slot(const struct dup_slot *s, uint64_t w0, union dup_words *u)
{
	u->w[0] = w0;
	for (size_t i = 1; i < DUP_RECORD_WORDS; i++)
		u->w[i] = atomic_load_explicit(&s->w[i], memory_order_relaxed);
}

/* 1 with *out when id is in slots, else 0. Bounded by the array size, so
 * even a probe through stale words ends. */
static int probe(const struct dup_slot *slots, uint32_t mask,
		 const uint64_t id[2], struct dup_record *out)
{
	for (uint32_t i = (uint32_t)id[1] & mask, n = 0; n <= mask;
	     i = (i + 1) & mask, n++) {
		uint64_t w0 = atomic_load_explicit(&slots[i].w[0],
						   memory_order_acquire);
		union dup_words u;

		if (w0 == 0)
			return 0;
		if (w0 != id[0])
			continue;
		read_slot(&slots[i], w0, &u);
		if (u.r.id[1] == id[1]) {
			*out = u.r;
			return 1;
		}
	}
	return 0;
}

int dup_table_lookup(const struct dup_table *t, const uint64_t id[2],
		     struct dup_record *out)
{
	for (int tries = 0; tries < LOOKUP_TRIES; tries++) {
		uint64_t g = atomic_load_explicit(&t->gen, memory_order_acquire);
		int found = probe(t->slots[g & 1], t->mask, id, out);

		/* Pairs with the release fence in dup_table_rebuild: a probe
		 * that saw a word of a rebuild sees the new generation here. */
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&t->gen, memory_order_relaxed) == g)
			return found;
	}
	return -EAGAIN;
}

/* Writer: publishes r in the first free slot of its probe in slots. */
static void place(struct dup_slot *slots, uint32_t mask,
		  const struct dup_record *r)
{
	union dup_words u = { .r = *r };
	uint32_t i = (uint32_t)r->id[1] & mask;

	while (atomic_load_explicit(&slots[i].w[0], memory_order_relaxed) != 0)
		i = (i + 1) & mask;
	for (size_t k = 1; k < DUP_RECORD_WORDS; k++)
		atomic_store_explicit(&slots[i].w[k], u.w[k], memory_order_relaxed);
	atomic_store_explicit(&slots[i].w[0], u.w[0], memory_order_release);
}

int dup_table_insert(struct dup_table *t, const struct dup_record *r)
{
	uint64_t g = atomic_load_explicit(&t->gen, memory_order_relaxed);
	struct dup_slot *slots = t->slots[g & 1];
	struct dup_record old;

	if (r->id[0] == 0)
		return -EINVAL;
	if (probe(slots, t->mask, r->id, &old))
		return -EEXIST;
	if (t->count >= t->capacity)
		return -ENOSPC;
	place(slots, t->mask, r);
	t->count++;
	return 0;
}

uint32_t dup_table_rebuild(struct dup_table *t,
			   bool (*keep)(const struct dup_record *r, void *arg),
			   void *arg)
{
	uint64_t g = atomic_load_explicit(&t->gen, memory_order_relaxed);
	const struct dup_slot *from = t->slots[g & 1];
	struct dup_slot *to = t->slots[(g + 1) & 1];
	uint32_t kept = 0, dropped = 0;

	/* Readers still probing the spare array from two generations ago
	 * must see that the generation moved once they see these stores. */
	atomic_thread_fence(memory_order_release);
	for (uint32_t i = 0; i <= t->mask; i++)
		atomic_store_explicit(&to[i].w[0], 0, memory_order_relaxed);
	for (uint32_t i = 0; i <= t->mask; i++) {
		uint64_t w0 = atomic_load_explicit(&from[i].w[0],
						   memory_order_relaxed);
		union dup_words u;

		if (w0 == 0)
			continue;
		read_slot(&from[i], w0, &u);
		if (keep(&u.r, arg)) {
			place(to, t->mask, &u.r);
			kept++;
		} else {
			dropped++;
		}
	}
	t->count = kept;
	atomic_store_explicit(&t->gen, g + 1, memory_order_release);
	return dropped;
}

void dup_table_each(const struct dup_table *t,
		    void (*fn)(const struct dup_record *r, void *arg), void *arg)
{
	uint64_t g = atomic_load_explicit(&t->gen, memory_order_relaxed);
	const struct dup_slot *slots = t->slots[g & 1];

	for (uint32_t i = 0; i <= t->mask; i++) {
		uint64_t w0 = atomic_load_explicit(&slots[i].w[0],
						   memory_order_relaxed);
		union dup_words u;

		if (w0 == 0)
			continue;
		read_slot(&slots[i], w0, &u);
		fn(&u.r, arg);
	}
}

uint32_t dup_table_count(const struct dup_table *t)
{
	return t->count;
}

uint32_t dup_table_capacity(const struct dup_table *t)
{
	return t->capacity;
}
