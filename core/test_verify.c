/* test_verify.c — keys refused at load, strict signature encodings and
 * verification through the batch interface, on every backend. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "kpg_cache.h"
#include "kpg_cunit.h"
#include "kpg_sign.h"
#include "kpg_verify.h"

static const enum kpg_alg algs[] = {
	KPG_ALG_ECDSA_P256_SHA256, KPG_ALG_ED25519, KPG_ALG_RSA_PSS_SHA256,
};
#define NALGS (sizeof(algs) / sizeof(algs[0]))

/* Two signers of each algorithm: the second is the "wrong key". */
static struct kpg_signer *signers[4][2];
static uint8_t msg[450];

static const uint8_t p256_n[32] = {
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
	0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};

static int setup(void)
{
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7 + 3);
	for (unsigned i = 0; i < NALGS; i++)
		for (unsigned j = 0; j < 2; j++)
			if ((signers[algs[i]][j] = kpg_signer_generate(algs[i], 0)) == NULL)
				return -1;
	return 0;
}

static int teardown(void)
{
	for (unsigned i = 0; i < NALGS; i++)
		for (unsigned j = 0; j < 2; j++)
			kpg_signer_delete(signers[algs[i]][j]);
	return 0;
}

static struct kpg_pubkey *pubkey_of(const struct kpg_signer *s)
{
	uint8_t spki[1024];
	int len = kpg_signer_spki(s, spki, sizeof(spki));
	const char *why = NULL;
	struct kpg_pubkey *k;

	if (len <= 0)
		return NULL;
	k = kpg_pubkey_new(kpg_signer_alg(s), spki, (size_t)len, &why);
	if (k == NULL)
		fprintf(stderr, "key refused: %s\n", why);
	return k;
}

static size_t sign(const struct kpg_signer *s, const uint8_t *m, size_t len,
		   uint8_t sig[KPG_SIG_MAX])
{
	size_t sig_len = KPG_SIG_MAX;

	CU_ASSERT_EQUAL_FATAL(kpg_signer_sign(s, m, len, sig, &sig_len), 0);
	return sig_len;
}

/* One verification through the batch interface. */
static int verify1(struct kpg_verifier *v, const uint8_t *m, size_t mlen,
		   const uint8_t *sig, size_t sig_len)
{
	struct kpg_verify_op op = {
		.v = v, .msg = m, .msg_len = mlen, .sig = sig, .sig_len = sig_len,
		.ok = -1,
	};
	unsigned n = kpg_verify_batch(&op, 1);

	CU_ASSERT_EQUAL(n, (unsigned)op.ok);
	return op.ok;
}

static const char *refusal(enum kpg_alg alg, const uint8_t *spki, size_t len)
{
	const char *why = NULL;
	struct kpg_pubkey *k = kpg_pubkey_new(alg, spki, len, &why);

	if (k != NULL) {
		kpg_pubkey_delete(k);
		return NULL;
	}
	return why ? why : "(no reason)";
}

static int spki_of(EVP_PKEY *pkey, uint8_t *out, size_t cap)
{
	int len = i2d_PUBKEY(pkey, NULL);
	uint8_t *p = out;

	if (len <= 0 || (size_t)len > cap)
		return -1;
	return i2d_PUBKEY(pkey, &p);
}

/* Ed25519 SPKI around 32 raw bytes (RFC 8410). */
static size_t ed25519_spki(const uint8_t raw[32], uint8_t out[44])
{
	static const uint8_t prefix[12] = {
		0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
	};

	memcpy(out, prefix, sizeof(prefix));
	memcpy(out + sizeof(prefix), raw, 32);
	return 44;
}

/* ---- names and key ids ---- */

static void test_alg_names(void)
{
	for (unsigned i = 0; i < NALGS; i++)
		CU_ASSERT_EQUAL(kpg_alg_from_name(kpg_alg_name(algs[i])), algs[i]);
	CU_ASSERT_STRING_EQUAL(kpg_alg_name(KPG_ALG_ECDSA_P256_SHA256), "ecdsa-p256");
	CU_ASSERT_STRING_EQUAL(kpg_alg_name(KPG_ALG_ED25519), "ed25519");
	CU_ASSERT_STRING_EQUAL(kpg_alg_name(KPG_ALG_RSA_PSS_SHA256), "rsa-pss");
	CU_ASSERT_EQUAL(kpg_alg_from_name("rsa"), KPG_ALG_NONE);
	CU_ASSERT_EQUAL(kpg_alg_from_name(""), KPG_ALG_NONE);
	CU_ASSERT_EQUAL(kpg_alg_from_name(NULL), KPG_ALG_NONE);
}

