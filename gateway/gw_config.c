/* gw_config.c — libconfig file -> struct gw_config; see gw_config.h.
 * Every setting is checked for its name, type and range, so a typo never
 * silently leaves a default in force. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <libconfig.h>

#include "gw_conf_read.h"
#include "gw_config.h"
#include "kpg_limits.h"

/* The file being read: where relative paths resolve, where errors go. */
struct ctx {
	struct gw_conf_ctx c;
	char dir[GW_PATH_MAX];
};

static int path_of(struct ctx *x, const config_setting_t *s, const char *name,
		   char *out)
{
	return gw_conf_path(&x->c, s, name, out, GW_PATH_MAX);
}

/* A short string setting copied into out (absent: out unchanged). */
static int get_text(struct ctx *x, const config_setting_t *g, const char *name,
		    char *out, size_t cap)
{
	const config_setting_t *s = config_setting_get_member(g, name);
	const char *v;

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return gw_conf_fail(&x->c, s, "'%s' must be a string", name);
	v = config_setting_get_string(s);
	if (strlen(v) >= cap)
		return gw_conf_fail(&x->c, s, "'%s' is longer than %zu bytes", name, cap - 1);
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

static int parse_gateway(struct ctx *x, const config_setting_t *g,
			 struct gw_config *c)
{
	static const char *const keys[] = { "udp_port", "burst", "cold_queue",
		"verifies_per_loop", "verify_budget_us", "clock_skew", "cache_entries", "mbufs",
		"idle", "checkpoint", "jurisdiction", "plugin_dir", "state_dir",
		NULL };
	static const char *const idle_keys[] = { "polls", "sleep_us", NULL };
	const config_setting_t *idle, *s;
	uint32_t port = c->udp_port;
	int rc;

	if ((rc = gw_conf_only_keys(&x->c, g, "gateway", keys)) ||
	    (rc = gw_conf_u32(&x->c, g, "udp_port", 1, 65535, &port)) ||
	    (rc = gw_conf_u32(&x->c, g, "burst", 1, GW_BURST_MAX, &c->burst)) ||
	    (rc = gw_conf_u32(&x->c, g, "cold_queue", 1, 1 << 16, &c->cold_queue)) ||
	    (rc = gw_conf_u32(&x->c, g, "verifies_per_loop", 1, GW_BURST_MAX,
			  &c->verifies_per_loop)) ||
	    (rc = gw_conf_u32(&x->c, g, "verify_budget_us", 0, 100000,
			  &c->verify_budget_us)) ||
	    (rc = gw_conf_int(&x->c, g, "clock_skew", 0, 7 * 86400, &c->clock_skew_s)) ||
	    (rc = gw_conf_u32(&x->c, g, "cache_entries", 8, 1 << 24, &c->cache_entries)) ||
	    (rc = gw_conf_u32(&x->c, g, "mbufs", 1023, 1 << 24, &c->mbufs)) ||
	    (rc = gw_conf_group(&x->c, g, "idle", &idle)) ||
	    (rc = get_text(x, g, "checkpoint", c->checkpoint, sizeof(c->checkpoint))) ||
	    (rc = get_text(x, g, "jurisdiction", c->jurisdiction, sizeof(c->jurisdiction))))
		return rc;
	if (c->jurisdiction[0] && (strlen(c->jurisdiction) != 2 ||
				   c->jurisdiction[0] < 'A' || c->jurisdiction[0] > 'Z' ||
				   c->jurisdiction[1] < 'A' || c->jurisdiction[1] > 'Z'))
		return gw_conf_fail(&x->c, config_setting_get_member(g, "jurisdiction"),
			    "'jurisdiction' must be a KP participant code such as \"EU\"");
	if ((s = config_setting_get_member(g, "plugin_dir")) &&
	    (rc = path_of(x, s, "plugin_dir", c->plugin_dir)))
		return rc;
	if ((s = config_setting_get_member(g, "state_dir")) &&
	    (rc = path_of(x, s, "state_dir", c->state_dir)))
		return rc;
	c->udp_port = (uint16_t)port;
	if (idle == NULL)
		return 0;
	if ((rc = gw_conf_only_keys(&x->c, idle, "gateway.idle", idle_keys)) ||
	    (rc = gw_conf_u32(&x->c, idle, "polls", 1, 1000000000, &c->idle_polls)) ||
	    (rc = gw_conf_u32(&x->c, idle, "sleep_us", 0, 1000000, &c->idle_sleep_us)))
		return rc;
	return 0;
}

static int parse_port(struct ctx *x, const config_setting_t *p,
		      struct gw_port_conf *pc)
{
	static const char *const keys[] = { "address", "address6", "vlan", NULL };
	const config_setting_t *s;
	int64_t vlan = 0;
	int rc;

	if (config_setting_type(p) != CONFIG_TYPE_GROUP)
		return gw_conf_fail(&x->c, p, "each port must be a group { ... }");
	if ((rc = gw_conf_only_keys(&x->c, p, "a port", keys)) ||
	    (rc = gw_conf_int(&x->c, p, "vlan", 0, 4094, &vlan)))
		return rc;
	pc->vlan = (uint16_t)vlan;
	s = config_setting_get_member(p, "address");
	if (s) {
		if (config_setting_type(s) != CONFIG_TYPE_STRING ||
		    inet_pton(AF_INET, config_setting_get_string(s), pc->ip4) != 1)
			return gw_conf_fail(&x->c, s, "'address' must be an IPv4 address string");
		if (pc->ip4[0] == 0 || pc->ip4[0] == 127 || pc->ip4[0] >= 224)
			return gw_conf_fail(&x->c, s, "'address' must be a unicast address");
		pc->has_ip4 = true;
	}
	s = config_setting_get_member(p, "address6");
	if (s) {
		static const uint8_t zero[16];

		if (config_setting_type(s) != CONFIG_TYPE_STRING ||
		    inet_pton(AF_INET6, config_setting_get_string(s), pc->ip6) != 1)
			return gw_conf_fail(&x->c, s, "'address6' must be an IPv6 address string");
		if (pc->ip6[0] == 0xff || memcmp(pc->ip6, zero, 15) == 0)
			return gw_conf_fail(&x->c, s, "'address6' must be a unicast address");
		pc->has_ip6 = true;
	}
	if (!pc->has_ip4 && !pc->has_ip6)
		return gw_conf_fail(&x->c, p, "a port needs 'address' or 'address6'");
	return 0;
}

static int parse_ports(struct ctx *x, const config_setting_t *l,
		       struct gw_config *c)
{
	int n = config_setting_length(l), rc;

	if (config_setting_type(l) != CONFIG_TYPE_LIST)
		return gw_conf_fail(&x->c, l, "'ports' must be a list ( { ... }, ... )");
	if (n < 1 || n > GW_PORTS_MAX)
		return gw_conf_fail(&x->c, l, "'ports' must have 1 to %d entries", GW_PORTS_MAX);
	memset(c->ports, 0, sizeof(c->ports));
	for (int i = 0; i < n; i++)
		if ((rc = parse_port(x, config_setting_get_elem(l, (unsigned)i),
				     &c->ports[i])))
			return rc;
	c->n_ports = (unsigned)n;
	return 0;
}

static int parse_trust(struct ctx *x, const config_setting_t *g,
		       struct gw_config *c)
{
	static const char *const keys[] = { "list", "anchors", "state", "grace",
		"backend", NULL };
	const config_setting_t *s;
	int rc, n;

	if ((rc = gw_conf_only_keys(&x->c, g, "trust", keys)) ||
	    (rc = gw_conf_int(&x->c, g, "grace", 0, 365 * 86400, &c->trust_grace_s)))
		return rc;
	s = config_setting_get_member(g, "list");
	if (s == NULL)
		return gw_conf_fail(&x->c, g, "trust needs 'list'");
	if ((rc = path_of(x, s, "list", c->trust_list)))
		return rc;

	s = config_setting_get_member(g, "anchors");
	if (s == NULL)
		return gw_conf_fail(&x->c, g, "trust needs 'anchors'");
	if (config_setting_type(s) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(s) != CONFIG_TYPE_LIST)
		return gw_conf_fail(&x->c, s, "'anchors' must be an array of file names [ ... ]");
	n = config_setting_length(s);
	if (n < 1 || n > KPG_ANCHORS_MAX)
		return gw_conf_fail(&x->c, s, "'anchors' must name 1 to %d files", KPG_ANCHORS_MAX);
	for (int i = 0; i < n; i++)
		if ((rc = path_of(x, config_setting_get_elem(s, (unsigned)i),
				  "anchors", c->anchors[i])))
			return rc;
	c->n_anchors = (unsigned)n;

	s = config_setting_get_member(g, "state");
	if (s && (rc = path_of(x, s, "state", c->trust_state)))
		return rc;

	s = config_setting_get_member(g, "backend");
	if (s) {
		const char *v;

		if (config_setting_type(s) != CONFIG_TYPE_STRING)
			return gw_conf_fail(&x->c, s, "'backend' must be a string");
		v = config_setting_get_string(s);
		if (strcmp(v, "default") == 0)
			c->backend = KPG_BACKEND_DEFAULT;
		else if (strcmp(v, "openssl") == 0)
			c->backend = KPG_BACKEND_OPENSSL;
		else if (strcmp(v, "sodium") == 0)
			c->backend = KPG_BACKEND_SODIUM;
		else
			return gw_conf_fail(&x->c, s, "'backend' must be \"default\", \"openssl\" or \"sodium\"");
	}
	c->has_trust = true;
	return 0;
}

const char *gw_backend_name(enum kpg_backend b)
{
	switch (b) {
	case KPG_BACKEND_DEFAULT: return "default";
	case KPG_BACKEND_OPENSSL: return "openssl";
	case KPG_BACKEND_SODIUM: return "sodium";
	}
	return "unknown";
}

void gw_config_defaults(struct gw_config *c)
{
	static const uint8_t ip4[4] = { 192, 0, 2, 1 };
	static const uint8_t ip6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };

	memset(c, 0, sizeof(*c));
	c->udp_port = KPG_UDP_PORT_DEFAULT;
	c->burst = 32;
	c->cold_queue = 1024;
	c->verifies_per_loop = 8;
	c->verify_budget_us = 20;
	c->clock_skew_s = 300;
	c->cache_entries = 16384;
	c->mbufs = 8191;
	c->idle_polls = 100;
	c->idle_sleep_us = 100;
	c->n_ports = 1;
	c->ports[0].has_ip4 = c->ports[0].has_ip6 = true;
	memcpy(c->ports[0].ip4, ip4, 4);
	memcpy(c->ports[0].ip6, ip6, 16);
	c->backend = KPG_BACKEND_DEFAULT;
	snprintf(c->dir, sizeof(c->dir), ".");
	snprintf(c->state_dir, sizeof(c->state_dir), ".");
}

