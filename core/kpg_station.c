/* kpg_station.c — station table, HMAC, token buckets; see kpg_station.h. */

/* The low-level SHA-256 calls are deprecated in OpenSSL 3, yet they are
 * the one allocation-free way to resume hashing from a saved state: the
 * EVP route (EVP_MAC_init with the key kept) duplicates a provider context
 * on every init. Measured by kpg-bench-station: 2 mallocs and ~25% more
 * time per tag. They use the same SHA-NI/AVX code as EVP. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "kpg_err.h"
#include "kpg_pb.h"
#include "kpg_station.h"

struct hmac_states {
	SHA256_CTX inner, outer;
};

_Static_assert(sizeof(struct hmac_states) <= sizeof(struct kpg_hmac),
	       "struct kpg_hmac too small for two SHA-256 states");

/* ---- HMAC (RFC 2104) over SHA-256 ---- */

void kpg_hmac_init(struct kpg_hmac *h, const uint8_t *key, size_t len)
{
	struct hmac_states *s = (struct hmac_states *)h;
	uint8_t block[SHA256_CBLOCK], k[SHA256_CBLOCK] = { 0 };

	if (len > SHA256_CBLOCK)
		SHA256(key, len, k);
	else if (len)
		memcpy(k, key, len);
	for (unsigned i = 0; i < SHA256_CBLOCK; i++)
		block[i] = k[i] ^ 0x36;
	SHA256_Init(&s->inner);
	SHA256_Update(&s->inner, block, sizeof(block));
	for (unsigned i = 0; i < SHA256_CBLOCK; i++)
		block[i] = k[i] ^ 0x5c;
	SHA256_Init(&s->outer);
	SHA256_Update(&s->outer, block, sizeof(block));
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(block, sizeof(block));
}

void kpg_hmac_tag(const struct kpg_hmac *h, const uint8_t *p, size_t len,
		  uint8_t tag[KPG_HMAC_LEN])
{
	const struct hmac_states *s = (const struct hmac_states *)h;
	SHA256_CTX c = s->inner;

	SHA256_Update(&c, p, len);
	SHA256_Final(tag, &c);
	c = s->outer;
	SHA256_Update(&c, tag, KPG_HMAC_LEN);
	SHA256_Final(tag, &c);
}

bool kpg_hmac_check(const struct kpg_hmac *h, const uint8_t *p, size_t len,
		    const uint8_t *tag, size_t tag_len)
{
	uint8_t want[KPG_HMAC_LEN];

	if (tag_len != KPG_HMAC_LEN)
		return false;
	kpg_hmac_tag(h, p, len, want);
	return CRYPTO_memcmp(want, tag, KPG_HMAC_LEN) == 0;
}

void kpg_station_digest(const uint8_t *p, size_t len, uint8_t out[32])
{
	SHA256_CTX c;

	SHA256_Init(&c);
	SHA256_Update(&c, p, len);
	SHA256_Final(out, &c);
}

int kpg_hmac_sign_request(const struct kpg_hmac *h, uint8_t *dgram,
			  size_t len, size_t cap)
{
	if (len > cap || cap - len < KPG_HMAC_FIELD_LEN)
		return -EMSGSIZE;
	dgram[len] = 15 << 3 | 2;        /* field 15, length-delimited */
	dgram[len + 1] = KPG_HMAC_LEN;
	kpg_hmac_tag(h, dgram, len, dgram + len + 2);
	return (int)(len + KPG_HMAC_FIELD_LEN);
}

int kpg_hmac_check_response(const struct kpg_hmac *h, const uint8_t *dgram,
			    size_t len)
{
	const uint8_t *pos = dgram + KPG_HDR_LEN, *end = dgram + len;
	struct kpg_pb_field f;

	if (len < KPG_HDR_LEN)
		return -EBADMSG;
	while (pos < end) {
		if (kpg_pb_next(&pos, end, &f) != KPG_WIRE_OK)
			return -EBADMSG;
		if (f.id != 15)
			continue;
		/* like a request's: last, so no byte rides unauthenticated */
		if (pos != end || f.wire_type != 2)
			return -EBADMSG;
		return kpg_hmac_check(h, dgram, (size_t)(f.tag - dgram), f.p, f.len)
			? 1 : -EBADMSG;
	}
	return 0;
}

