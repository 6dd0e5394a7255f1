/* kpg_testkit.h — fixtures for the unit tests: a scratch directory, a PKI
 * made on the fly (Ed25519 trust anchors, one authority per algorithm), a
 * valid default certificate, signed certificates and request datagrams, and
 * signed trust lists, all built the way kpgate-authority and a station
 * build them. Everything returns 0 / length or a negative errno; tests
 * assert on it. */
#ifndef KPG_TESTKIT_H
#define KPG_TESTKIT_H

#include <stddef.h>
#include <stdint.h>

#include "kpgate.pb-c.h"
#include "kpg_sign.h"
#include "kpg_trust.h"
#include "kpg_trust_build.h"

#define KPG_TK_DAY        86400
#define KPG_TK_STATION    "gate-1"
#define KPG_TK_AUTHORITY  "South African Diamond and Precious Metals Regulator"

/* A fresh directory under $TMPDIR (or /tmp); malloc'd path or NULL. */
char *kpg_tk_tmpdir(void);
/* Removes dir and all it holds. */
void kpg_tk_rmtree(const char *dir);
/* dir "/" name into buf; returns buf. */
const char *kpg_tk_path(char *buf, size_t cap, const char *dir, const char *name);

struct kpg_tk_pki {
	char *dir;                               /* scratch dir, removed on delete */
	struct kpg_signer *anchor[KPG_ANCHORS_MAX];
	char anchor_pem[KPG_ANCHORS_MAX][512];   /* public PEM files in dir */
	struct kpg_anchors anchors;              /* anchor 0 only, as configured */
	struct kpg_signer *auth[4];              /* by enum kpg_alg; [0] NULL */
};

/* Two anchors, their PEM files, and a ZA authority of each algorithm. */
int kpg_tk_pki_new(struct kpg_tk_pki *p);
void kpg_tk_pki_delete(struct kpg_tk_pki *p);

/* A valid certificate the caller may alter: number ZA-2026-000001 from
 * participant ZA to an importer in EU, one HS 7102.31 line of 123.45 ct
 * worth US$16,665.75, one parcel, issued 10 days before now, expiring 90
 * days after issue. Strings point at literals; arrays into tc. */
struct kpg_tk_cert {
	Kpgate__Certificate c;
	Kpgate__Party exporter, importer;
	Kpgate__Origin origin, *origins[1];
	Kpgate__HsLine line, *lines[1];
	char *seals[1];
};
void kpg_tk_cert_default(struct kpg_tk_cert *tc, int64_t now);

/* SignedCertificate bytes of c signed by s into out; length or -errno. */
int kpg_tk_cert_sign(const struct kpg_signer *s, const Kpgate__Certificate *c,
		     uint8_t *out, size_t cap);

/* A request datagram (header + ScanRequest, station KPG_TK_STATION, no
 * measurement) carrying signed; length or -errno. */
int kpg_tk_request(uint64_t request_id, const uint8_t *signed_cert,
		   size_t len, int64_t scan_time, uint8_t *out, size_t cap);

/* The usual case in one call: the default certificate signed by the
 * authority of alg, in a request scanned at now. */
int kpg_tk_default_request(const struct kpg_tk_pki *p, enum kpg_alg alg,
			   uint64_t request_id, int64_t now, uint8_t *out,
			   size_t cap);

/* The default trust list: the three authorities of p (participant ZA,
 * valid a year either side of now, status[alg] or active when status is
 * NULL), participants ZA, EU, BW, RU members and CF restricted; issued at
 * now. Free with kpg_tlist_desc_free(). */
int kpg_tk_list_desc(const struct kpg_tk_pki *p, struct kpg_tlist_desc *d,
		     uint64_t version, int64_t now, int64_t next_update,
		     const enum kpg_key_status status[4]);
/* Signs d with anchor number `anchor` and writes the list to path. */
int kpg_tk_list_write(const struct kpg_tk_pki *p, unsigned anchor,
		      const struct kpg_tlist_desc *d, const char *path);
/* kpg_tk_list_desc() + kpg_tk_list_write() with anchor 0. */
int kpg_tk_write_list(const struct kpg_tk_pki *p, const char *path,
		      uint64_t version, int64_t now, int64_t next_update,
		      const enum kpg_key_status status[4]);

/* A snapshot of the default list (version, next_update now + 30 days),
 * parsed as the gateway does with `slots` verifiers per key; NULL on
 * failure. For engine tests that need no file. */
struct kpg_trust *kpg_tk_trust(const struct kpg_tk_pki *p, uint64_t version,
			       int64_t now, const enum kpg_key_status status[4],
			       unsigned slots);

#endif
