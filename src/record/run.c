/*
 * run.c -- starting and ending a recorded run: its row, its code version,
 * the log writer and the checkpoint writer.  flor_init() and flor_finish()
 * (src/flor.c) compose this with replay.
 */
#include "record/record.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *flor__run_filename(int argc, char **argv)
{
    if (argc <= 0)
        return "?";
    const char *s = strrchr(argv[0], '/');
    return s ? s + 1 : argv[0];
}

static char *argv_json(int argc, char **argv)
{
    flor__buf b = {0};
    int rc = flor__buf_puts(&b, "[");
    for (int i = 0; !rc && i < argc; i++) {
        if (i)
            rc = flor__buf_puts(&b, ",");
        if (!rc)
            rc = flor__buf_json_string(&b, argv[i]);
    }
    if (!rc)
        rc = flor__buf_puts(&b, "]");
    if (rc) {
        flor__buf_release(&b);
        return NULL;
    }
    return b.p;
}

/* The message of the run's code snapshot: a subject naming the run and
 * its command line (cut at about 150 bytes), then the run's keys. */
static char *snapshot_message(int64_t run_id, const char *tstamp, const char *filename, int argc,
                              char **argv, const char *args_json)
{
    flor__buf b = {0};
    int rc = flor__buf_printf(&b, "flor run %lld: %s", (long long)run_id, filename);
    for (int i = 1; !rc && i < argc && b.len <= 150; i++)
        rc = flor__buf_printf(&b, " %s", argv[i]);
    if (!rc && b.len > 150) {
        size_t n = 147;
        while (n > 0 && ((unsigned char)b.p[n] & 0xC0) == 0x80)
            n--; /* not inside a UTF-8 sequence */
        b.len = n;
        rc = flor__buf_puts(&b, "...");
    }
    if (!rc)
        rc = flor__buf_printf(&b, "\n\nrun: %lld\ntstamp: %s\nprogram: %s\nargv: %s\n",
                              (long long)run_id, tstamp, filename, args_json);
    if (rc) {
        flor__buf_release(&b);
        return NULL;
    }
    return b.p;
}

/* Commits the working tree to flor.shadow and records the commit as the
 * run's vid.  A failure is a warning: the run goes on without a code
 * version. */
static void record_code_version(flor__run *R, const char *tstamp, const char *filename, int argc,
                                char **argv, const char *args_json)
{
    char *msg = snapshot_message(R->run_id, tstamp, filename, argc, argv, args_json);
    char *cache = flor__printf("%s/snapshot.index", R->place.datadir);
    char *vid = NULL;
    int rc = msg && cache ? flor__git_snapshot(R->place.root, cache, msg, &vid)
                          : flor__err(FLOR_ENOMEM, "out of memory");
    if (!rc)
        rc = flor__runs_set_vid(R->db, R->run_id, vid);
    if (rc)
        flor__warn("cannot keep the code version of run %lld: %s", (long long)R->run_id,
                   flor_errmsg());
    flor__err_clear();
    free(vid);
    free(cache);
    free(msg);
}

/* Rank RANK > 0 of a job: waits for rank 0's row (it appears once rank 0
 * has taken the code version, which all ranks share), then adds this
 * process's row to the same run.  FLOR_RANK_WAIT: how long, in seconds
 * (default 300). */
