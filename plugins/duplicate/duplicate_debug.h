/* duplicate_debug.h — counters and test hooks of the duplicate plugin,
 * exported beside its kpg_plugin descriptor as KPG_DUPLICATE_DEBUG_SYMBOL
 * (dlsym on the plugin's handle). Not part of the plugin ABI: the ABI has
 * no way yet for a plugin to report its own counters (see
 * docs/plugins.md). Each call addresses the instance most recently
 * initialised in this process; control thread or tests only. */
#ifndef DUPLICATE_DEBUG_H
#define DUPLICATE_DEBUG_H

#include <stdbool.h>
#include <stdint.h>

#define KPG_DUPLICATE_DEBUG_SYMBOL "kpg_duplicate_debug"

struct kpg_duplicate_stats {
	uint64_t records;                /* consumed certificates held */
	uint64_t inserted;               /* recorded since start */
	uint64_t raced;                  /* accepted by two lcores at once */
	uint64_t ring_full;              /* consumptions lost: a ring was full */
	uint64_t table_full;             /* consumptions refused: full */
	uint64_t evicted;                /* forgotten after retention */
	uint64_t io_errors;
	uint64_t loaded, dropped, corrupt, truncated;   /* at start */
	uint64_t bad_worker;             /* commits from an unknown worker */
};

struct kpg_duplicate_debug {
	/* 0, or -ENOENT when no instance is bound to a store. */
	int (*stats)(struct kpg_duplicate_stats *out);
	/* Holds (true) or lets go (false) the owner thread, so a test can
	 * fill a ring. */
	void (*pause)(bool on);
	/* Waits until the owner has handled every consumption pushed so far:
	 * 0, -ETIMEDOUT, or -ENOENT. */
	int (*drain)(unsigned timeout_ms);
};

#endif
