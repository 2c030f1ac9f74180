/*
 * runs.c -- the SQL of the runs table, one place for it (docs/schema.md).
 * Each engineer's callers have their own section below; functions are
 * named flor__runs_<verb>, declared in db/db.h under "runs.c".
 */
#include "db/db.h"

#include <string.h>

/* ---- for the project (src/project): runs listed, a run's code version,
 * ---- the runs still marked running ------------------------------------ */

const char flor__runs_list_sql[] =
    "SELECT r.run_id AS run, projid, tstamp, filename, vid, status, host, pid,"
    " strftime('%Y-%m-%dT%H:%M:%S', start_time, 'unixepoch', 'localtime') AS started,"
    " strftime('%Y-%m-%dT%H:%M:%S', end_time, 'unixepoch', 'localtime') AS ended,"
    " round(end_time - start_time, 3) AS seconds,"
    " (SELECT count(*) FROM logs l WHERE l.run_id = r.run_id) AS logs,"
    " (SELECT count(*) FROM checkpoints c WHERE c.run_id = r.run_id) AS checkpoints,"
    " round(ckpt_overhead, 5) AS overhead,"
    " (SELECT count(*) FROM replays x WHERE x.run_id = r.run_id) AS replays,"
    " (SELECT coalesce(sum(x.divergences), 0) FROM replays x WHERE x.run_id = r.run_id)"
    " AS divergences,"
    " argv, reason"
    " FROM runs r ORDER BY r.run_id";

int flor__runs_find_vid(sqlite3 *db, int64_t run, int *found, char **vid)
{
    *found = 0;
    *vid = NULL;
    sqlite3_stmt *st;
    int rc =
        flor__db_prepare(db, "SELECT vid FROM runs WHERE run_id=?", &st, "cannot read the runs");
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run);
    rc = sqlite3_step(st);
    int err = 0;
    if (rc == SQLITE_ROW) {
        *found = 1;
        const unsigned char *v = sqlite3_column_text(st, 0);
        if (v && !(*vid = flor__strdup((const char *)v)))
            err = flor__err(FLOR_ENOMEM, "out of memory");
    } else if (rc != SQLITE_DONE) {
        err = flor__err_sqlite(db, rc, "cannot read the runs");
    }
    sqlite3_finalize(st);
    return err;
}

int flor__runs_scan_running(sqlite3 *db, flor__running_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db,
                              "SELECT run_id, pid, proc_start FROM runs"
                              " WHERE status = 'running' AND host = ?",
                              &st, "cannot read runs");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, flor__hostname(), -1, SQLITE_STATIC);
    int err = 0;
    while (!err && sqlite3_step(st) == SQLITE_ROW)
        err = fn(ctx, sqlite3_column_int64(st, 0), (long)sqlite3_column_int64(st, 1),
                 (const char *)sqlite3_column_text(st, 2));
    sqlite3_finalize(st);
    return err;
}
