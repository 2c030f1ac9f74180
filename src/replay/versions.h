/*
 * replay/versions.h -- what versions.c and targets.c share: the state of a
 * replay with NAME... across code versions.
 *
 *  1. The hindsight statements logging NAME... (flor_project_statements;
 *     from a recorded version when it is a back-fill).        versions.c
 *  2. The runs: those of the program, filtered by WHERE; a run that has a
 *     value of every NAME already is skipped unless FORCE.     versions.c
 *  3. For each code version among them, its code with the statements
 *     carried in (flor_project_carry), in a directory of a temporary work
 *     area.  A version whose statements conflict, or whose vid is not in
 *     the repository, is reported and its runs are not replayed.
 *                                                              versions.c
 *  4. BUILD in each version's directory, JOBS at a time.      versions.c
 *  5. Every run's segments, JOBS at a time, run in its version's directory
 *     with FLOR_DIR set to the project's data directory, so that what they
 *     log lands under the original runs.                       targets.c
 *  6. One summary row per run, then the work area goes (the logs of what
 *     failed are kept), also after Ctrl-C.                     targets.c
 * Internal to libflor: names start with flor__ (docs/architecture.md).
 */
#ifndef FLOR_REPLAY_VERSIONS_H
#define FLOR_REPLAY_VERSIONS_H

#include "replay/launch.h"

typedef struct flor__version {
    const char *vid;     /* NULL: the runs recorded no code version */
    int64_t first_run;   /* the run whose code is written out */
    char *dir;           /* the code, in the work area */
    char *cwd;           /* where its commands run: DIR plus the subdirectory */
    const char *status;  /* NULL while all is well, else why its runs do not replay */
    char *detail;        /* the conflicts ("file:line name"), or the error */
    const char **probes; /* loops to probe: those holding a carried statement */
    int nprobes;
} flor__version;

typedef struct flor__target {
    int64_t run;
    int v;             /* its version; -1 when it is skipped */
    char vid[16];      /* a skipped run's vid, shortened */
    char *argv0;       /* as it recorded it */
    char *tstamp;      /* its tstamp, or NULL */
    long world;        /* its number of processes */
    char *launcher;    /* the launcher that started them ("mpi", ...), or NULL */
    char **cmd;        /* what runs it: COMMAND, or ARGV0 */
    long first, njobs; /* its segments in the job list */
    /* once summed up (targets.c) */
    const char *status;
    double seconds;
    long long values, divergences;
    long failed_job;   /* a job to show the log of, or -1 */
    char *error;       /* why it did not finish: a segment's error, or NULL */
} flor__target;

struct flor__versions {
    char *work;        /* the temporary work area */
    char *rel;         /* the working directory, relative to the project root */
    char *flor_dir;    /* FLOR_DIR=... for the segments */
    char *env[2];
    flor__version *v;
    int nv;
    flor__target *t;
    int nt;
    flor__job *jobs;
    long njobs, nseg;
    int64_t base;      /* the last replays row before this launch */
    int finished, skipped;
    long long values, divergences;
};

/* ---- targets.c ---------------------------------------------------------------- */

/* Step 5: the jobs of every run that replays. */
int flor__targets_make_jobs(flor_replay *r);
/* Step 6: each run summed up from the replays rows; R's summary table. */
int flor__targets_summarize(flor_replay *r);
/* The failures, then the totals, on the progress stream. */
void flor__targets_report(flor_replay *r);
/* Frees the runs and the jobs, removing the logs of the jobs that did
 * not fail. */
void flor__targets_release(flor_replay *r);

#endif
