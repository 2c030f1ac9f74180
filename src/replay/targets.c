/*
 * targets.c -- the runs a replay with NAME... replays in their versions'
 * code (steps 5 and 6 of versions.h): what runs each of them, their
 * segments as jobs, and one summary row per run from what the segments
 * recorded in the replays table.
 */
#include "replay/versions.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- 5. the segments ------------------------------------------------------------------ */

/* PATH, or its place in version V's directory when PATH is inside the
 * project's root: the version's copy of a file, not the working tree's. */
static char *in_version(const flor_replay *r, const flor__version *v, const char *path)
{
    const char *root = flor_project_root(r->p);
    size_t rl = strlen(root);
    if (strncmp(path, root, rl) == 0 && path[rl] == '/')
        return flor__printf("%s%s", v->dir, path + rl);
    return flor__strdup(path);
}

static void free_command(char **cmd)
{
    for (char **c = cmd; c && *c; c++)
        free(*c);
    free(cmd);
}

/* The launcher command that starts run T's processes again, "{n}"
 * standing for their number, into *FORM: FLOR_LAUNCHER, else the one of
 * the launcher that started them; NULL for a single process.  "local" is
 * flor's own (local_ranks.c). */
static int launcher_form(const flor__target *t, const char **form)
{
    *form = NULL;
    if (t->world <= 1)
        return 0;
    const char *given = getenv("FLOR_LAUNCHER"), *kind = t->launcher ? t->launcher : "";
    *form = given && *given                    ? given
            : strcmp(kind, "mpi") == 0      ? "mpirun -np {n}"
            : strcmp(kind, "slurm") == 0    ? "srun -n {n}"
            : strcmp(kind, "torchrun") == 0 ? "torchrun --nproc_per_node {n}"
            : strcmp(kind, "local") == 0    ? "local"
                                            : NULL;
    if (!*form)
        return flor__err(FLOR_EINVAL,
                         "run %lld was recorded by %ld processes of a launcher flor does not "
                         "know (FLOR_RANK): set FLOR_LAUNCHER to its command, e.g. "
                         "FLOR_LAUNCHER='mpirun -np {n}', or to 'local' for processes that "
                         "read torchrun's RANK and WORLD_SIZE",
                         (long long)t->run, t->world);
    return 0;
}

/* The words of FORM (NULL: none) into CMD when not NULL, "{n}" replaced by
 * WORLD; returns how many, or -1 when out of memory. */
static int launcher_words(const char *form, long world, char **cmd)
{
    int n = 0;
    for (const char *s = form; s && *(s += strspn(s, " \t"));) {
        size_t len = strcspn(s, " \t");
        if (cmd && !(cmd[n] = len == 3 && strncmp(s, "{n}", 3) == 0
                                  ? flor__printf("%ld", world)
                                  : strndup(s, len)))
            return -1;
        n++;
        s += len;
    }
    return n;
}

/* What runs target T, NULL-terminated, its strings malloc'd: COMMAND, else
 * its recorded program (a Python script through FLOR_PYTHON, default
 * python3), after FORM's launcher words for a run of several processes,
 * with paths into the project moved into its version's code. */
static char **command_of(const flor_replay *r, const flor__target *t, const char *form)
{
    const flor__launch_args *a = &r->a;
    const flor__version *v = &r->v->v[t->v];
    int npre = launcher_words(form, t->world, NULL);
    int n = (a->ncmd ? a->ncmd : 2) + npre + 1; /* +1: torchrun's --no_python */
    char **cmd = calloc((size_t)n + 1, sizeof *cmd);
    if (!cmd)
        return NULL;
    bool ok = launcher_words(form, t->world, cmd) == npre;
    /* torchrun runs a script itself: an interpreter given in COMMAND is
     * the program it runs (--no_python), and a recorded script needs none */
    bool torchrun = ok && npre && strcmp(cmd[0], "torchrun") == 0;
    if (ok && torchrun && a->ncmd)
        ok = (cmd[npre++] = flor__strdup("--no_python")) != NULL;
    if (a->ncmd) {
        for (int i = 0; ok && i < a->ncmd; i++)
            ok = (cmd[npre + i] = in_version(r, v, a->cmd[i])) != NULL;
    } else {
        size_t len = strlen(t->argv0);
        bool py = len > 3 && strcmp(t->argv0 + len - 3, ".py") == 0 && !torchrun;
        const char *python = getenv("FLOR_PYTHON");
        if (ok && py)
            ok = (cmd[npre] = flor__strdup(python && *python ? python : "python3")) != NULL;
        ok = ok && (cmd[npre + py] = in_version(r, v, t->argv0)) != NULL;
    }
    if (!ok) {
        for (int i = 0; i < n; i++)
            free(cmd[i]);
        free(cmd);
        return NULL;
    }
    return cmd;
}

