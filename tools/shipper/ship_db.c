/* ship_db.c — kpgate-shipper's PostgreSQL side; see ship_db.h.
 *
 * One connection, non-blocking, in libpq pipeline mode: a batch is one
 * round trip, kpgate_ship_begin() + one INSERT per record + the position's
 * UPDATE, then a sync. Without BEGIN/COMMIT the statements up to a sync are
 * one implicit transaction: any error rolls all of it back, and the
 * PGRES_PIPELINE_SYNC result is the confirmation that it committed. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "kpg_err.h"
#include "kpg_verdict.h"
#include "ship_db.h"

#define HASH_LEN KPG_AUDIT_HASH_LEN

struct ship_db {
	char *conninfo;
	PGconn *conn;
	int stop_fd;
	unsigned timeout_ms;             /* one round trip, the connection included */
};

static const char sql_begin[] = "SELECT kpgate_ship_begin($1, $2, $3)";
static const char sql_rec[] =
	"INSERT INTO kpgate_audit_record (gateway_id, rec_index, rec_offset, "
	"rec_type, version, prev_hash, hash, raw, unix_time, lcore, seq, "
	"request_id, trust_version, decision, error, key_id, station, "
	"certificate, verdicts, open_flags, torn_offset, torn_bytes, "
	"close_decisions) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
	"$11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23) "
	"ON CONFLICT DO NOTHING";
#define REC_PARAMS 23
static const char sql_end[] =
	"UPDATE kpgate_ship_position SET next_index = $2, next_offset = $3, "
	"last_hash = $4, shipped_at = now() WHERE gateway_id = $1";
static const char sql_code[] =
	"INSERT INTO kpgate_code (kind, code, name) VALUES ($1, $2, $3) "
	"ON CONFLICT (kind, code) DO UPDATE SET name = EXCLUDED.name "
	"WHERE kpgate_code.name IS DISTINCT FROM EXCLUDED.name";
static const char sql_attach[] =
	"INSERT INTO kpgate_ship_position (gateway_id, header_hash, log_created, "
	"last_hash) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
static const char sql_position[] =
	"SELECT header_hash, next_index, next_offset, last_hash "
	"FROM kpgate_ship_position WHERE gateway_id = $1";

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct ship_db *ship_db_new(const char *conninfo, int stop_fd, unsigned timeout_ms)
{
	struct ship_db *db = calloc(1, sizeof(*db));

	if (db == NULL || (db->conninfo = strdup(conninfo)) == NULL) {
		free(db);
		return NULL;
	}
	db->stop_fd = stop_fd;
	db->timeout_ms = timeout_ms;
	return db;
}

void ship_db_disconnect(struct ship_db *db)
{
	/* Closing mid-transaction is safe: the server rolls back what it has
	 * not committed, and the position says which it was. */
	if (db->conn)
		PQfinish(db->conn);
	db->conn = NULL;
}

void ship_db_delete(struct ship_db *db)
{
	if (db == NULL)
		return;
	ship_db_disconnect(db);
	free(db->conninfo);
	free(db);
}

bool ship_db_connected(const struct ship_db *db)
{
	return db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK;
}

/* ---- waiting, bounded and stoppable -------------------------------------- */

static int db_wait(struct ship_db *db, bool writing, int64_t deadline)
{
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = PQsocket(db->conn), .events = POLLIN | (writing ? POLLOUT : 0) },
			{ .fd = db->stop_fd, .events = POLLIN },
		};
		int64_t left = deadline - now_ms();
		int n;

		if (p[0].fd < 0)
			return -SHIP_DB_RETRY;
		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(p, 2, left > INT_MAX ? INT_MAX : (int)left);
		if (n < 0 && errno != EINTR)
			return -SHIP_DB_RETRY;
		if (n > 0 && p[1].revents)
			return -SHIP_DB_STOP;
		if (n > 0)
			return 0;
	}
}

/* Sends all libpq holds; reads meanwhile, since the server may answer the
 * first statements of a long pipeline before it has read the last. */
static int db_flush(struct ship_db *db, int64_t deadline)
{
	int r, w;

	while ((r = PQflush(db->conn)) == 1) {
		if ((w = db_wait(db, true, deadline)) < 0)
			return w;
		if (!PQconsumeInput(db->conn))
			return -SHIP_DB_RETRY;
	}
	return r == 0 ? 0 : -SHIP_DB_RETRY;
}

