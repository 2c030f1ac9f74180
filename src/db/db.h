/*
 * db/db.h -- the SQLite database: connections, schema, upkeep, and flor_table results.
 * Internal to libflor: names start with flor__ (docs/architecture.md).
 */
#ifndef FLOR_DB_DB_H
#define FLOR_DB_DB_H

#include "flor.h"
#include "base/base.h"
#include <sqlite3.h>

/* ---- db.c: the SQLite database, its schema and its upkeep --------------- */

/* 2: runs.reason (why a run failed); version 1 databases are migrated in
 * place by the first read-write open. */
#define FLOR__SCHEMA_VERSION 2
#define FLOR__STR_(x) #x
#define FLOR__STR(x) FLOR__STR_(x)

/* Opens DATADIR/flor.db.  CREATE: create it and its schema if missing.
 * READONLY: open with SQLITE_OPEN_READONLY (queries from the CLI). */
int flor__db_open(const char *datadir, int create, int readonly, sqlite3 **out);
/* FLOR_ECORRUPT, with a message that names DB's file, says it is damaged
 * (SQLite's RC and message) and how to recover; WHAT, if not NULL, first. */
int flor__db_damaged(sqlite3 *db, int rc, const char *what);
/* Marks runs whose process is gone as killed (same host only). */
int flor__db_reap(sqlite3 *db);
/* exec without results; wraps errors. */
int flor__db_exec(sqlite3 *db, const char *sql);
/* Runs FN in a BEGIN IMMEDIATE transaction, retrying while busy. */
int flor__db_begin(sqlite3 *db);
int flor__db_commit(sqlite3 *db);
void flor__db_rollback(sqlite3 *db);
/* Identity of this process that survives pid reuse: "bootid:starttime". */
char *flor__proc_identity(long pid);
/* Whether process PID, whose identity was IDENTITY (NULL: unknown), still
 * runs on this host: what the reaper and fsck go by. */
int flor__process_alive(long pid, const char *identity);
const char *flor__hostname(void);

/* SQLite stores a NaN as NULL, which would read as "not logged": a NaN is
 * stored as the text 'NaN' instead (docs/schema.md), and read back as a
 * NaN real by the dataframe.  +-Inf are REALs as they are. */
#define FLOR__NAN_TEXT "NaN"
static inline int flor__bind_real(sqlite3_stmt *st, int col, double v)
{
    if (v != v)
        return sqlite3_bind_text(st, col, FLOR__NAN_TEXT, -1, SQLITE_STATIC);
    return sqlite3_bind_double(st, col, v);
}

/* The schema version recorded in the meta table, into *VERSION (-1 when
 * there is none); returns SQLite's code for preparing the read: SQLITE_OK,
 * or an error that sqlite3_errmsg(DB) explains. */
int flor__db_schema_version(sqlite3 *db, int *version);

/* Called by the table-group files' scans once per result row ROW (its
 * columns as each scan documents); returns 0, or an error that stops the
 * scan and is returned. */
typedef int (*flor__row_fn)(void *ctx, sqlite3_stmt *row);
/* Prepares SQL on DB into *ST; 0, or SQLite's failure reported as WHAT. */
int flor__db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, const char *what);
/* Steps ST (prepared on DB, bound) to its end, calling FN for each row,
 * and finalizes it.  Returns 0, FN's error, or a failed step's error
 * reported as WHAT. */
int flor__db_scan(sqlite3 *db, sqlite3_stmt *st, flor__row_fn fn, void *ctx, const char *what);

/* ---- table.c: the flor_table result object ------------------------------ */

typedef struct flor__cell {
    flor_type type;
    union {
        int64_t i;
        double r;
        char *s; /* owned by the table */
    } v;
} flor__cell;

struct flor_table {
    size_t ncols, nrows, cap;
    char **colnames;
    flor__cell *cells; /* nrows * ncols, row-major */
};

