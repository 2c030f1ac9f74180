/*
 * replay_versions.c -- `flor replay NAME...`: hindsight logging across
 * code versions.
 *
 *  1. The hindsight statements logging NAME... (flor_project_statements;
 *     from a recorded version when it is a back-fill).
 *  2. The runs: those of the program, filtered by --where; a run that
 *     has a value of every NAME already is skipped unless --force.
 *  3. For each code version among them, its code with the statements
 *     carried in (flor_project_carry), in a directory of a temporary work
 *     area.  A version whose statements conflict, or whose vid is not in
 *     the repository, is reported and its runs are not replayed.
 *  4. --build CMD in each version's directory, at most -j at a time.
 *  5. Every run's segments, at most -j at a time, run in its version's
 *     directory with FLOR_DIR set to the project's data directory, so that
 *     what they log lands under the original runs.
 *  6. One summary row per run, then the work area goes (the logs of what
 *     failed are kept), also after Ctrl-C.
 */
#include "cli.h"
#include "replay.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct version {
    const char *vid;     /* NULL: the runs recorded no code version */
    int64_t first_run;   /* the run whose code is written out */
    char *dir;           /* the code, in the work area */
    char *cwd;           /* where its commands run: DIR plus the subdirectory */
    const char *status;  /* NULL while all is well, else why its runs do not replay */
    char *detail;        /* the conflicts ("file:line name"), or the error */
    const char **probes; /* loops to probe: those holding a carried statement */
    int nprobes;
    replay_job build;
} version;

typedef struct target {
    int64_t run;
    int v;            /* its version; -1 when it is skipped */
    char vid[16];     /* a skipped run's vid, shortened */
    char *argv0;      /* as it recorded it */
    char **cmd;       /* what runs it: COMMAND, or ARGV0 */
    long first, njobs; /* its segments in the job list */
} target;

typedef struct driver {
    flor_project *p;
    const replay_args *a;
    const cli_opts *opts;
    char *work;       /* the temporary work area */
    char *rel;        /* the working directory, relative to the project root */
    char *flor_dir;   /* FLOR_DIR=... for the segments */
    char *env[2];
    version *v;
    int nv;
    target *t;
    int nt;
    replay_job *jobs;
    long njobs, nseg;
    int64_t base;     /* the last replays row before this launch */
    bool interrupted; /* by a signal: nothing is kept */
} driver;

static volatile sig_atomic_t stop_signal;
static void on_stop(int sig) { stop_signal = sig; }

static bool is_named(const replay_args *a, const char *name)
{
    for (int i = 0; i < a->nnames; i++)
        if (strcmp(a->names[i], name) == 0)
            return true;
    return false;
}

/* ---- 1. the statements ------------------------------------------------------------- */

