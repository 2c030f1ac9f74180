/*
 * pivot.c -- the dataframe with names (flor__df_names_view): each name
 * becomes a frame of (run, loop coordinates, value), the coordinates
 * found by walking loops.parent_ctx_id up from the log's context; the
 * frames are outer-merged (merge.c), then sorted by run and coordinates,
 * NULL first, into the table.
 */
#include "query/query.h"

#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64 /* loops nest at most this deep (flor__run's stack) */

/* ---- loops: (run, ctx) -> (parent, loop name, iteration) ------------------------- */

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

static int load_loops(pivot *pv, run_info *r)
{
    df *d = pv->d;
    loopmap *m = &pv->loops;
    int rc = 0, step = SQLITE_DONE;
    /* a loop's coordinate: its recorded value when that is an integer
     * (but INT64_MIN, which stands for NULL here), else its index */
    if (!pv->loops_st &&
        (rc = flor__df_prepare(d, "SELECT ctx_id, parent_ctx_id, name, CASE WHEN typeof(value) ="
                                  " 'integer' AND value > -9223372036854775808 THEN value ELSE"
                                  " iteration END FROM loops WHERE run_id = ? ORDER BY ctx_id",
                               &pv->loops_st)) != 0)
        return rc;
    sqlite3_stmt *st = pv->loops_st;
    sqlite3_bind_int64(st, 1, r->id);
    r->loops_lo = m->n;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if (m->n >= UINT32_MAX - 1 ||
            flor__df_grow(&m->ents, &m->cap, m->n + 1, sizeof *m->ents) != 0) {
            rc = flor__df_oom();
            break;
        }
        const char *name = (const char *)sqlite3_column_text(st, 2);
        loop_ent *e = &m->ents[m->n++];
        *e = (loop_ent){.run = (size_t)(r - d->runs), .ctx = sqlite3_column_int64(st, 0),
                        .depth = -1};
        e->parent = sqlite3_column_type(st, 1) == SQLITE_NULL ? NIL : sqlite3_column_int64(st, 1);
        e->iter = sqlite3_column_int64(st, 3);
        rc = flor__strmap_add(&pv->loopnames, &d->text, name ? name : "", &e->name);
    }
    if (!rc && step != SQLITE_DONE)
        rc = flor__df_sql_error(d, step, "cannot read the loops");
    sqlite3_reset(st);
    r->loops_hi = m->n;
    r->loops_loaded = 1;
    return rc;
}

/* Appends the row of ST (run_id, ctx_id, value) to F. */
static int add_frame_row(pivot *pv, nframe *f, sqlite3_stmt *st)
{
    df *d = pv->d;
    run_info *r = flor__df_find_run(d, sqlite3_column_int64(st, 0));
    if (!r)
        return 0; /* a log of a run that is gone */
    int rc = 0;
    if (f->n >= UINT32_MAX - 1)
        return flor__err(FLOR_ENOMEM, "too many values for one dataframe column");
    if ((rc = flor__df_grow(&f->rows, &f->cap, f->n + 1, sizeof *f->rows)) != 0)
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
    return flor__df_read_cell(&d->text, st, 2, &row->v);
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
            long id = s ? flor__strmap_find(&pv->wanted, s) : -1;
            if (id < 0)
                continue;
            j = (size_t)id;
        }
        rc = add_frame_row(pv, &pv->frames[j], st);
    }
    if (!rc && step != SQLITE_DONE)
        rc = flor__df_sql_error(pv->d, step, "cannot read the logs");
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
        return flor__df_oom();
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
    int rc = flor__df_prepare(pv->d, "SELECT (SELECT max(rowid) FROM logs),"
                            " (SELECT count(*) FROM logs WHERE name = ?)",
                     &st);
    int64_t total = 0, wanted = 0;
    for (size_t j = 0; !rc && j < pv->k; j++) {
        sqlite3_bind_text(st, 1, pv->wanted.keys[j], -1, SQLITE_STATIC);
        int step = sqlite3_step(st);
        if (step != SQLITE_ROW)
            rc = flor__df_sql_error(pv->d, step, "cannot read the logs");
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
        rc = flor__df_prepare(pv->d, sql[i], &st[i]);
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
        return flor__df_oom();
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
    if (flor__df_grow(&pv->pool, &pv->pool_cap, pv->npool + L, sizeof *pv->pool) != 0)
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
    if (flor__df_grow(&pv->pool, &pv->pool_cap, L ? L : 1, sizeof *pv->pool) != 0)
        return FLOR_ENOMEM;
    for (size_t i = 0; i < L; i++)
        pv->pool[i] = NIL;
    pv->npool = L ? L : 1; /* offset 0 stays the all-NULL vector even when L == 0 */
    return 0;
}

