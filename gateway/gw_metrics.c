/* gw_metrics.c — the Prometheus endpoint; see gw_metrics.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libconfig.h>
#include <microhttpd.h>
#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_version.h>

#include "gw_conf_read.h"
#include "gw_log.h"
#include "gw_metrics.h"
#include "gw_policy.h"
#include "gw_stats.h"
#include "gw_trust.h"
#include "kpg_request.h"
#include "kpg_verdict.h"

#ifndef KPGATE_VERSION
#define KPGATE_VERSION "unknown"
#endif

#define SOURCES_MAX 8
#define POLL_MS 100                  /* how soon a stop is noticed */

static struct {
	bool enabled;
	bool configured;                 /* the file has a metrics group */
	char listen[INET6_ADDRSTRLEN];
	uint16_t port;
} conf;

static struct MHD_Daemon *httpd;
static pthread_t thread;
static int stopping;
static time_t started;

/* Guards the sources and is held through a scrape, so a source removed
 * is never running once remove returns. Workers never take it. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	gw_metrics_source_fn *fn;
	void *arg;
} sources[SOURCES_MAX];

/* ---- configuration -------------------------------------------------- */

static int get_listen(const struct gw_conf_ctx *x, const config_setting_t *g,
		      char *out, size_t cap)
{
	const config_setting_t *s = config_setting_get_member(g, "listen");
	const char *v;
	uint8_t a[16];

	if (s == NULL)
		return 0;
	v = config_setting_type(s) == CONFIG_TYPE_STRING ?
	    config_setting_get_string(s) : "";
	if (inet_pton(AF_INET, v, a) != 1 && inet_pton(AF_INET6, v, a) != 1)
		return gw_conf_fail(x, s, "'listen' must be an IPv4 or IPv6 address string");
	snprintf(out, cap, "%s", v);
	return 0;
}

static int read_group(const struct gw_conf_ctx *x, const config_setting_t *g)
{
	static const char *const keys[] = { "enabled", "listen", "port", NULL };
	uint32_t port = conf.port;
	int rc;

	if ((rc = gw_conf_only_keys(x, g, "metrics", keys)) ||
	    (rc = gw_conf_bool(x, g, "enabled", &conf.enabled)) ||
	    (rc = get_listen(x, g, conf.listen, sizeof(conf.listen))) ||
	    (rc = gw_conf_u32(x, g, "port", 1, 65535, &port)))
		return rc;
	conf.port = (uint16_t)port;
	return 0;
}

int gw_metrics_configure(const struct gw_config *c, char *err, size_t len)
{
	const struct gw_conf_ctx x = { .file = c->file, .dir = c->dir,
				       .prefix = "metrics: ", .err = err,
				       .errlen = len };
	const config_setting_t *g;
	config_t cf;
	int rc;

	conf.enabled = true;
	conf.configured = false;
	snprintf(conf.listen, sizeof(conf.listen), "127.0.0.1");
	conf.port = GW_METRICS_PORT_DEFAULT;
	if (c->file[0] == '\0' || !c->has_metrics)
		return 0;

	rc = gw_conf_open(&cf, c->file, c->dir, err, len);
	if (rc == 0)
		rc = gw_conf_group(&x, config_root_setting(&cf), "metrics", &g);
	if (rc == 0 && g != NULL) {
		conf.configured = true;
		rc = read_group(&x, g);
	}
	config_destroy(&cf);
	return rc;
}

/* ---- the page ------------------------------------------------------- */

static void counter(struct gw_prom *p, const char *name, const char *help,
		    uint64_t v)
{
	gw_prom_family(p, name, "counter", help);
	gw_prom_u64(p, name, v, NULL);
}

static void gauge(struct gw_prom *p, const char *name, const char *help,
		  int64_t v)
{
	gw_prom_family(p, name, "gauge", help);
	gw_prom_i64(p, name, v, NULL);
}