static int find_statements(driver *d)
{
    const replay_args *a = d->a;
    flor_table *all = NULL;
    if (flor_project_statements(d->p, a->names, (size_t)a->nnames, &all) != 0)
        return cli_error("%s", flor_errmsg());
    if (flor_table_nrows(all) > 0 && flor_table_text(all, 0, 5)) {
        fprintf(stderr, "flor: no statement logging %s was added since the latest recorded "
                        "version; back-filling from version %.12s, the newest that records it\n",
                a->names[0], flor_table_text(all, 0, 5));
    } else {
        flor_table_free(all);
        all = NULL;
        if (flor_project_statements(d->p, NULL, 0, &all) != 0)
            return cli_error("%s", flor_errmsg());
    }
    int rc = CLI_OK;
    for (int i = 0; i < a->nnames && rc == CLI_OK; i++) {
        bool found = false;
        for (size_t r = 0; r < flor_table_nrows(all) && !found; r++) {
            const char *name = flor_table_text(all, r, 2);
            found = name && strcmp(name, a->names[i]) == 0;
        }
        if (found)
            continue;
        if (flor_table_nrows(all) == 0) {
            rc = cli_error("no logging statement was added to the working tree since the latest "
                           "recorded version, and no older version lacks one that a newer run "
                           "recorded, so there is nothing to replay for '%s' (add "
                           "flor_log(\"%s\", ...) or flor.log(\"%s\", ...) where it belongs)",
                           a->names[i], a->names[i], a->names[i]);
            break;
        }
        fprintf(stderr, "flor: no statement logging '%s' was added since the latest recorded "
                        "version; the added ones log:",
                a->names[i]);
        for (size_t r = 0; r < flor_table_nrows(all); r++) {
            const char *name = flor_table_text(all, r, 2);
            fprintf(stderr, "%s %s", r ? "," : "", name ? name : "(a name that is not a literal)");
        }
        fputc('\n', stderr);
        rc = CLI_ERROR;
    }
    for (size_t r = 0; rc == CLI_OK && r < flor_table_nrows(all); r++) {
        const char *name = flor_table_text(all, r, 2), *loops = flor_table_text(all, r, 3);
        if (!name || !is_named(a, name))
            continue;
        fprintf(stderr, "flor: statement %s:%lld logs '%s'%s%s: %s\n",
                flor_table_text(all, r, 0), (long long)flor_table_int(all, r, 1), name,
                loops ? " in loop " : " outside the loops", loops ? loops : "",
                flor_table_text(all, r, 4));
    }
    flor_table_free(all);
    return rc;
}

/* ---- 2. the runs --------------------------------------------------------------------- */

/* The program whose runs are replayed: COMMAND's, else the newest run's. */
static char *program(driver *d)
{
    if (d->a->ncmd)
        return strdup(replay_program_name(d->a->cmd, d->a->ncmd));
    flor_table *t = NULL;
    char *prog = NULL;
    if (flor_project_query(d->p, "SELECT filename FROM runs ORDER BY run_id DESC LIMIT 1", &t) !=
        0)
        cli_error("%s", flor_errmsg());
    else if (flor_table_nrows(t) == 0)
        cli_error("project '%s' has no runs to replay", flor_project_id(d->p));
    else if (!(prog = strdup(flor_table_text(t, 0, 0))))
        cli_error("out of memory");
    flor_table_free(t);
    return prog;
}

/* The selection: runs' columns and, as columns named after them, the args
 * (an arg whose name is a column of runs is left to the runs column). */
static char *selection_sql(driver *d, const char *prog)
{
    flor_table *names = NULL;
    if (flor_project_query(d->p, "SELECT DISTINCT name FROM args WHERE name NOT IN ('run_id',"
                                 " 'run', 'projid', 'tstamp', 'filename', 'vid', 'argv', 'host',"
                                 " 'pid', 'status', 'start_time', 'end_time') ORDER BY name",
                           &names) != 0) {
        cli_error("%s", flor_errmsg());
        return NULL;
    }
    char *sql = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&sql, &len);
    char *qprog = cli_sql_quote(prog);
    if (!m || !qprog) {
        if (m)
            fclose(m);
        free(sql);
        free(qprog);
        flor_table_free(names);
        cli_error("out of memory");
        return NULL;
    }
    fputs("WITH sel AS (SELECT r.*, r.run_id AS run", m);
    for (size_t i = 0; i < flor_table_nrows(names); i++) {
        const char *n = flor_table_text(names, i, 0);
        char *q = cli_sql_quote(n);
        fprintf(m, ", (SELECT value FROM args a WHERE a.run_id = r.run_id AND a.name = %s) AS \"",
                q ? q : "''");
        for (const char *c = n; *c; c++)
            fprintf(m, *c == '"' ? "\"\"" : "%c", *c);
        fputc('"', m);
        free(q);
    }
    /* the fourth column: whether the run has a value of every NAME already */
    fputs(" FROM runs r) SELECT run_id, vid, json_extract(argv, '$[0]'), (SELECT count(DISTINCT"
          " name) FROM logs l WHERE l.run_id = sel.run_id AND l.name IN (", m);
    for (int i = 0; i < d->a->nnames; i++) {
        char *q = cli_sql_quote(d->a->names[i]);
        fprintf(m, "%s%s", i ? ", " : "", q ? q : "NULL");
        free(q);
    }
    fprintf(m, ")) = %d FROM sel WHERE filename = %s AND status != 'running'", d->a->nnames,
            qprog);
    if (d->a->where)
        fprintf(m, " AND (%s\n)", d->a->where);
    fputs(" ORDER BY run_id", m);
    fclose(m);
    free(qprog);
    flor_table_free(names);
    return sql;
}

