/* kpg_confirm.c — signed KP import confirmations; see kpg_confirm.h. Runs
 * on the audit writer's thread: file I/O and OpenSSL's allocations are fine
 * here, never on a worker. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "kpg_arena.h"
#include "kpg_cert.h"
#include "kpg_confirm.h"
#include "kpg_err.h"
#include "kpg_request.h"
#include "kpg_sign.h"
#include "kpg_verify.h"

#define ARENA_BYTES (64u * 1024u)

struct kpg_confirmer {
	struct kpg_signer *signer;
	uint8_t key_id[KPG_KEY_ID_LEN];
	int dirfd;
	char checkpoint[KPG_AUDIT_ID_MAX + 1];
	struct kpg_arena arena;
	uint8_t body[KPG_CONFIRM_MAX];
	uint8_t out[KPG_CONFIRM_MAX];
};

struct kpg_confirmer *kpg_confirmer_new(const char *dir, const char *key_path,
					const char *checkpoint, char *err,
					size_t errlen)
{
	struct kpg_confirmer *c = calloc(1, sizeof(*c));
	char kerr[256] = "";

	if (c == NULL || kpg_arena_init(&c->arena, ARENA_BYTES) < 0) {
		free(c);
		kpg_errf(err, errlen, "out of memory");
		return NULL;
	}
	c->dirfd = -1;
	snprintf(c->checkpoint, sizeof(c->checkpoint), "%s", checkpoint);
	c->signer = kpg_signer_load(key_path, kerr, sizeof(kerr));
	if (c->signer == NULL) {
		kpg_errf(err, errlen, "%s: %s", key_path, kerr);
		goto fail;
	}
	kpg_signer_key_id(c->signer, c->key_id);
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		kpg_errf(err, errlen, "%s: cannot create: %s", dir, strerror(errno));
		goto fail;
	}
	c->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dirfd < 0) {
		kpg_errf(err, errlen, "%s: cannot open: %s", dir, strerror(errno));
		goto fail;
	}
	return c;
fail:
	kpg_confirmer_delete(c);
	return NULL;
}

void kpg_confirmer_delete(struct kpg_confirmer *c)
{
	if (c == NULL)
		return;
	if (c->dirfd >= 0)
		close(c->dirfd);
	kpg_signer_delete(c->signer);
	kpg_arena_fini(&c->arena);
	free(c);
}

int kpg_confirm_file_name(const char *number, char *out, size_t cap)
{
	size_t n = strlen(number), i;

	if (n == 0 || n + sizeof(KPG_CONFIRM_SUFFIX) > cap || n > 200)
		return -ENAMETOOLONG;
	for (i = 0; i < n; i++) {
		char ch = number[i];
		bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			  (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
			  (ch == '.' && i > 0);

		out[i] = ok ? ch : '_';
	}
	memcpy(out + n, KPG_CONFIRM_SUFFIX, sizeof(KPG_CONFIRM_SUFFIX));
	return (int)(n + sizeof(KPG_CONFIRM_SUFFIX) - 1);
}

static void party(Kpgate__Party *p, const struct kpg_party *v)
{
	kpgate__party__init(p);
	p->name = (char *)v->name.p;
	if (v->address.len)
		p->address = (char *)v->address.p;
	if (v->identifier.len)
		p->identifier = (char *)v->identifier.p;
}

/* The canonical ImportConfirmation bytes into c->body; length or -errno. */
static int build(struct kpg_confirmer *c, const struct kpg_audit_rec *rec,
		 const struct kpg_request *rq, const struct kpg_cert *cert)
{
	Kpgate__ImportConfirmation ic;
	Kpgate__Party exporter, importer;
	Kpgate__HsLine *lines, **plines;
	uint8_t digest[32];
	unsigned dlen = 0;
	size_t need;

	lines = kpg_arena_alloc(&c->arena, sizeof(*lines) * cert->n_lines);
	plines = kpg_arena_alloc(&c->arena, sizeof(*plines) * cert->n_lines);
	if (cert->n_lines && (lines == NULL || plines == NULL))
		return -ENOMEM;
	if (EVP_Digest(rq->cert.p, rq->cert.len, digest, &dlen, EVP_sha256(), NULL) != 1)
		return -EIO;
	kpgate__import_confirmation__init(&ic);
	party(&exporter, &cert->exporter);
	party(&importer, &cert->importer);
	for (uint32_t i = 0; i < cert->n_lines; i++) {
		kpgate__hs_line__init(&lines[i]);
		lines[i].hs_code = (Kpgate__HsCode)cert->lines[i].hs_code;
		lines[i].carats_centi = cert->lines[i].carats_centi;
		lines[i].value_usd_cents = cert->lines[i].value_usd_cents;
		plines[i] = &lines[i];
	}
	ic.certificate_number = (char *)cert->number.p;
	ic.issuing_participant = (char *)cert->issuing_participant;
	ic.issuing_authority = (char *)cert->issuing_authority.p;
	ic.exporter = &exporter;
	ic.importer = &importer;
	ic.importing_participant = (char *)cert->importing_participant;
	ic.parcels = cert->parcels;
	ic.carats_centi = cert->total_carats_centi;
	ic.value_usd_cents = cert->total_value_usd_cents;
	ic.n_lines = cert->n_lines;
	ic.lines = plines;
	ic.certificate_issue_date = cert->issue_date;
	ic.confirmed_at = rec->time;
	ic.checkpoint = c->checkpoint;
	ic.certificate_sha256 = (ProtobufCBinaryData){ dlen, digest };
	ic.certificate_key_id = (ProtobufCBinaryData){ KPG_KEY_ID_LEN,
						       (uint8_t *)rq->key_id.p };
	ic.trust_list_version = rec->trust_version;
	ic.station_id = (char *)rec->station;
	ic.request_id = rec->request_id;
	ic.audit_lcore = rec->lcore;
	ic.audit_seq = rec->seq;
	need = kpgate__import_confirmation__get_packed_size(&ic);
	if (need > sizeof(c->body))
		return -EMSGSIZE;
	return (int)kpgate__import_confirmation__pack(&ic, c->body);
}

