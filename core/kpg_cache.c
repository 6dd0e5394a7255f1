/* kpg_cache.c — the verified-result cache: 8-way set-associative, all of
 * its memory taken in one allocation at creation. A bucket keeps the full
 * 64-bit hash of its ways in one cache line, so a miss touches one line;
 * a tag match is confirmed by comparing every stored byte. */
#include <stdlib.h>
#include <string.h>

#ifdef __SSE4_2__
#include <nmmintrin.h>
#endif

#include "kpg_cache.h"

#define KPG_CACHE_LINE    64u
#define KPG_CACHE_WAYS    8u
/* A request carries signature and signed bytes in one datagram, so both
 * together never exceed it. An entry is 2 KiB: the header, then the
 * signature and signed bytes, then the decoded view in what they leave
 * (at least 800 bytes, typically 1500). */
#define KPG_CACHE_SLOT    KPG_DATAGRAM_MAX
#define KPG_CACHE_ENTRY   2048u
#define KPG_CACHE_HEAD    32u
#define KPG_CACHE_DATA    (KPG_CACHE_ENTRY - KPG_CACHE_HEAD)
#define KPG_CACHE_VIEW_ALIGN 16u
#define KPG_CACHE_MAX     (1u << 26)   /* entries: ~85 GB, far past sane */

struct kpg_cache_bucket {
	uint64_t tag[KPG_CACHE_WAYS];    /* one line: the whole probe of a miss */
	uint32_t stamp[KPG_CACHE_WAYS];  /* insertion clock, oldest is evicted */
	uint8_t used;                    /* bit per way */
} __attribute__((aligned(KPG_CACHE_LINE)));

struct kpg_cache_entry {
	uint64_t version;
	uint16_t sig_len;
	uint16_t msg_len;
	uint16_t view_len;               /* 0: no decoded view kept */
	uint16_t pad;
	uint8_t key_id[KPG_KEY_ID_LEN];
	/* signature, signed bytes, then the view at kpg_cache_view_off() */
	uint8_t data[KPG_CACHE_DATA] __attribute__((aligned(KPG_CACHE_VIEW_ALIGN)));
} __attribute__((aligned(KPG_CACHE_LINE)));

struct kpg_cache {
	uint32_t mask;                   /* buckets - 1 */
	uint32_t capacity;
	uint32_t clock;
	struct kpg_cache_bucket *buckets;
	struct kpg_cache_entry *entries; /* way w of bucket b at b * WAYS + w */
} __attribute__((aligned(KPG_CACHE_LINE)));

_Static_assert(KPG_CACHE_SLOT <= UINT16_MAX, "lengths are stored in 16 bits");
_Static_assert(sizeof(struct kpg_cache_entry) == KPG_CACHE_ENTRY, "2 KiB entries");
_Static_assert(KPG_CACHE_DATA - KPG_CACHE_SLOT >= 800, "room for a view");

/* ---- hash ---- */

/* Two lanes over alternate words: each lane sees different bytes (two
 * seeds over the same bytes would differ only by a constant, CRC being
 * linear), and the lanes run in parallel, hiding the crc32 latency. */
#ifdef __SSE4_2__
static inline uint64_t kpg_lane(uint64_t h, uint64_t w)
{
	return _mm_crc32_u64(h, w);
}
#else
static inline uint64_t kpg_lane(uint64_t h, uint64_t w)
{
	h ^= w * 0x9e3779b97f4a7c15ull;
	h = (h << 29) | (h >> 35);
	return h * 0xbf58476d1ce4e5b9ull;
}
#endif

static inline uint64_t kpg_load64(const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
	return w;
}

static inline void kpg_hash_bytes(uint64_t *a, uint64_t *b, const uint8_t *p,
				  size_t len)
{
	while (len >= 16) {
		*a = kpg_lane(*a, kpg_load64(p));
		*b = kpg_lane(*b, kpg_load64(p + 8));
		p += 16;
		len -= 16;
	}
	if (len >= 8) {
		*a = kpg_lane(*a, kpg_load64(p));
		p += 8;
		len -= 8;
	}
	if (len > 0) {
		uint64_t w = 0;

		memcpy(&w, p, len);
		*b = kpg_lane(*b, w);
	}
}

void kpg_cache_hash(struct kpg_cache_key *k)
{
	uint64_t a = 0x6b70676174650001ull, b = 0x6361636865000002ull, h;

	kpg_hash_bytes(&a, &b, k->key_id, KPG_KEY_ID_LEN);
	if (k->sig_len)
		kpg_hash_bytes(&a, &b, k->sig, k->sig_len);
	if (k->msg_len)
		kpg_hash_bytes(&a, &b, k->msg, k->msg_len);
	/* Lengths tell apart inputs that differ only by where a part ends or
	 * by zero padding of the last word; the final mix spreads every input
	 * bit over the low bits that pick the bucket. */
	h = (a << 32) ^ b ^ ((uint64_t)k->sig_len << 48) ^ ((uint64_t)k->msg_len << 16);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	k->hash = h;
}

/* ---- table ---- */

struct kpg_cache *kpg_cache_new(uint32_t entries)
{
	struct kpg_cache *c;
	uint32_t n = KPG_CACHE_WAYS, nbuckets;
	size_t size;