static int select_runs(driver *d)
{
    char *prog = program(d);
    if (!prog)
        return CLI_ERROR;
    char *sql = selection_sql(d, prog);
    flor_table *t = NULL;
    int rc = CLI_OK;
    if (!sql) {
        rc = CLI_ERROR;
    } else if (flor_project_query(d->p, sql, &t) != 0) {
        rc = d->a->where ? cli_error("--where '%s': %s", d->a->where, flor_errmsg())
                         : cli_error("%s", flor_errmsg());
    } else if (flor_table_nrows(t) == 0) {
        rc = d->a->where ? cli_error("no finished run of '%s' matches --where '%s'", prog,
                                     d->a->where)
                         : cli_error("no run of '%s' to replay", prog);
    }
    size_t n = rc == CLI_OK ? flor_table_nrows(t) : 0;
    d->t = n ? calloc(n, sizeof *d->t) : NULL;
    d->v = n ? calloc(n, sizeof *d->v) : NULL;
    if (n && (!d->t || !d->v))
        rc = cli_error("out of memory");
    for (size_t r = 0; rc == CLI_OK && r < n; r++) {
        target *tg = &d->t[d->nt++];
        tg->run = flor_table_int(t, r, 0);
        const char *vid = flor_table_text(t, r, 1), *argv0 = flor_table_text(t, r, 2);
        tg->argv0 = strdup(argv0 ? argv0 : "");
        if (flor_table_int(t, r, 3) && !d->a->force) {
            tg->v = -1;
            snprintf(tg->vid, sizeof tg->vid, "%.12s", vid ? vid : "");
            fprintf(stderr, "flor: run %lld already has %s%s: skipped (--force replays it "
                            "again)\n",
                    (long long)tg->run, d->a->nnames == 1 ? "" : "every one of ",
                    d->a->names[0]);
            continue;
        }
        int k = 0;
        while (k < d->nv && !(vid ? d->v[k].vid && strcmp(d->v[k].vid, vid) == 0 : !d->v[k].vid))
            k++;
        if (k == d->nv) {
            d->v[k].vid = vid ? strdup(vid) : NULL;
            d->v[k].first_run = tg->run;
            d->nv++;
            if (vid && !d->v[k].vid)
                rc = cli_error("out of memory");
        }
        tg->v = k;
    }
    flor_table_free(t);
    free(sql);
    free(prog);
    return rc;
}

/* ---- 3. each version's code, with the statements carried in -------------------------- */

static void add_probe(version *v, const char *loop)
{
    for (int i = 0; i < v->nprobes; i++)
        if (strcmp(v->probes[i], loop) == 0)
            return;
    const char **p = realloc(v->probes, (size_t)(v->nprobes + 1) * sizeof *p);
    char *copy = strdup(loop);
    if (!p || !copy) {
        free(copy);
        if (p)
            v->probes = p;
        return;
    }
    v->probes = p;
    v->probes[v->nprobes++] = copy;
}

/* The loops to probe for a statement in loops "epoch/step/...": all but the
 * outermost (the checkpointed loop, which always runs). */
static void probes_for(version *v, const char *loops)
{
    const char *slash = loops ? strchr(loops, '/') : NULL;
    while (slash) {
        const char *next = strchr(slash + 1, '/');
        size_t n = next ? (size_t)(next - slash - 1) : strlen(slash + 1);
        char *name = cli_printf("%.*s", (int)n, slash + 1);
        if (name)
            add_probe(v, name);
        free(name);
        slash = next;
    }
}

