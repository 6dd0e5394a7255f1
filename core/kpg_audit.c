/* kpg_audit.c — the hash-chained audit log: record encoding, the writer
 * and the reader; see kpg_audit.h and docs/audit.md. */
#define OPENSSL_SUPPRESS_DEPRECATED      /* SHA256_Init: see struct hasher */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "kpg_audit.h"
#include "kpg_err.h"

static const uint8_t magic[8] = { 'K', 'P', 'G', 'A', 'U', 'D', 'I', 'T' };

#define HDR_LEN   (8u + KPG_AUDIT_HASH_LEN)  /* len, version, type, prev */
#define VERDICT_MAX (1u + KPG_CHECK_NAME_MAX + 1u + 4u)
/* The longest DECISION record: header, fixed fields, strings, verdicts. */
#define DECISION_MAX (HDR_LEN + 44u + 4u + KPG_KEY_ID_LEN +		\
		      1u + KPG_STATION_ID_MAX + 1u + KPG_AUDIT_NUMBER_MAX +	\
		      KPG_VERDICTS_MAX * VERDICT_MAX + KPG_AUDIT_HASH_LEN)
_Static_assert(DECISION_MAX <= KPG_AUDIT_REC_MAX, "a decision record must fit");

/* ---- little-endian fields ---------------------------------------------- */

struct out {
	uint8_t *p;
	size_t n;
};

static inline void put_u8(struct out *o, uint8_t v)
{
	o->p[o->n++] = v;
}

static inline void put_u16(struct out *o, uint16_t v)
{
	o->p[o->n++] = (uint8_t)v;
	o->p[o->n++] = (uint8_t)(v >> 8);
}

static inline void put_u32(struct out *o, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		o->p[o->n++] = (uint8_t)(v >> (8 * i));
}

static inline void put_u64(struct out *o, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		o->p[o->n++] = (uint8_t)(v >> (8 * i));
}

static inline void put_bytes(struct out *o, const void *b, size_t n)
{
	memcpy(o->p + o->n, b, n);
	o->n += n;
}

/* A string of at most max bytes, after its one-byte length. */
static inline void put_str(struct out *o, const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	put_u8(o, (uint8_t)n);
	put_bytes(o, s, n);
}

struct in {
	const uint8_t *p;
	size_t n, at;
	bool bad;                        /* ran past the end */
};

static inline const uint8_t *take(struct in *i, size_t n)
{
	const uint8_t *p = i->p + i->at;

	if (i->bad || i->n - i->at < n) {
		i->bad = true;
		return NULL;
	}
	i->at += n;
	return p;
}

static inline uint64_t get_le(struct in *i, unsigned bytes)
{
	const uint8_t *p = take(i, bytes);
	uint64_t v = 0;

	if (p == NULL)
		return 0;
	for (unsigned k = 0; k < bytes; k++)
		v |= (uint64_t)p[k] << (8 * k);
	return v;
}

static inline uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* A string of at most max bytes into out (NUL-terminated). */
static void get_str(struct in *i, char *out, size_t max)
{
	size_t n = (size_t)get_le(i, 1);
	const uint8_t *p;

	out[0] = '\0';
	if (n > max) {
		i->bad = true;
		return;
	}
	p = take(i, n);
	if (p == NULL)
		return;
	if (memchr(p, '\0', n) != NULL) {
		i->bad = true;
		return;
	}
	memcpy(out, p, n);
	out[n] = '\0';
}

/* ---- hashing ----------------------------------------------------------- */

/* The low-level SHA-256 calls: OpenSSL 3.0's EVP_DigestInit_ex2() builds a
 * new provider context on every init (one malloc per record, measured by
 * test_audit), these keep the state on the stack and use the same SHA-NI
 * code. The hasher stays as the one place that would change. */
struct hasher {
	SHA256_CTX ctx;
};

static int hasher_init(struct hasher *h)
{
	return SHA256_Init(&h->ctx) == 1 ? 0 : -EIO;
}

static void hasher_fini(struct hasher *h)
{
	(void)h;
}

static int hash(struct hasher *h, const uint8_t *p, size_t n,
		uint8_t out[KPG_AUDIT_HASH_LEN])
{
	if (SHA256_Init(&h->ctx) != 1 || SHA256_Update(&h->ctx, p, n) != 1 ||
	    SHA256_Final(out, &h->ctx) != 1)
		return -EIO;
	return 0;
}

