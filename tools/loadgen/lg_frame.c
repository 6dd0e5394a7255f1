/* lg_frame.c — frames on byte buffers; see lg_frame.h. */
#include <errno.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "kpg_limits.h"
#include "kpg_pb.h"
#include "kpg_verdict.h"
#include "lg_frame.h"

#define LG_IP_TTL 64u

uint32_t lg_frame_udp(uint8_t *buf, uint32_t cap, const struct lg_endpoint *src,
		      const struct lg_endpoint *dst, const uint8_t *payload,
		      uint32_t plen, uint32_t *l4)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)buf;
	uint32_t l3len = src->ipv6 ? LG_IP6_LEN : LG_IP4_LEN;
	uint32_t len = LG_ETH_LEN + l3len + LG_UDP_LEN + plen;
	struct rte_udp_hdr *udp;

	if (len > cap || src->ipv6 != dst->ipv6 || LG_UDP_LEN + plen > UINT16_MAX)
		return 0;
	memcpy(eth->dst_addr.addr_bytes, dst->mac, 6);
	memcpy(eth->src_addr.addr_bytes, src->mac, 6);
	if (src->ipv6) {
		struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)(buf + LG_ETH_LEN);

		eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
		memset(ip, 0, sizeof(*ip));
		ip->vtc_flow = rte_cpu_to_be_32(6u << 28);
		ip->payload_len = rte_cpu_to_be_16((uint16_t)(LG_UDP_LEN + plen));
		ip->proto = IPPROTO_UDP;
		ip->hop_limits = LG_IP_TTL;
		memcpy(ip->src_addr, src->ip6, 16);
		memcpy(ip->dst_addr, dst->ip6, 16);
	} else {
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(buf + LG_ETH_LEN);

		eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
		memset(ip, 0, sizeof(*ip));
		ip->version_ihl = RTE_IPV4_VHL_DEF;
		ip->total_length = rte_cpu_to_be_16((uint16_t)(LG_IP4_LEN + LG_UDP_LEN + plen));
		ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
		ip->time_to_live = LG_IP_TTL;
		ip->next_proto_id = IPPROTO_UDP;
		memcpy(&ip->src_addr, src->ip4, 4);
		memcpy(&ip->dst_addr, dst->ip4, 4);
		ip->hdr_checksum = rte_ipv4_cksum(ip);
	}
	*l4 = LG_ETH_LEN + l3len;
	udp = (struct rte_udp_hdr *)(buf + *l4);
	udp->src_port = rte_cpu_to_be_16(src->port);
	udp->dst_port = rte_cpu_to_be_16(dst->port);
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(LG_UDP_LEN + plen));
	udp->dgram_cksum = 0;
	memcpy(buf + *l4 + LG_UDP_LEN, payload, plen);
	return len;
}

uint32_t lg_udp_sum_base(const uint8_t *frame, uint32_t l4, bool ipv6,
			 uint32_t hole, uint32_t hole_len)
{
	const struct rte_udp_hdr *udp = (const struct rte_udp_hdr *)(frame + l4);
	uint32_t ulen = rte_be_to_cpu_16(udp->dgram_len), sum;
	uint8_t copy[LG_UDP_LEN + 1600];

	if (ulen > sizeof(copy))
		ulen = sizeof(copy);
	/* A copy with the checksum and the hole zeroed keeps every word at
	 * its parity in the datagram, which the ones'-complement sum needs. */
	memcpy(copy, udp, ulen);
	copy[6] = copy[7] = 0;
	if (hole_len && hole >= l4 && hole - l4 + hole_len <= ulen)
		memset(copy + (hole - l4), 0, hole_len);
	sum = __rte_raw_cksum(copy, ulen, 0);
	if (ipv6)
		sum += rte_ipv6_phdr_cksum((const struct rte_ipv6_hdr *)(frame + LG_ETH_LEN), 0);
	else
		sum += rte_ipv4_phdr_cksum((const struct rte_ipv4_hdr *)(frame + LG_ETH_LEN), 0);
	return sum;
}

