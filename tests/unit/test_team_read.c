/*
 * test_team_read.c -- reading the team's runs (docs/team.md, "Reading the
 * team's runs") against a real PostgreSQL server started by
 * tests/pg/server.sh: flor_project_team_open's read replica is refreshed
 * with what the server got since the last refresh, once; a replayed value
 * replaces the earlier replay's; a run whose resumes grew is read whole;
 * two checkouts' runs that share run ids and timestamps stay apart, with
 * run ids that do not change; two readers refreshing at once read each row
 * once; a reader killed in the middle of a refresh
 * leaves the replica as it was; with the server down the replica answers,
 * with a warning; queries cannot write to it; flor_project_team_query
 * runs read-only on the server, with its timeout.  Skipped, saying why,
 * only when PostgreSQL is not installed.
 */
#include "check.h"
#include "servers.h"
#include "internal.h"
#include "pg/pg.h"
#include "team/team.h"

#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char server_dir[64];
static char port[16];
static const char *password = "flor-test-pw-7f3a9c"; /* server.sh's */
static char project_dir[64];                          /* a checkout that reads */

static int contains(const char *s, const char *part)
{
    return s && part && strstr(s, part) != NULL;
}

static int server(const char *what)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "sh tests/pg/server.sh %s %s", what, server_dir);
    return system(cmd);
}

/* The URL of schema NAME on the test server (with the password). */
static const char *url_of(const char *name)
{
    static char u[256];
    snprintf(u, sizeof u,
             "postgresql://flor_test:%s@127.0.0.1:%s/flor_test?options=-csearch_path%%3D%s",
             password, port, name);
    return u;
}

/* A fresh schema NAME with flor's tables, named by FLOR_TEAM_DB; a
 * connection to it. */
static flor__pg *team(const char *name)
{
    flor__pg *pg = NULL;
    char sql[256];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", name, name);
    if (flor__pg_connect(&pg, url_of(name), 10) != 0 || flor__pg_exec(pg, sql) != 0 ||
        flor__pg_schema(pg) != 0) {
        printf("  team %s: %s\n", name, flor_errmsg());
        flor__pg_close(pg);
        return NULL;
    }
    setenv("FLOR_TEAM_DB", url_of(name), 1);
    return pg;
}

static int pg_run(flor__pg *pg, const char *sql)
{
    int rc = flor__pg_exec(pg, sql);
    if (rc)
        printf("  %s\n", flor_errmsg());
    return rc;
}

/* Checkout CO (on host-CO) with run RUN (tstamp TSTAMP) on the server. */
static int add_run(flor__pg *pg, const char *co, int run, const char *tstamp)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO flor_checkouts(checkout, projid, host, path) VALUES ('%s', 'proj',"
             " 'host-%s', '/w/%s') ON CONFLICT DO NOTHING;"
             "INSERT INTO flor_sync(checkout, tbl, high) VALUES ('%s', 'logs', 0)"
             " ON CONFLICT DO NOTHING;"
             "INSERT INTO flor_runs(checkout, run_id, projid, tstamp, filename, argv, host, pid,"
             " status, start_time) VALUES ('%s', %d, 'proj', '%s', 'train.py', '[]', 'host-%s',"
             " 100, 'finished', 1700000000.5)",
             co, co, co, co, co, run, tstamp, co);
    return pg_run(pg, sql);
}

/* Logs log_id LO..HI of CO's run RUN, NAME = log_id * SCALE, outside any
 * loop; the mark moved to HI when MARK. */
static int add_logs(flor__pg *pg, const char *co, int run, int lo, int hi, const char *name,
                    double scale, int mark)
{
    char sql[1024];
    int n = snprintf(sql, sizeof sql,
                     "INSERT INTO flor_logs(checkout, log_id, run_id, ctx_id, name, value_real,"
                     " source) SELECT '%s', g, %d, NULL, '%s', g * %.17g, 'record'"
                     " FROM generate_series(%d, %d) g",
                     co, run, name, scale, lo, hi);
    if (mark)
        snprintf(sql + n, sizeof sql - (size_t)n,
                 "; UPDATE flor_sync SET high = %d WHERE checkout = '%s'", hi, co);
    return pg_run(pg, sql);
}

static int set_mark(flor__pg *pg, const char *co, int high)
{
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE flor_sync SET high = %d WHERE checkout = '%s'", high, co);
    return pg_run(pg, sql);
}

