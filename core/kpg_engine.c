#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kpg_cert.h"
#include "kpg_date.h"
#include <stdio.h>

#include "kpg_audit.h"
#include "kpg_engine.h"
#include "kpg_plugin_host.h"
#include "kpg_replay.h"
#include "kpg_response.h"

#define VERIFY_CHUNK 32u
#define NANO 1000000000ll
#define REPLAY_ENTRIES 8192u
/* Answer bytes kept per window entry, on average: an entry reserves its
 * request's length; typical requests are 450-800 bytes. */
#define REPLAY_BYTES_PER_ENTRY 768u

/* kpg_engine_stage()'s internal "no answer yet, go on" */
#define STEP_CONTINUE ((enum kpg_step)-1)

struct kpg_engine {
	struct kpg_engine_conf conf;
	struct kpg_engine_stats st;
	struct kpg_cache *cache;
	struct kpg_arena arena;
	const struct kpg_trust *trust;       /* of the last begin() */
	const struct kpg_chain *chain;       /* of the last begin(); may be NULL */
	const struct kpg_stations *stations; /* of the last begin(); NULL: open */
	uint64_t trust_version;
	enum kpg_error trust_err;            /* NONE, UNAVAILABLE or STALE */
	int64_t now, now_ns;
	uint32_t today;                      /* YYYYMMDD of now */
	/* What plugins see of the request being judged. */
	struct kpg_measurement measurement;
	struct kpg_key_view key_view;
	char station[KPG_STATION_ID_MAX + 1];
	char seal[KPG_STR_MAX + 1];
	/* The request being answered, for its audit record. */
	const struct kpg_job *cur;           /* NULL: the request was unreadable */
	const char *cur_number;              /* decoded certificate number */
	struct kpg_audit_rec audit;          /* of the last answer */
	bool audit_fresh;                    /* audit is of the last answer */
	/* ... and for the station checks, readable or not. */
	struct kpg_job *job;
	const struct kpg_station *cur_st;    /* its station row; NULL: open */
	struct kpg_replay *replay;
};

struct kpg_engine *kpg_engine_new(const struct kpg_engine_conf *conf)
{
	struct kpg_engine *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return NULL;
	e->conf = *conf;
	if (e->conf.arena_bytes == 0)
		e->conf.arena_bytes = 64 * 1024;
	if (e->conf.replay_entries == 0)
		e->conf.replay_entries = REPLAY_ENTRIES;
	e->cache = kpg_cache_new(conf->cache_entries ? conf->cache_entries : 16384);
	/* Same bytes stay acceptable (clock-wise) for at most 2 x skew after
	 * they first arrived; one second more for whole-second clocks. */
	e->replay = kpg_replay_new(e->conf.replay_entries,
				   (uint64_t)e->conf.replay_entries * REPLAY_BYTES_PER_ENTRY,
				   2 * e->conf.clock_skew_s + 1);
	if (e->cache == NULL || e->replay == NULL ||
	    kpg_arena_init(&e->arena, e->conf.arena_bytes) < 0) {
		kpg_cache_delete(e->cache);
		kpg_replay_delete(e->replay);
		free(e);
		return NULL;
	}
	e->trust_err = KPG_ERR_TRUST_LIST_UNAVAILABLE;
	return e;
}

void kpg_engine_delete(struct kpg_engine *e)
{
	if (e == NULL)
		return;
	kpg_cache_delete(e->cache);
	kpg_replay_delete(e->replay);
	kpg_arena_fini(&e->arena);
	free(e);
}

const struct kpg_audit_rec *kpg_engine_audit(const struct kpg_engine *e)
{
	return e->audit_fresh ? &e->audit : NULL;
}

const struct kpg_engine_stats *kpg_engine_stats(const struct kpg_engine *e)
{
	return &e->st;
}

