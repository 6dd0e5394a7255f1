/* kpg_cache.h — the verified-result cache, one per lcore.
 * An entry binds the key id, the exact signed bytes and the canonical
 * signature (kpg_sig_canonical), and records the trust-list version it was
 * verified under: an entry from another version never hits, so a new list
 * (a revocation) takes effect at once. Lookups hash with a fast 64-bit hash
 * and then compare every byte, so no other bytes can hit. Set-associative,
 * 8 ways a bucket, bounded memory fixed at creation.
 *
 * An entry is 2 KiB: the signature and signed bytes (at most one datagram)
 * and, in the space they leave, a copy of the decoded certificate view, so
 * a warm request is judged without decoding again. A view that does not
 * fit that space is not kept; the bytes alone still make the entry. */
#ifndef KPG_CACHE_H
#define KPG_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kpg_cert.h"
#include "kpg_limits.h"

struct kpg_cache;
struct kpg_cache_entry;

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
/* The entry holding exactly these bytes under this trust-list version, or
 * NULL. Valid until the next insert into this cache. */
struct kpg_cache_entry *kpg_cache_find(struct kpg_cache *c,
				       const struct kpg_cache_key *k,
				       uint64_t trust_version);
static inline bool kpg_cache_lookup(struct kpg_cache *c, const struct kpg_cache_key *k,
				    uint64_t trust_version)
{
	return kpg_cache_find(c, k, trust_version) != NULL;
}
/* A key too large to store (sig + msg over the slot) is not cached. */
void kpg_cache_insert(struct kpg_cache *c, const struct kpg_cache_key *k,
		      uint64_t trust_version);

/* The decoded view kept with an entry, or NULL when none is. */
const struct kpg_cert *kpg_cache_view(const struct kpg_cache_entry *e);
/* Keeps a copy of v (decoded from this entry's bytes) with the entry when
 * it fits the space the bytes leave; returns the kept copy or NULL. */
const struct kpg_cert *kpg_cache_keep_view(struct kpg_cache_entry *e,
					   const struct kpg_cert *v);

uint32_t kpg_cache_capacity(const struct kpg_cache *c);
size_t kpg_cache_entry_bytes(void);      /* memory per entry */

#endif
