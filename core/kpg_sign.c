/* kpg_sign.c — the authority side: keys, PEM files and signatures made
 * exactly as kpg_verify.c checks them. Off the data path: allocation and
 * file I/O are fine here. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "kpg_err.h"
#include "kpg_sign.h"

#define KPG_RSA_BITS_MIN 2048u
#define KPG_RSA_BITS_MAX (KPG_SIG_MAX * 8u)  /* a signature must fit KPG_SIG_MAX */
#define KPG_PSS_SALT_LEN 32

struct kpg_signer {
	enum kpg_alg alg;
	EVP_PKEY *pkey;
};

/* The algorithm a private key signs with, or NONE with the reason why not:
 * only the key shapes the gateway accepts are worth signing with. */
static enum kpg_alg kpg_signer_alg_of(EVP_PKEY *pkey, const char **why)
{
	if (EVP_PKEY_is_a(pkey, "ED25519"))
		return KPG_ALG_ED25519;
	if (EVP_PKEY_is_a(pkey, "EC")) {
		char group[64];
		size_t glen = 0;

		if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
						   group, sizeof(group), &glen) != 1 ||
		    strcmp(group, "prime256v1") != 0) {
			*why = "EC key is not P-256";
			return KPG_ALG_NONE;
		}
		return KPG_ALG_ECDSA_P256_SHA256;
	}
	if (EVP_PKEY_is_a(pkey, "RSA")) {
		int bits = EVP_PKEY_get_bits(pkey);

		if (bits < (int)KPG_RSA_BITS_MIN) {
			*why = "RSA key below 2048 bits";
			return KPG_ALG_NONE;
		}
		if (bits > (int)KPG_RSA_BITS_MAX) {
			*why = "RSA key above 4096 bits";
			return KPG_ALG_NONE;
		}
		return KPG_ALG_RSA_PSS_SHA256;
	}
	*why = "key type is not P-256, Ed25519 or RSA";
	return KPG_ALG_NONE;
}

static struct kpg_signer *kpg_signer_wrap(EVP_PKEY *pkey, enum kpg_alg alg)
{
	struct kpg_signer *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		EVP_PKEY_free(pkey);
		return NULL;
	}
	s->alg = alg;
	s->pkey = pkey;
	return s;
}

struct kpg_signer *kpg_signer_generate(enum kpg_alg alg, unsigned rsa_bits)
{
	EVP_PKEY *pkey = NULL;

	switch (alg) {
	case KPG_ALG_ECDSA_P256_SHA256:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case KPG_ALG_ED25519:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	case KPG_ALG_RSA_PSS_SHA256:
		/* Below the floor means the default, never a weak key. */
		if (rsa_bits < KPG_RSA_BITS_MIN)
			rsa_bits = KPG_RSA_BITS_MIN;
		if (rsa_bits > KPG_RSA_BITS_MAX)
			return NULL;
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)rsa_bits);
		break;
	default:
		return NULL;
	}
	if (pkey == NULL)
		return NULL;
	return kpg_signer_wrap(pkey, alg);
}

/* Never prompt on a terminal for a passphrase: encrypted keys are refused. */
static int kpg_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