static int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int kpg_hmac_key_parse(const char *hex, uint8_t key[KPG_HMAC_KEY_LEN])
{
	while (isspace((unsigned char)*hex))
		hex++;
	for (unsigned i = 0; i < KPG_HMAC_KEY_LEN; i++) {
		int hi = hex_digit((unsigned char)hex[2 * i]);
		int lo = hi < 0 ? -1 : hex_digit((unsigned char)hex[2 * i + 1]);

		if (lo < 0)
			return -EINVAL;
		key[i] = (uint8_t)(hi << 4 | lo);
	}
	for (hex += 2 * KPG_HMAC_KEY_LEN; *hex; hex++)
		if (!isspace((unsigned char)*hex))
			return -EINVAL;
	return 0;
}

int kpg_hmac_key_read(const char *path, uint8_t key[KPG_HMAC_KEY_LEN],
		      char *err, size_t errlen)
{
	char text[256];
	size_t n;
	FILE *f = fopen(path, "r");
	int rc = 0;

	if (f == NULL) {
		rc = -errno;
		kpg_errf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	n = fread(text, 1, sizeof(text) - 1, f);
	if (ferror(f) || !feof(f)) {
		kpg_errf(err, errlen, "%s: unreadable or too long for a key", path);
		rc = -EINVAL;
	} else {
		text[n] = '\0';
		if (kpg_hmac_key_parse(text, key) < 0) {
			kpg_errf(err, errlen, "%s: must hold %u hex digits", path,
				 2 * KPG_HMAC_KEY_LEN);
			rc = -EINVAL;
		}
	}
	OPENSSL_cleanse(text, sizeof(text));
	fclose(f);
	return rc;
}

/* ---- the table ---- */

struct kpg_stations {
	unsigned n, slots;
	bool allow_unknown;
	uint32_t mask;                   /* id index: mask + 1 slots */
	uint32_t *index;                 /* station + 1; 0 empty */
	uint32_t amask;                  /* registered address set */
	uint32_t n_addrs;
	struct kpg_addr *aset;           /* family 0: empty slot */
	struct kpg_station *st;          /* n + 1: st[n] stands for unknown ids */
};

/* FNV-1a: ids are at most 64 bytes and configured, never inserted from
 * the wire, so a plain fast hash is enough to spread them. */
static uint64_t hash_bytes(const uint8_t *p, size_t len, uint64_t h)
{
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t id_hash(const uint8_t *id, uint32_t len)
{
	return hash_bytes(id, len, 0xcbf29ce484222325ull);
}

static uint64_t addr_hash(const struct kpg_addr *a)
{
	return hash_bytes(a->a, a->family == 4 ? 4 : 16,
			  0xcbf29ce484222325ull ^ a->family);
}

static bool addr_eq(const struct kpg_addr *x, const struct kpg_addr *y)
{
	return x->family == y->family &&
	       memcmp(x->a, y->a, x->family == 4 ? 4 : 16) == 0;
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 8;

	while (p < n)
		p <<= 1;
	return p;
}

static bool id_ok(const char *id, size_t len)
{
	if (len == 0 || len > KPG_STATION_ID_MAX || !isalnum((unsigned char)id[0]))
		return false;
	/* printable in logs and telemetry without escaping */
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)id[i]) && !strchr("._:-", id[i]))
			return false;
	return true;
}

static struct kpg_station_state *state_new(const char *id, unsigned slots)
{
	size_t size = sizeof(struct kpg_station_state) +
		      (size_t)slots * sizeof(struct kpg_station_lcore);
	struct kpg_station_state *s = aligned_alloc(64, (size + 63) & ~(size_t)63);

