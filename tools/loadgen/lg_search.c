/* lg_search.c — NDR/PDR search; see lg_search.h. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "lg_report.h"
#include "lg_search.h"

#define LG_TRIALS_MAX 64u
#define LG_SETTLE_MS 200                 /* between trials: the gateway drains */

struct trial {
	double rate, offered, loss;
	bool pass_ndr, pass_pdr, gen_limited;
};

struct search {
	struct lg_gen *g;
	const struct lg_run_conf *base;
	const struct lg_search_conf *sc;
	struct lg_result *r, *scratch;
	FILE *f;
	json_t *trials;
	json_t *best_ndr;                /* full result of the NDR trial */
	struct trial t[LG_TRIALS_MAX];
	unsigned n;
};

static void settle(void)
{
	struct timespec ts = { 0, LG_SETTLE_MS * 1000000L };

	nanosleep(&ts, NULL);
}

/* One trial at rate (0: as fast as possible); its verdicts into s->t[]. */
static int trial(struct search *s, double rate, double seconds, const char *what,
		 struct trial **out)
{
	struct lg_run_conf c = *s->base;
	struct trial *t;
	json_t *j;
	int rc;

	double waited_ms;
	unsigned tries = 0, retries = seconds > s->sc->trial_s ? 0 : s->sc->retries;

	if (s->n == LG_TRIALS_MAX)
		return -E2BIG;
	c.rate = rate;
	c.duration_s = seconds;
	c.count = 0;
	c.label = what;
	/* Busy-polling processes lose packets whenever another process takes
	 * their core: such a trial says nothing about the gateway. */
	do {
		settle();
		rc = lg_gen_prepare(s->g, s->base, s->scratch);
		if (rc == 0)
			rc = lg_gen_run(s->g, &c, s->r);
		if (rc < 0)
			return rc;
		waited_ms = (double)(s->r->wait_self_ns + s->r->wait_watched_ns) / 1e6;
		if (waited_ms > s->sc->disturbed_ms && tries < retries)
			fprintf(s->f, "%-8s %10.0f/s disturbed (waited %.1f ms for a CPU): again\n",
				what, rate, waited_ms);
	} while (waited_ms > s->sc->disturbed_ms && tries++ < retries);
	t = &s->t[s->n++];
	t->rate = rate;
	t->offered = (double)s->r->attempted / (s->r->seconds > 0 ? s->r->seconds : 1);
	t->loss = lg_result_loss(s->r);
	t->pass_ndr = lg_result_unserved(s->r) == 0 && s->r->answered > 0;
	t->pass_pdr = t->loss < s->sc->pdr_loss && s->r->answered > 0;
	/* The generator fell short of the schedule: not the gateway's limit. */
	t->gen_limited = rate > 0 && t->offered < 0.97 * rate;
	j = json_pack("{s:s, s:f, s:f, s:f, s:I, s:b, s:b, s:o, s:f, s:i}", "phase", what,
		      "rate", rate, "offered_pps", t->offered, "loss_ratio", t->loss,
		      "unserved", (json_int_t)lg_result_unserved(s->r),
		      "pass", t->pass_ndr, "generator_limited", t->gen_limited,
		      "latency_us", lg_report_latency(&s->r->all),
		      "cpu_wait_ms", waited_ms, "tries", tries + 1);
	json_array_append_new(s->trials, j);
	fprintf(s->f, "%-8s %10.0f/s offered %10.0f/s  unserved %8llu (%.4f %%)  p99 %8.1f us  %s%s\n",
		what, rate, t->offered, (unsigned long long)lg_result_unserved(s->r),
		100.0 * t->loss, (double)lg_hist_quantile(&s->r->all, 0.99) / 1e3,
		t->pass_ndr ? "no loss" : (t->pass_pdr ? "partial" : "LOSS"),
		t->gen_limited ? " (generator-limited)" : "");
	fflush(s->f);
	*out = t;
	return 0;
}

/* Binary search between a passing lo and a failing hi. */
static int bisect(struct search *s, double lo, double hi, bool pdr, double *best)
{
	unsigned n = 0;
	int rc;

	while (hi - lo > s->sc->resolution * hi && n++ < s->sc->max_trials) {
		double mid = (lo + hi) / 2;
		struct trial *t;

		if (mid < s->sc->min_rate)
			break;
		rc = trial(s, mid, s->sc->trial_s, pdr ? "pdr" : "ndr", &t);
		if (rc < 0)
			return rc;
		if (pdr ? t->pass_pdr : t->pass_ndr) {
			lo = mid;
			if (!pdr) {
				json_decref(s->best_ndr);
				s->best_ndr = lg_report_json(s->r, "ndr");
			}
		} else {
			hi = mid;
		}
	}
	*best = lo;
	return 0;
}

