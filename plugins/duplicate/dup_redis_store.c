/* dup_redis_store.c — the consumed-certificate ledger shared by a fleet of
 * gateways through Redis (or Valkey), with the embedded file store as its
 * local layer: every lookup reads it, and it survives restarts, so a
 * gateway cut off from Redis keeps what it knew.
 *
 * Workers never wait on Redis: they read the local layer's lock-free
 * table and one flag saying whether it is in step with the fleet. A
 * thread of this store ("kpg-dup-redis") does all the talking, on two
 * connections:
 *   - commands: each consumption the owner thread records here is pushed
 *     as EVALSHA of a script doing SET key record NX EXAT end-of-retention
 *     and, only when it set the key, XADD stream MAXLEN ~ n * record; one
 *     script, so no consumption is in the keyspace without its stream
 *     entry. A push that finds the key taken gets the record in place:
 *     another gateway accepted the certificate first (fleet_raced);
 *   - pull: XREAD BLOCK on the stream from the last entry read; other
 *     gateways' records go into the local layer as they arrive.
 * A stream rather than pub/sub: a stream keeps what was written, in
 * order, so after a short outage the pull resumes from the last entry it
 * read and misses nothing; pub/sub delivers at most once, and every
 * reconnection would need a SCAN of the fleet's whole ledger.
 *
 * Each (re)connection catches up before the store says it is in step:
 * it pushes what was consumed here meanwhile (everything held, at the
 * first connection of the process, after the backlog overflowed, or when
 * Redis lost its data, which a new epoch key tells), then pulls the
 * stream from the last entry read, or everything (SCAN) at the first
 * connection, after an epoch change, or when the stream was trimmed past
 * that entry. Lost connections are retried with a doubling, jittered
 * backoff up to retry_max_ms.
 *
 * Keys under the prefix P: P:c:<32 hex digits of the id> holds a record
 * (a version byte and the 128-byte record, integers little-endian),
 * P:stream the stream (field "r", the same value), P:epoch a random value
 * set by the first gateway to meet an empty Redis, P:keyid a keyed hash
 * of the fleet's hash keys, so a gateway configured with other keys (its
 * ids would never match) stays apart and says so (key_mismatch).
 *
 * The local layer has two writers here, the owner thread (local
 * consumptions) and this store's thread (pulled ones): local_lock makes
 * them take turns; lookups still take no lock.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "dup_hash.h"
#include "dup_store.h"

#define VALUE_VERSION  1
#define VALUE_LEN      (1 + sizeof(struct dup_record))
#define PUSH_BATCH     256               /* commands per round trip */
#define PULL_COUNT     256               /* stream entries per XREAD */
#define SCAN_COUNT     512               /* keys per SCAN step */
#define EPOCH_CHECK_MS 5000              /* Redis flushed while connected? */
#define RETRY_MIN_MS   50
#define FIRST_WAIT_MS  10000             /* load waits for the first catch-up */
#define KEY_MAX        (sizeof(((struct dup_redis_conf *)0)->prefix) + 40)
#define STREAM_ID_MAX  48
#define EPOCH_MAX      64

enum { FLEET_DOWN, FLEET_UP };

/* KEYS: record, stream. ARGV: value, expire-at (Unix s, "0": never),
 * stream length kept. 1 when set, else the value in place. */
static const char push_script[] =
	"local ok\n"
	"if ARGV[2] == '0' then\n"
	"  ok = redis.call('SET', KEYS[1], ARGV[1], 'NX')\n"
	"else\n"
	"  ok = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EXAT', ARGV[2])\n"
	"end\n"
	"if ok then\n"
	"  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'r', ARGV[1])\n"
	"  return 1\n"
	"end\n"
	"return redis.call('GET', KEYS[1])\n";

struct redis_counters {
	_Atomic uint64_t unreachable;    /* connections lost or not made */
	_Atomic uint64_t sessions;       /* catch-ups done: in step again */
	_Atomic uint64_t pushed;         /* our consumptions new to Redis */
	_Atomic uint64_t pulled;         /* others' consumptions new here */
	_Atomic uint64_t fleet_raced;    /* ours, but another gateway's first */
	_Atomic uint64_t backlog;        /* ours waiting for Redis */
	_Atomic uint64_t full_pushes;    /* everything held pushed again */
	_Atomic uint64_t full_pulls;     /* the fleet's whole ledger read */
	_Atomic uint64_t bad_values;     /* values in Redis that are no record */
	_Atomic uint64_t redis_errors;   /* error replies */
	_Atomic uint64_t key_mismatch;   /* 1 while the fleet has other keys */
	_Atomic uint64_t catchup_us;     /* how long the last catch-up took */
};

struct redis_store {
	struct dup_store base;
	/* What workers read, on a cache line of its own: the counters and
	 * locks below are written all the time by the two threads. */
	_Alignas(64) struct dup_store *local;  /* the file store: lookups, durability */
	_Atomic int fleet;               /* FLEET_UP: the local layer is in step */

	_Alignas(64) struct dup_redis_conf conf;
	uint32_t retention_days, capacity;
	pthread_mutex_t local_lock;      /* local's writers take turns */

	/* Our consumptions not yet in Redis: the owner appends, the thread
	 * takes the lot. Bounded by capacity; beyond it, out_lost asks for
	 * a push of everything held, which carries them too. */
	pthread_mutex_t out_lock;
	struct dup_record *out;
	uint32_t out_n, out_cap;
	bool out_lost;
	int wake_fd;                     /* eventfd: records to push, or stop */

