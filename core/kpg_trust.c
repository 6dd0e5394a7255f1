/* kpg_trust.c — loading, checking and looking up the signed trust list. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "kpg_err.h"
#include "kpgate.pb-c.h"
#include "kpg_cert.h"
#include "kpg_pb.h"
#include "kpg_sign.h"
#include "kpg_date.h"
#include "kpg_trust.h"
#include "kpg_verdict.h"
#include "kpg_trust_build.h"

#define TRUST_FILE_MAX   (16u << 20)   /* far above any real list */
#define ED25519_SPKI_LEN 44u
#define ED25519_SIG_LEN  64u

/* DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the only
 * encoding, so a byte compare is the whole parse. */
static const uint8_t ed25519_spki_prefix[12] = {
	0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
};

/* Lists are control-plane data: large, but bounded so a hostile file
 * cannot make the pre-scan walk without end. */
static const struct kpg_pb_limits body_limits = {
	.max_len = 4096,
	.max_fields = 1u << 20,
	.max_depth = KPG_DEPTH_MAX,
	.canonical = true,
};

static const struct kpg_pb_limits envelope_limits = {
	.max_len = TRUST_FILE_MAX,
	.max_fields = 16,
	.max_depth = 1,
	.canonical = false,
};

struct kpg_trust {
	uint64_t version;
	int64_t issued_at, next_update;
	unsigned n_keys;
	unsigned slots;
	struct kpg_trust_key *keys;
	uint32_t mask;                   /* open-addressing table of key indexes */
	int32_t *index;                  /* -1: empty */
	uint8_t participants[26 * 26];   /* enum kpg_participant_status by code */
	uint8_t body_hash[32];
};

static const char *const refusal_names[KPG_TRUST__COUNT] = {
	[KPG_TRUST_OK] = "ok",
	[KPG_TRUST_IO] = "io",
	[KPG_TRUST_MALFORMED] = "malformed",
	[KPG_TRUST_UNKNOWN_ANCHOR] = "unknown_anchor",
	[KPG_TRUST_BAD_SIGNATURE] = "bad_signature",
	[KPG_TRUST_ROLLBACK] = "rollback",
	[KPG_TRUST_NOT_NEWER] = "not_newer",
	[KPG_TRUST_STALE] = "stale",
	[KPG_TRUST_BAD_KEY] = "bad_key",
	[KPG_TRUST_STATE] = "state",
};

const char *kpg_trust_refusal_name(enum kpg_trust_refusal r)
{
	if ((unsigned)r >= KPG_TRUST__COUNT)
		return "unknown";
	return refusal_names[r];
}

static void key_id_hex(const uint8_t *id, size_t len, char *out, size_t cap)
{
	sodium_bin2hex(out, cap, id, len < KPG_KEY_ID_LEN ? len : KPG_KEY_ID_LEN);
}

int kpg_anchors_add_spki(struct kpg_anchors *a, const uint8_t *spki,
			 size_t len, char *err, size_t errlen)
{
	const char *why = NULL;
	uint8_t id[KPG_KEY_ID_LEN];

	if (len != ED25519_SPKI_LEN ||
	    memcmp(spki, ed25519_spki_prefix, sizeof(ed25519_spki_prefix)) != 0) {
		kpg_errf(err, errlen, "trust anchor is not an Ed25519 public key");
		return -EINVAL;
	}
	/* The same weak-key rules as authority keys: an anchor of small order
	 * would let anyone sign lists. */
	struct kpg_pubkey *k = kpg_pubkey_new(KPG_ALG_ED25519, spki, len, &why);
	if (k == NULL) {
		kpg_errf(err, errlen, "trust anchor refused: %s",
		       why ? why : "invalid Ed25519 key");
		return -EINVAL;
	}
	kpg_pubkey_delete(k);
	kpg_key_id(spki, len, id);
	for (unsigned i = 0; i < a->n; i++) {
		if (memcmp(a->key_id[i], id, KPG_KEY_ID_LEN) == 0) {
			kpg_errf(err, errlen, "trust anchor given twice");
			return -EEXIST;
		}
	}
	if (a->n >= KPG_ANCHORS_MAX) {
		kpg_errf(err, errlen, "more than %u trust anchors", KPG_ANCHORS_MAX);
		return -ENOSPC;
	}
	memcpy(a->key_id[a->n], id, KPG_KEY_ID_LEN);
	memcpy(a->pk[a->n], spki + sizeof(ed25519_spki_prefix), 32);
	a->n++;
	return 0;
}

