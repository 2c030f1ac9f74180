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

/* 2: runs.reason (why a run failed); 3: resumes, superseded_logs and
 * superseded_loops (resumed runs); 4: runs.rank, world_size, job and
 * launcher (runs of several processes); 5: loops.value (the value of an
 * iteration); 6: remotes, remote_segments and remote_chunks (docs/remote.md).  Older databases are migrated in place by the first
 * read-write open. */
#define FLOR__SCHEMA_VERSION 6
#define FLOR__STR_(x) #x
#define FLOR__STR(x) FLOR__STR_(x)

/* Opens DATADIR/flor.db.  CREATE: create it and its schema if missing.
 * READONLY: open with SQLITE_OPEN_READONLY (queries from the CLI). */
int flor__db_open(const char *datadir, int create, int readonly, sqlite3 **out);
/* Opens DIR/flor.db, a team's read replica, for writing; a missing one
 * is made (docs/team.md, "Reading the team's runs").  Readers open it as
 * any project database, with flor__db_open(DIR, 0, 1, ...). */
int flor__db_open_replica(const char *dir, sqlite3 **out);
/* FLOR_ECORRUPT, with a message that names DB's file, says it is damaged
 * (SQLite's RC and message) and how to recover; WHAT, if not NULL, first. */
int flor__db_damaged(sqlite3 *db, int rc, const char *what);
/* Whether DB has schema version 3's resumes table (a read-only open of
 * an older file has not). */
int flor__db_has_resumes(sqlite3 *db);
/* Whether DB's runs have version 4's rank columns. */
int flor__db_has_ranks(sqlite3 *db);
/* Marks runs (and resumes, replays) whose process is gone as killed
 * (same host only). */
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

/* ---- sqlite_error.c: SQLite errors as flor errors ------------------------ */

/* Maps an SQLite result code to a flor code, with the database's message
 * ("WHAT: message"); a damaged database goes through flor__db_damaged. */
int flor__err_sqlite(sqlite3 *db, int rc, const char *what);
/* (flor__db_damaged, declared above, is defined in sqlite_error.c too.)
 * The advice every damaged-database message ends with. */
#define FLOR__FSCK_HINT "run 'flor fsck' to check and repair it"

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
/* The table of SQL with ?1 bound to RUN; WHAT names it in errors. */
int flor__table_of_run(sqlite3 *db, const char *sql, int64_t run, flor_table **out,
                       const char *what);
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
/* Run RUN's recorded argv, one row (word) per word. */
int flor__runs_argv_table(sqlite3 *db, int64_t run, flor_table **out);
/* The vid of run RUN into *VID (malloc'd; NULL when the run has none);
 * *FOUND 0 when there is no run RUN.  Returns 0 or an error. */
int flor__runs_find_vid(sqlite3 *db, int64_t run, int *found, char **vid);
/* Calls FN for each run of this host whose status is still running, with
 * its pid and process identity (flor__proc_identity).  Returns 0, or the
 * first error of reading or of FN. */
typedef int (*flor__running_fn)(void *ctx, int64_t run, long pid, const char *identity);
int flor__runs_scan_running(sqlite3 *db, flor__running_fn fn, void *ctx);

/* -- for the record path (src/record) -- The record path's run rows. */
/* Inserts the run's row ('running'); a tstamp is the time the run started,
 * never a later one: when another run of the project took the same
 * microsecond, this one waits for the clock to move on.  Sets *RUN_ID and
 * TSTAMP. */
int flor__runs_insert(sqlite3 *db, const char *projid, const char *filename, const char *vid,
                      const char *argv, int64_t *run_id, char tstamp[32]);
int flor__runs_set_vid(sqlite3 *db, int64_t run_id, const char *vid);
/* Makes run RUN_ID, rank 0 of a job of WORLD processes, the leader its
 * other ranks find by JOB; KIND is the launcher's kind. */
