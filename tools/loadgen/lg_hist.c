/* lg_hist.c — log-linear latency histogram; see lg_hist.h. */
#include <string.h>

#include "lg_hist.h"

void lg_hist_reset(struct lg_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

uint64_t lg_hist_bucket_high(uint32_t i)
{
	uint32_t octave, sub;
	unsigned shift;

	if (i < LG_HIST_SUB)
		return i;
	octave = i / LG_HIST_SUB;                /* >= 1 */
	sub = i % LG_HIST_SUB;
	shift = octave - 1u;
	/* Bucket covers [(SUB + sub) << shift, (SUB + sub + 1) << shift). */
	return (((uint64_t)LG_HIST_SUB + sub + 1u) << shift) - 1u;
}

uint64_t lg_hist_quantile(const struct lg_hist *h, double q)
{
	uint64_t rank, seen = 0;

	if (h->count == 0)
		return 0;
	if (q <= 0)
		return h->min;
	if (q >= 1)
		return h->max;
	/* The smallest value with at least q of the samples at or below it. */
	rank = (uint64_t)(q * (double)h->count + 0.5);
	if (rank == 0)
		rank = 1;
	for (uint32_t i = 0; i < LG_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			/* The last bucket also holds everything beyond the top. */
			uint64_t v = i == LG_HIST_BUCKETS - 1 ? h->max : lg_hist_bucket_high(i);

			return v < h->max ? v : h->max;
		}
	}
	return h->max;
}

double lg_hist_mean(const struct lg_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}

void lg_hist_merge(struct lg_hist *dst, const struct lg_hist *src)
{
	if (src->count == 0)
		return;
	for (uint32_t i = 0; i < LG_HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->max > dst->max)
		dst->max = src->max;
	if (src->min < dst->min)
		dst->min = src->min;
}