void kpg_engine_begin(struct kpg_engine *e, const struct kpg_trust *t,
		      const struct kpg_chain *chain,
		      const struct kpg_stations *stations, int64_t now_ns)
{
	int64_t now = now_ns / NANO;

	e->trust = t;
	e->chain = chain;
	e->stations = kpg_stations_count(stations) ? stations : NULL;
	if (now != e->now || e->today == 0)     /* the date moves once a second */
		e->today = kpg_date_from_unix(now);
	e->now = now;
	e->now_ns = now_ns;
	if (t == NULL) {
		e->trust_version = 0;
		e->trust_err = KPG_ERR_TRUST_LIST_UNAVAILABLE;
		return;
	}
	e->trust_version = kpg_trust_version(t);
	/* A list past its next update (and grace) no longer vouches for
	 * anything: fail closed until a fresh list is loaded. */
	if (now > kpg_trust_next_update(t) + e->conf.trust_grace_s)
		e->trust_err = KPG_ERR_TRUST_LIST_STALE;
	else
		e->trust_err = KPG_ERR_NONE;
}

/* The audit record of an answer that is going out. */
static void record(struct kpg_engine *e, const struct kpg_answer *a)
{
	struct kpg_audit_rec *r = &e->audit;
	const struct kpg_job *j = e->cur;
	uint32_t n;

	r->time = e->now;
	r->request_id = a->request_id;
	r->trust_version = a->trust_version;
	r->decision = (uint8_t)a->decision;
	r->error = (uint8_t)a->error;
	r->has_key = j != NULL;
	r->station[0] = '\0';
	r->cert_number[0] = '\0';
	if (j) {
		memcpy(r->key_id, j->rq.key_id.p, KPG_KEY_ID_LEN);
		n = j->rq.station_id.len < KPG_STATION_ID_MAX ? j->rq.station_id.len
							      : KPG_STATION_ID_MAX;
		memcpy(r->station, j->rq.station_id.p, n);
		r->station[n] = '\0';
	}
	if (e->cur_number) {
		/* Cut a long number on a character boundary: the record stays
		 * valid UTF-8 wherever it is shipped. */
		size_t len = strnlen(e->cur_number, sizeof(r->cert_number));

		if (len == sizeof(r->cert_number)) {
			len--;
			while (len > 0 && ((unsigned char)e->cur_number[len] & 0xc0) == 0x80)
				len--;
		}
		memcpy(r->cert_number, e->cur_number, len);
		r->cert_number[len] = '\0';
	}
	e->audit_fresh = true;
	r->n_verdicts = 0;
	for (unsigned i = 0; a->verdicts && i < a->verdicts->n; i++) {
		struct kpg_audit_verdict *v = &r->verdicts[r->n_verdicts++];
		size_t len = strnlen(a->verdicts->v[i].check, sizeof(v->check) - 1);

		memcpy(v->check, a->verdicts->v[i].check, len);
		v->check[len] = '\0';
		v->decision = (uint8_t)a->verdicts->v[i].decision;
		v->reason = a->verdicts->v[i].reason;
	}
}

static struct kpg_station_counts *counts(const struct kpg_engine *e)
{
	return e->cur_st ? &kpg_station_lcore(e->cur_st, e->conf.slot)->c : NULL;
}

/* Answers that say "not now" are not the request's answer: a retry of
 * the same bytes must be judged afresh, not handed this again. */
static bool transient(enum kpg_error err)
{
	return err == KPG_ERR_OVERLOADED || err == KPG_ERR_TRUST_LIST_UNAVAILABLE ||
	       err == KPG_ERR_TRUST_LIST_STALE;
}

/* The job's replay entry gets its answer, or is forgotten (ans NULL). */
static void settle(struct kpg_engine *e, struct kpg_job *j, const uint8_t *ans,
		   uint32_t len)
{
	if (!j->windowed)
		return;
	j->windowed = false;
	if (ans)
		kpg_replay_commit(e->replay, j->replay_seq, ans, len);
	else
		kpg_replay_cancel(e->replay, j->replay_seq);
}

/* No answer for this request after all; counted where it belongs. */
static enum kpg_step withhold(struct kpg_engine *e, struct kpg_job *j)
{
	struct kpg_station_counts *c = counts(e);

	settle(e, j, NULL, 0);
	if (c)
		c->unanswered++;
	return KPG_STEP_DROP;
}

