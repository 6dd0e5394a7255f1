/* The duplicate plugin on the Redis store (dup_redis_store.c), loaded from
 * its built .so through the host, against Debian's real redis-server
 * started here on a unix socket: two gateways (two hosts in this process,
 * checkpoints antwerp-1 and zeebrugge-1, each with its own state dir)
 * share consumption; the window between an acceptance at one and its
 * refusal at the other is measured and printed; Redis killed and started
 * again empty in each on_unreachable mode, and the catch-up both ways; a
 * dropped connection caught up from the stream; restarts without Redis; a
 * gateway hashing with other keys than the fleet's; a ledger made by the
 * file store; config errors and reloads. Each test has its own key
 * prefix in the one Redis. Skipped (77) without redis-server.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "kpg_cunit.h"
#include "kpg_plugin_testkit.h"

#define T0 INT64_C(1767225600)           /* 2026-01-01 00:00:00Z */
#define KEY_A "6b7067617465206c6564676572206b65792c20666f72207465737473206f6e6c"
#define KEY_B "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0"

static char base[] = "/tmp/kpg-dupredis-XXXXXX";
static char sock[300];
static const char *redis_bin;
static pid_t redis_pid = -1;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Polls cond every millisecond for at most ms: whether it came true. */
#define WAIT_FOR(cond, ms) ({                                          \
	int64_t end_ = now_ms() + (ms);                                 \
	bool ok_;                                                       \
	while (!(ok_ = (cond)) && now_ms() < end_)                      \
		usleep(1000);                                           \
	ok_; })

/* ---- redis-server, a child of this test ------------------------------- */

static redisReply *redis(const char *fmt, ...)
{
	redisContext *c = redisConnectUnix(sock);
	redisReply *r = NULL;
	va_list ap;

	if (c != NULL && !c->err) {
		va_start(ap, fmt);
		r = redisvCommand(c, fmt, ap);
		va_end(ap);
	}
	if (c)
		redisFree(c);
	return r;
}

static long long redis_int(const char *fmt, const char *arg)
{
	redisReply *r = redis(fmt, arg);
	long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;

	if (r)
		freeReplyObject(r);
	return v;
}

/* Keys under prefix:c: (records). */
static long long redis_records(const char *prefix)
{
	redisReply *r = redis("KEYS %s:c:*", prefix);
	long long n = r && r->type == REDIS_REPLY_ARRAY ? (long long)r->elements : -1;

	if (r)
		freeReplyObject(r);
	return n;
}

/* The time to live of one record under prefix, in seconds. */
static long long redis_ttl(const char *prefix)
{
	redisReply *r = redis("KEYS %s:c:*", prefix);
	long long ttl = -1;

	if (r && r->type == REDIS_REPLY_ARRAY && r->elements > 0)
		ttl = redis_int("TTL %s", r->element[0]->str);
	if (r)
		freeReplyObject(r);
	return ttl;
}

/* Starts redis-server and waits for its answer: whether it did (no CUnit
 * assertion here: the suite's setup calls it too). */
static bool redis_start(void)
{
	pid_t pid = fork();

	if (pid < 0)
		return false;
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, 1);
		dup2(fd, 2);
		/* No persistence: killed and started again, it has lost
		 * everything, the worst a fleet's Redis can do. */
		execl(redis_bin, redis_bin, "--port", "0", "--unixsocket", sock,
		      "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
		      "--daemonize", "no", "--dir", base, (char *)NULL);
		_exit(127);
	}
	redis_pid = pid;
	for (int i = 0; i < 500; i++) {
		redisReply *r = redis("PING");
		bool up = r && r->type == REDIS_REPLY_STATUS;

		if (r)
			freeReplyObject(r);
		if (up)
			return true;
		usleep(10000);
	}
	return false;
}

static void redis_kill(void)
{
	if (redis_pid > 0) {
		kill(redis_pid, SIGKILL);
		waitpid(redis_pid, NULL, 0);
	}
	redis_pid = -1;
}

static int setup(void)
{
	if (getenv("KPG_PLUGIN_DIR") == NULL || mkdtemp(base) == NULL)
		return 1;
	snprintf(sock, sizeof(sock), "%s/redis.sock", base);
	return redis_start() ? 0 : 1;
}

