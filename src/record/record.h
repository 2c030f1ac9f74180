/*
 * record/record.h -- the record path: the session (the run), loops, logs,
 * args and the writer thread.  Internal to libflor: names start with
 * flor__ (docs/architecture.md).
 *
 * Layering: record calls checkpoint, project, git, db and base below it,
 * never replay above it.  A replay plugs in through flor__replay_ops,
 * which it registers with the session (flor__R.replay); src/flor.c, the
 * top, composes the two in flor_init() and flor_finish().  Within the
 * folder, a file calls only those before it: names, ranks, session <
 * writer < log < args < loop, run.
 */
#ifndef FLOR_RECORD_RECORD_H
#define FLOR_RECORD_RECORD_H

#include "flor.h"
#include "base/base.h"
#include "db/db.h"
#include "git/git.h"
#include "project/project.h"
#include "checkpoint/checkpoint.h"
#include <pthread.h>
#include <stdatomic.h>

/* ---- the in-memory record buffer (log.c fills it, writer.c drains it) ---- */

/* Every training-thread event is one fixed-size record in a block; text
 * bytes go to the block's text area.  The training thread is the only
 * writer of a block; it publishes records by a release store of `nrec`,
 * and the writer thread reads up to an acquire load of it. */
enum flor__rec_kind {
    FLOR__REC_LOG = 1,  /* name, ctx, value */
    FLOR__REC_CTX = 2,  /* ctx begins: ctx, parent, loop name, iteration */
    FLOR__REC_ARG = 3,  /* name, value, from_kwargs in `aux` */
    /* the value of the iteration of the REC_CTX just before it, which
     * then has FLOR__CTX_VALUED in `aux`: the two are published together */
    FLOR__REC_CTXVAL = 4, /* ctx, value */
};
#define FLOR__CTX_VALUED 1

typedef struct flor__rec {
    uint8_t kind;
    uint8_t type;     /* flor_type of the value */
    uint16_t aux;
    uint32_t name;    /* interned name id */
    int64_t ctx;      /* context id; 0 = outside any loop */
    int64_t parent;   /* REC_CTX: parent context id */
    union {
        int64_t i;
        double r;
        struct {
            uint32_t off, len;
        } s;          /* into the block's text area */
    } v;
} flor__rec;

#define FLOR__BLOCK_RECS 4096
#define FLOR__BLOCK_TEXT (64 * 1024)

typedef struct flor__block {
    struct flor__block *next;   /* queue link */
    _Atomic uint32_t nrec;      /* published records */
    _Atomic int sealed;         /* no more records will be added */
    uint32_t text_used;
    uint32_t text_cap;
    char *text;                 /* FLOR__BLOCK_TEXT bytes, or more for a large value */
    flor__rec recs[FLOR__BLOCK_RECS];
} flor__block;

/* ---- names.c: name interning ------------------------------------------- */

/* Name interning: ids are stable for the process; strings never move. */
int flor__name_intern(const char *name, uint32_t *id);
const char *flor__name_str(uint32_t id);

/* ---- the replay hooks ------------------------------------------------------
 * The record path never calls replay.  A replay (replay/replay.c) registers
 * these with the session when --replay_flor is given; they are NULL when
 * recording, so the recording path pays one predictable branch. */
typedef struct flor__replay_ops {
    /* writer thread, inside its transaction: one record (an SQLite code) */
    int (*record)(sqlite3 *db, const flor__block *b, const flor__rec *r);
    /* writer thread, after SIGINT/SIGTERM: mark the replay killed */
    void (*killed)(sqlite3 *db);
    /* training thread: loop L begins (FIRST: where the program starts it) */
    void (*loop_begin)(flor_loop *l, long first);
    /* the end of iteration l->i of the checkpointed loop (ABORTING: by
     * flor_loop_abort, it did not complete) */
    void (*iteration_end)(const flor_loop *l, int aborting);
    /* before the next iteration of the checkpointed loop: 1 ends the loop */
    int (*next)(flor_loop *l);
    /* iteration l->i of the checkpointed loop begins */
    void (*iteration_begin)(const flor_loop *l);
    /* loop L ends (before the session closes it) */
    void (*loop_end)(const flor_loop *l);
} flor__replay_ops;

