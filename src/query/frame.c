/*
 * frame.c -- flor_project_dataframe(): the pivoted view of a project.
 *
 * With no names: one row per run, with its args and the last value of
 * every name logged outside any loop, but flor's bookkeeping (the Python
 * module's thread settings, which a replay reads back from `logs`).
 *
 * With names: each name becomes a small frame of (run, loop coordinates,
 * value), where the coordinates come from walking loops.parent_ctx_id up
 * from the log's context.  The frames are outer-merged on their common
 * columns, as pandas' merge(how="outer") does (a NULL key equals a NULL
 * key), then sorted by run and coordinates, NULL first.
 *
 * The files: see query/query.h.  This one reads the runs and their args,
 * places the output's columns and builds the view with no names.
 *
 * Speed: the loops of the runs involved are loaded once into a hash map
 * keyed (run, ctx), and each context's coordinates are computed once.
 * The logs are read by name through the index, or by one scan of the
 * table when the names asked for are a large share of it.  The merge is a
 * sort-merge join whose inputs almost always arrive sorted already, so
 * the whole view is linear in the logs read plus the size of the result.
 */
#include "query/query.h"

#include <stdlib.h>
#include <string.h>

static int load_runs(df *d)
{
    sqlite3_stmt *st;
    int rc = flor__df_prepare(
        d, "SELECT run_id, projid, tstamp, filename, rank, world_size FROM runs ORDER BY run_id",
        &st);
    if (rc)
        return rc;
    int step = SQLITE_DONE;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if ((rc = flor__df_grow(&d->runs, &d->runs_cap, d->nruns + 1, sizeof *d->runs)) != 0)
            break;
        run_info *r = &d->runs[d->nruns++];
        memset(r, 0, sizeof *r);
        r->id = sqlite3_column_int64(st, 0);
        r->projid = flor__df_column_str(&d->text, st, 1);
        r->tstamp = flor__df_column_str(&d->text, st, 2);
        r->filename = flor__df_column_str(&d->text, st, 3);
        r->rank = (long)sqlite3_column_int64(st, 4);
        if (sqlite3_column_int64(st, 5) > 1)
            d->nfixed = 4;
        if (!r->projid || !r->tstamp || !r->filename)
            rc = flor__df_oom();
    }
    if (!rc && step != SQLITE_DONE)
        rc = flor__df_sql_error(d, step, "cannot read the runs");
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
        run_info *r = flor__df_find_run(d, sqlite3_column_int64(st, 0));
        const char *name = (const char *)sqlite3_column_text(st, 1);
        size_t id, ri = r ? (size_t)(r - d->runs) + 1 : 0;
        if (!r || !name)
            continue;
        if ((rc = flor__strmap_add(names, &d->text, name, &id)) != 0 ||
            (rc = flor__df_grow(&pos, &pos_cap, names->n, sizeof *pos)) != 0 ||
            (rc = flor__df_grow_zero(&stamp, &stamp_cap, names->n, sizeof *stamp)) != 0)
            break;
        size_t *lo = logs ? &r->logs_lo : &r->args_lo, *hi = logs ? &r->logs_hi : &r->args_hi;
        if (*hi == 0)
            *lo = *n;
        if (stamp[id] != ri) {
            if ((rc = flor__df_grow(list, cap, *n + 1, sizeof **list)) != 0)
                break;
            stamp[id] = ri;
            pos[id] = (*n)++;
        }
        named_cell *c = &(*list)[pos[id]];
        c->name = id;
        rc = flor__df_read_cell(&d->text, st, 2, &c->v);
        *hi = *n;
    }
    if (!rc && step != SQLITE_DONE)
        rc = flor__df_sql_error(d, step, "cannot read the project's database");
    free(pos);
    free(stamp);
    return rc;
}

static int load_args(df *d)
{
    sqlite3_stmt *st;
    int rc = flor__df_prepare(d, "SELECT run_id, name, value FROM args ORDER BY run_id, ord", &st);
    if (!rc)
        rc = load_named(d, st, &d->argnames, &d->args, &d->nargs, &d->args_cap, 0);
    sqlite3_finalize(st);
    return rc;
}

