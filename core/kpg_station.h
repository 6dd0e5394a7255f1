/* kpg_station.h — the scanner stations a gateway knows, and how a request
 * proves it comes from one.
 *
 * A station table is immutable once built: id -> HMAC-SHA-256 key, HMAC
 * mode, allowed source addresses, and a token bucket (rate, burst) charged
 * per cold signature verify. Lookup by id is one hash probe. Each station
 * keys its HMAC with the padded key blocks already hashed, so checking a
 * request costs the message's SHA-256 rounds plus two, with no allocation.
 * What changes per packet (bucket, counters) lives in per-lcore slots of a
 * state block that a rebuilt table inherits from the one it replaces, so a
 * reload neither refills a drained bucket nor loses counts. The station
 * side (kpgate-scan, tests) signs requests and checks answers with the same
 * functions. */
#ifndef KPG_STATION_H
#define KPG_STATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kpg_limits.h"
#include "kpg_request.h"

#define KPG_HMAC_KEY_LEN     32u     /* station keys are 256-bit */
#define KPG_HMAC_FIELD_LEN   (2u + KPG_HMAC_LEN)  /* field 15: tag, length, tag bytes */
#define KPG_STATION_ADDRS_MAX 8u
#define KPG_STATIONS_MAX     65536u
#define KPG_STATION_RATE_MAX 1000000u  /* verifies per second, and burst */

/* ---- HMAC-SHA-256 with a prepared key ---- */

/* Opaque: two saved SHA-256 states (key ^ ipad, key ^ opad). */
struct kpg_hmac {
	uint64_t state[28];
};

void kpg_hmac_init(struct kpg_hmac *h, const uint8_t *key, size_t len);
void kpg_hmac_tag(const struct kpg_hmac *h, const uint8_t *p, size_t len,
		  uint8_t tag[KPG_HMAC_LEN]);
/* Constant-time compare; false unless tag_len is KPG_HMAC_LEN. */
bool kpg_hmac_check(const struct kpg_hmac *h, const uint8_t *p, size_t len,
		    const uint8_t *tag, size_t tag_len);

/* Station side. Appends field 15 (HMAC over dgram[0, len)) to a request
 * that has none; returns the new length or -EMSGSIZE past cap. */
int kpg_hmac_sign_request(const struct kpg_hmac *h, uint8_t *dgram,
			  size_t len, size_t cap);
/* Checks an answer's field 15 against the bytes before it: 1 valid, 0 no
 * hmac field, -EBADMSG bad or misplaced. Not a full parse: the caller
 * decodes the answer as usual. */
int kpg_hmac_check_response(const struct kpg_hmac *h, const uint8_t *dgram,
			    size_t len);

/* 64 hex digits (whitespace around allowed) -> key. 0 or -EINVAL. */
int kpg_hmac_key_parse(const char *hex, uint8_t key[KPG_HMAC_KEY_LEN]);
/* A key file holds the 64 hex digits; 0, or -errno with words in err. */
int kpg_hmac_key_read(const char *path, uint8_t key[KPG_HMAC_KEY_LEN],
		      char *err, size_t errlen);

/* ---- addresses ---- */

struct kpg_addr {
	uint8_t family;                  /* 0 unknown, 4 or 6 */
	uint8_t a[16];                   /* IPv4 in the first 4 bytes */
};

/* ---- the table ---- */

enum kpg_hmac_mode {
	KPG_HMAC_REQUIRED,               /* no valid HMAC: station_auth_failed */
	KPG_HMAC_OPTIONAL,               /* checked when present */
	KPG_HMAC_OFF,                    /* ignored: the source address vouches */
};

struct kpg_station_conf {
	const char *id;
	bool has_key;
	uint8_t key[KPG_HMAC_KEY_LEN];
	enum kpg_hmac_mode hmac;
	uint32_t rate, burst;            /* cold verifies per second, per lcore */
	unsigned n_addrs;                /* 0: any source */
	struct kpg_addr addrs[KPG_STATION_ADDRS_MAX];
};

struct kpg_stations_conf {
	unsigned n;
	const struct kpg_station_conf *stations;
	bool allow_unknown;              /* serve ids not in the table */
	uint32_t unknown_rate, unknown_burst;  /* one bucket for all of them */
	unsigned slots;                  /* worker lcores */
};

