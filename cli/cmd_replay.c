/*
 * cmd_replay.c -- `flor replay`: parses the command line and hands it to
 * the library's replay launcher (flor.h, "Replay orchestration"), which
 * runs the segments with its progress on stderr; prints the summary.
 */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: flor replay [--format FMT] [-j N] [--segments S] [--run RUN]\n"
    "                   [--probe LOOP]... [--replay_every N[:R]]\n"
    "                   [--plan[=parallel|slurm]]\n"
    "                   [--slurm[=SBATCH_OPTIONS] [--no-wait]] -- COMMAND [ARGS...]\n"
    "       flor replay --follow JOB [--format FMT]\n"
    "       flor replay NAME... [--format FMT] [-j N] [--segments S]\n"
    "                   [--where SQL] [--build CMD] [--force]\n"
    "                   [--probe LOOP]... [--replay_every N[:R]]\n"
    "                   [--slurm[=SBATCH_OPTIONS]] [-- COMMAND [ARGS...]]\n"
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
    "through $FLOR_PYTHON, else python3, or under python -m flor the\n"
    "python running it).  A version whose statements\n"
    "conflict, whose build fails, or that is not in the repository is\n"
    "reported and its runs skipped; the others go on.  What the statements\n"
    "need is carried with them: the added lines that open and close a\n"
    "block around a statement, and the added blocks of their files that\n"
    "are #include or import lines, or that define (unindented) a name the\n"
    "carried code uses; the other edits are not.  The version's directory\n"
    "links to the working tree's ignored and untracked data files (not\n"
    "executables, object files, caches, .git or .flor) that the version\n"
    "lacks.  When no statement logging NAME was added since, but a run\n"
    "recorded NAME, its version is the source (back-fill).  A run that\n"
    "already has every NAME, recorded or replayed, is skipped (status\n"
    "'skipped') unless --force, or a failed replay left it half done.\n"
    "One row per run: run, vid, status\n"
    "(finished, failed, killed, cancelled, conflict, build failed, missing\n"
    "version, no code version, skipped), seconds, new_values, divergences,\n"
    "conflicts (file:line name).  Your checkout is not touched;\n"
    "the temporary directories are removed, also after Ctrl-C.\n"
    "\n"
    "A run of several processes (mpirun, torchrun, srun) is replayed with as\n"
    "many, each segment started by the launcher that recorded it (mpirun -np\n"
    "N, srun -n N, torchrun --nproc_per_node N) or by $FLOR_LAUNCHER, whose\n"
    "{n} stands for N.  FLOR_LAUNCHER=local, the default for ranks started\n"
    "with torchrun's RANK and WORLD_SIZE but not by torchrun, starts them on\n"
    "this host with those variables and a free MASTER_PORT.  With NAME, a\n"
    "COMMAND without a launcher gets the launcher in front; without NAME,\n"
    "give the launcher in COMMAND (flor replay -- mpirun -np 2 ./train).\n"
    "Its counts are those of all its ranks.\n"
    "\n"
    "options:\n"
    "  -j N          run at most N segments at a time (default: the number\n"
    "                of online CPUs)\n"
    "  --segments S  split the loop into S segments (default: N)\n"
    "  --run RUN     the run to replay, by id or tstamp (default: the latest\n"
    "                run of COMMAND, looked up once for every segment)\n"
    "  --probe LOOP  run the nested loop LOOP instead of skipping it\n"
    "                (repeatable)\n"
    "  --replay_every N[:R]\n"
    "                the statements need only the iterations i of the\n"
    "                checkpointed loop with i % N == R (default R: 0), as\n"
    "                for a statement under `if (step % N == 0)`: each segment\n"
    "                re-executes from the checkpoint before each of them only\n"
    "                (passed on as FLOR_REPLAY_EVERY; not with --plan)\n"
    "  --plan        print the segments as GNU parallel commands and as a\n"
    "                Slurm job array script instead of running them;\n"
    "                --plan=parallel or --plan=slurm prints only one\n"
    "  --slurm[=SBATCH_OPTIONS]\n"
    "                submit the segments to Slurm as one job array (sbatch),\n"
    "                one task per segment, each running the segment's command\n"
    "                in the working directory, then wait for it and report as\n"
    "                above; SBATCH_OPTIONS (split at blanks, no quoting) go\n"
    "                to sbatch, as in --slurm='-p gpu --time=30'.  -j N\n"
    "                lets N tasks run at a time.  The nodes must see the\n"
    "                project where this host does; the tasks' logs (with\n"
    "                NAME: the versions' code, built here) are in\n"
    "                .flor/slurm/ (docs/team.md).  Ctrl-C cancels the job\n"
    "  --no-wait     with --slurm, without NAME: print the job id on stdout\n"
    "                and return once the job is submitted\n"
    "  --follow JOB  wait for the replay submitted as Slurm job JOB, then\n"
    "                report it as --slurm does\n"
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
    "  flor replay --slurm='--partition=gpu' --segments 200 -- ./train\n"
    "  flor replay weight_norm --where 'lr < 0.01' --build 'make train' -- ./train\n";

