/*
 * versions.c -- a replay with NAME...: hindsight logging across code
 * versions.  Steps 1 to 4 of versions.h (the statements, the runs, each
 * version's code with the statements carried in, the builds) and
 * flor__versions_run, which goes through all six.
 */
#include "replay/versions.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_signal;
static void on_stop(int sig) { stop_signal = sig; }

static bool is_named(const flor__launch_args *a, const char *name)
{
    for (int i = 0; i < a->nnames; i++)
        if (strcmp(a->names[i], name) == 0)
            return true;
    return false;
}

/* ---- 1. the statements ------------------------------------------------------------- */

/* The error for a NAME that no statement logs: the names that are logged. */
static int not_logged(const flor_table *all, const char *name)
{
    if (flor_table_nrows(all) == 0)
        return flor__err(FLOR_ENOTFOUND,
                         "no logging statement was added to the working tree since the latest "
                         "recorded version, and no older version lacks one that a newer run "
                         "recorded, so there is nothing to replay for '%s' (add "
                         "flor_log(\"%s\", ...) or flor.log(\"%s\", ...) where it belongs)",
                         name, name, name);
    flor__buf b = {0};
    int rc = 0;
    for (size_t r = 0; !rc && r < flor_table_nrows(all); r++) {
        const char *logged = flor_table_text(all, r, 2);
        rc = flor__buf_printf(&b, "%s %s", r ? "," : "",
                              logged ? logged : "(a name that is not a literal)");
    }
    rc = rc ? flor__err(FLOR_ENOMEM, "out of memory")
            : flor__err(FLOR_ENOTFOUND, "no statement logging '%s' was added since the latest "
                                        "recorded version; the added ones log:%s",
                        name, b.p);
    flor__buf_release(&b);
    return rc;
}

static int find_statements(flor_replay *r)
{
    const flor__launch_args *a = &r->a;
    flor_table *all = NULL;
    int rc = flor_project_statements(r->p, a->names, (size_t)a->nnames, &all);
    if (rc)
        return rc;
    if (flor_table_nrows(all) > 0 && flor_table_text(all, 0, 5)) {
        flor__launch_say(r, "no statement logging %s was added since the latest recorded "
                            "version; back-filling from version %.12s, the newest that records "
                            "it",
                         a->names[0], flor_table_text(all, 0, 5));
    } else {
        flor_table_free(all);
        all = NULL;
        if ((rc = flor_project_statements(r->p, NULL, 0, &all)) != 0)
            return rc;
    }
    for (int i = 0; i < a->nnames && !rc; i++) {
        bool found = false;
        for (size_t k = 0; k < flor_table_nrows(all) && !found; k++) {
            const char *name = flor_table_text(all, k, 2);
            found = name && strcmp(name, a->names[i]) == 0;
        }
        if (!found)
            rc = not_logged(all, a->names[i]);
    }
    for (size_t k = 0; !rc && k < flor_table_nrows(all); k++) {
        const char *name = flor_table_text(all, k, 2), *loops = flor_table_text(all, k, 3);
        if (!name || !is_named(a, name))
            continue;
        flor__launch_say(r, "statement %s:%lld logs '%s'%s%s: %s", flor_table_text(all, k, 0),
                         (long long)flor_table_int(all, k, 1), name,
                         loops ? " in loop " : " outside the loops", loops ? loops : "",
                         flor_table_text(all, k, 4));
    }
    flor_table_free(all);
    return rc;
}

/* ---- 2. the runs --------------------------------------------------------------------- */

/* The program whose runs are replayed: COMMAND's, else the newest run's. */
static int program(flor_replay *r, char **prog)
{
    *prog = NULL;
    if (r->a.ncmd) {
        *prog = flor__strdup(flor__program_name(r->a.cmd, r->a.ncmd));
        return *prog ? 0 : flor__err(FLOR_ENOMEM, "out of memory");
    }
    int rc = flor__runs_newest_filename(r->p->db, prog);
    if (!rc && !*prog)
        rc = flor__err(FLOR_ENOTFOUND, "project '%s' has no runs to replay",
                       flor_project_id(r->p));
    return rc;
}

/* The version of vid VID (NULL: none) in the list, added when new. */
static int version_of(flor__versions *d, const char *vid, int64_t run, int *k)
{
    for (*k = 0; *k < d->nv; ++*k) {
        const char *have = d->v[*k].vid;
        if (vid ? have && strcmp(have, vid) == 0 : !have)
            return 0;
    }
    flor__version *v = &d->v[d->nv++];
    v->vid = vid ? flor__strdup(vid) : NULL;
    v->first_run = run;
    return vid && !v->vid ? flor__err(FLOR_ENOMEM, "out of memory") : 0;
}

