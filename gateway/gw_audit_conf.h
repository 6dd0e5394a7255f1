/* gw_audit_conf.h — the audit group of the config file, as a plain struct
 * (gw_audit.h says what each mode promises). Needs no EAL, so the config
 * check and the unit tests read it without DPDK. */
#ifndef GW_AUDIT_CONF_H
#define GW_AUDIT_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "gw_config.h"

enum gw_audit_mode {
	GW_AUDIT_OFF = 0,
	GW_AUDIT_ASYNC,                  /* reply at once; record written in batches */
	GW_AUDIT_WRITTEN,                /* reply after write(): survives kill -9 */
	GW_AUDIT_SYNCED,                 /* reply after fdatasync: survives power loss */
};

struct gw_audit_conf {
	enum gw_audit_mode mode;
	char file[GW_PATH_MAX];
	uint32_t batch;                  /* records per write */
	uint32_t sync_interval_us;       /* synced: longest a record waits for its sync */
	uint32_t held_max;               /* held replies (and records in flight) per lane */
	char confirmations[GW_PATH_MAX]; /* "" : no import confirmations */
	char checkpoint_key[GW_PATH_MAX];
};

/* Reads the audit group of c's file into out (absent: mode OFF). Needs no
 * EAL, so --check-config sees its mistakes. 0, or -EINVAL / -ENOENT with
 * "file:line: reason" in err. */
int gw_audit_conf_load(const struct gw_config *c, struct gw_audit_conf *out,
		       char *err, size_t errlen);
const char *gw_audit_mode_name(enum gw_audit_mode m);

#endif
