/*
 * bench_ckpt.c -- what a checkpoint costs the training thread.
 *
 * 1. Stall per checkpoint / memcpy of the same bytes, for 16 MB, 256 MB
 *    and (with --big) 1 GB of registered state: each size is recorded in
 *    a loop of 3 iterations with FLOR_OVERHEAD=1 (a checkpoint every
 *    iteration), and the stall the run measured (checkpoints.stall_s) is
 *    set against a warm memcpy of the same size timed in this process.
 * 2. The policy under pressure: 512 MB of state, 40 iterations of 50 ms
 *    of work; with the default 1% budget, how many checkpoints it takes,
 *    the overhead it measured, and the wall time against FLOR_MODE=off;
 *    with the child processes' page faults and CPU time, and the one
 *    checkpoint's stall, write time and stored bytes.  `--policy` runs
 *    this case alone.
 *
 * Each case runs in a child process (one run per process).
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[256];

static void scratch(void)
{
    snprintf(dir, sizeof dir, "/tmp/flor-bench-ckpt-XXXXXX");
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

/* Work for about MS milliseconds that touches no registered state. */
static double busy(double ms)
{
    double t0 = flor__mono(), x = 1;
    while ((flor__mono() - t0) * 1000 < ms)
        for (int i = 0; i < 10000; i++)
            x = x * 1.0000001 + 1e-9;
    return x;
}

static int child_record(size_t bytes, long iters, double work_ms)
{
    char *argv[] = {"bench_ckpt", NULL};
    char **av = argv;
    int argc = 1;
    if (flor_init(&argc, &av) != 0) {
        fprintf(stderr, "flor_init: %s\n", flor_errmsg());
        return 1;
    }
    float *state = malloc(bytes);
    if (!state)
        return 1;
    size_t n = bytes / sizeof *state;
    for (size_t i = 0; i < n; i++)
        state[i] = (float)(i % 1000) * 1e-3f;
    flor_checkpoint_typed("weights", state, n * sizeof *state, FLOR_F32, 1);
    volatile double sink = 0;
    FLOR_LOOP(it, "epoch", iters) {
        for (size_t i = (size_t)it; i < n; i += 4096) /* a training step's change */
            state[i] += 1e-3f;
        sink += busy(work_ms);
    }
    (void)sink;
    int rc = flor_finish();
    free(state);
    return rc ? 1 : 0;
}

/* What the last child cost: minor page faults and CPU seconds (user + system). */
static long child_faults;
static double child_cpu;

static double run_child(size_t bytes, long iters, double work_ms, const char *overhead, int off)
{
    double t0 = flor__mono();
    pid_t pid = fork();
    if (pid == 0) {
        if (overhead)
            setenv("FLOR_OVERHEAD", overhead, 1);
        if (off)
            setenv("FLOR_MODE", "off", 1);
        _exit(child_record(bytes, iters, work_ms));
    }
    int st;
    struct rusage ru;
    wait4(pid, &st, 0, &ru);
    child_faults = ru.ru_minflt + ru.ru_majflt;
    child_cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
                (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench child failed\n");
        exit(1);
    }
    return flor__mono() - t0;
}

static double query_real(const char *sql)
{
    flor_project *p;
    flor_table *t;
    double v = -1;
    if (flor_project_open(&p, ".") != 0)
        return v;
    if (flor_project_query(p, sql, &t) == 0) {
        if (flor_table_nrows(t))
            v = flor_table_type(t, 0, 0) == FLOR_INTEGER ? (double)flor_table_int(t, 0, 0)
                                                         : flor_table_real(t, 0, 0);
        flor_table_free(t);
    }
    flor_project_free(p);
    return v;
}

static double memcpy_secs(size_t bytes)
{
    char *a = malloc(bytes), *b = malloc(bytes);
    memset(a, 1, bytes);
    memset(b, 2, bytes); /* both warm, as flor's staging is */
    double best = 1e9;
    for (int r = 0; r < 3; r++) {
        double t0 = flor__mono();
        memcpy(b, a, bytes);
        double t = flor__mono() - t0;
        if (t < best)
            best = t;
    }
    volatile char sink = b[bytes - 1];
    (void)sink;
    free(a);
    free(b);
    return best;
}

int main(int argc, char **argv)
{
    int big = argc > 1 && strcmp(argv[1], "--big") == 0;
    int policy_only = argc > 1 && strcmp(argv[1], "--policy") == 0;
    setenv("FLOR_QUIET", "1", 1);
    size_t sizes[] = {16u << 20, 256u << 20, 1024u << 20};
    int nsizes = policy_only ? 0 : big ? 3 : 2;
    printf("checkpoint stall on the training thread vs memcpy of the same bytes\n");
    printf("%10s %12s %12s %8s %10s %10s\n", "state", "stall ms", "memcpy ms", "ratio",
           "stored MB", "write ms");
    for (int k = 0; k < nsizes; k++) {
        scratch();
        run_child(sizes[k], 3, 20, "1", 0);
        /* the first checkpoint may pay page faults in fresh staging; the
         * steady state is what training sees every epoch after */
        double stall = query_real("SELECT min(stall_s) FROM checkpoints");
        double wr = query_real("SELECT avg(write_s) FROM checkpoints");
        double stored = query_real("SELECT sum(stored_bytes) FROM checkpoints");
        cleanup();
        double mc = memcpy_secs(sizes[k]);
        printf("%7zu MB %12.2f %12.2f %8.2f %10.1f %10.1f\n", sizes[k] >> 20, stall * 1e3,
               mc * 1e3, stall / mc, stored / 1e6, wr * 1e3);
    }

    printf("\nthe policy: 512 MB of state, 40 iterations of 50 ms, FLOR_OVERHEAD=0.01\n");
    scratch();
    double on = run_child(512u << 20, 40, 50, NULL, 0);
    long on_faults = child_faults;
    double on_cpu = child_cpu;
    double taken = query_real("SELECT count(*) FROM checkpoints");
    double overhead = query_real("SELECT ckpt_overhead FROM runs");
    double pstall = query_real("SELECT max(stall_s) FROM checkpoints");
    double pwrite = query_real("SELECT max(write_s) FROM checkpoints");
    double pstored = query_real("SELECT sum(stored_bytes) FROM checkpoints");
    double praw = query_real("SELECT count(*) FROM checkpoints WHERE codec = 'raw'");
    double off = run_child(512u << 20, 40, 50, NULL, 1);
    cleanup();
    printf("checkpoints taken %.0f of 40; overhead measured by flor %.2f%%; "
           "wall time on/off %.3f (%.2f s / %.2f s)\n",
           taken, overhead * 100, on / off, on, off);
    printf("the checkpoint: stall %.0f ms, write %.0f ms, stored %.0f MB%s\n", pstall * 1e3,
           pwrite * 1e3, pstored / 1e6, praw > 0 ? " (raw: every core was busy)" : "");
    printf("page faults on/off %ld / %ld; CPU s on/off %.2f / %.2f\n", on_faults, child_faults,
           on_cpu, child_cpu);
    return 0;
}
