/* kpg_replay.c — the replay window; see kpg_replay.h. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kpg_replay.h"

enum { E_PENDING = 1, E_DONE, E_VOID };

struct entry {
	uint64_t station, id;
	int64_t expires;
	uint64_t boff, bend;             /* answer bytes, as running offsets */
	uint32_t hash, seq;
	uint16_t len;
	uint8_t state;
	uint8_t digest[KPG_REPLAY_DIGEST_LEN];
};

struct kpg_replay {
	uint32_t emask;                  /* entries - 1 */
	uint32_t imask;                  /* index slots - 1 */
	uint32_t head, tail;             /* running entry numbers */
	uint64_t bcap, bhead, btail;     /* answer bytes, running offsets */
	int64_t lifetime;
	struct entry *e;
	uint32_t *index;                 /* entry slot + 1; 0 empty */
	uint8_t *bytes;
};

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 8;

	while (p < n && p < (1u << 30))
		p <<= 1;
	return p;
}

struct kpg_replay *kpg_replay_new(uint32_t entries, uint64_t bytes,
				  int64_t lifetime_s)
{
	struct kpg_replay *r = calloc(1, sizeof(*r));
	uint32_t n = pow2_at_least(entries);

	if (r == NULL)
		return NULL;
	r->emask = n - 1;
	r->imask = 2 * n - 1;            /* load at most 1/2: short probes */
	r->bcap = bytes < KPG_DATAGRAM_MAX ? KPG_DATAGRAM_MAX : bytes;
	r->lifetime = lifetime_s;
	r->e = calloc(n, sizeof(*r->e));
	r->index = calloc(2 * (size_t)n, sizeof(*r->index));
	r->bytes = malloc(r->bcap);
	if (r->e == NULL || r->index == NULL || r->bytes == NULL) {
		kpg_replay_delete(r);
		return NULL;
	}
	return r;
}

void kpg_replay_delete(struct kpg_replay *r)
{
	if (r == NULL)
		return;
	free(r->e);
	free(r->index);
	free(r->bytes);
	free(r);
}

static uint32_t key_hash(uint64_t station, uint64_t id)
{
	uint64_t h = station ^ (id * 0x9e3779b97f4a7c15ull);

	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 29;
	return (uint32_t)h;
}

/* The index slot holding entry slot k (which is in the index). */
static uint32_t index_slot(const struct kpg_replay *r, uint32_t k)
{
	uint32_t i = r->e[k].hash & r->imask;

	while (r->index[i] != k + 1)
		i = (i + 1) & r->imask;
	return i;
}

/* Linear-probing deletion by backward shift: no tombstones, so probes
 * stay as short as the live load makes them. */
static void index_remove(struct kpg_replay *r, uint32_t k)
{
	uint32_t i = index_slot(r, k), j = i;

	for (;;) {
		uint32_t home;

		j = (j + 1) & r->imask;
		if (r->index[j] == 0)
			break;
		home = r->e[r->index[j] - 1].hash & r->imask;
		/* leave it when its home lies cyclically in (i, j] */
		if (i <= j ? (home > i && home <= j) : (home > i || home <= j))
			continue;
		r->index[i] = r->index[j];
		i = j;
	}
	r->index[i] = 0;
}

static void expire(struct kpg_replay *r, int64_t now)
{
	while (r->tail != r->head) {
		uint32_t k = r->tail & r->emask;
		struct entry *e = &r->e[k];

		/* a pending answer is due within this loop or the next few;
		 * never reclaim its reserved bytes under it */
		if (e->state == E_PENDING)
			break;
		if (e->state == E_DONE) {
			if (e->expires > now)
				break;
			index_remove(r, k);
		}
		r->btail = e->bend;
		r->tail++;
	}
}

enum kpg_replay_result kpg_replay_check(struct kpg_replay *r, uint64_t station,
					uint64_t id,
					const uint8_t digest[KPG_REPLAY_DIGEST_LEN],
					uint32_t reserve, int64_t now, uint32_t *seq,
					const uint8_t **answer, uint32_t *answer_len)
{
	uint32_t h = key_hash(station, id), i, k;
	uint64_t start;
	struct entry *e;

	expire(r, now);
	for (i = h & r->imask; r->index[i]; i = (i + 1) & r->imask) {
		e = &r->e[r->index[i] - 1];
		if (e->station != station || e->id != id)
			continue;
		if (memcmp(e->digest, digest, KPG_REPLAY_DIGEST_LEN) != 0)
			return KPG_REPLAY_REFUSE;
		if (e->state == E_PENDING)
			return KPG_REPLAY_PENDING;
		*answer = r->bytes + e->boff % r->bcap;
		*answer_len = e->len;
		return KPG_REPLAY_RESCAN;
	}

	if (r->head - r->tail > r->emask)
		return KPG_REPLAY_FULL;
	/* an answer is one contiguous run: skip the ring's end if need be */
	start = r->bhead;
	if (start % r->bcap + reserve > r->bcap)
		start += r->bcap - start % r->bcap;
	if (start + reserve - r->btail > r->bcap)
		return KPG_REPLAY_FULL;

	k = r->head & r->emask;
	e = &r->e[k];
	*e = (struct entry){
		.station = station,
		.id = id,
		.expires = now + r->lifetime,
		.boff = start,
		.bend = start + reserve,
		.hash = h,
		.seq = r->head,
		.state = E_PENDING,
	};
	memcpy(e->digest, digest, KPG_REPLAY_DIGEST_LEN);
	r->index[i] = k + 1;             /* i: the empty slot the probe ended on */
	r->bhead = e->bend;
	*seq = r->head++;
	return KPG_REPLAY_FRESH;
}

static struct entry *pending(struct kpg_replay *r, uint32_t seq)
{
	struct entry *e = &r->e[seq & r->emask];

	return e->seq == seq && e->state == E_PENDING ? e : NULL;
}

void kpg_replay_commit(struct kpg_replay *r, uint32_t seq, const uint8_t *answer,
		       uint32_t len)
{
	struct entry *e = pending(r, seq);

	if (e == NULL)
		return;
	if (len > e->bend - e->boff) {
		/* cannot happen (answers never outgrow requests); refuse to
		 * keep a cut answer rather than re-send a wrong one */
		kpg_replay_cancel(r, seq);
		return;
	}
	memcpy(r->bytes + e->boff % r->bcap, answer, len);
	e->len = (uint16_t)len;
	e->state = E_DONE;
}

void kpg_replay_cancel(struct kpg_replay *r, uint32_t seq)
{
	struct entry *e = pending(r, seq);

	if (e == NULL)
		return;
	index_remove(r, seq & r->emask);
	e->state = E_VOID;
}

uint32_t kpg_replay_live(const struct kpg_replay *r)
{
	return r->head - r->tail;
}