static int teardown(void)
{
	char cmd[600];

	redis_kill();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : 1;
}

/* ---- gateways ---------------------------------------------------------- */

struct gw {
	char dir[256];
	struct kpg_plugin_host *h;
	struct kpg_chain *c;
};

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
}

static struct kpg_plugin_host *host_at(const char *dir, const char *cp)
{
	struct kpg_plugin_host *h = kpg_ptest_host_at("EU", dir, cp, 1);

	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	return h;
}

static struct kpg_chain *try_chain(struct kpg_plugin_host *h, const char *prefix,
				   const char *extra, char *err, size_t len)
{
	char list[2048];

	snprintf(list, sizeof(list),
		 "( { name = \"duplicate\"; stations = [ \"ANR-1\" ];"
		 " store = \"redis\"; redis_socket = \"%s\";"
		 " fleet_key_file = \"ledger.key\"; redis_prefix = \"%s\";"
		 " redis_retry_max_ms = 400; %s } )", sock, prefix, extra);
	return kpg_ptest_chain(h, list, err, len);
}

/* A gateway at checkpoint cp in base/name, on the fleet of prefix, with
 * the fleet key key and extra settings. */
static void gw_open_key(struct gw *g, const char *name, const char *cp,
			const char *prefix, const char *key, const char *extra)
{
	char err[1024];

	snprintf(g->dir, sizeof(g->dir), "%s/%s", base, name);
	mkdir(g->dir, 0700);
	write_file(g->dir, "ledger.key", key);
	g->h = host_at(g->dir, cp);
	g->c = try_chain(g->h, prefix, extra, err, sizeof(err));
	if (g->c == NULL)
		fprintf(stderr, "\n  %s\n", err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(g->c);
}

static void gw_open(struct gw *g, const char *name, const char *cp,
		    const char *prefix, const char *extra)
{
	gw_open_key(g, name, cp, prefix, KEY_A "\n", extra);
}

/* A restart: the chain and the host go, the plugin's fini runs. */
static void gw_close(struct gw *g)
{
	kpg_chain_delete(g->c);
	kpg_plugin_host_delete(g->h);
	g->c = NULL;
	g->h = NULL;
}

struct stat_q {
	const char *name;
	uint64_t v;
	bool found;
};

static void stat_emit(void *arg, const char *name, uint64_t v)
{
	struct stat_q *q = arg;

	if (strcmp(q->name, name) == 0) {
		q->v = v;
		q->found = true;
	}
}

/* One of the plugin's counters, as /kpgate/plugins shows it. */
static uint64_t counter(const struct gw *g, const char *name)
{
	struct stat_q q = { .name = name };

	kpg_plugin_host_stats(g->h, 0, stat_emit, &q);
	CU_ASSERT(q.found);
	if (!q.found)
		fprintf(stderr, "\n  no counter %s\n", name);
	return q.v;
}

/* ---- scans ------------------------------------------------------------- */

struct scan_fx {
	char number[32], bytes[64];
	struct kpg_cert cert;
	struct kpg_scan_view scan;
};

static void scan_fx(struct scan_fx *f, const char *number, const char *bytes)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->number, sizeof(f->number), "%s", number);
	snprintf(f->bytes, sizeof(f->bytes), "%s", bytes ? bytes : number);
	f->cert.number = (struct kpg_str){ f->number, (uint32_t)strlen(f->number) };
	memcpy(f->cert.issuing_participant, "ZA", 3);
	f->cert.expiry_date = 29991231;
	f->scan.cert = &f->cert;
	f->scan.station_id = (struct kpg_str){ "ANR-1", 5 };
	f->scan.now = T0;
	f->scan.cert_bytes = (const uint8_t *)f->bytes;
	f->scan.cert_len = (uint32_t)strlen(f->bytes);
}

static struct kpg_verdict judge_bytes(const struct gw *g, const char *number,
				      const char *bytes)
{
	struct scan_fx f;

	scan_fx(&f, number, bytes);
	return kpg_ptest_eval(g->c, &f.scan);
}

static uint32_t reason(const struct gw *g, const char *number)
{
	return judge_bytes(g, number, NULL).reason;
}

