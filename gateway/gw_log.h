/* gw_log.h — the KPGATE log type. The gateway logs at start, stop and
 * reload only, never per packet. */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <rte_log.h>

extern int gw_logtype;
#define RTE_LOGTYPE_KPGATE gw_logtype

#define GW_LOG(level, ...) RTE_LOG(level, KPGATE, __VA_ARGS__)

#endif
