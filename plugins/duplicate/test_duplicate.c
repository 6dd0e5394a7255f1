/* The duplicate plugin, loaded from its built .so through the host:
 * consumption only on accept, the re-scan window to the second, a restart
 * through the ledger file, torn and damaged files, a full ring, a full
 * table, reloads, config errors, and workers racing. Then the table's
 * lock-free readers against rebuilds, and SipHash against its reference
 * vectors. Each test has its own state dir (the store settings are fixed
 * for a plugin instance's life). */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kpg_cunit.h"
#include "kpg_plugin_testkit.h"

#include "dup_hash.h"
#include "dup_seen.h"
#include "dup_table.h"
#include "duplicate_debug.h"

#define T0 INT64_C(1767225600)           /* 2026-01-01 00:00:00Z */

static char base[] = "/tmp/kpg-duplicate-XXXXXX";
static void *dso;
static const struct kpg_duplicate_debug *dbg;

static int setup(void)
{
	const char *dir = getenv("KPG_PLUGIN_DIR");
	char path[512];

	if (dir == NULL || mkdtemp(base) == NULL)
		return 1;
	/* Our own reference keeps the plugin loaded between hosts, and gives
	 * the debug hooks of whichever instance is alive. */
	snprintf(path, sizeof(path), "%s/kpgate-duplicate.so", dir);
	dso = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (dso == NULL) {
		fprintf(stderr, "%s\n", dlerror());
		return 1;
	}
	dbg = dlsym(dso, KPG_DUPLICATE_DEBUG_SYMBOL);
	return dbg ? 0 : 1;
}

static int teardown(void)
{
	char cmd[600];

	dlclose(dso);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : 1;
}

/* ---- rig: a host of two workers at checkpoint cp, state in base/name -- */

struct rig {
	char dir[256];
	struct kpg_plugin_host *h;
	struct kpg_chain *c;
};

static struct kpg_plugin_host *host_at(const char *dir, const char *cp)
{
	struct kpg_plugin_host *h = kpg_ptest_host_at("EU", dir, cp, 2);

	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	return h;
}

static struct kpg_chain *try_chain(struct kpg_plugin_host *h,
				   const char *section, char *err, size_t len)
{
	char list[1024];

	snprintf(list, sizeof(list), "( { name = \"duplicate\"; %s } )", section);
	return kpg_ptest_chain(h, list, err, len);
}

static struct kpg_chain *chain(struct kpg_plugin_host *h, const char *section)
{
	char err[512];
	struct kpg_chain *c = try_chain(h, section, err, sizeof(err));

	if (c == NULL)
		fprintf(stderr, "\n  %s\n", err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	return c;
}

static void rig_open(struct rig *r, const char *name, const char *section)
{
	snprintf(r->dir, sizeof(r->dir), "%s/%s", base, name);
	mkdir(r->dir, 0700);
	r->h = host_at(r->dir, "antwerp-1");
	r->c = chain(r->h, section);
}

/* A restart: every chain and the host go, the plugin's fini runs. */
static void rig_close(struct rig *r)
{
	kpg_chain_delete(r->c);
	kpg_plugin_host_delete(r->h);
	r->c = NULL;
	r->h = NULL;
}

static void ledger_path(const struct rig *r, char *path, size_t len)
{
	snprintf(path, len, "%s/duplicate.ledger", r->dir);
}

static struct kpg_duplicate_stats stats(void)
{
	struct kpg_duplicate_stats s;

	CU_ASSERT_EQUAL_FATAL(dbg->stats(&s), 0);
	return s;
}

/* Until the owner has recorded every consumption pushed so far. */
static void settle(void)
{
	CU_ASSERT_EQUAL_FATAL(dbg->drain(5000), 0);
}

/* ---- certificates and scans ------------------------------------------- */

struct scan_fx {
	char number[32], bytes[64], station[32];
	struct kpg_cert cert;
	struct kpg_scan_view scan;
};

/* Certificate `number` of participant ZA, expiring on expiry, signed as
 * "bytes of NUMBER", scanned by station at now on worker 0. */
static void scan_fx(struct scan_fx *f, const char *number, uint32_t expiry,
		    const char *station, int64_t now)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->number, sizeof(f->number), "%s", number);
	snprintf(f->bytes, sizeof(f->bytes), "bytes of %s", number);
	snprintf(f->station, sizeof(f->station), "%s", station);
	f->cert.number = (struct kpg_str){ f->number, (uint32_t)strlen(f->number) };
	memcpy(f->cert.issuing_participant, "ZA", 3);
	f->cert.expiry_date = expiry;
	f->scan.cert = &f->cert;
	f->scan.station_id = (struct kpg_str){ f->station, (uint32_t)strlen(f->station) };
	f->scan.now = now;
	f->scan.cert_bytes = (const uint8_t *)f->bytes;
	f->scan.cert_len = (uint32_t)strlen(f->bytes);
}

