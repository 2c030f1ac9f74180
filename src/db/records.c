/*
 * records.c -- the SQL of the args, logs and loops tables: one place for
 * their rows.
 */
#include "db/db.h"

#include <stdlib.h>
#include <string.h>

/* ---- the record path's args rows and the log writer's statements (core) ----- */

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
        flor__value v = {.type = FLOR_NULL};
        switch (sqlite3_column_type(st, 1)) {
        case SQLITE_INTEGER:
            v.type = FLOR_INTEGER;
            v.v.i = sqlite3_column_int64(st, 1);
            break;
        case SQLITE_FLOAT:
            v.type = FLOR_REAL;
            v.v.r = sqlite3_column_double(st, 1);
            break;
        case SQLITE_NULL:
            break;
        default:
            v.type = FLOR_TEXT;
            v.v.s = (const char *)sqlite3_column_text(st, 1);
        }
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
        "INSERT INTO loops(run_id, ctx_id, parent_ctx_id, name, iteration) VALUES ",
    };
    static const char *tail[2] = {",'record'", ""};
    static const int ncols[2] = {3, 4};
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
