/* kpgatectl — control a running kpgate, as vppctl or unbound-control do.
 *
 * Talks to the gateway over DPDK telemetry (the unix socket
 * <runtime dir>/dpdk/<file prefix>/dpdk_telemetry.v2, one JSON reply per
 * command), using the /kpgate/... commands kpgate registers, so whatever
 * it shows dpdk-telemetry.py sees too. Long lists come in pages and are
 * fetched whole. Errors name their cause (not running, no permission,
 * refused and why), and the exit status says which for scripts:
 *   0 done, 1 the gateway refused or did not finish, 2 usage,
 *   3 no gateway to talk to (not running, no permission, not kpgate). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

enum exit_code {
	EXIT_DONE = 0,
	EXIT_REFUSED = 1,
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3,
};

#define SOCKET_NAME "dpdk_telemetry.v2"
#define SUN_PATH_LEN sizeof(((struct sockaddr_un *)0)->sun_path)
#define REPLY_MAX (64 * 1024)        /* telemetry sends at most 16 KiB */

struct ctl {
	const char *prefix;              /* NULL: kpgate, then rte */
	const char *socket;              /* -s: a path given */
	char path[SUN_PATH_LEN];
	bool json;
	int timeout_s;
	int wait_s;                      /* drain: how long to wait */
	int fd;
	long pid;                        /* of the gateway, from its greeting */
	json_t *commands;                /* what "/" lists */
	char *buf;
};

/* A failure: a line on stderr and, with --json, an object on stdout that
 * names the cause for scripts. */
static int fail(struct ctl *c, int code, const char *cause, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct ctl *c, int code, const char *cause, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "kpgatectl: %s\n", msg);
	if (c->json) {
		json_t *o = json_pack("{s:s, s:s}", "error", msg, "cause", cause);

		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	}
	return code;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kpgatectl [options] COMMAND [ARGS]\n"
		"Controls a running kpgate over DPDK telemetry.\n\n"
		"commands:\n"
		"  status                 version, uptime, ports, lcores, trust list (version,\n"
		"                         age), policy chain, stations, audit, drain state\n"
		"  stats                  counters: traffic, decisions, reasons, errors, drops,\n"
		"                         latency, per plugin, per station (when kpgate has them)\n"
		"  keys                   every key of the trust list in force\n"
		"  reload [trust|plugins|stations]\n"
		"                         reloads them all, or the one named; exit 1 if\n"
		"                         one is refused\n"
		"  drain                  stop taking new requests (each is answered\n"
		"                         'overloaded', so stations turn to another gateway),\n"
		"                         wait until those queued are answered; then stop\n"
		"                         kpgate, or resume\n"
		"  resume                 take requests again after a drain\n\n"
		"options:\n"
		"  -f, --file-prefix P    the gateway's EAL --file-prefix (default: kpgate,\n"
		"                         then rte)\n"
		"  -s, --socket PATH      the telemetry socket itself\n"
		"  -j, --json             print JSON, for scripts\n"
		"  -t, --timeout S        seconds to wait for a reply (default 10)\n"
		"  -w, --wait S           drain: seconds to wait for queued requests\n"
		"                         (default 30)\n"
		"  -h, --help\n\n"
		"exit status: 0 done, 1 refused or not finished, 2 usage, 3 no gateway\n"
		"(not running, no permission, not kpgate)\n");
}

/* ---- the telemetry socket ------------------------------------------- */

/* Where DPDK puts its runtime directory, in the order kpgate is most
 * likely run: the systemd unit's RuntimeDirectory, root, a user. */
static int candidates(const char *prefix, char out[][SUN_PATH_LEN], int max)
{
	const char *env[] = { getenv("RUNTIME_DIRECTORY"), "/run/kpgate",
			      "/var/run", getenv("XDG_RUNTIME_DIR"), "/tmp" };
	int n = 0;

	for (unsigned i = 0; i < sizeof(env) / sizeof(env[0]) && n < max; i++) {
		int len;

		if (env[i] == NULL || env[i][0] == '\0')
			continue;
		len = snprintf(out[n], SUN_PATH_LEN, "%s/dpdk/%s/" SOCKET_NAME,
			       env[i], prefix);
		if (len > 0 && (size_t)len < SUN_PATH_LEN)
			n++;        /* longer ones cannot be a socket's path */
	}
	return n;
}