	if (s == NULL)
		return NULL;
	memset(s, 0, size);
	s->refs = 1;
	s->slots = slots;
	snprintf(s->id, sizeof(s->id), "%s", id);
	/* tokens 0 at clock 0: the first take refills a full burst */
	return s;
}

/* The state a station of prev with this id had, shared; or a new one. */
static struct kpg_station_state *state_for(const struct kpg_stations *prev,
					   const char *id, unsigned slots)
{
	const struct kpg_station *old = NULL;

	if (prev && prev->slots == slots)
		old = id[0] ? kpg_stations_find(prev, (const uint8_t *)id,
						(uint32_t)strlen(id))
			    : &prev->st[prev->n];
	if (old) {
		old->state->refs++;
		return old->state;
	}
	return state_new(id, slots);
}

static void state_put(struct kpg_station_state *s)
{
	if (s && --s->refs == 0)
		free(s);
}

void kpg_stations_delete(struct kpg_stations *t)
{
	if (t == NULL)
		return;
	if (t->st) {
		for (unsigned i = 0; i <= t->n; i++) {
			OPENSSL_cleanse(&t->st[i].key, sizeof(t->st[i].key));
			state_put(t->st[i].state);
		}
	}
	free(t->st);
	free(t->index);
	free(t->aset);
	free(t);
}

int kpg_station_conf_check(const struct kpg_station_conf *c, char *err,
			   size_t errlen)
{
	const uint32_t max_rate = KPG_STATION_RATE_MAX;

	if (!id_ok(c->id, strlen(c->id))) {
		kpg_errf(err, errlen, "station id '%.80s' must be 1 to %u letters, "
			 "digits or . _ : -, from a letter or digit", c->id, KPG_STATION_ID_MAX);
		return -EINVAL;
	}
	if (c->hmac != KPG_HMAC_OFF && !c->has_key) {
		kpg_errf(err, errlen, "station %s: an HMAC mode other than off "
			 "needs a key", c->id);
		return -EINVAL;
	}
	if (c->hmac == KPG_HMAC_OFF && c->n_addrs == 0) {
		kpg_errf(err, errlen, "station %s: hmac off needs addresses, or "
			 "anyone could be it", c->id);
		return -EINVAL;
	}
	if (c->n_addrs > KPG_STATION_ADDRS_MAX) {
		kpg_errf(err, errlen, "station %s: more than %u addresses", c->id,
			 KPG_STATION_ADDRS_MAX);
		return -EINVAL;
	}
	for (unsigned k = 0; k < c->n_addrs; k++)
		if (c->addrs[k].family != 4 && c->addrs[k].family != 6) {
			kpg_errf(err, errlen, "station %s: address %u is neither "
				 "IPv4 nor IPv6", c->id, k);
			return -EINVAL;
		}
	if (c->rate < 1 || c->rate > max_rate || c->burst < 1 || c->burst > max_rate) {
		kpg_errf(err, errlen, "station %s: rate and burst must be 1..%u",
			 c->id, max_rate);
		return -EINVAL;
	}
	return 0;
}

static void index_put(struct kpg_stations *t, uint32_t i)
{
	uint32_t h = (uint32_t)t->st[i].hash & t->mask;

	while (t->index[h])
		h = (h + 1) & t->mask;
	t->index[h] = i + 1;
}

static void aset_put(struct kpg_stations *t, const struct kpg_addr *a)
{
	uint32_t h = (uint32_t)addr_hash(a) & t->amask;

	while (t->aset[h].family) {
		if (addr_eq(&t->aset[h], a))
			return;
		h = (h + 1) & t->amask;
	}
	t->aset[h] = *a;
}

