/*
 * loop.c -- named loops and the loop context.
 *
 * The run keeps a stack of open loops; stack[d].ctx is the context id of
 * loop d's current iteration (0 before its first).  Each iteration gets a
 * fresh id, but its REC_CTX record (loop name, iteration, parent) is
 * emitted lazily, by the first log made inside it: a step loop that logs
 * every 500th step writes 1 loops row per 500 iterations, not 500.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

#define MAX_DEPTH ((int)(sizeof flor__R.stack / sizeof flor__R.stack[0]))

/* Replay: where the checkpointed loop starts (FIRST: where the program
 * starts it), and whether a loop nested in one of its iterations runs or
 * is replaced by a restore. */
static void replay_begin(flor_loop *l, long first)
{
    int d = l->depth;
    if (flor__P.phase == FLOR__PHASE_FAILED) {
        l->n = 0; /* a restore failed: run nothing more */
        return;
    }
    if (d == flor__R.ckpt_depth) {
        long planned;
        long resume = flor__replay_plan(l->name, l->n, &planned);
        if (resume >= 0 && resume < first - 1)
            resume = -1; /* before the program's own start: of no use */
        l->i = (resume >= 0 ? resume + 1 : first) - 1;
        if (resume >= 0) {
            if (flor__replay_restore(resume) != 0) {
                flor__replay_fail();
                l->n = 0;
                return;
            }
            flor__P.restored_for = resume;
        }
        if (l->n < 0 || l->n > flor__P.seg_end)
            l->n = flor__P.seg_end;
        return;
    }
    if (flor__R.ckpt_depth >= 0 && d > flor__R.ckpt_depth)
        flor__replay_frontier_begin(l);
    if (flor__R.ckpt_depth < 0 || d != flor__R.ckpt_depth + 1 || flor__replay_probed(l->name))
        return;
    long it = flor__R.stack[flor__R.ckpt_depth].iteration;
    if (flor__R.stack[flor__R.ckpt_depth].ctx == 0 || !flor__replay_has_checkpoint(it))
        return; /* no checkpoint: the loop runs, rebuilding the state */
    if (flor__P.restored_for != it) {
        if (flor__replay_restore(it) != 0) {
            flor__replay_fail();
            l->n = 0;
            return;
        }
        flor__P.restored_for = it;
    }
    flor__P.restored_mid = it; /* restored again at the iteration's end */
    l->n = 0; /* its effects are in the checkpoint: no iteration runs */
}

/* A count of iterations that is neither >= 0 nor -1 (unknown) is a bad
 * input, an `--kwargs epochs=-5` say: the loop does not run (it must
 * never run forever), one line says so even under FLOR_QUIET, and the run
 * ends as failed with that reason.  COUNTED: FLOR_LOOP's form, for which
 * -1 is no more a valid count than -5. */
static int bad_count(const char *name, long n, int counted)
{
    if (n >= 0 || (n == -1 && !counted))
        return 0;
    char msg[256];
    snprintf(msg, sizeof msg, "loop '%s': expected a number of iterations >= 0, got %ld: the "
                              "loop does not run", name ? name : "", n);
    flor__loss("%s", msg);
    flor__run_taint(msg);
    return 1;
}

static flor_loop begin(const char *name, long n, long first, int counted)
{
    if (first < 0)
        first = 0;
    if (bad_count(name, n, counted))
        n = 0;
    flor_loop l = {name, n, first - 1, -1, 1};
    if (!flor__recording() || !pthread_equal(pthread_self(), flor__R.owner) || !name)
        return l;
    if (flor__R.depth >= MAX_DEPTH) {
        flor__warn("loop '%s' nests deeper than %d loops: its iterations are not recorded", name,
                   MAX_DEPTH);
        return l;
    }
    uint32_t id;
    if (flor__name_intern(name, &id) != 0)
        return l;
    if (flor__R.depth == 0 && !flor__R.loops_started) {
        flor__R.loops_started = 1;
        flor__kwargs_check_unused();
    }
    int d = flor__R.depth++;
    if (flor__R.ckpt_depth < 0 &&
        (flor__R.ckpt_loop ? strcmp(flor__R.ckpt_loop, name) == 0 : d == 0)) {
        flor__R.ckpt_depth = d;
        if (!flor__R.ckpt_started) {
            flor__R.ckpt_started = 1;
            flor__policy_init(&flor__R.policy, flor__policy_budget_from_env(), flor__mono());
            flor__policy_set_every(&flor__R.policy, flor__R.every_n, flor__R.every_s);
        }
    }
    flor__R.stack[d].name = id;
    flor__R.stack[d].ctx = 0;
    flor__R.stack[d].emitted = 0;
    l.depth = d;
    if (flor__P.on)
        replay_begin(&l, first);
    return l;
}

flor_loop flor_loop_begin(const char *name, long n) { return begin(name, n, 0, 0); }

flor_loop flor_loop_range(const char *name, long n) { return begin(name, n, 0, 1); }

flor_loop flor_loop_begin_at(const char *name, long n, long first)
{
    return begin(name, n, first, 0);
}

/* "epoch=3" or "epoch=3,step=100": the path to loop D's current iteration. */
static void coords(int d, char *out, size_t n)
{
    size_t len = 0;
    out[0] = 0;
    for (int k = 0; k <= d && len < n; k++)
        len += (size_t)snprintf(out + len, n - len, "%s%s=%ld", k ? "," : "",
                                flor__name_str(flor__R.stack[k].name), flor__R.stack[k].iteration);
}

/* Set by flor_loop_abort while it closes its loop. */
static int aborting;

