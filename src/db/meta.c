/*
 * meta.c -- the project's settings kept in the meta table, besides the
 * schema's version: `team_url` (the team's PostgreSQL database) and
 * `checkout_id` (this checkout's id there).  docs/schema.md, "meta".
 */
#include "db/db.h"

#include <string.h>

int flor__meta_get(sqlite3 *db, const char *key, char **out)
{
    *out = NULL;
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db, "SELECT value FROM meta WHERE key = ?1", &st,
                              "cannot read the project's settings");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL &&
        !(*out = flor__strdup((const char *)sqlite3_column_text(st, 0))))
        step = SQLITE_NOMEM;
    sqlite3_finalize(st);
    if (step == SQLITE_ROW || step == SQLITE_DONE)
        return 0;
    return flor__err_sqlite(db, step, "cannot read the project's settings");
}

int flor__meta_set(sqlite3 *db, const char *key, const char *value)
{
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db,
                              value ? "INSERT INTO meta(key, value) VALUES (?1, ?2)"
                                      " ON CONFLICT(key) DO UPDATE SET value = excluded.value"
                                    : "DELETE FROM meta WHERE key = ?1",
                              &st, "cannot write the project's settings");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (value)
        sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? 0 : flor__err_sqlite(db, step, "cannot write the project's settings");
}

int flor__meta_claim(sqlite3 *db, const char *key, const char *value, char **out)
{
    *out = NULL;
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db, "INSERT OR IGNORE INTO meta(key, value) VALUES (?1, ?2)", &st,
                              "cannot write the project's settings");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step != SQLITE_DONE)
        return flor__err_sqlite(db, step, "cannot write the project's settings");
    return flor__meta_get(db, key, out);
}
