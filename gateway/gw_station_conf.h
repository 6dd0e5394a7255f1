/* gw_station_conf.h — the config file's `station_policy` group and
 * `stations` list, read into a station table's configuration. Unknown
 * keys, wrong types, values out of range, bad keys or addresses and ids
 * listed twice are refused with "file:line: reason"; key files are read
 * here, relative to the config file's directory. Needs no EAL, so it is
 * unit-tested; gw_station builds and publishes the table. */
#ifndef GW_STATION_CONF_H
#define GW_STATION_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kpg_station.h"

#define GW_REPLAY_ENTRIES_DEFAULT 8192u

struct gw_station_conf {
	bool configured;                 /* the file lists stations */
	uint32_t replay_entries;         /* per worker lcore, fixed at start */
	struct kpg_stations_conf t;      /* t.slots is left to the caller */
	struct kpg_station_conf *list;   /* t.n entries; ids point into ids */
	char (*ids)[KPG_STATION_ID_MAX + 1];
};

/* file "" (embedded defaults): no stations. 0, or -errno with
 * "file:line: reason" in err; free with gw_station_conf_free() either way. */
int gw_station_conf_load(const char *file, const char *dir,
			 struct gw_station_conf *c, char *err, size_t errlen);
void gw_station_conf_free(struct gw_station_conf *c);

#endif
