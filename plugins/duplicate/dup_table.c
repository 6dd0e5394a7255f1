/* dup_table.c — see dup_table.h for the reader/writer protocol. Word 0 of
 * each slot (its tag, id[0]) lives in a dense array of its own, so a probe
 * for an absent certificate, the common case, reads one or two cache lines
 * (eight tags a line, 1 MiB for 64 Ki records) and the 120-byte bodies are
 * read only on a tag match. Every access to a slot is atomic (relaxed
 * unless it publishes or observes the tag), so readers racing a rebuild
 * read stale words, never undefined ones, and the generation check
 * discards them. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dup_table.h"

#define LOOKUP_TRIES 8

#define BODY_WORDS (DUP_RECORD_WORDS - 1)

/* A slot is tags[i] and bodies[i].w, the record's words 0 and 1..15. */
struct dup_body {
	_Atomic uint64_t w[BODY_WORDS];
};

union dup_words {
	struct dup_record r;
	uint64_t w[DUP_RECORD_WORDS];
};

struct dup_table {
	uint32_t capacity, mask;
	uint32_t count;                  /* writer only */
	_Atomic uint64_t gen;            /* readers use array gen & 1 */
	_Atomic uint64_t *tags[2];
	struct dup_body *bodies[2];
};

struct dup_array {
	_Atomic uint64_t *tags;
	struct dup_body *bodies;
};

static struct dup_array array(const struct dup_table *t, uint64_t g)
{
	return (struct dup_array){ t->tags[g & 1], t->bodies[g & 1] };
}

static uint32_t pow2_at_least(uint64_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

/* Zeroed, on cache lines (aligned_alloc wants a multiple of them). */
static void *alloc_lines(size_t bytes)
{
	size_t rounded = (bytes + 63) & ~(size_t)63;
	void *p = aligned_alloc(64, rounded);

	if (p != NULL)
		memset(p, 0, rounded);
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
		/* Nothing reads the table before it is returned: plain
		 * zeroing is fine. */
		t->tags[i] = alloc_lines((size_t)n * sizeof(*t->tags[i]));
		t->bodies[i] = alloc_lines((size_t)n * sizeof(*t->bodies[i]));
		if (t->tags[i] == NULL || t->bodies[i] == NULL) {
			dup_table_delete(t);
			return NULL;
		}
	}
	return t;
}

void dup_table_delete(struct dup_table *t)
{
	if (t == NULL)
		return;
	for (int i = 0; i < 2; i++) {
		free(t->tags[i]);
		free(t->bodies[i]);
	}
	free(t);
}

static void read_slot(const struct dup_body *b, uint64_t tag,
		      union dup_words *u)
{
	u->w[0] = tag;
	for (size_t i = 0; i < BODY_WORDS; i++)
		u->w[i + 1] = atomic_load_explicit(&b->w[i], memory_order_relaxed);
}

/* 1 with *out when id is in a, else 0. Bounded by the array size, so even
 * a probe through stale words ends. */
static int probe(struct dup_array a, uint32_t mask, const uint64_t id[2],
		 struct dup_record *out)
{
	for (uint32_t i = (uint32_t)id[1] & mask, n = 0; n <= mask;
	     i = (i + 1) & mask, n++) {
		uint64_t tag = atomic_load_explicit(&a.tags[i], memory_order_acquire);
		union dup_words u;

		if (tag == 0)
			return 0;
		if (tag != id[0])
			continue;
		read_slot(&a.bodies[i], tag, &u);
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
		int found = probe(array(t, g), t->mask, id, out);

		/* Pairs with the release fence in dup_table_rebuild: a probe
		 * that saw a word of a rebuild sees the new generation here. */
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&t->gen, memory_order_relaxed) == g)
			return found;
	}
	return -EAGAIN;
}

/* Writer: publishes r in the first free slot of its probe in a. */
static void place(struct dup_array a, uint32_t mask, const struct dup_record *r)
{
	union dup_words u = { .r = *r };
	uint32_t i = (uint32_t)r->id[1] & mask;

	while (atomic_load_explicit(&a.tags[i], memory_order_relaxed) != 0)
		i = (i + 1) & mask;
	for (size_t k = 0; k < BODY_WORDS; k++)
		atomic_store_explicit(&a.bodies[i].w[k], u.w[k + 1],
				      memory_order_relaxed);
	atomic_store_explicit(&a.tags[i], u.w[0], memory_order_release);
}

int dup_table_insert(struct dup_table *t, const struct dup_record *r)
{
	struct dup_array a = array(t, atomic_load_explicit(&t->gen,
							   memory_order_relaxed));
	struct dup_record old;

	if (r->id[0] == 0)
		return -EINVAL;
	if (probe(a, t->mask, r->id, &old))
		return -EEXIST;
	if (t->count >= t->capacity)
		return -ENOSPC;
	place(a, t->mask, r);
	t->count++;
	return 0;
}

uint32_t dup_table_rebuild(struct dup_table *t,
			   bool (*keep)(const struct dup_record *r, const void *arg),
			   const void *arg)
{
	uint64_t g = atomic_load_explicit(&t->gen, memory_order_relaxed);
	struct dup_array from = array(t, g), to = array(t, g + 1);
	uint32_t kept = 0, dropped = 0;

	/* Readers still probing the spare array from two generations ago
	 * must see that the generation moved once they see these stores. */
	atomic_thread_fence(memory_order_release);
	for (uint32_t i = 0; i <= t->mask; i++)
		atomic_store_explicit(&to.tags[i], 0, memory_order_relaxed);
	for (uint32_t i = 0; i <= t->mask; i++) {
		uint64_t tag = atomic_load_explicit(&from.tags[i],
						    memory_order_relaxed);
		union dup_words u;

		if (tag == 0)
			continue;
		read_slot(&from.bodies[i], tag, &u);
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
	struct dup_array a = array(t, atomic_load_explicit(&t->gen,
							   memory_order_relaxed));

	for (uint32_t i = 0; i <= t->mask; i++) {
		uint64_t tag = atomic_load_explicit(&a.tags[i], memory_order_relaxed);
		union dup_words u;

		if (tag == 0)
			continue;
		read_slot(&a.bodies[i], tag, &u);
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
