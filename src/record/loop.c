/*
 * loop.c -- named loops and the loop context.
 *
 * The run keeps a stack of open loops; stack[d].ctx is the context id of
 * loop d's current iteration (0 before its first).  Each iteration gets a
 * fresh id, but its REC_CTX record is emitted lazily, by the first log
 * made inside it (flor__loop_context in log.c).  The end of an iteration
 * of the checkpointed loop takes a checkpoint; in a replay, the replay's
 * hooks (flor__R.replay) decide instead.  flor_checkpoint_loop and
 * flor_checkpoint_every choose that loop and its cadence.
 */
#include "record/record.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH ((int)(sizeof flor__R.stack / sizeof flor__R.stack[0]))

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
    if (flor__R.replay)
        flor__R.replay->loop_begin(&l, first);
    else if (flor__R.resume)
        flor__R.resume(&l); /* on the checkpoint's path: it moves the loop on */
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

/* The end of iteration l->i of loop L: checkpoint it if it is the
 * checkpointed loop (not when an abort closes it: it did not complete). */
static void iteration_ends(const flor_loop *l, int last)
{
    if (l->i < 0 || l->depth != flor__R.ckpt_depth || !flor__recording() ||
        flor__R.stack[l->depth].ctx == 0)
        return; /* ctx 0: before the first iteration (of a loop begun at FIRST) */
    if (flor__R.replay) {
        flor__R.replay->iteration_end(l, aborting);
        return;
    }
    if (aborting)
        return;
    char where[512];
    coords(l->depth, where, sizeof where);
    flor__ckpt_take(&flor__R.policy, l->name, l->i, where, last);
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
        if (flor__R.replay && l->depth == flor__R.ckpt_depth && flor__recording() &&
            flor__R.replay->next(l)) {
            flor_loop_end(l); /* the replay needs no more iterations */
            return false;
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
    flor__R.stack[d].vtype = FLOR_NULL;
    if (flor__R.resume_ctx) {
        int64_t again = flor__R.resume_ctx(l);
        if (again) { /* its loops row is saved already */
            flor__R.stack[d].ctx = again;
            flor__R.stack[d].emitted = 1;
        }
    }
    if (flor__R.replay && d == flor__R.ckpt_depth)
        flor__R.replay->iteration_begin(l);
    return true;
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
    if (flor__R.replay)
        flor__R.replay->loop_end(l);
    if (flor__R.ckpt_depth == l->depth)
        flor__R.ckpt_depth = -1;
    flor__R.depth = l->depth;
}

void flor_loop_abort(flor_loop *l)
{
    aborting = 1;
    flor_loop_end(l);
    aborting = 0;
}

/* ---- the value of an iteration ---------------------------------------------- */

/* The stack entry of L's current iteration, when its value can still be
 * recorded (0 when not recording: nothing to do); an error otherwise. */
static int value_slot(const flor_loop *l, int *d)
{
    *d = -1;
    if (!l)
        return flor__err(FLOR_EINVAL, "flor_loop_value: NULL loop");
    if (!l->active || l->i < 0)
        return flor__err(FLOR_EUSAGE, "flor_loop_value: loop '%s' is not in an iteration",
                         l->name ? l->name : "");
    if (l->depth < 0 || !flor__recording() || flor__R.depth <= l->depth ||
        !pthread_equal(pthread_self(), flor__R.owner) || flor__R.stack[l->depth].ctx == 0)
        return 0; /* not recorded */
    if (flor__R.stack[l->depth].emitted && flor__R.resume_ctx)
        return 0; /* an iteration a resume goes on in: its row has its value */
    if (flor__R.stack[l->depth].emitted)
        return flor__err(FLOR_EUSAGE, "flor_loop_value: iteration %ld of loop '%s' has logged "
                                      "already: its value must be given before its first log",
                         l->i, l->name ? l->name : "");
    *d = l->depth;
    return 0;
}

/* The one path of the flor_loop_value_* variants. */
static int set_value(flor_loop *l, const flor__value *v)
{
    int d, rc = value_slot(l, &d);
    if (rc || d < 0)
        return rc;
    if (v->type == FLOR_TEXT) {
        size_t n = strlen(v->v.s) + 1;
        if (n > flor__R.stack[d].text_cap) {
            char *t = realloc(flor__R.stack[d].text, n);
            if (!t)
                return flor__err(FLOR_ENOMEM, "out of memory");
            flor__R.stack[d].text = t;
            flor__R.stack[d].text_cap = n;
        }
        memcpy(flor__R.stack[d].text, v->v.s, n);
    } else if (v->type == FLOR_INTEGER) {
        flor__R.stack[d].v.i = v->v.i;
    } else if (v->type == FLOR_REAL) {
        flor__R.stack[d].v.r = v->v.r;
    }
    flor__R.stack[d].vtype = (uint8_t)v->type;
    return 0;
}

int flor_loop_value_int64(flor_loop *l, int64_t value)
{
    flor__value v = {.type = FLOR_INTEGER, .v.i = value};
    return set_value(l, &v);
}

int flor_loop_value_double(flor_loop *l, double value)
{
    flor__value v = {.type = FLOR_REAL, .v.r = value};
    return set_value(l, &v);
}

int flor_loop_value_text(flor_loop *l, const char *value)
{
    flor__value v = {.type = value ? FLOR_TEXT : FLOR_NULL, .v.s = value};
    return set_value(l, &v);
}

/* ---- which loop is checkpointed, and how often ---------------------------- */

int flor_checkpoint_loop(const char *loop)
{
    if (!loop || !*loop)
        return flor__err(FLOR_EINVAL, "flor_checkpoint_loop: the loop name must be non-empty");
    char *copy = flor__strdup(loop);
    if (!copy)
        return flor__err(FLOR_ENOMEM, "out of memory");
    free(flor__R.ckpt_loop);
    flor__R.ckpt_loop = copy;
    return 0;
}

int flor_checkpoint_every(const char *loop, long iterations, double seconds)
{
    if (iterations < 0 || !(seconds >= 0) || !isfinite(seconds))
        return flor__err(FLOR_EINVAL,
                         "flor_checkpoint_every: expected iterations >= 0 and seconds >= 0, got "
                         "%ld and %g",
                         iterations, seconds);
    if (loop && *loop) {
        int rc = flor_checkpoint_loop(loop);
        if (rc)
            return rc;
    }
    flor__R.every_n = iterations;
    flor__R.every_s = seconds;
    if (flor__R.ckpt_started) /* the loop runs already: from its next iteration on */
        flor__policy_set_every(&flor__R.policy, iterations, seconds);
    return 0;
}
