/*
 * checkpoint/checkpoint.h -- registered state, the checkpoint policy and the checkpoint writer.
 * Internal to libflor: names start with flor__ (docs/architecture.md).
 *
 * Layering: checkpoint calls store, db and base; never record or replay.
 * What it needs of the run (the policy, the loop's coordinates) comes as
 * arguments; what the layers above want on a registration they set as
 * the registry's hooks.  Within the folder: state, policy < ckpt <
 * register.c (the public flor_checkpoint* calls).
 */
#ifndef FLOR_CHECKPOINT_CHECKPOINT_H
#define FLOR_CHECKPOINT_CHECKPOINT_H

#include "flor.h"
#include "base/base.h"
#include "db/db.h"
#include "store/store.h"

/* ---- state.c: registered state and its staging ------------------------- */

typedef struct flor__state {
    char *name;
    void *data;             /* flat buffer, or NULL for callbacks */
    size_t nbytes;
    flor_dtype type;
    uint32_t version;
    flor_state_ops ops;     /* all NULL for a flat buffer */
    void *self;
    void *stage;            /* staging copy, reused by every checkpoint */
    size_t stage_cap, stage_len;
    int stage_cold;         /* mapped, not yet touched (state.c) */
    struct flor__obj prev;  /* manifest of the last checkpoint (delta base) */
    int has_prev;
} flor__state;

/* The registry.  The layers above set the hooks; the checkpoint layer
 * never calls up otherwise. */
typedef struct flor__states {
    flor__state *v;
    int n, cap;
    int staging;       /* recording: a flat buffer's staging is reserved when
                        * it is registered (set by record/run.c) */
    /* a registration error, after its message is set (record: taints the run) */
    void (*on_error)(const char *msg);
    /* a flat buffer was registered: a replay may restore it now (its code) */
    int (*on_register)(flor__state *s);
} flor__states;

extern flor__states flor__S;
/* The layers above set the registry's hooks through these (NULL: none):
 * a recorded run stages flat buffers as they are registered and hears of
 * registration errors; a replay hears of every flat buffer registered. */
void flor__state_set_recording(int staging, void (*on_error)(const char *msg));
void flor__state_set_on_register(int (*on_register)(flor__state *s));
flor__state *flor__state_find(const char *name);
/* A new, empty entry named NAME (NULL on ENOMEM, message set). */
flor__state *flor__state_new(const char *name);
/* Drops S from the registry (its staging and delta base too). */
void flor__state_remove(flor__state *s);
/* Makes S's staging hold N bytes or more: mapped, still cold when new. */
int flor__state_stage_reserve(flor__state *s, size_t n);
/* Writes to every page of S's staging if it is cold, so that a snapshot
 * into it is a warm copy (no page faults). */
void flor__state_stage_warm(flor__state *s);
/* Copies every registered object into its staging; *TOTAL = bytes. */
int flor__state_snapshot(size_t *total);
void flor__state_forget_previous(flor__state *s);
const char *flor__dtype_name(flor_dtype t);
size_t flor__dtype_size(flor_dtype t);


/* ---- policy.c: when to checkpoint ---------------------------------------- */

typedef struct flor__policy {
    double budget;        /* allowed (pauses + charged writer CPU) / loop time */
    double t_start;       /* when the checkpointed loop began (monotonic) */
    double stall_total;   /* pauses so far */
    double bytes_per_s;   /* measured snapshot rate; 0 before the first */
    double writer_charged;  /* the writer's CPU so far, weighted (policy.c) */
    double writer_per_byte; /* the last checkpoints' writer charge per byte */
    long ncpu;            /* online cores (sysconf at init) */
    long iteration;       /* the iteration flor__policy_decide decides next: the
                           * caller sets it; each decision advances it */
    long first;           /* the first iteration decided (-1: none yet) */
    long cadence;         /* the adaptive cadence K last chosen (0: none yet) */
    int taken, skipped_budget, skipped_busy;
    /* a fixed cadence (flor_checkpoint_every, FLOR_CHECKPOINT_EVERY)
     * instead of the budget: every EVERY_N-th iteration and/or once
     * EVERY_S seconds have passed since T_LAST; both 0: adaptive */
    long every_n;
    double every_s;
    double t_last;        /* the last checkpoint taken (or the loop's start) */
} flor__policy;

typedef enum { FLOR__TAKE, FLOR__SKIP_BUDGET, FLOR__SKIP_BUSY } flor__decision;

void flor__policy_init(flor__policy *p, double budget, double now);
/* The overhead budget: the one set by flor__policy_budget_set (the
 * EPSILON of --flor NAME EPSILON) when set, else FLOR_OVERHEAD, else 0.01. */
double flor__policy_budget_from_env(void);
/* Sets the budget for the runs of this process; a negative B unsets it. */
void flor__policy_budget_set(double b);
/* The predicted pause of a checkpoint of BYTES. */
double flor__policy_predict(const flor__policy *p, size_t bytes);
/* Its predicted cost to the budget: the pause plus the writer's charge. */
double flor__policy_cost(const flor__policy *p, size_t bytes);
/* What share of the writer's CPU is charged on a machine of NCPU cores
 * of which IDLE_CORES were idle meanwhile (policy.c). */
double flor__policy_writer_weight(long ncpu, double idle_cores);
/* The writer spent CPU_S seconds of CPU on checkpoints of BYTES, while
 * IDLE_CORES cores of the machine were idle on average: charges it, and
 * predicts the next checkpoints' charge from it (not when BYTES is 0). */
void flor__policy_writer(flor__policy *p, double cpu_s, double idle_cores, size_t bytes);
flor__decision flor__policy_decide(flor__policy *p, double now, size_t bytes, int writer_busy,
                                   int last);
void flor__policy_taken(flor__policy *p, double stall, size_t bytes);
/* Sets P's fixed cadence: N and S as given to flor_checkpoint_every,
 * unless FLOR_CHECKPOINT_EVERY (N or Ts) overrides them. */
void flor__policy_set_every(flor__policy *p, long n, double s);
/* The decision under a fixed cadence, at the end of iteration ITERATION
 * (only when P has one: every_n or every_s). */
flor__decision flor__policy_decide_every(flor__policy *p, long iteration, double now, int last);
double flor__policy_overhead(const flor__policy *p, double now);

/* ---- ckpt.c: snapshots and the checkpoint writer thread ----------------- */

typedef struct flor__ckpt flor__ckpt;
int flor__ckpt_start(const char *datadir, int64_t run_id);
/* At the end of an iteration of the checkpointed loop: ask policy P,
 * snapshot, hand to the writer.  LAST: the loop's final iteration. */
int flor__ckpt_take(flor__policy *p, const char *loop, long iteration, const char *coords,
                    int last);
void flor__ckpt_wait_idle(void);
/* Warms every cold staging buffer: on the writer thread when it runs
 * (the writer is busy meanwhile; a snapshot waits for it), else here. */
void flor__ckpt_warm_staging(void);
/* Waits for the writer, stops it; counts of checkpoints written/failed. */
int flor__ckpt_stop(int *written, int *failed);

#endif