static int write_version(driver *d, int k)
{
    version *v = &d->v[k];
    if (!v->vid) {
        v->status = "no code version";
        v->detail = strdup("the run was recorded outside git, or its snapshot failed");
        return CLI_OK;
    }
    v->dir = cli_printf("%s/code-%.12s", d->work, v->vid);
    v->cwd = cli_printf("%s%s%s", v->dir ? v->dir : "", *d->rel ? "/" : "", d->rel);
    if (!v->dir || !v->cwd)
        return cli_error("out of memory");
    flor_table *t = NULL;
    int e = flor_project_carry(d->p, v->first_run, v->dir, d->a->names, (size_t)d->a->nnames, &t);
    if (e != 0) {
        v->status = e == FLOR_ENOTFOUND ? "missing version" : "failed";
        v->detail = strdup(flor_errmsg());
        return CLI_OK;
    }
    char *conflicts = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&conflicts, &len);
    for (size_t r = 0; m && r < flor_table_nrows(t); r++) {
        const char *file = flor_table_text(t, r, 0), *name = flor_table_text(t, r, 2);
        long long line = (long long)flor_table_int(t, r, 1);
        bool helper = strcmp(flor_table_text(t, r, 7), "helper") == 0;
        if (helper && strcmp(flor_table_text(t, r, 3), "conflict") == 0) {
            fprintf(m, "%s%s:%lld (what the statements need)", ftell(m) > 0 ? "; " : "", file,
                    line);
            fprintf(stderr, "flor: version %.12s (run %lld): the lines %s:%lld, which the "
                            "statements need, cannot be carried: %s\n",
                    v->vid, (long long)v->first_run, file, line, flor_table_text(t, r, 6));
        } else if (helper) {
            fprintf(stderr, "flor: version %.12s (run %lld): the lines %s:%lld, which the "
                            "statements need, carried to line %lld\n",
                    v->vid, (long long)v->first_run, file, line,
                    (long long)flor_table_int(t, r, 4));
        } else if (strcmp(flor_table_text(t, r, 3), "conflict") == 0) {
            fprintf(m, "%s%s:%lld %s", ftell(m) > 0 ? "; " : "", file, line, name);
            fprintf(stderr, "flor: version %.12s (run %lld): %s:%lld '%s' cannot be carried: %s\n",
                    v->vid, (long long)v->first_run, file, line, name,
                    flor_table_text(t, r, 6));
        } else {
            const char *loops = flor_table_text(t, r, 5);
            probes_for(v, loops);
            fprintf(stderr, "flor: version %.12s (run %lld): %s:%lld '%s' carried to line %lld%s%s\n",
                    v->vid, (long long)v->first_run, file, line, name,
                    (long long)flor_table_int(t, r, 4), loops ? ", in loop " : "",
                    loops ? loops : "");
        }
    }
    if (m)
        fclose(m);
    flor_table_free(t);
    if (conflicts && *conflicts) {
        v->status = "conflict";
        v->detail = conflicts;
    } else {
        free(conflicts);
    }
    return CLI_OK;
}

/* ---- 4. builds ----------------------------------------------------------------------- */

