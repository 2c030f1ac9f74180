/*
 * arena.c -- the dataframe's memory: the arena that holds the text of
 * every value read (freed all at once), and a column of a result row read
 * as a cell into it.  (The growing arrays are inline in query/query.h.)
 */
#include "query/query.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int flor__df_oom(void)
{
    return flor__err(FLOR_ENOMEM, "out of memory building the dataframe");
}

/* N bytes that live as long as the arena. */
char *flor__arena_alloc(arena *a, size_t n)
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

char *flor__arena_copy(arena *a, const char *s, size_t n)
{
    char *p = flor__arena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

void flor__arena_release(arena *a)
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
    size_t len = flor__blob_literal_size(n);
    char *s = len ? flor__arena_alloc(a, len) : NULL;
    if (s)
        flor__blob_literal(s, p, n);
    return s;
}

/* A column's value as a cell whose text (if any) lives in the arena. */
int flor__df_read_cell(arena *a, sqlite3_stmt *st, int col, flor__cell *out)
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
        out->v.s = s ? flor__arena_copy(a, s, (size_t)sqlite3_column_bytes(st, col)) : NULL;
        return out->v.s ? 0 : flor__df_oom();
    }
    case SQLITE_BLOB:
        out->type = FLOR_TEXT;
        out->v.s = blob_literal(a, sqlite3_column_blob(st, col),
                                (size_t)sqlite3_column_bytes(st, col));
        return out->v.s ? 0 : flor__df_oom();
    default:
        out->type = FLOR_NULL;
        return 0;
    }
}

const char *flor__df_column_str(arena *a, sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    return flor__arena_copy(a, s ? s : "", s ? (size_t)sqlite3_column_bytes(st, col) : 0);
}
