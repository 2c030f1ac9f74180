/*
 * db.c -- the project's SQLite database: opening it, its schema (documented
 * for users in docs/schema.md), transactions, and finding runs whose
 * process died without saying so.
 */
#include "db/db.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Schema version 3: a resumed run's continuations, and the rows its
 * killed process logged after the checkpoint it was resumed from. */
#define RESUME_TABLES                                                                   \
    "CREATE TABLE IF NOT EXISTS resumes(\n"                                           \
    "  resume_id  INTEGER PRIMARY KEY,\n"                                             \
    "  run_id     INTEGER NOT NULL REFERENCES runs(run_id),\n"                        \
    "  loop       TEXT NOT NULL,\n"                                                   \
    "  iteration  INTEGER NOT NULL,\n"                                                \
    "  prev_status TEXT NOT NULL,\n"                                                  \
    "  prev_pid   INTEGER,\n"                                                         \
    "  vid        TEXT,\n"                                                            \
    "  host       TEXT NOT NULL,\n"                                                   \
    "  pid        INTEGER NOT NULL,\n"                                                \
    "  proc_start TEXT,\n"                                                            \
    "  status     TEXT NOT NULL DEFAULT 'running'\n"                                  \
    "             CHECK (status IN ('running','finished','failed','killed')),\n"      \
    "  started    REAL NOT NULL,\n"                                                   \
    "  ended      REAL,\n"                                                            \
    "  superseded INTEGER NOT NULL DEFAULT 0,\n"                                      \
    "  restore_s  REAL,\n"                                                            \
    "  first_step_s REAL\n"                                                           \
    ");\n"                                                                            \
    "CREATE TABLE IF NOT EXISTS superseded_logs(\n"                                   \
    "  resume_id INTEGER NOT NULL REFERENCES resumes(resume_id),\n"                   \
    "  run_id    INTEGER NOT NULL REFERENCES runs(run_id),\n"                         \
    "  ctx_id    INTEGER,\n"                                                          \
    "  name      TEXT NOT NULL,\n"                                                    \
    "  value,\n"                                                                      \
    "  source    TEXT NOT NULL\n"                                                     \
    ");\n"                                                                            \
    "CREATE TABLE IF NOT EXISTS superseded_loops(\n"                                  \
    "  resume_id     INTEGER NOT NULL REFERENCES resumes(resume_id),\n"               \
    "  run_id        INTEGER NOT NULL REFERENCES runs(run_id),\n"                     \
    "  ctx_id        INTEGER NOT NULL,\n"                                             \
    "  parent_ctx_id INTEGER,\n"                                                      \
    "  name          TEXT NOT NULL,\n"                                                \
    "  iteration     INTEGER NOT NULL,\n"                                             \
    "  value\n"                                                                        \
    ");\n"                                                                            \
    "CREATE INDEX IF NOT EXISTS resumes_by_run ON resumes(run_id);\n"

/* Added by version 4: a run of several processes (MPI ranks, torchrun
 * workers, Slurm tasks) is one row per rank sharing projid and tstamp;
 * rank 0's row is the run's leader.  JOB is the launcher's identity of
 * the job, by which the ranks find their leader; LAUNCHER the kind of
 * launcher ('mpi', 'torchrun', 'local', 'slurm', 'env'). */
#define RANK_COLUMNS                                                                  \
    "  rank       INTEGER NOT NULL DEFAULT 0,\n"                                     \
    "  world_size INTEGER NOT NULL DEFAULT 1,\n"                                     \
    "  job        TEXT,\n"                                                           \
    "  launcher   TEXT,\n"

/* The runs table's columns (a run's rank columns last), as the schema
 * and the team's read replica make it. */
#define RUNS_COLUMNS                                                                  \
    "  run_id     INTEGER PRIMARY KEY,\n"                                            \
    "  projid     TEXT NOT NULL,\n"                                                  \
    "  tstamp     TEXT NOT NULL,\n"                                                  \
    "  filename   TEXT NOT NULL,\n"                                                  \
    "  vid        TEXT,\n"                                                           \
    "  argv       TEXT NOT NULL,\n"                                                  \
    "  host       TEXT NOT NULL,\n"                                                  \
    "  pid        INTEGER NOT NULL,\n"                                               \
    "  proc_start TEXT,\n"                                                           \
    "  status     TEXT NOT NULL DEFAULT 'running'\n"                                 \
    "             CHECK (status IN ('running','finished','failed','killed')),\n"     \
    "  start_time REAL NOT NULL,\n"                                                  \
    "  end_time   REAL,\n"                                                           \
    "  ckpt_overhead REAL,\n"                                                        \
    "  reason     TEXT,\n"                                                           \
    RANK_COLUMNS

