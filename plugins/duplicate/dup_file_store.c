/* dup_file_store.c — the embedded ledger: a dup_table in memory and an
 * append-only file, so consumption survives a restart.
 *
 * File: a 64-byte header (magic, version, record size, the hash keys made
 * at random when the file is created, creation time, checksum), then
 * fixed-size records, each a struct dup_record and its SipHash-64
 * checksum, in host byte order (the file does not move between machines
 * of another endianness).
 *
 * Load reads every record back. A record failing its checksum before a
 * good one is skipped and counted (corrupt); after the last good one the
 * bytes are a torn append from a crash, cut off (truncated). Records past
 * their retention, repeated or beyond the capacity are dropped, and then
 * the file is rewritten with what the table holds (compaction), as it is
 * after an eviction: so the file stays bounded like the table.
 *
 * The owner thread writes appended records at once but never waits for the
 * disk: a syncer thread of the store runs fdatasync when asked, so a slow
 * disk does not hold consumptions out of the table (the race window).
 *
 * Memory bound: when the table is full, records whose certificate expired
 * more than retention_days ago are evicted (a table rebuild); if none is,
 * the insert is refused and counted (table_full) and no second attempt is
 * made the same day. Refusing keeps what is known; a certificate whose
 * consumption was refused can be accepted again, which the counter and
 * docs/plugins.md tell operators to size against.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dup_hash.h"
#include "dup_store.h"
#include "dup_table.h"

#define FILE_MAGIC    "KPGDUP1\n"
#define FILE_VERSION  1u

struct file_header {
	char magic[8];
	uint32_t version, record_size;
	uint64_t key[2][2];
	int64_t created;
	uint64_t check;                  /* of the bytes above */
};
_Static_assert(sizeof(struct file_header) == 64, "header is 64 bytes");

struct file_record {
	struct dup_record r;
	uint64_t check;                  /* of r */
};
_Static_assert(sizeof(struct file_record) == 136, "records are 136 bytes");

/* Checksums detect torn or damaged bytes, not forgery: a fixed key. */
static const uint64_t check_key[2] = { UINT64_C(0x6b70676174652d64),
				       UINT64_C(0x75706c6963617465) };

struct file_store {
	struct dup_store base;
	struct dup_table *table;
	char path[PATH_MAX];
	int fd;
	int lock_fd;                     /* PATH.lock, flock()ed while open */
	off_t size;                      /* bytes known good on disk */
	uint32_t retention_days;
	int64_t full_day;                /* eviction found nothing that day */
	struct file_record *batch;       /* appended, not yet written */
	uint32_t batch_n, batch_cap;
	bool unsynced;                   /* written since the last sync request */
	bool fixed_key;                  /* keys given (a fleet's), not random */

	/* The syncer: sync_wanted under req_lock; fd_lock keeps fd open
	 * while it syncs (the owner replaces fd only at compaction). */
	pthread_t syncer;
	bool syncer_running, sync_wanted, syncer_stop;
	pthread_mutex_t req_lock, fd_lock;
	pthread_cond_t req_cond;
};

static struct file_store *fs_of(struct dup_store *s)
{
	return (struct file_store *)s;
}

static int64_t today(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec / 86400;
}

static uint64_t header_check(const struct file_header *h)
{
	return dup_sip64(check_key, h, offsetof(struct file_header, check));
}

static bool header_ok(const struct file_header *h)
{
	return memcmp(h->magic, FILE_MAGIC, 8) == 0 &&
	       h->version == FILE_VERSION &&
	       h->record_size == sizeof(struct file_record) &&
	       h->check == header_check(h);
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* A rename or a new file is durable only once its directory is synced. */
static int sync_dir(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd, rc = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static void make_header(const struct file_store *fs, struct file_header *h)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, FILE_MAGIC, 8);
	h->version = FILE_VERSION;
	h->record_size = sizeof(struct file_record);
	memcpy(h->key, fs->base.key, sizeof(h->key));
	h->created = (int64_t)time(NULL);
	h->check = header_check(h);
}

