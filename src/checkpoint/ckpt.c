/*
 * ckpt.c -- checkpoints: the snapshot at a loop boundary on the training
 * thread, and the background thread that persists it.
 *
 * The training thread asks the policy, and if it says take, copies every
 * registered object into its staging (flor__state_snapshot) and hands the
 * checkpoint to the writer; that copy is the whole pause.  The writer puts
 * each object into the store (which hashes, deduplicates, compresses and
 * appends to a pack), syncs the store, and only then commits the rows
 * that make the checkpoint visible: a crash at any point leaves the
 * checkpoint whole or absent.
 *
 * Compression runs on the writer's core (on every core for the loop's
 * last checkpoint, which the program's exit waits for).  When the training threads keep
 * every core busy, compressing would slow training down, so the writer
 * measures the process's other CPU use and then stores chunks raw
 * (hashed and deduplicated, not compressed).
 *
 * The writer also measures what each checkpoint cost the machine: its
 * own CPU time (CLOCK_THREAD_CPUTIME_ID around the write) and how many of
 * the machine's cores were idle meanwhile (/proc/stat over the last half
 * second or more; other processes' work counts as busy).  The training
 * thread hands both to the policy at its next decision, which charges
 * them against the budget (policy.c).
 */
#include "checkpoint/checkpoint.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct flor__ckpt {
    flor__store *store;
    sqlite3 *db;
    int64_t run_id;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake, idle;
    int busy, stop, started;
    int warming; /* the job is warming staging (flor__ckpt_warm_staging), not persisting */
    /* the job in flight */
    char loop[128], coords[512];
    long iteration;
    int last; /* the loop's final iteration: training is past its loop */
    double stall;
    size_t bytes;
    /* results */
    int written, failed;
    uint64_t logical, stored;
    double write_s;
    char errmsg[512];
    /* CPU sampling for the cheap-mode decision */
    double last_wall, last_proc, last_self;
    int cheap;
    /* the machine's idle cores (/proc/stat), sampled by the writer */
    double idle_wall, idle_jiffies, idle_cores;
    /* the writer's CPU not yet handed to the policy: seconds, seconds x
     * idle cores (for their CPU-weighted mean), bytes */
    double pend_cpu, pend_idle_cpu;
    size_t pend_bytes;
};

static flor__ckpt C_;
static flor__ckpt *C;

static double cpu_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9; /* exact: below 2^53 */
}

/* True when the threads other than this one used nearly every core since
 * the last checkpoint. */
static int cores_busy(flor__ckpt *c)
{
    double wall = flor__mono(), proc = cpu_clock(CLOCK_PROCESS_CPUTIME_ID),
           self = cpu_clock(CLOCK_THREAD_CPUTIME_ID);
    int busy = c->cheap;
    if (c->last_wall > 0 && wall - c->last_wall > 0.05) {
        double others = ((proc - c->last_proc) - (self - c->last_self)) / (wall - c->last_wall);
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        busy = others > (double)ncpu - 0.5;
    }
    c->last_wall = wall;
    c->last_proc = proc;
    c->last_self = self;
    return busy;
}

/* The idle and iowait time of all cores so far, in jiffies, from
 * /proc/stat; -1 where it cannot be read. */
static double idle_jiffies(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    unsigned long long user, nice, sys, idle, iowait;
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle, &iowait);
    fclose(f);
    return n == 5 ? (double)(idle + iowait) : -1;
}

/* How many cores of the machine were idle on average since the last
 * sample at least half a second ago (the previous value until then; 0,
 * charging the writer in full, when /proc/stat cannot be read). */
static double idle_cores(flor__ckpt *c)
{
    double wall = flor__mono();
    if (c->idle_wall > 0 && wall - c->idle_wall < 0.5)
        return c->idle_cores;
    double j = idle_jiffies();
    long hz = sysconf(_SC_CLK_TCK);
    if (j < 0 || hz <= 0)
        return c->idle_cores = 0;
    if (c->idle_wall > 0 && c->idle_jiffies >= 0 && j >= c->idle_jiffies)
        c->idle_cores = (j - c->idle_jiffies) / (double)hz / (wall - c->idle_wall);
    c->idle_wall = wall;
    c->idle_jiffies = j;
    return c->idle_cores;
}

static int elem_of(flor_dtype t)
{
    switch (t) {
    case FLOR_F32: return FLOR__ELEM_F32;
    case FLOR_BF16: return FLOR__ELEM_BF16;
    case FLOR_F16: return FLOR__ELEM_F16;
    case FLOR_F64: return FLOR__ELEM_F64;
    case FLOR_I32: return FLOR__ELEM_I32;
    case FLOR_I64: return FLOR__ELEM_I64;
    default: return FLOR__ELEM_RAW;
    }
}

