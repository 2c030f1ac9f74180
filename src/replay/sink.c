/*
 * sink.c -- the replay's record sink: the log writer hands it every record
 * (on the writer's thread, inside its transaction).  A value under a name
 * the run recorded is compared with the recorded one at the same loop
 * coordinates and occurrence -- bitwise for reals unless
 * FLOR_REPLAY_TOLERANCE is set -- and a mismatch is a divergence.  A value
 * under a new name is stored under the original run with source 'replay',
 * its loop context mapped to the run's own (created when the record did
 * not log there), replacing the value of an earlier replay at the same
 * place.
 */
#include "replay/replay.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- a small string-keyed hash map ---------------------------------------- */

typedef struct rval {
    flor_type type;
    int64_t i;
    double r;
    char *s;
} rval;

typedef struct sent {
    char *key;
    uint64_t h;
    rval v;
    long count;
} sent;

typedef struct smap {
    sent *e;
    size_t cap, n;
} smap;

static sent *smap_find(smap *m, const char *key, int create)
{
    uint64_t h = flor__hash_str(key) | 1; /* 0 marks an empty slot */
    if (create && (m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        sent *e = calloc(cap, sizeof *e);
        if (!e)
            return NULL;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->e[i].h)
                continue;
            size_t j = m->e[i].h & (cap - 1);
            while (e[j].h)
                j = (j + 1) & (cap - 1);
            e[j] = m->e[i];
        }
        free(m->e);
        m->e = e;
        m->cap = cap;
    }
    if (!m->cap)
        return NULL;
    for (size_t j = h & (m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
        if (!m->e[j].h) {
            if (!create)
                return NULL;
            m->e[j].key = flor__strdup(key);
            if (!m->e[j].key)
                return NULL;
            m->e[j].h = h;
            m->n++;
            return &m->e[j];
        }
        if (m->e[j].h == h && strcmp(m->e[j].key, key) == 0)
            return &m->e[j];
    }
}

static void smap_free(smap *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        free(m->e[i].key);
        free(m->e[i].v.s);
    }
    free(m->e);
    memset(m, 0, sizeof *m);
}

/* ---- state ------------------------------------------------------------------- */

/* The writer's view of an in-memory loop context. */
typedef struct wctx {
    int64_t ctx, parent, dbctx;
    uint32_t name;
    long iteration;
    char *coords;
} wctx;

static smap recorded;   /* "coords\037name\037occurrence" -> value */
static smap names;      /* names the run recorded */
static smap seen;       /* "coords\037name" -> occurrences so far in this replay */
static smap known;      /* coords -> the run's ctx_id there (in `count`) */
static wctx *ctxs;      /* in-memory contexts (hash by ctx id) */
static size_t nctx_cap, nctx;
static flor__replay_rows wst; /* the writer's statements */
static double tolerance;

static wctx *ctx_slot(int64_t ctx, int create)
{
    if (create && (nctx + 1) * 2 > nctx_cap) {
        size_t cap = nctx_cap ? nctx_cap * 2 : 1024;
        wctx *e = calloc(cap, sizeof *e);
        if (!e)
            return NULL;
        for (size_t i = 0; i < nctx_cap; i++) {
            if (!ctxs[i].ctx)
                continue;
            size_t j = (size_t)ctxs[i].ctx * 0x9e3779b97f4a7c15ull & (cap - 1);
            while (e[j].ctx)
                j = (j + 1) & (cap - 1);
            e[j] = ctxs[i];
        }
        free(ctxs);
        ctxs = e;
        nctx_cap = cap;
    }
    if (!nctx_cap)
        return NULL;
    for (size_t j = (size_t)ctx * 0x9e3779b97f4a7c15ull & (nctx_cap - 1);;
         j = (j + 1) & (nctx_cap - 1)) {
        if (ctxs[j].ctx == ctx)
            return &ctxs[j];
        if (!ctxs[j].ctx) {
            if (!create)
                return NULL;
            ctxs[j].ctx = ctx;
            nctx++;
            return &ctxs[j];
        }
    }
}

typedef struct lrow {
    int64_t parent;
    char *name;
    long iteration;
    char *coords;
} lrow;

/* Coordinates of a recorded context, "epoch=3/step=100", memoized. */
static const char *rec_coords(lrow *rows, int64_t nrows, int64_t ctx, int depth)
{
    if (ctx <= 0 || ctx > nrows || !rows[ctx - 1].name || depth > 64)
        return "";
    lrow *r = &rows[ctx - 1];
    if (!r->coords) {
        const char *up = rec_coords(rows, nrows, r->parent, depth + 1);
        r->coords = *up ? flor__printf("%s/%s=%ld", up, r->name, r->iteration)
                        : flor__printf("%s=%ld", r->name, r->iteration);
    }
    return r->coords ? r->coords : "";
}