static void expect(const struct kpg_chain *c, const struct scan_fx *f,
		   enum kpg_decision d, uint32_t reason, const char *detail)
{
	struct kpg_verdict v = kpg_ptest_eval(c, &f->scan);

	CU_ASSERT_EQUAL(v.decision, d);
	CU_ASSERT_EQUAL(v.reason, reason);
	if (detail)
		CU_ASSERT_STRING_EQUAL(v.detail, detail);
	if (v.decision != d || v.reason != reason ||
	    (detail && strcmp(v.detail, detail)))
		fprintf(stderr, "\n  %s by %s at %+lld: want %u %u '%s', got %u %u '%s'\n",
			f->number, f->station, (long long)(f->scan.now - T0), d,
			reason, detail ? detail : "", v.decision, v.reason,
			v.detail);
}

/* A scan that passes, and the commit of its overall accept. */
static void consume_fx(const struct kpg_chain *c, const struct scan_fx *f)
{
	expect(c, f, KPG_ACCEPT, 1800, "not consumed before");
	kpg_chain_commit(c, &f->scan, KPG_ACCEPT);
}

/* Scans a certificate, which passes, and commits the overall accept. */
static void consume(const struct kpg_chain *c, const char *number,
		    uint32_t expiry, const char *station, int64_t now)
{
	struct scan_fx f;

	scan_fx(&f, number, expiry, station, now);
	consume_fx(c, &f);
}

static void expect_number(const struct kpg_chain *c, const char *number,
			  enum kpg_decision d, uint32_t reason)
{
	struct scan_fx f;

	scan_fx(&f, number, 29991231, "ANR-1", T0 + 1);
	expect(c, &f, d, reason, NULL);
}

/* ---- the plugin -------------------------------------------------------- */

static void test_consumed_on_accept(void)
{
	struct rig r;
	struct scan_fx f;

	rig_open(&r, "consume", "");
	consume(r.c, "ZA-0001", 29991231, "ANR-1", T0);
	settle();
	scan_fx(&f, "ZA-0001", 29991231, "ANR-1", T0 + 10);
	expect(r.c, &f, KPG_REJECT, 1802,
	       "already consumed 2026-01-01 00:00:00Z at antwerp-1/ANR-1");
	CU_ASSERT_EQUAL(stats().inserted, 1);
	CU_ASSERT_EQUAL(stats().records, 1);

	/* another number, and the same number of another participant */
	expect_number(r.c, "ZA-0002", KPG_ACCEPT, 1800);
	scan_fx(&f, "ZA-0001", 29991231, "ANR-1", T0);
	memcpy(f.cert.issuing_participant, "ZW", 3);
	expect(r.c, &f, KPG_ACCEPT, 1800, NULL);

	/* long names are cut to fit the ledger, on a UTF-8 character */
	consume(r.c, "ZA-0003", 29991231,
		"Grenze\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc-1", T0);
	settle();
	scan_fx(&f, "ZA-0003", 29991231, "ANR-1", T0 + 10);
	expect(r.c, &f, KPG_REJECT, 1802,
	       "already consumed 2026-01-01 00:00:00Z at antwerp-1/Grenze"
	       "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc");

	/* no number: the rule does not apply */
	scan_fx(&f, "", 29991231, "ANR-1", T0);
	expect(r.c, &f, KPG_DECISION_NONE, 0, "");
	f.scan.cert = NULL;
	expect(r.c, &f, KPG_DECISION_NONE, 0, "");
	kpg_chain_commit(r.c, &f.scan, KPG_ACCEPT);
	rig_close(&r);
}

static void test_only_accept_consumes(void)
{
	struct rig r;
	struct scan_fx f;

	rig_open(&r, "only-accept", "");
	scan_fx(&f, "ZA-0010", 29991231, "ANR-1", T0);
	kpg_chain_commit(r.c, &f.scan, KPG_REFER);
	kpg_chain_commit(r.c, &f.scan, KPG_REJECT);
	kpg_chain_commit(r.c, &f.scan, KPG_DECISION_NONE);
	/* then an accept of another one on the same worker: when it is
	 * recorded, so would the first have been */
	consume(r.c, "ZA-0011", 29991231, "ANR-1", T0);
	settle();
	expect_number(r.c, "ZA-0010", KPG_ACCEPT, 1800);
	expect_number(r.c, "ZA-0011", KPG_REJECT, 1802);
	CU_ASSERT_EQUAL(stats().inserted, 1);
	rig_close(&r);
}

static void rescan(const struct kpg_chain *c, const char *station, int64_t at,
		   enum kpg_decision d, uint32_t reason, const char *detail)
{
	struct scan_fx f;

	scan_fx(&f, "ZA-0020", 29991231, station, T0 + at);
	expect(c, &f, d, reason, detail);
}

