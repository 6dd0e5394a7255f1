/* replay_main.c — a libFuzzer harness run without libFuzzer.
 * Every file named on the command line, and every file of a directory named
 * there, goes once through LLVMFuzzerTestOneInput(), in name order. gcc
 * builds check their harnesses this way under `meson test` (and under
 * ASan/UBSan in a sanitizer build); with clang the fuzzers themselves are
 * built too (tools/fuzz.sh). */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_check.h"

#define REPLAY_INPUT_MAX (1u << 20)  /* far above any seed or crash */

/* Each input sits in a buffer of exactly its size, as under libFuzzer,
 * so ASan sees a read even one byte past the end. */
static int replay_file(const char *path, unsigned *n)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long size;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
	    (unsigned long)size > REPLAY_INPUT_MAX || fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "replay: %s: cannot read: %s\n", path,
			strerror(errno ? errno : EFBIG));
		if (f)
			fclose(f);
		return -1;
	}
	buf = malloc(size ? (size_t)size : 1);
	if (buf == NULL || fread(buf, 1, (size_t)size, f) != (size_t)size) {
		fprintf(stderr, "replay: %s: short read\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)size);
	free(buf);
	(*n)++;
	return 0;
}

static int replay_dir(const char *dir, unsigned *n)
{
	struct dirent **names;
	char path[4096];
	int count, rc = 0;

	count = scandir(dir, &names, NULL, alphasort);
	if (count < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < count; i++) {
		struct stat st;

		/* dot files (.gitignore, editors' litter) are not inputs */
		if (names[i]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
			    replay_file(path, n) < 0)
				rc = -1;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	unsigned n = 0;
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			rc = 1;
		} else if (S_ISDIR(st.st_mode) ? replay_dir(argv[i], &n) < 0
					       : replay_file(argv[i], &n) < 0) {
			rc = 1;
		}
	}
	printf("replay: %u inputs ran\n", n);
	/* an empty corpus proves nothing: most likely a wrong path */
	return rc || n == 0;
}
