/*
 * curves.c -- a trainer for the tests of flor serve and flor plot: its
 * values are known in advance, so a test can check the curves drawn.
 *
 *   loss[e][s]  = (lr * 4) / (1 + e * steps + s)     every step
 *   val_loss[e] = 1 / (e + 2)                        every epoch
 *
 * and, in a process started with CURVES_HINDSIGHT=1 (the statement a user
 * adds later, to replay), val_acc[e] = 1 - val_loss[e].  CURVES_SHIFT=X
 * adds X to val_loss from epoch 1 on: replayed so, the run diverges.
 * --kwargs: epochs (4), steps (10), lr (0.25), sleep_ms (0, a pause at
 * each step, for a run that is still recording while a test looks at it).
 */
#include <flor.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
    if (flor_init(&argc, &argv) != 0) {
        fprintf(stderr, "curves: %s\n", flor_errmsg());
        return 1;
    }
    long epochs = flor_arg("epochs", 4L);
    long steps = flor_arg("steps", 10L);
    double lr = flor_arg("lr", 0.25);
    long sleep_ms = flor_arg("sleep_ms", 0L);
    const char *shift = getenv("CURVES_SHIFT");
    int hindsight = getenv("CURVES_HINDSIGHT") != NULL;
    double position = 0;
    flor_checkpoint("position", &position, sizeof position);
    FLOR_LOOP(epoch, "epoch", epochs) {
        FLOR_LOOP(step, "step", steps) {
            position = (double)(epoch * steps + step);
            flor_log("loss", lr * 4 / (1 + position));
            if (sleep_ms > 0) {
                struct timespec ts = {sleep_ms / 1000, sleep_ms % 1000 * 1000000L};
                nanosleep(&ts, NULL);
            }
        }
        double val = 1.0 / (double)(epoch + 2) + (shift && epoch >= 1 ? atof(shift) : 0);
        flor_log("val_loss", val);
        if (hindsight)
            flor_log("val_acc", 1 - val);
    }
    return flor_finish();
}