static enum kpg_step answer(struct kpg_engine *e, uint64_t request_id,
			    const struct kpg_verdicts *vs, enum kpg_error err,
			    uint8_t *out, uint32_t cap, uint32_t *out_len)
{
	struct kpg_job *j = e->job;
	struct kpg_answer a = {
		.request_id = request_id,
		.error = err,
		.trust_version = e->trust_version,
		.verdicts = vs,
		.hmac = j->mac != NULL,
	};
	struct kpg_station_counts *c = counts(e);
	int n;

	/* An error told to an unproven source would let anyone aim our
	 * answers at a third party: only proven stations hear of errors. */
	if (err != KPG_ERR_NONE && !j->may_tell)
		return withhold(e, j);
	a.decision = err == KPG_ERR_NONE ? kpg_decision_aggregate(vs) : KPG_DECISION_NONE;
	n = kpg_response_encode(&a, out, cap);
	if (n < 0) {
		/* Not even the bare answer fits the request's size: sending
		 * more than we received would make us an amplifier. */
		e->st.encode_failed++;
		return withhold(e, j);
	}
	if (a.hmac)
		kpg_hmac_tag(j->mac, out, (size_t)n - KPG_HMAC_FIELD_LEN,
			     out + n - KPG_HMAC_LEN);
	settle(e, j, transient(err) ? NULL : out, (uint32_t)n);
	if (c)
		c->answered++;
	if (err != KPG_ERR_NONE) {
		e->st.errors[err]++;
	} else {
		e->st.decisions[a.decision]++;
		for (unsigned i = 0; i < vs->n; i++)
			if (vs->v[i].decision != KPG_ACCEPT && vs->v[i].reason < KPG_R__COUNT)
				e->st.reasons[vs->v[i].reason]++;
	}
	*out_len = (uint32_t)n;
	record(e, &a);
	return KPG_STEP_REPLY;
}

static enum kpg_step answer_error(struct kpg_engine *e, uint64_t request_id,
				  enum kpg_error err, uint8_t *out, uint32_t cap,
				  uint32_t *out_len)
{
	return answer(e, request_id, NULL, err, out, cap, out_len);
}

/* One reject verdict from the signature check, answered at once. */
static enum kpg_step answer_key_refusal(struct kpg_engine *e, const struct kpg_job *j,
					const struct kpg_trust_key *key, uint8_t *out,
					uint32_t cap, uint32_t *out_len)
{
	struct kpg_verdicts vs = { 0 };
	const uint8_t *id = j->rq.key_id.p;

	if (key == NULL)
		kpg_verdict_add(&vs, "signature", KPG_REJECT, KPG_R_UNKNOWN_KEY,
				"no trusted authority key %02x%02x%02x%02x%02x%02x%02x%02x",
				id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7]);
	else if (key->status == KPG_KEY_REVOKED)
		kpg_verdict_add(&vs, "signature", KPG_REJECT, KPG_R_KEY_REVOKED,
				"key of %s (%s) is revoked", key->authority, key->participant);
	else
		kpg_verdict_add(&vs, "signature", KPG_REJECT, KPG_R_SIGNATURE_INVALID,
				"does not verify with the %s key of %s",
				key->participant, key->authority);
	return answer(e, j->rq.request_id, &vs, KPG_ERR_NONE, out, cap, out_len);
}

static void check_key_use(struct kpg_verdicts *vs, const struct kpg_trust_key *key,
			  const struct kpg_cert *c)
{
	if (memcmp(c->issuing_participant, key->participant, 2) != 0) {
		kpg_verdict_add(vs, "signature", KPG_REJECT, KPG_R_ISSUER_MISMATCH,
				"certificate names issuer %s but the key belongs to %s",
				c->issuing_participant, key->participant);
		return;
	}
	if (key->status == KPG_KEY_RETIRED &&
	    kpg_date_to_unix(c->issue_date) >= key->status_since) {
		kpg_verdict_add(vs, "signature", KPG_REJECT, KPG_R_KEY_RETIRED,
				"key of %s was retired before the issue date",
				key->authority);
		return;
	}
	if (c->issue_date < key->first_day || c->issue_date > key->last_day) {
		kpg_verdict_add(vs, "signature", KPG_REJECT, KPG_R_KEY_OUT_OF_WINDOW,
				"issued outside the validity of the key of %s",
				key->authority);
		return;
	}
	kpg_verdict_put(vs, "signature", KPG_ACCEPT, KPG_R_OK, key->signed_by);
}

/* What plugins see of this request: views into the datagram, the decoded
 * certificate and the key's trust-list entry; strings NUL-terminated. */
