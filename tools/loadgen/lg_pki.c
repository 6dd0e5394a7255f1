/* lg_pki.c — the generator's authorities and certificate files; see
 * lg_pki.h. A certificate file is "KPLGCRT1", a little-endian u32 count,
 * then per certificate a u16 length and the SignedCertificate bytes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kpg_date.h"
#include "kpg_sign.h"
#include "kpg_trust_build.h"
#include "kpgate.pb-c.h"
#include "lg_err.h"
#include "lg_pki.h"

#define LG_DAY 86400
#define LG_CERT_MAGIC "KPLGCRT1"
#define LG_CERTS_FILE_MAX (256u << 20)

static const struct {
	const char *participant;
	const char *authority;
} issuers[LG_ALGS] = {
	[KPG_ALG_ECDSA_P256_SHA256] = { "ZA", "South African Diamond and Precious Metals Regulator" },
	[KPG_ALG_ED25519] = { "BW", "Botswana Ministry of Minerals and Energy" },
	[KPG_ALG_RSA_PSS_SHA256] = { "CA", "Natural Resources Canada" },
};

const char *lg_pki_participant(enum kpg_alg alg)
{
	return (unsigned)alg < LG_ALGS && issuers[alg].participant ?
	       issuers[alg].participant : "??";
}

static void path_of(char *buf, size_t cap, const char *dir, const char *name)
{
	snprintf(buf, cap, "%s/%s", dir, name);
}

/* One certificate of `participant`, numbered i; distinct numbers make
 * distinct signed bytes, hence distinct cache entries at the gateway. */
static int issue_one(const struct kpg_signer *s, const char *participant,
		     const char *authority, unsigned i, int64_t now,
		     uint8_t **out, size_t *len, char *err, size_t errlen)
{
	Kpgate__Certificate c = KPGATE__CERTIFICATE__INIT;
	Kpgate__Party exporter = KPGATE__PARTY__INIT, importer = KPGATE__PARTY__INIT;
	Kpgate__Origin origin = KPGATE__ORIGIN__INIT, *origins[1] = { &origin };
	Kpgate__HsLine line = KPGATE__HS_LINE__INIT, *lines[1] = { &line };
	int64_t issued = now - 10 * LG_DAY;
	char number[32];

	snprintf(number, sizeof(number), "%s-2026-%07u", participant, i);
	exporter.name = (char *)"Kimberley Rough Exports (Pty) Ltd";
	exporter.address = (char *)"1 Mine Road, Kimberley";
	exporter.identifier = (char *)"EXP-4471";
	importer.name = (char *)"Antwerp Diamond Trading NV";
	importer.address = (char *)"Hoveniersstraat 2, Antwerpen";
	importer.identifier = (char *)"BE0412345678";
	origin.country = (char *)participant;
	line.hs_code = KPGATE__HS_CODE__HS_7102_31;
	line.carats_centi = 12345;             /* 123.45 ct */
	line.value_usd_cents = 1666575;
	c.number = number;
	c.issuing_participant = (char *)participant;
	c.issuing_authority = (char *)authority;
	c.exporter = &exporter;
	c.importer = &importer;
	c.importing_participant = (char *)"EU";
	c.mixed_origin = 0;
	c.n_origins = 1;
	c.origins = origins;
	c.n_lines = 1;
	c.lines = lines;
	c.parcels = 1;
	c.issue_date = kpg_date_from_unix(issued);
	c.expiry_date = kpg_date_from_unix(issued + 90 * LG_DAY);
	return kpg_signed_cert_issue(s, &c, out, len, err, errlen);
}

static int write_certs(const char *path, const struct kpg_signer *s,
		       const char *participant, const char *authority,
		       unsigned n, unsigned first, int64_t now, char *err,
		       size_t errlen)
{
	uint8_t *file = NULL, *sc;
	size_t used = 12, cap = 12 + (size_t)n * 1024u, len;
	int rc;

	file = malloc(cap);
	if (file == NULL)
		return lg_err(err, errlen, -ENOMEM, "out of memory for %u certificates", n);
	memcpy(file, LG_CERT_MAGIC, 8);
	for (unsigned k = 0; k < 4; k++)
		file[8 + k] = (uint8_t)(n >> (8 * k));
	for (unsigned i = 0; i < n; i++) {
		rc = issue_one(s, participant, authority, first + i, now, &sc, &len,
			       err, errlen);
		if (rc < 0)
			goto out;
		if (len > UINT16_MAX || used + 2 + len > cap) {
			free(sc);
			rc = lg_err(err, errlen, -EMSGSIZE, "certificate %u: %zu bytes", i, len);
			goto out;
		}
		file[used] = (uint8_t)len;
		file[used + 1] = (uint8_t)(len >> 8);
		memcpy(file + used + 2, sc, len);
		used += 2 + len;
		free(sc);
	}
	rc = kpg_file_write(path, file, used, 0644);
	if (rc < 0)
		lg_err(err, errlen, rc, "%s: %s", path, strerror(-rc));
out:
	free(file);
	return rc;
}

