/*
 * table.c -- flor_table, the rows every project call returns: a row-major
 * grid of typed cells (NULL, integer, real, text) with column names.
 *
 * Rows grow by doubling, so appending is amortized O(1); the only
 * allocation per cell is the copy of a text value, which the table owns.
 */
#include "db/db.h"

#include <stdlib.h>
#include <string.h>

/* ---- building ------------------------------------------------------------ */

static void table_free_names(char **names, size_t n)
{
    if (!names)
        return;
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

flor_table *flor__table_new(size_t ncols, const char *const *colnames)
{
    flor_table *t = calloc(1, sizeof *t);
    char **names = calloc(ncols ? ncols : 1, sizeof *names);
    if (!t || !names)
        goto oom;
    for (size_t i = 0; i < ncols; i++) {
        const char *name = colnames && colnames[i] ? colnames[i] : "";
        if (!(names[i] = flor__strdup(name)))
            goto oom;
    }
    t->ncols = ncols;
    t->colnames = names;
    return t;
oom:
    table_free_names(names, ncols);
    free(t);
    flor__err(FLOR_ENOMEM, "out of memory for a table of %zu columns", ncols);
    return NULL;
}

/* Makes room for at least NROWS rows; new cells are NULL (zeroed). */
static int table_reserve(flor_table *t, size_t nrows)
{
    if (nrows <= t->cap)
        return 0;
    size_t cap = t->cap ? t->cap : 16;
    while (cap < nrows)
        cap *= 2;
    size_t width = t->ncols ? t->ncols : 1;
    if (cap > SIZE_MAX / width / sizeof(flor__cell))
        return flor__err(FLOR_ENOMEM, "table too large (%zu rows)", nrows);
    flor__cell *cells = realloc(t->cells, cap * width * sizeof *cells);
    if (!cells)
        return flor__err(FLOR_ENOMEM, "out of memory for a table of %zu rows", nrows);
    memset(cells + t->cap * width, 0, (cap - t->cap) * width * sizeof *cells);
    t->cells = cells;
    t->cap = cap;
    return 0;
}

size_t flor__table_add_row(flor_table *t)
{
    if (table_reserve(t, t->nrows + 1) != 0)
        return (size_t)-1;
    return t->nrows++;
}

flor__cell *flor__table_cell(flor_table *t, size_t row, size_t col)
{
    if (!t || row >= t->nrows || col >= t->ncols)
        return NULL;
    return &t->cells[row * t->ncols + col];
}

static void cell_clear(flor__cell *c)
{
    if (c->type == FLOR_TEXT)
        free(c->v.s);
    c->type = FLOR_NULL;
    c->v.i = 0;
}

/* Stores a copy of the LEN bytes at S as a text cell. */
static int cell_set_bytes(flor__cell *c, const char *s, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return flor__err(FLOR_ENOMEM, "out of memory for a text value of %zu bytes", len);
    memcpy(copy, s, len);
    copy[len] = 0;
    cell_clear(c);
    c->type = FLOR_TEXT;
    c->v.s = copy;
    return 0;
}

int flor__table_set_text(flor_table *t, size_t row, size_t col, const char *s)
{
    flor__cell *c = flor__table_cell(t, row, col);
    if (!c)
        return flor__err(FLOR_EINVAL, "table cell (%zu, %zu) out of range", row, col);
    if (!s) {
        cell_clear(c);
        return 0;
    }
    return cell_set_bytes(c, s, strlen(s));
}

size_t flor__blob_literal_size(size_t n)
{
    return n > (SIZE_MAX - 4) / 2 ? 0 : 2 * n + 4;
}

void flor__blob_literal(char *s, const unsigned char *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t k = 0;
    s[k++] = 'X';
    s[k++] = '\'';
    for (size_t i = 0; i < n; i++) {
        s[k++] = hex[p[i] >> 4];
        s[k++] = hex[p[i] & 15];
    }
    s[k++] = '\'';
    s[k] = 0;
}

/* A blob has no flor_type: it is shown as SQLite's literal, X'0A1B'. */
static int cell_set_blob(flor__cell *c, const unsigned char *p, size_t n)
{
    size_t len = flor__blob_literal_size(n);
    if (!len)
        return flor__err(FLOR_ENOMEM, "blob too large (%zu bytes)", n);
    char *s = malloc(len);
    if (!s)
        return flor__err(FLOR_ENOMEM, "out of memory for a blob of %zu bytes", n);
    flor__blob_literal(s, p, n);
    cell_clear(c);
    c->type = FLOR_TEXT;
    c->v.s = s;
    return 0;
}

int flor__table_set_value(flor_table *t, size_t row, size_t col, sqlite3_value *v)
{
    flor__cell *c = flor__table_cell(t, row, col);
    if (!c)
        return flor__err(FLOR_EINVAL, "table cell (%zu, %zu) out of range", row, col);
    switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER:
        cell_clear(c);
        c->type = FLOR_INTEGER;
        c->v.i = sqlite3_value_int64(v);
        return 0;
    case SQLITE_FLOAT:
        cell_clear(c);
        c->type = FLOR_REAL;
        c->v.r = sqlite3_value_double(v);
        return 0;
    case SQLITE_TEXT: {
        const char *s = (const char *)sqlite3_value_text(v);
        if (!s)
            return flor__err(FLOR_ENOMEM, "out of memory reading a text value");
        return cell_set_bytes(c, s, (size_t)sqlite3_value_bytes(v));
    }
    case SQLITE_BLOB:
        return cell_set_blob(c, sqlite3_value_blob(v), (size_t)sqlite3_value_bytes(v));
    default:
        cell_clear(c);
        return 0;
    }
}

