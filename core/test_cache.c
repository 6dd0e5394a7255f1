/* test_cache.c — the verified-result cache hits only on the very same key
 * id, signature and signed bytes under the same trust-list version, and
 * stays within the memory it took at creation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kpg_cache.h"
#include "kpg_cunit.h"

struct item {
	uint8_t key_id[KPG_KEY_ID_LEN];
	uint8_t sig[64];
	uint8_t msg[450];
	struct kpg_cache_key k;
};

static void item_init(struct item *it, uint32_t seed)
{
	for (unsigned i = 0; i < sizeof(it->key_id); i++)
		it->key_id[i] = (uint8_t)(seed * 31 + i);
	for (unsigned i = 0; i < sizeof(it->sig); i++)
		it->sig[i] = (uint8_t)(seed * 17 + i * 3);
	for (unsigned i = 0; i < sizeof(it->msg); i++)
		it->msg[i] = (uint8_t)(i ^ (i >> 8));
	memcpy(it->msg, &seed, sizeof(seed));   /* distinct signed bytes */
	it->k = (struct kpg_cache_key){
		.key_id = it->key_id, .sig = it->sig, .sig_len = sizeof(it->sig),
		.msg = it->msg, .msg_len = sizeof(it->msg),
	};
	kpg_cache_hash(&it->k);
}

static void test_capacity(void)
{
	struct kpg_cache *c = kpg_cache_new(0);

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(kpg_cache_capacity(c), 8);
	kpg_cache_delete(c);
	c = kpg_cache_new(100);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(kpg_cache_capacity(c), 128);
	kpg_cache_delete(c);
	c = kpg_cache_new(4096);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(kpg_cache_capacity(c), 4096);
	kpg_cache_delete(c);
	/* An entry holds a whole datagram and a decoded view: 2 KiB, and
	 * its share of the bucket line. */
	CU_ASSERT_EQUAL(kpg_cache_entry_bytes(), 2048 + 16);
	CU_ASSERT_PTR_NULL(kpg_cache_new(UINT32_MAX));
}

static void test_hit_and_exact_misses(void)
{
	struct kpg_cache *c = kpg_cache_new(1024);
	struct item a, b;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	item_init(&a, 1);
	CU_ASSERT_FALSE(kpg_cache_lookup(c, &a.k, 7));
	kpg_cache_insert(c, &a.k, 7);
	CU_ASSERT_TRUE(kpg_cache_lookup(c, &a.k, 7));

	/* The hash is a function of the bytes alone. */
	item_init(&b, 1);
	CU_ASSERT_EQUAL(a.k.hash, b.k.hash);
	CU_ASSERT_TRUE(kpg_cache_lookup(c, &b.k, 7));

	/* One flipped bit anywhere misses: msg first, middle, last byte. */
	for (unsigned at = 0; at < sizeof(b.msg); at += sizeof(b.msg) / 2 - 1) {
		item_init(&b, 1);
		b.msg[at] ^= 0x01;
		kpg_cache_hash(&b.k);
		CU_ASSERT_NOT_EQUAL(a.k.hash, b.k.hash);
		CU_ASSERT_FALSE(kpg_cache_lookup(c, &b.k, 7));
	}
	item_init(&b, 1);
	b.sig[63] ^= 0x80;
	kpg_cache_hash(&b.k);
	CU_ASSERT_FALSE(kpg_cache_lookup(c, &b.k, 7));
	item_init(&b, 1);
	b.key_id[5] ^= 0x02;
	kpg_cache_hash(&b.k);
	CU_ASSERT_FALSE(kpg_cache_lookup(c, &b.k, 7));
	/* A byte moved from the signature to the signed bytes. */
	item_init(&b, 1);
	b.k.sig_len--;
	kpg_cache_hash(&b.k);
	CU_ASSERT_FALSE(kpg_cache_lookup(c, &b.k, 7));

	/* Another trust-list version never hits. */
	CU_ASSERT_FALSE(kpg_cache_lookup(c, &a.k, 8));
	CU_ASSERT_FALSE(kpg_cache_lookup(c, &a.k, 6));
	kpg_cache_delete(c);
}

