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

#include "kpg_arena.h"

struct kpg_str {
	const char *p;               /* NUL-terminated; "" when absent */
	uint32_t len;
};

struct kpg_party {
	struct kpg_str name, address, identifier;
};

struct kpg_origin {
	char country[3];             /* ISO 3166-1 alpha-2 */
	struct kpg_str zone;
};

enum kpg_hs_code {
	KPG_HS_7102_10 = 710210,
	KPG_HS_7102_21 = 710221,
	KPG_HS_7102_31 = 710231,
};

struct kpg_hs_line {
	enum kpg_hs_code hs_code;
	uint64_t carats_centi;
	uint64_t value_usd_cents;
};

struct kpg_cert {
	struct kpg_str number;
	char issuing_participant[3];
	struct kpg_str issuing_authority;
	struct kpg_party exporter, importer;
	char importing_participant[3];
	bool mixed_origin;
	uint32_t n_origins;
	const struct kpg_origin *origins;
	uint32_t n_lines;
	const struct kpg_hs_line *lines;
	uint32_t parcels;
	uint32_t issue_date;         /* YYYYMMDD */
	uint32_t expiry_date;        /* YYYYMMDD, inclusive */
	uint32_t n_seals;
	const struct kpg_str *seals;
	struct kpg_str traceability_ref;
	uint64_t total_carats_centi; /* sum over lines */
	uint64_t total_value_usd_cents;
};

/* Returns 0, or -EBADMSG with *why set to a short reason for the officer
 * (e.g. "bad issuing participant code", "expiry before issue"), or -ENOMEM
 * ("decode arena full") when the arena is too small: a sizing fault of the
 * gateway, not of the certificate. */
int kpg_cert_decode(const uint8_t *p, size_t len, struct kpg_arena *arena,
		    struct kpg_cert *out, const char **why);

/* True for two upper-case ASCII letters (ISO 3166-1 alpha-2, or "EU"). */
bool kpg_participant_code_valid(const char *s, size_t len);

#endif
