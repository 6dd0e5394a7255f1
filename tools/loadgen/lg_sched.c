/* lg_sched.c — run-queue wait from /proc/PID/task/TID/schedstat (its
 * second field); see lg_sched.h. */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "lg_sched.h"

uint64_t lg_sched_wait_ns(pid_t pid)
{
	char path[64];
	struct dirent *de;
	uint64_t total = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid ? (int)pid : (int)getpid());
	d = opendir(path);
	if (d == NULL)
		return 0;
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
		if (fscanf(f, "%" SCNu64 " %" SCNu64, &run, &wait) == 2)
			total += wait;
		fclose(f);
	}
	closedir(d);
	return total;
}
