/* The per-lcore request engine end to end, without DPDK: what a station
 * would see for genuine, forged, unknown-key, revoked, retired, expired,
 * malformed and non-canonical requests, the warm path through the
 * verified-result cache, and trust lists changing underneath. */
#include <string.h>

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/obj_mac.h>

#include "kpg_audit.h"
#include "kpg_cunit.h"
#include "kpg_date.h"
#include "kpg_engine.h"
#include "kpg_testkit.h"

#define NS 1000000000ll          /* kpg_engine_begin() takes nanoseconds */

static struct kpg_tk_pki pki;
static int64_t now;

struct outcome {
	enum kpg_step step;
	int warm;                        /* answered at stage, no verify */
	Kpgate__ScanResponse *r;
	uint32_t len;
};

static const struct kpg_engine_conf conf = {
	.cache_entries = 1024,
	.clock_skew_s = 300,
	.trust_grace_s = 3600,
	.slot = 0,
};

/* Runs one datagram through the engine as a worker does. */
static struct outcome run(struct kpg_engine *e, const uint8_t *dgram, uint32_t len)
{
	static uint8_t out[KPG_DATAGRAM_MAX];
	struct kpg_job job = { .dgram = dgram, .len = len }, *jp = &job;
	struct outcome o = { 0 };

	o.step = kpg_engine_stage(e, &job, out, len, &o.len);
	o.warm = o.step == KPG_STEP_REPLY;
	if (o.step == KPG_STEP_VERIFY) {
		kpg_engine_verify(e, &jp, 1);
		o.step = kpg_engine_finish(e, &job, out, len, &o.len);
	}
	if (o.step == KPG_STEP_REPLY) {
		CU_ASSERT(o.len <= len);
		o.r = kpgate__scan_response__unpack(NULL, o.len - KPG_HDR_LEN,
						    out + KPG_HDR_LEN);
		CU_ASSERT_PTR_NOT_NULL(o.r);
	}
	return o;
}

static void done(struct outcome *o)
{
	if (o->r)
		kpgate__scan_response__free_unpacked(o->r, NULL);
}

static const Kpgate__Verdict *verdict(const struct outcome *o, const char *check)
{
	for (size_t i = 0; o->r && i < o->r->n_verdicts; i++)
		if (strcmp(o->r->verdicts[i]->check, check) == 0)
			return o->r->verdicts[i];
	return NULL;
}

static int request_for(const Kpgate__Certificate *c, enum kpg_alg alg,
		       uint64_t id, int64_t scan_time, uint8_t *out)
{
	uint8_t sc[KPG_DATAGRAM_MAX];
	int n = kpg_tk_cert_sign(pki.auth[alg], c, sc, sizeof(sc));

	CU_ASSERT_FATAL(n > 0);
	n = kpg_tk_request(id, sc, (size_t)n, scan_time, out, KPG_DATAGRAM_MAX);
	CU_ASSERT_FATAL(n > 0);
	return n;
}

static struct kpg_engine *engine_with(struct kpg_trust *t)
{
	struct kpg_engine *e = kpg_engine_new(&conf);

	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	kpg_engine_begin(e, t, NULL, NULL, now * NS);
	return e;
}

static void same_verdicts(const struct outcome *a, const struct outcome *b)
{
	CU_ASSERT_PTR_NOT_NULL_FATAL(a->r);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b->r);
	CU_ASSERT_EQUAL(a->r->decision, b->r->decision);
	CU_ASSERT_EQUAL_FATAL(a->r->n_verdicts, b->r->n_verdicts);
	for (size_t i = 0; i < a->r->n_verdicts; i++) {
		CU_ASSERT_STRING_EQUAL(a->r->verdicts[i]->check, b->r->verdicts[i]->check);
		CU_ASSERT_EQUAL(a->r->verdicts[i]->decision, b->r->verdicts[i]->decision);
		CU_ASSERT_EQUAL(a->r->verdicts[i]->reason, b->r->verdicts[i]->reason);
		CU_ASSERT_STRING_EQUAL(a->r->verdicts[i]->detail ? a->r->verdicts[i]->detail : "",
				       b->r->verdicts[i]->detail ? b->r->verdicts[i]->detail : "");
	}
}

/* A certificate of 120 one-letter seals: 360 signed bytes, but a decoded
 * view of over 2 KiB, more than its cache entry has room for. Its warm
 * requests decode every time and are judged the same. */