static void test_key_id(void)
{
	for (unsigned i = 0; i < NALGS; i++) {
		uint8_t spki[1024], id[KPG_KEY_ID_LEN], id2[KPG_KEY_ID_LEN], md[32];
		unsigned mdlen = 0;
		int len = kpg_signer_spki(signers[algs[i]][0], spki, sizeof(spki));

		CU_ASSERT_FATAL(len > 0);
		kpg_key_id(spki, (size_t)len, id);
		CU_ASSERT_EQUAL(EVP_Digest(spki, (size_t)len, md, &mdlen, EVP_sha256(), NULL), 1);
		CU_ASSERT_EQUAL(memcmp(id, md, KPG_KEY_ID_LEN), 0);
		kpg_signer_key_id(signers[algs[i]][0], id2);
		CU_ASSERT_EQUAL(memcmp(id, id2, KPG_KEY_ID_LEN), 0);
	}
}

/* ---- verification ---- */

static void test_valid_and_forged(void)
{
	static const enum kpg_backend backends[] = {
		KPG_BACKEND_DEFAULT, KPG_BACKEND_OPENSSL, KPG_BACKEND_SODIUM,
	};

	for (unsigned i = 0; i < NALGS; i++) {
		struct kpg_signer *s = signers[algs[i]][0];
		struct kpg_signer *other = signers[algs[i]][1];
		struct kpg_pubkey *k = pubkey_of(s);
		uint8_t sig[KPG_SIG_MAX], sig2[KPG_SIG_MAX], m[sizeof(msg)];
		size_t len = sign(s, msg, sizeof(msg), sig);
		size_t len2 = sign(other, msg, sizeof(msg), sig2);

		CU_ASSERT_PTR_NOT_NULL_FATAL(k);
		CU_ASSERT_EQUAL(kpg_pubkey_alg(k), algs[i]);
		for (unsigned b = 0; b < 3; b++) {
			struct kpg_verifier *v = kpg_verifier_new(k, backends[b]);

			/* libsodium is offered for Ed25519 only. */
			if (backends[b] == KPG_BACKEND_SODIUM &&
			    algs[i] != KPG_ALG_ED25519) {
				CU_ASSERT_PTR_NULL(v);
				continue;
			}
			CU_ASSERT_PTR_NOT_NULL_FATAL(v);
			CU_ASSERT_EQUAL(verify1(v, msg, sizeof(msg), sig, len), 1);
			/* Tampered signed bytes: first, middle and last. */
			for (size_t at = 0; at < sizeof(msg); at += sizeof(msg) / 2 - 1) {
				memcpy(m, msg, sizeof(msg));
				m[at] ^= 0x01;
				CU_ASSERT_EQUAL(verify1(v, m, sizeof(msg), sig, len), 0);
			}
			CU_ASSERT_EQUAL(verify1(v, msg, sizeof(msg) - 1, sig, len), 0);
			/* Tampered signature, past the DER header for ECDSA. */
			sig[len - 1] ^= 0x01;
			CU_ASSERT_EQUAL(verify1(v, msg, sizeof(msg), sig, len), 0);
			sig[len - 1] ^= 0x01;
			sig[len / 2] ^= 0x80;
			CU_ASSERT_EQUAL(verify1(v, msg, sizeof(msg), sig, len), 0);
			sig[len / 2] ^= 0x80;
			CU_ASSERT_EQUAL(verify1(v, msg, sizeof(msg), sig, len - 1), 0);
			/* Another authority's key of the same algorithm. */
			CU_ASSERT_EQUAL(verify1(v, msg, sizeof(msg), sig2, len2), 0);
			/* The context survives refusals: still verifies after. */
			CU_ASSERT_EQUAL(verify1(v, msg, sizeof(msg), sig, len), 1);
			kpg_verifier_delete(v);
		}
		kpg_pubkey_delete(k);
	}
}

