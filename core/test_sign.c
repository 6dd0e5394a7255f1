/* test_sign.c — the authority side: keys of each algorithm sign what the
 * gateway verifies, and survive a round trip through PEM files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "kpg_cunit.h"
#include "kpg_sign.h"
#include "kpg_testkit.h"

static const enum kpg_alg algs[] = {
	KPG_ALG_ECDSA_P256_SHA256, KPG_ALG_ED25519, KPG_ALG_RSA_PSS_SHA256,
};
#define NALGS (sizeof(algs) / sizeof(algs[0]))

static char *tmpdir;
static const uint8_t msg[] = "KP certificate ZA-2024-000123, 1520.55 ct";

static int setup(void)
{
	tmpdir = kpg_tk_tmpdir();
	return tmpdir ? 0 : -1;
}

static int teardown(void)
{
	kpg_tk_rmtree(tmpdir);
	free(tmpdir);
	return 0;
}

static void path_in_tmp(char *out, size_t cap, const char *name)
{
	kpg_tk_path(out, cap, tmpdir, name);
}

/* Verifies with the gateway's side, from the signer's public key only. */
static int verify_with(const struct kpg_signer *s, const uint8_t *m, size_t mlen,
		       const uint8_t *sig, size_t sig_len)
{
	uint8_t spki[1024];
	int len = kpg_signer_spki(s, spki, sizeof(spki));
	const char *why = NULL;
	struct kpg_pubkey *k;
	struct kpg_verifier *v;
	struct kpg_verify_op op = { .msg = m, .msg_len = mlen, .sig = sig, .sig_len = sig_len };
	unsigned n;

	if (len <= 0)
		return -1;
	k = kpg_pubkey_new(kpg_signer_alg(s), spki, (size_t)len, &why);
	if (k == NULL)
		return -1;
	v = kpg_verifier_new(k, KPG_BACKEND_DEFAULT);
	kpg_pubkey_delete(k);
	if (v == NULL)
		return -1;
	op.v = v;
	n = kpg_verify_batch(&op, 1);
	kpg_verifier_delete(v);
	return n == 1 && op.ok == 1;
}

static void test_generate_sign_verify(void)
{
	for (unsigned i = 0; i < NALGS; i++) {
		struct kpg_signer *s = kpg_signer_generate(algs[i], 0);
		uint8_t sig[KPG_SIG_MAX];
		size_t sig_len = sizeof(sig);

		CU_ASSERT_PTR_NOT_NULL_FATAL(s);
		CU_ASSERT_EQUAL(kpg_signer_alg(s), algs[i]);
		CU_ASSERT_EQUAL(kpg_signer_sign(s, msg, sizeof(msg), sig, &sig_len), 0);
		if (algs[i] == KPG_ALG_ED25519)
			CU_ASSERT_EQUAL(sig_len, 64);
		if (algs[i] == KPG_ALG_RSA_PSS_SHA256)
			CU_ASSERT_EQUAL(sig_len, 256);   /* 2048 bits by default */
		if (algs[i] == KPG_ALG_ECDSA_P256_SHA256)
			CU_ASSERT(sig_len >= 8 && sig_len <= 72);
		CU_ASSERT_EQUAL(verify_with(s, msg, sizeof(msg), sig, sig_len), 1);
		/* Any other message fails under the same signature. */
		CU_ASSERT_EQUAL(verify_with(s, msg, sizeof(msg) - 1, sig, sig_len), 0);
		kpg_signer_delete(s);
	}
	CU_ASSERT_PTR_NULL(kpg_signer_generate(KPG_ALG_NONE, 0));
}

static void test_rsa_bits(void)
{
	struct kpg_signer *s = kpg_signer_generate(KPG_ALG_RSA_PSS_SHA256, 1024);
	uint8_t sig[KPG_SIG_MAX];
	size_t sig_len = sizeof(sig);

	/* Never a weak key: below the floor means 2048. */
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(kpg_signer_sign(s, msg, sizeof(msg), sig, &sig_len), 0);
	CU_ASSERT_EQUAL(sig_len, 256);
	kpg_signer_delete(s);
	s = kpg_signer_generate(KPG_ALG_RSA_PSS_SHA256, 3072);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	sig_len = sizeof(sig);
	CU_ASSERT_EQUAL(kpg_signer_sign(s, msg, sizeof(msg), sig, &sig_len), 0);
	CU_ASSERT_EQUAL(sig_len, 384);
	CU_ASSERT_EQUAL(verify_with(s, msg, sizeof(msg), sig, sig_len), 1);
	kpg_signer_delete(s);
	/* A signature must fit KPG_SIG_MAX. */
	CU_ASSERT_PTR_NULL(kpg_signer_generate(KPG_ALG_RSA_PSS_SHA256, 8192));
}

static void test_small_buffers(void)
{
	struct kpg_signer *s = kpg_signer_generate(KPG_ALG_RSA_PSS_SHA256, 0);
	uint8_t buf[KPG_SIG_MAX];
	size_t sig_len = 255;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_EQUAL(kpg_signer_sign(s, msg, sizeof(msg), buf, &sig_len), -ENOSPC);
	CU_ASSERT_EQUAL(kpg_signer_spki(s, buf, 10), -ENOSPC);
	kpg_signer_delete(s);
}