static int build_versions(driver *d, int *sig)
{
    int n = 0;
    replay_job *jobs = calloc((size_t)d->nv, sizeof *jobs);
    int *of = calloc((size_t)d->nv, sizeof *of);
    if (!jobs || !of) {
        free(jobs);
        free(of);
        return cli_error("out of memory");
    }
    static char sh[] = "/bin/sh", dash_c[] = "-c";
    for (int k = 0; k < d->nv; k++) {
        version *v = &d->v[k];
        if (v->status)
            continue;
        replay_job *j = &jobs[n];
        j->argv = calloc(4, sizeof *j->argv);
        j->label = cli_printf("build of %.12s", v->vid);
        j->out_path = cli_printf("%s/build-%.12s.out", d->work, v->vid);
        j->err_path = cli_printf("%s/build-%.12s.err", d->work, v->vid);
        j->cwd = v->cwd;
        if (!j->argv || !j->label || !j->out_path || !j->err_path) {
            replay_job_release(j);
            free(jobs);
            free(of);
            return cli_error("out of memory");
        }
        j->argv[0] = sh;
        j->argv[1] = dash_c;
        j->argv[2] = (char *)d->a->build;
        of[n++] = k;
    }
    int rc = CLI_OK;
    if (n > 0) {
        fprintf(stderr, "flor: building %d version%s: %s\n", n, n == 1 ? "" : "s", d->a->build);
        *sig = replay_pool_run(jobs, n, (int)d->a->jobs, "builds");
        if (*sig < 0)
            rc = CLI_ERROR;
    }
    for (int i = 0; i < n; i++) {
        replay_job *j = &jobs[i];
        version *v = &d->v[of[i]];
        bool ok = j->state == JOB_DONE && !j->spawn_errno && WIFEXITED(j->wstatus) &&
                  WEXITSTATUS(j->wstatus) == 0;
        if (ok || *sig) {
            unlink(j->out_path);
            unlink(j->err_path);
        } else {
            char why[160];
            v->status = "build failed";
            v->detail = strdup(replay_describe(j, why, sizeof why));
            cli_error("the build of version %.12s (run %lld) failed: %s", v->vid,
                      (long long)v->first_run, why);
            replay_print_tail(j);
        }
        replay_job_release(j);
    }
    free(jobs);
    free(of);
    return rc;
}

/* ---- 5. the segments ------------------------------------------------------------------ */

/* PATH, or its place in version V's directory when PATH is inside the
 * project's root: the version's copy of a file, not the working tree's. */
static char *in_version(const driver *d, const version *v, const char *path)
{
    const char *root = flor_project_root(d->p);
    size_t rl = strlen(root);
    if (strncmp(path, root, rl) == 0 && path[rl] == '/')
        return cli_printf("%s%s", v->dir, path + rl);
    return strdup(path);
}

/* What runs target T, NULL-terminated, its strings malloc'd: COMMAND, else
 * its recorded program (a Python script through FLOR_PYTHON, default
 * python3), with paths into the project moved into its version's code. */
static char **command_of(driver *d, target *t)
{
    const replay_args *a = d->a;
    const version *v = &d->v[t->v];
    int n = a->ncmd ? a->ncmd : 2;
    char **cmd = calloc((size_t)n + 1, sizeof *cmd);
    if (!cmd)
        return NULL;
    bool ok = true;
    if (a->ncmd) {
        for (int i = 0; ok && i < a->ncmd; i++)
            ok = (cmd[i] = in_version(d, v, a->cmd[i])) != NULL;
    } else {
        size_t len = strlen(t->argv0);
        bool py = len > 3 && strcmp(t->argv0 + len - 3, ".py") == 0;
        const char *python = getenv("FLOR_PYTHON");
        if (py)
            ok = (cmd[0] = strdup(python && *python ? python : "python3")) != NULL;
        ok = ok && (cmd[py] = in_version(d, v, t->argv0)) != NULL;
    }
    if (!ok) {
        for (int i = 0; i < n; i++)
            free(cmd[i]);
        free(cmd);
        return NULL;
    }
    return cmd;
}

static void free_command(char **cmd)
{
    for (char **c = cmd; c && *c; c++)
        free(*c);
    free(cmd);
}