static int take_runs(flor_replay *r, const flor_table *t)
{
    flor__versions *d = r->v;
    const flor__launch_args *a = &r->a;
    size_t n = flor_table_nrows(t);
    d->t = calloc(n, sizeof *d->t);
    d->v = calloc(n, sizeof *d->v);
    if (!d->t || !d->v)
        return flor__err(FLOR_ENOMEM, "out of memory");
    int rc = 0;
    for (size_t row = 0; !rc && row < n; row++) {
        flor__target *tg = &d->t[d->nt++];
        tg->run = flor_table_int(t, row, 0);
        const char *vid = flor_table_text(t, row, 1), *argv0 = flor_table_text(t, row, 2);
        const char *launcher = flor_table_text(t, row, 5), *tstamp = flor_table_text(t, row, 6);
        tg->world = flor_table_int(t, row, 4);
        if (!(tg->argv0 = flor__strdup(argv0 ? argv0 : "")) ||
            (launcher && !(tg->launcher = flor__strdup(launcher))) ||
            (tstamp && !(tg->tstamp = flor__strdup(tstamp))))
            return flor__err(FLOR_ENOMEM, "out of memory");
        if (flor_table_int(t, row, 3) && !a->force) {
            tg->v = -1;
            snprintf(tg->vid, sizeof tg->vid, "%.12s", vid ? vid : "");
            flor__launch_say(r, "run %lld already has %s%s: skipped (--force replays it again)",
                             (long long)tg->run, a->nnames == 1 ? "" : "every one of ",
                             a->names[0]);
            continue;
        }
        rc = version_of(d, vid, tg->run, &tg->v);
    }
    return rc;
}

static int select_runs(flor_replay *r)
{
    const flor__launch_args *a = &r->a;
    char *prog = NULL, *sql = NULL;
    flor_table *t = NULL;
    int rc = program(r, &prog);
    if (!rc)
        rc = flor__runs_replay_selection(r->p->db, prog, a->names, (size_t)a->nnames, a->where,
                                         &sql);
    if (!rc && (rc = flor_project_query(r->p, sql, &t)) != 0 && a->where)
        flor__err_wrap(rc, "--where '%s'", a->where);
    if (!rc && flor_table_nrows(t) == 0)
        rc = a->where ? flor__err(FLOR_ENOTFOUND, "no finished run of '%s' matches --where '%s'",
                                  prog, a->where)
                      : flor__err(FLOR_ENOTFOUND, "no run of '%s' to replay", prog);
    if (!rc)
        rc = take_runs(r, t);
    flor_table_free(t);
    free(sql);
    free(prog);
    return rc;
}

/* ---- 3. each version's code, with the statements carried in -------------------------- */

static void add_probe(flor__version *v, const char *loop)
{
    for (int i = 0; i < v->nprobes; i++)
        if (strcmp(v->probes[i], loop) == 0)
            return;
    const char **p = realloc(v->probes, (size_t)(v->nprobes + 1) * sizeof *p);
    char *copy = flor__strdup(loop);
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
static void probes_for(flor__version *v, const char *loops)
{
    const char *slash = loops ? strchr(loops, '/') : NULL;
    while (slash) {
        const char *next = strchr(slash + 1, '/');
        size_t n = next ? (size_t)(next - slash - 1) : strlen(slash + 1);
        char *name = flor__printf("%.*s", (int)n, slash + 1);
        if (name)
            add_probe(v, name);
        free(name);
        slash = next;
    }
}

/* Row ROW of flor_project_carry's table T: said, and added to the
 * conflicts in M when it is one. */
static void carried(const flor_replay *r, flor__version *v, const flor_table *t, size_t row,
                    FILE *m)
{
    const char *file = flor_table_text(t, row, 0), *name = flor_table_text(t, row, 2);
    long long line = (long long)flor_table_int(t, row, 1);
    long long run = (long long)v->first_run;
    bool helper = strcmp(flor_table_text(t, row, 7), "helper") == 0;
    bool conflict = strcmp(flor_table_text(t, row, 3), "conflict") == 0;
    if (helper && conflict) {
        fprintf(m, "%s%s:%lld (what the statements need)", ftell(m) > 0 ? "; " : "", file, line);
        flor__launch_say(r, "version %.12s (run %lld): the lines %s:%lld, which the statements "
                            "need, cannot be carried: %s",
                         v->vid, run, file, line, flor_table_text(t, row, 6));
    } else if (helper) {
        flor__launch_say(r, "version %.12s (run %lld): the lines %s:%lld, which the statements "
                            "need, carried to line %lld",
                         v->vid, run, file, line, (long long)flor_table_int(t, row, 4));
    } else if (conflict) {
        fprintf(m, "%s%s:%lld %s", ftell(m) > 0 ? "; " : "", file, line, name);
        flor__launch_say(r, "version %.12s (run %lld): %s:%lld '%s' cannot be carried: %s",
                         v->vid, run, file, line, name, flor_table_text(t, row, 6));
    } else {
        const char *loops = flor_table_text(t, row, 5);
        probes_for(v, loops);
        flor__launch_say(r, "version %.12s (run %lld): %s:%lld '%s' carried to line %lld%s%s",
                         v->vid, run, file, line, name, (long long)flor_table_int(t, row, 4),
                         loops ? ", in loop " : "", loops ? loops : "");
    }
}

static int write_version(flor_replay *r, int k)
{
    flor__versions *d = r->v;
    flor__version *v = &d->v[k];
    if (!v->vid) {
        v->status = "no code version";
        v->detail = flor__strdup("the run was recorded outside git, or its snapshot failed");
        return 0;
    }
    v->dir = flor__printf("%s/code-%.12s", d->work, v->vid);
    v->cwd = flor__printf("%s%s%s", v->dir ? v->dir : "", *d->rel ? "/" : "", d->rel);
    if (!v->dir || !v->cwd)
        return flor__err(FLOR_ENOMEM, "out of memory");
    flor_table *t = NULL;
    int e = flor_project_carry(r->p, v->first_run, v->dir, r->a.names, (size_t)r->a.nnames, &t);
    if (e != 0) {
        v->status = e == FLOR_ENOTFOUND ? "missing version" : "failed";
        v->detail = flor__strdup(flor_errmsg());
        return 0;
    }
    char *conflicts = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&conflicts, &len);
    for (size_t row = 0; m && row < flor_table_nrows(t); row++)
        carried(r, v, t, row, m);
    if (m)
        fclose(m);
    flor_table_free(t);
    if (conflicts && *conflicts) {
        v->status = "conflict";
        v->detail = conflicts;
    } else {
        free(conflicts);
    }
    return 0;
}