int flor__runs_publish_job(sqlite3 *db, int64_t run_id, long world, const char *job,
                           const char *kind);
/* The leader of job JOB (rank 0, WORLD processes) that began at or after
 * SINCE (Unix seconds) and has no row of rank RANK yet, into *LEADER; 0
 * when none is there yet.  (An earlier job of the same key has all its
 * ranks: a later one's rank does not join it.) */
int flor__runs_find_leader(sqlite3 *db, const char *job, long world, long rank, double since,
                           int64_t *leader);
/* Adds the row of rank RANK of LEADER's run (same projid, tstamp,
 * filename, vid and job) for this process, with its own ARGV (JSON). */
int flor__runs_insert_rank(sqlite3 *db, int64_t leader, long rank, const char *argv,
                           int64_t *run_id);
/* The row of rank RANK of the run that row RUN belongs to, into *ID (0
 * when that run has no such rank), and that run's number of ranks into
 * *WORLD (0 when RUN does not exist). */
int flor__runs_rank_of(sqlite3 *db, int64_t run, long rank, int64_t *id, long *world);
/* The run's final STATUS, OVERHEAD (< 0: none) and REASON (NULL: none); an
 * I/O error may be transient, so a failed update is tried a few times. */
int flor__runs_set_status(sqlite3 *db, int64_t run_id, const char *status, double overhead,
                          const char *reason);
/* Removes run RUN_ID, its row and its args, in one transaction, when
 * nothing else of it was recorded: no log, loop, checkpoint, reason,
 * replay or resume, and it is a single process.  *REMOVED: 1 when it
 * was removed, 0 when it was kept. */
int flor__runs_remove_if_empty(sqlite3 *db, int64_t run_id, int *removed);
/* Appends REASON to the run's reason now, in its own statement. */
void flor__runs_note_reason(sqlite3 *db, int64_t run_id, const char *reason);
/* status 'killed' (from the writer thread after a signal). */
void flor__runs_mark_killed(sqlite3 *db, int64_t run_id);
/* Calls FN for each word of the run's recorded argv, in order; stops at
 * FN's first nonzero code and returns it.  *READABLE: the whole argv was
 * read (else WHY holds SQLite's message). */
int flor__runs_argv_each(sqlite3 *db, int64_t run_id, int (*fn)(void *ctx, const char *word),
                         void *ctx, int *readable, char *why, size_t nwhy);
/* The run's status, malloc'd (NULL when it has none). */
int flor__runs_status(sqlite3 *db, int64_t run_id, char **status);
/* One integer from SQL with RUN as ?1 and TEXT (unless NULL) as ?2; -1
 * when there is none. */
int flor__runs_query_long(sqlite3 *db, const char *sql, int64_t run, const char *text, long *out);

/* -- for the replay launcher (src/replay/launch.h) -- A run that is not
 * there reads as 0. */
/* The run SPEC names: its run_id (digits), else its tstamp. */
int flor__runs_find(sqlite3 *db, const char *spec, int64_t *run);
/* The latest run of the program FILENAME. */
int flor__runs_latest_of(sqlite3 *db, const char *filename, int64_t *run);
/* The filename of the newest run, malloc'd; NULL when there is none. */
int flor__runs_newest_filename(sqlite3 *db, char **out);
/* The projid (experiment name) of the latest run of FILENAME into *OUT
 * (malloc'd), NULL when it has none. */
int flor__runs_latest_projid(sqlite3 *db, const char *filename, char **out);
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

/* -- for hindsight statements (src/replay/hindsight.c) -- The newest run
 * with a code version, 0 when none. */
int flor__runs_newest_versioned(sqlite3 *db, int64_t *run);
/* Back-fill: *SRC, the newest run with a code version that recorded one of
 * NAMES[0..N); *BASE, the newest run before it, of another version, that
 * recorded none of them.  Both 0 when there is no such pair. */
int flor__runs_backfill_pair(sqlite3 *db, const char *const *names, size_t n, int64_t *src,
                             int64_t *base);