unsigned lg_varint_len(uint64_t v)
{
	unsigned n = 1;

	while (v >= 0x80u) {
		v >>= 7;
		n++;
	}
	return n;
}

uint32_t lg_frame_arp_request(uint8_t *buf, const uint8_t mac[6],
			      const uint8_t ip[4], const uint8_t target[4])
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)buf;
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(buf + LG_ETH_LEN);

	memset(buf, 0, LG_ARP_FRAME);
	memset(eth->dst_addr.addr_bytes, 0xff, 6);
	memcpy(eth->src_addr.addr_bytes, mac, 6);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = RTE_ETHER_ADDR_LEN;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
	memcpy(arp->arp_data.arp_sha.addr_bytes, mac, 6);
	memcpy(&arp->arp_data.arp_sip, ip, 4);
	memcpy(&arp->arp_data.arp_tip, target, 4);
	return LG_ARP_FRAME;
}

uint32_t lg_frame_arp_answer(uint8_t *f, const uint8_t mac[6])
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)f;
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(f + LG_ETH_LEN);
	uint32_t sip = arp->arp_data.arp_sip;

	memcpy(eth->dst_addr.addr_bytes, arp->arp_data.arp_sha.addr_bytes, 6);
	memcpy(eth->src_addr.addr_bytes, mac, 6);
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
	arp->arp_data.arp_tha = arp->arp_data.arp_sha;
	arp->arp_data.arp_sip = arp->arp_data.arp_tip;
	arp->arp_data.arp_tip = sip;
	memcpy(arp->arp_data.arp_sha.addr_bytes, mac, 6);
	return LG_ARP_FRAME;
}

static enum lg_rx_kind classify_arp(const uint8_t *f, uint32_t len,
				    struct lg_rx_info *ri)
{
	const struct rte_arp_hdr *arp = (const struct rte_arp_hdr *)(f + LG_ETH_LEN);

	if (len < LG_ETH_LEN + sizeof(*arp) ||
	    arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    arp->arp_hlen != 6 || arp->arp_plen != 4)
		return LG_RX_OTHER;
	memcpy(ri->peer_mac, arp->arp_data.arp_sha.addr_bytes, 6);
	memcpy(ri->arp_sender_ip, &arp->arp_data.arp_sip, 4);
	memcpy(ri->arp_target_ip, &arp->arp_data.arp_tip, 4);
	if (arp->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REPLY))
		return LG_RX_ARP_REPLY;
	if (arp->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REQUEST))
		return LG_RX_ARP_REQUEST;
	return LG_RX_OTHER;
}

static enum lg_rx_kind classify_udp(const uint8_t *f, uint32_t len, uint32_t l4,
				    uint32_t l4_len, struct lg_rx_info *ri)
{
	const struct rte_udp_hdr *udp = (const struct rte_udp_hdr *)(f + l4);
	uint32_t ulen;

	if (l4_len < LG_UDP_LEN || l4 + l4_len > len)
		return LG_RX_OTHER;
	ulen = rte_be_to_cpu_16(udp->dgram_len);
	if (ulen < LG_UDP_LEN || ulen > l4_len)
		return LG_RX_OTHER;
	ri->sport = rte_be_to_cpu_16(udp->src_port);
	ri->dport = rte_be_to_cpu_16(udp->dst_port);
	ri->payload = f + l4 + LG_UDP_LEN;
	ri->payload_len = ulen - LG_UDP_LEN;
	return LG_RX_UDP;
}

enum lg_rx_kind lg_frame_classify(const uint8_t *f, uint32_t len,
				  struct lg_rx_info *ri)
{
	const struct rte_ether_hdr *eth = (const struct rte_ether_hdr *)f;
	uint16_t type;

