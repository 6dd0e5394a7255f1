/* kpg_verify.c — trust-list keys, canonical signatures and the batch
 * verifier. Keys are parsed and checked once at load; each verifier holds
 * contexts prepared once per key and lcore, so a verification only hashes
 * the message and runs the signature check. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "kpg_verify.h"

#define KPG_P256_LEN        32u
#define KPG_ECDSA_SIG_LEN   (2u * KPG_P256_LEN)
#define KPG_ED25519_PK_LEN  32u
#define KPG_ED25519_SIG_LEN 64u
#define KPG_RSA_BITS_MIN    2048
#define KPG_RSA_BITS_MAX    ((int)KPG_SIG_MAX * 8)
#define KPG_PSS_SALT_LEN    32
#define KPG_CACHE_LINE      64u

struct kpg_pubkey {
	enum kpg_alg alg;
	EVP_PKEY *pkey;
	size_t rsa_len;                  /* modulus bytes = signature length */
	uint8_t ed25519[KPG_ED25519_PK_LEN];
};

struct kpg_verifier {
	enum kpg_alg alg;
	enum kpg_backend backend;        /* resolved: OPENSSL or SODIUM */
	size_t rsa_len;
	EVP_PKEY *pkey;                  /* own reference: outlives the pubkey */
	EVP_PKEY_CTX *pctx;              /* ECDSA, RSA-PSS: verify_init done */
	EVP_MD *md;                      /* message digest, fetched once */
	EVP_MD_CTX *mctx;                /* message digest, or Ed25519 DigestVerify */
	uint8_t ed25519[KPG_ED25519_PK_LEN];
} __attribute__((aligned(KPG_CACHE_LINE)));

/* Group order n of P-256 and floor(n / 2), big-endian. */
static const uint8_t kpg_p256_n[KPG_P256_LEN] = {
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
	0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};
static const uint8_t kpg_p256_half_n[KPG_P256_LEN] = {
	0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00,
	0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42,
	0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
};

/* The y coordinates (little-endian, sign bit cleared) of every point of
 * order 1, 2, 4 or 8 on edwards25519, with the non-canonical y + p forms
 * that still fit 255 bits: 0, 1, p - 1, p, p + 1 and the two order-8 y. */
static const uint8_t kpg_ed25519_small_y[7][KPG_ED25519_PK_LEN] = {
	{ 0x00 },
	{ 0x01 },
	{ 0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
	{ 0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
	{ 0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
	{ 0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0,
	  0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
	  0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39,
	  0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05 },
	{ 0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f,
	  0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
	  0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6,
	  0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a },
};

static const char *const kpg_alg_names[] = {
	[KPG_ALG_ECDSA_P256_SHA256] = "ecdsa-p256",
	[KPG_ALG_ED25519] = "ed25519",
	[KPG_ALG_RSA_PSS_SHA256] = "rsa-pss",
};

const char *kpg_alg_name(enum kpg_alg alg)
{
	if ((unsigned)alg < sizeof(kpg_alg_names) / sizeof(kpg_alg_names[0]) &&
	    kpg_alg_names[alg] != NULL)
		return kpg_alg_names[alg];
	return "none";
}

enum kpg_alg kpg_alg_from_name(const char *name)
{
	if (name == NULL)
		return KPG_ALG_NONE;
	for (unsigned i = 0; i < sizeof(kpg_alg_names) / sizeof(kpg_alg_names[0]); i++)
		if (kpg_alg_names[i] != NULL && strcmp(kpg_alg_names[i], name) == 0)
			return (enum kpg_alg)i;
	return KPG_ALG_NONE;
}

void kpg_key_id(const uint8_t *spki, size_t len, uint8_t out[KPG_KEY_ID_LEN])
{
	uint8_t md[SHA256_DIGEST_LENGTH];

	SHA256(spki, len, md);
	memcpy(out, md, KPG_KEY_ID_LEN);
}

/* ---- key checks at load ---- */

static int kpg_check_p256(EVP_PKEY *pkey, const char **why)
{
	char buf[32];
	size_t blen = 0;
	EVP_PKEY_CTX *ctx;
	int ok;

	if (!EVP_PKEY_is_a(pkey, "EC") ||
	    EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
					   buf, sizeof(buf), &blen) != 1 ||
	    strcmp(buf, "prime256v1") != 0) {
		*why = "key is not P-256";
		return -EINVAL;
	}
	/* RFC 5480: the curve is named, never spelled out as parameters. */
	if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_ENCODING,
					   buf, sizeof(buf), &blen) != 1 ||
	    strcmp(buf, OSSL_PKEY_EC_ENCODING_GROUP) != 0) {
		*why = "P-256 key with explicit curve parameters";
		return -EINVAL;
	}
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	ok = ctx != NULL && EVP_PKEY_public_check(ctx) == 1;
	EVP_PKEY_CTX_free(ctx);
	if (!ok) {
		*why = "P-256 point not valid";
		return -EINVAL;
	}
	return 0;
}

