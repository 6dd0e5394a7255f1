/* gw_trust.c — trust list load, RCU swap and reclaim; see gw_trust.h. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <rte_malloc.h>

#include "gw_log.h"
#include "gw_trust.h"

struct rte_rcu_qsbr *gw_trust_qsbr;
struct kpg_trust *gw_trust_snapshot;

/* Serialises loads, swaps and status reads; never taken by a worker. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const struct gw_config *conf;
static unsigned n_slots;

/* One load attempt against the list in force; caller holds the lock. */
static enum kpg_trust_refusal load(struct kpg_trust **out, char *err,
				   size_t errlen)
{
	struct kpg_anchors anchors;
	struct kpg_trust_opts o;
	uint64_t in_force = gw_trust_snapshot ?
			    kpg_trust_version(gw_trust_snapshot) : 0;

	/* Anchors are read at each attempt so a fixed file helps a reload. */
	memset(&anchors, 0, sizeof(anchors));
	for (unsigned i = 0; i < conf->n_anchors; i++)
		if (kpg_anchors_add_file(&anchors, conf->anchors[i], err,
					 errlen) != 0)
			return KPG_TRUST_IO;
	memset(&o, 0, sizeof(o));
	o.anchors = &anchors;
	o.list_path = conf->trust_list;
	o.state_path = conf->trust_state[0] ? conf->trust_state : NULL;
	o.now = time(NULL);
	o.grace_s = conf->trust_grace_s;
	o.slots = n_slots;
	o.backend = conf->backend;
	return kpg_trust_load(&o, in_force, out, err, errlen);
}

static int reload_locked(int self_slot, char *msg, size_t len)
{
	struct kpg_trust *next = NULL, *old = gw_trust_snapshot;
	enum kpg_trust_refusal r;
	char err[256] = "";
	char in_force[32] = "none";

	if (old)
		snprintf(in_force, sizeof(in_force), "version %" PRIu64,
			 kpg_trust_version(old));
	if (!conf->has_trust) {
		snprintf(msg, len, "no trust list configured");
		return -ENOENT;
	}
	r = load(&next, err, sizeof(err));
	if (r != KPG_TRUST_OK) {
		snprintf(msg, len, "%s: %s: %s", kpg_trust_refusal_name(r),
			 conf->trust_list, err);
		GW_LOG(WARNING, "trust list refused (%s), keeping %s\n", msg,
		       in_force);
		return r == KPG_TRUST_IO ? -EIO : -EPERM;
	}
	__atomic_store_n(&gw_trust_snapshot, next, __ATOMIC_RELEASE);
	if (old) {
		/* Every worker passes a quiescent point before the old list
		 * goes; their engines re-resolve keys on the next begin(). */
		rte_rcu_qsbr_synchronize(gw_trust_qsbr, self_slot < 0 ?
					 RTE_QSBR_THRID_INVALID : (unsigned)self_slot);
		kpg_trust_delete(old);
	}
	snprintf(msg, len, "loaded version %" PRIu64, kpg_trust_version(next));
	GW_LOG(INFO, "trust list %s (%u keys, next update %" PRId64 "), was %s\n",
	       msg, kpg_trust_key_count(next), kpg_trust_next_update(next),
	       in_force);
	return 0;
}

int gw_trust_init(const struct gw_config *c, unsigned slots)
{
	size_t sz = rte_rcu_qsbr_get_memsize(slots);
	char msg[512];

	conf = c;
	n_slots = slots;
	gw_trust_qsbr = rte_zmalloc("gw_trust_qsbr", sz, RTE_CACHE_LINE_SIZE);
	if (gw_trust_qsbr == NULL || rte_rcu_qsbr_init(gw_trust_qsbr, slots) != 0) {
		GW_LOG(ERR, "cannot create RCU state for %u workers\n", slots);
		rte_free(gw_trust_qsbr);
		gw_trust_qsbr = NULL;
		return -ENOMEM;
	}
	if (!c->has_trust) {
		GW_LOG(WARNING, "no trust list configured: every request is answered trust_list_unavailable\n");
		return 0;
	}
	pthread_mutex_lock(&lock);
	if (reload_locked(-1, msg, sizeof(msg)) != 0)
		GW_LOG(ERR, "starting without a trust list: every request is answered trust_list_unavailable\n");
	pthread_mutex_unlock(&lock);
	return 0;
}

void gw_trust_fini(void)
{
	pthread_mutex_lock(&lock);
	kpg_trust_delete(gw_trust_snapshot);
	gw_trust_snapshot = NULL;
	rte_free(gw_trust_qsbr);
	gw_trust_qsbr = NULL;
	pthread_mutex_unlock(&lock);
}

int gw_trust_reader_online(unsigned slot)
{
	int rc = rte_rcu_qsbr_thread_register(gw_trust_qsbr, slot);

	if (rc == 0)
		rte_rcu_qsbr_thread_online(gw_trust_qsbr, slot);
	return rc;
}

void gw_trust_reader_offline(unsigned slot)
{
	rte_rcu_qsbr_thread_offline(gw_trust_qsbr, slot);
	rte_rcu_qsbr_thread_unregister(gw_trust_qsbr, slot);
}

int gw_trust_reload(int self_slot, char *msg, size_t len)
{
	int rc;

	/* trylock: a worker-lcore caller must not block while another
	 * reloader waits for that very worker's quiescent state. */
	if (pthread_mutex_trylock(&lock) != 0) {
		snprintf(msg, len, "a reload is already under way");
		return -EBUSY;
	}
	rc = reload_locked(self_slot, msg, len);
	pthread_mutex_unlock(&lock);
	return rc;
}

int gw_trust_describe(uint64_t *version, int64_t *issued_at,
		      int64_t *next_update, unsigned *keys)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&lock);
	if (gw_trust_snapshot) {
		*version = kpg_trust_version(gw_trust_snapshot);
		*issued_at = kpg_trust_issued_at(gw_trust_snapshot);
		*next_update = kpg_trust_next_update(gw_trust_snapshot);
		*keys = kpg_trust_key_count(gw_trust_snapshot);
		rc = 0;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

int gw_trust_keys(unsigned offset, unsigned max,
		  void (*fn)(void *arg, const struct kpg_trust_key *k),
		  void *arg, uint64_t *version, unsigned *total)
{
	unsigned n;

	pthread_mutex_lock(&lock);
	if (gw_trust_snapshot == NULL) {
		pthread_mutex_unlock(&lock);
		return -ENOENT;
	}
	*version = kpg_trust_version(gw_trust_snapshot);
	*total = n = kpg_trust_key_count(gw_trust_snapshot);
	for (unsigned i = offset; i < n && i - offset < max; i++)
		fn(arg, kpg_trust_key_at(gw_trust_snapshot, i));
	pthread_mutex_unlock(&lock);
	return 0;
}
