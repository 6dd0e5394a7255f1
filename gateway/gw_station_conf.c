/* gw_station_conf.c — `station_policy` and `stations` -> struct
 * gw_station_conf; see gw_station_conf.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "gw_conf_read.h"
#include "gw_station_conf.h"

/* Errors and relative paths go as everywhere in the config. */
struct ctx {
	struct gw_conf_ctx c;
};

/* A string setting that must be one of words; its index in *out. */
static int get_word(struct ctx *x, const config_setting_t *g, const char *name,
		    const char *const *words, int *out)
{
	const config_setting_t *s = config_setting_get_member(g, name);
	const char *v;

	if (s == NULL)
		return 0;
	v = config_setting_type(s) == CONFIG_TYPE_STRING ?
	    config_setting_get_string(s) : NULL;
	for (int i = 0; v && words[i]; i++)
		if (strcmp(v, words[i]) == 0) {
			*out = i;
			return 0;
		}
	return gw_conf_fail(&x->c, s, "'%s' must be \"%s\" or \"%s\"%s%s%s", name, words[0],
		    words[1], words[2] ? " or \"" : "", words[2] ? words[2] : "",
		    words[2] ? "\"" : "");
}

/* Same order as enum kpg_hmac_mode. */
static const char *const hmac_words[] = { "required", "optional", "off", NULL };

static int parse_policy(struct ctx *x, const config_setting_t *g,
			struct gw_station_conf *c, struct kpg_station_conf *dflt)
{
	static const char *const keys[] = { "hmac", "unknown", "rate", "burst",
		"unknown_rate", "unknown_burst", "replay_entries", NULL };
	static const char *const unknown_words[] = { "refuse", "serve", NULL };
	int hmac = (int)dflt->hmac, unknown = c->t.allow_unknown;
	int rc;

	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return gw_conf_fail(&x->c, g, "'station_policy' must be a group { ... }");
	if ((rc = gw_conf_only_keys(&x->c, g, "station_policy", keys)) ||
	    (rc = get_word(x, g, "hmac", hmac_words, &hmac)) ||
	    (rc = get_word(x, g, "unknown", unknown_words, &unknown)) ||
	    (rc = gw_conf_u32(&x->c, g, "rate", 1, KPG_STATION_RATE_MAX, &dflt->rate)) ||
	    (rc = gw_conf_u32(&x->c, g, "burst", 1, KPG_STATION_RATE_MAX, &dflt->burst)) ||
	    (rc = gw_conf_u32(&x->c, g, "unknown_rate", 1, KPG_STATION_RATE_MAX,
			  &c->t.unknown_rate)) ||
	    (rc = gw_conf_u32(&x->c, g, "unknown_burst", 1, KPG_STATION_RATE_MAX,
			  &c->t.unknown_burst)) ||
	    (rc = gw_conf_u32(&x->c, g, "replay_entries", 64, 1u << 24, &c->replay_entries)))
		return rc;
	dflt->hmac = (enum kpg_hmac_mode)hmac;
	c->t.allow_unknown = unknown == 1;
	return 0;
}

static int parse_addresses(struct ctx *x, const config_setting_t *l,
			   struct kpg_station_conf *sc)
{
	int n = config_setting_length(l);

	if (config_setting_type(l) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(l) != CONFIG_TYPE_LIST)
		return gw_conf_fail(&x->c, l, "'addresses' must be an array of strings [ ... ]");
	if (n < 1 || n > (int)KPG_STATION_ADDRS_MAX)
		return gw_conf_fail(&x->c, l, "'addresses' must list 1 to %u addresses",
			    KPG_STATION_ADDRS_MAX);
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(l, (unsigned)i);
		const char *v = config_setting_type(s) == CONFIG_TYPE_STRING ?
				config_setting_get_string(s) : "";
		struct kpg_addr *a = &sc->addrs[i];