static void scan_view(struct kpg_engine *e, const struct kpg_job *j,
		      const struct kpg_trust_key *key, const struct kpg_cert *c,
		      struct kpg_scan_view *sv)
{
	const struct kpg_request *rq = &j->rq;
	uint32_t n;

	n = rq->station_id.len < KPG_STATION_ID_MAX ? rq->station_id.len : KPG_STATION_ID_MAX;
	memcpy(e->station, rq->station_id.p, n);
	e->station[n] = '\0';
	n = rq->seal_number.len < KPG_STR_MAX ? rq->seal_number.len : KPG_STR_MAX;
	if (n)
		memcpy(e->seal, rq->seal_number.p, n);
	e->seal[n] = '\0';
	e->measurement = (struct kpg_measurement){
		.has_parcel_count = rq->has_parcel_count,
		.has_gross_mass = rq->has_gross_mass,
		.has_seal = rq->has_seal,
		.parcel_count = rq->parcel_count,
		.gross_mass_mg = rq->gross_mass_mg,
		.seal_number = { e->seal, n },
	};
	e->key_view = (struct kpg_key_view){
		.key_id = key->key_id,
		.authority = key->authority,
		.alg = key->alg,
		.status = key->status,
		.not_before = key->not_before,
		.not_after = key->not_after,
		.status_since = key->status_since,
	};
	memcpy(e->key_view.participant, key->participant, sizeof(e->key_view.participant));
	*sv = (struct kpg_scan_view){
		.request_id = rq->request_id,
		.station_id = { e->station, (uint32_t)strlen(e->station) },
		.scan_time = rq->scan_time,
		.now = e->now,
		.today = e->today,
		.worker = e->conf.slot,
		.cert = c,
		.measurement = &e->measurement,
		.key = &e->key_view,
		.trust_version = e->trust_version,
		.issuer_status = kpg_trust_participant(e->trust, c->issuing_participant),
		.importer_status = kpg_trust_participant(e->trust, c->importing_participant),
		.cert_bytes = rq->cert.p,
		.cert_len = rq->cert.len,
	};
}

/* The signature is good (verified now or cached): the certificate's view
 * (kept with its cache entry, or decoded now and kept there), then the
 * key's own checks and the checkpoint's policy chain. hit is the bytes'
 * cache entry, NULL when they are not cached. */
static enum kpg_step judge(struct kpg_engine *e, const struct kpg_job *j,
			   const struct kpg_trust_key *key,
			   struct kpg_cache_entry *hit, uint8_t *out,
			   uint32_t cap, uint32_t *out_len)
{
	struct kpg_verdicts vs;
	struct kpg_scan_view sv;
	struct kpg_cert decoded;
	const struct kpg_cert *c = hit ? kpg_cache_view(hit) : NULL;
	const char *why = "unreadable";
	enum kpg_step step;

	vs.n = 0;
	if (c == NULL &&
	    kpg_cert_decode(j->rq.cert.p, j->rq.cert.len, &e->arena, &decoded, &why) == 0) {
		c = &decoded;
		e->st.cert_decodes++;
		if (hit && kpg_cache_keep_view(hit, &decoded))
			e->st.views_kept++;
	}
	if (c == NULL) {
		kpg_verdict_add(&vs, "certificate", KPG_REJECT, KPG_R_CERT_INVALID,
				"signed but invalid: %s", why);
	} else {
		e->cur_number = c->number.p;
		check_key_use(&vs, key, c);
		if (e->chain) {
			scan_view(e, j, key, c, &sv);
			kpg_chain_evaluate(e->chain, &sv, &vs);
			/* State changes (consumption) follow only the final verdict. */
			kpg_chain_commit(e->chain, &sv, kpg_decision_aggregate(&vs));
		}
	}
	step = answer(e, j->rq.request_id, &vs, KPG_ERR_NONE, out, cap, out_len);
	e->cur_number = NULL;        /* it may have lived in the arena */
	kpg_arena_reset(&e->arena);
	return step;
}

static int request_error(int reason)
{
	switch (reason) {
	case KPG_REQ_SHORT:
	case KPG_REQ_BAD_MAGIC:
	case KPG_REQ_BAD_TYPE:
		return -1;   /* not a request of ours: never answered */
	case KPG_REQ_BAD_VERSION:
		return KPG_ERR_UNSUPPORTED_VERSION;
	default:
		return KPG_ERR_MALFORMED_REQUEST;
	}
}