flor_table *flor__table_new(size_t ncols, const char *const *colnames);
/* Appends a row of NULL cells; returns its index, or (size_t)-1 on ENOMEM. */
size_t flor__table_add_row(flor_table *t);
flor__cell *flor__table_cell(flor_table *t, size_t row, size_t col);
int flor__table_set_text(flor_table *t, size_t row, size_t col, const char *s);
/* Copies an sqlite3_value (of any storage class) into a cell. */
int flor__table_set_value(flor_table *t, size_t row, size_t col, sqlite3_value *v);
int flor__table_set_column(flor_table *t, sqlite3_stmt *st, size_t row, size_t col, int stcol);
/* Runs a prepared statement and collects all its rows into a new table. */
int flor__table_from_stmt(sqlite3_stmt *st, flor_table **out);
/* A blob as text, SQLite's literal X'0A1B' (flor_project_query and the
 * dataframe show blobs so): the size of the text of N bytes, its NUL
 * included (0: too large to hold), and the text written into S, which
 * holds that many bytes. */
size_t flor__blob_literal_size(size_t n);
void flor__blob_literal(char *s, const unsigned char *p, size_t n);

/* ---- runs.c: the runs table ----------------------------------------------- */

/* -- for the project (src/project) -- */

/* The SELECT of flor_project_runs: one row per run, oldest first. */
extern const char flor__runs_list_sql[];
/* The vid of run RUN into *VID (malloc'd; NULL when the run has none);
 * *FOUND 0 when there is no run RUN.  Returns 0 or an error. */
int flor__runs_find_vid(sqlite3 *db, int64_t run, int *found, char **vid);
/* Calls FN for each run of this host whose status is still running, with
 * its pid and process identity (flor__proc_identity).  Returns 0, or the
 * first error of reading or of FN. */
typedef int (*flor__running_fn)(void *ctx, int64_t run, long pid, const char *identity);
int flor__runs_scan_running(sqlite3 *db, flor__running_fn fn, void *ctx);

/* ---- records.c: the args, logs and loops tables --------------------------- */

/* -- for the project (src/project) -- */

/* Calls FN for each arg name of run RUN1 or RUN2, in the order the runs
 * recorded them (RUN1's first); ROW's columns: 0 the name, 1 whether RUN1
 * has it, 2 its value there, 3 whether RUN2 has it, 4 its value there. */
int flor__records_compare_args(sqlite3 *db, int64_t run1, int64_t run2, flor__row_fn fn,
                               void *ctx);

/* ---- checkpoints.c: the checkpoints and checkpoint_objects tables ---------- */

/* -- for the project (src/project): du, gc, fsck -- */

/* flor_project_du's table: per run, its checkpoints' count and bytes. */
int flor__checkpoints_du(sqlite3 *db, flor_table **out);
/* gc's retention rule (keep the last KEEP_RUNS runs' checkpoints, every
 * EVERY-th iteration and each run's last; never a running run's): how
 * many checkpoints it lets go, *DOOMED, of the *TOTAL there are. */
int flor__checkpoints_count_doomed(sqlite3 *db, int keep_runs, int every, int64_t *doomed,
                                   int64_t *total);
/* Calls FN for every object of every checkpoint the rule keeps; ROW's
 * column 0: the object's manifest (a blob).  Returns 0, or the first error
 * of reading or of FN. */
int flor__checkpoints_scan_kept(sqlite3 *db, int keep_runs, int every, flor__row_fn fn,
                                void *ctx);
/* Deletes, in one transaction, the checkpoints the rule lets go. */
int flor__checkpoints_delete_doomed(sqlite3 *db, int keep_runs, int every);
/* Calls FN for every object of every checkpoint, in order of checkpoint
 * and name; ROW's columns: 0 ckpt_id, 1 run_id, 2 iteration, 3 the
 * object's name, 4 its manifest (a blob). */
int flor__checkpoints_scan_objects(sqlite3 *db, flor__row_fn fn, void *ctx);
/* Deletes, in one transaction, the checkpoints IDS[N] and their objects. */
int flor__checkpoints_delete(sqlite3 *db, const int64_t *ids, size_t n);

/* ---- sqlite_error.c: SQLite errors as flor errors (moved from base/error.c) --- */

/* Maps an SQLite result code to a flor code, with the database's message
 * ("WHAT: message"); a damaged database goes through flor__db_damaged. */
int flor__err_sqlite(sqlite3 *db, int rc, const char *what);
/* (flor__db_damaged, declared above, is defined in sqlite_error.c too.)
 * The advice every damaged-database message ends with. */
#define FLOR__FSCK_HINT "run 'flor fsck' to check and repair it"

#endif
