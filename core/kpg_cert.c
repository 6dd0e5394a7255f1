/* kpg_cert.c — decode a verified certificate into its read-only view.
 * protobuf-c unpacks into the caller's arena; the view then holds what the
 * schema cannot say is right (codes, dates, counts), checked here once so
 * that no plugin has to. */
#include <errno.h>
#include <string.h>

#include "kpg_cert.h"
#include "kpg_date.h"
#include "kpgate.pb-c.h"

bool kpg_participant_code_valid(const char *s, size_t len)
{
	return s != NULL && len == 2 && s[0] >= 'A' && s[0] <= 'Z' &&
	       s[1] >= 'A' && s[1] <= 'Z';
}

static struct kpg_str kpg_str_of(const char *s)
{
	if (s == NULL)
		return (struct kpg_str){ .p = "", .len = 0 };
	return (struct kpg_str){ .p = s, .len = (uint32_t)strlen(s) };
}

static bool kpg_code_copy(char dst[3], const char *s)
{
	if (s == NULL || !kpg_participant_code_valid(s, strlen(s)))
		return false;
	memcpy(dst, s, 3);
	return true;
}

static void kpg_party_view(struct kpg_party *v, const Kpgate__Party *p)
{
	v->name = kpg_str_of(p->name);
	v->address = kpg_str_of(p->address);
	v->identifier = kpg_str_of(p->identifier);
}

static bool kpg_hs_code_known(int c)
{
	return c == KPG_HS_7102_10 || c == KPG_HS_7102_21 ||
	       c == KPG_HS_7102_31;
}

static const char kpg_arena_full[] = "decode arena full";

static int kpg_refuse(const char **why, const char *words)
{
	*why = words;
	return -EBADMSG;
}

static int kpg_cert_fill(const Kpgate__Certificate *c,
			 struct kpg_arena *arena, struct kpg_cert *out,
			 const char **why)
{
	struct kpg_origin *origins = NULL;
	struct kpg_hs_line *lines = NULL;
	struct kpg_str *seals = NULL;

	if (!kpg_code_copy(out->issuing_participant, c->issuing_participant))
		return kpg_refuse(why, "bad issuing participant code");
	if (!kpg_code_copy(out->importing_participant,
			   c->importing_participant))
		return kpg_refuse(why, "bad importing participant code");

	/* KP numbers carry the issuer's code: "ZA-..." from South Africa */
	out->number = kpg_str_of(c->number);
	if (out->number.len == 0)
		return kpg_refuse(why, "certificate number missing");
	if (out->number.len < 4 ||
	    memcmp(out->number.p, out->issuing_participant, 2) != 0 ||
	    out->number.p[2] != '-')
		return kpg_refuse(why, "certificate number not of issuer");

	out->issuing_authority = kpg_str_of(c->issuing_authority);
	if (c->exporter == NULL || c->importer == NULL)
		return kpg_refuse(why, "exporter or importer missing");
	kpg_party_view(&out->exporter, c->exporter);
	kpg_party_view(&out->importer, c->importer);

	out->mixed_origin = c->mixed_origin;
	if (!c->mixed_origin && c->n_origins != 1)
		return kpg_refuse(why,
				  "unmixed origin needs exactly one country");
	if (c->n_origins) {
		origins = kpg_arena_alloc(arena,
					  c->n_origins * sizeof(*origins));
		if (origins == NULL)
			goto full;
	}
	for (size_t i = 0; i < c->n_origins; i++) {
		if (!kpg_code_copy(origins[i].country, c->origins[i]->country))
			return kpg_refuse(why, "bad origin country code");
		origins[i].zone = kpg_str_of(c->origins[i]->zone);
	}
	out->n_origins = (uint32_t)c->n_origins;
	out->origins = origins;

	if (c->n_lines == 0)
		return kpg_refuse(why, "no HS code line");
	lines = kpg_arena_alloc(arena, c->n_lines * sizeof(*lines));
	if (lines == NULL)
		goto full;
	for (size_t i = 0; i < c->n_lines; i++) {
		const Kpgate__HsLine *l = c->lines[i];

		if (!kpg_hs_code_known(l->hs_code))
			return kpg_refuse(why, "HS code outside the KP scheme");
		if (l->carats_centi == 0)
			return kpg_refuse(why, "HS line without carats");
		/* a total that wraps would show a small parcel as legal */
		if (__builtin_add_overflow(out->total_carats_centi,
					   l->carats_centi,
					   &out->total_carats_centi))
			return kpg_refuse(why, "carat total overflows");
		if (__builtin_add_overflow(out->total_value_usd_cents,
					   l->value_usd_cents,
					   &out->total_value_usd_cents))
			return kpg_refuse(why, "value total overflows");
		lines[i].hs_code = (enum kpg_hs_code)l->hs_code;
		lines[i].carats_centi = l->carats_centi;
		lines[i].value_usd_cents = l->value_usd_cents;
	}
	out->n_lines = (uint32_t)c->n_lines;
	out->lines = lines;

	if (c->parcels == 0)
		return kpg_refuse(why, "no parcels");
	out->parcels = c->parcels;

	if (!kpg_date_valid(c->issue_date))
		return kpg_refuse(why, "bad issue date");
	if (!kpg_date_valid(c->expiry_date))
		return kpg_refuse(why, "bad expiry date");
	if (c->expiry_date < c->issue_date)   /* YYYYMMDD orders as dates */
		return kpg_refuse(why, "expiry before issue");
	out->issue_date = c->issue_date;
	out->expiry_date = c->expiry_date;

	if (c->n_container_seals) {
		seals = kpg_arena_alloc(arena,
					c->n_container_seals * sizeof(*seals));
		if (seals == NULL)
			goto full;
	}
	for (size_t i = 0; i < c->n_container_seals; i++)
		seals[i] = kpg_str_of(c->container_seals[i]);
	out->n_seals = (uint32_t)c->n_container_seals;
	out->seals = seals;
	out->traceability_ref = kpg_str_of(c->traceability_ref);
	return 0;
full:
	*why = kpg_arena_full;
	return -ENOMEM;
}

