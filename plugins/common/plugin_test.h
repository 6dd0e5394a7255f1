/* plugin_test.h — what the KP rule plugins' tests (origin, zones,
 * sanctions) add to core/kpg_plugin_testkit.h: a scratch config directory
 * for list files, one-plugin chains whose section body starts on config
 * line 2, refusal checks by "file:line: plugin NAME: why", and hand-made
 * certificates. Header-only: each test program is one file. */
#ifndef KPG_PLUGIN_TEST_H
#define KPG_PLUGIN_TEST_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kpg_cunit.h"
#include "kpg_plugin_testkit.h"

#define PT_FILES_MAX 16

/* The scratch config directory: relative list paths resolve here. */
static char pt_dir[64];
static char pt_files[PT_FILES_MAX][PATH_MAX];
static unsigned pt_n_files;
static struct kpg_plugin_host *pt_host;

static inline int pt_setup(void)
{
	snprintf(pt_dir, sizeof(pt_dir), "/tmp/kpg-plugin-test-XXXXXX");
	if (mkdtemp(pt_dir) == NULL)
		return 1;
	pt_host = kpg_ptest_host("EU", pt_dir);
	return pt_host ? 0 : 1;
}

static inline int pt_teardown(void)
{
	kpg_plugin_host_delete(pt_host);
	while (pt_n_files > 0)
		unlink(pt_files[--pt_n_files]);
	return rmdir(pt_dir) == 0 ? 0 : 1;
}

/* Writes a list file into the config directory; its full path in out. */
static inline void pt_write(const char *name, const char *text, char *out, size_t cap)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", pt_dir, name);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
	if (pt_n_files < PT_FILES_MAX)
		snprintf(pt_files[pt_n_files++], PATH_MAX, "%s", path);
	if (out)
		snprintf(out, cap, "%s", path);
}

struct pt {
	struct kpg_chain *chain;
	char err[1024];
};

/* A chain of plugin NAME alone, its section "{ name = NAME;" on config
 * line 1 and body from line 2. 0, or -1 with the refusal in t->err. */
static inline int pt_build(struct pt *t, const char *name, const char *body)
{
	size_t cap = strlen(body) + 64;
	char *list = malloc(cap);

	CU_ASSERT_PTR_NOT_NULL_FATAL(list);
	snprintf(list, cap, "( { name = \"%s\";\n%s\n} )", name, body);
	t->err[0] = '\0';
	t->chain = kpg_ptest_chain(pt_host, list, t->err, sizeof(t->err));
	free(list);
	return t->chain ? 0 : -1;
}

static inline void pt_free(struct pt *t)
{
	kpg_chain_delete(t->chain);
	t->chain = NULL;
}

/* True when the config builds; says why not on stderr. */
static inline bool pt_accepted(const char *name, const char *body)
{
	struct pt t;
	bool ok = pt_build(&t, name, body) == 0;

	if (!ok)
		fprintf(stderr, "\n  config refused: %s\n", t.err);
	pt_free(&t);
	return ok;
}

/* True when the config is refused with an error containing want (a
 * "file:line: plugin NAME: why" prefix or part of it). */
static inline bool pt_refused(const char *name, const char *body, const char *want)
{
	struct pt t;
	bool ok = pt_build(&t, name, body) < 0 && strstr(t.err, want) != NULL;

	if (!ok)
		fprintf(stderr, "\n  want error '%s'\n  got        '%s'\n", want,
			t.chain ? "(config accepted)" : t.err);
	pt_free(&t);
	return ok;
}

/* True when body, which names list file `file`, is refused once the file
 * holds text, with "PATH:line: plugin NAME: why". */
static inline bool pt_file_refused(const char *name, const char *body,
				   const char *file, const char *text,
				   unsigned line, const char *why)
{
	char path[PATH_MAX], want[PATH_MAX + 256];

	pt_write(file, text, path, sizeof(path));
	snprintf(want, sizeof(want), "%s:%u: plugin %s: %s", path, line, name, why);
	return pt_refused(name, body, want);
}

/* A certificate and its scan, built in place (the views point inside). */
struct pt_cert {
	struct kpg_scan_view scan;
	struct kpg_cert c;
	struct kpg_origin origins[8];
	struct kpg_hs_line lines[4];
	struct kpg_measurement m;
};

static inline struct kpg_str pt_str(const char *s)
{
	return (struct kpg_str){ .p = s, .len = (uint32_t)strlen(s) };
}

/* One origin, one 7102.31 line of `centi` hundredths of a carat, judged on
 * `today`; tests change what they need. */
static inline void pt_cert_init(struct pt_cert *p, const char *origin,
			 uint64_t centi, uint32_t today)
{
	memset(p, 0, sizeof(*p));
	p->c.number = pt_str("BW-2024-000123");
	memcpy(p->c.issuing_participant, "BW", 3);
	p->c.issuing_authority = pt_str("Government Diamond Valuator");
	p->c.exporter = (struct kpg_party){ pt_str("Okavango Rough Exports (Pty) Ltd"),
					    pt_str("Gaborone"), pt_str("BW-CO-2002/1234") };
	p->c.importer = (struct kpg_party){ pt_str("Antwerp Rough Trading NV"),
					    pt_str("Hoveniersstraat, Antwerpen"),
					    pt_str("BE0456789123") };
	memcpy(p->c.importing_participant, "EU", 3);
	p->c.n_origins = 1;
	p->c.origins = p->origins;
	memcpy(p->origins[0].country, origin, 2);
	p->origins[0].zone = pt_str("");
	p->c.n_lines = 1;
	p->c.lines = p->lines;
	p->lines[0] = (struct kpg_hs_line){ KPG_HS_7102_31, centi, centi * 150 };
	p->c.parcels = 1;
	p->c.issue_date = today;
	p->c.expiry_date = today + 100;
	p->c.traceability_ref = pt_str("");
	p->c.total_carats_centi = centi;
	p->c.total_value_usd_cents = centi * 150;
	p->scan.request_id = 1;
	p->scan.station_id = pt_str("station-1");
	p->scan.today = today;
	p->scan.cert = &p->c;
	p->scan.measurement = &p->m;
	p->scan.issuer_status = KPG_PARTICIPANT_MEMBER;
	p->scan.importer_status = KPG_PARTICIPANT_MEMBER;
}

/* Mixed origin listing the given countries ("" for none). */
static inline void pt_cert_mixed(struct pt_cert *p, const char *const *countries)
{
	p->c.mixed_origin = true;
	p->c.n_origins = 0;
	for (unsigned i = 0; countries[i] && i < 8; i++) {
		memcpy(p->origins[i].country, countries[i], 2);
		p->origins[i].zone = pt_str("");
		p->c.n_origins++;
	}
}

/* The plugin's verdict on p; decision NONE when it did not apply. */
static inline struct kpg_verdict pt_eval(const struct pt *t, const struct pt_cert *p)
{
	return kpg_ptest_eval(t->chain, &p->scan);
}

/* True when v has this decision and reason and its detail contains want. */
static inline bool pt_is(struct kpg_verdict v, enum kpg_decision d, uint32_t reason,
		  const char *want)
{
	bool ok = v.decision == d && v.reason == reason &&
		  (want == NULL || strstr(v.detail, want) != NULL);

	if (!ok)
		fprintf(stderr, "\n  want %s %u '%s'\n  got  %s %u '%s'\n",
			kpg_decision_name(d), reason, want ? want : "",
			kpg_decision_name(v.decision), v.reason, v.detail);
	return ok;
}

#endif