/* Signs c->body[0..blen) into c->out as a SignedImportConfirmation. */
static int sign(struct kpg_confirmer *c, size_t blen)
{
	Kpgate__SignedImportConfirmation sc;
	uint8_t sig[KPG_SIG_MAX];
	size_t sig_len = sizeof(sig);
	int rc;

	if ((rc = kpg_signer_sign(c->signer, c->body, blen, sig, &sig_len)) < 0)
		return rc;
	kpgate__signed_import_confirmation__init(&sc);
	sc.confirmation = (ProtobufCBinaryData){ blen, c->body };
	sc.signature = (ProtobufCBinaryData){ sig_len, sig };
	sc.key_id = (ProtobufCBinaryData){ KPG_KEY_ID_LEN, c->key_id };
	if (kpgate__signed_import_confirmation__get_packed_size(&sc) > sizeof(c->out))
		return -EMSGSIZE;
	return (int)kpgate__signed_import_confirmation__pack(&sc, c->out);
}

/* A temporary file linked in under its name: a reader sees the whole file
 * or none, and link() refuses to replace one that exists. */
static int place(struct kpg_confirmer *c, const char *name, const uint8_t *b,
		 size_t n, bool sync)
{
	char tmp[300];
	const uint8_t *p = b;
	int fd, rc = 0;

	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	fd = openat(c->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = w < 0 ? -errno : -EIO;
			break;
		}
		p += w;
		n -= (size_t)w;
	}
	if (rc == 0 && sync && fdatasync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && linkat(c->dirfd, tmp, c->dirfd, name, 0) < 0)
		rc = errno == EEXIST ? 0 : -errno;
	else if (rc == 0)
		rc = 1;
	unlinkat(c->dirfd, tmp, 0);
	return rc;
}

int kpg_confirm_request(struct kpg_confirmer *c, const struct kpg_audit_rec *rec,
			const uint8_t *dgram, uint32_t len, bool sync,
			char *why, size_t whylen)
{
	struct kpg_request rq;
	struct kpg_cert cert;
	const char *bad = "unreadable";
	char name[256];
	int rc;

	kpg_arena_reset(&c->arena);
	if (kpg_request_parse(dgram, len, &rq) != KPG_REQ_OK ||
	    kpg_cert_decode(rq.cert.p, rq.cert.len, &c->arena, &cert, &bad) < 0) {
		kpg_errf(why, whylen, "request %llu: certificate %s",
			 (unsigned long long)rec->request_id, bad);
		return -EBADMSG;
	}
	if (kpg_confirm_file_name(cert.number.p, name, sizeof(name)) < 0) {
		kpg_errf(why, whylen, "certificate number too long for a file name");
		return -ENAMETOOLONG;
	}
	/* Confirmed before (a re-scan): no signing, no file. link() below
	 * still refuses to replace one, should a name appear meanwhile. */
	if (faccessat(c->dirfd, name, F_OK, 0) == 0)
		return 0;
	if ((rc = build(c, rec, &rq, &cert)) < 0 || (rc = sign(c, (size_t)rc)) < 0) {
		kpg_errf(why, whylen, "%s: cannot build or sign: %s", name, strerror(-rc));
		return rc;
	}
	rc = place(c, name, c->out, (size_t)rc, sync);
	if (rc < 0)
		kpg_errf(why, whylen, "%s: cannot write: %s", name, strerror(-rc));
	return rc;
}