/* Who sent it: station id, source address, HMAC. Refusals here cost no
 * crypto beyond the one HMAC. */
static enum kpg_step station_stage(struct kpg_engine *e, struct kpg_job *j,
				   uint8_t *out, uint32_t cap, uint32_t *out_len)
{
	struct kpg_station_verdict v;

	kpg_stations_check(e->stations, &j->rq, j->dgram, &j->src, &v);
	e->cur_st = v.st;
	counts(e)->requests++;
	j->auth = (uint8_t)v.auth;
	j->may_tell = v.auth == KPG_AUTH_OK ||
		      kpg_stations_registered(e->stations, &j->src);
	switch (v.auth) {
	case KPG_AUTH_UNKNOWN:
		return answer_error(e, j->rq.request_id, KPG_ERR_STATION_UNKNOWN,
				    out, cap, out_len);
	case KPG_AUTH_FAILED:
		counts(e)->auth_failed++;
		return answer_error(e, j->rq.request_id, KPG_ERR_STATION_AUTH_FAILED,
				    out, cap, out_len);
	default:
		break;
	}
	if (v.hmac_ok)
		j->mac = &v.st->key;
	return STEP_CONTINUE;
}

/* A proven station's (station, request id) seen before: the same bytes
 * get the first answer again, copied; other bytes are a replay. */
static enum kpg_step replay_stage(struct kpg_engine *e, struct kpg_job *j,
				  uint8_t *out, uint32_t cap, uint32_t *out_len)
{
	uint8_t digest[KPG_REPLAY_DIGEST_LEN];
	const uint8_t *d = digest, *ans;
	uint32_t len;

	/* A verified tag already is a keyed digest of every byte before
	 * it; only requests without one are hashed here. */
	if (j->mac)
		d = j->rq.hmac.p;
	else
		kpg_station_digest(j->dgram, j->len, digest);
	switch (kpg_replay_check(e->replay, e->cur_st->hash, j->rq.request_id, d,
				 j->len, e->now, &j->replay_seq, &ans, &len)) {
	case KPG_REPLAY_FRESH:
		j->windowed = true;
		return STEP_CONTINUE;
	case KPG_REPLAY_RESCAN:
		if (len > cap)                   /* cannot be: same bytes, same cap */
			return withhold(e, j);
		memcpy(out, ans, len);
		*out_len = len;
		counts(e)->rescans++;
		counts(e)->answered++;
		return KPG_STEP_REPLY;
	case KPG_REPLAY_PENDING:
		/* the first copy is still waiting for its verify; it will be
		 * answered, and this retry would only queue twice */
		counts(e)->rescans++;
		return withhold(e, j);
	case KPG_REPLAY_REFUSE:
		counts(e)->replays++;
		return answer_error(e, j->rq.request_id, KPG_ERR_REPLAY, out, cap, out_len);
	case KPG_REPLAY_FULL:
		break;
	}
	e->st.replay_full++;
	return answer_error(e, j->rq.request_id, KPG_ERR_OVERLOADED, out, cap, out_len);
}

/* Station checks are off without a table: the job is open. */
static void job_reset(struct kpg_engine *e, struct kpg_job *j)
{
	e->cur = NULL;
	e->cur_number = NULL;
	e->audit_fresh = false;
	e->job = j;
	e->cur_st = NULL;
	j->auth = KPG_AUTH_NONE;
	j->queued = false;
	j->may_tell = true;
	j->windowed = false;
	j->mac = NULL;
}