/* The team's runs of the reading checkout, refreshed. */
static flor_project *open_team(void)
{
    flor_project *p = NULL, *t = NULL;
    if (flor_project_open(&p, project_dir) != 0 || flor_project_team_open(p, &t) != 0)
        printf("  team open: %s\n", flor_errmsg());
    flor_project_free(p);
    return t;
}

/* The first cell of SQL on T, as a number (-1 on failure). */
static double q(flor_project *t, const char *sql)
{
    flor_table *r = NULL;
    if (!t || flor_project_query(t, sql, &r) != 0 || flor_table_nrows(r) < 1) {
        printf("  %s: %s\n", sql, flor_errmsg());
        flor_table_free(r);
        return -1;
    }
    double v = flor_table_type(r, 0, 0) == FLOR_INTEGER ? (double)flor_table_int(r, 0, 0)
                                                        : flor_table_real(r, 0, 0);
    flor_table_free(r);
    return v;
}

/* ---- refreshing ------------------------------------------------------------------------- */

static void test_refresh_reads_each_row_once(void)
{
    flor__pg *pg = team("read_once");
    CHECK(pg != NULL);
    if (!pg)
        return;
    CHECK_EQ_INT(add_run(pg, "a", 1, "2026-01-01T00:00:00"), 0);
    CHECK_EQ_INT(pg_run(pg,
                        "INSERT INTO flor_args VALUES ('a', 1, 'lr', NULL, 0.25, NULL, 0, 0),"
                        " ('a', 1, 'epochs', 3, NULL, NULL, 1, 1),"
                        " ('a', 1, 'model', NULL, NULL, 'resnet', 0, 2);"
                        "INSERT INTO flor_loops VALUES ('a', 1, 1, NULL, 'epoch', 0, 0, NULL, NULL, 6),"
                        " ('a', 1, 2, NULL, 'epoch', 1, 1, NULL, NULL, 6),"
                        " ('a', 1, 3, NULL, 'epoch', 2, 2, NULL, NULL, 6);"
                        "INSERT INTO flor_logs VALUES ('a', 1, 1, 1, 'loss', NULL, 0.5, NULL, 'record'),"
                        " ('a', 2, 1, 2, 'loss', NULL, 'NaN', NULL, 'record'),"
                        " ('a', 3, 1, 3, 'loss', NULL, 0.125, NULL, 'record'),"
                        " ('a', 4, 1, NULL, 'acc', 7, NULL, NULL, 'record'),"
                        " ('a', 5, 1, NULL, 'note', NULL, NULL, 'tab\there', 'record'),"
                        " ('a', 6, 1, NULL, 'gone', NULL, NULL, NULL, 'record');"
                        "UPDATE flor_sync SET high = 6"),
                 0);
    /* logged after the mark: not committed as far as readers know */
    CHECK_EQ_INT(add_logs(pg, "a", 1, 7, 9, "late", 1, 0), 0);
    flor_project *t = open_team();
    CHECK(t != NULL);
    CHECK_EQ_INT(q(t, "SELECT count(*) FROM logs"), 6);
    CHECK_EQ_INT(q(t, "SELECT count(*) FROM loops"), 3);
    CHECK_EQ_INT(q(t, "SELECT count(*) FROM args"), 3);
    CHECK_EQ_INT(q(t, "SELECT value FROM logs WHERE name = 'acc'"), 7);
    CHECK_EQ_INT(q(t, "SELECT typeof(value) = 'null' FROM logs WHERE name = 'gone'"), 1);
    CHECK_EQ_INT(q(t, "SELECT value = 'tab' || char(9) || 'here' FROM logs"
                          " WHERE name = 'note'"), 1);
    CHECK_EQ_INT(q(t, "SELECT host = 'host-a' AND checkout = 'a' AND status = 'finished'"
                          " FROM runs"), 1);

    /* the dataframe pivots the replica as it does a journal */
    const char *names[] = {"loss"};
    flor_table *df = NULL;
    CHECK_EQ_INT(t ? flor_project_dataframe(t, names, 1, &df) : -1, 0);
    CHECK_EQ_INT(flor_table_nrows(df), 3);
    size_t loss = flor_table_ncols(df) - 1, lr = 3;
    CHECK_EQ_STR(flor_table_colname(df, loss), "loss");
    CHECK_EQ_STR(flor_table_colname(df, lr), "lr");
    CHECK(flor_table_real(df, 0, lr) == 0.25);
    CHECK(flor_table_real(df, 0, loss) == 0.5);
    CHECK(isnan(flor_table_real(df, 1, loss)));
    CHECK(flor_table_real(df, 2, loss) == 0.125);
    flor_table_free(df);
    flor_project_free(t);

    /* a second refresh reads nothing again; a moved mark brings the rest */
    t = open_team();
    CHECK_EQ_INT(q(t, "SELECT count(*) FROM logs"), 6);
    flor_project_free(t);
    CHECK_EQ_INT(set_mark(pg, "a", 9), 0);
    t = open_team();
    CHECK_EQ_INT(q(t, "SELECT count(*) FROM logs"), 9);
    CHECK(q(t, "SELECT sum(value) FROM logs WHERE name = 'late'") == 7 + 8 + 9);
    CHECK_EQ_INT(q(t, "SELECT count(*) FROM runs"), 1);
    flor_project_free(t);
    flor__pg_close(pg);
}

