/* lg_pool.h — every request frame the generator will send, built before
 * sending: per algorithm a few hot certificates (sent again and again:
 * cache hits at the gateway) and many cold ones (each new to a gateway
 * whose cache is smaller than the set), forged copies (one signed byte
 * changed: a failed verify each), requests from an authority the trust
 * list does not name, and malformed (truncated) requests. Each frame has
 * its station's addresses, its TX queue (Toeplitz hash of the 5-tuple, as
 * a NIC would spread it) and the checksum sum without its request id, so
 * sending one is a copy, a 9-byte id write and a checksum fold. */
#ifndef LG_POOL_H
#define LG_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lg_frame.h"
#include "lg_pki.h"

enum lg_kind {
	LG_K_WARM,                       /* hot certificate: a cache hit */
	LG_K_COLD,                       /* genuine, not in the gateway's cache */
	LG_K_FORGED,                     /* signed bytes altered after signing */
	LG_K_UNKNOWN,                    /* signed by a key the list lacks */
	LG_K_MALFORMED,                  /* request cut short */
	LG_K__COUNT
};

const char *lg_kind_name(enum lg_kind k);   /* "warm", "cold", ... */

struct lg_entry {
	uint32_t off;                    /* frame in lg_pool.frames */
	uint16_t len;
	uint16_t l4;                     /* UDP header */
	uint16_t id_off;                 /* LG_ID_LEN bytes of request id */
	uint16_t time_off;               /* LG_TIME_LEN bytes of scan_time; 0 none */
	uint32_t sum;                    /* UDP sum with the id as a hole */
	uint8_t queue;
	uint8_t kind;
	uint8_t alg;
	uint8_t ipv6;
};

struct lg_group {
	uint32_t first, n;               /* entries [first, first + n) */
};

struct lg_pool {
	struct lg_entry *e;
	uint32_t n;
	uint8_t *frames;
	size_t frames_len;
	uint32_t max_len;
	uint64_t bytes[LG_K__COUNT];     /* frame bytes, for mean sizes */
	struct lg_group warm[LG_ALGS], cold[LG_ALGS], forged[LG_ALGS];
	struct lg_group unknown, malformed;
	unsigned queues;
	uint32_t refresh_next;           /* next entry of a sweep; 0: none under way */
	int64_t scan_time;               /* what the requests carry (the last sweep's) */
};

struct lg_pool_conf {
	struct lg_endpoint gw;           /* the gateway: mac, addresses, port */
	bool gw_has_ip6;
	uint8_t mac[6];                  /* ours */
	unsigned stations;               /* source address/port pairs */
	double ipv6_share;               /* of stations, 0..1 */
	unsigned queues;
	bool alg[LG_ALGS];               /* algorithms in the mix */
	unsigned warm;                   /* hot certificates per algorithm */
	unsigned forged;                 /* forged requests per algorithm */
	unsigned unknown;
	unsigned malformed;
	int64_t now;
};

/* 0, or -errno with err set. */
int lg_pool_build(struct lg_pool *p, const struct lg_pki *pki,
		  const struct lg_pool_conf *c, char *err, size_t errlen);
void lg_pool_free(struct lg_pool *p);

static inline const uint8_t *lg_pool_frame(const struct lg_pool *p,
					   const struct lg_entry *e)
{
	return p->frames + e->off;
}

/* Sets every request's scan_time (the gateway refuses clocks more than
 * its skew away: 300 s by default, 120 s in production). All at once
 * between runs. While sending, lg_pool_refresh() costs one comparison
 * until the stamp is LG_POOL_STAMP_AGE_S old; then a sweep restamps the
 * requests n at a time per call, so no pause ever stalls the pace. */
#define LG_POOL_STAMP_AGE_S 10

void lg_pool_set_time(struct lg_pool *p, int64_t now);
void lg_pool_sweep(struct lg_pool *p, int64_t now, unsigned n);   /* refresh's work */

static inline void lg_pool_refresh(struct lg_pool *p, int64_t now, unsigned n)
{
	if (p->refresh_next != 0 || now - p->scan_time >= LG_POOL_STAMP_AGE_S)
		lg_pool_sweep(p, now, n);
}

/* The station addresses of station k, as the pool uses them. */
void lg_station(unsigned k, bool ipv6, struct lg_endpoint *ep);

/* Toeplitz hash of the 5-tuple of frame f (built by lg_frame_udp) with the
 * common 40-byte RSS key, and the queue a 128-entry round-robin RETA maps
 * it to. */
uint32_t lg_rss_hash(const uint8_t *f, bool ipv6);
unsigned lg_rss_queue(uint32_t hash, unsigned queues);

#endif
