/* dup_owner.c — the duplicate plugin's instance and its owner thread; see
 * dup_owner.h. Also the debug hooks of duplicate_debug.h. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "dup_owner.h"
#include "duplicate_debug.h"
#include "policy_conf.h"

#define DRAIN_BATCH 256                  /* per ring and round: fairness */
#define SYNC_NS     (10 * 1000 * 1000)   /* sync at least this often when busy */
#define IDLE_AFTER  (10 * 1000 * 1000)   /* ns without records: sleep longer */

/* The instance the debug hooks address: the latest made in this process. */
static _Atomic(struct dup_instance *) debug_instance;

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void nap(uint32_t us)
{
	struct timespec ts = { us / 1000000, (long)(us % 1000000) * 1000 };

	if (us == 0)
		sched_yield();
	else
		nanosleep(&ts, NULL);
}

/* Moves what the rings hold into the store; how many records. */
static unsigned drain(struct dup_bound *b)
{
	unsigned n = 0;

	for (unsigned w = 0; w < b->n_rings; w++) {
		const struct dup_record *r;

		for (unsigned k = 0; k < DRAIN_BATCH &&
		     (r = dup_ring_peek(b->rings[w])) != NULL; k++) {
			/* Failures are counted by the store; the ring must move on. */
			b->store->ops->insert(b->store, r);
			dup_ring_pop(b->rings[w]);
			n++;
		}
	}
	return n;
}

static void *owner_main(void *arg)
{
	struct dup_instance *in = arg;
	int64_t last_sync = mono_ns(), last_work = last_sync;
	struct dup_bound *b;
	bool dirty = false;

	/* The race window grows with every microsecond the owner oversleeps;
	 * the default timer slack would add 50. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
	while (!atomic_load_explicit(&in->stop, memory_order_acquire)) {
		unsigned n;

		b = dup_instance_bound(in);
		if (b == NULL || atomic_load(&in->paused)) {
			atomic_store(&in->parked, true);
			nap(b ? 100 : 1000);     /* held by a test, or no store yet */
			continue;
		}
		atomic_store(&in->parked, false);
		n = drain(b);
		dirty |= n > 0;
		/* Records reach the table at once; the file gets them every
		 * round and is synced when the rings run dry, or every SYNC_NS
		 * under a steady stream. */
		if (dirty && (n == 0 || mono_ns() - last_sync >= SYNC_NS)) {
			b->store->ops->flush(b->store, true);
			last_sync = mono_ns();
			dirty = false;
		} else if (n > 0) {
			b->store->ops->flush(b->store, false);
		}
		/* Short sleeps while records flow keep the race window small;
		 * long ones when idle keep an idle gateway's owner cheap. */
		if (n > 0)
			last_work = mono_ns();
		else if (mono_ns() - last_work < IDLE_AFTER)
			nap(b->conf.poll_us);
		else
			nap(b->conf.idle_us);
	}
	/* fini: no chain is left to push, so this drains the rings for good. */
	b = dup_instance_bound(in);
	if (b != NULL) {
		while (drain(b) > 0)
			;
		b->store->ops->flush(b->store, true);
	}
	return NULL;
}

static void seen_delete(struct dup_instance *in)
{
	for (unsigned w = 0; in->seen && w < in->workers; w++)
		dup_seen_delete(in->seen[w]);
	free(in->seen);
}