int flor__table_set_column(flor_table *t, sqlite3_stmt *st, size_t row, size_t col, int stcol)
{
    return flor__table_set_value(t, row, col, sqlite3_column_value(st, stcol));
}

int flor__table_from_stmt(sqlite3_stmt *st, flor_table **out)
{
    *out = NULL;
    int ncols = sqlite3_column_count(st);
    const char **names = calloc(ncols > 0 ? (size_t)ncols : 1, sizeof *names);
    if (!names)
        return flor__err(FLOR_ENOMEM, "out of memory");
    for (int i = 0; i < ncols; i++)
        names[i] = sqlite3_column_name(st, i);
    flor_table *t = flor__table_new((size_t)ncols, names);
    free(names);
    if (!t)
        return FLOR_ENOMEM;
    int rc, err = 0;
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        size_t row = flor__table_add_row(t);
        if (row == (size_t)-1)
            err = FLOR_ENOMEM;
        for (int i = 0; !err && i < ncols; i++)
            err = flor__table_set_column(t, st, row, (size_t)i, i);
    }
    if (!err && rc != SQLITE_DONE)
        err = flor__err_sqlite(sqlite3_db_handle(st), rc, "query failed");
    if (err) {
        flor_table_free(t);
        return err;
    }
    *out = t;
    return 0;
}

/* ---- reading ------------------------------------------------------------- */

size_t flor_table_ncols(const flor_table *t) { return t ? t->ncols : 0; }
size_t flor_table_nrows(const flor_table *t) { return t ? t->nrows : 0; }

const char *flor_table_colname(const flor_table *t, size_t col)
{
    return t && col < t->ncols ? t->colnames[col] : NULL;
}

static const flor__cell *cell_at(const flor_table *t, size_t row, size_t col)
{
    if (!t || row >= t->nrows || col >= t->ncols)
        return NULL;
    return &t->cells[row * t->ncols + col];
}

flor_type flor_table_type(const flor_table *t, size_t row, size_t col)
{
    const flor__cell *c = cell_at(t, row, col);
    return c ? c->type : FLOR_NULL;
}

int64_t flor_table_int(const flor_table *t, size_t row, size_t col)
{
    const flor__cell *c = cell_at(t, row, col);
    return c && c->type == FLOR_INTEGER ? c->v.i : 0;
}

double flor_table_real(const flor_table *t, size_t row, size_t col)
{
    const flor__cell *c = cell_at(t, row, col);
    return c && c->type == FLOR_REAL ? c->v.r : 0.0;
}

const char *flor_table_text(const flor_table *t, size_t row, size_t col)
{
    const flor__cell *c = cell_at(t, row, col);
    return c && c->type == FLOR_TEXT ? c->v.s : NULL;
}

void flor_table_free(flor_table *t)
{
    if (!t)
        return;
    size_t n = t->nrows * t->ncols;
    for (size_t i = 0; i < n; i++)
        if (t->cells[i].type == FLOR_TEXT)
            free(t->cells[i].v.s);
    free(t->cells);
    table_free_names(t->colnames, t->ncols);
    free(t);
}

int flor__table_of_run(sqlite3 *db, const char *sql, int64_t run, flor_table **out,
                       const char *what)
{
    *out = NULL;
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db, sql, &st, what);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run);
    rc = flor__table_from_stmt(st, out);
    sqlite3_finalize(st);
    return rc;
}
