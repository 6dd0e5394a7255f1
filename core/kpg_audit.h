/* kpg_audit.h — what the gateway records of every answered request.
 *
 * The engine fills one struct kpg_audit_rec per answer (accept, refer,
 * reject or error); the gateway adds the lcore and its sequence number and
 * hands it to the audit writer. The record format on disk, the hash chain
 * and the reader are declared further down as they are built. */
#ifndef KPG_AUDIT_H
#define KPG_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "kpg_limits.h"
#include "kpg_request.h"
#include "kpg_verdict.h"

#define KPG_AUDIT_NUMBER_MAX 64u      /* certificate number bytes kept */

struct kpg_audit_verdict {
	char check[KPG_CHECK_NAME_MAX];
	uint8_t decision;                /* enum kpg_decision */
	uint32_t reason;
};

struct kpg_audit_rec {
	/* filled by the gateway */
	uint32_t lcore;
	uint64_t seq;                    /* per lcore, from 1 */
	/* filled by the engine */
	int64_t time;                    /* gateway clock, Unix seconds */
	uint64_t request_id;
	uint64_t trust_version;
	uint8_t decision;                /* enum kpg_decision */
	uint8_t error;                   /* enum kpg_error */
	bool has_key;
	uint8_t key_id[KPG_KEY_ID_LEN];
	char station[KPG_STATION_ID_MAX + 1];
	char cert_number[KPG_AUDIT_NUMBER_MAX + 1]; /* "" when not decoded */
	uint8_t n_verdicts;
	struct kpg_audit_verdict verdicts[KPG_VERDICTS_MAX];
};

#endif
