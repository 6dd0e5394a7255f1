/* lg_sched.c — CPU time and run-queue wait from /proc/PID/task/TID/schedstat
 * (its first two fields); see lg_sched.h. */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "lg_sched.h"

void lg_sched_snap(pid_t pid, struct lg_sched_snap *s)
{
	char path[64];
	struct dirent *de;
	DIR *d;

	s->n = 0;
	if (pid < 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/task", pid ? (int)pid : (int)getpid());
	d = opendir(path);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL && s->n < LG_SCHED_THREADS) {
		char file[384];
		uint64_t run, wait;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "%s/%s/schedstat", path, de->d_name);
		f = fopen(file, "r");
		if (f == NULL)
			continue;
		if (fscanf(f, "%" SCNu64 " %" SCNu64, &run, &wait) == 2) {
			s->tid[s->n] = (pid_t)atoi(de->d_name);
			s->run_ns[s->n] = run;
			s->wait_ns[s->n] = wait;
			s->n++;
		}
		fclose(f);
	}
	closedir(d);
}

struct lg_sched lg_sched_busiest(const struct lg_sched_snap *before,
				 const struct lg_sched_snap *after)
{
	struct lg_sched best = { 0, 0 };

	for (unsigned i = 0; i < after->n; i++)
		for (unsigned j = 0; j < before->n; j++) {
			uint64_t run;

			if (before->tid[j] != after->tid[i])
				continue;
			run = after->run_ns[i] - before->run_ns[j];
			if (run >= best.run_ns) {
				best.run_ns = run;
				best.wait_ns = after->wait_ns[i] - before->wait_ns[j];
			}
		}
	return best;
}
