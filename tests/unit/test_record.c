/*
 * test_record.c -- the record path, end to end through the public API:
 * flor_init's flags, args, loops, logs, run status on every way a process
 * can end, and two processes recording into one project at once.
 *
 * Each case forks a child that records into a fresh project (the atexit
 * and signal paths are the process's); the parent reads the database back.
 */
#include "check.h"
#include "internal.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char project[256];

/* A fresh directory (a git repository when GIT) to record into. */
static void new_project(int git) { check_scratch_dir(project, sizeof project, "unit", git); }

static void remove_project(void) { check_remove_dir(project); }

/* Runs BODY(argc, argv) in a child whose cwd is the project; returns its
 * wait status. */
static int in_child(int (*body)(int, char **), int argc, char **argv)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (chdir(project) != 0)
            _exit(99);
        exit(body(argc, argv));
    }
    int status;
    waitpid(pid, &status, 0);
    return status;
}

static sqlite3 *open_db(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/.flor/flor.db", project);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

/* The first column of the first row of SQL, as text ("" when NULL, "none"
 * when no row). */
static char result[4096];
static const char *q(const char *sql)
{
    sqlite3 *db = open_db();
    snprintf(result, sizeof result, "no database");
    if (!db)
        return result;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(result, sizeof result, "sql error: %s", sqlite3_errmsg(db));
    } else {
        if (sqlite3_step(st) == SQLITE_ROW) {
            const char *s = (const char *)sqlite3_column_text(st, 0);
            snprintf(result, sizeof result, "%s", s ? s : "");
        } else {
            snprintf(result, sizeof result, "none");
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return result;
}

/* ---- flags ---------------------------------------------------------------- */

static int body_flags(int argc, char **argv)
{
    if (flor_init(&argc, &argv) != 0)
        return 10;
    /* the program's own flags stay, in order */
    if (argc != 4 || strcmp(argv[1], "--foo") != 0 || strcmp(argv[2], "bar") != 0 ||
        strcmp(argv[3], "x=1") != 0 || argv[4] != NULL)
        return 11;
    long epochs = flor_arg("epochs", 5L);
    double lr = flor_arg("lr", 1e-3);
    const char *opt = flor_arg("opt", "adam");
    bool amp = flor_arg("amp", (bool)true);
    int hidden = flor_arg("hidden", 500);
    if (epochs != 3 || lr != 0.25 || strcmp(opt, "sgd") != 0 || amp || hidden != 500)
        return 12;
    if (flor_arg("epochs", 9L) != 3) /* a second read returns the same value */
        return 13;
    flor_log("trained", 1);
    return flor_finish();
}

static void test_kwargs_are_applied_stripped_and_recorded(void)
{
    new_project(1);
    char *argv[] = {"prog", "--foo",      "--kwargs", "epochs=3", "lr=0.25",
                    "opt=sgd", "amp=off", "bar",      "x=1",      NULL};
    /* "bar" ends --kwargs (no '='); "x=1" after it belongs to the program */
    int st = in_child(body_flags, 9, argv);
    CHECK(WIFEXITED(st));
    CHECK_EQ_INT(WEXITSTATUS(st), 0);
    CHECK_EQ_STR(q("SELECT group_concat(name || '=' || value || ':' || typeof(value) || ':' || "
                   "from_kwargs, ' ') FROM (SELECT * FROM args ORDER BY ord)"),
                 "epochs=3:integer:1 lr=0.25:real:1 opt=sgd:text:1 amp=0:integer:1 "
                 "hidden=500:integer:0");
    CHECK_EQ_STR(q("SELECT argv FROM runs"),
                 "[\"prog\",\"--foo\",\"--kwargs\",\"epochs=3\",\"lr=0.25\",\"opt=sgd\","
                 "\"amp=off\",\"bar\",\"x=1\"]");
    CHECK_EQ_STR(q("SELECT status || ' ' || filename FROM runs"), "finished prog");
    remove_project();
}

static int body_bad_kwargs(int argc, char **argv)
{
    flor_init(&argc, &argv);
    long e;
    int rc = flor_arg_long("epochs", 5, &e);
    if (rc != FLOR_EINVAL || e != 5)
        return 20;
    if (strcmp(flor_errmsg(), "--kwargs epochs=abc: expected an integer") != 0)
        return 21;
    double lr;
    if (flor_arg_double("lr", 1, &lr) != FLOR_EINVAL ||
        strcmp(flor_errmsg(), "--kwargs lr=1.5x: expected a number") != 0)
        return 22;
    bool b;
    if (flor_arg_bool("amp", 0, &b) != FLOR_EINVAL ||
        strcmp(flor_errmsg(), "--kwargs amp=maybe: expected true or false (or yes, no, 1, 0)") != 0)
        return 23;
    if (flor_arg_error() != NULL)
        return 24; /* the typed forms report through their return value */
    return flor_finish();
}

/* The _Generic form cannot return an error: a value that does not parse
 * ends the program with status 2 before training, never a silent default. */
static int body_bad_kwargs_generic(int argc, char **argv)
{
    flor_init(&argc, &argv);
    long e = flor_arg("epochs", 7L);
    return (int)e; /* not reached */
}

static void test_a_malformed_kwarg_in_the_generic_form_exits_2(void)
{
    new_project(1);
    setenv("FLOR_QUIET", "1", 1);
    char *argv[] = {"prog", "--kwargs", "epochs=abc", NULL};
    int st = in_child(body_bad_kwargs_generic, 3, argv);
    CHECK(WIFEXITED(st));
    CHECK_EQ_INT(WEXITSTATUS(st), 2);
    CHECK_EQ_STR(q("SELECT status || ': ' || reason FROM runs"),
                 "failed: --kwargs epochs=abc: expected an integer");
    /* the override as given was durable before flor_init returned */
    CHECK_EQ_STR(q("SELECT name || '=' || value || ':' || typeof(value) FROM args"),
                 "epochs=abc:text");
    remove_project();
}

static void test_malformed_kwargs_name_the_value_and_the_type(void)
{
    new_project(1);
    setenv("FLOR_QUIET", "1", 1);
    char *argv[] = {"prog", "--kwargs", "epochs=abc", "lr=1.5x", "amp=maybe", NULL};
    int st = in_child(body_bad_kwargs, 5, argv);
    CHECK_EQ_INT(WEXITSTATUS(st), 0);
    remove_project();
}

static int body_init_only(int argc, char **argv)
{
    int rc = flor_init(&argc, &argv);
    if (rc) {
        printf("init: %s\n", flor_errmsg());
        return 30;
    }
    return flor_finish();
}

/* A run that logs one value, so that it is kept (a run that ends before
 * its first log leaves none). */
static int body_init_log(int argc, char **argv)
{
    int rc = flor_init(&argc, &argv);
    if (rc) {
        printf("init: %s\n", flor_errmsg());
        return 30;
    }
    flor_log("x", 1);
    return flor_finish();
}

static void test_kwargs_without_pairs_is_an_error(void)
{
    new_project(1);
    char *argv[] = {"prog", "--kwargs", "--other", NULL};
    int st = in_child(body_init_only, 3, argv);
    CHECK_EQ_INT(WEXITSTATUS(st), 30);
    CHECK_EQ_STR(q("SELECT count(*) FROM runs"), "no database");
    remove_project();
}

/* A run that ends before its first log or loop (a program's --help)
 * leaves no run: no row, no args, not even the --kwargs given. */
static void test_a_run_that_logs_nothing_leaves_no_run(void)
{
    new_project(1);
    char *argv[] = {"prog", "--kwargs", "epochs=3", NULL};
    CHECK_EQ_INT(WEXITSTATUS(in_child(body_init_only, 3, argv)), 0);
    CHECK_EQ_STR(q("SELECT count(*) FROM runs"), "0");
    CHECK_EQ_STR(q("SELECT count(*) FROM args"), "0");
    CHECK_EQ_INT(WEXITSTATUS(in_child(body_init_log, 3, argv)), 0);
    CHECK_EQ_STR(q("SELECT count(*) || ':' || group_concat(status) FROM runs"), "1:finished");
    CHECK_EQ_STR(q("SELECT name || '=' || value FROM args"), "epochs=3");
    remove_project();
}

static void test_unknown_kwargs_are_recorded_as_text(void)
{
    new_project(1);
    char *argv[] = {"prog", "--kwargs", "hiden=75", NULL};
    int st = in_child(body_init_log, 3, argv);
    CHECK_EQ_INT(WEXITSTATUS(st), 0);
    CHECK_EQ_STR(q("SELECT name || '=' || value || ':' || typeof(value) FROM args"),
                 "hiden=75:text");
    remove_project();
}

/* ---- loops and logs ----------------------------------------------------- */

static void inner(long e)
{
    FLOR_LOOP(s, "step", 10) {
        if (s == 2)
            return; /* leaves the loop through a return */
        flor_log("loss", (double)(e * 10 + s) / 4);
    }
}

static int body_loops(int argc, char **argv)
{
    if (flor_init(&argc, &argv) != 0)
        return 40;
    flor_log("before", 1);
    FLOR_LOOP(e, "epoch", 3) {
        inner(e);
        flor_log("acc", (float)e / 2);
        if (e == 1)
            break;
    }
    flor_log("text", "a \"quoted\" value");
    flor_log("big", 1LL << 40);
    flor_loop l = flor_loop_begin("data", -1);
    long i;
    while (flor_loop_next(&l, &i) && i < 2)
        flor_log("seen", i);
    flor_loop_end(&l);
    flor_log("after", 2);
    return flor_finish();
}

static void test_logs_carry_their_loop_context_and_type(void)
{
    new_project(1);
    char *argv[] = {"prog", NULL};
    int st = in_child(body_loops, 1, argv);
    CHECK_EQ_INT(WEXITSTATUS(st), 0);
    /* each log with the path of loop iterations around it */
    CHECK_EQ_STR(
        q("WITH RECURSIVE path(rowid, ctx, p) AS ("
          "  SELECT l.rowid, l.ctx_id, '' FROM logs l"
          "  UNION ALL SELECT path.rowid, lp.parent_ctx_id,"
          "    lp.name || '=' || lp.iteration || (CASE WHEN p = '' THEN '' ELSE ',' END) || p"
          "  FROM path JOIN loops lp ON lp.ctx_id = path.ctx)"
          "SELECT group_concat(name || '[' || p || ']=' || value || ':' || typeof(value), ' ')"
          " FROM (SELECT logs.name, logs.value, path.p FROM logs JOIN path"
          " ON path.rowid = logs.rowid AND path.ctx IS NULL ORDER BY logs.rowid)"),
        "before[]=1:integer loss[epoch=0,step=0]=0.0:real loss[epoch=0,step=1]=0.25:real "
        "acc[epoch=0]=0.0:real loss[epoch=1,step=0]=2.5:real loss[epoch=1,step=1]=2.75:real "
        "acc[epoch=1]=0.5:real text[]=a \"quoted\" value:text big[]=1099511627776:integer "
        "seen[data=0]=0:integer seen[data=1]=1:integer after[]=2:integer");
    /* only iterations with a log in them get a loops row: 2 epochs, 2x2 steps, 2 data */
    CHECK_EQ_STR(q("SELECT count(*) FROM loops"), "8");
    remove_project();
}

/* Logs and loops rows are inserted many at a time: runs of every length
 * around the batch size, with every value type, in several flushes. */
static int body_batches(int argc, char **argv)
{
    if (flor_init(&argc, &argv) != 0)
        return 20;
    char text[32];
    FLOR_LOOP(e, "epoch", 3) {
        FLOR_LOOP(s, "step", 64 * e + 63 + e) { /* 63, 128, 193 steps */
            switch (s % 4) {
            case 0: flor_log("v", (long long)(1000 * e + s)); break;
            case 1: flor_log("v", (1000 * e + s) + 0.5); break;
            case 2: snprintf(text, sizeof text, "t%ld", 1000 * e + s); flor_log("v", text); break;
            default: flor_log("v", (const char *)NULL); break;
            }
            if (s == 100 && flor_flush() != 0)
                return 21;
        }
        flor_log("n", (long long)e);
    }
    return flor_finish();
}

static void test_many_logs_keep_their_order_context_and_type(void)
{
    new_project(0);
    char *argv[] = {"prog", NULL};
    int st = in_child(body_batches, 1, argv);
    CHECK_EQ_INT(WEXITSTATUS(st), 0);
    CHECK_EQ_STR(q("SELECT count(*) || ' ' || count(DISTINCT ctx_id) FROM logs"), "387 387");
    CHECK_EQ_STR(q("SELECT count(*) FROM loops"), "387");
    /* every step's value, in rowid order, matches its epoch and step */
    CHECK_EQ_STR(
        q("SELECT count(*) FROM (SELECT l.value AS v, e.iteration AS e, s.iteration AS s"
          "  FROM logs l JOIN loops s ON s.ctx_id = l.ctx_id AND s.name = 'step'"
          "  JOIN loops e ON e.ctx_id = s.parent_ctx_id AND e.name = 'epoch')"
          " WHERE CASE s % 4"
          "  WHEN 0 THEN typeof(v) = 'integer' AND v = 1000 * e + s"
          "  WHEN 1 THEN typeof(v) = 'real' AND v = 1000 * e + s + 0.5"
          "  WHEN 2 THEN typeof(v) = 'text' AND v = 't' || (1000 * e + s)"
          "  ELSE v IS NULL END"),
        "384");
    CHECK_EQ_STR(q("SELECT group_concat(l.name || lp.iteration, ',') FROM logs l"
                   " JOIN loops lp ON lp.ctx_id = l.ctx_id WHERE l.name = 'n' ORDER BY l.rowid"),
                 "n0,n1,n2");
    /* the order of logs is the order they were made */
    CHECK_EQ_STR(q("SELECT count(*) FROM logs a JOIN logs b ON b.rowid = a.rowid + 1"
                   " WHERE a.name = 'v' AND b.name = 'v' AND b.ctx_id <= a.ctx_id"),
                 "0");
    CHECK_EQ_STR(q("PRAGMA foreign_key_check"), "none");
    remove_project();
}

/* ---- modes and places --------------------------------------------------- */

static int body_off(int argc, char **argv)
{
    if (flor_init(&argc, &argv) != 0 || flor_enabled() || flor_run_id() != 0)
        return 50;
    if (argc != 1 || flor_arg("epochs", 5L) != 2)
        return 51; /* --kwargs still applies */
    FLOR_LOOP(e, "epoch", 2) flor_log("loss", 1.0);
    return flor_finish();
}

static void test_mode_off_records_nothing_but_applies_kwargs(void)
{
    new_project(1);
    setenv("FLOR_MODE", "off", 1);
    char *argv[] = {"prog", "--kwargs", "epochs=2", NULL};
    int st = in_child(body_off, 3, argv);
    unsetenv("FLOR_MODE");
    CHECK_EQ_INT(WEXITSTATUS(st), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/.flor", project);
    struct stat sb;
    CHECK(stat(path, &sb) != 0);
    remove_project();
}

static int body_small(int argc, char **argv)
{
    if (flor_init(&argc, &argv) != 0)
        return 60;
    flor_log("x", 1);
    return flor_finish();
}

static void test_outside_git_the_directory_is_the_project(void)
{
    new_project(0);
    char *argv[] = {"prog", NULL};
    int st = in_child(body_small, 1, argv);
    CHECK_EQ_INT(WEXITSTATUS(st), 0);
    const char *base = strrchr(project, '/') + 1;
    CHECK_EQ_STR(q("SELECT projid FROM runs"), base);
    CHECK_EQ_STR(q("SELECT coalesce(vid, 'none') FROM runs"), "none");
    remove_project();
}

static void test_data_dir_is_excluded_from_git(void)
{
    new_project(1);
    char *argv[] = {"prog", NULL};
    in_child(body_small, 1, argv);
    in_child(body_small, 1, argv);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "grep -c '^/.flor/$' %s/.git/info/exclude > %s/count", project,
             project);
    CHECK(system(cmd) == 0);
    snprintf(cmd, sizeof cmd, "%s/count", project);
    FILE *f = fopen(cmd, "r");
    int n = 0;
    CHECK(f && fscanf(f, "%d", &n) == 1);
    if (f)
        fclose(f);
    CHECK_EQ_INT(n, 1); /* added once, not once per run */
    CHECK_EQ_STR(q("SELECT count(DISTINCT tstamp) FROM runs"), "2");
    remove_project();
}

static void test_flor_dir_overrides_the_data_directory(void)
{
    new_project(1);
    char dir[300];
    snprintf(dir, sizeof dir, "%s/elsewhere", project);
    setenv("FLOR_DIR", dir, 1);
    char *argv[] = {"prog", NULL};
    int st = in_child(body_small, 1, argv);
    unsetenv("FLOR_DIR");
    CHECK_EQ_INT(WEXITSTATUS(st), 0);
    char path[400];
    snprintf(path, sizeof path, "%s/flor.db", dir);
    struct stat sb;
    CHECK(stat(path, &sb) == 0);
    remove_project();
}

static void test_read_only_data_dir_fails_clearly_and_training_goes_on(void)
{
    if (geteuid() == 0) {
        /* root ignores permissions; make the database path a file instead */
        new_project(1);
        char path[400];
        snprintf(path, sizeof path, "%s/.flor", project);
        FILE *f = fopen(path, "w");
        CHECK(f != NULL);
        if (f)
            fclose(f);
    } else {
        new_project(1);
        char path[400];
        snprintf(path, sizeof path, "%s/.flor", project);
        mkdir(path, 0555);
    }
    char *argv[] = {"prog", NULL};
    int st = in_child(body_init_only, 1, argv);
    CHECK_EQ_INT(WEXITSTATUS(st), 30); /* flor_init failed, the program went on */
    remove_project();
}

/* ---- how a run ends ----------------------------------------------------- */

static int body_exit_without_finish(int argc, char **argv)
{
    flor_init(&argc, &argv);
    flor_log("x", 1);
    exit(3);
}

static int body_finish_status(int argc, char **argv)
{
    flor_init(&argc, &argv);
    flor_log("loss", 1.0);
    if (flor_finish_status((flor_run_status)7) != FLOR_EINVAL)
        return 4;
    return flor_finish_status(FLOR_RUN_FAILED) == 0 ? 3 : 5;
}

static void test_finish_status_says_how_the_run_ended(void)
{
    new_project(1);
    char *argv[] = {"prog", NULL};
    int st = in_child(body_finish_status, 1, argv);
    CHECK_EQ_INT(WEXITSTATUS(st), 3);
    CHECK_EQ_STR(q("SELECT status FROM runs"), "failed");
    CHECK(strcmp(q("SELECT end_time IS NOT NULL FROM runs"), "1") == 0);
    CHECK_EQ_STR(q("SELECT count(*) FROM logs"), "1");
    remove_project();
}

static int body_begin_at_and_abort(int argc, char **argv)
{
    static double w[64];
    flor_init(&argc, &argv);
    flor_checkpoint_typed("w", w, sizeof w, FLOR_F64, 1);
    flor_loop l = flor_loop_begin_at("epoch", 5, 3); /* resumes at epoch 3 */
    long e;
    while (flor_loop_next(&l, &e)) {
        w[0] = (double)e;
        flor_log("e", (long long)e);
    }
    flor_loop m = flor_loop_begin("more", 3);
    while (flor_loop_next(&m, &e)) {
        flor_log("m", (long long)e);
        if (e == 1) {
            flor_loop_abort(&m); /* iteration 1 did not complete */
            flor_loop_abort(&m); /* idempotent */
            break;
        }
    }
    return flor_finish();
}

/* A notebook's kernel records one run per cell: flor_init again once the
 * run has ended starts a new one, with its own args, logs and contexts. */
static int body_two_runs(int argc, char **argv)
{
    if (flor_init(&argc, &argv) != 0)
        return 90;
    if (flor_init(&argc, &argv) != FLOR_EUSAGE) /* not while a run is being recorded */
        return 91;
    int64_t first = flor_run_id();
    static double w[8];
    flor_checkpoint_typed("w", w, sizeof w, FLOR_F64, 1); /* registered once, for both runs */
    flor_checkpoint_every("epoch", 1, 0);
    flor_arg("lr", 0.5);
    FLOR_LOOP(e, "epoch", 2) {
        w[0] = (double)e;
        flor_log("loss", (double)e);
    }
    if (flor_finish() != 0)
        return 92;
    char *again[] = {"second.ipynb", "--kwargs", "lr=0.25", NULL};
    int n = 3;
    char **av = again;
    if (flor_init(&n, &av) != 0 || n != 1 || !flor_enabled() || flor_run_id() == first)
        return 93;
    if (flor_arg("lr", 0.5) != 0.25)
        return 94;
    FLOR_LOOP(e, "epoch", 3) {
        w[0] = 10.0 + (double)e;
        flor_log("loss", 10.0 + (double)e);
    }
    return flor_finish_status(FLOR_RUN_FAILED) == 0 ? 0 : 95;
}

static void test_a_process_records_a_second_run_after_the_first_ends(void)
{
    new_project(1);
    char *argv[] = {"prog", NULL};
    CHECK_EQ_INT(WEXITSTATUS(in_child(body_two_runs, 1, argv)), 0);
    CHECK_EQ_STR(q("SELECT group_concat(filename || ':' || status, ' ') FROM "
                   "(SELECT * FROM runs ORDER BY run_id)"),
                 "prog:finished second.ipynb:failed");
    CHECK_EQ_STR(q("SELECT count(DISTINCT vid) FROM runs"), "2");
    CHECK_EQ_STR(q("SELECT group_concat(a, ' ') FROM (SELECT r.filename || '=' || "
                   "a.value AS a FROM args a JOIN runs r USING (run_id) WHERE a.name = 'lr' "
                   "ORDER BY r.run_id)"),
                 "prog=0.5 second.ipynb=0.25");
    CHECK_EQ_STR(q("SELECT group_concat(n, ' ') FROM (SELECT count(*) AS n FROM logs "
                   "GROUP BY run_id ORDER BY run_id)"),
                 "2 3");
    /* the checkpoint writer started again, with the program's settings */
    CHECK_EQ_STR(q("SELECT group_concat(c, ' ') FROM (SELECT r.filename || ':' || "
                   "c.iteration AS c FROM checkpoints c JOIN runs r USING (run_id) "
                   "ORDER BY c.ckpt_id)"),
                 "prog:0 prog:1 second.ipynb:0 second.ipynb:1 second.ipynb:2");
    remove_project();
}

static void test_loops_begin_at_an_iteration_and_aborted_ones_are_not_checkpointed(void)
{
    new_project(1);
    setenv("FLOR_OVERHEAD", "1", 1);
    char *argv[] = {"prog", NULL};
    int st = in_child(body_begin_at_and_abort, 1, argv);
    unsetenv("FLOR_OVERHEAD");
    CHECK_EQ_INT(WEXITSTATUS(st), 0);
    CHECK_EQ_STR(q("SELECT group_concat(l.name || '=' || l.iteration || ':' || g.value, ' ') "
                   "FROM logs g JOIN loops l ON l.ctx_id = g.ctx_id"),
                 "epoch=3:3 epoch=4:4 more=0:0 more=1:1");
    CHECK_EQ_STR(q("SELECT group_concat(loop || '=' || iteration, ' ') FROM "
                   "(SELECT loop, iteration FROM checkpoints ORDER BY ckpt_id)"),
                 "epoch=3 epoch=4 more=0");
    remove_project();
}

static void test_exit_without_finish_is_failed_with_logs_kept(void)
{
    new_project(1);
    char *argv[] = {"prog", NULL};
    int st = in_child(body_exit_without_finish, 1, argv);
    CHECK_EQ_INT(WEXITSTATUS(st), 3);
    CHECK_EQ_STR(q("SELECT status FROM runs"), "failed");
    CHECK_EQ_STR(q("SELECT count(*) FROM logs"), "1");
    remove_project();
}

static int ready_fd = -1;

static int body_log_then_wait(int argc, char **argv)
{
    flor_init(&argc, &argv);
    FLOR_LOOP(e, "epoch", 1000000) {
        flor_log("loss", (double)e);
        if (e == 999) {
            flor_flush(); /* the first 1000 are on disk: tell the parent */
            if (write(ready_fd, "x", 1) != 1)
                return 70;
        }
    }
    return flor_finish();
}

static void kill_test(int signo, const char *want_status)
{
    new_project(1);
    int fds[2];
    CHECK(pipe(fds) == 0);
    ready_fd = fds[1];
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        /* as a program started in the foreground: a suite started in the
         * background inherits SIGINT ignored */
        signal(signo, SIG_DFL);
        if (chdir(project) != 0)
            _exit(99);
        char *argv[] = {"prog", NULL};
        int argc = 1;
        char **av = argv;
        body_log_then_wait(argc, av);
        for (;;)
            pause();
    }
    close(fds[1]);
    char c;
    CHECK(read(fds[0], &c, 1) == 1);
    close(fds[0]);
    kill(pid, signo);
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == signo);
    /* opening the project finds the dead run */
    flor_project *p = NULL;
    CHECK_EQ_INT(flor_project_open(&p, project), 0);
    flor_project_free(p);
    CHECK_EQ_STR(q("SELECT status FROM runs"), want_status);
    CHECK(atoi(q("SELECT count(*) FROM logs")) >= 1000);
    CHECK_EQ_STR(q("SELECT count(*) FROM logs WHERE value < 1000"), "1000");
    remove_project();
}