/* ---- encoding ------------------------------------------------------------ */

static void begin(struct out *o, uint16_t type, const uint8_t *prev)
{
	o->n = 4;                        /* the length goes in at the end */
	put_u16(o, KPG_AUDIT_VERSION);
	put_u16(o, type);
	put_bytes(o, prev, KPG_AUDIT_HASH_LEN);
}

/* Writes the length, appends the hash; returns the record's length. */
static int finish(struct out *o, struct hasher *h, uint8_t hash_out[KPG_AUDIT_HASH_LEN])
{
	uint32_t len = (uint32_t)(o->n + KPG_AUDIT_HASH_LEN);
	struct out l = { o->p, 0 };

	put_u32(&l, len);
	if (hash(h, o->p, o->n, o->p + o->n) < 0)
		return -EIO;
	memcpy(hash_out, o->p + o->n, KPG_AUDIT_HASH_LEN);
	o->n += KPG_AUDIT_HASH_LEN;
	return (int)len;
}

static int encode_decision(struct out *o, struct hasher *h, const uint8_t *prev,
			   const struct kpg_audit_rec *r, uint8_t out_hash[KPG_AUDIT_HASH_LEN])
{
	static const uint8_t no_key[KPG_KEY_ID_LEN];

	if (r->n_verdicts > KPG_VERDICTS_MAX || r->lcore >= KPG_AUDIT_LCORES)
		return -EINVAL;
	begin(o, KPG_AUDIT_DECISION, prev);
	put_u32(o, r->lcore);
	put_u64(o, r->seq);
	put_u64(o, (uint64_t)r->time);
	put_u64(o, r->request_id);
	put_u64(o, r->trust_version);
	put_u8(o, r->decision);
	put_u8(o, r->error);
	put_u8(o, r->has_key ? 1 : 0);
	put_u8(o, r->n_verdicts);
	put_bytes(o, r->has_key ? r->key_id : no_key, KPG_KEY_ID_LEN);
	put_str(o, r->station, KPG_STATION_ID_MAX);
	put_str(o, r->cert_number, KPG_AUDIT_NUMBER_MAX);
	for (unsigned i = 0; i < r->n_verdicts; i++) {
		put_str(o, r->verdicts[i].check, KPG_CHECK_NAME_MAX - 1);
		put_u8(o, r->verdicts[i].decision);
		put_u32(o, r->verdicts[i].reason);
	}
	return finish(o, h, out_hash);
}

/* ---- reading one record ------------------------------------------------ */

/* Is there a plausible, self-consistent record at p (hash included)? */
static bool record_ok(struct hasher *h, const uint8_t *p, size_t avail)
{
	uint8_t want[KPG_AUDIT_HASH_LEN];
	uint32_t len;

	if (avail < KPG_AUDIT_REC_MIN)
		return false;
	len = le32(p);
	if (len < KPG_AUDIT_REC_MIN || len > KPG_AUDIT_REC_MAX || len > avail)
		return false;
	if (hash(h, p, len - KPG_AUDIT_HASH_LEN, want) < 0)
		return false;
	return memcmp(want, p + len - KPG_AUDIT_HASH_LEN, KPG_AUDIT_HASH_LEN) == 0;
}

/* A record that fails at off is a torn tail only if nothing intact
 * follows it: one write cut short, or zeros a power loss left. An intact
 * record further on means the bad one was damaged in place. */
static bool torn_tail(struct hasher *h, const uint8_t *buf, size_t len, size_t off)
{
	for (size_t q = off + 1; q + KPG_AUDIT_REC_MIN <= len; q++)
		if (record_ok(h, buf + q, len - q))
			return false;
	return true;
}