/* Persists the staged checkpoint.  Returns 0 or an error (message set). */
static int persist(flor__ckpt *c)
{
    double t0 = flor__mono();
    int n = flor__S.n;
    struct flor__obj *objs = calloc((size_t)n ? (size_t)n : 1, sizeof *objs);
    flor__buf *blobs = calloc((size_t)n ? (size_t)n : 1, sizeof *blobs);
    if (!objs || !blobs) {
        free(objs);
        free(blobs);
        return flor__err(FLOR_ENOMEM, "out of memory");
    }
    c->cheap = cores_busy(c);
    /* After the loop's last iteration the program is on its way out and
     * will wait for this write: compress on every core (up to the
     * store's default) rather than on one. */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int wide = c->last && !c->cheap && ncpu > 1;
    if (wide)
        flor__store_set_threads(c->store, ncpu > 4 ? 4 : (int)ncpu);
    uint64_t stored = 0, logical = 0;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        flor__state *s = &flor__S.v[i];
        struct flor__put_stats st;
        int elem = elem_of(s->type) | (c->cheap ? FLOR__PUT_CHEAP : 0);
        rc = flor__store_put(c->store, s->stage, s->stage_len, elem, s->has_prev ? &s->prev : NULL,
                             &objs[i], &st);
        if (rc)
            flor__err_wrap(rc, "cannot write checkpoint '%s' at %s", s->name, c->coords);
        else
            rc = flor__obj_encode(&objs[i], &blobs[i]);
        stored += st.stored;
        logical += s->stage_len;
    }
    if (wide)
        flor__store_set_threads(c->store, 1);
    if (!rc && (rc = flor__store_sync(c->store)) != 0)
        flor__err_wrap(rc, "cannot write checkpoint at %s", c->coords);
    double write_s = flor__mono() - t0;
    if (!rc) {
        flor__ckpt_row row = {c->run_id, c->loop, c->iteration, c->coords, (int64_t)logical,
                              (int64_t)stored, c->stall, write_s, c->cheap ? "raw" : "zstd"};
        flor__ckpt_object_row *rows = calloc((size_t)n ? (size_t)n : 1, sizeof *rows);
        if (!rows)
            rc = flor__err(FLOR_ENOMEM, "out of memory");
        for (int i = 0; rows && i < n; i++) {
            flor__state *s = &flor__S.v[i];
            rows[i] = (flor__ckpt_object_row){s->name, flor__dtype_name(s->type), s->version,
                                              (int64_t)s->stage_len, s->ops.save != NULL,
                                              blobs[i].p, blobs[i].len};
        }
        if (rows)
            rc = flor__checkpoints_insert(c->db, &row, rows, n);
        free(rows);
    }
    for (int i = 0; i < n; i++) {
        flor__state *s = &flor__S.v[i];
        if (!rc) { /* the next checkpoint deltas against this one */
            flor__obj_release(&s->prev);
            s->prev = objs[i];
            s->has_prev = 1;
        } else {
            flor__obj_release(&objs[i]);
        }
        flor__buf_release(&blobs[i]);
    }
    free(objs);
    free(blobs);
    if (!rc) {
        c->written++;
        c->logical += logical;
        c->stored += stored;
        c->write_s += flor__mono() - t0;
    }
    return rc;
}

static void *writer_main(void *arg)
{
    flor__ckpt *c = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->busy && !c->stop)
            pthread_cond_wait(&c->wake, &c->mu);
        if (!c->busy && c->stop)
            break;
        int warming = c->warming;
        pthread_mutex_unlock(&c->mu);
        int rc = 0;
        double cpu0 = cpu_clock(CLOCK_THREAD_CPUTIME_ID), idle = 0;
        int first = c->written == 0; /* a full write, not a delta: no prediction */
        if (warming)
            for (int i = 0; i < flor__S.n; i++)
                flor__state_stage_warm(&flor__S.v[i]);
        else
            rc = persist(c);
        double cpu = cpu_clock(CLOCK_THREAD_CPUTIME_ID) - cpu0;
        if (!warming)
            idle = idle_cores(c);
        pthread_mutex_lock(&c->mu);
        if (!warming) { /* warming is once per buffer: not a checkpoint's cost */
            c->pend_cpu += cpu;
            c->pend_idle_cpu += cpu * idle;
            c->pend_bytes += first ? 0 : c->bytes;
        }
        c->warming = 0;
        if (rc) {
            if (!c->failed)
                flor__warn("%s (training goes on without this checkpoint)", flor_errmsg());
            c->failed++;
            snprintf(c->errmsg, sizeof c->errmsg, "%s", flor_errmsg());
        }
        c->busy = 0;
        pthread_cond_broadcast(&c->idle);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int flor__ckpt_start(const char *datadir, int64_t run_id)
{
    flor__ckpt *c = &C_;
    memset(c, 0, sizeof *c);
    c->run_id = run_id;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->wake, NULL);
    pthread_cond_init(&c->idle, NULL);
    char *dir = flor__printf("%s/objects", datadir);
    if (!dir)
        return flor__err(FLOR_ENOMEM, "out of memory");
    int rc = flor__store_open(&c->store, dir);
    free(dir);
    if (rc)
        return rc;
    /* one compression thread: the other cores belong to training */
    flor__store_set_threads(c->store, 1);
    if ((rc = flor__db_open(datadir, 0, 0, &c->db)) != 0) {
        flor__store_close(c->store);
        return rc;
    }
    if (pthread_create(&c->thread, NULL, writer_main, c) != 0) {
        sqlite3_close(c->db);
        flor__store_close(c->store);
        return flor__err(FLOR_EIO, "cannot start the checkpoint writer thread");
    }
    c->started = 1;
    C = c;
    return 0;
}

