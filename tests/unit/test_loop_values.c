/*
 * test_loop_values.c -- the value of a loop's iteration (schema version 5,
 * loops.value): recorded with its type through flor_loop_value_*, shown by
 * the dataframe in the loop's column, and kept when a version 4 database is
 * migrated or read as it is.
 *
 * A process records at most one run, so each case forks a child that
 * records into a fresh project; the parent reads the database back.
 */
#include "check.h"
#include "internal.h"

#include <sys/wait.h>
#include <unistd.h>

static char project[256];

static void new_project(void) { check_scratch_dir(project, sizeof project, "values", 0); }

static int in_child(int (*body)(void))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (chdir(project) != 0)
            _exit(99);
        exit(body());
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

/* The first column of the first row of SQL on DB, as text ("" for NULL). */
static char result[4096];
static const char *q_on(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    snprintf(result, sizeof result, "none");
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        snprintf(result, sizeof result, "sql error: %s", sqlite3_errmsg(db));
    else if (sqlite3_step(st) == SQLITE_ROW) {
        const char *s = (const char *)sqlite3_column_text(st, 0);
        snprintf(result, sizeof result, "%s", s ? s : "");
    }
    sqlite3_finalize(st);
    return result;
}

/* Cell (ROW, COL) of T, an integer, as a number (-1 when not one). */
static long long cell(const flor_table *t, size_t row, size_t col)
{
    return t && flor_table_type(t, row, col) == FLOR_INTEGER ? (long long)flor_table_int(t, row, col)
                                                             : -1;
}

static const char *q(const char *sql)
{
    char path[512];
    snprintf(path, sizeof path, "%s/.flor/flor.db", project);
    sqlite3 *db = NULL;
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    q_on(db, sql);
    sqlite3_close(db);
    return result;
}

/* epoch = 1, 2, 3 as the program counts (values), step 0..1 (no value);
 * a phase loop whose values are a text and a real. */
static int body_values(void)
{
    int argc = 1;
    char *args[] = {"prog", NULL}, **argv = args;
    if (flor_init(&argc, &argv) != 0)
        return 30;
    flor_loop e = flor_loop_begin("epoch", 3);
    long i;
    while (flor_loop_next(&e, &i)) {
        if (flor_loop_value_int64(&e, i + 1) != 0)
            return 31;
        FLOR_LOOP(step, "step", 2)
            flor_log_int64("loss", (int64_t)(10 * (i + 1) + step));
        flor_log_double("acc", (double)(i + 1) / 10);
        /* the iteration has logged: its value can no longer be given */
        if (flor_loop_value_int64(&e, 99) != FLOR_EUSAGE)
            return 32;
    }
    flor_loop_end(&e);
    flor_loop p = flor_loop_begin("phase", 2);
    while (flor_loop_next(&p, &i)) {
        if ((i == 0 ? flor_loop_value_text(&p, "warmup") : flor_loop_value_double(&p, 0.5)) != 0)
            return 33;
        flor_log_int64("seen", i);
    }
    flor_loop_end(&p);
    return flor_finish();
}

static void test_loop_values_are_recorded_with_their_type(void)
{
    new_project();
    CHECK_EQ_INT(in_child(body_values), 0);
    CHECK_EQ_STR(q("SELECT group_concat(name || iteration || '=' || ifnull(value, '-') || ':' ||"
                   " typeof(value), ' ') FROM (SELECT * FROM loops ORDER BY ctx_id)"),
                 "epoch0=1:integer step0=-:null step1=-:null epoch1=2:integer step0=-:null "
                 "step1=-:null epoch2=3:integer step0=-:null step1=-:null phase0=warmup:text "
                 "phase1=0.5:real");
    check_remove_dir(project);
}

/* The dataframe's epoch column holds the values 1..3; step, which has no
 * value, its index; phase, whose values are not integers, its index. */