static void test_view_too_big_to_keep(void)
{
	struct kpg_trust *t = kpg_tk_trust(&pki, 7, now, NULL, 1);
	struct kpg_engine *e = engine_with(t);
	static char *seals[120];
	uint8_t req[KPG_DATAGRAM_MAX];
	struct kpg_tk_cert tc;
	struct outcome cold, warm;
	int n;

	kpg_tk_cert_default(&tc, now);
	for (unsigned i = 0; i < 120; i++)
		seals[i] = (char *)"S";
	tc.c.n_container_seals = 120;
	tc.c.container_seals = seals;
	n = request_for(&tc.c, KPG_ALG_ED25519, 5, now, req);
	cold = run(e, req, (uint32_t)n);
	CU_ASSERT_FALSE(cold.warm);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cold.r);
	CU_ASSERT_EQUAL(cold.r->decision, KPGATE__DECISION__ACCEPT);
	for (int i = 0; i < 3; i++) {
		warm = run(e, req, (uint32_t)n);
		CU_ASSERT_TRUE(warm.warm);
		same_verdicts(&cold, &warm);
		done(&warm);
	}
	done(&cold);
	CU_ASSERT_EQUAL(kpg_engine_stats(e)->cert_decodes, 4);
	CU_ASSERT_EQUAL(kpg_engine_stats(e)->views_kept, 0);
	kpg_engine_delete(e);
	kpg_trust_delete(t);
}

static void test_genuine_cold_then_warm(void)
{
	struct kpg_trust *t = kpg_tk_trust(&pki, 7, now, NULL, 1);
	struct kpg_engine *e = engine_with(t);
	uint8_t req[KPG_DATAGRAM_MAX];

	for (enum kpg_alg alg = KPG_ALG_ECDSA_P256_SHA256; alg <= KPG_ALG_RSA_PSS_SHA256; alg++) {
		int n = kpg_tk_default_request(&pki, alg, 100 + alg, now, req, sizeof(req));
		struct outcome cold, warm;

		CU_ASSERT_FATAL(n > 0);
		cold = run(e, req, (uint32_t)n);
		CU_ASSERT_FALSE(cold.warm);
		CU_ASSERT_PTR_NOT_NULL_FATAL(cold.r);
		CU_ASSERT_EQUAL(cold.r->decision, KPGATE__DECISION__ACCEPT);
		CU_ASSERT_EQUAL(cold.r->request_id, 100 + alg);
		CU_ASSERT_EQUAL(cold.r->trust_list_version, 7);
		CU_ASSERT_FALSE(cold.r->has_error);
		CU_ASSERT_PTR_NOT_NULL(verdict(&cold, "signature"));
		CU_ASSERT_PTR_NOT_NULL(strstr(verdict(&cold, "signature")->detail, kpg_alg_name(alg)));

		warm = run(e, req, (uint32_t)n);
		CU_ASSERT_TRUE(warm.warm);
		CU_ASSERT_EQUAL(warm.r->decision, KPGATE__DECISION__ACCEPT);
		same_verdicts(&cold, &warm);
		done(&cold);
		done(&warm);
	}
	const struct kpg_engine_stats *st = kpg_engine_stats(e);
	CU_ASSERT_EQUAL(st->cache_hits, 3);
	CU_ASSERT_EQUAL(st->cache_misses, 3);
	/* decoded once each, when verified; the warm ones read the kept view */
	CU_ASSERT_EQUAL(st->cert_decodes, 3);
	CU_ASSERT_EQUAL(st->views_kept, 3);
	CU_ASSERT_EQUAL(st->verify_ok, 3);
	CU_ASSERT_EQUAL(st->decisions[KPG_ACCEPT], 6);
	kpg_engine_delete(e);
	kpg_trust_delete(t);
}

/* A string of the signed bytes altered after signing: same length, still
 * canonical, only the signature can tell. */
