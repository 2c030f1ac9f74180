/*
 * cmd_replay.c -- `flor replay -- COMMAND`: replays a recorded run in S
 * segments of its checkpointed loop, N processes at a time, then sums up
 * what each segment did from the row it added to the replays table.
 * (--plan, which prints the segments instead, is in replay_shards.c.)
 */
#include "cli.h"
#include "replay.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char help[] =
    "usage: flor replay [--format FMT] [-j N] [--segments S] [--run RUN]\n"
    "                   [--probe LOOP]... [--plan[=parallel|slurm]]\n"
    "                   -- COMMAND [ARGS...]\n"
    "       flor replay NAME... [--format FMT] [-j N] [--segments S]\n"
    "                   [--where SQL] [--build CMD] [--force]\n"
    "                   [--probe LOOP]... [-- COMMAND [ARGS...]]\n"
    "\n"
    "Replays a recorded run of the program COMMAND in S segments of its\n"
    "checkpointed loop, at most N at a time.  Segment i of S runs, in the\n"
    "working directory, as\n"
    "\n"
    "  COMMAND ARGS --replay_flor i/S --replay_run RUN [--probe LOOP]...\n"
    "\n"
    "with its stdout and stderr in log files of a temporary directory.  Each\n"
    "segment starts from the nearest checkpoint; what the statements added\n"
    "since the recording log is stored with the run, and what the recording\n"
    "also logged is compared with it.\n"
    "\n"
    "Progress goes to stderr.  At the end, one row per segment: segment,\n"
    "status (finished, failed, killed, or cancelled when never started),\n"
    "seconds, new_values, compared, divergences and restores (as the segment\n"
    "recorded them in the replays table); then the total, on stderr.\n"
    "\n"
    "With NAMEs, replays the statements logging them -- the flor_log() or\n"
    "flor.log() calls added to the working tree since the latest recorded\n"
    "code version -- in every run of the program, whatever code version it\n"
    "ran: for each version, its code is written to a temporary directory with\n"
    "those statements carried in by a three-way merge, built with --build,\n"
    "and each of its runs replayed there in S segments (default: enough to\n"
    "keep N processes busy).  A loop around a statement, inside the\n"
    "checkpointed loop, is probed.  The program is COMMAND, in which a path\n"
    "into the project means that file of the version (default: the newest\n"
    "run's; each run is then started as it started itself, a .py script\n"
    "through $FLOR_PYTHON or python3).  A version whose statements\n"
    "conflict, whose build fails, or that is not in the repository is\n"
    "reported and its runs skipped; the others go on.  What the statements\n"
    "need is carried with them: the added blocks of their files that are\n"
    "#include or import lines, or that define (unindented) a name the\n"
    "carried code uses; the other edits are not.  The version's directory\n"
    "links to the working tree's ignored and untracked data files (not\n"
    "executables, object files, caches, .git or .flor) that the version\n"
    "lacks.  When no statement logging NAME was added since, but a run\n"
    "recorded NAME, its version is the source (back-fill).  A run that\n"
    "already has every NAME, recorded or replayed, is skipped (status\n"
    "'skipped') unless --force.  One row per run: run, vid, status\n"
    "(finished, failed, killed, cancelled, conflict, build failed, missing\n"
    "version, no code version, skipped), seconds, new_values, divergences,\n"
    "conflicts (file:line name).  Your checkout is not touched;\n"
    "the temporary directories are removed, also after Ctrl-C.\n"
    "\n"
    "options:\n"
    "  -j N          run at most N segments at a time (default: the number\n"
    "                of online CPUs)\n"
    "  --segments S  split the loop into S segments (default: N)\n"
    "  --run RUN     the run to replay, by id or tstamp (default: the latest\n"
    "                run of COMMAND, looked up once for every segment)\n"
    "  --probe LOOP  run the nested loop LOOP instead of skipping it\n"
    "                (repeatable)\n"
    "  --plan        print the segments as GNU parallel commands and as a\n"
    "                Slurm job array script instead of running them;\n"
    "                --plan=parallel or --plan=slurm prints only one\n"
    "  --where SQL   with NAME: only the runs for which the SQL condition\n"
    "                holds; its columns are those of the runs table (run_id,\n"
    "                tstamp, vid, status, ...) and one per arg\n"
    "  --build CMD   with NAME: build each version with the shell command\n"
    "                CMD, run in its directory\n"
    "  --force       with NAME: replay also the runs that already have a\n"
    "                value of every NAME (by default they are skipped)\n"
    "\n"
    "exit status: 0 when every segment finished, even with divergences\n"
    "(they are counted, and the first one is shown as a warning); 1 when a\n"
    "segment failed or was killed: its log file is kept and named, with the\n"
    "end of its stderr (with NAME: also when a run could not be replayed);\n"
    "2 for a usage error.  Ctrl-C is passed on to the running segments and\n"
    "they are waited for; a second one kills them.  Killed, even by\n"
    "SIGKILL, flor takes its segments and builds down with it and its\n"
    "temporary directory goes.  A run that did not finish is replayed only\n"
    "as far as it got.\n"
    "\n"
    "examples:\n"
    "  flor replay -- ./train\n"
    "  flor replay -j 4 --segments 20 --probe step -- ./train --data small\n"
    "  flor replay --plan=slurm --segments 200 -- ./train >replay.sbatch\n"
    "  flor replay weight_norm --where 'lr < 0.01' --build 'make train' -- ./train\n";