/* ---- records.c: the args, logs and loops tables --------------------------- */

/* -- for the project (src/project) -- */

/* Calls FN for each arg name of run RUN1 or RUN2, in the order the runs
 * recorded them (RUN1's first); ROW's columns: 0 the name, 1 whether RUN1
 * has it, 2 its value there, 3 whether RUN2 has it, 4 its value there. */
int flor__records_compare_args(sqlite3 *db, int64_t run1, int64_t run2, flor__row_fn fn,
                               void *ctx);

/* -- for the query layer (src/query) -- */

/* The statement of a series (flor_project_series), prepared on DB (the
 * read-only query connection: main.logs, not its view): the values of
 * the name bound to ?1 logged inside loops, in the order of the index
 * logs_by_name (by run, then as written: no sort); columns 0 run_id,
 * 1 ctx_id, 2 value, 3 1 when a replay computed it.  Only the runs
 * RUNS[0..NRUNS) when NRUNS > 0; only those that meet WHERE (an SQL
 * condition on runs, already checked) when not NULL. */
int flor__logs_series_prepare(sqlite3 *db, const int64_t *runs, size_t nruns, const char *where,
                              sqlite3_stmt **st);

/* -- for the record path (src/record) -- */
/* A tagged value: what flor_log_* and flor_arg_* pass to their one core,
 * and what the rows of args and logs hold. */
typedef struct flor__value {
    flor_type type;           /* FLOR_INTEGER, FLOR_REAL, FLOR_TEXT or FLOR_NULL */
    union {
        int64_t i;
        double r;
        const char *s;        /* FLOR_TEXT: NUL-terminated, not owned */
    } v;
} flor__value;

/* Binds V to column COL (a NaN as the text 'NaN', flor__bind_real). */
int flor__bind_value(sqlite3_stmt *st, int col, const flor__value *v);
/* Inserts (or replaces) run RUN_ID's arg NAME = V at ord POSITION.
 * Returns an SQLite result code (SQLITE_OK), no message set: the caller
 * falls back to the log writer. */
int flor__args_insert(sqlite3 *db, int64_t run_id, const char *name, const flor__value *v,
                      int from_kwargs, int64_t position);
/* Calls FN for each args row of run RUN_ID in ord order (a text or blob
 * value as FLOR_TEXT, valid during the call); stops at FN's first
 * nonzero code and returns it. */
int flor__args_each(sqlite3 *db, int64_t run_id,
                    int (*fn)(void *ctx, const char *name, const flor__value *v), void *ctx);

/* The log writer's inserts, prepared once per run with ?1 bound to
 * the run id.  Columns after ?1: a logs row binds ctx_id, name, value (3;
 * source is 'record'); a loops row ctx_id, parent_ctx_id, name,
 * iteration (4); the _s forms hold BATCH rows, ?2.. in row order; an args
 * row binds ?2 name, ?3 value, ?4 from_kwargs, ?5 ord. */
typedef struct flor__record_stmts {
    sqlite3_stmt *ins_log, *ins_ctx, *ins_arg; /* one row */
    sqlite3_stmt *ins_logs, *ins_ctxs;         /* BATCH rows */
} flor__record_stmts;
int flor__record_stmts_prepare(flor__record_stmts *s, sqlite3 *db, int64_t run_id, int batch);
void flor__record_stmts_finalize(flor__record_stmts *s);

/* An in-process replay's writes, from its writer thread: the
 * statements are prepared once (replays.c prepares them all) and these
 * return SQLite result codes, as the writer's transaction wants. */
typedef struct flor__replay_rows {
    sqlite3_stmt *find_ctx, *new_ctx, *put_log; /* records.c */
    sqlite3_stmt *div;                          /* replays.c */
} flor__replay_rows;
int flor__replay_records_prepare(flor__replay_rows *s, sqlite3 *db);
/* The run's loops row (PARENT, NAME, ITERATION) into *CTX (left as it is
 * when nonzero): the first one there, else a new one. */
