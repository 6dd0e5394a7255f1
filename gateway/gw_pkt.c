/* gw_pkt.c — frame classification and in-place answers; see gw_pkt.h.
 * Every field is read and written byte by byte in network order, so the
 * code is alignment- and endian-independent. */
#include <string.h>

#include "gw_pkt.h"

#define ETH_HLEN 14u
#define VLAN_HLEN 4u
#define ET_IPV4 0x0800u
#define ET_ARP 0x0806u
#define ET_VLAN 0x8100u
#define ET_QINQ 0x88a8u
#define ET_QINQ_OLD 0x9100u
#define ET_IPV6 0x86ddu

#define IP_PROTO_ICMP 1u
#define IP_PROTO_UDP 17u
#define IP_PROTO_ICMP6 58u

#define ICMP4_ECHO_REPLY 0u
#define ICMP4_ECHO_REQUEST 8u
#define ICMP6_ECHO_REQUEST 128u
#define ICMP6_ECHO_REPLY 129u
#define ND_RS 133u
#define ND_REDIRECT 137u
#define ND_NS 135u
#define ND_NA 136u
#define ND_OPT_SLLA 1u
#define ND_OPT_TLLA 2u
#define ND_NS_LEN 24u                /* ICMPv6 header, reserved, target */
#define ND_NA_LEN 32u                /* same plus the target link-layer option */

#define UDP_HLEN 8u
#define REPLY_TTL 64u

static const char *const drop_names[GW_DROP__COUNT] = {
	[GW_DROP_NONE] = "none",
	[GW_DROP_RUNT] = "runt",
	[GW_DROP_MULTI_SEGMENT] = "multi_segment",
	[GW_DROP_MAC_NOT_FOR_US] = "mac_not_for_us",
	[GW_DROP_BAD_SOURCE] = "bad_source",
	[GW_DROP_BAD_ETHER_TYPE] = "bad_ether_type",
	[GW_DROP_VLAN_MISMATCH] = "vlan_mismatch",
	[GW_DROP_QINQ] = "qinq",
	[GW_DROP_ARP_BAD] = "arp_bad",
	[GW_DROP_ARP_NOT_FOR_US] = "arp_not_for_us",
	[GW_DROP_ARP_UNHANDLED] = "arp_unhandled",
	[GW_DROP_IPV4_BAD_HEADER] = "ipv4_bad_header",
	[GW_DROP_IPV4_BAD_CHECKSUM] = "ipv4_bad_checksum",
	[GW_DROP_IPV4_FRAGMENT] = "ipv4_fragment",
	[GW_DROP_IPV6_BAD_HEADER] = "ipv6_bad_header",
	[GW_DROP_IPV6_EXT_HEADER] = "ipv6_ext_header",
	[GW_DROP_IP_TRUNCATED] = "ip_truncated",
	[GW_DROP_NOT_FOR_US] = "not_for_us",
	[GW_DROP_PROTO_UNHANDLED] = "proto_unhandled",
	[GW_DROP_ICMP_BAD] = "icmp_bad",
	[GW_DROP_ICMP_UNHANDLED] = "icmp_unhandled",
	[GW_DROP_ND_BAD] = "nd_bad",
	[GW_DROP_ND_UNHANDLED] = "nd_unhandled",
	[GW_DROP_UDP_BAD_LENGTH] = "udp_bad_length",
	[GW_DROP_UDP_BAD_CHECKSUM] = "udp_bad_checksum",
	[GW_DROP_UDP_WRONG_PORT] = "udp_wrong_port",
	[GW_DROP_UDP_SRC_PORT_ZERO] = "udp_src_port_zero",
	[GW_DROP_REQUEST_DROPPED] = "request_dropped",
	[GW_DROP_REPLY_FAILED] = "reply_failed",
	[GW_DROP_COLD_QUEUE_FULL] = "cold_queue_full",
	[GW_DROP_TX_FULL] = "tx_full",
};

