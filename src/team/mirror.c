/*
 * mirror.c -- a team's read replica, refreshed from the team's PostgreSQL
 * (team/team.h, docs/team.md "Reading the team's runs").  One refresh is
 * one REPEATABLE READ, read-only transaction on the server and one write
 * transaction on the replica: the server's marks, every run and arg, and
 * per checkout the logs and loops between the replica's mark and the
 * server's, read by COPY.
 */
#include "team/team.h"
#include "db/db.h"

#include <stdlib.h>
#include <string.h>

/* A checkout's window: the replica holds its logs up to LO, the server's
 * snapshot up to HI. */
typedef struct window {
    char *checkout;
    int64_t lo, hi;
} window;

/* A run whose resumes grew: its logs and loops are read whole. */
typedef struct regrown {
    char *checkout;
    int64_t team_run;
} regrown;

typedef struct refresh {
    flor__pg *pg;
    flor__mirror *m;
    window *w;
    size_t nw, capw;
    regrown *g;
    size_t ng, capg;
    /* the last run looked up, for the rows that follow it */
    char *last_checkout;
    int64_t last_team_run, last_run;
    flor__team_refresh_stats st;
} refresh;

static int oom(void)
{
    return flor__err(FLOR_ENOMEM, "out of memory reading the team's runs");
}

static int grow(void **p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *q = realloc(*p, ncap * size);
    if (!q)
        return oom();
    *p = q, *cap = ncap;
    return 0;
}

static int64_t num(const char *s)
{
    return s ? strtoll(s, NULL, 10) : 0;
}

/* The replica's run id of the server's run (CHECKOUT, TEAM_RUN). */
static int run_of(refresh *x, const char *checkout, const char *team_run, int64_t *run)
{
    int64_t t = num(team_run);
    if (x->last_checkout && t == x->last_team_run && strcmp(x->last_checkout, checkout) == 0) {
        *run = x->last_run;
        return 0;
    }
    int rc = flor__mirror_find_run(x->m, checkout, t, run);
    if (rc)
        return rc;
    free(x->last_checkout);
    if (!(x->last_checkout = flor__strdup(checkout)))
        return oom();
    x->last_team_run = t, x->last_run = *run;
    return 0;
}

/* ---- the rows ----------------------------------------------------------- */

static int on_mark(void *ctx, int n, char **v)
{
    refresh *x = ctx;
    if (n != 2 || !v[0])
        return flor__err(FLOR_EINVAL, "%s: flor_sync: unexpected row", flor__pg_where(x->pg));
    int rc = grow((void **)&x->w, &x->capw, x->nw, sizeof *x->w);
    if (rc)
        return rc;
    window *w = &x->w[x->nw];
    if (!(w->checkout = flor__strdup(v[0])))
        return oom();
    x->nw++;
    w->hi = num(v[1]);
    return flor__mirror_mark(x->m, w->checkout, &w->lo);
}

#define RUN_NAMES                                                                         \
    "checkout, run_id, projid, tstamp, filename, vid, argv, host, pid, proc_start, status," \
    " start_time, end_time, ckpt_overhead, reason, rank, world_size, job, launcher, resumes"

static int on_run(void *ctx, int n, char **v)
{
    refresh *x = ctx;
    if (n != 20 || !v[0])
        return flor__err(FLOR_EINVAL, "%s: flor_runs: unexpected row", flor__pg_where(x->pg));
    int64_t run;
    int regrew;
    int rc = flor__mirror_run(x->m, v[0], num(v[1]), (const char *const *)v + 2, num(v[19]), &run,
                              &regrew);
    if (rc || !regrew)
        return rc;
    x->st.regrown++;
    if ((rc = flor__mirror_forget_rows(x->m, run)) != 0 ||
        (rc = grow((void **)&x->g, &x->capg, x->ng, sizeof *x->g)) != 0)
        return rc;
    if (!(x->g[x->ng].checkout = flor__strdup(v[0])))
        return oom();
    x->g[x->ng++].team_run = num(v[1]);
    return 0;
}

static int on_arg(void *ctx, int n, char **v)
{
    refresh *x = ctx;
    int64_t run;
    if (n != 8 || !v[0] || !v[2])
        return flor__err(FLOR_EINVAL, "%s: flor_args: unexpected row", flor__pg_where(x->pg));
    int rc = run_of(x, v[0], v[1], &run);
    return rc ? rc : flor__mirror_arg(x->m, run, v[2], (const char *const *)v + 3, v[6], v[7]);
}

