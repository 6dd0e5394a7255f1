/* gw_prom.h — a writer of the Prometheus text exposition format 0.0.4 into
 * a growing buffer: metric families (# HELP, # TYPE), samples with labels
 * (values escaped), histograms from per-bucket counts. Runs on the metrics
 * thread only, so it may allocate; an allocation failure marks the page
 * failed rather than serving half of it. No DPDK: unit-tested alone. */
#ifndef GW_PROM_H
#define GW_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct gw_prom {
	char *buf;
	size_t len, cap;
	bool failed;                     /* out of memory: serve nothing */
};

void gw_prom_init(struct gw_prom *p);
void gw_prom_fini(struct gw_prom *p);

/* The page, handed over to the caller (free() it); NULL if it failed. */
char *gw_prom_take(struct gw_prom *p, size_t *len);

/* Starts a family: type is "counter", "gauge" or "histogram". Its samples
 * must follow before the next family starts. */
void gw_prom_family(struct gw_prom *p, const char *name, const char *type,
		    const char *help);

/* One sample. After the value: label name and value pairs, then NULL. */
void gw_prom_u64(struct gw_prom *p, const char *name, uint64_t v, ...)
	__attribute__((sentinel));
void gw_prom_i64(struct gw_prom *p, const char *name, int64_t v, ...)
	__attribute__((sentinel));
void gw_prom_f64(struct gw_prom *p, const char *name, double v, ...)
	__attribute__((sentinel));

/* The samples of one histogram: count[i] observations fell in bucket i,
 * whose upper bound is le[i] (n finite bounds; count[n] above them all);
 * written cumulative, with _sum and _count. One optional label pair. */
void gw_prom_histogram(struct gw_prom *p, const char *name,
		       const double *le, unsigned n, const uint64_t *count,
		       double sum, const char *label, const char *value);

#endif