static void test_sigkill_leaves_flushed_logs_and_is_found_killed(void) { kill_test(SIGKILL, "killed"); }
static void test_sigterm_flushes_and_marks_killed(void) { kill_test(SIGTERM, "killed"); }
static void test_sigint_flushes_and_marks_killed(void) { kill_test(SIGINT, "killed"); }

/* ---- threads and processes ---------------------------------------------- */

static void *other_thread(void *arg)
{
    int *rc = arg;
    *rc = flor_log("x", 1);
    return NULL;
}

static int body_thread(int argc, char **argv)
{
    flor_init(&argc, &argv);
    pthread_t t;
    int rc = 0;
    pthread_create(&t, NULL, other_thread, &rc);
    pthread_join(t, NULL);
    if (rc != FLOR_EUSAGE)
        return 80;
    return flor_finish();
}

static void test_logging_from_another_thread_is_refused(void)
{
    new_project(1);
    char *argv[] = {"prog", NULL};
    CHECK_EQ_INT(WEXITSTATUS(in_child(body_thread, 1, argv)), 0);
    CHECK_EQ_STR(q("SELECT count(*) FROM logs"), "0");
    remove_project();
}

static int body_many(int argc, char **argv)
{
    if (flor_init(&argc, &argv) != 0)
        return 90;
    FLOR_LOOP(e, "epoch", 20) {
        FLOR_LOOP(s, "step", 10000) flor_log("loss", (double)s);
        flor_log("note", "an epoch of text that goes on for a while");
    }
    return flor_finish();
}

