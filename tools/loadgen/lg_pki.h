/* lg_pki.h — the generator's own authorities. lg_pki_make() writes, in a
 * directory, an Ed25519 trust anchor, one authority per algorithm (ZA
 * ECDSA P-256, BW Ed25519, CA RSA-PSS), a signed trust list naming them,
 * a rogue authority the list does not name, and files of certificates
 * each of them signed. Signing is slow (RSA) and happens once; a run only
 * loads the files, so no crypto runs while sending. */
#ifndef LG_PKI_H
#define LG_PKI_H

#include <stddef.h>
#include <stdint.h>

#include "kpg_verify.h"

#define LG_ALGS 4u                   /* indexed by enum kpg_alg; [0] unused */

/* Signed certificates (SignedCertificate bytes) of one authority. */
struct lg_certs {
	unsigned n;
	const uint8_t **cert;
	uint16_t *len;
	uint8_t *buf;                    /* the file, which cert[] points into */
};

struct lg_pki {
	struct lg_certs alg[LG_ALGS];    /* trusted authorities */
	struct lg_certs rogue;           /* signed by a key the list lacks */
};

struct lg_pki_spec {
	unsigned certs;                  /* per trusted authority */
	unsigned rogue_certs;
	int64_t now;                     /* dates are relative to it */
	unsigned progress;               /* 1: a line per authority on stderr */
};

/* Writes anchor.pub, trust.kptl, the authority keys and certs-*.bin into
 * dir (created if missing). 0, or -errno with err set. */
int lg_pki_make(const char *dir, const struct lg_pki_spec *spec, char *err,
		size_t errlen);

/* Loads the certificate files of dir; a missing algorithm has n == 0.
 * 0, or -errno with err set. */
int lg_pki_load(struct lg_pki *p, const char *dir, char *err, size_t errlen);
void lg_pki_free(struct lg_pki *p);

/* "ZA", "BW", "CA" for the trusted authorities of each algorithm. */
const char *lg_pki_participant(enum kpg_alg alg);

#endif