static void expect(const struct gw *g, const char *number, uint32_t want,
		   const char *detail)
{
	struct kpg_verdict v = judge_bytes(g, number, NULL);

	CU_ASSERT_EQUAL(v.reason, want);
	if (detail)
		CU_ASSERT_STRING_EQUAL(v.detail, detail);
	if (v.reason != want || (detail && strcmp(v.detail, detail) != 0))
		fprintf(stderr, "\n  %s: want %u '%s', got %u '%s'\n", number, want,
			detail ? detail : "", v.reason, v.detail);
}

/* Judged as not consumed (here: 1800, or 1806 while out of reach), then
 * the overall accept committed. */
static void consume(const struct gw *g, const char *number)
{
	struct scan_fx f;
	struct kpg_verdict v;

	scan_fx(&f, number, NULL);
	v = kpg_ptest_eval(g->c, &f.scan);
	CU_ASSERT_EQUAL(v.decision, KPG_ACCEPT);
	CU_ASSERT(v.reason == 1800 || v.reason == 1806);
	kpg_chain_commit(g->c, &f.scan, KPG_ACCEPT);
}

/* ---- tests --------------------------------------------------------------- */

static void test_shared(void)
{
	struct gw a, b;

	gw_open(&a, "shared-a", "antwerp-1", "t-shared", "");
	gw_open(&b, "shared-b", "zeebrugge-1", "t-shared", "");
	/* load waited for the first catch-up: in step from the start */
	CU_ASSERT_EQUAL(counter(&a, "fleet_up"), 1);
	CU_ASSERT_EQUAL(counter(&b, "fleet_up"), 1);

	consume(&a, "ZA-S1");
	CU_ASSERT(WAIT_FOR(reason(&b, "ZA-S1") == 1802, 5000));
	expect(&b, "ZA-S1", 1802, "already consumed 2026-01-01 00:00:00Z at antwerp-1/ANR-1");
	/* the same number on other bytes: the digest key is shared too */
	CU_ASSERT_EQUAL(judge_bytes(&b, "ZA-S1", "other bytes").reason, 1803);
	/* a station of ours, but not our checkpoint's acceptance */
	expect(&a, "ZA-S1", 1801, NULL);

	consume(&b, "ZA-S2");
	CU_ASSERT(WAIT_FOR(reason(&a, "ZA-S2") == 1802, 5000));
	expect(&a, "ZA-S2", 1802, "already consumed 2026-01-01 00:00:00Z at zeebrugge-1/ANR-1");

	/* a refusal may come before the pusher has read Redis's reply */
	CU_ASSERT(WAIT_FOR(counter(&a, "pushed") == 1 && counter(&b, "pulled") == 1 &&
			   counter(&b, "pushed") == 1 && counter(&a, "pulled") == 1, 5000));
	CU_ASSERT_EQUAL(counter(&a, "records"), 2);
	CU_ASSERT_EQUAL(counter(&b, "records"), 2);
	CU_ASSERT_EQUAL(counter(&a, "raced") + counter(&b, "raced"), 0);
	CU_ASSERT_EQUAL(counter(&a, "redis_unreachable"), 0);
	CU_ASSERT_EQUAL(redis_records("t-shared"), 2);
	CU_ASSERT_EQUAL(redis_int("XLEN %s", "t-shared:stream"), 2);
	CU_ASSERT_EQUAL(counter(&a, "bad_values"), 0);
	/* retention: Redis forgets a record when the gateway would */
	CU_ASSERT(redis_ttl("t-shared") > 86400LL * 365 * 900);
	/* something else writing into the fleet's stream: counted, skipped */
	freeReplyObject(redis("XADD t-shared:stream * r %s", "not a record"));
	CU_ASSERT(WAIT_FOR(counter(&b, "bad_values") == 1 &&
			   counter(&a, "bad_values") == 1, 5000));
	consume(&a, "ZA-S3");
	CU_ASSERT(WAIT_FOR(reason(&b, "ZA-S3") == 1802, 5000));
	CU_ASSERT_EQUAL(counter(&b, "fleet_up"), 1);
	gw_close(&a);
	gw_close(&b);
}