static void test_forged_bytes_rejected(void)
{
	struct kpg_trust *t = kpg_tk_trust(&pki, 1, now, NULL, 1);
	struct kpg_engine *e = engine_with(t);
	uint8_t req[KPG_DATAGRAM_MAX];

	for (enum kpg_alg alg = KPG_ALG_ECDSA_P256_SHA256; alg <= KPG_ALG_RSA_PSS_SHA256; alg++) {
		int n = kpg_tk_default_request(&pki, alg, 1, now, req, sizeof(req));
		uint8_t *hit = memmem(req, (size_t)n, "Antwerp", 7);

		CU_ASSERT_PTR_NOT_NULL_FATAL(hit);
		memcpy(hit, "Dubai!!", 7);
		struct outcome o = run(e, req, (uint32_t)n);
		CU_ASSERT_FALSE(o.warm);
		CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__REJECT);
		CU_ASSERT_EQUAL(verdict(&o, "signature")->reason, KPG_R_SIGNATURE_INVALID);
		done(&o);
		/* Never cached: the same forgery costs a verify again. */
		o = run(e, req, (uint32_t)n);
		CU_ASSERT_FALSE(o.warm);
		done(&o);
	}
	CU_ASSERT_EQUAL(kpg_engine_stats(e)->verify_failed, 6);
	kpg_engine_delete(e);
	kpg_trust_delete(t);
}

static void test_unknown_and_revoked_key_need_no_crypto(void)
{
	enum kpg_key_status st[4] = { 0, KPG_KEY_ACTIVE, KPG_KEY_REVOKED, KPG_KEY_ACTIVE };
	struct kpg_trust *t = kpg_tk_trust(&pki, 1, now, st, 1);
	struct kpg_engine *e = engine_with(t);
	uint8_t req[KPG_DATAGRAM_MAX];
	int n;

	n = kpg_tk_default_request(&pki, KPG_ALG_ED25519, 5, now, req, sizeof(req));
	struct outcome o = run(e, req, (uint32_t)n);
	CU_ASSERT_TRUE(o.warm);
	CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__REJECT);
	CU_ASSERT_EQUAL(verdict(&o, "signature")->reason, KPG_R_KEY_REVOKED);
	done(&o);

	/* Flip the key id inside the request. */
	uint8_t kid[KPG_KEY_ID_LEN];
	kpg_signer_key_id(pki.auth[KPG_ALG_ECDSA_P256_SHA256], kid);
	n = kpg_tk_default_request(&pki, KPG_ALG_ECDSA_P256_SHA256, 6, now, req, sizeof(req));
	uint8_t *at = memmem(req, (size_t)n, kid, sizeof(kid));
	CU_ASSERT_PTR_NOT_NULL_FATAL(at);
	at[0] ^= 0x80;
	o = run(e, req, (uint32_t)n);
	CU_ASSERT_TRUE(o.warm);
	CU_ASSERT_EQUAL(verdict(&o, "signature")->reason, KPG_R_UNKNOWN_KEY);
	done(&o);
	CU_ASSERT_EQUAL(kpg_engine_stats(e)->verify_ok + kpg_engine_stats(e)->verify_failed, 0);
	kpg_engine_delete(e);
	kpg_trust_delete(t);
}

/* A key revoked by a new list version is refused at once, even for a
 * certificate already in the verified-result cache. */
static void test_revocation_after_cache_hit(void)
{
	enum kpg_key_status revoked[4] = { 0, KPG_KEY_REVOKED, KPG_KEY_ACTIVE, KPG_KEY_ACTIVE };
	struct kpg_trust *t1 = kpg_tk_trust(&pki, 1, now, NULL, 1);
	struct kpg_trust *t2 = kpg_tk_trust(&pki, 2, now, revoked, 1);
	struct kpg_engine *e = engine_with(t1);
	uint8_t req[KPG_DATAGRAM_MAX];
	int n = kpg_tk_default_request(&pki, KPG_ALG_ECDSA_P256_SHA256, 9, now, req, sizeof(req));
	struct outcome o;

	o = run(e, req, (uint32_t)n);
	done(&o);
	o = run(e, req, (uint32_t)n);
	CU_ASSERT_TRUE(o.warm);
	CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__ACCEPT);
	done(&o);

	kpg_engine_begin(e, t2, NULL, NULL, now * NS);
	o = run(e, req, (uint32_t)n);
	CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__REJECT);
	CU_ASSERT_EQUAL(verdict(&o, "signature")->reason, KPG_R_KEY_REVOKED);
	CU_ASSERT_EQUAL(o.r->trust_list_version, 2);
	done(&o);
	kpg_engine_delete(e);
	kpg_trust_delete(t1);
	kpg_trust_delete(t2);
}

/* A job staged under one list and verified after a swap to a list that
 * revokes its key is refused. */
