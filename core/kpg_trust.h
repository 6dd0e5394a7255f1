/* kpg_trust.h — the signed trust list of authority keys, as an immutable
 * snapshot. A list is accepted only if an Ed25519 trust anchor from config
 * signed it, its body is canonical, every key is well formed and strong
 * enough, its version is above the highest accepted before (persisted in a
 * state file, so no rollback across restarts) and it is not past
 * next_update plus the grace. A refused list leaves the one in force alone.
 * Snapshots are built on the control thread and swapped by the gateway under
 * RCU; workers only read them. */
#ifndef KPG_TRUST_H
#define KPG_TRUST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kpgate/plugin.h>   /* key and participant statuses */

#include "kpg_limits.h"
#include "kpg_verify.h"

#define KPG_ANCHORS_MAX 2            /* two during a rotation */

struct kpg_trust_key {
	uint8_t key_id[KPG_KEY_ID_LEN];
	enum kpg_alg alg;
	enum kpg_key_status status;
	char participant[3];
	const char *authority;
	int64_t not_before, not_after;   /* Unix seconds */
	uint32_t first_day, last_day;    /* their UTC dates, YYYYMMDD */
	int64_t status_since;            /* 0 when active */
	struct kpg_pubkey *pub;
	struct kpg_verifier **verifiers; /* one per lcore slot */
	/* The words of an accepted signature ("signed by AUTHORITY (ZA,
	 * ecdsa-p256)"), made once here rather than per request. */
	char signed_by[KPG_DETAIL_MAX];
};

struct kpg_anchors {
	unsigned n;
	uint8_t key_id[KPG_ANCHORS_MAX][KPG_KEY_ID_LEN];
	uint8_t pk[KPG_ANCHORS_MAX][32]; /* Ed25519 public keys */
};

/* Reads an Ed25519 public key (PEM SubjectPublicKeyInfo) into the set. */
int kpg_anchors_add_file(struct kpg_anchors *a, const char *path,
			 char *err, size_t errlen);
/* The same from SPKI DER already in memory (the authority tool's own key). */
int kpg_anchors_add_spki(struct kpg_anchors *a, const uint8_t *spki,
			 size_t len, char *err, size_t errlen);

enum kpg_trust_refusal {
	KPG_TRUST_OK = 0,
	KPG_TRUST_IO,                    /* file unreadable */
	KPG_TRUST_MALFORMED,             /* envelope or body not canonical */
	KPG_TRUST_UNKNOWN_ANCHOR,
	KPG_TRUST_BAD_SIGNATURE,
	KPG_TRUST_ROLLBACK,              /* version below the highest accepted */
	KPG_TRUST_NOT_NEWER,             /* not above the list in force, or a reused version */
	KPG_TRUST_STALE,                 /* past next_update + grace */
	KPG_TRUST_BAD_KEY,               /* weak, malformed, key id mismatch, duplicate */
	KPG_TRUST_STATE,                 /* state file unreadable or unwritable */
	KPG_TRUST__COUNT
};

const char *kpg_trust_refusal_name(enum kpg_trust_refusal r);

struct kpg_trust_opts {
	const struct kpg_anchors *anchors;
	const char *list_path;
	const char *state_path;          /* highest accepted version; NULL: none kept */
	int64_t now;
	int64_t grace_s;                 /* accepted past next_update */
	unsigned slots;                  /* verifiers per key: one per worker lcore */
	enum kpg_backend backend;
};

struct kpg_trust;

/* Loads list_path. in_force is the version now in force (0 at start): a new
 * list must be above it and at least the persisted version; a list equal to
 * the persisted version is accepted only at start and only if its body is
 * the one persisted. On success persists the version and body hash and
 * returns KPG_TRUST_OK with *out set; otherwise a refusal and err says why. */
enum kpg_trust_refusal kpg_trust_load(const struct kpg_trust_opts *o,
				      uint64_t in_force, struct kpg_trust **out,
				      char *err, size_t errlen);

/* The same checks on a signed list in memory, without the state file; the
 * version must be at least min_version (in_force + 1 on a reload). */
enum kpg_trust_refusal kpg_trust_parse(const struct kpg_trust_opts *o,
				       const uint8_t *buf, size_t len,
				       uint64_t min_version,
				       struct kpg_trust **out,
				       char *err, size_t errlen);

void kpg_trust_delete(struct kpg_trust *t);

uint64_t kpg_trust_version(const struct kpg_trust *t);
int64_t kpg_trust_issued_at(const struct kpg_trust *t);
int64_t kpg_trust_next_update(const struct kpg_trust *t);
unsigned kpg_trust_key_count(const struct kpg_trust *t);
const struct kpg_trust_key *kpg_trust_key_at(const struct kpg_trust *t, unsigned i);

/* O(1) lookups for the data path; NULL / KPG_PARTICIPANT_NONE if absent. */
const struct kpg_trust_key *kpg_trust_find(const struct kpg_trust *t,
					   const uint8_t key_id[KPG_KEY_ID_LEN]);
enum kpg_participant_status kpg_trust_participant(const struct kpg_trust *t,
						  const char code[2]);

/* Persisted state: highest accepted version and the SHA-256 of its body. */
int kpg_trust_state_read(const char *path, uint64_t *version, uint8_t hash[32]);
int kpg_trust_state_write(const char *path, uint64_t version, const uint8_t hash[32]);

#endif
