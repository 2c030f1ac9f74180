/*
 * sync.c -- the replicator: a checkout's runs and logs, from its SQLite
 * journal to the team's PostgreSQL, exactly once (team/team.h).  Runs go
 * as multi-row INSERTs of text parameters, logs by COPY; the server
 * converts the text to the columns' types.
 */
#include "team/team.h"
#include "db/db.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RUN_COLS 19 /* checkout + the 18 columns of flor__export_runs */
#define LOG_COLS 9  /* checkout, log_id, run_id, ctx_id, name, value_int, value_real, value_text, source */
#define RUNS_PER_INSERT 200
#define LOGS_PER_TX 10000

/* Rows waiting to be sent: N rows of NCOLS text values (NULL: SQL NULL). */
typedef struct batch {
    int ncols, n, max;
    char **vals;
} batch;

static int batch_init(batch *b, int ncols, int max)
{
    b->ncols = ncols, b->n = 0, b->max = max;
    b->vals = calloc((size_t)ncols * (size_t)max, sizeof *b->vals);
    return b->vals ? 0 : flor__err(FLOR_ENOMEM, "postgresql: out of memory copying rows");
}

static void batch_clear(batch *b)
{
    for (int i = 0; i < b->n * b->ncols; i++)
        free(b->vals[i]), b->vals[i] = NULL;
    b->n = 0;
}

static void batch_free(batch *b)
{
    if (b->vals)
        batch_clear(b);
    free(b->vals);
    b->vals = NULL;
}

/* Sends B's rows as "INSERT INTO HEAD VALUES (...), ... TAIL"; adds the
 * rows the server inserted or changed to *COUNT. */
static int batch_send(flor__pg *pg, batch *b, const char *head, const char *tail, int64_t *count)
{
    if (b->n == 0)
        return 0;
    flor__buf sql = {0};
    int rc = flor__buf_printf(&sql, "INSERT INTO %s VALUES ", head);
    for (int r = 0; r < b->n && rc == 0; r++) {
        rc = flor__buf_puts(&sql, r ? ", (" : "(");
        for (int c = 0; c < b->ncols && rc == 0; c++)
            rc = flor__buf_printf(&sql, c ? ", $%d" : "$%d", r * b->ncols + c + 1);
        if (rc == 0)
            rc = flor__buf_puts(&sql, ")");
    }
    if (rc == 0)
        rc = flor__buf_printf(&sql, " %s", tail);
    if (rc != 0) {
        flor__buf_release(&sql);
        return flor__err(FLOR_ENOMEM, "postgresql: out of memory copying rows");
    }
    int64_t rows = 0;
    rc = flor__pg_execp(pg, sql.p, b->n * b->ncols, (const char *const *)b->vals, &rows);
    flor__buf_release(&sql);
    if (rc == 0 && count)
        *count += rows;
    batch_clear(b);
    return rc;
}

/* A REAL as PostgreSQL's float8 reads it, exactly. */
static char *real_text(double v)
{
    if (isnan(v))
        return flor__strdup("NaN");
    if (isinf(v))
        return flor__strdup(v > 0 ? "Infinity" : "-Infinity");
    return flor__printf("%.17g", v);
}

/* Column C of ROW as text, into *OUT (NULL for SQL NULL). */
static int column_text(sqlite3_stmt *row, int c, char **out)
{
    *out = NULL;
    switch (sqlite3_column_type(row, c)) {
    case SQLITE_NULL:
        return 0;
    case SQLITE_INTEGER:
        *out = flor__printf("%lld", (long long)sqlite3_column_int64(row, c));
        break;
    case SQLITE_FLOAT:
        *out = real_text(sqlite3_column_double(row, c));
        break;
    case SQLITE_BLOB: {
        size_t n = (size_t)sqlite3_column_bytes(row, c), size = flor__blob_literal_size(n);
        *out = size ? malloc(size) : NULL;
        if (*out)
            flor__blob_literal(*out, sqlite3_column_blob(row, c), n);
        break;
    }
    default:
        *out = flor__strdup((const char *)sqlite3_column_text(row, c));
    }
    return *out ? 0 : flor__err(FLOR_ENOMEM, "postgresql: out of memory copying rows");
}

/* ---- runs ------------------------------------------------------------------ */

#define RUN_NAMES                                                                           \
    "checkout, run_id, projid, tstamp, filename, vid, argv, host, pid, proc_start, status," \
    " start_time, end_time, ckpt_overhead, reason, rank, world_size, job, launcher"

struct runs_ctx {
    flor__pg *pg;
    const char *checkout;
    batch b;
    int64_t changed;
};