/* The runs table as version 3 left it, rebuilt with the rank columns:
 * UNIQUE (projid, tstamp) becomes UNIQUE (projid, tstamp, rank). */
#define RUNS_V4                                                                       \
    "CREATE TABLE runs_v4(\n"                                                        \
    RUNS_COLUMNS                                                                      \
    "  UNIQUE (projid, tstamp, rank)\n"                                              \
    ");\n"                                                                           \
    "INSERT INTO runs_v4(run_id, projid, tstamp, filename, vid, argv, host, pid,\n"  \
    "  proc_start, status, start_time, end_time, ckpt_overhead, reason)\n"           \
    "  SELECT run_id, projid, tstamp, filename, vid, argv, host, pid, proc_start,\n" \
    "  status, start_time, end_time, ckpt_overhead, reason FROM runs;\n"             \
    "DROP TABLE runs;\n"                                                             \
    "ALTER TABLE runs_v4 RENAME TO runs;\n"                                          \
    "CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status);\n"

/* A read-only open of a database older than version 4 reads its runs
 * through this view, which shadows the table (temp comes first) and adds
 * the rank columns a single-process run has. */
#define RUNS_V3_VIEW                                                                  \
    "CREATE TEMP VIEW runs AS SELECT *, 0 AS rank, 1 AS world_size, NULL AS job,"     \
    " NULL AS launcher FROM main.runs"

/* Added by version 5: the value of a loop's iteration (the item of the
 * iterable, when it is a number or a text), NULL when none was given.
 * superseded_loops keeps it too.  A read-only open of an older file reads
 * its loops through the view, as for RUNS_V3_VIEW. */
#define LOOPS_V4_VIEW "CREATE TEMP VIEW loops AS SELECT *, NULL AS value FROM main.loops"

/* Added by version 6: the project's remote (an S3 bucket and prefix that
 * its checkpoint store is spooled to; never a credential), the objects
 * uploaded there (segments: byte ranges of local packs, whole records)
 * and, per chunk, the segment and offset that hold its record.  A chunk is
 * safely remote once its row is committed (docs/remote.md). */
