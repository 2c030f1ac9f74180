/*
 * test_policy.c -- the adaptive checkpoint policy spends its budget on
 * what a checkpoint costs the machine, the checkpoint writer's CPU
 * included, and spends it at an even cadence on round iterations.
 *
 * The writer test records real runs (a child process each, a real store,
 * real bytes) of a flat loop whose iterations take a fixed time, once
 * with state that is cheap to write (unchanged: the writer only hashes
 * it) and once with state that is expensive to write (new random bytes
 * each iteration: hashed, compressed and written in full).  The pause of
 * a snapshot is the same copy in both.
 */
#include "check.h"
#include "internal.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char project[256];

static void new_project(void) { check_scratch_dir(project, sizeof project, "policy", 1); }

static void remove_project(void) { check_remove_dir(project); }

static long count_checkpoints(void)
{
    flor_project *p;
    flor_table *t;
    long n = -1;
    if (flor_project_open(&p, project) != 0)
        return -1;
    if (flor_project_query(p, "SELECT count(*) FROM checkpoints", &t) == 0) {
        n = (long)flor_table_int(t, 0, 0);
        flor_table_free(t);
    }
    flor_project_free(p);
    return n;
}

/* ---- the cost of a checkpoint, the writer's CPU included ----------------- */

#define WORDS (512 * 1024) /* 4 MB */
#define ITERATIONS 300
#define ITERATION_S 0.008

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* In the child: a flat loop of ITERATIONS of ITERATION_S each over 4 MB
 * of registered state, rewritten with new random bytes every iteration
 * when EXPENSIVE.  The machine is taken to have one core, so that the
 * writer's CPU comes out of training in full whatever else runs here. */
static int record_child(int expensive)
{
    char *argv[] = {"trainer", NULL};
    char **av = argv;
    int argc = 1;
    if (flor_init(&argc, &av) != 0)
        return 10;
    uint64_t *w = malloc(WORDS * sizeof *w), x = 88172645463325252ull;
    for (size_t i = 0; i < WORDS; i++)
        w[i] = i;
    if (flor_checkpoint_typed("w", w, WORDS * sizeof *w, FLOR_I64, 1) != 0)
        return 11;
    flor__ckpt_wait_idle(); /* the staging is warm */
    FLOR_LOOP(i, "step", ITERATIONS) {
        flor__R.policy.ncpu = 1;
        double t0 = now_s();
        for (size_t j = 0; expensive && j < WORDS; j++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            w[j] = x;
        }
        while (now_s() - t0 < ITERATION_S)
            ;
    }
    if (flor__R.policy.writer_charged <= 0)
        return 12;
    /* the writer's CPU on 4 MB of new random bytes outweighs the training
     * thread's copies, and it is what the policy charged */
    if (expensive && !(flor__R.policy.writer_charged > flor__R.policy.stall_total))
        return 14;
    if (flor_finish() != 0)
        return 13;
    free(w);
    return 0;
}

static long record(int expensive)
{
    new_project();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (chdir(project) != 0)
            _exit(99);
        exit(record_child(expensive));
    }
    int st;
    waitpid(pid, &st, 0);
    long n = WIFEXITED(st) && WEXITSTATUS(st) == 0 ? count_checkpoints() : -100 - st;
    remove_project();
    return n;
}

/* With a 5% budget and 8 ms iterations the snapshot's pause (a 4 MB
 * copy, well under 1 ms) alone would fit a checkpoint at nearly every
 * iteration; what the writer spends on hashing, compressing and writing
 * 4 MB of random bytes makes those checkpoints rarer.  Here both the
 * charge and the skip of an iteration whose previous checkpoint is still
 * being written hold it back (taking the charge out of the decision
 * leaves about as few): the test shows the charge is counted, and that
 * costly state is checkpointed less, not which of the two limits it. */
static void test_the_writers_cpu_is_charged(void)
{
    setenv("FLOR_OVERHEAD", "0.05", 1);
    long cheap = record(0), expensive = record(1);
    unsetenv("FLOR_OVERHEAD");
    printf("# checkpoints in %d iterations: %ld of cheap state, %ld of expensive state\n",
           ITERATIONS, cheap, expensive);
    CHECK(cheap > 0 && expensive > 0);
    CHECK(expensive < cheap);
}

