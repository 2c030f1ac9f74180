/*
 * test_db.c -- opening the database and reading it safely: a damaged
 * flor.db is reported and never recreated, a new one is made whole even
 * by several processes at once, flor_project_query cannot change
 * anything and stops at its time limit or when interrupted, and an SQL
 * condition cannot reach past the parentheses it is put in.
 */
#include "check.h"
#include "internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[256];   /* a scratch directory: the project */
static char data[300];  /* its data directory, FLOR_DIR */
static char dbpath[320];

static void scratch(void)
{
    snprintf(dir, sizeof dir, "/tmp/flor-unit-db-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(data, sizeof data, "%s/.flor", dir);
    snprintf(dbpath, sizeof dbpath, "%s/flor.db", data);
    if (mkdir(data, 0777) != 0)
        abort();
    setenv("FLOR_DIR", data, 1);
}

static void scratch_remove(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        abort();
    unsetenv("FLOR_DIR");
}

static long long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

static void write_file(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, n, f) != n || fclose(f) != 0)
        abort();
}

/* A fresh project with a flor database and one row in runs. */
static flor_project *new_db_project(void)
{
    scratch();
    sqlite3 *db = NULL;
    if (flor__db_open(data, 1, 0, &db) != 0)
        return NULL;
    int rc = flor__db_exec(db, "INSERT INTO runs(projid, tstamp, filename, argv, host, pid,"
                               " status, start_time) VALUES ('p', 't', 'f', '[]', 'h', 1,"
                               " 'finished', 0)");
    sqlite3_close(db);
    flor_project *p = NULL;
    return rc == 0 && flor_project_open(&p, dir) == 0 ? p : NULL;
}

static void test_an_empty_database_is_reported_and_never_recreated(void)
{
    scratch();
    write_file(dbpath, "", 0);
    sqlite3 *db = NULL;
    CHECK_EQ_INT(flor__db_open(data, 1, 0, &db), FLOR_ECORRUPT);
    CHECK(db == NULL);
    CHECK(strstr(flor_errmsg(), dbpath) != NULL);
    CHECK(strstr(flor_errmsg(), "empty file (0 bytes)") != NULL);
    CHECK(strstr(flor_errmsg(), "flor fsck") != NULL);
    CHECK_EQ_INT(file_size(dbpath), 0);
    flor_project *p = NULL;
    CHECK_EQ_INT(flor_project_open(&p, dir), FLOR_ECORRUPT);
    CHECK(p == NULL);
    CHECK_EQ_INT(file_size(dbpath), 0);
    scratch_remove();
}

static void test_a_bad_header_and_a_short_file_are_named(void)
{
    scratch();
    char junk[4096];
    memset(junk, 'x', sizeof junk);
    write_file(dbpath, junk, sizeof junk);
    sqlite3 *db = NULL;
    CHECK_EQ_INT(flor__db_open(data, 1, 0, &db), FLOR_ECORRUPT);
    CHECK(strstr(flor_errmsg(), dbpath) != NULL);
    CHECK(strstr(flor_errmsg(), "is not a SQLite database (bad header)") != NULL);
    CHECK_EQ_INT(file_size(dbpath), sizeof junk);
    write_file(dbpath, "SQLite format 3\0abc", 19);
    CHECK_EQ_INT(flor__db_open(data, 0, 1, &db), FLOR_ECORRUPT);
    CHECK(strstr(flor_errmsg(), "is damaged: truncated to 19 bytes") != NULL);
    scratch_remove();
}

static void test_a_missing_database_is_created_only_when_asked(void)
{
    scratch();
    sqlite3 *db = NULL;
    CHECK_EQ_INT(flor__db_open(data, 0, 0, &db), FLOR_ENOTFOUND);
    CHECK(!exists(dbpath));
    CHECK_EQ_INT(flor__db_open(data, 1, 0, &db), 0);
    sqlite3_close(db);
    CHECK(file_size(dbpath) > 0);
    scratch_remove();
}

/* Eight processes create the same new database at once: each finds a
 * whole one (never an empty or half-made file), and no temporary file
 * is left. */