static void test_revocation_while_queued(void)
{
	enum kpg_key_status revoked[4] = { 0, KPG_KEY_ACTIVE, KPG_KEY_ACTIVE, KPG_KEY_REVOKED };
	struct kpg_trust *t1 = kpg_tk_trust(&pki, 1, now, NULL, 1);
	struct kpg_trust *t2 = kpg_tk_trust(&pki, 2, now, revoked, 1);
	struct kpg_engine *e = engine_with(t1);
	uint8_t req[KPG_DATAGRAM_MAX], out[KPG_DATAGRAM_MAX];
	int n = kpg_tk_default_request(&pki, KPG_ALG_RSA_PSS_SHA256, 9, now, req, sizeof(req));
	struct kpg_job job = { .dgram = req, .len = (uint32_t)n }, *jp = &job;
	uint32_t len;

	CU_ASSERT_EQUAL(kpg_engine_stage(e, &job, out, (uint32_t)n, &len), KPG_STEP_VERIFY);
	kpg_engine_begin(e, t2, NULL, NULL, now * NS);
	kpg_engine_verify(e, &jp, 1);
	CU_ASSERT_EQUAL(kpg_engine_finish(e, &job, out, (uint32_t)n, &len), KPG_STEP_REPLY);
	Kpgate__ScanResponse *r = kpgate__scan_response__unpack(NULL, len - KPG_HDR_LEN, out + KPG_HDR_LEN);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->decision, KPGATE__DECISION__REJECT);
	CU_ASSERT_EQUAL(r->verdicts[0]->reason, KPG_R_KEY_REVOKED);
	kpgate__scan_response__free_unpacked(r, NULL);
	kpg_engine_delete(e);
	kpg_trust_delete(t1);
	kpg_trust_delete(t2);
}

/* Re-encodes an ECDSA DER signature with s replaced by n - s. */
static int high_s_twin(const uint8_t *der, size_t len, uint8_t *out)
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	const BIGNUM *r, *s;
	BIGNUM *ns = BN_new();
	unsigned char *q = out;
	int n;

	ECDSA_SIG_get0(sig, &r, &s);
	BN_sub(ns, EC_GROUP_get0_order(g), s);
	ECDSA_SIG_set0(sig, BN_dup(r), ns);
	n = i2d_ECDSA_SIG(sig, &q);
	ECDSA_SIG_free(sig);
	EC_GROUP_free(g);
	return n;
}

static void test_high_s_twin_hits_same_entry(void)
{
	struct kpg_trust *t = kpg_tk_trust(&pki, 1, now, NULL, 1);
	struct kpg_engine *e = engine_with(t);
	struct kpg_tk_cert tc;
	uint8_t sc[KPG_DATAGRAM_MAX], twin_sc[KPG_DATAGRAM_MAX], sig[80];
	uint8_t req[KPG_DATAGRAM_MAX], twin_req[KPG_DATAGRAM_MAX];
	Kpgate__SignedCertificate *s;
	int n, tn, sn;

	kpg_tk_cert_default(&tc, now);
	n = kpg_tk_cert_sign(pki.auth[KPG_ALG_ECDSA_P256_SHA256], &tc.c, sc, sizeof(sc));
	s = kpgate__signed_certificate__unpack(NULL, (size_t)n, sc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	sn = high_s_twin(s->signature.data, s->signature.len, sig);
	CU_ASSERT_FATAL(sn > 0);
	CU_ASSERT(sn != (int)s->signature.len || memcmp(sig, s->signature.data, (size_t)sn) != 0);
	ProtobufCBinaryData orig = s->signature;
	s->signature = (ProtobufCBinaryData){ (size_t)sn, sig };
	tn = (int)kpgate__signed_certificate__pack(s, twin_sc);
	s->signature = orig;             /* the unpacked message frees its own */
	kpgate__signed_certificate__free_unpacked(s, NULL);

	n = kpg_tk_request(1, sc, (size_t)n, now, req, sizeof(req));
	tn = kpg_tk_request(2, twin_sc, (size_t)tn, now, twin_req, sizeof(twin_req));
	struct outcome o = run(e, req, (uint32_t)n);
	CU_ASSERT_FALSE(o.warm);
	CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__ACCEPT);
	done(&o);
	o = run(e, twin_req, (uint32_t)tn);
	CU_ASSERT_TRUE(o.warm);          /* the twin is the same signature */
	CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__ACCEPT);
	done(&o);
	CU_ASSERT_EQUAL(kpg_engine_stats(e)->verify_ok, 1);
	kpg_engine_delete(e);
	kpg_trust_delete(t);
}

