/*
 * frame.c -- flor_project_dataframe(): the pivoted view of a project.
 *
 * With no names: one row per run, with its args and the last value of
 * every name logged outside any loop.
 *
 * With names: each name becomes a small frame of (run, loop coordinates,
 * value), where the coordinates come from walking loops.parent_ctx_id up
 * from the log's context.  The frames are outer-merged on their common
 * columns, as pandas' merge(how="outer") does (a NULL key equals a NULL
 * key), then sorted by run and coordinates, NULL first.  The loops of the
 * runs involved are loaded once into a hash map keyed (run, ctx), each
 * context's coordinates are computed once, and the merge is a hash join,
 * so the whole view is linear in the number of logs read (plus the size
 * of the result).
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define NIL INT64_MIN          /* a NULL coordinate or parent */
#define MAX_DEPTH 64           /* loops nest at most this deep (flor__run's stack) */

/* ---- small tools ----------------------------------------------------------- */

static int oom(void) { return flor__err(FLOR_ENOMEM, "out of memory building the dataframe"); }

/* Grows *P (of elements of SIZE) so that it holds at least NEED. */
static int grow(void *pp, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    if (c > SIZE_MAX / size)
        return oom();
    void *p = realloc(*(void **)pp, c * size);
    if (!p)
        return oom();
    *(void **)pp = p;
    *cap = c;
    return 0;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 29);
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static size_t pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n)
        c *= 2;
    return c;
}

/* ---- text arena: the strings of the values read, freed all at once --------- */

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    char data[];
} chunk;

typedef struct arena {
    chunk *head;
} arena;

static char *arena_copy(arena *a, const char *s, size_t n)
{
    chunk *c = a->head;
    if (!c || c->cap - c->used < n + 1) {
        size_t cap = n + 1 > 65536 ? n + 1 : 65536;
        if (!(c = malloc(sizeof *c + cap)))
            return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    char *p = c->data + c->used;
    memcpy(p, s, n);
    p[n] = 0;
    c->used += n + 1;
    return p;
}

static void arena_release(arena *a)
{
    for (chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    a->head = NULL;
}

/* A column's value as a cell whose text (if any) lives in the arena. */
static int read_cell(arena *a, sqlite3_stmt *st, int col, flor__cell *out)
{
    out->v.i = 0;
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_INTEGER:
        out->type = FLOR_INTEGER;
        out->v.i = sqlite3_column_int64(st, col);
        return 0;
    case SQLITE_FLOAT:
        out->type = FLOR_REAL;
        out->v.r = sqlite3_column_double(st, col);
        return 0;
    case SQLITE_TEXT:
    case SQLITE_BLOB: {
        const char *s = (const char *)sqlite3_column_text(st, col);
        out->type = FLOR_TEXT;
        out->v.s = s ? arena_copy(a, s, (size_t)sqlite3_column_bytes(st, col)) : NULL;
        return out->v.s ? 0 : oom();
    }
    default:
        out->type = FLOR_NULL;
        return 0;
    }
}

static const char *column_str(arena *a, sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    return arena_copy(a, s ? s : "", s ? (size_t)sqlite3_column_bytes(st, col) : 0);
}

/* ---- string map: names to dense ids, in order of first insertion ------------ */

typedef struct strmap {
    const char **keys; /* by id; in the arena */
    size_t n, cap;
    uint32_t *slots;   /* id + 1; 0 is empty */
    size_t nslots;
} strmap;

static long strmap_find(const strmap *m, const char *s)
{
    if (!m->nslots)
        return -1;
    for (size_t j = hash_str(s) & (m->nslots - 1);; j = (j + 1) & (m->nslots - 1)) {
        uint32_t id = m->slots[j];
        if (!id)
            return -1;
        if (strcmp(m->keys[id - 1], s) == 0)
            return (long)id - 1;
    }
}

static int strmap_rehash(strmap *m, size_t nslots)
{
    uint32_t *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return oom();
    for (size_t id = 0; id < m->n; id++) {
        size_t j = hash_str(m->keys[id]) & (nslots - 1);
        while (slots[j])
            j = (j + 1) & (nslots - 1);
        slots[j] = (uint32_t)id + 1;
    }
    free(m->slots);
    m->slots = slots;
    m->nslots = nslots;
    return 0;
}

/* Finds S, adding it (a copy in A) when missing; *ID is its id. */
static int strmap_add(strmap *m, arena *a, const char *s, size_t *id)
{
    long found = strmap_find(m, s);
    if (found >= 0) {
        *id = (size_t)found;
        return 0;
    }
    if (m->n >= UINT32_MAX - 1)
        return oom();
    if ((m->n + 1) * 2 > m->nslots && strmap_rehash(m, pow2_at_least((m->n + 1) * 4)) != 0)
        return FLOR_ENOMEM;
    if (grow(&m->keys, &m->cap, m->n + 1, sizeof *m->keys) != 0)
        return FLOR_ENOMEM;
    const char *copy = arena_copy(a, s, strlen(s));
    if (!copy)
        return oom();
    size_t j = hash_str(s) & (m->nslots - 1);
    while (m->slots[j])
        j = (j + 1) & (m->nslots - 1);
    m->keys[m->n] = copy;
    m->slots[j] = (uint32_t)m->n + 1;
    *id = m->n++;
    return 0;
}

static void strmap_release(strmap *m)
{
    free(m->keys);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

/* ---- the state of one dataframe call ---------------------------------------- */

typedef struct run_info {
    int64_t id;
    const char *projid, *tstamp, *filename;
    size_t args_lo, args_hi;   /* its range in df.args */
    size_t logs_lo, logs_hi;   /* its range in df.logs (no-names view) */
    int used;                  /* has a row in the result */
    int loops_loaded;
} run_info;

/* A value of a run under a name id (an arg, or a log outside loops). */
typedef struct named_cell {
    size_t name;
    flor__cell v;
} named_cell;

typedef struct df {
    flor_project *p;
    sqlite3 *db;
    arena text;
    run_info *runs;
    size_t nruns, runs_cap;
    strmap argnames;
    named_cell *args;
    size_t nargs, args_cap;
    strmap lognames;
    named_cell *logs;
    size_t nlogs, logs_cap;
    strmap taken;              /* names of the columns placed so far */
} df;

static int sql_error(df *d, int rc, const char *what)
{
    return flor__err_sqlite(d->db, rc, what);
}

static int prepare(df *d, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(d->db, sql, -1, st, NULL);
    return rc == SQLITE_OK ? 0 : sql_error(d, rc, "cannot read the project's database");
}

static run_info *find_run(df *d, int64_t id)
{
    size_t lo = 0, hi = d->nruns;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->runs[mid].id < id)
            lo = mid + 1;
        else if (d->runs[mid].id > id)
            hi = mid;
        else
            return &d->runs[mid];
    }
    return NULL;
}