int kpg_anchors_add_file(struct kpg_anchors *a, const char *path,
			 char *err, size_t errlen)
{
	uint8_t der[KPG_SPKI_MAX];
	int n = kpg_spki_read_pem(path, der, sizeof(der));

	if (n < 0) {
		kpg_errf(err, errlen, "%s: cannot read a PEM public key: %s", path,
		       strerror(-n));
		return n;
	}
	char why[160];
	int rc = kpg_anchors_add_spki(a, der, (size_t)n, why, sizeof(why));
	if (rc < 0)
		kpg_errf(err, errlen, "%s: %s", path, why);
	return rc;
}

/* --- snapshot ----------------------------------------------------------- */

void kpg_trust_delete(struct kpg_trust *t)
{
	if (t == NULL)
		return;
	for (unsigned i = 0; i < t->n_keys; i++) {
		struct kpg_trust_key *k = &t->keys[i];

		if (k->verifiers != NULL) {
			for (unsigned s = 0; s < t->slots; s++)
				if (k->verifiers[s] != NULL)
					kpg_verifier_delete(k->verifiers[s]);
			free(k->verifiers);
		}
		if (k->pub != NULL)
			kpg_pubkey_delete(k->pub);
		free((char *)k->authority);
	}
	free(t->keys);
	free(t->index);
	free(t);
}

uint64_t kpg_trust_version(const struct kpg_trust *t) { return t->version; }
int64_t kpg_trust_issued_at(const struct kpg_trust *t) { return t->issued_at; }
int64_t kpg_trust_next_update(const struct kpg_trust *t) { return t->next_update; }
unsigned kpg_trust_key_count(const struct kpg_trust *t) { return t->n_keys; }

const struct kpg_trust_key *kpg_trust_key_at(const struct kpg_trust *t, unsigned i)
{
	return i < t->n_keys ? &t->keys[i] : NULL;
}

/* Key ids are SHA-256 prefixes, uniformly random: their first 8 bytes are
 * a hash already. */
static inline uint32_t key_slot(const uint8_t *id, uint32_t mask)
{
	uint64_t h;

	memcpy(&h, id, sizeof(h));
	return (uint32_t)(h ^ (h >> 32)) & mask;
}

const struct kpg_trust_key *kpg_trust_find(const struct kpg_trust *t,
					   const uint8_t key_id[KPG_KEY_ID_LEN])
{
	if (t == NULL || t->index == NULL)
		return NULL;
	for (uint32_t s = key_slot(key_id, t->mask);; s = (s + 1) & t->mask) {
		int32_t i = t->index[s];

		if (i < 0)
			return NULL;
		if (memcmp(t->keys[i].key_id, key_id, KPG_KEY_ID_LEN) == 0)
			return &t->keys[i];
	}
}

static inline int participant_index(const char code[2])
{
	unsigned a = (unsigned char)code[0] - 'A';
	unsigned b = (unsigned char)code[1] - 'A';

	if (a >= 26 || b >= 26)
		return -1;
	return (int)(a * 26 + b);
}

enum kpg_participant_status kpg_trust_participant(const struct kpg_trust *t,
						  const char code[2])
{
	int i = participant_index(code);

	if (t == NULL || i < 0)
		return KPG_PARTICIPANT_NONE;
	return (enum kpg_participant_status)t->participants[i];
}

/* Inserts key i; false if its id is already there. */
static bool index_insert(struct kpg_trust *t, int32_t i)
{
	const uint8_t *id = t->keys[i].key_id;

	for (uint32_t s = key_slot(id, t->mask);; s = (s + 1) & t->mask) {
		int32_t j = t->index[s];

		if (j < 0) {
			t->index[s] = i;
			return true;
		}
		if (memcmp(t->keys[j].key_id, id, KPG_KEY_ID_LEN) == 0)
			return false;
	}
}

/* --- checks of the body ------------------------------------------------- */

