/*
 * objects.c -- managing the checkpoint store: what it holds per run
 * (flor_project_du) and taking back the space of checkpoints a retention
 * rule lets go (flor_project_gc).
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

int flor_project_du(flor_project *p, flor_table **out)
{
    *out = NULL;
    flor__err_clear();
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(
        p->db,
        "SELECT r.run_id AS run, r.tstamp, r.filename, count(c.ckpt_id) AS checkpoints,"
        " coalesce(sum(c.logical_bytes), 0) AS logical_bytes,"
        " coalesce(sum(c.stored_bytes), 0) AS stored_bytes,"
        " CASE WHEN sum(c.logical_bytes) > 0"
        "  THEN round(1.0 * sum(c.stored_bytes) / sum(c.logical_bytes), 4) END AS ratio,"
        " round(r.ckpt_overhead, 5) AS overhead"
        " FROM runs r LEFT JOIN checkpoints c ON c.run_id = r.run_id"
        " GROUP BY r.run_id ORDER BY r.run_id",
        -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(p->db, rc, "cannot read checkpoints");
    rc = flor__table_from_stmt(st, out);
    sqlite3_finalize(st);
    return rc;
}

/* The checkpoints the rule lets go: those of runs older than the last
 * KEEP_RUNS, except every EVERY-th iteration and each run's last one. */
static const char DOOMED[] =
    "SELECT c.ckpt_id FROM checkpoints c"
    " WHERE c.run_id NOT IN (SELECT run_id FROM runs ORDER BY run_id DESC LIMIT ?1)"
    " AND c.run_id NOT IN (SELECT run_id FROM runs WHERE status = 'running')"
    " AND (?2 <= 0 OR c.iteration % ?2 != 0)"
    " AND c.iteration < (SELECT max(iteration) FROM checkpoints c2 WHERE c2.run_id = c.run_id)";

static int drop_checkpoints(sqlite3 *db, int keep, int every);

struct gc_plan {
    flor_project *p;
    int keep, every, dry_run;
    int64_t doomed;
};

/* Called by the store with its exclusive lock held (no process is writing
 * checkpoints now): every manifest of a checkpoint that stays is live.  The
 * doomed rows stay in the database until the store has verified what it
 * keeps and made it durable (drop_doomed). */
static int mark_live(void *ctx, flor__live *live)
{
    struct gc_plan *plan = ctx;
    flor_project *p = plan->p;
    char *sql = flor__printf("SELECT manifest FROM checkpoint_objects WHERE ckpt_id NOT IN (%s)",
                             DOOMED);
    if (!sql)
        return flor__err(FLOR_ENOMEM, "out of memory");
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(p->db, sql, -1, &st, NULL);
    free(sql);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(p->db, rc, "cannot read checkpoint manifests");
    sqlite3_bind_int(st, 1, plan->keep);
    sqlite3_bind_int(st, 2, plan->every);
    int err = 0;
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct flor__obj o;
        err = flor__obj_decode(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), &o);
        if (err) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", flor_errmsg());
            err = flor__err(err, "gc changed nothing: a kept checkpoint's %s; run 'flor fsck "
                                 "--repair' to drop it", msg);
        } else {
            err = flor__live_add_obj(live, &o);
            flor__obj_release(&o);
        }
    }
    if (!err && rc != SQLITE_DONE)
        err = flor__err_sqlite(p->db, rc, "cannot read checkpoint manifests");
    sqlite3_finalize(st);
    return err;
}

/* Called by the store once what it keeps is verified and durable, before
 * it removes anything. */
static int drop_doomed(void *ctx)
{
    struct gc_plan *plan = ctx;
    if (plan->dry_run || plan->doomed <= 0)
        return 0;
    return drop_checkpoints(plan->p->db, plan->keep, plan->every);
}

static int count(sqlite3 *db, const char *sql, int keep, int every, int64_t *n)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot plan the collection");
    sqlite3_bind_int(st, 1, keep);
    sqlite3_bind_int(st, 2, every);
    *n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return 0;
}

static int drop_checkpoints(sqlite3 *db, int keep, int every)
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
        sqlite3_bind_int(st, 1, keep);
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

int flor_project_gc(flor_project *p, int keep_runs, int every, bool dry_run, flor_table **out)
{
    *out = NULL;
    flor__err_clear();
    if (keep_runs < 0 || every < 0)
        return flor__err(FLOR_EINVAL, "gc: keep_runs and every must be >= 0 (got %d and %d)",
                         keep_runs, every);
    int rc = flor__project_store(p);
    if (rc)
        return rc;
    int64_t doomed = 0, total = 0;
    char *q = flor__printf("SELECT count(*) FROM (%s)", DOOMED);
    if (!q)
        return flor__err(FLOR_ENOMEM, "out of memory");
    rc = count(p->db, q, keep_runs, every, &doomed);
    free(q);
    if (!rc)
        rc = count(p->db, "SELECT count(*) FROM checkpoints WHERE ?1 = ?1 AND ?2 = ?2", keep_runs,
                   every, &total);
    /* The rows go inside the store's lock, after the store has verified and
     * synced what stays (drop_doomed), so a busy or damaged store changes
     * nothing.  A dry run marks the same live set, so its figures are what
     * gc would free. */
    struct gc_plan plan = {p, keep_runs, every, dry_run, doomed};
    struct flor__gc_stats gs;
    memset(&gs, 0, sizeof gs);
    if (!rc)
        rc = flor__store_gc(p->store, mark_live, drop_doomed, &plan, dry_run, &gs);
    if (rc)
        return rc;
    static const char *cols[] = {"dry_run", "checkpoints_removed", "checkpoints_kept",
                                 "chunks_removed", "chunks_kept", "packs_rewritten",
                                 "bytes_before", "bytes_after", "bytes_freed"};
    flor_table *t = flor__table_new(9, cols);
    size_t r = t ? flor__table_add_row(t) : (size_t)-1;
    if (r == (size_t)-1) {
        flor_table_free(t);
        return flor__err(FLOR_ENOMEM, "out of memory");
    }
    int64_t v[9] = {dry_run, doomed, total - doomed, (int64_t)gs.chunks_dead,
                    (int64_t)gs.chunks_live, (int64_t)gs.packs_rewritten,
                    (int64_t)gs.bytes_before, (int64_t)gs.bytes_after, (int64_t)gs.bytes_freed};
    for (int c = 0; c < 9; c++) {
        flor__cell *cell = flor__table_cell(t, r, (size_t)c);
        cell->type = FLOR_INTEGER;
        cell->v.i = v[c];
    }
    *out = t;
    return 0;
}