static void test_rescan_window(void)
{
	struct rig r;
	struct scan_fx f;

	rig_open(&r, "rescan",
		 "stations = [ \"ANR-1\", \"ANR-2\" ]; station_prefix = \"ANR-X\";"
		 " rescan_window = 60;");
	consume(r.c, "ZA-0020", 29991231, "ANR-1", T0);
	settle();

	rescan(r.c, "ANR-2", 60, KPG_ACCEPT, 1801,
	       "re-scan within window, accepted 2026-01-01 00:00:00Z at ANR-1");
	rescan(r.c, "ANR-2", 61, KPG_REJECT, 1802,
	       "already consumed 2026-01-01 00:00:00Z at antwerp-1/ANR-1");
	rescan(r.c, "ANR-1", 0, KPG_ACCEPT, 1801, NULL);
	rescan(r.c, "ANR-1", 59, KPG_ACCEPT, 1801, NULL);
	rescan(r.c, "ANR-1", -5, KPG_ACCEPT, 1801, NULL);   /* clock stepped back */
	rescan(r.c, "ANR-X9", 1, KPG_ACCEPT, 1801, NULL);   /* by prefix */
	rescan(r.c, "ANR-X", 1, KPG_ACCEPT, 1801, NULL);
	rescan(r.c, "ANR-3", 1, KPG_REJECT, 1802, NULL);    /* not ours */
	rescan(r.c, "anr-1", 1, KPG_REJECT, 1802, NULL);    /* ids are exact */
	rescan(r.c, "ANR-", 1, KPG_REJECT, 1802, NULL);
	rescan(r.c, "", 1, KPG_REJECT, 1802, NULL);

	/* a re-scan that passes again is not a new consumption */
	scan_fx(&f, "ZA-0020", 29991231, "ANR-2", T0 + 30);
	kpg_chain_commit(r.c, &f.scan, KPG_ACCEPT);
	settle();
	CU_ASSERT_EQUAL(stats().inserted, 1);
	CU_ASSERT_EQUAL(stats().raced, 0);

	/* the same number on other signed bytes, even from our station */
	snprintf(f.bytes, sizeof(f.bytes), "forged bytes");
	f.scan.cert_len = (uint32_t)strlen(f.bytes);
	expect(r.c, &f, KPG_REJECT, 1803,
	       "number consumed with other bytes 2026-01-01 00:00:00Z at antwerp-1/ANR-1");
	rig_close(&r);
}

/* A worker keeps the ids and digests of certificates it found in the
 * ledger: its answers must stay the hashes' answers, byte for byte, when
 * slots are shared, evicted, or hold other bytes of the same number. */
static void test_worker_memory_exact(void)
{
	enum { N = 2048, LONG = 1500 };
	static uint8_t big[2][LONG];
	struct rig r;
	struct scan_fx f;
	char number[32];

	rig_open(&r, "memory", "stations = [ \"ANR-1\" ]; rescan_window = 60;");
	for (unsigned i = 0; i < N; i++) {
		snprintf(number, sizeof(number), "ZA-M-%u", i);
		consume(r.c, number, 29991231, "ANR-1", T0);
		if (i % 256 == 255)
			settle();        /* within a ring's 1024 */
	}
	settle();
	for (unsigned round = 0; round < 3; round++)
		for (unsigned i = 0; i < N; i++) {
			snprintf(number, sizeof(number), "ZA-M-%u", i);
			scan_fx(&f, number, 29991231, "ANR-1", T0 + 1);
			expect(r.c, &f, KPG_ACCEPT, 1801, NULL);
			f.bytes[f.scan.cert_len - 1] ^= 1;   /* one byte off */
			expect(r.c, &f, KPG_REJECT, 1803, NULL);
			f.scan.cert_len--;                   /* one byte short */
			expect(r.c, &f, KPG_REJECT, 1803, NULL);
			f.bytes[f.scan.cert_len] ^= 1;       /* the right ones */
			f.scan.cert_len++;
			snprintf(f.station, sizeof(f.station), "ANR-2");
			f.scan.station_id.len = 5;
			expect(r.c, &f, KPG_REJECT, 1802,
			       "already consumed 2026-01-01 00:00:00Z at antwerp-1/ANR-1");
			memcpy(f.cert.issuing_participant, "ZW", 3);
			expect(r.c, &f, KPG_ACCEPT, 1800, NULL);
		}

	/* signed bytes longer than a worker keeps, and as long as it keeps:
	 * the last byte still tells */
	for (unsigned k = 0; k < 2; k++) {
		uint32_t len = k ? DUP_SEEN_BYTES : LONG;

		memset(big[k], 'a' + k, len);
		scan_fx(&f, k ? "ZA-M-FIT" : "ZA-M-LONG", 29991231, "ANR-1", T0);
		f.scan.cert_bytes = big[k];
		f.scan.cert_len = len;
		consume_fx(r.c, &f);
		settle();
		for (unsigned round = 0; round < 2; round++) {
			expect(r.c, &f, KPG_ACCEPT, 1801, NULL);
			big[k][len - 1] ^= 1;
			expect(r.c, &f, KPG_REJECT, 1803, NULL);
			big[k][len - 1] ^= 1;
		}
	}

	/* no signed bytes at all is a digest too */
	scan_fx(&f, "ZA-M-NONE", 29991231, "ANR-1", T0);
	f.scan.cert_bytes = NULL;
	consume_fx(r.c, &f);
	settle();
	for (unsigned round = 0; round < 2; round++) {
		expect(r.c, &f, KPG_ACCEPT, 1801, NULL);
		f.scan.cert_bytes = (const uint8_t *)f.bytes;
		f.scan.cert_len = 0;
		expect(r.c, &f, KPG_ACCEPT, 1801, NULL);
		f.scan.cert_len = 1;
		expect(r.c, &f, KPG_REJECT, 1803, NULL);
		f.scan.cert_bytes = NULL;
	}
	rig_close(&r);
}

