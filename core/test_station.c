/* Station authentication through the engine, as a station would see it:
 * HMAC valid, bad, missing and truncated in each mode; source addresses;
 * unknown stations; error answers withheld from unproven sources; the
 * replay window (re-scans get the first answer byte for byte, other bytes
 * under the same id are refused, pending retries are not queued twice,
 * "not now" answers are not kept); token buckets charged per cold verify
 * only, at their boundaries, and the unknown stations' shared bucket.
 * Also the pieces on their own: HMAC against RFC 4231, the table's
 * checks and state hand-over, the window's store. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kpg_audit.h"
#include "kpg_cunit.h"
#include "kpg_engine.h"
#include "kpg_replay.h"
#include "kpg_request_build.h"
#include "kpg_response.h"
#include "kpg_station.h"
#include "kpg_testkit.h"

#define NS 1000000000ll

static struct kpg_tk_pki pki;
static struct kpg_trust *trust;
static int64_t now;

static const uint8_t key1[KPG_HMAC_KEY_LEN] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
static const uint8_t key2[KPG_HMAC_KEY_LEN] = { 2, 2, 2, 2, 2, 2, 2, 2, 2 };
static const uint8_t key4[KPG_HMAC_KEY_LEN] = { 4, 4, 4, 4, 4, 4, 4, 4, 4 };
static struct kpg_hmac mac1, mac2, mac4;

/* 192.0.2.3 is gate-3's, 192.0.2.4 gate-4's; 198.51.100.7 nobody's. */
static const struct kpg_addr addr3 = { 4, { 192, 0, 2, 3 } };
static const struct kpg_addr addr4 = { 4, { 192, 0, 2, 4 } };
static const struct kpg_addr stranger = { 4, { 198, 51, 100, 7 } };

static const struct kpg_engine_conf econf = {
	.cache_entries = 1024,
	.clock_skew_s = 300,
	.trust_grace_s = 3600,
	.slot = 0,
	.replay_entries = 64,
};

/* gate-1 required, any source; gate-2 optional; gate-3 off, by address;
 * gate-4 required and by address. Buckets: 10/s, burst 3. */
static struct kpg_stations *table(bool allow_unknown, const struct kpg_stations *prev)
{
	struct kpg_station_conf sc[4] = {
		{ .id = "gate-1", .has_key = true, .hmac = KPG_HMAC_REQUIRED },
		{ .id = "gate-2", .has_key = true, .hmac = KPG_HMAC_OPTIONAL },
		{ .id = "gate-3", .hmac = KPG_HMAC_OFF, .n_addrs = 1, .addrs = { addr3 } },
		{ .id = "gate-4", .has_key = true, .hmac = KPG_HMAC_REQUIRED,
		  .n_addrs = 1, .addrs = { addr4 } },
	};
	struct kpg_stations_conf c = {
		.n = 4, .stations = sc, .allow_unknown = allow_unknown,
		.unknown_rate = 1, .unknown_burst = 2, .slots = 1,
	};
	char err[256];
	struct kpg_stations *t;

