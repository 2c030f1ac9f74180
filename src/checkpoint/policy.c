/*
 * policy.c -- when to checkpoint: an overhead budget, spent at an even
 * cadence.
 *
 * A checkpoint costs the training thread its pause (the snapshot copies)
 * and costs the machine the checkpoint writer's CPU (hashing, compressing,
 * writing).  Both are charged against one budget: BUDGET times the time
 * the checkpointed loop has run.  The writer's CPU seconds are charged at
 * a weight that says how much of them came out of training:
 *
 *     weight = 1 / (1 + spare),  spare = min(idle cores, cores - 1)
 *
 * where "idle cores" is how many of the machine's cores were idle, on
 * average, while the writer worked (the checkpoint writer measures it;
 * other processes' work counts as busy).  A machine with no idle core,
 * or a single core, pays the writer's CPU in full; one with a whole idle
 * core pays half; on a large idle machine the writer is nearly free.
 *
 * At the end of each iteration the policy predicts the next checkpoint's
 * cost: the pause from the last measured one scaled by bytes (or, before
 * any, from a copy rate of 4 GB/s) plus the writer's charge from the last
 * one's per byte (not from the first checkpoint's, which has no earlier
 * one to be a delta of: it is charged, but the later ones cost less).
 * From that cost and the mean iteration time it takes
 * the affordable cadence K (the smallest K with cost <= BUDGET x K
 * iterations), rounded up to the next of 1, 2, 4, 5, 10, 20, 25, 50, 100,
 * 200, 250, 500, ... and checkpoints the iterations i with (i + 1) % K ==
 * 0: evenly spaced, never a burst after a quiet stretch, and on the steps
 * that a statement at a round period (every 100 steps) needs, so that a
 * replay restores right before each of them.  A checkpoint is taken only
 * when the charges so far plus that prediction fit in the budget earned
 * so far, so the budget never runs a deficit by more than one checkpoint.
 * Cheap snapshots thus happen every iteration.  An iteration whose
 * previous checkpoint is still being written is skipped: the writer is
 * the bottleneck and waiting for it would stall training.  The last
 * iteration is always taken, unless the budget is 0 (FLOR_OVERHEAD=0:
 * checkpoints off).
 *
 * A fixed cadence replaces the budget when the program or the job asks
 * for one (flor_checkpoint_every, FLOR_CHECKPOINT_EVERY): every N-th
 * iteration, and/or the first iteration to end T seconds after the
 * previous checkpoint.  It waits for a busy writer rather than skip.
 */
#include "checkpoint/checkpoint.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    p->iteration = 0;
    p->first = -1;
    p->cadence = 0;
    p->writer_charged = 0;
    p->writer_per_byte = 0;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    p->ncpu = n >= 1 ? n : 1;
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

static double budget_given = -1; /* --flor NAME EPSILON */

void flor__policy_budget_set(double b) { budget_given = b; }

double flor__policy_budget_from_env(void)
{
    if (budget_given >= 0)
        return budget_given;
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

double flor__policy_cost(const flor__policy *p, size_t bytes)
{
    return flor__policy_predict(p, bytes) + p->writer_per_byte * (double)bytes;
}

double flor__policy_writer_weight(long ncpu, double idle_cores)
{
    double spare = idle_cores < (double)(ncpu - 1) ? idle_cores : (double)(ncpu - 1);
    if (!(spare > 0)) /* also NaN: charge in full */
        spare = 0;
    return 1 / (1 + spare);
}

void flor__policy_writer(flor__policy *p, double cpu_s, double idle_cores, size_t bytes)
{
    if (!(cpu_s > 0))
        return;
    double charge = cpu_s * flor__policy_writer_weight(p->ncpu, idle_cores);
    p->writer_charged += charge;
    if (bytes > 0) {
        double per_byte = charge / (double)bytes;
        p->writer_per_byte =
            p->writer_per_byte > 0 ? 0.5 * p->writer_per_byte + 0.5 * per_byte : per_byte;
    }
}

/* The smallest of 1, 2, 4, 5, 10, 20, 25, 50, 100, 200, 250, 500, ...
 * (the divisors of the powers of ten) that is at least X. */
static long round_cadence(double x)
{
    static const double m0[] = {1, 2, 4, 5}, m[] = {1, 2, 2.5, 5};
    x *= 1 - 1e-9; /* 50.000000001 is 50 */
    for (int i = 0; i < 4; i++)
        if (m0[i] >= x)
            return (long)m0[i];
    for (double d = 10; d < 1e15; d *= 10)
        for (int i = 0; i < 4; i++)
            if (m[i] * d >= x)
                return (long)(m[i] * d);
    return LONG_MAX;
}

flor__decision flor__policy_decide(flor__policy *p, double now, size_t bytes, int writer_busy,
                                   int last)
{
    long it = p->iteration++;
    if (p->first < 0)
        p->first = it;
    if (p->budget <= 0) /* FLOR_OVERHEAD=0: checkpoints off, the last one too */
        return FLOR__SKIP_BUDGET;
    if (last)
        return FLOR__TAKE;
    if (writer_busy && p->budget < 1) {
        p->skipped_busy++;
        return FLOR__SKIP_BUSY;
    }
    if (p->budget >= 1)
        return FLOR__TAKE;
    double cost = flor__policy_cost(p, bytes), elapsed = now - p->t_start;
    if (p->stall_total + p->writer_charged + cost > p->budget * elapsed) {
        p->skipped_budget++;
        return FLOR__SKIP_BUDGET;
    }
    double per_iteration = elapsed / (double)(it - p->first + 1);
    p->cadence = per_iteration > 0 ? round_cadence(cost / (p->budget * per_iteration)) : 1;
    if ((it + 1) % p->cadence != 0) {
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