const char *gw_drop_name(enum gw_drop d)
{
	if ((unsigned)d >= GW_DROP__COUNT || drop_names[d] == NULL)
		return "unknown";
	return drop_names[d];
}

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* A 16-bit value between native and network order (its own inverse). */
static inline uint16_t swap_native16(uint16_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return __builtin_bswap16(v);
#else
	return v;
#endif
}

uint32_t gw_csum_add(uint32_t sum, const void *buf, uint32_t len)
{
	const uint8_t *p = buf;
	uint64_t s = 0, w;

	/* Eight bytes a step, as native words: a ones' complement sum is
	 * the same in either byte order once swapped back (RFC 1071, 2.B).
	 * Two 32-bit halves per step cannot carry out of 64 bits within a
	 * datagram. */
	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&w, p, 8);
		s += (w & 0xffffffffu) + (w >> 32);
	}
	if (len >= 4) {
		uint32_t v;

		memcpy(&v, p, 4);
		s += v;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t v;

		memcpy(&v, p, 2);
		s += v;
		p += 2;
		len -= 2;
	}
	if (len)                         /* the odd byte is a word's first */
		s += swap_native16((uint16_t)(*p << 8));
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	s = swap_native16((uint16_t)s) + (uint64_t)sum;
	/* Fold to 17 bits so callers may keep adding small terms. */
	while (s >> 16 > 1)
		s = (s & 0xffff) + (s >> 16);
	return (uint32_t)s;
}

uint16_t gw_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Pseudo-header sums (RFC 768, RFC 8200 8.1). */
static uint32_t pseudo4(const uint8_t *ip, uint8_t proto, uint32_t l4len)
{
	uint32_t s = gw_csum_add(0, ip + 12, 8);

	return s + proto + l4len;
}

static uint32_t pseudo6(const uint8_t *ip, uint8_t proto, uint32_t l4len)
{
	uint32_t s = gw_csum_add(0, ip + 8, 32);

	return s + proto + (l4len >> 16) + (l4len & 0xffff);
}

static inline bool is_zero(const uint8_t *p, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void swap_macs(const struct gw_if *ifc, uint8_t *frame)
{
	/* bytewise: GCC 12 with sanitizers misreads a memcpy here */
	for (unsigned i = 0; i < 6; i++) {
		frame[i] = frame[6 + i];
		frame[6 + i] = ifc->mac[i];
	}
}

static void swap_bytes(uint8_t *a, uint8_t *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint8_t t = a[i];

		a[i] = b[i];
		b[i] = t;
	}
}

static enum gw_pkt_kind drop(struct gw_pkt_info *pi, enum gw_drop why)
{
	pi->drop = why;
	return GW_PKT_DROP;
}

static enum gw_pkt_kind arp(const struct gw_if *ifc, uint8_t *f,
			    uint32_t off, uint32_t len, struct gw_pkt_info *pi)
{
	uint8_t *a = f + off;

	if (len < off + 28)
		return drop(pi, GW_DROP_RUNT);
	if (get16(a) != 1 || get16(a + 2) != ET_IPV4 || a[4] != 6 || a[5] != 4)
		return drop(pi, GW_DROP_ARP_BAD);
	if (!ifc->has_ip4 || memcmp(a + 24, ifc->ip4, 4) != 0)
		return drop(pi, GW_DROP_ARP_NOT_FOR_US);
	/* Replies, and probes or announcements claiming our own address,
	 * are not ours to answer. */
	if (get16(a + 6) != 1 || memcmp(a + 14, ifc->ip4, 4) == 0)
		return drop(pi, GW_DROP_ARP_UNHANDLED);
	if (a[8] & 1)
		return drop(pi, GW_DROP_BAD_SOURCE);

	put16(a + 6, 2);
	memcpy(a + 18, a + 8, 10);       /* target := sender (MAC and IP) */
	memcpy(a + 8, ifc->mac, 6);
	memcpy(a + 14, ifc->ip4, 4);
	swap_macs(ifc, f);
	pi->reply = GW_REPLY_ARP;
	pi->len = off + 28;
	return GW_PKT_REPLY;
}

