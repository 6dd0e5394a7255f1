/* kpg_bench.h — what the benchmark programs (kpg-bench-*) share: OpenSSL's
 * allocations counted, to show what a call still costs inside the library
 * (kpgate's own code allocates nothing per request), a monotonic clock,
 * and ns per call as the best of 5 runs. Header-only: each benchmark is
 * one program of one file. */
#ifndef KPG_BENCH_H
#define KPG_BENCH_H

#include <stdlib.h>
#include <time.h>

#include <openssl/crypto.h>

static unsigned long kpg_bench_allocs;

static inline void *kpg_bench_malloc(size_t n, const char *file, int line)
{
	kpg_bench_allocs++;
	return malloc(n);
}

static inline void *kpg_bench_realloc(void *p, size_t n, const char *file, int line)
{
	kpg_bench_allocs++;
	return realloc(p, n);
}

static inline void kpg_bench_free(void *p, const char *file, int line)
{
	free(p);
}

/* Before OpenSSL allocates anything, or it refuses: 1 when counting. */
static inline int kpg_bench_count_allocs(void)
{
	return CRYPTO_set_mem_functions(kpg_bench_malloc, kpg_bench_realloc,
					kpg_bench_free);
}

static inline double kpg_bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ns per run of body over `rounds` rounds, best of 5 runs. */
#define KPG_BENCH_NS(rounds, body) ({					\
	double best_ = 1e30;						\
	for (int run_ = 0; run_ < 5; run_++) {				\
		double t0_ = kpg_bench_now();				\
		for (unsigned long r_ = 0; r_ < (rounds); r_++) {	\
			body;						\
		}							\
		double ns_ = (kpg_bench_now() - t0_) * 1e9 / (double)(rounds); \
		if (ns_ < best_)					\
			best_ = ns_;					\
	}								\
	best_;								\
})

#endif