#define REMOTE_TABLES                                                                 \
    "CREATE TABLE IF NOT EXISTS remotes(\n"                                           \
    "  name       TEXT PRIMARY KEY,\n"                                               \
    "  url        TEXT NOT NULL,\n"                                                  \
    "  endpoint   TEXT,\n"                                                           \
    "  region     TEXT,\n"                                                           \
    "  path_style INTEGER NOT NULL DEFAULT 0,\n"                                     \
    "  profile    TEXT,\n"                                                           \
    "  cache      INTEGER\n"                                                         \
    ");\n"                                                                           \
    "CREATE TABLE IF NOT EXISTS remote_segments(\n"                                   \
    "  segment_id INTEGER PRIMARY KEY,\n"                                            \
    "  url        TEXT NOT NULL,\n"                                                  \
    "  key        TEXT NOT NULL,\n"                                                  \
    "  bytes      INTEGER NOT NULL,\n"                                               \
    "  records    INTEGER NOT NULL,\n"                                               \
    "  uploaded   REAL NOT NULL,\n"                                                  \
    "  UNIQUE (url, key)\n"                                                          \
    ");\n"                                                                           \
    "CREATE TABLE IF NOT EXISTS remote_chunks(\n"                                     \
    "  hash       BLOB NOT NULL,\n"                                                  \
    "  segment_id INTEGER NOT NULL REFERENCES remote_segments(segment_id),\n"        \
    "  off        INTEGER NOT NULL,\n"                                               \
    "  len        INTEGER NOT NULL,\n"                                               \
    "  PRIMARY KEY (hash, segment_id)\n"                                             \
    ") WITHOUT ROWID;\n"                                                             \
    "CREATE INDEX IF NOT EXISTS remote_chunks_by_segment ON remote_chunks(segment_id);\n"

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS meta(\n"
    "  key   TEXT PRIMARY KEY,\n"
    "  value\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS runs(\n"
    RUNS_COLUMNS
    "  UNIQUE (projid, tstamp, rank)\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS args(\n"
    "  run_id      INTEGER NOT NULL REFERENCES runs(run_id),\n"
    "  name        TEXT NOT NULL,\n"
    "  value,\n"
    "  from_kwargs INTEGER NOT NULL DEFAULT 0,\n"
    "  ord         INTEGER NOT NULL,\n"
    "  PRIMARY KEY (run_id, name)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS loops(\n"
    "  run_id        INTEGER NOT NULL REFERENCES runs(run_id),\n"
    "  ctx_id        INTEGER NOT NULL,\n"
    "  parent_ctx_id INTEGER,\n"
    "  name          TEXT NOT NULL,\n"
    "  iteration     INTEGER NOT NULL,\n"
    "  value,\n"
    "  PRIMARY KEY (run_id, ctx_id)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS logs(\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(run_id),\n"
    "  ctx_id INTEGER,\n"
    "  name   TEXT NOT NULL,\n"
    "  value,\n"
    "  source TEXT NOT NULL DEFAULT 'record' CHECK (source IN ('record','replay'))\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS checkpoints(\n"
    "  ckpt_id       INTEGER PRIMARY KEY,\n"
    "  run_id        INTEGER NOT NULL REFERENCES runs(run_id),\n"
    "  loop          TEXT NOT NULL,\n"
    "  iteration     INTEGER NOT NULL,\n"
    "  coords        TEXT NOT NULL,\n"
    "  created       REAL NOT NULL,\n"
    "  logical_bytes INTEGER NOT NULL,\n"
    "  stored_bytes  INTEGER NOT NULL,\n"
    "  stall_s       REAL NOT NULL,\n"
    "  write_s       REAL NOT NULL,\n"
    "  codec         TEXT NOT NULL,\n"
    "  UNIQUE (run_id, coords)\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS checkpoint_objects(\n"
    "  ckpt_id  INTEGER NOT NULL REFERENCES checkpoints(ckpt_id),\n"
    "  name     TEXT NOT NULL,\n"
    "  dtype    TEXT NOT NULL,\n"
    "  version  INTEGER NOT NULL,\n"
    "  nbytes   INTEGER NOT NULL,\n"
    "  callback INTEGER NOT NULL,\n"
    "  manifest BLOB NOT NULL,\n"
    "  PRIMARY KEY (ckpt_id, name)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS replays(\n"
    "  replay_id   INTEGER PRIMARY KEY,\n"
    "  run_id      INTEGER NOT NULL REFERENCES runs(run_id),\n"
    "  segment     INTEGER NOT NULL,\n"
    "  nsegments   INTEGER NOT NULL,\n"
    "  probed      TEXT,\n"
    "  host        TEXT NOT NULL,\n"
    "  pid         INTEGER NOT NULL,\n"
    "  proc_start  TEXT,\n"
    "  status      TEXT NOT NULL DEFAULT 'running'\n"
    "              CHECK (status IN ('running','finished','failed','killed')),\n"
    "  started     REAL NOT NULL,\n"
    "  ended       REAL,\n"
    "  new_values  INTEGER,\n"
    "  compared    INTEGER,\n"
    "  divergences INTEGER,\n"
    "  first_divergence TEXT,\n"
    "  restores    INTEGER,\n"
    "  error       TEXT\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS divergences(\n"
    "  replay_id INTEGER NOT NULL REFERENCES replays(replay_id),\n"
    "  coords    TEXT NOT NULL,\n"
    "  name      TEXT NOT NULL,\n"
    "  recorded  TEXT,\n"
    "  replayed  TEXT\n"
    ");\n"
    RESUME_TABLES
    REMOTE_TABLES
    "CREATE UNIQUE INDEX IF NOT EXISTS logs_replayed_once\n"
    "  ON logs(run_id, ifnull(ctx_id, 0), name) WHERE source = 'replay';\n"
    "CREATE INDEX IF NOT EXISTS logs_by_name ON logs(name, run_id);\n"
    "CREATE INDEX IF NOT EXISTS logs_outside_loops ON logs(run_id, name) WHERE ctx_id IS NULL;\n"
    "CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status);\n"
    "CREATE INDEX IF NOT EXISTS runs_by_job ON runs(job) WHERE job IS NOT NULL;\n";

int flor__db_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK && ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB)) {
        sqlite3_free(msg);
        return flor__db_damaged(db, rc, NULL);
    }
    if (rc != SQLITE_OK) {
        int code = (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) ? FLOR_EBUSY : FLOR_EIO;
        flor__err(code, "database: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return code;
    }
    return 0;
}