/* UDP for v4 and v6: ip is the IP header, l4len the bytes after it. */
static enum gw_pkt_kind udp(const struct gw_if *ifc, const uint8_t *f,
			    const uint8_t *ip, bool v6, uint32_t l4len,
			    struct gw_pkt_info *pi)
{
	const uint8_t *u = f + pi->l4;
	uint32_t ulen, sum;

	if (l4len < UDP_HLEN)
		return drop(pi, GW_DROP_UDP_BAD_LENGTH);
	ulen = get16(u + 4);
	if (ulen < UDP_HLEN || ulen > l4len)
		return drop(pi, GW_DROP_UDP_BAD_LENGTH);
	if (get16(u + 2) != ifc->udp_port)
		return drop(pi, GW_DROP_UDP_WRONG_PORT);
	if (get16(u + 6) != 0 || v6) {
		/* IPv6 has no "no checksum": a zero there fails the sum. */
		sum = v6 ? pseudo6(ip, IP_PROTO_UDP, ulen)
			 : pseudo4(ip, IP_PROTO_UDP, ulen);
		if (get16(u + 6) == 0 ||
		    gw_csum_fold(gw_csum_add(sum, u, ulen)) != 0)
			return drop(pi, GW_DROP_UDP_BAD_CHECKSUM);
	}
	if (get16(u) == 0)
		return drop(pi, GW_DROP_UDP_SRC_PORT_ZERO);
	pi->payload = (uint16_t)(pi->l4 + UDP_HLEN);
	pi->payload_len = (uint16_t)(ulen - UDP_HLEN);
	return GW_PKT_REQUEST;
}

static enum gw_pkt_kind ipv4(const struct gw_if *ifc, uint8_t *f,
			     uint32_t len, struct gw_pkt_info *pi)
{
	uint8_t *ip = f + pi->l3;
	uint32_t ihl, tot;

	if (len < pi->l3 + 20u)
		return drop(pi, GW_DROP_RUNT);
	ihl = (ip[0] & 0x0fu) * 4u;
	tot = get16(ip + 2);
	if ((ip[0] >> 4) != 4 || ihl < 20 || tot < ihl)
		return drop(pi, GW_DROP_IPV4_BAD_HEADER);
	if (pi->l3 + tot > len)
		return drop(pi, GW_DROP_IP_TRUNCATED);
	if (gw_csum_fold(gw_csum_add(0, ip, ihl)) != 0)
		return drop(pi, GW_DROP_IPV4_BAD_CHECKSUM);
	if (get16(ip + 6) & 0x3fffu)     /* MF or a fragment offset */
		return drop(pi, GW_DROP_IPV4_FRAGMENT);
	if (!ifc->has_ip4 || memcmp(ip + 16, ifc->ip4, 4) != 0)
		return drop(pi, GW_DROP_NOT_FOR_US);
	/* Never answer toward broadcast, multicast, loopback, "this host"
	 * or ourselves: an answer there would be reflected or looped. */
	if (ip[12] == 0 || ip[12] == 127 || ip[12] >= 224 ||
	    memcmp(ip + 12, ifc->ip4, 4) == 0)
		return drop(pi, GW_DROP_BAD_SOURCE);

	pi->l4 = (uint16_t)(pi->l3 + ihl);
	if (ip[9] == IP_PROTO_UDP)
		return udp(ifc, f, ip, false, tot - ihl, pi);
	if (ip[9] != IP_PROTO_ICMP)
		return drop(pi, GW_DROP_PROTO_UNHANDLED);

	uint8_t *ic = f + pi->l4;
	uint32_t iclen = tot - ihl;

	if (iclen < 8 || gw_csum_fold(gw_csum_add(0, ic, iclen)) != 0)
		return drop(pi, GW_DROP_ICMP_BAD);
	if (ic[0] != ICMP4_ECHO_REQUEST || ic[1] != 0)
		return drop(pi, GW_DROP_ICMP_UNHANDLED);

	ic[0] = ICMP4_ECHO_REPLY;
	put16(ic + 2, 0);
	put16(ic + 2, gw_csum_fold(gw_csum_add(0, ic, iclen)));
	swap_bytes(ip + 12, ip + 16, 4);
	ip[8] = REPLY_TTL;
	put16(ip + 10, 0);
	put16(ip + 10, gw_csum_fold(gw_csum_add(0, ip, ihl)));
	swap_macs(ifc, f);
	pi->reply = GW_REPLY_ICMP4_ECHO;
	pi->len = pi->l3 + tot;
	return GW_PKT_REPLY;
}

