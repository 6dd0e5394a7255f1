/* duplicate — a certificate is consumed once.
 *
 * A certificate is known by its issuing participant and number, and its
 * exact signed bytes by a keyed hash. It is consumed only when the overall
 * decision is accept, in commit(). A later scan of a consumed certificate
 * is rejected, naming when and where it was accepted, except a re-scan by
 * one of this checkpoint's stations within rescan_window seconds of that
 * acceptance, which is accepted again (the original verdict stands). The
 * same number on other signed bytes is a forgery or a reissue: rejected.
 *
 * Workers never lock: evaluate and commit read the store's table without
 * waiting, and commit hands a new consumption to the owner thread through
 * this worker's ring (dup_owner.c); the owner inserts it into the table
 * and appends it to the ledger file (dup_file_store.c). Until it has, a
 * second lcore may accept the same new certificate too: that window is
 * measured by bench_duplicate and given in docs/plugins.md. A certificate
 * found in the ledger is kept in its worker's memory (dup_seen.h), so
 * judging it again (a re-scan, a second use) costs no hashing and no
 * printf: the same answers and details, exactly.
 *
 * With store = "redis" the ledger is shared by a fleet of gateways
 * (dup_redis_store.c, docs/architecture.md "The shared ledger"): the file
 * store stays the local layer workers read, and a certificate absent
 * there while the fleet is out of reach is referred, or judged on the
 * local ledger alone, as on_unreachable says.
 *
 * Config:
 *   { name = "duplicate";
 *     stations = [ "ANR-1", "ANR-2" ];   # this checkpoint's stations, and/or
 *     station_prefix = "ANR-";           # re-scans from them may pass
 *     rescan_window = 300;               # seconds after the acceptance
 *     # store settings, fixed from the first load until a restart:
 *     state_file = "duplicate.ledger";   # relative to the state dir
 *     capacity = 65536;                  # certificates held
 *     retention_days = 90;               # kept after expiry, then evictable
 *     ring_size = 1024;                  # per worker, power of two
 *     owner_poll_us = 50;                # owner's sleep while busy; 0 spins
 *     owner_idle_us = 1000;              # ... after 10 ms without records
 *     # the fleet's ledger (store settings too, but on_unreachable):
 *     store = "redis";                   # "file" (default) or "redis"
 *     redis_socket = "/run/redis/redis-server.sock";  # or:
 *     redis_host = "127.0.0.1"; redis_port = 6379;
 *     redis_prefix = "kpgate:ledger";    # the fleet's key names
 *     fleet_key_file = "ledger.key";     # 64 hex digits, the same fleet-wide
 *     redis_timeout_ms = 500;            # connect, and each reply
 *     redis_retry_max_ms = 2000;         # longest wait between reconnects
 *     redis_stream_max = 100000;         # stream entries Redis keeps
 *     on_unreachable = "refer"; }        # or "local"; reloadable
 *
 * Reason codes (1800-1899):
 *   1800 not_consumed        accept: not consumed before
 *   1801 rescan_in_window    accept: re-scan at this checkpoint in window
 *   1802 already_consumed    reject
 *   1803 number_reused       reject: this number was consumed with
 *                            other signed bytes
 *   1804 ledger_busy         refer: no consistent read of the ledger
 *   1805 ledger_unreachable  refer: not consumed here, and the fleet's
 *                            ledger is out of reach (on_unreachable = refer)
 *   1806 not_consumed_locally accept: the same, on_unreachable = local
 * No verdict for a scan without a certificate number.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kpgate/plugin.h>

#include "dup_hash.h"
#include "dup_owner.h"
#include "duplicate_debug.h"
#include "policy_conf.h"

enum {
	DUP_NOT_CONSUMED = 1800,
	DUP_RESCAN_IN_WINDOW = 1801,
	DUP_ALREADY_CONSUMED = 1802,
	DUP_NUMBER_REUSED = 1803,
	DUP_LEDGER_BUSY = 1804,
	DUP_LEDGER_UNREACHABLE = 1805,
	DUP_NOT_CONSUMED_LOCALLY = 1806,
};

#define DEFAULT_STATE_FILE     "duplicate.ledger"
#define DEFAULT_CAPACITY       65536
#define DEFAULT_RETENTION_DAYS 90
#define DEFAULT_RING_SIZE      1024
#define DEFAULT_POLL_US        50
#define DEFAULT_IDLE_US        1000
#define DEFAULT_RESCAN_WINDOW  300
#define STATIONS_MAX           4096
#define DEFAULT_REDIS_PORT     6379
#define DEFAULT_REDIS_PREFIX   "kpgate:ledger"
#define DEFAULT_REDIS_TIMEOUT  500
#define DEFAULT_REDIS_RETRY    2000
#define DEFAULT_STREAM_MAX     100000

/* Keys that only mean something with store = "redis". */
static const char *const redis_keys[] = {
	"redis_socket", "redis_host", "redis_port", "redis_prefix",
	"fleet_key_file", "redis_timeout_ms", "redis_retry_max_ms",
	"redis_stream_max", "on_unreachable", NULL,
};