static int db_next(struct ship_db *db, int64_t deadline, PGresult **res)
{
	int w;

	while (PQisBusy(db->conn)) {
		if ((w = db_wait(db, false, deadline)) < 0)
			return w;
		if (!PQconsumeInput(db->conn))
			return -SHIP_DB_RETRY;
	}
	*res = PQgetResult(db->conn);
	return 0;
}

/* What to do about a statement's error. */
static int classify(const PGresult *res)
{
	const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	static const char *const retry[] = {
		"08",        /* connection exception */
		"40",        /* serialization failure, deadlock: the next try goes */
		"53",        /* insufficient resources: a full disk empties */
		"57",        /* operator intervention: shutdown, cancel */
		"58",        /* system error */
		"25006",     /* read-only transaction: a standby, until failover */
		"55P03",     /* lock not available */
	};

	if (st == NULL)
		return -SHIP_DB_RETRY;       /* libpq's own: the connection went */
	if (strcmp(st, "KP001") == 0 || strcmp(st, "23503") == 0)
		return -SHIP_DB_MOVED;       /* position moved, or its row deleted */
	for (size_t i = 0; i < sizeof(retry) / sizeof(retry[0]); i++)
		if (strncmp(st, retry[i], strlen(retry[i])) == 0)
			return -SHIP_DB_RETRY;
	return -SHIP_DB_FATAL;
}

/* Called with each query's successful result, by its number in the
 * pipeline; non-zero is an error the pipeline returns. */
typedef int (*on_result_fn)(void *arg, unsigned q, const PGresult *res,
			    char *err, size_t errlen);

/* Syncs the pipeline and reads every result up to the sync. 0 once the
 * sync came back with no error: everything before it committed. */
static int db_run(struct ship_db *db, on_result_fn on, void *arg,
		  char *err, size_t errlen)
{
	int64_t deadline = now_ms() + db->timeout_ms;
	int first = 0, rc;
	unsigned q = 0;

	if (!PQpipelineSync(db->conn) || (rc = db_flush(db, deadline)) < 0) {
		rc = -SHIP_DB_RETRY;
		goto lost;
	}
	for (;;) {
		PGresult *res;

		if ((rc = db_next(db, deadline, &res)) < 0)
			goto lost;
		if (res == NULL) {           /* the end of one query's results */
			q++;
			continue;
		}
		switch (PQresultStatus(res)) {
		case PGRES_PIPELINE_SYNC:
			PQclear(res);
			return first;
		case PGRES_COMMAND_OK:
		case PGRES_TUPLES_OK:
			if (first == 0 && on)
				first = on(arg, q, res, err, errlen);
			break;
		case PGRES_PIPELINE_ABORTED:
			break;
		default:
			if (first == 0) {
				first = classify(res);
				kpg_errf(err, errlen, "%s", PQresultErrorMessage(res));
			}
			break;
		}
		PQclear(res);
		if (PQstatus(db->conn) == CONNECTION_BAD) {
			rc = first ? first : -SHIP_DB_RETRY;
			goto lost;
		}
	}
lost:
	/* No sync: whether the server committed is unknown; the position in
	 * the database says, once reconnected. */
	if (rc == -ETIMEDOUT) {
		kpg_errf(err, errlen, "no answer from the database in %u ms",
			 db->timeout_ms);
		rc = -SHIP_DB_RETRY;
	} else if (rc == -SHIP_DB_RETRY && first == 0) {
		kpg_errf(err, errlen, "%s", PQerrorMessage(db->conn));
	}
	if (first != 0 && rc != -SHIP_DB_STOP)
		rc = first;                  /* the statement's error says more */
	ship_db_disconnect(db);
	return rc;
}

/* ---- connecting ------------------------------------------------------------ */

static int check_schema(void *arg, unsigned q, const PGresult *res,
			char *err, size_t errlen)
{
	if (q != 0)
		return 0;
	if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "1") != 0) {
		kpg_errf(err, errlen, "the database holds kpgate schema version %s, "
			 "this shipper needs 1 (deploy/postgres/schema.sql)",
			 PQntuples(res) ? PQgetvalue(res, 0, 0) : "?");
		return -SHIP_DB_FATAL;
	}
	return 0;
}

/* The names of decision, error and reason codes, from this build's core,
 * so that SQL joins name them as kpgate does. */
