/*
 * test_series.c -- flor_project_series() over hand-written databases:
 * every value of a name logged inside loops, run after run, each run's in
 * the order of its contexts, exactly as stored (integers converted, NaN
 * and text as NaN), hindsight values flagged; the runs and the condition
 * that select them; a callback that stops the read; the errors; and
 * flor_project_version(), which tells a reader keeping answers that they
 * may have changed.
 */
#include "check.h"
#include "internal.h"
#include "scratch_project.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

static void add_run(flor_project *p, int id, const char *filename)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO runs(run_id, projid, tstamp, filename, argv, host, pid, start_time)"
             " VALUES (%d, 'proj', '2024-01-01T00:00:0%d', '%s', '[]', 'h', 1, 0)",
             id, id, filename);
    exec(p, sql);
}

/* What the callback was handed. */
typedef struct seen {
    flor_point *pt;
    size_t n, cap;
    size_t stop_after; /* 0: never stop */
} seen;

static int collect(void *arg, const flor_point *pt)
{
    seen *s = arg;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->pt = realloc(s->pt, s->cap * sizeof *s->pt);
        if (!s->pt)
            abort();
    }
    s->pt[s->n++] = *pt;
    return s->stop_after && s->n == s->stop_after ? 42 : 0;
}

static int same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

static void test_values_in_loop_order_exactly_as_stored(void)
{
    flor_project *p = new_project();
    add_run(p, 1, "train");
    add_run(p, 2, "train");
    exec(p, "INSERT INTO logs(run_id, ctx_id, name, value) VALUES"
            " (1, 1, 'loss', 0.1), (1, 2, 'loss', 3), (1, 3, 'loss', 'NaN'),"
            " (1, 4, 'loss', 'not a number'), (1, 5, 'loss', 1e-300),"
            " (1, NULL, 'loss', 99.0),"          /* outside loops: not in the series */
            " (1, 1, 'acc', 0.5),"               /* another name */
            " (2, 1, 'loss', 0.30000000000000004);"
            "INSERT INTO logs(run_id, ctx_id, name, value, source) VALUES"
            " (2, 2, 'loss', 2.5, 'replay')");
    seen s = {0};
    CHECK_EQ_INT(flor_project_series(p, "loss", NULL, 0, NULL, collect, &s), 0);
    CHECK_EQ_INT(s.n, 7);
    static const int64_t run[] = {1, 1, 1, 1, 1, 2, 2}, pos[] = {0, 1, 2, 3, 4, 0, 1},
                         ctx[] = {1, 2, 3, 4, 5, 1, 2};
    for (size_t i = 0; i < s.n && i < 7; i++) {
        CHECK_EQ_INT(s.pt[i].run, run[i]);
        CHECK_EQ_INT(s.pt[i].position, pos[i]);
        CHECK_EQ_INT(s.pt[i].ctx, ctx[i]);
        CHECK_EQ_INT(s.pt[i].hindsight, i == 6);
    }
    CHECK(same_bits(s.pt[0].value, 0.1));
    CHECK(same_bits(s.pt[1].value, 3.0));
    CHECK(isnan(s.pt[2].value) && isnan(s.pt[3].value));
    CHECK(same_bits(s.pt[4].value, 1e-300));
    CHECK(same_bits(s.pt[5].value, 0.30000000000000004));
    CHECK(same_bits(s.pt[6].value, 2.5));
    /* a name never logged inside a loop: nothing, and no error */
    s.n = 0;
    CHECK_EQ_INT(flor_project_series(p, "acc2", NULL, 0, NULL, collect, &s), 0);
    CHECK_EQ_INT(s.n, 0);
    free(s.pt);
    free_project(p);
}

static void test_a_run_written_out_of_order_is_handed_in_context_order(void)
{
    flor_project *p = new_project();
    add_run(p, 1, "train");
    /* a replay's segments wrote contexts 3-4 before 1; context 2 holds
     * two recorded values, which keep the order they were written in */
    exec(p, "INSERT INTO logs(run_id, ctx_id, name, value, source) VALUES"
            " (1, 3, 'v', 30, 'replay'), (1, 4, 'v', 40, 'replay'),"
            " (1, 2, 'v', 20, 'record'), (1, 1, 'v', 10, 'replay'), (1, 2, 'v', 21, 'record')");
    seen s = {0};
    CHECK_EQ_INT(flor_project_series(p, "v", NULL, 0, NULL, collect, &s), 0);
    static const double want[] = {10, 20, 21, 30, 40};
    CHECK_EQ_INT(s.n, 5);
    for (size_t i = 0; i < s.n && i < 5; i++) {
        CHECK(s.pt[i].value == want[i]);
        CHECK_EQ_INT(s.pt[i].position, i);
        CHECK_EQ_INT(s.pt[i].hindsight, i != 1 && i != 2);
    }
    free(s.pt);
    free_project(p);
}

