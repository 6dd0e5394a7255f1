/* kpgate/plugin.h — the whole ABI between kpgate and its policy plugins.
 *
 * A plugin is a shared object exporting one data symbol, KPG_PLUGIN_SYMBOL,
 * a struct kpg_plugin. kpgate reads its abi_version and struct_size before
 * it calls any plugin function; a mismatch refuses the plugin at start, by
 * name. Plugins see read-only, stable C views of the certificate, the
 * station's measurements, the gateway's clock and the issuing key's trust-
 * list entry; never kpgate's internal or protobuf-c structures.
 *
 * Threads: init, configure, release and fini run on the control thread.
 * evaluate and commit run on worker lcores, concurrently on several: they
 * must not allocate, lock, block, make system calls or log. A state made by
 * configure is immutable once returned; a reload builds new states while
 * the old ones still serve, and releases the old ones only after every
 * worker has left them (RCU).
 *
 * docs/plugins.md explains how to write, build and configure a plugin.
 */
#ifndef KPGATE_PLUGIN_H
#define KPGATE_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libconfig.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KPG_PLUGIN_ABI_VERSION 1u
#define KPG_PLUGIN_SYMBOL      "kpg_plugin"
#define KPG_DETAIL_MAX         96u      /* verdict detail, bytes incl. NUL */

enum kpg_decision {
	KPG_DECISION_NONE = 0,   /* from a plugin: the rule does not apply */
	KPG_ACCEPT = 1,
	KPG_REFER = 2,           /* refer for physical inspection */
	KPG_REJECT = 3,
};

/* ---- the certificate, read-only ------------------------------------- */

struct kpg_str {
	const char *p;                   /* NUL-terminated; "" when absent */
	uint32_t len;
};

struct kpg_party {
	struct kpg_str name, address, identifier;
};

struct kpg_origin {
	char country[3];                 /* ISO 3166-1 alpha-2 */
	struct kpg_str zone;             /* production zone, "" when absent */
};

enum kpg_hs_code {
	KPG_HS_7102_10 = 710210,         /* unsorted */
	KPG_HS_7102_21 = 710221,         /* industrial */
	KPG_HS_7102_31 = 710231,         /* non-industrial (gem quality) */
};

struct kpg_hs_line {
	enum kpg_hs_code hs_code;
	uint64_t carats_centi;           /* hundredths of a carat */
	uint64_t value_usd_cents;
};

struct kpg_cert {
	struct kpg_str number;
	char issuing_participant[3];     /* "EU" for the Union */
	struct kpg_str issuing_authority;
	struct kpg_party exporter, importer;
	char importing_participant[3];
	bool mixed_origin;
	uint32_t n_origins;              /* 1 unless mixed_origin; mixed: those listed */
	const struct kpg_origin *origins;
	uint32_t n_lines;                /* >= 1 */
	const struct kpg_hs_line *lines;
	uint32_t parcels;
	uint32_t issue_date;             /* YYYYMMDD, UTC */
	uint32_t expiry_date;            /* YYYYMMDD, inclusive */
	uint32_t n_seals;
	const struct kpg_str *seals;
	struct kpg_str traceability_ref;
	uint64_t total_carats_centi;     /* sum over lines */
	uint64_t total_value_usd_cents;
};

/* ---- the scan -------------------------------------------------------- */

struct kpg_measurement {
	bool has_parcel_count, has_gross_mass, has_seal;
	uint32_t parcel_count;
	uint64_t gross_mass_mg;
	struct kpg_str seal_number;
};

enum kpg_participant_status {
	KPG_PARTICIPANT_NONE = 0,        /* not a KP participant */
	KPG_PARTICIPANT_MEMBER = 1,
	KPG_PARTICIPANT_SUSPENDED = 2,
	KPG_PARTICIPANT_RESTRICTED = 3,
};

enum kpg_key_status {
	KPG_KEY_ACTIVE = 1,
	KPG_KEY_RETIRED = 2,
	KPG_KEY_REVOKED = 3,
};

/* The issuing key's trust-list entry. */
struct kpg_key_view {
	const uint8_t *key_id;           /* 16 bytes */
	char participant[3];
	const char *authority;
	uint32_t alg;                    /* 1 ECDSA P-256, 2 Ed25519, 3 RSA-PSS */
	enum kpg_key_status status;
	int64_t not_before, not_after, status_since;
};