static bool ipv6_ext(uint8_t nh)
{
	switch (nh) {
	case 0: case 43: case 44: case 50: case 51: case 60:
	case 135: case 139: case 140: case 253: case 254:
		return true;
	}
	return false;
}

/* ff02::1:ffXX:XXXX for our address (RFC 4291 2.7.1). */
static bool solicited_node(const struct gw_if *ifc, const uint8_t *a)
{
	static const uint8_t pfx[13] = { 0xff, 0x02, 0, 0, 0, 0, 0, 0,
					 0, 0, 0, 0x01, 0xff };

	return memcmp(a, pfx, 13) == 0 && memcmp(a + 13, ifc->ip6 + 13, 3) == 0;
}

/* Neighbour solicitation for our address -> solicited, override
 * advertisement with our link-layer address (RFC 4861 7.1.1, 7.2.4). */
static enum gw_pkt_kind nd_solicit(const struct gw_if *ifc, uint8_t *f,
				   uint32_t cap, uint32_t iclen,
				   struct gw_pkt_info *pi)
{
	uint8_t *ip = f + pi->l3, *ic = f + pi->l4;
	uint32_t o;

	if (ip[7] != 255 || ic[1] != 0 || iclen < ND_NS_LEN)
		return drop(pi, GW_DROP_ND_BAD);
	for (o = ND_NS_LEN; o + 2 <= iclen; o += ic[o + 1] * 8u) {
		if (ic[o + 1] == 0 || o + ic[o + 1] * 8u > iclen)
			return drop(pi, GW_DROP_ND_BAD);
		if (ic[o] == ND_OPT_SLLA && is_zero(ip + 8, 16))
			return drop(pi, GW_DROP_ND_BAD);
	}
	if (o != iclen)
		return drop(pi, GW_DROP_ND_BAD);
	if (memcmp(ic + 8, ifc->ip6, 16) != 0 || is_zero(ip + 8, 16))
		return drop(pi, GW_DROP_ND_UNHANDLED);   /* other target, or DAD */
	if (pi->l4 + ND_NA_LEN > cap)
		return drop(pi, GW_DROP_ND_BAD);

	memcpy(ip + 24, ip + 8, 16);     /* to the solicitor */
	memcpy(ip + 8, ifc->ip6, 16);
	put16(ip + 4, ND_NA_LEN);
	ip[7] = 255;
	ic[0] = ND_NA;
	ic[1] = 0;
	ic[4] = 0x60;                    /* solicited, override */
	ic[5] = ic[6] = ic[7] = 0;
	/* target (ic + 8) is already our address */
	ic[24] = ND_OPT_TLLA;
	ic[25] = 1;
	memcpy(ic + 26, ifc->mac, 6);
	put16(ic + 2, 0);
	put16(ic + 2, gw_csum_fold(gw_csum_add(pseudo6(ip, IP_PROTO_ICMP6,
						       ND_NA_LEN),
					       ic, ND_NA_LEN)));
	swap_macs(ifc, f);
	pi->reply = GW_REPLY_ND;
	pi->len = pi->l4 + ND_NA_LEN;
	return GW_PKT_REPLY;
}

