/* ship_log.c — one audit log file, walked pass by pass; see ship_log.h. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ship_log.h"

struct ship_log {
	char *path;
	bool seen_valid;
	struct stat seen;                /* the file at the last complete pass */
};

/* The file is mapped, and a gateway opening it cuts a torn tail off with
 * ftruncate(): touching a page past the new end raises SIGBUS. Only the
 * walk's look at the torn bytes can do that (intact records are never
 * cut), so a pass caught there is abandoned and tried again. One pass at
 * a time: the shipper is single-threaded. */
static sigjmp_buf bus_jump;
static volatile sig_atomic_t bus_armed;

static void on_sigbus(int sig)
{
	if (bus_armed)
		siglongjmp(bus_jump, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

struct ship_log *ship_log_new(const char *path)
{
	struct ship_log *l = calloc(1, sizeof(*l));
	struct sigaction sa = { .sa_handler = on_sigbus };

	if (l == NULL || (l->path = strdup(path)) == NULL) {
		free(l);
		return NULL;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	return l;
}

void ship_log_delete(struct ship_log *l)
{
	if (l == NULL)
		return;
	free(l->path);
	free(l);
}

void ship_log_rewalk(struct ship_log *l)
{
	l->seen_valid = false;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

struct pass {
	ship_log_each_fn each;
	void *arg;
	const uint8_t *map;
	bool stopped;
};

static int pass_each(void *arg, const struct kpg_audit_item *it)
{
	struct pass *p = arg;

	if (p->each(p->arg, it, p->map + it->offset) != 0) {
		p->stopped = true;
		return 1;
	}
	return 0;
}

int ship_log_pass(struct ship_log *l, ship_log_each_fn each, void *arg,
		  struct kpg_audit_summary *s)
{
	struct pass p = { each, arg, NULL, false };
	uint8_t *volatile map = NULL;
	struct stat st;
	size_t len;
	int fd, rc;

	fd = open(l->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (l->seen_valid && same_file(&st, &l->seen)) {
		close(fd);
		return 1;
	}
	len = (size_t)st.st_size;
	if (len > 0) {
		map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
		if (map == MAP_FAILED) {
			rc = -errno;
			close(fd);
			return rc;
		}
	}
	close(fd);
	p.map = map;
	if (sigsetjmp(bus_jump, 1) != 0) {
		/* kpg_audit_walk's own item buffer is lost here: one small
		 * allocation per torn tail cut during a pass. */
		bus_armed = 0;
		munmap(map, len);
		l->seen_valid = false;
		return -EAGAIN;
	}
	bus_armed = 1;
	rc = kpg_audit_walk(map ? map : (const uint8_t *)"", len, pass_each, &p, s);
	bus_armed = 0;
	if (map)
		munmap(map, len);
	if (rc < 0)
		return rc;
	l->seen_valid = !p.stopped;
	if (l->seen_valid)
		l->seen = st;
	return 0;
}
