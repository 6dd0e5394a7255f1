/* kpg_engine.h — one lcore's request pipeline, without DPDK.
 *
 * For each request datagram the gateway calls kpg_engine_stage(): framing
 * and schema pre-scan, clock skew, trust snapshot lookup of the key, key
 * status, canonical signature, then the verified-result cache. A refused or
 * warm request is answered at once. A cold one returns KPG_STEP_VERIFY: the
 * gateway queues the job (the datagram stays in its packet buffer) and later
 * runs kpg_engine_verify() on a batch and kpg_engine_finish() on each job.
 * The engine owns its arena, cache and counters; nothing in it allocates per
 * request, locks or logs. */
#ifndef KPG_ENGINE_H
#define KPG_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "kpg_cache.h"
#include "kpg_request.h"
#include "kpg_trust.h"
#include "kpg_verdict.h"

struct kpg_engine_conf {
	uint32_t cache_entries;          /* verified-result cache, this lcore */
	int64_t clock_skew_s;            /* |scan_time - now| allowed */
	int64_t trust_grace_s;           /* list in force usable past next_update */
	unsigned slot;                   /* this lcore's verifier slot in snapshots */
	uint32_t arena_bytes;            /* certificate decoding arena */
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
	uint64_t verify_ok, verify_failed;
	uint64_t cert_noncanonical;
	uint64_t encode_failed;
};

enum kpg_step {
	KPG_STEP_REPLY,                  /* out holds the answer */
	KPG_STEP_VERIFY,                 /* queue the job, verify later */
	KPG_STEP_DROP,                   /* send nothing (not our protocol) */
};

struct kpg_job {
	const uint8_t *dgram;            /* UDP payload; must stay valid until finished */
	uint32_t len;
	/* engine-private from here on */
	struct kpg_request rq;
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
 * chain in force (NULL: the key checks alone judge) and the
 * gateway's UTC clock, read once. It never touches the snapshot of the
 * previous call, which RCU may already have reclaimed: a worker reports
 * quiescence between bursts while the engine still holds that pointer. */
void kpg_engine_begin(struct kpg_engine *e, const struct kpg_trust *t,
		      const struct kpg_chain *chain, int64_t now);

/* out must not overlap the datagram; cap is the most the reply may take
 * (the request's length, so replies never amplify). */
enum kpg_step kpg_engine_stage(struct kpg_engine *e, struct kpg_job *j,
			       uint8_t *out, uint32_t cap, uint32_t *out_len);

/* Verifies n staged jobs against the snapshot of the last begin(). */
void kpg_engine_verify(struct kpg_engine *e, struct kpg_job **jobs, unsigned n);

/* Completes a verified job: decode, checks, verdicts, answer. */
enum kpg_step kpg_engine_finish(struct kpg_engine *e, struct kpg_job *j,
				uint8_t *out, uint32_t cap, uint32_t *out_len);

/* Answers a job that cannot be served (cold queue full) with an error. */
enum kpg_step kpg_engine_refuse(struct kpg_engine *e, struct kpg_job *j,
				enum kpg_error err, uint8_t *out, uint32_t cap,
				uint32_t *out_len);

const struct kpg_engine_stats *kpg_engine_stats(const struct kpg_engine *e);

struct kpg_audit_rec;
/* The audit record of the last answer (a step that returned REPLY); valid
 * until the next stage, finish or refuse. lcore and seq are the caller's. */
const struct kpg_audit_rec *kpg_engine_audit(const struct kpg_engine *e);

#endif
