/*
 * replays.c -- the SQL of the replays table (one row per replayed
 * segment) and of divergences.
 */
#include "db/db.h"

/* ---- the replay launcher's reads (src/replay/) -------------------------------- */

int flor__replays_last_id(sqlite3 *db, int64_t *id)
{
    sqlite3_stmt *st = NULL;
    *id = 0;
    int rc = sqlite3_prepare_v2(db, "SELECT coalesce(max(replay_id), 0) FROM replays", -1, &st,
                                NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : flor__err_sqlite(db, rc, "cannot read the replays");
}

int flor__replays_since(sqlite3 *db, int64_t after, flor_table **out)
{
    sqlite3_stmt *st = NULL;
    *out = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT replay_id, pid, segment, nsegments, host, run_id, status,"
                                " new_values, compared, divergences, restores, first_divergence,"
                                " error FROM replays WHERE replay_id > ?1 ORDER BY replay_id",
                                -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, 1, after);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return flor__err_sqlite(db, rc, "cannot read the replays");
    }
    rc = flor__table_from_stmt(st, out);
    sqlite3_finalize(st);
    return rc;
}
