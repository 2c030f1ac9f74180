/*
 * series.c -- reading the curves of a name (series.h).  A value's loop
 * position is its rank among the run's values of that name inside loops,
 * ordered by context (the order the iterations ran in): the global
 * iteration of the loop that logs it.
 */
#include "series.h"
#include "buf.h"
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

char *cli_sql_quote(const char *name)
{
    cli_buf b = {0};
    cli_buf_putc(&b, '\'');
    for (const char *s = name; *s; s++) {
        if (*s == '\'')
            cli_buf_putc(&b, '\'');
        cli_buf_putc(&b, *s);
    }
    cli_buf_putc(&b, '\'');
    return cli_buf_take(&b, NULL);
}

/* " AND COLUMN IN (1,2,3)", or nothing for no runs; " AND (WHERE)" too. */
static void run_filter(cli_buf *b, const char *column, const int64_t *runs, size_t nruns,
                       const char *where)
{
    if (nruns) {
        cli_buf_printf(b, " AND %s IN (", column);
        for (size_t i = 0; i < nruns; i++) {
            if (i)
                cli_buf_putc(b, ',');
            cli_buf_int(b, runs[i]);
        }
        cli_buf_putc(b, ')');
    }
    if (where)
        cli_buf_printf(b, " AND %s IN (SELECT run_id FROM runs WHERE (%s\n))", column, where);
}

static double cell_value(const flor_table *t, size_t r, size_t c)
{
    switch (flor_table_type(t, r, c)) {
    case FLOR_INTEGER:
        return (double)flor_table_int(t, r, c);
    case FLOR_REAL:
        return flor_table_real(t, r, c);
    default:
        return NAN; /* the text 'NaN' (docs/schema.md), or a value that is no number */
    }
}

static int query(flor_project *p, cli_buf *sql, flor_table **out)
{
    char *text = cli_buf_take(sql, NULL);
    if (!text) {
        flor_table_free(*out);
        return FLOR_ENOMEM;
    }
    int rc = flor_project_query(p, text, out);
    free(text);
    return rc;
}

/* The coords of each of run RUN's contexts, as the divergences table
 * spells them ("epoch=0/step=20"): column 0 ctx_id, column 1 coords. */