/* Writes every version's code; a signal stops it (*SIG), to clean up. */
static int write_versions(flor_replay *r, int *sig)
{
    struct sigaction sa, old[3];
    static const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    stop_signal = 0;
    for (int i = 0; i < 3; i++)
        sigaction(sigs[i], &sa, &old[i]);
    int rc = 0;
    for (int k = 0; !rc && k < r->v->nv && !stop_signal; k++)
        rc = write_version(r, k);
    *sig = stop_signal;
    for (int i = 0; i < 3; i++)
        sigaction(sigs[i], &old[i], NULL);
    return rc;
}

/* ---- 4. builds ----------------------------------------------------------------------- */

/* The build job of version V. */
static int build_job(const flor_replay *r, const flor__version *v, flor__job *j)
{
    static char sh[] = "/bin/sh", dash_c[] = "-c";
    j->argv = calloc(4, sizeof *j->argv);
    j->label = flor__printf("build of %.12s", v->vid);
    j->out_path = flor__printf("%s/build-%.12s.out", r->v->work, v->vid);
    j->err_path = flor__printf("%s/build-%.12s.err", r->v->work, v->vid);
    j->cwd = v->cwd;
    if (!j->argv || !j->label || !j->out_path || !j->err_path)
        return flor__err(FLOR_ENOMEM, "out of memory");
    j->argv[0] = sh;
    j->argv[1] = dash_c;
    j->argv[2] = (char *)r->a.build;
    return 0;
}

static int build_versions(flor_replay *r, int *sig)
{
    flor__versions *d = r->v;
    int n = 0, rc = 0;
    flor__job *jobs = calloc((size_t)d->nv, sizeof *jobs);
    int *of = calloc((size_t)d->nv, sizeof *of);
    if (!jobs || !of)
        rc = flor__err(FLOR_ENOMEM, "out of memory");
    for (int k = 0; !rc && k < d->nv; k++)
        if (!d->v[k].status) {
            of[n] = k;
            rc = build_job(r, &d->v[k], &jobs[n++]);
        }
    if (!rc && n > 0) {
        flor__launch_say(r, "building %d version%s: %s", n, n == 1 ? "" : "s", r->a.build);
        *sig = flor__pool_run(jobs, n, (int)r->a.jobs, "builds", r->progress);
        if (*sig < 0)
            rc = FLOR_EIO;
    }
    for (int i = 0; (!rc || *sig < 0) && i < n; i++) {
        flor__job *j = &jobs[i];
        flor__version *v = &d->v[of[i]];
        if (flor__job_ok(j) || *sig) {
            unlink(j->out_path);
            unlink(j->err_path);
        } else {
            char why[160];
            v->status = "build failed";
            v->detail = flor__strdup(flor__job_describe(j, why, sizeof why));
            flor__launch_say(r, "the build of version %.12s (run %lld) failed: %s", v->vid,
                             (long long)v->first_run, why);
            flor__job_print_tail(j, r->progress);
        }
    }
    for (int i = 0; jobs && i < n; i++)
        flor__job_release(&jobs[i]);
    free(jobs);
    free(of);
    return rc;
}

