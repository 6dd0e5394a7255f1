/* kpg_audit.h — what the gateway records of every answered request.
 *
 * The engine fills one struct kpg_audit_rec per answer (accept, refer,
 * reject or error); the gateway adds the lcore and its sequence number and
 * hands it to the audit writer. The record format on disk, the hash chain
 * and the reader are declared further down as they are built. */
#ifndef KPG_AUDIT_H
#define KPG_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "kpg_limits.h"
#include "kpg_request.h"
#include "kpg_verdict.h"

#define KPG_AUDIT_NUMBER_MAX 64u      /* certificate number bytes kept */

struct kpg_audit_verdict {
	char check[KPG_CHECK_NAME_MAX];
	uint8_t decision;                /* enum kpg_decision */
	uint32_t reason;
};

struct kpg_audit_rec {
	/* filled by the gateway */
	uint32_t lcore;
	uint64_t seq;                    /* per lcore, from 1 */
	/* filled by the engine */
	int64_t time;                    /* gateway clock, Unix seconds */
	uint64_t request_id;
	uint64_t trust_version;
	uint8_t decision;                /* enum kpg_decision */
	uint8_t error;                   /* enum kpg_error */
	bool has_key;
	uint8_t key_id[KPG_KEY_ID_LEN];
	char station[KPG_STATION_ID_MAX + 1];
	char cert_number[KPG_AUDIT_NUMBER_MAX + 1]; /* "" when not decoded */
	uint8_t n_verdicts;
	struct kpg_audit_verdict verdicts[KPG_VERDICTS_MAX];
};

/* ---- the log on disk ----------------------------------------------------
 *
 * An audit log is a file of records, every integer little-endian:
 *
 *   u32 len       the whole record, these 4 bytes and the hash included
 *   u16 version   KPG_AUDIT_VERSION
 *   u16 type      enum kpg_audit_type
 *   u8  prev[32]  the hash of the record before (zeros in the first)
 *   ...           the body of the type (docs/audit.md)
 *   u8  hash[32]  SHA-256 of every byte of this record before it
 *
 * Record 0 is the file header (magic, gateway id, creation time); each
 * start appends an OPEN record, each clean stop a CLOSE record, and each
 * answer a DECISION record. A record's hash covers its prev field, so the
 * records form a chain: changing, removing or inserting one breaks the hash
 * of the next; a record's own hash finds a flipped byte in it, the last
 * one's included. A torn tail (a write cut short by a crash or power loss)
 * is an incomplete last record, or bytes after the last intact record in
 * which no intact record can be found: opening the log for append keeps
 * those bytes in PATH.torn-OFFSET, cuts them off and continues the chain
 * and every lcore's sequence from the last intact record. */

#define KPG_AUDIT_VERSION    1u
#define KPG_AUDIT_HASH_LEN   32u
#define KPG_AUDIT_REC_MIN    (8u + 2u * KPG_AUDIT_HASH_LEN)
#define KPG_AUDIT_REC_MAX    4096u   /* bound a reader trusts a length to */
#define KPG_AUDIT_LCORES     1024u   /* lcore ids a log may name: 0 .. - 1 */
#define KPG_AUDIT_ID_MAX     64u     /* gateway id bytes in the header */

enum kpg_audit_type {
	KPG_AUDIT_HEADER = 1,
	KPG_AUDIT_OPEN = 2,
	KPG_AUDIT_CLOSE = 3,
	KPG_AUDIT_DECISION = 4,
};

/* OPEN flags */
#define KPG_AUDIT_OPEN_UNCLEAN 0x01u /* the run before did not close the log */
#define KPG_AUDIT_OPEN_TORN    0x02u /* a torn tail was cut off */

/* ---- writer: one thread appends ------------------------------------------ */

struct kpg_audit_log;

struct kpg_audit_open_info {
	bool created;                    /* new file: header written */
	bool unclean;                    /* the last run did not close the log */
	uint64_t records;                /* intact records found, header included */
	uint64_t decisions;
	uint64_t torn_offset, torn_bytes;/* torn tail cut off; 0 bytes: none */
	char torn_copy[4096];            /* where the cut bytes were kept */
};

