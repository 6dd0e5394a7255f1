/* kpgate-shipper — ships a gateway's audit log (docs/audit.md) into
 * PostgreSQL (deploy/postgres/schema.sql), record by record, exactly once.
 *
 * It follows the log file as kpgate writes it: each pass walks the file
 * with the core reader, which checks every hash and the chain, skips the
 * records the database already holds (the position stored there), and
 * inserts the rest in batches, each batch in one transaction with the
 * position that follows it. A crash, a kill or a lost connection at any
 * moment leaves the database with a batch entirely or not at all, and the
 * next run resumes from the position it finds there; docs/operations.md
 * ("Shipping audit records to PostgreSQL") says why that is exactly once.
 *
 * Exit status: 0 stopped by SIGTERM/SIGINT (or --once: all shipped),
 * 1 needs a person (message on stderr), 2 usage. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kpg_audit.h"
#include "ship_db.h"
#include "ship_log.h"

#define EXIT_PERSON 1
#define EXIT_USAGE  2

#define BACKOFF_MIN_MS   250u
#define BACKOFF_MAX_MS   15000u
#define DB_TIMEOUT_MS    30000u          /* one round trip to the database */
#define PROGRESS_EVERY_S 60

static const char usage_text[] =
	"usage: kpgate-shipper --log FILE --db CONNINFO [--batch N] [--poll-ms MS] [--once]\n"
	"\n"
	"  --log FILE      the audit log kpgate writes (the audit group's file)\n"
	"  --db CONNINFO   libpq connection string or URI, e.g.\n"
	"                  \"host=/run/postgresql dbname=kpgate\" (schema:\n"
	"                  deploy/postgres/schema.sql)\n"
	"  --batch N       records per transaction (default 500, 1 .. 5000)\n"
	"  --poll-ms MS    how often to look for new records (default 1000)\n"
	"  --once          ship what the log holds now, then exit\n";

/* Outcomes of a pass beyond ship_db's. */
enum {
	PASS_ATTACH = 2000,              /* a log header not yet attached */
	PASS_DIVERGED,                   /* the log is not what was shipped */
};

static volatile sig_atomic_t stopping;
static int stop_pipe[2] = { -1, -1 };

/* Sets the flag and makes the stop pipe readable for good: every wait,
 * the one under way and any later one, sees it. */
static void on_stop(int sig)
{
	int saved = errno;

	(void)sig;
	stopping = 1;
	if (write(stop_pipe[1], "x", 1) < 0) {
		/* full: it is readable already */
	}
	errno = saved;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line on stderr (the journal under systemd), without the newline
 * libpq ends its messages with. */
static void say(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' '))
		line[--n] = '\0';
	for (char *p = line; (p = strchr(p, '\n')) != NULL; )
		*p = ' ';
	fprintf(stderr, "kpgate-shipper: %s\n", line);
}

/* Sleeps, or less if told to stop. */
static void pause_ms(unsigned ms)
{
	struct pollfd p = { .fd = stop_pipe[0], .events = POLLIN };

	if (!stopping)
		poll(&p, 1, (int)ms);
}

struct shipper {
	const char *path;
	bool once;
	unsigned batch_max, poll_ms;
	struct ship_log *log;
	struct ship_db *db;
	struct kpg_audit_summary *sum;

	bool attached;                   /* pos is the database's, for header_hash */
	struct kpg_audit_item header;    /* the log's header, as last read */
	uint8_t header_hash[KPG_AUDIT_HASH_LEN];
	char gateway[KPG_AUDIT_ID_MAX + 1];
	struct ship_pos pos;

	uint8_t prev[KPG_AUDIT_HASH_LEN];/* hash of the record before the next */
	struct ship_rec *batch;
	unsigned n;
	int fail;                        /* why the pass stopped; 0: it did not */
	char err[1024];

	uint64_t shipped, already;       /* since the last progress line */
	time_t progress_at;
	unsigned backoff_ms;
};

static int flush(struct shipper *sh)
{
	unsigned inserted = 0, n = sh->n;
	int rc;

	if (n == 0)
		return 0;
	sh->n = 0;
	rc = ship_db_ship(sh->db, sh->gateway, &sh->pos, sh->batch, n,
			  &inserted, sh->err, sizeof(sh->err));
	if (rc < 0) {
		sh->fail = -rc;
		return rc;
	}
	sh->shipped += inserted;
	sh->already += n - inserted;     /* rows a replayed range found there */
	return 0;
}