	memcpy(sc[0].key, key1, sizeof(key1));
	memcpy(sc[1].key, key2, sizeof(key2));
	memcpy(sc[3].key, key4, sizeof(key4));
	for (unsigned i = 0; i < 4; i++)
		sc[i].rate = 10, sc[i].burst = 3;
	t = kpg_stations_new(&c, prev, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	return t;
}

/* A request of station for a fresh certificate numbered n (0: the
 * default one), signed with mac when given. */
static int request(const char *station, uint64_t id, int64_t scan_time,
		   unsigned n, const struct kpg_hmac *mac, uint8_t *out)
{
	struct kpg_tk_cert tc;
	uint8_t sc[KPG_DATAGRAM_MAX];
	char number[32];
	int len;

	kpg_tk_cert_default(&tc, now);
	if (n) {
		snprintf(number, sizeof(number), "ZA-2026-%06u", n);
		tc.c.number = number;
	}
	len = kpg_tk_cert_sign(pki.auth[KPG_ALG_ED25519], &tc.c, sc, sizeof(sc));
	CU_ASSERT_FATAL(len > 0);
	struct kpg_scan s = {
		.request_id = id, .station_id = station, .scan_time = scan_time,
		.signed_cert = sc, .signed_cert_len = (size_t)len,
	};
	len = kpg_request_build(&s, out, KPG_DATAGRAM_MAX);
	CU_ASSERT_FATAL(len > 0);
	if (mac)
		len = kpg_hmac_sign_request(mac, out, (size_t)len, KPG_DATAGRAM_MAX);
	CU_ASSERT_FATAL(len > 0);
	return len;
}

struct outcome {
	enum kpg_step step;
	bool warm;                       /* answered at stage */
	uint8_t out[KPG_DATAGRAM_MAX];
	uint32_t len;
	Kpgate__ScanResponse *r;
};

static uint64_t verifies(const struct kpg_engine *e)
{
	const struct kpg_engine_stats *s = kpg_engine_stats(e);

	return s->verify_ok + s->verify_failed;
}

/* One datagram through the engine as a worker runs it. */
static void run(struct kpg_engine *e, const uint8_t *d, uint32_t len,
		const struct kpg_addr *src, struct outcome *o)
{
	struct kpg_job job = { .dgram = d, .len = len, .src = *src }, *jp = &job;

	memset(o, 0, sizeof(*o));
	o->step = kpg_engine_stage(e, &job, o->out, len, &o->len);
	o->warm = o->step == KPG_STEP_REPLY;
	if (o->step == KPG_STEP_VERIFY) {
		kpg_engine_verify(e, &jp, 1);
		o->step = kpg_engine_finish(e, &job, o->out, len, &o->len);
	}
	if (o->step == KPG_STEP_REPLY) {
		CU_ASSERT(o->len <= len);
		o->r = kpgate__scan_response__unpack(NULL, o->len - KPG_HDR_LEN,
						     o->out + KPG_HDR_LEN);
		CU_ASSERT_PTR_NOT_NULL_FATAL(o->r);
	}
}

static void done(struct outcome *o)
{
	if (o->r)
		kpgate__scan_response__free_unpacked(o->r, NULL);
	o->r = NULL;
}

static int error_of(const struct outcome *o)
{
	return o->r && o->r->has_error ? (int)o->r->error : 0;
}

static struct kpg_engine *engine(const struct kpg_stations *t, int64_t at_ns)
{
	struct kpg_engine *e = kpg_engine_new(&econf);

	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	kpg_engine_begin(e, trust, NULL, t, at_ns);
	return e;
}

static struct kpg_station_counts counts_of(const struct kpg_stations *t,
					   const char *id)
{
	struct kpg_station_counts c;
	const struct kpg_station *s = id ? kpg_stations_find(t, (const uint8_t *)id,
							     (uint32_t)strlen(id))
					 : kpg_stations_at(t, kpg_stations_count(t));

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	kpg_station_counts_sum(t, (unsigned)(s - kpg_stations_at(t, 0)), &c);
	return c;
}

/* ---- the pieces ---- */

static void test_hmac_rfc4231(void)
{
	static const uint8_t want2[32] = {
		0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
		0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
		0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43 };
	static const uint8_t want6[32] = {
		0x60, 0xe4, 0x31, 0x59, 0x1e, 0xe0, 0xb6, 0x7f, 0x0d, 0x8a, 0x26,
		0xaa, 0xcb, 0xf5, 0xb7, 0x7f, 0x8e, 0x0b, 0xc6, 0x21, 0x37, 0x28,
		0xc5, 0x14, 0x05, 0x46, 0x04, 0x0f, 0x0e, 0xe3, 0x7f, 0x54 };
	static const char msg6[] = "Test Using Larger Than Block-Size Key - Hash Key First";
	uint8_t big[131], tag[32];
	struct kpg_hmac h;

	kpg_hmac_init(&h, (const uint8_t *)"Jefe", 4);
	kpg_hmac_tag(&h, (const uint8_t *)"what do ya want for nothing?", 28, tag);
	CU_ASSERT_EQUAL(memcmp(tag, want2, 32), 0);
	CU_ASSERT_TRUE(kpg_hmac_check(&h, (const uint8_t *)"what do ya want for nothing?",
				      28, want2, 32));
	CU_ASSERT_FALSE(kpg_hmac_check(&h, (const uint8_t *)"what do ya want for nothing!",
				       28, want2, 32));
	CU_ASSERT_FALSE(kpg_hmac_check(&h, (const uint8_t *)"what do ya want for nothing?",
				       28, want2, 16));   /* a truncated tag is no tag */
	memset(big, 0xaa, sizeof(big));
	kpg_hmac_init(&h, big, sizeof(big));
	kpg_hmac_tag(&h, (const uint8_t *)msg6, strlen(msg6), tag);
	CU_ASSERT_EQUAL(memcmp(tag, want6, 32), 0);
}

static void test_key_text(void)
{
	uint8_t k[KPG_HMAC_KEY_LEN];
	char path[512], err[256];
	char *dir = kpg_tk_tmpdir();
	FILE *f;

	CU_ASSERT_EQUAL(kpg_hmac_key_parse(
		"000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F\n", k), 0);
	CU_ASSERT_EQUAL(k[0x1f], 0x1f);
	CU_ASSERT_EQUAL(k[10], 10);
	CU_ASSERT(kpg_hmac_key_parse("0001", k) < 0);
	CU_ASSERT(kpg_hmac_key_parse(
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00", k) < 0);
	CU_ASSERT(kpg_hmac_key_parse(
		"g00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1", k) < 0);

	CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
	kpg_tk_path(path, sizeof(path), dir, "st.key");
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("  ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n", f);
	fclose(f);
	CU_ASSERT_EQUAL(kpg_hmac_key_read(path, k, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(k[0], 0xff);
	CU_ASSERT_EQUAL(k[31], 0x00);
	kpg_tk_path(path, sizeof(path), dir, "absent.key");
	CU_ASSERT(kpg_hmac_key_read(path, k, err, sizeof(err)) < 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "absent.key"));
	kpg_tk_rmtree(dir);
	free(dir);
}

static void test_table_refusals(void)
{
	struct kpg_station_conf sc[2] = {
		{ .id = "a", .has_key = true, .rate = 1, .burst = 1 },
		{ .id = "a", .has_key = true, .rate = 1, .burst = 1 },
	};
	struct kpg_stations_conf c = { .n = 2, .stations = sc, .slots = 1 };
	char err[256];

	CU_ASSERT_PTR_NULL(kpg_stations_new(&c, NULL, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "twice"));
	c.n = 1;
	sc[0].has_key = false;
	CU_ASSERT_PTR_NULL(kpg_stations_new(&c, NULL, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "key"));
	sc[0].hmac = KPG_HMAC_OFF;     /* off, but from anywhere: anyone */
	CU_ASSERT_PTR_NULL(kpg_stations_new(&c, NULL, err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "addresses"));
	sc[0] = (struct kpg_station_conf){ .id = "gate \"1\"", .has_key = true,
					   .rate = 1, .burst = 1 };
	CU_ASSERT_PTR_NULL(kpg_stations_new(&c, NULL, err, sizeof(err)));
	sc[0].id = "gate-1";
	sc[0].rate = 0;
	CU_ASSERT_PTR_NULL(kpg_stations_new(&c, NULL, err, sizeof(err)));
	sc[0].rate = 5;
	struct kpg_stations *t = kpg_stations_new(&c, NULL, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(t);
	CU_ASSERT_PTR_NULL(kpg_stations_find(t, (const uint8_t *)"gate-", 5));
	CU_ASSERT_PTR_NOT_NULL(kpg_stations_find(t, (const uint8_t *)"gate-1", 6));
	CU_ASSERT_FALSE(kpg_stations_registered(t, &addr3));
	kpg_stations_delete(t);
}

/* A rebuilt table keeps a station's drained bucket and its counts; a new
 * station starts full. */
static void test_reload_keeps_state(void)
{
	struct kpg_stations *t1 = table(false, NULL), *t2;
	const struct kpg_station *s;

	s = kpg_stations_find(t1, (const uint8_t *)"gate-1", 6);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_TRUE(kpg_station_take(s, 0, now * NS));
	CU_ASSERT_FALSE(kpg_station_take(s, 0, now * NS));
	kpg_station_lcore(s, 0)->c.requests = 7;
	t2 = table(true, t1);
	kpg_stations_delete(t1);        /* as RCU would, after the swap */
	s = kpg_stations_find(t2, (const uint8_t *)"gate-1", 6);
	CU_ASSERT_FALSE(kpg_station_take(s, 0, now * NS));
	CU_ASSERT_EQUAL(counts_of(t2, "gate-1").requests, 7);
	s = kpg_stations_find(t2, (const uint8_t *)"gate-2", 6);
	CU_ASSERT_TRUE(kpg_station_take(s, 0, now * NS));
	kpg_stations_delete(t2);
}

/* rate 10/s, burst 3: a token every 100 ms, never more than 3. */
static void test_bucket_boundaries(void)
{
	struct kpg_stations *t = table(false, NULL);
	const struct kpg_station *s = kpg_stations_find(t, (const uint8_t *)"gate-1", 6);
	int64_t t0 = now * NS;

	for (int i = 0; i < 3; i++)
		CU_ASSERT_TRUE(kpg_station_take(s, 0, t0));
	CU_ASSERT_FALSE(kpg_station_take(s, 0, t0));
	CU_ASSERT_FALSE(kpg_station_take(s, 0, t0 + 99999999));
	CU_ASSERT_TRUE(kpg_station_take(s, 0, t0 + 100000000));
	CU_ASSERT_FALSE(kpg_station_take(s, 0, t0 + 100000000));
	/* clock stepped back: no credit, and no harm */
	CU_ASSERT_FALSE(kpg_station_take(s, 0, t0));
	CU_ASSERT_TRUE(kpg_station_take(s, 0, t0 + 100000000));
	/* a day idle fills the burst, not more */
	for (int i = 0; i < 3; i++)
		CU_ASSERT_TRUE(kpg_station_take(s, 0, t0 + 86400 * NS));
	CU_ASSERT_FALSE(kpg_station_take(s, 0, t0 + 86400 * NS));
	kpg_stations_delete(t);
}

/* ---- through the engine ---- */

static void test_required_mode(void)
{
	struct kpg_stations *t = table(false, NULL);
	struct kpg_engine *e = engine(t, now * NS);
	uint8_t d[KPG_DATAGRAM_MAX], d2[KPG_DATAGRAM_MAX];
	struct outcome o;
	uint64_t v0;
	int n;

	/* signed: judged, and the answer is signed with the same key */
	n = request("gate-1", 1, now, 1, &mac1, d);
	run(e, d, (uint32_t)n, &stranger, &o);
	CU_ASSERT_EQUAL_FATAL(o.step, KPG_STEP_REPLY);
	CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__ACCEPT);
	CU_ASSERT_TRUE(o.r->has_hmac);
	CU_ASSERT_EQUAL(kpg_hmac_check_response(&mac1, o.out, o.len), 1);
	CU_ASSERT(kpg_hmac_check_response(&mac2, o.out, o.len) < 0);
	o.out[8] ^= 1;                  /* a station notices any change */
	CU_ASSERT(kpg_hmac_check_response(&mac1, o.out, o.len) < 0);
	done(&o);

	v0 = verifies(e);
	/* unsigned, from nobody's address: no answer at all, no crypto */
	n = request("gate-1", 2, now, 2, NULL, d);
	run(e, d, (uint32_t)n, &stranger, &o);
	CU_ASSERT_EQUAL(o.step, KPG_STEP_DROP);
	/* ... from a station's registered address: told why, unsigned */
	run(e, d, (uint32_t)n, &addr4, &o);
	CU_ASSERT_EQUAL_FATAL(o.step, KPG_STEP_REPLY);
	CU_ASSERT_EQUAL(error_of(&o), KPG_ERR_STATION_AUTH_FAILED);
	CU_ASSERT_FALSE(o.r->has_hmac);
	done(&o);

	/* a bad tag, a tag by another station's key, a byte changed under
	 * the tag, a truncated tag, an empty tag */
	n = request("gate-1", 3, now, 3, &mac1, d);
	memcpy(d2, d, (size_t)n);
	d2[n - 1] ^= 0x80;
	run(e, d2, (uint32_t)n, &addr4, &o);
	CU_ASSERT_EQUAL(error_of(&o), KPG_ERR_STATION_AUTH_FAILED);
	done(&o);
	n = request("gate-1", 3, now, 3, &mac2, d2);
	run(e, d2, (uint32_t)n, &addr4, &o);
	CU_ASSERT_EQUAL(error_of(&o), KPG_ERR_STATION_AUTH_FAILED);
	done(&o);
	memcpy(d2, d, (size_t)n);
	d2[n - KPG_HMAC_FIELD_LEN - 5] ^= 0x01;  /* scan_time, one second on */
	run(e, d2, (uint32_t)n, &addr4, &o);
	CU_ASSERT_EQUAL(error_of(&o), KPG_ERR_STATION_AUTH_FAILED);
	done(&o);
	memcpy(d2, d, (size_t)n);
	d2[n - KPG_HMAC_FIELD_LEN + 1] = 16;     /* field 15 of 16 bytes */
	run(e, d2, (uint32_t)n - 16, &addr4, &o);
	CU_ASSERT_EQUAL(error_of(&o), KPG_ERR_STATION_AUTH_FAILED);
	done(&o);
	d2[n - KPG_HMAC_FIELD_LEN + 1] = 0;      /* field 15 empty */
	run(e, d2, (uint32_t)n - 32, &addr4, &o);
	CU_ASSERT_EQUAL(error_of(&o), KPG_ERR_STATION_AUTH_FAILED);
	done(&o);
	/* cut inside the tag: not even a request */
	run(e, d, (uint32_t)n - 5, &addr4, &o);
	CU_ASSERT_EQUAL(error_of(&o), KPG_ERR_MALFORMED_REQUEST);
	done(&o);
	run(e, d, (uint32_t)n - 5, &stranger, &o);
	CU_ASSERT_EQUAL(o.step, KPG_STEP_DROP);
	CU_ASSERT_EQUAL(verifies(e), v0);

	struct kpg_station_counts c = counts_of(t, "gate-1");
	CU_ASSERT_EQUAL(c.requests, 8);
	CU_ASSERT_EQUAL(c.auth_failed, 7);
	CU_ASSERT_EQUAL(c.answered, 7);
	CU_ASSERT_EQUAL(c.unanswered, 1);
	CU_ASSERT_EQUAL(counts_of(t, NULL).unanswered, 1);   /* the cut one */
	kpg_engine_delete(e);
	kpg_stations_delete(t);
}

static void test_optional_and_off_modes(void)
{
	struct kpg_stations *t = table(false, NULL);
	struct kpg_engine *e = engine(t, now * NS);
	uint8_t d[KPG_DATAGRAM_MAX];
	struct outcome o;
	int n;

	/* optional: a tag is checked when present, and then signs the answer */
	n = request("gate-2", 1, now, 11, &mac2, d);
	run(e, d, (uint32_t)n, &stranger, &o);
	CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__ACCEPT);
	CU_ASSERT_EQUAL(kpg_hmac_check_response(&mac2, o.out, o.len), 1);
	done(&o);
	n = request("gate-2", 2, now, 12, NULL, d);
	run(e, d, (uint32_t)n, &stranger, &o);
	CU_ASSERT_EQUAL_FATAL(o.step, KPG_STEP_REPLY);
	CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__ACCEPT);
	CU_ASSERT_FALSE(o.r->has_hmac);
	done(&o);
	n = request("gate-2", 3, now, 13, &mac1, d);
	run(e, d, (uint32_t)n, &addr3, &o);
	CU_ASSERT_EQUAL(error_of(&o), KPG_ERR_STATION_AUTH_FAILED);
	done(&o);

	/* off: the address vouches, a tag is ignored either way */
	n = request("gate-3", 1, now, 14, NULL, d);
	run(e, d, (uint32_t)n, &addr3, &o);
	CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__ACCEPT);
	done(&o);
	n = request("gate-3", 2, now, 15, &mac4, d);
	run(e, d, (uint32_t)n, &addr3, &o);
	CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__ACCEPT);
	CU_ASSERT_FALSE(o.r->has_hmac);
	done(&o);
	run(e, d, (uint32_t)n, &addr4, &o);   /* gate-4's address, not gate-3's */
	CU_ASSERT_EQUAL(error_of(&o), KPG_ERR_STATION_AUTH_FAILED);
	done(&o);
	run(e, d, (uint32_t)n, &stranger, &o);
	CU_ASSERT_EQUAL(o.step, KPG_STEP_DROP);

