/*
 * test_table.c -- the flor_table builder and accessors, and the pivot of
 * flor_project_dataframe() over hand-written databases: args, logs
 * outside loops, loop coordinates, outer merges with NULL keys, and the
 * errors.
 */
#include "check.h"
#include "internal.h"
#include "scratch_project.h"

#include <stdlib.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------- */

/* The table as CSV-like text: NULL empty, reals as %g with an 'r' suffix
 * (so types show), text in quotes. */
static char *render(const flor_table *t)
{
    flor__buf b = {0};
    for (size_t c = 0; c < flor_table_ncols(t); c++)
        flor__buf_printf(&b, "%s%s", c ? "," : "", flor_table_colname(t, c));
    flor__buf_puts(&b, "\n");
    for (size_t r = 0; r < flor_table_nrows(t); r++) {
        for (size_t c = 0; c < flor_table_ncols(t); c++) {
            if (c)
                flor__buf_puts(&b, ",");
            switch (flor_table_type(t, r, c)) {
            case FLOR_INTEGER:
                flor__buf_printf(&b, "%lld", (long long)flor_table_int(t, r, c));
                break;
            case FLOR_REAL:
                flor__buf_printf(&b, "%gr", flor_table_real(t, r, c));
                break;
            case FLOR_TEXT:
                flor__buf_printf(&b, "'%s'", flor_table_text(t, r, c));
                break;
            default:
                break;
            }
        }
        flor__buf_puts(&b, "\n");
    }
    return b.p;
}

/* Run ID with tstamp T and the given args, written as SQL values. */
static void add_run(flor_project *p, int id, const char *args_sql)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO runs(run_id, projid, tstamp, filename, argv, host, pid, start_time)"
             " VALUES (%d, 'proj', '2024-01-01T00:00:0%d', 'train', '[]', 'h', 1, 0);%s",
             id, id, args_sql);
    exec(p, sql);
}

static char *dataframe(flor_project *p, const char *const *names, size_t n, int *rc)
{
    flor_table *t = NULL;
    *rc = flor_project_dataframe(p, names, n, &t);
    char *s = t ? render(t) : NULL;
    flor_table_free(t);
    return s;
}

#define FIX "projid,tstamp,filename"
#define R1 "'proj','2024-01-01T00:00:01','train'"
#define R2 "'proj','2024-01-01T00:00:02','train'"

/* ---- the table builder --------------------------------------------------- */

static void test_table_builder(void)
{
    const char *names[] = {"a", NULL, "c"};
    flor_table *t = flor__table_new(3, names);
    CHECK(t != NULL);
    CHECK_EQ_INT(flor_table_ncols(t), 3);
    CHECK_EQ_STR(flor_table_colname(t, 1), "");
    CHECK(flor_table_colname(t, 3) == NULL);
    for (int i = 0; i < 1000; i++) {
        size_t r = flor__table_add_row(t);
        CHECK_EQ_INT(r, i);
        *flor__table_cell(t, r, 0) = (flor__cell){.type = FLOR_INTEGER, .v.i = i};
        *flor__table_cell(t, r, 1) = (flor__cell){.type = FLOR_REAL, .v.r = i / 4.0};
        CHECK_EQ_INT(flor__table_set_text(t, r, 2, "first"), 0);
        CHECK_EQ_INT(flor__table_set_text(t, r, 2, i % 2 ? "odd" : NULL), 0);
    }
    CHECK_EQ_INT(flor_table_nrows(t), 1000);
    CHECK_EQ_INT(flor_table_int(t, 999, 0), 999);
    CHECK(flor_table_real(t, 999, 1) == 249.75);
    CHECK_EQ_STR(flor_table_text(t, 999, 2), "odd");
    CHECK_EQ_INT(flor_table_type(t, 998, 2), FLOR_NULL);
    /* wrong type or out of range: the zero of the asked type */
    CHECK_EQ_INT(flor_table_int(t, 5, 1), 0);
    CHECK(flor_table_real(t, 5, 0) == 0.0);
    CHECK(flor_table_text(t, 5, 0) == NULL);
    CHECK_EQ_INT(flor_table_type(t, 1000, 0), FLOR_NULL);
    CHECK_EQ_INT(flor_table_type(t, 0, 3), FLOR_NULL);
    CHECK(flor__table_cell(t, 1000, 0) == NULL);
    CHECK_EQ_INT(flor__table_set_text(t, 0, 3, "x"), FLOR_EINVAL);
    flor_table_free(t);
    flor_table_free(NULL);
    CHECK_EQ_INT(flor_table_ncols(NULL), 0);
}

