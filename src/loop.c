/*
 * loop.c -- named loops and the loop context.
 *
 * The run keeps a stack of open loops.  stack[d].ctx is the context of
 * loop d's current iteration (its parent's context before the first
 * iteration), so the context of a log is simply the top of the stack.
 * Each iteration gets a fresh context id, recorded as one REC_CTX record
 * (loop name, iteration, parent context).
 */
#include "internal.h"

#define MAX_DEPTH ((int)(sizeof flor__R.stack / sizeof flor__R.stack[0]))

flor_loop flor_loop_begin(const char *name, long n)
{
    flor_loop l = {name, n, -1, -1, 1};
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
    flor__R.stack[d].name = id;
    flor__R.stack[d].ctx = d > 0 ? flor__R.stack[d - 1].ctx : 0;
    l.depth = d;
    return l;
}

bool flor_loop_next(flor_loop *l, long *i)
{
    if (!l->active)
        return false;
    if (l->n >= 0 && l->i + 1 >= l->n) {
        flor_loop_end(l);
        return false;
    }
    l->i++;
    *i = l->i;
    int d = l->depth;
    if (d < 0 || !flor__recording())
        return true;
    flor__R.depth = d + 1; /* closes inner loops left open by a jump */
    int64_t parent = d > 0 ? flor__R.stack[d - 1].ctx : 0;
    int64_t ctx = ++flor__R.next_ctx;
    flor__R.stack[d].ctx = ctx;
    flor__rec r = {.kind = FLOR__REC_CTX, .type = FLOR_INTEGER, .name = flor__R.stack[d].name,
                   .ctx = ctx, .parent = parent};
    r.v.i = l->i;
    flor__emit(&r, NULL, 0);
    return true;
}

void flor_loop_end(flor_loop *l)
{
    if (!l->active)
        return;
    l->active = 0;
    if (l->depth >= 0 && flor__recording() && flor__R.depth > l->depth)
        flor__R.depth = l->depth;
}
