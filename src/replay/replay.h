/*
 * replay/replay.h -- hindsight logging inside a replayed program.
 * Internal to libflor: names start with flor__ (docs/architecture.md).
 *
 * Layering: replay calls record, checkpoint, project, db and base below
 * it; record never calls replay (replay.c registers flor__replay_ops with
 * the session).  Within the in-process replay: flags < restore, report,
 * sink < plan < segment < replay.c.
 */
#ifndef FLOR_REPLAY_REPLAY_H
#define FLOR_REPLAY_REPLAY_H

#include "flor.h"
#include "record/record.h"
#include "replay/source.h"

/* The phase a replay stamps on each log record (flor__R.phase). */
enum flor__phase {
    FLOR__PHASE_NORMAL = 0,  /* values are compared or stored */
    FLOR__PHASE_CATCHUP = 1, /* re-executed to rebuild state: compared, never stored */
    FLOR__PHASE_AFTER = 2,   /* after a segment that is not the last: ignored */
    FLOR__PHASE_FAILED = 3,  /* a restore failed: nothing is kept */
};

/* The replay's state: only the replay files use it (and the fuzz test of
 * the flags). */
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
    char stop_loop[128];     /* the checkpointed loop, when the replay stops short */
    char frontier_text[256]; /* "/step=41": where in it the record stopped */
} flor__replay;

extern flor__replay flor__P;

/* ---- replay.c: starting and ending a replay --------------------------------- */

/* Opens the run to replay (ARGV: the program's own), its replays row and
 * the writer, and registers the replay's hooks with the session. */
int flor__replay_start(int argc, char **argv);
/* Ends the replay: its row and its one-line report; the first error.
 * WHY (NULL: none) is the program's reason for stopping, kept as the
 * replay's error unless flor had one first; it is not an error of this
 * call. */
int flor__replay_end(const char *status, const char *why);
/* Frees the replay's state (after a failed start too). */
void flor__replay_release(void);

/* ---- resume.c: continuing a killed or failed run ------------------------------ */

/* --resume_flor[=RUN], FLOR_RESUME=1|RUN, FLOR_RESUME_FORCE=1. */
int flor__resume_parse(int *argc, char ***argv);
int flor__resume_requested(void);
/* Continues the run (ARGV: the program's own): refusals, its args, the
 * resumes row and superseded rows, and the record path attached to it. */
int flor__resume_start(int argc, char **argv);
void flor__resume_release(void);

/* ---- flags.c: the replay flags ------------------------------------------------ */

int flor__replay_parse(int *argc, char ***argv);
/* Whether the flags (or FLOR_REPLAY) ask for a replay. */
int flor__replay_requested(void);
int flor__replay_probed(const char *loop);

/* ---- plan.c: the run replayed and the segment's plan ------------------------ */

/* Finds the project, opens its database (flor__R.db) and reaps dead
 * runs; FLAG and VERB word the error of a project with no runs. */
int flor__replay_open_project(const char *flag, const char *verb);
/* Picks the run and loads its args, checkpoints, reach and argv --kwargs. */
int flor__replay_load_run(sqlite3 *db, const char *projid, const char *filename);
/* This process's row of run ID, into *ROW: ID itself for a single
 * process, its rank's row (ranks.c) for a run of several, which VERB
 * ("replay", "resume") must run with as many processes (FLOR_EINVAL
 * otherwise, naming both numbers). */
int flor__rank_row(sqlite3 *db, int64_t id, const char *verb, int64_t *row);
int flor__replay_has_checkpoint(long iteration);
/* Plans the segment; returns the checkpoint to resume from (-1: none)
 * and the first iteration to execute in *FIRST. */
long flor__replay_plan(const char *loop, long n, long *first);
/* --replay_every: the checkpointed loop has just ended iteration *I (or
 * not begun: *I is one before its first); when a checkpoint lies
 * between there and the next iteration the new statements need, it is
 * restored and *I moved to it, so the iterations in between never run. */
int flor__replay_skip(long *i);
/* Restores the run's checkpoint at ITERATION; counted in the report
 * (_again: a checkpoint restored before, not counted). */
int flor__replay_restore(long iteration);
int flor__replay_restore_again(long iteration);
/* Keeps the current error as the replay's; nothing more is kept. */
void flor__replay_fail(void);

/* ---- segment.c: the loop hooks ------------------------------------------------ */

/* A run that did not finish, in the last iteration it reached of the
 * checkpointed loop: where nested loops stopped (its "frontier"). */
int flor__replay_frontier_load(sqlite3 *db);
/* Fills the loop hooks of OPS. */
void flor__replay_segment_hooks(flor__replay_ops *ops);
void flor__replay_segment_release(void);

/* ---- sink.c: the record sink ------------------------------------------------- */

/* Loads what the run logged, to compare against. */
int flor__replay_sink_load(sqlite3 *db);
/* The writer thread's handling of one record (an SQLite result code). */
int flor__replay_record(sqlite3 *db, const flor__block *b, const flor__rec *r);
void flor__replay_sink_release(void);

/* ---- report.c: the replays row and the report ------------------------------- */

int flor__replay_begin_row(sqlite3 *db);
int flor__replay_end_row(sqlite3 *db, const char *status);
void flor__replay_report(void);

/* ---- restore.c: restoring checkpoints into registered state ------------------ */

/* Restores checkpoint ID of run RUN (WHERE: its coords, for messages), as
 * flor_project_restore does one found by its iteration. */
int flor__restore_checkpoint(flor_project *p, int64_t run, int64_t id, const char *where);

/* In a replay, the flat objects of the last restore that were not
 * registered then are restored when S is registered (0 when S is not one
 * of them); _release forgets them. */
int flor__restore_pending(flor__state *s);
void flor__restore_pending_release(void);
/* FLOR_ENOTFOUND (message set) when such an object is still pending. */
int flor__restore_pending_left(void);

#endif
