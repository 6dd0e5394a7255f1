/* kpgate-authority — the issuing side of kpgate: authority and anchor keys,
 * signed certificates from a JSON description, signed trust lists, key
 * revocation and retirement, and a JSON view of any of these files.
 * Exit status: 0 done, 1 refused (one line on stderr says why), 2 usage. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "kpgate.pb-c.h"
#include "kpg_cert.h"
#include "kpg_confirm.h"
#include "kpg_date.h"
#include "kpg_sign.h"
#include "kpg_trust.h"
#include "kpg_trust_build.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE   2
#define FILE_MAX     (16u << 20)

static const char usage_text[] =
	"usage: kpgate-authority COMMAND [OPTIONS]\n"
	"\n"
	"  keygen --alg ecdsa-p256|ed25519|rsa-pss --out PREFIX\n"
	"      writes PREFIX.key (PKCS#8 PEM, mode 0600) and PREFIX.pub (SPKI PEM),\n"
	"      prints the key id in hex (trust anchors are ed25519 keys)\n"
	"  issue --key AUTH.key --in cert.json --out cert.kpc\n"
	"      signs the certificate described in JSON; refuses one that would not\n"
	"      fit a scan request datagram\n"
	"  trustlist --anchor ANCHOR.key --in trust.json --out trust.kptl\n"
	"      builds and signs a trust list (key files relative to the JSON file)\n"
	"  revoke|retire --anchor ANCHOR.key --list in.kptl --key-id HEX\n"
	"                [--since TIME] [--next-update TIME] --out out.kptl\n"
	"      sets the key's status, raises the version by one and re-signs\n"
	"  show FILE\n"
	"      prints a certificate (.kpc) or trust list as JSON; signatures are\n"
	"      not checked\n"
	"  verify-confirmation --pub CHECKPOINT.pub FILE.kpic\n"
	"      checks a KP import confirmation against the checkpoint's public key\n"
	"      and prints it as JSON\n"
	"\n"
	"TIME is ISO 8601 UTC (2026-11-24T00:00:00Z) or Unix seconds.\n";

/* One refusal message, printed once by main(). */
static char why[1024];

static int refuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int refuse(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return -1;
}

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage(const char *fmt, ...)
{
	va_list ap;

	fputs("kpgate-authority: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}

static void hex(const uint8_t *b, size_t n, char *out, size_t cap)
{
	sodium_bin2hex(out, cap, b, n);
}

/* --- times and numbers ---------------------------------------------------- */

static int parse_time_str(const char *s, int64_t *out)
{
	int y, mo, d, h, mi, sec, end = 0;
	char *e;

	if (*s >= '0' && *s <= '9' && strchr(s, '-') == NULL) {
		errno = 0;
		long long v = strtoll(s, &e, 10);
		if (errno != 0 || *e != '\0')
			return -1;
		*out = v;
		return 0;
	}
	if (strlen(s) != 20 ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &sec,
		   &end) != 6 || end != 20 || h > 23 || mi > 59 || sec > 59 ||
	    h < 0 || mi < 0 || sec < 0)
		return -1;
	uint32_t date = (uint32_t)(y * 10000 + mo * 100 + d);
	if (y < 0 || mo < 0 || d < 0 || !kpg_date_valid(date))
		return -1;
	*out = kpg_date_to_unix(date) + h * 3600 + mi * 60 + sec;
	return 0;
}

static void format_time(int64_t t, char *out, size_t cap)
{
	uint32_t d = kpg_date_from_unix(t);

	if (d == 0) {
		snprintf(out, cap, "%" PRId64, t);
		return;
	}
	int64_t s = t - kpg_date_to_unix(d);
	snprintf(out, cap, "%04u-%02u-%02uT%02d:%02d:%02dZ", d / 10000,
		 d / 100 % 100, d % 100, (int)(s / 3600), (int)(s / 60 % 60),
		 (int)(s % 60));
}

/* "YYYY-MM-DD" -> YYYYMMDD. */
static int parse_date(const char *s, uint32_t *out)
{
	int y, m, d, end = 0;

	if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &end) != 3 ||
	    end != 10 || y < 0 || m < 0 || d < 0)
		return -1;
	*out = (uint32_t)(y * 10000 + m * 100 + d);
	return kpg_date_valid(*out) ? 0 : -1;
}

/* A non-negative decimal with at most two decimals, in hundredths:
 * "123.45" -> 12345. Money and carats never pass through a double. */
static int parse_centi(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	int frac = -1;

	if (*s == '\0')
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p == '.') {
			if (frac >= 0 || p == s || p[1] == '\0')
				return -1;
			frac = 0;
			continue;
		}
		if (*p < '0' || *p > '9' || frac == 2)
			return -1;
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
		if (frac >= 0)
			frac++;
	}
	for (int i = frac < 0 ? 0 : frac; i < 2; i++) {
		if (v > UINT64_MAX / 10)
			return -1;
		v *= 10;
	}
	*out = v;
	return 0;
}

static void format_centi(uint64_t v, char *out, size_t cap)
{
	snprintf(out, cap, "%" PRIu64 ".%02u", v / 100, (unsigned)(v % 100));
}

/* --- strict JSON reading -------------------------------------------------- */

static json_t *load_json(const char *path)
{
	json_error_t je;
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);

	if (j == NULL)
		refuse("%s:%d: %s", path, je.line, je.text);
	else if (!json_is_object(j)) {
		refuse("%s: top level is not a JSON object", path);
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* Refuses a key of obj not in allowed: a misspelt optional field must not
 * be silently dropped from a signed document. */
static int only_keys(json_t *obj, const char *path, const char *const *allowed)
{
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v) {
		const char *const *a;

		for (a = allowed; *a; a++)
			if (strcmp(*a, k) == 0)
				break;
		if (*a == NULL)
			return refuse("%s%s%s: unknown key", path, *path ? "." : "", k);
	}
	return 0;
}