int flor__loops_find_or_add(flor__replay_rows *s, int64_t run, int64_t parent, const char *name,
                            long iteration, int64_t *ctx);
/* A value the replay logged under a name the run did not: source 'replay'
 * (CTX 0: outside loops), replacing an earlier replay's. */
int flor__logs_put_replay(flor__replay_rows *s, int64_t run, int64_t ctx, const char *name,
                          const flor__value *v);

/* What a replay reads of the run it replays. */
/* The last iteration the run reached of LOOP (NULL: its first outermost
 * loop); -1 when none. */
int flor__loops_last_iteration(sqlite3 *db, int64_t run, const char *loop, long *out);
/* The run's last context of iteration ITERATION of LOOP (NULL: its first
 * outermost loop); 0 when none. */
int flor__loops_ctx_at(sqlite3 *db, int64_t run, const char *loop, long iteration, int64_t *ctx);
/* The context of the last value the run logged in CTX or below (0: none). */
int flor__logs_last_ctx_under(sqlite3 *db, int64_t run, int64_t ctx, int64_t *last);
/* Walks up the loops rows from *FROM towards TO, at most MAX steps,
 * calling FN with each row's loop name and iteration; *FROM ends where
 * the walk stopped (0: a row was missing). */
int flor__loops_path_up(sqlite3 *db, int64_t run, int64_t *from, int64_t to, int max,
                        int (*fn)(void *ctx, const char *name, long iteration), void *ctx);
/* The run's largest loops ctx_id (0: none). */
int flor__loops_max_ctx(sqlite3 *db, int64_t run, int64_t *max);
/* On DB, a connection for the user's queries only: TEMP views logs and
 * loops that shadow the tables with FlorDB 3.x's columns added
 * (docs/schema.md, "FlorDB 3.x's columns"). */
int flor__records_flordb_views(sqlite3 *db);
typedef struct flor__records_visitor {
    void *ctx;
    /* each loops row of the run */
    void (*loop)(void *ctx, int64_t ctx_id, int64_t parent, const char *name, long iteration);
    /* after the last loops row */
    void (*loops_done)(void *ctx);
    /* each value the run logged ('record'), in order; nonzero stops */
    int (*log)(void *ctx, int64_t ctx_id, const char *name, const flor__value *v);
} flor__records_visitor;
/* Walks the run's loops rows, then its recorded logs rows; returns the
 * first error (a message set) or V->log's nonzero code. */
int flor__records_read(sqlite3 *db, int64_t run, const flor__records_visitor *v);

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

/* A checkpoint's row and its objects' rows, written by the
 * checkpoint writer in one transaction. */
typedef struct flor__ckpt_row {
    int64_t run_id;
    const char *loop;
    long iteration;
    const char *coords;
    int64_t logical_bytes, stored_bytes;
    double stall_s, write_s;
    const char *codec;
} flor__ckpt_row;

typedef struct flor__ckpt_object_row {
    const char *name, *dtype;
    int64_t version, nbytes;
    int callback;               /* saved by a flor_state_ops callback */
    const void *manifest;       /* the encoded manifest */
    size_t manifest_len;
} flor__ckpt_object_row;

/* Inserts checkpoint C and its N objects in one transaction (rolled back
 * on error, message set). */
int flor__checkpoints_insert(sqlite3 *db, const flor__ckpt_row *c,
                             const flor__ckpt_object_row *objs, int n);
/* Run RUN's checkpoint at ITERATION: *FOUND of them; the last one's id
 * and coords (a message only when the query fails). */
int flor__checkpoints_find(sqlite3 *db, int64_t run, long iteration, int64_t *id, char *coords,
                           size_t ncoords, int *found);