static int cmp_i64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;

	return (a > b) - (a < b);
}

/* From the moment gateway A starts judging a new certificate to the
 * first refusal of it at gateway B: the window in which B would accept it
 * too. B judges it every ~50 us (sleeping between, so the threads doing
 * the work get the CPU on this 2-vCPU machine). */
static void window_case(const struct gw *a, const struct gw *b, const char *name,
			int n, int gap_ms)
{
	int64_t *w = calloc((size_t)n, sizeof(*w));
	int lost = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	for (int i = 0; i < n; i++) {
		char number[32];
		struct timespec nap = { 0, 40000 };
		int64_t t0, end;

		snprintf(number, sizeof(number), "ZA-W%s-%d", name, i);
		t0 = now_ns();
		consume(a, number);
		end = t0 + INT64_C(2000000000);
		while (reason(b, number) != 1802 && now_ns() < end)
			nanosleep(&nap, NULL);
		w[i] = now_ns() - t0;
		lost += w[i] >= INT64_C(2000000000);
		if (gap_ms)
			usleep((useconds_t)gap_ms * 1000);
	}
	qsort(w, (size_t)n, sizeof(*w), cmp_i64);
	printf("\n  window A accept -> B refuse, %s (%d certificates): p50 %.0f us,"
	       " p90 %.0f us, p99 %.0f us, max %.0f us\n", name, n,
	       w[n / 2] / 1e3, w[n * 9 / 10] / 1e3, w[n * 99 / 100] / 1e3,
	       w[n - 1] / 1e3);
	CU_ASSERT_EQUAL(lost, 0);
	free(w);
}

static void test_window(void)
{
	struct gw a, b;

	gw_open(&a, "window-a", "antwerp-1", "t-window", "");
	gw_open(&b, "window-b", "zeebrugge-1", "t-window", "");
	window_case(&a, &b, "stream", 300, 0);
	window_case(&a, &b, "isolated", 100, 20);
	CU_ASSERT_EQUAL(counter(&a, "fleet_raced"), 0);
	gw_close(&a);
	gw_close(&b);
}

static bool both_up(const struct gw *a, const struct gw *b)
{
	return counter(a, "fleet_up") == 1 && counter(b, "fleet_up") == 1;
}

static bool both_down(const struct gw *a, const struct gw *b)
{
	return counter(a, "fleet_up") == 0 && counter(b, "fleet_up") == 0;
}

/* on_unreachable = "local": while Redis is away both gateways judge on
 * their own ledgers, counted; Redis comes back empty, and both push what
 * they hold and pull what the other consumed meanwhile. */
static void test_outage_local(void)
{
	struct gw a, b;

	gw_open(&a, "local-a", "antwerp-1", "t-local", "on_unreachable = \"local\";");
	gw_open(&b, "local-b", "zeebrugge-1", "t-local", "on_unreachable = \"local\";");
	consume(&a, "ZA-L1");
	CU_ASSERT(WAIT_FOR(reason(&b, "ZA-L1") == 1802, 5000));

	redis_kill();
	CU_ASSERT(WAIT_FOR(both_down(&a, &b), 5000));
	expect(&a, "ZA-L2", 1806, "not consumed here; fleet ledger unreachable");
	consume(&a, "ZA-L2");
	/* known here at once: a re-scan at A, refused at A's other lanes */
	CU_ASSERT(WAIT_FOR(reason(&a, "ZA-L2") == 1801, 5000));
	expect(&b, "ZA-L2", 1806, NULL);                        /* not known there */
	expect(&b, "ZA-L1", 1802, NULL);                        /* known before */
	/* the same certificate at both checkpoints, each on its own */
	consume(&a, "ZA-L3");
	consume(&b, "ZA-L3");
	CU_ASSERT(counter(&a, "local_only_decisions") >= 3);
	CU_ASSERT(counter(&b, "local_only_decisions") >= 2);
	CU_ASSERT_EQUAL(counter(&a, "unreachable_referrals"), 0);
	CU_ASSERT(WAIT_FOR(counter(&a, "push_backlog") == 2, 5000));
	CU_ASSERT(counter(&a, "redis_unreachable") >= 1);

	CU_ASSERT_FATAL(redis_start());  /* empty: a new epoch */
	CU_ASSERT(WAIT_FOR(both_up(&a, &b), 10000));
	/* converged: what A consumed while Redis was away is refused at B */
	CU_ASSERT(WAIT_FOR(reason(&b, "ZA-L2") == 1802, 5000));
	expect(&b, "ZA-L2", 1802, "already consumed 2026-01-01 00:00:00Z at antwerp-1/ANR-1");
	/* Redis has the fleet's ledger again, from the gateways' copies */
	CU_ASSERT(WAIT_FOR(redis_records("t-local") == 3, 5000));
	/* L3 was accepted twice: whichever pushed second says so */
	CU_ASSERT(WAIT_FOR(counter(&a, "fleet_raced") + counter(&b, "fleet_raced") == 1, 5000));
	CU_ASSERT(WAIT_FOR(counter(&a, "raced") + counter(&b, "raced") == 1, 5000));
	CU_ASSERT_EQUAL(counter(&a, "push_backlog"), 0);
	CU_ASSERT(counter(&a, "full_pushes") >= 2 && counter(&b, "full_pulls") >= 2);
	CU_ASSERT(counter(&a, "fleet_sessions") >= 2);
	gw_close(&a);
	gw_close(&b);
}

