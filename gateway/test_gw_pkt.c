/* test_gw_pkt.c — gw_pkt on hand-built frames: what a peer on the wire
 * would see answered, and every bad frame dropped under its own reason.
 * Checksums are checked with this file's own summing, not gw_pkt's. */
#include <string.h>

#include "gw_pkt.h"
#include "kpg_cunit.h"

static const struct gw_if IFC = {
	.mac = { 0x02, 0, 0, 0, 0, 0x01 },
	.has_ip4 = true, .has_ip6 = true,
	.ip4 = { 192, 0, 2, 1 },
	.ip6 = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 },
	.udp_port = 7102,
};
static const uint8_t PEER_MAC[6] = { 0x02, 0, 0, 0, 0, 0x02 };
static const uint8_t PEER4[4] = { 192, 0, 2, 2 };
static const uint8_t PEER6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
static const uint8_t BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

#define CAP 2048

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Reference one's-complement sum, kept apart from gw_csum_*. */
static uint32_t ref_sum(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		s += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
	return s;
}

static uint16_t ref_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* 0xffff when the data, checksum included, sums correctly. */
static uint16_t ip4_check(const uint8_t *ip)
{
	return ref_fold(ref_sum(0, ip, (ip[0] & 15u) * 4u));
}

static uint16_t l4_check4(const uint8_t *ip, uint8_t proto, const uint8_t *l4,
			  size_t n)
{
	uint32_t s = ref_sum(0, ip + 12, 8) + proto + (uint32_t)n;

	return ref_fold(ref_sum(s, l4, n));
}

static uint16_t l4_check6(const uint8_t *ip, uint8_t proto, const uint8_t *l4,
			  size_t n)
{
	uint32_t s = ref_sum(0, ip + 8, 32) + proto + (uint32_t)n;

	return ref_fold(ref_sum(s, l4, n));
}

static void set_csum(uint8_t *at, uint32_t sum)
{
	wr16(at, (uint16_t)~ref_fold(sum));
}

static size_t eth(uint8_t *f, const uint8_t *dst, uint16_t et)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, PEER_MAC, 6);
	wr16(f + 12, et);
	return 14;
}

/* IPv4 header with ihl_words (>= 5; options are NOPs). */
static size_t ip4(uint8_t *ip, unsigned ihl_words, uint8_t proto, size_t l4len)
{
	size_t hl = ihl_words * 4u;

	memset(ip, 0, hl);
	ip[0] = (uint8_t)(0x40 | ihl_words);
	wr16(ip + 2, (uint16_t)(hl + l4len));
	wr16(ip + 4, 0x1234);
	wr16(ip + 6, 0x4000);            /* DF */
	ip[8] = 61;
	ip[9] = proto;
	memcpy(ip + 12, PEER4, 4);
	memcpy(ip + 16, IFC.ip4, 4);
	memset(ip + 20, 1, hl - 20);     /* NOP options */
	set_csum(ip + 10, ref_sum(0, ip, hl));
	return hl;
}

static size_t ip6(uint8_t *ip, uint8_t nh, size_t plen, const uint8_t *dst)
{
	memset(ip, 0, 40);
	ip[0] = 0x60;
	wr16(ip + 4, (uint16_t)plen);
	ip[6] = nh;
	ip[7] = 64;
	memcpy(ip + 8, PEER6, 16);
	memcpy(ip + 24, dst, 16);
	return 40;
}

static const uint8_t PAYLOAD[] = { 'K', 'P', 1, 1, 0xde, 0xad, 0xbe, 0xef, 9 };

static size_t udp4_frame(uint8_t *f, unsigned ihl_words, uint16_t dport,
			 bool csum)
{
	size_t o = eth(f, IFC.mac, 0x0800);
	size_t ulen = 8 + sizeof(PAYLOAD);
	uint8_t *ip = f + o;
	size_t hl = ip4(ip, ihl_words, 17, ulen);
	uint8_t *u = ip + hl;

	wr16(u, 40000);
	wr16(u + 2, dport);
	wr16(u + 4, (uint16_t)ulen);
	wr16(u + 6, 0);
	memcpy(u + 8, PAYLOAD, sizeof(PAYLOAD));
	if (csum)
		set_csum(u + 6, ref_sum(ref_sum(0, ip + 12, 8) + 17 + (uint32_t)ulen,
					u, ulen));
	return o + hl + ulen;
}