	struct redis_counters c;

	pthread_t thread;
	bool running;
	atomic_bool stop;
	pthread_mutex_t first_lock;      /* load waits for the first attempt */
	pthread_cond_t first_cond;
	bool first_done;

	/* The thread's own. */
	redisContext *cmd, *sub;         /* commands; the blocking XREAD */
	struct dup_record *taken;        /* the backlog being pushed */
	uint32_t taken_cap;
	char sha[48];                    /* of push_script, loaded per session */
	char last_id[STREAM_ID_MAX];     /* the stream entry read last */
	char epoch[EPOCH_MAX];           /* the fleet's epoch when last in step */
	char keyid[24];
	char k_stream[KEY_MAX], k_epoch[KEY_MAX], k_keyid[KEY_MAX];
	char k_match[KEY_MAX];
};

static struct redis_store *rs_of(const struct dup_store *s)
{
	return (struct redis_store *)s;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool stopping(const struct redis_store *rs)
{
	return atomic_load_explicit(&rs->stop, memory_order_acquire);
}

/* ---- records as Redis keeps them --------------------------------------- */

static void put_le(unsigned char *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> 8 * i);
}

static uint64_t get_le(const unsigned char *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << 8 * i;
	return v;
}

#define AT(field) (1 + offsetof(struct dup_record, field))

/* Little-endian whatever the host, so gateways of any kind share it. */
static void encode(const struct dup_record *r, unsigned char v[VALUE_LEN])
{
	v[0] = VALUE_VERSION;
	put_le(v + AT(id), r->id[0], 8);
	put_le(v + AT(id) + 8, r->id[1], 8);
	put_le(v + AT(digest), r->digest[0], 8);
	put_le(v + AT(digest) + 8, r->digest[1], 8);
	put_le(v + AT(consumed_at), (uint64_t)r->consumed_at, 8);
	put_le(v + AT(expiry_day), (uint32_t)r->expiry_day, 4);
	memcpy(v + AT(participant), r->participant, sizeof(r->participant));
	memcpy(v + AT(number), r->number, sizeof(r->number));
	memcpy(v + AT(checkpoint), r->checkpoint, sizeof(r->checkpoint));
	memcpy(v + AT(station), r->station, sizeof(r->station));
}

static bool decode(const char *p, size_t n, struct dup_record *r)
{
	const unsigned char *v = (const unsigned char *)p;

	if (n != VALUE_LEN || v[0] != VALUE_VERSION)
		return false;
	r->id[0] = get_le(v + AT(id), 8);
	r->id[1] = get_le(v + AT(id) + 8, 8);
	r->digest[0] = get_le(v + AT(digest), 8);
	r->digest[1] = get_le(v + AT(digest) + 8, 8);
	r->consumed_at = (int64_t)get_le(v + AT(consumed_at), 8);
	r->expiry_day = (int32_t)(uint32_t)get_le(v + AT(expiry_day), 4);
	memcpy(r->participant, v + AT(participant), sizeof(r->participant));
	memcpy(r->number, v + AT(number), sizeof(r->number));
	memcpy(r->checkpoint, v + AT(checkpoint), sizeof(r->checkpoint));
	memcpy(r->station, v + AT(station), sizeof(r->station));
	return r->id[0] != 0;            /* 0 would be a free slot here */
}

static void record_key(const struct redis_store *rs, const uint64_t id[2],
		       char key[KEY_MAX])
{
	snprintf(key, KEY_MAX, "%s:c:%016" PRIx64 "%016" PRIx64, rs->conf.prefix,
		 id[0], id[1]);
}

/* Redis forgets a record when this gateway's retention would. */
static void expire_at(const struct redis_store *rs, const struct dup_record *r,
		      char out[24])
{
	if (r->expiry_day == INT32_MAX)
		snprintf(out, 24, "0");
	else
		snprintf(out, 24, "%" PRId64,
			 ((int64_t)r->expiry_day + rs->retention_days + 1) * 86400);
}

/* "1718000000000-3" -> its two numbers; false when it is not one. */
static bool stream_id(const char *s, uint64_t *ms, uint64_t *seq)
{
	char *end;

	*ms = strtoull(s, &end, 10);
	if (*end != '-')
		return false;
	*seq = strtoull(end + 1, &end, 10);
	return *end == '\0';
}

static bool stream_id_after(const char *a, const char *b)
{
	uint64_t am, as, bm, bs;

	if (!stream_id(a, &am, &as) || !stream_id(b, &bm, &bs))
		return true;             /* in doubt, read everything */
	return am > bm || (am == bm && as > bs);
}

/* ---- the local layer ----------------------------------------------------- */

/* The local layer's counters are the store's, races with other gateways
 * added: what the plugin reports. Under local_lock. */
static void mirror(struct redis_store *rs)
{
	const struct dup_store_stats *l = &rs->local->stats;
	struct dup_store_stats *b = &rs->base.stats;

#define COPY(f) atomic_store_explicit(&b->f, dup_read(&l->f), memory_order_relaxed)
	COPY(records);
	COPY(inserted);
	COPY(evicted);
	COPY(table_full);
	COPY(io_errors);
	COPY(loaded);
	COPY(dropped);
	COPY(corrupt);
	COPY(truncated);
#undef COPY
	atomic_store_explicit(&b->raced, dup_read(&l->raced) +
			      dup_read(&rs->c.fleet_raced), memory_order_relaxed);
}

