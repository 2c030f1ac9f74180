/*
 * runs.c -- the SQL of the runs table, one place for it (docs/schema.md).
 * Each layer that calls it has its own section below; functions are
 * named flor__runs_<verb>, declared in db/db.h under "runs.c".
 */
#include "db/db.h"

#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* ---- for the project (src/project): runs listed, a run's code version,
 * ---- the runs still marked running ------------------------------------ */

/* A run of several processes is one row, its rank 0's, with the status
 * of the whole (running while a rank runs, else killed or failed if a
 * rank was, else finished), the logs and checkpoints of all its ranks,
 * and their number in `ranks`. */
#define RANKS_OF(r) "(SELECT s.run_id FROM runs s WHERE s.projid = " r ".projid AND s.tstamp = " \
                    r ".tstamp)"
const char flor__runs_list_sql[] =
    "SELECT r.run_id AS run, projid, tstamp, filename, vid,"
    " CASE WHEN world_size = 1 THEN status ELSE (SELECT CASE WHEN sum(s.status = 'running')"
    " THEN 'running' WHEN sum(s.status = 'killed') THEN 'killed' WHEN sum(s.status = 'failed')"
    " THEN 'failed' ELSE 'finished' END FROM runs s WHERE s.projid = r.projid AND s.tstamp ="
    " r.tstamp) END AS status, host, pid,"
    " strftime('%Y-%m-%dT%H:%M:%S', start_time, 'unixepoch', 'localtime') AS started,"
    " strftime('%Y-%m-%dT%H:%M:%S', end_time, 'unixepoch', 'localtime') AS ended,"
    " round(end_time - start_time, 3) AS seconds,"
    " CASE WHEN world_size = 1 THEN (SELECT count(*) FROM logs l WHERE l.run_id = r.run_id)"
    " ELSE (SELECT count(*) FROM logs l WHERE l.run_id IN " RANKS_OF("r") ") END AS logs,"
    " CASE WHEN world_size = 1 THEN (SELECT count(*) FROM checkpoints c WHERE c.run_id ="
    " r.run_id) ELSE (SELECT count(*) FROM checkpoints c WHERE c.run_id IN " RANKS_OF("r")
    ") END AS checkpoints,"
    " round(ckpt_overhead, 5) AS overhead,"
    " (SELECT count(*) FROM replays x WHERE x.run_id = r.run_id) AS replays,"
    " (SELECT coalesce(sum(x.divergences), 0) FROM replays x WHERE x.run_id = r.run_id)"
    " AS divergences,"
    " argv, reason, world_size AS ranks"
    " FROM runs r WHERE rank = 0 ORDER BY r.run_id";

int flor__runs_find_vid(sqlite3 *db, int64_t run, int *found, char **vid)
{
    *found = 0;
    *vid = NULL;
    sqlite3_stmt *st;
    int rc =
        flor__db_prepare(db, "SELECT vid FROM runs WHERE run_id=?", &st, "cannot read the runs");
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run);
    rc = sqlite3_step(st);
    int err = 0;
    if (rc == SQLITE_ROW) {
        *found = 1;
        const unsigned char *v = sqlite3_column_text(st, 0);
        if (v && !(*vid = flor__strdup((const char *)v)))
            err = flor__err(FLOR_ENOMEM, "out of memory");
    } else if (rc != SQLITE_DONE) {
        err = flor__err_sqlite(db, rc, "cannot read the runs");
    }
    sqlite3_finalize(st);
    return err;
}

int flor__runs_scan_running(sqlite3 *db, flor__running_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db,
                              "SELECT run_id, pid, proc_start FROM runs"
                              " WHERE status = 'running' AND host = ?",
                              &st, "cannot read runs");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, flor__hostname(), -1, SQLITE_STATIC);
    int err = 0;
    while (!err && sqlite3_step(st) == SQLITE_ROW)
        err = fn(ctx, sqlite3_column_int64(st, 0), (long)sqlite3_column_int64(st, 1),
                 (const char *)sqlite3_column_text(st, 2));
    sqlite3_finalize(st);
    return err;
}

/* ---- the record path's run rows ------------------------------------ */

/* The local time now, ISO 8601 to the microsecond, as Python's
 * datetime.now().isoformat() writes it: "2026-12-06T12:50:24.123456". */