/* ---- the command line ------------------------------------------------------- */

static int parse_number(const char *opt, const char *s, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < 1 || v > max)
        return cli_usage_error("replay", "option '%s' expects a number from 1 to %ld, not '%s'",
                               opt, max, s);
    *out = v;
    return CLI_CONTINUE;
}

/* When ARGV[*I] is option NAME, points *VAL at its value ("NAME VALUE",
 * "--NAME=VALUE", or "-jVALUE" for a short NAME) and returns true; *RC is
 * then a usage error's status if the value is missing. */
static bool take_value(const char *name, int argc, char **argv, int *i, const char **val,
                       int *rc)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return false;
    if (a[n] == '\0') {
        if (*i + 1 >= argc)
            *rc = cli_usage_error("replay", "option '%s' needs a value", name);
        else
            *val = argv[++*i];
        return true;
    }
    if (name[1] != '-') { /* -jN */
        *val = a + n;
        return true;
    }
    if (a[n] != '=')
        return false;
    *val = a + n + 1;
    return true;
}

static int parse_plan(const char *a, int *plan)
{
    if (strcmp(a, "--plan") == 0)
        *plan = PLAN_BOTH;
    else if (strcmp(a, "--plan=parallel") == 0)
        *plan = PLAN_PARALLEL;
    else if (strcmp(a, "--plan=slurm") == 0)
        *plan = PLAN_SLURM;
    else
        return cli_usage_error("replay", "unknown plan '%s' (expected --plan, --plan=parallel or "
                                         "--plan=slurm)", a);
    return CLI_CONTINUE;
}

/* One option at ARGV[*I]; returns CLI_CONTINUE, or a status to stop with. */
static int parse_option(int argc, char **argv, int *i, replay_args *a)
{
    const char *v = NULL, *arg = argv[*i];
    int rc = CLI_CONTINUE;
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
        fputs(help, stdout);
        return CLI_OK;
    }
    if (take_value("-j", argc, argv, i, &v, &rc)) {
        a->jobs_given = true;
        return v ? parse_number("-j", v, 4096, &a->jobs) : rc;
    }
    if (take_value("--segments", argc, argv, i, &v, &rc))
        return v ? parse_number("--segments", v, 1000000, &a->segments) : rc;
    if (take_value("--run", argc, argv, i, &v, &rc)) {
        a->run = v;
        return rc;
    }
    if (take_value("--probe", argc, argv, i, &v, &rc)) {
        if (v)
            a->probes[a->nprobes++] = v;
        return rc;
    }
    if (take_value("--where", argc, argv, i, &v, &rc)) {
        a->where = v;
        return v && flor_sql_condition_check(v)
                   ? cli_usage_error("replay", "--where '%s': %s", v, flor_errmsg()) : rc;
    }
    if (take_value("--build", argc, argv, i, &v, &rc)) {
        a->build = v;
        return rc;
    }
    if (strcmp(arg, "--force") == 0) {
        a->force = true;
        return CLI_CONTINUE;
    }
    if (strncmp(arg, "--plan", 6) == 0)
        return parse_plan(arg, &a->plan);
    if (arg[0] == '-' && arg[1])
        return cli_usage_error("replay", "unknown option '%s'", arg);
    if (strchr(arg, '/'))
        return cli_usage_error("replay", "'%s' is not the NAME of a logged value; to replay the "
                                         "program, put it after '--': flor replay -- %s",
                               arg, arg);
    a->names[a->nnames++] = arg;
    return CLI_CONTINUE;
}

/* COMMAND's arguments must leave the replay flags to flor; the options
 * of one form of the command are not for the other. */
