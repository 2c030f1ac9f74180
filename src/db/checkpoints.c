/*
 * checkpoints.c -- the SQL of the checkpoints and checkpoint_objects
 * tables, one place for it (docs/schema.md).  Each layer that calls it has
 * its own section below; functions are named flor__checkpoints_<verb>,
 * declared in db/db.h under "checkpoints.c".
 */
#include "db/db.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

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
 * one, and none of a run still running.  A run of several processes is
 * one run: its ranks' rows (same projid and tstamp) go together. */
static const char DOOMED[] =
    "SELECT c.ckpt_id FROM checkpoints c"
    " WHERE c.run_id NOT IN (SELECT s.run_id FROM runs s JOIN (SELECT projid, tstamp FROM runs"
    " WHERE rank = 0 ORDER BY run_id DESC LIMIT ?1) k USING (projid, tstamp))"
    " AND c.run_id NOT IN (SELECT s.run_id FROM runs s JOIN runs w ON w.projid = s.projid AND"
    " w.tstamp = s.tstamp WHERE w.status = 'running')"
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

/* ---- the checkpoint writer's and replay's rows ---------------------- */

int flor__checkpoints_insert(sqlite3 *db, const flor__ckpt_row *c,
                             const flor__ckpt_object_row *objs, int n)
{
    int rc = flor__db_begin(db);
    if (rc)
        return rc;
    sqlite3_stmt *ck = NULL, *ob = NULL, *old = NULL;
    /* A checkpoint at the same coords replaces the one there: a resume
     * takes again those its killed process took after the checkpoint it
     * continues from.  The old one's objects go with its row. */
    int src = sqlite3_prepare_v2(db,
                                 "DELETE FROM checkpoint_objects WHERE ckpt_id IN (SELECT ckpt_id"
                                 " FROM checkpoints WHERE run_id = ?1 AND coords = ?2)",
                                 -1, &old, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(old, 1, c->run_id);
        sqlite3_bind_text(old, 2, c->coords, -1, SQLITE_STATIC);
        src = sqlite3_step(old) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    }
    if (src == SQLITE_OK)
        src = sqlite3_prepare_v2(db,
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
    sqlite3_finalize(old);
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
                                /* in a run of several processes, those every
                                 * rank took: a replay restores them all */
                                "SELECT c.loop, c.iteration FROM checkpoints c, runs x"
                                " WHERE c.run_id = ?1 AND x.run_id = ?1 AND (x.world_size = 1"
                                " OR (SELECT count(DISTINCT r.run_id) FROM runs r, checkpoints d"
                                " WHERE r.projid = x.projid AND r.tstamp = x.tstamp AND d.run_id"
                                " = r.run_id AND d.loop = c.loop AND d.iteration = c.iteration)"
                                " = x.world_size) ORDER BY c.iteration",
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

int flor__path_parse(const char *coords, flor__path *p)
{
    memset(p, 0, sizeof *p);
    if (!(p->buf = flor__strdup(coords)))
        return flor__err(FLOR_ENOMEM, "out of memory");
    char *s = p->buf;
    while (*s) {
        char *eq = strchr(s, '=');
        char *end = NULL;
        long it = eq ? strtol(eq + 1, &end, 10) : -1;
        if (!eq || eq == s || p->n == FLOR__PATH_MAX || end == eq + 1 || it < 0 ||
            (*end && *end != ',') || memchr(s, ',', (size_t)(eq - s))) {
            flor__path_release(p);
            return flor__err(FLOR_EINVAL,
                             "checkpoint coords '%s': expected NAME=N[,NAME=N]... (a loop "
                             "whose name has ',' or '=' in it cannot be told apart)",
                             coords);
        }
        *eq = 0;
        p->name[p->n] = s;
        p->iteration[p->n++] = it;
        s = *end ? end + 1 : end;
    }
    if (p->n == 0) {
        flor__path_release(p);
        return flor__err(FLOR_EINVAL, "checkpoint coords '%s': expected NAME=N[,NAME=N]...",
                         coords);
    }
    return 0;
}

void flor__path_release(flor__path *p)
{
    free(p->buf);
    memset(p, 0, sizeof *p);
}

char *flor__path_cte(const flor__path *p, int first)
{
    size_t cap = 64 + (size_t)p->n * 40, len;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    len = (size_t)snprintf(out, cap, "path(d, name, it) AS (VALUES ");
    for (int k = 0; k < p->n && len < cap; k++)
        len += (size_t)snprintf(out + len, cap - len, "%s(%d, ?%d, ?%d)", k ? ", " : "", k,
                                first + 2 * k, first + 2 * k + 1);
    if (len < cap)
        snprintf(out + len, cap - len, ")");
    return out;
}

void flor__path_bind(sqlite3_stmt *st, const flor__path *p, int first)
{
    for (int k = 0; k < p->n; k++) {
        sqlite3_bind_text(st, first + 2 * k, p->name[k], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, first + 2 * k + 1, p->iteration[k]);
    }
}

/* Whether run RUN saved a loops row after PATH: a later iteration of the
 * path's loop at some depth, inside the path's iterations above it. */
static int saved_after(sqlite3 *db, int64_t run, const flor__path *path, int *yes)
{
    *yes = 0;
    char *cte = flor__path_cte(path, 2);
    char *sql = cte ? flor__printf(
                          "WITH RECURSIVE %s, m(c, d) AS ("
                          " SELECT l.ctx_id, 0 FROM loops l JOIN path p ON p.d = 0"
                          " AND p.name = l.name AND p.it = l.iteration"
                          " WHERE l.run_id = ?1 AND l.parent_ctx_id IS NULL"
                          " UNION ALL SELECT l.ctx_id, m.d + 1 FROM loops l JOIN m"
                          " ON l.parent_ctx_id = m.c JOIN path p ON p.d = m.d + 1"
                          " AND p.name = l.name AND p.it = l.iteration WHERE l.run_id = ?1)"
                          " SELECT EXISTS (SELECT 1 FROM loops l JOIN path p ON p.d = 0"
                          " AND p.name = l.name AND l.iteration > p.it"
                          " WHERE l.run_id = ?1 AND l.parent_ctx_id IS NULL)"
                          " OR EXISTS (SELECT 1 FROM loops l JOIN m ON l.parent_ctx_id = m.c"
                          " JOIN path p ON p.d = m.d + 1 AND p.name = l.name"
                          " AND l.iteration > p.it WHERE l.run_id = ?1)",
                          cte)
                    : NULL;
    free(cte);
    if (!sql)
        return flor__err(FLOR_ENOMEM, "out of memory");
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db, sql, &st, "cannot read the checkpoints");
    free(sql);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run);
    flor__path_bind(st, path, 2);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *yes = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : flor__err_sqlite(db, rc, "cannot read the checkpoints");
}