static void test_replayed_value_replaces(void)
{
    flor__pg *pg = team("read_replay");
    CHECK(pg != NULL);
    if (!pg)
        return;
    CHECK_EQ_INT(add_run(pg, "a", 1, "2026-01-01T00:00:00"), 0);
    CHECK_EQ_INT(pg_run(pg, "INSERT INTO flor_logs VALUES ('a', 1, 1, NULL, 'grad', NULL, 1.5,"
                            " NULL, 'replay'), ('a', 2, 1, NULL, 'loss', NULL, 0.5, NULL,"
                            " 'record'); UPDATE flor_sync SET high = 2"),
                 0);
    flor_project *t = open_team();
    CHECK(q(t, "SELECT value FROM logs WHERE name = 'grad'") == 1.5);
    flor_project_free(t);
    /* a later replay recomputed it: the server's row moved to a new log_id */
    CHECK_EQ_INT(pg_run(pg, "UPDATE flor_logs SET log_id = 3, value_real = 2.5 WHERE log_id = 1;"
                            " UPDATE flor_sync SET high = 3"),
                 0);
    t = open_team();
    CHECK_EQ_INT(q(t, "SELECT count(*) FROM logs WHERE name = 'grad'"), 1);
    CHECK(q(t, "SELECT value FROM logs WHERE name = 'grad'") == 2.5);
    CHECK_EQ_INT(q(t, "SELECT count(*) FROM logs"), 2);
    flor_project_free(t);
    flor__pg_close(pg);
}

static void test_resumed_run_read_whole(void)
{
    flor__pg *pg = team("read_resume");
    CHECK(pg != NULL);
    if (!pg)
        return;
    CHECK_EQ_INT(add_run(pg, "a", 1, "2026-01-01T00:00:00"), 0);
    CHECK_EQ_INT(add_run(pg, "a", 2, "2026-01-01T00:00:01"), 0);
    CHECK_EQ_INT(pg_run(pg, "INSERT INTO flor_loops VALUES ('a', 1, 1, NULL, 'epoch', 0, 0,"
                            " NULL, NULL, 5), ('a', 1, 2, NULL, 'epoch', 1, 1, NULL, NULL, 5)"),
                 0);
    CHECK_EQ_INT(add_logs(pg, "a", 1, 1, 4, "loss", 1, 0), 0);
    CHECK_EQ_INT(add_logs(pg, "a", 2, 5, 5, "other", 1, 1), 0);
    flor_project *t = open_team();
    CHECK_EQ_INT(q(t, "SELECT count(*) FROM logs"), 5);
    flor_project_free(t);
    /* run 1 resumed: the server's logs and loops of it replaced wholesale,
     * the new ones under the new mark and below it */
    CHECK_EQ_INT(pg_run(pg, "DELETE FROM flor_logs WHERE run_id = 1; DELETE FROM flor_loops"
                            " WHERE run_id = 1; UPDATE flor_runs SET resumes = 1 WHERE"
                            " run_id = 1;"
                            " INSERT INTO flor_loops VALUES ('a', 1, 1, NULL, 'epoch', 0, 0,"
                            " NULL, NULL, 8)"),
                 0);
    CHECK_EQ_INT(add_logs(pg, "a", 1, 2, 3, "loss", 10, 0), 0);
    CHECK_EQ_INT(add_logs(pg, "a", 1, 6, 8, "loss", 100, 1), 0);
    t = open_team();
    CHECK_EQ_INT(q(t, "SELECT count(*) FROM logs WHERE run_id = 1"), 5);
    CHECK(q(t, "SELECT sum(value) FROM logs WHERE run_id = 1") ==
          20 + 30 + 600 + 700 + 800);
    CHECK_EQ_INT(q(t, "SELECT count(*) FROM loops WHERE run_id = 1"), 1);
    CHECK_EQ_INT(q(t, "SELECT count(*) FROM logs WHERE run_id = 2"), 1);
    flor_project_free(t);
    flor__pg_close(pg);
}

