/*
 * resume.c -- continuing a killed or failed run from its last complete
 * checkpoint (--resume_flor, FLOR_RESUME; `flor resume RUN`).
 *
 * A resume restores like a replay and records like a run: flor_init()
 * (src/flor.c) calls flor__resume_start() instead of flor__record_start().
 * It picks the run, refuses what cannot be continued (a finished run, one
 * being recorded now, one without a checkpoint, one whose code differs
 * from the working tree unless forced), gives flor_arg() the run's
 * recorded args, and begins the continuation in one transaction
 * (db/resumes.c): a resumes row, the logs the killed process made after
 * the checkpoint moved to superseded_logs, the run's row pointed at this
 * process.  It then attaches the record path to the run
 * (flor__record_attach) with two hooks, until the checkpoint is restored.
 * The checkpointed loop may be nested: the checkpoint's coords
 * ("epoch=2,step=30") are its path, and each enclosing loop of the path
 * goes on at the path's iteration when it begins (resume_loop), which
 * keeps the context id the killed process gave it (resume_ctx); when
 * the checkpointed loop begins on the path, the checkpoint is restored
 * and the loop goes on at the iteration after it.  Objects registered
 * later (optimizer state allocated on first use) are restored when they
 * are registered.  The code check counts only code: files git tracks and
 * untracked files named like source (flor__git_code_changes); what the
 * program wrote into the project is data.
 */
#include "replay/replay.h"

#include <stdlib.h>
#include <string.h>

static struct {
    int on, force;
    char *spec;         /* FLOR_RESUME=RUN or --resume_flor=RUN; NULL: the latest */
    char *loop;         /* the checkpoint's loop and iteration */
    long iteration;
    int64_t ckpt_id;
    char *coords;
    flor__path path;    /* its coords: the loops the continuation moves on */
    int64_t ctx[FLOR__PATH_MAX]; /* their iterations' saved context ids */
    flor_project *proj; /* for the restore */
    double started;     /* flor__mono() when flor_init began the resume */
} Z;

static int set_spec(const char *what, const char *spec)
{
    if (!*spec)
        return flor__err(FLOR_EINVAL, "%s: expected a run id or tstamp after '='", what);
    free(Z.spec);
    if (!(Z.spec = flor__strdup(spec)))
        return flor__err(FLOR_ENOMEM, "out of memory");
    return 0;
}

int flor__resume_parse(int *argc, char ***argvp)
{
    char **argv = *argvp;
    Z.started = flor__mono();
    const char *env = getenv("FLOR_RESUME");
    if (env && *env && strcmp(env, "0") != 0) {
        Z.on = 1;
        if (strcmp(env, "1") != 0 && set_spec("FLOR_RESUME", env) != 0)
            return FLOR_ENOMEM;
    }
    const char *force = getenv("FLOR_RESUME_FORCE");
    Z.force = force && *force && strcmp(force, "0") != 0;
    for (int i = 1; i < *argc;) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--resume_flor") == 0) {
            Z.on = 1;
            flor__argv_remove(argc, argv, i, 1);
        } else if (strncmp(argv[i], "--resume_flor=", 14) == 0) {
            Z.on = 1;
            int rc = set_spec("--resume_flor", argv[i] + 14);
            if (rc)
                return rc;
            flor__argv_remove(argc, argv, i, 1);
        } else {
            i++;
        }
    }
    return 0;
}

int flor__resume_requested(void) { return Z.on; }

/* A flat object of the checkpoint registered after the restore. */
static int on_register(flor__state *s)
{
    int rc = flor__restore_pending(s);
    if (rc)
        flor__run_taint(flor_errmsg());
    return rc;
}

/* Whether the loops enclosing depth D are at the checkpoint's path. */
static int on_path(int d)
{
    for (int k = 0; k < d; k++)
        if (flor__R.stack[k].iteration != Z.path.iteration[k] ||
            strcmp(flor__name_str(flor__R.stack[k].name), Z.path.name[k]) != 0)
            return 0;
    return 1;
}

static void resume_fail(flor_loop *l, const char *msg)
{
    flor__loss("%s: the loop does not run", msg);
    flor__run_taint(msg);
    l->n = 0;
    flor__R.resume = NULL;
    flor__R.resume_ctx = NULL;
}

/* A loop of the checkpoint's path begins: an enclosing one goes on at the
 * path's iteration; the checkpointed one gets the state restored from the
 * checkpoint and goes on at the iteration after it. */
