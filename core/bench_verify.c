/* bench_verify.c — kpg-bench-verify: what one core does per second through
 * kpg_verify_batch for each algorithm and backend, and what a warm request
 * pays in the verified-result cache against hashing it with SHA-256.
 * Usage: kpg-bench-verify [seconds per row, default 2] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "kpg_bench.h"
#include "kpg_cache.h"
#include "kpg_sign.h"
#include "kpg_verify.h"

#define BATCH     32u
#define MSG_LEN   450u                   /* a typical signed certificate */

static const char *backend_name(enum kpg_backend b)
{
	return b == KPG_BACKEND_SODIUM ? "libsodium" : "openssl";
}

/* Verifies/s on one core: batches of BATCH distinct messages for about
 * `seconds`, capped in iterations too so a slow machine still ends. */
static int bench_alg(enum kpg_alg alg, enum kpg_backend backend, double seconds)
{
	struct kpg_signer *s = kpg_signer_generate(alg, 0);
	static uint8_t msgs[BATCH][MSG_LEN], sigs[BATCH][KPG_SIG_MAX];
	struct kpg_verify_op ops[BATCH];
	struct kpg_pubkey *k;
	struct kpg_verifier *v;
	uint8_t spki[1024];
	unsigned long iters = 0, allocs;
	double t0, t;
	int len;

	if (s == NULL)
		return -1;
	len = kpg_signer_spki(s, spki, sizeof(spki));
	k = kpg_pubkey_new(alg, spki, (size_t)len, NULL);
	v = kpg_verifier_new(k, backend);
	if (k == NULL || v == NULL) {
		kpg_pubkey_delete(k);
		kpg_signer_delete(s);
		return -1;
	}
	for (unsigned i = 0; i < BATCH; i++) {
		size_t sig_len = KPG_SIG_MAX;

		for (unsigned j = 0; j < MSG_LEN; j++)
			msgs[i][j] = (uint8_t)(i * 131 + j);
		if (kpg_signer_sign(s, msgs[i], MSG_LEN, sigs[i], &sig_len) != 0)
			return -1;
		ops[i] = (struct kpg_verify_op){
			.v = v, .msg = msgs[i], .msg_len = MSG_LEN,
			.sig = sigs[i], .sig_len = sig_len,
		};
	}
	if (kpg_verify_batch(ops, BATCH) != BATCH) {
		fprintf(stderr, "%s/%s: a valid signature failed\n",
			kpg_alg_name(alg), backend_name(backend));
		return -1;
	}
	allocs = kpg_bench_allocs;
	t0 = kpg_bench_now();
	do {
		if (kpg_verify_batch(ops, BATCH) != BATCH)
			return -1;
		iters++;
		t = kpg_bench_now() - t0;
	} while (t < seconds && iters < 1000000);
	allocs = kpg_bench_allocs - allocs;
	printf("%-11s %-10s %-8s %12.0f %10.2f %14.1f\n", kpg_alg_name(alg),
	       backend_name(backend),
	       (alg == KPG_ALG_ED25519) == (backend == KPG_BACKEND_SODIUM) ? "yes" : "",
	       (double)(iters * BATCH) / t, t * 1e6 / (double)(iters * BATCH),
	       (double)allocs / (double)(iters * BATCH));
	kpg_verifier_delete(v);
	kpg_pubkey_delete(k);
	kpg_signer_delete(s);
	return 0;
}