	/* required and by address: a good tag from elsewhere is not enough */
	n = request("gate-4", 1, now, 16, &mac4, d);
	run(e, d, (uint32_t)n, &addr3, &o);
	CU_ASSERT_EQUAL(error_of(&o), KPG_ERR_STATION_AUTH_FAILED);
	done(&o);
	run(e, d, (uint32_t)n, &addr4, &o);
	CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__ACCEPT);
	CU_ASSERT_EQUAL(kpg_hmac_check_response(&mac4, o.out, o.len), 1);
	done(&o);
	kpg_engine_delete(e);
	kpg_stations_delete(t);
}

static void test_unknown_stations(void)
{
	struct kpg_stations *t = table(false, NULL);
	struct kpg_engine *e = engine(t, now * NS);
	uint8_t d[KPG_DATAGRAM_MAX];
	struct outcome o;
	uint64_t v0;
	int n;

	n = request("gate-9", 1, now, 21, NULL, d);
	run(e, d, (uint32_t)n, &stranger, &o);
	CU_ASSERT_EQUAL(o.step, KPG_STEP_DROP);
	run(e, d, (uint32_t)n, &addr3, &o);
	CU_ASSERT_EQUAL(error_of(&o), KPG_ERR_STATION_UNKNOWN);
	done(&o);
	kpg_engine_delete(e);
	kpg_stations_delete(t);

	/* Served: one small bucket (1/s, burst 2) for every unknown id and
	 * every unproven claim of a known one; the stations keep theirs. */
	t = table(true, NULL);
	e = engine(t, now * NS);
	v0 = verifies(e);
	for (unsigned i = 0; i < 2; i++) {
		n = request(i ? "gate-2" : "junk-7", 10 + i, now, 30 + i, NULL, d);
		run(e, d, (uint32_t)n, &stranger, &o);
		CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__ACCEPT);
		done(&o);
	}
	CU_ASSERT_EQUAL(verifies(e), v0 + 2);
	n = request("junk-8", 12, now, 32, NULL, d);
	run(e, d, (uint32_t)n, &stranger, &o);
	CU_ASSERT_EQUAL(o.step, KPG_STEP_DROP);            /* silently */
	n = request("gate-2", 13, now, 33, NULL, d);
	run(e, d, (uint32_t)n, &stranger, &o);
	CU_ASSERT_EQUAL(o.step, KPG_STEP_DROP);
	CU_ASSERT_EQUAL(verifies(e), v0 + 2);
	/* a proven station is untouched by all that */
	n = request("gate-2", 14, now, 34, &mac2, d);
	run(e, d, (uint32_t)n, &stranger, &o);
	CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__ACCEPT);
	done(&o);
	/* a warm answer costs no token */
	n = request("junk-9", 15, now, 30, NULL, d);
	run(e, d, (uint32_t)n, &stranger, &o);
	CU_ASSERT_TRUE(o.warm);
	CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__ACCEPT);
	done(&o);
	/* the unproven claims of gate-2 spent the shared bucket, not its own */
	CU_ASSERT_EQUAL(counts_of(t, NULL).rate_limited, 2);
	CU_ASSERT_EQUAL(counts_of(t, NULL).verifies, 2);
	CU_ASSERT_EQUAL(counts_of(t, "gate-2").rate_limited, 0);
	CU_ASSERT_EQUAL(counts_of(t, "gate-2").verifies, 1);
	CU_ASSERT_EQUAL(counts_of(t, "gate-2").unanswered, 1);
	kpg_engine_delete(e);
	kpg_stations_delete(t);
}