static int load_runs(df *d)
{
    sqlite3_stmt *st;
    int rc = prepare(d, "SELECT run_id, projid, tstamp, filename FROM runs ORDER BY run_id", &st);
    if (rc)
        return rc;
    int step;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if ((rc = grow(&d->runs, &d->runs_cap, d->nruns + 1, sizeof *d->runs)) != 0)
            break;
        run_info *r = &d->runs[d->nruns++];
        memset(r, 0, sizeof *r);
        r->id = sqlite3_column_int64(st, 0);
        r->projid = column_str(&d->text, st, 1);
        r->tstamp = column_str(&d->text, st, 2);
        r->filename = column_str(&d->text, st, 3);
        if (!r->projid || !r->tstamp || !r->filename)
            rc = oom();
    }
    if (!rc && step != SQLITE_DONE)
        rc = sql_error(d, step, "cannot read the runs");
    sqlite3_finalize(st);
    if (!rc && d->nruns == 0)
        rc = flor__err(FLOR_ENOTFOUND, "no runs recorded in project '%s' yet",
                       flor_project_id(d->p));
    return rc;
}

/* Reads (run_id, name, value) rows, ordered by run, into LIST: per run
 * the range [lo, hi), one cell per name, the last value winning. */
static int load_named(df *d, sqlite3_stmt *st, strmap *names, named_cell **list, size_t *n,
                      size_t *cap, size_t lo_off, size_t hi_off)
{
    size_t *seen = NULL, seen_cap = 0; /* per name id: 1 + its index in LIST for this run */
    run_info *cur = NULL;
    int rc = 0, step;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        run_info *r = find_run(d, sqlite3_column_int64(st, 0));
        const char *name = (const char *)sqlite3_column_text(st, 1);
        if (!r || !name)
            continue;
        if (r != cur) {
            cur = r;
            *(size_t *)((char *)r + lo_off) = *n;
            memset(seen, 0, seen_cap * sizeof *seen);
        }
        size_t id;
        if ((rc = strmap_add(names, &d->text, name, &id)) != 0 ||
            (rc = grow(&seen, &seen_cap, names->n, sizeof *seen)) != 0)
            break;
        if (names->n > seen_cap)
            break;
        if (!seen[id]) {
            if ((rc = grow(list, cap, *n + 1, sizeof **list)) != 0)
                break;
            seen[id] = ++*n;
        }
        named_cell *c = &(*list)[seen[id] - 1];
        c->name = id;
        rc = read_cell(&d->text, st, 2, &c->v);
        *(size_t *)((char *)r + hi_off) = *n;
    }
    if (!rc && step != SQLITE_DONE)
        rc = sql_error(d, step, "cannot read the project's database");
    free(seen);
    return rc;
}

static int load_args(df *d)
{
    sqlite3_stmt *st;
    int rc = prepare(d, "SELECT run_id, name, value FROM args ORDER BY run_id, ord", &st);
    if (!rc)
        rc = load_named(d, st, &d->argnames, &d->args, &d->nargs, &d->args_cap,
                        offsetof(run_info, args_lo), offsetof(run_info, args_hi));
    sqlite3_finalize(st);
    return rc;
}

static int load_toplevel_logs(df *d)
{
    sqlite3_stmt *st;
    int rc = prepare(d,
                     "SELECT l.run_id, l.name, l.value FROM runs r"
                     " JOIN logs l ON l.run_id = r.run_id AND l.ctx_id IS NULL"
                     " ORDER BY r.run_id, l.rowid",
                     &st);
    if (!rc)
        rc = load_named(d, st, &d->lognames, &d->logs, &d->nlogs, &d->logs_cap,
                        offsetof(run_info, logs_lo), offsetof(run_info, logs_hi));
    sqlite3_finalize(st);
    return rc;
}

/* ---- the output's columns ------------------------------------------------------ */

/* Claims column name S; false when another column already has it. */
static int claim(df *d, const char *s, int *ok)
{
    *ok = strmap_find(&d->taken, s) < 0;
    size_t id;
    return *ok ? strmap_add(&d->taken, &d->text, s, &id) : 0;
}