/* The jobs of target T's segments, appended to the job list. */
static int target_jobs(flor_replay *r, flor__target *t)
{
    flor__versions *d = r->v;
    const flor__version *v = &d->v[t->v];
    flor__launch_args sa = r->a;
    const char *form = NULL;
    /* a COMMAND that starts with its own launcher starts the ranks itself */
    int rc = r->a.ncmd && flor__is_launcher(r->a.cmd[0]) ? 0 : launcher_form(t, &form);
    if (rc)
        return rc;
    long local = form && strcmp(form, "local") == 0 ? t->world : 0;
    if (local)
        form = NULL; /* no launcher's words: each job's process starts the ranks */
    if (!(t->cmd = command_of(r, t, form)))
        return flor__err(FLOR_ENOMEM, "out of memory");
    sa.cmd = t->cmd;
    for (sa.ncmd = 0; t->cmd[sa.ncmd];)
        sa.ncmd++;
    const char **probes = malloc((size_t)(r->a.nprobes + v->nprobes + 1) * sizeof *probes);
    if (!probes)
        return flor__err(FLOR_ENOMEM, "out of memory");
    sa.nprobes = 0;
    for (int k = 0; k < r->a.nprobes; k++)
        probes[sa.nprobes++] = r->a.probes[k];
    for (int k = 0; k < v->nprobes; k++)
        probes[sa.nprobes++] = v->probes[k];
    sa.probes = probes;
    t->first = d->njobs;
    t->njobs = d->nseg;
    for (long s = 0; !rc && s < d->nseg; s++) {
        flor__job *j = &d->jobs[d->njobs++];
        j->argv = flor__segment_argv(&sa, t->run, s, d->nseg);
        j->label = flor__printf("run %lld segment %ld/%ld", (long long)t->run, s, d->nseg);
        j->out_path = flor__printf("%s/run-%lld-%ld.out", d->work, (long long)t->run, s);
        j->err_path = flor__printf("%s/run-%lld-%ld.err", d->work, (long long)t->run, s);
        j->cwd = v->cwd;
        j->env = d->env;
        j->local_ranks = local;
        if (!j->argv || !j->label || !j->out_path || !j->err_path)
            rc = flor__err(FLOR_ENOMEM, "out of memory");
    }
    free(probes);
    return rc;
}

int flor__targets_make_jobs(flor_replay *r)
{
    flor__versions *d = r->v;
    long runs = 0;
    for (int i = 0; i < d->nt; i++)
        runs += d->t[i].v >= 0 && d->v[d->t[i].v].status == NULL;
    if (runs == 0)
        return 0;
    d->nseg = r->a.segments ? r->a.segments : (r->a.jobs + runs - 1) / runs;
    d->jobs = calloc((size_t)(runs * d->nseg), sizeof *d->jobs);
    if (!d->jobs)
        return flor__err(FLOR_ENOMEM, "out of memory");
    int rc = 0;
    for (int i = 0; !rc && i < d->nt; i++) {
        flor__target *t = &d->t[i];
        if (t->v >= 0 && !d->v[t->v].status)
            rc = target_jobs(r, t);
    }
    return rc;
}

/* ---- 6. the summary --------------------------------------------------------------------- */

/* The replays row of target T's segment S, run by job J: the one its
 * process wrote, else the latest of that segment. */
static long row_of(const flor_table *rows, const flor__target *t, long s, const flor__job *j)
{
    for (size_t k = 0; k < flor_table_nrows(rows); k++)
        if (flor_table_int(rows, k, FLOR__RP_RUN) == t->run &&
            flor_table_int(rows, k, FLOR__RP_SEGMENT) == s &&
            flor_table_int(rows, k, FLOR__RP_PID) == j->pid)
            return (long)k;
    for (size_t k = flor_table_nrows(rows); k-- > 0;)
        if (flor_table_int(rows, k, FLOR__RP_RUN) == t->run &&
            flor_table_int(rows, k, FLOR__RP_SEGMENT) == s)
            return (long)k;
    return -1;
}