static int check_command(const replay_args *a)
{
    if (a->nnames) {
        if (a->run)
            return cli_usage_error("replay", "--run is for replaying one run without NAME; "
                                             "choose runs with --where, as in --where "
                                             "'run_id = 3'");
        if (a->plan)
            return cli_usage_error("replay", "--plan is not available with NAME");
    } else if (a->where || a->build || a->force) {
        const char *opt = a->where ? "--where" : a->build ? "--build" : "--force";
        return cli_usage_error("replay", "%s needs the NAMEs of the statements to replay, as "
                                         "in 'flor replay loss_norm %s ...'",
                               opt, opt);
    }
    if (a->ncmd == 0 && a->nnames)
        return CLI_CONTINUE; /* each run's own program */
    if (a->ncmd == 0)
        return cli_usage_error("replay", "missing the program to replay: flor replay [OPTIONS] "
                                         "-- COMMAND [ARGS...]");
    for (int i = 1; i < a->ncmd; i++)
        if (strcmp(a->cmd[i], "--replay_flor") == 0 || strcmp(a->cmd[i], "--replay_run") == 0)
            return cli_usage_error("replay", "'%s' is for flor replay to add; choose the run "
                                             "with --run and the segments with --segments",
                                   a->cmd[i]);
    return CLI_CONTINUE;
}

static int parse(int argc, char **argv, replay_args *a)
{
    int i, rc = CLI_CONTINUE;
    for (i = 1; i < argc && rc == CLI_CONTINUE; i++) {
        if (strcmp(argv[i], "--") == 0) {
            a->cmd = argv + i + 1;
            a->ncmd = argc - i - 1;
            return check_command(a);
        }
        rc = parse_option(argc, argv, &i, a);
    }
    return rc == CLI_CONTINUE ? check_command(a) : rc;
}

/* ---- running the segments ------------------------------------------------------------ */

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

static void free_jobs(replay_job *jobs, long n)
{
    for (long i = 0; jobs && i < n; i++)
        replay_job_release(&jobs[i]);
    free(jobs);
}

static replay_job *make_jobs(const replay_args *a, int64_t run, const char *dir)
{
    replay_job *jobs = calloc((size_t)a->segments, sizeof *jobs);
    for (long i = 0; jobs && i < a->segments; i++) {
        replay_job *j = &jobs[i];
        j->argv = replay_segment_argv(a, run, i, a->segments);
        j->out_path = malloc(strlen(dir) + 40);
        j->err_path = malloc(strlen(dir) + 40);
        j->label = cli_printf("segment %ld/%ld", i, a->segments);
        if (!j->argv || !j->out_path || !j->err_path || !j->label) {
            free_jobs(jobs, a->segments);
            return NULL;
        }
        sprintf(j->out_path, "%s/segment-%ld.out", dir, i);
        sprintf(j->err_path, "%s/segment-%ld.err", dir, i);
    }
    return jobs;
}

/* ---- the results ---------------------------------------------------------------------- */

/* The columns of the rows read back from the replays table. */
enum { R_ID, R_PID, R_SEGMENT, R_NSEGMENTS, R_HOST, R_RUN, R_STATUS, R_NEW, R_DIVERGENCES,
       R_FIRST, R_ERROR };

typedef struct outcome {
    long row;           /* its row in the replays table read back, or -1 */
    const char *status; /* finished, failed, killed, cancelled */
    char why[256];      /* for a person, when not finished */
} outcome;

static int read_rows(flor_project *p, int64_t base, flor_table **t)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT replay_id, pid, segment, nsegments, host, run_id, status, new_values,"
             " divergences, first_divergence, error FROM replays WHERE replay_id > %lld"
             " ORDER BY replay_id",
             (long long)base);
    return flor_project_query(p, sql, t) != 0 ? cli_error("%s", flor_errmsg()) : CLI_OK;
}

static bool row_is(const flor_table *t, size_t r, long seg, long nseg, const char *host)
{
    const char *h = flor_table_text(t, r, R_HOST);
    return flor_table_int(t, r, R_SEGMENT) == seg && flor_table_int(t, r, R_NSEGMENTS) == nseg &&
           h && strcmp(h, host) == 0;
}

static bool pid_of_a_job(const replay_job *jobs, long n, int64_t pid)
{
    for (long i = 0; i < n; i++)
        if (jobs[i].pid == pid)
            return true;
    return false;
}

/* Finds each segment's row: the one its process wrote (same pid), else,
 * for a COMMAND that runs the program in another process, the latest row
 * of that segment written by no process of this launch. */