static void format_tstamp(char *out, size_t n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    size_t len = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + len, n - len, ".%06ld", ts.tv_nsec / 1000);
}

int flor__runs_insert(sqlite3 *db, const char *projid, const char *filename, const char *vid,
                      const char *argv, int64_t *run_id, char tstamp[32])
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO runs(projid, tstamp, filename, vid, argv, host, pid,"
                                " proc_start, status, start_time) "
                                "VALUES (?,?,?,?,?,?,?,?,'running',?)",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot record the run");
    char *ident = flor__proc_identity((long)getpid());
    double now = flor__now();
    int err = flor__db_begin(db);
    for (int tries = 0; !err; tries++) {
        char ts[32];
        if (tries) {
            struct timespec pause = {0, 2000};
            nanosleep(&pause, NULL);
        }
        format_tstamp(ts, sizeof ts);
        sqlite3_bind_text(st, 1, projid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ts, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, filename, -1, SQLITE_STATIC);
        if (vid)
            sqlite3_bind_text(st, 4, vid, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 4);
        sqlite3_bind_text(st, 5, argv, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, flor__hostname(), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, (int64_t)getpid());
        if (ident)
            sqlite3_bind_text(st, 8, ident, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 8);
        sqlite3_bind_double(st, 9, now);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_DONE) {
            *run_id = sqlite3_last_insert_rowid(db);
            memcpy(tstamp, ts, sizeof ts);
            err = flor__db_commit(db);
            break;
        }
        if (rc != SQLITE_CONSTRAINT_UNIQUE || tries > 1000)
            err = flor__err_sqlite(db, rc, "cannot record the run");
    }
    if (err)
        flor__db_rollback(db);
    sqlite3_finalize(st);
    free(ident);
    return err;
}

int flor__runs_set_vid(sqlite3 *db, int64_t run_id, const char *vid)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "UPDATE runs SET vid=? WHERE run_id=?", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot record the code version");
    sqlite3_bind_text(st, 1, vid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, run_id);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : flor__err_sqlite(db, rc, "cannot record the code version");
}

/* ---- runs of several processes: one row per rank ------------------- */

int flor__runs_publish_job(sqlite3 *db, int64_t run_id, long world, const char *job,
                           const char *kind)
{
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db, "UPDATE runs SET world_size=?, job=?, launcher=? WHERE run_id=?",
                              &st, "cannot record the run's ranks");
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, world);
    sqlite3_bind_text(st, 2, job, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, run_id);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : flor__err_sqlite(db, rc, "cannot record the run's ranks");
}

int flor__runs_find_leader(sqlite3 *db, const char *job, long world, long rank, double since,
                           int64_t *leader)
{
    sqlite3_stmt *st;
    *leader = 0;
    int rc = flor__db_prepare(db,
                              "SELECT run_id, world_size FROM runs r WHERE job = ?1 AND rank = 0"
                              " AND start_time >= ?2 AND NOT EXISTS (SELECT 1 FROM runs o WHERE"
                              " o.projid = r.projid AND o.tstamp = r.tstamp AND o.rank = ?3)"
                              " ORDER BY run_id DESC LIMIT 1",
                              &st, "cannot read the runs");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, job, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 2, since);
    sqlite3_bind_int64(st, 3, rank);
    int step = sqlite3_step(st);
    int err = 0;
    if (step == SQLITE_ROW) {
        long w = (long)sqlite3_column_int64(st, 1);
        if (w != world)
            err = flor__err(FLOR_EINVAL,
                            "rank 0 of job %s (run %lld) has %ld processes, this one %ld: the "
                            "launcher's variables disagree",
                            job, (long long)sqlite3_column_int64(st, 0), w, world);
        else
            *leader = sqlite3_column_int64(st, 0);
    } else if (step != SQLITE_DONE) {
        err = flor__err_sqlite(db, step, "cannot read the runs");
    }
    sqlite3_finalize(st);
    return err;
}