static void test_the_dataframe_shows_integer_values_else_the_index(void)
{
    new_project();
    CHECK_EQ_INT(in_child(body_values), 0);
    char old[512];
    CHECK(getcwd(old, sizeof old) != NULL);
    CHECK(chdir(project) == 0);
    flor_project *p = NULL;
    flor_table *t = NULL;
    const char *names[] = {"loss"};
    CHECK_EQ_INT(flor_project_open(&p, NULL), 0);
    CHECK_EQ_INT(flor_project_dataframe(p, names, 1, &t), 0);
    char got[512] = "";
    size_t n = 0;
    for (size_t r = 0; t && r < flor_table_nrows(t); r++)
        n += (size_t)snprintf(got + n, sizeof got - n, "%s%lld/%lld=%lld", r ? " " : "",
                              cell(t, r, 3), cell(t, r, 4), cell(t, r, 5));
    CHECK_EQ_STR(got, "1/0=10 1/1=11 2/0=20 2/1=21 3/0=30 3/1=31");
    flor_table_free(t);
    const char *seen[] = {"seen"};
    CHECK_EQ_INT(flor_project_dataframe(p, seen, 1, &t), 0);
    CHECK_EQ_STR(t ? flor_table_colname(t, 3) : "", "phase");
    CHECK_EQ_INT(cell(t, 1, 3), 1);
    flor_table_free(t);
    flor_project_free(p);
    CHECK(chdir(old) == 0);
    check_remove_dir(project);
}

/* A version 4 file (loops without value): a read-only open reads it as
 * it is, values NULL; the next run migrates it to version 5 in place,
 * every old row kept with value NULL, and records values from then on. */
static void test_a_version_4_database_is_read_as_it_is_then_migrated(void)
{
    new_project();
    CHECK_EQ_INT(in_child(body_values), 0);
    char path[512], datadir[512];
    snprintf(path, sizeof path, "%s/.flor/flor.db", project);
    snprintf(datadir, sizeof datadir, "%s/.flor", project);
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(db, "ALTER TABLE loops DROP COLUMN value;"
                                  "ALTER TABLE superseded_loops DROP COLUMN value;"
                                  "UPDATE meta SET value=4 WHERE key='schema_version'",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(db);
    CHECK_EQ_STR(q("SELECT count(*) FROM pragma_table_info('loops') WHERE name='value'"), "0");

    sqlite3 *ro = NULL;
    CHECK_EQ_INT(flor__db_open(datadir, 0, 1, &ro), 0);
    CHECK_EQ_STR(q_on(ro, "SELECT count(*) || ':' || count(value) FROM loops"), "11:0");
    /* and so do the query connection's FlorDB views */
    CHECK_EQ_INT(flor__records_flordb_views(ro), 0);
    CHECK_EQ_STR(q_on(ro, "SELECT count(*) || ':' || count(loop_value) || ':' ||"
                          " max(loop_iteration) FROM loops"),
                 "11:0:3");
    sqlite3_close(ro);
    CHECK_EQ_STR(q("SELECT value FROM meta WHERE key='schema_version'"), "4");

    CHECK_EQ_INT(in_child(body_values), 0); /* the next run migrates */
    CHECK_EQ_STR(q("SELECT value FROM meta WHERE key='schema_version'"), "5");
    CHECK_EQ_STR(q("SELECT count(*) || ':' || count(value) FROM loops WHERE run_id = 1"), "11:0");
    CHECK_EQ_STR(q("SELECT group_concat(value) FROM loops WHERE run_id = 2 AND name = 'epoch'"),
                 "1,2,3");
    CHECK_EQ_STR(q("SELECT count(*) FROM logs WHERE run_id = 1"), "11");
    CHECK_EQ_STR(q("SELECT count(*) FROM pragma_table_info('superseded_loops') WHERE"
                   " name='value'"), "1");
    /* the user's queries see both runs, the old one's values NULL */
    char old[512];
    CHECK(getcwd(old, sizeof old) != NULL);
    CHECK(chdir(project) == 0);
    flor_project *p = NULL;
    flor_table *t = NULL;
    CHECK_EQ_INT(flor_project_open(&p, NULL), 0);
    CHECK_EQ_INT(flor_project_query(p, "SELECT count(*), count(loop_value) FROM loops", &t), 0);
    CHECK_EQ_INT(cell(t, 0, 0), 22);
    CHECK_EQ_INT(cell(t, 0, 1), 5);
    flor_table_free(t);
    flor_project_free(p);
    CHECK(chdir(old) == 0);
    check_remove_dir(project);
}

int main(void)
{
    setenv("FLOR_QUIET", "1", 1);
    RUN(test_loop_values_are_recorded_with_their_type);
    RUN(test_the_dataframe_shows_integer_values_else_the_index);
    RUN(test_a_version_4_database_is_read_as_it_is_then_migrated);
    return check_summary();
}