static void decode_body(struct in *i, struct kpg_audit_item *it)
{
	switch (it->type) {
	case KPG_AUDIT_HEADER: {
		const uint8_t *m = take(i, sizeof(magic));

		if (m && memcmp(m, magic, sizeof(magic)) != 0)
			i->bad = true;
		it->header.created = (int64_t)get_le(i, 8);
		get_str(i, it->header.id, KPG_AUDIT_ID_MAX);
		break;
	}
	case KPG_AUDIT_OPEN:
		it->open.time = (int64_t)get_le(i, 8);
		it->open.flags = (uint8_t)get_le(i, 1);
		it->open.torn_offset = get_le(i, 8);
		it->open.torn_bytes = get_le(i, 8);
		break;
	case KPG_AUDIT_CLOSE:
		it->close.time = (int64_t)get_le(i, 8);
		it->close.decisions = get_le(i, 8);
		break;
	case KPG_AUDIT_DECISION: {
		struct kpg_audit_rec *r = &it->decision;
		const uint8_t *k;

		r->lcore = (uint32_t)get_le(i, 4);
		r->seq = get_le(i, 8);
		r->time = (int64_t)get_le(i, 8);
		r->request_id = get_le(i, 8);
		r->trust_version = get_le(i, 8);
		r->decision = (uint8_t)get_le(i, 1);
		r->error = (uint8_t)get_le(i, 1);
		r->has_key = get_le(i, 1) != 0;
		r->n_verdicts = (uint8_t)get_le(i, 1);
		k = take(i, KPG_KEY_ID_LEN);
		if (k)
			memcpy(r->key_id, k, KPG_KEY_ID_LEN);
		get_str(i, r->station, KPG_STATION_ID_MAX);
		get_str(i, r->cert_number, KPG_AUDIT_NUMBER_MAX);
		if (r->n_verdicts > KPG_VERDICTS_MAX || r->decision >= KPG_DECISION__COUNT) {
			i->bad = true;
			break;
		}
		for (unsigned v = 0; v < r->n_verdicts && !i->bad; v++) {
			get_str(i, r->verdicts[v].check, KPG_CHECK_NAME_MAX - 1);
			r->verdicts[v].decision = (uint8_t)get_le(i, 1);
			r->verdicts[v].reason = (uint32_t)get_le(i, 4);
		}
		break;
	}
	}
}

const char *kpg_audit_type_name(uint16_t type)
{
	switch (type) {
	case KPG_AUDIT_HEADER: return "header";
	case KPG_AUDIT_OPEN: return "open";
	case KPG_AUDIT_CLOSE: return "close";
	case KPG_AUDIT_DECISION: return "decision";
	}
	return "unknown";
}

/* ---- the walk ------------------------------------------------------------ */

