/*
 * mirror.c -- the SQL of a team's read replica (docs/team.md, "Reading the
 * team's runs"): the team's runs renumbered into the replica's own run ids
 * (team_runs), their args, loops and logs, the per-checkout marks
 * (team_marks) and the replica's settings (team_meta).  team/mirror.c
 * fills it from the server; every reader reads it as any project database.
 */
#include "db/db.h"

#include <stdlib.h>
#include <string.h>

enum {
    FIND_RUN, ADD_RUN, ADD_MAP, SET_RUN, SET_RESUMES, ADD_ARG, ADD_LOOP, ADD_LOG, DROP_REPLAYED,
    DROP_LOGS, DROP_LOOPS, GET_MARK, SET_MARK, GET_META, SET_META, NSTMT
};

static const char *const SQL[NSTMT] = {
    [FIND_RUN] = "SELECT run_id, resumes FROM team_runs WHERE checkout = ?1 AND team_run_id = ?2",
    [ADD_RUN] = "INSERT INTO runs(projid, tstamp, filename, vid, argv, host, pid, proc_start,"
                " status, start_time, end_time, ckpt_overhead, reason, rank, world_size, job,"
                " launcher, checkout) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
                " ?13, ?14, ?15, ?16, ?17, ?18)",
    [ADD_MAP] = "INSERT INTO team_runs(checkout, team_run_id, run_id, resumes)"
                " VALUES (?1, ?2, ?3, ?4)",
    [SET_RUN] = "UPDATE runs SET projid = ?1, tstamp = ?2, filename = ?3, vid = ?4, argv = ?5,"
                " host = ?6, pid = ?7, proc_start = ?8, status = ?9, start_time = ?10,"
                " end_time = ?11, ckpt_overhead = ?12, reason = ?13, rank = ?14,"
                " world_size = ?15, job = ?16, launcher = ?17, checkout = ?18 WHERE run_id = ?19",
    [SET_RESUMES] = "UPDATE team_runs SET resumes = ?2 WHERE run_id = ?1",
    [ADD_ARG] = "INSERT OR REPLACE INTO args(run_id, name, value, from_kwargs, ord)"
                " VALUES (?1, ?2, ?3, ?4, ?5)",
    /* Plain INSERTs and upserts: an INSERT OR REPLACE would need a
     * statement journal, a copy of every page it touches, for each row. */
    [ADD_LOOP] = "INSERT INTO loops(run_id, ctx_id, parent_ctx_id, name, iteration, value)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (run_id, ctx_id) DO UPDATE SET"
                 " parent_ctx_id = excluded.parent_ctx_id, name = excluded.name,"
                 " iteration = excluded.iteration, value = excluded.value",
    [ADD_LOG] = "INSERT INTO logs(run_id, ctx_id, name, value, source)"
                " VALUES (?1, ?2, ?3, ?4, ?5)",
    /* a replayed value replaces the earlier replay's (logs_replayed_once) */
    [DROP_REPLAYED] = "DELETE FROM logs WHERE run_id = ?1 AND ifnull(ctx_id, 0) = ifnull(?2, 0)"
                      " AND name = ?3 AND source = 'replay'",
    [DROP_LOGS] = "DELETE FROM logs WHERE run_id = ?1",
    [DROP_LOOPS] = "DELETE FROM loops WHERE run_id = ?1",
    [GET_MARK] = "SELECT logs FROM team_marks WHERE checkout = ?1",
    [SET_MARK] = "INSERT OR REPLACE INTO team_marks(checkout, logs) VALUES (?1, ?2)",
    [GET_META] = "SELECT value FROM team_meta WHERE key = ?1",
    [SET_META] = "INSERT OR REPLACE INTO team_meta(key, value) VALUES (?1, ?2)",
};

struct flor__mirror {
    sqlite3 *db;
    sqlite3_stmt *st[NSTMT];
};

#define WHAT "cannot update the team's replica"