static void seal_record(struct file_record *fr, const struct dup_record *r)
{
	fr->r = *r;
	fr->check = dup_sip64(check_key, &fr->r, sizeof(fr->r));
}

struct compact_ctx {
	struct file_record *out;
	uint32_t n;
};

static void compact_one(const struct dup_record *r, void *arg)
{
	struct compact_ctx *cx = arg;

	seal_record(&cx->out[cx->n++], r);
}

static int by_time(const void *a, const void *b)
{
	int64_t x = ((const struct file_record *)a)->r.consumed_at;
	int64_t y = ((const struct file_record *)b)->r.consumed_at;

	return (x > y) - (x < y);
}

/* Rewrites the file with exactly what the table holds (so pending
 * appends, which are in the table, are dropped from the batch), oldest
 * first as appends are: a new file beside it, synced, renamed over it. */
static int compact(struct file_store *fs)
{
	char tmp[PATH_MAX + 8];
	struct file_header h;
	struct compact_ctx cx = { 0 };
	int fd, rc;

	if (snprintf(tmp, sizeof(tmp), "%s.new", fs->path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	cx.out = malloc(((size_t)dup_table_count(fs->table) + 1) * sizeof(*cx.out));
	if (cx.out == NULL)
		return -ENOMEM;
	dup_table_each(fs->table, compact_one, &cx);
	qsort(cx.out, cx.n, sizeof(*cx.out), by_time);

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(cx.out);
		return -errno;
	}
	make_header(fs, &h);
	rc = write_all(fd, &h, sizeof(h));
	if (rc == 0)
		rc = write_all(fd, cx.out, cx.n * sizeof(*cx.out));
	free(cx.out);
	if (rc == 0 && fdatasync(fd) < 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, fs->path) < 0)
		rc = -errno;
	close(fd);
	if (rc < 0) {
		unlink(tmp);
		return rc;
	}
	sync_dir(fs->path);
	/* The new file is ours now; reopen it for appending. */
	pthread_mutex_lock(&fs->fd_lock);
	close(fs->fd);
	fs->fd = open(fs->path, O_WRONLY | O_APPEND | O_CLOEXEC);
	pthread_mutex_unlock(&fs->fd_lock);
	if (fs->fd < 0)
		return -errno;
	fs->size = (off_t)sizeof(h) + (off_t)cx.n * (off_t)sizeof(struct file_record);
	fs->batch_n = 0;
	fs->unsynced = false;
	return 0;
}

struct keep_ctx {
	int64_t today;
	uint32_t retention_days;
};

static bool within_retention(const struct dup_record *r, const void *arg)
{
	const struct keep_ctx *k = arg;

	return (int64_t)r->expiry_day + k->retention_days >= k->today;
}

static int fs_create(struct file_store *fs)
{
	struct file_header h;
	int rc;

	if (!fs->fixed_key &&
	    getrandom(fs->base.key, sizeof(fs->base.key), 0) !=
	    (ssize_t)sizeof(fs->base.key))
		return -errno;
	make_header(fs, &h);
	if (ftruncate(fs->fd, 0) < 0)
		return -errno;
	rc = write_all(fs->fd, &h, sizeof(h));
	if (rc == 0 && fdatasync(fs->fd) < 0)
		rc = -errno;
	if (rc == 0)
		rc = sync_dir(fs->path);
	fs->size = sizeof(h);
	return rc;
}

/* Load reads the records twice: first counting those within retention,
 * then keeping them, less the oldest that do not fit the capacity (a
 * restart with a smaller one keeps the newest, the likeliest to come
 * back). */
struct load_pass {
	struct keep_ctx k;
	bool keep;                       /* second pass: into the table */
	uint64_t live, skip;             /* first pass counts; second skips */
	uint64_t dropped, corrupt;
	off_t good_end;
};

