/* fuzz_request.c — the request decoder on arbitrary bytes.
 *
 * The input is read twice: as a whole request datagram (kpg_request_parse,
 * then kpg_cert_scan and kpg_cert_decode of the certificate it carries, as
 * the engine does once the signature holds), and as certificate bytes on
 * their own, so mutations reach the certificate decoder directly.
 *
 * Checked beyond "no crash": the request view points only inside the
 * datagram and keeps its size limits; a certificate out of a request that
 * fits one datagram always decodes within the gateway's arena; a decoded
 * certificate keeps the promises of kpg_cert.h. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "kpg_arena.h"
#include "kpg_cert.h"
#include "kpg_limits.h"
#include "kpg_request.h"
#include "fuzz_check.h"

/* The gateway's decoding arena per lcore (gw_worker.c). */
#define ARENA_BYTES (64u * 1024u)

static void check_within(const struct kpg_bytes *b, const uint8_t *p, size_t len)
{
	if (b->len == 0)
		return;
	FUZZ_CHECK(b->p >= p && b->p + b->len <= p + len);
}

static void check_str(const struct kpg_str *s)
{
	FUZZ_CHECK(s->p != NULL && strlen(s->p) == s->len);
}

static void check_cert(const struct kpg_cert *c)
{
	check_str(&c->number);
	check_str(&c->issuing_authority);
	check_str(&c->exporter.name);
	check_str(&c->importer.name);
	check_str(&c->traceability_ref);
	FUZZ_CHECK(kpg_participant_code_valid(c->issuing_participant, 2));
	FUZZ_CHECK(kpg_participant_code_valid(c->importing_participant, 2));
	FUZZ_CHECK(c->n_lines >= 1 && c->lines != NULL);
	FUZZ_CHECK(c->parcels >= 1);
	FUZZ_CHECK(c->expiry_date >= c->issue_date);
	for (uint32_t i = 0; i < c->n_origins; i++) {
		FUZZ_CHECK(kpg_participant_code_valid(c->origins[i].country, 2));
		check_str(&c->origins[i].zone);
	}
	for (uint32_t i = 0; i < c->n_seals; i++)
		check_str(&c->seals[i]);
}

/* Certificate bytes through the canonical scan and, if they pass, the
 * decoder. in_request: they came out of a datagram the gateway accepts. */
static void cert_path(struct kpg_arena *a, const uint8_t *p, size_t len,
		      bool in_request)
{
	const char *why = NULL;
	struct kpg_cert c;
	int rc;

	if (kpg_cert_scan(p, len) != KPG_WIRE_OK)
		return;
	rc = kpg_cert_decode(p, len, a, &c, &why);
	if (rc == 0)
		check_cert(&c);
	else
		FUZZ_CHECK(why != NULL && *why != '\0');
	/* A full arena would refuse a genuine certificate: the arena is
	 * sized for anything one datagram can carry. */
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG || (rc == -ENOMEM && !in_request));
	kpg_arena_reset(a);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static struct kpg_arena arena;
	struct kpg_request rq;
	int r;

	if (arena.base == NULL)
		FUZZ_CHECK(kpg_arena_init(&arena, ARENA_BYTES) == 0);

	r = kpg_request_parse(data, size, &rq);
	FUZZ_CHECK(r >= 0 && r < KPG_REQ__COUNT);
	FUZZ_CHECK(strcmp(kpg_request_reason_name(r), "unknown_reason") != 0);
	if (r == KPG_REQ_OK) {
		FUZZ_CHECK(size <= KPG_DATAGRAM_MAX);
		check_within(&rq.station_id, data, size);
		check_within(&rq.cert, data, size);
		check_within(&rq.sig, data, size);
		check_within(&rq.key_id, data, size);
		check_within(&rq.hmac, data, size);
		check_within(&rq.seal_number, data, size);
		FUZZ_CHECK(rq.key_id.len == KPG_KEY_ID_LEN);
		FUZZ_CHECK(rq.station_id.len <= KPG_STATION_ID_MAX);
		FUZZ_CHECK(rq.sig.len <= KPG_SIG_MAX);
		FUZZ_CHECK(rq.hmac.len <= KPG_HMAC_MAX);
		FUZZ_CHECK(rq.seal_number.len <= KPG_STR_MAX);
		FUZZ_CHECK(rq.hmac_covered <= size);
		/* the HMAC is the last field: nothing rides after it */
		if (rq.hmac.len)
			FUZZ_CHECK(rq.hmac.p + rq.hmac.len == data + size);
		cert_path(&arena, rq.cert.p, rq.cert.len, true);
	}
	cert_path(&arena, data, size, false);
	return 0;
}