static void match_rows(const flor_table *t, const replay_job *jobs, long n, outcome *out)
{
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    size_t nrows = flor_table_nrows(t);
    for (long i = 0; i < n; i++) {
        out[i].row = -1;
        for (size_t r = 0; r < nrows && jobs[i].pid > 0 && out[i].row < 0; r++)
            if (flor_table_int(t, r, R_PID) == jobs[i].pid && row_is(t, r, i, n, host))
                out[i].row = (long)r;
    }
    for (long i = 0; i < n; i++)
        for (size_t r = nrows; r-- > 0 && jobs[i].pid > 0 && out[i].row < 0;) {
            bool taken = false;
            for (long k = 0; k < n; k++)
                taken |= out[k].row == (long)r;
            if (!taken && row_is(t, r, i, n, host) &&
                !pid_of_a_job(jobs, n, flor_table_int(t, r, R_PID)))
                out[i].row = (long)r;
        }
}

/* The segment's status from how its process ended and what it recorded. */
static void judge(const flor_table *t, const replay_job *j, outcome *o)
{
    replay_describe(j, o->why, sizeof o->why);
    if (j->state == JOB_CANCELLED) {
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
        const char *st = flor_table_text(t, (size_t)o->row, R_STATUS);
        const char *err = flor_table_text(t, (size_t)o->row, R_ERROR);
        o->status = st && strcmp(st, "killed") == 0 ? "killed"
                    : st && strcmp(st, "finished") == 0 ? "finished"
                                                         : "failed";
        if (strcmp(o->status, "finished") != 0)
            snprintf(o->why, sizeof o->why, "its replay ended as '%s'%s%s", st ? st : "?",
                     err ? ": " : "", err ? err : "");
    }
}

/* The summary table, read from the replays table joined with what the
 * launcher saw: the only way to build a table through flor.h is a query. */
static int print_summary(flor_project *p, const replay_job *jobs, const outcome *o,
                         const flor_table *t, long n, const cli_opts *opts)
{
    char *sql = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&sql, &len);
    if (!m)
        return cli_error("out of memory");
    fputs("WITH s(segment, status, seconds, replay_id) AS (VALUES", m);
    for (long i = 0; i < n; i++) {
        fprintf(m, "%s(%ld, '%s', ", i ? ", " : " ", i, o[i].status);
        if (jobs[i].state == JOB_CANCELLED)
            fputs("NULL", m);
        else
            fprintf(m, "%.3f", jobs[i].t1 - jobs[i].t0);
        if (o[i].row >= 0)
            fprintf(m, ", %lld)", (long long)flor_table_int(t, (size_t)o[i].row, R_ID));
        else
            fputs(", NULL)", m);
    }
    fputs(") SELECT s.segment AS segment, s.status AS status, s.seconds AS seconds,"
          " r.new_values AS new_values, r.compared AS compared, r.divergences AS divergences,"
          " r.restores AS restores FROM s LEFT JOIN replays r ON r.replay_id = s.replay_id"
          " ORDER BY s.segment",
          m);
    fclose(m);
    flor_table *sum = NULL;
    int rc = flor_project_query(p, sql, &sum) != 0 ? cli_error("%s", flor_errmsg())
                                                   : cli_print_table(sum, opts);
    fflush(stdout);
    flor_table_free(sum);
    free(sql);
    return rc;
}

static void report_failures(const replay_job *jobs, const outcome *o, long n)
{
    for (long i = 0; i < n; i++) {
        const char *st = o[i].status;
        if (strcmp(st, "finished") == 0 || strcmp(st, "cancelled") == 0)
            continue;
        if (strncmp(o[i].why, st, strlen(st)) == 0) /* "killed by SIGINT" */
            cli_error("segment %ld/%ld %s", i, n, o[i].why);
        else
            cli_error("segment %ld/%ld %s: %s", i, n, st, o[i].why);
        replay_print_tail(&jobs[i]);
    }
}

/* The total on stderr, and the first divergence as a warning. */
static void report_total(const flor_table *t, const outcome *o, long n, int64_t run,
                         double seconds)
{
    int64_t values = 0, divergences = 0;
    long first = -1;
    for (long i = 0; i < n; i++) {
        if (o[i].row < 0)
            continue;
        size_t r = (size_t)o[i].row;
        values += flor_table_int(t, r, R_NEW);
        divergences += flor_table_int(t, r, R_DIVERGENCES);
        if (first < 0 && flor_table_int(t, r, R_DIVERGENCES) > 0)
            first = i;
        if (!run)
            run = flor_table_int(t, r, R_RUN);
    }
    if (run)
        fprintf(stderr, "flor: replay of run %lld: ", (long long)run);
    else
        fputs("flor: replay: ", stderr);
    fprintf(stderr, "%ld segment%s in %.1f s, %lld new values, %lld divergences\n", n,
            n == 1 ? "" : "s", seconds, (long long)values, (long long)divergences);
    if (first >= 0) {
        const char *text = flor_table_text(t, (size_t)o[first].row, R_FIRST);
        fprintf(stderr, "flor: warning: the replay diverged from the recording; first, in "
                        "segment %ld: %s\n",
                first, text ? text : "?");
    }
}

