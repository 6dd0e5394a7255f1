/* lg_pool.c — the prebuilt request frames; see lg_pool.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ip.h>
#include <rte_thash.h>
#include <rte_udp.h>

#include "kpg_limits.h"
#include "kpg_pb.h"
#include "kpg_request_build.h"
#include "lg_err.h"
#include "lg_pool.h"

#define LG_FRAME_ALIGN 64u
#define LG_RETA_SIZE   128u
#define LG_MALFORMED_CUT 0.6             /* share of a request kept */

/* The Toeplitz key most NICs ship as their default (Microsoft's RSS
 * verification key); hashing with it spreads flows as such a NIC would. */
static const uint8_t lg_rss_key[40] = {
	0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2,
	0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
	0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4,
	0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
	0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

static const char *const kind_names[LG_K__COUNT] = {
	[LG_K_WARM] = "warm",
	[LG_K_COLD] = "cold",
	[LG_K_FORGED] = "forged",
	[LG_K_UNKNOWN] = "unknown_key",
	[LG_K_MALFORMED] = "malformed",
};

const char *lg_kind_name(enum lg_kind k)
{
	return (unsigned)k < LG_K__COUNT ? kind_names[k] : "?";
}

void lg_station(unsigned k, bool ipv6, struct lg_endpoint *ep)
{
	uint32_t host = k + 1u;

	memset(ep, 0, sizeof(*ep));
	ep->ipv6 = ipv6;
	/* RFC 2544 / RFC 5180 benchmarking ranges: never routed anywhere. */
	if (ipv6) {
		static const uint8_t pfx[4] = { 0x20, 0x01, 0x00, 0x02 };

		memcpy(ep->ip6, pfx, 4);
		ep->ip6[12] = (uint8_t)(host >> 24);
		ep->ip6[13] = (uint8_t)(host >> 16);
		ep->ip6[14] = (uint8_t)(host >> 8);
		ep->ip6[15] = (uint8_t)host;
	} else {
		uint32_t a = 0xc6120000u + host;   /* 198.18.0.0/15 */

		ep->ip4[0] = (uint8_t)(a >> 24);
		ep->ip4[1] = (uint8_t)(a >> 16);
		ep->ip4[2] = (uint8_t)(a >> 8);
		ep->ip4[3] = (uint8_t)a;
	}
	ep->port = (uint16_t)(10000u + k % 50000u);
}

uint32_t lg_rss_hash(const uint8_t *f, bool ipv6)
{
	union rte_thash_tuple t;
	const struct rte_udp_hdr *udp;

	memset(&t, 0, sizeof(t));
	if (ipv6) {
		const struct rte_ipv6_hdr *ip = (const struct rte_ipv6_hdr *)(f + LG_ETH_LEN);

		udp = (const struct rte_udp_hdr *)(f + LG_ETH_LEN + LG_IP6_LEN);
		rte_thash_load_v6_addrs(ip, &t);
		t.v6.sport = rte_be_to_cpu_16(udp->src_port);
		t.v6.dport = rte_be_to_cpu_16(udp->dst_port);
		return rte_softrss((uint32_t *)&t, RTE_THASH_V6_L4_LEN, lg_rss_key);
	}
	const struct rte_ipv4_hdr *ip4 = (const struct rte_ipv4_hdr *)(f + LG_ETH_LEN);

	udp = (const struct rte_udp_hdr *)(f + LG_ETH_LEN + LG_IP4_LEN);
	t.v4.src_addr = rte_be_to_cpu_32(ip4->src_addr);
	t.v4.dst_addr = rte_be_to_cpu_32(ip4->dst_addr);
	t.v4.sport = rte_be_to_cpu_16(udp->src_port);
	t.v4.dport = rte_be_to_cpu_16(udp->dst_port);
	return rte_softrss((uint32_t *)&t, RTE_THASH_V4_L4_LEN, lg_rss_key);
}

unsigned lg_rss_queue(uint32_t hash, unsigned queues)
{
	/* A NIC's default redirection table: entry i -> queue i % queues. */
	return (hash % LG_RETA_SIZE) % (queues ? queues : 1u);
}

/* Offsets of the request id and scan_time varints in a request payload;
 * both must have the fixed widths the generator rewrites. */
static int locate(const uint8_t *p, uint32_t len, uint32_t *id_off,
		  uint32_t *time_off)
{
	const uint8_t *pos = p + KPG_HDR_LEN, *end = p + len;
	struct kpg_pb_field f;

	*id_off = *time_off = 0;
	while (pos < end) {
		const uint8_t *start;

		if (kpg_pb_next(&pos, end, &f) != KPG_WIRE_OK)
			return -EBADMSG;
		if (f.wire_type != PROTOBUF_C_WIRE_TYPE_VARINT || (f.id != 1 && f.id != 5))
			continue;
		start = f.tag + 1;               /* fields 1 and 5: one tag byte */
		if (f.id == 1 && pos - start == LG_ID_LEN)
			*id_off = (uint32_t)(start - p);
		if (f.id == 5 && pos - start == LG_TIME_LEN)
			*time_off = (uint32_t)(start - p);
	}
	return *id_off && *time_off ? 0 : -EBADMSG;
}

/* A copy of a SignedCertificate with the last character of the
 * certificate's number changed: still canonical, no longer signed. */
static int forge(const uint8_t *sc, uint32_t len, uint8_t *out)
{
	const uint8_t *pos = sc, *end = sc + len, *cpos, *cend;
	struct kpg_pb_field f, g;

	memcpy(out, sc, len);
	while (pos < end) {
		if (kpg_pb_next(&pos, end, &f) != KPG_WIRE_OK)
			return -EBADMSG;
		if (f.id != 1 || f.wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
			continue;
		cpos = f.p;
		cend = f.p + f.len;
		while (cpos < cend) {
			if (kpg_pb_next(&cpos, cend, &g) != KPG_WIRE_OK)
				return -EBADMSG;
			if (g.id == 1 && g.len > 0) {
				uint32_t at = (uint32_t)(g.p + g.len - 1 - sc);
				uint8_t ch = out[at];

				out[at] = ch >= '0' && ch <= '9' ?
					  (uint8_t)('0' + (ch - '0' + 5) % 10) : (uint8_t)'0';
				return 0;
			}
		}
	}
	return -EBADMSG;
}

struct builder {
	struct lg_pool *p;
	const struct lg_pool_conf *c;
	uint32_t cap_entries;
	size_t cap_frames;
	unsigned station;                /* next station to use */
};

/* Appends the frame of one request carrying signed certificate sc. */
static int add(struct builder *b, enum lg_kind kind, unsigned alg,
	       const uint8_t *sc, uint32_t sc_len, char *err, size_t errlen)
{
	const struct lg_pool_conf *c = b->c;
	struct lg_pool *p = b->p;
	struct lg_endpoint src, dst = c->gw;
	uint8_t dgram[KPG_DATAGRAM_MAX];
	char station_id[16];
	unsigned k = b->station++ % c->stations;
	bool v6 = c->gw_has_ip6 && (double)k < c->ipv6_share * (double)c->stations;
	struct kpg_scan s = {
		.request_id = LG_ID_BASE,
		.station_id = station_id,
		.scan_time = c->now,
		.signed_cert = sc,
		.signed_cert_len = sc_len,
		.has_parcel_count = true,
		.parcel_count = 1,
		.has_gross_mass = true,
		.gross_mass_mg = 25000,              /* 123.45 ct of stones, packed */
	};
	struct lg_entry *e;
	uint32_t id_off, time_off, l4, flen, len;
	int n;

	if (p->n == b->cap_entries)
		return lg_err(err, errlen, -ENOSPC, "pool: too many entries");
	snprintf(station_id, sizeof(station_id), "lg-%06u", k);
	n = kpg_request_build(&s, dgram, sizeof(dgram));
	if (n < 0)
		return lg_err(err, errlen, n, "cannot build a %s request: %s",
			    lg_kind_name(kind), strerror(-n));
	len = (uint32_t)n;
	if (locate(dgram, len, &id_off, &time_off) < 0)
		return lg_err(err, errlen, -EBADMSG, "request id or scan_time not at fixed width");
	if (kind == LG_K_MALFORMED) {
		len = (uint32_t)((double)len * LG_MALFORMED_CUT);
		if (time_off + LG_TIME_LEN > len)
			time_off = 0;
	}
	lg_station(k, v6, &src);
	memcpy(src.mac, c->mac, 6);
	dst.ipv6 = v6;
	if (p->frames_len + LG_FRAME_ALIGN + len + 128 > b->cap_frames)
		return lg_err(err, errlen, -ENOSPC, "pool: out of frame space");
	e = &p->e[p->n];
	e->off = (uint32_t)p->frames_len;
	flen = lg_frame_udp(p->frames + e->off, (uint32_t)(b->cap_frames - e->off),
			    &src, &dst, dgram, len, &l4);
	if (flen == 0 || flen > UINT16_MAX)
		return lg_err(err, errlen, -EMSGSIZE, "frame does not fit");
	e->len = (uint16_t)flen;
	e->l4 = (uint16_t)l4;
	e->id_off = (uint16_t)(l4 + LG_UDP_LEN + id_off);
	e->time_off = time_off ? (uint16_t)(l4 + LG_UDP_LEN + time_off) : 0;
	e->kind = (uint8_t)kind;
	e->alg = (uint8_t)alg;
	e->ipv6 = v6;
	e->queue = (uint8_t)lg_rss_queue(lg_rss_hash(p->frames + e->off, v6), c->queues);
	e->sum = lg_udp_sum_base(p->frames + e->off, l4, v6, e->id_off, LG_ID_LEN);
	lg_id_write(p->frames + e->off, l4, e->sum, e->id_off, LG_ID_BASE);
	p->frames_len = (e->off + flen + LG_FRAME_ALIGN - 1) & ~(size_t)(LG_FRAME_ALIGN - 1);
	if (flen > p->max_len)
		p->max_len = flen;
	p->bytes[kind] += flen;
	p->n++;
	return 0;
}

static int add_group(struct builder *b, struct lg_group *g, enum lg_kind kind,
		     unsigned alg, const struct lg_certs *certs, unsigned first,
		     unsigned n, char *err, size_t errlen)
{
	uint8_t forged[KPG_DATAGRAM_MAX];
	int rc;

	g->first = b->p->n;
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *sc = certs->cert[first + i];
		uint32_t len = certs->len[first + i];

		if (kind == LG_K_FORGED) {
			if (len > sizeof(forged) || forge(sc, len, forged) < 0)
				return lg_err(err, errlen, -EBADMSG, "cannot forge certificate %u", i);
			sc = forged;
		}
		rc = add(b, kind, alg, sc, len, err, errlen);
		if (rc < 0)
			return rc;
	}
	g->n = b->p->n - g->first;
	return 0;
}

int lg_pool_build(struct lg_pool *p, const struct lg_pki *pki,
		  const struct lg_pool_conf *c, char *err, size_t errlen)
{
	struct builder b = { .p = p, .c = c };
	unsigned any = 0;
	int rc;

	memset(p, 0, sizeof(*p));
	if (c->stations == 0 || c->queues == 0 || c->queues > 255)
		return lg_err(err, errlen, -EINVAL, "stations and queues (1..255) must be set");
	for (unsigned a = 1; a < LG_ALGS; a++)
		if (c->alg[a]) {
			if (pki->alg[a].n < 2)
				return lg_err(err, errlen, -ENOENT,
					    "no %s certificates (make the PKI again)",
					    kpg_alg_name((enum kpg_alg)a));
			b.cap_entries += pki->alg[a].n + c->forged;
			any++;
		}
	if (!any)
		return lg_err(err, errlen, -EINVAL, "no algorithm in the mix");
	b.cap_entries += c->unknown + c->malformed;
	/* aligned_alloc takes whole multiples of the alignment */
	b.cap_frames = ((size_t)b.cap_entries * (KPG_DATAGRAM_MAX + 128u) +
			LG_FRAME_ALIGN - 1) & ~(size_t)(LG_FRAME_ALIGN - 1);
	p->e = calloc(b.cap_entries, sizeof(*p->e));
	p->frames = aligned_alloc(LG_FRAME_ALIGN, b.cap_frames);
	if (p->e == NULL || p->frames == NULL) {
		lg_pool_free(p);
		return lg_err(err, errlen, -ENOMEM, "out of memory for %u requests",
			    b.cap_entries);
	}
	p->queues = c->queues;
	p->scan_time = c->now;
	for (unsigned a = 1; a < LG_ALGS; a++) {
		const struct lg_certs *certs = &pki->alg[a];
		/* Hot certificates first, the rest stay cold; at least one of each. */
		unsigned warm = c->warm < certs->n ? c->warm : certs->n / 2;
		unsigned cold = certs->n - warm;
		unsigned forged = c->forged < cold ? c->forged : cold;

		if (!c->alg[a])
			continue;
		if (warm == 0)
			warm = 1, cold--;
		rc = add_group(&b, &p->warm[a], LG_K_WARM, a, certs, 0, warm, err, errlen);
		if (rc == 0)
			rc = add_group(&b, &p->cold[a], LG_K_COLD, a, certs, warm, cold,
				       err, errlen);
		if (rc == 0)
			rc = add_group(&b, &p->forged[a], LG_K_FORGED, a, certs, warm,
				       forged, err, errlen);
		if (rc < 0)
			goto fail;
	}
	if (c->unknown) {
		unsigned n = c->unknown < pki->rogue.n ? c->unknown : pki->rogue.n;

		if (n == 0) {
			rc = lg_err(err, errlen, -ENOENT, "no rogue certificates in the PKI");
			goto fail;
		}
		rc = add_group(&b, &p->unknown, LG_K_UNKNOWN, 0, &pki->rogue, 0, n,
			       err, errlen);
		if (rc < 0)
			goto fail;
	}
	if (c->malformed) {
		/* Cut from genuine requests of the first algorithm in the mix. */
		unsigned a = 1;

		while (!c->alg[a])
			a++;
		rc = add_group(&b, &p->malformed, LG_K_MALFORMED, a, &pki->alg[a], 0,
			       c->malformed < pki->alg[a].n ? c->malformed : pki->alg[a].n,
			       err, errlen);
		if (rc < 0)
			goto fail;
	}
	return 0;
fail:
	lg_pool_free(p);
	return rc;
}

void lg_pool_free(struct lg_pool *p)
{
	free(p->e);
	free(p->frames);
	memset(p, 0, sizeof(*p));
}

static void refresh_one(struct lg_pool *p, struct lg_entry *e)
{
	uint8_t *f = p->frames + e->off;

	if (e->time_off == 0)
		return;
	lg_varint_put(f + e->time_off, (uint64_t)p->scan_time, LG_TIME_LEN);
	e->sum = lg_udp_sum_base(f, e->l4, e->ipv6, e->id_off, LG_ID_LEN);
}

void lg_pool_set_time(struct lg_pool *p, int64_t now)
{
	if (lg_varint_len((uint64_t)now) != LG_TIME_LEN)
		return;                      /* years 1978..3058 only */
	p->scan_time = now;
	for (uint32_t i = 0; i < p->n; i++)
		refresh_one(p, &p->e[i]);
	p->refresh_next = 0;
}

void lg_pool_sweep(struct lg_pool *p, int64_t now, unsigned n)
{
	if (p->n == 0 || lg_varint_len((uint64_t)now) != LG_TIME_LEN)
		return;
	if (p->refresh_next == 0)
		p->scan_time = now;          /* one time per sweep */
	while (n--) {
		refresh_one(p, &p->e[p->refresh_next]);
		if (++p->refresh_next == p->n) {
			p->refresh_next = 0;
			return;
		}
	}
}
