/*
 * records.c -- the SQL of the tables a run records into: args, logs and
 * loops, one place for it (docs/schema.md).  Each layer that calls it has
 * its own section below; functions are named flor__records_<verb>,
 * declared in db/db.h under "records.c".  (The dataframe, the query
 * layer's reader, builds its own SELECTs in src/query.)
 */
#include "db/db.h"
#include <stdlib.h>
#include <string.h>

/* ---- for the project (src/project): FlorDB 3.x's columns for queries ---- */

/* A context id unique in the project: run r's context c is
 * (r - 1) * 2^32 + c, so the first run's ids are its own. */
#define GLOBAL_CTX(run, ctx) "((" run " - 1) * 4294967296 + " ctx ")"

/* TEMP views that shadow logs and loops on a query connection (temp is
 * searched before main): every column of the table, the context ids made
 * unique in the project, and FlorDB 3.x's columns.  value_type is the
 * SQLite datatype code of the value (1 integer, 2 real, 3 text, 4 blob,
 * 5 NULL), a NaN (stored as the text 'NaN') counting as real.
 *
 * A join on the computed ids could use no index, and would compare every
 * log with every loops row; loops is therefore MATERIALIZED (one scan per
 * statement), and SQLite builds an automatic index on the materialized
 * ctx_id for the join: 100,000 logs join 100,000 loops rows in 0.3 s. */
static const char FLORDB_VIEWS[] =
    "CREATE TEMP VIEW logs AS SELECT l.run_id AS run_id,"
    " " GLOBAL_CTX("l.run_id", "l.ctx_id") " AS ctx_id, l.name AS name, l.value AS value,"
    " l.source AS source, r.projid AS projid, r.tstamp AS tstamp, r.filename AS filename,"
    " l.name AS value_name, CASE typeof(l.value) WHEN 'integer' THEN 1 WHEN 'real' THEN 2"
    " WHEN 'text' THEN CASE WHEN l.value = 'NaN' THEN 2 ELSE 3 END WHEN 'blob' THEN 4"
    " ELSE 5 END AS value_type, l.rowid AS rowid"
    " FROM main.logs l LEFT JOIN runs r ON r.run_id = l.run_id;"
    "CREATE TEMP VIEW loops AS WITH m AS MATERIALIZED (SELECT p.run_id AS run_id,"
    " " GLOBAL_CTX("p.run_id", "p.ctx_id") " AS ctx_id,"
    " " GLOBAL_CTX("p.run_id", "p.parent_ctx_id") " AS parent_ctx_id, p.name AS name,"
    " p.iteration AS iteration, p.value AS value, p.name AS loop_name,"
    " p.iteration + 1 AS loop_iteration, p.value AS loop_value FROM %s p) SELECT * FROM m;";

int flor__records_flordb_views(sqlite3 *db)
{
    /* a read-only open of a file older than version 5 has a temp view
     * loops (with value NULL) already: this one takes its place */
    sqlite3_stmt *st;
    int temp_loops = sqlite3_prepare_v2(db, "SELECT 1 FROM temp.sqlite_master WHERE name ="
                                            " 'loops'", -1, &st, NULL) == SQLITE_OK &&
                     sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    char *sql = flor__printf(FLORDB_VIEWS, temp_loops ? "(SELECT *, NULL AS value FROM"
                                                        " main.loops)" : "main.loops");
    if (!sql)
        return flor__err(FLOR_ENOMEM, "out of memory");
    int rc = temp_loops ? flor__db_exec(db, "DROP VIEW temp.loops") : 0;
    if (!rc)
        rc = flor__db_exec(db, sql);
    free(sql);
    return rc;
}

/* ---- for the project (src/project): two runs' args side by side -------- */

int flor__records_compare_args(sqlite3 *db, int64_t run1, int64_t run2, flor__row_fn fn,
                               void *ctx)
{
    sqlite3_stmt *st;
    int rc = flor__db_prepare(
        db,
        "SELECT n.name, a.run_id IS NOT NULL, a.value, b.run_id IS NOT NULL, b.value"
        " FROM (SELECT name, min(CASE WHEN run_id=?1 THEN ord ELSE ord + 4000000000 END) AS o"
        "       FROM args WHERE run_id IN (?1, ?2) GROUP BY name) n"
        " LEFT JOIN args a ON a.run_id=?1 AND a.name=n.name"
        " LEFT JOIN args b ON b.run_id=?2 AND b.name=n.name"
        " ORDER BY n.o, n.name",
        &st, "cannot read the args");
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, run1);
    sqlite3_bind_int64(st, 2, run2);
    return flor__db_scan(db, st, fn, ctx, "cannot read the args");
}

