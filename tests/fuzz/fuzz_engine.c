/* fuzz_engine.c — one datagram through the whole request engine:
 * kpg_engine_stage(), and for a cold request kpg_engine_verify() and
 * kpg_engine_finish() (or kpg_engine_refuse(), as when the cold queue is
 * full), then the same datagram again, warm from the cache.
 *
 * Input: one flags byte, then the rest.
 *   bits 0-1  trust snapshot: 0 the default list, 1 a list with the ECDSA
 *             key revoked and the Ed25519 key retired, 2 none, 3 stale
 *   bit 2     sign mode (below); clear: the rest is the datagram as is
 *   bits 3-4  sign mode's authority: 3 RSA-PSS, 1 ECDSA P-256, else Ed25519
 *   bit 6     sign mode: spoil one byte of the signature
 *   bit 7     answer a cold request "overloaded" instead of verifying it
 * Sign mode: a 2-byte big-endian length, that many certificate bytes and a
 * tail. The harness signs the certificate bytes with the chosen authority
 * of the test PKI and sends them in a request (request id 42, station
 * gate-1, scanned at FUZZ_NOW), the tail appended as further fields: the
 * mutations reach the decoder and the checks behind a good signature.
 *
 * Every answer is checked as a station would read it: never larger than
 * the request, the response framing, a canonical ScanResponse (kpg_pb's own
 * strict scan), the request id echoed, no verdict above the decision, and
 * an audit record that says the same. A datagram that does not parse
 * never costs a signature check. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kpg_audit.h"
#include "kpg_engine.h"
#include "kpg_testkit.h"
#include "kpgate.pb-c.h"
#include "fuzz_check.h"

/* A fixed clock, so that seeds scanned "now" stay within the skew. */
#define FUZZ_NOW INT64_C(1795500000)           /* 2026-11-24 */
#define DGRAM_MAX 8192u

static struct kpg_tk_pki pki;
static struct kpg_trust *snap_default, *snap_status;

static void fuzz_engine_fini(void)
{
	kpg_trust_delete(snap_default);
	kpg_trust_delete(snap_status);
	kpg_tk_pki_delete(&pki);
}

static void fuzz_engine_init(void)
{
	static const enum kpg_key_status status[4] = {
		[KPG_ALG_ECDSA_P256_SHA256] = KPG_KEY_REVOKED,
		[KPG_ALG_ED25519] = KPG_KEY_RETIRED,
		[KPG_ALG_RSA_PSS_SHA256] = KPG_KEY_ACTIVE,
	};

	FUZZ_CHECK(kpg_tk_pki_new(&pki) == 0);
	snap_default = kpg_tk_trust(&pki, 1, FUZZ_NOW, NULL, 1);
	snap_status = kpg_tk_trust(&pki, 2, FUZZ_NOW, status, 1);
	FUZZ_CHECK(snap_default != NULL && snap_status != NULL);
	atexit(fuzz_engine_fini);
}

/* Sign mode: the request a station would send for these certificate
 * bytes, plus the tail. Returns the datagram's length. */
