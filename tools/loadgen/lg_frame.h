/* lg_frame.h — the frames a load generator writes and reads, on plain byte
 * buffers: UDP requests over IPv4 or IPv6 from a station to the gateway,
 * ARP request and reply, and a reader that tells an answer from the rest.
 * Requests are built once, before sending; while sending only the request
 * id changes, so the UDP checksum is patched from a precomputed sum rather
 * than recomputed. Pure byte functions (DPDK headers only): unit-tested. */
#ifndef LG_FRAME_H
#define LG_FRAME_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_ip.h>
#include <rte_udp.h>

#define LG_ETH_LEN   14u
#define LG_IP4_LEN   20u
#define LG_IP6_LEN   40u
#define LG_UDP_LEN   8u
#define LG_ARP_FRAME 60u              /* padded to the Ethernet minimum */

/* Request ids a generator sends encode, as protobuf varints, in exactly
 * LG_ID_LEN bytes: a set top bit keeps the width fixed, so the id can be
 * rewritten in place in a prebuilt request. */
#define LG_ID_BASE   (1ull << 56)
#define LG_ID_LEN    9u
/* scan_time as Unix seconds takes 5 varint bytes until the year 3058. */
#define LG_TIME_LEN  5u

struct lg_endpoint {
	uint8_t mac[6];
	bool ipv6;
	uint8_t ip4[4];                   /* network order */
	uint8_t ip6[16];
	uint16_t port;                    /* host order */
};

/* Ethernet + IP + UDP + payload from src to dst into buf (cap bytes).
 * Returns the frame length, or 0 when it does not fit. The UDP checksum
 * is left for lg_id_write(). *l4 gets the UDP header's offset. */
uint32_t lg_frame_udp(uint8_t *buf, uint32_t cap, const struct lg_endpoint *src,
		      const struct lg_endpoint *dst, const uint8_t *payload,
		      uint32_t plen, uint32_t *l4);

/* Ones'-complement sum of the pseudo-header and UDP datagram of a frame
 * built by lg_frame_udp(), with the checksum field and the hole
 * [hole, hole + hole_len) (frame offsets) counted as zero. */
uint32_t lg_udp_sum_base(const uint8_t *frame, uint32_t l4, bool ipv6,
			 uint32_t hole, uint32_t hole_len);
/* The four 16-bit words of x, summed (not folded). */
static inline uint32_t lg_sum16(uint64_t x)
{
	return (uint32_t)((x & 0xffffu) + ((x >> 16) & 0xffffu) +
			  ((x >> 32) & 0xffffu) + (x >> 48));
}

/* Writes request id `id` (LG_ID_BASE set: LG_ID_LEN varint bytes) at
 * frame offset `at` and the UDP checksum: base (lg_udp_sum_base() with the
 * id as its hole) plus the id's bytes. Inline and in registers, per
 * request sent: reading the id back from a frame the CPU is still writing
 * would wait for those stores. */
static inline void lg_id_write(uint8_t *frame, uint32_t l4, uint32_t base,
			       uint32_t at, uint64_t id)
{
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(frame + l4);
	uint64_t lo = 0, hi = (id >> 56) & 0x7fu, w0, w1;
	uint16_t ck;

	/* Sums native 16-bit words of the bytes, as __rte_raw_cksum() does. */
	RTE_BUILD_BUG_ON(RTE_BYTE_ORDER != RTE_LITTLE_ENDIAN);
	for (unsigned i = 0; i < LG_ID_LEN - 1; i++)
		lo |= (((id >> (7 * i)) & 0x7fu) | 0x80u) << (8 * i);
	memcpy(frame + at, &lo, sizeof(lo));
	frame[at + LG_ID_LEN - 1] = (uint8_t)hi;
	w0 = lo;
	w1 = hi;
	if ((at - l4) & 1u) {            /* the id starts on a word's second byte */
		w0 = lo << 8;
		w1 = (lo >> 56) | (hi << 8);
	}
	ck = (uint16_t)~__rte_raw_cksum_reduce(base + lg_sum16(w0) + lg_sum16(w1));
	udp->dgram_cksum = ck == 0 ? 0xffff : ck;
}

/* Fixed-width varints (see LG_ID_LEN, LG_TIME_LEN); v must need exactly
 * `width` bytes, which the callers guarantee. */
static inline void lg_varint_put(uint8_t *p, uint64_t v, unsigned width)
{
	for (unsigned i = 0; i + 1 < width; i++) {
		p[i] = (uint8_t)(v | 0x80u);
		v >>= 7;
	}
	p[width - 1] = (uint8_t)(v & 0x7fu);
}

unsigned lg_varint_len(uint64_t v);

/* ARP request "who has target? tell src" (broadcast), into 60 bytes. */
uint32_t lg_frame_arp_request(uint8_t *buf, const uint8_t mac[6],
			      const uint8_t ip[4], const uint8_t target[4]);

enum lg_rx_kind {
	LG_RX_OTHER,                      /* nothing for the generator */
	LG_RX_ARP_REPLY,                  /* info: sender mac/ip, target ip */
	LG_RX_ARP_REQUEST,
	LG_RX_UDP,                        /* info: payload, ports */
};

struct lg_rx_info {
	uint8_t peer_mac[6];
	uint8_t arp_sender_ip[4];
	uint8_t arp_target_ip[4];
	const uint8_t *payload;
	uint32_t payload_len;
	uint16_t sport, dport;            /* host order */
	bool ipv6;
};

/* Classifies a received frame (no VLAN; the gateway's port is untagged in
 * the setups the generator drives). */
enum lg_rx_kind lg_frame_classify(const uint8_t *f, uint32_t len,
				  struct lg_rx_info *ri);

/* Turns an ARP request frame (at least LG_ARP_FRAME bytes of buffer) into
 * the reply for mac; returns the new length. */
uint32_t lg_frame_arp_answer(uint8_t *f, const uint8_t mac[6]);

/* What an answer datagram says. An echoed request (a plain reflector in
 * front of the generator) reads as echo with its request id. */
struct lg_answer {
	bool echo;
	uint64_t request_id;
	uint32_t decision;                /* KPG_DECISION_*, 0 with an error */
	uint32_t error;                   /* KPG_ERR_*, 0 none */
	uint32_t reason;                  /* first non-accept verdict's reason, 0 none */
	uint64_t trust_version;
};

/* Reads a kpgate datagram (framing header + ScanResponse, or + ScanRequest
 * when echoed). Returns 0, or -EBADMSG when it is neither. */
int lg_answer_read(const uint8_t *p, uint32_t len, struct lg_answer *a);

#endif
