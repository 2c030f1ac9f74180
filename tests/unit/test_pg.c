/*
 * test_pg.c -- the PostgreSQL layer (src/pg/) against a real PostgreSQL
 * server, started by tests/pg/server.sh on 127.0.0.1 with a password role
 * (scram-sha-256).  Connecting by URL and by the password's other sources
 * (PGPASSWORD, a .pgpass file, a service file); a wrong password, a
 * missing database, a malformed URL, a closed port: each with its code and
 * a message that names the server and never the password; read-only
 * transactions and their statement timeout; flor's tables made once,
 * refused over another program's tables or a newer schema; a server
 * stopped under an open connection, and started again.  Skipped, saying
 * why, only when PostgreSQL is not installed; a server that is installed
 * and does not start fails the test.
 */
#include "check.h"
#include "servers.h"
#include "internal.h"
#include "pg/pg.h"
#include "team/team.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char server_dir[64];
static char port[16];
static char url[256];        /* the test role's URL, with its password */
static const char *password = "flor-test-pw-7f3a9c"; /* server.sh's */

/* URL of the test role on the test server with PASSWORD (NULL: none in
 * the URL), database DB and the query string QUERY ("" for none). */
static const char *url_with(const char *pw, const char *db, const char *query)
{
    static char u[512];
    snprintf(u, sizeof u, "postgresql://flor_test%s%s@127.0.0.1:%s/%s%s", pw ? ":" : "",
             pw ? pw : "", port, db, query);
    return u;
}

static flor__pg *connect_ok(const char *u)
{
    flor__pg *pg = NULL;
    if (flor__pg_connect(&pg, u, 10) != 0)
        printf("  connect: %s\n", flor_errmsg());
    return pg;
}

static int contains(const char *s, const char *part)
{
    return s && part && strstr(s, part) != NULL;
}

/* ---- connecting --------------------------------------------------------------------- */

static void test_connect_and_statements(void)
{
    flor__pg *pg = connect_ok(url);
    CHECK(pg != NULL);
    if (!pg)
        return;
    char where[128];
    snprintf(where, sizeof where, "postgresql://flor_test@127.0.0.1:%s/flor_test", port);
    CHECK_EQ_STR(flor__pg_where(pg), where);
    char buf[64];
    CHECK_EQ_INT(flor__pg_scalar(pg, "SELECT 6 * 7", 0, NULL, buf, sizeof buf), 0);
    CHECK_EQ_STR(buf, "42");
    CHECK_EQ_INT(flor__pg_scalar(pg, "SELECT current_setting('application_name')", 0, NULL, buf,
                                 sizeof buf), 0);
    CHECK_EQ_STR(buf, "flor");

    CHECK_EQ_INT(flor__pg_exec(pg, "CREATE TEMP TABLE t (a bigint, b text);"
                                   "INSERT INTO t VALUES (1, 'x')"), 0);
    const char *params[] = {"2", NULL};
    int64_t rows = -1;
    CHECK_EQ_INT(flor__pg_execp(pg, "INSERT INTO t VALUES ($1, $2), ($1 + 1, 'y')", 2, params,
                                &rows), 0);
    CHECK_EQ_INT(rows, 2);
    CHECK_EQ_INT(flor__pg_execp(pg, "SELECT * FROM t WHERE b IS NULL", 0, NULL, &rows), 0);
    CHECK_EQ_INT(rows, 1);
    CHECK_EQ_INT(flor__pg_scalar(pg, "SELECT b FROM t WHERE a = 2", 0, NULL, buf, sizeof buf), 0);
    CHECK_EQ_STR(buf, ""); /* SQL NULL */
    CHECK_EQ_INT(flor__pg_scalar(pg, "SELECT a FROM t WHERE a > 100", 0, NULL, buf, sizeof buf),
                 FLOR_ENOTFOUND);

    /* SQL the server rejects: EINVAL, naming the server and the statement. */
    CHECK_EQ_INT(flor__pg_exec(pg, "SELEC 1"), FLOR_EINVAL);
    CHECK(contains(flor_errmsg(), where));
    CHECK(contains(flor_errmsg(), "SELEC 1"));
    CHECK(contains(flor_errmsg(), "SQLSTATE 42601"));
    CHECK_EQ_INT(flor__pg_exec(pg, "SELECT * FROM no_such_table"), FLOR_ENOTFOUND);

    /* A transaction a statement failed in cannot be committed. */
    CHECK_EQ_INT(flor__pg_begin(pg), 0);
    CHECK_EQ_INT(flor__pg_exec(pg, "INSERT INTO t VALUES (10, 'z')"), 0);
    CHECK_EQ_INT(flor__pg_exec(pg, "INSERT INTO t VALUES ('not a number', 'z')"), FLOR_EINVAL);
    CHECK_EQ_INT(flor__pg_end(pg, 1), FLOR_EINVAL);
    CHECK(contains(flor_errmsg(), "rolled back"));
    CHECK_EQ_INT(flor__pg_scalar(pg, "SELECT count(*) FROM t", 0, NULL, buf, sizeof buf), 0);
    CHECK_EQ_STR(buf, "3");
    flor__pg_close(pg);
}

static void test_wrong_password(void)
{
    const char *secret = "Wr0ng-Pa55word-s3cret";
    flor__pg *pg = NULL;
    CHECK_EQ_INT(flor__pg_connect(&pg, url_with(secret, "flor_test", ""), 10), FLOR_EINVAL);
    CHECK(pg == NULL);
    const char *m = flor_errmsg();
    CHECK(contains(m, "login refused"));
    CHECK(contains(m, "127.0.0.1"));
    CHECK(contains(m, port));
    CHECK(!contains(m, secret));
    /* Not even the password the server expects leaks from a URL that failed for another reason. */
    CHECK_EQ_INT(flor__pg_connect(&pg, url_with(password, "no_such_db", ""), 10), FLOR_ENOTFOUND);
    CHECK(contains(flor_errmsg(), "no_such_db"));
    CHECK(!contains(flor_errmsg(), password));
}

