/*
 * series.c -- reading the curves of a name (series.h).  A value's loop
 * position is its rank among the run's values of that name inside loops,
 * ordered by context (the order the iterations ran in): the global
 * iteration of the loop that logs it.  flor_project_series streams the
 * values in that order; the divergences (a few rows, their place named by
 * coords) are turned into contexts first, and matched on the way.
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

/* A context at which a replay diverged: run, ctx, and how many times. */
typedef struct div_at {
    int64_t run, ctx;
    unsigned count;
} div_at;

static int cmp_div(const void *a, const void *b)
{
    const div_at *x = a, *y = b;
    if (x->run != y->run)
        return x->run < y->run ? -1 : 1;
    return (x->ctx > y->ctx) - (x->ctx < y->ctx);
}

/* The contexts of the divergences DIVS (column 0 run, column 1 coords,
 * ordered by run) into *OUT, sorted: a run's coords are looked up once. */
static int divergent_contexts(flor_project *p, const flor_table *divs, div_at **out, size_t *n)
{
    size_t nd = flor_table_nrows(divs);
    *n = 0;
    *out = calloc(nd ? nd : 1, sizeof **out);
    if (!*out)
        return FLOR_ENOMEM;
    flor_table *coords = NULL;
    int64_t coords_run = 0;
    int rc = 0;
    for (size_t r = 0; r < nd && !rc; r++) {
        int64_t run = flor_table_int(divs, r, 0);
        if (run != coords_run) {
            flor_table_free(coords);
            coords = NULL;
            coords_run = run;
            if ((rc = coords_of(p, run, &coords)) != 0)
                break;
        }
        const char *want = flor_table_text(divs, r, 1);
        for (size_t k = 0; want && k < flor_table_nrows(coords); k++) {
            const char *have = flor_table_text(coords, k, 1);
            if (have && strcmp(have, want) == 0) {
                (*out)[(*n)++] = (div_at){run, flor_table_int(coords, k, 0), 1};
                break;
            }
        }
    }
    flor_table_free(coords);
    qsort(*out, *n, sizeof **out, cmp_div);
    size_t w = 0; /* one entry per context, counting its divergences */
    for (size_t i = 0; i < *n; i++) {
        if (w && (*out)[w - 1].run == (*out)[i].run && (*out)[w - 1].ctx == (*out)[i].ctx)
            (*out)[w - 1].count++;
        else
            (*out)[w++] = (*out)[i];
    }
    *n = w;
    return rc;
}

typedef struct stream {
    const cli_series_visitor *v;
    const div_at *div;
    size_t ndiv, next; /* the first divergence not passed yet */
    int64_t run;       /* the run under way; 0: none yet */
} stream;

static int on_point(void *arg, const flor_point *pt)
{
    stream *s = arg;
    int rc = 0;
    if (pt->run != s->run) {
        if (s->run)
            rc = s->v->end(s->v->arg, s->run);
        s->run = pt->run;
        if (!rc)
            rc = s->v->begin(s->v->arg, pt->run);
        if (rc)
            return rc;
    }
    /* points come by run, then by context: so do the divergences; the
     * first point of a divergent context carries its count */
    while (s->next < s->ndiv &&
           (s->div[s->next].run < pt->run ||
            (s->div[s->next].run == pt->run && s->div[s->next].ctx < pt->ctx)))
        s->next++;
    unsigned count = 0;
    if (s->next < s->ndiv && s->div[s->next].run == pt->run && s->div[s->next].ctx == pt->ctx)
        count = s->div[s->next++].count;
    return s->v->point(s->v->arg, pt, count);
}

int cli_series_each(flor_project *p, const char *name, const int64_t *runs, size_t nruns,
                    const char *where, const cli_series_visitor *v)
{
    if (where && flor_sql_condition_check(where) != 0)
        return FLOR_EINVAL;
    char *quoted = cli_sql_quote(name);
    if (!quoted)
        return FLOR_ENOMEM;
    cli_buf sql = {0};
    cli_buf_printf(&sql,
                   "SELECT r.run_id, d.coords FROM divergences d JOIN replays r"
                   " ON r.replay_id = d.replay_id WHERE d.name = %s",
                   quoted);
    free(quoted);
    run_filter(&sql, "r.run_id", runs, nruns, where);
    cli_buf_puts(&sql, " ORDER BY r.run_id");
    flor_table *divs = NULL;
    stream s = {.v = v};
    div_at *at = NULL;
    int rc = query(p, &sql, &divs);
    if (rc == 0)
        rc = divergent_contexts(p, divs, &at, &s.ndiv);
    flor_table_free(divs);
    s.div = at;
    if (rc == 0)
        rc = flor_project_series(p, name, runs, nruns, where, on_point, &s);
    if (rc == 0 && s.run)
        rc = v->end(v->arg, s.run);
    free(at);
    return rc;
}

/* ---- cli_series_read: the series held, for flor plot and the JSON -------- */

static bool grow(void *pp, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*(void **)pp, c * size);
    if (!q)
        return false;
    *(void **)pp = q;
    *cap = c;
    return true;
}

typedef struct holder {
    cli_series_set *set;
    size_t sets_cap, y_cap, replay_cap, div_cap; /* of the set, and of its last series */
} holder;

static int hold_begin(void *arg, int64_t run)
{
    holder *h = arg;
    if (!grow(&h->set->s, &h->sets_cap, h->set->count + 1, sizeof *h->set->s))
        return FLOR_ENOMEM;
    h->set->s[h->set->count++] = (cli_series){.run = run};
    h->y_cap = h->replay_cap = h->div_cap = 0;
    return 0;
}

static int hold_point(void *arg, const flor_point *pt, unsigned divergences)
{
    holder *h = arg;
    cli_series *s = &h->set->s[h->set->count - 1];
    if (!grow(&s->y, &h->y_cap, s->n + 1, sizeof *s->y) ||
        !grow(&s->replay, &h->replay_cap, s->n + 1, 1))
        return FLOR_ENOMEM;
    if (divergences && !grow(&s->div, &h->div_cap, s->ndiv + divergences, sizeof *s->div))
        return FLOR_ENOMEM;
    while (divergences--)
        s->div[s->ndiv++] = s->n;
    s->y[s->n] = pt->value;
    s->replay[s->n++] = (unsigned char)pt->hindsight;
    return 0;
}

static int hold_end(void *arg, int64_t run)
{
    (void)arg, (void)run;
    return 0;
}

int cli_series_read(flor_project *p, const char *name, const int64_t *runs, size_t nruns,
                    const char *where, cli_series_set *out)
{
    *out = (cli_series_set){0};
    holder h = {.set = out};
    cli_series_visitor v = {hold_begin, hold_point, hold_end, &h};
    int rc = cli_series_each(p, name, runs, nruns, where, &v);
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
