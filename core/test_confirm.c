/* test_confirm.c — import confirmations: one signed file per accepted
 * certificate, carrying what KPCS Section III(b) asks for, verifiable with
 * the checkpoint's public key alone; a second acceptance keeps the first
 * file; any change to a file, or another key, fails the check. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kpg_confirm.h"
#include "kpg_cunit.h"
#include "kpg_testkit.h"
#include "kpg_trust_build.h"

static struct kpg_tk_pki pki;
static char dir[512], key[512], pub[512];
static int64_t now;

static int setup(void)
{
	struct kpg_signer *s;

	now = time(NULL);
	if (kpg_tk_pki_new(&pki) < 0)
		return -1;
	kpg_tk_path(dir, sizeof(dir), pki.dir, "confirmations");
	kpg_tk_path(key, sizeof(key), pki.dir, "checkpoint.key");
	kpg_tk_path(pub, sizeof(pub), pki.dir, "checkpoint.pub");
	s = kpg_signer_generate(KPG_ALG_ED25519, 0);
	if (s == NULL || kpg_signer_save(s, key, pub) < 0)
		return -1;
	kpg_signer_delete(s);
	return 0;
}

static int teardown(void)
{
	kpg_tk_pki_delete(&pki);
	return 0;
}

static void accepted(struct kpg_audit_rec *r, uint64_t request_id)
{
	memset(r, 0, sizeof(*r));
	r->lcore = 1;
	r->seq = 42;
	r->time = now;
	r->request_id = request_id;
	r->trust_version = 7;
	r->decision = KPG_ACCEPT;
	r->has_key = true;
	snprintf(r->station, sizeof(r->station), "%s", KPG_TK_STATION);
	snprintf(r->cert_number, sizeof(r->cert_number), "ZA-2026-000001");
}

static uint8_t *read_conf(const char *name, size_t *len)
{
	char path[700];
	uint8_t *b = NULL;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	CU_ASSERT_EQUAL_FATAL(kpg_file_read(path, 1 << 20, &b, len), 0);
	return b;
}

static int spki_of(const char *pem, uint8_t *out, size_t cap)
{
	return kpg_spki_read_pem(pem, out, cap);
}

static void test_written_once_and_verifies(void)
{
	struct kpg_confirmer *c;
	struct kpg_audit_rec r;
	Kpgate__ImportConfirmation *ic = NULL;
	uint8_t dg[KPG_DATAGRAM_MAX], spki[1024];
	char err[300], why[300];
	int n, sl;
	size_t len;
	uint8_t *b;

	c = kpg_confirmer_new(dir, key, "BE-ANR-01", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	n = kpg_tk_default_request(&pki, KPG_ALG_ECDSA_P256_SHA256, 99, now, dg, sizeof(dg));
	CU_ASSERT_FATAL(n > 0);
	accepted(&r, 99);
	CU_ASSERT_EQUAL(kpg_confirm_request(c, &r, dg, (uint32_t)n, true, why, sizeof(why)), 1);
	/* Accepted again (a re-scan): the first confirmation stays. */
	r.request_id = 100;
	CU_ASSERT_EQUAL(kpg_confirm_request(c, &r, dg, (uint32_t)n, false, why, sizeof(why)), 0);
	CU_ASSERT_EQUAL(kpg_confirmer_sync_dir(c), 0);
	kpg_confirmer_delete(c);

	b = read_conf("ZA-2026-000001.kpic", &len);
	sl = spki_of(pub, spki, sizeof(spki));
	CU_ASSERT_FATAL(sl > 0);
	CU_ASSERT_EQUAL_FATAL(kpg_confirm_verify(b, len, spki, (size_t)sl, &ic, why,
						 sizeof(why)), 0);
	CU_ASSERT_STRING_EQUAL(ic->certificate_number, "ZA-2026-000001");
	CU_ASSERT_STRING_EQUAL(ic->issuing_participant, "ZA");
	CU_ASSERT_STRING_EQUAL(ic->importing_participant, "EU");
	CU_ASSERT_STRING_EQUAL(ic->checkpoint, "BE-ANR-01");
	CU_ASSERT_EQUAL(ic->parcels, 1);
	CU_ASSERT_EQUAL(ic->carats_centi, 12345);
	CU_ASSERT_EQUAL(ic->value_usd_cents, 1666575);
	CU_ASSERT_EQUAL(ic->n_lines, 1);
	CU_ASSERT_PTR_NOT_NULL(ic->importer);
	CU_ASSERT_PTR_NOT_NULL(ic->exporter);
	CU_ASSERT_EQUAL(ic->request_id, 99);
	CU_ASSERT_EQUAL(ic->audit_lcore, 1);
	CU_ASSERT_EQUAL(ic->audit_seq, 42);
	CU_ASSERT_EQUAL(ic->confirmed_at, now);
	CU_ASSERT_EQUAL(ic->certificate_sha256.len, 32);
	kpgate__import_confirmation__free_unpacked(ic, NULL);

	/* Any byte changed: refused. */
	for (size_t i = 0; i < len; i++) {
		b[i] ^= 0x04;
		CU_ASSERT_NOT_EQUAL(kpg_confirm_verify(b, len, spki, (size_t)sl, &ic, why,
						       sizeof(why)), 0);
		b[i] ^= 0x04;
	}
	/* Another key: refused. */
	sl = spki_of(pki.anchor_pem[0], spki, sizeof(spki));
	CU_ASSERT_FATAL(sl > 0);
	CU_ASSERT_NOT_EQUAL(kpg_confirm_verify(b, len, spki, (size_t)sl, &ic, why,
					       sizeof(why)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "another key"));
	free(b);
}

static void test_file_names(void)
{
	char out[256];

	CU_ASSERT(kpg_confirm_file_name("ZA-2026-000101", out, sizeof(out)) > 0);
	CU_ASSERT_STRING_EQUAL(out, "ZA-2026-000101.kpic");
	CU_ASSERT(kpg_confirm_file_name("../etc/passwd", out, sizeof(out)) > 0);
	CU_ASSERT_PTR_NULL(strchr(out, '/'));
	CU_ASSERT_NOT_EQUAL(out[0], '.');
	CU_ASSERT_EQUAL(kpg_confirm_file_name("", out, sizeof(out)), -ENAMETOOLONG);
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "written once, verifies, any change refused",
		  test_written_once_and_verifies },
		{ "a certificate number never names a path", test_file_names },
		{ NULL, NULL },
	};

	return kpg_cunit_run("confirm", tests, setup, teardown);
}