struct kpg_signer *kpg_signer_load(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *pkey;
	const char *why = NULL;
	enum kpg_alg alg;

	if (f == NULL) {
		kpg_errf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	pkey = PEM_read_PrivateKey(f, NULL, kpg_no_passphrase, NULL);
	fclose(f);
	if (pkey == NULL) {
		kpg_errf(err, errlen, "%s: not an unencrypted PEM private key", path);
		return NULL;
	}
	alg = kpg_signer_alg_of(pkey, &why);
	if (alg == KPG_ALG_NONE) {
		kpg_errf(err, errlen, "%s: %s", path, why);
		EVP_PKEY_free(pkey);
		return NULL;
	}
	return kpg_signer_wrap(pkey, alg);
}

/* Opens path for writing with the given mode, also when it already exists
 * with a looser one. */
static FILE *kpg_open_mode(const char *path, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	FILE *f;

	if (fd < 0)
		return NULL;
	if (fchmod(fd, mode) != 0) {
		close(fd);
		return NULL;
	}
	f = fdopen(fd, "w");
	if (f == NULL)
		close(fd);
	return f;
}

static int kpg_close_checked(FILE *f, int ok)
{
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		ok = 0;
	if (fclose(f) != 0)
		ok = 0;
	return ok;
}

int kpg_signer_save(const struct kpg_signer *s, const char *path, const char *pub_path)
{
	FILE *f;
	int ok;

	if (s == NULL || path == NULL)
		return -EINVAL;
	f = kpg_open_mode(path, 0600);
	if (f == NULL)
		return -errno;
	ok = PEM_write_PKCS8PrivateKey(f, s->pkey, NULL, NULL, 0, NULL, NULL) == 1;
	if (!kpg_close_checked(f, ok))
		return -EIO;
	if (pub_path == NULL)
		return 0;
	f = kpg_open_mode(pub_path, 0644);
	if (f == NULL)
		return -errno;
	ok = PEM_write_PUBKEY(f, s->pkey) == 1;
	if (!kpg_close_checked(f, ok))
		return -EIO;
	return 0;
}

void kpg_signer_delete(struct kpg_signer *s)
{
	if (s == NULL)
		return;
	EVP_PKEY_free(s->pkey);
	free(s);
}

enum kpg_alg kpg_signer_alg(const struct kpg_signer *s)
{
	return s ? s->alg : KPG_ALG_NONE;
}

int kpg_signer_spki(const struct kpg_signer *s, uint8_t *out, size_t cap)
{
	int len = i2d_PUBKEY(s->pkey, NULL);
	uint8_t *p = out;

	if (len <= 0)
		return -EINVAL;
	if ((size_t)len > cap)
		return -ENOSPC;
	if (i2d_PUBKEY(s->pkey, &p) != len)
		return -EINVAL;
	return len;
}

void kpg_signer_key_id(const struct kpg_signer *s, uint8_t out[KPG_KEY_ID_LEN])
{
	uint8_t *der = NULL;
	int len = i2d_PUBKEY(s->pkey, &der);

	if (len <= 0) {
		memset(out, 0, KPG_KEY_ID_LEN);
		return;
	}
	kpg_key_id(der, (size_t)len, out);
	OPENSSL_free(der);
}

int kpg_signer_sign(const struct kpg_signer *s, const uint8_t *msg, size_t len,
		    uint8_t *sig, size_t *sig_len)
{
	EVP_MD_CTX *mctx;
	EVP_PKEY_CTX *pctx = NULL;
	const char *md;
	size_t need = 0;
	int rc = -EINVAL;

	if (s == NULL || sig == NULL || sig_len == NULL)
		return -EINVAL;
	/* Pure Ed25519 hashes inside the algorithm: no digest is named. */
	md = s->alg == KPG_ALG_ED25519 ? NULL : "SHA256";
	mctx = EVP_MD_CTX_new();
	if (mctx == NULL)
		return -ENOMEM;
	if (EVP_DigestSignInit_ex(mctx, &pctx, md, NULL, NULL, s->pkey, NULL) != 1)
		goto out;
	if (s->alg == KPG_ALG_RSA_PSS_SHA256 &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, "SHA256", NULL) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, KPG_PSS_SALT_LEN) != 1))
		goto out;
	if (EVP_DigestSign(mctx, NULL, &need, msg, len) != 1)
		goto out;
	if (need > *sig_len) {
		rc = -ENOSPC;
		goto out;
	}
	need = *sig_len;
	if (EVP_DigestSign(mctx, sig, &need, msg, len) != 1)
		goto out;
	*sig_len = need;
	rc = 0;
out:
	EVP_MD_CTX_free(mctx);
	return rc;
}

int kpg_spki_read_pem(const char *path, uint8_t *out, size_t cap)
{
	FILE *f = fopen(path, "r");
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	const unsigned char *p;
	long dlen = 0;
	EVP_PKEY *pkey;
	int rc;

	if (f == NULL)
		return -errno;
	rc = PEM_read(f, &name, &header, &data, &dlen);
	fclose(f);
	if (rc != 1)
		return -EBADMSG;
	/* The key id hashes the DER as written, so it is returned as read, not
	 * re-encoded; parsing it only proves it is one whole SPKI. */
	rc = -EBADMSG;
	if (strcmp(name, PEM_STRING_PUBLIC) != 0 || header[0] != '\0' || dlen <= 0)
		goto out;
	p = data;
	pkey = d2i_PUBKEY(NULL, &p, dlen);
	if (pkey == NULL)
		goto out;
	EVP_PKEY_free(pkey);
	if (p != data + dlen)
		goto out;
	if ((size_t)dlen > cap) {
		rc = -ENOSPC;
		goto out;
	}
	memcpy(out, data, (size_t)dlen);
	rc = (int)dlen;
out:
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	return rc;
}