static void test_no_list_and_stale_list(void)
{
	struct kpg_engine *e = engine_with(NULL);
	uint8_t req[KPG_DATAGRAM_MAX];
	int n = kpg_tk_default_request(&pki, KPG_ALG_ED25519, 77, now, req, sizeof(req));
	struct outcome o = run(e, req, (uint32_t)n);

	CU_ASSERT_TRUE(o.r->has_error);
	CU_ASSERT_EQUAL(o.r->error, KPGATE__ERROR_CODE__TRUST_LIST_UNAVAILABLE);
	CU_ASSERT_EQUAL(o.r->request_id, 77);
	CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__DECISION_NONE);
	done(&o);

	/* next_update is now + 30 days; grace one hour. */
	struct kpg_trust *t = kpg_tk_trust(&pki, 1, now, NULL, 1);
	int64_t edge = kpg_trust_next_update(t) + conf.trust_grace_s;
	kpg_engine_begin(e, t, NULL, NULL, edge * NS);
	n = kpg_tk_default_request(&pki, KPG_ALG_ED25519, 78, edge, req, sizeof(req));
	o = run(e, req, (uint32_t)n);
	CU_ASSERT_FALSE(o.r->has_error);
	done(&o);
	kpg_engine_begin(e, t, NULL, NULL, (edge + 1) * NS);
	n = kpg_tk_default_request(&pki, KPG_ALG_ED25519, 79, edge + 1, req, sizeof(req));
	o = run(e, req, (uint32_t)n);
	CU_ASSERT_EQUAL(o.r->error, KPGATE__ERROR_CODE__TRUST_LIST_STALE);
	done(&o);
	kpg_engine_delete(e);
	kpg_trust_delete(t);
}

static void test_clock_skew_boundaries(void)
{
	struct kpg_trust *t = kpg_tk_trust(&pki, 1, now, NULL, 1);
	struct kpg_engine *e = engine_with(t);
	struct kpg_tk_cert tc;
	uint8_t req[KPG_DATAGRAM_MAX];
	const int64_t skews[] = { -301, -300, 300, 301 };

	kpg_tk_cert_default(&tc, now);
	for (unsigned i = 0; i < 4; i++) {
		int n = request_for(&tc.c, KPG_ALG_ED25519, 1, now + skews[i], req);
		struct outcome o = run(e, req, (uint32_t)n);
		int refused = skews[i] == -301 || skews[i] == 301;

		CU_ASSERT_EQUAL(o.r->has_error && o.r->error == KPGATE__ERROR_CODE__CLOCK_SKEW, refused);
		done(&o);
	}
	kpg_engine_delete(e);
	kpg_trust_delete(t);
}

static void test_issuer_must_own_key(void)
{
	struct kpg_trust *t = kpg_tk_trust(&pki, 1, now, NULL, 1);
	struct kpg_engine *e = engine_with(t);
	struct kpg_tk_cert tc;
	uint8_t req[KPG_DATAGRAM_MAX];

	kpg_tk_cert_default(&tc, now);
	tc.c.issuing_participant = (char *)"BW";
	tc.c.number = (char *)"BW-2026-000001";
	int n = request_for(&tc.c, KPG_ALG_ED25519, 1, now, req);
	struct outcome o = run(e, req, (uint32_t)n);
	CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__REJECT);
	CU_ASSERT_EQUAL(verdict(&o, "signature")->reason, KPG_R_ISSUER_MISMATCH);
	done(&o);
	kpg_engine_delete(e);
	kpg_trust_delete(t);
}