/* A proven station's empty bucket is told "overloaded" (signed); warm
 * answers go on; the retry after a refill is judged, not refused again. */
static void test_station_bucket(void)
{
	struct kpg_stations *t = table(false, NULL);
	struct kpg_engine *e = engine(t, now * NS);
	uint8_t d[KPG_DATAGRAM_MAX];
	struct outcome o;
	int n;

	for (unsigned i = 0; i < 3; i++) {
		n = request("gate-1", 100 + i, now, 40 + i, &mac1, d);
		run(e, d, (uint32_t)n, &stranger, &o);
		CU_ASSERT_FALSE(o.warm);
		CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__ACCEPT);
		done(&o);
	}
	n = request("gate-1", 103, now, 43, &mac1, d);
	run(e, d, (uint32_t)n, &stranger, &o);
	CU_ASSERT_EQUAL(error_of(&o), KPG_ERR_OVERLOADED);
	CU_ASSERT_EQUAL(kpg_hmac_check_response(&mac1, o.out, o.len), 1);
	done(&o);
	{
		uint8_t w[KPG_DATAGRAM_MAX];
		int wn = request("gate-1", 104, now, 40, &mac1, w);

		run(e, w, (uint32_t)wn, &stranger, &o);
		CU_ASSERT_TRUE(o.warm);
		CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__ACCEPT);
		done(&o);
	}
	kpg_engine_begin(e, trust, NULL, t, now * NS + 100000000);
	run(e, d, (uint32_t)n, &stranger, &o);
	CU_ASSERT_FALSE(o.warm);
	CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__ACCEPT);
	done(&o);
	CU_ASSERT_EQUAL(counts_of(t, "gate-1").rate_limited, 1);
	CU_ASSERT_EQUAL(counts_of(t, "gate-1").verifies, 4);
	kpg_engine_delete(e);
	kpg_stations_delete(t);
}