static void test_the_runs_and_the_condition_select_the_runs(void)
{
    flor_project *p = new_project();
    add_run(p, 1, "a.py");
    add_run(p, 2, "b.py");
    add_run(p, 3, "b.py");
    exec(p, "INSERT INTO logs(run_id, ctx_id, name, value) VALUES"
            " (1, 1, 'x', 1), (2, 1, 'x', 2), (3, 1, 'x', 3)");
    seen s = {0};
    const int64_t runs[] = {3, 1};
    CHECK_EQ_INT(flor_project_series(p, "x", runs, 2, NULL, collect, &s), 0);
    CHECK_EQ_INT(s.n, 2);
    CHECK(s.n == 2 && s.pt[0].run == 1 && s.pt[1].run == 3);
    s.n = 0;
    CHECK_EQ_INT(flor_project_series(p, "x", NULL, 0, "filename = 'b.py'", collect, &s), 0);
    CHECK(s.n == 2 && s.pt[0].run == 2 && s.pt[1].run == 3);
    s.n = 0;
    CHECK_EQ_INT(flor_project_series(p, "x", runs, 2, "filename = 'b.py'", collect, &s), 0);
    CHECK(s.n == 1 && s.pt[0].run == 3 && s.pt[0].value == 3);
    free(s.pt);
    free_project(p);
}

static void test_the_callback_stops_the_read(void)
{
    flor_project *p = new_project();
    add_run(p, 1, "train");
    add_run(p, 2, "train");
    exec(p, "INSERT INTO logs(run_id, ctx_id, name, value) VALUES"
            " (1, 1, 'x', 1), (1, 2, 'x', 2), (2, 1, 'x', 3)");
    seen s = {.stop_after = 2};
    CHECK_EQ_INT(flor_project_series(p, "x", NULL, 0, NULL, collect, &s), 42);
    CHECK_EQ_INT(s.n, 2);
    free(s.pt);
    free_project(p);
}

/* The I-th of a sequence of doubles of every magnitude (random bits; I
 * itself where they make no finite number), from the state *X. */
static double next_value(uint64_t *x, int i)
{
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    double v;
    memcpy(&v, x, sizeof v);
    return isfinite(v) ? v : (double)i;
}

/* Many values: every one handed back bit for bit, and an interrupted
 * read fails with FLOR_EBUSY. */