static int make_segments(driver *d)
{
    long runs = 0;
    for (int i = 0; i < d->nt; i++)
        runs += d->t[i].v >= 0 && d->v[d->t[i].v].status == NULL;
    if (runs == 0)
        return CLI_OK;
    d->nseg = d->a->segments ? d->a->segments : (d->a->jobs + runs - 1) / runs;
    d->jobs = calloc((size_t)(runs * d->nseg), sizeof *d->jobs);
    if (!d->jobs)
        return cli_error("out of memory");
    for (int i = 0; i < d->nt; i++) {
        target *t = &d->t[i];
        if (t->v < 0)
            continue;
        version *v = &d->v[t->v];
        if (v->status)
            continue;
        replay_args sa = *d->a;
        if (!(t->cmd = command_of(d, t)))
            return cli_error("out of memory");
        sa.cmd = t->cmd;
        for (sa.ncmd = 0; t->cmd[sa.ncmd];)
            sa.ncmd++;
        const char **probes = malloc((size_t)(d->a->nprobes + v->nprobes + 1) * sizeof *probes);
        if (!probes)
            return cli_error("out of memory");
        sa.nprobes = 0;
        for (int k = 0; k < d->a->nprobes; k++)
            probes[sa.nprobes++] = d->a->probes[k];
        for (int k = 0; k < v->nprobes; k++)
            probes[sa.nprobes++] = v->probes[k];
        sa.probes = probes;
        t->first = d->njobs;
        t->njobs = d->nseg;
        for (long s = 0; s < d->nseg; s++) {
            replay_job *j = &d->jobs[d->njobs++];
            j->argv = replay_segment_argv(&sa, t->run, s, d->nseg);
            j->label = cli_printf("run %lld segment %ld/%ld", (long long)t->run, s, d->nseg);
            j->out_path = cli_printf("%s/run-%lld-%ld.out", d->work, (long long)t->run, s);
            j->err_path = cli_printf("%s/run-%lld-%ld.err", d->work, (long long)t->run, s);
            j->cwd = v->cwd;
            j->env = d->env;
            if (!j->argv || !j->label || !j->out_path || !j->err_path) {
                free(probes);
                return cli_error("out of memory");
            }
        }
        free(probes);
    }
    return CLI_OK;
}

/* ---- 6. the summary --------------------------------------------------------------------- */

typedef struct tally {
    const char *status;
    double seconds;
    long long values, divergences;
    long failed_job; /* a job to show the log of, or -1 */
} tally;

/* Sums up target T's segments from the replays rows R (replay_id, pid,
 * run_id, segment, status, new_values, divergences). */
static void sum_up(const driver *d, const target *t, const flor_table *r, tally *out)
{
    double t0 = 0, t1 = 0;
    out->failed_job = -1;
    out->status = "finished";
    for (long s = 0; s < t->njobs; s++) {
        const replay_job *j = &d->jobs[t->first + s];
        if (j->state == JOB_CANCELLED) {
            out->status = "cancelled";
            continue;
        }
        if (s == 0 || j->t0 < t0)
            t0 = j->t0;
        if (j->t1 > t1)
            t1 = j->t1;
        long row = -1;
        for (size_t k = 0; k < flor_table_nrows(r) && row < 0; k++)
            if (flor_table_int(r, k, 2) == t->run && flor_table_int(r, k, 3) == s &&
                flor_table_int(r, k, 1) == j->pid)
                row = (long)k;
        for (size_t k = flor_table_nrows(r); k-- > 0 && row < 0;)
            if (flor_table_int(r, k, 2) == t->run && flor_table_int(r, k, 3) == s)
                row = (long)k;
        bool exited_ok = !j->spawn_errno && WIFEXITED(j->wstatus) && WEXITSTATUS(j->wstatus) == 0;
        const char *st = row >= 0 ? flor_table_text(r, (size_t)row, 4) : NULL;
        if (row >= 0) {
            out->values += flor_table_int(r, (size_t)row, 5);
            out->divergences += flor_table_int(r, (size_t)row, 6);
        }
        if (exited_ok && st && strcmp(st, "finished") == 0)
            continue;
        bool killed = (!j->spawn_errno && WIFSIGNALED(j->wstatus)) || (st && strcmp(st, "killed") == 0);
        if (strcmp(out->status, "failed") != 0)
            out->status = killed ? "killed" : "failed";
        if (out->failed_job < 0)
            out->failed_job = t->first + s;
    }
    out->seconds = t1 > t0 ? t1 - t0 : 0;
}

