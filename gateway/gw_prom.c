/* gw_prom.c — Prometheus text exposition writer; see gw_prom.h. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_prom.h"

void gw_prom_init(struct gw_prom *p)
{
	memset(p, 0, sizeof(*p));
}

void gw_prom_fini(struct gw_prom *p)
{
	free(p->buf);
	gw_prom_init(p);
}

char *gw_prom_take(struct gw_prom *p, size_t *len)
{
	char *b = p->buf;

	if (p->failed || b == NULL) {
		gw_prom_fini(p);
		return NULL;
	}
	*len = p->len;
	gw_prom_init(p);
	return b;
}

static bool reserve(struct gw_prom *p, size_t n)
{
	size_t cap = p->cap ? p->cap : 4096;
	char *b;

	if (p->failed)
		return false;
	if (p->len + n + 1 <= p->cap)
		return true;
	while (cap < p->len + n + 1)
		cap *= 2;
	b = realloc(p->buf, cap);
	if (b == NULL) {
		p->failed = true;
		return false;
	}
	p->buf = b;
	p->cap = cap;
	return true;
}

static void put(struct gw_prom *p, const char *s, size_t n)
{
	if (!reserve(p, n))
		return;
	memcpy(p->buf + p->len, s, n);
	p->len += n;
	p->buf[p->len] = '\0';
}

static void put_str(struct gw_prom *p, const char *s)
{
	put(p, s, strlen(s));
}

static void putf(struct gw_prom *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void putf(struct gw_prom *p, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		p->failed = true;            /* numbers only: never this long */
		return;
	}
	put(p, tmp, (size_t)n);
}

/* HELP text escapes '\' and newline; label values '"' as well. */
static void put_escaped(struct gw_prom *p, const char *s, bool label)
{
	for (; *s; s++) {
		if (*s == '\\')
			put_str(p, "\\\\");
		else if (*s == '\n')
			put_str(p, "\\n");
		else if (*s == '"' && label)
			put_str(p, "\\\"");
		else
			put(p, s, 1);
	}
}

/* A bucket bound in the shortest form without an exponent ("0.0000005"),
 * as exporters commonly write them. */
static const char *bound_text(double v, char out[64])
{
	size_t n;

	if (isinf(v))
		return "+Inf";
	n = (size_t)snprintf(out, 64, "%.9f", v);
	while (n > 1 && out[n - 1] == '0')
		n--;
	if (n > 1 && out[n - 1] == '.')
		n--;
	out[n] = '\0';
	return out;
}

/* The text format's float, NaN and infinities by their names. */
static const char *float_text(double v, char out[32])
{
	if (isnan(v))
		return "NaN";
	if (isinf(v))
		return v > 0 ? "+Inf" : "-Inf";
	snprintf(out, 32, "%.15g", v);
	return out;
}

void gw_prom_family(struct gw_prom *p, const char *name, const char *type,
		    const char *help)
{
	putf(p, "# HELP %.100s ", name);
	put_escaped(p, help, false);
	putf(p, "\n# TYPE %.100s %.20s\n", name, type);
}

static void labels(struct gw_prom *p, va_list ap)
{
	const char *k = va_arg(ap, const char *);
	bool any = false;

	while (k) {
		const char *v = va_arg(ap, const char *);

		put_str(p, any ? "," : "{");
		put_str(p, k);
		put_str(p, "=\"");
		put_escaped(p, v ? v : "", true);
		put_str(p, "\"");
		any = true;
		k = va_arg(ap, const char *);
	}
	if (any)
		put_str(p, "}");
}

/* One sample line: name{labels} value */
static void sample(struct gw_prom *p, const char *name, const char *value,
		   va_list ap)
{
	put_str(p, name);
	labels(p, ap);
	put_str(p, " ");
	put_str(p, value);
	put_str(p, "\n");
}

void gw_prom_u64(struct gw_prom *p, const char *name, uint64_t v, ...)
{
	char text[32];
	va_list ap;

	snprintf(text, sizeof(text), "%" PRIu64, v);
	va_start(ap, v);
	sample(p, name, text, ap);
	va_end(ap);
}

void gw_prom_i64(struct gw_prom *p, const char *name, int64_t v, ...)
{
	char text[32];
	va_list ap;

	snprintf(text, sizeof(text), "%" PRId64, v);
	va_start(ap, v);
	sample(p, name, text, ap);
	va_end(ap);
}

void gw_prom_f64(struct gw_prom *p, const char *name, double v, ...)
{
	char text[32];
	va_list ap;

	va_start(ap, v);
	sample(p, name, float_text(v, text), ap);
	va_end(ap);
}

/* The head of a histogram line: name_suffix{label="value",le="bound"} */
static void hist_head(struct gw_prom *p, const char *name, const char *suffix,
		      const char *label, const char *value, const char *le)
{
	put_str(p, name);
	put_str(p, suffix);
	if (label == NULL && le == NULL)
		return;
	put_str(p, "{");
	if (label) {
		put_str(p, label);
		put_str(p, "=\"");
		put_escaped(p, value, true);
		put_str(p, le ? "\"," : "\"");
	}
	if (le) {
		put_str(p, "le=\"");
		put_str(p, le);
		put_str(p, "\"");
	}
	put_str(p, "}");
}

void gw_prom_histogram(struct gw_prom *p, const char *name,
		       const double *le, unsigned n, const uint64_t *count,
		       double sum, const char *label, const char *value)
{
	char tmp[64];
	uint64_t cum = 0;

	for (unsigned i = 0; i <= n; i++) {
		cum += count[i];
		hist_head(p, name, "_bucket", label, value,
			  i == n ? "+Inf" : bound_text(le[i], tmp));
		putf(p, " %" PRIu64 "\n", cum);
	}
	hist_head(p, name, "_sum", label, value, NULL);
	put_str(p, " ");
	put_str(p, float_text(sum, tmp));
	put_str(p, "\n");
	hist_head(p, name, "_count", label, value, NULL);
	putf(p, " %" PRIu64 "\n", cum);
}