	if (entries > KPG_CACHE_MAX)
		return NULL;
	while (n < entries)
		n <<= 1;
	nbuckets = n / KPG_CACHE_WAYS;
	size = sizeof(*c) + (size_t)nbuckets * sizeof(struct kpg_cache_bucket) +
	       (size_t)n * sizeof(struct kpg_cache_entry);
	c = aligned_alloc(KPG_CACHE_LINE, size);
	if (c == NULL)
		return NULL;
	/* Touch it all now: no page fault lands on the data path later. */
	memset(c, 0, size);
	c->mask = nbuckets - 1;
	c->capacity = n;
	c->buckets = (struct kpg_cache_bucket *)(c + 1);
	c->entries = (struct kpg_cache_entry *)(c->buckets + nbuckets);
	return c;
}

void kpg_cache_delete(struct kpg_cache *c)
{
	free(c);
}

uint32_t kpg_cache_capacity(const struct kpg_cache *c)
{
	return c->capacity;
}

size_t kpg_cache_entry_bytes(void)
{
	return sizeof(struct kpg_cache_entry) +
	       sizeof(struct kpg_cache_bucket) / KPG_CACHE_WAYS;
}

static inline bool kpg_cache_fits(const struct kpg_cache_key *k)
{
	return (uint64_t)k->sig_len + k->msg_len <= KPG_CACHE_SLOT;
}

/* Same bytes, whatever the version. */
static inline bool kpg_cache_same(const struct kpg_cache_entry *e,
				  const struct kpg_cache_key *k)
{
	return e->sig_len == k->sig_len && e->msg_len == k->msg_len &&
	       memcmp(e->key_id, k->key_id, KPG_KEY_ID_LEN) == 0 &&
	       (k->sig_len == 0 || memcmp(e->data, k->sig, k->sig_len) == 0) &&
	       (k->msg_len == 0 ||
		memcmp(e->data + k->sig_len, k->msg, k->msg_len) == 0);
}

struct kpg_cache_entry *kpg_cache_find(struct kpg_cache *c,
				       const struct kpg_cache_key *k,
				       uint64_t trust_version)
{
	uint32_t bi = (uint32_t)k->hash & c->mask;
	const struct kpg_cache_bucket *b = &c->buckets[bi];
	struct kpg_cache_entry *e = &c->entries[(size_t)bi * KPG_CACHE_WAYS];

	if (!kpg_cache_fits(k))
		return NULL;
	for (unsigned w = 0; w < KPG_CACHE_WAYS; w++) {
		if (b->tag[w] != k->hash || !(b->used & (1u << w)))
			continue;
		if (e[w].version == trust_version && kpg_cache_same(&e[w], k))
			return &e[w];
	}
	return NULL;
}

static inline uint32_t kpg_cache_view_off(const struct kpg_cache_entry *e)
{
	uint32_t end = (uint32_t)e->sig_len + e->msg_len;

	return (end + KPG_CACHE_VIEW_ALIGN - 1) & ~(KPG_CACHE_VIEW_ALIGN - 1);
}

const struct kpg_cert *kpg_cache_view(const struct kpg_cache_entry *e)
{
	if (e->view_len == 0)
		return NULL;
	return (const struct kpg_cert *)(const void *)(e->data + kpg_cache_view_off(e));
}

const struct kpg_cert *kpg_cache_keep_view(struct kpg_cache_entry *e,
					   const struct kpg_cert *v)
{
	uint32_t off = kpg_cache_view_off(e);
	const struct kpg_cert *kept;
	int n;

	e->view_len = 0;                 /* the copy may overwrite a kept one */
	if (off >= KPG_CACHE_DATA)
		return NULL;
	n = kpg_cert_copy(v, e->data + off, KPG_CACHE_DATA - off, &kept);
	if (n <= 0)
		return NULL;
	e->view_len = (uint16_t)n;
	return kept;
}

void kpg_cache_insert(struct kpg_cache *c, const struct kpg_cache_key *k,
		      uint64_t trust_version)
{
	uint32_t bi = (uint32_t)k->hash & c->mask;
	struct kpg_cache_bucket *b = &c->buckets[bi];
	struct kpg_cache_entry *e = &c->entries[(size_t)bi * KPG_CACHE_WAYS];
	unsigned w, victim = KPG_CACHE_WAYS;

	if (!kpg_cache_fits(k))
		return;
	/* The same bytes under an older version: one entry, re-stamped. */
	for (w = 0; w < KPG_CACHE_WAYS; w++) {
		if ((b->used & (1u << w)) && b->tag[w] == k->hash &&
		    kpg_cache_same(&e[w], k)) {
			e[w].version = trust_version;
			b->stamp[w] = ++c->clock;
			return;
		}
	}
	for (w = 0; w < KPG_CACHE_WAYS && victim == KPG_CACHE_WAYS; w++)
		if (!(b->used & (1u << w)))
			victim = w;
	if (victim == KPG_CACHE_WAYS) {
		victim = 0;
		/* Oldest by clock distance, so the 32-bit clock may wrap. */
		for (w = 1; w < KPG_CACHE_WAYS; w++)
			if ((int32_t)(b->stamp[w] - b->stamp[victim]) < 0)
				victim = w;
	}
	e += victim;
	e->version = trust_version;
	e->view_len = 0;                 /* another certificate's bytes now */
	e->sig_len = (uint16_t)k->sig_len;
	e->msg_len = (uint16_t)k->msg_len;
	memcpy(e->key_id, k->key_id, KPG_KEY_ID_LEN);
	if (k->sig_len)
		memcpy(e->data, k->sig, k->sig_len);
	if (k->msg_len)
		memcpy(e->data + k->sig_len, k->msg, k->msg_len);
	b->tag[victim] = k->hash;
	b->stamp[victim] = ++c->clock;
	b->used |= (uint8_t)(1u << victim);
}