/* Maps each id of NAMES, taken from the cells of the used runs in order,
 * to an output column (from *NEXT on), or -1 when its name is taken. */
static int place_columns(df *d, const strmap *names, const named_cell *list, int lohi,
                         long **colof, size_t *next)
{
    *colof = malloc((names->n ? names->n : 1) * sizeof **colof);
    if (!*colof)
        return oom();
    for (size_t i = 0; i < names->n; i++)
        (*colof)[i] = -2; /* not seen yet */
    for (size_t r = 0; r < d->nruns; r++) {
        run_info *ri = &d->runs[r];
        size_t lo = lohi ? ri->logs_lo : ri->args_lo, hi = lohi ? ri->logs_hi : ri->args_hi;
        for (size_t i = lo; ri->used && i < hi; i++) {
            size_t id = list[i].name;
            if ((*colof)[id] != -2)
                continue;
            int ok, rc = claim(d, names->keys[id], &ok);
            if (rc)
                return rc;
            (*colof)[id] = ok ? (long)(*next)++ : -1;
        }
    }
    return 0;
}

static const char *const FIXED[3] = {"projid", "tstamp", "filename"};

/* Fills the fixed columns and the cells of LIST[lo, hi) of run R. */
static int put_run_cells(flor_table *t, size_t row, const run_info *r, const named_cell *list,
                         size_t lo, size_t hi, const long *colof)
{
    int rc = flor__table_set_text(t, row, 0, r->projid);
    if (!rc)
        rc = flor__table_set_text(t, row, 1, r->tstamp);
    if (!rc)
        rc = flor__table_set_text(t, row, 2, r->filename);
    for (size_t i = lo; !rc && i < hi; i++) {
        long col = colof[list[i].name];
        if (col < 0)
            continue;
        const flor__cell *v = &list[i].v;
        if (v->type == FLOR_TEXT)
            rc = flor__table_set_text(t, row, (size_t)col, v->v.s);
        else
            *flor__table_cell(t, row, (size_t)col) = *v;
    }
    return rc;
}

/* Names the columns: fixed ones, then groups given as (strmap, colof). */
static const char **column_names(size_t ncols, const strmap *const *maps, long *const *colofs,
                                 size_t nmaps)
{
    const char **names = calloc(ncols ? ncols : 1, sizeof *names);
    if (!names)
        return NULL;
    for (size_t i = 0; i < 3; i++)
        names[i] = FIXED[i];
    for (size_t m = 0; m < nmaps; m++)
        for (size_t id = 0; id < maps[m]->n; id++)
            if (colofs[m][id] >= 0)
                names[colofs[m][id]] = maps[m]->keys[id];
    return names;
}

static int claim_fixed(df *d)
{
    int ok, rc = 0;
    for (size_t i = 0; !rc && i < 3; i++)
        rc = claim(d, FIXED[i], &ok);
    return rc;
}

/* ---- with no names: one row per run ---------------------------------------------- */