static void write_traffic(struct gw_prom *p, const struct gw_stats *t)
{
	static const char *const reply_kind[] = {
		[GW_REPLY_ARP] = "arp", [GW_REPLY_ICMP4_ECHO] = "icmp_echo",
		[GW_REPLY_ICMP6_ECHO] = "icmpv6_echo", [GW_REPLY_ND] = "nd",
	};
	const char *n;

	gauge(p, "kpgate_workers", "Worker lcores running the data path.",
	      t->workers);
	gauge(p, "kpgate_in_flight_requests",
	      "Requests in the cold queues, waiting for a signature check.",
	      (int64_t)t->in_flight);
	counter(p, "kpgate_rx_packets_total", "Packets received.", t->w.rx);
	counter(p, "kpgate_tx_packets_total", "Packets sent.", t->w.tx);
	counter(p, "kpgate_requests_total",
		"UDP datagrams to the gateway's port handed to the engine.",
		t->w.requests);
	counter(p, "kpgate_answers_total", "Answers to requests queued for sending.",
		t->w.answered);
	counter(p, "kpgate_drained_requests_total",
		"Requests answered overloaded because the gateway was draining.",
		t->w.drained);
	counter(p, "kpgate_idle_sleeps_total",
		"Sleeps of idle workers (idle mode).", t->w.idle_sleeps);
	n = "kpgate_worker_busy_seconds_total";
	gw_prom_family(p, n, "counter",
		       "Time the workers spent in polls that found work, summed over workers: "
		       "its rate over kpgate_workers is how saturated they are.");
	gw_prom_f64(p, n, (double)t->w.busy_tsc / (double)rte_get_tsc_hz(), NULL);
	counter(p, "kpgate_certificate_decodes_total",
		"Certificates decoded: cold requests, and warm ones whose decoded view "
		"was not kept with their cache entry.", t->e.cert_decodes);

	n = "kpgate_local_replies_total";
	gw_prom_family(p, n, "counter",
		       "ARP, ICMP echo and neighbour solicitation answers, by kind.");
	for (int i = GW_REPLY_ARP; i <= GW_REPLY_ND; i++)
		gw_prom_u64(p, n, t->w.replies[i], "kind", reply_kind[i], NULL);

	n = "kpgate_drops_total";
	gw_prom_family(p, n, "counter",
		       "Frames and requests dropped without an answer, by stage and reason.");
	for (int i = 1; i < GW_DROP__COUNT; i++)
		gw_prom_u64(p, n, t->w.drops[i], "stage", "packet",
			    "reason", gw_drop_name(i), NULL);
	for (int i = 1; i < KPG_REQ__COUNT; i++)
		gw_prom_u64(p, n, t->e.refused[i], "stage", "request",
			    "reason", kpg_request_reason_name(i), NULL);
}

static void write_requests(struct gw_prom *p, const struct gw_stats *t)
{
	const char *n;

	n = "kpgate_decisions_total";
	gw_prom_family(p, n, "counter", "Overall decisions answered.");
	for (int i = KPG_ACCEPT; i < KPG_DECISION__COUNT; i++)
		gw_prom_u64(p, n, t->e.decisions[i], "decision",
			    kpg_decision_name(i), NULL);

	n = "kpgate_errors_total";
	gw_prom_family(p, n, "counter", "Error answers, by error code name.");
	for (int i = 1; i < KPG_ERR__COUNT; i++)
		gw_prom_u64(p, n, t->e.errors[i], "error", kpg_error_name(i), NULL);

	n = "kpgate_verdict_reasons_total";
	gw_prom_family(p, n, "counter",
		       "Verdicts of the gateway's own checks that did not accept, by reason.");
	for (int i = 1; i < KPG_R__COUNT; i++)
		gw_prom_u64(p, n, t->e.reasons[i], "reason", kpg_reason_name(i), NULL);

	n = "kpgate_cache_lookups_total";
	gw_prom_family(p, n, "counter", "Verified-result cache lookups, by result.");
	gw_prom_u64(p, n, t->e.cache_hits, "result", "hit", NULL);
	gw_prom_u64(p, n, t->e.cache_misses, "result", "miss", NULL);

	n = "kpgate_signature_checks_total";
	gw_prom_family(p, n, "counter",
		       "Signatures checked (cache misses and bad encodings), by result.");
	gw_prom_u64(p, n, t->e.verify_ok, "result", "valid", NULL);
	gw_prom_u64(p, n, t->e.verify_failed, "result", "invalid", NULL);
}