static void test_replay_window(void)
{
	struct kpg_stations *t = table(false, NULL);
	struct kpg_engine *e = engine(t, now * NS);
	uint8_t d[KPG_DATAGRAM_MAX], d2[KPG_DATAGRAM_MAX], first[KPG_DATAGRAM_MAX];
	uint32_t first_len;
	struct outcome o;
	uint64_t v0;
	int n, n2;

	n = request("gate-1", 500, now, 51, &mac1, d);
	run(e, d, (uint32_t)n, &stranger, &o);
	CU_ASSERT_FALSE(o.warm);
	CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__ACCEPT);
	CU_ASSERT_PTR_NOT_NULL(kpg_engine_audit(e));
	memcpy(first, o.out, o.len);
	first_len = o.len;
	done(&o);

	/* a re-scan: the first answer, byte for byte, with nothing redone */
	v0 = verifies(e);
	kpg_engine_begin(e, trust, NULL, t, (now + 100) * NS);
	run(e, d, (uint32_t)n, &stranger, &o);
	CU_ASSERT_TRUE(o.warm);
	CU_ASSERT_EQUAL(o.len, first_len);
	CU_ASSERT_EQUAL(memcmp(o.out, first, first_len), 0);
	CU_ASSERT_PTR_NULL(kpg_engine_audit(e));     /* no new decision */
	done(&o);
	CU_ASSERT_EQUAL(verifies(e), v0);
	CU_ASSERT_EQUAL(kpg_engine_stats(e)->cache_hits, 0);

	/* other bytes under the same id: refused, and told so (signed) */
	n2 = request("gate-1", 500, now + 1, 51, &mac1, d2);
	run(e, d2, (uint32_t)n2, &stranger, &o);
	CU_ASSERT_EQUAL(error_of(&o), KPG_ERR_REPLAY);
	CU_ASSERT_EQUAL(kpg_hmac_check_response(&mac1, o.out, o.len), 1);
	done(&o);
	/* the same id belongs to each station apart */
	n2 = request("gate-2", 500, now, 51, &mac2, d2);
	run(e, d2, (uint32_t)n2, &stranger, &o);
	CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__ACCEPT);
	done(&o);

	/* 2 x skew + 1 s later the id is free again: fresh bytes are judged */
	kpg_engine_begin(e, trust, NULL, t, (now + 601) * NS);
	n2 = request("gate-1", 500, now + 601, 51, &mac1, d2);
	run(e, d2, (uint32_t)n2, &stranger, &o);
	CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__ACCEPT);
	done(&o);
	/* ... while the old bytes fail the clock, as the window assumed */
	run(e, d, (uint32_t)n, &stranger, &o);
	CU_ASSERT_EQUAL(error_of(&o), KPG_ERR_CLOCK_SKEW);
	done(&o);

	struct kpg_station_counts c = counts_of(t, "gate-1");
	CU_ASSERT_EQUAL(c.rescans, 1);
	CU_ASSERT_EQUAL(c.replays, 1);
	kpg_engine_delete(e);
	kpg_stations_delete(t);
}