static void test_batch(void)
{
	struct kpg_verify_op ops[3 * 4];
	uint8_t sig[3][KPG_SIG_MAX], bad[3][KPG_SIG_MAX];
	size_t len[3];
	struct kpg_verifier *v[3];
	unsigned n = 0, valid;

	for (unsigned i = 0; i < NALGS; i++) {
		struct kpg_pubkey *k = pubkey_of(signers[algs[i]][0]);

		CU_ASSERT_PTR_NOT_NULL_FATAL(k);
		v[i] = kpg_verifier_new(k, KPG_BACKEND_DEFAULT);
		/* A verifier holds its own reference to the key. */
		kpg_pubkey_delete(k);
		CU_ASSERT_PTR_NOT_NULL_FATAL(v[i]);
		len[i] = sign(signers[algs[i]][0], msg, sizeof(msg), sig[i]);
		memcpy(bad[i], sig[i], len[i]);
		bad[i][len[i] - 2] ^= 0x10;
		/* valid, forged, valid again, then no verifier at all */
		for (unsigned r = 0; r < 3; r++)
			ops[n++] = (struct kpg_verify_op){
				.v = v[i], .msg = msg, .msg_len = sizeof(msg),
				.sig = r == 1 ? bad[i] : sig[i], .sig_len = len[i],
				.ok = -1,
			};
		ops[n++] = (struct kpg_verify_op){
			.v = NULL, .msg = msg, .msg_len = sizeof(msg),
			.sig = sig[i], .sig_len = len[i], .ok = -1,
		};
	}
	valid = kpg_verify_batch(ops, n);
	CU_ASSERT_EQUAL(valid, 6);
	for (unsigned i = 0; i < n; i++)
		CU_ASSERT_EQUAL(ops[i].ok, (i % 4 == 0 || i % 4 == 2) ? 1 : 0);
	CU_ASSERT_EQUAL(kpg_verify_batch(ops, 0), 0);
	for (unsigned i = 0; i < NALGS; i++)
		kpg_verifier_delete(v[i]);
}

/* A PSS signature made directly with OpenSSL, salt length of our choice. */
static size_t rsa_pss_sign_salt(EVP_PKEY *pkey, int salt, int pss,
				uint8_t sig[KPG_SIG_MAX])
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	size_t sig_len = KPG_SIG_MAX;

	CU_ASSERT_FATAL(mctx != NULL);
	CU_ASSERT_EQUAL_FATAL(EVP_DigestSignInit_ex(mctx, &pctx, "SHA256", NULL,
						    NULL, pkey, NULL), 1);
	if (pss) {
		CU_ASSERT_EQUAL_FATAL(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
		CU_ASSERT_EQUAL_FATAL(EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, "SHA256", NULL), 1);
		CU_ASSERT_EQUAL_FATAL(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, salt), 1);
	}
	CU_ASSERT_EQUAL_FATAL(EVP_DigestSign(mctx, sig, &sig_len, msg, sizeof(msg)), 1);
	EVP_MD_CTX_free(mctx);
	return sig_len;
}