static size_t udp6_frame(uint8_t *f, uint16_t dport)
{
	size_t o = eth(f, IFC.mac, 0x86dd);
	size_t ulen = 8 + sizeof(PAYLOAD);
	uint8_t *ip = f + o;
	uint8_t *u = ip + ip6(ip, 17, ulen, IFC.ip6);

	wr16(u, 40001);
	wr16(u + 2, dport);
	wr16(u + 4, (uint16_t)ulen);
	wr16(u + 6, 0);
	memcpy(u + 8, PAYLOAD, sizeof(PAYLOAD));
	set_csum(u + 6, ref_sum(ref_sum(0, ip + 8, 32) + 17 + (uint32_t)ulen,
				u, ulen));
	return o + 40 + ulen;
}

static enum gw_pkt_kind classify(uint8_t *f, size_t len, struct gw_pkt_info *pi)
{
	return gw_pkt_classify(&IFC, f, (uint32_t)len, CAP, pi);
}

static void expect_drop(uint8_t *f, size_t len, enum gw_drop why)
{
	struct gw_pkt_info pi;

	CU_ASSERT_EQUAL(classify(f, len, &pi), GW_PKT_DROP);
	CU_ASSERT_EQUAL(pi.drop, why);
	if (pi.drop != why)
		fprintf(stderr, "  got %s, want %s\n", gw_drop_name(pi.drop),
			gw_drop_name(why));
}

static void test_arp_reply(void)
{
	uint8_t f[CAP] = { 0 };
	size_t o = eth(f, BCAST, 0x0806);
	uint8_t *a = f + o;
	struct gw_pkt_info pi;

	wr16(a, 1);
	wr16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	wr16(a + 6, 1);
	memcpy(a + 8, PEER_MAC, 6);
	memcpy(a + 14, PEER4, 4);
	memcpy(a + 24, IFC.ip4, 4);

	/* padded to the Ethernet minimum, as on the wire */
	CU_ASSERT_EQUAL(classify(f, 60, &pi), GW_PKT_REPLY);
	CU_ASSERT_EQUAL(pi.reply, GW_REPLY_ARP);
	CU_ASSERT_EQUAL(pi.len, 42);
	CU_ASSERT(memcmp(f, PEER_MAC, 6) == 0);
	CU_ASSERT(memcmp(f + 6, IFC.mac, 6) == 0);
	CU_ASSERT_EQUAL(rd16(a + 6), 2);
	CU_ASSERT(memcmp(a + 8, IFC.mac, 6) == 0);
	CU_ASSERT(memcmp(a + 14, IFC.ip4, 4) == 0);
	CU_ASSERT(memcmp(a + 18, PEER_MAC, 6) == 0);
	CU_ASSERT(memcmp(a + 24, PEER4, 4) == 0);

	/* the reply itself, or a request for another address, is not answered */
	CU_ASSERT_EQUAL(classify(f, 60, &pi), GW_PKT_DROP);
	memcpy(f, BCAST, 6);
	memcpy(f + 6, PEER_MAC, 6);
	wr16(a + 6, 1);
	memcpy(a + 8, PEER_MAC, 6);
	memcpy(a + 14, PEER4, 4);
	a[27] = 9;
	expect_drop(f, 60, GW_DROP_ARP_NOT_FOR_US);
}

