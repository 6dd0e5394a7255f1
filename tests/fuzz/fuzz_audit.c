/* fuzz_audit.c — kpg_audit_walk() over arbitrary bytes: the reader that
 * kpgate-audit, kpgate-shipper and the gateway's own start-up (torn-tail
 * detection) trust with whatever a disk or an attacker left in a log.
 *
 * Checked beyond "no crash": every record handed out lies inside the
 * buffer, in order, and is counted; an intact walk covers the whole file;
 * a break or torn tail is reported inside the file, after the intact
 * prefix it names. */
#include <stdint.h>
#include <string.h>

#include "kpg_audit.h"
#include "fuzz_check.h"

struct walk {
	size_t len;
	uint64_t seen, next_offset;
};

static int each(void *arg, const struct kpg_audit_item *it)
{
	struct walk *w = arg;

	FUZZ_CHECK(it->offset == w->next_offset);
	FUZZ_CHECK(it->len >= KPG_AUDIT_REC_MIN && it->len <= KPG_AUDIT_REC_MAX);
	FUZZ_CHECK(it->offset + it->len <= w->len);
	FUZZ_CHECK(it->index == w->seen);
	w->next_offset = it->offset + it->len;
	w->seen++;
	return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static struct kpg_audit_summary s;   /* large: one per process */
	struct walk w = { .len = size };

	memset(&s, 0, sizeof(s));
	if (kpg_audit_walk(data, size, each, &w, &s) != 0)
		return 0;
	FUZZ_CHECK(w.seen == s.records);
	FUZZ_CHECK(s.good_bytes == w.next_offset);
	FUZZ_CHECK(s.good_bytes <= size && s.file_bytes == size);
	if (s.status == KPG_AUDIT_INTACT)
		FUZZ_CHECK(s.good_bytes == size);
	else
		FUZZ_CHECK(s.break_offset >= s.good_bytes && s.break_offset <= size &&
			   s.why[0] != '\0');
	FUZZ_CHECK(s.decisions <= s.records && s.n_lcores <= KPG_AUDIT_LCORES);
	return 0;
}