static uint64_t row_hash(int64_t run, const int64_t *c, const size_t *cols, size_t ncols)
{
    uint64_t h = flor__df_mix(0x51ed27, (uint64_t)run);
    for (size_t i = 0; i < ncols; i++)
        h = flor__df_mix(h, (uint64_t)c[cols[i]]);
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
    size_t nslots = flor__df_pow2(f->n * 2);
    size_t *slots = malloc(nslots * sizeof *slots); /* row index + 1 */
    if (!slots)
        return flor__df_oom();
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
        return flor__df_oom();
    for (size_t i = 0; i < L; i++)
        all[i] = i;
    int rc = 0;
    for (size_t j = 0; !rc && j < pv->k; j++) {
        nframe *f = &pv->frames[j];
        if (!(f->has = calloc(L ? L : 1, 1))) {
            rc = flor__df_oom();
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

/* ---- sorting and the table --------------------------------------------------------- */

/* The empty table of the names view: fixed columns, args, loops, names. */
static flor_table *names_columns(pivot *pv, const long *argcol, size_t nargcols)
{
    df *d = pv->d;
    size_t first_loop = d->nfixed + nargcols, ncols = first_loop + pv->L + pv->k;
    const char **colnames = calloc(ncols, sizeof *colnames);
    if (!colnames) {
        flor__df_oom();
        return NULL;
    }
    for (size_t i = 0; i < d->nfixed; i++)
        colnames[i] = flor__df_fixed[i];
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
    int rc = flor__df_put_run_cells(pv->d, t, row, ri, argcol);
    for (size_t c = 0; !rc && c < L; c++) {
        int64_t v = m->coords[r * L + c];
        if (v != NIL)
            *flor__table_cell(t, row, first_loop + c) =
                (flor__cell){.type = FLOR_INTEGER, .v.i = v};
    }
    for (size_t j = 0; !rc && j < k; j++)
        if (m->src[r * k + j])
            rc = flor__df_put_cell(t, row, first_loop + L + j,
                                   &pv->frames[j].rows[m->src[r * k + j] - 1].v);
    return rc;
}

/* The table of the merged rows, sorted by run, then loops (NULL first). */
static int names_table(pivot *pv, const merged *m, flor_table **out)
{
    size_t L = pv->L, ncols = pv->d->nfixed;
    long *argcol = NULL;
    size_t *all = malloc((L ? L : 1) * sizeof *all);
    keyed *order = malloc((m->n ? m->n : 1) * sizeof *order);
    int rc = all && order ? 0 : flor__df_oom();
    if (!rc)
        rc = flor__df_place_columns(pv->d, &pv->d->argnames, pv->d->args, 0, &argcol, &ncols);
    flor_table *t = rc ? NULL : names_columns(pv, argcol, ncols - pv->d->nfixed);
    if (!rc && !t)
        rc = FLOR_ENOMEM;
    for (size_t c = 0; c < L && !rc; c++)
        all[c] = c;
    keyspec ks = {all, L};
    for (size_t i = 0; !rc && i < m->n; i++)
        order[i] = (keyed){m->run[i], m->coords + i * L, i};
    if (!rc)
        rc = flor__keyed_sort(order, m->n, &ks);
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
    int ok, rc = flor__df_claim_fixed(pv->d);
    for (size_t id = 0; !rc && id < pv->loopnames.n; id++)
        if (pv->colof[id] >= 0)
            rc = flor__df_claim(pv->d, pv->loopnames.keys[id], &ok);
    for (size_t j = 0; !rc && j < pv->k; j++)
        rc = flor__df_claim(pv->d, pv->wanted.keys[j], &ok);
    return rc;
}

static void pivot_release(pivot *pv)
{
    loop_release(&pv->loops);
    sqlite3_finalize(pv->loops_st);
    flor__strmap_release(&pv->loopnames);
    flor__strmap_release(&pv->wanted);
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
        return flor__df_oom();
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
            rc = flor__strmap_add(&pv->wanted, &pv->d->text, names[i], &id);
    }
    pv->k = pv->wanted.n;
    return rc;
}

int flor__df_names_view(df *d, const char *const *given, size_t n, flor_table **out)
{
    pivot pv = {.d = d};
    merged m = {0};
    int rc = unique_names(&pv, given, n);
    if (!rc && !(pv.frames = calloc(pv.k, sizeof *pv.frames)))
        rc = flor__df_oom();
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
        rc = flor__merge_all(&pv, &m);
    if (!rc)
        rc = claim_names(&pv);
    if (!rc)
        rc = names_table(&pv, &m, out);
    flor__merged_release(&m);
    pivot_release(&pv);
    return rc;
}