static int runs_view(df *d, flor_table **out)
{
    int rc = load_toplevel_logs(d);
    long *argcol = NULL, *logcol = NULL;
    size_t ncols = 3;
    for (size_t r = 0; r < d->nruns; r++)
        d->runs[r].used = 1;
    if (!rc)
        rc = claim_fixed(d);
    if (!rc)
        rc = place_columns(d, &d->argnames, d->args, 0, &argcol, &ncols);
    if (!rc)
        rc = place_columns(d, &d->lognames, d->logs, 1, &logcol, &ncols);
    flor_table *t = NULL;
    if (!rc) {
        const strmap *maps[2] = {&d->argnames, &d->lognames};
        long *colofs[2] = {argcol, logcol};
        const char **names = column_names(ncols, maps, colofs, 2);
        t = names ? flor__table_new(ncols, names) : NULL;
        free(names);
        rc = t ? 0 : oom();
    }
    for (size_t r = 0; !rc && r < d->nruns; r++) {
        const run_info *ri = &d->runs[r];
        size_t row = flor__table_add_row(t);
        if (row == (size_t)-1) {
            rc = FLOR_ENOMEM;
            break;
        }
        rc = put_run_cells(t, row, ri, d->args, ri->args_lo, ri->args_hi, argcol);
        for (size_t i = ri->logs_lo; !rc && i < ri->logs_hi; i++)
            if (logcol[d->logs[i].name] >= 0) {
                const flor__cell *v = &d->logs[i].v;
                size_t col = (size_t)logcol[d->logs[i].name];
                if (v->type == FLOR_TEXT)
                    rc = flor__table_set_text(t, row, col, v->v.s);
                else
                    *flor__table_cell(t, row, col) = *v;
            }
    }
    free(argcol);
    free(logcol);
    if (rc) {
        flor_table_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* ---- loops: (run, ctx) -> (parent, loop name, iteration) ------------------------- */

typedef struct loop_ent {
    int64_t run, ctx, parent, iter;
    size_t name;      /* id in loopnames */
    int depth;        /* 0 = outermost; -1 not yet known */
    int busy;         /* being resolved (a cycle guard) */
    size_t coords;    /* offset of its coordinates in the pool; 0 = not yet */
} loop_ent;

typedef struct loopmap {
    loop_ent *ents;
    size_t n, cap;
    uint32_t *slots;  /* index + 1 */
    size_t nslots;
} loopmap;

static uint64_t loop_hash(int64_t run, int64_t ctx) { return mix(mix(0, (uint64_t)run), (uint64_t)ctx); }

static loop_ent *loop_find(const loopmap *m, int64_t run, int64_t ctx)
{
    if (!m->nslots || ctx == NIL)
        return NULL;
    for (size_t j = loop_hash(run, ctx) & (m->nslots - 1);; j = (j + 1) & (m->nslots - 1)) {
        uint32_t k = m->slots[j];
        if (!k)
            return NULL;
        loop_ent *e = &m->ents[k - 1];
        if (e->run == run && e->ctx == ctx)
            return e;
    }
}

static int loop_rehash(loopmap *m, size_t nslots)
{
    uint32_t *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return oom();
    for (size_t i = 0; i < m->n; i++) {
        size_t j = loop_hash(m->ents[i].run, m->ents[i].ctx) & (nslots - 1);
        while (slots[j])
            j = (j + 1) & (nslots - 1);
        slots[j] = (uint32_t)i + 1;
    }
    free(m->slots);
    m->slots = slots;
    m->nslots = nslots;
    return 0;
}

static int loop_add(loopmap *m, const loop_ent *e)
{
    if (loop_find(m, e->run, e->ctx))
        return 0;
    if (m->n >= UINT32_MAX - 1)
        return oom();
    if ((m->n + 1) * 2 > m->nslots && loop_rehash(m, pow2_at_least((m->n + 1) * 4)) != 0)
        return FLOR_ENOMEM;
    if (grow(&m->ents, &m->cap, m->n + 1, sizeof *m->ents) != 0)
        return FLOR_ENOMEM;
    size_t j = loop_hash(e->run, e->ctx) & (m->nslots - 1);
    while (m->slots[j])
        j = (j + 1) & (m->nslots - 1);
    m->ents[m->n] = *e;
    m->slots[j] = (uint32_t)++m->n;
    return 0;
}

static void loop_release(loopmap *m)
{
    free(m->ents);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

/* ---- with names: per-name frames ------------------------------------------------- */

typedef struct frow {
    size_t run;       /* index in df.runs */
    int64_t ctx;      /* NIL outside any loop */
    size_t coords;    /* offset in the pool (0: all NULL) */
    flor__cell v;
} frow;

typedef struct nframe {
    frow *rows;
    size_t n, cap;
    unsigned char *has; /* per loop column: some row has a coordinate there */
} nframe;

typedef struct pivot {
    df *d;
    loopmap loops;
    strmap loopnames;
    int *mindepth;      /* per loop name: smallest depth reached, -1 never */
    size_t *firstseen;  /* per loop name: order in which it was reached */
    size_t nseen;
    long *colof;        /* per loop name: its loop column, or -1 */
    size_t L;           /* number of loop columns */
    int64_t *pool;      /* coordinates, L per context, [0, L) all NULL */
    size_t npool, pool_cap;
    nframe *frames;
    size_t k;           /* number of names */
} pivot;

static int load_loops(pivot *pv, run_info *r)
{
    df *d = pv->d;
    sqlite3_stmt *st;
    int rc = prepare(d, "SELECT ctx_id, parent_ctx_id, name, iteration FROM loops WHERE run_id = ?",
                     &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, r->id);
    int step;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 2);
        loop_ent e = {.run = r->id, .ctx = sqlite3_column_int64(st, 0), .depth = -1};
        e.parent = sqlite3_column_type(st, 1) == SQLITE_NULL ? NIL : sqlite3_column_int64(st, 1);
        e.iter = sqlite3_column_int64(st, 3);
        rc = strmap_add(&pv->loopnames, &d->text, name ? name : "", &e.name);
        if (!rc)
            rc = loop_add(&pv->loops, &e);
    }
    if (!rc && step != SQLITE_DONE)
        rc = sql_error(d, step, "cannot read the loops");
    sqlite3_finalize(st);
    r->loops_loaded = 1;
    return rc;
}

static int read_frame_rows(pivot *pv, sqlite3_stmt *st, nframe *f, int with_ctx)
{
    df *d = pv->d;
    int rc = 0, step;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        run_info *r = find_run(d, sqlite3_column_int64(st, 0));
        if (!r)
            continue;
        if (with_ctx && !r->loops_loaded && (rc = load_loops(pv, r)) != 0)
            break;
        if ((rc = grow(&f->rows, &f->cap, f->n + 1, sizeof *f->rows)) != 0)
            break;
        frow *row = &f->rows[f->n++];
        row->run = (size_t)(r - d->runs);
        row->ctx = !with_ctx || sqlite3_column_type(st, 1) == SQLITE_NULL
                       ? NIL
                       : sqlite3_column_int64(st, 1);
        row->coords = 0;
        rc = read_cell(&d->text, st, 2, &row->v);
    }
    if (!rc && step != SQLITE_DONE)
        rc = sql_error(d, step, "cannot read the logs");
    return rc;
}

