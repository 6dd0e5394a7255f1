/* test_lg_pool.c — the prebuilt requests keep a scan_time the gateway
 * accepts: while sending, refreshing leaves them alone until the stamp is
 * LG_POOL_STAMP_AGE_S old, then restamps every one of them a few at a
 * time, and each request still leaves with a valid UDP checksum. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ip.h>
#include <rte_udp.h>

#include "kpg_cunit.h"
#include "kpg_pb.h"
#include "lg_frame.h"
#include "lg_pool.h"

#define T0      1767225600               /* 2026-01-01 */
#define N_CERTS 6u

/* A SignedCertificate's three required fields; the pool never verifies. */
static const uint8_t sc[] = { 0x0a, 3, 'a', 'b', 'c', 0x12, 2, 's', 'g', 0x1a, 1, 'k' };
static const uint8_t *certs[N_CERTS] = { sc, sc, sc, sc, sc, sc };
static uint16_t lens[N_CERTS] = { sizeof(sc), sizeof(sc), sizeof(sc),
				  sizeof(sc), sizeof(sc), sizeof(sc) };

static void build(struct lg_pool *p)
{
	struct lg_pki pki = { 0 };
	struct lg_pool_conf c = {
		.stations = 4, .ipv6_share = 0.5, .queues = 1, .warm = 2,
		.gw_has_ip6 = true, .now = T0,
	};
	char err[256];

	pki.alg[KPG_ALG_ED25519] = (struct lg_certs){ .n = N_CERTS, .cert = certs, .len = lens };
	c.alg[KPG_ALG_ED25519] = true;
	c.gw.port = 7102;
	inet_pton(AF_INET, "192.0.2.1", c.gw.ip4);
	inet_pton(AF_INET6, "2001:db8::1", c.gw.ip6);
	CU_ASSERT_EQUAL_FATAL(lg_pool_build(p, &pki, &c, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(p->n, N_CERTS);
}

static uint64_t scan_time(const struct lg_pool *p, const struct lg_entry *e)
{
	const uint8_t *at = lg_pool_frame(p, e) + e->time_off;
	uint8_t tagged[1 + LG_TIME_LEN] = { 0x28 };   /* field 5, varint */
	const uint8_t *pos = tagged;
	struct kpg_pb_field f;

	memcpy(tagged + 1, at, LG_TIME_LEN);
	if (kpg_pb_next(&pos, tagged + sizeof(tagged), &f) != KPG_WIRE_OK)
		return 0;
	return f.value;
}

/* Sends entry e as the generator does (a copy, an id, the checksum) and
 * checks the checksum DPDK computes over that copy. */
static void check_sent(const struct lg_pool *p, const struct lg_entry *e, uint64_t seq)
{
	uint8_t f[2048];
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(f + e->l4);
	uint16_t got, want;

	memcpy(f, lg_pool_frame(p, e), e->len);
	lg_id_write(f, e->l4, e->sum, e->id_off, LG_ID_BASE | seq);
	got = udp->dgram_cksum;
	udp->dgram_cksum = 0;
	want = e->ipv6 ?
	       rte_ipv6_udptcp_cksum((const struct rte_ipv6_hdr *)(f + LG_ETH_LEN), udp) :
	       rte_ipv4_udptcp_cksum((const struct rte_ipv4_hdr *)(f + LG_ETH_LEN), udp);
	CU_ASSERT_EQUAL(got, want);
}

static void test_fresh_stamp_left_alone(void)
{
	struct lg_pool p;
	uint8_t *before;

	build(&p);
	before = malloc(p.frames_len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(before);
	memcpy(before, p.frames, p.frames_len);
	for (int i = 0; i < 1000; i++)
		lg_pool_refresh(&p, T0 + LG_POOL_STAMP_AGE_S - 1, 4);
	CU_ASSERT_EQUAL(memcmp(before, p.frames, p.frames_len), 0);
	CU_ASSERT_EQUAL(p.scan_time, T0);
	free(before);
	lg_pool_free(&p);
}

static void test_old_stamp_swept(void)
{
	const int64_t later = T0 + LG_POOL_STAMP_AGE_S;
	struct lg_pool p;
	unsigned calls = 0;

	build(&p);
	/* One entry a call: the sweep ends after as many calls as entries. */
	do {
		lg_pool_refresh(&p, later, 1);
		calls++;
	} while (p.refresh_next != 0 && calls < 2 * N_CERTS);
	CU_ASSERT_EQUAL(calls, N_CERTS);
	CU_ASSERT_EQUAL(p.scan_time, later);
	for (uint32_t i = 0; i < p.n; i++) {
		CU_ASSERT_EQUAL(scan_time(&p, &p.e[i]), (uint64_t)later);
		check_sent(&p, &p.e[i], 1000 + i);
	}
	/* Stamped now: the next calls do nothing until it ages again. */
	lg_pool_refresh(&p, later + 1, 1);
	CU_ASSERT_EQUAL(p.refresh_next, 0);
	CU_ASSERT_EQUAL(scan_time(&p, &p.e[0]), (uint64_t)later);
	lg_pool_free(&p);
}

static void test_set_time_stamps_all(void)
{
	struct lg_pool p;

	build(&p);
	lg_pool_set_time(&p, T0 + 3);
	for (uint32_t i = 0; i < p.n; i++) {
		CU_ASSERT_EQUAL(scan_time(&p, &p.e[i]), (uint64_t)T0 + 3);
		check_sent(&p, &p.e[i], i);
	}
	lg_pool_free(&p);
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "a fresh stamp is left alone", test_fresh_stamp_left_alone },
		{ "an old stamp is swept, checksums stay right", test_old_stamp_swept },
		{ "set_time stamps every request", test_set_time_stamps_all },
		{ NULL, NULL },
	};

	return kpg_cunit_run("loadgen-pool", tests, NULL, NULL);
}