		if (inet_pton(AF_INET, v, a->a) == 1)
			a->family = 4;
		else if (inet_pton(AF_INET6, v, a->a) == 1)
			a->family = 6;
		else
			return gw_conf_fail(&x->c, l, "'%s' is not an IPv4 or IPv6 address", v);
	}
	sc->n_addrs = (unsigned)n;
	return 0;
}

static int parse_key(struct ctx *x, const config_setting_t *g,
		     struct kpg_station_conf *sc)
{
	const config_setting_t *hex = config_setting_get_member(g, "key");
	const config_setting_t *file = config_setting_get_member(g, "key_file");
	char path[4096], why[512];

	if (hex && file)
		return gw_conf_fail(&x->c, file, "give 'key' or 'key_file', not both");
	if (hex) {
		if (config_setting_type(hex) != CONFIG_TYPE_STRING ||
		    kpg_hmac_key_parse(config_setting_get_string(hex), sc->key) < 0)
			return gw_conf_fail(&x->c, hex, "'key' must be %u hex digits",
				    2 * KPG_HMAC_KEY_LEN);
		sc->has_key = true;
	} else if (file) {
		const char *v = config_setting_type(file) == CONFIG_TYPE_STRING ?
				config_setting_get_string(file) : "";

		if (v[0] == '\0')
			return gw_conf_fail(&x->c, file, "'key_file' must name a file");
		if (snprintf(path, sizeof(path), "%s%s%s", v[0] == '/' ? "" : x->c.dir,
			     v[0] == '/' ? "" : "/", v) >= (int)sizeof(path))
			return gw_conf_fail(&x->c, file, "'key_file' is too long");
		if (kpg_hmac_key_read(path, sc->key, why, sizeof(why)) < 0)
			return gw_conf_fail(&x->c, file, "%s", why);
		sc->has_key = true;
	}
	return 0;
}

static int parse_station(struct ctx *x, const config_setting_t *g,
			 const struct kpg_station_conf *dflt,
			 struct kpg_station_conf *sc, char *id)
{
	static const char *const keys[] = { "id", "key", "key_file", "hmac",
		"rate", "burst", "addresses", NULL };
	const config_setting_t *s;
	int hmac, rc;
	char why[256];

	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return gw_conf_fail(&x->c, g, "each station must be a group { id = ...; ... }");
	if ((rc = gw_conf_only_keys(&x->c, g, "a station", keys)))
		return rc;
	s = config_setting_get_member(g, "id");
	if (s == NULL || config_setting_type(s) != CONFIG_TYPE_STRING)
		return gw_conf_fail(&x->c, s ? s : g, "a station needs 'id', a string");
	snprintf(id, KPG_STATION_ID_MAX + 1, "%s", config_setting_get_string(s));
	*sc = *dflt;
	/* a too-long id is cut here, and refused below by the full one */
	sc->id = strlen(config_setting_get_string(s)) > KPG_STATION_ID_MAX ?
		 config_setting_get_string(s) : id;
	hmac = (int)sc->hmac;
	if ((rc = get_word(x, g, "hmac", hmac_words, &hmac)) ||
	    (rc = gw_conf_u32(&x->c, g, "rate", 1, KPG_STATION_RATE_MAX, &sc->rate)) ||
	    (rc = gw_conf_u32(&x->c, g, "burst", 1, KPG_STATION_RATE_MAX, &sc->burst)) ||
	    (rc = parse_key(x, g, sc)))
		return rc;
	sc->hmac = (enum kpg_hmac_mode)hmac;
	s = config_setting_get_member(g, "addresses");
	if (s && (rc = parse_addresses(x, s, sc)))
		return rc;
	if (kpg_station_conf_check(sc, why, sizeof(why)) < 0)
		return gw_conf_fail(&x->c, g, "%s", why);
	sc->id = id;
	return 0;
}

struct by_id {
	const char *id;
	const config_setting_t *s;
};

