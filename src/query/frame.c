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
 * key), then sorted by run and coordinates, NULL first.
 *
 * Speed: the loops of the runs involved are loaded once into a hash map
 * keyed (run, ctx), and each context's coordinates are computed once.
 * The logs are read by name through the index, or by one scan of the
 * table when the names asked for are a large share of it.  The merge is a
 * sort-merge join whose inputs almost always arrive sorted already, so
 * the whole view is linear in the logs read plus the size of the result.
 */
#include "internal.h"

#include <math.h>

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

static size_t pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n)
        c *= 2;
    return c;
}

/* As grow(), with the new elements zeroed. */
static int grow_zero(void *pp, size_t *cap, size_t need, size_t size)
{
    size_t old = *cap;
    int rc = grow(pp, cap, need, size);
    if (!rc && *cap > old)
        memset((char *)*(void **)pp + old * size, 0, (*cap - old) * size);
    return rc;
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

/* N bytes that live as long as the arena. */
static char *arena_alloc(arena *a, size_t n)
{
    chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        if (!(c = malloc(sizeof *c + cap)))
            return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    char *p = c->data + c->used;
    c->used += n;
    return p;
}

static char *arena_copy(arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
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

/* A blob is shown as SQLite's literal X'0A1B', as in flor_project_query. */
static char *blob_literal(arena *a, const unsigned char *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    if (n > (SIZE_MAX - 4) / 2)
        return NULL;
    char *s = arena_alloc(a, 2 * n + 4);
    if (!s)
        return NULL;
    size_t k = 0;
    s[k++] = 'X';
    s[k++] = '\'';
    for (size_t i = 0; i < n; i++) {
        s[k++] = hex[p[i] >> 4];
        s[k++] = hex[p[i] & 15];
    }
    s[k++] = '\'';
    s[k] = 0;
    return s;
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
    case SQLITE_TEXT: {
        const char *s = (const char *)sqlite3_column_text(st, col);
        if (s && strcmp(s, FLOR__NAN_TEXT) == 0) {
            out->type = FLOR_REAL; /* how a NaN is stored (flor__bind_real) */
            out->v.r = NAN;
            return 0;
        }
        out->type = FLOR_TEXT;
        out->v.s = s ? arena_copy(a, s, (size_t)sqlite3_column_bytes(st, col)) : NULL;
        return out->v.s ? 0 : oom();
    }
    case SQLITE_BLOB:
        out->type = FLOR_TEXT;
        out->v.s = blob_literal(a, sqlite3_column_blob(st, col),
                                (size_t)sqlite3_column_bytes(st, col));
        return out->v.s ? 0 : oom();
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
    for (size_t j = flor__hash_str(s) & (m->nslots - 1);; j = (j + 1) & (m->nslots - 1)) {
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
        size_t j = flor__hash_str(m->keys[id]) & (nslots - 1);
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
    size_t j = flor__hash_str(s) & (m->nslots - 1);
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
    size_t loops_lo, loops_hi; /* its range in pivot.loops (names view) */
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
    int step = SQLITE_DONE;
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
 * a range of cells (args_lo/hi, or logs_lo/hi when LOGS), one cell per
 * name, the last value winning. */
static int load_named(df *d, sqlite3_stmt *st, strmap *names, named_cell **list, size_t *n,
                      size_t *cap, int logs)
{
    size_t *pos = NULL, *stamp = NULL, pos_cap = 0, stamp_cap = 0; /* per name id */
    int rc = 0, step = SQLITE_DONE;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        run_info *r = find_run(d, sqlite3_column_int64(st, 0));
        const char *name = (const char *)sqlite3_column_text(st, 1);
        size_t id, ri = r ? (size_t)(r - d->runs) + 1 : 0;
        if (!r || !name)
            continue;
        if ((rc = strmap_add(names, &d->text, name, &id)) != 0 ||
            (rc = grow(&pos, &pos_cap, names->n, sizeof *pos)) != 0 ||
            (rc = grow_zero(&stamp, &stamp_cap, names->n, sizeof *stamp)) != 0)
            break;
        size_t *lo = logs ? &r->logs_lo : &r->args_lo, *hi = logs ? &r->logs_hi : &r->args_hi;
        if (*hi == 0)
            *lo = *n;
        if (stamp[id] != ri) {
            if ((rc = grow(list, cap, *n + 1, sizeof **list)) != 0)
                break;
            stamp[id] = ri;
            pos[id] = (*n)++;
        }
        named_cell *c = &(*list)[pos[id]];
        c->name = id;
        rc = read_cell(&d->text, st, 2, &c->v);
        *hi = *n;
    }
    if (!rc && step != SQLITE_DONE)
        rc = sql_error(d, step, "cannot read the project's database");
    free(pos);
    free(stamp);
    return rc;
}

static int load_args(df *d)
{
    sqlite3_stmt *st;
    int rc = prepare(d, "SELECT run_id, name, value FROM args ORDER BY run_id, ord", &st);
    if (!rc)
        rc = load_named(d, st, &d->argnames, &d->args, &d->nargs, &d->args_cap, 0);
    sqlite3_finalize(st);
    return rc;
}

static int load_toplevel_logs(df *d)
{
    sqlite3_stmt *st;
    int rc = prepare(d,
                     "SELECT run_id, name, value FROM logs WHERE ctx_id IS NULL"
                     " ORDER BY run_id, rowid",
                     &st);
    if (!rc)
        rc = load_named(d, st, &d->lognames, &d->logs, &d->nlogs, &d->logs_cap, 1);
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

/* Copies V (whose text lives in the arena) into a cell of T. */
static int put_cell(flor_table *t, size_t row, size_t col, const flor__cell *v)
{
    if (v->type == FLOR_TEXT)
        return flor__table_set_text(t, row, col, v->v.s);
    *flor__table_cell(t, row, col) = *v;
    return 0;
}

/* Puts the cells LIST[LO, HI) of one run in their columns (COLOF). */
static int put_named(flor_table *t, size_t row, const named_cell *list, size_t lo, size_t hi,
                     const long *colof)
{
    int rc = 0;
    for (size_t i = lo; !rc && i < hi; i++)
        if (colof[list[i].name] >= 0)
            rc = put_cell(t, row, (size_t)colof[list[i].name], &list[i].v);
    return rc;
}

/* Fills the fixed columns of run R, and its args (their columns: ARGCOL). */
static int put_run_cells(df *d, flor_table *t, size_t row, const run_info *r,
                         const long *argcol)
{
    int rc = flor__table_set_text(t, row, 0, r->projid);
    if (!rc)
        rc = flor__table_set_text(t, row, 1, r->tstamp);
    if (!rc)
        rc = flor__table_set_text(t, row, 2, r->filename);
    return rc ? rc : put_named(t, row, d->args, r->args_lo, r->args_hi, argcol);
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
        rc = put_run_cells(d, t, row, ri, argcol);
        if (!rc)
            rc = put_named(t, row, d->logs, ri->logs_lo, ri->logs_hi, logcol);
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

/* The loops of each run are read in order of ctx_id into one array, and
 * the run keeps its range of it, so that finding (run, ctx) is a binary
 * search within the run (a direct hit when its ids are dense). */
typedef struct loop_ent {
    size_t run;       /* index in df.runs */
    int64_t ctx, parent, iter;
    size_t name;      /* id in loopnames */
    int depth;        /* 0 = outermost; -1 not yet known */
    size_t coords;    /* offset of its coordinates in the pool; 0 = not yet */
} loop_ent;

typedef struct loopmap {
    loop_ent *ents;
    size_t n, cap;
} loopmap;

static loop_ent *loop_find(const loopmap *m, const run_info *r, int64_t ctx)
{
    if (ctx == NIL || r->loops_hi == r->loops_lo)
        return NULL;
    loop_ent *e = m->ents + r->loops_lo;
    size_t n = r->loops_hi - r->loops_lo;
    if (ctx >= e[0].ctx && (uint64_t)(ctx - e[0].ctx) < n && e[ctx - e[0].ctx].ctx == ctx)
        return &e[ctx - e[0].ctx];
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e[mid].ctx < ctx)
            lo = mid + 1;
        else if (e[mid].ctx > ctx)
            hi = mid;
        else
            return &e[mid];
    }
    return NULL;
}

static void loop_release(loopmap *m)
{
    free(m->ents);
    memset(m, 0, sizeof *m);
}

/* ---- with names: per-name frames ------------------------------------------------- */

typedef struct frow {
    size_t run;       /* index in df.runs */
    uint32_t ent;     /* 1 + index of its context in pivot.loops; 0 outside loops */
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
    sqlite3_stmt *loops_st; /* the loops of one run */
    strmap loopnames;
    int *mindepth;      /* per loop name: smallest depth reached, -1 never */
    size_t *firstseen;  /* per loop name: order in which it was reached */
    size_t nseen;
    long *colof;        /* per loop name: its loop column, or -1 */
    size_t L;           /* number of loop columns */
    int64_t *pool;      /* coordinates, L per context, [0, L) all NULL */
    size_t npool, pool_cap;
    strmap wanted;      /* the names asked for: id j is frames[j] */
    nframe *frames;
    size_t k;           /* number of names */
} pivot;

static int load_loops(pivot *pv, run_info *r)
{
    df *d = pv->d;
    loopmap *m = &pv->loops;
    int rc = 0, step = SQLITE_DONE;
    if (!pv->loops_st && (rc = prepare(d, "SELECT ctx_id, parent_ctx_id, name, iteration"
                                          " FROM loops WHERE run_id = ? ORDER BY ctx_id",
                                       &pv->loops_st)) != 0)
        return rc;
    sqlite3_stmt *st = pv->loops_st;
    sqlite3_bind_int64(st, 1, r->id);
    r->loops_lo = m->n;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if (m->n >= UINT32_MAX - 1 || grow(&m->ents, &m->cap, m->n + 1, sizeof *m->ents) != 0) {
            rc = oom();
            break;
        }
        const char *name = (const char *)sqlite3_column_text(st, 2);
        loop_ent *e = &m->ents[m->n++];
        *e = (loop_ent){.run = (size_t)(r - d->runs), .ctx = sqlite3_column_int64(st, 0),
                        .depth = -1};
        e->parent = sqlite3_column_type(st, 1) == SQLITE_NULL ? NIL : sqlite3_column_int64(st, 1);
        e->iter = sqlite3_column_int64(st, 3);
        rc = strmap_add(&pv->loopnames, &d->text, name ? name : "", &e->name);
    }
    if (!rc && step != SQLITE_DONE)
        rc = sql_error(d, step, "cannot read the loops");
    sqlite3_reset(st);
    r->loops_hi = m->n;
    r->loops_loaded = 1;
    return rc;
}

/* Appends the row of ST (run_id, ctx_id, value) to F. */
static int add_frame_row(pivot *pv, nframe *f, sqlite3_stmt *st)
{
    df *d = pv->d;
    run_info *r = find_run(d, sqlite3_column_int64(st, 0));
    if (!r)
        return 0; /* a log of a run that is gone */
    int rc = 0;
    if (f->n >= UINT32_MAX - 1)
        return flor__err(FLOR_ENOMEM, "too many values for one dataframe column");
    if ((rc = grow(&f->rows, &f->cap, f->n + 1, sizeof *f->rows)) != 0)
        return rc;
    frow *row = &f->rows[f->n++];
    row->run = (size_t)(r - d->runs);
    row->ent = 0;
    row->coords = 0;
    if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
        if (!r->loops_loaded && (rc = load_loops(pv, r)) != 0)
            return rc;
        loop_ent *e = loop_find(&pv->loops, r, sqlite3_column_int64(st, 1));
        row->ent = e ? (uint32_t)(e - pv->loops.ents) + 1 : 0;
    }
    return read_cell(&d->text, st, 2, &row->v);
}

/* Runs ST (bound to NAME, or to nothing when NAME is NULL) and files its
 * rows (run_id, ctx_id, value, name) under frame J, or under the frame
 * of their name when NAME is NULL. */
static int read_frames(pivot *pv, sqlite3_stmt *st, const char *name, size_t j)
{
    int rc = 0, step = SQLITE_DONE;
    if (name)
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if (!name) {
            const char *s = (const char *)sqlite3_column_text(st, 3);
            long id = s ? strmap_find(&pv->wanted, s) : -1;
            if (id < 0)
                continue;
            j = (size_t)id;
        }
        rc = add_frame_row(pv, &pv->frames[j], st);
    }
    if (!rc && step != SQLITE_DONE)
        rc = sql_error(pv->d, step, "cannot read the logs");
    return rc;
}

