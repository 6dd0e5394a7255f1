/* lg_sched.h — how long the busy-polling thread of a process ran and
 * waited for a CPU (Linux schedstat) over a run, so a measurement
 * disturbed by other processes on the same cores shows as such. Read
 * before and after a run, never per packet. */
#ifndef LG_SCHED_H
#define LG_SCHED_H

#include <stdint.h>
#include <sys/types.h>

#define LG_SCHED_THREADS 64u

struct lg_sched_snap {
	unsigned n;
	pid_t tid[LG_SCHED_THREADS];
	uint64_t run_ns[LG_SCHED_THREADS];    /* on a CPU */
	uint64_t wait_ns[LG_SCHED_THREADS];   /* runnable, waiting for a CPU */
};

struct lg_sched {
	uint64_t run_ns, wait_ns;
};

/* Every thread of pid (0: this process); n == 0 when unknown. */
void lg_sched_snap(pid_t pid, struct lg_sched_snap *s);

/* Between two snapshots, the thread that ran longest: the busy-polling
 * lcore, whose waits are what loses packets (the others sleep). */
struct lg_sched lg_sched_busiest(const struct lg_sched_snap *before,
				 const struct lg_sched_snap *after);

#endif