static int on_loop(void *ctx, int n, char **v)
{
    refresh *x = ctx;
    int64_t run;
    if (n != 9 || !v[0])
        return flor__err(FLOR_EINVAL, "%s: flor_loops: unexpected row", flor__pg_where(x->pg));
    int rc = run_of(x, v[0], v[1], &run);
    if (rc == 0)
        rc = flor__mirror_loop(x->m, run, v[2], v[3], v[4], v[5], (const char *const *)v + 6);
    x->st.loops += rc == 0;
    return rc;
}

static int on_log(void *ctx, int n, char **v)
{
    refresh *x = ctx;
    int64_t run;
    if (n != 8 || !v[0])
        return flor__err(FLOR_EINVAL, "%s: flor_logs: unexpected row", flor__pg_where(x->pg));
    int rc = run_of(x, v[0], v[1], &run);
    if (rc == 0)
        rc = flor__mirror_log(x->m, run, v[2], v[3], (const char *const *)v + 4, v[7]);
    x->st.logs += rc == 0;
    return rc;
}

/* ---- the statements -------------------------------------------------------- */

#define LOOP_COLS                                                                  \
    "t.checkout, t.run_id, t.ctx_id, t.parent_ctx_id, t.name, t.iteration, t.value_int," \
    " t.value_real, t.value_text"
#define LOG_COLS \
    "t.checkout, t.run_id, t.ctx_id, t.name, t.value_int, t.value_real, t.value_text, t.source"

/* "(VALUES (...), ...) AS w(checkout, lo, hi)" of the windows with
 * something new, or of the regrown runs' "(checkout, run_id, hi)";
 * NULL (and *EMPTY) when there is none. */
static char *values_of(refresh *x, int runs, int *empty)
{
    flor__buf b = {0};
    int rc = 0, any = 0;
    rc = flor__buf_puts(&b, "(VALUES ");
    size_t n = runs ? x->ng : x->nw;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *co = runs ? x->g[i].checkout : x->w[i].checkout;
        int64_t lo = 0, hi = 0;
        for (size_t j = 0; j < x->nw; j++)
            if (strcmp(x->w[j].checkout, co) == 0)
                lo = x->w[j].lo, hi = x->w[j].hi;
        if (!runs && hi <= lo)
            continue;
        char *lit = flor__pg_literal(x->pg, co);
        if (!lit) {
            rc = oom();
            break;
        }
        rc = flor__buf_printf(&b, "%s(%s, %lld::bigint, %lld::bigint)", any ? ", " : "", lit,
                              (long long)(runs ? x->g[i].team_run : lo), (long long)hi);
        free(lit);
        any = 1;
    }
    if (rc == 0)
        rc = flor__buf_printf(&b, ") AS w(checkout, %s, hi)", runs ? "run_id" : "lo");
    *empty = !any;
    if (rc != 0 || !any) {
        flor__buf_release(&b);
        return NULL;
    }
    return b.p;
}

/* Reads TABLE's rows (COLS) of the windows (ID: log_id or upto), then
 * those of the regrown runs, by COPY, into FN. */
static int read_rows(refresh *x, const char *table, const char *cols, const char *id,
                     flor__pg_row_fn fn)
{
    int empty_w = 0, empty_g = 0;
    char *w = values_of(x, 0, &empty_w);
    char *g = x->ng ? values_of(x, 1, &empty_g) : NULL;
    if ((!w && !empty_w) || (x->ng && !g && !empty_g)) {
        free(w), free(g);
        return oom();
    }
    int rc = 0;
    char *sql;
    if (g) {
        sql = flor__printf("COPY (SELECT %s FROM %s t JOIN %s ON t.checkout = w.checkout AND"
                           " t.run_id = w.run_id AND t.%s <= w.hi ORDER BY t.checkout, t.%s)"
                           " TO STDOUT",
                           cols, table, g, id, id);
        rc = sql ? flor__pg_copy_out(x->pg, sql, fn, x) : oom();
        free(sql);
    }
    if (rc == 0 && w) {
        sql = flor__printf("COPY (SELECT %s FROM %s t JOIN %s ON t.checkout = w.checkout AND"
                           " t.%s > w.lo AND t.%s <= w.hi%s%s%s ORDER BY t.checkout, t.%s)"
                           " TO STDOUT",
                           cols, table, w, id, id, g ? " WHERE (t.checkout, t.run_id) NOT IN"
                           " (SELECT checkout, run_id FROM " : "", g ? g : "", g ? ")" : "", id);
        rc = sql ? flor__pg_copy_out(x->pg, sql, fn, x) : oom();
        free(sql);
    }
    free(w), free(g);
    return rc;
}