static void resume_loop(flor_loop *l)
{
    flor__run *R = &flor__R;
    int d = l->depth, last = Z.path.n - 1;
    if (d > last || strcmp(l->name, Z.path.name[d]) != 0 || !on_path(d) ||
        (d == last && d != R->ckpt_depth))
        return; /* off the path: it runs as recorded */
    long at = d == last ? Z.iteration + 1 : Z.path.iteration[d];
    if (l->n >= 0 && at > l->n - (d == last ? 0 : 1)) {
        char msg[512];
        snprintf(msg, sizeof msg,
                 "resume of run %lld: loop '%s' has %ld iterations, the checkpoint (%s) is at "
                 "iteration %ld",
                 (long long)R->run_id, l->name, l->n, Z.coords, Z.path.iteration[d]);
        resume_fail(l, msg);
        return;
    }
    if (d < last) {
        l->i = at - 1; /* its iterations before the path's are done */
        return;
    }
    R->resume = NULL; /* once: the loop the checkpoint was taken in */
    R->resume_ctx = NULL;
    double t0 = flor__mono();
    int rc = Z.proj ? 0 : flor_project_open(&Z.proj, R->place.root);
    if (!rc) {
        flor__P.on = 1; /* objects not registered yet wait for their registration */
        rc = flor__restore_checkpoint(Z.proj, R->run_id, Z.ckpt_id, Z.coords);
        flor__P.on = 0;
    }
    double restored = flor__mono();
    if (rc) {
        char msg[512];
        snprintf(msg, sizeof msg, "resume of run %lld: %s", (long long)R->run_id, flor_errmsg());
        resume_fail(l, msg);
        return;
    }
    l->i = Z.iteration;
    flor__resumes_set_times(R->db, R->resume_id, restored - t0, restored - Z.started);
    flor__err_clear();
}

/* An iteration begins before the checkpoint is restored: the path's
 * iteration of an enclosing loop keeps the context id the killed process
 * gave it (its loops row and the checkpointed loop's kept iterations
 * refer to it).  An enclosing loop that goes past the path's iteration
 * without the checkpointed loop beginning is code that differs from the
 * run's: the run cannot be trusted. */
static int64_t resume_ctx(const flor_loop *l)
{
    int d = l->depth, last = Z.path.n - 1;
    if (d >= last || strcmp(l->name, Z.path.name[d]) != 0 || !on_path(d))
        return 0;
    if (l->i > Z.path.iteration[d]) {
        char msg[512];
        snprintf(msg, sizeof msg,
                 "resume of run %lld: loop '%s' did not begin in %s=%ld: the checkpoint (%s) "
                 "was not restored",
                 (long long)flor__R.run_id, Z.loop, l->name, Z.path.iteration[d], Z.coords);
        flor__loss("%s", msg);
        flor__run_taint(msg);
        flor__R.resume = NULL;
        flor__R.resume_ctx = NULL;
        return 0;
    }
    return l->i == Z.path.iteration[d] ? Z.ctx[d] : 0;
}

/* The run to continue: --resume_flor=RUN, or the latest of this program. */
static int select_run(sqlite3 *db, const char *projid, const char *filename, int64_t *run)
{
    int rc = Z.spec ? flor__runs_find(db, Z.spec, run) : flor__runs_latest_of(db, filename, run);
    if (rc)
        return rc;
    if (!*run && Z.spec)
        return flor__err(FLOR_ENOTFOUND, "--resume_flor=%s: no such run in project '%s'", Z.spec,
                         projid);
    if (!*run)
        return flor__err(FLOR_ENOTFOUND, "--resume_flor: no recorded run of '%s' in project '%s'",
                         filename, projid);
    /* a run of several processes: each rank continues its own row */
    int64_t row;
    if ((rc = flor__rank_row(db, *run, "resume", &row)) != 0)
        return flor__err_wrap(rc, "--resume_flor");
    *run = row;
    return 0;
}

/* The code of the working tree against commit VID's: *NOW its snapshot,
 * *DIFFERS how many files of code differ (flor__git_code_changes: data
 * the program wrote is not code), *FIRST the first of them. */
