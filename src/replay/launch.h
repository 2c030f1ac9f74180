/*
 * replay/launch.h -- the replay launcher: what `flor replay` and
 * flor.replay() run from outside the replayed program (flor.h, "Replay
 * orchestration").  The files:
 *
 *   launcher.c  flor_replay_new/run/summary/report/free: checks the
 *               options and hands the work to one of the two modes
 *   programs.c  flor_project_find_run, flor_project_programs: the runs
 *               and programs a replay starts from
 *   segments.c  one run in S segments: their command lines, the run they
 *               all replay, the jobs, and the summary read back from the
 *               replays table
 *   batchplan.c flor_replay_plan: the segments as GNU parallel commands and
 *               as a Slurm job array, printed instead of run
 *   slurm.c     the jobs run as one Slurm job array (sbatch) instead of
 *               by the pool: the area under the project's data directory,
 *               the script, the wait, the jobs filled from what the tasks
 *               left, for segments.c and versions.c to read as after a
 *               local launch
 *   versions.c  NAME...: hindsight statements carried into each run's code
 *               version, built, replayed; one summary row per run
 *   jobs.c      the process pool: jobs forked a few at a time, their
 *               output in log files, signals passed on, progress
 *   workarea.c  the temporary directory of a launch and its janitor
 *               process, which cleans up should the launcher die
 *
 * Everything the launcher says goes to the options' progress stream (the
 * CLI's stderr), as lines "flor: ..."; nothing when that is NULL.
 * Internal to libflor: names start with flor__ (docs/architecture.md).
 */
#ifndef FLOR_REPLAY_LAUNCH_H
#define FLOR_REPLAY_LAUNCH_H

#include "flor.h"
#include "base/base.h"
#include "project/project.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

/* ---- launcher.c: the options and the handle -------------------------------- */

/* The options as the launcher uses them: counts as int, defaults filled in. */
typedef struct flor__launch_args {
    long jobs;          /* at most this many processes at a time */
    bool jobs_given;    /* -j was given (the Slurm plan then throttles) */
    long segments;      /* 0 with names: from the number of runs */
    const char *run;    /* the run spec, or NULL */
    const char *const *probes;
    int nprobes;
    char *const *cmd;   /* COMMAND ARGS..., ncmd words */
    int ncmd;
    const char *const *names;
    int nnames;
    const char *where;
    const char *build;
    bool force;
    bool slurm;                /* submit the segments to Slurm */
    bool no_wait;              /* ... and return once submitted */
    char *const *sbatch;       /* sbatch's options, nsbatch words */
    int nsbatch;
    const char *follow;        /* the job id of a Slurm replay to wait for, or NULL */
} flor__launch_args;

typedef struct flor__outcome flor__outcome;
typedef struct flor__versions flor__versions;
typedef struct flor__job flor__job;

struct flor_replay {
    flor_project *p;
    FILE *progress;      /* where the launcher talks; NULL: nowhere */
    flor__launch_args a;
    char **cmd_copy;     /* a.cmd, owned */
    /* one run in segments (segments.c) */
    int64_t run;         /* the pinned run (0: none recorded yet) */
    int64_t base;        /* the last replays row before the launch */
    char *dir;           /* the work area */
    flor__job *jobs;
    long njobs;
    flor__outcome *out;  /* per segment, once summarized */
    flor_table *rows;    /* the replays rows the segments added */
    char *job;           /* on Slurm: the job id of the array (slurm.c) */
    /* NAME... (versions.c) */
    flor__versions *v;
    /* both */
    flor_table *summary; /* what flor_replay_summary hands out */
    flor_table *runs;    /* with names: what flor_replay_runs hands out */
    long not_finished;   /* rows of the summary that did not finish */
    int signal;          /* the signal that interrupted the launch, or 0 */
    bool ran;
};

/* "flor: MESSAGE" on R's progress stream. */
static inline void flor__launch_say(const flor_replay *r, const char *fmt, ...)
    FLOR__PRINTF(2, 3);
static inline void flor__launch_say(const flor_replay *r, const char *fmt, ...)
{
    if (!r->progress)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("flor: ", r->progress);
    vfprintf(r->progress, fmt, ap);
    fputc('\n', r->progress);
    va_end(ap);
}

/* ---- segments.c: one run in S segments --------------------------------------- */

/* COMMAND ARGS --replay_flor I/NSEG [--replay_run RUN] [--probe LOOP]...
 * (no --replay_run when RUN is 0), NULL-terminated, in one block that
 * free() releases; NULL when out of memory. */
char **flor__segment_argv(const flor__launch_args *a, int64_t run, long i, long nseg);
/* The file name a run of COMMAND records: its program's base name, or
 * the script's for an interpreter ("python3 train.py": train.py). */
const char *flor__program_name(char *const *cmd, int ncmd);
/* Whether WORD (a command's first) names a launcher of several processes:
 * mpirun, mpiexec, srun, torchrun... */
bool flor__is_launcher(const char *word);
/* The run every segment replays: --run, else the latest run of COMMAND's
 * file name; *RUN is 0 when there is none.  0 or a FLOR_E* code. */
int flor__pin_run(flor_replay *r, int64_t *run);
/* Runs the segments of R's run and reads back what they recorded. */
int flor__segments_run(flor_replay *r);
/* Reads back what R's jobs (run, ended) recorded since R->base: the
 * outcome of each segment and the summary. */
int flor__segments_summarize(flor_replay *r);
/* The totals and the failures on the progress stream; the logs of the
 * segments that finished go. */
void flor__segments_report(flor_replay *r);
void flor__segments_release(flor_replay *r);

/* ---- batchplan.c, slurm.c: on Slurm ------------------------------------------------- */

