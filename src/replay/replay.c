/*
 * replay.c -- hindsight logging: re-executing a recorded run, fast.  The
 * replay side of flor_init() and flor_finish() (src/flor.c calls these).
 *
 * flor_init(--replay_flor [PID/N]) picks the run (the latest of this
 * program, or --replay_run ID|TSTAMP), gives flor_arg() the recorded
 * values, and plans the segment of the checkpointed loop this process
 * replays (plan.c).  It then registers the replay's hooks with the
 * session: the loops call segment.c, the log writer hands every record to
 * the sink (sink.c), and a flat buffer the program registers may be
 * restored at once (restore.c).  The record path never calls replay
 * otherwise.  The replay's row and its report are report.c's.
 */
#include "replay/replay.h"

#include <stdlib.h>
#include <string.h>

/* The writer thread, after a signal: the replay ends as killed. */
static void killed(sqlite3 *db) { flor__replays_mark_killed(db, flor__P.replay_id); }

/* A flat buffer registered in a replay: the object of the last restore
 * that waited for it is restored into it now. */
static int on_register(flor__state *s)
{
    int rc = flor__restore_pending(s);
    if (rc)
        flor__replay_fail();
    return rc;
}

static flor__replay_ops ops;

/* Loads the run to replay and everything the replay compares against. */
static int replay_open(sqlite3 *db, const char *projid, const char *filename)
{
    int rc = flor__replay_load_run(db, projid, filename);
    if (!rc && flor__P.limited && flor__P.reached >= 0 &&
        !flor__replay_has_checkpoint(flor__P.reached))
        rc = flor__replay_frontier_load(db);
    if (!rc)
        rc = flor__replay_sink_load(db);
    if (rc)
        return rc;
    flor__P.restored_for = -1;
    flor__P.restored_mid = -1;
    flor__R.phase = FLOR__PHASE_NORMAL;
    return 0;
}

int flor__replay_start(int argc, char **argv)
{
    flor__run *R = &flor__R;
    int rc = flor__replay_open_project("--replay_flor", "replay");
    if (rc)
        return rc;
    const char *filename = flor__run_filename(argc, argv);
    if ((rc = replay_open(R->db, R->place.projid, filename)) != 0 ||
        (rc = flor__replay_begin_row(R->db)) != 0)
        return rc;
    R->run_id = flor__P.run_id;
    if (flor__P.ckpt_loop && !(R->ckpt_loop = flor__strdup(flor__P.ckpt_loop)))
        return flor__err(FLOR_ENOMEM, "out of memory");
    R->ckpt_depth = -1;
    memset(&ops, 0, sizeof ops);
    ops.record = flor__replay_record;
    ops.killed = killed;
    flor__replay_segment_hooks(&ops);
    sqlite3 *wdb;
    if ((rc = flor__db_open(R->place.datadir, 0, 0, &wdb)) != 0)
        return rc;
    if ((rc = flor__writer_start(&R->writer, wdb, flor__P.run_id, &ops)) != 0) {
        flor__replay_end_row(R->db, "failed");
        return rc;
    }
    R->replay = &ops;
    flor__state_set_on_register(on_register);
    /* the values it recomputes go to the team's database, as a run's do */
    if (flor__replicator_start(R->place.datadir, R->db, R->place.root, R->place.projid,
                               &R->replicator) != 0) {
        flor__warn("the replay's values will not be copied to the team's database: %s (they "
                   "stay in the local database; 'flor team sync' copies them)", flor_errmsg());
        flor__err_clear();
    }
    return 0;
}

int flor__replay_end(const char *status, const char *why)
{
    int rc = flor__writer_stop(flor__R.writer);
    flor__R.writer = NULL;
    flor__R.on = 0;
    char saved[512];
    snprintf(saved, sizeof saved, "%s", flor_errmsg());
    bool flors = flor__P.error || rc; /* an error of flor's, not the program's */
    if (rc && !flor__P.error)
        flor__P.error = flor__strdup(saved);
    else if (why && *why && !flor__P.error)
        flor__P.error = flor__strdup(why);
    flor__replay_end_row(flor__R.db, status);
    flor__replay_report();
    flor__replicator_stop(flor__R.replicator, strcmp(status, "killed") != 0);
    flor__R.replicator = NULL;
    int code = flors ? (rc ? rc : FLOR_ECORRUPT) : 0;
    if (flors)
        flor__err(code, "%s", flor__P.error);
    sqlite3_close(flor__R.db);
    flor__R.db = NULL;
    flor__R.finished = 1;
    flor__replay_release();
    return code;
}

void flor__replay_release(void)
{
    flor__restore_pending_release();
    flor_project_free(flor__P.proj);
    flor__replay_sink_release();
    flor__replay_segment_release();
    for (int i = 0; i < flor__P.nprobe; i++)
        free(flor__P.probe[i]);
    free(flor__P.ckpts);
    free(flor__P.ckpt_loop);
    free(flor__P.run_spec);
    free(flor__P.error);
    free(flor__P.first_divergence);
    free(flor__P.run_status);
    memset(&flor__P, 0, sizeof flor__P);
    flor__state_set_on_register(NULL);
    flor__R.replay = NULL;
}