int flor__runs_insert_rank(sqlite3 *db, int64_t leader, long rank, const char *argv,
                           int64_t *run_id)
{
    sqlite3_stmt *st;
    int rc = flor__db_prepare(
        db,
        "INSERT INTO runs(projid, tstamp, filename, vid, argv, host, pid, proc_start, status,"
        " start_time, rank, world_size, job, launcher)"
        " SELECT projid, tstamp, filename, vid, ?2, ?3, ?4, ?5, 'running', ?6, ?7, world_size,"
        " job, launcher FROM runs WHERE run_id = ?1",
        &st, "cannot record the run's rank");
    if (rc)
        return rc;
    char *ident = flor__proc_identity((long)getpid());
    sqlite3_bind_int64(st, 1, leader);
    sqlite3_bind_text(st, 2, argv, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, flor__hostname(), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (int64_t)getpid());
    if (ident)
        sqlite3_bind_text(st, 5, ident, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 6, flor__now());
    sqlite3_bind_int64(st, 7, rank);
    rc = sqlite3_step(st);
    int err = 0;
    if (rc == SQLITE_DONE && sqlite3_changes(db) == 1)
        *run_id = sqlite3_last_insert_rowid(db);
    else if (rc == SQLITE_DONE)
        err = flor__err(FLOR_ENOTFOUND, "run %lld, the job's rank 0, is gone", (long long)leader);
    else if (rc == SQLITE_CONSTRAINT_UNIQUE)
        err = flor__err(FLOR_EINVAL, "rank %ld of run %lld is recorded already: two processes "
                                     "of the job have the same rank",
                        rank, (long long)leader);
    else
        err = flor__err_sqlite(db, rc, "cannot record the run's rank");
    sqlite3_finalize(st);
    free(ident);
    return err;
}

int flor__runs_rank_of(sqlite3 *db, int64_t run, long rank, int64_t *id, long *world)
{
    sqlite3_stmt *st;
    *id = 0;
    *world = 0;
    int rc = flor__db_prepare(db,
                              "SELECT x.world_size, (SELECT r.run_id FROM runs r WHERE r.projid ="
                              " x.projid AND r.tstamp = x.tstamp AND r.rank = ?2)"
                              " FROM runs x WHERE x.run_id = ?1",
                              &st, "cannot read the runs");
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_int64(st, 2, rank);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *world = (long)sqlite3_column_int64(st, 0);
        *id = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return step == SQLITE_ROW || step == SQLITE_DONE ? 0
                                                     : flor__err_sqlite(db, step, "cannot read the runs");
}

int flor__runs_set_status(sqlite3 *db, int64_t run_id, const char *status, double overhead,
                          const char *reason)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "UPDATE runs SET status=?, end_time=?, ckpt_overhead=?, "
                                "reason=coalesce(?, reason) WHERE run_id=?",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot set the run's status");
    sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 2, flor__now());
    if (overhead >= 0)
        sqlite3_bind_double(st, 3, overhead);
    if (reason)
        sqlite3_bind_text(st, 4, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, run_id);
    for (int tries = 0; tries < 5; tries++) {
        if (tries) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_DONE)
            break;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : flor__err_sqlite(db, rc, "cannot set the run's status");
}

/* A run is empty when nothing but its args was recorded: no log, no loop
 * iteration, no checkpoint, no reason, no replay or resume of it, and it
 * is a single process (the row of a job's rank is what the others join). */
static const char empty_run_sql[] =
    "SELECT 1 FROM runs r WHERE r.run_id = ?1 AND r.world_size <= 1 AND r.reason IS NULL"
    " AND NOT EXISTS (SELECT 1 FROM logs WHERE run_id = ?1)"
    " AND NOT EXISTS (SELECT 1 FROM loops WHERE run_id = ?1)"
    " AND NOT EXISTS (SELECT 1 FROM checkpoints WHERE run_id = ?1)"
    " AND NOT EXISTS (SELECT 1 FROM replays WHERE run_id = ?1)"
    " AND NOT EXISTS (SELECT 1 FROM resumes WHERE run_id = ?1)";

static int runs_step_run(sqlite3 *db, const char *sql, int64_t run_id, int *row)
{
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db, sql, &st, "cannot remove the empty run");
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (row)
        *row = step == SQLITE_ROW;
    return step == SQLITE_ROW || step == SQLITE_DONE
               ? 0
               : flor__err_sqlite(db, step, "cannot remove the empty run");
}