/* ---- for the query layer (src/query): a series ------------------------- */

int flor__logs_series_prepare(sqlite3 *db, const int64_t *runs, size_t nruns, const char *where,
                              sqlite3_stmt **st)
{
    *st = NULL;
    flor__buf sql = {0};
    int rc = flor__buf_puts(&sql, "SELECT run_id, ctx_id, value, source = 'replay'"
                                  " FROM main.logs WHERE name = ?1 AND ctx_id IS NOT NULL");
    for (size_t i = 0; !rc && i < nruns; i++)
        rc = flor__buf_printf(&sql, "%s%lld", i ? "," : " AND run_id IN (", (long long)runs[i]);
    if (!rc && nruns)
        rc = flor__buf_puts(&sql, ")");
    if (!rc && where)
        rc = flor__buf_printf(&sql, " AND run_id IN (SELECT run_id FROM runs WHERE (%s\n))",
                              where);
    /* the index's order (logs_by_name ends with the rowid): SQLite sorts nothing */
    if (!rc)
        rc = flor__buf_puts(&sql, " ORDER BY run_id, rowid");
    if (rc) {
        flor__buf_release(&sql);
        return rc;
    }
    int src = sqlite3_prepare_v2(db, sql.p, -1, st, NULL);
    flor__buf_release(&sql);
    if (src == SQLITE_OK)
        return 0;
    /* a WHERE naming no column of runs, or what the authorizer refuses */
    if ((src & 0xff) == SQLITE_ERROR || (src & 0xff) == SQLITE_AUTH)
        return flor__err(FLOR_EINVAL, "invalid condition on runs: %s", sqlite3_errmsg(db));
    return flor__err_sqlite(db, src, "cannot read the logs");
}

/* ---- the record path's args rows and the log writer's statements ----- */

int flor__bind_value(sqlite3_stmt *st, int col, const flor__value *v)
{
    switch (v->type) {
    case FLOR_INTEGER:
        return sqlite3_bind_int64(st, col, v->v.i);
    case FLOR_REAL:
        return flor__bind_real(st, col, v->v.r);
    case FLOR_TEXT:
        return sqlite3_bind_text(st, col, v->v.s, -1, SQLITE_STATIC);
    default:
        return sqlite3_bind_null(st, col);
    }
}

/* Column COL of ST's current row as a tagged value (a text or blob as
 * FLOR_TEXT, valid until the next step). */
static flor__value column_value(sqlite3_stmt *st, int col)
{
    flor__value v = {.type = FLOR_NULL};
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_INTEGER:
        v.type = FLOR_INTEGER;
        v.v.i = sqlite3_column_int64(st, col);
        break;
    case SQLITE_FLOAT:
        v.type = FLOR_REAL;
        v.v.r = sqlite3_column_double(st, col);
        break;
    case SQLITE_NULL:
        break;
    default:
        v.type = FLOR_TEXT;
        v.v.s = (const char *)sqlite3_column_text(st, col);
    }
    return v;
}

int flor__args_insert(sqlite3 *db, int64_t run_id, const char *name, const flor__value *v,
                      int from_kwargs, int64_t position)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT OR REPLACE INTO args(run_id, name, value, from_kwargs, ord) "
                                "VALUES (?,?,?,?,?)",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    flor__bind_value(st, 3, v);
    sqlite3_bind_int(st, 4, from_kwargs);
    sqlite3_bind_int64(st, 5, position);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int flor__args_each(sqlite3 *db, int64_t run_id,
                    int (*fn)(void *ctx, const char *name, const flor__value *v), void *ctx)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "SELECT name, value FROM args WHERE run_id=? ORDER BY ord", -1,
                                &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot read the run's args");
    sqlite3_bind_int64(st, 1, run_id);
    int err = 0;
    while (!err && sqlite3_step(st) == SQLITE_ROW) {
        flor__value v = column_value(st, 1);
        err = fn(ctx, (const char *)sqlite3_column_text(st, 0), &v);
    }
    sqlite3_finalize(st);
    return err;
}

/* "INSERT INTO TABLE(COLS) VALUES (?1,?2,...,?K),(?1,?K+1,...),..." for
 * ROWS rows of NCOLS placeholders after the run id, then TAIL per row. */