int flor__db_begin(sqlite3 *db) { return flor__db_exec(db, "BEGIN IMMEDIATE"); }
int flor__db_commit(sqlite3 *db) { return flor__db_exec(db, "COMMIT"); }

void flor__db_rollback(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

/* A damaged database is reported, never recreated or written: the
 * message names the file, says what is wrong and how to go on. */
#define FSCK_HINT FLOR__FSCK_HINT /* db.h; flor__db_damaged is in sqlite_error.c */

static int is_damage(int rc)
{
    return (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB;
}

static uint32_t be32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* True while a write-ahead log holds frames or a rollback journal
 * exists: their pages count too, and the file alone may be short. */
static int log_pending(const char *path)
{
    char *wal = flor__printf("%s-wal", path), *journal = flor__printf("%s-journal", path);
    struct stat ws;
    int pending = (wal && stat(wal, &ws) == 0 && ws.st_size > 32) ||
                  (journal && stat(journal, &ws) == 0 && ws.st_size > 0);
    free(wal);
    free(journal);
    return pending;
}

/* The file holds whole pages, at least as many as its header says (the
 * count is valid when the "version-valid-for" number equals the change
 * counter).  Another process may be checkpointing meanwhile, rewriting
 * the header and growing the file between two reads, so a mismatch
 * counts only when it stays over several looks with no log pending. */
static int read_header(sqlite3_file *fp, unsigned char h[100], sqlite3_int64 *size)
{
    if (!fp || !fp->pMethods || fp->pMethods->xFileSize(fp, size) != SQLITE_OK)
        return -1;
    memset(h, 0, 100);
    int rc = fp->pMethods->xRead(fp, h, 100, 0);
    return rc == SQLITE_OK ? 100 : (int)(*size < 100 ? *size : 0);
}

static int check_size(sqlite3_file *fp, const char *path, long page)
{
    long long size = 0, pages = 0;
    for (int look = 0; look < 10; look++) {
        if (look) {
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (log_pending(path))
            return 0;
        unsigned char h[100];
        sqlite3_int64 sz = 0;
        if (read_header(fp, h, &sz) < 100)
            continue;
        size = (long long)sz;
        pages = be32(h + 24) == be32(h + 92) ? (long long)be32(h + 28) : 0;
        if (size % page == 0 && size >= pages * page)
            return 0;
    }
    return flor__err(FLOR_ECORRUPT,
                     "'%s' is damaged: truncated to %lld bytes (%lld pages of %ld bytes "
                     "expected): %s",
                     path, size, pages, page, FSCK_HINT);
}

/* What can be told about PATH without SQLite's parsing: an empty file, a
 * header that is not SQLite's, or a file shorter than its header says.
 * The file is read through DB's own descriptor: opening and closing
 * another one would drop this process's POSIX locks on it, those of
 * every other connection it holds to the file included. */
static int check_file(sqlite3 *db, const char *path, const struct stat *sb)
{
    if (!S_ISREG(sb->st_mode))
        return flor__err(FLOR_ECORRUPT, "'%s' is not a regular file", path);
    if (sb->st_size == 0)
        return flor__err(FLOR_ECORRUPT, "'%s': empty file (0 bytes), the database was lost: %s",
                         path, FSCK_HINT);
    sqlite3_file *fp = NULL;
    unsigned char h[100];
    sqlite3_int64 size = 0;
    int n;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &fp) != SQLITE_OK ||
        (n = read_header(fp, h, &size)) < 0)
        return flor__err(FLOR_EIO, "cannot read '%s'", path);
    if (size == 0)
        return flor__err(FLOR_ECORRUPT, "'%s': empty file (0 bytes), the database was lost: %s",
                         path, FSCK_HINT);
    if (memcmp(h, "SQLite format 3", 16) != 0)
        return flor__err(FLOR_ECORRUPT, "'%s' is not a SQLite database (bad header): %s", path,
                         FSCK_HINT);
    if (n < 100)
        return flor__err(FLOR_ECORRUPT, "'%s' is damaged: truncated to %lld bytes: %s", path,
                         (long long)size, FSCK_HINT);
    long page = (long)h[16] << 8 | h[17];
    if (page == 1)
        page = 65536;
    if (page < 512 || (page & (page - 1)) != 0)
        return flor__err(FLOR_ECORRUPT, "'%s' is damaged: bad page size %ld in its header: %s",
                         path, page, FSCK_HINT);
    return check_size(fp, path, page);
}

static int check_version(sqlite3 *db, const char *path)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key='schema_version'", -1,
                                &st, NULL);
    if (rc != SQLITE_OK && (rc & 0xff) == SQLITE_ERROR)
        return flor__err(FLOR_ECORRUPT, "'%s' is not a flor database (%s)", path,
                         sqlite3_errmsg(db));
    if (rc != SQLITE_OK)
        return is_damage(rc) ? flor__db_damaged(db, rc, NULL)
                             : flor__err_sqlite(db, rc, "cannot read the schema version");
    int version = -1;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    else if (rc != SQLITE_DONE) {
        int err = is_damage(rc) ? flor__db_damaged(db, rc, NULL)
                                : flor__err_sqlite(db, rc, "cannot read the schema version");
        sqlite3_finalize(st);
        return err;
    }
    sqlite3_finalize(st);
    if (version > FLOR__SCHEMA_VERSION)
        return flor__err(FLOR_ECORRUPT,
                         "'%s': schema version %d is newer than this flor's (%d); upgrade flor",
                         path, version, FLOR__SCHEMA_VERSION);
    if (version < 0)
        return flor__err(FLOR_ECORRUPT, "'%s' is not a flor database (no schema version)", path);
    return 0;
}