static void test_missing_database(void)
{
    flor__pg *pg = NULL;
    CHECK_EQ_INT(flor__pg_connect(&pg, url_with(password, "nope_db", ""), 10), FLOR_ENOTFOUND);
    CHECK(pg == NULL);
    CHECK(contains(flor_errmsg(), "nope_db"));
    CHECK(contains(flor_errmsg(), "does not exist"));
}

static void test_malformed_url(void)
{
    const char *secret = "hidden-Pw-in-a-bad-url";
    flor__pg *pg = NULL;
    char bad[256];
    snprintf(bad, sizeof bad, "postgresql://flor_test:%s@127.0.0.1:%s/flor_test?no_such_option=1",
             secret, port);
    CHECK_EQ_INT(flor__pg_connect(&pg, bad, 10), FLOR_EINVAL);
    CHECK(pg == NULL);
    CHECK(contains(flor_errmsg(), "no_such_option"));
    CHECK(contains(flor_errmsg(), "expected a URL"));
    CHECK(!contains(flor_errmsg(), secret));

    snprintf(bad, sizeof bad, "host=127.0.0.1 password=%s bogus", secret);
    CHECK_EQ_INT(flor__pg_connect(&pg, bad, 10), FLOR_EINVAL);
    CHECK(!contains(flor_errmsg(), secret));
    CHECK(contains(flor_errmsg(), "***"));

    CHECK_EQ_INT(flor__pg_connect(&pg, "", 10), FLOR_EINVAL);
    CHECK(contains(flor_errmsg(), "expected a URL"));
}

static void test_closed_port(void)
{
    flor__pg *pg = NULL;
    const char *u = "postgresql://flor_test:closed-port-pw@127.0.0.1:1/flor_test";
    CHECK_EQ_INT(flor__pg_connect(&pg, u, 5), FLOR_EIO);
    CHECK(pg == NULL);
    CHECK(contains(flor_errmsg(), "postgresql://flor_test@127.0.0.1:1/flor_test: cannot connect"));
    CHECK(!contains(flor_errmsg(), "closed-port-pw"));
}