static void test_survives_restart(void)
{
	struct rig r;
	struct scan_fx f;
	struct kpg_plugin_host *h;
	struct kpg_chain *c;

	rig_open(&r, "restart", "stations = [ \"ANR-1\" ]; rescan_window = 600;");
	consume(r.c, "ZA-0031", 29991231, "ANR-1", T0);
	consume(r.c, "ZA-0032", 29991231, "ANR-1", T0);
	consume(r.c, "ZA-0033", 29991231, "ANR-1", T0);
	rig_close(&r);                   /* no settle: fini drains the rings */

	r.h = host_at(r.dir, "antwerp-1");
	r.c = chain(r.h, "stations = [ \"ANR-1\" ]; rescan_window = 600;");
	CU_ASSERT_EQUAL(stats().loaded, 3);
	CU_ASSERT_EQUAL(stats().records, 3);
	CU_ASSERT_EQUAL(stats().inserted, 0);
	expect_number(r.c, "ZA-0031", KPG_ACCEPT, 1801);    /* re-scan, ours */
	scan_fx(&f, "ZA-0032", 29991231, "ANR-1", T0 + 601);
	expect(r.c, &f, KPG_REJECT, 1802, NULL);
	expect_number(r.c, "ZA-0034", KPG_ACCEPT, 1800);
	rig_close(&r);

	/* the same ledger under another checkpoint's name: accepted
	 * elsewhere, so even our station's re-scan is refused; and while one
	 * instance has the ledger, no other may */
	h = host_at(r.dir, "rotterdam-1");
	c = chain(h, "stations = [ \"ANR-1\" ]; rescan_window = 600;");
	scan_fx(&f, "ZA-0031", 29991231, "ANR-1", T0 + 1);
	expect(c, &f, KPG_REJECT, 1802,
	       "already consumed 2026-01-01 00:00:00Z at antwerp-1/ANR-1");
	{
		struct kpg_plugin_host *h2 = host_at(r.dir, "antwerp-1");
		char err[512] = "";

		CU_ASSERT_PTR_NULL(try_chain(h2, "", err, sizeof(err)));
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "in use by another kpgate"));
		kpg_plugin_host_delete(h2);
	}
	kpg_chain_delete(c);
	kpg_plugin_host_delete(h);
}

static off_t file_size(const char *path)
{
	struct stat sb;

	CU_ASSERT_EQUAL_FATAL(stat(path, &sb), 0);
	return sb.st_size;
}

static void append_bytes(const char *path, int byte, size_t n)
{
	FILE *f = fopen(path, "a");

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	for (size_t i = 0; i < n; i++)
		fputc(byte, f);
	fclose(f);
}

static void poke_byte(const char *path, long at)
{
	FILE *f = fopen(path, "r+");
	int c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fseek(f, at, SEEK_SET);
	c = fgetc(f);
	fseek(f, at, SEEK_SET);
	fputc(c ^ 0x5a, f);
	fclose(f);
}

#define HDR 64
#define REC 136

