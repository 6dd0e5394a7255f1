/* lg_report.h — what a run did, for people (a summary table) and for
 * scripts (JSON through jansson). Latencies in microseconds. */
#ifndef LG_REPORT_H
#define LG_REPORT_H

#include <stdio.h>

#include <jansson.h>

#include "lg_gen.h"

/* The result as a JSON object (new reference). */
json_t *lg_report_json(const struct lg_result *r, const char *label);

/* A few lines per run: totals, latency percentiles, then one row per kind
 * of request with its decisions. */
void lg_report_print(FILE *f, const struct lg_result *r, const char *label);

/* p50/p90/p99/p99.9/max/mean of a histogram, as a JSON object in us. */
json_t *lg_report_latency(const struct lg_hist *h);

#endif