static enum kpg_trust_refusal add_key(struct kpg_trust *t,
				      const Kpgate__TrustedKey *tk,
				      const struct kpg_trust_opts *o,
				      char *err, size_t errlen)
{
	struct kpg_trust_key *k = &t->keys[t->n_keys];
	uint8_t id[KPG_KEY_ID_LEN];
	char hex[2 * KPG_KEY_ID_LEN + 1];
	const char *why = NULL;

	key_id_hex(tk->key_id.data, tk->key_id.len, hex, sizeof(hex));
	if (tk->key_id.len != KPG_KEY_ID_LEN) {
		kpg_errf(err, errlen, "trust list key %s: key id is %zu bytes, not %u",
		       hex, tk->key_id.len, KPG_KEY_ID_LEN);
		return KPG_TRUST_BAD_KEY;
	}
	kpg_key_id(tk->public_key.data, tk->public_key.len, id);
	if (memcmp(id, tk->key_id.data, KPG_KEY_ID_LEN) != 0) {
		kpg_errf(err, errlen, "trust list key %s: key id does not match its public key",
		       hex);
		return KPG_TRUST_BAD_KEY;
	}
	if (tk->algorithm < KPGATE__KEY_ALGORITHM__ECDSA_P256_SHA256 ||
	    tk->algorithm > KPGATE__KEY_ALGORITHM__RSA_PSS_SHA256) {
		kpg_errf(err, errlen, "trust list key %s: unknown algorithm %d",
		       hex, (int)tk->algorithm);
		return KPG_TRUST_BAD_KEY;
	}
	if (tk->status < KPGATE__KEY_STATUS__KEY_ACTIVE ||
	    tk->status > KPGATE__KEY_STATUS__KEY_REVOKED) {
		kpg_errf(err, errlen, "trust list key %s: unknown status %d",
		       hex, (int)tk->status);
		return KPG_TRUST_BAD_KEY;
	}
	if (tk->participant == NULL ||
	    !kpg_participant_code_valid(tk->participant, strlen(tk->participant))) {
		kpg_errf(err, errlen, "trust list key %s: participant \"%s\" is not two upper-case letters",
		       hex, tk->participant ? tk->participant : "");
		return KPG_TRUST_BAD_KEY;
	}
	if (tk->not_after < tk->not_before) {
		kpg_errf(err, errlen, "trust list key %s: validity ends before it begins",
		       hex);
		return KPG_TRUST_BAD_KEY;
	}
	if (kpg_trust_find(t, id) != NULL) {
		kpg_errf(err, errlen, "trust list key %s appears twice", hex);
		return KPG_TRUST_BAD_KEY;
	}

	enum kpg_alg alg = (enum kpg_alg)tk->algorithm;
	k->pub = kpg_pubkey_new(alg, tk->public_key.data, tk->public_key.len, &why);
	if (k->pub == NULL) {
		kpg_errf(err, errlen, "trust list key %s (%s) refused: %s", hex,
		       kpg_alg_name(alg), why ? why : "invalid public key");
		return KPG_TRUST_BAD_KEY;
	}
	memcpy(k->key_id, id, KPG_KEY_ID_LEN);
	k->alg = alg;
	k->status = (enum kpg_key_status)tk->status;
	memcpy(k->participant, tk->participant, 2);
	k->participant[2] = '\0';
	k->not_before = tk->not_before;
	k->not_after = tk->not_after;
	k->first_day = kpg_date_from_unix(k->not_before);
	k->last_day = kpg_date_from_unix(k->not_after);
	k->status_since = tk->has_status_since ? tk->status_since : 0;
	/* Counted before the fallible steps so delete frees what exists. */
	t->n_keys++;
	k->authority = strdup(tk->authority ? tk->authority : "");
	if (k->authority == NULL)
		goto nomem;
	{
		struct kpg_verdicts vs = { 0 };  /* its cut keeps UTF-8 whole */

		kpg_verdict_add(&vs, "signature", KPG_ACCEPT, 0, "signed by %s (%s, %s)",
				k->authority, k->participant, kpg_alg_name(alg));
		memcpy(k->signed_by, vs.v[0].detail, sizeof(k->signed_by));
	}
	if (t->slots > 0) {
		k->verifiers = calloc(t->slots, sizeof(*k->verifiers));
		if (k->verifiers == NULL)
			goto nomem;
		for (unsigned s = 0; s < t->slots; s++) {
			k->verifiers[s] = kpg_verifier_new(k->pub, o->backend);
			if (k->verifiers[s] == NULL) {
				kpg_errf(err, errlen, "trust list key %s: cannot prepare a %s verifier",
				       hex, kpg_alg_name(alg));
				return KPG_TRUST_BAD_KEY;
			}
		}
	}
	index_insert(t, (int32_t)(t->n_keys - 1));
	return KPG_TRUST_OK;
nomem:
	kpg_errf(err, errlen, "out of memory loading the trust list");
	return KPG_TRUST_IO;
}