void flor__ckpt_wait_idle(void)
{
    if (!C)
        return;
    pthread_mutex_lock(&C->mu);
    while (C->busy)
        pthread_cond_wait(&C->idle, &C->mu);
    pthread_mutex_unlock(&C->mu);
}

void flor__ckpt_warm_staging(void)
{
    if (!C) {
        for (int i = 0; i < flor__S.n; i++)
            flor__state_stage_warm(&flor__S.v[i]);
        return;
    }
    flor__ckpt_wait_idle();
    pthread_mutex_lock(&C->mu);
    C->warming = 1;
    C->busy = 1;
    pthread_cond_signal(&C->wake);
    pthread_mutex_unlock(&C->mu);
}

/* Whether the writer is busy; hands P what it spent since the last call. */
static int is_busy(flor__policy *p)
{
    pthread_mutex_lock(&C->mu);
    int b = C->busy;
    double cpu = C->pend_cpu, idle = cpu > 0 ? C->pend_idle_cpu / cpu : 0;
    size_t bytes = C->pend_bytes;
    C->pend_cpu = C->pend_idle_cpu = 0;
    C->pend_bytes = 0;
    pthread_mutex_unlock(&C->mu);
    flor__policy_writer(p, cpu, idle, bytes);
    return b;
}

int flor__ckpt_take(flor__policy *p, const char *loop, long iteration, const char *coords,
                    int last)
{
    if (!C || flor__S.n == 0)
        return 0;
    double now = flor__mono();
    size_t bytes = 0;
    for (int i = 0; i < flor__S.n; i++)
        bytes += flor__S.v[i].ops.size ? flor__S.v[i].stage_len : flor__S.v[i].nbytes;
    flor__decision d;
    if (p->every_n > 0 || p->every_s > 0) {
        d = flor__policy_decide_every(p, iteration, now, last);
    } else {
        int busy = is_busy(p);
        p->iteration = iteration;
        d = flor__policy_decide(p, now, bytes, busy, last);
    }
    if (d != FLOR__TAKE)
        return 0;
    p->t_last = now;
    flor__ckpt_wait_idle(); /* only the last checkpoint can find it busy */
    double t0 = flor__mono();
    size_t total;
    int rc = flor__state_snapshot(&total);
    double stall = flor__mono() - t0;
    flor__policy_taken(p, stall, total);
    if (rc) {
        flor__warn("checkpoint at %s skipped: %s", coords, flor_errmsg());
        return rc;
    }
    pthread_mutex_lock(&C->mu);
    snprintf(C->loop, sizeof C->loop, "%s", loop);
    snprintf(C->coords, sizeof C->coords, "%s", coords);
    C->iteration = iteration;
    C->last = last;
    C->stall = stall;
    C->bytes = total;
    C->busy = 1;
    pthread_cond_signal(&C->wake);
    pthread_mutex_unlock(&C->mu);
    return 0;
}

int flor__ckpt_stop(int *written, int *failed)
{
    *written = *failed = 0;
    if (!C)
        return 0;
    pthread_mutex_lock(&C->mu);
    C->stop = 1;
    pthread_cond_signal(&C->wake);
    pthread_mutex_unlock(&C->mu);
    pthread_join(C->thread, NULL);
    *written = C->written;
    *failed = C->failed;
    sqlite3_close(C->db);
    int rc = flor__store_close(C->store);
    pthread_mutex_destroy(&C->mu);
    pthread_cond_destroy(&C->wake);
    pthread_cond_destroy(&C->idle);
    C = NULL;
    return rc;
}
