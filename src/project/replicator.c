/*
 * replicator.c -- the background copy of a recording process's journal to
 * the team's database (docs/team.md, "Training never waits on the
 * network").  A thread of its own, at the lowest priority, with its own
 * SQLite and PostgreSQL connections, copies what the journal holds every
 * second; while the server cannot be reached it tries again less often
 * (up to every 8 s) and the run goes on: the rows wait in the journal.
 * The training thread never calls it.
 */
#include "project/project.h"
#include "team/team.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PERIOD_S 1
#define BACKOFF_MAX_S 8
#define FINAL_WAIT_S 5 /* how long the end of a run waits for the last copy */

struct flor__replicator {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;     /* the thread is asked to stop; or it has ended */
    int stop, finish, done, orphan;
    sqlite3 *db;
    flor__pg *pg;
    char *url, *id;
    struct flor__team_who who;
    char *root, *projid;
    flor__team_seen *seen;
    int failing;           /* the last copy failed */
    int backoff_s;
    int warned;
    char why[512];         /* the last failure */
};

static void replicator_free(struct flor__replicator *r)
{
    flor__pg_close(r->pg);
    sqlite3_close(r->db);
    flor__team_seen_free(r->seen);
    free(r->url), free(r->id), free(r->root), free(r->projid);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

/* One copy; 0 or the failure, whose message is kept in R->why. */
static int copy_once(struct flor__replicator *r, int timeout_s)
{
    int rc = 0;
    if (!r->pg)
        rc = flor__team_connect(r->url, timeout_s, &r->pg);
    if (!rc) {
        flor__team_checkout co = {r->id, r->who.projid, r->who.host, r->who.root, r->seen};
        rc = flor__team_sync(r->db, r->pg, &co, NULL);
    }
    if (rc) {
        snprintf(r->why, sizeof r->why, "%s", flor_errmsg());
        flor__err_clear();
        flor__pg_close(r->pg); /* a new connection next time */
        r->pg = NULL;
        if (!r->warned) {
            r->warned = 1;
            flor__warn("the team's database cannot be copied to now: %s (the run goes on; its "
                       "rows wait in the local database and are copied when it answers)",
                       r->why);
        }
    }
    r->failing = rc != 0;
    r->backoff_s = rc ? (r->backoff_s ? r->backoff_s * 2 : PERIOD_S) : 0;
    if (r->backoff_s > BACKOFF_MAX_S)
        r->backoff_s = BACKOFF_MAX_S;
    return rc;
}

static void *replicator_main(void *arg)
{
    struct flor__replicator *r = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    /* copying must not take the training's CPU: the lowest priority */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_sec += r->backoff_s ? r->backoff_s : PERIOD_S;
        pthread_cond_timedwait(&r->cv, &r->mu, &t);
        if (r->stop)
            break;
        pthread_mutex_unlock(&r->mu);
        copy_once(r, 5);
        pthread_mutex_lock(&r->mu);
    }
    int finish = r->finish;
    pthread_mutex_unlock(&r->mu);
    /* The last copy: what the run logged is all committed by now. */
    if (finish && copy_once(r, 2) != 0)
        flor__warn("the run's rows are not all in the team's database: %s (they are safe in the "
                   "local database; 'flor team sync' copies them, as does the next run)",
                   r->why);
    pthread_mutex_lock(&r->mu);
    r->done = 1;
    int orphan = r->orphan;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (orphan)
        replicator_free(r);
    return NULL;
}

int flor__replicator_start(const char *datadir, sqlite3 *run_db, const char *root,
                           const char *projid, flor__replicator **out)
{
    *out = NULL;
    char *url = NULL, *id = NULL;
    const char *source;
    /* asked on the run's connection: a project without a team opens nothing */
    int rc = flor__team_url(run_db, &url, &source);
    if (rc || !url)
        return rc;
    rc = flor__team_checkout_id(run_db, &id);
    struct flor__replicator *r = rc ? NULL : calloc(1, sizeof *r);
    if (!rc && !r)
        rc = flor__err(FLOR_ENOMEM, "out of memory");
    if (rc) {
        free(url), free(id);
        return rc;
    }
    r->url = url, r->id = id;
    r->root = flor__strdup(root);
    r->projid = flor__strdup(projid);
    r->seen = flor__team_seen_new();
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (!r->root || !r->projid || !r->seen)
        rc = flor__err(FLOR_ENOMEM, "out of memory");
    if (!rc)
        rc = flor__team_who(r->root, r->projid, &r->who);
    if (!rc)
        rc = flor__db_open(datadir, 0, 0, &r->db);
    if (!rc && pthread_create(&r->th, NULL, replicator_main, r) != 0)
        rc = flor__err(FLOR_ENOMEM, "cannot start the thread that copies to the team's database");
    if (rc) {
        replicator_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int flor__replicator_stop(flor__replicator *r, int finish)
{
    if (!r)
        return 0;
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    r->finish = finish;
    pthread_cond_broadcast(&r->cv);
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += finish ? FINAL_WAIT_S : 0;
    while (!r->done && finish)
        if (pthread_cond_timedwait(&r->cv, &r->mu, &t) != 0)
            break;
    int done = r->done;
    if (!done)
        r->orphan = 1; /* it frees itself when the server lets it go */
    pthread_mutex_unlock(&r->mu);
    if (!done) {
        pthread_detach(r->th);
        if (finish)
            flor__warn("the team's database did not answer within %d s: the run's last rows are "
                       "safe in the local database ('flor team sync' copies them)",
                       FINAL_WAIT_S);
        return 0;
    }
    pthread_join(r->th, NULL);
    replicator_free(r);
    return 0;
}