struct dup_state {
	struct dup_bound *b;
	int64_t window;                  /* seconds */
	char *prefix;                    /* NULL: none */
	size_t prefix_len;
	unsigned n_stations;
	char **stations;
	bool local_when_unreachable;     /* on_unreachable = "local" */
};

/* ---- identity ---------------------------------------------------------- */

/* The ledger's key of a certificate: its participant binds the number. */
static void cert_id(const struct dup_store *s, const struct kpg_cert *c,
		    uint64_t id[2])
{
	uint64_t who = (uint64_t)(unsigned char)c->issuing_participant[0] |
		       (uint64_t)(unsigned char)c->issuing_participant[1] << 8;

	dup_siphash(s->key[0], 1, who, c->number.p, c->number.len, id, 2);
	if (id[0] == 0)                  /* 0 marks a free slot */
		id[0] = 1;
}

static void cert_digest(const struct dup_store *s,
			const struct kpg_scan_view *scan, uint64_t dg[2])
{
	dup_siphash(s->key[1], 0, 0, scan->cert_bytes,
		    scan->cert_bytes ? scan->cert_len : 0, dg, 2);
}

/* ---- dates --------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's method:
 * years counted from March, so the leap day ends a year). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* A certificate's expiry as a day number; a date that is not one never
 * expires, so it is never evicted early. */
static int32_t expiry_day(uint32_t ymd)
{
	unsigned y = ymd / 10000, m = ymd / 100 % 100, d = ymd % 100;

	if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
		return INT32_MAX;
	return (int32_t)days_from_civil(y, m, d);
}

static char *put2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
	return p + 2;
}

/* "2025-03-01 10:22:05Z"; its length. Years 0 to 9999 are written by
 * hand: snprintf cost the warm path more than the rest of the plugin.
 * Any other year is left to it, byte for byte as before. */
static size_t format_time(char *buf, size_t len, int64_t t)
{
	int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
	int64_t secs = t - days * 86400, y;
	unsigned m, d;
	char *p = buf;

	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999 || len < 21) {
		int n = snprintf(buf, len, "%04" PRId64 "-%02u-%02u %02u:%02u:%02uZ",
				 y, m, d, (unsigned)(secs / 3600),
				 (unsigned)(secs / 60 % 60), (unsigned)(secs % 60));

		return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
	}
	p = put2(p, (unsigned)(y / 100));
	p = put2(p, (unsigned)(y % 100));
	*p++ = '-';
	p = put2(p, m);
	*p++ = '-';
	p = put2(p, d);
	*p++ = ' ';
	p = put2(p, (unsigned)(secs / 3600));
	*p++ = ':';
	p = put2(p, (unsigned)(secs / 60 % 60));
	*p++ = ':';
	p = put2(p, (unsigned)(secs % 60));
	*p++ = 'Z';
	*p = '\0';
	return (size_t)(p - buf);
}

/* ---- config -------------------------------------------------------------- */