static void test_two_checkouts_same_run_ids(void)
{
    flor__pg *pg = team("read_two");
    CHECK(pg != NULL);
    if (!pg)
        return;
    /* the same run id, projid, tstamp and rank from two checkouts */
    CHECK_EQ_INT(add_run(pg, "a", 1, "2026-01-01T00:00:00"), 0);
    CHECK_EQ_INT(add_run(pg, "b", 1, "2026-01-01T00:00:00"), 0);
    CHECK_EQ_INT(add_logs(pg, "a", 1, 1, 3, "loss", 1, 1), 0);
    CHECK_EQ_INT(add_logs(pg, "b", 1, 1, 2, "loss", -1, 1), 0);
    flor_project *t = open_team();
    CHECK_EQ_INT(q(t, "SELECT count(*) FROM runs"), 2);
    CHECK(q(t, "SELECT sum(value) FROM logs JOIN runs USING (run_id)"
                    " WHERE host = 'host-a'") == 6);
    CHECK(q(t, "SELECT sum(value) FROM logs JOIN runs USING (run_id)"
                    " WHERE host = 'host-b'") == -3);
    int64_t a = (int64_t)q(t, "SELECT run_id FROM runs WHERE checkout = 'a'");
    int64_t b = (int64_t)q(t, "SELECT run_id FROM runs WHERE checkout = 'b'");
    CHECK(a > 0 && b > 0 && a != b);
    flor_table *runs = NULL;
    CHECK_EQ_INT(t ? flor_project_runs(t, &runs) : -1, 0);
    CHECK_EQ_INT(flor_table_nrows(runs), 2);
    flor_table_free(runs);
    flor_project_free(t);
    /* a later run of b gets a new id; the earlier ids stay */
    CHECK_EQ_INT(add_run(pg, "b", 2, "2026-01-01T00:00:09"), 0);
    t = open_team();
    CHECK_EQ_INT(q(t, "SELECT count(*) FROM runs"), 3);
    CHECK_EQ_INT(q(t, "SELECT run_id FROM runs WHERE checkout = 'a'"), a);
    CHECK_EQ_INT(q(t, "SELECT min(run_id) FROM runs WHERE checkout = 'b'"), b);
    flor_project_free(t);
    flor__pg_close(pg);
}

/* The reader's replica of the current FLOR_TEAM_DB, for looking at it
 * without refreshing: DATADIR/team/KEY. */
