/* kpg_testkit.c — test fixtures; see kpg_testkit.h. */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kpg_date.h"
#include "kpg_request_build.h"
#include "kpg_testkit.h"

char *kpg_tk_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *dir = NULL;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	if (asprintf(&dir, "%s/kpgtest.XXXXXX", base) < 0)
		return NULL;
	if (mkdtemp(dir) == NULL) {
		free(dir);
		return NULL;
	}
	return dir;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	remove(path);
	return 0;
}

void kpg_tk_rmtree(const char *dir)
{
	if (dir != NULL)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *kpg_tk_path(char *buf, size_t cap, const char *dir, const char *name)
{
	snprintf(buf, cap, "%s/%s", dir, name);
	return buf;
}

int kpg_tk_pki_new(struct kpg_tk_pki *p)
{
	char err[256], name[32];

	memset(p, 0, sizeof(*p));
	p->dir = kpg_tk_tmpdir();
	if (p->dir == NULL)
		goto fail;
	for (unsigned i = 0; i < KPG_ANCHORS_MAX; i++) {
		char key[512];

		p->anchor[i] = kpg_signer_generate(KPG_ALG_ED25519, 0);
		if (p->anchor[i] == NULL)
			goto fail;
		snprintf(name, sizeof(name), "anchor%u.key", i);
		kpg_tk_path(key, sizeof(key), p->dir, name);
		snprintf(name, sizeof(name), "anchor%u.pub", i);
		kpg_tk_path(p->anchor_pem[i], sizeof(p->anchor_pem[i]), p->dir, name);
		if (kpg_signer_save(p->anchor[i], key, p->anchor_pem[i]) < 0)
			goto fail;
	}
	if (kpg_anchors_add_file(&p->anchors, p->anchor_pem[0], err, sizeof(err)) < 0) {
		fprintf(stderr, "testkit: %s\n", err);
		goto fail;
	}
	for (int a = KPG_ALG_ECDSA_P256_SHA256; a <= KPG_ALG_RSA_PSS_SHA256; a++) {
		p->auth[a] = kpg_signer_generate((enum kpg_alg)a, 0);
		if (p->auth[a] == NULL)
			goto fail;
	}
	return 0;
fail:
	kpg_tk_pki_delete(p);
	return -EIO;
}

void kpg_tk_pki_delete(struct kpg_tk_pki *p)
{
	for (unsigned i = 0; i < KPG_ANCHORS_MAX; i++)
		if (p->anchor[i] != NULL)
			kpg_signer_delete(p->anchor[i]);
	for (unsigned a = 0; a < 4; a++)
		if (p->auth[a] != NULL)
			kpg_signer_delete(p->auth[a]);
	kpg_tk_rmtree(p->dir);
	free(p->dir);
	memset(p, 0, sizeof(*p));
}

void kpg_tk_cert_default(struct kpg_tk_cert *tc, int64_t now)
{
	int64_t issued = now - 10 * KPG_TK_DAY;

	memset(tc, 0, sizeof(*tc));
	kpgate__certificate__init(&tc->c);
	kpgate__party__init(&tc->exporter);
	kpgate__party__init(&tc->importer);
	kpgate__origin__init(&tc->origin);
	kpgate__hs_line__init(&tc->line);

	tc->exporter.name = (char *)"Kimberley Rough Exports (Pty) Ltd";
	tc->exporter.address = (char *)"1 Diamond Road, Kimberley 8301";
	tc->exporter.identifier = (char *)"ZA-EXP-0042";
	tc->importer.name = (char *)"Antwerp Rough Trading NV";
	tc->importer.address = (char *)"Hoveniersstraat 2, 2018 Antwerpen";
	tc->importer.identifier = (char *)"BE-IMP-0815";
	tc->origin.country = (char *)"ZA";
	tc->origins[0] = &tc->origin;
	tc->line.hs_code = KPGATE__HS_CODE__HS_7102_31;
	tc->line.carats_centi = 12345;             /* 123.45 ct */
	tc->line.value_usd_cents = 1666575;        /* ~US$135/ct */
	tc->lines[0] = &tc->line;
	tc->seals[0] = (char *)"SEAL-ZA-000001";

	tc->c.number = (char *)"ZA-2026-000001";
	tc->c.issuing_participant = (char *)"ZA";
	tc->c.issuing_authority = (char *)KPG_TK_AUTHORITY;
	tc->c.exporter = &tc->exporter;
	tc->c.importer = &tc->importer;
	tc->c.importing_participant = (char *)"EU";
	tc->c.mixed_origin = 0;
	tc->c.n_origins = 1;
	tc->c.origins = tc->origins;
	tc->c.n_lines = 1;
	tc->c.lines = tc->lines;
	tc->c.parcels = 1;
	tc->c.issue_date = kpg_date_from_unix(issued);
	tc->c.expiry_date = kpg_date_from_unix(issued + 90 * KPG_TK_DAY);
	tc->c.n_container_seals = 1;
	tc->c.container_seals = tc->seals;
}

int kpg_tk_cert_sign(const struct kpg_signer *s, const Kpgate__Certificate *c,
		     uint8_t *out, size_t cap)
{
	char err[256];
	uint8_t *sc;
	size_t len;
	int rc = kpg_signed_cert_issue(s, c, &sc, &len, err, sizeof(err));

	if (rc < 0)
		return rc;
	if (len > cap) {
		free(sc);
		return -EMSGSIZE;
	}
	memcpy(out, sc, len);
	free(sc);
	return (int)len;
}

int kpg_tk_request(uint64_t request_id, const uint8_t *signed_cert,
		   size_t len, int64_t scan_time, uint8_t *out, size_t cap)
{
	struct kpg_scan s = {
		.request_id = request_id,
		.station_id = KPG_TK_STATION,
		.scan_time = scan_time,
		.signed_cert = signed_cert,
		.signed_cert_len = len,
	};

	return kpg_request_build(&s, out, cap);
}

int kpg_tk_default_request(const struct kpg_tk_pki *p, enum kpg_alg alg,
			   uint64_t request_id, int64_t now, uint8_t *out,
			   size_t cap)
{
	struct kpg_tk_cert tc;
	uint8_t sc[KPG_DATAGRAM_MAX];
	int n;

	if ((unsigned)alg >= 4 || p->auth[alg] == NULL)
		return -EINVAL;
	kpg_tk_cert_default(&tc, now);
	n = kpg_tk_cert_sign(p->auth[alg], &tc.c, sc, sizeof(sc));
	if (n < 0)
		return n;
	return kpg_tk_request(request_id, sc, (size_t)n, now, out, cap);
}

int kpg_tk_list_desc(const struct kpg_tk_pki *p, struct kpg_tlist_desc *d,
		     uint64_t version, int64_t now, int64_t next_update,
		     const enum kpg_key_status status[4])
{
	static const struct {
		const char *code;
		enum kpg_participant_status st;
	} parts[] = {
		{ "ZA", KPG_PARTICIPANT_MEMBER },
		{ "EU", KPG_PARTICIPANT_MEMBER },
		{ "BW", KPG_PARTICIPANT_MEMBER },
		{ "RU", KPG_PARTICIPANT_MEMBER },
		{ "CF", KPG_PARTICIPANT_RESTRICTED },
	};
	int rc;

	memset(d, 0, sizeof(*d));
	d->version = version;
	d->issued_at = now;
	d->next_update = next_update;
	for (int a = KPG_ALG_ECDSA_P256_SHA256; a <= KPG_ALG_RSA_PSS_SHA256; a++) {
		struct kpg_tlist_key k = {
			.alg = (enum kpg_alg)a,
			.participant = "ZA",
			.authority = KPG_TK_AUTHORITY,
			.not_before = now - 365 * KPG_TK_DAY,
			.not_after = now + 365 * KPG_TK_DAY,
			.status = status ? status[a] : KPG_KEY_ACTIVE,
		};
		int n = kpg_signer_spki(p->auth[a], k.spki, sizeof(k.spki));

		if (n < 0) {
			rc = n;
			goto fail;
		}
		k.spki_len = (size_t)n;
		if (k.status != KPG_KEY_ACTIVE)
			k.status_since = now - KPG_TK_DAY;
		rc = kpg_tlist_add_key(d, &k);
		if (rc < 0)
			goto fail;
	}
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		rc = kpg_tlist_add_participant(d, parts[i].code, parts[i].st);
		if (rc < 0)
			goto fail;
	}
	return 0;
fail:
	kpg_tlist_desc_free(d);
	return rc;
}