int kpg_cert_decode(const uint8_t *p, size_t len, struct kpg_arena *arena,
		    struct kpg_cert *out, const char **why)
{
	uint64_t failed = arena->failed;
	const Kpgate__Certificate *c;

	memset(out, 0, sizeof(*out));
	c = (const Kpgate__Certificate *)protobuf_c_message_unpack(
		&kpgate__certificate__descriptor, &arena->pb, len, p);
	if (c == NULL) {
		if (arena->failed != failed) {
			*why = kpg_arena_full;
			return -ENOMEM;
		}
		return kpg_refuse(why, "certificate does not decode");
	}
	*why = NULL;
	return kpg_cert_fill(c, arena, out, why);
}

/* ---- a view in one block ---- */

struct kpg_cert_block {
	uint8_t *base;
	size_t used, cap;
};

static void *kpg_block_take(struct kpg_cert_block *b, size_t n, size_t align)
{
	size_t at = (b->used + align - 1) & ~(align - 1);

	if (at > b->cap || n > b->cap - at)
		return NULL;
	b->used = at + n;
	return b->base + at;
}

static bool kpg_block_str(struct kpg_cert_block *b, struct kpg_str *dst,
			  const struct kpg_str *src)
{
	char *p;

	if (src->len == 0) {
		*dst = (struct kpg_str){ .p = "", .len = 0 };
		return true;
	}
	p = kpg_block_take(b, (size_t)src->len + 1, 1);
	if (p == NULL)
		return false;
	memcpy(p, src->p, src->len);
	p[src->len] = '\0';
	*dst = (struct kpg_str){ .p = p, .len = src->len };
	return true;
}

static bool kpg_block_party(struct kpg_cert_block *b, struct kpg_party *dst,
			    const struct kpg_party *src)
{
	return kpg_block_str(b, &dst->name, &src->name) &&
	       kpg_block_str(b, &dst->address, &src->address) &&
	       kpg_block_str(b, &dst->identifier, &src->identifier);
}

int kpg_cert_copy(const struct kpg_cert *src, uint8_t *buf, size_t cap,
		  const struct kpg_cert **out)
{
	struct kpg_cert_block b = { .base = buf, .cap = cap };
	struct kpg_cert *c = kpg_block_take(&b, sizeof(*c), 8);
	struct kpg_origin *origins = NULL;
	struct kpg_hs_line *lines = NULL;
	struct kpg_str *seals = NULL;

	if (c == NULL || ((uintptr_t)buf & 7) != 0)
		return -ENOSPC;
	*c = *src;
	if (src->n_origins &&
	    (origins = kpg_block_take(&b, src->n_origins * sizeof(*origins), 8)) == NULL)
		return -ENOSPC;
	if (src->n_lines &&
	    (lines = kpg_block_take(&b, src->n_lines * sizeof(*lines), 8)) == NULL)
		return -ENOSPC;
	if (src->n_seals &&
	    (seals = kpg_block_take(&b, src->n_seals * sizeof(*seals), 8)) == NULL)
		return -ENOSPC;
	if (!kpg_block_str(&b, &c->number, &src->number) ||
	    !kpg_block_str(&b, &c->issuing_authority, &src->issuing_authority) ||
	    !kpg_block_party(&b, &c->exporter, &src->exporter) ||
	    !kpg_block_party(&b, &c->importer, &src->importer) ||
	    !kpg_block_str(&b, &c->traceability_ref, &src->traceability_ref))
		return -ENOSPC;
	for (uint32_t i = 0; i < src->n_origins; i++) {
		origins[i] = src->origins[i];
		if (!kpg_block_str(&b, &origins[i].zone, &src->origins[i].zone))
			return -ENOSPC;
	}
	for (uint32_t i = 0; i < src->n_lines; i++)
		lines[i] = src->lines[i];
	for (uint32_t i = 0; i < src->n_seals; i++)
		if (!kpg_block_str(&b, &seals[i], &src->seals[i]))
			return -ENOSPC;
	c->origins = origins;
	c->lines = lines;
	c->seals = seals;
	*out = c;
	return (int)b.used;
}
