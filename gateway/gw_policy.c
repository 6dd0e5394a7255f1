/* gw_policy.c — plugin host, chain build, RCU swap; see gw_policy.h. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <libconfig.h>

#include "gw_log.h"
#include "gw_policy.h"
#include "gw_trust.h"

#ifndef KPG_PLUGIN_INSTALL_DIR
#define KPG_PLUGIN_INSTALL_DIR "/usr/local/lib/kpgate/plugins"
#endif

/* Without a plugins list a gateway still checks dates and, once it knows
 * its jurisdiction, KP status and the importing participant. */
static const char default_chain[] =
	"plugins = ( { name = \"validity\"; }, { name = \"participant\"; } );";
static const char default_chain_no_jurisdiction[] =
	"plugins = ( { name = \"validity\"; } );";

struct kpg_chain *gw_policy_chain;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const struct gw_config *conf;
static struct kpg_plugin_host *host;
static char build_dir[PATH_MAX];        /* plugins beside a build-tree kpgate */

/* Builds a chain from the config file (or the default list); caller holds
 * the lock. */
static struct kpg_chain *build(char *err, size_t errlen)
{
	struct kpg_chain *chain = NULL;
	config_t cf;
	int ok;

	config_init(&cf);
	config_set_include_dir(&cf, conf->dir);
	if (conf->file[0] && conf->has_plugins)
		ok = config_read_file(&cf, conf->file);
	else
		ok = config_read_string(&cf, conf->jurisdiction[0] ? default_chain
					: default_chain_no_jurisdiction);
	if (!ok) {
		snprintf(err, errlen, "%.300s:%d: %.150s",
			 config_error_file(&cf) ? config_error_file(&cf) : conf->file,
			 config_error_line(&cf), config_error_text(&cf));
	} else {
		const config_setting_t *list = config_lookup(&cf, "plugins");

		if (list == NULL || !config_setting_is_list(list))
			snprintf(err, errlen, "%.300s: 'plugins' is no longer a list", conf->file);
		else
			chain = kpg_chain_build(host, list, err, errlen);
	}
	config_destroy(&cf);
	return chain;
}

static void log_chain(const char *what, const struct kpg_chain *c)
{
	char names[512] = "";
	size_t n = 0;

	for (unsigned i = 0; i < kpg_chain_length(c) && n < sizeof(names); i++)
		n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s",
				      i ? ", " : "", kpg_chain_name(c, i));
	GW_LOG(INFO, "policy chain %s: %s\n", what, n ? names : "(empty)");
}

int gw_policy_init(const struct gw_config *c, unsigned workers)
{
	const char *dirs[4];
	unsigned nd = 0;
	char exe[PATH_MAX], err[512];
	ssize_t n;

	conf = c;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		snprintf(build_dir, sizeof(build_dir), "%s/../plugins", dirname(exe));
	}
	if (c->plugin_dir[0])
		dirs[nd++] = c->plugin_dir;
	if (build_dir[0])
		dirs[nd++] = build_dir;
	dirs[nd++] = KPG_PLUGIN_INSTALL_DIR;
	dirs[nd] = NULL;

	struct kpg_plugin_host_conf hc = {
		.workers = workers,
		.checkpoint = c->checkpoint,
		.jurisdiction = c->jurisdiction,
		.config_dir = c->dir,
		.state_dir = c->state_dir,
		.search_dirs = dirs,
	};
	host = kpg_plugin_host_new(&hc);
	if (host == NULL) {
		GW_LOG(ERR, "cannot create the plugin host\n");
		return -ENOMEM;
	}
	gw_policy_chain = build(err, sizeof(err));
	if (gw_policy_chain == NULL) {
		GW_LOG(ERR, "policy chain refused: %s\n", err);
		kpg_plugin_host_delete(host);
		host = NULL;
		return -EINVAL;
	}
	log_chain("in force", gw_policy_chain);
	if (!c->has_plugins && !c->jurisdiction[0])
		GW_LOG(WARNING, "no jurisdiction configured: the default chain "
		       "leaves out the participant plugin (KP status, importer)\n");
	return 0;
}

void gw_policy_fini(void)
{
	pthread_mutex_lock(&lock);
	kpg_chain_delete(gw_policy_chain);
	gw_policy_chain = NULL;
	kpg_plugin_host_delete(host);
	host = NULL;
	pthread_mutex_unlock(&lock);
}

int gw_policy_reload(int self_slot, char *msg, size_t len)
{
	struct kpg_chain *next, *old;
	char err[512];

	if (pthread_mutex_trylock(&lock) != 0) {
		snprintf(msg, len, "a reload is already under way");
		return -EBUSY;
	}
	next = build(err, sizeof(err));
	if (next == NULL) {
		snprintf(msg, len, "plugins refused: %s", err);
		GW_LOG(WARNING, "%s; the chain in force stays\n", msg);
		pthread_mutex_unlock(&lock);
		return -EINVAL;
	}
	old = gw_policy_chain;
	__atomic_store_n(&gw_policy_chain, next, __ATOMIC_RELEASE);
	/* Old states go only once every worker has left them. */
	rte_rcu_qsbr_synchronize(gw_trust_qsbr, self_slot < 0 ?
				 RTE_QSBR_THRID_INVALID : (unsigned)self_slot);
	kpg_chain_delete(old);
	snprintf(msg, len, "plugins loaded: %u in the chain", kpg_chain_length(next));
	log_chain("reloaded", next);
	pthread_mutex_unlock(&lock);
	return 0;
}

void gw_policy_foreach(void (*fn)(void *arg, const char *name, int position,
				  const struct kpg_plugin_counts *counts),
		       void *arg)
{
	pthread_mutex_lock(&lock);
	for (unsigned i = 0; host && i < kpg_plugin_host_count(host); i++) {
		const char *name = kpg_plugin_host_name(host, i);
		struct kpg_plugin_counts c;
		int pos = -1;

		for (unsigned k = 0; gw_policy_chain && k < kpg_chain_length(gw_policy_chain); k++)
			if (strcmp(kpg_chain_name(gw_policy_chain, k), name) == 0)
				pos = (int)k;
		kpg_plugin_host_counts(host, i, &c);
		fn(arg, name, pos, &c);      /* may call gw_policy_plugin_stats() */
	}
	pthread_mutex_unlock(&lock);
}

void gw_policy_plugin_stats(const char *name,
			    void (*emit)(void *arg, const char *name, uint64_t value),
			    void *arg)
{
	/* Called from within gw_policy_foreach, which holds the lock. */
	for (unsigned i = 0; host && i < kpg_plugin_host_count(host); i++)
		if (strcmp(kpg_plugin_host_name(host, i), name) == 0)
			kpg_plugin_host_stats(host, i, emit, arg);
}