/* An integer setting in [min, max]; absent leaves *out. 0 or -EINVAL. */
static int read_uint(const struct kpg_plugin_env *env,
		     const config_setting_t *section, const char *key,
		     long long min, long long max, uint32_t *out)
{
	const config_setting_t *s = config_setting_get_member(section, key);
	long long v;

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64) {
		env->error(env, s, "'%s' must be an integer", key);
		return -EINVAL;
	}
	v = config_setting_get_int64(s);
	if (v < min || v > max) {
		env->error(env, s, "'%s' = %lld: must be %lld to %lld", key, v,
			   min, max);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

/* A string that must not be empty; absent leaves *out. 0 or -EINVAL. */
static int read_string(const struct kpg_plugin_env *env,
		       const config_setting_t *section, const char *key,
		       const char **out)
{
	const char *v;

	if (pconf_string(env, section, key, false, &v) < 0)
		return -EINVAL;
	if (v != NULL && v[0] == '\0') {
		env->error(env, config_setting_get_member(section, key),
			   "'%s' must not be empty", key);
		return -EINVAL;
	}
	if (v != NULL)
		*out = v;
	return 0;
}

/* fleet_key_file: one line of 64 hex digits, the identity key then the
 * signed-bytes key, each two little-endian words. */
struct key_ctx {
	uint64_t key[2][2];
	bool seen;
};

static int key_line(void *arg, const char *text, unsigned lineno, char *err,
		    size_t errlen)
{
	struct key_ctx *k = arg;
	uint8_t b[32];
	uint64_t any = 0;

	(void)lineno;
	if (k->seen) {
		snprintf(err, errlen, "one key only");
		return -EINVAL;
	}
	if (strlen(text) != 64 || strspn(text, "0123456789abcdefABCDEF") != 64) {
		snprintf(err, errlen, "not 64 hex digits (make a key with"
			 " 'openssl rand -hex 32', the same for the whole fleet)");
		return -EINVAL;
	}
	for (int i = 0; i < 32; i++) {
		unsigned v;

		sscanf(text + 2 * i, "%2x", &v);
		b[i] = (uint8_t)v;
	}
	for (int w = 0; w < 4; w++) {
		uint64_t v = 0;

		for (int i = 7; i >= 0; i--)
			v = v << 8 | b[8 * w + i];
		k->key[w / 2][w % 2] = v;
		any |= v;
	}
	if (any == 0) {
		snprintf(err, errlen, "a key of zeros is no secret");
		return -EINVAL;
	}
	k->seen = true;
	return 0;
}

/* Only letters, digits and ":_.-": the prefix goes into a SCAN pattern. */
static bool prefix_ok(const char *p)
{
	return p[0] != '\0' && strlen(p) < sizeof(((struct dup_redis_conf *)0)->prefix) &&
	       strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789:_.-") == strlen(p);
}

static int read_redis_conf(const struct kpg_plugin_env *env,
			   const config_setting_t *section,
			   struct dup_redis_conf *rc)
{
	const char *sock = NULL, *host = NULL, *prefix = DEFAULT_REDIS_PREFIX;
	const char *keyfile = NULL;
	const char *cdir = env->config_dir && env->config_dir[0] ? env->config_dir : ".";
	struct key_ctx k = { .seen = false };
	const config_setting_t *at;
	int n;

	rc->port = DEFAULT_REDIS_PORT;
	rc->timeout_ms = DEFAULT_REDIS_TIMEOUT;
	rc->retry_max_ms = DEFAULT_REDIS_RETRY;
	rc->stream_max = DEFAULT_STREAM_MAX;
	if (read_string(env, section, "redis_socket", &sock) < 0 ||
	    read_string(env, section, "redis_host", &host) < 0 ||
	    read_uint(env, section, "redis_port", 1, 65535, &rc->port) < 0 ||
	    read_string(env, section, "redis_prefix", &prefix) < 0 ||
	    read_uint(env, section, "redis_timeout_ms", 10, 60000,
		      &rc->timeout_ms) < 0 ||
	    read_uint(env, section, "redis_retry_max_ms", 50, 600000,
		      &rc->retry_max_ms) < 0 ||
	    read_uint(env, section, "redis_stream_max", 1000, 100000000,
		      &rc->stream_max) < 0)
		return -EINVAL;
	if ((sock == NULL) == (host == NULL)) {
		env->error(env, NULL, "store = \"redis\" needs one of"
			   " 'redis_socket' and 'redis_host'");
		return -EINVAL;
	}
	if (sock && config_setting_get_member(section, "redis_port")) {
		env->error(env, config_setting_get_member(section, "redis_port"),
			   "'redis_port' goes with 'redis_host', not 'redis_socket'");
		return -EINVAL;
	}
	if (sock) {
		at = config_setting_get_member(section, "redis_socket");
		n = sock[0] == '/' ?
		    snprintf(rc->socket, sizeof(rc->socket), "%s", sock) :
		    snprintf(rc->socket, sizeof(rc->socket), "%s/%s", cdir, sock);
		if (n >= (int)sizeof(rc->socket)) {
			env->error(env, at, "'redis_socket': a unix socket's path"
				   " is at most %zu bytes", sizeof(rc->socket) - 1);
			return -EINVAL;
		}
	} else if (snprintf(rc->host, sizeof(rc->host), "%s", host) >=
		   (int)sizeof(rc->host)) {
		env->error(env, config_setting_get_member(section, "redis_host"),
			   "'redis_host': too long");
		return -EINVAL;
	}
	if (!prefix_ok(prefix)) {
		env->error(env, config_setting_get_member(section, "redis_prefix"),
			   "'redis_prefix' = \"%s\": 1 to %zu letters, digits"
			   " or ':_.-'", prefix, sizeof(rc->prefix) - 1);
		return -EINVAL;
	}
	snprintf(rc->prefix, sizeof(rc->prefix), "%s", prefix);

	/* The gateways of a fleet must hash alike, or their ids never
	 * match: the key is the operator's, like the trust anchors. */
	if (pconf_string(env, section, "fleet_key_file", true, &keyfile) < 0)
		return -EINVAL;
	at = config_setting_get_member(section, "fleet_key_file");
	if (env->read_lines(env, at, keyfile, key_line, &k) < 0)
		return -EINVAL;
	if (!k.seen) {
		env->error(env, at, "'fleet_key_file' %s: no key in it", keyfile);
		return -EINVAL;
	}
	memcpy(rc->key, k.key, sizeof(rc->key));
	return 0;
}

static int read_bind_conf(const struct kpg_plugin_env *env,
			  const config_setting_t *section,
			  struct dup_bind_conf *c)
{
	const char *file = DEFAULT_STATE_FILE;
	const char *dir = env->state_dir && env->state_dir[0] ? env->state_dir : ".";
	const char *store = "file";
	int n;

	memset(c, 0, sizeof(*c));
	c->capacity = DEFAULT_CAPACITY;
	c->retention_days = DEFAULT_RETENTION_DAYS;
	c->ring_size = DEFAULT_RING_SIZE;
	c->poll_us = DEFAULT_POLL_US;
	c->idle_us = DEFAULT_IDLE_US;
	if (read_string(env, section, "state_file", &file) < 0 ||
	    read_uint(env, section, "capacity", 1, 1 << 24, &c->capacity) < 0 ||
	    read_uint(env, section, "retention_days", 0, 36500,
		      &c->retention_days) < 0 ||
	    read_uint(env, section, "ring_size", 2, 1 << 20, &c->ring_size) < 0 ||
	    read_uint(env, section, "owner_poll_us", 0, 1000000, &c->poll_us) < 0 ||
	    read_uint(env, section, "owner_idle_us", 1, 1000000, &c->idle_us) < 0)
		return -EINVAL;
	if (c->ring_size & (c->ring_size - 1)) {
		env->error(env, config_setting_get_member(section, "ring_size"),
			   "'ring_size' = %u: must be a power of two", c->ring_size);
		return -EINVAL;
	}
	n = file[0] == '/' ?
	    snprintf(c->path, sizeof(c->path), "%s", file) :
	    snprintf(c->path, sizeof(c->path), "%s/%s", dir, file);
	if (n >= (int)sizeof(c->path)) {
		env->error(env, config_setting_get_member(section, "state_file"),
			   "'state_file': path too long");
		return -EINVAL;
	}
	if (read_string(env, section, "store", &store) < 0)
		return -EINVAL;
	if (strcmp(store, "redis") == 0) {
		c->shared = true;
		return read_redis_conf(env, section, &c->redis);
	}
	if (strcmp(store, "file") != 0) {
		env->error(env, config_setting_get_member(section, "store"),
			   "'store' = \"%s\": must be \"file\" or \"redis\"", store);
		return -EINVAL;
	}
	for (const char *const *k = redis_keys; *k; k++)
		if (config_setting_get_member(section, *k)) {
			env->error(env, config_setting_get_member(section, *k),
				   "'%s' needs store = \"redis\"", *k);
			return -EINVAL;
		}
	return 0;
}

/* The store settings of a reload must be those in force: the store lives
 * as long as the process. */
static int same_bind_conf(const struct kpg_plugin_env *env,
			  const config_setting_t *section,
			  const struct dup_bind_conf *now,
			  const struct dup_bind_conf *want)
{
	const char *key = NULL;

	if (strcmp(now->path, want->path) != 0)
		key = "state_file";
	else if (now->capacity != want->capacity)
		key = "capacity";
	else if (now->retention_days != want->retention_days)
		key = "retention_days";
	else if (now->ring_size != want->ring_size)
		key = "ring_size";
	else if (now->poll_us != want->poll_us)
		key = "owner_poll_us";
	else if (now->idle_us != want->idle_us)
		key = "owner_idle_us";
	else if (now->shared != want->shared)
		key = "store";
	else if (!now->shared)
		key = NULL;
	else if (strcmp(now->redis.socket, want->redis.socket) != 0)
		key = "redis_socket";
	else if (strcmp(now->redis.host, want->redis.host) != 0)
		key = "redis_host";
	else if (now->redis.port != want->redis.port)
		key = "redis_port";
	else if (strcmp(now->redis.prefix, want->redis.prefix) != 0)
		key = "redis_prefix";
	else if (memcmp(now->redis.key, want->redis.key, sizeof(now->redis.key)) != 0)
		key = "fleet_key_file";
	else if (now->redis.timeout_ms != want->redis.timeout_ms)
		key = "redis_timeout_ms";
	else if (now->redis.retry_max_ms != want->redis.retry_max_ms)
		key = "redis_retry_max_ms";
	else if (now->redis.stream_max != want->redis.stream_max)
		key = "redis_stream_max";
	if (key == NULL)
		return 0;
	env->error(env, config_setting_get_member(section, key) ?
		   config_setting_get_member(section, key) : section,
		   "'%s' cannot change while kpgate runs (restart to apply)", key);
	return -EINVAL;
}

static void state_free(struct dup_state *st)
{
	if (st == NULL)
		return;
	for (unsigned i = 0; i < st->n_stations; i++)
		free(st->stations[i]);
	free(st->stations);
	free(st->prefix);
	free(st);
}

static int read_stations(const struct kpg_plugin_env *env,
			 const config_setting_t *section, struct dup_state *st)
{
	const config_setting_t *list;
	const char *prefix = NULL;
	uint32_t window = DEFAULT_RESCAN_WINDOW;
	int n;

	const char *unreachable = "refer";

	if (read_uint(env, section, "rescan_window", 0, 86400 * 30, &window) < 0 ||
	    read_string(env, section, "station_prefix", &prefix) < 0 ||
	    read_string(env, section, "on_unreachable", &unreachable) < 0)
		return -EINVAL;
	if (strcmp(unreachable, "local") == 0) {
		st->local_when_unreachable = true;
	} else if (strcmp(unreachable, "refer") != 0) {
		env->error(env, config_setting_get_member(section, "on_unreachable"),
			   "'on_unreachable' = \"%s\": must be \"refer\" or"
			   " \"local\"", unreachable);
		return -EINVAL;
	}
	st->window = window;
	if (prefix) {
		st->prefix = strdup(prefix);
		if (st->prefix == NULL)
			return -ENOMEM;
		st->prefix_len = strlen(prefix);
	}
	if (pconf_aggregate(env, section, "stations", &list) < 0)
		return -EINVAL;
	if (list == NULL)
		return 0;
	n = config_setting_length(list);
	if (n > STATIONS_MAX) {
		env->error(env, list, "'stations': at most %d", STATIONS_MAX);
		return -EINVAL;
	}
	st->stations = calloc(n ? (size_t)n : 1, sizeof(*st->stations));
	if (st->stations == NULL)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		const char *id, *why;

		if (pconf_elem_string(env, list, (unsigned)i, &id) < 0)
			return -EINVAL;
		if ((why = pconf_text_invalid(id, strlen(id))) != NULL) {
			env->error(env, config_setting_get_elem(list, (unsigned)i),
				   "'stations' item %d: %s", i + 1, why);
			return -EINVAL;
		}
		st->stations[i] = strdup(id);
		if (st->stations[i] == NULL)
			return -ENOMEM;
		st->n_stations = (unsigned)i + 1;
	}
	return 0;
}