static enum gw_pkt_kind icmp6(const struct gw_if *ifc, uint8_t *f,
			      uint32_t cap, uint32_t iclen, bool to_us,
			      struct gw_pkt_info *pi)
{
	uint8_t *ip = f + pi->l3, *ic = f + pi->l4;

	if (iclen < 4 ||
	    gw_csum_fold(gw_csum_add(pseudo6(ip, IP_PROTO_ICMP6, iclen),
				     ic, iclen)) != 0)
		return drop(pi, GW_DROP_ICMP_BAD);
	if (ic[0] == ND_NS)
		return nd_solicit(ifc, f, cap, iclen, pi);
	if (!to_us)
		return drop(pi, GW_DROP_NOT_FOR_US);
	if (ic[0] >= ND_RS && ic[0] <= ND_REDIRECT)
		return drop(pi, GW_DROP_ND_UNHANDLED);
	if (ic[0] != ICMP6_ECHO_REQUEST || ic[1] != 0 || iclen < 8)
		return drop(pi, GW_DROP_ICMP_UNHANDLED);

	swap_bytes(ip + 8, ip + 24, 16);
	ip[7] = REPLY_TTL;
	ic[0] = ICMP6_ECHO_REPLY;
	put16(ic + 2, 0);
	put16(ic + 2, gw_csum_fold(gw_csum_add(pseudo6(ip, IP_PROTO_ICMP6,
						       iclen), ic, iclen)));
	swap_macs(ifc, f);
	pi->reply = GW_REPLY_ICMP6_ECHO;
	pi->len = pi->l4 + iclen;
	return GW_PKT_REPLY;
}

static enum gw_pkt_kind ipv6(const struct gw_if *ifc, uint8_t *f,
			     uint32_t len, uint32_t cap, struct gw_pkt_info *pi)
{
	uint8_t *ip = f + pi->l3;
	uint32_t plen;
	bool to_us;

	pi->ipv6 = true;
	if (len < pi->l3 + 40u)
		return drop(pi, GW_DROP_RUNT);
	if ((ip[0] >> 4) != 6)
		return drop(pi, GW_DROP_IPV6_BAD_HEADER);
	plen = get16(ip + 4);
	if (pi->l3 + 40u + plen > len)
		return drop(pi, GW_DROP_IP_TRUNCATED);
	if (!ifc->has_ip6)
		return drop(pi, GW_DROP_NOT_FOR_US);
	to_us = memcmp(ip + 24, ifc->ip6, 16) == 0;
	if (!to_us && !solicited_node(ifc, ip + 24))
		return drop(pi, GW_DROP_NOT_FOR_US);
	/* Multicast, loopback or our own address as source: never answered.
	 * The unspecified source (DAD) is left to the ND check. */
	if (ip[8] == 0xff || memcmp(ip + 8, ifc->ip6, 16) == 0 ||
	    (is_zero(ip + 8, 15) && ip[23] == 1))
		return drop(pi, GW_DROP_BAD_SOURCE);
	if (ipv6_ext(ip[6]))
		return drop(pi, GW_DROP_IPV6_EXT_HEADER);

	pi->l4 = (uint16_t)(pi->l3 + 40u);
	if (ip[6] == IP_PROTO_ICMP6)
		return icmp6(ifc, f, cap, plen, to_us, pi);
	if (!to_us)
		return drop(pi, GW_DROP_NOT_FOR_US);
	if (is_zero(ip + 8, 16))
		return drop(pi, GW_DROP_BAD_SOURCE);
	if (ip[6] == IP_PROTO_UDP)
		return udp(ifc, f, ip, true, plen, pi);
	return drop(pi, GW_DROP_PROTO_UNHANDLED);
}

