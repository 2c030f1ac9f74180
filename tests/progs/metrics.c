/*
 * metrics.c -- a program that only logs: EPOCHS epochs of STEPS steps, each
 * step (or each epoch, when STEPS is 0) logging METRICS values named m0,
 * m1, ...; then `final`.  For the benchmarks of the team's database (rows
 * persisted per second, with nothing else to do) and for the shape of
 * runs of many metrics.
 *
 * --kwargs: epochs (100), steps (0), metrics (10), seed (1).
 */
#include <flor.h>

#include <stdio.h>

int main(int argc, char **argv)
{
    if (flor_init(&argc, &argv) != 0) {
        fprintf(stderr, "metrics: %s\n", flor_errmsg());
        return 1;
    }
    long epochs = 100, steps = 0, metrics = 10, seed = 1;
    flor_arg_long("epochs", epochs, &epochs);
    flor_arg_long("steps", steps, &steps);
    flor_arg_long("metrics", metrics, &metrics);
    flor_arg_long("seed", seed, &seed);
    if (metrics < 1 || metrics > 1000) {
        fprintf(stderr, "metrics: metrics must be 1 to 1000, not %ld\n", metrics);
        return 2;
    }
    char names[1000][24];
    for (long m = 0; m < metrics; m++)
        snprintf(names[m], sizeof names[m], "m%ld", m);
    double x = (double)seed;
    FLOR_LOOP(epoch, "epoch", epochs) {
        if (steps == 0) {
            for (long m = 0; m < metrics; m++)
                flor_log(names[m], x = x * 0.9999 + (double)m * 1e-3);
            continue;
        }
        FLOR_LOOP(step, "step", steps) {
            for (long m = 0; m < metrics; m++)
                flor_log(names[m], x = x * 0.9999 + (double)m * 1e-3);
        }
    }
    flor_log("final", x);
    return flor_finish() == 0 ? 0 : 1;
}
