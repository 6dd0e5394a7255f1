/* ship_db.h — kpgate-shipper's PostgreSQL side (libpq): the connection,
 * a gateway's shipping position, and batches of records inserted in one
 * transaction with the position that follows them (deploy/postgres/
 * schema.sql). Every wait is bounded and ends early when the stop fd
 * becomes readable, so a hung server never keeps the shipper from
 * stopping. */
#ifndef SHIP_DB_H
#define SHIP_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kpg_audit.h"

/* Where shipping resumes: the next record of the log, and the hash of the
 * one before it (zeros before the header). */
struct ship_pos {
	uint64_t index, offset;
	uint8_t last_hash[KPG_AUDIT_HASH_LEN];
};

/* A record held for the next batch: a copy, since the file it was read
 * from may be unmapped before the batch goes. */
struct ship_rec {
	struct kpg_audit_item it;        /* it.hash points into raw */
	uint8_t prev[KPG_AUDIT_HASH_LEN];
	uint8_t raw[KPG_AUDIT_REC_MAX];
};

/* Errors beyond -errno: what the caller does next. */
enum {
	SHIP_DB_RETRY = 1000,            /* connection or server trouble: reconnect later */
	SHIP_DB_MOVED,                   /* the position is not where we left it: reread */
	SHIP_DB_FATAL,                   /* needs a person: schema, rights, data refused */
	SHIP_DB_STOP,                    /* the stop fd fired */
	SHIP_DB_OTHER_LOG,               /* the gateway's rows come from another log */
};

struct ship_db;

struct ship_db *ship_db_new(const char *conninfo, int stop_fd, unsigned timeout_ms);
void ship_db_delete(struct ship_db *db);

/* Connects, checks the schema and the database encoding, prepares the
 * statements and writes the code names. 0 or -SHIP_DB_*. */
int ship_db_connect(struct ship_db *db, char *err, size_t errlen);
void ship_db_disconnect(struct ship_db *db);
bool ship_db_connected(const struct ship_db *db);

/* The position of the log whose header is given (made at record 0 the
 * first time). -SHIP_DB_OTHER_LOG when the gateway's rows were shipped
 * from a log with another header. */
int ship_db_attach(struct ship_db *db, const struct kpg_audit_item *header,
		   struct ship_pos *pos, char *err, size_t errlen);

/* Inserts recs[0 .. n) (ON CONFLICT DO NOTHING) and moves the gateway's
 * position from *pos past the last of them, in one transaction; *pos
 * follows only once the commit is confirmed. *inserted: rows that were not
 * already there. */
int ship_db_ship(struct ship_db *db, const char *gateway, struct ship_pos *pos,
		 const struct ship_rec *recs, unsigned n, unsigned *inserted,
		 char *err, size_t errlen);

#endif
