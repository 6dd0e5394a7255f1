/* test_lg_frame.c — frames the generator builds are valid (checksums as
 * DPDK computes them, also after the request id is rewritten in place),
 * are read back as what they are, ARP is asked and answered properly,
 * answers and echoed requests are read, and the RSS hash is the one a NIC
 * with the common Toeplitz key computes. */
#include <arpa/inet.h>
#include <string.h>

#include <rte_ip.h>
#include <rte_udp.h>

#include "kpg_cunit.h"
#include "kpg_pb.h"
#include "kpg_response.h"
#include "lg_frame.h"
#include "lg_pool.h"

static void endpoints(struct lg_endpoint *src, struct lg_endpoint *dst, bool v6)
{
	static const uint8_t smac[6] = { 2, 0, 0, 0, 0, 2 }, dmac[6] = { 2, 0, 0, 0, 0, 1 };

	lg_station(41, v6, src);
	memcpy(src->mac, smac, 6);
	memset(dst, 0, sizeof(*dst));
	memcpy(dst->mac, dmac, 6);
	dst->ipv6 = v6;
	inet_pton(AF_INET, "192.0.2.1", dst->ip4);
	inet_pton(AF_INET6, "2001:db8::1", dst->ip6);
	dst->port = 7102;
}

static uint16_t dpdk_csum(const uint8_t *f, uint32_t l4, bool v6)
{
	if (v6)
		return rte_ipv6_udptcp_cksum((const struct rte_ipv6_hdr *)(f + LG_ETH_LEN), f + l4);
	return rte_ipv4_udptcp_cksum((const struct rte_ipv4_hdr *)(f + LG_ETH_LEN), f + l4);
}