/* The password from PGPASSWORD, a .pgpass file or a service file, as libpq finds it. */
static void test_password_sources(void)
{
    char path[128], buf[16];
    flor__pg *pg = NULL;
    const char *bare = url_with(NULL, "flor_test", "");

    /* None anywhere: the server asks, and the message says where to put one. */
    setenv("PGPASSFILE", "/nonexistent/pgpass", 1);
    CHECK_EQ_INT(flor__pg_connect(&pg, bare, 10), FLOR_EINVAL);
    CHECK(contains(flor_errmsg(), "asks for a password"));
    CHECK(contains(flor_errmsg(), "PGPASSWORD"));

    setenv("PGPASSWORD", password, 1);
    pg = connect_ok(bare);
    CHECK(pg != NULL);
    if (pg)
        CHECK_EQ_INT(flor__pg_scalar(pg, "SELECT 1", 0, NULL, buf, sizeof buf), 0);
    flor__pg_close(pg);
    unsetenv("PGPASSWORD");

    snprintf(path, sizeof path, "%s/pgpass", server_dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fprintf(f, "127.0.0.1:%s:flor_test:flor_test:%s\n", port, password);
    fclose(f);
    chmod(path, 0600);
    setenv("PGPASSFILE", path, 1);
    pg = connect_ok(bare);
    CHECK(pg != NULL);
    flor__pg_close(pg);
    setenv("PGPASSFILE", "/nonexistent/pgpass", 1);

    snprintf(path, sizeof path, "%s/pg_service.conf", server_dir);
    f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fprintf(f, "[team]\nhost=127.0.0.1\nport=%s\ndbname=flor_test\nuser=flor_test\npassword=%s\n",
            port, password);
    fclose(f);
    setenv("PGSERVICEFILE", path, 1);
    pg = connect_ok("service=team");
    CHECK(pg != NULL);
    if (pg)
        CHECK(contains(flor__pg_where(pg), "flor_test@127.0.0.1"));
    flor__pg_close(pg);
    pg = connect_ok("postgresql:///?service=team");
    CHECK(pg != NULL);
    flor__pg_close(pg);
    unsetenv("PGSERVICEFILE");
}

/* ---- read-only transactions ------------------------------------------------------------ */

static void test_read_only_with_timeout(void)
{
    flor__pg *pg = connect_ok(url);
    CHECK(pg != NULL);
    if (!pg)
        return;
    char buf[64];
    CHECK_EQ_INT(flor__pg_exec(pg, "CREATE TABLE IF NOT EXISTS ro_probe (a int)"), 0);
    CHECK_EQ_INT(flor__pg_begin_read(pg, 5000), 0);
    CHECK_EQ_INT(flor__pg_scalar(pg, "SELECT count(*) FROM ro_probe", 0, NULL, buf, sizeof buf), 0);
    CHECK_EQ_INT(flor__pg_exec(pg, "INSERT INTO ro_probe VALUES (1)"), FLOR_EINVAL);
    CHECK(contains(flor_errmsg(), "read-only"));
    flor__pg_end(pg, 0);

    CHECK_EQ_INT(flor__pg_begin_read(pg, 5000), 0);
    CHECK_EQ_INT(flor__pg_exec(pg, "DROP TABLE ro_probe"), FLOR_EINVAL);
    flor__pg_end(pg, 0);

    /* A statement past the timeout is canceled: EIO, soon after the timeout. */
    CHECK_EQ_INT(flor__pg_begin_read(pg, 300), 0);
    double t0 = flor__mono();
    CHECK_EQ_INT(flor__pg_exec(pg, "SELECT pg_sleep(5)"), FLOR_EIO);
    double took = flor__mono() - t0;
    CHECK(took >= 0.25 && took < 3.0);
    CHECK(contains(flor_errmsg(), "statement timeout"));
    flor__pg_end(pg, 0);

    /* The timeout was the transaction's alone; the connection goes on. */
    CHECK_EQ_INT(flor__pg_exec(pg, "INSERT INTO ro_probe VALUES (1)"), 0);
    CHECK_EQ_INT(flor__pg_scalar(pg, "SELECT current_setting('statement_timeout')", 0, NULL, buf,
                                 sizeof buf), 0);
    CHECK_EQ_STR(buf, "0");
    CHECK_EQ_INT(flor__pg_exec(pg, "DROP TABLE ro_probe"), 0);
    flor__pg_close(pg);
}

/* ---- flor's tables ---------------------------------------------------------------------- */

static void test_schema_made_once(void)
{
    flor__pg *pg = connect_ok(url);
    CHECK(pg != NULL);
    if (!pg)
        return;
    char buf[64];
    CHECK_EQ_INT(flor__pg_exec(pg, "CREATE SCHEMA team_a"), 0);
    flor__pg_close(pg);
    pg = connect_ok(url_with(password, "flor_test", "?options=-csearch_path%3Dteam_a"));
    CHECK(pg != NULL);
    if (!pg)
        return;
    CHECK_EQ_INT(flor__pg_schema(pg), 0);
    CHECK_EQ_INT(flor__pg_scalar(pg, "SELECT value FROM team_a.flor_meta WHERE key = 'schema_version'",
                                 0, NULL, buf, sizeof buf), 0);
    CHECK_EQ_STR(buf, "2");
    CHECK_EQ_INT(flor__pg_scalar(pg,
                                 "SELECT count(*) FROM pg_tables WHERE schemaname = 'team_a'"
                                 " AND tablename IN ('flor_meta', 'flor_checkouts', 'flor_sync',"
                                 " 'flor_runs', 'flor_logs', 'flor_args', 'flor_loops')",
                                 0, NULL, buf, sizeof buf), 0);
    CHECK_EQ_STR(buf, "7");

    /* Tables of version 1 (no args, no loops, no count of resumes): brought
     * up to version 2 in place. */
    CHECK_EQ_INT(flor__pg_exec(pg, "DROP TABLE flor_args; DROP TABLE flor_loops;"
                                   " ALTER TABLE flor_runs DROP COLUMN resumes;"
                                   " UPDATE flor_meta SET value = '1' WHERE key = 'schema_version'"),
                 0);
    CHECK_EQ_INT(flor__pg_schema(pg), 0);
    CHECK_EQ_INT(flor__pg_scalar(pg, "SELECT (SELECT value FROM team_a.flor_meta WHERE key = 'schema_version')"
                                     " || (SELECT count(*) FROM team_a.flor_args)"
                                     " || (SELECT count(*) FROM team_a.flor_loops)"
                                     " || (SELECT count(resumes) FROM team_a.flor_runs)",
                                 0, NULL, buf, sizeof buf), 0);
    CHECK_EQ_STR(buf, "2000");
    /* Again, and from a second connection: used as it is. */
    CHECK_EQ_INT(flor__pg_schema(pg), 0);
    flor__pg *other = connect_ok(url_with(password, "flor_test", "?options=-csearch_path%3Dteam_a"));
    CHECK(other != NULL);
    if (other)
        CHECK_EQ_INT(flor__pg_schema(other), 0);
    flor__pg_close(other);
    CHECK_EQ_INT(flor__pg_scalar(pg, "SELECT count(*) FROM team_a.flor_meta", 0, NULL, buf,
                                 sizeof buf), 0);
    CHECK_EQ_STR(buf, "2");

    /* The tables keep a checkout's rows apart and refuse a value of two types. */
    CHECK_EQ_INT(flor__pg_exec(pg,
                               "INSERT INTO flor_checkouts(checkout, projid, host, path)"
                               " VALUES ('c1', 'p', 'h', '/x');"
                               "INSERT INTO flor_runs(checkout, run_id, projid, tstamp, filename,"
                               " argv, host, pid, status, start_time)"
                               " VALUES ('c1', 1, 'p', '2026-01-01T00:00:00', 'train', '[]', 'h',"
                               " 7, 'finished', 1.0)"), 0);
    CHECK_EQ_INT(flor__pg_exec(pg, "INSERT INTO flor_logs(checkout, log_id, run_id, name, value_int,"
                                   " value_real, source) VALUES ('c1', 1, 1, 'loss', 1, 0.5, 'record')"),
                 FLOR_EINVAL);

    /* A newer flor's tables: refused, changing nothing. */
    CHECK_EQ_INT(flor__pg_exec(pg, "UPDATE flor_meta SET value = '99' WHERE key = 'schema_version'"), 0);
    CHECK_EQ_INT(flor__pg_schema(pg), FLOR_EINVAL);
    CHECK(contains(flor_errmsg(), "schema version 99"));
    CHECK(contains(flor_errmsg(), "upgrade flor"));
    CHECK_EQ_INT(flor__pg_exec(pg, "UPDATE flor_meta SET value = '1' WHERE key = 'schema_version'"), 0);
    CHECK_EQ_INT(flor__pg_exec(pg, "UPDATE flor_meta SET value = 'billing' WHERE key = 'program'"), 0);
    CHECK_EQ_INT(flor__pg_schema(pg), FLOR_EINVAL);
    CHECK(contains(flor_errmsg(), "another program"));
    CHECK_EQ_INT(flor__pg_exec(pg, "DROP SCHEMA team_a CASCADE"), 0);
    flor__pg_close(pg);
}

static void test_schema_of_another_program(void)
{
    flor__pg *pg = connect_ok(url);
    CHECK(pg != NULL);
    if (!pg)
        return;
    char buf[64];
    CHECK_EQ_INT(flor__pg_exec(pg, "CREATE SCHEMA billing;"
                                   "CREATE TABLE billing.invoices (id int PRIMARY KEY)"), 0);
    flor__pg_close(pg);
    pg = connect_ok(url_with(password, "flor_test", "?options=-csearch_path%3Dbilling"));
    CHECK(pg != NULL);
    if (!pg)
        return;
    CHECK_EQ_INT(flor__pg_schema(pg), FLOR_EINVAL);
    CHECK(contains(flor_errmsg(), "a database of another program"));
    CHECK(contains(flor_errmsg(), "'invoices'"));
    CHECK(contains(flor_errmsg(), port));
    CHECK_EQ_INT(flor__pg_scalar(pg, "SELECT count(*) FROM pg_tables WHERE schemaname = 'billing'",
                                 0, NULL, buf, sizeof buf), 0);
    CHECK_EQ_STR(buf, "1"); /* nothing was added */
    flor__pg_close(pg);

    /* A search_path that names no schema there is: nowhere to make them. */
    pg = connect_ok(url_with(password, "flor_test", "?options=-csearch_path%3Dno_such_schema"));
    CHECK(pg != NULL);
    if (!pg)
        return;
    CHECK_EQ_INT(flor__pg_schema(pg), FLOR_EINVAL);
    CHECK(contains(flor_errmsg(), "no schema"));
    flor__pg_close(pg);
}

/* ---- the server stopped ------------------------------------------------------------------ */

static int server(const char *what)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "sh tests/pg/server.sh %s %s", what, server_dir);
    return system(cmd);
}