int flor__mirror_open(sqlite3 *db, flor__mirror **out)
{
    *out = NULL;
    flor__mirror *m = calloc(1, sizeof *m);
    if (!m)
        return flor__err(FLOR_ENOMEM, "out of memory");
    m->db = db;
    for (int i = 0; i < NSTMT; i++) {
        int rc = flor__db_prepare(db, SQL[i], &m->st[i], WHAT);
        if (rc) {
            flor__mirror_close(m);
            return rc;
        }
    }
    *out = m;
    return 0;
}

void flor__mirror_close(flor__mirror *m)
{
    if (!m)
        return;
    for (int i = 0; i < NSTMT; i++)
        sqlite3_finalize(m->st[i]);
    free(m);
}

/* Binds text S (NULL: SQL NULL) to parameter COL. */
static void bind_text(sqlite3_stmt *st, int col, const char *s)
{
    if (s)
        sqlite3_bind_text(st, col, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, col);
}

/* Binds the value held in one of the server's three value columns, as the
 * journal held it: an integer, a real (NaN as FLOR__NAN_TEXT), a text;
 * all three NULL: SQL NULL. */
static void bind_value(sqlite3_stmt *st, int col, const char *const v[3])
{
    if (v[0])
        sqlite3_bind_int64(st, col, strtoll(v[0], NULL, 10));
    else if (v[1])
        flor__bind_real(st, col, strtod(v[1], NULL));
    else
        bind_text(st, col, v[2]);
}

/* Steps statement I of M once, to its end, and resets it. */
static int step(flor__mirror *m, int i)
{
    int rc = sqlite3_step(m->st[i]);
    sqlite3_reset(m->st[i]);
    sqlite3_clear_bindings(m->st[i]);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : flor__err_sqlite(m->db, rc, WHAT);
}

int flor__mirror_run(flor__mirror *m, const char *checkout, int64_t team_run,
                     const char *const cols[17], int64_t resumes, int64_t *run, int *regrown)
{
    *run = 0, *regrown = 0;
    sqlite3_stmt *f = m->st[FIND_RUN];
    sqlite3_bind_text(f, 1, checkout, -1, SQLITE_STATIC);
    sqlite3_bind_int64(f, 2, team_run);
    int64_t seen = -1;
    int rc = sqlite3_step(f);
    if (rc == SQLITE_ROW)
        *run = sqlite3_column_int64(f, 0), seen = sqlite3_column_int64(f, 1);
    sqlite3_reset(f);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return flor__err_sqlite(m->db, rc, WHAT);
    /* the columns as text: the runs table's affinities make numbers of them */
    sqlite3_stmt *st = m->st[*run ? SET_RUN : ADD_RUN];
    for (int c = 0; c < 17; c++)
        bind_text(st, c + 1, cols[c]);
    sqlite3_bind_text(st, 18, checkout, -1, SQLITE_TRANSIENT);
    if (*run)
        sqlite3_bind_int64(st, 19, *run);
    rc = step(m, *run ? SET_RUN : ADD_RUN);
    if (rc)
        return rc;
    if (!*run) {
        *run = sqlite3_last_insert_rowid(m->db);
        sqlite3_stmt *a = m->st[ADD_MAP];
        sqlite3_bind_text(a, 1, checkout, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(a, 2, team_run);
        sqlite3_bind_int64(a, 3, *run);
        sqlite3_bind_int64(a, 4, resumes);
        return step(m, ADD_MAP);
    }
    if (resumes <= seen)
        return 0;
    *regrown = 1;
    sqlite3_bind_int64(m->st[SET_RESUMES], 1, *run);
    sqlite3_bind_int64(m->st[SET_RESUMES], 2, resumes);
    return step(m, SET_RESUMES);
}

int flor__mirror_find_run(flor__mirror *m, const char *checkout, int64_t team_run, int64_t *run)
{
    sqlite3_stmt *f = m->st[FIND_RUN];
    sqlite3_bind_text(f, 1, checkout, -1, SQLITE_STATIC);
    sqlite3_bind_int64(f, 2, team_run);
    int rc = sqlite3_step(f);
    *run = rc == SQLITE_ROW ? sqlite3_column_int64(f, 0) : 0;
    sqlite3_reset(f);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc != SQLITE_DONE)
        return flor__err_sqlite(m->db, rc, WHAT);
    return flor__err(FLOR_ENOTFOUND, "the team's run %lld of checkout '%s' is not in the replica",
                     (long long)team_run, checkout);
}

