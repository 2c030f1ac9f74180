/*
 * replays.c -- the SQL of the replays and divergences tables: one place
 * for their rows.
 */
#include "db/db.h"

#include <stdlib.h>
#include <unistd.h>

/* ---- an in-process replay's rows ------------------------------------ */

void flor__replays_mark_killed(sqlite3 *db, int64_t replay_id)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "UPDATE replays SET status='killed', ended=? WHERE replay_id=?",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_double(st, 1, flor__now());
    sqlite3_bind_int64(st, 2, replay_id);
    sqlite3_step(st);
    sqlite3_finalize(st);
}

int flor__replays_insert(sqlite3 *db, int64_t run_id, long segment, long nsegments,
                         const char *probed, int64_t *replay_id)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO replays(run_id, segment, nsegments, probed, host, pid,"
                                " proc_start, status, started) VALUES (?,?,?,?,?,?,?,'running',?)",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot record the replay");
    char *ident = flor__proc_identity((long)getpid());
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int64(st, 2, segment);
    sqlite3_bind_int64(st, 3, nsegments);
    if (probed)
        sqlite3_bind_text(st, 4, probed, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_text(st, 5, flor__hostname(), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, (int64_t)getpid());
    sqlite3_bind_text(st, 7, ident ? ident : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 8, flor__now());
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    free(ident);
    if (rc != SQLITE_DONE)
        return flor__err_sqlite(db, rc, "cannot record the replay");
    *replay_id = sqlite3_last_insert_rowid(db);
    return 0;
}

int flor__replays_finish(sqlite3 *db, int64_t replay_id, const char *status,
                         const flor__replay_counts *n, const char *first_divergence,
                         const char *error)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "UPDATE replays SET status=?, ended=?, new_values=?, compared=?,"
                                " divergences=?, first_divergence=?, restores=?, error=?"
                                " WHERE replay_id=?",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot finish the replay's record");
    sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 2, flor__now());
    sqlite3_bind_int64(st, 3, n->new_values);
    sqlite3_bind_int64(st, 4, n->compared);
    sqlite3_bind_int64(st, 5, n->divergences);
    if (first_divergence)
        sqlite3_bind_text(st, 6, first_divergence, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 6);
    sqlite3_bind_int64(st, 7, n->restores);
    if (error)
        sqlite3_bind_text(st, 8, error, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 8);
    sqlite3_bind_int64(st, 9, replay_id);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : flor__err_sqlite(db, rc, "cannot finish the replay's record");
}

int flor__replay_rows_prepare(flor__replay_rows *s, sqlite3 *db)
{
    int rc = flor__replay_records_prepare(s, db);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "INSERT INTO divergences(replay_id, coords, name, recorded, "
                                "replayed) VALUES (?,?,?,?,?)",
                                -1, &s->div, NULL);
    return rc;
}

void flor__replay_rows_finalize(flor__replay_rows *s)
{
    sqlite3_finalize(s->find_ctx);
    sqlite3_finalize(s->new_ctx);
    sqlite3_finalize(s->put_log);
    sqlite3_finalize(s->div);
    s->find_ctx = s->new_ctx = s->put_log = s->div = NULL;
}

int flor__divergences_insert(flor__replay_rows *s, int64_t replay_id, const char *coords,
                             const char *name, const char *recorded, const char *replayed)
{
    sqlite3_stmt *st = s->div;
    sqlite3_bind_int64(st, 1, replay_id);
    sqlite3_bind_text(st, 2, coords, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, recorded, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, replayed, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

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
                                " error, (SELECT l.run_id FROM runs x, runs l WHERE x.run_id ="
                                " replays.run_id AND l.projid = x.projid AND l.tstamp = x.tstamp"
                                " AND l.rank = 0) FROM replays WHERE replay_id > ?1"
                                " ORDER BY replay_id",
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