/* ---- writer.c: the background thread that commits records -------------- */

typedef struct flor__writer flor__writer;
/* Starts the writer on DB (which it owns from now on).  OPS: a replay's
 * hooks, whose record sink then takes every record; NULL when recording. */
int flor__writer_start(flor__writer **out, sqlite3 *db, int64_t run_id,
                       const flor__replay_ops *ops);
/* Training thread: the block to append to (never NULL after start). */
flor__block *flor__writer_current(flor__writer *w);
/* Training thread: seal the current block and get a fresh one (NULL on ENOMEM). */
flor__block *flor__writer_rotate(flor__writer *w, size_t text_needed);
/* Blocks until everything published so far is committed. */
int flor__writer_flush(flor__writer *w);
/* Flushes and stops the thread.  Returns the first commit error, if any. */
int flor__writer_stop(flor__writer *w);
/* Counts for tests and benches. */
uint64_t flor__writer_committed(const flor__writer *w);
/* From a signal handler: asks the writer for a final commit and waits a
 * little for it (async-signal-safe). */
void flor__writer_signal_flush(flor__writer *w, int signo);

/* ---- ranks.c: this process's place in a job of several ---------------- */

/* A process of a job of WORLD processes (MPI ranks, torchrun workers,
 * Slurm tasks): its RANK, the KIND of launcher ("mpi", "torchrun",
 * "slurm", "env"), and the JOB key all its ranks share.  A single process
 * has world 1, rank 0, no kind and no job. */
typedef struct flor__rank {
    long rank, world;
    const char *kind;
    char *job;
} flor__rank;

/* Reads the launcher's environment into *OUT.  0, or FLOR_EINVAL when a
 * variable is malformed (the message names it). */
int flor__rank_detect(flor__rank *out);
void flor__rank_release(flor__rank *r);

/* ---- session.c: the process's one session ------------------------------- */

/* The public API has no handle, so one session per process: the run being
 * recorded (or replayed), its loop stack, its checkpoint choices, and the
 * replay hooks.  Only the record layer and the layers above it use it;
 * the checkpoint layer gets what it needs as arguments. */
typedef struct flor__run {
    int on;                 /* recording */
    int finished;
    pthread_t owner;        /* the thread that called flor_init */
    flor__place place;
    sqlite3 *db;            /* training thread's connection (status updates) */
    int64_t run_id;
    flor__writer *writer;
    /* loop stack */
    int depth;
    struct {
        uint32_t name;
        int emitted;        /* its REC_CTX is in the buffer */
        long iteration;
        int64_t ctx;        /* current iteration's context; 0 before the first */
        /* the iteration's value (flor_loop_value_*): its flor_type
         * (FLOR_NULL: none), the number, or the text in `text` */
        uint8_t vtype;
        union {
            int64_t i;
            double r;
        } v;
        char *text;
        size_t text_cap;
    } stack[64];
    int64_t next_ctx;
    int loops_started;
    /* checkpoints */
    char *ckpt_loop;        /* name of the checkpointed loop; NULL: outermost */
    int ckpt_depth;         /* depth of the checkpointed loop while open; -1 */
    int ckpt_started;       /* the policy's clock is running */
    long every_n;           /* flor_checkpoint_every's cadence; 0, 0: adaptive */
    double every_s;
    flor__policy policy;
    /* a registration error (NULL buffer, zero size, a name twice): the
     * record cannot be trusted by a replay, so the run ends as failed */
    int tainted;
    char taint_msg[256];    /* the first such error */
    /* a replay's hooks (NULL: recording) and the phase it stamps on each
     * log record (enum flor__phase in replay/replay.h; 0 when recording) */
    const flor__replay_ops *replay;
    int phase;
    /* a resume (replay/resume.c): its resumes row, and its hooks until
     * the checkpoint is restored: RESUME, called when any loop begins (it
     * moves l->i of a loop enclosing the checkpointed one to the
     * checkpoint's iteration of it, and for the checkpointed loop
     * restores the checkpoint, moves l->i to it and clears both hooks);
     * RESUME_CTX, called when an iteration begins: the context id the
     * killed process gave it, to use again (0: a new one); 0 and NULL
     * otherwise */
    int64_t resume_id;
    void (*resume)(flor_loop *l);
    int64_t (*resume_ctx)(const flor_loop *l);
    /* copies the checkpoints to the project's remote, if it has one
     * (project/spool.c); NULL otherwise */
    flor__spooler *spooler;
    flor__replicator *replicator; /* copies the journal to the team's database */
} flor__run;

