/* kpgate-audit — reads kpgate's hash-chained audit log (core/kpg_audit.h,
 * docs/audit.md).
 *   verify FILE [--json]   checks every record's hash, the chain and each
 *                          lcore's sequence; exit 0 with a summary, or 1
 *                          naming the first break (a torn tail included)
 *   show FILE [--json]     one line per record (JSON Lines with --json)
 * Exit status: 0 intact, 1 broken or torn or unreadable, 2 usage. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "kpg_audit.h"
#include "kpg_verdict.h"

#define EXIT_BAD   1
#define EXIT_USAGE 2

static const char usage_text[] =
	"usage: kpgate-audit verify FILE [--json]\n"
	"       kpgate-audit show FILE [--json]\n"
	"\n"
	"  verify  checks every record's hash, the hash chain and each lcore's\n"
	"          sequence; exit 0 and a summary, or exit 1 naming the first break\n"
	"  show    prints every intact record, one per line (--json: JSON Lines)\n";

static void hex(const uint8_t *b, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static void iso(int64_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, cap, "%" PRId64, t);
}

static const char *decision_name(uint8_t d)
{
	return d < KPG_DECISION__COUNT ? kpg_decision_name(d) : "?";
}

static const char *error_name(uint8_t e)
{
	return e < KPG_ERR__COUNT ? kpg_error_name(e) : "?";
}

/* --- show ---------------------------------------------------------------- */

static json_t *item_json(const struct kpg_audit_item *it)
{
	json_t *o = json_object();
	char h[2 * KPG_AUDIT_HASH_LEN + 1], t[32];

	hex(it->hash, KPG_AUDIT_HASH_LEN, h);
	json_object_set_new(o, "index", json_integer((json_int_t)it->index));
	json_object_set_new(o, "offset", json_integer((json_int_t)it->offset));
	json_object_set_new(o, "type", json_string(kpg_audit_type_name(it->type)));
	json_object_set_new(o, "hash", json_string(h));
	switch (it->type) {
	case KPG_AUDIT_HEADER:
		iso(it->header.created, t, sizeof(t));
		json_object_set_new(o, "gateway", json_string(it->header.id));
		json_object_set_new(o, "created", json_string(t));
		break;
	case KPG_AUDIT_OPEN:
		iso(it->open.time, t, sizeof(t));
		json_object_set_new(o, "time", json_string(t));
		json_object_set_new(o, "after_unclean_stop",
				    json_boolean(it->open.flags & KPG_AUDIT_OPEN_UNCLEAN));
		json_object_set_new(o, "torn_bytes_cut",
				    json_integer((json_int_t)it->open.torn_bytes));
		if (it->open.torn_bytes)
			json_object_set_new(o, "torn_offset",
					    json_integer((json_int_t)it->open.torn_offset));
		break;
	case KPG_AUDIT_CLOSE:
		iso(it->close.time, t, sizeof(t));
		json_object_set_new(o, "time", json_string(t));
		json_object_set_new(o, "decisions",
				    json_integer((json_int_t)it->close.decisions));
		break;
	case KPG_AUDIT_DECISION: {
		const struct kpg_audit_rec *r = &it->decision;
		json_t *vs = json_array();
		char k[2 * KPG_KEY_ID_LEN + 1], rid[24];

		iso(r->time, t, sizeof(t));
		/* request ids are 64-bit: a string, so no JSON reader rounds them */
		snprintf(rid, sizeof(rid), "%" PRIu64, r->request_id);
		json_object_set_new(o, "lcore", json_integer(r->lcore));
		json_object_set_new(o, "seq", json_integer((json_int_t)r->seq));
		json_object_set_new(o, "time", json_string(t));
		json_object_set_new(o, "station", json_string(r->station));
		json_object_set_new(o, "request_id", json_string(rid));
		json_object_set_new(o, "decision", json_string(decision_name(r->decision)));
		if (r->error)
			json_object_set_new(o, "error", json_string(error_name(r->error)));
		json_object_set_new(o, "certificate", json_string(r->cert_number));
		if (r->has_key) {
			hex(r->key_id, KPG_KEY_ID_LEN, k);
			json_object_set_new(o, "key_id", json_string(k));
		}
		json_object_set_new(o, "trust_list_version",
				    json_integer((json_int_t)r->trust_version));
		for (unsigned i = 0; i < r->n_verdicts; i++) {
			json_t *v = json_object();

			json_object_set_new(v, "check", json_string(r->verdicts[i].check));
			json_object_set_new(v, "decision",
					    json_string(decision_name(r->verdicts[i].decision)));
			json_object_set_new(v, "reason", json_integer(r->verdicts[i].reason));
			if (r->verdicts[i].reason < 1000)
				json_object_set_new(v, "reason_name",
						    json_string(kpg_reason_name(r->verdicts[i].reason)));
			json_array_append_new(vs, v);
		}
		json_object_set_new(o, "verdicts", vs);
		break;
	}
	}
	return o;
}