static void test_torn_and_damaged_file(void)
{
	struct rig r;
	char path[512], err[512] = "";

	rig_open(&r, "torn", "");
	consume(r.c, "ZA-0041", 29991231, "ANR-1", T0);
	consume(r.c, "ZA-0042", 29991231, "ANR-1", T0);
	rig_close(&r);
	ledger_path(&r, path, sizeof(path));
	CU_ASSERT_EQUAL(file_size(path), HDR + 2 * REC);

	/* a crash mid-append leaves part of a record: cut off */
	append_bytes(path, 0x00, 50);
	rig_open(&r, "torn", "");
	CU_ASSERT_EQUAL(stats().truncated, 50);
	CU_ASSERT_EQUAL(stats().loaded, 2);
	CU_ASSERT_EQUAL(file_size(path), HDR + 2 * REC);
	expect_number(r.c, "ZA-0041", KPG_REJECT, 1802);
	expect_number(r.c, "ZA-0042", KPG_REJECT, 1802);
	rig_close(&r);

	/* a whole record of garbage at the end: torn too */
	append_bytes(path, 0xab, REC);
	rig_open(&r, "torn", "");
	CU_ASSERT_EQUAL(stats().truncated, REC);
	CU_ASSERT_EQUAL(stats().corrupt, 0);
	CU_ASSERT_EQUAL(file_size(path), HDR + 2 * REC);
	rig_close(&r);

	/* a damaged record before a good one is skipped, counted, and gone
	 * from the rewritten file; the good one stays */
	poke_byte(path, HDR + 40);
	rig_open(&r, "torn", "");
	CU_ASSERT_EQUAL(stats().corrupt, 1);
	CU_ASSERT_EQUAL(stats().loaded, 1);
	CU_ASSERT_EQUAL(file_size(path), HDR + REC);
	expect_number(r.c, "ZA-0041", KPG_ACCEPT, 1800);
	expect_number(r.c, "ZA-0042", KPG_REJECT, 1802);
	rig_close(&r);

	/* a damaged header: refused, and the file left for a person */
	poke_byte(path, 3);
	r.h = host_at(r.dir, "antwerp-1");
	CU_ASSERT_PTR_NULL(try_chain(r.h, "", err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a kpgate duplicate ledger"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
	CU_ASSERT_EQUAL(file_size(path), HDR + REC);
	kpg_plugin_host_delete(r.h);

	/* a header torn at creation: nothing was recorded, start again */
	CU_ASSERT_EQUAL(truncate(path, 20), 0);
	rig_open(&r, "torn", "");
	CU_ASSERT_EQUAL(file_size(path), HDR);
	expect_number(r.c, "ZA-0042", KPG_ACCEPT, 1800);
	rig_close(&r);
}

static void test_full_ring_counted(void)
{
	struct rig r;
	char number[32];
	struct scan_fx f;

	rig_open(&r, "ring", "ring_size = 4;");
	dbg->pause(true);
	for (int i = 1; i <= 5; i++) {
		snprintf(number, sizeof(number), "ZA-005%d", i);
		consume(r.c, number, 29991231, "ANR-1", T0);
	}
	/* worker 1 has a ring of its own */
	for (int i = 6; i <= 9; i++) {
		snprintf(number, sizeof(number), "ZA-005%d", i);
		scan_fx(&f, number, 29991231, "ANR-1", T0);
		f.scan.worker = 1;
		kpg_chain_commit(r.c, &f.scan, KPG_ACCEPT);
	}
	CU_ASSERT_EQUAL(stats().ring_full, 1);
	CU_ASSERT_EQUAL(stats().inserted, 0);
	dbg->pause(false);
	settle();
	CU_ASSERT_EQUAL(stats().inserted, 8);
	for (int i = 1; i <= 9; i++) {
		snprintf(number, sizeof(number), "ZA-005%d", i);
		/* the fifth push found worker 0's ring full: lost */
		expect_number(r.c, number, i == 5 ? KPG_ACCEPT : KPG_REJECT,
			      i == 5 ? 1800 : 1802);
	}
	/* a worker the host did not declare is counted, not written */
	scan_fx(&f, "ZA-0060", 29991231, "ANR-1", T0);
	f.scan.worker = 7;
	kpg_chain_commit(r.c, &f.scan, KPG_ACCEPT);
	CU_ASSERT_EQUAL(stats().bad_worker, 1);
	rig_close(&r);
}

static void test_capacity_and_retention(void)
{
	struct rig r;
	char path[512];

	rig_open(&r, "capacity", "capacity = 4; retention_days = 1;");
	/* three expired long ago, one valid for centuries */
	consume(r.c, "ZA-0071", 20000101, "ANR-1", T0);
	consume(r.c, "ZA-0072", 20000101, "ANR-1", T0);
	consume(r.c, "ZA-0073", 20000101, "ANR-1", T0);
	consume(r.c, "ZA-0074", 29991231, "ANR-1", T0 + 4);
	settle();
	CU_ASSERT_EQUAL(stats().records, 4);

	/* full: the expired ones are forgotten to make room */
	consume(r.c, "ZA-0075", 29991231, "ANR-1", T0 + 5);
	settle();
	CU_ASSERT_EQUAL(stats().evicted, 3);
	CU_ASSERT_EQUAL(stats().records, 2);
	expect_number(r.c, "ZA-0071", KPG_ACCEPT, 1800);
	expect_number(r.c, "ZA-0074", KPG_REJECT, 1802);
	expect_number(r.c, "ZA-0075", KPG_REJECT, 1802);

	/* full of live ones: refused and counted, never an eviction of a
	 * certificate that could still be presented */
	consume(r.c, "ZA-0076", 29991231, "ANR-1", T0 + 6);
	consume(r.c, "ZA-0077", 29991231, "ANR-1", T0 + 7);
	consume(r.c, "ZA-0078", 29991231, "ANR-1", T0 + 8);
	settle();
	CU_ASSERT_EQUAL(stats().records, 4);
	CU_ASSERT_EQUAL(stats().table_full, 1);
	expect_number(r.c, "ZA-0078", KPG_ACCEPT, 1800);
	expect_number(r.c, "ZA-0077", KPG_REJECT, 1802);
	rig_close(&r);

	/* the file was rewritten at eviction: it holds what the table did */
	ledger_path(&r, path, sizeof(path));
	CU_ASSERT_EQUAL(file_size(path), HDR + 4 * REC);
	rig_open(&r, "capacity", "capacity = 4; retention_days = 1;");
	CU_ASSERT_EQUAL(stats().loaded, 4);
	CU_ASSERT_EQUAL(stats().dropped, 0);
	expect_number(r.c, "ZA-0074", KPG_REJECT, 1802);
	rig_close(&r);

	/* a restart may change the store settings: with room for 2, the
	 * newest 2 are kept and the file rewritten */
	rig_open(&r, "capacity", "capacity = 2; retention_days = 0;");
	CU_ASSERT_EQUAL(stats().loaded, 2);
	CU_ASSERT_EQUAL(stats().dropped, 2);
	CU_ASSERT_EQUAL(file_size(path), HDR + 2 * REC);
	expect_number(r.c, "ZA-0074", KPG_ACCEPT, 1800);
	expect_number(r.c, "ZA-0077", KPG_REJECT, 1802);
	rig_close(&r);
}

static void test_reload_keeps_ledger(void)
{
	struct rig r;
	struct kpg_chain *b;
	char err[512] = "";

	rig_open(&r, "reload", "rescan_window = 60;");
	consume(r.c, "ZA-0081", 29991231, "ANR-1", T0);
	settle();
	/* a reload: new state, same instance, table and owner */
	b = chain(r.h, "rescan_window = 10; stations = [ \"ANR-1\" ];");
	kpg_chain_delete(r.c);
	r.c = b;
	expect_number(r.c, "ZA-0081", KPG_ACCEPT, 1801);
	consume(r.c, "ZA-0082", 29991231, "ANR-1", T0);
	settle();
	expect_number(r.c, "ZA-0082", KPG_ACCEPT, 1801);

	/* store settings hold until a restart */
	CU_ASSERT_PTR_NULL(try_chain(r.h, "capacity = 8;", err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "'capacity' cannot change"));
	CU_ASSERT_PTR_NULL(try_chain(r.h, "state_file = \"other.ledger\";",
				     err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "'state_file' cannot change"));
	CU_ASSERT_PTR_NULL(try_chain(r.h, "owner_poll_us = 1;", err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "restart"));
	expect_number(r.c, "ZA-0081", KPG_ACCEPT, 1801);
	rig_close(&r);
}

static void expect_refused(struct kpg_plugin_host *h, const char *section,
			   const char *why)
{
	char err[512] = "";
	struct kpg_chain *c = try_chain(h, section, err, sizeof(err));

	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, why));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "duplicate"));
	if (c != NULL || strstr(err, why) == NULL)
		fprintf(stderr, "\n  %s\n  want '%s', got '%s'\n", section, why,
			err);
	if (c)
		kpg_chain_delete(c);
}

