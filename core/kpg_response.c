#include <errno.h>
#include <string.h>

#include "kpg_limits.h"
#include "kpg_response.h"
#include "kpgate.pb-c.h"

/* Longest prefix of s no longer than max bytes that ends on a UTF-8
 * character boundary, so a cut detail stays valid UTF-8. */
static size_t utf8_prefix(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return n;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

struct response_msg {
	Kpgate__ScanResponse r;
	Kpgate__Verdict v[KPG_VERDICTS_MAX];
	Kpgate__Verdict *vp[KPG_VERDICTS_MAX];
	char detail[KPG_VERDICTS_MAX][KPG_DETAIL_MAX];
	const char *full[KPG_VERDICTS_MAX];
};

static void set_detail_limit(struct response_msg *m, size_t limit)
{
	for (size_t i = 0; i < m->r.n_verdicts; i++) {
		size_t n = utf8_prefix(m->full[i], limit);

		memcpy(m->detail[i], m->full[i], n);
		m->detail[i][n] = '\0';
		m->v[i].detail = n ? m->detail[i] : NULL;
	}
}

/* Removes verdict i, keeping the order of the rest. */
static void drop_verdict(struct response_msg *m, size_t i)
{
	size_t rest = m->r.n_verdicts - i - 1;

	memmove(&m->v[i], &m->v[i + 1], rest * sizeof(m->v[0]));
	memmove(&m->full[i], &m->full[i + 1], rest * sizeof(m->full[0]));
	m->r.n_verdicts--;
	for (size_t k = 0; k < m->r.n_verdicts; k++)
		m->vp[k] = &m->v[k];
}

int kpg_response_encode(const struct kpg_answer *a, uint8_t *out, size_t cap)
{
	struct response_msg m;
	size_t body_cap, size;

	if (cap < KPG_HDR_LEN)
		return -ENOSPC;
	body_cap = cap - KPG_HDR_LEN;

	m.r = (Kpgate__ScanResponse)KPGATE__SCAN_RESPONSE__INIT;
	m.r.request_id = a->request_id;
	m.r.decision = (Kpgate__Decision)a->decision;
	m.r.trust_list_version = a->trust_version;
	if (a->error != KPG_ERR_NONE) {
		m.r.has_error = 1;
		m.r.error = (Kpgate__ErrorCode)a->error;
	}
	if (a->hmac) {
		static const uint8_t zero_tag[KPG_HMAC_LEN];

		/* protobuf-c packs fields by number: 15 comes out last */
		m.r.has_hmac = 1;
		m.r.hmac.len = KPG_HMAC_LEN;
		m.r.hmac.data = (uint8_t *)zero_tag;
	}
	m.r.n_verdicts = a->verdicts ? a->verdicts->n : 0;
	m.r.verdicts = m.vp;
	for (size_t i = 0; i < m.r.n_verdicts; i++) {
		const struct kpg_verdict *v = &a->verdicts->v[i];

		m.v[i] = (Kpgate__Verdict)KPGATE__VERDICT__INIT;
		m.v[i].check = (char *)v->check;
		m.v[i].decision = (Kpgate__Decision)v->decision;
		m.v[i].reason = v->reason;
		m.full[i] = v->detail;
		m.vp[i] = &m.v[i];
	}
	set_detail_limit(&m, KPG_DETAIL_MAX - 1);

	/* Too big for the request's size: cut details, halving, then drop
	 * verdicts, accepts first; the decision itself always goes out. */
	size = protobuf_c_message_get_packed_size(&m.r.base);
	for (size_t limit = (KPG_DETAIL_MAX - 1) / 2; size > body_cap && limit > 0; limit /= 2) {
		set_detail_limit(&m, limit);
		size = protobuf_c_message_get_packed_size(&m.r.base);
	}
	if (size > body_cap) {
		set_detail_limit(&m, 0);
		size = protobuf_c_message_get_packed_size(&m.r.base);
	}
	for (int pass = 0; pass < 2 && size > body_cap; pass++) {
		for (size_t i = m.r.n_verdicts; i-- > 0 && size > body_cap;) {
			if (pass == 0 && m.v[i].decision != KPGATE__DECISION__ACCEPT)
				continue;
			drop_verdict(&m, i);
			size = protobuf_c_message_get_packed_size(&m.r.base);
		}
	}
	if (size > body_cap)
		return -ENOSPC;

	out[0] = KPG_HDR_MAGIC0;
	out[1] = KPG_HDR_MAGIC1;
	out[2] = KPG_WIRE_VERSION;
	out[3] = KPG_MSG_RESPONSE;
	protobuf_c_message_pack(&m.r.base, out + KPG_HDR_LEN);
	return (int)(KPG_HDR_LEN + size);
}