static int code_differs(flor__run *R, int64_t run, const char *vid, char **now, int *differs,
                        char **first)
{
    *differs = 0;
    char *msg = flor__printf("flor resume of run %lld", (long long)run);
    char *cache = flor__printf("%s/snapshot.index", R->place.datadir);
    int rc = msg && cache ? flor__git_snapshot(R->place.root, cache, msg, now)
                          : flor__err(FLOR_ENOMEM, "out of memory");
    free(msg);
    free(cache);
    if (rc || !vid)
        return rc;
    return flor__git_code_changes(R->place.root, vid, *now, differs, first);
}

int flor__resume_start(int argc, char **argv)
{
    flor__run *R = &flor__R;
    int rc = flor__replay_open_project("--resume_flor", "resume");
    if (rc)
        return rc;
    int64_t run = 0;
    if ((rc = select_run(R->db, R->place.projid, flor__run_filename(argc, argv), &run)) != 0)
        return rc;
    char *status = NULL, *coords = NULL, *vid = NULL, *now_vid = NULL;
    int found = 0, differs = 0;
    rc = flor__runs_status(R->db, run, &status);
    if (!rc && !status)
        rc = flor__err(FLOR_ENOTFOUND, "run %lld has no status", (long long)run);
    if (!rc && strcmp(status, "finished") == 0)
        rc = flor__err(FLOR_EINVAL, "run %lld finished: there is nothing to resume",
                       (long long)run);
    if (!rc && strcmp(status, "running") == 0)
        rc = flor__err(FLOR_EBUSY,
                       "run %lld is being recorded right now by another process: it can be "
                       "resumed once it is killed or fails",
                       (long long)run);
    if (!rc && (rc = flor__checkpoints_last(R->db, run, &Z.ckpt_id, &Z.loop, &Z.iteration,
                                            &coords)) == FLOR_EINVAL)
        rc = flor__err_wrap(rc, "run %lld cannot be resumed", (long long)run);
    if (!rc && !Z.loop)
        rc = flor__err(FLOR_ENOTFOUND,
                       "run %lld (%s) has no checkpoint to resume from (one counts once the "
                       "logs of a later iteration were saved): run it again instead",
                       (long long)run, status);
    if (!rc && (rc = flor__path_parse(coords, &Z.path)) == 0 &&
        strcmp(Z.path.name[Z.path.n - 1], Z.loop) != 0)
        rc = flor__err(FLOR_ECORRUPT, "run %lld: checkpoint of loop '%s' at coords '%s'",
                       (long long)run, Z.loop, coords);
    if (!rc)
        rc = flor__runs_find_vid(R->db, run, &found, &vid);
    char *changed = NULL;
    if (!rc && R->place.gitdir)
        rc = code_differs(R, run, vid, &now_vid, &differs, &changed);
    if (!rc && differs && !Z.force)
        rc = flor__err(FLOR_EINVAL,
                       "run %lld was recorded with code version %.12s and the working tree "
                       "differs in %s%s: a resume runs the current code (set "
                       "FLOR_RESUME_FORCE=1, or `flor resume --force`, to resume with it "
                       "anyway)",
                       (long long)run, vid, changed,
                       differs > 1 ? " and other files of code" : "");
    free(changed);
    if (!rc)
        rc = flor__args_load(R->db, run);
    long moved = 0;
    int64_t max_ctx = 0;
    if (!rc)
        rc = flor__resumes_begin(R->db, run, &Z.path, status, now_vid, &R->resume_id, &moved,
                                 &max_ctx, Z.ctx);
    free(status);
    Z.coords = coords;
    free(vid);
    free(now_vid);
    if (rc)
        return rc;
    R->run_id = run;
    R->next_ctx = max_ctx;
    R->ckpt_depth = -1;
    if (!R->ckpt_loop && !(R->ckpt_loop = flor__strdup(Z.loop)))
        return flor__err(FLOR_ENOMEM, "out of memory");
    R->resume = resume_loop;
    R->resume_ctx = resume_ctx;
    flor__state_set_on_register(on_register);
    if ((rc = flor__record_attach()) != 0) {
        flor__resumes_end(R->db, R->resume_id, "failed");
        flor__runs_set_status(R->db, run, "failed", -1, flor_errmsg());
    }
    return rc;
}

void flor__resume_release(void)
{
    flor_project_free(Z.proj);
    free(Z.spec);
    free(Z.loop);
    free(Z.coords);
    flor__path_release(&Z.path);
    memset(&Z, 0, sizeof Z);
    flor__restore_pending_release();
    flor__state_set_on_register(NULL);
    flor__R.resume = NULL;
    flor__R.resume_ctx = NULL;
}