int flor__db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, const char *what)
{
    int rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);
    return rc == SQLITE_OK ? 0 : flor__err_sqlite(db, rc, what);
}

int flor__db_scan(sqlite3 *db, sqlite3_stmt *st, flor__row_fn fn, void *ctx, const char *what)
{
    int rc = SQLITE_DONE, err = 0;
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW)
        err = fn(ctx, st);
    if (!err && rc != SQLITE_DONE)
        err = flor__err_sqlite(db, rc, what);
    sqlite3_finalize(st);
    return err;
}

int flor__db_schema_version(sqlite3 *db, int *version)
{
    *version = -1;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key='schema_version'", -1,
                                &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    if (sqlite3_step(st) == SQLITE_ROW)
        *version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return SQLITE_OK;
}

/* Has TABLE a column named COLUMN? */
static int has_column(sqlite3 *db, const char *table, const char *column)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT 1 FROM pragma_table_info('%s') WHERE name=?", table);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, column, -1, SQLITE_STATIC);
    int found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

/* Has DB a table named TABLE? */
static int has_table(sqlite3 *db, const char *table)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", -1,
                           &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    int found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

int flor__db_has_resumes(sqlite3 *db) { return has_table(db, "resumes"); }

static int up_to_date(sqlite3 *db)
{
    return has_column(db, "runs", "reason") && has_table(db, "resumes") &&
           has_column(db, "runs", "rank") && has_column(db, "loops", "value") &&
           has_table(db, "remote_chunks");
}

int flor__db_has_ranks(sqlite3 *db) { return has_column(db, "runs", "rank"); }

/* Brings an older database up to FLOR__SCHEMA_VERSION in place, in one
 * transaction (another process may be doing the same: the check is
 * repeated under the write lock).
 *   1 -> 2: runs.reason, why a run failed.
 *   2 -> 3: the tables resumes, superseded_logs and superseded_loops.
 *   3 -> 4: runs.rank, world_size, job and launcher (runs of several
 *           processes); runs is rebuilt, its UNIQUE key now with rank.
 *   4 -> 5: loops.value and superseded_loops.value (NULL for old rows).
 *   5 -> 6: the tables remotes, remote_segments and remote_chunks. */
static int foreign_keys_hold(sqlite3 *db, const char *path)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot check the foreign keys");
    rc = sqlite3_step(st);
    int err = 0;
    if (rc == SQLITE_ROW)
        err = flor__err(FLOR_ECORRUPT, "'%s': table %s has a row that refers to no row of %s",
                        path, (const char *)sqlite3_column_text(st, 0),
                        (const char *)sqlite3_column_text(st, 2));
    else if (rc != SQLITE_DONE)
        err = flor__err_sqlite(db, rc, "cannot check the foreign keys");
    sqlite3_finalize(st);
    return err;
}

