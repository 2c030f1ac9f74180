/*
 * report.c -- the replay's row in the replays table, and the one-line
 * report it prints when it ends.
 */
#include "replay/replay.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the replays table ------------------------------------------------------ */

int flor__replay_begin_row(sqlite3 *db)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO replays(run_id, segment, nsegments, probed, host, pid,"
                                " proc_start, status, started) VALUES (?,?,?,?,?,?,?,'running',?)",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot record the replay");
    flor__buf probes = {0};
    for (int i = 0; i < flor__P.nprobe; i++)
        flor__buf_printf(&probes, "%s%s", i ? "," : "", flor__P.probe[i]);
    char *ident = flor__proc_identity((long)getpid());
    sqlite3_bind_int64(st, 1, flor__P.run_id);
    sqlite3_bind_int64(st, 2, flor__P.seg_pid);
    sqlite3_bind_int64(st, 3, flor__P.seg_n);
    if (probes.p)
        sqlite3_bind_text(st, 4, probes.p, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_text(st, 5, flor__hostname(), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, (int64_t)getpid());
    sqlite3_bind_text(st, 7, ident ? ident : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 8, flor__now());
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    flor__buf_release(&probes);
    free(ident);
    if (rc != SQLITE_DONE)
        return flor__err_sqlite(db, rc, "cannot record the replay");
    flor__P.replay_id = sqlite3_last_insert_rowid(db);
    return 0;
}

int flor__replay_end_row(sqlite3 *db, const char *status)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "UPDATE replays SET status=?, ended=?, new_values=?, compared=?,"
                                " divergences=?, first_divergence=?, restores=?, error=?"
                                " WHERE replay_id=?",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot finish the replay's record");
    sqlite3_bind_text(st, 1, flor__P.error ? "failed" : status, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 2, flor__now());
    sqlite3_bind_int64(st, 3, flor__P.new_values);
    sqlite3_bind_int64(st, 4, flor__P.compared);
    sqlite3_bind_int64(st, 5, flor__P.divergences);
    if (flor__P.first_divergence)
        sqlite3_bind_text(st, 6, flor__P.first_divergence, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 6);
    sqlite3_bind_int64(st, 7, flor__P.restores);
    if (flor__P.error)
        sqlite3_bind_text(st, 8, flor__P.error, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 8);
    sqlite3_bind_int64(st, 9, flor__P.replay_id);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : flor__err_sqlite(db, rc, "cannot finish the replay's record");
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