/* The rows of NAME: its logs, or else (a hyperparameter) its args. */
static int load_frame(pivot *pv, const char *name, nframe *f)
{
    static const char *const sql[2] = {
        "SELECT run_id, ctx_id, value FROM logs WHERE name = ? ORDER BY run_id, rowid",
        "SELECT run_id, NULL, value FROM args WHERE name = ? ORDER BY run_id",
    };
    int rc = 0;
    for (int i = 0; !rc && i < 2 && f->n == 0; i++) {
        sqlite3_stmt *st;
        if ((rc = prepare(pv->d, sql[i], &st)) != 0)
            break;
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        rc = read_frame_rows(pv, st, f, i == 0);
        sqlite3_finalize(st);
    }
    if (!rc && f->n == 0)
        rc = flor__err(FLOR_ENOTFOUND, "no logs named '%s' in project '%s'", name,
                       flor_project_id(pv->d->p));
    return rc;
}

/* Depth of E (0 outermost), marking the loop names reached on the way. */
static int resolve_depth(pivot *pv, loop_ent *e)
{
    if (e->depth >= 0)
        return e->depth;
    if (e->busy)
        return -1; /* a cycle in corrupt data: cut it here */
    e->busy = 1;
    loop_ent *parent = loop_find(&pv->loops, e->run, e->parent);
    int pd = parent ? resolve_depth(pv, parent) : -1;
    e->busy = 0;
    e->depth = pd + 1 < MAX_DEPTH ? pd + 1 : MAX_DEPTH;
    if (pv->mindepth[e->name] < 0) {
        pv->firstseen[e->name] = pv->nseen++;
        pv->mindepth[e->name] = e->depth;
    } else if (e->depth < pv->mindepth[e->name]) {
        pv->mindepth[e->name] = e->depth;
    }
    return e->depth;
}

static const pivot *order_ctx; /* only for the qsort below; no other state */

static int cmp_loopname(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int dx = order_ctx->mindepth[x], dy = order_ctx->mindepth[y];
    if (dx != dy)
        return dx < dy ? -1 : 1;
    size_t fx = order_ctx->firstseen[x], fy = order_ctx->firstseen[y];
    return fx < fy ? -1 : fx > fy;
}

/* Decides the loop columns: the loop names reached, outermost first. */
static int order_loops(pivot *pv)
{
    size_t n = pv->loopnames.n;
    size_t *ids = malloc((n ? n : 1) * sizeof *ids);
    pv->colof = malloc((n ? n : 1) * sizeof *pv->colof);
    if (!ids || !pv->colof) {
        free(ids);
        return oom();
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        pv->colof[i] = -1;
        if (pv->mindepth[i] >= 0)
            ids[m++] = i;
    }
    /* pivot state is single-call; sorting a few names needs no reentrancy */
    pivot copy = *pv;
    order_ctx = &copy;
    qsort(ids, m, sizeof *ids, cmp_loopname);
    order_ctx = NULL;
    for (size_t i = 0; i < m; i++)
        pv->colof[ids[i]] = (long)i;
    pv->L = m;
    free(ids);
    return 0;
}

/* The offset of E's coordinates in the pool, computed once per context. */
static int coords_of(pivot *pv, loop_ent *e, size_t *off)
{
    if (e->coords) {
        *off = e->coords;
        return 0;
    }
    size_t base = 0;
    loop_ent *parent = e->busy ? NULL : loop_find(&pv->loops, e->run, e->parent);
    if (parent && parent->depth < e->depth) {
        e->busy = 1;
        int rc = coords_of(pv, parent, &base);
        e->busy = 0;
        if (rc)
            return rc;
    }
    size_t L = pv->L;
    if (grow(&pv->pool, &pv->pool_cap, pv->npool + L, sizeof *pv->pool) != 0)
        return FLOR_ENOMEM;
    int64_t *c = pv->pool + pv->npool;
    memcpy(c, pv->pool + base, L * sizeof *c);
    long col = pv->colof[e->name];
    if (col >= 0)
        c[col] = e->iter;
    e->coords = pv->npool;
    pv->npool += L;
    *off = e->coords;
    return 0;
}

static int init_pool(pivot *pv)
{
    size_t L = pv->L;
    if (grow(&pv->pool, &pv->pool_cap, L ? L : 1, sizeof *pv->pool) != 0)
        return FLOR_ENOMEM;
    for (size_t i = 0; i < L; i++)
        pv->pool[i] = NIL;
    pv->npool = L ? L : 1; /* offset 0 stays the all-NULL vector even when L == 0 */
    return 0;
}

static uint64_t row_hash(int64_t run, const int64_t *c, const size_t *cols, size_t ncols)
{
    uint64_t h = mix(0x51ed27, (uint64_t)run);
    for (size_t i = 0; i < ncols; i++)
        h = mix(h, (uint64_t)c[cols[i]]);
    return h;
}

static int same_key(int64_t ra, const int64_t *a, int64_t rb, const int64_t *b,
                    const size_t *cols, size_t ncols)
{
    if (ra != rb)
        return 0;
    for (size_t i = 0; i < ncols; i++)
        if (a[cols[i]] != b[cols[i]])
            return 0;
    return 1;
}

/* Keeps one row per (run, coordinates) of F, with the last value. */
static int dedupe_frame(pivot *pv, nframe *f, const size_t *all, size_t L)
{
    size_t nslots = pow2_at_least(f->n * 2);
    size_t *slots = malloc(nslots * sizeof *slots); /* row index + 1 */
    if (!slots)
        return oom();
    memset(slots, 0, nslots * sizeof *slots);
    size_t kept = 0;
    for (size_t i = 0; i < f->n; i++) {
        frow *r = &f->rows[i];
        const int64_t *c = pv->pool + r->coords;
        size_t j = row_hash((int64_t)r->run, c, all, L) & (nslots - 1);
        for (; slots[j]; j = (j + 1) & (nslots - 1)) {
            frow *o = &f->rows[slots[j] - 1];
            if (same_key((int64_t)o->run, pv->pool + o->coords, (int64_t)r->run, c, all, L))
                break;
        }
        if (slots[j]) {
            f->rows[slots[j] - 1].v = r->v;
            continue;
        }
        f->rows[kept] = *r;
        slots[j] = ++kept;
    }
    f->n = kept;
    free(slots);
    return 0;
}