int flor__mirror_forget_rows(flor__mirror *m, int64_t run)
{
    sqlite3_bind_int64(m->st[DROP_LOGS], 1, run);
    int rc = step(m, DROP_LOGS);
    sqlite3_bind_int64(m->st[DROP_LOOPS], 1, run);
    return rc ? rc : step(m, DROP_LOOPS);
}

int flor__mirror_arg(flor__mirror *m, int64_t run, const char *name, const char *const value[3],
                     const char *from_kwargs, const char *ord)
{
    sqlite3_stmt *st = m->st[ADD_ARG];
    sqlite3_bind_int64(st, 1, run);
    bind_text(st, 2, name);
    bind_value(st, 3, value);
    sqlite3_bind_int64(st, 4, from_kwargs ? strtoll(from_kwargs, NULL, 10) : 0);
    sqlite3_bind_int64(st, 5, ord ? strtoll(ord, NULL, 10) : 0);
    return step(m, ADD_ARG);
}

int flor__mirror_loop(flor__mirror *m, int64_t run, const char *ctx_id, const char *parent,
                      const char *name, const char *iteration, const char *const value[3])
{
    sqlite3_stmt *st = m->st[ADD_LOOP];
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_int64(st, 2, strtoll(ctx_id ? ctx_id : "0", NULL, 10));
    if (parent)
        sqlite3_bind_int64(st, 3, strtoll(parent, NULL, 10));
    else
        sqlite3_bind_null(st, 3);
    bind_text(st, 4, name);
    sqlite3_bind_int64(st, 5, strtoll(iteration ? iteration : "0", NULL, 10));
    bind_value(st, 6, value);
    return step(m, ADD_LOOP);
}

int flor__mirror_log(flor__mirror *m, int64_t run, const char *ctx_id, const char *name,
                     const char *const value[3], const char *source)
{
    int replay = source && strcmp(source, "replay") == 0;
    if (replay) {
        sqlite3_stmt *d = m->st[DROP_REPLAYED];
        sqlite3_bind_int64(d, 1, run);
        if (ctx_id)
            sqlite3_bind_int64(d, 2, strtoll(ctx_id, NULL, 10));
        else
            sqlite3_bind_null(d, 2);
        bind_text(d, 3, name);
        int rc = step(m, DROP_REPLAYED);
        if (rc)
            return rc;
    }
    sqlite3_stmt *st = m->st[ADD_LOG];
    sqlite3_bind_int64(st, 1, run);
    if (ctx_id)
        sqlite3_bind_int64(st, 2, strtoll(ctx_id, NULL, 10));
    else
        sqlite3_bind_null(st, 2);
    bind_text(st, 3, name);
    bind_value(st, 4, value);
    bind_text(st, 5, source ? source : "record");
    return step(m, ADD_LOG);
}