/* on_unreachable = "refer" (the default): certificates not known here are
 * referred while Redis is away; a dropped connection is caught up from
 * the stream, not by reading everything again. */
static void test_outage_refer(void)
{
	struct gw a, b;
	redisReply *r;

	gw_open(&a, "refer-a", "antwerp-1", "t-refer", "");
	gw_open(&b, "refer-b", "zeebrugge-1", "t-refer", "");
	consume(&a, "ZA-R1");
	CU_ASSERT(WAIT_FOR(reason(&b, "ZA-R1") == 1802, 5000));
	CU_ASSERT_EQUAL(counter(&a, "full_pulls"), 1);

	r = redis("CLIENT KILL TYPE normal");
	CU_ASSERT_PTR_NOT_NULL(r);
	if (r)
		freeReplyObject(r);
	CU_ASSERT(WAIT_FOR(counter(&a, "fleet_sessions") == 2 && counter(&b, "fleet_sessions") == 2 &&
			   both_up(&a, &b), 10000));
	CU_ASSERT_EQUAL(counter(&a, "full_pulls"), 1);
	CU_ASSERT_EQUAL(counter(&b, "full_pushes"), 1);
	consume(&b, "ZA-R2");
	CU_ASSERT(WAIT_FOR(reason(&a, "ZA-R2") == 1802, 5000));

	redis_kill();
	CU_ASSERT(WAIT_FOR(both_down(&a, &b), 5000));
	expect(&a, "ZA-R3", 1805, "fleet ledger unreachable: inspect");
	expect(&a, "ZA-R1", 1801, NULL);       /* known here: a re-scan */
	expect(&a, "ZA-R2", 1802, NULL);
	CU_ASSERT_EQUAL(judge_bytes(&a, "ZA-R3", NULL).decision, KPG_REFER);
	CU_ASSERT(counter(&a, "unreachable_referrals") >= 2);
	CU_ASSERT_EQUAL(counter(&a, "local_only_decisions"), 0);

	CU_ASSERT_FATAL(redis_start());
	CU_ASSERT(WAIT_FOR(both_up(&a, &b), 10000));
	expect(&a, "ZA-R3", 1800, NULL);
	gw_close(&a);
	gw_close(&b);
}

/* Redis emptied under the gateways' feet (FLUSHALL, a failover to an
 * empty replica): they notice by the epoch key and give back what they
 * hold, without being counted as unreachable. */