int flor__runs_remove_if_empty(sqlite3 *db, int64_t run_id, int *removed)
{
    *removed = 0;
    int rc = flor__db_begin(db), empty = 0;
    if (rc)
        return rc;
    rc = runs_step_run(db, empty_run_sql, run_id, &empty);
    if (!rc && empty)
        rc = runs_step_run(db, "DELETE FROM args WHERE run_id = ?1", run_id, NULL);
    if (!rc && empty)
        rc = runs_step_run(db, "DELETE FROM runs WHERE run_id = ?1", run_id, NULL);
    if (!rc)
        rc = flor__db_commit(db);
    if (rc) {
        flor__db_rollback(db);
        return rc;
    }
    *removed = empty;
    return 0;
}

void flor__runs_note_reason(sqlite3 *db, int64_t run_id, const char *reason)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "UPDATE runs SET reason=coalesce(reason || '; ' || ?, ?) "
                               "WHERE run_id=?", -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_text(st, 1, reason, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, run_id);
    sqlite3_step(st);
    sqlite3_finalize(st);
}

void flor__runs_mark_killed(sqlite3 *db, int64_t run_id)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "UPDATE runs SET status='killed', end_time=? WHERE run_id=?", -1,
                           &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_double(st, 1, flor__now());
    sqlite3_bind_int64(st, 2, run_id);
    sqlite3_step(st);
    sqlite3_finalize(st);
}

int flor__runs_status(sqlite3 *db, int64_t run_id, char **status)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "SELECT status FROM runs WHERE run_id = ?", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot read the run's status");
    sqlite3_bind_int64(st, 1, run_id);
    *status = NULL;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        *status = flor__strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return 0;
}

/* One integer from SQL with RUN as ?1 and TEXT (if not NULL) as ?2, or -1
 * when NULL. */
int flor__runs_query_long(sqlite3 *db, const char *sql, int64_t run, const char *text, long *out)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot read the run to replay");
    sqlite3_bind_int64(st, 1, run);
    if (text)
        sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    *out = -1;
    if ((rc = sqlite3_step(st)) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        *out = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0
                                                 : flor__err_sqlite(db, rc, "cannot read the run to replay");
}

int flor__runs_argv_each(sqlite3 *db, int64_t run_id, int (*fn)(void *ctx, const char *word),
                         void *ctx, int *readable, char *why, size_t nwhy)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT j.value FROM runs r, json_each(r.argv) j WHERE r.run_id = ? "
                                "ORDER BY j.key",
                                -1, &st, NULL);
    int step = rc == SQLITE_OK ? SQLITE_ROW : rc;
    int err = 0;
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, run_id);
        while (!err && (step = sqlite3_step(st)) == SQLITE_ROW)
            err = fn(ctx, (const char *)sqlite3_column_text(st, 0));
    }
    *readable = step == SQLITE_DONE;
    if (!err && !*readable)
        snprintf(why, nwhy, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return err;
}

/* ---- the replay launcher's reads (src/replay/) -------------------------------- */

/* The first column of SQL's first row as an integer (0 when there is no
 * row, or it is NULL), with TEXT bound to its parameter when not NULL. */
static int runs_one_int(sqlite3 *db, const char *sql, const char *text, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    *out = 0;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && text)
        rc = sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            *out = sqlite3_column_int64(st, 0);
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : flor__err_sqlite(db, rc, "cannot read the runs");
}

int flor__runs_find(sqlite3 *db, const char *spec, int64_t *run)
{
    size_t len = strlen(spec);
    bool by_id = len > 0 && len < 19 && strspn(spec, "0123456789") == len;
    return runs_one_int(db, by_id ? "SELECT run_id FROM runs WHERE run_id = CAST(?1 AS INTEGER)"
                                  : "SELECT run_id FROM runs WHERE tstamp = ?1 AND rank = 0",
                        spec, run);
}

int flor__runs_latest_of(sqlite3 *db, const char *filename, int64_t *run)
{
    return runs_one_int(db, "SELECT max(run_id) FROM runs WHERE filename = ?1 AND rank = 0", filename, run);
}

/* The text of the first column of SQL's first row (bound to TEXT when not
 * NULL) into *OUT, malloc'd; NULL when there is no row. */