/* ---- the replicator: a checkout's journal copied to the server ----------------------------- */

/* A checkout's journal: a SQLite database in a scratch directory, with
 * two runs (run 1 finished, run 2 running) and LOGS logs of each kind of value. */
struct journal {
    char dir[64];
    sqlite3 *db;
};

static int journal_new(struct journal *j, int logs)
{
    snprintf(j->dir, sizeof j->dir, "/tmp/flor-unit-pgj-XXXXXX");
    if (!mkdtemp(j->dir) || flor__db_open(j->dir, 1, 0, &j->db) != 0)
        return -1;
    int64_t run;
    char tstamp[32];
    if (flor__runs_insert(j->db, "proj", "train", NULL, "[\"train\"]", &run, tstamp) != 0 ||
        flor__runs_set_status(j->db, run, "finished", 0.01, NULL) != 0 ||
        flor__runs_insert(j->db, "proj", "train", NULL, "[\"train\", \"--lr\"]", &run, tstamp) != 0)
        return -1;
    char sql[512];
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
             " INSERT INTO logs(run_id, ctx_id, name, value, source)"
             " SELECT 1 + i %% 2, NULL, 'loss', CASE i %% 5 WHEN 0 THEN i WHEN 1 THEN i * 0.25"
             " WHEN 2 THEN 'text ' || i WHEN 3 THEN 'NaN' ELSE NULL END, 'record' FROM n",
             logs);
    return flor__db_exec(j->db, sql) == 0 &&
                   flor__db_exec(j->db, "INSERT INTO logs(run_id, ctx_id, name, value, source)"
                                        " VALUES (1, NULL, 'top', 9e999, 'record'),"
                                        " (1, NULL, 'low', -9e999, 'record')") == 0
               ? 0
               : -1;
}

static void journal_free(struct journal *j)
{
    sqlite3_close(j->db);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", j->dir);
    if (system(cmd) != 0)
        printf("  could not remove %s\n", j->dir);
}

