/* kpg_response.c — a ScanResponse encoded by hand, straight into the reply.
 * The message is small and fixed (proto/kpgate.proto): its size is summed
 * from the fields' lengths, so fitting it to the request's size costs a few
 * additions per try, then the bytes are written once, in field order, as
 * protobuf-c would pack them (test_response checks they are the same). */
#include <errno.h>
#include <string.h>

#include "kpg_limits.h"
#include "kpg_response.h"

/* Field tags: (number << 3) | wire type. */
#define TAG_REQUEST_ID   0x08u   /* 1 varint */
#define TAG_DECISION     0x10u   /* 2 varint */
#define TAG_VERDICT      0x1au   /* 3 length-delimited */
#define TAG_TRUST_VER    0x20u   /* 4 varint */
#define TAG_ERROR        0x28u   /* 5 varint */
#define TAG_HMAC         0x7au   /* 15 length-delimited */
#define TAG_V_CHECK      0x0au   /* Verdict 1 string */
#define TAG_V_DECISION   0x10u   /* Verdict 2 varint */
#define TAG_V_REASON     0x18u   /* Verdict 3 varint */
#define TAG_V_DETAIL     0x22u   /* Verdict 4 string */

static inline size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static inline uint8_t *varint_put(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* An enum goes out as an int32: a negative one would take ten bytes. */
static inline uint64_t enum_wire(int v)
{
	return (uint64_t)(int64_t)v;
}

/* Longest prefix of s (len bytes) no longer than max bytes that ends on
 * a UTF-8 character boundary, so a cut detail stays valid UTF-8. */
static uint32_t utf8_prefix(const char *s, uint32_t len, uint32_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

struct plan {
	unsigned n;
	const struct kpg_verdict *v[KPG_VERDICTS_MAX];
	uint32_t check_len[KPG_VERDICTS_MAX];
	uint32_t full_len[KPG_VERDICTS_MAX];   /* detail, uncut */
	uint32_t detail_len[KPG_VERDICTS_MAX]; /* as it goes out; 0: omitted */
	uint32_t inner[KPG_VERDICTS_MAX];      /* Verdict message length */
	size_t fixed;                          /* every field but the verdicts */
};

static size_t verdict_inner(const struct plan *pl, unsigned i)
{
	const struct kpg_verdict *v = pl->v[i];
	size_t n = 1 + varint_len(pl->check_len[i]) + pl->check_len[i] +
		   1 + varint_len(enum_wire((int)v->decision)) +
		   1 + varint_len(v->reason);

	if (pl->detail_len[i])
		n += 1 + varint_len(pl->detail_len[i]) + pl->detail_len[i];
	return n;
}

/* Body size with details cut to limit bytes. */
static size_t plan_size(struct plan *pl, uint32_t limit)
{
	size_t size = pl->fixed;

	for (unsigned i = 0; i < pl->n; i++) {
		pl->detail_len[i] = utf8_prefix(pl->v[i]->detail, pl->full_len[i], limit);
		pl->inner[i] = (uint32_t)verdict_inner(pl, i);
		size += 1 + varint_len(pl->inner[i]) + pl->inner[i];
	}
	return size;
}

static size_t plan_sum(const struct plan *pl)
{
	size_t size = pl->fixed;

	for (unsigned i = 0; i < pl->n; i++)
		size += 1 + varint_len(pl->inner[i]) + pl->inner[i];
	return size;
}

/* Removes verdict i, keeping the order of the rest. */
static void plan_drop(struct plan *pl, unsigned i)
{
	unsigned rest = pl->n - i - 1;

	memmove(&pl->v[i], &pl->v[i + 1], rest * sizeof(pl->v[0]));
	memmove(&pl->check_len[i], &pl->check_len[i + 1], rest * sizeof(pl->check_len[0]));
	memmove(&pl->full_len[i], &pl->full_len[i + 1], rest * sizeof(pl->full_len[0]));
	memmove(&pl->detail_len[i], &pl->detail_len[i + 1], rest * sizeof(pl->detail_len[0]));
	memmove(&pl->inner[i], &pl->inner[i + 1], rest * sizeof(pl->inner[0]));
	pl->n--;
}

int kpg_response_encode(const struct kpg_answer *a, uint8_t *out, size_t cap)
{
	struct plan pl;
	size_t body_cap, size;
	uint8_t *p;

	if (cap < KPG_HDR_LEN)
		return -ENOSPC;
	body_cap = cap - KPG_HDR_LEN;

	pl.fixed = 1 + varint_len(a->request_id) +
		   1 + varint_len(enum_wire((int)a->decision)) +
		   1 + varint_len(a->trust_version);
	if (a->error != KPG_ERR_NONE)
		pl.fixed += 1 + varint_len(enum_wire((int)a->error));
	if (a->hmac)
		pl.fixed += 1 + varint_len(KPG_HMAC_LEN) + KPG_HMAC_LEN;
	pl.n = a->verdicts ? a->verdicts->n : 0;
	if (pl.n > KPG_VERDICTS_MAX)
		pl.n = KPG_VERDICTS_MAX;
	for (unsigned i = 0; i < pl.n; i++) {
		const struct kpg_verdict *v = &a->verdicts->v[i];

		pl.v[i] = v;
		pl.check_len[i] = (uint32_t)strnlen(v->check, KPG_CHECK_NAME_MAX);
		pl.full_len[i] = (uint32_t)strnlen(v->detail, KPG_DETAIL_MAX - 1);
	}

	/* Too big for the request's size: cut details, halving, then drop
	 * verdicts, accepts first; the decision itself always goes out. */
	size = plan_size(&pl, KPG_DETAIL_MAX - 1);
	for (uint32_t limit = (KPG_DETAIL_MAX - 1) / 2; size > body_cap && limit > 0;
	     limit /= 2)
		size = plan_size(&pl, limit);
	if (size > body_cap)
		size = plan_size(&pl, 0);
	for (int pass = 0; pass < 2 && size > body_cap; pass++) {
		for (unsigned i = pl.n; i-- > 0 && size > body_cap;) {
			if (pass == 0 && pl.v[i]->decision != KPG_ACCEPT)
				continue;
			plan_drop(&pl, i);
			size = plan_sum(&pl);
		}
	}
	if (size > body_cap)
		return -ENOSPC;

	p = out;
	*p++ = KPG_HDR_MAGIC0;
	*p++ = KPG_HDR_MAGIC1;
	*p++ = KPG_WIRE_VERSION;
	*p++ = KPG_MSG_RESPONSE;
	*p++ = TAG_REQUEST_ID;
	p = varint_put(p, a->request_id);
	*p++ = TAG_DECISION;
	p = varint_put(p, enum_wire((int)a->decision));
	for (unsigned i = 0; i < pl.n; i++) {
		const struct kpg_verdict *v = pl.v[i];

		*p++ = TAG_VERDICT;
		p = varint_put(p, pl.inner[i]);
		*p++ = TAG_V_CHECK;
		p = varint_put(p, pl.check_len[i]);
		memcpy(p, v->check, pl.check_len[i]);
		p += pl.check_len[i];
		*p++ = TAG_V_DECISION;
		p = varint_put(p, enum_wire((int)v->decision));
		*p++ = TAG_V_REASON;
		p = varint_put(p, v->reason);
		if (pl.detail_len[i]) {
			*p++ = TAG_V_DETAIL;
			p = varint_put(p, pl.detail_len[i]);
			memcpy(p, v->detail, pl.detail_len[i]);
			p += pl.detail_len[i];
		}
	}
	*p++ = TAG_TRUST_VER;
	p = varint_put(p, a->trust_version);
	if (a->error != KPG_ERR_NONE) {
		*p++ = TAG_ERROR;
		p = varint_put(p, enum_wire((int)a->error));
	}
	if (a->hmac) {
		/* the tag and length; the caller's HMAC fills the rest */
		*p++ = TAG_HMAC;
		p = varint_put(p, KPG_HMAC_LEN);
		memset(p, 0, KPG_HMAC_LEN);
		p += KPG_HMAC_LEN;
	}
	return (int)(p - out);
}
