/* Response encoding: the answer decodes to what was decided, and it is
 * never larger than the cap (the request's size). */
#include <string.h>

#include "kpg_cunit.h"
#include "kpg_limits.h"
#include "kpg_response.h"
#include "kpgate.pb-c.h"

static Kpgate__ScanResponse *decode(const uint8_t *p, int n)
{
	CU_ASSERT_FATAL(n > (int)KPG_HDR_LEN);
	CU_ASSERT_EQUAL(p[0], 'K');
	CU_ASSERT_EQUAL(p[1], 'P');
	CU_ASSERT_EQUAL(p[2], KPG_WIRE_VERSION);
	CU_ASSERT_EQUAL(p[3], KPG_MSG_RESPONSE);
	return kpgate__scan_response__unpack(NULL, (size_t)n - KPG_HDR_LEN, p + KPG_HDR_LEN);
}

/* The bytes are those protobuf-c packs for the same message: decoded and
 * packed again, they come out the same. */
static void assert_canonical(const uint8_t *p, int n)
{
	uint8_t again[KPG_DATAGRAM_MAX];
	Kpgate__ScanResponse *r = decode(p, n);
	size_t m;

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	m = kpgate__scan_response__pack(r, again);
	CU_ASSERT_EQUAL(m, (size_t)n - KPG_HDR_LEN);
	CU_ASSERT(m == (size_t)n - KPG_HDR_LEN &&
		  memcmp(again, p + KPG_HDR_LEN, m) == 0);
	kpgate__scan_response__free_unpacked(r, NULL);
}

static void fill(struct kpg_verdicts *vs)
{
	memset(vs, 0, sizeof(*vs));
	kpg_verdict_add(vs, "signature", KPG_ACCEPT, 0,
			"signed by Government Diamond Valuator of the Republic (ZA, ed25519)");
	kpg_verdict_add(vs, "validity", KPG_REJECT, 8, "expired 2026-01-31");
	kpg_verdict_add(vs, "origin", KPG_REFER, 1001,
			"mixed origin without the mining countries listed");
}

static void test_round_trip(void)
{
	struct kpg_verdicts vs;
	uint8_t buf[KPG_DATAGRAM_MAX];
	struct kpg_answer a = { .request_id = 0x1122334455667788ull,
				.decision = KPG_REJECT, .trust_version = 42, .verdicts = &vs };
	Kpgate__ScanResponse *r;
	int n;

	fill(&vs);
	n = kpg_response_encode(&a, buf, sizeof(buf));
	r = decode(buf, n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->request_id, 0x1122334455667788ull);
	CU_ASSERT_EQUAL(r->decision, KPGATE__DECISION__REJECT);
	CU_ASSERT_EQUAL(r->trust_list_version, 42);
	CU_ASSERT_FALSE(r->has_error);
	CU_ASSERT_EQUAL_FATAL(r->n_verdicts, 3);
	CU_ASSERT_STRING_EQUAL(r->verdicts[1]->check, "validity");
	CU_ASSERT_EQUAL(r->verdicts[1]->reason, 8);
	CU_ASSERT_STRING_EQUAL(r->verdicts[1]->detail, "expired 2026-01-31");
	CU_ASSERT_EQUAL(r->verdicts[2]->decision, KPGATE__DECISION__REFER);
	kpgate__scan_response__free_unpacked(r, NULL);
}

