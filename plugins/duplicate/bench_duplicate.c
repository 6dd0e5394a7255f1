/* bench_duplicate.c — measures the window in which two lcores can both
 * accept the same new certificate: from the moment an lcore starts judging
 * it until the owner thread has put its consumption in the table. Any
 * other lcore judging it inside that window accepts it too.
 *
 *   kpg-bench-duplicate [iterations]
 *
 * Per certificate: lcore A notes the time, judges it (accept), commits,
 * then judges it again and again until it reads "already consumed"; the
 * window is that first refusal's start minus A's start (exact to one
 * judgement, ~0.1 us).
 *
 * Cases: "stream", certificates 0-100 us apart, so the owner polls every
 * owner_poll_us = 50; "isolated", 20 ms apart, so the owner has gone idle
 * and sleeps owner_idle_us = 1000; "spinning", owner_poll_us = 0. Each
 * prints the window's median, 99th percentile and maximum in microseconds.
 * Then two threads race on new certificates, as two lcores receiving the
 * same one: after a barrier the first judges (and commits) at once, the
 * second a random 0-500 us later (0-4 ms when isolated); it prints how
 * often both accepted and the widest start gap at which both still did,
 * the window seen from two lcores.
 *
 * Loads the real plugin from $KPG_PLUGIN_DIR through the host, with its
 * ledger in a temporary directory.
 *
 *   kpg-bench-duplicate warm [iterations]
 *
 * The warm path instead: ns per evaluate + commit of a certificate already
 * in the ledger (192 of them, as tools/bench takes 64 per algorithm, 454
 * signed bytes each, taken in turn), re-
 * scanned by one of our stations within the window (1801) and by another
 * (1802).
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libconfig.h>

#include "kpg_plugin_host.h"

struct bench_case {
	const char *name;
	unsigned poll_us, idle_us, gap_us, max_iterations;
};

struct scan {
	char number[48], bytes[64];
	struct kpg_cert cert;
	struct kpg_scan_view view;
};

/* The owner thread and its syncer inherit the CPUs of the thread that
 * loads the plugin: the bench pins them to CPU 0, the control core, and
 * the lcores that spin to CPU 1, as a gateway isolates its workers.
 * Without this, on a small machine a spinning lcore would share a CPU with
 * the owner and the figures would show the scheduler. */
#define CONTROL_CPU 0
#define LCORE_CPU   1

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void nap_us(long us)
{
	struct timespec ts = { us / 1000000, us % 1000000 * 1000 };

	nanosleep(&ts, NULL);
}

static void scan_init(struct scan *s, const char *run, unsigned i,
		      unsigned worker)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->number, sizeof(s->number), "ZA-%s-%u", run, i);
	snprintf(s->bytes, sizeof(s->bytes), "signed %s", s->number);
	s->cert.number = (struct kpg_str){ s->number, (uint32_t)strlen(s->number) };
	memcpy(s->cert.issuing_participant, "ZA", 3);
	s->cert.expiry_date = 29991231;
	s->view.cert = &s->cert;
	s->view.station_id = (struct kpg_str){ "BENCH", 5 };
	s->view.now = time(NULL);
	s->view.worker = worker;
	s->view.cert_bytes = (const uint8_t *)s->bytes;
	s->view.cert_len = (uint32_t)strlen(s->bytes);
}

