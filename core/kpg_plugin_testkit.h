/* kpg_plugin_testkit.h — what a plugin's unit test needs to run the REAL
 * built plugin through the host: a host looking in $KPG_PLUGIN_DIR (set by
 * meson test to the plugin's build dir), a chain from a libconfig string,
 * and one scan evaluated to the plugin's verdict. Header-only, for tests. */
#ifndef KPG_PLUGIN_TESTKIT_H
#define KPG_PLUGIN_TESTKIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <libconfig.h>

#include "kpg_plugin_host.h"

/* A host for `workers` workers of checkpoint cp in jurisdiction (may be
 * ""); config_dir and state_dir are dir (NULL: "."). NULL on failure. */
static inline struct kpg_plugin_host *kpg_ptest_host_at(const char *jurisdiction,
							const char *dir,
							const char *cp,
							unsigned workers)
{
	const char *dirs[] = { getenv("KPG_PLUGIN_DIR"), NULL };
	struct kpg_plugin_host_conf c = {
		.workers = workers,
		.checkpoint = cp,
		.jurisdiction = jurisdiction,
		.config_dir = dir ? dir : ".",
		.state_dir = dir ? dir : ".",
		.search_dirs = dirs,
	};

	if (dirs[0] == NULL) {   /* may run in a suite's setup: no CU_ASSERT */
		fprintf(stderr, "KPG_PLUGIN_DIR is not set (run through meson test)\n");
		return NULL;
	}
	return kpg_plugin_host_new(&c);
}

/* One worker of checkpoint "test-1". */
static inline struct kpg_plugin_host *kpg_ptest_host(const char *jurisdiction,
						     const char *dir)
{
	return kpg_ptest_host_at(jurisdiction, dir, "test-1", 1);
}

/* Builds "plugins = <list>;" read from a string (errors then read
 * "<config>:LINE: ..."); NULL with err filled when refused. */
static inline struct kpg_chain *kpg_ptest_chain(struct kpg_plugin_host *h,
						const char *list, char *err,
						size_t errlen)
{
	struct kpg_chain *c = NULL;
	size_t n = strlen(list) + 16;
	char *text = malloc(n);
	config_t cf;

	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	snprintf(text, n, "plugins = %s;", list);
	config_init(&cf);
	if (config_read_string(&cf, text) == CONFIG_TRUE)
		c = kpg_chain_build(h, config_lookup(&cf, "plugins"), err, errlen);
	else
		snprintf(err, errlen, "<config>:%d: %s", config_error_line(&cf),
			 config_error_text(&cf));
	config_destroy(&cf);   /* plugins keep nothing of it */
	free(text);
	return c;
}

/* A chain of plugin name alone, "( { name = NAME;\n<section> } )": the
 * section starts on config line 2. */
static inline struct kpg_chain *kpg_ptest_plugin(struct kpg_plugin_host *h,
						 const char *name,
						 const char *section,
						 char *err, size_t errlen)
{
	size_t n = strlen(name) + strlen(section) + 32;
	char *list = malloc(n);
	struct kpg_chain *c;

	CU_ASSERT_PTR_NOT_NULL_FATAL(list);
	snprintf(list, n, "( { name = \"%s\";\n%s } )", name, section);
	c = kpg_ptest_chain(h, list, err, errlen);
	free(list);
	return c;
}

/* The chain must build (why not goes to stderr). */
static inline struct kpg_chain *kpg_ptest_plugin_ok(struct kpg_plugin_host *h,
						    const char *name,
						    const char *section)
{
	char err[1024];
	struct kpg_chain *c = kpg_ptest_plugin(h, name, section, err, sizeof(err));

	if (c == NULL)
		fprintf(stderr, "\n  config refused: %s\n", err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	return c;
}

/* The chain must be refused with exactly want. */
static inline void kpg_ptest_refused(struct kpg_plugin_host *h, const char *name,
				     const char *section, const char *want)
{
	char err[1024];
	struct kpg_chain *c = kpg_ptest_plugin(h, name, section, err, sizeof(err));

	CU_ASSERT_PTR_NULL(c);
	if (c) {
		kpg_chain_delete(c);
		snprintf(err, sizeof(err), "(config accepted)");
	}
	CU_ASSERT_STRING_EQUAL(err, want);
	if (strcmp(err, want) != 0)
		fprintf(stderr, "\n  want '%s'\n  got  '%s'\n", want, err);
}

/* The verdict of the chain's single plugin for scan; decision NONE when it
 * gave none. */
static inline struct kpg_verdict kpg_ptest_eval(const struct kpg_chain *c,
						const struct kpg_scan_view *scan)
{
	struct kpg_verdicts vs = { 0 };
	struct kpg_verdict none = { 0 };

	kpg_chain_evaluate(c, scan, &vs);
	CU_ASSERT(vs.n <= 1);
	return vs.n ? vs.v[0] : none;
}

#endif