static int migrate(sqlite3 *db, const char *path)
{
    if (up_to_date(db))
        return 0;
    /* rebuilding runs drops the old table: foreign keys are checked by
     * foreign_keys_hold instead, before the commit (SQLite ignores the
     * pragma inside a transaction) */
    int err = flor__db_exec(db, "PRAGMA foreign_keys=OFF");
    if (!err)
        err = flor__db_begin(db);
    /* each step stamps the version it brings the file to */
    if (!err && !has_column(db, "runs", "reason")) {
        err = flor__db_exec(db, "ALTER TABLE runs ADD COLUMN reason TEXT");
        if (!err)
            err = flor__db_exec(db, "UPDATE meta SET value=2 WHERE key='schema_version' AND "
                                    "value<2");
    }
    if (!err && !has_table(db, "resumes")) {
        err = flor__db_exec(db, RESUME_TABLES);
        if (!err)
            err = flor__db_exec(db, "UPDATE meta SET value=3 WHERE key='schema_version' AND "
                                    "value<3");
    }
    if (!err && !has_column(db, "runs", "rank")) {
        err = flor__db_exec(db, RUNS_V4);
        if (!err)
            err = flor__db_exec(db, "CREATE INDEX IF NOT EXISTS runs_by_job ON runs(job) "
                                    "WHERE job IS NOT NULL;"
                                    "UPDATE meta SET value=4 WHERE key='schema_version' AND "
                                    "value<4");
        if (!err)
            err = foreign_keys_hold(db, path);
    }
    if (!err && !has_column(db, "loops", "value")) {
        err = flor__db_exec(db, "ALTER TABLE loops ADD COLUMN value");
        if (!err && !has_column(db, "superseded_loops", "value"))
            err = flor__db_exec(db, "ALTER TABLE superseded_loops ADD COLUMN value");
        if (!err)
            err = flor__db_exec(db, "UPDATE meta SET value=5 WHERE key='schema_version' AND "
                                    "value<5");
    }
    if (!err && !has_table(db, "remote_chunks")) {
        err = flor__db_exec(db, REMOTE_TABLES);
        if (!err)
            err = flor__db_exec(db, "UPDATE meta SET value=6 WHERE key='schema_version' AND "
                                    "value<6");
    }
    if (!err)
        err = flor__db_commit(db);
    if (err)
        flor__db_rollback(db);
    sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
    if (err)
        flor__err_wrap(err, "cannot bring %s up to schema version %d", path,
                       FLOR__SCHEMA_VERSION);
    return err;
}

/* A team's read replica (docs/team.md, "Reading the team's runs"): a
 * database of flor's schema whose runs come from many checkouts, so its
 * runs table, made before SCHEMA's, lacks UNIQUE (projid, tstamp, rank)
 * (two checkouts may start a run in the same second); and the refresh's
 * own tables: team_meta (the URL mirrored, when it was last refreshed),
 * team_runs (each team run, by checkout and its run id there, to the
 * replica's run id, and the run's resumes seen), team_marks (per checkout,
 * the server's log mark the replica holds everything up to). */
static const char TEAM_REPLICA[] =
    "CREATE TABLE IF NOT EXISTS runs(\n"
    RUNS_COLUMNS
    "  checkout   TEXT\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS runs_by_tstamp ON runs(projid, tstamp, rank);\n"
    "CREATE TABLE IF NOT EXISTS team_meta(\n"
    "  key   TEXT PRIMARY KEY,\n"
    "  value\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS team_runs(\n"
    "  checkout    TEXT NOT NULL,\n"
    "  team_run_id INTEGER NOT NULL,\n"
    "  run_id      INTEGER NOT NULL UNIQUE REFERENCES runs(run_id),\n"
    "  resumes     INTEGER NOT NULL DEFAULT 0,\n"
    "  PRIMARY KEY (checkout, team_run_id)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS team_marks(\n"
    "  checkout TEXT PRIMARY KEY,\n"
    "  logs     INTEGER NOT NULL\n"
    ");\n";

static int create_database(const char *path, const char *first);