/* Every intact record of the log, in order. */
static int on_record(void *arg, const struct kpg_audit_item *it, const uint8_t *raw)
{
	struct shipper *sh = arg;
	struct ship_rec *r;

	if (stopping) {
		sh->fail = SHIP_DB_STOP;
		return 1;
	}
	if (it->index == 0 && (!sh->attached ||
			       memcmp(it->hash, sh->header_hash, KPG_AUDIT_HASH_LEN) != 0)) {
		sh->header = *it;
		memcpy(sh->header_hash, it->hash, KPG_AUDIT_HASH_LEN);
		sh->header.hash = sh->header_hash;
		sh->fail = PASS_ATTACH;
		return 1;
	}
	if (it->index + 1 < sh->pos.index)
		return 0;                    /* shipped before */
	if (it->index + 1 == sh->pos.index) {
		/* The last record shipped must still be there, unchanged: a log
		 * rolled back by a power loss (written mode) and grown again
		 * would reuse its sequence numbers for other answers. */
		if (memcmp(it->hash, sh->pos.last_hash, KPG_AUDIT_HASH_LEN) != 0 ||
		    it->offset + it->len != sh->pos.offset) {
			snprintf(sh->err, sizeof(sh->err), "record %" PRIu64 " of the "
				 "log is not the record %" PRIu64 " shipped to the database "
				 "(the log was replaced, rolled back or altered)",
				 it->index, it->index);
			sh->fail = PASS_DIVERGED;
			return 1;
		}
		memcpy(sh->prev, it->hash, KPG_AUDIT_HASH_LEN);
		return 0;
	}
	r = &sh->batch[sh->n++];
	r->it = *it;
	memcpy(r->raw, raw, it->len);
	r->it.hash = r->raw + it->len - KPG_AUDIT_HASH_LEN;
	memcpy(r->prev, sh->prev, KPG_AUDIT_HASH_LEN);
	memcpy(sh->prev, it->hash, KPG_AUDIT_HASH_LEN);
	if (sh->n == sh->batch_max && flush(sh) < 0)
		return 1;
	return 0;
}

static void progress(struct shipper *sh, bool now)
{
	time_t t = time(NULL);

	if (sh->shipped == 0 && sh->already == 0)
		return;
	if (!now && t - sh->progress_at < PROGRESS_EVERY_S)
		return;
	say("gateway \"%s\": %" PRIu64 " records shipped, %" PRIu64 " were there "
	    "already; next record %" PRIu64 " (offset %" PRIu64 ")", sh->gateway,
	    sh->shipped, sh->already, sh->pos.index, sh->pos.offset);
	sh->shipped = sh->already = 0;
	sh->progress_at = t;
}

/* What a database error means for the loop: 0 carry on (after a pause),
 * or an exit status. */
static int db_trouble(struct shipper *sh, int why)
{
	sh->attached = false;            /* reread the position, whatever happened */
	ship_log_rewalk(sh->log);
	switch (why) {
	case SHIP_DB_STOP:
		return 0;
	case SHIP_DB_MOVED:
		say("the shipping position moved under us; rereading it: %s", sh->err);
		return 0;
	case SHIP_DB_RETRY:
		ship_db_disconnect(sh->db);
		if (sh->once) {
			say("database: %s", sh->err);
			return EXIT_PERSON;
		}
		say("database: %s; again in %u ms", sh->err, sh->backoff_ms);
		/* Jitter, so that a fleet does not come back at one instant. */
		pause_ms(sh->backoff_ms + (unsigned)rand() % (sh->backoff_ms / 4 + 1));
		sh->backoff_ms = sh->backoff_ms * 2 > BACKOFF_MAX_MS ?
				 BACKOFF_MAX_MS : sh->backoff_ms * 2;
		return 0;
	default:
		say("%s", sh->err);
		return EXIT_PERSON;
	}
}

/* After a complete pass: what the log's state means. 0, or an exit status. */
static int judge(struct shipper *sh, bool *logged_break)
{
	const struct kpg_audit_summary *s = sh->sum;

	if (s->status == KPG_AUDIT_BROKEN && s->break_index < sh->pos.index) {
		say("ALTERED: the log breaks at record %" PRIu64 " (offset %" PRIu64
		    "), which was shipped already: %s; the database holds the record "
		    "as shipped (kpgate_verify_chain)", s->break_index,
		    s->break_offset, s->why);
		return EXIT_PERSON;
	}
	if (s->records > 0 && s->records < sh->pos.index) {
		say("the log holds %" PRIu64 " intact records, fewer than the %" PRIu64
		    " shipped: it was replaced or rolled back", s->records, sh->pos.index);
		return EXIT_PERSON;
	}
	if (s->status == KPG_AUDIT_BROKEN) {
		if (!*logged_break)
			say("the log breaks at record %" PRIu64 " (offset %" PRIu64 "): "
			    "%s; shipped up to there, and kpgate will not append to it",
			    s->break_index, s->break_offset, s->why);
		*logged_break = true;
		if (sh->once)
			return EXIT_PERSON;
	} else {
		*logged_break = false;
	}
	return 0;
}