static int get_obj(json_t *o, const char *path, const char *key, json_t **out)
{
	*out = json_object_get(o, key);
	if (*out == NULL)
		return refuse("%s%s%s: missing", path, *path ? "." : "", key);
	if (!json_is_object(*out))
		return refuse("%s%s%s: not an object", path, *path ? "." : "", key);
	return 0;
}

/* A string no longer than KPG_STR_MAX - 1; *out stays NULL when optional
 * and absent. jansson has already refused invalid UTF-8 and NUL. */
static int get_str(json_t *o, const char *path, const char *key, bool required,
		   const char **out)
{
	json_t *v = json_object_get(o, key);
	const char *sep = *path ? "." : "";

	*out = NULL;
	if (v == NULL)
		return required ? refuse("%s%s%s: missing", path, sep, key) : 0;
	if (!json_is_string(v))
		return refuse("%s%s%s: not a string", path, sep, key);
	if (json_string_length(v) == 0)
		return refuse("%s%s%s: empty", path, sep, key);
	if (json_string_length(v) >= KPG_STR_MAX)
		return refuse("%s%s%s: longer than %u bytes", path, sep, key,
			      KPG_STR_MAX - 1);
	*out = json_string_value(v);
	return 0;
}

static int get_code(json_t *o, const char *path, const char *key, const char **out)
{
	if (get_str(o, path, key, true, out) < 0)
		return -1;
	if (!kpg_participant_code_valid(*out, strlen(*out)))
		return refuse("%s%s%s: \"%s\" is not a participant code (two upper-case letters)",
			      path, *path ? "." : "", key, *out);
	return 0;
}

static int get_time(json_t *o, const char *path, const char *key, bool required,
		    int64_t *out)
{
	json_t *v = json_object_get(o, key);
	const char *sep = *path ? "." : "";

	*out = 0;
	if (v == NULL)
		return required ? refuse("%s%s%s: missing", path, sep, key) : 0;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v) || parse_time_str(json_string_value(v), out) < 0)
		return refuse("%s%s%s: not a time (ISO 8601 UTC like 2026-11-24T00:00:00Z, or Unix seconds)",
			      path, sep, key);
	return 0;
}

static int get_uint(json_t *o, const char *path, const char *key, uint64_t min,
		    uint64_t max, uint64_t *out)
{
	json_t *v = json_object_get(o, key);
	const char *sep = *path ? "." : "";

	if (v == NULL)
		return refuse("%s%s%s: missing", path, sep, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) < min ||
	    (uint64_t)json_integer_value(v) > max)
		return refuse("%s%s%s: not an integer in %" PRIu64 "..%" PRIu64,
			      path, sep, key, min, max);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int get_array(json_t *o, const char *path, const char *key, json_t **out)
{
	*out = json_object_get(o, key);
	if (*out == NULL)
		return 0;
	if (!json_is_array(*out))
		return refuse("%s%s%s: not an array", path, *path ? "." : "", key);
	return 0;
}

/* --- certificates --------------------------------------------------------- */

struct cert_build {
	Kpgate__Certificate c;
	Kpgate__Party exporter, importer;
	Kpgate__Origin *origins, **op;
	Kpgate__HsLine *lines, **lp;
	char **seals;
};

static void cert_build_free(struct cert_build *b)
{
	free(b->origins);
	free(b->op);
	free(b->lines);
	free(b->lp);
	free(b->seals);
}

static int party_from_json(json_t *root, const char *key, Kpgate__Party *p)
{
	static const char *const keys[] = { "name", "address", "identifier", NULL };
	json_t *o;

	kpgate__party__init(p);
	if (get_obj(root, "", key, &o) < 0 || only_keys(o, key, keys) < 0 ||
	    get_str(o, key, "name", true, (const char **)&p->name) < 0 ||
	    get_str(o, key, "address", false, (const char **)&p->address) < 0 ||
	    get_str(o, key, "identifier", false, (const char **)&p->identifier) < 0)
		return -1;
	return 0;
}

static const struct {
	const char *name;
	Kpgate__HsCode code;
} hs_codes[] = {
	{ "7102.10", KPGATE__HS_CODE__HS_7102_10 },
	{ "7102.21", KPGATE__HS_CODE__HS_7102_21 },
	{ "7102.31", KPGATE__HS_CODE__HS_7102_31 },
};

static const char *hs_name(Kpgate__HsCode c)
{
	for (size_t i = 0; i < sizeof(hs_codes) / sizeof(hs_codes[0]); i++)
		if (hs_codes[i].code == c)
			return hs_codes[i].name;
	return "unknown";
}

static int lines_from_json(json_t *arr, struct cert_build *b)
{
	static const char *const keys[] = { "hs", "carats", "value_usd", NULL };
	size_t n = json_array_size(arr);
	char path[64];
	json_t *o;
	size_t i;

	if (arr == NULL || n == 0)
		return refuse("lines: at least one HS line is required");
	b->lines = calloc(n, sizeof(*b->lines));
	b->lp = calloc(n, sizeof(*b->lp));
	if (b->lines == NULL || b->lp == NULL)
		return refuse("out of memory");
	json_array_foreach(arr, i, o) {
		Kpgate__HsLine *l = &b->lines[i];
		const char *hs, *carats, *value;
		size_t h;

		snprintf(path, sizeof(path), "lines[%zu]", i);
		if (!json_is_object(o))
			return refuse("%s: not an object", path);
		kpgate__hs_line__init(l);
		if (only_keys(o, path, keys) < 0 ||
		    get_str(o, path, "hs", true, &hs) < 0 ||
		    get_str(o, path, "carats", true, &carats) < 0 ||
		    get_str(o, path, "value_usd", true, &value) < 0)
			return -1;
		for (h = 0; h < sizeof(hs_codes) / sizeof(hs_codes[0]); h++)
			if (strcmp(hs, hs_codes[h].name) == 0)
				break;
		if (h == sizeof(hs_codes) / sizeof(hs_codes[0]))
			return refuse("%s.hs: \"%s\" is not a KP HS code (7102.10, 7102.21 or 7102.31)",
				      path, hs);
		l->hs_code = hs_codes[h].code;
		if (parse_centi(carats, &l->carats_centi) < 0 || l->carats_centi == 0)
			return refuse("%s.carats: \"%s\" is not a positive decimal with at most 2 decimals",
				      path, carats);
		if (parse_centi(value, &l->value_usd_cents) < 0)
			return refuse("%s.value_usd: \"%s\" is not a decimal amount with at most 2 decimals",
				      path, value);
		b->lp[i] = l;
	}
	b->c.n_lines = n;
	b->c.lines = b->lp;
	return 0;
}