enum gw_pkt_kind gw_pkt_classify(const struct gw_if *ifc, uint8_t *f,
				 uint32_t len, uint32_t cap,
				 struct gw_pkt_info *pi)
{
	uint32_t off = ETH_HLEN;
	uint16_t et;
	bool group;

	memset(pi, 0, sizeof(*pi));
	if (len < ETH_HLEN)
		return drop(pi, GW_DROP_RUNT);
	if (f[6] & 1)
		return drop(pi, GW_DROP_BAD_SOURCE);
	et = get16(f + 12);
	if (et == ET_QINQ || et == ET_QINQ_OLD)
		return drop(pi, GW_DROP_QINQ);
	if (et == ET_VLAN) {
		if (len < ETH_HLEN + VLAN_HLEN)
			return drop(pi, GW_DROP_RUNT);
		et = get16(f + 16);
		if (et == ET_VLAN || et == ET_QINQ || et == ET_QINQ_OLD)
			return drop(pi, GW_DROP_QINQ);
		if (ifc->vlan == 0 || (get16(f + 14) & 0x0fffu) != ifc->vlan)
			return drop(pi, GW_DROP_VLAN_MISMATCH);
		off += VLAN_HLEN;
	} else if (ifc->vlan != 0) {
		return drop(pi, GW_DROP_VLAN_MISMATCH);
	}
	group = f[0] & 1;
	if (!group && memcmp(f, ifc->mac, 6) != 0)
		return drop(pi, GW_DROP_MAC_NOT_FOR_US);

	pi->l3 = (uint16_t)off;
	switch (et) {
	case ET_ARP:
		return arp(ifc, f, off, len, pi);
	case ET_IPV4:
		if (group)           /* broadcast/multicast IPv4 is not served */
			return drop(pi, GW_DROP_NOT_FOR_US);
		return ipv4(ifc, f, len, pi);
	case ET_IPV6:
		return ipv6(ifc, f, len, cap, pi);
	}
	return drop(pi, GW_DROP_BAD_ETHER_TYPE);
}

uint32_t gw_pkt_reply(const struct gw_if *ifc, uint8_t *f,
		      const struct gw_pkt_info *pi,
		      const uint8_t *payload, uint32_t plen)
{
	uint8_t *ip = f + pi->l3, *u;
	uint16_t sport = get16(f + pi->l4), dport = get16(f + pi->l4 + 2);
	uint32_t ulen = UDP_HLEN + plen, sum;

	swap_macs(ifc, f);
	if (pi->ipv6) {
		u = ip + 40;
		put16(ip + 4, (uint16_t)ulen);
		ip[7] = REPLY_TTL;
		swap_bytes(ip + 8, ip + 24, 16);
		sum = pseudo6(ip, IP_PROTO_UDP, ulen);
	} else {
		/* Options stay behind: the header shrinks to 20 bytes, the
		 * UDP header moves up (its ports were read above). */
		u = ip + 20;
		ip[0] = 0x45;
		put16(ip + 2, (uint16_t)(20 + ulen));
		put16(ip + 6, 0);
		ip[8] = REPLY_TTL;
		swap_bytes(ip + 12, ip + 16, 4);
		put16(ip + 10, 0);
		put16(ip + 10, gw_csum_fold(gw_csum_add(0, ip, 20)));
		sum = pseudo4(ip, IP_PROTO_UDP, ulen);
	}
	put16(u, dport);
	put16(u + 2, sport);
	put16(u + 4, (uint16_t)ulen);
	put16(u + 6, 0);
	memcpy(u + UDP_HLEN, payload, plen);
	uint16_t c = gw_csum_fold(gw_csum_add(sum, u, ulen));

	put16(u + 6, c ? c : 0xffff);    /* 0 means "none" on the wire */
	return (uint32_t)(u - f) + ulen;
}
