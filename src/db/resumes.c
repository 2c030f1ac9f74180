/*
 * resumes.c -- the resumes, superseded_logs and superseded_loops tables
 * (schema version 3): a killed or failed run continued by a new process
 * from its last complete checkpoint (docs/schema.md).
 *
 * Beginning a continuation is one transaction: the resumes row; the rows
 * the run logged that the continuation will log again (everything outside
 * the iterations of the checkpointed loop up to the checkpoint, and of
 * the enclosing loops before the checkpoint's path) moved from logs and
 * loops into superseded_logs and superseded_loops; and the run's row
 * pointed at the new process, status 'running' again.
 */
#include "db/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Each loops row of the run with its state s: 2 kept (an iteration
 * before the path's, or of the checkpointed loop up to the checkpoint,
 * or nested in one), 1 on the path (an enclosing loop's iteration that
 * the continuation goes on in: the row is kept, its own logs are not), 0
 * superseded.  K: the checkpointed loop's depth.  The parameters: ?1 the
 * run, ?2 the resume, ?3... the path. */
static char *state_sql(const flor__path *path, const char *tail)
{
    char *cte = flor__path_cte(path, 3);
    char state[160];
    snprintf(state, sizeof state,
             "CASE WHEN p.d IS NULL THEN 0 WHEN l.iteration < p.it OR (l.iteration = p.it AND"
             " p.d = %d) THEN 2 WHEN l.iteration = p.it THEN 1 ELSE 0 END",
             path->n - 1);
    char *sql = cte ? flor__printf("WITH RECURSIVE %s, st(c, d, s) AS ("
                                   " SELECT l.ctx_id, 0, %s FROM loops l LEFT JOIN path p"
                                   " ON p.d = 0 AND p.name = l.name"
                                   " WHERE l.run_id = ?1 AND l.parent_ctx_id IS NULL"
                                   " UNION ALL SELECT l.ctx_id, st.d + 1, CASE WHEN st.s <> 1"
                                   " THEN st.s ELSE %s END FROM loops l JOIN st"
                                   " ON l.parent_ctx_id = st.c LEFT JOIN path p"
                                   " ON p.d = st.d + 1 AND p.name = l.name"
                                   " WHERE l.run_id = ?1) %s",
                                   cte, state, state, tail)
                    : NULL;
    free(cte);
    return sql;
}

static int exec_path(sqlite3 *db, const flor__path *path, const char *tail, int64_t run,
                     int64_t resume_id, long *changes)
{
    char *sql = state_sql(path, tail);
    if (!sql)
        return flor__err(FLOR_ENOMEM, "out of memory");
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db, sql, &st, "cannot supersede the killed process's rows");
    free(sql);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_int64(st, 2, resume_id);
    flor__path_bind(st, path, 3);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return flor__err_sqlite(db, rc, "cannot supersede the killed process's rows");
    if (changes)
        *changes = (long)sqlite3_changes(db);
    return 0;
}

/* CTX[d]: the id of the path's iteration at depth d < n-1 in `loops` (0:
 * none saved). */
static int path_contexts(sqlite3 *db, const flor__path *path, int64_t run, int64_t *ctx)
{
    for (int k = 0; k < path->n; k++)
        ctx[k] = 0;
    char *sql = state_sql(path, "SELECT c, d FROM st WHERE s = 1");
    if (!sql)
        return flor__err(FLOR_ENOMEM, "out of memory");
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db, sql, &st, "cannot read the run's loops");
    free(sql);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run);
    flor__path_bind(st, path, 3);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int d = sqlite3_column_int(st, 1);
        if (d >= 0 && d < path->n)
            ctx[d] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : flor__err_sqlite(db, rc, "cannot read the run's loops");
}

