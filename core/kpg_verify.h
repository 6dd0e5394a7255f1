/* kpg_verify.h — authority public keys and signature verification.
 * The algorithm, hash, MGF and salt length are bound to the key when it is
 * loaded from the trust list, never read from a request. Keys are checked
 * at load (RSA >= 2048 bits, P-256 point on the curve, Ed25519 point
 * canonical and not of small order). A verifier is one key's prepared
 * contexts for one lcore, built when the trust list loads; verification
 * goes through one batch call so a batch verifier or a crypto device can
 * stand behind it later. */
#ifndef KPG_VERIFY_H
#define KPG_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "kpg_limits.h"

enum kpg_alg {
	KPG_ALG_NONE = 0,
	KPG_ALG_ECDSA_P256_SHA256 = 1,   /* strict DER signature */
	KPG_ALG_ED25519 = 2,             /* pure Ed25519 */
	KPG_ALG_RSA_PSS_SHA256 = 3,      /* MGF1-SHA-256, salt 32 */
};

/* Which library verifies. DEFAULT is the fastest one measured that is at
 * least as strict: libsodium for Ed25519, OpenSSL for P-256 and RSA-PSS. */
enum kpg_backend {
	KPG_BACKEND_DEFAULT = 0,
	KPG_BACKEND_OPENSSL,
	KPG_BACKEND_SODIUM,              /* Ed25519 only */
};

const char *kpg_alg_name(enum kpg_alg alg);       /* "ecdsa-p256", "ed25519", "rsa-pss" */
enum kpg_alg kpg_alg_from_name(const char *name); /* KPG_ALG_NONE if unknown */

/* key id = first 16 bytes of SHA-256 over the SubjectPublicKeyInfo DER. */
void kpg_key_id(const uint8_t *spki, size_t len, uint8_t out[KPG_KEY_ID_LEN]);

struct kpg_pubkey;

/* Parses and checks an SPKI DER key of the given algorithm. On refusal
 * returns NULL and sets *why ("RSA key below 2048 bits", "Ed25519 key of
 * small order", "key is not P-256", ...). */
struct kpg_pubkey *kpg_pubkey_new(enum kpg_alg alg, const uint8_t *spki,
				  size_t len, const char **why);
void kpg_pubkey_delete(struct kpg_pubkey *k);
enum kpg_alg kpg_pubkey_alg(const struct kpg_pubkey *k);

/* Canonical form of a signature, used to key the verified-result cache:
 * ECDSA strict DER -> r || s (64 bytes) with s replaced by n - s when high,
 * so both twins of one signature read the same; Ed25519 the 64 bytes as
 * they are; RSA-PSS the modulus-length bytes as they are. Returns the
 * length written, or -EBADMSG when the encoding is not strictly valid
 * (no crypto is spent on it then). cap must be >= KPG_SIG_MAX. */
int kpg_sig_canonical(const struct kpg_pubkey *k, const uint8_t *sig,
		      size_t len, uint8_t *out, size_t cap);

struct kpg_verifier;

struct kpg_verifier *kpg_verifier_new(const struct kpg_pubkey *k,
				      enum kpg_backend backend);
void kpg_verifier_delete(struct kpg_verifier *v);

struct kpg_verify_op {
	struct kpg_verifier *v;
	const uint8_t *msg;
	size_t msg_len;
	const uint8_t *sig;
	size_t sig_len;
	int ok;                          /* out: 1 valid, 0 not */
};

/* Verifies n operations; each op's verifier must belong to the calling
 * lcore. Returns the number of valid signatures. */
unsigned kpg_verify_batch(struct kpg_verify_op *ops, unsigned n);

#endif
