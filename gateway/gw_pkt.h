/* gw_pkt.h — Ethernet/VLAN/ARP/IPv4/IPv6/ICMP/UDP on a plain frame buffer.
 * gw_pkt_classify() decides what one received frame is: an ARP request,
 * ICMP echo request or neighbour solicitation for us (answered by rewriting
 * the frame in place), a UDP request to our port (payload located), or a
 * drop under its own reason. gw_pkt_reply() turns a request frame into its
 * answer. Pure byte functions: no DPDK, no allocation, testable anywhere. */
#ifndef GW_PKT_H
#define GW_PKT_H

#include <stdbool.h>
#include <stdint.h>

/* Why a frame or request went unanswered; names in gw_drop_name(). The
 * last few are counted by the worker, not by the parser. */
enum gw_drop {
	GW_DROP_NONE = 0,
	GW_DROP_RUNT,                /* shorter than the headers it claims */
	GW_DROP_MULTI_SEGMENT,       /* frame not in one buffer */
	GW_DROP_MAC_NOT_FOR_US,      /* unicast to another MAC */
	GW_DROP_BAD_SOURCE,          /* group MAC or IP source: never answered */
	GW_DROP_BAD_ETHER_TYPE,
	GW_DROP_VLAN_MISMATCH,       /* tag absent, present or other VLAN id */
	GW_DROP_QINQ,                /* stacked or 802.1ad tags */
	GW_DROP_ARP_BAD,             /* not Ethernet/IPv4 ARP */
	GW_DROP_ARP_NOT_FOR_US,
	GW_DROP_ARP_UNHANDLED,       /* replies, gratuitous ARP, other ops */
	GW_DROP_IPV4_BAD_HEADER,     /* version, IHL, total length */
	GW_DROP_IPV4_BAD_CHECKSUM,
	GW_DROP_IPV4_FRAGMENT,
	GW_DROP_IPV6_BAD_HEADER,
	GW_DROP_IPV6_EXT_HEADER,
	GW_DROP_IP_TRUNCATED,        /* IP length runs past the frame */
	GW_DROP_NOT_FOR_US,          /* IP destination not ours */
	GW_DROP_PROTO_UNHANDLED,     /* neither UDP nor ICMP */
	GW_DROP_ICMP_BAD,            /* short or bad checksum */
	GW_DROP_ICMP_UNHANDLED,      /* not an echo request */
	GW_DROP_ND_BAD,              /* ND message failing RFC 4861 checks */
	GW_DROP_ND_UNHANDLED,        /* DAD, RS/RA, other targets */
	GW_DROP_UDP_BAD_LENGTH,
	GW_DROP_UDP_BAD_CHECKSUM,
	GW_DROP_UDP_WRONG_PORT,
	GW_DROP_UDP_SRC_PORT_ZERO,   /* cannot be answered */
	/* counted by the worker */
	GW_DROP_REQUEST_DROPPED,     /* engine: not our protocol, no answer */
	GW_DROP_REPLY_FAILED,        /* engine answered nothing it could encode */
	GW_DROP_COLD_QUEUE_FULL,
	GW_DROP_TX_FULL,             /* the device refused the burst */
	GW_DROP__COUNT
};

const char *gw_drop_name(enum gw_drop d);

/* One port as the parser sees it. Addresses in network byte order. */
struct gw_if {
	uint8_t mac[6];
	bool has_ip4, has_ip6;
	uint8_t ip4[4];
	uint8_t ip6[16];
	uint16_t vlan;               /* 0: untagged */
	uint16_t udp_port;           /* host order */
};

enum gw_pkt_kind {
	GW_PKT_DROP,                 /* info.drop says why */
	GW_PKT_REPLY,                /* frame rewritten in place: send info.len bytes */
	GW_PKT_REQUEST,              /* UDP datagram for us at info.payload */
};

enum gw_pkt_reply_kind {
	GW_REPLY_NONE = 0,
	GW_REPLY_ARP,
	GW_REPLY_ICMP4_ECHO,
	GW_REPLY_ICMP6_ECHO,
	GW_REPLY_ND,
};

struct gw_pkt_info {
	enum gw_drop drop;
	enum gw_pkt_reply_kind reply;
	bool ipv6;
	uint16_t l3;                 /* offsets into the frame */
	uint16_t l4;
	uint16_t payload;            /* UDP payload */
	uint16_t payload_len;
	uint32_t len;                /* GW_PKT_REPLY: the frame's new length */
};

/* len: bytes received; cap: bytes the buffer can hold (a neighbour
 * advertisement may be longer than the solicitation it answers). */
enum gw_pkt_kind gw_pkt_classify(const struct gw_if *ifc, uint8_t *frame,
				 uint32_t len, uint32_t cap,
				 struct gw_pkt_info *pi);

/* Rewrites the request frame classified in pi into its answer carrying
 * payload (plen <= pi->payload_len; payload must not overlap the frame).
 * IPv4 options are not echoed back. Returns the new frame length. */
uint32_t gw_pkt_reply(const struct gw_if *ifc, uint8_t *frame,
		      const struct gw_pkt_info *pi,
		      const uint8_t *payload, uint32_t plen);

/* Internet checksum helpers, exposed for the tests. */
uint32_t gw_csum_add(uint32_t sum, const void *p, uint32_t len);
uint16_t gw_csum_fold(uint32_t sum);

#endif