static void bench_cache(void)
{
	enum { ROUNDS = 2000000 };
	static uint8_t msg[MSG_LEN], other[MSG_LEN];
	uint8_t id[KPG_KEY_ID_LEN] = { 7 }, sig[64], md[32];
	struct kpg_cache *c = kpg_cache_new(65536);
	struct kpg_cache_key k, miss;
	EVP_MD *sha = EVP_MD_fetch(NULL, "SHA256", NULL);
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	volatile unsigned long sink = 0;
	unsigned mdlen;
	double ns;

	if (c == NULL || sha == NULL || mctx == NULL)
		return;
	for (unsigned i = 0; i < MSG_LEN; i++)
		msg[i] = other[i] = (uint8_t)(i * 13);
	other[MSG_LEN - 1] ^= 1;
	for (unsigned i = 0; i < sizeof(sig); i++)
		sig[i] = (uint8_t)(i * 5);
	k = (struct kpg_cache_key){ .key_id = id, .sig = sig, .sig_len = sizeof(sig),
				    .msg = msg, .msg_len = MSG_LEN };
	miss = k;
	miss.msg = other;
	kpg_cache_hash(&k);
	kpg_cache_insert(c, &k, 1);

	printf("\n%u-byte signed bytes + 64-byte signature + key id, one core:\n", MSG_LEN);
	printf("%-44s %8s\n", "operation", "ns");
	ns = KPG_BENCH_NS(ROUNDS, { kpg_cache_hash(&k); sink += k.hash; });
	printf("%-44s %8.1f\n", "kpg_cache_hash", ns);
	ns = KPG_BENCH_NS(ROUNDS, { kpg_cache_hash(&k); sink += kpg_cache_lookup(c, &k, 1); });
	printf("%-44s %8.1f\n", "kpg_cache_hash + lookup (hit, all compared)", ns);
	ns = KPG_BENCH_NS(ROUNDS, { kpg_cache_hash(&miss); sink += kpg_cache_lookup(c, &miss, 1); });
	printf("%-44s %8.1f\n", "kpg_cache_hash + lookup (miss)", ns);
	ns = KPG_BENCH_NS(ROUNDS / 4, {
		EVP_DigestInit_ex2(mctx, sha, NULL);
		EVP_DigestUpdate(mctx, msg, MSG_LEN);
		EVP_DigestFinal_ex(mctx, md, &mdlen);
		sink += md[0];
	});
	printf("%-44s %8.1f\n", "SHA-256 of the signed bytes (OpenSSL EVP)", ns);
	ns = KPG_BENCH_NS(ROUNDS / 4, { crypto_hash_sha256(md, msg, MSG_LEN); sink += md[0]; });
	printf("%-44s %8.1f\n", "SHA-256 of the signed bytes (libsodium)", ns);
	printf("cache: %zu bytes per entry, 65536 entries = %.1f MiB\n",
	       kpg_cache_entry_bytes(),
	       (double)kpg_cache_entry_bytes() * 65536 / (1024.0 * 1024.0));
	(void)sink;
	EVP_MD_CTX_free(mctx);
	EVP_MD_free(sha);
	kpg_cache_delete(c);
}

int main(int argc, char **argv)
{
	static const enum kpg_alg algs[] = {
		KPG_ALG_ECDSA_P256_SHA256, KPG_ALG_ED25519, KPG_ALG_RSA_PSS_SHA256,
	};
	double seconds = argc > 1 ? atof(argv[1]) : 2.0;
	int rc = 0;

	if (seconds <= 0 || seconds > 60) {
		fprintf(stderr, "usage: %s [seconds per row, 0-60]\n", argv[0]);
		return 2;
	}
	/* Before OpenSSL allocates anything, or it refuses the swap. */
	if (kpg_bench_count_allocs() != 1)
		fprintf(stderr, "note: OpenSSL allocations not counted\n");
	if (sodium_init() < 0)
		return 1;
	printf("kpg_verify_batch, batches of %u, %u-byte messages, one core, %.1f s a row\n",
	       BATCH, MSG_LEN, seconds);
	printf("%-11s %-10s %-8s %12s %10s %14s\n", "algorithm", "backend",
	       "default", "verifies/s", "us/verify", "ossl allocs/op");
	for (unsigned i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		if (bench_alg(algs[i], KPG_BACKEND_OPENSSL, seconds) != 0)
			rc = 1;
		if (algs[i] == KPG_ALG_ED25519 &&
		    bench_alg(algs[i], KPG_BACKEND_SODIUM, seconds) != 0)
			rc = 1;
	}
	bench_cache();
	return rc;
}