static void load_record(struct file_store *fs, const struct dup_record *r,
			struct load_pass *lp)
{
	if (!within_retention(r, &lp->k)) {
		lp->dropped += lp->keep;
	} else if (!lp->keep) {
		lp->live++;
	} else if (lp->skip > 0) {
		lp->skip--;
		lp->dropped++;
	} else if (dup_table_insert(fs->table, r) < 0) {
		lp->dropped++;               /* repeated */
	} else {
		dup_count(&fs->base.stats.loaded, 1);
	}
}

static int load_pass(struct file_store *fs, off_t file_size, struct load_pass *lp)
{
	struct file_record buf[256];
	off_t at = sizeof(struct file_header);
	uint64_t pending_bad = 0;

	lp->good_end = at;
	while (at + (off_t)sizeof(struct file_record) <= file_size) {
		ssize_t n = pread(fs->fd, buf, sizeof(buf), at);
		size_t whole;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		whole = (size_t)n / sizeof(struct file_record);
		if (whole == 0)
			break;
		for (size_t i = 0; i < whole; i++) {
			at += sizeof(struct file_record);
			if (buf[i].check != dup_sip64(check_key, &buf[i].r,
						      sizeof(buf[i].r))) {
				pending_bad++;
				continue;
			}
			lp->corrupt += pending_bad;  /* bad ones before a good one */
			pending_bad = 0;
			lp->good_end = at;
			load_record(fs, &buf[i].r, lp);
		}
	}
	return 0;
}

static int fs_read_records(struct file_store *fs, off_t file_size,
			   uint64_t *dropped, uint64_t *corrupt)
{
	struct load_pass lp = { .k = { today(), fs->retention_days } };
	uint32_t cap = dup_table_capacity(fs->table);
	int rc = load_pass(fs, file_size, &lp);

	if (rc < 0)
		return rc;
	lp.keep = true;
	lp.skip = lp.live > cap ? lp.live - cap : 0;
	lp.corrupt = 0;
	rc = load_pass(fs, file_size, &lp);
	if (rc < 0)
		return rc;
	/* Whatever follows the last good record is a torn append. */
	if (lp.good_end < file_size) {
		if (ftruncate(fs->fd, lp.good_end) < 0)
			return -errno;
		dup_count(&fs->base.stats.truncated,
			  (uint64_t)(file_size - lp.good_end));
	}
	fs->size = lp.good_end;
	*dropped = lp.dropped;
	*corrupt = lp.corrupt;
	return 0;
}

/* Two processes appending to one ledger would corrupt it: the second is
 * refused. A lock file, as the ledger itself is replaced at compaction. */