static void check_csum(bool v6)
{
	/* Small and large ids: every byte of the varint changes. */
	static const uint64_t seqs[] = { 0, 997, 2991, (1ull << 35) | 12345,
					 LG_ID_BASE - 1 };
	struct lg_endpoint src, dst;
	uint8_t payload[301], f[600];
	uint32_t l4, len, base, hole;
	struct rte_udp_hdr *udp;

	endpoints(&src, &dst, v6);
	for (unsigned i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	len = lg_frame_udp(f, sizeof(f), &src, &dst, payload, sizeof(payload), &l4);
	CU_ASSERT_EQUAL_FATAL(len, LG_ETH_LEN + (v6 ? LG_IP6_LEN : LG_IP4_LEN) +
			      LG_UDP_LEN + sizeof(payload));
	udp = (struct rte_udp_hdr *)(f + l4);
	if (!v6)
		CU_ASSERT_EQUAL(rte_ipv4_cksum((const struct rte_ipv4_hdr *)(f + LG_ETH_LEN)), 0);
	/* Holes at both parities, as request ids sit at either. */
	for (hole = l4 + LG_UDP_LEN + 5; hole < l4 + LG_UDP_LEN + 7; hole++) {
		base = lg_udp_sum_base(f, l4, v6, hole, LG_ID_LEN);
		for (unsigned k = 0; k < RTE_DIM(seqs); k++) {
			uint64_t seq = seqs[k];
			uint8_t id[LG_ID_LEN];

			lg_id_write(f, l4, base, hole, LG_ID_BASE | seq);
			lg_varint_put(id, LG_ID_BASE | seq, LG_ID_LEN);
			CU_ASSERT_EQUAL(memcmp(f + hole, id, LG_ID_LEN), 0);
			CU_ASSERT_NOT_EQUAL(udp->dgram_cksum, 0);
			/* DPDK computes it over the datagram with the field zeroed. */
			{
				uint16_t got = udp->dgram_cksum;

				udp->dgram_cksum = 0;
				CU_ASSERT_EQUAL(got, dpdk_csum(f, l4, v6));
				udp->dgram_cksum = got;
			}
		}
	}
}

static void test_udp_checksum_ipv4(void)
{
	check_csum(false);
}

static void test_udp_checksum_ipv6(void)
{
	check_csum(true);
}

static void test_classify_udp(void)
{
	struct lg_endpoint src, dst;
	struct lg_rx_info ri;
	uint8_t f[200], payload[50] = "KP";
	uint32_t l4, len;

	for (int v6 = 0; v6 <= 1; v6++) {
		endpoints(&src, &dst, v6);
		len = lg_frame_udp(f, sizeof(f), &src, &dst, payload, sizeof(payload), &l4);
		CU_ASSERT_EQUAL_FATAL(lg_frame_classify(f, len, &ri), LG_RX_UDP);
		CU_ASSERT_EQUAL(ri.sport, src.port);
		CU_ASSERT_EQUAL(ri.dport, 7102);
		CU_ASSERT_EQUAL(ri.payload_len, sizeof(payload));
		CU_ASSERT_PTR_EQUAL(ri.payload, f + l4 + LG_UDP_LEN);
		CU_ASSERT_EQUAL(ri.ipv6, v6);
		/* Truncated frames are not read past their end. */
		CU_ASSERT_EQUAL(lg_frame_classify(f, len - 1, &ri), LG_RX_OTHER);
	}
	CU_ASSERT_EQUAL(lg_frame_udp(f, 60, &src, &dst, payload, sizeof(payload), &l4), 0);
}

static void test_arp(void)
{
	uint8_t f[LG_ARP_FRAME], mac[6] = { 2, 0, 0, 0, 0, 2 }, gw[6] = { 2, 0, 0, 0, 0, 1 };
	uint8_t me[4] = { 192, 0, 2, 2 }, target[4] = { 192, 0, 2, 1 };
	struct lg_rx_info ri;

	CU_ASSERT_EQUAL(lg_frame_arp_request(f, mac, me, target), LG_ARP_FRAME);
	CU_ASSERT_EQUAL_FATAL(lg_frame_classify(f, sizeof(f), &ri), LG_RX_ARP_REQUEST);
	CU_ASSERT_EQUAL(memcmp(ri.peer_mac, mac, 6), 0);
	CU_ASSERT_EQUAL(memcmp(ri.arp_sender_ip, me, 4), 0);
	CU_ASSERT_EQUAL(memcmp(ri.arp_target_ip, target, 4), 0);
	/* The gateway's side answers: the reply says who has the target. */
	lg_frame_arp_answer(f, gw);
	CU_ASSERT_EQUAL_FATAL(lg_frame_classify(f, sizeof(f), &ri), LG_RX_ARP_REPLY);
	CU_ASSERT_EQUAL(memcmp(ri.peer_mac, gw, 6), 0);
	CU_ASSERT_EQUAL(memcmp(ri.arp_sender_ip, target, 4), 0);
	CU_ASSERT_EQUAL(memcmp(ri.arp_target_ip, me, 4), 0);
	CU_ASSERT_EQUAL(memcmp(f, mac, 6), 0);   /* sent back to the asker */
}

static void test_answer_read(void)
{
	struct kpg_verdicts vs = { 0 };
	struct kpg_answer ka = { .request_id = LG_ID_BASE | 12345, .trust_version = 7,
				 .verdicts = &vs };
	uint8_t buf[512];
	struct lg_answer a;
	int n;

	kpg_verdict_add(&vs, "signature", KPG_ACCEPT, KPG_R_OK, "fine");
	kpg_verdict_add(&vs, "validity", KPG_REJECT, KPG_R_CERT_EXPIRED, "old");
	ka.decision = kpg_decision_aggregate(&vs);
	n = kpg_response_encode(&ka, buf, sizeof(buf));
	CU_ASSERT_TRUE_FATAL(n > 0);
	CU_ASSERT_EQUAL_FATAL(lg_answer_read(buf, (uint32_t)n, &a), 0);
	CU_ASSERT_FALSE(a.echo);
	CU_ASSERT_EQUAL(a.request_id, LG_ID_BASE | 12345);
	CU_ASSERT_EQUAL(a.decision, KPG_REJECT);
	CU_ASSERT_EQUAL(a.reason, KPG_R_CERT_EXPIRED);
	CU_ASSERT_EQUAL(a.error, 0);
	CU_ASSERT_EQUAL(a.trust_version, 7);

	ka = (struct kpg_answer){ .request_id = 0, .error = KPG_ERR_MALFORMED_REQUEST };
	n = kpg_response_encode(&ka, buf, sizeof(buf));
	CU_ASSERT_EQUAL_FATAL(lg_answer_read(buf, (uint32_t)n, &a), 0);
	CU_ASSERT_EQUAL(a.request_id, 0);
	CU_ASSERT_EQUAL(a.error, KPG_ERR_MALFORMED_REQUEST);
	CU_ASSERT_EQUAL(a.decision, KPG_DECISION_NONE);

	buf[0] = 'X';
	CU_ASSERT_NOT_EQUAL(lg_answer_read(buf, (uint32_t)n, &a), 0);
	CU_ASSERT_NOT_EQUAL(lg_answer_read(buf, 3, &a), 0);
}

static void test_echo_read(void)
{
	/* A request as the generator writes it: id first, fixed width. */
	uint8_t req[32] = { 'K', 'P', 1, 1, 0x08 };
	struct lg_answer a;

	lg_varint_put(req + 5, LG_ID_BASE | 77, LG_ID_LEN);
	req[14] = 0x12;                   /* station_id, 2 bytes */
	req[15] = 2;
	req[16] = 'l';
	req[17] = 'g';
	CU_ASSERT_EQUAL_FATAL(lg_answer_read(req, 18, &a), 0);
	CU_ASSERT_TRUE(a.echo);
	CU_ASSERT_EQUAL(a.request_id, LG_ID_BASE | 77);
}

static void test_varint_width(void)
{
	uint8_t b[LG_ID_LEN];
	const uint8_t *pos = b;
	struct kpg_pb_field f;
	uint8_t tagged[1 + LG_ID_LEN] = { 0x08 };

	CU_ASSERT_EQUAL(lg_varint_len(LG_ID_BASE), LG_ID_LEN);
	CU_ASSERT_EQUAL(lg_varint_len(LG_ID_BASE | (LG_ID_BASE - 1)), LG_ID_LEN);
	CU_ASSERT_EQUAL(lg_varint_len(1767225600), LG_TIME_LEN);   /* 2026 */
	lg_varint_put(b, LG_ID_BASE | 4242, LG_ID_LEN);
	memcpy(tagged + 1, b, LG_ID_LEN);
	pos = tagged;
	CU_ASSERT_EQUAL_FATAL(kpg_pb_next(&pos, tagged + sizeof(tagged), &f), KPG_WIRE_OK);
	CU_ASSERT_EQUAL(f.value, LG_ID_BASE | 4242);
	CU_ASSERT_TRUE(f.minimal);
}

static void test_rss_hash_matches_a_nic(void)
{
	/* Microsoft's RSS verification vector: 66.9.149.187:2794 ->
	 * 161.142.100.80:1766 hashes to 0x51ccc178 with the default key. */
	struct lg_endpoint src = { .port = 2794 }, dst = { .port = 1766 };
	uint8_t f[100], payload[4] = { 0 };
	uint32_t l4;

	inet_pton(AF_INET, "66.9.149.187", src.ip4);
	inet_pton(AF_INET, "161.142.100.80", dst.ip4);
	CU_ASSERT_TRUE_FATAL(lg_frame_udp(f, sizeof(f), &src, &dst, payload, 4, &l4) > 0);
	CU_ASSERT_EQUAL(lg_rss_hash(f, false), 0x51ccc178u);
	CU_ASSERT_EQUAL(lg_rss_queue(0x51ccc178u, 1), 0);
	CU_ASSERT_EQUAL(lg_rss_queue(0x51ccc178u, 2), (0x51ccc178u % 128) % 2);
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "IPv4 UDP checksum after an id rewrite", test_udp_checksum_ipv4 },
		{ "IPv6 UDP checksum after an id rewrite", test_udp_checksum_ipv6 },
		{ "UDP frames are read back", test_classify_udp },
		{ "ARP request and reply", test_arp },
		{ "answers are read", test_answer_read },
		{ "echoed requests are read", test_echo_read },
		{ "request ids have a fixed width", test_varint_width },
		{ "RSS hash matches a NIC's", test_rss_hash_matches_a_nic },
		{ NULL, NULL },
	};

	return kpg_cunit_run("loadgen-frame", tests, NULL, NULL);
}