static void test_two_concurrent_runs_both_land_completely(void)
{
    new_project(1);
    char *argv[] = {"prog", NULL};
    fflush(stdout);
    pid_t a = fork();
    if (a == 0) {
        if (chdir(project) != 0)
            _exit(99);
        exit(body_many(1, argv));
    }
    pid_t b = fork();
    if (b == 0) {
        if (chdir(project) != 0)
            _exit(99);
        exit(body_many(1, argv));
    }
    int sa, sb;
    waitpid(a, &sa, 0);
    waitpid(b, &sb, 0);
    CHECK_EQ_INT(WEXITSTATUS(sa), 0);
    CHECK_EQ_INT(WEXITSTATUS(sb), 0);
    CHECK_EQ_STR(q("SELECT group_concat(n, ' ') FROM (SELECT count(*) n FROM logs GROUP BY run_id)"),
                 "200020 200020");
    CHECK_EQ_STR(q("SELECT group_concat(status, ' ') FROM runs"), "finished finished");
    CHECK_EQ_STR(q("SELECT count(DISTINCT tstamp) FROM runs"), "2");
    remove_project();
}

/* ---- the clock and the schema ------------------------------------------- */

/* Unix seconds of a local ISO 8601 tstamp with an optional fraction. */
static double tstamp_seconds(const char *ts)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *rest = strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return -1;
    tm.tm_isdst = -1;
    return (double)mktime(&tm) + (*rest == '.' ? atof(rest) : 0);
}