/* Gives every row of every frame its coordinates, and each frame its set
 * of loop columns. */
static int place_frames(pivot *pv)
{
    size_t L = pv->L;
    size_t *all = malloc((L ? L : 1) * sizeof *all);
    if (!all)
        return oom();
    for (size_t i = 0; i < L; i++)
        all[i] = i;
    int rc = 0;
    for (size_t j = 0; !rc && j < pv->k; j++) {
        nframe *f = &pv->frames[j];
        if (!(f->has = calloc(L ? L : 1, 1))) {
            rc = oom();
            break;
        }
        for (size_t i = 0; !rc && i < f->n; i++) {
            frow *r = &f->rows[i];
            loop_ent *e = loop_find(&pv->loops, pv->d->runs[r->run].id, r->ctx);
            if (e)
                rc = coords_of(pv, e, &r->coords);
        }
        for (size_t i = 0; !rc && i < f->n; i++)
            for (size_t c = 0; c < L; c++)
                if (pv->pool[f->rows[i].coords + c] != NIL)
                    f->has[c] = 1;
        if (!rc)
            rc = dedupe_frame(pv, f, all, L);
    }
    free(all);
    return rc;
}

/* ---- the outer merge ------------------------------------------------------------- */

typedef struct merged {
    size_t n, cap;
    size_t *run;          /* n */
    int64_t *coords;      /* n * L */
    flor__cell *vals;     /* n * k; text in the arena */
    unsigned char *has;   /* L: loop columns so far */
} merged;

static int merged_add(merged *m, size_t L, size_t k, size_t run)
{
    if (m->n + 1 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        size_t *r = realloc(m->run, cap * sizeof *r);
        if (r)
            m->run = r;
        int64_t *c = realloc(m->coords, cap * (L ? L : 1) * sizeof *c);
        if (c)
            m->coords = c;
        flor__cell *v = realloc(m->vals, cap * k * sizeof *v);
        if (v)
            m->vals = v;
        if (!r || !c || !v)
            return oom();
        m->cap = cap;
    }
    m->run[m->n] = run;
    for (size_t i = 0; i < k; i++)
        m->vals[m->n * k + i] = (flor__cell){.type = FLOR_NULL};
    m->n++;
    return 0;
}

static void merged_release(merged *m)
{
    free(m->run);
    free(m->coords);
    free(m->vals);
    free(m->has);
    memset(m, 0, sizeof *m);
}

/* Chains the rows of F by the hash of their key (run, KEY columns). */
static int index_frame(const pivot *pv, const nframe *f, const size_t *key, size_t nkey,
                       size_t **heads, size_t **next, size_t *mask)
{
    size_t nslots = pow2_at_least(f->n * 2);
    *heads = malloc(nslots * sizeof **heads);
    *next = malloc((f->n ? f->n : 1) * sizeof **next);
    if (!*heads || !*next)
        return oom();
    for (size_t i = 0; i < nslots; i++)
        (*heads)[i] = SIZE_MAX;
    for (size_t i = f->n; i-- > 0;) { /* backwards, so that chains keep row order */
        const frow *r = &f->rows[i];
        size_t j = row_hash((int64_t)r->run, pv->pool + r->coords, key, nkey) & (nslots - 1);
        (*next)[i] = (*heads)[j];
        (*heads)[j] = i;
    }
    *mask = nslots - 1;
    return 0;
}

/* Appends the row made of IN's row I (or none: SIZE_MAX) and F's row FI
 * (or none) to OUT; coordinates coalesce, as the key columns agree. */
static int emit(const pivot *pv, merged *out, const merged *in, size_t i, const nframe *f,
                size_t fi, size_t j)
{
    size_t L = pv->L, k = pv->k;
    size_t run = i != SIZE_MAX ? in->run[i] : f->rows[fi].run;
    if (merged_add(out, L, k, run) != 0)
        return FLOR_ENOMEM;
    size_t o = out->n - 1;
    const int64_t *a = i != SIZE_MAX ? in->coords + i * L : NULL;
    const int64_t *b = fi != SIZE_MAX ? pv->pool + f->rows[fi].coords : NULL;
    for (size_t c = 0; c < L; c++)
        out->coords[o * L + c] = a && a[c] != NIL ? a[c] : b ? b[c] : NIL;
    if (i != SIZE_MAX)
        memcpy(out->vals + o * k, in->vals + i * k, k * sizeof *out->vals);
    if (fi != SIZE_MAX)
        out->vals[o * k + j] = f->rows[fi].v;
    return 0;
}

