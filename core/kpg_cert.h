/* kpg_cert.h — the read-only C view of a KP certificate.
 * Checks and plugins read this view, never protobuf-c structs. The strings
 * point into the decoding arena and are NUL-terminated. kpg_cert_decode()
 * takes bytes that already passed kpg_cert_scan() and whose signature was
 * verified, unpacks them with protobuf-c into the arena and checks what the
 * schema cannot say (codes, dates, counts). */
#ifndef KPG_CERT_H
#define KPG_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kpgate/plugin.h>   /* struct kpg_cert and its parts */

#include "kpg_arena.h"

/* Returns 0, or -EBADMSG with *why set to a short reason for the officer
 * (e.g. "bad issuing participant code", "expiry before issue"), or -ENOMEM
 * ("decode arena full") when the arena is too small: a sizing fault of the
 * gateway, not of the certificate. */
int kpg_cert_decode(const uint8_t *p, size_t len, struct kpg_arena *arena,
		    struct kpg_cert *out, const char **why);

/* Copies a decoded view into buf (8-byte aligned) as one block: the
 * struct first, then its arrays and strings, every pointer into buf. A
 * warm request reads the copy kept with its cache entry instead of
 * decoding again. Returns the bytes used, or -ENOSPC when it does not fit
 * (*out is then untouched). */
int kpg_cert_copy(const struct kpg_cert *src, uint8_t *buf, size_t cap,
		  const struct kpg_cert **out);

/* True for two upper-case ASCII letters (ISO 3166-1 alpha-2, or "EU"). */
bool kpg_participant_code_valid(const char *s, size_t len);

#endif