static void test_table_from_stmt(void)
{
    sqlite3 *db;
    CHECK_EQ_INT(sqlite3_open(":memory:", &db), SQLITE_OK);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db,
                       "SELECT 1 AS i, 2.5 AS r, 'x,y' AS t, NULL AS n, x'00ff' AS b "
                       "UNION ALL SELECT -7, 1e300, '', 3, NULL",
                       -1, &st, NULL);
    flor_table *t = NULL;
    CHECK_EQ_INT(flor__table_from_stmt(st, &t), 0);
    sqlite3_finalize(st);
    char *s = render(t);
    CHECK_EQ_STR(s, "i,r,t,n,b\n1,2.5r,'x,y',,'X'00FF''\n-7,1e+300r,'',3,\n");
    free(s);
    flor_table_free(t);

    /* an error while stepping is reported, with no table */
    sqlite3_prepare_v2(db, "SELECT abs(-9223372036854775807 - 1)", -1, &st, NULL);
    t = (flor_table *)1;
    CHECK(flor__table_from_stmt(st, &t) < 0);
    CHECK(t == NULL);
    CHECK(strstr(flor_errmsg(), "integer overflow") != NULL);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* ---- dataframe with no names ------------------------------------------------ */

static void test_runs_view(void)
{
    flor_project *p = new_project();
    add_run(p, 1, "INSERT INTO args VALUES (1,'lr',0.5,0,0),(1,'epochs',2,1,1);");
    add_run(p, 2, "INSERT INTO args VALUES (2,'lr',0.25,0,0),(2,'opt','adam',0,1),"
                  "(2,'epochs',3,0,2);");
    exec(p, "INSERT INTO loops(run_id, ctx_id, parent_ctx_id, name, iteration) VALUES (1,1,NULL,'epoch',0);"
            "INSERT INTO logs(run_id, ctx_id, name, value) VALUES"
            " (1,NULL,'final',10),(1,NULL,'final',11),(1,1,'loss',9.5),"
            " (1,NULL,'lr',99),(2,NULL,'note','ok'),(2,NULL,'final',2.5)");
    int rc;
    char *s = dataframe(p, NULL, 0, &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_STR(s, FIX ",lr,epochs,opt,final,note\n"
                    R1 ",0.5r,2,,11,\n"
                    R2 ",0.25r,3,'adam',2.5r,'ok'\n");
    free(s);
    free_project(p);
}

static void test_no_runs(void)
{
    flor_project *p = new_project();
    int rc;
    char *s = dataframe(p, NULL, 0, &rc);
    CHECK_EQ_INT(rc, FLOR_ENOTFOUND);
    CHECK(s == NULL);
    CHECK_EQ_STR(flor_errmsg(), "no runs recorded in project 'proj' yet");
    free_project(p);
}

/* ---- dataframe with names ----------------------------------------------------- */

/* Run 1: 2 epochs of 2 steps; loss per step, acc per epoch. */
static void add_epochs(flor_project *p)
{
    add_run(p, 1, "INSERT INTO args VALUES (1,'lr',0.5,0,0);");
    exec(p, "INSERT INTO loops(run_id, ctx_id, parent_ctx_id, name, iteration) VALUES (1,1,NULL,'epoch',0),(1,2,1,'step',0),(1,3,1,'step',1),"
            " (1,4,NULL,'epoch',1),(1,5,4,'step',0),(1,6,4,'step',1);"
            "INSERT INTO logs(run_id, ctx_id, name, value) VALUES"
            " (1,2,'loss',4),(1,3,'loss',3.5),(1,1,'acc',0.25),"
            " (1,5,'loss',3),(1,6,'loss',2.5),(1,4,'acc',0.5)");
}

static void test_names_one(void)
{
    flor_project *p = new_project();
    add_epochs(p);
    const char *names[] = {"acc"};
    int rc;
    char *s = dataframe(p, names, 1, &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_STR(s, FIX ",lr,epoch,acc\n" R1 ",0.5r,0,0.25r\n" R1 ",0.5r,1,0.5r\n");
    free(s);
    free_project(p);
}

static void test_names_merge_broadcast(void)
{
    flor_project *p = new_project();
    add_epochs(p);
    const char *names[] = {"acc", "loss", "acc"};
    int rc;
    char *s = dataframe(p, names, 3, &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_STR(s, FIX ",lr,epoch,step,acc,loss\n"
                    R1 ",0.5r,0,0,0.25r,4\n"
                    R1 ",0.5r,0,1,0.25r,3.5r\n"
                    R1 ",0.5r,1,0,0.5r,3\n"
                    R1 ",0.5r,1,1,0.5r,2.5r\n");
    free(s);
    free_project(p);
}

/* A name logged outside loops in one run and per epoch in another: NULL
 * coordinates sort first, and match NULL coordinates in the merge. */
static void test_names_null_keys(void)
{
    flor_project *p = new_project();
    add_epochs(p);
    add_run(p, 2, "");
    exec(p, "INSERT INTO logs(run_id, ctx_id, name, value) VALUES"
            " (2,NULL,'acc',0.75),(2,NULL,'loss','nan?'),(2,NULL,'loss','last'),"
            " (1,NULL,'loss',1)");
    const char *names[] = {"loss", "acc"};
    int rc;
    char *s = dataframe(p, names, 2, &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_STR(s, FIX ",lr,epoch,step,loss,acc\n"
                    R1 ",0.5r,,,1,\n"
                    R1 ",0.5r,0,0,4,0.25r\n"
                    R1 ",0.5r,0,1,3.5r,0.25r\n"
                    R1 ",0.5r,1,0,3,0.5r\n"
                    R1 ",0.5r,1,1,2.5r,0.5r\n"
                    R2 ",,,,'last',0.75r\n");
    free(s);
    free_project(p);
}

/* Names in unrelated loops share only the run: pandas' outer merge then
 * pairs every row of one with every row of the other, per run. */
static void test_names_disjoint_loops(void)
{
    flor_project *p = new_project();
    add_run(p, 1, "");
    exec(p, "INSERT INTO loops(run_id, ctx_id, parent_ctx_id, name, iteration) VALUES (1,1,NULL,'phase',0),(1,2,NULL,'phase',1),"
            " (1,3,NULL,'batch',0),(1,4,3,'inner',5);"
            "INSERT INTO logs(run_id, ctx_id, name, value) VALUES"
            " (1,1,'a',10),(1,2,'a',11),(1,4,'b','x'),(1,99,'b','lost ctx')");
    const char *names[] = {"b", "a"};
    int rc;
    char *s = dataframe(p, names, 2, &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_STR(s, FIX ",batch,phase,inner,b,a\n"
                    R1 ",,0,,'lost ctx',10\n"
                    R1 ",,1,,'lost ctx',11\n"
                    R1 ",0,0,5,'x',10\n"
                    R1 ",0,1,5,'x',11\n");
    free(s);
    free_project(p);
}

/* A hyperparameter can be asked for by name; its arg column gives way. */
static void test_names_arg(void)
{
    flor_project *p = new_project();
    add_epochs(p);
    const char *names[] = {"acc", "lr"};
    int rc;
    char *s = dataframe(p, names, 2, &rc);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_STR(s, FIX ",epoch,acc,lr\n" R1 ",0,0.25r,0.5r\n" R1 ",1,0.5r,0.5r\n");
    free(s);
    free_project(p);
}

static void test_names_errors(void)
{
    flor_project *p = new_project();
    add_epochs(p);
    const char *names[] = {"acc", "los"};
    int rc;
    char *s = dataframe(p, names, 2, &rc);
    CHECK_EQ_INT(rc, FLOR_ENOTFOUND);
    CHECK(s == NULL);
    CHECK_EQ_STR(flor_errmsg(), "no logs named 'los' in project 'proj'");
    const char *empty[] = {""};
    s = dataframe(p, empty, 1, &rc);
    CHECK_EQ_INT(rc, FLOR_EINVAL);
    CHECK(s == NULL);
    free_project(p);
}

/* Many rows, with b's logs written in reverse order of epochs, read
 * through the index or (when they are most of the logs) by a scan; the
 * merge sorts what needs it, and the result is by run, then epoch. */
static void check_large(int filler)
{
    flor_project *p = new_project();
    exec(p, "BEGIN");
    char sql[512];
    for (int r = 3; r >= 1; r--) {
        add_run(p, r, "");
        for (int e = 0; e < 300; e++) {
            snprintf(sql, sizeof sql,
                     "INSERT INTO loops(run_id, ctx_id, parent_ctx_id, name, iteration) VALUES (%d,%d,NULL,'epoch',%d);"
                     "INSERT INTO logs(run_id, ctx_id, name, value) VALUES (%d,%d,'a',%d)",
                     r, 1000 - e, e, r, 1000 - e, r * 1000 + e);
            exec(p, sql);
        }
        for (int e = 299; e >= 0; e--) {
            snprintf(sql, sizeof sql,
                     "INSERT INTO logs(run_id, ctx_id, name, value) VALUES (%d,%d,'b',%d.5)", r,
                     1000 - e, e);
            exec(p, sql);
        }
    }
    for (int i = 0; i < filler; i++)
        exec(p, "INSERT INTO logs(run_id, ctx_id, name, value) VALUES (1,NULL,'z',0)");
    exec(p, "COMMIT");
    const char *names[] = {"a", "b"};
    flor_table *t = NULL;
    CHECK_EQ_INT(flor_project_dataframe(p, names, 2, &t), 0);
    CHECK_EQ_INT(flor_table_nrows(t), 900);
    CHECK_EQ_INT(flor_table_ncols(t), 6);
    int ok = 1;
    for (size_t i = 0; i < 900; i++) {
        int64_t run = (int64_t)i / 300 + 1, e = (int64_t)i % 300;
        ok &= strcmp(flor_table_text(t, i, 1), run == 1   ? "2024-01-01T00:00:01"
                                               : run == 2 ? "2024-01-01T00:00:02"
                                                          : "2024-01-01T00:00:03") == 0;
        ok &= flor_table_int(t, i, 3) == e;
        ok &= flor_table_int(t, i, 4) == run * 1000 + e;
        ok &= flor_table_real(t, i, 5) == (double)e + 0.5;
    }
    CHECK(ok);
    flor_table_free(t);
    free_project(p);
}

static void test_names_large_scan(void) { check_large(0); }
static void test_names_large_index(void) { check_large(10000); }

int main(void)
{
    setenv("FLOR_QUIET", "1", 1);
    RUN(test_table_builder);
    RUN(test_table_from_stmt);
    RUN(test_runs_view);
    RUN(test_no_runs);
    RUN(test_names_one);
    RUN(test_names_merge_broadcast);
    RUN(test_names_null_keys);
    RUN(test_names_disjoint_loops);
    RUN(test_names_arg);
    RUN(test_names_errors);
    RUN(test_names_large_scan);
    RUN(test_names_large_index);
    return check_summary();
}