/* What the sink reads of the run: its loops rows by ctx id, then its
 * values, keyed by coordinates, name and occurrence. */
typedef struct loader {
    lrow *rows;
    int64_t maxctx;
    flor__buf key;
} loader;

static void load_loop(void *arg, int64_t c, int64_t parent, const char *name, long iteration)
{
    loader *L = arg;
    if (c < 1 || c > L->maxctx)
        return;
    L->rows[c - 1].parent = parent;
    L->rows[c - 1].name = flor__strdup(name);
    L->rows[c - 1].iteration = iteration;
}

static void load_loops_done(void *arg)
{
    loader *L = arg;
    for (int64_t c = 1; c <= L->maxctx; c++) {
        const char *coords = rec_coords(L->rows, L->maxctx, c, 0);
        sent *k = *coords ? smap_find(&known, coords, 1) : NULL;
        if (k && !k->count)
            k->count = (long)c;
    }
}

static int load_log(void *arg, int64_t ctx, const char *name, const flor__value *v)
{
    loader *L = arg;
    const char *coords = rec_coords(L->rows, L->maxctx, ctx, 0);
    L->key.len = 0;
    flor__buf_printf(&L->key, "%s\037%s", coords, name);
    sent *occ = smap_find(&seen, L->key.p, 1);
    sent *nm = smap_find(&names, name, 1);
    if (!occ || !nm)
        return flor__err(FLOR_ENOMEM, "out of memory");
    flor__buf_printf(&L->key, "\037%ld", occ->count++);
    sent *e = smap_find(&recorded, L->key.p, 1);
    if (!e)
        return flor__err(FLOR_ENOMEM, "out of memory");
    e->v.type = v->type;
    if (v->type == FLOR_INTEGER)
        e->v.i = v->v.i;
    else if (v->type == FLOR_REAL)
        e->v.r = v->v.r;
    else if (v->type == FLOR_TEXT)
        e->v.s = flor__strdup(v->v.s);
    return 0;
}

int flor__replay_sink_load(sqlite3 *db)
{
    loader L = {NULL, 0, {0}};
    int rc = flor__loops_max_ctx(db, flor__P.run_id, &L.maxctx);
    if (rc)
        return rc;
    if (!(L.rows = calloc((size_t)L.maxctx + 1, sizeof *L.rows)))
        return flor__err(FLOR_ENOMEM, "out of memory");
    flor__records_visitor v = {&L, load_loop, load_loops_done, load_log};
    rc = flor__records_read(db, flor__P.run_id, &v);
    flor__buf_release(&L.key);
    if (!rc) {
        /* the occurrence counters start again for the replay itself */
        smap_free(&seen);
        const char *tol = getenv("FLOR_REPLAY_TOLERANCE");
        tolerance = tol && *tol ? atof(tol) : 0;
    }
    for (int64_t c = 0; c < L.maxctx; c++) {
        free(L.rows[c].name);
        free(L.rows[c].coords);
    }
    free(L.rows);
    return rc;
}

/* ---- the writer's side ---------------------------------------------------------- */

static int prepare(sqlite3 *db)
{
    if (wst.put_log)
        return SQLITE_OK;
    return flor__replay_rows_prepare(&wst, db);
}

static const char *coords_of(int64_t ctx)
{
    if (!ctx)
        return "";
    wctx *c = ctx_slot(ctx, 0);
    return c && c->coords ? c->coords : "";
}

/* The run's own context id for in-memory context CTX, created if the
 * record never logged there.  0 for no context. */
static int resolve(sqlite3 *db, int64_t ctx, int64_t *out, int depth)
{
    *out = 0;
    if (!ctx)
        return SQLITE_OK;
    wctx *c = ctx_slot(ctx, 0);
    if (!c || depth > 64)
        return SQLITE_OK;
    if (c->dbctx) {
        *out = c->dbctx;
        return SQLITE_OK;
    }
    sent *k = c->coords ? smap_find(&known, c->coords, 0) : NULL;
    if (k && k->count) {
        *out = c->dbctx = k->count;
        return SQLITE_OK;
    }
    int64_t parent;
    int rc = resolve(db, c->parent, &parent, depth + 1);
    if (rc != SQLITE_OK)
        return rc;
    rc = flor__loops_find_or_add(&wst, flor__P.run_id, parent, flor__name_str(c->name),
                                 c->iteration, &c->dbctx);
    if (rc != SQLITE_OK)
        return rc;
    *out = c->dbctx;
    return SQLITE_OK;
}

static void describe(char *out, size_t n, flor_type t, int64_t i, double r, const char *s)
{
    switch (t) {
    case FLOR_INTEGER: snprintf(out, n, "%lld", (long long)i); break;
    case FLOR_REAL: snprintf(out, n, "%.17g", r); break;
    case FLOR_TEXT: snprintf(out, n, "'%s'", s); break;
    default: snprintf(out, n, "NULL");
    }
}

