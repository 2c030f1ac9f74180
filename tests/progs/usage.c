/*
 * usage.c -- a program with a command line of its own, for t0495: it may
 * end before its first log, as `prog --help` does.  After flor_init():
 *
 *   usage --help     prints its usage and returns 0 (no flor_finish())
 *   usage --bad      prints its usage on stderr and exits 2 (no flor_finish())
 *   usage --nothing  reads its args and calls flor_finish() without a log
 *   usage            reads epochs (long, 2), logs `epoch` in
 *                    FLOR_LOOP("epoch", epochs) and calls flor_finish()
 *
 * It reads epochs through flor_arg() first in every case, so the run has
 * an args row before it decides to stop.
 */
#include <flor.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    flor_init(&argc, &argv);
    long epochs = flor_arg("epochs", 2L);
    const char *opt = argc > 1 ? argv[1] : "";
    if (strcmp(opt, "--help") == 0) {
        printf("usage: usage [--help | --bad | --nothing]\n");
        return 0;
    }
    if (strcmp(opt, "--bad") == 0) {
        fprintf(stderr, "usage: usage [--help | --bad | --nothing]\n");
        exit(2);
    }
    if (strcmp(opt, "--nothing") == 0)
        return flor_finish() != 0;
    FLOR_LOOP(epoch, "epoch", epochs) {
        flor_log("epoch", epoch);
    }
    return flor_finish() != 0;
}