static void test_icmp4_echo(void)
{
	uint8_t f[CAP] = { 0 };
	size_t o = eth(f, IFC.mac, 0x0800);
	uint8_t *ip = f + o, *ic;
	size_t iclen = 8 + 32;
	struct gw_pkt_info pi;

	ic = ip + ip4(ip, 5, 1, iclen);
	ic[0] = 8;
	wr16(ic + 4, 0x77);
	wr16(ic + 6, 3);
	for (unsigned i = 0; i < 32; i++)
		ic[8 + i] = (uint8_t)i;
	set_csum(ic + 2, ref_sum(0, ic, iclen));

	CU_ASSERT_EQUAL(classify(f, o + 20 + iclen, &pi), GW_PKT_REPLY);
	CU_ASSERT_EQUAL(pi.reply, GW_REPLY_ICMP4_ECHO);
	CU_ASSERT_EQUAL(pi.len, o + 20 + iclen);
	CU_ASSERT_EQUAL(ic[0], 0);
	CU_ASSERT_EQUAL(rd16(ic + 4), 0x77);
	CU_ASSERT(memcmp(ip + 12, IFC.ip4, 4) == 0);
	CU_ASSERT(memcmp(ip + 16, PEER4, 4) == 0);
	CU_ASSERT(memcmp(f, PEER_MAC, 6) == 0);
	CU_ASSERT_EQUAL(ip4_check(ip), 0xffff);
	CU_ASSERT_EQUAL(ref_fold(ref_sum(0, ic, iclen)), 0xffff);

	/* a corrupted ICMP body fails its checksum */
	ic[0] = 8;
	memcpy(f, IFC.mac, 6);
	memcpy(f + 6, PEER_MAC, 6);
	memcpy(ip + 12, PEER4, 4);
	memcpy(ip + 16, IFC.ip4, 4);
	ic[10] ^= 0xff;
	expect_drop(f, o + 20 + iclen, GW_DROP_ICMP_BAD);
}

static void test_icmp6_echo(void)
{
	uint8_t f[CAP] = { 0 };
	size_t o = eth(f, IFC.mac, 0x86dd);
	uint8_t *ip = f + o, *ic = ip + 40;
	size_t iclen = 8 + 16;
	struct gw_pkt_info pi;

	ip6(ip, 58, iclen, IFC.ip6);
	ic[0] = 128;
	wr16(ic + 4, 0x55);
	memset(ic + 8, 0xa5, 16);
	set_csum(ic + 2, ref_sum(ref_sum(0, ip + 8, 32) + 58 + (uint32_t)iclen,
				 ic, iclen));

	CU_ASSERT_EQUAL(classify(f, o + 40 + iclen, &pi), GW_PKT_REPLY);
	CU_ASSERT_EQUAL(pi.reply, GW_REPLY_ICMP6_ECHO);
	CU_ASSERT_EQUAL(pi.len, o + 40 + iclen);
	CU_ASSERT_EQUAL(ic[0], 129);
	CU_ASSERT(memcmp(ip + 8, IFC.ip6, 16) == 0);
	CU_ASSERT(memcmp(ip + 24, PEER6, 16) == 0);
	CU_ASSERT(memcmp(f, PEER_MAC, 6) == 0);
	CU_ASSERT_EQUAL(l4_check6(ip, 58, ic, iclen), 0xffff);
}

