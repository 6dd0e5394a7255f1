/* test_trust.c — the trust list: what loads, what is refused and why, and
 * that a refusal never disturbs the list in force. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "kpg_cunit.h"
#include "kpg_testkit.h"
#include "kpg_trust.h"
#include "kpg_trust_build.h"

#define NOW   ((int64_t)1780000000)          /* 2026-05-28 */
#define GRACE ((int64_t)3600)
#define NEXT  (NOW + 30 * KPG_TK_DAY)

static struct kpg_tk_pki pki;
static char err[512];

static int setup(void)
{
	return kpg_tk_pki_new(&pki) == 0 ? 0 : -1;
}

static int teardown(void)
{
	kpg_tk_pki_delete(&pki);
	return 0;
}

static struct kpg_trust_opts opts_for(const struct kpg_anchors *a, int64_t now)
{
	struct kpg_trust_opts o = {
		.anchors = a,
		.now = now,
		.grace_s = GRACE,
		.slots = 2,
		.backend = KPG_BACKEND_DEFAULT,
	};
	return o;
}

/* Signs d with the given anchor and parses it as the gateway would. */
static enum kpg_trust_refusal parse_desc(const struct kpg_tlist_desc *d,
					 unsigned anchor, int64_t now,
					 struct kpg_trust **t)
{
	struct kpg_trust_opts o = opts_for(&pki.anchors, now);
	uint8_t *buf;
	size_t len;
	enum kpg_trust_refusal r;

	CU_ASSERT_FATAL(kpg_tlist_build(d, pki.anchor[anchor], &buf, &len) == 0);
	err[0] = '\0';
	r = kpg_trust_parse(&o, buf, len, 0, t, err, sizeof(err));
	free(buf);
	return r;
}

static enum kpg_trust_refusal parse_body(const uint8_t *body, size_t len,
					 struct kpg_trust **t)
{
	struct kpg_trust_opts o = opts_for(&pki.anchors, NOW);
	uint8_t *buf;
	size_t blen;
	enum kpg_trust_refusal r;

	CU_ASSERT_FATAL(kpg_tlist_sign(pki.anchor[0], body, len, &buf, &blen) == 0);
	err[0] = '\0';
	r = kpg_trust_parse(&o, buf, blen, 0, t, err, sizeof(err));
	free(buf);
	return r;
}

static void default_desc(struct kpg_tlist_desc *d, uint64_t version)
{
	CU_ASSERT_FATAL(kpg_tk_list_desc(&pki, d, version, NOW, NEXT, NULL) == 0);
}

static void auth_id(enum kpg_alg alg, uint8_t id[KPG_KEY_ID_LEN])
{
	kpg_signer_key_id(pki.auth[alg], id);
}

static void hex_of(const uint8_t *id, char out[2 * KPG_KEY_ID_LEN + 1])
{
	sodium_bin2hex(out, 2 * KPG_KEY_ID_LEN + 1, id, KPG_KEY_ID_LEN);
}

/* A private path in the pki dir, and no stale file left there. */
static const char *fresh(char *buf, size_t cap, const char *name)
{
	kpg_tk_path(buf, cap, pki.dir, name);
	unlink(buf);
	return buf;
}

static void test_valid_list_and_lookups(void)
{
	char list[600], state[600];
	struct kpg_trust_opts o = opts_for(&pki.anchors, NOW);
	struct kpg_trust *t = NULL;
	uint8_t id[KPG_KEY_ID_LEN], hash[32];
	uint64_t v;

	o.list_path = fresh(list, sizeof(list), "valid.kptl");
	o.state_path = fresh(state, sizeof(state), "valid.state");
	CU_ASSERT_FATAL(kpg_tk_write_list(&pki, list, 3, NOW, NEXT, NULL) == 0);
	CU_ASSERT_EQUAL_FATAL(kpg_trust_load(&o, 0, &t, err, sizeof(err)), KPG_TRUST_OK);
	CU_ASSERT_FATAL(t != NULL);
	CU_ASSERT_EQUAL(kpg_trust_version(t), 3);
	CU_ASSERT_EQUAL(kpg_trust_issued_at(t), NOW);
	CU_ASSERT_EQUAL(kpg_trust_next_update(t), NEXT);
	CU_ASSERT_EQUAL(kpg_trust_key_count(t), 3);
	for (int a = KPG_ALG_ECDSA_P256_SHA256; a <= KPG_ALG_RSA_PSS_SHA256; a++) {
		auth_id((enum kpg_alg)a, id);
		const struct kpg_trust_key *k = kpg_trust_find(t, id);

		CU_ASSERT_FATAL(k != NULL);
		CU_ASSERT_EQUAL(k->alg, a);
		CU_ASSERT_EQUAL(k->status, KPG_KEY_ACTIVE);
		CU_ASSERT_STRING_EQUAL(k->participant, "ZA");
		CU_ASSERT_STRING_EQUAL(k->authority, KPG_TK_AUTHORITY);
		CU_ASSERT(k->pub != NULL);
		CU_ASSERT(k->verifiers != NULL && k->verifiers[0] && k->verifiers[1]);
	}
	id[0] ^= 0xff;
	CU_ASSERT(kpg_trust_find(t, id) == NULL);
	CU_ASSERT_EQUAL(kpg_trust_participant(t, "ZA"), KPG_PARTICIPANT_MEMBER);
	CU_ASSERT_EQUAL(kpg_trust_participant(t, "EU"), KPG_PARTICIPANT_MEMBER);
	CU_ASSERT_EQUAL(kpg_trust_participant(t, "CF"), KPG_PARTICIPANT_RESTRICTED);
	CU_ASSERT_EQUAL(kpg_trust_participant(t, "US"), KPG_PARTICIPANT_NONE);
	CU_ASSERT_EQUAL(kpg_trust_participant(t, "za"), KPG_PARTICIPANT_NONE);
	CU_ASSERT_EQUAL(kpg_trust_participant(t, "Z\xff"), KPG_PARTICIPANT_NONE);
	/* The accepted version is what a restart will hold the next list to. */
	CU_ASSERT_EQUAL(kpg_trust_state_read(state, &v, hash), 0);
	CU_ASSERT_EQUAL(v, 3);
	kpg_trust_delete(t);
}