static char *multi_insert(const char *head, int rows, int ncols, const char *tail)
{
    size_t cap = strlen(head) + (size_t)rows * (16 + (size_t)ncols * 8 + strlen(tail)) + 1;
    char *sql = malloc(cap);
    if (!sql)
        return NULL;
    size_t n = (size_t)snprintf(sql, cap, "%s", head);
    for (int i = 0, p = 2; i < rows; i++) {
        n += (size_t)snprintf(sql + n, cap - n, "%s(?1", i ? "," : "");
        for (int c = 0; c < ncols; c++)
            n += (size_t)snprintf(sql + n, cap - n, ",?%d", p++);
        n += (size_t)snprintf(sql + n, cap - n, "%s)", tail);
    }
    return sql;
}

int flor__record_stmts_prepare(flor__record_stmts *s, sqlite3 *db, int64_t run_id, int batch)
{
    static const char *head[2] = {
        "INSERT INTO logs(run_id, ctx_id, name, value, source) VALUES ",
        "INSERT INTO loops(run_id, ctx_id, parent_ctx_id, name, iteration, value) VALUES ",
    };
    static const char *tail[2] = {",'record'", ""};
    static const int ncols[2] = {3, 5};
    sqlite3_stmt **one[2] = {&s->ins_log, &s->ins_ctx}, **many[2] = {&s->ins_logs, &s->ins_ctxs};
    for (int i = 0; i < 2; i++) {
        for (int rows = 1; rows <= batch; rows += batch - 1) {
            char *sql = multi_insert(head[i], rows, ncols[i], tail[i]);
            if (!sql)
                return flor__err(FLOR_ENOMEM, "out of memory");
            sqlite3_stmt **st = rows == 1 ? one[i] : many[i];
            int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
            free(sql);
            if (rc != SQLITE_OK)
                return flor__err_sqlite(db, rc, "cannot prepare the log writer");
            sqlite3_bind_int64(*st, 1, run_id);
        }
    }
    int rc = sqlite3_prepare_v3(db,
                                "INSERT OR REPLACE INTO args(run_id, name, value, from_kwargs, ord) "
                                "VALUES (?,?,?,?,?)",
                                -1, SQLITE_PREPARE_PERSISTENT, &s->ins_arg, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot prepare the log writer");
    sqlite3_bind_int64(s->ins_arg, 1, run_id);
    return 0;
}

void flor__record_stmts_finalize(flor__record_stmts *s)
{
    sqlite3_finalize(s->ins_log);
    sqlite3_finalize(s->ins_ctx);
    sqlite3_finalize(s->ins_arg);
    sqlite3_finalize(s->ins_logs);
    sqlite3_finalize(s->ins_ctxs);
    memset(s, 0, sizeof *s);
}

/* ---- an in-process replay's writes into logs and loops ------------------ */

int flor__replay_records_prepare(flor__replay_rows *s, sqlite3 *db)
{
    int rc = sqlite3_prepare_v2(db,
                                "SELECT ctx_id FROM loops WHERE run_id=?1 AND "
                                "parent_ctx_id IS ?2 AND name=?3 AND iteration=?4 "
                                "ORDER BY ctx_id LIMIT 1",
                                -1, &s->find_ctx, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "INSERT INTO loops(run_id, ctx_id, parent_ctx_id, name, iteration) "
                                "SELECT ?1, coalesce(max(ctx_id), 0) + 1, ?2, ?3, ?4 FROM loops "
                                "WHERE run_id=?1 RETURNING ctx_id",
                                -1, &s->new_ctx, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "INSERT OR REPLACE INTO logs(run_id, ctx_id, name, value, source) "
                                "VALUES (?,?,?,?,'replay')",
                                -1, &s->put_log, NULL);
    return rc;
}

/* An id column: 0 binds NULL (no loop context, no parent). */
static void bind_id(sqlite3_stmt *st, int col, int64_t id)
{
    if (id)
        sqlite3_bind_int64(st, col, id);
    else
        sqlite3_bind_null(st, col);
}

int flor__loops_find_or_add(flor__replay_rows *s, int64_t run, int64_t parent, const char *name,
                            long iteration, int64_t *ctx)
{
    sqlite3_stmt *sts[2] = {s->find_ctx, s->new_ctx};
    for (int step = 0; step < 2 && !*ctx; step++) {
        sqlite3_stmt *st = sts[step];
        sqlite3_bind_int64(st, 1, run);
        bind_id(st, 2, parent);
        sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, iteration);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            *ctx = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return rc;
    }
    return SQLITE_OK;
}