/* Records of other gateways into the local layer: those it lacks. */
static void apply(struct redis_store *rs, const struct dup_record *recs,
		  uint32_t n)
{
	struct dup_record have;
	uint32_t added = 0;

	if (n == 0)
		return;
	pthread_mutex_lock(&rs->local_lock);
	for (uint32_t i = 0; i < n; i++)
		if (rs->local->ops->lookup(rs->local, recs[i].id, &have) != 1 &&
		    rs->local->ops->insert(rs->local, &recs[i]) == 0)
			added++;
	rs->local->ops->flush(rs->local, true);
	mirror(rs);
	pthread_mutex_unlock(&rs->local_lock);
	dup_count(&rs->c.pulled, added);
}

struct snapshot {
	struct dup_record *r;
	uint32_t n, cap;
	int64_t oldest_day;              /* expiries before it are forgotten */
};

static void snapshot_one(const struct dup_record *r, void *arg)
{
	struct snapshot *sn = arg;

	/* Past retention the local table keeps a record only until it
	 * needs the room: no use giving it back to the fleet. */
	if (sn->n < sn->cap && r->expiry_day >= sn->oldest_day)
		sn->r[sn->n++] = *r;
}

/* Everything the local layer holds, for a full push. */
static int snapshot(struct redis_store *rs, struct snapshot *sn)
{
	sn->oldest_day = time(NULL) / 86400 - rs->retention_days;
	pthread_mutex_lock(&rs->local_lock);
	sn->cap = (uint32_t)dup_read(&rs->local->stats.records) + 1;
	sn->n = 0;
	sn->r = malloc((size_t)sn->cap * sizeof(*sn->r));
	if (sn->r != NULL)
		rs->local->ops->each(rs->local, snapshot_one, sn);
	pthread_mutex_unlock(&rs->local_lock);
	return sn->r ? 0 : -ENOMEM;
}

/* ---- the backlog --------------------------------------------------------- */

static int out_reserve(struct redis_store *rs, uint32_t n)
{
	struct dup_record *o;
	uint32_t cap;

	if (n <= rs->out_cap)
		return 0;
	cap = rs->out_cap ? rs->out_cap : 64;
	while (cap < n)
		cap *= 2;
	o = realloc(rs->out, (size_t)cap * sizeof(*o));
	if (o == NULL)
		return -ENOMEM;
	rs->out = o;
	rs->out_cap = cap;
	return 0;
}

/* Under out_lock: recs go before what is queued (they are older). */
static void out_put(struct redis_store *rs, const struct dup_record *recs,
		    uint32_t n, bool front)
{
	if (rs->out_lost)
		return;                  /* a full push will carry them */
	if (rs->out_n + n > rs->capacity || out_reserve(rs, rs->out_n + n) < 0) {
		rs->out_lost = true;
		rs->out_n = 0;
	} else if (front) {
		memmove(rs->out + n, rs->out, (size_t)rs->out_n * sizeof(*recs));
		memcpy(rs->out, recs, (size_t)n * sizeof(*recs));
		rs->out_n += n;
	} else {
		memcpy(rs->out + rs->out_n, recs, (size_t)n * sizeof(*recs));
		rs->out_n += n;
	}
	atomic_store_explicit(&rs->c.backlog, rs->out_n, memory_order_relaxed);
}

static void requeue(struct redis_store *rs, const struct dup_record *recs,
		    uint32_t n)
{
	pthread_mutex_lock(&rs->out_lock);
	out_put(rs, recs, n, true);
	pthread_mutex_unlock(&rs->out_lock);
}

/* The thread takes the whole backlog (swapping buffers); *lost when some
 * of it was dropped and everything held must be pushed. */
static uint32_t take_backlog(struct redis_store *rs, bool *lost)
{
	struct dup_record *t;
	uint32_t n, cap;

	pthread_mutex_lock(&rs->out_lock);
	t = rs->out;
	cap = rs->out_cap;
	n = rs->out_n;
	*lost = rs->out_lost;
	rs->out = rs->taken;
	rs->out_cap = rs->taken_cap;
	rs->out_n = 0;
	rs->out_lost = false;
	atomic_store_explicit(&rs->c.backlog, 0, memory_order_relaxed);
	pthread_mutex_unlock(&rs->out_lock);
	rs->taken = t;
	rs->taken_cap = cap;
	return n;
}