static int same(const rval *want, flor_type t, int64_t i, double r, const char *s)
{
    /* a NaN is stored as the text 'NaN' (flor__bind_real) */
    if (want->type == FLOR_TEXT && t == FLOR_REAL && isnan(r))
        return want->s && strcmp(want->s, FLOR__NAN_TEXT) == 0;
    if (want->type != t)
        return want->type == FLOR_REAL && t == FLOR_REAL;
    switch (t) {
    case FLOR_INTEGER: return want->i == i;
    case FLOR_REAL:
        if (tolerance > 0)
            return fabs(want->r - r) <= tolerance * fmax(1.0, fabs(want->r));
        return memcmp(&want->r, &r, sizeof r) == 0 || (isnan(want->r) && isnan(r));
    case FLOR_TEXT: return strcmp(want->s ? want->s : "", s ? s : "") == 0;
    default: return 1;
    }
}

static int compare(sqlite3 *db, const char *coords, const char *name, long occ, flor_type t,
                   int64_t i, double r, const char *s)
{
    char key[1024];
    snprintf(key, sizeof key, "%s\037%s\037%ld", coords, name, occ);
    sent *e = smap_find(&recorded, key, 0);
    flor__P.compared++;
    if (e && same(&e->v, t, i, r, s))
        return SQLITE_OK;
    flor__P.divergences++;
    char want[128], got[128];
    if (e)
        describe(want, sizeof want, e->v.type, e->v.i, e->v.r, e->v.s);
    else
        snprintf(want, sizeof want, "nothing");
    describe(got, sizeof got, t, i, r, s);
    if (!flor__P.first_divergence)
        flor__P.first_divergence = flor__printf("%s at %s: recorded %s, replayed %s", name,
                                                *coords ? coords : "(outside loops)", want, got);
    if (flor__P.divergences > 100)
        return SQLITE_OK; /* keep the first hundred in detail */
    (void)db;
    return flor__divergences_insert(&wst, flor__P.replay_id, coords, name, want, got);
}

int flor__replay_record(sqlite3 *db, const flor__block *b, const flor__rec *r)
{
    int rc = prepare(db);
    if (rc != SQLITE_OK)
        return rc;
    if (r->kind == FLOR__REC_CTX) {
        wctx *c = ctx_slot(r->ctx, 1);
        if (!c)
            return SQLITE_NOMEM;
        c->parent = r->parent;
        c->name = r->name;
        c->iteration = (long)r->v.i;
        const char *up = coords_of(r->parent);
        c->coords = *up ? flor__printf("%s/%s=%ld", up, flor__name_str(r->name), c->iteration)
                        : flor__printf("%s=%ld", flor__name_str(r->name), c->iteration);
        return c->coords ? SQLITE_OK : SQLITE_NOMEM;
    }
    if (r->kind != FLOR__REC_LOG || r->aux == FLOR__PHASE_AFTER || r->aux == FLOR__PHASE_FAILED)
        return SQLITE_OK;
    const char *name = flor__name_str(r->name);
    const char *coords = coords_of(r->ctx);
    const char *text = r->type == FLOR_TEXT ? b->text + r->v.s.off : NULL;
    char key[1024];
    snprintf(key, sizeof key, "%s\037%s", coords, name);
    sent *occ = smap_find(&seen, key, 1);
    if (!occ)
        return SQLITE_NOMEM;
    long k = occ->count++;
    if (smap_find(&names, name, 0))
        return compare(db, coords, name, k, (flor_type)r->type, r->v.i, r->v.r, text);
    if (r->aux == FLOR__PHASE_CATCHUP)
        return SQLITE_OK; /* another segment stores these */
    int64_t dbctx;
    if ((rc = resolve(db, r->ctx, &dbctx, 0)) != SQLITE_OK)
        return rc;
    flor__value v = {.type = (flor_type)r->type};
    if (r->type == FLOR_INTEGER)
        v.v.i = r->v.i;
    else if (r->type == FLOR_REAL)
        v.v.r = r->v.r;
    else if (r->type == FLOR_TEXT)
        v.v.s = text;
    if ((rc = flor__logs_put_replay(&wst, flor__P.run_id, dbctx, name, &v)) != SQLITE_OK)
        return rc;
    flor__P.new_values++;
    return SQLITE_OK;
}

void flor__replay_sink_release(void)
{
    flor__replay_rows_finalize(&wst);
    smap_free(&recorded);
    smap_free(&names);
    smap_free(&seen);
    smap_free(&known);
    for (size_t i = 0; i < nctx_cap; i++)
        free(ctxs[i].coords);
    free(ctxs);
    ctxs = NULL;
    nctx = nctx_cap = 0;
}