static int summarize(driver *d, bool *all_ok)
{
    flor_table *r = NULL;
    char *sql = cli_printf("SELECT replay_id, pid, run_id, segment, status, new_values,"
                           " divergences FROM replays WHERE replay_id > %lld ORDER BY replay_id",
                           (long long)d->base);
    if (!sql || flor_project_query(d->p, sql, &r) != 0) {
        free(sql);
        return cli_error("%s", sql ? flor_errmsg() : "out of memory");
    }
    free(sql);
    char *out = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&out, &len);
    if (!m) {
        flor_table_free(r);
        return cli_error("out of memory");
    }
    fputs("WITH s(run, vid, status, seconds, new_values, divergences, conflicts) AS (VALUES", m);
    long long values = 0, divergences = 0;
    int finished = 0, skipped = 0;
    *all_ok = true;
    for (int i = 0; i < d->nt; i++) {
        const target *t = &d->t[i];
        if (t->v < 0) {
            fprintf(m, "%s(%lld, %s%s%s, 'skipped', NULL, NULL, NULL, NULL)", i ? ", " : " ",
                    (long long)t->run, *t->vid ? "'" : "", *t->vid ? t->vid : "NULL",
                    *t->vid ? "'" : "");
            skipped++;
            continue;
        }
        const version *v = &d->v[t->v];
        tally y = {.failed_job = -1};
        if (v->status) {
            y.status = v->status;
        } else {
            sum_up(d, t, r, &y);
            values += y.values;
            divergences += y.divergences;
        }
        finished += strcmp(y.status, "finished") == 0;
        *all_ok &= strcmp(y.status, "finished") == 0;
        char *status = cli_sql_quote(y.status);
        char *conflicts = v->status && strcmp(v->status, "conflict") == 0 && v->detail
                              ? cli_sql_quote(v->detail)
                              : NULL;
        fprintf(m, "%s(%lld, ", i ? ", " : " ", (long long)t->run);
        if (v->vid)
            fprintf(m, "'%.12s', ", v->vid);
        else
            fputs("NULL, ", m);
        fprintf(m, "%s, ", status ? status : "'?'");
        if (v->status)
            fputs("NULL, NULL, NULL, ", m);
        else
            fprintf(m, "%.3f, %lld, %lld, ", y.seconds, y.values, y.divergences);
        fprintf(m, "%s)", conflicts ? conflicts : "NULL");
        free(status);
        free(conflicts);
        if (y.failed_job >= 0) {
            char why[160];
            replay_describe(&d->jobs[y.failed_job], why, sizeof why);
            cli_error("run %lld: %s %s", (long long)t->run, d->jobs[y.failed_job].label, why);
            replay_print_tail(&d->jobs[y.failed_job]);
        } else if (v->status && strcmp(v->status, "conflict") != 0 &&
                   strcmp(v->status, "build failed") != 0) {
            cli_error("run %lld is not replayed (%s): %s", (long long)t->run, v->status,
                      v->detail ? v->detail : "");
        }
    }
    fputs(") SELECT * FROM s", m);
    fclose(m);
    flor_table_free(r);
    flor_table *sum = NULL;
    int rc = flor_project_query(d->p, out, &sum) != 0 ? cli_error("%s", flor_errmsg())
                                                      : cli_print_table(sum, d->opts);
    fflush(stdout);
    flor_table_free(sum);
    free(out);
    fprintf(stderr, "flor: replayed %d of %d run%s: %lld new values, %lld divergences", finished,
            d->nt, d->nt == 1 ? "" : "s", values, divergences);
    if (skipped)
        fprintf(stderr, "; %d skipped, as %s already logged there", skipped,
                d->a->nnames == 1 ? "the value was" : "the values were");
    fputc('\n', stderr);
    return rc;
}

/* ---- the work area ---------------------------------------------------------------------- */

static void remove_tree(const char *dir)
{
    replay_remove_tree(dir);
}

/* The working directory relative to the project root ("" at the root). */
static char *relative_cwd(const flor_project *p)
{
    char cwd[4096], root[4096];
    if (!getcwd(cwd, sizeof cwd) || !realpath(flor_project_root(p), root))
        return strdup("");
    size_t n = strlen(root);
    if (strncmp(cwd, root, n) == 0 && cwd[n] == '/')
        return strdup(cwd + n + 1);
    return strdup("");
}