static void item_text(const struct kpg_audit_item *it)
{
	char t[32];

	printf("%" PRIu64 " @%" PRIu64 " %s", it->index, it->offset,
	       kpg_audit_type_name(it->type));
	switch (it->type) {
	case KPG_AUDIT_HEADER:
		iso(it->header.created, t, sizeof(t));
		printf(" gateway \"%s\" created %s", it->header.id, t);
		break;
	case KPG_AUDIT_OPEN:
		iso(it->open.time, t, sizeof(t));
		printf(" %s%s", t, it->open.flags & KPG_AUDIT_OPEN_UNCLEAN ?
		       " after an unclean stop" : "");
		if (it->open.torn_bytes)
			printf(", torn tail of %" PRIu64 " bytes cut at %" PRIu64,
			       it->open.torn_bytes, it->open.torn_offset);
		break;
	case KPG_AUDIT_CLOSE:
		iso(it->close.time, t, sizeof(t));
		printf(" %s after %" PRIu64 " decisions", t, it->close.decisions);
		break;
	case KPG_AUDIT_DECISION: {
		const struct kpg_audit_rec *r = &it->decision;

		iso(r->time, t, sizeof(t));
		printf(" lcore %u seq %" PRIu64 " %s station \"%s\" request %" PRIu64
		       " %s", r->lcore, r->seq, t, r->station, r->request_id,
		       r->error ? error_name(r->error) : decision_name(r->decision));
		if (r->cert_number[0])
			printf(" %s", r->cert_number);
		printf(" tl %" PRIu64, r->trust_version);
		for (unsigned i = 0; i < r->n_verdicts; i++)
			printf("%s%s=%s/%u", i ? "," : " [", r->verdicts[i].check,
			       decision_name(r->verdicts[i].decision), r->verdicts[i].reason);
		if (r->n_verdicts)
			putchar(']');
		break;
	}
	}
	putchar('\n');
}

static int show_each(void *arg, const struct kpg_audit_item *it)
{
	if (*(bool *)arg) {
		json_t *o = item_json(it);

		json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(o);
	} else {
		item_text(it);
	}
	return 0;
}

/* --- verify ---------------------------------------------------------------- */

static const char *status_name(enum kpg_audit_status s)
{
	return s == KPG_AUDIT_INTACT ? "intact" : s == KPG_AUDIT_TORN ? "torn" : "broken";
}

static void summary_json(const char *path, const struct kpg_audit_summary *s)
{
	json_t *o = json_object(), *lc = json_object(), *by = json_object();
	char h[2 * KPG_AUDIT_HASH_LEN + 1];
	uint64_t lost = 0;

	json_object_set_new(o, "file", json_string(path));
	json_object_set_new(o, "status", json_string(status_name(s->status)));
	if (s->status != KPG_AUDIT_INTACT) {
		json_object_set_new(o, "break_record", json_integer((json_int_t)s->break_index));
		json_object_set_new(o, "break_offset", json_integer((json_int_t)s->break_offset));
		json_object_set_new(o, "why", json_string(s->why));
	}
	json_object_set_new(o, "gateway", json_string(s->gateway_id));
	json_object_set_new(o, "records", json_integer((json_int_t)s->records));
	json_object_set_new(o, "decisions", json_integer((json_int_t)s->decisions));
	for (int d = 0; d < KPG_DECISION__COUNT; d++)
		json_object_set_new(by, d ? kpg_decision_name(d) : "error",
				    json_integer((json_int_t)s->decisions_by[d]));
	json_object_set_new(o, "by_decision", by);
	json_object_set_new(o, "opens", json_integer((json_int_t)s->opens));
	json_object_set_new(o, "closes", json_integer((json_int_t)s->closes));
	json_object_set_new(o, "unknown", json_integer((json_int_t)s->unknown));
	json_object_set_new(o, "good_bytes", json_integer((json_int_t)s->good_bytes));
	json_object_set_new(o, "file_bytes", json_integer((json_int_t)s->file_bytes));
	for (unsigned l = 0; l < KPG_AUDIT_LCORES; l++) {
		const struct kpg_audit_lcore_seq *q = &s->lcore[l];
		json_t *one;
		char name[16];

		if (q->count == 0)
			continue;
		one = json_object();
		json_object_set_new(one, "first", json_integer((json_int_t)q->first));
		json_object_set_new(one, "last", json_integer((json_int_t)q->last));
		json_object_set_new(one, "count", json_integer((json_int_t)q->count));
		json_object_set_new(one, "missing", json_integer((json_int_t)q->missing));
		snprintf(name, sizeof(name), "%u", l);
		json_object_set_new(lc, name, one);
		lost += q->missing;
	}
	json_object_set_new(o, "lcores", lc);
	json_object_set_new(o, "missing", json_integer((json_int_t)lost));
	hex(s->last_hash, KPG_AUDIT_HASH_LEN, h);
	json_object_set_new(o, "last_hash", json_string(h));
	json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(o);
}

