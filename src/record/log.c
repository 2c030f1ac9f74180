/*
 * log.c -- the training thread's side of recording: the append of a
 * record into the current block, the loop context of a log, and
 * flor_log().
 *
 * The hot path (flor_log_*) hashes the name, copies a fixed-size record
 * (and, for text, the bytes) into the current block, and publishes it
 * with one release store.  It allocates only when a name is new or a
 * block fills up and the writer has no free block to hand back.
 */
#include "record/record.h"

#include <stdlib.h>
#include <string.h>

/* ---- records ------------------------------------------------------------ */

/* Appends the NR records R (1 or 2) to the current block, all in it, and
 * publishes them by one release store; TEXT, if any, is the last one's. */
static inline int emit(const flor__rec *r, uint32_t nr, const char *text, size_t textlen)
{
    flor__block *b = flor__writer_current(flor__R.writer);
    uint32_t n = atomic_load_explicit(&b->nrec, memory_order_relaxed);
    if (n + nr > FLOR__BLOCK_RECS || (text && b->text_used + textlen + 1 > b->text_cap)) {
        b = flor__writer_rotate(flor__R.writer, text ? textlen + 1 : 0);
        if (!b)
            return FLOR_ENOMEM;
        n = 0;
    }
    for (uint32_t k = 0; k < nr; k++)
        b->recs[n + k] = r[k];
    if (text) {
        flor__rec *slot = &b->recs[n + nr - 1];
        memcpy(b->text + b->text_used, text, textlen);
        b->text[b->text_used + textlen] = 0;
        slot->v.s.off = b->text_used;
        slot->v.s.len = (uint32_t)textlen;
        b->text_used += (uint32_t)textlen + 1;
    }
    atomic_store_explicit(&b->nrec, n + nr, memory_order_release);
    return 0;
}

int flor__emit(const flor__rec *r, const char *text, size_t textlen)
{
    return emit(r, 1, text, textlen);
}

/* The REC_CTX record of loop K's current iteration under PARENT, with
 * its value's REC_CTXVAL record after it when it has one. */
static int emit_ctx(int k, int64_t parent)
{
    flor__rec r[2] = {{.kind = FLOR__REC_CTX, .type = FLOR_INTEGER, .name = flor__R.stack[k].name,
                       .ctx = flor__R.stack[k].ctx, .parent = parent}};
    r[0].v.i = flor__R.stack[k].iteration;
    uint8_t t = flor__R.stack[k].vtype;
    if (t == FLOR_NULL)
        return emit(r, 1, NULL, 0);
    r[0].aux = FLOR__CTX_VALUED;
    r[1] = (flor__rec){.kind = FLOR__REC_CTXVAL, .type = t, .ctx = flor__R.stack[k].ctx};
    if (t == FLOR_INTEGER)
        r[1].v.i = flor__R.stack[k].v.i;
    else if (t == FLOR_REAL)
        r[1].v.r = flor__R.stack[k].v.r;
    const char *text = t == FLOR_TEXT ? flor__R.stack[k].text : NULL;
    return emit(r, 2, text, text ? strlen(text) : 0);
}

/* The context id of a log made now.  The run keeps a stack of open loops;
 * stack[d].ctx is the context id of loop d's current iteration (0 before
 * its first).  An iteration's REC_CTX record (loop name, iteration,
 * parent) is emitted lazily, by the first log made inside it: a step loop
 * that logs every 500th step writes 1 loops row per 500 iterations. */
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
                if (emit_ctx(k, parent) != 0)
                    return flor__R.stack[k].ctx;
                flor__R.stack[k].emitted = 1;
            }
            parent = flor__R.stack[k].ctx;
        }
    }
    return flor__R.stack[d].ctx;
}

/* One log of V under NAME: the one path of every flor_log_* variant.
 * Inlined into each variant, where V's type is a constant, so the hot
 * path keeps no switch on it. */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline int log_value(const char *name, const flor__value *v)
{
    if (!pthread_equal(pthread_self(), flor__R.owner))
        return flor__err(FLOR_EUSAGE, "flor_log('%s') from a thread other than flor_init's",
                         name ? name : "");
    if (!name || !*name)
        return flor__err(FLOR_EINVAL, "flor_log: the name must be a non-empty string");
    flor__rec r;
    r.kind = FLOR__REC_LOG;
    r.aux = (uint16_t)flor__R.phase; /* always 0 when recording */
    r.ctx = flor__R.depth ? flor__loop_context() : 0;
    r.parent = 0;
    int rc = flor__name_intern(name, &r.name);
    if (rc)
        return rc;
    r.type = (uint8_t)v->type;
    switch (v->type) {
    case FLOR_INTEGER:
        r.v.i = v->v.i;
        break;
    case FLOR_REAL:
        r.v.r = v->v.r;
        break;
    case FLOR_TEXT:
        return flor__emit(&r, v->v.s, strlen(v->v.s));
    default:
        break;
    }
    return flor__emit(&r, NULL, 0);
}

int flor_log_int64(const char *name, int64_t value)
{
    if (!flor__recording())
        return 0;
    flor__value v = {.type = FLOR_INTEGER, .v.i = value};
    return log_value(name, &v);
}

/* long long is int64_t's width on every platform flor builds on. */
int flor_log_long(const char *name, long long value)
{
    return flor_log_int64(name, (int64_t)value);
}

int flor_log_double(const char *name, double value)
{
    if (!flor__recording())
        return 0;
    flor__value v = {.type = FLOR_REAL, .v.r = value};
    return log_value(name, &v);
}

int flor_log_text(const char *name, const char *value)
{
    if (!flor__recording())
        return 0;
    flor__value v = {.type = value ? FLOR_TEXT : FLOR_NULL, .v.s = value};
    return log_value(name, &v);
}