/* Finds the socket: the first candidate that exists, or that we may not
 * even look at (then the permission error names it). */
static int locate(struct ctl *c)
{
	const char *prefixes[2] = { c->prefix ? c->prefix : "kpgate",
				    c->prefix ? NULL : "rte" };
	char paths[8][SUN_PATH_LEN];
	struct stat st;

	if (c->socket) {
		if (strlen(c->socket) >= sizeof(c->path))
			return fail(c, EXIT_USAGE, "usage", "socket path too long: %s",
				    c->socket);
		memcpy(c->path, c->socket, strlen(c->socket) + 1);
		return 0;
	}
	for (int p = 0; p < 2 && prefixes[p]; p++) {
		int n = candidates(prefixes[p], paths, 8);

		for (int i = 0; i < n; i++)
			if (stat(paths[i], &st) == 0 || errno == EACCES) {
				memcpy(c->path, paths[i], sizeof(c->path));
				return 0;
			}
	}
	if (c->prefix)
		return fail(c, EXIT_UNREACHABLE, "not_running",
			    "kpgate is not running with file prefix '%s': no "
			    "telemetry socket (looked in /run/kpgate/dpdk, "
			    "/var/run/dpdk, $XDG_RUNTIME_DIR/dpdk, /tmp/dpdk)",
			    c->prefix);
	return fail(c, EXIT_UNREACHABLE, "not_running",
		    "kpgate is not running: no telemetry socket for file prefix "
		    "'kpgate' or 'rte' (give the gateway's with -f PREFIX)");
}

static int recv_json(struct ctl *c, json_t **out)
{
	json_error_t e;
	ssize_t n;

	n = recv(c->fd, c->buf, REPLY_MAX - 1, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return fail(c, EXIT_REFUSED, "timeout",
			    "no reply from kpgate within %d s", c->timeout_s);
	if (n < 0)
		return fail(c, EXIT_UNREACHABLE, "connection",
			    "reading from %s: %s", c->path, strerror(errno));
	if (n == 0)
		return fail(c, EXIT_UNREACHABLE, "connection",
			    "kpgate closed the telemetry connection (it is "
			    "stopping, or already serves its limit of clients)");
	c->buf[n] = '\0';
	*out = json_loads(c->buf, 0, &e);
	if (*out == NULL || !json_is_object(*out)) {
		json_decref(*out);
		return fail(c, EXIT_UNREACHABLE, "protocol",
			    "%s: not a telemetry reply: %s", c->path, e.text);
	}
	return 0;
}

/* One command; *value is its reply's value (JSON null when the command
 * is unknown or refused its parameters), a new reference. */
static int command(struct ctl *c, const char *cmd, json_t **value)
{
	char name[128];
	json_t *root;
	int rc;

	if (send(c->fd, cmd, strlen(cmd), 0) < 0)
		return fail(c, EXIT_UNREACHABLE, "connection", "writing to %s: %s",
			    c->path, strerror(errno));
	if ((rc = recv_json(c, &root)) != 0)
		return rc;
	snprintf(name, sizeof(name), "%.*s", (int)strcspn(cmd, ","), cmd);
	*value = json_incref(json_object_get(root, name));
	json_decref(root);
	if (*value == NULL)
		return fail(c, EXIT_UNREACHABLE, "protocol",
			    "%s: the reply does not answer %s", c->path, name);
	return 0;
}

static bool has_command(const struct ctl *c, const char *cmd)
{
	size_t i;
	json_t *v;

	json_array_foreach(c->commands, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), cmd) == 0)
			return true;
	return false;
}

