/* kpg_arena.h — a bump allocator owned by one lcore.
 * protobuf-c unpacks certificates into it through a ProtobufCAllocator, so
 * decoding costs no malloc; the owner resets it after each request. */
#ifndef KPG_ARENA_H
#define KPG_ARENA_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

struct kpg_arena {
	uint8_t *base;
	size_t size;
	size_t used;
	size_t high_water;           /* most ever used, for sizing */
	uint64_t failed;             /* allocations refused because full */
	ProtobufCAllocator pb;       /* allocator_data points back here */
};

/* Reserves size bytes once (malloc at set-up, never per request). */
int kpg_arena_init(struct kpg_arena *a, size_t size);
void kpg_arena_fini(struct kpg_arena *a);

/* 16-byte aligned; NULL when full (protobuf-c then fails the unpack). */
void *kpg_arena_alloc(struct kpg_arena *a, size_t n);

static inline void kpg_arena_reset(struct kpg_arena *a) { a->used = 0; }

#endif