static const char runs_upsert[] =
    "ON CONFLICT (checkout, run_id) DO UPDATE SET projid = excluded.projid,"
    " tstamp = excluded.tstamp, filename = excluded.filename, vid = excluded.vid,"
    " argv = excluded.argv, host = excluded.host, pid = excluded.pid,"
    " proc_start = excluded.proc_start, status = excluded.status,"
    " start_time = excluded.start_time, end_time = excluded.end_time,"
    " ckpt_overhead = excluded.ckpt_overhead, reason = excluded.reason, rank = excluded.rank,"
    " world_size = excluded.world_size, job = excluded.job, launcher = excluded.launcher"
    " WHERE (flor_runs.projid, flor_runs.tstamp, flor_runs.filename, flor_runs.vid,"
    " flor_runs.argv, flor_runs.host, flor_runs.pid, flor_runs.proc_start, flor_runs.status,"
    " flor_runs.start_time, flor_runs.end_time, flor_runs.ckpt_overhead, flor_runs.reason,"
    " flor_runs.rank, flor_runs.world_size, flor_runs.job, flor_runs.launcher)"
    " IS DISTINCT FROM (excluded.projid, excluded.tstamp, excluded.filename, excluded.vid,"
    " excluded.argv, excluded.host, excluded.pid, excluded.proc_start, excluded.status,"
    " excluded.start_time, excluded.end_time, excluded.ckpt_overhead, excluded.reason,"
    " excluded.rank, excluded.world_size, excluded.job, excluded.launcher)";

static int on_run(void *vctx, sqlite3_stmt *row)
{
    struct runs_ctx *x = vctx;
    char **v = x->b.vals + (size_t)x->b.n * RUN_COLS;
    x->b.n++;
    if (!(v[0] = flor__strdup(x->checkout)))
        return flor__err(FLOR_ENOMEM, "postgresql: out of memory copying rows");
    for (int c = 0; c < RUN_COLS - 1; c++) {
        int rc = column_text(row, c, &v[c + 1]);
        if (rc != 0)
            return rc;
    }
    if (x->b.n == x->b.max)
        return batch_send(x->pg, &x->b, "flor_runs (" RUN_NAMES ")", runs_upsert, &x->changed);
    return 0;
}

/* ---- logs ------------------------------------------------------------------ */

/* The logs go by COPY into a temporary table, then into flor_logs by
 * INSERT ... SELECT, which can say what to do with a row already there. */
#define LOG_NAMES "checkout, log_id, run_id, ctx_id, name, value_int, value_real, value_text, source"

struct logs_ctx {
    flor__pg *pg;
    const char *checkout;
    int64_t upto;                   /* the last log whose run was copied */
    int64_t high, seen, inserted;   /* inserted: by committed transactions */
};

static int on_log(void *vctx, sqlite3_stmt *row)
{
    struct logs_ctx *x = vctx;
    char *v[LOG_COLS] = {0};
    x->seen++;
    x->high = sqlite3_column_int64(row, 0);
    int rc = (v[0] = flor__strdup(x->checkout)) ? 0 : FLOR_ENOMEM;
    for (int c = 0; c < 4 && rc == 0; c++) /* log_id, run_id, ctx_id, name */
        rc = column_text(row, c, &v[c + 1]);
    if (rc == 0) {
        /* The value into the column of its type; SQLite's NaN text is a NaN. */
        int t = sqlite3_column_type(row, 4);
        const char *s = t == SQLITE_TEXT ? (const char *)sqlite3_column_text(row, 4) : NULL;
        if (s && strcmp(s, FLOR__NAN_TEXT) == 0)
            rc = (v[6] = flor__strdup("NaN")) ? 0 : FLOR_ENOMEM;
        else if (t == SQLITE_INTEGER)
            rc = column_text(row, 4, &v[5]);
        else if (t == SQLITE_FLOAT)
            rc = column_text(row, 4, &v[6]);
        else
            rc = column_text(row, 4, &v[7]);
    }
    if (rc == 0)
        rc = column_text(row, 5, &v[8]);
    if (rc == FLOR_ENOMEM)
        rc = flor__err(FLOR_ENOMEM, "postgresql: out of memory copying rows");
    if (rc == 0)
        rc = flor__pg_copy_row(x->pg, LOG_COLS, (const char *const *)v);
    for (int c = 0; c < LOG_COLS; c++)
        free(v[c]);
    return rc;
}

static const char logs_stage[] =
    "CREATE TEMP TABLE IF NOT EXISTS flor_logs_in (LIKE flor_logs) ON COMMIT DELETE ROWS";
static const char logs_recorded[] =
    "INSERT INTO flor_logs (" LOG_NAMES ") SELECT " LOG_NAMES " FROM flor_logs_in"
    " WHERE source <> 'replay' ON CONFLICT (checkout, log_id) DO NOTHING";
/* A value recomputed by a later replay replaces the earlier replay's. */
static const char logs_replayed[] =
    "INSERT INTO flor_logs (" LOG_NAMES ") SELECT " LOG_NAMES " FROM flor_logs_in"
    " WHERE source = 'replay'"
    " ON CONFLICT (checkout, run_id, coalesce(ctx_id, 0), name) WHERE source = 'replay'"
    " DO UPDATE SET log_id = excluded.log_id, value_int = excluded.value_int,"
    " value_real = excluded.value_real, value_text = excluded.value_text";

/* One transaction: the logs above the mark, at most LOGS_PER_TX, and the
 * mark moved past them.  *MORE: whether a full batch was copied. */
