/*
 * plan.c -- the replay's plan: which run is replayed and what it recorded
 * of itself (its checkpoints, how far it got, its args), the segment of
 * the checkpointed loop this process replays, and the restores that
 * skip iterations (--replay_every).
 */
#include "replay/replay.h"

#include <stdlib.h>
#include <string.h>

/* ---- opening the project ---------------------------------------------------- */

int flor__replay_open_project(const char *flag, const char *verb)
{
    flor__run *R = &flor__R;
    int rc = flor__place_find(&R->place, NULL);
    if (rc)
        return rc;
    rc = flor__db_open(R->place.datadir, 0, 0, &R->db);
    if (rc == FLOR_ENOTFOUND)
        return flor__err(rc, "%s: no runs recorded in project '%s' (%s): nothing to %s", flag,
                         R->place.projid, R->place.datadir, verb);
    if (rc)
        return rc;
    flor__db_reap(R->db);
    flor__err_clear();
    return 0;
}

/* ---- choosing the run and loading what it recorded ----------------------- */

int flor__rank_row(sqlite3 *db, int64_t id, const char *verb, int64_t *row)
{
    flor__rank me;
    int rc = flor__rank_detect(&me);
    long world = 0;
    *row = 0;
    if (!rc)
        rc = flor__runs_rank_of(db, id, me.rank, row, &world);
    if (!rc && world != me.world)
        rc = flor__err(FLOR_EINVAL,
                       "run %lld was recorded by %ld process%s and this %s is %ld: %s it "
                       "with as many (mpirun -np %ld, torchrun --nproc_per_node %ld, srun -n %ld)",
                       (long long)id, world, world == 1 ? "" : "es", verb, me.world, verb, world,
                       world, world);
    else if (!rc && !*row)
        rc = flor__err(FLOR_ENOTFOUND, "run %lld has no rank %ld recorded", (long long)id,
                       me.rank);
    flor__rank_release(&me);
    return rc;
}

/* A run of several processes replays with as many, each its own rank's
 * row of the run. */
static int select_rank(sqlite3 *db, int64_t id)
{
    int64_t row;
    int rc = flor__rank_row(db, id, "replay", &row);
    if (!rc)
        flor__P.run_id = row;
    return rc;
}

static int select_run(sqlite3 *db, const char *projid, const char *filename)
{
    const char *spec = flor__P.run_spec;
    int64_t id = 0;
    int rc = spec ? flor__runs_find(db, spec, &id) : flor__runs_latest_of(db, filename, &id);
    if (rc)
        return rc;
    if (!id && spec)
        return flor__err(FLOR_ENOTFOUND, "--replay_run %s: no such run in project '%s'", spec,
                         projid);
    char *any = NULL;
    if (!id && (rc = flor__runs_newest_filename(db, &any)) != 0)
        return rc;
    int none = !any;
    free(any);
    if (!id && none) /* a project whose database holds no run (its settings only) */
        return flor__err(FLOR_ENOTFOUND, "--replay_flor: no runs recorded in project '%s' (%s): "
                         "nothing to replay", projid, flor__R.place.datadir);
    if (!id)
        return flor__err(FLOR_ENOTFOUND,
                         "no recorded run of '%s' in project '%s' to replay (record one first)",
                         filename, projid);
    return select_rank(db, id);
}

static int add_checkpoint(void *ctx, const char *loop, long iteration)
{
    (void)ctx;
    if (!flor__P.ckpt_loop)
        flor__P.ckpt_loop = flor__strdup(loop);
    if (flor__P.nckpt == flor__P.capckpt) {
        int cap = flor__P.capckpt ? flor__P.capckpt * 2 : 64;
        long *v = realloc(flor__P.ckpts, (size_t)cap * sizeof *v);
        if (!v)
            return flor__err(FLOR_ENOMEM, "out of memory");
        flor__P.ckpts = v;
        flor__P.capckpt = cap;
    }
    flor__P.ckpts[flor__P.nckpt++] = iteration;
    return 0;
}

static int load_checkpoints(sqlite3 *db)
{
    return flor__checkpoints_iterations(db, flor__P.run_id, add_checkpoint, NULL);
}

int flor__replay_has_checkpoint(long iteration)
{
    int lo = 0, hi = flor__P.nckpt - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (flor__P.ckpts[mid] == iteration)
            return 1;
        if (flor__P.ckpts[mid] < iteration)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return 0;
}