static enum kpg_trust_refusal add_participants(struct kpg_trust *t,
					       const Kpgate__TrustListBody *b,
					       char *err, size_t errlen)
{
	for (size_t i = 0; i < b->n_participants; i++) {
		const Kpgate__ParticipantEntry *p = b->participants[i];
		const char *code = p->code ? p->code : "";
		int ix = -1;

		if (strlen(code) == 2)
			ix = participant_index(code);
		if (ix < 0) {
			kpg_errf(err, errlen, "trust list participant \"%s\" is not two upper-case letters",
			       code);
			return KPG_TRUST_MALFORMED;
		}
		if (p->status < KPGATE__PARTICIPANT_STATUS__MEMBER ||
		    p->status > KPGATE__PARTICIPANT_STATUS__RESTRICTED) {
			kpg_errf(err, errlen, "trust list participant %s has unknown status %d",
			       code, (int)p->status);
			return KPG_TRUST_MALFORMED;
		}
		if (t->participants[ix] != KPG_PARTICIPANT_NONE) {
			kpg_errf(err, errlen, "trust list participant %s appears twice", code);
			return KPG_TRUST_MALFORMED;
		}
		t->participants[ix] = (uint8_t)p->status;
	}
	return KPG_TRUST_OK;
}

/* What the version of a new list is checked against. */
struct version_rule {
	uint64_t min;                    /* lowest acceptable (parse) */
	bool persisted;                  /* load: the state-file rules below */
	uint64_t state_version;
	uint8_t state_hash[32];
	uint64_t in_force;
};

static enum kpg_trust_refusal check_version(const struct version_rule *vr,
					    uint64_t v, const uint8_t hash[32],
					    char *err, size_t errlen)
{
	if (!vr->persisted) {
		if (v < vr->min) {
			kpg_errf(err, errlen, "trust list version %" PRIu64 " is below the lowest acceptable version %" PRIu64,
			       v, vr->min);
			return KPG_TRUST_NOT_NEWER;
		}
		return KPG_TRUST_OK;
	}
	if (v < vr->state_version) {
		kpg_errf(err, errlen, "trust list version %" PRIu64 " is below the highest accepted version %" PRIu64 " (rollback refused)",
		       v, vr->state_version);
		return KPG_TRUST_ROLLBACK;
	}
	if (vr->in_force > 0 && v <= vr->in_force) {
		kpg_errf(err, errlen, "trust list version %" PRIu64 " is not newer than version %" PRIu64 " in force",
		       v, vr->in_force);
		return KPG_TRUST_NOT_NEWER;
	}
	if (v == vr->state_version) {
		/* The one list already accepted may be read again after a
		 * restart; another body under its version would be a second
		 * list with one number. */
		if (vr->in_force > 0 ||
		    sodium_memcmp(hash, vr->state_hash, 32) != 0) {
			kpg_errf(err, errlen, "trust list version %" PRIu64 " was already accepted with a different body (version reuse refused)",
			       v);
			return KPG_TRUST_NOT_NEWER;
		}
	}
	return KPG_TRUST_OK;
}

static enum kpg_trust_refusal parse(const struct kpg_trust_opts *o,
				    const uint8_t *buf, size_t len,
				    const struct version_rule *vr,
				    struct kpg_trust **out, char *err, size_t errlen)
{
	Kpgate__SignedTrustList *env = NULL;
	Kpgate__TrustListBody *body = NULL;
	struct kpg_trust *t = NULL;
	enum kpg_trust_refusal r;
	enum kpg_wire_reason w;
	char hex[2 * KPG_KEY_ID_LEN + 1];
	int anchor = -1;