/* Sums up target T's segments from the replays rows ROWS. */
static void sum_up(const flor__versions *d, flor__target *t, const flor_table *rows)
{
    double t0 = 0, t1 = 0;
    t->status = "finished";
    for (long s = 0; s < t->njobs; s++) {
        const flor__job *j = &d->jobs[t->first + s];
        if (j->state == FLOR__JOB_CANCELLED) {
            t->status = "cancelled";
            continue;
        }
        if (s == 0 || j->t0 < t0)
            t0 = j->t0;
        if (j->t1 > t1)
            t1 = j->t1;
        long row = row_of(rows, t, s, j);
        const char *st = row >= 0 ? flor_table_text(rows, (size_t)row, FLOR__RP_STATUS) : NULL;
        if (row >= 0) {
            t->values += flor_table_int(rows, (size_t)row, FLOR__RP_NEW);
            t->divergences += flor_table_int(rows, (size_t)row, FLOR__RP_DIVERGENCES);
        }
        /* the other ranks of a run of several processes, in the same job */
        for (size_t k = 0; t->world > 1 && k < flor_table_nrows(rows); k++) {
            if (flor_table_int(rows, k, FLOR__RP_LEADER) != t->run ||
                flor_table_int(rows, k, FLOR__RP_RUN) == t->run ||
                flor_table_int(rows, k, FLOR__RP_SEGMENT) != s)
                continue;
            t->values += flor_table_int(rows, k, FLOR__RP_NEW);
            t->divergences += flor_table_int(rows, k, FLOR__RP_DIVERGENCES);
            const char *other = flor_table_text(rows, k, FLOR__RP_STATUS);
            if (st && (!other || strcmp(other, "finished") != 0))
                st = other ? other : "failed";
        }
        if (flor__job_ok(j) && st && strcmp(st, "finished") == 0)
            continue;
        bool killed = (!j->spawn_errno && WIFSIGNALED(j->wstatus)) ||
                      (st && strcmp(st, "killed") == 0);
        if (strcmp(t->status, "failed") != 0)
            t->status = killed ? "killed" : "failed";
        if (t->failed_job < 0)
            t->failed_job = t->first + s;
        if (!t->error) { /* what the segment said, else how its process ended */
            const char *e = row >= 0 ? flor_table_text(rows, (size_t)row, FLOR__RP_ERROR) : NULL;
            char why[160];
            t->error = flor__strdup(e ? e : flor__job_describe(j, why, sizeof why));
        }
    }
    t->seconds = t1 > t0 ? t1 - t0 : 0;
}

static void set_int(flor_table *t, size_t row, size_t col, long long v)
{
    flor__cell *c = flor__table_cell(t, row, col);
    c->type = FLOR_INTEGER;
    c->v.i = v;
}

/* SECONDS to the millisecond, as the launcher measured them. */
static void set_seconds(flor_table *t, size_t row, size_t col, double seconds)
{
    char sec[64];
    snprintf(sec, sizeof sec, "%.3f", seconds);
    flor__cell *c = flor__table_cell(t, row, col);
    c->type = FLOR_REAL;
    c->v.r = strtod(sec, NULL);
}

/* Target T's row of flor_replay_runs: run, tstamp, vid, status, segments,
 * seconds, new_values, divergences, conflicts, error. */
static int runs_row(const flor_replay *r, const flor__target *t, flor_table *out)
{
    size_t row = flor__table_add_row(out);
    if (row == (size_t)-1)
        return FLOR_ENOMEM;
    const flor__version *v = t->v >= 0 ? &r->v->v[t->v] : NULL;
    char vid[16];
    snprintf(vid, sizeof vid, "%.12s", !v ? t->vid : v->vid ? v->vid : "");
    set_int(out, row, 0, t->run);
    set_int(out, row, 4, v && !v->status ? t->njobs : 0);
    int rc = (t->tstamp && flor__table_set_text(out, row, 1, t->tstamp)) ||
             (*vid && flor__table_set_text(out, row, 2, vid)) ||
             flor__table_set_text(out, row, 3, v ? t->status : "skipped");
    if (v && !v->status) {
        set_seconds(out, row, 5, t->seconds);
        set_int(out, row, 6, t->values);
        set_int(out, row, 7, t->divergences);
        rc = rc || (t->error && flor__table_set_text(out, row, 9, t->error));
    } else if (v) {
        bool conflict = strcmp(v->status, "conflict") == 0;
        rc = rc || (conflict && v->detail && flor__table_set_text(out, row, 8, v->detail)) ||
             (v->detail && flor__table_set_text(out, row, 9, v->detail));
    }
    return rc;
}

/* Target T's row of the summary: run, vid, status, seconds, new_values,
 * divergences, conflicts. */