int kpg_tk_list_write(const struct kpg_tk_pki *p, unsigned anchor,
		      const struct kpg_tlist_desc *d, const char *path)
{
	uint8_t *buf;
	size_t len;
	int rc;

	if (anchor >= KPG_ANCHORS_MAX)
		return -EINVAL;
	rc = kpg_tlist_build(d, p->anchor[anchor], &buf, &len);
	if (rc < 0)
		return rc;
	rc = kpg_file_write(path, buf, len, 0644);
	free(buf);
	return rc;
}

int kpg_tk_write_list(const struct kpg_tk_pki *p, const char *path,
		      uint64_t version, int64_t now, int64_t next_update,
		      const enum kpg_key_status status[4])
{
	struct kpg_tlist_desc d;
	int rc = kpg_tk_list_desc(p, &d, version, now, next_update, status);

	if (rc < 0)
		return rc;
	rc = kpg_tk_list_write(p, 0, &d, path);
	kpg_tlist_desc_free(&d);
	return rc;
}

struct kpg_trust *kpg_tk_trust(const struct kpg_tk_pki *p, uint64_t version,
			       int64_t now, const enum kpg_key_status status[4],
			       unsigned slots)
{
	struct kpg_trust_opts o = {
		.anchors = &p->anchors,
		.now = now,
		.slots = slots,
	};
	struct kpg_tlist_desc d;
	struct kpg_trust *t = NULL;
	uint8_t *buf;
	size_t len;
	char err[256];

	if (kpg_tk_list_desc(p, &d, version, now, now + 30 * KPG_TK_DAY, status) < 0)
		return NULL;
	if (kpg_tlist_build(&d, p->anchor[0], &buf, &len) == 0) {
		if (kpg_trust_parse(&o, buf, len, 0, &t, err, sizeof(err)) != KPG_TRUST_OK)
			fprintf(stderr, "testkit: trust list refused: %s\n", err);
		free(buf);
	}
	kpg_tlist_desc_free(&d);
	return t;
}