static int origins_from_json(json_t *arr, struct cert_build *b)
{
	static const char *const keys[] = { "country", "zone", NULL };
	size_t n = json_array_size(arr);
	char path[64];
	json_t *o;
	size_t i;

	b->origins = calloc(n + 1, sizeof(*b->origins));
	b->op = calloc(n + 1, sizeof(*b->op));
	if (b->origins == NULL || b->op == NULL)
		return refuse("out of memory");
	json_array_foreach(arr, i, o) {
		Kpgate__Origin *g = &b->origins[i];

		snprintf(path, sizeof(path), "origins[%zu]", i);
		if (!json_is_object(o))
			return refuse("%s: not an object", path);
		kpgate__origin__init(g);
		if (only_keys(o, path, keys) < 0 ||
		    get_code(o, path, "country", (const char **)&g->country) < 0 ||
		    get_str(o, path, "zone", false, (const char **)&g->zone) < 0)
			return -1;
		b->op[i] = g;
	}
	b->c.n_origins = n;
	b->c.origins = b->op;
	return 0;
}

static int seals_from_json(json_t *arr, struct cert_build *b)
{
	size_t n = json_array_size(arr);
	json_t *v;
	size_t i;

	b->seals = calloc(n + 1, sizeof(*b->seals));
	if (b->seals == NULL)
		return refuse("out of memory");
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) >= KPG_STR_MAX)
			return refuse("container_seals[%zu]: not a non-empty string under %u bytes",
				      i, KPG_STR_MAX);
		b->seals[i] = (char *)json_string_value(v);
	}
	b->c.n_container_seals = n;
	b->c.container_seals = b->seals;
	return 0;
}

/* Fills b from the JSON description; strings point into root. */
static int cert_from_json(json_t *root, struct cert_build *b)
{
	static const char *const keys[] = {
		"number", "issuing_participant", "issuing_authority", "exporter",
		"importer", "importing_participant", "mixed_origin", "origins",
		"lines", "parcels", "issue_date", "expiry_date",
		"container_seals", "traceability_ref", NULL,
	};
	Kpgate__Certificate *c = &b->c;
	json_t *origins, *lines, *seals, *mixed;
	const char *issue, *expiry;
	uint64_t parcels;

	kpgate__certificate__init(c);
	if (only_keys(root, "", keys) < 0 ||
	    get_str(root, "", "number", true, (const char **)&c->number) < 0 ||
	    get_code(root, "", "issuing_participant", (const char **)&c->issuing_participant) < 0 ||
	    get_str(root, "", "issuing_authority", true, (const char **)&c->issuing_authority) < 0 ||
	    party_from_json(root, "exporter", &b->exporter) < 0 ||
	    party_from_json(root, "importer", &b->importer) < 0 ||
	    get_code(root, "", "importing_participant", (const char **)&c->importing_participant) < 0 ||
	    get_array(root, "", "origins", &origins) < 0 ||
	    get_array(root, "", "lines", &lines) < 0 ||
	    get_array(root, "", "container_seals", &seals) < 0 ||
	    get_uint(root, "", "parcels", 1, UINT32_MAX, &parcels) < 0 ||
	    get_str(root, "", "issue_date", true, &issue) < 0 ||
	    get_str(root, "", "expiry_date", true, &expiry) < 0 ||
	    get_str(root, "", "traceability_ref", false, (const char **)&c->traceability_ref) < 0)
		return -1;
	c->exporter = &b->exporter;
	c->importer = &b->importer;
	c->parcels = (uint32_t)parcels;
	/* The number carries its issuer's code (KPCS Annex I). */
	size_t pl = strlen(c->issuing_participant);
	if (strncmp(c->number, c->issuing_participant, pl) != 0 || c->number[pl] != '-')
		return refuse("number: \"%s\" does not start with the issuing participant code \"%s-\"",
			      c->number, c->issuing_participant);
	mixed = json_object_get(root, "mixed_origin");
	if (mixed != NULL && !json_is_boolean(mixed))
		return refuse("mixed_origin: not true or false");
	c->mixed_origin = mixed != NULL && json_is_true(mixed);
	if (origins_from_json(origins, b) < 0 || lines_from_json(lines, b) < 0 ||
	    seals_from_json(seals, b) < 0)
		return -1;
	if (!c->mixed_origin && c->n_origins != 1)
		return refuse("origins: exactly one country is required unless mixed_origin is true");
	if (parse_date(issue, &c->issue_date) < 0)
		return refuse("issue_date: \"%s\" is not a date YYYY-MM-DD", issue);
	if (parse_date(expiry, &c->expiry_date) < 0)
		return refuse("expiry_date: \"%s\" is not a date YYYY-MM-DD", expiry);
	if (c->expiry_date < c->issue_date)
		return refuse("expiry_date: %s is before issue_date %s", expiry, issue);
	return 0;
}