/* OUT = IN outer-merged with frame J on run and their common loop columns. */
static int merge_one(const pivot *pv, const merged *in, size_t j, merged *out)
{
    const nframe *f = &pv->frames[j];
    size_t L = pv->L, nkey = 0;
    size_t *key = malloc((L ? L : 1) * sizeof *key);
    unsigned char *matched = calloc(f->n ? f->n : 1, 1);
    size_t *heads = NULL, *next = NULL, mask = 0;
    int rc = key && matched ? 0 : oom();
    for (size_t c = 0; !rc && c < L; c++)
        if (in->has[c] && f->has[c])
            key[nkey++] = c;
    if (!rc)
        rc = index_frame(pv, f, key, nkey, &heads, &next, &mask);
    for (size_t i = 0; !rc && i < in->n; i++) {
        const int64_t *a = in->coords + i * L;
        int64_t run = (int64_t)in->run[i];
        int found = 0;
        for (size_t fi = heads[row_hash(run, a, key, nkey) & mask]; !rc && fi != SIZE_MAX;
             fi = next[fi]) {
            const frow *r = &f->rows[fi];
            if (!same_key(run, a, (int64_t)r->run, pv->pool + r->coords, key, nkey))
                continue;
            found = matched[fi] = 1;
            rc = emit(pv, out, in, i, f, fi, j);
        }
        if (!rc && !found)
            rc = emit(pv, out, in, i, f, SIZE_MAX, j);
    }
    for (size_t fi = 0; !rc && fi < f->n; fi++)
        if (!matched[fi])
            rc = emit(pv, out, NULL, SIZE_MAX, f, fi, j);
    if (!rc && !(out->has = malloc(L ? L : 1)))
        rc = oom();
    for (size_t c = 0; !rc && c < L; c++)
        out->has[c] = in->has[c] | f->has[c];
    free(key);
    free(matched);
    free(heads);
    free(next);
    return rc;
}

static int merge_all(const pivot *pv, merged *result)
{
    merged cur = {0};
    if (!(cur.has = calloc(pv->L ? pv->L : 1, 1)))
        return oom();
    for (size_t j = 0; j < pv->k; j++) {
        merged next = {0};
        int rc = merge_one(pv, &cur, j, &next);
        merged_release(&cur);
        if (rc) {
            merged_release(&next);
            return rc;
        }
        cur = next;
    }
    *result = cur;
    return 0;
}

/* ---- sorting and the table --------------------------------------------------------- */

static int row_before(const merged *m, size_t L, size_t a, size_t b)
{
    if (m->run[a] != m->run[b])
        return m->run[a] < m->run[b];
    const int64_t *x = m->coords + a * L, *y = m->coords + b * L;
    for (size_t c = 0; c < L; c++)
        if (x[c] != y[c])
            return x[c] < y[c]; /* NIL is the smallest: NULL first */
    return 0;
}

/* A stable merge sort of the row indices IDX (TMP is scratch of the same size). */
static void sort_rows(const merged *m, size_t L, size_t *idx, size_t *tmp, size_t n)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    sort_rows(m, L, idx, tmp, h);
    sort_rows(m, L, idx + h, tmp, n - h);
    if (!row_before(m, L, idx[h], idx[h - 1]))
        return; /* already in order */
    size_t i = 0, j = h, o = 0;
    while (i < h && j < n)
        tmp[o++] = row_before(m, L, idx[j], idx[i]) ? idx[j++] : idx[i++];
    while (i < h)
        tmp[o++] = idx[i++];
    while (j < n)
        tmp[o++] = idx[j++];
    memcpy(idx, tmp, n * sizeof *idx);
}

static int put_cell(flor_table *t, size_t row, size_t col, const flor__cell *v)
{
    if (v->type == FLOR_TEXT)
        return flor__table_set_text(t, row, col, v->v.s);
    *flor__table_cell(t, row, col) = *v;
    return 0;
}