static void test_config_errors(void)
{
	char dir[300];
	struct kpg_plugin_host *h;

	snprintf(dir, sizeof(dir), "%s/config", base);
	mkdir(dir, 0700);
	h = host_at(dir, "antwerp-1");
	expect_refused(h, "window = 5;", "window");
	expect_refused(h, "stations = \"ANR-1\";", "'stations' must be a list");
	expect_refused(h, "stations = [ 1 ];", "'stations' item 1 must be a string");
	expect_refused(h, "stations = [ \"A\", \"\" ];", "'stations' item 2: empty");
	expect_refused(h, "stations = [ \"A\\tB\" ];", "control character");
	expect_refused(h, "station_prefix = \"\";", "'station_prefix' must not be empty");
	expect_refused(h, "station_prefix = 5;", "'station_prefix' must be a string");
	expect_refused(h, "rescan_window = -1;", "'rescan_window' = -1");
	expect_refused(h, "rescan_window = \"60\";", "must be an integer");
	expect_refused(h, "ring_size = 3;", "power of two");
	expect_refused(h, "ring_size = 1;", "'ring_size' = 1");
	expect_refused(h, "capacity = 0;", "'capacity' = 0");
	expect_refused(h, "capacity = 16777217;", "'capacity'");
	expect_refused(h, "state_file = \"\";", "'state_file' must not be empty");
	expect_refused(h, "state_file = \"/nonexistent-kpg/x.ledger\";",
		       "/nonexistent-kpg/x.ledger");
	expect_refused(h, "state_file = \"/nonexistent-kpg/x.ledger\";",
		       "No such file or directory");
	kpg_plugin_host_delete(h);
}

