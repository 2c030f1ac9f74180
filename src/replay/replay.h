/*
 * replay/replay.h -- hindsight logging inside a replayed program.
 * Internal to libflor: names start with flor__ (docs/architecture.md).
 */
#ifndef FLOR_REPLAY_REPLAY_H
#define FLOR_REPLAY_REPLAY_H

#include "flor.h"
#include "record/record.h"
#include "replay/source.h"

/* ---- replay.c: hindsight logging ------------------------------------------ */

enum flor__phase {
    FLOR__PHASE_NORMAL = 0,  /* values are compared or stored */
    FLOR__PHASE_CATCHUP = 1, /* re-executed to rebuild state: compared, never stored */
    FLOR__PHASE_AFTER = 2,   /* after a segment that is not the last: ignored */
    FLOR__PHASE_FAILED = 3,  /* a restore failed: nothing is kept */
};

typedef struct flor__replay {
    int on;
    char *run_spec;          /* --replay_run: an id or a tstamp */
    int64_t run_id;          /* the run replayed */
    long seg_pid, seg_n;     /* segment PID of N */
    char *probe[16];
    int nprobe;
    long every_n, every_r;   /* --replay_every N:R; 0: every iteration needed */
    char *ckpt_loop;         /* the loop the record checkpointed */
    long *ckpts;             /* its checkpointed iterations, ascending */
    int nckpt, capckpt;
    long seg_start, seg_end; /* the segment: iterations [start, end) */
    long restored_for;       /* iteration whose checkpoint is in the state now */
    long restored_mid;       /* iteration restored inside its body (-1: none) */
    int phase;               /* enum flor__phase, stamped on each log record */
    flor_project *proj;      /* for restores */
    int64_t replay_id;
    long new_values, compared, divergences, restores;
    double restore_s;
    char *first_divergence;
    char *error;
    char *run_status;        /* the replayed run's status: finished, killed, ... */
    long reached;            /* an unfinished run: the last iteration of the
                              * checkpointed loop it reached (-1: none) */
    int limited;             /* the run did not finish: stop where it stopped */
    int truncated;           /* the replay stopped there, short of the loop's end */
    int argv_kwargs;         /* args missing from the run came from its argv */
} flor__replay;

extern flor__replay flor__P;
int flor__replay_parse(int *argc, char ***argv);
int flor__replay_open(sqlite3 *db, const char *projid, const char *filename);
int flor__replay_probed(const char *loop);
int flor__replay_has_checkpoint(long iteration);
/* Plans the segment; returns the checkpoint to resume from (-1: none)
 * and the first iteration to execute in *FIRST. */
long flor__replay_plan(const char *loop, long n, long *first);
/* A run that did not finish, in the last iteration it reached of the
 * checkpointed loop: loop L (nested in it) runs no further than the
 * record got; once the record's last iteration there is over, nothing
 * more is stored or compared (loop.c calls these for every nested loop). */
void flor__replay_frontier_begin(flor_loop *l);
void flor__replay_frontier_end(const flor_loop *l);
/* --replay_every: the checkpointed loop has just ended iteration *I (or
 * not begun: *I is one before its first); when a checkpoint lies
 * between there and the next iteration the new statements need, it is
 * restored and *I moved to it, so the iterations in between never run. */
int flor__replay_skip(long *i);
/* Restores the run's checkpoint at ITERATION; counted in the report
 * (_again: a checkpoint restored before, not counted). */
int flor__replay_restore(long iteration);
int flor__replay_restore_again(long iteration);
void flor__replay_fail(void);
/* The writer thread's handling of one record (an SQLite result code). */
int flor__replay_record(sqlite3 *db, const flor__block *b, const flor__rec *r);
int flor__replay_begin_row(sqlite3 *db);
int flor__replay_end_row(sqlite3 *db, const char *status);
void flor__replay_report(void);
void flor__replay_release(void);

#endif
