/*
 * export.c -- what the replicator reads from the local journal (docs/team.md,
 * "A team's runs in PostgreSQL"): every run's row, and the logs after a
 * rowid, in rowid order.  Reads only; the record path never calls it.
 */
#include "db/db.h"

/* The integer that SQL (with ?1 bound to ARG) answers, into *OUT. */
static int scalar(sqlite3 *db, const char *sql, int64_t arg, int64_t *out, const char *what)
{
    sqlite3_stmt *st;
    *out = 0;
    int rc = flor__db_prepare(db, sql, &st, what);
    if (rc)
        return rc;
    if (sqlite3_bind_parameter_count(st) > 0)
        sqlite3_bind_int64(st, 1, arg);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return step == SQLITE_ROW ? 0 : flor__err_sqlite(db, step, what);
}

int flor__export_runs(sqlite3 *db, flor__row_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db,
                              "SELECT run_id, projid, tstamp, filename, vid, argv, host, pid,"
                              " proc_start, status, start_time, end_time, ckpt_overhead, reason,"
                              " rank, world_size, job, launcher,"
                              " (SELECT count(*) FROM resumes r WHERE r.run_id = runs.run_id),"
                              " (SELECT group_concat(a, char(31)) FROM (SELECT name || char(30)"
                              " || quote(value) || char(30) || from_kwargs || char(30) || ord AS a"
                              " FROM args WHERE args.run_id = runs.run_id ORDER BY name))"
                              " FROM runs ORDER BY run_id",
                              &st, "cannot read runs to copy them");
    if (rc)
        return rc;
    return flor__db_scan(db, st, fn, ctx, "cannot read runs to copy them");
}

int flor__export_logs_last(sqlite3 *db, int64_t *last)
{
    return scalar(db, "SELECT ifnull(max(rowid), 0) FROM logs", 0, last,
                  "cannot read logs to copy them");
}

int flor__export_logs(sqlite3 *db, int64_t after, int64_t upto, int64_t run, const char *source,
                      flor__row_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db,
                              "SELECT rowid, run_id, ctx_id, name, value, source FROM logs"
                              " WHERE rowid > ?1 AND rowid <= ?2 AND (?3 = 0 OR run_id = ?3)"
                              " AND (?4 IS NULL OR source = ?4) ORDER BY rowid",
                              &st, "cannot read logs to copy them");
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, upto);
    sqlite3_bind_int64(st, 3, run);
    if (source)
        sqlite3_bind_text(st, 4, source, -1, SQLITE_STATIC);
    return flor__db_scan(db, st, fn, ctx, "cannot read logs to copy them");
}

int flor__export_logs_batch(sqlite3 *db, int64_t after, int64_t upto, int64_t run, int limit,
                            int64_t *end, int64_t *n, int64_t *replayed)
{
    sqlite3_stmt *st;
    *end = after, *n = 0, *replayed = 0;
    int rc = flor__db_prepare(db,
                              "SELECT ifnull(max(rowid), ?1), count(*), total(source = 'replay')"
                              " FROM (SELECT rowid, source FROM logs WHERE rowid > ?1"
                              " AND rowid <= ?2 AND (?3 = 0 OR run_id = ?3) ORDER BY rowid LIMIT ?4)",
                              &st, "cannot read logs to copy them");
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, upto);
    sqlite3_bind_int64(st, 3, run);
    sqlite3_bind_int(st, 4, limit);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *end = sqlite3_column_int64(st, 0);
        *n = sqlite3_column_int64(st, 1);
        *replayed = (int64_t)sqlite3_column_double(st, 2);
    }
    sqlite3_finalize(st);
    return step == SQLITE_ROW ? 0 : flor__err_sqlite(db, step, "cannot read logs to copy them");
}

int flor__export_loops(sqlite3 *db, int64_t after, int64_t upto, int64_t run, flor__row_fn fn,
                       void *ctx)
{
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db,
                              "WITH RECURSIVE c(run_id, ctx_id) AS ("
                              " SELECT DISTINCT run_id, ctx_id FROM logs"
                              "  WHERE rowid > ?1 AND rowid <= ?2 AND ctx_id IS NOT NULL"
                              "  AND (?3 = 0 OR run_id = ?3)"
                              " UNION SELECT l.run_id, l.parent_ctx_id FROM loops l"
                              "  JOIN c ON l.run_id = c.run_id AND l.ctx_id = c.ctx_id"
                              "  WHERE l.parent_ctx_id IS NOT NULL)"
                              " SELECT l.run_id, l.ctx_id, l.parent_ctx_id, l.name, l.iteration,"
                              " l.value FROM loops l JOIN c USING (run_id, ctx_id)"
                              " ORDER BY l.run_id, l.ctx_id",
                              &st, "cannot read loops to copy them");
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, upto);
    sqlite3_bind_int64(st, 3, run);
    return flor__db_scan(db, st, fn, ctx, "cannot read loops to copy them");
}

int flor__export_args(sqlite3 *db, flor__row_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db,
                              "SELECT run_id, name, value, from_kwargs, ord FROM args"
                              " ORDER BY run_id, name",
                              &st, "cannot read args to copy them");
    if (rc)
        return rc;
    return flor__db_scan(db, st, fn, ctx, "cannot read args to copy them");
}

int flor__export_resumes(sqlite3 *db, int64_t run, int64_t *n)
{
    return scalar(db, "SELECT count(*) FROM resumes WHERE run_id = ?1", run, n,
                  "cannot read a run's resumes to copy it");
}

int flor__export_logs_count(sqlite3 *db, int64_t after, int64_t *n)
{
    return scalar(db, "SELECT count(*) FROM logs WHERE rowid > ?1", after, n,
                  "cannot count the logs not copied yet");
}