/* The end of iteration l->i of the checkpointed loop in a replay: when a
 * nested loop of the iteration was skipped, the state was restored from
 * the iteration's checkpoint before the rest of the body ran; the body
 * may have changed it since (a scheduler step, random draws), so it is
 * restored again, and the next iteration starts from the state the
 * record had. */
static void replay_iteration_ends(const flor_loop *l)
{
    if (flor__P.restored_mid != l->i)
        return;
    flor__P.restored_mid = -1;
    if (aborting || flor__P.phase == FLOR__PHASE_FAILED)
        return;
    if (flor__replay_restore_again(l->i) != 0)
        flor__replay_fail();
}

/* The end of iteration l->i of loop L: checkpoint it if it is the
 * checkpointed loop (not when an abort closes it: it did not complete). */
static void iteration_ends(const flor_loop *l, int last)
{
    if (l->i < 0 || l->depth != flor__R.ckpt_depth || !flor__recording() ||
        flor__R.stack[l->depth].ctx == 0)
        return; /* ctx 0: before the first iteration (of a loop begun at FIRST) */
    if (flor__P.on) {
        /* state restored before this iteration that the program did not
         * register in it: what follows would not be the record's */
        if (!aborting && flor__P.phase != FLOR__PHASE_FAILED && flor__restore_pending_left()) {
            flor__replay_fail();
            return;
        }
        replay_iteration_ends(l);
        return;
    }
    if (aborting)
        return;
    char where[512];
    coords(l->depth, where, sizeof where);
    flor__ckpt_take(l->name, l->i, where, last);
}

bool flor_loop_next(flor_loop *l, long *i)
{
    if (!l->active)
        return false;
    if (l->n >= 0 && l->i + 1 >= l->n) {
        flor_loop_end(l);
        return false;
    }
    if (l->depth >= 0) {
        iteration_ends(l, 0);
        if (flor__P.on && flor__P.phase == FLOR__PHASE_FAILED && l->depth == flor__R.ckpt_depth &&
            flor__recording()) {
            flor_loop_end(l); /* a restore failed: no more iterations */
            return false;
        }
        if (flor__P.on && flor__P.every_n > 0 && l->depth == flor__R.ckpt_depth &&
            flor__recording() && flor__P.phase != FLOR__PHASE_FAILED) {
            if (flor__replay_skip(&l->i) != 0) {
                flor__replay_fail();
                flor_loop_end(l);
                return false;
            }
            if (l->n >= 0 && l->i + 1 >= l->n) {
                flor_loop_end(l);
                return false;
            }
        }
    }
    l->i++;
    *i = l->i;
    int d = l->depth;
    if (d < 0 || !flor__recording())
        return true;
    flor__R.depth = d + 1; /* closes inner loops left open by a jump */
    if (flor__R.ckpt_depth > d)
        flor__R.ckpt_depth = -1;
    flor__R.stack[d].ctx = ++flor__R.next_ctx;
    flor__R.stack[d].iteration = l->i;
    flor__R.stack[d].emitted = 0;
    if (flor__P.on && d == flor__R.ckpt_depth && flor__P.phase != FLOR__PHASE_FAILED)
        flor__P.phase = l->i < flor__P.seg_start ? FLOR__PHASE_CATCHUP : FLOR__PHASE_NORMAL;
    return true;
}

int64_t flor__loop_context(void)
{
    int d = flor__R.depth - 1;
    while (d >= 0 && flor__R.stack[d].ctx == 0)
        d--; /* a loop before its first iteration adds no context */
    if (d < 0)
        return 0;
    if (!flor__R.stack[d].emitted) {
        /* emit the unemitted suffix of the path, outermost first */
        int first = d;
        while (first > 0 && (flor__R.stack[first - 1].ctx == 0 || !flor__R.stack[first - 1].emitted))
            first--;
        int64_t parent = 0;
        for (int k = 0; k < first; k++)
            if (flor__R.stack[k].ctx)
                parent = flor__R.stack[k].ctx;
        for (int k = first; k <= d; k++) {
            if (flor__R.stack[k].ctx == 0)
                continue;
            if (!flor__R.stack[k].emitted) {
                flor__rec r = {.kind = FLOR__REC_CTX, .type = FLOR_INTEGER,
                               .name = flor__R.stack[k].name, .ctx = flor__R.stack[k].ctx,
                               .parent = parent};
                r.v.i = flor__R.stack[k].iteration;
                if (flor__emit(&r, NULL, 0) != 0)
                    return flor__R.stack[k].ctx;
                flor__R.stack[k].emitted = 1;
            }
            parent = flor__R.stack[k].ctx;
        }
    }
    return flor__R.stack[d].ctx;
}

void flor_loop_end(flor_loop *l)
{
    if (!l->active)
        return;
    l->active = 0;
    if (l->depth < 0 || !flor__recording() || flor__R.depth <= l->depth)
        return; /* not recorded, or already closed by an enclosing loop */
    flor__R.depth = l->depth + 1; /* inner loops left open close with it */
    iteration_ends(l, 1);
    if (flor__P.on)
        flor__replay_frontier_end(l);
    if (flor__R.ckpt_depth == l->depth) {
        flor__R.ckpt_depth = -1;
        /* after a segment that is not the last, the program's state is not
         * the run's final state: what it logs next is not compared */
        if (flor__P.on && flor__P.phase != FLOR__PHASE_FAILED)
            flor__P.phase = flor__P.seg_pid + 1 < flor__P.seg_n || flor__P.truncated
                                ? FLOR__PHASE_AFTER
                                : FLOR__PHASE_NORMAL;
    }
    flor__R.depth = l->depth;
}

void flor_loop_abort(flor_loop *l)
{
    aborting = 1;
    flor_loop_end(l);
    aborting = 0;
}