/* A digest of what a journal holds, to see that a copy changed nothing. */
static void journal_digest(sqlite3 *db, char *out, size_t n)
{
    sqlite3_stmt *st = NULL;
    snprintf(out, n, "?");
    if (sqlite3_prepare_v2(db,
                           "SELECT (SELECT count(*) || ':' || total(rowid) || ':' || total(length(name))"
                           " FROM logs) || '/' || (SELECT group_concat(run_id || status, ',') FROM runs)",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

static int64_t pg_count(flor__pg *pg, const char *sql)
{
    char buf[32];
    if (flor__pg_scalar(pg, sql, 0, NULL, buf, sizeof buf) != 0) {
        printf("  %s: %s\n", sql, flor_errmsg());
        return -1;
    }
    return strtoll(buf, NULL, 10);
}

/* A connection to the fresh schema NAME, with flor's tables made there. */
static flor__pg *team_schema(const char *name)
{
    char sql[128], query[128];
    flor__pg *pg = connect_ok(url);
    if (!pg)
        return NULL;
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", name, name);
    int rc = flor__pg_exec(pg, sql);
    flor__pg_close(pg);
    snprintf(query, sizeof query, "?options=-csearch_path%%3D%s", name);
    pg = rc == 0 ? connect_ok(url_with(password, "flor_test", query)) : NULL;
    if (pg && flor__pg_schema(pg) != 0) {
        printf("  schema: %s\n", flor_errmsg());
        flor__pg_close(pg);
        return NULL;
    }
    return pg;
}

static const flor__team_checkout checkout_a = {"a", "proj", "host-a", "/work/a", NULL};
static const flor__team_checkout checkout_b = {"b", "proj", "host-b", "/work/b", NULL};

static void test_sync_twice_copies_once(void)
{
    struct journal j;
    flor__pg *pg = team_schema("team_once");
    CHECK(pg != NULL);
    CHECK_EQ_INT(journal_new(&j, 2500), 0);
    if (!pg || !j.db)
        return;
    char before[256], after[256];
    journal_digest(j.db, before, sizeof before);
    flor__team_sync_stats st;
    CHECK_EQ_INT(flor__team_sync(j.db, pg, &checkout_a, &st), 0);
    CHECK_EQ_INT(st.runs, 2);
    CHECK_EQ_INT(st.logs, 2502);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_logs"), 2502);
    CHECK_EQ_INT(pg_count(pg, "SELECT high FROM flor_sync WHERE checkout = 'a' AND tbl = 'logs'"),
                 2502);
    journal_digest(j.db, after, sizeof after);
    CHECK_EQ_STR(after, before); /* the journal is only read */

    /* Again: nothing new, nothing doubled. */
    CHECK_EQ_INT(flor__team_sync(j.db, pg, &checkout_a, &st), 0);
    CHECK_EQ_INT(st.runs, 0);
    CHECK_EQ_INT(st.logs, 0);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_logs"), 2502);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_runs"), 2);

    /* Each value in the column of its type, as the journal has it. */
    CHECK_EQ_INT(pg_count(pg, "SELECT sum(value_int) FROM flor_logs"), 5 * (500 * 501 / 2));
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_logs WHERE value_real = 'NaN'"), 500);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_logs WHERE value_text LIKE 'text %'"), 500);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_logs WHERE value_int IS NULL"
                              " AND value_real IS NULL AND value_text IS NULL"), 500);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_logs WHERE value_real = 'Infinity'"
                              " AND name = 'top' OR value_real = '-Infinity' AND name = 'low'"), 2);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_logs WHERE value_real = 375.25"), 1);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_runs WHERE checkout = 'a'"
                              " AND run_id = 1 AND status = 'finished' AND ckpt_overhead = 0.01"), 1);

    /* The journal goes on: a run ends, logs are added; only those travel. */
    CHECK_EQ_INT(flor__runs_set_status(j.db, 2, "failed", -1, "out of memory"), 0);
    CHECK_EQ_INT(flor__db_exec(j.db, "INSERT INTO logs(run_id, ctx_id, name, value, source)"
                                     " VALUES (2, NULL, 'acc', 7, 'record'), (2, NULL, 'acc', 8, 'record')"),
                 0);
    CHECK_EQ_INT(flor__team_sync(j.db, pg, &checkout_a, &st), 0);
    CHECK_EQ_INT(st.runs, 1);
    CHECK_EQ_INT(st.logs, 2);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_runs WHERE run_id = 2 AND status = 'failed'"
                              " AND reason = 'out of memory'"), 1);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_logs"), 2504);

    /* Text with the characters COPY escapes arrives as it was. */
    CHECK_EQ_INT(flor__db_exec(j.db, "INSERT INTO logs(run_id, ctx_id, name, value, source)"
                                     " VALUES (2, NULL, 'odd', 'a' || char(9) || 'b' || char(10)"
                                     " || 'c\\d' || char(13) || '\\N', 'record')"), 0);
    CHECK_EQ_INT(flor__team_sync(j.db, pg, &checkout_a, &st), 0);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_logs WHERE name = 'odd' AND value_text ="
                              " 'a' || chr(9) || 'b' || chr(10) || 'c\\d' || chr(13) || '\\N'"), 1);

    /* A later replay's value replaces the earlier replay's, as in the journal. */
    CHECK_EQ_INT(flor__db_exec(j.db, "INSERT INTO logs(run_id, ctx_id, name, value, source)"
                                     " VALUES (1, NULL, 'hindsight', 1, 'replay')"), 0);
    CHECK_EQ_INT(flor__team_sync(j.db, pg, &checkout_a, &st), 0);
    CHECK_EQ_INT(flor__db_exec(j.db, "INSERT OR REPLACE INTO logs(run_id, ctx_id, name, value, source)"
                                     " VALUES (1, NULL, 'hindsight', 2, 'replay')"), 0);
    CHECK_EQ_INT(flor__team_sync(j.db, pg, &checkout_a, &st), 0);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_logs WHERE name = 'hindsight'"), 1);
    CHECK_EQ_INT(pg_count(pg, "SELECT value_int FROM flor_logs WHERE name = 'hindsight'"), 2);
    journal_free(&j);
    flor__pg_close(pg);
}

static void test_two_checkouts_keep_their_runs(void)
{
    struct journal a, b;
    flor__pg *pg = team_schema("team_two");
    CHECK(pg != NULL);
    CHECK_EQ_INT(journal_new(&a, 100), 0);
    CHECK_EQ_INT(journal_new(&b, 30), 0);
    if (!pg || !a.db || !b.db)
        return;
    CHECK_EQ_INT(flor__team_sync(a.db, pg, &checkout_a, NULL), 0);
    CHECK_EQ_INT(flor__team_sync(b.db, pg, &checkout_b, NULL), 0);
    /* Both journals have runs 1 and 2: four runs on the server. */
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_runs"), 4);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_logs WHERE checkout = 'a'"), 102);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_logs WHERE checkout = 'b'"), 32);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_logs l JOIN flor_runs r USING (checkout, run_id)"
                              " WHERE checkout = 'b'"), 32); /* each log under its own checkout's run */
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_checkouts WHERE checkout = 'b'"
                              " AND host = 'host-b' AND path = '/work/b'"), 1);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(DISTINCT (checkout, run_id)) FROM flor_logs"), 4);

    /* The id of checkout a, claimed from elsewhere: refused, nothing copied. */
    flor__team_checkout copied = {"a", "proj", "host-c", "/work/c", NULL};
    flor__team_sync_stats st;
    CHECK_EQ_INT(flor__team_sync(b.db, pg, &copied, &st), FLOR_EINVAL);
    CHECK(contains(flor_errmsg(), "already copied from host-a:/work/a"));
    CHECK_EQ_INT(st.runs + st.logs, 0);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_logs"), 134);
    CHECK_EQ_INT(flor__team_sync(b.db, pg, &(flor__team_checkout){"", "p", "h", "/x", NULL}, NULL),
                 FLOR_EINVAL);
    journal_free(&a);
    journal_free(&b);
    flor__pg_close(pg);
}