static int open_gateway(struct ctl *c)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = c->timeout_s };
	json_t *hello;
	int rc;

	if ((rc = locate(c)) != 0)
		return rc;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", c->path);
	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return fail(c, EXIT_UNREACHABLE, "socket", "socket: %s",
			    strerror(errno));
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		switch (errno) {
		case ENOENT:
			return fail(c, EXIT_UNREACHABLE, "not_running",
				    "kpgate is not running: no socket at %s", c->path);
		case ECONNREFUSED:
			return fail(c, EXIT_UNREACHABLE, "not_running",
				    "kpgate is not running: %s is left from a "
				    "process that is gone", c->path);
		case EACCES:
		case EPERM:
			return fail(c, EXIT_UNREACHABLE, "no_permission",
				    "no permission to use %s: run as root or as "
				    "the user kpgate runs as", c->path);
		default:
			return fail(c, EXIT_UNREACHABLE, "connection",
				    "cannot connect to %s: %s", c->path,
				    strerror(errno));
		}
	}
	c->buf = malloc(REPLY_MAX);
	if (c->buf == NULL)
		return fail(c, EXIT_UNREACHABLE, "memory", "out of memory");
	if ((rc = recv_json(c, &hello)) != 0)
		return rc;
	c->pid = (long)json_integer_value(json_object_get(hello, "pid"));
	json_decref(hello);
	if ((rc = command(c, "/", &c->commands)) != 0)
		return rc;
	if (!has_command(c, "/kpgate/status"))
		return fail(c, EXIT_UNREACHABLE, "not_kpgate",
			    "the DPDK process at %s (pid %ld) is not kpgate: it "
			    "has no /kpgate/ telemetry commands", c->path, c->pid);
	return 0;
}

/* A /kpgate/ command that must answer an object. */
static int ask(struct ctl *c, const char *cmd, json_t **value)
{
	int rc = command(c, cmd, value);

	if (rc != 0)
		return rc;
	if (!json_is_object(*value)) {
		json_decref(*value);
		*value = NULL;
		return fail(c, EXIT_REFUSED, "refused",
			    "kpgate answered nothing to %s (it is stopping, or "
			    "the parameter is wrong)", cmd);
	}
	return 0;
}

/* ---- printing ------------------------------------------------------- */

static uint64_t u64_of(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

static void print_json(json_t *o)
{
	json_dumpf(o, stdout, JSON_INDENT(2));
	putchar('\n');
}

/* "3d 04:05:06" */
static const char *duration(int64_t s, char *out, size_t len)
{
	const char *sign = s < 0 ? "-" : "";

	if (s < 0)
		s = -s;
	if (s >= 86400)
		snprintf(out, len, "%s%" PRId64 "d %02d:%02d:%02d", sign, s / 86400,
			 (int)(s % 86400 / 3600), (int)(s % 3600 / 60), (int)(s % 60));
	else
		snprintf(out, len, "%s%02d:%02d:%02d", sign, (int)(s / 3600),
			 (int)(s % 3600 / 60), (int)(s % 60));
	return out;
}

static const char *utc(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, len, "%Y-%m-%d %H:%M:%SZ", &tm);
	return out;
}

/* Every counter of an object of counters, one per line, skipping zeros
 * unless all are. */
static void print_counters(const char *title, const json_t *o)
{
	const char *k;
	json_t *v;
	bool any = false;

	printf("%s:\n", title);
	json_object_foreach((json_t *)o, k, v)
		if (json_is_integer(v) && json_integer_value(v) != 0) {
			printf("  %-32s %" JSON_INTEGER_FORMAT "\n", k,
			       json_integer_value(v));
			any = true;
		}
	if (!any)
		printf("  (none)\n");
}

/* ---- commands ------------------------------------------------------- */

/* The policy chain in force, in order, from /kpgate/plugins. */
static json_t *chain_of(const json_t *plugins)
{
	json_t *chain = json_array(), *v;
	const char *name;
	int64_t pos, want = 0;
	bool found = true;

	while (found) {
		found = false;
		json_object_foreach((json_t *)plugins, name, v) {
			pos = json_integer_value(json_object_get(v, "position"));
			if (pos == want) {
				json_array_append_new(chain, json_string(name));
				found = true;
			}
		}
		want++;
	}
	return chain;
}

