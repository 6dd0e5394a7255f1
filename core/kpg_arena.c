/* kpg_arena.c — a bump allocator owned by one lcore.
 * Memory is taken once at set-up; allocation moves a cursor and free does
 * nothing, since everything dies together at kpg_arena_reset(). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kpg_arena.h"

#define KPG_ARENA_ALIGN 16u

static void *kpg_arena_pb_alloc(void *data, size_t n)
{
	return kpg_arena_alloc(data, n);
}

/* protobuf-c frees partial messages on a failed unpack: the reset does it. */
static void kpg_arena_pb_free(void *data, void *p)
{
}

int kpg_arena_init(struct kpg_arena *a, size_t size)
{
	memset(a, 0, sizeof(*a));
	if (size == 0 || size > SIZE_MAX - KPG_ARENA_ALIGN)
		return -EINVAL;
	size = (size + KPG_ARENA_ALIGN - 1) & ~(size_t)(KPG_ARENA_ALIGN - 1);
	a->base = aligned_alloc(64, (size + 63) & ~(size_t)63);
	if (a->base == NULL)
		return -ENOMEM;
	a->size = size;
	a->pb.alloc = kpg_arena_pb_alloc;
	a->pb.free = kpg_arena_pb_free;
	a->pb.allocator_data = a;
	return 0;
}

void kpg_arena_fini(struct kpg_arena *a)
{
	free(a->base);
	memset(a, 0, sizeof(*a));
}

void *kpg_arena_alloc(struct kpg_arena *a, size_t n)
{
	void *p;

	/* zero-byte requests still get a distinct pointer */
	if (n == 0)
		n = 1;
	/* size and used are multiples of the alignment, so n fits once
	 * rounded up iff it fits as asked, and the rounding cannot wrap */
	if (n > a->size - a->used) {
		a->failed++;
		return NULL;
	}
	n = (n + KPG_ARENA_ALIGN - 1) & ~(size_t)(KPG_ARENA_ALIGN - 1);
	p = a->base + a->used;
	a->used += n;
	if (a->used > a->high_water)
		a->high_water = a->used;
	return p;
}
