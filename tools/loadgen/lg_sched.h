/* lg_sched.h — how long a process waited for a CPU (Linux schedstat), so
 * a measurement disturbed by other processes on the same cores shows as
 * such. Read between runs, never per packet. */
#ifndef LG_SCHED_H
#define LG_SCHED_H

#include <stdint.h>
#include <sys/types.h>

struct lg_sched {
	uint64_t run_ns;                 /* on a CPU */
	uint64_t wait_ns;                /* runnable, waiting for a CPU */
};

/* Of the thread of pid (0: this process) that ran longest, since it
 * started: the busy-polling lcore, whose waits are what loses packets
 * (other threads sleep, and their waits would only add noise). Zeros when
 * unknown. */
struct lg_sched lg_sched_read(pid_t pid);

#endif