/* A large journal copied in transactions of 1,000 logs: all of it, once;
 * the rate is printed (docs/team.md). */
/* Args and the loop iterations of the logs travel with them; a copier that
 * keeps what it sent sends a run again only when it changed; a resume that
 * replaced some of a run's logs replaces them on the server too. */
static void test_sync_args_loops_and_resumes(void)
{
    struct journal j;
    flor__pg *pg = team_schema("team_loops");
    CHECK(pg != NULL);
    CHECK_EQ_INT(journal_new(&j, 10), 0);
    if (!pg || !j.db)
        return;
    CHECK_EQ_INT(flor__db_exec(j.db,
                               "INSERT INTO args(run_id, name, value, from_kwargs, ord) VALUES"
                               " (1, 'lr', 0.01, 0, 0), (1, 'epochs', 5, 1, 1), (2, 'opt', 'adam', 0, 0);"
                               "INSERT INTO loops(run_id, ctx_id, parent_ctx_id, name, iteration, value)"
                               " VALUES (1, 1, NULL, 'epoch', 0, NULL), (1, 2, 1, 'step', 0, 'batch-a'),"
                               " (1, 3, 1, 'step', 1, 7), (1, 4, NULL, 'epoch', 1, NULL);"
                               "INSERT INTO logs(run_id, ctx_id, name, value, source) VALUES"
                               " (1, 2, 'loss', 0.5, 'record'), (1, 3, 'loss', 0.25, 'record'),"
                               " (1, 1, 'acc', 0.75, 'record')"),
                 0);
    flor__team_seen *seen = flor__team_seen_new();
    CHECK(seen != NULL);
    flor__team_checkout co = checkout_a;
    co.seen = seen;
    flor__team_sync_stats st;
    CHECK_EQ_INT(flor__team_sync(j.db, pg, &co, &st), 0);
    CHECK_EQ_INT(st.runs, 2);
    CHECK_EQ_INT(st.logs, 15);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_args"), 3);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_args WHERE run_id = 1 AND name = 'lr'"
                              " AND value_real = 0.01 AND from_kwargs = 0 AND ord = 0"), 1);
    CHECK_EQ_INT(pg_count(pg, "SELECT value_int FROM flor_args WHERE name = 'epochs'"), 5);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_args WHERE value_text = 'adam'"), 1);
    /* The iterations the logs are in, and their parents; not the one with none. */
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_loops"), 3);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_loops WHERE ctx_id = 2"
                              " AND parent_ctx_id = 1 AND value_text = 'batch-a' AND name = 'step'"),
                 1);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_loops WHERE ctx_id = 3 AND value_int = 7"),
                 1);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_loops WHERE upto ="
                              " (SELECT high FROM flor_sync WHERE checkout = 'a')"), 3);

    /* Nothing changed: no run is sent. An arg changed: its run's args are
     * replaced. */
    CHECK_EQ_INT(flor__team_sync(j.db, pg, &co, &st), 0);
    CHECK_EQ_INT(st.runs + st.logs, 0);
    CHECK_EQ_INT(flor__db_exec(j.db, "UPDATE args SET value = 0.02 WHERE name = 'lr';"
                                     "DELETE FROM args WHERE name = 'epochs'"), 0);
    CHECK_EQ_INT(flor__team_sync(j.db, pg, &co, &st), 0);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_args WHERE run_id = 1"), 1);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_args WHERE value_real = 0.02"), 1);

    /* A resume of run 1 after epoch 0's first step: the journal's later
     * rows of the run went (to superseded_*), the continuation logs anew. */
    CHECK_EQ_INT(flor__db_exec(j.db,
                               "INSERT INTO resumes(run_id, loop, iteration, prev_status, host, pid,"
                               " started) VALUES (1, 'step', 0, 'killed', 'h', 9, 1.0);"
                               "DELETE FROM logs WHERE run_id = 1 AND ctx_id = 3;"
                               "DELETE FROM loops WHERE run_id = 1 AND ctx_id = 3;"
                               "INSERT INTO loops(run_id, ctx_id, parent_ctx_id, name, iteration)"
                               " VALUES (1, 5, 1, 'step', 1);"
                               "INSERT INTO logs(run_id, ctx_id, name, value, source)"
                               " VALUES (1, 5, 'loss', 0.125, 'record')"),
                 0);
    CHECK_EQ_INT(flor__team_sync(j.db, pg, &co, &st), 0);
    CHECK_EQ_INT(pg_count(pg, "SELECT resumes FROM flor_runs WHERE run_id = 1"), 1);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_logs WHERE run_id = 1 AND ctx_id = 3"), 0);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_loops WHERE run_id = 1 AND ctx_id = 3"), 0);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_logs WHERE run_id = 1 AND ctx_id = 5"
                              " AND value_real = 0.125"), 1);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_loops WHERE run_id = 1 AND ctx_id = 5"), 1);
    sqlite3_stmt *q = NULL;
    int64_t journal_logs = -1;
    if (sqlite3_prepare_v2(j.db, "SELECT count(*) FROM logs", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        journal_logs = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_logs"), journal_logs);
    /* Once replaced, not again. */
    CHECK_EQ_INT(flor__team_sync(j.db, pg, &co, &st), 0);
    CHECK_EQ_INT(st.runs + st.logs, 0);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_logs"), journal_logs);
    flor__team_seen_free(seen);
    journal_free(&j);
    flor__pg_close(pg);
}

/* A resume that moved the journal's newest logs away: SQLite gives their
 * rowids to the continuation's logs, below the mark; they reach the server
 * all the same, each once. */
static void test_sync_resume_reuses_rowids(void)
{
    struct journal j;
    flor__pg *pg = team_schema("team_reuse");
    CHECK(pg != NULL);
    CHECK_EQ_INT(journal_new(&j, 20), 0);
    if (!pg || !j.db)
        return;
    CHECK_EQ_INT(flor__db_exec(j.db, "INSERT INTO logs(run_id, ctx_id, name, value, source)"
                                     " VALUES (2, NULL, 'late', 1, 'record'), (2, NULL, 'late', 2,"
                                     " 'record'), (2, NULL, 'late', 3, 'record')"),
                 0);
    flor__team_sync_stats st;
    CHECK_EQ_INT(flor__team_sync(j.db, pg, &checkout_a, &st), 0);
    CHECK_EQ_INT(pg_count(pg, "SELECT high FROM flor_sync"), 25);
    /* The resume moves the three newest logs away; the continuation logs
     * one now (rowid 23 again) and two after the next copy. */
    CHECK_EQ_INT(flor__db_exec(j.db,
                               "INSERT INTO resumes(run_id, loop, iteration, prev_status, host, pid,"
                               " started) VALUES (2, 'epoch', 0, 'killed', 'h', 9, 1.0);"
                               "DELETE FROM logs WHERE name = 'late';"
                               "INSERT INTO logs(run_id, ctx_id, name, value, source)"
                               " VALUES (2, NULL, 'again', 10, 'record')"),
                 0);
    CHECK_EQ_INT(flor__team_sync(j.db, pg, &checkout_a, &st), 0);
    CHECK_EQ_INT(flor__db_exec(j.db, "INSERT INTO logs(run_id, ctx_id, name, value, source)"
                                     " VALUES (2, NULL, 'again', 20, 'record'),"
                                     " (2, NULL, 'again', 30, 'record')"),
                 0);
    CHECK_EQ_INT(flor__team_sync(j.db, pg, &checkout_a, &st), 0);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_logs WHERE name = 'late'"), 0);
    CHECK_EQ_INT(pg_count(pg, "SELECT sum(value_int) FROM flor_logs WHERE name = 'again'"), 60);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_logs"), 25);
    CHECK_EQ_INT(pg_count(pg, "SELECT high FROM flor_sync"), 25);
    journal_free(&j);
    flor__pg_close(pg);
}

static void test_sync_many_logs(void)
{
    struct journal j;
    flor__pg *pg = team_schema("team_many");
    CHECK(pg != NULL);
    CHECK_EQ_INT(journal_new(&j, 100000), 0);
    if (!pg || !j.db)
        return;
    flor__team_sync_stats st;
    double t0 = flor__mono();
    CHECK_EQ_INT(flor__team_sync(j.db, pg, &checkout_a, &st), 0);
    double took = flor__mono() - t0;
    printf("  100002 logs copied in %.2f s (%.0f rows/s)\n", took, 100002 / took);
    CHECK_EQ_INT(st.logs, 100002);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_logs"), 100002);
    CHECK_EQ_INT(pg_count(pg, "SELECT sum(value_int) FROM flor_logs"), 5 * (20000LL * 20001 / 2));
    journal_free(&j);
    flor__pg_close(pg);
}

/* A copy killed in the middle (SIGKILL, between or inside its
 * transactions): the next copy goes on from the mark, and every row is
 * on the server once. */
static void test_sync_killed_midway(void)
{
    struct journal j;
    flor__pg *pg = team_schema("team_killed");
    CHECK(pg != NULL);
    CHECK_EQ_INT(journal_new(&j, 100000), 0);
    if (!pg || !j.db)
        return;
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        sqlite3 *db = NULL;
        flor__pg *c = NULL;
        if (flor__db_open(j.dir, 0, 0, &db) == 0 &&
            flor__pg_connect(&c, url_with(password, "flor_test", "?options=-csearch_path%3Dteam_killed"),
                             10) == 0)
            flor__team_sync(db, c, &checkout_a, NULL);
        _exit(0);
    }
    CHECK(child > 0);
    /* Kill it once some logs, not all, are on the server. */
    int64_t there = 0;
    for (int i = 0; i < 2000 && there < 5000; i++) {
        usleep(5000);
        there = pg_count(pg, "SELECT coalesce(max(high), 0) FROM flor_sync WHERE tbl = 'logs'");
    }
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    int64_t before = pg_count(pg, "SELECT count(*) FROM flor_logs");
    CHECK(before >= 5000 && before < 100002);
    CHECK_EQ_INT(before, pg_count(pg, "SELECT high FROM flor_sync WHERE tbl = 'logs'"));

    flor__team_sync_stats st;
    CHECK_EQ_INT(flor__team_sync(j.db, pg, &checkout_a, &st), 0);
    CHECK_EQ_INT(st.logs, 100002 - before);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_logs"), 100002);
    CHECK_EQ_INT(pg_count(pg, "SELECT count(DISTINCT log_id) FROM flor_logs"), 100002);
    CHECK_EQ_INT(pg_count(pg, "SELECT sum(value_int) FROM flor_logs"), 5 * (20000LL * 20001 / 2));
    journal_free(&j);
    flor__pg_close(pg);
}

