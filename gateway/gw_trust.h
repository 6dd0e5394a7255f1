/* gw_trust.h — the trust snapshot in force, published to the workers.
 * The pointer is swapped with an atomic store and reclaimed under
 * rte_rcu_qsbr: each worker reports a quiescent state once per loop
 * iteration, when it holds no snapshot pointer outside its engine. A reload
 * that is refused leaves the list in force untouched. Loads and reloads run
 * on control threads only (main lcore, telemetry), one at a time. */
#ifndef GW_TRUST_H
#define GW_TRUST_H

#include <stddef.h>
#include <stdint.h>

#include <rte_rcu_qsbr.h>

#include "gw_config.h"
#include "kpg_trust.h"

extern struct rte_rcu_qsbr *gw_trust_qsbr;
extern struct kpg_trust *gw_trust_snapshot;

/* Creates the RCU state for `slots` workers and loads the configured list;
 * a list that cannot be loaded is logged and the gateway runs without one.
 * Returns a negative errno only when the RCU state cannot be made. */
int gw_trust_init(const struct gw_config *c, unsigned slots);

/* After the workers stopped: deletes the snapshot and the RCU state. */
void gw_trust_fini(void);

/* Worker side. */
int gw_trust_reader_online(unsigned slot);
void gw_trust_reader_offline(unsigned slot);

static inline const struct kpg_trust *gw_trust_current(void)
{
	return __atomic_load_n(&gw_trust_snapshot, __ATOMIC_ACQUIRE);
}

static inline void gw_trust_quiescent(unsigned slot)
{
	rte_rcu_qsbr_quiescent(gw_trust_qsbr, slot);
}

/* Loads the list file again. self_slot is the caller's reader slot if it
 * is a worker too (main lcore running the loop), else -1. Returns 0 with
 * "loaded version N" in msg, -EBUSY when another reload is under way, or
 * another negative errno with the refusal in msg. */
int gw_trust_reload(int self_slot, char *msg, size_t len);

/* What is in force, for status: 0, or -ENOENT when no list is. */
int gw_trust_describe(uint64_t *version, int64_t *issued_at,
		      int64_t *next_update, unsigned *keys);

/* Calls fn, under the lock, for keys offset .. offset + max - 1 of the list
 * in force, in its order, and says its version and key count: 0, or
 * -ENOENT when no list is in force. */
int gw_trust_keys(unsigned offset, unsigned max,
		  void (*fn)(void *arg, const struct kpg_trust_key *k),
		  void *arg, uint64_t *version, unsigned *total);

#endif
