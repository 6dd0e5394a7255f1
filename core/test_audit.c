/* test_audit.c — the audit log: what is written reads back field for
 * field, the chain verifies, a flipped byte anywhere is found at its
 * record, a torn tail cut at any byte of the last record is cut off on
 * reopen and the chain and sequences continue, and appending allocates
 * nothing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kpg_audit.h"
#include "kpg_cunit.h"
#include "kpg_testkit.h"
#include "kpg_trust_build.h"

#define GW_ID "BE-ANR-TEST"
#define NOW   1790000000

/* Allocation counter: the test binary's malloc wraps glibc's, so calls
 * made inside OpenSSL are counted too. Sanitizers bring their own. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define COUNT_ALLOCS 0
#else
#define COUNT_ALLOCS 1
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
static volatile unsigned long allocs;

void *malloc(size_t n)
{
	allocs++;
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	allocs++;
	return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	allocs++;
	return __libc_realloc(p, n);
}
#endif

static char *tmpdir;
static char path[512];
static struct kpg_audit_summary sum;

static int setup(void)
{
	tmpdir = kpg_tk_tmpdir();
	if (tmpdir == NULL)
		return -1;
	kpg_tk_path(path, sizeof(path), tmpdir, "audit.log");
	return 0;
}

static int teardown(void)
{
	kpg_tk_rmtree(tmpdir);
	free(tmpdir);
	return 0;
}

/* An empty scratch directory: no log, no torn copies of earlier tests. */
static void fresh(void)
{
	kpg_tk_rmtree(tmpdir);
	CU_ASSERT_EQUAL_FATAL(mkdir(tmpdir, 0700), 0);
}

/* Record i of a varied set: two lcores, 0..16 verdicts, long strings,
 * with and without a key, errors. */
static void make_rec(struct kpg_audit_rec *r, unsigned i, uint32_t lcore, uint64_t seq)
{
	memset(r, 0, sizeof(*r));
	r->lcore = lcore;
	r->seq = seq;
	r->time = NOW + i;
	r->request_id = 0x1000000000000000ull + i * 7919u;
	r->trust_version = 3 + i / 10;
	r->error = i % 9 == 8 ? (uint8_t)(1 + i % 10) : 0;
	r->decision = r->error ? 0 : (uint8_t)(1 + i % 3);
	r->has_key = i % 5 != 4;
	for (unsigned k = 0; r->has_key && k < KPG_KEY_ID_LEN; k++)
		r->key_id[k] = (uint8_t)(i * 31 + k);
	if (i % 7 == 3)
		memset(r->station, 's', KPG_STATION_ID_MAX);   /* the longest */
	else
		snprintf(r->station, sizeof(r->station), "gate-%u", i % 4);
	if (i % 11 == 5)
		memset(r->cert_number, 'N', KPG_AUDIT_NUMBER_MAX);
	else if (!r->error)
		snprintf(r->cert_number, sizeof(r->cert_number), "ZA-2026-%06u", i);
	r->n_verdicts = r->error ? 0 : (uint8_t)(i % (KPG_VERDICTS_MAX + 1));
	for (unsigned v = 0; v < r->n_verdicts; v++) {
		snprintf(r->verdicts[v].check, sizeof(r->verdicts[v].check),
			 v == 0 ? "signature" : "plugin-%u-%s", v, "abcdefghijklmnop");
		r->verdicts[v].decision = (uint8_t)(v % 4);
		r->verdicts[v].reason = v * 1000u + i;
	}
}

static bool rec_equal(const struct kpg_audit_rec *a, const struct kpg_audit_rec *b)
{
	if (a->lcore != b->lcore || a->seq != b->seq || a->time != b->time ||
	    a->request_id != b->request_id || a->trust_version != b->trust_version ||
	    a->decision != b->decision || a->error != b->error ||
	    a->has_key != b->has_key || a->n_verdicts != b->n_verdicts ||
	    strcmp(a->station, b->station) != 0 ||
	    strcmp(a->cert_number, b->cert_number) != 0)
		return false;
	if (a->has_key && memcmp(a->key_id, b->key_id, KPG_KEY_ID_LEN) != 0)
		return false;
	for (unsigned v = 0; v < a->n_verdicts; v++)
		if (strcmp(a->verdicts[v].check, b->verdicts[v].check) != 0 ||
		    a->verdicts[v].decision != b->verdicts[v].decision ||
		    a->verdicts[v].reason != b->verdicts[v].reason)
			return false;
	return true;
}