/* A retry that arrives while the first copy waits for its verify is not
 * queued twice; a "not now" answer is not what a retry gets back. */
static void test_replay_pending_and_transient(void)
{
	struct kpg_stations *t = table(false, NULL);
	struct kpg_engine *e = engine(t, now * NS);
	uint8_t d[KPG_DATAGRAM_MAX], out[KPG_DATAGRAM_MAX];
	struct kpg_job j1 = { .src = stranger }, j2 = { .src = stranger }, *jp = &j1;
	struct outcome o;
	uint32_t len = 0;
	int n;

	n = request("gate-3", 600, now, 61, NULL, d);    /* windowed by address */
	j1.src = j2.src = addr3;
	j1.dgram = j2.dgram = d;
	j1.len = j2.len = (uint32_t)n;
	CU_ASSERT_EQUAL_FATAL(kpg_engine_stage(e, &j1, out, (uint32_t)n, &len), KPG_STEP_VERIFY);
	CU_ASSERT_EQUAL(kpg_engine_stage(e, &j2, out, (uint32_t)n, &len), KPG_STEP_DROP);
	kpg_engine_verify(e, &jp, 1);
	CU_ASSERT_EQUAL(kpg_engine_finish(e, &j1, out, (uint32_t)n, &len), KPG_STEP_REPLY);
	run(e, d, (uint32_t)n, &addr3, &o);
	CU_ASSERT_TRUE(o.warm);
	CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__ACCEPT);
	CU_ASSERT_EQUAL(memcmp(o.out, out, len), 0);
	done(&o);

	/* cold queue full: overloaded now, judged on the retry */
	n = request("gate-1", 601, now, 62, &mac1, d);
	j1 = (struct kpg_job){ .dgram = d, .len = (uint32_t)n, .src = stranger };
	CU_ASSERT_EQUAL_FATAL(kpg_engine_stage(e, &j1, out, (uint32_t)n, &len), KPG_STEP_VERIFY);
	CU_ASSERT_EQUAL(kpg_engine_refuse(e, &j1, KPG_ERR_OVERLOADED, out, (uint32_t)n, &len),
			KPG_STEP_REPLY);
	run(e, d, (uint32_t)n, &stranger, &o);
	CU_ASSERT_EQUAL(error_of(&o), 0);
	CU_ASSERT_EQUAL(o.r->decision, KPGATE__DECISION__ACCEPT);
	done(&o);
	kpg_engine_delete(e);
	kpg_stations_delete(t);
}

