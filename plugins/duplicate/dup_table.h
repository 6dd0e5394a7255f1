/* dup_table.h — the consumed-certificate table: open addressing, linear
 * probing, one writer (the owner thread) and any number of readers that
 * never lock or wait.
 *
 * A slot is the record's 16 words: word 0 (id[0], never 0) is its tag,
 * kept apart from words 1..15 so probes read dense tags. The writer fills
 * words 1..15, then publishes the tag with a release store; a reader loads
 * the tag with acquire, so it sees a free slot or a complete record, never
 * half of one. Published slots are never changed in place.
 *
 * Forgetting records needs a rebuild, and readers may be inside the table
 * meanwhile: the table has two arrays and a generation. The writer builds
 * the spare array, then flips the generation; a reader notes the
 * generation before its probe and checks it after, and throws away (and
 * retries) a probe that a flip overtook. Readers never block the writer
 * and the writer blocks no reader; a reader gives up only after several
 * flips in a row, which rebuilds (rare, at most daily) make impossible.
 */
#ifndef DUP_TABLE_H
#define DUP_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "dup_store.h"

struct dup_table;

/* Room for capacity records (1 .. 1<<24); arrays of twice as many slots
 * keep probes short. NULL when out of memory. */
struct dup_table *dup_table_new(uint32_t capacity);
void dup_table_delete(struct dup_table *t);

/* Any thread. 1 found (*out filled), 0 absent, -EAGAIN when rebuilds kept
 * overtaking the probe. */
int dup_table_lookup(const struct dup_table *t, const uint64_t id[2],
		     struct dup_record *out);

/* Writer only. 0, -EEXIST (that id is there), -ENOSPC (capacity
 * reached) or -EINVAL (id[0] is 0). */
int dup_table_insert(struct dup_table *t, const struct dup_record *r);

/* Writer only: a new generation holding the records keep() keeps; returns
 * how many it dropped. */
uint32_t dup_table_rebuild(struct dup_table *t,
			   bool (*keep)(const struct dup_record *r, const void *arg),
			   const void *arg);

/* Writer only: calls fn on every record, in slot order. */
void dup_table_each(const struct dup_table *t,
		    void (*fn)(const struct dup_record *r, void *arg), void *arg);

uint32_t dup_table_count(const struct dup_table *t);       /* writer only */
uint32_t dup_table_capacity(const struct dup_table *t);

#endif
