/*
 * checkpoints.c -- the SQL of the checkpoints and checkpoint_objects
 * tables, one place for it (docs/schema.md).  Each engineer's callers have
 * their own section below; functions are named flor__checkpoints_<verb>,
 * declared in db/db.h under "checkpoints.c".
 */
#include "db/db.h"

#include <stdlib.h>

/* ---- for the project (src/project): du, gc's retention rule, fsck -------- */

int flor__checkpoints_du(sqlite3 *db, flor_table **out)
{
    sqlite3_stmt *st;
    int rc = flor__db_prepare(
        db,
        "SELECT r.run_id AS run, r.tstamp, r.filename, count(c.ckpt_id) AS checkpoints,"
        " coalesce(sum(c.logical_bytes), 0) AS logical_bytes,"
        " coalesce(sum(c.stored_bytes), 0) AS stored_bytes,"
        " CASE WHEN sum(c.logical_bytes) > 0"
        "  THEN round(1.0 * sum(c.stored_bytes) / sum(c.logical_bytes), 4) END AS ratio,"
        " round(r.ckpt_overhead, 5) AS overhead"
        " FROM runs r LEFT JOIN checkpoints c ON c.run_id = r.run_id"
        " GROUP BY r.run_id ORDER BY r.run_id",
        &st, "cannot read checkpoints");
    if (rc)
        return rc;
    rc = flor__table_from_stmt(st, out);
    sqlite3_finalize(st);
    return rc;
}

/* The checkpoints the rule lets go: those of runs older than the last
 * KEEP_RUNS (?1), except every EVERY-th (?2) iteration and each run's last
 * one, and none of a run still running. */
static const char DOOMED[] =
    "SELECT c.ckpt_id FROM checkpoints c"
    " WHERE c.run_id NOT IN (SELECT run_id FROM runs ORDER BY run_id DESC LIMIT ?1)"
    " AND c.run_id NOT IN (SELECT run_id FROM runs WHERE status = 'running')"
    " AND (?2 <= 0 OR c.iteration % ?2 != 0)"
    " AND c.iteration < (SELECT max(iteration) FROM checkpoints c2 WHERE c2.run_id = c.run_id)";

/* The integer SQL (bound to KEEP, EVERY) returns, 0 without a row. */
static int count(sqlite3 *db, const char *sql, int keep, int every, int64_t *n)
{
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db, sql, &st, "cannot plan the collection");
    if (rc)
        return rc;
    sqlite3_bind_int(st, 1, keep);
    sqlite3_bind_int(st, 2, every);
    *n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return 0;
}

int flor__checkpoints_count_doomed(sqlite3 *db, int keep_runs, int every, int64_t *doomed,
                                   int64_t *total)
{
    *doomed = *total = 0;
    char *q = flor__printf("SELECT count(*) FROM (%s)", DOOMED);
    if (!q)
        return flor__err(FLOR_ENOMEM, "out of memory");
    int rc = count(db, q, keep_runs, every, doomed);
    free(q);
    if (!rc)
        rc = count(db, "SELECT count(*) FROM checkpoints WHERE ?1 = ?1 AND ?2 = ?2", keep_runs,
                   every, total);
    return rc;
}

int flor__checkpoints_scan_kept(sqlite3 *db, int keep_runs, int every, flor__row_fn fn,
                                void *ctx)
{
    char *sql = flor__printf("SELECT manifest FROM checkpoint_objects WHERE ckpt_id NOT IN (%s)",
                             DOOMED);
    if (!sql)
        return flor__err(FLOR_ENOMEM, "out of memory");
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db, sql, &st, "cannot read checkpoint manifests");
    free(sql);
    if (rc)
        return rc;
    sqlite3_bind_int(st, 1, keep_runs);
    sqlite3_bind_int(st, 2, every);
    return flor__db_scan(db, st, fn, ctx, "cannot read checkpoint manifests");
}

int flor__checkpoints_delete_doomed(sqlite3 *db, int keep_runs, int every)
{
    char *sql = flor__printf("DELETE FROM checkpoint_objects WHERE ckpt_id IN (%s);"
                             "DELETE FROM checkpoints WHERE ckpt_id IN (%s);",
                             DOOMED, DOOMED);
    if (!sql)
        return flor__err(FLOR_ENOMEM, "out of memory");
    int rc = flor__db_begin(db);
    const char *tail = sql;
    while (!rc && tail && *tail) {
        sqlite3_stmt *st;
        int src = sqlite3_prepare_v2(db, tail, -1, &st, &tail);
        if (src != SQLITE_OK) {
            rc = flor__err_sqlite(db, src, "cannot drop checkpoints");
            break;
        }
        if (!st)
            break;
        sqlite3_bind_int(st, 1, keep_runs);
        sqlite3_bind_int(st, 2, every);
        src = sqlite3_step(st);
        sqlite3_finalize(st);
        if (src != SQLITE_DONE)
            rc = flor__err_sqlite(db, src, "cannot drop checkpoints");
    }
    free(sql);
    if (!rc)
        rc = flor__db_commit(db);
    else
        flor__db_rollback(db);
    return rc;
}

int flor__checkpoints_scan_objects(sqlite3 *db, flor__row_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db,
                              "SELECT c.ckpt_id, c.run_id, c.iteration, o.name, o.manifest"
                              " FROM checkpoints c JOIN checkpoint_objects o"
                              " ON o.ckpt_id = c.ckpt_id ORDER BY c.ckpt_id, o.name",
                              &st, "cannot read checkpoints");
    if (rc)
        return rc;
    return flor__db_scan(db, st, fn, ctx, "cannot read checkpoints");
}

int flor__checkpoints_delete(sqlite3 *db, const int64_t *ids, size_t n)
{
    int rc = flor__db_begin(db);
    sqlite3_stmt *a = NULL, *b = NULL;
    if (!rc && (sqlite3_prepare_v2(db, "DELETE FROM checkpoint_objects WHERE ckpt_id = ?", -1,
                                   &a, NULL) != SQLITE_OK ||
                sqlite3_prepare_v2(db, "DELETE FROM checkpoints WHERE ckpt_id = ?", -1, &b,
                                   NULL) != SQLITE_OK))
        rc = flor__err_sqlite(db, sqlite3_errcode(db), "cannot drop checkpoints");
    for (size_t i = 0; i < n && !rc; i++) {
        sqlite3_bind_int64(a, 1, ids[i]);
        sqlite3_bind_int64(b, 1, ids[i]);
        if (sqlite3_step(a) != SQLITE_DONE || sqlite3_step(b) != SQLITE_DONE)
            rc = flor__err_sqlite(db, sqlite3_errcode(db), "cannot drop checkpoints");
        sqlite3_reset(a);
        sqlite3_reset(b);
    }
    sqlite3_finalize(a);
    sqlite3_finalize(b);
    if (!rc)
        return flor__db_commit(db);
    flor__db_rollback(db);
    return rc;
}
