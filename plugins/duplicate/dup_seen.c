/* dup_seen.c — a worker's exact memory of certificates found in the
 * ledger; see dup_seen.h. */
#include <stdlib.h>
#include <string.h>

#include "dup_seen.h"

_Static_assert((DUP_SEEN_SETS & (DUP_SEEN_SETS - 1)) == 0,
	       "DUP_SEEN_SETS is a power of two");

struct dup_seen *dup_seen_new(void)
{
	size_t size = (sizeof(struct dup_seen) + 4095) / 4096 * 4096;
	struct dup_seen *s = aligned_alloc(4096, size);

	if (s != NULL)
		memset(s, 0, size);
	return s;
}

void dup_seen_delete(struct dup_seen *s)
{
	free(s);
}

/* Only spreads numbers over sets and tags (equality is checked byte by
 * byte): each word folded in and mixed down, so a digit anywhere moves
 * the set. */
static uint64_t hash_of(const char participant[2], const char *number,
			uint32_t len)
{
	const uint64_t k = UINT64_C(0x9e3779b97f4a7c15);
	uint64_t h = (uint64_t)(unsigned char)participant[0] |
		     (uint64_t)(unsigned char)participant[1] << 8 |
		     (uint64_t)len << 16, w;

	for (; len >= 8; number += 8, len -= 8) {
		memcpy(&w, number, 8);
		h = (h ^ w) * k;
		h ^= h >> 32;
	}
	if (len > 0) {
		w = 0;
		memcpy(&w, number, len);
		h = (h ^ w) * k;
		h ^= h >> 32;
	}
	return h * k;
}

static uint32_t set_of(uint64_t h)
{
	return (uint32_t)(h >> 40) & (DUP_SEEN_SETS - 1);
}

static uint16_t tag_of(uint64_t h)
{
	return (uint16_t)(h >> 16) | 1;
}

static bool same(const struct dup_seen_slot *e, const char participant[2],
		 const char *number, uint32_t len)
{
	return e->number_len == len &&
	       memcmp(e->participant, participant, 2) == 0 &&
	       memcmp(e->number, number, len) == 0;
}

struct dup_seen_slot *dup_seen_find(struct dup_seen *s, const char participant[2],
				    const char *number, uint32_t len)
{
	uint64_t h = hash_of(participant, number, len);
	uint32_t set = set_of(h);
	uint16_t tag = tag_of(h);

	for (unsigned way = 0; way < 2; way++)
		if (s->tag[set][way] == tag &&
		    same(&s->slot[set][way], participant, number, len))
			return &s->slot[set][way];
	return NULL;
}

struct dup_seen_slot *dup_seen_claim(struct dup_seen *s, const char participant[2],
				     const char *number, uint32_t len,
				     const uint64_t id[2])
{
	uint64_t h = hash_of(participant, number, len);
	uint32_t set = set_of(h);
	unsigned way = s->next[set];
	struct dup_seen_slot *e = &s->slot[set][way];

	s->next[set] = (uint8_t)(way ^ 1);
	s->tag[set][way] = tag_of(h);
	e->id[0] = id[0];
	e->id[1] = id[1];
	e->number_len = len;
	e->bytes_len = UINT32_MAX;
	e->when_len = 0;
	memcpy(e->participant, participant, 2);
	memcpy(e->number, number, len);
	return e;
}

bool dup_seen_digest(const struct dup_seen_slot *e, const uint8_t *bytes,
		     uint32_t len, uint64_t dg[2])
{
	if (e->bytes_len != len || (len > 0 && memcmp(e->bytes, bytes, len) != 0))
		return false;
	dg[0] = e->digest[0];
	dg[1] = e->digest[1];
	return true;
}

void dup_seen_keep(struct dup_seen_slot *e, const uint8_t *bytes, uint32_t len,
		   const uint64_t dg[2])
{
	if (len > DUP_SEEN_BYTES) {
		e->bytes_len = UINT32_MAX;
		return;
	}
	if (len > 0)
		memcpy(e->bytes, bytes, len);
	e->bytes_len = len;
	e->digest[0] = dg[0];
	e->digest[1] = dg[1];
}