	*out = NULL;
	if (sodium_init() < 0) {
		kpg_errf(err, errlen, "libsodium failed to initialise");
		return KPG_TRUST_IO;
	}
	w = kpg_pb_scan(&kpgate__signed_trust_list__descriptor, buf, len,
			&envelope_limits);
	if (w != KPG_WIRE_OK) {
		kpg_errf(err, errlen, "trust list envelope is malformed (%s)",
		       kpg_wire_reason_name(w));
		return KPG_TRUST_MALFORMED;
	}
	env = kpgate__signed_trust_list__unpack(NULL, len, buf);
	if (env == NULL) {
		kpg_errf(err, errlen, "trust list envelope does not decode");
		return KPG_TRUST_MALFORMED;
	}
	if (env->anchor_key_id.len != KPG_KEY_ID_LEN ||
	    env->signature.len != ED25519_SIG_LEN) {
		kpg_errf(err, errlen, "trust list envelope has a %zu-byte anchor key id and a %zu-byte signature (want %u and %u)",
		       env->anchor_key_id.len, env->signature.len,
		       KPG_KEY_ID_LEN, ED25519_SIG_LEN);
		r = KPG_TRUST_MALFORMED;
		goto out;
	}
	for (unsigned i = 0; o->anchors != NULL && i < o->anchors->n; i++)
		if (memcmp(o->anchors->key_id[i], env->anchor_key_id.data,
			   KPG_KEY_ID_LEN) == 0)
			anchor = (int)i;
	if (anchor < 0) {
		key_id_hex(env->anchor_key_id.data, env->anchor_key_id.len, hex,
			   sizeof(hex));
		kpg_errf(err, errlen, "trust list is signed by anchor %s, which is not a configured trust anchor",
		       hex);
		r = KPG_TRUST_UNKNOWN_ANCHOR;
		goto out;
	}
	/* Nothing in the body is believed, not even for an error message,
	 * before the signature over its exact bytes holds. */
	if (crypto_sign_verify_detached(env->signature.data, env->body.data,
					env->body.len,
					o->anchors->pk[anchor]) != 0) {
		key_id_hex(env->anchor_key_id.data, KPG_KEY_ID_LEN, hex, sizeof(hex));
		kpg_errf(err, errlen, "trust list signature does not verify with anchor %s",
		       hex);
		r = KPG_TRUST_BAD_SIGNATURE;
		goto out;
	}
	w = kpg_pb_scan(&kpgate__trust_list_body__descriptor, env->body.data,
			env->body.len, &body_limits);
	if (w != KPG_WIRE_OK) {
		kpg_errf(err, errlen, "trust list body is not canonical (%s)",
		       kpg_wire_reason_name(w));
		r = KPG_TRUST_MALFORMED;
		goto out;
	}
	body = kpgate__trust_list_body__unpack(NULL, env->body.len, env->body.data);
	if (body == NULL) {
		kpg_errf(err, errlen, "trust list body does not decode");
		r = KPG_TRUST_MALFORMED;
		goto out;
	}

	if (body->version == 0) {
		/* 0 means "no list in force" to every caller. */
		kpg_errf(err, errlen, "trust list version 0 is reserved");
		r = KPG_TRUST_MALFORMED;
		goto out;
	}
	uint8_t hash[32];
	crypto_hash_sha256(hash, env->body.data, env->body.len);
	r = check_version(vr, body->version, hash, err, errlen);
	if (r != KPG_TRUST_OK)
		goto out;
	int64_t deadline;
	if (__builtin_add_overflow(body->next_update, o->grace_s, &deadline))
		deadline = INT64_MAX;
	if (o->now > deadline) {
		kpg_errf(err, errlen, "trust list version %" PRIu64 " is stale: its next update was due at %" PRId64 ", more than the %" PRId64 " s grace before now (%" PRId64 ")",
		       body->version, body->next_update, o->grace_s, o->now);
		r = KPG_TRUST_STALE;
		goto out;
	}

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		goto nomem;
	t->version = body->version;
	t->issued_at = body->issued_at;
	t->next_update = body->next_update;
	t->slots = o->slots;
	memcpy(t->body_hash, hash, sizeof(hash));
	/* Load factor at most one half keeps probes short. */
	uint32_t cap = 8;
	while (cap < 2 * body->n_keys)
		cap <<= 1;
	t->mask = cap - 1;
	t->index = malloc(cap * sizeof(*t->index));
	t->keys = calloc(body->n_keys ? body->n_keys : 1, sizeof(*t->keys));
	if (t->index == NULL || t->keys == NULL)
		goto nomem;
	memset(t->index, 0xff, cap * sizeof(*t->index));
	for (size_t i = 0; i < body->n_keys; i++) {
		r = add_key(t, body->keys[i], o, err, errlen);
		if (r != KPG_TRUST_OK)
			goto out;
	}
	r = add_participants(t, body, err, errlen);
	if (r != KPG_TRUST_OK)
		goto out;
	*out = t;
	t = NULL;
	r = KPG_TRUST_OK;
	goto out;
nomem:
	kpg_errf(err, errlen, "out of memory loading the trust list");
	r = KPG_TRUST_IO;
out:
	kpg_trust_delete(t);
	if (body != NULL)
		kpgate__trust_list_body__free_unpacked(body, NULL);
	kpgate__signed_trust_list__free_unpacked(env, NULL);
	return r;
}

