/* fuzz_trust.c — kpg_trust_parse() on arbitrary signed-list bytes, with
 * one fixed Ed25519 trust anchor.
 *
 * Input: one flags byte, then the rest.
 *   bit 0  sign mode: the rest is a TrustListBody, which the harness signs
 *          with the anchor (as kpgate-authority would), so that mutations
 *          get past the signature into the body and key checks; clear: the
 *          rest is a SignedTrustList as is
 *   bit 1  a reload: the version must be above 5
 * Checked beyond "no crash": a refusal says why; an accepted list finds
 * each of its keys by its id, and is never older than asked. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kpg_sign.h"
#include "kpg_trust.h"
#include "kpg_trust_build.h"
#include "fuzz_check.h"

/* The lists' clock, fixed so that seeds stay fresh (see fuzz_engine.c). */
#define FUZZ_NOW INT64_C(1795500000)

static struct kpg_signer *anchor;
static struct kpg_anchors anchors;

static void fuzz_trust_fini(void)
{
	kpg_signer_delete(anchor);
}

static void fuzz_trust_init(void)
{
	char err[256];

	anchor = kpg_signer_generate(KPG_ALG_ED25519, 0);
	FUZZ_CHECK(anchor != NULL);
	FUZZ_CHECK(kpg_tlist_anchor_of(anchor, &anchors, err, sizeof(err)) == 0);
	atexit(fuzz_trust_fini);
}

static void check_list(const struct kpg_trust *t, uint64_t min_version)
{
	unsigned n = kpg_trust_key_count(t);

	FUZZ_CHECK(kpg_trust_version(t) >= min_version && kpg_trust_version(t) > 0);
	for (unsigned i = 0; i < n; i++) {
		const struct kpg_trust_key *k = kpg_trust_key_at(t, i);

		FUZZ_CHECK(k != NULL && k->pub != NULL && k->authority != NULL);
		FUZZ_CHECK(kpg_trust_find(t, k->key_id) == k);
		FUZZ_CHECK(k->status >= KPG_KEY_ACTIVE && k->status <= KPG_KEY_REVOKED);
		FUZZ_CHECK(k->verifiers != NULL && k->verifiers[0] != NULL);
		(void)kpg_trust_participant(t, k->participant);
	}
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const struct kpg_trust_opts o = {
		.anchors = &anchors,
		.now = FUZZ_NOW,
		.grace_s = 86400,
		.slots = 1,
	};
	uint64_t min_version;
	struct kpg_trust *t = NULL;
	enum kpg_trust_refusal r;
	char err[512] = "";
	uint8_t *list = NULL;
	size_t len;

	if (anchor == NULL)
		fuzz_trust_init();
	if (size < 1)
		return 0;
	min_version = data[0] & 2 ? 6 : 0;
	if (data[0] & 1) {
		FUZZ_CHECK(kpg_tlist_sign(anchor, data + 1, size - 1, &list, &len) == 0);
	} else {
		/* exactly the input's size, so ASan sees an overread */
		len = size - 1;
		list = malloc(len ? len : 1);
		FUZZ_CHECK(list != NULL);
		memcpy(list, data + 1, len);
	}

	r = kpg_trust_parse(&o, list, len, min_version, &t, err, sizeof(err));
	FUZZ_CHECK((unsigned)r < KPG_TRUST__COUNT);
	if (r == KPG_TRUST_OK) {
		FUZZ_CHECK(t != NULL);
		check_list(t, min_version);
		kpg_trust_delete(t);
	} else {
		FUZZ_CHECK(t == NULL && err[0] != '\0');
		FUZZ_CHECK(strlen(kpg_trust_refusal_name(r)) > 0);
	}
	free(list);
	return 0;
}