static int runs_one_text(sqlite3 *db, const char *sql, const char *text, char **out)
{
    sqlite3_stmt *st = NULL;
    *out = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        if (text)
            sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const char *f = (const char *)sqlite3_column_text(st, 0);
            rc = f && !(*out = flor__strdup(f)) ? SQLITE_NOMEM : SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : flor__err_sqlite(db, rc, "cannot read the runs");
}

int flor__runs_newest_filename(sqlite3 *db, char **out)
{
    return runs_one_text(db, "SELECT filename FROM runs ORDER BY run_id DESC LIMIT 1", NULL, out);
}

int flor__runs_latest_projid(sqlite3 *db, const char *filename, char **out)
{
    return runs_one_text(db,
                         "SELECT projid FROM runs WHERE filename = ?1 AND rank = 0"
                         " ORDER BY run_id DESC LIMIT 1",
                         filename, out);
}

/* All the rows of SQL, read about WHAT ("the runs"). */
static int runs_table(sqlite3 *db, const char *sql, const char *what, flor_table **out)
{
    sqlite3_stmt *st = NULL;
    *out = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, what);
    rc = flor__table_from_stmt(st, out);
    sqlite3_finalize(st);
    return rc;
}

int flor__runs_programs(sqlite3 *db, flor_table **out)
{
    return runs_table(db,
                      "SELECT coalesce(json_extract(argv, '$[0]'), filename) AS program FROM runs"
                      " r WHERE run_id = (SELECT max(run_id) FROM runs s WHERE s.filename ="
                      " r.filename) ORDER BY run_id",
                      "cannot read the runs", out);
}

/* Appends S to B as an SQL string literal (quotes doubled). */
static int runs_quote(flor__buf *b, const char *s)
{
    int rc = flor__buf_puts(b, "'");
    for (const char *c = s; !rc && *c; c++)
        rc = flor__buf_add(b, c, 1) || (*c == '\'' && flor__buf_add(b, c, 1));
    return rc || flor__buf_puts(b, "'") ? FLOR_ENOMEM : 0;
}

/* The arg names that become columns of the selection: those that are not
 * a column of runs already (that one wins). */
static int runs_arg_names(sqlite3 *db, flor_table **out)
{
    return runs_table(db,
                      "SELECT DISTINCT name FROM args WHERE name NOT IN ('run_id', 'run',"
                      " 'projid', 'tstamp', 'filename', 'vid', 'argv', 'host', 'pid', 'status',"
                      " 'start_time', 'end_time') ORDER BY name",
                      "cannot read the args", out);
}

int flor__runs_replay_selection(sqlite3 *db, const char *prog, const char *const *names,
                                size_t n, const char *where, char **sql)
{
    flor_table *args = NULL;
    *sql = NULL;
    int rc = runs_arg_names(db, &args);
    if (rc)
        return rc;
    flor__buf b = {0};
    rc = flor__buf_puts(&b, "WITH sel AS (SELECT r.*, r.run_id AS run");
    for (size_t i = 0; !rc && i < args->nrows; i++) {
        const char *name = flor_table_text(args, i, 0);
        rc = flor__buf_puts(&b, ", (SELECT value FROM args a WHERE a.run_id = r.run_id AND"
                                " a.name = ") ||
             runs_quote(&b, name) || flor__buf_puts(&b, ") AS \"");
        for (const char *c = name; !rc && *c; c++)
            rc = flor__buf_puts(&b, *c == '"' ? "\"\"" : (char[]){*c, 0});
        rc = rc || flor__buf_puts(&b, "\"");
    }
    /* the fourth column: whether the run has a value of every NAME already,
     * and no replay of it (of any of its ranks) failed or was killed without
     * that segment, or every segment of some split of the run, replayed to
     * the end after: the values a partial replay left are kept, but they do
     * not make the run done */
    rc = rc || flor__buf_puts(&b, " FROM runs r) SELECT run_id, vid, json_extract(argv, '$[0]'),"
                                  " (SELECT count(DISTINCT name) FROM logs l WHERE l.run_id ="
                                  " sel.run_id AND l.name IN (");
    for (size_t i = 0; !rc && i < n; i++)
        rc = (i && flor__buf_puts(&b, ", ")) || runs_quote(&b, names[i]);
    rc = rc || flor__buf_printf(&b, ")) = %zu", n) ||
         flor__buf_puts(&b, " AND NOT EXISTS (SELECT 1 FROM replays p WHERE p.run_id IN"
                            " (SELECT run_id FROM runs x WHERE x.projid = sel.projid AND"
                            " x.tstamp = sel.tstamp) AND p.status IN ('failed', 'killed') AND"
                            " NOT EXISTS (SELECT 1 FROM replays q WHERE q.run_id = p.run_id AND"
                            " q.status = 'finished' AND q.replay_id > p.replay_id AND"
                            " q.segment = p.segment AND q.nsegments = p.nsegments) AND"
                            " NOT EXISTS (SELECT 1 FROM replays q WHERE q.run_id = p.run_id AND"
                            " q.status = 'finished' AND q.replay_id > p.replay_id"
                            " GROUP BY q.nsegments HAVING count(DISTINCT q.segment) ="
                            " q.nsegments))") ||
         flor__buf_puts(&b, ", world_size, launcher, tstamp FROM sel WHERE filename = ") ||
         runs_quote(&b, prog) || flor__buf_puts(&b, " AND status != 'running' AND rank = 0");
    if (!rc && where)
        rc = flor__buf_printf(&b, " AND (%s\n)", where);
    rc = rc || flor__buf_puts(&b, " ORDER BY run_id");
    flor_table_free(args);
    if (rc) {
        flor__buf_release(&b);
        return flor__err(FLOR_ENOMEM, "out of memory");
    }
    *sql = b.p;
    return 0;
}

