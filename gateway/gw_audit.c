/* gw_audit.c — the audit writer thread, the workers' lanes and
 * /kpgate/audit; see gw_audit.h. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_telemetry.h>

#include "gw_audit.h"
#include "gw_log.h"
#include "gw_metrics.h"
#include "gw_worker.h"
#include "kpg_confirm.h"

#define IDLE_SLEEP_NS    50000       /* writer poll with nothing to do */
#define RETRY_SLEEP_NS   10000000    /* after a failed write or sync */
#define STOP_RETRIES     200         /* failed attempts tolerated at stop: ~2 s */
#define LOG_EVERY_NS     (10ull * 1000000000ull)

/* What the writer owns, and the counters it publishes for telemetry. */
static struct {
	struct gw_audit_conf conf;
	char checkpoint[KPG_AUDIT_ID_MAX + 1];
	struct kpg_audit_log *log;
	struct kpg_confirmer *confirmer;
	struct gw_worker *const *workers;
	struct gw_audit_lane *lanes[RTE_MAX_LCORE];
	unsigned n;
	const struct kpg_audit_rec **batch;      /* conf.batch */
	struct gw_audit_slot **slots;            /* the same, by slot */
	uint32_t taken[RTE_MAX_LCORE];           /* slots of each lane in the batch */
	uint64_t last_seen[RTE_MAX_LCORE];       /* seq last taken, per lane */
	unsigned next_lane;                      /* round robin start */
	pthread_t thread;
	bool running;
	int stop;

	/* written by the writer, read by telemetry (relaxed) */
	uint64_t records, writes, syncs, write_errors, sync_errors, lost;
	uint64_t confirmations, confirmations_existing, confirmations_failed;
	char last_error[160];
} au;

/* Telemetry reads lanes and workers only under this lock, and fini
 * takes it before freeing them. Workers never take it. */
static pthread_mutex_t tel_lock = PTHREAD_MUTEX_INITIALIZER;
static bool tel_open, tel_registered;

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void nap(long ns)
{
	struct timespec t = { 0, ns };

	nanosleep(&t, NULL);
}

static void add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
}