static int join_leader(flor__run *R, const flor__rank *me, const char *args)
{
    double wait = 300;
    const char *w = getenv("FLOR_RANK_WAIT");
    if (w && *w) {
        char *end;
        wait = strtod(w, &end);
        if (*end || !(wait >= 0) || wait > 1e7)
            return flor__err(FLOR_EINVAL, "FLOR_RANK_WAIT='%s': expected a number of seconds "
                                          ">= 0", w);
    }
    /* rank 0 started with this one, give or take the launcher's spread:
     * a leader older than that is an earlier job's that had the same key */
    double start = flor__now(), since = start - 600;
    int64_t leader = 0;
    for (;;) {
        int rc = flor__runs_find_leader(R->db, me->job, me->world, me->rank, since, &leader);
        if (rc)
            return rc;
        if (leader)
            break;
        if (flor__now() - start > wait)
            return flor__err(FLOR_ENOTFOUND,
                             "rank %ld of %ld: rank 0 of the job (%s) did not start its run in "
                             "project '%s' within %g s (FLOR_RANK_WAIT)",
                             me->rank, me->world, me->job, R->place.projid, wait);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return flor__runs_insert_rank(R->db, leader, me->rank, args, &R->run_id);
}

/* A registration error of the checkpoint layer taints the run. */
static void state_error(const char *msg) { flor__run_taint(msg); }

/* flor__record_start for process ME of its job (a single process: rank 0
 * of 1). */
static int start(flor__run *R, const flor__rank *me, int argc, char **argv)
{
    int rc = flor__place_find(&R->place, NULL);
    if (rc)
        return rc;
    if (!R->place.gitdir)
        flor__warn("%s is not in a git repository: runs are recorded without code versions",
                   R->place.root);
    if ((rc = flor__place_prepare(&R->place)) != 0)
        return rc;
    /* an I/O error may be transient: a few tries, 0.1 s apart */
    for (int tries = 0; tries < 5; tries++) {
        if (tries) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if ((rc = flor__db_open(R->place.datadir, 1, 0, &R->db)) != FLOR_EIO)
            break;
    }
    if (rc)
        return rc;
    flor__db_reap(R->db);
    flor__err_clear();
    char *args = argv_json(argc, argv);
    if (!args)
        return flor__err(FLOR_ENOMEM, "out of memory");
    const char *filename = flor__run_filename(argc, argv);
    if ((rc = flor__experiment_apply(R, filename, (int)me->rank)) != 0) {
        free(args);
        return rc;
    }
    char tstamp[32];
    if (me->rank > 0) {
        rc = join_leader(R, me, args);
        free(args);
        return rc ? rc : flor__record_attach();
    }
    rc = flor__runs_insert(R->db, R->place.projid, filename, NULL, args, &R->run_id, tstamp);
    for (int tries = 1; rc == FLOR_EIO && tries < 5; tries++) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        rc = flor__runs_insert(R->db, R->place.projid, filename, NULL, args, &R->run_id, tstamp);
    }
    if (!rc && R->place.gitdir)
        record_code_version(R, tstamp, filename, argc, argv, args);
    free(args);
    /* the other ranks wait for this: the code version is in the row now */
    if (!rc && me->world > 1 &&
        (rc = flor__runs_publish_job(R->db, R->run_id, me->world, me->job, me->kind)) != 0)
        flor__runs_set_status(R->db, R->run_id, "failed", -1, flor_errmsg());
    if (rc)
        return rc;
    return flor__record_attach();
}

int flor__record_start(int argc, char **argv)
{
    flor__rank me;
    int rc = flor__rank_detect(&me);
    if (!rc)
        rc = start(&flor__R, &me, argc, argv);
    flor__rank_release(&me);
    return rc;
}

int flor__record_attach(void)
{
    flor__run *R = &flor__R;
    int rc;
    sqlite3 *wdb;
    if ((rc = flor__db_open(R->place.datadir, 0, 0, &wdb)) != 0)
        return rc;
    if ((rc = flor__writer_start(&R->writer, wdb, R->run_id, NULL)) != 0) {
        flor__runs_set_status(R->db, R->run_id, "failed", -1, flor_errmsg());
        return rc;
    }
    R->ckpt_depth = -1;
    R->on = 1; /* for the args rows */
    flor__kwargs_record_given();
    R->on = 0;
    if ((rc = flor__ckpt_start(R->place.datadir, R->run_id)) != 0) {
        flor__writer_stop(R->writer);
        R->writer = NULL;
        flor__runs_set_status(R->db, R->run_id, "failed", -1, flor_errmsg());
        return rc;
    }
    flor__state_set_recording(1, state_error);
    /* a remote that cannot be used costs the run nothing: its checkpoints
     * stay local, and the warning says how to upload them later */
    if (flor__spooler_start(R->place.datadir, R->db, &R->spooler) != 0) {
        flor__warn("checkpoints will not be copied to the project's remote: %s (they stay in "
                   "the local store; 'flor push' uploads them)", flor_errmsg());
        flor__err_clear();
    }
    /* likewise a team database: the run's rows wait in the journal */
    if (flor__replicator_start(R->place.datadir, R->db, R->place.root, R->place.projid,
                               &R->replicator) != 0) {
        flor__warn("the run's rows will not be copied to the team's database: %s (they stay in "
                   "the local database; 'flor team sync' copies them)", flor_errmsg());
        flor__err_clear();
    }
    return 0;
}

