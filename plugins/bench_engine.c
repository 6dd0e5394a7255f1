/* kpg-bench-engine — ns per warm request through one lcore's engine.
 *
 * A warm request is a certificate this lcore verified before: the gateway
 * answers it from the verified-result cache, with the policy chain. This
 * program runs the engine as a worker does (kpg_engine_begin() once per
 * burst of 32, kpg_engine_stage() per request) on a request of each
 * algorithm, without DPDK and without packet I/O, then times the steps of
 * that path alone. The chain is a config file's `plugins` list, or the
 * gateway's embedded default (validity, participant). A benchmark, not a
 * test:
 *
 *   build/plugins/kpg-bench-engine [KPGATE.CONF] [iterations]
 */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libconfig.h>

#include "kpg_bench.h"
#include "kpg_cert.h"
#include "kpg_engine.h"
#include "kpg_plugin_host.h"
#include "kpg_request.h"
#include "kpg_response.h"
#include "kpg_testkit.h"

#define NS     1000000000ll
#define BURST  32u

static const char default_chain[] =
	"plugins = ( { name = \"validity\"; }, { name = \"participant\"; } );";

static const struct kpg_engine_conf engine_conf = {
	.cache_entries = 4096,
	.clock_skew_s = 300,
	.trust_grace_s = 0,
	.slot = 0,
	.arena_bytes = 64 * 1024,
};

struct chain_env {
	config_t cf;
	struct kpg_plugin_host *host;
	struct kpg_chain *chain;
	char statedir[64];
};

static int chain_open(struct chain_env *ce, const char *conf_path)
{
	static char exe[PATH_MAX], dir[PATH_MAX], cdir[PATH_MAX];
	static const char *dirs[2] = { dir, NULL };
	const config_setting_t *list;
	const char *jur = NULL;
	char err[1024];
	ssize_t n;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	snprintf(dir, sizeof(dir), "%s", dirname(exe));       /* build/plugins */
	config_init(&ce->cf);
	if (conf_path) {
		snprintf(cdir, sizeof(cdir), "%s", conf_path);
		if (!config_read_file(&ce->cf, conf_path)) {
			fprintf(stderr, "%s:%d: %s\n", conf_path,
				config_error_line(&ce->cf), config_error_text(&ce->cf));
			return -1;
		}
		config_lookup_string(&ce->cf, "gateway.jurisdiction", &jur);
	} else {
		snprintf(cdir, sizeof(cdir), "./embedded");
		config_read_string(&ce->cf, default_chain);
	}
	list = config_lookup(&ce->cf, "plugins");
	if (list == NULL) {
		fprintf(stderr, "%s: no plugins list\n", conf_path);
		return -1;
	}
	snprintf(ce->statedir, sizeof(ce->statedir), "/tmp/kpg-bench-engine-XXXXXX");
	if (mkdtemp(ce->statedir) == NULL)
		return -1;
	struct kpg_plugin_host_conf hc = {
		.workers = 1, .checkpoint = "bench", .jurisdiction = jur ? jur : "EU",
		.config_dir = dirname(cdir), .state_dir = ce->statedir,
		.search_dirs = dirs,
	};
	ce->host = kpg_plugin_host_new(&hc);
	ce->chain = ce->host ? kpg_chain_build(ce->host, list, err, sizeof(err)) : NULL;
	if (ce->chain == NULL) {
		fprintf(stderr, "chain refused: %s\n", err);
		return -1;
	}
	return 0;
}

static void chain_close(struct chain_env *ce)
{
	char cmd[128];

	kpg_chain_delete(ce->chain);
	kpg_plugin_host_delete(ce->host);
	config_destroy(&ce->cf);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", ce->statedir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", ce->statedir);
}

/* One request's warm answer; the step must be a reply of `want`. */
static int stage_once(struct kpg_engine *e, struct kpg_job *j, const uint8_t *dgram,
		      uint32_t len, uint8_t *out, enum kpg_step want)
{
	uint32_t out_len = 0;
	struct kpg_job *jp = j;

	j->dgram = dgram;
	j->len = len;
	j->src = (struct kpg_addr){ 0 };
	enum kpg_step s = kpg_engine_stage(e, j, out, len, &out_len);

	if (s == KPG_STEP_VERIFY && want == KPG_STEP_VERIFY) {
		kpg_engine_verify(e, &jp, 1);
		s = kpg_engine_finish(e, j, out, len, &out_len);
	}
	return s == KPG_STEP_REPLY && out_len > 0 ? 0 : -1;
}

static void row(const char *what, double ns)
{
	printf("  %-44s %8.1f\n", what, ns);
}