int lg_search(struct lg_gen *g, const struct lg_run_conf *base,
	      const struct lg_search_conf *sc, struct lg_search_out *out, FILE *f)
{
	struct search s = { .g = g, .base = base, .sc = sc, .f = f };
	struct trial *probe, *t;
	json_t *confirm = json_null();
	double hi, lo = 0, pdr_lo, pdr_hi;
	int rc;

	out->ndr = out->pdr = 0;
	out->generator_limited = out->confirmed = false;
	out->json = NULL;
	s.r = malloc(sizeof(*s.r));
	s.scratch = malloc(sizeof(*s.scratch));
	s.trials = json_array();
	if (s.r == NULL || s.scratch == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	rc = trial(&s, sc->max_rate, sc->trial_s, "probe", &probe);
	if (rc < 0)
		goto out;
	hi = sc->max_rate > 0 ? sc->max_rate : probe->offered;
	if (probe->pass_ndr) {
		/* Everything served at the top rate: the bound is ours. */
		lo = hi;
		out->generator_limited = sc->max_rate <= 0 || probe->gen_limited;
		s.best_ndr = lg_report_json(s.r, "ndr");
	} else {
		/* What it served under overload is a good first guess. */
		double served = (double)(s.r->answered - s.r->overloaded) /
				(s.r->seconds > 0 ? s.r->seconds : 1);

		if (served > sc->min_rate && served < hi) {
			rc = trial(&s, served * 0.98, sc->trial_s, "ndr", &t);
			if (rc < 0)
				goto out;
			if (t->pass_ndr) {
				lo = t->rate;
				s.best_ndr = lg_report_json(s.r, "ndr");
			} else {
				hi = t->rate;
			}
		}
		rc = bisect(&s, lo, hi, false, &lo);
		if (rc < 0)
			goto out;
	}
	out->ndr = lo;
	/* PDR: above the NDR, from what the trials so far have shown. */
	pdr_lo = out->ndr;
	pdr_hi = hi;
	for (unsigned i = 0; i < s.n; i++) {
		double r = s.t[i].rate > 0 ? s.t[i].rate : s.t[i].offered;

		if (s.t[i].pass_pdr && r > pdr_lo)
			pdr_lo = r;
	}
	for (unsigned i = 0; i < s.n; i++) {
		double r = s.t[i].rate > 0 ? s.t[i].rate : s.t[i].offered;

		if (!s.t[i].pass_pdr && r > pdr_lo && r < pdr_hi)
			pdr_hi = r;
	}
	if (pdr_lo >= pdr_hi)
		out->pdr = pdr_lo;
	else {
		rc = bisect(&s, pdr_lo, pdr_hi, true, &out->pdr);
		if (rc < 0)
			goto out;
	}
	if (sc->confirm_s > 0 && out->ndr > 0) {
		rc = trial(&s, 0.9 * out->ndr, sc->confirm_s, "confirm", &t);
		if (rc < 0)
			goto out;
		out->confirmed = t->pass_ndr;
		confirm = json_pack("{s:f, s:f, s:b, s:o}", "rate", t->rate, "seconds",
				    sc->confirm_s, "pass", t->pass_ndr,
				    "result", lg_report_json(s.r, "confirm"));
	}
	fprintf(f, "NDR %.0f requests/s%s, PDR (< %.2f %% unserved) %.0f requests/s",
		out->ndr, out->generator_limited ? " (generator-limited)" : "",
		100.0 * sc->pdr_loss, out->pdr);
	if (sc->confirm_s > 0)
		fprintf(f, "; %.0f s at 0.9 x NDR: %s", sc->confirm_s,
			out->confirmed ? "no loss" : "LOSS");
	fputc('\n', f);
	out->json = json_pack("{s:f, s:f, s:b, s:f, s:f, s:o, s:o, s:o}",
			      "ndr_pps", out->ndr, "pdr_pps", out->pdr,
			      "generator_limited", out->generator_limited,
			      "trial_s", sc->trial_s, "resolution", sc->resolution,
			      "trials", s.trials,
			      "ndr_result", s.best_ndr ? s.best_ndr : json_null(),
			      "confirm", confirm);
	s.trials = NULL;
	s.best_ndr = NULL;
	confirm = NULL;
out:
	json_decref(s.trials);
	json_decref(s.best_ndr);
	json_decref(confirm);
	free(s.r);
	free(s.scratch);
	return rc;
}