/* Marks the run as untrustworthy with REASON (kept in runs.reason at once);
 * it will end as failed.  A no-op when not recording, and in a replay. */
void flor__run_taint(const char *reason);

extern flor__run flor__R;
/* True when the calling thread may record (fast path check). */
static inline int flor__recording(void) { return flor__R.on; }
int flor__check_thread(void);
/* Makes the session ready for another flor_init() once its run has ended:
 * the run's state, the place and the --kwargs given are released; the
 * program's checkpoint settings (flor_checkpoint_loop, _every) are kept. */
void flor__session_reset(void);

/* ---- log.c: flor_log and the append of a record --------------------------- */

/* Appends a record (text copied when TEXT != NULL).  Training thread only. */
int flor__emit(const flor__rec *r, const char *text, size_t textlen);
/* The context id for a log made now, emitting the REC_CTX records of the
 * enclosing iterations that have none yet. */
int64_t flor__loop_context(void);

/* ---- run.c: starting and ending a recorded run ---------------------------- */

/* Starts recording the run of ARGV (the program's own, flags included):
 * its row, code version, writer and checkpoint writer.  On failure the
 * session is left closed. */
int flor__record_start(int argc, char **argv);
/* Starts the writer and the checkpoint writer of flor__R.run_id, whose
 * row exists and whose flor__R.db and place are open: the second half of
 * flor__record_start, and how a resume continues a run. */
int flor__record_attach(void);
/* The program's file name, as runs.filename keeps it: ARGV[0]'s last part. */
const char *flor__run_filename(int argc, char **argv);
/* Ends the recorded run with STATUS ("finished", "failed", "killed");
 * returns the first error. */
int flor__record_end(const char *status);

/* ---- args.c: --kwargs and flor_arg -------------------------------------- */

int flor__kwargs_parse(int *argc, char ***argv);
int flor__kwargs_given(void);
/* Makes flor_arg() return run RUN's recorded values (replay). */
int flor__args_load(sqlite3 *db, int64_t run);
/* Records kwargs no flor_arg asked for; warns once. */
void flor__kwargs_check_unused(void);
/* Writes the --kwargs overrides, as given, into the run's args (before
 * flor_init returns, so a kill before they are read keeps them). */
void flor__kwargs_record_given(void);
void flor__kwargs_release(void);

/* ---- experiment.c: --flor NAME [EPSILON] -------------------------------- */

/* Takes --flor [NAME [EPSILON]] off the command line: NAME is the next
 * word unless it starts with '-', EPSILON the one after it when it reads
 * as a number (then it must be in (0,1): FLOR_EINVAL otherwise). */
int flor__experiment_parse(int *argc, char ***argv);
/* Under --flor, makes R->place.projid the experiment's name (NAME, else
 * that of the latest run of FILENAME, else the project's) and, for rank
 * 0, links ~/.flor/NAME to the data directory. */
int flor__experiment_apply(flor__run *R, const char *filename, int rank);

#endif