static uint32_t signed_request(const uint8_t *in, size_t n, uint8_t flags,
			       uint8_t *dg)
{
	static const enum kpg_alg algs[4] = {
		KPG_ALG_ED25519, KPG_ALG_ECDSA_P256_SHA256,
		KPG_ALG_ED25519, KPG_ALG_RSA_PSS_SHA256,
	};
	const struct kpg_signer *s = pki.auth[algs[(flags >> 3) & 3]];
	Kpgate__SignedCertificate sc = KPGATE__SIGNED_CERTIFICATE__INIT;
	Kpgate__ScanRequest rq = KPGATE__SCAN_REQUEST__INIT;
	uint8_t sig[KPG_SIG_MAX], key_id[KPG_KEY_ID_LEN];
	size_t clen = 0, sig_len = sizeof(sig), size, tail;

	if (n >= 2) {
		clen = (size_t)in[0] << 8 | in[1];
		in += 2;
		n -= 2;
	}
	if (clen > n)
		clen = n;
	FUZZ_CHECK(kpg_signer_sign(s, in, clen, sig, &sig_len) == 0);
	if (flags & 0x40)
		sig[sig_len / 2] ^= 0x01;
	kpg_signer_key_id(s, key_id);

	sc.certificate = (ProtobufCBinaryData){ clen, (uint8_t *)in };
	sc.signature = (ProtobufCBinaryData){ sig_len, sig };
	sc.key_id = (ProtobufCBinaryData){ sizeof(key_id), key_id };
	rq.request_id = 42;
	rq.station_id = (char *)KPG_TK_STATION;
	rq.signed_ = &sc;
	rq.scan_time = FUZZ_NOW;
	size = protobuf_c_message_get_packed_size(&rq.base);
	if (KPG_HDR_LEN + size > DGRAM_MAX)
		return 0;
	dg[0] = KPG_HDR_MAGIC0;
	dg[1] = KPG_HDR_MAGIC1;
	dg[2] = KPG_WIRE_VERSION;
	dg[3] = KPG_MSG_REQUEST;
	protobuf_c_message_pack(&rq.base, dg + KPG_HDR_LEN);
	size += KPG_HDR_LEN;
	tail = n - clen;
	if (tail > DGRAM_MAX - size)
		tail = DGRAM_MAX - size;
	memcpy(dg + size, in + clen, tail);
	return (uint32_t)(size + tail);
}

static uint64_t sum(const uint64_t *v, unsigned n)
{
	uint64_t s = 0;

	for (unsigned i = 0; i < n; i++)
		s += v[i];
	return s;
}

static void check_reply(const struct kpg_engine *e, const uint8_t *dg,
			uint32_t len, const uint8_t *out, uint32_t out_len)
{
	static const struct kpg_pb_limits strict = {
		.max_len = KPG_DATAGRAM_MAX,
		.max_fields = KPG_FIELDS_MAX,
		.max_depth = KPG_DEPTH_MAX,
		.canonical = true,
	};
	const struct kpg_audit_rec *a = kpg_engine_audit(e);
	Kpgate__ScanResponse *r;
	struct kpg_request rq;

	/* no amplification: the answer fits in what was received */
	FUZZ_CHECK(out_len >= KPG_HDR_LEN && out_len <= len);
	FUZZ_CHECK(out[0] == KPG_HDR_MAGIC0 && out[1] == KPG_HDR_MAGIC1 &&
		   out[2] == KPG_WIRE_VERSION && out[3] == KPG_MSG_RESPONSE);
	FUZZ_CHECK(kpg_pb_scan(&kpgate__scan_response__descriptor,
			       out + KPG_HDR_LEN, out_len - KPG_HDR_LEN,
			       &strict) == KPG_WIRE_OK);
	r = kpgate__scan_response__unpack(NULL, out_len - KPG_HDR_LEN,
					  out + KPG_HDR_LEN);
	FUZZ_CHECK(r != NULL);
	if (kpg_request_parse(dg, len, &rq) == KPG_REQ_OK)
		FUZZ_CHECK(r->request_id == rq.request_id);
	else
		FUZZ_CHECK(r->request_id == 0 && r->has_error);
	if (r->has_error && r->error != KPGATE__ERROR_CODE__ERROR_NONE) {
		FUZZ_CHECK(r->decision == KPGATE__DECISION__DECISION_NONE);
		FUZZ_CHECK(r->n_verdicts == 0);
	} else {
		FUZZ_CHECK(r->decision >= KPGATE__DECISION__ACCEPT &&
			   r->decision <= KPGATE__DECISION__REJECT);
	}
	for (size_t i = 0; i < r->n_verdicts; i++)
		FUZZ_CHECK(r->verdicts[i]->decision <= r->decision);

	/* no record for a rescan: the original's was made when it was sent */
	if (a != NULL) {
		FUZZ_CHECK(a->request_id == r->request_id);
		FUZZ_CHECK(a->decision == (uint8_t)r->decision);
		FUZZ_CHECK(a->error == (r->has_error ? (uint8_t)r->error : 0));
		FUZZ_CHECK(a->n_verdicts >= r->n_verdicts &&
			   a->n_verdicts <= KPG_VERDICTS_MAX);
		FUZZ_CHECK(strlen(a->station) <= KPG_STATION_ID_MAX);
		FUZZ_CHECK(strlen(a->cert_number) <= KPG_AUDIT_NUMBER_MAX);
	}
	kpgate__scan_response__free_unpacked(r, NULL);
}

