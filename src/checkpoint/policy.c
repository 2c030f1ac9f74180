/*
 * policy.c -- when to checkpoint: an overhead budget spent like a token
 * bucket.
 *
 * The training thread's pauses for checkpoints (the snapshot copies) may
 * add up to BUDGET times the time the checkpointed loop has run.  At the
 * end of each iteration the policy predicts the next pause from the last
 * measured one, scaled by bytes (or, before any, from a measured copy
 * rate), and checkpoints when the pauses so far plus that prediction fit
 * in the budget earned so far.  Cheap snapshots thus happen every
 * iteration; expensive ones every k-th, with k as small as the budget
 * allows, and the budget never runs a deficit by more than one pause.
 * An iteration whose previous checkpoint is still being written is
 * skipped: the writer is the bottleneck and waiting for it would stall
 * training.  The last iteration is always taken, unless the budget is 0
 * (FLOR_OVERHEAD=0: checkpoints off).
 *
 * A fixed cadence replaces the budget when the program or the job asks
 * for one (flor_checkpoint_every, FLOR_CHECKPOINT_EVERY): every N-th
 * iteration, and/or the first iteration to end T seconds after the
 * previous checkpoint.  It waits for a busy writer rather than skip.
 */
#include "checkpoint/checkpoint.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void flor__policy_init(flor__policy *p, double budget, double now)
{
    p->budget = budget;
    p->t_start = now;
    p->stall_total = 0;
    p->bytes_per_s = 0;
    p->taken = p->skipped_budget = p->skipped_busy = 0;
    p->every_n = 0;
    p->every_s = 0;
    p->t_last = now;
}

/* FLOR_CHECKPOINT_EVERY: "N" (iterations, N >= 1) or "Ts" (seconds,
 * T > 0).  Returns 1 with *N or *S set, 0 when unset or invalid (with a
 * warning). */
static int every_from_env(long *n, double *s)
{
    const char *e = getenv("FLOR_CHECKPOINT_EVERY");
    if (!e || !*e)
        return 0;
    char *end;
    size_t len = strlen(e);
    if (e[len - 1] == 's') {
        double t = strtod(e, &end);
        if (end == e + len - 1 && end != e && t > 0 && isfinite(t)) {
            *n = 0;
            *s = t;
            return 1;
        }
    } else if (e[0] >= '0' && e[0] <= '9') {
        long v = strtol(e, &end, 10);
        if (!*end && v >= 1) {
            *n = v;
            *s = 0;
            return 1;
        }
    }
    flor__warn("FLOR_CHECKPOINT_EVERY=%s: expected a number of iterations (20) or of seconds "
               "(30s); using the program's cadence", e);
    return 0;
}

void flor__policy_set_every(flor__policy *p, long n, double s)
{
    if (!every_from_env(&n, &s) && (n < 0 || !(s >= 0)))
        n = 0, s = 0;
    p->every_n = n;
    p->every_s = s;
}

flor__decision flor__policy_decide_every(flor__policy *p, long iteration, double now, int last)
{
    if (p->budget <= 0) /* FLOR_OVERHEAD=0: checkpoints off, whatever the cadence */
        return FLOR__SKIP_BUDGET;
    if (last)
        return FLOR__TAKE;
    if (p->every_n > 0 && (iteration + 1) % p->every_n == 0)
        return FLOR__TAKE;
    if (p->every_s > 0 && now - p->t_last >= p->every_s)
        return FLOR__TAKE;
    return FLOR__SKIP_BUDGET;
}

double flor__policy_budget_from_env(void)
{
    const char *e = getenv("FLOR_OVERHEAD");
    if (!e || !*e)
        return 0.01;
    char *end;
    double b = strtod(e, &end);
    if (*end || b < 0 || b > 1) {
        flor__warn("FLOR_OVERHEAD=%s: expected a fraction between 0 and 1; using 0.01", e);
        return 0.01;
    }
    return b;
}

double flor__policy_predict(const flor__policy *p, size_t bytes)
{
    /* before any measurement assume a warm copy at 4 GB/s */
    double rate = p->bytes_per_s > 0 ? p->bytes_per_s : 4e9;
    return (double)bytes / rate;
}

flor__decision flor__policy_decide(flor__policy *p, double now, size_t bytes, int writer_busy,
                                   int last)
{
    if (p->budget <= 0) /* FLOR_OVERHEAD=0: checkpoints off, the last one too */
        return FLOR__SKIP_BUDGET;
    if (last)
        return FLOR__TAKE;
    if (writer_busy && p->budget < 1) {
        p->skipped_busy++;
        return FLOR__SKIP_BUSY;
    }
    double earned = p->budget * (now - p->t_start);
    if (p->budget < 1 && p->stall_total + flor__policy_predict(p, bytes) > earned) {
        p->skipped_budget++;
        return FLOR__SKIP_BUDGET;
    }
    return FLOR__TAKE;
}

void flor__policy_taken(flor__policy *p, double stall, size_t bytes)
{
    p->stall_total += stall;
    p->taken++;
    if (stall > 0 && bytes > 0) {
        double rate = (double)bytes / stall;
        /* smooth, so one slow copy (a page fault storm) does not dominate */
        p->bytes_per_s = p->bytes_per_s > 0 ? 0.5 * p->bytes_per_s + 0.5 * rate : rate;
    }
}

double flor__policy_overhead(const flor__policy *p, double now)
{
    double elapsed = now - p->t_start;
    return elapsed > 0 ? p->stall_total / elapsed : 0;
}