enum kpg_trust_refusal kpg_trust_parse(const struct kpg_trust_opts *o,
				       const uint8_t *buf, size_t len,
				       uint64_t min_version,
				       struct kpg_trust **out,
				       char *err, size_t errlen)
{
	struct version_rule vr = { .min = min_version };

	return parse(o, buf, len, &vr, out, err, errlen);
}

enum kpg_trust_refusal kpg_trust_load(const struct kpg_trust_opts *o,
				      uint64_t in_force, struct kpg_trust **out,
				      char *err, size_t errlen)
{
	struct version_rule vr = { .persisted = true, .in_force = in_force };
	enum kpg_trust_refusal r;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	rc = kpg_file_read(o->list_path, TRUST_FILE_MAX, &buf, &len);
	if (rc < 0) {
		kpg_errf(err, errlen, "cannot read trust list %s: %s", o->list_path,
		       strerror(-rc));
		return KPG_TRUST_IO;
	}
	if (o->state_path != NULL) {
		rc = kpg_trust_state_read(o->state_path, &vr.state_version,
					  vr.state_hash);
		if (rc < 0) {
			kpg_errf(err, errlen, "cannot read trust state %s: %s",
			       o->state_path, strerror(-rc));
			free(buf);
			return KPG_TRUST_STATE;
		}
	}
	r = parse(o, buf, len, &vr, out, err, errlen);
	free(buf);
	if (r != KPG_TRUST_OK || o->state_path == NULL ||
	    (*out)->version == vr.state_version)
		return r;
	/* Persist before the list takes effect: a list in force whose version
	 * could be forgotten would reopen the door to a rollback. */
	rc = kpg_trust_state_write(o->state_path, (*out)->version,
				   (*out)->body_hash);
	if (rc < 0) {
		kpg_errf(err, errlen, "cannot persist trust list version %" PRIu64 " to %s: %s",
		       (*out)->version, o->state_path, strerror(-rc));
		kpg_trust_delete(*out);
		*out = NULL;
		return KPG_TRUST_STATE;
	}
	return KPG_TRUST_OK;
}

/* --- state file --------------------------------------------------------- */

int kpg_trust_state_read(const char *path, uint64_t *version, uint8_t hash[32])
{
	char text[256], hex[65];
	uint8_t *buf = NULL;
	size_t len = 0, bin_len = 0;
	int rc, end = 0;

	*version = 0;
	memset(hash, 0, 32);
	rc = kpg_file_read(path, sizeof(text) - 1, &buf, &len);
	if (rc == -ENOENT)
		return 0;                /* first start: nothing accepted yet */
	if (rc < 0)
		return rc;
	memcpy(text, buf, len);
	text[len] = '\0';
	free(buf);
	if (sscanf(text, "version %" SCNu64 "\nbody-sha256 %64[0-9a-f]\n%n",
		   version, hex, &end) != 2 || end != (int)len ||
	    strlen(hex) != 64 ||
	    sodium_hex2bin(hash, 32, hex, 64, NULL, &bin_len, NULL) != 0 ||
	    bin_len != 32) {
		*version = 0;
		memset(hash, 0, 32);
		return -EBADMSG;
	}
	return 0;
}

int kpg_trust_state_write(const char *path, uint64_t version, const uint8_t hash[32])
{
	char text[128], hex[65];
	int n;

	sodium_bin2hex(hex, sizeof(hex), hash, 32);
	n = snprintf(text, sizeof(text), "version %" PRIu64 "\nbody-sha256 %s\n",
		     version, hex);
	return kpg_file_write(path, text, (size_t)n, 0644);
}