static void wake(struct redis_store *rs)
{
	uint64_t one = 1;

	if (write(rs->wake_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, so the thread is awake anyway */
	}
}

static void unwake(struct redis_store *rs)
{
	uint64_t v;

	if (read(rs->wake_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing was pending */
	}
}

/* ---- talking to Redis ---------------------------------------------------- */

static struct timeval ms_tv(uint32_t ms)
{
	return (struct timeval){ ms / 1000, (long)(ms % 1000) * 1000 };
}

static redisContext *connect_redis(const struct redis_store *rs)
{
	struct timeval tv = ms_tv(rs->conf.timeout_ms);
	redisContext *c = rs->conf.socket[0] ?
			  redisConnectUnixWithTimeout(rs->conf.socket, tv) :
			  redisConnectWithTimeout(rs->conf.host, (int)rs->conf.port, tv);

	if (c == NULL)
		return NULL;
	/* Every reply is awaited at most timeout_ms: a stalled Redis is
	 * an unreachable one, never a stalled store. */
	if (c->err || redisSetTimeout(c, tv) != REDIS_OK ||
	    (!rs->conf.socket[0] && redisEnableKeepAlive(c) != REDIS_OK)) {
		redisFree(c);
		return NULL;
	}
	return c;
}

/* A reply, or NULL when the connection failed or Redis answered an error
 * (counted). */
static redisReply *checked(struct redis_store *rs, redisReply *r)
{
	if (r != NULL && r->type == REDIS_REPLY_ERROR) {
		dup_count(&rs->c.redis_errors, 1);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

static redisReply *cmdf(struct redis_store *rs, const char *fmt, ...)
{
	va_list ap;
	redisReply *r;

	va_start(ap, fmt);
	r = redisvCommand(rs->cmd, fmt, ap);
	va_end(ap);
	return checked(rs, r);
}

/* SET NX then GET: the fleet's value of key, ours if it had none. 0, or
 * -EIO; *differs when the fleet's is not want. */
static int claim(struct redis_store *rs, const char *key, const char *want,
		 char *got, size_t got_len)
{
	redisReply *r = cmdf(rs, "SET %s %s NX", key, want);

	if (r == NULL)
		return -EIO;
	freeReplyObject(r);
	r = cmdf(rs, "GET %s", key);
	if (r == NULL)
		return -EIO;
	if (r->type == REDIS_REPLY_STRING)
		snprintf(got, got_len, "%s", r->str);
	else
		snprintf(got, got_len, "%s", want);   /* deleted meanwhile */
	freeReplyObject(r);
	return 0;
}

/* The fleet's key id and epoch, and the push script: -EKEYREJECTED when
 * the fleet hashes with other keys; *fresh when the epoch is not the one
 * seen when last in step (the first connection, or Redis lost its data). */
static int handshake(struct redis_store *rs, bool *fresh, char epoch[EPOCH_MAX])
{
	char got[EPOCH_MAX], mine[40];
	uint64_t rnd[2];
	redisReply *r;
	int rc;

	rc = claim(rs, rs->k_keyid, rs->keyid, got, sizeof(got));
	if (rc < 0)
		return rc;
	if (strcmp(got, rs->keyid) != 0) {
		atomic_store(&rs->c.key_mismatch, 1);
		return -EKEYREJECTED;
	}
	atomic_store(&rs->c.key_mismatch, 0);

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -errno;
	snprintf(mine, sizeof(mine), "%016" PRIx64 "%016" PRIx64, rnd[0], rnd[1]);
	rc = claim(rs, rs->k_epoch, mine, got, sizeof(got));
	if (rc < 0)
		return rc;
	*fresh = strcmp(got, rs->epoch) != 0;
	snprintf(epoch, EPOCH_MAX, "%s", got);

	r = cmdf(rs, "SCRIPT LOAD %s", push_script);
	if (r == NULL || r->type != REDIS_REPLY_STRING) {
		if (r)
			freeReplyObject(r);
		return -EIO;
	}
	snprintf(rs->sha, sizeof(rs->sha), "%s", r->str);
	freeReplyObject(r);
	return 0;
}

/* What Redis said to one push. */
static int pushed(struct redis_store *rs, const struct dup_record *mine,
		  const redisReply *r)
{
	unsigned char v[VALUE_LEN];

	switch (r->type) {
	case REDIS_REPLY_INTEGER:
		dup_count(&rs->c.pushed, 1);
		return 0;
	case REDIS_REPLY_STRING:
		/* Ours already (pushed before a restart or a lost reply), or
		 * another gateway's: both accepted the certificate. */
		encode(mine, v);
		if (r->len != VALUE_LEN || memcmp(r->str, v, VALUE_LEN) != 0)
			dup_count(&rs->c.fleet_raced, 1);
		return 0;
	case REDIS_REPLY_NIL:
		return 0;                /* expired between SET and GET */
	default:
		dup_count(&rs->c.redis_errors, 1);
		return -EIO;
	}
}

/* Pushes n records, PUSH_BATCH a round trip. 0, or -EIO with *done the
 * records answered (the rest must be pushed again). */
static int push(struct redis_store *rs, const struct dup_record *recs,
		uint32_t n, uint32_t *done)
{
	char key[KEY_MAX], exat[24], maxlen[16];
	unsigned char v[VALUE_LEN];
	int rc = 0;

	*done = 0;
	snprintf(maxlen, sizeof(maxlen), "%u", rs->conf.stream_max);
	for (uint32_t i = 0; i < n && rc == 0; i += PUSH_BATCH) {
		uint32_t m = n - i < PUSH_BATCH ? n - i : PUSH_BATCH;

		for (uint32_t j = 0; j < m; j++) {
			const char *argv[8] = { "EVALSHA", rs->sha, "2", key,
						rs->k_stream, (const char *)v,
						exat, maxlen };
			size_t len[8];

			record_key(rs, recs[i + j].id, key);
			encode(&recs[i + j], v);
			expire_at(rs, &recs[i + j], exat);
			for (int a = 0; a < 8; a++)
				len[a] = strlen(argv[a]);
			len[5] = VALUE_LEN;
			/* hiredis formats the command at once: buffers reused */
			if (redisAppendCommandArgv(rs->cmd, 8, argv, len) != REDIS_OK)
				return -EIO;
		}
		for (uint32_t j = 0; j < m; j++) {
			redisReply *r;

			if (redisGetReply(rs->cmd, (void **)&r) != REDIS_OK)
				return -EIO;
			rc = pushed(rs, &recs[i + j], r);
			freeReplyObject(r);
			if (rc < 0)
				return rc;
			*done = i + j + 1;
		}
		pthread_mutex_lock(&rs->local_lock);
		mirror(rs);              /* fleet_raced into raced */
		pthread_mutex_unlock(&rs->local_lock);
	}
	return rc;
}

/* Everything the local layer holds, ours and pulled: after Redis lost its
 * data, every gateway gives back what it knows. */
static int push_all(struct redis_store *rs)
{
	struct snapshot sn;
	uint32_t done;
	int rc = snapshot(rs, &sn);

	if (rc < 0)
		return rc;
	rc = push(rs, sn.r, sn.n, &done);
	free(sn.r);
	if (rc == 0)
		dup_count(&rs->c.full_pushes, 1);
	return rc;
}

static int push_backlog(struct redis_store *rs, bool force_all)
{
	bool lost;
	uint32_t n = take_backlog(rs, &lost), done;
	int rc;

	if (lost || force_all) {
		rc = push_all(rs);
		if (rc < 0) {
			/* The snapshot held the backlog too: ask for it again. */
			pthread_mutex_lock(&rs->out_lock);
			rs->out_lost = true;
			pthread_mutex_unlock(&rs->out_lock);
		}
		return rc;
	}
	rc = push(rs, rs->taken, n, &done);
	if (rc < 0)
		requeue(rs, rs->taken + done, n - done);
	return rc;
}

/* The entries of an XREAD reply (NIL when it timed out): their records
 * into the local layer; last_id moves to the last one. How many entries,
 * or -EIO when the reply is not an XREAD reply. */
static int take_entries(struct redis_store *rs, const redisReply *r)
{
	struct dup_record recs[PULL_COUNT];
	const redisReply *entries;
	uint32_t n = 0;

	if (r->type == REDIS_REPLY_NIL)
		return 0;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
	    r->element[0]->type != REDIS_REPLY_ARRAY ||
	    r->element[0]->elements != 2 ||
	    r->element[0]->element[1]->type != REDIS_REPLY_ARRAY)
		return -EIO;
	entries = r->element[0]->element[1];
	for (size_t i = 0; i < entries->elements; i++) {
		const redisReply *e = entries->element[i], *f;

		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
		    e->element[0]->type != REDIS_REPLY_STRING)
			return -EIO;
		snprintf(rs->last_id, sizeof(rs->last_id), "%s", e->element[0]->str);
		f = e->element[1];
		if (f->type != REDIS_REPLY_ARRAY || f->elements != 2 ||
		    f->element[1]->type != REDIS_REPLY_STRING || n == PULL_COUNT ||
		    !decode(f->element[1]->str, f->element[1]->len, &recs[n]))
			dup_count(&rs->c.bad_values, 1);
		else
			n++;
	}
	apply(rs, recs, n);
	return (int)entries->elements;
}

/* The first and last entries' ids ("0-0" when empty). */
static int stream_ends(struct redis_store *rs, char first[STREAM_ID_MAX],
		       char last[STREAM_ID_MAX])
{
	const char *cmds[2] = { "XRANGE %s - + COUNT 1", "XREVRANGE %s + - COUNT 1" };
	char *out[2] = { first, last };

	for (int k = 0; k < 2; k++) {
		redisReply *r = cmdf(rs, cmds[k], rs->k_stream);

		if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
			if (r)
				freeReplyObject(r);
			return -EIO;
		}
		if (r->elements > 0 && r->element[0]->type == REDIS_REPLY_ARRAY &&
		    r->element[0]->elements > 0 &&
		    r->element[0]->element[0]->type == REDIS_REPLY_STRING)
			snprintf(out[k], STREAM_ID_MAX, "%s",
				 r->element[0]->element[0]->str);
		else
			snprintf(out[k], STREAM_ID_MAX, "0-0");
		freeReplyObject(r);
	}
	return 0;
}

/* The stream from last_id to its end, without waiting. */
static int pull_since(struct redis_store *rs)
{
	for (;;) {
		redisReply *r = cmdf(rs, "XREAD COUNT %d STREAMS %s %s",
				     PULL_COUNT, rs->k_stream, rs->last_id);
		int n;

		if (r == NULL)
			return -EIO;
		n = take_entries(rs, r);
		freeReplyObject(r);
		if (n < 0)
			return n;
		if (n < PULL_COUNT || stopping(rs))
			return 0;
	}
}

/* Every record in Redis (SCAN, then MGET of each step's keys). The stream
 * is then read from the end it had before the scan, so what is written
 * meanwhile is read too (twice at worst, which costs a lookup). */
static int pull_all(struct redis_store *rs)
{
	char first[STREAM_ID_MAX], cursor[32] = "0";
	int rc = stream_ends(rs, first, rs->last_id);

	while (rc == 0) {
		struct dup_record *recs = NULL;
		redisReply *r, *keys, *vals;
		uint32_t n = 0;

		r = cmdf(rs, "SCAN %s MATCH %s COUNT %d", cursor, rs->k_match,
			 SCAN_COUNT);
		if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			if (r)
				freeReplyObject(r);
			return -EIO;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		keys = r->element[1];
		if (keys->elements > 0) {
			const char **argv = malloc((keys->elements + 1) * sizeof(*argv));
			size_t *len = malloc((keys->elements + 1) * sizeof(*len));

			/* SCAN's COUNT is a hint: a step may bring more. */
			recs = malloc(keys->elements * sizeof(*recs));
			if (argv == NULL || len == NULL || recs == NULL) {
				free(recs);
				free(argv);
				free(len);
				freeReplyObject(r);
				return -ENOMEM;
			}
			argv[0] = "MGET";
			len[0] = 4;
			for (size_t i = 0; i < keys->elements; i++) {
				argv[i + 1] = keys->element[i]->str;
				len[i + 1] = keys->element[i]->len;
			}
			vals = checked(rs, redisCommandArgv(rs->cmd,
					(int)keys->elements + 1, argv, len));
			free(argv);
			free(len);
			if (vals == NULL || vals->type != REDIS_REPLY_ARRAY ||
			    vals->elements != keys->elements) {
				if (vals)
					freeReplyObject(vals);
				freeReplyObject(r);
				free(recs);
				return -EIO;
			}
			for (size_t i = 0; i < vals->elements; i++) {
				const redisReply *v = vals->element[i];

				if (v->type == REDIS_REPLY_NIL)
					continue;        /* expired meanwhile */
				if (v->type == REDIS_REPLY_STRING &&
				    decode(v->str, v->len, &recs[n]))
					n++;
				else
					dup_count(&rs->c.bad_values, 1);
			}
			freeReplyObject(vals);
		}
		freeReplyObject(r);
		apply(rs, recs, n);
		free(recs);
		if (strcmp(cursor, "0") == 0 || stopping(rs))
			break;
	}
	if (rc == 0)
		dup_count(&rs->c.full_pulls, 1);
	return rc;
}

static void session_close(struct redis_store *rs)
{
	if (rs->cmd)
		redisFree(rs->cmd);
	if (rs->sub)
		redisFree(rs->sub);
	rs->cmd = rs->sub = NULL;
}

/* Connects and catches up both ways. 0 when in step with the fleet. */
static int session_open(struct redis_store *rs)
{
	char first[STREAM_ID_MAX], last[STREAM_ID_MAX], epoch[EPOCH_MAX];
	bool fresh = true;
	int rc;

	rs->cmd = connect_redis(rs);
	rs->sub = connect_redis(rs);
	if (rs->cmd == NULL || rs->sub == NULL)
		return -ECONNREFUSED;
	rc = handshake(rs, &fresh, epoch);
	if (rc == 0)
		rc = push_backlog(rs, fresh);
	if (rc < 0)
		return rc;
	if (!fresh) {
		rc = stream_ends(rs, first, last);
		if (rc < 0)
			return rc;
		/* Trimmed past what we read: some entries may be gone. */
		fresh = stream_id_after(first, rs->last_id);
	}
	rc = fresh ? pull_all(rs) : pull_since(rs);
	if (rc == 0 && fresh && stopping(rs))
		rc = -ECANCELED;         /* a scan cut short is no catch-up */
	/* Only a whole catch-up makes the epoch ours: one cut short is
	 * done again in full. */
	if (rc == 0)
		memcpy(rs->epoch, epoch, sizeof(rs->epoch));
	return rc;
}

/* Sends the blocking XREAD on the pull connection. */
static int xread_send(struct redis_store *rs)
{
	char count[12], block[12];
	const char *argv[7] = { "XREAD", "COUNT", count, "BLOCK", block,
				"STREAMS", rs->k_stream };
	const char *all[8];
	size_t len[8];
	int done = 0;

	snprintf(count, sizeof(count), "%d", PULL_COUNT);
	/* The blocked read is also the heartbeat: a gateway deaf to the
	 * fleet notices within twice the timeout (docs/architecture.md). */
	snprintf(block, sizeof(block), "%u", rs->conf.timeout_ms);
	memcpy(all, argv, sizeof(argv));
	all[7] = rs->last_id;
	for (int a = 0; a < 8; a++)
		len[a] = strlen(all[a]);
	if (redisAppendCommandArgv(rs->sub, 8, all, len) != REDIS_OK)
		return -EIO;
	while (!done)
		if (redisBufferWrite(rs->sub, &done) != REDIS_OK)
			return -EIO;
	return 0;
}

/* Whether Redis still has the data of the epoch we caught up with: a
 * FLUSHALL, or a failover to an empty replica, keeps connections open. */
static int epoch_same(struct redis_store *rs)
{
	redisReply *r = cmdf(rs, "GET %s", rs->k_epoch);
	int rc;

	if (r == NULL)
		return -EIO;
	rc = r->type == REDIS_REPLY_STRING && strcmp(r->str, rs->epoch) == 0 ?
	     0 : -ESTALE;
	freeReplyObject(r);
	return rc;
}

/* In step: pushes what the owner hands over, applies what the stream
 * brings. Returns 0 when asked to stop, <0 when the connection is lost,
 * -ESTALE when Redis lost its data meanwhile. */
static int session_run(struct redis_store *rs)
{
	int64_t sent = 0, limit = (int64_t)rs->conf.timeout_ms * 2000000;
	int64_t checked_at = mono_ns();
	bool waiting = false;

	while (!stopping(rs)) {
		struct pollfd p[2] = { { .fd = rs->sub->fd, .events = POLLIN },
				       { .fd = rs->wake_fd, .events = POLLIN } };
		int64_t left;
		int rc;

		rc = push_backlog(rs, false);
		if (rc == 0 && mono_ns() - checked_at > EPOCH_CHECK_MS * INT64_C(1000000)) {
			rc = epoch_same(rs);
			checked_at = mono_ns();
		}
		if (rc < 0)
			return rc;
		if (!waiting) {
			rc = xread_send(rs);
			if (rc < 0)
				return rc;
			sent = mono_ns();
			waiting = true;
		}
		left = sent + limit - mono_ns();
		rc = poll(p, 2, left > 0 ? (int)(left / 1000000) + 1 : 0);
		if (rc < 0 && errno != EINTR)
			return -errno;
		if (p[1].revents & POLLIN)
			unwake(rs);
		/* A blocked XREAD answers within the timeout: silence for
		 * twice as long is a dead connection. */
		if (p[0].revents == 0 && mono_ns() - sent > limit)
			return -ETIMEDOUT;
		if (p[0].revents) {
			void *reply = NULL;
			int n;

			if (redisBufferRead(rs->sub) != REDIS_OK ||
			    redisGetReplyFromReader(rs->sub, &reply) != REDIS_OK)
				return -EIO;
			if (reply == NULL)
				continue;        /* part of a reply so far */
			reply = checked(rs, reply);
			n = reply ? take_entries(rs, reply) : -EIO;
			if (reply)
				freeReplyObject(reply);
			if (n < 0)
				return n;
			waiting = false;
		}
	}
	return 0;
}

/* Sleeps ms, or less if asked to stop; pushes asked for meanwhile wait
 * (a reconnection storm at the rate of consumptions helps no one). */
static void backoff_sleep(struct redis_store *rs, uint32_t ms)
{
	int64_t end = mono_ns() + (int64_t)ms * 1000000;

	while (!stopping(rs)) {
		struct pollfd p = { .fd = rs->wake_fd, .events = POLLIN };
		int64_t left = end - mono_ns();

		if (left <= 0)
			return;
		if (poll(&p, 1, (int)(left / 1000000) + 1) > 0)
			unwake(rs);
	}
}

static void first_attempt_done(struct redis_store *rs)
{
	pthread_mutex_lock(&rs->first_lock);
	rs->first_done = true;
	pthread_cond_broadcast(&rs->first_cond);
	pthread_mutex_unlock(&rs->first_lock);
}

static void *redis_main(void *arg)
{
	struct redis_store *rs = arg;
	uint32_t backoff = RETRY_MIN_MS;

	while (!stopping(rs)) {
		int64_t t0 = mono_ns();
		int rc = session_open(rs);

		if (rc == 0) {
			atomic_store_explicit(&rs->c.catchup_us,
					      (uint64_t)(mono_ns() - t0) / 1000,
					      memory_order_relaxed);
			dup_count(&rs->c.sessions, 1);
			atomic_store_explicit(&rs->fleet, FLEET_UP, memory_order_release);
			first_attempt_done(rs);
			backoff = RETRY_MIN_MS;
			rc = session_run(rs);
			if (rc == 0)
				break;           /* stopping, connected */
		}
		atomic_store_explicit(&rs->fleet, FLEET_DOWN, memory_order_release);
		session_close(rs);
		first_attempt_done(rs);
		if (stopping(rs))
			break;
		if (rc == -ESTALE)
			continue;        /* reachable, but emptied: catch up now */
		dup_count(&rs->c.unreachable, 1);
		/* Jitter, so a fleet does not reconnect in step. */
		backoff_sleep(rs, backoff + (uint32_t)(mono_ns() % (backoff / 2 + 1)));
		backoff = backoff * 2 < rs->conf.retry_max_ms ? backoff * 2 :
			  rs->conf.retry_max_ms;
	}
	/* A clean stop hands over the last consumptions (the owner drained
	 * its rings before); what does not make it goes at the next start. */
	if (rs->cmd != NULL)
		push_backlog(rs, false);
	atomic_store_explicit(&rs->fleet, FLEET_DOWN, memory_order_release);
	session_close(rs);
	return NULL;
}

/* ---- the store ops ------------------------------------------------------- */

static int rs_load(struct dup_store *s, char *err, size_t errlen)
{
	struct redis_store *rs = rs_of(s);
	struct timespec until;
	sigset_t all, old;
	int rc;

	rc = rs->local->ops->load(rs->local, err, errlen);
	if (rc < 0)
		return rc;
	memcpy(s->key, rs->local->key, sizeof(s->key));
	pthread_mutex_lock(&rs->local_lock);
	mirror(rs);
	pthread_mutex_unlock(&rs->local_lock);

	/* Signals belong to the gateway's main thread; a write to a closed
	 * socket then fails with EPIPE instead of killing the process. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&rs->thread, NULL, redis_main, rs);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the Redis thread: %s", strerror(rc));
		return -rc;
	}
	rs->running = true;
	pthread_setname_np(rs->thread, "kpg-dup-redis");

	/* Serve in step from the first request when Redis is there; when it
	 * is not, or the catch-up is long, start anyway (on_unreachable). */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += FIRST_WAIT_MS / 1000;
	pthread_mutex_lock(&rs->first_lock);
	while (!rs->first_done &&
	       pthread_cond_timedwait(&rs->first_cond, &rs->first_lock, &until) == 0)
		;
	pthread_mutex_unlock(&rs->first_lock);
	return 0;
}

static int rs_lookup(const struct dup_store *s, const uint64_t id[2],
		     struct dup_record *out)
{
	const struct redis_store *rs = rs_of(s);
	/* Read before the table: what the catch-up applied is then seen. */
	bool up = atomic_load_explicit(&rs->fleet, memory_order_acquire) == FLEET_UP;
	int rc = rs->local->ops->lookup(rs->local, id, out);

	return rc == 0 && !up ? -ENOTCONN : rc;
}

static int rs_insert(struct dup_store *s, const struct dup_record *r)
{
	struct redis_store *rs = rs_of(s);
	int rc;

	pthread_mutex_lock(&rs->local_lock);
	rc = rs->local->ops->insert(rs->local, r);
	mirror(rs);
	pthread_mutex_unlock(&rs->local_lock);
	/* Known here already (two lcores, or pulled from another gateway
	 * since evaluate): nothing new for the fleet. Not kept here (full,
	 * or not written): the fleet must know all the same. */
	if (rc != -EEXIST && rc != -EINVAL) {
		pthread_mutex_lock(&rs->out_lock);
		out_put(rs, r, 1, false);
		pthread_mutex_unlock(&rs->out_lock);
	}
	return rc;
}

static void rs_flush(struct dup_store *s, bool sync)
{
	struct redis_store *rs = rs_of(s);
	bool pending;

	pthread_mutex_lock(&rs->local_lock);
	rs->local->ops->flush(rs->local, sync);
	mirror(rs);
	pthread_mutex_unlock(&rs->local_lock);
	pthread_mutex_lock(&rs->out_lock);
	pending = rs->out_n > 0 || rs->out_lost;
	pthread_mutex_unlock(&rs->out_lock);
	if (pending)
		wake(rs);
}

static void rs_destroy(struct dup_store *s)
{
	struct redis_store *rs = rs_of(s);

	if (rs == NULL)
		return;
	if (rs->running) {
		atomic_store_explicit(&rs->stop, true, memory_order_release);
		wake(rs);
		pthread_join(rs->thread, NULL);
	}
	session_close(rs);
	if (rs->local)
		rs->local->ops->destroy(rs->local);
	if (rs->wake_fd >= 0)
		close(rs->wake_fd);
	pthread_mutex_destroy(&rs->local_lock);
	pthread_mutex_destroy(&rs->out_lock);
	pthread_mutex_destroy(&rs->first_lock);
	pthread_cond_destroy(&rs->first_cond);
	free(rs->out);
	free(rs->taken);
	free(rs);
}

static void rs_each(struct dup_store *s,
		    void (*fn)(const struct dup_record *r, void *arg), void *arg)
{
	struct redis_store *rs = rs_of(s);

	pthread_mutex_lock(&rs->local_lock);
	rs->local->ops->each(rs->local, fn, arg);
	pthread_mutex_unlock(&rs->local_lock);
}

static void rs_stats(const struct dup_store *s,
		     void (*emit)(void *arg, const char *name, uint64_t value),
		     void *arg)
{
	const struct redis_store *rs = rs_of(s);
	const struct redis_counters *c = &rs->c;

	emit(arg, "fleet_up",
	     atomic_load_explicit(&rs->fleet, memory_order_relaxed) == FLEET_UP);
	emit(arg, "redis_unreachable", dup_read(&c->unreachable));
	emit(arg, "fleet_sessions", dup_read(&c->sessions));
	emit(arg, "pushed", dup_read(&c->pushed));
	emit(arg, "pulled", dup_read(&c->pulled));
	emit(arg, "fleet_raced", dup_read(&c->fleet_raced));
	emit(arg, "push_backlog", dup_read(&c->backlog));
	emit(arg, "full_pushes", dup_read(&c->full_pushes));
	emit(arg, "full_pulls", dup_read(&c->full_pulls));
	emit(arg, "bad_values", dup_read(&c->bad_values));
	emit(arg, "redis_errors", dup_read(&c->redis_errors));
	emit(arg, "key_mismatch", dup_read(&c->key_mismatch));
	emit(arg, "catchup_us", dup_read(&c->catchup_us));
}

static const struct dup_store_ops redis_ops = {
	.kind = "redis",
	.load = rs_load,
	.lookup = rs_lookup,
	.insert = rs_insert,
	.flush = rs_flush,
	.destroy = rs_destroy,
	.each = rs_each,
	.stats = rs_stats,
};

struct dup_store *dup_redis_store_new(const char *path, uint32_t capacity,
				      uint32_t retention_days,
				      const struct dup_redis_conf *conf)
{
	size_t size = (sizeof(struct redis_store) + 63) & ~(size_t)63;
	struct redis_store *rs = aligned_alloc(64, size);
	uint64_t kid;

	if (rs == NULL)
		return NULL;
	memset(rs, 0, size);
	rs->base.ops = &redis_ops;
	rs->conf = *conf;
	rs->capacity = capacity;
	rs->retention_days = retention_days;
	memcpy(rs->base.key, conf->key, sizeof(rs->base.key));
	pthread_mutex_init(&rs->local_lock, NULL);
	pthread_mutex_init(&rs->out_lock, NULL);
	pthread_mutex_init(&rs->first_lock, NULL);
	pthread_cond_init(&rs->first_cond, NULL);
	snprintf(rs->last_id, sizeof(rs->last_id), "0-0");
	snprintf(rs->k_stream, KEY_MAX, "%s:stream", conf->prefix);
	snprintf(rs->k_epoch, KEY_MAX, "%s:epoch", conf->prefix);
	snprintf(rs->k_keyid, KEY_MAX, "%s:keyid", conf->prefix);
	snprintf(rs->k_match, KEY_MAX, "%s:c:*", conf->prefix);
	/* Tells the keys apart without giving them away. */
	dup_siphash(conf->key[0], 0, 0, conf->key[1], sizeof(conf->key[1]), &kid, 1);
	snprintf(rs->keyid, sizeof(rs->keyid), "%016" PRIx64, kid);
	rs->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	rs->local = dup_file_store_new_keyed(path, capacity, retention_days,
					     conf->key);
	if (rs->wake_fd < 0 || rs->local == NULL) {
		rs_destroy(&rs->base);
		return NULL;
	}
	return &rs->base;
}