/* In a run of several processes, whether every other rank of RUN's run has
 * a checkpoint at COORDS (PATH) followed by a saved loops row, so that all
 * the ranks can continue from it together; *YES stays 1 for a single
 * process. */
static int every_rank_has(sqlite3 *db, int64_t run, const char *coords, const flor__path *path,
                          int *yes)
{
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db,
                              "SELECT r.run_id, EXISTS (SELECT 1 FROM checkpoints c WHERE"
                              " c.run_id = r.run_id AND c.coords = ?2) FROM runs x, runs r"
                              " WHERE x.run_id = ?1 AND r.projid = x.projid AND r.tstamp ="
                              " x.tstamp AND r.run_id != x.run_id",
                              &st, "cannot read the checkpoints");
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_text(st, 2, coords, -1, SQLITE_STATIC);
    int err = 0;
    while (!err && *yes && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!sqlite3_column_int(st, 1))
            *yes = 0;
        else
            err = saved_after(db, sqlite3_column_int64(st, 0), path, yes);
    }
    if (!err && *yes && rc != SQLITE_DONE)
        err = flor__err_sqlite(db, rc, "cannot read the checkpoints");
    sqlite3_finalize(st);
    return err;
}

int flor__checkpoints_last(sqlite3 *db, int64_t run, int64_t *ckpt_id, char **loop,
                           long *iteration, char **coords)
{
    *loop = *coords = NULL;
    *iteration = -1;
    *ckpt_id = 0;
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db,
                              "SELECT ckpt_id, loop, iteration, coords FROM checkpoints"
                              " WHERE run_id=?1 ORDER BY ckpt_id DESC",
                              &st, "cannot read the checkpoints");
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run);
    int err = 0, found = 0;
    while (!err && !found && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        flor__path path;
        const char *c = (const char *)sqlite3_column_text(st, 3);
        if ((err = flor__path_parse(c ? c : "", &path)) != 0)
            break;
        err = saved_after(db, run, &path, &found);
        if (!err && found)
            err = every_rank_has(db, run, c ? c : "", &path, &found);
        flor__path_release(&path);
        if (err || !found)
            continue;
        *ckpt_id = sqlite3_column_int64(st, 0);
        *iteration = (long)sqlite3_column_int64(st, 2);
        if (!(*loop = flor__strdup((const char *)sqlite3_column_text(st, 1))) ||
            !(*coords = flor__strdup(c)))
            err = flor__err(FLOR_ENOMEM, "out of memory");
    }
    if (!err && !found && rc != SQLITE_DONE)
        err = flor__err_sqlite(db, rc, "cannot read the checkpoints");
    sqlite3_finalize(st);
    return err;
}