static int send_codes(struct ship_db *db)
{
	char code[16];
	const char *v[3] = { NULL, code, NULL };

	for (int kind = 0; kind < 3; kind++) {
		unsigned max = kind == 0 ? KPG_DECISION__COUNT :
			       kind == 1 ? KPG_ERR__COUNT : 10000;

		for (unsigned c = 0; c < max; c++) {
			v[0] = kind == 0 ? "decision" : kind == 1 ? "error" : "reason";
			v[2] = kind == 0 ? kpg_decision_name(c) :
			       kind == 1 ? kpg_error_name(c) : kpg_reason_name(c);
			if (kind == 2 && (strcmp(v[2], "plugin") == 0 ||
					  strcmp(v[2], "unknown") == 0))
				continue;
			snprintf(code, sizeof(code), "%u", c);
			if (!PQsendQueryPrepared(db->conn, "code", 3, v, NULL, NULL, 0))
				return -SHIP_DB_RETRY;
		}
	}
	return 0;
}

int ship_db_connect(struct ship_db *db, char *err, size_t errlen)
{
	/* The user's conninfo (a string or a URI) is expanded from dbname;
	 * the client encoding after it wins: strings go as UTF-8. */
	static const char *const keys[] = { "dbname", "fallback_application_name",
					    "client_encoding", NULL };
	const char *vals[] = { db->conninfo, "kpgate-shipper", "UTF8", NULL };
	int64_t deadline = now_ms() + db->timeout_ms;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	const char *enc;
	int rc;

	ship_db_disconnect(db);
	err[0] = '\0';
	db->conn = PQconnectStartParams(keys, vals, 1);
	if (db->conn == NULL) {
		kpg_errf(err, errlen, "out of memory");
		return -SHIP_DB_RETRY;
	}
	while (PQstatus(db->conn) != CONNECTION_BAD &&
	       st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
		rc = db_wait(db, st == PGRES_POLLING_WRITING, deadline);
		if (rc == -SHIP_DB_STOP) {
			ship_db_disconnect(db);
			return rc;
		}
		if (rc < 0) {
			kpg_errf(err, errlen, "cannot connect in %u ms", db->timeout_ms);
			ship_db_disconnect(db);
			return -SHIP_DB_RETRY;
		}
		st = PQconnectPoll(db->conn);
	}
	if (PQstatus(db->conn) != CONNECTION_OK) {
		kpg_errf(err, errlen, "%s", PQerrorMessage(db->conn));
		ship_db_disconnect(db);
		return -SHIP_DB_RETRY;
	}
	/* Text columns take the records' UTF-8 as it is only in a UTF8 database. */
	enc = PQparameterStatus(db->conn, "server_encoding");
	if (enc == NULL || strcmp(enc, "UTF8") != 0) {
		kpg_errf(err, errlen, "the database's encoding is %s; kpgate's needs UTF8 "
			 "(createdb -E UTF8)", enc ? enc : "unknown");
		ship_db_disconnect(db);
		return -SHIP_DB_FATAL;
	}
	if (PQsetnonblocking(db->conn, 1) != 0 || !PQenterPipelineMode(db->conn) ||
	    !PQsendQueryParams(db->conn, "SELECT kpgate_schema_version()", 0, NULL,
			       NULL, NULL, NULL, 0) ||
	    !PQsendPrepare(db->conn, "begin", sql_begin, 0, NULL) ||
	    !PQsendPrepare(db->conn, "rec", sql_rec, 0, NULL) ||
	    !PQsendPrepare(db->conn, "end", sql_end, 0, NULL) ||
	    !PQsendPrepare(db->conn, "code", sql_code, 0, NULL) ||
	    send_codes(db) < 0) {
		kpg_errf(err, errlen, "%s", PQerrorMessage(db->conn));
		ship_db_disconnect(db);
		return -SHIP_DB_RETRY;
	}
	rc = db_run(db, check_schema, NULL, err, errlen);
	if (rc == -SHIP_DB_FATAL && strstr(err, "kpgate_schema_version"))
		kpg_errf(err, errlen, "no kpgate schema in this database: load "
			 "deploy/postgres/schema.sql (psql -f)");
	if (rc < 0)
		ship_db_disconnect(db);
	return rc;
}

/* ---- a gateway's position --------------------------------------------------- */

static uint64_t be64(const char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | (uint8_t)p[i];
	return v;
}

struct attach {
	const uint8_t *header_hash;
	struct ship_pos *pos;
	bool found;
};