static int dup_init(const struct kpg_plugin_env *env, void **instance)
{
	return dup_instance_new(env, (struct dup_instance **)instance);
}

static void dup_fini(void *instance)
{
	dup_instance_delete(instance);
}

static int dup_configure(void *instance, const struct kpg_plugin_env *env,
			 const config_setting_t *section, void **state)
{
	static const char *const keys[] = {
		"stations", "station_prefix", "rescan_window", "state_file",
		"capacity", "retention_days", "ring_size", "owner_poll_us",
		"owner_idle_us", "store", "redis_socket", "redis_host",
		"redis_port", "redis_prefix", "fleet_key_file",
		"redis_timeout_ms", "redis_retry_max_ms", "redis_stream_max",
		"on_unreachable", NULL,
	};
	struct dup_instance *in = instance;
	struct dup_bind_conf want;
	struct dup_bound *b;
	struct dup_state *st;
	char err[512];
	int rc;

	if (env->check_keys(env, section, keys) < 0 ||
	    read_bind_conf(env, section, &want) < 0)
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -ENOMEM;
	rc = read_stations(env, section, st);
	if (rc < 0)
		goto fail;

	b = dup_instance_bound(in);
	if (b == NULL) {
		rc = dup_instance_bind(in, &want, err, sizeof(err));
		if (rc < 0) {
			env->error(env, config_setting_get_member(section, "state_file"),
				   "%s", err);
			goto fail;
		}
		b = dup_instance_bound(in);
	} else if ((rc = same_bind_conf(env, section, &b->conf, &want)) < 0) {
		goto fail;
	}
	st->b = b;
	*state = st;
	return 0;

fail:
	state_free(st);
	return rc == -ENOMEM ? -ENOMEM : -EINVAL;
}

