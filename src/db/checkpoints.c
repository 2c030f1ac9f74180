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