/* A view of n bytes: number "ZA-" and as many letters as asked. */
static struct kpg_cert view_of(char *number, size_t len)
{
	memcpy(number, "ZA-", 3);
	memset(number + 3, 'x', len - 3);
	number[len] = '\0';
	return (struct kpg_cert){ .number = { number, (uint32_t)len },
				  .issuing_participant = "ZA" };
}

/* A decoded view is kept with the entry of its bytes: a hit finds it, a
 * new version of the same bytes keeps it, other bytes taking the way
 * never see it, and a view too big for the room the bytes leave is not
 * kept (the bytes still are). */
static void test_views(void)
{
	struct kpg_cache *c = kpg_cache_new(8);   /* one bucket */
	static char number[2048];
	const struct kpg_cert *kept;
	struct kpg_cache_entry *e;
	struct kpg_cert v = view_of(number, 20);
	struct item a, others[8];

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	item_init(&a, 1);
	kpg_cache_insert(c, &a.k, 1);
	e = kpg_cache_find(c, &a.k, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_PTR_NULL(kpg_cache_view(e));
	kept = kpg_cache_keep_view(e, &v);
	CU_ASSERT_PTR_NOT_NULL_FATAL(kept);
	number[5] = 'y';                          /* the copy is its own */
	CU_ASSERT_STRING_EQUAL(kept->number.p, "ZA-xxxxxxxxxxxxxxxxx");
	CU_ASSERT_PTR_EQUAL(kpg_cache_view(kpg_cache_find(c, &a.k, 1)), kept);
	/* the bytes are untouched by the view beside them */
	CU_ASSERT_TRUE(kpg_cache_lookup(c, &a.k, 1));

	kpg_cache_insert(c, &a.k, 2);             /* a new list: re-stamped */
	CU_ASSERT_PTR_EQUAL(kpg_cache_view(kpg_cache_find(c, &a.k, 2)), kept);

	/* Eight others fill the bucket: a's way goes to one of them, with
	 * no view. */
	for (uint32_t i = 0; i < 8; i++) {
		item_init(&others[i], 100 + i);
		others[i].k.hash = a.k.hash;
		kpg_cache_insert(c, &others[i].k, 2);
	}
	CU_ASSERT_FALSE(kpg_cache_lookup(c, &a.k, 2));
	for (uint32_t i = 0; i < 8; i++) {
		e = kpg_cache_find(c, &others[i].k, 2);
		CU_ASSERT_PTR_NOT_NULL_FATAL(e);
		CU_ASSERT_PTR_NULL(kpg_cache_view(e));
	}

	/* 64 + 450 bytes (528 aligned) leave 2016 - 528 = 1488 bytes for the
	 * view: the struct and a number of exactly the rest fit, one byte
	 * more does not. */
	size_t room = 2048 - 32 - 528 - sizeof(struct kpg_cert) - 1;

	v = view_of(number, room);
	CU_ASSERT_PTR_NOT_NULL(kpg_cache_keep_view(e, &v));
	v = view_of(number, room + 1);
	CU_ASSERT_PTR_NULL(kpg_cache_keep_view(e, &v));
	CU_ASSERT_PTR_NULL(kpg_cache_view(e));    /* not half of one either */
	CU_ASSERT_PTR_NOT_NULL(kpg_cache_find(c, &others[7].k, 2));
	kpg_cache_delete(c);
}

static void test_hash_collision_still_compares(void)
{
	struct kpg_cache *c = kpg_cache_new(64);
	struct item a, b;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	item_init(&a, 1);
	item_init(&b, 2);
	kpg_cache_insert(c, &a.k, 1);
	/* Other bytes with the same hash (forced): the bytes decide. */
	b.k.hash = a.k.hash;
	CU_ASSERT_FALSE(kpg_cache_lookup(c, &b.k, 1));
	kpg_cache_insert(c, &b.k, 1);
	CU_ASSERT_TRUE(kpg_cache_lookup(c, &a.k, 1));
	CU_ASSERT_TRUE(kpg_cache_lookup(c, &b.k, 1));
	kpg_cache_delete(c);
}

static void test_new_version_replaces(void)
{
	struct kpg_cache *c = kpg_cache_new(8);   /* one bucket */
	struct item a, others[7];

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	item_init(&a, 1);
	kpg_cache_insert(c, &a.k, 1);
	kpg_cache_insert(c, &a.k, 2);
	CU_ASSERT_FALSE(kpg_cache_lookup(c, &a.k, 1));
	CU_ASSERT_TRUE(kpg_cache_lookup(c, &a.k, 2));
	/* Re-verifying under a new version took no second way: seven
	 * others still fit beside it. */
	for (unsigned i = 0; i < 7; i++) {
		item_init(&others[i], 100 + i);
		kpg_cache_insert(c, &others[i].k, 2);
	}
	CU_ASSERT_TRUE(kpg_cache_lookup(c, &a.k, 2));
	for (unsigned i = 0; i < 7; i++)
		CU_ASSERT_TRUE(kpg_cache_lookup(c, &others[i].k, 2));
	kpg_cache_delete(c);
}

static void test_oldest_evicted(void)
{
	struct kpg_cache *c = kpg_cache_new(64);  /* 8 buckets */
	struct item it[9];

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	/* Nine keys forced into one bucket: the first one in leaves. */
	for (unsigned i = 0; i < 9; i++) {
		item_init(&it[i], 50 + i);
		it[i].k.hash = ((uint64_t)(i + 1) << 32) | 5;
		kpg_cache_insert(c, &it[i].k, 1);
	}
	CU_ASSERT_FALSE(kpg_cache_lookup(c, &it[0].k, 1));
	for (unsigned i = 1; i < 9; i++)
		CU_ASSERT_TRUE(kpg_cache_lookup(c, &it[i].k, 1));
	kpg_cache_delete(c);
}

static void test_bounded(void)
{
	enum { CAP = 256, N = 10 * CAP };
	struct kpg_cache *c = kpg_cache_new(CAP);
	struct item *it = calloc(N, sizeof(*it));
	unsigned hits = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(it);
	for (unsigned i = 0; i < N; i++) {
		item_init(&it[i], 1000 + i);
		kpg_cache_insert(c, &it[i].k, 3);
	}
	CU_ASSERT_EQUAL(kpg_cache_capacity(c), CAP);
	for (unsigned i = 0; i < N; i++)
		hits += kpg_cache_lookup(c, &it[i].k, 3);
	CU_ASSERT(hits <= CAP);
	/* Most of the table is in use (the hash spreads the keys). */
	CU_ASSERT(hits >= CAP * 3 / 4);
	/* The newest eight are the newest of their buckets: all kept. */
	for (unsigned i = N - 8; i < N; i++)
		CU_ASSERT_TRUE(kpg_cache_lookup(c, &it[i].k, 3));
	CU_ASSERT_FALSE(kpg_cache_lookup(c, &it[0].k, 3));
	free(it);
	kpg_cache_delete(c);
}

static void test_oversized_not_cached(void)
{
	struct kpg_cache *c = kpg_cache_new(64);
	static uint8_t big[KPG_DATAGRAM_MAX + 1];
	uint8_t id[KPG_KEY_ID_LEN] = { 1 }, sig[64] = { 2 };
	struct kpg_cache_key k = {
		.key_id = id, .sig = sig, .sig_len = sizeof(sig),
		.msg = big, .msg_len = sizeof(big),
	};

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	kpg_cache_hash(&k);
	kpg_cache_insert(c, &k, 1);
	CU_ASSERT_FALSE(kpg_cache_lookup(c, &k, 1));
	/* The largest that fits is cached. */
	k.msg_len = KPG_DATAGRAM_MAX - k.sig_len;
	kpg_cache_hash(&k);
	kpg_cache_insert(c, &k, 1);
	CU_ASSERT_TRUE(kpg_cache_lookup(c, &k, 1));
	kpg_cache_delete(c);
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "capacity and entry size", test_capacity },
		{ "hit, and a miss on any other byte or version", test_hit_and_exact_misses },
		{ "equal hashes still compare bytes", test_hash_collision_still_compares },
		{ "decoded views kept with their entry", test_views },
		{ "a new version replaces the entry", test_new_version_replaces },
		{ "the oldest way is evicted", test_oldest_evicted },
		{ "memory stays bounded", test_bounded },
		{ "oversized keys are not cached", test_oversized_not_cached },
		{ NULL, NULL },
	};

	return kpg_cunit_run("cache", tests, NULL, NULL);
}