/* The last checkpointed iteration <= LIMIT, or -1. */
static long checkpoint_at_or_before(long limit)
{
    long best = -1;
    for (int k = 0; k < flor__P.nckpt && flor__P.ckpts[k] <= limit; k++)
        best = flor__P.ckpts[k];
    return best;
}

/* ---- what the run recorded of itself: its status, its argv ------------------ */

/* A run that did not finish (killed, failed, still running) is replayed
 * only as far as it got: to the last iteration of its checkpointed loop
 * that logged or was checkpointed. */
static int load_reach(sqlite3 *db)
{
    int rc = flor__runs_status(db, flor__P.run_id, &flor__P.run_status);
    if (rc)
        return rc;
    if (!flor__P.run_status)
        flor__P.run_status = flor__strdup("unknown");
    if (!flor__P.run_status)
        return flor__err(FLOR_ENOMEM, "out of memory");
    flor__P.reached = -1;
    flor__P.limited = strcmp(flor__P.run_status, "finished") != 0;
    if (!flor__P.limited)
        return 0;
    long ck = -1, lp = -1;
    rc = flor__checkpoints_last_iteration(db, flor__P.run_id, &ck);
    if (!rc)
        rc = flor__loops_last_iteration(db, flor__P.run_id, flor__P.ckpt_loop, &lp);
    flor__P.reached = ck > lp ? ck : lp;
    return rc;
}

static int has_name(char **v, int n, const char *name, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(v[i]) == len && strncmp(v[i], name, len) == 0)
            return 1;
    return 0;
}

/* The args rows of a killed run can be missing (it died before the
 * writer saved them).  Its argv, saved when it started, still holds the
 * --kwargs it was given: they become the replay's --kwargs for the args
 * without a row, so flor_arg() parses them to the default's type exactly
 * as the record did.  An arg with neither a row nor a --kwargs used its
 * default in the record too. */
/* A growing list of strings. */
typedef struct strv {
    char **v;
    int n;
} strv;

static int strv_push(strv *l, const char *w)
{
    char **v = realloc(l->v, (size_t)(l->n + 1) * sizeof *v);
    if (!v)
        return flor__err(FLOR_ENOMEM, "out of memory");
    l->v = v;
    if (!(v[l->n] = flor__strdup(w)))
        return flor__err(FLOR_ENOMEM, "out of memory");
    l->n++;
    return 0;
}

static int push_arg_name(void *ctx, const char *name, const flor__value *v)
{
    (void)v;
    return strv_push(ctx, name);
}

static int push_word(void *ctx, const char *word) { return strv_push(ctx, word ? word : ""); }

static int load_argv_kwargs(sqlite3 *db)
{
    strv names = {0}, argv = {0};
    char **fake = NULL;
    int nfake = 0, readable = 0;
    char why[256] = "";
    int rc = flor__args_each(db, flor__P.run_id, push_arg_name, &names);
    if (!rc)
        rc = flor__runs_argv_each(db, flor__P.run_id, push_word, &argv, &readable, why,
                                  sizeof why);
    if (rc)
        goto out;
    char **argnames = names.v, **words = argv.v;
    int nnames = names.n, nwords = argv.n;
    if (!readable) {
        /* the argv is unreadable: harmless when the args rows are complete */
        if (flor__P.limited && nnames == 0)
            rc = flor__err(FLOR_ECORRUPT,
                           "run %lld recorded no args (it ended '%s') and its argv cannot be "
                           "read (%s): cannot replay it faithfully",
                           (long long)flor__P.run_id, flor__P.run_status, why);
        else
            rc = 0;
        goto out;
    }
    /* the --kwargs words, found as flor__kwargs_parse() found them */
    fake = calloc((size_t)nwords + 3, sizeof *fake);
    if (!fake) {
        rc = flor__err(FLOR_ENOMEM, "out of memory");
        goto out;
    }
    fake[nfake++] = "replay";
    fake[nfake++] = "--kwargs";
    for (int i = 1; i < nwords && strcmp(words[i], "--") != 0;) {
        if (strcmp(words[i], "--kwargs") != 0) {
            i++;
            continue;
        }
        for (i++; i < nwords && strchr(words[i], '=') && strncmp(words[i], "--", 2) != 0; i++) {
            size_t len = (size_t)(strchr(words[i], '=') - words[i]);
            if (!has_name(argnames, nnames, words[i], len))
                fake[nfake++] = words[i];
        }
    }
    if (nfake > 2) {
        int fargc = nfake;
        char **fargv = fake;
        flor__P.argv_kwargs = nfake - 2;
        if ((rc = flor__kwargs_parse(&fargc, &fargv)) != 0) {
            rc = flor__err_wrap(FLOR_EINVAL, "run %lld: the --kwargs of its recorded argv",
                                (long long)flor__P.run_id);
            goto out;
        }
        flor__buf list = {0};
        for (int k = 2; k < nfake; k++)
            flor__buf_printf(&list, "%s%s", k > 2 ? " " : "", fake[k]);
        flor__warn("run %lld (%s) recorded no args for %s: the replay takes them from the "
                   "--kwargs of its recorded argv",
                   (long long)flor__P.run_id, flor__P.run_status, list.p ? list.p : "?");
        flor__buf_release(&list);
    }
    rc = 0;
out:
    for (int i = 0; i < names.n; i++)
        free(names.v[i]);
    for (int i = 0; i < argv.n; i++)
        free(argv.v[i]);
    free(names.v);
    free(argv.v);
    free(fake);
    return rc;
}