/* ---- the command line ------------------------------------------------------- */

typedef struct replay_cmd {
    flor_replay_options o; /* its probes and names point into the arrays below */
    const char **probes;
    const char **names;
    int plan;              /* 0, or the flor_replay_plan_format of --plan */
    char *slurm;           /* --slurm's options, split in place into o.sbatch */
    const char *every;     /* --replay_every's N[:R], or NULL */
} replay_cmd;

/* A whole number of at most 18 digits from S to END (or the string's end). */
static bool whole(const char *s, const char *end, long *v)
{
    if (!end)
        end = s + strlen(s);
    if (s == end || end - s > 18)
        return false;
    *v = 0;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9')
            return false;
        *v = *v * 10 + (*s - '0');
    }
    return true;
}

bool cli_replay_every_valid(const char *spec)
{
    const char *colon = strchr(spec, ':');
    long n, r = 0;
    return whole(spec, colon, &n) && n >= 1 && (!colon || (whole(colon + 1, NULL, &r) && r < n));
}

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
        *plan = FLOR_PLAN_BOTH;
    else if (strcmp(a, "--plan=parallel") == 0)
        *plan = FLOR_PLAN_PARALLEL;
    else if (strcmp(a, "--plan=slurm") == 0)
        *plan = FLOR_PLAN_SLURM;
    else
        return cli_usage_error("replay", "unknown plan '%s' (expected --plan, --plan=parallel or "
                                         "--plan=slurm)", a);
    return CLI_CONTINUE;
}

size_t cli_sbatch_words(char *options, char **words)
{
    size_t n = 0;
    char *save = NULL;
    for (char *w = strtok_r(options, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save))
        words[n++] = w;
    return n;
}

/* --slurm[=OPTIONS]: OPTIONS split at blanks into sbatch's words. */
static int parse_slurm(const char *options, replay_cmd *a)
{
    free(a->slurm);
    free((void *)a->o.sbatch);
    a->o.slurm = true;
    a->o.sbatch = NULL;
    a->o.nsbatch = 0;
    char **words = calloc(strlen(options) / 2 + 2, sizeof *words);
    a->slurm = strdup(options);
    if (!words || !a->slurm) {
        free(words);
        return cli_error("out of memory");
    }
    a->o.nsbatch = cli_sbatch_words(a->slurm, words);
    a->o.sbatch = words;
    return CLI_CONTINUE;
}

/* One option at ARGV[*I]; returns CLI_CONTINUE, or a status to stop with. */
static int parse_option(int argc, char **argv, int *i, replay_cmd *a)
{
    const char *v = NULL, *arg = argv[*i];
    int rc = CLI_CONTINUE;
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
        fputs(help, stdout);
        return CLI_OK;
    }
    if (take_value("-j", argc, argv, i, &v, &rc))
        return v ? parse_number("-j", v, 4096, &a->o.jobs) : rc;
    if (take_value("--segments", argc, argv, i, &v, &rc))
        return v ? parse_number("--segments", v, 1000000, &a->o.segments) : rc;
    if (take_value("--run", argc, argv, i, &v, &rc)) {
        a->o.run = v;
        return rc;
    }
    if (take_value("--probe", argc, argv, i, &v, &rc)) {
        if (v)
            a->probes[a->o.nprobes++] = v;
        return rc;
    }
    if (take_value("--where", argc, argv, i, &v, &rc)) {
        a->o.where = v;
        return v && flor_sql_condition_check(v)
                   ? cli_usage_error("replay", "--where '%s': %s", v, flor_errmsg()) : rc;
    }
    if (take_value("--build", argc, argv, i, &v, &rc)) {
        a->o.build = v;
        return rc;
    }
    if (take_value("--replay_every", argc, argv, i, &v, &rc)) {
        a->every = v;
        return v && !cli_replay_every_valid(v)
                   ? cli_usage_error("replay", "--replay_every '%s': expected N or N:R, whole "
                                               "numbers with N >= 1 and R < N", v) : rc;
    }
    if (strcmp(arg, "--force") == 0) {
        a->o.force = true;
        return CLI_CONTINUE;
    }
    if (strncmp(arg, "--plan", 6) == 0)
        return parse_plan(arg, &a->plan);
    if (strcmp(arg, "--slurm") == 0 || strncmp(arg, "--slurm=", 8) == 0)
        return parse_slurm(arg[7] ? arg + 8 : "", a);
    if (strcmp(arg, "--no-wait") == 0) {
        a->o.no_wait = true;
        return CLI_CONTINUE;
    }
    if (take_value("--follow", argc, argv, i, &v, &rc)) {
        a->o.follow = v;
        return rc;
    }
    if (arg[0] == '-' && arg[1])
        return cli_usage_error("replay", "unknown option '%s'", arg);
    if (strchr(arg, '/'))
        return cli_usage_error("replay", "'%s' is not the NAME of a logged value; to replay the "
                                         "program, put it after '--': flor replay -- %s",
                               arg, arg);
    a->names[a->o.nnames++] = arg;
    return CLI_CONTINUE;
}