static void test_error_answer(void)
{
	uint8_t buf[64];
	struct kpg_answer a = { .request_id = 7, .error = KPG_ERR_TRUST_LIST_UNAVAILABLE };
	Kpgate__ScanResponse *r;
	int n = kpg_response_encode(&a, buf, sizeof(buf));

	r = decode(buf, n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_TRUE(r->has_error);
	CU_ASSERT_EQUAL(r->error, KPGATE__ERROR_CODE__TRUST_LIST_UNAVAILABLE);
	CU_ASSERT_EQUAL(r->decision, KPGATE__DECISION__DECISION_NONE);
	CU_ASSERT_EQUAL(r->n_verdicts, 0);
	kpgate__scan_response__free_unpacked(r, NULL);
}

/* Every cap from roomy down to tiny: never over the cap, the decision is
 * always right, and verdicts go only when details no longer help. */
static void test_never_exceeds_cap(void)
{
	struct kpg_verdicts vs;
	uint8_t buf[KPG_DATAGRAM_MAX];
	struct kpg_answer a = { .request_id = 99, .decision = KPG_REJECT,
				.trust_version = 3, .verdicts = &vs };
	int full, n;

	fill(&vs);
	full = kpg_response_encode(&a, buf, sizeof(buf));
	CU_ASSERT_FATAL(full > 0);
	for (int cap = full; cap >= 0; cap--) {
		memset(buf, 0xee, sizeof(buf));
		n = kpg_response_encode(&a, buf, (size_t)cap);
		if (n < 0) {
			CU_ASSERT(cap < 20);
			continue;
		}
		CU_ASSERT(n <= cap);
		CU_ASSERT_EQUAL(buf[n], 0xee);   /* nothing written past the answer */
		assert_canonical(buf, n);
		Kpgate__ScanResponse *r = decode(buf, n);
		CU_ASSERT_PTR_NOT_NULL_FATAL(r);
		CU_ASSERT_EQUAL(r->decision, KPGATE__DECISION__REJECT);
		for (size_t i = 0; i < r->n_verdicts; i++)
			if (r->verdicts[i]->detail)
				CU_ASSERT(strlen(r->verdicts[i]->detail) < KPG_DETAIL_MAX);
		if (cap >= 60)   /* room for the non-accept verdicts without words */
			CU_ASSERT(r->n_verdicts >= 2);
		kpgate__scan_response__free_unpacked(r, NULL);
	}
	n = kpg_response_encode(&a, buf, 50);
	Kpgate__ScanResponse *r = decode(buf, n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->n_verdicts, 2);
	/* The accept went first; the reject and the refer stayed. */
	for (size_t i = 0; i < r->n_verdicts; i++)
		CU_ASSERT_NOT_EQUAL(r->verdicts[i]->decision, KPGATE__DECISION__ACCEPT);
	kpgate__scan_response__free_unpacked(r, NULL);
}

static void test_cut_details_stay_utf8(void)
{
	struct kpg_verdicts vs = { 0 };
	uint8_t buf[KPG_DATAGRAM_MAX];
	struct kpg_answer a = { .request_id = 1, .decision = KPG_ACCEPT, .verdicts = &vs };
	int full;

	kpg_verdict_add(&vs, "signature", KPG_ACCEPT, 0,
			"signé par l'Autorité ivoirienne du Processus de Kimberley");
	full = kpg_response_encode(&a, buf, sizeof(buf));
	for (int cap = full; cap > 20; cap--) {
		int n = kpg_response_encode(&a, buf, (size_t)cap);
		Kpgate__ScanResponse *r = decode(buf, n);

		CU_ASSERT_PTR_NOT_NULL_FATAL(r);
		if (r->n_verdicts && r->verdicts[0]->detail) {
			const unsigned char *d = (const unsigned char *)r->verdicts[0]->detail;
			size_t len = strlen((const char *)d);

			/* A lone lead byte at the end would be a split character. */
			CU_ASSERT(len == 0 || d[len - 1] < 0xc0);
			CU_ASSERT(len < 2 || d[len - 2] < 0xe0 || d[len - 1] >= 0x80);
		}
		kpgate__scan_response__free_unpacked(r, NULL);
	}
}

/* Answers of every shape, from a fixed seed: varints at their length
 * boundaries, errors, an HMAC field, up to KPG_VERDICTS_MAX verdicts with
 * details of any length; each is what protobuf-c makes of it, and it
 * decodes to what was put in. */
static void test_same_bytes_as_protobuf_c(void)
{
	static const uint64_t ids[] = { 0, 1, 127, 128, 16383, 16384, 1ull << 35,
					UINT64_MAX };
	static const uint32_t reasons[] = { 0, 8, 127, 128, 1806, UINT32_MAX };
	static const char *const checks[] = { "signature", "validity", "sanctions",
					      "a-check-name-of-24-byte" };
	uint64_t x = 0x9e3779b97f4a7c15ull;
	uint8_t buf[KPG_DATAGRAM_MAX];
	char detail[KPG_DETAIL_MAX];

	for (unsigned round = 0; round < 2000; round++) {
		struct kpg_verdicts vs;
		struct kpg_answer a;
		Kpgate__ScanResponse *r;
		int n;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		vs.n = 0;
		for (unsigned i = 0; i < (x >> 8) % (KPG_VERDICTS_MAX + 1); i++) {
			unsigned dl = (unsigned)((x >> (i % 32)) + i * 37) % KPG_DETAIL_MAX;

			for (unsigned k = 0; k < dl; k++)
				detail[k] = (char)('a' + (k + i) % 26);
			detail[dl] = '\0';
			kpg_verdict_put(&vs, checks[(i + round) % 4],
					(enum kpg_decision)(1 + (i + (x >> 3)) % 3),
					reasons[(i + round) % 6], detail);
		}
		a = (struct kpg_answer){
			.request_id = ids[round % 8],
			.decision = (enum kpg_decision)(round % 4),
			.error = round % 5 == 0 ? (enum kpg_error)(round % KPG_ERR__COUNT)
						: KPG_ERR_NONE,
			.trust_version = ids[(round / 8) % 8],
			.verdicts = round % 7 == 0 ? NULL : &vs,
			.hmac = round % 3 == 0,
		};
		n = kpg_response_encode(&a, buf, sizeof(buf));
		CU_ASSERT_FATAL(n > 0);
		assert_canonical(buf, n);
		r = decode(buf, n);
		CU_ASSERT_PTR_NOT_NULL_FATAL(r);
		CU_ASSERT_EQUAL(r->request_id, a.request_id);
		CU_ASSERT_EQUAL((int)r->decision, (int)a.decision);
		CU_ASSERT_EQUAL(r->has_error, a.error != KPG_ERR_NONE);
		CU_ASSERT_EQUAL(r->has_hmac, a.hmac);
		CU_ASSERT_EQUAL(r->n_verdicts, a.verdicts ? vs.n : 0);
		for (size_t i = 0; a.verdicts && i < r->n_verdicts && i < vs.n; i++) {
			CU_ASSERT_STRING_EQUAL(r->verdicts[i]->check, vs.v[i].check);
			CU_ASSERT_EQUAL(r->verdicts[i]->reason, vs.v[i].reason);
			/* cut only when the whole answer does not fit */
			const char *d = r->verdicts[i]->detail ? r->verdicts[i]->detail : "";

			CU_ASSERT_EQUAL(strncmp(d, vs.v[i].detail, strlen(d)), 0);
		}
		kpgate__scan_response__free_unpacked(r, NULL);
	}
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "round trip", test_round_trip },
		{ "error answer", test_error_answer },
		{ "never exceeds the cap", test_never_exceeds_cap },
		{ "cut details stay UTF-8", test_cut_details_stay_utf8 },
		{ "same bytes as protobuf-c", test_same_bytes_as_protobuf_c },
		{ NULL, NULL },
	};
	return kpg_cunit_run("response", tests, NULL, NULL);
}