/* One object of a checkpoint, as read back (valid during the callback). */
typedef struct flor__ckpt_object {
    const char *name;
    uint32_t version;
    size_t nbytes;
    int callback;
    const void *manifest;
    size_t manifest_len;
} flor__ckpt_object;
/* Calls FN for each object of checkpoint CKPT_ID, callback objects first,
 * then by name; stops at FN's first nonzero code and returns it. */
int flor__checkpoint_objects_each(sqlite3 *db, int64_t ckpt_id,
                                  int (*fn)(void *ctx, const flor__ckpt_object *o), void *ctx);
/* The run's last checkpointed iteration (-1: none). */
int flor__checkpoints_last_iteration(sqlite3 *db, int64_t run, long *out);
/* flor_project_checkpoints' table (RUN 0: every run). */
int flor__checkpoints_table(sqlite3 *db, int64_t run, flor_table **out);
/* Calls FN for each checkpoint of run RUN by iteration (its loop, its
 * iteration); stops at FN's first nonzero code and returns it.  RUN's
 * rank of a run of several processes: only the iterations every rank
 * checkpointed, where all the ranks of a replay can start together. */
int flor__checkpoints_iterations(sqlite3 *db, int64_t run,
                                 int (*fn)(void *ctx, const char *loop, long iteration),
                                 void *ctx);

/* A checkpoint's loop path, its coords parsed: "epoch=2,step=30" is
 * {epoch, 2}, {step, 30}, outermost first; name[n-1] is the checkpointed
 * loop.  NAME points into BUF. */
#define FLOR__PATH_MAX 64
typedef struct flor__path {
    int n;
    char *buf;
    const char *name[FLOR__PATH_MAX];
    long iteration[FLOR__PATH_MAX];
} flor__path;
/* Parses COORDS; FLOR_EINVAL when it is not NAME=N[,NAME=N]... (a loop
 * name with ',' or '=' in it cannot be told apart). */
int flor__path_parse(const char *coords, flor__path *p);
void flor__path_release(flor__path *p);
/* "path(d, name, it) AS (VALUES (0, ?F, ?F+1), (1, ?F+2, ?F+3), ...)", a
 * CTE of P for the SQL of a WITH, malloc'd (NULL: out of memory); and
 * the binding of its parameters. */
char *flor__path_cte(const flor__path *p, int first);
void flor__path_bind(sqlite3_stmt *st, const flor__path *p, int first);

/* The run's last checkpoint whose iteration's logs are all committed -- a
 * record of a later iteration of its loop, or of an enclosing loop, is
 * (the writer commits in order; the checkpoint thread commits apart, so a
 * process killed at once may have its checkpoint and not its last logs):
 * its id, loop, iteration and coords ("step=41", "epoch=2,step=30"),
 * malloc'd; *ITERATION -1 and NULLs when there is none.  RUN's rank of a
 * run of several processes: the last such checkpoint that every rank has
 * at the same coords, where all of them can continue together. */
int flor__checkpoints_last(sqlite3 *db, int64_t run, int64_t *ckpt_id, char **loop,
                           long *iteration, char **coords);

/* ---- resumes.c: the resumes, superseded_logs and superseded_loops tables -- */

/* In one transaction: the resume's row (this process, VID: the code it
 * runs), the rows run RUN logged that the continuation logs again moved to
 * the superseded tables (*MOVED: how many logs), and the run's row pointed
 * at this process, status 'running'.  PATH is the checkpoint's: kept are
 * the iterations of each enclosing loop before the path's, and the
 * checkpointed loop's up to the checkpoint's, with all nested in them;
 * the path's own iterations of the enclosing loops keep their `loops`
 * rows, whose ids CTX[d] (0: none saved) the continuation uses again, and
 * lose their own logs, which it logs again.  *MAX_CTX: the largest context
 * id the run ever used. */
int flor__resumes_begin(sqlite3 *db, int64_t run, const flor__path *path,
                        const char *prev_status, const char *vid, int64_t *resume_id, long *moved,
                        int64_t *max_ctx, int64_t *ctx);