/* Two workers consume and look up at once: every consumption is recorded
 * once, and readers race the owner's inserts (run under TSan too). */
#define RACE_N 2000

struct racer {
	const struct kpg_chain *c;
	unsigned worker;
	unsigned accepted_shared;
};

static void *race_worker(void *arg)
{
	struct racer *rc = arg;
	char number[32];
	struct scan_fx f;

	for (unsigned i = 0; i < RACE_N; i++) {
		struct kpg_verdict v;

		/* one of its own ... */
		snprintf(number, sizeof(number), "ZA-R%u-%u", rc->worker, i);
		scan_fx(&f, number, 29991231, "ANR-1", T0);
		f.scan.worker = rc->worker;
		v = kpg_ptest_eval(rc->c, &f.scan);
		if (v.decision == KPG_ACCEPT)
			kpg_chain_commit(rc->c, &f.scan, KPG_ACCEPT);
		/* ... and one both workers present */
		snprintf(number, sizeof(number), "ZA-S-%u", i);
		scan_fx(&f, number, 29991231, "ANR-1", T0);
		f.scan.worker = rc->worker;
		v = kpg_ptest_eval(rc->c, &f.scan);
		if (v.decision == KPG_ACCEPT) {
			rc->accepted_shared++;
			kpg_chain_commit(rc->c, &f.scan, KPG_ACCEPT);
		}
	}
	return NULL;
}

static void test_workers_race(void)
{
	struct rig r;
	struct racer rc[2];
	pthread_t t[2];
	struct kpg_duplicate_stats s;

	rig_open(&r, "race", "ring_size = 8192;");
	for (unsigned w = 0; w < 2; w++) {
		rc[w] = (struct racer){ .c = r.c, .worker = w };
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t[w], NULL, race_worker, &rc[w]), 0);
	}
	for (unsigned w = 0; w < 2; w++)
		pthread_join(t[w], NULL);
	settle();
	s = stats();
	CU_ASSERT_EQUAL(s.ring_full, 0);
	CU_ASSERT_EQUAL(s.records, 3 * RACE_N);
	/* a shared certificate accepted by both before either commit was
	 * recorded reached the owner twice: once inserted, once raced */
	CU_ASSERT_EQUAL(s.inserted, 3 * RACE_N);
	CU_ASSERT(s.raced <= rc[0].accepted_shared + rc[1].accepted_shared - RACE_N);
	CU_ASSERT(rc[0].accepted_shared + rc[1].accepted_shared >= RACE_N);
	expect_number(r.c, "ZA-R0-0", KPG_REJECT, 1802);
	expect_number(r.c, "ZA-R1-1999", KPG_REJECT, 1802);
	expect_number(r.c, "ZA-S-1999", KPG_REJECT, 1802);
	rig_close(&r);
}

/* ---- the table: readers during rebuilds --------------------------------- */

#define TBL_KEEP 500                      /* always present */
#define TBL_CAP  1024

static void make_record(struct dup_record *r, uint64_t k)
{
	memset(r, 0, sizeof(*r));
	r->id[0] = k * UINT64_C(0x9e3779b97f4a7c15) | 1;
	r->id[1] = k * UINT64_C(0xc2b2ae3d27d4eb4f);
	r->digest[0] = ~r->id[0];
	r->digest[1] = ~r->id[1];
	r->consumed_at = (int64_t)k;
	snprintf(r->number, sizeof(r->number), "N-%llu", (unsigned long long)k);
}

struct tbl_race {
	struct dup_table *t;
	atomic_bool stop;
	unsigned long reads, busy, bad;
};

static void *tbl_reader(void *arg)
{
	struct tbl_race *tr = arg;

	while (!atomic_load(&tr->stop)) {
		for (uint64_t k = 0; k < TBL_KEEP; k++) {
			struct dup_record want, got;
			int rc;

			make_record(&want, k);
			rc = dup_table_lookup(tr->t, want.id, &got);
			tr->reads++;
			if (rc == -EAGAIN)
				tr->busy++;
			else if (rc != 1 || memcmp(&want, &got, sizeof(want)) != 0)
				tr->bad++;
		}
	}
	return NULL;
}

static bool keep_low(const struct dup_record *r, const void *arg)
{
	return (uint64_t)r->consumed_at < TBL_KEEP;
}