enum kpg_step kpg_engine_stage(struct kpg_engine *e, struct kpg_job *j,
			       uint8_t *out, uint32_t cap, uint32_t *out_len)
{
	const struct kpg_trust_key *key;
	struct kpg_cache_entry *hit;
	enum kpg_step step;
	int r, n;

	e->st.requests++;
	job_reset(e, j);
	r = kpg_request_parse(j->dgram, j->len, &j->rq);
	if (r != KPG_REQ_OK) {
		int err = request_error(r);

		if (r > 0 && r < KPG_REQ__COUNT)
			e->st.refused[r]++;
		if (err < 0)
			return KPG_STEP_DROP;
		if (e->stations) {
			/* no station read: counted as from an unknown one */
			e->cur_st = kpg_stations_at(e->stations,
						    kpg_stations_count(e->stations));
			counts(e)->requests++;
			j->may_tell = kpg_stations_registered(e->stations, &j->src);
		}
		return answer_error(e, 0, (enum kpg_error)err, out, cap, out_len);
	}
	e->cur = j;
	if (e->stations &&
	    (step = station_stage(e, j, out, cap, out_len)) != STEP_CONTINUE)
		return step;
	if (e->trust_err != KPG_ERR_NONE)
		return answer_error(e, j->rq.request_id, e->trust_err, out, cap, out_len);
	if (j->rq.scan_time > e->now + e->conf.clock_skew_s ||
	    j->rq.scan_time < e->now - e->conf.clock_skew_s)
		return answer_error(e, j->rq.request_id, KPG_ERR_CLOCK_SKEW, out, cap, out_len);
	/* After the clock check: the window only has to cover scan times
	 * the clock check still lets through. */
	if (j->auth == KPG_AUTH_OK &&
	    (step = replay_stage(e, j, out, cap, out_len)) != STEP_CONTINUE)
		return step;
	/* Cheap refusals before any crypto: unknown or revoked key, and a
	 * signature that is not even well encoded. */
	key = kpg_trust_find(e->trust, j->rq.key_id.p);
	if (key == NULL || key->status == KPG_KEY_REVOKED)
		return answer_key_refusal(e, j, key, out, cap, out_len);
	n = kpg_sig_canonical(key->pub, j->rq.sig.p, j->rq.sig.len,
			      j->sig_canon, sizeof(j->sig_canon));
	if (n < 0) {
		e->st.verify_failed++;
		return answer_key_refusal(e, j, key, out, cap, out_len);
	}

	j->trust_version = e->trust_version;
	j->ck = (struct kpg_cache_key){
		.key_id = j->rq.key_id.p,
		.sig = j->sig_canon,
		.sig_len = (uint32_t)n,
		.msg = j->rq.cert.p,
		.msg_len = j->rq.cert.len,
	};
	kpg_cache_hash(&j->ck);
	hit = kpg_cache_find(e->cache, &j->ck, e->trust_version);
	if (hit) {
		e->st.cache_hits++;
		j->verified = 1;
		return judge(e, j, key, hit, out, cap, out_len);
	}
	/* Only bytes that passed this scan and verified are ever cached, so
	 * a hit needs no second scan: the warm path skips it. */
	if (kpg_cert_scan(j->rq.cert.p, j->rq.cert.len) != KPG_WIRE_OK) {
		e->st.cert_noncanonical++;
		return answer_error(e, j->rq.request_id, KPG_ERR_NONCANONICAL_CERTIFICATE,
				    out, cap, out_len);
	}
	e->st.cache_misses++;
	j->verified = 0;
	if (e->stations) {
		/* Charged only now, after the HMAC, and only to a station that
		 * proved itself: a spoofed source spends the shared bucket of
		 * unknown senders, never a station's; warm answers cost none. */
		const struct kpg_station *b = j->auth == KPG_AUTH_OK ? e->cur_st :
			kpg_stations_at(e->stations, kpg_stations_count(e->stations));
		struct kpg_station_counts *bc = &kpg_station_lcore(b, e->conf.slot)->c;

		if (!kpg_station_take(b, e->conf.slot, e->now_ns)) {
			bc->rate_limited++;
			if (j->auth != KPG_AUTH_OK)
				return withhold(e, j);
			return answer_error(e, j->rq.request_id, KPG_ERR_OVERLOADED,
					    out, cap, out_len);
		}
		bc->verifies++;
	}
	/* the table may be swapped while the job waits: keep the key */
	if (j->mac) {
		j->mac_copy = *j->mac;
		j->mac = &j->mac_copy;
	}
	j->queued = true;
	return KPG_STEP_VERIFY;
}

/* Keys are looked up again in the snapshot in force now: a list swapped
 * while the job waited (a revocation) applies to it. The key id is the hash
 * of the key, so the canonical signature computed at stage still holds. */
static const struct kpg_trust_key *current_key(const struct kpg_engine *e,
					       const struct kpg_job *j)
{
	const struct kpg_trust_key *key;

	if (e->trust_err != KPG_ERR_NONE)
		return NULL;
	key = kpg_trust_find(e->trust, j->rq.key_id.p);
	if (key == NULL || key->status == KPG_KEY_REVOKED)
		return NULL;
	return key;
}