static void test_emptied(void)
{
	struct gw a, b;
	redisReply *r;

	gw_open(&a, "emptied-a", "antwerp-1", "t-emptied", "");
	gw_open(&b, "emptied-b", "zeebrugge-1", "t-emptied", "");
	consume(&a, "ZA-E1");
	CU_ASSERT(WAIT_FOR(reason(&b, "ZA-E1") == 1802, 5000));
	r = redis("FLUSHALL");
	CU_ASSERT_PTR_NOT_NULL(r);
	if (r)
		freeReplyObject(r);
	CU_ASSERT_EQUAL(redis_records("t-emptied"), 0);
	CU_ASSERT(WAIT_FOR(redis_records("t-emptied") == 1 &&
			   counter(&a, "full_pushes") == 2 &&
			   counter(&b, "full_pushes") == 2, 12000));
	CU_ASSERT(WAIT_FOR(both_up(&a, &b), 5000));
	CU_ASSERT_EQUAL(counter(&a, "redis_unreachable"), 0);
	consume(&b, "ZA-E2");
	CU_ASSERT(WAIT_FOR(reason(&a, "ZA-E2") == 1802, 5000));
	gw_close(&a);
	gw_close(&b);
}

/* Redis stalled, connections open (CLIENT PAUSE): a gateway says it is
 * in step for at most twice redis_timeout_ms (500 ms here) after Redis's
 * last reply, the bound on how long it can be deaf to the fleet without
 * knowing. A paused Redis still answers blocked reads whose time is up,
 * so that last reply may come up to one timeout into the pause. */
static void test_stalled(void)
{
	struct gw a, b;
	redisReply *r;
	int64_t t0, deaf;

	gw_open(&a, "stalled-a", "antwerp-1", "t-stalled", "");
	gw_open(&b, "stalled-b", "zeebrugge-1", "t-stalled", "");
	t0 = now_ms();
	r = redis("CLIENT PAUSE 3000 ALL");
	CU_ASSERT(r && r->type == REDIS_REPLY_STATUS);
	if (r)
		freeReplyObject(r);
	CU_ASSERT(WAIT_FOR(both_down(&a, &b), 3000));
	deaf = now_ms() - t0;
	printf("\n  Redis stalled: both gateways out of step %lld ms into the"
	       " pause (bound: 2 x redis_timeout_ms = 1000 ms after Redis's"
	       " last reply, which comes up to 500-600 ms into it)\n",
	       (long long)deaf);
	CU_ASSERT(deaf <= 1600 + 300);   /* a poll's rounding, a busy VM */
	expect(&a, "ZA-P1", 1805, NULL);
	CU_ASSERT(WAIT_FOR(both_up(&a, &b), 10000));
	consume(&a, "ZA-P2");
	CU_ASSERT(WAIT_FOR(reason(&b, "ZA-P2") == 1802, 5000));
	gw_close(&a);
	gw_close(&b);
}

/* A gateway restarted while Redis is away keeps refusing what it knew,
 * pulled records included; once Redis is back, both give it everything. */
static void test_restart_without_redis(void)
{
	struct gw a, b;

	gw_open(&a, "restart-a", "antwerp-1", "t-restart", "");
	gw_open(&b, "restart-b", "zeebrugge-1", "t-restart", "");
	consume(&a, "ZA-T1");
	CU_ASSERT(WAIT_FOR(reason(&b, "ZA-T1") == 1802, 5000));
	gw_close(&b);
	gw_close(&a);
	redis_kill();

	gw_open(&b, "restart-b", "zeebrugge-1", "t-restart", "");
	CU_ASSERT_EQUAL(counter(&b, "fleet_up"), 0);
	CU_ASSERT_EQUAL(counter(&b, "records"), 1);
	expect(&b, "ZA-T1", 1802, "already consumed 2026-01-01 00:00:00Z at antwerp-1/ANR-1");
	expect(&b, "ZA-T2", 1805, NULL);

	CU_ASSERT_FATAL(redis_start());
	CU_ASSERT(WAIT_FOR(counter(&b, "fleet_up") == 1, 10000));
	/* B alone gives the empty Redis the record A made */
	CU_ASSERT(WAIT_FOR(redis_records("t-restart") == 1, 5000));
	gw_open(&a, "restart-a2", "antwerp-2", "t-restart", "");
	expect(&a, "ZA-T1", 1802, NULL);  /* a new gateway learns it at start */
	CU_ASSERT_EQUAL(counter(&a, "pulled"), 1);
	gw_close(&a);
	gw_close(&b);
}

/* Ids made with other keys would never match: such a gateway stays apart
 * from the fleet, says so, and judges as if Redis were away. */