/* ---- the work area ---------------------------------------------------------------------- */

/* The working directory relative to the project root ("" at the root). */
static char *relative_cwd(const flor_project *p)
{
    char cwd[4096], root[4096];
    if (!getcwd(cwd, sizeof cwd) || !realpath(flor_project_root(p), root))
        return flor__strdup("");
    size_t n = strlen(root);
    if (strncmp(cwd, root, n) == 0 && cwd[n] == '/')
        return flor__strdup(cwd + n + 1);
    return flor__strdup("");
}

static int make_work_area(flor_replay *r)
{
    flor__versions *d = r->v;
    d->rel = relative_cwd(r->p);
    d->flor_dir = flor__printf("FLOR_DIR=%s", flor_project_dir(r->p));
    d->env[0] = d->flor_dir;
    if (!d->rel || !d->flor_dir)
        return flor__err(FLOR_ENOMEM, "out of memory");
    if (r->a.slurm) { /* where the nodes see it: under the project's data directory */
        int rc = flor__slurm_area(r);
        if (!rc && !(d->work = flor__strdup(r->dir)))
            rc = flor__err(FLOR_ENOMEM, "out of memory");
        return rc;
    }
    if (!(d->work = flor__workarea_new()))
        return flor__err(FLOR_EIO, "cannot create a work area: %s", strerror(errno));
    return 0;
}

int flor__versions_run(flor_replay *r)
{
    if (!(r->v = calloc(1, sizeof *r->v)))
        return flor__err(FLOR_ENOMEM, "out of memory");
    int sig = 0, rc = find_statements(r);
    if (!rc)
        rc = select_runs(r);
    if (!rc)
        rc = flor__replays_last_id(r->p->db, &r->v->base);
    if (!rc)
        rc = make_work_area(r);
    if (!rc) /* Ctrl-C while the code is written out: stop, and clean up */
        rc = write_versions(r, &sig);
    if (!rc && !sig && r->a.build)
        rc = build_versions(r, &sig);
    if (!rc && !sig)
        rc = flor__targets_make_jobs(r);
    flor__versions *d = r->v;
    long nruns = d->nseg ? d->njobs / d->nseg : 0;
    if (!rc && !sig && d->njobs > 0 && r->a.slurm) {
        char what[96];
        snprintf(what, sizeof what, "%ld run%s in %ld segment%s each", nruns,
                 nruns == 1 ? "" : "s", d->nseg, d->nseg == 1 ? "" : "s");
        rc = flor__slurm_jobs(r, d->jobs, d->njobs, what, NULL);
        sig = r->signal;
    } else if (!rc && !sig && d->njobs > 0) {
        flor__launch_say(r, "replaying %ld run%s in %ld segment%s each, %ld at a time", nruns,
                         nruns == 1 ? "" : "s", d->nseg, d->nseg == 1 ? "" : "s", r->a.jobs);
        sig = flor__pool_run(d->jobs, (int)d->njobs, (int)r->a.jobs, "segments", r->progress);
        if (sig < 0)
            rc = FLOR_EIO;
    }
    r->signal = sig > 0 ? sig : 0;
    if (!rc && sig <= 0)
        rc = flor__targets_summarize(r);
    return rc;
}

void flor__versions_report(flor_replay *r) { flor__targets_report(r); }

void flor__versions_release(flor_replay *r)
{
    flor__versions *d = r->v;
    if (!d)
        return;
    long njobs = d->njobs;
    flor__targets_release(r);
    for (int k = 0; k < d->nv; k++) {
        flor__version *v = &d->v[k];
        flor__remove_tree(v->dir);
        free((char *)v->vid);
        free(v->dir);
        free(v->cwd);
        free(v->detail);
        for (int i = 0; i < v->nprobes; i++)
            free((char *)v->probes[i]);
        free(v->probes);
    }
    if (r->job) /* the Slurm area's own files */
        flor__slurm_release(r, njobs, true);
    if (d->work) {
        flor__workarea_done(d->work, r->signal != 0); /* interrupted: the logs go too */
        if (!r->signal && access(d->work, F_OK) == 0)
            flor__launch_say(r, "the logs of what failed are kept in %s", d->work);
    }
    free(d->v);
    free(d->work);
    free(r->dir);
    r->dir = NULL;
    free(d->rel);
    free(d->flor_dir);
    free(d);
    r->v = NULL;
}