int kpg_confirmer_sync_dir(struct kpg_confirmer *c)
{
	return fsync(c->dirfd) < 0 ? -errno : 0;
}

/* The checkpoint key's algorithm is not written in the file: it is the one
 * its SPKI parses as. */
static struct kpg_pubkey *pubkey_any(const uint8_t *spki, size_t len)
{
	static const enum kpg_alg algs[] = { KPG_ALG_ED25519,
		KPG_ALG_ECDSA_P256_SHA256, KPG_ALG_RSA_PSS_SHA256 };
	const char *why;

	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		struct kpg_pubkey *k = kpg_pubkey_new(algs[i], spki, len, &why);

		if (k)
			return k;
	}
	return NULL;
}

int kpg_confirm_verify(const uint8_t *buf, size_t len, const uint8_t *spki,
		       size_t spki_len, Kpgate__ImportConfirmation **out,
		       char *why, size_t whylen)
{
	Kpgate__SignedImportConfirmation *sc;
	Kpgate__ImportConfirmation *ic = NULL;
	struct kpg_pubkey *k = NULL;
	struct kpg_verifier *v = NULL;
	uint8_t id[KPG_KEY_ID_LEN];
	uint8_t *again = NULL;
	int rc = -EBADMSG;

	*out = NULL;
	sc = kpgate__signed_import_confirmation__unpack(NULL, len, buf);
	if (sc == NULL || kpgate__signed_import_confirmation__get_packed_size(sc) != len) {
		kpg_errf(why, whylen, "not a signed import confirmation");
		goto out;
	}
	kpg_key_id(spki, spki_len, id);
	if (sc->key_id.len != KPG_KEY_ID_LEN || memcmp(sc->key_id.data, id, sizeof(id))) {
		kpg_errf(why, whylen, "signed by another key than the one given");
		goto out;
	}
	k = pubkey_any(spki, spki_len);
	v = k ? kpg_verifier_new(k, KPG_BACKEND_DEFAULT) : NULL;
	if (v == NULL) {
		kpg_errf(why, whylen, "the public key is not one kpgate signs with");
		goto out;
	}
	struct kpg_verify_op op = {
		.v = v, .msg = sc->confirmation.data, .msg_len = sc->confirmation.len,
		.sig = sc->signature.data, .sig_len = sc->signature.len,
	};
	if (kpg_verify_batch(&op, 1) != 1) {
		kpg_errf(why, whylen, "the signature does not verify");
		rc = -EKEYREJECTED;
		goto out;
	}
	/* Signed bytes are read one way only: they must be what packing the
	 * message they decode to gives back. */
	ic = kpgate__import_confirmation__unpack(NULL, sc->confirmation.len,
						 sc->confirmation.data);
	if (ic == NULL ||
	    kpgate__import_confirmation__get_packed_size(ic) != sc->confirmation.len ||
	    (again = malloc(sc->confirmation.len ? sc->confirmation.len : 1)) == NULL ||
	    kpgate__import_confirmation__pack(ic, again) != sc->confirmation.len ||
	    memcmp(again, sc->confirmation.data, sc->confirmation.len) != 0) {
		kpg_errf(why, whylen, "the signed confirmation is not canonical");
		goto out;
	}
	*out = ic;
	ic = NULL;
	rc = 0;
out:
	free(again);
	if (ic)
		kpgate__import_confirmation__free_unpacked(ic, NULL);
	if (sc)
		kpgate__signed_import_confirmation__free_unpacked(sc, NULL);
	kpg_verifier_delete(v);
	kpg_pubkey_delete(k);
	return rc;
}