#define NREC 40u
static struct kpg_audit_rec recs[NREC];

/* Writes NREC records (lcores 1 and 2, in batches of 7); closes the log
 * unless crash. */
static void write_log(bool crash)
{
	struct kpg_audit_open_info info;
	char err[512];
	struct kpg_audit_log *l;
	uint64_t seq[3] = { 0 };

	fresh();
	l = kpg_audit_open(path, GW_ID, 8, NOW, &info, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_TRUE(info.created);
	for (unsigned i = 0; i < NREC; i++) {
		uint32_t lc = 1 + i % 2;

		make_rec(&recs[i], i, lc, ++seq[lc]);
	}
	for (unsigned i = 0; i < NREC; i += 7) {
		const struct kpg_audit_rec *b[8];
		unsigned n = NREC - i < 7 ? NREC - i : 7;

		for (unsigned k = 0; k < n; k++)
			b[k] = &recs[i + k];
		CU_ASSERT_EQUAL_FATAL(kpg_audit_append(l, b, n), 0);
	}
	if (crash) {
		CU_ASSERT_EQUAL(kpg_audit_sync(l), 0);
		kpg_audit_abandon(l);
	} else {
		CU_ASSERT_EQUAL(kpg_audit_close(l, NOW + 100), 0);
	}
}

static uint8_t *slurp(size_t *len)
{
	uint8_t *b = NULL;

	CU_ASSERT_EQUAL_FATAL(kpg_file_read(path, 1u << 24, &b, len), 0);
	return b;
}

static void spit(const uint8_t *b, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(write(fd, b, len), (ssize_t)len);
	close(fd);
}

struct collect {
	unsigned n, types[NREC + 8];
	uint64_t offsets[NREC + 8];
	uint32_t lens[NREC + 8];
	struct kpg_audit_rec dec[NREC + 8];
	unsigned n_dec;
};

static int collect_each(void *arg, const struct kpg_audit_item *it)
{
	struct collect *c = arg;

	if (c->n < NREC + 8) {
		c->types[c->n] = it->type;
		c->offsets[c->n] = it->offset;
		c->lens[c->n] = it->len;
		c->n++;
	}
	if (it->type == KPG_AUDIT_DECISION && c->n_dec < NREC + 8)
		c->dec[c->n_dec++] = it->decision;
	if (it->type == KPG_AUDIT_HEADER)
		CU_ASSERT_STRING_EQUAL(it->header.id, GW_ID);
	return 0;
}

static void test_round_trip(void)
{
	static struct collect c;
	char err[256];

	write_log(false);
	memset(&c, 0, sizeof(c));
	CU_ASSERT_EQUAL_FATAL(kpg_audit_walk_file(path, collect_each, &c, &sum,
						  err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(sum.status, KPG_AUDIT_INTACT);
	CU_ASSERT_EQUAL_FATAL(c.n_dec, NREC);
	for (unsigned i = 0; i < NREC; i++)
		CU_ASSERT_TRUE(rec_equal(&recs[i], &c.dec[i]));
	CU_ASSERT_EQUAL(c.types[0], KPG_AUDIT_HEADER);
	CU_ASSERT_EQUAL(c.types[1], KPG_AUDIT_OPEN);
	CU_ASSERT_EQUAL(c.types[c.n - 1], KPG_AUDIT_CLOSE);
}

static void test_chain_verifies(void)
{
	char err[256];

	write_log(false);
	CU_ASSERT_EQUAL_FATAL(kpg_audit_walk_file(path, NULL, NULL, &sum, err,
						  sizeof(err)), 0);
	CU_ASSERT_EQUAL(sum.status, KPG_AUDIT_INTACT);
	CU_ASSERT_EQUAL(sum.records, NREC + 3);
	CU_ASSERT_EQUAL(sum.decisions, NREC);
	CU_ASSERT_EQUAL(sum.opens, 1);
	CU_ASSERT_EQUAL(sum.closes, 1);
	CU_ASSERT_EQUAL(sum.good_bytes, sum.file_bytes);
	CU_ASSERT_STRING_EQUAL(sum.gateway_id, GW_ID);
	CU_ASSERT_EQUAL(sum.n_lcores, 2);
	CU_ASSERT_EQUAL(sum.lcore[1].first, 1);
	CU_ASSERT_EQUAL(sum.lcore[1].last, NREC / 2);
	CU_ASSERT_EQUAL(sum.lcore[2].count, NREC / 2);
	CU_ASSERT_EQUAL(sum.lcore[1].missing + sum.lcore[2].missing, 0);
	CU_ASSERT_EQUAL(sum.last_type, KPG_AUDIT_CLOSE);
}

/* Every byte of every record, flipped: the walk stops at that record. */
static void test_flip_found_at_record(void)
{
	static struct collect c;
	size_t len;
	uint8_t *b;
	unsigned wrong = 0;

	write_log(false);
	b = slurp(&len);
	memset(&c, 0, sizeof(c));
	kpg_audit_walk(b, len, collect_each, &c, &sum);
	CU_ASSERT_EQUAL_FATAL(sum.status, KPG_AUDIT_INTACT);
	for (size_t off = 0; off < len; off++) {
		unsigned rec = 0;

		while (rec + 1 < c.n && c.offsets[rec + 1] <= off)
			rec++;
		for (unsigned m = 0; m < 2; m++) {
			uint8_t mask = m ? 0x80 : 0x01;

			b[off] ^= mask;
			kpg_audit_walk(b, len, NULL, NULL, &sum);
			b[off] ^= mask;
			/* The last record has no successor to vouch for it:
			 * damage there reads as a torn tail, at that record. */
			enum kpg_audit_status want = rec + 1 == c.n ?
				KPG_AUDIT_TORN : KPG_AUDIT_BROKEN;
			if (sum.status != want || sum.break_index != rec ||
			    sum.break_offset != c.offsets[rec]) {
				if (wrong++ < 5)
					fprintf(stderr, "byte %zu (record %u) ^%02x: status %d "
						"at record %lu: %s\n", off, rec, mask,
						sum.status, (unsigned long)sum.break_index,
						sum.why);
			}
		}
	}
	CU_ASSERT_EQUAL(wrong, 0);
	free(b);
}

/* A crash cuts the last record at every byte: reopening keeps the cut
 * bytes aside, cuts them off, and the chain and the sequence continue. */
static void test_torn_tail_every_offset(void)
{
	static struct collect c;
	size_t len;
	uint8_t *b;
	uint64_t last_off;
	uint32_t last_len;
	const struct kpg_audit_rec *last = &recs[NREC - 1];

	write_log(true);
	b = slurp(&len);
	memset(&c, 0, sizeof(c));
	kpg_audit_walk(b, len, collect_each, &c, &sum);
	CU_ASSERT_EQUAL_FATAL(sum.status, KPG_AUDIT_INTACT);
	CU_ASSERT_EQUAL_FATAL(c.types[c.n - 1], KPG_AUDIT_DECISION);
	last_off = c.offsets[c.n - 1];
	last_len = c.lens[c.n - 1];
	CU_ASSERT_EQUAL_FATAL(last_off + last_len, len);

	for (uint32_t k = 0; k < last_len; k++) {
		struct kpg_audit_open_info info;
		struct kpg_audit_rec next;
		const struct kpg_audit_rec *one = &next;
		struct kpg_audit_log *l;
		char err[512];

		fresh();
		spit(b, last_off + k);
		l = kpg_audit_open(path, GW_ID, 4, NOW + 200, &info, err, sizeof(err));
		CU_ASSERT_PTR_NOT_NULL_FATAL(l);
		CU_ASSERT_FALSE(info.created);
		CU_ASSERT_TRUE(info.unclean);
		CU_ASSERT_EQUAL(info.torn_bytes, k);
		if (k) {
			size_t tl;
			uint8_t *t = NULL;

			CU_ASSERT_EQUAL(info.torn_offset, last_off);
			CU_ASSERT_EQUAL_FATAL(kpg_file_read(info.torn_copy, 1 << 20, &t, &tl), 0);
			CU_ASSERT_EQUAL(tl, k);
			CU_ASSERT_EQUAL(memcmp(t, b + last_off, k), 0);
			free(t);
		}
		/* The torn record never made it: its seq is taken again. */
		CU_ASSERT_EQUAL(kpg_audit_last_seq(l, last->lcore), last->seq - 1);
		make_rec(&next, 1000 + k, last->lcore, kpg_audit_last_seq(l, last->lcore) + 1);
		CU_ASSERT_EQUAL(kpg_audit_append(l, &one, 1), 0);
		CU_ASSERT_EQUAL(kpg_audit_close(l, NOW + 300), 0);

		CU_ASSERT_EQUAL(kpg_audit_walk_file(path, NULL, NULL, &sum, err,
						    sizeof(err)), 0);
		CU_ASSERT_EQUAL(sum.status, KPG_AUDIT_INTACT);
		CU_ASSERT_EQUAL(sum.decisions, NREC);
		CU_ASSERT_EQUAL(sum.opens, 2);
		CU_ASSERT_EQUAL(sum.lcore[last->lcore].last, last->seq);
		CU_ASSERT_EQUAL(sum.lcore[last->lcore].missing, 0);
	}
	free(b);
}

/* Power loss can leave zeros where a batch was to go; a crash in the
 * first write leaves half a header. */
static void test_zero_tail_and_torn_header(void)
{
	struct kpg_audit_open_info info;
	struct kpg_audit_log *l;
	char err[512];
	size_t len;
	uint8_t *b, *z;

	write_log(true);
	b = slurp(&len);
	z = calloc(1, len + 5000);
	CU_ASSERT_PTR_NOT_NULL_FATAL(z);
	memcpy(z, b, len);
	spit(z, len + 5000);
	l = kpg_audit_open(path, GW_ID, 4, NOW, &info, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_EQUAL(info.torn_offset, len);
	CU_ASSERT_EQUAL(info.torn_bytes, 5000);
	CU_ASSERT_EQUAL(kpg_audit_close(l, NOW), 0);
	CU_ASSERT_EQUAL(kpg_audit_walk_file(path, NULL, NULL, &sum, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(sum.status, KPG_AUDIT_INTACT);
	CU_ASSERT_EQUAL(sum.decisions, NREC);

	fresh();
	spit(b, 20);
	l = kpg_audit_open(path, GW_ID, 4, NOW, &info, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_TRUE(info.created);
	CU_ASSERT_EQUAL(info.torn_bytes, 20);
	CU_ASSERT_EQUAL(kpg_audit_close(l, NOW), 0);
	CU_ASSERT_EQUAL(kpg_audit_walk_file(path, NULL, NULL, &sum, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(sum.status, KPG_AUDIT_INTACT);
	CU_ASSERT_EQUAL(sum.records, 3);
	free(z);
	free(b);
}

static void test_sequence_continues(void)
{
	struct kpg_audit_open_info info;
	struct kpg_audit_rec r[8];
	const struct kpg_audit_rec *p[8];
	struct kpg_audit_log *l;
	char err[512];
	uint64_t size;

	fresh();
	l = kpg_audit_open(path, GW_ID, 8, NOW, &info, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	for (unsigned i = 0; i < 7; i++) {
		make_rec(&r[i], i, i < 5 ? 1 : 3, i < 5 ? i + 1 : i - 4);
		p[i] = &r[i];
	}
	CU_ASSERT_EQUAL(kpg_audit_append(l, p, 7), 0);
	CU_ASSERT_EQUAL(kpg_audit_close(l, NOW), 0);

	l = kpg_audit_open(path, GW_ID, 8, NOW + 1, &info, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_FALSE(info.unclean);
	CU_ASSERT_EQUAL(info.decisions, 7);
	CU_ASSERT_EQUAL(kpg_audit_last_seq(l, 1), 5);
	CU_ASSERT_EQUAL(kpg_audit_last_seq(l, 3), 2);
	CU_ASSERT_EQUAL(kpg_audit_last_seq(l, 2), 0);

	make_rec(&r[0], 50, 1, 6);
	CU_ASSERT_EQUAL(kpg_audit_append(l, p, 1), 0);
	/* A seq that does not rise is refused whole, and nothing is written. */
	size = kpg_audit_size(l);
	make_rec(&r[0], 51, 1, 7);
	make_rec(&r[1], 52, 1, 7);
	CU_ASSERT_EQUAL(kpg_audit_append(l, p, 2), -ERANGE);
	CU_ASSERT_EQUAL(kpg_audit_size(l), size);
	CU_ASSERT_EQUAL(kpg_audit_last_seq(l, 1), 6);
	/* A gap (records lost in async mode) is counted, not a break. */
	make_rec(&r[0], 53, 3, 8);
	CU_ASSERT_EQUAL(kpg_audit_append(l, p, 1), 0);
	CU_ASSERT_EQUAL(kpg_audit_close(l, NOW + 2), 0);

	CU_ASSERT_EQUAL(kpg_audit_walk_file(path, NULL, NULL, &sum, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(sum.status, KPG_AUDIT_INTACT);
	CU_ASSERT_EQUAL(sum.lcore[1].first, 1);
	CU_ASSERT_EQUAL(sum.lcore[1].last, 6);
	CU_ASSERT_EQUAL(sum.lcore[1].missing, 0);
	CU_ASSERT_EQUAL(sum.lcore[3].count, 3);
	CU_ASSERT_EQUAL(sum.lcore[3].missing, 5);
	CU_ASSERT_EQUAL(sum.opens, 2);
	CU_ASSERT_EQUAL(sum.closes, 2);
}

/* A break inside the log, another gateway's log and a second writer are
 * refused at open, saying why. */
static void test_open_refusals(void)
{
	static struct collect c;
	struct kpg_audit_open_info info;
	struct kpg_audit_log *l, *l2;
	char err[512];
	size_t len;
	uint8_t *b;

	write_log(false);
	l = kpg_audit_open(path, "ELSEWHERE", 4, NOW, &info, err, sizeof(err));
	CU_ASSERT_PTR_NULL(l);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "BE-ANR-TEST"));

	l = kpg_audit_open(path, GW_ID, 4, NOW, &info, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	l2 = kpg_audit_open(path, GW_ID, 4, NOW, &info, err, sizeof(err));
	CU_ASSERT_PTR_NULL(l2);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "in use"));
	CU_ASSERT_EQUAL(kpg_audit_close(l, NOW), 0);

	b = slurp(&len);
	memset(&c, 0, sizeof(c));
	kpg_audit_walk(b, len, collect_each, &c, &sum);
	b[c.offsets[5] + 50] ^= 0x10;
	spit(b, len);
	l = kpg_audit_open(path, GW_ID, 4, NOW, &info, err, sizeof(err));
	CU_ASSERT_PTR_NULL(l);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "record 5 "));
	/* Refused, not repaired: the file is as it was. */
	{
		size_t len2;
		uint8_t *b2 = slurp(&len2);

		CU_ASSERT_EQUAL(len2, len);
		CU_ASSERT_EQUAL(memcmp(b, b2, len), 0);
		free(b2);
	}
	free(b);
}

static void test_append_allocates_nothing(void)
{
#if COUNT_ALLOCS
	struct kpg_audit_open_info info;
	struct kpg_audit_rec r[64];
	const struct kpg_audit_rec *p[64];
	struct kpg_audit_log *l;
	unsigned long before;
	char err[512];
	uint64_t seq = 0;

	fresh();
	l = kpg_audit_open(path, GW_ID, 64, NOW, &info, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	for (unsigned i = 0; i < 64; i++)
		p[i] = &r[i];
	/* one append first: lazy set-up inside libraries is not per record */
	make_rec(&r[0], 0, 1, ++seq);
	CU_ASSERT_EQUAL(kpg_audit_append(l, p, 1), 0);
	before = allocs;
	for (unsigned b = 0; b < 50; b++) {
		for (unsigned i = 0; i < 64; i++)
			make_rec(&r[i], b * 64 + i, 1, ++seq);
		CU_ASSERT_EQUAL(kpg_audit_append(l, p, 64), 0);
	}
	CU_ASSERT_EQUAL(kpg_audit_sync(l), 0);
	CU_ASSERT_EQUAL(allocs - before, 0);
	CU_ASSERT_EQUAL(kpg_audit_close(l, NOW), 0);
#endif
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "every field reads back", test_round_trip },
		{ "the chain verifies", test_chain_verifies },
		{ "a flipped byte is found at its record", test_flip_found_at_record },
		{ "a torn tail at every byte is cut, the chain continues",
		  test_torn_tail_every_offset },
		{ "zero tail and half a header are torn tails",
		  test_zero_tail_and_torn_header },
		{ "sequences continue per lcore, never go back",
		  test_sequence_continues },
		{ "broken, foreign and locked logs are refused", test_open_refusals },
		{ "appending allocates nothing", test_append_allocates_nothing },
		{ NULL, NULL },
	};

	return kpg_cunit_run("audit", tests, setup, teardown);
}