static void test_malformed_and_foreign(void)
{
	struct kpg_trust *t = kpg_tk_trust(&pki, 1, now, NULL, 1);
	struct kpg_engine *e = engine_with(t);
	uint8_t req[KPG_DATAGRAM_MAX], out[KPG_DATAGRAM_MAX];
	int n = kpg_tk_default_request(&pki, KPG_ALG_ED25519, 1, now, req, sizeof(req));
	struct kpg_job job = { .dgram = req };
	uint32_t len;

	/* Cut short: a malformed request, answered with an error. */
	struct outcome o = run(e, req, (uint32_t)n / 2);
	CU_ASSERT_TRUE(o.r->has_error);
	CU_ASSERT_EQUAL(o.r->error, KPGATE__ERROR_CODE__MALFORMED_REQUEST);
	done(&o);

	/* Not our magic, or a response: never answered. */
	req[0] = 'X';
	job.len = (uint32_t)n;
	CU_ASSERT_EQUAL(kpg_engine_stage(e, &job, out, job.len, &len), KPG_STEP_DROP);
	req[0] = 'K';
	req[3] = KPG_MSG_RESPONSE;
	CU_ASSERT_EQUAL(kpg_engine_stage(e, &job, out, job.len, &len), KPG_STEP_DROP);
	req[3] = KPG_MSG_REQUEST;
	req[2] = 9;
	o = run(e, req, (uint32_t)n);
	CU_ASSERT_EQUAL(o.r->error, KPGATE__ERROR_CODE__UNSUPPORTED_VERSION);
	done(&o);
	CU_ASSERT_EQUAL(kpg_engine_stats(e)->refused[KPG_REQ_BAD_MAGIC], 1);
	kpg_engine_delete(e);
	kpg_trust_delete(t);
}

/* Signed bytes that protobuf-c would read but that are not canonical (two
 * fields swapped) are refused before any signature check. */
static void test_noncanonical_certificate(void)
{
	struct kpg_trust *t = kpg_tk_trust(&pki, 1, now, NULL, 1);
	struct kpg_engine *e = engine_with(t);
	struct kpg_tk_cert tc;
	uint8_t cert[KPG_DATAGRAM_MAX], swapped[KPG_DATAGRAM_MAX], sig[KPG_SIG_MAX];
	uint8_t sc[KPG_DATAGRAM_MAX], req[KPG_DATAGRAM_MAX];
	size_t clen, siglen = sizeof(sig);

	kpg_tk_cert_default(&tc, now);
	clen = kpgate__certificate__pack(&tc.c, cert);
	/* Field 1 (number) is first: move it to the end. */
	CU_ASSERT_EQUAL_FATAL(cert[0], 0x0a);
	size_t f1 = 2 + cert[1];
	memcpy(swapped, cert + f1, clen - f1);
	memcpy(swapped + clen - f1, cert, f1);
	CU_ASSERT_FATAL(kpg_signer_sign(pki.auth[KPG_ALG_ED25519], swapped, clen, sig, &siglen) == 0);

	Kpgate__SignedCertificate s = KPGATE__SIGNED_CERTIFICATE__INIT;
	uint8_t kid[KPG_KEY_ID_LEN];
	kpg_signer_key_id(pki.auth[KPG_ALG_ED25519], kid);
	s.certificate = (ProtobufCBinaryData){ clen, swapped };
	s.signature = (ProtobufCBinaryData){ siglen, sig };
	s.key_id = (ProtobufCBinaryData){ sizeof(kid), kid };
	size_t sn = kpgate__signed_certificate__pack(&s, sc);
	int n = kpg_tk_request(3, sc, sn, now, req, sizeof(req));
	struct outcome o = run(e, req, (uint32_t)n);
	CU_ASSERT_TRUE(o.warm);
	CU_ASSERT_EQUAL(o.r->error, KPGATE__ERROR_CODE__NONCANONICAL_CERTIFICATE);
	done(&o);
	CU_ASSERT_EQUAL(kpg_engine_stats(e)->verify_ok + kpg_engine_stats(e)->verify_failed, 0);
	kpg_engine_delete(e);
	kpg_trust_delete(t);
}

static void test_retired_key(void)
{
	/* The testkit retires keys as of a day before now. */
	enum kpg_key_status st[4] = { 0, KPG_KEY_RETIRED, KPG_KEY_ACTIVE, KPG_KEY_ACTIVE };
	struct kpg_trust *t = kpg_tk_trust(&pki, 1, now, st, 1);
	struct kpg_engine *e = engine_with(t);
	const struct kpg_trust_key *k = kpg_trust_key_at(t, 0);
	struct kpg_tk_cert tc;
	uint8_t req[KPG_DATAGRAM_MAX];

	for (unsigned i = 0; i < kpg_trust_key_count(t); i++)
		if (kpg_trust_key_at(t, i)->alg == KPG_ALG_ECDSA_P256_SHA256)
			k = kpg_trust_key_at(t, i);
	CU_ASSERT_EQUAL_FATAL(k->status, KPG_KEY_RETIRED);
	CU_ASSERT_FATAL(k->status_since > now - 10 * KPG_TK_DAY && k->status_since <= now);

	kpg_tk_cert_default(&tc, now);
	tc.c.issue_date = kpg_date_from_unix(k->status_since - KPG_TK_DAY);
	int n = request_for(&tc.c, KPG_ALG_ECDSA_P256_SHA256, 1, now, req);
	struct outcome o = run(e, req, (uint32_t)n);
	CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__ACCEPT);
	done(&o);

	tc.c.issue_date = kpg_date_from_unix(k->status_since + KPG_TK_DAY);
	n = request_for(&tc.c, KPG_ALG_ECDSA_P256_SHA256, 2, now, req);
	o = run(e, req, (uint32_t)n);
	CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__REJECT);
	CU_ASSERT_EQUAL(verdict(&o, "signature")->reason, KPG_R_KEY_RETIRED);
	done(&o);
	kpg_engine_delete(e);
	kpg_trust_delete(t);
}

