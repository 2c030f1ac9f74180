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

/* One step of the path up from the last log: the loop it was in. */
static int frontier_push(void *ctx, const char *name, long iteration)
{
    (void)ctx;
    if (!(frontier[nfrontier].name = flor__strdup(name)))
        return flor__err(FLOR_ENOMEM, "out of memory");
    frontier[nfrontier].iteration = iteration;
    nfrontier++;
    return 0;
}

int flor__replay_frontier_load(sqlite3 *db)
{
    int64_t ctx = 0, last = 0;
    int rc = flor__loops_ctx_at(db, flor__P.run_id, flor__P.ckpt_loop, flor__P.reached, &ctx);
    /* the context of the last value the record logged in that iteration */
    if (!rc)
        rc = flor__logs_last_ctx_under(db, flor__P.run_id, ctx, &last);
    if (rc)
        return rc;
    if (!last || last == ctx)
        return 0; /* it logged after its nested loops: they ran to their end */
    /* the path from there up to the iteration, innermost first */
    if ((rc = flor__loops_path_up(db, flor__P.run_id, &last, ctx, MAX_FRONTIER, frontier_push,
                                  NULL)) != 0)
        return rc;
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
