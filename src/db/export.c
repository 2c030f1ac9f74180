/*
 * export.c -- what the replicator reads from the local journal (docs/team.md,
 * "A team's runs in PostgreSQL"): every run's row, and the logs after a
 * rowid, in rowid order.  Reads only; the record path never calls it.
 */
#include "db/db.h"

int flor__export_runs(sqlite3 *db, flor__row_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db,
                              "SELECT run_id, projid, tstamp, filename, vid, argv, host, pid,"
                              " proc_start, status, start_time, end_time, ckpt_overhead, reason,"
                              " rank, world_size, job, launcher FROM runs ORDER BY run_id",
                              &st, "cannot read runs to copy them");
    if (rc)
        return rc;
    return flor__db_scan(db, st, fn, ctx, "cannot read runs to copy them");
}

int flor__export_logs_last(sqlite3 *db, int64_t *last)
{
    sqlite3_stmt *st;
    *last = 0;
    int rc = flor__db_prepare(db, "SELECT ifnull(max(rowid), 0) FROM logs", &st,
                              "cannot read logs to copy them");
    if (rc)
        return rc;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        *last = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return step == SQLITE_ROW ? 0 : flor__err_sqlite(db, step, "cannot read logs to copy them");
}

int flor__export_logs(sqlite3 *db, int64_t after, int64_t upto, int limit, flor__row_fn fn,
                      void *ctx)
{
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db,
                              "SELECT rowid, run_id, ctx_id, name, value, source FROM logs"
                              " WHERE rowid > ?1 AND rowid <= ?2 ORDER BY rowid LIMIT ?3",
                              &st, "cannot read logs to copy them");
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, upto);
    sqlite3_bind_int(st, 3, limit);
    return flor__db_scan(db, st, fn, ctx, "cannot read logs to copy them");
}