int flor__logs_put_replay(flor__replay_rows *s, int64_t run, int64_t ctx, const char *name,
                          const flor__value *v)
{
    sqlite3_stmt *st = s->put_log;
    sqlite3_bind_int64(st, 1, run);
    bind_id(st, 2, ctx);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    flor__bind_value(st, 4, v);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* ---- what a replay reads of the run it replays ------------------------- */

int flor__loops_max_ctx(sqlite3 *db, int64_t run, int64_t *max)
{
    sqlite3_stmt *st;
    *max = 0;
    int rc = sqlite3_prepare_v2(db, "SELECT coalesce(max(ctx_id), 0) FROM loops WHERE run_id=?",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot read the run's loops");
    sqlite3_bind_int64(st, 1, run);
    if (sqlite3_step(st) == SQLITE_ROW)
        *max = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return 0;
}

int flor__records_read(sqlite3 *db, int64_t run, const flor__records_visitor *v)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT ctx_id, parent_ctx_id, name, iteration FROM loops "
                                "WHERE run_id=?",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, run);
        while (sqlite3_step(st) == SQLITE_ROW)
            v->loop(v->ctx, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                    (const char *)sqlite3_column_text(st, 2), (long)sqlite3_column_int64(st, 3));
        sqlite3_finalize(st);
        rc = sqlite3_prepare_v2(db,
                                "SELECT ctx_id, name, value FROM logs WHERE run_id=? AND "
                                "source='record' ORDER BY rowid",
                                -1, &st, NULL);
    }
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot read the run's logs");
    sqlite3_bind_int64(st, 1, run);
    v->loops_done(v->ctx);
    int err = 0;
    while (!err && sqlite3_step(st) == SQLITE_ROW) {
        flor__value val = column_value(st, 2);
        err = v->log(v->ctx, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
                     &val);
    }
    sqlite3_finalize(st);
    return err;
}

int flor__loops_last_iteration(sqlite3 *db, int64_t run, const char *loop, long *out)
{
    return flor__runs_query_long(
        db,
        loop ? "SELECT max(iteration) FROM loops WHERE run_id = ?1 AND name = ?2"
             : "SELECT max(iteration) FROM loops WHERE run_id = ?1 AND "
               "parent_ctx_id IS NULL AND name = (SELECT name FROM loops WHERE "
               "run_id = ?1 AND parent_ctx_id IS NULL ORDER BY ctx_id LIMIT 1)",
        run, loop, out);
}

int flor__loops_ctx_at(sqlite3 *db, int64_t run, const char *loop, long iteration, int64_t *ctx)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(
        db,
        loop ? "SELECT max(ctx_id) FROM loops WHERE run_id = ?1 AND iteration = ?2 AND name = ?3"
             : "SELECT max(ctx_id) FROM loops WHERE run_id = ?1 AND iteration = ?2 AND "
               "parent_ctx_id IS NULL AND name = (SELECT name FROM loops WHERE run_id = ?1 AND "
               "parent_ctx_id IS NULL ORDER BY ctx_id LIMIT 1)",
        -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot read the run's loops");
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_int64(st, 2, iteration);
    if (loop)
        sqlite3_bind_text(st, 3, loop, -1, SQLITE_STATIC);
    *ctx = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return 0;
}

int flor__logs_last_ctx_under(sqlite3 *db, int64_t run, int64_t ctx, int64_t *last)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "WITH RECURSIVE sub(c) AS (SELECT ?2 UNION ALL SELECT l.ctx_id FROM "
                                "loops l JOIN sub ON l.parent_ctx_id = sub.c WHERE l.run_id = ?1) "
                                "SELECT ctx_id FROM logs WHERE run_id = ?1 AND source = 'record' AND "
                                "ctx_id IN sub ORDER BY rowid DESC LIMIT 1",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot read the run's logs");
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_int64(st, 2, ctx);
    *last = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return 0;
}

int flor__loops_path_up(sqlite3 *db, int64_t run, int64_t *from, int64_t to, int max,
                        int (*fn)(void *ctx, const char *name, long iteration), void *ctx)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT parent_ctx_id, name, iteration FROM loops WHERE run_id = ?1 "
                                "AND ctx_id = ?2",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot read the run's loops");
    int err = 0;
    for (int n = 0; !err && *from && *from != to && n < max;) {
        sqlite3_bind_int64(st, 1, run);
        sqlite3_bind_int64(st, 2, *from);
        *from = 0;
        if (sqlite3_step(st) == SQLITE_ROW) {
            *from = sqlite3_column_int64(st, 0);
            err = fn(ctx, (const char *)sqlite3_column_text(st, 1),
                     (long)sqlite3_column_int64(st, 2));
            n++;
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return err;
}
