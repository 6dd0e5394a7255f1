/* gw_stats.c — counters summed over the workers; see gw_stats.h. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "gw_stats.h"

/* Held while a reader sums, so close() never returns under one. Workers
 * never take it. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct gw_worker *const *workers;
static unsigned n_workers;

void gw_stats_open(struct gw_worker *const *w, unsigned n)
{
	pthread_mutex_lock(&lock);
	workers = w;
	n_workers = n;
	pthread_mutex_unlock(&lock);
}

void gw_stats_close(void)
{
	pthread_mutex_lock(&lock);
	workers = NULL;
	n_workers = 0;
	pthread_mutex_unlock(&lock);
}

/* Both counter structs hold uint64_t only: summed word by word. */
static void add_u64s(void *dst, const void *src, size_t bytes)
{
	uint64_t *d = dst;
	const uint64_t *s = src;

	for (size_t i = 0; i < bytes / sizeof(uint64_t); i++)
		d[i] += s[i];
}

int gw_stats_read(struct gw_stats *t)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_lock(&lock);
	if (workers == NULL) {
		pthread_mutex_unlock(&lock);
		return -ESHUTDOWN;
	}
	for (unsigned i = 0; i < n_workers; i++) {
		add_u64s(&t->w, &workers[i]->stats, sizeof(t->w));
		add_u64s(&t->e, kpg_engine_stats(workers[i]->engine), sizeof(t->e));
		t->in_flight += gw_worker_in_flight(workers[i]);
	}
	t->workers = n_workers;
	pthread_mutex_unlock(&lock);
	return 0;
}

uint64_t gw_stats_dropped(const struct gw_stats *s)
{
	uint64_t n = 0;

	for (int i = 1; i < GW_DROP__COUNT; i++)
		n += s->w.drops[i];
	return n;
}