static void test_key_id_is_spki_hash(void)
{
	for (unsigned i = 0; i < NALGS; i++) {
		struct kpg_signer *s = kpg_signer_generate(algs[i], 0);
		uint8_t spki[1024], id[KPG_KEY_ID_LEN], md[32];
		unsigned mdlen = 0;
		int len;

		CU_ASSERT_PTR_NOT_NULL_FATAL(s);
		len = kpg_signer_spki(s, spki, sizeof(spki));
		CU_ASSERT_FATAL(len > 0);
		kpg_signer_key_id(s, id);
		CU_ASSERT_EQUAL(EVP_Digest(spki, (size_t)len, md, &mdlen, EVP_sha256(), NULL), 1);
		CU_ASSERT_EQUAL(memcmp(id, md, KPG_KEY_ID_LEN), 0);
		kpg_signer_delete(s);
	}
}

static void test_save_load_round_trip(void)
{
	for (unsigned i = 0; i < NALGS; i++) {
		struct kpg_signer *s = kpg_signer_generate(algs[i], 0), *l;
		char priv[128], pub[160], err[256] = "";
		uint8_t spki[1024], spki2[1024], id[KPG_KEY_ID_LEN], id2[KPG_KEY_ID_LEN];
		uint8_t sig[KPG_SIG_MAX];
		size_t sig_len = sizeof(sig);
		struct stat st;
		int len, len2;

		CU_ASSERT_PTR_NOT_NULL_FATAL(s);
		path_in_tmp(priv, sizeof(priv), kpg_alg_name(algs[i]));
		snprintf(pub, sizeof(pub), "%s.pub", priv);
		CU_ASSERT_EQUAL(kpg_signer_save(s, priv, pub), 0);
		CU_ASSERT_EQUAL_FATAL(stat(priv, &st), 0);
		CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);

		l = kpg_signer_load(priv, err, sizeof(err));
		CU_ASSERT_PTR_NOT_NULL_FATAL(l);
		CU_ASSERT_EQUAL(kpg_signer_alg(l), algs[i]);
		len = kpg_signer_spki(s, spki, sizeof(spki));
		len2 = kpg_spki_read_pem(pub, spki2, sizeof(spki2));
		CU_ASSERT(len > 0);
		CU_ASSERT_EQUAL(len, len2);
		CU_ASSERT_EQUAL(memcmp(spki, spki2, (size_t)len), 0);
		kpg_signer_key_id(s, id);
		kpg_signer_key_id(l, id2);
		CU_ASSERT_EQUAL(memcmp(id, id2, KPG_KEY_ID_LEN), 0);

		/* The loaded key signs for the original public key. */
		CU_ASSERT_EQUAL(kpg_signer_sign(l, msg, sizeof(msg), sig, &sig_len), 0);
		CU_ASSERT_EQUAL(verify_with(s, msg, sizeof(msg), sig, sig_len), 1);
		CU_ASSERT_EQUAL(kpg_spki_read_pem(pub, spki2, 10), -ENOSPC);
		/* A private key file is not a public key file. */
		CU_ASSERT(kpg_spki_read_pem(priv, spki2, sizeof(spki2)) < 0);
		kpg_signer_delete(l);
		kpg_signer_delete(s);
	}
}

static void test_save_tightens_mode(void)
{
	struct kpg_signer *s = kpg_signer_generate(KPG_ALG_ED25519, 0);
	char priv[128];
	struct stat st;
	FILE *f;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	path_in_tmp(priv, sizeof(priv), "loose.pem");
	f = fopen(priv, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fclose(f);
	CU_ASSERT_EQUAL(chmod(priv, 0644), 0);
	CU_ASSERT_EQUAL(kpg_signer_save(s, priv, NULL), 0);
	CU_ASSERT_EQUAL(stat(priv, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	kpg_signer_delete(s);
}

/* Writes an OpenSSL key of a shape kpgate refuses, PKCS#8 PEM. */
static void write_foreign_key(const char *path, EVP_PKEY *pkey)
{
	FILE *f = fopen(path, "w");

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(PEM_write_PKCS8PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
}

static void test_load_refuses(void)
{
	char path[128], err[256];
	EVP_PKEY *pkey;
	FILE *f;

	path_in_tmp(path, sizeof(path), "missing.pem");
	err[0] = '\0';
	CU_ASSERT_PTR_NULL(kpg_signer_load(path, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "missing.pem"));

	path_in_tmp(path, sizeof(path), "rsa1024.pem");
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pkey);
	write_foreign_key(path, pkey);
	EVP_PKEY_free(pkey);
	err[0] = '\0';
	CU_ASSERT_PTR_NULL(kpg_signer_load(path, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "2048"));

	path_in_tmp(path, sizeof(path), "p384.pem");
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pkey);
	write_foreign_key(path, pkey);
	EVP_PKEY_free(pkey);
	err[0] = '\0';
	CU_ASSERT_PTR_NULL(kpg_signer_load(path, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "P-256"));

	path_in_tmp(path, sizeof(path), "garbage.pem");
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("not a key\n", f);
	fclose(f);
	CU_ASSERT_PTR_NULL(kpg_signer_load(path, err, sizeof(err)));
	CU_ASSERT_EQUAL(kpg_spki_read_pem(path, (uint8_t *)err, sizeof(err)), -EBADMSG);
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "generate, sign, verify", test_generate_sign_verify },
		{ "RSA key sizes", test_rsa_bits },
		{ "small buffers", test_small_buffers },
		{ "key id is SHA-256 of the SPKI", test_key_id_is_spki_hash },
		{ "save and load round trip", test_save_load_round_trip },
		{ "save tightens an existing file to 0600", test_save_tightens_mode },
		{ "load refuses weak and foreign keys", test_load_refuses },
		{ NULL, NULL },
	};

	return kpg_cunit_run("sign", tests, setup, teardown);
}