static int kpg_check_rsa(EVP_PKEY *pkey, size_t *rsa_len, const char **why)
{
	BIGNUM *n = NULL, *e = NULL;
	int bits, rc = 0;

	/* rsaEncryption keys only: the PSS parameters come from the trust
	 * list's algorithm, not from an RSASSA-PSS key's own parameters. */
	if (!EVP_PKEY_is_a(pkey, "RSA")) {
		*why = "key is not RSA";
		return -EINVAL;
	}
	bits = EVP_PKEY_get_bits(pkey);
	if (bits < KPG_RSA_BITS_MIN) {
		*why = "RSA key below 2048 bits";
		return -EINVAL;
	}
	if (bits > KPG_RSA_BITS_MAX) {
		*why = "RSA key above 4096 bits";
		return -EINVAL;
	}
	if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
	    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
		*why = "RSA key unreadable";
		rc = -EINVAL;
	} else if (!BN_is_odd(n)) {
		*why = "RSA modulus even";
		rc = -EINVAL;
	} else if (!BN_is_odd(e) || BN_num_bits(e) < 2 || BN_num_bits(e) > 256) {
		/* 3 <= e < 2^256 and odd, as FIPS 186 asks of a public exponent. */
		*why = "RSA exponent not sane";
		rc = -EINVAL;
	}
	BN_free(n);
	BN_free(e);
	if (rc == 0)
		*rsa_len = (size_t)EVP_PKEY_get_size(pkey);
	return rc;
}

/* y (the encoding with its sign bit cleared) is canonical when below
 * p = 2^255 - 19. */
static int kpg_ed25519_canonical(const uint8_t pk[KPG_ED25519_PK_LEN])
{
	if ((pk[31] & 0x7f) != 0x7f)
		return 1;
	for (unsigned i = 30; i > 0; i--)
		if (pk[i] != 0xff)
			return 1;
	return pk[0] < 0xed;
}

static int kpg_ed25519_small_order(const uint8_t pk[KPG_ED25519_PK_LEN])
{
	uint8_t y[KPG_ED25519_PK_LEN];

	memcpy(y, pk, sizeof(y));
	y[31] &= 0x7f;
	for (unsigned i = 0; i < sizeof(kpg_ed25519_small_y) / sizeof(y); i++)
		if (memcmp(y, kpg_ed25519_small_y[i], sizeof(y)) == 0)
			return 1;
	return 0;
}

static int kpg_check_ed25519(EVP_PKEY *pkey, uint8_t raw[KPG_ED25519_PK_LEN],
			     const char **why)
{
	size_t len = KPG_ED25519_PK_LEN;

	if (!EVP_PKEY_is_a(pkey, "ED25519") ||
	    EVP_PKEY_get_raw_public_key(pkey, raw, &len) != 1 ||
	    len != KPG_ED25519_PK_LEN) {
		*why = "key is not Ed25519";
		return -EINVAL;
	}
	if (!kpg_ed25519_canonical(raw)) {
		*why = "Ed25519 key not canonical";
		return -EINVAL;
	}
	/* Checked on its own: the reason must not depend on what the
	 * libsodium version's point check happens to cover. */
	if (kpg_ed25519_small_order(raw)) {
		*why = "Ed25519 key of small order";
		return -EINVAL;
	}
	/* On the curve and in the prime-order subgroup (no torsion part). */
	if (crypto_core_ed25519_is_valid_point(raw) != 1) {
		*why = "Ed25519 key not a valid point";
		return -EINVAL;
	}
	return 0;
}