static int bench_alg(const struct kpg_tk_pki *p, struct kpg_trust *t,
		     const struct kpg_chain *chain, enum kpg_alg alg,
		     unsigned long iters, int64_t now)
{
	static uint8_t dgram[KPG_DATAGRAM_MAX], out[KPG_DATAGRAM_MAX];
	struct kpg_engine *e = kpg_engine_new(&engine_conf);
	const struct kpg_engine_stats *st;
	struct kpg_job job;
	int n = kpg_tk_default_request(p, alg, 42, now, dgram, sizeof(dgram));
	volatile int sink = 0;
	double ns;

	if (e == NULL || n < 0)
		return -1;
	kpg_engine_begin(e, t, chain, NULL, now * NS);
	if (stage_once(e, &job, dgram, (uint32_t)n, out, KPG_STEP_VERIFY) < 0) {
		fprintf(stderr, "%s: the cold request was not answered\n", kpg_alg_name(alg));
		return -1;
	}
	printf("%s request, %d bytes\n", kpg_alg_name(alg), n);

	/* The whole warm path, as a worker runs it: begin once per burst. */
	ns = KPG_BENCH_NS(iters, {
		if (r_ % BURST == 0)
			kpg_engine_begin(e, t, chain, NULL, now * NS);
		sink += stage_once(e, &job, dgram, (uint32_t)n, out, KPG_STEP_REPLY);
	});
	st = kpg_engine_stats(e);
	if (sink != 0 || st->cache_misses != 1) {
		fprintf(stderr, "%s: warm requests were not cache hits\n", kpg_alg_name(alg));
		return -1;
	}
	row("warm request, kpg_engine_stage()", ns);

	/* Its steps alone. */
	struct kpg_request rq;
	ns = KPG_BENCH_NS(iters, sink += kpg_request_parse(dgram, (uint32_t)n, &rq));
	row("request pre-scan and view (kpg_request_parse)", ns);

	const struct kpg_trust_key *key = kpg_trust_find(t, rq.key_id.p);
	uint8_t canon[KPG_SIG_MAX];
	int cn = 0;
	ns = KPG_BENCH_NS(iters, {
		key = kpg_trust_find(t, rq.key_id.p);
		cn = kpg_sig_canonical(key->pub, rq.sig.p, rq.sig.len, canon, sizeof(canon));
	});
	row("key lookup and canonical signature", ns);

	struct kpg_cache *c = kpg_cache_new(4096);
	struct kpg_cache_key ck = {
		.key_id = rq.key_id.p, .sig = canon, .sig_len = (uint32_t)cn,
		.msg = rq.cert.p, .msg_len = rq.cert.len,
	};
	kpg_cache_hash(&ck);
	kpg_cache_insert(c, &ck, 1);
	ns = KPG_BENCH_NS(iters, {
		kpg_cache_hash(&ck);
		sink += !kpg_cache_lookup(c, &ck, 1);
	});
	row("cache hash, lookup and byte compare", ns);
	kpg_cache_delete(c);

	ns = KPG_BENCH_NS(iters, sink += kpg_cert_scan(rq.cert.p, rq.cert.len));
	row("canonical certificate scan (cold only)", ns);

	struct kpg_arena arena;
	struct kpg_cert cert;
	const char *why;
	kpg_arena_init(&arena, 64 * 1024);
	ns = KPG_BENCH_NS(iters, {
		sink += kpg_cert_decode(rq.cert.p, rq.cert.len, &arena, &cert, &why);
		kpg_arena_reset(&arena);
	});
	row("certificate decode (cold, or a view not kept)", ns);
	kpg_arena_fini(&arena);

	struct kpg_verdicts vs = { 0 };
	kpg_verdict_put(&vs, "signature", KPG_ACCEPT, 0, "ZA authority");
	kpg_verdict_put(&vs, "validity", KPG_ACCEPT, 0, "");
	kpg_verdict_put(&vs, "participant", KPG_ACCEPT, 0, "");
	struct kpg_answer a = {
		.request_id = 42, .decision = KPG_ACCEPT, .trust_version = 1,
		.verdicts = &vs,
	};
	ns = KPG_BENCH_NS(iters, sink += kpg_response_encode(&a, out, (size_t)n) < 0);
	row("response of 3 accept verdicts (kpg_response_encode)", ns);

	if (sink != 0) {
		fprintf(stderr, "%s: a step failed\n", kpg_alg_name(alg));
		return -1;
	}
	kpg_engine_delete(e);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long iters = argc > 2 ? strtoul(argv[2], NULL, 10) : 200000;
	const char *conf = argc > 1 && strcmp(argv[1], "-") != 0 ? argv[1] : NULL;
	static const enum kpg_alg algs[] = { KPG_ALG_ECDSA_P256_SHA256, KPG_ALG_ED25519,
					     KPG_ALG_RSA_PSS_SHA256 };
	struct chain_env ce;
	struct kpg_tk_pki p;
	struct kpg_trust *t;
	int64_t now = time(NULL);
	int rc = 0;

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		fprintf(stderr, "usage: %s [KPGATE.CONF|-] [iterations]\n", argv[0]);
		return 2;
	}
	if (chain_open(&ce, conf) < 0)
		return 1;
	if (kpg_tk_pki_new(&p) < 0 || (t = kpg_tk_trust(&p, 1, now, NULL, 1)) == NULL) {
		fprintf(stderr, "cannot make the test PKI\n");
		return 1;
	}
	printf("warm path of one lcore's engine, chain of %s (%u plugins), "
	       "%lu requests per row, best of 5; ns per request\n",
	       conf ? conf : "the embedded default", kpg_chain_length(ce.chain), iters);
	for (unsigned i = 0; i < sizeof(algs) / sizeof(algs[0]) && rc == 0; i++)
		rc = bench_alg(&p, t, ce.chain, algs[i], iters, now);
	kpg_trust_delete(t);
	kpg_tk_pki_delete(&p);
	chain_close(&ce);
	return rc ? 1 : 0;
}
