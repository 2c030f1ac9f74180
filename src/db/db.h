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

/* ---- runs.c: the runs table ----------------------------------------------- */

/* The replay launcher's reads (src/replay/launch.h).  A run that is not
 * there reads as 0. */
/* The run SPEC names: its run_id (digits), else its tstamp. */
int flor__runs_find(sqlite3 *db, const char *spec, int64_t *run);
/* The latest run of the program FILENAME. */
int flor__runs_latest_of(sqlite3 *db, const char *filename, int64_t *run);
/* The filename of the newest run, malloc'd; NULL when there is none. */
int flor__runs_newest_filename(sqlite3 *db, char **out);
/* Column "program": the recorded argv[0] (else the filename) of the
 * latest run of each filename, oldest first. */
int flor__runs_programs(sqlite3 *db, flor_table **out);
/* The SQL, malloc'd in *SQL, that selects the runs of PROG to replay for
 * NAMES: run_id, vid, argv[0], and whether the run has a value of every
 * NAME already; not running, WHERE holding (a condition over the runs'
 * columns and one column per arg), by run_id.  It is for
 * flor_project_query, which runs it read-only. */
int flor__runs_replay_selection(sqlite3 *db, const char *prog, const char *const *names,
                                size_t n, const char *where, char **sql);

/* ---- replays.c: the replays and divergences tables ------------------------ */

/* The replay launcher's reads (src/replay/launch.h). */
/* The last replay_id (0: none). */
int flor__replays_last_id(sqlite3 *db, int64_t *id);
/* The rows after replay_id AFTER, in the columns of enum flor__replays_col. */
enum flor__replays_col {
    FLOR__RP_ID, FLOR__RP_PID, FLOR__RP_SEGMENT, FLOR__RP_NSEGMENTS, FLOR__RP_HOST,
    FLOR__RP_RUN, FLOR__RP_STATUS, FLOR__RP_NEW, FLOR__RP_COMPARED, FLOR__RP_DIVERGENCES,
    FLOR__RP_RESTORES, FLOR__RP_FIRST, FLOR__RP_ERROR,
};
int flor__replays_since(sqlite3 *db, int64_t after, flor_table **out);

#endif