static void test_key_mismatch(void)
{
	struct gw a, c;

	gw_open(&a, "keys-a", "antwerp-1", "t-keys", "");
	gw_open_key(&c, "keys-c", "zeebrugge-1", "t-keys",
		    "# another fleet's key\n" KEY_B "\n", "");
	CU_ASSERT_EQUAL(counter(&c, "fleet_up"), 0);
	CU_ASSERT_EQUAL(counter(&c, "key_mismatch"), 1);
	CU_ASSERT_EQUAL(counter(&a, "key_mismatch"), 0);
	expect(&c, "ZA-K1", 1805, NULL);
	gw_close(&c);
	gw_close(&a);
}

static void refused(struct kpg_plugin_host *h, const char *list, const char *want)
{
	char err[1024];
	struct kpg_chain *c = kpg_ptest_chain(h, list, err, sizeof(err));

	CU_ASSERT_PTR_NULL(c);
	if (c) {
		kpg_chain_delete(c);
		snprintf(err, sizeof(err), "(accepted)");
	}
	CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
	if (strstr(err, want) == NULL)
		fprintf(stderr, "\n  want '%s'\n  got  '%s'\n", want, err);
}

static void refused_redis(struct kpg_plugin_host *h, const char *extra,
			  const char *want)
{
	char list[1024];

	snprintf(list, sizeof(list), "( { name = \"duplicate\"; store = \"redis\";"
		 " fleet_key_file = \"ledger.key\"; %s } )", extra);
	refused(h, list, want);
}

/* A ledger the file store made has its own random keys: refused rather
 * than silently forgotten; an empty one is made again with the fleet's. */
