/* kpg_arena.c — a bump allocator owned by one lcore.
 * Memory is taken once at set-up; allocation moves a cursor and free does
 * nothing, since everything dies together at kpg_arena_reset(). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kpg_arena.h"

#define KPG_ARENA_ALIGN 16u

/* Under ASan, bytes not handed out are poisoned, so reading past a view
 * array or a string is caught even though it stays inside the arena. */
#if defined(__SANITIZE_ADDRESS__)
#define KPG_ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KPG_ARENA_ASAN 1
#endif
#endif
#ifdef KPG_ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define kpg_arena_poison(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define kpg_arena_unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define kpg_arena_poison(p, n) ((void)(p), (void)(n))
#define kpg_arena_unpoison(p, n) ((void)(p), (void)(n))
#endif

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
	kpg_arena_poison(a->base, size);
	a->pb.alloc = kpg_arena_pb_alloc;
	a->pb.free = kpg_arena_pb_free;
	a->pb.allocator_data = a;
	return 0;
}

void kpg_arena_fini(struct kpg_arena *a)
{
	if (a->base)
		kpg_arena_unpoison(a->base, a->size);
	free(a->base);
	memset(a, 0, sizeof(*a));
}

void *kpg_arena_alloc(struct kpg_arena *a, size_t n)
{
	size_t asked;
	void *p;

	/* zero-byte requests still get a distinct pointer */
	if (n == 0)
		n = 1;
	asked = n;
	/* size and used are multiples of the alignment, so n fits once
	 * rounded up iff it fits as asked, and the rounding cannot wrap */
	if (n > a->size - a->used) {
		a->failed++;
		return NULL;
	}
	n = (n + KPG_ARENA_ALIGN - 1) & ~(size_t)(KPG_ARENA_ALIGN - 1);
	p = a->base + a->used;
	a->used += n;
	/* a reset leaves old allocations open: close what lies past this one */
	if (a->high_water > a->used)
		kpg_arena_poison(a->base + a->used, a->high_water - a->used);
	else
		a->high_water = a->used;
	kpg_arena_poison(p, n);
	kpg_arena_unpoison(p, asked);
	return p;
}
