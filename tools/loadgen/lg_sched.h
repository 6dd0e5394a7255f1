/* lg_sched.h — how long a process waited for a CPU (Linux schedstat), so
 * a measurement disturbed by other processes on the same cores shows as
 * such. Read between runs, never per packet. */
#ifndef LG_SCHED_H
#define LG_SCHED_H

#include <stdint.h>
#include <sys/types.h>

/* Nanoseconds all threads of pid (0: this process) spent runnable but not
 * running since they started; 0 when unknown. */
uint64_t lg_sched_wait_ns(pid_t pid);

#endif