static int cmd_issue(const char *key, const char *in, const char *out)
{
	struct cert_build b = { 0 };
	struct kpg_signer *s = NULL;
	json_t *root = NULL;
	uint8_t *sc = NULL;
	size_t len;
	char err[512];
	int rc = -1;

	s = kpg_signer_load(key, err, sizeof(err));
	if (s == NULL) {
		refuse("%s: %s", key, err);
		goto out;
	}
	root = load_json(in);
	if (root == NULL)
		goto out;
	if (cert_from_json(root, &b) < 0) {
		char tmp[sizeof(why)];

		snprintf(tmp, sizeof(tmp), "%s", why);
		refuse("%s: %s", in, tmp);
		goto out;
	}
	if (kpg_signed_cert_issue(s, &b.c, &sc, &len, err, sizeof(err)) < 0) {
		refuse("%s: %s", in, err);
		goto out;
	}
	rc = kpg_file_write(out, sc, len, 0644);
	if (rc < 0) {
		refuse("%s: cannot write: %s", out, strerror(-rc));
		goto out;
	}
	rc = 0;
out:
	free(sc);
	cert_build_free(&b);
	json_decref(root);
	if (s != NULL)
		kpg_signer_delete(s);
	return rc;
}

/* --- trust lists ---------------------------------------------------------- */

static const char *const key_status_names[] = { NULL, "active", "retired", "revoked" };
static const char *const part_status_names[] = { NULL, "member", "suspended", "restricted" };