static void test_many_keys_lookup(void)
{
	struct kpg_tlist_desc d;
	struct kpg_trust *t = NULL;
	uint8_t spki[44] = { 0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65,
			     0x70, 0x03, 0x21, 0x00 };

	default_desc(&d, 1);
	/* Real Ed25519 public keys, so every one passes the weak-key checks. */
	for (int i = 0; i < 200; i++) {
		struct kpg_tlist_key k = {
			.alg = KPG_ALG_ED25519, .participant = "BW",
			.authority = "Botswana Diamond Hub", .not_after = NEXT,
			.status = KPG_KEY_ACTIVE,
		};
		uint8_t sk[64];

		crypto_sign_keypair(spki + 12, sk);
		memcpy(k.spki, spki, sizeof(spki));
		k.spki_len = sizeof(spki);
		CU_ASSERT_FATAL(kpg_tlist_add_key(&d, &k) == 0);
	}
	CU_ASSERT_EQUAL_FATAL(parse_desc(&d, 0, NOW, &t), KPG_TRUST_OK);
	CU_ASSERT_EQUAL(kpg_trust_key_count(t), 203);
	for (unsigned i = 0; i < d.n_keys; i++) {
		const struct kpg_trust_key *k = kpg_trust_find(t, d.keys[i].key_id);

		CU_ASSERT_FATAL(k != NULL);
		CU_ASSERT(memcmp(k->key_id, d.keys[i].key_id, KPG_KEY_ID_LEN) == 0);
	}
	kpg_trust_delete(t);
	kpg_tlist_desc_free(&d);
}

/* Re-packs a signed list after mutate() changed its envelope. */
static size_t tamper(const struct kpg_tlist_desc *d,
		     void (*mutate)(Kpgate__SignedTrustList *), uint8_t *out,
		     size_t cap)
{
	uint8_t *buf;
	size_t len;

	CU_ASSERT_FATAL(kpg_tlist_build(d, pki.anchor[0], &buf, &len) == 0);
	Kpgate__SignedTrustList *st = kpgate__signed_trust_list__unpack(NULL, len, buf);
	CU_ASSERT_FATAL(st != NULL);
	mutate(st);
	len = kpgate__signed_trust_list__get_packed_size(st);
	CU_ASSERT_FATAL(len <= cap);
	kpgate__signed_trust_list__pack(st, out);
	kpgate__signed_trust_list__free_unpacked(st, NULL);
	free(buf);
	return len;
}

static void flip_signature(Kpgate__SignedTrustList *st) { st->signature.data[10] ^= 1; }
static void flip_body(Kpgate__SignedTrustList *st) { st->body.data[st->body.len - 1] ^= 1; }

static void test_bad_signature(void)
{
	struct kpg_trust_opts o = opts_for(&pki.anchors, NOW);
	struct kpg_tlist_desc d;
	struct kpg_trust *t = NULL;
	static uint8_t buf[16384];
	size_t len;

	default_desc(&d, 1);
	len = tamper(&d, flip_signature, buf, sizeof(buf));
	CU_ASSERT_EQUAL(kpg_trust_parse(&o, buf, len, 0, &t, err, sizeof(err)),
			KPG_TRUST_BAD_SIGNATURE);
	CU_ASSERT(t == NULL);
	CU_ASSERT(strstr(err, "signature") != NULL);
	len = tamper(&d, flip_body, buf, sizeof(buf));
	CU_ASSERT_EQUAL(kpg_trust_parse(&o, buf, len, 0, &t, err, sizeof(err)),
			KPG_TRUST_BAD_SIGNATURE);
	CU_ASSERT(t == NULL);
	kpg_tlist_desc_free(&d);
}