static void test_a_large_series_is_exact_and_can_be_interrupted(void)
{
    enum { N = 200000 };
    flor_project *p = new_project();
    add_run(p, 1, "train");
    sqlite3_stmt *st;
    exec(p, "BEGIN");
    CHECK(sqlite3_prepare_v2(p->db, "INSERT INTO logs(run_id, ctx_id, name, value)"
                                    " VALUES (1, ?, 'loss', ?)", -1, &st, NULL) == SQLITE_OK);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < N; i++) {
        sqlite3_bind_int(st, 1, i + 1);
        sqlite3_bind_double(st, 2, next_value(&x, i));
        CHECK(sqlite3_step(st) == SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    exec(p, "COMMIT");
    seen s = {0};
    CHECK_EQ_INT(flor_project_series(p, "loss", NULL, 0, NULL, collect, &s), 0);
    CHECK_EQ_INT(s.n, N);
    x = 0x9e3779b97f4a7c15ull;
    size_t bad = 0;
    for (int i = 0; i < N && (size_t)i < s.n; i++) {
        double v = next_value(&x, i);
        bad += !same_bits(s.pt[i].value, v) || s.pt[i].position != i;
    }
    CHECK_EQ_INT(bad, 0);
    flor_project_interrupt(p);
    s.n = 0;
    CHECK_EQ_INT(flor_project_series(p, "loss", NULL, 0, NULL, collect, &s), FLOR_EBUSY);
    CHECK_EQ_STR(flor_errmsg(), "query interrupted");
    CHECK_EQ_INT(s.n, 0);
    free(s.pt);
    free_project(p);
}

static void test_errors_name_what_is_wrong(void)
{
    flor_project *p = new_project();
    add_run(p, 1, "train");
    seen s = {0};
    CHECK_EQ_INT(flor_project_series(p, "", NULL, 0, NULL, collect, &s), FLOR_EINVAL);
    CHECK(strstr(flor_errmsg(), "expected a project, a name") != NULL);
    CHECK_EQ_INT(flor_project_series(p, "x", NULL, 0, NULL, NULL, &s), FLOR_EINVAL);
    CHECK_EQ_INT(flor_project_series(p, "x", NULL, 3, NULL, collect, &s), FLOR_EINVAL);
    CHECK_EQ_INT(flor_project_series(p, "x", NULL, 0, "1) OR (1", collect, &s), FLOR_EINVAL);
    CHECK(strstr(flor_errmsg(), "closes a parenthesis") != NULL);
    CHECK_EQ_INT(flor_project_series(p, "x", NULL, 0, "no_such_column = 1", collect, &s),
                 FLOR_EINVAL);
    CHECK(strstr(flor_errmsg(), "invalid condition on runs: no such column: no_such_column") !=
          NULL);
    CHECK_EQ_INT(flor_project_series(p, "x", NULL, 0, "load_extension('x') IS NULL", collect, &s),
                 FLOR_EINVAL);
    CHECK_EQ_INT(s.n, 0);
    free_project(p);
}

/* Runs SQL on a connection of its own, as another process would. */
static void exec_elsewhere(const char *sql)
{
    char path[128];
    snprintf(path, sizeof path, "%s/flor.db", scratch_dir);
    sqlite3 *db = NULL;
    CHECK_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    CHECK_EQ_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void test_the_version_changes_with_every_commit_and_only_then(void)
{
    flor_project *p = new_project();
    add_run(p, 1, "train");
    uint64_t v0, v1, v2, v3, v4;
    CHECK_EQ_INT(flor_project_version(p, &v0), 0);
    /* reads change nothing */
    seen s = {0};
    CHECK_EQ_INT(flor_project_series(p, "loss", NULL, 0, NULL, collect, &s), 0);
    flor_table *t = NULL;
    CHECK_EQ_INT(flor_project_query(p, "SELECT count(*) FROM logs", &t), 0);
    flor_table_free(t);
    CHECK_EQ_INT(flor_project_version(p, &v1), 0);
    CHECK(v1 == v0);
    /* another connection's commit (a run recording in another process) */
    exec_elsewhere("INSERT INTO logs(run_id, ctx_id, name, value) VALUES (1, 1, 'loss', 0.5)");
    CHECK_EQ_INT(flor_project_version(p, &v2), 0);
    CHECK(v2 != v1);
    CHECK_EQ_INT(flor_project_version(p, &v3), 0);
    CHECK(v3 == v2);
    /* this handle's own write */
    exec(p, "INSERT INTO logs(run_id, ctx_id, name, value) VALUES (1, 2, 'loss', 0.25)");
    CHECK_EQ_INT(flor_project_version(p, &v4), 0);
    CHECK(v4 != v3 && v4 != v2);
    /* a transaction rolled back elsewhere changes nothing */
    exec_elsewhere("BEGIN; DELETE FROM logs; ROLLBACK");
    CHECK_EQ_INT(flor_project_version(p, &v0), 0);
    CHECK(v0 == v4);
    CHECK_EQ_INT(flor_project_version(NULL, &v0), FLOR_EINVAL);
    CHECK_EQ_INT(flor_project_version(p, NULL), FLOR_EINVAL);
    CHECK(strstr(flor_errmsg(), "flor_project_version: expected a project") != NULL);
    free(s.pt);
    free_project(p);
}

int main(void)
{
    RUN(test_values_in_loop_order_exactly_as_stored);
    RUN(test_a_run_written_out_of_order_is_handed_in_context_order);
    RUN(test_the_runs_and_the_condition_select_the_runs);
    RUN(test_the_callback_stops_the_read);
    RUN(test_a_large_series_is_exact_and_can_be_interrupted);
    RUN(test_errors_name_what_is_wrong);
    RUN(test_the_version_changes_with_every_commit_and_only_then);
    return check_summary();
}