static void test_rsa_pss_salt(void)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	uint8_t spki[1024], sig[KPG_SIG_MAX];
	int slen = spki_of(pkey, spki, sizeof(spki));
	struct kpg_pubkey *k;
	struct kpg_verifier *v;
	size_t len;

	CU_ASSERT_FATAL(slen > 0);
	k = kpg_pubkey_new(KPG_ALG_RSA_PSS_SHA256, spki, (size_t)slen, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	v = kpg_verifier_new(k, KPG_BACKEND_DEFAULT);
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	/* Control: salt 32 made the same way verifies. */
	len = rsa_pss_sign_salt(pkey, 32, 1, sig);
	CU_ASSERT_EQUAL(verify1(v, msg, sizeof(msg), sig, len), 1);
	/* Salt 20 is a valid PSS signature, but not the protocol's. */
	len = rsa_pss_sign_salt(pkey, 20, 1, sig);
	CU_ASSERT_EQUAL(verify1(v, msg, sizeof(msg), sig, len), 0);
	len = rsa_pss_sign_salt(pkey, 0, 1, sig);
	CU_ASSERT_EQUAL(verify1(v, msg, sizeof(msg), sig, len), 0);
	len = rsa_pss_sign_salt(pkey, RSA_PSS_SALTLEN_MAX, 1, sig);
	CU_ASSERT_EQUAL(verify1(v, msg, sizeof(msg), sig, len), 0);
	/* PKCS#1 v1.5 with the same key: another algorithm, refused. */
	len = rsa_pss_sign_salt(pkey, 0, 0, sig);
	CU_ASSERT_EQUAL(verify1(v, msg, sizeof(msg), sig, len), 0);
	/* And the verifier still accepts the right one afterwards. */
	len = rsa_pss_sign_salt(pkey, 32, 1, sig);
	CU_ASSERT_EQUAL(verify1(v, msg, sizeof(msg), sig, len), 1);
	kpg_verifier_delete(v);
	kpg_pubkey_delete(k);
	EVP_PKEY_free(pkey);
}

/* ---- keys refused at load ---- */

static void test_weak_and_foreign_keys(void)
{
	EVP_PKEY *rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	uint8_t spki[1024], ed[1024], rsa[1024];
	const char *why;
	int len;
	int edlen = kpg_signer_spki(signers[KPG_ALG_ED25519][0], ed, sizeof(ed));
	int rsalen = kpg_signer_spki(signers[KPG_ALG_RSA_PSS_SHA256][0], rsa, sizeof(rsa));

	CU_ASSERT_FATAL(rsa1024 != NULL && p384 != NULL && edlen > 0 && rsalen > 0);
	len = spki_of(rsa1024, spki, sizeof(spki));
	why = refusal(KPG_ALG_RSA_PSS_SHA256, spki, (size_t)len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(why);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "2048"));

	len = spki_of(p384, spki, sizeof(spki));
	why = refusal(KPG_ALG_ECDSA_P256_SHA256, spki, (size_t)len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(why);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "P-256"));

	/* The algorithm named by the trust list must match the key. */
	CU_ASSERT_PTR_NOT_NULL(refusal(KPG_ALG_ECDSA_P256_SHA256, ed, (size_t)edlen));
	CU_ASSERT_PTR_NOT_NULL(refusal(KPG_ALG_RSA_PSS_SHA256, ed, (size_t)edlen));
	CU_ASSERT_PTR_NOT_NULL(refusal(KPG_ALG_ED25519, rsa, (size_t)rsalen));
	CU_ASSERT_PTR_NOT_NULL(refusal(KPG_ALG_NONE, ed, (size_t)edlen));
	CU_ASSERT_PTR_NULL(refusal(KPG_ALG_ED25519, ed, (size_t)edlen));

	/* Truncated, or with bytes after the key the key id would hash. */
	CU_ASSERT_PTR_NOT_NULL(refusal(KPG_ALG_ED25519, ed, (size_t)edlen - 1));
	ed[edlen] = 0;
	CU_ASSERT_PTR_NOT_NULL(refusal(KPG_ALG_ED25519, ed, (size_t)edlen + 1));
	CU_ASSERT_PTR_NOT_NULL(refusal(KPG_ALG_ED25519, ed, 0));
	EVP_PKEY_free(rsa1024);
	EVP_PKEY_free(p384);
}

