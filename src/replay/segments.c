/*
 * segments.c -- one recorded run replayed in S segments of its
 * checkpointed loop, N processes at a time: the segments' command lines,
 * the run they all replay, the jobs, and the summary of what each segment
 * did, from the row it added to the replays table.
 */
#include "replay/launch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- command lines ------------------------------------------------------------------ */

char **flor__segment_argv(const flor__launch_args *a, int64_t run, long i, long nseg)
{
    int nwords = a->ncmd + 2 + (run ? 2 : 0) + 2 * a->nprobes, w = 0;
    char **v = malloc((size_t)(nwords + 1) * sizeof *v + 64);
    if (!v)
        return NULL;
    char *seg = (char *)(v + nwords + 1), *id = seg + 32;
    snprintf(seg, 32, "%ld/%ld", i, nseg);
    snprintf(id, 32, "%lld", (long long)run);
    for (int k = 0; k < a->ncmd; k++)
        v[w++] = a->cmd[k];
    v[w++] = "--replay_flor";
    v[w++] = seg;
    if (run) {
        v[w++] = "--replay_run";
        v[w++] = id;
    }
    for (int k = 0; k < a->nprobes; k++) {
        v[w++] = "--probe";
        v[w++] = (char *)a->probes[k];
    }
    v[w] = NULL;
    return v;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static bool runnable(const char *name);

bool flor__is_launcher(const char *word)
{
    static const char *const names[] = {"mpirun", "mpiexec", "orterun", "prterun", "srun",
                                        "torchrun"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(base_name(word), names[i]) == 0)
            return true;
    return false;
}

const char *flor__program_name(char *const *cmd, int ncmd)
{
    /* "mpirun -np 2 ./train": the first word after the launcher's
     * options that is a program (or a script) */
    if (ncmd > 1 && flor__is_launcher(cmd[0])) {
        for (int i = 1; i < ncmd; i++) {
            size_t len = strlen(cmd[i]);
            if (cmd[i][0] == '-')
                continue;
            if (len > 3 && strcmp(cmd[i] + len - 3, ".py") == 0)
                return base_name(cmd[i]);
            if (runnable(cmd[i]))
                return flor__program_name(cmd + i, ncmd - i);
        }
    }
    const char *prog = base_name(cmd[0]);
    if (strncmp(prog, "python", 6) == 0 && ncmd > 1 && cmd[1][0] != '-')
        return base_name(cmd[1]);
    return prog;
}

/* Without a run spec, the run the library would pick itself (the latest
 * of the same file name), looked up once so that a recording that starts
 * meanwhile does not split the segments between two runs. */
int flor__pin_run(flor_replay *r, int64_t *run)
{
    if (r->a.run)
        return flor_project_find_run(r->p, r->a.run, run);
    return flor__runs_latest_of(r->p->db, flor__program_name(r->a.cmd, r->a.ncmd), run);
}

/* ---- the jobs ------------------------------------------------------------------------- */

/* Whether NAME can be run: a path with '/', or a program in PATH. */
static bool runnable(const char *name)
{
    if (strchr(name, '/'))
        return access(name, X_OK) == 0;
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/bin:/bin";
    size_t len = strlen(name);
    while (*path) {
        size_t n = strcspn(path, ":");
        char *full = malloc(n + len + 3);
        if (!full)
            return true; /* let exec say */
        if (n)
            sprintf(full, "%.*s/%s", (int)n, path, name);
        else /* an empty entry is the working directory */
            sprintf(full, "./%s", name);
        struct stat st;
        bool ok = stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0;
        free(full);
        if (ok)
            return true;
        path += n + (path[n] == ':');
    }
    return false;
}

static flor__job *make_jobs(const flor__launch_args *a, int64_t run, const char *dir)
{
    flor__job *jobs = calloc((size_t)a->segments, sizeof *jobs);
    for (long i = 0; jobs && i < a->segments; i++) {
        flor__job *j = &jobs[i];
        j->argv = flor__segment_argv(a, run, i, a->segments);
        j->out_path = flor__printf("%s/segment-%ld.out", dir, i);
        j->err_path = flor__printf("%s/segment-%ld.err", dir, i);
        j->label = flor__printf("segment %ld/%ld", i, a->segments);
        if (!j->argv || !j->out_path || !j->err_path || !j->label) {
            for (long k = 0; k <= i; k++)
                flor__job_release(&jobs[k]);
            free(jobs);
            return NULL;
        }
    }
    return jobs;
}

/* ---- the results ---------------------------------------------------------------------- */

struct flor__outcome {
    long row;           /* its row in the replays rows read back, or -1 */
    const char *status; /* finished, failed, killed, cancelled */
    char why[256];      /* for a person, when not finished */
};

static bool row_is(const flor_table *t, size_t r, long seg, long nseg, const char *host)
{
    const char *h = flor_table_text(t, r, FLOR__RP_HOST);
    return flor_table_int(t, r, FLOR__RP_SEGMENT) == seg &&
           flor_table_int(t, r, FLOR__RP_NSEGMENTS) == nseg && h && strcmp(h, host) == 0;
}

static bool pid_of_a_job(const flor__job *jobs, long n, int64_t pid)
{
    for (long i = 0; i < n; i++)
        if (jobs[i].pid == pid)
            return true;
    return false;
}

/* Finds each segment's row: the one its process wrote (same pid, on the
 * host where it ran), else, for a COMMAND that runs the program in another
 * process, the latest row of that segment written by no process of this
 * launch. */
static void match_rows(const flor_table *t, const flor__job *jobs, long n, flor__outcome *out)
{
    char here[256] = "localhost";
    gethostname(here, sizeof here - 1);
    size_t nrows = flor_table_nrows(t);
    for (long i = 0; i < n; i++) {
        const char *host = jobs[i].host ? jobs[i].host : here;
        out[i].row = -1;
        for (size_t r = 0; r < nrows && jobs[i].pid > 0 && out[i].row < 0; r++)
            if (flor_table_int(t, r, FLOR__RP_PID) == jobs[i].pid && row_is(t, r, i, n, host))
                out[i].row = (long)r;
    }
    for (long i = 0; i < n; i++) {
        const char *host = jobs[i].host ? jobs[i].host : here;
        for (size_t r = nrows; r-- > 0 && jobs[i].pid > 0 && out[i].row < 0;) {
            bool taken = false;
            for (long k = 0; k < n; k++)
                taken |= out[k].row == (long)r;
            if (!taken && row_is(t, r, i, n, host) &&
                !pid_of_a_job(jobs, n, flor_table_int(t, r, FLOR__RP_PID)))
                out[i].row = (long)r;
        }
    }
}

/* The segment's status from how its process ended and what it recorded. */
static void judge(const flor_table *t, const flor__job *j, flor__outcome *o)
{
    flor__job_describe(j, o->why, sizeof o->why);
    if (j->state == FLOR__JOB_CANCELLED) {
        o->status = "cancelled";
    } else if (!j->spawn_errno && WIFSIGNALED(j->wstatus)) {
        o->status = "killed";
    } else if (j->spawn_errno || WEXITSTATUS(j->wstatus) != 0) {
        o->status = "failed";
    } else if (o->row < 0) {
        o->status = "failed";
        snprintf(o->why, sizeof o->why, "it exited with status 0 but recorded no replay; does "
                                        "COMMAND run a flor program and pass its arguments on?");
    } else {
        const char *st = flor_table_text(t, (size_t)o->row, FLOR__RP_STATUS);
        const char *err = flor_table_text(t, (size_t)o->row, FLOR__RP_ERROR);
        o->status = st && strcmp(st, "killed") == 0 ? "killed"
                    : st && strcmp(st, "finished") == 0 ? "finished"
                                                         : "failed";
        if (strcmp(o->status, "finished") != 0)
            snprintf(o->why, sizeof o->why, "its replay ended as '%s'%s%s", st ? st : "?",
                     err ? ": " : "", err ? err : "");
    }
}

/* Copies cell (SR, SC) of S into cell (R, C) of T. */
static int copy_cell(flor_table *t, size_t r, size_t c, const flor_table *s, size_t sr,
                     size_t sc)
{
    flor__cell *cell = flor__table_cell(t, r, c);
    switch (flor_table_type(s, sr, sc)) {
    case FLOR_INTEGER:
        cell->type = FLOR_INTEGER;
        cell->v.i = flor_table_int(s, sr, sc);
        return 0;
    case FLOR_REAL:
        cell->type = FLOR_REAL;
        cell->v.r = flor_table_real(s, sr, sc);
        return 0;
    case FLOR_TEXT:
        return flor__table_set_text(t, r, c, flor_table_text(s, sr, sc));
    default:
        return 0;
    }
}

/* A run of several processes: segment I's counts are those of all its
 * ranks, whose rows share the matched row's leader and segment. */
static void add_other_ranks(const flor_replay *r, long i, flor_table *t, size_t row,
                            const int *from)
{
    const flor_table *s = r->rows;
    size_t m = (size_t)r->out[i].row;
    int64_t leader = flor_table_int(s, m, FLOR__RP_LEADER);
    for (size_t q = 0; q < flor_table_nrows(s); q++) {
        if (q == m || flor_table_int(s, q, FLOR__RP_LEADER) != leader ||
            flor_table_int(s, q, FLOR__RP_RUN) == flor_table_int(s, m, FLOR__RP_RUN) ||
            flor_table_int(s, q, FLOR__RP_SEGMENT) != i ||
            flor_table_int(s, q, FLOR__RP_NSEGMENTS) != r->njobs)
            continue;
        for (size_t k = 0; k < 4; k++) {
            flor__cell *c = flor__table_cell(t, row, 3 + k);
            if (c->type == FLOR_INTEGER)
                c->v.i += flor_table_int(s, q, (size_t)from[k]);
        }
    }
}

/* One row per segment: how the launcher saw it, with the counts its
 * replays row has (its ranks' rows, for a run of several processes). */
static int summary_table(flor_replay *r)
{
    static const char *const cols[] = {"segment", "status", "seconds", "new_values",
                                       "compared", "divergences", "restores"};
    static const int from[] = {FLOR__RP_NEW, FLOR__RP_COMPARED, FLOR__RP_DIVERGENCES,
                               FLOR__RP_RESTORES};
    flor_table *t = flor__table_new(7, cols);
    int rc = t ? 0 : FLOR_ENOMEM;
    for (long i = 0; !rc && i < r->njobs; i++) {
        const flor__job *j = &r->jobs[i];
        size_t row = flor__table_add_row(t);
        if (row == (size_t)-1) {
            rc = FLOR_ENOMEM;
            break;
        }
        flor__cell *c = flor__table_cell(t, row, 0);
        c->type = FLOR_INTEGER;
        c->v.i = i;
        rc = flor__table_set_text(t, row, 1, r->out[i].status);
        if (j->state != FLOR__JOB_CANCELLED) { /* seconds, to the millisecond */
            char sec[64];
            snprintf(sec, sizeof sec, "%.3f", j->t1 - j->t0);
            c = flor__table_cell(t, row, 2);
            c->type = FLOR_REAL;
            c->v.r = strtod(sec, NULL);
        }
        for (size_t k = 0; !rc && r->out[i].row >= 0 && k < 4; k++)
            rc = copy_cell(t, row, 3 + k, r->rows, (size_t)r->out[i].row, (size_t)from[k]);
        if (!rc && r->out[i].row >= 0)
            add_other_ranks(r, i, t, row, from);
    }
    if (rc) {
        flor_table_free(t);
        return flor__err(FLOR_ENOMEM, "out of memory");
    }
    r->summary = t;
    return 0;
}

int flor__segments_summarize(flor_replay *r)
{
    long n = r->njobs;
    r->out = calloc((size_t)n, sizeof *r->out);
    if (!r->out)
        return flor__err(FLOR_ENOMEM, "out of memory");
    int rc = flor__replays_since(r->p->db, r->base, &r->rows);
    if (rc)
        return rc;
    match_rows(r->rows, r->jobs, n, r->out);
    for (long i = 0; i < n; i++) {
        judge(r->rows, &r->jobs[i], &r->out[i]);
        if (r->out[i].row < 0 || strcmp(r->out[i].status, "finished") != 0)
            r->not_finished++;
    }
    return summary_table(r);
}

int flor__segments_run(flor_replay *r)
{
    const flor__launch_args *a = &r->a;
    if (!runnable(a->cmd[0]))
        return flor__err(FLOR_ENOTFOUND, "cannot run '%s': %s", a->cmd[0],
                         strchr(a->cmd[0], '/') ? strerror(errno) : "no such program in PATH");
    int rc = flor__pin_run(r, &r->run);
    if (!rc)
        rc = flor__replays_last_id(r->p->db, &r->base);
    if (rc)
        return rc;
    if (a->slurm)
        rc = flor__slurm_area(r);
    else if (!(r->dir = flor__workarea_new()))
        return flor__err(FLOR_EIO, "cannot create a directory for the logs: %s",
                         strerror(errno));
    if (rc)
        return rc;
    if (!(r->jobs = make_jobs(a, r->run, r->dir)))
        return flor__err(FLOR_ENOMEM, "out of memory");
    r->njobs = a->segments;
    if (a->slurm)
        return flor__slurm_run(r);
    int sig = flor__pool_run(r->jobs, (int)a->segments, (int)a->jobs, "segments", r->progress);
    if (sig < 0)
        return FLOR_EIO;
    r->signal = sig;
    return flor__segments_summarize(r);
}

/* ---- the report ------------------------------------------------------------------------- */

static void report_failures(const flor_replay *r)
{
    for (long i = 0; i < r->njobs; i++) {
        const flor__outcome *o = &r->out[i];
        const char *st = o->status;
        if (strcmp(st, "finished") == 0 || strcmp(st, "cancelled") == 0)
            continue;
        if (strncmp(o->why, st, strlen(st)) == 0) /* "killed by SIGINT" */
            flor__launch_say(r, "segment %ld/%ld %s", i, r->njobs, o->why);
        else
            flor__launch_say(r, "segment %ld/%ld %s: %s", i, r->njobs, st, o->why);
        flor__job_print_tail(&r->jobs[i], r->progress);
    }
}

/* The total, and the first divergence as a warning. */
static void report_total(const flor_replay *r)
{
    const flor_table *t = r->rows;
    int64_t values = 0, divergences = 0, run = r->run;
    long first = -1, n = r->njobs;
    double t0 = r->jobs[0].t0, t1 = r->jobs[0].t1;
    for (long i = 0; i < n; i++) {
        if (r->jobs[i].state == FLOR__JOB_DONE && r->jobs[i].t1 > t1)
            t1 = r->jobs[i].t1;
        if (r->out[i].row < 0)
            continue;
        size_t row = (size_t)r->out[i].row;
        /* the summary's counts: those of all the ranks of the segment */
        values += flor_table_int(r->summary, (size_t)i, 3);
        divergences += flor_table_int(r->summary, (size_t)i, 5);
        if (first < 0 && flor_table_int(t, row, FLOR__RP_DIVERGENCES) > 0)
            first = i;
        if (!run)
            run = flor_table_int(t, row, FLOR__RP_RUN);
    }
    FILE *f = r->progress;
    if (run)
        fprintf(f, "flor: replay of run %lld: ", (long long)run);
    else
        fputs("flor: replay: ", f);
    fprintf(f, "%ld segment%s in %.1f s, %lld new values, %lld divergences\n", n,
            n == 1 ? "" : "s", t1 - t0, (long long)values, (long long)divergences);
    if (first >= 0) {
        const char *text = flor_table_text(t, (size_t)r->out[first].row, FLOR__RP_FIRST);
        fprintf(f, "flor: warning: the replay diverged from the recording; first, in segment "
                   "%ld: %s\n",
                first, text ? text : "?");
    }
}

void flor__segments_report(flor_replay *r)
{
    if (r->progress) {
        report_total(r);
        report_failures(r);
    }
}

void flor__segments_release(flor_replay *r)
{
    /* the logs of the segments that finished go; interrupted, all of them */
    for (long i = 0; r->out && i < r->njobs; i++)
        if ((r->out[i].status && strcmp(r->out[i].status, "finished") == 0) ||
            r->jobs[i].state == FLOR__JOB_CANCELLED) {
            unlink(r->jobs[i].out_path);
            unlink(r->jobs[i].err_path);
        }
    if (r->job) {
        flor__slurm_release(r, r->njobs, r->out != NULL); /* a Slurm replay's area: its own files */
    } else if (r->dir) {
        if (r->out)
            rmdir(r->dir);
        flor__workarea_done(r->dir, r->signal != 0 || !r->out);
    }
    for (long i = 0; r->jobs && i < r->njobs; i++)
        flor__job_release(&r->jobs[i]);
    free(r->jobs);
    free(r->out);
    flor_table_free(r->rows);
    free(r->dir);
}