static void test_ns_to_na(void)
{
	static const uint8_t snm[16] = { 0xff, 0x02, [11] = 1, 0xff, 0, 0, 1 };
	static const uint8_t mmac[6] = { 0x33, 0x33, 0xff, 0, 0, 1 };
	uint8_t f[CAP] = { 0 };
	size_t o = eth(f, mmac, 0x86dd);
	uint8_t *ip = f + o, *ic = ip + 40;
	size_t iclen = 24 + 8;
	struct gw_pkt_info pi;

	ip6(ip, 58, iclen, snm);
	ip[7] = 255;
	ic[0] = 135;
	memcpy(ic + 8, IFC.ip6, 16);
	ic[24] = 1;                      /* source link-layer address */
	ic[25] = 1;
	memcpy(ic + 26, PEER_MAC, 6);
	set_csum(ic + 2, ref_sum(ref_sum(0, ip + 8, 32) + 58 + (uint32_t)iclen,
				 ic, iclen));

	CU_ASSERT_EQUAL(classify(f, o + 40 + iclen, &pi), GW_PKT_REPLY);
	CU_ASSERT_EQUAL(pi.reply, GW_REPLY_ND);
	CU_ASSERT_EQUAL(pi.len, o + 40 + 32);
	CU_ASSERT(memcmp(f, PEER_MAC, 6) == 0);
	CU_ASSERT(memcmp(f + 6, IFC.mac, 6) == 0);
	CU_ASSERT_EQUAL(rd16(ip + 4), 32);
	CU_ASSERT_EQUAL(ip[7], 255);
	CU_ASSERT(memcmp(ip + 8, IFC.ip6, 16) == 0);
	CU_ASSERT(memcmp(ip + 24, PEER6, 16) == 0);
	CU_ASSERT_EQUAL(ic[0], 136);
	CU_ASSERT_EQUAL(ic[1], 0);
	CU_ASSERT_EQUAL(ic[4], 0x60);    /* solicited, override; not router */
	CU_ASSERT(memcmp(ic + 8, IFC.ip6, 16) == 0);
	CU_ASSERT_EQUAL(ic[24], 2);      /* target link-layer address */
	CU_ASSERT_EQUAL(ic[25], 1);
	CU_ASSERT(memcmp(ic + 26, IFC.mac, 6) == 0);
	CU_ASSERT_EQUAL(l4_check6(ip, 58, ic, 32), 0xffff);

	/* a unicast NS without options grows into an NA with one */
	memset(f, 0, sizeof(f));
	o = eth(f, IFC.mac, 0x86dd);
	ip6(ip, 58, 24, IFC.ip6);
	ip[7] = 255;
	ic[0] = 135;
	memcpy(ic + 8, IFC.ip6, 16);
	set_csum(ic + 2, ref_sum(ref_sum(0, ip + 8, 32) + 58 + 24, ic, 24));
	CU_ASSERT_EQUAL(classify(f, o + 40 + 24, &pi), GW_PKT_REPLY);
	CU_ASSERT_EQUAL(pi.len, o + 40 + 32);
	CU_ASSERT_EQUAL(l4_check6(ip, 58, ic, 32), 0xffff);

	/* hop limit below 255: it crossed a router, refuse (RFC 4861) */
	ip6(ip, 58, 24, IFC.ip6);
	ip[7] = 254;
	ic[0] = 135;
	ic[4] = 0;
	memcpy(ic + 8, IFC.ip6, 16);
	wr16(ic + 2, 0);
	set_csum(ic + 2, ref_sum(ref_sum(0, ip + 8, 32) + 58 + 24, ic, 24));
	memcpy(f, IFC.mac, 6);
	memcpy(f + 6, PEER_MAC, 6);
	expect_drop(f, o + 40 + 24, GW_DROP_ND_BAD);
}

static void test_udp4_request(void)
{
	uint8_t f[CAP] = { 0 };
	struct gw_pkt_info pi;
	size_t n = udp4_frame(f, 5, 7102, true);

	CU_ASSERT_EQUAL(classify(f, n, &pi), GW_PKT_REQUEST);
	CU_ASSERT_FALSE(pi.ipv6);
	CU_ASSERT_EQUAL(pi.payload, 14 + 20 + 8);
	CU_ASSERT_EQUAL(pi.payload_len, sizeof(PAYLOAD));
	CU_ASSERT(memcmp(f + pi.payload, PAYLOAD, sizeof(PAYLOAD)) == 0);

	/* no checksum (0) is allowed over IPv4; options too; padding ignored */
	n = udp4_frame(f, 7, 7102, false);
	CU_ASSERT_EQUAL(classify(f, n + 5, &pi), GW_PKT_REQUEST);
	CU_ASSERT_EQUAL(pi.payload, 14 + 28 + 8);
	CU_ASSERT_EQUAL(pi.payload_len, sizeof(PAYLOAD));
}

