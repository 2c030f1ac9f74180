/*
 * series.c -- flor_project_series: the values of one name logged inside
 * loops, streamed to a callback, run after run, each run's in the order
 * its iterations ran.  One statement (db/records.c) reads them in the
 * index's order, which is the order they were written: the order of the
 * iterations but for a replay's values, written by segments in parallel.
 * A run's values are therefore held (in buffers reused from run to run)
 * until its last one is read, put in order when they are not, and then
 * handed out.
 */
#include "base/base.h"
#include "db/db.h"
#include "project/project.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The values of the run under way, held until its last one is read: in
 * three columns (the memory written per value is most of the read's own
 * cost), their rank in the read being their index. */
typedef struct reader {
    int64_t *ctx;
    double *value;
    unsigned char *hindsight;
    size_t n, cap;
    size_t *order; /* a permutation, for a run out of context order */
    size_t order_cap;
    flor_point_fn fn;
    void *arg;
} reader;

static int oom(void)
{
    return flor__err(FLOR_ENOMEM, "out of memory reading a series");
}

/* Reallocates *PP to N elements of SIZE. */
static int resize(void *pp, size_t n, size_t size)
{
    void *q = n > SIZE_MAX / size ? NULL : realloc(*(void **)pp, n * size);
    if (!q)
        return oom();
    *(void **)pp = q;
    return 0;
}

static int hold(reader *r, int64_t ctx, double value, int hindsight)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 1024;
        if (resize(&r->ctx, cap, sizeof *r->ctx) || resize(&r->value, cap, sizeof *r->value) ||
            resize(&r->hindsight, cap, 1))
            return FLOR_ENOMEM;
        r->cap = cap;
    }
    r->ctx[r->n] = ctx;
    r->value[r->n] = value;
    r->hindsight[r->n++] = (unsigned char)hindsight;
    return 0;
}

/* Orders indexes A and B of the held values (ARG: their contexts) by
 * context, then by rank in the read. */
static int by_ctx(const void *a, const void *b, void *arg)
{
    const int64_t *ctx = arg;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    if (ctx[x] != ctx[y])
        return ctx[x] < ctx[y] ? -1 : 1;
    return (x > y) - (x < y);
}

/* Hands out the values held of run RUN, in order, and empties the buffer. */
static int flush(reader *r, int64_t run)
{
    size_t i = 1;
    while (i < r->n && r->ctx[i - 1] <= r->ctx[i])
        i++;
    const size_t *order = NULL;
    if (i < r->n) {
        if (r->order_cap < r->n && resize(&r->order, r->n, sizeof *r->order))
            return FLOR_ENOMEM;
        r->order_cap = r->order_cap < r->n ? r->n : r->order_cap;
        for (i = 0; i < r->n; i++)
            r->order[i] = i;
        qsort_r(r->order, r->n, sizeof *r->order, by_ctx, r->ctx);
        order = r->order;
    }
    int rc = 0;
    flor_point pt = {.run = run};
    for (i = 0; !rc && i < r->n; i++) {
        size_t k = order ? order[i] : i;
        pt.position = (int64_t)i;
        pt.ctx = r->ctx[k];
        pt.value = r->value[k];
        pt.hindsight = r->hindsight[k];
        rc = r->fn(r->arg, &pt);
    }
    r->n = 0;
    return rc;
}

/* Column COL of ST as a number: NaN for the text 'NaN' (docs/schema.md)
 * or a value that is none. */
static double number(sqlite3_stmt *st, int col)
{
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_INTEGER:
        return (double)sqlite3_column_int64(st, col);
    case SQLITE_FLOAT:
        return sqlite3_column_double(st, col);
    default:
        return NAN;
    }
}

static int read_rows(sqlite3 *db, sqlite3_stmt *st, reader *r)
{
    int64_t run = 0;
    int step, rc = 0;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        if (id != run && r->n)
            rc = flush(r, run);
        run = id;
        if (!rc)
            rc = hold(r, sqlite3_column_int64(st, 1), number(st, 2), sqlite3_column_int(st, 3));
    }
    if (!rc && step != SQLITE_DONE)
        return flor__err_sqlite(db, step, "cannot read the logs");
    return rc ? rc : r->n ? flush(r, run) : 0;
}

int flor_project_series(flor_project *p, const char *name, const int64_t *runs, size_t nruns,
                        const char *where, flor_point_fn fn, void *arg)
{
    flor__err_clear();
    if (!p || !name || !*name || !fn || (nruns && !runs))
        return flor__err(FLOR_EINVAL, "flor_project_series: expected a project, a name, a "
                                      "callback and, with NRUNS > 0, the runs");
    if (where && flor_sql_condition_check(where) != 0)
        return FLOR_EINVAL;
    sqlite3 *db;
    int rc = flor__project_read_db(p, &db);
    sqlite3_stmt *st = NULL;
    if (!rc)
        rc = flor__logs_series_prepare(db, runs, nruns, where, &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    reader r = {.fn = fn, .arg = arg};
    flor__project_read_begin(p);
    rc = read_rows(db, st, &r);
    sqlite3_finalize(st);
    free(r.ctx);
    free(r.value);
    free(r.hindsight);
    free(r.order);
    return flor__project_read_end(p, rc);
}