struct kpg_scan_view {
	uint64_t request_id;
	struct kpg_str station_id;
	int64_t scan_time;               /* station clock, Unix seconds */
	int64_t now;                     /* gateway clock, read once per burst */
	uint32_t today;                  /* YYYYMMDD of now, UTC */
	unsigned worker;                 /* calling worker: 0 .. env->workers - 1 */
	const struct kpg_cert *cert;
	const struct kpg_measurement *measurement;
	const struct kpg_key_view *key;
	uint64_t trust_version;
	/* KP status, from the trust list in force, of the certificate's
	 * issuing and importing participants. */
	enum kpg_participant_status issuer_status, importer_status;
	const uint8_t *cert_bytes;       /* the exact signed bytes */
	uint32_t cert_len;
};

struct kpg_plugin_verdict {
	enum kpg_decision decision;      /* left at NONE: no verdict */
	uint32_t reason;                 /* the plugin's code, >= 1000 */
	char detail[KPG_DETAIL_MAX];     /* short words for the officer */
};

/* ---- what kpgate offers a plugin ------------------------------------- */

struct kpg_plugin_env {
	uint32_t struct_size;
	unsigned workers;                /* worker lcores */
	const char *checkpoint;          /* this gateway's checkpoint id */
	const char *jurisdiction;        /* its KP participant, e.g. "EU" */
	const char *config_dir;          /* relative paths resolve here */
	const char *state_dir;           /* where a plugin may keep files */
	const char *plugin_name;         /* the chain entry's name */

	/* Records a configuration error as "file:line: plugin NAME: ..." for
	 * the setting where (NULL: the plugin's section). */
	void (*error)(const struct kpg_plugin_env *env,
		      const config_setting_t *where, const char *fmt, ...)
		__attribute__((format(printf, 3, 4)));
	/* Refuses (with error()) any key of group not in allowed (NULL-ended);
	 * the chain's own keys ("name", "path") are always allowed. 0 or
	 * -EINVAL. */
	int (*check_keys)(const struct kpg_plugin_env *env,
			  const config_setting_t *group,
			  const char *const *allowed);
	/* Reads a list file, one entry a line; blank lines and lines starting
	 * with '#' are skipped, surrounding blanks trimmed. line() returns 0,
	 * or a negative errno after writing why into err; the error is then
	 * reported as "path:lineno: ...". where names the setting that named
	 * the file. 0 or the first negative return. */
	int (*read_lines)(const struct kpg_plugin_env *env,
			  const config_setting_t *where, const char *path,
			  int (*line)(void *arg, const char *text, unsigned lineno,
				      char *err, size_t errlen),
			  void *arg);
	void *host;                      /* kpgate's, not the plugin's */
};

/* ---- what a plugin exports ------------------------------------------- */

struct kpg_plugin {
	uint32_t abi_version;            /* KPG_PLUGIN_ABI_VERSION */
	uint32_t struct_size;            /* sizeof(struct kpg_plugin) */
	const char *name;                /* check name in verdicts, e.g. "origin" */
	const char *description;

	/* Optional. Once at load: long-lived state that survives reloads
	 * (e.g. a ledger); *instance may stay NULL. 0 or -errno. */
	int (*init)(const struct kpg_plugin_env *env, void **instance);
	void (*fini)(void *instance);

	/* Builds an immutable state from the plugin's config section; on a bad
	 * config calls env->error() and returns -EINVAL. */
	int (*configure)(void *instance, const struct kpg_plugin_env *env,
			 const config_setting_t *section, void **state);
	void (*release)(void *instance, void *state);

	/* Worker lcores. out arrives zeroed (decision NONE). */
	void (*evaluate)(void *instance, const void *state,
			 const struct kpg_scan_view *scan,
			 struct kpg_plugin_verdict *out);
	/* Optional. After aggregation, with the overall decision, so state
	 * changes follow only the final verdict. */
	void (*commit)(void *instance, const void *state,
		       const struct kpg_scan_view *scan,
		       enum kpg_decision overall);

	/* Optional. Telemetry thread: the plugin's own counters (a ledger's
	 * size, losses), one emit() each; must not wait on the workers. */
	void (*stats)(void *instance,
		      void (*emit)(void *arg, const char *name, uint64_t value),
		      void *arg);
};

/* In the plugin:  KPG_PLUGIN_EXPORT = { .abi_version = ..., ... }; */
#define KPG_PLUGIN_EXPORT \
	__attribute__((visibility("default"))) const struct kpg_plugin kpg_plugin

#ifdef __cplusplus
}
#endif

#endif
