/*
 * bench_log.c -- what recording costs the training thread, and how fast
 * the writer and the pivot are.  Prints one line per figure:
 *
 *   flor_log into the buffer       calls/s (goal >= 5 M/s)
 *   rows persisted by the writer   rows/s  (goal >= 1 M/s)
 *   dataframe, 1000 runs x 100 epochs x 10 metrics   seconds (goal < 0.5 s)
 *
 * Usage: bench_log [CALLS]   (default 1,000,000: a burst that fits in the
 * in-memory buffer, so the calls are timed, not the writer; a longer
 * burst makes the training thread wait for the writer at the buffer's
 * 220 MiB cap, and then runs at the writer's rate)
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[256];

static void scratch(const char *what)
{
    snprintf(dir, sizeof dir, "/tmp/flor-bench-%s-XXXXXX", what);
    if (!mkdtemp(dir) || chdir(dir) != 0) {
        perror(dir);
        exit(1);
    }
}

static void cleanup(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (chdir("/") != 0 || system(cmd) != 0)
        perror("cleanup");
}

/* The rows of run 1 in logs and in loops, read back from the database. */
static double count_rows(const char *table)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE run_id = 1", table);
    if (sqlite3_open_v2(".flor/flor.db", &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "count: %s\n", sqlite3_errmsg(db));
        exit(1);
    }
    double n = sqlite3_step(st) == SQLITE_ROW ? (double)sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Child: time the calls and the flush; report through a pipe the two
 * times and the rows the database holds afterwards. */
static void bench_calls(long calls, double out[4])
{
    int fds[2];
    if (pipe(fds) != 0)
        exit(1);
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {"bench_log", NULL};
        char **av = argv;
        int argc = 1;
        if (flor_init(&argc, &av) != 0) {
            fprintf(stderr, "flor_init: %s\n", flor_errmsg());
            _exit(1);
        }
        long per_epoch = 100000;
        double t0 = flor__mono();
        FLOR_LOOP(e, "epoch", calls / per_epoch) {
            FLOR_LOOP(s, "step", per_epoch) { flor_log("loss", (double)s * 0.5); }
        }
        double t1 = flor__mono();
        flor_flush();
        double t2 = flor__mono();
        flor_finish();
        double r[4] = {t1 - t0, t2 - t0, count_rows("logs"), count_rows("loops")};
        if (write(fds[1], r, sizeof r) != (ssize_t)sizeof r)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    if (read(fds[0], out, 4 * sizeof(double)) != 4 * (ssize_t)sizeof(double)) {
        fprintf(stderr, "bench child failed\n");
        exit(1);
    }
    waitpid(pid, NULL, 0);
    close(fds[0]);
}

static void bench_bare(long calls, double *secs)
{
    /* the same loop shape with flor off: the cost of the loop itself */
    volatile double sink = 0;
    double t0 = flor__mono();
    for (long i = 0; i < calls; i++)
        sink += (double)i * 0.5;
    *secs = flor__mono() - t0;
    (void)sink;
}

static void make_synthetic(void)
{
    sqlite3 *db;
    if (mkdir(".flor", 0777) != 0 || flor__db_open(".flor", 1, 0, &db) != 0) {
        fprintf(stderr, "synthetic: %s\n", flor_errmsg());
        exit(1);
    }
    const char *sql =
        "BEGIN;"
        "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM r WHERE i < 1000)"
        " INSERT INTO runs(run_id, projid, tstamp, filename, argv, host, pid, status, start_time)"
        " SELECT i, 'bench', printf('2026-01-01T%02d:%02d:%02d', i/3600, (i/60)%60, i%60),"
        " 'train', '[]', 'h', i, 'finished', i FROM r;"
        "INSERT INTO args SELECT run_id, 'lr', run_id * 1e-4, 1, 0 FROM runs;"
        "INSERT INTO args SELECT run_id, 'hidden', 100 + run_id % 7, 0, 1 FROM runs;"
        "WITH RECURSIVE e(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM e WHERE i < 99)"
        " INSERT INTO loops SELECT run_id, e.i + 1, NULL, 'epoch', e.i FROM runs, e;"
        "WITH RECURSIVE m(j) AS (SELECT 0 UNION ALL SELECT j+1 FROM m WHERE j < 9)"
        " INSERT INTO logs(run_id, ctx_id, name, value)"
        " SELECT l.run_id, l.ctx_id, 'm' || m.j, l.iteration * 0.01 + m.j FROM loops l, m;"
        "INSERT INTO logs(run_id, ctx_id, name, value) SELECT run_id, NULL, 'acc', 0.5 FROM runs;"
        "COMMIT;";
    if (flor__db_exec(db, sql) != 0) {
        fprintf(stderr, "synthetic: %s\n", flor_errmsg());
        exit(1);
    }
    sqlite3_close(db);
}

static double time_dataframe(const char *const *names, size_t n, size_t *rows)
{
    flor_project *p;
    if (flor_project_open(&p, ".") != 0) {
        fprintf(stderr, "open: %s\n", flor_errmsg());
        exit(1);
    }
    flor_table *t;
    double t0 = flor__mono();
    if (flor_project_dataframe(p, names, n, &t) != 0) {
        fprintf(stderr, "dataframe: %s\n", flor_errmsg());
        exit(1);
    }
    double secs = flor__mono() - t0;
    *rows = flor_table_nrows(t);
    flor_table_free(t);
    flor_project_free(p);
    return secs;
}

int main(int argc, char **argv)
{
    long calls = argc > 1 ? atol(argv[1]) : 1000000L;
    setenv("FLOR_QUIET", "1", 1);

    scratch("log");
    double r[4], bare;
    bench_calls(calls, r);
    bench_bare(calls, &bare);
    cleanup();
    printf("flor_log into the buffer      %8.2f M calls/s  (%.1f ns/call; bare loop %.1f ns)\n",
           calls / r[0] / 1e6, r[0] / calls * 1e9, bare / calls * 1e9);
    long persisted = calls + calls / 100000 * 100001; /* logs + one loops row per iteration */
    if ((long)r[2] != calls || (long)(r[2] + r[3]) != persisted) {
        fprintf(stderr, "the database holds %.0f logs and %.0f loops rows; expected %ld and %ld\n",
                r[2], r[3], calls, persisted - calls);
        return 1;
    }
    printf("rows persisted by the writer  %8.2f M rows/s   (%ld log + %ld loop rows in %.2f s)\n",
           persisted / r[1] / 1e6, calls, persisted - calls, r[1]);

    scratch("frame");
    make_synthetic();
    size_t rows;
    double t_plain = time_dataframe(NULL, 0, &rows);
    printf("dataframe, 1000 runs x 100 epochs x 10 metrics: %.3f s (%zu rows)\n", t_plain, rows);
    const char *two[] = {"m0", "m1"};
    double t_named = time_dataframe(two, 2, &rows);
    printf("dataframe m0 m1 on the same project:            %.3f s (%zu rows)\n", t_named, rows);
    cleanup();
    return 0;
}