struct kpg_pubkey *kpg_pubkey_new(enum kpg_alg alg, const uint8_t *spki,
				  size_t len, const char **why)
{
	const char *ignored;
	const unsigned char *p = spki;
	struct kpg_pubkey *k;
	EVP_PKEY *pkey;
	int rc;

	if (why == NULL)
		why = &ignored;
	*why = NULL;
	if (sodium_init() < 0) {
		*why = "libsodium unavailable";
		return NULL;
	}
	if (spki == NULL || len == 0 || len > LONG_MAX) {
		*why = "key missing";
		return NULL;
	}
	pkey = d2i_PUBKEY(NULL, &p, (long)len);
	if (pkey == NULL) {
		ERR_clear_error();
		*why = "key is not SPKI DER";
		return NULL;
	}
	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		*why = "out of memory";
		EVP_PKEY_free(pkey);
		return NULL;
	}
	k->alg = alg;
	k->pkey = pkey;
	if (p != spki + len) {
		/* The key id hashes all of these bytes: no bytes may hide. */
		*why = "bytes after the key";
		rc = -EINVAL;
	} else {
		switch (alg) {
		case KPG_ALG_ECDSA_P256_SHA256:
			rc = kpg_check_p256(pkey, why);
			break;
		case KPG_ALG_ED25519:
			rc = kpg_check_ed25519(pkey, k->ed25519, why);
			break;
		case KPG_ALG_RSA_PSS_SHA256:
			rc = kpg_check_rsa(pkey, &k->rsa_len, why);
			break;
		default:
			*why = "unknown algorithm";
			rc = -EINVAL;
			break;
		}
	}
	if (rc != 0) {
		ERR_clear_error();
		kpg_pubkey_delete(k);
		return NULL;
	}
	return k;
}

void kpg_pubkey_delete(struct kpg_pubkey *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

enum kpg_alg kpg_pubkey_alg(const struct kpg_pubkey *k)
{
	return k ? k->alg : KPG_ALG_NONE;
}

/* ---- strict DER and canonical signatures ---- */

/* One DER INTEGER at *pp, positive and minimally encoded, of at most 32
 * value bytes, left-padded into out. Short-form length only: nothing in a
 * P-256 signature needs the long form, so DER forbids it. */
static int kpg_der_uint256(const uint8_t **pp, const uint8_t *end,
			   uint8_t out[KPG_P256_LEN])
{
	const uint8_t *p = *pp;
	size_t len;

	if (end - p < 2 || p[0] != 0x02)
		return -EBADMSG;
	len = p[1];
	p += 2;
	if (len == 0 || len > KPG_P256_LEN + 1 || (size_t)(end - p) < len)
		return -EBADMSG;
	if (p[0] & 0x80)
		return -EBADMSG;                 /* negative */
	if (p[0] == 0x00 && len > 1) {
		if (!(p[1] & 0x80))
			return -EBADMSG;         /* needless leading zero */
		p++;
		len--;
	}
	if (len > KPG_P256_LEN)
		return -EBADMSG;
	memset(out, 0, KPG_P256_LEN - len);
	memcpy(out + KPG_P256_LEN - len, p, len);
	*pp = p + len;
	return 0;
}

static int kpg_is_zero(const uint8_t *a, size_t len)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < len; i++)
		acc |= a[i];
	return acc == 0;
}

/* Strict DER ECDSA-Sig-Value -> r || s (64 bytes), r and s in [1, n-1]. */
static int kpg_ecdsa_der_parse(const uint8_t *sig, size_t len,
			       uint8_t rs[KPG_ECDSA_SIG_LEN])
{
	const uint8_t *p = sig, *end = sig + len;

	if (len < 8 || sig[0] != 0x30 || sig[1] >= 0x80 ||
	    (size_t)sig[1] != len - 2)
		return -EBADMSG;
	p += 2;
	if (kpg_der_uint256(&p, end, rs) != 0 ||
	    kpg_der_uint256(&p, end, rs + KPG_P256_LEN) != 0 || p != end)
		return -EBADMSG;
	for (unsigned i = 0; i < 2; i++) {
		const uint8_t *v = rs + i * KPG_P256_LEN;

		/* Big-endian bytes of equal length compare as numbers. */
		if (kpg_is_zero(v, KPG_P256_LEN) ||
		    memcmp(v, kpg_p256_n, KPG_P256_LEN) >= 0)
			return -EBADMSG;
	}
	return 0;
}

