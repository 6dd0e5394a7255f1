/* kpg_confirm.h — KP import confirmations (KPCS Section III(b)).
 *
 * For each certificate the gateway accepted, the importing checkpoint owes
 * the exporting authority a confirmation: certificate number, issuing
 * participant, parcels, carats, importer, exporter, date, checkpoint. One
 * file each, DIR/NUMBER.kpic: a SignedImportConfirmation (proto/kpgate.proto)
 * whose canonical ImportConfirmation bytes are signed by the checkpoint's
 * key exactly as authorities sign certificates (docs/protocol.md, "Import
 * confirmations"). The audit writer makes them, never a worker; checking
 * one needs only the checkpoint's public key (kpgate-authority
 * verify-confirmation). */
#ifndef KPG_CONFIRM_H
#define KPG_CONFIRM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kpgate.pb-c.h"
#include "kpg_audit.h"

#define KPG_CONFIRM_SUFFIX ".kpic"
#define KPG_CONFIRM_MAX    8192u     /* bytes of a signed confirmation */

struct kpg_confirmer;

/* Loads the checkpoint's private key (PEM) and opens (creating it) the
 * directory the confirmations go to. NULL with err set on failure. */
struct kpg_confirmer *kpg_confirmer_new(const char *dir, const char *key_path,
					const char *checkpoint, char *err,
					size_t errlen);
void kpg_confirmer_delete(struct kpg_confirmer *c);

/* The confirmation owed for an accepted request: dgram is the scan request
 * the decision rec was made on (its certificate already verified by the
 * engine). The file appears whole or not at all; one that exists for the
 * number is kept (a certificate is confirmed once). sync: fdatasync the
 * file before it is linked in (kpg_confirmer_sync_dir() then makes the
 * names durable). Returns 1 written, 0 one existed, or -errno with why. */
int kpg_confirm_request(struct kpg_confirmer *c, const struct kpg_audit_rec *rec,
			const uint8_t *dgram, uint32_t len, bool sync,
			char *why, size_t whylen);

/* fsync of the directory: the names of the files written are durable. */
int kpg_confirmer_sync_dir(struct kpg_confirmer *c);

/* NUMBER.kpic with anything but letters, digits, '-', '_' and '.' made
 * '_' (and no leading '.'), so a certificate number cannot name a path.
 * Returns the length or -ENAMETOOLONG. */
int kpg_confirm_file_name(const char *number, char *out, size_t cap);

/* Checks a SignedImportConfirmation against the checkpoint's public key
 * (SPKI DER): key id, signature over the exact bytes, canonical encoding.
 * On success *out is the decoded confirmation (free it with
 * kpgate__import_confirmation__free_unpacked(*out, NULL)); else -EBADMSG
 * (or -EKEYREJECTED for a signature that does not verify) with why. */
int kpg_confirm_verify(const uint8_t *buf, size_t len, const uint8_t *spki,
		       size_t spki_len, Kpgate__ImportConfirmation **out,
		       char *why, size_t whylen);

#endif