static int load_toplevel_logs(df *d)
{
    sqlite3_stmt *st;
    int rc = flor__df_prepare(d,
                              "SELECT run_id, name, value FROM logs WHERE ctx_id IS NULL"
                              " AND name NOT IN ('flor.torch_threads', 'flor.blas_threads')"
                              " ORDER BY run_id, rowid",
                              &st);
    if (!rc)
        rc = load_named(d, st, &d->lognames, &d->logs, &d->nlogs, &d->logs_cap, 1);
    sqlite3_finalize(st);
    return rc;
}

/* Names the columns: fixed ones, then groups given as (strmap, colof). */
static const char **column_names(const df *d, size_t ncols, const strmap *const *maps, long *const *colofs,
                                 size_t nmaps)
{
    const char **names = calloc(ncols ? ncols : 1, sizeof *names);
    if (!names)
        return NULL;
    for (size_t i = 0; i < d->nfixed; i++)
        names[i] = flor__df_fixed[i];
    for (size_t m = 0; m < nmaps; m++)
        for (size_t id = 0; id < maps[m]->n; id++)
            if (colofs[m][id] >= 0)
                names[colofs[m][id]] = maps[m]->keys[id];
    return names;
}

/* ---- with no names: one row per run ---------------------------------------------- */

static int runs_view(df *d, flor_table **out)
{
    int rc = load_toplevel_logs(d);
    long *argcol = NULL, *logcol = NULL;
    size_t ncols = d->nfixed;
    for (size_t r = 0; r < d->nruns; r++)
        d->runs[r].used = 1;
    if (!rc)
        rc = flor__df_claim_fixed(d);
    if (!rc)
        rc = flor__df_place_columns(d, &d->argnames, d->args, 0, &argcol, &ncols);
    if (!rc)
        rc = flor__df_place_columns(d, &d->lognames, d->logs, 1, &logcol, &ncols);
    flor_table *t = NULL;
    if (!rc) {
        const strmap *maps[2] = {&d->argnames, &d->lognames};
        long *colofs[2] = {argcol, logcol};
        const char **names = column_names(d, ncols, maps, colofs, 2);
        t = names ? flor__table_new(ncols, names) : NULL;
        free(names);
        rc = t ? 0 : flor__df_oom();
    }
    for (size_t r = 0; !rc && r < d->nruns; r++) {
        const run_info *ri = &d->runs[r];
        size_t row = flor__table_add_row(t);
        if (row == (size_t)-1) {
            rc = FLOR_ENOMEM;
            break;
        }
        rc = flor__df_put_run_cells(d, t, row, ri, argcol);
        if (!rc)
            rc = flor__df_put_named(t, row, d->logs, ri->logs_lo, ri->logs_hi, logcol);
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

/* ---- the entry point ------------------------------------------------------------- */

static void df_release(df *d)
{
    free(d->runs);
    free(d->args);
    free(d->logs);
    flor__strmap_release(&d->argnames);
    flor__strmap_release(&d->lognames);
    flor__strmap_release(&d->taken);
    flor__arena_release(&d->text);
}

int flor_project_dataframe(flor_project *p, const char *const *names, size_t n, flor_table **out)
{
    if (out)
        *out = NULL;
    flor__err_clear();
    if (!p || !out || (n && !names))
        return flor__err(FLOR_EINVAL, "flor_project_dataframe: NULL argument");
    df d = {.p = p, .db = p->db, .nfixed = 3};
    /* One read transaction, so that every query sees the same snapshot
     * while runs go on writing. */
    int own_txn = sqlite3_get_autocommit(d.db) &&
                  sqlite3_exec(d.db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
    int rc = load_runs(&d);
    if (!rc)
        rc = load_args(&d);
    if (!rc)
        rc = n ? flor__df_names_view(&d, names, n, out) : runs_view(&d, out);
    if (own_txn)
        sqlite3_exec(d.db, "COMMIT", NULL, NULL, NULL);
    df_release(&d);
    return rc;
}