static void test_udp6_request(void)
{
	uint8_t f[CAP] = { 0 };
	struct gw_pkt_info pi;
	size_t n = udp6_frame(f, 7102);

	CU_ASSERT_EQUAL(classify(f, n, &pi), GW_PKT_REQUEST);
	CU_ASSERT_TRUE(pi.ipv6);
	CU_ASSERT_EQUAL(pi.payload, 14 + 40 + 8);
	CU_ASSERT_EQUAL(pi.payload_len, sizeof(PAYLOAD));

	/* IPv6 has no "no checksum" */
	wr16(f + 14 + 40 + 6, 0);
	expect_drop(f, n, GW_DROP_UDP_BAD_CHECKSUM);
}

static void test_vlan(void)
{
	struct gw_if tagged = IFC;
	uint8_t f[CAP] = { 0 }, g[CAP] = { 0 };
	struct gw_pkt_info pi;
	size_t n = udp4_frame(f, 5, 7102, true);

	tagged.vlan = 42;
	/* insert an 802.1Q tag for VLAN 42 */
	memcpy(g, f, 12);
	wr16(g + 12, 0x8100);
	wr16(g + 14, 42);
	memcpy(g + 16, f + 12, n - 12);
	CU_ASSERT_EQUAL(gw_pkt_classify(&tagged, g, (uint32_t)n + 4, CAP, &pi),
			GW_PKT_REQUEST);
	CU_ASSERT_EQUAL(pi.payload, 18 + 20 + 8);

	/* untagged on a tagged port, tagged on an untagged one, other VLAN */
	CU_ASSERT_EQUAL(gw_pkt_classify(&tagged, f, (uint32_t)n, CAP, &pi), GW_PKT_DROP);
	CU_ASSERT_EQUAL(pi.drop, GW_DROP_VLAN_MISMATCH);
	expect_drop(g, n + 4, GW_DROP_VLAN_MISMATCH);
	wr16(g + 14, 43);
	CU_ASSERT_EQUAL(gw_pkt_classify(&tagged, g, (uint32_t)n + 4, CAP, &pi), GW_PKT_DROP);
	CU_ASSERT_EQUAL(pi.drop, GW_DROP_VLAN_MISMATCH);
}

static void test_drops(void)
{
	uint8_t f[CAP] = { 0 }, g[CAP];
	size_t n;

	/* runt */
	expect_drop(f, 10, GW_DROP_RUNT);

	/* IPv4 header checksum */
	n = udp4_frame(f, 5, 7102, true);
	f[14 + 8] ^= 1;                  /* TTL */
	expect_drop(f, n, GW_DROP_IPV4_BAD_CHECKSUM);

	/* fragments: MF, and an offset */
	n = udp4_frame(f, 5, 7102, true);
	wr16(f + 14 + 6, 0x2000);
	wr16(f + 14 + 10, 0);
	set_csum(f + 14 + 10, ref_sum(0, f + 14, 20));
	expect_drop(f, n, GW_DROP_IPV4_FRAGMENT);
	wr16(f + 14 + 6, 0x0010);
	wr16(f + 14 + 10, 0);
	set_csum(f + 14 + 10, ref_sum(0, f + 14, 20));
	expect_drop(f, n, GW_DROP_IPV4_FRAGMENT);

	/* truncated IP: total length past the frame */
	n = udp4_frame(f, 5, 7102, true);
	expect_drop(f, n - 3, GW_DROP_IP_TRUNCATED);
	n = udp6_frame(f, 7102);
	expect_drop(f, n - 1, GW_DROP_IP_TRUNCATED);

	/* bad IPv4 header: IHL below 5 */
	n = udp4_frame(f, 5, 7102, true);
	f[14] = 0x44;
	expect_drop(f, n, GW_DROP_IPV4_BAD_HEADER);

	/* QinQ: 802.1ad outer tag, and two 802.1Q tags */
	n = udp4_frame(f, 5, 7102, true);
	memcpy(g, f, 12);
	wr16(g + 12, 0x88a8);
	wr16(g + 14, 7);
	memcpy(g + 16, f + 12, n - 12);
	expect_drop(g, n + 4, GW_DROP_QINQ);
	wr16(g + 12, 0x8100);
	wr16(g + 16, 0x8100);
	expect_drop(g, n + 4, GW_DROP_QINQ);

	/* IPv6 extension header (hop-by-hop) */
	n = udp6_frame(f, 7102);
	f[14 + 6] = 0;
	expect_drop(f, n, GW_DROP_IPV6_EXT_HEADER);

	/* UDP: checksum, wrong port, length */
	n = udp4_frame(f, 5, 7102, true);
	f[n - 1] ^= 0x40;
	expect_drop(f, n, GW_DROP_UDP_BAD_CHECKSUM);
	n = udp4_frame(f, 5, 7103, true);
	expect_drop(f, n, GW_DROP_UDP_WRONG_PORT);
	n = udp4_frame(f, 5, 7102, false);
	wr16(f + 14 + 20 + 4, 200);
	expect_drop(f, n, GW_DROP_UDP_BAD_LENGTH);

	/* another host's address, another MAC, unknown ether type */
	n = udp4_frame(f, 5, 7102, false);
	f[14 + 19] = 9;
	wr16(f + 14 + 10, 0);
	set_csum(f + 14 + 10, ref_sum(0, f + 14, 20));
	expect_drop(f, n, GW_DROP_NOT_FOR_US);
	n = udp4_frame(f, 5, 7102, false);
	f[5] = 9;
	expect_drop(f, n, GW_DROP_MAC_NOT_FOR_US);
	n = udp4_frame(f, 5, 7102, false);
	wr16(f + 12, 0x88cc);
	expect_drop(f, n, GW_DROP_BAD_ETHER_TYPE);
}