static int read_position(void *arg, unsigned q, const PGresult *res,
			 char *err, size_t errlen)
{
	struct attach *a = arg;

	if (q != 1 || PQntuples(res) != 1)
		return 0;
	for (int c = 0; c < 4; c++)
		if (PQgetlength(res, 0, c) != (c == 1 || c == 2 ? 8 : (int)HASH_LEN)) {
			kpg_errf(err, errlen, "unexpected shipping position row");
			return -SHIP_DB_FATAL;
		}
	if (memcmp(PQgetvalue(res, 0, 0), a->header_hash, HASH_LEN) != 0)
		return -SHIP_DB_OTHER_LOG;
	a->pos->index = be64(PQgetvalue(res, 0, 1));
	a->pos->offset = be64(PQgetvalue(res, 0, 2));
	memcpy(a->pos->last_hash, PQgetvalue(res, 0, 3), HASH_LEN);
	a->found = true;
	return 0;
}

int ship_db_attach(struct ship_db *db, const struct kpg_audit_item *header,
		   struct ship_pos *pos, char *err, size_t errlen)
{
	static const uint8_t zeros[HASH_LEN];
	struct attach a = { header->hash, pos, false };
	char created[24];
	const char *v[4] = { header->header.id, (const char *)header->hash, created,
			     (const char *)zeros };
	const int len[4] = { 0, HASH_LEN, 0, HASH_LEN };
	const int fmt[4] = { 0, 1, 0, 1 };
	int rc;

	if (!ship_db_connected(db))
		return -SHIP_DB_RETRY;
	snprintf(created, sizeof(created), "%" PRId64, header->header.created);
	if (!PQsendQueryParams(db->conn, sql_attach, 4, NULL, v, len, fmt, 0) ||
	    !PQsendQueryParams(db->conn, sql_position, 1, NULL, v, len, fmt, 1)) {
		kpg_errf(err, errlen, "%s", PQerrorMessage(db->conn));
		ship_db_disconnect(db);
		return -SHIP_DB_RETRY;
	}
	rc = db_run(db, read_position, &a, err, errlen);
	if (rc == -SHIP_DB_OTHER_LOG)
		kpg_errf(err, errlen, "the database holds records of gateway \"%s\" "
			 "from another log (its header differs): a new log needs "
			 "the old rows moved away, or a new gateway id",
			 header->header.id);
	else if (rc == 0 && !a.found) {
		kpg_errf(err, errlen, "no shipping position for gateway \"%s\"",
			 header->header.id);
		rc = -SHIP_DB_FATAL;
	}
	return rc;
}

/* ---- a batch ---------------------------------------------------------------- */

/* PostgreSQL refuses text that is not UTF-8. jansson refuses exactly what
 * PostgreSQL does (overlong forms, surrogates, beyond U+10FFFF), so its
 * check serves; such a string is stored NULL, its bytes stay in raw. */
static bool utf8_ok(const char *s)
{
	json_t *j = json_string(s);

	json_decref(j);
	return j != NULL;
}

/* [{"check", "decision", "reason"}]: codes as in the record; a check name
 * that is not UTF-8 is null, as the schema's verification expects. */
static char *verdicts_json(const struct kpg_audit_rec *r)
{
	json_t *a = json_array();
	char *s;

	for (unsigned i = 0; a && i < r->n_verdicts; i++) {
		json_t *check = json_string(r->verdicts[i].check);

		json_array_append_new(a, json_pack("{s:o,s:i,s:I}",
			"check", check ? check : json_null(),
			"decision", (int)r->verdicts[i].decision,
			"reason", (json_int_t)r->verdicts[i].reason));
	}
	s = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	return s;
}

/* Number text for a parameter. */
struct nums {
	char b[12][24];
	unsigned n;
};

static const char *num_u(struct nums *t, uint64_t v)
{
	snprintf(t->b[t->n], sizeof(t->b[0]), "%" PRIu64, v);
	return t->b[t->n++];
}

static const char *num_i(struct nums *t, int64_t v)
{
	snprintf(t->b[t->n], sizeof(t->b[0]), "%" PRId64, v);
	return t->b[t->n++];
}