static void summary_text(const char *path, const struct kpg_audit_summary *s)
{
	char h[2 * KPG_AUDIT_HASH_LEN + 1], t[32];
	uint64_t lost = 0;

	if (s->status == KPG_AUDIT_INTACT)
		printf("%s: intact\n", path);
	else
		printf("%s: %s at record %" PRIu64 " (offset %" PRIu64 "): %s\n", path,
		       s->status == KPG_AUDIT_TORN ? "torn tail" : "chain broken",
		       s->break_index, s->break_offset, s->why);
	iso(s->created, t, sizeof(t));
	printf("  gateway \"%s\", log created %s\n", s->gateway_id, t);
	printf("  %" PRIu64 " intact records, %" PRIu64 " of %" PRIu64 " bytes: %"
	       PRIu64 " decisions (%" PRIu64 " accept, %" PRIu64 " refer, %" PRIu64
	       " reject, %" PRIu64 " error answers), %" PRIu64 " starts, %" PRIu64
	       " clean stops\n", s->records, s->good_bytes, s->file_bytes,
	       s->decisions, s->decisions_by[KPG_ACCEPT], s->decisions_by[KPG_REFER],
	       s->decisions_by[KPG_REJECT], s->decisions_by[KPG_DECISION_NONE],
	       s->opens, s->closes);
	for (unsigned l = 0; l < KPG_AUDIT_LCORES; l++) {
		const struct kpg_audit_lcore_seq *q = &s->lcore[l];

		if (q->count == 0)
			continue;
		printf("  lcore %u: seq %" PRIu64 "..%" PRIu64 ", %" PRIu64 " records",
		       l, q->first, q->last, q->count);
		if (q->missing)
			printf(", %" PRIu64 " missing (lost to a full ring in async mode)",
			       q->missing);
		putchar('\n');
		lost += q->missing;
	}
	if (s->unknown)
		printf("  %" PRIu64 " records of a newer format (hash-checked, not read)\n",
		       s->unknown);
	hex(s->last_hash, KPG_AUDIT_HASH_LEN, h);
	printf("  last record hash %s\n", h);
	if (s->status == KPG_AUDIT_TORN)
		printf("  kpgate keeps the torn bytes beside the log and cuts them when it "
		       "next opens it\n");
}

int main(int argc, char **argv)
{
	struct kpg_audit_summary *s;
	bool json = false, verify;
	const char *path = NULL;
	char err[512];
	int rc;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
			  strcmp(argv[1], "help") == 0)) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (argc < 3 || (strcmp(argv[1], "verify") != 0 && strcmp(argv[1], "show") != 0)) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	verify = strcmp(argv[1], "verify") == 0;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 && !json)
			json = true;
		else if (argv[i][0] != '-' && path == NULL)
			path = argv[i];
		else {
			fprintf(stderr, "kpgate-audit: unexpected argument \"%s\"\n", argv[i]);
			fputs(usage_text, stderr);
			return EXIT_USAGE;
		}
	}
	if (path == NULL) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	s = malloc(sizeof(*s));
	if (s == NULL)
		return EXIT_BAD;
	rc = kpg_audit_walk_file(path, verify ? NULL : show_each, &json, s, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "kpgate-audit: %s\n", err);
		free(s);
		return EXIT_BAD;
	}
	if (verify) {
		if (json)
			summary_json(path, s);
		else
			summary_text(path, s);
	} else if (s->status != KPG_AUDIT_INTACT) {
		fprintf(stderr, "kpgate-audit: %s: %s at record %" PRIu64 " (offset %"
			PRIu64 "): %s\n", path, s->status == KPG_AUDIT_TORN ?
			"torn tail" : "chain broken", s->break_index, s->break_offset,
			s->why);
	}
	rc = s->status == KPG_AUDIT_INTACT ? 0 : EXIT_BAD;
	free(s);
	return rc;
}
