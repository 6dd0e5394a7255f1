/* lg_hist.h — a latency histogram in the HDR style: log-linear buckets,
 * 2^LG_HIST_SUB_BITS linear sub-buckets per power of two, so every value is
 * kept within 1/128 (0.8 %) of itself from 1 ns to ~40 minutes. Fixed size,
 * no allocation: adding a sample is a few instructions, safe per packet. */
#ifndef LG_HIST_H
#define LG_HIST_H

#include <stdint.h>

#define LG_HIST_SUB_BITS 7u
#define LG_HIST_SUB      (1u << LG_HIST_SUB_BITS)
#define LG_HIST_TOP_BIT  41u                      /* 2^41 ns ~ 36 min */
#define LG_HIST_BUCKETS  (LG_HIST_SUB * (LG_HIST_TOP_BIT - LG_HIST_SUB_BITS + 1u))

struct lg_hist {
	uint64_t count;
	uint64_t sum;                    /* ns, for the mean */
	uint64_t min, max;
	uint64_t b[LG_HIST_BUCKETS];
};

void lg_hist_reset(struct lg_hist *h);

/* Bucket of value v: exact below 2^SUB_BITS, then SUB_BITS significant
 * bits; values beyond the top land in the last bucket (max stays exact). */
static inline uint32_t lg_hist_index(uint64_t v)
{
	unsigned msb;

	if (v < LG_HIST_SUB)
		return (uint32_t)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	if (msb >= LG_HIST_TOP_BIT)
		return LG_HIST_BUCKETS - 1u;
	return (uint32_t)((msb - LG_HIST_SUB_BITS + 1u) * LG_HIST_SUB +
			  ((v >> (msb - LG_HIST_SUB_BITS)) - LG_HIST_SUB));
}

static inline void lg_hist_add(struct lg_hist *h, uint64_t v)
{
	h->b[lg_hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
	if (v < h->min)
		h->min = v;
}

/* Highest value that lands in bucket i (what a percentile reports: a
 * quantile is never understated by more than one bucket's width). */
uint64_t lg_hist_bucket_high(uint32_t i);

/* Value at quantile q (0..1): the bucket's high end, capped at max; 0 for
 * an empty histogram. */
uint64_t lg_hist_quantile(const struct lg_hist *h, double q);
double lg_hist_mean(const struct lg_hist *h);
void lg_hist_merge(struct lg_hist *dst, const struct lg_hist *src);

#endif
