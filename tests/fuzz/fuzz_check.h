/* fuzz_check.h — how a harness states an invariant: loudly. A broken
 * promise prints the file, line and condition and aborts, so libFuzzer
 * keeps the input as a crash and the corpus replay test fails on it. */
#ifndef FUZZ_CHECK_H
#define FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                \
	do {                                                            \
		if (!(cond))                                            \
			fuzz_broken(__FILE__, __LINE__, #cond);         \
	} while (0)

static inline __attribute__((noreturn, cold)) void
fuzz_broken(const char *file, int line, const char *cond)
{
	fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, cond);
	abort();
}

/* The one libFuzzer entry point every harness defines. */
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

#endif