static void release(driver *d)
{
    for (int k = 0; k < d->nv; k++) {
        version *v = &d->v[k];
        remove_tree(v->dir);
        free((char *)v->vid);
        free(v->dir);
        free(v->cwd);
        free(v->detail);
        for (int i = 0; i < v->nprobes; i++)
            free((char *)v->probes[i]);
        free(v->probes);
    }
    for (int i = 0; i < d->nt; i++) {
        free(d->t[i].argv0);
        free_command(d->t[i].cmd);
    }
    for (long i = 0; i < d->njobs; i++) {
        replay_job *j = &d->jobs[i];
        bool keep = j->state == JOB_DONE &&
                    (j->spawn_errno || !WIFEXITED(j->wstatus) || WEXITSTATUS(j->wstatus) != 0);
        if (!keep) {
            unlink(j->out_path);
            unlink(j->err_path);
        }
        replay_job_release(j);
    }
    if (d->work) {
        replay_work_done(d->work, d->interrupted); /* interrupted: the logs go too */
        if (!d->interrupted && access(d->work, F_OK) == 0)
            fprintf(stderr, "flor: the logs of what failed are kept in %s\n", d->work);
    }
    free(d->jobs);
    free(d->v);
    free(d->t);
    free(d->work);
    free(d->rel);
    free(d->flor_dir);
}

int replay_versions(flor_project *p, const replay_args *a, const cli_opts *opts)
{
    driver d = {.p = p, .a = a, .opts = opts};
    int rc = find_statements(&d);
    if (rc == CLI_OK)
        rc = select_runs(&d);
    if (rc == CLI_OK)
        rc = cli_query_int(p, "SELECT coalesce(max(replay_id), 0) FROM replays", &d.base);
    if (rc == CLI_OK) {
        d.rel = relative_cwd(p);
        d.flor_dir = cli_printf("FLOR_DIR=%s", flor_project_dir(p));
        d.env[0] = d.flor_dir;
        if (!d.rel || !d.flor_dir)
            rc = cli_error("out of memory");
        else if (!(d.work = replay_work_dir()))
            rc = cli_error("cannot create a work area: %s", strerror(errno));
    }
    /* Ctrl-C while the code is written out: stop, and clean up. */
    struct sigaction sa, old[3];
    static const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    stop_signal = 0;
    for (int i = 0; i < 3; i++)
        sigaction(sigs[i], &sa, &old[i]);
    for (int k = 0; rc == CLI_OK && k < d.nv && !stop_signal; k++)
        rc = write_version(&d, k);
    int sig = stop_signal;
    for (int i = 0; i < 3; i++)
        sigaction(sigs[i], &old[i], NULL);
    if (rc == CLI_OK && !sig && a->build)
        rc = build_versions(&d, &sig);
    if (rc == CLI_OK && !sig)
        rc = make_segments(&d);
    if (rc == CLI_OK && !sig && d.njobs > 0) {
        fprintf(stderr, "flor: replaying %d run%s in %ld segment%s each, %ld at a time\n",
                (int)(d.njobs / d.nseg), d.njobs / d.nseg == 1 ? "" : "s", d.nseg,
                d.nseg == 1 ? "" : "s", a->jobs);
        sig = replay_pool_run(d.jobs, (int)d.njobs, (int)a->jobs, "segments");
        if (sig < 0)
            rc = CLI_ERROR;
    }
    bool all_ok = false;
    if (rc == CLI_OK && sig <= 0)
        rc = summarize(&d, &all_ok);
    if (rc == CLI_OK && !all_ok)
        rc = CLI_ERROR;
    d.interrupted = sig > 0;
    release(&d);
    if (sig > 0) { /* end as the signal would have ended flor */
        fflush(stdout);
        signal(sig, SIG_DFL);
        raise(sig);
    }
    return rc;
}
