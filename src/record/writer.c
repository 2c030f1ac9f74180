/*
 * writer.c -- the background thread that moves records from memory into
 * the database.
 *
 * Blocks form one FIFO: the training thread appends records to the last
 * block and, when it is full, seals it and appends a fresh one (taken from
 * the free list, allocated only when the list is empty).  The writer wakes
 * every 50 ms, or at once when a block is sealed or a flush is asked for,
 * and commits everything published so far in one transaction, including
 * the unsealed tail of the current block, so a log is on disk within
 * about 0.1 s whatever the block size.  Within a transaction, logs and
 * loops rows go in by multi-row INSERTs of BATCH rows each, which pay the
 * statement's setup (cursors on the table and its indexes) once per batch
 * instead of once per row.
 *
 * A failed commit (a full disk, an I/O error) is rolled back and retried
 * on the next wake with the same records, which stay in memory meanwhile;
 * the first failure of an episode prints one line on stderr at once (even
 * under FLOR_QUIET: it is about data), saying what could not be written
 * and how much is held.  flor_flush() and flor_finish() report the
 * failure.  The backlog is capped (MAX_PENDING blocks): past it, a
 * training thread that outruns a healthy writer waits for it, and one
 * whose writer keeps failing drops records (counted, announced by one
 * line when the first is dropped, and reported) rather than stall.
 */
#include "record/record.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PENDING 1024 /* blocks of ~220 KiB: at most ~220 MiB of backlog */
#define WAKE_NS (50 * 1000 * 1000)
#define BATCH 64         /* rows per multi-row INSERT */

/* Records waiting to go into one table by a multi-row INSERT.  They
 * point into blocks, which are recycled only after the commit. */
typedef struct {
    const flor__block *b[BATCH];
    const flor__rec *r[BATCH];
    int n;
} batch;

struct flor__writer {
    sqlite3 *db;
    int64_t run_id;
    const flor__replay_ops *ops; /* a replay's record sink; NULL when recording */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    flor__block *head, *tail, *free;
    int pending;             /* blocks in the FIFO */
    int max_pending;         /* MAX_PENDING, or FLOR_BACKLOG_BLOCKS (2..1024) */
    uint32_t consumed;       /* records of `head` already committed */
    int stop, urgent;
    uint64_t committed;      /* records committed (under mu) */
    _Atomic uint64_t emitted; /* records in sealed blocks (training thread) */
    uint64_t dropped;        /* records lost to a full backlog */
    int error;               /* code of the last failed commit, 0 when healthy */
    uint64_t failures;       /* failed commits, over the whole run */
    char errmsg[512];
    flor__record_stmts st;   /* the inserts, prepared by the db layer */
    batch logs, ctxs;
    _Atomic int signo;       /* a signal handler asks for a final flush */
    _Atomic int signal_done;
};

static flor__block *block_new(size_t text_needed)
{
    flor__block *b = malloc(sizeof *b);
    if (!b)
        return NULL;
    size_t cap = text_needed > FLOR__BLOCK_TEXT ? text_needed : FLOR__BLOCK_TEXT;
    b->text = malloc(cap);
    if (!b->text) {
        free(b);
        return NULL;
    }
    b->text_cap = (uint32_t)cap;
    return b;
}

static void block_free(flor__block *b)
{
    if (b) {
        free(b->text);
        free(b);
    }
}

static void block_reset(flor__block *b)
{
    b->next = NULL;
    atomic_store_explicit(&b->nrec, 0, memory_order_relaxed);
    atomic_store_explicit(&b->sealed, 0, memory_order_relaxed);
    b->text_used = 0;
}

flor__block *flor__writer_current(flor__writer *w) { return w->tail; }

