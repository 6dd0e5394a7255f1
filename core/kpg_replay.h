/* kpg_replay.h — one lcore's replay window: the (station, request id)
 * pairs it answered lately, a digest of each request, and each answer.
 *
 * Every entry lives equally long, so entries expire in the order they
 * were made: entries sit in a FIFO, answers in a FIFO of bytes (an entry
 * reserves its request's length, the most its answer may take, since an
 * answer never outgrows its request), and an open-addressing index finds
 * (station, id). Memory is fixed at creation, nothing is allocated per
 * request. When the window is full of live entries a new request is
 * refused rather than a live entry forgotten: forgetting early would let
 * that request be replayed. */
#ifndef KPG_REPLAY_H
#define KPG_REPLAY_H

#include <stdint.h>

#include "kpg_limits.h"

#define KPG_REPLAY_DIGEST_LEN 32u

enum kpg_replay_result {
	KPG_REPLAY_FRESH,                /* not seen: a pending entry was made */
	KPG_REPLAY_RESCAN,               /* same bytes, answered: here it is */
	KPG_REPLAY_PENDING,              /* same bytes, still being answered */
	KPG_REPLAY_REFUSE,               /* other bytes under this id */
	KPG_REPLAY_FULL,                 /* no room for another entry */
};

struct kpg_replay;

/* entries is rounded up to a power of two; bytes hold the answers.
 * Entries expire lifetime_s after they were made. NULL on ENOMEM. */
struct kpg_replay *kpg_replay_new(uint32_t entries, uint64_t bytes,
				  int64_t lifetime_s);
void kpg_replay_delete(struct kpg_replay *r);

/* Forgets what expired by now, then looks (station, id) up. FRESH: *seq
 * names the new pending entry, with reserve bytes (<= KPG_DATAGRAM_MAX)
 * for its answer. RESCAN: *answer, *answer_len are the stored answer, valid
 * until the next call. */
enum kpg_replay_result kpg_replay_check(struct kpg_replay *r, uint64_t station,
					uint64_t id,
					const uint8_t digest[KPG_REPLAY_DIGEST_LEN],
					uint32_t reserve, int64_t now, uint32_t *seq,
					const uint8_t **answer, uint32_t *answer_len);

/* The pending entry's answer (len <= its reserve), kept for rescans. */
void kpg_replay_commit(struct kpg_replay *r, uint32_t seq, const uint8_t *answer,
		       uint32_t len);
/* The pending entry got no lasting answer (overloaded, no trust list):
 * forget it, so a retry is judged afresh. */
void kpg_replay_cancel(struct kpg_replay *r, uint32_t seq);

/* Entries made and not yet expired or cancelled-and-reclaimed. */
uint32_t kpg_replay_live(const struct kpg_replay *r);

#endif