/* How long its restore took and the time from flor_init to the first
 * resumed iteration (best effort: a failure is not an error). */
void flor__resumes_set_times(sqlite3 *db, int64_t resume_id, double restore_s,
                             double first_step_s);
/* The resumes of run RUN (every run's when RUN is 0): flor_project_resumes. */
int flor__resumes_table(sqlite3 *db, int64_t run, flor_table **out);
/* The continuation ended with STATUS. */
int flor__resumes_end(sqlite3 *db, int64_t resume_id, const char *status);

/* ---- replays.c: the replays and divergences tables ----------------------- */

/* An in-process replay's rows. */
/* status 'killed' (from the writer thread after a signal). */
void flor__replays_mark_killed(sqlite3 *db, int64_t replay_id);
/* Inserts the replay's row ('running', this host and process); PROBED:
 * the --probe loops, comma-separated, or NULL.  Sets *REPLAY_ID. */
int flor__replays_insert(sqlite3 *db, int64_t run_id, long segment, long nsegments,
                         const char *probed, int64_t *replay_id);
typedef struct flor__replay_counts {
    long new_values, compared, divergences, restores;
} flor__replay_counts;
/* The replay's final STATUS, counts, first divergence and error (NULLs:
 * none). */
int flor__replays_finish(sqlite3 *db, int64_t replay_id, const char *status,
                         const flor__replay_counts *n, const char *first_divergence,
                         const char *error);
int flor__replay_rows_prepare(flor__replay_rows *s, sqlite3 *db);
void flor__replay_rows_finalize(flor__replay_rows *s);
int flor__divergences_insert(flor__replay_rows *s, int64_t replay_id, const char *coords,
                             const char *name, const char *recorded, const char *replayed);

/* -- for the replay launcher (src/replay/launch.h) -- */
/* The last replay_id (0: none). */
int flor__replays_last_id(sqlite3 *db, int64_t *id);
/* The rows after replay_id AFTER, in the columns of enum flor__replays_col. */
enum flor__replays_col {
    FLOR__RP_ID, FLOR__RP_PID, FLOR__RP_SEGMENT, FLOR__RP_NSEGMENTS, FLOR__RP_HOST,
    FLOR__RP_RUN, FLOR__RP_STATUS, FLOR__RP_NEW, FLOR__RP_COMPARED, FLOR__RP_DIVERGENCES,
    FLOR__RP_RESTORES, FLOR__RP_FIRST, FLOR__RP_ERROR,
    FLOR__RP_LEADER, /* rank 0's run_id, of a run of several processes */
};
int flor__replays_since(sqlite3 *db, int64_t after, flor_table **out);

/* ---- remotes.c: the project's remote and the remote catalogue (v6) -------- */

/* The project's remote, as `flor remote add` stored it (never a credential). */
typedef struct flor__remote_row {
    char *url;            /* s3://BUCKET[/PREFIX] */
    char *endpoint, *region, *profile; /* NULL: not given */
    int path_style;       /* 0 auto, 1 path, 2 virtual-hosted */
    int64_t cache;        /* the local store's limit in bytes; -1: none */
} flor__remote_row;
/* *FOUND 0 when the project has no remote (R zeroed). */
int flor__remote_row_get(sqlite3 *db, flor__remote_row *r, int *found);
void flor__remote_row_release(flor__remote_row *r);
int flor__remote_row_set(sqlite3 *db, const flor__remote_row *r);
int flor__remote_row_remove(sqlite3 *db, int *removed);

/* Which chunk is where on the remote URL (s3://BUCKET[/PREFIX]): prepared
 * lookups on one connection (one thread).  A chunk uploaded to another
 * remote (the project's remote changed) is not there. */