static void set_break(struct kpg_audit_summary *s, enum kpg_audit_status st,
		uint64_t index, uint64_t off, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void set_break(struct kpg_audit_summary *s, enum kpg_audit_status st,
		uint64_t index, uint64_t off, const char *fmt, ...)
{
	va_list ap;

	s->status = st;
	s->break_index = index;
	s->break_offset = off;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

/* Sequence rules of a DECISION record; false (with the break set) when its
 * seq does not rise above its lcore's last. Gaps are records lost, not a
 * break: async mode drops records when its ring is full, and says so. */
static bool seq_ok(struct kpg_audit_summary *s, const struct kpg_audit_item *it)
{
	const struct kpg_audit_rec *r = &it->decision;
	struct kpg_audit_lcore_seq *q;

	if (r->lcore >= KPG_AUDIT_LCORES) {
		set_break(s, KPG_AUDIT_BROKEN, it->index, it->offset,
		    "record %" PRIu64 " names lcore %u, beyond %u", it->index,
		    r->lcore, KPG_AUDIT_LCORES - 1);
		return false;
	}
	q = &s->lcore[r->lcore];
	if (q->count && r->seq <= q->last) {
		set_break(s, KPG_AUDIT_BROKEN, it->index, it->offset,
		    "record %" PRIu64 ": lcore %u sequence goes back from %" PRIu64
		    " to %" PRIu64, it->index, r->lcore, q->last, r->seq);
		return false;
	}
	if (r->seq == 0) {
		set_break(s, KPG_AUDIT_BROKEN, it->index, it->offset,
		    "record %" PRIu64 ": lcore %u sequence 0 (they start at 1)",
		    it->index, r->lcore);
		return false;
	}
	if (q->count == 0) {
		q->first = r->seq;
		s->n_lcores++;
		q->missing = r->seq - 1;
	} else {
		q->missing += r->seq - q->last - 1;
	}
	q->last = r->seq;
	q->count++;
	return true;
}

int kpg_audit_walk(const uint8_t *buf, size_t len,
		   int (*each)(void *arg, const struct kpg_audit_item *it),
		   void *arg, struct kpg_audit_summary *s)
{
	static const uint8_t zeros[KPG_AUDIT_HASH_LEN];
	uint8_t prev[KPG_AUDIT_HASH_LEN] = { 0 };
	struct kpg_audit_item *it = malloc(sizeof(*it));
	struct hasher h;
	size_t off = 0;
	uint64_t index = 0;

	memset(s, 0, sizeof(*s));
	s->file_bytes = len;
	if (it == NULL || hasher_init(&h) < 0) {
		free(it);
		return -ENOMEM;
	}
	while (off < len) {
		const uint8_t *p = buf + off;
		size_t avail = len - off;
		uint32_t rlen = avail >= 4 ? le32(p) : 0;
		struct in in;

		if (avail < KPG_AUDIT_REC_MIN || rlen < KPG_AUDIT_REC_MIN ||
		    rlen > KPG_AUDIT_REC_MAX || rlen > avail ||
		    !record_ok(&h, p, avail)) {
			bool torn = torn_tail(&h, buf, len, off);
			const char *what;

			if (avail < 4 || (rlen >= KPG_AUDIT_REC_MIN &&
					  rlen <= KPG_AUDIT_REC_MAX && rlen > avail))
				what = "runs past the end of the file";
			else if (rlen < KPG_AUDIT_REC_MIN || rlen > KPG_AUDIT_REC_MAX)
				what = "has an impossible length";
			else
				what = "does not match its hash (altered)";
			set_break(s, torn ? KPG_AUDIT_TORN : KPG_AUDIT_BROKEN, index, off,
			    "record %" PRIu64 " at offset %zu %s%s", index, off, what,
			    torn ? ": torn tail, nothing intact follows" : "");
			break;
		}
		memset(it, 0, sizeof(*it));
		it->index = index;
		it->offset = off;
		it->len = rlen;
		it->version = (uint16_t)(p[4] | p[5] << 8);
		it->type = (uint16_t)(p[6] | p[7] << 8);
		it->hash = p + rlen - KPG_AUDIT_HASH_LEN;
		if (memcmp(p + 8, prev, KPG_AUDIT_HASH_LEN) != 0) {
			set_break(s, KPG_AUDIT_BROKEN, index, off,
			    "record %" PRIu64 " at offset %zu: its previous-record hash "
			    "is not that of record %" PRIu64 " (a record was altered, "
			    "removed or inserted)", index, off, index ? index - 1 : 0);
			if (index == 0 && memcmp(p + 8, zeros, KPG_AUDIT_HASH_LEN) != 0)
				snprintf(s->why, sizeof(s->why), "record 0: the header's "
					 "previous-record hash is not zero (the start of "
					 "the log was cut off)");
			break;
		}
		if ((index == 0) != (it->type == KPG_AUDIT_HEADER)) {
			set_break(s, KPG_AUDIT_BROKEN, index, off, index == 0 ?
			    "record 0 is not a log header: not a kpgate audit log" :
			    "record %" PRIu64 " at offset %zu is a second log header",
			    index, off);
			break;
		}
		if (it->version != KPG_AUDIT_VERSION ||
		    it->type < KPG_AUDIT_HEADER || it->type > KPG_AUDIT_DECISION) {
			/* Hashed and chained like the rest, just newer than us. */
			if (index == 0) {
				set_break(s, KPG_AUDIT_BROKEN, 0, 0, "log header of version %u, "
				    "this reader knows %u", it->version, KPG_AUDIT_VERSION);
				break;
			}
			s->unknown++;
		} else {
			in = (struct in){ p, rlen - KPG_AUDIT_HASH_LEN, HDR_LEN, false };
			decode_body(&in, it);
			if (in.bad || in.at != in.n) {
				set_break(s, KPG_AUDIT_BROKEN, index, off,
				    "record %" PRIu64 " at offset %zu: %s body is malformed",
				    index, off, kpg_audit_type_name(it->type));
				break;
			}
			switch (it->type) {
			case KPG_AUDIT_HEADER:
				memcpy(s->gateway_id, it->header.id, sizeof(s->gateway_id));
				s->created = it->header.created;
				break;
			case KPG_AUDIT_OPEN:
				s->opens++;
				break;
			case KPG_AUDIT_CLOSE:
				s->closes++;
				break;
			case KPG_AUDIT_DECISION:
				if (!seq_ok(s, it))
					goto out;
				s->decisions++;
				s->decisions_by[it->decision.decision]++;
				break;
			}
		}
		memcpy(prev, it->hash, KPG_AUDIT_HASH_LEN);
		memcpy(s->last_hash, it->hash, KPG_AUDIT_HASH_LEN);
		s->last_type = it->type;
		s->records++;
		off += rlen;
		s->good_bytes = off;
		index++;
		if (each && each(arg, it) != 0)
			break;
	}
out:
	hasher_fini(&h);
	free(it);
	return 0;
}

int kpg_audit_walk_file(const char *path,
			int (*each)(void *arg, const struct kpg_audit_item *it),
			void *arg, struct kpg_audit_summary *s,
			char *err, size_t errlen)
{
	struct stat st;
	void *map = NULL;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		kpg_errf(err, errlen, "%s: cannot open: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		kpg_errf(err, errlen, "%s: %s", path, strerror(-rc));
		close(fd);
		return rc;
	}
	if (st.st_size > 0) {
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			rc = -errno;
			kpg_errf(err, errlen, "%s: cannot map: %s", path, strerror(-rc));
			close(fd);
			return rc;
		}
	}
	close(fd);
	rc = kpg_audit_walk(map ? map : "", (size_t)st.st_size, each, arg, s);
	if (map)
		munmap(map, (size_t)st.st_size);
	if (rc < 0)
		kpg_errf(err, errlen, "%s: out of memory", path);
	return rc;
}

/* ---- the writer ------------------------------------------------------------ */

struct kpg_audit_log {
	int fd;
	uint64_t size;                   /* bytes, all of them intact records */
	uint8_t last_hash[KPG_AUDIT_HASH_LEN];
	uint64_t last_seq[KPG_AUDIT_LCORES];
	uint64_t decisions;              /* appended since open */
	unsigned batch_max;
	uint8_t *buf;                    /* batch_max records, encoded */
	struct { uint32_t lcore; uint64_t seq; } *undo;  /* batch_max */
	struct hasher h;
};

/* All of buf at offset off, or -errno. */
static int write_all(int fd, const uint8_t *buf, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, buf, n, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		buf += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Appends encoded bytes, or cuts a failed write back off so the file
 * stays a chain of intact records. */
static int commit(struct kpg_audit_log *l, const uint8_t *buf, size_t n)
{
	int rc = write_all(l->fd, buf, n, l->size);

	if (rc < 0) {
		if (ftruncate(l->fd, (off_t)l->size) < 0)
			return -EIO;         /* the log now ends torn: reopen cuts it */
		return rc;
	}
	l->size += n;
	return 0;
}

static int append_open(struct kpg_audit_log *l, int64_t now, uint8_t flags,
		       uint64_t torn_off, uint64_t torn_bytes)
{
	uint8_t h[KPG_AUDIT_HASH_LEN];
	struct out o = { l->buf, 0 };
	int rc;

	begin(&o, KPG_AUDIT_OPEN, l->last_hash);
	put_u64(&o, (uint64_t)now);
	put_u8(&o, flags);
	put_u64(&o, torn_off);
	put_u64(&o, torn_bytes);
	if ((rc = finish(&o, &l->h, h)) < 0 || (rc = commit(l, o.p, o.n)) < 0)
		return rc;
	memcpy(l->last_hash, h, sizeof(h));
	return 0;
}

static int append_header(struct kpg_audit_log *l, const char *id, int64_t now)
{
	static const uint8_t zeros[KPG_AUDIT_HASH_LEN];
	uint8_t h[KPG_AUDIT_HASH_LEN];
	struct out o = { l->buf, 0 };
	int rc;

	begin(&o, KPG_AUDIT_HEADER, zeros);
	put_bytes(&o, magic, sizeof(magic));
	put_u64(&o, (uint64_t)now);
	put_str(&o, id, KPG_AUDIT_ID_MAX);
	if ((rc = finish(&o, &l->h, h)) < 0 || (rc = commit(l, o.p, o.n)) < 0)
		return rc;
	memcpy(l->last_hash, h, sizeof(h));
	return 0;
}

/* A new name in a directory is durable once the directory is synced. */
static int fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, rc = 0;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* The bytes a torn tail held, kept beside the log before they are cut:
 * evidence is never thrown away, even when it is only half a record. */
static int keep_torn(const char *path, int fd, uint64_t off, uint64_t n,
		     char *copy, size_t cap)
{
	uint8_t *b = malloc(n ? n : 1);
	int out, rc = 0;

	if (b == NULL)
		return -ENOMEM;
	if (pread(fd, b, n, (off_t)off) != (ssize_t)n) {
		free(b);
		return -EIO;
	}
	/* A second crash at the same offset gets a name of its own. */
	out = -1;
	for (unsigned k = 0; k < 1000 && out < 0; k++) {
		if (k == 0)
			snprintf(copy, cap, "%s.torn-%" PRIu64, path, off);
		else
			snprintf(copy, cap, "%s.torn-%" PRIu64 ".%u", path, off, k);
		out = open(copy, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (out < 0 && errno != EEXIST)
			break;
	}
	if (out < 0 || write_all(out, b, n, 0) < 0 || fsync(out) < 0 ||
	    fsync_dir_of(copy) < 0)
		rc = -EIO;
	if (out >= 0)
		close(out);
	free(b);
	return rc;
}

/* Each lcore's last seq, while kpg_audit_open() walks the log. */
static int scan_each(void *arg, const struct kpg_audit_item *it)
{
	struct kpg_audit_log *l = arg;

	if (it->type == KPG_AUDIT_DECISION)
		l->last_seq[it->decision.lcore] = it->decision.seq;
	return 0;
}

void kpg_audit_abandon(struct kpg_audit_log *l)
{
	if (l == NULL)
		return;
	if (l->fd >= 0)
		close(l->fd);                /* releases the lock too */
	hasher_fini(&l->h);
	free(l->undo);
	free(l->buf);
	free(l);
}

struct kpg_audit_log *kpg_audit_open(const char *path, const char *gateway_id,
				     unsigned batch_max, int64_t now,
				     struct kpg_audit_open_info *info,
				     char *err, size_t errlen)
{
	struct kpg_audit_summary *s = NULL;
	struct kpg_audit_log *l;
	struct stat st;
	void *map = NULL;
	uint8_t flags = 0;
	int rc;

	memset(info, 0, sizeof(*info));
	if (batch_max == 0 || strlen(gateway_id) > KPG_AUDIT_ID_MAX) {
		kpg_errf(err, errlen, "%s: batch of 0, or gateway id over %u bytes",
			 path, KPG_AUDIT_ID_MAX);
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	s = malloc(sizeof(*s));
	if (l == NULL || s == NULL)
		goto nomem;
	l->fd = -1;
	l->batch_max = batch_max;
	l->buf = malloc((size_t)batch_max * KPG_AUDIT_REC_MAX);
	l->undo = malloc(sizeof(*l->undo) * batch_max);
	if (l->buf == NULL || l->undo == NULL || hasher_init(&l->h) < 0)
		goto nomem;

	l->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (l->fd < 0) {
		kpg_errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		goto fail;
	}
	if (flock(l->fd, LOCK_EX | LOCK_NB) < 0) {
		kpg_errf(err, errlen, "%s: in use by another process (%s)", path,
			 strerror(errno));
		goto fail;
	}
	if (fstat(l->fd, &st) < 0) {
		kpg_errf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (st.st_size > 0) {
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, l->fd, 0);
		if (map == MAP_FAILED) {
			kpg_errf(err, errlen, "%s: cannot map: %s", path, strerror(errno));
			goto fail;
		}
		rc = kpg_audit_walk(map, (size_t)st.st_size, scan_each, l, s);
		munmap(map, (size_t)st.st_size);
		if (rc < 0)
			goto nomem;
		if (s->status == KPG_AUDIT_BROKEN) {
			kpg_errf(err, errlen, "%s: the chain breaks: %s; kpgate does not "
				 "append to a broken log (keep it as evidence, move it "
				 "away to start a new one)", path, s->why);
			goto fail;
		}
		if (s->records > 0 && strcmp(s->gateway_id, gateway_id) != 0) {
			kpg_errf(err, errlen, "%s: the log of gateway \"%s\", not of "
				 "\"%s\"", path, s->gateway_id, gateway_id);
			goto fail;
		}
		info->records = s->records;
		info->decisions = s->decisions;
		if (s->status == KPG_AUDIT_TORN) {
			info->torn_offset = s->good_bytes;
			info->torn_bytes = s->file_bytes - s->good_bytes;
			if (keep_torn(path, l->fd, info->torn_offset, info->torn_bytes,
				      info->torn_copy, sizeof(info->torn_copy)) < 0 ||
			    ftruncate(l->fd, (off_t)s->good_bytes) < 0 ||
			    fsync(l->fd) < 0) {
				kpg_errf(err, errlen, "%s: cannot cut the torn tail at "
					 "offset %" PRIu64 ": %s", path, info->torn_offset,
					 strerror(errno ? errno : EIO));
				goto fail;
			}
			flags |= KPG_AUDIT_OPEN_TORN;
		}
		l->size = s->good_bytes;
		memcpy(l->last_hash, s->last_hash, sizeof(l->last_hash));
		if (s->records > 0 && s->last_type != KPG_AUDIT_CLOSE) {
			info->unclean = true;
			flags |= KPG_AUDIT_OPEN_UNCLEAN;
		}
	}
	if (l->size == 0) {
		/* New, empty, or only a torn header. */
		info->created = true;
		if ((rc = append_header(l, gateway_id, now)) < 0) {
			kpg_errf(err, errlen, "%s: cannot write the header: %s", path,
				 strerror(-rc));
			goto fail;
		}
	}
	if ((rc = append_open(l, now, flags, info->torn_offset, info->torn_bytes)) < 0 ||
	    (rc = kpg_audit_sync(l)) < 0 ||
	    (info->created && (rc = fsync_dir_of(path)) < 0)) {
		kpg_errf(err, errlen, "%s: cannot write: %s", path, strerror(-rc));
		goto fail;
	}
	free(s);
	return l;
nomem:
	kpg_errf(err, errlen, "%s: out of memory", path);
fail:
	free(s);
	kpg_audit_abandon(l);
	return NULL;
}

int kpg_audit_append(struct kpg_audit_log *l,
		     const struct kpg_audit_rec *const *recs, unsigned n)
{
	uint8_t prev[KPG_AUDIT_HASH_LEN];
	struct out o = { l->buf, 0 };
	unsigned i;
	int rc = 0;

	if (n > l->batch_max)
		return -E2BIG;
	if (n == 0)
		return 0;
	memcpy(prev, l->last_hash, sizeof(prev));
	for (i = 0; i < n; i++) {
		const struct kpg_audit_rec *r = recs[i];
		struct out one = { l->buf + o.n, 0 };

		if (r->lcore >= KPG_AUDIT_LCORES || r->seq <= l->last_seq[r->lcore]) {
			rc = -ERANGE;
			break;
		}
		int k = encode_decision(&one, &l->h, prev, r, prev);

		if (k < 0) {
			rc = k;
			break;
		}
		o.n += one.n;
		l->undo[i].lcore = r->lcore;
		l->undo[i].seq = l->last_seq[r->lcore];
		l->last_seq[r->lcore] = r->seq;
	}
	if (rc == 0)
		rc = commit(l, o.p, o.n);
	if (rc < 0) {
		while (i-- > 0)
			l->last_seq[l->undo[i].lcore] = l->undo[i].seq;
		return rc;
	}
	memcpy(l->last_hash, prev, sizeof(prev));
	l->decisions += n;
	return 0;
}

int kpg_audit_sync(struct kpg_audit_log *l)
{
	return fdatasync(l->fd) < 0 ? -errno : 0;
}

uint64_t kpg_audit_last_seq(const struct kpg_audit_log *l, uint32_t lcore)
{
	return lcore < KPG_AUDIT_LCORES ? l->last_seq[lcore] : 0;
}

uint64_t kpg_audit_size(const struct kpg_audit_log *l)
{
	return l->size;
}

int kpg_audit_close(struct kpg_audit_log *l, int64_t now)
{
	uint8_t h[KPG_AUDIT_HASH_LEN];
	struct out o = { l->buf, 0 };
	int rc;

	begin(&o, KPG_AUDIT_CLOSE, l->last_hash);
	put_u64(&o, (uint64_t)now);
	put_u64(&o, l->decisions);
	if ((rc = finish(&o, &l->h, h)) > 0 && (rc = commit(l, o.p, o.n)) == 0)
		rc = kpg_audit_sync(l);
	kpg_audit_abandon(l);
	return rc;
}
