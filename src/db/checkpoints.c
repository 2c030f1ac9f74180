/*
 * checkpoints.c -- the SQL of the checkpoints and checkpoint_objects
 * tables: one place for their rows.
 */
#include "db/db.h"

#include <stdio.h>

/* ---- the checkpoint writer's and replay's rows (core) ---------------------- */

int flor__checkpoints_insert(sqlite3 *db, const flor__ckpt_row *c,
                             const flor__ckpt_object_row *objs, int n)
{
    int rc = flor__db_begin(db);
    if (rc)
        return rc;
    sqlite3_stmt *ck = NULL, *ob = NULL;
    int src = sqlite3_prepare_v2(db,
                                 "INSERT OR REPLACE INTO checkpoints(run_id, loop, iteration,"
                                 " coords, created, logical_bytes, stored_bytes, stall_s,"
                                 " write_s, codec) VALUES (?,?,?,?,?,?,?,?,?,?)",
                                 -1, &ck, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_prepare_v2(db,
                                 "INSERT INTO checkpoint_objects(ckpt_id, name, dtype, version,"
                                 " nbytes, callback, manifest) VALUES (?,?,?,?,?,?,?)",
                                 -1, &ob, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(ck, 1, c->run_id);
        sqlite3_bind_text(ck, 2, c->loop, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ck, 3, c->iteration);
        sqlite3_bind_text(ck, 4, c->coords, -1, SQLITE_STATIC);
        sqlite3_bind_double(ck, 5, flor__now());
        sqlite3_bind_int64(ck, 6, c->logical_bytes);
        sqlite3_bind_int64(ck, 7, c->stored_bytes);
        sqlite3_bind_double(ck, 8, c->stall_s);
        sqlite3_bind_double(ck, 9, c->write_s);
        sqlite3_bind_text(ck, 10, c->codec, -1, SQLITE_STATIC);
        src = sqlite3_step(ck) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    }
    int64_t id = sqlite3_last_insert_rowid(db);
    for (int i = 0; i < n && src == SQLITE_OK; i++) {
        const flor__ckpt_object_row *o = &objs[i];
        sqlite3_bind_int64(ob, 1, id);
        sqlite3_bind_text(ob, 2, o->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(ob, 3, o->dtype, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ob, 4, o->version);
        sqlite3_bind_int64(ob, 5, o->nbytes);
        sqlite3_bind_int(ob, 6, o->callback);
        sqlite3_bind_blob(ob, 7, o->manifest, (int)o->manifest_len, SQLITE_STATIC);
        src = sqlite3_step(ob) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
        sqlite3_reset(ob);
    }
    if (src == SQLITE_OK)
        rc = flor__db_commit(db);
    else
        rc = flor__err_sqlite(db, src, "cannot record the checkpoint");
    if (rc)
        flor__db_rollback(db);
    sqlite3_finalize(ck);
    sqlite3_finalize(ob);
    return rc;
}

int flor__checkpoints_find(sqlite3 *db, int64_t run, long iteration, int64_t *id, char *coords,
                           size_t ncoords, int *found)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT ckpt_id, coords FROM checkpoints WHERE run_id=? AND "
                                "iteration=? ORDER BY ckpt_id",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot read checkpoints");
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_int64(st, 2, iteration);
    *found = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        (*found)++;
        *id = sqlite3_column_int64(st, 0);
        snprintf(coords, ncoords, "%s", (const char *)sqlite3_column_text(st, 1));
    }
    sqlite3_finalize(st);
    return 0;
}

int flor__checkpoint_objects_each(sqlite3 *db, int64_t ckpt_id,
                                  int (*fn)(void *ctx, const flor__ckpt_object *o), void *ctx)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT name, version, nbytes, manifest, callback FROM "
                                "checkpoint_objects WHERE ckpt_id=? ORDER BY callback DESC, name",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot read checkpoint objects");
    sqlite3_bind_int64(st, 1, ckpt_id);
    int err = 0;
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        flor__ckpt_object o = {(const char *)sqlite3_column_text(st, 0),
                               (uint32_t)sqlite3_column_int64(st, 1),
                               (size_t)sqlite3_column_int64(st, 2), sqlite3_column_int(st, 4),
                               sqlite3_column_blob(st, 3), (size_t)sqlite3_column_bytes(st, 3)};
        err = fn(ctx, &o);
    }
    if (!err && rc != SQLITE_DONE)
        err = flor__err_sqlite(db, rc, "cannot read checkpoint objects");
    sqlite3_finalize(st);
    return err;
}

int flor__checkpoints_table(sqlite3 *db, int64_t run, flor_table **out)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(
        db,
        "SELECT c.run_id AS run, c.loop, c.iteration, count(o.name) AS objects,"
        " c.logical_bytes, c.stored_bytes, round(c.stall_s * 1000, 3) AS stall_ms,"
        " round(c.write_s * 1000, 3) AS write_ms, c.codec"
        " FROM checkpoints c LEFT JOIN checkpoint_objects o ON o.ckpt_id = c.ckpt_id"
        " WHERE ?1 = 0 OR c.run_id = ?1 GROUP BY c.ckpt_id ORDER BY c.run_id, c.ckpt_id",
        -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot read checkpoints");
    sqlite3_bind_int64(st, 1, run);
    rc = flor__table_from_stmt(st, out);
    sqlite3_finalize(st);
    return rc;
}

int flor__checkpoints_iterations(sqlite3 *db, int64_t run,
                                 int (*fn)(void *ctx, const char *loop, long iteration),
                                 void *ctx)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT loop, iteration FROM checkpoints WHERE run_id = ? "
                                "ORDER BY iteration",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot read the run's checkpoints");
    sqlite3_bind_int64(st, 1, run);
    int err = 0;
    while (!err && sqlite3_step(st) == SQLITE_ROW)
        err = fn(ctx, (const char *)sqlite3_column_text(st, 0), (long)sqlite3_column_int64(st, 1));
    sqlite3_finalize(st);
    return err;
}

int flor__checkpoints_last_iteration(sqlite3 *db, int64_t run, long *out)
{
    return flor__runs_query_long(db, "SELECT max(iteration) FROM checkpoints WHERE run_id = ?1", run,
                               NULL, out);
}
