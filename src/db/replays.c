/*
 * replays.c -- the SQL of the replays and divergences tables: one place
 * for their rows.
 */
#include "db/db.h"

/* ---- an in-process replay's rows (core) ------------------------------------ */

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
