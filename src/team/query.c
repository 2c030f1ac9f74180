/*
 * query.c -- SQL on the team's PostgreSQL itself, read only, into a
 * flor_table (team/team.h; flor query --server).
 */
#include "team/team.h"
#include "db/db.h"

#include <stdlib.h>
#include <string.h>

typedef struct rows {
    flor_table *t;
    char *kinds;
} rows;

static int on_cols(void *ctx, int n, const char *const *names, const char *kinds)
{
    rows *x = ctx;
    x->t = flor__table_new((size_t)n, names);
    x->kinds = flor__strdup(kinds);
    return x->t && x->kinds ? 0 : flor__err(FLOR_ENOMEM, "out of memory");
}

static int on_row(void *ctx, int n, char **v)
{
    rows *x = ctx;
    size_t r = flor__table_add_row(x->t);
    if (r == (size_t)-1)
        return flor__err(FLOR_ENOMEM, "out of memory");
    for (int c = 0; c < n; c++) {
        if (!v[c])
            continue;
        flor__cell *cell = flor__table_cell(x->t, r, (size_t)c);
        switch (x->kinds[c]) {
        case 'i':
            cell->type = FLOR_INTEGER, cell->v.i = strtoll(v[c], NULL, 10);
            break;
        case 'b':
            cell->type = FLOR_INTEGER, cell->v.i = v[c][0] == 't';
            break;
        case 'r':
            cell->type = FLOR_REAL, cell->v.r = strtod(v[c], NULL);
            break;
        default:
            if (flor__table_set_text(x->t, r, (size_t)c, v[c]) != 0)
                return flor__err(FLOR_ENOMEM, "out of memory");
        }
    }
    return 0;
}

int flor__team_query(flor__pg *pg, const char *sql, int timeout_ms, flor_table **out)
{
    *out = NULL;
    rows x = {0};
    int rc = flor__pg_begin_read(pg, timeout_ms);
    if (rc)
        return rc;
    rc = flor__pg_query(pg, sql, on_cols, on_row, &x);
    flor__pg_end(pg, 0); /* read only: nothing to keep */
    free(x.kinds);
    if (rc) {
        flor_table_free(x.t);
        return rc;
    }
    *out = x.t;
    return 0;
}
