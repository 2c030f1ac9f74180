/*
 * record/record.h -- the record path: the run, loops, logs, args and the writer thread.
 * Internal to libflor: names start with flor__ (docs/architecture.md).
 */
#ifndef FLOR_RECORD_RECORD_H
#define FLOR_RECORD_RECORD_H

#include "flor.h"
#include "base/base.h"
#include "db/db.h"
#include "project/project.h"
#include "checkpoint/checkpoint.h"
#include <pthread.h>
#include <stdatomic.h>

/* ---- log.c: the in-memory record buffer --------------------------------- */

/* Every training-thread event is one fixed-size record in a block; text
 * bytes go to the block's text area.  The training thread is the only
 * writer of a block; it publishes records by a release store of `nrec`,
 * and the writer thread reads up to an acquire load of it. */
enum flor__rec_kind {
    FLOR__REC_LOG = 1,  /* name, ctx, value */
    FLOR__REC_CTX = 2,  /* ctx begins: ctx, parent, loop name, iteration */
    FLOR__REC_ARG = 3,  /* name, value, from_kwargs in `aux` */
};

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

/* Name interning: ids are stable for the process; strings never move. */
int flor__name_intern(const char *name, uint32_t *id);
const char *flor__name_str(uint32_t id);

/* ---- writer.c: the background thread that commits records -------------- */

typedef struct flor__writer flor__writer;
int flor__writer_start(flor__writer **out, sqlite3 *db, int64_t run_id);
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

/* ---- run.c: the process's run ------------------------------------------- */

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
} flor__run;

/* Marks the run as untrustworthy with REASON (kept in runs.reason at once);
 * it will end as failed.  A no-op when not recording. */
void flor__run_taint(const char *reason);

extern flor__run flor__R;
/* True when the calling thread may record (fast path check). */
static inline int flor__recording(void) { return flor__R.on; }
int flor__check_thread(void);

/* Appends a record (text copied when TEXT != NULL).  Training thread only. */
int flor__emit(const flor__rec *r, const char *text, size_t textlen);

/* ---- loop.c ------------------------------------------------------------- */

/* The context id for a log made now, emitting the REC_CTX records of the
 * enclosing iterations that have none yet. */
int64_t flor__loop_context(void);

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

#endif