static int lock_ledger(struct file_store *fs, char *err, size_t errlen)
{
	char path[PATH_MAX + 8];
	int rc;

	snprintf(path, sizeof(path), "%s.lock", fs->path);
	fs->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fs->lock_fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (flock(fs->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		snprintf(err, errlen, "%s: %s", fs->path, rc == -EBUSY ?
			 "in use by another kpgate (or another plugin instance)" :
			 strerror(-rc));
		return rc;
	}
	return 0;
}

static void *syncer_main(void *arg)
{
	struct file_store *fs = arg;

	for (;;) {
		bool stop;

		pthread_mutex_lock(&fs->req_lock);
		while (!fs->sync_wanted && !fs->syncer_stop)
			pthread_cond_wait(&fs->req_cond, &fs->req_lock);
		stop = fs->syncer_stop && !fs->sync_wanted;
		fs->sync_wanted = false;
		pthread_mutex_unlock(&fs->req_lock);
		if (stop)
			return NULL;
		pthread_mutex_lock(&fs->fd_lock);
		if (fs->fd >= 0 && fdatasync(fs->fd) < 0)
			dup_count(&fs->base.stats.io_errors, 1);
		pthread_mutex_unlock(&fs->fd_lock);
	}
}

static void syncer_ask(struct file_store *fs, bool stop)
{
	pthread_mutex_lock(&fs->req_lock);
	if (stop)
		fs->syncer_stop = true;
	else
		fs->sync_wanted = true;
	pthread_cond_signal(&fs->req_cond);
	pthread_mutex_unlock(&fs->req_lock);
}

static int fs_load(struct dup_store *s, char *err, size_t errlen)
{
	struct file_store *fs = fs_of(s);
	struct file_header h;
	uint64_t dropped = 0, corrupt = 0;
	struct stat sb;
	int rc;

	rc = lock_ledger(fs, err, errlen);
	if (rc < 0)
		return rc;
	fs->fd = open(fs->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fs->fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", fs->path, strerror(-rc));
		return rc;
	}
	if (fstat(fs->fd, &sb) < 0)
		goto io_error;
	/* Shorter than a header: created but never finished, so nothing was
	 * ever recorded in it; start it again. */
	if (sb.st_size < (off_t)sizeof(h)) {
		rc = fs_create(fs);
		if (rc < 0)
			goto failed;
	} else {
		if (pread(fs->fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
			goto io_error;
		if (!header_ok(&h)) {
			snprintf(err, errlen,
				 "%s: not a kpgate duplicate ledger, or its header"
				 " is damaged (kept as is)",
				 fs->path);
			return -EINVAL;
		}
		if (fs->fixed_key &&
		    memcmp(fs->base.key, h.key, sizeof(h.key)) != 0) {
			/* Ids made with other keys would never match ours. */
			if (sb.st_size > (off_t)sizeof(h)) {
				snprintf(err, errlen,
					 "%s: made with other hash keys than the"
					 " fleet's (kept as is; move it away to"
					 " start afresh)", fs->path);
				return -EKEYREJECTED;
			}
			rc = fs_create(fs);
		} else {
			memcpy(fs->base.key, h.key, sizeof(fs->base.key));
			rc = fs_read_records(fs, sb.st_size, &dropped, &corrupt);
		}
		if (rc < 0)
			goto failed;
	}
	dup_count(&fs->base.stats.dropped, dropped);
	dup_count(&fs->base.stats.corrupt, corrupt);
	if (dropped + corrupt > 0) {
		rc = compact(fs);
		if (rc < 0)
			goto failed;
	} else {
		/* Appends go to the end, whatever else moves the offset. */
		int fd = open(fs->path, O_WRONLY | O_APPEND | O_CLOEXEC);

		if (fd < 0)
			goto io_error;
		close(fs->fd);
		fs->fd = fd;
	}
	rc = pthread_create(&fs->syncer, NULL, syncer_main, fs);
	if (rc != 0) {
		rc = -rc;
		goto failed;
	}
	fs->syncer_running = true;
	atomic_store_explicit(&fs->base.stats.records, dup_table_count(fs->table),
			      memory_order_relaxed);
	return 0;

io_error:
	rc = -errno;
failed:
	snprintf(err, errlen, "%s: %s", fs->path, strerror(-rc));
	return rc;
}

static int fs_lookup(const struct dup_store *s, const uint64_t id[2],
		     struct dup_record *out)
{
	return dup_table_lookup(((const struct file_store *)s)->table, id, out);
}

/* Makes room by forgetting records past retention; how many went. */
static uint32_t evict(struct file_store *fs)
{
	struct keep_ctx k = { today(), fs->retention_days };
	uint32_t n;

	if (k.today == fs->full_day)
		return 0;
	n = dup_table_rebuild(fs->table, within_retention, &k);
	if (n == 0) {
		fs->full_day = k.today;
		return 0;
	}
	dup_count(&fs->base.stats.evicted, n);
	if (compact(fs) < 0)
		dup_count(&fs->base.stats.io_errors, 1);
	return n;
}

static int fs_insert(struct dup_store *s, const struct dup_record *r)
{
	struct file_store *fs = fs_of(s);
	int rc = dup_table_insert(fs->table, r);

	if (rc == -ENOSPC && evict(fs) > 0)
		rc = dup_table_insert(fs->table, r);
	if (rc == -EEXIST)
		dup_count(&s->stats.raced, 1);
	else if (rc == -ENOSPC)
		dup_count(&s->stats.table_full, 1);
	if (rc < 0)
		return rc;
	dup_count(&s->stats.inserted, 1);
	atomic_store_explicit(&s->stats.records, dup_table_count(fs->table),
			      memory_order_relaxed);

	if (fs->batch_n == fs->batch_cap) {
		uint32_t cap = fs->batch_cap ? fs->batch_cap * 2 : 64;
		struct file_record *b = realloc(fs->batch, cap * sizeof(*b));

		if (b == NULL) {
			/* In the table, so refused from now on, but not on disk. */
			dup_count(&s->stats.io_errors, 1);
			return -EIO;
		}
		fs->batch = b;
		fs->batch_cap = cap;
	}
	seal_record(&fs->batch[fs->batch_n++], r);
	return 0;
}

static void fs_flush(struct dup_store *s, bool sync)
{
	struct file_store *fs = fs_of(s);
	size_t bytes = (size_t)fs->batch_n * sizeof(struct file_record);

	if (fs->batch_n > 0) {
		if (write_all(fs->fd, fs->batch, bytes) < 0) {
			/* Cut a partial append, or every later record would
			 * sit at the wrong offset. */
			dup_count(&s->stats.io_errors, 1);
			if (ftruncate(fs->fd, fs->size) < 0)
				dup_count(&s->stats.io_errors, 1);
		} else {
			fs->size += (off_t)bytes;
			fs->unsynced = true;
		}
		fs->batch_n = 0;
	}
	if (sync && fs->unsynced) {
		syncer_ask(fs, false);
		fs->unsynced = false;
	}
}

static void fs_destroy(struct dup_store *s)
{
	struct file_store *fs = fs_of(s);

	if (fs == NULL)
		return;
	if (fs->fd >= 0)
		fs_flush(s, false);
	if (fs->syncer_running) {
		syncer_ask(fs, true);
		pthread_join(fs->syncer, NULL);
	}
	if (fs->fd >= 0) {
		if (fdatasync(fs->fd) < 0)
			dup_count(&s->stats.io_errors, 1);
		close(fs->fd);
	}
	if (fs->lock_fd >= 0)
		close(fs->lock_fd);          /* drops the flock */
	pthread_mutex_destroy(&fs->req_lock);
	pthread_mutex_destroy(&fs->fd_lock);
	pthread_cond_destroy(&fs->req_cond);
	dup_table_delete(fs->table);
	free(fs->batch);
	free(fs);
}

static void fs_each(struct dup_store *s,
		    void (*fn)(const struct dup_record *r, void *arg), void *arg)
{
	dup_table_each(fs_of(s)->table, fn, arg);
}

static const struct dup_store_ops file_ops = {
	.kind = "file",
	.load = fs_load,
	.lookup = fs_lookup,
	.insert = fs_insert,
	.flush = fs_flush,
	.destroy = fs_destroy,
	.each = fs_each,
};

struct dup_store *dup_file_store_new(const char *path, uint32_t capacity,
				     uint32_t retention_days)
{
	size_t size = (sizeof(struct file_store) + 63) & ~(size_t)63;
	struct file_store *fs = aligned_alloc(64, size);

	if (fs == NULL)
		return NULL;
	memset(fs, 0, size);
	fs->base.ops = &file_ops;
	fs->fd = -1;
	fs->lock_fd = -1;
	fs->retention_days = retention_days;
	fs->full_day = INT64_MIN;
	pthread_mutex_init(&fs->req_lock, NULL);
	pthread_mutex_init(&fs->fd_lock, NULL);
	pthread_cond_init(&fs->req_cond, NULL);
	if (snprintf(fs->path, sizeof(fs->path), "%s", path) >= (int)sizeof(fs->path) ||
	    (fs->table = dup_table_new(capacity)) == NULL) {
		free(fs);
		return NULL;
	}
	return &fs->base;
}

struct dup_store *dup_file_store_new_keyed(const char *path, uint32_t capacity,
					   uint32_t retention_days,
					   const uint64_t key[2][2])
{
	struct dup_store *s = dup_file_store_new(path, capacity, retention_days);

	if (s != NULL) {
		memcpy(s->key, key, sizeof(s->key));
		fs_of(s)->fixed_key = true;
	}
	return s;
}