flor__block *flor__writer_rotate(flor__writer *w, size_t text_needed)
{
    flor__block *old = w->tail;
    atomic_fetch_add_explicit(&w->emitted, atomic_load_explicit(&old->nrec, memory_order_relaxed),
                              memory_order_relaxed);
    pthread_mutex_lock(&w->mu);
    flor__block *b = NULL;
    /* A healthy writer that is behind gets time to catch up (bounded
     * memory); a writer whose commits fail gets none: the record is
     * dropped, counted, and reported by flor_flush/flor_finish. */
    while (w->pending >= w->max_pending && !w->error) {
        w->urgent = 1;
        pthread_cond_signal(&w->wake);
        pthread_cond_wait(&w->done, &w->mu);
    }
    if (w->pending >= w->max_pending) {
        if (w->dropped++ == 0)
            flor__loss("%s; the %d blocks held in memory are full: logs are being dropped from "
                       "now on (the run will end as failed)",
                       w->errmsg, w->max_pending);
        pthread_mutex_unlock(&w->mu);
        atomic_fetch_sub_explicit(&w->emitted, atomic_load_explicit(&old->nrec, memory_order_relaxed),
                                  memory_order_relaxed);
        flor__err(FLOR_EIO, "log dropped: %s", w->errmsg);
        return NULL;
    }
    if (w->free && w->free->text_cap >= text_needed) {
        b = w->free;
        w->free = b->next;
    }
    pthread_mutex_unlock(&w->mu);
    if (!b && !(b = block_new(text_needed))) {
        flor__err(FLOR_ENOMEM, "out of memory for the log buffer");
        return NULL;
    }
    block_reset(b);
    pthread_mutex_lock(&w->mu);
    atomic_store_explicit(&old->sealed, 1, memory_order_release);
    old->next = b;
    w->tail = b;
    w->pending++;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
    return b;
}

static int bind_value(sqlite3_stmt *st, int col, const flor__block *b, const flor__rec *r)
{
    switch (r->type) {
    case FLOR_INTEGER:
        return sqlite3_bind_int64(st, col, r->v.i);
    case FLOR_REAL:
        return flor__bind_real(st, col, r->v.r);
    case FLOR_TEXT:
        return sqlite3_bind_text(st, col, b->text + r->v.s.off, (int)r->v.s.len, SQLITE_STATIC);
    default:
        return sqlite3_bind_null(st, col);
    }
}

/* Binds the columns after run_id of a logs row (3 of them) from FIRST on,
 * or of a loops row (5). */
static void bind_log(sqlite3_stmt *st, int first, const flor__block *b, const flor__rec *r)
{
    if (r->ctx)
        sqlite3_bind_int64(st, first, r->ctx);
    else
        sqlite3_bind_null(st, first);
    sqlite3_bind_text(st, first + 1, flor__name_str(r->name), -1, SQLITE_STATIC);
    bind_value(st, first + 2, b, r);
}

/* R's value, from the REC_CTXVAL record published with it (in the same
 * block, just after it), or NULL. */
static void bind_ctx(sqlite3_stmt *st, int first, const flor__block *b, const flor__rec *r)
{
    if (r->aux & FLOR__CTX_VALUED)
        bind_value(st, first + 4, b, r + 1);
    else
        sqlite3_bind_null(st, first + 4);
    sqlite3_bind_int64(st, first, r->ctx);
    if (r->parent)
        sqlite3_bind_int64(st, first + 1, r->parent);
    else
        sqlite3_bind_null(st, first + 1);
    sqlite3_bind_text(st, first + 2, flor__name_str(r->name), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, first + 3, r->v.i);
}

