/* dup_store.h — the consumed-certificate ledger behind the duplicate plugin,
 * as an interface with two implementations: the embedded file store
 * (dup_file_store.c), and the Redis store (dup_redis_store.c) that shares
 * consumption among a fleet of gateways and keeps a file store as its
 * local layer.
 *
 * Who calls what:
 *   load     control thread, once, before any other call: fills the
 *            lookup view from the durable copy and sets the hash key;
 *   lookup   worker lcores, concurrently with one insert caller: no lock,
 *            no allocation, no system call, never waits (a shared store
 *            answers from a local mirror it keeps up to date);
 *   insert   one owner thread only, may block on I/O: records one
 *            consumption so that lookups see it as soon as it returns;
 *   flush    the owner thread, after a batch of inserts: makes them
 *            durable (sync) or at least hands them to the OS;
 *   destroy  control thread, after the owner thread has stopped.
 */
#ifndef DUP_STORE_H
#define DUP_STORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DUP_NUMBER_MAX 32                /* bytes of the number kept, NUL-padded */
#define DUP_NAME_MAX   24                /* checkpoint and station ids kept */

/* One consumption: the unit of the rings, the table and the file. Fixed
 * size and no pointers, so it is copied by words and written as is. */
struct dup_record {
	/* Keyed hash of the issuing participant and the number; what the
	 * ledger is looked up by. id[0] is never 0 (0 marks a free slot). */
	uint64_t id[2];
	uint64_t digest[2];              /* keyed hash of the exact signed bytes */
	int64_t consumed_at;             /* gateway clock at acceptance, Unix s */
	int32_t expiry_day;              /* certificate expiry, days since 1970 */
	char participant[4];             /* issuing participant, for people */
	char number[DUP_NUMBER_MAX];     /* certificate number, cut to fit */
	char checkpoint[DUP_NAME_MAX];   /* where it was accepted */
	char station[DUP_NAME_MAX];
};

#define DUP_RECORD_WORDS (sizeof(struct dup_record) / sizeof(uint64_t))
_Static_assert(sizeof(struct dup_record) == 128, "a record is two cache lines");

/* Counters of a store. */
struct dup_store_stats {
	_Atomic uint64_t records;        /* in the lookup view now */
	_Atomic uint64_t inserted;       /* consumptions recorded since load */
	_Atomic uint64_t raced;          /* insert of one already there: two
					  * lcores accepted the same certificate */
	_Atomic uint64_t evicted;        /* forgotten after their retention */
	_Atomic uint64_t table_full;     /* refused: full, nothing to evict */
	_Atomic uint64_t io_errors;      /* writes or syncs that failed */
	_Atomic uint64_t loaded;         /* records read back at load */
	_Atomic uint64_t dropped;        /* at load: past retention, repeated */
	_Atomic uint64_t corrupt;        /* at load: records failing checksum */
	_Atomic uint64_t truncated;      /* at load: bytes of torn tail cut */
};

struct dup_store;

struct dup_store_ops {
	const char *kind;                /* "file" or "redis" */
	int (*load)(struct dup_store *s, char *err, size_t errlen);
	/* 1 found (*out filled), 0 absent, -EAGAIN when no consistent answer
	 * could be read without waiting (the caller refers), -ENOTCONN when
	 * absent here while a shared store is out of touch with its fleet
	 * (the caller refers or judges locally, by its config). */
	int (*lookup)(const struct dup_store *s, const uint64_t id[2],
		      struct dup_record *out);
	/* 0 recorded, -EEXIST already there, -ENOSPC full, -EIO not kept. */
	int (*insert)(struct dup_store *s, const struct dup_record *r);
	void (*flush)(struct dup_store *s, bool sync);
	void (*destroy)(struct dup_store *s);
	void (*each)(struct dup_store *s,
		     void (*fn)(const struct dup_record *r, void *arg), void *arg);
	void (*stats)(const struct dup_store *s,
		      void (*emit)(void *arg, const char *name, uint64_t value),
		      void *arg);
};

struct dup_store {
	const struct dup_store_ops *ops;
	/* SipHash keys, set by load and fixed after: [0] identities,
	 * [1] signed bytes. Every gateway sharing a store shares its keys. */
	uint64_t key[2][2];
	/* Written by the owner at every insert, while every worker reads the
	 * keys at every lookup: not on their cache line. Allocate stores
	 * 64-byte aligned. */
	_Alignas(64) struct dup_store_stats stats;
};

/* The embedded default: a table in memory and an append-only file at
 * path. capacity bounds the records held; when full, records whose
 * certificate expired more than retention_days ago are evicted, and if
 * none is, the insert is refused and counted (table_full). */
struct dup_store *dup_file_store_new(const char *path, uint32_t capacity,
				     uint32_t retention_days);

/* As dup_file_store_new, but with the given hash keys instead of random
 * ones: a file made by load gets them, and load refuses (-EKEYREJECTED) a
 * file that holds records made with other keys (one without records is
 * made again with these). */
struct dup_store *dup_file_store_new_keyed(const char *path, uint32_t capacity,
					   uint32_t retention_days,
					   const uint64_t key[2][2]);

/* Where a fleet's Redis is, and how this gateway uses it. */
struct dup_redis_conf {
	char socket[108];                /* a unix socket, or "" for host:port */
	char host[256];
	uint32_t port;
	char prefix[64];                 /* the fleet's key names start so */
	uint64_t key[2][2];              /* the fleet's hash keys */
	uint32_t timeout_ms;             /* connect, and each reply */
	uint32_t retry_max_ms;           /* longest wait between reconnects */
	uint32_t stream_max;             /* stream entries Redis keeps */
};

/* The shared ledger: a file store at path as the local layer (lookups,
 * durability), kept in step with the fleet's Redis by a thread of its own.
 * Its lookup answers -ENOTCONN for a certificate absent here while it is
 * not in step with the fleet. */
struct dup_store *dup_redis_store_new(const char *path, uint32_t capacity,
				      uint32_t retention_days,
				      const struct dup_redis_conf *conf);

/* Counters: lock-free, off the per-request path (or on it only when
 * something went wrong), read by anyone. */
static inline void dup_count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline uint64_t dup_read(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

#endif