static int send_rec(struct ship_db *db, const char *gateway, const struct ship_rec *r)
{
	const struct kpg_audit_item *it = &r->it;
	const char *v[REC_PARAMS] = { NULL };
	int len[REC_PARAMS] = { 0 }, fmt[REC_PARAMS] = { 0 };
	char *verdicts = NULL;
	struct nums t = { .n = 0 };
	bool known = it->version == KPG_AUDIT_VERSION;
	int ok;

	v[0] = gateway;
	v[1] = num_u(&t, it->index);
	v[2] = num_u(&t, it->offset);
	v[3] = num_u(&t, it->type);
	v[4] = num_u(&t, it->version);
	v[5] = (const char *)r->prev;
	v[6] = (const char *)it->hash;
	v[7] = (const char *)r->raw;
	len[5] = len[6] = HASH_LEN;
	len[7] = (int)it->len;
	fmt[5] = fmt[6] = fmt[7] = fmt[15] = 1;     /* bytea as bytes */
	if (known && it->type == KPG_AUDIT_HEADER) {
		v[8] = num_i(&t, it->header.created);
	} else if (known && it->type == KPG_AUDIT_OPEN) {
		v[8] = num_i(&t, it->open.time);
		v[19] = num_u(&t, it->open.flags);
		v[20] = num_u(&t, it->open.torn_offset);
		v[21] = num_u(&t, it->open.torn_bytes);
	} else if (known && it->type == KPG_AUDIT_CLOSE) {
		v[8] = num_i(&t, it->close.time);
		v[22] = num_u(&t, it->close.decisions);
	} else if (known && it->type == KPG_AUDIT_DECISION) {
		const struct kpg_audit_rec *d = &it->decision;

		v[8] = num_i(&t, d->time);
		v[9] = num_u(&t, d->lcore);
		v[10] = num_u(&t, d->seq);
		v[11] = num_u(&t, d->request_id);
		v[12] = num_u(&t, d->trust_version);
		v[13] = num_u(&t, d->decision);
		v[14] = num_u(&t, d->error);
		if (d->has_key) {
			v[15] = (const char *)d->key_id;
			len[15] = KPG_KEY_ID_LEN;
		}
		v[16] = utf8_ok(d->station) ? d->station : NULL;
		v[17] = utf8_ok(d->cert_number) ? d->cert_number : NULL;
		v[18] = verdicts = verdicts_json(d);
		if (verdicts == NULL)
			return -ENOMEM;
	}
	/* libpq copies the parameters into its buffer here. */
	ok = PQsendQueryPrepared(db->conn, "rec", REC_PARAMS, v, len, fmt, 0);
	free(verdicts);
	return ok ? 0 : -SHIP_DB_RETRY;
}

struct batch {
	unsigned n;                      /* records: queries 1 .. n */
	unsigned inserted;
};

static int count_inserted(void *arg, unsigned q, const PGresult *res,
			  char *err, size_t errlen)
{
	struct batch *b = arg;

	if (q >= 1 && q <= b->n)
		b->inserted += (unsigned)strtoul(PQcmdTuples((PGresult *)res), NULL, 10);
	return 0;
}

int ship_db_ship(struct ship_db *db, const char *gateway, struct ship_pos *pos,
		 const struct ship_rec *recs, unsigned n, unsigned *inserted,
		 char *err, size_t errlen)
{
	const struct ship_rec *last = &recs[n - 1];
	struct ship_pos next;
	struct batch b = { n, 0 };
	struct nums t = { .n = 0 };
	const char *bv[3], *ev[4];
	const int blen[3] = { 0, 0, HASH_LEN }, bfmt[3] = { 0, 0, 1 };
	const int elen[4] = { 0, 0, 0, HASH_LEN }, efmt[4] = { 0, 0, 0, 1 };
	int rc;

	if (!ship_db_connected(db))
		return -SHIP_DB_RETRY;
	next.index = last->it.index + 1;
	next.offset = last->it.offset + last->it.len;
	memcpy(next.last_hash, last->it.hash, HASH_LEN);

	bv[0] = gateway;
	bv[1] = num_u(&t, pos->index);
	bv[2] = (const char *)pos->last_hash;
	if (!PQsendQueryPrepared(db->conn, "begin", 3, bv, blen, bfmt, 0))
		goto send_failed;
	for (unsigned i = 0; i < n; i++) {
		if ((rc = send_rec(db, gateway, &recs[i])) == -ENOMEM) {
			kpg_errf(err, errlen, "out of memory");
			ship_db_disconnect(db);
			return -SHIP_DB_RETRY;
		}
		if (rc < 0)
			goto send_failed;
	}
	ev[0] = gateway;
	ev[1] = num_u(&t, next.index);
	ev[2] = num_u(&t, next.offset);
	ev[3] = (const char *)next.last_hash;
	if (!PQsendQueryPrepared(db->conn, "end", 4, ev, elen, efmt, 0))
		goto send_failed;
	rc = db_run(db, count_inserted, &b, err, errlen);
	if (rc < 0)
		return rc;
	*pos = next;
	*inserted = b.inserted;
	return 0;

send_failed:
	kpg_errf(err, errlen, "%s", PQerrorMessage(db->conn));
	ship_db_disconnect(db);
	return -SHIP_DB_RETRY;
}
