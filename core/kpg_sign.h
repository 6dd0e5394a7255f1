/* kpg_sign.h — the authority side: key generation, PEM key files and
 * signing exactly as kpg_verify.h verifies (ECDSA P-256/SHA-256 DER,
 * pure Ed25519, RSA-PSS SHA-256 / MGF1-SHA-256 / salt 32). Used by
 * kpgate-authority and the tests, never on the gateway's data path. */
#ifndef KPG_SIGN_H
#define KPG_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "kpg_verify.h"

struct kpg_signer;

/* New key pair; RSA keys are 2048 bits unless rsa_bits says more. */
struct kpg_signer *kpg_signer_generate(enum kpg_alg alg, unsigned rsa_bits);
/* Reads a PEM private key (PKCS#8); the algorithm is found from the key. */
struct kpg_signer *kpg_signer_load(const char *path, char *err, size_t errlen);
/* Writes the private key (mode 0600) and, if pub_path, the PEM SPKI. */
int kpg_signer_save(const struct kpg_signer *s, const char *path, const char *pub_path);
void kpg_signer_delete(struct kpg_signer *s);

enum kpg_alg kpg_signer_alg(const struct kpg_signer *s);
/* SubjectPublicKeyInfo DER into out (cap bytes); returns its length or -ENOSPC. */
int kpg_signer_spki(const struct kpg_signer *s, uint8_t *out, size_t cap);
void kpg_signer_key_id(const struct kpg_signer *s, uint8_t out[KPG_KEY_ID_LEN]);

/* Signs msg; *sig_len holds the capacity in, the length out. 0 or -errno. */
int kpg_signer_sign(const struct kpg_signer *s, const uint8_t *msg, size_t len,
		    uint8_t *sig, size_t *sig_len);

/* Reads a PEM SubjectPublicKeyInfo file into DER; returns length or -errno. */
int kpg_spki_read_pem(const char *path, uint8_t *out, size_t cap);

#endif