/* Each answer leaves its audit record: who asked, about what, and what
 * was decided, verdict by verdict. */
static void test_audit_record(void)
{
	struct kpg_trust *t = kpg_tk_trust(&pki, 4, now, NULL, 1);
	struct kpg_engine *e = engine_with(t);
	uint8_t req[KPG_DATAGRAM_MAX];
	int n = kpg_tk_default_request(&pki, KPG_ALG_ED25519, 4242, now, req, sizeof(req));
	const struct kpg_audit_rec *r;
	uint8_t kid[KPG_KEY_ID_LEN];
	struct outcome o;

	o = run(e, req, (uint32_t)n);
	done(&o);
	r = kpg_engine_audit(e);
	kpg_signer_key_id(pki.auth[KPG_ALG_ED25519], kid);
	CU_ASSERT_EQUAL(r->request_id, 4242);
	CU_ASSERT_EQUAL(r->decision, KPG_ACCEPT);
	CU_ASSERT_EQUAL(r->error, KPG_ERR_NONE);
	CU_ASSERT_EQUAL(r->trust_version, 4);
	CU_ASSERT_EQUAL(r->time, now);
	CU_ASSERT_STRING_EQUAL(r->station, KPG_TK_STATION);
	CU_ASSERT_STRING_EQUAL(r->cert_number, "ZA-2026-000001");
	CU_ASSERT_TRUE(r->has_key);
	CU_ASSERT_EQUAL(memcmp(r->key_id, kid, sizeof(kid)), 0);
	CU_ASSERT_EQUAL_FATAL(r->n_verdicts, 1);
	CU_ASSERT_STRING_EQUAL(r->verdicts[0].check, "signature");

	o = run(e, req, (uint32_t)n / 3);     /* unreadable */
	done(&o);
	r = kpg_engine_audit(e);
	CU_ASSERT_EQUAL(r->request_id, 0);
	CU_ASSERT_EQUAL(r->error, KPG_ERR_MALFORMED_REQUEST);
	CU_ASSERT_FALSE(r->has_key);
	CU_ASSERT_STRING_EQUAL(r->cert_number, "");
	CU_ASSERT_EQUAL(r->n_verdicts, 0);
	kpg_engine_delete(e);
	kpg_trust_delete(t);
}

static int setup(void)
{
	now = time(NULL);
	return kpg_tk_pki_new(&pki);
}

static int teardown(void)
{
	kpg_tk_pki_delete(&pki);
	return 0;
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "genuine: cold, then warm from the cache", test_genuine_cold_then_warm },
		{ "a view too big to keep is decoded per hit", test_view_too_big_to_keep },
		{ "bytes altered after signing are rejected", test_forged_bytes_rejected },
		{ "unknown and revoked keys cost no crypto", test_unknown_and_revoked_key_need_no_crypto },
		{ "revocation applies after a cache hit", test_revocation_after_cache_hit },
		{ "revocation applies to a queued job", test_revocation_while_queued },
		{ "ECDSA high-S twin hits the same entry", test_high_s_twin_hits_same_entry },
		{ "no list, stale list", test_no_list_and_stale_list },
		{ "clock skew boundaries", test_clock_skew_boundaries },
		{ "issuer must own the key", test_issuer_must_own_key },
		{ "malformed and foreign datagrams", test_malformed_and_foreign },
		{ "non-canonical certificate", test_noncanonical_certificate },
		{ "retired key", test_retired_key },
		{ "audit record of each answer", test_audit_record },
		{ NULL, NULL },
	};
	return kpg_cunit_run("engine", tests, setup, teardown);
}