typedef struct flor__catalog flor__catalog;
int flor__catalog_open(sqlite3 *db, const char *url, flor__catalog **out);
void flor__catalog_close(flor__catalog *c);
/* 1 when chunk HASH (N bytes) is recorded as remote, 0 when not, or < 0. */
int flor__catalog_has(flor__catalog *c, const void *hash, size_t n);
/* Where chunk HASH's record is: the segment's remote URL and key, and the
 * record's offset and length in it.  FLOR_ENOTFOUND (no message) when the
 * catalogue lacks it. */
typedef struct flor__chunk_place {
    char url[1024], key[512];
    uint64_t off, len;
} flor__chunk_place;
int flor__catalog_find(flor__catalog *c, const void *hash, size_t n, flor__chunk_place *out);
/* One chunk of an uploaded segment. */
typedef struct flor__chunk_entry {
    uint8_t hash[16];
    uint64_t off, len;
} flor__chunk_entry;
/* Records, in one transaction, that URL/KEY (BYTES bytes) holds the N
 * records CHUNKS (a chunk already recorded elsewhere keeps its place). */
int flor__catalog_add_segment(sqlite3 *db, const char *url, const char *key, uint64_t bytes,
                              const flor__chunk_entry *chunks, size_t n, double now);
/* FN per segment: 0 segment_id, 1 url, 2 key, 3 bytes, 4 records. */
int flor__catalog_segments(sqlite3 *db, flor__row_fn fn, void *ctx);
/* FN per chunk of SEGMENT by offset: 0 hash, 1 off, 2 len. */
int flor__catalog_chunks_of(sqlite3 *db, int64_t segment, flor__row_fn fn, void *ctx);
/* Forgets, in one transaction, the segments IDS[N] and their chunks. */
int flor__catalog_drop_segments(sqlite3 *db, const int64_t *ids, size_t n);
/* The objects, bytes and distinct chunks on the remote URL. */
int flor__catalog_totals(sqlite3 *db, const char *url, int64_t *segments, int64_t *bytes,
                         int64_t *chunks);

/* ---- meta.c: settings in the meta table ----------------------------------- */

/* The value of KEY into *OUT (malloc'd; NULL when there is none). */
int flor__meta_get(sqlite3 *db, const char *key, char **out);
/* Sets KEY to VALUE (NULL: removes it). */
int flor__meta_set(sqlite3 *db, const char *key, const char *value);
/* Sets KEY to VALUE unless it has a value already; *OUT is the value KEY
 * has then (the one a concurrent process set first wins). */
int flor__meta_claim(sqlite3 *db, const char *key, const char *value, char **out);

/* ---- export.c: what the replicator reads (docs/team.md) ----------------- */

/* FN per run, by run_id: 0 run_id, 1 projid, 2 tstamp, 3 filename, 4 vid,
 * 5 argv, 6 host, 7 pid, 8 proc_start, 9 status, 10 start_time, 11
 * end_time, 12 ckpt_overhead, 13 reason, 14 rank, 15 world_size, 16 job,
 * 17 launcher (a database of schema version 4 or later), 18 the number of
 * its resumes, 19 its args as one text (NULL when none; it changes when
 * any of them does: a fingerprint, not for parsing). */
int flor__export_runs(sqlite3 *db, flor__row_fn fn, void *ctx);
/* The largest rowid of logs into *LAST (0 when there is none).  Read
 * before the runs, it bounds the logs whose runs those are. */
int flor__export_logs_last(sqlite3 *db, int64_t *last);
/* FN per log whose rowid is above AFTER and at most UPTO, of run RUN (0:
 * of every run), of SOURCE (NULL: either), by rowid: 0 rowid, 1 run_id, 2
 * ctx_id, 3 name, 4 value (any type), 5 source. */
int flor__export_logs(sqlite3 *db, int64_t after, int64_t upto, int64_t run, const char *source,
                      flor__row_fn fn, void *ctx);
/* The next batch of those logs (any source), at most LIMIT: *END, its last
 * rowid (AFTER when none), *N, its logs, *REPLAYED, those of a replay. */