/* DPDK's own /ethdev commands: each port's name and packet counts. */
static json_t *ports_of(struct ctl *c)
{
	json_t *list = NULL, *ports = json_array(), *id;
	size_t i;

	if (command(c, "/ethdev/list", &list) != 0 || !json_is_array(list)) {
		json_decref(list);
		return ports;
	}
	json_array_foreach(list, i, id) {
		char cmd[64];
		json_t *info = NULL, *st = NULL, *p;

		snprintf(cmd, sizeof(cmd), "/ethdev/info,%" JSON_INTEGER_FORMAT,
			 json_integer_value(id));
		command(c, cmd, &info);
		snprintf(cmd, sizeof(cmd), "/ethdev/stats,%" JSON_INTEGER_FORMAT,
			 json_integer_value(id));
		command(c, cmd, &st);
		p = json_pack("{s:I}", "id", json_integer_value(id));
		if (json_is_object(info))
			json_object_set(p, "name", json_object_get(info, "name"));
		if (json_is_object(st)) {
			json_object_set_new(p, "rx_packets", json_integer((json_int_t)u64_of(st, "ipackets")));
			json_object_set_new(p, "tx_packets", json_integer((json_int_t)u64_of(st, "opackets")));
			json_object_set_new(p, "rx_missed", json_integer((json_int_t)u64_of(st, "imissed")));
			json_object_set_new(p, "rx_errors", json_integer((json_int_t)u64_of(st, "ierrors")));
		}
		json_array_append_new(ports, p);
		json_decref(info);
		json_decref(st);
	}
	json_decref(list);
	return ports;
}