/* The server stopped: the copy fails and says so, the journal goes on
 * untouched; started again, the copy catches up, each row once. */
static void test_sync_server_stopped(void)
{
    struct journal j;
    flor__pg *pg = team_schema("team_down");
    CHECK(pg != NULL);
    CHECK_EQ_INT(journal_new(&j, 1500), 0);
    if (!pg || !j.db)
        return;
    CHECK_EQ_INT(flor__team_sync(j.db, pg, &checkout_a, NULL), 0);
    CHECK_EQ_INT(server("stop"), 0);
    CHECK_EQ_INT(flor__db_exec(j.db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                                     " WHERE i < 1200) INSERT INTO logs(run_id, ctx_id, name, value,"
                                     " source) SELECT 2, NULL, 'late', i, 'record' FROM n"),
                 0);
    char before[256], after[256];
    journal_digest(j.db, before, sizeof before);
    flor__team_sync_stats st;
    CHECK_EQ_INT(flor__team_sync(j.db, pg, &checkout_a, &st), FLOR_EIO);
    CHECK(contains(flor_errmsg(), "127.0.0.1"));
    CHECK(!contains(flor_errmsg(), password));
    CHECK_EQ_INT(st.logs, 0);
    journal_digest(j.db, after, sizeof after);
    CHECK_EQ_STR(after, before);
    flor__pg_close(pg);

    CHECK_EQ_INT(server("restart"), 0);
    pg = connect_ok(url_with(password, "flor_test", "?options=-csearch_path%3Dteam_down"));
    CHECK(pg != NULL);
    if (pg) {
        CHECK_EQ_INT(flor__team_sync(j.db, pg, &checkout_a, &st), 0);
        CHECK_EQ_INT(st.logs, 1200);
        CHECK_EQ_INT(pg_count(pg, "SELECT count(*) FROM flor_logs"), 1502 + 1200);
        CHECK_EQ_INT(pg_count(pg, "SELECT count(DISTINCT log_id) FROM flor_logs"), 1502 + 1200);
        CHECK_EQ_INT(pg_count(pg, "SELECT sum(value_int) FROM flor_logs WHERE name = 'late'"),
                     1200 * 1201 / 2);
    }
    journal_free(&j);
    flor__pg_close(pg);
}

