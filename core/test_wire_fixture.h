/* test_wire_fixture.h — what the wire-layer tests share: a writer for
 * hand-made (often malformed) protobuf bytes, and a valid certificate built
 * with the generated protobuf-c structs, to pack or to spoil one field of. */
#ifndef TEST_WIRE_FIXTURE_H
#define TEST_WIRE_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "kpg_pb.h"
#include "kpgate.pb-c.h"

/* ---- hand-written wire bytes ---- */

struct tbuf {
	uint8_t b[4096];
	size_t n;
};

static inline void tb_raw(struct tbuf *t, const void *p, size_t n)
{
	memcpy(t->b + t->n, p, n);
	t->n += n;
}

static inline void tb_byte(struct tbuf *t, uint8_t c)
{
	t->b[t->n++] = c;
}

static inline void tb_varint(struct tbuf *t, uint64_t v)
{
	while (v >= 0x80) {
		tb_byte(t, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	tb_byte(t, (uint8_t)v);
}

static inline void tb_tag(struct tbuf *t, uint32_t id, unsigned wt)
{
	tb_varint(t, (uint64_t)id << 3 | wt);
}

static inline void tb_uint(struct tbuf *t, uint32_t id, uint64_t v)
{
	tb_tag(t, id, 0);
	tb_varint(t, v);
}

static inline void tb_len(struct tbuf *t, uint32_t id, const void *p, size_t n)
{
	tb_tag(t, id, 2);
	tb_varint(t, n);
	tb_raw(t, p, n);
}

static inline void tb_str(struct tbuf *t, uint32_t id, const char *s)
{
	tb_len(t, id, s, strlen(s));
}

static inline void tb_sub(struct tbuf *t, uint32_t id, const struct tbuf *sub)
{
	tb_len(t, id, sub->b, sub->n);
}

/* ---- top-level fields of packed bytes, to reorder or replace ---- */

struct tspan {
	const uint8_t *p;
	size_t n;
	uint32_t id;
};

/* Splits well-formed bytes into their top-level fields; returns the count. */
static inline size_t tb_split(const uint8_t *p, size_t len, struct tspan *s,
			      size_t max)
{
	const uint8_t *pos = p, *end = p + len;
	size_t k = 0;

	while (pos < end && k < max) {
		const uint8_t *start = pos;
		struct kpg_pb_field f;

		if (kpg_pb_next(&pos, end, &f) != KPG_WIRE_OK)
			return 0;
		s[k++] = (struct tspan){ start, (size_t)(pos - start), f.id };
	}
	return k;
}

/* Copies every field of s into t, but field `id` as `with` (NULL: drop). */
static inline void tb_replace(struct tbuf *t, const struct tspan *s, size_t n,
			      uint32_t id, const struct tbuf *with)
{
	bool done = false;

	for (size_t i = 0; i < n; i++) {
		if (s[i].id != id) {
			tb_raw(t, s[i].p, s[i].n);
		} else if (with && !done) {
			tb_raw(t, with->b, with->n);
			done = true;
		}
	}
}

/* ---- a valid certificate ---- */

struct cert_fx {
	Kpgate__Certificate c;
	Kpgate__Party exporter, importer;
	Kpgate__Origin origin[4];
	Kpgate__Origin *origins[4];
	Kpgate__HsLine line[4];
	Kpgate__HsLine *lines[4];
	char *seals[2];
};

/* South African rough for the EU, one origin, one gem-quality line. */
static inline void cert_fx_init(struct cert_fx *fx)
{
	memset(fx, 0, sizeof(*fx));
	kpgate__certificate__init(&fx->c);
	kpgate__party__init(&fx->exporter);
	kpgate__party__init(&fx->importer);
	for (int i = 0; i < 4; i++) {
		kpgate__origin__init(&fx->origin[i]);
		fx->origins[i] = &fx->origin[i];
		kpgate__hs_line__init(&fx->line[i]);
		fx->lines[i] = &fx->line[i];
		fx->origin[i].country = (char *)"ZA";
		fx->line[i].hs_code = KPGATE__HS_CODE__HS_7102_31;
		fx->line[i].carats_centi = 100;
		fx->line[i].value_usd_cents = 13500;
	}
	fx->exporter.name = (char *)"Kgalagadi Rough Exports (Pty) Ltd";
	fx->exporter.address = (char *)"12 Diamond St, Kimberley";
	fx->exporter.identifier = (char *)"SADPMR-EXP-0042";
	fx->importer.name = (char *)"Antwerp Rough Trading NV";
	fx->importer.address = (char *)"Hoveniersstraat 2, Antwerpen";
	fx->origin[0].zone = (char *)"Northern Cape";
	fx->line[0].carats_centi = 152375;       /* 1523.75 ct */
	fx->line[0].value_usd_cents = 20570625;  /* $205,706.25 */
	fx->seals[0] = (char *)"SEAL-0001";
	fx->seals[1] = (char *)"SEAL-0002";

	fx->c.number = (char *)"ZA-2024-000123";
	fx->c.issuing_participant = (char *)"ZA";
	fx->c.issuing_authority =
		(char *)"South African Diamond and Precious Metals Regulator";
	fx->c.exporter = &fx->exporter;
	fx->c.importer = &fx->importer;
	fx->c.importing_participant = (char *)"EU";
	fx->c.mixed_origin = 0;
	fx->c.n_origins = 1;
	fx->c.origins = fx->origins;
	fx->c.n_lines = 1;
	fx->c.lines = fx->lines;
	fx->c.parcels = 3;
	fx->c.issue_date = 20240301;
	fx->c.expiry_date = 20240830;
	fx->c.n_container_seals = 2;
	fx->c.container_seals = fx->seals;
	fx->c.traceability_ref = (char *)"G7-BE-2024-77";
}

static inline size_t cert_fx_pack(const struct cert_fx *fx, uint8_t *out)
{
	return kpgate__certificate__pack(&fx->c, out);
}

#endif
