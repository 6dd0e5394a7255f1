/* dup_hash.c — SipHash-2-4 with 64- or 128-bit output, written from the
 * paper ("SipHash: a fast short-input PRF", 2012). Checked against the
 * reference vectors in test_duplicate.c. */
#include <string.h>

#include "dup_hash.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

struct sip {
	uint64_t v0, v1, v2, v3;
};

static inline void sip_round(struct sip *s)
{
	s->v0 += s->v1; s->v1 = ROTL(s->v1, 13); s->v1 ^= s->v0; s->v0 = ROTL(s->v0, 32);
	s->v2 += s->v3; s->v3 = ROTL(s->v3, 16); s->v3 ^= s->v2;
	s->v0 += s->v3; s->v3 = ROTL(s->v3, 21); s->v3 ^= s->v0;
	s->v2 += s->v1; s->v1 = ROTL(s->v1, 17); s->v1 ^= s->v2; s->v2 = ROTL(s->v2, 32);
}

static inline void sip_block(struct sip *s, uint64_t m)
{
	s->v3 ^= m;
	sip_round(s);
	sip_round(s);
	s->v0 ^= m;
}

static inline uint64_t load_le64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

void dup_siphash(const uint64_t key[2], int has_head, uint64_t head,
		 const void *p, size_t n, uint64_t *out, int out_words)
{
	const unsigned char *in = p;
	size_t total = n + (has_head ? 8 : 0), i;
	struct sip s = {
		key[0] ^ UINT64_C(0x736f6d6570736575),
		key[1] ^ UINT64_C(0x646f72616e646f6d),
		key[0] ^ UINT64_C(0x6c7967656e657261),
		key[1] ^ UINT64_C(0x7465646279746573),
	};
	uint64_t last = (uint64_t)(total & 0xff) << 56;

	if (out_words == 2)
		s.v1 ^= 0xee;
	if (has_head)
		sip_block(&s, head);
	for (i = 0; i + 8 <= n; i += 8)
		sip_block(&s, load_le64(in + i));
	for (size_t k = 0; i < n; i++, k++)
		last |= (uint64_t)in[i] << (8 * k);
	sip_block(&s, last);

	s.v2 ^= out_words == 2 ? 0xee : 0xff;
	for (int r = 0; r < 4; r++)
		sip_round(&s);
	out[0] = s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
	if (out_words == 2) {
		s.v1 ^= 0xdd;
		for (int r = 0; r < 4; r++)
			sip_round(&s);
		out[1] = s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
	}
}
