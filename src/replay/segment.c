/*
 * segment.c -- the replay's loop hooks (registered with the session by
 * replay.c; loop.c calls them):
 *
 *   - the checkpointed loop starts at the nearest checkpoint before the
 *     segment; iterations between it and the segment start are executed
 *     again to rebuild the state ("catch-up": their values are compared,
 *     never stored);
 *   - in an iteration that has a checkpoint, a loop nested in it runs no
 *     iteration: the registered state is restored from that checkpoint
 *     instead, unless the loop is probed (--probe NAME);
 *   - after the segment's last iteration the loop ends; what the program
 *     logs after it counts only in the last segment;
 *   - a run that did not finish is replayed only as far as it got (its
 *     "frontier" in the last iteration it reached).
 */
#include "replay/replay.h"

#include <stdlib.h>
#include <string.h>

/* Where an unfinished run stopped inside the last iteration it reached of
 * the checkpointed loop, when that iteration has no checkpoint: the last
 * iteration of each nested loop it logged in, outermost first. */
#define MAX_FRONTIER 16
static struct {
    char *name;
    long iteration;
} frontier[MAX_FRONTIER];
static int nfrontier;
static int frontier_cut_depth = -1; /* the loop whose end is the record's end */

int flor__replay_frontier_load(sqlite3 *db)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(
        db,
        flor__P.ckpt_loop
            ? "SELECT max(ctx_id) FROM loops WHERE run_id = ?1 AND iteration = ?2 AND name = ?3"
            : "SELECT max(ctx_id) FROM loops WHERE run_id = ?1 AND iteration = ?2 AND "
              "parent_ctx_id IS NULL AND name = (SELECT name FROM loops WHERE run_id = ?1 AND "
              "parent_ctx_id IS NULL ORDER BY ctx_id LIMIT 1)",
        -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot read the run's loops");
    sqlite3_bind_int64(st, 1, flor__P.run_id);
    sqlite3_bind_int64(st, 2, flor__P.reached);
    if (flor__P.ckpt_loop)
        sqlite3_bind_text(st, 3, flor__P.ckpt_loop, -1, SQLITE_STATIC);
    int64_t ctx = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    /* the context of the last value the record logged in that iteration */
    rc = sqlite3_prepare_v2(db,
                            "WITH RECURSIVE sub(c) AS (SELECT ?2 UNION ALL SELECT l.ctx_id FROM "
                            "loops l JOIN sub ON l.parent_ctx_id = sub.c WHERE l.run_id = ?1) "
                            "SELECT ctx_id FROM logs WHERE run_id = ?1 AND source = 'record' AND "
                            "ctx_id IN sub ORDER BY rowid DESC LIMIT 1",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot read the run's logs");
    sqlite3_bind_int64(st, 1, flor__P.run_id);
    sqlite3_bind_int64(st, 2, ctx);
    int64_t last = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (!last || last == ctx)
        return 0; /* it logged after its nested loops: they ran to their end */
    /* the path from there up to the iteration, innermost first */
    rc = sqlite3_prepare_v2(db,
                            "SELECT parent_ctx_id, name, iteration FROM loops WHERE run_id = ?1 "
                            "AND ctx_id = ?2",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot read the run's loops");
    while (last && last != ctx && nfrontier < MAX_FRONTIER) {
        sqlite3_bind_int64(st, 1, flor__P.run_id);
        sqlite3_bind_int64(st, 2, last);
        last = 0;
        if (sqlite3_step(st) == SQLITE_ROW) {
            last = sqlite3_column_int64(st, 0);
            frontier[nfrontier].name = flor__strdup((const char *)sqlite3_column_text(st, 1));
            frontier[nfrontier].iteration = (long)sqlite3_column_int64(st, 2);
            if (!frontier[nfrontier].name) {
                sqlite3_finalize(st);
                return flor__err(FLOR_ENOMEM, "out of memory");
            }
            nfrontier++;
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (last != ctx) { /* not a path to the iteration: no frontier */
        for (int k = 0; k < nfrontier; k++)
            free(frontier[k].name);
        nfrontier = 0;
        return 0;
    }
    for (int a = 0, b = nfrontier - 1; a < b; a++, b--) { /* outermost first */
        char *n = frontier[a].name;
        long it = frontier[a].iteration;
        frontier[a] = frontier[b];
        frontier[b].name = n;
        frontier[b].iteration = it;
    }
    return 0;
}

/* The level of the frontier that loop L is at, or -1 when L is not on
 * the frontier's path. */
static int frontier_level(const flor_loop *l)
{
    int j = l->depth - flor__R.ckpt_depth - 1;
    if (j < 0 || j >= nfrontier || flor__R.ckpt_depth < 0 ||
        flor__R.stack[flor__R.ckpt_depth].iteration != flor__P.reached ||
        strcmp(l->name, frontier[j].name) != 0)
        return -1;
    for (int k = 0; k < j; k++) {
        int d = flor__R.ckpt_depth + 1 + k;
        if (flor__R.stack[d].iteration != frontier[k].iteration ||
            strcmp(flor__name_str(flor__R.stack[d].name), frontier[k].name) != 0)
            return -1;
    }
    return j;
}

static void frontier_begin(flor_loop *l)
{
    int j = frontier_level(l);
    if (j < 0 || flor__R.phase == FLOR__PHASE_FAILED)
        return;
    long n = frontier[j].iteration + 1;
    if (l->n < 0 || l->n >= n) {
        l->n = n;
        if (j == nfrontier - 1 || frontier_cut_depth < 0)
            frontier_cut_depth = l->depth;
    }
}

static void frontier_end(const flor_loop *l)
{
    if (l->depth != frontier_cut_depth || frontier_level(l) < 0 ||
        flor__R.stack[l->depth].iteration != frontier[l->depth - flor__R.ckpt_depth - 1].iteration)
        return;
    /* the record got no further: nothing after this is stored or compared */
    frontier_cut_depth = -1;
    flor__P.truncated = 1;
    if (flor__R.phase != FLOR__PHASE_FAILED)
        flor__R.phase = FLOR__PHASE_AFTER;
    flor__buf b = {0};
    for (int k = 0; k <= l->depth - flor__R.ckpt_depth - 1; k++)
        flor__buf_printf(&b, "/%s=%ld", frontier[k].name, frontier[k].iteration);
    snprintf(flor__P.frontier_text, sizeof flor__P.frontier_text, "%s", b.p ? b.p : "");
    flor__buf_release(&b);
}

/* Replay: where the checkpointed loop starts (FIRST: where the program
 * starts it), and whether a loop nested in one of its iterations runs or
 * is replaced by a restore. */
static void loop_begin(flor_loop *l, long first)
{
    int d = l->depth;
    if (flor__R.phase == FLOR__PHASE_FAILED) {
        l->n = 0; /* a restore failed: run nothing more */
        return;
    }
    if (d == flor__R.ckpt_depth) {
        long planned;
        long resume = flor__replay_plan(l->name, l->n, &planned);
        if (resume >= 0 && resume < first - 1)
            resume = -1; /* before the program's own start: of no use */
        l->i = (resume >= 0 ? resume + 1 : first) - 1;
        if (resume >= 0) {
            if (flor__replay_restore(resume) != 0) {
                flor__replay_fail();
                l->n = 0;
                return;
            }
            flor__P.restored_for = resume;
        }
        if (l->n < 0 || l->n > flor__P.seg_end)
            l->n = flor__P.seg_end;
        return;
    }
    if (flor__R.ckpt_depth >= 0 && d > flor__R.ckpt_depth)
        frontier_begin(l);
    if (flor__R.ckpt_depth < 0 || d != flor__R.ckpt_depth + 1 || flor__replay_probed(l->name))
        return;
    long it = flor__R.stack[flor__R.ckpt_depth].iteration;
    if (flor__R.stack[flor__R.ckpt_depth].ctx == 0 || !flor__replay_has_checkpoint(it))
        return; /* no checkpoint: the loop runs, rebuilding the state */
    if (flor__P.restored_for != it) {
        if (flor__replay_restore(it) != 0) {
            flor__replay_fail();
            l->n = 0;
            return;
        }
        flor__P.restored_for = it;
    }
    flor__P.restored_mid = it; /* restored again at the iteration's end */
    l->n = 0; /* its effects are in the checkpoint: no iteration runs */
}

/* The end of iteration l->i of the checkpointed loop in a replay: when a
 * nested loop of the iteration was skipped, the state was restored from
 * the iteration's checkpoint before the rest of the body ran; the body
 * may have changed it since (a scheduler step, random draws), so it is
 * restored again, and the next iteration starts from the state the
 * record had. */
static void iteration_end(const flor_loop *l, int aborting)
{
    /* state restored before this iteration that the program did not
     * register in it: what follows would not be the record's */
    if (!aborting && flor__R.phase != FLOR__PHASE_FAILED && flor__restore_pending_left()) {
        flor__replay_fail();
        return;
    }
    if (flor__P.restored_mid != l->i)
        return;
    flor__P.restored_mid = -1;
    if (aborting || flor__R.phase == FLOR__PHASE_FAILED)
        return;
    if (flor__replay_restore_again(l->i) != 0)
        flor__replay_fail();
}

/* Before the next iteration of the checkpointed loop: 1 when the loop
 * must end (a restore failed, or --replay_every needs no more of it). */
static int next(flor_loop *l)
{
    if (flor__R.phase == FLOR__PHASE_FAILED)
        return 1; /* a restore failed: no more iterations */
    if (flor__P.every_n > 0) {
        if (flor__replay_skip(&l->i) != 0) {
            flor__replay_fail();
            return 1;
        }
        if (l->n >= 0 && l->i + 1 >= l->n)
            return 1;
    }
    return 0;
}

/* Iteration l->i of the checkpointed loop begins: before the segment it
 * only rebuilds the state. */
static void iteration_begin(const flor_loop *l)
{
    if (flor__R.phase != FLOR__PHASE_FAILED)
        flor__R.phase = l->i < flor__P.seg_start ? FLOR__PHASE_CATCHUP : FLOR__PHASE_NORMAL;
}

static void loop_end(const flor_loop *l)
{
    frontier_end(l);
    /* after a segment that is not the last, the program's state is not
     * the run's final state: what it logs next is not compared */
    if (l->depth == flor__R.ckpt_depth && flor__R.phase != FLOR__PHASE_FAILED)
        flor__R.phase = flor__P.seg_pid + 1 < flor__P.seg_n || flor__P.truncated
                            ? FLOR__PHASE_AFTER
                            : FLOR__PHASE_NORMAL;
}

void flor__replay_segment_hooks(flor__replay_ops *ops)
{
    ops->loop_begin = loop_begin;
    ops->iteration_end = iteration_end;
    ops->next = next;
    ops->iteration_begin = iteration_begin;
    ops->loop_end = loop_end;
}

void flor__replay_segment_release(void)
{
    for (int k = 0; k < nfrontier; k++)
        free(frontier[k].name);
    nfrontier = 0;
    frontier_cut_depth = -1;
}