/* The answer a station receives: swapped addresses and ports, lengths of
 * the new payload, both checksums right. */
static void check_reply4(const uint8_t *f, uint32_t len, const uint8_t *pl,
			 uint32_t plen)
{
	const uint8_t *ip = f + 14, *u = ip + 20;

	CU_ASSERT_EQUAL(len, 14 + 20 + 8 + plen);
	CU_ASSERT(memcmp(f, PEER_MAC, 6) == 0);
	CU_ASSERT(memcmp(f + 6, IFC.mac, 6) == 0);
	CU_ASSERT_EQUAL(ip[0], 0x45);
	CU_ASSERT_EQUAL(rd16(ip + 2), 20 + 8 + plen);
	CU_ASSERT(memcmp(ip + 12, IFC.ip4, 4) == 0);
	CU_ASSERT(memcmp(ip + 16, PEER4, 4) == 0);
	CU_ASSERT_EQUAL(ip4_check(ip), 0xffff);
	CU_ASSERT_EQUAL(rd16(u), 7102);
	CU_ASSERT_EQUAL(rd16(u + 2), 40000);
	CU_ASSERT_EQUAL(rd16(u + 4), 8 + plen);
	CU_ASSERT_NOT_EQUAL(rd16(u + 6), 0);
	CU_ASSERT_EQUAL(l4_check4(ip, 17, u, 8 + plen), 0xffff);
	CU_ASSERT(memcmp(u + 8, pl, plen) == 0);
}