/* A run that ends before its first log or loop (a --help, a usage error)
 * leaves no run: its row and args are removed once everything it logged
 * is committed and shows there was nothing.  A run killed (status
 * "killed", or dead and found by the reaper), failed with a reason,
 * resumed or of several ranks is kept.  Its code snapshot stays on
 * flor.shadow: that branch is shared history, only ever appended to.
 * 1 when the run was removed. */
static int remove_if_empty(flor__run *R, const char *status)
{
    if (R->loops_started || R->tainted || R->resume_id || strcmp(status, "killed") == 0)
        return 0;
    int removed = 0;
    if (flor__writer_flush(R->writer) != 0 ||
        flor__runs_remove_if_empty(R->db, R->run_id, &removed) != 0)
        removed = 0; /* kept, as any run: the writer reports its own error below */
    flor__err_clear();
    return removed;
}

/* Stops the run's spooler once the checkpoint writer has synced and
 * closed its store (the last pass sees every checkpoint; eviction may take
 * the store's lock) and the run's row says how it ended; and then its
 * replicator, whose last copy has the run's final row.  A run ended by a
 * signal does not wait for uploads or copies.  The message of the error CODE (0:
 * none) the caller returns is kept. */
static void stop_spooler(flor__run *R, const char *status, int code)
{
    if (!R->spooler && !R->replicator)
        return;
    char keep[1024];
    snprintf(keep, sizeof keep, "%s", flor_errmsg());
    flor__spooler_stop(R->spooler, strcmp(status, "killed") != 0);
    R->spooler = NULL;
    flor__replicator_stop(R->replicator, strcmp(status, "killed") != 0);
    R->replicator = NULL;
    if (code)
        flor__err(code, "%s", keep);
    else
        flor__err_clear();
}

int flor__record_end(const char *status)
{
    flor__run *R = &flor__R;
    int removed = remove_if_empty(R, status);
    if (!removed)
        flor__kwargs_check_unused();
    int written, failed;
    flor__ckpt_stop(&written, &failed);
    double overhead = R->ckpt_started ? flor__policy_overhead(&R->policy, flor__mono()) : 0;
    int rc = flor__writer_stop(R->writer);
    R->writer = NULL;
    R->on = 0;
    flor__state_set_recording(0, NULL);
    if (removed && !rc) {
        stop_spooler(R, status, 0);
        sqlite3_close(R->db);
        R->db = NULL;
        R->finished = 1;
        return 0;
    }
    char saved[512];
    snprintf(saved, sizeof saved, "%s", flor_errmsg());
    if (rc)
        flor__loss("run %lld failed: %s", (long long)R->run_id, saved);
    const char *final = rc || R->tainted ? "failed" : status;
    int rc2 = flor__runs_set_status(R->db, R->run_id, final, overhead, rc ? saved : NULL);
    if (rc2)
        flor__loss("cannot mark run %lld as %s: %s (it will show as killed)",
                   (long long)R->run_id, final, flor_errmsg());
    if (!rc2 && R->resume_id && (rc2 = flor__resumes_end(R->db, R->resume_id, final)) != 0)
        flor__loss("cannot mark the resume of run %lld as %s: %s", (long long)R->run_id, final,
                   flor_errmsg());
    stop_spooler(R, status, rc ? rc : rc2);
    sqlite3_close(R->db);
    R->db = NULL;
    R->finished = 1;
    if (rc)
        flor__err(rc, "%s", saved);
    else if (!rc2 && R->tainted)
        rc2 = flor__err(FLOR_EINVAL, "run %lld is marked failed: %s", (long long)R->run_id,
                        R->taint_msg);
    return rc ? rc : rc2;
}