int dup_instance_new(const struct kpg_plugin_env *env, struct dup_instance **out)
{
	struct dup_instance *in = calloc(1, sizeof(*in));
	sigset_t all, old;
	int rc;

	if (in == NULL)
		return -ENOMEM;
	in->workers = env->workers ? env->workers : 1;
	in->last = aligned_alloc(64, in->workers * sizeof(*in->last));
	if (in->last == NULL) {
		free(in);
		return -ENOMEM;
	}
	memset(in->last, 0, in->workers * sizeof(*in->last));
	in->seen = calloc(in->workers, sizeof(*in->seen));
	for (unsigned w = 0; in->seen && w < in->workers; w++)
		if ((in->seen[w] = dup_seen_new()) == NULL) {
			seen_delete(in);
			in->seen = NULL;
		}
	if (in->seen == NULL) {
		free(in->last);
		free(in);
		return -ENOMEM;
	}
	if (env->checkpoint) {
		/* cut as records keep it, on a UTF-8 character */
		size_t n = pconf_utf8_cut(env->checkpoint, strlen(env->checkpoint),
					  sizeof(in->checkpoint) - 1);

		memcpy(in->checkpoint, env->checkpoint, n);
	}
	/* Signals belong to the gateway's main thread, never the owner. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&in->owner, NULL, owner_main, in);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		seen_delete(in);
		free(in->last);
		free(in);
		return -rc;
	}
	pthread_setname_np(in->owner, "kpg-dup-owner");
	atomic_store(&debug_instance, in);
	*out = in;
	return 0;
}

static void bound_delete(struct dup_bound *b)
{
	if (b == NULL)
		return;
	if (b->store)
		b->store->ops->destroy(b->store);
	for (unsigned w = 0; w < b->n_rings; w++)
		free(b->rings[w]);
	free(b);
}

void dup_instance_delete(struct dup_instance *in)
{
	struct dup_instance *self = in;

	if (in == NULL)
		return;
	atomic_store_explicit(&in->stop, true, memory_order_release);
	pthread_join(in->owner, NULL);
	bound_delete(dup_instance_bound(in));
	atomic_compare_exchange_strong(&debug_instance, &self, NULL);
	seen_delete(in);
	free(in->last);
	free(in);
}

int dup_instance_bind(struct dup_instance *in, const struct dup_bind_conf *c,
		      char *err, size_t errlen)
{
	struct dup_bound *b = calloc(1, sizeof(*b) + in->workers * sizeof(b->rings[0]));
	int rc;

	if (b == NULL)
		goto oom;
	b->conf = *c;
	b->n_rings = in->workers;
	for (unsigned w = 0; w < b->n_rings; w++)
		if ((b->rings[w] = dup_ring_new(c->ring_size)) == NULL)
			goto oom;
	b->store = c->shared ?
		   dup_redis_store_new(c->path, c->capacity, c->retention_days,
				       &c->redis) :
		   dup_file_store_new(c->path, c->capacity, c->retention_days);
	if (b->store == NULL)
		goto oom;
	rc = b->store->ops->load(b->store, err, errlen);
	if (rc < 0) {
		bound_delete(b);
		return rc;
	}
	atomic_store_explicit(&in->bound, b, memory_order_release);
	return 0;

oom:
	bound_delete(b);
	snprintf(err, errlen, "out of memory for %u records and %u rings of %u",
		 c->capacity, in->workers, c->ring_size);
	return -ENOMEM;
}

/* ---- debug hooks ----------------------------------------------------- */

static struct dup_bound *debug_bound(void)
{
	struct dup_instance *in = atomic_load(&debug_instance);

	return in ? dup_instance_bound(in) : NULL;
}

static int debug_stats(struct kpg_duplicate_stats *out)
{
	struct dup_instance *in = atomic_load(&debug_instance);

	return in ? dup_instance_stats(in, out) : -ENOENT;
}

int dup_instance_stats(struct dup_instance *in, struct kpg_duplicate_stats *out)
{
	struct dup_bound *b = dup_instance_bound(in);
	const struct dup_store_stats *s;

	if (b == NULL)
		return -ENOENT;
	s = &b->store->stats;
	*out = (struct kpg_duplicate_stats){
		.records = dup_read(&s->records),
		.inserted = dup_read(&s->inserted),
		.raced = dup_read(&s->raced),
		.table_full = dup_read(&s->table_full),
		.evicted = dup_read(&s->evicted),
		.io_errors = dup_read(&s->io_errors),
		.loaded = dup_read(&s->loaded),
		.dropped = dup_read(&s->dropped),
		.corrupt = dup_read(&s->corrupt),
		.truncated = dup_read(&s->truncated),
		.bad_worker = dup_read(&in->bad_worker),
	};
	for (unsigned w = 0; w < b->n_rings; w++)
		out->ring_full += dup_read(&b->rings[w]->full);
	return 0;
}

static void debug_pause(bool on)
{
	struct dup_instance *in = atomic_load(&debug_instance);

	if (in == NULL)
		return;
	atomic_store(&in->paused, on);
	/* Holding means the owner is outside any drain round. */
	while (on && !atomic_load(&in->parked))
		nap(100);
}

static int debug_drain(unsigned timeout_ms)
{
	struct dup_bound *b = debug_bound();
	uint32_t target[64];
	int64_t end = mono_ns() + (int64_t)timeout_ms * 1000000;
	unsigned n;

	if (b == NULL)
		return -ENOENT;
	n = b->n_rings < 64 ? b->n_rings : 64;
	for (unsigned w = 0; w < n; w++)
		target[w] = dup_ring_pushed(b->rings[w]);
	for (unsigned w = 0; w < n; w++)
		while ((int32_t)(dup_ring_handled(b->rings[w]) - target[w]) < 0) {
			if (mono_ns() > end)
				return -ETIMEDOUT;
			nap(100);
		}
	return 0;
}

__attribute__((visibility("default")))
const struct kpg_duplicate_debug kpg_duplicate_debug = {
	.stats = debug_stats,
	.pause = debug_pause,
	.drain = debug_drain,
};
