/* lg_report.c — summaries and JSON; see lg_report.h. */
#include <inttypes.h>
#include <string.h>

#include "lg_report.h"

static double us(uint64_t ns)
{
	return (double)ns / 1e3;
}

json_t *lg_report_latency(const struct lg_hist *h)
{
	return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f}",
			 "count", (json_int_t)h->count,
			 "p50", us(lg_hist_quantile(h, 0.50)),
			 "p90", us(lg_hist_quantile(h, 0.90)),
			 "p99", us(lg_hist_quantile(h, 0.99)),
			 "p99.9", us(lg_hist_quantile(h, 0.999)),
			 "max", h->count ? us(h->max) : 0.0,
			 "mean", lg_hist_mean(h) / 1e3);
}

/* Sums of one kind's answers, or of all kinds (ks == NULL). */
static void outcome_totals(const struct lg_result *r, const struct lg_kind_stats *ks,
			   struct lg_kind_stats *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned k = 0; k < LG_K__COUNT; k++) {
		const struct lg_kind_stats *s = ks ? ks : &r->kind[k];

		for (unsigned d = 0; d < KPG_DECISION__COUNT; d++)
			t->decisions[d] += s->decisions[d];
		for (unsigned e = 0; e < KPG_ERR__COUNT; e++)
			t->errors[e] += s->errors[e];
		for (unsigned x = 0; x < LG_REASONS; x++)
			t->reasons[x] += s->reasons[x];
		t->echoed += s->echoed;
		t->sent += s->sent;
		t->answered += s->answered;
		t->lost += s->lost;
		t->tx_dropped += s->tx_dropped;
		if (ks)
			break;
	}
}

static const char *reason_name(unsigned x)
{
	return x == LG_REASONS - 1 ? "plugin" : kpg_reason_name(x);
}

static json_t *outcomes_json(const struct lg_kind_stats *t)
{
	json_t *o = json_object(), *dec = json_object(), *err = json_object(),
	       *rea = json_object();

	for (unsigned d = 0; d < KPG_DECISION__COUNT; d++)
		json_object_set_new(dec, kpg_decision_name((enum kpg_decision)d),
				    json_integer((json_int_t)t->decisions[d]));
	for (unsigned e = 1; e < KPG_ERR__COUNT; e++)
		if (t->errors[e])
			json_object_set_new(err, kpg_error_name((enum kpg_error)e),
					    json_integer((json_int_t)t->errors[e]));
	for (unsigned x = 1; x < LG_REASONS; x++)
		if (t->reasons[x])
			json_object_set_new(rea, reason_name(x),
					    json_integer((json_int_t)t->reasons[x]));
	json_object_set_new(o, "decisions", dec);
	json_object_set_new(o, "errors", err);
	json_object_set_new(o, "reasons", rea);
	json_object_set_new(o, "echoed", json_integer((json_int_t)t->echoed));
	return o;
}

json_t *lg_report_json(const struct lg_result *r, const char *label)
{
	double s = r->seconds > 0 ? r->seconds : 1e-9;
	struct lg_kind_stats t;
	json_t *o, *kinds = json_object(), *kinds_tmp;

	outcome_totals(r, NULL, &t);
	o = json_pack("{s:s, s:f, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:I, s:I}",
		      "label", label ? label : "run",
		      "rate_target", r->rate,
		      "seconds", r->seconds,
		      "attempted", (json_int_t)r->attempted,
		      "sent", (json_int_t)r->sent,
		      "refused", (json_int_t)r->tx_dropped,
		      "answered", (json_int_t)r->answered,
		      "lost", (json_int_t)r->lost,
		      "late", (json_int_t)r->late,
		      "unmatched", (json_int_t)r->unmatched,
		      "overloaded", (json_int_t)r->overloaded,
		      "unserved", (json_int_t)lg_result_unserved(r),
		      "loss_ratio", lg_result_loss(r),
		      "offered_pps", (double)r->attempted / s,
		      "throughput_pps", (double)(r->answered - r->overloaded) / s,
		      "trust_list_version", (json_int_t)r->trust_version,
		      "alloc_failed", (json_int_t)r->alloc_failed);
	json_object_set_new(o, "skipped", json_integer((json_int_t)r->skipped));
	json_object_set_new(o, "max_gap_us", json_real((double)r->max_gap_ns / 1e3));
	kinds_tmp = outcomes_json(&t);
	json_object_update(o, kinds_tmp);
	json_decref(kinds_tmp);
	json_object_set_new(o, "latency_us", lg_report_latency(&r->all));
	for (unsigned k = 0; k < LG_K__COUNT; k++) {
		const struct lg_kind_stats *ks = &r->kind[k];
		json_t *ko;

		if (ks->sent + ks->tx_dropped == 0)
			continue;
		outcome_totals(r, ks, &t);
		ko = outcomes_json(&t);
		json_object_set_new(ko, "sent", json_integer((json_int_t)ks->sent));
		json_object_set_new(ko, "refused", json_integer((json_int_t)ks->tx_dropped));
		json_object_set_new(ko, "answered", json_integer((json_int_t)ks->answered));
		json_object_set_new(ko, "lost", json_integer((json_int_t)ks->lost));
		json_object_set_new(ko, "latency_us", lg_report_latency(&r->by_kind[k]));
		json_object_set_new(kinds, lg_kind_name((enum lg_kind)k), ko);
	}
	json_object_set_new(o, "kinds", kinds);
	{
		json_t *q = json_array();
		unsigned last = 0;

		for (unsigned i = 0; i < LG_QUEUES_SHOWN; i++)
			if (r->queue_sent[i])
				last = i + 1;
		for (unsigned i = 0; i < last; i++)
			json_array_append_new(q, json_integer((json_int_t)r->queue_sent[i]));
		json_object_set_new(o, "sent_by_queue", q);
	}
	json_object_set_new(o, "cpu_wait_ms", json_pack("{s:f, s:f}",
		"generator", (double)r->wait_self_ns / 1e6,
		"watched", (double)r->wait_watched_ns / 1e6));
	json_object_set_new(o, "watched_cpu_ms", json_real((double)r->run_watched_ns / 1e6));
	json_object_set_new(o, "generator_busy", json_real(r->busy_share));
	return o;
}