/* The answer's HMAC field counts in "never larger than the request". */
static void test_signed_answer_fits(void)
{
	struct kpg_verdicts vs = { 0 };
	struct kpg_answer a = { .request_id = 9, .decision = KPG_REJECT,
				.verdicts = &vs, .hmac = true };
	uint8_t buf[KPG_DATAGRAM_MAX];
	Kpgate__ScanResponse *r;
	int full, n;

	kpg_verdict_add(&vs, "signature", KPG_ACCEPT, 0, "signed by a long authority name here");
	kpg_verdict_add(&vs, "validity", KPG_REJECT, 8, "expired on a date long ago, it says");
	full = kpg_response_encode(&a, buf, sizeof(buf));
	CU_ASSERT_FATAL(full > (int)KPG_HMAC_FIELD_LEN);
	CU_ASSERT_EQUAL(buf[full - KPG_HMAC_FIELD_LEN], 15 << 3 | 2);
	n = kpg_response_encode(&a, buf, (size_t)full - 20);
	CU_ASSERT_FATAL(n > 0 && n <= full - 20);
	CU_ASSERT_EQUAL(buf[n - KPG_HMAC_FIELD_LEN], 15 << 3 | 2);
	r = kpgate__scan_response__unpack(NULL, (size_t)n - KPG_HDR_LEN, buf + KPG_HDR_LEN);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_TRUE(r->has_hmac);
	CU_ASSERT_EQUAL(r->decision, KPGATE__DECISION__REJECT);
	kpgate__scan_response__free_unpacked(r, NULL);
	/* the bare answer: header, id, decision, version (10), then the tag */
	CU_ASSERT_EQUAL(kpg_response_encode(&a, buf, 10 + KPG_HMAC_FIELD_LEN),
			(int)(10 + KPG_HMAC_FIELD_LEN));
	CU_ASSERT(kpg_response_encode(&a, buf, 10 + KPG_HMAC_FIELD_LEN - 1) < 0);
}

/* ---- the window's store on its own ---- */