/* A tstamp is a time, not a counter: 40 runs started as fast as possible
 * get 40 distinct tstamps, none later than the moment its run ended. */
static void test_quick_runs_have_distinct_tstamps_never_ahead_of_the_clock(void)
{
    new_project(0);
    char *argv[] = {"prog", NULL};
    for (int i = 0; i < 40; i++)
        CHECK_EQ_INT(WEXITSTATUS(in_child(body_init_log, 1, argv)), 0);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    CHECK_EQ_STR(q("SELECT count(DISTINCT tstamp) FROM runs"), "40");
    sqlite3 *db = open_db();
    sqlite3_stmt *st;
    CHECK(db && sqlite3_prepare_v2(db, "SELECT tstamp, end_time FROM runs ORDER BY run_id", -1,
                                   &st, NULL) == SQLITE_OK);
    double prev = 0;
    int ahead = 0, unordered = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        double t = tstamp_seconds((const char *)sqlite3_column_text(st, 0));
        double end = sqlite3_column_double(st, 1);
        if (t < 0 || t > end || t > (double)now.tv_sec + now.tv_nsec / 1e9)
            ahead++;
        if (t <= prev)
            unordered++;
        prev = t;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    CHECK_EQ_INT(ahead, 0);
    CHECK_EQ_INT(unordered, 0);
    remove_project();
}

