/*
 * flat.c -- a small deterministic trainer shaped like a plain C trainer:
 * ONE flat flor loop over steps, no outer epoch loop.
 *
 * Linear regression on NDATA synthetic samples (from SEED) with SGD and
 * momentum.  Each step draws a batch with a xorshift generator whose
 * state is registered, so a step that runs again computes what the
 * record computed, bit for bit.  The momentum buffer does not exist
 * before the first update: it is allocated (and registered) inside step
 * 0, on first use, as trainers allocate optimizer state.
 *
 * Logs: `loss` every 10 steps, `eval` (the held-out loss) every 50 steps,
 * `final` after the loop.  Prints "step N" for every step it executes,
 * so that a test can count what a replay re-executes.
 *
 * --kwargs: steps (200), seed (1), every (0: the adaptive policy; N:
 * flor_checkpoint_every(NULL, N, 0)), sleep_us (0: microseconds each
 * step sleeps, so that the policy sees a loop that takes time).  Built with -DHINDSIGHT it also logs
 * `param_norm` every 25 steps: the statement a user adds afterwards.
 */
#include <flor.h>

#include "xorshift.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define DIM 8
#define NDATA 256
#define BATCH 16

static double xs[NDATA][DIM], ys[NDATA];

static void make_data(long seed)
{
    uint64_t s = 0x9E3779B97F4A7C15u ^ (uint64_t)seed;
    double truth[DIM];
    for (int k = 0; k < DIM; k++)
        truth[k] = 2 * uniform(&s);
    for (int i = 0; i < NDATA; i++) {
        ys[i] = 0.1 * uniform(&s);
        for (int k = 0; k < DIM; k++) {
            xs[i][k] = uniform(&s);
            ys[i] += truth[k] * xs[i][k];
        }
    }
}

/* Mean squared error of W on samples [from, to). */
static double loss_on(const double *w, int from, int to)
{
    double sum = 0;
    for (int i = from; i < to; i++) {
        double e = -ys[i];
        for (int k = 0; k < DIM; k++)
            e += w[k] * xs[i][k];
        sum += e * e;
    }
    return sum / (to - from);
}

int main(int argc, char **argv)
{
    if (flor_init(&argc, &argv) != 0) {
        fprintf(stderr, "flat: %s\n", flor_errmsg());
        return 2;
    }
    long steps = flor_arg("steps", 200L);
    long seed = flor_arg("seed", 1L);
    long every = flor_arg("every", 0L);
    long sleep_us = flor_arg("sleep_us", 0L);
    if (every > 0 && flor_checkpoint_every(NULL, every, 0) != 0)
        fprintf(stderr, "flat: %s\n", flor_errmsg());
    make_data(seed);
    double w[DIM] = {0};
    uint64_t rng = 88172645463325252u ^ (uint64_t)seed;
    double *mom = NULL; /* allocated on first use */
    flor_checkpoint_typed("w", w, sizeof w, FLOR_F64, 1);
    flor_checkpoint_typed("rng", &rng, sizeof rng, FLOR_I64, 1);
    FLOR_LOOP(step, "step", steps) {
        printf("step %ld\n", step);
        if (sleep_us > 0) {
            struct timespec ts = {sleep_us / 1000000, sleep_us % 1000000 * 1000};
            nanosleep(&ts, NULL);
        }
        double grad[DIM] = {0}, loss = 0;
        for (int b = 0; b < BATCH; b++) {
            int i = (int)(next(&rng) % (NDATA - 64)); /* the last 64: held out */
            double e = -ys[i];
            for (int k = 0; k < DIM; k++)
                e += w[k] * xs[i][k];
            loss += e * e / BATCH;
            for (int k = 0; k < DIM; k++)
                grad[k] += 2 * e * xs[i][k] / BATCH;
        }
        if (!mom) {
            mom = calloc(DIM, sizeof *mom);
            if (!mom)
                return 1;
            flor_checkpoint_typed("momentum", mom, DIM * sizeof *mom, FLOR_F64, 1);
        }
        for (int k = 0; k < DIM; k++) {
            mom[k] = 0.9 * mom[k] + grad[k];
            w[k] -= 0.05 * mom[k];
        }
        if (step % 10 == 0)
            flor_log("loss", loss);
        if (step % 50 == 49)
            flor_log("eval", loss_on(w, NDATA - 64, NDATA));
#ifdef HINDSIGHT
        if (step % 25 == 0) {
            double s2 = 0;
            for (int k = 0; k < DIM; k++)
                s2 += w[k] * w[k] + mom[k] * mom[k];
            flor_log("param_norm", sqrt(s2));
        }
#endif
    }
    flor_log("final", loss_on(w, NDATA - 64, NDATA));
    free(mom);
    int rc = flor_finish();
    if (rc)
        fprintf(stderr, "flat: %s\n", flor_errmsg());
    return rc ? 1 : 0;
}
