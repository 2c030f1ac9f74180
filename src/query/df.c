/*
 * df.c -- the state of one dataframe call, what both views use of it:
 * reading the project's database, and placing the output's columns (a
 * name given to one column only; the fixed columns, then the args).
 */
#include "query/query.h"

#include <stdlib.h>
#include <string.h>

int flor__df_sql_error(df *d, int rc, const char *what)
{
    return flor__err_sqlite(d->db, rc, what);
}

int flor__df_prepare(df *d, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(d->db, sql, -1, st, NULL);
    return rc == SQLITE_OK ? 0 : flor__df_sql_error(d, rc, "cannot read the project's database");
}

/* ---- the output's columns ------------------------------------------------------ */

/* Claims column name S; false when another column already has it. */
int flor__df_claim(df *d, const char *s, int *ok)
{
    *ok = flor__strmap_find(&d->taken, s) < 0;
    size_t id;
    return *ok ? flor__strmap_add(&d->taken, &d->text, s, &id) : 0;
}

/* Maps each id of NAMES, taken from the cells of the used runs in order,
 * to an output column (from *NEXT on), or -1 when its name is taken. */
int flor__df_place_columns(df *d, const strmap *names, const named_cell *list, int lohi,
                           long **colof, size_t *next)
{
    *colof = malloc((names->n ? names->n : 1) * sizeof **colof);
    if (!*colof)
        return flor__df_oom();
    for (size_t i = 0; i < names->n; i++)
        (*colof)[i] = -2; /* not seen yet */
    for (size_t r = 0; r < d->nruns; r++) {
        run_info *ri = &d->runs[r];
        size_t lo = lohi ? ri->logs_lo : ri->args_lo, hi = lohi ? ri->logs_hi : ri->args_hi;
        for (size_t i = lo; ri->used && i < hi; i++) {
            size_t id = list[i].name;
            if ((*colof)[id] != -2)
                continue;
            int ok, rc = flor__df_claim(d, names->keys[id], &ok);
            if (rc)
                return rc;
            (*colof)[id] = ok ? (long)(*next)++ : -1;
        }
    }
    return 0;
}

const char *const flor__df_fixed[4] = {"projid", "tstamp", "filename", "rank"};

/* Copies V (whose text lives in the arena) into a cell of T. */
int flor__df_put_cell(flor_table *t, size_t row, size_t col, const flor__cell *v)
{
    if (v->type == FLOR_TEXT)
        return flor__table_set_text(t, row, col, v->v.s);
    *flor__table_cell(t, row, col) = *v;
    return 0;
}

/* Puts the cells LIST[LO, HI) of one run in their columns (COLOF). */
int flor__df_put_named(flor_table *t, size_t row, const named_cell *list, size_t lo, size_t hi,
                       const long *colof)
{
    int rc = 0;
    for (size_t i = lo; !rc && i < hi; i++)
        if (colof[list[i].name] >= 0)
            rc = flor__df_put_cell(t, row, (size_t)colof[list[i].name], &list[i].v);
    return rc;
}

/* Fills the fixed columns of run R, and its args (their columns: ARGCOL). */
int flor__df_put_run_cells(df *d, flor_table *t, size_t row, const run_info *r, const long *argcol)
{
    int rc = flor__table_set_text(t, row, 0, r->projid);
    if (!rc)
        rc = flor__table_set_text(t, row, 1, r->tstamp);
    if (!rc)
        rc = flor__table_set_text(t, row, 2, r->filename);
    if (!rc && d->nfixed > 3)
        *flor__table_cell(t, row, 3) = (flor__cell){.type = FLOR_INTEGER, .v.i = r->rank};
    return rc ? rc : flor__df_put_named(t, row, d->args, r->args_lo, r->args_hi, argcol);
}

int flor__df_claim_fixed(df *d)
{
    int ok, rc = 0;
    for (size_t i = 0; !rc && i < d->nfixed; i++)
        rc = flor__df_claim(d, flor__df_fixed[i], &ok);
    return rc;
}