static int run(struct shipper *sh)
{
	bool waiting_logged = false, break_logged = false;
	char err[1024];
	int rc;

	while (!stopping) {
		if (!ship_db_connected(sh->db)) {
			rc = ship_db_connect(sh->db, err, sizeof(err));
			if (rc < 0) {
				snprintf(sh->err, sizeof(sh->err), "%s", err);
				if ((rc = db_trouble(sh, -rc)) != 0)
					return rc;
				continue;
			}
			say("connected to the database");
			sh->attached = false;
			ship_log_rewalk(sh->log);
		}

		memset(sh->prev, 0, sizeof(sh->prev));
		sh->n = 0;
		sh->fail = 0;
		rc = ship_log_pass(sh->log, on_record, sh, sh->sum);
		if (rc == -EAGAIN)
			continue;            /* the file shrank under the pass */
		if (rc == -ENOENT || (rc == 0 && sh->sum->records == 0 && !sh->fail)) {
			if (sh->once) {
				say("%s: no log to ship", sh->path);
				return EXIT_PERSON;
			}
			if (!waiting_logged)
				say("waiting for %s", sh->path);
			waiting_logged = true;
			pause_ms(sh->poll_ms);
			continue;
		}
		if (rc < 0) {
			say("%s: %s", sh->path, strerror(-rc));
			return EXIT_PERSON;
		}
		waiting_logged = false;
		if (rc == 1) {               /* unchanged */
			if (sh->once)
				return 0;
			pause_ms(sh->poll_ms);
			continue;
		}
		if (sh->fail == 0)
			flush(sh);
		switch (sh->fail) {
		case 0:
			break;
		case PASS_ATTACH:
			snprintf(sh->gateway, sizeof(sh->gateway), "%s", sh->header.header.id);
			rc = ship_db_attach(sh->db, &sh->header, &sh->pos, sh->err,
					    sizeof(sh->err));
			if (rc < 0) {
				if ((rc = db_trouble(sh, -rc)) != 0)
					return rc;
				continue;
			}
			sh->attached = true;
			sh->backoff_ms = BACKOFF_MIN_MS;
			say("gateway \"%s\": shipping %s from record %" PRIu64 " (offset %"
			    PRIu64 ")", sh->gateway, sh->path, sh->pos.index, sh->pos.offset);
			continue;            /* walk again, attached */
		case PASS_DIVERGED:
			say("%s", sh->err);
			return EXIT_PERSON;
		default:
			if ((rc = db_trouble(sh, sh->fail)) != 0)
				return rc;
			continue;
		}
		sh->backoff_ms = BACKOFF_MIN_MS;
		if ((rc = judge(sh, &break_logged)) != 0)
			return rc;
		progress(sh, false);
		if (sh->once)
			return 0;
		pause_ms(sh->poll_ms);
	}
	return 0;
}

static bool parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return false;
	*out = (unsigned)v;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "log", required_argument, NULL, 'l' },
		{ "db", required_argument, NULL, 'd' },
		{ "batch", required_argument, NULL, 'b' },
		{ "poll-ms", required_argument, NULL, 'p' },
		{ "once", no_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct shipper sh = { .batch_max = 500, .poll_ms = 1000,
			      .backoff_ms = BACKOFF_MIN_MS };
	struct sigaction sa = { .sa_handler = on_stop };
	const char *conninfo = NULL;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			sh.path = optarg;
			break;
		case 'd':
			conninfo = optarg;
			break;
		case 'b':
			if (!parse_uint(optarg, 1, 5000, &sh.batch_max)) {
				fprintf(stderr, "kpgate-shipper: --batch: 1 .. 5000\n");
				return EXIT_USAGE;
			}
			break;
		case 'p':
			if (!parse_uint(optarg, 10, 3600000, &sh.poll_ms)) {
				fprintf(stderr, "kpgate-shipper: --poll-ms: 10 .. 3600000\n");
				return EXIT_USAGE;
			}
			break;
		case 'o':
			sh.once = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs(usage_text, stderr);
			return EXIT_USAGE;
		}
	}
	if (sh.path == NULL || conninfo == NULL || optind != argc) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}

	if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		say("pipe: %s", strerror(errno));
		return EXIT_PERSON;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	srand((unsigned)getpid() ^ (unsigned)time(NULL));

	sh.log = ship_log_new(sh.path);
	sh.db = ship_db_new(conninfo, stop_pipe[0], DB_TIMEOUT_MS);
	sh.sum = malloc(sizeof(*sh.sum));
	sh.batch = calloc(sh.batch_max, sizeof(*sh.batch));
	sh.progress_at = time(NULL);
	if (sh.log == NULL || sh.db == NULL || sh.sum == NULL || sh.batch == NULL) {
		say("out of memory");
		return EXIT_PERSON;
	}
	rc = run(&sh);
	progress(&sh, true);
	if (rc == 0 && stopping)
		say("stopped%s", sh.attached ? "; the database holds the log up to "
		    "the position above" : "");
	ship_db_delete(sh.db);
	ship_log_delete(sh.log);
	free(sh.batch);
	free(sh.sum);
	return rc;
}
