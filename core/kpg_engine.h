/* kpg_engine.h — one lcore's request pipeline, without DPDK.
 *
 * For each request datagram the gateway calls kpg_engine_stage(), cheap
 * checks first: framing and schema pre-scan, station (id, source address,
 * HMAC), trust snapshot, clock skew, replay window, canonical certificate,
 * key lookup and status, canonical signature, the verified-result cache,
 * and last the station's token bucket. A refused or warm request is
 * answered at once. A cold one returns KPG_STEP_VERIFY: the gateway queues
 * the job (the datagram stays in its packet buffer) and later runs
 * kpg_engine_verify() on a batch and kpg_engine_finish() on each job.
 * With stations configured, error answers go only to proven stations
 * (valid HMAC or a registered source address): for anyone else the step is
 * DROP and the station counters say why. The engine owns its arena, cache,
 * replay window and counters; nothing in it allocates per request, locks
 * or logs. */
#ifndef KPG_ENGINE_H
#define KPG_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "kpg_cache.h"
#include "kpg_request.h"
#include "kpg_station.h"
#include "kpg_trust.h"
#include "kpg_verdict.h"

struct kpg_engine_conf {
	uint32_t cache_entries;          /* verified-result cache, this lcore */
	int64_t clock_skew_s;            /* |scan_time - now| allowed */
	int64_t trust_grace_s;           /* list in force usable past next_update */
	unsigned slot;                   /* this lcore's verifier slot in snapshots */
	uint32_t arena_bytes;            /* certificate decoding arena */
	uint32_t replay_entries;         /* replay window of this lcore; 0: 8192 */
};

/* Counters of one engine; the gateway sums them over lcores when read,
 * word by word: every member is a uint64_t. */
struct kpg_engine_stats {
	uint64_t requests;
	uint64_t refused[KPG_REQ__COUNT];    /* by kpg_request_reason / wire reason */
	uint64_t errors[KPG_ERR__COUNT];
	uint64_t decisions[KPG_DECISION__COUNT];
	uint64_t reasons[KPG_R__COUNT];      /* core reasons of non-accept verdicts */
	uint64_t cache_hits, cache_misses;
	uint64_t cert_decodes;           /* views decoded (cold, or not kept) */
	uint64_t views_kept;             /* ... and kept with their cache entry */
	uint64_t verify_ok, verify_failed;
	uint64_t cert_noncanonical;
	uint64_t encode_failed;
	uint64_t replay_full;            /* window full: answered overloaded */
};

enum kpg_step {
	KPG_STEP_REPLY,                  /* out holds the answer */
	KPG_STEP_VERIFY,                 /* queue the job, verify later */
	KPG_STEP_DROP,                   /* send nothing (not our protocol) */
};

struct kpg_job {
	const uint8_t *dgram;            /* UDP payload; must stay valid until finished */
	uint32_t len;
	struct kpg_addr src;             /* the sender (family 0: not known) */
	/* engine-private from here on */
	struct kpg_request rq;
	uint8_t auth;                    /* enum kpg_station_auth */
	bool queued;                     /* staged VERIFY, not finished yet */
	bool may_tell;                   /* errors may be answered */
	bool windowed;                   /* has a pending replay entry */
	uint32_t replay_seq;
	const struct kpg_hmac *mac;      /* answer's HMAC key, NULL: none */
	struct kpg_hmac mac_copy;        /* ... kept here while queued */
	uint64_t trust_version;          /* snapshot the job was staged under */
	struct kpg_cache_key ck;
	uint8_t sig_canon[KPG_SIG_MAX];
	int verified;                    /* 1 valid, 0 invalid, -1 key gone */
};

struct kpg_engine;

struct kpg_engine *kpg_engine_new(const struct kpg_engine_conf *conf);
void kpg_engine_delete(struct kpg_engine *e);

struct kpg_chain;

/* Once per burst: the trust snapshot in force (NULL if none), the policy
 * chain in force (NULL: the key checks alone judge), the station table in
 * force (NULL or empty: every source is served and told its errors) and
 * the gateway's UTC clock in nanoseconds, read once. It never touches the
 * snapshots of the previous call, which RCU may already have reclaimed: a
 * worker reports quiescence between bursts while the engine still holds
 * those pointers. */
void kpg_engine_begin(struct kpg_engine *e, const struct kpg_trust *t,
		      const struct kpg_chain *chain,
		      const struct kpg_stations *stations, int64_t now_ns);

/* out must not overlap the datagram; cap is the most the reply may take
 * (the request's length, so replies never amplify). */
enum kpg_step kpg_engine_stage(struct kpg_engine *e, struct kpg_job *j,
			       uint8_t *out, uint32_t cap, uint32_t *out_len);

/* Verifies n staged jobs against the snapshot of the last begin(). */
void kpg_engine_verify(struct kpg_engine *e, struct kpg_job **jobs, unsigned n);

/* Completes a verified job: decode, checks, verdicts, answer. */
enum kpg_step kpg_engine_finish(struct kpg_engine *e, struct kpg_job *j,
				uint8_t *out, uint32_t cap, uint32_t *out_len);

/* Answers a job that cannot be served with an error: a staged one (cold
 * queue full), or one never staged (a draining gateway), which then gets
 * the station checks first, so no unproven source hears of it either. */
enum kpg_step kpg_engine_refuse(struct kpg_engine *e, struct kpg_job *j,
				enum kpg_error err, uint8_t *out, uint32_t cap,
				uint32_t *out_len);

const struct kpg_engine_stats *kpg_engine_stats(const struct kpg_engine *e);

struct kpg_audit_rec;
/* The audit record of the last answer (a step that returned REPLY); valid
 * until the next stage, finish or refuse. lcore and seq are the caller's.
 * NULL when that answer was a rescan: the stored original re-sent for the
 * same bytes, whose decision was recorded when it was made. */
const struct kpg_audit_rec *kpg_engine_audit(const struct kpg_engine *e);

#endif