/* One pass of the datagram through the engine, as gw_worker runs it. */
static void run(struct kpg_engine *e, const uint8_t *dg, uint32_t len,
		bool refuse_cold)
{
	const struct kpg_engine_stats *st = kpg_engine_stats(e);
	uint64_t crypto0 = st->verify_ok + st->verify_failed;
	uint64_t dropped0 = sum(st->refused, KPG_REQ__COUNT) + st->encode_failed;
	struct kpg_job job = { .dgram = dg, .len = len }, *jp = &job;
	struct kpg_request rq;
	uint32_t out_len = 0;
	enum kpg_step step;
	uint8_t *out;

	/* exactly the request's size: the engine may use no more */
	out = malloc(len ? len : 1);
	FUZZ_CHECK(out != NULL);
	step = kpg_engine_stage(e, &job, out, len, &out_len);
	if (step == KPG_STEP_VERIFY) {
		out_len = 0;
		if (refuse_cold) {
			step = kpg_engine_refuse(e, &job, KPG_ERR_OVERLOADED, out,
						 len, &out_len);
		} else {
			kpg_engine_verify(e, &jp, 1);
			step = kpg_engine_finish(e, &job, out, len, &out_len);
		}
	}
	FUZZ_CHECK(step == KPG_STEP_REPLY || step == KPG_STEP_DROP);
	/* without a station table nothing is withheld: what is not
	 * answered was refused as not ours, or too short to answer */
	if (step == KPG_STEP_REPLY)
		check_reply(e, dg, len, out, out_len);
	else
		FUZZ_CHECK(sum(st->refused, KPG_REQ__COUNT) + st->encode_failed > dropped0);
	if (kpg_request_parse(dg, len, &rq) != KPG_REQ_OK)
		FUZZ_CHECK(st->verify_ok + st->verify_failed == crypto0);
	free(out);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static uint8_t scratch[DGRAM_MAX];
	const struct kpg_engine_conf conf = {
		.cache_entries = 64,
		.clock_skew_s = 300,
		.trust_grace_s = 86400,
		.slot = 0,
		.arena_bytes = 64 * 1024,    /* as gw_worker.c */
		.replay_entries = 64,        /* a fresh window per input: keep it small */
	};
	const struct kpg_trust *t;
	struct kpg_engine *e;
	int64_t now = FUZZ_NOW;
	uint32_t len;
	uint8_t flags, *dg;

	if (pki.auth[KPG_ALG_ED25519] == NULL)
		fuzz_engine_init();
	if (size < 1 || size - 1 > DGRAM_MAX)
		return 0;
	flags = data[0];
	switch (flags & 3) {
	case 0:
		t = snap_default;
		break;
	case 1:
		t = snap_status;
		break;
	case 2:
		t = NULL;
		break;
	default:
		t = snap_default;
		now += 60 * KPG_TK_DAY;  /* past next_update and the grace */
		break;
	}
	if (flags & 4) {
		len = signed_request(data + 1, size - 1, flags, scratch);
	} else {
		len = (uint32_t)(size - 1);
		memcpy(scratch, data + 1, len);
	}
	/* a buffer of exactly the datagram's size, so ASan sees an overread */
	dg = malloc(len ? len : 1);
	FUZZ_CHECK(dg != NULL);
	memcpy(dg, scratch, len);

	/* a fresh engine per input: a crash never depends on earlier inputs */
	e = kpg_engine_new(&conf);
	FUZZ_CHECK(e != NULL);
	/* no policy chain, no station table: the core checks judge alone */
	kpg_engine_begin(e, t, NULL, NULL, now * INT64_C(1000000000));
	run(e, dg, len, flags & 0x80);
	run(e, dg, len, false);
	kpg_engine_delete(e);
	free(dg);
	return 0;
}