/* Orders F's rows by run, keeping their order within a run (a counting
 * sort: the scan reads logs in the order they were written). */
static int sort_by_run(pivot *pv, nframe *f)
{
    size_t nruns = pv->d->nruns;
    size_t *start = calloc(nruns + 1, sizeof *start);
    frow *rows = malloc((f->n ? f->n : 1) * sizeof *rows);
    if (!start || !rows) {
        free(start);
        free(rows);
        return oom();
    }
    for (size_t i = 0; i < f->n; i++)
        start[f->rows[i].run + 1]++;
    for (size_t r = 0; r < nruns; r++)
        start[r + 1] += start[r];
    for (size_t i = 0; i < f->n; i++)
        rows[start[f->rows[i].run]++] = f->rows[i];
    free(f->rows);
    free(start);
    f->rows = rows;
    f->cap = f->n ? f->n : 1;
    return 0;
}

/* Whether reading the whole logs table once beats one index search per
 * name: a search costs about three times as much per row as a scan. */
static int scan_is_cheaper(pivot *pv, int *scan)
{
    sqlite3_stmt *st;
    int rc = prepare(pv->d, "SELECT (SELECT max(rowid) FROM logs),"
                            " (SELECT count(*) FROM logs WHERE name = ?)",
                     &st);
    int64_t total = 0, wanted = 0;
    for (size_t j = 0; !rc && j < pv->k; j++) {
        sqlite3_bind_text(st, 1, pv->wanted.keys[j], -1, SQLITE_STATIC);
        int step = sqlite3_step(st);
        if (step != SQLITE_ROW)
            rc = sql_error(pv->d, step, "cannot read the logs");
        total = sqlite3_column_int64(st, 0);
        wanted += sqlite3_column_int64(st, 1);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    *scan = wanted * 3 > total;
    return rc;
}

/* The rows of every name: its logs, or else (a hyperparameter) its args. */
static int load_frames(pivot *pv)
{
    static const char *const sql[3] = {
        "SELECT run_id, ctx_id, value, name FROM logs",
        "SELECT run_id, ctx_id, value FROM logs WHERE name = ? ORDER BY run_id, rowid",
        "SELECT run_id, NULL, value FROM args WHERE name = ? ORDER BY run_id",
    };
    sqlite3_stmt *st[3] = {NULL, NULL, NULL};
    int scan = 0, rc = scan_is_cheaper(pv, &scan);
    for (int i = scan ? 0 : 1; !rc && i < 3; i++)
        rc = prepare(pv->d, sql[i], &st[i]);
    if (!rc && scan)
        rc = read_frames(pv, st[0], NULL, 0);
    for (size_t j = 0; !rc && j < pv->k; j++) {
        const char *name = pv->wanted.keys[j];
        nframe *f = &pv->frames[j];
        if (scan)
            rc = sort_by_run(pv, f);
        else
            rc = read_frames(pv, st[1], name, j);
        sqlite3_reset(st[1]);
        if (!rc && f->n == 0)
            rc = read_frames(pv, st[2], name, j);
        sqlite3_reset(st[2]);
        if (!rc && f->n == 0)
            rc = flor__err(FLOR_ENOTFOUND, "no logs named '%s' in project '%s'", name,
                           flor_project_id(pv->d->p));
    }
    for (int i = 0; i < 3; i++)
        sqlite3_finalize(st[i]);
    return rc;
}

/* Depth of E (0 outermost), marking the loop names reached on the way.
 * LEVEL bounds the walk, should corrupt data make the parents a cycle. */
static int resolve_depth(pivot *pv, loop_ent *e, int level)
{
    if (e->depth >= 0)
        return e->depth;
    loop_ent *parent =
        level < MAX_DEPTH ? loop_find(&pv->loops, &pv->d->runs[e->run], e->parent) : NULL;
    e->depth = parent ? resolve_depth(pv, parent, level + 1) + 1 : 0;
    if (pv->mindepth[e->name] < 0) {
        pv->firstseen[e->name] = pv->nseen++;
        pv->mindepth[e->name] = e->depth;
    } else if (e->depth < pv->mindepth[e->name]) {
        pv->mindepth[e->name] = e->depth;
    }
    return e->depth;
}

typedef struct loop_rank {
    int depth;
    size_t first, id;
} loop_rank;

static int cmp_rank(const void *a, const void *b)
{
    const loop_rank *x = a, *y = b;
    if (x->depth != y->depth)
        return x->depth < y->depth ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* Decides the loop columns: the loop names reached, by their smallest
 * depth (outermost first), then in the order they were reached. */
static int order_loops(pivot *pv)
{
    size_t n = pv->loopnames.n;
    loop_rank *rank = malloc((n ? n : 1) * sizeof *rank);
    pv->colof = malloc((n ? n : 1) * sizeof *pv->colof);
    if (!rank || !pv->colof) {
        free(rank);
        return oom();
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        pv->colof[i] = -1;
        if (pv->mindepth[i] >= 0)
            rank[m++] = (loop_rank){pv->mindepth[i], pv->firstseen[i], i};
    }
    qsort(rank, m, sizeof *rank, cmp_rank);
    for (size_t i = 0; i < m; i++)
        pv->colof[rank[i].id] = (long)i;
    pv->L = m;
    free(rank);
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
    loop_ent *parent = e->depth > 0 ? loop_find(&pv->loops, &pv->d->runs[e->run], e->parent) : NULL;
    if (parent && parent->depth == e->depth - 1) { /* as resolve_depth walked */
        int rc = coords_of(pv, parent, &base);
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
            if (r->ent)
                rc = coords_of(pv, &pv->loops.ents[r->ent - 1], &r->coords);
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
    uint32_t *src;        /* n * k: 1 + the row of frame j for column j; 0 none */
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
        uint32_t *v = realloc(m->src, cap * k * sizeof *v);
        if (v)
            m->src = v;
        if (!r || !c || !v)
            return oom();
        m->cap = cap;
    }
    m->run[m->n] = run;
    memset(m->src + m->n * k, 0, k * sizeof *m->src);
    m->n++;
    return 0;
}

static void merged_release(merged *m)
{
    free(m->run);
    free(m->coords);
    free(m->src);
    free(m->has);
    memset(m, 0, sizeof *m);
}

/* A row seen through its key: run, coordinates, and its index. */
typedef struct keyed {
    size_t run;
    const int64_t *c;
    size_t i;
} keyed;

typedef struct keyspec {
    const size_t *cols; /* the loop columns compared, in order */
    size_t n;
} keyspec;

/* Orders by run, then by the key's columns, NULL first (NIL is the
 * smallest int64); a NULL equals a NULL, as NaN keys do in pandas. */
static int keyed_cmp(const keyed *x, const keyed *y, const keyspec *k)
{
    if (x->run != y->run)
        return x->run < y->run ? -1 : 1;
    for (size_t i = 0; i < k->n; i++) {
        int64_t a = x->c[k->cols[i]], b = y->c[k->cols[i]];
        if (a != b)
            return a < b ? -1 : 1;
    }
    return 0;
}

static void keyed_msort(keyed *a, keyed *tmp, size_t n, const keyspec *k)
{
    if (n < 2)
        return;
    size_t h = n / 2, i = 0, j = h, o = 0;
    keyed_msort(a, tmp, h, k);
    keyed_msort(a + h, tmp, n - h, k);
    if (keyed_cmp(&a[h - 1], &a[h], k) <= 0)
        return; /* already in order */
    while (i < h && j < n)
        tmp[o++] = keyed_cmp(&a[j], &a[i], k) < 0 ? a[j++] : a[i++];
    while (i < h)
        tmp[o++] = a[i++];
    while (j < n)
        tmp[o++] = a[j++];
    memcpy(a, tmp, n * sizeof *a);
}

/* Sorts A stably by key.  The rows usually come in order already, which
 * costs one pass. */
static int keyed_sort(keyed *a, size_t n, const keyspec *k)
{
    size_t i = 1;
    while (i < n && keyed_cmp(&a[i - 1], &a[i], k) <= 0)
        i++;
    if (i >= n)
        return 0;
    keyed *tmp = malloc(n * sizeof *tmp);
    if (!tmp)
        return oom();
    keyed_msort(a, tmp, n, k);
    free(tmp);
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
        memcpy(out->src + o * k, in->src + i * k, k * sizeof *out->src);
    if (fi != SIZE_MAX)
        out->src[o * k + j] = (uint32_t)fi + 1;
    return 0;
}

/* The sort-merge join of IN's rows A and frame J's rows B, both sorted
 * by KS: every pair with equal keys, and each row that has none. */
static int join(const pivot *pv, const merged *in, const keyed *a, const keyed *b, size_t j,
                const keyspec *ks, merged *out)
{
    const nframe *f = &pv->frames[j];
    size_t na = in->n, nb = f->n, i = 0, fi = 0;
    int rc = 0;
    while (!rc && (i < na || fi < nb)) {
        int c = i == na ? 1 : fi == nb ? -1 : keyed_cmp(&a[i], &b[fi], ks);
        if (c < 0) {
            rc = emit(pv, out, in, a[i++].i, f, SIZE_MAX, j);
        } else if (c > 0) {
            rc = emit(pv, out, NULL, SIZE_MAX, f, b[fi++].i, j);
        } else {
            size_t i2 = i + 1, f2 = fi + 1;
            while (i2 < na && keyed_cmp(&a[i2], &a[i], ks) == 0)
                i2++;
            while (f2 < nb && keyed_cmp(&b[f2], &b[fi], ks) == 0)
                f2++;
            for (size_t x = i; !rc && x < i2; x++)
                for (size_t y = fi; !rc && y < f2; y++)
                    rc = emit(pv, out, in, a[x].i, f, b[y].i, j);
            i = i2;
            fi = f2;
        }
    }
    return rc;
}

/* OUT = IN outer-merged with frame J on run and their common loop columns. */
static int merge_one(const pivot *pv, const merged *in, size_t j, merged *out)
{
    const nframe *f = &pv->frames[j];
    size_t L = pv->L, nkey = 0;
    size_t *cols = malloc((L ? L : 1) * sizeof *cols);
    keyed *a = malloc((in->n ? in->n : 1) * sizeof *a);
    keyed *b = malloc((f->n ? f->n : 1) * sizeof *b);
    int rc = cols && a && b ? 0 : oom();
    for (size_t c = 0; !rc && c < L; c++)
        if (in->has[c] && f->has[c])
            cols[nkey++] = c;
    keyspec ks = {cols, nkey};
    for (size_t i = 0; !rc && i < in->n; i++)
        a[i] = (keyed){in->run[i], in->coords + i * L, i};
    for (size_t i = 0; !rc && i < f->n; i++)
        b[i] = (keyed){f->rows[i].run, pv->pool + f->rows[i].coords, i};
    if (!rc)
        rc = keyed_sort(a, in->n, &ks);
    if (!rc)
        rc = keyed_sort(b, f->n, &ks);
    if (!rc)
        rc = join(pv, in, a, b, j, &ks, out);
    if (!rc && !(out->has = malloc(L ? L : 1)))
        rc = oom();
    for (size_t c = 0; !rc && c < L; c++)
        out->has[c] = in->has[c] | f->has[c];
    free(cols);
    free(a);
    free(b);
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

/* The empty table of the names view: fixed columns, args, loops, names. */
static flor_table *names_columns(pivot *pv, const long *argcol, size_t nargcols)
{
    df *d = pv->d;
    size_t first_loop = 3 + nargcols, ncols = first_loop + pv->L + pv->k;
    const char **colnames = calloc(ncols, sizeof *colnames);
    if (!colnames) {
        oom();
        return NULL;
    }
    for (size_t i = 0; i < 3; i++)
        colnames[i] = FIXED[i];
    for (size_t id = 0; id < d->argnames.n; id++)
        if (argcol[id] >= 0)
            colnames[argcol[id]] = d->argnames.keys[id];
    for (size_t id = 0; id < pv->loopnames.n; id++)
        if (pv->colof[id] >= 0)
            colnames[first_loop + (size_t)pv->colof[id]] = pv->loopnames.keys[id];
    for (size_t j = 0; j < pv->k; j++)
        colnames[first_loop + pv->L + j] = pv->wanted.keys[j];
    flor_table *t = flor__table_new(ncols, colnames);
    free(colnames);
    return t;
}

/* Row R of the merge as row ROW of T, whose loop columns start at FIRST_LOOP. */
static int put_merged_row(pivot *pv, const merged *m, size_t r, const long *argcol,
                          flor_table *t, size_t row, size_t first_loop)
{
    size_t L = pv->L, k = pv->k;
    const run_info *ri = &pv->d->runs[m->run[r]];
    int rc = put_run_cells(pv->d, t, row, ri, argcol);
    for (size_t c = 0; !rc && c < L; c++) {
        int64_t v = m->coords[r * L + c];
        if (v != NIL)
            *flor__table_cell(t, row, first_loop + c) =
                (flor__cell){.type = FLOR_INTEGER, .v.i = v};
    }
    for (size_t j = 0; !rc && j < k; j++)
        if (m->src[r * k + j])
            rc = put_cell(t, row, first_loop + L + j,
                          &pv->frames[j].rows[m->src[r * k + j] - 1].v);
    return rc;
}

/* The table of the merged rows, sorted by run, then loops (NULL first). */
static int names_table(pivot *pv, const merged *m, flor_table **out)
{
    size_t L = pv->L, ncols = 3;
    long *argcol = NULL;
    size_t *all = malloc((L ? L : 1) * sizeof *all);
    keyed *order = malloc((m->n ? m->n : 1) * sizeof *order);
    int rc = all && order ? 0 : oom();
    if (!rc)
        rc = place_columns(pv->d, &pv->d->argnames, pv->d->args, 0, &argcol, &ncols);
    flor_table *t = rc ? NULL : names_columns(pv, argcol, ncols - 3);
    if (!rc && !t)
        rc = FLOR_ENOMEM;
    for (size_t c = 0; c < L && !rc; c++)
        all[c] = c;
    keyspec ks = {all, L};
    for (size_t i = 0; !rc && i < m->n; i++)
        order[i] = (keyed){m->run[i], m->coords + i * L, i};
    if (!rc)
        rc = keyed_sort(order, m->n, &ks);
    for (size_t i = 0; !rc && i < m->n; i++) {
        size_t row = flor__table_add_row(t);
        rc = row == (size_t)-1 ? FLOR_ENOMEM
                               : put_merged_row(pv, m, order[i].i, argcol, t, row, ncols);
    }
    free(argcol);
    free(all);
    free(order);
    if (rc) {
        flor_table_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* Claims the names of the output's loop and value columns before the
 * args, so that an arg of the same name gives way. */
static int claim_names(pivot *pv)
{
    int ok, rc = claim_fixed(pv->d);
    for (size_t id = 0; !rc && id < pv->loopnames.n; id++)
        if (pv->colof[id] >= 0)
            rc = claim(pv->d, pv->loopnames.keys[id], &ok);
    for (size_t j = 0; !rc && j < pv->k; j++)
        rc = claim(pv->d, pv->wanted.keys[j], &ok);
    return rc;
}

static void pivot_release(pivot *pv)
{
    loop_release(&pv->loops);
    sqlite3_finalize(pv->loops_st);
    strmap_release(&pv->loopnames);
    strmap_release(&pv->wanted);
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
            if (r->ent)
                resolve_depth(pv, &pv->loops.ents[r->ent - 1], 0);
        }
    return 0;
}

/* The names asked for, without repeats (the first occurrence stays). */
static int unique_names(pivot *pv, const char *const *names, size_t n)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        size_t id;
        if (!names[i] || !names[i][0])
            rc = flor__err(FLOR_EINVAL, "dataframe: name %zu is empty", i + 1);
        else
            rc = strmap_add(&pv->wanted, &pv->d->text, names[i], &id);
    }
    pv->k = pv->wanted.n;
    return rc;
}

static int names_view(df *d, const char *const *given, size_t n, flor_table **out)
{
    pivot pv = {.d = d};
    merged m = {0};
    int rc = unique_names(&pv, given, n);
    if (!rc && !(pv.frames = calloc(pv.k, sizeof *pv.frames)))
        rc = oom();
    if (!rc)
        rc = load_frames(&pv);
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
        rc = claim_names(&pv);
    if (!rc)
        rc = names_table(&pv, &m, out);
    merged_release(&m);
    pivot_release(&pv);
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
    int own_txn = sqlite3_get_autocommit(d.db) &&
                  sqlite3_exec(d.db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
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