static void test_ed25519_bad_points(void)
{
	/* Every small-order y (little-endian), then variants. */
	static const uint8_t small[][32] = {
		{ 0x01 },                                        /* identity */
		{ 0x00 },                                        /* order 4 */
		{ [31] = 0x80 },                                 /* order 4, x < 0 */
		{ 0xec, [1 ... 30] = 0xff, [31] = 0x7f },        /* order 2 */
		{ 0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0,
		  0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
		  0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39,
		  0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05 }, /* order 8 */
		{ 0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f,
		  0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
		  0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6,
		  0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a }, /* order 8 */
		{ 0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f,
		  0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
		  0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6,
		  0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0xfa }, /* order 8, x < 0 */
		{ 0x01, [31] = 0x80 },                           /* identity, x = -0 */
	};
	/* y >= p: p + 2 (a real point, y = 2, spelled non-canonically),
	 * p and p + 1 (0 and 1 spelled non-canonically). */
	static const uint8_t noncanon[][32] = {
		{ 0xef, [1 ... 30] = 0xff, [31] = 0x7f },
		{ 0xed, [1 ... 30] = 0xff, [31] = 0x7f },
		{ 0xee, [1 ... 30] = 0xff, [31] = 0x7f },
		{ 0xff, [1 ... 30] = 0xff, [31] = 0xff },
	};
	uint8_t spki[44], raw[32], mixed[32];
	const char *why;
	size_t len = 32;
	EVP_PKEY *pkey;

	for (unsigned i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		why = refusal(KPG_ALG_ED25519, spki, ed25519_spki(small[i], spki));
		CU_ASSERT_PTR_NOT_NULL_FATAL(why);
		CU_ASSERT_PTR_NOT_NULL(strstr(why, "small order"));
	}
	for (unsigned i = 0; i < sizeof(noncanon) / sizeof(noncanon[0]); i++) {
		why = refusal(KPG_ALG_ED25519, spki, ed25519_spki(noncanon[i], spki));
		CU_ASSERT_PTR_NOT_NULL_FATAL(why);
		CU_ASSERT_PTR_NOT_NULL(strstr(why, "canonical"));
	}
	/* A real key plus a point of order 8: on the curve, canonical, not
	 * of small order, but outside the prime-order subgroup. */
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	CU_ASSERT_FATAL(pkey != NULL);
	CU_ASSERT_EQUAL_FATAL(EVP_PKEY_get_raw_public_key(pkey, raw, &len), 1);
	CU_ASSERT_PTR_NULL(refusal(KPG_ALG_ED25519, spki, ed25519_spki(raw, spki)));
	CU_ASSERT_EQUAL_FATAL(crypto_core_ed25519_add(mixed, raw, small[4]), 0);
	why = refusal(KPG_ALG_ED25519, spki, ed25519_spki(mixed, spki));
	CU_ASSERT_PTR_NOT_NULL(why);
	/* A point off the curve (y = 2 has no x). */
	memset(raw, 0, sizeof(raw));
	raw[0] = 2;
	CU_ASSERT_PTR_NOT_NULL(refusal(KPG_ALG_ED25519, spki, ed25519_spki(raw, spki)));
	EVP_PKEY_free(pkey);
}

/* ---- ECDSA encodings ---- */

static size_t der_int(const uint8_t v[32], uint8_t *out)
{
	size_t i = 0, n;

	while (i < 31 && v[i] == 0)
		i++;
	n = 32 - i;
	out[0] = 0x02;
	if (v[i] & 0x80) {
		out[1] = (uint8_t)(n + 1);
		out[2] = 0x00;
		memcpy(out + 3, v + i, n);
		return n + 3;
	}
	out[1] = (uint8_t)n;
	memcpy(out + 2, v + i, n);
	return n + 2;
}

static size_t der_sig(const uint8_t r[32], const uint8_t s[32], uint8_t *out)
{
	size_t n = 2;

	n += der_int(r, out + n);
	n += der_int(s, out + n);
	out[0] = 0x30;
	out[1] = (uint8_t)(n - 2);
	return n;
}

/* r and s of a DER signature, parsed the loose way a test may. */
static void der_split(const uint8_t *sig, uint8_t r[32], uint8_t s[32])
{
	const uint8_t *p = sig + 2;

	for (unsigned k = 0; k < 2; k++) {
		size_t n = p[1];
		const uint8_t *v = p + 2;
		uint8_t *out = k ? s : r;

		if (n == 33) {
			v++;
			n--;
		}
		memset(out, 0, 32);
		memcpy(out + 32 - n, v, n);
		p += 2 + p[1];
	}
}

static void sub_from_n(const uint8_t s[32], uint8_t out[32])
{
	int borrow = 0;

	for (int i = 31; i >= 0; i--) {
		int d = p256_n[i] - s[i] - borrow;

		borrow = d < 0;
		out[i] = (uint8_t)(d & 0xff);
	}
}