/* Opens (creating it with its header) the log at path for append, locked
 * against a second writer. An existing log is walked and verified whole:
 * a torn tail is cut as above; a break anywhere else, or a header naming
 * another gateway, refuses the log (err says where and why), since
 * appending would bury the evidence. batch_max: most records one append
 * takes (its buffer is reserved here). now: the OPEN record's time. */
struct kpg_audit_log *kpg_audit_open(const char *path, const char *gateway_id,
				     unsigned batch_max, int64_t now,
				     struct kpg_audit_open_info *info,
				     char *err, size_t errlen);

/* Appends n <= batch_max DECISION records with one write: all or none (a
 * failed write is cut back off). No allocation. Each record's seq must be
 * above the last one of its lcore (-ERANGE otherwise). 0 or -errno. */
int kpg_audit_append(struct kpg_audit_log *l,
		     const struct kpg_audit_rec *const *recs, unsigned n);

/* fdatasync: what was appended survives power loss once this returns 0. */
int kpg_audit_sync(struct kpg_audit_log *l);

/* The last seq of lcore in the log (0: none); the next record takes + 1. */
uint64_t kpg_audit_last_seq(const struct kpg_audit_log *l, uint32_t lcore);
uint64_t kpg_audit_size(const struct kpg_audit_log *l);

/* Appends the CLOSE record, syncs and frees. 0 or -errno (freed anyway). */
int kpg_audit_close(struct kpg_audit_log *l, int64_t now);
/* Frees without a CLOSE record, as a crash would leave the log (tests). */
void kpg_audit_abandon(struct kpg_audit_log *l);

/* ---- reader ---------------------------------------------------------------- */

struct kpg_audit_item {
	uint64_t index;                  /* 0: the header */
	uint64_t offset;
	uint32_t len;
	uint16_t version, type;
	const uint8_t *hash;             /* this record's */
	union {
		struct {
			int64_t created;
			char id[KPG_AUDIT_ID_MAX + 1];
		} header;
		struct {
			int64_t time;
			uint8_t flags;
			uint64_t torn_offset, torn_bytes;
		} open;
		struct {
			int64_t time;
			uint64_t decisions;      /* written by the run it closes */
		} close;
		struct kpg_audit_rec decision;
	};
};

enum kpg_audit_status {
	KPG_AUDIT_INTACT = 0,
	KPG_AUDIT_TORN,                  /* intact up to an incomplete tail */
	KPG_AUDIT_BROKEN,                /* the chain breaks at break_index */
};

struct kpg_audit_lcore_seq {
	uint64_t first, last, count;
	uint64_t missing;                /* seqs skipped: records lost (async) */
};

struct kpg_audit_summary {
	enum kpg_audit_status status;
	uint64_t break_index, break_offset;  /* the first bad record */
	char why[200];
	uint64_t records, decisions, opens, closes, unknown;
	uint64_t good_bytes, file_bytes;     /* intact prefix, whole file */
	char gateway_id[KPG_AUDIT_ID_MAX + 1];
	int64_t created;
	uint16_t last_type;
	uint8_t last_hash[KPG_AUDIT_HASH_LEN];
	uint64_t decisions_by[KPG_DECISION__COUNT];
	uint32_t n_lcores;                   /* lcores seen */
	struct kpg_audit_lcore_seq lcore[KPG_AUDIT_LCORES];
};

/* Walks a log held in memory from its first byte, verifying each record's
 * hash, the chain and every lcore's sequence, and calls each() on every
 * intact record (each may be NULL; a non-zero return stops the walk). The
 * first break fills status, break_index, break_offset and why. Returns 0,
 * or -ENOMEM. */
int kpg_audit_walk(const uint8_t *buf, size_t len,
		   int (*each)(void *arg, const struct kpg_audit_item *it),
		   void *arg, struct kpg_audit_summary *s);

/* The same over a file (mapped read-only). 0 or -errno with err set. */
int kpg_audit_walk_file(const char *path,
			int (*each)(void *arg, const struct kpg_audit_item *it),
			void *arg, struct kpg_audit_summary *s,
			char *err, size_t errlen);

const char *kpg_audit_type_name(uint16_t type);  /* "decision", ... */

#endif