/* WORD as one shell word on F: bare when it is made of safe characters
 * only, else in single quotes (a quote inside becomes '\''). */
void flor__put_word(FILE *f, const char *word);
/* The N jobs JOBS (argv, cwd, env; their logs at out_path and err_path)
 * run as one Slurm job array from R's area R->dir, made by
 * flor__slurm_area; once submitted, R->job is its id (WHAT tells what
 * they are: "4 segments of run 2") and LAUNCH, when not NULL, is written
 * after it into the area's launch file, for --follow.  Unless R's options
 * say no_wait, waits for it and fills each job's state, wait status, pid,
 * host and times from what its task left. */
int flor__slurm_jobs(flor_replay *r, flor__job *jobs, long n, const char *what,
                     const char *launch);
/* A new area DATADIR/slurm/replay-XXXXXX for R's launch, in R->dir. */
int flor__slurm_area(flor_replay *r);
/* Submits R's segments of R->run (pinned, with R->base), waits for them
 * unless no_wait, and reads the results back as for a local launch. */
int flor__slurm_run(flor_replay *r);
/* Waits for the Slurm replay submitted as job a.follow, reads its results. */
int flor__slurm_follow(flor_replay *r);
/* Once the results of its N tasks are READ: the area's own files go (the
 * script, the launch, each task's but what Slurm said of it), then the
 * area when nothing else is left in it (the logs of what failed).
 * R->job goes. */
void flor__slurm_release(flor_replay *r, long n, bool read);

/* ---- versions.c: NAME... across code versions --------------------------------- */

int flor__versions_run(flor_replay *r);
void flor__versions_report(flor_replay *r);
void flor__versions_release(flor_replay *r);

/* ---- jobs.c: the process pool ------------------------------------------------- */

typedef enum flor__job_state {
    FLOR__JOB_WAITING,   /* not started yet */
    FLOR__JOB_RUNNING,
    FLOR__JOB_DONE,      /* exited (or could not start: spawn_errno) */
    FLOR__JOB_CANCELLED, /* never started: the launch was interrupted */
    FLOR__JOB_VANISHED,  /* a Slurm task that started and left no exit status */
} flor__job_state;

struct flor__job {
    char **argv;        /* the command, NULL-terminated; argv[0] looked up in PATH */
    const char *label;  /* what the progress lines call it: "segment 2/4" */
    const char *cwd;    /* where it runs (NULL: the launcher's working directory) */
    char *const *env;   /* NAME=VALUE settings added to its environment, or NULL */
    char *out_path;     /* its stdout and stderr go to these files */
    char *err_path;
    pid_t pid;
    flor__job_state state;
    int wstatus;        /* as waitpid() reports it, once DONE */
    int spawn_errno;    /* DONE without running: why it could not start */
    double t0, t1;      /* start and end, in seconds of the monotonic clock */
    long local_ranks;   /* > 1: its process starts that many ranks of argv (local_ranks.c) */
    char *host;         /* where it ran, when not here (a Slurm task), or NULL */
};

/* Frees what JOB owns: argv (one block), label, out_path, err_path, host. */
void flor__job_release(flor__job *job);
/* Whether JOB ran and exited with status 0. */
bool flor__job_ok(const flor__job *job);
/* How JOB ended, for a person: "finished", "exit status 1", "killed by
 * SIGKILL", "could not start: ...", "not started".  Returns BUF. */
const char *flor__job_describe(const flor__job *job, char *buf, size_t n);
/* The name of JOB's stderr log and its last lines (at most 5), indented,
 * on OUT (nothing when OUT is NULL): for a job that failed. */
void flor__job_print_tail(const flor__job *job, FILE *out);
/* Runs the N JOBS in order, at most MAXRUN at a time, with stdin from
 * /dev/null, each in its own process group.  Shows the progress on
 * PROGRESS (if not NULL): one line kept up to date on a terminal, else a
 * line per finished job.  SIGINT, SIGTERM and SIGHUP are passed on to the
 * running jobs, which are then waited for; no job starts after that; a
 * second signal kills them.  NOUN names the jobs in the progress line
 * ("segments").  Returns 0, the number of the signal that interrupted the
 * launch, or -1 (flor_errmsg) when it could not start at all. */
int flor__pool_run(flor__job *jobs, int n, int maxrun, const char *noun, FILE *progress);
/* The name of signal SIG: "SIGINT", ..., "signal 42". */
const char *flor__signal_name(int sig);
/* In a job's process: starts WORLD copies of ARGV on this host, rank i
 * with the variables torchrun gives its workers (RANK, LOCAL_RANK,
 * WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR=127.0.0.1 and a
 * free MASTER_PORT), waits for them all and ends as the first that failed
 * ended (the others are sent SIGTERM then), else with 0.  Never returns. */
_Noreturn void flor__local_ranks(char *const *argv, long world);

/* ---- workarea.c: the temporary directory and its janitor ----------------------- */

/* A new directory $TMPDIR/flor-replay.XXXXXX (or under /tmp), malloc'd;
 * NULL with errno set when it cannot be made.  It names its owner (this
 * process) in a file "owner", and a janitor process is forked to watch
 * the launcher: should it die (even by SIGKILL), the janitor kills the
 * jobs still running and removes the directory.  The areas of owners that
 * are gone are removed first. */
char *flor__workarea_new(void);
/* The launch is over and cleaned up: the owner file goes, then DIR when
 * it is empty (everything under it with REMOVE_ALL), and the janitor is
 * told to leave without doing anything. */
void flor__workarea_done(const char *dir, bool remove_all);
/* Tells the janitor that process group PGID started (+) or was reaped (-). */
void flor__workarea_track(char sign, pid_t pgid);
/* Removes DIR and everything under it. */
void flor__remove_tree(const char *dir);

#endif