static void test_table_readers_during_rebuilds(void)
{
	struct tbl_race tr = { .t = dup_table_new(TBL_CAP) };
	struct dup_record r;
	pthread_t t;
	uint64_t next = TBL_KEEP;

	CU_ASSERT_PTR_NOT_NULL_FATAL(tr.t);
	for (uint64_t k = 0; k < TBL_KEEP; k++) {
		make_record(&r, k);
		CU_ASSERT_EQUAL(dup_table_insert(tr.t, &r), 0);
	}
	make_record(&r, 3);
	CU_ASSERT_EQUAL(dup_table_insert(tr.t, &r), -EEXIST);
	r.id[0] = 0;
	CU_ASSERT_EQUAL(dup_table_insert(tr.t, &r), -EINVAL);

	pthread_create(&t, NULL, tbl_reader, &tr);
	/* fill to capacity with transient records, then rebuild them away,
	 * while the reader looks up the ones that always stay */
	for (int round = 0; round < 200; round++) {
		while (dup_table_count(tr.t) < TBL_CAP) {
			make_record(&r, next++);
			CU_ASSERT_EQUAL(dup_table_insert(tr.t, &r), 0);
		}
		make_record(&r, next++);
		CU_ASSERT_EQUAL(dup_table_insert(tr.t, &r), -ENOSPC);
		CU_ASSERT_EQUAL(dup_table_rebuild(tr.t, keep_low, NULL),
				TBL_CAP - TBL_KEEP);
		CU_ASSERT_EQUAL(dup_table_count(tr.t), TBL_KEEP);
	}
	atomic_store(&tr.stop, true);
	pthread_join(t, NULL);
	CU_ASSERT(tr.reads > 0);
	CU_ASSERT_EQUAL(tr.bad, 0);
	/* busy answers are allowed (the plugin refers), but must be rare */
	CU_ASSERT(tr.busy * 100 <= tr.reads);
	dup_table_delete(tr.t);
}

/* ---- SipHash-2-4 --------------------------------------------------------- */

static void test_siphash_vectors(void)
{
	/* veorq/SipHash vectors.h: key 00..0f, message 00..n-1 */
	static const char *const want128[] = {
		"a3817f04ba25a8e66df67214c7550293",
		"da87c1d86b99af44347659119b22fc45",
		"8177228da4a45dc7fca38bdef60affe4",
		"9c70b60c5267a94e5f33b6b02985ed51",
		"f88164c12d9c8faf7d0f6e7c7bcd5579",
		"1368875980776f8854527a07690e9627",
		"14eeca338b208613485ea0308fd7a15e",
		"a1f1ebbed8dbc153c0b84aa61ff08239",
		"3b62a9ba6258f5610f83e264f31497b4",
		"264499060ad9baabc47f8b02bb6d71ed",
	};
	uint64_t key[2] = { UINT64_C(0x0706050403020100), UINT64_C(0x0f0e0d0c0b0a0908) };
	unsigned char msg[16];
	uint64_t out[2], again[2];

	for (unsigned i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)i;
	for (unsigned n = 0; n < 10; n++) {
		unsigned char bytes[16];
		char hex[33];

		dup_siphash(key, 0, 0, msg, n, out, 2);
		memcpy(bytes, out, 16);          /* little-endian words */
		for (int i = 0; i < 16; i++)
			snprintf(hex + 2 * i, 3, "%02x", bytes[i]);
		CU_ASSERT_STRING_EQUAL(hex, want128[n]);
	}
	CU_ASSERT_EQUAL(dup_sip64(key, msg, 0), UINT64_C(0x726fdb47dd0e0e31));
	/* a head word hashes as the 8 bytes it stands for */
	dup_siphash(key, 1, UINT64_C(0x0706050403020100), msg + 8, 1, out, 2);
	dup_siphash(key, 0, 0, msg, 9, again, 2);
	CU_ASSERT(out[0] == again[0] && out[1] == again[1]);
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "consumed on accept, rejected after", test_consumed_on_accept },
		{ "only an overall accept consumes", test_only_accept_consumes },
		{ "re-scan window to the second", test_rescan_window },
		{ "a worker's memory answers as the hashes", test_worker_memory_exact },
		{ "survives a restart", test_survives_restart },
		{ "torn tail cut, damage counted", test_torn_and_damaged_file },
		{ "a full ring is counted", test_full_ring_counted },
		{ "capacity: evict expired, else refuse", test_capacity_and_retention },
		{ "a reload keeps the ledger", test_reload_keeps_ledger },
		{ "config errors name the setting", test_config_errors },
		{ "two workers race", test_workers_race },
		{ "table readers during rebuilds", test_table_readers_during_rebuilds },
		{ "SipHash-2-4 reference vectors", test_siphash_vectors },
		{ NULL, NULL },
	};

	return kpg_cunit_run("plugins/duplicate", tests, setup, teardown);
}