int flor__mirror_mark(flor__mirror *m, const char *checkout, int64_t *high)
{
    sqlite3_stmt *st = m->st[GET_MARK];
    sqlite3_bind_text(st, 1, checkout, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *high = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : flor__err_sqlite(m->db, rc, WHAT);
}

int flor__mirror_set_mark(flor__mirror *m, const char *checkout, int64_t high)
{
    sqlite3_bind_text(m->st[SET_MARK], 1, checkout, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(m->st[SET_MARK], 2, high);
    return step(m, SET_MARK);
}

int flor__mirror_meta(flor__mirror *m, const char *key, char **value)
{
    *value = NULL;
    sqlite3_stmt *st = m->st[GET_META];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL &&
        !(*value = flor__strdup((const char *)sqlite3_column_text(st, 0)))) {
        sqlite3_reset(st);
        return flor__err(FLOR_ENOMEM, "out of memory");
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : flor__err_sqlite(m->db, rc, WHAT);
}

int flor__mirror_set_meta(flor__mirror *m, const char *key, const char *value)
{
    sqlite3_bind_text(m->st[SET_META], 1, key, -1, SQLITE_STATIC);
    bind_text(m->st[SET_META], 2, value);
    return step(m, SET_META);
}

/* ---- this checkout's own rows of the tables the server does not hold -------- */

/* Its replays (and their divergences), checkpoints and resumes, from its
 * journal, under the runs' ids in the replica; the replica's copies of
 * them replaced, so that a query of the team answers for this checkout's
 * runs as its journal does. */
static const char own_rows[] =
    "DELETE FROM main.divergences; DELETE FROM main.replays;"
    " DELETE FROM main.checkpoints; DELETE FROM main.resumes;"
    "INSERT INTO main.replays(replay_id, run_id, segment, nsegments, probed, host, pid,"
    " proc_start, status, started, ended, new_values, compared, divergences, first_divergence,"
    " restores, error) SELECT r.replay_id, t.run_id, r.segment, r.nsegments, r.probed, r.host,"
    " r.pid, r.proc_start, r.status, r.started, r.ended, r.new_values, r.compared,"
    " r.divergences, r.first_divergence, r.restores, r.error FROM journal.replays r"
    " JOIN main.team_runs t ON t.checkout = $checkout AND t.team_run_id = r.run_id;"
    "INSERT INTO main.divergences(replay_id, coords, name, recorded, replayed)"
    " SELECT d.replay_id, d.coords, d.name, d.recorded, d.replayed FROM journal.divergences d"
    " WHERE d.replay_id IN (SELECT replay_id FROM main.replays);"
    "INSERT INTO main.checkpoints(ckpt_id, run_id, loop, iteration, coords, created,"
    " logical_bytes, stored_bytes, stall_s, write_s, codec) SELECT c.ckpt_id, t.run_id, c.loop,"
    " c.iteration, c.coords, c.created, c.logical_bytes, c.stored_bytes, c.stall_s, c.write_s,"
    " c.codec FROM journal.checkpoints c"
    " JOIN main.team_runs t ON t.checkout = $checkout AND t.team_run_id = c.run_id;"
    "INSERT INTO main.resumes(resume_id, run_id, loop, iteration, prev_status, prev_pid, vid,"
    " host, pid, proc_start, status, started, ended, superseded, restore_s, first_step_s)"
    " SELECT r.resume_id, t.run_id, r.loop, r.iteration, r.prev_status, r.prev_pid, r.vid,"
    " r.host, r.pid, r.proc_start, r.status, r.started, r.ended, r.superseded, r.restore_s,"
    " r.first_step_s FROM journal.resumes r"
    " JOIN main.team_runs t ON t.checkout = $checkout AND t.team_run_id = r.run_id;";

int flor__mirror_own(sqlite3 *db, const char *journal, const char *checkout)
{
    sqlite3_stmt *st = NULL;
    int rc = flor__db_prepare(db, "ATTACH DATABASE ?1 AS journal", &st,
                              "cannot read this checkout's journal into the team's replica");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, journal, -1, SQLITE_STATIC);
    int step_rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step_rc != SQLITE_DONE)
        return flor__err_sqlite(db, step_rc,
                                "cannot read this checkout's journal into the team's replica");
    rc = flor__db_begin(db);
    const char *sql = own_rows;
    while (rc == 0 && *sql) {
        const char *tail = NULL;
        st = NULL;
        int prc = sqlite3_prepare_v2(db, sql, -1, &st, &tail);
        if (prc != SQLITE_OK) {
            rc = flor__err_sqlite(db, prc, "cannot read this checkout's journal into the team's replica");
            break;
        }
        if (st) {
            int i = sqlite3_bind_parameter_index(st, "$checkout");
            if (i > 0)
                sqlite3_bind_text(st, i, checkout, -1, SQLITE_STATIC);
            int s = sqlite3_step(st);
            sqlite3_finalize(st);
            if (s != SQLITE_DONE)
                rc = flor__err_sqlite(db, s,
                                      "cannot read this checkout's journal into the team's replica");
        }
        sql = tail;
    }
    if (rc == 0)
        rc = flor__db_commit(db);
    else
        flor__db_rollback(db);
    if (flor__db_exec(db, "DETACH DATABASE journal") != 0 && rc == 0)
        flor__err_clear(); /* the next refresh attaches it again all the same */
    return rc;
}