static void test_ecdsa_high_s_twin(void)
{
	struct kpg_signer *s = signers[KPG_ALG_ECDSA_P256_SHA256][0];
	struct kpg_pubkey *k = pubkey_of(s);
	struct kpg_verifier *v;
	uint8_t sig[KPG_SIG_MAX], twin[80], r[32], sv[32], ns[32];
	uint8_t c1[KPG_SIG_MAX], c2[KPG_SIG_MAX];
	uint8_t id[KPG_KEY_ID_LEN];
	struct kpg_cache *c = kpg_cache_new(64);
	struct kpg_cache_key ck = { .key_id = id, .msg = msg, .msg_len = sizeof(msg) };
	size_t len, tlen;
	int n1, n2;

	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	kpg_signer_key_id(s, id);
	v = kpg_verifier_new(k, KPG_BACKEND_DEFAULT);
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	for (unsigned round = 0; round < 8; round++) {
		msg[0] = (uint8_t)round;
		len = sign(s, msg, sizeof(msg), sig);
		der_split(sig, r, sv);
		sub_from_n(sv, ns);
		tlen = der_sig(r, ns, twin);
		CU_ASSERT(tlen != len || memcmp(twin, sig, len) != 0);
		/* Both verify, and read the same once canonical. */
		CU_ASSERT_EQUAL(verify1(v, msg, sizeof(msg), sig, len), 1);
		CU_ASSERT_EQUAL(verify1(v, msg, sizeof(msg), twin, tlen), 1);
		n1 = kpg_sig_canonical(k, sig, len, c1, sizeof(c1));
		n2 = kpg_sig_canonical(k, twin, tlen, c2, sizeof(c2));
		CU_ASSERT_EQUAL(n1, 64);
		CU_ASSERT_EQUAL(n2, 64);
		CU_ASSERT_EQUAL(memcmp(c1, c2, 64), 0);
		CU_ASSERT_EQUAL(memcmp(c1, r, 32), 0);
		/* The canonical s is the low one. */
		CU_ASSERT_EQUAL(memcmp(c1 + 32, memcmp(sv, ns, 32) < 0 ? sv : ns, 32), 0);
		/* So the twin hits the cache entry of the original. */
		ck.sig = c1;
		ck.sig_len = 64;
		kpg_cache_hash(&ck);
		kpg_cache_insert(c, &ck, 1);
		ck.sig = c2;
		kpg_cache_hash(&ck);
		CU_ASSERT_TRUE(kpg_cache_lookup(c, &ck, 1));
	}
	msg[0] = 3;
	kpg_cache_delete(c);
	kpg_verifier_delete(v);
	kpg_pubkey_delete(k);
}