int flor__db_open_replica(const char *dir, sqlite3 **out)
{
    *out = NULL;
    char *path = flor__printf("%s/flor.db", dir);
    if (!path)
        return flor__err(FLOR_ENOMEM, "out of memory");
    struct stat sb;
    int err = 0;
    if (stat(path, &sb) != 0)
        err = errno == ENOENT ? create_database(path, TEAM_REPLICA)
                              : flor__err(FLOR_EIO, "cannot open '%s': %s", path, strerror(errno));
    free(path);
    if (!err)
        err = flor__db_open(dir, 0, 0, out);
    /* A refresh writes up to millions of rows in one transaction: with
     * SQLite's default 2 MB cache, the indexes' pages would be spilled to
     * the WAL again and again before the commit; and each statement's
     * journal would be copied page by page for every row.  Its rows are
     * the refresh's own (team/mirror.c keeps runs before their rows), so
     * no foreign-key checks, which need a statement journal. */
    if (!err && (err = flor__db_exec(*out, "PRAGMA cache_size = -262144;"
                                           " PRAGMA temp_store = MEMORY;"
                                           " PRAGMA foreign_keys = OFF")) != 0) {
        sqlite3_close(*out);
        *out = NULL;
    }
    return err;
}

/* Creates the tables and indexes that DB lacks, in one transaction, and
 * stamps a new database with FLOR__SCHEMA_VERSION. */
static int write_schema(sqlite3 *db, const char *path, const char *first)
{
    int err = flor__db_begin(db);
    if (!err && first)
        err = flor__db_exec(db, first);
    if (!err)
        err = flor__db_exec(db, SCHEMA);
    if (!err)
        err = flor__db_exec(db, "INSERT OR IGNORE INTO meta(key, value) "
                                "VALUES ('schema_version', " FLOR__STR(FLOR__SCHEMA_VERSION) ")");
    if (!err)
        err = flor__db_commit(db);
    else
        flor__db_rollback(db);
    if (err)
        flor__err_wrap(err, "cannot create the schema in %s", path);
    return err;
}

/* Creates PATH whole: the schema is written to a file of its own that
 * is then linked to PATH, which fails if PATH appeared meanwhile (another
 * process created it first, and that one is used).  So a flor.db is
 * never seen half made, and an empty one is always a lost one. */
