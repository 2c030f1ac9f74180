/*
 * pool.c -- per-thread work buffers (a codec, a read buffer, a hash state)
 * and the small pool of worker threads that runs a put's or a get's chunks
 * in parallel with the calling thread.  Workers block every signal (signals
 * stay with the program's threads) and start on the first job that has
 * more than one chunk.
 */
#include "store_int.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void flor__wctx_free(struct wctx *w)
{
    if (!w)
        return;
    flor__codec_free(w->codec);
    free(w->rbuf);
    XXH3_freeState(w->xs);
    free(w);
}

static struct wctx *wctx_new(void)
{
    struct wctx *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->codec = flor__codec_new();
    w->xs = XXH3_createState();
    if (!w->codec || !w->xs) {
        flor__wctx_free(w);
        return NULL;
    }
    return w;
}

int flor__wctx_reserve(struct wctx *w, size_t n)
{
    if (n <= w->rcap)
        return 0;
    uint8_t *p = malloc(n);
    if (!p)
        return flor__err(FLOR_ENOMEM, "out of memory for a %zu-byte chunk", n);
    free(w->rbuf);
    w->rbuf = p;
    w->rcap = n;
    return 0;
}

static void job_loop(flor__store *s, struct wctx *w, struct job *j)
{
    while (!atomic_load(&j->failed)) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n)
            break;
        int rc = j->fn(s, w, j, i);
        if (rc && atomic_exchange(&j->failed, 1) == 0) {
            j->err = rc;
            snprintf(j->msg, sizeof j->msg, "%s", flor_errmsg());
        }
    }
}

static void *worker_main(void *arg)
{
    struct worker *wk = arg;
    flor__store *s = wk->s;
    unsigned long seen = wk->seen;
    lock(&s->pm);
    for (;;) {
        while (!s->stop && s->gen == seen)
            pthread_cond_wait(&s->pcv, &s->pm);
        if (s->stop)
            break;
        seen = s->gen;
        struct job *j = s->job;
        unlock(&s->pm);
        job_loop(s, s->wctx[wk->k], j);
        lock(&s->pm);
        if (--s->nactive == 0)
            pthread_cond_signal(&s->dcv);
    }
    unlock(&s->pm);
    return NULL;
}

void flor__pool_stop(flor__store *s)
{
    if (!s->nworkers)
        return;
    lock(&s->pm);
    s->stop = 1;
    pthread_cond_broadcast(&s->pcv);
    unlock(&s->pm);
    for (int i = 0; i < s->nworkers; i++)
        pthread_join(s->workers[i].th, NULL);
    for (int i = 1; i <= s->nworkers; i++) {
        flor__wctx_free(s->wctx[i]);
        s->wctx[i] = NULL;
    }
    free(s->workers);
    s->workers = NULL;
    s->nworkers = 0;
    s->stop = 0;
}

/* Starts nthreads - 1 workers; on any failure runs with fewer. */
static void pool_start(flor__store *s)
{
    int want = s->nthreads - 1;
    if (s->nworkers || want <= 0)
        return;
    s->workers = calloc((size_t)want, sizeof *s->workers);
    if (!s->workers)
        return;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* signals stay with the program's threads */
    for (int i = 0; i < want; i++) {
        s->wctx[i + 1] = wctx_new();
        /* jobs posted before this pool (a pool stopped by
         * flor__store_set_threads) are not this worker's to run */
        s->workers[i] = (struct worker){.s = s, .k = i + 1, .seen = s->gen};
        if (!s->wctx[i + 1] ||
            pthread_create(&s->workers[i].th, NULL, worker_main, &s->workers[i]) != 0) {
            flor__wctx_free(s->wctx[i + 1]);
            s->wctx[i + 1] = NULL;
            break;
        }
        s->nworkers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!s->nworkers) {
        free(s->workers);
        s->workers = NULL;
    }
}

/* Runs J's tasks on the calling thread and the pool; returns the first
 * failure with its message. */
int flor__job_run(flor__store *s, struct job *j)
{
    atomic_store(&j->next, 0);
    atomic_store(&j->failed, 0);
    if (!s->wctx[0] && !(s->wctx[0] = wctx_new()))
        return flor__err(FLOR_ENOMEM, "out of memory");
    int posted = 0;
    if (j->n > 1 && s->nthreads > 1 && getpid() == s->pid) {
        pool_start(s);
        if (s->nworkers) {
            lock(&s->pm);
            s->job = j;
            s->gen++;
            s->nactive = s->nworkers;
            pthread_cond_broadcast(&s->pcv);
            unlock(&s->pm);
            posted = 1;
        }
    }
    job_loop(s, s->wctx[0], j);
    if (posted) {
        lock(&s->pm);
        while (s->nactive)
            pthread_cond_wait(&s->dcv, &s->pm);
        s->job = NULL;
        unlock(&s->pm);
    }
    if (atomic_load(&j->failed))
        return flor__err(j->err, "%s", j->msg);
    return 0;
}