static void test_reply_builder(void)
{
	static const uint8_t answer[] = { 'K', 'P', 1, 2, 8, 1, 16, 3, 0x77 };
	uint8_t f[CAP] = { 0 };
	struct gw_pkt_info pi;
	uint32_t len;
	size_t n;

	n = udp4_frame(f, 5, 7102, true);
	CU_ASSERT_EQUAL_FATAL(classify(f, n, &pi), GW_PKT_REQUEST);
	len = gw_pkt_reply(&IFC, f, &pi, answer, 5);
	check_reply4(f, len, answer, 5);

	/* with IPv4 options in the request: the answer carries none */
	n = udp4_frame(f, 8, 7102, false);
	CU_ASSERT_EQUAL_FATAL(classify(f, n, &pi), GW_PKT_REQUEST);
	len = gw_pkt_reply(&IFC, f, &pi, answer, sizeof(answer));
	check_reply4(f, len, answer, sizeof(answer));
	/* and the answer is again a valid request frame for the peer side */
	CU_ASSERT_TRUE(len <= n);

	n = udp6_frame(f, 7102);
	CU_ASSERT_EQUAL_FATAL(classify(f, n, &pi), GW_PKT_REQUEST);
	len = gw_pkt_reply(&IFC, f, &pi, answer, 7);
	const uint8_t *ip = f + 14, *u = ip + 40;

	CU_ASSERT_EQUAL(len, 14 + 40 + 8 + 7);
	CU_ASSERT_EQUAL(rd16(ip + 4), 8 + 7);
	CU_ASSERT(memcmp(ip + 8, IFC.ip6, 16) == 0);
	CU_ASSERT(memcmp(ip + 24, PEER6, 16) == 0);
	CU_ASSERT_EQUAL(rd16(u), 7102);
	CU_ASSERT_EQUAL(rd16(u + 2), 40001);
	CU_ASSERT_EQUAL(rd16(u + 4), 8 + 7);
	CU_ASSERT_EQUAL(l4_check6(ip, 17, u, 8 + 7), 0xffff);
	CU_ASSERT(memcmp(u + 8, answer, 7) == 0);
}

/* gw_csum_add against the byte-by-byte reference: every length from 0 to
 * a datagram and a half, every start alignment, and running sums carried
 * in (the pseudo-header's), agree once folded. */
static void test_csum_matches_reference(void)
{
	static uint8_t buf[1800 + 8];
	uint64_t x = 0x2545f4914f6cdd1dull;

	for (size_t i = 0; i < sizeof(buf); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
	memset(buf + 100, 0xff, 64);             /* long carries */
	memset(buf + 300, 0, 64);
	for (uint32_t len = 0; len <= 1800; len++) {
		for (uint32_t off = 0; off < 8; off += (len < 64 ? 1 : 3)) {
			uint32_t in = (uint32_t)(len * 2654435761u) & 0x1ffff;
			uint32_t got = gw_csum_add(in, buf + off, len);

			CU_ASSERT(got <= 0x1ffff);
			if (ref_fold(ref_sum(in, buf + off, len)) != ref_fold(got)) {
				CU_FAIL("gw_csum_add differs from the reference");
				return;
			}
		}
	}
	/* All zero and all ones keep their distinct folded forms. */
	memset(buf, 0, 64);
	CU_ASSERT_EQUAL(gw_csum_fold(gw_csum_add(0, buf, 64)), 0xffff);
	memset(buf, 0xff, 64);
	CU_ASSERT_EQUAL(gw_csum_fold(gw_csum_add(0, buf, 64)), 0);
}

static void test_drop_names(void)
{
	for (int i = 0; i < GW_DROP__COUNT; i++) {
		CU_ASSERT_STRING_NOT_EQUAL(gw_drop_name(i), "unknown");
		for (int j = 0; j < i; j++)
			CU_ASSERT_STRING_NOT_EQUAL(gw_drop_name(i), gw_drop_name(j));
	}
	CU_ASSERT_STRING_EQUAL(gw_drop_name(GW_DROP__COUNT), "unknown");
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "ARP request answered in place", test_arp_reply },
		{ "ICMP echo v4 answered, checksums right", test_icmp4_echo },
		{ "ICMPv6 echo answered, checksum right", test_icmp6_echo },
		{ "neighbour solicitation -> advertisement", test_ns_to_na },
		{ "UDP v4 request recognised", test_udp4_request },
		{ "UDP v6 request recognised", test_udp6_request },
		{ "802.1Q VLAN of the port only", test_vlan },
		{ "bad frames dropped under their reason", test_drops },
		{ "reply builder lengths and checksums", test_reply_builder },
		{ "drop reasons all named, uniquely", test_drop_names },
		{ "checksum sum matches the reference", test_csum_matches_reference },
		{ NULL, NULL },
	};

	return kpg_cunit_run("gateway/pkt", tests, NULL, NULL);
}