static void write_latency(struct gw_prom *p, const struct gw_stats *t)
{
	const char *n = "kpgate_request_latency_seconds";
	double le[GW_LAT_BOUNDS], hz = (double)rte_get_tsc_hz();

	for (int i = 0; i < GW_LAT_BOUNDS; i++)
		le[i] = (double)gw_lat_bound_ns[i] / 1e9;
	gw_prom_family(p, n, "histogram",
		       "From the RX burst of a request to the queueing of its answer; "
		       "warm: answered within its burst, cold: after a signature check.");
	for (int k = 0; k < GW_LAT__COUNT; k++)
		gw_prom_histogram(p, n, le, GW_LAT_BOUNDS, t->w.lat[k].bucket,
				  hz > 0 ? (double)t->w.lat[k].ticks / hz : 0,
				  "path", gw_lat_path_name(k));
}

static const char *const verdict_name[] = {
	[KPG_DECISION_NONE] = "not_applicable", [KPG_ACCEPT] = "accept",
	[KPG_REFER] = "refer", [KPG_REJECT] = "reject",
};

static void plugin_verdicts(void *arg, const char *name, int position,
			    const struct kpg_plugin_counts *c)
{
	for (int i = 0; i < KPG_DECISION__COUNT; i++)
		gw_prom_u64(arg, "kpgate_plugin_verdicts_total", c->decisions[i],
			    "plugin", name, "verdict", verdict_name[i], NULL);
}

static void plugin_position(void *arg, const char *name, int position,
			    const struct kpg_plugin_counts *c)
{
	gw_prom_i64(arg, "kpgate_plugin_chain_position", position,
		    "plugin", name, NULL);
}

static void write_plugins(struct gw_prom *p)
{
	gw_prom_family(p, "kpgate_plugin_verdicts_total", "counter",
		       "Verdicts of each policy plugin ever loaded, by plugin and verdict.");
	gw_policy_foreach(plugin_verdicts, p);
	gw_prom_family(p, "kpgate_plugin_chain_position", "gauge",
		       "Place of each plugin in the chain in force, from 0; -1 when out of it.");
	gw_policy_foreach(plugin_position, p);
}

static void write_trust(struct gw_prom *p, time_t now)
{
	uint64_t version = 0;
	int64_t issued = 0, next = 0;
	unsigned keys = 0;
	bool loaded = gw_trust_describe(&version, &issued, &next, &keys) == 0;

	gauge(p, "kpgate_trust_list_loaded", "1 when a trust list is in force.",
	      loaded);
	if (!loaded)
		return;
	gauge(p, "kpgate_trust_list_version", "Version of the trust list in force.",
	      (int64_t)version);
	gauge(p, "kpgate_trust_list_keys", "Authority keys in the trust list in force.",
	      keys);
	gauge(p, "kpgate_trust_list_issued_timestamp_seconds",
	      "When the trust list in force was issued, Unix time.", issued);
	gauge(p, "kpgate_trust_list_next_update_timestamp_seconds",
	      "When the trust list in force is due to be replaced, Unix time.", next);
	gauge(p, "kpgate_trust_list_age_seconds",
	      "Seconds since the trust list in force was issued.", now - issued);
}

/* The whole page, or NULL: out of memory, or the gateway shutting down. */
static char *page(size_t *len)
{
	struct gw_prom p;
	struct gw_stats t;
	time_t now = time(NULL);

	if (gw_stats_read(&t) != 0)
		return NULL;
	gw_prom_init(&p);
	gw_prom_family(&p, "kpgate_build_info", "gauge",
		       "Version of kpgate and of DPDK; always 1.");
	gw_prom_u64(&p, "kpgate_build_info", 1, "version", KPGATE_VERSION,
		    "dpdk", rte_version(), NULL);
	gauge(&p, "kpgate_start_time_seconds", "When kpgate started, Unix time.",
	      started);
	gauge(&p, "kpgate_draining",
	      "1 while draining: new requests are answered overloaded.",
	      gw_worker_draining());
	write_traffic(&p, &t);
	write_requests(&p, &t);
	write_latency(&p, &t);
	write_plugins(&p);
	write_trust(&p, now);
	for (int i = 0; i < SOURCES_MAX; i++)
		if (sources[i].fn)
			sources[i].fn(&p, sources[i].arg);
	return gw_prom_take(&p, len);
}

