/*
 * test_db_groups.c -- the table-group files of src/db as the project
 * calls them: a run's code version, the runs still marked running, two
 * runs' args side by side, gc's retention rule and the deletes of
 * checkpoints; and the X'hex' text of a blob that the query side shows.
 */
#include "check.h"
#include "internal.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

/* A new database in a scratch directory, with the rows of SQL. */
static sqlite3 *new_db(const char *sql)
{
    snprintf(dir, sizeof dir, "/tmp/flor-unit-dbg-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    sqlite3 *db = NULL;
    if (flor__db_open(dir, 1, 0, &db) != 0 || flor__db_exec(db, sql) != 0)
        abort();
    return db;
}

static void done(sqlite3 *db)
{
    sqlite3_close(db);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        abort();
}

#define RUN_ROW(id, vid, status)                                                    \
    "INSERT INTO runs(run_id, projid, tstamp, filename, vid, argv, host, pid,"        \
    " status, start_time) VALUES (" #id ", 'p', 't" #id "', 'f', " vid ", '[]', 'h', " \
    #id ", '" status "', 0);"

static void test_a_blob_shows_as_its_sqlite_literal(void)
{
    const unsigned char bytes[] = {0x00, 0x0a, 0x1b, 0xff};
    char s[16];
    CHECK_EQ_INT(flor__blob_literal_size(sizeof bytes), 12);
    flor__blob_literal(s, bytes, sizeof bytes);
    CHECK_EQ_STR(s, "X'000A1BFF'");
    CHECK_EQ_INT(flor__blob_literal_size(0), 4);
    flor__blob_literal(s, bytes, 0);
    CHECK_EQ_STR(s, "X''");
    CHECK_EQ_INT(flor__blob_literal_size(SIZE_MAX / 2), 0);
}

static void test_a_runs_code_version_is_found_missing_or_absent(void)
{
    sqlite3 *db = new_db(RUN_ROW(1, "'abc123'", "finished") RUN_ROW(2, "NULL", "finished"));
    int found = -1;
    char *vid = NULL;
    CHECK_EQ_INT(flor__runs_find_vid(db, 1, &found, &vid), 0);
    CHECK_EQ_INT(found, 1);
    CHECK_EQ_STR(vid, "abc123");
    free(vid);
    CHECK_EQ_INT(flor__runs_find_vid(db, 2, &found, &vid), 0);
    CHECK_EQ_INT(found, 1);
    CHECK(vid == NULL);
    CHECK_EQ_INT(flor__runs_find_vid(db, 3, &found, &vid), 0);
    CHECK_EQ_INT(found, 0);
    CHECK(vid == NULL);
    int version = 0;
    CHECK_EQ_INT(flor__db_schema_version(db, &version), SQLITE_OK);
    CHECK_EQ_INT(version, FLOR__SCHEMA_VERSION);
    done(db);
}

struct seen {
    int n;
    int64_t runs[4];
};

static int on_running(void *ctx, int64_t run, long pid, const char *identity)
{
    struct seen *s = ctx;
    (void)pid, (void)identity;
    s->runs[s->n++] = run;
    return s->n == 2 ? FLOR_EBUSY : 0; /* an error of the callback stops the scan */
}

static void test_the_running_runs_of_this_host_are_listed(void)
{
    char sql[2048];
    snprintf(sql, sizeof sql,
             RUN_ROW(1, "NULL", "running") RUN_ROW(2, "NULL", "finished")
                 RUN_ROW(3, "NULL", "running") RUN_ROW(4, "NULL", "running")
                     "UPDATE runs SET host = '%s' WHERE run_id != 3;",
             flor__hostname());
    sqlite3 *db = new_db(sql);
    struct seen s = {0};
    CHECK_EQ_INT(flor__runs_scan_running(db, on_running, &s), FLOR_EBUSY);
    CHECK_EQ_INT(s.n, 2);
    CHECK_EQ_INT(s.runs[0], 1);
    CHECK_EQ_INT(s.runs[1], 4);
    done(db);
}

static int on_arg(void *ctx, sqlite3_stmt *row)
{
    flor__buf *b = ctx;
    return flor__buf_printf(b, "%s:%d%s:%d%s;", (const char *)sqlite3_column_text(row, 0),
                            sqlite3_column_int(row, 1),
                            sqlite3_column_text(row, 2) ? (const char *)sqlite3_column_text(row, 2)
                                                        : "-",
                            sqlite3_column_int(row, 3),
                            sqlite3_column_text(row, 4) ? (const char *)sqlite3_column_text(row, 4)
                                                        : "-");
}

static void test_two_runs_args_come_side_by_side_in_recording_order(void)
{
    sqlite3 *db = new_db(RUN_ROW(1, "NULL", "finished") RUN_ROW(2, "NULL", "finished")
                         "INSERT INTO args(run_id, name, value, ord) VALUES"
                         " (1, 'lr', 0.5, 0), (1, 'epochs', 3, 1),"
                         " (2, 'epochs', 4, 0), (2, 'seed', 7, 1);");
    flor__buf b = {0};
    CHECK_EQ_INT(flor__records_compare_args(db, 1, 2, on_arg, &b), 0);
    CHECK_EQ_STR(b.p, "lr:10.5:0-;epochs:13:14;seed:0-:17;");
    flor__buf_release(&b);
    done(db);
}

#define CKPT_ROW(id, run, iter)                                                     \
    "INSERT INTO checkpoints(ckpt_id, run_id, loop, iteration, coords, created,"      \
    " logical_bytes, stored_bytes, stall_s, write_s, codec) VALUES (" #id ", " #run   \
    ", 'l', " #iter ", '" #iter "', 0, 10, 5, 0, 0, 'raw');"                          \
    "INSERT INTO checkpoint_objects(ckpt_id, name, dtype, version, nbytes, callback,"  \
    " manifest) VALUES (" #id ", 'w', 'f32', 1, 10, 0, X'0" #id "');"

static int count_rows(void *ctx, sqlite3_stmt *row)
{
    (void)row;
    ++*(int *)ctx;
    return 0;
}

static void test_the_retention_rule_counts_and_drops_what_it_lets_go(void)
{
    /* run 1 is old: iterations 1..3, of which 2 (EVERY) and 3 (its last)
     * stay; run 2 is within KEEP_RUNS = 1. */
    sqlite3 *db = new_db(RUN_ROW(1, "NULL", "finished") RUN_ROW(2, "NULL", "finished")
                             CKPT_ROW(1, 1, 1) CKPT_ROW(2, 1, 2) CKPT_ROW(3, 1, 3)
                                 CKPT_ROW(4, 2, 1) CKPT_ROW(5, 2, 2));
    int64_t doomed = -1, total = -1;
    CHECK_EQ_INT(flor__checkpoints_count_doomed(db, 1, 2, &doomed, &total), 0);
    CHECK_EQ_INT(doomed, 1);
    CHECK_EQ_INT(total, 5);
    int kept = 0;
    CHECK_EQ_INT(flor__checkpoints_scan_kept(db, 1, 2, count_rows, &kept), 0);
    CHECK_EQ_INT(kept, 4);
    CHECK_EQ_INT(flor__checkpoints_delete_doomed(db, 1, 2), 0);
    int objects = 0;
    CHECK_EQ_INT(flor__checkpoints_scan_objects(db, count_rows, &objects), 0);
    CHECK_EQ_INT(objects, 4);
    const int64_t ids[] = {4, 5};
    CHECK_EQ_INT(flor__checkpoints_delete(db, ids, 2), 0);
    objects = 0;
    CHECK_EQ_INT(flor__checkpoints_scan_objects(db, count_rows, &objects), 0);
    CHECK_EQ_INT(objects, 2);
    flor_table *t = NULL;
    CHECK_EQ_INT(flor__checkpoints_du(db, &t), 0);
    CHECK_EQ_INT(flor_table_nrows(t), 2);
    CHECK_EQ_INT(flor_table_int(t, 0, 3), 2);
    CHECK_EQ_INT(flor_table_int(t, 1, 3), 0);
    flor_table_free(t);
    done(db);
}

int main(void)
{
    setenv("FLOR_QUIET", "1", 1);
    RUN(test_a_blob_shows_as_its_sqlite_literal);
    RUN(test_a_runs_code_version_is_found_missing_or_absent);
    RUN(test_the_running_runs_of_this_host_are_listed);
    RUN(test_two_runs_args_come_side_by_side_in_recording_order);
    RUN(test_the_retention_rule_counts_and_drops_what_it_lets_go);
    return check_summary();
}