static int summary_row(const flor_replay *r, const flor__target *t, flor_table *sum)
{
    size_t row = flor__table_add_row(sum);
    if (row == (size_t)-1)
        return FLOR_ENOMEM;
    set_int(sum, row, 0, t->run);
    if (t->v < 0)
        return (*t->vid ? flor__table_set_text(sum, row, 1, t->vid) : 0) ||
               flor__table_set_text(sum, row, 2, "skipped");
    const flor__version *v = &r->v->v[t->v];
    char vid[16];
    snprintf(vid, sizeof vid, "%.12s", v->vid ? v->vid : "");
    int rc = (v->vid && flor__table_set_text(sum, row, 1, vid)) ||
             flor__table_set_text(sum, row, 2, t->status);
    if (!v->status) {
        set_seconds(sum, row, 3, t->seconds);
        set_int(sum, row, 4, t->values);
        set_int(sum, row, 5, t->divergences);
    } else if (strcmp(v->status, "conflict") == 0 && v->detail) {
        rc = rc || flor__table_set_text(sum, row, 6, v->detail);
    }
    return rc;
}

int flor__targets_summarize(flor_replay *r)
{
    static const char *const cols[] = {"run", "vid", "status", "seconds", "new_values",
                                       "divergences", "conflicts"};
    static const char *const run_cols[] = {"run", "tstamp", "vid", "status", "segments",
                                           "seconds", "new_values", "divergences",
                                           "conflicts", "error"};
    flor__versions *d = r->v;
    flor_table *rows = NULL;
    int rc = flor__replays_since(r->p->db, d->base, &rows);
    if (rc)
        return rc;
    flor_table *sum = flor__table_new(7, cols), *runs = flor__table_new(10, run_cols);
    rc = sum && runs ? 0 : FLOR_ENOMEM;
    for (int i = 0; !rc && i < d->nt; i++) {
        flor__target *t = &d->t[i];
        t->failed_job = -1;
        if (t->v < 0) {
            d->skipped++;
        } else if (d->v[t->v].status) {
            t->status = d->v[t->v].status;
        } else {
            sum_up(d, t, rows);
            d->values += t->values;
            d->divergences += t->divergences;
        }
        if (t->v >= 0 && strcmp(t->status, "finished") == 0)
            d->finished++;
        else if (t->v >= 0)
            r->not_finished++;
        rc = summary_row(r, t, sum) || runs_row(r, t, runs);
    }
    flor_table_free(rows);
    if (rc) {
        flor_table_free(sum);
        flor_table_free(runs);
        return flor__err(FLOR_ENOMEM, "out of memory");
    }
    r->summary = sum;
    r->runs = runs;
    return 0;
}

void flor__targets_report(flor_replay *r)
{
    const flor__versions *d = r->v;
    if (!r->progress)
        return;
    for (int i = 0; i < d->nt; i++) {
        const flor__target *t = &d->t[i];
        const flor__version *v = t->v >= 0 ? &d->v[t->v] : NULL;
        if (t->v >= 0 && t->failed_job >= 0) {
            const flor__job *j = &d->jobs[t->failed_job];
            char why[160];
            flor__job_describe(j, why, sizeof why);
            flor__launch_say(r, "run %lld: %s %s", (long long)t->run, j->label, why);
            if (t->error && strcmp(t->error, why) != 0) /* the replay's own error */
                flor__launch_say(r, "run %lld failed: %s", (long long)t->run, t->error);
            flor__job_print_tail(j, r->progress);
        } else if (v && v->status && strcmp(v->status, "conflict") != 0 &&
                   strcmp(v->status, "build failed") != 0) {
            flor__launch_say(r, "run %lld is not replayed (%s): %s", (long long)t->run,
                             v->status, v->detail ? v->detail : "");
        }
    }
    fprintf(r->progress, "flor: replayed %d of %d run%s: %lld new values, %lld divergences",
            d->finished, d->nt, d->nt == 1 ? "" : "s", d->values, d->divergences);
    if (d->skipped)
        fprintf(r->progress, "; %d skipped, as %s already logged there", d->skipped,
                r->a.nnames == 1 ? "the value was" : "the values were");
    fputc('\n', r->progress);
}

void flor__targets_release(flor_replay *r)
{
    flor__versions *d = r->v;
    for (int i = 0; i < d->nt; i++) {
        free(d->t[i].argv0);
        free(d->t[i].launcher);
        free(d->t[i].tstamp);
        free(d->t[i].error);
        free_command(d->t[i].cmd);
    }
    for (long i = 0; i < d->njobs; i++) {
        flor__job *j = &d->jobs[i];
        bool failed = (j->state == FLOR__JOB_DONE || j->state == FLOR__JOB_VANISHED) &&
                      !flor__job_ok(j);
        if (!failed) {
            unlink(j->out_path);
            unlink(j->err_path);
        }
        flor__job_release(j);
    }
    free(d->jobs);
    free(d->t);
}