static enum kpg_decision judge(const struct kpg_chain *c,
			       const struct kpg_scan_view *v)
{
	struct kpg_verdicts vs = { 0 };

	kpg_chain_evaluate(c, v, &vs);
	return kpg_decision_aggregate(&vs);
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Two lcores racing on one new certificate: after a barrier, lcore 0
 * judges and commits at once, lcore 1 after delay_us. */
struct pair {
	const struct kpg_chain *c;
	const char *run;
	unsigned i, worker;
	long delay_us;
	pthread_barrier_t *bar;
	int accepted;
	int64_t start;                   /* ns, just before judging */
};

static void *racer(void *arg)
{
	struct pair *p = arg;
	struct scan s;

	/* the first only judges and commits, then leaves its CPU to the owner */
	pin(p->worker ? LCORE_CPU : CONTROL_CPU);
	scan_init(&s, p->run, p->i, p->worker);
	pthread_barrier_wait(p->bar);
	/* spun, not slept: a sleep could not be shorter than ~60 us */
	p->start = now_ns() + p->delay_us * 1000;
	while (now_ns() < p->start)
		;
	p->start = now_ns();
	p->accepted = judge(p->c, &s.view) == KPG_ACCEPT;
	if (p->accepted)
		kpg_chain_commit(p->c, &s.view, KPG_ACCEPT);
	return NULL;
}

struct race_result {
	unsigned both, pairs;
	int64_t widest_both;             /* ns between starts, both accepted */
	int64_t narrowest_refused;       /* ns between starts, second refused */
};

/* Races pairs of lcores, the second 0..max_delay_us late: how often both
 * accept, and the widest start gap at which both still did. */
static struct race_result race(const struct kpg_chain *c,
			       const struct bench_case *bc, unsigned pairs,
			       long max_delay_us)
{
	struct race_result rr = { .pairs = pairs, .narrowest_refused = INT64_MAX };

	for (unsigned i = 0; i < pairs; i++) {
		pthread_barrier_t bar;
		struct pair p[2];
		pthread_t t[2];
		int64_t gap;

		nap_us(bc->gap_us);
		pthread_barrier_init(&bar, NULL, 2);
		for (unsigned w = 0; w < 2; w++) {
			p[w] = (struct pair){ c, bc->name, 1000000 + i, w,
					      w ? rand() % (max_delay_us + 1) : 0,
					      &bar, 0, 0 };
			pthread_create(&t[w], NULL, racer, &p[w]);
		}
		for (unsigned w = 0; w < 2; w++)
			pthread_join(t[w], NULL);
		pthread_barrier_destroy(&bar);
		gap = p[1].start - p[0].start;
		if (gap < 0)
			gap = -gap;
		if (p[0].accepted && p[1].accepted) {
			rr.both++;
			if (gap > rr.widest_both)
				rr.widest_both = gap;
		} else if (gap < rr.narrowest_refused) {
			rr.narrowest_refused = gap;
		}
	}
	return rr;
}

static struct kpg_chain *load(struct kpg_plugin_host *h,
			      const struct bench_case *bc)
{
	char text[256], err[512];
	struct kpg_chain *c = NULL;
	config_t cf;

	snprintf(text, sizeof(text),
		 "plugins = ( { name = \"duplicate\"; owner_poll_us = %u;"
		 " owner_idle_us = %u; state_file = \"bench-%s.ledger\"; } );",
		 bc->poll_us, bc->idle_us, bc->name);
	config_init(&cf);
	if (config_read_string(&cf, text) == CONFIG_TRUE)
		c = kpg_chain_build(h, config_lookup(&cf, "plugins"), err,
				    sizeof(err));
	else
		snprintf(err, sizeof(err), "%s", config_error_text(&cf));
	config_destroy(&cf);
	if (c == NULL)
		fprintf(stderr, "%s\n", err);
	return c;
}

static int run(const char *dir, unsigned iterations, const struct bench_case *bc)
{
	const char *dirs[] = { getenv("KPG_PLUGIN_DIR"), NULL };
	struct kpg_plugin_host_conf conf = {
		.workers = 2, .checkpoint = "bench", .jurisdiction = "EU",
		.config_dir = dir, .state_dir = dir, .search_dirs = dirs,
	};
	struct kpg_plugin_host *h;
	struct kpg_chain *c;
	struct race_result rr;
	int64_t *window;

	pin(CONTROL_CPU);
	h = kpg_plugin_host_new(&conf);
	c = h ? load(h, bc) : NULL;
	if (c == NULL)
		return 1;
	pin(LCORE_CPU);
	if (iterations > bc->max_iterations)
		iterations = bc->max_iterations;
	window = calloc(iterations, sizeof(*window));
	for (unsigned i = 0; i < iterations; i++) {
		int64_t start, t;
		struct scan s;

		scan_init(&s, bc->name, i, 0);
		/* a random phase against the owner's sleep */
		nap_us(bc->gap_us + rand() % 100);
		start = now_ns();
		if (judge(c, &s.view) != KPG_ACCEPT)
			return 1;
		kpg_chain_commit(c, &s.view, KPG_ACCEPT);
		do
			t = now_ns();
		while (judge(c, &s.view) == KPG_ACCEPT);
		window[i] = t - start;
	}
	qsort(window, iterations, sizeof(*window), cmp64);
	printf("%-9s window us: p50 %7.1f  p99 %7.1f  max %7.1f  (%u certificates)\n",
	       bc->name, window[iterations / 2] / 1e3,
	       window[iterations * 99 / 100] / 1e3,
	       window[iterations - 1] / 1e3, iterations);
	rr = race(c, bc, bc->gap_us ? 200 : 1000, bc->gap_us ? 4000 : 500);
	printf("%-9s two lcores racing (second 0-%u us late): both accepted %u of %u,"
	       " widest gap both accepted %.1f us, narrowest refused %.1f us\n",
	       bc->name, bc->gap_us ? 4000 : 500, rr.both, rr.pairs,
	       rr.widest_both / 1e3,
	       rr.narrowest_refused == INT64_MAX ? 0 : rr.narrowest_refused / 1e3);
	free(window);
	kpg_chain_delete(c);
	kpg_plugin_host_delete(h);
	return 0;
}

/* A consumed certificate scanned again and again: ns per judgement. */
static double warm_run(const struct kpg_chain *c, struct scan *s, unsigned n,
		       unsigned iterations, const char *station,
		       enum kpg_decision want)
{
	struct kpg_verdicts vs;
	int64_t t0;

	for (unsigned i = 0; i < n; i++)
		s[i].view.station_id = (struct kpg_str){ station, (uint32_t)strlen(station) };
	t0 = now_ns();
	for (unsigned i = 0; i < iterations; i++) {
		const struct kpg_scan_view *v = &s[i % n].view;
		enum kpg_decision d;

		vs.n = 0;                        /* as a worker does */
		kpg_chain_evaluate(c, v, &vs);
		d = kpg_decision_aggregate(&vs);
		if (d != want)
			return -1;
		kpg_chain_commit(c, v, d);
	}
	return (double)(now_ns() - t0) / iterations;
}

static int warm(const char *dir, unsigned iterations)
{
	enum { CERTS = 192, SIGNED = 454, FRESH = 20000 };
	const char *dirs[] = { getenv("KPG_PLUGIN_DIR"), NULL };
	struct kpg_plugin_host_conf conf = {
		.workers = 1, .checkpoint = "bench", .jurisdiction = "EU",
		.config_dir = dir, .state_dir = dir, .search_dirs = dirs,
	};
	static uint8_t bytes[CERTS][SIGNED];
	static struct scan s[CERTS];
	static char fresh_numbers[FRESH][24];
	struct kpg_plugin_host *h;
	struct kpg_chain *c = NULL;
	char err[512];
	config_t cf;
	double rescan, consumed, fresh;
	int64_t t0;

	h = kpg_plugin_host_new(&conf);
	config_init(&cf);
	if (h && config_read_string(&cf, "plugins = ( { name = \"duplicate\";"
		   " station_prefix = \"BE-ANR-01-\"; rescan_window = 300;"
		   " state_file = \"bench-warm.ledger\"; } );") == CONFIG_TRUE)
		c = kpg_chain_build(h, config_lookup(&cf, "plugins"), err, sizeof(err));
	config_destroy(&cf);
	if (c == NULL)
		return 1;
	for (unsigned i = 0; i < CERTS; i++) {
		scan_init(&s[i], "warm", i, 0);
		for (unsigned k = 0; k < SIGNED; k++)
			bytes[i][k] = (uint8_t)(i * 131 + k * 7);
		s[i].view.cert_bytes = bytes[i];
		s[i].view.cert_len = SIGNED;
		if (judge(c, &s[i].view) != KPG_ACCEPT)
			return 1;
		kpg_chain_commit(c, &s[i].view, KPG_ACCEPT);
		while (judge(c, &s[i].view) == KPG_ACCEPT)   /* until recorded */
			nap_us(50);
	}
	warm_run(c, s, CERTS, iterations / 10 + 1, "BE-ANR-01-S1", KPG_ACCEPT);
	rescan = warm_run(c, s, CERTS, iterations, "BE-ANR-01-S1", KPG_ACCEPT);
	warm_run(c, s, CERTS, iterations / 10 + 1, "NL-AMS-02-S1", KPG_REJECT);
	consumed = warm_run(c, s, CERTS, iterations, "NL-AMS-02-S1", KPG_REJECT);
	/* and, to compare, new certificates (judged, accepted, consumed) */
	for (unsigned i = 0; i < FRESH; i++)
		snprintf(fresh_numbers[i], sizeof(fresh_numbers[i]), "ZA-fresh-%u", i);
	t0 = now_ns();
	for (unsigned i = 0; i < FRESH; i++) {
		struct scan *f = &s[i % CERTS];

		f->cert.number = (struct kpg_str){ fresh_numbers[i],
						   (uint32_t)strlen(fresh_numbers[i]) };
		if (judge(c, &f->view) != KPG_ACCEPT)
			return 1;
		kpg_chain_commit(c, &f->view, KPG_ACCEPT);
	}
	fresh = (double)(now_ns() - t0) / FRESH;
	if (rescan < 0 || consumed < 0)
		return 1;
	printf("duplicate warm path, %u certificates of %u signed bytes, %u requests:\n"
	       "  rescan_in_window  %7.1f ns/request\n"
	       "  already_consumed  %7.1f ns/request\n"
	       "  not_consumed      %7.1f ns/request (%u new certificates)\n",
	       CERTS, SIGNED, iterations, rescan, consumed, fresh, FRESH);
	kpg_chain_delete(c);
	kpg_plugin_host_delete(h);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct bench_case cases[] = {
		{ "stream", 50, 1000, 0, 1u << 30 },
		{ "isolated", 50, 1000, 20000, 500 },
		{ "spinning", 0, 1000, 0, 1u << 30 },
	};
	char dir[] = "/tmp/kpg-bench-duplicate-XXXXXX";
	unsigned iterations = argc > 1 ? (unsigned)atoi(argv[1]) : 5000;
	int rc = 0;
	char cmd[128];

	if (getenv("KPG_PLUGIN_DIR") == NULL) {
		fprintf(stderr, "set KPG_PLUGIN_DIR to the directory of"
			" kpgate-duplicate.so\n");
		return 2;
	}
	if (iterations < 10)
		iterations = 10;
	if (mkdtemp(dir) == NULL)
		return 2;
	if (argc > 1 && strcmp(argv[1], "warm") == 0) {
		rc = warm(dir, argc > 2 ? (unsigned)atoi(argv[2]) : 1000000);
		goto out;
	}
	printf("duplicate race window: from an lcore starting to judge a new"
	       " certificate until the owner has recorded its consumption\n");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && rc == 0; i++)
		rc = run(dir, iterations, &cases[i]);
out:
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}