int gw_config_load(struct gw_config *c, const char *path,
		   char *err, size_t errlen)
{
	/* plugins, stations (with station_policy), audit and metrics are read
	 * by their own modules (gw_policy, gw_station, gw_audit, gw_metrics)
	 * from the same file, each with its own file:line errors; here only
	 * their shape. */
	static const char *const top[] = { "gateway", "ports", "trust", "plugins",
					   "stations", "station_policy", "audit",
					   "metrics", NULL };
	struct ctx x = { .c = { .file = path, .err = err, .errlen = errlen } };
	const config_setting_t *root, *g;
	const char *slash;
	config_t cf;
	int rc;

	gw_config_defaults(c);
	if (snprintf(c->file, sizeof(c->file), "%s", path) >= (int)sizeof(c->file)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	slash = strrchr(path, '/');
	if (slash == NULL)
		snprintf(x.dir, sizeof(x.dir), ".");
	else if (slash == path)
		snprintf(x.dir, sizeof(x.dir), "/");
	else
		snprintf(x.dir, sizeof(x.dir), "%.*s", (int)(slash - path), path);

	x.c.dir = x.dir;
	snprintf(c->dir, sizeof(c->dir), "%s", x.dir);
	snprintf(c->state_dir, sizeof(c->state_dir), "%s", x.dir);
	rc = gw_conf_open(&cf, path, x.dir, err, errlen);
	if (rc != 0)
		goto out;
	root = config_root_setting(&cf);
	if ((rc = gw_conf_only_keys(&x.c, root, "the top level", top)))
		goto out;
	if ((rc = gw_conf_group(&x.c, root, "gateway", &g)) ||
	    (g && (rc = parse_gateway(&x, g, c))))
		goto out;
	g = config_setting_get_member(root, "ports");
	if (g && (rc = parse_ports(&x, g, c)))
		goto out;
	if ((rc = gw_conf_group(&x.c, root, "trust", &g)) ||
	    (g && (rc = parse_trust(&x, g, c))))
		goto out;
	/* The plugins list is read by gw_policy, at start and at each reload,
	 * with the plugins' own checks; here only its shape. */
	g = config_setting_get_member(root, "plugins");
	if (g && !config_setting_is_list(g)) {
		rc = gw_conf_fail(&x.c, g, "'plugins' must be a list ( { name = ...; }, ... )");
		goto out;
	}
	c->has_plugins = g != NULL;
	if ((rc = gw_conf_group(&x.c, root, "audit", &g)))
		goto out;
	c->has_audit = g != NULL;
	if ((rc = gw_conf_group(&x.c, root, "metrics", &g)))
		goto out;
	c->has_metrics = g != NULL;
	g = config_setting_get_member(root, "stations");
	if (g && !config_setting_is_list(g)) {
		rc = gw_conf_fail(&x.c, g, "'stations' must be a list ( { id = ...; }, ... )");
		goto out;
	}
	c->has_stations = g != NULL;
	if ((rc = gw_conf_group(&x.c, root, "station_policy", &g)))
		goto out;
	rc = 0;
out:
	config_destroy(&cf);
	return rc;
}
