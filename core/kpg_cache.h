/* kpg_cache.h — the verified-result cache, one per lcore.
 * An entry binds the key id, the exact signed bytes and the canonical
 * signature (kpg_sig_canonical), and records the trust-list version it was
 * verified under: an entry from another version never hits, so a new list
 * (a revocation) takes effect at once. Lookups hash with a fast 64-bit hash
 * and then compare every byte, so no other bytes can hit. Set-associative,
 * 8 ways a bucket, bounded memory fixed at creation. */
#ifndef KPG_CACHE_H
#define KPG_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kpg_limits.h"

struct kpg_cache;

struct kpg_cache_key {
	const uint8_t *key_id;           /* KPG_KEY_ID_LEN bytes */
	const uint8_t *sig;              /* canonical signature */
	uint32_t sig_len;
	const uint8_t *msg;              /* signed certificate bytes */
	uint32_t msg_len;
	uint64_t hash;                   /* kpg_cache_hash() of the above */
};

/* entries is rounded up to a power of two, at least 8. NULL on ENOMEM. */
struct kpg_cache *kpg_cache_new(uint32_t entries);
void kpg_cache_delete(struct kpg_cache *c);

void kpg_cache_hash(struct kpg_cache_key *k);
bool kpg_cache_lookup(struct kpg_cache *c, const struct kpg_cache_key *k,
		      uint64_t trust_version);
/* A key too large to store (sig + msg over the slot) is not cached. */
void kpg_cache_insert(struct kpg_cache *c, const struct kpg_cache_key *k,
		      uint64_t trust_version);

uint32_t kpg_cache_capacity(const struct kpg_cache *c);
size_t kpg_cache_entry_bytes(void);      /* memory per entry */

#endif