static void dup_release(void *instance, void *state)
{
	state_free(state);
}

/* ---- workers ------------------------------------------------------------- */

static void say(struct kpg_plugin_verdict *out, enum kpg_decision d,
		uint32_t reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void say(struct kpg_plugin_verdict *out, enum kpg_decision d,
		uint32_t reason, const char *fmt, ...)
{
	va_list ap;

	out->decision = d;
	out->reason = reason;
	va_start(ap, fmt);
	vsnprintf(out->detail, sizeof(out->detail), fmt, ap);
	va_end(ap);
}

/* A verdict detail built by appending, cut as vsnprintf would cut it:
 * the same bytes as the "%s ... %.24s" formats they replace, without
 * their cost on the warm path. */
struct detail {
	char *p;
	size_t n;
};

/* memcpy of up to 32 bytes by overlapping words: a variable length
 * would have the compiler inline `rep movs`, slow to start for so few. */
static void copy_short(char *dst, const char *src, size_t n)
{
	uint64_t a, b, c;

	if (n >= 16) {
		memcpy(&a, src, 8);
		memcpy(&b, src + 8, 8);
		memcpy(&c, src + n - 8, 8);
		if (n > 24)
			memcpy(dst + 16, src + 16, 8);
		memcpy(dst, &a, 8);
		memcpy(dst + 8, &b, 8);
		memcpy(dst + n - 8, &c, 8);
	} else if (n >= 8) {
		memcpy(&a, src, 8);
		memcpy(&b, src + n - 8, 8);
		memcpy(dst, &a, 8);
		memcpy(dst + n - 8, &b, 8);
	} else if (n >= 4) {
		uint32_t x, y;

		memcpy(&x, src, 4);
		memcpy(&y, src + n - 4, 4);
		memcpy(dst, &x, 4);
		memcpy(dst + n - 4, &y, 4);
	} else if (n > 0) {
		char x = src[0], y = src[n / 2], z = src[n - 1];

		dst[0] = x;
		dst[n / 2] = y;
		dst[n - 1] = z;
	}
}

static void put(struct detail *d, const char *s, size_t len)
{
	if (len > KPG_DETAIL_MAX - 1 - d->n)
		len = KPG_DETAIL_MAX - 1 - d->n;
	if (len <= 32)
		copy_short(d->p + d->n, s, len);
	else
		memcpy(d->p + d->n, s, len);
	d->n += len;
	d->p[d->n] = '\0';
}

#define PUT_LIT(d, lit) put(d, lit, sizeof(lit) - 1)

/* A record's NUL-padded id field, as "%.24s" prints it. */
static void put_field(struct detail *d, const char *f)
{
	put(d, f, strnlen(f, 24));
}

_Static_assert(DUP_NAME_MAX == 24, "details print ids as %.24s");

/* "LEAD<when> at <checkpoint>/<station>", or without the checkpoint: the
 * bytes of say(out, d, reason, "LEAD%s at %.24s/%.24s", ...). */
static inline void say_at(struct kpg_plugin_verdict *out, enum kpg_decision dec,
			  uint32_t reason, const char *lead, const char *when,
			  size_t when_len, const struct dup_record *r,
			  bool with_checkpoint)
{
	struct detail d = { out->detail, 0 };

	out->decision = dec;
	out->reason = reason;
	put(&d, lead, strlen(lead));
	put(&d, when, when_len);
	PUT_LIT(&d, " at ");
	if (with_checkpoint) {
		put_field(&d, r->checkpoint);
		PUT_LIT(&d, "/");
	}
	put_field(&d, r->station);
}

static bool our_station(const struct dup_state *st, const struct kpg_str *id)
{
	if (st->prefix && id->len >= st->prefix_len &&
	    memcmp(id->p, st->prefix, st->prefix_len) == 0)
		return true;
	for (unsigned i = 0; i < st->n_stations; i++)
		if (strlen(st->stations[i]) == id->len &&
		    memcmp(st->stations[i], id->p, id->len) == 0)
			return true;
	return false;
}

/* The re-scan exception: our station, our checkpoint's acceptance, and no
 * later than the window (a clock stepped back counts as within). */
static bool rescan_allowed(const struct dup_instance *in,
			   const struct dup_state *st,
			   const struct kpg_scan_view *scan,
			   const struct dup_record *r)
{
	return strncmp(r->checkpoint, in->checkpoint, DUP_NAME_MAX) == 0 &&
	       scan->now - r->consumed_at <= st->window &&
	       our_station(st, &scan->station_id);
}

static bool same_cert(const struct dup_last *l, const struct kpg_cert *c)
{
	return l->number_len == c->number.len &&
	       memcmp(l->participant, c->issuing_participant, 2) == 0 &&
	       memcmp(l->number, c->number.p, c->number.len) == 0;
}

/* One more on this worker's own counter: no atomic read-modify-write. */
static void bump(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* Not consumed here, and the fleet's ledger is out of reach: what the
 * config says, counted. */
static void unreachable(struct dup_instance *in, const struct dup_state *st,
			const struct kpg_scan_view *scan,
			struct kpg_plugin_verdict *out)
{
	struct dup_last *l = scan->worker < in->workers ? &in->last[scan->worker] : NULL;

	if (st->local_when_unreachable) {
		if (l)
			bump(&l->local_only);
		out->decision = KPG_ACCEPT;
		out->reason = DUP_NOT_CONSUMED_LOCALLY;
		strcpy(out->detail, "not consumed here; fleet ledger unreachable");
	} else {
		if (l)
			bump(&l->unreachable_referred);
		out->decision = KPG_REFER;
		out->reason = DUP_LEDGER_UNREACHABLE;
		strcpy(out->detail, "fleet ledger unreachable: inspect");
	}
}

/* The keyed hash of the signed bytes, from this worker's memory of them
 * when it holds exactly these bytes; learnt there otherwise. Returns the
 * certificate's slot there, or NULL when the worker keeps none. */
static struct dup_seen_slot *known_digest(const struct dup_store *s,
					  struct dup_seen *seen,
					  struct dup_seen_slot *e,
					  const struct kpg_cert *c,
					  const uint64_t id[2],
					  const struct kpg_scan_view *scan,
					  uint64_t dg[2])
{
	uint32_t len = scan->cert_bytes ? scan->cert_len : 0;

	if (e && dup_seen_digest(e, scan->cert_bytes, len, dg))
		return e;
	cert_digest(s, scan, dg);
	if (seen == NULL)
		return NULL;
	if (e == NULL)
		e = dup_seen_claim(seen, c->issuing_participant, c->number.p,
				   c->number.len, id);
	dup_seen_keep(e, scan->cert_bytes, len, dg);
	return e;
}

/* The acceptance time as details print it, into the caller's buf unless
 * the slot has it already; its text and length. */
static const char *when_text(struct dup_seen_slot *e, int64_t t, char *buf,
			     size_t size, size_t *len)
{
	if (e && e->when_len > 0 && e->when_at == t) {
		*len = e->when_len;
		return e->when;
	}
	*len = format_time(buf, size, t);
	if (e && *len > 0 && *len < sizeof(e->when)) {
		memcpy(e->when, buf, *len);
		e->when_at = t;
		e->when_len = (uint8_t)*len;
	}
	return buf;
}

static void dup_evaluate(void *instance, const void *state,
			 const struct kpg_scan_view *scan,
			 struct kpg_plugin_verdict *out)
{
	struct dup_instance *in = instance;
	const struct dup_state *st = state;
	const struct dup_store *s = st->b->store;
	const struct kpg_cert *c = scan->cert;
	struct dup_seen *seen = NULL;
	struct dup_seen_slot *e = NULL;
	struct dup_record r;
	uint64_t id[2], dg[2];
	char when[32];
	const char *at;
	size_t when_len;
	int found;

	if (c == NULL || c->number.len == 0)
		return;
	if (scan->worker < in->workers && c->number.len <= DUP_NUMBER_MAX) {
		seen = in->seen[scan->worker];
		e = dup_seen_find(seen, c->issuing_participant, c->number.p,
				  c->number.len);
	}
	if (e) {
		id[0] = e->id[0];
		id[1] = e->id[1];
	} else {
		cert_id(s, c, id);
	}
	found = s->ops->lookup(s, id, &r);
	/* Saves commit a second hash and table probe (a cache miss). */
	if (scan->worker < in->workers && c->number.len <= DUP_NUMBER_MAX) {
		struct dup_last *l = &in->last[scan->worker];

		l->id[0] = id[0];
		l->id[1] = id[1];
		l->found = found;
		l->number_len = c->number.len;
		memcpy(l->participant, c->issuing_participant, 2);
		memcpy(l->number, c->number.p, c->number.len);
	}
	if (found == 0) {
		out->decision = KPG_ACCEPT;
		out->reason = DUP_NOT_CONSUMED;
		strcpy(out->detail, "not consumed before");
		return;
	}
	if (found == -ENOTCONN) {
		unreachable(in, st, scan, out);
		return;
	}
	if (found < 0) {
		say(out, KPG_REFER, DUP_LEDGER_BUSY, "ledger busy: scan again");
		return;
	}

	/* In the ledger: what this worker keeps of it spares the hashes the
	 * next time (a re-scan, a second use), with the same answers. */
	e = known_digest(s, seen, e, c, id, scan, dg);
	at = when_text(e, r.consumed_at, when, sizeof(when), &when_len);
	if (dg[0] != r.digest[0] || dg[1] != r.digest[1])
		say_at(out, KPG_REJECT, DUP_NUMBER_REUSED,
		       "number consumed with other bytes ", at, when_len, &r, true);
	else if (rescan_allowed(in, st, scan, &r))
		say_at(out, KPG_ACCEPT, DUP_RESCAN_IN_WINDOW,
		       "re-scan within window, accepted ", at, when_len, &r, false);
	else
		say_at(out, KPG_REJECT, DUP_ALREADY_CONSUMED, "already consumed ",
		       at, when_len, &r, true);
}

/* Copies a string into a fixed, NUL-padded field, cut to fit on a UTF-8
 * character (details quote these fields to the station). */
static void put_text(char *dst, size_t size, const char *src, size_t len)
{
	len = pconf_utf8_cut(src, len, size - 1);
	if (len > 0)
		memcpy(dst, src, len);
	memset(dst + len, 0, size - len);
}

static void dup_commit(void *instance, const void *state,
		       const struct kpg_scan_view *scan, enum kpg_decision overall)
{
	struct dup_instance *in = instance;
	const struct dup_state *st = state;
	const struct dup_store *s = st->b->store;
	const struct kpg_cert *c = scan->cert;
	struct dup_record r;
	uint64_t id[2];
	int found;

	if (overall != KPG_ACCEPT || c == NULL || c->number.len == 0)
		return;
	if (scan->worker >= st->b->n_rings) {
		atomic_fetch_add_explicit(&in->bad_worker, 1, memory_order_relaxed);
		return;
	}
	if (same_cert(&in->last[scan->worker], c)) {
		/* A stale "absent" only sends the owner a record it already
		 * has, which it counts as a race. */
		id[0] = in->last[scan->worker].id[0];
		id[1] = in->last[scan->worker].id[1];
		found = in->last[scan->worker].found;
	} else {
		cert_id(s, c, id);
		found = s->ops->lookup(s, id, &r);
	}
	/* A re-scan, or a race another lcore already won: nothing new. */
	if (found == 1)
		return;
	r.id[0] = id[0];
	r.id[1] = id[1];
	cert_digest(s, scan, r.digest);
	r.consumed_at = scan->now;
	r.expiry_day = expiry_day(c->expiry_date);
	put_text(r.participant, sizeof(r.participant), c->issuing_participant,
		 strnlen(c->issuing_participant, 2));
	put_text(r.number, sizeof(r.number), c->number.p, c->number.len);
	memcpy(r.checkpoint, in->checkpoint, sizeof(r.checkpoint));
	put_text(r.station, sizeof(r.station), scan->station_id.p,
		 scan->station_id.len);
	/* Full: counted in the ring, and this consumption is lost (the
	 * certificate could be accepted again); workers never wait. */
	dup_ring_push(st->b->rings[scan->worker], &r);
}

/* The ledger's own counters, for telemetry and metrics. */
static void dup_stats(void *instance,
		      void (*emit)(void *arg, const char *name, uint64_t value),
		      void *arg)
{
	struct dup_instance *in = instance;
	struct kpg_duplicate_stats s;
	struct dup_bound *b;
	uint64_t local_only = 0, referred = 0;

	if (dup_instance_stats(instance, &s) != 0)
		return;
	emit(arg, "records", s.records);
	emit(arg, "inserted", s.inserted);
	emit(arg, "raced", s.raced);
	emit(arg, "ring_full", s.ring_full);
	emit(arg, "table_full", s.table_full);
	emit(arg, "evicted", s.evicted);
	emit(arg, "io_errors", s.io_errors);
	b = dup_instance_bound(in);
	if (!b->conf.shared)
		return;
	for (unsigned w = 0; w < in->workers; w++) {
		local_only += atomic_load_explicit(&in->last[w].local_only,
						   memory_order_relaxed);
		referred += atomic_load_explicit(&in->last[w].unreachable_referred,
						 memory_order_relaxed);
	}
	emit(arg, "local_only_decisions", local_only);
	emit(arg, "unreachable_referrals", referred);
	if (b->store->ops->stats)
		b->store->ops->stats(b->store, emit, arg);
}

KPG_PLUGIN_EXPORT = {
	.abi_version = KPG_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct kpg_plugin),
	.name = "duplicate",
	.description = "a certificate is consumed once: later scans rejected",
	.init = dup_init,
	.fini = dup_fini,
	.configure = dup_configure,
	.release = dup_release,
	.evaluate = dup_evaluate,
	.commit = dup_commit,
	.stats = dup_stats,
};