static void test_ecdsa_strict_der(void)
{
	struct kpg_signer *s = signers[KPG_ALG_ECDSA_P256_SHA256][0];
	struct kpg_pubkey *k = pubkey_of(s);
	struct kpg_verifier *v;
	uint8_t sig[KPG_SIG_MAX], bad[KPG_SIG_MAX], out[KPG_SIG_MAX];
	uint8_t r[32], sv[32], one[32] = { [31] = 1 };
	size_t len, blen;

	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	v = kpg_verifier_new(k, KPG_BACKEND_DEFAULT);
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	/* An r of 32 bytes, top bit clear: a padded r would still fit. */
	do {
		msg[1]++;
		len = sign(s, msg, sizeof(msg), sig);
	} while (sig[3] != 32 || (sig[4] & 0x80));
	der_split(sig, r, sv);
	CU_ASSERT_EQUAL(kpg_sig_canonical(k, sig, len, out, sizeof(out)), 64);

	/* r padded with a needless zero byte. */
	bad[0] = 0x30;
	bad[1] = (uint8_t)(sig[1] + 1);
	bad[2] = 0x02;
	bad[3] = (uint8_t)(sig[3] + 1);
	bad[4] = 0x00;
	memcpy(bad + 5, sig + 4, len - 4);
	blen = len + 1;
	CU_ASSERT_EQUAL(kpg_sig_canonical(k, bad, blen, out, sizeof(out)), -EBADMSG);
	CU_ASSERT_EQUAL(verify1(v, msg, sizeof(msg), bad, blen), 0);

	/* Long-form length of the sequence. */
	bad[0] = 0x30;
	bad[1] = 0x81;
	bad[2] = sig[1];
	memcpy(bad + 3, sig + 2, len - 2);
	blen = len + 1;
	CU_ASSERT_EQUAL(kpg_sig_canonical(k, bad, blen, out, sizeof(out)), -EBADMSG);
	CU_ASSERT_EQUAL(verify1(v, msg, sizeof(msg), bad, blen), 0);

	/* Trailing garbage after the sequence, and inside it. */
	memcpy(bad, sig, len);
	bad[len] = 0x00;
	CU_ASSERT_EQUAL(kpg_sig_canonical(k, bad, len + 1, out, sizeof(out)), -EBADMSG);
	CU_ASSERT_EQUAL(verify1(v, msg, sizeof(msg), bad, len + 1), 0);
	bad[1] = (uint8_t)(sig[1] + 1);
	CU_ASSERT_EQUAL(kpg_sig_canonical(k, bad, len + 1, out, sizeof(out)), -EBADMSG);
	CU_ASSERT_EQUAL(verify1(v, msg, sizeof(msg), bad, len + 1), 0);

	/* Negative integer: 0x80 with no zero byte before it. */
	{
		static const uint8_t neg[] = { 0x30, 0x06, 0x02, 0x01, 0x80, 0x02, 0x01, 0x01 };
		static const uint8_t zero_r[] = { 0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01 };
		static const uint8_t zero_s[] = { 0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x00 };
		static const uint8_t empty_int[] = { 0x30, 0x05, 0x02, 0x00, 0x02, 0x01, 0x01 };
		static const uint8_t minimal[] = { 0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01 };
		static const uint8_t not_seq[] = { 0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01 };
		static const uint8_t pad_r[] = { 0x30, 0x07, 0x02, 0x02, 0x00, 0x7f, 0x02, 0x01, 0x01 };
		static const uint8_t pad_s[] = { 0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x02, 0x00, 0x01 };
		static const uint8_t pad_ok[] = { 0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x01 };
		static const uint8_t long_int[] = { 0x30, 0x07, 0x02, 0x81, 0x01, 0x01, 0x02, 0x01, 0x01 };

		CU_ASSERT_EQUAL(kpg_sig_canonical(k, neg, sizeof(neg), out, sizeof(out)), -EBADMSG);
		CU_ASSERT_EQUAL(kpg_sig_canonical(k, zero_r, sizeof(zero_r), out, sizeof(out)), -EBADMSG);
		CU_ASSERT_EQUAL(kpg_sig_canonical(k, zero_s, sizeof(zero_s), out, sizeof(out)), -EBADMSG);
		CU_ASSERT_EQUAL(kpg_sig_canonical(k, empty_int, sizeof(empty_int), out, sizeof(out)), -EBADMSG);
		CU_ASSERT_EQUAL(kpg_sig_canonical(k, not_seq, sizeof(not_seq), out, sizeof(out)), -EBADMSG);
		CU_ASSERT_EQUAL(kpg_sig_canonical(k, pad_r, sizeof(pad_r), out, sizeof(out)), -EBADMSG);
		CU_ASSERT_EQUAL(kpg_sig_canonical(k, pad_s, sizeof(pad_s), out, sizeof(out)), -EBADMSG);
		CU_ASSERT_EQUAL(kpg_sig_canonical(k, long_int, sizeof(long_int), out, sizeof(out)), -EBADMSG);
		/* A zero byte that keeps 0x80 positive is required, not padding. */
		CU_ASSERT_EQUAL(kpg_sig_canonical(k, pad_ok, sizeof(pad_ok), out, sizeof(out)), 64);
		/* Well formed (r = s = 1), so only the crypto would say no. */
		CU_ASSERT_EQUAL(kpg_sig_canonical(k, minimal, sizeof(minimal), out, sizeof(out)), 64);
		CU_ASSERT_EQUAL(verify1(v, msg, sizeof(msg), minimal, sizeof(minimal)), 0);
	}
	/* Negative r: its minimal two's complement form, top bit set. */
	if (sig[3] == 33) {
		bad[0] = 0x30;
		bad[1] = (uint8_t)(sig[1] - 1);
		bad[2] = 0x02;
		bad[3] = 32;
		memcpy(bad + 4, sig + 5, len - 5);
		CU_ASSERT_EQUAL(kpg_sig_canonical(k, bad, len - 1, out, sizeof(out)), -EBADMSG);
		CU_ASSERT_EQUAL(verify1(v, msg, sizeof(msg), bad, len - 1), 0);
	}
	/* r = n and s = n: outside [1, n - 1]. */
	blen = der_sig(p256_n, sv, bad);
	CU_ASSERT_EQUAL(kpg_sig_canonical(k, bad, blen, out, sizeof(out)), -EBADMSG);
	blen = der_sig(r, p256_n, bad);
	CU_ASSERT_EQUAL(kpg_sig_canonical(k, bad, blen, out, sizeof(out)), -EBADMSG);
	blen = der_sig(one, one, bad);
	CU_ASSERT_EQUAL(kpg_sig_canonical(k, bad, blen, out, sizeof(out)), 64);
	/* Empty and truncated. */
	CU_ASSERT_EQUAL(kpg_sig_canonical(k, sig, 0, out, sizeof(out)), -EBADMSG);
	CU_ASSERT_EQUAL(kpg_sig_canonical(k, sig, len - 1, out, sizeof(out)), -EBADMSG);
	msg[1] = 10;
	kpg_verifier_delete(v);
	kpg_pubkey_delete(k);
}