/* Everything of one refresh, in the transactions the caller opened. */
static int pull(refresh *x, sqlite3 *db, const char *url)
{
    char version[32];
    int rc = flor__pg_scalar(x->pg,
                             "SELECT coalesce(max(value), '') FROM flor_meta"
                             " WHERE key = 'schema_version'",
                             0, NULL, version, sizeof version);
    if (rc == 0 && num(version) < 2)
        rc = flor__err(FLOR_EINVAL,
                       "%s: flor's tables there are of schema version %s; reading the team's runs"
                       " needs version 2 or later (a newer flor copies to it)",
                       flor__pg_where(x->pg), version[0] ? version : "(none)");
    if (rc == 0)
        rc = flor__pg_copy_out(x->pg,
                               "COPY (SELECT checkout, high FROM flor_sync WHERE tbl = 'logs')"
                               " TO STDOUT",
                               on_mark, x);
    if (rc == 0)
        rc = flor__pg_copy_out(x->pg,
                               "COPY (SELECT " RUN_NAMES " FROM flor_runs"
                               " ORDER BY checkout, run_id) TO STDOUT",
                               on_run, x);
    if (rc == 0)
        rc = flor__pg_copy_out(x->pg,
                               "COPY (SELECT checkout, run_id, name, value_int, value_real,"
                               " value_text, from_kwargs, ord FROM flor_args"
                               " ORDER BY checkout, run_id) TO STDOUT",
                               on_arg, x);
    if (rc == 0)
        rc = read_rows(x, "flor_loops", LOOP_COLS, "upto", on_loop);
    if (rc == 0)
        rc = read_rows(x, "flor_logs", LOG_COLS, "log_id", on_log);
    for (size_t i = 0; i < x->nw && rc == 0; i++)
        if (x->w[i].hi != x->w[i].lo)
            rc = flor__mirror_set_mark(x->m, x->w[i].checkout, x->w[i].hi);
    char now[32];
    snprintf(now, sizeof now, "%.3f", flor__now());
    if (rc == 0)
        rc = flor__mirror_set_meta(x->m, "url", url);
    if (rc == 0)
        rc = flor__mirror_set_meta(x->m, "refreshed", now);
    (void)db;
    return rc;
}

int flor__team_refresh(sqlite3 *db, flor__pg *pg, const char *url, int timeout_ms,
                       flor__team_refresh_stats *st)
{
    refresh x = {.pg = pg};
    if (st)
        memset(st, 0, sizeof *st);
    /* The replica's lock first: a second reader waits, then reads the
     * marks this one left. */
    int rc = flor__db_begin(db);
    if (rc)
        return rc;
    rc = flor__mirror_open(db, &x.m);
    if (rc == 0 && (rc = flor__pg_begin_snapshot(pg, timeout_ms)) == 0) {
        rc = pull(&x, db, url);
        flor__pg_end(pg, 0); /* read only: nothing to commit */
    }
    flor__mirror_close(x.m);
    if (rc == 0)
        rc = flor__db_commit(db);
    else
        flor__db_rollback(db);
    for (size_t i = 0; i < x.nw; i++)
        free(x.w[i].checkout);
    for (size_t i = 0; i < x.ng; i++)
        free(x.g[i].checkout);
    free(x.w), free(x.g), free(x.last_checkout);
    if (st && rc == 0)
        *st = x.st;
    return rc;
}

int flor__team_refreshed(sqlite3 *db, double *when)
{
    *when = 0;
    flor__mirror *m;
    int rc = flor__mirror_open(db, &m);
    char *v = NULL;
    if (rc == 0)
        rc = flor__mirror_meta(m, "refreshed", &v);
    flor__mirror_close(m);
    if (v)
        *when = strtod(v, NULL);
    free(v);
    return rc;
}