/* The launcher's checks (the options of one form of the command are not
 * for the other, the replay flags are flor's to add), and --plan's. */
static int check_command(const replay_cmd *a)
{
    if (flor_replay_check(&a->o) != 0)
        return cli_usage_error("replay", "%s", flor_errmsg());
    if (a->o.nnames && a->plan)
        return cli_usage_error("replay", "--plan is not available with NAME");
    if (a->plan && (a->o.slurm || a->o.follow))
        return cli_usage_error("replay", "--plan prints the segments instead of running them: "
                                         "not with --slurm or --follow");
    if (a->every && a->plan)
        return cli_usage_error("replay", "--replay_every is not available with --plan: set "
                                         "FLOR_REPLAY_EVERY=%s in the jobs' environment", a->every);
    return CLI_CONTINUE;
}

static int parse(int argc, char **argv, replay_cmd *a)
{
    int i, rc = CLI_CONTINUE;
    for (i = 1; i < argc && rc == CLI_CONTINUE; i++) {
        if (strcmp(argv[i], "--") == 0) {
            a->o.cmd = argv + i + 1;
            a->o.ncmd = (size_t)(argc - i - 1);
            return check_command(a);
        }
        rc = parse_option(argc, argv, &i, a);
    }
    return rc == CLI_CONTINUE ? check_command(a) : rc;
}

/* ---- running it ---------------------------------------------------------------------- */

/* Runs the launch R: the summary on stdout, the rest on stderr. */
static int launch(flor_replay *r, const cli_opts *opts)
{
    if (flor_replay_run(r) != 0)
        return cli_error("%s", flor_errmsg());
    const flor_table *sum = flor_replay_summary(r);
    if (!sum && flor_replay_job(r) && !flor_replay_signal(r)) { /* --no-wait */
        printf("%s\n", flor_replay_job(r));
        return CLI_OK;
    }
    if (!sum)
        return CLI_ERROR; /* interrupted before the runs were summed up */
    int rc = cli_print_table(sum, opts);
    fflush(stdout);
    long failed = flor_replay_report(r);
    return rc != CLI_OK ? rc : failed ? CLI_ERROR : CLI_OK;
}

static int run(int argc, char **argv, const cli_opts *opts)
{
    replay_cmd a = {.o = {.progress = stderr}};
    a.probes = malloc((size_t)argc * sizeof *a.probes);
    a.names = malloc((size_t)argc * sizeof *a.names);
    if (!a.probes || !a.names) {
        free(a.probes);
        free(a.names);
        return cli_error("out of memory");
    }
    a.o.probes = a.probes;
    a.o.names = a.names;
    int rc = parse(argc, argv, &a), sig = 0;
    /* the replayed programs read it (src/replay/flags.c); their environment is ours */
    if (rc == CLI_CONTINUE && a.every && setenv("FLOR_REPLAY_EVERY", a.every, 1) != 0)
        rc = cli_error("cannot set FLOR_REPLAY_EVERY: out of memory");
    if (rc == CLI_CONTINUE) {
        flor_project *p = NULL;
        flor_replay *r = NULL;
        if (flor_project_open(&p, NULL) != 0 || flor_replay_new(p, &a.o, &r) != 0)
            rc = cli_error("%s", flor_errmsg());
        else if (a.plan)
            rc = flor_replay_plan(r, (flor_replay_plan_format)a.plan, stdout) != 0
                     ? cli_error("%s", flor_errmsg())
                     : CLI_OK;
        else
            rc = launch(r, opts);
        sig = flor_replay_signal(r);
        flor_replay_free(r);
        flor_project_free(p);
    }
    free(a.probes);
    free(a.names);
    free(a.slurm);
    free((void *)a.o.sbatch);
    if (sig > 0) { /* end as the signal would have ended flor */
        fflush(stdout);
        signal(sig, SIG_DFL);
        raise(sig);
    }
    return rc;
}

const cli_command cli_cmd_replay = {
    "replay", run, "replay [NAME...]     replay runs, with statements added since (-- CMD)", help,
};