static int begin_tx(sqlite3 *db, int64_t run, const flor__path *path, const char *prev_status,
                    const char *vid, int64_t *resume_id, long *moved, int64_t *max_ctx,
                    int64_t *ctx)
{
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db,
                              "INSERT INTO resumes(run_id, loop, iteration, prev_status, prev_pid,"
                              " vid, host, pid, proc_start, started)"
                              " SELECT run_id, ?2, ?3, ?4, pid, ?5, ?6, ?7, ?8, ?9 FROM runs"
                              " WHERE run_id=?1",
                              &st, "cannot record the resume");
    if (rc)
        return rc;
    char *ident = flor__proc_identity((long)getpid());
    double now = flor__now();
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_text(st, 2, path->name[path->n - 1], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, path->iteration[path->n - 1]);
    sqlite3_bind_text(st, 4, prev_status, -1, SQLITE_STATIC);
    if (vid)
        sqlite3_bind_text(st, 5, vid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, flor__hostname(), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, (int64_t)getpid());
    if (ident)
        sqlite3_bind_text(st, 8, ident, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 9, now);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(ident);
        return flor__err_sqlite(db, rc, "cannot record the resume");
    }
    *resume_id = sqlite3_last_insert_rowid(db);
    long nlogs = 0, nloops = 0;
    rc = path_contexts(db, path, run, ctx);
    if (!rc)
        rc = exec_path(db, path,
                       "INSERT INTO superseded_logs(resume_id, run_id, ctx_id, name, value,"
                       " source) SELECT ?2, run_id, ctx_id, name, value, source FROM logs"
                       " WHERE run_id=?1 AND (ctx_id IS NULL OR ctx_id NOT IN"
                       " (SELECT c FROM st WHERE s = 2)) ORDER BY rowid",
                       run, *resume_id, &nlogs);
    if (!rc)
        rc = exec_path(db, path,
                       "DELETE FROM logs WHERE run_id=?1 AND (ctx_id IS NULL OR ctx_id NOT IN"
                       " (SELECT c FROM st WHERE s = 2))",
                       run, *resume_id, NULL);
    if (!rc)
        rc = exec_path(db, path,
                       "INSERT INTO superseded_loops(resume_id, run_id, ctx_id, parent_ctx_id,"
                       " name, iteration, value) SELECT ?2, run_id, ctx_id, parent_ctx_id, name,"
                       " iteration, value FROM loops WHERE run_id=?1 AND ctx_id NOT IN"
                       " (SELECT c FROM st WHERE s > 0)",
                       run, *resume_id, &nloops);
    if (!rc)
        rc = exec_path(db, path,
                       "DELETE FROM loops WHERE run_id=?1 AND ctx_id NOT IN"
                       " (SELECT c FROM st WHERE s > 0)",
                       run, *resume_id, NULL);
    if (!rc)
        rc = flor__db_prepare(db,
                              "UPDATE resumes SET superseded=?2 WHERE resume_id=?1", &st,
                              "cannot record the resume");
    if (!rc) {
        sqlite3_bind_int64(st, 1, *resume_id);
        sqlite3_bind_int64(st, 2, nlogs);
        int s = sqlite3_step(st);
        sqlite3_finalize(st);
        if (s != SQLITE_DONE)
            rc = flor__err_sqlite(db, s, "cannot record the resume");
    }
    /* the run is this process's now: the reaper watches it */
    if (!rc)
        rc = flor__db_prepare(db,
                              "UPDATE runs SET status='running', host=?2, pid=?3, proc_start=?4,"
                              " end_time=NULL, reason=NULL WHERE run_id=?1",
                              &st, "cannot record the resume");
    if (!rc) {
        sqlite3_bind_int64(st, 1, run);
        sqlite3_bind_text(st, 2, flor__hostname(), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (int64_t)getpid());
        if (ident)
            sqlite3_bind_text(st, 4, ident, -1, SQLITE_TRANSIENT);
        int s = sqlite3_step(st);
        sqlite3_finalize(st);
        if (s != SQLITE_DONE)
            rc = flor__err_sqlite(db, s, "cannot record the resume");
    }
    free(ident);
    /* new contexts are numbered past every one the run ever used */
    long top = 0;
    if (!rc)
        rc = flor__runs_query_long(db,
                                   "SELECT max(coalesce((SELECT max(ctx_id) FROM loops"
                                   " WHERE run_id=?1), 0), coalesce((SELECT max(ctx_id) FROM"
                                   " superseded_loops WHERE run_id=?1), 0))",
                                   run, NULL, &top);
    *max_ctx = top;
    *moved = nlogs;
    return rc;
}

int flor__resumes_begin(sqlite3 *db, int64_t run, const flor__path *path,
                        const char *prev_status, const char *vid, int64_t *resume_id, long *moved,
                        int64_t *max_ctx, int64_t *ctx)
{
    int rc = flor__db_begin(db);
    if (rc)
        return rc;
    rc = begin_tx(db, run, path, prev_status, vid, resume_id, moved, max_ctx, ctx);
    if (!rc)
        rc = flor__db_commit(db);
    if (rc)
        flor__db_rollback(db);
    return rc;
}

int flor__resumes_end(sqlite3 *db, int64_t resume_id, const char *status)
{
    sqlite3_stmt *st;
    int rc = flor__db_prepare(db, "UPDATE resumes SET status=?2, ended=?3 WHERE resume_id=?1",
                              &st, "cannot end the resume");
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, resume_id);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, flor__now());
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : flor__err_sqlite(db, rc, "cannot end the resume");
}

void flor__resumes_set_times(sqlite3 *db, int64_t resume_id, double restore_s,
                             double first_step_s)
{
    sqlite3_stmt *st;
    if (flor__db_prepare(db, "UPDATE resumes SET restore_s=?2, first_step_s=?3 WHERE resume_id=?1",
                         &st, "cannot time the resume") != 0)
        return;
    sqlite3_bind_int64(st, 1, resume_id);
    sqlite3_bind_double(st, 2, restore_s);
    sqlite3_bind_double(st, 3, first_step_s);
    sqlite3_step(st);
    sqlite3_finalize(st);
}

int flor__resumes_table(sqlite3 *db, int64_t run, flor_table **out)
{
    *out = NULL;
    if (!flor__db_has_resumes(db)) /* a read-only open of a version 2 file */
        return flor__err(FLOR_ENOTFOUND, "this project has no resumed runs (its database "
                                         "predates schema version 3)");
    return flor__table_of_run(
        db,
        "SELECT resume_id AS resume, run_id AS run, loop, iteration AS from_iteration,"
        " prev_status, prev_pid, host, pid, status,"
        " strftime('%Y-%m-%dT%H:%M:%S', started, 'unixepoch', 'localtime') AS started,"
        " strftime('%Y-%m-%dT%H:%M:%S', ended, 'unixepoch', 'localtime') AS ended,"
        " superseded, round(restore_s * 1000, 3) AS restore_ms,"
        " round(first_step_s * 1000, 3) AS first_step_ms, vid"
        " FROM resumes WHERE ?1 = 0 OR run_id = ?1 ORDER BY resume_id",
        run, out, "cannot read the resumes");
}
