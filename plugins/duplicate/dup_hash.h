/* dup_hash.h — SipHash-2-4 (Aumasson and Bernstein), keyed, for the
 * duplicate ledger: a certificate's identity and its signed bytes are
 * stored as 128-bit keyed hashes, so no one who lacks the ledger's key can
 * make two certificates collide; records carry a 64-bit one as checksum.
 * Pure functions, safe on worker lcores. */
#ifndef DUP_HASH_H
#define DUP_HASH_H

#include <stddef.h>
#include <stdint.h>

/* SipHash-2-4 of (the 8 little-endian bytes of head, when has_head) then
 * p[0..n): the head word lets a caller bind a short tag without copying. */
void dup_siphash(const uint64_t key[2], int has_head, uint64_t head,
		 const void *p, size_t n, uint64_t *out, int out_words);

static inline uint64_t dup_sip64(const uint64_t key[2], const void *p, size_t n)
{
	uint64_t h;

	dup_siphash(key, 0, 0, p, n, &h, 1);
	return h;
}

#endif
