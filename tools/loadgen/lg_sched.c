/* lg_sched.c — CPU time and run-queue wait from /proc/PID/task/TID/schedstat
 * (its first two fields); see lg_sched.h. */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "lg_sched.h"

struct lg_sched lg_sched_read(pid_t pid)
{
	struct lg_sched total = { 0, 0 };     /* the busiest thread */
	char path[64];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid ? (int)pid : (int)getpid());
	d = opendir(path);
	if (d == NULL)
		return total;
	while ((de = readdir(d)) != NULL) {
		char file[384];
		uint64_t run, wait;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "%s/%s/schedstat", path, de->d_name);
		f = fopen(file, "r");
		if (f == NULL)
			continue;
		if (fscanf(f, "%" SCNu64 " %" SCNu64, &run, &wait) == 2 &&
		    run >= total.run_ns) {
			total.run_ns = run;
			total.wait_ns = wait;
		}
		fclose(f);
	}
	closedir(d);
	return total;
}