/* Builds the table of the merged rows: fixed columns, args, loops, names. */
static int names_table(pivot *pv, const merged *m, const char *const *names, flor_table **out)
{
    df *d = pv->d;
    size_t L = pv->L, k = pv->k, ncols = 3;
    long *argcol = NULL;
    int rc = place_columns(d, &d->argnames, d->args, 0, &argcol, &ncols);
    size_t first_loop = ncols;
    ncols += L + k;
    const char **colnames = rc ? NULL : calloc(ncols, sizeof *colnames);
    size_t *idx = malloc((m->n ? m->n : 1) * sizeof *idx);
    size_t *tmp = malloc((m->n ? m->n : 1) * sizeof *tmp);
    flor_table *t = NULL;
    if (!rc && (!colnames || !idx || !tmp))
        rc = oom();
    if (!rc) {
        for (size_t i = 0; i < 3; i++)
            colnames[i] = FIXED[i];
        for (size_t id = 0; id < d->argnames.n; id++)
            if (argcol[id] >= 0)
                colnames[argcol[id]] = d->argnames.keys[id];
        for (size_t id = 0; id < pv->loopnames.n; id++)
            if (pv->colof[id] >= 0)
                colnames[first_loop + (size_t)pv->colof[id]] = pv->loopnames.keys[id];
        for (size_t j = 0; j < k; j++)
            colnames[first_loop + L + j] = names[j];
        if (!(t = flor__table_new(ncols, colnames)))
            rc = FLOR_ENOMEM;
    }
    for (size_t i = 0; !rc && i < m->n; i++)
        idx[i] = i;
    if (!rc)
        sort_rows(m, L, idx, tmp, m->n);
    for (size_t i = 0; !rc && i < m->n; i++) {
        size_t r = idx[i], row = flor__table_add_row(t);
        if (row == (size_t)-1) {
            rc = FLOR_ENOMEM;
            break;
        }
        const run_info *ri = &d->runs[m->run[r]];
        rc = put_run_cells(t, row, ri, d->args, ri->args_lo, ri->args_hi, argcol);
        for (size_t c = 0; !rc && c < L; c++) {
            int64_t v = m->coords[r * L + c];
            if (v != NIL)
                *flor__table_cell(t, row, first_loop + c) =
                    (flor__cell){.type = FLOR_INTEGER, .v.i = v};
        }
        for (size_t j = 0; !rc && j < k; j++)
            rc = put_cell(t, row, first_loop + L + j, &m->vals[r * k + j]);
    }
    free(argcol);
    free(colnames);
    free(idx);
    free(tmp);
    if (rc) {
        flor_table_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* Claims the names of the output's loop and value columns before the
 * args, so that an arg of the same name gives way. */
static int claim_names(pivot *pv, const char *const *names)
{
    int ok, rc = claim_fixed(pv->d);
    for (size_t id = 0; !rc && id < pv->loopnames.n; id++)
        if (pv->colof[id] >= 0)
            rc = claim(pv->d, pv->loopnames.keys[id], &ok);
    for (size_t j = 0; !rc && j < pv->k; j++)
        rc = claim(pv->d, names[j], &ok);
    return rc;
}

static void pivot_release(pivot *pv)
{
    loop_release(&pv->loops);
    strmap_release(&pv->loopnames);
    free(pv->mindepth);
    free(pv->firstseen);
    free(pv->colof);
    free(pv->pool);
    for (size_t j = 0; pv->frames && j < pv->k; j++) {
        free(pv->frames[j].rows);
        free(pv->frames[j].has);
    }
    free(pv->frames);
}

/* Marks which loop names the frames reach, and at which depth. */
static int reach_loops(pivot *pv)
{
    size_t n = pv->loopnames.n ? pv->loopnames.n : 1;
    pv->mindepth = malloc(n * sizeof *pv->mindepth);
    pv->firstseen = calloc(n, sizeof *pv->firstseen);
    if (!pv->mindepth || !pv->firstseen)
        return oom();
    for (size_t i = 0; i < pv->loopnames.n; i++)
        pv->mindepth[i] = -1;
    for (size_t j = 0; j < pv->k; j++)
        for (size_t i = 0; i < pv->frames[j].n; i++) {
            frow *r = &pv->frames[j].rows[i];
            pv->d->runs[r->run].used = 1;
            loop_ent *e = loop_find(&pv->loops, pv->d->runs[r->run].id, r->ctx);
            if (e)
                resolve_depth(pv, e);
        }
    return 0;
}

/* NAMES without repeats (the first occurrence stays), or an error. */
static int unique_names(df *d, const char *const *names, size_t n, const char ***out, size_t *k)
{
    strmap seen = {0};
    *out = malloc(n * sizeof **out);
    *k = 0;
    int rc = *out ? 0 : oom();
    for (size_t i = 0; !rc && i < n; i++) {
        if (!names[i] || !names[i][0]) {
            rc = flor__err(FLOR_EINVAL, "dataframe: name %zu is empty", i + 1);
            break;
        }
        size_t before = seen.n, id;
        rc = strmap_add(&seen, &d->text, names[i], &id);
        if (!rc && seen.n > before)
            (*out)[(*k)++] = names[i];
    }
    strmap_release(&seen);
    return rc;
}

static int names_view(df *d, const char *const *given, size_t n, flor_table **out)
{
    pivot pv = {.d = d};
    merged m = {0};
    const char **names = NULL;
    int rc = unique_names(d, given, n, &names, &pv.k);
    if (!rc && !(pv.frames = calloc(pv.k, sizeof *pv.frames)))
        rc = oom();
    for (size_t j = 0; !rc && j < pv.k; j++)
        rc = load_frame(&pv, names[j], &pv.frames[j]);
    if (!rc)
        rc = reach_loops(&pv);
    if (!rc)
        rc = order_loops(&pv);
    if (!rc)
        rc = init_pool(&pv);
    if (!rc)
        rc = place_frames(&pv);
    if (!rc)
        rc = merge_all(&pv, &m);
    if (!rc)
        rc = claim_names(&pv, names);
    if (!rc)
        rc = names_table(&pv, &m, names, out);
    merged_release(&m);
    pivot_release(&pv);
    free(names);
    return rc;
}

/* ---- the entry point ------------------------------------------------------------- */

static void df_release(df *d)
{
    free(d->runs);
    free(d->args);
    free(d->logs);
    strmap_release(&d->argnames);
    strmap_release(&d->lognames);
    strmap_release(&d->taken);
    arena_release(&d->text);
}

int flor_project_dataframe(flor_project *p, const char *const *names, size_t n, flor_table **out)
{
    if (out)
        *out = NULL;
    flor__err_clear();
    if (!p || !out || (n && !names))
        return flor__err(FLOR_EINVAL, "flor_project_dataframe: NULL argument");
    df d = {.p = p, .db = p->db};
    /* One read transaction, so that every query sees the same snapshot
     * while runs go on writing. */
    int own_txn = sqlite3_get_autocommit(d.db) && flor__db_exec(d.db, "BEGIN") == 0;
    int rc = load_runs(&d);
    if (!rc)
        rc = load_args(&d);
    if (!rc)
        rc = n ? names_view(&d, names, n, out) : runs_view(&d, out);
    if (own_txn)
        sqlite3_exec(d.db, "COMMIT", NULL, NULL, NULL);
    df_release(&d);
    return rc;
}