/* A database of schema version 1 (no runs.reason) is brought to version 2
 * in place by the next run, its runs intact. */
static void test_a_version_1_database_is_migrated_in_place(void)
{
    new_project(0);
    char *argv[] = {"prog", "--kwargs", "epochs=4", NULL};
    CHECK_EQ_INT(WEXITSTATUS(in_child(body_init_log, 3, argv)), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/.flor/flor.db", project);
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "ALTER TABLE runs DROP COLUMN reason;"
                           "UPDATE meta SET value=1 WHERE key='schema_version'",
                       NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    CHECK_EQ_STR(q("SELECT count(*) FROM pragma_table_info('runs') WHERE name='reason'"), "0");
    char *argv2[] = {"prog", NULL};
    CHECK_EQ_INT(WEXITSTATUS(in_child(body_init_log, 1, argv2)), 0);
    CHECK_EQ_STR(q("SELECT value FROM meta WHERE key='schema_version'"), "2");
    CHECK_EQ_STR(q("SELECT group_concat(run_id || ':' || status || ':' || ifnull(reason, '-'))"
                   " FROM runs"),
                 "1:finished:-,2:finished:-");
    CHECK_EQ_STR(q("SELECT name || '=' || value FROM args WHERE run_id=1"), "epochs=4");
    remove_project();
}

/* A database of schema version 3 (runs without rank columns, UNIQUE
 * (projid, tstamp)) is read through a view as it is, and brought to
 * version 4 by the next run: its table rebuilt, its runs rank 0 of one
 * process, their args and logs still theirs. */
static void test_a_version_3_database_is_migrated_in_place(void)
{
    new_project(0);
    char *argv[] = {"prog", "--kwargs", "epochs=4", NULL};
    CHECK_EQ_INT(WEXITSTATUS(in_child(body_init_log, 3, argv)), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/.flor/flor.db", project);
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(db,
                              "PRAGMA foreign_keys=OFF; BEGIN;"
                              "CREATE TABLE runs_v3 AS SELECT run_id, projid, tstamp, filename,"
                              " vid, argv, host, pid, proc_start, status, start_time, end_time,"
                              " ckpt_overhead, reason FROM runs;"
                              "DROP TABLE runs;"
                              "CREATE TABLE runs(run_id INTEGER PRIMARY KEY, projid TEXT NOT NULL,"
                              " tstamp TEXT NOT NULL, filename TEXT NOT NULL, vid TEXT, argv TEXT"
                              " NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL, proc_start"
                              " TEXT, status TEXT NOT NULL DEFAULT 'running', start_time REAL NOT"
                              " NULL, end_time REAL, ckpt_overhead REAL, reason TEXT,"
                              " UNIQUE (projid, tstamp));"
                              "INSERT INTO runs SELECT * FROM runs_v3; DROP TABLE runs_v3;"
                              "UPDATE meta SET value=3 WHERE key='schema_version'; COMMIT",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(db);
    CHECK_EQ_STR(q("SELECT count(*) FROM pragma_table_info('runs') WHERE name='rank'"), "0");
    /* a read-only reader sees the columns a single process has */
    sqlite3 *ro = NULL;
    char datadir[512];
    snprintf(datadir, sizeof datadir, "%s/.flor", project);
    CHECK_EQ_INT(flor__db_open(datadir, 0, 1, &ro), 0);
    sqlite3_stmt *st = NULL;
    CHECK(ro && sqlite3_prepare_v2(ro, "SELECT group_concat(rank || '/' || world_size) FROM runs",
                                   -1, &st, NULL) == SQLITE_OK);
    CHECK(st && sqlite3_step(st) == SQLITE_ROW);
    CHECK_EQ_STR(st ? (const char *)sqlite3_column_text(st, 0) : "", "0/1");
    sqlite3_finalize(st);
    sqlite3_close(ro);
    CHECK_EQ_STR(q("SELECT value FROM meta WHERE key='schema_version'"), "3");
    /* the next run migrates */
    char *argv2[] = {"prog", NULL};
    CHECK_EQ_INT(WEXITSTATUS(in_child(body_init_log, 1, argv2)), 0);
    CHECK_EQ_STR(q("SELECT value FROM meta WHERE key='schema_version'"), "4");
    CHECK_EQ_STR(q("SELECT group_concat(run_id || ':' || status || ':' || rank || ':' ||"
                   " world_size || ':' || ifnull(job, '-'))"
                   " FROM runs"),
                 "1:finished:0:1:-,2:finished:0:1:-");
    CHECK_EQ_STR(q("SELECT name || '=' || value FROM args WHERE run_id=1"), "epochs=4");
    CHECK_EQ_STR(q("SELECT count(*) FROM pragma_foreign_key_check"), "0");
    CHECK_EQ_STR(q("SELECT count(*) FROM pragma_index_list('runs') WHERE \"unique\""), "1");
    CHECK_EQ_STR(q("SELECT group_concat(name) FROM pragma_index_info((SELECT name FROM"
                   " pragma_index_list('runs') WHERE \"unique\"))"),
                 "projid,tstamp,rank");
    remove_project();
}

/* The consistent names (flor_run_mode, flor_arg_int64, flor_log_int64)
 * and the former ones they replace, kept as aliases, agree. */
static int body_names(int argc, char **argv)
{
    if (flor_init(&argc, &argv) != 0)
        return 30;
    if (flor_run_mode() != FLOR_MODE_RECORD || flor_get_mode() != flor_run_mode())
        return 31;
    int64_t big;
    long small;
    if (flor_arg_int64("big", 1, &big) != 0 || big != 5000000000LL)
        return 32;
    if (flor_arg_long("big", 2, &small) != 0 || small != 5000000000L)
        return 33; /* the alias reads the same recorded value */
    if (flor_arg_int64("dflt", -7, &big) != 0 || big != -7)
        return 34;
    if (flor_log_int64("a", INT64_MIN) != 0 || flor_log_long("b", 42LL) != 0)
        return 35;
    return flor_finish();
}

static void test_consistent_names_and_their_aliases_agree(void)
{
    new_project(1);
    char *argv[] = {"prog", "--kwargs", "big=5000000000", NULL};
    int st = in_child(body_names, 3, argv);
    CHECK(WIFEXITED(st));
    CHECK_EQ_INT(WEXITSTATUS(st), 0);
    CHECK_EQ_STR(q("SELECT group_concat(name || '=' || value, ' ') FROM (SELECT * FROM args "
                   "ORDER BY ord)"),
                 "big=5000000000 dflt=-7");
    CHECK_EQ_STR(q("SELECT group_concat(name || '=' || value || ':' || typeof(value), ' ') FROM "
                   "(SELECT * FROM logs ORDER BY rowid)"),
                 "a=-9223372036854775808:integer b=42:integer");
    remove_project();
}

/* ---- --flor NAME [EPSILON] ------------------------------------------------- */

static char home[256];

static int body_flor_name(int argc, char **argv)
{
    setenv("HOME", home, 1);
    if (flor_init(&argc, &argv) != 0)
        return 40;
    /* --flor and its operands are gone; the program's own flags stay */
    if (argc != 2 || strcmp(argv[1], "--foo") != 0 || argv[2] != NULL)
        return 41;
    if (flor__policy_budget_from_env() != 0.05)
        return 42;
    flor_log("x", 1); /* a run that logs nothing would leave no run */
    return flor_finish();
}

static int body_flor_blank(int argc, char **argv)
{
    setenv("HOME", home, 1);
    unsetenv("FLOR_OVERHEAD");
    if (flor_init(&argc, &argv) != 0)
        return 43;
    if (argc != 1 || flor__policy_budget_from_env() != 0.01) /* FLOR_OVERHEAD's default */
        return 44;
    flor_log("x", 1);
    return flor_finish();
}

static void test_flor_name_is_the_projid_and_epsilon_the_budget(void)
{
    new_project(1);
    check_scratch_dir(home, sizeof home, "home", 0);
    char *named[] = {"prog", "--flor", "linear", "0.05", "--foo", NULL};
    int st = in_child(body_flor_name, 5, named);
    CHECK(WIFEXITED(st));
    CHECK_EQ_INT(WEXITSTATUS(st), 0);
    CHECK_EQ_STR(q("SELECT projid FROM runs"), "linear");
    /* the seed's `ls ~/.flor/linear` lists the project's data directory */
    char link[512], want[512], got[512];
    snprintf(link, sizeof link, "%s/.flor/linear", home);
    snprintf(want, sizeof want, "%s/.flor", project);
    ssize_t n = readlink(link, got, sizeof got - 1);
    CHECK(n > 0);
    got[n > 0 ? n : 0] = '\0';
    CHECK_EQ_STR(got, want);
    /* no NAME: the previous run's */
    char *blank[] = {"prog", "--flor", NULL};
    st = in_child(body_flor_blank, 2, blank);
    CHECK(WIFEXITED(st));
    CHECK_EQ_INT(WEXITSTATUS(st), 0);
    CHECK_EQ_STR(q("SELECT group_concat(projid, ' ') FROM runs"), "linear linear");
    remove_project();
    check_remove_dir(home);
}

static int body_flor_bad_epsilon(int argc, char **argv)
{
    setenv("HOME", home, 1);
    if (flor_init(&argc, &argv) != FLOR_EINVAL)
        return 45;
    return strstr(flor_errmsg(), "--flor linear 5: expected EPSILON") ? 0 : 46;
}

static void test_flor_epsilon_out_of_range_is_a_usage_error(void)
{
    new_project(1);
    check_scratch_dir(home, sizeof home, "home", 0);
    char *argv[] = {"prog", "--flor", "linear", "5", NULL};
    int st = in_child(body_flor_bad_epsilon, 4, argv);
    CHECK(WIFEXITED(st));
    CHECK_EQ_INT(WEXITSTATUS(st), 0);
    CHECK_EQ_STR(q("SELECT count(*) FROM runs"), "no database"); /* nothing ran */
    remove_project();
    check_remove_dir(home);
}

static void test_flor_name_never_replaces_a_directory_in_home(void)
{
    new_project(1);
    check_scratch_dir(home, sizeof home, "home", 0);
    char dir[512], mine[600];
    snprintf(dir, sizeof dir, "%s/.flor", home);
    CHECK(mkdir(dir, 0755) == 0);
    snprintf(dir, sizeof dir, "%s/.flor/linear", home);
    CHECK(mkdir(dir, 0755) == 0);
    snprintf(mine, sizeof mine, "%s/mine", dir);
    FILE *f = fopen(mine, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    char *argv[] = {"prog", "--flor", "linear", "0.05", "--foo", NULL};
    int st = in_child(body_flor_name, 5, argv);
    CHECK(WIFEXITED(st));
    CHECK_EQ_INT(WEXITSTATUS(st), 0); /* the run is recorded */
    struct stat sb;
    CHECK(lstat(dir, &sb) == 0 && S_ISDIR(sb.st_mode));
    CHECK(access(mine, F_OK) == 0);
    remove_project();
    check_remove_dir(home);
}

int main(void)
{
    setenv("FLOR_QUIET", "1", 1);
    setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    RUN(test_kwargs_are_applied_stripped_and_recorded);
    RUN(test_malformed_kwargs_name_the_value_and_the_type);
    RUN(test_a_malformed_kwarg_in_the_generic_form_exits_2);
    RUN(test_quick_runs_have_distinct_tstamps_never_ahead_of_the_clock);
    RUN(test_a_version_1_database_is_migrated_in_place);
    RUN(test_a_version_3_database_is_migrated_in_place);
    RUN(test_kwargs_without_pairs_is_an_error);
    RUN(test_flor_name_is_the_projid_and_epsilon_the_budget);
    RUN(test_flor_epsilon_out_of_range_is_a_usage_error);
    RUN(test_flor_name_never_replaces_a_directory_in_home);

    RUN(test_a_run_that_logs_nothing_leaves_no_run);
    RUN(test_unknown_kwargs_are_recorded_as_text);
    RUN(test_logs_carry_their_loop_context_and_type);
    RUN(test_many_logs_keep_their_order_context_and_type);
    RUN(test_mode_off_records_nothing_but_applies_kwargs);
    RUN(test_outside_git_the_directory_is_the_project);
    RUN(test_data_dir_is_excluded_from_git);
    RUN(test_flor_dir_overrides_the_data_directory);
    RUN(test_read_only_data_dir_fails_clearly_and_training_goes_on);
    RUN(test_exit_without_finish_is_failed_with_logs_kept);
    RUN(test_finish_status_says_how_the_run_ended);
    RUN(test_a_process_records_a_second_run_after_the_first_ends);
    RUN(test_loops_begin_at_an_iteration_and_aborted_ones_are_not_checkpointed);
    RUN(test_sigkill_leaves_flushed_logs_and_is_found_killed);
    RUN(test_sigterm_flushes_and_marks_killed);
    RUN(test_sigint_flushes_and_marks_killed);
    RUN(test_logging_from_another_thread_is_refused);
    RUN(test_two_concurrent_runs_both_land_completely);
    RUN(test_consistent_names_and_their_aliases_agree);
    return check_summary();
}
