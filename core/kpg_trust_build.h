/* kpg_trust_build.h — the authority side of trust lists and certificates.
 * Builds a canonical TrustListBody from a plain C description, signs it with
 * an Ed25519 trust anchor into a SignedTrustList, and reads a signed list
 * back into a description (to revoke or retire a key). Issues certificates:
 * packs a Certificate and wraps it, signed, into a SignedCertificate that is
 * guaranteed to fit a scan request datagram. Shared by kpgate-authority and
 * the tests; the gateway only ever reads (kpg_trust.h). */
#ifndef KPG_TRUST_BUILD_H
#define KPG_TRUST_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kpgate.pb-c.h"
#include "kpg_limits.h"
#include "kpg_sign.h"
#include "kpg_trust.h"

#define KPG_SPKI_MAX        1024u    /* RSA-4096 SPKI is ~550 bytes */
#define KPG_AUTHORITY_MAX   KPG_STR_MAX

/* Bounds of what a scan request adds around its SignedCertificate, so the
 * authority can refuse a certificate no station could send. Each term is
 * tag + length prefix + the largest payload a station may put there. */
#define KPG_STATION_ID_MAX  64u
#define KPG_SEAL_NUMBER_MAX 64u
#define KPG_HMAC_LEN        32u
#define KPG_MEASUREMENT_MAX (1u + 5u + 1u + 10u + 2u + KPG_SEAL_NUMBER_MAX)
#define KPG_REQUEST_OVERHEAD_MAX (KPG_HDR_LEN             \
	+ 1u + 10u                        /* request_id */  \
	+ 2u + KPG_STATION_ID_MAX         /* station_id */  \
	+ 1u + 2u                         /* signed: tag, length */ \
	+ 2u + KPG_MEASUREMENT_MAX        /* measurement */ \
	+ 1u + 10u                        /* scan_time */   \
	+ 2u + KPG_HMAC_LEN)              /* hmac */
/* Largest SignedCertificate encoding a request can always carry. */
#define KPG_SIGNED_CERT_MAX (KPG_DATAGRAM_MAX - KPG_REQUEST_OVERHEAD_MAX)

struct kpg_tlist_key {
	uint8_t spki[KPG_SPKI_MAX];      /* SubjectPublicKeyInfo DER */
	size_t spki_len;
	bool key_id_set;                 /* else computed from spki (tests forge it) */
	uint8_t key_id[KPG_KEY_ID_LEN];
	enum kpg_alg alg;
	char participant[3];
	char authority[KPG_AUTHORITY_MAX];
	int64_t not_before, not_after;
	enum kpg_key_status status;
	int64_t status_since;            /* 0: not encoded */
};

struct kpg_tlist_participant {
	char code[3];
	enum kpg_participant_status status;
};

struct kpg_tlist_desc {
	uint64_t version;
	int64_t issued_at, next_update;
	unsigned n_keys;
	struct kpg_tlist_key *keys;
	unsigned n_participants;
	struct kpg_tlist_participant *participants;
};

/* Appends a key / participant to d (arrays grown with realloc); 0 or -ENOMEM.
 * The key's key_id is filled from its SPKI unless key_id_set. */
int kpg_tlist_add_key(struct kpg_tlist_desc *d, const struct kpg_tlist_key *k);
int kpg_tlist_add_participant(struct kpg_tlist_desc *d, const char *code,
			      enum kpg_participant_status st);
/* Frees the arrays of a description filled by add or read. */
void kpg_tlist_desc_free(struct kpg_tlist_desc *d);
/* Index of the key with this id, or -1. */
int kpg_tlist_find_key(const struct kpg_tlist_desc *d,
		       const uint8_t key_id[KPG_KEY_ID_LEN]);

/* Packs the body, canonical (protobuf-c writes fields in ascending order);
 * *body is malloc'd. 0 or -errno. */
int kpg_tlist_pack_body(const struct kpg_tlist_desc *d, uint8_t **body,
			size_t *len);
/* Signs body bytes as they are (tests pass forged ones) into a packed
 * SignedTrustList; *out is malloc'd. anchor must be Ed25519. */
int kpg_tlist_sign(const struct kpg_signer *anchor, const uint8_t *body,
		   size_t len, uint8_t **out, size_t *out_len);
/* pack_body + sign. */
int kpg_tlist_build(const struct kpg_tlist_desc *d,
		    const struct kpg_signer *anchor, uint8_t **out,
		    size_t *out_len);
/* Reads a packed SignedTrustList back into d (signature not checked: the
 * caller re-signs what it changes). 0 or -errno with err set. */
int kpg_tlist_read(const uint8_t *buf, size_t len, struct kpg_tlist_desc *d,
		   uint8_t anchor_key_id[KPG_KEY_ID_LEN], char *err,
		   size_t errlen);

/* The anchor set holding just this Ed25519 signer, to check a built list
 * with kpg_trust_parse() exactly as the gateway will. */
int kpg_tlist_anchor_of(const struct kpg_signer *anchor, struct kpg_anchors *a,
			char *err, size_t errlen);

/* Packs c, signs the bytes with s and packs the SignedCertificate into
 * *out (malloc'd). -EMSGSIZE (err says by how much) when a request carrying
 * it could exceed KPG_DATAGRAM_MAX. */
int kpg_signed_cert_issue(const struct kpg_signer *s,
			  const Kpgate__Certificate *c, uint8_t **out,
			  size_t *out_len, char *err, size_t errlen);

/* Whole-file helpers for the tools and tests. read: *buf malloc'd, at most
 * max bytes (-EFBIG beyond). write: temp file, fsync, rename, fsync dir, so
 * a reader never sees half a file. */
int kpg_file_read(const char *path, size_t max, uint8_t **buf, size_t *len);
int kpg_file_write(const char *path, const void *buf, size_t len, mode_t mode);

#endif
