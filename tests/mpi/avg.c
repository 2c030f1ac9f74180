/*
 * avg.c -- a data-parallel trainer on MPI: every rank holds its own shard
 * of synthetic regression data, computes the gradient of its shard, and
 * the ranks average their gradients with MPI_Allreduce before each
 * update, so that the weights stay identical on every rank.
 *
 * Recorded with flor as a run of MPI_Comm_size processes.  Each rank
 * registers its own state (weights, momentum, its batch generator) and
 * logs `loss` (its shard's batch loss) every 10 steps, `avg_loss` (the
 * mean over the ranks) every 50 and `final` after the loop.  Built with
 * -DHINDSIGHT it also logs `grad_norm` (the norm of the rank's own
 * gradient, before averaging) every 25 steps: a statement and its helper
 * added after training.
 * Prints "rank R step N" for each step it executes.
 *
 * --kwargs: steps (200), every (25: flor_checkpoint_every; 0: adaptive),
 * sleep_us (0: microseconds each step sleeps, as if it trained longer).
 * AVG_KILL_AT=N: rank 0 kills itself (SIGKILL) as step N begins, and
 * mpirun then stops the other ranks: a crash to resume from.
 */
#include <flor.h>
#include <mpi.h>

#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define DIM 8
#define NDATA 256
#define BATCH 16

static double xs[NDATA][DIM], ys[NDATA];

static uint64_t next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static double uniform(uint64_t *s) { return (double)(next(s) >> 11) / 9007199254740992.0 - 0.5; }

/* The same true weights on every rank, a different shard of samples. */
static void make_shard(int rank)
{
    uint64_t s = 0x9E3779B97F4A7C15u;
    double truth[DIM];
    for (int k = 0; k < DIM; k++)
        truth[k] = 2 * uniform(&s);
    s ^= 0x5851F42D4C957F2Du * (uint64_t)(rank + 1);
    for (int i = 0; i < NDATA; i++) {
        ys[i] = 0.1 * uniform(&s);
        for (int k = 0; k < DIM; k++) {
            xs[i][k] = uniform(&s);
            ys[i] += truth[k] * xs[i][k];
        }
    }
}

#ifdef HINDSIGHT
static double norm(const double *v)
{
    double s2 = 0;
    for (int k = 0; k < DIM; k++)
        s2 += v[k] * v[k];
    return sqrt(s2);
}
#endif

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (flor_init(&argc, &argv) != 0) {
        fprintf(stderr, "avg: rank %d: %s\n", rank, flor_errmsg());
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    long steps = flor_arg("steps", 200L);
    long every = flor_arg("every", 25L);
    long sleep_us = flor_arg("sleep_us", 0L);
    if (every > 0 && flor_checkpoint_every(NULL, every, 0) != 0)
        fprintf(stderr, "avg: %s\n", flor_errmsg());
    make_shard(rank);
    double w[DIM] = {0}, mom[DIM] = {0};
    uint64_t rng = 88172645463325252u ^ (uint64_t)(rank + 1);
    flor_checkpoint_typed("w", w, sizeof w, FLOR_F64, 1);
    flor_checkpoint_typed("momentum", mom, sizeof mom, FLOR_F64, 1);
    flor_checkpoint_typed("rng", &rng, sizeof rng, FLOR_I64, 1);
    const char *kill_at = getenv("AVG_KILL_AT");
    FLOR_LOOP(step, "step", steps) {
        if (kill_at && rank == 0 && step == atol(kill_at)) {
            fflush(stdout);
            raise(SIGKILL);
        }
        printf("rank %d step %ld\n", rank, step);
        if (sleep_us > 0) {
            struct timespec ts = {sleep_us / 1000000, sleep_us % 1000000 * 1000};
            nanosleep(&ts, NULL);
        }
        double grad[DIM] = {0}, loss = 0;
        for (int b = 0; b < BATCH; b++) {
            int i = (int)(next(&rng) % NDATA);
            double e = -ys[i];
            for (int k = 0; k < DIM; k++)
                e += w[k] * xs[i][k];
            loss += e * e / BATCH;
            for (int k = 0; k < DIM; k++)
                grad[k] += 2 * e * xs[i][k] / BATCH;
        }
#ifdef HINDSIGHT
        if (step % 25 == 0)
            flor_log("grad_norm", norm(grad));
#endif
        double sum[DIM + 1], part[DIM + 1];
        for (int k = 0; k < DIM; k++)
            part[k] = grad[k];
        part[DIM] = loss;
        MPI_Allreduce(part, sum, DIM + 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        for (int k = 0; k < DIM; k++) {
            mom[k] = 0.9 * mom[k] + sum[k] / size;
            w[k] -= 0.05 * mom[k];
        }
        if (step % 10 == 0)
            flor_log("loss", loss);
        if (step % 50 == 49)
            flor_log("avg_loss", sum[DIM] / size);
    }
    double e2 = 0;
    for (int i = 0; i < NDATA; i++) {
        double e = -ys[i];
        for (int k = 0; k < DIM; k++)
            e += w[k] * xs[i][k];
        e2 += e * e / NDATA;
    }
    flor_log("final", e2);
    int rc = flor_finish();
    if (rc)
        fprintf(stderr, "avg: rank %d: %s\n", rank, flor_errmsg());
    MPI_Finalize();
    return rc ? 1 : 0;
}
