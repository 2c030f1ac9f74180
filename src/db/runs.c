/*
 * runs.c -- the SQL of the runs table: finding runs by id, tstamp or
 * program, and choosing the runs a replay works on.
 */
#include "db/db.h"

#include <stdlib.h>
#include <string.h>

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
                                  : "SELECT run_id FROM runs WHERE tstamp = ?1",
                        spec, run);
}

int flor__runs_latest_of(sqlite3 *db, const char *filename, int64_t *run)
{
    return runs_one_int(db, "SELECT max(run_id) FROM runs WHERE filename = ?1", filename, run);
}

int flor__runs_newest_filename(sqlite3 *db, char **out)
{
    sqlite3_stmt *st = NULL;
    *out = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT filename FROM runs ORDER BY run_id DESC LIMIT 1", -1,
                                &st, NULL);
    if (rc == SQLITE_OK) {
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
    /* the fourth column: whether the run has a value of every NAME already */
    rc = rc || flor__buf_puts(&b, " FROM runs r) SELECT run_id, vid, json_extract(argv, '$[0]'),"
                                  " (SELECT count(DISTINCT name) FROM logs l WHERE l.run_id ="
                                  " sel.run_id AND l.name IN (");
    for (size_t i = 0; !rc && i < n; i++)
        rc = (i && flor__buf_puts(&b, ", ")) || runs_quote(&b, names[i]);
    rc = rc || flor__buf_printf(&b, ")) = %zu FROM sel WHERE filename = ", n) ||
         runs_quote(&b, prog) || flor__buf_puts(&b, " AND status != 'running'");
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
