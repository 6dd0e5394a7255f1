/* ship_log.h — kpgate-shipper's view of one audit log file: each pass walks
 * the file as it is now with the core reader (kpg_audit_walk, hashes and
 * chain checked), so appends, a gateway restart, a torn tail cut off and
 * the file growing again, or the file replaced, are all just "the file now".
 * A pass over a file unchanged since the last complete pass is skipped. */
#ifndef SHIP_LOG_H
#define SHIP_LOG_H

#include <stdint.h>

#include "kpg_audit.h"

struct ship_log;

/* Called on every intact record in log order; raw is its bytes (it->len of
 * them, hash included), valid during the call only. Non-zero stops the
 * pass, which then does not count as complete. */
typedef int (*ship_log_each_fn)(void *arg, const struct kpg_audit_item *it,
				const uint8_t *raw);

struct ship_log *ship_log_new(const char *path);
void ship_log_delete(struct ship_log *l);

/* One pass. 0: walked (s filled: status, records, break); 1: the file has
 * not changed since the last complete pass (nothing called); -ENOENT: no
 * file yet; -EAGAIN: the file shrank under the pass (a restarting gateway
 * cut a torn tail), try again; other -errno. */
int ship_log_pass(struct ship_log *l, ship_log_each_fn each, void *arg,
		  struct kpg_audit_summary *s);

/* The next pass walks even an unchanged file (after a pass whose records
 * could not all be shipped). */
void ship_log_rewalk(struct ship_log *l);

#endif