/* Removes the logs of the segments that finished, and the directory when
 * nothing else is left in it. */
static void clean_logs(const replay_job *jobs, const outcome *o, long n, const char *dir)
{
    for (long i = 0; i < n; i++)
        if (strcmp(o[i].status, "finished") == 0 || jobs[i].state == JOB_CANCELLED) {
            unlink(jobs[i].out_path);
            unlink(jobs[i].err_path);
        }
    rmdir(dir);
}

static int summarize(flor_project *p, const replay_job *jobs, long n, int64_t base, int64_t run,
                     const char *dir, const cli_opts *opts)
{
    flor_table *t = NULL;
    outcome *o = calloc((size_t)n, sizeof *o);
    if (!o)
        return cli_error("out of memory");
    int rc = read_rows(p, base, &t);
    if (rc == CLI_OK) {
        double t0 = jobs[0].t0, t1 = jobs[0].t1;
        match_rows(t, jobs, n, o);
        for (long i = 0; i < n; i++) {
            judge(t, &jobs[i], &o[i]);
            if (jobs[i].state == JOB_DONE && jobs[i].t1 > t1)
                t1 = jobs[i].t1;
            if (o[i].row < 0 || strcmp(o[i].status, "finished") != 0)
                rc = CLI_ERROR;
        }
        int prc = print_summary(p, jobs, o, t, n, opts);
        report_total(t, o, n, run, t1 - t0);
        report_failures(jobs, o, n);
        clean_logs(jobs, o, n, dir);
        rc = prc != CLI_OK ? prc : rc;
    }
    flor_table_free(t);
    free(o);
    return rc;
}

static int launch(flor_project *p, const replay_args *a, const cli_opts *opts)
{
    if (!runnable(a->cmd[0]))
        return cli_error("cannot run '%s': %s", a->cmd[0],
                         strchr(a->cmd[0], '/') ? strerror(errno) : "no such program in PATH");
    int64_t run = 0, base = 0;
    if (replay_pin_run(p, a, &run) != CLI_OK ||
        cli_query_int(p, "SELECT coalesce(max(replay_id), 0) FROM replays", &base) != CLI_OK)
        return CLI_ERROR;
    char *dir = replay_work_dir();
    if (!dir)
        return cli_error("cannot create a directory for the logs: %s", strerror(errno));
    replay_job *jobs = make_jobs(a, run, dir);
    int rc = CLI_ERROR, sig = -1;
    if (!jobs)
        cli_error("out of memory");
    else if ((sig = replay_pool_run(jobs, (int)a->segments, (int)a->jobs, "segments")) >= 0)
        rc = summarize(p, jobs, a->segments, base, run, dir, opts);
    /* interrupted: the logs go too, as the janitor would take them */
    replay_work_done(dir, sig != 0);
    free_jobs(jobs, a->segments);
    free(dir);
    if (sig > 0) { /* end as the signal would have ended flor */
        fflush(stdout);
        signal(sig, SIG_DFL);
        raise(sig);
    }
    return rc;
}

static int run(int argc, char **argv, const cli_opts *opts)
{
    replay_args a = {0};
    a.probes = malloc((size_t)argc * sizeof *a.probes);
    a.names = malloc((size_t)argc * sizeof *a.names);
    if (!a.probes || !a.names) {
        free(a.probes);
        free(a.names);
        return cli_error("out of memory");
    }
    int rc = parse(argc, argv, &a);
    if (rc == CLI_CONTINUE) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        if (!a.jobs_given)
            a.jobs = cpus > 0 ? cpus : 1;
        if (!a.segments && !a.nnames)
            a.segments = a.jobs; /* with NAME: from the number of runs */
        flor_project *p = NULL;
        if (flor_project_open(&p, NULL) != 0)
            rc = cli_error("%s", flor_errmsg());
        else
            rc = a.nnames ? replay_versions(p, &a, opts)
                 : a.plan   ? replay_plan(p, &a)
                            : launch(p, &a, opts);
        flor_project_free(p);
    }
    free(a.probes);
    free(a.names);
    return rc;
}

const cli_command cli_cmd_replay = {
    "replay", run, "replay [NAME...]     replay runs, with statements added since (-- CMD)", help,
};
