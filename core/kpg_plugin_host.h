/* kpg_plugin_host.h — loads policy plugins and runs them as a chain.
 *
 * The host dlopen()s each plugin once (RTLD_NOW | RTLD_LOCAL), reads its
 * exported struct kpg_plugin and refuses it, by name, when the ABI version
 * or struct size differ, before any plugin code is called. A chain is one
 * configuration of the checkpoint's policy: the plugins in order, each with
 * the immutable state its configure() built from its own config section.
 * Chains are built and deleted on the control thread; the gateway swaps
 * them under RCU, so a reload never judges a request with a half-built
 * chain. Workers call evaluate/commit; per-plugin decision counters are kept
 * per worker and summed when read, and survive reloads.
 */
#ifndef KPG_PLUGIN_HOST_H
#define KPG_PLUGIN_HOST_H

#include <stddef.h>
#include <stdint.h>

#include <kpgate/plugin.h>

#include "kpg_verdict.h"

#define KPG_PLUGINS_MAX 32

struct kpg_plugin_host_conf {
	unsigned workers;                /* worker lcores (counter slots) */
	const char *checkpoint;
	const char *jurisdiction;        /* the checkpoint's participant, e.g. "EU" */
	const char *config_dir;          /* relative paths in plugin config */
	const char *state_dir;           /* plugins' files (ledger, ...) */
	/* Where "name" is looked for when an entry has no path: each dir is
	 * tried as DIR/kpgate-NAME.so, then DIR/NAME/kpgate-NAME.so. */
	const char *const *search_dirs;  /* NULL-ended */
};

struct kpg_plugin_host;
struct kpg_chain;

struct kpg_plugin_host *kpg_plugin_host_new(const struct kpg_plugin_host_conf *c);
/* Calls every loaded plugin's fini and unloads it; chains must be gone. */
void kpg_plugin_host_delete(struct kpg_plugin_host *h);

/* Builds a chain from a libconfig list of groups, in order:
 *   ( { name = "validity"; }, { name = "origin"; path = "/x.so"; rules = ...; } )
 * Loads plugins seen for the first time (ABI check, then init). On any
 * error returns NULL and err holds "file:line: ..." naming the plugin; the
 * chain in force is not touched. An empty or absent list gives an empty
 * chain. */
struct kpg_chain *kpg_chain_build(struct kpg_plugin_host *h,
				  const config_setting_t *list,
				  char *err, size_t errlen);
/* Releases every state; call only once no worker can still use the chain. */
void kpg_chain_delete(struct kpg_chain *c);

unsigned kpg_chain_length(const struct kpg_chain *c);
const char *kpg_chain_name(const struct kpg_chain *c, unsigned i);

/* Workers. Appends one verdict per plugin that applies, checked under the
 * plugin's name; counts each plugin's decision for scan->worker. */
void kpg_chain_evaluate(const struct kpg_chain *c,
			const struct kpg_scan_view *scan,
			struct kpg_verdicts *vs);
/* Runs every commit() with the overall decision. */
void kpg_chain_commit(const struct kpg_chain *c,
		      const struct kpg_scan_view *scan,
		      enum kpg_decision overall);

/* Counters of each plugin ever loaded, summed over workers: index 0 of
 * decisions counts "did not apply". */
struct kpg_plugin_counts {
	uint64_t decisions[4];
};
unsigned kpg_plugin_host_count(const struct kpg_plugin_host *h);
const char *kpg_plugin_host_name(const struct kpg_plugin_host *h, unsigned i);
void kpg_plugin_host_counts(const struct kpg_plugin_host *h, unsigned i,
			    struct kpg_plugin_counts *sum);
/* The plugin's own counters (its optional stats()), one emit() each. */
void kpg_plugin_host_stats(const struct kpg_plugin_host *h, unsigned i,
			   void (*emit)(void *arg, const char *name, uint64_t value),
			   void *arg);

#endif