static int cmd_status(struct ctl *c)
{
	json_t *st, *plugins, *out, *trust, *chain, *ports, *v;
	char a[64], b[64], d[64], e[64];
	int64_t now = time(NULL);
	size_t i;
	int rc;

	if ((rc = ask(c, "/kpgate/status", &st)) != 0)
		return rc;
	if ((rc = ask(c, "/kpgate/plugins", &plugins)) != 0) {
		json_decref(st);
		return rc;
	}
	out = json_deep_copy(st);
	json_object_set_new(out, "pid", json_integer(c->pid));
	json_object_set_new(out, "draining",
			    json_boolean(json_integer_value(json_object_get(st, "draining"))));
	trust = json_object_get(out, "trust_list");
	if (json_is_object(trust))
		json_object_set_new(trust, "age_s", json_integer(now -
				    (json_int_t)u64_of(trust, "issued_at")));
	else
		json_object_set_new(out, "trust_list", json_null());
	chain = chain_of(plugins);
	json_object_set_new(out, "chain", chain);
	ports = ports_of(c);
	json_object_set_new(out, "port_list", ports);
	/* What the audit and station modules say, when built in. */
	if (has_command(c, "/kpgate/audit") && ask(c, "/kpgate/audit", &v) == 0)
		json_object_set_new(out, "audit", v);
	if (has_command(c, "/kpgate/stations") &&
	    ask(c, "/kpgate/stations,0,1", &v) == 0) {
		const char *unknown = json_string_value(json_object_get(v, "unknown"));

		json_object_set_new(out, "stations", json_pack("{s:I, s:s}",
			"configured", (json_int_t)u64_of(v, "stations"),
			"unknown", unknown ? unknown : "?"));
		json_decref(v);
	}

	if (c->json) {
		print_json(out);
	} else {
		printf("kpgate %s (%s), pid %ld, up %s\n",
		       json_string_value(json_object_get(st, "version")),
		       json_string_value(json_object_get(st, "dpdk")), c->pid,
		       duration((int64_t)u64_of(st, "uptime_s"), a, sizeof(a)));
		printf("workers:     %" PRIu64 " lcore(s)\n", u64_of(st, "lcores"));
		printf("ports:       %" PRIu64 " in use\n", u64_of(st, "ports"));
		json_array_foreach(ports, i, v)
			printf("  %" JSON_INTEGER_FORMAT " %-14s rx %" PRIu64 " tx %"
			       PRIu64 " missed %" PRIu64 "\n",
			       json_integer_value(json_object_get(v, "id")),
			       json_string_value(json_object_get(v, "name")) ?
			       json_string_value(json_object_get(v, "name")) : "?",
			       u64_of(v, "rx_packets"), u64_of(v, "tx_packets"),
			       u64_of(v, "rx_missed"));
		if (json_is_object(trust)) {
			int64_t next = (int64_t)u64_of(trust, "next_update");

			printf("trust list:  version %" PRIu64 ", %" PRIu64 " keys, "
			       "issued %s (%s ago), next update %s (%s %s)\n",
			       u64_of(trust, "version"), u64_of(trust, "keys"),
			       utc((int64_t)u64_of(trust, "issued_at"), a, sizeof(a)),
			       duration(now - (int64_t)u64_of(trust, "issued_at"), d, sizeof(d)),
			       utc(next, b, sizeof(b)), next >= now ? "in" : "PAST, by",
			       duration(next >= now ? next - now : now - next, e, sizeof(e)));
		} else {
			printf("trust list:  none (every request is answered "
			       "trust_list_unavailable)\n");
		}
		printf("policy:      ");
		json_array_foreach(chain, i, v)
			printf("%s%s", i ? ", " : "", json_string_value(v));
		printf("%s\n", json_array_size(chain) ? "" : "(empty chain)");
		if ((v = json_object_get(out, "stations")))
			printf("stations:    %" PRIu64 " configured, unknown ones %s\n",
			       u64_of(v, "configured"),
			       json_string_value(json_object_get(v, "unknown")));
		if ((v = json_object_get(out, "audit")))
			printf("audit:       mode %s, backlog %" PRIu64 ", held %" PRIu64 "\n",
			       json_string_value(json_object_get(v, "mode")),
			       u64_of(v, "backlog"), u64_of(v, "held"));
		printf("draining:    %s\n", json_is_true(json_object_get(out, "draining")) ?
		       "yes: new requests are answered overloaded" : "no");
	}
	json_decref(out);
	json_decref(st);
	json_decref(plugins);
	return EXIT_DONE;
}

/* Every page of /kpgate/stations, merged into one object of the same
 * shape: "stations" (how many), "unknown" (served or refused), one object
 * per station id and "(unknown)" for senders not in the table. */
static int fetch_stations(struct ctl *c, json_t **out)
{
	uint64_t offset = 0, total;

	*out = NULL;
	do {
		char cmd[64];
		json_t *page, *v;
		const char *k;
		uint64_t got = 0;
		int rc;

		snprintf(cmd, sizeof(cmd), "/kpgate/stations,%" PRIu64, offset);
		if ((rc = ask(c, cmd, &page)) != 0) {
			json_decref(*out);
			*out = NULL;
			return rc;
		}
		total = u64_of(page, "stations");
		json_object_foreach(page, k, v)
			if (json_is_object(v) && strcmp(k, "(unknown)") != 0)
				got++;
		if (*out == NULL) {
			*out = page;
		} else {
			json_object_update(*out, page);
			json_decref(page);
		}
		if (got == 0)
			break;
		offset += got;
	} while (offset < total);
	return 0;
}