static void test_the_writers_weight_follows_the_idle_cores(void)
{
    CHECK(flor__policy_writer_weight(1, 0) == 1);
    CHECK(flor__policy_writer_weight(1, 0.9) == 1); /* one core: nothing is spare */
    CHECK(flor__policy_writer_weight(2, 0) == 1);   /* every core busy */
    CHECK(flor__policy_writer_weight(2, 1) == 0.5);
    CHECK(flor__policy_writer_weight(2, 1.7) == 0.5); /* at most cores - 1 spare */
    CHECK(flor__policy_writer_weight(16, 15) == 1.0 / 16);
    CHECK(flor__policy_writer_weight(4, -0.1) == 1);
    flor__policy p;
    flor__policy_init(&p, 0.01, 0);
    p.ncpu = 2;
    flor__policy_writer(&p, 0.004, 1, 1 << 20); /* 4 ms while one core idled */
    CHECK(p.writer_charged > 0.00199 && p.writer_charged < 0.00201);
    CHECK(flor__policy_cost(&p, 1 << 20) > 0.002);
}

/* ---- even spacing -------------------------------------------------------- */

/* 1 ms iterations, 0.2 ms pauses and 4 ms of writer CPU at a 1% budget
 * afford a checkpoint every 420 iterations: the policy takes every 500th
 * (iterations 499, 999, ...), never two closer together, and uses what it
 * earns without exceeding it. */
static void test_checkpoints_are_evenly_spaced_on_round_iterations(void)
{
    flor__policy p;
    flor__policy_init(&p, 0.01, 0);
    p.ncpu = 1;
    long taken[64];
    int n = 0;
    double now = 0;
    for (long i = 0; i < 10000; i++) {
        now += 0.001;
        p.iteration = i;
        if (flor__policy_decide(&p, now, 1 << 20, 0, 0) == FLOR__TAKE) {
            flor__policy_taken(&p, 0.0002, 1 << 20);
            flor__policy_writer(&p, 0.004, 0, 1 << 20);
            now += 0.0002;
            if (n < 64)
                taken[n++] = i;
        }
    }
    CHECK(n >= 15 && n <= 20);
    for (int k = 1; k < n; k++)
        CHECK_EQ_INT((taken[k] + 1) % 500, 0);
    for (int k = 2; k < n; k++) /* after the first, no gaps */
        CHECK_EQ_INT(taken[k] - taken[k - 1], 500);
    CHECK(p.stall_total + p.writer_charged <= 0.01 * now);
}

/* Iterations with cost to spare: every iteration is a candidate, and a
 * cadence is one of 1, 2, 4, 5, 10, 20, 25, 50, 100, ... */
static void test_the_cadence_is_a_round_number(void)
{
    double cost[] = {0.0005, 0.015, 0.03, 0.041, 0.11, 0.24, 0.26, 3.1};
    long want[] = {1, 2, 4, 5, 20, 25, 50, 500};
    for (int c = 0; c < 8; c++) {
        flor__policy p;
        flor__policy_init(&p, 0.01, 0);
        p.bytes_per_s = 1e9; /* a pause of COST for 1e9 x COST bytes */
        size_t bytes = (size_t)(cost[c] * 1e9);
        p.first = 0; /* 1000 iterations of 1 s so far */
        p.iteration = 999;
        flor__policy_decide(&p, 1000.0, bytes, 0, 0);
        if (p.cadence != want[c])
            printf("# cost %g s: cadence %ld, expected %ld\n", cost[c], p.cadence, want[c]);
        CHECK_EQ_INT(p.cadence, want[c]);
    }
}

int main(void)
{
    setenv("FLOR_QUIET", "1", 1);
    RUN(test_the_writers_weight_follows_the_idle_cores);
    RUN(test_checkpoints_are_evenly_spaced_on_round_iterations);
    RUN(test_the_cadence_is_a_round_number);
    RUN(test_the_writers_cpu_is_charged);
    return check_summary();
}