static void test_unknown_anchor(void)
{
	struct kpg_tlist_desc d;
	struct kpg_trust *t = NULL;

	default_desc(&d, 1);
	CU_ASSERT_EQUAL(parse_desc(&d, 1, NOW, &t), KPG_TRUST_UNKNOWN_ANCHOR);
	CU_ASSERT(t == NULL);
	CU_ASSERT(strstr(err, "not a configured trust anchor") != NULL);
	kpg_tlist_desc_free(&d);
}

/* Claims anchor 0 but is signed by anchor 1. */
static void claim_anchor0(Kpgate__SignedTrustList *st)
{
	uint8_t *body = st->body.data;
	uint8_t sig[KPG_SIG_MAX];
	size_t sl = sizeof(sig);

	CU_ASSERT_FATAL(kpg_signer_sign(pki.anchor[1], body, st->body.len, sig, &sl) == 0);
	memcpy(st->signature.data, sig, sl);
}

static void test_second_anchor_during_rotation(void)
{
	struct kpg_anchors both = { 0 };
	struct kpg_trust_opts o = opts_for(&both, NOW);
	struct kpg_tlist_desc d;
	struct kpg_trust *t = NULL;
	static uint8_t buf[16384];
	uint8_t *signed_list;
	size_t len;

	CU_ASSERT_FATAL(kpg_anchors_add_file(&both, pki.anchor_pem[0], err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(kpg_anchors_add_file(&both, pki.anchor_pem[1], err, sizeof(err)) == 0);
	default_desc(&d, 1);
	for (unsigned a = 0; a < 2; a++) {
		CU_ASSERT_FATAL(kpg_tlist_build(&d, pki.anchor[a], &signed_list, &len) == 0);
		CU_ASSERT_EQUAL(kpg_trust_parse(&o, signed_list, len, 0, &t, err, sizeof(err)),
				KPG_TRUST_OK);
		CU_ASSERT(t != NULL);
		kpg_trust_delete(t);
		t = NULL;
		free(signed_list);
	}
	/* The anchor named must be the one that signed. */
	len = tamper(&d, claim_anchor0, buf, sizeof(buf));
	CU_ASSERT_EQUAL(kpg_trust_parse(&o, buf, len, 0, &t, err, sizeof(err)),
			KPG_TRUST_BAD_SIGNATURE);
	kpg_tlist_desc_free(&d);
}

static void test_anchor_files(void)
{
	struct kpg_anchors a = { 0 };
	char pub[600], key[600];
	uint8_t id[KPG_KEY_ID_LEN];

	CU_ASSERT_EQUAL(kpg_anchors_add_file(&a, pki.anchor_pem[0], err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(a.n, 1);
	kpg_signer_key_id(pki.anchor[0], id);
	CU_ASSERT(memcmp(a.key_id[0], id, KPG_KEY_ID_LEN) == 0);
	CU_ASSERT(kpg_anchors_add_file(&a, pki.anchor_pem[0], err, sizeof(err)) < 0);
	CU_ASSERT(kpg_anchors_add_file(&a, "/nonexistent/anchor.pub", err, sizeof(err)) < 0);
	CU_ASSERT(strstr(err, "/nonexistent/anchor.pub") != NULL);
	/* An anchor is Ed25519 by protocol: a P-256 key is refused. */
	kpg_tk_path(pub, sizeof(pub), pki.dir, "p256.pub");
	kpg_tk_path(key, sizeof(key), pki.dir, "p256.key");
	CU_ASSERT_FATAL(kpg_signer_save(pki.auth[KPG_ALG_ECDSA_P256_SHA256], key, pub) == 0);
	CU_ASSERT(kpg_anchors_add_file(&a, pub, err, sizeof(err)) < 0);
	CU_ASSERT(strstr(err, "Ed25519") != NULL);
	CU_ASSERT_EQUAL(a.n, 1);
	CU_ASSERT_EQUAL(kpg_anchors_add_file(&a, pki.anchor_pem[1], err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(a.n, 2);
}

static void test_rollback_across_restart(void)
{
	char v5[600], v5b[600], v4[600], state[600];
	struct kpg_trust_opts o = opts_for(&pki.anchors, NOW);
	struct kpg_trust *t = NULL;
	struct kpg_tlist_desc d;

	fresh(v5, sizeof(v5), "rb5.kptl");
	fresh(v5b, sizeof(v5b), "rb5b.kptl");
	fresh(v4, sizeof(v4), "rb4.kptl");
	o.state_path = fresh(state, sizeof(state), "rb.state");
	CU_ASSERT_FATAL(kpg_tk_write_list(&pki, v5, 5, NOW, NEXT, NULL) == 0);
	CU_ASSERT_FATAL(kpg_tk_write_list(&pki, v4, 4, NOW, NEXT, NULL) == 0);
	/* Same version, other body: an anchor signing two lists as one. */
	CU_ASSERT_FATAL(kpg_tk_list_desc(&pki, &d, 5, NOW, NEXT + 1, NULL) == 0);
	CU_ASSERT_FATAL(kpg_tk_list_write(&pki, 0, &d, v5b) == 0);
	kpg_tlist_desc_free(&d);

	o.list_path = v5;
	CU_ASSERT_EQUAL_FATAL(kpg_trust_load(&o, 0, &t, err, sizeof(err)), KPG_TRUST_OK);
	kpg_trust_delete(t);

	/* Restart: nothing in force, only the state file remembers. */
	t = NULL;
	o.list_path = v4;
	CU_ASSERT_EQUAL(kpg_trust_load(&o, 0, &t, err, sizeof(err)), KPG_TRUST_ROLLBACK);
	CU_ASSERT(t == NULL);
	CU_ASSERT(strstr(err, "version 4 is below the highest accepted version 5") != NULL);

	o.list_path = v5;
	CU_ASSERT_EQUAL(kpg_trust_load(&o, 0, &t, err, sizeof(err)), KPG_TRUST_OK);
	CU_ASSERT(t != NULL && kpg_trust_version(t) == 5);
	kpg_trust_delete(t);
	t = NULL;

	o.list_path = v5b;
	CU_ASSERT_EQUAL(kpg_trust_load(&o, 0, &t, err, sizeof(err)), KPG_TRUST_NOT_NEWER);
	CU_ASSERT(t == NULL);

	/* Without the state file the same v4 would pass: the file is the memory. */
	o.state_path = NULL;
	o.list_path = v4;
	CU_ASSERT_EQUAL(kpg_trust_load(&o, 0, &t, err, sizeof(err)), KPG_TRUST_OK);
	kpg_trust_delete(t);
}

static void test_reload_versions(void)
{
	char v5[600], v6[600], state[600];
	struct kpg_trust_opts o = opts_for(&pki.anchors, NOW);
	struct kpg_trust *t5 = NULL, *t = NULL;
	uint8_t hash[32];
	uint64_t v;

	fresh(v5, sizeof(v5), "rl5.kptl");
	fresh(v6, sizeof(v6), "rl6.kptl");
	o.state_path = fresh(state, sizeof(state), "rl.state");
	CU_ASSERT_FATAL(kpg_tk_write_list(&pki, v5, 5, NOW, NEXT, NULL) == 0);
	CU_ASSERT_FATAL(kpg_tk_write_list(&pki, v6, 6, NOW, NEXT, NULL) == 0);
	o.list_path = v5;
	CU_ASSERT_EQUAL_FATAL(kpg_trust_load(&o, 0, &t5, err, sizeof(err)), KPG_TRUST_OK);

	CU_ASSERT_EQUAL(kpg_trust_load(&o, 5, &t, err, sizeof(err)), KPG_TRUST_NOT_NEWER);
	CU_ASSERT(t == NULL);
	CU_ASSERT(strstr(err, "not newer") != NULL);

	o.list_path = v6;
	CU_ASSERT_EQUAL(kpg_trust_load(&o, 5, &t, err, sizeof(err)), KPG_TRUST_OK);
	CU_ASSERT(t != NULL && kpg_trust_version(t) == 6);
	CU_ASSERT_EQUAL(kpg_trust_state_read(state, &v, hash), 0);
	CU_ASSERT_EQUAL(v, 6);
	kpg_trust_delete(t);
	kpg_trust_delete(t5);

	/* kpg_trust_parse: min_version is the floor, inclusive. */
	struct kpg_tlist_desc d;
	uint8_t *buf;
	size_t len;

	default_desc(&d, 6);
	CU_ASSERT_FATAL(kpg_tlist_build(&d, pki.anchor[0], &buf, &len) == 0);
	CU_ASSERT_EQUAL(kpg_trust_parse(&o, buf, len, 7, &t, err, sizeof(err)),
			KPG_TRUST_NOT_NEWER);
	CU_ASSERT_EQUAL(kpg_trust_parse(&o, buf, len, 6, &t, err, sizeof(err)),
			KPG_TRUST_OK);
	kpg_trust_delete(t);
	free(buf);
	kpg_tlist_desc_free(&d);
}

static void test_stale(void)
{
	struct kpg_tlist_desc d;
	struct kpg_trust *t = NULL;

	default_desc(&d, 1);
	CU_ASSERT_EQUAL(parse_desc(&d, 0, NEXT + GRACE, &t), KPG_TRUST_OK);
	kpg_trust_delete(t);
	t = NULL;
	CU_ASSERT_EQUAL(parse_desc(&d, 0, NEXT + GRACE - 1, &t), KPG_TRUST_OK);
	kpg_trust_delete(t);
	t = NULL;
	CU_ASSERT_EQUAL(parse_desc(&d, 0, NEXT + GRACE + 1, &t), KPG_TRUST_STALE);
	CU_ASSERT(t == NULL);
	CU_ASSERT(strstr(err, "stale") != NULL);
	kpg_tlist_desc_free(&d);
}

/* Adds a key with this SPKI to the default list, expects it refused as
 * BAD_KEY with its key id in the message. */
static void expect_bad_key(const uint8_t *spki, size_t len, enum kpg_alg alg,
			   const char *why)
{
	struct kpg_tlist_desc d;
	struct kpg_trust *t = NULL;
	struct kpg_tlist_key k = {
		.alg = alg, .participant = "ZA", .authority = "Weak Keys Ltd",
		.not_after = NEXT, .status = KPG_KEY_ACTIVE,
	};
	char hex[2 * KPG_KEY_ID_LEN + 1];

	memcpy(k.spki, spki, len);
	k.spki_len = len;
	default_desc(&d, 1);
	CU_ASSERT_FATAL(kpg_tlist_add_key(&d, &k) == 0);
	CU_ASSERT_EQUAL(parse_desc(&d, 0, NOW, &t), KPG_TRUST_BAD_KEY);
	CU_ASSERT(t == NULL);
	hex_of(d.keys[d.n_keys - 1].key_id, hex);
	CU_ASSERT(strstr(err, hex) != NULL);
	if (why != NULL && strstr(err, why) == NULL) {
		fprintf(stderr, "\n  refusal was: %s\n", err);
		CU_FAIL("refusal does not give the reason");
	}
	kpg_tlist_desc_free(&d);
}

static void test_rsa1024_refused(void)
{
	EVP_PKEY *pk = EVP_RSA_gen(1024);
	uint8_t der[KPG_SPKI_MAX], *p = der;
	int n;

	CU_ASSERT_FATAL(pk != NULL);
	n = i2d_PUBKEY(pk, &p);
	CU_ASSERT_FATAL(n > 0 && n <= (int)sizeof(der));
	expect_bad_key(der, (size_t)n, KPG_ALG_RSA_PSS_SHA256, "2048");
	EVP_PKEY_free(pk);
}

static void test_ed25519_small_order_refused(void)
{
	static const uint8_t points[][32] = {
		/* the identity, y = 1 */
		{ 0x01 },
		/* a point of order 8 */
		{ 0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b,
		  0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39,
		  0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a },
		/* y = p + 1: a non-canonical encoding of the identity */
		{ 0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
	};
	uint8_t spki[44] = { 0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65,
			     0x70, 0x03, 0x21, 0x00 };

	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		memcpy(spki + 12, points[i], 32);
		expect_bad_key(spki, sizeof(spki), KPG_ALG_ED25519, NULL);
	}
}

static void test_key_id_mismatch_refused(void)
{
	struct kpg_tlist_desc d;
	struct kpg_trust *t = NULL;

	default_desc(&d, 1);
	d.keys[1].key_id[7] ^= 0x40;
	CU_ASSERT_EQUAL(parse_desc(&d, 0, NOW, &t), KPG_TRUST_BAD_KEY);
	CU_ASSERT(t == NULL);
	CU_ASSERT(strstr(err, "does not match") != NULL);
	kpg_tlist_desc_free(&d);
}

static void test_duplicate_key_refused(void)
{
	struct kpg_tlist_desc d;
	struct kpg_trust *t = NULL;
	struct kpg_tlist_key k;

	default_desc(&d, 1);
	k = d.keys[2];
	k.status = KPG_KEY_REVOKED;
	k.status_since = NOW;
	CU_ASSERT_FATAL(kpg_tlist_add_key(&d, &k) == 0);
	CU_ASSERT_EQUAL(parse_desc(&d, 0, NOW, &t), KPG_TRUST_BAD_KEY);
	CU_ASSERT(t == NULL);
	CU_ASSERT(strstr(err, "twice") != NULL);
	kpg_tlist_desc_free(&d);
}

static void test_bad_entries_refused(void)
{
	struct kpg_tlist_desc d;
	struct kpg_trust *t = NULL;

	default_desc(&d, 1);
	strcpy(d.keys[0].participant, "za");
	CU_ASSERT_EQUAL(parse_desc(&d, 0, NOW, &t), KPG_TRUST_BAD_KEY);
	strcpy(d.keys[0].participant, "ZA");
	/* An unknown enum value is already a wire fault for the pre-scan. */
	d.keys[0].status = (enum kpg_key_status)7;
	CU_ASSERT_EQUAL(parse_desc(&d, 0, NOW, &t), KPG_TRUST_MALFORMED);
	CU_ASSERT(t == NULL);
	d.keys[0].status = KPG_KEY_ACTIVE;
	/* The algorithm is bound to the key: a P-256 key listed as RSA fails. */
	d.keys[0].alg = KPG_ALG_RSA_PSS_SHA256;
	CU_ASSERT_EQUAL(parse_desc(&d, 0, NOW, &t), KPG_TRUST_BAD_KEY);
	d.keys[0].alg = KPG_ALG_ECDSA_P256_SHA256;
	CU_ASSERT_EQUAL(parse_desc(&d, 0, NOW, &t), KPG_TRUST_OK);
	kpg_trust_delete(t);
	t = NULL;
	CU_ASSERT_FATAL(kpg_tlist_add_participant(&d, "ZA", KPG_PARTICIPANT_SUSPENDED) == 0);
	CU_ASSERT_EQUAL(parse_desc(&d, 0, NOW, &t), KPG_TRUST_MALFORMED);
	CU_ASSERT(t == NULL);
	kpg_tlist_desc_free(&d);
}

static void test_malformed_body_refused(void)
{
	struct kpg_trust_opts o = opts_for(&pki.anchors, NOW);
	struct kpg_tlist_desc d;
	struct kpg_trust *t = NULL;
	uint8_t *body, *moved;
	size_t len;
	static const uint8_t garbage[] = { 0x08, 0x96, 0x01, 0x22, 0x40, 0x01 };
	static const uint8_t not_a_list[] = { 0xff, 0xff, 0xff };

	CU_ASSERT_EQUAL(parse_body(garbage, sizeof(garbage), &t), KPG_TRUST_MALFORMED);
	CU_ASSERT(t == NULL);

	/* Move the version field (first, 2 bytes) to the end: protobuf-c would
	 * read the same list, the canonical pre-scan must not. */
	default_desc(&d, 1);
	CU_ASSERT_FATAL(kpg_tlist_pack_body(&d, &body, &len) == 0);
	CU_ASSERT_FATAL(body[0] == 0x08 && body[1] == 0x01);
	moved = malloc(len);
	memcpy(moved, body + 2, len - 2);
	memcpy(moved + len - 2, body, 2);
	CU_ASSERT_EQUAL(parse_body(moved, len, &t), KPG_TRUST_MALFORMED);
	CU_ASSERT(t == NULL);
	CU_ASSERT(strstr(err, "canonical") != NULL);

	/* A non-minimal varint for the version: 0x81 0x00 reads as 1. */
	uint8_t *padded = malloc(len + 1);
	padded[0] = 0x08;
	padded[1] = 0x81;
	padded[2] = 0x00;
	memcpy(padded + 3, body + 2, len - 2);
	CU_ASSERT_EQUAL(parse_body(padded, len + 1, &t), KPG_TRUST_MALFORMED);
	CU_ASSERT(t == NULL);

	/* The canonical body itself passes, signed the same way. */
	CU_ASSERT_EQUAL(parse_body(body, len, &t), KPG_TRUST_OK);
	kpg_trust_delete(t);
	t = NULL;

	CU_ASSERT_EQUAL(kpg_trust_parse(&o, not_a_list, sizeof(not_a_list), 0, &t,
					err, sizeof(err)), KPG_TRUST_MALFORMED);
	CU_ASSERT_EQUAL(kpg_trust_parse(&o, not_a_list, 0, 0, &t, err, sizeof(err)),
			KPG_TRUST_MALFORMED);
	CU_ASSERT(t == NULL);
	free(padded);
	free(moved);
	free(body);
	kpg_tlist_desc_free(&d);
}

static void test_refused_reload_keeps_old(void)
{
	char good[600], state[600];
	struct kpg_trust_opts o = opts_for(&pki.anchors, NOW);
	struct kpg_trust *old = NULL, *t = NULL;
	enum kpg_key_status st[4] = { 0, KPG_KEY_ACTIVE, KPG_KEY_REVOKED, KPG_KEY_ACTIVE };
	uint8_t id[KPG_KEY_ID_LEN], sig[KPG_SIG_MAX];
	size_t sl = sizeof(sig);
	static const uint8_t msg[] = "rough diamonds, 123.45 ct";

	o.list_path = fresh(good, sizeof(good), "keep.kptl");
	o.state_path = fresh(state, sizeof(state), "keep.state");
	CU_ASSERT_FATAL(kpg_tk_write_list(&pki, good, 2, NOW, NEXT, NULL) == 0);
	CU_ASSERT_EQUAL_FATAL(kpg_trust_load(&o, 0, &old, err, sizeof(err)), KPG_TRUST_OK);

	/* A stale v3 with the Ed25519 key revoked arrives and is refused. */
	CU_ASSERT_FATAL(kpg_tk_write_list(&pki, good, 3, NOW, NOW - 2 * GRACE, st) == 0);
	CU_ASSERT_EQUAL(kpg_trust_load(&o, 2, &t, err, sizeof(err)), KPG_TRUST_STALE);
	CU_ASSERT(t == NULL);

	/* The old snapshot still answers, and its verifiers still verify. */
	CU_ASSERT_EQUAL(kpg_trust_version(old), 2);
	auth_id(KPG_ALG_ED25519, id);
	const struct kpg_trust_key *k = kpg_trust_find(old, id);
	CU_ASSERT_FATAL(k != NULL);
	CU_ASSERT_EQUAL(k->status, KPG_KEY_ACTIVE);
	CU_ASSERT_FATAL(kpg_signer_sign(pki.auth[KPG_ALG_ED25519], msg, sizeof(msg),
					sig, &sl) == 0);
	struct kpg_verify_op op = {
		.v = k->verifiers[1], .msg = msg, .msg_len = sizeof(msg),
		.sig = sig, .sig_len = sl,
	};
	CU_ASSERT_EQUAL(kpg_verify_batch(&op, 1), 1);
	CU_ASSERT_EQUAL(op.ok, 1);

	/* The refused list did not move the persisted version either. */
	uint64_t v;
	uint8_t hash[32];
	CU_ASSERT_EQUAL(kpg_trust_state_read(state, &v, hash), 0);
	CU_ASSERT_EQUAL(v, 2);
	kpg_trust_delete(old);
}

static void test_io_and_state_errors(void)
{
	char path[600], state[600];
	struct kpg_trust_opts o = opts_for(&pki.anchors, NOW);
	struct kpg_trust *t = NULL;
	uint8_t hash[32], h2[32];
	uint64_t v;

	o.list_path = "/nonexistent/list.kptl";
	CU_ASSERT_EQUAL(kpg_trust_load(&o, 0, &t, err, sizeof(err)), KPG_TRUST_IO);
	CU_ASSERT(strstr(err, "/nonexistent/list.kptl") != NULL);

	fresh(state, sizeof(state), "io.state");
	CU_ASSERT_EQUAL(kpg_trust_state_read(state, &v, hash), 0);
	CU_ASSERT_EQUAL(v, 0);
	memset(hash, 0xab, sizeof(hash));
	CU_ASSERT_EQUAL(kpg_trust_state_write(state, 42, hash), 0);
	CU_ASSERT_EQUAL(kpg_trust_state_read(state, &v, h2), 0);
	CU_ASSERT_EQUAL(v, 42);
	CU_ASSERT(memcmp(hash, h2, 32) == 0);

	/* A damaged state file refuses every list rather than forget. */
	CU_ASSERT_FATAL(kpg_file_write(state, "version 9\nbody-sha256 zz\n", 25, 0644) == 0);
	CU_ASSERT(kpg_trust_state_read(state, &v, hash) < 0);
	o.list_path = fresh(path, sizeof(path), "io.kptl");
	o.state_path = state;
	CU_ASSERT_FATAL(kpg_tk_write_list(&pki, path, 10, NOW, NEXT, NULL) == 0);
	CU_ASSERT_EQUAL(kpg_trust_load(&o, 0, &t, err, sizeof(err)), KPG_TRUST_STATE);
	CU_ASSERT(t == NULL);

	/* An unwritable state file refuses the list: it could not be remembered. */
	o.state_path = "/nonexistent/dir/state";
	CU_ASSERT_EQUAL(kpg_trust_load(&o, 0, &t, err, sizeof(err)), KPG_TRUST_STATE);
	CU_ASSERT(t == NULL);
	CU_ASSERT_STRING_EQUAL(kpg_trust_refusal_name(KPG_TRUST_ROLLBACK), "rollback");
}

static void test_list_read_back(void)
{
	struct kpg_tlist_desc d, r;
	uint8_t *buf, anchor[KPG_KEY_ID_LEN], want[KPG_KEY_ID_LEN];
	size_t len;

	default_desc(&d, 7);
	d.keys[1].status = KPG_KEY_RETIRED;
	d.keys[1].status_since = NOW - 5;
	CU_ASSERT_FATAL(kpg_tlist_build(&d, pki.anchor[1], &buf, &len) == 0);
	CU_ASSERT_FATAL(kpg_tlist_read(buf, len, &r, anchor, err, sizeof(err)) == 0);
	kpg_signer_key_id(pki.anchor[1], want);
	CU_ASSERT(memcmp(anchor, want, KPG_KEY_ID_LEN) == 0);
	CU_ASSERT_EQUAL(r.version, 7);
	CU_ASSERT_EQUAL(r.issued_at, NOW);
	CU_ASSERT_EQUAL(r.next_update, NEXT);
	CU_ASSERT_EQUAL_FATAL(r.n_keys, d.n_keys);
	for (unsigned i = 0; i < d.n_keys; i++) {
		CU_ASSERT(memcmp(r.keys[i].key_id, d.keys[i].key_id, KPG_KEY_ID_LEN) == 0);
		CU_ASSERT_EQUAL(r.keys[i].spki_len, d.keys[i].spki_len);
		CU_ASSERT(memcmp(r.keys[i].spki, d.keys[i].spki, d.keys[i].spki_len) == 0);
		CU_ASSERT_EQUAL(r.keys[i].alg, d.keys[i].alg);
		CU_ASSERT_EQUAL(r.keys[i].status, d.keys[i].status);
		CU_ASSERT_EQUAL(r.keys[i].status_since, d.keys[i].status_since);
		CU_ASSERT_STRING_EQUAL(r.keys[i].authority, d.keys[i].authority);
	}
	CU_ASSERT_EQUAL(r.n_participants, d.n_participants);
	CU_ASSERT_EQUAL(kpg_tlist_find_key(&r, d.keys[2].key_id), 2);
	kpg_tlist_desc_free(&r);
	free(buf);
	kpg_tlist_desc_free(&d);
}

static void test_certificate_fits_datagram(void)
{
	struct kpg_tk_cert tc;
	uint8_t *sc, dgram[2048];
	size_t len;
	char *seals[64];

	for (int a = KPG_ALG_ECDSA_P256_SHA256; a <= KPG_ALG_RSA_PSS_SHA256; a++) {
		int n = kpg_tk_default_request(&pki, (enum kpg_alg)a, 1, NOW, dgram,
					       sizeof(dgram));
		CU_ASSERT(n > 0 && n <= (int)KPG_DATAGRAM_MAX);
		CU_ASSERT(n > 0 && dgram[0] == 'K' && dgram[1] == 'P' && dgram[2] == 1 &&
			  dgram[3] == 1);
	}
	/* Enough seal numbers push an RSA-signed certificate past the bound. */
	kpg_tk_cert_default(&tc, NOW);
	for (int i = 0; i < 64; i++)
		seals[i] = (char *)"SEAL-ZA-000000000001";
	tc.c.container_seals = seals;
	tc.c.n_container_seals = 64;
	CU_ASSERT_EQUAL(kpg_signed_cert_issue(pki.auth[KPG_ALG_RSA_PSS_SHA256], &tc.c,
					      &sc, &len, err, sizeof(err)), -EMSGSIZE);
	CU_ASSERT(sc == NULL);
	CU_ASSERT(strstr(err, "1200") != NULL);
	CU_ASSERT(KPG_REQUEST_OVERHEAD_MAX < KPG_DATAGRAM_MAX / 4);
}

static const struct kpg_cunit_test tests[] = {
	{ "valid list loads, lookups work", test_valid_list_and_lookups },
	{ "200 keys all found", test_many_keys_lookup },
	{ "bad signature refused", test_bad_signature },
	{ "unknown anchor refused", test_unknown_anchor },
	{ "second anchor accepted in rotation", test_second_anchor_during_rotation },
	{ "anchor files", test_anchor_files },
	{ "rollback refused across restart", test_rollback_across_restart },
	{ "reload needs a higher version", test_reload_versions },
	{ "stale past next_update + grace", test_stale },
	{ "RSA-1024 key refused", test_rsa1024_refused },
	{ "Ed25519 small-order key refused", test_ed25519_small_order_refused },
	{ "key id mismatch refused", test_key_id_mismatch_refused },
	{ "duplicate key id refused", test_duplicate_key_refused },
	{ "bad key and participant entries", test_bad_entries_refused },
	{ "malformed and non-canonical body refused", test_malformed_body_refused },
	{ "refused reload leaves old snapshot", test_refused_reload_keeps_old },
	{ "io and state errors", test_io_and_state_errors },
	{ "signed list reads back", test_list_read_back },
	{ "certificate must fit a datagram", test_certificate_fits_datagram },
	{ NULL, NULL },
};

int main(void)
{
	return kpg_cunit_run("trust", tests, setup, teardown);
}