void kpg_engine_verify(struct kpg_engine *e, struct kpg_job **jobs, unsigned n)
{
	struct kpg_verify_op ops[VERIFY_CHUNK];
	struct kpg_job *owner[VERIFY_CHUNK];

	for (unsigned base = 0; base < n; base += VERIFY_CHUNK) {
		unsigned m = 0, end = n - base < VERIFY_CHUNK ? n - base : VERIFY_CHUNK;

		for (unsigned i = 0; i < end; i++) {
			struct kpg_job *j = jobs[base + i];
			const struct kpg_trust_key *key = current_key(e, j);

			if (key == NULL) {
				j->verified = -1;
				continue;
			}
			j->trust_version = e->trust_version;
			/* A copy of this certificate may have been verified since
			 * the job was staged (floods repeat one certificate). */
			if (kpg_cache_lookup(e->cache, &j->ck, e->trust_version)) {
				e->st.cache_hits++;
				j->verified = 1;
				continue;
			}
			ops[m] = (struct kpg_verify_op){
				.v = key->verifiers[e->conf.slot],
				.msg = j->rq.cert.p,
				.msg_len = j->rq.cert.len,
				.sig = j->rq.sig.p,
				.sig_len = j->rq.sig.len,
			};
			owner[m++] = j;
		}
		kpg_verify_batch(ops, m);
		for (unsigned i = 0; i < m; i++) {
			owner[i]->verified = ops[i].ok;
			if (ops[i].ok) {
				e->st.verify_ok++;
				kpg_cache_insert(e->cache, &owner[i]->ck, e->trust_version);
			} else {
				e->st.verify_failed++;
			}
		}
	}
}

/* A queued job's station row in the table in force now (it may have been
 * swapped, or the station removed, while the job waited). */
static void job_resume(struct kpg_engine *e, struct kpg_job *j)
{
	const struct kpg_station *s = NULL;

	e->cur = j;
	e->cur_number = NULL;
	e->audit_fresh = false;
	e->job = j;
	e->cur_st = NULL;
	j->queued = false;
	if (e->stations == NULL)
		return;
	if (j->auth != KPG_AUTH_NONE && j->rq.station_id.p)
		s = kpg_stations_find(e->stations, j->rq.station_id.p,
				      j->rq.station_id.len);
	e->cur_st = s ? s : kpg_stations_at(e->stations, kpg_stations_count(e->stations));
}

enum kpg_step kpg_engine_finish(struct kpg_engine *e, struct kpg_job *j,
				uint8_t *out, uint32_t cap, uint32_t *out_len)
{
	const struct kpg_trust_key *key;

	job_resume(e, j);
	if (e->trust_err != KPG_ERR_NONE)
		return answer_error(e, j->rq.request_id, e->trust_err, out, cap, out_len);
	key = kpg_trust_find(e->trust, j->rq.key_id.p);
	if (key == NULL || key->status == KPG_KEY_REVOKED || j->verified != 1)
		return answer_key_refusal(e, j, key, out, cap, out_len);
	/* Found again rather than remembered from the verify: another job of
	 * the batch may have taken its way since. The view decoded now is
	 * kept with it for the warm requests to come. */
	return judge(e, j, key, kpg_cache_find(e->cache, &j->ck, e->trust_version),
		     out, cap, out_len);
}

enum kpg_step kpg_engine_refuse(struct kpg_engine *e, struct kpg_job *j,
				enum kpg_error err, uint8_t *out, uint32_t cap,
				uint32_t *out_len)
{
	enum kpg_step step;

	if (!j->queued) {
		job_reset(e, j);
		if (kpg_request_parse(j->dgram, j->len, &j->rq) != KPG_REQ_OK)
			return KPG_STEP_DROP;    /* callers refuse readable ones */
		e->cur = j;
		if (e->stations &&
		    (step = station_stage(e, j, out, cap, out_len)) != STEP_CONTINUE)
			return step;
		return answer_error(e, j->rq.request_id, err, out, cap, out_len);
	}
	job_resume(e, j);
	return answer_error(e, j->rq.request_id, err, out, cap, out_len);
}
