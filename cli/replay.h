/*
 * replay.h -- what the files of `flor replay` share: its command line,
 * the segments' command lines (replay_shards.c), and the process pool
 * that runs them (replay_pool.c): one process per segment, a few at a
 * time, each with its output in log files, the progress on stderr, and
 * Ctrl-C passed on to the segments.
 */
#ifndef FLOR_CLI_REPLAY_H
#define FLOR_CLI_REPLAY_H

#include "cli.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The command line of `flor replay`.  --plan: PLAN_BOTH, or one of the two. */
enum { PLAN_NONE, PLAN_BOTH, PLAN_PARALLEL, PLAN_SLURM };

typedef struct replay_args {
    long jobs;       /* -j: at most this many segments at a time */
    bool jobs_given;
    long segments;   /* --segments; 0 until it defaults to jobs */
    const char *run; /* --run, or NULL */
    const char **probes;
    int nprobes;
    int plan;
    char **cmd;      /* COMMAND ARGS..., NULL-terminated */
    int ncmd;
    const char **names; /* NAME...: replay the hindsight statements logging them */
    int nnames;
    const char *where;  /* --where: an SQL condition over run columns and args */
    const char *build;  /* --build: a shell command that builds each version */
    bool force;         /* --force: replay also the runs that have every NAME */
} replay_args;

/* COMMAND ARGS --replay_flor I/NSEG [--replay_run RUN] [--probe LOOP]...
 * (no --replay_run when RUN is 0), NULL-terminated, in one block that
 * free() releases; NULL when out of memory. */
char **replay_segment_argv(const replay_args *a, int64_t run, long i, long nseg);

/* The file name a run of COMMAND records: its program's base name, or
 * the script's for an interpreter ("python3 train.py": train.py). */
const char *replay_program_name(char *const *cmd, int ncmd);

/* The run every segment replays: --run, else the latest run of COMMAND's
 * file name; *RUN is 0 when there is none.  0 or CLI_ERROR (reported). */
int replay_pin_run(flor_project *p, const replay_args *a, int64_t *run);

/* --plan: prints the segments for GNU parallel and for Slurm; returns
 * the exit status. */
int replay_plan(flor_project *p, const replay_args *a);

/* flor replay NAME...: carries the hindsight statements into each selected
 * run's code version, builds and replays them (replay_versions.c);
 * returns the exit status. */
int replay_versions(flor_project *p, const replay_args *a, const cli_opts *opts);

typedef enum replay_job_state {
    JOB_WAITING,   /* not started yet */
    JOB_RUNNING,
    JOB_DONE,      /* exited (or could not start: spawn_errno) */
    JOB_CANCELLED, /* never started: the launch was interrupted */
} replay_job_state;

typedef struct replay_job {
    char **argv;      /* the command, NULL-terminated; argv[0] looked up in PATH */
    const char *label; /* what the progress lines call it: "segment 2/4" */
    const char *cwd;  /* where it runs (NULL: flor's working directory) */
    char *const *env; /* NAME=VALUE settings added to its environment, or NULL */
    char *out_path;   /* its stdout and stderr go to these files */
    char *err_path;
    pid_t pid;
    replay_job_state state;
    int wstatus;      /* as waitpid() reports it, once JOB_DONE */
    int spawn_errno;  /* JOB_DONE without running: why it could not start */
    double t0, t1;    /* start and end, in seconds of the monotonic clock */
} replay_job;

/* A new directory $TMPDIR/flor-replay.XXXXXX (or under /tmp), malloc'd;
 * NULL with errno set when it cannot be made.  It names its owner (this
 * process) in a file "owner", and a janitor process is forked to watch
 * flor: should flor die (even by SIGKILL), the janitor kills the jobs
 * still running and removes the directory.  The areas of owners that are
 * gone are removed first. */
char *replay_work_dir(void);

/* The launch is over and cleaned up: the owner file goes, then DIR when
 * it is empty (everything under it with REMOVE_ALL), and the janitor is
 * told to leave without doing anything. */
void replay_work_done(const char *dir, bool remove_all);

/* Removes DIR and everything under it. */
void replay_remove_tree(const char *dir);

/* Frees what JOB owns: argv (one block), label, out_path, err_path. */
void replay_job_release(replay_job *job);

/* Seconds on the monotonic clock. */
double replay_now(void);

/* How JOB ended, for a person: "finished", "exit status 1", "killed by
 * SIGKILL", "could not start: ...", "not started".  Returns BUF. */
const char *replay_describe(const replay_job *job, char *buf, size_t n);

/* Runs the N JOBS in order, at most MAXRUN at a time, with stdin from
 * /dev/null, each in its own process group.  Shows the progress on stderr:
 * one line kept up to date on a terminal, else a line per finished job.
 * SIGINT, SIGTERM and SIGHUP are passed on to the running jobs, which are
 * then waited for; no job starts after that; a second signal kills them.
 * NOUN names the jobs in the progress line ("segments").
 * Returns 0, the number of the signal that interrupted the launch, or -1
 * (reported) when it could not start at all. */
int replay_pool_run(replay_job *jobs, int n, int maxrun, const char *noun);

/* The name of JOB's stderr log and its last lines (at most 5), indented,
 * on stderr: for a job that failed. */
void replay_print_tail(const replay_job *job);

#endif