int flor__replay_load_run(sqlite3 *db, const char *projid, const char *filename)
{
    int rc = select_run(db, projid, filename);
    if (!rc)
        rc = flor__args_load(db, flor__P.run_id);
    if (!rc)
        rc = load_checkpoints(db);
    if (!rc)
        rc = load_reach(db);
    if (!rc)
        rc = load_argv_kwargs(db);
    return rc;
}

/* ---- the plan of the checkpointed loop ------------------------------------ */

long flor__replay_plan(const char *loop, long n, long *first)
{
    long total = n;
    if (total < 0) /* a loop of unknown length: the last checkpoint marks its end */
        total = flor__P.nckpt ? flor__P.ckpts[flor__P.nckpt - 1] + 1 : 0;
    /* a run that did not finish: no iteration past the last it reached */
    if (flor__P.limited && (n < 0 || total > flor__P.reached + 1)) {
        total = flor__P.reached + 1;
        flor__P.truncated = 1;
    }
    if (flor__P.limited)
        snprintf(flor__P.stop_loop, sizeof flor__P.stop_loop, "%s", loop ? loop : "?");
    long size = total / flor__P.seg_n, rem = total % flor__P.seg_n;
    long pid = flor__P.seg_pid;
    flor__P.seg_start = pid * size + (pid < rem ? pid : rem);
    flor__P.seg_end = flor__P.seg_start + size + (pid < rem ? 1 : 0);
    long resume = flor__P.seg_start > 0 ? checkpoint_at_or_before(flor__P.seg_start - 1) : -1;
    *first = resume + 1;
    return resume;
}

/* The first iteration >= FROM that the new statements need. */
static long needed_from(long from)
{
    long n = flor__P.every_n, r = flor__P.every_r;
    long k = from % n;
    return k <= r ? from - k + r : from - k + n + r;
}

int flor__replay_skip(long *i)
{
    long cur = *i, from = cur + 1 > flor__P.seg_start ? cur + 1 : flor__P.seg_start;
    long want = needed_from(from); /* the iteration to arrive at */
    int last = flor__P.seg_pid + 1 == flor__P.seg_n && !flor__P.truncated;
    if (want >= flor__P.seg_end) {
        if (!last) { /* nothing more is needed: what follows the loop is ignored */
            *i = flor__P.seg_end - 1;
            return 0;
        }
        want = flor__P.seg_end; /* the state at the loop's end, for the code after it */
    }
    long c = checkpoint_at_or_before(want - 1);
    if (c <= cur)
        return 0; /* no checkpoint past where the state is: run on */
    int rc = flor__replay_restore(c);
    if (rc)
        return rc;
    flor__P.restored_for = c;
    *i = c;
    return 0;
}

int flor__replay_restore_again(long iteration)
{
    if (!flor__P.proj) {
        int rc = flor_project_open(&flor__P.proj, NULL);
        if (rc)
            return rc;
    }
    double t0 = flor__mono();
    int rc = flor_project_restore(flor__P.proj, flor__P.run_id, iteration);
    flor__P.restore_s += flor__mono() - t0;
    return rc;
}

int flor__replay_restore(long iteration)
{
    int rc = flor__replay_restore_again(iteration);
    if (!rc)
        flor__P.restores++;
    return rc;
}

void flor__replay_fail(void)
{
    if (!flor__P.error)
        flor__P.error = flor__strdup(flor_errmsg());
    flor__R.phase = FLOR__PHASE_FAILED;
}