/* s = n - s, big-endian, for 0 < s < n. */
static void kpg_p256_negate(uint8_t s[KPG_P256_LEN])
{
	unsigned borrow = 0;

	for (int i = KPG_P256_LEN - 1; i >= 0; i--) {
		unsigned d = (unsigned)kpg_p256_n[i] - s[i] - borrow;

		s[i] = (uint8_t)d;
		borrow = (d >> 8) & 1;
	}
}

int kpg_sig_canonical(const struct kpg_pubkey *k, const uint8_t *sig,
		      size_t len, uint8_t *out, size_t cap)
{
	if (k == NULL || sig == NULL || out == NULL)
		return -EINVAL;
	switch (k->alg) {
	case KPG_ALG_ECDSA_P256_SHA256:
		if (cap < KPG_ECDSA_SIG_LEN)
			return -ENOSPC;
		if (kpg_ecdsa_der_parse(sig, len, out) != 0)
			return -EBADMSG;
		/* (r, s) and (r, n - s) both verify: keep the low one. */
		if (memcmp(out + KPG_P256_LEN, kpg_p256_half_n, KPG_P256_LEN) > 0)
			kpg_p256_negate(out + KPG_P256_LEN);
		return KPG_ECDSA_SIG_LEN;
	case KPG_ALG_ED25519:
		if (len != KPG_ED25519_SIG_LEN)
			return -EBADMSG;
		if (cap < len)
			return -ENOSPC;
		memcpy(out, sig, len);
		return (int)len;
	case KPG_ALG_RSA_PSS_SHA256:
		if (len != k->rsa_len)
			return -EBADMSG;
		if (cap < len)
			return -ENOSPC;
		memcpy(out, sig, len);
		return (int)len;
	default:
		return -EINVAL;
	}
}

/* ---- verifiers ---- */

void kpg_verifier_delete(struct kpg_verifier *v)
{
	if (v == NULL)
		return;
	EVP_MD_CTX_free(v->mctx);
	EVP_MD_free(v->md);
	EVP_PKEY_CTX_free(v->pctx);
	EVP_PKEY_free(v->pkey);
	free(v);
}

/* ECDSA and RSA-PSS: the message is hashed apart, then the prepared
 * EVP_PKEY_CTX checks the signature over the digest. Everything that
 * binds the algorithm (digest, padding, MGF1, salt) is set here, once. */