static int step(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Inserts the batched rows of one table: a full batch by one multi-row
 * statement, a partial one (the end of a drain) row by row.  In both
 * statements ?1 is the run id, bound once. */
static int flush_batch(flor__writer *w, batch *q, int logs)
{
    int rc = SQLITE_OK, ncols = logs ? 3 : 5;
    if (q->n == BATCH) {
        sqlite3_stmt *st = logs ? w->st.ins_logs : w->st.ins_ctxs;
        for (int i = 0; i < BATCH; i++) {
            if (logs)
                bind_log(st, 2 + i * ncols, q->b[i], q->r[i]);
            else
                bind_ctx(st, 2 + i * ncols, q->b[i], q->r[i]);
        }
        rc = step(st);
    } else {
        sqlite3_stmt *st = logs ? w->st.ins_log : w->st.ins_ctx;
        for (int i = 0; i < q->n && rc == SQLITE_OK; i++) {
            if (logs)
                bind_log(st, 2, q->b[i], q->r[i]);
            else
                bind_ctx(st, 2, q->b[i], q->r[i]);
            rc = step(st);
        }
    }
    q->n = 0;
    return rc;
}

static int insert(flor__writer *w, const flor__block *b, const flor__rec *r)
{
    if (w->ops)
        return w->ops->record(w->db, b, r);
    batch *q;
    switch (r->kind) {
    case FLOR__REC_LOG:
        q = &w->logs;
        break;
    case FLOR__REC_CTX:
        q = &w->ctxs;
        break;
    case FLOR__REC_ARG: {
        sqlite3_stmt *st = w->st.ins_arg;
        sqlite3_bind_text(st, 2, flor__name_str(r->name), -1, SQLITE_STATIC);
        bind_value(st, 3, b, r);
        sqlite3_bind_int(st, 4, r->aux);
        sqlite3_bind_int64(st, 5, r->ctx);
        return step(st);
    }
    default:
        return SQLITE_OK;
    }
    q->b[q->n] = b;
    q->r[q->n] = r;
    return ++q->n == BATCH ? flush_batch(w, q, q == &w->logs) : SQLITE_OK;
}

/* Commits every published record; returns the number committed, or -1. */
static long drain(flor__writer *w)
{
    pthread_mutex_lock(&w->mu);
    flor__block *b = w->head;
    uint32_t start = w->consumed;
    pthread_mutex_unlock(&w->mu);

    uint32_t n = atomic_load_explicit(&b->nrec, memory_order_acquire);
    if (n == start && !atomic_load_explicit(&b->sealed, memory_order_acquire))
        return 0; /* nothing new */

    int rc = sqlite3_exec(w->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    long count = 0;
    uint32_t pos = start;
    flor__block *first = b;
    int nfreed = 0;
    while (rc == SQLITE_OK && b) {
        int sealed = atomic_load_explicit(&b->sealed, memory_order_acquire);
        n = atomic_load_explicit(&b->nrec, memory_order_acquire);
        for (; pos < n && rc == SQLITE_OK; pos++, count++)
            rc = insert(w, b, &b->recs[pos]);
        if (rc != SQLITE_OK || !sealed)
            break;
        pthread_mutex_lock(&w->mu);
        b = b->next;
        pthread_mutex_unlock(&w->mu);
        pos = 0;
        nfreed++;
    }
    if (rc == SQLITE_OK)
        rc = flush_batch(w, &w->logs, 1);
    if (rc == SQLITE_OK)
        rc = flush_batch(w, &w->ctxs, 0);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(w->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        w->logs.n = w->ctxs.n = 0; /* the retry starts over from `start` */
        snprintf(w->errmsg, sizeof w->errmsg, "cannot write logs to %s: %s",
                 sqlite3_db_filename(w->db, "main"), sqlite3_errmsg(w->db));
        sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
        pthread_mutex_lock(&w->mu);
        w->failures++;
        if (!w->error) {
            uint64_t held = atomic_load_explicit(&w->emitted, memory_order_relaxed) +
                            atomic_load_explicit(&w->tail->nrec, memory_order_relaxed) -
                            w->committed;
            flor__loss("%s; %llu records held in memory (%d blocks, at most %d), retrying",
                       w->errmsg, (unsigned long long)held, w->pending, w->max_pending);
        }
        w->error = (rc & 0xff) == SQLITE_BUSY ? FLOR_EBUSY : FLOR_EIO;
        pthread_cond_broadcast(&w->done);
        pthread_mutex_unlock(&w->mu);
        return -1;
    }
    /* Committed: recycle the sealed blocks and advance. */
    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < nfreed; i++) {
        flor__block *next = first->next;
        first->next = w->free;
        w->free = first;
        first = next;
        w->pending--;
    }
    w->head = first;
    w->consumed = pos;
    w->committed += (uint64_t)count;
    if (w->error)
        flor__warn("the database took the held logs after %llu failed tries",
                   (unsigned long long)w->failures);
    w->error = 0;
    pthread_cond_broadcast(&w->done);
    pthread_mutex_unlock(&w->mu);
    return count;
}

static void mark_killed(flor__writer *w)
{
    if (w->ops)
        w->ops->killed(w->db);
    else
        flor__runs_mark_killed(w->db, w->run_id);
}

static void *writer_main(void *arg)
{
    flor__writer *w = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    pthread_mutex_lock(&w->mu);
    for (;;) {
        if (!w->stop && !w->urgent && !atomic_load(&w->signo)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += WAKE_NS;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&w->wake, &w->mu, &ts);
        }
        int stop = w->stop;
        w->urgent = 0;
        pthread_mutex_unlock(&w->mu);
        long got;
        while ((got = drain(w)) > 0)
            ;
        if (atomic_load(&w->signo) && !atomic_load(&w->signal_done)) {
            mark_killed(w);
            atomic_store(&w->signal_done, 1);
        }
        pthread_mutex_lock(&w->mu);
        if (stop)
            break;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void writer_free(flor__writer *w)
{
    flor__record_stmts_finalize(&w->st);
    sqlite3_close_v2(w->db); /* replay statements may outlive the writer briefly */
    for (flor__block *b = w->head, *n; b; b = n) {
        n = b->next;
        block_free(b);
    }
    for (flor__block *b = w->free, *n; b; b = n) {
        n = b->next;
        block_free(b);
    }
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->wake);
    pthread_cond_destroy(&w->done);
    free(w);
}

int flor__writer_start(flor__writer **out, sqlite3 *db, int64_t run_id,
                       const flor__replay_ops *ops)
{
    *out = NULL;
    flor__writer *w = calloc(1, sizeof *w);
    if (!w)
        return flor__err(FLOR_ENOMEM, "out of memory");
    w->db = db;
    w->run_id = run_id;
    w->ops = ops;
    w->max_pending = MAX_PENDING;
    const char *cap = getenv("FLOR_BACKLOG_BLOCKS");
    if (cap && atoi(cap) >= 2 && atoi(cap) <= MAX_PENDING)
        w->max_pending = atoi(cap); /* a smaller bound on memory held */
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->wake, NULL);
    pthread_cond_init(&w->done, NULL);
    w->head = w->tail = block_new(0);
    int rc = w->head ? 0 : flor__err(FLOR_ENOMEM, "out of memory");
    if (!rc) {
        block_reset(w->head);
        w->pending = 1;
        /* This connection inserts only rows of its own run (or replay),
         * whose row was committed before the writer started and is never
         * deleted, so the foreign-key lookups into runs (one per row)
         * could never fail: skip them here.  Other connections keep
         * foreign_keys=ON. */
        rc = flor__db_exec(db, "PRAGMA foreign_keys=OFF");
    }
    if (!rc)
        rc = flor__record_stmts_prepare(&w->st, db, run_id, BATCH);
    if (!rc && pthread_create(&w->thread, NULL, writer_main, w) != 0)
        rc = flor__err(FLOR_EIO, "cannot start the log writer thread: %s", strerror(errno));
    if (rc) {
        writer_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int flor__writer_flush(flor__writer *w)
{
    uint64_t target = atomic_load_explicit(&w->emitted, memory_order_relaxed) +
                      atomic_load_explicit(&w->tail->nrec, memory_order_relaxed);
    pthread_mutex_lock(&w->mu);
    w->urgent = 1;
    pthread_cond_signal(&w->wake);
    while (w->committed < target && !w->error)
        pthread_cond_wait(&w->done, &w->mu);
    int rc = w->committed < target ? w->error : 0;
    if (rc)
        flor__err(rc, "%s (%llu records not yet written)", w->errmsg,
                  (unsigned long long)(target - w->committed));
    else if (w->dropped)
        rc = flor__err(FLOR_EIO, "%s: %llu records were dropped", w->errmsg,
                       (unsigned long long)w->dropped);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int flor__writer_stop(flor__writer *w)
{
    if (!w)
        return 0;
    uint64_t target = atomic_load_explicit(&w->emitted, memory_order_relaxed) +
                      atomic_load_explicit(&w->tail->nrec, memory_order_relaxed);
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    /* A few last tries on this thread if the final drain failed (an I/O
     * error may be transient), 0.1 s apart. */
    for (int tries = 0; tries < 5 && w->committed < target; tries++) {
        if (tries) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        while (drain(w) > 0)
            ;
    }
    /* records: logs, loop iterations and args */
    int rc = 0;
    unsigned long long lost = (unsigned long long)(target - w->committed) + w->dropped;
    if (lost)
        rc = flor__err(w->error ? w->error : FLOR_EIO, "%s: %llu records were lost (%llu of "
                                                       "them dropped past the memory bound)",
                       w->errmsg, lost, (unsigned long long)w->dropped);
    writer_free(w);
    return rc;
}

uint64_t flor__writer_committed(const flor__writer *w) { return w->committed; }

void flor__writer_signal_flush(flor__writer *w, int signo)
{
    atomic_store(&w->signo, signo);
    struct timespec ts = {0, 10 * 1000 * 1000};
    for (int i = 0; i < 300 && !atomic_load(&w->signal_done); i++)
        nanosleep(&ts, NULL);
}
