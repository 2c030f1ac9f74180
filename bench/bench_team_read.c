/*
 * bench_team_read.c -- flor dataframe over the team's runs in PostgreSQL
 * (docs/team.md, "Reading the team's runs"): 1,000 runs x 100 epochs x
 * 10 metrics (1 M logs, 100,000 loop iterations) recorded in a journal,
 * copied to a real PostgreSQL server (tests/pg/server.sh) by the
 * replicator, then read back: the first read (the replica made, every row
 * pulled), a steady-state read (nothing new on the server), and the same
 * dataframe from the local journal beside them.  Medians of 3 with their
 * ranges.  Run from the repository's root (make bench does).
 */
#include "internal.h"
#include "pg/pg.h"
#include "team/team.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RUNS 1000
#define EPOCHS 100
#define METRICS 10
#define REPS 3

static char server_dir[64], project_dir[64];

static void die(const char *what)
{
    fprintf(stderr, "bench_team_read: %s: %s\n", what, flor_errmsg());
    exit(1);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *t)
{
    qsort(t, REPS, sizeof *t, cmp);
    printf("%-44s median %7.3f s  (range %.3f .. %.3f)\n", what, t[REPS / 2], t[0], t[REPS - 1]);
}

static const char *names[METRICS] = {"m0", "m1", "m2", "m3", "m4",
                                     "m5", "m6", "m7", "m8", "m9"};

/* Opens the reading project, refreshes the team's replica and pivots the
 * 10 metrics; *REFRESH gets the refresh's share. */
static double team_dataframe(double *refresh)
{
    double t0 = flor__mono();
    flor_project *p = NULL, *t = NULL;
    flor_table *df = NULL;
    if (flor_project_open(&p, project_dir) || flor_project_team_open(p, &t))
        die("team open");
    double t1 = flor__mono();
    if (flor_project_dataframe(t, names, METRICS, &df))
        die("team dataframe");
    if (flor_table_nrows(df) != (size_t)RUNS * EPOCHS) {
        fprintf(stderr, "bench_team_read: %zu rows, expected %d\n", flor_table_nrows(df),
                RUNS * EPOCHS);
        exit(1);
    }
    flor_table_free(df);
    flor_project_free(t);
    flor_project_free(p);
    *refresh = t1 - t0;
    return flor__mono() - t0;
}

static void cleanup(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "sh tests/pg/server.sh stop %s >/dev/null 2>&1; rm -rf %s %s",
             server_dir, server_dir, project_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_team_read: could not clean up\n");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    snprintf(server_dir, sizeof server_dir, "/tmp/flor-bench-pg-%d", (int)getpid());
    char cmd[512];
    snprintf(cmd, sizeof cmd, "sh tests/pg/server.sh start %s >/dev/null", server_dir);
    int st = system(cmd);
    if (st != 0) {
        printf("skipped: tests/pg/server.sh could not start PostgreSQL (run from the "
               "repository's root, with postgresql installed)\n");
        return 0;
    }
    snprintf(project_dir, sizeof project_dir, "/tmp/flor-bench-team-XXXXXX");
    if (!mkdtemp(project_dir))
        die("mkdtemp");
    if (!getenv("FLOR_BENCH_KEEP")) /* to look at afterwards */
        atexit(cleanup);
    else
        printf("kept: the server in %s, the project in %s\n", server_dir, project_dir);
    char port[16] = "";
    snprintf(cmd, sizeof cmd, "%s/port", server_dir);
    FILE *f = fopen(cmd, "r");
    if (!f || !fgets(port, sizeof port, f))
        die("no port");
    fclose(f);
    port[strcspn(port, "\n")] = 0;
    char url[256];
    snprintf(url, sizeof url, "postgresql://flor_test:flor-test-pw-7f3a9c@127.0.0.1:%s/flor_test",
             port);
    setenv("FLOR_TEAM_DB", url, 1);
    setenv("FLOR_QUIET", "1", 1);

    /* the journal: 1,000 runs, each with an arg, 100 epochs, 10 metrics per epoch */
    flor_project *p = NULL;
    if (flor_project_create(&p, project_dir))
        die("project");
    sqlite3 *db = NULL;
    if (flor__db_open(flor_project_dir(p), 0, 0, &db))
        die("journal");
    double t0 = flor__mono();
    for (int r = 0; r < RUNS; r++) {
        int64_t run;
        char tstamp[32];
        if (flor__runs_insert(db, "proj", "train", NULL, "[\"train\"]", &run, tstamp) ||
            flor__runs_set_status(db, run, "finished", 0.0, NULL))
            die("run");
    }
    char sql[1024];
    snprintf(sql, sizeof sql,
             "BEGIN;"
             "INSERT INTO args(run_id, name, value, from_kwargs, ord)"
             " SELECT run_id, 'lr', 1.0 / run_id, 1, 0 FROM runs;"
             "WITH RECURSIVE e(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM e WHERE i < %d)"
             " INSERT INTO loops(run_id, ctx_id, parent_ctx_id, name, iteration, value)"
             " SELECT run_id, i + 1, NULL, 'epoch', i, i FROM runs, e;"
             "WITH RECURSIVE e(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM e WHERE i < %d),"
             " m(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM m WHERE k < %d)"
             " INSERT INTO logs(run_id, ctx_id, name, value, source)"
             " SELECT run_id, i + 1, 'm' || k, run_id * 0.001 + i * 0.5 + k, 'record'"
             " FROM runs, e, m ORDER BY run_id, i, k;"
             "COMMIT",
             EPOCHS - 1, EPOCHS - 1, METRICS - 1);
    if (flor__db_exec(db, sql))
        die("logs");
    printf("journal: %d runs x %d epochs x %d metrics = %d logs, made in %.1f s\n", RUNS, EPOCHS,
           METRICS, RUNS * EPOCHS * METRICS, flor__mono() - t0);

    /* copied to the server by the replicator */
    flor__pg *pg = NULL;
    if (flor__pg_connect(&pg, url, 10) || flor__pg_schema(pg))
        die("server");
    const flor__team_checkout co = {.id = "bench", .projid = "proj", .host = "bench-host",
                                    .path = project_dir};
    t0 = flor__mono();
    flor__team_sync_stats ss;
    if (flor__team_sync(db, pg, &co, &ss))
        die("sync");
    printf("copied to PostgreSQL by flor__team_sync: %lld logs in %.1f s\n", (long long)ss.logs,
           flor__mono() - t0);
    flor__pg_close(pg);
    sqlite3_close(db);

    double local[REPS], first[REPS], first_refresh[REPS], steady[REPS], steady_refresh[REPS];
    for (int i = 0; i < REPS; i++) {
        t0 = flor__mono();
        flor_table *df = NULL;
        if (flor_project_dataframe(p, names, METRICS, &df))
            die("local dataframe");
        flor_table_free(df);
        local[i] = flor__mono() - t0;

        snprintf(cmd, sizeof cmd, "rm -rf %s/team", flor_project_dir(p));
        if (system(cmd) != 0)
            die("rm");
        first[i] = team_dataframe(&first_refresh[i]);
        steady[i] = team_dataframe(&steady_refresh[i]);
    }
    flor_project_free(p);
    report("local journal: dataframe of 10 metrics", local);
    report("team, first read: refresh (1 M logs pulled)", first_refresh);
    report("team, first read: refresh + dataframe", first);
    report("team, steady state: refresh (nothing new)", steady_refresh);
    report("team, steady state: refresh + dataframe", steady);
    return 0;
}