static int copy_logs_once(sqlite3 *db, struct logs_ctx *x, int *more)
{
    *more = 0;
    const char *key[] = {x->checkout};
    char high[32];
    int rc = flor__pg_begin(x->pg);
    if (rc != 0)
        return rc;
    rc = flor__pg_execp(x->pg,
                        "INSERT INTO flor_sync(checkout, tbl, high) VALUES ($1, 'logs', 0)"
                        " ON CONFLICT DO NOTHING",
                        1, key, NULL);
    if (rc == 0)
        rc = flor__pg_scalar(x->pg,
                             "SELECT high FROM flor_sync WHERE checkout = $1 AND tbl = 'logs'"
                             " FOR UPDATE",
                             1, key, high, sizeof high);
    if (rc == 0)
        rc = flor__pg_exec(x->pg, logs_stage);
    if (rc == 0)
        rc = flor__pg_copy_begin(x->pg, "COPY flor_logs_in (" LOG_NAMES ") FROM STDIN");
    if (rc == 0) {
        x->high = strtoll(high, NULL, 10);
        x->seen = 0;
        rc = flor__export_logs(db, x->high, x->upto, LOGS_PER_TX, on_log, x);
        int end = flor__pg_copy_end(x->pg);
        rc = rc ? rc : end;
    }
    int64_t inserted = 0, rows = 0;
    if (rc == 0 && x->seen > 0)
        rc = flor__pg_execp(x->pg, logs_recorded, 0, NULL, &rows);
    inserted += rows, rows = 0;
    if (rc == 0 && x->seen > 0)
        rc = flor__pg_execp(x->pg, logs_replayed, 0, NULL, &rows);
    inserted += rows;
    if (rc == 0 && x->seen > 0) {
        snprintf(high, sizeof high, "%lld", (long long)x->high);
        const char *p[] = {x->checkout, high};
        rc = flor__pg_execp(x->pg,
                            "UPDATE flor_sync SET high = $2 WHERE checkout = $1 AND tbl = 'logs'",
                            2, p, NULL);
    }
    if (rc != 0) {
        flor__pg_end(x->pg, 0);
        return rc;
    }
    rc = flor__pg_end(x->pg, 1);
    if (rc == 0)
        x->inserted += inserted;
    *more = rc == 0 && x->seen == LOGS_PER_TX;
    return rc;
}

/* ---- the whole -------------------------------------------------------------- */

/* In the open transaction: the checkout's row, made or found as CO's own. */
static int claim_checkout(flor__pg *pg, const flor__team_checkout *co)
{
    const char *p[] = {co->id, co->projid, co->host, co->path};
    int64_t rows = 0;
    int rc = flor__pg_execp(pg,
                            "INSERT INTO flor_checkouts(checkout, projid, host, path)"
                            " VALUES ($1, $2, $3, $4) ON CONFLICT (checkout) DO UPDATE"
                            " SET last_sync = now() WHERE flor_checkouts.host = excluded.host"
                            " AND flor_checkouts.path = excluded.path",
                            4, p, &rows);
    if (rc != 0 || rows == 1)
        return rc;
    char other[1024] = "";
    flor__pg_scalar(pg, "SELECT host || ':' || path FROM flor_checkouts WHERE checkout = $1", 1, p,
                    other, sizeof other);
    return flor__err(FLOR_EINVAL,
                     "%s: the checkout id '%s' is already copied from %s, not %s:%s (a copied "
                     ".flor directory?): a checkout needs an id of its own",
                     flor__pg_where(pg), co->id, other, co->host, co->path);
}

int flor__team_sync(sqlite3 *db, flor__pg *pg, const flor__team_checkout *co,
                    flor__team_sync_stats *st)
{
    if (st)
        st->runs = st->logs = 0;
    if (!co || !co->id || !*co->id || !co->projid || !co->host || !co->path)
        return flor__err(FLOR_EINVAL, "%s: expected a checkout id, project, host and path to copy as",
                         flor__pg_where(pg));

    /* The logs to copy are those made before the runs are read: each has
     * its run's row on the server by then (flor_logs refers to flor_runs). */
    struct logs_ctx x = {.pg = pg, .checkout = co->id};
    int rc = flor__export_logs_last(db, &x.upto);
    if (rc != 0)
        return rc;
    struct runs_ctx r = {.pg = pg, .checkout = co->id};
    rc = batch_init(&r.b, RUN_COLS, RUNS_PER_INSERT);
    if (rc == 0)
        rc = flor__pg_begin(pg);
    if (rc == 0) {
        rc = claim_checkout(pg, co);
        if (rc == 0)
            rc = flor__export_runs(db, on_run, &r);
        if (rc == 0)
            rc = batch_send(pg, &r.b, "flor_runs (" RUN_NAMES ")", runs_upsert, &r.changed);
        if (rc != 0)
            flor__pg_end(pg, 0);
        else
            rc = flor__pg_end(pg, 1);
    }
    batch_free(&r.b);
    if (rc != 0)
        return rc;
    if (st)
        st->runs = r.changed;

    int more = 1;
    while (rc == 0 && more) {
        rc = copy_logs_once(db, &x, &more);
        if (st)
            st->logs = x.inserted;
    }
    return rc;
}