static int add_key(struct kpg_tlist_desc *d, const struct kpg_signer *s,
		   enum kpg_alg alg, int64_t now)
{
	struct kpg_tlist_key k = {
		.alg = alg,
		.not_before = now - 365 * LG_DAY,
		.not_after = now + 365 * LG_DAY,
		.status = KPG_KEY_ACTIVE,
	};
	int n = kpg_signer_spki(s, k.spki, sizeof(k.spki));

	if (n < 0)
		return n;
	k.spki_len = (size_t)n;
	memcpy(k.participant, issuers[alg].participant, 3);
	snprintf(k.authority, sizeof(k.authority), "%s", issuers[alg].authority);
	return kpg_tlist_add_key(d, &k);
}

int lg_pki_make(const char *dir, const struct lg_pki_spec *spec, char *err,
		size_t errlen)
{
	static const char *const parts[] = { "ZA", "BW", "CA", "EU", "RU" };
	struct kpg_signer *anchor = NULL, *auth[LG_ALGS] = { NULL }, *rogue = NULL;
	struct kpg_tlist_desc d = { 0 };
	char key[4096], pub[4096], file[4096];
	uint8_t *list = NULL;
	size_t list_len;
	int rc = -EIO;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return lg_err(err, errlen, -errno, "%s: %s", dir, strerror(errno));
	anchor = kpg_signer_generate(KPG_ALG_ED25519, 0);
	rogue = kpg_signer_generate(KPG_ALG_ED25519, 0);
	if (anchor == NULL || rogue == NULL) {
		lg_err(err, errlen, -EIO, "cannot generate keys");
		goto out;
	}
	path_of(key, sizeof(key), dir, "anchor.key");
	path_of(pub, sizeof(pub), dir, "anchor.pub");
	if (kpg_signer_save(anchor, key, pub) < 0) {
		lg_err(err, errlen, -EIO, "%s: cannot write", key);
		goto out;
	}
	d.version = 1;
	d.issued_at = spec->now;
	d.next_update = spec->now + 30 * LG_DAY;
	for (unsigned a = KPG_ALG_ECDSA_P256_SHA256; a < LG_ALGS; a++) {
		char name[64];

		auth[a] = kpg_signer_generate((enum kpg_alg)a, 0);
		if (auth[a] == NULL) {
			lg_err(err, errlen, -EIO, "cannot generate a %s key",
			     kpg_alg_name((enum kpg_alg)a));
			goto out;
		}
		snprintf(name, sizeof(name), "%s.key", kpg_alg_name((enum kpg_alg)a));
		path_of(key, sizeof(key), dir, name);
		snprintf(name, sizeof(name), "%s.pub", kpg_alg_name((enum kpg_alg)a));
		path_of(pub, sizeof(pub), dir, name);
		if (kpg_signer_save(auth[a], key, pub) < 0 ||
		    add_key(&d, auth[a], (enum kpg_alg)a, spec->now) < 0) {
			lg_err(err, errlen, -EIO, "%s: cannot write or list", key);
			goto out;
		}
	}
	for (unsigned i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (kpg_tlist_add_participant(&d, parts[i], KPG_PARTICIPANT_MEMBER) < 0) {
			lg_err(err, errlen, -ENOMEM, "out of memory");
			goto out;
		}
	rc = kpg_tlist_build(&d, anchor, &list, &list_len);
	if (rc < 0) {
		lg_err(err, errlen, rc, "cannot build the trust list: %s", strerror(-rc));
		goto out;
	}
	path_of(file, sizeof(file), dir, "trust.kptl");
	rc = kpg_file_write(file, list, list_len, 0644);
	if (rc < 0) {
		lg_err(err, errlen, rc, "%s: %s", file, strerror(-rc));
		goto out;
	}
	for (unsigned a = KPG_ALG_ECDSA_P256_SHA256; a < LG_ALGS; a++) {
		char name[64];

		if (spec->progress)
			fprintf(stderr, "kpgate-loadgen: signing %u %s certificates\n",
				spec->certs, kpg_alg_name((enum kpg_alg)a));
		snprintf(name, sizeof(name), "certs-%s.bin", kpg_alg_name((enum kpg_alg)a));
		path_of(file, sizeof(file), dir, name);
		rc = write_certs(file, auth[a], issuers[a].participant,
				 issuers[a].authority, spec->certs, 1, spec->now,
				 err, errlen);
		if (rc < 0)
			goto out;
	}
	/* The rogue claims to be ZA's authority; its key is in no list. */
	path_of(file, sizeof(file), dir, "certs-rogue.bin");
	rc = write_certs(file, rogue, "ZA", issuers[KPG_ALG_ECDSA_P256_SHA256].authority,
			 spec->rogue_certs, 9000000, spec->now, err, errlen);
out:
	free(list);
	kpg_tlist_desc_free(&d);
	for (unsigned a = 0; a < LG_ALGS; a++)
		if (auth[a] != NULL)
			kpg_signer_delete(auth[a]);
	if (anchor != NULL)
		kpg_signer_delete(anchor);
	if (rogue != NULL)
		kpg_signer_delete(rogue);
	return rc;
}

static int load_certs(struct lg_certs *c, const char *path, char *err,
		      size_t errlen)
{
	size_t len, pos = 12;
	uint8_t *buf;
	unsigned n;
	int rc;

	memset(c, 0, sizeof(*c));
	rc = kpg_file_read(path, LG_CERTS_FILE_MAX, &buf, &len);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return lg_err(err, errlen, rc, "%s: %s", path, strerror(-rc));
	if (len < 12 || memcmp(buf, LG_CERT_MAGIC, 8) != 0) {
		free(buf);
		return lg_err(err, errlen, -EBADMSG, "%s: not a certificate file", path);
	}
	n = (unsigned)buf[8] | (unsigned)buf[9] << 8 | (unsigned)buf[10] << 16 |
	    (unsigned)buf[11] << 24;
	c->cert = calloc(n ? n : 1, sizeof(*c->cert));
	c->len = calloc(n ? n : 1, sizeof(*c->len));
	c->buf = buf;
	if (c->cert == NULL || c->len == NULL)
		return lg_err(err, errlen, -ENOMEM, "out of memory");
	for (unsigned i = 0; i < n; i++) {
		uint16_t l;

		if (pos + 2 > len)
			goto trunc;
		l = (uint16_t)(buf[pos] | buf[pos + 1] << 8);
		if (pos + 2 + l > len)
			goto trunc;
		c->cert[i] = buf + pos + 2;
		c->len[i] = l;
		pos += 2u + l;
		c->n++;
	}
	return 0;
trunc:
	return lg_err(err, errlen, -EBADMSG, "%s: truncated after %u certificates",
		    path, c->n);
}

static void certs_free(struct lg_certs *c)
{
	free(c->cert);
	free(c->len);
	free(c->buf);
	memset(c, 0, sizeof(*c));
}

int lg_pki_load(struct lg_pki *p, const char *dir, char *err, size_t errlen)
{
	char file[4096], name[64];
	int rc;

	memset(p, 0, sizeof(*p));
	for (unsigned a = KPG_ALG_ECDSA_P256_SHA256; a < LG_ALGS; a++) {
		snprintf(name, sizeof(name), "certs-%s.bin", kpg_alg_name((enum kpg_alg)a));
		path_of(file, sizeof(file), dir, name);
		rc = load_certs(&p->alg[a], file, err, errlen);
		if (rc < 0)
			goto fail;
	}
	path_of(file, sizeof(file), dir, "certs-rogue.bin");
	rc = load_certs(&p->rogue, file, err, errlen);
	if (rc < 0)
		goto fail;
	return 0;
fail:
	lg_pki_free(p);
	return rc;
}

void lg_pki_free(struct lg_pki *p)
{
	for (unsigned a = 0; a < LG_ALGS; a++)
		certs_free(&p->alg[a]);
	certs_free(&p->rogue);
}