/* ---- HTTP ----------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
			     const char *text)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result rc;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; charset=utf-8");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **req_cls)
{
	struct MHD_Response *r;
	enum MHD_Result rc;
	size_t len = 0;
	char *body;

	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET or HEAD only\n");
	if (strcmp(url, "/") == 0)
		return reply(c, MHD_HTTP_OK, "kpgate: metrics at /metrics\n");
	if (strcmp(url, "/metrics") != 0)
		return reply(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n");

	pthread_mutex_lock(&lock);
	body = page(&len);
	pthread_mutex_unlock(&lock);
	if (body == NULL)
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE,
			     "kpgate is starting, stopping or out of memory\n");
	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				GW_PROM_CONTENT_TYPE);
	rc = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rc;
}

static void on_log(void *cls, const char *fmt, va_list ap)
{
	rte_vlog(RTE_LOG_WARNING, gw_logtype, fmt, ap);
}

/* The control thread: libmicrohttpd's event loop, run here rather than in
 * a thread of its own so that it is on the control cores. */
static void *serve(void *arg)
{
	while (!__atomic_load_n(&stopping, __ATOMIC_RELAXED))
		MHD_run_wait(httpd, POLL_MS);
	return NULL;
}

/* A socket of our own, so that a refused bind says why in the log. */
static int listener(void)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	socklen_t sl;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, conf.listen, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(conf.port);
		sl = sizeof(*a4);
	} else if (inet_pton(AF_INET6, conf.listen, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(conf.port);
		sl = sizeof(*a6);
	} else {
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 16) != 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

int gw_metrics_start(void)
{
	int fd, rc;

	started = time(NULL);
	if (!conf.enabled) {
		GW_LOG(INFO, "metrics endpoint off (metrics.enabled = false)\n");
		return 0;
	}
	fd = listener();
	if (fd < 0) {
		if (!conf.configured) {
			GW_LOG(WARNING, "metrics: cannot listen on %s port %u: %s; "
			       "running without the endpoint (set metrics.port)\n",
			       conf.listen, conf.port, strerror(-fd));
			return 0;
		}
		GW_LOG(ERR, "metrics: cannot listen on %s port %u: %s\n",
		       conf.listen, conf.port, strerror(-fd));
		return fd;
	}
	/* The logger first: options before it would log to stderr. */
	httpd = MHD_start_daemon(MHD_USE_ERROR_LOG, 0, NULL, NULL,
				 on_request, NULL,
				 MHD_OPTION_EXTERNAL_LOGGER, on_log, NULL,
				 MHD_OPTION_LISTEN_SOCKET, fd,
				 MHD_OPTION_CONNECTION_LIMIT, 16u,
				 MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				 MHD_OPTION_END);
	if (httpd == NULL) {
		close(fd);
		GW_LOG(ERR, "metrics: cannot start the HTTP server\n");
		return -ENOMEM;
	}
	__atomic_store_n(&stopping, 0, __ATOMIC_RELAXED);
	rc = rte_ctrl_thread_create(&thread, "kpg-metrics", NULL, serve, NULL);
	if (rc != 0) {
		MHD_stop_daemon(httpd);
		httpd = NULL;
		GW_LOG(ERR, "metrics: cannot start its thread: %s\n", strerror(rc));
		return -rc;
	}
	GW_LOG(INFO, "metrics at http://%s%s%s:%u/metrics\n",
	       strchr(conf.listen, ':') ? "[" : "", conf.listen,
	       strchr(conf.listen, ':') ? "]" : "", conf.port);
	return 0;
}

void gw_metrics_stop(void)
{
	if (httpd == NULL)
		return;
	__atomic_store_n(&stopping, 1, __ATOMIC_RELAXED);
	pthread_join(thread, NULL);
	MHD_stop_daemon(httpd);
	httpd = NULL;
}

int gw_metrics_add_source(gw_metrics_source_fn *fn, void *arg)
{
	int rc = -ENOSPC;

	pthread_mutex_lock(&lock);
	for (int i = 0; i < SOURCES_MAX; i++)
		if (sources[i].fn == fn && sources[i].arg == arg) {
			rc = -EEXIST;
			goto out;
		}
	for (int i = 0; i < SOURCES_MAX; i++)
		if (sources[i].fn == NULL) {
			sources[i].fn = fn;
			sources[i].arg = arg;
			rc = 0;
			break;
		}
out:
	pthread_mutex_unlock(&lock);
	return rc;
}

void gw_metrics_remove_source(gw_metrics_source_fn *fn, void *arg)
{
	pthread_mutex_lock(&lock);
	for (int i = 0; i < SOURCES_MAX; i++)
		if (sources[i].fn == fn && sources[i].arg == arg)
			sources[i].fn = NULL;
	pthread_mutex_unlock(&lock);
}
