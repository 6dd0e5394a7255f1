/* kpg_plugin_host.c — loads policy plugins and runs them as a chain; see
 * kpg_plugin_host.h. Everything but kpg_chain_evaluate/commit runs on the
 * control thread; those two touch only the chain and the caller's own
 * counter block. */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kpg_err.h"
#include "kpg_plugin_host.h"

#define KPG_CACHE_LINE  64
#define KPG_HOST_ERR    1024u            /* one build's error message */
#define KPG_LINE_MAX    4096u            /* list file line, bytes incl. NUL */

/* One worker's counters of every plugin slot: a block of its own cache
 * lines, so workers never write a line another worker writes. */
struct kpg_worker_counts {
	uint64_t n[KPG_PLUGINS_MAX][KPG_DECISION__COUNT];
} __attribute__((aligned(KPG_CACHE_LINE)));

/* A plugin loaded once and kept until the host goes: its slot index names
 * its counters, so they survive every reload. */
struct kpg_loaded {
	struct kpg_plugin_host *h;
	char name[KPG_CHECK_NAME_MAX];
	char path[PATH_MAX];
	void *dl;
	const struct kpg_plugin *p;
	void *instance;
	unsigned slot;                   /* index in the host, of counters */
	struct kpg_plugin_env env;       /* lives as long as the plugin */
};

struct kpg_plugin_host {
	unsigned workers;
	char *checkpoint, *jurisdiction, *config_dir, *state_dir;
	char **search_dirs;              /* NULL-ended */
	unsigned n;                      /* plugins loaded */
	struct kpg_loaded *loaded[KPG_PLUGINS_MAX];
	struct kpg_worker_counts *counts;   /* [workers] */

	/* The build under way: the section a NULL "where" means, and the
	 * first error reported (the later ones are its consequences). */
	const config_setting_t *section;
	bool failed;
	char err[KPG_HOST_ERR];
};

/* What workers read, copied from the descriptor and the host: one array
 * walked in order, nothing of the host's plugin table. */
struct kpg_chain_entry {
	const char *name;
	void *instance;
	void *state;
	unsigned slot;
	__typeof__(((struct kpg_plugin *)0)->evaluate) evaluate;
	__typeof__(((struct kpg_plugin *)0)->commit) commit;
	__typeof__(((struct kpg_plugin *)0)->release) release;
};

struct kpg_chain {
	struct kpg_worker_counts *counts;   /* the host's, [workers] */
	unsigned workers;
	unsigned n;
	struct kpg_chain_entry e[KPG_PLUGINS_MAX];
};

/* ---- errors ------------------------------------------------------------ */

static const char *setting_file(const config_setting_t *s)
{
	const char *f = s ? config_setting_source_file(s) : NULL;

	return f ? f : "<config>";       /* config_read_string() has no file */
}

/* "file:line: " for the setting, then "plugin NAME: " when there is one;
 * keeps only the first error of a build. */
static void host_vfail(struct kpg_plugin_host *h, const char *file,
		       unsigned line, const char *plugin, const char *fmt,
		       va_list ap)
{
	size_t n;

	if (h->failed)
		return;
	h->failed = true;
	n = (size_t)snprintf(h->err, sizeof(h->err), "%s:%u: ", file, line);
	if (plugin && n < sizeof(h->err))
		n += (size_t)snprintf(h->err + n, sizeof(h->err) - n, "plugin %s: ",
				      plugin);
	if (n < sizeof(h->err))
		vsnprintf(h->err + n, sizeof(h->err) - n, fmt, ap);
}