static int replica_count(const char *sql, int64_t *n)
{
    char dir[256];
    FILE *f;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls -d %s/.flor/team/*/ | head -1", project_dir);
    if (!(f = popen(cmd, "r")) || !fgets(dir, sizeof dir, f)) {
        if (f)
            pclose(f);
        return -1;
    }
    pclose(f);
    dir[strcspn(dir, "\n")] = 0;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = flor__db_open(dir, 0, 1, &db) == 0 &&
                     sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
                     sqlite3_step(st) == SQLITE_ROW
                 ? 0
                 : -1;
    *n = rc == 0 ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

static void test_reader_killed_mid_refresh(void)
{
    flor__pg *pg = team("read_killed");
    CHECK(pg != NULL);
    if (!pg)
        return;
    char wipe[128];
    snprintf(wipe, sizeof wipe, "rm -rf %s/.flor/team", project_dir);
    CHECK_EQ_INT(system(wipe), 0);
    CHECK_EQ_INT(add_run(pg, "a", 1, "2026-01-01T00:00:00"), 0);
    CHECK_EQ_INT(add_logs(pg, "a", 1, 1, 10, "loss", 1, 1), 0);
    flor_project *t = open_team();
    CHECK_EQ_INT(q(t, "SELECT count(*) FROM logs"), 10);
    flor_project_free(t);
    CHECK_EQ_INT(add_logs(pg, "a", 1, 11, 400010, "loss", 1, 1), 0);

    /* a reader killed while it writes the new rows into the replica */
    int64_t during = -1;
    pid_t child = fork();
    if (child == 0) {
        flor_project *c = open_team();
        _exit(c ? 0 : 1);
    }
    char wal[256];
    snprintf(wal, sizeof wal, "%s/.flor/team", project_dir);
    int killed = 0;
    for (int i = 0; i < 6000 && !killed; i++) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "test $(cat %s/*/flor.db-wal 2>/dev/null | wc -c) -gt 2000000",
                 wal);
        if (system(cmd) == 0) {
            kill(child, SIGKILL);
            killed = 1;
        } else {
            struct timespec ts = {0, 2 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    int status = 0;
    waitpid(child, &status, 0);
    CHECK(killed);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* the replica as it was, readable; then the next refresh reads it all, once */
    CHECK_EQ_INT(replica_count("SELECT count(*) FROM logs", &during), 0);
    CHECK_EQ_INT(during, 10);
    t = open_team();
    CHECK_EQ_INT(q(t, "SELECT count(*) FROM logs"), 400010);
    CHECK_EQ_INT(q(t, "SELECT count(DISTINCT value) FROM logs"), 400010);
    flor_project_free(t);
    flor__pg_close(pg);
}

static void test_two_readers_at_once(void)
{
    flor__pg *pg = team("read_two_readers");
    CHECK(pg != NULL);
    if (!pg)
        return;
    CHECK_EQ_INT(add_run(pg, "a", 1, "2026-01-01T00:00:00"), 0);
    CHECK_EQ_INT(add_logs(pg, "a", 1, 1, 100000, "loss", 1, 1), 0);
    /* two processes refresh the same replica at once: the second waits
     * for the first's transaction, then finds nothing left to read */
    pid_t kids[2];
    for (int i = 0; i < 2; i++)
        if ((kids[i] = fork()) == 0) {
            flor_project *c = open_team();
            _exit(c ? 0 : 1);
        }
    for (int i = 0; i < 2; i++) {
        int status = -1;
        waitpid(kids[i], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    flor_project *t = open_team();
    CHECK_EQ_INT(q(t, "SELECT count(*) FROM logs"), 100000);
    CHECK_EQ_INT(q(t, "SELECT count(DISTINCT value) FROM logs"), 100000);
    CHECK_EQ_INT(q(t, "SELECT count(*) FROM runs"), 1);
    flor_project_free(t);
    flor__pg_close(pg);
}

/* Runs FN with stderr in a file; its text into OUT. */
static void with_stderr(void (*fn)(void *), void *arg, char *out, size_t n)
{
    char path[] = "/tmp/flor-unit-stderr-XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    fflush(stderr);
    dup2(fd, 2);
    fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t got = pread(fd, out, n - 1, 0);
    out[got > 0 ? got : 0] = 0;
    close(fd);
    unlink(path);
}

struct opened {
    flor_project *t;
    int rc;
    char msg[512];
};

static void open_into(void *arg)
{
    struct opened *o = arg;
    flor_project *p = NULL;
    o->t = NULL;
    o->rc = flor_project_open(&p, project_dir);
    if (o->rc == 0)
        o->rc = flor_project_team_open(p, &o->t);
    snprintf(o->msg, sizeof o->msg, "%s", flor_errmsg());
    flor_project_free(p);
}

static void test_server_down_answers_from_replica(void)
{
    flor__pg *pg = team("read_down");
    CHECK(pg != NULL);
    if (!pg)
        return;
    CHECK_EQ_INT(add_run(pg, "a", 1, "2026-01-01T00:00:00"), 0);
    CHECK_EQ_INT(add_logs(pg, "a", 1, 1, 5, "loss", 1, 1), 0);
    flor_project *t = open_team();
    CHECK_EQ_INT(q(t, "SELECT count(*) FROM logs"), 5);
    flor_project_free(t);
    flor__pg_close(pg);

    CHECK_EQ_INT(server("stop"), 0);
    char err[2048];
    struct opened o;
    with_stderr(open_into, &o, err, sizeof err);
    CHECK_EQ_INT(o.rc, 0);
    CHECK_EQ_INT(q(o.t, "SELECT count(*) FROM logs"), 5);
    flor_project_free(o.t);
    CHECK(contains(err, "flor: warning: "));
    CHECK(contains(err, "127.0.0.1"));
    CHECK(contains(err, "last read from it, at 20"));
    CHECK(!contains(err, password));
    CHECK(strchr(err, '\n') == err + strlen(err) - 1); /* one line */

    /* a team database never read before: nothing to answer with */
    setenv("FLOR_TEAM_DB", url_of("read_never"), 1);
    with_stderr(open_into, &o, err, sizeof err);
    CHECK_EQ_INT(o.rc, FLOR_EIO);
    CHECK(contains(o.msg, "never read before"));
    CHECK(contains(o.msg, "127.0.0.1"));
    CHECK(!contains(o.msg, password));
    CHECK(o.t == NULL);
    CHECK_EQ_INT(server("restart"), 0);
}

static void test_damaged_replica_made_anew(void)
{
    flor__pg *pg = team("read_damaged");
    CHECK(pg != NULL);
    if (!pg)
        return;
    CHECK_EQ_INT(add_run(pg, "a", 1, "2026-01-01T00:00:00"), 0);
    CHECK_EQ_INT(add_logs(pg, "a", 1, 1, 7, "loss", 1, 1), 0);
    flor_project *t = open_team();
    CHECK(t != NULL);
    char path[512] = "";
    if (t)
        snprintf(path, sizeof path, "%s/flor.db", flor_project_dir(t));
    flor_project_free(t);
    /* the replica overwritten with text: a copy, so made again from the server */
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("not a database, not even close to one, as long as a header\n", f);
        fclose(f);
    }
    char err[2048];
    struct opened o;
    with_stderr(open_into, &o, err, sizeof err);
    CHECK_EQ_INT(o.rc, 0);
    CHECK_EQ_INT(q(o.t, "SELECT count(*) FROM logs"), 7);
    CHECK(contains(err, "making the team's replica anew"));
    flor_project_free(o.t);
    flor__pg_close(pg);
}

static void test_queries_never_write_the_replica(void)
{
    flor__pg *pg = team("read_only");
    CHECK(pg != NULL);
    if (!pg)
        return;
    CHECK_EQ_INT(add_run(pg, "a", 1, "2026-01-01T00:00:00"), 0);
    CHECK_EQ_INT(add_logs(pg, "a", 1, 1, 5, "loss", 1, 1), 0);
    flor_project *t = open_team();
    CHECK(t != NULL);
    if (!t) {
        flor__pg_close(pg);
        return;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/flor.db", flor_project_dir(t));
    struct stat before, after;
    CHECK_EQ_INT(stat(path, &before), 0);
    flor_table *r = NULL;
    CHECK_EQ_INT(flor_project_query(t, "DELETE FROM team_marks", &r), FLOR_EINVAL);
    CHECK(contains(flor_errmsg(), "read-only"));
    CHECK_EQ_INT(flor_project_query(t, "UPDATE team_marks SET logs = 0", &r), FLOR_EINVAL);
    const char *names[] = {"loss"};
    CHECK_EQ_INT(flor_project_dataframe(t, names, 1, &r), 0);
    flor_table_free(r);
    CHECK_EQ_INT(q(t, "SELECT count(*) FROM logs"), 5);
    CHECK_EQ_INT(stat(path, &after), 0);
    CHECK(after.st_size == before.st_size && after.st_mtime == before.st_mtime);
    flor_project_free(t);
    flor__pg_close(pg);
}

static void test_no_team_database(void)
{
    unsetenv("FLOR_TEAM_DB");
    flor_project *p = NULL, *t = NULL;
    CHECK_EQ_INT(flor_project_open(&p, project_dir), 0);
    CHECK_EQ_INT(flor_project_team_open(p, &t), FLOR_ENOTFOUND);
    CHECK(contains(flor_errmsg(), "has no team database"));
    CHECK(contains(flor_errmsg(), "FLOR_TEAM_DB"));
    flor_table *r = NULL;
    CHECK_EQ_INT(flor_project_team_query(p, "SELECT 1", &r), FLOR_ENOTFOUND);
    CHECK(t == NULL && r == NULL);
    flor_project_free(p);
}

/* The replicator's rows (flor__team_sync from a real journal) read back. */
static void test_replicated_journal_read_back(void)
{
    flor__pg *pg = team("read_synced");
    CHECK(pg != NULL);
    char dir[] = "/tmp/flor-unit-trj-XXXXXX";
    sqlite3 *db = NULL;
    CHECK(mkdtemp(dir) != NULL);
    CHECK_EQ_INT(flor__db_open(dir, 1, 0, &db), 0);
    if (!pg || !db) {
        flor__pg_close(pg);
        sqlite3_close(db);
        return;
    }
    int64_t run;
    char tstamp[32];
    CHECK_EQ_INT(flor__runs_insert(db, "proj", "train", NULL, "[\"train\"]", &run, tstamp), 0);
    CHECK_EQ_INT(flor__db_exec(db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                                   " WHERE i < 1000) INSERT INTO logs(run_id, ctx_id, name, value,"
                                   " source) SELECT 1, NULL, 'x', i * 0.5, 'record' FROM n"),
                 0);
    /* an arg, and a loop of 4 epochs with a value in each */
    CHECK_EQ_INT(flor__db_exec(db, "INSERT INTO args(run_id, name, value, from_kwargs, ord)"
                                   " VALUES (1, 'lr', 0.125, 1, 0), (1, 'opt', 'sgd', 0, 1);"
                                   "INSERT INTO loops(run_id, ctx_id, parent_ctx_id, name,"
                                   " iteration, value) VALUES (1, 1, NULL, 'epoch', 0, 1),"
                                   " (1, 2, NULL, 'epoch', 1, 2), (1, 3, NULL, 'epoch', 2, 3),"
                                   " (1, 4, NULL, 'epoch', 3, 4);"
                                   "INSERT INTO logs(run_id, ctx_id, name, value, source)"
                                   " VALUES (1, 1, 'acc', 0.5, 'record'), (1, 2, 'acc', 'NaN',"
                                   " 'record'), (1, 3, 'acc', 7, 'record'), (1, 4, 'acc',"
                                   " 'best', 'record')"),
                 0);
    const flor__team_checkout co = {.id = "journal", .projid = "proj", .host = "host-j",
                                    .path = dir};
    CHECK_EQ_INT(flor__team_sync(db, pg, &co, NULL), 0);
    flor_project *t = open_team();
    CHECK_EQ_INT(q(t, "SELECT count(*) FROM logs"), 1004);
    CHECK(q(t, "SELECT sum(value) FROM logs WHERE name = 'x'") == 0.5 * 1000 * 1001 / 2);
    CHECK_EQ_INT(q(t, "SELECT count(*) FROM runs WHERE tstamp = (SELECT tstamp FROM runs)"), 1);

    /* the team's dataframe of it is the journal's, cell for cell */
    setenv("FLOR_DIR", dir, 1);
    flor_project *local = NULL;
    CHECK_EQ_INT(flor_project_open(&local, project_dir), 0);
    unsetenv("FLOR_DIR");
    const char *names[] = {"acc", "x"};
    flor_table *a = NULL, *b = NULL;
    CHECK_EQ_INT(local ? flor_project_dataframe(local, names, 2, &a) : -1, 0);
    CHECK_EQ_INT(t ? flor_project_dataframe(t, names, 2, &b) : -1, 0);
    CHECK_EQ_INT(flor_table_nrows(b), flor_table_nrows(a));
    CHECK_EQ_INT(flor_table_ncols(b), flor_table_ncols(a));
    CHECK(flor_table_nrows(a) >= 4 && flor_table_ncols(a) >= 6);
    int same = a && b && flor_table_nrows(a) == flor_table_nrows(b) &&
               flor_table_ncols(a) == flor_table_ncols(b);
    for (size_t r = 0; same && r < flor_table_nrows(a); r++)
        for (size_t c = 0; same && c < flor_table_ncols(a); c++) {
            flor_type ta = flor_table_type(a, r, c);
            same = ta == flor_table_type(b, r, c) &&
                   strcmp(flor_table_colname(a, c), flor_table_colname(b, c)) == 0 &&
                   (ta == FLOR_NULL ||
                    (ta == FLOR_INTEGER && flor_table_int(a, r, c) == flor_table_int(b, r, c)) ||
                    (ta == FLOR_REAL && (flor_table_real(a, r, c) == flor_table_real(b, r, c) ||
                                         (isnan(flor_table_real(a, r, c)) &&
                                          isnan(flor_table_real(b, r, c))))) ||
                    (ta == FLOR_TEXT &&
                     strcmp(flor_table_text(a, r, c), flor_table_text(b, r, c)) == 0));
            if (!same)
                printf("  cell (%zu, %zu) differs\n", r, c);
        }
    CHECK(same);
    flor_table_free(a);
    flor_table_free(b);
    flor_project_free(local);
    flor_project_free(t);
    sqlite3_close(db);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_EQ_INT(system(cmd), 0);
    flor__pg_close(pg);
}

/* ---- SQL on the server ---------------------------------------------------------------------- */

static void test_server_query_read_only_with_timeout(void)
{
    flor__pg *pg = team("read_server");
    CHECK(pg != NULL);
    if (!pg)
        return;
    CHECK_EQ_INT(add_run(pg, "a", 1, "2026-01-01T00:00:00"), 0);
    CHECK_EQ_INT(add_logs(pg, "a", 1, 1, 4, "loss", 0.5, 1), 0);
    flor_project *p = NULL;
    CHECK_EQ_INT(flor_project_open(&p, project_dir), 0);
    flor_table *r = NULL;
    CHECK_EQ_INT(flor_project_team_query(p, "SELECT count(*) AS n, sum(value_real) AS s,"
                                            " max(checkout) AS co, bool_and(true) AS ok"
                                            " FROM flor_logs", &r),
                 0);
    CHECK_EQ_INT(flor_table_nrows(r), 1);
    CHECK_EQ_STR(flor_table_colname(r, 0), "n");
    CHECK_EQ_INT(flor_table_type(r, 0, 0), FLOR_INTEGER);
    CHECK_EQ_INT(flor_table_int(r, 0, 0), 4);
    CHECK(flor_table_real(r, 0, 1) == 5.0);
    CHECK_EQ_STR(flor_table_text(r, 0, 2), "a");
    CHECK_EQ_INT(flor_table_int(r, 0, 3), 1);
    flor_table_free(r);

    CHECK_EQ_INT(flor_project_team_query(p, "DELETE FROM flor_logs", &r), FLOR_EINVAL);
    CHECK(contains(flor_errmsg(), "read-only transaction"));
    CHECK(!contains(flor_errmsg(), password));
    CHECK_EQ_INT(flor_project_team_query(p, "SELECT 1; DELETE FROM flor_logs", &r), FLOR_EINVAL);
    CHECK_EQ_INT(flor_project_team_query(p, "COMMIT; DELETE FROM flor_logs", &r), FLOR_EINVAL);
    int64_t n = -1;
    char buf[32];
    if (flor__pg_scalar(pg, "SELECT count(*) FROM flor_logs", 0, NULL, buf, sizeof buf) == 0)
        n = strtoll(buf, NULL, 10);
    CHECK_EQ_INT(n, 4);

    CHECK_EQ_INT(flor_project_set_timeout(p, 0.3), 0);
    double t0 = flor__mono();
    CHECK_EQ_INT(flor_project_team_query(p, "SELECT pg_sleep(5)", &r), FLOR_EIO);
    CHECK(flor__mono() - t0 < 3);
    CHECK(contains(flor_errmsg(), "statement timeout"));
    flor_project_free(p);
    flor__pg_close(pg);
}

/* ---- the server ------------------------------------------------------------------------------ */

static int start_server(void)
{
    int rc = test_server_start("pg", "test_team_read", "PostgreSQL");
    if (rc == 0) {
        snprintf(server_dir, sizeof server_dir, "%s", test_server_dir);
        rc = test_server_file("test_team_read", "port", port, sizeof port);
    }
    return rc;
}

static void remove_project(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", project_dir);
    if (system(cmd) != 0)
        printf("  could not remove %s\n", project_dir);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *unset[] = {"PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD", "PGPASSFILE",
                           "PGSERVICE", "PGSERVICEFILE", "PGOPTIONS", "PGCONNECT_TIMEOUT",
                           "PGSSLMODE", "PGAPPNAME", "FLOR_DIR", "FLOR_TEAM_DB", "FLOR_QUIET"};
    for (size_t i = 0; i < sizeof unset / sizeof unset[0]; i++)
        unsetenv(unset[i]);
    int started = start_server();
    if (started == -1)
        return check_summary();
    if (started != 0) {
        check_failed++;
        return check_summary();
    }
    setenv("PGPASSFILE", "/nonexistent/pgpass", 1);
    snprintf(project_dir, sizeof project_dir, "/tmp/flor-unit-team-XXXXXX");
    flor_project *p = NULL;
    if (!mkdtemp(project_dir) || flor_project_create(&p, project_dir) != 0) {
        printf("FAIL test_team_read: cannot make a project: %s\n", flor_errmsg());
        return 1;
    }
    flor_project_free(p);
    atexit(remove_project);
    RUN(test_no_team_database);
    RUN(test_refresh_reads_each_row_once);
    RUN(test_replayed_value_replaces);
    RUN(test_resumed_run_read_whole);
    RUN(test_two_checkouts_same_run_ids);
    RUN(test_replicated_journal_read_back);
    RUN(test_queries_never_write_the_replica);
    RUN(test_server_query_read_only_with_timeout);
    RUN(test_two_readers_at_once);
    RUN(test_damaged_replica_made_anew);
    RUN(test_reader_killed_mid_refresh);
    RUN(test_server_down_answers_from_replica);
    return check_summary();
}
