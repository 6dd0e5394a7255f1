/* dup_seen.h — what one worker learnt of the certificates it found in the
 * ledger: each one's ledger id and the keyed hash of its signed bytes,
 * kept beside the exact participant, number and signed bytes they were
 * computed from. A certificate judged again (a re-scan, a refused second
 * use) then skips both SipHashes, the warm path's main cost. A hit needs
 * every one of those bytes equal, so it gives exactly what hashing would:
 * the keys never change once the store is loaded. A slot also keeps how
 * its record's acceptance time reads in a detail.
 *
 * Two ways per set, sets chosen by a hash of the number; fixed memory
 * (1.25 MiB per worker, touched at creation), used by its worker only. */
#ifndef DUP_SEEN_H
#define DUP_SEEN_H

#include <stdbool.h>
#include <stdint.h>

#include "dup_store.h"

#define DUP_SEEN_SETS  512u              /* power of two */
#define DUP_SEEN_WHEN  28u               /* room for a time as details print it */
/* Signed bytes kept: more than a request's 1200-byte datagram can carry
 * beside a signature; longer ones are hashed each time. */
#define DUP_SEEN_BYTES (1280u - 112u)

struct dup_seen_slot {
	uint64_t id[2];                  /* keyed hash of participant and number */
	uint64_t digest[2];              /* keyed hash of bytes[0..bytes_len) */
	int64_t when_at;                 /* the acceptance time when reads */
	uint32_t number_len;             /* 0: free */
	uint32_t bytes_len;              /* over DUP_SEEN_BYTES: none kept */
	char participant[2];
	uint8_t when_len;                /* 0: none */
	char number[DUP_NUMBER_MAX];
	char when[DUP_SEEN_WHEN];        /* when_at as the details print it */
	uint8_t bytes[DUP_SEEN_BYTES];
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct dup_seen_slot) == 1280, "a slot is 20 cache lines");

struct dup_seen {
	/* 16 bits of each slot's number hash, 0 when free: a certificate
	 * never seen (every new one) costs a look at these 2 KiB only. */
	uint16_t tag[DUP_SEEN_SETS][2];
	uint8_t next[DUP_SEEN_SETS];     /* the way a miss fills next */
	struct dup_seen_slot slot[DUP_SEEN_SETS][2];
};

/* Zeroed (every slot free) and touched, so no page fault awaits a
 * worker. NULL when out of memory. */
struct dup_seen *dup_seen_new(void);
void dup_seen_delete(struct dup_seen *s);

/* The slot of this certificate (participant's two bytes, number of
 * 1..DUP_NUMBER_MAX bytes), or NULL. */
struct dup_seen_slot *dup_seen_find(struct dup_seen *s, const char participant[2],
				    const char *number, uint32_t len);

/* A slot for this certificate and its id, evicting the set's older one;
 * its bytes and time are unknown until kept. */
struct dup_seen_slot *dup_seen_claim(struct dup_seen *s, const char participant[2],
				     const char *number, uint32_t len,
				     const uint64_t id[2]);

/* The digest kept for exactly these signed bytes, into dg: true; or
 * false, when the slot holds other bytes. */
bool dup_seen_digest(const struct dup_seen_slot *e, const uint8_t *bytes,
		     uint32_t len, uint64_t dg[2]);

/* Keeps these bytes (none when longer than DUP_SEEN_BYTES) and their
 * digest. */
void dup_seen_keep(struct dup_seen_slot *e, const uint8_t *bytes, uint32_t len,
		   const uint64_t dg[2]);

#endif