static void test_replay_store(void)
{
	struct kpg_replay *r = kpg_replay_new(8, 8 * 1200, 10);
	uint8_t dg[KPG_REPLAY_DIGEST_LEN] = { 1 }, other[KPG_REPLAY_DIGEST_LEN] = { 2 };
	uint8_t ans[100];
	const uint8_t *got;
	uint32_t seq, len, seqs[8];

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	memset(ans, 0xab, sizeof(ans));
	for (uint64_t id = 0; id < 8; id++) {
		CU_ASSERT_EQUAL(kpg_replay_check(r, 7, id, dg, 1200, 100, &seqs[id],
						 &got, &len), KPG_REPLAY_FRESH);
	}
	CU_ASSERT_EQUAL(kpg_replay_check(r, 7, 8, dg, 1200, 100, &seq, &got, &len),
			KPG_REPLAY_FULL);
	CU_ASSERT_EQUAL(kpg_replay_check(r, 7, 3, dg, 1200, 100, &seq, &got, &len),
			KPG_REPLAY_PENDING);
	CU_ASSERT_EQUAL(kpg_replay_check(r, 7, 3, other, 1200, 100, &seq, &got, &len),
			KPG_REPLAY_REFUSE);
	for (unsigned i = 0; i < 8; i++) {
		ans[0] = (uint8_t)i;
		if (i == 5)
			kpg_replay_cancel(r, seqs[i]);
		else
			kpg_replay_commit(r, seqs[i], ans, 10 + i);
	}
	CU_ASSERT_EQUAL_FATAL(kpg_replay_check(r, 7, 6, dg, 1200, 105, &seq, &got, &len),
			      KPG_REPLAY_RESCAN);
	CU_ASSERT_EQUAL(len, 16);
	CU_ASSERT_EQUAL(got[0], 6);
	/* live entries are never pushed out, even by a cancelled one's id */
	CU_ASSERT_EQUAL(kpg_replay_check(r, 7, 5, dg, 1200, 109, &seq, &got, &len),
			KPG_REPLAY_FULL);
	/* at 110 all expired: the ring turns over, wrapping its bytes */
	for (uint64_t id = 100; id < 108; id++) {
		CU_ASSERT_EQUAL_FATAL(kpg_replay_check(r, 7, id, dg, 1000, 110, &seq,
						       &got, &len), KPG_REPLAY_FRESH);
		ans[0] = (uint8_t)id;
		kpg_replay_commit(r, seq, ans, 50);
	}
	CU_ASSERT_EQUAL(kpg_replay_check(r, 7, 3, dg, 1200, 110, &seq, &got, &len),
			KPG_REPLAY_FULL);
	for (uint64_t id = 100; id < 108; id++) {
		CU_ASSERT_EQUAL_FATAL(kpg_replay_check(r, 7, id, dg, 1000, 111, &seq,
						       &got, &len), KPG_REPLAY_RESCAN);
		CU_ASSERT_EQUAL(got[0], (uint8_t)id);
	}
	kpg_replay_delete(r);
}

/* Many ids through a small window, against a model: the index's
 * deletions never lose or invent an entry. */
static void test_replay_store_churn(void)
{
	enum { N = 64, IDS = 200, STEPS = 20000 };
	struct kpg_replay *r = kpg_replay_new(N, N * 64, 3);
	static int64_t made[IDS];        /* 0: not live in the model */
	uint8_t dg[KPG_REPLAY_DIGEST_LEN] = { 0 };
	const uint8_t *got;
	uint32_t seq, len, live = 0;
	unsigned bad = 0;
	int64_t t = 10;

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	srand(7);
	for (int s = 0; s < STEPS; s++) {
		uint64_t id = (uint64_t)(rand() % IDS);
		enum kpg_replay_result res;

		if (rand() % 50 == 0)
			t++;
		live = 0;
		for (unsigned i = 0; i < IDS; i++) {
			if (made[i] && made[i] + 3 <= t)
				made[i] = 0;
			live += made[i] != 0;
		}
		res = kpg_replay_check(r, id >> 4, id, dg, 32, t, &seq, &got, &len);
		if (made[id]) {
			bad += res != KPG_REPLAY_RESCAN;
		} else if (res == KPG_REPLAY_FRESH) {
			made[id] = t;
			kpg_replay_commit(r, seq, dg, 8);
		} else {
			bad += res != KPG_REPLAY_FULL || live != N;
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
	kpg_replay_delete(r);
}

static int setup(void)
{
	now = time(NULL);
	if (kpg_tk_pki_new(&pki) != 0)
		return -1;
	trust = kpg_tk_trust(&pki, 1, now, NULL, 1);
	kpg_hmac_init(&mac1, key1, sizeof(key1));
	kpg_hmac_init(&mac2, key2, sizeof(key2));
	kpg_hmac_init(&mac4, key4, sizeof(key4));
	return trust ? 0 : -1;
}

static int teardown(void)
{
	kpg_trust_delete(trust);
	kpg_tk_pki_delete(&pki);
	return 0;
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "HMAC-SHA-256 matches RFC 4231", test_hmac_rfc4231 },
		{ "keys from hex and key files", test_key_text },
		{ "the table refuses what cannot work", test_table_refusals },
		{ "a rebuilt table keeps buckets and counts", test_reload_keeps_state },
		{ "bucket boundaries", test_bucket_boundaries },
		{ "required mode: valid, missing, bad, truncated", test_required_mode },
		{ "optional and off modes, source addresses", test_optional_and_off_modes },
		{ "unknown stations: refused, or one shared bucket", test_unknown_stations },
		{ "a station's bucket: overloaded, warm goes on", test_station_bucket },
		{ "replay window: re-scan, replay, expiry", test_replay_window },
		{ "replay window: pending retries, transient answers", test_replay_pending_and_transient },
		{ "a signed answer still fits the request", test_signed_answer_fits },
		{ "replay store: full, cancel, wrap", test_replay_store },
		{ "replay store: churn against a model", test_replay_store_churn },
		{ NULL, NULL },
	};

	return kpg_cunit_run("station", tests, setup, teardown);
}
