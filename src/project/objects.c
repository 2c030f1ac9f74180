/*
 * objects.c -- managing the checkpoint store: what it holds per run
 * (flor_project_du) and taking back the space of checkpoints a retention
 * rule lets go (flor_project_gc).  The SQL is db/checkpoints.c's.
 */
#include "project/project.h"

#include <stdlib.h>
#include <string.h>

int flor_project_du(flor_project *p, flor_table **out)
{
    *out = NULL;
    flor__err_clear();
    return flor__checkpoints_du(p->db, out);
}

struct gc_plan {
    flor_project *p;
    int keep, every, dry_run;
    int64_t doomed;
};

/* The chunks of one kept object's manifest are live. */
static int mark_manifest(void *ctx, sqlite3_stmt *row)
{
    flor__live *live = ctx;
    struct flor__obj o;
    int err = flor__obj_decode(sqlite3_column_blob(row, 0), (size_t)sqlite3_column_bytes(row, 0),
                               &o);
    if (err) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", flor_errmsg());
        return flor__err(err, "gc changed nothing: a kept checkpoint's %s; run 'flor fsck "
                              "--repair' to drop it", msg);
    }
    err = flor__live_add_obj(live, &o);
    flor__obj_release(&o);
    return err;
}

/* Called by the store with its exclusive lock held (no process is writing
 * checkpoints now): every manifest of a checkpoint that stays is live.  The
 * doomed rows stay in the database until the store has verified what it
 * keeps and made it durable (drop_doomed). */
static int mark_live(void *ctx, flor__live *live)
{
    struct gc_plan *plan = ctx;
    return flor__checkpoints_scan_kept(plan->p->db, plan->keep, plan->every, mark_manifest,
                                       live);
}

/* Called by the store once what it keeps is verified and durable, before
 * it removes anything. */
static int drop_doomed(void *ctx)
{
    struct gc_plan *plan = ctx;
    if (plan->dry_run || plan->doomed <= 0)
        return 0;
    return flor__checkpoints_delete_doomed(plan->p->db, plan->keep, plan->every);
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
    rc = flor__checkpoints_count_doomed(p->db, keep_runs, every, &doomed, &total);
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