int flor__export_logs_batch(sqlite3 *db, int64_t after, int64_t upto, int64_t run, int limit,
                            int64_t *end, int64_t *n, int64_t *replayed);
/* FN per loop iteration that a log of those flor__export_logs() names is
 * in, directly or through its iterations' parents, by run and ctx_id:
 * 0 run_id, 1 ctx_id, 2 parent_ctx_id, 3 name, 4 iteration, 5 value. */
int flor__export_loops(sqlite3 *db, int64_t after, int64_t upto, int64_t run, flor__row_fn fn,
                       void *ctx);
/* FN per arg, by run and name: 0 run_id, 1 name, 2 value, 3 from_kwargs, 4 ord. */
int flor__export_args(sqlite3 *db, flor__row_fn fn, void *ctx);
/* The number of logs whose rowid is above AFTER, into *N. */
int flor__export_logs_count(sqlite3 *db, int64_t after, int64_t *n);
/* The number of resumes of run RUN into *N. */
int flor__export_resumes(sqlite3 *db, int64_t run, int64_t *n);

/* ---- mirror.c: a team's read replica (docs/team.md) ---------------------- */

/* The replica's statements, prepared once on DB (opened by
 * flor__db_open_replica; the caller holds its write transaction).  The
 * server's values come as text, NULL for SQL NULL; a value as the three
 * texts of its columns (value_int, value_real, value_text), of which at
 * most one is not NULL. */
typedef struct flor__mirror flor__mirror;
/* Into the replica DB, in place of what it had of them: the replays (and
 * divergences), checkpoints and resumes of the journal at the path
 * JOURNAL, whose runs are those of CHECKOUT on the server, under their run
 * ids in the replica (the tables the server does not hold). */
int flor__mirror_own(sqlite3 *db, const char *journal, const char *checkout);
int flor__mirror_open(sqlite3 *db, flor__mirror **out);
void flor__mirror_close(flor__mirror *m);
/* The team's run TEAM_RUN of CHECKOUT, added (a new run id, *RUN) or
 * brought up to date (the replica's run id it has, *RUN) from COLS: the
 * server's projid, tstamp, filename, vid, argv, host, pid, proc_start,
 * status, start_time, end_time, ckpt_overhead, reason, rank, world_size,
 * job, launcher.  *REGROWN: the run was in the replica with fewer than
 * RESUMES resumes (its logs and loops were replaced on the server). */
int flor__mirror_run(flor__mirror *m, const char *checkout, int64_t team_run,
                     const char *const cols[17], int64_t resumes, int64_t *run, int *regrown);
/* The replica's run id of CHECKOUT's run TEAM_RUN; FLOR_ENOTFOUND. */
int flor__mirror_find_run(flor__mirror *m, const char *checkout, int64_t team_run, int64_t *run);
/* Deletes the logs and loops of the replica's run RUN. */
int flor__mirror_forget_rows(flor__mirror *m, int64_t run);
int flor__mirror_arg(flor__mirror *m, int64_t run, const char *name, const char *const value[3],
                     const char *from_kwargs, const char *ord);
int flor__mirror_loop(flor__mirror *m, int64_t run, const char *ctx_id, const char *parent,
                      const char *name, const char *iteration, const char *const value[3]);
/* A log row; a replayed one replaces the value an earlier replay left at
 * the same place. */
int flor__mirror_log(flor__mirror *m, int64_t run, const char *ctx_id, const char *name,
                     const char *const value[3], const char *source);
/* CHECKOUT's log mark in the replica (0: none yet), and setting it. */
int flor__mirror_mark(flor__mirror *m, const char *checkout, int64_t *high);
int flor__mirror_set_mark(flor__mirror *m, const char *checkout, int64_t high);
/* team_meta's KEY, malloc'd into *VALUE (NULL: none); and setting it. */
int flor__mirror_meta(flor__mirror *m, const char *key, char **value);
int flor__mirror_set_meta(flor__mirror *m, const char *key, const char *value);

#endif