static int coords_of(flor_project *p, int64_t run, flor_table **out)
{
    cli_buf sql = {0};
    cli_buf_printf(&sql,
                   "WITH RECURSIVE up(ctx, parent, path) AS ("
                   " SELECT ctx_id, parent_ctx_id, name || '=' || iteration FROM main.loops"
                   " WHERE run_id = %lld"
                   " UNION ALL SELECT up.ctx, l.parent_ctx_id, l.name || '=' || l.iteration"
                   " || '/' || up.path FROM up JOIN main.loops l"
                   " ON l.run_id = %lld AND l.ctx_id = up.parent)"
                   " SELECT ctx, path FROM up WHERE parent IS NULL ORDER BY ctx",
                   (long long)run, (long long)run);
    return query(p, &sql, out);
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* Marks in S the positions whose context's coords are among the rows of
 * DIVS (column 0 run, column 1 coords) for S's run.  CTX holds the
 * context of each point. */
static int mark_divergences(flor_project *p, cli_series *s, const int64_t *ctx,
                            const flor_table *divs)
{
    size_t nd = flor_table_nrows(divs), mine = 0;
    for (size_t r = 0; r < nd; r++)
        mine += flor_table_int(divs, r, 0) == s->run;
    if (!mine)
        return 0;
    flor_table *coords = NULL;
    int rc = coords_of(p, s->run, &coords);
    if (rc) {
        flor_table_free(coords);
        return rc;
    }
    s->div = malloc(mine * sizeof *s->div);
    if (!s->div) {
        flor_table_free(coords);
        return FLOR_ENOMEM;
    }
    size_t nc = flor_table_nrows(coords);
    for (size_t r = 0; r < nd; r++) {
        if (flor_table_int(divs, r, 0) != s->run)
            continue;
        const char *want = flor_table_text(divs, r, 1);
        int64_t at = -1;
        for (size_t k = 0; k < nc && at < 0; k++)
            if (want && flor_table_text(coords, k, 1) &&
                strcmp(flor_table_text(coords, k, 1), want) == 0)
                at = flor_table_int(coords, k, 0);
        for (size_t i = 0; i < s->n && at >= 0; i++)
            if (ctx[i] == at) {
                s->div[s->ndiv++] = i;
                break;
            }
    }
    qsort(s->div, s->ndiv, sizeof *s->div, cmp_size);
    flor_table_free(coords);
    return 0;
}

/* Orders points A and B (indexes into the contexts ARG) by context, then
 * by rowid (their index). */
static int cmp_point(const void *a, const void *b, void *arg)
{
    const int64_t *ctx = arg;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    if (ctx[x] != ctx[y])
        return ctx[x] < ctx[y] ? -1 : 1;
    return (x > y) - (x < y);
}

/* Puts the points of S, and their contexts CTX, in context order when
 * they are not. */
static int sort_points(cli_series *s, int64_t *ctx)
{
    size_t i = 1;
    while (i < s->n && ctx[i - 1] <= ctx[i])
        i++;
    if (i >= s->n)
        return 0;
    size_t *order = malloc(s->n * sizeof *order);
    double *y = malloc(s->n * sizeof *y);
    unsigned char *rep = malloc(s->n);
    int64_t *c = malloc(s->n * sizeof *c);
    int rc = order && y && rep && c ? 0 : FLOR_ENOMEM;
    if (rc == 0) {
        for (i = 0; i < s->n; i++)
            order[i] = i;
        qsort_r(order, s->n, sizeof *order, cmp_point, ctx);
        for (i = 0; i < s->n; i++) {
            y[i] = s->y[order[i]];
            rep[i] = s->replay[order[i]];
            c[i] = ctx[order[i]];
        }
        memcpy(s->y, y, s->n * sizeof *y);
        memcpy(s->replay, rep, s->n);
        memcpy(ctx, c, s->n * sizeof *c);
    }
    free(order);
    free(y);
    free(rep);
    free(c);
    return rc;
}

/* Fills SET from T (run_id, ctx_id, value, source ordered by run). */
static int split_runs(flor_project *p, const flor_table *t, const flor_table *divs,
                      cli_series_set *set)
{
    size_t nrows = flor_table_nrows(t), nruns = 0;
    for (size_t r = 0; r < nrows; r++)
        nruns += r == 0 || flor_table_int(t, r, 0) != flor_table_int(t, r - 1, 0);
    set->s = calloc(nruns ? nruns : 1, sizeof *set->s);
    if (!set->s)
        return FLOR_ENOMEM;
    for (size_t r = 0; r < nrows;) {
        size_t end = r + 1;
        while (end < nrows && flor_table_int(t, end, 0) == flor_table_int(t, r, 0))
            end++;
        cli_series *s = &set->s[set->count++];
        s->run = flor_table_int(t, r, 0);
        s->n = end - r;
        s->y = malloc(s->n * sizeof *s->y);
        s->replay = malloc(s->n);
        int64_t *ctx = malloc(s->n * sizeof *ctx);
        if (!s->y || !s->replay || !ctx) {
            free(ctx);
            return FLOR_ENOMEM;
        }
        for (size_t i = 0; i < s->n; i++) {
            s->y[i] = cell_value(t, r + i, 2);
            const char *src = flor_table_text(t, r + i, 3);
            s->replay[i] = src && strcmp(src, "replay") == 0;
            ctx[i] = flor_table_int(t, r + i, 1);
        }
        int rc = sort_points(s, ctx);
        if (rc == 0 && divs)
            rc = mark_divergences(p, s, ctx, divs);
        free(ctx);
        if (rc)
            return rc;
        r = end;
    }
    return 0;
}

int cli_series_read(flor_project *p, const char *name, const int64_t *runs, size_t nruns,
                    const char *where, cli_series_set *out)
{
    *out = (cli_series_set){0};
    if (where && flor_sql_condition_check(where) != 0)
        return FLOR_EINVAL;
    char *quoted = cli_sql_quote(name);
    if (!quoted)
        return FLOR_ENOMEM;
    cli_buf sql = {0};
    cli_buf_printf(&sql,
                   "SELECT run_id, ctx_id, value, source FROM main.logs"
                   " WHERE name = %s AND ctx_id IS NOT NULL",
                   quoted);
    run_filter(&sql, "run_id", runs, nruns, where);
    /* in the index's order (logs_by_name ends with the rowid): no sort in
     * SQLite; a run whose values are not in context order (a replay's,
     * written by segments in parallel) is sorted by sort_points */
    cli_buf_puts(&sql, " ORDER BY run_id, rowid");
    flor_table *t = NULL, *divs = NULL;
    int rc = query(p, &sql, &t);
    if (rc == 0) {
        cli_buf_printf(&sql,
                       "SELECT r.run_id, d.coords FROM divergences d JOIN replays r"
                       " ON r.replay_id = d.replay_id WHERE d.name = %s",
                       quoted);
        run_filter(&sql, "r.run_id", runs, nruns, where);
        rc = query(p, &sql, &divs);
    }
    free(quoted);
    if (rc == 0)
        rc = split_runs(p, t, flor_table_nrows(divs) ? divs : NULL, out);
    flor_table_free(t);
    flor_table_free(divs);
    if (rc)
        cli_series_release(out);
    return rc;
}

void cli_series_release(cli_series_set *set)
{
    for (size_t i = 0; i < set->count; i++) {
        free(set->s[i].y);
        free(set->s[i].replay);
        free(set->s[i].div);
    }
    free(set->s);
    *set = (cli_series_set){0};
}