static void print_list(FILE *f, const char *title, const uint64_t *v, unsigned n,
		       const char *(*name)(unsigned))
{
	bool any = false;

	for (unsigned i = 1; i < n; i++) {
		if (!v[i])
			continue;
		fprintf(f, "%s %s %" PRIu64, any ? "," : title, name(i), v[i]);
		any = true;
	}
	if (any)
		fputc('\n', f);
}

static const char *error_name(unsigned e)
{
	return kpg_error_name((enum kpg_error)e);
}

void lg_report_print(FILE *f, const struct lg_result *r, const char *label)
{
	double s = r->seconds > 0 ? r->seconds : 1e-9;
	const struct lg_hist *h = &r->all;
	struct lg_kind_stats t;

	fprintf(f, "== %s: %.2f s, target %s", label ? label : "run", r->seconds,
		r->rate > 0 ? "" : "as fast as possible");
	if (r->rate > 0)
		fprintf(f, "%.0f requests/s", r->rate);
	fprintf(f, "\n   sent %" PRIu64 " (%.0f/s offered), answered %" PRIu64
		" (%.0f/s), lost %" PRIu64 ", refused by the device %" PRIu64
		", overloaded %" PRIu64 ", late %" PRIu64 ", unmatched %" PRIu64
		" -> loss %.4f %%\n",
		r->sent, (double)r->attempted / s, r->answered,
		(double)r->answered / s, r->lost, r->tx_dropped, r->overloaded,
		r->late, r->unmatched, 100.0 * lg_result_loss(r));
	fprintf(f, "   latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (mean %.1f, %" PRIu64 " samples)\n",
		us(lg_hist_quantile(h, 0.5)), us(lg_hist_quantile(h, 0.9)),
		us(lg_hist_quantile(h, 0.99)), us(lg_hist_quantile(h, 0.999)),
		h->count ? us(h->max) : 0.0, lg_hist_mean(h) / 1e3, h->count);
	fprintf(f, "   %-12s %10s %10s %8s %10s %8s %10s %8s %9s %9s\n", "kind", "sent",
		"answered", "lost", "accept", "refer", "reject", "error", "p50 us",
		"p99 us");
	for (unsigned k = 0; k < LG_K__COUNT; k++) {
		const struct lg_kind_stats *ks = &r->kind[k];
		uint64_t errs = 0;

		if (ks->sent + ks->tx_dropped == 0)
			continue;
		for (unsigned e = 1; e < KPG_ERR__COUNT; e++)
			errs += ks->errors[e];
		fprintf(f, "   %-12s %10" PRIu64 " %10" PRIu64 " %8" PRIu64 " %10" PRIu64
			" %8" PRIu64 " %10" PRIu64 " %8" PRIu64 " %9.1f %9.1f\n",
			lg_kind_name((enum lg_kind)k), ks->sent, ks->answered, ks->lost,
			ks->decisions[KPG_ACCEPT], ks->decisions[KPG_REFER],
			ks->decisions[KPG_REJECT], errs,
			us(lg_hist_quantile(&r->by_kind[k], 0.5)),
			us(lg_hist_quantile(&r->by_kind[k], 0.99)));
	}
	fprintf(f, "   generator busy %.0f %% of the time (sending or receiving)\n",
		100.0 * r->busy_share);
	if (r->wait_self_ns + r->wait_watched_ns > 1000000)
		fprintf(f, "   disturbed: waited for a CPU %.1f ms (generator), %.1f ms (gateway)\n",
			(double)r->wait_self_ns / 1e6, (double)r->wait_watched_ns / 1e6);
	outcome_totals(r, NULL, &t);
	print_list(f, "   errors:", t.errors, KPG_ERR__COUNT, error_name);
	print_list(f, "   reasons:", t.reasons, LG_REASONS, reason_name);
	if (t.echoed)
		fprintf(f, "   echoed (reflector): %" PRIu64 "\n", t.echoed);
}