static int host_fail_at(struct kpg_plugin_host *h, const char *file,
			unsigned line, const char *plugin, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* An error about line "line" of a file that is not the config (list files). */
static int host_fail_at(struct kpg_plugin_host *h, const char *file,
			unsigned line, const char *plugin, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	host_vfail(h, file, line, plugin, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int host_fail(struct kpg_plugin_host *h, const config_setting_t *where,
		     const char *plugin, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* An error about a config setting. */
static int host_fail(struct kpg_plugin_host *h, const config_setting_t *where,
		     const char *plugin, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	host_vfail(h, setting_file(where),
		   where ? config_setting_source_line(where) : 0u, plugin, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* ---- what the host offers plugins (struct kpg_plugin_env) -------------- */

static void env_error(const struct kpg_plugin_env *env,
		      const config_setting_t *where, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void env_error(const struct kpg_plugin_env *env,
		      const config_setting_t *where, const char *fmt, ...)
{
	struct kpg_loaded *ld = env->host;
	va_list ap;

	if (where == NULL)
		where = ld->h->section;
	va_start(ap, fmt);
	host_vfail(ld->h, setting_file(where),
		   where ? config_setting_source_line(where) : 0u, ld->name, fmt, ap);
	va_end(ap);
}

static int env_check_keys(const struct kpg_plugin_env *env,
			  const config_setting_t *group,
			  const char *const *allowed)
{
	if (group == NULL)
		return 0;
	if (!config_setting_is_group(group)) {
		env_error(env, group, "'%s' must be a group",
			  config_setting_name(group) ? config_setting_name(group) : "?");
		return -EINVAL;
	}
	for (int i = 0; i < config_setting_length(group); i++) {
		const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		const char *key = config_setting_name(s);
		bool ok = key && (strcmp(key, "name") == 0 || strcmp(key, "path") == 0);

		for (const char *const *a = allowed; !ok && key && a && *a; a++)
			ok = strcmp(key, *a) == 0;
		if (!ok) {
			env_error(env, s, "unknown key '%s'", key ? key : "?");
			return -EINVAL;
		}
	}
	return 0;
}

static bool is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Relative paths in plugin config resolve in the config's directory. */
static int resolve(const char *dir, const char *path, char *out, size_t cap)
{
	int n;

	if (path[0] == '/' || dir == NULL || dir[0] == '\0')
		n = snprintf(out, cap, "%s", path);
	else
		n = snprintf(out, cap, "%s/%s", dir, path);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* One line, trimmed, to the plugin's callback; blanks and comments skipped. */
static int list_line(struct kpg_loaded *ld, const char *file, char *buf,
		     size_t len, unsigned lineno,
		     int (*line)(void *, const char *, unsigned, char *, size_t),
		     void *arg)
{
	char why[256] = "";
	char *s = buf;
	int rc;

	while (len > 0 && is_blank((unsigned char)s[len - 1]))
		s[--len] = '\0';
	while (is_blank((unsigned char)*s))
		s++;
	if (*s == '\0' || *s == '#')
		return 0;
	rc = line(arg, s, lineno, why, sizeof(why));
	if (rc >= 0)
		return 0;
	why[sizeof(why) - 1] = '\0';
	host_fail_at(ld->h, file, lineno, ld->name, "%s",
		     why[0] ? why : "refused by the plugin");
	return rc;
}

/* Lines are read into a fixed buffer: a list file is operator input, so an
 * endless line or a binary file is an error with a line number, never a
 * huge allocation or a string cut at a NUL. */
static int env_read_lines(const struct kpg_plugin_env *env,
			  const config_setting_t *where, const char *path,
			  int (*line)(void *arg, const char *text, unsigned lineno,
				      char *err, size_t errlen),
			  void *arg)
{
	struct kpg_loaded *ld = env->host;
	char file[PATH_MAX];
	char buf[KPG_LINE_MAX];
	unsigned lineno = 1;
	size_t len = 0;
	bool overlong = false;
	int rc = 0, c;
	FILE *f;

	if (where == NULL)
		where = ld->h->section;
	if (path == NULL || path[0] == '\0') {
		env_error(env, where, "empty list file name");
		return -EINVAL;
	}
	if (resolve(ld->h->config_dir, path, file, sizeof(file)) < 0) {
		env_error(env, where, "list file name too long: '%s'", path);
		return -ENAMETOOLONG;
	}
	f = fopen(file, "re");
	if (f == NULL) {
		rc = -errno;
		env_error(env, where, "cannot read list '%s': %s", file, strerror(errno));
		return rc;
	}
	while (rc == 0 && (c = getc_unlocked(f)) != EOF) {
		if (c == '\n') {
			buf[len] = '\0';
			if (!overlong)
				rc = list_line(ld, file, buf, len, lineno, line, arg);
			len = 0;
			overlong = false;
			lineno++;
		} else if (c == '\0') {
			rc = host_fail_at(ld->h, file, lineno, ld->name,
					  "NUL byte: not a text file");
		} else if (len + 1 >= sizeof(buf)) {
			rc = host_fail_at(ld->h, file, lineno, ld->name,
					  "line longer than %u bytes", KPG_LINE_MAX - 1);
			overlong = true;
		} else {
			buf[len++] = (char)c;
		}
	}
	if (rc == 0 && ferror(f))
		rc = host_fail_at(ld->h, file, lineno, ld->name, "read error");
	if (rc == 0 && len > 0) {            /* last line without a newline */
		buf[len] = '\0';
		rc = list_line(ld, file, buf, len, lineno, line, arg);
	}
	fclose(f);
	return rc;
}

/* ---- loading ----------------------------------------------------------- */

/* Chain names become file names (kpgate-NAME.so) and check names on the
 * wire: short, and no path characters. */
static bool name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= KPG_CHECK_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

static struct kpg_loaded *find_loaded(struct kpg_plugin_host *h,
				      const char *name)
{
	for (unsigned i = 0; i < h->n; i++)
		if (strcmp(h->loaded[i]->name, name) == 0)
			return h->loaded[i];
	return NULL;
}

/* The file for a chain entry: its path (relative to config_dir), else the
 * first DIR/kpgate-NAME.so or DIR/NAME/kpgate-NAME.so that exists. */
static int locate(struct kpg_plugin_host *h, const config_setting_t *entry,
		  const char *name, const char *path, char *out, size_t cap)
{
	char tried[512] = "";
	size_t used = 0;
	int n;

	if (path) {
		if (resolve(h->config_dir, path, out, cap) < 0)
			return host_fail(h, entry, name, "path too long: '%s'", path);
		return 0;
	}
	for (char **d = h->search_dirs; d && *d; d++) {
		n = snprintf(out, cap, "%s/kpgate-%s.so", *d, name);
		if (n > 0 && (size_t)n < cap && access(out, R_OK) == 0)
			return 0;
		n = snprintf(out, cap, "%s/%s/kpgate-%s.so", *d, name, name);
		if (n > 0 && (size_t)n < cap && access(out, R_OK) == 0)
			return 0;
		if (used < sizeof(tried))
			used += (size_t)snprintf(tried + used, sizeof(tried) - used,
						 "%s%s", used ? ", " : "", *d);
	}
	return host_fail(h, entry, name, "kpgate-%s.so not found in %s; give its path",
			 name, used ? tried : "any plugin directory (none set)");
}

/* dlopen, then the descriptor's ABI version and size, then its name and
 * functions; only then init, the first plugin code kpgate calls. */
static struct kpg_loaded *load(struct kpg_plugin_host *h,
			       const config_setting_t *entry, const char *name,
			       const char *path)
{
	struct kpg_loaded *ld;
	const struct kpg_plugin *p;
	int rc;

	if (h->n == KPG_PLUGINS_MAX) {
		host_fail(h, entry, name, "more than %d plugins loaded; restart kpgate",
			  KPG_PLUGINS_MAX);
		return NULL;
	}
	ld = calloc(1, sizeof(*ld));
	if (ld == NULL) {
		host_fail(h, entry, name, "out of memory");
		return NULL;
	}
	ld->h = h;
	snprintf(ld->name, sizeof(ld->name), "%s", name);
	if (locate(h, entry, name, path, ld->path, sizeof(ld->path)) < 0)
		goto fail;
	ld->dl = dlopen(ld->path, RTLD_NOW | RTLD_LOCAL);
	if (ld->dl == NULL) {
		host_fail(h, entry, name, "cannot load %s: %s", ld->path, dlerror());
		goto fail;
	}
	p = dlsym(ld->dl, KPG_PLUGIN_SYMBOL);
	if (p == NULL) {
		host_fail(h, entry, name, "%s exports no '%s': not a kpgate plugin",
			  ld->path, KPG_PLUGIN_SYMBOL);
		goto fail;
	}
	if (p->abi_version != KPG_PLUGIN_ABI_VERSION) {
		host_fail(h, entry, NULL, "plugin %s (%s): ABI version %u, kpgate speaks %u",
			  name, ld->path, p->abi_version, KPG_PLUGIN_ABI_VERSION);
		goto fail;
	}
	if (p->struct_size != sizeof(struct kpg_plugin)) {
		host_fail(h, entry, NULL, "plugin %s (%s): descriptor of %u bytes, kpgate's is %zu "
			  "(built against another plugin.h?)",
			  name, ld->path, p->struct_size, sizeof(struct kpg_plugin));
		goto fail;
	}
	if (p->name == NULL || strcmp(p->name, name) != 0) {
		host_fail(h, entry, NULL, "plugin %s (%s): the file holds plugin '%s'",
			  name, ld->path, p->name ? p->name : "(no name)");
		goto fail;
	}
	if (p->configure == NULL || p->release == NULL || p->evaluate == NULL) {
		host_fail(h, entry, NULL, "plugin %s (%s): configure, release or evaluate missing",
			  name, ld->path);
		goto fail;
	}
	ld->p = p;
	ld->env = (struct kpg_plugin_env){
		.struct_size = sizeof(struct kpg_plugin_env),
		.workers = h->workers,
		.checkpoint = h->checkpoint,
		.jurisdiction = h->jurisdiction,
		.config_dir = h->config_dir,
		.state_dir = h->state_dir,
		.plugin_name = ld->name,
		.error = env_error,
		.check_keys = env_check_keys,
		.read_lines = env_read_lines,
		.host = ld,
	};
	if (p->init && (rc = p->init(&ld->env, &ld->instance)) < 0) {
		host_fail(h, entry, name, "init failed: %s", strerror(-rc));
		goto fail;
	}
	/* A new slot starts from zero: a plugin unloaded by a failed build
	 * never counted anything, but say so rather than rely on it. */
	for (unsigned w = 0; w < h->workers; w++)
		memset(h->counts[w].n[h->n], 0, sizeof(h->counts[w].n[h->n]));
	ld->slot = h->n;
	h->loaded[h->n++] = ld;
	return ld;
fail:
	if (ld->dl)
		dlclose(ld->dl);
	free(ld);
	return NULL;
}

static void unload(struct kpg_loaded *ld)
{
	if (ld->p && ld->p->fini)
		ld->p->fini(ld->instance);
	dlclose(ld->dl);
	free(ld);
}

/* ---- the host ---------------------------------------------------------- */

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

struct kpg_plugin_host *kpg_plugin_host_new(const struct kpg_plugin_host_conf *c)
{
	struct kpg_plugin_host *h = calloc(1, sizeof(*h));
	unsigned nd = 0;

	if (h == NULL)
		return NULL;
	h->workers = c->workers ? c->workers : 1;
	h->checkpoint = dup_or_empty(c->checkpoint);
	h->jurisdiction = dup_or_empty(c->jurisdiction);
	h->config_dir = dup_or_empty(c->config_dir);
	h->state_dir = dup_or_empty(c->state_dir);
	while (c->search_dirs && c->search_dirs[nd])
		nd++;
	h->search_dirs = calloc(nd + 1, sizeof(*h->search_dirs));
	h->counts = aligned_alloc(KPG_CACHE_LINE,
				  h->workers * sizeof(struct kpg_worker_counts));
	if (!h->checkpoint || !h->jurisdiction || !h->config_dir ||
	    !h->state_dir || !h->search_dirs || !h->counts)
		goto fail;
	memset(h->counts, 0, h->workers * sizeof(struct kpg_worker_counts));
	for (unsigned i = 0; i < nd; i++)
		if ((h->search_dirs[i] = strdup(c->search_dirs[i])) == NULL)
			goto fail;
	return h;
fail:
	kpg_plugin_host_delete(h);
	return NULL;
}

void kpg_plugin_host_delete(struct kpg_plugin_host *h)
{
	if (h == NULL)
		return;
	while (h->n > 0)
		unload(h->loaded[--h->n]);
	for (char **d = h->search_dirs; d && *d; d++)
		free(*d);
	free(h->search_dirs);
	free(h->counts);
	free(h->checkpoint);
	free(h->jurisdiction);
	free(h->config_dir);
	free(h->state_dir);
	free(h);
}

unsigned kpg_plugin_host_count(const struct kpg_plugin_host *h)
{
	return h->n;
}

const char *kpg_plugin_host_name(const struct kpg_plugin_host *h, unsigned i)
{
	return i < h->n ? h->loaded[i]->name : NULL;
}

void kpg_plugin_host_counts(const struct kpg_plugin_host *h, unsigned i,
			    struct kpg_plugin_counts *sum)
{
	memset(sum, 0, sizeof(*sum));
	if (i >= h->n)
		return;
	for (unsigned w = 0; w < h->workers; w++)
		for (unsigned d = 0; d < KPG_DECISION__COUNT; d++)
			sum->decisions[d] += __atomic_load_n(&h->counts[w].n[i][d],
							     __ATOMIC_RELAXED);
}

void kpg_plugin_host_stats(const struct kpg_plugin_host *h, unsigned i,
			   void (*emit)(void *arg, const char *name, uint64_t value),
			   void *arg)
{
	const struct kpg_loaded *ld;

	if (i >= h->n)
		return;
	ld = h->loaded[i];
	if (ld->p->stats)
		ld->p->stats(ld->instance, emit, arg);
}

/* ---- chains ------------------------------------------------------------ */

static void chain_release(struct kpg_chain *c)
{
	while (c->n > 0) {
		struct kpg_chain_entry *e = &c->e[--c->n];

		e->release(e->instance, e->state);
	}
}

static const char *entry_string(struct kpg_plugin_host *h,
				const config_setting_t *entry, const char *key,
				unsigned idx, bool required, int *rc)
{
	const config_setting_t *s = config_setting_get_member(entry, key);

	if (s == NULL) {
		if (required)
			*rc = host_fail(h, entry, NULL, "plugin chain entry %u has no '%s'",
					idx + 1, key);
		return NULL;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		*rc = host_fail(h, s, NULL, "'%s' of plugin chain entry %u must be a string",
				key, idx + 1);
		return NULL;
	}
	return config_setting_get_string(s);
}

/* Whether path (relative to dir) names the file loaded from loaded. */
static bool same_file(const char *dir, const char *path, const char *loaded)
{
	char want[PATH_MAX], a[PATH_MAX], b[PATH_MAX];

	if (resolve(dir, path, want, sizeof(want)) < 0)
		return false;
	if (realpath(want, a) && realpath(loaded, b))
		return strcmp(a, b) == 0;
	return strcmp(want, loaded) == 0;
}

static int build_entry(struct kpg_plugin_host *h, struct kpg_chain *c,
		       const config_setting_t *entry, unsigned idx)
{
	struct kpg_chain_entry *e = &c->e[c->n];
	const char *name, *path;
	struct kpg_loaded *ld;
	void *state = NULL;
	int rc = 0;

	if (!config_setting_is_group(entry))
		return host_fail(h, entry, NULL, "plugin chain entry %u must be a group",
				 idx + 1);
	name = entry_string(h, entry, "name", idx, true, &rc);
	if (name == NULL)
		return rc;
	path = entry_string(h, entry, "path", idx, false, &rc);
	if (rc < 0)
		return rc;
	if (!name_ok(name))
		return host_fail(h, entry, NULL, "bad plugin name '%s' (1 to %u of a-z 0-9 _ -)",
				 name, KPG_CHECK_NAME_MAX - 1);
	for (unsigned i = 0; i < c->n; i++)
		if (strcmp(c->e[i].name, name) == 0)
			return host_fail(h, entry, name, "named twice in the chain");

	h->section = entry;                  /* what error(NULL) points at */
	ld = find_loaded(h, name);
	if (ld && path) {
		/* A loaded plugin stays: another file of the same name would need
		 * an unload that running chains forbid. */
		if (!same_file(h->config_dir, path, ld->path))
			return host_fail(h, entry, name, "already loaded from %s; "
					 "restart kpgate to load %s", ld->path, path);
	}
	if (ld == NULL && (ld = load(h, entry, name, path)) == NULL)
		return -EINVAL;

	rc = ld->p->configure(ld->instance, &ld->env, entry, &state);
	h->section = NULL;
	if (rc >= 0 && h->failed) {
		/* It reported an error yet returned a state: believe the error. */
		ld->p->release(ld->instance, state);
		rc = -EINVAL;
	}
	if (rc < 0) {
		host_fail(h, entry, name, "configure failed: %s", strerror(-rc));
		return rc;
	}
	*e = (struct kpg_chain_entry){
		.name = ld->name,
		.instance = ld->instance,
		.state = state,
		.slot = ld->slot,
		.evaluate = ld->p->evaluate,
		.commit = ld->p->commit,
		.release = ld->p->release,
	};
	c->n++;
	return 0;
}

struct kpg_chain *kpg_chain_build(struct kpg_plugin_host *h,
				  const config_setting_t *list,
				  char *err, size_t errlen)
{
	struct kpg_chain *c = calloc(1, sizeof(*c));
	unsigned loaded_before = h->n;
	int n = list ? config_setting_length(list) : 0;

	h->failed = false;
	h->err[0] = '\0';
	if (c == NULL) {
		host_fail(h, list, NULL, "out of memory");
		goto fail;
	}
	c->counts = h->counts;
	c->workers = h->workers;
	if (list && !config_setting_is_list(list) &&
	    !(config_setting_is_array(list) && n == 0)) {
		host_fail(h, list, NULL, "the plugin chain must be a list of groups: "
			  "( { name = ...; }, ... )");
		goto fail;
	}
	if (n > KPG_PLUGINS_MAX) {
		host_fail(h, list, NULL, "%d plugins in the chain, at most %d", n,
			  KPG_PLUGINS_MAX);
		goto fail;
	}
	for (int i = 0; i < n; i++)
		if (build_entry(h, c, config_setting_get_elem(list, (unsigned)i),
				(unsigned)i) < 0)
			goto fail;
	h->section = NULL;
	if (err && errlen)
		err[0] = '\0';
	return c;
fail:
	if (c) {
		chain_release(c);
		free(c);
	}
	/* Plugins first loaded by this build go too: a refused config leaves
	 * the host as it found it. */
	while (h->n > loaded_before)
		unload(h->loaded[--h->n]);
	h->section = NULL;
	kpg_errf(err, errlen, "%s", h->err[0] ? h->err : "plugin chain refused");
	return NULL;
}

void kpg_chain_delete(struct kpg_chain *c)
{
	if (c == NULL)
		return;
	chain_release(c);
	free(c);
}

unsigned kpg_chain_length(const struct kpg_chain *c)
{
	return c ? c->n : 0;
}

const char *kpg_chain_name(const struct kpg_chain *c, unsigned i)
{
	return c && i < c->n ? c->e[i].name : NULL;
}

/* ---- workers ----------------------------------------------------------- */

void kpg_chain_evaluate(const struct kpg_chain *c,
			const struct kpg_scan_view *scan,
			struct kpg_verdicts *vs)
{
	struct kpg_worker_counts *wc;

	if (c == NULL || c->n == 0)
		return;
	/* A worker index the host has no slot for is a gateway bug: judge,
	 * but write no counter outside the array. */
	wc = scan->worker < c->workers ? &c->counts[scan->worker] : NULL;
	for (unsigned i = 0; i < c->n; i++) {
		const struct kpg_chain_entry *e = &c->e[i];
		struct kpg_plugin_verdict out;
		unsigned d;

		memset(&out, 0, sizeof(out));
		e->evaluate(e->instance, e->state, scan, &out);
		d = (unsigned)out.decision;
		if (d > KPG_REJECT)
			d = KPG_REJECT;          /* a broken plugin fails closed */
		if (wc) {
			uint64_t *n = &wc->n[e->slot][d];

			/* Only this worker writes the counter; readers sum. */
			__atomic_store_n(n, *n + 1, __ATOMIC_RELAXED);
		}
		if (d == KPG_DECISION_NONE)
			continue;
		out.detail[KPG_DETAIL_MAX - 1] = '\0';
		kpg_verdict_put(vs, e->name, (enum kpg_decision)d, out.reason,
				out.detail);
	}
}

void kpg_chain_commit(const struct kpg_chain *c,
		      const struct kpg_scan_view *scan,
		      enum kpg_decision overall)
{
	if (c == NULL)
		return;
	for (unsigned i = 0; i < c->n; i++) {
		const struct kpg_chain_entry *e = &c->e[i];

		if (e->commit)
			e->commit(e->instance, e->state, scan, overall);
	}
}