static int cmd_stats(struct ctl *c)
{
	json_t *stats, *drops, *plugins, *stations = NULL, *out, *v;
	const char *k;
	int rc;

	if ((rc = ask(c, "/kpgate/stats", &stats)) != 0)
		return rc;
	if ((rc = ask(c, "/kpgate/drops", &drops)) != 0 ||
	    (rc = ask(c, "/kpgate/plugins", &plugins)) != 0)
		return rc;
	/* Per station figures come from the station module, when built in. */
	if (has_command(c, "/kpgate/stations") &&
	    (rc = fetch_stations(c, &stations)) != 0)
		return rc;
	out = json_pack("{s:O, s:O, s:O}", "stats", stats, "drops", drops,
			"plugins", plugins);
	if (stations)
		json_object_set(out, "stations", stations);

	if (c->json) {
		print_json(out);
	} else {
		json_t *flat = json_object();

		json_object_foreach(stats, k, v)
			if (!json_is_object(v))
				json_object_set(flat, k, v);
		print_counters("traffic and requests", flat);
		json_decref(flat);
		print_counters("check reasons (not accepted)",
			       json_object_get(stats, "reasons"));
		print_counters("errors answered", json_object_get(stats, "errors"));
		print_counters("packets dropped", json_object_get(drops, "packet"));
		print_counters("requests dropped", json_object_get(drops, "request"));
		print_counters("latency (RX to TX queueing)",
			       json_object_get(stats, "latency"));
		printf("plugins (position: accept refer reject not_applicable):\n");
		json_object_foreach(plugins, k, v)
			printf("  %-16s %3" JSON_INTEGER_FORMAT ": %" PRIu64 " %" PRIu64
			       " %" PRIu64 " %" PRIu64 "\n", k,
			       json_integer_value(json_object_get(v, "position")),
			       u64_of(v, "accept"), u64_of(v, "refer"),
			       u64_of(v, "reject"), u64_of(v, "not_applicable"));
		/* A plugin's own counters (the duplicate plugin's ledger and
		 * fleet: fleet_up, pushed, pulled, ...), those not zero. */
		json_object_foreach(plugins, k, v) {
			json_t *own = json_object();
			const char *ck;
			json_t *cv;
			char title[80];

			json_object_foreach(v, ck, cv)
				if (strcmp(ck, "position") && strcmp(ck, "accept") &&
				    strcmp(ck, "refer") && strcmp(ck, "reject") &&
				    strcmp(ck, "not_applicable"))
					json_object_set(own, ck, cv);
			if (json_object_size(own) != 0) {
				snprintf(title, sizeof(title), "plugin %s", k);
				print_counters(title, own);
			}
			json_decref(own);
		}
		if (stations) {
			printf("stations: %" PRIu64 " configured, unknown ones %s\n",
			       u64_of(stations, "stations"),
			       json_string_value(json_object_get(stations, "unknown")));
			json_object_foreach(stations, k, v)
				if (json_is_object(v))
					print_counters(k, v);
		}
	}
	json_decref(out);
	json_decref(stats);
	json_decref(drops);
	json_decref(plugins);
	json_decref(stations);
	return EXIT_DONE;
}

/* Every page of /kpgate/keys. A reload between two pages shows as a new
 * version: the listing starts over, a few times at most. */
static int fetch_keys(struct ctl *c, json_t **keys, uint64_t *version)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		uint64_t total = 0, offset = 0;
		bool restart = false;

		*keys = json_array();
		do {
			char cmd[64];
			json_t *page, *v;
			const char *k;
			uint64_t count, got = 0;
			int rc;

			snprintf(cmd, sizeof(cmd), "/kpgate/keys,%" PRIu64, offset);
			if ((rc = ask(c, cmd, &page)) != 0) {
				json_decref(*keys);
				return rc;
			}
			if (json_object_get(page, "version") == NULL) {
				json_decref(page);
				json_decref(*keys);
				*keys = NULL;
				return fail(c, EXIT_REFUSED, "no_trust_list",
					    "no trust list is in force");
			}
			if (offset == 0) {
				*version = u64_of(page, "version");
				total = u64_of(page, "total");
			} else if (u64_of(page, "version") != *version) {
				restart = true;
			}
			count = u64_of(page, "count");
			json_object_foreach(page, k, v)
				if (json_is_object(v)) {
					json_t *e = json_deep_copy(v);

					json_object_set_new(e, "key_id", json_string(k));
					json_array_append_new(*keys, e);
					got++;
				}
			json_decref(page);
			if (restart)
				break;
			if (got != count || (count == 0 && offset < total)) {
				json_decref(*keys);
				*keys = NULL;
				return fail(c, EXIT_REFUSED, "protocol",
					    "page at %" PRIu64 " of the key list has %"
					    PRIu64 " keys, kpgate said %" PRIu64,
					    offset, got, count);
			}
			offset += count;
		} while (offset < total);
		if (!restart)
			return 0;
		json_decref(*keys);
	}
	*keys = NULL;
	return fail(c, EXIT_REFUSED, "busy",
		    "the trust list changed under every listing; try again");
}

