/*
 * report.c -- the replay's row in the replays table, and the one-line
 * report it prints when it ends.
 */
#include "replay/replay.h"

#include <stdio.h>

/* ---- the replays table ------------------------------------------------------ */

int flor__replay_begin_row(sqlite3 *db)
{
    flor__buf probes = {0};
    for (int i = 0; i < flor__P.nprobe; i++)
        flor__buf_printf(&probes, "%s%s", i ? "," : "", flor__P.probe[i]);
    int rc = flor__replays_insert(db, flor__P.run_id, flor__P.seg_pid, flor__P.seg_n, probes.p,
                                  &flor__P.replay_id);
    flor__buf_release(&probes);
    return rc;
}

int flor__replay_end_row(sqlite3 *db, const char *status)
{
    flor__replay_counts n = {flor__P.new_values, flor__P.compared, flor__P.divergences,
                             flor__P.restores};
    return flor__replays_finish(db, flor__P.replay_id, flor__P.error ? "failed" : status, &n,
                                flor__P.first_divergence, flor__P.error);
}

/* The one-line report a replay prints when it ends (unless FLOR_QUIET). */
void flor__replay_report(void)
{
    char seg[64] = "";
    if (flor__P.seg_n > 1)
        snprintf(seg, sizeof seg, ", segment %ld/%ld", flor__P.seg_pid, flor__P.seg_n);
    if (flor__P.error) {
        flor__warn("replay of run %lld%s failed: %s", (long long)flor__P.run_id, seg,
                   flor__P.error);
        return;
    }
    if (flor__quiet())
        return;
    if (flor__P.truncated && flor__P.reached < 0)
        fprintf(stderr, "flor: run %lld %s before its loop '%s' began: the replay stopped there "
                        "too\n", (long long)flor__P.run_id, flor__P.run_status, flor__P.stop_loop);
    else if (flor__P.truncated)
        fprintf(stderr, "flor: run %lld %s in iteration %s=%ld%s: the replay stopped there "
                        "too\n",
                (long long)flor__P.run_id, flor__P.run_status, flor__P.stop_loop, flor__P.reached,
                flor__P.frontier_text);
    fprintf(stderr,
            "flor: replay of run %lld%s: %ld new values, %ld compared, %ld divergences, "
            "%ld checkpoints restored\n",
            (long long)flor__P.run_id, seg, flor__P.new_values, flor__P.compared,
            flor__P.divergences, flor__P.restores);
    if (flor__P.first_divergence)
        fprintf(stderr, "flor: first divergence: %s\n", flor__P.first_divergence);
}
