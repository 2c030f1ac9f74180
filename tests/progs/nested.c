/*
 * nested.c -- a small deterministic trainer whose checkpointed loop is an
 * INNER one: an outer `epoch` loop (its name from NESTED_OUTER, default
 * "epoch") around a `step` loop checkpointed every `every` steps with
 * flor_checkpoint_every("step", ...).  Its step counter starts at 0 in each
 * epoch, so the checkpoints' coords are "epoch=E,step=S".
 *
 * Linear regression with SGD and momentum on NDATA synthetic samples; the
 * batches come from a xorshift generator whose state is registered.  Each
 * epoch logs `lr` (a function of the epoch alone) before its step loop,
 * every step logs `loss`, and each epoch ends with `eval`; `final` after
 * the loops.  Prints "epoch E" for every epoch body it runs and "step E.S"
 * for every step, so that a test sees what a resume skips.
 *
 * --kwargs: epochs (4), steps (30), every (5), sleep_us (0).
 * NESTED_KILL=E.S: the process kills itself with SIGKILL at step S of
 * epoch E, once its logs and checkpoints had time to be committed (a
 * deterministic crash).  Code that differs from the recorded run's, for a
 * forced resume: NESTED_EPOCHS=N runs N epochs whatever `epochs` is, and
 * NESTED_NO_STEPS=1 leaves the step loop out.
 */
#include <flor.h>

#include "xorshift.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define DIM 6
#define NDATA 200

static double xs[NDATA][DIM], ys[NDATA];

static void pause_us(long us)
{
    struct timespec ts = {us / 1000000, us % 1000000 * 1000};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    if (flor_init(&argc, &argv) != 0) {
        fprintf(stderr, "nested: %s\n", flor_errmsg());
        return 2;
    }
    long epochs = flor_arg("epochs", 4L);
    long steps = flor_arg("steps", 30L);
    long every = flor_arg("every", 5L);
    long sleep_us = flor_arg("sleep_us", 0L);
    const char *outer = getenv("NESTED_OUTER");
    const char *nepochs = getenv("NESTED_EPOCHS"), *no_steps = getenv("NESTED_NO_STEPS");
    if (nepochs && *nepochs)
        epochs = atol(nepochs);
    long kill_e = -1, kill_s = -1;
    const char *kill_at = getenv("NESTED_KILL");
    if (kill_at && sscanf(kill_at, "%ld.%ld", &kill_e, &kill_s) != 2)
        kill_e = kill_s = -1;
    if (flor_checkpoint_every("step", every, 0) != 0)
        fprintf(stderr, "nested: %s\n", flor_errmsg());

    uint64_t s = 0x9E3779B97F4A7C15u;
    double truth[DIM], w[DIM] = {0}, mom[DIM] = {0};
    for (int k = 0; k < DIM; k++)
        truth[k] = 2 * uniform(&s);
    for (int i = 0; i < NDATA; i++) {
        ys[i] = 0.05 * uniform(&s);
        for (int k = 0; k < DIM; k++) {
            xs[i][k] = uniform(&s);
            ys[i] += truth[k] * xs[i][k];
        }
    }
    uint64_t rng = 88172645463325252u;
    flor_checkpoint_typed("w", w, sizeof w, FLOR_F64, 1);
    flor_checkpoint_typed("momentum", mom, sizeof mom, FLOR_F64, 1);
    flor_checkpoint_typed("rng", &rng, sizeof rng, FLOR_I64, 1);

    FLOR_LOOP(epoch, outer && *outer ? outer : "epoch", epochs) {
        printf("epoch %ld\n", epoch);
        double lr = 0.1;
        for (long e = 0; e < epoch; e++)
            lr *= 0.5;
        flor_log("lr", lr);
        if (!no_steps || !*no_steps) FLOR_LOOP(step, "step", steps) {
            printf("step %ld.%ld\n", epoch, step);
            fflush(stdout);
            if (epoch == kill_e && step == kill_s) {
                pause_us(400000); /* the writer and the checkpoint thread catch up */
                raise(SIGKILL);
            }
            if (sleep_us > 0)
                pause_us(sleep_us);
            double grad[DIM] = {0}, loss = 0;
            for (int b = 0; b < 8; b++) {
                int i = (int)(next(&rng) % (NDATA - 50));
                double e = -ys[i];
                for (int k = 0; k < DIM; k++)
                    e += w[k] * xs[i][k];
                loss += e * e / 8;
                for (int k = 0; k < DIM; k++)
                    grad[k] += 2 * e * xs[i][k] / 8;
            }
            for (int k = 0; k < DIM; k++) {
                mom[k] = 0.9 * mom[k] + grad[k];
                w[k] -= lr * mom[k];
            }
            flor_log("loss", loss);
        }
        double sum = 0;
        for (int i = NDATA - 50; i < NDATA; i++) {
            double e = -ys[i];
            for (int k = 0; k < DIM; k++)
                e += w[k] * xs[i][k];
            sum += e * e;
        }
        flor_log("eval", sum / 50);
    }
    flor_log("final", w[0]);
    int rc = flor_finish();
    if (rc)
        fprintf(stderr, "nested: %s\n", flor_errmsg());
    return rc ? 1 : 0;
}
