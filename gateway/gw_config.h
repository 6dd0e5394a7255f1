/* gw_config.h — the gateway's configuration as a plain struct, read from one
 * libconfig file. Unknown keys, wrong types, values out of range and
 * duplicates are refused with "file:line: reason"; relative paths are taken
 * from the config file's directory. Needs no EAL, so it is unit-tested. */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kpg_trust.h"
#include "kpg_verify.h"

#define GW_PORTS_MAX 16
#define GW_BURST_MAX 64
#define GW_PATH_MAX PATH_MAX

struct gw_port_conf {
	bool has_ip4, has_ip6;
	uint8_t ip4[4];                  /* network order */
	uint8_t ip6[16];
	uint16_t vlan;                   /* 0: untagged */
};

struct gw_config {
	char file[GW_PATH_MAX];          /* "" for the embedded defaults */
	char dir[GW_PATH_MAX];           /* the file's directory, "." by default */

	char checkpoint[64];             /* this gateway's checkpoint id */
	char jurisdiction[3];            /* its KP participant, "" if unset */
	char plugin_dir[GW_PATH_MAX];    /* "" : next to kpgate, then installed */
	char state_dir[GW_PATH_MAX];     /* plugins' files; default: the file's dir */
	bool has_plugins;                /* a top-level plugins list was given */
	bool has_stations;               /* ... a stations list */
	bool has_audit;                  /* ... an audit group */
	bool has_metrics;                /* ... a metrics group */

	uint16_t udp_port;
	uint32_t burst;                  /* rx burst, <= GW_BURST_MAX */
	uint32_t cold_queue;             /* cold jobs per lcore */
	uint32_t verifies_per_loop;      /* cold verifies per loop, at most */
	uint32_t verify_budget_us;       /* ... and none started past this */
	int64_t clock_skew_s;
	uint32_t cache_entries;          /* verified-result cache per lcore */
	uint32_t mbufs;                  /* per socket pool */
	uint32_t idle_polls;             /* empty polls before sleeping */
	uint32_t idle_sleep_us;          /* 0: busy poll */

	unsigned n_ports;                /* entries, in DPDK port id order */
	struct gw_port_conf ports[GW_PORTS_MAX];

	bool has_trust;                  /* a trust section was given */
	char trust_list[GW_PATH_MAX];
	unsigned n_anchors;
	char anchors[KPG_ANCHORS_MAX][GW_PATH_MAX];
	char trust_state[GW_PATH_MAX];   /* "" : no state file */
	int64_t trust_grace_s;
	enum kpg_backend backend;
};

/* The embedded defaults: one port 192.0.2.1 / 2001:db8::1, no trust list. */
void gw_config_defaults(struct gw_config *c);

/* Defaults, then the file over them. Returns 0, or -EINVAL / -ENOENT with
 * "file:line: reason" in err. */
int gw_config_load(struct gw_config *c, const char *path,
		   char *err, size_t errlen);

const char *gw_backend_name(enum kpg_backend b);

#endif