static int cmd_keys(struct ctl *c)
{
	uint64_t version = 0;
	json_t *keys, *k;
	char a[64];
	size_t i;
	int rc;

	if ((rc = fetch_keys(c, &keys, &version)) != 0)
		return rc;
	if (c->json) {
		json_t *out = json_pack("{s:I, s:I, s:o}", "version", (json_int_t)version,
					"total", (json_int_t)json_array_size(keys),
					"keys", keys);

		print_json(out);
		json_decref(out);
		return EXIT_DONE;
	}
	printf("trust list version %" PRIu64 ": %zu keys\n", version,
	       json_array_size(keys));
	printf("%-32s %-4s %-10s %-8s %-10s %s\n", "KEY ID", "PART", "ALG",
	       "STATUS", "NOT AFTER", "AUTHORITY");
	json_array_foreach(keys, i, k) {
		utc((int64_t)u64_of(k, "not_after"), a, sizeof(a));
		a[10] = '\0';
		printf("%-32s %-4s %-10s %-8s %-10s %s\n",
		       json_string_value(json_object_get(k, "key_id")),
		       json_string_value(json_object_get(k, "participant")),
		       json_string_value(json_object_get(k, "alg")),
		       json_string_value(json_object_get(k, "status")), a,
		       json_string_value(json_object_get(k, "authority")));
	}
	json_decref(keys);
	return EXIT_DONE;
}

/* A reloaded part other than the trust list: "NAME": "loaded" or
 * "refused", and "NAME_reason". False when it was refused. */
static bool part_loaded(const struct ctl *c, const json_t *r, const char *name)
{
	const char *s = json_string_value(json_object_get(r, name));
	const char *why;
	char key[64];
	bool ok;

	if (s == NULL)
		return true;                 /* not reloaded, or not built in */
	ok = strcmp(s, "loaded") == 0;
	snprintf(key, sizeof(key), "%s_reason", name);
	why = json_string_value(json_object_get(r, key));
	if (!c->json && ok && why)
		printf("%s\n", why);        /* "plugins loaded: 3 in the chain" */
	else if (!c->json && ok)
		printf("%s loaded\n", name);
	else if (!c->json)
		fprintf(stderr, "kpgatectl: %s refused: %s (those in force stay)\n",
			name, why ? why : "no reason given");
	return ok;
}

static int cmd_reload(struct ctl *c, const char *what)
{
	char cmd[64];
	json_t *r;
	const char *s;
	bool refused = false;
	int rc;

	if (what && strcmp(what, "trust") != 0 && strcmp(what, "plugins") != 0 &&
	    strcmp(what, "stations") != 0)
		return fail(c, EXIT_USAGE, "usage",
			    "reload takes 'trust', 'plugins', 'stations' or nothing "
			    "(all), not '%s'", what);
	snprintf(cmd, sizeof(cmd), "/kpgate/reload%s%s", what ? "," : "",
		 what ? what : "");
	if ((rc = ask(c, cmd, &r)) != 0)
		return rc;
	if ((s = json_string_value(json_object_get(r, "result")))) {
		if (strcmp(s, "loaded") != 0)
			refused = true;
		if (!c->json && !refused)
			printf("trust list: loaded, version %" PRIu64 "\n",
			       u64_of(r, "version"));
		else if (!c->json)
			fprintf(stderr, "kpgatectl: trust list refused: %s (version %"
				PRIu64 " stays in force)\n",
				json_string_value(json_object_get(r, "reason")),
				u64_of(r, "version"));
	}
	refused |= !part_loaded(c, r, "plugins");
	refused |= !part_loaded(c, r, "stations");
	if (c->json) {
		json_object_set_new(r, "ok", json_boolean(!refused));
		print_json(r);
	}
	json_decref(r);
	return refused ? EXIT_REFUSED : EXIT_DONE;
}