static int cmp_id(const void *a, const void *b)
{
	return strcmp(((const struct by_id *)a)->id, ((const struct by_id *)b)->id);
}

/* Sorted, so a thousand stations cost no quadratic scan. */
static int refuse_duplicates(struct ctx *x, const config_setting_t *l,
			     const struct gw_station_conf *c)
{
	struct by_id *v = calloc(c->t.n ? c->t.n : 1, sizeof(*v));
	int rc = 0;

	if (v == NULL)
		return gw_conf_fail(&x->c, l, "out of memory");
	for (unsigned i = 0; i < c->t.n; i++)
		v[i] = (struct by_id){ c->list[i].id, config_setting_get_elem(l, i) };
	qsort(v, c->t.n, sizeof(*v), cmp_id);
	for (unsigned i = 1; i < c->t.n && rc == 0; i++)
		if (strcmp(v[i - 1].id, v[i].id) == 0) {
			const config_setting_t *later =
				config_setting_source_line(v[i].s) >
				config_setting_source_line(v[i - 1].s) ? v[i].s : v[i - 1].s;

			rc = gw_conf_fail(&x->c, later, "station '%s' is listed twice", v[i].id);
		}
	free(v);
	return rc;
}

void gw_station_conf_free(struct gw_station_conf *c)
{
	if (c->list)
		memset(c->list, 0, c->t.n * sizeof(*c->list));   /* the keys */
	free(c->list);
	free(c->ids);
	c->list = NULL;
	c->ids = NULL;
	c->t.stations = NULL;
	c->t.n = 0;
}

int gw_station_conf_load(const char *file, const char *dir,
			 struct gw_station_conf *c, char *err, size_t errlen)
{
	struct ctx x = { .c = { .file = file, .dir = dir, .err = err, .errlen = errlen } };
	struct kpg_station_conf dflt = { .hmac = KPG_HMAC_REQUIRED, .rate = 100,
					 .burst = 200 };
	const config_setting_t *l, *g;
	config_t cf;
	int n, rc = 0;

	*c = (struct gw_station_conf){
		.replay_entries = GW_REPLAY_ENTRIES_DEFAULT,
		.t = { .unknown_rate = 20, .unknown_burst = 40 },
	};
	if (file == NULL || file[0] == '\0')
		return 0;
	rc = gw_conf_open(&cf, file, dir, err, errlen);
	if (rc != 0)
		goto out;
	g = config_lookup(&cf, "station_policy");
	if (g && (rc = parse_policy(&x, g, c, &dflt)))
		goto out;
	l = config_lookup(&cf, "stations");
	if (l == NULL) {
		if (g)
			rc = gw_conf_fail(&x.c, g, "'station_policy' without a 'stations' list");
		goto out;
	}
	if (!config_setting_is_list(l)) {
		rc = gw_conf_fail(&x.c, l, "'stations' must be a list ( { id = ...; }, ... )");
		goto out;
	}
	n = config_setting_length(l);
	if (n > (int)KPG_STATIONS_MAX) {
		rc = gw_conf_fail(&x.c, l, "more than %u stations", KPG_STATIONS_MAX);
		goto out;
	}
	c->configured = true;
	c->list = calloc(n ? (size_t)n : 1, sizeof(*c->list));
	c->ids = calloc(n ? (size_t)n : 1, sizeof(*c->ids));
	if (c->list == NULL || c->ids == NULL) {
		rc = gw_conf_fail(&x.c, l, "out of memory for %d stations", n);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		rc = parse_station(&x, config_setting_get_elem(l, (unsigned)i), &dflt,
				   &c->list[i], c->ids[i]);
		if (rc)
			goto out;
		c->t.n = (unsigned)i + 1;
	}
	c->t.stations = c->list;
	rc = refuse_duplicates(&x, l, c);
out:
	config_destroy(&cf);
	return rc;
}
