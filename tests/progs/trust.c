/*
 * trust.c -- a small program for the tests of bad input, full disks and
 * non-finite values (t0700, t0710, t0720).  Its first argument (after
 * flor's own flags are removed) picks what it does:
 *
 *   trust args    reads rounds (int, 6), flag (bool, false), epochs
 *                 (long, 2) and lr (double, 0.5) through flor_arg(), then
 *                 logs `round` in FLOR_LOOP("epoch", epochs) and prints
 *                 "trained rounds=R flag=F epochs=E lr=L iterations=N"
 *   trust nan     logs NaN, +Inf and -Inf as `loss` in epochs 0..2 and 1.5
 *                 in epoch 3, and the arg x (double, NaN)
 *   trust lazy    registers "adam_m" with a NULL buffer, as a trainer
 *                 that allocates its optimizer state lazily would, then
 *                 a zero-byte "empty", then trains 2 epochs; prints each
 *                 registration's return code
 *   trust logs N  logs N values (`v` = 0..N-1) in one loop of N, each
 *                 step 0.1 ms apart
 *
 * It exits 1 when flor_finish() reports an error.
 *   trust return0 N  as logs N, but returns 0 without flor_finish()
 *   trust sleep   reads epochs, then sleeps (a test kills it)
 */
#include <flor.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void nap(long ns)
{
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    flor_init(&argc, &argv);
    const char *what = argc > 1 ? argv[1] : "args";
    if (strcmp(what, "args") == 0) {
        int rounds = flor_arg("rounds", 6);
        bool flag = flor_arg("flag", (bool)false);
        long epochs = flor_arg("epochs", 2L);
        double lr = flor_arg("lr", 0.5);
        long n = 0;
        FLOR_LOOP(epoch, "epoch", epochs) {
            flor_log("round", epoch);
            n++;
        }
        printf("trained rounds=%d flag=%d epochs=%ld lr=%g iterations=%ld\n", rounds, (int)flag,
               epochs, lr, n);
    } else if (strcmp(what, "nan") == 0) {
        double x = flor_arg("x", (double)NAN);
        (void)x;
        const double v[4] = {NAN, INFINITY, -INFINITY, 1.5};
        FLOR_LOOP(epoch, "epoch", 4) {
            flor_log("loss", v[epoch]);
        }
    } else if (strcmp(what, "lazy") == 0) {
        static double m[4];
        printf("null: %d\n", flor_checkpoint_typed("adam_m", NULL, sizeof m, FLOR_F64, 1));
        printf("zero: %d\n", flor_checkpoint_typed("empty", m, 0, FLOR_F64, 1));
        FLOR_LOOP(epoch, "epoch", 2) {
            m[0] += 1;
            flor_log("m0", m[0]);
        }
    } else if (strcmp(what, "logs") == 0) {
        long n = argc > 2 ? atol(argv[2]) : 100;
        FLOR_LOOP(i, "i", n) {
            flor_log("v", i);
            nap(100000);
        }
    } else if (strcmp(what, "return0") == 0) {
        /* returns 0 without flor_finish(), after N logs */
        long n = argc > 2 ? atol(argv[2]) : 100;
        FLOR_LOOP(i, "i", n) {
            flor_log("v", i);
            nap(100000);
        }
        return 0;
    } else if (strcmp(what, "sleep") == 0) {
        long epochs = flor_arg("epochs", 2L);
        (void)epochs;
        printf("ready\n");
        fflush(stdout);
        for (;;)
            pause();
    }
    return flor_finish() != 0; /* 1 when the record lost anything or the run failed */
}
