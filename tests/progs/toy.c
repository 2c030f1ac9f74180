/*
 * toy.c -- a tiny deterministic training program for the CLI tests: its
 * args, loops and logs are known in advance, and every value is a
 * multiple of 0.25 (for lr a multiple of 0.25), so it prints exactly.
 *
 *   loss[epoch][step] = lr * (epochs - epoch) + 0.25 * step
 *   acc[epoch]        = 0.25 * (epoch + 1)
 *   final             = epochs * steps
 */
#include <flor.h>

#include <stdio.h>

int main(int argc, char **argv)
{
    /* As flor.h asks: a run that cannot be recorded (a damaged database)
     * must not train unrecorded. */
    if (flor_init(&argc, &argv) != 0) {
        fprintf(stderr, "toy: %s\n", flor_errmsg());
        return 1;
    }
    long epochs = flor_arg("epochs", 2L);
    long steps = flor_arg("steps", 3L);
    double lr = flor_arg("lr", 0.5);
    const char *name = flor_arg("name", "toy");
    (void)name;
    FLOR_LOOP(epoch, "epoch", epochs) {
        FLOR_LOOP(step, "step", steps) {
            flor_log("loss", lr * (double)(epochs - epoch) + 0.25 * (double)step);
        }
        flor_log("acc", 0.25 * (double)(epoch + 1));
    }
    flor_log("final", epochs * steps);
    return flor_finish();
}
