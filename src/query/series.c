/*
 * series.c -- flor_project_series: the values of one name logged inside
 * loops, streamed to a callback, run after run, each run's in the order
 * its iterations ran.  One statement (db/records.c) reads them in the
 * index's order, which is the order they were written: the order of the
 * iterations but for a replay's values, written by segments in parallel.
 * A run's values are therefore held (in one buffer, reused from run to
 * run) until its last one is read, put in order when they are not, and
 * then handed out.
 */
#include "base/base.h"
#include "db/db.h"
#include "project/project.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A value read, before its run is complete; SEQ: its rank in the read,
 * which breaks ties between values of one context. */
typedef struct held {
    int64_t ctx;
    size_t seq;
    double value;
    int hindsight;
} held;

typedef struct reader {
    held *v;
    size_t n, cap;
    flor_point_fn fn;
    void *arg;
} reader;

static int hold(reader *r, const held *h)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 1024;
        held *v = cap > SIZE_MAX / sizeof *v ? NULL : realloc(r->v, cap * sizeof *v);
        if (!v)
            return flor__err(FLOR_ENOMEM, "out of memory reading a series");
        r->v = v;
        r->cap = cap;
    }
    r->v[r->n++] = *h;
    return 0;
}

static int by_ctx(const void *a, const void *b)
{
    const held *x = a, *y = b;
    if (x->ctx != y->ctx)
        return x->ctx < y->ctx ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Hands out the values held of run RUN, in order, and empties the buffer. */
static int flush(reader *r, int64_t run)
{
    size_t i = 1;
    while (i < r->n && r->v[i - 1].ctx <= r->v[i].ctx)
        i++;
    if (i < r->n)
        qsort(r->v, r->n, sizeof *r->v, by_ctx);
    int rc = 0;
    for (i = 0; !rc && i < r->n; i++) {
        flor_point pt = {.run = run, .position = (int64_t)i, .ctx = r->v[i].ctx,
                         .value = r->v[i].value, .hindsight = r->v[i].hindsight};
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
    size_t seq = 0;
    int step, rc = 0;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        if (id != run && r->n)
            rc = flush(r, run);
        run = id;
        held h = {.ctx = sqlite3_column_int64(st, 1), .seq = seq++, .value = number(st, 2),
                  .hindsight = sqlite3_column_int(st, 3)};
        if (!rc)
            rc = hold(r, &h);
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
    free(r.v);
    return flor__project_read_end(p, rc);
}