struct kpg_stations *kpg_stations_new(const struct kpg_stations_conf *c,
				      const struct kpg_stations *prev,
				      char *err, size_t errlen)
{
	struct kpg_stations *t;
	uint32_t addrs = 0;

	if (c->n > KPG_STATIONS_MAX || c->slots == 0) {
		kpg_errf(err, errlen, "%u stations for %u lcores: out of range",
			 c->n, c->slots);
		return NULL;
	}
	for (unsigned i = 0; i < c->n; i++) {
		if (kpg_station_conf_check(&c->stations[i], err, errlen))
			return NULL;
		addrs += c->stations[i].n_addrs;
	}
	if (c->allow_unknown &&
	    (c->unknown_rate < 1 || c->unknown_rate > KPG_STATION_RATE_MAX ||
	     c->unknown_burst < 1 || c->unknown_burst > KPG_STATION_RATE_MAX)) {
		kpg_errf(err, errlen, "unknown stations' rate and burst must be 1..%u",
			 KPG_STATION_RATE_MAX);
		return NULL;
	}

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		goto nomem;
	t->n = c->n;
	t->slots = c->slots;
	t->allow_unknown = c->allow_unknown;
	t->mask = pow2_at_least(2 * c->n) - 1;
	t->amask = pow2_at_least(2 * addrs) - 1;
	t->index = calloc(t->mask + 1, sizeof(*t->index));
	t->aset = calloc(t->amask + 1, sizeof(*t->aset));
	t->st = calloc(c->n + 1, sizeof(*t->st));
	if (t->index == NULL || t->aset == NULL || t->st == NULL)
		goto nomem;

	for (unsigned i = 0; i < c->n; i++) {
		const struct kpg_station_conf *sc = &c->stations[i];
		struct kpg_station *s = &t->st[i];

		s->id_len = (uint32_t)strlen(sc->id);
		memcpy(s->id, sc->id, s->id_len + 1);
		if (kpg_stations_find(t, (const uint8_t *)s->id, s->id_len)) {
			kpg_errf(err, errlen, "station %s is listed twice", s->id);
			goto fail;
		}
		s->hash = id_hash((const uint8_t *)s->id, s->id_len);
		s->hmac = sc->hmac;
		s->has_key = sc->has_key;
		if (sc->has_key)
			kpg_hmac_init(&s->key, sc->key, KPG_HMAC_KEY_LEN);
		s->rate = sc->rate;
		s->burst = sc->burst;
		s->n_addrs = sc->n_addrs;
		memcpy(s->addrs, sc->addrs, sc->n_addrs * sizeof(sc->addrs[0]));
		for (unsigned k = 0; k < sc->n_addrs; k++)
			aset_put(t, &sc->addrs[k]);
		s->state = state_for(prev, s->id, c->slots);
		if (s->state == NULL)
			goto nomem;
		index_put(t, i);
	}
	/* The unknown pseudo-station: never found by id, one bucket for all
	 * ids not in the table, so a flood of them cannot touch a station's. */
	t->st[c->n].hmac = KPG_HMAC_OFF;
	t->st[c->n].rate = c->allow_unknown ? c->unknown_rate : 1;
	t->st[c->n].burst = c->allow_unknown ? c->unknown_burst : 1;
	t->st[c->n].state = state_for(prev, "", c->slots);
	if (t->st[c->n].state == NULL)
		goto nomem;
	return t;
nomem:
	kpg_errf(err, errlen, "out of memory for %u stations", c->n);
fail:
	kpg_stations_delete(t);
	return NULL;
}

unsigned kpg_stations_count(const struct kpg_stations *t)
{
	return t ? t->n : 0;
}

bool kpg_stations_allow_unknown(const struct kpg_stations *t)
{
	return t->allow_unknown;
}

const struct kpg_station *kpg_stations_at(const struct kpg_stations *t, unsigned i)
{
	return i <= t->n ? &t->st[i] : NULL;
}