/* Per station and lcore; every member a uint64_t, summed when read. */
struct kpg_station_counts {
	uint64_t requests;               /* parsed requests naming the station */
	uint64_t answered;               /* answers sent (re-sent originals too) */
	uint64_t auth_failed;            /* bad or missing HMAC, wrong source */
	uint64_t replays;                /* refused: another request, same id */
	uint64_t rescans;                /* identical bytes: original re-sent */
	/* of the bucket: unproven claims of a station count under unknown */
	uint64_t verifies;               /* cold verifies charged to the bucket */
	uint64_t rate_limited;           /* bucket empty: overloaded or dropped */
	uint64_t unanswered;             /* answer withheld from an unproven source */
};

/* One station's mutable state on one lcore; written by that lcore only. */
struct kpg_station_lcore {
	struct kpg_station_counts c;
	uint64_t tokens;                 /* in 1e-9 tokens */
	int64_t last_ns;                 /* clock of the last refill */
} __attribute__((aligned(64)));

struct kpg_station_state;

struct kpg_station {
	char id[KPG_STATION_ID_MAX + 1];
	uint32_t id_len;
	uint64_t hash;                   /* of the id; the replay window's key */
	enum kpg_hmac_mode hmac;
	bool has_key;
	struct kpg_hmac key;
	uint64_t rate, burst;
	unsigned n_addrs;
	struct kpg_addr addrs[KPG_STATION_ADDRS_MAX];
	struct kpg_station_state *state;
};

/* What a table refuses in one station, said in err: 0 or -EINVAL. */
int kpg_station_conf_check(const struct kpg_station_conf *c, char *err,
			   size_t errlen);

struct kpg_stations;

/* Builds a table; stations of prev with the same id (and prev's unknown
 * bucket) hand their state over. NULL with a reason in err. Control
 * thread only, like delete. */
struct kpg_stations *kpg_stations_new(const struct kpg_stations_conf *c,
				      const struct kpg_stations *prev,
				      char *err, size_t errlen);
void kpg_stations_delete(struct kpg_stations *t);

unsigned kpg_stations_count(const struct kpg_stations *t);
bool kpg_stations_allow_unknown(const struct kpg_stations *t);
/* Station i (0 <= i < count), or the unknown pseudo-station at i == count. */
const struct kpg_station *kpg_stations_at(const struct kpg_stations *t, unsigned i);
const struct kpg_station *kpg_stations_find(const struct kpg_stations *t,
					    const uint8_t *id, uint32_t len);
/* Is a the registered address of any station? */
bool kpg_stations_registered(const struct kpg_stations *t, const struct kpg_addr *a);

/* Sums station i's counters over lcores. */
void kpg_station_counts_sum(const struct kpg_stations *t, unsigned i,
			    struct kpg_station_counts *out);

/* ---- what a request proves ---- */

enum kpg_station_auth {
	KPG_AUTH_NONE,                   /* no station table: nothing checked */
	KPG_AUTH_OK,                     /* HMAC verified, or registered source */
	KPG_AUTH_ANON,                   /* served, but unproven: shared bucket */
	KPG_AUTH_UNKNOWN,                /* id not in the table, not served */
	KPG_AUTH_FAILED,                 /* HMAC bad or missing, wrong source */
};

struct kpg_station_verdict {
	const struct kpg_station *st;    /* the table's entry, or unknown's */
	enum kpg_station_auth auth;
	bool hmac_ok;                    /* the answer carries an HMAC */
};

/* The station check of one parsed request: id, source address, HMAC. */
void kpg_stations_check(const struct kpg_stations *t, const struct kpg_request *rq,
			const uint8_t *dgram, const struct kpg_addr *src,
			struct kpg_station_verdict *v);

/* SHA-256 of a request that no HMAC vouches for: its replay digest. */
void kpg_station_digest(const uint8_t *p, size_t len, uint8_t out[32]);

/* Takes one token at now_ns; false when the bucket is empty. */
bool kpg_station_take(const struct kpg_station *s, unsigned slot, int64_t now_ns);

/* ---- inline ---- */

struct kpg_station_state {
	unsigned refs;                   /* tables sharing it (control thread) */
	unsigned slots;
	char id[KPG_STATION_ID_MAX + 1];
	struct kpg_station_lcore lc[];
};

static inline struct kpg_station_lcore *
kpg_station_lcore(const struct kpg_station *s, unsigned slot)
{
	return &s->state->lc[slot];
}

#endif
