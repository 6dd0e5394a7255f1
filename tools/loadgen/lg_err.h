/* lg_err.h — how a generator function that can fail for several reasons
 * says why: it returns a negative errno and writes a sentence into the
 * caller's err buffer, in one call. */
#ifndef LG_ERR_H
#define LG_ERR_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline int lg_err(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static inline int lg_err(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

#endif
