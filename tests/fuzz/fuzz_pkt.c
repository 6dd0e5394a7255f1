/* fuzz_pkt.c — gw_pkt_classify() and gw_pkt_reply() on arbitrary frames.
 *
 * Input: one flags byte (bit 0: the port is on VLAN 100; bit 1: no IPv4
 * address; bit 2: no IPv6 address; bits 4-5: the reply carries
 * payload_len >> n bytes), one byte of tailroom, then the frame. The frame
 * sits in a buffer of exactly len + tailroom bytes, as in an mbuf.
 *
 * Beyond "no crash", every answer is checked the way its receiver would
 * check it: the frame is classified again by a port standing in for the
 * sender. An answered request must come back as a request carrying exactly
 * the reply payload (so lengths and checksums are right); an ARP, echo or
 * neighbour answer must pass every check up to its own type. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_pkt.h"
#include "fuzz_check.h"

#define FRAME_MAX 65535u             /* the parser's offsets are 16 bits */

static const struct gw_if gateway = {
	.mac = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 },
	.has_ip4 = true,
	.has_ip6 = true,
	.ip4 = { 192, 0, 2, 1 },
	.ip6 = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 },
	.udp_port = 7102,
};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* The sender as a port of its own: its MAC, its address and (for UDP) its
 * source port, read from the request before the answer overwrites it. */
static void sender_of(const struct gw_if *ifc, const uint8_t *f,
		      const struct gw_pkt_info *pi, struct gw_if *s)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->mac, f + 6, 6);
	s->vlan = ifc->vlan;
	if (pi->reply == GW_REPLY_ARP) {
		s->has_ip4 = true;
		memcpy(s->ip4, f + pi->l3 + 14, 4);
	} else if (pi->ipv6) {
		s->has_ip6 = true;
		memcpy(s->ip6, f + pi->l3 + 8, 16);
	} else {
		s->has_ip4 = true;
		memcpy(s->ip4, f + pi->l3 + 12, 4);
	}
	if (pi->l4)
		s->udp_port = get16(f + pi->l4);
}

/* What the sender's own parser must say of an in-place answer: each kind
 * passes every length and checksum test and stops at its message type. */
static enum gw_drop expected_at_sender(enum gw_pkt_reply_kind k)
{
	switch (k) {
	case GW_REPLY_ARP:
		return GW_DROP_ARP_UNHANDLED;
	case GW_REPLY_ICMP4_ECHO:
	case GW_REPLY_ICMP6_ECHO:
		return GW_DROP_ICMP_UNHANDLED;
	case GW_REPLY_ND:
		return GW_DROP_ND_UNHANDLED;
	default:
		fuzz_broken(__FILE__, __LINE__, "reply of no kind");
	}
}

static void check_in_place_reply(const struct gw_if *ifc, uint8_t *f,
				 uint32_t cap, const struct gw_pkt_info *pi,
				 const struct gw_if *sender)
{
	struct gw_pkt_info si;

	FUZZ_CHECK(pi->reply != GW_REPLY_NONE);
	FUZZ_CHECK(pi->len >= 14 && pi->len <= cap);
	FUZZ_CHECK(memcmp(f + 6, ifc->mac, 6) == 0);
	FUZZ_CHECK(gw_pkt_classify(sender, f, pi->len, pi->len, &si) == GW_PKT_DROP);
	FUZZ_CHECK(si.drop == expected_at_sender(pi->reply));
}

static void check_request(const struct gw_if *ifc, uint8_t *f, uint32_t len,
			  unsigned shift, const struct gw_pkt_info *pi)
{
	static uint8_t payload[FRAME_MAX];
	struct gw_pkt_info si;
	struct gw_if sender;
	uint32_t plen, n;

	FUZZ_CHECK(pi->drop == GW_DROP_NONE);
	FUZZ_CHECK(pi->l3 >= 14 && pi->l4 > pi->l3 && pi->payload == pi->l4 + 8);
	FUZZ_CHECK((uint32_t)pi->payload + pi->payload_len <= len);

	plen = pi->payload_len >> shift;
	for (uint32_t i = 0; i < plen; i++)
		payload[i] = (uint8_t)(i * 7 + 1);
	sender_of(ifc, f, pi, &sender);
	n = gw_pkt_reply(ifc, f, pi, payload, plen);
	/* an answer never needs more room than its request had */
	FUZZ_CHECK(n <= len);
	FUZZ_CHECK(gw_pkt_classify(&sender, f, n, n, &si) == GW_PKT_REQUEST);
	FUZZ_CHECK(si.ipv6 == pi->ipv6);
	FUZZ_CHECK(si.payload_len == plen);
	FUZZ_CHECK(memcmp(f + si.payload, payload, plen) == 0);
	FUZZ_CHECK(get16(f + si.l4) == ifc->udp_port);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct gw_if ifc = gateway;
	struct gw_pkt_info pi;
	struct gw_if sender;
	uint32_t len, cap;
	uint8_t flags, *f;

	if (size < 2 || size - 2 > FRAME_MAX)
		return 0;
	flags = data[0];
	len = (uint32_t)(size - 2);
	cap = len + data[1];
	if (flags & 1)
		ifc.vlan = 100;
	ifc.has_ip4 = !(flags & 2);
	ifc.has_ip6 = !(flags & 4);

	f = malloc(cap ? cap : 1);
	FUZZ_CHECK(f != NULL);
	memcpy(f, data + 2, len);
	memset(f + len, 0xa5, cap - len);

	switch (gw_pkt_classify(&ifc, f, len, cap, &pi)) {
	case GW_PKT_DROP:
		/* the parser's own reasons only; the rest are the worker's */
		FUZZ_CHECK(pi.drop > GW_DROP_NONE && pi.drop < GW_DROP_REQUEST_DROPPED);
		FUZZ_CHECK(strcmp(gw_drop_name(pi.drop), "unknown") != 0);
		break;
	case GW_PKT_REPLY:
		sender_of(&ifc, data + 2, &pi, &sender);
		check_in_place_reply(&ifc, f, cap, &pi, &sender);
		break;
	case GW_PKT_REQUEST:
		check_request(&ifc, f, len, (flags >> 4) & 3, &pi);
		break;
	default:
		fuzz_broken(__FILE__, __LINE__, "unknown classification");
	}
	free(f);
	return 0;
}
