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

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "round trip", test_round_trip },
		{ "error answer", test_error_answer },
		{ "never exceeds the cap", test_never_exceeds_cap },
		{ "cut details stay UTF-8", test_cut_details_stay_utf8 },
		{ NULL, NULL },
	};
	return kpg_cunit_run("response", tests, NULL, NULL);
}