static void test_processes_creating_one_database_at_once_all_succeed(void)
{
    scratch();
    pid_t kids[8];
    fflush(stdout);
    for (int i = 0; i < 8; i++) {
        if ((kids[i] = fork()) == 0) {
            sqlite3 *db = NULL;
            int rc = flor__db_open(data, 1, 0, &db);
            if (rc == 0)
                rc = flor__db_exec(db, "INSERT INTO meta(key, value) VALUES (hex(randomblob(8)), 1)");
            sqlite3_close(db);
            _exit(rc == 0 ? 0 : 1);
        }
    }
    int ok = 0;
    for (int i = 0; i < 8; i++) {
        int status;
        waitpid(kids[i], &status, 0);
        ok += WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    CHECK_EQ_INT(ok, 8);
    flor_project *p = NULL;
    flor_table *t = NULL;
    CHECK_EQ_INT(flor_project_open(&p, dir), 0);
    CHECK_EQ_INT(flor_project_query(p, "SELECT count(*) FROM meta", &t), 0);
    CHECK_EQ_INT(t ? flor_table_int(t, 0, 0) : -1, 9); /* schema_version and 8 keys */
    flor_table_free(t);
    flor_project_free(p);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls %s | grep -q 'flor.db.new'", data);
    CHECK(system(cmd) != 0);
    scratch_remove();
}

static void test_a_query_cannot_write_attach_or_change_settings(void)
{
    flor_project *p = new_db_project();
    CHECK(p != NULL);
    if (!p)
        return;
    static const char *const refused[] = {
        "DELETE FROM runs",
        "INSERT INTO meta(key, value) VALUES ('k', 2)",
        "CREATE TEMP TABLE t(x)",
        "CREATE TEMP TRIGGER tr AFTER INSERT ON runs BEGIN SELECT 1; END",
        "WITH c AS (SELECT 1) UPDATE runs SET status = 'failed'",
        "PRAGMA user_version = 3",
        "PRAGMA writable_schema = 1",
        "PRAGMA optimize",
        "PRAGMA wal_checkpoint",
        "BEGIN",
        "VACUUM",
        "SELECT load_extension('x')",
        "SELECT 1; DELETE FROM runs",
    };
    flor_table *t = NULL;
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        int rc = flor_project_query(p, refused[i], &t);
        if (rc != FLOR_EINVAL)
            printf("    not refused: %s\n", refused[i]);
        CHECK_EQ_INT(rc, FLOR_EINVAL);
        CHECK(t == NULL);
    }
    char attach[600];
    snprintf(attach, sizeof attach, "ATTACH DATABASE 'file:%s/x.db?mode=rwc' AS x", dir);
    CHECK_EQ_INT(flor_project_query(p, attach, &t), FLOR_EINVAL);
    CHECK(strstr(flor_errmsg(), "ATTACH is not allowed") != NULL);
    snprintf(attach, sizeof attach, "%s/x.db", dir);
    CHECK(!exists(attach));
    CHECK_EQ_INT(flor_project_query(p, "SELECT count(*) AS n FROM runs -- one", &t), 0);
    CHECK_EQ_INT(t ? flor_table_int(t, 0, 0) : -1, 1);
    flor_table_free(t);
    CHECK_EQ_INT(flor_project_query(p, "PRAGMA user_version; ;", &t), 0);
    CHECK_EQ_INT(t ? flor_table_int(t, 0, 0) : -1, 0);
    flor_table_free(t);
    flor_project_free(p);
    scratch_remove();
}

static const char FOREVER[] =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_a_query_stops_at_its_time_limit(void)
{
    flor_project *p = new_db_project();
    CHECK(p != NULL);
    if (!p)
        return;
    flor_table *t = NULL;
    CHECK_EQ_INT(flor_project_set_timeout(p, -1), FLOR_EINVAL);
    CHECK_EQ_INT(flor_project_set_timeout(p, 0.2), 0);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_EQ_INT(flor_project_query(p, FOREVER, &t), FLOR_EBUSY);
    CHECK(since(&t0) < 3.0);
    CHECK_EQ_STR(flor_errmsg(), "query timed out after 0.2 s");
    CHECK(t == NULL);
    CHECK_EQ_INT(flor_project_query(p, "SELECT 7", &t), 0);
    CHECK_EQ_INT(t ? flor_table_int(t, 0, 0) : -1, 7);
    flor_table_free(t);
    flor_project_free(p);
    scratch_remove();
}

static void *interrupt_soon(void *arg)
{
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    flor_project_interrupt(arg);
    return NULL;
}

static void test_a_query_stops_when_interrupted(void)
{
    flor_project *p = new_db_project();
    CHECK(p != NULL);
    if (!p)
        return;
    flor_table *t = NULL;
    pthread_t th;
    pthread_create(&th, NULL, interrupt_soon, p);
    CHECK_EQ_INT(flor_project_query(p, FOREVER, &t), FLOR_EBUSY);
    pthread_join(th, NULL);
    CHECK_EQ_STR(flor_errmsg(), "query interrupted");
    flor_project_free(p);
    scratch_remove();
}

static void test_a_condition_stays_inside_its_parentheses(void)
{
    static const char *const good[] = {
        "lr < 0.01",
        "name = 'a)b' AND x = \"we;ird\"",
        "(a = 1) OR (b IN (1, 2))",
        "note = 'it''s (' -- a comment with ) and ;\n",
        "[odd)name] = 1 /* ) */",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        int rc = flor_sql_condition_check(good[i]);
        if (rc)
            printf("    refused: %s: %s\n", good[i], flor_errmsg());
        CHECK_EQ_INT(rc, 0);
    }
    static const struct {
        const char *cond, *msg;
    } bad[] = {
        {"1=1) OR (1=1", "closes a parenthesis it did not open"},
        {"1; DROP TABLE runs", "holds ';'"},
        {"(lr < 1", "leaves 1 parenthesis open"},
        {"name = 'abc", "' that is never closed"},
        {"1 /* x", "/* comment that is never closed"},
        {"", "is empty"},
        {" -- nothing\n", "is empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_EQ_INT(flor_sql_condition_check(bad[i].cond), FLOR_EINVAL);
        if (!strstr(flor_errmsg(), bad[i].msg))
            printf("    %s: %s\n", bad[i].cond, flor_errmsg());
        CHECK(strstr(flor_errmsg(), bad[i].msg) != NULL);
    }
    CHECK_EQ_INT(flor_sql_condition_check(NULL), FLOR_EINVAL);
}

int main(void)
{
    setenv("FLOR_QUIET", "1", 1);
    RUN(test_an_empty_database_is_reported_and_never_recreated);
    RUN(test_a_bad_header_and_a_short_file_are_named);
    RUN(test_a_missing_database_is_created_only_when_asked);
    RUN(test_processes_creating_one_database_at_once_all_succeed);
    RUN(test_a_query_cannot_write_attach_or_change_settings);
    RUN(test_a_query_stops_at_its_time_limit);
    RUN(test_a_query_stops_when_interrupted);
    RUN(test_a_condition_stays_inside_its_parentheses);
    return check_summary();
}