	if (len < LG_ETH_LEN)
		return LG_RX_OTHER;
	memcpy(ri->peer_mac, eth->src_addr.addr_bytes, 6);
	type = rte_be_to_cpu_16(eth->ether_type);
	if (type == RTE_ETHER_TYPE_ARP)
		return classify_arp(f, len, ri);
	if (type == RTE_ETHER_TYPE_IPV4) {
		const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(f + LG_ETH_LEN);
		uint32_t ihl, tot;

		if (len < LG_ETH_LEN + LG_IP4_LEN || (ip->version_ihl >> 4) != 4 ||
		    ip->next_proto_id != IPPROTO_UDP ||
		    (rte_be_to_cpu_16(ip->fragment_offset) &
		     (RTE_IPV4_HDR_OFFSET_MASK | RTE_IPV4_HDR_MF_FLAG)))
			return LG_RX_OTHER;
		ihl = (ip->version_ihl & 0xfu) * 4u;
		tot = rte_be_to_cpu_16(ip->total_length);
		if (ihl < LG_IP4_LEN || tot < ihl || LG_ETH_LEN + tot > len)
			return LG_RX_OTHER;
		ri->ipv6 = false;
		return classify_udp(f, len, LG_ETH_LEN + ihl, tot - ihl, ri);
	}
	if (type == RTE_ETHER_TYPE_IPV6) {
		const struct rte_ipv6_hdr *ip = (const struct rte_ipv6_hdr *)(f + LG_ETH_LEN);

		if (len < LG_ETH_LEN + LG_IP6_LEN || ip->proto != IPPROTO_UDP)
			return LG_RX_OTHER;
		ri->ipv6 = true;
		return classify_udp(f, len, LG_ETH_LEN + LG_IP6_LEN,
				    rte_be_to_cpu_16(ip->payload_len), ri);
	}
	return LG_RX_OTHER;
}

/* First non-accept verdict's reason: what the officer is told first. */
static void verdict_read(const uint8_t *p, uint32_t len, struct lg_answer *a)
{
	const uint8_t *pos = p, *end = p + len;
	uint64_t decision = 0, reason = 0;
	struct kpg_pb_field f;

	while (pos < end && kpg_pb_next(&pos, end, &f) == KPG_WIRE_OK) {
		if (f.wire_type != PROTOBUF_C_WIRE_TYPE_VARINT)
			continue;
		if (f.id == 2)
			decision = f.value;
		else if (f.id == 3)
			reason = f.value;
	}
	if (a->reason == 0 && decision != KPG_ACCEPT && reason != 0)
		a->reason = (uint32_t)reason;
}

int lg_answer_read(const uint8_t *p, uint32_t len, struct lg_answer *a)
{
	const uint8_t *pos, *end = p + len;
	struct kpg_pb_field f;

	memset(a, 0, sizeof(*a));
	if (len < KPG_HDR_LEN || p[0] != KPG_HDR_MAGIC0 || p[1] != KPG_HDR_MAGIC1 ||
	    p[2] != KPG_WIRE_VERSION ||
	    (p[3] != KPG_MSG_RESPONSE && p[3] != KPG_MSG_REQUEST))
		return -EBADMSG;
	a->echo = p[3] == KPG_MSG_REQUEST;
	pos = p + KPG_HDR_LEN;
	while (pos < end) {
		if (kpg_pb_next(&pos, end, &f) != KPG_WIRE_OK)
			return -EBADMSG;
		if (f.id == 1 && f.wire_type == PROTOBUF_C_WIRE_TYPE_VARINT) {
			a->request_id = f.value;
			if (a->echo)
				return 0;         /* the rest is the request's */
		} else if (a->echo) {
			continue;
		} else if (f.wire_type == PROTOBUF_C_WIRE_TYPE_VARINT) {
			if (f.id == 2)
				a->decision = (uint32_t)f.value;
			else if (f.id == 4)
				a->trust_version = f.value;
			else if (f.id == 5)
				a->error = (uint32_t)f.value;
		} else if (f.id == 3 && f.wire_type == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED &&
			   a->reason == 0 && a->decision != KPG_ACCEPT) {
			/* An accept's verdicts all accept (the decision, written
			 * before them, is the worst): nothing in them to read. */
			verdict_read(f.p, f.len, a);
		}
	}
	return 0;
}
