/* lg_search.h — throughput search in the RFC 2544 manner. A probe at the
 * generator's full speed bounds the search; binary search over trials of
 * fixed length then finds the NDR (highest rate with nothing unserved:
 * no loss, no refusal by the device, no "overloaded" answer) to the given
 * resolution, and the PDR (unserved below a share, 0.5 % by default);
 * last, a longer run at 0.9 x NDR must serve everything. */
#ifndef LG_SEARCH_H
#define LG_SEARCH_H

#include <stdbool.h>

#include <jansson.h>

#include "lg_gen.h"

struct lg_search_conf {
	double trial_s;                  /* each trial (default 10) */
	double confirm_s;                /* the run at 0.9 x NDR (default 60; 0: none) */
	double resolution;               /* relative (default 0.02) */
	double pdr_loss;                 /* default 0.005 */
	double max_rate;                 /* upper bound; 0: the probe's offered rate */
	double min_rate;                 /* below this the search gives up */
	unsigned max_trials;             /* bound on trials of each search */
	unsigned retries;                /* of a trial disturbed by other processes */
	double disturbed_ms;             /* CPU wait (ours + watched) that disturbs */
};

struct lg_search_out {
	double ndr, pdr;
	bool generator_limited;          /* the generator, not the gateway, capped it */
	bool confirmed;                  /* the confirmation run served everything */
	json_t *json;                    /* trials, NDR/PDR, confirmation */
};

/* Runs the search with base's mix, timeout, idle and burst (base's rate,
 * duration and count are ignored). Prints a line per trial on f.
 * 0, or -EINTR when stopped. */
int lg_search(struct lg_gen *g, const struct lg_run_conf *base,
	      const struct lg_search_conf *sc, struct lg_search_out *out, FILE *f);

#endif