static int cmd_drain(struct ctl *c, bool on)
{
	struct timespec t0, t1, nap = { 0, 100 * 1000 * 1000 };
	json_t *r;
	double waited = 0;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((rc = ask(c, on ? "/kpgate/drain,on" : "/kpgate/drain,off", &r)) != 0)
		return rc;
	/* Queued requests are still answered: wait until none are left. */
	while (on && u64_of(r, "in_flight") != 0 && waited < c->wait_s) {
		nanosleep(&nap, NULL);
		json_decref(r);
		if ((rc = ask(c, "/kpgate/drain,status", &r)) != 0)
			return rc;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		waited = (double)(t1.tv_sec - t0.tv_sec) +
			 (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	}
	json_object_set_new(r, "draining",
			    json_boolean(json_integer_value(json_object_get(r, "draining"))));
	if (c->json) {
		print_json(r);
	} else if (on && u64_of(r, "in_flight") == 0) {
		printf("drained: new requests are answered overloaded (%" PRIu64
		       " so far), none is queued; stop kpgate now, or "
		       "'kpgatectl resume'\n", u64_of(r, "drained"));
	} else if (!on) {
		printf("resumed: kpgate takes requests again\n");
	}
	rc = EXIT_DONE;
	if (on && u64_of(r, "in_flight") != 0)
		rc = fail(c, EXIT_REFUSED, "timeout",
			  "draining, but %" PRIu64 " requests are still queued "
			  "after %d s", u64_of(r, "in_flight"), c->wait_s);
	json_decref(r);
	return rc;
}

static int positive(const char *s, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end || v < 1 || v > 86400)
		return -1;
	*out = (int)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "file-prefix", required_argument, NULL, 'f' },
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "wait", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl c = { .timeout_s = 10, .wait_s = 30, .fd = -1 };
	const char *cmd;
	int o, rc;

	while ((o = getopt_long(argc, argv, "f:s:jt:w:h", longopts, NULL)) != -1) {
		switch (o) {
		case 'f': c.prefix = optarg; break;
		case 's': c.socket = optarg; break;
		case 'j': c.json = true; break;
		case 't':
			if (positive(optarg, &c.timeout_s) != 0)
				goto bad;
			break;
		case 'w':
			if (positive(optarg, &c.wait_s) != 0)
				goto bad;
			break;
		case 'h':
			usage(stdout);
			return EXIT_DONE;
		default:
			goto bad;
		}
	}
	if (optind >= argc)
		goto bad;
	cmd = argv[optind++];
	if (strcmp(cmd, "reload") == 0 ? argc - optind > 1 : argc - optind > 0)
		goto bad;
	if (strcmp(cmd, "status") && strcmp(cmd, "stats") && strcmp(cmd, "keys") &&
	    strcmp(cmd, "reload") && strcmp(cmd, "drain") && strcmp(cmd, "resume")) {
		fprintf(stderr, "kpgatectl: unknown command '%s'\n", cmd);
		goto bad;
	}

	rc = open_gateway(&c);
	if (rc == 0) {
		if (strcmp(cmd, "status") == 0)
			rc = cmd_status(&c);
		else if (strcmp(cmd, "stats") == 0)
			rc = cmd_stats(&c);
		else if (strcmp(cmd, "keys") == 0)
			rc = cmd_keys(&c);
		else if (strcmp(cmd, "reload") == 0)
			rc = cmd_reload(&c, optind < argc ? argv[optind] : NULL);
		else
			rc = cmd_drain(&c, strcmp(cmd, "drain") == 0);
	}
	if (c.fd >= 0)
		close(c.fd);
	json_decref(c.commands);
	free(c.buf);
	return rc;
bad:
	usage(stderr);
	return EXIT_USAGE;
}