static int name_index(const char *const *names, unsigned n, const char *s)
{
	for (unsigned i = 1; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

static int key_from_json(json_t *o, const char *path, const char *dir,
			 struct kpg_tlist_desc *d)
{
	static const char *const keys[] = {
		"pub", "alg", "participant", "authority", "not_before",
		"not_after", "status", "status_since", NULL,
	};
	struct kpg_tlist_key k = { 0 };
	const char *pub, *alg, *part, *auth, *status = NULL;
	char file[4096];
	int n;

	if (!json_is_object(o))
		return refuse("%s: not an object", path);
	if (only_keys(o, path, keys) < 0 ||
	    get_str(o, path, "pub", true, &pub) < 0 ||
	    get_str(o, path, "alg", true, &alg) < 0 ||
	    get_code(o, path, "participant", &part) < 0 ||
	    get_str(o, path, "authority", true, &auth) < 0 ||
	    get_time(o, path, "not_before", true, &k.not_before) < 0 ||
	    get_time(o, path, "not_after", true, &k.not_after) < 0 ||
	    get_str(o, path, "status", false, &status) < 0 ||
	    get_time(o, path, "status_since", false, &k.status_since) < 0)
		return -1;
	k.alg = kpg_alg_from_name(alg);
	if (k.alg == KPG_ALG_NONE)
		return refuse("%s.alg: \"%s\" is not ecdsa-p256, ed25519 or rsa-pss", path, alg);
	n = status ? name_index(key_status_names, 4, status) : KPG_KEY_ACTIVE;
	if (n < 0)
		return refuse("%s.status: \"%s\" is not active, retired or revoked", path, status);
	k.status = (enum kpg_key_status)n;
	if (k.status == KPG_KEY_ACTIVE && k.status_since != 0)
		return refuse("%s.status_since: an active key has no status_since", path);
	if (k.status != KPG_KEY_ACTIVE && k.status_since == 0)
		return refuse("%s.status_since: required for a %s key", path, status);
	memcpy(k.participant, part, 3);
	snprintf(k.authority, sizeof(k.authority), "%s", auth);
	if (pub[0] == '/')
		snprintf(file, sizeof(file), "%s", pub);
	else
		snprintf(file, sizeof(file), "%s/%s", dir, pub);
	n = kpg_spki_read_pem(file, k.spki, sizeof(k.spki));
	if (n < 0)
		return refuse("%s.pub: %s: cannot read a PEM public key: %s", path,
			      file, strerror(-n));
	k.spki_len = (size_t)n;
	kpg_key_id(k.spki, k.spki_len, k.key_id);
	k.key_id_set = true;
	if (kpg_tlist_find_key(d, k.key_id) >= 0)
		return refuse("%s.pub: %s is listed twice", path, file);
	if (kpg_tlist_add_key(d, &k) < 0)
		return refuse("out of memory");
	return 0;
}

static int list_from_json(json_t *root, const char *dir, struct kpg_tlist_desc *d)
{
	static const char *const keys[] = {
		"version", "issued_at", "next_update", "keys", "participants", NULL,
	};
	static const char *const pkeys[] = { "code", "status", NULL };
	json_t *arr, *o;
	char path[64];
	size_t i;

	memset(d, 0, sizeof(*d));
	if (only_keys(root, "", keys) < 0 ||
	    get_uint(root, "", "version", 1, INT64_MAX, &d->version) < 0 ||
	    get_time(root, "", "issued_at", true, &d->issued_at) < 0 ||
	    get_time(root, "", "next_update", true, &d->next_update) < 0 ||
	    get_array(root, "", "keys", &arr) < 0)
		return -1;
	json_array_foreach(arr, i, o) {
		snprintf(path, sizeof(path), "keys[%zu]", i);
		if (key_from_json(o, path, dir, d) < 0)
			return -1;
	}
	if (get_array(root, "", "participants", &arr) < 0)
		return -1;
	json_array_foreach(arr, i, o) {
		const char *code, *status;
		int st;

		snprintf(path, sizeof(path), "participants[%zu]", i);
		if (!json_is_object(o))
			return refuse("%s: not an object", path);
		if (only_keys(o, path, pkeys) < 0 ||
		    get_code(o, path, "code", &code) < 0 ||
		    get_str(o, path, "status", true, &status) < 0)
			return -1;
		st = name_index(part_status_names, 4, status);
		if (st < 0)
			return refuse("%s.status: \"%s\" is not member, suspended or restricted",
				      path, status);
		for (unsigned j = 0; j < d->n_participants; j++)
			if (strcmp(d->participants[j].code, code) == 0)
				return refuse("%s.code: %s is listed twice", path, code);
		if (kpg_tlist_add_participant(d, code, (enum kpg_participant_status)st) < 0)
			return refuse("out of memory");
	}
	return 0;
}

/* Signs d and checks the result exactly as a gateway would on the day it
 * is issued, so the authority never publishes a list gateways refuse. */
static int sign_and_write(const struct kpg_signer *anchor,
			  const struct kpg_tlist_desc *d, const char *out)
{
	struct kpg_anchors a;
	struct kpg_trust_opts o = { .anchors = &a, .now = d->issued_at };
	struct kpg_trust *t = NULL;
	uint8_t *buf = NULL;
	size_t len;
	char err[512];
	int rc;

	if (kpg_tlist_anchor_of(anchor, &a, err, sizeof(err)) < 0)
		return refuse("anchor key: %s", err);
	if (d->next_update <= d->issued_at) {
		char nu[40], ia[40];

		format_time(d->next_update, nu, sizeof(nu));
		format_time(d->issued_at, ia, sizeof(ia));
		return refuse("next_update %s is not after issued_at %s (give a later next update)",
			      nu, ia);
	}
	rc = kpg_tlist_build(d, anchor, &buf, &len);
	if (rc < 0)
		return refuse("cannot build the trust list: %s", strerror(-rc));
	if (kpg_trust_parse(&o, buf, len, 0, &t, err, sizeof(err)) != KPG_TRUST_OK) {
		free(buf);
		return refuse("a gateway would refuse this list: %s", err);
	}
	kpg_trust_delete(t);
	rc = kpg_file_write(out, buf, len, 0644);
	free(buf);
	if (rc < 0)
		return refuse("%s: cannot write: %s", out, strerror(-rc));
	return 0;
}

static struct kpg_signer *load_anchor(const char *path)
{
	char err[512];
	struct kpg_signer *s = kpg_signer_load(path, err, sizeof(err));

	if (s == NULL) {
		refuse("%s: %s", path, err);
		return NULL;
	}
	if (kpg_signer_alg(s) != KPG_ALG_ED25519) {
		refuse("%s: a trust anchor must be an ed25519 key, not %s", path,
		       kpg_alg_name(kpg_signer_alg(s)));
		kpg_signer_delete(s);
		return NULL;
	}
	return s;
}

static int cmd_trustlist(const char *anchor_path, const char *in, const char *out)
{
	struct kpg_tlist_desc d = { 0 };
	struct kpg_signer *anchor;
	json_t *root = NULL;
	char *dcopy = NULL;
	int rc = -1;

	anchor = load_anchor(anchor_path);
	if (anchor == NULL)
		return -1;
	root = load_json(in);
	dcopy = strdup(in);
	if (root == NULL || dcopy == NULL)
		goto out;
	if (list_from_json(root, dirname(dcopy), &d) < 0) {
		char tmp[sizeof(why)];

		snprintf(tmp, sizeof(tmp), "%s", why);
		refuse("%s: %s", in, tmp);
		goto out;
	}
	rc = sign_and_write(anchor, &d, out);
out:
	kpg_tlist_desc_free(&d);
	free(dcopy);
	json_decref(root);
	kpg_signer_delete(anchor);
	return rc;
}

static int cmd_status(enum kpg_key_status st, const char *anchor_path,
		      const char *list, const char *key_hex, const char *since,
		      const char *next_update, const char *out)
{
	struct kpg_tlist_desc d = { 0 };
	struct kpg_signer *anchor = NULL;
	uint8_t id[KPG_KEY_ID_LEN], *buf = NULL;
	size_t len, bin_len = 0;
	int64_t now = (int64_t)time(NULL), when = now, next = 0;
	char err[512];
	int rc = -1, i;

	if (strlen(key_hex) != 2 * KPG_KEY_ID_LEN ||
	    sodium_hex2bin(id, sizeof(id), key_hex, strlen(key_hex), NULL,
			   &bin_len, NULL) != 0 || bin_len != KPG_KEY_ID_LEN)
		return refuse("--key-id: \"%s\" is not %u hex digits", key_hex,
			      2 * KPG_KEY_ID_LEN);
	if (since != NULL && parse_time_str(since, &when) < 0)
		return refuse("--since: \"%s\" is not a time", since);
	if (next_update != NULL && parse_time_str(next_update, &next) < 0)
		return refuse("--next-update: \"%s\" is not a time", next_update);
	anchor = load_anchor(anchor_path);
	if (anchor == NULL)
		return -1;
	rc = kpg_file_read(list, FILE_MAX, &buf, &len);
	if (rc < 0) {
		rc = refuse("%s: cannot read: %s", list, strerror(-rc));
		goto out;
	}
	rc = -1;
	if (kpg_tlist_read(buf, len, &d, NULL, err, sizeof(err)) < 0) {
		refuse("%s: %s", list, err);
		goto out;
	}
	i = kpg_tlist_find_key(&d, id);
	if (i < 0) {
		refuse("%s: no key %s in this list", list, key_hex);
		goto out;
	}
	if (d.keys[i].status == KPG_KEY_REVOKED || d.keys[i].status == st) {
		/* A revocation is final; doing it twice would move its date. */
		refuse("key %s is already %s", key_hex, key_status_names[d.keys[i].status]);
		goto out;
	}
	d.keys[i].status = st;
	d.keys[i].status_since = when;
	d.version++;
	d.issued_at = now;
	if (next_update != NULL)
		d.next_update = next;
	rc = sign_and_write(anchor, &d, out);
out:
	free(buf);
	kpg_tlist_desc_free(&d);
	kpg_signer_delete(anchor);
	return rc;
}

/* --- keygen ---------------------------------------------------------------- */

static int cmd_keygen(const char *alg_name, const char *prefix)
{
	enum kpg_alg alg = kpg_alg_from_name(alg_name);
	struct kpg_signer *s;
	uint8_t id[KPG_KEY_ID_LEN];
	char *key = NULL, *pub = NULL, h[2 * KPG_KEY_ID_LEN + 1];
	int rc;

	if (alg == KPG_ALG_NONE)
		return refuse("--alg: \"%s\" is not ecdsa-p256, ed25519 or rsa-pss", alg_name);
	s = kpg_signer_generate(alg, 0);
	if (s == NULL)
		return refuse("cannot generate a %s key", alg_name);
	if (asprintf(&key, "%s.key", prefix) < 0 || asprintf(&pub, "%s.pub", prefix) < 0) {
		rc = refuse("out of memory");
		goto out;
	}
	rc = kpg_signer_save(s, key, pub);
	if (rc < 0) {
		rc = refuse("cannot write %s / %s: %s", key, pub, strerror(-rc));
		goto out;
	}
	kpg_signer_key_id(s, id);
	hex(id, sizeof(id), h, sizeof(h));
	printf("%s\n", h);
out:
	free(key);
	free(pub);
	kpg_signer_delete(s);
	return rc;
}

/* --- show ------------------------------------------------------------------ */

static json_t *jstr(const char *s) { return json_string(s ? s : ""); }

static json_t *jhex(const uint8_t *b, size_t n)
{
	char *h = malloc(2 * n + 1);
	json_t *j;

	if (h == NULL)
		return NULL;
	hex(b, n, h, 2 * n + 1);
	j = json_string(h);
	free(h);
	return j;
}

static json_t *jtime(int64_t t)
{
	char buf[40];

	format_time(t, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *jdate(uint32_t d)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%04u-%02u-%02u", d / 10000, d / 100 % 100, d % 100);
	return json_string(buf);
}

static json_t *jcenti(uint64_t v)
{
	char buf[32];

	format_centi(v, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *jparty(const Kpgate__Party *p)
{
	json_t *o = json_object();

	json_object_set_new(o, "name", jstr(p->name));
	if (p->address)
		json_object_set_new(o, "address", jstr(p->address));
	if (p->identifier)
		json_object_set_new(o, "identifier", jstr(p->identifier));
	return o;
}

/* The same shape `issue` reads, so a shown certificate can be re-issued. */
static json_t *cert_to_json(const Kpgate__Certificate *c)
{
	json_t *o = json_object(), *a;

	json_object_set_new(o, "number", jstr(c->number));
	json_object_set_new(o, "issuing_participant", jstr(c->issuing_participant));
	json_object_set_new(o, "issuing_authority", jstr(c->issuing_authority));
	json_object_set_new(o, "exporter", jparty(c->exporter));
	json_object_set_new(o, "importer", jparty(c->importer));
	json_object_set_new(o, "importing_participant", jstr(c->importing_participant));
	json_object_set_new(o, "mixed_origin", json_boolean(c->mixed_origin));
	a = json_array();
	for (size_t i = 0; i < c->n_origins; i++) {
		json_t *g = json_object();

		json_object_set_new(g, "country", jstr(c->origins[i]->country));
		if (c->origins[i]->zone)
			json_object_set_new(g, "zone", jstr(c->origins[i]->zone));
		json_array_append_new(a, g);
	}
	json_object_set_new(o, "origins", a);
	a = json_array();
	for (size_t i = 0; i < c->n_lines; i++) {
		json_t *l = json_object();

		json_object_set_new(l, "hs", json_string(hs_name(c->lines[i]->hs_code)));
		json_object_set_new(l, "carats", jcenti(c->lines[i]->carats_centi));
		json_object_set_new(l, "value_usd", jcenti(c->lines[i]->value_usd_cents));
		json_array_append_new(a, l);
	}
	json_object_set_new(o, "lines", a);
	json_object_set_new(o, "parcels", json_integer(c->parcels));
	json_object_set_new(o, "issue_date", jdate(c->issue_date));
	json_object_set_new(o, "expiry_date", jdate(c->expiry_date));
	a = json_array();
	for (size_t i = 0; i < c->n_container_seals; i++)
		json_array_append_new(a, jstr(c->container_seals[i]));
	json_object_set_new(o, "container_seals", a);
	if (c->traceability_ref)
		json_object_set_new(o, "traceability_ref", jstr(c->traceability_ref));
	return o;
}

static json_t *list_to_json(const Kpgate__TrustListBody *b)
{
	json_t *o = json_object(), *a;

	json_object_set_new(o, "version", json_integer((json_int_t)b->version));
	json_object_set_new(o, "issued_at", jtime(b->issued_at));
	json_object_set_new(o, "next_update", jtime(b->next_update));
	a = json_array();
	for (size_t i = 0; i < b->n_keys; i++) {
		const Kpgate__TrustedKey *k = b->keys[i];
		json_t *j = json_object();
		unsigned st = (unsigned)k->status;

		json_object_set_new(j, "key_id", jhex(k->key_id.data, k->key_id.len));
		json_object_set_new(j, "alg", json_string(kpg_alg_name((enum kpg_alg)k->algorithm)));
		json_object_set_new(j, "participant", jstr(k->participant));
		json_object_set_new(j, "authority", jstr(k->authority));
		json_object_set_new(j, "not_before", jtime(k->not_before));
		json_object_set_new(j, "not_after", jtime(k->not_after));
		json_object_set_new(j, "status", json_string(st >= 1 && st <= 3 ?
				    key_status_names[st] : "unknown"));
		if (k->has_status_since)
			json_object_set_new(j, "status_since", jtime(k->status_since));
		json_array_append_new(a, j);
	}
	json_object_set_new(o, "keys", a);
	a = json_array();
	for (size_t i = 0; i < b->n_participants; i++) {
		json_t *j = json_object();
		unsigned st = (unsigned)b->participants[i]->status;

		json_object_set_new(j, "code", jstr(b->participants[i]->code));
		json_object_set_new(j, "status", json_string(st >= 1 && st <= 3 ?
				    part_status_names[st] : "unknown"));
		json_array_append_new(a, j);
	}
	json_object_set_new(o, "participants", a);
	return o;
}

static int cmd_show(const char *path)
{
	Kpgate__SignedCertificate *sc = NULL;
	Kpgate__Certificate *c = NULL;
	Kpgate__SignedTrustList *st = NULL;
	Kpgate__TrustListBody *b = NULL;
	json_t *o = NULL;
	uint8_t *buf;
	size_t len;
	int rc;

	rc = kpg_file_read(path, FILE_MAX, &buf, &len);
	if (rc < 0)
		return refuse("%s: cannot read: %s", path, strerror(-rc));
	/* Both envelopes are three byte strings; what they wrap tells them
	 * apart (a Certificate starts with a string, a list body with a varint). */
	sc = kpgate__signed_certificate__unpack(NULL, len, buf);
	if (sc != NULL)
		c = kpgate__certificate__unpack(NULL, sc->certificate.len, sc->certificate.data);
	if (c != NULL) {
		o = json_object();
		json_object_set_new(o, "type", json_string("certificate"));
		json_object_set_new(o, "key_id", jhex(sc->key_id.data, sc->key_id.len));
		json_object_set_new(o, "signature", jhex(sc->signature.data, sc->signature.len));
		json_object_set_new(o, "certificate", cert_to_json(c));
	} else {
		st = kpgate__signed_trust_list__unpack(NULL, len, buf);
		if (st != NULL)
			b = kpgate__trust_list_body__unpack(NULL, st->body.len, st->body.data);
		if (b != NULL) {
			o = json_object();
			json_object_set_new(o, "type", json_string("trust_list"));
			json_object_set_new(o, "anchor_key_id",
					    jhex(st->anchor_key_id.data, st->anchor_key_id.len));
			json_object_set_new(o, "trust_list", list_to_json(b));
		}
	}
	if (o == NULL) {
		rc = refuse("%s: neither a signed certificate nor a signed trust list", path);
	} else {
		rc = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 ? -1 : 0;
		putchar('\n');
		if (rc < 0)
			refuse("cannot write JSON");
	}
	json_decref(o);
	if (c)
		kpgate__certificate__free_unpacked(c, NULL);
	if (sc)
		kpgate__signed_certificate__free_unpacked(sc, NULL);
	if (b)
		kpgate__trust_list_body__free_unpacked(b, NULL);
	if (st)
		kpgate__signed_trust_list__free_unpacked(st, NULL);
	free(buf);
	return rc;
}

/* --- import confirmations ------------------------------------------------- */

/* A checkpoint's KP import confirmation (docs/protocol.md): signature by
 * the given key, canonical bytes; then what it confirms, as JSON. */
static int cmd_verify_confirmation(const char *pub, const char *path)
{
	Kpgate__ImportConfirmation *ic = NULL;
	uint8_t spki[KPG_SPKI_MAX], *buf;
	char reason[256];
	json_t *o, *a;
	size_t len;
	int n, rc;

	n = kpg_spki_read_pem(pub, spki, sizeof(spki));
	if (n < 0)
		return refuse("%s: not a PEM public key: %s", pub, strerror(-n));
	rc = kpg_file_read(path, FILE_MAX, &buf, &len);
	if (rc < 0)
		return refuse("%s: cannot read: %s", path, strerror(-rc));
	rc = kpg_confirm_verify(buf, len, spki, (size_t)n, &ic, reason, sizeof(reason));
	free(buf);
	if (rc < 0)
		return refuse("%s: refused: %s", path, reason);
	o = json_object();
	json_object_set_new(o, "type", json_string("import_confirmation"));
	json_object_set_new(o, "signature", json_string("valid"));
	json_object_set_new(o, "certificate_number", jstr(ic->certificate_number));
	json_object_set_new(o, "issuing_participant", jstr(ic->issuing_participant));
	json_object_set_new(o, "issuing_authority", jstr(ic->issuing_authority));
	json_object_set_new(o, "exporter", jparty(ic->exporter));
	json_object_set_new(o, "importer", jparty(ic->importer));
	json_object_set_new(o, "importing_participant", jstr(ic->importing_participant));
	json_object_set_new(o, "parcels", json_integer(ic->parcels));
	json_object_set_new(o, "carats", jcenti(ic->carats_centi));
	json_object_set_new(o, "value_usd", jcenti(ic->value_usd_cents));
	a = json_array();
	for (size_t i = 0; i < ic->n_lines; i++) {
		json_t *l = json_object();

		json_object_set_new(l, "hs", json_string(hs_name(ic->lines[i]->hs_code)));
		json_object_set_new(l, "carats", jcenti(ic->lines[i]->carats_centi));
		json_object_set_new(l, "value_usd", jcenti(ic->lines[i]->value_usd_cents));
		json_array_append_new(a, l);
	}
	json_object_set_new(o, "lines", a);
	json_object_set_new(o, "certificate_issue_date", jdate(ic->certificate_issue_date));
	json_object_set_new(o, "confirmed_at", jtime(ic->confirmed_at));
	json_object_set_new(o, "checkpoint", jstr(ic->checkpoint));
	json_object_set_new(o, "certificate_sha256",
			    jhex(ic->certificate_sha256.data, ic->certificate_sha256.len));
	json_object_set_new(o, "certificate_key_id",
			    jhex(ic->certificate_key_id.data, ic->certificate_key_id.len));
	json_object_set_new(o, "trust_list_version",
			    json_integer((json_int_t)ic->trust_list_version));
	json_object_set_new(o, "station", jstr(ic->station_id));
	char rid[24];

	/* 64-bit ids as a string: JSON readers round large numbers */
	snprintf(rid, sizeof(rid), "%" PRIu64, ic->request_id);
	json_object_set_new(o, "request_id", json_string(rid));
	json_object_set_new(o, "audit_lcore", json_integer(ic->audit_lcore));
	json_object_set_new(o, "audit_seq", json_integer((json_int_t)ic->audit_seq));
	rc = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 ? -1 : 0;
	putchar('\n');
	json_decref(o);
	kpgate__import_confirmation__free_unpacked(ic, NULL);
	return rc < 0 ? refuse("cannot write JSON") : 0;
}

/* --- command line ---------------------------------------------------------- */

enum { OPT_ALG = 'a', OPT_OUT = 'o', OPT_KEY = 'k', OPT_IN = 'i',
       OPT_ANCHOR = 'A', OPT_LIST = 'l', OPT_KEY_ID = 'I', OPT_SINCE = 's',
       OPT_NEXT = 'n', OPT_HELP = 'h' };

static const struct option long_opts[] = {
	{ "alg", required_argument, NULL, OPT_ALG },
	{ "out", required_argument, NULL, OPT_OUT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "in", required_argument, NULL, OPT_IN },
	{ "anchor", required_argument, NULL, OPT_ANCHOR },
	{ "list", required_argument, NULL, OPT_LIST },
	{ "key-id", required_argument, NULL, OPT_KEY_ID },
	{ "since", required_argument, NULL, OPT_SINCE },
	{ "next-update", required_argument, NULL, OPT_NEXT },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

struct args {
	const char *alg, *out, *key, *in, *anchor, *list, *key_id, *since, *next;
};

/* Which options each command takes, so a stray one is a usage error. */
static bool allowed(const char *cmd, int opt)
{
	static const struct {
		const char *cmd;
		const char *opts;
	} table[] = {
		{ "keygen", "ao" },
		{ "issue", "kio" },
		{ "trustlist", "Aio" },
		{ "revoke", "AlIsno" },
		{ "retire", "AlIsno" },
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(table[i].cmd, cmd) == 0)
			return strchr(table[i].opts, opt) != NULL;
	return false;
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	const char *cmd;
	int rc, opt;

	if (argc < 2)
		return usage("no command given");
	cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    strcmp(cmd, "help") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "kpgate-authority: libsodium failed to initialise\n");
		return EXIT_REFUSED;
	}
	if (strcmp(cmd, "show") == 0) {
		if (argc == 3 && strcmp(argv[2], "--help") == 0) {
			fputs(usage_text, stdout);
			return 0;
		}
		if (argc != 3)
			return usage("show takes one FILE");
		rc = cmd_show(argv[2]);
		goto done;
	}
	if (strcmp(cmd, "verify-confirmation") == 0) {
		const char *pub = NULL, *file = NULL;

		for (int i = 2; i < argc; i++) {
			if (strcmp(argv[i], "--pub") == 0 && i + 1 < argc && !pub)
				pub = argv[++i];
			else if (argv[i][0] != '-' && !file)
				file = argv[i];
			else
				return usage("verify-confirmation takes --pub KEY.pub and one FILE");
		}
		if (pub == NULL || file == NULL)
			return usage("verify-confirmation takes --pub KEY.pub and one FILE");
		rc = cmd_verify_confirmation(pub, file);
		goto done;
	}
	if (!allowed(cmd, OPT_OUT))
		return usage("unknown command \"%s\"", cmd);
	optind = 2;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		if (opt == OPT_HELP) {
			fputs(usage_text, stdout);
			return 0;
		}
		if (opt == '?' || opt == ':' || !allowed(cmd, opt))
			return usage("%s: option %s is not known here", cmd,
				     argv[optind - 1]);
		const char **slot = opt == OPT_ALG ? &a.alg : opt == OPT_OUT ? &a.out :
			opt == OPT_KEY ? &a.key : opt == OPT_IN ? &a.in :
			opt == OPT_ANCHOR ? &a.anchor : opt == OPT_LIST ? &a.list :
			opt == OPT_KEY_ID ? &a.key_id : opt == OPT_SINCE ? &a.since :
			&a.next;
		if (*slot != NULL)
			return usage("an option is given twice");
		*slot = optarg;
	}
	if (optind != argc)
		return usage("unexpected argument");
	if (a.out == NULL)
		return usage("--out is required");

	if (strcmp(cmd, "keygen") == 0) {
		if (a.alg == NULL)
			return usage("keygen needs --alg");
		rc = cmd_keygen(a.alg, a.out);
	} else if (strcmp(cmd, "issue") == 0) {
		if (a.key == NULL || a.in == NULL)
			return usage("issue needs --key and --in");
		rc = cmd_issue(a.key, a.in, a.out);
	} else if (strcmp(cmd, "trustlist") == 0) {
		if (a.anchor == NULL || a.in == NULL)
			return usage("trustlist needs --anchor and --in");
		rc = cmd_trustlist(a.anchor, a.in, a.out);
	} else {
		if (a.anchor == NULL || a.list == NULL || a.key_id == NULL)
			return usage("revoke and retire need --anchor, --list and --key-id");
		rc = cmd_status(strcmp(cmd, "revoke") == 0 ? KPG_KEY_REVOKED :
				KPG_KEY_RETIRED, a.anchor, a.list, a.key_id,
				a.since, a.next, a.out);
	}
done:
	if (rc < 0) {
		fprintf(stderr, "kpgate-authority: %s: %s\n", cmd, why);
		return EXIT_REFUSED;
	}
	return 0;
}