static void test_server_stopped_and_started(void)
{
    flor__pg *pg = connect_ok(url);
    CHECK(pg != NULL);
    if (!pg)
        return;
    CHECK_EQ_INT(server("stop"), 0);
    CHECK_EQ_INT(flor__pg_exec(pg, "SELECT 1"), FLOR_EIO);
    CHECK(contains(flor_errmsg(), "connection was lost"));
    CHECK(!contains(flor_errmsg(), password));
    flor__pg_close(pg);
    flor__pg *again = NULL;
    CHECK_EQ_INT(flor__pg_connect(&again, url, 5), FLOR_EIO);
    CHECK(contains(flor_errmsg(), "cannot connect"));
    CHECK(!contains(flor_errmsg(), password));

    CHECK_EQ_INT(server("restart"), 0);
    again = connect_ok(url);
    CHECK(again != NULL);
    char buf[16];
    if (again)
        CHECK_EQ_INT(flor__pg_scalar(again, "SELECT 1", 0, NULL, buf, sizeof buf), 0);
    flor__pg_close(again);
}

/* ---- the server -------------------------------------------------------------------------- */

/* Starts tests/pg/server.sh; 0, -1 to skip (the reason printed), -2 for a failure. */
static int start_server(void)
{
    int rc = test_server_start("pg", "test_pg", "PostgreSQL");
    if (rc != 0)
        return rc;
    snprintf(server_dir, sizeof server_dir, "%s", test_server_dir);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "%s/port", server_dir);
    FILE *f = fopen(cmd, "r");
    if (!f || !fgets(port, sizeof port, f)) {
        printf("FAIL test_pg: no port in %s\n", cmd);
        if (f)
            fclose(f);
        return -2;
    }
    fclose(f);
    port[strcspn(port, "\n")] = 0;
    snprintf(url, sizeof url, "%s", url_with(password, "flor_test", ""));
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *unset[] = {"PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD", "PGPASSFILE",
                           "PGSERVICE", "PGSERVICEFILE", "PGOPTIONS", "PGCONNECT_TIMEOUT",
                           "PGSSLMODE", "PGAPPNAME"};
    for (size_t i = 0; i < sizeof unset / sizeof unset[0]; i++)
        unsetenv(unset[i]);
    int started = start_server();
    if (started == -1)
        return check_summary();
    if (started != 0) {
        check_failed++;
        return check_summary();
    }
    /* No ~/.pgpass of whoever runs the tests may answer for the test role. */
    setenv("PGPASSFILE", "/nonexistent/pgpass", 1);
    RUN(test_connect_and_statements);
    RUN(test_wrong_password);
    RUN(test_missing_database);
    RUN(test_malformed_url);
    RUN(test_closed_port);
    RUN(test_password_sources);
    RUN(test_read_only_with_timeout);
    RUN(test_schema_made_once);
    RUN(test_schema_of_another_program);
    RUN(test_sync_twice_copies_once);
    RUN(test_two_checkouts_keep_their_runs);
    RUN(test_sync_args_loops_and_resumes);
    RUN(test_sync_resume_reuses_rowids);
    RUN(test_sync_many_logs);
    RUN(test_sync_killed_midway);
    RUN(test_sync_server_stopped);
    RUN(test_server_stopped_and_started);
    return check_summary();
}
