/* dup_owner.h — the duplicate plugin's long-lived instance: its store, one
 * ring and one memory of certificates (dup_seen.h) per worker, and the
 * owner thread, the only writer of the store, which moves consumptions
 * from the rings into it. init creates it and starts the thread; the
 * first configure binds it to its store (the settings shaping the store
 * are known only from config); reloads keep it; fini stops the thread
 * after a last drain and closes the store. */
#ifndef DUP_OWNER_H
#define DUP_OWNER_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

#include <kpgate/plugin.h>

#include "dup_ring.h"
#include "dup_seen.h"
#include "dup_store.h"

/* The settings fixed from the first configure until a restart. */
struct dup_bind_conf {
	char path[PATH_MAX];
	uint32_t capacity, retention_days, ring_size;
	uint32_t poll_us;                /* owner's sleep while records flow */
	uint32_t idle_us;                /* ... and once idle for IDLE_AFTER */
	bool shared;                     /* store = "redis": the fleet's ledger */
	struct dup_redis_conf redis;     /* ... where, when shared */
};

struct dup_bound {
	struct dup_bind_conf conf;
	struct dup_store *store;
	unsigned n_rings;
	struct dup_ring *rings[];        /* by worker */
};

/* What a worker's evaluate learnt of the certificate it judged last, for
 * its commit: matched by content, so a commit of another certificate (a
 * gateway may evaluate a burst before committing it) never uses it. */
struct dup_last {
	uint64_t id[2];
	int found;                       /* the lookup's answer in evaluate */
	uint32_t number_len;             /* 0: nothing kept */
	char participant[2];
	char number[DUP_NUMBER_MAX];
	/* Judged while a shared ledger was out of touch with the fleet:
	 * accepted on the local ledger alone, or referred. This worker's
	 * own counters, summed when read. */
	_Atomic uint64_t local_only, unreachable_referred;
} __attribute__((aligned(64)));

struct dup_instance {
	unsigned workers;
	struct dup_last *last;           /* by worker */
	struct dup_seen **seen;          /* by worker */
	char checkpoint[DUP_NAME_MAX];   /* cut as records keep it */
	/* Set once, by the first configure; the owner thread polls it. */
	_Atomic(struct dup_bound *) bound;
	pthread_t owner;
	atomic_bool stop;
	atomic_bool paused, parked;      /* test hook: hold the owner, and it holds */
	_Atomic uint64_t bad_worker;     /* commits from a worker beyond env->workers */
};

int dup_instance_new(const struct kpg_plugin_env *env, struct dup_instance **out);
void dup_instance_delete(struct dup_instance *in);

/* Control thread, while no store is bound: opens and loads the store,
 * makes the rings, hands both to the owner. 0, or -errno and why in err. */
int dup_instance_bind(struct dup_instance *in, const struct dup_bind_conf *c,
		      char *err, size_t errlen);

/* Control thread: the bound store and rings, or NULL. */
static inline struct dup_bound *dup_instance_bound(struct dup_instance *in)
{
	return atomic_load_explicit(&in->bound, memory_order_acquire);
}

struct kpg_duplicate_stats;
/* Any thread: the store's counters; 0, or -ENOENT when none is bound. */
int dup_instance_stats(struct dup_instance *in, struct kpg_duplicate_stats *out);

#endif
