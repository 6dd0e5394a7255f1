/* kpg_err.h — the one way the core writes a refusal's words into a caller's
 * buffer: printf-style, cut to fit, nothing when the caller passed none. */
#ifndef KPG_ERR_H
#define KPG_ERR_H

#include <stddef.h>

void kpg_errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