static void test_canonical_other_algs(void)
{
	struct kpg_pubkey *ed = pubkey_of(signers[KPG_ALG_ED25519][0]);
	struct kpg_pubkey *rsa = pubkey_of(signers[KPG_ALG_RSA_PSS_SHA256][0]);
	uint8_t sig[KPG_SIG_MAX], out[KPG_SIG_MAX];
	size_t len;

	CU_ASSERT_FATAL(ed != NULL && rsa != NULL);
	len = sign(signers[KPG_ALG_ED25519][0], msg, sizeof(msg), sig);
	CU_ASSERT_EQUAL(kpg_sig_canonical(ed, sig, len, out, sizeof(out)), 64);
	CU_ASSERT_EQUAL(memcmp(out, sig, 64), 0);
	CU_ASSERT_EQUAL(kpg_sig_canonical(ed, sig, 63, out, sizeof(out)), -EBADMSG);
	CU_ASSERT_EQUAL(kpg_sig_canonical(ed, sig, 65, out, sizeof(out)), -EBADMSG);

	len = sign(signers[KPG_ALG_RSA_PSS_SHA256][0], msg, sizeof(msg), sig);
	CU_ASSERT_EQUAL(kpg_sig_canonical(rsa, sig, len, out, sizeof(out)), 256);
	CU_ASSERT_EQUAL(memcmp(out, sig, 256), 0);
	CU_ASSERT_EQUAL(kpg_sig_canonical(rsa, sig, 255, out, sizeof(out)), -EBADMSG);
	CU_ASSERT_EQUAL(kpg_sig_canonical(rsa, sig, 257, out, sizeof(out)), -EBADMSG);
	kpg_pubkey_delete(ed);
	kpg_pubkey_delete(rsa);
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "algorithm names", test_alg_names },
		{ "key id is SHA-256 of the SPKI", test_key_id },
		{ "valid verifies; tampered, forged, wrong key refused", test_valid_and_forged },
		{ "batch reports each result", test_batch },
		{ "RSA-PSS salt other than 32 refused", test_rsa_pss_salt },
		{ "weak and mismatched keys refused", test_weak_and_foreign_keys },
		{ "Ed25519 small-order and non-canonical keys refused", test_ed25519_bad_points },
		{ "ECDSA high-S twin verifies, reads alike, hits the cache", test_ecdsa_high_s_twin },
		{ "ECDSA non-strict DER refused", test_ecdsa_strict_der },
		{ "Ed25519 and RSA canonical forms", test_canonical_other_algs },
		{ NULL, NULL },
	};

	return kpg_cunit_run("verify", tests, setup, teardown);
}