/* Errors are logged once per LOG_EVERY_NS each, never per record. */
static void complain(uint64_t *last, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void complain(uint64_t *last, const char *fmt, ...)
{
	uint64_t t = now_ns();
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(au.last_error, sizeof(au.last_error), fmt, ap);
	va_end(ap);
	if (*last && t - *last < LOG_EVERY_NS)
		return;
	*last = t;
	GW_LOG(ERR, "audit: %s\n", au.last_error);
}

/* Up to batch records, taken round robin from the lanes; returns how
 * many, and whether records were left behind. */
static unsigned gather(bool *more)
{
	unsigned n = 0;

	*more = false;
	for (unsigned k = 0; k < au.n; k++) {
		unsigned i = (au.next_lane + k) % au.n;
		struct gw_audit_lane *a = au.lanes[i];
		uint64_t head = __atomic_load_n(&a->head_pub, __ATOMIC_ACQUIRE);
		uint64_t t = a->tail + au.taken[i];

		while (t < head && n < au.conf.batch) {
			struct gw_audit_slot *s = &a->slots[t & a->mask];

			au.last_seen[i] = s->rec.seq;
			au.slots[n] = s;
			au.batch[n++] = &s->rec;
			au.taken[i]++;
			t++;
		}
		if (t < head)
			*more = true;
	}
	au.next_lane = au.n ? (au.next_lane + 1) % au.n : 0;
	return n;
}

/* Confirmations go first: a durable record of an acceptance always has
 * its confirmation. Each slot is confirmed once, even if the write of
 * its record has to be retried. */
static void confirm(unsigned n)
{
	static uint64_t logged;
	bool sync = au.conf.mode == GW_AUDIT_SYNCED, any = false;
	char why[256];

	for (unsigned i = 0; i < n; i++) {
		struct gw_audit_slot *s = au.slots[i];
		int rc;

		if (s->dgram_len == 0)
			continue;
		rc = au.confirmer ? kpg_confirm_request(au.confirmer, &s->rec, s->dgram,
							s->dgram_len, sync, why,
							sizeof(why)) : 0;
		s->dgram_len = 0;
		if (au.confirmer == NULL)
			continue;
		if (rc == 1) {
			add(&au.confirmations, 1);
			any = true;
		} else if (rc == 0) {
			add(&au.confirmations_existing, 1);
		} else {
			add(&au.confirmations_failed, 1);
			complain(&logged, "import confirmation not written: %s", why);
		}
	}
	if (any && sync && kpg_confirmer_sync_dir(au.confirmer) < 0)
		complain(&logged, "confirmations directory not synced: %s",
			 strerror(errno));
}

/* The records of the batch are in the log: lanes get their slots back
 * and, in written mode, their replies go. */
static void written(void)
{
	for (unsigned i = 0; i < au.n; i++) {
		struct gw_audit_lane *a = au.lanes[i];

		if (au.taken[i] == 0)
			continue;
		/* seqs skipped: records a full ring lost (async only); the log
		 * shows the gap too, this counts it now */
		add(&au.lost, au.last_seen[i] - a->written_seq - au.taken[i]);
		__atomic_store_n(&a->written_seq, au.last_seen[i], __ATOMIC_RELAXED);
		__atomic_store_n(&a->tail, a->tail + au.taken[i], __ATOMIC_RELEASE);
		if (au.conf.mode != GW_AUDIT_SYNCED)
			__atomic_store_n(&a->durable, au.last_seen[i], __ATOMIC_RELEASE);
		au.taken[i] = 0;
	}
}

static void synced(void)
{
	for (unsigned i = 0; i < au.n; i++) {
		struct gw_audit_lane *a = au.lanes[i];
		uint64_t w = __atomic_load_n(&a->written_seq, __ATOMIC_RELAXED);

		__atomic_store_n(&a->synced_seq, w, __ATOMIC_RELAXED);
		__atomic_store_n(&a->durable, w, __ATOMIC_RELEASE);
	}
}

static void *writer_main(void *arg)
{
	static uint64_t write_logged, sync_logged;
	uint64_t unsynced = 0, first_unsynced = 0;
	unsigned failures = 0;
	int rc;

	(void)arg;
	for (;;) {
		bool stopping = __atomic_load_n(&au.stop, __ATOMIC_ACQUIRE) != 0;
		bool more = false, idle = true;
		unsigned n = gather(&more);

		if (n) {
			idle = false;
			confirm(n);
			rc = kpg_audit_append(au.log, au.batch, n);
			if (rc < 0) {
				/* Nothing is released: held replies wait, the
				 * same records are tried again. */
				add(&au.write_errors, 1);
				complain(&write_logged, "%s: append failed: %s",
					 au.conf.file, strerror(-rc));
				memset(au.taken, 0, sizeof(au.taken[0]) * au.n);
				for (unsigned i = 0; i < au.n; i++)
					au.last_seen[i] = __atomic_load_n(&au.lanes[i]->written_seq,
									  __ATOMIC_RELAXED);
				if (stopping && ++failures > STOP_RETRIES)
					break;
				nap(RETRY_SLEEP_NS);
				continue;
			}
			failures = 0;
			add(&au.records, n);
			add(&au.writes, 1);
			written();
			if (au.conf.mode == GW_AUDIT_SYNCED && unsynced++ == 0)
				first_unsynced = now_ns();
		}
		/* Group commit: one fdatasync for all that was written while
		 * the last one ran, unless records have waited long enough. */
		if (unsynced && (!more || stopping ||
				 now_ns() - first_unsynced >= au.conf.sync_interval_us * 1000ull)) {
			idle = false;
			rc = kpg_audit_sync(au.log);
			if (rc < 0) {
				add(&au.sync_errors, 1);
				complain(&sync_logged, "%s: fdatasync failed: %s",
					 au.conf.file, strerror(-rc));
				if (stopping && ++failures > STOP_RETRIES)
					break;
				nap(RETRY_SLEEP_NS);
				continue;
			}
			failures = 0;
			add(&au.syncs, 1);
			synced();
			unsynced = 0;
		}
		if (idle) {
			if (stopping)
				break;
			nap(IDLE_SLEEP_NS);
		}
	}
	return NULL;
}

/* ---- telemetry --------------------------------------------------------- */

static uint64_t rd(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static int cmd_audit(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct rte_tel_data *lc;
	uint64_t backlog = 0, held = 0, bp = 0, full = 0;

	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	pthread_mutex_lock(&tel_lock);
	if (!tel_open) {
		pthread_mutex_unlock(&tel_lock);
		rte_tel_data_add_dict_string(d, "mode", gw_audit_mode_name(GW_AUDIT_OFF));
		return 0;
	}
	lc = rte_tel_data_alloc();
	if (lc)
		rte_tel_data_start_dict(lc);
	for (unsigned i = 0; i < au.n; i++) {
		struct gw_audit_lane *a = au.lanes[i];
		struct rte_tel_data *one = lc ? rte_tel_data_alloc() : NULL;
		char name[16];

		backlog += rd(&a->head_pub) - rd(&a->tail);
		held += __atomic_load_n(&a->held_n, __ATOMIC_RELAXED);
		bp += rd(&au.workers[i]->stats.audit_backpressure);
		full += rd(&au.workers[i]->stats.audit_ring_full);
		if (one == NULL)
			continue;
		rte_tel_data_start_dict(one);
		rte_tel_data_add_dict_u64(one, "seq", rd(&a->next_seq) - 1);
		rte_tel_data_add_dict_u64(one, "written", rd(&a->written_seq));
		rte_tel_data_add_dict_u64(one, "synced", rd(&a->synced_seq));
		rte_tel_data_add_dict_u64(one, "durable", rd(&a->durable));
		rte_tel_data_add_dict_u64(one, "held", __atomic_load_n(&a->held_n,
								     __ATOMIC_RELAXED));
		snprintf(name, sizeof(name), "lcore_%u", a->lcore);
		rte_tel_data_add_dict_container(lc, name, one, 0);
	}
	rte_tel_data_add_dict_string(d, "file", au.conf.file);
	rte_tel_data_add_dict_string(d, "mode", gw_audit_mode_name(au.conf.mode));
	rte_tel_data_add_dict_u64(d, "records_written", rd(&au.records));
	rte_tel_data_add_dict_u64(d, "writes", rd(&au.writes));
	rte_tel_data_add_dict_u64(d, "syncs", rd(&au.syncs));
	rte_tel_data_add_dict_u64(d, "backlog", backlog);
	rte_tel_data_add_dict_u64(d, "held", held);
	rte_tel_data_add_dict_u64(d, "audit_backpressure", bp);
	rte_tel_data_add_dict_u64(d, "audit_ring_full", full);
	rte_tel_data_add_dict_u64(d, "records_lost", rd(&au.lost));
	rte_tel_data_add_dict_u64(d, "write_errors", rd(&au.write_errors));
	rte_tel_data_add_dict_u64(d, "sync_errors", rd(&au.sync_errors));
	rte_tel_data_add_dict_u64(d, "confirmations", rd(&au.confirmations));
	rte_tel_data_add_dict_u64(d, "confirmations_existing",
				  rd(&au.confirmations_existing));
	rte_tel_data_add_dict_u64(d, "confirmations_failed",
				  rd(&au.confirmations_failed));
	rte_tel_data_add_dict_string(d, "last_error", au.last_error[0] ? au.last_error : "");
	pthread_mutex_unlock(&tel_lock);
	if (lc)
		rte_tel_data_add_dict_container(d, "lcores", lc, 0);
	return 0;
}

/* ---- metrics ------------------------------------------------------------ */

static void family_u64(struct gw_prom *p, const char *name, const char *type,
		       const char *help, uint64_t v)
{
	gw_prom_family(p, name, type, help);
	gw_prom_u64(p, name, v, NULL);
}

/* On the metrics thread, at each scrape. */
static void metrics_source(struct gw_prom *p, void *arg)
{
	uint64_t backlog = 0, held = 0, bp = 0, full = 0;
	const char *n;

	(void)arg;
	pthread_mutex_lock(&tel_lock);
	if (!tel_open) {
		pthread_mutex_unlock(&tel_lock);
		return;
	}
	for (unsigned i = 0; i < au.n; i++) {
		backlog += rd(&au.lanes[i]->head_pub) - rd(&au.lanes[i]->tail);
		held += __atomic_load_n(&au.lanes[i]->held_n, __ATOMIC_RELAXED);
		bp += rd(&au.workers[i]->stats.audit_backpressure);
		full += rd(&au.workers[i]->stats.audit_ring_full);
	}
	family_u64(p, "kpgate_audit_records_total", "counter",
		   "Audit records written to the log by this run.", rd(&au.records));
	family_u64(p, "kpgate_audit_syncs_total", "counter",
		   "fdatasync calls of the audit log (synced mode).", rd(&au.syncs));
	family_u64(p, "kpgate_audit_backlog_records", "gauge",
		   "Audit records given to the writer and not yet written.", backlog);
	family_u64(p, "kpgate_audit_held_replies", "gauge",
		   "Replies held until their audit record is durable.", held);
	family_u64(p, "kpgate_audit_backpressure_total", "counter",
		   "Requests dropped because held replies were at audit.held_max.", bp);
	family_u64(p, "kpgate_audit_ring_full_total", "counter",
		   "Answers whose record found the audit ring full (async: record "
		   "lost; written, synced: reply dropped).", full);
	family_u64(p, "kpgate_audit_write_errors_total", "counter",
		   "Failed writes and fdatasyncs of the audit log (retried).",
		   rd(&au.write_errors) + rd(&au.sync_errors));
	n = "kpgate_audit_confirmations_total";
	gw_prom_family(p, n, "counter", "KP import confirmations, by result.");
	gw_prom_u64(p, n, rd(&au.confirmations), "result", "written", NULL);
	gw_prom_u64(p, n, rd(&au.confirmations_existing), "result", "existing", NULL);
	gw_prom_u64(p, n, rd(&au.confirmations_failed), "result", "failed", NULL);
	pthread_mutex_unlock(&tel_lock);
}

/* ---- set-up and shutdown ------------------------------------------------ */

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

static struct gw_audit_lane *lane_new(const struct gw_worker *w)
{
	int socket = (int)rte_lcore_to_socket_id(w->lcore);
	uint32_t size = pow2_at_least(au.conf.held_max);
	struct gw_audit_lane *a;

	a = rte_zmalloc_socket("gw_audit_lane", sizeof(*a), RTE_CACHE_LINE_SIZE, socket);
	if (a == NULL)
		return NULL;
	a->slots = rte_zmalloc_socket("gw_audit_slots", sizeof(a->slots[0]) * size,
				      RTE_CACHE_LINE_SIZE, socket);
	a->held = rte_zmalloc_socket("gw_audit_held", sizeof(a->held[0]) * au.conf.held_max,
				     RTE_CACHE_LINE_SIZE, socket);
	if (a->slots == NULL || a->held == NULL) {
		rte_free(a->slots);
		rte_free(a->held);
		rte_free(a);
		return NULL;
	}
	/* In the held modes a record occupies its slot only while its reply
	 * is held, so held_max slots never run out there. */
	a->mask = size - 1;
	a->hold = au.conf.mode == GW_AUDIT_WRITTEN || au.conf.mode == GW_AUDIT_SYNCED;
	a->held_max = au.conf.held_max;
	a->confirm = au.confirmer != NULL;
	a->lcore = w->lcore;
	a->next_seq = kpg_audit_last_seq(au.log, w->lcore) + 1;
	a->written_seq = a->synced_seq = a->durable = a->next_seq - 1;
	return a;
}

static void lanes_free(void)
{
	for (unsigned i = 0; i < au.n; i++) {
		if (au.lanes[i] == NULL)
			continue;
		rte_free(au.lanes[i]->slots);
		rte_free(au.lanes[i]->held);
		rte_free(au.lanes[i]);
		au.lanes[i] = NULL;
	}
}

static void teardown(void)
{
	gw_metrics_remove_source(metrics_source, NULL);
	pthread_mutex_lock(&tel_lock);
	tel_open = false;
	pthread_mutex_unlock(&tel_lock);
	for (unsigned i = 0; i < au.n; i++)
		if (au.workers && au.workers[i])
			au.workers[i]->audit = NULL;
	lanes_free();
	if (au.log) {
		int64_t t = time(NULL);

		if (kpg_audit_close(au.log, t) < 0)
			GW_LOG(ERR, "audit: %s: cannot close the log cleanly\n", au.conf.file);
		au.log = NULL;
	}
	kpg_confirmer_delete(au.confirmer);
	au.confirmer = NULL;
	rte_free(au.batch);
	rte_free(au.slots);
	au.batch = NULL;
	au.slots = NULL;
	au.n = 0;
}

int gw_audit_init(const struct gw_audit_conf *ac, const struct gw_config *c,
		  struct gw_worker *const *workers, unsigned n)
{
	struct kpg_audit_open_info info;
	char err[1024];
	int rc;

	memset(&au, 0, sizeof(au));
	au.conf = *ac;
	/* Registered in every mode, so "off" can be read too. */
	if (!tel_registered &&
	    rte_telemetry_register_cmd("/kpgate/audit", cmd_audit,
		"Audit log: file, mode, records written, per lcore seq, durable seq and held "
		"replies, backlog, backpressure, confirmations") == 0)
		tel_registered = true;
	if (ac->mode == GW_AUDIT_OFF) {
		GW_LOG(WARNING, "no audit section in the config: decisions are not "
		       "recorded and no import confirmation is written\n");
		return 0;
	}
	if (n > RTE_MAX_LCORE)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (workers[i]->lcore >= KPG_AUDIT_LCORES) {
			GW_LOG(ERR, "audit: lcore %u is beyond the %u a log can name\n",
			       workers[i]->lcore, KPG_AUDIT_LCORES);
			return -EINVAL;
		}
	snprintf(au.checkpoint, sizeof(au.checkpoint), "%s", c->checkpoint);
	au.workers = workers;
	au.log = kpg_audit_open(ac->file, au.checkpoint, ac->batch, time(NULL), &info,
				err, sizeof(err));
	if (au.log == NULL) {
		GW_LOG(ERR, "audit: %s\n", err);
		return -EIO;
	}
	if (info.torn_bytes)
		GW_LOG(WARNING, "audit: %s: a torn tail of %" PRIu64 " bytes at offset %"
		       PRIu64 " was cut off (kept in %s); the chain continues\n",
		       ac->file, info.torn_bytes, info.torn_offset, info.torn_copy);
	GW_LOG(INFO, "audit: %s, mode %s: %s%" PRIu64 " decisions before%s\n", ac->file,
	       gw_audit_mode_name(ac->mode), info.created ? "new log, " : "",
	       info.decisions, info.unclean ? ", the last run did not stop cleanly" : "");
	if (ac->confirmations[0]) {
		au.confirmer = kpg_confirmer_new(ac->confirmations, ac->checkpoint_key,
						 au.checkpoint, err, sizeof(err));
		if (au.confirmer == NULL) {
			GW_LOG(ERR, "audit: import confirmations: %s\n", err);
			rc = -EINVAL;
			goto fail;
		}
	}
	au.batch = rte_zmalloc("gw_audit_batch", sizeof(au.batch[0]) * ac->batch, 0);
	au.slots = rte_zmalloc("gw_audit_batch", sizeof(au.slots[0]) * ac->batch, 0);
	if (au.batch == NULL || au.slots == NULL) {
		rc = -ENOMEM;
		goto nomem;
	}
	for (unsigned i = 0; i < n; i++) {
		au.lanes[i] = lane_new(workers[i]);
		au.n = i + 1;
		if (au.lanes[i] == NULL) {
			rc = -ENOMEM;
			goto nomem;
		}
		au.last_seen[i] = au.lanes[i]->next_seq - 1;
	}
	rc = rte_ctrl_thread_create(&au.thread, "kpg-audit", NULL, writer_main, NULL);
	if (rc != 0) {
		GW_LOG(ERR, "audit: cannot start the writer thread: %s\n", strerror(rc));
		rc = -rc;
		goto fail;
	}
	au.running = true;
	for (unsigned i = 0; i < n; i++)
		workers[i]->audit = au.lanes[i];
	pthread_mutex_lock(&tel_lock);
	tel_open = true;
	pthread_mutex_unlock(&tel_lock);
	if (gw_metrics_add_source(metrics_source, NULL) != 0)
		GW_LOG(WARNING, "audit: figures not added to /metrics\n");
	return 0;
nomem:
	GW_LOG(ERR, "audit: out of memory for %u lanes of %u records\n", n, ac->held_max);
fail:
	teardown();
	return rc;
}

void gw_audit_fini(void)
{
	if (au.running) {
		__atomic_store_n(&au.stop, 1, __ATOMIC_RELEASE);
		pthread_join(au.thread, NULL);
		au.running = false;
		if (au.records || au.conf.mode != GW_AUDIT_OFF)
			GW_LOG(INFO, "audit: %" PRIu64 " records written, %" PRIu64
			       " syncs, %" PRIu64 " import confirmations\n",
			       au.records, au.syncs, au.confirmations);
	}
	if (au.log || au.n)
		teardown();
}

unsigned gw_audit_drop_held(struct gw_audit_lane *a)
{
	unsigned n = 0;

	for (; a != NULL && a->held_n != 0; n++) {
		rte_pktmbuf_free(a->held[a->held_head].m);
		if (++a->held_head == a->held_max)
			a->held_head = 0;
		a->held_n--;
	}
	return n;
}
