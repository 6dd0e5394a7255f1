/* kpg_trust_build.c — building and signing trust lists and certificates. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kpg_err.h"
#include "kpg_trust_build.h"

/* --- descriptions ------------------------------------------------------- */

int kpg_tlist_add_key(struct kpg_tlist_desc *d, const struct kpg_tlist_key *k)
{
	struct kpg_tlist_key *keys;

	if (k->spki_len > KPG_SPKI_MAX)
		return -EINVAL;
	keys = realloc(d->keys, (d->n_keys + 1) * sizeof(*keys));
	if (keys == NULL)
		return -ENOMEM;
	d->keys = keys;
	keys[d->n_keys] = *k;
	if (!k->key_id_set)
		kpg_key_id(k->spki, k->spki_len, keys[d->n_keys].key_id);
	d->n_keys++;
	return 0;
}

int kpg_tlist_add_participant(struct kpg_tlist_desc *d, const char *code,
			      enum kpg_participant_status st)
{
	struct kpg_tlist_participant *p;

	if (strlen(code) != 2)
		return -EINVAL;
	p = realloc(d->participants, (d->n_participants + 1) * sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	d->participants = p;
	memcpy(p[d->n_participants].code, code, 3);
	p[d->n_participants].status = st;
	d->n_participants++;
	return 0;
}

void kpg_tlist_desc_free(struct kpg_tlist_desc *d)
{
	free(d->keys);
	free(d->participants);
	d->keys = NULL;
	d->participants = NULL;
	d->n_keys = d->n_participants = 0;
}

int kpg_tlist_find_key(const struct kpg_tlist_desc *d,
		       const uint8_t key_id[KPG_KEY_ID_LEN])
{
	for (unsigned i = 0; i < d->n_keys; i++)
		if (memcmp(d->keys[i].key_id, key_id, KPG_KEY_ID_LEN) == 0)
			return (int)i;
	return -1;
}

/* --- trust lists -------------------------------------------------------- */

int kpg_tlist_pack_body(const struct kpg_tlist_desc *d, uint8_t **body,
			size_t *len)
{
	Kpgate__TrustListBody b = KPGATE__TRUST_LIST_BODY__INIT;
	Kpgate__TrustedKey *keys = NULL, **kp = NULL;
	Kpgate__ParticipantEntry *parts = NULL, **pp = NULL;
	int rc = -ENOMEM;

	*body = NULL;
	keys = calloc(d->n_keys + 1, sizeof(*keys));
	kp = calloc(d->n_keys + 1, sizeof(*kp));
	parts = calloc(d->n_participants + 1, sizeof(*parts));
	pp = calloc(d->n_participants + 1, sizeof(*pp));
	if (keys == NULL || kp == NULL || parts == NULL || pp == NULL)
		goto out;
	for (unsigned i = 0; i < d->n_keys; i++) {
		const struct kpg_tlist_key *k = &d->keys[i];
		Kpgate__TrustedKey *t = &keys[i];

		kpgate__trusted_key__init(t);
		t->key_id.data = (uint8_t *)k->key_id;
		t->key_id.len = KPG_KEY_ID_LEN;
		t->algorithm = (Kpgate__KeyAlgorithm)k->alg;
		t->public_key.data = (uint8_t *)k->spki;
		t->public_key.len = k->spki_len;
		t->participant = (char *)k->participant;
		t->authority = (char *)k->authority;
		t->not_before = k->not_before;
		t->not_after = k->not_after;
		t->status = (Kpgate__KeyStatus)k->status;
		t->has_status_since = k->status_since != 0;
		t->status_since = k->status_since;
		kp[i] = t;
	}
	for (unsigned i = 0; i < d->n_participants; i++) {
		kpgate__participant_entry__init(&parts[i]);
		parts[i].code = (char *)d->participants[i].code;
		parts[i].status = (Kpgate__ParticipantStatus)d->participants[i].status;
		pp[i] = &parts[i];
	}
	b.version = d->version;
	b.issued_at = d->issued_at;
	b.next_update = d->next_update;
	b.n_keys = d->n_keys;
	b.keys = kp;
	b.n_participants = d->n_participants;
	b.participants = pp;

	*len = kpgate__trust_list_body__get_packed_size(&b);
	*body = malloc(*len ? *len : 1);
	if (*body == NULL)
		goto out;
	kpgate__trust_list_body__pack(&b, *body);
	rc = 0;
out:
	free(keys);
	free(kp);
	free(parts);
	free(pp);
	return rc;
}

int kpg_tlist_sign(const struct kpg_signer *anchor, const uint8_t *body,
		   size_t len, uint8_t **out, size_t *out_len)
{
	Kpgate__SignedTrustList st = KPGATE__SIGNED_TRUST_LIST__INIT;
	uint8_t sig[KPG_SIG_MAX], id[KPG_KEY_ID_LEN];
	size_t sig_len = sizeof(sig);
	int rc;

	*out = NULL;
	if (kpg_signer_alg(anchor) != KPG_ALG_ED25519)
		return -EINVAL;          /* anchors are Ed25519 by protocol */
	rc = kpg_signer_sign(anchor, body, len, sig, &sig_len);
	if (rc < 0)
		return rc;
	kpg_signer_key_id(anchor, id);
	st.body.data = (uint8_t *)body;
	st.body.len = len;
	st.signature.data = sig;
	st.signature.len = sig_len;
	st.anchor_key_id.data = id;
	st.anchor_key_id.len = KPG_KEY_ID_LEN;
	*out_len = kpgate__signed_trust_list__get_packed_size(&st);
	*out = malloc(*out_len);
	if (*out == NULL)
		return -ENOMEM;
	kpgate__signed_trust_list__pack(&st, *out);
	return 0;
}

int kpg_tlist_build(const struct kpg_tlist_desc *d,
		    const struct kpg_signer *anchor, uint8_t **out,
		    size_t *out_len)
{
	uint8_t *body;
	size_t len;
	int rc;

	*out = NULL;
	rc = kpg_tlist_pack_body(d, &body, &len);
	if (rc < 0)
		return rc;
	rc = kpg_tlist_sign(anchor, body, len, out, out_len);
	free(body);
	return rc;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

int kpg_tlist_read(const uint8_t *buf, size_t len, struct kpg_tlist_desc *d,
		   uint8_t anchor_key_id[KPG_KEY_ID_LEN], char *err,
		   size_t errlen)
{
	Kpgate__SignedTrustList *st;
	Kpgate__TrustListBody *b = NULL;
	int rc = -EBADMSG;

	memset(d, 0, sizeof(*d));
	st = kpgate__signed_trust_list__unpack(NULL, len, buf);
	if (st == NULL) {
		kpg_errf(err, errlen, "not a signed trust list");
		return -EBADMSG;
	}
	if (anchor_key_id != NULL) {
		memset(anchor_key_id, 0, KPG_KEY_ID_LEN);
		memcpy(anchor_key_id, st->anchor_key_id.data,
		       st->anchor_key_id.len < KPG_KEY_ID_LEN ?
		       st->anchor_key_id.len : KPG_KEY_ID_LEN);
	}
	b = kpgate__trust_list_body__unpack(NULL, st->body.len, st->body.data);
	if (b == NULL) {
		kpg_errf(err, errlen, "trust list body does not decode");
		goto out;
	}
	d->version = b->version;
	d->issued_at = b->issued_at;
	d->next_update = b->next_update;
	for (size_t i = 0; i < b->n_keys; i++) {
		const Kpgate__TrustedKey *t = b->keys[i];
		struct kpg_tlist_key k = { 0 };

		if (t->public_key.len > KPG_SPKI_MAX ||
		    t->key_id.len != KPG_KEY_ID_LEN) {
			kpg_errf(err, errlen, "trust list key %zu is malformed", i);
			goto out;
		}
		memcpy(k.spki, t->public_key.data, t->public_key.len);
		k.spki_len = t->public_key.len;
		/* Keep the id as listed: a re-signed list says what it said. */
		k.key_id_set = true;
		memcpy(k.key_id, t->key_id.data, KPG_KEY_ID_LEN);
		k.alg = (enum kpg_alg)t->algorithm;
		copy_str(k.participant, sizeof(k.participant), t->participant);
		copy_str(k.authority, sizeof(k.authority), t->authority);
		k.not_before = t->not_before;
		k.not_after = t->not_after;
		k.status = (enum kpg_key_status)t->status;
		k.status_since = t->has_status_since ? t->status_since : 0;
		if (kpg_tlist_add_key(d, &k) < 0)
			goto nomem;
	}
	for (size_t i = 0; i < b->n_participants; i++) {
		const Kpgate__ParticipantEntry *p = b->participants[i];

		if (p->code == NULL || strlen(p->code) != 2) {
			kpg_errf(err, errlen, "trust list participant %zu is malformed", i);
			goto out;
		}
		if (kpg_tlist_add_participant(d, p->code,
					      (enum kpg_participant_status)p->status) < 0)
			goto nomem;
	}
	rc = 0;
	goto out;
nomem:
	kpg_errf(err, errlen, "out of memory");
	rc = -ENOMEM;
out:
	if (rc < 0)
		kpg_tlist_desc_free(d);
	if (b != NULL)
		kpgate__trust_list_body__free_unpacked(b, NULL);
	kpgate__signed_trust_list__free_unpacked(st, NULL);
	return rc;
}

int kpg_tlist_anchor_of(const struct kpg_signer *anchor, struct kpg_anchors *a,
			char *err, size_t errlen)
{
	uint8_t spki[KPG_SPKI_MAX];
	int n = kpg_signer_spki(anchor, spki, sizeof(spki));

	memset(a, 0, sizeof(*a));
	if (n < 0) {
		kpg_errf(err, errlen, "cannot encode the anchor public key");
		return n;
	}
	return kpg_anchors_add_spki(a, spki, (size_t)n, err, errlen);
}

/* --- certificates ------------------------------------------------------- */

int kpg_signed_cert_issue(const struct kpg_signer *s,
			  const Kpgate__Certificate *c, uint8_t **out,
			  size_t *out_len, char *err, size_t errlen)
{
	Kpgate__SignedCertificate sc = KPGATE__SIGNED_CERTIFICATE__INIT;
	uint8_t sig[KPG_SIG_MAX], id[KPG_KEY_ID_LEN];
	size_t sig_len = sizeof(sig), len;
	uint8_t *cert;
	int rc;

	*out = NULL;
	len = kpgate__certificate__get_packed_size(c);
	cert = malloc(len ? len : 1);
	if (cert == NULL)
		return -ENOMEM;
	kpgate__certificate__pack(c, cert);
	rc = kpg_signer_sign(s, cert, len, sig, &sig_len);
	if (rc < 0) {
		kpg_errf(err, errlen, "signing the certificate failed: %s",
		       strerror(-rc));
		goto out;
	}
	kpg_signer_key_id(s, id);
	sc.certificate.data = cert;
	sc.certificate.len = len;
	sc.signature.data = sig;
	sc.signature.len = sig_len;
	sc.key_id.data = id;
	sc.key_id.len = KPG_KEY_ID_LEN;
	*out_len = kpgate__signed_certificate__get_packed_size(&sc);
	if (*out_len > KPG_SIGNED_CERT_MAX) {
		kpg_errf(err, errlen, "signed certificate is %zu bytes, %zu more than the %u a %u-byte request datagram can carry",
		       *out_len, *out_len - KPG_SIGNED_CERT_MAX,
		       KPG_SIGNED_CERT_MAX, KPG_DATAGRAM_MAX);
		rc = -EMSGSIZE;
		goto out;
	}
	*out = malloc(*out_len);
	if (*out == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	kpgate__signed_certificate__pack(&sc, *out);
	rc = 0;
out:
	free(cert);
	return rc;
}

/* --- files -------------------------------------------------------------- */

int kpg_file_read(const char *path, size_t max, uint8_t **buf, size_t *len)
{
	struct stat st;
	uint8_t *p;
	size_t got = 0;
	int fd, rc;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		goto fail;
	}
	if ((size_t)st.st_size > max) {
		rc = -EFBIG;
		goto fail;
	}
	p = malloc((size_t)st.st_size + 1);
	if (p == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, p + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			free(p);
			goto fail;
		}
		got += (size_t)n;
	}
	close(fd);
	*buf = p;
	*len = got;
	return 0;
fail:
	close(fd);
	return rc;
}

int kpg_file_write(const char *path, const void *buf, size_t len, mode_t mode)
{
	char *tmp = NULL, *dcopy = NULL;
	const uint8_t *p = buf;
	int fd = -1, dfd, rc;

	if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	/* The umask may have narrowed it; keys must end exactly 0600. */
	if (fchmod(fd, mode) < 0)
		goto fail;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	/* The rename is durable only once the directory is. */
	dcopy = strdup(path);
	if (dcopy == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		goto fail;
	rc = fsync(dfd) < 0 ? -errno : 0;
	close(dfd);
	goto out;
fail:
	rc = -errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
out:
	free(dcopy);
	free(tmp);
	return rc;
}
