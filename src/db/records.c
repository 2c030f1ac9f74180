/*
 * records.c -- the SQL of the tables a run records into: args, logs and
 * loops, one place for it (docs/schema.md).  Each engineer's callers have
 * their own section below; functions are named flor__records_<verb>,
 * declared in db/db.h under "records.c".  (The dataframe, the query
 * layer's reader, builds its own SELECTs in src/query.)
 */
#include "db/db.h"

/* ---- for the project (src/project): two runs' args side by side -------- */

int flor__records_compare_args(sqlite3 *db, int64_t run1, int64_t run2, flor__row_fn fn,
                               void *ctx)
{
    sqlite3_stmt *st;
    int rc = flor__db_prepare(
        db,
        "SELECT n.name, a.run_id IS NOT NULL, a.value, b.run_id IS NOT NULL, b.value"
        " FROM (SELECT name, min(CASE WHEN run_id=?1 THEN ord ELSE ord + 4000000000 END) AS o"
        "       FROM args WHERE run_id IN (?1, ?2) GROUP BY name) n"
        " LEFT JOIN args a ON a.run_id=?1 AND a.name=n.name"
        " LEFT JOIN args b ON b.run_id=?2 AND b.name=n.name"
        " ORDER BY n.o, n.name",
        &st, "cannot read the args");
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run1);
    sqlite3_bind_int64(st, 2, run2);
    return flor__db_scan(db, st, fn, ctx, "cannot read the args");
}