static void test_file_ledger(void)
{
	char dir[300], err[1024];
	struct kpg_plugin_host *h;
	struct kpg_chain *c;
	struct gw g;

	snprintf(dir, sizeof(dir), "%s/migrate", base);
	mkdir(dir, 0700);
	write_file(dir, "ledger.key", KEY_A "\n");
	h = host_at(dir, "antwerp-1");
	c = kpg_ptest_chain(h, "( { name = \"duplicate\"; } )", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	g = (struct gw){ .h = h, .c = c };
	consume(&g, "ZA-M1");
	kpg_chain_delete(c);
	kpg_plugin_host_delete(h);

	h = host_at(dir, "antwerp-1");
	CU_ASSERT_PTR_NULL(try_chain(h, "t-migrate", "", err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "duplicate.ledger: made with other hash keys"
				      " than the fleet's (kept as is; move it away to"
				      " start afresh)"));
	kpg_plugin_host_delete(h);

	snprintf(dir, sizeof(dir), "%s/migrate-empty", base);
	mkdir(dir, 0700);
	h = host_at(dir, "antwerp-1");
	c = kpg_ptest_chain(h, "( { name = \"duplicate\"; } )", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	kpg_chain_delete(c);
	kpg_plugin_host_delete(h);
	gw_open(&g, "migrate-empty", "antwerp-1", "t-migrate", "");
	consume(&g, "ZA-M2");
	gw_close(&g);
}

static void test_config(void)
{
	char dir[300], err[1024];
	struct kpg_plugin_host *h;
	struct kpg_chain *c;
	struct gw g;

	snprintf(dir, sizeof(dir), "%s/config", base);
	mkdir(dir, 0700);
	write_file(dir, "ledger.key", KEY_A "\n");
	write_file(dir, "short.key", "abcd\n");
	write_file(dir, "two.key", KEY_A "\n" KEY_B "\n");
	write_file(dir, "zero.key", "0000000000000000000000000000000000000000000000000000000000000000\n");
	write_file(dir, "empty.key", "# nothing yet\n");
	h = host_at(dir, "antwerp-1");
	refused(h, "( { name = \"duplicate\"; store = \"valkey\"; } )",
		"'store' = \"valkey\": must be \"file\" or \"redis\"");
	refused(h, "( { name = \"duplicate\"; redis_socket = \"/x\"; } )",
		"'redis_socket' needs store = \"redis\"");
	refused(h, "( { name = \"duplicate\"; on_unreachable = \"local\"; } )",
		"'on_unreachable' needs store = \"redis\"");
	refused_redis(h, "", "needs one of 'redis_socket' and 'redis_host'");
	refused_redis(h, "redis_socket = \"/x\"; redis_host = \"localhost\";",
		      "needs one of 'redis_socket' and 'redis_host'");
	refused_redis(h, "redis_socket = \"/x\"; redis_port = 6379;",
		      "'redis_port' goes with 'redis_host'");
	refused_redis(h, "redis_host = \"localhost\"; redis_port = 0;", "'redis_port' = 0");
	refused_redis(h, "redis_host = \"localhost\"; redis_prefix = \"a b\";",
		      "'redis_prefix' = \"a b\": 1 to 63 letters");
	refused_redis(h, "redis_host = \"localhost\"; redis_prefix = \"a*\";",
		      "'redis_prefix' = \"a*\"");
	refused_redis(h, "redis_socket = \"/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\";",
		      "a unix socket's path is at most 107 bytes");
	refused_redis(h, "redis_host = \"localhost\"; on_unreachable = \"accept\";",
		      "'on_unreachable' = \"accept\": must be \"refer\" or \"local\"");
	refused(h, "( { name = \"duplicate\"; store = \"redis\"; redis_host = \"x\"; } )",
		"'fleet_key_file' is required");
	refused(h, "( { name = \"duplicate\"; store = \"redis\"; redis_host = \"x\";"
		" fleet_key_file = \"short.key\"; } )", "short.key:1: ");
	refused(h, "( { name = \"duplicate\"; store = \"redis\"; redis_host = \"x\";"
		" fleet_key_file = \"short.key\"; } )", "not 64 hex digits");
	refused(h, "( { name = \"duplicate\"; store = \"redis\"; redis_host = \"x\";"
		" fleet_key_file = \"two.key\"; } )", "two.key:2: ");
	refused(h, "( { name = \"duplicate\"; store = \"redis\"; redis_host = \"x\";"
		" fleet_key_file = \"zero.key\"; } )", "a key of zeros");
	refused(h, "( { name = \"duplicate\"; store = \"redis\"; redis_host = \"x\";"
		" fleet_key_file = \"empty.key\"; } )", "no key in it");
	refused(h, "( { name = \"duplicate\"; store = \"redis\"; redis_host = \"x\";"
		" fleet_key_file = \"none.key\"; } )", "none.key");
	kpg_plugin_host_delete(h);

	/* Reloads: on_unreachable may change, where the ledger is may not. */
	gw_open(&g, "config", "antwerp-1", "t-config", "");
	c = try_chain(g.h, "t-config", "on_unreachable = \"local\";", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(c);
	if (c)
		kpg_chain_delete(c);
	CU_ASSERT_PTR_NULL(try_chain(g.h, "t-other", "", err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "'redis_prefix' cannot change while kpgate"
				      " runs (restart to apply)"));
	CU_ASSERT_PTR_NULL(kpg_ptest_chain(g.h, "( { name = \"duplicate\"; } )",
					   err, sizeof(err)));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "'store' cannot change"));
	gw_close(&g);
}

int main(void)
{
	static const struct kpg_cunit_test tests[] = {
		{ "a consumption at one gateway is refused at the other", test_shared },
		{ "the window between two gateways, measured", test_window },
		{ "Redis away, on_unreachable = local, then the catch-up", test_outage_local },
		{ "Redis away, on_unreachable = refer; a dropped connection", test_outage_refer },
		{ "Redis emptied while connected", test_emptied },
		{ "Redis stalled", test_stalled },
		{ "restarts without Redis", test_restart_without_redis },
		{ "a gateway with other hash keys stays apart", test_key_mismatch },
		{ "a ledger made by the file store", test_file_ledger },
		{ "config errors and reloads", test_config },
		{ NULL, NULL },
	};

	redis_bin = getenv("REDIS_SERVER") ? getenv("REDIS_SERVER") :
		    "/usr/bin/redis-server";
	if (access(redis_bin, X_OK) != 0) {
		fprintf(stderr, "%s not found: install redis-server"
			" (tools/install-deps.sh)\n", redis_bin);
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	return kpg_cunit_run("plugins/duplicate-redis", tests, setup, teardown);
}
