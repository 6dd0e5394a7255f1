/* gw_policy.h — the checkpoint's policy chain in force, published to the
 * workers like the trust snapshot: swapped with an atomic store and
 * reclaimed after an RCU grace period of the same rte_rcu_qsbr (workers
 * report one quiescent state per loop for both). The chain is built from
 * the config file's `plugins` list, or a default of validity and
 * participant; at start a chain that cannot be built stops the gateway, on
 * reload it is refused and the chain in force stays. */
#ifndef GW_POLICY_H
#define GW_POLICY_H

#include <stddef.h>

#include "gw_config.h"
#include "kpg_plugin_host.h"

extern struct kpg_chain *gw_policy_chain;

/* After gw_trust_init() (it makes the RCU state). 0 or -errno, logged. */
int gw_policy_init(const struct gw_config *c, unsigned workers);
/* After the workers stopped. */
void gw_policy_fini(void);

static inline const struct kpg_chain *gw_policy_current(void)
{
	return __atomic_load_n(&gw_policy_chain, __ATOMIC_ACQUIRE);
}

/* Re-reads the config file's plugins list and swaps the chain. self_slot as
 * for gw_trust_reload(). 0 with a message, -EBUSY, or -EINVAL with the
 * refusal ("file:line: ...") in msg. */
int gw_policy_reload(int self_slot, char *msg, size_t len);

/* Telemetry: calls fn, under the policy lock (never held by a worker),
 * for each plugin ever loaded with its counters summed over workers and
 * its place in the chain in force (-1 when not in it). */
void gw_policy_foreach(void (*fn)(void *arg, const char *name, int position,
				  const struct kpg_plugin_counts *counts),
		       void *arg);

/* Under the same lock: the plugin's own counters (kpg_plugin_host_stats)
 * of the plugin named, for the callback of gw_policy_foreach. */
void gw_policy_plugin_stats(const char *name,
			    void (*emit)(void *arg, const char *name, uint64_t value),
			    void *arg);

#endif