static int create_database(const char *path, const char *first)
{
    char *tmp = flor__printf("%s.new-%ld", path, (long)getpid());
    if (!tmp)
        return flor__err(FLOR_ENOMEM, "out of memory");
    unlink(tmp);
    sqlite3 *db = NULL;
    int err = 0;
    int rc = sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                           SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        err = flor__err(FLOR_EIO, "cannot create '%s': %s", tmp,
                        db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    /* A new file gets 16 KiB pages: the log writer's appends split and
     * write a quarter as many pages as with 4 KiB. */
    if (!err)
        err = flor__db_exec(db, "PRAGMA page_size=16384; PRAGMA journal_mode=WAL");
    if (!err)
        err = write_schema(db, path, first);
    if (sqlite3_close(db) != SQLITE_OK && !err)
        err = flor__err(FLOR_EIO, "cannot create '%s': %s", tmp, sqlite3_errmsg(db));
    if (!err && link(tmp, path) != 0 && errno != EEXIST)
        err = flor__err(FLOR_EIO, "cannot create '%s': %s", path, strerror(errno));
    unlink(tmp);
    free(tmp);
    return err;
}

int flor__db_open(const char *datadir, int create, int readonly, sqlite3 **out)
{
    *out = NULL;
    char *path = flor__printf("%s/flor.db", datadir);
    if (!path)
        return flor__err(FLOR_ENOMEM, "out of memory");
    /* Only a missing file is created; an existing one is checked first,
     * and a damaged one is never opened for writing. */
    struct stat sb;
    int err;
    int existed = stat(path, &sb) == 0;
    if (existed)
        err = !S_ISREG(sb.st_mode) || sb.st_size == 0 ? check_file(NULL, path, &sb) : 0;
    else if (errno != ENOENT)
        err = flor__err(FLOR_EIO, "cannot open '%s': %s", path, strerror(errno));
    else if (!create)
        err = flor__err(FLOR_ENOTFOUND, "no flor data in %s (no run recorded yet)", datadir);
    else
        err = create_database(path, NULL);
    if (err) {
        free(path);
        return err;
    }
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT)
            flor__db_damaged(db, rc, NULL);
        else
            flor__err(FLOR_EIO, "cannot open '%s': %s", path,
                      db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        free(path);
        return (rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT ? FLOR_ECORRUPT
                                                                             : FLOR_EIO;
    }
    sqlite3_busy_timeout(db, 30000);
    sqlite3_extended_result_codes(db, 1);
    if (existed && (err = check_file(db, path, &sb)) != 0) {
        sqlite3_close(db);
        free(path);
        return err;
    }
    /* The first read of the schema can meet BUSY without the busy handler
     * being called, while another process opens or closes the file (WAL
     * recovery, or the last connection's checkpoint): retry a while. */
    for (int tries = 0; tries < 300; tries++) {
        err = check_version(db, path);
        if (err != FLOR_EBUSY)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (!err && !readonly) {
        /* WAL lets readers and several recording processes share the file;
         * NORMAL sync is durable against process death, which is what a
         * training run needs (a power cut may lose the last commits). */
        /* Switching a new file to WAL returns BUSY without calling the busy
         * handler when another process is doing the same: retry a while. */
        for (int tries = 0; tries < 300; tries++) {
            err = flor__db_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                                    "PRAGMA foreign_keys=ON;");
            if (err != FLOR_EBUSY)
                break;
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (!err && !readonly)
        err = migrate(db, path);
    if (!err && !readonly && create)
        err = write_schema(db, path, NULL); /* tables added since the file was made */
    if (!err && readonly && !flor__db_has_ranks(db))
        err = flor__db_exec(db, RUNS_V3_VIEW);
    if (!err && readonly && !has_column(db, "loops", "value"))
        err = flor__db_exec(db, LOOPS_V4_VIEW);
    free(path);
    if (err) {
        sqlite3_close(db);
        return err;
    }
    *out = db;
    return 0;
}

const char *flor__hostname(void)
{
    static char host[256];
    if (!host[0] && gethostname(host, sizeof host - 1) != 0)
        strcpy(host, "localhost");
    return host;
}

/* "BOOTID:STARTTIME": /proc/PID/stat field 22 counts clock ticks since
 * boot, so together with the boot id it names one process for good. */
char *flor__proc_identity(long pid)
{
    char buf[1024], boot[64] = "";
    const char *fields = flor__proc_stat(pid, buf, sizeof buf);
    if (!fields)
        return NULL;
    unsigned long long start = flor__proc_stat_field(fields, 22);
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f) {
        if (!fgets(boot, sizeof boot, f))
            boot[0] = 0;
        fclose(f);
        boot[strcspn(boot, "\n")] = 0;
    }
    return flor__printf("%s:%llu", boot, start);
}

/* Whether process PID has exited and is only waiting for its parent to
 * collect its status (a zombie): its state is Z or X. */
static int process_exited(long pid)
{
    char buf[512];
    const char *f = flor__proc_stat(pid, buf, sizeof buf);
    return f && (f[0] == 'Z' || f[0] == 'X');
}

int flor__process_alive(long pid, const char *identity)
{
    if (pid <= 0)
        return 0;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return 0;
    if (process_exited(pid)) /* killed, its parent has not waited for it yet */
        return 0;
    if (!identity)
        return 1;
    char *now = flor__proc_identity(pid);
    if (!now)
        return 0;
    int same = strcmp(now, identity) == 0;
    free(now);
    return same;
}

static int reap_table(sqlite3 *db, const char *table, const char *key);

int flor__db_reap(sqlite3 *db)
{
    int rc = reap_table(db, "runs", "run_id");
    if (!rc && has_table(db, "resumes"))
        rc = reap_table(db, "resumes", "resume_id");
    return rc ? rc : reap_table(db, "replays", "replay_id");
}

static int reap_table(sqlite3 *db, const char *table, const char *key)
{
    sqlite3_stmt *st;
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT %s, pid, proc_start FROM %s WHERE status='running' AND host=?", key, table);
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot look for dead runs");
    sqlite3_bind_text(st, 1, flor__hostname(), -1, SQLITE_STATIC);
    int64_t dead[256];
    int ndead = 0;
    while (ndead < 256 && sqlite3_step(st) == SQLITE_ROW) {
        long pid = (long)sqlite3_column_int64(st, 1);
        const char *ident = (const char *)sqlite3_column_text(st, 2);
        if (!flor__process_alive(pid, ident))
            dead[ndead++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (ndead == 0)
        return 0;
    snprintf(sql, sizeof sql, "UPDATE %s SET status='killed' WHERE %s=? AND status='running'",
             table, key);
    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return flor__err_sqlite(db, rc, "cannot mark dead runs");
    for (int i = 0; i < ndead; i++) {
        sqlite3_bind_int64(st, 1, dead[i]);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            sqlite3_finalize(st);
            return flor__err_sqlite(db, rc, "cannot mark dead runs");
        }
    }
    sqlite3_finalize(st);
    return 0;
}
