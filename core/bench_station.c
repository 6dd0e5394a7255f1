/* kpg-bench-station — what station authentication costs per request, one
 * core: the HMAC-SHA-256 tag with a prepared key (kpg_hmac_tag, what the
 * gateway runs) against OpenSSL's EVP_MAC with the key kept and against
 * libsodium's HMAC state copied, each with its allocations per call; the
 * SHA-256 digest of an unsigned request; a replay window check.
 * usage: kpg-bench-station [message bytes, default 500] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "kpg_bench.h"
#include "kpg_replay.h"
#include "kpg_station.h"

/* One row: ns per call (best of 5 runs) and OpenSSL allocations per call. */
#define BENCH(label, rounds, body) do {					\
	unsigned long a0_ = kpg_bench_allocs;				\
	double row_ns_ = KPG_BENCH_NS(rounds, body);			\
	printf("%-52s %8.1f %8.2f\n", label, row_ns_,		\
	       (double)(kpg_bench_allocs - a0_) / (5.0 * (rounds)));	\
} while (0)

int main(int argc, char **argv)
{
	enum { ROUNDS = 200000 };
	static uint8_t msg[KPG_DATAGRAM_MAX];
	uint8_t key[KPG_HMAC_KEY_LEN], tag[64], ref[KPG_HMAC_LEN];
	size_t len = argc > 1 ? (size_t)atoi(argv[1]) : 500, tag_len;
	volatile unsigned sink = 0;
	struct kpg_hmac h;

	if (len == 0 || len > sizeof(msg)) {
		fprintf(stderr, "usage: %s [message bytes, 1-%u]\n", argv[0],
			KPG_DATAGRAM_MAX);
		return 2;
	}
	/* Before OpenSSL allocates anything, or it refuses the swap. */
	if (kpg_bench_count_allocs() != 1)
		fprintf(stderr, "note: OpenSSL allocations not counted\n");
	if (sodium_init() < 0)
		return 1;
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7);
	for (unsigned i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;

	printf("%zu-byte request, one core\n%-52s %8s %8s\n", len, "operation",
	       "ns", "mallocs");
	kpg_hmac_init(&h, key, sizeof(key));
	BENCH("kpg_hmac_tag (prepared ipad/opad states)", ROUNDS, {
		kpg_hmac_tag(&h, msg, len, tag);
		sink += tag[0];
	});
	BENCH("kpg_hmac_check (tag + CRYPTO_memcmp)", ROUNDS, {
		sink += kpg_hmac_check(&h, msg, len, tag, KPG_HMAC_LEN);
	});
	memcpy(ref, tag, sizeof(ref));

	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *mc = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_construct_end(),
	};

	if (mc && EVP_MAC_init(mc, key, sizeof(key), params) == 1) {
		BENCH("OpenSSL EVP_MAC, key kept (init NULL, update, final)", ROUNDS, {
			EVP_MAC_init(mc, NULL, 0, NULL);
			EVP_MAC_update(mc, msg, len);
			EVP_MAC_final(mc, tag, &tag_len, sizeof(tag));
			sink += tag[0];
		});
		if (memcmp(tag, ref, KPG_HMAC_LEN) != 0)
			printf("  !! EVP_MAC and kpg_hmac_tag disagree\n");
	}
	EVP_MAC_CTX_free(mc);
	EVP_MAC_free(mac);

	crypto_auth_hmacsha256_state st0, st;

	crypto_auth_hmacsha256_init(&st0, key, sizeof(key));
	BENCH("libsodium HMAC, prepared state copied", ROUNDS, {
		st = st0;
		crypto_auth_hmacsha256_update(&st, msg, len);
		crypto_auth_hmacsha256_final(&st, tag);
		sink += tag[0];
	});
	if (memcmp(tag, ref, KPG_HMAC_LEN) != 0)
		printf("  !! libsodium and kpg_hmac_tag disagree\n");

	BENCH("kpg_station_digest (SHA-256 of an unsigned request)", ROUNDS, {
		kpg_station_digest(msg, len, tag);
		sink += tag[0];
	});

	/* A window in steady state: 8192 live entries, each check a fresh
	 * id (the common case) whose entry is answered at once. */
	struct kpg_replay *r = kpg_replay_new(8192, 8192u * 768u, 601);
	uint64_t id = 1;
	int64_t t = 1000000;
	const uint8_t *ans;
	uint32_t seq, alen;

	if (r) {
		BENCH("kpg_replay_check + commit (fresh id, window full-ish)", ROUNDS, {
			if (kpg_replay_check(r, 42, id++, ref, (uint32_t)len, t, &seq,
					     &ans, &alen) == KPG_REPLAY_FRESH)
				kpg_replay_commit(r, seq, msg, 200);
			else
				t += 601;    /* full: let it all expire */
		});
		kpg_replay_delete(r);
	}
	(void)sink;
	return 0;
}