/* ---- for hindsight statements (src/replay/hindsight.c) --------------------- */

int flor__runs_newest_versioned(sqlite3 *db, int64_t *run)
{
    sqlite3_stmt *st;
    *run = 0;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT run_id FROM runs WHERE vid IS NOT NULL"
                                " ORDER BY run_id DESC LIMIT 1",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot read the runs");
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *run = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return flor__err_sqlite(db, rc, "cannot read the runs");
    return 0;
}

int flor__runs_backfill_pair(sqlite3 *db, const char *const *names, size_t n, int64_t *src,
                             int64_t *base)
{
    flor__buf in = {0};
    int rc = 0;
    *src = *base = 0;
    for (size_t i = 0; !rc && i < n; i++)
        rc = flor__buf_puts(&in, i ? ", ?" : "?");
    char *sql = rc ? NULL
                   : flor__printf(
                         "WITH has(run_id) AS (SELECT DISTINCT run_id FROM logs WHERE source ="
                         " 'record' AND name IN (%s)),"
                         " src AS (SELECT run_id, vid FROM runs WHERE vid IS NOT NULL AND run_id"
                         " IN has ORDER BY run_id DESC LIMIT 1)"
                         " SELECT src.run_id, (SELECT r.run_id FROM runs r WHERE r.vid"
                         " IS NOT NULL AND r.vid != src.vid AND r.run_id < src.run_id AND"
                         " r.run_id NOT IN has ORDER BY r.run_id DESC LIMIT 1) FROM src",
                         in.p);
    flor__buf_release(&in);
    if (!sql)
        return flor__err(FLOR_ENOMEM, "out of memory");
    sqlite3_stmt *st;
    int e = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    free(sql);
    if (e != SQLITE_OK)
        return flor__err_sqlite(db, e, "cannot read the logs");
    for (size_t i = 0; i < n; i++)
        sqlite3_bind_text(st, (int)i + 1, names[i], -1, SQLITE_STATIC);
    e = sqlite3_step(st);
    if (e == SQLITE_ROW && sqlite3_column_type(st, 1) != SQLITE_NULL) {
        *src = sqlite3_column_int64(st, 0);
        *base = sqlite3_column_int64(st, 1);
    } else if (e != SQLITE_ROW && e != SQLITE_DONE) {
        rc = flor__err_sqlite(db, e, "cannot read the logs");
    }
    sqlite3_finalize(st);
    return rc;
}

int flor__runs_argv_table(sqlite3 *db, int64_t run, flor_table **out)
{
    return flor__table_of_run(db,
                              "SELECT j.value AS word FROM runs r, json_each(r.argv) j"
                              " WHERE r.run_id = ?1 ORDER BY j.key",
                              run, out, "cannot read the run's argv");
}