const struct kpg_station *kpg_stations_find(const struct kpg_stations *t,
					    const uint8_t *id, uint32_t len)
{
	uint32_t h = (uint32_t)id_hash(id, len) & t->mask, i;

	while ((i = t->index[h]) != 0) {
		const struct kpg_station *s = &t->st[i - 1];

		if (s->id_len == len && memcmp(s->id, id, len) == 0)
			return s;
		h = (h + 1) & t->mask;
	}
	return NULL;
}

bool kpg_stations_registered(const struct kpg_stations *t, const struct kpg_addr *a)
{
	uint32_t h;

	if (a->family != 4 && a->family != 6)
		return false;
	for (h = (uint32_t)addr_hash(a) & t->amask; t->aset[h].family;
	     h = (h + 1) & t->amask)
		if (addr_eq(&t->aset[h], a))
			return true;
	return false;
}

void kpg_station_counts_sum(const struct kpg_stations *t, unsigned i,
			    struct kpg_station_counts *out)
{
	const struct kpg_station *s = kpg_stations_at(t, i);

	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return;
	for (unsigned l = 0; l < s->state->slots; l++) {
		const uint64_t *src = (const uint64_t *)&s->state->lc[l].c;
		uint64_t *dst = (uint64_t *)out;

		for (size_t w = 0; w < sizeof(*out) / sizeof(uint64_t); w++)
			dst[w] += src[w];
	}
}

/* ---- per request ---- */

static bool from_own_address(const struct kpg_station *s, const struct kpg_addr *a)
{
	for (unsigned i = 0; i < s->n_addrs; i++)
		if (addr_eq(&s->addrs[i], a))
			return true;
	return false;
}

void kpg_stations_check(const struct kpg_stations *t, const struct kpg_request *rq,
			const uint8_t *dgram, const struct kpg_addr *src,
			struct kpg_station_verdict *v)
{
	const struct kpg_station *s = kpg_stations_find(t, rq->station_id.p,
							rq->station_id.len);
	/* the parser points hmac.p at field 15 whenever it is there: an
	 * empty tag is a bad tag, not a missing one */
	bool has_hmac = rq->hmac.p != NULL;

	v->hmac_ok = false;
	if (s == NULL) {
		v->st = &t->st[t->n];
		v->auth = t->allow_unknown ? KPG_AUTH_ANON : KPG_AUTH_UNKNOWN;
		return;
	}
	v->st = s;
	if (s->n_addrs && !from_own_address(s, src)) {
		v->auth = KPG_AUTH_FAILED;
		return;
	}
	if (s->hmac != KPG_HMAC_OFF && has_hmac) {
		v->hmac_ok = kpg_hmac_check(&s->key, dgram, rq->hmac_covered,
					    rq->hmac.p, rq->hmac.len);
		v->auth = v->hmac_ok ? KPG_AUTH_OK : KPG_AUTH_FAILED;
		return;
	}
	if (s->hmac == KPG_HMAC_REQUIRED)
		v->auth = KPG_AUTH_FAILED;
	else
		v->auth = s->n_addrs ? KPG_AUTH_OK : KPG_AUTH_ANON;
}

#define NANO 1000000000ull

bool kpg_station_take(const struct kpg_station *s, unsigned slot, int64_t now_ns)
{
	struct kpg_station_lcore *lc = kpg_station_lcore(s, slot);
	uint64_t cap = s->burst * NANO;
	int64_t elapsed = now_ns - lc->last_ns;

	/* Integer refill: rate tokens a second, in 1e-9 units; a long idle
	 * spell fills the bucket without overflowing the product. */
	if (elapsed > 0) {
		if ((uint64_t)elapsed >= cap / s->rate)
			lc->tokens = cap;
		else
			lc->tokens += (uint64_t)elapsed * s->rate;
		lc->last_ns = now_ns;
	} else if (elapsed < 0) {
		lc->last_ns = now_ns;            /* clock stepped back: no credit */
	}
	if (lc->tokens > cap)
		lc->tokens = cap;                /* burst lowered by a reload */
	if (lc->tokens < NANO)
		return false;
	lc->tokens -= NANO;
	return true;
}