static int kpg_verifier_prepare_pkey(struct kpg_verifier *v)
{
	v->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	v->mctx = EVP_MD_CTX_new();
	v->pctx = EVP_PKEY_CTX_new_from_pkey(NULL, v->pkey, NULL);
	if (v->md == NULL || v->mctx == NULL || v->pctx == NULL)
		return -ENOMEM;
	if (EVP_PKEY_verify_init(v->pctx) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(v->pctx, v->md) != 1)
		return -EINVAL;
	if (v->alg != KPG_ALG_RSA_PSS_SHA256)
		return 0;
	/* An explicit salt length: the default ("auto") would accept any. */
	if (EVP_PKEY_CTX_set_rsa_padding(v->pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(v->pctx, v->md) != 1 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(v->pctx, KPG_PSS_SALT_LEN) != 1)
		return -EINVAL;
	return 0;
}

static int kpg_verifier_prepare_ed25519_openssl(struct kpg_verifier *v)
{
	v->mctx = EVP_MD_CTX_new();
	if (v->mctx == NULL)
		return -ENOMEM;
	if (EVP_DigestVerifyInit_ex(v->mctx, NULL, NULL, NULL, NULL, v->pkey, NULL) != 1)
		return -EINVAL;
	return 0;
}

struct kpg_verifier *kpg_verifier_new(const struct kpg_pubkey *k,
				      enum kpg_backend backend)
{
	struct kpg_verifier *v;
	size_t size = (sizeof(*v) + KPG_CACHE_LINE - 1) & ~(size_t)(KPG_CACHE_LINE - 1);
	int rc;

	if (k == NULL)
		return NULL;
	switch (backend) {
	case KPG_BACKEND_DEFAULT:
		backend = k->alg == KPG_ALG_ED25519 ? KPG_BACKEND_SODIUM
						    : KPG_BACKEND_OPENSSL;
		break;
	case KPG_BACKEND_OPENSSL:
		break;
	case KPG_BACKEND_SODIUM:
		if (k->alg != KPG_ALG_ED25519)
			return NULL;
		break;
	default:
		return NULL;
	}
	/* Its own cache lines: verifiers of different lcores never share one. */
	v = aligned_alloc(KPG_CACHE_LINE, size);
	if (v == NULL)
		return NULL;
	memset(v, 0, size);
	v->alg = k->alg;
	v->backend = backend;
	v->rsa_len = k->rsa_len;
	memcpy(v->ed25519, k->ed25519, sizeof(v->ed25519));
	if (EVP_PKEY_up_ref(k->pkey) != 1) {
		free(v);
		return NULL;
	}
	v->pkey = k->pkey;
	if (k->alg == KPG_ALG_ED25519)
		rc = backend == KPG_BACKEND_SODIUM ? 0 :
			kpg_verifier_prepare_ed25519_openssl(v);
	else
		rc = kpg_verifier_prepare_pkey(v);
	if (rc != 0) {
		ERR_clear_error();
		kpg_verifier_delete(v);
		return NULL;
	}
	return v;
}

static int kpg_verify_digest_then_pkey(struct kpg_verifier *v,
				       const struct kpg_verify_op *op)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0;

	/* OpenSSL 3.0 allocates inside: one for the digest init, ~20 (RSA)
	 * to ~36 (ECDSA) inside EVP_PKEY_verify; kpg-bench-verify counts. */
	if (EVP_DigestInit_ex2(v->mctx, v->md, NULL) != 1 ||
	    EVP_DigestUpdate(v->mctx, op->msg, op->msg_len) != 1 ||
	    EVP_DigestFinal_ex(v->mctx, md, &md_len) != 1)
		return 0;
	/* One verify_init serves every call: EVP_PKEY_verify keeps no
	 * per-signature state in the context (checked by test_verify). */
	return EVP_PKEY_verify(v->pctx, op->sig, op->sig_len, md, md_len) == 1;
}

static int kpg_verify_one(struct kpg_verify_op *op)
{
	struct kpg_verifier *v = op->v;
	uint8_t rs[KPG_ECDSA_SIG_LEN];
	int ok;

	if (v == NULL || op->sig == NULL || (op->msg == NULL && op->msg_len != 0))
		return 0;
	switch (v->alg) {
	case KPG_ALG_ECDSA_P256_SHA256:
		/* OpenSSL gets the DER as received, but only strict DER: a
		 * second encoding of one signature is refused here, cheaply. */
		if (kpg_ecdsa_der_parse(op->sig, op->sig_len, rs) != 0)
			return 0;
		ok = kpg_verify_digest_then_pkey(v, op);
		break;
	case KPG_ALG_RSA_PSS_SHA256:
		if (op->sig_len != v->rsa_len)
			return 0;
		ok = kpg_verify_digest_then_pkey(v, op);
		break;
	case KPG_ALG_ED25519:
		if (op->sig_len != KPG_ED25519_SIG_LEN)
			return 0;
		if (v->backend == KPG_BACKEND_SODIUM)
			return crypto_sign_verify_detached(op->sig, op->msg,
					op->msg_len, v->ed25519) == 0;
		/* Releases after 3.0 refuse a second one-shot DigestVerify on
		 * one context (finalised flag); re-init with no key reuses
		 * the key's prepared ctx and cost ~30 ns here. */
		ok = EVP_DigestVerifyInit_ex(v->mctx, NULL, NULL, NULL, NULL,
					     NULL, NULL) == 1 &&
		     EVP_DigestVerify(v->mctx, op->sig, op->sig_len, op->msg,
				      op->msg_len) == 1;
		break;
	default:
		return 0;
	}
	/* A refused signature leaves OpenSSL errors queued on this thread;
	 * drop them so they never read as the cause of a later failure. */
	if (!ok)
		ERR_clear_error();
	return ok;
}

unsigned kpg_verify_batch(struct kpg_verify_op *ops, unsigned n)
{
	unsigned valid = 0;

	for (unsigned i = 0; i < n; i++) {
		ops[i].ok = kpg_verify_one(&ops[i]);
		valid += (unsigned)ops[i].ok;
	}
	return valid;
}
